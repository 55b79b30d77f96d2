//! `user_ssh_keys`: private keys in each user's ~/.ssh, with their type, size and whether they
//! are encrypted, read from the PEM/DER or openssh-key-v1 encoding by hand (no OpenSSL).

use base64::Engine;

use crate::sys::{self, Passwd};
use crate::{QueryContext, Rows, TableError};

/// Files larger than this are not keys; they are not read.
const MAX_KEY_FILE: u64 = 1 << 20;

/// What a private key file says about its key. Unknown numbers are -1 and unknown names "",
/// as osquery reports them.
#[derive(Debug, PartialEq, Eq)]
struct KeyInfo {
    encrypted: bool,
    /// OpenSSL's family name: rsa, dsa, dh, ec (ed25519 and others have none: "").
    key_type: &'static str,
    group: &'static str,
    length: i64,
    security_bits: i64,
}

impl KeyInfo {
    fn opaque(encrypted: bool) -> KeyInfo {
        KeyInfo {
            encrypted,
            key_type: "",
            group: "",
            length: -1,
            security_bits: -1,
        }
    }
}

pub(crate) fn generate(ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    let paths = ctx.equal_texts("path");
    collect(&sys::users_for(ctx), paths.as_ref(), rows);
    Ok(())
}

fn collect(users: &[Passwd], paths: Option<&std::collections::BTreeSet<String>>, rows: &mut Rows) {
    for user in users {
        let Ok(entries) = std::fs::read_dir(user.home.join(".ssh")) else {
            continue;
        };
        let mut files: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        files.sort();
        for file in files {
            let name = file.to_string_lossy().into_owned();
            if paths.is_some_and(|p| !p.contains(&name)) {
                continue;
            }
            let Ok(meta) = std::fs::metadata(&file) else {
                continue;
            };
            if !meta.is_file() || meta.len() > MAX_KEY_FILE {
                continue;
            }
            let Ok(bytes) = std::fs::read(&file) else {
                continue;
            };
            let Some(info) = parse_private_key(&String::from_utf8_lossy(&bytes)) else {
                continue;
            };
            rows.push()
                .set("uid", user.uid)
                .set("path", name)
                .set("encrypted", info.encrypted)
                .set("key_type", info.key_type)
                .set("key_group_name", info.group)
                .set("key_length", info.length)
                .set("key_security_bits", info.security_bits)
                .set("pid_with_namespace", 0);
        }
    }
}

/// Recognises a private key file: an openssh-key-v1 key, or the first PEM private key block
/// (PKCS#1 RSA, DSA, SEC1 EC, PKCS#8 plain or encrypted). `None` when it is not a private key
/// (public keys, known_hosts, config) or cannot be decoded.
fn parse_private_key(text: &str) -> Option<KeyInfo> {
    if text.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----") {
        return parse_openssh(&pem_body(text, "OPENSSH PRIVATE KEY")?.1);
    }
    for label in pem_labels(text) {
        let kind = match label {
            "RSA PRIVATE KEY"
            | "DSA PRIVATE KEY"
            | "EC PRIVATE KEY"
            | "PRIVATE KEY"
            | "ENCRYPTED PRIVATE KEY"
            | "ANY PRIVATE KEY" => label,
            _ => continue,
        };
        let (headers, der) = pem_body(text, kind)?;
        if kind == "ENCRYPTED PRIVATE KEY" || headers.contains("ENCRYPTED") {
            return Some(KeyInfo::opaque(true));
        }
        return match kind {
            "RSA PRIVATE KEY" => rsa_pkcs1(&der),
            "DSA PRIVATE KEY" => dsa_plain(&der),
            "EC PRIVATE KEY" => ec_sec1(&der, None),
            _ => pkcs8(&der),
        };
    }
    None
}

/// The labels of the `-----BEGIN <label>-----` lines, in order.
fn pem_labels(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("-----BEGIN ")?.strip_suffix("-----"))
}

/// The encapsulation headers (`Proc-Type: ...`) and decoded body of the first block with this
/// label.
fn pem_body(text: &str, label: &str) -> Option<(String, Vec<u8>)> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let mut lines = text.lines().skip_while(|l| l.trim() != begin).skip(1);
    let mut headers = String::new();
    let mut body = String::new();
    for line in lines.by_ref() {
        let line = line.trim();
        if line == end {
            let der = base64::engine::general_purpose::STANDARD
                .decode(body)
                .ok()?;
            return Some((headers, der));
        }
        if line.contains(':') {
            headers.push_str(line);
            headers.push('\n');
        } else {
            body.push_str(line);
        }
    }
    None
}

// ---- DER ---------------------------------------------------------------------------------

/// Reads one DER element: `(tag, contents, rest)`.
fn der(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |a, &b| a << 8 | usize::from(b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// Reads an element that must have this tag: `(contents, rest)`.
fn expect(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (t, body, rest) = der(input)?;
    (t == tag).then_some((body, rest))
}

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const OCTET_STRING: u8 = 0x04;
const OID: u8 = 0x06;

/// Bit length of a big-endian unsigned integer (leading zero bytes ignored).
fn bit_length(bytes: &[u8]) -> i64 {
    let bytes = match bytes.iter().position(|&b| b != 0) {
        Some(i) => &bytes[i..],
        None => return 0,
    };
    (bytes.len() as i64 - 1) * 8 + i64::from(8 - bytes[0].leading_zeros())
}

/// RSAPrivateKey (PKCS#1): SEQUENCE { version, modulus, ... }.
fn rsa_pkcs1(der_bytes: &[u8]) -> Option<KeyInfo> {
    let (seq, _) = expect(der_bytes, SEQUENCE)?;
    let (_, rest) = expect(seq, INTEGER)?;
    let (modulus, _) = expect(rest, INTEGER)?;
    Some(rsa_info(bit_length(modulus), "rsa"))
}

fn rsa_info(bits: i64, key_type: &'static str) -> KeyInfo {
    KeyInfo {
        encrypted: false,
        key_type,
        group: "",
        length: bits,
        security_bits: ifc_security_bits(bits),
    }
}

/// DSAPrivateKey (OpenSSL): SEQUENCE { version, p, q, g, y, x }.
fn dsa_plain(der_bytes: &[u8]) -> Option<KeyInfo> {
    let (seq, _) = expect(der_bytes, SEQUENCE)?;
    let (_, rest) = expect(seq, INTEGER)?;
    let (p, rest) = expect(rest, INTEGER)?;
    let (q, _) = expect(rest, INTEGER)?;
    Some(dsa_info(bit_length(p), bit_length(q)))
}

fn dsa_info(l: i64, n: i64) -> KeyInfo {
    KeyInfo {
        encrypted: false,
        key_type: "dsa",
        group: "",
        length: l,
        security_bits: bn_security_bits(l, n),
    }
}

/// ECPrivateKey (SEC1): SEQUENCE { 1, OCTET STRING, [0] curve OID, [1] public key }; the
/// curve comes from `[0]` or, inside PKCS#8, from the algorithm parameters.
fn ec_sec1(der_bytes: &[u8], curve_from_pkcs8: Option<&[u8]>) -> Option<KeyInfo> {
    let (seq, _) = expect(der_bytes, SEQUENCE)?;
    let (_, rest) = expect(seq, INTEGER)?;
    let (_, mut rest) = expect(rest, OCTET_STRING)?;
    let mut curve = curve_from_pkcs8;
    while let Some((tag, body, next)) = der(rest) {
        if tag == 0xa0 {
            curve = expect(body, OID).map(|(oid, _)| oid);
        }
        rest = next;
    }
    Some(ec_info(curve_by_oid(curve?)))
}

/// A named curve: OpenSSL's group name and the bit length of its order.
fn ec_info(curve: Option<(&'static str, i64)>) -> KeyInfo {
    let (group, bits) = curve.unwrap_or(("", -1));
    KeyInfo {
        encrypted: false,
        key_type: "ec",
        group,
        length: bits,
        security_bits: if bits < 0 { -1 } else { ec_security_bits(bits) },
    }
}

fn curve_by_oid(oid: &[u8]) -> Option<(&'static str, i64)> {
    Some(match oid {
        [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07] => ("prime256v1", 256),
        [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x01] => ("prime192v1", 192),
        [0x2b, 0x81, 0x04, 0x00, 0x22] => ("secp384r1", 384),
        [0x2b, 0x81, 0x04, 0x00, 0x23] => ("secp521r1", 521),
        [0x2b, 0x81, 0x04, 0x00, 0x21] => ("secp224r1", 224),
        [0x2b, 0x81, 0x04, 0x00, 0x0a] => ("secp256k1", 256),
        [0x2b, 0x24, 0x03, 0x03, 0x02, 0x08, 0x01, 0x01, 0x07] => ("brainpoolP256r1", 256),
        [0x2b, 0x24, 0x03, 0x03, 0x02, 0x08, 0x01, 0x01, 0x0b] => ("brainpoolP384r1", 384),
        [0x2b, 0x24, 0x03, 0x03, 0x02, 0x08, 0x01, 0x01, 0x0d] => ("brainpoolP512r1", 512),
        _ => return None,
    })
}

/// PrivateKeyInfo (PKCS#8): SEQUENCE { version, AlgorithmIdentifier, OCTET STRING key }.
fn pkcs8(der_bytes: &[u8]) -> Option<KeyInfo> {
    let (seq, _) = expect(der_bytes, SEQUENCE)?;
    let (_, rest) = expect(seq, INTEGER)?;
    let (alg, rest) = expect(rest, SEQUENCE)?;
    let (key, _) = expect(rest, OCTET_STRING)?;
    let (oid, params) = expect(alg, OID)?;
    match oid {
        // rsaEncryption
        [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01] => rsa_pkcs1(key),
        // RSASSA-PSS: OpenSSL's "RSA-PSS" type, outside osquery's names.
        [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a] => {
            rsa_pkcs1(key).map(|k| rsa_info(k.length, ""))
        }
        // id-ecPublicKey, parameters = named curve
        [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01] => {
            ec_sec1(key, expect(params, OID).map(|(c, _)| c))
        }
        // id-dsa, parameters = SEQUENCE { p, q, g }
        [0x2a, 0x86, 0x48, 0xce, 0x38, 0x04, 0x01] => {
            let (p_q_g, _) = expect(params, SEQUENCE)?;
            let (p, rest) = expect(p_q_g, INTEGER)?;
            let (q, _) = expect(rest, INTEGER)?;
            Some(dsa_info(bit_length(p), bit_length(q)))
        }
        // dhKeyAgreement, parameters = SEQUENCE { p, g }
        [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x03, 0x01] => {
            let (p_g, _) = expect(params, SEQUENCE)?;
            let (p, _) = expect(p_g, INTEGER)?;
            let bits = bit_length(p);
            Some(KeyInfo {
                encrypted: false,
                key_type: "dh",
                group: "",
                length: bits,
                security_bits: bn_security_bits(bits, -1),
            })
        }
        // Ed25519 / X25519, Ed448 / X448
        [0x2b, 0x65, 0x70] | [0x2b, 0x65, 0x6e] => Some(edwards(253, 128)),
        [0x2b, 0x65, 0x71] => Some(edwards(456, 224)),
        [0x2b, 0x65, 0x6f] => Some(edwards(448, 224)),
        _ => Some(KeyInfo::opaque(false)),
    }
}

fn edwards(bits: i64, security: i64) -> KeyInfo {
    KeyInfo {
        encrypted: false,
        key_type: "",
        group: "",
        length: bits,
        security_bits: security,
    }
}

// ---- openssh-key-v1 ----------------------------------------------------------------------

/// Reads one SSH wire-format `string` (u32 length + bytes).
fn ssh_string(input: &[u8]) -> Option<(&[u8], &[u8])> {
    let len = u32::from_be_bytes(input.get(..4)?.try_into().ok()?) as usize;
    let body = input.get(4..4 + len)?;
    Some((body, &input[4 + len..]))
}

/// `openssh-key-v1\0`, cipher, kdf, kdf options, key count, then the public key blob (which is
/// in clear text even when the private part is encrypted).
fn parse_openssh(blob: &[u8]) -> Option<KeyInfo> {
    let rest = blob.strip_prefix(b"openssh-key-v1\0")?;
    let (cipher, rest) = ssh_string(rest)?;
    let (kdf, rest) = ssh_string(rest)?;
    let encrypted = cipher != b"none" || kdf != b"none";
    let (_, rest) = ssh_string(rest)?;
    let count = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?);
    let public = (count >= 1)
        .then(|| ssh_string(&rest[4..]).map(|(p, _)| p))
        .flatten();
    let mut info = public
        .and_then(ssh_public_key)
        .unwrap_or(KeyInfo::opaque(false));
    info.encrypted = encrypted;
    Some(info)
}

/// Type and size from an SSH public key blob.
fn ssh_public_key(blob: &[u8]) -> Option<KeyInfo> {
    let (kind, rest) = ssh_string(blob)?;
    match kind {
        b"ssh-rsa" => {
            let (_e, rest) = ssh_string(rest)?;
            let (n, _) = ssh_string(rest)?;
            Some(rsa_info(bit_length(n), "rsa"))
        }
        b"ssh-dss" => {
            let (p, rest) = ssh_string(rest)?;
            let (q, _) = ssh_string(rest)?;
            Some(dsa_info(bit_length(p), bit_length(q)))
        }
        b"ecdsa-sha2-nistp256" => Some(ec_info(Some(("prime256v1", 256)))),
        b"ecdsa-sha2-nistp384" => Some(ec_info(Some(("secp384r1", 384)))),
        b"ecdsa-sha2-nistp521" => Some(ec_info(Some(("secp521r1", 521)))),
        b"ssh-ed25519" => Some(edwards(253, 128)),
        _ => None,
    }
}

// ---- security strength (OpenSSL's rules) ----------------------------------------------------

/// OpenSSL's `BN_security_bits(L, N)` (N = -1 when there is no subgroup size).
fn bn_security_bits(l: i64, n: i64) -> i64 {
    let secbits = match l {
        15360.. => 256,
        7680.. => 192,
        3072.. => 128,
        2048.. => 112,
        1024.. => 80,
        _ => return 0,
    };
    if n == -1 {
        return secbits;
    }
    let bits = n / 2;
    if bits < 80 { 0 } else { bits.min(secbits) }
}

/// Security strength of an RSA modulus as OpenSSL 3 computes it (SP 800-56B's estimate with
/// the standard values for common sizes).
fn ifc_security_bits(n: i64) -> i64 {
    match n {
        2048 => return 112,
        3072 => return 128,
        4096 => return 152,
        6144 => return 176,
        7680 => return 192,
        8192 => return 200,
        15360 => return 256,
        687_737.. => return 1200,
        ..8 => return 0,
        _ => {}
    }
    let cap = if n <= 7680 {
        192
    } else if n <= 15360 {
        256
    } else {
        1200
    };
    let ln2 = std::f64::consts::LN_2;
    let x = n as f64 * ln2;
    let lx = x.ln();
    let y = (1.923 * (x * lx * lx).cbrt() - 4.690) / ln2;
    let y = ((y as i64) + 4) & !7;
    y.min(cap)
}

/// Security strength of an elliptic-curve group from its order's bit length.
fn ec_security_bits(bits: i64) -> i64 {
    match bits {
        512.. => 256,
        384.. => 192,
        256.. => 128,
        224.. => 112,
        160.. => 80,
        _ => bits / 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pem(label: &str, headers: &str, der: &[u8]) -> String {
        let b64 = base64::engine::general_purpose::STANDARD.encode(der);
        let mut body = String::new();
        for chunk in b64.as_bytes().chunks(64) {
            body.push_str(std::str::from_utf8(chunk).unwrap());
            body.push('\n');
        }
        format!("-----BEGIN {label}-----\n{headers}{body}-----END {label}-----\n")
    }

    fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        if body.len() < 0x80 {
            out.push(body.len() as u8);
        } else {
            out.push(0x82);
            out.extend((body.len() as u16).to_be_bytes());
        }
        out.extend(body);
        out
    }

    /// An RSAPrivateKey whose modulus has `bits` bits (the other fields are dummies).
    fn rsa_der(bits: usize) -> Vec<u8> {
        let mut modulus = vec![0u8; bits / 8 + 1];
        modulus[1] = 0x80; // top bit set, leading 0x00 keeps it positive
        let body = [
            tlv(INTEGER, &[0]),
            tlv(INTEGER, &modulus),
            tlv(INTEGER, &[1, 0, 1]),
        ]
        .concat();
        tlv(SEQUENCE, &body)
    }

    fn ssh_str(b: &[u8]) -> Vec<u8> {
        let mut out = (b.len() as u32).to_be_bytes().to_vec();
        out.extend(b);
        out
    }

    fn openssh(cipher: &str, kdf: &str, public: &[u8]) -> String {
        let mut blob = b"openssh-key-v1\0".to_vec();
        blob.extend(ssh_str(cipher.as_bytes()));
        blob.extend(ssh_str(kdf.as_bytes()));
        blob.extend(ssh_str(b""));
        blob.extend(1u32.to_be_bytes());
        blob.extend(ssh_str(public));
        blob.extend(ssh_str(b"private part"));
        pem("OPENSSH PRIVATE KEY", "", &blob)
    }

    #[test]
    fn pkcs1_rsa_keys_report_modulus_size() {
        let info = parse_private_key(&pem("RSA PRIVATE KEY", "", &rsa_der(2048))).unwrap();
        assert_eq!(info.key_type, "rsa");
        assert_eq!(info.length, 2048);
        assert_eq!(info.security_bits, 112);
        assert!(!info.encrypted);
    }

    #[test]
    fn legacy_encrypted_pem_and_pkcs8_encrypted_are_flagged() {
        let headers =
            "Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00112233445566778899AABBCCDDEEFF\n\n";
        let info = parse_private_key(&pem("RSA PRIVATE KEY", headers, &[1, 2, 3])).unwrap();
        assert_eq!(info, KeyInfo::opaque(true));
        let info = parse_private_key(&pem("ENCRYPTED PRIVATE KEY", "", &[0x30, 0])).unwrap();
        assert!(info.encrypted);
    }

    #[test]
    fn pkcs8_ec_key_names_its_curve() {
        let alg = [
            tlv(OID, &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01]),
            tlv(OID, &[0x2b, 0x81, 0x04, 0x00, 0x22]),
        ]
        .concat();
        let sec1 = tlv(
            SEQUENCE,
            &[tlv(INTEGER, &[1]), tlv(OCTET_STRING, &[7; 48])].concat(),
        );
        let der = tlv(
            SEQUENCE,
            &[
                tlv(INTEGER, &[0]),
                tlv(SEQUENCE, &alg),
                tlv(OCTET_STRING, &sec1),
            ]
            .concat(),
        );
        let info = parse_private_key(&pem("PRIVATE KEY", "", &der)).unwrap();
        assert_eq!(info.key_type, "ec");
        assert_eq!(info.group, "secp384r1");
        assert_eq!(info.length, 384);
        assert_eq!(info.security_bits, 192);
    }

    #[test]
    fn sec1_ec_key_reads_curve_from_its_parameters() {
        let curve = tlv(OID, &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07]);
        let body = [
            tlv(INTEGER, &[1]),
            tlv(OCTET_STRING, &[9; 32]),
            tlv(0xa0, &curve),
        ]
        .concat();
        let info = parse_private_key(&pem("EC PRIVATE KEY", "", &tlv(SEQUENCE, &body))).unwrap();
        assert_eq!(
            (info.group, info.length, info.security_bits),
            ("prime256v1", 256, 128)
        );
    }

    #[test]
    fn openssh_keys_report_kdf_encryption_and_public_key_type() {
        let ed = [ssh_str(b"ssh-ed25519"), ssh_str(&[0; 32])].concat();
        let plain = parse_private_key(&openssh("none", "none", &ed)).unwrap();
        assert!(!plain.encrypted);
        assert_eq!((plain.key_type, plain.length), ("", 253));
        let enc = parse_private_key(&openssh("aes256-ctr", "bcrypt", &ed)).unwrap();
        assert!(enc.encrypted);
        let mut n = vec![0u8; 385];
        n[1] = 0xff;
        let rsa = [ssh_str(b"ssh-rsa"), ssh_str(&[1, 0, 1]), ssh_str(&n)].concat();
        let info = parse_private_key(&openssh("none", "none", &rsa)).unwrap();
        assert_eq!(
            (info.key_type, info.length, info.security_bits),
            ("rsa", 3072, 128)
        );
    }

    #[test]
    fn public_keys_and_other_files_are_not_private_keys() {
        assert_eq!(parse_private_key("ssh-ed25519 AAAAC3Nza user@host\n"), None);
        assert_eq!(parse_private_key("Host *\n  User x\n"), None);
        assert_eq!(parse_private_key(&pem("CERTIFICATE", "", &[0x30, 0])), None);
        assert_eq!(
            parse_private_key(&pem("RSA PRIVATE KEY", "", &[0xff])),
            None
        );
    }

    #[test]
    fn security_bits_follow_openssl() {
        assert_eq!(ifc_security_bits(1024), 80);
        assert_eq!(ifc_security_bits(4096), 152);
        assert_eq!(bn_security_bits(1024, 160), 80);
        assert_eq!(bn_security_bits(2048, 224), 112);
        assert_eq!(ec_security_bits(521), 256);
    }

    #[test]
    fn scans_the_ssh_directory_of_a_home() {
        let home = tempfile::tempdir().unwrap();
        let ssh = home.path().join(".ssh");
        std::fs::create_dir(&ssh).unwrap();
        std::fs::write(
            ssh.join("id_rsa"),
            pem("RSA PRIVATE KEY", "", &rsa_der(4096)),
        )
        .unwrap();
        std::fs::write(ssh.join("id_rsa.pub"), "ssh-rsa AAAA me\n").unwrap();
        std::fs::create_dir(ssh.join("sub")).unwrap();
        let spec = crate::spec::osquery_spec("user_ssh_keys").unwrap();
        let mut rows = Rows::new(spec);
        collect(
            &[super::super::test_user(home.path(), 4003)],
            None,
            &mut rows,
        );
        assert_eq!(rows.len(), 1);
        assert!(
            rows.get(0, "path")
                .unwrap()
                .as_text()
                .unwrap()
                .ends_with("/id_rsa")
        );
        assert_eq!(rows.get(0, "key_length").unwrap().as_i64(), Some(4096));
        assert_eq!(rows.get(0, "encrypted").unwrap().as_i64(), Some(0));
    }

    /// Runs a key-generating tool; `false` when it is not installed here.
    fn run(cmd: &str, args: &[&str]) -> bool {
        std::process::Command::new(cmd)
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    #[test]
    fn keys_made_by_openssl_and_ssh_keygen_are_recognised() {
        let dir = tempfile::tempdir().unwrap();
        let at = |n: &str| dir.path().join(n).to_string_lossy().into_owned();
        // (file, expected encrypted, type, group, length), generated below when the tools exist.
        let mut expected: Vec<(String, bool, &str, &str, i64)> = Vec::new();
        if run(
            "openssl",
            &[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:1024",
                "-out",
                &at("rsa8"),
            ],
        ) {
            expected.push((at("rsa8"), false, "rsa", "", 1024));
            if run(
                "openssl",
                &[
                    "pkey",
                    "-in",
                    &at("rsa8"),
                    "-traditional",
                    "-out",
                    &at("rsa1"),
                ],
            ) {
                expected.push((at("rsa1"), false, "rsa", "", 1024));
            }
            if run(
                "openssl",
                &[
                    "pkey",
                    "-in",
                    &at("rsa8"),
                    "-aes256",
                    "-passout",
                    "pass:pw",
                    "-out",
                    &at("rsa8e"),
                ],
            ) {
                expected.push((at("rsa8e"), true, "", "", -1));
            }
        }
        if run(
            "openssl",
            &[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-384",
                "-out",
                &at("ec8"),
            ],
        ) {
            expected.push((at("ec8"), false, "ec", "secp384r1", 384));
            if run("openssl", &["ec", "-in", &at("ec8"), "-out", &at("ec1")]) {
                expected.push((at("ec1"), false, "ec", "secp384r1", 384));
            }
        }
        if run(
            "openssl",
            &["genpkey", "-algorithm", "ED25519", "-out", &at("ed8")],
        ) {
            expected.push((at("ed8"), false, "", "", 253));
        }
        if run(
            "ssh-keygen",
            &["-q", "-t", "ed25519", "-N", "", "-f", &at("id_ed25519")],
        ) {
            expected.push((at("id_ed25519"), false, "", "", 253));
        }
        if run(
            "ssh-keygen",
            &[
                "-q",
                "-t",
                "ecdsa",
                "-b",
                "521",
                "-N",
                "secret",
                "-f",
                &at("id_ecdsa"),
            ],
        ) {
            expected.push((at("id_ecdsa"), true, "ec", "secp521r1", 521));
        }
        if run(
            "ssh-keygen",
            &[
                "-q",
                "-t",
                "rsa",
                "-b",
                "2048",
                "-m",
                "PEM",
                "-N",
                "",
                "-f",
                &at("id_rsa"),
            ],
        ) {
            expected.push((at("id_rsa"), false, "rsa", "", 2048));
        }
        for (file, encrypted, key_type, group, length) in expected {
            let text = std::fs::read_to_string(&file).unwrap();
            let info = parse_private_key(&text).unwrap_or_else(|| panic!("{file}: not parsed"));
            assert_eq!(
                (info.encrypted, info.key_type, info.group, info.length),
                (encrypted, key_type, group, length),
                "{file}"
            );
            let public = std::fs::read_to_string(format!("{file}.pub")).unwrap_or_default();
            assert_eq!(parse_private_key(&public), None);
        }
    }
}

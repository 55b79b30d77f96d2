//! The audit text encoding of untrusted values: quoted when safe, bare uppercase hex otherwise.
//!
//! The kernel writes an untrusted string (comm, exe, path names, argv, proctitle, key, ...) as
//! `"text"` unless it contains a `"`, a byte below 0x21 or above 0x7e; then it writes the bytes as
//! bare uppercase hex with no marker. Decoding therefore needs to know which fields are encodable
//! (see [`is_encodable`]); this module holds both directions so tests can round-trip.

use super::msgtype;

/// Does the kernel hex-encode this value? (`"`, control, space, DEL or any byte ≥ 0x7f.)
pub fn needs_hex(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .any(|&b| b == b'"' || !(0x21..=0x7e).contains(&b))
}

/// Upper-case hex of `bytes`, as the kernel's `audit_log_n_hex` writes it.
pub fn hex_encode(bytes: &[u8]) -> Vec<u8> {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = Vec::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(DIGITS[usize::from(b >> 4)]);
        out.push(DIGITS[usize::from(b & 0xf)]);
    }
    out
}

/// Decode hex (either case). `None` if the length is odd or a byte is not a hex digit.
pub fn hex_decode(hex: &[u8]) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    hex.chunks_exact(2)
        .map(|pair| Some(nibble(pair[0])? << 4 | nibble(pair[1])?))
        .collect()
}

fn nibble(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Write `bytes` the way the kernel's `audit_log_n_untrustedstring` does: `"bytes"` or hex.
pub fn encode_untrusted(bytes: &[u8]) -> Vec<u8> {
    if needs_hex(bytes) {
        hex_encode(bytes)
    } else {
        let mut out = Vec::with_capacity(bytes.len() + 2);
        out.push(b'"');
        out.extend_from_slice(bytes);
        out.push(b'"');
        out
    }
}

/// Fields whose bare (unquoted) value is hex-encoded text, in any record type.
const ENCODABLE: &[&str] = &[
    "name",
    "exe",
    "comm",
    "cwd",
    "proctitle",
    "key",
    "path",
    "data",
    "acct",
    "cmd",
    "dir",
    "file",
    "saddr",
    "ocomm",
    "watch",
    "root_dir",
    "old-key",
    "new-key",
];

/// Is a bare value of `key` in a record of type `rtype` hex-encoded bytes (rather than a number
/// or a token)? EXECVE's `aN` / `aN[i]` are; SYSCALL's `a0`–`a3` (hex numbers) are not.
pub fn is_encodable(rtype: u16, key: &str) -> bool {
    if rtype == msgtype::EXECVE {
        return is_execve_arg_key(key);
    }
    ENCODABLE.contains(&key)
}

/// `aN` or `aN[i]` (not `aN_len`, not `argc`).
fn is_execve_arg_key(key: &str) -> bool {
    let Some(rest) = key.strip_prefix('a') else {
        return false;
    };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return false;
    }
    let tail = &rest[digits..];
    if tail.is_empty() {
        return true;
    }
    match tail.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
        Some(idx) => !idx.is_empty() && idx.bytes().all(|b| b.is_ascii_digit()),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_both_ways() {
        assert_eq!(hex_encode(b"a b\n\xff"), b"6120620AFF");
        assert_eq!(hex_decode(b"6120620aff").unwrap(), b"a b\n\xff");
        assert_eq!(hex_decode(b""), Some(vec![]));
        assert_eq!(hex_decode(b"ABC"), None);
        assert_eq!(hex_decode(b"zz"), None);
    }

    #[test]
    fn kernel_quoting_rule() {
        assert_eq!(encode_untrusted(b"/usr/bin/ls"), b"\"/usr/bin/ls\"");
        assert_eq!(encode_untrusted(b"a b"), b"612062");
        assert_eq!(encode_untrusted(b"say\"hi"), b"736179226869");
        assert_eq!(encode_untrusted(b"\x7f"), b"7F");
        assert_eq!(encode_untrusted("é".as_bytes()), b"C3A9");
        assert_eq!(encode_untrusted(b""), b"\"\"");
        assert!(!needs_hex(b"~!#$%&'()*+,-./09:;<=>?@AZ[\\]^_`az{|}"));
    }

    #[test]
    fn which_fields_are_encodable() {
        assert!(is_encodable(msgtype::EXECVE, "a0"));
        assert!(is_encodable(msgtype::EXECVE, "a12[3]"));
        assert!(!is_encodable(msgtype::EXECVE, "a1_len"));
        assert!(!is_encodable(msgtype::EXECVE, "argc"));
        assert!(!is_encodable(msgtype::EXECVE, "a[1]"));
        assert!(!is_encodable(msgtype::EXECVE, "a1[]"));
        assert!(!is_encodable(msgtype::EXECVE, "a1[2"));
        assert!(!is_encodable(msgtype::SYSCALL, "a0"));
        assert!(is_encodable(msgtype::SYSCALL, "key"));
        assert!(is_encodable(msgtype::PATH, "name"));
        assert!(!is_encodable(msgtype::PATH, "inode"));
    }
}

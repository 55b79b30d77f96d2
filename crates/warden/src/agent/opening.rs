//! The first bytes an outgoing TCP connection sent, read for what they asked for: a TLS
//! ClientHello's server name, protocols and fingerprints (JA4, JA3), or an HTTP request's
//! method, target, host and user agent; or an SSH client's identification (`ssh.rs`). So
//! are a later segment's (a keep-alive request, a tunnel's hello) and a QUIC client's
//! ClientHello, which `quic.rs` takes out of its Initial packets.
//!
//! The eBPF side keeps at most the first 4,096 bytes of a connection's data segment, so
//! everything here reads a prefix that may stop anywhere, and that a hostile program may have
//! filled with anything. The readers therefore never index directly into the bytes (every read
//! goes through `Reader`, which answers `None` past the end), never trust a length field beyond
//! the bytes actually present, and do work linear in the bytes given. Nothing here does IO.
//!
//! Caps, all for hostile input only: a server name keeps at most 255 bytes, the ALPN list at
//! most 16 names, an HTTP target or header value at most 2,048 bytes. Fingerprints are never
//! capped: they use every cipher suite and extension read, whose number TLS's 16 KiB record
//! limit already bounds.

use std::fmt::Write as _;

use md5::Md5;
use sha2::{Digest, Sha256};
use warden_core::{HttpRequest, SshHello, TlsHello};

/// What a connection's first bytes were.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Opening {
    /// A TLS ClientHello: the connection asked for TLS, and these are the facts it offered.
    Tls(TlsHello),
    /// A plain-text HTTP request head (HTTP/1.x, or HTTP/2's prior-knowledge preface).
    Http(HttpRequest),
    /// An SSH client's identification line (`ssh.rs`).
    Ssh(SshHello),
    /// The other way: a server's answer (`answer.rs`), which `read` never gives.
    Answer(super::answer::Answer),
}

/// The connection's first bytes `bytes` (cut from longer ones when `cut`): None when they are
/// neither a ClientHello nor an HTTP request.
///
/// A ClientHello is recognised from a handshake record (type 22, record version 3.x, length at
/// most TLS's 16 KiB) whose first message is a ClientHello that the bytes hold at least up to
/// and including its compression methods: short of that there are no cipher suites to
/// fingerprint, so it is not called a hello. Extensions are read as far as they are whole; a
/// hello that goes on past the bytes or past its first record is marked `cut`, and its JA4/JA3
/// then cover only what was read.
///
/// An HTTP request is recognised from a complete request line `METHOD SP TARGET SP HTTP/1.x`
/// (see `read_http_request`). `cut` is passed through: a result is marked cut when the caller
/// says the bytes were cut, as well as when the reader finds the hello or head incomplete.
pub fn read(bytes: &[u8], cut: bool) -> Option<Opening> {
    if let Some(hello) = read_client_hello(bytes, cut) {
        return Some(Opening::Tls(hello));
    }
    if let Some(hello) = super::ssh::read_client_identification(bytes, cut) {
        return Some(Opening::Ssh(hello));
    }
    read_http_request(bytes, cut).map(Opening::Http)
}

// Bounds-checked reading

/// A reader over a byte slice whose every read either returns whole data or `None` without
/// moving, so a length field that lies, or points past where the bytes were cut, can never
/// make the parser index out of bounds.
#[derive(Clone, Copy)]
pub(super) struct Reader<'a> {
    /// The bytes not read yet.
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader at the start of `bytes`.
    pub(super) fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    /// Whether everything has been read.
    pub(super) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// The next `count` bytes, or None (not moving) when fewer are left.
    pub(super) fn take(&mut self, count: usize) -> Option<&'a [u8]> {
        let (head, tail) = self.rest.split_at_checked(count)?;
        self.rest = tail;
        Some(head)
    }

    /// The next `count` bytes, or all that is left when fewer: for a region whose declared
    /// length may run past the end of the bytes kept.
    pub(super) fn take_up_to(&mut self, count: usize) -> &'a [u8] {
        let (head, tail) = self.rest.split_at(count.min(self.rest.len()));
        self.rest = tail;
        head
    }

    /// The next byte.
    pub(super) fn u8(&mut self) -> Option<u8> {
        self.take(1)?.first().copied()
    }

    /// The next big-endian 16-bit number.
    pub(super) fn u16(&mut self) -> Option<u16> {
        let bytes: [u8; 2] = self.take(2)?.try_into().ok()?;
        Some(u16::from_be_bytes(bytes))
    }

    /// The next big-endian 24-bit number (a handshake message's length).
    pub(super) fn u24(&mut self) -> Option<usize> {
        let [high, middle, low]: [u8; 3] = self.take(3)?.try_into().ok()?;
        Some(usize::from(high) << 16 | usize::from(middle) << 8 | usize::from(low))
    }

    /// A vector with a one-byte length in front, as TLS writes `opaque x<0..2^8-1>`; None (not
    /// moving) when the bytes end before the vector does.
    pub(super) fn u8_prefixed(&mut self) -> Option<&'a [u8]> {
        let mut probe = *self;
        let length = probe.u8()?;
        let vector = probe.take(length.into())?;
        *self = probe;
        Some(vector)
    }

    /// A vector with a two-byte length in front, as TLS writes `opaque x<0..2^16-1>`; None (not
    /// moving) when the bytes end before the vector does.
    pub(super) fn u16_prefixed(&mut self) -> Option<&'a [u8]> {
        let mut probe = *self;
        let length = probe.u16()?;
        let vector = probe.take(length.into())?;
        *self = probe;
        Some(vector)
    }
}

/// The big-endian 16-bit numbers packed in `bytes`, as TLS lists cipher suites, groups and
/// algorithms; a malformed odd last byte is left out.
pub(super) fn u16_values(bytes: &[u8]) -> impl Iterator<Item = u16> + '_ {
    bytes
        .chunks_exact(2)
        .filter_map(|pair| pair.try_into().ok().map(u16::from_be_bytes))
}

/// `bytes` as text for a record: at most `max_bytes` of them (so a hostile length cannot make a
/// huge string), with anything that is not UTF-8 replaced rather than refused, because the
/// agent would rather report odd bytes than drop the fact that they were sent.
pub(super) fn text_capped(bytes: &[u8], max_bytes: usize) -> String {
    let kept = bytes.get(..max_bytes).unwrap_or(bytes);
    String::from_utf8_lossy(kept).into_owned()
}

// TLS ClientHello

/// TLS record content type of a handshake record.
pub(super) const CONTENT_TYPE_HANDSHAKE: u8 = 22;
/// Every TLS and SSL 3 record version has this major byte (3.0 to 3.4 and beyond).
pub(super) const RECORD_VERSION_MAJOR: u8 = 3;
/// The largest record fragment TLS allows (RFC 8446 §5.1); a record claiming more is not TLS.
/// This also bounds every list read from a hello: at most 8,192 cipher suites or 4,096
/// extensions, far above any real hello (< 100 suites, < 30 extensions), so no smaller cap
/// is needed and no cap ever changes a real hello's fingerprints.
pub(super) const MAX_RECORD_FRAGMENT: usize = 1 << 14;
/// Handshake message type of a ClientHello.
const HANDSHAKE_CLIENT_HELLO: u8 = 1;
/// Length of the ClientHello's random.
pub(super) const RANDOM_LEN: usize = 32;
/// The longest legacy_session_id TLS allows; longer means these bytes are not a ClientHello.
pub(super) const MAX_SESSION_ID_LEN: usize = 32;

/// Extension carrying the server name (SNI, RFC 6066).
const EXT_SERVER_NAME: u16 = 0x0000;
/// Extension carrying the supported (elliptic curve) groups, JA3's "EllipticCurves".
const EXT_SUPPORTED_GROUPS: u16 = 0x000a;
/// Extension carrying the EC point formats, JA3's "EllipticCurvePointFormats".
const EXT_EC_POINT_FORMATS: u16 = 0x000b;
/// Extension carrying the signature algorithms JA4's last part lists.
const EXT_SIGNATURE_ALGORITHMS: u16 = 0x000d;
/// Extension carrying the ALPN protocol names (RFC 7301).
pub(super) const EXT_ALPN: u16 = 0x0010;
/// Extension carrying the TLS versions a TLS 1.3 client offers.
pub(super) const EXT_SUPPORTED_VERSIONS: u16 = 0x002b;

/// Server name type of a DNS host name, the only one defined.
const SERVER_NAME_TYPE_HOST: u8 = 0;
/// Longest server name kept: a DNS name is at most 253 bytes, so only hostile input is cut.
const MAX_SERVER_NAME_BYTES: usize = 255;
/// Longest ALPN name: the format's own one-byte length allows no more, stated so the bound is
/// visible where the text is made.
pub(super) const MAX_ALPN_NAME_BYTES: usize = 255;
/// Most ALPN names kept in [`TlsHello::alpn`] (real clients send 1 to 3); JA4 uses only the
/// first, which is always read whole.
const MAX_ALPN_NAMES: usize = 16;

/// The TLS version numbers the agent names, with JA4's two characters and the record's text.
const VERSION_NAMES: [(u16, &str, &str); 6] = [
    (0x0304, "13", "1.3"),
    (0x0303, "12", "1.2"),
    (0x0302, "11", "1.1"),
    (0x0301, "10", "1.0"),
    (0x0300, "s3", "ssl3"),
    (0x0002, "s2", "ssl2"),
];

/// DTLS versions JA4 names too; they can appear in a hostile supported_versions list.
const DTLS_VERSION_NAMES: [(u16, &str); 3] = [(0xfeff, "d1"), (0xfefd, "d2"), (0xfefc, "d3")];

/// Whether `value` is a GREASE value (RFC 8701: 0x0a0a, 0x1a1a, ... 0xfafa), which clients
/// sprinkle randomly into their lists and which JA3 and JA4 must ignore to stay stable.
fn is_grease(value: u16) -> bool {
    let [high, low] = value.to_be_bytes();
    high == low && low & 0x0f == 0x0a
}

/// One extension of a ClientHello, as sent.
struct Extension<'a> {
    /// The extension type number.
    kind: u16,
    /// Its body, whole.
    data: &'a [u8],
}

/// The parts of a ClientHello that its facts and fingerprints are made from, borrowed from
/// the bytes read.
struct ClientHello<'a> {
    /// The version field of the hello itself (not the record's); JA3's first field and the
    /// version of a client that sends no supported_versions.
    legacy_version: u16,
    /// Cipher suites in the order offered, GREASE included.
    cipher_suites: Vec<u16>,
    /// The extensions that are whole in the bytes, in the order sent, GREASE included.
    extensions: Vec<Extension<'a>>,
}

/// The ClientHello at the start of `bytes`, with its facts; None when the bytes do not start
/// with one (see [`read`] for how much of it they must hold).
fn read_client_hello(bytes: &[u8], cut: bool) -> Option<TlsHello> {
    let (body, whole) = client_hello_body(bytes)?;
    hello_facts(body, whole, cut, Carrier::Tcp)
}

/// What carried a ClientHello: JA4's first letter tells them apart.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Carrier {
    /// A TLS record over TCP.
    Tcp,
    /// CRYPTO frames of QUIC Initial packets.
    Quic,
}

/// The ClientHello handshake message `message` (its type, its length, then its body) that a QUIC
/// client's Initial packets carried, as far as it was reassembled (`cut` when it goes on past
/// that): None when it is no ClientHello. QUIC has no record layer: the message comes bare.
pub fn read_quic_client_hello(message: &[u8], cut: bool) -> Option<TlsHello> {
    let mut handshake = Reader::new(message);
    if handshake.u8()? != HANDSHAKE_CLIENT_HELLO {
        return None;
    }
    let body_len = handshake.u24()?;
    let body = handshake.take_up_to(body_len);
    hello_facts(body, body.len() == body_len, cut, Carrier::Quic)
}

/// The facts of the ClientHello body `body` (`whole` when it is all there; `cut` when the
/// caller kept less than was sent), carried by `carrier`.
fn hello_facts(body: &[u8], whole: bool, cut: bool, carrier: Carrier) -> Option<TlsHello> {
    let hello = parse_client_hello(body)?;
    Some(TlsHello {
        server_name: hello.server_name(),
        alpn: hello
            .alpn_protocols()
            .iter()
            .take(MAX_ALPN_NAMES)
            .map(|name| text_capped(name, MAX_ALPN_NAME_BYTES))
            .collect(),
        version: version_text(hello.offered_version()),
        ja4: ja4(&hello, carrier),
        ja3: ja3(&hello),
        cut: cut || !whole,
    })
}

/// The body of the ClientHello that `bytes` start with, as far as both the bytes and the first
/// record hold it, and whether that is all of it. Only the first record is read: a hello
/// continued in a second record is not reassembled, only marked as not whole.
fn client_hello_body(bytes: &[u8]) -> Option<(&[u8], bool)> {
    let mut record = Reader::new(bytes);
    if record.u8()? != CONTENT_TYPE_HANDSHAKE {
        return None;
    }
    let [major, _minor] = record.u16()?.to_be_bytes();
    if major != RECORD_VERSION_MAJOR {
        return None;
    }
    let fragment_len = usize::from(record.u16()?);
    if fragment_len > MAX_RECORD_FRAGMENT {
        return None;
    }
    let mut handshake = Reader::new(record.take_up_to(fragment_len));
    if handshake.u8()? != HANDSHAKE_CLIENT_HELLO {
        return None;
    }
    let body_len = handshake.u24()?;
    let body = handshake.take_up_to(body_len);
    Some((body, body.len() == body_len))
}

/// The ClientHello fields in `body`; None unless it holds everything up to and including the
/// compression methods, in well-formed shape.
fn parse_client_hello(body: &[u8]) -> Option<ClientHello<'_>> {
    let mut hello = Reader::new(body);
    let legacy_version = hello.u16()?;
    hello.take(RANDOM_LEN)?;
    if hello.u8_prefixed()?.len() > MAX_SESSION_ID_LEN {
        return None;
    }
    let cipher_suites = hello.u16_prefixed()?;
    if cipher_suites.is_empty() || !cipher_suites.len().is_multiple_of(2) {
        return None;
    }
    if hello.u8_prefixed()?.is_empty() {
        return None;
    }
    Some(ClientHello {
        legacy_version,
        cipher_suites: u16_values(cipher_suites).collect(),
        extensions: read_extensions(&mut hello),
    })
}

/// The extensions block that ends a ClientHello, as far as its extensions are whole; none when
/// the hello ends without one (allowed before TLS 1.2).
fn read_extensions<'a>(hello: &mut Reader<'a>) -> Vec<Extension<'a>> {
    let Some(block_len) = hello.u16() else {
        return Vec::new();
    };
    let mut block = Reader::new(hello.take_up_to(block_len.into()));
    std::iter::from_fn(|| read_extension(&mut block)).collect()
}

/// The next whole extension in `block`, or None when it is missing or runs past the end.
fn read_extension<'a>(block: &mut Reader<'a>) -> Option<Extension<'a>> {
    let mut probe = *block;
    let kind = probe.u16()?;
    let data = probe.u16_prefixed()?;
    *block = probe;
    Some(Extension { kind, data })
}

impl<'a> ClientHello<'a> {
    /// The body of the first extension of type `kind`; a client must not repeat one, so later
    /// copies (hostile) are not looked at.
    fn extension(&self, kind: u16) -> Option<&'a [u8]> {
        self.extensions
            .iter()
            .find(|extension| extension.kind == kind)
            .map(|extension| extension.data)
    }

    /// Cipher suites in the order offered, without GREASE.
    fn cipher_suites_without_grease(&self) -> Vec<u16> {
        self.cipher_suites
            .iter()
            .copied()
            .filter(|suite| !is_grease(*suite))
            .collect()
    }

    /// Extension types in the order sent, without GREASE.
    fn extension_kinds_without_grease(&self) -> Vec<u16> {
        self.extensions
            .iter()
            .map(|extension| extension.kind)
            .filter(|kind| !is_grease(*kind))
            .collect()
    }

    /// The first DNS host name in the SNI extension; None when there is none, or it is empty
    /// or malformed.
    fn server_name(&self) -> Option<String> {
        let mut names = Reader::new(Reader::new(self.extension(EXT_SERVER_NAME)?).u16_prefixed()?);
        while !names.is_empty() {
            let name_type = names.u8()?;
            let name = names.u16_prefixed()?;
            if name_type == SERVER_NAME_TYPE_HOST && !name.is_empty() {
                return Some(text_capped(name, MAX_SERVER_NAME_BYTES));
            }
        }
        None
    }

    /// The ALPN protocol names as sent (each at most 255 bytes by the format), in order; empty
    /// without an ALPN extension.
    fn alpn_protocols(&self) -> Vec<&'a [u8]> {
        let Some(list) = self
            .extension(EXT_ALPN)
            .and_then(|data| Reader::new(data).u16_prefixed())
        else {
            return Vec::new();
        };
        let mut names = Reader::new(list);
        std::iter::from_fn(|| names.u8_prefixed()).collect()
    }

    /// The version the client offers at best: the highest non-GREASE value in supported_versions
    /// when it has one, else the hello's legacy_version (as JA4 specifies).
    fn offered_version(&self) -> u16 {
        self.extension(EXT_SUPPORTED_VERSIONS)
            .and_then(|data| Reader::new(data).u8_prefixed())
            .and_then(|list| u16_values(list).filter(|v| !is_grease(*v)).max())
            .unwrap_or(self.legacy_version)
    }

    /// The non-GREASE 16-bit values of the list that makes up extension `kind`'s body (a
    /// two-byte length, then the values); empty when absent or malformed.
    fn u16_list_extension(&self, kind: u16) -> Vec<u16> {
        self.extension(kind)
            .and_then(|data| Reader::new(data).u16_prefixed())
            .map(|list| u16_values(list).filter(|v| !is_grease(*v)).collect())
            .unwrap_or_default()
    }

    /// The EC point formats offered (one byte each), in order; empty when absent or malformed.
    fn ec_point_formats(&self) -> Vec<u8> {
        self.extension(EXT_EC_POINT_FORMATS)
            .and_then(|data| Reader::new(data).u8_prefixed())
            .map(<[u8]>::to_vec)
            .unwrap_or_default()
    }
}

/// `version` as the record's text: "1.3" ... "1.0", "ssl3", or hex such as "0x7f17" for a
/// value TLS does not name (a draft, or garbage) so that it is still visible.
pub(super) fn version_text(version: u16) -> String {
    VERSION_NAMES
        .iter()
        .find(|(number, _, _)| *number == version)
        .map_or_else(
            || format!("0x{version:04x}"),
            |(_, _, text)| (*text).to_owned(),
        )
}

// JA4 (FoxIO, technical_details/JA4.md)

/// The most a JA4 count can show: two decimal digits.
const JA4_MAX_COUNT: usize = 99;
/// What JA4 writes instead of a hash when a list is empty, so that "nothing" is recognisable.
const JA4_EMPTY_HASH: &str = "000000000000";

/// The JA4 fingerprint of `hello` carried by `carrier`: `a_b_c` where `a` is "t" (TCP) or "q"
/// (QUIC), the version, "d"/"i" for
/// SNI present/absent, the cipher and extension counts and the ALPN's first and last
/// characters; `b` hashes the sorted cipher suites; `c` hashes the sorted extensions (less SNI
/// and ALPN) followed by the signature algorithms in the order sent. GREASE is left out
/// everywhere.
fn ja4(hello: &ClientHello, carrier: Carrier) -> String {
    let cipher_suites = hello.cipher_suites_without_grease();
    let extensions = hello.extension_kinds_without_grease();
    // JA4.md says to ignore GREASE "anywhere", so it is dropped from the signature algorithms
    // too; FoxIO's own tools keep it there, but no common client greases that list.
    let signature_algorithms = hello.u16_list_extension(EXT_SIGNATURE_ALGORITHMS);
    let alpn = hello.alpn_protocols();
    format!(
        "{carrier}{version}{destination}{ciphers:02}{extensions:02}{alpn}_{cipher_hash}_{extension_hash}",
        carrier = match carrier {
            Carrier::Tcp => 't',
            Carrier::Quic => 'q',
        },
        version = ja4_version(hello.offered_version()),
        destination = if extensions.contains(&EXT_SERVER_NAME) {
            'd'
        } else {
            'i'
        },
        ciphers = cipher_suites.len().min(JA4_MAX_COUNT),
        extensions = extensions.len().min(JA4_MAX_COUNT),
        alpn = ja4_alpn(alpn.first().copied()),
        cipher_hash = ja4_cipher_hash(&cipher_suites),
        extension_hash = ja4_extension_hash(&extensions, &signature_algorithms),
    )
}

/// JA4's two-character version: "13" ... "10", "s3", "s2", DTLS's "d1" to "d3", else "00".
fn ja4_version(version: u16) -> &'static str {
    let tls = VERSION_NAMES
        .iter()
        .find(|(number, _, _)| *number == version)
        .map(|(_, ja4, _)| *ja4);
    let dtls = || {
        DTLS_VERSION_NAMES
            .iter()
            .find(|(number, _)| *number == version)
            .map(|(_, ja4)| *ja4)
    };
    tls.or_else(dtls).unwrap_or("00")
}

/// JA4's two ALPN characters from the first ALPN name: its first and last characters when both
/// are ASCII letters or digits (a one-character name gives that character twice), else the
/// first and last characters of the name written in hex; "00" when there is no name or it is
/// empty.
fn ja4_alpn(first_name: Option<&[u8]>) -> String {
    let Some((&first, &last)) = first_name.and_then(|name| Some((name.first()?, name.last()?)))
    else {
        return "00".to_owned();
    };
    if first.is_ascii_alphanumeric() && last.is_ascii_alphanumeric() {
        [char::from(first), char::from(last)].iter().collect()
    } else {
        // The hex of the whole name starts with the first byte's high nibble and ends with the
        // last byte's low nibble.
        format!("{:x}{:x}", first >> 4, last & 0x0f)
    }
}

/// JA4's `b`: the first 12 hex digits of the SHA-256 of the cipher suites, as 4-digit lowercase
/// hex sorted and joined by commas.
fn ja4_cipher_hash(cipher_suites: &[u16]) -> String {
    let mut sorted = cipher_suites.to_vec();
    sorted.sort_unstable();
    if sorted.is_empty() {
        return JA4_EMPTY_HASH.to_owned();
    }
    sha256_prefix12(&hex_list(&sorted))
}

/// JA4's `c`: the first 12 hex digits of the SHA-256 of the extension types, sorted, without SNI
/// and ALPN (already in `a`), then "_" and the signature algorithms in the order sent; with no
/// signature algorithms the text ends at the extensions, without the "_".
fn ja4_extension_hash(extensions: &[u16], signature_algorithms: &[u16]) -> String {
    let mut sorted: Vec<u16> = extensions
        .iter()
        .copied()
        .filter(|kind| *kind != EXT_SERVER_NAME && *kind != EXT_ALPN)
        .collect();
    sorted.sort_unstable();
    if sorted.is_empty() {
        return JA4_EMPTY_HASH.to_owned();
    }
    let mut text = hex_list(&sorted);
    if !signature_algorithms.is_empty() {
        text.push('_');
        text.push_str(&hex_list(signature_algorithms));
    }
    sha256_prefix12(&text)
}

/// `values` as 4-digit lowercase hex joined by commas, as JA4 lists them.
fn hex_list(values: &[u16]) -> String {
    joined(values, ',', |text, value| {
        lowercase_hex_into(text, &value.to_be_bytes());
    })
}

/// `values` written by `write` into one text, `separator` between them (each hello makes a
/// few such lists: one text each, not a text per value).
fn joined(values: &[u16], separator: char, write: impl Fn(&mut String, u16)) -> String {
    let mut text = String::with_capacity(values.len() * 6);
    for (i, &value) in values.iter().enumerate() {
        if i > 0 {
            text.push(separator);
        }
        write(&mut text, value);
    }
    text
}

/// The first 12 lowercase hex digits of the SHA-256 of `text`.
fn sha256_prefix12(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    lowercase_hex(digest.get(..6).unwrap_or_default())
}

/// `bytes` as lowercase hex.
pub(super) fn lowercase_hex(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(2 * bytes.len());
    lowercase_hex_into(&mut text, bytes);
    text
}

/// `bytes` as lowercase hex, after `text`.
fn lowercase_hex_into(text: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for byte in bytes {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
}

// JA3 (Salesforce)

/// The JA3 fingerprint of `hello`: the MD5, in lowercase hex, of
/// "SSLVersion,Ciphers,Extensions,EllipticCurves,EllipticCurvePointFormats", each field's
/// numbers in decimal joined by "-" in the order sent, GREASE left out, and SSLVersion the
/// hello's legacy_version.
fn ja3(hello: &ClientHello) -> String {
    let text = ja3_text(hello);
    lowercase_hex(&Md5::digest(text.as_bytes()))
}

/// The JA3 text before hashing (kept apart so tests can compare it with other tools').
fn ja3_text(hello: &ClientHello) -> String {
    let point_formats: Vec<u16> = hello
        .ec_point_formats()
        .into_iter()
        .map(u16::from)
        .collect();
    format!(
        "{},{},{},{},{}",
        hello.legacy_version,
        decimal_list(&hello.cipher_suites_without_grease()),
        decimal_list(&hello.extension_kinds_without_grease()),
        decimal_list(&hello.u16_list_extension(EXT_SUPPORTED_GROUPS)),
        decimal_list(&point_formats),
    )
}

/// `values` in decimal joined by "-", as JA3 lists them.
pub(super) fn decimal_list(values: &[u16]) -> String {
    joined(values, '-', |text, value| {
        // Writing to a String cannot fail.
        let _ = write!(text, "{value}");
    })
}

// HTTP request

/// Longest method accepted; the longest registered ones (e.g. "BASELINE-CONTROL") have 16.
const MAX_METHOD_LEN: usize = 16;
/// Most bytes kept of a target or header value: a URL or user agent longer than this is
/// hostile or broken, and is cut (the segment itself is kept to 4,096 bytes).
pub(super) const MAX_HTTP_TEXT_BYTES: usize = 2048;

/// The HTTP request head at the start of `bytes`; None unless they start with a whole request
/// line `METHOD SP TARGET SP VERSION` ending in CRLF or LF, where METHOD is 1 to 16 uppercase
/// ASCII letters (and inner "-"), TARGET is visible non-space bytes, and VERSION is
/// "HTTP/1.x". HTTP/2's prior-knowledge preface ("PRI * HTTP/2.0") is taken too, as version
/// "2.0" with no host or user agent, since what follows it is binary frames: it still tells
/// that the connection speaks clear-text HTTP. Host and User-Agent are the first of each among
/// the header lines that are whole before the blank line.
fn read_http_request(bytes: &[u8], cut: bool) -> Option<HttpRequest> {
    if !starts_with_method(bytes) {
        return None;
    }
    let (line, after) = split_line(bytes)?;
    let request = parse_request_line(line)?;
    let head = read_head_fields(after);
    Some(HttpRequest {
        method: request.method,
        target: request.target,
        version: request.version,
        host: head.host,
        user_agent: head.user_agent,
        cut: cut || !head.ended,
    })
}

/// The three parts of a request line, as the record keeps them.
struct RequestLine {
    /// The method, e.g. "GET".
    method: String,
    /// The request target as sent (origin path, absolute URI, authority or "*").
    target: String,
    /// "1.0", "1.1" ... or "2.0" for the HTTP/2 preface.
    version: String,
}

/// The header fields the record keeps, and whether the head's blank line was reached.
#[derive(Default)]
struct HeadFields {
    /// The first Host value.
    host: Option<String>,
    /// The first User-Agent value.
    user_agent: Option<String>,
    /// Whether the blank line ending the head was in the bytes.
    ended: bool,
}

/// Whether `bytes` start with a method token and a space: a cheap first test, so that binary
/// data is turned away without scanning it for a line end.
fn starts_with_method(bytes: &[u8]) -> bool {
    let method_len = bytes
        .iter()
        .take(MAX_METHOD_LEN + 1)
        .take_while(|byte| **byte != b' ')
        .count();
    bytes.get(method_len) == Some(&b' ') && bytes.get(..method_len).is_some_and(is_method)
}

/// Whether `token` is a method as clients send them: 1 to 16 uppercase ASCII letters, with "-"
/// allowed after the first (WebDAV's VERSION-CONTROL). Requiring uppercase keeps lowercase
/// text and binary data from being taken for HTTP.
fn is_method(token: &[u8]) -> bool {
    match token.split_first() {
        Some((first, rest)) => {
            token.len() <= MAX_METHOD_LEN
                && first.is_ascii_uppercase()
                && rest
                    .iter()
                    .all(|byte| byte.is_ascii_uppercase() || *byte == b'-')
        }
        None => false,
    }
}

/// Whether `target` can be a request target: not empty, and only visible bytes (ASCII
/// graphics, or bytes above ASCII that careless clients send unencoded), so no spaces or
/// control characters.
fn is_target(target: &[u8]) -> bool {
    !target.is_empty()
        && target
            .iter()
            .all(|byte| byte.is_ascii_graphic() || *byte >= 0x80)
}

/// The line at the start of `bytes` without its LF or CRLF, and the bytes after it; None when
/// no LF ends it within the bytes (the line is not whole).
pub(super) fn split_line(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let end = bytes.iter().position(|byte| *byte == b'\n')?;
    let (line, rest) = bytes.split_at(end);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    Some((line, rest.get(1..).unwrap_or_default()))
}

/// The request line's method, target and version; None when it is not exactly
/// `METHOD SP TARGET SP VERSION` with a version read by [`http_version`].
fn parse_request_line(line: &[u8]) -> Option<RequestLine> {
    let mut parts = line.splitn(3, |byte| *byte == b' ');
    let method = parts.next()?;
    let target = parts.next()?;
    let version = parts.next()?;
    if !is_method(method) || !is_target(target) {
        return None;
    }
    Some(RequestLine {
        version: http_version(method, target, version)?,
        method: text_capped(method, MAX_METHOD_LEN),
        target: text_capped(target, MAX_HTTP_TEXT_BYTES),
    })
}

/// The version a request line names: "1.x" for "HTTP/1.x" (x one digit), "2.0" for the exact
/// HTTP/2 preface line "PRI * HTTP/2.0"; None for anything else (HTTP/0.9 had no version, and
/// HTTP/2 requests are never written as text lines).
fn http_version(method: &[u8], target: &[u8], version: &[u8]) -> Option<String> {
    if (method, target, version) == (&b"PRI"[..], &b"*"[..], &b"HTTP/2.0"[..]) {
        return Some("2.0".to_owned());
    }
    match version.strip_prefix(b"HTTP/1.")? {
        [minor] if minor.is_ascii_digit() => Some(format!("1.{}", char::from(*minor))),
        _ => None,
    }
}

/// Host and User-Agent from the header lines in `bytes` (what follows the request line), up to
/// the blank line: the first of each (names compare without case, values are trimmed).
fn read_head_fields(bytes: &[u8]) -> HeadFields {
    let mut fields = HeadFields::default();
    fields.ended = header_fields(bytes, |name, value| {
        let slot = if name.eq_ignore_ascii_case(b"host") {
            &mut fields.host
        } else if name.eq_ignore_ascii_case(b"user-agent") {
            &mut fields.user_agent
        } else {
            return;
        };
        if slot.is_none() {
            *slot = Some(text_capped(value, MAX_HTTP_TEXT_BYTES));
        }
    });
    fields
}

/// Calls `each` with the name and trimmed value of each header line in `bytes` (an HTTP/1
/// head after its first line), up to the blank line; whether that line was reached. A last
/// line with no line end is not whole, so it is not read; a line that folds the previous value
/// on (leading space, obsolete since RFC 7230) or has no colon is skipped rather than guessed
/// at.
pub(super) fn header_fields(mut bytes: &[u8], mut each: impl FnMut(&[u8], &[u8])) -> bool {
    while let Some((line, rest)) = split_line(bytes) {
        if line.is_empty() {
            return true;
        }
        bytes = rest;
        if line.starts_with(b" ") || line.starts_with(b"\t") {
            continue;
        }
        if let Some(colon) = line.iter().position(|byte| *byte == b':') {
            each(&line[..colon], line[colon + 1..].trim_ascii());
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // -----------------------------------------------------------------------------------------
    // Captured ClientHellos: the TCP payload of the segment that carried each, as hex.
    // The FoxIO ones were pulled out of the repository's pcaps with
    // `tshark -Y 'tls.handshake.type==1' -T fields -e tcp.payload`.
    // -----------------------------------------------------------------------------------------

    /// Firefox's hello to contile.services.mozilla.com (no GREASE, TLS 1.3, h2): the only
    /// ClientHello in FoxIO-LLC/ja4 `pcap/tls12.pcap` (frame 1, TCP payload).
    const FIREFOX_HELLO: &str = "\
        1603010200010001fc0303ecb2691addb2bf6c599c7aaae23de5f42561cc04eb\
        41029acc6fc050a16ac1d22046f8617b580ac9358e2aa44e306d52466bcc989c\
        87c8ca64309f5faf50ba7b4d0022130113031302c02bc02fcca9cca8c02cc030\
        c00ac009c013c014009c009d002f00350100019100000021001f00001c636f6e\
        74696c652e73657276696365732e6d6f7a696c6c612e636f6d00170000ff0100\
        0100000a000e000c001d00170018001901000101000b00020100002300000010\
        000e000c02683208687474702f312e310005000501000000000022000a000804\
        030503060302030033006b0069001d00208909858fbeb6ed2f1248ba5b9e2978\
        bead0e840110192c61daed0096798b184400170041044d183d91f5eed35791fa\
        982464e3b0214aaa5f5d1b78616d9b9fbebc22d11f535b2f94c686143136aa79\
        5e6e5a875d6c08064ad5b76d44caad766e2483012748002b0005040304030300\
        0d0018001604030503060308040805080604010501060102030201002d000201\
        01001c000240010015007a000000000000000000000000000000000000000000\
        0000000000000000000000000000000000000000000000000000000000000000\
        0000000000000000000000000000000000000000000000000000000000000000\
        0000000000000000000000000000000000000000000000000000000000000000\
        0000000000";

    /// Chrome's hello to clientservices.googleapis.com, with GREASE cipher suites, extensions,
    /// groups and versions: FoxIO-LLC/ja4 `pcap/tls-sni.pcapng`, TCP stream 0, frame 1.
    const CHROME_HELLO: &str = "\
        1603010200010001fc03030f9e38acb9a54a7c6e00e29a70ac2feee180ff76d7\
        f25dca84932a66a42d1e5a20bc58b92f865e6b9aa4a6371cadcb0afe1da1c0f7\
        05209a11d52357f56d5dd9620020aaaa130113021303c02bc02fc02cc030cca9\
        cca8c013c014009c009d002f0035010001939a9a0000ff010001000033002b00\
        290a0a000100001d0020cf55af2603e92f59eb321779706a18fa6b96b16c1640\
        4c2264ed687a59401878002d0002010100050005010000000044690005000302\
        6832000d00120010040308040401050308050501080606010010000e000c0268\
        3208687474702f312e3100230000001b0003020002002b0007060a0a03040303\
        00000022002000001d636c69656e7473657276696365732e676f6f676c656170\
        69732e636f6d00120000000a000a00080a0a001d0017001800170000000b0002\
        01006a6a000100001500ba000000000000000000000000000000000000000000\
        0000000000000000000000000000000000000000000000000000000000000000\
        0000000000000000000000000000000000000000000000000000000000000000\
        0000000000000000000000000000000000000000000000000000000000000000\
        0000000000000000000000000000000000000000000000000000000000000000\
        0000000000000000000000000000000000000000000000000000000000000000\
        0000000000";

    /// A TLS 1.2 hello (no supported_versions, 46 cipher suites, h2) to www.cloudflare.com:
    /// FoxIO-LLC/ja4 `pcap/tls-alpn-h2.pcap`, frame 4.
    const CLOUDFLARE_TLS12_HELLO: &str = "\
        16030100e8010000e40303858226c04fbaeddef4246093b4cfdab38f9dcfef14\
        5360e417686575cac49c7000005cc030c02cc028c024c014c00a009f006b0039\
        cca9cca8ccaaff8500c400880081009d003d003500c00084c02fc02bc027c023\
        c013c009009e0067003300be0045009c003c002f00ba0041c011c00700050004\
        c012c0080016000a00ff0100005f0000001700150000127777772e636c6f7564\
        666c6172652e636f6d000b00020100000a00080006001d00170018000d001c00\
        1a06010603efef0501050304010403eeeeeded03010303020102030010000e00\
        0c02683208687474702f312e31";

    /// A TLS 1.2 hello without ALPN to discovery.cem.cloud.us: FoxIO-LLC/ja4
    /// `pcap/latest.pcapng`, TCP stream 3, frame 75.
    const NO_ALPN_TLS12_HELLO: &str = "\
        16030300b8010000b4030364960ddb84e92e8d5a9be477e2f7112257269dc742\
        143793732813c25ec65af0000026c02cc02bc030c02fc024c023c028c027c00a\
        c009c014c013009d009c003d003c0035002f000a010000650000001b00190000\
        16646973636f766572792e63656d2e636c6f75642e7573000500050100000000\
        000a00080006001d00170018000b00020100000d001a00180804080508060401\
        050102010403050302030202060106030023000000170000ff01000100";

    /// Captured here: `openssl s_client -connect 127.0.0.1:PORT -servername example.test
    /// -alpn h2,http/1.1` (OpenSSL 3.0.19) against a Python listener on 127.0.0.1 that saved
    /// its first recv() of at most 2,048 bytes.
    const OPENSSL_HELLO: &str = "\
        160301014b010001470303f2fcce5ac1e55f1ead2a73baff2ca000f83c837495\
        14a42cb3a9f13857eb9e4520e724313a3a271a04088f45d94197f732960bd6b9\
        7a93299e3ff8bbdd99d0b80b003e130213031301c02cc030009fcca9cca8ccaa\
        c02bc02f009ec024c028006bc023c0270067c00ac0140039c009c0130033009d\
        009c003d003c0035002f00ff010000c000000011000f00000c6578616d706c65\
        2e74657374000b000403000102000a00160014001d0017001e00190018010001\
        01010201030104002300000010000e000c02683208687474702f312e31001600\
        0000170000000d002a0028040305030603080708080809080a080b0804080508\
        06040105010601030303010302040205020602002b0009080304030303020301\
        002d00020101003300260024001d00208ae280b591cc559df2efbe68b7b3f0be\
        0a7929894e156809bafb1475e2417322";

    /// Captured the same way with `openssl s_client -connect 127.0.0.1:PORT -noservername`
    /// (no SNI, no ALPN).
    const OPENSSL_NO_SNI_HELLO: &str = "\
        1603010124010001200303501c55762a56897c4c34eb93b9a514bb32235e26ac\
        1c4f1f9d1c23caab428846203feaedc4f7a16f3631f35f37d21b28cb8f31aa57\
        dc58e2dd3b95bc9b50f89df9003e130213031301c02cc030009fcca9cca8ccaa\
        c02bc02f009ec024c028006bc023c0270067c00ac0140039c009c0130033009d\
        009c003d003c0035002f00ff01000099000b000403000102000a00160014001d\
        0017001e0019001801000101010201030104002300000016000000170000000d\
        002a0028040305030603080708080809080a080b080408050806040105010601\
        030303010302040205020602002b0009080304030303020301002d0002010100\
        3300260024001d00202dd61e741c1519a80da103f006bd3a1002a45f041c2fab\
        96c3716a7a15afe877";
    /// The bytes a hex constant spells.
    fn bytes_of(hex: &str) -> Vec<u8> {
        assert!(hex.len().is_multiple_of(2), "odd hex length");
        (0..hex.len())
            .step_by(2)
            .map(|at| u8::from_str_radix(&hex[at..at + 2], 16).expect("hex digit"))
            .collect()
    }

    /// A captured hello and what is known about it.
    struct KnownHello {
        /// Which capture, for failure messages.
        name: &'static str,
        /// Its bytes, as hex.
        hex: &'static str,
        /// The SNI host name in it.
        server_name: Option<&'static str>,
        /// Its ALPN names.
        alpn: &'static [&'static str],
        /// Its highest offered version.
        version: &'static str,
        /// JA4 as the reference computes it: for the FoxIO captures, the value in the FoxIO repo's
        /// `rust/ja4/src/snapshots/ja4__insta@<pcap>.snap` (the Python tool's
        /// `python/test/testdata/<pcap>.json` agrees); for the local captures, FoxIO's
        /// `python/ja4.py` run over a pcap wrapping the same bytes.
        ja4: &'static str,
        /// JA3 as both `tshark` 4.0.17 (`tls.handshake.ja3`) and Salesforce's `ja3` (pyja3
        /// 1.0.0) compute it from the same bytes.
        ja3: &'static str,
    }

    /// Every captured hello, with its expected facts.
    const KNOWN_HELLOS: [KnownHello; 6] = [
        KnownHello {
            name: "firefox",
            hex: FIREFOX_HELLO,
            server_name: Some("contile.services.mozilla.com"),
            alpn: &["h2", "http/1.1"],
            version: "1.3",
            ja4: "t13d1715h2_5b57614c22b0_3d5424432f57",
            ja3: "579ccef312d18482fc42e2b822ca2430",
        },
        KnownHello {
            name: "chrome",
            hex: CHROME_HELLO,
            server_name: Some("clientservices.googleapis.com"),
            alpn: &["h2", "http/1.1"],
            version: "1.3",
            ja4: "t13d1516h2_8daaf6152771_e5627efa2ab1",
            ja3: "1c258ebef8eee2dfa3df6d8d07285af9",
        },
        KnownHello {
            name: "cloudflare tls 1.2",
            hex: CLOUDFLARE_TLS12_HELLO,
            server_name: Some("www.cloudflare.com"),
            alpn: &["h2", "http/1.1"],
            version: "1.2",
            ja4: "t12d4605h2_85626a9a5f7f_aaf95bb78ec9",
            ja3: "3faa4ad39f690c4ef1c3160caa375465",
        },
        KnownHello {
            name: "tls 1.2 without alpn",
            hex: NO_ALPN_TLS12_HELLO,
            server_name: Some("discovery.cem.cloud.us"),
            alpn: &[],
            version: "1.2",
            ja4: "t12d190800_d83cc789557e_7af1ed941c26",
            ja3: "a0e9f5d64349fb13191bc781f81f42e1",
        },
        KnownHello {
            name: "openssl",
            hex: OPENSSL_HELLO,
            server_name: Some("example.test"),
            alpn: &["h2", "http/1.1"],
            version: "1.3",
            ja4: "t13d3111h2_e8f1e7e78f70_1f22a2ca17c4",
            ja3: "5a1edc7f170af1014fc65c994878e63c",
        },
        KnownHello {
            name: "openssl without sni",
            hex: OPENSSL_NO_SNI_HELLO,
            server_name: None,
            alpn: &[],
            version: "1.3",
            ja4: "t13i310900_e8f1e7e78f70_1f22a2ca17c4",
            ja3: "c216e752cae6f8755fd27f561d031636",
        },
    ];

    /// The TLS facts `bytes` give, failing the test when they are not a hello.
    fn hello_of(bytes: &[u8], cut: bool) -> TlsHello {
        match read(bytes, cut) {
            Some(Opening::Tls(hello)) => hello,
            other => panic!("not read as a ClientHello: {other:?}"),
        }
    }

    /// The HTTP facts `bytes` give, failing the test when they are not a request.
    fn request_of(bytes: &[u8], cut: bool) -> HttpRequest {
        match read(bytes, cut) {
            Some(Opening::Http(request)) => request,
            other => panic!("not read as an HTTP request: {other:?}"),
        }
    }

    #[test]
    fn known_hellos_give_the_references_facts_and_fingerprints() {
        for known in &KNOWN_HELLOS {
            let hello = hello_of(&bytes_of(known.hex), false);
            let expected = TlsHello {
                server_name: known.server_name.map(str::to_owned),
                alpn: known.alpn.iter().map(|name| (*name).to_owned()).collect(),
                version: known.version.to_owned(),
                ja4: known.ja4.to_owned(),
                ja3: known.ja3.to_owned(),
                cut: false,
            };
            assert_eq!(hello, expected, "{}", known.name);
        }
    }

    #[test]
    fn openssl_capture_reads_sni_alpn_and_tls_1_3() {
        let hello = hello_of(&bytes_of(OPENSSL_HELLO), false);
        assert_eq!(hello.server_name.as_deref(), Some("example.test"));
        assert_eq!(hello.alpn, ["h2", "http/1.1"]);
        // OpenSSL sends legacy_version 1.2 and lists 1.3 in supported_versions.
        assert_eq!(hello.version, "1.3");
        assert!(hello.ja4.starts_with("t13d"));
        assert!(!hello.cut);
    }

    #[test]
    fn hello_without_sni_is_an_ip_destination_with_no_server_name() {
        let hello = hello_of(&bytes_of(OPENSSL_NO_SNI_HELLO), false);
        assert_eq!(hello.server_name, None);
        assert!(hello.ja4.starts_with("t13i"), "{}", hello.ja4);
        // The same client with SNI and ALPN differs only in those: JA4's hashes leave them out.
        let with_sni = hello_of(&bytes_of(OPENSSL_HELLO), false);
        assert_eq!(hello.ja4[10..], with_sni.ja4[10..]);
    }

    #[test]
    fn chrome_grease_values_are_left_out_of_both_fingerprints() {
        let bytes = bytes_of(CHROME_HELLO);
        let (body, whole) = client_hello_body(&bytes).expect("a hello");
        assert!(whole);
        let hello = parse_client_hello(body).expect("a hello");
        // The capture does carry GREASE where RFC 8701 puts it...
        assert!(hello.cipher_suites.iter().any(|suite| is_grease(*suite)));
        assert!(hello.extensions.iter().any(|ext| is_grease(ext.kind)));
        let groups = Reader::new(hello.extension(EXT_SUPPORTED_GROUPS).expect("groups"))
            .u16_prefixed()
            .expect("group list");
        assert!(u16_values(groups).any(is_grease));
        let versions = Reader::new(hello.extension(EXT_SUPPORTED_VERSIONS).expect("versions"))
            .u8_prefixed()
            .expect("version list");
        assert!(u16_values(versions).any(is_grease));
        // ...and none of it reaches JA3 (this text is what tshark and pyja3 print) or JA4.
        assert_eq!(
            ja3_text(&hello),
            "771,4865-4866-4867-49195-49199-49196-49200-52393-52392-49171-49172-156-157-47-53,\
             65281-51-45-5-17513-13-16-35-27-43-0-18-10-23-11-21,29-23-24,0"
        );
        assert_eq!(
            ja4(&hello, Carrier::Tcp),
            "t13d1516h2_8daaf6152771_e5627efa2ab1"
        );
    }

    #[test]
    fn non_alphanumeric_alpn_is_written_as_hex_as_the_spec_says() {
        // FoxIO's pcap/tls-non-ascii-alpn.pcapng is CHROME_HELLO with its first ALPN name "h2"
        // (bytes 223 and 224) replaced by 0xba 0xad; checked byte for byte.
        let mut bytes = bytes_of(CHROME_HELLO);
        assert_eq!(&bytes[220..225], &[0x00, 0x0c, 0x02, b'h', b'2'][..]);
        bytes[223] = 0xba;
        bytes[224] = 0xad;
        let hello = hello_of(&bytes, false);
        // JA4.md: a first or last byte that is not ASCII alphanumeric gives the first and last
        // hex digits of the name, "baad" -> "bd". (The repo's own Rust, Python and Wireshark
        // tools still print "99" here, from the rule the spec replaced; see FoxIO-LLC/ja4#326.)
        assert_eq!(hello.ja4, "t13d1516bd_8daaf6152771_e5627efa2ab1");
        assert_eq!(hello.alpn, ["\u{fffd}\u{fffd}", "http/1.1"]);
        assert_eq!(hello.ja3, "1c258ebef8eee2dfa3df6d8d07285af9");
    }

    #[test]
    fn ja4_alpn_follows_every_spec_example() {
        let cases: [(&[u8], &str); 12] = [
            (b"h2", "h2"),
            (b"http/1.1", "h1"),
            (b"", "00"),
            (b"z", "zz"),
            (&[0xab], "ab"),
            (&[0x20], "20"),
            (&[0xab, 0xcd], "ad"),
            (&[0x20, 0x61], "21"),
            (&[0x30, 0xab], "3b"),
            (&[0x61, 0x20], "60"),
            (&[0x30, 0x31, 0xab, 0xcd], "3d"),
            (&[0x30, 0xab, 0xcd, 0x31], "01"),
        ];
        for (name, expected) in cases {
            assert_eq!(ja4_alpn(Some(name)), expected, "{name:02x?}");
        }
        assert_eq!(ja4_alpn(None), "00");
    }

    #[test]
    fn ja4_hashes_match_the_spec_worked_example() {
        let ciphers = [
            0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014,
            0x009c, 0x009d, 0x002f, 0x0035,
        ];
        let extensions = [
            0x001b, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002d, 0x000d, 0x0005, 0x0023, 0x0012,
            0x002b, 0xff01, 0x000b, 0x000a, 0x0015,
        ];
        let signature_algorithms = [
            0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601,
        ];
        assert_eq!(ja4_cipher_hash(&ciphers), "8daaf6152771");
        assert_eq!(
            ja4_extension_hash(&extensions, &signature_algorithms),
            "e5627efa2ab1"
        );
        // "If there are no signature algorithms ... the string ends without an underscore."
        assert_eq!(ja4_extension_hash(&extensions, &[]), "6d807ffa2a79");
        // Empty lists give zeros, not the hash of nothing.
        assert_eq!(ja4_cipher_hash(&[]), "000000000000");
        assert_eq!(ja4_extension_hash(&[0x0000, 0x0010], &[]), "000000000000");
    }

    #[test]
    fn grease_is_recognised_exactly() {
        let grease: Vec<u16> = (0..=u16::MAX).filter(|value| is_grease(*value)).collect();
        let expected: Vec<u16> = (0..16u16).map(|n| 0x0a0a + n * 0x1010).collect();
        assert_eq!(grease, expected);
    }

    // -----------------------------------------------------------------------------------------
    // Made-up hellos for the cases no capture covers.
    // -----------------------------------------------------------------------------------------

    /// `bytes` with a two-byte length in front.
    fn u16_prefixed(bytes: &[u8]) -> Vec<u8> {
        let mut out = u16::try_from(bytes.len()).unwrap().to_be_bytes().to_vec();
        out.extend_from_slice(bytes);
        out
    }

    /// `values` as big-endian bytes.
    fn u16_bytes(values: &[u16]) -> Vec<u8> {
        values
            .iter()
            .flat_map(|value| value.to_be_bytes())
            .collect()
    }

    /// A whole ClientHello record with these parts; `extensions` None leaves the block out.
    fn made_hello(
        legacy_version: u16,
        cipher_suites: &[u16],
        extensions: Option<&[(u16, Vec<u8>)]>,
    ) -> Vec<u8> {
        let mut body = legacy_version.to_be_bytes().to_vec();
        body.extend([0x11; 32]);
        body.push(0);
        body.extend(u16_prefixed(&u16_bytes(cipher_suites)));
        body.extend([1, 0]);
        if let Some(extensions) = extensions {
            let block: Vec<u8> = extensions
                .iter()
                .flat_map(|(kind, data)| [kind.to_be_bytes().to_vec(), u16_prefixed(data)].concat())
                .collect();
            body.extend(u16_prefixed(&block));
        }
        let mut handshake = vec![HANDSHAKE_CLIENT_HELLO];
        handshake.extend(&u32::try_from(body.len()).unwrap().to_be_bytes()[1..]);
        handshake.extend(body);
        let mut record = vec![CONTENT_TYPE_HANDSHAKE, 3, 1];
        record.extend(u16_prefixed(&handshake));
        record
    }

    /// An SNI extension naming `host`.
    fn sni(host: &[u8]) -> (u16, Vec<u8>) {
        let mut entry = vec![SERVER_NAME_TYPE_HOST];
        entry.extend(u16_prefixed(host));
        (EXT_SERVER_NAME, u16_prefixed(&entry))
    }

    /// An ALPN extension listing `names`.
    fn alpn(names: &[&[u8]]) -> (u16, Vec<u8>) {
        let list: Vec<u8> = names
            .iter()
            .flat_map(|name| [vec![u8::try_from(name.len()).unwrap()], name.to_vec()].concat())
            .collect();
        (EXT_ALPN, u16_prefixed(&list))
    }

    /// A supported_versions extension listing `versions`.
    fn supported_versions(versions: &[u16]) -> (u16, Vec<u8>) {
        let list = u16_bytes(versions);
        let mut data = vec![u8::try_from(list.len()).unwrap()];
        data.extend(list);
        (EXT_SUPPORTED_VERSIONS, data)
    }

    /// A signature_algorithms extension listing `algorithms`.
    fn signature_algorithms(algorithms: &[u16]) -> (u16, Vec<u8>) {
        (
            EXT_SIGNATURE_ALGORITHMS,
            u16_prefixed(&u16_bytes(algorithms)),
        )
    }

    #[test]
    fn hello_without_extensions_is_read_with_empty_parts() {
        let hello = hello_of(&made_hello(0x0301, &[0x002f, 0x0035], None), false);
        assert_eq!(hello.server_name, None);
        assert!(hello.alpn.is_empty());
        assert_eq!(hello.version, "1.0");
        let cipher_hash = sha256_prefix12("002f,0035");
        assert_eq!(hello.ja4, format!("t10i020000_{cipher_hash}_000000000000"));
        assert_eq!(
            hello.ja3,
            lowercase_hex(&Md5::digest(b"769,47-53,,,")),
            "JA3 keeps empty fields"
        );
        assert!(!hello.cut);
    }

    #[test]
    fn grease_is_ignored_in_versions_and_signature_algorithms_too() {
        let grease_free = made_hello(
            0x0303,
            &[0x1301],
            Some(&[
                supported_versions(&[0x0304, 0x0303]),
                signature_algorithms(&[0x0403, 0x0804]),
            ]),
        );
        let greased = made_hello(
            0x0303,
            &[0x3a3a, 0x1301],
            Some(&[
                (0xdada, Vec::new()),
                supported_versions(&[0xfafa, 0x0304, 0x0303]),
                signature_algorithms(&[0x0403, 0x5a5a, 0x0804]),
            ]),
        );
        let (plain, greased) = (hello_of(&grease_free, false), hello_of(&greased, false));
        assert_eq!(greased.version, "1.3", "0xfafa is not a version");
        assert_eq!(greased.ja4, plain.ja4);
        assert_eq!(greased.ja3, plain.ja3);
    }

    #[test]
    fn version_falls_back_to_legacy_and_shows_unknown_values_in_hex() {
        let only_grease = made_hello(0x0303, &[0x1301], Some(&[supported_versions(&[0x2a2a])]));
        assert_eq!(hello_of(&only_grease, false).version, "1.2");
        let draft = made_hello(0x0303, &[0x1301], Some(&[supported_versions(&[0x7f17])]));
        let draft = hello_of(&draft, false);
        assert_eq!(draft.version, "0x7f17");
        assert!(draft.ja4.starts_with("t00i"), "{}", draft.ja4);
        let ssl3 = hello_of(&made_hello(0x0300, &[0x000a], None), false);
        assert_eq!((ssl3.version.as_str(), &ssl3.ja4[..3]), ("ssl3", "ts3"));
    }

    #[test]
    fn sni_and_alpn_text_is_bounded_and_lossy() {
        let long_host = vec![b'a'; 300];
        let names: Vec<Vec<u8>> = (0..20).map(|n| format!("p{n}").into_bytes()).collect();
        let name_refs: Vec<&[u8]> = names.iter().map(Vec::as_slice).collect();
        let bytes = made_hello(
            0x0303,
            &[0x1301],
            Some(&[sni(&long_host), alpn(&name_refs)]),
        );
        let hello = hello_of(&bytes, false);
        assert_eq!(hello.server_name.map(|name| name.len()), Some(255));
        assert_eq!(hello.alpn.len(), MAX_ALPN_NAMES);
        assert_eq!(hello.alpn[15], "p15");
        // The caps do not touch the fingerprint: all 20 names were there, the first is "p0".
        assert!(hello.ja4.starts_with("t12d0102p0_"), "{}", hello.ja4);

        let odd = hello_of(
            &made_hello(0x0303, &[0x1301], Some(&[sni(b"a\xffb")])),
            false,
        );
        assert_eq!(odd.server_name.as_deref(), Some("a\u{fffd}b"));
    }

    #[test]
    fn empty_first_alpn_name_gives_00() {
        let bytes = made_hello(0x0303, &[0x1301], Some(&[alpn(&[b"", b"h2"])]));
        assert!(hello_of(&bytes, false).ja4.starts_with("t12i010100_"));
    }

    // -----------------------------------------------------------------------------------------
    // Cut and malformed hellos.
    // -----------------------------------------------------------------------------------------

    #[test]
    fn every_cut_of_every_known_hello_is_safe_and_marked() {
        for known in &KNOWN_HELLOS {
            let whole = bytes_of(known.hex);
            let mut first_read = None;
            for length in 0..=whole.len() {
                let Some(opening) = read(&whole[..length], false) else {
                    assert!(
                        first_read.is_none(),
                        "{}: read at {first_read:?}, not at {length}",
                        known.name
                    );
                    continue;
                };
                first_read.get_or_insert(length);
                let Opening::Tls(hello) = opening else {
                    panic!("{}: cut at {length} read as HTTP", known.name);
                };
                assert_eq!(
                    hello.cut,
                    length < whole.len(),
                    "{}: cut at {length}",
                    known.name
                );
                if let Some(name) = &hello.server_name {
                    assert_eq!(Some(name.as_str()), known.server_name, "{}", known.name);
                }
            }
            // Nothing short of the compression methods is a hello; the whole one is.
            assert!(
                first_read.is_some_and(|at| at > 5 + 4 + 2 + 32),
                "{}",
                known.name
            );
        }
    }

    #[test]
    fn cut_argument_marks_even_a_whole_hello() {
        assert!(hello_of(&bytes_of(FIREFOX_HELLO), true).cut);
    }

    #[test]
    fn hello_cut_after_its_sni_still_names_the_server() {
        let whole = bytes_of(FIREFOX_HELLO);
        // Firefox sends SNI first: its extension ends at byte 153 of 517.
        let hello = hello_of(&whole[..160], false);
        assert_eq!(
            hello.server_name.as_deref(),
            Some("contile.services.mozilla.com")
        );
        assert!(hello.cut);
    }

    #[test]
    fn hello_continued_in_a_second_record_is_marked_cut() {
        let mut bytes = bytes_of(FIREFOX_HELLO);
        // Shrink the record to hold only the first 200 bytes of the handshake message, as when a
        // client splits a large hello over records: what follows is not read.
        bytes[3..5].copy_from_slice(&200u16.to_be_bytes());
        let hello = hello_of(&bytes, false);
        assert!(hello.cut);
        assert_eq!(
            hello.server_name.as_deref(),
            Some("contile.services.mozilla.com")
        );
    }

    #[test]
    fn other_records_and_messages_are_not_hellos() {
        let whole = bytes_of(FIREFOX_HELLO);
        let changed = |at: usize, value: u8| {
            let mut bytes = whole.clone();
            bytes[at] = value;
            read(&bytes, false)
        };
        assert_eq!(changed(0, 0x17), None, "application data record");
        assert_eq!(changed(1, 0x02), None, "record version not 3.x");
        assert_eq!(changed(5, 0x02), None, "ServerHello");
        assert_eq!(changed(43, 33), None, "session id longer than 32");
        let mut oversized = whole.clone();
        oversized[3..5].copy_from_slice(&0x4001u16.to_be_bytes());
        assert_eq!(read(&oversized, false), None, "record over 16 KiB");
    }

    // -----------------------------------------------------------------------------------------
    // HTTP requests.
    // -----------------------------------------------------------------------------------------

    /// Captured here: `curl -x http://127.0.0.1:PORT http://example.test/path?q=1` (curl 7.88.1)
    /// against a Python listener on 127.0.0.1, its first recv().
    const CURL_PROXY_GET: &[u8] = b"GET http://example.test/path?q=1 HTTP/1.1\r\n\
        Host: example.test\r\n\
        User-Agent: curl/7.88.1\r\n\
        Accept: */*\r\n\
        Proxy-Connection: Keep-Alive\r\n\
        \r\n";

    /// Captured the same way: `curl -p -x http://127.0.0.1:PORT https://example.test/`, which
    /// asks the proxy for a tunnel.
    const CURL_CONNECT: &[u8] = b"CONNECT example.test:443 HTTP/1.1\r\n\
        Host: example.test:443\r\n\
        User-Agent: curl/7.88.1\r\n\
        Proxy-Connection: Keep-Alive\r\n\
        \r\n";

    #[test]
    fn get_with_host_and_user_agent() {
        let request = request_of(CURL_PROXY_GET, false);
        assert_eq!(
            request,
            HttpRequest {
                method: "GET".to_owned(),
                target: "http://example.test/path?q=1".to_owned(),
                version: "1.1".to_owned(),
                host: Some("example.test".to_owned()),
                user_agent: Some("curl/7.88.1".to_owned()),
                cut: false,
            }
        );
    }

    #[test]
    fn connect_through_a_proxy_names_the_tunnel_end() {
        let request = request_of(CURL_CONNECT, false);
        assert_eq!(request.method, "CONNECT");
        assert_eq!(request.target, "example.test:443");
        assert_eq!(request.host.as_deref(), Some("example.test:443"));
        assert_eq!(request.user_agent.as_deref(), Some("curl/7.88.1"));
        assert!(!request.cut);
    }

    #[test]
    fn request_cut_before_the_blank_line_keeps_whole_lines_only() {
        let text = std::str::from_utf8(CURL_PROXY_GET).unwrap();
        let after_user_agent = text.find("Accept").unwrap();
        let request = request_of(&CURL_PROXY_GET[..after_user_agent + 3], false);
        assert!(request.cut);
        assert_eq!(request.host.as_deref(), Some("example.test"));
        assert_eq!(request.user_agent.as_deref(), Some("curl/7.88.1"));

        let inside_host = text.find("example.test\r\n").unwrap() + 4;
        let request = request_of(&CURL_PROXY_GET[..inside_host], false);
        assert!(request.cut);
        assert_eq!(request.host, None, "a host line cut short is not read");
    }

    #[test]
    fn every_cut_of_a_request_is_safe_and_marked() {
        for whole in [CURL_PROXY_GET, CURL_CONNECT] {
            let request_line_end = whole.iter().position(|byte| *byte == b'\n').unwrap() + 1;
            for length in 0..=whole.len() {
                let result = read(&whole[..length], false);
                if length < request_line_end {
                    assert_eq!(result, None, "request line cut at {length}");
                    continue;
                }
                let request = request_of(&whole[..length], false);
                assert_eq!(request.cut, length < whole.len(), "cut at {length}");
                for value in [&request.host, &request.user_agent].into_iter().flatten() {
                    assert!(
                        ["example.test", "example.test:443", "curl/7.88.1"]
                            .contains(&value.as_str()),
                        "partial value {value:?} at {length}"
                    );
                }
            }
        }
    }

    #[test]
    fn cut_argument_marks_even_a_whole_head() {
        assert!(request_of(CURL_CONNECT, true).cut);
    }

    #[test]
    fn headers_match_without_case_first_one_wins_and_values_are_trimmed() {
        let request = request_of(
            b"POST /upload HTTP/1.0\n\
              hOsT:   first.example \t\n\
              X-Other: Host: no\n \
              folded continuation\n\
              HOST: second.example\n\
              user-agent:\tagent/1\n\
              \n",
            false,
        );
        assert_eq!(request.method, "POST");
        assert_eq!(request.version, "1.0", "bare LF line ends are accepted");
        assert_eq!(request.host.as_deref(), Some("first.example"));
        assert_eq!(request.user_agent.as_deref(), Some("agent/1"));
        assert!(!request.cut);
    }

    #[test]
    fn webdav_and_long_methods_are_requests() {
        for method in ["PROPFIND", "VERSION-CONTROL", "BASELINE-CONTROL"] {
            let line = format!("{method} /x HTTP/1.1\r\n\r\n");
            assert_eq!(request_of(line.as_bytes(), false).method, method);
        }
    }

    #[test]
    fn http2_prior_knowledge_preface_is_http_2() {
        let request = request_of(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x12\x04", false);
        assert_eq!(
            (request.method.as_str(), request.target.as_str()),
            ("PRI", "*")
        );
        assert_eq!(request.version, "2.0");
        assert_eq!((request.host, request.user_agent), (None, None));
        assert!(!request.cut);
    }

    #[test]
    fn an_ssh_clients_identification_is_read_as_such() {
        match read(b"SSH-2.0-libssh_0.10.6\r\n", false) {
            Some(Opening::Ssh(hello)) => assert_eq!(hello.software, "libssh_0.10.6"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn things_that_are_not_requests_are_none() {
        let cases: [&[u8]; 14] = [
            b"get / HTTP/1.1\r\n\r\n",
            b"Get / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1",
            b"GET /\r\n",
            b"GET / HTTP/2.0\r\n\r\n",
            b"GET / HTTP/1.1 extra\r\n\r\n",
            b"GET  / HTTP/1.1\r\n\r\n",
            b"GET /a\x01b HTTP/1.1\r\n\r\n",
            b"ABCDEFGHIJKLMNOPQ / HTTP/1.1\r\n\r\n",
            b"-GET / HTTP/1.1\r\n\r\n",
            b"\r\nGET / HTTP/1.1\r\n\r\n",
            b"SSH-2.0-OpenSSH_9.2p1",
            b"\x00\x00\x00\x01GET / HTTP/1.1\r\n\r\n",
            b"",
        ];
        for bytes in cases {
            assert_eq!(
                read(bytes, false),
                None,
                "{:?}",
                String::from_utf8_lossy(bytes)
            );
        }
    }

    // -----------------------------------------------------------------------------------------
    // Hostile input.
    // -----------------------------------------------------------------------------------------

    /// Whether `name` is what text_capped makes of some run of at most 255 bytes of `input`:
    /// a server name must come from the bytes, never from a misread length.
    fn is_text_of_some_run(input: &[u8], name: &str) -> bool {
        if input
            .windows(name.len().max(1))
            .any(|run| run == name.as_bytes())
        {
            return true;
        }
        (0..input.len()).any(|start| {
            (1..=MAX_SERVER_NAME_BYTES).any(|length| {
                input
                    .get(start..start + length)
                    .is_some_and(|run| String::from_utf8_lossy(run) == name)
            })
        })
    }

    proptest! {
        #[test]
        fn any_bytes_never_panic(
            bytes in proptest::collection::vec(any::<u8>(), 0..4096),
            cut in any::<bool>(),
        ) {
            let _ = read(&bytes, cut);
        }

        #[test]
        fn bytes_after_a_handshake_record_header_never_panic(
            tail in proptest::collection::vec(any::<u8>(), 0..2048),
        ) {
            let mut bytes = vec![CONTENT_TYPE_HANDSHAKE, 3, 1];
            bytes.extend(tail);
            if let Some(opening) = read(&bytes, false) {
                prop_assert!(matches!(opening, Opening::Tls(_)));
            }
        }

        #[test]
        fn bytes_after_a_request_line_never_panic_and_stay_http(
            tail in proptest::collection::vec(any::<u8>(), 0..2048),
        ) {
            let mut bytes = b"GET / HTTP/1.1\r\n".to_vec();
            bytes.extend(tail);
            let request = request_of(&bytes, false);
            prop_assert_eq!(request.target, "/");
        }

        #[test]
        fn a_known_hello_with_one_byte_changed_never_invents_a_server_name(
            which in 0..KNOWN_HELLOS.len(),
            at in any::<prop::sample::Index>(),
            value in any::<u8>(),
            cut in any::<bool>(),
        ) {
            let mut bytes = bytes_of(KNOWN_HELLOS[which].hex);
            let at = at.index(bytes.len());
            bytes[at] = value;
            if let Some(Opening::Tls(hello)) = read(&bytes, cut) {
                if let Some(name) = &hello.server_name {
                    prop_assert!(is_text_of_some_run(&bytes, name), "{:?}", name);
                }
                prop_assert!(hello.alpn.len() <= MAX_ALPN_NAMES);
            }
        }

        #[test]
        fn a_known_hello_cut_anywhere_and_changed_never_panics(
            which in 0..KNOWN_HELLOS.len(),
            length in any::<prop::sample::Index>(),
            at in any::<prop::sample::Index>(),
            value in any::<u8>(),
        ) {
            let mut bytes = bytes_of(KNOWN_HELLOS[which].hex);
            let at = at.index(bytes.len());
            bytes[at] = value;
            bytes.truncate(length.index(bytes.len() + 1));
            let _ = read(&bytes, false);
        }
    }
}

//! QUIC clients' Initial packets, opened for the TLS ClientHello they carry: whom an HTTP/3 (or
//! any QUIC) connection meant to reach, and with what client, as `tls_hello` events.
//!
//! A QUIC Initial packet is encrypted, but with keys anyone can derive from its destination
//! connection ID (RFC 9001 §5.2, RFC 9369 §3.3.1): they protect against tampering on the way,
//! not against being read. So the ClientHello inside is as readable as over TCP, once the
//! packet is opened: header protection removed, the payload decrypted (AES-128-GCM), its CRYPTO
//! frames put back in order. A long hello (post-quantum key shares, ~1,800 bytes) spans two
//! Initial packets in two datagrams, and Chrome shuffles its CRYPTO frames inside a packet, so
//! [`QuicHellos`] reassembles by offset across datagrams of one connection ID.
//!
//! Every length in a packet is checked against the bytes present, and nothing is trusted
//! before the AEAD tag has checked it: a datagram that merely looks like an Initial (a server's
//! Initial, whose keys are the server's; a forged one) fails there and is no hello. Nothing
//! here does IO.

use std::collections::{HashMap, VecDeque};

use aes_gcm::aead::{Nonce, Tag};
use aes_gcm::aes::Aes128;
use aes_gcm::aes::cipher::{BlockCipherEncrypt, KeyInit};
use aes_gcm::{AeadInOut, Aes128Gcm};
use hkdf::Hkdf;
use sha2::Sha256;
use warden_core::TlsHello;

use super::opening::read_quic_client_hello;

/// QUIC version 1 (RFC 9000).
const VERSION_1: u32 = 0x0000_0001;
/// QUIC version 2 (RFC 9369).
const VERSION_2: u32 = 0x6b33_43cf;
/// The salt of version 1's initial secret (RFC 9001 §5.2).
const SALT_V1: [u8; 20] = [
    0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17, 0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad,
    0xcc, 0xbb, 0x7f, 0x0a,
];
/// The salt of version 2's initial secret (RFC 9369 §3.3.1).
const SALT_V2: [u8; 20] = [
    0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93, 0x81, 0xbe, 0x6e, 0x26, 0x9d, 0xcb,
    0xf9, 0xbd, 0x2e, 0xd9,
];
/// A connection ID's longest (RFC 9000 §17.2).
const MAX_CID_LEN: usize = 20;
/// The header-protection sample's length.
const SAMPLE_LEN: usize = 16;
/// AES-128-GCM's tag.
const TAG_LEN: usize = 16;

/// The most of a ClientHello reassembled: past it the hello is read as far as this and marked
/// cut. Real ones run to ~1,800 bytes; this bounds what a hostile client's offsets can make the
/// agent hold.
pub const MAX_HELLO: usize = 8192;
/// The most connections whose hellos are being reassembled (or were, recently: to know a
/// retransmission) at once; the oldest is forgotten past it.
const MAX_ASSEMBLIES: usize = 4096;
/// How long a connection ID is remembered after its first Initial: a hello not whole by then
/// is given up, and a retransmission after it would be read again.
const ASSEMBLY_NS: u64 = 30_000_000_000;

/// The CRYPTO frames (offset, bytes) of a client's Initial packet, with the version and the
/// destination connection ID that keyed it.
#[derive(Debug, PartialEq, Eq)]
pub struct InitialCrypto {
    /// The QUIC version (1 or 2).
    pub version: u32,
    /// The destination connection ID the client chose: the keys' input, and so the
    /// connection's name until the server answers.
    pub dcid: Vec<u8>,
    /// The CRYPTO frames' data, each at its offset in the handshake stream.
    pub pieces: Vec<(u64, Vec<u8>)>,
}

/// What a client's Initial packet says in clear: its version, the destination connection ID
/// that keys it, where its (protected) packet number begins and where the packet ends.
struct InitialHeader<'a> {
    version: u32,
    dcid: &'a [u8],
    number_at: usize,
    end: usize,
}

impl<'a> InitialHeader<'a> {
    /// The header of the first packet of `datagram`: None when it is not a long-header
    /// Initial of QUIC version 1 or 2 whose whole packet the datagram holds.
    fn parse(datagram: &'a [u8]) -> Option<Self> {
        let first = *datagram.first()?;
        let version = u32::from_be_bytes(datagram.get(1..5)?.try_into().ok()?);
        // A long header, and the Initial type: 0b00 in version 1, 0b01 in version 2.
        let initial_type = match version {
            VERSION_1 => 0,
            VERSION_2 => 1,
            _ => return None,
        };
        if first & 0x80 == 0 || (first >> 4) & 0x03 != initial_type {
            return None;
        }
        let mut at = 5;
        let dcid = length_prefixed(datagram, &mut at)?;
        if dcid.len() > MAX_CID_LEN {
            return None;
        }
        let scid = length_prefixed(datagram, &mut at)?;
        if scid.len() > MAX_CID_LEN {
            return None;
        }
        let token_len = usize::try_from(varint(datagram, &mut at)?).ok()?;
        at = at.checked_add(token_len)?;
        let length = usize::try_from(varint(datagram, &mut at)?).ok()?;
        let end = at.checked_add(length)?;
        (end <= datagram.len()).then_some(Self {
            version,
            dcid,
            number_at: at,
            end,
        })
    }
}

/// The first packet of `datagram` opened as a client's Initial packet: None when it is not a
/// long-header Initial of QUIC version 1 or 2, is cut short, or does not open with the client
/// keys its destination connection ID gives (a server's Initial does not).
pub fn open_client_initial(datagram: &[u8]) -> Option<InitialCrypto> {
    let InitialHeader {
        version,
        dcid,
        number_at,
        end,
    } = InitialHeader::parse(datagram)?;
    let packet = &datagram[..end];
    let keys = ClientKeys::derive(version, dcid);
    // Header protection (RFC 9001 §5.4): the mask comes from a sample of the ciphertext taken
    // as if the packet number were four bytes long.
    let sample = packet.get(number_at + 4..number_at + 4 + SAMPLE_LEN)?;
    let mask = keys.mask(sample);
    let first = packet[0] ^ (mask[0] & 0x0f);
    let number_len = usize::from(first & 0x03) + 1;
    let mut header = packet.get(..number_at + number_len)?.to_vec();
    header[0] = first;
    let mut number: u64 = 0;
    for (byte, mask) in header[number_at..].iter_mut().zip(&mask[1..]) {
        *byte ^= mask;
        number = number << 8 | u64::from(*byte);
    }
    let sealed = &packet[header.len()..];
    let (ciphertext, tag) = sealed.split_at_checked(sealed.len().checked_sub(TAG_LEN)?)?;
    let mut payload = ciphertext.to_vec();
    keys.open(number, &header, &mut payload, tag)?;
    Some(InitialCrypto {
        version,
        dcid: dcid.to_vec(),
        pieces: crypto_frames(&payload),
    })
}

/// The bytes after a one-byte length at `*at`, moving past them.
fn length_prefixed<'a>(bytes: &'a [u8], at: &mut usize) -> Option<&'a [u8]> {
    let length = usize::from(*bytes.get(*at)?);
    let vector = bytes.get(*at + 1..*at + 1 + length)?;
    *at += 1 + length;
    Some(vector)
}

/// The variable-length integer at `*at` (RFC 9000 §16), moving past it.
fn varint(bytes: &[u8], at: &mut usize) -> Option<u64> {
    let first = *bytes.get(*at)?;
    let length = 1usize << (first >> 6);
    let encoded = bytes.get(*at..*at + length)?;
    let value = encoded[1..]
        .iter()
        .fold(u64::from(first & 0x3f), |value, byte| {
            value << 8 | u64::from(*byte)
        });
    *at += length;
    Some(value)
}

/// The CRYPTO frames among the frames of an Initial packet's payload, as far as the frames are
/// ones an Initial may carry (RFC 9000 §12.4: PADDING, PING, ACK, CRYPTO, CONNECTION_CLOSE)
/// and whole: past anything else nothing more is read.
fn crypto_frames(payload: &[u8]) -> Vec<(u64, Vec<u8>)> {
    let mut pieces = Vec::new();
    let mut at = 0;
    while at < payload.len() {
        let Some(kind) = varint(payload, &mut at) else {
            break;
        };
        let read = match kind {
            // PADDING fills most of a client's Initial: its run is passed over at once.
            0x00 => {
                at += payload[at..].iter().take_while(|byte| **byte == 0).count();
                Some(())
            }
            0x01 => Some(()),
            0x02 | 0x03 => skip_ack(payload, &mut at, kind == 0x03),
            0x06 => (|| {
                let offset = varint(payload, &mut at)?;
                let length = usize::try_from(varint(payload, &mut at)?).ok()?;
                let data = payload.get(at..at.checked_add(length)?)?;
                at += length;
                pieces.push((offset, data.to_vec()));
                Some(())
            })(),
            0x1c => (|| {
                varint(payload, &mut at)?; // error code
                varint(payload, &mut at)?; // frame type
                let reason = usize::try_from(varint(payload, &mut at)?).ok()?;
                at = at.checked_add(reason)?;
                Some(())
            })(),
            _ => None,
        };
        if read.is_none() {
            break;
        }
    }
    pieces
}

/// Moves `*at` past an ACK frame's fields (with ECN counts when `ecn`).
fn skip_ack(payload: &[u8], at: &mut usize, ecn: bool) -> Option<()> {
    varint(payload, at)?; // largest acknowledged
    varint(payload, at)?; // delay
    let ranges = varint(payload, at)?;
    varint(payload, at)?; // first range
    // Each range is two varints of a byte at least: a count past the payload is a lie.
    if ranges > payload.len() as u64 {
        return None;
    }
    for _ in 0..ranges * 2 + if ecn { 3 } else { 0 } {
        varint(payload, at)?;
    }
    Some(())
}

/// A client's Initial keys (RFC 9001 §5.2): the packet key, its IV and the header-protection
/// key.
struct ClientKeys {
    key: [u8; 16],
    iv: [u8; 12],
    hp: [u8; 16],
}

impl ClientKeys {
    /// The client keys of QUIC `version` (1 or 2) for destination connection ID `dcid`.
    fn derive(version: u32, dcid: &[u8]) -> Self {
        let (salt, label_prefix) = if version == VERSION_2 {
            (&SALT_V2, "quicv2 ")
        } else {
            (&SALT_V1, "quic ")
        };
        let initial = Hkdf::<Sha256>::new(Some(salt), dcid);
        let mut client_secret = [0; 32];
        expand_label(&initial, "client in", &mut client_secret);
        let client = Hkdf::<Sha256>::from_prk(&client_secret).expect("a 32-byte secret");
        let mut keys = Self {
            key: [0; 16],
            iv: [0; 12],
            hp: [0; 16],
        };
        expand_label(&client, &format!("{label_prefix}key"), &mut keys.key);
        expand_label(&client, &format!("{label_prefix}iv"), &mut keys.iv);
        expand_label(&client, &format!("{label_prefix}hp"), &mut keys.hp);
        keys
    }

    /// The header-protection mask for `sample` (AES-128 of it).
    fn mask(&self, sample: &[u8]) -> [u8; 16] {
        let mut block = [0u8; 16];
        block.copy_from_slice(sample);
        let mut block = block.into();
        Aes128::new(&self.hp.into()).encrypt_block(&mut block);
        block.into()
    }

    /// Decrypts `payload` in place, packet number `number`, header `header` (unprotected) as
    /// associated data: None when the tag does not check.
    fn open(&self, number: u64, header: &[u8], payload: &mut [u8], tag: &[u8]) -> Option<()> {
        let mut nonce = self.iv;
        for (byte, number) in nonce[4..].iter_mut().zip(number.to_be_bytes()) {
            *byte ^= number;
        }
        let tag = Tag::<Aes128Gcm>::try_from(tag).ok()?;
        Aes128Gcm::new(&self.key.into())
            .decrypt_inout_detached(
                &Nonce::<Aes128Gcm>::from(nonce),
                header,
                payload.into(),
                &tag,
            )
            .ok()
    }
}

/// TLS 1.3's HKDF-Expand-Label (RFC 8446 §7.1) with an empty context, filling `out`.
fn expand_label(secret: &Hkdf<Sha256>, label: &str, out: &mut [u8]) {
    let full = format!("tls13 {label}");
    let mut info = Vec::with_capacity(4 + full.len());
    info.extend_from_slice(
        &u16::try_from(out.len())
            .expect("short output")
            .to_be_bytes(),
    );
    info.push(u8::try_from(full.len()).expect("short label"));
    info.extend_from_slice(full.as_bytes());
    info.push(0);
    secret
        .expand(&info, out)
        .expect("an output HKDF-SHA256 can give");
}

/// What one Initial datagram made of a connection's hello.
#[derive(Debug, PartialEq, Eq)]
pub enum Assembled {
    /// The hello is whole (or as whole as is kept: `cut`): its facts.
    Hello(TlsHello),
    /// Part of a hello: the rest is awaited in the connection's next Initial.
    Partial,
    /// A connection whose hello was already read: a retransmission, or an Initial that only
    /// acknowledges.
    Again,
    /// Not a client's Initial carrying a ClientHello.
    NotAHello,
}

/// Who sent an Initial and for which connection: the process (pid and start) and the
/// connection ID the client chose.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
struct AssemblyKey {
    pid: u32,
    start_ns: u64,
    version: u32,
    dcid: Vec<u8>,
}

/// One connection's handshake bytes so far.
#[derive(Debug)]
struct Assembly {
    /// When its first Initial came (boot ns).
    since_ns: u64,
    /// The bytes, at their offsets (what is not yet come is zero).
    bytes: Vec<u8>,
    /// The spans come, sorted and merged: (start, end).
    spans: Vec<(usize, usize)>,
    /// Its hello was read: what comes later is a retransmission.
    done: bool,
}

impl Assembly {
    /// Takes in `data` at `offset`, as far as MAX_HELLO.
    fn add(&mut self, offset: u64, data: &[u8]) {
        let Ok(start) = usize::try_from(offset) else {
            return;
        };
        if start >= MAX_HELLO {
            return;
        }
        let end = start.saturating_add(data.len()).min(MAX_HELLO);
        if end <= start {
            return;
        }
        if self.bytes.len() < end {
            self.bytes.resize(end, 0);
        }
        self.bytes[start..end].copy_from_slice(&data[..end - start]);
        self.spans.push((start, end));
        self.spans.sort_unstable();
        let mut merged: Vec<(usize, usize)> = Vec::with_capacity(self.spans.len());
        for &(start, end) in &self.spans {
            match merged.last_mut() {
                Some(last) if start <= last.1 => last.1 = last.1.max(end),
                _ => merged.push((start, end)),
            }
        }
        self.spans = merged;
    }

    /// The bytes come without a gap from the start.
    fn prefix(&self) -> &[u8] {
        match self.spans.first() {
            Some(&(0, end)) => &self.bytes[..end],
            _ => &[],
        }
    }
}

/// The hellos of QUIC connections being reassembled from their Initial datagrams, by process
/// and connection ID: bounded (MAX_ASSEMBLIES, each at most MAX_HELLO bytes, each forgotten
/// ASSEMBLY_NS after its first Initial).
#[derive(Default)]
pub struct QuicHellos {
    assemblies: HashMap<AssemblyKey, Assembly>,
    /// The keys in the order their first Initial came, with its time: the oldest go first.
    arrivals: VecDeque<(AssemblyKey, u64)>,
}

impl QuicHellos {
    /// Takes in `datagram`, which process `pid` (started `start_ns`) sent at `at_ns` (boot ns):
    /// what it made of the connection's hello.
    pub fn add(&mut self, pid: u32, start_ns: u64, at_ns: u64, datagram: &[u8]) -> Assembled {
        let Some(header) = InitialHeader::parse(datagram) else {
            return Assembled::NotAHello;
        };
        self.forget_older_than(at_ns.saturating_sub(ASSEMBLY_NS));
        let key = AssemblyKey {
            pid,
            start_ns,
            version: header.version,
            dcid: header.dcid.to_vec(),
        };
        // A connection whose hello was read: what it sends again is not opened again.
        if self
            .assemblies
            .get(&key)
            .is_some_and(|assembly| assembly.done)
        {
            return Assembled::Again;
        }
        let Some(initial) = open_client_initial(datagram) else {
            return Assembled::NotAHello;
        };
        if !self.assemblies.contains_key(&key) {
            if initial.pieces.is_empty() {
                // Only an acknowledgement (an Initial keyed by the server's ID) or padding:
                // nothing to wait for.
                return Assembled::NotAHello;
            }
            while self.assemblies.len() >= MAX_ASSEMBLIES && self.forget_oldest() {}
            self.arrivals.push_back((key.clone(), at_ns));
            self.assemblies.insert(
                key.clone(),
                Assembly {
                    since_ns: at_ns,
                    bytes: Vec::new(),
                    spans: Vec::new(),
                    done: false,
                },
            );
        }
        let assembly = self.assemblies.get_mut(&key).expect("inserted above");
        for (offset, data) in &initial.pieces {
            assembly.add(*offset, data);
        }
        let prefix = assembly.prefix();
        // The handshake message's type and length, then as much of it as is kept.
        let [kind, a, b, c, ..] = *prefix else {
            return Assembled::Partial;
        };
        let needed = 4 + (usize::from(a) << 16 | usize::from(b) << 8 | usize::from(c));
        if prefix.len() < needed.min(MAX_HELLO) {
            return Assembled::Partial;
        }
        let hello = (kind == 1)
            .then(|| read_quic_client_hello(prefix, needed > MAX_HELLO))
            .flatten();
        assembly.done = true;
        assembly.bytes = Vec::new();
        assembly.spans = Vec::new();
        hello.map_or(Assembled::NotAHello, Assembled::Hello)
    }

    /// Forgets the connections whose first Initial came before `before_ns`.
    fn forget_older_than(&mut self, before_ns: u64) {
        while self
            .arrivals
            .front()
            .is_some_and(|(_, since_ns)| *since_ns < before_ns)
        {
            self.forget_oldest();
        }
    }

    /// Forgets the connection that came first, unless it was forgotten already (and maybe come
    /// again since, with a later arrival of its own): false when none is left.
    fn forget_oldest(&mut self) -> bool {
        let Some((key, since_ns)) = self.arrivals.pop_front() else {
            return false;
        };
        if self
            .assemblies
            .get(&key)
            .is_some_and(|assembly| assembly.since_ns == since_ns)
        {
            self.assemblies.remove(&key);
        }
        true
    }

    /// How many connections are remembered.
    pub fn len(&self) -> usize {
        self.assemblies.len()
    }
}

// The tests' client: a hello, and Initial packets sealed as a client seals them.
#[cfg(test)]
#[path = "../../../warden-sources/tests/support/quic.rs"]
mod quic_support;
#[cfg(test)]
#[path = "../../../warden-sources/tests/support/tls.rs"]
mod tls;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::opening::{Opening, read};
    use proptest::prelude::*;

    use super::{quic_support, tls};

    /// RFC 9001 Appendix A.2: a client's Initial packet of QUIC version 1, for destination
    /// connection ID 8394c8f03e515708, whose one CRYPTO frame holds a 241-byte ClientHello
    /// for example.com.
    const RFC9001_CLIENT: &str = include_str!("testdata/rfc9001-client-initial.hex");
    /// RFC 9369 Appendix A.2: the same packet in QUIC version 2.
    const RFC9369_CLIENT: &str = include_str!("testdata/rfc9369-client-initial.hex");
    /// RFC 9001 Appendix A.3: the server's Initial answering it (keyed by the server's keys).
    const RFC9001_SERVER: &str = include_str!("testdata/rfc9001-server-initial.hex");

    /// The bytes a hex text spells.
    fn bytes_of(hex: &str) -> Vec<u8> {
        let hex = hex.trim();
        (0..hex.len())
            .step_by(2)
            .map(|at| u8::from_str_radix(&hex[at..at + 2], 16).expect("hex digit"))
            .collect()
    }

    /// The hello two datagrams make when given in `order`: the first part, then the whole,
    /// failing the test otherwise.
    fn hello_of_two(hellos: &mut QuicHellos, datagrams: &[Vec<u8>], order: [usize; 2]) -> TlsHello {
        assert_eq!(
            hellos.add(7, 70, 1, &datagrams[order[0]]),
            Assembled::Partial
        );
        match hellos.add(7, 70, 2, &datagrams[order[1]]) {
            Assembled::Hello(hello) => hello,
            other => panic!("no hello from {order:?}: {other:?}"),
        }
    }

    /// The hello one datagram makes, failing the test otherwise.
    fn hello_of(datagram: &[u8]) -> TlsHello {
        match QuicHellos::default().add(7, 70, 1, datagram) {
            Assembled::Hello(hello) => hello,
            other => panic!("no hello: {other:?}"),
        }
    }

    #[test]
    fn the_rfcs_client_initials_open_to_their_client_hello() {
        for (name, hex, version) in [
            ("RFC 9001", RFC9001_CLIENT, VERSION_1),
            ("RFC 9369", RFC9369_CLIENT, VERSION_2),
        ] {
            let datagram = bytes_of(hex);
            assert_eq!(datagram.len(), 1200, "{name}");
            let initial = open_client_initial(&datagram).expect(name);
            assert_eq!(initial.version, version, "{name}");
            assert_eq!(initial.dcid, bytes_of("8394c8f03e515708"), "{name}");
            // One CRYPTO frame: the whole 241-byte handshake message, a ClientHello (type 1,
            // length 0xed), then the padding, which is no frame of its own.
            assert_eq!(initial.pieces.len(), 1, "{name}");
            let (offset, data) = &initial.pieces[0];
            assert_eq!(*offset, 0, "{name}");
            assert_eq!(data.len(), 241, "{name}");
            assert_eq!(data[..4], [0x01, 0x00, 0x00, 0xed], "{name}");

            let hello = hello_of(&datagram);
            assert_eq!(hello.server_name.as_deref(), Some("example.com"), "{name}");
            assert_eq!(hello.alpn, ["alpn"], "{name}");
            assert_eq!(hello.version, "1.3", "{name}");
            assert!(!hello.cut, "{name}");
            // Two cipher suites, eleven extensions (SNI, renegotiation_info, groups, ALPN,
            // status_request, key_share, versions, signature algorithms, PSK modes,
            // record_size_limit, QUIC's transport parameters), ALPN "alpn": a, n.
            assert!(
                hello.ja4.starts_with("q13d0211an_"),
                "{name}: {}",
                hello.ja4
            );
            // The same hello over TCP fingerprints alike but for the first letter.
            let mut record = vec![0x16, 0x03, 0x01, 0x00, 241];
            record.extend(data);
            let Some(Opening::Tls(over_tcp)) = read(&record, false) else {
                panic!("{name}: the hello does not read over TCP");
            };
            assert_eq!(hello.ja4[1..], over_tcp.ja4[1..], "{name}");
            assert_eq!(over_tcp.ja4.as_bytes()[0], b't', "{name}");
            assert_eq!(hello.ja3, over_tcp.ja3, "{name}");
        }
    }

    /// Chrome's client Initials (one datagram each, its CRYPTO frames shuffled) from FoxIO's
    /// captures (`pcap/<name>.pcapng` in FoxIO-LLC/ja4), with the server name and the JA4 that
    /// FoxIO's tool gives them (`rust/ja4/src/snapshots/ja4__insta@<name>.pcapng.snap`).
    const FOXIO_INITIALS: [(&str, &str, &str); 3] = [
        (
            "quic-tls-handshake: 11 CRYPTO frames out of order",
            include_str!("testdata/foxio-quic-tls-handshake.hex"),
            "www.google.com",
        ),
        (
            "quic-with-several-tls-frames: 3 CRYPTO frames",
            include_str!("testdata/foxio-quic-with-several-tls-frames.hex"),
            "ogs.google.com",
        ),
        (
            "chrome-cloudflare-quic-with-secrets: over IPv6",
            include_str!("testdata/foxio-chrome-cloudflare-quic-with-secrets.hex"),
            "cloudflare-quic.com",
        ),
    ];

    #[test]
    fn chromes_initials_read_as_foxios_tool_reads_them() {
        for (name, hex, server_name) in FOXIO_INITIALS {
            let datagram = bytes_of(hex);
            let initial = open_client_initial(&datagram).expect(name);
            assert!(initial.pieces.len() >= 3, "{name}");
            let hello = hello_of(&datagram);
            assert_eq!(hello.server_name.as_deref(), Some(server_name), "{name}");
            assert_eq!(hello.alpn, ["h3"], "{name}");
            assert_eq!(hello.version, "1.3", "{name}");
            assert_eq!(hello.ja4, "q13d0310h3_55b375c5d22e_cd85d2d88918", "{name}");
            assert!(!hello.cut, "{name}");
        }
    }

    /// Chromium 156's first two Initial datagrams (1,250 bytes each) for `quic.example`, sent
    /// here to a UDP port on loopback (`--origin-to-force-quic-on`): its 1,882-byte
    /// ClientHello (an ML-KEM key share) is in both, each holding pieces of the other's span
    /// (the first: bytes 0–55 and 998–1,882; the second: 55–998).
    const CHROMIUM_INITIALS: [&str; 2] = [
        include_str!("testdata/chromium-initial-00.hex"),
        include_str!("testdata/chromium-initial-01.hex"),
    ];

    #[test]
    fn chromiums_hello_over_two_initials_reads_whole() {
        let datagrams = CHROMIUM_INITIALS.map(bytes_of);
        for order in [[0, 1], [1, 0]] {
            let hello = hello_of_two(&mut QuicHellos::default(), &datagrams, order);
            assert_eq!(hello.server_name.as_deref(), Some("quic.example"));
            assert_eq!(hello.alpn, ["h3"]);
            // As an independent reader of the same datagrams computes it from JA4.md.
            assert_eq!(hello.ja4, "q13d0312h3_55b375c5d22e_178839b6cec1");
            assert!(!hello.cut);
        }
    }

    #[test]
    fn a_servers_initial_is_no_hello() {
        // It is an Initial of version 1 in shape, but the client keys of its (empty)
        // destination connection ID do not open it.
        let datagram = bytes_of(RFC9001_SERVER);
        assert_eq!(open_client_initial(&datagram), None);
        assert_eq!(
            QuicHellos::default().add(7, 70, 1, &datagram),
            Assembled::NotAHello
        );
    }

    #[test]
    fn any_byte_changed_or_cut_leaves_no_hello() {
        let datagram = bytes_of(RFC9001_CLIENT);
        for at in 0..datagram.len() {
            let mut changed = datagram.clone();
            changed[at] ^= 0x01;
            assert_eq!(open_client_initial(&changed), None, "byte {at} changed");
        }
        for length in 0..datagram.len() {
            assert_eq!(
                open_client_initial(&datagram[..length]),
                None,
                "cut at {length}"
            );
        }
        // Bytes after the packet (a datagram's coalesced packets) are not its own.
        let mut longer = datagram.clone();
        longer.extend([0xaa; 300]);
        assert!(open_client_initial(&longer).is_some());
    }

    #[test]
    fn a_hello_over_two_initials_is_read_once_both_came_in_any_order() {
        let hello = tls::quic_client_hello("c2.quic.example", 1500);
        let dcid = [0xd1; 8];
        let datagrams = quic_support::client_initials(quic_support::VERSION_1, &dcid, &hello, 2);
        assert_eq!(datagrams.len(), 2);
        assert!(datagrams.iter().all(|d| d.len() >= 1200));
        for order in [[0, 1], [1, 0]] {
            let mut hellos = QuicHellos::default();
            let read = hello_of_two(&mut hellos, &datagrams, order);
            assert_eq!(read.server_name.as_deref(), Some("c2.quic.example"));
            assert_eq!(read.alpn, ["h3"]);
            assert!(read.ja4.starts_with("q13d"), "{}", read.ja4);
            assert!(!read.cut);
            // A retransmission of either is the same connection's again.
            assert_eq!(hellos.add(7, 70, 3, &datagrams[0]), Assembled::Again);
            // Another process's Initial for the same ID is its own connection.
            assert_eq!(hellos.add(8, 80, 4, &datagrams[0]), Assembled::Partial);
        }
        // Version 2 alike.
        let datagrams = quic_support::client_initials(quic_support::VERSION_2, &dcid, &hello, 2);
        let read = hello_of_two(&mut QuicHellos::default(), &datagrams, [0, 1]);
        assert_eq!(read.server_name.as_deref(), Some("c2.quic.example"));
    }

    #[test]
    fn a_hello_longer_than_is_kept_is_read_as_far_as_that_and_marked_cut() {
        let hello = tls::quic_client_hello("long.quic.example", MAX_HELLO);
        let dcid = [0xd2; 4];
        let datagrams = quic_support::client_initials(quic_support::VERSION_1, &dcid, &hello, 8);
        let mut hellos = QuicHellos::default();
        let mut read = None;
        for (at, datagram) in datagrams.iter().enumerate() {
            match hellos.add(7, 70, at as u64, datagram) {
                Assembled::Hello(hello) => {
                    read = Some(hello);
                    break;
                }
                Assembled::Partial => {}
                other => panic!("datagram {at}: {other:?}"),
            }
        }
        let read = read.expect("a hello once MAX_HELLO bytes came");
        assert_eq!(read.server_name.as_deref(), Some("long.quic.example"));
        assert!(read.cut);
    }

    #[test]
    fn connections_are_forgotten_when_old_or_too_many() {
        let hello = tls::quic_client_hello("many.quic.example", 1500);
        let first_half = |id: u32| {
            quic_support::client_initials(quic_support::VERSION_1, &id.to_be_bytes(), &hello, 2)
                .swap_remove(0)
        };
        let mut hellos = QuicHellos::default();
        let count = u32::try_from(MAX_ASSEMBLIES).unwrap() + 10;
        for id in 0..count {
            assert_eq!(hellos.add(7, 70, 1, &first_half(id)), Assembled::Partial);
        }
        assert_eq!(hellos.len(), MAX_ASSEMBLIES);
        // Past ASSEMBLY_NS all of them are gone, and a new one is alone.
        assert_eq!(
            hellos.add(7, 70, 2 + ASSEMBLY_NS, &first_half(count)),
            Assembled::Partial
        );
        assert_eq!(hellos.len(), 1);
    }

    #[test]
    fn datagrams_that_are_no_initial_are_no_hello() {
        let datagram = bytes_of(RFC9001_CLIENT);
        // A short header (an established connection's packet).
        let mut short = datagram.clone();
        short[0] = 0x40;
        // Another version (a draft's, or version negotiation's 0).
        let mut draft = datagram.clone();
        draft[1..5].copy_from_slice(&[0xff, 0x00, 0x00, 0x1d]);
        // Version 1's Handshake type rather than Initial.
        let mut handshake = datagram.clone();
        handshake[0] = 0xe0;
        for bytes in [
            short,
            draft,
            handshake,
            Vec::new(),
            b"GET / HTTP/1.1\r\n".to_vec(),
        ] {
            assert_eq!(
                QuicHellos::default().add(7, 70, 1, &bytes),
                Assembled::NotAHello
            );
        }
    }

    proptest! {
        #[test]
        fn any_bytes_are_read_without_a_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1500)) {
            let mut hellos = QuicHellos::default();
            let _ = hellos.add(7, 70, 1, &bytes);
        }

        #[test]
        fn any_initial_looking_bytes_are_read_without_a_panic(
            tail in proptest::collection::vec(any::<u8>(), 0..1300),
            first in 0xc0u8..0xd0,
        ) {
            let mut bytes = vec![first, 0, 0, 0, 1];
            bytes.extend(tail);
            let _ = QuicHellos::default().add(7, 70, 1, &bytes);
        }
    }
}

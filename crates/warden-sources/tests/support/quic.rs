//! QUIC client Initial packets as a client sends them (RFC 9000 §17.2.2, sealed as RFC 9001 §5
//! says), carrying a ClientHello in CRYPTO frames, for the tests of what QUIC connections'
//! first datagrams are recorded (the eBPF source's live tests, the agent's actor and its unit
//! tests). Written apart from the agent's reader, which the RFCs' own packets also check.

// Each of them takes what it needs.
#![allow(dead_code)]

use aes_gcm::aead::Nonce;
use aes_gcm::aes::Aes128;
use aes_gcm::aes::cipher::{BlockCipherEncrypt, KeyInit};
use aes_gcm::{AeadInOut, Aes128Gcm};
use hkdf::Hkdf;
use sha2::Sha256;

/// QUIC version 1.
pub const VERSION_1: u32 = 1;
/// QUIC version 2.
pub const VERSION_2: u32 = 0x6b33_43cf;
/// The least a datagram with a client's Initial may be (RFC 9000 §14.1).
pub const MIN_INITIAL_DATAGRAM: usize = 1200;

/// The datagrams a client of QUIC `version` sends to open a connection to whose handshake
/// message is `hello`, with destination connection ID `dcid`: the hello cut into `datagrams`
/// parts, one Initial packet each (numbered from 0), padded to 1,200 bytes. In each packet the
/// part goes in two CRYPTO frames, the later first, as Chrome shuffles them.
pub fn client_initials(version: u32, dcid: &[u8], hello: &[u8], datagrams: usize) -> Vec<Vec<u8>> {
    let part = hello.len().div_ceil(datagrams);
    hello
        .chunks(part)
        .enumerate()
        .map(|(number, chunk)| {
            let offset = number * part;
            let half = chunk.len() / 2;
            let mut frames = crypto_frame(offset + half, &chunk[half..]);
            frames.extend(crypto_frame(offset, &chunk[..half]));
            seal_initial(version, dcid, number as u16, &frames)
        })
        .collect()
}

/// A CRYPTO frame of `data` at `offset`.
fn crypto_frame(offset: usize, data: &[u8]) -> Vec<u8> {
    let mut frame = vec![0x06];
    frame.extend(varint(offset as u64));
    frame.extend(varint(data.len() as u64));
    frame.extend(data);
    frame
}

/// `value` as a QUIC variable-length integer, in four bytes when it needs more than one.
fn varint(value: u64) -> Vec<u8> {
    if value < 64 {
        vec![value as u8]
    } else {
        ((value as u32) | 0x8000_0000).to_be_bytes().to_vec()
    }
}

/// A client's Initial packet of `version`, number `number` (two bytes), with `frames` padded to
/// fill a 1,200-byte datagram, sealed with the client keys `dcid` gives and header-protected.
pub fn seal_initial(version: u32, dcid: &[u8], number: u16, frames: &[u8]) -> Vec<u8> {
    let source_id = [0x5c; 8];
    // A long header, fixed bit, the Initial type (0 in version 1, 1 in version 2), a packet
    // number of two bytes.
    let kind: u8 = if version == VERSION_2 { 1 } else { 0 };
    let mut header = vec![0xc0 | kind << 4 | 0x01];
    header.extend(version.to_be_bytes());
    header.push(dcid.len() as u8);
    header.extend(dcid);
    header.push(source_id.len() as u8);
    header.extend(source_id);
    header.push(0); // no token
    // The Length field (two bytes) covers the packet number, the payload and the tag.
    let fixed = header.len() + 2 + 2 + 16;
    let mut payload = frames.to_vec();
    payload.resize(payload.len().max(MIN_INITIAL_DATAGRAM - fixed), 0);
    let length = 2 + payload.len() + 16;
    header.extend((length as u16 | 0x4000).to_be_bytes());
    let number_at = header.len();
    header.extend(number.to_be_bytes());

    let (key, iv, hp) = client_keys(version, dcid);
    let mut nonce = iv;
    for (byte, n) in nonce[10..].iter_mut().zip(number.to_be_bytes()) {
        *byte ^= n;
    }
    let tag = Aes128Gcm::new(&key.into())
        .encrypt_inout_detached(
            &Nonce::<Aes128Gcm>::from(nonce),
            &header,
            payload.as_mut_slice().into(),
        )
        .expect("sealed");
    let mut packet = header;
    packet.extend(payload);
    packet.extend(tag.as_slice());

    let mut sample = [0u8; 16];
    sample.copy_from_slice(&packet[number_at + 4..number_at + 20]);
    let mut mask = sample.into();
    Aes128::new(&hp.into()).encrypt_block(&mut mask);
    packet[0] ^= mask[0] & 0x0f;
    packet[number_at] ^= mask[1];
    packet[number_at + 1] ^= mask[2];
    packet
}

/// The client's Initial packet key, IV and header-protection key for `dcid`.
fn client_keys(version: u32, dcid: &[u8]) -> ([u8; 16], [u8; 12], [u8; 16]) {
    let (salt, prefix): (&[u8], &str) = if version == VERSION_2 {
        (
            &[
                0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93, 0x81, 0xbe, 0x6e, 0x26,
                0x9d, 0xcb, 0xf9, 0xbd, 0x2e, 0xd9,
            ],
            "quicv2",
        )
    } else {
        (
            &[
                0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17, 0x9a, 0xe6, 0xa4, 0xc8,
                0x0c, 0xad, 0xcc, 0xbb, 0x7f, 0x0a,
            ],
            "quic",
        )
    };
    let label = |secret: &Hkdf<Sha256>, name: &str, out: &mut [u8]| {
        let name = format!("tls13 {name}");
        let mut info = (out.len() as u16).to_be_bytes().to_vec();
        info.push(name.len() as u8);
        info.extend(name.as_bytes());
        info.push(0);
        secret.expand(&info, out).expect("expanded");
    };
    let mut secret = [0u8; 32];
    label(
        &Hkdf::<Sha256>::new(Some(salt), dcid),
        "client in",
        &mut secret,
    );
    let client = Hkdf::<Sha256>::from_prk(&secret).expect("a whole secret");
    let (mut key, mut iv, mut hp) = ([0u8; 16], [0u8; 12], [0u8; 16]);
    label(&client, &format!("{prefix} key"), &mut key);
    label(&client, &format!("{prefix} iv"), &mut iv);
    label(&client, &format!("{prefix} hp"), &mut hp);
    (key, iv, hp)
}

//! A TLS 1.3 ClientHello as a client writes one (in a TLS record over TCP, or bare for QUIC),
//! built for a server name, for the tests and benchmarks of what connections' first bytes are
//! recorded (the eBPF source's live tests and the agent's actor). Real clients' hellos, with their fingerprints, are the reader's tests'.

// Each of them takes what it needs.
#![allow(dead_code)]

/// A ClientHello for `server_name` offering TLS 1.3 and 1.2, h2 and http/1.1, with `padding`
/// bytes of a padding extension at its end (to make it longer than is kept): one TLS record.
pub fn client_hello(server_name: &str, padding: usize) -> Vec<u8> {
    let handshake = hello_message(
        server_name,
        &[b"h2", b"http/1.1"],
        &[0x03, 0x04, 0x03, 0x03],
        &[],
        padding,
    );
    let mut record = vec![0x16, 0x03, 0x01];
    record.extend(prefixed(2, &handshake));
    record
}

/// A ClientHello as a QUIC client sends it in its Initial packets' CRYPTO frames: the bare
/// handshake message (QUIC has no TLS records), for `server_name`, offering TLS 1.3 only and
/// h3, with QUIC's transport parameters, and `padding` bytes of a padding extension (a
/// post-quantum key share makes a real one ~1,800 bytes: two Initial packets).
pub fn quic_client_hello(server_name: &str, padding: usize) -> Vec<u8> {
    // quic_transport_parameters: initial_max_data (4) = 1 MiB, as varints.
    let parameters = [0x04, 0x04, 0x80, 0x10, 0x00, 0x00];
    hello_message(
        server_name,
        &[b"h3"],
        &[0x03, 0x04],
        &[(0x0039, &parameters)],
        padding,
    )
}

/// The ClientHello handshake message (type, length, body) for `server_name`, offering ALPN
/// `alpn` and the versions `versions` (two bytes each), with the extensions `extra` after the
/// usual ones and a padding extension of `padding` bytes last.
fn hello_message(
    server_name: &str,
    alpn: &[&[u8]],
    versions: &[u8],
    extra: &[(u16, &[u8])],
    padding: usize,
) -> Vec<u8> {
    let name = server_name.as_bytes();
    let mut extensions = Vec::new();
    // server_name: a list of one host_name.
    let mut list = vec![0];
    list.extend(prefixed(2, name));
    extensions.extend(extension(0x0000, &prefixed(2, &list)));
    // supported_groups: x25519, secp256r1.
    extensions.extend(extension(0x000a, &prefixed(2, &[0x00, 0x1d, 0x00, 0x17])));
    // signature_algorithms: ecdsa_secp256r1_sha256, rsa_pss_rsae_sha256.
    extensions.extend(extension(0x000d, &prefixed(2, &[0x04, 0x03, 0x08, 0x04])));
    // application_layer_protocol_negotiation.
    let names: Vec<u8> = alpn.iter().flat_map(|name| prefixed(1, name)).collect();
    extensions.extend(extension(0x0010, &prefixed(2, &names)));
    // supported_versions.
    extensions.extend(extension(0x002b, &prefixed(1, versions)));
    // key_share: an x25519 share.
    let mut share = vec![0x00, 0x1d];
    share.extend(prefixed(2, &[0x42; 32]));
    extensions.extend(extension(0x0033, &prefixed(2, &share)));
    for (kind, data) in extra {
        extensions.extend(extension(*kind, data));
    }
    if padding > 0 {
        extensions.extend(extension(0x0015, &vec![0; padding]));
    }
    let mut hello = vec![0x03, 0x03];
    hello.extend([0x5a; 32]); // random
    hello.extend(prefixed(1, &[0x11; 32])); // legacy session id
    hello.extend(prefixed(
        2,
        &[0x13, 0x01, 0x13, 0x02, 0x13, 0x03, 0xc0, 0x2f],
    ));
    hello.extend([0x01, 0x00]); // compression: null only
    hello.extend(prefixed(2, &extensions));
    let mut handshake = vec![0x01];
    handshake.extend(&u32::try_from(hello.len()).unwrap().to_be_bytes()[1..]);
    handshake.extend(hello);
    handshake
}

/// `bytes` after their length in `width` bytes, big-endian.
fn prefixed(width: usize, bytes: &[u8]) -> Vec<u8> {
    let mut out = u32::try_from(bytes.len()).unwrap().to_be_bytes()[4 - width..].to_vec();
    out.extend_from_slice(bytes);
    out
}

/// An extension of type `kind` with `data`.
fn extension(kind: u16, data: &[u8]) -> Vec<u8> {
    let mut out = kind.to_be_bytes().to_vec();
    out.extend(prefixed(2, data));
    out
}

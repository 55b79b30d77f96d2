//! SSH binary packets (RFC 4253 §6) as clients and servers write them, for the tests and
//! benchmarks of what SSH connections' first packets are recorded (the eBPF source's live
//! tests, the agent's actor, the reader's unit tests).

// Each of them takes what it needs.
#![allow(dead_code)]

/// A binary packet of message `number` with `body` after it, padded with at least four bytes to
/// a multiple of eight.
pub fn packet(number: u8, body: &[u8]) -> Vec<u8> {
    // packet_length, padding_length and the message's number come before the body.
    let unpadded = 4 + 1 + 1 + body.len();
    let padding = 4 + (8 - (unpadded + 4) % 8) % 8;
    let mut packet = ((1 + 1 + body.len() + padding) as u32)
        .to_be_bytes()
        .to_vec();
    packet.push(padding as u8);
    packet.push(number);
    packet.extend(body);
    packet.extend(vec![0; padding]);
    packet
}

/// A KEXINIT (message 20) offering `lists`: key exchange, host key, then ciphers, MACs and
/// compression each client to server and server to client; no languages.
pub fn kexinit(lists: [&str; 8]) -> Vec<u8> {
    let mut body = vec![0x5a; 16]; // the cookie
    for list in lists.iter().chain(["", ""].iter()) {
        body.extend((list.len() as u32).to_be_bytes());
        body.extend(list.as_bytes());
    }
    body.extend([0, 0, 0, 0, 0]); // first_kex_packet_follows, reserved
    packet(20, &body)
}

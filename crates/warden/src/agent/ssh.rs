//! What an SSH client's first bytes say of it: its identification string (RFC 4253 §4.2:
//! `SSH-2.0-OpenSSH_9.2p1 Debian-2`, the software and version it claims) and its first key
//! exchange message's HASSH (Salesforce's MD5 of the client's key exchange, cipher, MAC and
//! compression algorithms: the SSH library, as JA3 is the TLS one's, to match brute-forcers and
//! implants by whatever their line says). The KEXINIT comes in the same segment as the line, or
//! (OpenSSH's, once the server's line is read) in a later one, which the eBPF side records
//! apart: [`AwaitingKexinit`] holds a client's identification until it comes, a short while.
//! A server's line and KEXINIT are read alike (`answer.rs`), its HASSHServer over the lists it
//! sends with.
//!
//! Read from a prefix that may stop anywhere and that a hostile client may have filled with
//! anything: the line is taken only whole and within RFC 4253's 255 bytes, and the KEXINIT only
//! as far as its four name-lists are whole, each within the bytes given. Nothing here does IO.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use md5::{Digest, Md5};
use warden_core::SshHello;

/// How long a client's identification waits for its KEXINIT: the server's line, a round trip
/// away, comes first.
pub const KEXINIT_WAIT: Duration = Duration::from_secs(2);
/// Identifications held at most at once; past that the oldest goes on without its HASSH.
pub const AWAITING_MAX: usize = 1024;

/// The longest identification line, its CR LF included (RFC 4253 §4.2).
const MAX_IDENTIFICATION: usize = 255;
/// SSH_MSG_KEXINIT's number.
const MSG_KEXINIT: u8 = 20;
/// The longest binary packet every implementation must take (RFC 4253 §6.1).
const MAX_PACKET: u32 = 35_000;
/// A KEXINIT's cookie: random bytes before its name-lists.
const COOKIE_LEN: usize = 16;
/// The longest name-list read: any real one is a few hundred bytes; the cap only bounds what a
/// hostile one may make the agent keep (the lists are hashed, and the hashed text kept).
const MAX_NAME_LIST: usize = 4096;

/// The SSH client's first bytes `bytes` (cut from longer ones when `cut`): None unless they
/// begin with a whole identification line of protocol 2.0 (or 1.99, a server's or client's
/// claim to speak both).
pub fn read_client_identification(bytes: &[u8], cut: bool) -> Option<SshHello> {
    read_identification(bytes, cut, Side::Client)
}

/// Which side of an SSH connection sent an identification: its KEXINIT's HASSH is of the lists
/// that side sends with (a server's is its HASSHServer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Client,
    Server,
}

/// [`read_client_identification`] of either side's first bytes.
pub fn read_identification(bytes: &[u8], cut: bool, side: Side) -> Option<SshHello> {
    let end = bytes
        .iter()
        .take(MAX_IDENTIFICATION)
        .position(|&b| b == b'\n')?;
    let line = &bytes[..end];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let rest = line.strip_prefix(b"SSH-")?;
    let (protocol, rest) = split_once(rest, b'-')?;
    if protocol != b"2.0" && protocol != b"1.99" {
        return None;
    }
    // softwareversion SP comments: printable US-ASCII, no spaces or minus in the software.
    if !line.iter().all(|&b| (b' '..=b'~').contains(&b)) {
        return None;
    }
    let (software, comments) = match split_once(rest, b' ') {
        Some((software, comments)) => (software, Some(comments)),
        None => (rest, None),
    };
    if software.is_empty() {
        return None;
    }
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let kexinit = kexinit_algorithms(&bytes[end + 1..], side);
    Some(SshHello {
        identification: text(line),
        software: text(software),
        comments: comments.map(text),
        hassh: kexinit.as_ref().map(|algorithms| hassh(algorithms)),
        hassh_algorithms: kexinit,
        // Cut matters only where the KEXINIT could have followed and did not come whole.
        cut: cut && bytes.len() > end + 1,
    })
}

/// HASSH of `algorithms` (its four lists joined by `;`): lowercase hex MD5.
pub fn hassh(algorithms: &str) -> String {
    Md5::digest(algorithms.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The four name-lists HASSH covers, joined by `;` (`kex;ciphers;macs;compression`, the
/// client-to-server ones; a server's HASSHServer, the server-to-client ones), of the KEXINIT
/// packet that `bytes` begin with, sent by `side`; None when they do not begin with one whose
/// lists are whole.
pub fn kexinit_algorithms(bytes: &[u8], side: Side) -> Option<String> {
    // uint32 packet_length, byte padding_length, then the payload: its message number,
    // the cookie, ten name-lists (only the first eight are needed). RFC 4253 §6: the packet
    // holds at most 35,000 bytes, its padding at least four.
    let packet_length = u32::from_be_bytes(bytes.get(..4)?.try_into().ok()?);
    if !(16..=MAX_PACKET).contains(&packet_length) || *bytes.get(4)? < 4 {
        return None;
    }
    let mut rest = bytes.get(5..)?;
    let (&number, after) = rest.split_first()?;
    if number != MSG_KEXINIT {
        return None;
    }
    rest = after.get(COOKIE_LEN..)?;
    let mut lists = Vec::with_capacity(8);
    for _ in 0..8 {
        let length = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?) as usize;
        if length > MAX_NAME_LIST {
            return None;
        }
        let list = rest.get(4..4 + length)?;
        if !list.iter().all(|&b| (b' '..=b'~').contains(&b)) {
            return None;
        }
        lists.push(list);
        rest = &rest[4 + length..];
    }
    // kex, then host key (not hashed), ciphers, MACs and compression client to server, each
    // followed by its server-to-client twin.
    let hashed = match side {
        Side::Client => [lists[0], lists[2], lists[4], lists[6]],
        Side::Server => [lists[0], lists[3], lists[5], lists[7]],
    };
    Some(
        hashed
            .iter()
            .map(|list| String::from_utf8_lossy(list))
            .collect::<Vec<_>>()
            .join(";"),
    )
}

/// Which identification a KEXINIT completes: the connection's (the process's pid and the
/// socket's key) and the side that sent both (a connection made here holds its client's and
/// its server's at once).
pub type Sender = (u32, u64, Side);

/// Identifications (`T`: their events) waiting for their KEXINIT, by [`Sender`], in the order
/// they came.
pub struct AwaitingKexinit<T> {
    held: VecDeque<(Instant, Sender, T)>,
}

impl<T> Default for AwaitingKexinit<T> {
    fn default() -> Self {
        Self {
            held: VecDeque::new(),
        }
    }
}

impl<T> AwaitingKexinit<T> {
    /// Holds `hello`, of connection `key`, until `due`. Returns the oldest held, let go
    /// without its KEXINIT, when [`AWAITING_MAX`] were held.
    pub fn hold(&mut self, key: Sender, due: Instant, hello: T) -> Option<T> {
        let let_go = (self.held.len() >= AWAITING_MAX)
            .then(|| self.held.pop_front())
            .flatten()
            .map(|(_, _, hello)| hello);
        self.held.push_back((due, key, hello));
        let_go
    }

    /// The identification held for connection `key`, whose KEXINIT came.
    pub fn complete(&mut self, key: Sender) -> Option<T> {
        let at = self.held.iter().position(|(_, held, _)| *held == key)?;
        self.held.remove(at).map(|(_, _, hello)| hello)
    }

    /// The identifications whose wait is over at `now` (all of them when `all`), oldest first.
    pub fn due(&mut self, now: Instant, all: bool) -> Vec<T> {
        let mut due = Vec::new();
        while self
            .held
            .front()
            .is_some_and(|(until, _, _)| all || *until <= now)
        {
            if let Some((_, _, hello)) = self.held.pop_front() {
                due.push(hello);
            }
        }
        due
    }

    /// When the next wait is over.
    pub fn next_due(&self) -> Option<Instant> {
        self.held.front().map(|(due, _, _)| *due)
    }

    /// Identifications held now.
    pub fn len(&self) -> usize {
        self.held.len()
    }
}

fn split_once(bytes: &[u8], separator: u8) -> Option<(&[u8], &[u8])> {
    let at = bytes.iter().position(|&b| b == separator)?;
    Some((&bytes[..at], &bytes[at + 1..]))
}

/// The tests' SSH packets, shared with the eBPF source's live tests.
#[cfg(test)]
#[path = "../../../warden-sources/tests/support/ssh.rs"]
mod packets;

#[cfg(test)]
mod tests {
    use super::packets::kexinit;
    use super::*;

    #[test]
    fn an_identification_line_names_the_software_and_its_comments() {
        let hello =
            read_client_identification(b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n", false)
                .unwrap();
        assert_eq!(
            hello.identification,
            "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3"
        );
        assert_eq!(hello.software, "OpenSSH_9.2p1");
        assert_eq!(hello.comments.as_deref(), Some("Debian-2+deb12u3"));
        assert_eq!((hello.hassh, hello.cut), (None, false));
        // A bare LF, no comments, the old "both" protocol.
        let go = read_client_identification(b"SSH-1.99-Go\n", true).unwrap();
        assert_eq!((go.software.as_str(), go.comments), ("Go", None));
        assert!(!go.cut, "nothing could have followed");
    }

    #[test]
    fn what_is_not_a_whole_ssh2_identification_is_none() {
        for bytes in [
            &b"SSH-2.0-OpenSSH_9.2p1"[..], // no line end
            b"SSH-1.5-old\r\n",            // SSH 1
            b"SSH-2.0-\r\n",               // no software
            b"SSH-2.0-a\x01b\r\n",         // not printable
            b"GET / HTTP/1.1\r\n",         // another protocol
            b"ssh-2.0-lower\r\n",          // the prefix is case-sensitive
        ] {
            assert_eq!(read_client_identification(bytes, false), None, "{bytes:?}");
        }
        let mut long = b"SSH-2.0-".to_vec();
        long.extend([b'x'; 260]);
        long.extend(b"\r\n");
        assert_eq!(read_client_identification(&long, false), None);
    }

    /// HASSH over the same segment's KEXINIT: the four client-to-server lists, joined by `;`.
    /// The lists and HASSH are the Cyberduck 6.7.1 client's, as HASSH's own README gives them.
    #[test]
    fn a_kexinit_in_the_same_segment_gives_the_hassh() {
        let kex = "curve25519-sha256@libssh.org,diffie-hellman-group-exchange-sha256,\
                   ecdh-sha2-nistp521,ecdh-sha2-nistp384,ecdh-sha2-nistp256,\
                   diffie-hellman-group-exchange-sha1,diffie-hellman-group1-sha1,\
                   diffie-hellman-group14-sha1,diffie-hellman-group14-sha256,\
                   diffie-hellman-group15-sha512,diffie-hellman-group16-sha512,\
                   diffie-hellman-group17-sha512,diffie-hellman-group18-sha512,\
                   diffie-hellman-group14-sha256@ssh.com,diffie-hellman-group15-sha256,\
                   diffie-hellman-group15-sha256@ssh.com,diffie-hellman-group15-sha384@ssh.com,\
                   diffie-hellman-group16-sha256,diffie-hellman-group16-sha384@ssh.com,\
                   diffie-hellman-group16-sha512@ssh.com,diffie-hellman-group18-sha512@ssh.com";
        let ciphers = "aes128-cbc,aes128-ctr,aes192-cbc,aes192-ctr,aes256-cbc,aes256-ctr,\
                       blowfish-cbc,blowfish-ctr,cast128-cbc,cast128-ctr,idea-cbc,idea-ctr,\
                       serpent128-cbc,serpent128-ctr,serpent192-cbc,serpent192-ctr,\
                       serpent256-cbc,serpent256-ctr,3des-cbc,3des-ctr,twofish128-cbc,\
                       twofish128-ctr,twofish192-cbc,twofish192-ctr,twofish256-cbc,\
                       twofish256-ctr,twofish-cbc,arcfour,arcfour128,arcfour256";
        let macs = "hmac-sha1,hmac-sha1-96,hmac-md5,hmac-md5-96,hmac-sha2-256,hmac-sha2-512";
        let compression = "zlib@openssh.com,zlib,none";
        let lists = [
            kex,
            "ssh-rsa,ssh-dss",
            ciphers,
            ciphers,
            macs,
            macs,
            compression,
            compression,
        ];
        let line = b"SSH-2.0-Cyberduck/6.7.1.28683 (Mac OS X/10.13.6) (x86_64)\r\n";
        let mut bytes = line.to_vec();
        bytes.extend(kexinit(lists));
        let hello = read_client_identification(&bytes, false).unwrap();
        assert_eq!(hello.software, "Cyberduck/6.7.1.28683");
        assert_eq!(
            hello.comments.as_deref(),
            Some("(Mac OS X/10.13.6) (x86_64)")
        );
        assert_eq!(
            hello.hassh_algorithms,
            Some(format!("{kex};{ciphers};{macs};{compression}"))
        );
        assert_eq!(
            hello.hassh.as_deref(),
            Some("8a8ae540028bf433cd68356c1b9e8d5b")
        );
        // The KEXINIT alone, as a later segment brings it.
        assert_eq!(
            kexinit_algorithms(&bytes[line.len()..], Side::Client).map(|a| hassh(&a)),
            hello.hassh
        );
        // Cut inside the KEXINIT: the line alone, and said to be cut.
        let cut = read_client_identification(&bytes[..bytes.len() - 40], true).unwrap();
        assert_eq!((cut.hassh, cut.cut), (None, true));
        // Not a binary packet's head (a QUIC Initial's, whose sixth byte may be 20): none.
        let mut other = bytes[line.len()..].to_vec();
        other[..5].copy_from_slice(&[0xc3, 0, 0, 0, 1]);
        assert_eq!(kexinit_algorithms(&other, Side::Client), None);
        // A name-list's length past the bytes: no HASSH, no panic.
        let mut lying = bytes.clone();
        let first_list = line.len() + 6 + COOKIE_LEN;
        lying[first_list..first_list + 4].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(
            read_client_identification(&lying, false).unwrap().hassh,
            None
        );
    }

    #[test]
    fn an_identification_waits_for_its_kexinit_until_due() {
        let now = Instant::now();
        let mut awaiting = AwaitingKexinit::default();
        assert!(awaiting.hold((7, 1, Side::Client), now, "first").is_none());
        assert!(
            awaiting
                .hold((7, 2, Side::Client), now + KEXINIT_WAIT, "second")
                .is_none()
        );
        assert_eq!(awaiting.next_due(), Some(now));
        assert_eq!(awaiting.complete((7, 2, Side::Client)), Some("second"));
        assert_eq!(awaiting.complete((7, 2, Side::Client)), None);
        assert_eq!(
            awaiting.complete((8, 1, Side::Client)),
            None,
            "another process's socket"
        );
        // The server's line on the same connection waits apart from its client's.
        assert!(awaiting.hold((7, 1, Side::Server), now, "server").is_none());
        assert_eq!(awaiting.complete((7, 1, Side::Server)), Some("server"));
        assert!(
            awaiting
                .hold((7, 3, Side::Client), now + KEXINIT_WAIT, "third")
                .is_none()
        );
        assert_eq!(awaiting.due(now, false), vec!["first"]);
        assert_eq!(awaiting.due(now, false), Vec::<&str>::new());
        assert_eq!(awaiting.due(now, true), vec!["third"]);
        for i in 0..AWAITING_MAX as u64 {
            assert!(awaiting.hold((1, i, Side::Client), now, "held").is_none());
        }
        assert_eq!(
            awaiting.hold((1, u64::MAX, Side::Client), now, "one more"),
            Some("held")
        );
        assert_eq!(awaiting.len(), AWAITING_MAX);
    }
}

//! The sockets of every network namespace, from /proc/PID/net/{tcp,udp,raw,icmp,udplite}{,6},
//! unix and packet, and the map from socket inode to the process and descriptor holding it
//! (the `socket:[INODE]` links under /proc/PID/fd). Shared by `process_open_sockets` and
//! `listening_ports`, which osquery derives from it.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::{Ipv4Addr, Ipv6Addr};

use netlink_packet_sock_diag::inet::StateFlags;

use super::proc::{ProcReader, Shape, all_pids, bracketed_inode, for_each_fd, namespace_inode};
use super::sock_diag;

pub(crate) const AF_UNIX: i64 = 1;
pub(crate) const AF_INET: i64 = 2;
pub(crate) const AF_INET6: i64 = 10;
pub(crate) const AF_PACKET: i64 = 17;

/// One socket as /proc/net describes it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct SocketInfo {
    pub inode: u64,
    pub family: i64,
    pub protocol: i64,
    pub local_address: String,
    pub local_port: u16,
    pub remote_address: String,
    pub remote_port: u16,
    /// The bound path of a UNIX socket (`@name` for the abstract namespace).
    pub path: String,
    /// The TCP state name; empty for other protocols, `NONE` for packet sockets (as osquery).
    pub state: String,
    /// The inode of the network namespace the socket lives in (0 when unknown).
    pub net_ns: u64,
}

/// The process and descriptor holding a socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Owner {
    pub pid: i64,
    pub fd: i64,
}

/// Every socket found, and who holds them.
#[derive(Debug, Default)]
pub(crate) struct Scan {
    pub sockets: Vec<SocketInfo>,
    pub owners: HashMap<u64, Owner>,
}

/// The /proc/PID/net files of the internet families: file name, family, IP protocol number.
/// TCP, UDP and UDP-Lite of our own namespace come from sock_diag instead when it works.
const INET_FILES: [(&str, i64, i64); 10] = [
    ("icmp", AF_INET, 1),
    ("icmp6", AF_INET6, 1),
    ("tcp", AF_INET, 6),
    ("tcp6", AF_INET6, 6),
    ("udp", AF_INET, 17),
    ("udp6", AF_INET6, 17),
    ("udplite", AF_INET, 136),
    ("udplite6", AF_INET6, 136),
    ("raw", AF_INET, 255),
    ("raw6", AF_INET6, 255),
];

/// Collects the sockets of the network namespaces of `pids` (every process when `None`, plus
/// our own namespace) and, when `owners` is set, which of those processes hold each socket.
/// `listening_only` lets the kernel leave out TCP sockets that are not listening (sockets
/// with a peer); other sockets are all returned.
pub(crate) fn scan(pids: Option<&BTreeSet<i64>>, owners: bool, listening_only: bool) -> Scan {
    let list: Vec<i64> = match pids {
        Some(p) => p.iter().copied().filter(|p| *p > 0).collect(),
        None => all_pids(),
    };
    let mut out = Scan::default();
    let mut reader = ProcReader::new();
    let mut seen_ns = HashSet::new();
    let own = namespace_inode(i64::from(std::process::id()), "net");
    for &pid in &list {
        if owners {
            // Unreadable descriptors (exited, or pid 1 of a sandbox) leave sockets unowned.
            for_each_fd(pid, |fd, link| {
                if let Some(inode) = bracketed_inode(link, "socket") {
                    out.owners.insert(inode, Owner { pid, fd });
                }
            });
        }
        // Each namespace's socket tables are read once, through the first process in it.
        let Some(ns) = namespace_inode(pid, "net") else {
            continue;
        };
        if seen_ns.contains(&ns) {
            continue;
        }
        let read = if Some(ns) == own {
            read_own_namespace(&mut reader, ns, listening_only, &mut out)
        } else {
            read_namespace(&mut reader, &pid.to_string(), ns, &INET_FILES, &mut out)
        };
        if read {
            seen_ns.insert(ns);
        }
    }
    if pids.is_none() && own.is_none_or(|ns| !seen_ns.contains(&ns)) {
        read_own_namespace(&mut reader, own.unwrap_or(0), listening_only, &mut out);
    }
    out
}

/// Reads our own namespace: TCP, UDP and UDP-Lite through sock_diag (falling back to
/// /proc/self/net per table), the rest from /proc/self/net.
fn read_own_namespace(
    reader: &mut ProcReader,
    ns: u64,
    listening_only: bool,
    out: &mut Scan,
) -> bool {
    let mut from_proc = Vec::new();
    for entry @ (_, family, protocol) in INET_FILES {
        let states = if protocol == 6 && listening_only {
            StateFlags::LISTEN
        } else {
            StateFlags::all()
        };
        match [6, 17, 136]
            .contains(&protocol)
            .then(|| sock_diag::dump(family, protocol, states, ns))
            .flatten()
        {
            Some(found) => out.sockets.extend(found),
            None => from_proc.push(entry),
        }
    }
    read_namespace(reader, "self", ns, &from_proc, out)
}

/// Reads every socket table of one namespace through /proc/<who>/net. Returns false when none
/// could be read (a zombie has no namespace to show).
fn read_namespace(
    reader: &mut ProcReader,
    who: &str,
    ns: u64,
    inet: &[(&str, i64, i64)],
    out: &mut Scan,
) -> bool {
    let mut any = false;
    let mut path = String::with_capacity(32);
    let mut open = |reader: &mut ProcReader, file: &str| -> Option<String> {
        path.clear();
        path.push_str("/proc/");
        path.push_str(who);
        path.push_str("/net/");
        path.push_str(file);
        let content = reader.read_path(&path, Shape::Records)?;
        Some(String::from_utf8_lossy(content).into_owned())
    };
    for &(file, family, protocol) in inet {
        if let Some(text) = open(reader, file) {
            any = true;
            out.sockets.extend(parse_inet(&text, family, protocol, ns));
        }
    }
    if let Some(text) = open(reader, "unix") {
        any = true;
        out.sockets.extend(parse_unix(&text, ns));
    }
    if let Some(text) = open(reader, "packet") {
        any = true;
        out.sockets.extend(parse_packet(&text, ns));
    }
    any
}

/// The osquery name of a kernel TCP state number (`UNKNOWN` for 0 and unknown numbers).
pub(crate) fn tcp_state_name(state: usize) -> &'static str {
    u8::try_from(state).map_or("UNKNOWN", warden_core::tcp_state_name)
}

/// An address of /proc/net/{tcp,udp,…}: 8 hex digits (IPv4) or 32 (IPv6), each 32-bit word
/// in host byte order. Anything else decodes to an empty string.
pub(crate) fn decode_address(hex: &str) -> String {
    let word = |s: &str| u32::from_str_radix(s, 16).ok().map(u32::to_ne_bytes);
    match hex.len() {
        8 => word(hex).map_or_else(String::new, |b| Ipv4Addr::from(b).to_string()),
        32 => {
            let mut bytes = [0u8; 16];
            for (i, chunk) in bytes.chunks_mut(4).enumerate() {
                let Some(w) = hex.get(i * 8..i * 8 + 8).and_then(word) else {
                    return String::new();
                };
                chunk.copy_from_slice(&w);
            }
            Ipv6Addr::from(bytes).to_string()
        }
        _ => String::new(),
    }
}

/// `ADDRESS:PORT` (both hex).
fn decode_endpoint(field: &str) -> Option<(String, u16)> {
    let (addr, port) = field.split_once(':')?;
    Some((decode_address(addr), u16::from_str_radix(port, 16).ok()?))
}

/// Parses an internet socket table (the header line is skipped).
pub(crate) fn parse_inet(text: &str, family: i64, protocol: i64, ns: u64) -> Vec<SocketInfo> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_ascii_whitespace().take(10).collect();
            if f.len() < 10 {
                return None;
            }
            let (local_address, local_port) = decode_endpoint(f[1])?;
            let (remote_address, remote_port) = decode_endpoint(f[2])?;
            let state = if protocol == 6 {
                tcp_state_name(usize::from_str_radix(f[3], 16).unwrap_or(0)).to_string()
            } else {
                String::new()
            };
            Some(SocketInfo {
                inode: f[9].parse().ok()?,
                family,
                protocol,
                local_address,
                local_port,
                remote_address,
                remote_port,
                path: String::new(),
                state,
                net_ns: ns,
            })
        })
        .collect()
}

/// Parses /proc/net/unix: `Num RefCount Protocol Flags Type St Inode [Path]`. The path is the
/// rest of the line, so paths with spaces survive.
pub(crate) fn parse_unix(text: &str, ns: u64) -> Vec<SocketInfo> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let mut rest = line;
            let mut f = [""; 7];
            for slot in &mut f {
                let trimmed = rest.trim_start_matches(' ');
                let (field, tail) = trimmed.split_once(' ').unwrap_or((trimmed, ""));
                if field.is_empty() {
                    return None;
                }
                *slot = field;
                rest = tail;
            }
            Some(SocketInfo {
                inode: f[6].parse().ok()?,
                family: AF_UNIX,
                protocol: i64::from_str_radix(f[2], 16).unwrap_or(0),
                path: rest.trim().to_string(),
                net_ns: ns,
                ..SocketInfo::default()
            })
        })
        .collect()
}

/// Parses /proc/net/packet: `sk RefCnt Type Proto Iface R Rmem User Inode`.
pub(crate) fn parse_packet(text: &str, ns: u64) -> Vec<SocketInfo> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_ascii_whitespace().take(9).collect();
            if f.len() < 9 {
                return None;
            }
            Some(SocketInfo {
                inode: f[8].parse().ok()?,
                family: AF_PACKET,
                protocol: i64::from(u16::from_str_radix(f[3], 16).unwrap_or(0)),
                state: "NONE".to_string(),
                net_ns: ns,
                ..SocketInfo::default()
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_lines_decode_addresses_ports_and_state() {
        let text = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 31337 1 0000000000000000 100 0 0 10 0\n\
   1: 0100007F:1F90 0100007F:D431 01 00000000:00000000 00:00000000 00000000  1000        0 31338 1 0000000000000000 20 4 30 10 -1\n";
        let s = parse_inet(text, AF_INET, 6, 77);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].local_address, "127.0.0.1");
        assert_eq!(s[0].local_port, 8080);
        assert_eq!(s[0].remote_address, "0.0.0.0");
        assert_eq!(s[0].remote_port, 0);
        assert_eq!(s[0].state, "LISTEN");
        assert_eq!(s[0].inode, 31337);
        assert_eq!(s[0].net_ns, 77);
        assert_eq!(s[1].state, "ESTABLISHED");
        assert_eq!(s[1].remote_port, 0xD431);
    }

    #[test]
    fn udp_has_no_state_and_ipv6_words_are_host_order() {
        let text = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
  12: 00000000000000000000000001000000:0035 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000   101        0 4242 2 0000000000000000 0\n";
        let s = parse_inet(text, AF_INET6, 17, 0);
        assert_eq!(s[0].local_address, "::1");
        assert_eq!(s[0].local_port, 53);
        assert_eq!(s[0].remote_address, "::");
        assert_eq!(s[0].state, "");
        assert_eq!(
            decode_address("0000000000000000FFFF00000100007F"),
            "::ffff:127.0.0.1"
        );
        assert_eq!(decode_address("xyz"), "");
    }

    #[test]
    fn unix_paths_may_be_missing_abstract_or_contain_spaces() {
        let text = "Num       RefCount Protocol Flags    Type St Inode Path\n\
0000000043b3e78a: 00000003 00000000 00000000 0001 03  1056\n\
000000004de1e9c2: 00000002 00000000 00010000 0001 01 20412 /run/my app/sock\n\
00000000aaaaaaaa: 00000002 00000000 00010000 0002 01 20413 @abstract\n";
        let s = parse_unix(text, 5);
        assert_eq!(s.len(), 3);
        assert_eq!((s[0].inode, s[0].path.as_str()), (1056, ""));
        assert_eq!(s[1].path, "/run/my app/sock");
        assert_eq!(s[2].path, "@abstract");
        assert!(s.iter().all(|x| x.family == AF_UNIX && x.protocol == 0));
    }

    #[test]
    fn packet_sockets_have_protocol_and_no_state() {
        let text = "sk               RefCnt Type Proto  Iface R Rmem   User   Inode\n\
ffff8880041c4000 3      3    0003   2     1 0      0      18950\n";
        let s = parse_packet(text, 9);
        assert_eq!(s[0].inode, 18950);
        assert_eq!(s[0].protocol, 3);
        assert_eq!(s[0].family, AF_PACKET);
        assert_eq!(s[0].state, "NONE");
    }
}

//! TCP sockets as the kernel's socket diagnostics describe them (`sock_diag`,
//! `NETLINK_SOCK_DIAG`): each one as it is destroyed (the destroy multicast groups), and those
//! open now (a dump), with its traffic (`tcp_info`) and its cookie — the kernel's id of the
//! socket, which `SO_COOKIE` reads from a descriptor, and so the key that ties a socket a call
//! used to its end.
//!
//! Audit sees no connection's end: these do, where eBPF cannot run. The kernel sends a destroy
//! message only while someone listens (root: `CAP_NET_ADMIN`), built in a work item after the
//! socket is freed: the socket's calls pay nothing. A receive buffer that overflows loses
//! messages, and the next read says so (`ENOBUFS`): counted, never a dead stream. Only the
//! agent's network namespace's sockets are described.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

/// `SOCK_DIAG_BY_FAMILY`: the message type of both a request and its replies.
const SOCK_DIAG_BY_FAMILY: u16 = 20;
/// The destroy groups of IPv4 and IPv6 TCP sockets (`SKNLGRP_INET_TCP_DESTROY`,
/// `SKNLGRP_INET6_TCP_DESTROY`), as bind(2)'s group mask.
const TCP_DESTROY_GROUPS: u32 = 1 | (1 << 2);
/// `INET_DIAG_INFO`: the attribute that holds a `struct tcp_info`.
const INET_DIAG_INFO: u16 = 2;
/// `struct nlmsghdr`, `struct inet_diag_msg`, `struct nlattr`.
const NLMSG_HEADER: usize = 16;
const DIAG_MSG: usize = 72;
const NLA_HEADER: usize = 4;
/// The receive buffer asked for: a storm of short connections sends a message each.
const RECEIVE_BUFFER: i32 = 8 << 20;
/// Messages taken in one [`DestroyListener::read`] at most.
pub const READ_AT_ONCE: usize = 4096;

/// A TCP socket as the kernel described it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcpSocket {
    /// The kernel's id of the socket (`SO_COOKIE` of a descriptor of it).
    pub cookie: u64,
    /// This host's end.
    pub local: SocketAddr,
    /// The peer's.
    pub remote: SocketAddr,
    /// Its TCP state (`TCP_ESTABLISHED` = 1 ... ; a destroyed one's is `TCP_CLOSE`, 7).
    pub state: u8,
    /// Its inode (`socket:[N]` in its holders' /proc/PID/fd); 0 in a destroy message.
    pub inode: u64,
    /// Its traffic, when the message carried it.
    pub counters: Option<TcpCounters>,
}

/// A TCP socket's counters, as `tcp_info` has them (RFC 4898's, as `ss -i` shows them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpCounters {
    /// `tcpi_bytes_acked`: sequence space the peer acknowledged (the SYN and a FIN count one
    /// each).
    pub bytes_acked: u64,
    /// `tcpi_bytes_received`: sequence space received (a FIN counts one).
    pub bytes_received: u64,
    /// `tcpi_bytes_sent`: payload sent, retransmissions included (Linux 4.19+).
    pub bytes_sent: Option<u64>,
    /// `tcpi_bytes_retrans`: payload retransmitted (Linux 4.19+).
    pub bytes_retransmitted: Option<u64>,
    /// `tcpi_segs_out`.
    pub segments_sent: u32,
    /// `tcpi_segs_in`.
    pub segments_received: u32,
}

/// What a datagram of diagnostics held.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Described {
    /// The sockets described.
    pub sockets: Vec<TcpSocket>,
    /// Messages that could not be read (counted, skipped).
    pub malformed: u64,
    /// A dump's end (`NLMSG_DONE`) was among them.
    pub done: bool,
    /// The kernel refused a request (`NLMSG_ERROR` with an errno).
    pub error: Option<i32>,
    /// Messages were dropped for want of room in the receive buffer (how many is not said).
    pub overflowed: bool,
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes(b[at..at + 2].try_into().expect("2 bytes"))
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_ne_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// Reads every netlink message of `datagram` (one `recv`'s bytes).
pub fn parse_datagram(datagram: &[u8]) -> Described {
    let mut described = Described::default();
    let mut rest = datagram;
    while rest.len() >= NLMSG_HEADER {
        let len = u32_at(rest, 0) as usize;
        if len < NLMSG_HEADER || len > rest.len() {
            described.malformed += 1;
            break;
        }
        let (message, next) = (
            &rest[NLMSG_HEADER..len],
            &rest[align4(len).min(rest.len())..],
        );
        match u16_at(rest, 4) {
            t if t == libc::NLMSG_DONE as u16 => described.done = true,
            t if t == libc::NLMSG_ERROR as u16 => {
                let errno = message.get(..4).map(|e| -(u32_at(e, 0) as i32));
                match errno {
                    Some(0) => {}
                    Some(errno) => described.error = Some(errno),
                    None => described.malformed += 1,
                }
            }
            SOCK_DIAG_BY_FAMILY => match parse_socket(message) {
                Some(socket) => described.sockets.push(socket),
                None => described.malformed += 1,
            },
            _ => {}
        }
        rest = next;
    }
    described
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// A `struct inet_diag_msg` and its attributes.
fn parse_socket(message: &[u8]) -> Option<TcpSocket> {
    let head = message.get(..DIAG_MSG)?;
    let family = i32::from(head[0]);
    let state = head[1];
    // struct inet_diag_sockid: ports (network order), addresses (16 bytes each), interface,
    // cookie (two 32-bit halves, low first).
    let port = |at: usize| u16::from_be_bytes([head[at], head[at + 1]]);
    let ip = |at: usize| -> Option<IpAddr> {
        let bytes: [u8; 16] = head[at..at + 16].try_into().ok()?;
        match family {
            libc::AF_INET => Some(IpAddr::V4(Ipv4Addr::new(
                bytes[0], bytes[1], bytes[2], bytes[3],
            ))),
            libc::AF_INET6 => Some(IpAddr::V6(Ipv6Addr::from(bytes))),
            _ => None,
        }
    };
    let local = SocketAddr::new(ip(8)?, port(4));
    let remote = SocketAddr::new(ip(24)?, port(6));
    let cookie = u64::from(u32_at(head, 44)) | (u64::from(u32_at(head, 48)) << 32);
    let mut counters = None;
    let mut attrs = &message[DIAG_MSG..];
    while attrs.len() >= NLA_HEADER {
        let len = usize::from(u16_at(attrs, 0));
        if len < NLA_HEADER || len > attrs.len() {
            return None;
        }
        if u16_at(attrs, 2) == INET_DIAG_INFO {
            counters = Some(tcp_counters(&attrs[NLA_HEADER..len])?);
        }
        attrs = &attrs[align4(len).min(attrs.len())..];
    }
    Some(TcpSocket {
        cookie,
        local,
        remote,
        state,
        inode: u64::from(u32_at(head, 68)),
        counters,
    })
}

/// The counters of a `struct tcp_info` of `info.len()` bytes (older kernels' are shorter).
fn tcp_counters(info: &[u8]) -> Option<TcpCounters> {
    // Offsets in struct tcp_info (include/uapi/linux/tcp.h).
    const BYTES_ACKED: usize = 120;
    const BYTES_RECEIVED: usize = 128;
    const SEGS_OUT: usize = 136;
    const SEGS_IN: usize = 140;
    const BYTES_SENT: usize = 200;
    const BYTES_RETRANS: usize = 208;
    if info.len() < SEGS_IN + 4 {
        return None;
    }
    let has = |at: usize| info.len() >= at + 8;
    Some(TcpCounters {
        bytes_acked: u64_at(info, BYTES_ACKED),
        bytes_received: u64_at(info, BYTES_RECEIVED),
        bytes_sent: has(BYTES_SENT).then(|| u64_at(info, BYTES_SENT)),
        bytes_retransmitted: has(BYTES_RETRANS).then(|| u64_at(info, BYTES_RETRANS)),
        segments_sent: u32_at(info, SEGS_OUT),
        segments_received: u32_at(info, SEGS_IN),
    })
}

/// A netlink socket of socket diagnostics, close-on-exec.
fn diag_socket() -> std::io::Result<OwnedFd> {
    // SAFETY: a plain socket(2); a descriptor it returns is owned at once.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
            libc::NETLINK_SOCK_DIAG,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: just made, owned here only.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The ends of TCP sockets, as the kernel destroys them.
pub struct DestroyListener {
    socket: OwnedFd,
    buffer: Vec<u8>,
}

impl DestroyListener {
    /// Joins the destroy groups of IPv4 and IPv6 TCP sockets. Needs `CAP_NET_ADMIN` (the error
    /// says `EPERM` without it); a kernel before 4.9 has no such groups.
    pub fn open() -> std::io::Result<DestroyListener> {
        let socket = diag_socket()?;
        // Best effort: the default buffer still works, losing more in a storm.
        let size = RECEIVE_BUFFER;
        for option in [libc::SO_RCVBUFFORCE, libc::SO_RCVBUF] {
            // SAFETY: an int option of its size.
            let rc = unsafe {
                libc::setsockopt(
                    socket.as_raw_fd(),
                    libc::SOL_SOCKET,
                    option,
                    (&raw const size).cast(),
                    size_of::<i32>() as libc::socklen_t,
                )
            };
            if rc == 0 {
                break;
            }
        }
        // SAFETY: sockaddr_nl is plain data.
        let mut address: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        address.nl_family = libc::AF_NETLINK as u16;
        address.nl_groups = TCP_DESTROY_GROUPS;
        // SAFETY: a valid sockaddr_nl of its own size.
        let rc = unsafe {
            libc::bind(
                socket.as_raw_fd(),
                (&raw const address).cast(),
                size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(DestroyListener {
            socket,
            buffer: vec![0; 64 << 10],
        })
    }

    /// What came within `wait`: the sockets destroyed (with what could not be read), all that
    /// is waiting up to [`READ_AT_ONCE`] messages (the kernel sends each socket's on its own),
    /// and whether messages were dropped for want of room. Empty when nothing came.
    pub fn read(&mut self, wait: Duration) -> std::io::Result<Described> {
        let mut ready = libc::pollfd {
            fd: self.socket.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let millis = i32::try_from(wait.as_millis()).unwrap_or(i32::MAX);
        // SAFETY: one live pollfd.
        let polled = unsafe { libc::poll(&mut ready, 1, millis) };
        if polled < 0 {
            let error = std::io::Error::last_os_error();
            return match error.kind() {
                std::io::ErrorKind::Interrupted => Ok(Described::default()),
                _ => Err(error),
            };
        }
        let mut all = Described::default();
        if polled == 0 {
            return Ok(all);
        }
        for _ in 0..READ_AT_ONCE {
            // SAFETY: a live socket and a buffer of the size given.
            let n = unsafe {
                libc::recv(
                    self.socket.as_raw_fd(),
                    self.buffer.as_mut_ptr().cast(),
                    self.buffer.len(),
                    libc::MSG_DONTWAIT,
                )
            };
            if n < 0 {
                let error = std::io::Error::last_os_error();
                return match error.raw_os_error() {
                    // Said once, then the reads go on.
                    Some(libc::ENOBUFS) => {
                        all.overflowed = true;
                        continue;
                    }
                    Some(libc::EAGAIN | libc::EINTR) => Ok(all),
                    _ if !all.sockets.is_empty() || all.overflowed => Ok(all),
                    _ => Err(error),
                };
            }
            let part = parse_datagram(&self.buffer[..n as usize]);
            all.sockets.extend(part.sockets);
            all.malformed += part.malformed;
        }
        Ok(all)
    }
}

/// `TCP_LISTEN`: a listener's state.
const TCP_LISTEN: u32 = 10;

/// Every TCP socket of the agent's network namespace not listening, of both families, with
/// its traffic: a dump. `Err` when the kernel refused or a reply could not be read at all.
pub fn open_tcp_sockets() -> std::io::Result<Described> {
    dump_both(!(1u32 << TCP_LISTEN))
}

/// The TCP listeners of the agent's network namespace, of both families.
pub fn tcp_listeners() -> std::io::Result<Described> {
    dump_both(1u32 << TCP_LISTEN)
}

/// The TCP sockets of both families in `states` (a mask by state number).
fn dump_both(states: u32) -> std::io::Result<Described> {
    let mut all = Described::default();
    for family in [libc::AF_INET, libc::AF_INET6] {
        let part = dump(family as u8, states)?;
        all.sockets.extend(part.sockets);
        all.malformed += part.malformed;
    }
    all.done = true;
    Ok(all)
}

/// The dump of `family`'s TCP sockets in `states`.
fn dump(family: u8, states: u32) -> std::io::Result<Described> {
    let socket = diag_socket()?;
    // struct nlmsghdr, then struct inet_diag_req_v2: family, protocol, ext (the attributes
    // wanted, 1 << (attribute - 1)), pad, states (a mask by state number), then a zeroed
    // struct inet_diag_sockid (48 bytes: any socket).
    const REQUEST: usize = NLMSG_HEADER + 56;
    let mut request = [0u8; REQUEST];
    request[..4].copy_from_slice(&(REQUEST as u32).to_ne_bytes());
    request[4..6].copy_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    let flags = (libc::NLM_F_REQUEST | libc::NLM_F_DUMP) as u16;
    request[6..8].copy_from_slice(&flags.to_ne_bytes());
    request[8..12].copy_from_slice(&1u32.to_ne_bytes());
    request[16] = family;
    request[17] = libc::IPPROTO_TCP as u8;
    request[18] = 1 << (INET_DIAG_INFO - 1);
    request[20..24].copy_from_slice(&states.to_ne_bytes());
    // SAFETY: a live socket and a buffer of the size given.
    let sent = unsafe {
        libc::send(
            socket.as_raw_fd(),
            request.as_ptr().cast(),
            request.len(),
            0,
        )
    };
    if sent < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut buffer = vec![0u8; 64 << 10];
    let mut all = Described::default();
    loop {
        // SAFETY: a live socket and a buffer of the size given.
        let n = unsafe {
            libc::recv(
                socket.as_raw_fd(),
                buffer.as_mut_ptr().cast(),
                buffer.len(),
                0,
            )
        };
        if n < 0 {
            let error = std::io::Error::last_os_error();
            if error.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(error);
        }
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let part = parse_datagram(&buffer[..n as usize]);
        if let Some(errno) = part.error {
            return Err(std::io::Error::from_raw_os_error(errno));
        }
        all.sockets.extend(part.sockets);
        all.malformed += part.malformed;
        if part.done {
            return Ok(all);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A diagnostics message as the kernel lays it out: `socket`'s family, state, ends and
    /// cookie, and a tcp_info of `info_len` bytes with the counters at their offsets.
    fn message(socket: &TcpSocket, info_len: usize) -> Vec<u8> {
        let mut diag = vec![0u8; DIAG_MSG];
        diag[0] = if socket.local.is_ipv4() { 2 } else { 10 };
        diag[1] = socket.state;
        diag[4..6].copy_from_slice(&socket.local.port().to_be_bytes());
        diag[6..8].copy_from_slice(&socket.remote.port().to_be_bytes());
        let ip = |a: IpAddr| match a {
            IpAddr::V4(v4) => {
                let mut b = [0u8; 16];
                b[..4].copy_from_slice(&v4.octets());
                b
            }
            IpAddr::V6(v6) => v6.octets(),
        };
        diag[8..24].copy_from_slice(&ip(socket.local.ip()));
        diag[24..40].copy_from_slice(&ip(socket.remote.ip()));
        diag[68..72].copy_from_slice(&(socket.inode as u32).to_ne_bytes());
        diag[44..48].copy_from_slice(&(socket.cookie as u32).to_ne_bytes());
        diag[48..52].copy_from_slice(&((socket.cookie >> 32) as u32).to_ne_bytes());
        // Another attribute first (INET_DIAG_PROTOCOL, one byte, padded).
        diag.extend_from_slice(&5u16.to_ne_bytes());
        diag.extend_from_slice(&8u16.to_ne_bytes());
        diag.extend_from_slice(&[6, 0, 0, 0]);
        if let Some(c) = socket.counters {
            let mut info = vec![0u8; info_len];
            let mut put = |at: usize, v: &[u8]| {
                if at + v.len() <= info.len() {
                    info[at..at + v.len()].copy_from_slice(v);
                }
            };
            put(120, &c.bytes_acked.to_ne_bytes());
            put(128, &c.bytes_received.to_ne_bytes());
            put(136, &c.segments_sent.to_ne_bytes());
            put(140, &c.segments_received.to_ne_bytes());
            put(200, &c.bytes_sent.unwrap_or(0).to_ne_bytes());
            put(208, &c.bytes_retransmitted.unwrap_or(0).to_ne_bytes());
            diag.extend_from_slice(&((NLA_HEADER + info_len) as u16).to_ne_bytes());
            diag.extend_from_slice(&INET_DIAG_INFO.to_ne_bytes());
            diag.extend_from_slice(&info);
            diag.resize(align4(diag.len()), 0);
        }
        let mut b = Vec::new();
        b.extend_from_slice(&((NLMSG_HEADER + diag.len()) as u32).to_ne_bytes());
        b.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
        b.extend_from_slice(&[0; 10]);
        b.extend_from_slice(&diag);
        b
    }

    fn socket(local: &str, remote: &str, counters: Option<TcpCounters>) -> TcpSocket {
        TcpSocket {
            cookie: 0x1234_5678_9abc_def0,
            local: local.parse().unwrap(),
            remote: remote.parse().unwrap(),
            state: 7,
            inode: 4_000_000_123,
            counters,
        }
    }

    #[test]
    fn sockets_are_read_with_their_ends_cookie_and_counters() {
        let counters = TcpCounters {
            bytes_acked: 5_002,
            bytes_received: 7,
            bytes_sent: Some(5_100),
            bytes_retransmitted: Some(100),
            segments_sent: 9,
            segments_received: 8,
        };
        let v4 = socket("127.0.0.1:40000", "127.0.0.1:22", Some(counters));
        let v6 = socket("[::1]:22", "[2001:db8::7]:50000", None);
        let mut datagram = message(&v4, 232);
        datagram.extend(message(&v6, 0));
        let described = parse_datagram(&datagram);
        assert_eq!(described.sockets, [v4.clone(), v6]);
        assert_eq!((described.malformed, described.done), (0, false));

        // An older kernel's shorter tcp_info: no bytes_sent, no retransmitted bytes.
        let described = parse_datagram(&message(&v4, 160));
        let older = described.sockets[0].counters.unwrap();
        assert_eq!((older.bytes_sent, older.bytes_retransmitted), (None, None));
        assert_eq!(older.bytes_received, 7);
    }

    #[test]
    fn a_malformed_message_is_counted_and_the_rest_read() {
        let v4 = socket("127.0.0.1:1", "127.0.0.1:2", None);
        // A message too short for its inet_diag_msg, then a good one.
        let mut short = message(&v4, 0);
        short.truncate(NLMSG_HEADER + 20);
        short[..4].copy_from_slice(&((NLMSG_HEADER + 20) as u32).to_ne_bytes());
        let mut datagram = short;
        datagram.extend(message(&v4, 0));
        let described = parse_datagram(&datagram);
        assert_eq!((described.sockets.len(), described.malformed), (1, 1));
        // A length past the datagram's end: counted, the read stops there.
        let mut cut = message(&v4, 0);
        cut.truncate(cut.len() - 4);
        assert_eq!(parse_datagram(&cut).malformed, 1);
        // An attribute longer than its message: the socket is malformed.
        let mut bad = message(&v4, 0);
        let attr = NLMSG_HEADER + DIAG_MSG;
        bad[attr..attr + 2].copy_from_slice(&200u16.to_ne_bytes());
        assert_eq!(parse_datagram(&bad).malformed, 1);
    }

    #[test]
    fn a_dumps_end_and_a_refusal_are_told() {
        let mut done = vec![0u8; NLMSG_HEADER + 4];
        done[..4].copy_from_slice(&((NLMSG_HEADER + 4) as u32).to_ne_bytes());
        done[4..6].copy_from_slice(&(libc::NLMSG_DONE as u16).to_ne_bytes());
        assert!(parse_datagram(&done).done);
        let mut refused = vec![0u8; NLMSG_HEADER + 20];
        refused[..4].copy_from_slice(&((NLMSG_HEADER + 20) as u32).to_ne_bytes());
        refused[4..6].copy_from_slice(&(libc::NLMSG_ERROR as u16).to_ne_bytes());
        refused[16..20].copy_from_slice(&(-libc::EPERM).to_ne_bytes());
        assert_eq!(parse_datagram(&refused).error, Some(libc::EPERM));
    }
}

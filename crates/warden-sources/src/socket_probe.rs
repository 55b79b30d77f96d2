//! What an audit record cannot say about a socket — its type and protocol, and the end the call
//! did not name (a connect's local port, a listener's address) — read from the live socket.
//!
//! The socket is borrowed from its process with `pidfd_getfd(2)` (Linux 5.6+, needs
//! `PTRACE_MODE_ATTACH`, which root has) and asked with `getsockopt`/`getsockname`/
//! `getpeername`. This is best effort: by the time the agent handles the event the process may
//! have closed the descriptor, exited, or even reused the number for another socket. So a caller
//! checks the facts against what the record itself names ([`SocketFacts::agrees_with`]) before
//! trusting them.

use std::mem::{size_of, zeroed};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::audit::net::{SockAddr, parse_sockaddr};

/// A socket as the kernel describes it now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SocketFacts {
    /// `SO_DOMAIN` (`AF_*`).
    pub family: u16,
    /// `SO_TYPE` (`SOCK_STREAM` = 1, `SOCK_DGRAM` = 2, `SOCK_RAW` = 3, `SOCK_SEQPACKET` = 5).
    pub sock_type: i32,
    /// `SO_PROTOCOL` (`IPPROTO_TCP` = 6, `IPPROTO_UDP` = 17, ...; 0 for Unix sockets).
    pub protocol: i32,
    /// `getsockname`.
    pub local: Option<SockAddr>,
    /// `getpeername` (`None` when not connected).
    pub remote: Option<SockAddr>,
}

impl SocketFacts {
    /// The transport's name as ECS `network.transport` spells it (`tcp`, `udp`, `icmp`,
    /// `ipv6-icmp`, `sctp`, `raw`), the socket type for Unix sockets (`stream`, `dgram`,
    /// `seqpacket`), and for a packet socket the link protocol it takes ([`link_protocol_name`]).
    pub fn transport(&self) -> Option<&'static str> {
        if self.family == libc::AF_UNIX as u16 {
            return sock_type_name(self.sock_type);
        }
        if self.family == libc::AF_PACKET as u16 {
            // As socket(2) was asked for it, in network order. (The socket itself does not
            // say: its SO_PROTOCOL is 0.)
            return link_protocol_name(u16::from_be(self.protocol as u16));
        }
        Some(match self.protocol {
            libc::IPPROTO_TCP => "tcp",
            libc::IPPROTO_UDP => "udp",
            libc::IPPROTO_ICMP => "icmp",
            libc::IPPROTO_ICMPV6 => "ipv6-icmp",
            libc::IPPROTO_SCTP => "sctp",
            libc::IPPROTO_UDPLITE => "udplite",
            _ if self.sock_type == libc::SOCK_RAW => "raw",
            _ => return None,
        })
    }

    /// Whether these facts can describe the socket a record named: the same family, and the
    /// record's address equal to the socket's end of the same role. (An `INADDR_ANY` bind or a
    /// port-0 bind is rewritten by the kernel, so a bind is checked on family only.)
    pub fn agrees_with(&self, record_remote: Option<&SockAddr>, family: Option<u16>) -> bool {
        if family.is_some_and(|f| f != self.family) {
            return false;
        }
        match (record_remote, &self.remote) {
            (Some(want), Some(have)) => want == have,
            // Named by the record but not connected now: a failed or still-running connect,
            // or a different socket under the same number. Type alone is still worth having
            // only when the family matched; the caller decides.
            _ => true,
        }
    }
}

/// `SOCK_*` type names.
pub fn sock_type_name(sock_type: i32) -> Option<&'static str> {
    Some(match sock_type {
        libc::SOCK_STREAM => "stream",
        libc::SOCK_DGRAM => "dgram",
        libc::SOCK_SEQPACKET => "seqpacket",
        libc::SOCK_RAW => "raw",
        _ => return None,
    })
}

/// A link protocol (an EtherType, host order) as a packet socket's transport: `all` (what a
/// sniffer takes: `ETH_P_ALL`), `ip`, `ipv6`, `arp`, `rarp`, `lldp`, else `link`; None for 0
/// (none asked, or not known).
pub fn link_protocol_name(protocol: u16) -> Option<&'static str> {
    Some(match protocol {
        0 => return None,
        0x0003 => "all",
        0x0800 => "ip",
        0x86dd => "ipv6",
        0x0806 => "arp",
        0x8035 => "rarp",
        0x88cc => "lldp",
        _ => "link",
    })
}

/// Why a socket could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The process is gone, or the descriptor is closed.
    #[error("process or descriptor gone")]
    Gone,
    /// The descriptor is not a socket (the number was reused).
    #[error("descriptor is not a socket")]
    NotSocket,
    /// Not allowed (no `CAP_SYS_PTRACE` over the process).
    #[error("not permitted to borrow the descriptor (CAP_SYS_PTRACE)")]
    Denied,
    /// Another error.
    #[error("{0}")]
    Other(std::io::Error),
}

fn errno_error() -> ProbeError {
    let e = std::io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::ESRCH | libc::EBADF) => ProbeError::Gone,
        Some(libc::ENOTSOCK) => ProbeError::NotSocket,
        Some(libc::EPERM | libc::EACCES) => ProbeError::Denied,
        _ => ProbeError::Other(e),
    }
}

/// Reads the socket `fd` of process `pid`.
pub fn probe(pid: u32, fd: i32) -> Result<SocketFacts, ProbeError> {
    Borrowed::of(pid, fd)?.facts()
}

/// Reads the handshake of TCP socket `fd` of process `pid` (`TCP_INFO`).
pub fn tcp_handshake(pid: u32, fd: i32) -> Result<HandshakeFacts, ProbeError> {
    Borrowed::of(pid, fd)?.handshake()
}

/// A copy of a process's socket descriptor (`pidfd_getfd`), to read it more than one way
/// without borrowing it again.
#[derive(Debug)]
pub struct Borrowed(OwnedFd);

impl Borrowed {
    /// Descriptor `fd` of process `pid`.
    pub fn of(pid: u32, fd: i32) -> Result<Borrowed, ProbeError> {
        // SAFETY: plain syscalls; each returned descriptor is owned exactly once below.
        let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
        if pidfd < 0 {
            return Err(errno_error());
        }
        let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd as i32) };
        let sock = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd, 0) };
        if sock < 0 {
            return Err(errno_error());
        }
        Ok(Borrowed(unsafe { OwnedFd::from_raw_fd(sock as i32) }))
    }

    /// Its type, protocol and ends.
    pub fn facts(&self) -> Result<SocketFacts, ProbeError> {
        let raw = self.0.as_raw_fd();
        let family = int_option(raw, libc::SO_DOMAIN)?;
        Ok(SocketFacts {
            family: family as u16,
            sock_type: int_option(raw, libc::SO_TYPE)?,
            protocol: int_option(raw, libc::SO_PROTOCOL)?,
            local: name_of(raw, libc::getsockname),
            remote: name_of(raw, libc::getpeername),
        })
    }
}

/// A TCP socket's handshake as the kernel keeps it, read without changing anything (its
/// pending error, which `SO_ERROR` would clear, stays the process's own).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HandshakeFacts {
    /// The socket's inode: the same socket when a later look finds the same one.
    pub inode: u64,
    /// `tcpi_state` (`TCP_ESTABLISHED` = 1, `TCP_SYN_SENT` = 2, `TCP_CLOSE` = 7, ...).
    pub state: u8,
    /// `tcpi_bytes_acked`: at least 1 once the peer acknowledged the SYN, that is once the
    /// handshake succeeded, whatever happened to the connection since (Linux 4.1+). The SYN
    /// and a FIN count 1 each, as data does byte for byte.
    pub bytes_acked: Option<u64>,
    /// `tcpi_bytes_received`: what came from the peer since its SYN (a FIN counts 1; Linux
    /// 4.1+).
    pub bytes_received: Option<u64>,
    /// `tcpi_last_ack_recv`: how long ago the last acknowledgement came, in ms (in jiffies,
    /// 1–10 ms apart by the kernel's `HZ`). When nothing was sent or received past the
    /// handshake, that acknowledgement was the SYN-ACK: the handshake's end.
    pub last_ack_ms: u32,
    /// `getsockname`.
    pub local: Option<SockAddr>,
    /// `getpeername` (`None` unless connected now).
    pub remote: Option<SockAddr>,
}

/// `TCP_SYN_SENT`: the handshake is under way.
pub const TCP_SYN_SENT: u8 = 2;

impl Borrowed {
    /// The kernel's id of the socket (`SO_COOKIE`, Linux 4.12+): the same as its
    /// diagnostics name it by ([`crate::tcp_diag::TcpSocket::cookie`]).
    pub fn cookie(&self) -> Result<u64, ProbeError> {
        let mut cookie = 0u64;
        let mut len = size_of::<u64>() as libc::socklen_t;
        // SAFETY: a u64 option; the kernel writes at most `len` bytes into it.
        let rc = unsafe {
            libc::getsockopt(
                self.0.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_COOKIE,
                (&raw mut cookie).cast(),
                &mut len,
            )
        };
        if rc < 0 {
            return Err(errno_error());
        }
        Ok(cookie)
    }

    /// Its TCP handshake (`TCP_INFO`; not a TCP socket: an error).
    pub fn handshake(&self) -> Result<HandshakeFacts, ProbeError> {
        let raw = self.0.as_raw_fd();
        // SAFETY: stat is plain data, written by fstat.
        let mut stat: libc::stat = unsafe { zeroed() };
        if unsafe { libc::fstat(raw, &mut stat) } < 0 {
            return Err(errno_error());
        }
        // SAFETY: tcp_info is plain data; the kernel writes at most `len` bytes into it.
        let mut info: libc::tcp_info = unsafe { zeroed() };
        let mut len = size_of::<libc::tcp_info>() as libc::socklen_t;
        let rc = unsafe {
            libc::getsockopt(
                raw,
                libc::IPPROTO_TCP,
                libc::TCP_INFO,
                (&raw mut info).cast(),
                &mut len,
            )
        };
        if rc < 0 {
            return Err(errno_error());
        }
        let filled = |end: usize| len as usize >= end;
        let acked_end = std::mem::offset_of!(libc::tcp_info, tcpi_bytes_acked) + size_of::<u64>();
        let received_end =
            std::mem::offset_of!(libc::tcp_info, tcpi_bytes_received) + size_of::<u64>();
        Ok(HandshakeFacts {
            inode: stat.st_ino,
            state: info.tcpi_state,
            bytes_acked: filled(acked_end).then_some(info.tcpi_bytes_acked),
            bytes_received: filled(received_end).then_some(info.tcpi_bytes_received),
            last_ack_ms: info.tcpi_last_ack_recv,
            local: name_of(raw, libc::getsockname),
            remote: name_of(raw, libc::getpeername),
        })
    }
}

fn int_option(fd: i32, option: i32) -> Result<i32, ProbeError> {
    let mut value: libc::c_int = 0;
    let mut len = size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: value and len point to a c_int and its size.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            option,
            (&raw mut value).cast(),
            &mut len,
        )
    };
    if rc < 0 {
        return Err(errno_error());
    }
    Ok(value)
}

type NameCall = unsafe extern "C" fn(i32, *mut libc::sockaddr, *mut libc::socklen_t) -> i32;

fn name_of(fd: i32, call: NameCall) -> Option<SockAddr> {
    // SAFETY: sockaddr_storage is plain data; the kernel writes at most `len` bytes into it.
    let mut storage: libc::sockaddr_storage = unsafe { zeroed() };
    let mut len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    let rc = unsafe { call(fd, (&raw mut storage).cast(), &mut len) };
    if rc < 0 {
        return None;
    }
    let len = (len as usize).min(size_of::<libc::sockaddr_storage>());
    // SAFETY: the first `len` bytes of storage were written by the kernel.
    let bytes = unsafe { std::slice::from_raw_parts((&raw const storage).cast::<u8>(), len) };
    parse_sockaddr(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, TcpListener, TcpStream, UdpSocket};

    fn fd_of(s: &impl AsRawFd) -> i32 {
        s.as_raw_fd()
    }

    #[test]
    fn reads_tcp_ends_and_protocol_of_a_live_socket() {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let client = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap();
        let facts = probe(std::process::id(), fd_of(&client)).unwrap();
        assert_eq!(facts.transport(), Some("tcp"));
        assert_eq!(
            facts.remote,
            Some(SockAddr::Inet {
                addr: Ipv4Addr::LOCALHOST,
                port
            })
        );
        let local_port = client.local_addr().unwrap().port();
        assert_eq!(
            facts.local.as_ref().and_then(SockAddr::port),
            Some(local_port)
        );
        assert!(facts.agrees_with(facts.remote.as_ref(), Some(libc::AF_INET as u16)));
        let other = SockAddr::Inet {
            addr: Ipv4Addr::LOCALHOST,
            port: port.wrapping_add(1),
        };
        assert!(!facts.agrees_with(Some(&other), None));
        let listening = probe(std::process::id(), fd_of(&listener)).unwrap();
        assert_eq!(listening.remote, None);
        assert_eq!(
            listening.local.as_ref().and_then(SockAddr::port),
            Some(port)
        );
    }

    #[test]
    fn reads_udp_and_unix_types() {
        let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        assert_eq!(
            probe(std::process::id(), fd_of(&udp)).unwrap().transport(),
            Some("udp")
        );
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        let facts = probe(std::process::id(), fd_of(&a)).unwrap();
        assert_eq!(facts.family, libc::AF_UNIX as u16);
        assert_eq!(facts.transport(), Some("stream"));
    }

    /// A packet socket's transport is the link protocol it was made for (network order in
    /// socket(2)'s argument); the live socket's SO_PROTOCOL does not tell it.
    #[test]
    fn packet_sockets_name_the_link_protocol_they_take() {
        let facts = |protocol: u16| SocketFacts {
            family: libc::AF_PACKET as u16,
            sock_type: libc::SOCK_RAW,
            protocol: i32::from(protocol.to_be()),
            local: None,
            remote: None,
        };
        for (protocol, name) in [
            (0x0003u16, Some("all")),
            (0x0800, Some("ip")),
            (0x86dd, Some("ipv6")),
            (0x0806, Some("arp")),
            (0x88b5, Some("link")),
            (0, None),
        ] {
            assert_eq!(facts(protocol).transport(), name, "{protocol:#x}");
        }
        // SAFETY: a plain socket(2); the descriptor is owned at once.
        let fd = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                i32::from(0x0003u16.to_be()),
            )
        };
        assert!(
            fd >= 0,
            "a packet socket (root): {}",
            std::io::Error::last_os_error()
        );
        // SAFETY: just made, owned here only.
        let socket = unsafe { OwnedFd::from_raw_fd(fd) };
        let live = probe(std::process::id(), socket.as_raw_fd()).unwrap();
        assert_eq!(
            (live.family, live.sock_type),
            (libc::AF_PACKET as u16, libc::SOCK_RAW)
        );
        assert_eq!(
            live.transport(),
            None,
            "SO_PROTOCOL says nothing of a packet socket"
        );
    }

    #[test]
    fn closed_descriptors_and_plain_files_are_told_apart() {
        let file = std::fs::File::open("/proc/self/stat").unwrap();
        assert!(matches!(
            probe(std::process::id(), fd_of(&file)),
            Err(ProbeError::NotSocket)
        ));
        assert!(matches!(
            probe(std::process::id(), 987_654),
            Err(ProbeError::Gone)
        ));
    }

    /// A non-blocking connect to `port` on loopback, under way or ended.
    fn connect_nonblocking(port: u16) -> std::os::fd::OwnedFd {
        // SAFETY: socket(2) and connect(2) on a sockaddr_in of ours.
        unsafe {
            let fd = libc::socket(
                libc::AF_INET,
                libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                0,
            );
            assert!(fd >= 0);
            let mut addr: libc::sockaddr_in = zeroed();
            addr.sin_family = libc::AF_INET as libc::sa_family_t;
            addr.sin_port = port.to_be();
            addr.sin_addr.s_addr = u32::from(Ipv4Addr::LOCALHOST).to_be();
            let rc = libc::connect(
                fd,
                (&raw const addr).cast(),
                size_of::<libc::sockaddr_in>() as libc::socklen_t,
            );
            assert!(
                rc == 0
                    || std::io::Error::last_os_error().raw_os_error() == Some(libc::EINPROGRESS)
            );
            std::os::fd::OwnedFd::from_raw_fd(fd)
        }
    }

    /// A loopback listener, its port, and a non-blocking connect to it once its handshake
    /// ended (established: checked).
    fn established_handshake() -> (TcpListener, u16, std::os::fd::OwnedFd, HandshakeFacts) {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let socket = connect_nonblocking(port);
        let facts = look_until(socket.as_raw_fd(), |f| f.state != TCP_SYN_SENT);
        assert_eq!(facts.state, 1, "{facts:?}");
        (listener, port, socket, facts)
    }

    #[test]
    fn an_established_handshakes_last_acknowledgement_dates_its_end() {
        let (listener, _, socket, _) = established_handshake();
        std::thread::sleep(std::time::Duration::from_millis(300));
        // Nothing sent or received since: the last acknowledgement is the SYN-ACK's.
        let later = tcp_handshake(std::process::id(), socket.as_raw_fd()).unwrap();
        assert_eq!(
            (later.bytes_acked, later.bytes_received),
            (Some(1), Some(0)),
            "{later:?}"
        );
        assert!(
            (250..5_000).contains(&later.last_ack_ms),
            "the SYN-ACK came {} ms ago, 300 expected",
            later.last_ack_ms
        );
        // Something received: the last acknowledgement may be another's.
        let (mut accepted, _) = listener.accept().unwrap();
        std::io::Write::write_all(&mut accepted, b"x").unwrap();
        let data = look_until(socket.as_raw_fd(), |f| f.bytes_received > Some(0));
        assert_eq!(data.bytes_received, Some(1), "{data:?}");
    }

    /// Waits for a look at `fd` that `done` accepts, for at most 5 s.
    fn look_until(fd: i32, done: impl Fn(&HandshakeFacts) -> bool) -> HandshakeFacts {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let facts = tcp_handshake(std::process::id(), fd).unwrap();
            if done(&facts) || std::time::Instant::now() > deadline {
                return facts;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    #[test]
    fn a_handshake_is_seen_under_way_established_or_refused_without_taking_its_error() {
        // Established: the SYN acknowledged, and still so once the peer closed.
        let (listener, port, done, facts) = established_handshake();
        assert!(facts.bytes_acked >= Some(1), "{facts:?}");
        assert_eq!(facts.remote.as_ref().and_then(SockAddr::port), Some(port));
        let (accepted, _) = listener.accept().unwrap();
        drop(accepted);
        let closed = look_until(done.as_raw_fd(), |f| f.state != 1);
        assert!(closed.bytes_acked >= Some(1), "{closed:?}");

        // Under way: the listener's accept queue (backlog 0: one) is full, its SYN dropped.
        let full = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        // SAFETY: listen(2) on our socket.
        assert_eq!(unsafe { libc::listen(full.as_raw_fd(), 0) }, 0);
        let full_port = full.local_addr().unwrap().port();
        let _filler = TcpStream::connect((Ipv4Addr::LOCALHOST, full_port)).unwrap();
        let waiting = connect_nonblocking(full_port);
        let facts = tcp_handshake(std::process::id(), waiting.as_raw_fd()).unwrap();
        assert_eq!(facts.state, TCP_SYN_SENT, "{facts:?}");
        assert_eq!(facts.bytes_acked, Some(0));
        assert_eq!(facts.remote, None);

        // Refused: closed, nothing acknowledged; its error is left for the process to read.
        let refused_port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let refused = connect_nonblocking(refused_port);
        let facts = look_until(refused.as_raw_fd(), |f| f.state != TCP_SYN_SENT);
        assert_eq!(facts.state, 7, "TCP_CLOSE: {facts:?}");
        assert_eq!(facts.bytes_acked, Some(0));
        let error = int_option(refused.as_raw_fd(), libc::SO_ERROR).unwrap();
        assert_eq!(
            error,
            libc::ECONNREFUSED,
            "the process's error, still there"
        );
        let inode = facts.inode;
        assert_ne!(inode, 0);
        assert_ne!(
            tcp_handshake(std::process::id(), done.as_raw_fd())
                .unwrap()
                .inode,
            inode
        );
    }
}

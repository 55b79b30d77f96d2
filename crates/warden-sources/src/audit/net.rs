//! The network view of an assembled audit event: who connected, accepted, bound or listened, and
//! to or from which address.
//!
//! Built from SYSCALL (ids, comm, exe, result, key, `a0` = the socket fd), SOCKETCALL (the real
//! arguments of i386 `socketcall(2)`) and SOCKADDR (`saddr=`: the raw `struct sockaddr` the
//! kernel copied from or to user space, parsed by [`parse_sockaddr`]).
//!
//! Which address SOCKADDR holds depends on the call ([`NetCall::addr_role`]): connect, sendto
//! and sendmsg write the *remote* address the program passed; bind the *local* one; accept,
//! accept4 and recvfrom the *peer* the kernel returned (only when the program asked for it, so
//! `accept(fd, NULL, NULL)` has none). listen never has one. A failed call may or may not carry
//! it: connect and bind copy the address in before failing, so a refused connect names its target.
//!
//! Covered syscalls: x86-64 (connect 42, accept 43, sendto 44, recvfrom 45, sendmsg 46, bind 49,
//! listen 50, accept4 288); i386 (direct: bind 361, connect 362, listen 363, accept4 364, sendto
//! 369, sendmsg 370, recvfrom 371; and `socketcall` 102 with call numbers bind 2, connect 3,
//! listen 4, accept 5, sendto 11, recvfrom 12, sendmsg 16, accept4 18, whose fd comes from the
//! SOCKETCALL record); aarch64 / riscv64 (bind 200, listen 201, accept 202, connect 203, sendto
//! 206, recvfrom 207, sendmsg 211, accept4 242).
//!
//! Audit field filters cannot look into `saddr`, so [`net_rules`] cannot exclude AF_UNIX or
//! netlink traffic in the kernel: the agent filters on [`SockAddr::family`] after parsing.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::assemble::Event;
use super::exec::arch;
use super::msgtype;
use super::record::{EventId, FieldProblem, Value};
use super::rules::{AuditRule, FieldValue, Op, field};
use super::subject::Subject;

/// Address family numbers (`AF_*`) Warden decodes.
pub mod family {
    /// `AF_UNSPEC` (connect with it dissolves a datagram association).
    pub const UNSPEC: u16 = 0;
    /// `AF_UNIX` / `AF_LOCAL`.
    pub const UNIX: u16 = 1;
    /// `AF_INET`.
    pub const INET: u16 = 2;
    /// `AF_INET6`.
    pub const INET6: u16 = 10;
    /// `AF_NETLINK`.
    pub const NETLINK: u16 = 16;
    /// `AF_PACKET`.
    pub const PACKET: u16 = 17;

    /// The `AF_*` name of a family number, for the common ones.
    pub fn name(family: u16) -> Option<&'static str> {
        Some(match family {
            UNSPEC => "AF_UNSPEC",
            UNIX => "AF_UNIX",
            INET => "AF_INET",
            INET6 => "AF_INET6",
            NETLINK => "AF_NETLINK",
            PACKET => "AF_PACKET",
            3 => "AF_AX25",
            4 => "AF_IPX",
            5 => "AF_APPLETALK",
            9 => "AF_X25",
            15 => "AF_KEY",
            29 => "AF_CAN",
            31 => "AF_BLUETOOTH",
            38 => "AF_ALG",
            40 => "AF_VSOCK",
            44 => "AF_XDP",
            45 => "AF_MCTP",
            _ => return None,
        })
    }
}

/// Longest `sun_path` (bytes after the family in `struct sockaddr_un`).
pub const UNIX_PATH_MAX: usize = 108;

/// The name of a `struct sockaddr_un`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum UnixAddr {
    /// A filesystem path (bytes up to the first NUL).
    Path(Vec<u8>),
    /// An abstract name: the bytes after the leading NUL, up to the address length (they may
    /// contain NULs themselves).
    Abstract(Vec<u8>),
    /// No name at all (only the family): an unbound peer, or autobind.
    Unnamed,
}

/// A parsed `struct sockaddr`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SockAddr {
    /// `AF_INET`: `sockaddr_in`.
    Inet {
        /// IPv4 address.
        addr: Ipv4Addr,
        /// Port (host order; the struct holds it in network order).
        port: u16,
    },
    /// `AF_INET6`: `sockaddr_in6` (24 bytes of RFC 2133 are enough; then `scope_id` is 0).
    Inet6 {
        /// IPv6 address.
        addr: Ipv6Addr,
        /// Port (host order).
        port: u16,
        /// `sin6_flowinfo` (network order in the struct, host order here).
        flowinfo: u32,
        /// `sin6_scope_id` (interface index of a link-local address; host order in the struct).
        scope_id: u32,
    },
    /// `AF_UNIX`.
    Unix(UnixAddr),
    /// `AF_NETLINK`: `sockaddr_nl`.
    Netlink {
        /// Port id (`nl_pid`: 0 is the kernel).
        pid: u32,
        /// Multicast group mask (`nl_groups`).
        groups: u32,
    },
    /// `AF_PACKET`: the head of `sockaddr_ll`.
    Packet {
        /// The link protocol (EtherType, host order; `ETH_P_ALL`, 3: every one).
        protocol: u16,
        /// The interface's index (0: every interface).
        ifindex: i32,
    },
    /// Any other family (including `AF_UNSPEC`): the bytes after the family, raw.
    Other {
        /// `sa_family`.
        family: u16,
        /// The rest of the structure.
        data: Vec<u8>,
    },
}

impl SockAddr {
    /// The `sa_family` number.
    pub fn family(&self) -> u16 {
        match self {
            SockAddr::Inet { .. } => family::INET,
            SockAddr::Inet6 { .. } => family::INET6,
            SockAddr::Unix(_) => family::UNIX,
            SockAddr::Netlink { .. } => family::NETLINK,
            SockAddr::Packet { .. } => family::PACKET,
            SockAddr::Other { family, .. } => *family,
        }
    }

    /// The IP address of an inet / inet6 address.
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            SockAddr::Inet { addr, .. } => Some(IpAddr::V4(*addr)),
            SockAddr::Inet6 { addr, .. } => Some(IpAddr::V6(*addr)),
            _ => None,
        }
    }

    /// The port of an inet / inet6 address.
    pub fn port(&self) -> Option<u16> {
        match self {
            SockAddr::Inet { port, .. } | SockAddr::Inet6 { port, .. } => Some(*port),
            _ => None,
        }
    }

    /// A Unix socket's name as people write it: the path, `@name` for an abstract socket (as
    /// `ss` shows it), `None` for unnamed sockets and other families.
    pub fn unix_path(&self) -> Option<Vec<u8>> {
        match self {
            SockAddr::Unix(UnixAddr::Path(p)) => Some(p.clone()),
            SockAddr::Unix(UnixAddr::Abstract(n)) => {
                let mut out = Vec::with_capacity(n.len() + 1);
                out.push(b'@');
                out.extend_from_slice(n);
                Some(out)
            }
            _ => None,
        }
    }
}

impl fmt::Display for SockAddr {
    /// `127.0.0.1:80`, `[::1]:80`, `[fe80::1%2]:80`, `unix:/run/x`, `unix:@name`, `unix:(unnamed)`,
    /// `netlink:pid=0,groups=1`, `packet:ifindex=1,protocol=0x0003`, `family=40:<hex>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SockAddr::Inet { addr, port } => write!(f, "{addr}:{port}"),
            SockAddr::Inet6 {
                addr,
                port,
                scope_id: 0,
                ..
            } => write!(f, "[{addr}]:{port}"),
            SockAddr::Inet6 {
                addr,
                port,
                scope_id,
                ..
            } => write!(f, "[{addr}%{scope_id}]:{port}"),
            SockAddr::Unix(UnixAddr::Unnamed) => f.write_str("unix:(unnamed)"),
            SockAddr::Unix(_) => {
                let p = self.unix_path().unwrap_or_default();
                write!(f, "unix:{}", String::from_utf8_lossy(&p).escape_debug())
            }
            SockAddr::Netlink { pid, groups } => write!(f, "netlink:pid={pid},groups={groups:#x}"),
            SockAddr::Packet { protocol, ifindex } => {
                write!(f, "packet:ifindex={ifindex},protocol={protocol:#06x}")
            }
            SockAddr::Other { family, data } => {
                write!(f, "family={family}:")?;
                data.iter().try_for_each(|b| write!(f, "{b:02x}"))
            }
        }
    }
}

/// Why bytes are not a `struct sockaddr`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SockAddrError {
    /// Shorter than the family field or than the family's fixed part.
    #[error("sockaddr of family {family:?} truncated at {len} bytes")]
    Truncated {
        /// The family, if the two bytes of it were there.
        family: Option<u16>,
        /// Length seen.
        len: usize,
    },
    /// Longer than any `struct sockaddr` (`sockaddr_storage` is 128 bytes).
    #[error("sockaddr of {0} bytes is longer than sockaddr_storage")]
    TooLong(usize),
}

/// Size of `struct sockaddr_storage`: the kernel never copies a longer address.
pub const SOCKADDR_STORAGE_LEN: usize = 128;

/// Parse the raw `struct sockaddr` of a SOCKADDR record. `sa_family` is in host byte order (the
/// kernel writes the structure as the program passed it, on the machine that runs Warden);
/// ports, IPv4/IPv6 addresses and flowinfo are in network order. Pure, never panics.
pub fn parse_sockaddr(b: &[u8]) -> Result<SockAddr, SockAddrError> {
    if b.len() > SOCKADDR_STORAGE_LEN {
        return Err(SockAddrError::TooLong(b.len()));
    }
    let Some(fam) = b.first_chunk::<2>().map(|f| u16::from_ne_bytes(*f)) else {
        return Err(SockAddrError::Truncated {
            family: None,
            len: b.len(),
        });
    };
    let truncated = || SockAddrError::Truncated {
        family: Some(fam),
        len: b.len(),
    };
    let be16 = |at: usize| u16::from_be_bytes([b[at], b[at + 1]]);
    let arr = |at: usize| -> [u8; 4] { [b[at], b[at + 1], b[at + 2], b[at + 3]] };
    match fam {
        family::INET => {
            // family, port, address; sin_zero may be left out.
            if b.len() < 8 {
                return Err(truncated());
            }
            Ok(SockAddr::Inet {
                addr: Ipv4Addr::from(arr(4)),
                port: be16(2),
            })
        }
        family::INET6 => {
            // family, port, flowinfo, address (24 bytes: RFC 2133's size), scope id.
            if b.len() < 24 {
                return Err(truncated());
            }
            let mut addr = [0u8; 16];
            addr.copy_from_slice(&b[8..24]);
            Ok(SockAddr::Inet6 {
                addr: Ipv6Addr::from(addr),
                port: be16(2),
                flowinfo: u32::from_be_bytes(arr(4)),
                scope_id: if b.len() >= 28 {
                    u32::from_ne_bytes(arr(24))
                } else {
                    0
                },
            })
        }
        family::UNIX => {
            let path = &b[2..];
            Ok(SockAddr::Unix(match path.first() {
                None => UnixAddr::Unnamed,
                Some(0) => UnixAddr::Abstract(path[1..].to_vec()),
                Some(_) => {
                    let end = path.iter().position(|&c| c == 0).unwrap_or(path.len());
                    UnixAddr::Path(path[..end].to_vec())
                }
            }))
        }
        family::NETLINK => {
            // family, pad, pid, groups.
            if b.len() < 12 {
                return Err(truncated());
            }
            Ok(SockAddr::Netlink {
                pid: u32::from_ne_bytes(arr(4)),
                groups: u32::from_ne_bytes(arr(8)),
            })
        }
        family::PACKET => {
            // sockaddr_ll: family, protocol (network order), interface index, then the
            // hardware type, packet type and address, which a bind ignores.
            if b.len() < 8 {
                return Err(truncated());
            }
            Ok(SockAddr::Packet {
                protocol: be16(2),
                ifindex: i32::from_ne_bytes(arr(4)),
            })
        }
        _ => Ok(SockAddr::Other {
            family: fam,
            data: b[2..].to_vec(),
        }),
    }
}

/// Which network call an event is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NetCall {
    /// connect(2).
    Connect,
    /// accept(2).
    Accept,
    /// accept4(2).
    Accept4,
    /// bind(2).
    Bind,
    /// listen(2).
    Listen,
    /// sendto(2).
    SendTo,
    /// sendmsg(2).
    SendMsg,
    /// recvfrom(2).
    RecvFrom,
    /// socket(2) (eBPF only: of a packet, raw IP or ICMP socket).
    Socket,
    /// setsockopt(2) (eBPF only: a packet filter attached).
    SetSockOpt,
}

/// A packet filter a setsockopt attached to a socket (eBPF and audit).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterAttach {
    /// The option (`SO_ATTACH_FILTER`, 26; `SO_ATTACH_BPF`, 50; `SO_ATTACH_REUSEPORT_CBPF`,
    /// 51; `SO_ATTACH_REUSEPORT_EBPF`, 52).
    pub option: u8,
    /// A classic filter's length in instructions, as the caller gave it (eBPF only: audit
    /// does not read the caller's memory).
    pub instructions: Option<u16>,
    /// Its program (eBPF only): a classic filter's instructions as the caller gave them, or
    /// the eBPF program an attached descriptor named.
    pub program: Option<warden_core::FilterProgram>,
}

impl FilterAttach {
    /// The option's name.
    pub fn option_name(&self) -> String {
        match i32::from(self.option) {
            libc::SO_ATTACH_FILTER => "SO_ATTACH_FILTER".into(),
            libc::SO_ATTACH_BPF => "SO_ATTACH_BPF".into(),
            libc::SO_ATTACH_REUSEPORT_CBPF => "SO_ATTACH_REUSEPORT_CBPF".into(),
            libc::SO_ATTACH_REUSEPORT_EBPF => "SO_ATTACH_REUSEPORT_EBPF".into(),
            other => format!("SO_{other}"),
        }
    }
}

/// What the SOCKADDR record of a call describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AddrRole {
    /// The other end (connect, sendto, sendmsg; accept / recvfrom: the peer).
    Remote,
    /// This end (bind).
    Local,
    /// The call has no address (listen).
    None,
}

impl NetCall {
    /// The syscall's name (`connect`, `accept4`, ...).
    pub fn name(self) -> &'static str {
        match self {
            NetCall::Connect => "connect",
            NetCall::Accept => "accept",
            NetCall::Accept4 => "accept4",
            NetCall::Bind => "bind",
            NetCall::Listen => "listen",
            NetCall::SendTo => "sendto",
            NetCall::SendMsg => "sendmsg",
            NetCall::RecvFrom => "recvfrom",
            NetCall::Socket => "socket",
            NetCall::SetSockOpt => "setsockopt",
        }
    }

    /// Which end the call's SOCKADDR record names.
    pub fn addr_role(self) -> AddrRole {
        match self {
            NetCall::Bind => AddrRole::Local,
            NetCall::Listen | NetCall::Socket | NetCall::SetSockOpt => AddrRole::None,
            _ => AddrRole::Remote,
        }
    }

    /// The call of an i386 `socketcall(2)` number (`SYS_CONNECT` = 3, ...).
    pub fn from_socketcall(call: u64) -> Option<NetCall> {
        Some(match call {
            2 => NetCall::Bind,
            3 => NetCall::Connect,
            4 => NetCall::Listen,
            5 => NetCall::Accept,
            11 => NetCall::SendTo,
            12 => NetCall::RecvFrom,
            16 => NetCall::SendMsg,
            18 => NetCall::Accept4,
            _ => return None,
        })
    }
}

/// socket(2)'s type without `SOCK_NONBLOCK` and `SOCK_CLOEXEC`.
const SOCK_TYPE_MASK: i32 = 0xf;

/// SOCKETCALL record type (1304): `nargs=` and the real arguments of a `socketcall(2)`.
pub const SOCKETCALL: u16 = 1304;

/// i386 `socketcall(2)` syscall number.
pub const I386_SOCKETCALL: u32 = 102;

/// What a syscall number is for an arch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NetSyscall {
    /// A direct network syscall.
    Direct(NetCall),
    /// i386 `socketcall`: the call is in `a0`.
    SocketCall,
}

/// The network syscall for an arch and syscall number, if it is one.
pub fn net_syscall(arch: u32, syscall: u32) -> Option<NetSyscall> {
    use NetCall::*;
    let call = match (arch, syscall) {
        (arch::X86_64, 42) => Connect,
        (arch::X86_64, 43) => Accept,
        (arch::X86_64, 44) => SendTo,
        (arch::X86_64, 45) => RecvFrom,
        (arch::X86_64, 46) => SendMsg,
        (arch::X86_64, 49) => Bind,
        (arch::X86_64, 50) => Listen,
        (arch::X86_64, 288) => Accept4,
        (arch::X86_64, 41) => Socket,
        (arch::X86_64, 54) => SetSockOpt,
        (arch::I386, 359) => Socket,
        (arch::I386, 366) => SetSockOpt,
        (arch::AARCH64 | arch::RISCV64, 198) => Socket,
        (arch::AARCH64 | arch::RISCV64, 208) => SetSockOpt,
        (arch::I386, I386_SOCKETCALL) => return Some(NetSyscall::SocketCall),
        (arch::I386, 361) => Bind,
        (arch::I386, 362) => Connect,
        (arch::I386, 363) => Listen,
        (arch::I386, 364) => Accept4,
        (arch::I386, 369) => SendTo,
        (arch::I386, 370) => SendMsg,
        (arch::I386, 371) => RecvFrom,
        (arch::AARCH64 | arch::RISCV64, 200) => Bind,
        (arch::AARCH64 | arch::RISCV64, 201) => Listen,
        (arch::AARCH64 | arch::RISCV64, 202) => Accept,
        (arch::AARCH64 | arch::RISCV64, 203) => Connect,
        (arch::AARCH64 | arch::RISCV64, 206) => SendTo,
        (arch::AARCH64 | arch::RISCV64, 207) => RecvFrom,
        (arch::AARCH64 | arch::RISCV64, 211) => SendMsg,
        (arch::AARCH64 | arch::RISCV64, 242) => Accept4,
        _ => return None,
    };
    Some(NetSyscall::Direct(call))
}

/// The name of a Linux errno (x86, arm, riscv numbering), e.g. 111 → `ECONNREFUSED`; shared by
/// the network and file views.
pub fn errno_name(errno: i64) -> Option<&'static str> {
    Some(match errno {
        1 => "EPERM",
        2 => "ENOENT",
        3 => "ESRCH",
        4 => "EINTR",
        5 => "EIO",
        6 => "ENXIO",
        7 => "E2BIG",
        8 => "ENOEXEC",
        9 => "EBADF",
        10 => "ECHILD",
        11 => "EAGAIN",
        12 => "ENOMEM",
        13 => "EACCES",
        14 => "EFAULT",
        16 => "EBUSY",
        17 => "EEXIST",
        18 => "EXDEV",
        19 => "ENODEV",
        20 => "ENOTDIR",
        21 => "EISDIR",
        22 => "EINVAL",
        23 => "ENFILE",
        24 => "EMFILE",
        26 => "ETXTBSY",
        27 => "EFBIG",
        28 => "ENOSPC",
        30 => "EROFS",
        31 => "EMLINK",
        32 => "EPIPE",
        36 => "ENAMETOOLONG",
        38 => "ENOSYS",
        39 => "ENOTEMPTY",
        40 => "ELOOP",
        88 => "ENOTSOCK",
        89 => "EDESTADDRREQ",
        90 => "EMSGSIZE",
        91 => "EPROTOTYPE",
        92 => "ENOPROTOOPT",
        93 => "EPROTONOSUPPORT",
        94 => "ESOCKTNOSUPPORT",
        95 => "EOPNOTSUPP",
        96 => "EPFNOSUPPORT",
        97 => "EAFNOSUPPORT",
        98 => "EADDRINUSE",
        99 => "EADDRNOTAVAIL",
        100 => "ENETDOWN",
        101 => "ENETUNREACH",
        102 => "ENETRESET",
        103 => "ECONNABORTED",
        104 => "ECONNRESET",
        105 => "ENOBUFS",
        106 => "EISCONN",
        107 => "ENOTCONN",
        108 => "ESHUTDOWN",
        110 => "ETIMEDOUT",
        111 => "ECONNREFUSED",
        112 => "EHOSTDOWN",
        113 => "EHOSTUNREACH",
        114 => "EALREADY",
        115 => "EINPROGRESS",
        116 => "ESTALE",
        122 => "EDQUOT",
        512 => "ERESTARTSYS",
        _ => return None,
    })
}

/// A network call, as audit saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetEvent {
    /// Stamp of the event.
    pub id: EventId,
    /// The event was closed by EOE with nothing dropped (see [`Event::is_complete`]).
    pub complete: bool,
    /// `arch=`.
    pub arch: u32,
    /// `syscall=` number (102 for every i386 `socketcall`).
    pub syscall: u32,
    /// Which call.
    pub call: NetCall,
    /// `success=yes|no`.
    pub success: Option<bool>,
    /// `exit=`: return value (new fd for accept, bytes for sendto) or negative errno.
    pub exit: Option<i64>,
    /// The errno's name when the call failed with a known one (`ECONNREFUSED`; `EINPROGRESS`
    /// for a non-blocking connect still under way).
    pub errno: Option<&'static str>,
    /// Who called.
    pub subject: Subject,
    /// The socket fd: SYSCALL `a0`, or SOCKETCALL `a0` for i386 `socketcall`.
    pub fd: Option<u64>,
    /// The SOCKADDR record parsed; see [`NetEvent::addr_role`] for which end it names.
    pub addr: Option<SockAddr>,
    /// The SOCKADDR record was there but not a valid address: its raw bytes.
    pub addr_raw: Option<Vec<u8>>,
    /// Rule keys (several keys on one rule are joined by 0x01 in the record).
    pub keys: Vec<Vec<u8>>,
    /// The socket the call was given, as the audit reader found it when it read the records,
    /// when the source was asked to ([`crate::audit::AuditSourceConfig::probe_sockets`]); not
    /// read when a later connect of the same read took the descriptor for a newer socket. The
    /// number may name a newer socket all the same: check it against the record
    /// ([`crate::socket_probe::SocketFacts::agrees_with`]).
    pub socket: Option<crate::socket_probe::SocketFacts>,
    /// For a connect that said `EINPROGRESS`, when the source was asked to: its handshake as it
    /// stood when the records were read.
    pub first_look: Option<FirstLook>,
    /// The kernel's id (`SO_COOKIE`) of the TCP connection's socket, when the source was asked
    /// to read sockets and found it still open: a connect's own, an accept's new one. What ties
    /// the connection to its end ([`crate::tcp_diag`]).
    pub cookie: Option<u64>,
    /// A socket(2)'s socket as it was asked for (`a0`-`a2`: family, type, protocol), which is
    /// what the kernel made when the call succeeded.
    pub asked: Option<crate::socket_probe::SocketFacts>,
    /// A setsockopt(2)'s filter (`a2`: the option; its length is in the caller's memory, which
    /// audit does not read).
    pub filter: Option<FilterAttach>,
}

/// The first look at a non-blocking connect's socket, taken by the audit reader as the
/// connect's records were read: the earliest moment after the call that Warden knows of it
/// (the process may close the socket, and another may take its number, soon after).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FirstLook {
    /// The socket's handshake; `None` when the descriptor names no TCP socket of the process
    /// any more, or a later connect of the same read took its number for a newer handshake.
    pub facts: Option<crate::socket_probe::HandshakeFacts>,
    /// When.
    pub at: std::time::Instant,
    /// The wall clock then (UTC ns).
    pub time_ns: i64,
}

impl NetEvent {
    /// Which end [`NetEvent::addr`] names.
    pub fn addr_role(&self) -> AddrRole {
        self.call.addr_role()
    }

    /// The remote address, if the record names it (connect, sendto, sendmsg, accept's peer).
    pub fn remote(&self) -> Option<&SockAddr> {
        (self.addr_role() == AddrRole::Remote)
            .then_some(self.addr.as_ref())
            .flatten()
    }

    /// The local address, if the record names it (bind).
    pub fn local(&self) -> Option<&SockAddr> {
        (self.addr_role() == AddrRole::Local)
            .then_some(self.addr.as_ref())
            .flatten()
    }

    /// Was the event tagged with this rule key?
    pub fn has_key(&self, key: &[u8]) -> bool {
        self.keys.iter().any(|k| k == key)
    }
}

/// Why an event has no network view.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NetError {
    /// The event has no SYSCALL record.
    #[error("event has no SYSCALL record")]
    NoSyscall,
    /// The syscall is not a network call Warden decodes.
    #[error("event is not a network call")]
    NotNet,
    /// A field the kernel always writes is missing.
    #[error("record lacks field {0}")]
    MissingField(&'static str),
    /// A field is present but not in the expected form.
    #[error("field {0} is malformed")]
    BadField(&'static str),
}

impl From<FieldProblem> for NetError {
    fn from(p: FieldProblem) -> Self {
        match p {
            FieldProblem::Missing(key) => NetError::MissingField(key),
            FieldProblem::Malformed(key) => NetError::BadField(key),
        }
    }
}

impl NetEvent {
    /// The network view of `event`, or why there is none. A SOCKADDR that does not parse is
    /// kept raw in [`NetEvent::addr_raw`], not an error.
    pub fn from_event(event: &Event) -> Result<NetEvent, NetError> {
        let sc = event.record(msgtype::SYSCALL).ok_or(NetError::NoSyscall)?;
        let arch = u32::try_from(sc.req("arch", Value::as_hex_u64)?)
            .map_err(|_| NetError::BadField("arch"))?;
        let syscall = sc.req("syscall", Value::as_u32)?;
        let socketcall = event.record(SOCKETCALL);
        let arg = |name: &'static str| sc.opt(name, Value::as_hex_u64);
        let (call, fd) = match net_syscall(arch, syscall).ok_or(NetError::NotNet)? {
            // socket(2)'s a0 is the family; its socket is the call's result.
            NetSyscall::Direct(NetCall::Socket) => (NetCall::Socket, None),
            NetSyscall::Direct(c) => (c, arg("a0")?),
            NetSyscall::SocketCall => {
                let n = sc.req("a0", Value::as_hex_u64)?;
                let c = NetCall::from_socketcall(n).ok_or(NetError::NotNet)?;
                let fd = match socketcall {
                    Some(r) => r.opt("a0", Value::as_hex_u64)?,
                    None => None,
                };
                (c, fd)
            }
        };
        let success = sc.success()?;
        let exit = sc.opt("exit", Value::as_i64)?;
        let errno = match (success, exit) {
            (Some(false), Some(e)) if e < 0 => errno_name(-e),
            _ => None,
        };
        let asked = match call {
            NetCall::Socket => Some(crate::socket_probe::SocketFacts {
                // Arguments are ints: the low 32 bits of each register.
                family: arg("a0")?.unwrap_or_default() as u16,
                sock_type: (arg("a1")?.unwrap_or_default() as i32) & SOCK_TYPE_MASK,
                protocol: arg("a2")?.unwrap_or_default() as i32,
                local: None,
                remote: None,
            }),
            _ => None,
        };
        let filter = match call {
            NetCall::SetSockOpt => Some(FilterAttach {
                option: arg("a2")?.unwrap_or_default() as u8,
                instructions: None,
                program: None,
            }),
            _ => None,
        };
        let fd = match call {
            NetCall::Socket => exit.filter(|&e| e >= 0).map(|e| e as u64),
            _ => fd,
        };
        let saddr = event
            .record(msgtype::SOCKADDR)
            .and_then(|r| r.get("saddr"))
            .and_then(Value::bytes);
        let (addr, addr_raw) = match saddr.map(|b| (parse_sockaddr(b), b)) {
            None => (None, None),
            Some((Ok(a), _)) => (Some(a), None),
            Some((Err(_), b)) => (None, Some(b.to_vec())),
        };
        Ok(NetEvent {
            id: event.id,
            complete: event.is_complete(),
            arch,
            syscall,
            call,
            success,
            exit,
            errno,
            subject: Subject::from_syscall(sc)?,
            fd,
            addr,
            addr_raw,
            keys: sc.rule_keys(),
            socket: None,
            first_look: None,
            cookie: None,
            asked,
            filter,
        })
    }
}

/// Warden's network rules for this machine's ABIs: `always,exit` on connect, accept, accept4,
/// bind and listen, tagged with `key` (see [`net_rules_for`]). Each of these syscalls is audited
/// for every address family: the kernel cannot filter on `saddr`, so Unix-socket and netlink
/// noise (D-Bus, journald, nscd) is dropped by the agent after [`parse_sockaddr`].
pub fn net_rules(key: &str) -> Vec<AuditRule> {
    let arches: &[u32] = if cfg!(target_arch = "x86_64") {
        &[arch::X86_64, arch::I386]
    } else if cfg!(target_arch = "aarch64") {
        &[arch::AARCH64]
    } else if cfg!(target_arch = "x86") {
        &[arch::I386]
    } else if cfg!(target_arch = "riscv64") {
        &[arch::RISCV64]
    } else {
        &[]
    };
    arches.iter().flat_map(|&a| net_rules_for(a, key)).collect()
}

/// The network rules for one ABI (empty if its numbers are unknown).
///
/// * x86-64: `-F arch=b64 -S connect,accept,bind,listen,accept4` (42, 43, 49, 50, 288).
/// * i386: `-F arch=b32 -S bind,connect,listen,accept4` (361–364), plus `socketcall` (102)
///   restricted to its bind, connect, listen and accept calls (`-F a0>=2 -F a0<=5`) and to
///   accept4 (`-F a0=18`): all of socketcall would audit every send and receive.
/// * aarch64 / riscv64: `-S bind,listen,accept,connect,accept4` (200–203, 242).
pub fn net_rules_for(abi: u32, key: &str) -> Vec<AuditRule> {
    let rule = |nrs: &[u32]| AuditRule::exit_always(abi).syscalls(nrs).key(key);
    let mut rules = match abi {
        arch::X86_64 => vec![rule(&[42, 43, 49, 50, 288])],
        arch::I386 => vec![
            rule(&[361, 362, 363, 364]),
            rule(&[I386_SOCKETCALL])
                .field(field::ARG0, Op::Ge, FieldValue::Num(2))
                .field(field::ARG0, Op::Le, FieldValue::Num(5)),
            rule(&[I386_SOCKETCALL]).field(field::ARG0, Op::Eq, FieldValue::Num(18)),
        ],
        arch::AARCH64 | arch::RISCV64 => vec![rule(&[200, 201, 202, 203, 242])],
        _ => return Vec::new(),
    };
    let (socket, setsockopt) = match abi {
        arch::X86_64 => (41, 54),
        arch::I386 => (359, 366),
        _ => (198, 208),
    };
    rules.extend(below_transports_rules(abi, socket, setsockopt, key));
    rules
}

/// The rules for the sockets that see or make packets below the transports (as the eBPF
/// socket program chooses them) and for packet filters attached, on the arguments, so that
/// the sockets and options of ordinary traffic are not audited:
/// * `socket` with `a0=17` (a packet socket);
/// * `socket` with `a0=2` or `a0=10` and `a1&=3` (a raw socket: the type's two low bits, which
///   no other type has both of, whatever flags ride with it);
/// * `socket` with `a0=2 a2=1` or `a0=10 a2=58` (an ICMP socket: a ping socket, or raw);
/// * `setsockopt` with `a1=1` (`SOL_SOCKET`) and `a2=26` (`SO_ATTACH_FILTER`) or `a2` 50-52
///   (`SO_ATTACH_BPF`, `SO_ATTACH_REUSEPORT_CBPF`, `_EBPF`).
///
/// (i386's `socketcall` keeps its arguments in memory, where no rule can look: not covered.)
fn below_transports_rules(abi: u32, socket: u32, setsockopt: u32, key: &str) -> Vec<AuditRule> {
    let num = FieldValue::Num;
    let on = |nr: u32| AuditRule::exit_always(abi).syscalls(&[nr]).key(key);
    let family = |f: u16| on(socket).field(field::ARG0, Op::Eq, num(u32::from(f)));
    vec![
        family(family::PACKET),
        family(family::INET).field(field::ARG1, Op::BitTest, num(3)),
        family(family::INET6).field(field::ARG1, Op::BitTest, num(3)),
        family(family::INET).field(field::ARG2, Op::Eq, num(1)),
        family(family::INET6).field(field::ARG2, Op::Eq, num(58)),
        on(setsockopt)
            .field(field::ARG1, Op::Eq, num(1))
            .field(field::ARG2, Op::Eq, num(26)),
        on(setsockopt)
            .field(field::ARG1, Op::Eq, num(1))
            .field(field::ARG2, Op::Ge, num(50))
            .field(field::ARG2, Op::Le, num(52)),
    ]
}

/// Rules for sendto, sendmsg and recvfrom on this machine's native ABI (x86-64 44/46/45,
/// aarch64 and riscv64 206/211/207). Off by default: audit cannot look at their address
/// argument (it is beyond `a3`, or inside a `msghdr`), so every send and receive on the host is
/// audited and the agent keeps only those whose SOCKADDR names a peer — unconnected datagrams.
pub fn datagram_rules(key: &str) -> Vec<AuditRule> {
    let (abi, nrs): (u32, &[u32]) = if cfg!(target_arch = "x86_64") {
        (arch::X86_64, &[44, 45, 46])
    } else if cfg!(target_arch = "aarch64") {
        (arch::AARCH64, &[206, 207, 211])
    } else if cfg!(target_arch = "riscv64") {
        (arch::RISCV64, &[206, 207, 211])
    } else {
        return Vec::new();
    };
    vec![AuditRule::exit_always(abi).syscalls(nrs).key(key)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::rules::RuleData;

    use crate::audit::assemble::event_of as ev;

    fn sin(addr: [u8; 4], port: u16) -> Vec<u8> {
        let mut b = family::INET.to_ne_bytes().to_vec();
        b.extend_from_slice(&port.to_be_bytes());
        b.extend_from_slice(&addr);
        b.extend_from_slice(&[0; 8]);
        b
    }

    fn sin6(addr: Ipv6Addr, port: u16, scope: u32) -> Vec<u8> {
        let mut b = family::INET6.to_ne_bytes().to_vec();
        b.extend_from_slice(&port.to_be_bytes());
        b.extend_from_slice(&7u32.to_be_bytes());
        b.extend_from_slice(&addr.octets());
        b.extend_from_slice(&scope.to_ne_bytes());
        b
    }

    fn sun(path: &[u8]) -> Vec<u8> {
        let mut b = family::UNIX.to_ne_bytes().to_vec();
        b.extend_from_slice(path);
        b
    }

    #[test]
    fn inet() {
        let a = parse_sockaddr(&sin([127, 0, 0, 1], 8080)).unwrap();
        assert_eq!(
            a,
            SockAddr::Inet {
                addr: Ipv4Addr::LOCALHOST,
                port: 8080
            }
        );
        assert_eq!(a.to_string(), "127.0.0.1:8080");
        assert_eq!(a.family(), family::INET);
        assert_eq!(a.port(), Some(8080));
        // sin_zero may be left out.
        assert_eq!(
            parse_sockaddr(&sin([1, 2, 3, 4], 1)[..8]).unwrap().port(),
            Some(1)
        );
        for n in 2..8 {
            assert_eq!(
                parse_sockaddr(&sin([1, 2, 3, 4], 1)[..n]),
                Err(SockAddrError::Truncated {
                    family: Some(2),
                    len: n
                })
            );
        }
    }

    #[test]
    fn inet6() {
        let ip: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let a = parse_sockaddr(&sin6(ip, 443, 0)).unwrap();
        assert_eq!(a.ip(), Some(IpAddr::V6(ip)));
        assert_eq!(a.to_string(), "[2001:db8::1]:443");
        let SockAddr::Inet6 { flowinfo, .. } = a else {
            panic!()
        };
        assert_eq!(flowinfo, 7);
        let ll = parse_sockaddr(&sin6("fe80::1".parse().unwrap(), 22, 2)).unwrap();
        assert_eq!(ll.to_string(), "[fe80::1%2]:22");
        // RFC 2133 size without scope id.
        let short = parse_sockaddr(&sin6(Ipv6Addr::LOCALHOST, 1, 9)[..24]).unwrap();
        assert_eq!(short.to_string(), "[::1]:1");
        assert!(matches!(
            parse_sockaddr(&sin6(ip, 1, 0)[..23]),
            Err(SockAddrError::Truncated { .. })
        ));
        // v4-mapped keeps its RFC 5952 form.
        let m = parse_sockaddr(&sin6("::ffff:10.0.0.1".parse().unwrap(), 5, 0)).unwrap();
        assert_eq!(m.to_string(), "[::ffff:10.0.0.1]:5");
    }

    #[test]
    fn unix() {
        let p = parse_sockaddr(&sun(b"/run/x.sock\0\0\0")).unwrap();
        assert_eq!(p, SockAddr::Unix(UnixAddr::Path(b"/run/x.sock".to_vec())));
        assert_eq!(p.unix_path().unwrap(), b"/run/x.sock");
        assert_eq!(p.to_string(), "unix:/run/x.sock");
        let a = parse_sockaddr(&sun(b"\0name\0x")).unwrap();
        assert_eq!(a, SockAddr::Unix(UnixAddr::Abstract(b"name\0x".to_vec())));
        assert_eq!(a.unix_path().unwrap(), b"@name\0x");
        let u = parse_sockaddr(&sun(b"")).unwrap();
        assert_eq!(u, SockAddr::Unix(UnixAddr::Unnamed));
        assert_eq!(u.unix_path(), None);
        assert_eq!(u.to_string(), "unix:(unnamed)");
        // A path filling all 108 bytes has no NUL.
        let long = vec![b'a'; UNIX_PATH_MAX];
        assert_eq!(
            parse_sockaddr(&sun(&long)).unwrap().unix_path().unwrap(),
            long
        );
    }

    #[test]
    fn netlink_and_others() {
        let mut b = family::NETLINK.to_ne_bytes().to_vec();
        b.extend_from_slice(&[0, 0]);
        b.extend_from_slice(&1234u32.to_ne_bytes());
        b.extend_from_slice(&5u32.to_ne_bytes());
        let n = parse_sockaddr(&b).unwrap();
        assert_eq!(
            n,
            SockAddr::Netlink {
                pid: 1234,
                groups: 5
            }
        );
        assert_eq!(n.to_string(), "netlink:pid=1234,groups=0x5");
        assert!(matches!(
            parse_sockaddr(&b[..11]),
            Err(SockAddrError::Truncated {
                family: Some(16),
                len: 11
            })
        ));
        let mut o = 40u16.to_ne_bytes().to_vec();
        o.extend_from_slice(&[0xab, 1]);
        let o = parse_sockaddr(&o).unwrap();
        assert_eq!(o.family(), 40);
        assert_eq!(o.to_string(), "family=40:ab01");
        assert_eq!(family::name(o.family()), Some("AF_VSOCK"));
        assert_eq!(o.ip(), None);
    }

    #[test]
    fn packet_addresses_name_the_interface_and_the_link_protocol() {
        // sockaddr_ll as a sniffer binds it: ETH_P_ALL (network order) on interface 2, then
        // hardware type, packet type, address length and address, all ignored.
        let mut ll = family::PACKET.to_ne_bytes().to_vec();
        ll.extend_from_slice(&0x0003u16.to_be_bytes());
        ll.extend_from_slice(&2i32.to_ne_bytes());
        ll.extend_from_slice(&[0; 12]);
        let a = parse_sockaddr(&ll).unwrap();
        assert_eq!(
            a,
            SockAddr::Packet {
                protocol: 3,
                ifindex: 2
            }
        );
        assert_eq!(a.family(), family::PACKET);
        assert_eq!(a.to_string(), "packet:ifindex=2,protocol=0x0003");
        // IPv4 only (0x0800) on every interface: the head is enough.
        let head = [&ll[..2], &0x0800u16.to_be_bytes(), &0i32.to_ne_bytes()].concat();
        assert_eq!(
            parse_sockaddr(&head).unwrap(),
            SockAddr::Packet {
                protocol: 0x0800,
                ifindex: 0
            }
        );
        assert!(matches!(
            parse_sockaddr(&ll[..7]),
            Err(SockAddrError::Truncated {
                family: Some(17),
                len: 7
            })
        ));
    }

    #[test]
    fn garbage() {
        assert_eq!(
            parse_sockaddr(&[]),
            Err(SockAddrError::Truncated {
                family: None,
                len: 0
            })
        );
        assert!(parse_sockaddr(&[2]).is_err());
        assert_eq!(
            parse_sockaddr(&[0xff; 200]),
            Err(SockAddrError::TooLong(200))
        );
        let junk = parse_sockaddr(&[0xfe, 0xca, 1, 2, 3]).unwrap();
        assert!(matches!(junk, SockAddr::Other { .. }));
    }

    const SC: &str = "arch=c000003e syscall=42 success=no exit=-111 a0=3 a1=7ffd a2=10 a3=0 \
                      items=0 ppid=10 pid=11 auid=1000 uid=1 gid=2 euid=3 suid=4 fsuid=5 egid=6 \
                      sgid=7 fsgid=8 tty=pts0 ses=3 comm=\"curl\" exe=\"/usr/bin/curl\" \
                      key=\"wardennet\"";

    #[test]
    fn refused_connect() {
        let e = NetEvent::from_event(&ev(&[
            (1300, SC),
            (1306, "saddr=020000507F0000010000000000000000"),
            (1327, "proctitle=6375726C"),
        ]))
        .unwrap();
        assert_eq!(e.call, NetCall::Connect);
        assert_eq!(e.call.name(), "connect");
        assert_eq!(
            (e.success, e.exit, e.errno),
            (Some(false), Some(-111), Some("ECONNREFUSED"))
        );
        assert_eq!(
            (
                e.subject.pid,
                e.subject.ppid,
                e.subject.uid,
                e.subject.euid,
                e.subject.gid,
                e.subject.egid
            ),
            (11, 10, 1, 3, 2, 6)
        );
        assert_eq!(
            (e.subject.auid, e.subject.ses, e.fd),
            (Some(1000), Some(3), Some(3))
        );
        assert_eq!(e.subject.comm.as_deref(), Some(&b"curl"[..]));
        assert_eq!(e.remote().unwrap().to_string(), "127.0.0.1:80");
        assert_eq!(e.local(), None);
        assert!(e.has_key(b"wardennet"));
    }

    #[test]
    fn socketcall_and_bad_saddr() {
        let sc = SC
            .replace("c000003e", "40000003")
            .replace("syscall=42", "syscall=102")
            .replace("a0=3 ", "a0=2 ")
            .replace("success=no exit=-111", "success=yes exit=0");
        let e = NetEvent::from_event(&ev(&[
            (1300, &sc),
            (1304, "nargs=3 a0=5 a1=ffd0 a2=10"),
            (1306, "saddr=0200"),
        ]))
        .unwrap();
        assert_eq!((e.call, e.fd, e.errno), (NetCall::Bind, Some(5), None));
        assert_eq!(e.addr, None);
        assert_eq!(e.addr_raw.as_deref(), Some(&[2u8, 0][..]));
        // socketcall(SYS_SOCKET) is not a network call Warden decodes.
        let socket = sc.replace("a0=2 ", "a0=1 ");
        assert_eq!(
            NetEvent::from_event(&ev(&[(1300, &socket)])),
            Err(NetError::NotNet)
        );
    }

    #[test]
    fn listen_and_errors() {
        let l = SC
            .replace("syscall=42", "syscall=50")
            .replace("success=no exit=-111", "success=yes exit=0");
        let e = NetEvent::from_event(&ev(&[(1300, &l)])).unwrap();
        assert_eq!(
            (e.call, e.addr_role(), e.addr),
            (NetCall::Listen, AddrRole::None, None)
        );
        assert_eq!(
            NetEvent::from_event(&ev(&[(1306, "saddr=0100")])),
            Err(NetError::NoSyscall)
        );
        let exec = SC.replace("syscall=42", "syscall=59");
        assert_eq!(
            NetEvent::from_event(&ev(&[(1300, &exec)])),
            Err(NetError::NotNet)
        );
        let no_pid = SC.replace(" pid=11", "");
        assert_eq!(
            NetEvent::from_event(&ev(&[(1300, &no_pid)])),
            Err(NetError::MissingField("pid"))
        );
        let bad_fd = SC.replace("a0=3", "a0=zz");
        assert_eq!(
            NetEvent::from_event(&ev(&[(1300, &bad_fd)])),
            Err(NetError::BadField("a0"))
        );
        assert_eq!(
            net_syscall(arch::X86_64, 288),
            Some(NetSyscall::Direct(NetCall::Accept4))
        );
        assert_eq!(
            net_syscall(arch::I386, 362),
            Some(NetSyscall::Direct(NetCall::Connect))
        );
        assert_eq!(net_syscall(arch::ARM, 283), None);
        assert_eq!(errno_name(115), Some("EINPROGRESS"));
        assert_eq!(errno_name(9999), None);
    }

    #[test]
    fn rules_encode_and_decode() {
        for abi in [arch::X86_64, arch::I386, arch::AARCH64] {
            for r in net_rules_for(abi, "wardennet") {
                let d = RuleData::decode(&r.encode().unwrap()).unwrap();
                assert_eq!(d.arch(), Some(abi));
                assert!(d.has_key(b"wardennet"));
            }
        }
        let b64 = &net_rules_for(arch::X86_64, "k")[0];
        assert_eq!(b64.syscalls, [42, 43, 49, 50, 288]);
        assert_eq!(net_rules_for(arch::I386, "k").len(), 3 + 7);
        assert!(net_rules_for(arch::S390X, "k").is_empty());
        if cfg!(target_arch = "x86_64") {
            assert_eq!(net_rules("k").len(), 2 * 7 + 4);
        }
    }

    /// The packet, raw and ICMP sockets' rules look at the arguments, so that an ordinary
    /// socket or option is not audited: each rule as auditctl would show it.
    #[test]
    fn socket_rules_choose_sockets_by_their_arguments() {
        let shown: Vec<String> = net_rules_for(arch::X86_64, "k")[1..]
            .iter()
            .map(|r| {
                let d = RuleData::decode(&r.encode().unwrap()).unwrap();
                let fields: Vec<String> = d
                    .fields
                    .iter()
                    .filter(|(id, ..)| (field::ARG0..=field::ARG3).contains(id))
                    .map(|(id, op, value)| {
                        let op = match *op {
                            c if c == Op::Eq.code() => "=",
                            c if c == Op::Ge.code() => ">=",
                            c if c == Op::Le.code() => "<=",
                            c if c == Op::BitTest.code() => "&=",
                            _ => "?",
                        };
                        format!("a{}{op}{value:?}", id - field::ARG0)
                    })
                    .collect();
                format!("{:?} {}", d.syscalls(), fields.join(" "))
            })
            .collect();
        assert_eq!(
            shown,
            [
                "[41] a0=Num(17)",
                "[41] a0=Num(2) a1&=Num(3)",
                "[41] a0=Num(10) a1&=Num(3)",
                "[41] a0=Num(2) a2=Num(1)",
                "[41] a0=Num(10) a2=Num(58)",
                "[54] a1=Num(1) a2=Num(26)",
                "[54] a1=Num(1) a2>=Num(50) a2<=Num(52)",
            ]
        );
    }

    /// socket(2) as audit records it: the socket as asked for from a0-a2 (the type without
    /// its flags), the new fd from the result; setsockopt: the option from a2.
    #[test]
    fn sockets_made_and_filters_attached() {
        let made = NetEvent::from_event(&ev(&[(
            1300,
            "arch=c000003e syscall=41 success=yes exit=5 a0=11 a1=80003 a2=300 a3=0 items=0 \
             ppid=1 pid=9 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 \
             tty=pts0 ses=1 comm=\"sniff\" exe=\"/tmp/sniff\" key=\"wardennet\"",
        )]))
        .unwrap();
        assert_eq!(made.call, NetCall::Socket);
        assert_eq!(made.fd, Some(5), "the new socket");
        let asked = made.asked.as_ref().expect("the socket as asked for");
        assert_eq!(
            (asked.family, asked.sock_type, asked.transport()),
            (family::PACKET, 3, Some("all"))
        );
        assert_eq!(made.filter, None);

        let refused = NetEvent::from_event(&ev(&[(
            1300,
            "arch=c000003e syscall=41 success=no exit=-1 a0=2 a1=3 a2=1 a3=0 items=0 \
             ppid=1 pid=9 auid=0 uid=1000 gid=0 euid=1000 suid=0 fsuid=0 egid=0 sgid=0 \
             fsgid=0 tty=pts0 ses=1 comm=\"ping\" exe=\"/bin/ping\" key=\"wardennet\"",
        )]))
        .unwrap();
        assert_eq!((refused.fd, refused.errno), (None, Some("EPERM")));
        assert_eq!(refused.asked.and_then(|a| a.transport()), Some("icmp"));

        let attached = NetEvent::from_event(&ev(&[(
            1300,
            "arch=c000003e syscall=54 success=yes exit=0 a0=5 a1=1 a2=1a a3=7ffd items=0 \
             ppid=1 pid=9 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 \
             tty=pts0 ses=1 comm=\"sniff\" exe=\"/tmp/sniff\" key=\"wardennet\"",
        )]))
        .unwrap();
        assert_eq!((attached.call, attached.fd), (NetCall::SetSockOpt, Some(5)));
        let filter = attached.filter.expect("the filter");
        assert_eq!(
            (filter.option_name().as_str(), filter.instructions),
            ("SO_ATTACH_FILTER", None)
        );
        assert_eq!(attached.asked, None);
    }
}

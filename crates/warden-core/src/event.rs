//! The one event model: what every source produces and every sink (store, JSON stream, SQL)
//! consumes. Sources fill what they know; enrichment fills the rest; nothing here does IO.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::argv::Argv;
use crate::identity::ProcessKey;

/// One thing that happened on the host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// When it happened: nanoseconds since the UNIX epoch, UTC.
    pub time_ns: i64,
    pub host: String,
    pub kind: EventKind,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventKind {
    Exec(ExecEvent),
    Fork(ForkEvent),
    Exit(ExitEvent),
    /// A socket call (connect, accept, bind, listen, send, receive; a raw or packet socket's
    /// making, a filter attached), or a non-blocking connect's outcome.
    Network(NetworkEvent),
    /// A file change, or a read of a watched (sensitive) file.
    File(FileEvent),
    /// Events that could not be recorded: the loss itself is an event.
    Loss(LossEvent),
}

impl EventKind {
    /// The event class name users filter on (`warden events --class`).
    pub fn class(&self) -> &'static str {
        match self {
            EventKind::Exec(_) => "exec",
            EventKind::Fork(_) => "fork",
            EventKind::Exit(_) => "exit",
            EventKind::Network(_) => "network",
            EventKind::File(_) => "file",
            EventKind::Loss(_) => "loss",
        }
    }

    /// What happened within the class: `exec`, `connect`, `rename`... (the store's `action`).
    pub fn action(&self) -> &'static str {
        match self {
            EventKind::Network(e) => e.action.name(),
            EventKind::File(e) => e.action.name(),
            other => other.class(),
        }
    }

    /// The outcome, for events that have one.
    pub fn success(&self) -> Option<bool> {
        match self {
            EventKind::Exec(e) => Some(e.success),
            EventKind::Network(e) => Some(e.success),
            EventKind::File(e) => Some(e.success),
            _ => None,
        }
    }

    /// The process the event is about, if any.
    pub fn process(&self) -> Option<&Process> {
        match self {
            EventKind::Exec(e) => Some(&e.process),
            EventKind::Fork(e) => Some(&e.child),
            EventKind::Exit(e) => Some(&e.process),
            EventKind::Network(e) => Some(&e.process),
            EventKind::File(e) => Some(&e.process),
            EventKind::Loss(_) => None,
        }
    }

    /// The sha256 digests the event names: its process's image (an exec's), the script an
    /// exec ran, and the content a file change left.
    pub fn digests(&self) -> impl Iterator<Item = &str> {
        let image = self
            .process()
            .and_then(|p| p.executable.as_ref()?.sha256.as_deref());
        let other = match self {
            EventKind::File(e) => e.content.as_ref().and_then(|c| c.sha256.as_deref()),
            EventKind::Exec(e) => e
                .script
                .as_ref()
                .and_then(|s| s.file.as_ref()?.sha256.as_deref()),
            _ => None,
        };
        image.into_iter().chain(other)
    }

    /// The domain names a network event names: a DNS message's question, the name its
    /// process looked up for the peer, and the one a connection's first bytes asked for (a
    /// ClientHello's server name, an HTTP request's host).
    pub fn domains(&self) -> impl Iterator<Item = &str> {
        let (asked, peer, requested) = match self {
            EventKind::Network(e) => (
                e.dns
                    .as_ref()
                    .and_then(|m| Some(m.question.as_ref()?.name.as_str())),
                e.remote_name.as_deref(),
                e.requested_name(),
            ),
            _ => (None, None, None),
        };
        asked.into_iter().chain(peer).chain(requested)
    }
}

/// A process as an event describes it: identity, credentials, image and parent.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Process {
    pub key: Option<ProcessKey>,
    pub pid: u32,
    /// The parent pid the kernel reports now (1 or a subreaper after re-parenting).
    pub ppid: Option<u32>,
    /// The parent pid at creation, when it differs from `ppid` (the process was re-parented).
    pub original_ppid: Option<u32>,
    /// Process start, nanoseconds since the UNIX epoch.
    pub start_ns: Option<i64>,
    pub uid: Option<u32>,
    pub euid: Option<u32>,
    pub gid: Option<u32>,
    pub egid: Option<u32>,
    pub user_name: Option<String>,
    pub euser_name: Option<String>,
    pub group_name: Option<String>,
    /// Login uid (audit's auid) and session id; None when unset.
    pub auid: Option<u32>,
    pub session_id: Option<u32>,
    pub tty: Option<String>,
    pub comm: Option<String>,
    /// Executable path, as bytes: paths need not be UTF-8.
    #[serde(with = "serde_bytes")]
    pub exe: Option<Vec<u8>>,
    pub args: Argv,
    #[serde(with = "serde_bytes")]
    pub cwd: Option<Vec<u8>>,
    pub executable: Option<Executable>,
    pub container_id: Option<String>,
    pub parent: Option<Parent>,
}

impl Process {
    pub fn entity_id(&self) -> Option<String> {
        self.key.map(|k| k.entity_id())
    }
}

/// The parent of a process, as far as known when the event was made.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Parent {
    pub key: Option<ProcessKey>,
    pub pid: u32,
    #[serde(with = "serde_bytes")]
    pub exe: Option<Vec<u8>>,
    pub args: Argv,
}

/// What Warden learned about an executable file (computed once per file version).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Executable {
    pub sha256: Option<String>,
    pub size: Option<u64>,
    pub inode: Option<u64>,
    pub device: Option<u64>,
    pub owner_uid: Option<u32>,
    pub owner_gid: Option<u32>,
    /// Permission bits and file type, as `st_mode`.
    pub mode: Option<u32>,
    pub mtime_ns: Option<i64>,
    pub ctime_ns: Option<i64>,
    /// The Debian package that installed the file, if any.
    pub package: Option<String>,
    /// Whether the file still matches the digest its package recorded (None: no digest known).
    pub package_verified: Option<bool>,
    /// The ELF GNU build-id, hex.
    pub build_id: Option<String>,
    /// Download origin and referrer (`user.xdg.origin.url`, `user.xdg.referrer.url` xattrs).
    /// Without the xattr, the origin is the URL the process that wrote this content had last
    /// requested (an HTTP request's whole URL, a TLS hello's `https://server/`), where the
    /// agent saw both.
    pub origin_url: Option<String>,
    pub referrer_url: Option<String>,
}

/// Which kernel interface reported an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Source {
    /// The kernel audit stream: complete argv, exe, cwd from the records themselves.
    Audit,
    /// The process connector, completed from /proc (racy for short-lived processes).
    ProcConnector,
    /// Warden's eBPF program at the scheduler tracepoints: identities, credentials, exe, cwd
    /// and argv read from the task at exec.
    Ebpf,
    /// Found running in /proc when the agent started.
    ProcScan,
    /// A fanotify group (file events; the kernel gives the pid, the process table the rest).
    Fanotify,
    /// The kernel's socket diagnostics (`sock_diag`): the end of a TCP connection audit
    /// recorded, and looks at it while open, with its traffic (the process is its call's).
    SockDiag,
}

impl Source {
    pub fn name(self) -> &'static str {
        match self {
            Source::Audit => "audit",
            Source::ProcConnector => "proc_connector",
            Source::Ebpf => "ebpf",
            Source::ProcScan => "procfs",
            Source::Fanotify => "fanotify",
            Source::SockDiag => "sock_diag",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecEvent {
    pub process: Process,
    pub source: Source,
    /// `execve` or `execveat`, when the source knows.
    pub syscall: Option<String>,
    pub success: bool,
    /// The syscall's return value or errno (audit `exit=`).
    pub exit: Option<i64>,
    /// The file the exec named, when an interpreter runs it: a `#!` script, whose
    /// interpreter is then the process's executable (`/bin/sh` running `./stage2`). The last
    /// field (see [`crate::EVENT_ENCODING`]).
    pub script: Option<Box<Script>>,
}

/// The file an exec named that an interpreter runs: a `#!` script, or a binfmt_misc format's
/// file (a `.jar`, another architecture's binary).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Script {
    /// Its absolute path where the process ran, as the kernel names it (" (deleted)" once it
    /// has no name left).
    #[serde(with = "serde_bytes")]
    pub path: Vec<u8>,
    /// What Warden learned of it, as of an executable (its sha256 first).
    pub file: Option<Executable>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForkEvent {
    /// The new process; its `parent` is the forking process.
    pub child: Process,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitEvent {
    pub process: Process,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    /// How long the process lived, when its start is known.
    pub duration_ns: Option<i64>,
}

/// Events that were lost, and why: the loss is itself recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LossEvent {
    /// Where: "audit", "proc_connector", "pipeline", "store", ...
    pub source: String,
    /// Why: "kernel_lost", "socket_overrun", "queue_full", "malformed", ...
    pub cause: String,
    pub count: u64,
}

/// What a socket call did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum NetAction {
    /// connect(2): an outgoing connection (or a datagram socket's default peer).
    Connect,
    /// accept(2)/accept4(2): an incoming connection taken.
    Accept,
    /// bind(2): a local address claimed.
    Bind,
    /// listen(2): a stream socket made a listener.
    Listen,
    /// sendto(2)/sendmsg(2) with an address (unconnected datagrams; off by default).
    Send,
    /// recvfrom(2) with an address.
    Receive,
    /// The end of the TCP handshake a non-blocking connect began (the connect returned
    /// `EINPROGRESS`): established, or failed with its error. Not a call: the kernel's.
    ConnectResult,
    /// socket(2) of a socket that sees or makes packets below the transports: a raw IP
    /// socket, a packet socket (`AF_PACKET`: a sniffer's, or a backdoor's that listens with no
    /// port), an ICMP ("ping") socket. Other sockets are told by what they do next.
    Socket,
    /// A packet filter attached to a socket (`SO_ATTACH_FILTER`, `SO_ATTACH_BPF` and their
    /// `SO_ATTACH_REUSEPORT_*` kin): what a packet socket keeps of the traffic it sees.
    Filter,
    /// The end of a TCP connection a `connect` or an `accept` recorded, as the kernel closed
    /// it: how long it lasted, how it ended and what went each way
    /// ([`NetworkEvent::traffic`]). Not a call: for the process that made or took the
    /// connection, which may have exited by then. Also a datagram socket's end (UDP, ICMP,
    /// raw IP), as it was released, with what went each way, for the process of its first
    /// datagram.
    Close,
    /// A TCP connection a `connect` or an `accept` recorded, still open: its traffic so far
    /// ([`NetworkEvent::traffic`]), looked at now and then and as the agent stops. A
    /// connection held for days tells what went over it before it ends. Also a UDP socket
    /// with traffic, still open.
    Traffic,
    /// A DNS query a process sent ([`NetworkEvent::dns`]): the name it asked about.
    /// Not a call: read from the packet.
    DnsQuery,
    /// A DNS answer to a process's query ([`NetworkEvent::dns`]): the records the name
    /// resolved to, or why not. For the process that sent the last query over its socket.
    DnsAnswer,
    /// The TLS ClientHello an outgoing connection opened with ([`NetworkEvent::tls`]): the
    /// server name it asked for, its protocols and fingerprints. Not a call: read from the
    /// connection's first packet with data, for the process that made the connection.
    TlsHello,
    /// The HTTP request an outgoing plain-HTTP connection opened with
    /// ([`NetworkEvent::http`]): its method, target, host and user agent. Likewise.
    HttpRequest,
    /// The TLS ClientHello a connection made to this host opened with
    /// ([`NetworkEvent::tls`]): the name the client asked this host for, and the client's
    /// fingerprints (a scanner's, an exploit kit's). Not a call: read from the connection's
    /// first packet with data, for the process that accepted the connection.
    TlsHelloReceived,
    /// The HTTP request a plain-HTTP connection made to this host opened with, or a later one
    /// on it ([`NetworkEvent::http`]): what a client asked of a server here (an exploit's URL,
    /// its user agent). Likewise.
    HttpRequestReceived,
    /// The identification an outgoing SSH connection's client opened with
    /// ([`NetworkEvent::ssh`]): the software it claims and, where its first key exchange
    /// message came with it, its HASSH. Not a call: read from the connection's first packet
    /// with data, for the process that made the connection.
    SshHello,
    /// The same of an SSH client connecting to this host, for the process that accepted the
    /// connection (a brute-forcer's library, whatever its banner says, by its HASSH).
    SshHelloReceived,
    /// The TLS ServerHello a server answered an outgoing connection with
    /// ([`NetworkEvent::server_hello`]): the version, cipher and protocol it chose, and its
    /// JA3S (with the client's JA3, a C2 server's). Not a call: read from the connection's
    /// first packet with data received, for the process that made the connection.
    TlsServerHello,
    /// The HTTP response a server answered an outgoing plain-HTTP connection's first request
    /// with ([`NetworkEvent::response`]): its status, what it sent (type, length) and where it
    /// sent the client on (`Location`). Likewise: whether the fetch of a payload worked.
    HttpResponse,
    /// The identification an SSH server answered an outgoing connection with
    /// ([`NetworkEvent::ssh`], no HASSH): the server's software. Likewise.
    SshServerHello,
    /// The ServerHello a server here answered a connection made to it with, for the process
    /// that accepted the connection. Not a call: read from the connection's first packet with
    /// data sent.
    TlsServerHelloSent,
    /// The HTTP response a server here answered a connection's first request with: whether
    /// what a client asked of it (an exploit's URL) was served. Likewise.
    HttpResponseSent,
    /// The identification an SSH server here answered a connection with. Likewise.
    SshServerHelloSent,
    /// The greeting a server that speaks first sent an outgoing connection
    /// ([`NetworkEvent::banner`]): SMTP's or FTP's `220 mx.example ESMTP Postfix`, POP3's
    /// `+OK`, IMAP's `* OK`: the mail or file server a process reached (a spam bot's, an
    /// exfiltration's), and its software. Not a call: read from the connection's first packet
    /// with data received, for the process that made the connection.
    ServerBanner,
    /// The greeting a server here sent a connection made to it. Likewise, for the process that
    /// accepted the connection.
    ServerBannerSent,
}

impl NetAction {
    pub const ALL: [NetAction; 27] = [
        NetAction::Connect,
        NetAction::Accept,
        NetAction::Bind,
        NetAction::Listen,
        NetAction::Send,
        NetAction::Receive,
        NetAction::ConnectResult,
        NetAction::Socket,
        NetAction::Filter,
        NetAction::Close,
        NetAction::Traffic,
        NetAction::DnsQuery,
        NetAction::DnsAnswer,
        NetAction::TlsHello,
        NetAction::HttpRequest,
        NetAction::TlsHelloReceived,
        NetAction::HttpRequestReceived,
        NetAction::SshHello,
        NetAction::SshHelloReceived,
        NetAction::TlsServerHello,
        NetAction::HttpResponse,
        NetAction::SshServerHello,
        NetAction::TlsServerHelloSent,
        NetAction::HttpResponseSent,
        NetAction::SshServerHelloSent,
        NetAction::ServerBanner,
        NetAction::ServerBannerSent,
    ];

    pub fn name(self) -> &'static str {
        match self {
            NetAction::Connect => "connect",
            NetAction::Accept => "accept",
            NetAction::Bind => "bind",
            NetAction::Listen => "listen",
            NetAction::Send => "send",
            NetAction::Receive => "receive",
            NetAction::ConnectResult => "connect_result",
            NetAction::Socket => "socket",
            NetAction::Filter => "filter",
            NetAction::Close => "close",
            NetAction::Traffic => "traffic",
            NetAction::DnsQuery => "dns_query",
            NetAction::DnsAnswer => "dns_answer",
            NetAction::TlsHello => "tls_hello",
            NetAction::HttpRequest => "http_request",
            NetAction::TlsHelloReceived => "tls_hello_received",
            NetAction::HttpRequestReceived => "http_request_received",
            NetAction::SshHello => "ssh_hello",
            NetAction::SshHelloReceived => "ssh_hello_received",
            NetAction::TlsServerHello => "tls_server_hello",
            NetAction::HttpResponse => "http_response",
            NetAction::SshServerHello => "ssh_server_hello",
            NetAction::TlsServerHelloSent => "tls_server_hello_sent",
            NetAction::HttpResponseSent => "http_response_sent",
            NetAction::SshServerHelloSent => "ssh_server_hello_sent",
            NetAction::ServerBanner => "server_banner",
            NetAction::ServerBannerSent => "server_banner_sent",
        }
    }

    pub fn from_name(name: &str) -> Option<NetAction> {
        NetAction::ALL.into_iter().find(|a| a.name() == name)
    }

    /// Whether it is a request a client made of this host (a hello, an HTTP request received).
    pub fn is_received_request(self) -> bool {
        matches!(
            self,
            NetAction::TlsHelloReceived
                | NetAction::HttpRequestReceived
                | NetAction::SshHelloReceived
        )
    }

    /// Whether it is a server's answer, received by a client here or sent by a server here.
    pub fn is_answer(self) -> bool {
        matches!(
            self,
            NetAction::TlsServerHello
                | NetAction::HttpResponse
                | NetAction::SshServerHello
                | NetAction::TlsServerHelloSent
                | NetAction::HttpResponseSent
                | NetAction::SshServerHelloSent
                | NetAction::ServerBanner
                | NetAction::ServerBannerSent
        )
    }

    /// Which way the traffic goes, from this host's point of view (ECS `network.direction`);
    /// a connection's end goes its connection's way ([`NetworkEvent::direction`]).
    pub fn direction(self) -> &'static str {
        match self {
            NetAction::Connect
            | NetAction::ConnectResult
            | NetAction::Send
            | NetAction::DnsQuery
            | NetAction::TlsHello
            | NetAction::HttpRequest
            | NetAction::SshHello
            | NetAction::TlsServerHelloSent
            | NetAction::HttpResponseSent
            | NetAction::SshServerHelloSent
            | NetAction::ServerBannerSent => "egress",
            NetAction::Accept
            | NetAction::Receive
            | NetAction::DnsAnswer
            | NetAction::TlsHelloReceived
            | NetAction::HttpRequestReceived
            | NetAction::SshHelloReceived
            | NetAction::TlsServerHello
            | NetAction::HttpResponse
            | NetAction::SshServerHello
            | NetAction::ServerBanner => "ingress",
            NetAction::Bind
            | NetAction::Listen
            | NetAction::Socket
            | NetAction::Filter
            | NetAction::Close
            | NetAction::Traffic => "unknown",
        }
    }
}

/// One end of a socket.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SocketAddress {
    /// An IPv4 or IPv6 address and port.
    Ip { addr: IpAddr, port: u16 },
    /// A Unix socket: its path, or its abstract name (shown with a leading `@`).
    Unix {
        #[serde(with = "serde_bytes")]
        path: Vec<u8>,
        abstract_name: bool,
    },
    /// An unnamed Unix socket (unbound peer, autobind).
    UnixUnnamed,
    /// Another family (`AF_NETLINK`...): its number.
    Other { family: u16 },
    /// A packet socket's (`AF_PACKET`) end: the network interface, by its index and its name
    /// as the agent found it (in its own network namespace; None when it has no such
    /// interface, or 0: every interface), and the link protocol (EtherType, host order;
    /// `ETH_P_ALL`, 3: every one).
    Link {
        ifindex: u32,
        interface: Option<String>,
        protocol: u16,
    },
}

impl SocketAddress {
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            SocketAddress::Ip { addr, .. } => Some(*addr),
            _ => None,
        }
    }

    pub fn port(&self) -> Option<u16> {
        match self {
            SocketAddress::Ip { port, .. } => Some(*port),
            _ => None,
        }
    }

    /// The address as text: the IP (without port), or the Unix path (`@name` when abstract).
    /// An empty path is an unnamed socket, not an address.
    pub fn address_text(&self) -> Option<String> {
        match self {
            SocketAddress::Ip { addr, .. } => Some(addr.to_string()),
            SocketAddress::Unix {
                path,
                abstract_name: true,
            } => Some(format!("@{}", crate::ecs::text(path))),
            SocketAddress::Unix {
                path,
                abstract_name: false,
            } if !path.is_empty() => Some(crate::ecs::text(path)),
            SocketAddress::Link {
                interface: Some(name),
                ..
            } => Some(name.clone()),
            SocketAddress::Link { ifindex, .. } if *ifindex != 0 => Some(format!("if{ifindex}")),
            SocketAddress::Unix { .. }
            | SocketAddress::UnixUnnamed
            | SocketAddress::Link { .. }
            | SocketAddress::Other { .. } => None,
        }
    }
}

/// A socket call of a process, with both ends as far as known.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkEvent {
    pub process: Process,
    pub action: NetAction,
    pub source: Source,
    /// `connect`, `accept4`, `socketcall(connect)`...
    pub syscall: Option<String>,
    /// `AF_*` number of the socket, when known.
    pub family: Option<u16>,
    /// `tcp`, `udp`, `icmp`, `sctp`, `raw`; `stream`/`dgram`/`seqpacket` for Unix sockets.
    pub transport: Option<String>,
    /// This host's end (bind, listen, and the local end when known).
    pub local: Option<SocketAddress>,
    /// The peer (connect's target, accept's client).
    pub remote: Option<SocketAddress>,
    /// The socket's file descriptor in the process.
    pub fd: Option<i64>,
    pub success: bool,
    /// The call's return value, or the negative errno.
    pub exit: Option<i64>,
    /// The errno's name when the call failed (`ECONNREFUSED`, `EINPROGRESS`...).
    pub errno: Option<String>,
    /// The socket's type as it was made (`raw`, `dgram`, `stream`, `seqpacket`), where the
    /// transport does not say it: a `socket` or `filter` event's.
    pub socket_type: Option<String>,
    /// A `filter` event's filter.
    pub filter: Option<SocketFilter>,
    /// A `close` or `traffic` event's connection: its traffic, and how it ended.
    pub traffic: Option<Traffic>,
    /// A `filter` event's program, when it was read (eBPF reads it; audit cannot). Beside
    /// `filter` rather than in it, as the model's last field, so that the events stored
    /// before it was added still read (see `stored`).
    pub filter_program: Option<FilterProgram>,
    /// A `dns_query`'s or `dns_answer`'s message. Among the model's last fields, likewise.
    pub dns: Option<Box<DnsMessage>>,
    /// The name the process looked up that resolved to the peer's address (its own DNS answer,
    /// read from the packets): what it meant to connect to. A connection's end and looks: the
    /// name its first bytes asked for (a TLS hello's, an HTTP request's), where they did.
    /// Among the model's last fields.
    pub remote_name: Option<String>,
    /// A raw or ICMP socket's first packet to or from a peer, when ICMP: its type and code.
    /// Among the model's last fields.
    pub icmp: Option<Icmp>,
    /// A `tls_hello`'s ClientHello. Among the model's last fields.
    pub tls: Option<Box<TlsHello>>,
    /// An `http_request`'s request. Among the model's last fields.
    pub http: Option<Box<HttpRequest>>,
    /// An `ssh_hello`'s identification (or an `ssh_server_hello`'s). Among the model's last
    /// fields.
    pub ssh: Option<Box<SshHello>>,
    /// A `tls_server_hello`'s ServerHello. Among the model's last fields.
    pub server_hello: Option<Box<TlsServerHello>>,
    /// An `http_response`'s response. Among the model's last fields.
    pub response: Option<Box<HttpResponse>>,
    /// A `server_banner`'s greeting. The model's last field.
    pub banner: Option<Box<ServerBanner>>,
}

/// An ICMP (or ICMPv6) message's type and code, as its packet carried them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Icmp {
    pub kind: u8,
    pub code: u8,
}

impl Icmp {
    /// The type's name (`echo-request`, `destination-unreachable`...), ICMPv6's when `v6`;
    /// None for a type without one here.
    pub fn name(self, v6: bool) -> Option<&'static str> {
        Some(match (v6, self.kind) {
            (false, 0) | (true, 129) => "echo-reply",
            (false, 8) | (true, 128) => "echo-request",
            (false, 3) | (true, 1) => "destination-unreachable",
            (false, 11) | (true, 3) => "time-exceeded",
            (false, 5) | (true, 137) => "redirect",
            (false, 12) | (true, 4) => "parameter-problem",
            (false, 13) => "timestamp",
            (false, 14) => "timestamp-reply",
            (true, 2) => "packet-too-big",
            (true, 133) => "router-solicitation",
            (true, 134) => "router-advertisement",
            (true, 135) => "neighbor-solicitation",
            (true, 136) => "neighbor-advertisement",
            _ => return None,
        })
    }
}

/// What an outgoing TLS connection's first message offered: the ClientHello, read from the
/// connection's first segment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsHello {
    /// The server name it asked for (SNI): whom it meant to reach, whatever address that was
    /// and however the name was resolved. None when it sent none (a connection by address).
    pub server_name: Option<String>,
    /// The application protocols it offered (ALPN), in its order: `h2`, `http/1.1`...
    pub alpn: Vec<String>,
    /// The highest TLS version it offered: `1.3`, `1.2`... (`supported_versions` when sent,
    /// else the hello's own version).
    pub version: String,
    /// Its JA4 fingerprint (FoxIO's, `t13d1516h2_8daaf6152771_e5627efa2ab1`): the client
    /// library, whatever name it reaches; what threat intelligence lists C2 tools by.
    pub ja4: String,
    /// Its JA3 fingerprint (Salesforce's MD5, hex), the older one many lists still use.
    pub ja3: String,
    /// The hello was longer than was kept: the extensions past the cut are left out, and the
    /// fingerprints are of what was kept.
    pub cut: bool,
}

/// What an outgoing plain HTTP connection's first request asked for, read from the
/// connection's first segment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpRequest {
    /// `GET`, `POST`, `CONNECT`...
    pub method: String,
    /// The request's target as sent: a path (`/payload.sh?x=1`), a whole URL (through a
    /// proxy) or `host:port` (`CONNECT`).
    pub target: String,
    /// `1.1`, `1.0`.
    pub version: String,
    /// Its `Host` header: the name it meant to reach.
    pub host: Option<String>,
    /// Its `User-Agent` header: `curl/8.5.0`, `Wget/1.21`, `python-requests/2.31`...
    pub user_agent: Option<String>,
    /// The request's head was longer than was kept: headers past the cut are left out.
    pub cut: bool,
}

/// What an SSH client said of itself as it opened a connection: its identification string
/// (RFC 4253 §4.2) and, where its first key exchange message came in the same segment, that
/// message's HASSH.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SshHello {
    /// The whole line, without its CR LF: `SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3`.
    pub identification: String,
    /// The software and version it claims: `OpenSSH_9.2p1`, `paramiko_3.4.0`, `Go`.
    pub software: String,
    /// What followed the software on the line: `Debian-2+deb12u3`.
    pub comments: Option<String>,
    /// Its HASSH (Salesforce's MD5 of its key exchange, cipher, MAC and compression
    /// algorithms, lowercase hex): the SSH library, to match threat intelligence by.
    pub hassh: Option<String>,
    /// The algorithms HASSH hashed (`kex;ciphers;macs;compression`).
    pub hassh_algorithms: Option<String>,
    /// Its first key exchange message was cut with the segment kept: no HASSH.
    pub cut: bool,
}

/// What a TLS server chose of a client's offer, read from its ServerHello: the connection's
/// first bytes from the server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsServerHello {
    /// The version it chose: `1.3` (its `supported_versions`), `1.2`...
    pub version: String,
    /// The cipher suite it chose, by its IANA number (`0x1301`: TLS_AES_128_GCM_SHA256).
    pub cipher: u16,
    /// The application protocol it chose (ALPN): `h2`, `http/1.1`; None when it chose none.
    pub alpn: Option<String>,
    /// Its JA3S (Salesforce's MD5 of its version, cipher and extensions, lowercase hex): with
    /// the client's JA3, what threat intelligence lists C2 servers by.
    pub ja3s: String,
    /// What JA3S hashed (`771,4865,43-51`).
    pub ja3s_text: String,
}

impl TlsServerHello {
    /// The cipher suite's IANA name, for the usual ones (TLS 1.3's, ECDHE's AEADs); None for
    /// another.
    pub fn cipher_name(&self) -> Option<&'static str> {
        Some(match self.cipher {
            0x1301 => "TLS_AES_128_GCM_SHA256",
            0x1302 => "TLS_AES_256_GCM_SHA384",
            0x1303 => "TLS_CHACHA20_POLY1305_SHA256",
            0xc02b => "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
            0xc02c => "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
            0xc02f => "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            0xc030 => "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
            0xcca8 => "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
            0xcca9 => "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
            0x009c => "TLS_RSA_WITH_AES_128_GCM_SHA256",
            0x009d => "TLS_RSA_WITH_AES_256_GCM_SHA384",
            0x002f => "TLS_RSA_WITH_AES_128_CBC_SHA",
            0x0035 => "TLS_RSA_WITH_AES_256_CBC_SHA",
            0xc013 => "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
            0xc014 => "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
            _ => return None,
        })
    }
}

/// The greeting of a server that speaks first, read from the connection's first bytes from it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerBanner {
    /// Its first line, without its line end (at most 512 bytes): `220 mx.example ESMTP
    /// Postfix`, `+OK Dovecot ready.`
    pub line: String,
    /// The protocol it speaks, as the greeting tells: `smtp` (a `220` that says SMTP), `ftp`
    /// (one that says FTP), `pop3` (`+OK`), `imap` (`* OK`); None for a `220` that says
    /// neither.
    pub protocol: Option<String>,
}

/// What a server answered a plain HTTP connection's first request with, read from the
/// response's head: the connection's first bytes from the server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpResponse {
    /// `1.1`, `1.0`.
    pub version: String,
    /// `200`, `404`, `302`...
    pub status: u16,
    /// What followed the status on its line: `OK`, `Not Found`.
    pub reason: String,
    /// Its `Content-Type` header: what it said it sent (`application/x-sh`).
    pub content_type: Option<String>,
    /// Its `Content-Length` header: how many bytes its body said it had.
    pub content_length: Option<u64>,
    /// Its `Location` header: where it sent the client on (a redirect's target).
    pub location: Option<String>,
    /// Its `Server` header: the software that answered.
    pub server: Option<String>,
    /// The response's head was longer than was kept: headers past the cut are left out.
    pub cut: bool,
}

impl HttpRequest {
    /// The whole URL it asked for: its host and its target (a path's), or its target (a
    /// proxy's whole URL); None for a `CONNECT` and a path without a host.
    pub fn url(&self) -> Option<String> {
        match self.host.as_deref() {
            Some(host) if self.target.starts_with('/') => {
                Some(format!("http://{host}{}", self.target))
            }
            _ if self.target.contains("://") => Some(self.target.clone()),
            _ => None,
        }
    }
    /// Its `Host` without the port: a name, or an address (an IPv6 one without its brackets).
    pub fn host_name(&self) -> Option<&str> {
        let host = self.host.as_deref()?;
        Some(match host.strip_prefix('[') {
            // An IPv6 address, bracketed: `[::1]:8080`.
            Some(bracketed) => bracketed.split(']').next().unwrap_or(bracketed),
            None => match host.rsplit_once(':') {
                Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
                _ => host,
            },
        })
    }
}

/// A DNS message, as its packet carried it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsMessage {
    /// Its id: a query's answers carry the query's.
    pub id: u16,
    /// The name asked about and the type of record asked for (the first question: there is
    /// one in practice). None when the message could not be read that far.
    pub question: Option<DnsQuestion>,
    /// An answer's response code: `NOERROR`, `NXDOMAIN`, `SERVFAIL`, `REFUSED`... None for
    /// a query.
    pub response_code: Option<String>,
    /// An answer's records (its answer section), as far as the message was kept.
    pub answers: Vec<DnsRecord>,
    /// The message was longer than was kept (or could not be read whole): the answers past
    /// what was are left out.
    pub cut: bool,
}

impl DnsMessage {
    /// The addresses the answers resolved the name to (their A and AAAA records), in order.
    pub fn resolved_ips(&self) -> Vec<IpAddr> {
        self.answers
            .iter()
            .filter(|a| a.record_type == "A" || a.record_type == "AAAA")
            .filter_map(|a| a.data.parse().ok())
            .collect()
    }
}

/// A DNS question: a name and the type of record asked for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsQuestion {
    /// The name, dotted, without the root's trailing dot: `example.com`.
    pub name: String,
    /// `A`, `AAAA`, `CNAME`, `TXT`, `MX`..., or `TYPE<n>` for one without a name here.
    pub record_type: String,
}

/// A record of a DNS answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsRecord {
    /// The name it is of.
    pub name: String,
    /// Its type, as [`DnsQuestion::record_type`].
    pub record_type: String,
    /// How long it may be cached, in seconds.
    pub ttl: u32,
    /// Its data as text: an address (A, AAAA), a name (CNAME, NS, PTR; MX with its
    /// preference first), TXT's strings joined; empty for a type not read here.
    pub data: String,
}

impl NetworkEvent {
    /// An event of `action` by `process`, from `source`, that succeeded, with nothing else
    /// known: what the sources' events are made from, each naming the facts it has
    /// (`NetworkEvent { local, ..NetworkEvent::new(process, action, source) }`), so that a fact
    /// added to the model is added here once.
    pub fn new(process: Process, action: NetAction, source: Source) -> NetworkEvent {
        NetworkEvent {
            process,
            action,
            source,
            syscall: None,
            family: None,
            transport: None,
            local: None,
            remote: None,
            fd: None,
            success: true,
            exit: None,
            errno: None,
            socket_type: None,
            filter: None,
            traffic: None,
            filter_program: None,
            dns: None,
            remote_name: None,
            icmp: None,
            tls: None,
            http: None,
            ssh: None,
            server_hello: None,
            response: None,
            banner: None,
        }
    }

    /// The URL a connection's first bytes asked for: an HTTP request's whole URL; a TLS
    /// hello's server (`https://c2.example/`, with its port unless 443: the path is inside
    /// TLS). The server's port is the peer's, or this host's for a request it received.
    pub fn request_url(&self) -> Option<String> {
        if let Some(request) = &self.http {
            return request.url();
        }
        let name = self.tls.as_ref()?.server_name.as_deref()?;
        let server = if self.action.is_received_request() {
            &self.local
        } else {
            &self.remote
        };
        Some(match server.as_ref().and_then(SocketAddress::port) {
            Some(443) | None => format!("https://{name}/"),
            Some(port) => format!("https://{name}:{port}/"),
        })
    }

    /// The name a connection's first bytes asked for: a ClientHello's server name, an HTTP
    /// request's host (without its port) when it is a name, not an address.
    pub fn requested_name(&self) -> Option<&str> {
        match (&self.tls, &self.http) {
            (Some(hello), _) => hello.server_name.as_deref(),
            (None, Some(request)) => request
                .host_name()
                .filter(|host| host.parse::<IpAddr>().is_err()),
            (None, None) => None,
        }
    }

    /// Which way the traffic goes, from this host's point of view (ECS `network.direction`):
    /// the action's, and a connection's traffic its connection's (made here: egress).
    pub fn direction(&self) -> &'static str {
        match &self.traffic {
            Some(end) if end.incoming => "ingress",
            Some(_) => "egress",
            None => self.action.direction(),
        }
    }
}

/// A TCP connection's traffic as the kernel counted it (RFC 4898's counters, as `ss -i` shows
/// them), or a datagram socket's (UDP, ICMP, raw IP) as its sends and receives returned it:
/// at its end (a `close` event), or so far (a `traffic` event of one still open).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Traffic {
    /// Taken by an accept (the peer connected here), else made by a connect. A datagram
    /// socket's: its first datagram was received (a server's), else sent.
    pub incoming: bool,
    /// From its connect's or accept's return to its end (to the look, while open), ns. A
    /// datagram socket's: from its first datagram.
    pub duration_ns: u64,
    /// A `close`'s: the TCP state it closed from: `FIN_WAIT2`, `CLOSING` or `LAST_ACK` after
    /// an orderly close; `ESTABLISHED`, `CLOSE_WAIT`... when it was reset or aborted (the
    /// event's errno says with what, if it failed: `ECONNRESET`, `ETIMEDOUT`...). A
    /// `traffic`'s: its state at the look (`ESTABLISHED`, `CLOSE_WAIT`...). Empty for a
    /// datagram socket.
    pub state: String,
    /// Payload bytes sent, each once (retransmissions are not counted again). A raw socket's
    /// include the headers it wrote.
    pub bytes_sent: u64,
    /// Payload bytes received (a raw socket's: with their IP header).
    pub bytes_received: u64,
    /// Bytes sent again.
    pub bytes_retransmitted: u64,
    /// Segments sent, retransmissions included; a datagram socket's datagrams.
    pub segments_sent: u64,
    /// Segments received; a datagram socket's datagrams.
    pub segments_received: u64,
    /// The connection was already open as the agent started, found then rather than seen
    /// made: `duration_ns` counts from the agent's start (the counts above are the whole
    /// connection's), and `incoming` is guessed from the port it holds (one a bind or a listen
    /// took, as a listener's connections hold, rather than one a connect chose). A UDP
    /// socket's: its counts too are from the agent's start, and `incoming` is guessed from
    /// whether it is connected (a client's: sent first) or not (a server's).
    pub found_open: bool,
}

/// The name of a kernel TCP state number, as osquery's `process_open_sockets` names it (and
/// `ss` but for `CLOSED`): `ESTABLISHED`, `FIN_WAIT2`, `LAST_ACK`...; `UNKNOWN` for 0 and
/// numbers past `CLOSING`.
pub fn tcp_state_name(state: u8) -> &'static str {
    const NAMES: [&str; 12] = [
        "UNKNOWN",
        "ESTABLISHED",
        "SYN_SENT",
        "SYN_RECV",
        "FIN_WAIT1",
        "FIN_WAIT2",
        "TIME_WAIT",
        "CLOSED",
        "CLOSE_WAIT",
        "LAST_ACK",
        "LISTEN",
        "CLOSING",
    ];
    NAMES.get(usize::from(state)).copied().unwrap_or("UNKNOWN")
}

/// A packet filter attached to a socket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SocketFilter {
    /// The option that attached it: `SO_ATTACH_FILTER` (classic BPF), `SO_ATTACH_BPF` (an eBPF
    /// program's descriptor), `SO_ATTACH_REUSEPORT_CBPF`, `SO_ATTACH_REUSEPORT_EBPF`.
    pub option: String,
    /// A classic filter's length, in instructions.
    pub instructions: Option<u16>,
}

/// The program of a packet filter a socket was given: what it lets through, and so what its
/// sniffer is after (a backdoor's magic packet, say).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FilterProgram {
    /// A classic filter's instructions, as the caller gave them.
    Classic(Vec<ClassicInstruction>),
    /// The eBPF program a descriptor named, as the kernel holds it.
    Ebpf(EbpfProgram),
}

/// One instruction of a classic BPF filter, as the kernel takes it (`struct sock_filter`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassicInstruction {
    pub code: u16,
    /// Where a conditional jump goes when true, and when false: instructions skipped.
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

impl ClassicInstruction {
    /// Its 8 bytes, as `struct sock_filter` lays them out little-endian (x86-64, arm64).
    pub fn to_le_bytes(self) -> [u8; 8] {
        let mut bytes = [0; 8];
        bytes[..2].copy_from_slice(&self.code.to_le_bytes());
        bytes[2] = self.jt;
        bytes[3] = self.jf;
        bytes[4..].copy_from_slice(&self.k.to_le_bytes());
        bytes
    }
}

/// A classic filter as text: its length, then each instruction's code, jt, jf and k, in
/// decimal: `2,40 0 0 12,6 0 0 65535`. That is what `tcpdump -ddd` prints (with newlines for
/// the commas) and what iptables' `-m bpf --bytecode` and `nfbpf_compile` take.
pub fn classic_bytecode(program: &[ClassicInstruction]) -> String {
    let mut text = program.len().to_string();
    for i in program {
        text.push_str(&format!(",{} {} {} {}", i.code, i.jt, i.jf, i.k));
    }
    text
}

/// An eBPF program the kernel holds, as bpftool names it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EbpfProgram {
    /// Its id (`bpftool prog show id N`), while it is loaded.
    pub id: u32,
    /// The kernel's tag of its instructions (8 bytes: the same program has the same tag).
    pub tag: [u8; 8],
    /// The name its loader gave it (up to 15 bytes), if any.
    pub name: String,
    /// Its length, in instructions.
    pub instructions: u32,
}

/// What happened to a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FileAction {
    /// A new file, directory, device node or FIFO.
    Create,
    /// Opened for writing (audit: open with a write flag).
    Open,
    /// Content changed (fanotify `FAN_MODIFY`).
    Modify,
    /// Closed after being opened for writing (fanotify `FAN_CLOSE_WRITE`).
    CloseWrite,
    /// Renamed or moved: `path` is the new name, `old_path` the old one.
    Rename,
    /// Unlinked or removed.
    Delete,
    /// Permission bits changed.
    Chmod,
    /// Owner or group changed.
    Chown,
    /// Metadata changed, kind unknown (fanotify `FAN_ATTRIB`: mode, owner, times, xattrs).
    Attrib,
    /// A hard link made: `path` is the new name, `target_path` the existing file.
    Link,
    /// A symbolic link made: `path` is the link, `target_path` what it points to.
    Symlink,
    /// Truncated.
    Truncate,
    /// Read (or opened for reading) — recorded for watched paths only.
    Read,
    /// Access or modification time set by a call (utimensat, utimes...): `times` says to
    /// what. A set modification time is how a planted file is made to look old.
    Times,
}

/// A file time as a call set it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TimeSet {
    /// To the time of the call.
    Now,
    /// To this time, ns since the epoch.
    At(i64),
}

/// The times a call set (`None`: left as they were).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FileTimes {
    pub accessed: Option<TimeSet>,
    pub modified: Option<TimeSet>,
}

impl FileAction {
    pub const ALL: [FileAction; 14] = [
        FileAction::Create,
        FileAction::Open,
        FileAction::Modify,
        FileAction::CloseWrite,
        FileAction::Rename,
        FileAction::Delete,
        FileAction::Chmod,
        FileAction::Chown,
        FileAction::Attrib,
        FileAction::Link,
        FileAction::Symlink,
        FileAction::Truncate,
        FileAction::Read,
        FileAction::Times,
    ];

    pub fn name(self) -> &'static str {
        match self {
            FileAction::Create => "create",
            FileAction::Open => "open",
            FileAction::Modify => "modify",
            FileAction::CloseWrite => "close_write",
            FileAction::Rename => "rename",
            FileAction::Delete => "delete",
            FileAction::Chmod => "chmod",
            FileAction::Chown => "chown",
            FileAction::Attrib => "attrib",
            FileAction::Link => "link",
            FileAction::Symlink => "symlink",
            FileAction::Truncate => "truncate",
            FileAction::Read => "read",
            FileAction::Times => "times",
        }
    }

    pub fn from_name(name: &str) -> Option<FileAction> {
        FileAction::ALL.into_iter().find(|a| a.name() == name)
    }

    /// The OpenBSM audit classes of the action, as `auditreduce -c` knows them: `fr` read,
    /// `fw` write, `fc` create, `fd` delete, `fm` attribute change (a rename is `fc` and `fd`,
    /// as in BSM's event table).
    pub fn bsm_classes(self) -> &'static [&'static str] {
        match self {
            FileAction::Read => &["fr"],
            FileAction::Open
            | FileAction::Modify
            | FileAction::CloseWrite
            | FileAction::Truncate => &["fw"],
            FileAction::Create | FileAction::Link | FileAction::Symlink => &["fc"],
            FileAction::Rename => &["fc", "fd"],
            FileAction::Delete => &["fd"],
            FileAction::Chmod | FileAction::Chown | FileAction::Attrib | FileAction::Times => {
                &["fm"]
            }
        }
    }

    /// ECS `event.type`.
    pub fn ecs_type(self) -> &'static str {
        match self {
            FileAction::Create | FileAction::Link | FileAction::Symlink => "creation",
            FileAction::Delete => "deletion",
            FileAction::Read => "access",
            _ => "change",
        }
    }
}

/// A file operation of a process. Whichever source saw it (audit rules or fanotify), the shape
/// is the same; what a source cannot know stays `None`.
///
/// [`FileEvent::new`] starts one with only what every source knows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEvent {
    pub process: Process,
    pub action: FileAction,
    pub source: Source,
    /// `openat`, `renameat2`, ... (audit), or the fanotify mask bit (`FAN_CLOSE_WRITE`).
    pub syscall: Option<String>,
    /// The file the event is about (after a rename: its new name). Bytes: paths need not be UTF-8.
    #[serde(with = "serde_bytes")]
    pub path: Vec<u8>,
    /// The old name of a renamed file.
    #[serde(with = "serde_bytes")]
    pub old_path: Option<Vec<u8>>,
    /// What a symlink points to, or the existing file a hard link names.
    #[serde(with = "serde_bytes")]
    pub target_path: Option<Vec<u8>>,
    pub inode: Option<u64>,
    pub device: Option<u64>,
    /// `st_mode` after the event (a chmod's new mode), when known.
    pub mode: Option<u32>,
    /// Owner after the event (a chown's new owner), when known.
    pub owner_uid: Option<u32>,
    pub owner_gid: Option<u32>,
    /// The object is a directory.
    pub is_dir: Option<bool>,
    /// The watch list entry that made a read worth recording (`ssh`, `browser`, `shadow`...).
    pub watch: Option<String>,
    pub success: bool,
    /// The call's return value, or the negative errno (audit only).
    pub exit: Option<i64>,
    /// The file as the agent found it after a change that left it written (a close after
    /// writing, a rename's new name): sha256, size, times, owner, ELF build-id, download
    /// origin and package, described as an executable's image is. None for other changes, or
    /// when the path no longer named that file.
    pub content: Option<Box<Executable>>,
    /// The times a `Times` call set. (Last, for the stored form: see `stored.rs`.)
    pub times: Option<FileTimes>,
}

impl FileEvent {
    /// A successful `action` of `process` on `path`, seen by `source`, with nothing else known.
    pub fn new(process: Process, action: FileAction, source: Source, path: Vec<u8>) -> FileEvent {
        FileEvent {
            process,
            action,
            source,
            syscall: None,
            path,
            old_path: None,
            target_path: None,
            inode: None,
            device: None,
            mode: None,
            owner_uid: None,
            owner_gid: None,
            is_dir: None,
            watch: None,
            success: true,
            exit: None,
            content: None,
            times: None,
        }
    }
}

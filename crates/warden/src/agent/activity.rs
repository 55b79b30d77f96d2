//! Network and file activity: a source's view of one operation (an audit network or file
//! record, a fanotify event, an eBPF file or network record) becomes a warden-core event about
//! the process that did it.
//!
//! What to keep is decided here, from the config: which socket families, which paths and
//! executables are excluded. Everything dropped is counted by reason, never silently.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use warden_core::{
    FileAction, FileEvent, Icmp, NetAction, NetworkEvent, Process, SocketAddress, SocketFilter,
    Source, Traffic,
};
use warden_sources::audit::net::{
    AddrRole, FilterAttach, NetCall, NetEvent, SockAddr, UnixAddr, errno_name, family,
};
use warden_sources::audit::{FileOp, PathKind, Subject};
use warden_sources::ebpf::{
    AttrRecord, Captured, FileOp as EbpfFileOp, FileRecord, Handshake, NetRecord, TcpTraffic,
};
use warden_sources::fanotify::{FanotifyEvent, excluded_path};
use warden_sources::socket_probe::{self, HandshakeFacts, SocketFacts};

use super::answer::Answer;
use super::config::{FilesConfig, NetworkConfig};
use super::handshakes::{Look, Seen};
use super::opening::Opening;

/// Which socket calls are recorded.
#[derive(Clone, Debug)]
pub struct NetworkPolicy {
    pub unix: bool,
    pub other_families: bool,
    pub probe_sockets: bool,
}

impl NetworkPolicy {
    pub fn of(config: &NetworkConfig) -> NetworkPolicy {
        NetworkPolicy {
            unix: config.unix,
            other_families: config.other_families,
            probe_sockets: config.probe_sockets,
        }
    }

    /// Why a socket of this family is not recorded, if it is not.
    fn refuses(&self, family: Option<u16>) -> Option<SkipReason> {
        if self.wants(family) {
            None
        } else if family == Some(family::UNIX) {
            Some("network/unix")
        } else {
            Some("network/other_family")
        }
    }

    fn wants(&self, family: Option<u16>) -> bool {
        match family {
            // listen/accept without an address, and a socket already gone: recorded, since
            // it may well be inet.
            None => true,
            // A packet socket is a sniffer's, or a portless backdoor's: as telling as a
            // connection, and rare.
            Some(family::INET | family::INET6 | family::PACKET) => true,
            Some(family::UNIX) => self.unix,
            Some(_) => self.other_families,
        }
    }
}

/// Why an operation was not recorded (the keys of [`Skipped`]).
pub type SkipReason = &'static str;

/// Counts of operations not recorded, by reason (reported in `warden status`).
#[derive(Clone, Debug, Default)]
pub struct Skipped(pub BTreeMap<SkipReason, u64>);

impl Skipped {
    pub fn count(&mut self, reason: SkipReason) {
        *self.0.entry(reason).or_default() += 1;
    }
}

/// The network event of an audit network view, about `process` (the table's view of the
/// caller, overlaid with the credentials the record gives), or why it is not recorded.
pub fn network_event(
    net: &NetEvent,
    mut process: Process,
    policy: &NetworkPolicy,
) -> Result<NetworkEvent, SkipReason> {
    let action = net_action(net.call);
    // Sends and receives are audited only to find unconnected datagrams: those name a peer.
    if matches!(action, NetAction::Send | NetAction::Receive) && net.addr.is_none() {
        return Err("network/connected_send");
    }
    let remote = net.remote().cloned();
    let mut local = net.local().cloned();
    let mut family = net
        .addr
        .as_ref()
        .map(SockAddr::family)
        .or(net.asked.as_ref().map(|asked| asked.family));
    if family == Some(family::UNSPEC) {
        // connect(AF_UNSPEC) dissolves a datagram association: not a connection.
        return Err("network/unspec");
    }
    if let Some(reason) = policy.refuses(family) {
        return Err(reason);
    }
    let success = net.success.unwrap_or(true);
    // A non-blocking connect under way is not a failure: the errno stays visible.
    let in_progress = net.errno == Some("EINPROGRESS");
    // A socket made is what was asked for; a filter's socket is read from it, when it was.
    let mut transport = net.asked.as_ref().and_then(SocketFacts::transport);
    let mut sock_type = net.asked.as_ref().map(|asked| asked.sock_type);
    if policy.probe_sockets
        && let Some(facts) = &net.socket
        && facts.agrees_with(remote.as_ref(), family)
    {
        // The socket the call was given, read by the audit reader as it read the records.
        // Even then its number may name a newer socket: a client that connects, closes and
        // connects again to the same server reuses it at once. Its type and protocol are safe
        // to take when its peer agrees with the record; its ends only from a listener (listen,
        // and accept's listening socket: this host's end of every connection it takes), which
        // lives on.
        transport = transport.or(facts.transport());
        sock_type = sock_type.or(Some(facts.sock_type));
        family = Some(facts.family);
        if matches!(action, NetAction::Listen | NetAction::Accept) && local.is_none() {
            local = facts.local.clone();
        }
    }
    // The socket may have told a family the record did not (listen, accept without a peer).
    if let Some(reason) = policy.refuses(family) {
        return Err(reason);
    }
    if transport.is_none() {
        transport = implied_transport(action, family);
    }
    overlay_subject(&mut process, &net.subject);
    Ok(NetworkEvent {
        syscall: Some(syscall_name(net)),
        family,
        transport: transport.map(str::to_owned),
        local: local.as_ref().map(socket_address),
        remote: remote.as_ref().map(socket_address),
        fd: net.fd.map(|fd| fd as i64),
        success: success || in_progress,
        exit: net.exit,
        errno: net.errno.map(str::to_owned),
        socket_type: socket_type_of(action, sock_type),
        filter: net.filter.as_ref().map(socket_filter),
        // No filter program: audit does not read the caller's memory.
        ..NetworkEvent::new(process, action, Source::Audit)
    })
}

/// The first look at the socket of an audit connect that said `EINPROGRESS`, which the audit
/// source took as it read the records (the event then waits for the process sources, and the
/// process may close the socket, or reuse its number, meanwhile); `None` for other calls.
pub fn first_look(net: &NetEvent) -> Option<Seen> {
    let first = net.first_look.as_ref()?;
    let remote = net.remote().map(socket_address);
    Some(Seen {
        look: look_of(first.facts.as_ref(), remote.as_ref()),
        at: first.at,
        time_ns: first.time_ns,
    })
}

/// A later look at the socket `fd` of process `pid`, a connect to `remote` (borrowed from its
/// process: IO).
pub fn look_at_handshake(pid: u32, fd: i32, remote: Option<&SocketAddress>) -> Seen {
    let facts = socket_probe::tcp_handshake(pid, fd).ok();
    Seen {
        look: look_of(facts.as_ref(), remote),
        at: std::time::Instant::now(),
        time_ns: crate::events::now_ns(),
    }
}

/// What a look at a connect's socket (to `remote`) found. The number may name another socket
/// by now: none, one connected to another peer, or a listener, is not it.
fn look_of(facts: Option<&HandshakeFacts>, remote: Option<&SocketAddress>) -> Look {
    let Some(facts) = facts else {
        return Look::Gone;
    };
    let peer = facts.remote.as_ref().map(socket_address);
    if peer.is_some() && peer.as_ref() != remote {
        return Look::Gone;
    }
    match facts.state {
        socket_probe::TCP_SYN_SENT => Look::UnderWay { inode: facts.inode },
        TCP_LISTEN => Look::Gone,
        _ => {
            // The SYN acknowledged: established, even if closed again since.
            let established = facts
                .bytes_acked
                .map_or(facts.remote.is_some(), |acked| acked > 0);
            let local = facts
                .local
                .as_ref()
                .filter(|local| established && local.port().is_some_and(|port| port != 0));
            // Only the SYN acknowledged and nothing received: the last acknowledgement was
            // the SYN-ACK, which ended the handshake.
            let quiet = facts.bytes_acked == Some(1) && facts.bytes_received == Some(0);
            Look::Ended {
                inode: facts.inode,
                established,
                local: local.map(socket_address),
                ago: (established && quiet)
                    .then(|| Duration::from_millis(u64::from(facts.last_ack_ms))),
            }
        }
    }
}

/// `TCP_LISTEN`.
const TCP_LISTEN: u8 = 10;

/// What the call itself implies of the transport: only stream sockets listen and accept.
fn implied_transport(action: NetAction, family: Option<u16>) -> Option<&'static str> {
    match (action, family) {
        (NetAction::Listen | NetAction::Accept, Some(family::INET | family::INET6)) => Some("tcp"),
        (NetAction::Listen | NetAction::Accept, Some(family::UNIX)) => Some("stream"),
        _ => None,
    }
}

fn net_action(call: NetCall) -> NetAction {
    match call {
        NetCall::Connect => NetAction::Connect,
        NetCall::Accept | NetCall::Accept4 => NetAction::Accept,
        NetCall::Bind => NetAction::Bind,
        NetCall::Listen => NetAction::Listen,
        NetCall::SendTo | NetCall::SendMsg => NetAction::Send,
        NetCall::RecvFrom => NetAction::Receive,
        NetCall::Socket => NetAction::Socket,
        NetCall::SetSockOpt => NetAction::Filter,
    }
}

/// The network event of an eBPF network record, about `process`, or why it is not recorded.
/// The socket as the call left it tells what an audit record leaves out: the transport, a
/// connect's local end, a listener's address, both ends of an accepted connection.
pub fn ebpf_network_event(
    record: &NetRecord,
    process: Process,
    policy: &NetworkPolicy,
) -> Result<NetworkEvent, SkipReason> {
    // A connection's first bytes are an event only when they are a request, or the other
    // way a server's answer.
    let opening = match &record.opening {
        Some(captured) if record.answer => Some(Opening::Answer(
            super::answer::read(&captured.bytes, captured.cut)
                .ok_or("network/opening_not_an_answer")?,
        )),
        Some(captured) => Some(
            super::opening::read(&captured.bytes, captured.cut)
                .ok_or("network/opening_not_a_request")?,
        ),
        None => None,
    };
    ebpf_network_event_opened(record, opening, process, policy)
}

/// The datagram `record` holds when it may be a QUIC client's Initial (rather than a TCP
/// connection's first bytes): read by [`super::quic::QuicHellos`], which needs the
/// connection's other Initials too, and passed in as opened.
pub fn quic_initial(record: &NetRecord) -> Option<&Captured> {
    record.opening.as_ref().filter(|_| {
        record
            .socket
            .as_ref()
            .is_some_and(|socket| socket.sock_type == libc::SOCK_DGRAM)
    })
}

/// [`ebpf_network_event`] of a record whose first bytes (or Initials) were read as `opening`.
pub fn ebpf_network_event_opened(
    record: &NetRecord,
    opening: Option<Opening>,
    mut process: Process,
    policy: &NetworkPolicy,
) -> Result<NetworkEvent, SkipReason> {
    let action = if record.outcome {
        NetAction::ConnectResult
    } else if let Some(opening) = &opening {
        match (opening, record.call == NetCall::RecvFrom) {
            (Opening::Tls(_), false) => NetAction::TlsHello,
            (Opening::Http(_), false) => NetAction::HttpRequest,
            (Opening::Ssh(_), false) => NetAction::SshHello,
            (Opening::Tls(_), true) => NetAction::TlsHelloReceived,
            (Opening::Http(_), true) => NetAction::HttpRequestReceived,
            (Opening::Ssh(_), true) => NetAction::SshHelloReceived,
            (Opening::Answer(Answer::Tls(_)), true) => NetAction::TlsServerHello,
            (Opening::Answer(Answer::Http(_)), true) => NetAction::HttpResponse,
            (Opening::Answer(Answer::Ssh(_)), true) => NetAction::SshServerHello,
            (Opening::Answer(Answer::Tls(_)), false) => NetAction::TlsServerHelloSent,
            (Opening::Answer(Answer::Http(_)), false) => NetAction::HttpResponseSent,
            (Opening::Answer(Answer::Ssh(_)), false) => NetAction::SshServerHelloSent,
            (Opening::Answer(Answer::Banner(_)), true) => NetAction::ServerBanner,
            (Opening::Answer(Answer::Banner(_)), false) => NetAction::ServerBannerSent,
        }
    } else if record.dns.is_some() {
        if record.call == NetCall::RecvFrom {
            NetAction::DnsAnswer
        } else {
            NetAction::DnsQuery
        }
    } else if let Some(traffic) = &record.traffic {
        if traffic.still_open {
            NetAction::Traffic
        } else {
            NetAction::Close
        }
    } else {
        net_action(record.call)
    };
    if record.addr_malformed {
        return Err("network/malformed_address");
    }
    // The programs report only sends and receives that name a peer; kept alike here.
    if matches!(action, NetAction::Send | NetAction::Receive) && record.addr.is_none() {
        return Err("network/connected_send");
    }
    if record.addr.as_ref().map(SockAddr::family) == Some(family::UNSPEC) {
        // connect(AF_UNSPEC) dissolves a datagram association: not a connection.
        return Err("network/unspec");
    }
    let socket = record.socket.as_ref();
    let family = socket
        .map(|s| s.family)
        .or_else(|| record.addr.as_ref().map(SockAddr::family));
    if let Some(reason) = policy.refuses(family) {
        return Err(reason);
    }
    let in_progress = record.ret == -libc::EINPROGRESS;
    // A connect's outcome is its handshake's where known (the call's EINPROGRESS stays in
    // `exit`). An io_uring operation recorded at its submission has no result yet: it
    // succeeds unless a failure follows (recorded as an event of its own).
    // A connection's end failed when the kernel closed it for an error (a reset, a timeout).
    let success = match (record.handshake, &record.traffic) {
        (Some(handshake), _) => handshake == Handshake::Established,
        (None, Some(end)) => end.error == 0,
        (None, None) => record.submitted || record.ret >= 0 || in_progress,
    };
    // Not calls: an outcome, a first datagram, a connection's end, a DNS message, a
    // connection's first bytes.
    let not_a_call = record.outcome
        || record.first_datagram
        || record.traffic.is_some()
        || record.dns.is_some()
        || opening.is_some();
    let exit = (!record.submitted && !not_a_call).then_some(i64::from(record.ret));
    let errno = match (record.handshake, &record.traffic) {
        (Some(Handshake::Failed(errno)), _) => errno_name(i64::from(errno)),
        (Some(Handshake::Established), _) => None,
        (None, Some(end)) => (end.error != 0)
            .then(|| errno_name(i64::from(end.error)))
            .flatten(),
        (None, None) => exit.filter(|&ret| ret < 0).and_then(|ret| errno_name(-ret)),
    };
    let ours = socket.and_then(|s| s.local.clone());
    let theirs = socket.and_then(|s| s.remote.clone());
    let (local, remote) = match record.call.addr_role() {
        // A Unix listener's path, read from the socket (a listen's, an accept's).
        _ if record.own_addr => (record.addr.clone(), theirs),
        // What the kernel bound (a port-0 bind's port) over what was asked for.
        AddrRole::Local if success => (ours.or_else(|| record.addr.clone()), theirs),
        AddrRole::Local => (record.addr.clone(), None),
        // The peer asked for (accept's: the connection's); this end once the kernel bound it.
        AddrRole::Remote => (ours, record.addr.clone().or(theirs)),
        AddrRole::None => (ours, None),
    };
    let transport = socket
        .and_then(SocketFacts::transport)
        .or_else(|| match record.addr {
            // A packet socket's bind names the link protocol it takes from then on.
            Some(SockAddr::Packet { protocol, .. }) => socket_probe::link_protocol_name(protocol),
            _ => None,
        })
        .or_else(|| implied_transport(action, family));

    process.pid = record.pid;
    Ok(NetworkEvent {
        // An outcome and an end are the kernel's, at the socket's change of state, and a first
        // datagram the socket layer's: no call.
        syscall: match (not_a_call, record.io_uring) {
            (true, _) => None,
            (false, true) => Some(format!("io_uring({})", record.call.name())),
            (false, false) => Some(record.call.name().to_owned()),
        },
        family,
        transport: transport.map(str::to_owned),
        local: local.as_ref().map(socket_address),
        remote: remote.as_ref().map(socket_address),
        fd: (record.fd >= 0).then_some(i64::from(record.fd)),
        success,
        exit,
        errno: errno.map(str::to_owned),
        socket_type: socket_type_of(action, socket.map(|s| s.sock_type)),
        filter: record.filter.as_ref().map(socket_filter),
        filter_program: record.filter.as_ref().and_then(|f| f.program.clone()),
        traffic: record.traffic.as_ref().map(|kernel| {
            let tcp = socket.is_some_and(|s| s.protocol == libc::IPPROTO_TCP);
            traffic_of(kernel, record.call, record.boot_ns, tcp)
        }),
        dns: record
            .dns
            .as_ref()
            .and_then(|capture| super::dns::message(&capture.bytes, capture.cut))
            .map(Box::new),
        icmp: record.icmp.map(|(kind, code)| Icmp { kind, code }),
        tls: match &opening {
            Some(Opening::Tls(hello)) => Some(Box::new(hello.clone())),
            _ => None,
        },
        http: match &opening {
            Some(Opening::Http(request)) => Some(Box::new(request.clone())),
            _ => None,
        },
        ssh: match &opening {
            Some(Opening::Ssh(hello) | Opening::Answer(Answer::Ssh(hello))) => {
                Some(Box::new(hello.clone()))
            }
            _ => None,
        },
        server_hello: match &opening {
            Some(Opening::Answer(Answer::Tls(hello))) => Some(Box::new(hello.clone())),
            _ => None,
        },
        response: match &opening {
            Some(Opening::Answer(Answer::Http(response))) => Some(Box::new(response.clone())),
            _ => None,
        },
        banner: match opening {
            Some(Opening::Answer(Answer::Banner(banner))) => Some(Box::new(banner)),
            _ => None,
        },
        ..NetworkEvent::new(process, action, Source::Ebpf)
    })
}

/// A connection's traffic (`tcp`), or a datagram socket's, as its event tells it, from the
/// record of it taken at `boot_ns`, which names the `call` that made the connection known (a
/// datagram socket's: the way its first datagram went).
fn traffic_of(kernel: &TcpTraffic, call: NetCall, boot_ns: u64, tcp: bool) -> Traffic {
    Traffic {
        incoming: matches!(call, NetCall::Accept | NetCall::Accept4 | NetCall::RecvFrom),
        duration_ns: boot_ns.saturating_sub(kernel.since_ns),
        state: if tcp {
            warden_core::tcp_state_name(kernel.state).to_owned()
        } else {
            String::new()
        },
        // The kernel counts a retransmitted byte each time it is sent, and the peer's FIN as a
        // byte received.
        bytes_sent: kernel.bytes_sent.saturating_sub(kernel.bytes_retransmitted),
        bytes_received: kernel
            .bytes_received
            .saturating_sub(u64::from(kernel.peer_fin)),
        bytes_retransmitted: kernel.bytes_retransmitted,
        segments_sent: u64::from(kernel.segments_sent),
        segments_received: u64::from(kernel.segments_received),
        found_open: kernel.found_open,
    }
}

/// The socket's type where the event is about the socket itself (a socket made, a filter
/// attached): the transport does not say it of a raw or packet socket.
fn socket_type_of(action: NetAction, sock_type: Option<i32>) -> Option<String> {
    matches!(action, NetAction::Socket | NetAction::Filter)
        .then(|| sock_type.and_then(socket_probe::sock_type_name))
        .flatten()
        .map(str::to_owned)
}

fn socket_filter(filter: &FilterAttach) -> SocketFilter {
    SocketFilter {
        option: filter.option_name(),
        instructions: filter.instructions,
    }
}

fn syscall_name(net: &NetEvent) -> String {
    if net.syscall == warden_sources::audit::net::I386_SOCKETCALL {
        format!("socketcall({})", net.call.name())
    } else {
        net.call.name().to_owned()
    }
}

/// The caller as the record names it: its credentials at the time of the call (the table's may
/// be older: a setuid since its exec), and its image when the table has none.
fn overlay_subject(process: &mut Process, caller: &Subject) {
    process.pid = caller.pid;
    process.ppid = process.ppid.or(Some(caller.ppid));
    process.uid = Some(caller.uid);
    process.euid = Some(caller.euid);
    process.gid = Some(caller.gid);
    process.egid = Some(caller.egid);
    process.auid = caller.auid.or(process.auid);
    process.session_id = caller.ses.or(process.session_id);
    if process.exe.is_none() {
        process.exe = caller.exe.clone();
    }
    if process.comm.is_none() {
        process.comm = caller.comm_text();
    }
}

pub fn socket_address(a: &SockAddr) -> SocketAddress {
    match a {
        SockAddr::Inet { addr, port } => SocketAddress::Ip {
            addr: (*addr).into(),
            port: *port,
        },
        SockAddr::Inet6 { addr, port, .. } => SocketAddress::Ip {
            addr: (*addr).into(),
            port: *port,
        },
        SockAddr::Unix(UnixAddr::Path(path)) => SocketAddress::Unix {
            path: path.clone(),
            abstract_name: false,
        },
        SockAddr::Unix(UnixAddr::Abstract(name)) => SocketAddress::Unix {
            path: name.clone(),
            abstract_name: true,
        },
        SockAddr::Unix(UnixAddr::Unnamed) => SocketAddress::UnixUnnamed,
        SockAddr::Packet { protocol, ifindex } => SocketAddress::Link {
            ifindex: *ifindex as u32,
            interface: u32::try_from(*ifindex)
                .ok()
                .filter(|&i| i != 0)
                .and_then(|i| nix::net::if_::if_indextoname(i).ok())
                .map(|name| name.to_string_lossy().into_owned()),
            protocol: *protocol,
        },
        other => SocketAddress::Other {
            family: other.family(),
        },
    }
}

/// Which file operations are recorded: not those under an excluded prefix, nor those of an
/// excluded executable, nor the agent's own; reads only of watched paths.
#[derive(Clone, Debug)]
pub struct FilePolicy {
    pub exclude_paths: Vec<Vec<u8>>,
    /// Recorded though under an excluded path (the more specific prefix decides).
    pub include_paths: Vec<Vec<u8>>,
    pub exclude_processes: Vec<Vec<u8>>,
    pub own_pid: u32,
    /// Watched paths (files, or directories covering what is below) and their labels.
    pub watches: Vec<(Vec<u8>, Arc<str>)>,
}

impl FilePolicy {
    pub fn of(config: &FilesConfig, data_dir: &std::path::Path) -> FilePolicy {
        use std::os::unix::ffi::OsStrExt;
        let mut exclude_paths: Vec<PathBuf> = config.exclude_paths.clone();
        exclude_paths.push(data_dir.to_path_buf());
        FilePolicy {
            exclude_paths: exclude_paths
                .iter()
                .map(|p| p.as_os_str().as_bytes().to_vec())
                .collect(),
            include_paths: config
                .include_paths
                .iter()
                .map(|p| p.as_os_str().as_bytes().to_vec())
                .collect(),
            exclude_processes: config
                .exclude_processes
                .iter()
                .map(|p| p.as_os_str().as_bytes().to_vec())
                .collect(),
            own_pid: std::process::id(),
            watches: Vec::new(),
        }
    }

    /// The label of the watch covering `path`, the most specific one.
    pub fn watch_of(&self, path: &[u8]) -> Option<Arc<str>> {
        self.watches
            .iter()
            .filter(|(prefix, _)| under(path, prefix))
            .max_by_key(|(prefix, _)| prefix.len())
            .map(|(_, label)| Arc::clone(label))
    }

    /// Why an operation on `path` by `pid` running `exe` is not recorded, if it is not.
    pub fn skip(&self, pid: u32, exe: Option<&[u8]>, path: &[u8]) -> Option<SkipReason> {
        self.skip_path(pid, path).or_else(|| self.skip_program(exe))
    }

    /// The checks that need no process lookup: the agent itself, excluded paths.
    pub fn skip_path(&self, pid: u32, path: &[u8]) -> Option<SkipReason> {
        if pid == self.own_pid {
            return Some("file/self");
        }
        if excluded_path(path, &self.exclude_paths, &self.include_paths) {
            return Some("file/excluded_path");
        }
        None
    }

    /// Excluded executables.
    pub fn skip_program(&self, exe: Option<&[u8]>) -> Option<SkipReason> {
        exe.is_some_and(|exe| self.exclude_processes.iter().any(|p| p == exe))
            .then_some("file/excluded_process")
    }
}

/// The file event of an audit file view, about `process`, or why it is not recorded.
/// A name relative to a directory descriptor, and an object named by its descriptor (fchmod,
/// ftruncate), are resolved through `/proc/PID/fd` while the process still holds it: the records
/// do not name them.
pub fn audit_file_event(
    op: &FileOp,
    mut process: Process,
    policy: &FilePolicy,
) -> Result<FileEvent, SkipReason> {
    let mut event = op.to_file_event(Process::default());
    if let PathKind::RelativeToDirfd(fd) | PathKind::Descriptor(fd) = op.path_kind {
        use std::os::unix::ffi::OsStrExt;
        let Ok(named) = std::fs::read_link(format!("/proc/{}/fd/{fd}", op.subject.pid)) else {
            return Err("file/unresolved_descriptor");
        };
        let mut path = named.as_os_str().as_bytes().to_vec();
        if !op.path.is_empty() {
            path.push(b'/');
            path.extend_from_slice(&op.path);
        }
        event.path = path;
    }
    if let Some(reason) = policy.skip(op.subject.pid, op.subject.exe.as_deref(), &event.path) {
        return Err(reason);
    }
    if op.action == FileAction::Read {
        // The read rules are watches; an `openat2` read-only open matches the change rule too.
        event.watch = Some(
            policy
                .watch_of(&event.path)
                .ok_or("file/unwatched_read")?
                .to_string(),
        );
    }
    overlay_subject(&mut process, &op.subject);
    event.process = process;
    Ok(event)
}

/// The file event of a fanotify event, about `process`, or why it is not recorded.
pub fn fanotify_file_event(
    ev: FanotifyEvent,
    process: Process,
    policy: &FilePolicy,
) -> Result<FileEvent, SkipReason> {
    if !ev.path_resolved {
        return Err("file/unresolved_path");
    }
    // The path was checked before the process was looked up (`FilePolicy::skip_path`): most of
    // a busy host's changes are excluded paths, and they should cost no lookup.
    if let Some(reason) = policy.skip_program(process.exe.as_deref()) {
        return Err(reason);
    }
    Ok(FileEvent {
        process,
        action: ev.action,
        source: Source::Fanotify,
        syscall: Some(ev.mask_name.to_owned()),
        path: ev.path,
        old_path: ev.old_path,
        target_path: ev.target_path,
        inode: ev.inode,
        device: ev.device,
        mode: ev.mode,
        owner_uid: ev.owner_uid,
        owner_gid: ev.owner_gid,
        is_dir: Some(ev.is_dir),
        watch: ev.watch.map(|w| w.to_string()),
        // fanotify reports what happened, never an attempt.
        success: true,
        exit: None,
        content: None,
        times: None,
    })
}

/// The file event of a chmod, chown or times call the eBPF source saw (with fanotify as the file
/// source, which cannot tell them apart), about `process`, or why it is not recorded. Unlike
/// fanotify it also reports refused attempts, with their errno.
pub fn attr_file_event(
    call: &AttrRecord,
    process: Process,
    policy: &FilePolicy,
) -> Result<FileEvent, SkipReason> {
    if let Some(reason) = policy.skip_program(process.exe.as_deref()) {
        return Err(reason);
    }
    Ok(FileEvent {
        process,
        action: if call.call.is_chmod() {
            FileAction::Chmod
        } else if call.call.is_times() {
            FileAction::Times
        } else {
            FileAction::Chown
        },
        source: Source::Ebpf,
        syscall: Some(call.call.name().to_owned()),
        path: call.path.clone(),
        old_path: None,
        target_path: None,
        inode: call.inode,
        device: call.device,
        mode: call.mode,
        owner_uid: call.uid,
        owner_gid: call.gid,
        is_dir: None,
        watch: None,
        success: call.ret == 0,
        exit: Some(i64::from(call.ret)),
        content: None,
        times: call.times,
    })
}

/// The file event of an eBPF file record, about `process`, or why it is not recorded. Like
/// audit's, it reports refused attempts too, with their errno; like a chmod call's, its time
/// and process are the call's own.
pub fn ebpf_file_event(
    record: &FileRecord,
    process: Process,
    policy: &FilePolicy,
) -> Result<FileEvent, SkipReason> {
    if record.path_unresolved {
        return Err("file/unresolved_path");
    }
    if record.path_truncated {
        // Its last components only: an absolute-looking path that is not the file's.
        return Err("file/path_too_deep");
    }
    if let Some(reason) = policy.skip_program(process.exe.as_deref()) {
        return Err(reason);
    }
    let action = match record.op {
        EbpfFileOp::Create | EbpfFileOp::Mkdir | EbpfFileOp::Mknod => FileAction::Create,
        EbpfFileOp::OpenWrite => FileAction::Open,
        EbpfFileOp::CloseWrite => FileAction::CloseWrite,
        EbpfFileOp::Unlink | EbpfFileOp::Rmdir => FileAction::Delete,
        EbpfFileOp::Rename => FileAction::Rename,
        EbpfFileOp::Link => FileAction::Link,
        EbpfFileOp::Symlink => FileAction::Symlink,
        EbpfFileOp::Truncate => FileAction::Truncate,
    };
    let is_dir = match record.op {
        EbpfFileOp::Mkdir | EbpfFileOp::Rmdir => Some(true),
        _ => record.mode.map(|mode| mode & libc::S_IFMT == libc::S_IFDIR),
    };
    let other = record.other.clone();
    let (old_path, target_path) = match record.op {
        EbpfFileOp::Rename => (other, None),
        EbpfFileOp::Link | EbpfFileOp::Symlink => (None, other),
        _ => (None, None),
    };
    Ok(FileEvent {
        process,
        action,
        source: Source::Ebpf,
        syscall: record.call.map(|call| {
            if record.io_uring {
                format!("io_uring({call})")
            } else {
                call.to_owned()
            }
        }),
        path: record.path.clone(),
        old_path,
        target_path,
        inode: record.inode,
        device: record.device,
        mode: record.mode,
        owner_uid: record.uid,
        owner_gid: record.gid,
        is_dir,
        watch: None,
        // An open's result is its descriptor. An io_uring operation recorded at its
        // submission has none yet.
        success: record.submitted || record.ret >= 0,
        exit: (!record.submitted).then_some(i64::from(record.ret)),
        content: None,
        times: None,
    })
}

/// `path` is `prefix` or inside it (component-wise: `/run` does not cover `/running`).
pub fn under(path: &[u8], prefix: &[u8]) -> bool {
    let prefix = match prefix {
        [rest @ .., b'/'] if !rest.is_empty() => rest,
        p => p,
    };
    path.starts_with(prefix)
        && (path.len() == prefix.len() || prefix == b"/" || path[prefix.len()] == b'/')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ebpf_record(op: EbpfFileOp, call: &'static str, path: &[u8]) -> FileRecord {
        FileRecord {
            op,
            call: Some(call),
            pid: 7,
            boot_ns: 1,
            start_ns: 1,
            ret: 0,
            inode: None,
            device: None,
            mode: None,
            uid: None,
            gid: None,
            path: path.to_vec(),
            other: None,
            path_truncated: false,
            other_truncated: false,
            path_unresolved: false,
            io_uring: false,
            compat: false,
            submitted: false,
            uring_pending: None,
        }
    }

    #[test]
    fn io_uring_file_operations_name_their_ring_and_submissions_have_no_result() {
        let policy = FilePolicy {
            exclude_paths: Vec::new(),
            include_paths: Vec::new(),
            exclude_processes: Vec::new(),
            own_pid: 1,
            watches: Vec::new(),
        };
        let mut rename = ebpf_record(EbpfFileOp::Rename, "renameat2", b"/tmp/new");
        rename.io_uring = true;
        rename.ret = -libc::ENOENT;
        let e = ebpf_file_event(&rename, Process::default(), &policy).unwrap();
        assert_eq!(e.syscall.as_deref(), Some("io_uring(renameat2)"));
        assert_eq!((e.success, e.exit), (false, Some(-i64::from(libc::ENOENT))));
        rename.submitted = true;
        rename.ret = 0;
        let e = ebpf_file_event(&rename, Process::default(), &policy).unwrap();
        assert_eq!((e.success, e.exit), (true, None));
    }

    #[test]
    fn ebpf_file_records_become_file_events() {
        let policy = FilePolicy {
            exclude_paths: Vec::new(),
            include_paths: Vec::new(),
            exclude_processes: vec![b"/usr/bin/dpkg".to_vec()],
            own_pid: 42,
            watches: Vec::new(),
        };
        let event = |r: &FileRecord| ebpf_file_event(r, Process::default(), &policy);
        let rmdir = event(&ebpf_record(EbpfFileOp::Rmdir, "unlinkat", b"/tmp/d")).unwrap();
        assert_eq!(rmdir.action, FileAction::Delete);
        assert_eq!(
            (rmdir.is_dir, rmdir.syscall.as_deref()),
            (Some(true), Some("unlinkat"))
        );
        let mut rename = ebpf_record(EbpfFileOp::Rename, "renameat2", b"/tmp/new");
        rename.other = Some(b"/tmp/old".to_vec());
        rename.ret = -libc::EXDEV;
        let rename = event(&rename).unwrap();
        assert_eq!(rename.old_path.as_deref(), Some(&b"/tmp/old"[..]));
        assert_eq!(
            (rename.success, rename.exit),
            (false, Some(-i64::from(libc::EXDEV)))
        );
        let mut link = ebpf_record(EbpfFileOp::Symlink, "symlink", b"/tmp/l");
        link.other = Some(b"../t".to_vec());
        let link = event(&link).unwrap();
        assert_eq!(
            (link.target_path.as_deref(), link.old_path),
            (Some(&b"../t"[..]), None)
        );
        // An open's result is its descriptor: a success.
        let mut create = ebpf_record(EbpfFileOp::Create, "openat", b"/tmp/f");
        create.ret = 3;
        create.mode = Some(0o100644);
        let create = event(&create).unwrap();
        assert!(create.success && create.is_dir == Some(false));
        // A path that is only a name, or only the last components, is not recorded.
        let mut unresolved = ebpf_record(EbpfFileOp::Unlink, "unlinkat", b"x");
        unresolved.path_unresolved = true;
        assert_eq!(event(&unresolved).unwrap_err(), "file/unresolved_path");
        let mut deep = ebpf_record(EbpfFileOp::Unlink, "unlink", b"/a/b");
        deep.path_truncated = true;
        assert_eq!(event(&deep).unwrap_err(), "file/path_too_deep");
        // Excluded programs are skipped.
        let dpkg = Process {
            exe: Some(b"/usr/bin/dpkg".to_vec()),
            ..Process::default()
        };
        let by_dpkg = ebpf_file_event(
            &ebpf_record(EbpfFileOp::Unlink, "unlink", b"/x"),
            dpkg,
            &policy,
        );
        assert!(by_dpkg.is_err());
    }

    #[test]
    fn prefixes_match_whole_components() {
        assert!(under(b"/run/x", b"/run"));
        assert!(under(b"/run", b"/run/"));
        assert!(!under(b"/running", b"/run"));
        assert!(under(b"/etc", b"/"));
        assert!(!under(b"/etc", b"/etc/shadow"));
    }

    #[test]
    fn the_agent_and_excluded_paths_and_programs_are_skipped() {
        let policy = FilePolicy {
            exclude_paths: vec![b"/var/lib/warden".to_vec()],
            include_paths: Vec::new(),
            exclude_processes: vec![b"/usr/bin/dpkg".to_vec()],
            own_pid: 42,
            watches: vec![
                (b"/home/u/.ssh".to_vec(), Arc::from("ssh")),
                (b"/home/u/.ssh/config".to_vec(), Arc::from("ssh-config")),
            ],
        };
        assert_eq!(
            policy.watch_of(b"/home/u/.ssh/id_ed25519").as_deref(),
            Some("ssh")
        );
        assert_eq!(
            policy.watch_of(b"/home/u/.ssh/config").as_deref(),
            Some("ssh-config")
        );
        assert_eq!(policy.watch_of(b"/home/u/.sshx"), None);
        assert_eq!(policy.skip(42, None, b"/tmp/x"), Some("file/self"));
        assert_eq!(
            policy.skip(7, None, b"/var/lib/warden/events.db-wal"),
            Some("file/excluded_path")
        );
        assert_eq!(
            policy.skip(7, Some(b"/usr/bin/dpkg"), b"/usr/bin/x"),
            Some("file/excluded_process")
        );
        assert_eq!(policy.skip(7, Some(b"/usr/bin/cp"), b"/tmp/x"), None);
    }

    #[test]
    fn a_look_tells_an_established_handshake_a_failed_one_and_another_socket() {
        let peer = SockAddr::Inet {
            addr: [127, 0, 0, 1].into(),
            port: 80,
        };
        let mine = SockAddr::Inet {
            addr: [127, 0, 0, 1].into(),
            port: 40_000,
        };
        let remote = Some(socket_address(&peer));
        let facts = |state, acked, remote: Option<SockAddr>| HandshakeFacts {
            inode: 9,
            state,
            bytes_acked: Some(acked),
            bytes_received: Some(0),
            last_ack_ms: 30,
            local: Some(mine.clone()),
            remote,
        };
        let look = |f: HandshakeFacts| look_of(Some(&f), remote.as_ref());
        assert_eq!(
            look(facts(socket_probe::TCP_SYN_SENT, 0, None)),
            Look::UnderWay { inode: 9 }
        );
        // Nothing sent or received past the SYN: the SYN-ACK, 30 ms ago, ended it.
        let established = Look::Ended {
            inode: 9,
            established: true,
            local: Some(socket_address(&mine)),
            ago: Some(Duration::from_millis(30)),
        };
        assert_eq!(look(facts(1, 1, Some(peer.clone()))), established);
        // Closed again since (no peer now): the acknowledged SYN still tells.
        assert_eq!(look(facts(7, 1, None)), established);
        // Data sent, or received: the last acknowledgement may be another's. Undated.
        let undated = Look::Ended {
            inode: 9,
            established: true,
            local: Some(socket_address(&mine)),
            ago: None,
        };
        assert_eq!(look(facts(1, 5, Some(peer.clone()))), undated);
        let received = HandshakeFacts {
            bytes_received: Some(1),
            ..facts(1, 1, Some(peer.clone()))
        };
        assert_eq!(look(received), undated);
        let failed = Look::Ended {
            inode: 9,
            established: false,
            local: None,
            ago: None,
        };
        assert_eq!(look(facts(7, 0, None)), failed);
        let elsewhere = SockAddr::Inet {
            addr: [10, 0, 0, 1].into(),
            port: 80,
        };
        assert_eq!(
            look(facts(1, 1, Some(elsewhere))),
            Look::Gone,
            "another socket"
        );
        assert_eq!(look(facts(10, 0, None)), Look::Gone, "a listener");
        assert_eq!(look_of(None, remote.as_ref()), Look::Gone);
    }

    fn net(
        call: NetCall,
        addr: Option<SockAddr>,
        exit: i64,
        errno: Option<&'static str>,
    ) -> NetEvent {
        NetEvent {
            id: Default::default(),
            complete: true,
            arch: warden_sources::audit::exec::arch::X86_64,
            syscall: 42,
            call,
            success: Some(exit >= 0),
            exit: Some(exit),
            errno,
            subject: Subject {
                pid: 77,
                ppid: 1,
                uid: 1000,
                euid: 0,
                comm: Some(b"curl".to_vec()),
                exe: Some(b"/usr/bin/curl".to_vec()),
                ..Subject::default()
            },
            fd: Some(3),
            addr,
            addr_raw: None,
            keys: Vec::new(),
            socket: None,
            first_look: None,
            cookie: None,
            asked: None,
            filter: None,
        }
    }

    const NO_PROBE: NetworkPolicy = NetworkPolicy {
        unix: false,
        other_families: false,
        probe_sockets: false,
    };

    #[test]
    fn a_connect_names_its_peer_and_the_callers_credentials() {
        let peer = SockAddr::Inet {
            addr: std::net::Ipv4Addr::new(10, 0, 0, 5),
            port: 443,
        };
        let e = network_event(
            &net(NetCall::Connect, Some(peer), -115, Some("EINPROGRESS")),
            Process {
                pid: 77,
                uid: Some(1000),
                ..Process::default()
            },
            &NO_PROBE,
        )
        .unwrap();
        assert_eq!(e.action, NetAction::Connect);
        assert_eq!(e.remote.as_ref().and_then(SocketAddress::port), Some(443));
        assert_eq!(e.local, None);
        // Under way is not a failure; the errno says so.
        assert!(e.success);
        assert_eq!(e.errno.as_deref(), Some("EINPROGRESS"));
        // The record's credentials win: the process became root after its exec.
        assert_eq!((e.process.uid, e.process.euid), (Some(1000), Some(0)));
        assert_eq!(e.process.exe.as_deref(), Some(&b"/usr/bin/curl"[..]));
        assert_eq!(e.syscall.as_deref(), Some("connect"));
    }

    #[test]
    fn sockets_outside_the_policy_are_skipped_with_a_reason() {
        let unix = SockAddr::Unix(UnixAddr::Path(b"/run/x.sock".to_vec()));
        let skip =
            |call, addr| network_event(&net(call, addr, 0, None), Process::default(), &NO_PROBE);
        assert_eq!(
            skip(NetCall::Connect, Some(unix)).unwrap_err(),
            "network/unix"
        );
        let netlink = SockAddr::Netlink { pid: 0, groups: 0 };
        assert_eq!(
            skip(NetCall::Bind, Some(netlink)).unwrap_err(),
            "network/other_family"
        );
        assert_eq!(
            skip(NetCall::SendTo, None).unwrap_err(),
            "network/connected_send"
        );
        let unspec = SockAddr::Other {
            family: family::UNSPEC,
            data: Vec::new(),
        };
        assert_eq!(
            skip(NetCall::Connect, Some(unspec)).unwrap_err(),
            "network/unspec"
        );
        // A listener with no address in the record: kept, and it is TCP if inet (unknown here).
        let listen = skip(NetCall::Listen, None).unwrap();
        assert_eq!((listen.action, listen.transport), (NetAction::Listen, None));
    }

    fn ebpf_net(
        call: NetCall,
        ret: i32,
        addr: Option<SockAddr>,
        socket: Option<SocketFacts>,
    ) -> NetRecord {
        NetRecord {
            call,
            pid: 77,
            boot_ns: 1,
            start_ns: 2,
            ret,
            fd: 5,
            io_uring: false,
            submitted: false,
            cq_overflow: false,
            compat: false,
            addr,
            addr_malformed: false,
            addr_cut: false,
            own_addr: false,
            socket,
            handshake: None,
            outcome: false,
            first_datagram: false,
            filter: None,
            traffic: None,
            dns: None,
            icmp: None,
            opening: None,
            unclaimed: false,
            answer: false,
        }
    }

    fn inet(last: u8, port: u16) -> SockAddr {
        SockAddr::Inet {
            addr: std::net::Ipv4Addr::new(10, 0, 0, last),
            port,
        }
    }

    fn tcp(local: Option<SockAddr>, remote: Option<SockAddr>) -> SocketFacts {
        SocketFacts {
            family: family::INET,
            sock_type: libc::SOCK_STREAM,
            protocol: libc::IPPROTO_TCP,
            local,
            remote,
        }
    }

    /// A connection's traffic record: a `close` (its end, failed when closed for an error) or a
    /// `traffic` look while open; no call; payload bytes (the peer's FIN and retransmissions
    /// not counted as data); the direction its connection's.
    #[test]
    fn connections_traffic_is_a_close_or_a_look() {
        let traffic = |still_open: bool, error: i32| TcpTraffic {
            since_ns: 1_000,
            state: 9, // LAST_ACK
            error,
            bytes_sent: 5_500,
            bytes_retransmitted: 500,
            bytes_received: 1_001,
            peer_fin: true,
            still_open,
            found_open: false,
            segments_sent: 9,
            segments_received: 8,
        };
        let record = |call: NetCall, t: TcpTraffic| NetRecord {
            boot_ns: 3_000,
            ret: 0,
            traffic: Some(t),
            ..ebpf_net(
                call,
                0,
                None,
                Some(tcp(Some(inet(1, 22)), Some(inet(2, 50_000)))),
            )
        };
        let event = |r: &NetRecord| ebpf_network_event(r, Process::default(), &NO_PROBE).unwrap();

        let closed = event(&record(NetCall::Accept, traffic(false, 0)));
        assert_eq!((closed.action, closed.success), (NetAction::Close, true));
        assert_eq!(
            (&closed.syscall, closed.exit, &closed.errno),
            (&None, None, &None)
        );
        assert_eq!(closed.direction(), "ingress");
        let t = closed.traffic.unwrap();
        assert_eq!(
            (t.bytes_sent, t.bytes_received, t.bytes_retransmitted),
            (5_000, 1_000, 500)
        );
        assert_eq!(
            (t.duration_ns, t.state.as_str(), t.incoming),
            (2_000, "LAST_ACK", true)
        );
        assert_eq!(closed.remote.and_then(|a| a.port()), Some(50_000));

        let reset = event(&record(NetCall::Connect, traffic(false, libc::ECONNRESET)));
        assert!(!reset.success);
        assert_eq!(reset.errno.as_deref(), Some("ECONNRESET"));
        assert_eq!(reset.direction(), "egress");

        let look = event(&record(NetCall::Connect, traffic(true, 0)));
        assert_eq!((look.action, look.success), (NetAction::Traffic, true));
        assert_eq!(look.exit, None);
        assert!(!look.traffic.unwrap().found_open);

        // A connection found open as the source started says so.
        let found = TcpTraffic {
            found_open: true,
            ..traffic(true, 0)
        };
        let look = event(&record(NetCall::Accept, found));
        assert!(look.traffic.unwrap().found_open);
    }

    /// A connection's first bytes: a `tls_hello` or an `http_request` of the connection's
    /// maker (not a call: no syscall, no result), with the connection's fd and ends; other
    /// bytes that passed the kernel's first look are skipped with a reason.
    #[test]
    fn a_connections_first_bytes_are_a_hello_or_a_request() {
        let record = |bytes: &[u8], cut: bool| NetRecord {
            opening: Some(warden_sources::ebpf::Captured {
                socket: 0xffff_8888_0000_1000,
                bytes: bytes.to_vec(),
                cut,
            }),
            ..ebpf_net(
                NetCall::SendMsg,
                0,
                None,
                Some(tcp(Some(inet(1, 40_000)), Some(inet(2, 443)))),
            )
        };
        let event = |r: &NetRecord| ebpf_network_event(r, Process::default(), &NO_PROBE);
        // A ClientHello for c2.exfil.example offering TLS 1.3, h2 and http/1.1 (built field by
        // field: record and handshake heads, version, random, session id, two suites, null
        // compression; server_name, ALPN, supported_versions, signature_algorithms).
        let hello = [
            "160301006b01000067",
            "0303",
            &"5a".repeat(32),
            "00",
            "000413011302",
            "0100",
            "003a",
            "00000015001300001063322e657866696c2e6578616d706c65",
            "0010000e000c02683208687474702f312e31",
            "002b0003020304",
            "000d000400020403",
        ]
        .concat();
        let hello = hex_bytes(&hello);
        let tls = event(&record(&hello, false)).unwrap();
        assert_eq!(tls.action, NetAction::TlsHello);
        assert_eq!((&tls.syscall, tls.exit, tls.fd), (&None, None, Some(5)));
        assert_eq!(tls.remote.as_ref().and_then(SocketAddress::port), Some(443));
        assert_eq!(tls.transport.as_deref(), Some("tcp"));
        let read = tls.tls.expect("the hello");
        assert_eq!(read.server_name.as_deref(), Some("c2.exfil.example"));
        assert_eq!(read.alpn, ["h2", "http/1.1"]);
        assert!(tls.http.is_none());

        let get = b"GET /x.sh HTTP/1.1\r\nHost: files.example\r\n\r\n";
        let http = event(&record(get, false)).unwrap();
        assert_eq!(http.action, NetAction::HttpRequest);
        let request = http.http.expect("the request");
        assert_eq!(
            (request.method.as_str(), request.target.as_str()),
            ("GET", "/x.sh")
        );
        assert!(http.tls.is_none());

        assert_eq!(
            event(&record(b"HELO mail.example\r\n", false)).unwrap_err(),
            "network/opening_not_a_request"
        );
    }

    fn hex_bytes(hex: &str) -> Vec<u8> {
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect()
    }

    /// A datagram socket's traffic record: a `close` (or a look) with no TCP state, its
    /// direction the way its first datagram went, its peer the one it is connected to.
    #[test]
    fn a_datagram_sockets_traffic_is_a_close_without_a_state() {
        let traffic = TcpTraffic {
            since_ns: 1_000,
            state: 0,
            error: 0,
            bytes_sent: 300,
            bytes_retransmitted: 0,
            bytes_received: 50,
            peer_fin: false,
            still_open: false,
            found_open: false,
            segments_sent: 3,
            segments_received: 1,
        };
        let udp = SocketFacts {
            sock_type: libc::SOCK_DGRAM,
            protocol: libc::IPPROTO_UDP,
            ..tcp(Some(inet(1, 40_000)), Some(inet(2, 53)))
        };
        let record = |call: NetCall| NetRecord {
            boot_ns: 3_000,
            ret: 0,
            fd: -1,
            traffic: Some(traffic),
            ..ebpf_net(call, 0, None, Some(udp.clone()))
        };
        let event = |r: &NetRecord| ebpf_network_event(r, Process::default(), &NO_PROBE).unwrap();
        let client = event(&record(NetCall::SendMsg));
        assert_eq!((client.action, client.success), (NetAction::Close, true));
        assert_eq!(client.transport.as_deref(), Some("udp"));
        assert_eq!((&client.syscall, client.fd), (&None, None));
        assert_eq!(client.direction(), "egress");
        assert_eq!(client.remote.and_then(|a| a.port()), Some(53));
        let t = client.traffic.unwrap();
        assert_eq!(t.state, "", "no TCP state");
        assert_eq!(
            (
                t.bytes_sent,
                t.segments_sent,
                t.bytes_received,
                t.segments_received
            ),
            (300, 3, 50, 1)
        );
        assert_eq!(t.duration_ns, 2_000);
        let server = event(&record(NetCall::RecvFrom));
        assert_eq!(server.direction(), "ingress");
    }

    /// A sniffer: its packet socket made (the link protocol it takes as its transport), bound
    /// to an interface (named), a filter attached; and a raw ICMP socket refused.
    #[test]
    fn packet_and_raw_sockets_are_recorded_with_what_they_take() {
        let event = |record: &NetRecord| ebpf_network_event(record, Process::default(), &NO_PROBE);
        let packet = |protocol: u16| SocketFacts {
            family: family::PACKET,
            sock_type: libc::SOCK_RAW,
            protocol: i32::from(protocol.to_be()),
            local: None,
            remote: None,
        };
        let e = event(&ebpf_net(NetCall::Socket, 5, None, Some(packet(3)))).unwrap();
        assert_eq!(e.action, NetAction::Socket);
        assert_eq!(
            e.family,
            Some(family::PACKET),
            "recorded without other_families"
        );
        assert_eq!(
            (e.transport.as_deref(), e.socket_type.as_deref()),
            (Some("all"), Some("raw"))
        );
        assert_eq!((e.success, e.exit, e.filter), (true, Some(5), None));

        // Bound to the loopback interface, for IPv4 only: the socket says no protocol (its
        // SO_PROTOCOL is 0), the address does.
        let lo = nix::net::if_::if_nametoindex("lo").expect("a loopback interface");
        let at_lo = SockAddr::Packet {
            protocol: 0x0800,
            ifindex: lo as i32,
        };
        let e = event(&ebpf_net(NetCall::Bind, 0, Some(at_lo), Some(packet(0)))).unwrap();
        assert_eq!(e.action, NetAction::Bind);
        assert_eq!(e.transport.as_deref(), Some("ip"));
        assert_eq!(e.socket_type, None, "a bind is about its address");
        assert_eq!(
            e.local,
            Some(SocketAddress::Link {
                ifindex: lo,
                interface: Some("lo".into()),
                protocol: 0x0800
            })
        );

        let mut attach = ebpf_net(NetCall::SetSockOpt, 0, None, Some(packet(0)));
        let program = warden_core::FilterProgram::Classic(vec![
            warden_core::ClassicInstruction {
                code: 6,
                jt: 0,
                jf: 0,
                k: 0,
            };
            30
        ]);
        attach.filter = Some(warden_sources::audit::net::FilterAttach {
            option: libc::SO_ATTACH_FILTER as u8,
            instructions: Some(30),
            program: Some(program.clone()),
        });
        let e = event(&attach).unwrap();
        assert_eq!(
            (e.action, e.socket_type.as_deref()),
            (NetAction::Filter, Some("raw"))
        );
        assert_eq!(
            e.filter,
            Some(SocketFilter {
                option: "SO_ATTACH_FILTER".into(),
                instructions: Some(30)
            })
        );
        assert_eq!(e.filter_program, Some(program), "the program goes with it");

        let icmp = SocketFacts {
            family: family::INET,
            sock_type: libc::SOCK_RAW,
            protocol: libc::IPPROTO_ICMP,
            local: None,
            remote: None,
        };
        let e = event(&ebpf_net(NetCall::Socket, -libc::EPERM, None, Some(icmp))).unwrap();
        assert_eq!((e.success, e.errno.as_deref()), (false, Some("EPERM")));
        assert_eq!(
            (e.transport.as_deref(), e.socket_type.as_deref()),
            (Some("icmp"), Some("raw"))
        );

        // A filter on a netlink socket (udev's monitors attach them): another family, left to
        // `other_families`.
        let mut netlink = ebpf_net(NetCall::SetSockOpt, 0, None, Some(packet(0)));
        netlink.socket.as_mut().unwrap().family = family::NETLINK;
        assert_eq!(event(&netlink).unwrap_err(), "network/other_family");
    }

    #[test]
    fn ebpf_network_records_name_both_ends_from_the_socket() {
        let event = |record: &NetRecord| ebpf_network_event(record, Process::default(), &NO_PROBE);
        // A connect under way: the peer asked for, this end as the kernel bound it.
        let connect = ebpf_net(
            NetCall::Connect,
            -libc::EINPROGRESS,
            Some(inet(5, 443)),
            Some(tcp(Some(inet(1, 40_000)), Some(inet(5, 443)))),
        );
        let e = event(&connect).unwrap();
        assert_eq!((e.action, e.source), (NetAction::Connect, Source::Ebpf));
        assert_eq!(e.remote.as_ref().and_then(SocketAddress::port), Some(443));
        assert_eq!(e.local.as_ref().and_then(SocketAddress::port), Some(40_000));
        assert_eq!(e.transport.as_deref(), Some("tcp"));
        assert!(e.success);
        assert_eq!(e.errno.as_deref(), Some("EINPROGRESS"));
        assert_eq!((e.process.pid, e.fd, e.exit), (77, Some(5), Some(-115)));
        // A refused one: failed, with its errno.
        let refused = ebpf_net(
            NetCall::Connect,
            -libc::ECONNREFUSED,
            Some(inet(5, 1)),
            Some(tcp(None, None)),
        );
        let e = event(&refused).unwrap();
        assert!(!e.success);
        assert_eq!(e.errno.as_deref(), Some("ECONNREFUSED"));
        assert_eq!(e.local, None);
        // An accept: both ends from the new connection.
        let accept = ebpf_net(
            NetCall::Accept4,
            9,
            None,
            Some(tcp(Some(inet(1, 80)), Some(inet(7, 50_000)))),
        );
        let e = event(&accept).unwrap();
        assert_eq!(e.action, NetAction::Accept);
        assert_eq!(e.local.as_ref().and_then(SocketAddress::port), Some(80));
        assert_eq!(
            e.remote.as_ref().and_then(SocketAddress::port),
            Some(50_000)
        );
        // A port-0 bind: the port the kernel chose; a refused bind: what was asked for.
        let bind = ebpf_net(
            NetCall::Bind,
            0,
            Some(inet(1, 0)),
            Some(tcp(Some(inet(1, 33_000)), None)),
        );
        assert_eq!(
            event(&bind)
                .unwrap()
                .local
                .as_ref()
                .and_then(SocketAddress::port),
            Some(33_000)
        );
        let refused_bind = ebpf_net(
            NetCall::Bind,
            -libc::EACCES,
            Some(inet(1, 80)),
            Some(tcp(None, None)),
        );
        assert_eq!(
            event(&refused_bind)
                .unwrap()
                .local
                .as_ref()
                .and_then(SocketAddress::port),
            Some(80)
        );
        // An io_uring operation: named as such, its descriptor unknown.
        let mut uring = accept.clone();
        (uring.io_uring, uring.fd) = (true, -1);
        let e = event(&uring).unwrap();
        assert_eq!(e.syscall.as_deref(), Some("io_uring(accept4)"));
        assert_eq!(e.fd, None);
        // A socket's first datagram to a peer, from the socket layer: no call, no result.
        let udp = SocketFacts {
            family: family::INET,
            sock_type: libc::SOCK_DGRAM,
            protocol: libc::IPPROTO_UDP,
            local: Some(inet(1, 5_000)),
            remote: None,
        };
        let mut first = ebpf_net(NetCall::SendMsg, 0, Some(inet(2, 53)), Some(udp));
        (first.first_datagram, first.fd) = (true, -1);
        let e = event(&first).unwrap();
        assert_eq!((e.action, e.success), (NetAction::Send, true));
        assert_eq!((e.syscall, e.exit, e.fd), (None, None, None));
        assert_eq!(e.transport.as_deref(), Some("udp"));
        assert_eq!(e.remote.as_ref().and_then(SocketAddress::port), Some(53));
        assert_eq!(e.local.as_ref().and_then(SocketAddress::port), Some(5_000));
        // Skipped, with their reasons.
        let unix = SocketFacts {
            family: family::UNIX,
            sock_type: libc::SOCK_STREAM,
            protocol: 0,
            local: None,
            remote: None,
        };
        let to_unix = ebpf_net(
            NetCall::Connect,
            0,
            Some(SockAddr::Unix(UnixAddr::Path(b"/run/x".to_vec()))),
            Some(unix),
        );
        assert_eq!(event(&to_unix).unwrap_err(), "network/unix");
        let mut garbled = ebpf_net(NetCall::Connect, -libc::EINVAL, None, None);
        garbled.addr_malformed = true;
        assert_eq!(event(&garbled).unwrap_err(), "network/malformed_address");
        let connected_send = ebpf_net(NetCall::SendTo, 1, None, Some(tcp(None, None)));
        assert_eq!(
            event(&connected_send).unwrap_err(),
            "network/connected_send"
        );
    }

    #[test]
    fn a_unix_listeners_path_read_from_its_socket_is_this_ends() {
        let policy = NetworkPolicy {
            unix: true,
            ..NO_PROBE
        };
        let socket = SocketFacts {
            family: family::UNIX,
            sock_type: libc::SOCK_STREAM,
            protocol: 0,
            local: None,
            remote: None,
        };
        let path = SockAddr::Unix(UnixAddr::Path(b"/run/x.sock".to_vec()));
        let here = Some(SocketAddress::Unix {
            path: b"/run/x.sock".to_vec(),
            abstract_name: false,
        });
        for call in [NetCall::Listen, NetCall::Accept4] {
            let mut record = ebpf_net(call, 0, Some(path.clone()), Some(socket.clone()));
            record.own_addr = true;
            let e = ebpf_network_event(&record, Process::default(), &policy).unwrap();
            assert_eq!((&e.local, &e.remote), (&here, &None), "{call:?}");
            assert_eq!(e.transport.as_deref(), Some("stream"));
        }
        // An address the accept named would be the peer's.
        let named = ebpf_net(NetCall::Accept4, 0, Some(path), Some(socket));
        let e = ebpf_network_event(&named, Process::default(), &policy).unwrap();
        assert_eq!((&e.local, &e.remote), (&None, &here));
    }

    #[test]
    fn a_non_blocking_connects_outcome_is_its_handshakes() {
        let event = |record: &NetRecord| ebpf_network_event(record, Process::default(), &NO_PROBE);
        let under_way = || {
            ebpf_net(
                NetCall::Connect,
                -libc::EINPROGRESS,
                Some(inet(5, 443)),
                Some(tcp(Some(inet(1, 40_000)), Some(inet(5, 443)))),
            )
        };
        // Ended inside the call: the connect has the handshake's outcome, the call's
        // EINPROGRESS its exit.
        let mut refused = under_way();
        refused.handshake = Some(Handshake::Failed(libc::ECONNREFUSED));
        let e = event(&refused).unwrap();
        assert_eq!(e.action, NetAction::Connect);
        assert!(!e.success);
        assert_eq!(e.errno.as_deref(), Some("ECONNREFUSED"));
        assert_eq!(
            (e.exit, e.syscall.as_deref()),
            (Some(-115), Some("connect"))
        );
        let mut established = under_way();
        established.handshake = Some(Handshake::Established);
        let e = event(&established).unwrap();
        assert!(e.success && e.errno.is_none());
        // Ended later: a result of its own, no call, with both ends and the connect's fd.
        let mut timed_out = under_way();
        (timed_out.outcome, timed_out.addr) = (true, None);
        timed_out.handshake = Some(Handshake::Failed(libc::ETIMEDOUT));
        let e = event(&timed_out).unwrap();
        assert_eq!(e.action, NetAction::ConnectResult);
        assert_eq!(e.action.direction(), "egress");
        assert!(!e.success);
        assert_eq!(e.errno.as_deref(), Some("ETIMEDOUT"));
        assert_eq!((e.exit, e.syscall, e.fd), (None, None, Some(5)));
        assert_eq!(e.remote.as_ref().and_then(SocketAddress::port), Some(443));
        assert_eq!(e.local.as_ref().and_then(SocketAddress::port), Some(40_000));
        // Closed before it ended: failed, with no error to name.
        timed_out.handshake = Some(Handshake::Failed(0));
        let e = event(&timed_out).unwrap();
        assert!(!e.success && e.errno.is_none());
    }

    #[test]
    fn an_io_uring_connect_recorded_at_submission_has_no_result() {
        // Its success posts no completion: the record's 0 is no result, and nothing failed.
        let mut submitted = ebpf_net(
            NetCall::Connect,
            0,
            Some(inet(5, 443)),
            Some(tcp(None, None)),
        );
        (submitted.io_uring, submitted.submitted, submitted.fd) = (true, true, -1);
        let e = ebpf_network_event(&submitted, Process::default(), &NO_PROBE).unwrap();
        assert_eq!(e.syscall.as_deref(), Some("io_uring(connect)"));
        assert_eq!((e.success, e.exit, e.errno), (true, None, None));
        assert_eq!(e.remote.as_ref().and_then(SocketAddress::port), Some(443));
        // Its failure completes, as an event of its own.
        submitted.submitted = false;
        submitted.ret = -libc::ECONNREFUSED;
        let e = ebpf_network_event(&submitted, Process::default(), &NO_PROBE).unwrap();
        assert_eq!(
            (e.success, e.exit),
            (false, Some(-i64::from(libc::ECONNREFUSED)))
        );
        assert_eq!(e.errno.as_deref(), Some("ECONNREFUSED"));
    }

    #[test]
    fn families_follow_the_policy() {
        let policy = NetworkPolicy {
            unix: false,
            other_families: false,
            probe_sockets: false,
        };
        assert!(policy.wants(Some(family::INET6)));
        assert!(policy.wants(None));
        assert!(!policy.wants(Some(family::UNIX)));
        assert!(!policy.wants(Some(family::NETLINK)));
    }
}

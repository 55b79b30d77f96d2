//! The ends of the TCP connections audit recorded, with their traffic, from the kernel's socket
//! diagnostics: the pure core. Audit sees a connect or an accept, never the connection's end;
//! the kernel describes each TCP socket as it destroys it (`tcp_diag`), by its cookie. So a
//! connect or accept is noted by its socket's cookie (read as its records were), and the
//! socket's destroy message is its end: a `close` event of the process that made or took it,
//! as eBPF records one. A dump's description of a noted socket still open is a look at it: a
//! `traffic` event.
//!
//! The two travel apart: audit's records wait for their process, the destroy messages do not.
//! So a destroy message no connection claims is kept a while, for a connection noted late.
//! At most `capacity` connections are noted at once; the oldest note is forgotten beyond that
//! (counted), as eBPF's LRU forgets its least recently looked at.
//!
//! A short connection is often gone before its cookie can be read (audit's records are read
//! milliseconds after the call). Such a connection is noted by its ends instead, for a while:
//! the peer's address and port (a connect's target, an accept's client) and, when known, its
//! own port. A destroyed socket with those ends is its end — when only one process called that
//! peer lately (its oldest connection waiting takes the oldest end); connections of several
//! processes to the same peer cannot be told apart, and none is given it (counted).

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use warden_core::{
    NetAction, NetworkEvent, Process, SocketAddress, Source, Traffic, tcp_state_name,
};
use warden_sources::tcp_diag::TcpSocket;

/// How long a destroy message no connection claimed waits for one, and how many wait at most:
/// audit's records of a connect reach the pipeline within a second or two.
const UNCLAIMED_FOR: Duration = Duration::from_secs(10);
const UNCLAIMED_MAX: usize = 16_384;

/// A connection noted: the event of the call that made it known, and when.
#[derive(Debug)]
struct Noted {
    connection: NetworkEvent,
    since_ns: i64,
    /// Found open as the agent started (not seen made): `since_ns` is the start.
    found_open: bool,
}

impl Noted {
    fn new(connection: &NetworkEvent, since_ns: i64) -> Noted {
        Noted {
            connection: connection.clone(),
            since_ns,
            found_open: false,
        }
    }
}

/// A connection noted by its ends (its cookie unknown): its own port, when known.
#[derive(Debug)]
struct ByEnds {
    noted: Noted,
    local_port: Option<u16>,
    at: Instant,
}

/// Who called a peer lately: one process, or several.
#[derive(Debug, Clone, Copy)]
struct Callers {
    process: ProcessId,
    several: bool,
    last: Instant,
}

/// A process as its notes tell it apart: its key, and its pid.
type ProcessId = (Option<warden_core::ProcessKey>, u32);

fn process_of(connection: &NetworkEvent) -> ProcessId {
    (connection.process.key, connection.process.pid)
}

impl ByEnds {
    fn fits(&self, socket: &TcpSocket) -> bool {
        self.local_port
            .is_none_or(|port| port == socket.local.port())
    }
}

/// The connections noted, and the destroy messages waiting for theirs.
#[derive(Debug)]
pub struct TcpEnds {
    noted: HashMap<u64, Noted>,
    /// Cookies in the order noted, for forgetting the oldest (a cookie whose note is gone
    /// already is passed over).
    order: VecDeque<u64>,
    capacity: usize,
    unclaimed: HashMap<u64, (TcpSocket, i64)>,
    unclaimed_order: VecDeque<(u64, Instant)>,
    /// The destroy messages waiting, by their peer (what a note by ends looks them up by).
    unclaimed_by_peer: HashMap<SocketAddr, VecDeque<u64>>,
    /// Connections noted by their ends, by their peer, oldest first.
    by_ends: HashMap<SocketAddr, VecDeque<ByEnds>>,
    by_ends_order: VecDeque<(SocketAddr, Instant)>,
    /// Who called each peer lately (connects and accepts, by cookie or by ends).
    callers: HashMap<SocketAddr, Callers>,
    /// Notes forgotten for room: those connections' ends go unrecorded.
    pub forgotten: u64,
    /// Ends that fitted connections of several processes noted by their ends: not recorded.
    pub ambiguous: u64,
}

impl TcpEnds {
    /// Notes up to `capacity` connections at once.
    pub fn new(capacity: usize) -> TcpEnds {
        TcpEnds {
            noted: HashMap::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
            unclaimed: HashMap::new(),
            unclaimed_order: VecDeque::new(),
            unclaimed_by_peer: HashMap::new(),
            by_ends: HashMap::new(),
            by_ends_order: VecDeque::new(),
            callers: HashMap::new(),
            forgotten: 0,
            ambiguous: 0,
        }
    }

    /// Connections noted now (by cookie, and by ends).
    pub fn len(&self) -> usize {
        self.noted.len() + self.by_ends.values().map(VecDeque::len).sum::<usize>()
    }

    /// Notes `connection` (a TCP connect's or accept's event, at `time_ns`, UTC) by its
    /// socket's `cookie`. Returns its end when its socket is gone already (its destroy message
    /// came first).
    pub fn note(
        &mut self,
        cookie: u64,
        connection: &NetworkEvent,
        time_ns: i64,
        now: Instant,
    ) -> Option<NetworkEvent> {
        self.expire(now);
        self.called(connection, now);
        let noted = Noted::new(connection, time_ns);
        if let Some((socket, ended_ns)) = self.take_unclaimed(cookie) {
            return end_of(&noted, &socket, ended_ns);
        }
        while self.noted.len() >= self.capacity {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            if self.noted.remove(&oldest).is_some() {
                self.forgotten += 1;
            }
        }
        if self.noted.insert(cookie, noted).is_none() {
            self.order.push_back(cookie);
        }
        None
    }

    /// Notes a connection found open as the agent started (at `time_ns`), by its socket's
    /// `cookie`: `connection` says who holds it and how it was made, as far as known. Its
    /// end and the looks at it are marked found open.
    pub fn note_found_open(&mut self, cookie: u64, connection: &NetworkEvent, time_ns: i64) {
        let now = Instant::now();
        if self.note(cookie, connection, time_ns, now).is_none()
            && let Some(noted) = self.noted.get_mut(&cookie)
        {
            noted.found_open = true;
        }
    }

    /// Notes `connection` (as [`Self::note`]) by its ends, its socket's cookie unknown: the
    /// peer the call named and, when known, its own port. Returns its end when a socket with
    /// those ends was destroyed already (and only one: several cannot be told apart).
    pub fn note_by_ends(
        &mut self,
        connection: &NetworkEvent,
        time_ns: i64,
        now: Instant,
    ) -> Option<NetworkEvent> {
        self.expire(now);
        self.called(connection, now);
        let peer = ip_end(connection.remote.as_ref())?;
        let local_port = ip_end(connection.local.as_ref())
            .map(|end| end.port())
            .filter(|&port| port != 0);
        let noted = ByEnds {
            noted: Noted::new(connection, time_ns),
            local_port,
            at: now,
        };
        // The oldest destroy message waiting with these ends, and whether another does. (Only
        // the first two are looked at: a storm to one server may leave thousands waiting.)
        let (oldest, several) = {
            let mut fitting = (self.unclaimed_by_peer.get(&peer).into_iter().flatten())
                .copied()
                .filter(|cookie| {
                    self.unclaimed
                        .get(cookie)
                        .is_some_and(|(socket, _)| noted.fits(socket))
                });
            (fitting.next(), fitting.next().is_some())
        };
        // The oldest, when it can only be this process's.
        if let Some(oldest) = oldest {
            if several && !self.only_caller(peer, connection) {
                self.ambiguous += 1;
                return None;
            }
            let (socket, ended_ns) = self.take_unclaimed(oldest)?;
            return end_of(&noted.noted, &socket, ended_ns);
        }
        self.by_ends.entry(peer).or_default().push_back(noted);
        self.by_ends_order.push_back((peer, now));
        None
    }

    /// A socket destroyed, as described at `time_ns` (UTC): the end of the connection it was,
    /// when one was noted (by its cookie, else by its ends); else kept a while for a
    /// connection noted late.
    pub fn destroyed(
        &mut self,
        socket: TcpSocket,
        time_ns: i64,
        now: Instant,
    ) -> Option<NetworkEvent> {
        self.expire(now);
        if let Some(noted) = self.noted.remove(&socket.cookie) {
            return end_of(&noted, &socket, time_ns);
        }
        if let Some(waiting) = self.by_ends.get_mut(&socket.remote) {
            let mut fitting = (0..waiting.len()).filter(|&at| waiting[at].fits(&socket));
            if let Some(at) = fitting.next() {
                // Several waiting with these ends: the oldest, when only its process called
                // this peer lately.
                let several = fitting.next().is_some();
                let process = process_of(&waiting[at].noted.connection);
                let alone = (self.callers.get(&socket.remote))
                    .is_some_and(|c| !c.several && c.process == process);
                if several && !alone {
                    self.ambiguous += 1;
                    return None;
                }
                let taken = waiting.remove(at)?;
                return end_of(&taken.noted, &socket, time_ns);
            }
        }
        if self.unclaimed.len() < UNCLAIMED_MAX {
            self.unclaimed_order.push_back((socket.cookie, now));
            self.unclaimed_by_peer
                .entry(socket.remote)
                .or_default()
                .push_back(socket.cookie);
            self.unclaimed.insert(socket.cookie, (socket, time_ns));
        }
        None
    }

    /// Notes that `connection`'s process called its peer.
    fn called(&mut self, connection: &NetworkEvent, now: Instant) {
        let Some(peer) = ip_end(connection.remote.as_ref()) else {
            return;
        };
        let process = process_of(connection);
        let callers = self.callers.entry(peer).or_insert(Callers {
            process,
            several: false,
            last: now,
        });
        if now.duration_since(callers.last) >= UNCLAIMED_FOR {
            // Long ago: anew.
            callers.several = false;
            callers.process = process;
        }
        callers.several |= callers.process != process;
        callers.last = now;
    }

    /// Whether `connection`'s process is the only one that called `peer` lately.
    fn only_caller(&self, peer: SocketAddr, connection: &NetworkEvent) -> bool {
        self.callers
            .get(&peer)
            .is_some_and(|c| !c.several && c.process == process_of(connection))
    }

    /// Takes the destroy message of `cookie` out of those waiting.
    fn take_unclaimed(&mut self, cookie: u64) -> Option<(TcpSocket, i64)> {
        let (socket, ended_ns) = self.unclaimed.remove(&cookie)?;
        if let Some(cookies) = self.unclaimed_by_peer.get_mut(&socket.remote) {
            // Mostly the oldest: found at once.
            if let Some(at) = cookies.iter().position(|&c| c == cookie) {
                cookies.remove(at);
            }
            if cookies.is_empty() {
                self.unclaimed_by_peer.remove(&socket.remote);
            }
        }
        Some((socket, ended_ns))
    }

    /// A look at the sockets `open` now (at `time_ns`): a `traffic` event for each noted
    /// connection among them.
    pub fn look(&self, open: &[TcpSocket], time_ns: i64) -> Vec<NetworkEvent> {
        open.iter()
            .filter_map(|socket| {
                let noted = self.noted.get(&socket.cookie)?;
                Some(traffic_event(noted, socket, time_ns, NetAction::Traffic))
            })
            .collect()
    }

    /// Lets go the destroy messages, and the notes by ends, that waited long enough (also
    /// done by every note and end: this is for a quiet spell).
    pub fn expire(&mut self, now: Instant) {
        while let Some(&(cookie, at)) = self.unclaimed_order.front() {
            if now.duration_since(at) < UNCLAIMED_FOR && self.unclaimed.len() < UNCLAIMED_MAX {
                break;
            }
            self.unclaimed_order.pop_front();
            self.take_unclaimed(cookie);
        }
        if self.callers.len() > 2 * (self.by_ends.len() + self.noted.len()) + 1024 {
            self.callers
                .retain(|_, c| now.duration_since(c.last) < UNCLAIMED_FOR);
        }
        // Connections noted by their ends wait as long: by then their sockets are gone.
        while let Some(&(peer, at)) = self.by_ends_order.front() {
            if now.duration_since(at) < UNCLAIMED_FOR {
                break;
            }
            self.by_ends_order.pop_front();
            if let Some(waiting) = self.by_ends.get_mut(&peer) {
                waiting.retain(|w| now.duration_since(w.at) < UNCLAIMED_FOR);
                if waiting.is_empty() {
                    self.by_ends.remove(&peer);
                }
            }
        }
        // The queue of notes holds a cookie per note made; let go the ones ended since, so
        // that it stays near the notes' number.
        if self.order.len() > 2 * self.noted.len() + 64 {
            let noted = &self.noted;
            self.order.retain(|cookie| noted.contains_key(cookie));
        }
    }
}

/// The `close` event of connection `noted`, its socket destroyed as `socket`: none for a
/// connect whose handshake failed (the peer never acknowledged its SYN), which was no
/// connection (its `connect_result` says so).
fn end_of(noted: &Noted, socket: &TcpSocket, time_ns: i64) -> Option<NetworkEvent> {
    let never_connected = noted.connection.action == NetAction::Connect
        && socket.counters.is_some_and(|c| c.bytes_acked == 0);
    (!never_connected).then(|| traffic_event(noted, socket, time_ns, NetAction::Close))
}

/// Whether the connection whose own end is `end` was taken by an accept, as far as the
/// listeners now (`listening`: their addresses and ports) tell: it holds a port one of them
/// listens on, at its address, at any address of its family, or (a dual-stack listener) at
/// IPv6's any address. A client bound by hand to a listening port is taken for an accept.
pub fn accepted_by_listener(listening: &HashSet<(IpAddr, u16)>, end: SocketAddr) -> bool {
    let any: IpAddr = if end.is_ipv4() {
        Ipv4Addr::UNSPECIFIED.into()
    } else {
        Ipv6Addr::UNSPECIFIED.into()
    };
    [end.ip(), any, Ipv6Addr::UNSPECIFIED.into()]
        .iter()
        .any(|ip| listening.contains(&(*ip, end.port())))
}

/// The event a connection found open at the start is noted by: as its connect or accept
/// would have been recorded, for `process`, which holds it as `fd`.
pub fn found_connection(
    process: Process,
    socket: &TcpSocket,
    fd: i32,
    accepted: bool,
) -> NetworkEvent {
    NetworkEvent {
        family: Some(if socket.local.is_ipv4() { 2 } else { 10 }),
        transport: Some("tcp".into()),
        local: Some(address(socket.local)),
        remote: Some(address(socket.remote)),
        fd: Some(i64::from(fd)),
        // An accept's connection is its result.
        exit: Some(i64::from(fd)),
        ..NetworkEvent::new(
            process,
            if accepted {
                NetAction::Accept
            } else {
                NetAction::Connect
            },
            Source::SockDiag,
        )
    }
}

/// An IP end as a socket address (none for a Unix one, or none at all).
fn ip_end(end: Option<&SocketAddress>) -> Option<SocketAddr> {
    match end? {
        SocketAddress::Ip { addr, port } => Some(SocketAddr::new(*addr, *port)),
        _ => None,
    }
}

fn address(end: SocketAddr) -> SocketAddress {
    SocketAddress::Ip {
        addr: end.ip(),
        port: end.port(),
    }
}

/// The `close` (or `traffic`) event of connection `noted`, whose socket the kernel described
/// as `socket` at `time_ns`: for the process of the call that made it known, with both ends
/// as the socket had them and its counters. A destroyed socket's state is CLOSE, which says
/// nothing of how it ended: a `close` has none.
///
/// The kernel counts the peer's FIN as a byte received. A look knows whether it came (the
/// states after it); an end does not, and takes it that it came, as it does when a connection
/// closes in order: one the peer reset, or that ended before the peer's FIN, is one byte short.
fn traffic_event(
    noted: &Noted,
    socket: &TcpSocket,
    time_ns: i64,
    action: NetAction,
) -> NetworkEvent {
    let connection = &noted.connection;
    let incoming = connection.action == NetAction::Accept;
    let counters = socket.counters.unwrap_or_default();
    NetworkEvent {
        family: connection.family,
        transport: Some("tcp".into()),
        local: Some(address(socket.local)),
        remote: Some(address(socket.remote)),
        // The connection's descriptor: a connect's own, an accept's new one.
        fd: if incoming {
            connection.exit
        } else {
            connection.fd
        },
        traffic: Some(Traffic {
            incoming,
            duration_ns: u64::try_from(time_ns - noted.since_ns).unwrap_or(0),
            state: match action {
                NetAction::Close => String::new(),
                _ => tcp_state_name(socket.state).to_owned(),
            },
            // Payload, each byte once (Linux 4.19+); before, what the peer acknowledged, less
            // the SYN (a FIN counts one).
            bytes_sent: match (counters.bytes_sent, counters.bytes_retransmitted) {
                (Some(sent), Some(again)) => sent.saturating_sub(again),
                _ => counters.bytes_acked.saturating_sub(1),
            },
            bytes_received: counters
                .bytes_received
                .saturating_sub(u64::from(peer_fin_came(action, socket.state))),
            bytes_retransmitted: counters.bytes_retransmitted.unwrap_or(0),
            segments_sent: u64::from(counters.segments_sent),
            segments_received: u64::from(counters.segments_received),
            found_open: noted.found_open,
        }),
        ..NetworkEvent::new(connection.process.clone(), action, Source::SockDiag)
    }
}

/// Whether the peer's FIN is in a socket's bytes received: after it, for a look; taken so for
/// an end (see [`traffic_event`]).
fn peer_fin_came(action: NetAction, state: u8) -> bool {
    // CLOSE_WAIT, LAST_ACK, CLOSING, TIME_WAIT.
    action == NetAction::Close || matches!(state, 8 | 9 | 11 | 6)
}

#[cfg(test)]
mod tests {
    use super::*;
    use warden_core::Process;
    use warden_sources::tcp_diag::TcpCounters;

    fn call(action: NetAction, fd: i64, exit: i64) -> NetworkEvent {
        NetworkEvent {
            syscall: Some(action.name().into()),
            family: Some(2),
            transport: Some("tcp".into()),
            fd: Some(fd),
            exit: Some(exit),
            ..NetworkEvent::new(
                Process {
                    pid: 42,
                    ..Process::default()
                },
                action,
                Source::Audit,
            )
        }
    }

    fn socket(cookie: u64, state: u8) -> TcpSocket {
        TcpSocket {
            cookie,
            local: "127.0.0.1:40000".parse().unwrap(),
            remote: "127.0.0.1:22".parse().unwrap(),
            state,
            inode: 0,
            counters: Some(TcpCounters {
                bytes_acked: 5_002,
                bytes_received: 7,
                bytes_sent: Some(5_100),
                bytes_retransmitted: Some(100),
                segments_sent: 9,
                segments_received: 8,
            }),
        }
    }

    const SECOND: i64 = 1_000_000_000;

    #[test]
    fn a_noted_connections_destroy_is_its_end_for_its_process() {
        let now = Instant::now();
        let mut ends = TcpEnds::new(10);
        assert_eq!(
            ends.note(7, &call(NetAction::Connect, 3, 0), SECOND, now),
            None
        );
        let end = ends
            .destroyed(socket(7, 7), 4 * SECOND, now)
            .expect("its end");
        assert_eq!(
            (end.action, end.source, end.fd),
            (NetAction::Close, Source::SockDiag, Some(3))
        );
        assert_eq!(end.process.pid, 42);
        assert_eq!(
            end.local,
            Some(SocketAddress::Ip {
                addr: [127, 0, 0, 1].into(),
                port: 40_000
            })
        );
        let traffic = end.traffic.unwrap();
        assert_eq!(
            (
                traffic.incoming,
                traffic.duration_ns,
                traffic.state.as_str(),
                traffic.bytes_sent,
                traffic.bytes_received,
                traffic.bytes_retransmitted,
                traffic.segments_sent,
            ),
            (false, 3 * SECOND as u64, "", 5_000, 6, 100, 9),
            "the peer's FIN taken out"
        );
        assert_eq!(ends.len(), 0, "ended: no longer noted");
        assert_eq!(ends.destroyed(socket(7, 7), 5 * SECOND, now), None, "once");
    }

    #[test]
    fn a_connect_whose_handshake_failed_has_no_end() {
        let now = Instant::now();
        let mut ends = TcpEnds::new(10);
        ends.note(6, &call(NetAction::Connect, 3, -115), 0, now);
        let mut refused = socket(6, 7);
        refused.counters = Some(TcpCounters::default());
        assert_eq!(ends.destroyed(refused, SECOND, now), None);
        assert_eq!(ends.len(), 0, "let go all the same");
    }

    #[test]
    fn an_accepts_end_is_incoming_on_its_new_descriptor() {
        let now = Instant::now();
        let mut ends = TcpEnds::new(10);
        ends.note(8, &call(NetAction::Accept, 3, 5), 0, now);
        let end = ends.destroyed(socket(8, 7), SECOND, now).unwrap();
        assert_eq!(end.fd, Some(5));
        assert!(end.traffic.unwrap().incoming);
    }

    #[test]
    fn a_destroy_that_comes_first_waits_for_its_connection_a_while() {
        let now = Instant::now();
        let mut ends = TcpEnds::new(10);
        assert_eq!(ends.destroyed(socket(9, 7), 2 * SECOND, now), None);
        let end = ends
            .note(9, &call(NetAction::Connect, 3, 0), SECOND, now)
            .expect("the end that came first");
        assert_eq!(end.traffic.unwrap().duration_ns, SECOND as u64);
        assert_eq!(ends.len(), 0);
        // Too late: let go.
        ends.destroyed(socket(10, 7), 2 * SECOND, now);
        let later = now + UNCLAIMED_FOR;
        assert_eq!(
            ends.note(10, &call(NetAction::Connect, 3, 0), SECOND, later),
            None
        );
        assert_eq!(ends.len(), 1, "noted, waiting for an end that went");
    }

    /// A call of `pid` to (or, accepted, from) 127.0.0.1:`peer`, on its own port `local`.
    fn by_ends(action: NetAction, pid: u32, local: u16, peer: u16) -> NetworkEvent {
        let mut e = call(action, 3, 5);
        e.process.pid = pid;
        let end = |port| {
            Some(SocketAddress::Ip {
                addr: [127, 0, 0, 1].into(),
                port,
            })
        };
        e.local = end(local);
        e.remote = end(peer);
        e
    }

    fn destroyed_between(cookie: u64, local: u16, peer: u16) -> TcpSocket {
        let mut s = socket(cookie, 7);
        s.local.set_port(local);
        s.remote.set_port(peer);
        s
    }

    #[test]
    fn a_connection_whose_cookie_was_not_read_is_ended_by_its_ends() {
        let now = Instant::now();
        let mut ends = TcpEnds::new(10);
        // A connect whose own port is unknown (its socket was gone when its records were read).
        assert_eq!(
            ends.note_by_ends(&by_ends(NetAction::Connect, 42, 0, 22), 0, now),
            None
        );
        let end = ends
            .destroyed(destroyed_between(1, 40_000, 22), SECOND, now)
            .expect("the end with its peer");
        assert_eq!((end.process.pid, end.fd), (42, Some(3)));
        assert_eq!(ends.len(), 0);
        // The destroy first, then the accept (its own port known, from its listener).
        assert_eq!(
            ends.destroyed(destroyed_between(2, 22, 40_001), SECOND, now),
            None
        );
        assert_eq!(
            ends.note_by_ends(&by_ends(NetAction::Accept, 43, 23, 40_001), 0, now),
            None,
            "another port of its own: not its end"
        );
        let end = ends
            .note_by_ends(&by_ends(NetAction::Accept, 43, 22, 40_001), 0, now)
            .expect("the end that came first");
        assert_eq!((end.process.pid, end.fd), (43, Some(5)));
    }

    #[test]
    fn ends_that_fit_several_processes_connections_are_given_to_none() {
        let now = Instant::now();
        let mut ends = TcpEnds::new(10);
        ends.note_by_ends(&by_ends(NetAction::Connect, 42, 0, 80), 0, now);
        ends.note_by_ends(&by_ends(NetAction::Connect, 44, 0, 80), 0, now);
        assert_eq!(
            ends.destroyed(destroyed_between(1, 40_000, 80), SECOND, now),
            None
        );
        assert_eq!(ends.ambiguous, 1);
        // One process's two: the oldest takes the first end.
        let mut ends = TcpEnds::new(10);
        let mut first = by_ends(NetAction::Connect, 42, 0, 80);
        first.fd = Some(3);
        let mut second = first.clone();
        second.fd = Some(4);
        ends.note_by_ends(&first, 0, now);
        ends.note_by_ends(&second, 0, now);
        let end = ends.destroyed(destroyed_between(1, 40_000, 80), SECOND, now);
        assert_eq!(end.and_then(|e| e.fd), Some(3));
        let end = ends.destroyed(destroyed_between(2, 40_001, 80), SECOND, now);
        assert_eq!(end.and_then(|e| e.fd), Some(4));
        // Ends that came first, all to a peer only one process called: oldest to oldest.
        let mut ends = TcpEnds::new(10);
        ends.destroyed(destroyed_between(1, 40_000, 80), SECOND, now);
        ends.destroyed(destroyed_between(2, 40_001, 80), SECOND, now);
        let end = ends.note_by_ends(&first, 0, now);
        assert_eq!(
            end.map(|e| e.local),
            Some(Some(SocketAddress::Ip {
                addr: [127, 0, 0, 1].into(),
                port: 40_000
            }))
        );
        let end = ends.note_by_ends(&second, 0, now);
        assert_eq!(
            end.map(|e| e.local),
            Some(Some(SocketAddress::Ip {
                addr: [127, 0, 0, 1].into(),
                port: 40_001
            }))
        );
        // Another process called the same peer: the ends that wait are no one's.
        ends.destroyed(destroyed_between(3, 40_002, 80), SECOND, now);
        ends.destroyed(destroyed_between(4, 40_003, 80), SECOND, now);
        ends.note_by_ends(&by_ends(NetAction::Connect, 44, 0, 80), 0, now);
        assert_eq!(ends.note_by_ends(&first, 0, now), None);
        assert_eq!(ends.ambiguous, 2);
        // Noted too long ago: its socket's end went by.
        ends.note_by_ends(&first, 0, now);
        let later = now + UNCLAIMED_FOR;
        assert_eq!(
            ends.destroyed(destroyed_between(3, 40_002, 80), SECOND, later),
            None
        );
    }

    #[test]
    fn a_connection_found_open_is_an_accept_when_a_listener_holds_its_port() {
        let listening: HashSet<(IpAddr, u16)> = [
            ("127.0.0.1".parse().unwrap(), 22),
            (Ipv4Addr::UNSPECIFIED.into(), 80),
            (Ipv6Addr::UNSPECIFIED.into(), 443),
        ]
        .into();
        let accepted = |end: &str| accepted_by_listener(&listening, end.parse().unwrap());
        assert!(accepted("127.0.0.1:22"), "its address");
        assert!(!accepted("127.0.0.2:22"), "another address's");
        assert!(accepted("10.0.0.5:80"), "any address");
        assert!(
            accepted("10.0.0.5:443") && accepted("[::1]:443"),
            "dual-stack"
        );
        assert!(!accepted("127.0.0.1:40000"), "a connect's own port");
        let found = found_connection(Process::default(), &socket(1, 1), 9, true);
        assert_eq!(
            (found.action, found.fd, found.exit),
            (NetAction::Accept, Some(9), Some(9))
        );
        assert_eq!(
            found.remote,
            Some(SocketAddress::Ip {
                addr: [127, 0, 0, 1].into(),
                port: 22
            })
        );
    }

    #[test]
    fn a_look_reports_the_noted_among_the_open_and_the_oldest_note_goes_for_room() {
        let now = Instant::now();
        let mut ends = TcpEnds::new(2);
        ends.note(1, &call(NetAction::Connect, 3, 0), 0, now);
        ends.note(2, &call(NetAction::Connect, 4, 0), 0, now);
        ends.note(3, &call(NetAction::Connect, 5, 0), 0, now);
        assert_eq!((ends.len(), ends.forgotten), (2, 1));
        let looks = ends.look(
            &[socket(1, 1), socket(2, 1), socket(3, 8), socket(99, 1)],
            SECOND,
        );
        let seen: Vec<_> = looks
            .iter()
            .map(|e| {
                let t = e.traffic.as_ref().unwrap();
                (e.action, e.fd, t.state.clone(), t.bytes_received)
            })
            .collect();
        assert_eq!(
            seen,
            [
                (NetAction::Traffic, Some(4), "ESTABLISHED".to_string(), 7),
                (NetAction::Traffic, Some(5), "CLOSE_WAIT".to_string(), 6)
            ],
            "the peer's FIN taken out once it came"
        );
        assert_eq!(ends.len(), 2, "a look ends nothing");
        assert!(
            looks
                .iter()
                .all(|e| !e.traffic.as_ref().unwrap().found_open)
        );
        // Found open at the start: its looks and its end say so.
        ends.note_found_open(4, &call(NetAction::Accept, 3, 6), 0);
        let look = ends.look(&[socket(4, 1)], SECOND);
        assert!(look[0].traffic.as_ref().unwrap().found_open);
        let end = ends.destroyed(socket(4, 7), 2 * SECOND, now).unwrap();
        let traffic = end.traffic.unwrap();
        assert!(traffic.found_open && traffic.incoming);
        assert_eq!((end.fd, traffic.duration_ns), (Some(6), 2 * SECOND as u64));
    }
}

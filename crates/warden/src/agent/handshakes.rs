//! Non-blocking connects seen through audit, followed to their end. Their call returns
//! `EINPROGRESS` and audit says no more: the handshake ends later, in the kernel, with no call
//! to audit. Each such connect is followed by looking at its socket (borrowed from the process,
//! read with `TCP_INFO`, its pending error left alone) until the handshake ends; the end is
//! recorded as a `connect_result`, the shape eBPF gives it from the TCP state change.
//!
//! This is the pure core: when to look again, and what a look means for a connect. The first
//! look is the audit reader's, taken as it reads the connect's records
//! (`NetEvent::first_look`); the later ones are the pipeline's (`activity::look_at_handshake`).
//!
//! What a look can tell: the SYN acknowledged (`tcpi_bytes_acked` ≥ 1) is an established
//! handshake, even when the connection is closed again by the time of the look; a closed
//! socket that never had its SYN acknowledged is a failed one (refused, timed out,
//! unreachable: which, the look cannot tell without taking the process's own error, so the
//! result names no errno). A descriptor closed or naming another socket before the end was
//! seen leaves the end unknown: counted, not guessed. An established handshake that sent and
//! received nothing since is timed at its SYN-ACK (`tcpi_last_ack_recv`, to the kernel's tick);
//! any other result at the look that found it ended.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use warden_core::{NetAction, NetworkEvent, SocketAddress};

use super::activity::SkipReason;

/// At most this many connects followed at once; more are counted and not followed.
pub const MAX_FOLLOWED: usize = 4096;

/// Looks after the first (which is at once): soon, while a loopback or LAN handshake ends,
/// then each second, as the SYN's retransmissions go.
const LOOK_AFTER: [Duration; 4] = [
    Duration::from_millis(10),
    Duration::from_millis(50),
    Duration::from_millis(200),
    Duration::from_millis(600),
];
const LOOK_EVERY: Duration = Duration::from_secs(1);

/// Followed no longer than this: Linux gives a SYN up after its sixth retransmission, 127 s in
/// by default (`tcp_syn_retries`).
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(135);

/// A connect being followed.
#[derive(Debug)]
pub struct Follow {
    /// The process and its descriptor.
    pub pid: u32,
    pub fd: i32,
    /// The socket's inode, from the first look: later looks must find the same socket.
    pub inode: Option<u64>,
    /// The connect's event, which its result repeats (process, ends, descriptor).
    pub connect: NetworkEvent,
    /// Its time (UTC ns): its result's is never earlier.
    connect_time_ns: i64,
    since: Instant,
    next: Instant,
    looks: usize,
    generation: u64,
}

impl Follow {
    /// A connect of `pid` on `fd` at `time_ns` (UTC ns) that returned `EINPROGRESS`,
    /// followed from `now` (its first look).
    pub fn new(pid: u32, fd: i32, connect: NetworkEvent, time_ns: i64, now: Instant) -> Follow {
        Follow {
            pid,
            fd,
            inode: None,
            connect,
            connect_time_ns: time_ns,
            since: now,
            next: now,
            looks: 0,
            generation: 0,
        }
    }
}

/// What one look at the socket found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Look {
    /// The socket, its handshake under way.
    UnderWay { inode: u64 },
    /// The socket, its handshake ended; `local` is its end when it has one; `ago`, how long
    /// before the look it ended, when the socket tells (see `activity::look_of`).
    Ended {
        inode: u64,
        established: bool,
        local: Option<SocketAddress>,
        ago: Option<Duration>,
    },
    /// Not the socket: the process or its descriptor is gone, or the number names another
    /// socket (or a non-TCP one) now.
    Gone,
}

/// A look, and when it was taken.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    pub look: Look,
    pub at: Instant,
    /// The wall clock then (UTC ns): the time of a result.
    pub time_ns: i64,
}

/// What became of a followed connect after a look.
#[derive(Debug, PartialEq)]
pub enum Settled {
    /// Its handshake ended: the `connect_result` to record.
    Result(Box<NetworkEvent>),
    /// Still under way: looked at again later.
    Again,
    /// Its end will not be known, and why (counted).
    Unknown(SkipReason),
}

/// The connects followed: one per process and descriptor, each looked at when due.
#[derive(Debug, Default)]
pub struct Handshakes {
    following: HashMap<(u32, i32), Follow>,
    /// When each is looked at next, soonest first; an entry whose generation is not its
    /// follow's any more (superseded) is passed over.
    due: BinaryHeap<Reverse<(Instant, u32, i32, u64)>>,
    generations: u64,
    /// Sockets whose end was recorded, by process and inode (the latest [`MAX_CLAIMED`]): a
    /// look that finds one again, under another connect's descriptor, is not that connect's.
    claimed: HashSet<(u32, u64)>,
    claimed_order: VecDeque<(u32, u64)>,
}

/// How many recorded sockets are remembered ([`Handshakes::claimed`]).
const MAX_CLAIMED: usize = 2 * MAX_FOLLOWED;

impl Handshakes {
    /// Follows a connect, from its first look when it had one (`seen`, then settled at
    /// once: see [`Self::settle`]). A connect followed before on the same descriptor of the
    /// same process is given up: its descriptor was closed and used again, and a look would
    /// find the newer socket. Returns what is not followed, to count (the older connect's
    /// end, or this one when too many are followed already), and what the first look settled.
    pub fn follow(
        &mut self,
        mut follow: Follow,
        seen: Option<Seen>,
    ) -> (Option<SkipReason>, Option<(Settled, i64)>) {
        let key = (follow.pid, follow.fd);
        let superseded = self.following.remove(&key).is_some();
        if !superseded && self.following.len() >= MAX_FOLLOWED {
            return (Some("network/handshakes_too_many"), None);
        }
        let reason = superseded.then_some("network/handshake_end_unseen");
        if let Some(seen) = seen {
            return (reason, Some(self.settle(follow, seen)));
        }
        self.schedule(&mut follow);
        self.following.insert(key, follow);
        (reason, None)
    }

    fn schedule(&mut self, follow: &mut Follow) {
        self.generations += 1;
        follow.generation = self.generations;
        self.due.push(Reverse((
            follow.next,
            follow.pid,
            follow.fd,
            follow.generation,
        )));
    }

    /// How many are followed.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.following.len()
    }

    /// When the next look is due.
    pub fn next_due(&mut self) -> Option<Instant> {
        self.drop_stale();
        self.due.peek().map(|Reverse((next, ..))| *next)
    }

    /// Passes over the due entries of superseded follows.
    fn drop_stale(&mut self) {
        while let Some(Reverse((_, pid, fd, generation))) = self.due.peek()
            && self
                .following
                .get(&(*pid, *fd))
                .is_none_or(|f| f.generation != *generation)
        {
            self.due.pop();
        }
    }

    /// The follows due for a look at `now`, soonest first and at most `most`, taken out
    /// (give each back to [`Self::settle`]).
    pub fn take_due(&mut self, now: Instant, most: usize) -> Vec<Follow> {
        let mut taken = Vec::new();
        while taken.len() < most {
            self.drop_stale();
            match self.due.peek() {
                Some(Reverse((next, pid, fd, _))) if *next <= now => {
                    let key = (*pid, *fd);
                    self.due.pop();
                    taken.extend(self.following.remove(&key));
                }
                _ => break,
            }
        }
        taken
    }

    /// What a look means for `follow`: its result, another look later (the follow kept), or
    /// an end that will not be known; and its time. A result's is its handshake's end when the
    /// look could date it (never before its connect), else the look's.
    pub fn settle(&mut self, mut follow: Follow, seen: Seen) -> (Settled, i64) {
        let Seen { look, at, time_ns } = seen;
        let inode = match &look {
            Look::UnderWay { inode } | Look::Ended { inode, .. } => Some(*inode),
            Look::Gone => None,
        };
        let same = match (follow.inode, inode) {
            (_, None) => false,
            (None, Some(_)) => true,
            (Some(was), Some(is)) => was == is,
        };
        let claimed = inode.is_some_and(|inode| self.claimed.contains(&(follow.pid, inode)));
        if !same || claimed {
            return (Settled::Unknown("network/handshake_end_unseen"), time_ns);
        }
        follow.inode = inode;
        let settled = match look {
            Look::Ended {
                inode,
                established,
                local,
                ago,
            } => {
                self.claim(follow.pid, inode);
                let result = connect_result(&follow.connect, established, local);
                let ended_ns = ago.map_or(time_ns, |ago| {
                    let ago = i64::try_from(ago.as_nanos()).unwrap_or(i64::MAX);
                    time_ns.saturating_sub(ago).max(follow.connect_time_ns)
                });
                return (Settled::Result(Box::new(result)), ended_ns);
            }
            Look::UnderWay { .. } if at.duration_since(follow.since) >= GIVE_UP_AFTER => {
                Settled::Unknown("network/handshake_followed_too_long")
            }
            Look::UnderWay { .. } => {
                let key = (follow.pid, follow.fd);
                if self.following.contains_key(&key) {
                    // A newer connect on the descriptor came while this one was looked at.
                    return (Settled::Unknown("network/handshake_end_unseen"), time_ns);
                }
                let wait = LOOK_AFTER.get(follow.looks).copied().unwrap_or(LOOK_EVERY);
                follow.looks += 1;
                follow.next = at + wait;
                self.schedule(&mut follow);
                self.following.insert(key, follow);
                Settled::Again
            }
            Look::Gone => unreachable!("told apart above"),
        };
        (settled, time_ns)
    }

    fn claim(&mut self, pid: u32, inode: u64) {
        if self.claimed.insert((pid, inode)) {
            self.claimed_order.push_back((pid, inode));
        }
        while self.claimed_order.len() > MAX_CLAIMED {
            if let Some(old) = self.claimed_order.pop_front() {
                self.claimed.remove(&old);
            }
        }
    }
}

/// The result of `connect`'s handshake: its process, ends and descriptor; no call (the
/// kernel ended it), and no errno (the look does not take the process's error).
pub fn connect_result(
    connect: &NetworkEvent,
    established: bool,
    local: Option<SocketAddress>,
) -> NetworkEvent {
    NetworkEvent {
        action: NetAction::ConnectResult,
        syscall: None,
        // Only TCP sockets are followed (their `TCP_INFO` read).
        transport: Some("tcp".to_owned()),
        local: local.or_else(|| connect.local.clone()),
        success: established,
        exit: None,
        errno: None,
        socket_type: None,
        filter: None,
        filter_program: None,
        traffic: None,
        ..connect.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use warden_core::{Process, Source};

    fn connect() -> NetworkEvent {
        NetworkEvent {
            syscall: Some("connect".into()),
            family: Some(2),
            transport: Some("tcp".into()),
            remote: Some(SocketAddress::Ip {
                addr: [127, 0, 0, 1].into(),
                port: 8080,
            }),
            fd: Some(5),
            exit: Some(-115),
            errno: Some("EINPROGRESS".into()),
            ..NetworkEvent::new(
                Process {
                    pid: 42,
                    ..Process::default()
                },
                NetAction::Connect,
                Source::Audit,
            )
        }
    }

    fn seen(look: Look, at: Instant) -> Seen {
        Seen {
            look,
            at,
            time_ns: 0,
        }
    }

    fn local() -> Option<SocketAddress> {
        Some(SocketAddress::Ip {
            addr: [127, 0, 0, 1].into(),
            port: 40_000,
        })
    }

    #[test]
    fn an_established_handshake_becomes_a_connect_result_with_this_end() {
        let t0 = Instant::now();
        let mut h = Handshakes::default();
        assert_eq!(h.follow(Follow::new(42, 5, connect(), 0, t0), None).0, None);
        let mut due = h.take_due(t0, usize::MAX);
        assert_eq!(due.len(), 1);
        let first = h
            .settle(due.remove(0), seen(Look::UnderWay { inode: 7 }, t0))
            .0;
        assert_eq!(first, Settled::Again);
        assert_eq!(h.next_due(), Some(t0 + LOOK_AFTER[0]));
        assert!(h.take_due(t0, usize::MAX).is_empty(), "not due yet");
        let at = t0 + LOOK_AFTER[0];
        let follow = h.take_due(at, usize::MAX).remove(0);
        let ended = Look::Ended {
            inode: 7,
            established: true,
            local: local(),
            ago: None,
        };
        let Settled::Result(result) = h.settle(follow, seen(ended, at)).0 else {
            panic!("no result");
        };
        assert_eq!(result.action, NetAction::ConnectResult);
        assert!(result.success);
        assert_eq!(
            (result.syscall, result.exit, result.errno),
            (None, None, None)
        );
        assert_eq!(result.local, local());
        assert_eq!(result.remote, connect().remote);
        assert_eq!(result.fd, Some(5));
        assert_eq!(result.process.pid, 42);
        assert_eq!(h.len(), 0);
    }

    #[test]
    fn a_result_is_timed_at_its_handshakes_end_when_the_look_dates_it() {
        let t0 = Instant::now();
        let mut h = Handshakes::default();
        let look = |ago: Option<u64>, time_ns| Seen {
            look: Look::Ended {
                inode: 7,
                established: true,
                local: local(),
                ago: ago.map(Duration::from_millis),
            },
            at: t0,
            time_ns,
        };
        const MS: i64 = 1_000_000;
        // Connected at 1,000 ms, looked at 1,500: ended 300 ms before the look.
        let follow = Follow::new(42, 5, connect(), 1_000 * MS, t0);
        assert_eq!(h.settle(follow, look(Some(300), 1_500 * MS)).1, 1_200 * MS);
        // Undated: the look's time.
        let follow = Follow::new(43, 5, connect(), 1_000 * MS, t0);
        assert_eq!(h.settle(follow, look(None, 1_500 * MS)).1, 1_500 * MS);
        // Never before its connect (the kernel's clock ticks and audit's stamp round apart).
        let follow = Follow::new(44, 5, connect(), 1_000 * MS, t0);
        assert_eq!(h.settle(follow, look(Some(900), 1_500 * MS)).1, 1_000 * MS);
    }

    #[test]
    fn a_failed_handshake_names_no_errno() {
        let t0 = Instant::now();
        let mut h = Handshakes::default();
        let follow = Follow::new(42, 5, connect(), 0, t0);
        let failed = Look::Ended {
            inode: 7,
            established: false,
            local: None,
            ago: None,
        };
        let Settled::Result(result) = h.settle(follow, seen(failed, t0)).0 else {
            panic!("no result");
        };
        assert!(!result.success);
        assert_eq!(result.errno, None);
    }

    #[test]
    fn another_socket_under_the_number_or_none_leaves_the_end_unknown() {
        let t0 = Instant::now();
        let mut h = Handshakes::default();
        assert_eq!(h.follow(Follow::new(42, 5, connect(), 0, t0), None).0, None);
        let follow = h.take_due(t0, usize::MAX).remove(0);
        assert_eq!(
            h.settle(follow, seen(Look::UnderWay { inode: 7 }, t0)).0,
            Settled::Again
        );
        let at = h.next_due().unwrap();
        let follow = h.take_due(at, usize::MAX).remove(0);
        let replaced = Look::Ended {
            inode: 8,
            established: true,
            local: local(),
            ago: None,
        };
        assert_eq!(
            h.settle(follow, seen(replaced, at)).0,
            Settled::Unknown("network/handshake_end_unseen")
        );
        let follow = Follow::new(42, 5, connect(), 0, t0);
        assert_eq!(
            h.settle(follow, seen(Look::Gone, t0)).0,
            Settled::Unknown("network/handshake_end_unseen")
        );
    }

    #[test]
    fn looks_slow_down_to_one_a_second_and_stop_when_the_kernel_would_have() {
        let t0 = Instant::now();
        let mut h = Handshakes::default();
        assert_eq!(h.follow(Follow::new(42, 5, connect(), 0, t0), None).0, None);
        let mut now = t0;
        let mut waits = Vec::new();
        loop {
            let follow = h.take_due(now, usize::MAX).remove(0);
            match h.settle(follow, seen(Look::UnderWay { inode: 7 }, now)).0 {
                Settled::Again => {
                    let next = h.next_due().unwrap();
                    waits.push(next - now);
                    now = next;
                }
                Settled::Unknown(reason) => {
                    assert_eq!(reason, "network/handshake_followed_too_long");
                    break;
                }
                Settled::Result(r) => panic!("{r:?}"),
            }
        }
        assert_eq!(&waits[..4], &LOOK_AFTER);
        assert!(waits[4..].iter().all(|w| *w == LOOK_EVERY));
        assert!(now - t0 >= GIVE_UP_AFTER);
        assert!(now - t0 < GIVE_UP_AFTER + LOOK_EVERY);
    }

    #[test]
    fn the_soonest_is_due_first_and_the_number_followed_is_bounded() {
        let t0 = Instant::now();
        let mut h = Handshakes::default();
        for i in 0..MAX_FOLLOWED {
            let at = t0 + Duration::from_millis((MAX_FOLLOWED - i) as u64);
            assert_eq!(
                h.follow(Follow::new(i as u32, 5, connect(), 0, at), None).0,
                None
            );
        }
        assert_eq!(
            h.follow(Follow::new(MAX_FOLLOWED as u32, 5, connect(), 0, t0), None)
                .0,
            Some("network/handshakes_too_many")
        );
        let first = h.take_due(t0 + Duration::from_millis(1), usize::MAX);
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].pid, (MAX_FOLLOWED - 1) as u32);
        let next = h.take_due(t0 + Duration::from_millis(10), 3);
        let pids: Vec<u32> = next.iter().map(|f| f.pid).collect();
        let last = MAX_FOLLOWED as u32 - 1;
        assert_eq!(
            pids,
            [last - 1, last - 2, last - 3],
            "soonest first, at most 3"
        );
        assert_eq!(h.len(), MAX_FOLLOWED - 4);
    }

    #[test]
    fn a_newer_connect_on_the_same_descriptor_supersedes_the_older() {
        let t0 = Instant::now();
        let mut h = Handshakes::default();
        assert_eq!(h.follow(Follow::new(42, 5, connect(), 0, t0), None).0, None);
        assert_eq!(
            h.follow(Follow::new(43, 5, connect(), 0, t0), None).0,
            None,
            "another process"
        );
        let mut newer = connect();
        newer.remote = local();
        assert_eq!(
            h.follow(Follow::new(42, 5, newer.clone(), 0, t0), None).0,
            Some("network/handshake_end_unseen"),
            "the older connect's socket is gone: its number was used again"
        );
        let due = h.take_due(t0, usize::MAX);
        assert_eq!(due.len(), 2, "one per process and descriptor");
        let mine = due.iter().find(|f| f.pid == 42).unwrap();
        assert_eq!(mine.connect.remote, newer.remote);
        assert_eq!(h.next_due(), None, "the older one's turn passed over");
    }

    #[test]
    fn a_socket_recorded_for_one_connect_is_not_another_ones() {
        let t0 = Instant::now();
        let mut h = Handshakes::default();
        let ended = || Look::Ended {
            inode: 7,
            established: true,
            local: local(),
            ago: None,
        };
        let first = Follow::new(42, 5, connect(), 0, t0);
        assert!(matches!(
            h.settle(first, seen(ended(), t0)).0,
            Settled::Result(_)
        ));
        // A connect on another descriptor looked at late, when its number named the socket
        // already recorded (a dup, or the number reused): not its end.
        let late = Follow::new(42, 6, connect(), 0, t0);
        assert_eq!(
            h.settle(late, seen(ended(), t0)).0,
            Settled::Unknown("network/handshake_end_unseen")
        );
        // Another process's socket of the same inode number is its own.
        let other = Follow::new(43, 5, connect(), 0, t0);
        assert!(matches!(
            h.settle(other, seen(ended(), t0)).0,
            Settled::Result(_)
        ));
    }
}

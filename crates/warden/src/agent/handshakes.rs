//! Non-blocking connects seen through audit, followed to their end. Their call returns
//! `EINPROGRESS` and audit says no more: the handshake ends later, in the kernel, with no call
//! to audit. Each such connect is followed by looking at its socket (borrowed from the process,
//! read with `TCP_INFO`, its pending error left alone) until the handshake ends; the end is
//! recorded as a `connect_result`, the shape eBPF gives it from the TCP state change.
//!
//! This is the pure core: when to look, and what a look means. The looking is the
//! pipeline's (`socket_probe::tcp_handshake`).
//!
//! What a look can tell: the SYN acknowledged (`tcpi_bytes_acked` ≥ 1) is an established
//! handshake, even when the connection is closed again by the time of the look; a closed
//! socket that never had its SYN acknowledged is a failed one (refused, timed out,
//! unreachable: which, the look cannot tell without taking the process's own error, so the
//! result names no errno). A descriptor closed or naming another socket before the end was
//! seen leaves the end unknown: counted, not guessed.

use std::collections::BinaryHeap;
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
    since: Instant,
    next: Instant,
    looks: usize,
}

impl Follow {
    /// A connect of `pid` on `fd` that returned `EINPROGRESS`, first looked at `now`.
    pub fn new(pid: u32, fd: i32, connect: NetworkEvent, now: Instant) -> Follow {
        Follow {
            pid,
            fd,
            inode: None,
            connect,
            since: now,
            next: now,
            looks: 0,
        }
    }
}

/// What one look at the socket found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Look {
    /// The socket, its handshake under way.
    UnderWay { inode: u64 },
    /// The socket, its handshake ended; `local` is its end when it has one.
    Ended {
        inode: u64,
        established: bool,
        local: Option<SocketAddress>,
    },
    /// Not the socket: the process or its descriptor is gone, or the number names another
    /// socket (or a non-TCP one) now.
    Gone,
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

/// The connects followed, by when each is looked at next.
#[derive(Debug, Default)]
pub struct Handshakes {
    due: BinaryHeap<Due>,
}

/// A follow ordered by its next look, soonest first.
#[derive(Debug)]
struct Due(Follow);

impl PartialEq for Due {
    fn eq(&self, other: &Self) -> bool {
        self.0.next == other.0.next
    }
}
impl Eq for Due {}
impl PartialOrd for Due {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Due {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        other.0.next.cmp(&self.0.next)
    }
}

impl Handshakes {
    /// Follows a connect; refused (and the reason given) when too many are followed already.
    pub fn follow(&mut self, follow: Follow) -> Result<(), SkipReason> {
        if self.due.len() >= MAX_FOLLOWED {
            return Err("network/handshakes_too_many");
        }
        self.due.push(Due(follow));
        Ok(())
    }

    /// How many are followed.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.due.len()
    }

    /// When the next look is due.
    pub fn next_due(&self) -> Option<Instant> {
        self.due.peek().map(|d| d.0.next)
    }

    /// The follows due for a look at `now`, soonest first and at most `most`, taken out
    /// (give each back to [`Self::settle`]).
    pub fn take_due(&mut self, now: Instant, most: usize) -> Vec<Follow> {
        let mut taken = Vec::new();
        while taken.len() < most && self.due.peek().is_some_and(|d| d.0.next <= now) {
            taken.extend(self.due.pop().map(|d| d.0));
        }
        taken
    }

    /// What `look` at `now` means for `follow`: its result, another look later (the follow
    /// kept), or an end that will not be known.
    pub fn settle(&mut self, mut follow: Follow, look: Look, now: Instant) -> Settled {
        let inode = match &look {
            Look::UnderWay { inode } | Look::Ended { inode, .. } => Some(*inode),
            Look::Gone => None,
        };
        let same = match (follow.inode, inode) {
            (_, None) => false,
            (None, Some(_)) => true,
            (Some(was), Some(is)) => was == is,
        };
        if !same {
            return Settled::Unknown("network/handshake_end_unseen");
        }
        follow.inode = inode;
        match look {
            Look::Ended {
                established, local, ..
            } => Settled::Result(Box::new(connect_result(
                &follow.connect,
                established,
                local,
            ))),
            Look::UnderWay { .. } if now.duration_since(follow.since) >= GIVE_UP_AFTER => {
                Settled::Unknown("network/handshake_followed_too_long")
            }
            Look::UnderWay { .. } => {
                let wait = LOOK_AFTER.get(follow.looks).copied().unwrap_or(LOOK_EVERY);
                follow.looks += 1;
                follow.next = now + wait;
                self.due.push(Due(follow));
                Settled::Again
            }
            Look::Gone => unreachable!("told apart above"),
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
        local: local.or_else(|| connect.local.clone()),
        success: established,
        exit: None,
        errno: None,
        ..connect.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use warden_core::{Process, Source};

    fn connect() -> NetworkEvent {
        NetworkEvent {
            process: Process {
                pid: 42,
                ..Process::default()
            },
            action: NetAction::Connect,
            source: Source::Audit,
            syscall: Some("connect".into()),
            family: Some(2),
            transport: Some("tcp".into()),
            local: None,
            remote: Some(SocketAddress::Ip {
                addr: [127, 0, 0, 1].into(),
                port: 8080,
            }),
            fd: Some(5),
            success: true,
            exit: Some(-115),
            errno: Some("EINPROGRESS".into()),
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
        h.follow(Follow::new(42, 5, connect(), t0)).unwrap();
        let mut due = h.take_due(t0, usize::MAX);
        assert_eq!(due.len(), 1);
        let first = h.settle(due.remove(0), Look::UnderWay { inode: 7 }, t0);
        assert_eq!(first, Settled::Again);
        assert_eq!(h.next_due(), Some(t0 + LOOK_AFTER[0]));
        assert!(h.take_due(t0, usize::MAX).is_empty(), "not due yet");
        let at = t0 + LOOK_AFTER[0];
        let follow = h.take_due(at, usize::MAX).remove(0);
        let ended = Look::Ended {
            inode: 7,
            established: true,
            local: local(),
        };
        let Settled::Result(result) = h.settle(follow, ended, at) else {
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
    fn a_failed_handshake_names_no_errno() {
        let t0 = Instant::now();
        let mut h = Handshakes::default();
        let follow = Follow::new(42, 5, connect(), t0);
        let failed = Look::Ended {
            inode: 7,
            established: false,
            local: None,
        };
        let Settled::Result(result) = h.settle(follow, failed, t0) else {
            panic!("no result");
        };
        assert!(!result.success);
        assert_eq!(result.errno, None);
    }

    #[test]
    fn another_socket_under_the_number_or_none_leaves_the_end_unknown() {
        let t0 = Instant::now();
        let mut h = Handshakes::default();
        h.follow(Follow::new(42, 5, connect(), t0)).unwrap();
        let follow = h.take_due(t0, usize::MAX).remove(0);
        assert_eq!(
            h.settle(follow, Look::UnderWay { inode: 7 }, t0),
            Settled::Again
        );
        let at = h.next_due().unwrap();
        let follow = h.take_due(at, usize::MAX).remove(0);
        let replaced = Look::Ended {
            inode: 8,
            established: true,
            local: local(),
        };
        assert_eq!(
            h.settle(follow, replaced, at),
            Settled::Unknown("network/handshake_end_unseen")
        );
        let follow = Follow::new(42, 5, connect(), t0);
        assert_eq!(
            h.settle(follow, Look::Gone, t0),
            Settled::Unknown("network/handshake_end_unseen")
        );
    }

    #[test]
    fn looks_slow_down_to_one_a_second_and_stop_when_the_kernel_would_have() {
        let t0 = Instant::now();
        let mut h = Handshakes::default();
        h.follow(Follow::new(42, 5, connect(), t0)).unwrap();
        let mut now = t0;
        let mut waits = Vec::new();
        loop {
            let follow = h.take_due(now, usize::MAX).remove(0);
            match h.settle(follow, Look::UnderWay { inode: 7 }, now) {
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
            h.follow(Follow::new(i as u32, 5, connect(), at)).unwrap();
        }
        assert_eq!(
            h.follow(Follow::new(0, 5, connect(), t0)),
            Err("network/handshakes_too_many")
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
}

//! The netlink process connector (`NETLINK_CONNECTOR`, `CN_IDX_PROC`): fork, exec and exit of
//! every process, with the kernel's timestamp, from a blocking reader thread into a bounded
//! channel (`try_send`: when full, drop and count).
//!
//! Built on the `proc-connector` crate (socket, subscribe/unsubscribe, message parsing). What
//! this module adds: the thread and channel, thread filtering, loss accounting, and errors that
//! name the capability.
//!
//! * **Threads**: the kernel reports fork and exit for every task. A fork whose child is a
//!   thread (`child_pid != child_tgid`) and the exit of a non-leader thread (`pid != tgid`) are
//!   not sent unless `include_threads` is set; they are counted (`thread_forks`,
//!   `thread_exits`). Exec is always process level (the kernel reports it after `de_thread`).
//! * **Loss**: the socket overrunning (`ENOBUFS`) is counted in `overruns`; the kernel numbers
//!   each CPU's events (`seq`), and a jump in one CPU's sequence is counted in `seq_gaps` (a
//!   hint: this kernel increments the counter under a per-CPU lock, so a gap means a message
//!   that never reached this socket).
//! * **Timestamps**: `timestamp_ns` is `ktime_get_ns()`, i.e. `CLOCK_MONOTONIC` in ns, which
//!   equals time since boot unless the machine suspended (see [`crate::procfs::monotonic_ns`]).
//! * **Privilege**: on kernels before 6.6 subscribing needs `CAP_NET_ADMIN` in the initial user
//!   and PID namespace; newer kernels let any user in the initial namespaces listen.
//! * **Stop**: the reader thread owns the connector; dropping it sends `PROC_CN_MCAST_IGNORE`
//!   (unsubscribe). A killed process cannot unsubscribe; the kernel then only keeps a listener
//!   count one too high, which costs nothing but building messages nobody reads.
//!
//! The subscription acknowledgement is read by `ProcConnector::new()`; if an event races ahead
//! of it that one event is consumed there (at most one, at start).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::procfs::boottime_ns;
use crossbeam_channel::{Receiver, Sender, TrySendError};
use proc_connector::{Error as PcError, ProcConnector, ProcEvent as PcEvent};
use thiserror::Error;

/// Events taken from the socket per wake-up at most.
const DRAIN_BATCH: usize = 4096;
/// The pause after a batch that emptied the socket: events gather meanwhile (the socket buffer
/// holds them), so the reader wakes a few hundred times a second under load, not per event.
const COALESCE: Duration = Duration::from_millis(10);

/// The kernel's per-event header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EventHeader {
    /// CPU that produced the event.
    pub cpu: u32,
    /// That CPU's event sequence number.
    pub seq: u32,
    /// `CLOCK_MONOTONIC` nanoseconds when the event happened.
    pub timestamp_ns: u64,
}

/// A process event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProcEvent {
    /// A task forked (clone without `CLONE_THREAD`, unless threads are included).
    Fork {
        /// Kernel header.
        header: EventHeader,
        /// The forking task's pid (thread id).
        parent_pid: u32,
        /// The forking task's process id (tgid).
        parent_tgid: u32,
        /// The new task's thread id.
        child_pid: u32,
        /// The new task's process id.
        child_tgid: u32,
    },
    /// A process called exec successfully.
    Exec {
        /// Kernel header.
        header: EventHeader,
        /// Thread id (equal to `tgid` after exec).
        pid: u32,
        /// Process id.
        tgid: u32,
    },
    /// A task exited.
    Exit {
        /// Kernel header.
        header: EventHeader,
        /// Thread id.
        pid: u32,
        /// Process id.
        tgid: u32,
        /// The wait status: `(code << 8) | signal` (see [`ProcEvent::exit_status`]).
        exit_code: u32,
        /// The signal the parent is sent (SIGCHLD = 17 normally), not the one that killed it.
        exit_signal: u32,
        /// The parent's thread id at exit (0 on kernels that do not report it).
        parent_pid: u32,
        /// The parent's process id at exit.
        parent_tgid: u32,
    },
}

/// How a process ended, decoded from [`ProcEvent::Exit`]'s `exit_code`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExitStatus {
    /// `exit(code)`.
    Exited(i32),
    /// Killed by a signal.
    Signaled {
        /// The signal number.
        signal: i32,
        /// A core dump was written.
        core_dumped: bool,
    },
}

impl ExitStatus {
    /// Decode a wait status.
    pub fn from_wait_status(status: u32) -> ExitStatus {
        let sig = (status & 0x7f) as i32;
        if sig == 0 {
            ExitStatus::Exited(((status >> 8) & 0xff) as i32)
        } else {
            ExitStatus::Signaled {
                signal: sig,
                core_dumped: status & 0x80 != 0,
            }
        }
    }
}

impl ProcEvent {
    /// The kernel header.
    pub fn header(&self) -> EventHeader {
        match self {
            ProcEvent::Fork { header, .. }
            | ProcEvent::Exec { header, .. }
            | ProcEvent::Exit { header, .. } => *header,
        }
    }

    /// The process the event is about (the child for a fork).
    pub fn tgid(&self) -> u32 {
        match self {
            ProcEvent::Fork { child_tgid, .. } => *child_tgid,
            ProcEvent::Exec { tgid, .. } | ProcEvent::Exit { tgid, .. } => *tgid,
        }
    }

    /// For an exit: the decoded status.
    pub fn exit_status(&self) -> Option<ExitStatus> {
        match self {
            ProcEvent::Exit { exit_code, .. } => Some(ExitStatus::from_wait_status(*exit_code)),
            _ => None,
        }
    }
}

/// Configuration of the connector source.
#[derive(Clone, Copy, Debug)]
pub struct ProcConnectorConfig {
    /// Receive buffer asked for (`SO_RCVBUFFORCE`, else `SO_RCVBUF`).
    pub receive_buffer: usize,
    /// Capacity of the output channel.
    pub channel_capacity: usize,
    /// Also send thread-level fork and exit events.
    pub include_threads: bool,
}

impl Default for ProcConnectorConfig {
    fn default() -> Self {
        ProcConnectorConfig {
            receive_buffer: 4 * 1024 * 1024,
            channel_capacity: 8192,
            include_threads: false,
        }
    }
}

/// Counters of the connector source.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProcConnectorStats {
    /// Fork events produced (sent or dropped).
    pub forks: u64,
    /// Exec events produced.
    pub execs: u64,
    /// Exit events produced.
    pub exits: u64,
    /// Thread creations seen and not sent.
    pub thread_forks: u64,
    /// Non-leader thread exits seen and not sent.
    pub thread_exits: u64,
    /// Other event kinds (uid, gid, sid, comm, ptrace, coredump, acks) ignored.
    pub other: u64,
    /// Socket overruns (`ENOBUFS`): events lost.
    pub overruns: u64,
    /// Events missing from a CPU's sequence.
    pub seq_gaps: u64,
    /// Messages that did not parse.
    pub malformed: u64,
    /// Other receive errors.
    pub receive_errors: u64,
    /// Events dropped because the channel was full (or its receiver gone).
    pub channel_dropped: u64,
}

/// Why the connector could not start.
#[derive(Debug, Error)]
pub enum ProcConnectorError {
    /// Subscribing was refused.
    #[error(
        "subscribe to the process connector: permission denied: needs CAP_NET_ADMIN in the initial user and PID namespace"
    )]
    Permission,
    /// Any other error.
    #[error("process connector: {0}")]
    Io(#[from] std::io::Error),
    /// The reader thread could not be spawned.
    #[error("spawn process connector thread: {0}")]
    Spawn(std::io::Error),
}

fn map_err(e: PcError) -> ProcConnectorError {
    match e {
        PcError::Os(io) if matches!(io.raw_os_error(), Some(libc::EPERM | libc::EACCES)) => {
            ProcConnectorError::Permission
        }
        PcError::Os(io) => ProcConnectorError::Io(io),
        other => ProcConnectorError::Io(std::io::Error::other(other.to_string())),
    }
}

/// A running process-connector source. Stop with [`ProcConnectorSource::stop`] or by dropping.
#[derive(Debug)]
pub struct ProcConnectorSource {
    stop: Arc<AtomicBool>,
    stats: Arc<Mutex<ProcConnectorStats>>,
    /// See [`ProcConnectorSource::caught_up_to`].
    caught_up: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
    receive_buffer: usize,
}

impl ProcConnectorSource {
    /// Subscribe and start the reader thread. Returns the source and its channel.
    pub fn start(
        config: ProcConnectorConfig,
    ) -> Result<(ProcConnectorSource, Receiver<ProcEvent>), ProcConnectorError> {
        let conn = ProcConnector::new().map_err(map_err)?;
        let receive_buffer = set_receive_buffer(&conn, config.receive_buffer);
        let (tx, rx) = crossbeam_channel::bounded(config.channel_capacity.max(1));
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(Mutex::new(ProcConnectorStats::default()));
        let caught_up = Arc::new(AtomicU64::new(0));
        let reader = Reader {
            conn,
            tx,
            stop: stop.clone(),
            shared: stats.clone(),
            caught_up: caught_up.clone(),
            stats: ProcConnectorStats::default(),
            include_threads: config.include_threads,
            last_seq: HashMap::new(),
        };
        let thread = std::thread::Builder::new()
            .name("warden-proc-cn".into())
            .spawn(move || reader.run())
            .map_err(ProcConnectorError::Spawn)?;
        Ok((
            ProcConnectorSource {
                stop,
                stats,
                caught_up,
                thread: Some(thread),
                receive_buffer,
            },
            rx,
        ))
    }

    /// A `CLOCK_BOOTTIME` instant (ns) before which every event the kernel sent has been
    /// passed on (into the receiver, or counted lost): when the reader last found the socket
    /// empty. Another source's event of a process, received before this, finds that process's
    /// fork and exec in the receiver. 0 until then; at most ~100 ms old while the reader runs.
    pub fn caught_up_to(&self) -> u64 {
        self.caught_up.load(Ordering::Acquire)
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> ProcConnectorStats {
        *self.stats.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The receive buffer the kernel granted (as `SO_RCVBUF` reports it).
    pub fn receive_buffer(&self) -> usize {
        self.receive_buffer
    }

    /// Stop the reader and unsubscribe. Idempotent.
    pub fn stop(&mut self) -> ProcConnectorStats {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.stats()
    }
}

impl Drop for ProcConnectorSource {
    fn drop(&mut self) {
        self.stop();
    }
}

fn set_receive_buffer(conn: &ProcConnector, bytes: usize) -> usize {
    let val = bytes.min(i32::MAX as usize / 2) as libc::c_int;
    let fd = conn.as_raw_fd();
    // SAFETY: setsockopt/getsockopt on our own fd with c_int values of the right size.
    unsafe {
        let forced = libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            (&raw const val).cast::<libc::c_void>(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        ) == 0;
        if !forced {
            let _ = conn.set_recv_buf_size(bytes);
        }
        let mut got: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&raw mut got).cast::<libc::c_void>(),
            &mut len,
        );
        got.max(0) as usize
    }
}

struct Reader {
    conn: ProcConnector,
    tx: Sender<ProcEvent>,
    stop: Arc<AtomicBool>,
    shared: Arc<Mutex<ProcConnectorStats>>,
    caught_up: Arc<AtomicU64>,
    stats: ProcConnectorStats,
    include_threads: bool,
    last_seq: HashMap<u32, u32>,
}

impl Reader {
    fn run(mut self) {
        let mut buf = vec![0u8; 16 * 1024];
        while !self.stop.load(Ordering::SeqCst) {
            // Block for the first event, then take whatever else is queued without waiting;
            // publish the counters once per batch, and pause briefly when the queue ran dry
            // so a busy host costs one wake-up per few milliseconds, not one per event.
            let mut timeout = Duration::from_millis(100);
            let mut got = 0;
            while got < DRAIN_BATCH {
                let asked_at = boottime_ns();
                match self.conn.recv_timeout(&mut buf, timeout) {
                    Ok(Some(ev)) => {
                        got += 1;
                        self.handle(ev);
                    }
                    // A wait that timed out: ask once more without waiting, so that the mark
                    // below is of now, not of when the wait began.
                    Ok(None) | Err(PcError::WouldBlock) if !timeout.is_zero() => {}
                    Ok(None) | Err(PcError::WouldBlock) => {
                        // The socket was empty when asked: all sent before is passed on.
                        self.caught_up.store(asked_at, Ordering::Release);
                        break;
                    }
                    Err(PcError::Interrupted) => break,
                    Err(PcError::Overrun) => self.stats.overruns += 1,
                    Err(PcError::Truncated | PcError::UnexpectedConnector) => {
                        self.stats.malformed += 1;
                    }
                    Err(_) => {
                        self.stats.receive_errors += 1;
                        std::thread::sleep(Duration::from_millis(10));
                        break;
                    }
                }
                timeout = Duration::ZERO;
            }
            *self.shared.lock().unwrap_or_else(PoisonError::into_inner) = self.stats;
            if got > 0 && got < DRAIN_BATCH {
                std::thread::sleep(COALESCE);
            }
        }
        // Dropping `conn` unsubscribes (PROC_CN_MCAST_IGNORE).
    }

    fn track(&mut self, cpu: u32, seq: u32) {
        if let Some(last) = self.last_seq.insert(cpu, seq) {
            let expected = last.wrapping_add(1);
            let gap = seq.wrapping_sub(expected);
            // A small forward jump is loss; anything else (reordering, wrap) is ignored.
            if gap != 0 && gap < 1 << 30 {
                self.stats.seq_gaps += u64::from(gap);
            }
        }
    }

    fn handle(&mut self, ev: PcEvent) {
        let out = match ev {
            PcEvent::Fork {
                cpu,
                seq,
                parent_pid,
                parent_tgid,
                child_pid,
                child_tgid,
                timestamp_ns,
            } => {
                self.track(cpu, seq);
                if child_pid != child_tgid && !self.include_threads {
                    self.stats.thread_forks += 1;
                    return;
                }
                self.stats.forks += 1;
                ProcEvent::Fork {
                    header: EventHeader {
                        cpu,
                        seq,
                        timestamp_ns,
                    },
                    parent_pid,
                    parent_tgid,
                    child_pid,
                    child_tgid,
                }
            }
            PcEvent::Exec {
                cpu,
                seq,
                pid,
                tgid,
                timestamp_ns,
            } => {
                self.track(cpu, seq);
                self.stats.execs += 1;
                ProcEvent::Exec {
                    header: EventHeader {
                        cpu,
                        seq,
                        timestamp_ns,
                    },
                    pid,
                    tgid,
                }
            }
            PcEvent::Exit {
                cpu,
                seq,
                pid,
                tgid,
                exit_code,
                exit_signal,
                parent_pid,
                parent_tgid,
                timestamp_ns,
            } => {
                self.track(cpu, seq);
                if pid != tgid && !self.include_threads {
                    self.stats.thread_exits += 1;
                    return;
                }
                self.stats.exits += 1;
                ProcEvent::Exit {
                    header: EventHeader {
                        cpu,
                        seq,
                        timestamp_ns,
                    },
                    pid,
                    tgid,
                    exit_code,
                    exit_signal,
                    parent_pid,
                    parent_tgid,
                }
            }
            PcEvent::Uid { cpu, seq, .. }
            | PcEvent::Gid { cpu, seq, .. }
            | PcEvent::Sid { cpu, seq, .. }
            | PcEvent::Ptrace { cpu, seq, .. }
            | PcEvent::Comm { cpu, seq, .. }
            | PcEvent::Coredump { cpu, seq, .. } => {
                self.track(cpu, seq);
                self.stats.other += 1;
                return;
            }
            _ => {
                self.stats.other += 1;
                return;
            }
        };
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = self.tx.try_send(out) {
            self.stats.channel_dropped += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_status() {
        assert_eq!(ExitStatus::from_wait_status(7 << 8), ExitStatus::Exited(7));
        assert_eq!(ExitStatus::from_wait_status(0), ExitStatus::Exited(0));
        assert_eq!(
            ExitStatus::from_wait_status(9),
            ExitStatus::Signaled {
                signal: 9,
                core_dumped: false
            }
        );
        assert_eq!(
            ExitStatus::from_wait_status(0x80 | 11),
            ExitStatus::Signaled {
                signal: 11,
                core_dumped: true
            }
        );
    }
}

//! The kernel's side of [`super::tcp_ends`]: a thread that listens for TCP sockets as they are
//! destroyed and hands their descriptions to the pipeline, and the dumps of the sockets still
//! open for the looks. The thread never blocks on the pipeline: a full queue drops (counted).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError};
use warden_core::NetworkEvent;
use warden_sources::tcp_diag::{self, Described, DestroyListener};

use super::tcp_ends::TcpEnds;

/// Reads of destroyed sockets queued for the pipeline at most (each up to 64 KiB of messages,
/// some 400 sockets).
const QUEUE: usize = 1024;
/// How long the thread waits for a message before it looks at its stop flag again.
const LISTEN_FOR: Duration = Duration::from_millis(200);
/// How long it lets messages gather after one came: the kernel sends each socket's on its
/// own, and a storm of short connections would else be a batch per socket.
const GATHER_FOR: Duration = Duration::from_millis(10);

/// What the listening thread lost, by cause.
#[derive(Debug, Default)]
pub struct DiagLosses {
    /// The kernel dropped messages: the receive buffer was full (`ENOBUFS`).
    pub buffer_overflow: AtomicU64,
    /// The pipeline's queue was full.
    pub queue_full: AtomicU64,
    /// Messages that could not be read.
    pub malformed: AtomicU64,
    /// Reads that failed (the error said on stderr once).
    pub read_errors: AtomicU64,
}

/// The ends of audit's TCP connections, as the kernel destroys their sockets.
pub struct DiagEnds {
    pub ends: TcpEnds,
    pub rx: Receiver<Described>,
    /// Destroyed sockets taken from `rx` that the store's queue had no room for yet.
    pub waiting: std::collections::VecDeque<warden_sources::tcp_diag::TcpSocket>,
    pub losses: Arc<DiagLosses>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// How often connections still open are looked at (`None`: only at the stop).
    look_every: Option<Duration>,
    last_look: Instant,
}

impl DiagEnds {
    /// Joins the destroy groups and starts the listening thread; notes up to `capacity`
    /// connections at once.
    pub fn start(capacity: usize, look_every: Option<Duration>) -> std::io::Result<DiagEnds> {
        let listener = DestroyListener::open()?;
        let (tx, rx) = crossbeam_channel::bounded(QUEUE);
        let stop = Arc::new(AtomicBool::new(false));
        let losses = Arc::new(DiagLosses::default());
        let thread = std::thread::Builder::new()
            .name("warden-tcp-ends".into())
            .spawn({
                let (stop, losses) = (stop.clone(), losses.clone());
                move || listen(listener, &tx, &stop, &losses)
            })?;
        Ok(DiagEnds {
            ends: TcpEnds::new(capacity),
            rx,
            waiting: std::collections::VecDeque::new(),
            losses,
            stop,
            thread: Some(thread),
            look_every,
            last_look: Instant::now(),
        })
    }

    /// Whether a look at the connections still open is due.
    pub fn look_due(&self) -> bool {
        self.look_every
            .is_some_and(|every| self.last_look.elapsed() >= every)
    }

    /// A look at the noted connections still open: their `traffic` events, at `time_ns`.
    pub fn look(&mut self, time_ns: i64) -> std::io::Result<Vec<NetworkEvent>> {
        self.last_look = Instant::now();
        let open = tcp_diag::open_tcp_sockets()?;
        self.losses
            .malformed
            .fetch_add(open.malformed, Ordering::Relaxed);
        Ok(self.ends.look(&open.sockets, time_ns))
    }

    /// Stops the listening thread.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for DiagEnds {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The first process holding each socket of `inodes` (the lowest pid), and its descriptor:
/// from every process's /proc/PID/fd, where a socket's link reads `socket:[INODE]`. `me`'s
/// are left out.
pub fn socket_holders(
    inodes: &std::collections::HashSet<u64>,
    me: u32,
) -> std::collections::HashMap<u64, (u32, i32)> {
    let mut holders = std::collections::HashMap::new();
    let mut pids =
        warden_sources::procfs::pids_in(std::path::Path::new("/proc")).unwrap_or_default();
    pids.sort_unstable();
    for pid in pids.into_iter().filter(|&pid| pid != me) {
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        for entry in fds.flatten() {
            let Some(fd) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<i32>().ok())
            else {
                continue;
            };
            let Ok(link) = std::fs::read_link(entry.path()) else {
                continue;
            };
            let inode = link
                .to_str()
                .and_then(|l| l.strip_prefix("socket:[")?.strip_suffix(']')?.parse().ok());
            if let Some(inode) = inode.filter(|i| inodes.contains(i)) {
                holders.entry(inode).or_insert((pid, fd));
            }
        }
    }
    holders
}

fn listen(
    mut listener: DestroyListener,
    tx: &Sender<Described>,
    stop: &AtomicBool,
    losses: &DiagLosses,
) {
    let mut said = false;
    loop {
        // At the stop, what the socket holds still is read (no wait): those ends are the last.
        let stopping = stop.load(Ordering::SeqCst);
        match listener.read(if stopping { Duration::ZERO } else { LISTEN_FOR }) {
            Ok(described) => {
                if described.overflowed {
                    losses.buffer_overflow.fetch_add(1, Ordering::Relaxed);
                }
                losses
                    .malformed
                    .fetch_add(described.malformed, Ordering::Relaxed);
                if described.sockets.is_empty() {
                    if stopping {
                        return;
                    }
                    continue;
                }
                let sockets = described.sockets.len() as u64;
                let gather = sockets < 64;
                match tx.try_send(described) {
                    Ok(()) => {}
                    Err(TrySendError::Full(_)) => {
                        losses.queue_full.fetch_add(sockets, Ordering::Relaxed);
                    }
                    Err(TrySendError::Disconnected(_)) => return,
                }
                if gather && !stopping {
                    std::thread::sleep(GATHER_FOR);
                }
            }
            Err(e) => {
                losses.read_errors.fetch_add(1, Ordering::Relaxed);
                if !said {
                    say!("warden: reading destroyed TCP sockets: {e}");
                    said = true;
                }
                if stopping {
                    return;
                }
                std::thread::sleep(Duration::from_secs(1));
            }
        }
    }
}

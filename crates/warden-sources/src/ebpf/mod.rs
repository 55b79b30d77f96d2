//! Process lifecycle from eBPF: fork, exec and exit of every process, read by a small program
//! at the scheduler's BTF tracepoints (bpf/process.bpf.c, compiled by build.rs and embedded)
//! and delivered through one ring buffer to a reader thread, which decodes the records
//! ([`record`]) into a bounded queue. On request, with them in the same ring: chmod/chown
//! calls, file changes (bpf/files.h) and network calls (bpf/net.h), each read at its
//! syscall's tracepoint in the calling process.
//!
//! Cheaper than the audit exec path: no records to format in the kernel or to parse and
//! reassemble here, and one ring shared by all CPUs keeps a process's fork, exec and exit in
//! order. Loading needs CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN) and kernel BTF. The programs
//! are detached when the source stops or the agent dies (nothing is pinned), so the kernel is
//! left as it was whatever happens.

pub mod record;
pub mod uring;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use thiserror::Error;

#[cfg(warden_bpf)]
use crate::audit::net::NetCall;
use crate::held::{HeldFile, Pool, open_to_hold};
use crate::queue::{BoundedSender, bounded_lazy};
pub use record::{
    AttrCall, AttrRecord, Captured, ExecFlags, ExecRecord, ExitRecord, FileOp, FileRecord,
    ForkRecord, Handshake, NetRecord, Record, RecordError, ScriptRecord, TcpTraffic,
};

/// Where the kernel's BTF is; CO-RE relocations and BTF tracepoints need it.
const KERNEL_BTF: &str = "/sys/kernel/btf/vmlinux";
/// After a drain, let records gather this long before the next: a busy host costs one wakeup
/// per few milliseconds, not one per process.
const COALESCE: Duration = Duration::from_millis(25);
/// How long an io_uring file operation recorded at its submission waits for its result
/// before it is passed on without one.
const URING_RESULT_WAIT: Duration = Duration::from_secs(5);
const POLL_TIMEOUT_MS: libc::c_int = 100;
/// Bytes of an open connections' look read at a time: 2,048 connections' keys. Less than the
/// kernel's buffer for an iterator (32 KiB), so that a read ends as it is reached rather than
/// by filling that buffer (the object that fills it would be shown, so recorded, again).
const LOOK_CHUNK: usize = 16 << 10;
/// TCP connections kept noted at once by default (7.9 MB of kernel memory, measured).
pub const CONNECTIONS_MAX: u32 = 65_536;

/// How the source is set up.
#[derive(Clone, Debug)]
pub struct EbpfConfig {
    /// Decoded records waiting for the agent.
    pub channel_capacity: usize,
    /// Also report chmod and chown calls (with the file, what was asked and the result).
    pub attribute_changes: bool,
    /// Also report link, symlink and truncate calls (as file records, with their results),
    /// without the rest of file activity: beside fanotify, which reports them as creations
    /// and modifications. (The file programs report them anyway.)
    pub links_and_truncates: bool,
    /// Also report file activity (bpf/files.h), so.
    pub files: Option<FileActivityConfig>,
    /// Also report network calls (bpf/net.h), so.
    pub network: Option<NetworkActivityConfig>,
    /// This process's file and network activity is not reported (the agent's own store).
    pub exclude_pid: Option<u32>,
}

impl Default for EbpfConfig {
    fn default() -> Self {
        EbpfConfig {
            channel_capacity: 65_536,
            attribute_changes: false,
            links_and_truncates: false,
            files: None,
            network: None,
            exclude_pid: None,
        }
    }
}

/// What file activity the programs report.
#[derive(Clone, Debug, Default)]
pub struct FileActivityConfig {
    /// Regular files opened for writing (besides their close after writing).
    pub write_opens: bool,
    /// Also io_uring's file operations, which pass no syscall: programs then run at every
    /// io_uring submission and completion on the host (~55 ns per request).
    pub io_uring: bool,
}

/// Which unconnected datagrams (sends and receives that name a peer) are reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Datagrams {
    /// None.
    Off,
    /// The first each UDP socket sends to, or receives from, each peer: programs at the
    /// socket layer's hooks for them (cgroup `sendmsg` and `recvmsg` on the root cgroup), which
    /// no other call passes. The peers recorded are kept with the socket in the kernel, its
    /// last eight each way: a socket that talks with more in turn is recorded again as a
    /// peer comes back. Likewise each raw or ICMP socket's first packet to or from each peer
    /// (which those hooks never see), its peer and own address read from the packet's IP
    /// header: programs at every packet's cgroup hooks (`cgroup_skb` ingress and egress), which
    /// leave at once unless the socket is raw or ICMP, and at every inet socket's making
    /// (`sock_create`), which names a raw socket's owner: a packet that comes in is recorded
    /// for it, with no process at hand. A raw socket open as the source starts is taken up at
    /// its first packet since, for the first process found holding it.
    First,
    /// Every one, with its call and result: programs at every sendto, sendmsg and recvfrom on
    /// the host.
    All,
}

/// What network activity the programs report.
#[derive(Clone, Debug)]
pub struct NetworkActivityConfig {
    /// Which unconnected datagrams.
    pub datagrams: Datagrams,
    /// Also io_uring's network operations, which pass no syscall: programs then run at every
    /// io_uring submission and completion on the host (~55 ns per request).
    pub io_uring: bool,
    /// Follow 32-bit processes' network calls with a program at every syscall's exit while
    /// one runs (every syscall on the host then pays for it). Either way their TCP connects
    /// and listens are seen at the socket's change of state whenever that program is not
    /// attached.
    pub follow_32_bit: bool,
    /// The end of each TCP connection a connect or an accept made known, with its traffic
    /// (bytes and segments each way, from the kernel's counters) and how long it lasted: read
    /// once as the connection closes, at the socket's change of state to CLOSE.
    pub connection_ends: bool,
    /// With `connection_ends`: how often each connection still open is reported with its
    /// traffic so far (an iterator over the host's TCP sockets); also as the source stops.
    /// Zero: only as it stops.
    pub open_connections_every: Duration,
    /// How many TCP connections are kept noted (for their ends and looks) at once: with more
    /// open, the least recently looked at is forgotten, its end unrecorded. About 120 bytes of
    /// kernel memory each.
    pub connections_max: u32,
    /// The traffic of each datagram socket (UDP, UDP-Lite, ICMP, raw IP): bytes and datagrams
    /// each way, counted at every send and receive on the host (programs at the kernel's
    /// tracepoints there, which every socket's pass), recorded as the socket is released and,
    /// for UDP sockets still open, looked at as TCP connections are
    /// (`open_connections_every`). Needs a mounted cgroup2 hierarchy (the release's hook).
    pub datagram_traffic: bool,
    /// Each DNS message over UDP to or from port 53, or over a TCP connection to port 53 (a
    /// segment that begins a message: its first part): a query for the process that sends it,
    /// an answer for the process that sent the last query over its socket, with the message
    /// (its first [`DNS_KEPT`] bytes). Programs at every packet's cgroup hooks (`cgroup_skb`
    /// ingress and egress on the cgroup2 root), which leave at once for other sockets, and
    /// after the ports for other UDP packets.
    pub dns: bool,
    /// The first bytes each outgoing TCP connection sends (its first segment with data, its
    /// first [`OPENING_KEPT`] bytes), when they may begin a TLS ClientHello or an HTTP
    /// request: what the connection asked for, by name; and where they were a text command
    /// (an HTTP request, SMTP's EHLO), each later segment that begins an HTTP request or a
    /// ClientHello (keep-alive, a proxy's CONNECT tunnel, STARTTLS) until such a hello, at
    /// most 16 a second. At the packet hooks as `dns`; the other packets of a TCP socket
    /// leave after their first ten bytes are looked at (in place: most with no helper
    /// called), or two of its counters (and a later one's socket storage). Only the
    /// connections noted for their ends (`connection_ends`), for their maker. And each
    /// outgoing UDP datagram that may hold a QUIC client's Initial packet (at least 1,200
    /// bytes, a long header of the Initial type, QUIC version 1 or 2): its first 1,500
    /// bytes, for the process sending it, at most 16 a second from one socket; other
    /// datagrams leave after their length, or their first five bytes, are read.
    pub requests: bool,
    /// The first bytes each TCP connection made to this host receives, likewise (a client's
    /// ClientHello or HTTP request, and its later HTTP requests where it began with a text
    /// command), at the same hooks: what clients asked of its servers, for the process that
    /// accepted the connection (when the bytes came first, the agent pairs them with its
    /// accept). Only connections made while `connection_ends` notes them; not recorded while
    /// the ring holds more than 2 MiB (half) not yet read.
    pub requests_received: bool,
    /// Servers' answers, at the same hooks: the first bytes a connection made here receives,
    /// when they may begin a TLS ServerHello, an HTTP response, an SSH identification or a
    /// greeting (SMTP's or FTP's `220`, POP3's `+OK`, IMAP's `* OK`) (what
    /// the server that curl reached answered), for the connection's maker; and the first
    /// bytes a connection accepted here sends, likewise (what a server here answered), for
    /// the process that accepted it. Only connections noted for their ends
    /// (`connection_ends`); not recorded while the ring holds more than 2 MiB not yet read.
    /// Where the first answer was an HTTP response, each later segment that begins one too
    /// (keep-alive), at most 16 a second, until the client's way is encrypted.
    pub answers: bool,
}

/// The bytes of a DNS message recorded: a classic UDP message's most (a longer one is cut).
pub const DNS_KEPT: usize = 512;

/// The bytes of a connection's first segment recorded (a longer one is cut).
pub const OPENING_KEPT: usize = 4096;

impl Default for NetworkActivityConfig {
    fn default() -> NetworkActivityConfig {
        NetworkActivityConfig {
            datagrams: Datagrams::Off,
            io_uring: false,
            follow_32_bit: true,
            connection_ends: true,
            open_connections_every: Duration::from_secs(600),
            connections_max: CONNECTIONS_MAX,
            datagram_traffic: true,
            dns: true,
            requests: true,
            requests_received: true,
            answers: true,
        }
    }
}

/// Counters of the source.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EbpfStats {
    /// Records read from the ring buffer.
    pub records: u64,
    /// Records that could not be decoded (skipped).
    pub malformed: u64,
    /// Decoded records dropped because the agent's queue was full.
    pub queue_full: u64,
    /// Forks the kernel could not put in the ring buffer (it was full).
    pub ring_full_forks: u64,
    /// Execs the kernel could not put in the ring buffer.
    pub ring_full_execs: u64,
    /// Exits the kernel could not put in the ring buffer.
    pub ring_full_exits: u64,
    /// Failed execs the kernel could not put in the ring buffer.
    pub ring_full_failed_execs: u64,
    /// chmod/chown records the ring buffer had no room for.
    pub ring_full_attribute_changes: u64,
    /// File records the ring buffer had no room for.
    pub ring_full_files: u64,
    /// File records dropped because a preempted file program held the CPU's scratch record.
    pub files_busy: u64,
    /// Network records the ring buffer had no room for.
    pub ring_full_network: u64,
    /// Results of io_uring file operations the ring buffer had no room for (their records
    /// are passed on without a result).
    pub ring_full_uring_results: u64,
    /// io_uring file operations passed on without their result: recorded at submission,
    /// then no result came in time (see [`uring::Pairs`]).
    pub uring_unpaired: u64,
    /// 32-bit processes running now that the compat network program follows.
    pub compat_processes: u64,
    /// Times the compat network program was attached (a first 32-bit process after none).
    pub compat_attaches: u64,
    /// Images held open for the pipeline's description: the first exec of each file version,
    /// every exec of an unlinked image ([`ExecFlags::HOLD`]).
    pub images_held: u64,
    /// Images to hold whose process had ended (or exec'd again) before the reader opened them.
    pub images_gone: u64,
    /// Images not held because [`HELD_IMAGES_MAX`] were held already.
    pub images_not_held_busy: u64,
    /// Scripts' files held open for the pipeline's description (as images are).
    pub scripts_held: u64,
    /// Scripts' files to hold that were gone (or another file) when the reader looked.
    pub scripts_gone: u64,
    /// Script records the ring buffer had no room for (their execs go without a script).
    pub ring_full_scripts: u64,
    /// Datagrams that may hold a QUIC Initial not recorded because their socket had sent
    /// its second's most already (a QUIC server's, most likely).
    pub quic_initials_over_rate: u64,
    /// Later requests (and hellos) on a connection not recorded because it had sent its
    /// second's most already.
    pub later_requests_over_rate: u64,
    /// Requests received not recorded because the ring held more than 2 MiB not yet read.
    pub received_requests_ring_busy: u64,
    /// Servers' answers (received or sent) not recorded for the same reason.
    pub answers_ring_busy: u64,
    /// Later HTTP responses on a connection not recorded because it had answered its
    /// second's most already.
    pub later_answers_over_rate: u64,
    /// Looks at the connections still open that could not be taken (the iterator would not
    /// run): their traffic so far went unreported that time.
    pub open_connections_unswept: u64,
}

/// Why the source could not start.
#[derive(Debug, Error)]
pub enum EbpfError {
    /// Built without clang: no program to load.
    #[error("not built in (clang was missing when Warden was built; scripts/deps installs it)")]
    NotBuiltIn,
    /// No kernel BTF.
    #[error("the kernel has no BTF ({KERNEL_BTF} is missing; needs CONFIG_DEBUG_INFO_BTF)")]
    NoBtf,
    /// The kernel refused for lack of privilege.
    #[error(
        "not permitted to load eBPF programs: needs CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN) ({0})"
    )]
    NotPermitted(String),
    /// Anything else while loading or attaching.
    #[error("cannot load the eBPF process program: {0}")]
    Load(String),
    /// The reader thread could not be started.
    #[error("cannot start the eBPF reader thread: {0}")]
    Spawn(std::io::Error),
}

/// The running source: a reader thread that owns the loaded programs.
#[derive(Debug)]
pub struct EbpfSource {
    stop: Arc<AtomicBool>,
    stats: Arc<Mutex<EbpfStats>>,
    thread: Option<JoinHandle<()>>,
    parts: Parts,
}

/// Which optional programs run: each Ok, or why not; None when not asked for.
#[derive(Clone, Debug)]
struct Parts {
    /// The failed-exec programs.
    failed_execs: Result<(), String>,
    /// The program that reads the file an exec named when an interpreter runs it.
    scripts: Result<(), String>,
    /// The chmod/chown programs.
    attribute_changes: Option<Result<(), String>>,
    /// The link, symlink and truncate programs alone (without the file programs).
    links_and_truncates: Option<Result<(), String>>,
    /// The file programs.
    files: Option<Result<(), String>>,
    /// The network programs.
    network: Option<Result<(), String>>,
    /// The io_uring programs, for network operations (with the network programs).
    network_io_uring: Option<Result<(), String>>,
    /// The io_uring programs, for file operations (with the file programs).
    files_io_uring: Option<Result<(), String>>,
    /// The compat network program, loaded to be attached while a 32-bit process runs (with
    /// the network programs, when asked to follow them).
    network_compat: Option<Result<(), String>>,
    /// The same for 32-bit processes' file changes (with the file programs).
    files_compat: Option<Result<(), String>>,
    /// The program at TCP state changes for 32-bit processes (with the network programs).
    network_compat_tcp: Option<Result<(), String>>,
    /// The program at TCP sockets' changes of state (connects' outcomes, connections' ends;
    /// with the network programs).
    tcp_states: Option<Result<(), String>>,
    /// Connections' ends asked for.
    connection_ends: bool,
    /// The programs at the socket layer's datagram hooks and the packet hooks (with the
    /// network programs, for `Datagrams::First`).
    first_datagrams: Option<Result<(), String>>,
    /// The packet hooks, for DNS messages (with the network programs, when asked for).
    dns: Option<Result<(), String>>,
    /// The packet hooks, for connections' first bytes (with the network programs and
    /// connections' ends, when asked for).
    requests: Option<Result<(), String>>,
    /// The packet hooks, for the first bytes of connections made to this host (likewise).
    requests_received: Option<Result<(), String>>,
    /// The packet hooks, for servers' answers (likewise).
    answers: Option<Result<(), String>>,
    /// The packet hooks, for QUIC clients' Initials (with the network programs, when asked
    /// for).
    quic_initials: Option<Result<(), String>>,
    /// The iterator that reports connections still open (with connections' ends).
    open_connections: Option<Result<(), String>>,
    /// The programs that count datagram sockets' traffic and record it at their release
    /// (with the network programs, when asked for).
    datagram_traffic: Option<Result<(), String>>,
    /// The iterator that reports UDP sockets still open with their traffic (with
    /// `datagram_traffic`).
    open_datagram_sockets: Option<Result<(), String>>,
    /// The connections found open at the start and noted for their ends (with connections'
    /// ends), or why not.
    found_open: Option<Result<FoundOpen, String>>,
    /// The datagram sockets found open at the start, their traffic counted from then (with
    /// `datagram_traffic`), or why not.
    found_open_datagram_sockets: Option<Result<FoundOpen, String>>,
}

/// The sockets found open as the source started (see [`EbpfSource::found_open_connections`],
/// [`EbpfSource::found_open_datagram_sockets`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FoundOpen {
    /// Sockets noted: a TCP connection on loopback is two, one per end.
    pub sockets: u64,
    /// The search over every process's open files, load and reads.
    pub took: Duration,
}

#[cfg(warden_bpf)]
static PROGRAM: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/process.bpf.o"));

impl EbpfSource {
    /// Loads and attaches the programs, and starts the reader. Returns once the programs are
    /// attached (so every process started afterwards is seen) or with the reason they are not.
    pub fn start(config: EbpfConfig) -> Result<(EbpfSource, Receiver<Record>), EbpfError> {
        if !cfg!(warden_bpf) {
            return Err(EbpfError::NotBuiltIn);
        }
        if !std::path::Path::new(KERNEL_BTF).exists() {
            return Err(EbpfError::NoBtf);
        }
        let (tx, rx) = bounded_lazy(config.channel_capacity);
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(Mutex::new(EbpfStats::default()));
        let (ready_tx, ready_rx) = crossbeam_channel::bounded(1);
        let (thread_stop, thread_stats) = (stop.clone(), stats.clone());
        // Loaded inside the thread that reads it: the loaded object then never crosses threads.
        let thread = std::thread::Builder::new()
            .name("warden-ebpf".into())
            .spawn(move || match Loaded::load(&config) {
                Ok(loaded) => {
                    // Loading parsed the kernel's whole BTF (megabytes, freed now): give those
                    // pages back, or this thread's malloc arena keeps them resident.
                    // SAFETY: malloc_trim has no preconditions.
                    unsafe { libc::malloc_trim(0) };
                    let _ = ready_tx.send(Ok(loaded.parts.clone()));
                    loaded.read(&tx, &thread_stop, &thread_stats);
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                }
            })
            .map_err(EbpfError::Spawn)?;
        match ready_rx.recv() {
            Ok(Ok(parts)) => Ok((
                EbpfSource {
                    stop,
                    stats,
                    thread: Some(thread),
                    parts,
                },
                rx,
            )),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => {
                let _ = thread.join();
                Err(EbpfError::Load("the loader thread ended early".into()))
            }
        }
    }

    /// Whether failed execs are reported, or why not (the kernel lacks the syscall
    /// tracepoints they need: fork, exec and exit are seen all the same).
    pub fn failed_execs(&self) -> Result<(), &str> {
        self.parts
            .failed_execs
            .as_ref()
            .map(|_| ())
            .map_err(String::as_str)
    }

    /// Whether an exec run through an interpreter (a `#!` script) is reported with the file it
    /// named, or why not.
    pub fn scripts(&self) -> Result<(), &str> {
        self.parts
            .scripts
            .as_ref()
            .map(|_| ())
            .map_err(String::as_str)
    }

    /// Whether chmod and chown are reported: None when not asked for, else attached or why
    /// not (the kernel lacks the calls' tracepoints).
    pub fn attribute_changes(&self) -> Option<Result<(), &str>> {
        optional(&self.parts.attribute_changes)
    }

    /// Whether links, symlinks and truncates are reported without the rest of file activity:
    /// None when not asked for (or the file programs report them), else attached or why not.
    pub fn links_and_truncates(&self) -> Option<Result<(), &str>> {
        optional(&self.parts.links_and_truncates)
    }

    /// Whether file activity is reported: None when not asked for, else attached or why not
    /// (the kernel lacks a function the programs attach to, or BPF trampolines).
    pub fn files(&self) -> Option<Result<(), &str>> {
        optional(&self.parts.files)
    }

    /// Whether network calls are reported: None when not asked for, else attached or why not
    /// (the kernel lacks the calls' tracepoints).
    pub fn network(&self) -> Option<Result<(), &str>> {
        optional(&self.parts.network)
    }

    /// Whether io_uring's network operations are reported too: None when not asked for or
    /// network calls are not reported, else attached or why not (io_uring absent, or a kernel
    /// before 6.17, whose io_uring tracepoints have other arguments).
    pub fn network_io_uring(&self) -> Option<Result<(), &str>> {
        optional(&self.parts.network_io_uring)
    }

    /// Whether io_uring's file operations are reported too: likewise, with the file programs.
    pub fn files_io_uring(&self) -> Option<Result<(), &str>> {
        optional(&self.parts.files_io_uring)
    }

    /// Whether 32-bit processes' network calls are followed (a program at every syscall's
    /// exit, attached while such a process runs): None when network calls are not reported,
    /// else ready or why not (not x86-64, or no raw syscall tracepoint).
    pub fn network_compat(&self) -> Option<Result<(), &str>> {
        optional(&self.parts.network_compat)
    }

    /// Whether 32-bit processes' file changes are followed (programs at every syscall's entry
    /// and exit, attached while such a process runs): None when file changes are not reported
    /// by eBPF, else ready or why not.
    pub fn files_compat(&self) -> Option<Result<(), &str>> {
        optional(&self.parts.files_compat)
    }

    /// Whether 32-bit processes' TCP connects and listens are seen at the socket's change of
    /// state while the program above is not attached: None when network calls are not
    /// reported, else attached or why not (not x86-64).
    pub fn network_compat_tcp(&self) -> Option<Result<(), &str>> {
        optional(&self.parts.network_compat_tcp)
    }

    /// Whether the outcome of a non-blocking connect (EINPROGRESS) whose handshake ends after
    /// the call is recorded, at the socket's leaving SYN_SENT: None when network calls are not
    /// reported, else attached or why not (no BTF tracepoint `inet_sock_set_state`).
    pub fn connect_outcomes(&self) -> Option<Result<(), &str>> {
        optional(&self.parts.tcp_states)
    }

    /// Whether connections still open are reported with their traffic so far, now and then
    /// and as the source stops: None when connections' ends are not recorded, else loaded or
    /// why not (a kernel without the TCP iterator, 5.9).
    pub fn open_connections(&self) -> Option<Result<(), &str>> {
        optional(&self.parts.open_connections)
    }

    /// The TCP connections open as the source started, found and noted so that their ends
    /// and the looks at them are recorded as a recorded connect's or accept's are: None when
    /// connections' ends are not recorded, else how many and how long the search took, or why
    /// not (a kernel without the iterator over processes' files, 5.8).
    pub fn found_open_connections(&self) -> Option<Result<FoundOpen, &str>> {
        self.parts
            .found_open
            .as_ref()
            .map(|r| r.as_ref().copied().map_err(String::as_str))
    }

    /// The UDP sockets open as the source started, found so that their traffic from then on,
    /// their ends and the looks at them are recorded (marked found open): None when datagram
    /// sockets' traffic is not counted, else how many and how long the search took, or why
    /// not. (Raw and ICMP sockets are not found: no iterator gives them as socket storage
    /// takes them.)
    pub fn found_open_datagram_sockets(&self) -> Option<Result<FoundOpen, &str>> {
        self.parts
            .found_open_datagram_sockets
            .as_ref()
            .map(|r| r.as_ref().copied().map_err(String::as_str))
    }

    /// Whether the end of each TCP connection recorded is recorded, with its traffic: None
    /// when not asked for or network calls are not reported, else attached or why not (as
    /// [`Self::connect_outcomes`]: the same program).
    pub fn connection_ends(&self) -> Option<Result<(), &str>> {
        optional(&self.parts.tcp_states).filter(|_| self.parts.connection_ends)
    }

    /// Whether each datagram socket's traffic is recorded as it is released (and UDP sockets'
    /// while open, when looked at): None when not asked for or network calls are not reported,
    /// else attached or why not (no cgroup2 hierarchy, no `sock_send_length` tracepoint: before
    /// 6.3).
    pub fn datagram_traffic(&self) -> Option<Result<(), &str>> {
        optional(&self.parts.datagram_traffic)
    }

    /// Whether the first datagram of each UDP socket to or from each peer is recorded: None
    /// when not asked for or network calls are not reported, else attached or why not (no
    /// cgroup2 hierarchy mounted, a kernel without cgroup BPF).
    pub fn first_datagrams(&self) -> Option<Result<(), &str>> {
        optional(&self.parts.first_datagrams)
    }

    /// Whether DNS messages are recorded: None when not asked for or network calls are not
    /// reported, else attached or why not (as `first_datagrams`).
    pub fn dns(&self) -> Option<Result<(), &str>> {
        optional(&self.parts.dns)
    }

    /// Whether outgoing connections' first bytes are read for their requests: None when not
    /// asked for or network calls or connections' ends are not reported, else attached or why
    /// not (as `first_datagrams`).
    pub fn requests(&self) -> Option<Result<(), &str>> {
        optional(&self.parts.requests)
    }

    /// Whether the connections made to this host have their first bytes read for the requests
    /// they received: as `requests`.
    pub fn requests_received(&self) -> Option<Result<(), &str>> {
        optional(&self.parts.requests_received)
    }

    /// Whether connections' first bytes the other way are read for servers' answers: as
    /// `requests`.
    pub fn answers(&self) -> Option<Result<(), &str>> {
        optional(&self.parts.answers)
    }

    /// Whether outgoing datagrams are read for QUIC clients' Initials (`requests`): None when
    /// not asked for or network calls are not reported, else attached or why not.
    pub fn quic_initials(&self) -> Option<Result<(), &str>> {
        optional(&self.parts.quic_initials)
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> EbpfStats {
        *self.stats.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Detaches the programs and stops the reader. Idempotent.
    pub fn stop(&mut self) -> EbpfStats {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.stats()
    }
}

impl Drop for EbpfSource {
    fn drop(&mut self) {
        self.stop();
    }
}

/// An optional part's state as the accessors give it: None when not asked for, else
/// attached or why not.
fn optional(part: &Option<Result<(), String>>) -> Option<Result<(), &str>> {
    part.as_ref()
        .map(|r| r.as_ref().map(|_| ()).map_err(String::as_str))
}

/// The loaded object with its programs attached, and its ring buffer.
struct Loaded {
    /// Which optional programs run.
    parts: Parts,
    /// The compat network program and the 32-bit processes it follows.
    compat: Option<Compat>,
    /// io_uring file operations waiting for their results.
    pairs: uring::Pairs,
    /// Scripts' records waiting for their execs'.
    scripts: Scripts,
    /// The network programs run (else io_uring's and 32-bit processes' network records, which
    /// other programs take, are not passed on: audit has the network).
    network_attached: bool,
    /// The file programs run (else 32-bit processes' file records are not passed on: fanotify
    /// has the files).
    files_attached: bool,
    /// The link, symlink and truncate programs run alone: their file records are passed on.
    links_attached: bool,
    /// How often connections still open are reported (zero: only at the stop); None: not.
    open_connections_every: Option<Duration>,
    #[cfg(warden_bpf)]
    ebpf: aya::Ebpf,
    #[cfg(warden_bpf)]
    ring: aya::maps::RingBuf<aya::maps::MapData>,
    /// The doorbell of execs whose images are to be held at once (None: not in the object).
    #[cfg(warden_bpf)]
    hold: Option<aya::maps::RingBuf<aya::maps::MapData>>,
}

#[cfg(warden_bpf)]
fn load_error(e: impl std::fmt::Display + std::fmt::Debug) -> EbpfError {
    // aya wraps the kernel's errno several levels down; EPERM is what a missing capability gives.
    let text = format!("{e}: {e:?}");
    if text.contains("Operation not permitted") || text.contains("EPERM") {
        EbpfError::NotPermitted(e.to_string())
    } else {
        EbpfError::Load(text)
    }
}

/// Where the kernel's tracing filesystem is normally mounted; a classic tracepoint's id is
/// read from it.
#[cfg(warden_bpf)]
const TRACEFS: &str = "/sys/kernel/tracing";

/// Makes tracefs visible to this thread, which attaches the syscall tracepoints. Where the host
/// has not mounted it (no systemd, say), it is mounted in a mount namespace of this thread's
/// own: the host's mounts stay as they were, and the mount goes with the thread.
#[cfg(warden_bpf)]
fn tracefs_here() -> Result<(), String> {
    let mounted = |dir: &str| {
        std::fs::read_dir(dir)
            .map(|mut entries| entries.next().is_some())
            .unwrap_or(false)
    };
    if mounted(TRACEFS) || mounted("/sys/kernel/debug/tracing") {
        return Ok(());
    }
    let c = |s: &str| std::ffi::CString::new(s).expect("no NUL");
    let (root, tracefs, fstype) = (c("/"), c(TRACEFS), c("tracefs"));
    // SAFETY: plain syscalls on valid NUL-terminated strings; CLONE_NEWNS implies CLONE_FS,
    // which only this thread's filesystem context is taken out of.
    let failed = unsafe {
        libc::unshare(libc::CLONE_NEWNS) != 0
            || libc::mount(
                std::ptr::null(),
                root.as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ) != 0
            || libc::mount(
                fstype.as_ptr(),
                tracefs.as_ptr(),
                fstype.as_ptr(),
                libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                std::ptr::null(),
            ) != 0
    };
    if failed {
        return Err(format!(
            "tracefs is not mounted and cannot be mounted privately: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

/// The object's program `name`, as the kind it is declared (its ELF section).
#[cfg(warden_bpf)]
fn program<'a, T>(ebpf: &'a mut aya::Ebpf, name: &str) -> Result<&'a mut T, EbpfError>
where
    &'a mut T: TryFrom<&'a mut aya::programs::Program, Error = aya::programs::ProgramError>,
{
    ebpf.program_mut(name)
        .ok_or_else(|| EbpfError::Load(format!("no program {name} in the object")))?
        .try_into()
        .map_err(load_error)
}

impl Loaded {
    #[cfg(not(warden_bpf))]
    fn load(_: &EbpfConfig) -> Result<Loaded, EbpfError> {
        Err(EbpfError::NotBuiltIn)
    }

    #[cfg(warden_bpf)]
    fn load(config: &EbpfConfig) -> Result<Loaded, EbpfError> {
        use aya::programs::{BtfTracePoint, TracePoint};
        let btf = aya::Btf::from_sys_fs().map_err(load_error)?;
        let own_pid = config.exclude_pid.unwrap_or(0);
        let write_opens = u8::from(config.files.as_ref().is_some_and(|f| f.write_opens));
        let uring_network = u8::from(config.network.as_ref().is_some_and(|n| n.io_uring));
        let uring_files = u8::from(config.files.as_ref().is_some_and(|f| f.io_uring));
        // What the 32-bit follower records: network calls when asked to follow them, file
        // changes with file activity.
        let compat_network = u8::from(config.network.as_ref().is_some_and(|n| n.follow_32_bit));
        let connection_ends = u8::from(config.network.as_ref().is_some_and(|n| n.connection_ends));
        let datagram_traffic =
            u8::from(config.network.as_ref().is_some_and(|n| n.datagram_traffic));
        let dns_messages = u8::from(config.network.as_ref().is_some_and(|n| n.dns));
        // A connection's first bytes are recorded for its maker, whom its note names.
        let connection_openings = u8::from(
            config
                .network
                .as_ref()
                .is_some_and(|n| n.requests && n.connection_ends),
        );
        let received_requests = u8::from(
            config
                .network
                .as_ref()
                .is_some_and(|n| n.requests_received && n.connection_ends),
        );
        let server_answers = u8::from(
            config
                .network
                .as_ref()
                .is_some_and(|n| n.answers && n.connection_ends),
        );
        // A QUIC client's Initial is recorded for the process sending it, with no note.
        let quic_initials = u8::from(config.network.as_ref().is_some_and(|n| n.requests));
        let raw_first_packets = u8::from(
            config
                .network
                .as_ref()
                .is_some_and(|n| n.datagrams == Datagrams::First),
        );
        // (A map's size cannot be 0.)
        let connections_max = config
            .network
            .as_ref()
            .filter(|n| n.connection_ends)
            .map_or(1, |n| n.connections_max.max(1));
        let compat_files = u8::from(config.files.is_some());
        // Scripts: the exec program finds the file an exec named among the files the exec put,
        // by the kernel's function that releases them.
        let fput_work = kernel_symbol("____fput");
        let scripts = fput_work
            .map(drop)
            .ok_or_else(|| "no address of ____fput in /proc/kallsyms".to_string());
        let mut ebpf = aya::EbpfLoader::new()
            .btf(Some(&btf))
            .override_global("warden_tgid", &own_pid, true)
            .override_global("report_write_opens", &write_opens, true)
            .override_global("uring_network", &uring_network, true)
            .override_global("uring_files", &uring_files, true)
            .override_global("compat_network", &compat_network, true)
            .override_global("compat_files", &compat_files, true)
            .override_global("connection_ends", &connection_ends, true)
            .override_global("datagram_traffic", &datagram_traffic, true)
            .override_global("dns_messages", &dns_messages, true)
            .override_global("connection_openings", &connection_openings, true)
            .override_global("received_requests", &received_requests, true)
            .override_global("server_answers", &server_answers, true)
            .override_global("quic_initials", &quic_initials, true)
            .override_global("raw_first_packets", &raw_first_packets, true)
            .map_max_entries("CONNECTIONS", connections_max)
            .override_global("fput_work", &fput_work.unwrap_or(0), true)
            .load(PROGRAM)
            .map_err(load_error)?;
        // File programs first: at a process's exit, the closes of the files it still holds
        // then come before its exit record (programs on one tracepoint run in attach order).
        let files = config
            .files
            .is_some()
            .then(|| attach_file_programs(&mut ebpf, &btf));
        // Fork before exec before exit: whatever starts meanwhile is seen whole or not at all.
        for (name, tracepoint) in [
            ("warden_fork", "sched_process_fork"),
            ("warden_exec", "sched_process_exec"),
            ("warden_exit", "sched_process_exit"),
        ] {
            let p: &mut BtfTracePoint = program(&mut ebpf, name)?;
            p.load(tracepoint, &btf).map_err(load_error)?;
            p.attach().map_err(load_error)?;
        }
        // Failed execs: the calls' entry remembers what was asked for, their exit reports a
        // failure. (Native calls only: the kernel has no such tracepoints for 32-bit ones.)
        // Optional: a kernel without syscall tracepoints still gives fork, exec and exit.
        let mut failed_execs = tracefs_here();
        for (name, call) in [
            ("warden_execve", "sys_enter_execve"),
            ("warden_execat", "sys_enter_execveat"),
            ("warden_execve_x", "sys_exit_execve"),
            ("warden_execat_x", "sys_exit_execveat"),
        ] {
            if failed_execs.is_err() {
                break;
            }
            let p: &mut TracePoint = program(&mut ebpf, name)?;
            let attached = p.load().and_then(|()| p.attach("syscalls", call).map(drop));
            if let Err(e) = attached {
                failed_execs = Err(format!("tracepoint syscalls/{call}: {e}"));
            }
        }
        // chmod, chown and the calls that set a file's times: every call's entry and exit (they
        // need tracefs, as failed execs do). Optional too: without them fanotify's "attributes
        // changed" is all there is. The older times calls (utimes, futimesat, utime) exist on
        // some architectures only: attached where they do.
        let attribute_changes = config.attribute_changes.then(|| {
            tracefs_here()?;
            let required = [
                "chmod",
                "fchmod",
                "fchmodat",
                "fchmodat2",
                "chown",
                "lchown",
                "fchown",
                "fchownat",
                "utimensat",
            ];
            let legacy = ["utimes", "futimesat", "utime"];
            for (call, optional) in required
                .into_iter()
                .map(|c| (c, false))
                .chain(legacy.into_iter().map(|c| (c, true)))
            {
                for (name, tracepoint) in [
                    (format!("warden_{call}"), format!("sys_enter_{call}")),
                    (format!("warden_{call}_x"), format!("sys_exit_{call}")),
                ] {
                    let p: &mut TracePoint =
                        program(&mut ebpf, &name).map_err(|e| e.to_string())?;
                    let attached = p
                        .load()
                        .and_then(|()| p.attach("syscalls", &tracepoint).map(drop))
                        .map_err(|e| format!("tracepoint syscalls/{tracepoint}: {e}"));
                    match attached {
                        Ok(()) => {}
                        // A call this architecture lacks: its exit is not attached either.
                        Err(_) if optional => break,
                        Err(why) => return Err(why),
                    }
                }
            }
            Ok(())
        });
        // link, symlink and truncate: the file programs' own, at those calls' exits alone
        // (optional too: without them fanotify's "created" and "modified" are all there is).
        let links_and_truncates = (config.links_and_truncates && !matches!(files, Some(Ok(()))))
            .then(|| {
                tracefs_here()?;
                let programs = link_and_truncate_tracepoints();
                if programs.is_empty() {
                    return Err("not on this architecture".to_string());
                }
                attach_all_or_none(&mut ebpf, &programs)
            });
        let network = config.network.as_ref().map(|n| {
            attach_all_or_none(
                &mut ebpf,
                &network_tracepoints(n.datagrams == Datagrams::All).collect::<Vec<_>>(),
            )
        });
        let network_ok = matches!(network, Some(Ok(())));
        let first_datagrams = (raw_first_packets == 1 && network_ok)
            .then(|| attach_cgroup_programs(&mut ebpf, &DATAGRAM_HOOKS));
        // The packet hooks serve raw and ICMP sockets' first packets, DNS messages and
        // connections' first bytes alike.
        let packets = (network_ok
            && (matches!(first_datagrams, Some(Ok(())))
                || dns_messages == 1
                || connection_openings == 1
                || received_requests == 1
                || server_answers == 1
                || quic_initials == 1))
            .then(|| attach_cgroup_programs(&mut ebpf, &PACKET_HOOKS));
        let first_datagrams = first_datagrams
            .map(|attached| attached.and_then(|()| packets.clone().unwrap_or(Ok(()))));
        let dns = (dns_messages == 1 && network_ok).then(|| packets.clone().unwrap_or(Ok(())));
        let requests =
            (connection_openings == 1 && network_ok).then(|| packets.clone().unwrap_or(Ok(())));
        let requests_received =
            (received_requests == 1 && network_ok).then(|| packets.clone().unwrap_or(Ok(())));
        let answers =
            (server_answers == 1 && network_ok).then(|| packets.clone().unwrap_or(Ok(())));
        let quic_initials = (quic_initials == 1 && network_ok).then(|| packets.unwrap_or(Ok(())));
        // io_uring's operations bypass the syscalls: its submissions and completions are looked
        // at beside them, for network and file operations alike (optional: a kernel without
        // io_uring, or before 6.17, still has the calls).
        let wanted = |part: &Option<Result<(), String>>, asked: u8| {
            asked == 1 && matches!(part, Some(Ok(())))
        };
        let uring = (wanted(&network, uring_network) || wanted(&files, uring_files))
            .then(|| attach_uring_programs(&mut ebpf, &btf));
        let network_io_uring = uring.clone().filter(|_| wanted(&network, uring_network));
        let files_io_uring = uring.filter(|_| wanted(&files, uring_files));
        let network_attached = matches!(network, Some(Ok(())));
        // Optional: without it a connect under way at its return stays "in progress", and no
        // connection's end is recorded.
        let tcp_states = network_attached.then(|| {
            program::<BtfTracePoint>(&mut ebpf, "warden_tcp_state")
                .map_err(|e| e.to_string())
                .and_then(|p| {
                    p.load("inet_sock_set_state", &btf)
                        .and_then(|()| p.attach().map(drop))
                        .map_err(|e| format!("tracepoint inet_sock_set_state: {e}"))
                })
        });
        // Run by the reader now and then (each run attaches it anew: a link makes one
        // iterator).
        let open_connections =
            (connection_ends == 1 && matches!(tcp_states, Some(Ok(())))).then(|| {
                program::<aya::programs::Iter>(&mut ebpf, "warden_open_connections")
                    .map_err(|e| e.to_string())
                    .and_then(|p| {
                        p.load("tcp", &btf)
                            .map_err(|e| format!("iterator over TCP sockets: {e}"))
                    })
            });
        // Connections already open are noted once, now that their ends are seen: a note made
        // earlier could outlive a socket that closed in between.
        let found_open = (connection_ends == 1 && matches!(tcp_states, Some(Ok(())))).then(|| {
            let search = ("warden_adopt_connections", "task_file", "processes' files");
            adopt_open_sockets(&mut ebpf, &btf, &[search])
        });
        let datagram_traffic = (datagram_traffic == 1 && network_attached)
            .then(|| attach_datagram_traffic(&mut ebpf, &btf));
        // Likewise, once their counting and their releases are seen.
        let found_open_datagram_sockets = matches!(datagram_traffic, Some(Ok(()))).then(|| {
            let searches = [
                (
                    "warden_find_datagram_holders",
                    "task_file",
                    "processes' files",
                ),
                ("warden_adopt_udp_sockets", "udp", "UDP sockets"),
            ];
            adopt_open_sockets(&mut ebpf, &btf, &searches)
        });
        let open_datagram_sockets = matches!(datagram_traffic, Some(Ok(()))).then(|| {
            program::<aya::programs::Iter>(&mut ebpf, "warden_open_datagram_sockets")
                .map_err(|e| e.to_string())
                .and_then(|p| {
                    p.load("udp", &btf)
                        .map_err(|e| format!("iterator over UDP sockets: {e}"))
                })
        });
        let open_connections_every = (matches!(open_connections, Some(Ok(())))
            || matches!(open_datagram_sockets, Some(Ok(()))))
        .then(|| config.network.as_ref().map(|n| n.open_connections_every))
        .flatten();
        let files_attached = matches!(files, Some(Ok(())));
        let links_attached = matches!(links_and_truncates, Some(Ok(())));
        let compat = (network_attached || files_attached).then(|| {
            Compat::load(
                &mut ebpf,
                &btf,
                CompatAsk {
                    network: network_attached && compat_network == 1,
                    files: files_attached,
                    tcp: network_attached,
                },
            )
        });
        let map = ebpf
            .take_map("EVENTS")
            .ok_or_else(|| EbpfError::Load("no EVENTS map in the object".into()))?;
        let ring = aya::maps::RingBuf::try_from(map).map_err(load_error)?;
        let hold = ebpf
            .take_map("HOLD")
            .and_then(|map| aya::maps::RingBuf::try_from(map).ok());
        Ok(Loaded {
            network_attached,
            files_attached,
            links_attached,
            parts: Parts {
                failed_execs,
                scripts,
                attribute_changes,
                links_and_truncates,
                files,
                network,
                network_io_uring,
                files_io_uring,
                network_compat: compat
                    .as_ref()
                    .filter(|c| c.ask.network)
                    .map(|c| c.ready.clone()),
                files_compat: compat
                    .as_ref()
                    .filter(|c| c.ask.files)
                    .map(|c| c.ready.clone()),
                network_compat_tcp: compat.as_ref().filter(|c| c.ask.tcp).map(|c| c.tcp.clone()),
                tcp_states,
                connection_ends: connection_ends == 1,
                open_connections,
                datagram_traffic,
                open_datagram_sockets,
                found_open,
                found_open_datagram_sockets,
                first_datagrams,
                dns,
                requests,
                requests_received,
                answers,
                quic_initials,
            },
            open_connections_every,
            pairs: uring::Pairs::default(),
            scripts: Scripts::default(),
            compat,
            ebpf,
            ring,
            hold,
        })
    }

    #[cfg(not(warden_bpf))]
    fn read(self, _: &BoundedSender<Record>, _: &AtomicBool, _: &Mutex<EbpfStats>) {}

    #[cfg(warden_bpf)]
    fn read(mut self, tx: &BoundedSender<Record>, stop: &AtomicBool, shared: &Mutex<EbpfStats>) {
        use std::os::fd::AsRawFd;
        let mut stats = EbpfStats::default();
        let mut last_publish = Instant::now();
        let fd = self.ring.as_raw_fd();
        let starts_fd = self
            .compat
            .as_ref()
            .and_then(|c| c.starts.as_ref())
            .map(|r| r.as_raw_fd());
        let hold_fd = self.hold.as_ref().map(|r| r.as_raw_fd());
        let mut last_sweep = Instant::now();
        let mut finishing = false;
        while !finishing {
            if stop.load(Ordering::Relaxed) {
                if self.open_connections_every.is_none() {
                    break;
                }
                // A last look at the connections still open (drained as it goes; one more
                // pass for what came meanwhile).
                self.sweep_open_connections(tx, &mut stats);
                finishing = true;
            } else if self
                .open_connections_every
                .is_some_and(|every| !every.is_zero() && last_sweep.elapsed() >= every)
            {
                self.sweep_open_connections(tx, &mut stats);
                last_sweep = Instant::now();
            }
            wait_readable(&[Some(fd), starts_fd, hold_fd], POLL_TIMEOUT_MS);
            if let Some(compat) = &mut self.compat {
                compat.starts(&mut self.ebpf, &mut stats);
            }
            // Images to hold, opened first: the batch of records before their execs' may be
            // long, and the processes short.
            let mut early = Early::new();
            if let Some(hold) = &mut self.hold {
                while let Some(item) = hold.next() {
                    let note = record::hold_note(&item);
                    drop(item);
                    // A script's file is opened by its path, from its record in the batch.
                    if let Some(note) = note.filter(|note| !note.script) {
                        early.push((note, open_held(note, &mut stats)));
                    }
                }
            }
            let drain_began = crate::procfs::boottime_ns();
            let drained = self.drain_ring(tx, &mut stats, &mut early);
            stats.records += drained;
            // In the queue, after what it vouches for (dropped, like a record, when full).
            let _ = tx.try_send(Record::CaughtUp(drain_began));
            if last_publish.elapsed() >= Duration::from_millis(500) || drained == 0 {
                if let Some(compat) = &mut self.compat {
                    compat.prune(&mut self.ebpf, &mut stats);
                }
                let cutoff = crate::procfs::boottime_ns()
                    .saturating_sub(URING_RESULT_WAIT.as_nanos() as u64);
                for file in self.pairs.expire(cutoff) {
                    stats.uring_unpaired += 1;
                    if tx.try_send(Record::File(file)).is_err() {
                        stats.queue_full += 1;
                    }
                }
                self.read_ring_full(&mut stats);
                *shared.lock().unwrap_or_else(PoisonError::into_inner) = stats;
                last_publish = Instant::now();
            }
            if drained > 0 {
                // Let records gather, but wake at once for a 32-bit process's start and for
                // an image to hold.
                match (starts_fd, hold_fd) {
                    (None, None) => std::thread::sleep(COALESCE),
                    wake => wait_readable(&[wake.0, wake.1], COALESCE.as_millis() as libc::c_int),
                }
            }
        }
        for file in self.pairs.drain() {
            stats.uring_unpaired += 1;
            if tx.try_send(Record::File(file)).is_err() {
                stats.queue_full += 1;
            }
        }
        self.read_ring_full(&mut stats);
        *shared.lock().unwrap_or_else(PoisonError::into_inner) = stats;
        self.unload_at_once();
    }

    /// Detaches and unloads every program, all at once. A tracepoint's detach waits for the
    /// kernel's RCU grace periods (60–90 ms each here): one after the other, as the object's
    /// drop goes, the ~60 attached took 4 s of the agent's stop, and more than 10 s under load.
    /// Waited for together, they take about one.
    #[cfg(warden_bpf)]
    fn unload_at_once(&mut self) {
        use aya::programs::Program;
        fn unload(program: &mut Program) {
            let _ = match program {
                Program::TracePoint(p) => p.unload(),
                Program::BtfTracePoint(p) => p.unload(),
                Program::CgroupSockAddr(p) => p.unload(),
                Program::CgroupSock(p) => p.unload(),
                Program::Iter(p) => p.unload(),
                // No other kind is in the object; one would go with its drop.
                _ => Ok(()),
            };
        }
        std::thread::scope(|scope| {
            for (_, program) in self.ebpf.programs_mut() {
                // (A program whose thread cannot be made is unloaded as the object drops.)
                let _ = std::thread::Builder::new()
                    .name("warden-unload".into())
                    .spawn_scoped(scope, || unload(program));
            }
        });
    }

    /// Reads the ring to its end, passing each record on (or keeping it for its pair); `early`:
    /// the images opened for this batch's execs. Returns how many were read.
    #[cfg(warden_bpf)]
    fn drain_ring(
        &mut self,
        tx: &BoundedSender<Record>,
        stats: &mut EbpfStats,
        early: &mut Early,
    ) -> u64 {
        let mut drained = 0u64;
        let pass_on = |r: Record, stats: &mut EbpfStats| {
            if tx.try_send(r).is_err() {
                stats.queue_full += 1;
            }
        };
        while let Some(item) = self.ring.next() {
            drained += 1;
            if let Some((key, res)) = record::uring_result(&item) {
                if let Some(file) = self.pairs.complete(key, res) {
                    pass_on(Record::File(file), stats);
                }
                continue;
            }
            match record::parse(&item) {
                Ok(Record::File(file)) if file.uring_pending.is_some() => {
                    if let Some(unpaired) = self.pairs.hold(file) {
                        stats.uring_unpaired += 1;
                        pass_on(Record::File(unpaired), stats);
                    }
                }
                // io_uring's network operations, followed for the file programs' sake
                // while the network programs could not attach (audit has the network).
                Ok(Record::Net(_)) if !self.network_attached => {}
                // Without the file programs (fanotify has the files) only the link,
                // symlink and truncate programs' file records are passed on.
                Ok(Record::File(ref f))
                    if !(self.files_attached
                        || (self.links_attached && f.op.links_or_truncates())) => {}
                Ok(Record::Script(mut script)) => {
                    hold_script(&mut script, stats);
                    self.scripts.note(script);
                }
                Ok(mut r) => {
                    if let Record::Exec(exec) = &mut r {
                        hold_image(exec, early, stats);
                        self.scripts.pair(exec);
                    }
                    if let Some(compat) = &mut self.compat {
                        compat.follow(&r, &mut self.ebpf, stats);
                    }
                    pass_on(r, stats);
                }
                Err(_) => stats.malformed += 1,
            }
        }
        drained
    }

    /// Runs the iterators over the host's TCP and UDP sockets: each connection noted and each
    /// UDP socket with traffic counted, still open, is written to the ring with its traffic so
    /// far.
    #[cfg(warden_bpf)]
    fn sweep_open_connections(&mut self, tx: &BoundedSender<Record>, stats: &mut EbpfStats) {
        let loaded = [
            (&self.parts.open_connections, "warden_open_connections"),
            (
                &self.parts.open_datagram_sockets,
                "warden_open_datagram_sockets",
            ),
        ]
        .into_iter()
        .filter(|(part, _)| matches!(part, Some(Ok(()))))
        .map(|(_, name)| name)
        .collect::<Vec<_>>();
        for name in loaded {
            self.sweep(name, tx, stats);
        }
    }

    /// Runs iterator `name` once. Its file is read a buffer at a time (each socket recorded
    /// writes its 8-byte key there, so a read returns after [`LOOK_CHUNK`] / 8 of them), the
    /// ring drained after each: a look never fills the ring.
    #[cfg(warden_bpf)]
    fn sweep(&mut self, name: &str, tx: &BoundedSender<Record>, stats: &mut EbpfStats) {
        let Ok(iterator) = program::<aya::programs::Iter>(&mut self.ebpf, name)
            .map_err(|e| e.to_string())
            .and_then(open_iterator)
        else {
            stats.open_connections_unswept += 1;
            return;
        };
        let read = read_iterator(iterator, |_| {
            let drained = self.drain_ring(tx, stats, &mut Early::new());
            stats.records += drained;
        });
        if read.is_err() {
            stats.open_connections_unswept += 1;
        }
    }

    /// The kernel side's per-CPU counts of records the ring had no room for.
    #[cfg(warden_bpf)]
    fn read_ring_full(&self, stats: &mut EbpfStats) {
        let Some(map) = self.ebpf.map("DROPPED") else {
            return;
        };
        let Ok(array) = aya::maps::PerCpuArray::<_, u64>::try_from(map) else {
            return;
        };
        let total = |kind: u32| -> u64 {
            array
                .get(&kind, 0)
                .map(|per_cpu| per_cpu.iter().sum())
                .unwrap_or(0)
        };
        stats.ring_full_forks = total(1);
        stats.ring_full_execs = total(2);
        stats.ring_full_exits = total(3);
        stats.ring_full_failed_execs = total(4);
        stats.ring_full_attribute_changes = total(5);
        stats.ring_full_files = total(6);
        stats.files_busy = total(7);
        stats.ring_full_network = total(8);
        stats.ring_full_uring_results = total(9);
        stats.ring_full_scripts = total(10);
        stats.quic_initials_over_rate = total(11);
        stats.later_requests_over_rate = total(12);
        stats.received_requests_ring_busy = total(13);
        stats.answers_ring_busy = total(14);
        stats.later_answers_over_rate = total(15);
    }
}

/// The address of the kernel's function `name` (/proc/kallsyms, which shows addresses to
/// root); None where it is not listed or its address is hidden.
#[cfg(warden_bpf)]
fn kernel_symbol(name: &str) -> Option<u64> {
    let symbols = std::fs::read_to_string("/proc/kallsyms").ok()?;
    symbols.lines().find_map(|line| {
        let mut fields = line.split_ascii_whitespace();
        let address = u64::from_str_radix(fields.next()?, 16).ok()?;
        let _kind = fields.next()?;
        (fields.next()? == name && address != 0).then_some(address)
    })
}

/// The processes running an i386 ELF image (from the first bytes of /proc/PID/exe: class
/// ELFCLASS32, machine EM_386).
#[cfg(warden_bpf)]
fn running_ia32_processes() -> std::collections::HashSet<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Default::default();
    };
    dir.flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| runs_ia32(pid))
        .collect()
}

/// Process `pid` exists and runs an i386 image.
#[cfg(warden_bpf)]
fn runs_ia32(pid: u32) -> bool {
    use std::io::Read as _;
    let mut head = [0u8; 20];
    std::fs::File::open(format!("/proc/{pid}/exe"))
        .and_then(|mut exe| exe.read_exact(&mut head))
        .is_ok_and(|()| is_ia32_elf(&head))
}

/// An ELF header of an i386 image: ELFCLASS32, little-endian, machine EM_386 (3).
#[cfg(any(warden_bpf, test))]
fn is_ia32_elf(head: &[u8; 20]) -> bool {
    head.starts_with(b"\x7fELF") && head[4] == 1 && head[5] == 1 && head[18..20] == [3, 0]
}

/// Tells the TCP state program whether the compat follower is attached (it then leaves
/// 32-bit processes' TCP connects and listens to it).
#[cfg(warden_bpf)]
fn set_compat_following(ebpf: &mut aya::Ebpf, following: bool) {
    let Some(map) = ebpf.map_mut("COMPAT_FOLLOWING") else {
        return;
    };
    if let Ok(mut flag) = aya::maps::Array::<_, u32>::try_from(map) {
        let _ = flag.set(0, u32::from(following), 0);
    }
}

/// Images held open at most at once: each is a file descriptor until the pipeline has
/// described its exec. A burst of new images beyond it is described as before, from the path
/// or `/proc/PID/exe` as the pipeline finds them.
pub const HELD_IMAGES_MAX: usize = 256;

/// Images (and scripts) held now: each a file descriptor until the pipeline has described its
/// exec.
pub static IMAGES: Pool = Pool::new(HELD_IMAGES_MAX);

/// Images the reader holds now, for the pipeline's description.
pub fn held_images() -> usize {
    IMAGES.held()
}

/// Images opened from the doorbell's notes ahead of their exec records, each with its note;
/// None where the process had ended or changed image first.
type Early = Vec<(record::HoldNote, Option<HeldFile>)>;

/// Opens the image `note` names: `/proc/PID/exe`, while the process still runs that image
/// (its inode and device). None when it had ended or exec'd another, or when
/// [`HELD_IMAGES_MAX`] are held (counted).
fn open_held(note: record::HoldNote, stats: &mut EbpfStats) -> Option<HeldFile> {
    use std::os::unix::fs::MetadataExt;
    let Some(slot) = IMAGES.take() else {
        stats.images_not_held_busy += 1;
        return None;
    };
    let image = open_to_hold(format!("/proc/{}/exe", note.pid).as_bytes(), true).filter(|image| {
        image
            .metadata()
            .is_ok_and(|meta| meta.ino() == note.inode && meta.dev() == note.dev)
    });
    match image {
        Some(image) => Some(HeldFile::new(image, slot)),
        None => {
            stats.images_gone += 1;
            None
        }
    }
}

/// Gives a [`ExecFlags::HOLD`] exec its image: the one opened from its doorbell's note, else
/// opened now.
#[cfg_attr(not(warden_bpf), allow(dead_code))]
fn hold_image(exec: &mut ExecRecord, early: &mut Early, stats: &mut EbpfStats) {
    if exec.ret != 0 || !exec.flags.has(ExecFlags::HOLD) {
        return;
    }
    let Some(version) = exec.exe_version else {
        return;
    };
    let note = record::HoldNote {
        pid: exec.pid,
        dev: version.dev,
        inode: version.inode,
        script: false,
    };
    exec.image = match early.iter().position(|(n, _)| *n == note) {
        Some(at) => early.swap_remove(at).1,
        None => open_held(note, stats),
    };
    if exec.image.is_some() {
        stats.images_held += 1;
    }
}

/// Scripts' records waiting for the records of their execs, by process: the next exec record
/// of the process, though other CPUs' records may come between them.
#[derive(Debug, Default)]
struct Scripts(std::collections::HashMap<u32, Box<ScriptRecord>>);

impl Scripts {
    /// More waiting than this, and the oldest are orphans (their execs' records were lost):
    /// all are let go.
    const MAX: usize = 1024;

    /// A script's record, which waits for its exec's.
    fn note(&mut self, script: Box<ScriptRecord>) {
        if self.0.len() >= Self::MAX {
            self.0.clear();
        }
        self.0.insert(script.pid, script);
    }

    /// Gives `exec` its script when it ran through an interpreter ([`ExecFlags::SCRIPT`]). Any
    /// exec of the process ends a script's wait: a failed one (its interpreter could not run),
    /// or one without the flag (the script's exec record was lost).
    #[cfg_attr(not(warden_bpf), allow(dead_code))]
    fn pair(&mut self, exec: &mut ExecRecord) {
        let script = self.0.remove(&exec.pid);
        if exec.ret == 0 && exec.flags.has(ExecFlags::SCRIPT) {
            exec.script = script;
        }
    }
}

/// Holds a [`ExecFlags::HOLD`] script's file, as [`hold_image`] does an image: by its path
/// under the process's root (its mount namespace's), else among the process's open files —
/// one with no name left (a memfd its interpreter reads through `/dev/fd/N`), or one deleted
/// before the reader looked (a script that removes itself first thing), which its interpreter
/// has open while it runs. Either is checked to be the very file (inode, device).
#[cfg_attr(not(warden_bpf), allow(dead_code))]
fn hold_script(script: &mut ScriptRecord, stats: &mut EbpfStats) {
    use std::os::unix::fs::MetadataExt;
    let Some(version) = script.version.filter(|_| script.flags.has(ExecFlags::HOLD)) else {
        return;
    };
    let Some(slot) = IMAGES.take() else {
        stats.images_not_held_busy += 1;
        return;
    };
    let the_file = |file: &std::fs::File| {
        file.metadata()
            .is_ok_and(|meta| meta.ino() == version.inode && meta.dev() == version.dev)
    };
    let by_path = || {
        let mut under_root = format!("/proc/{}/root", script.pid).into_bytes();
        under_root.extend_from_slice(&script.path);
        open_to_hold(&under_root, false).filter(the_file)
    };
    let file = match script.flags.has(ExecFlags::EXE_UNLINKED) {
        true => None,
        false => by_path(),
    }
    .or_else(|| open_among_fds(script.pid, version.inode, the_file));
    match file {
        Some(file) => {
            script.file = Some(HeldFile::new(file, slot));
            stats.scripts_held += 1;
        }
        None => stats.scripts_gone += 1,
    }
}

/// Opens the file of inode `inode` that process `pid` has open and `is_it` accepts, found by
/// its fdinfo's `ino:` (read without touching the file, whose server could keep a look at it
/// waiting).
fn open_among_fds(
    pid: u32,
    inode: u64,
    is_it: impl Fn(&std::fs::File) -> bool,
) -> Option<std::fs::File> {
    crate::procfs::fds_on_inode(pid, inode).find_map(|(fd, _)| {
        open_to_hold(format!("/proc/{pid}/fd/{fd}").as_bytes(), true).filter(&is_it)
    })
}

/// Waits until one of `fds` (the present ones) is readable, or `timeout_ms` passes.
#[cfg(warden_bpf)]
fn wait_readable(fds: &[Option<std::os::fd::RawFd>], timeout_ms: libc::c_int) {
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .flatten()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    // SAFETY: valid pollfds, owned by this frame, of the length given.
    unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, timeout_ms) };
}

/// The 32-bit processes running now, and the program that sees their network calls while
/// there are any (it runs at every syscall's exit on the host: attached only then).
struct Compat {
    /// The follower is loaded, or why not.
    ready: Result<(), String>,
    /// What it was asked to follow.
    ask: CompatAsk,
    /// The program at TCP state changes is attached, or why not.
    tcp: Result<(), String>,
    /// Running 32-bit processes, by pid.
    pids: std::collections::HashSet<u32>,
    /// The pids of 32-bit images as they are exec'd, in a ring that wakes the reader at once.
    #[cfg(warden_bpf)]
    starts: Option<aya::maps::RingBuf<aya::maps::MapData>>,
    /// The follower's links while attached: its exit program's, its entry program's.
    #[cfg(warden_bpf)]
    links: Vec<(&'static str, aya::programs::tp_btf::BtfTracePointLinkId)>,
}

/// What 32-bit processes' programs are asked for.
#[derive(Clone, Copy, Debug)]
struct CompatAsk {
    /// Follow their network calls (network.follow_32_bit, the network programs running).
    network: bool,
    /// Follow their file changes (the file programs running).
    files: bool,
    /// See their TCP connects and listens while the follower is not attached.
    tcp: bool,
}

impl CompatAsk {
    /// The follower's programs: at every syscall's exit, and with file changes at every
    /// entry (a close is taken before it happens).
    fn programs(&self) -> &'static [(&'static str, &'static str)] {
        const EXIT: (&str, &str) = ("warden_compat_exit", "sys_exit");
        const ENTER: (&str, &str) = ("warden_compat_enter", "sys_enter");
        match (self.network, self.files) {
            (_, true) => &[EXIT, ENTER],
            (true, false) => &[EXIT],
            (false, false) => &[],
        }
    }
}

impl Compat {
    #[cfg(warden_bpf)]
    fn load(ebpf: &mut aya::Ebpf, btf: &aya::Btf, ask: CompatAsk) -> Compat {
        use aya::programs::BtfTracePoint;
        // Attached for good: it records only while the follower is not.
        let tcp = if !ask.tcp {
            Err("not asked for".into())
        } else if cfg!(target_arch = "x86_64") {
            program::<BtfTracePoint>(ebpf, "warden_compat_tcp")
                .map_err(|e| e.to_string())
                .and_then(|p| {
                    p.load("inet_sock_set_state", btf)
                        .and_then(|()| p.attach().map(drop))
                        .map_err(|e| format!("tracepoint inet_sock_set_state: {e}"))
                })
        } else {
            Err("only x86-64 runs 32-bit processes this way".into())
        };
        let ready = if ask.programs().is_empty() {
            Err("not asked for (network.follow_32_bit = false)".into())
        } else if cfg!(target_arch = "x86_64") {
            ask.programs().iter().try_for_each(|(name, tracepoint)| {
                program::<BtfTracePoint>(ebpf, name)
                    .map_err(|e| e.to_string())
                    .and_then(|p| {
                        p.load(tracepoint, btf)
                            .map_err(|e| format!("tracepoint {tracepoint}: {e}"))
                    })
            })
        } else {
            Err("only x86-64 runs 32-bit processes this way".into())
        };
        let starts = ebpf
            .take_map("COMPAT_STARTS")
            .and_then(|map| aya::maps::RingBuf::try_from(map).ok());
        let mut compat = Compat {
            ready,
            ask,
            tcp,
            pids: std::collections::HashSet::new(),
            starts,
            links: Vec::new(),
        };
        if compat.ready.is_ok() {
            // 32-bit processes that started before the agent: followed from now too.
            compat.pids = running_ia32_processes();
            compat.update(ebpf, &mut EbpfStats::default());
        }
        compat
    }

    /// The 32-bit processes that just started (their exec records follow in the main ring):
    /// followed from now. The starts ring wakes the reader as the exec happens, so the
    /// program is attached within the time it takes to wake and attach (a call the process
    /// makes before that is not seen).
    #[cfg(warden_bpf)]
    fn starts(&mut self, ebpf: &mut aya::Ebpf, stats: &mut EbpfStats) {
        let Some(ring) = &mut self.starts else {
            return;
        };
        let mut any = false;
        while let Some(item) = ring.next() {
            if let Some(pid) = item.first_chunk::<4>().map(|b| u32::from_ne_bytes(*b)) {
                any |= self.pids.insert(pid);
            }
        }
        if any && self.ready.is_ok() {
            self.update(ebpf, stats);
        }
    }

    /// Follows 32-bit processes through the records: an exec of a 32-bit image adds its
    /// process (and attaches the program if it is the first; the starts ring has usually
    /// done so already), a 32-bit process's fork adds the child; an exec of a 64-bit image
    /// and an exit remove one (and the last detaches).
    #[cfg(warden_bpf)]
    fn follow(&mut self, record: &Record, ebpf: &mut aya::Ebpf, stats: &mut EbpfStats) {
        if self.ready.is_err() {
            return;
        }
        // Every fork, exec and exit passes here: only a change of the set costs more.
        let changed = match record {
            Record::Exec(e) if e.ret == 0 && e.flags.has(ExecFlags::COMPAT) => {
                self.pids.insert(e.pid)
            }
            Record::Exec(e) if e.ret == 0 => self.pids.remove(&e.pid),
            Record::Fork(f) if self.pids.contains(&f.parent_pid) => self.pids.insert(f.pid),
            Record::Exit(x) => self.pids.remove(&x.pid),
            _ => false,
        };
        if changed {
            self.update(ebpf, stats);
        }
    }

    /// Forgets the processes that no longer run a 32-bit image: their exit (or exec) record
    /// may have been lost to a full ring, and the program must not stay attached for them.
    #[cfg(warden_bpf)]
    fn prune(&mut self, ebpf: &mut aya::Ebpf, stats: &mut EbpfStats) {
        if self.pids.is_empty() || self.ready.is_err() {
            return;
        }
        let before = self.pids.len();
        self.pids.retain(|&pid| runs_ia32(pid));
        if self.pids.len() != before {
            self.update(ebpf, stats);
        }
    }

    /// Attaches the follower for the first 32-bit process, detaches it after the last.
    #[cfg(warden_bpf)]
    fn update(&mut self, ebpf: &mut aya::Ebpf, stats: &mut EbpfStats) {
        use aya::programs::BtfTracePoint;
        if !self.pids.is_empty() && self.links.is_empty() {
            for &(name, tracepoint) in self.ask.programs() {
                let attached = program::<BtfTracePoint>(ebpf, name)
                    .map_err(|e| e.to_string())
                    .and_then(|p| {
                        p.attach()
                            .map_err(|e| format!("tracepoint {tracepoint}: {e}"))
                    });
                match attached {
                    Ok(link) => self.links.push((name, link)),
                    Err(e) => {
                        self.ready = Err(e);
                        self.detach(ebpf);
                        return;
                    }
                }
            }
            stats.compat_attaches += 1;
            set_compat_following(ebpf, self.ask.network);
        } else if self.pids.is_empty() && !self.links.is_empty() {
            self.detach(ebpf);
        }
        stats.compat_processes = self.pids.len() as u64;
    }

    /// Detaches the follower; the TCP state program looks again first.
    #[cfg(warden_bpf)]
    fn detach(&mut self, ebpf: &mut aya::Ebpf) {
        set_compat_following(ebpf, false);
        for (name, link) in self.links.drain(..) {
            if let Ok(p) = program::<aya::programs::BtfTracePoint>(ebpf, name) {
                let _ = p.detach(link);
            }
        }
    }
}

/// Loads and attaches the file programs: all or none (a half-attached set would report some
/// kinds of change and silently not others, beside fanotify reporting them all).
#[cfg(warden_bpf)]
fn attach_file_programs(ebpf: &mut aya::Ebpf, btf: &aya::Btf) -> Result<(), String> {
    use aya::programs::BtfTracePoint;
    let exits: &mut BtfTracePoint =
        program(ebpf, "warden_exit_files").map_err(|e| e.to_string())?;
    let attached = exits
        .load("sched_process_exit", btf)
        .and_then(|()| exits.attach().map(drop))
        .map_err(|e| format!("tracepoint sched_process_exit: {e}: {e:?}"))
        .and_then(|()| attach_all_or_none(ebpf, &file_tracepoints().collect::<Vec<_>>()));
    if attached.is_err()
        && let Ok(p) = program::<BtfTracePoint>(ebpf, "warden_exit_files")
    {
        let _ = p.unload();
    }
    attached
}

/// A new run of loaded iterator program `program`: the file its output is read from (a link
/// makes one run).
#[cfg(warden_bpf)]
fn open_iterator(program: &mut aya::programs::Iter) -> Result<std::fs::File, String> {
    let id = program.attach().map_err(|e| e.to_string())?;
    let link = program.take_link(id).map_err(|e| e.to_string())?;
    link.into_file().map_err(|e| e.to_string())
}

/// Reads an iterator's run to its end, [`LOOK_CHUNK`] at a time, calling `after_read` with
/// each read's bytes (0 for one cut short) before the next. A read the kernel cuts short
/// after a million objects with nothing written says EAGAIN, and the next one goes on where it
/// stopped.
#[cfg(warden_bpf)]
fn read_iterator(
    mut iterator: std::fs::File,
    mut after_read: impl FnMut(usize),
) -> std::io::Result<()> {
    use std::io::Read as _;
    let mut buffer = vec![0u8; LOOK_CHUNK];
    loop {
        let read = iterator.read(&mut buffer);
        after_read(*read.as_ref().unwrap_or(&0));
        match read {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::Interrupted | std::io::ErrorKind::WouldBlock
                ) => {}
            Err(e) => return Err(e),
        }
    }
}

/// Runs the search for sockets open as the agent starts, once: `searches`, iterators as
/// (program, what it iterates, its name for an error), one after the other. They note each TCP
/// connection (`warden_adopt_connections`) or UDP socket (`warden_find_datagram_holders`, then
/// `warden_adopt_udp_sockets`) already open, for its end's record; each one noted writes 8 bytes
/// to its iterator's file.
#[cfg(warden_bpf)]
fn adopt_open_sockets(
    ebpf: &mut aya::Ebpf,
    btf: &aya::Btf,
    searches: &[(&str, &str, &str)],
) -> Result<FoundOpen, String> {
    let began = Instant::now();
    let mut noted = 0u64;
    for &(name, target, over) in searches {
        let program = program::<aya::programs::Iter>(ebpf, name).map_err(|e| e.to_string())?;
        program
            .load(target, btf)
            .map_err(|e| format!("iterator over {over}: {e}"))?;
        let read = open_iterator(program).and_then(|iterator| {
            read_iterator(iterator, |n| noted += (n / 8) as u64)
                .map_err(|e| format!("reading the iterator over {over}: {e}"))
        });
        // Run once: its instructions need not stay in the kernel.
        let _ = program.unload();
        read?;
    }
    Ok(FoundOpen {
        sockets: noted,
        took: began.elapsed(),
    })
}

/// Loads and attaches programs at syscall tracepoints, (program, tracepoint): all or none.
#[cfg(warden_bpf)]
fn attach_all_or_none(ebpf: &mut aya::Ebpf, programs: &[(String, String)]) -> Result<(), String> {
    let attached = attach_syscall_programs(ebpf, programs);
    if attached.is_err() {
        for (name, _) in programs {
            if let Ok(p) = program::<aya::programs::TracePoint>(ebpf, name) {
                let _ = p.unload();
            }
        }
    }
    attached
}

/// The io_uring programs, all or none: at submission (first: an operation is noted before its
/// completion can look), at completion, and at a completion that overflows the queue.
#[cfg(warden_bpf)]
fn attach_uring_programs(ebpf: &mut aya::Ebpf, btf: &aya::Btf) -> Result<(), String> {
    use aya::programs::BtfTracePoint;
    const PROGRAMS: [(&str, &str); 3] = [
        ("warden_uring_submit", "io_uring_submit_req"),
        ("warden_uring_complete", "io_uring_complete"),
        ("warden_uring_overflow", "io_uring_cqe_overflow"),
    ];
    let mut attach = || {
        for (name, tracepoint) in PROGRAMS {
            let p: &mut BtfTracePoint = program(ebpf, name).map_err(|e| e.to_string())?;
            p.load(tracepoint, btf)
                .and_then(|()| p.attach().map(drop))
                .map_err(|e| format!("tracepoint {tracepoint}: {e}"))?;
        }
        Ok(())
    };
    let attached = attach();
    if attached.is_err() {
        for (name, _) in PROGRAMS {
            if let Ok(p) = program::<BtfTracePoint>(ebpf, name) {
                let _ = p.unload();
            }
        }
    }
    attached
}

#[cfg(warden_bpf)]
fn attach_syscall_programs(
    ebpf: &mut aya::Ebpf,
    programs: &[(String, String)],
) -> Result<(), String> {
    use aya::programs::TracePoint;
    tracefs_here()?;
    for (name, tracepoint) in programs {
        let p: &mut TracePoint = program(ebpf, name).map_err(|e| e.to_string())?;
        p.load()
            .and_then(|()| p.attach("syscalls", tracepoint).map(drop))
            .map_err(|e| format!("tracepoint syscalls/{tracepoint}: {e}: {e:?}"))?;
    }
    Ok(())
}

/// A program at a cgroup hook, by its kind.
#[cfg(warden_bpf)]
enum CgroupHook {
    /// At sockets' making (`cgroup/sock_create`).
    Made,
    /// At the socket layer's address hooks (`cgroup/sendmsg4`...).
    Address,
    /// At every packet, one way (`cgroup_skb`).
    Packet(aya::programs::CgroupSkbAttachType),
}

/// The programs that record each UDP socket's first datagram to or from each peer (at the
/// socket layer's address hooks), with the one at sockets' making that names a raw socket's
/// owner: first, so that no raw socket made after the packet hooks is left without one.
#[cfg(warden_bpf)]
const DATAGRAM_HOOKS: [(&str, CgroupHook); 5] = [
    ("warden_datagram_made", CgroupHook::Made),
    ("warden_datagram_out4", CgroupHook::Address),
    ("warden_datagram_out6", CgroupHook::Address),
    ("warden_datagram_in4", CgroupHook::Address),
    ("warden_datagram_in6", CgroupHook::Address),
];

/// The programs at every packet, each way: raw and ICMP sockets' first packets, DNS messages.
#[cfg(warden_bpf)]
const PACKET_HOOKS: [(&str, CgroupHook); 2] = [
    (
        "warden_packet_out",
        CgroupHook::Packet(aya::programs::CgroupSkbAttachType::Egress),
    ),
    (
        "warden_packet_in",
        CgroupHook::Packet(aya::programs::CgroupSkbAttachType::Ingress),
    ),
];

/// Loads `hooks` and attaches them to the root of the cgroup2 hierarchy (so every process's
/// sockets pass them) by links, which the kernel drops with the agent's descriptors: nothing
/// outlives it. All or none, in order.
#[cfg(warden_bpf)]
fn attach_cgroup_programs(
    ebpf: &mut aya::Ebpf,
    hooks: &[(&str, CgroupHook)],
) -> Result<(), String> {
    use aya::programs::{CgroupAttachMode, CgroupSkb, CgroupSock, CgroupSockAddr, ProgramError};
    let cgroup = open_cgroup2_root()?;
    // A link always goes beside the cgroup's other programs (the kernel refuses attach flags
    // on one): nobody else's is replaced.
    let mode = CgroupAttachMode::Single;
    let attach = |ebpf: &mut aya::Ebpf, name: &str, hook: &CgroupHook| -> Result<(), String> {
        let kernel = |e: ProgramError| with_cause(&e);
        let missing = |e: EbpfError| e.to_string();
        match hook {
            CgroupHook::Made => {
                let p: &mut CgroupSock = program(ebpf, name).map_err(missing)?;
                p.load().map_err(kernel)?;
                p.attach(&cgroup, mode).map(drop).map_err(kernel)
            }
            CgroupHook::Address => {
                let p: &mut CgroupSockAddr = program(ebpf, name).map_err(missing)?;
                p.load().map_err(kernel)?;
                p.attach(&cgroup, mode).map(drop).map_err(kernel)
            }
            CgroupHook::Packet(way) => {
                let p: &mut CgroupSkb = program(ebpf, name).map_err(missing)?;
                p.load().map_err(kernel)?;
                p.attach(&cgroup, *way, mode).map(drop).map_err(kernel)
            }
        }
    };
    let unload = |ebpf: &mut aya::Ebpf, name: &str, hook: &CgroupHook| {
        let _ = match hook {
            CgroupHook::Made => program::<CgroupSock>(ebpf, name).map(|p| p.unload()),
            CgroupHook::Address => program::<CgroupSockAddr>(ebpf, name).map(|p| p.unload()),
            CgroupHook::Packet(_) => program::<CgroupSkb>(ebpf, name).map(|p| p.unload()),
        };
    };
    for (name, hook) in hooks {
        if let Err(e) = attach(ebpf, name, hook) {
            for (name, hook) in hooks {
                unload(ebpf, name, hook);
            }
            return Err(format!("cgroup program {name}: {e}"));
        }
    }
    Ok(())
}

/// The cgroup2 hierarchy's root, where the socket layer's hooks go (every process is below it).
#[cfg(warden_bpf)]
fn open_cgroup2_root() -> Result<std::fs::File, String> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| format!("/proc/self/mountinfo: {e}"))?;
    let root = cgroup2_root(&mountinfo).ok_or("no cgroup2 hierarchy is mounted")?;
    std::fs::File::open(&root).map_err(|e| format!("{}: {e}", root.display()))
}

/// Loads and attaches the programs that count datagram sockets' traffic (at every socket's
/// sends and receives) and record it as a socket is released (at the cgroup2 root): all or
/// none. The release's program first, so that no socket is counted whose end would not be
/// recorded.
#[cfg(warden_bpf)]
fn attach_datagram_traffic(ebpf: &mut aya::Ebpf, btf: &aya::Btf) -> Result<(), String> {
    use aya::programs::{BtfTracePoint, CgroupAttachMode, CgroupSock};
    let cgroup = open_cgroup2_root()?;
    let release = program::<CgroupSock>(ebpf, "warden_socket_released")
        .map_err(|e| e.to_string())
        .and_then(|p| {
            p.load()
                .and_then(|()| p.attach(&cgroup, CgroupAttachMode::Single))
                .map(drop)
                .map_err(|e| format!("cgroup program at sockets' release: {}", with_cause(&e)))
        });
    let counters = release.and_then(|()| {
        for (name, tracepoint) in [
            ("warden_sent", "sock_send_length"),
            ("warden_received", "sock_recv_length"),
        ] {
            program::<BtfTracePoint>(ebpf, name)
                .map_err(|e| e.to_string())
                .and_then(|p| {
                    p.load(tracepoint, btf)
                        .and_then(|()| p.attach().map(drop))
                        .map_err(|e| format!("tracepoint {tracepoint}: {e}"))
                })?;
        }
        Ok(())
    });
    if counters.is_err() {
        if let Ok(p) = program::<CgroupSock>(ebpf, "warden_socket_released") {
            let _ = p.unload();
        }
        for name in ["warden_sent", "warden_received"] {
            if let Ok(p) = program::<BtfTracePoint>(ebpf, name) {
                let _ = p.unload();
            }
        }
    }
    counters
}

/// An error with its causes (aya keeps the kernel's errno a level or two down).
#[cfg(warden_bpf)]
fn with_cause(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(&format!(": {c}"));
        cause = c.source();
    }
    text
}

/// Where the cgroup2 hierarchy's root is mounted, from mountinfo: the first cgroup2 mount of
/// its root (`/`; in a cgroup namespace, the namespace's root).
#[cfg_attr(not(warden_bpf), allow(dead_code))]
fn cgroup2_root(mountinfo: &str) -> Option<std::path::PathBuf> {
    use std::os::unix::ffi::OsStringExt;
    mountinfo
        .lines()
        .filter_map(|line| crate::fanotify::mounts::parse_mountinfo_line(line.as_bytes()))
        .find(|m| m.fstype == "cgroup2" && m.root == b"/")
        .map(|m| std::ffi::OsString::from_vec(m.mount_point).into())
}

/// The network programs, (program, tracepoint): every call's exit; the sends and receives
/// only for datagrams (they run at every send and receive on the host).
#[cfg(warden_bpf)]
fn network_tracepoints(datagrams: bool) -> impl Iterator<Item = (String, String)> {
    record::NET_CALLS
        .iter()
        .filter(move |call| {
            datagrams || !matches!(call, NetCall::SendTo | NetCall::SendMsg | NetCall::RecvFrom)
        })
        .map(|call| {
            let name = call.name();
            (format!("warden_{name}_x"), format!("sys_exit_{name}"))
        })
}

/// The file programs at syscall tracepoints, (program, tracepoint): the exit of every call a
/// file record can name, but the entry of those that close a descriptor (and none for a
/// process's exit, a scheduler tracepoint).
#[cfg(warden_bpf)]
fn file_tracepoints() -> impl Iterator<Item = (String, String)> {
    record::FILE_CALLS
        .iter()
        .filter(|&&call| call != "exit")
        .map(|call| match *call {
            "close" | "dup2" | "dup3" => (format!("warden_{call}"), format!("sys_enter_{call}")),
            _ => (format!("warden_{call}_x"), format!("sys_exit_{call}")),
        })
}

/// The file programs at the exits of link, symlink and truncate calls (where kernel.h knows
/// the syscall registers, as for the file programs).
#[cfg(warden_bpf)]
fn link_and_truncate_tracepoints() -> Vec<(String, String)> {
    if !cfg!(any(target_arch = "x86_64", target_arch = "aarch64")) {
        return Vec::new();
    }
    [
        "link",
        "linkat",
        "symlink",
        "symlinkat",
        "truncate",
        "ftruncate",
    ]
    .iter()
    .map(|call| (format!("warden_{call}_x"), format!("sys_exit_{call}")))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use warden_core::FileVersion;

    /// The datagram programs go on the cgroup2 hierarchy's root: in a hybrid layout beside the
    /// v1 controllers, and not on a mount of a sub-cgroup.
    #[test]
    fn the_cgroup2_root_is_found_among_the_mounts() {
        let hybrid = "\
30 24 0:26 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755
33 30 0:29 /sub /mnt/sub rw - cgroup2 cgroup2 rw
34 30 0:29 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw,nsdelegate
35 30 0:30 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu
";
        assert_eq!(
            cgroup2_root(hybrid),
            Some(std::path::PathBuf::from("/sys/fs/cgroup/unified"))
        );
        let unified = "29 23 0:26 / /sys/fs/cgroup\\040x rw - cgroup2 cgroup2 rw\n";
        assert_eq!(
            cgroup2_root(unified),
            Some(std::path::PathBuf::from("/sys/fs/cgroup x"))
        );
        assert_eq!(
            cgroup2_root("35 30 0:30 / /c rw - cgroup cgroup rw,cpu\n"),
            None
        );
    }

    /// A script waits for the next exec record of its process, which takes it when it ran
    /// through an interpreter; any other exec of the process (failed, or one whose flag says
    /// no script: the script's own record was lost) ends the wait.
    #[test]
    fn a_script_goes_with_the_next_exec_of_its_process() {
        let script = |pid: u32, path: &[u8]| {
            Box::new(ScriptRecord {
                pid,
                path: path.to_vec(),
                ..ScriptRecord::default()
            })
        };
        let exec = |pid: u32, flags: u32, ret: i32| ExecRecord {
            pid,
            ret,
            flags: ExecFlags(flags),
            ..ExecRecord::default()
        };
        let mut scripts = Scripts::default();
        scripts.note(script(7, b"/a"));
        scripts.note(script(8, b"/b"));
        let mut other = exec(9, ExecFlags::SCRIPT, 0);
        scripts.pair(&mut other);
        assert!(other.script.is_none(), "another process's");
        let mut run = exec(8, ExecFlags::SCRIPT, 0);
        scripts.pair(&mut run);
        assert_eq!(run.script.map(|s| s.path), Some(b"/b".to_vec()));
        let mut without = exec(7, 0, 0);
        scripts.pair(&mut without);
        assert!(without.script.is_none());
        let mut later = exec(7, ExecFlags::SCRIPT, 0);
        scripts.pair(&mut later);
        assert!(
            later.script.is_none(),
            "its wait ended with the exec before"
        );
        scripts.note(script(7, b"/c"));
        let mut failed = exec(7, ExecFlags::SCRIPT, -2);
        scripts.pair(&mut failed);
        assert!(failed.script.is_none() && scripts.0.is_empty());
        // Orphans do not pile up.
        for pid in 0..3 * Scripts::MAX as u32 {
            scripts.note(script(pid, b"/o"));
        }
        assert!(scripts.0.len() <= Scripts::MAX);
    }

    /// However a hold ends, its place among the [`HELD_IMAGES_MAX`] comes back: an image held
    /// and then dropped, a process gone before its image was opened, another image at the pid.
    #[test]
    fn a_hold_gives_its_place_back_however_it_ends() {
        let own = FileVersion::of(&std::fs::metadata("/proc/self/exe").unwrap());
        let exec = |pid: u32, version: FileVersion| ExecRecord {
            pid,
            flags: ExecFlags(ExecFlags::HOLD),
            exe_version: Some(version),
            ..ExecRecord::default()
        };
        let mut stats = EbpfStats::default();
        let mut early = Early::new();
        let mut held = exec(std::process::id(), own);
        hold_image(&mut held, &mut early, &mut stats);
        assert!(held.image.is_some(), "this process's own image");
        assert_eq!(held_images(), 1);
        drop(held);
        // No process has a pid above the kernel's limit (2^22).
        let mut gone = exec(u32::MAX, own);
        hold_image(&mut gone, &mut early, &mut stats);
        let other = FileVersion {
            inode: own.inode + 1,
            ..own
        };
        let mut another = exec(std::process::id(), other);
        hold_image(&mut another, &mut early, &mut stats);
        assert!(gone.image.is_none() && another.image.is_none());
        assert_eq!((stats.images_held, stats.images_gone), (1, 2));
        assert_eq!(held_images(), 0, "every place given back");
        for _ in 0..HELD_IMAGES_MAX + 3 {
            hold_image(&mut exec(std::process::id(), own), &mut early, &mut stats);
        }
        assert_eq!((held_images(), stats.images_not_held_busy), (0, 0));
        // Opened from a doorbell's note first: the record takes that image, opening nothing.
        let note = record::HoldNote {
            pid: std::process::id(),
            dev: own.dev,
            inode: own.inode,
            script: false,
        };
        early.push((note, open_held(note, &mut stats)));
        let opened = stats.images_gone;
        let mut noted = exec(std::process::id(), own);
        hold_image(&mut noted, &mut early, &mut stats);
        assert!(noted.image.is_some() && early.is_empty());
        // A note whose process was gone: its exec is not tried again.
        let gone_note = record::HoldNote {
            pid: u32::MAX,
            ..note
        };
        early.push((gone_note, open_held(gone_note, &mut stats)));
        hold_image(&mut exec(u32::MAX, own), &mut early, &mut stats);
        assert_eq!(stats.images_gone, opened + 1, "one try for one exec");
        drop(noted);
        assert_eq!(held_images(), 0);

        // A script deleted before the reader looked: found among the process's open files
        // (here this process's, which holds it); one it no longer holds is gone.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stage2");
        std::fs::write(&path, "#!/bin/sh\n").unwrap();
        let open = std::fs::File::open(&path).unwrap();
        let version = FileVersion::of(&open.metadata().unwrap());
        std::fs::remove_file(&path).unwrap();
        let mut script = ScriptRecord {
            pid: std::process::id(),
            path: path.as_os_str().as_encoded_bytes().to_vec(),
            flags: ExecFlags(ExecFlags::HOLD),
            version: Some(version),
            ..ScriptRecord::default()
        };
        hold_script(&mut script, &mut stats);
        assert!(script.file.is_some(), "held from the process's fd");
        assert_eq!((stats.scripts_held, stats.scripts_gone), (1, 0));
        drop(open);
        script.file = None;
        hold_script(&mut script, &mut stats);
        assert!(script.file.is_none());
        assert_eq!((stats.scripts_held, stats.scripts_gone), (1, 1));
        assert_eq!(held_images(), 0, "every place given back");
    }

    #[test]
    fn only_i386_elf_headers_are_ia32() {
        let mut head = [0u8; 20];
        head[..6].copy_from_slice(b"\x7fELF\x01\x01");
        head[18] = 3;
        assert!(is_ia32_elf(&head));
        let mut x86_64 = head;
        (x86_64[4], x86_64[18]) = (2, 62);
        assert!(!is_ia32_elf(&x86_64));
        let mut arm = head;
        arm[18] = 40;
        assert!(!is_ia32_elf(&arm));
        assert!(!is_ia32_elf(&[0; 20]));
    }
}

//! The agent's pipeline: source threads (audit, process connector, fanotify) → bounded queues →
//! this correlator (process table, enrichment, the network and file views of `activity`) →
//! sinks (store writer thread, JSON lines). Runs until SIGINT or SIGTERM, then
//! stops the sources, which put the kernel's audit state back as they found it.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use crossbeam_channel::Receiver;
use warden_core::{
    BootId, Event, EventKind, ExecEvent, Executable, FileAction, FileEvent, LossEvent, NetAction,
    NetworkEvent, Process, Script, SocketAddress, Source,
};
use warden_enrich::{AskedNames, ExecHints, Fetched, ResolvedNames};
use warden_process::{ExecFact, ExitFact, ForkFact, ProcessTable, TableConfig};
use warden_sources::audit::net::{NetEvent, datagram_rules, net_rules};
use warden_sources::audit::netlink::{AuditOutput, AuditSource, AuditSourceConfig, ReadMode};
use warden_sources::audit::rules::{AuditRule, FieldValue, Op, exec_rules, field};
use warden_sources::audit::{FileOp, call_rules, file_rules, read_watch_rules};
use warden_sources::ebpf::{
    AttrRecord, Datagrams, EbpfConfig, EbpfSource, ExecFlags, ExecRecord, FileActivityConfig,
    FileRecord, NetRecord, NetworkActivityConfig, Record, ScriptRecord,
};
use warden_sources::fanotify::{
    FanotifyConfig, FanotifyEvent, FanotifySource, MarkKind, WatchList, WatchPath,
    credential_watches, mounts, spawn_looker,
};
use warden_sources::held::HeldFile;
use warden_sources::proc_connector::{
    ExitStatus, ProcConnectorConfig, ProcConnectorSource, ProcEvent,
};
use warden_sources::procfs;
use warden_sources::tcp_diag;
use warden_store::StoredEvent;

use super::activity::{
    FilePolicy, NetworkPolicy, Skipped, attr_file_event, audit_file_event, ebpf_file_event,
    ebpf_network_event, ebpf_network_event_opened, fanotify_file_event, first_look,
    look_at_handshake, network_event, quic_initial,
};
use super::config::{Config, FilesConfig};
use super::diag_ends::{DiagEnds, socket_holders};
use super::handshakes::{Follow, Handshakes, Settled};
use super::jsonl::RotatingFile;
use super::opening::Opening;
use super::proc_source::{LiveProc, seed_of};
use super::quic::{Assembled, QuicHellos};
use super::served::{self, SERVED_WAIT, ServedLooks, ServedMounts};
use super::ssh::{self, AwaitingKexinit, KEXINIT_WAIT};
use super::status::{CLOCK_AHEAD_SAID_S, FilesystemRoom, SourceStatus, Status};
use super::stdout::StdoutLines;
use super::tcp_ends;
use super::unclaimed::{self, Unclaimed};
use crate::events::now_ns;

/// Events waiting for the store writer. When it falls behind (a burst beyond its ~90,000
/// rows/s), the pipeline stops taking from the sources, whose queues then fill, then drop and
/// count. ~25 MiB at most.
const STORE_QUEUE: usize = 32_768;
/// File events waiting for the pipeline.
const FANOTIFY_QUEUE: usize = 65_536;
/// Audit views (exec, network, file) waiting for the pipeline.
const AUDIT_QUEUE: usize = 16_384;
/// Ends of audit's TCP connections recorded in one pass at most, so that the calls' records
/// keep flowing through a storm of ends.
const ENDS_PER_PASS: usize = 2_048;
/// Fork, exec and exit records from eBPF waiting for the pipeline (a burst of 20,000 execs is
/// 60,000 records).
const EBPF_QUEUE: usize = 65_536;
const STATUS_EVERY: Duration = Duration::from_secs(1);
/// After something arrives, let more gather this long before the next pass: the pass then
/// handles many events per wakeup (50 ms rather than 20, with the ring reader at 25 ms rather
/// than 10: agent CPU 10.9 → 9.6 % of a core at 1000 execs/s, alternating A/B runs), and an
/// event reaches the store a few tens of milliseconds later.
const COALESCE: Duration = Duration::from_millis(50);
const SWEEP_EVERY: Duration = Duration::from_secs(5);
/// How long a pass that found the store's queue full waits before the next.
const STORE_WAIT: Duration = Duration::from_micros(250);

/// Runs the agent in the foreground until a signal that would end it ([`STOP_SIGNALS`]).
pub fn run(config_path: Option<&Path>) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    pin_mmap_threshold();
    let config = Config::load(config_path)?;
    let _only_agent = single_instance()?;
    let stop = Arc::new(AtomicBool::new(false));
    watch_signals(Arc::clone(&stop))?;
    warden_sources::audit::netlink::install_panic_hook();

    // Said before either is touched: a server that does not answer would hold the start too.
    let outputs = [
        ("data dir", Some(&config.data_dir)),
        ("JSON-lines file", config.output.file.as_ref()),
    ];
    for (what, path) in outputs {
        if let Some(path) = path
            && let Some(fstype) = served::served_filesystem_of(path)
        {
            say!(
                "warden: the {what} {} is on a {fstype} filesystem: a server that stops \
                 answering would hold the recording (a local filesystem would not)",
                path.display()
            );
        }
    }
    // Owner only, as auditd keeps /var/log/audit.
    super::create_private_dirs(&config.data_dir)
        .with_context(|| format!("cannot create data dir {}", config.data_dir.display()))?;
    // One made by someone else keeps its mode: say so when others may read the records.
    if let Ok(meta) = std::fs::metadata(&config.data_dir)
        && meta.permissions().mode() & 0o077 != 0
    {
        say!(
            "warden: {} is open to other users (mode {:o}); the store holds every user's \
             command lines: chmod 700 it",
            config.data_dir.display(),
            meta.permissions().mode() & 0o777
        );
    }
    let mut agent = Agent::start(&config)?;
    agent.adopt_open_tcp_connections_said();
    say!(
        "warden {}: recording; Ctrl-C or SIGTERM to stop",
        env!("CARGO_PKG_VERSION")
    );
    for s in &agent.status.sources {
        say!(
            "  source {:<15} {:<8} {}",
            s.name,
            if s.active { "active" } else { "inactive" },
            s.detail
        );
    }
    agent.run_until(&stop);
    agent.shutdown()
}

/// Keeps glibc's allocator from moving its mmap threshold. By default, freeing a large mmapped
/// block (the kernel's BTF parsed once at eBPF load: ~19 MB) raises the threshold, and later large
/// allocations then stay resident in the heap: 46 → 35 MB of RSS at idle with the threshold
/// pinned at its default 128 KiB. Large blocks then cost an mmap and a munmap each, which the
/// agent does a few times a second at most (store batches).
fn pin_mmap_threshold() {
    // SAFETY: mallopt only changes a malloc tunable; called before any thread starts.
    unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024) };
}

/// Where the running agent holds its lock: one agent per host, since audit rules and the
/// audit daemon slot are global (a second agent would share and then remove the first's rules).
const LOCK_FILE: &str = "/run/warden.lock";

/// Where the running agent names the audit settings it changed (see
/// `warden_sources::audit::ledger`): host-wide like them, and in `/run`, which ends with the
/// boot as they do.
pub(super) const AUDIT_LEDGER: &str = "/run/warden-audit.ledger";

/// Takes the host-wide agent lock, or says which agent holds it. The kernel releases the lock
/// when the process ends, however it ends.
pub(super) fn single_instance() -> anyhow::Result<nix::fcntl::Flock<std::fs::File>> {
    use std::io::{Read, Seek, Write};
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(LOCK_FILE)
        .with_context(|| format!("cannot open {LOCK_FILE}"))?;
    let mut holder = String::new();
    let _ = file.read_to_string(&mut holder);
    let mut lock = nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock)
        .map_err(|(_, errno)| {
            anyhow::anyhow!(
                "another warden agent is running (pid {}, lock {LOCK_FILE}): {errno}; \
                 only one may run, since audit rules are host-wide",
                holder.trim()
            )
        })?;
    lock.set_len(0)?;
    lock.rewind()?;
    write!(lock, "{}", std::process::id())?;
    Ok(lock)
}

/// The signals whose default action ends a process and that are sent to it, not caused by its
/// own faults: each stops the agent cleanly. SIGXFSZ among them, so that a write past the file
/// size limit fails (`EFBIG`, counted) instead of killing the agent.
const STOP_SIGNALS: [nix::sys::signal::Signal; 13] = {
    use nix::sys::signal::Signal::*;
    [
        SIGINT, SIGTERM, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2, SIGALRM, SIGVTALRM, SIGPROF, SIGXCPU,
        SIGXFSZ, SIGIO, SIGPWR,
    ]
};

/// Blocks the signals that end a process ([`STOP_SIGNALS`]; SIGHUP only unless it was started
/// to ignore it, as `nohup` does) in every thread and waits for them in one thread, which
/// raises `stop`: every one of them stops the agent cleanly, restoring the kernel's audit
/// state. (Their default action ends the process on the spot: a hangup, the terminal of a
/// foreground `warden run` closing, left the audit rules installed and audit enabled.)
/// Blocking first means no thread is ever interrupted mid-syscall by them.
fn watch_signals(stop: Arc<AtomicBool>) -> anyhow::Result<()> {
    use nix::sys::signal::{SigSet, Signal};
    let mut set = SigSet::empty();
    for signal in STOP_SIGNALS {
        if signal != Signal::SIGHUP || !is_ignored(signal) {
            set.add(signal);
        }
    }
    set.thread_block()
        .context("cannot block the signals that would end the agent")?;
    std::thread::Builder::new()
        .name("warden-signals".into())
        .spawn(move || {
            if let Ok(signal) = set.wait() {
                say!("warden: {signal}: stopping");
            }
            stop.store(true, Ordering::SeqCst);
        })?;
    Ok(())
}

/// Whether `signal` is ignored (`SIG_IGN`), as `nohup` leaves SIGHUP.
fn is_ignored(signal: nix::sys::signal::Signal) -> bool {
    let mut action = std::mem::MaybeUninit::<libc::sigaction>::zeroed();
    // SAFETY: a null new action only reads the current one into `action`.
    let read =
        unsafe { libc::sigaction(signal as libc::c_int, std::ptr::null(), action.as_mut_ptr()) };
    // SAFETY: sigaction filled it (and zeroed is a valid sigaction besides).
    read == 0 && unsafe { action.assume_init() }.sa_sigaction == libc::SIG_IGN
}

struct Agent {
    config: Config,
    host: String,
    table: ProcessTable,
    enricher: warden_enrich::Enricher,
    audit: Option<(AuditSource, Receiver<AuditOutput>)>,
    /// With audit's file source: the watch list as the rewatch thread finds it every 10 s, and
    /// the paths watched so far (audit's watches follow their paths; new ones need rules).
    audit_watch_looks: Option<Receiver<Vec<WatchPath>>>,
    audit_watched: std::collections::HashSet<PathBuf>,
    /// Watches added by those looks.
    audit_watches_added: u64,
    connector: Option<(ProcConnectorSource, Receiver<ProcEvent>)>,
    store_tx: Option<warden_sources::queue::BoundedSender<StoredEvent>>,
    store_thread: Option<warden_store::WriterThread>,
    store: Option<warden_store::Store>,
    jsonl: Option<RotatingFile>,
    /// The JSON lines on standard output (`output.stdout`).
    stdout: Option<StdoutLines>,
    status: Status,
    /// Loss counters already reported, by "source/cause", to emit only the increase.
    reported_losses: BTreeMap<String, u64>,
    loss_log: LossLog,
    /// The last status write failed (and was said once).
    status_unwritten: bool,
    store_dropped: u64,
    /// CLOCK_BOOTTIME − CLOCK_MONOTONIC: the connector stamps with the monotonic clock, /proc
    /// start times count boot time (they differ by the time the host was suspended).
    suspend_offset_ns: u64,
    /// UTC nanoseconds at boot: kernel timestamps (ns since boot) + this = event time.
    boot_time_ns: i64,
    events_since_status: u64,
    /// Connector exits held back briefly: the audit exec of the same process travels a longer
    /// path (records assembled until EOE), and must reach the table before its exit does.
    pending_exits: std::collections::VecDeque<(Instant, ProcEvent)>,
    /// Audit events (and the file events of other sources) waiting for the process source's
    /// view of the same process, then for room in the store's queue, in arrival order (see
    /// [`Agent::step`]).
    pending: std::collections::VecDeque<Waiting>,
    /// Connector execs not yet matched by an audit exec, by pid.
    connector_execs: std::collections::HashMap<u32, u32>,
    /// Which socket calls are recorded; `None` when network events are off.
    network: Option<NetworkPolicy>,
    /// Which file operations are recorded (both file sources).
    files: FilePolicy,
    /// File events come from Warden's audit rules.
    audit_files: bool,
    /// Audit rules tell chmod and chown apart beside fanotify (eBPF could not).
    audit_attr_calls: bool,
    /// Audit rules tell links and symlinks apart beside fanotify (eBPF could not).
    audit_link_calls: bool,
    fanotify: Option<(FanotifySource, Receiver<FanotifyEvent>)>,
    /// Fork, exec and exit from eBPF; when active, neither audit exec rules nor the connector.
    ebpf: Option<(EbpfSource, Receiver<Record>)>,
    /// Nanoseconds per clock tick: eBPF gives start times in ns, identities count ticks.
    ns_per_tick: u64,
    /// Execs whose argv, exe or cwd eBPF could not read whole and /proc could not complete.
    ebpf_incomplete: u64,
    /// Successful execs of 32-bit images whose calls of some kind no eBPF program sees.
    ebpf_compat_execs: u64,
    /// Which calls of 32-bit processes no program sees ("network", "file", or both): files
    /// from eBPF, network calls from eBPF where the compat program cannot run.
    compat_unseen: Option<&'static str>,
    /// Which calls of 32-bit processes are followed by eBPF ("network", "file", or both; by
    /// the compat follower while they run).
    compat_followed: Option<&'static str>,
    /// Their TCP connects and listens are seen at the sockets' change of state.
    compat_tcp: bool,
    /// A 32-bit process was said in the log.
    compat_told: bool,
    /// Operations seen but not recorded, by reason.
    skipped: Skipped,
    /// Audit's non-blocking connects, followed until their handshakes end.
    handshakes: Handshakes,
    /// The ends of audit's TCP connections, from the kernel's socket diagnostics.
    tcp_ends: Option<DiagEnds>,
    /// Outcomes not learnt (handshakes whose end was not seen), by reason.
    unknown: Skipped,
    /// Changes eBPF or audit reported by their calls, by process, path and what fanotify says
    /// of them, when: fanotify's report of the same change is not recorded again.
    told_changes: std::collections::HashMap<(u32, Vec<u8>, FileAction), Instant>,
    /// Files fanotify saw a process delete a name of, by process, device and inode, when: the
    /// "attributes changed" the kernel reports of the link count (before the deletion, naming
    /// the file by a name it still has) is not a change of its own.
    unlinked: std::collections::HashMap<(u32, u64, u64), Instant>,
    /// Bytes of written files hashed per second (`files.hash_per_second`), what is left of
    /// this second's, and since when; files described this second.
    hash_per_second: u64,
    hash_budget: u64,
    hash_budget_since: Instant,
    described_this_second: u32,
    /// Written files not described: over `files.describe_per_second`.
    written_over_budget: u64,
    /// Files left written whose path named no regular file, or another one, when the agent
    /// looked (removed, renamed or replaced since).
    written_gone: u64,
    /// Where written files are not described, and executables are described by another
    /// thread: network and FUSE filesystems (a look there can wait on their server).
    served_mounts: ServedMounts,
    /// Written files not described: on such a filesystem.
    written_served: u64,
    /// The thread that describes executables on such filesystems (started at the first).
    served_looks: Option<ServedLooks>,
    /// eBPF or audit reports chmod and chown (fanotify's attribute events wait for those).
    attr_calls: bool,
    /// eBPF reports links, symlinks and truncates beside fanotify, or audit links and symlinks.
    link_calls: bool,
    /// The instant (`CLOCK_BOOTTIME` ns) before which eBPF had passed on all the kernel gave it,
    /// as of the last of its records applied ([`Record::CaughtUp`]): the forks and execs made
    /// before it are in the table.
    ebpf_caught_up: u64,
    /// The same for the connector ([`ProcConnectorSource::caught_up_to`]): its forks and execs
    /// are in the table, or its execs are waiting for audit's.
    connector_caught_up: u64,
    /// The addresses each process's DNS answers resolved, for the names of the connections it
    /// makes to them.
    resolved: ResolvedNames,
    /// The names connections asked for by their first bytes, for their ends' and looks'.
    asked: AskedNames,
    /// The URLs processes requested, for the files they write and those files' execs.
    fetched: Fetched,
    /// QUIC clients' hellos being put together from their Initial datagrams.
    quic_hellos: QuicHellos,
    /// Requests received on connections not taken yet, for the accepts that take them.
    unclaimed: Unclaimed<NetRecord>,
    /// SSH clients' identifications (their events and times) waiting for their KEXINIT.
    awaiting_kexinit: AwaitingKexinit<(NetworkEvent, i64)>,
    /// Execs of images modified in the last seconds, held until the change that wrote them
    /// may have come (when due, the exec, its time).
    fresh_execs: VecDeque<(Instant, ExecEvent, i64)>,
}

/// Addresses named by DNS answers at once (about 100 bytes each).
const RESOLVED_NAMES: usize = 65_536;

/// Processes' last requests, and files written after one, kept at once (each: a URL).
const FETCHED: usize = 16_384;

/// How recently an exec's image must have been modified for the exec to wait for the change
/// that wrote it (ns).
const FRESH_NS: i64 = 10_000_000_000;

/// How long such an exec waits: fanotify's reader hands a change on within milliseconds.
const FRESH_EXEC_HOLD: Duration = Duration::from_millis(30);

type AuditExec = warden_sources::audit::exec::ExecEvent;

/// An event held until the process table has caught up with its process, since it came.
struct Waiting {
    since: Instant,
    /// The same instant on `CLOCK_BOOTTIME`, to compare with the process sources' progress.
    since_ns: u64,
    held: Held,
}

/// Now, on both clocks: read once per batch taken from a queue, after its length, so it is no
/// earlier than any of the batch's arrivals (two clock reads per pass, not per event).
#[derive(Clone, Copy)]
struct Arrival {
    at: Instant,
    boot_ns: u64,
}

impl Arrival {
    fn now() -> Arrival {
        Arrival {
            at: Instant::now(),
            boot_ns: procfs::boottime_ns(),
        }
    }

    fn of(self, held: Held) -> Waiting {
        Waiting {
            since: self.at,
            since_ns: self.boot_ns,
            held,
        }
    }
}

/// An event held until the process table has caught up with its process.
enum Held {
    Exec(Box<AuditExec>),
    Net(Box<NetEvent>),
    File(Box<FileOp>),
    Fanotify(Box<FanotifyEvent>),
}

impl Held {
    fn pid(&self) -> u32 {
        match self {
            Held::Exec(e) => e.subject.pid,
            Held::Net(e) => e.subject.pid,
            Held::File(e) => e.subject.pid,
            Held::Fanotify(e) => e.pid,
        }
    }
}

/// The paths whose reads are recorded: the credential stores of every user (when asked) and
/// the configured ones.
fn watch_list(config: &Config) -> Vec<WatchPath> {
    watch_list_of(&config.files, false)
}

/// [`watch_list`] at the start (`looking` false: says why the users' stores are missing, and
/// keeps out of network and FUSE filesystems whose server does not answer), or as a later
/// look finds it (every few seconds, from every host: it keeps out of network filesystems and
/// automounts).
fn watch_list_of(files: &FilesConfig, looking: bool) -> Vec<WatchPath> {
    let avoid = if looking {
        std::fs::read("/proc/self/mountinfo")
            .map(|text| mounts::unlooked_mount_points(&mounts::parse_mountinfo(&text)))
            .unwrap_or_default()
    } else if files.watch_reads || !files.watch_paths.is_empty() {
        let silent = served::unanswering(START_LOOK_WAIT);
        for (point, fstype) in &silent {
            say!(
                "warden: {} ({fstype}): its server did not answer in {START_LOOK_WAIT:?}; \
                 no path under it is watched",
                String::from_utf8_lossy(point)
            );
        }
        silent.into_iter().map(|(point, _)| point).collect()
    } else {
        Vec::new()
    };
    let mut watches = Vec::new();
    if files.watch_reads {
        match credential_watches(Path::new("/etc/passwd"), &avoid) {
            Ok(found) => watches = found,
            Err(e) if !looking => {
                say!("warden: cannot read /etc/passwd for the credential watches: {e}")
            }
            Err(_) => {}
        }
    }
    for path in &files.watch_paths {
        use std::os::unix::ffi::OsStrExt;
        let bytes = path.as_os_str().as_bytes();
        if avoid
            .iter()
            .any(|point| crate::agent::activity::under(bytes, point))
        {
            continue;
        }
        if !watches.iter().any(|w| &w.path == path) {
            watches.push(WatchPath::new(path.clone(), "configured"));
        }
    }
    watches
}

/// The audit rules of this config: exec when audit is the process source; network calls (where
/// eBPF does not report them) and file changes (with reads of the watched paths) when asked;
/// beside fanotify, the calls it cannot tell apart that eBPF does not report: chmod and chown
/// (`attribute_calls`), link and symlink (`link_calls`; not truncate: fanotify says "modified"
/// of it, and an audit record for each would cost a process truncating in a loop 40 µs a call,
/// docs/PERFORMANCE.md). The agent's own calls are excluded in the kernel (`-F pid!=`), so it
/// never records itself. With the rules, the watched paths they watch.
fn audit_rules(
    config: &Config,
    watches: &[WatchPath],
    execs: bool,
    network: bool,
    (attribute_calls, link_calls): (bool, bool),
) -> (Vec<AuditRule>, std::collections::HashSet<PathBuf>) {
    let key = warden_sources::audit::WARDEN_KEY;
    let mut watched = std::collections::HashSet::new();
    let not_self = |r: AuditRule| r.field(field::PID, Op::Ne, FieldValue::Num(std::process::id()));
    let mut rules = if execs { exec_rules(key) } else { Vec::new() };
    if network {
        rules.extend(net_rules(key).into_iter().map(not_self));
        // Audit cannot tell a socket's first datagram to a peer from the others: it records
        // datagrams only when asked for all of them.
        if config.network.datagrams == Datagrams::All {
            rules.extend(datagram_rules(key).into_iter().map(not_self));
        }
    }
    if config.files.source == "audit" {
        let own = std::process::id();
        rules.extend(file_rules(key, own));
        let paths: Vec<&Path> = watches.iter().map(|w| w.path.as_path()).collect();
        let (watch_rules, skipped) = read_watch_rules(&paths, key, Some(own));
        for s in &skipped {
            say!(
                "warden: no read watch on {}: {:?}",
                s.path.display(),
                s.reason
            );
        }
        rules.extend(watch_rules);
        watched = watches
            .iter()
            .filter(|w| skipped.iter().all(|s| s.path != w.path))
            .map(|w| w.path.clone())
            .collect();
    } else if attribute_calls || link_calls {
        rules.extend(call_rules(key, std::process::id(), |call| {
            (attribute_calls && call.changes_attributes()) || (link_calls && call.makes_links())
        }));
    }
    (rules, watched)
}

/// The file an exec named, as its source told it, when an interpreter may run it.
enum Named<'a> {
    /// eBPF's record of the script an interpreter runs.
    Script(&'a ScriptRecord),
    /// Audit's first PATH record: the file the call named, made absolute, and its inode (a
    /// script when it is not the image that runs).
    File { path: Vec<u8>, inode: u64 },
}

/// The longest an event waits for its counterpart from the other source.
const MAX_HOLD: Duration = Duration::from_secs(5);

/// How long a connector exit waits for audit events of the same process.
const EXIT_HOLD: Duration = Duration::from_millis(100);

/// How long the stop waits for standard output's reader to take the last lines.
const STDOUT_FINISH_WAIT: Duration = Duration::from_secs(2);

/// How long the start waits for the servers of network and FUSE filesystems before it looks
/// for watched paths there: a server that does not answer would keep it waiting.
const START_LOOK_WAIT: Duration = Duration::from_secs(1);

/// How long fanotify's "attributes changed" waits for the eBPF (or audit) record of a chmod or
/// chown (and a hard link's or symlink's creation for audit's record of it), and how long a
/// call's record (a chmod, chown, link, symlink, truncate; a deletion fanotify saw) covers the
/// fanotify events of its change.
const ATTR_HOLD: Duration = Duration::from_millis(200);
const TOLD_FOR: Duration = Duration::from_secs(2);

impl Agent {
    fn start(config: &Config) -> anyhow::Result<Agent> {
        let boot = procfs::boot_id()
            .ok()
            .and_then(|text| BootId::parse(&text))
            .context("cannot read the boot id (/proc/sys/kernel/random/boot_id)")?;
        let ticks = procfs::clock_ticks();
        let boot_time_ns = procfs::boot_time_ns();
        let host = nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut status = Status {
            pid: std::process::id(),
            version: env!("CARGO_PKG_VERSION").into(),
            started_ns: now_ns(),
            ..Default::default()
        };

        let (store, store_tx, store_thread) = if config.output.store {
            let retention = warden_store::Retention {
                max_age: config.max_age()?,
                max_bytes: config.max_bytes()?,
                keep_free: config.keep_free()?,
            };
            let (store, set_aside) =
                warden_store::Store::open_setting_damage_aside(&config.data_dir, retention)
                    .context("cannot open the event store")?;
            if let Some(aside) = set_aside {
                let deleted = if aside.removed.is_empty() {
                    String::new()
                } else {
                    warden_store::deleted_set_aside(&aside.removed)
                };
                say!(
                    "warden: the event store was damaged ({}): set aside as {}; a new store \
                     begins, its seq from 1{deleted}",
                    aside.why,
                    aside.path.display()
                );
                status.store_set_aside = Some(aside.path.display().to_string());
            }
            let (tx, rx) = warden_sources::queue::bounded_lazy(STORE_QUEUE);
            let thread = warden_store::spawn_writer(&store, rx, 1000, Duration::from_millis(200))?;
            status.store_path = store.path().display().to_string();
            (Some(store), Some(tx), Some(thread))
        } else {
            (None, None, None)
        };
        let jsonl = match &config.output.file {
            Some(path) => Some(
                RotatingFile::open(
                    path,
                    config.file_max_bytes(),
                    config.output.file_keep,
                    config.keep_free()?,
                )
                .with_context(|| format!("cannot open {}", path.display()))?,
            ),
            None => None,
        };
        let stdout = if config.output.stdout {
            Some(StdoutLines::start().context("cannot start the standard output's thread")?)
        } else {
            None
        };

        // Subscribe before the /proc scan so nothing that starts in between is missed.
        let ebpf = start_ebpf(config, &mut status)?;
        let connector = if ebpf.is_some() {
            status.sources.push(SourceStatus {
                name: "proc_connector".into(),
                active: false,
                detail: "not needed: eBPF gives fork, exec and exit".into(),
            });
            None
        } else if config.sources.proc_connector {
            match ProcConnectorSource::start(ProcConnectorConfig::default()) {
                Ok(pair) => {
                    status.sources.push(SourceStatus {
                        name: "proc_connector".into(),
                        active: true,
                        detail: "fork, exec and exit from the netlink process connector".into(),
                    });
                    Some(pair)
                }
                Err(e) => {
                    status.sources.push(SourceStatus {
                        name: "proc_connector".into(),
                        active: false,
                        detail: format!("{e}"),
                    });
                    None
                }
            }
        } else {
            status.sources.push(SourceStatus {
                name: "proc_connector".into(),
                active: false,
                detail: "disabled in the config".into(),
            });
            None
        };
        let watches = watch_list(config);
        let audit_execs = ebpf.is_none();
        // fanotify says only "attributes changed": chmod and chown are told apart by their
        // calls, from eBPF's tracepoints or, where those cannot run, from audit rules.
        let ebpf_attribute_calls = ebpf
            .as_ref()
            .is_some_and(|(src, _)| src.attribute_changes() == Some(Ok(())));
        // It says "created" of a link and "modified" of a truncate: those are told by their
        // calls too, from eBPF's tracepoints.
        let ebpf_link_calls = ebpf
            .as_ref()
            .is_some_and(|(src, _)| src.links_and_truncates() == Some(Ok(())));
        // files.source = "ebpf" where the file programs could not attach: fanotify instead.
        let ebpf_files = ebpf
            .as_ref()
            .is_some_and(|(src, _)| src.files() == Some(Ok(())));
        let fanotify_files =
            config.files.source == "fanotify" || (config.files.source == "ebpf" && !ebpf_files);
        // Beside eBPF's file changes, reads of the watched paths still come from fanotify: its
        // marks on those paths cost the reads elsewhere nothing, where the eBPF programs would
        // have to look at every open.
        let fanotify_watches_only = ebpf_files && !watches.is_empty();
        let audit_attribute_calls = fanotify_files && !ebpf_attribute_calls;
        let audit_link_calls = fanotify_files && !ebpf_link_calls;
        // network.source = "ebpf" where the network programs could not attach: audit instead.
        let ebpf_network = ebpf
            .as_ref()
            .is_some_and(|(src, _)| src.network() == Some(Ok(())));
        let audit_network = config.network.enabled && !ebpf_network;
        let ready = |part: fn(&EbpfSource) -> Option<Result<(), &str>>| {
            ebpf.as_ref()
                .is_some_and(|(src, _)| part(src) == Some(Ok(())))
        };
        let compat_network = ebpf_network && ready(EbpfSource::network_compat);
        let compat_files = ebpf_files && ready(EbpfSource::files_compat);
        let compat_tcp = ebpf_network
            && ebpf
                .as_ref()
                .is_some_and(|(src, _)| src.network_compat_tcp() == Some(Ok(())));
        let calls = |network: bool, files: bool| match (network, files) {
            (true, true) => Some("network and file"),
            (true, false) => Some("network"),
            (false, true) => Some("file"),
            (false, false) => None,
        };
        let compat_followed = calls(compat_network, compat_files);
        let compat_unseen = calls(ebpf_network && !compat_network, ebpf_files && !compat_files);
        let (rules, audit_watched) = audit_rules(
            config,
            &watches,
            audit_execs,
            audit_network,
            (audit_attribute_calls, audit_link_calls),
        );
        let audit = if config.sources.audit && !rules.is_empty() {
            let audit_config = AuditSourceConfig {
                force_multicast: config.sources.audit_mode == "multicast",
                backlog_limit: config.sources.audit_backlog_limit,
                rules,
                // Small views (exec, network, file), not raw events: a storm of socket calls
                // or file changes is held for a moment (bounded) rather than dropped.
                channel_capacity: AUDIT_QUEUE,
                // Only events of Warden's own rules: with auditd beside, the others are its.
                forward_other_events: false,
                // Sockets read as the source reads their records: the process may close them
                // soon after the call (and a non-blocking connect's end is learnt from its).
                probe_sockets: audit_network && config.network.probe_sockets,
                // Each connection's cookie too, for its end (the kernel's socket diagnostics).
                socket_cookies: audit_network
                    && config.network.probe_sockets
                    && config.network.connection_ends,
                ledger: Some(PathBuf::from(AUDIT_LEDGER)),
                ..AuditSourceConfig::default()
            };
            match AuditSource::start(audit_config) {
                Ok((source, rx)) => {
                    let report = source.report();
                    let how = match report.mode {
                        ReadMode::Unicast => "audit daemon slot",
                        ReadMode::Multicast => "multicast log group (read-only)",
                    };
                    let mut what = Vec::new();
                    if audit_execs {
                        what.push("exec");
                    }
                    if audit_network {
                        what.push(match config.network.datagrams {
                            Datagrams::All => "network (datagrams too)",
                            // Audit cannot tell a socket's first datagram from the others.
                            Datagrams::First => {
                                "network (not datagrams: audit records them only with \
                                 network.datagrams = \"all\")"
                            }
                            Datagrams::Off => "network",
                        });
                    }
                    if config.files.source == "audit" {
                        what.push("file");
                    } else {
                        if audit_attribute_calls {
                            what.push("chmod and chown");
                        }
                        if audit_link_calls {
                            what.push("links and symlinks");
                        }
                    }
                    let what = what.join(", ");
                    let mut detail = format!("{what} via {how}: {}", report.reason);
                    for note in &report.notes {
                        detail.push_str("; ");
                        detail.push_str(note);
                    }
                    status.sources.push(SourceStatus {
                        name: "audit".into(),
                        active: true,
                        detail,
                    });
                    Some((source, rx))
                }
                Err(e) => {
                    status.sources.push(SourceStatus {
                        name: "audit".into(),
                        active: false,
                        detail: format!("{e}"),
                    });
                    None
                }
            }
        } else {
            status.sources.push(SourceStatus {
                name: "audit".into(),
                active: false,
                detail: if config.sources.audit {
                    "not needed: no execs, network calls or file changes asked of it".into()
                } else {
                    "disabled in the config".into()
                },
            });
            None
        };
        // Audit sees no connection's end: the kernel's socket diagnostics do, for the sockets
        // whose cookie was read as their connect's or accept's records were.
        let tcp_ends = (audit_network
            && audit.is_some()
            && config.network.connection_ends
            && config.network.probe_sockets)
            .then(|| {
                let every = config.open_connections_every()?;
                let every = (!every.is_zero()).then_some(every);
                DiagEnds::start(config.network.connections_max as usize, every).map_err(|e| {
                    let why = match e.raw_os_error() {
                        Some(libc::EPERM) => format!("{e} (joining them needs CAP_NET_ADMIN)"),
                        _ => e.to_string(),
                    };
                    anyhow::anyhow!("cannot join the groups of destroyed TCP sockets: {why}")
                })
            });
        let tcp_ends = match tcp_ends {
            Some(Ok(ends)) => {
                status.sources.push(SourceStatus {
                    name: "sock_diag".into(),
                    active: true,
                    detail: format!(
                        "the ends of the TCP connections audit records, with their traffic, \
                         as the kernel destroys their sockets; those still open {}as the \
                         agent stops",
                        match config.network.open_connections_every.as_str() {
                            "0" => String::new(),
                            every => format!("every {every} and "),
                        }
                    ),
                });
                Some(ends)
            }
            Some(Err(e)) => {
                status.sources.push(SourceStatus {
                    name: "sock_diag".into(),
                    active: false,
                    detail: format!("{e:#}"),
                });
                None
            }
            None => None,
        };
        // Audit's watches follow their paths; a store made since the start needs a rule.
        let audit_watch_looks = (config.files.source == "audit"
            && audit.is_some()
            && (config.files.watch_reads || !config.files.watch_paths.is_empty()))
        .then(|| {
            let files = config.files.clone();
            let list = WatchList::new(move || watch_list_of(&files, true));
            // Never set: the thread ends at its next look once the agent is gone.
            let stop = Arc::new(AtomicBool::new(false));
            spawn_looker(
                list,
                FanotifyConfig::default().rewatch_every,
                stop,
                |_, listed| listed,
            )
            .ok()
        })
        .flatten();
        let mut files = FilePolicy::of(&config.files, &config.data_dir);
        files.watches = watches
            .iter()
            .map(|w| {
                use std::os::unix::ffi::OsStrExt;
                (w.path.as_os_str().as_bytes().to_vec(), w.label.clone())
            })
            .collect();
        let fanotify = if fanotify_files || fanotify_watches_only {
            let fan_config = FanotifyConfig {
                filesystems: if fanotify_watches_only {
                    Some(Vec::new())
                } else {
                    (!config.files.filesystems.is_empty()).then(|| config.files.filesystems.clone())
                },
                watches: watches.clone(),
                rewatch: Some({
                    let files = config.files.clone();
                    WatchList::new(move || watch_list_of(&files, true))
                }),
                exclude_prefixes: config
                    .files
                    .exclude_paths
                    .iter()
                    .cloned()
                    .chain([config.data_dir.clone()])
                    .collect(),
                include_prefixes: config.files.include_paths.clone(),
                // A burst of file changes (an unpacked archive, a build) outpaces the pipeline
                // for a moment: hold it (bounded, ~16 MiB at most) rather than drop it.
                channel_capacity: FANOTIFY_QUEUE,
                report_modify: config.files.modify,
                hold_written: config.files.describe_written,
                ..FanotifyConfig::default()
            };
            match FanotifySource::start(fan_config) {
                Ok((source, rx)) => {
                    let marked = |kind: MarkKind| {
                        source
                            .marks()
                            .iter()
                            .filter(|m| m.kind == kind && m.refused.is_none())
                            .map(|m| m.path.display().to_string())
                            .collect::<Vec<_>>()
                    };
                    let filesystems = marked(MarkKind::Filesystem);
                    let watched = marked(MarkKind::Watch).len();
                    let mut detail = if fanotify_watches_only {
                        format!(
                            "reads of {watched} watched credential paths (file changes from eBPF)"
                        )
                    } else {
                        format!(
                            "file changes on {} ({} watched credential paths)",
                            filesystems.join(", "),
                            watched
                        )
                    };
                    for m in source.marks().iter().filter(|m| m.refused.is_some()) {
                        // A missing watched path is no refusal: it is marked once made.
                        let said = match m.kind {
                            MarkKind::Filesystem => "marked",
                            MarkKind::Watch if !m.missing => "watched",
                            _ => continue,
                        };
                        detail.push_str(&format!(
                            "; {} not {said}: {}",
                            m.path.display(),
                            m.refused.as_deref().unwrap_or_default()
                        ));
                    }
                    status.sources.push(SourceStatus {
                        name: "fanotify".into(),
                        active: true,
                        detail,
                    });
                    Some((source, rx))
                }
                Err(e) => {
                    status.sources.push(SourceStatus {
                        name: "fanotify".into(),
                        active: false,
                        detail: format!("{e}"),
                    });
                    None
                }
            }
        } else {
            None
        };
        anyhow::ensure!(
            ebpf.is_some() || audit.is_some() || connector.is_some(),
            "no source could start: {}",
            status
                .sources
                .iter()
                .map(|s| format!("{}: {}", s.name, s.detail))
                .collect::<Vec<_>>()
                .join("; ")
        );

        let mut table = ProcessTable::new(boot, ticks, boot_time_ns as i64, TableConfig::default());
        let seeds: Vec<_> = procfs::processes()
            .context("cannot list /proc")?
            .into_iter()
            .map(seed_of)
            .collect();
        table.seed(seeds);
        status.sources.push(SourceStatus {
            name: "procfs".into(),
            active: true,
            detail: format!("{} running processes seeded at start", table.len()),
        });
        let suspend_offset_ns = procfs::boottime_ns().saturating_sub(procfs::monotonic_ns());

        // Build the dpkg index now rather than on the first exec, so the pipeline never
        // stalls on it while events queue up.
        let (hash_max_size, hash_per_second) = config.written_hashing()?;
        let mut enricher = warden_enrich::Enricher::new(warden_enrich::EnrichConfig {
            written: warden_enrich::ExecutableConfig {
                max_hash_size: hash_max_size,
                ..warden_enrich::ExecutableConfig::default()
            },
            ..warden_enrich::EnrichConfig::default()
        });
        let _ = enricher.dpkg.package_of(b"/usr/bin/true");

        Ok(Agent {
            config: config.clone(),
            host,
            table,
            enricher,
            pending_exits: std::collections::VecDeque::new(),
            pending: std::collections::VecDeque::new(),
            connector_execs: std::collections::HashMap::new(),
            network: (ebpf_network || (audit_network && audit.is_some()))
                .then(|| NetworkPolicy::of(&config.network)),
            audit_files: config.files.source == "audit" && audit.is_some(),
            audit_attr_calls: fanotify.is_some() && audit_attribute_calls && audit.is_some(),
            audit_link_calls: fanotify.is_some() && audit_link_calls && audit.is_some(),
            files,
            attr_calls: fanotify.is_some()
                && (ebpf_attribute_calls || (audit_attribute_calls && audit.is_some())),
            link_calls: fanotify.is_some()
                && (ebpf_link_calls || (audit_link_calls && audit.is_some())),
            told_changes: std::collections::HashMap::new(),
            unlinked: std::collections::HashMap::new(),
            hash_per_second,
            hash_budget: hash_per_second,
            hash_budget_since: Instant::now(),
            described_this_second: 0,
            written_over_budget: 0,
            written_gone: 0,
            served_mounts: ServedMounts::new(),
            written_served: 0,
            served_looks: None,
            ebpf_caught_up: 0,
            connector_caught_up: 0,
            resolved: ResolvedNames::new(RESOLVED_NAMES),
            asked: AskedNames::new(RESOLVED_NAMES),
            fetched: Fetched::new(FETCHED),
            quic_hellos: QuicHellos::default(),
            unclaimed: Unclaimed::default(),
            awaiting_kexinit: AwaitingKexinit::default(),
            fresh_execs: VecDeque::new(),
            fanotify,
            ebpf,
            ns_per_tick: 1_000_000_000 / ticks.max(1),
            ebpf_incomplete: 0,
            ebpf_compat_execs: 0,
            compat_unseen,
            compat_followed,
            compat_tcp,
            compat_told: false,
            skipped: Skipped::default(),
            handshakes: Handshakes::default(),
            tcp_ends,
            unknown: Skipped::default(),
            audit_watch_looks,
            audit_watched,
            audit_watches_added: 0,
            audit,
            connector,
            store_tx,
            store_thread,
            store,
            jsonl,
            stdout,
            status,
            reported_losses: BTreeMap::new(),
            loss_log: LossLog::default(),
            status_unwritten: false,
            store_dropped: 0,
            suspend_offset_ns,
            boot_time_ns: boot_time_ns as i64,
            events_since_status: 0,
        })
    }

    fn run_until(&mut self, stop: &AtomicBool) {
        let mut last_status = Instant::now();
        let mut last_sweep = Instant::now();
        self.write_status(Duration::ZERO);
        while !stop.load(Ordering::SeqCst) {
            self.step(Duration::from_millis(100));
            if last_status.elapsed() >= STATUS_EVERY {
                self.watch_new_stores_by_audit();
                self.report_losses(false);
                self.write_status(last_status.elapsed());
                last_status = Instant::now();
            }
            self.look_at_open_tcp(false);
            if last_sweep.elapsed() >= SWEEP_EVERY {
                let now = procfs::boottime_ns();
                self.table.sweep(now, &LiveProc);
                self.table.reap(now);
                last_sweep = Instant::now();
            }
        }
    }

    /// With audit's file source, watches the stores the last look found that no rule watches
    /// yet (made since the start: a new user's ~/.ssh, a new browser profile). One whose
    /// directory is missing too is tried again at the next look.
    fn watch_new_stores_by_audit(&mut self) {
        let (Some(looks), Some((audit, _))) = (&self.audit_watch_looks, &self.audit) else {
            return;
        };
        let Ok(listed) = looks.try_recv() else {
            return;
        };
        let new: Vec<WatchPath> = listed
            .into_iter()
            .filter(|w| !self.audit_watched.contains(&w.path))
            .collect();
        if new.is_empty() {
            return;
        }
        let paths: Vec<&Path> = new.iter().map(|w| w.path.as_path()).collect();
        let key = warden_sources::audit::WARDEN_KEY;
        let (rules, skipped) = read_watch_rules(&paths, key, Some(std::process::id()));
        match audit.add_rules(&rules) {
            Ok(added) => self.audit_watches_added += added as u64,
            Err(e) => {
                // Said once: no more looks (audit locked, or the rule list full).
                say!(
                    "warden: cannot add audit watches for new credential stores ({e}): those \
                     made since the start stay unwatched"
                );
                self.audit_watch_looks = None;
                return;
            }
        }
        for w in new {
            if skipped.iter().all(|s| s.path != w.path) {
                use std::os::unix::ffi::OsStrExt;
                let bytes = w.path.as_os_str().as_bytes().to_vec();
                self.files.watches.push((bytes, w.label.clone()));
                self.audit_watched.insert(w.path);
            }
        }
    }

    /// Handles what the sources have ready, waiting at most `wait` for the first item.
    ///
    /// The two streams are not ordered with each other, and the audit exec of a process can
    /// arrive before or after the connector's fork and exit of it. So that the table sees
    /// fork → exec → exit for every process (and gives the exec its identity even when the
    /// process is already gone), an audit exec waits until the connector has delivered its own
    /// exec of that pid, and a connector exit waits until no exec of that pid is outstanding —
    /// each at most [`MAX_HOLD`] (generous: under heavy load the audit path can lag the connector
    /// by more than a second), so a lost event on one side never stalls the other. A process's
    /// network and file events (audit's, in order behind its exec; fanotify's, while the
    /// connector has announced an exec audit has not delivered) wait the same way, so they
    /// name the image that made them. And every such event waits until what the process
    /// source (eBPF or the connector) had when the event came is applied, bounded the same
    /// way: the fork and exec of a process that is gone by then are known.
    fn step(&mut self, wait: Duration) {
        let mut handled = 0;
        // A pass takes from the sources no more than the store's queue has room for: a burst
        // beyond the store writer's pace then waits in the sources' queues (and the kernel's)
        // rather than being dropped at the store. The last pass, at stop, takes everything.
        let mut room = if wait.is_zero() {
            usize::MAX
        } else {
            self.store_room()
        };
        // eBPF first: its records are in kernel order per process and need no holding, and a
        // process's exec must reach the table before the file and network events it causes.
        // Each queue is drained item by item through a clone of its receiver (a reference
        // count), not collected into a fresh Vec per pass: growing those Vecs was most of the
        // agent's time in malloc under load (each large request consolidates glibc's free
        // lists). A pass takes what was queued when it began, so one busy source cannot keep
        // the others waiting. How far eBPF has caught up with the kernel comes in its queue.
        if let Some(rx) = self.ebpf.as_ref().map(|(_, rx)| rx.clone()) {
            let take = rx.len().min(room);
            for record in rx.try_iter().take(take) {
                handled += 1;
                self.on_ebpf(record);
            }
            room -= take;
        }
        // The connector's queue holds forks, execs and exits only: taken whole, so what its
        // progress (read before the queue's length) vouches for is applied.
        if let Some((source, rx)) = self.connector.as_ref().map(|(s, rx)| (s, rx.clone())) {
            self.connector_caught_up = source.caught_up_to();
            for event in rx.try_iter().take(rx.len()) {
                handled += 1;
                match event {
                    ProcEvent::Exit { .. } => self.pending_exits.push_back((Instant::now(), event)),
                    ProcEvent::Exec { tgid, .. } if self.audit.is_some() => {
                        *self.connector_execs.entry(tgid).or_default() += 1;
                    }
                    _ => self.on_connector(event),
                }
            }
        }
        // What waits here for its process is on its way to the store too. (eBPF's records
        // are not held back by it: the progress they carry is what releases it.)
        room = room.saturating_sub(self.pending.len());
        if let Some(rx) = self.audit.as_ref().map(|(_, rx)| rx.clone()) {
            let take = rx.len().min(room);
            let came = Arrival::now();
            room -= take;
            for output in rx.try_iter().take(take) {
                handled += 1;
                match output {
                    AuditOutput::Exec(exec) => {
                        self.pending.push_back(came.of(Held::Exec(exec)));
                    }
                    AuditOutput::Net(net) if self.network.is_some() => {
                        self.pending.push_back(came.of(Held::Net(net)));
                    }
                    AuditOutput::File(op)
                        if self.audit_files
                            || (self.audit_attr_calls && op.call.changes_attributes())
                            || (self.audit_link_calls && op.call.makes_links()) =>
                    {
                        self.pending.push_back(came.of(Held::File(op)));
                    }
                    AuditOutput::Net(_) | AuditOutput::File(_) => {
                        self.skipped.count("audit/unwanted_view");
                    }
                    // Events of Warden's rules no view decodes: counted by the source as
                    // `exec_errors`/`view_errors`, reported with the losses.
                    AuditOutput::Event(_) => {}
                }
            }
        }
        if let Some(rx) = self.fanotify.as_ref().map(|(_, rx)| rx.clone()) {
            let take = rx.len().min(room);
            let came = Arrival::now();
            for event in rx.try_iter().take(take) {
                handled += 1;
                if event.action == FileAction::Delete
                    && (self.attr_calls || self.link_calls)
                    && !event.is_dir
                    && let (Some(device), Some(inode)) = (event.device, event.inode)
                {
                    // Noted as it comes: the link count's "attributes changed" came before
                    // it, and may be released before it is.
                    self.unlinked.insert((event.pid, device, inode), came.at);
                }
                if !self.fetched.is_empty() {
                    match event.action {
                        FileAction::CloseWrite => {
                            self.note_download(event.pid, event.inode, event.time_ns);
                        }
                        FileAction::Modify => self.note_writing(event.pid, event.inode),
                        _ => {}
                    }
                }
                self.pending
                    .push_back(came.of(Held::Fanotify(Box::new(event))));
            }
        }
        self.release_fresh_execs(wait.is_zero());
        self.release_awaiting_kexinit(wait.is_zero());
        self.release(wait.is_zero());
        self.follow_handshakes();
        handled += self.take_tcp_ends(wait.is_zero());
        if handled == 0 && room == 0 {
            // The store is behind: wait for its writer, briefly. A pass after the usual pause
            // would leave the pipeline idle while the sources' queues fill.
            std::thread::sleep(STORE_WAIT);
        } else if handled == 0 {
            let mut select = crossbeam_channel::Select::new();
            if let Some((_, rx)) = &self.ebpf {
                select.recv(rx);
            }
            if let Some((_, rx)) = &self.fanotify {
                select.recv(rx);
            }
            if let Some((_, rx)) = &self.connector {
                select.recv(rx);
            }
            if let Some((_, rx)) = &self.audit {
                select.recv(rx);
            }
            if let Some(diag) = &self.tcp_ends {
                select.recv(&diag.rx);
            }
            let wait = if self.pending_exits.is_empty() && self.pending.is_empty() {
                wait
            } else {
                wait.min(EXIT_HOLD)
            };
            let wait = match self.fresh_execs.front() {
                Some((due, _, _)) => wait.min(due.saturating_duration_since(Instant::now())),
                None => wait,
            };
            let wait = match self.handshakes.next_due() {
                Some(due) => wait.min(due.saturating_duration_since(Instant::now())),
                None => wait,
            };
            let wait = match self.awaiting_kexinit.next_due() {
                Some(due) => wait.min(due.saturating_duration_since(Instant::now())),
                None => wait,
            };
            if select.ready_timeout(wait).is_ok() {
                // Something arrived: let more gather so a busy host costs one pass per few
                // milliseconds, not one per event.
                std::thread::sleep(COALESCE);
            }
        }
    }

    /// The UTC time of a connector timestamp (monotonic ns since boot).
    fn utc_of(&self, monotonic_ns: u64) -> i64 {
        self.boot_time_ns + (monotonic_ns + self.suspend_offset_ns) as i64
    }

    /// Applies the held audit events and connector exits that may go now (all when `all`).
    fn release(&mut self, all: bool) {
        let connector_active = self.connector.is_some();
        // In arrival order per pid. An exec is ready once the connector has shown the same
        // exec (so its fork is in the table), or when it failed (no connector exec follows);
        // the process's later events wait behind it, so they name the new image.
        let mut blocked = std::collections::HashSet::new();
        let mut keep = std::collections::VecDeque::new();
        let processes_caught_up = self.processes_caught_up();
        // Each held event makes one event at most: the queue's room is read again only when
        // this count runs out.
        let mut store_room = self.store_room();
        // One clock read per pass, not one per held event (`perf`: 6 % of a file storm's CPU
        // went to reading the clock).
        let now = Instant::now();
        while let Some(waiting) = self.pending.pop_front() {
            if store_room == 0 && !all {
                store_room = self.store_room();
            }
            if store_room == 0 && !all {
                // Held until the writer has room, in order: dropped at the store it would be
                // lost, and the sources' queues are the place to wait.
                keep.push_back(waiting);
                keep.extend(self.pending.drain(..));
                break;
            }
            store_room = store_room.saturating_sub(1);
            let Waiting {
                since, since_ns, ..
            } = waiting;
            let pid = waiting.held.pid();
            let expired = all || now.saturating_duration_since(since) >= MAX_HOLD;
            // The sources are read by threads of their own, at their own pace (fanotify's
            // queue every 5 ms, eBPF's ring every 25): an event of a process waits until the
            // process source has passed on all it had before the event came, so the process's
            // fork and exec are known. Else a process that changed a file and exited at once
            // (cp, mv, rm in a script) would be named by its pid alone (its /proc entry is gone
            // by then), or by the image it forked from.
            let processes_behind = !expired && processes_caught_up.is_some_and(|at| at < since_ns);
            match waiting.held {
                Held::Exec(exec) => {
                    let seen = self.connector_execs.get(&pid).copied().unwrap_or(0) > 0;
                    let ready = expired || !connector_active || seen || exec.success == Some(false);
                    if ready && !blocked.contains(&pid) {
                        if seen && exec.success != Some(false) {
                            self.take_connector_exec(pid);
                        }
                        self.on_audit_exec(*exec);
                    } else {
                        blocked.insert(pid);
                        keep.push_back(Waiting {
                            held: Held::Exec(exec),
                            ..waiting
                        });
                    }
                }
                Held::Net(_) | Held::File(_)
                    if processes_behind || (!expired && blocked.contains(&pid)) =>
                {
                    keep.push_back(waiting);
                }
                Held::Net(net) => {
                    // Its handshake's end, when the first look saw it: one more event.
                    let results = self.on_audit_net(&net);
                    store_room = store_room.saturating_sub(results);
                }
                Held::File(op) => self.on_audit_file(&op),
                // fanotify is read sooner than audit assembles an exec: a process's file events
                // wait while the connector has announced an exec audit has not delivered yet,
                // so they name the new image. They block nothing themselves.
                Held::Fanotify(_)
                    if processes_behind
                        || (!expired
                            && (blocked.contains(&pid)
                                || self.connector_execs.contains_key(&pid))) =>
                {
                    keep.push_back(waiting);
                }
                // "Attributes changed" waits for the eBPF (or audit) record of a chmod or chown
                // that made it, which travels another queue.
                Held::Fanotify(ref ev)
                    if ev.action == FileAction::Attrib
                        && self.attr_calls
                        && !all
                        && now.saturating_duration_since(since) < ATTR_HOLD =>
                {
                    keep.push_back(waiting);
                }
                // So does a hard link's or a symlink's creation for audit's record of its call
                // (eBPF's come in order: `processes_behind`). A new file with one link, the
                // usual creation, does not wait.
                Held::Fanotify(ref ev)
                    if self.audit_link_calls
                        && !all
                        && now.saturating_duration_since(since) < ATTR_HOLD
                        && (ev.action == FileAction::Symlink
                            || (ev.action == FileAction::Create
                                && !ev.is_dir
                                && ev.links > Some(1))) =>
                {
                    keep.push_back(waiting);
                }
                Held::Fanotify(ev) => self.on_fanotify(*ev),
            }
        }
        self.pending = keep;
        // Exits: after every exec of the same pid that either stream has announced.
        let mut keep = std::collections::VecDeque::new();
        while let Some((received, event)) = self.pending_exits.pop_front() {
            let pid = match &event {
                ProcEvent::Exit { tgid, .. } => *tgid,
                _ => 0,
            };
            let outstanding = blocked.contains(&pid) || self.connector_execs.contains_key(&pid);
            let waited = now.saturating_duration_since(received);
            if all || waited >= MAX_HOLD || (waited >= EXIT_HOLD && !outstanding) {
                // An exec the connector announced but audit never delivered is given up on.
                self.connector_execs.remove(&pid);
                self.on_connector(event);
            } else {
                keep.push_back((received, event));
            }
        }
        self.pending_exits = keep;
    }

    /// When the process holding `pid` exited (boot-time ns), by the connector's exit still
    /// held back for audit's exec; None when none is held.
    fn held_exit_of(&self, pid: u32) -> Option<u64> {
        self.pending_exits
            .iter()
            .find_map(|(_, event)| match event {
                ProcEvent::Exit {
                    header,
                    tgid,
                    pid: thread,
                    ..
                } if *tgid == pid && *thread == pid => {
                    Some(header.timestamp_ns + self.suspend_offset_ns)
                }
                _ => None,
            })
    }

    /// How many more events the store's queue takes now (no limit without a store).
    fn store_room(&self) -> usize {
        self.store_tx.as_ref().map_or(usize::MAX, |tx| tx.room())
    }

    /// The instant (`CLOCK_BOOTTIME` ns) before which every fork and exec the process sources
    /// (eBPF, or the connector) saw has been applied; None without either.
    fn processes_caught_up(&self) -> Option<u64> {
        [
            self.ebpf.as_ref().map(|_| self.ebpf_caught_up),
            self.connector.as_ref().map(|_| self.connector_caught_up),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn take_connector_exec(&mut self, pid: u32) {
        if let Some(n) = self.connector_execs.get_mut(&pid) {
            *n -= 1;
            if *n == 0 {
                self.connector_execs.remove(&pid);
            }
        }
    }

    fn on_connector(&mut self, event: ProcEvent) {
        match event {
            ProcEvent::Fork {
                header,
                parent_tgid,
                child_tgid,
                ..
            } => {
                // Only its start time: one file, not the six a whole /proc read takes.
                let child_start_ticks = procfs::start_ticks(child_tgid);
                self.on_fork_fact(&ForkFact {
                    parent_pid: parent_tgid,
                    child_pid: child_tgid,
                    child_start_ticks,
                    boot_ns: header.timestamp_ns + self.suspend_offset_ns,
                    time_ns: self.utc_of(header.timestamp_ns),
                });
            }
            ProcEvent::Exec { tgid, .. } => {
                // With audit active its exec record is authoritative (complete argv even for a
                // process gone in a millisecond); the connector's exec only matters without it.
                if self.audit.is_some() {
                    return;
                }
                let Ok(p) = procfs::read_process(tgid) else {
                    return;
                };
                let fact = ExecFact {
                    pid: p.pid,
                    ppid: Some(p.ppid),
                    start_ticks: Some(p.start_ticks),
                    time_ns: now_ns(),
                    uid: Some(p.uid),
                    euid: Some(p.euid),
                    gid: Some(p.gid),
                    egid: Some(p.egid),
                    auid: None,
                    session: u32::try_from(p.session).ok(),
                    tty: None,
                    comm: Some(String::from_utf8_lossy(&p.comm).into_owned()),
                    exe: p.exe,
                    args: p.cmdline.into(),
                    cwd: p.cwd,
                    success: true,
                    syscall: None,
                    exit: None,
                };
                self.on_exec_fact(&fact, Source::ProcConnector, ExecHints::default(), None);
            }
            ProcEvent::Exit {
                header, tgid, pid, ..
            } => {
                if pid != tgid {
                    return;
                }
                let (exit_code, signal) = match event_exit_status(&event) {
                    Some(ExitStatus::Exited(code)) => (Some(code), None),
                    Some(ExitStatus::Signaled { signal, .. }) => (None, Some(signal)),
                    None => (None, None),
                };
                self.on_exit_fact(&ExitFact {
                    pid: tgid,
                    start_ticks: None,
                    exit_code,
                    signal,
                    boot_ns: header.timestamp_ns + self.suspend_offset_ns,
                    time_ns: self.utc_of(header.timestamp_ns),
                });
            }
        }
    }

    fn on_ebpf(&mut self, record: Record) {
        match record {
            Record::Fork(f) => self.on_fork_fact(&ForkFact {
                parent_pid: f.parent_pid,
                child_pid: f.pid,
                child_start_ticks: Some(f.start_ns / self.ns_per_tick),
                boot_ns: f.boot_ns,
                time_ns: self.boot_time_ns + f.boot_ns as i64,
            }),
            Record::Exec(mut exec) => {
                if exec.ret == 0 && exec.flags.has(ExecFlags::COMPAT) {
                    self.on_compat_exec(&exec);
                }
                let image = exec.image.take();
                let script = exec.script.take();
                let hints = ExecHints {
                    exe_version: exec.exe_version,
                    cgroup_id: exec.cgroup_id,
                    image: image.as_ref().map(HeldFile::file),
                };
                let fact = self.exec_fact_of(*exec);
                self.on_exec_fact(
                    &fact,
                    Source::Ebpf,
                    hints,
                    script.as_deref().map(Named::Script),
                );
            }
            Record::Exit(x) => self.on_exit_fact(&ExitFact {
                pid: x.pid,
                start_ticks: Some(x.start_ns / self.ns_per_tick),
                exit_code: x.exit_code(),
                signal: x.signal(),
                boot_ns: x.boot_ns,
                time_ns: self.boot_time_ns + x.boot_ns as i64,
            }),
            Record::Attr(call) => self.on_attr_call(&call),
            Record::File(file) => self.on_file_record(&file),
            Record::Net(net) => self.on_net_record(&net),
            // The reader gives each to its exec's record.
            Record::Script(_) => {}
            Record::CaughtUp(at) => self.ebpf_caught_up = at,
        }
    }

    /// A network call from eBPF, read as it returned in the calling process.
    fn on_net_record(&mut self, record: &NetRecord) {
        let Some(policy) = self.network.clone() else {
            return;
        };
        // A request received before any process took its connection waits for the accept
        // that does, which comes after it.
        if record.unclaimed {
            let socket = record.socket.as_ref();
            let Some(ends) = unclaimed::ends(
                socket.and_then(|s| s.local.as_ref()),
                socket.and_then(|s| s.remote.as_ref()),
            ) else {
                return self.skipped.count("network/request_received_without_ends");
            };
            let let_go = self.unclaimed.hold(ends, record.boot_ns, record.clone());
            return self.count_unclaimed(let_go);
        }
        // An SSH client's KEXINIT (or, an answer, a server's), recorded after its
        // identification: the HASSH that identification's event waits for.
        let side = if record.answer {
            ssh::Side::Server
        } else {
            ssh::Side::Client
        };
        if let Some(captured) = &record.opening
            && quic_initial(record).is_none()
            && let Some(algorithms) = ssh::kexinit_algorithms(&captured.bytes, side)
        {
            return match self
                .awaiting_kexinit
                .complete((record.pid, captured.socket, side))
            {
                Some((mut event, time_ns)) => {
                    if let Some(hello) = event.ssh.as_deref_mut() {
                        hello.hassh = Some(ssh::hassh(&algorithms));
                        hello.hassh_algorithms = Some(algorithms);
                        hello.cut = false;
                    }
                    self.emit(EventKind::Network(event), time_ns);
                }
                None => self.skipped.count("network/ssh_kexinit_alone"),
            };
        }
        // A QUIC client's hello may take two Initials: it is read once it is whole (before
        // anything else is looked up for the datagrams that make no event).
        let quic_hello = match quic_initial(record) {
            Some(datagram) => {
                match self.quic_hellos.add(
                    record.pid,
                    record.start_ns,
                    record.boot_ns,
                    &datagram.bytes,
                ) {
                    Assembled::Hello(hello) => Some(hello),
                    Assembled::Partial => return self.skipped.count("network/quic_hello_partial"),
                    Assembled::Again => return self.skipped.count("network/quic_hello_again"),
                    Assembled::NotAHello => {
                        return self.skipped.count("network/opening_not_a_request");
                    }
                }
            }
            None => None,
        };
        let process = if record.outcome || record.traffic.is_some() {
            // Its connect's (or accept's) process, which may have exited since (and its pid
            // been reused).
            self.subject_started(record.pid, record.start_ns)
        } else {
            self.subject(record.pid)
        };
        let event = match quic_hello {
            Some(hello) => {
                ebpf_network_event_opened(record, Some(Opening::Tls(hello)), process, &policy)
            }
            None => ebpf_network_event(record, process, &policy),
        };
        match event {
            Ok(mut event) => {
                self.enricher.names(&mut event.process);
                // What it fetched: the origin of the files it writes next (not what a client
                // asked of it).
                if let (Some(url), Some(process), false) = (
                    event.request_url(),
                    event.process.key,
                    event.action.is_received_request(),
                ) {
                    self.fetched.requested(process, url);
                }
                // A process's DNS answer names the addresses it resolved; a connection (and
                // its end, and a datagram) to one of them then carries the name.
                match (&event.dns, event.action) {
                    (Some(answer), NetAction::DnsAnswer) => {
                        self.resolved
                            .note(record.pid, record.start_ns, answer, record.boot_ns);
                    }
                    // A request received names this host, not its client.
                    (None, action) if action.is_received_request() => {}
                    (None, _) => {
                        // A connection's end and looks carry the name its first bytes asked
                        // for, where they did: that connection's own, not its address's.
                        let asked = match (&event.local, &event.remote) {
                            (Some(local), Some(remote)) => match event.requested_name() {
                                Some(name) => {
                                    let name = name.to_owned();
                                    self.asked.note(
                                        record.pid,
                                        record.start_ns,
                                        local,
                                        remote,
                                        &name,
                                    );
                                    None
                                }
                                // A connection's answer too: the server it asked for.
                                None if event.traffic.is_some() || event.action.is_answer() => {
                                    self.asked.name_of(
                                        record.pid,
                                        record.start_ns,
                                        local,
                                        remote,
                                        event.action == NetAction::Close,
                                    )
                                }
                                None => None,
                            },
                            _ => None,
                        };
                        event.remote_name = asked.or_else(|| {
                            let ip = event.remote.as_ref().and_then(SocketAddress::ip)?;
                            self.resolved
                                .name_of(record.pid, record.start_ns, ip, record.boot_ns)
                                .map(str::to_owned)
                        });
                    }
                    _ => {}
                }
                let accepted = event.action == NetAction::Accept && event.success;
                let time_ns = self.boot_time_ns + record.boot_ns as i64;
                // An SSH client's identification without its KEXINIT waits for it, a while.
                if let (Some(hello), Some(captured)) = (&event.ssh, &record.opening)
                    && hello.hassh.is_none()
                {
                    let key = (record.pid, captured.socket, side);
                    let due = Instant::now() + KEXINIT_WAIT;
                    if let Some((event, time_ns)) =
                        self.awaiting_kexinit.hold(key, due, (event, time_ns))
                    {
                        self.emit(EventKind::Network(event), time_ns);
                    }
                    return;
                }
                self.emit(EventKind::Network(event), time_ns);
                if accepted {
                    self.claim_requests(record);
                }
            }
            Err(reason) => self.skipped.count(reason),
        }
    }

    /// The requests received on the connection that `accept` took before it did: each
    /// recorded now, for the accepting process, with the connection's fd.
    fn claim_requests(&mut self, accept: &NetRecord) {
        let socket = accept.socket.as_ref();
        let Some(ends) = unclaimed::ends(
            socket.and_then(|s| s.local.as_ref()),
            socket.and_then(|s| s.remote.as_ref()),
        ) else {
            return;
        };
        let (requests, let_go) = self.unclaimed.claim(ends, accept.boot_ns);
        self.count_unclaimed(let_go);
        for mut request in requests {
            request.unclaimed = false;
            request.pid = accept.pid;
            request.start_ns = accept.start_ns;
            // (An io_uring accept's result may be a fixed slot's index.)
            request.fd = if accept.io_uring { -1 } else { accept.ret };
            self.on_net_record(&request);
        }
    }

    /// Counts `let_go` requests received that no accept claimed in time.
    fn count_unclaimed(&mut self, let_go: usize) {
        for _ in 0..let_go {
            self.skipped.count("network/request_received_unclaimed");
        }
    }

    /// A 32-bit process started: its calls are compat syscalls, which pass none of the
    /// syscall tracepoints. Its network calls are followed by the compat program where it
    /// runs (from the moment its exec is read); calls no program sees are counted (`warden
    /// status`). The first such process is said in the log, with the remedy.
    fn on_compat_exec(&mut self, exec: &ExecRecord) {
        if self.compat_unseen.is_some() {
            self.ebpf_compat_execs += 1;
        }
        if self.compat_told || (self.compat_unseen.is_none() && self.compat_followed.is_none()) {
            return;
        }
        self.compat_told = true;
        let exe = String::from_utf8_lossy(exec.exe.as_deref().unwrap_or(b"?"));
        if let Some(calls) = self.compat_followed {
            say!(
                "warden: a 32-bit program runs (pid {}, {exe}): its {calls} calls are followed \
                 by programs at every syscall while 32-bit processes run, from when its exec is \
                 read",
                exec.pid
            );
        }
        if let Some(calls) = self.compat_unseen {
            let but = if self.compat_tcp && calls != "file" {
                " (but for their TCP connects and listens, seen at the sockets' change of state)"
            } else {
                ""
            };
            say!(
                "warden: a 32-bit program runs (pid {}, {exe}): its {calls} calls are compat \
                 syscalls, which the eBPF programs do not see{but} (network.source = \"audit\" \
                 and files.source = \"fanotify\" do); counted in `warden status` as \
                 ebpf/compat_process_calls_unseen",
                exec.pid
            );
        }
    }

    /// A file change from eBPF, read at the call in the acting process.
    fn on_file_record(&mut self, record: &FileRecord) {
        if let Some(reason) = self.files.skip_path(record.pid, &record.path) {
            self.skipped.count(reason);
            return;
        }
        let process = self.subject(record.pid);
        match ebpf_file_event(record, process, &self.files) {
            Ok(mut event) => {
                self.enricher.names(&mut event.process);
                if event.action == FileAction::CloseWrite && !self.fetched.is_empty() {
                    let closed_ns = self.boot_time_ns + record.boot_ns as i64;
                    self.note_download(record.pid, event.inode, closed_ns);
                }
                if self.link_calls && event.success && record.op.links_or_truncates() {
                    self.tell_call(
                        record.pid,
                        event.action,
                        &event.path,
                        event.target_path.as_deref(),
                    );
                }
                self.emit(
                    EventKind::File(event),
                    self.boot_time_ns + record.boot_ns as i64,
                );
            }
            Err(reason) => self.skipped.count(reason),
        }
    }

    /// What fanotify will say of a call eBPF or audit reported beside it, so that it is not
    /// recorded twice: a chmod's or chown's "attributes changed", a link's new name "created"
    /// (and its file's "attributes changed", the link count, named by either of its names), a
    /// symlink "created", a truncated file "modified".
    fn tell_call(&mut self, pid: u32, action: FileAction, path: &[u8], other: Option<&[u8]>) {
        let now = Instant::now();
        let mut tell = |path: &[u8], said: FileAction| {
            self.told_changes.insert((pid, path.to_vec(), said), now);
        };
        match action {
            FileAction::Chmod | FileAction::Chown | FileAction::Times => {
                tell(path, FileAction::Attrib)
            }
            FileAction::Link => {
                tell(path, FileAction::Create);
                tell(path, FileAction::Attrib);
                if let Some(existing) = other {
                    tell(existing, FileAction::Attrib);
                }
            }
            FileAction::Symlink => tell(path, FileAction::Create),
            FileAction::Truncate => tell(path, FileAction::Modify),
            _ => {}
        }
    }

    /// Whether fanotify's `ev` is a change already recorded from its call (a chmod's or
    /// chown's "attributes changed", a link's "created", a truncate's "modified"); the reason
    /// it is left out. A creation or modification is told once (the kernel merges repeats of
    /// an unread event into one); "attributes changed" for as long as the call is remembered.
    fn told_by_call(&mut self, ev: &FanotifyEvent) -> Option<&'static str> {
        let (said, reason) = match ev.action {
            FileAction::Attrib if self.attr_calls || self.link_calls => {
                (FileAction::Attrib, "file/attrib_told_by_call")
            }
            FileAction::Create | FileAction::Symlink if self.link_calls => {
                (FileAction::Create, "file/create_told_by_call")
            }
            FileAction::Modify if self.link_calls => {
                (FileAction::Modify, "file/modify_told_by_call")
            }
            _ => return None,
        };
        let fresh = |at: &Instant| at.elapsed() < TOLD_FOR;
        if said == FileAction::Attrib
            && let (Some(device), Some(inode)) = (ev.device, ev.inode)
            && self
                .unlinked
                .get(&(ev.pid, device, inode))
                .is_some_and(fresh)
        {
            return Some("file/attrib_of_link_count");
        }
        if self.told_changes.is_empty() {
            // The usual case, and a file storm's every creation and modification: no call told
            // of lately, no key to build.
            return None;
        }
        let key = (ev.pid, ev.path.clone(), said);
        let told = if said == FileAction::Attrib {
            self.told_changes.get(&key).is_some_and(fresh)
        } else {
            self.told_changes.remove(&key).as_ref().is_some_and(fresh)
        };
        told.then_some(reason)
    }

    /// A chmod or chown from eBPF: a file event of its own; fanotify's "attributes changed"
    /// for the same process and file is then left out (`release` holds those briefly for it).
    fn on_attr_call(&mut self, call: &AttrRecord) {
        if let Some(reason) = self.files.skip_path(call.pid, &call.path) {
            self.skipped.count(reason);
            return;
        }
        let process = self.subject(call.pid);
        match attr_file_event(call, process, &self.files) {
            Ok(mut event) => {
                self.enricher.names(&mut event.process);
                if event.success {
                    self.tell_call(call.pid, event.action, &event.path, None);
                }
                self.emit(
                    EventKind::File(event),
                    self.boot_time_ns + call.boot_ns as i64,
                );
            }
            Err(reason) => self.skipped.count(reason),
        }
    }

    /// The exec as the table takes it. What the program could not read whole (argv beyond
    /// 16 KiB, very deep paths) is completed from /proc while the process still runs the same
    /// image; otherwise it stays cut, and is counted.
    fn exec_fact_of(&mut self, e: ExecRecord) -> ExecFact {
        let start_ticks = e.start_ns / self.ns_per_tick;
        let mut fact = ExecFact {
            pid: e.pid,
            ppid: Some(e.ppid),
            start_ticks: Some(start_ticks),
            time_ns: self.boot_time_ns + e.boot_ns as i64,
            uid: Some(e.uid),
            euid: Some(e.euid),
            gid: Some(e.gid),
            egid: Some(e.egid),
            auid: e.loginuid,
            session: e.sessionid,
            tty: e.tty,
            comm: Some(String::from_utf8_lossy(&e.comm).into_owned()),
            exe: e.exe,
            args: e.args.into(),
            cwd: Some(e.cwd),
            success: e.ret == 0,
            syscall: None,
            exit: Some(i64::from(e.ret)),
        };
        let cut = ExecFlags::ARGS_TRUNCATED
            | ExecFlags::ARGS_UNREADABLE
            | ExecFlags::EXE_TRUNCATED
            | ExecFlags::CWD_TRUNCATED;
        if e.flags.0 & cut != 0 {
            // The same process (start time) still running the same image (exe, when ours is
            // whole): /proc then shows what the exec received. A failed exec left no image to
            // read it from.
            let exe_whole = !e.flags.has(ExecFlags::EXE_TRUNCATED);
            let proc = (e.ret == 0)
                .then(|| procfs::read_process(e.pid).ok())
                .flatten();
            match proc {
                Some(p) if p.start_ticks == start_ticks && (!exe_whole || p.exe == fact.exe) => {
                    fact.args = p.cmdline.into();
                    fact.exe = p.exe.or(fact.exe);
                    fact.cwd = p.cwd.or(fact.cwd);
                }
                _ => self.ebpf_incomplete += 1,
            }
        }
        fact
    }

    fn on_audit_exec(&mut self, exec: AuditExec) {
        let time_ns = exec.id.time.secs as i64 * 1_000_000_000 + i64::from(exec.id.time.nanos);
        // No start time from /proc here: by now the pid may belong to a newer process. The
        // table knows this one from its fork (the exec waited for it) and asks /proc itself
        // only for a pid it has never seen.
        let comm = exec.subject.comm_text();
        let named = exec
            .named()
            .map(|(path, inode)| Named::File { path, inode });
        let asked = exec.asked();
        let fact = ExecFact {
            pid: exec.subject.pid,
            ppid: Some(exec.subject.ppid),
            start_ticks: None,
            time_ns,
            uid: Some(exec.subject.uid),
            euid: Some(exec.subject.euid),
            gid: Some(exec.subject.gid),
            egid: Some(exec.subject.egid),
            auid: exec.subject.auid,
            session: exec.subject.ses,
            tty: exec.subject.tty,
            comm,
            // A failed exec is of the program asked for, as eBPF's are: exe= is the image of
            // the process that asked (describing it would hash that image for every failed
            // lookup along PATH).
            exe: match exec.success {
                Some(false) => asked,
                _ => exec.subject.exe,
            },
            args: exec.argv.into(),
            cwd: exec.cwd,
            success: exec.success.unwrap_or(true),
            syscall: Some(format!("{:?}", exec.call).to_lowercase()),
            exit: exec.exit,
        };
        self.on_exec_fact(&fact, Source::Audit, ExecHints::default(), named);
    }

    /// A file change from audit rules; beside fanotify, a chmod or chown (as
    /// [`Agent::on_attr_call`] for eBPF's).
    fn on_audit_file(&mut self, op: &FileOp) {
        let process = self.subject(op.subject.pid);
        match audit_file_event(op, process, &self.files) {
            Ok(mut event) => {
                self.enricher.names(&mut event.process);
                // Beside fanotify: a chmod, chown, link or symlink it will report too.
                if !self.audit_files && event.success {
                    self.tell_call(
                        op.subject.pid,
                        event.action,
                        &event.path,
                        event.target_path.as_deref(),
                    );
                }
                let time_ns = op.id.time.secs as i64 * 1_000_000_000 + i64::from(op.id.time.nanos);
                self.emit(EventKind::File(event), time_ns);
            }
            Err(reason) => self.skipped.count(reason),
        }
    }

    fn on_fanotify(&mut self, mut ev: FanotifyEvent) {
        if ev.pid == 0 {
            // A process outside the agent's pid namespace: nothing to attribute it to.
            self.skipped.count("file/foreign_pid");
            return;
        }
        // Cheap checks first: most of a busy host's changes are excluded paths.
        if let Some(reason) = self.files.skip_path(ev.pid, &ev.path) {
            self.skipped.count(reason);
            return;
        }
        if let Some(reason) = self.told_by_call(&ev) {
            self.skipped.count(reason);
            return;
        }
        // fanotify stamps no time: the event's is when it was read, up to a few milliseconds
        // late. A process changes nothing after its exit, so that bounds it: a script's cp,
        // chmod, mv then keep their order. (The connector's exit may still wait for audit's
        // exec, outside the table.)
        let exited_at = self
            .table
            .exited_at(ev.pid)
            .or_else(|| self.held_exit_of(ev.pid));
        let time_ns = match exited_at {
            Some(exit_ns) => ev.time_ns.min(self.boot_time_ns + exit_ns as i64),
            None => ev.time_ns,
        };
        let process = self.subject(ev.pid);
        let written = ev.written.take();
        match fanotify_file_event(ev, process, &self.files) {
            Ok(mut event) => {
                self.enricher.names(&mut event.process);
                self.emit_written(EventKind::File(event), time_ns, written.as_ref());
            }
            Err(reason) => self.skipped.count(reason),
        }
    }

    /// The process an operation of `pid` is about, as activity events show it (no argv: its
    /// exec event has it): the table's, or /proc's if the table has never seen it (it then
    /// joins the table).
    fn subject(&mut self, pid: u32) -> warden_core::Process {
        if let Some(process) = self.table.subject(pid) {
            return process;
        }
        if self.table.lookup(pid, &LiveProc).is_some()
            && let Some(process) = self.table.subject(pid)
        {
            return process;
        }
        warden_core::Process {
            pid,
            ..Default::default()
        }
    }

    /// The process that held `pid` and started at `start_ns` (boot time), even if it has
    /// exited and the pid was reused since (until the table reaps it); only its pid when
    /// neither the table nor /proc knows it any more.
    fn subject_started(&mut self, pid: u32, start_ns: u64) -> warden_core::Process {
        let start_ticks = start_ns / self.ns_per_tick;
        if let Some(process) = self.table.subject_started(pid, start_ticks) {
            return process;
        }
        let now = self.subject(pid);
        if now.key.is_some_and(|key| key.start_ticks == start_ticks) {
            return now;
        }
        warden_core::Process {
            pid,
            ..Default::default()
        }
    }

    /// Records an audit network call; a non-blocking connect under way is followed to the end
    /// of its handshake, from the first look the audit reader took at its socket. Returns the
    /// results recorded beside it (0 or 1).
    fn on_audit_net(&mut self, net: &NetEvent) -> usize {
        let Some(policy) = self.network.clone() else {
            return 0;
        };
        let mut results = 0;
        let process = self.subject(net.subject.pid);
        match network_event(net, process, &policy) {
            Ok(mut event) => {
                self.enricher.names(&mut event.process);
                let time_ns =
                    net.id.time.secs as i64 * 1_000_000_000 + i64::from(net.id.time.nanos);
                // A non-blocking connect under way: audit will say no more of it.
                let seen = first_look(net);
                let follow = seen
                    .as_ref()
                    .zip(event.fd.and_then(|fd| i32::try_from(fd).ok()))
                    .map(|(seen, fd)| {
                        Follow::new(net.subject.pid, fd, event.clone(), time_ns, seen.at)
                    });
                // Its connection, for its end: by its socket's cookie, else (the socket gone as
                // its records were read) by its ends.
                let ended = match (&mut self.tcp_ends, net.cookie) {
                    (Some(diag), Some(cookie)) => {
                        diag.ends.note(cookie, &event, time_ns, Instant::now())
                    }
                    (Some(diag), None) if may_be_a_tcp_connection(&event) => {
                        diag.ends.note_by_ends(&event, time_ns, Instant::now())
                    }
                    _ => None,
                };
                self.emit(EventKind::Network(event), time_ns);
                if let Some(end) = ended {
                    self.emit(EventKind::Network(end), now_ns());
                    results += 1;
                }
                if let Some(follow) = follow {
                    let (reason, settled) = self.handshakes.follow(follow, seen);
                    if let Some(reason) = reason {
                        self.unknown.count(reason);
                    }
                    results = self.on_settled(settled);
                }
            }
            Err(reason) => self.skipped.count(reason),
        }
        results
    }

    /// Records what a look at a followed connect's socket found; returns the results recorded.
    fn on_settled(&mut self, settled: Option<(Settled, i64)>) -> usize {
        match settled {
            Some((Settled::Result(result), time_ns)) => {
                self.emit(EventKind::Network(*result), time_ns);
                1
            }
            Some((Settled::Unknown(reason), _)) => {
                self.unknown.count(reason);
                0
            }
            Some((Settled::Again, _)) | None => 0,
        }
    }

    /// With audit's TCP ends: notes the TCP connections already open, for the first process
    /// found holding each, so that their ends and the looks at them are recorded (marked found
    /// open), as eBPF does with its own search. Which side accepted is told by the port: one a
    /// listener holds. Returns how many sockets, or why none.
    fn adopt_open_tcp_connections(&mut self) -> std::io::Result<usize> {
        if self.tcp_ends.is_none() {
            return Ok(0);
        }
        let open = tcp_diag::open_tcp_sockets()?;
        let listening: std::collections::HashSet<(std::net::IpAddr, u16)> =
            tcp_diag::tcp_listeners()?
                .sockets
                .iter()
                .map(|l| (l.local.ip(), l.local.port()))
                .collect();
        let inodes = open.sockets.iter().map(|s| s.inode).collect();
        let holders = socket_holders(&inodes, std::process::id());
        let time_ns = now_ns();
        let mut adopted = 0;
        for socket in &open.sockets {
            let Some(&(pid, fd)) = holders.get(&socket.inode) else {
                continue;
            };
            let accepted = tcp_ends::accepted_by_listener(&listening, socket.local);
            let connection = tcp_ends::found_connection(self.subject(pid), socket, fd, accepted);
            if let Some(diag) = &mut self.tcp_ends {
                diag.ends
                    .note_found_open(socket.cookie, &connection, time_ns);
                adopted += 1;
            }
        }
        Ok(adopted)
    }

    /// [`Self::adopt_open_tcp_connections`], told in the sock_diag source's status.
    fn adopt_open_tcp_connections_said(&mut self) {
        if self.tcp_ends.is_none() {
            return;
        }
        let began = Instant::now();
        let told = match self.adopt_open_tcp_connections() {
            Ok(found) => format!(
                " (also of the {found} found open at the start, in {} ms)",
                began.elapsed().as_millis()
            ),
            Err(e) => format!(" (not of those open at the start: {e})"),
        };
        if let Some(source) = self
            .status
            .sources
            .iter_mut()
            .find(|s| s.name == "sock_diag")
        {
            source.detail.push_str(&told);
        }
    }

    /// Records the ends of audit's TCP connections whose sockets the kernel destroyed since,
    /// as many as the store's queue has room for (`all`: every one, at the stop; the rest
    /// wait, then in the kernel's buffer); returns how many sockets were taken.
    fn take_tcp_ends(&mut self, all: bool) -> usize {
        // The calls first: a storm's ends (an event each) must not hold up audit's records of
        // the calls themselves, which its queue would drop. While audit's queue is backed up,
        // the ends wait (then in the kernel's buffer, whose overflow is counted).
        let audit_backlog = self.audit.as_ref().map_or(0, |(_, rx)| rx.len());
        let room = match all {
            true => usize::MAX,
            false if audit_backlog > AUDIT_QUEUE / 16 => 0,
            false => self.store_room().min(ENDS_PER_PASS),
        };
        let Some(diag) = &mut self.tcp_ends else {
            return 0;
        };
        diag.ends.expire(Instant::now());
        while diag.waiting.len() < room {
            let Ok(described) = diag.rx.try_recv() else {
                break;
            };
            diag.waiting.extend(described.sockets);
        }
        let take = diag.waiting.len().min(room);
        let (now, time_ns) = (Instant::now(), now_ns());
        let ended: Vec<_> = (diag.waiting.drain(..take))
            .filter_map(|socket| diag.ends.destroyed(socket, time_ns, now))
            .collect();
        for end in ended {
            self.emit(EventKind::Network(end), time_ns);
        }
        take
    }

    /// Records the traffic so far of audit's TCP connections still open (`traffic` events):
    /// when due, or (`now`) at once, as the agent stops.
    fn look_at_open_tcp(&mut self, now: bool) {
        let Some(diag) = &mut self.tcp_ends else {
            return;
        };
        if !now && !diag.look_due() {
            return;
        }
        let time_ns = now_ns();
        match diag.look(time_ns) {
            Ok(looks) => {
                for look in looks {
                    self.emit(EventKind::Network(look), time_ns);
                }
            }
            Err(e) => {
                diag.losses.read_errors.fetch_add(1, Ordering::Relaxed);
                say!("warden: looking at open TCP sockets: {e}");
            }
        }
    }

    /// Looks again at the sockets of the followed connects that are due, as many as the store's
    /// queue has room for, and records the handshakes that ended: at their end when the
    /// socket dates it, else at the look, when they were known to have.
    fn follow_handshakes(&mut self) {
        let now = Instant::now();
        for follow in self.handshakes.take_due(now, self.store_room()) {
            let seen = look_at_handshake(follow.pid, follow.fd, follow.connect.remote.as_ref());
            let settled = self.handshakes.settle(follow, seen);
            self.on_settled(Some(settled));
        }
    }

    /// A fork from either process source: the parent is looked up in /proc if the table has
    /// never seen it, so the child names it. The table follows every fork, recorded or not.
    fn on_fork_fact(&mut self, fact: &ForkFact) {
        if self.table.get(fact.parent_pid).is_none() {
            self.table.lookup(fact.parent_pid, &LiveProc);
        }
        if let Some(mut fork) = self.table.on_fork(fact)
            && self.config.events.forks_and_exits
        {
            self.enricher.names(&mut fork.child);
            self.emit(EventKind::Fork(fork), fact.time_ns);
        }
    }

    /// An exit from either process source. The table follows every exit, recorded or not.
    fn on_exit_fact(&mut self, fact: &ExitFact) {
        if let Some(mut exit) = self.table.on_exit(fact)
            && self.config.events.forks_and_exits
        {
            self.enricher.names(&mut exit.process);
            self.emit(EventKind::Exit(exit), fact.time_ns);
        }
    }

    /// An exec from any process source; `hints` are what the source read in the kernel (eBPF:
    /// the executable's version, the cgroup), so known files and cgroups need no /proc read.
    /// `named`: the file the exec named, as far as its source tells.
    fn on_exec_fact(
        &mut self,
        fact: &ExecFact,
        source: Source,
        hints: ExecHints,
        named: Option<Named>,
    ) {
        let mut exec = self.table.on_exec(fact, &LiveProc, source);
        let served =
            (exec.process.exe.as_deref()).is_some_and(|path| self.served_mounts.holds(path));
        if served {
            self.enrich_served_exec(&mut exec.process, hints);
        } else {
            self.enricher.enrich_exec(&mut exec.process, hints);
        }
        let pid = exec.process.pid;
        exec.script = match named {
            Some(Named::Script(script)) => Some(Box::new(self.script_of(pid, script))),
            // A script when it is not the image that runs, which is known once described.
            Some(Named::File { path, inode }) if exec.success => {
                let image = exec.process.executable.as_ref().and_then(|x| x.inode);
                image
                    .filter(|&image| image != inode)
                    .map(|_| Box::new(self.named_script(pid, path, inode)))
            }
            _ => None,
        };
        self.emit_exec(exec, fact.time_ns);
    }

    /// Emits an exec, its image (and script) with the URL it was downloaded from where it has
    /// no origin of its own. One whose image was modified in the last seconds, while some
    /// process's fetch is noted, waits [`FRESH_EXEC_HOLD`] first: the close after its writing
    /// may still be on its way from fanotify (`curl -o x URL && chmod +x x && ./x` runs it
    /// within milliseconds).
    fn emit_exec(&mut self, exec: ExecEvent, time_ns: i64) {
        let fresh = |file: Option<&Executable>| {
            file.is_some_and(|f| {
                f.origin_url.is_none()
                    && f.mtime_ns
                        .is_some_and(|modified| modified > time_ns - FRESH_NS)
            })
        };
        let script_file = exec.script.as_ref().and_then(|s| s.file.as_ref());
        if !self.fetched.is_empty()
            && (fresh(exec.process.executable.as_ref()) || fresh(script_file))
        {
            self.fresh_execs
                .push_back((Instant::now() + FRESH_EXEC_HOLD, exec, time_ns));
            return;
        }
        self.emit_exec_now(exec, time_ns);
    }

    fn emit_exec_now(&mut self, mut exec: ExecEvent, time_ns: i64) {
        if !self.fetched.is_empty() {
            let files = [
                exec.process.executable.as_mut(),
                exec.script.as_mut().and_then(|script| script.file.as_mut()),
            ];
            for file in files.into_iter().flatten() {
                if file.origin_url.is_none() {
                    file.origin_url = self.fetched.origin_of(file).map(str::to_owned);
                }
            }
        }
        self.emit(EventKind::Exec(exec), time_ns);
    }

    /// Emits the SSH identifications whose wait for their KEXINIT is over (all when `all`):
    /// without a HASSH.
    fn release_awaiting_kexinit(&mut self, all: bool) {
        for (event, time_ns) in self.awaiting_kexinit.due(Instant::now(), all) {
            self.emit(EventKind::Network(event), time_ns);
        }
    }

    /// The held fresh execs whose wait is over (all when `all`).
    fn release_fresh_execs(&mut self, all: bool) {
        let now = Instant::now();
        while let Some((due, _, _)) = self.fresh_execs.front() {
            if !all && *due > now {
                break;
            }
            if let Some((_, exec, time_ns)) = self.fresh_execs.pop_front() {
                self.emit_exec_now(exec, time_ns);
            }
        }
    }

    /// A file closed after writing by a process whose last request is noted came from that
    /// request's URL: noted by inode as the change arrives, before it is described (or the
    /// exec of it that may come first is).
    ///
    /// Closed by a process that fetched nothing, it came from what its writer fetched, when a
    /// write by the fetcher was noted (`note_writing`): `curl URL > x` under a shell that
    /// opened `x` and closes its own descriptor last.
    fn note_download(&mut self, pid: u32, inode: Option<u64>, closed_ns: i64) {
        let Some(inode) = inode else {
            return;
        };
        match self.fetch_of(pid) {
            Some(url) => self.fetched.wrote(inode, &url, closed_ns),
            None => self.fetched.closed(inode, closed_ns),
        }
    }

    /// A write to the file of `inode` by a process whose last request is noted: the file is
    /// being written with what it fetched, whoever closes it.
    fn note_writing(&mut self, pid: u32, inode: Option<u64>) {
        if let Some(inode) = inode
            && let Some(url) = self.fetch_of(pid)
        {
            self.fetched.writing(inode, &url);
        }
    }

    /// The URL the process of `pid` last requested, when noted.
    fn fetch_of(&mut self, pid: u32) -> Option<String> {
        let (requester, url) = self.fetched.request_of(pid)?;
        let url = url.to_owned();
        // The requester, or gone: a file written through a descriptor a shell opened for it
        // (`curl URL > x`) is closed as the process exits, and its exit may come first. Not
        // another process since of its pid.
        let now = self.table.get(pid).and_then(|p| p.key);
        now.is_none_or(|process| process == requester)
            .then_some(url)
    }

    /// A script audit's exec named, described while its path is that file (not on a network
    /// or FUSE filesystem: a look there waits on the server).
    fn named_script(&mut self, pid: u32, path: Vec<u8>, inode: u64) -> Script {
        let file = match self.served_mounts.holds(&path) {
            true => None,
            false => self.enricher.script_of_inode(pid, &path, inode),
        };
        Script { path, file }
    }

    /// A script as its exec's record found it, described: from the file the reader held, the
    /// caches, or its path while that names the same version (on a network or FUSE filesystem,
    /// by the `warden-served` thread).
    fn script_of(&mut self, pid: u32, script: &ScriptRecord) -> Script {
        let held = script.file.as_ref().map(HeldFile::file);
        let file = if held.is_none() && self.served_mounts.holds(&script.path) {
            self.served_script(pid, script)
        } else {
            self.enricher
                .script(pid, &script.path, script.version, held)
        };
        Script {
            path: script.path.clone(),
            file,
        }
    }

    /// [`Agent::script_of`] for a script on a filesystem whose server may not answer.
    fn served_script(&mut self, pid: u32, script: &ScriptRecord) -> Option<Executable> {
        self.ready_served_looks();
        let looks = self.served_looks.as_mut();
        self.enricher
            .image_elsewhere(pid, &script.path, script.version, |pid, path| {
                looks?.describe(pid, path, SERVED_WAIT)
            })
    }

    /// The `warden-served` thread, started at the first need; what it described too late for
    /// its exec is remembered for the file's next.
    fn ready_served_looks(&mut self) {
        if self.served_looks.is_none() {
            self.served_looks = ServedLooks::start()
                .inspect_err(|e| say!("warden: cannot start the served files' thread: {e}"))
                .ok();
        }
        if let Some(looks) = &mut self.served_looks {
            for late in looks.late() {
                self.enricher.remember(&late, None);
            }
        }
    }

    /// Enriches an exec whose image lies on a network or FUSE filesystem: described by the
    /// `warden-served` thread, waited for at most [`SERVED_WAIT`], so a server that stops
    /// answering holds that thread and not the pipeline.
    fn enrich_served_exec(&mut self, process: &mut Process, hints: ExecHints) {
        self.ready_served_looks();
        let Some(looks) = &mut self.served_looks else {
            return self
                .enricher
                .enrich_exec_elsewhere(process, hints, |_, _| None);
        };
        self.enricher
            .enrich_exec_elsewhere(process, hints, |pid, path| {
                looks.describe(pid, path, SERVED_WAIT)
            });
    }

    /// Describes the file a change left written (a close after writing, a rename's new name)
    /// as it is now (`files.describe_written`); hashing draws on a budget of bytes refilled
    /// each second, so a burst of large writes costs the pipeline a bounded share of its time.
    /// `held`: the file itself, held by the source since the change (the file at the path
    /// otherwise).
    fn describe_written(&mut self, e: &mut FileEvent, held: Option<&HeldFile>) {
        if !self.config.files.describe_written
            || !e.success
            || e.is_dir == Some(true)
            || !matches!(e.action, FileAction::CloseWrite | FileAction::Rename)
        {
            return;
        }
        let now = Instant::now();
        if now.saturating_duration_since(self.hash_budget_since) >= Duration::from_secs(1) {
            self.hash_budget = self.hash_per_second;
            self.hash_budget_since = now;
            self.described_this_second = 0;
        }
        if self.described_this_second >= self.config.files.describe_per_second {
            self.written_over_budget += 1;
            return;
        }
        if self.served_mounts.holds(&e.path) {
            self.written_served += 1;
            return;
        }
        self.described_this_second += 1;
        e.content = match held {
            Some(held) => self
                .enricher
                .written_held(&e.path, held.file(), &mut self.hash_budget),
            None => self
                .enricher
                .written_file(&e.path, e.inode, &mut self.hash_budget),
        }
        .map(Box::new);
        match &mut e.content {
            None => self.written_gone += 1,
            // A file with no origin of its own comes from what its writer last fetched.
            Some(content) if content.origin_url.is_none() => {
                content.origin_url = self.fetched.origin_of(content).map(str::to_owned);
            }
            Some(_) => {}
        }
    }

    /// Hands one event to every sink. Never blocks: a full store queue drops and counts (a
    /// pass takes no more from the sources than the queue has room for, so this is rare).
    fn emit(&mut self, kind: EventKind, time_ns: i64) {
        self.emit_written(kind, time_ns, None);
    }

    /// [`Agent::emit`], a file event's written file described from `held` when the source
    /// held it.
    fn emit_written(&mut self, mut kind: EventKind, time_ns: i64, held: Option<&HeldFile>) {
        if let EventKind::File(e) = &mut kind {
            self.describe_written(e, held);
        }
        let event = Event {
            time_ns,
            host: self.host.clone(),
            kind,
        };
        // Counted without a per-event allocation: the class key exists after its first event.
        let class = event.kind.class();
        match self.status.events.get_mut(class) {
            Some(n) => *n += 1,
            None => {
                self.status.events.insert(class.to_string(), 1);
            }
        }
        self.events_since_status += 1;
        // The JSON line is written only for a JSON sink: the store keeps the event itself.
        if self.stdout.is_some() || self.jsonl.is_some() {
            let line = warden_core::to_ecs_line(&event);
            // A sink dropping lines is not offered the news of its own losses: the line would
            // be one more loss to report, every second for as long as it lasts.
            let loss_of =
                |sink: &str| matches!(&event.kind, EventKind::Loss(loss) if loss.source == sink);
            if let Some(file) = &mut self.jsonl
                && !(loss_of("jsonl") && file.is_short())
            {
                file.write_line(&line);
            }
            if let Some(stdout) = &mut self.stdout
                && !(loss_of("stdout") && stdout.is_dropping())
            {
                stdout.write_line(line);
            }
        }
        if let Some(tx) = &self.store_tx {
            match tx.try_send(StoredEvent::from_event(event)) {
                Ok(()) => {}
                Err(_) => {
                    self.store_dropped += 1;
                }
            }
        }
    }

    /// Current loss counters of every stage, by "source/cause".
    fn loss_counters(&self) -> BTreeMap<String, u64> {
        let mut m = BTreeMap::new();
        if let Some((source, _)) = &self.audit {
            let s = source.stats();
            m.insert("audit/kernel_lost".into(), s.kernel_lost);
            m.insert("audit/socket_overrun".into(), s.socket_overruns);
            m.insert("audit/queue_full".into(), s.channel_dropped);
            m.insert("audit/malformed".into(), s.malformed.total());
            m.insert("audit/undecodable".into(), s.exec_errors + s.view_errors);
            // Our rules deleted under us (and put back): what happened in between is lost.
            m.insert("audit/rules_deleted".into(), s.rules_reinstalled);
            // Events closed by timeout or eviction instead of their EOE record: part of them
            // may be missing (a record the kernel dropped, or one that came too late).
            m.insert(
                "audit/partial_event".into(),
                (s.assembler.events_timed_out + s.assembler.events_evicted)
                    .saturating_sub(s.lone_config_changes),
            );
            m.insert("audit/record_dropped".into(), s.assembler.records_dropped);
        }
        if let Some(diag) = &self.tcp_ends {
            let l = &diag.losses;
            let read = |n: &std::sync::atomic::AtomicU64| n.load(Ordering::Relaxed);
            m.insert("sock_diag/buffer_overflow".into(), read(&l.buffer_overflow));
            m.insert("sock_diag/queue_full".into(), read(&l.queue_full));
            m.insert("sock_diag/malformed".into(), read(&l.malformed));
            m.insert("sock_diag/read_error".into(), read(&l.read_errors));
            // Connections noted past connections_max: their ends go unrecorded.
            m.insert("sock_diag/forgotten".into(), diag.ends.forgotten);
            // Ends that fitted several processes' connections to one peer.
            m.insert("sock_diag/ambiguous_end".into(), diag.ends.ambiguous);
        }
        if let Some((source, _)) = &self.connector {
            let s = source.stats();
            m.insert("proc_connector/socket_overrun".into(), s.overruns);
            m.insert("proc_connector/sequence_gap".into(), s.seq_gaps);
            m.insert("proc_connector/queue_full".into(), s.channel_dropped);
            m.insert("proc_connector/malformed".into(), s.malformed);
        }
        if let Some((source, _)) = &self.ebpf {
            let s = source.stats();
            m.insert(
                "ebpf/ring_full".into(),
                s.ring_full_forks
                    + s.ring_full_execs
                    + s.ring_full_exits
                    + s.ring_full_failed_execs
                    + s.ring_full_attribute_changes
                    + s.ring_full_files
                    + s.ring_full_network
                    + s.ring_full_scripts,
            );
            m.insert("ebpf/file_scratch_busy".into(), s.files_busy);
            // io_uring file operations passed on without their result (lost, or late).
            m.insert("ebpf/uring_results_missing".into(), s.uring_unpaired);
            // Looks at the connections still open that the iterator would not run for.
            m.insert(
                "ebpf/open_connections_unswept".into(),
                s.open_connections_unswept,
            );
            m.insert("ebpf/queue_full".into(), s.queue_full);
            m.insert("ebpf/malformed".into(), s.malformed);
            m.insert("ebpf/exec_incomplete".into(), self.ebpf_incomplete);
            m.insert(
                "ebpf/compat_process_calls_unseen".into(),
                self.ebpf_compat_execs,
            );
        }
        if let Some((source, _)) = &self.fanotify {
            let s = source.stats();
            m.insert("fanotify/queue_overflow".into(), s.queue_overflow);
            m.insert("fanotify/queue_full".into(), s.dropped_channel);
            m.insert("fanotify/malformed".into(), s.malformed);
            m.insert("fanotify/read_error".into(), s.read_errors);
        }
        // Exits the table could not place: their process was never seen (no identity to give
        // the event), or was already marked exited.
        let table = self.table.stats();
        m.insert("process_table/unknown_exit".into(), table.unknown_exits);
        m.insert("process_table/duplicate_exit".into(), table.duplicate_exits);
        m.insert("pipeline/store_queue_full".into(), self.store_dropped);
        if let Some(thread) = &self.store_thread {
            let store = thread.counters().snapshot();
            m.insert("store/write_failed".into(), store.dropped);
            m.insert("store/disk_short".into(), store.dropped_disk_short);
        }
        if let Some(file) = &self.jsonl {
            let lost = file.lost();
            m.insert("jsonl/write_failed".into(), lost.write_failed);
            m.insert("jsonl/disk_short".into(), lost.disk_short);
        }
        if let Some(stdout) = &self.stdout {
            let lost = stdout.not_printed();
            m.insert("stdout/slow_reader".into(), lost.slow_reader);
            m.insert("stdout/closed".into(), lost.closed);
        }
        m
    }

    /// Emits a loss event for every counter that grew since the last report, and says the
    /// losses on stderr (`all`: every one not yet said; else as [`LossLog`] paces them).
    fn report_losses(&mut self, all: bool) {
        let current = self.loss_counters();
        for (name, count) in &current {
            let before = self.reported_losses.get(name).copied().unwrap_or(0);
            if *count > before {
                let (source, cause) = name.split_once('/').unwrap_or((name, ""));
                let loss = LossEvent {
                    source: source.into(),
                    cause: cause.into(),
                    count: count - before,
                };
                self.emit(EventKind::Loss(loss), now_ns());
            }
        }
        self.loss_log.say(&current, all);
        self.status.lost = current.clone();
        self.reported_losses = current;
    }

    fn write_status(&mut self, interval: Duration) {
        self.status.updated_ns = now_ns();
        self.status.events_per_sec = if interval.is_zero() {
            0.0
        } else {
            self.events_since_status as f64 / interval.as_secs_f64()
        };
        self.events_since_status = 0;
        self.status.process_table_size = self.table.len();
        self.told_changes.retain(|_, at| at.elapsed() < TOLD_FOR);
        self.unlinked.retain(|_, at| at.elapsed() < TOLD_FOR);
        let by_name = |counts: &Skipped| -> BTreeMap<String, u64> {
            counts
                .0
                .iter()
                .map(|(k, v)| ((*k).to_owned(), *v))
                .collect()
        };
        self.status.skipped = by_name(&self.skipped);
        self.status.unknown = by_name(&self.unknown);
        self.status.watches_marked_since_start = self.audit_watches_added;
        if let Some((source, _)) = &self.fanotify {
            let s = source.stats();
            self.status.watches_marked_since_start += s.rewatched;
            self.status.filesystems_marked_since_start = s.filesystems_marked_later;
            self.status.filesystems_refused_since_start = s.filesystems_refused_later;
            for (name, n) in [
                ("fanotify/self", s.excluded_self),
                ("fanotify/excluded_path", s.excluded_path),
                ("fanotify/reads_coalesced", s.reads_coalesced),
                (
                    "fanotify/watched_opens_for_writing",
                    s.watched_opens_for_writing,
                ),
                ("fanotify/modify_folded", s.modify_folded),
                ("fanotify/attrib_of_deleted", s.attrib_of_deleted),
                ("fanotify/watch_parent", s.watch_parent_events),
            ] {
                if n > 0 {
                    self.status.skipped.insert(name.to_owned(), n);
                }
            }
        }
        self.status.rss_bytes = rss_bytes();
        let executables = self.enricher.executables.stats();
        let written = self.enricher.written.stats();
        let (container_hits, container_reads) = self.enricher.containers.stats();
        let served = (self.served_looks.as_ref()).map_or_else(Default::default, |l| l.stats);
        let ebpf = (self.ebpf.as_ref()).map_or_else(Default::default, |(source, _)| source.stats());
        let fanotify =
            (self.fanotify.as_ref()).map_or_else(Default::default, |(source, _)| source.stats());
        self.status.caches = [
            ("executables/entries", executables.entries),
            ("executables/hits", executables.hits),
            ("executables/hits_by_kernel_version", executables.by_version),
            ("executables/misses", executables.misses),
            ("executables/described_served", served.described),
            ("executables/not_described_served_late", served.late),
            ("executables/not_described_served_busy", served.busy),
            ("executables/held", ebpf.images_held),
            (
                "executables/held_now",
                warden_sources::ebpf::held_images() as u64,
            ),
            ("executables/not_held_gone", ebpf.images_gone),
            ("executables/not_held_busy", ebpf.images_not_held_busy),
            ("executables/scripts_held", ebpf.scripts_held),
            ("executables/scripts_not_held_gone", ebpf.scripts_gone),
            (
                "executables/not_described_other_file",
                self.enricher.other_file_at_path,
            ),
            (
                "sock_diag/connections_noted",
                self.tcp_ends.as_ref().map_or(0, |d| d.ends.len() as u64),
            ),
            ("dns/addresses_named", self.resolved.len() as u64),
            ("requests/connections_named", self.asked.len() as u64),
            ("requests/files_fetched", self.fetched.files() as u64),
            ("requests/quic_connections", self.quic_hellos.len() as u64),
            (
                "requests/quic_initials_over_rate",
                ebpf.quic_initials_over_rate,
            ),
            ("requests/later_over_rate", ebpf.later_requests_over_rate),
            ("requests/received_held", self.unclaimed.len() as u64),
            (
                "requests/ssh_awaiting_kexinit",
                self.awaiting_kexinit.len() as u64,
            ),
            (
                "requests/received_ring_busy",
                ebpf.received_requests_ring_busy,
            ),
            ("requests/answers_ring_busy", ebpf.answers_ring_busy),
            (
                "requests/later_answers_over_rate",
                ebpf.later_answers_over_rate,
            ),
            ("written/held", fanotify.written_held),
            (
                "written/held_now",
                warden_sources::fanotify::WRITTEN.held() as u64,
            ),
            ("written/not_held_gone", fanotify.written_not_held_gone),
            ("written/not_held_busy", fanotify.written_not_held_busy),
            ("written/not_held_room", fanotify.written_not_held_room),
            ("written/entries", written.entries),
            ("written/hits", written.hits),
            ("written/misses", written.misses),
            ("written/bytes_hashed", written.bytes_hashed),
            ("written/not_hashed_too_large", written.too_large),
            ("written/not_hashed_over_budget", written.over_budget),
            (
                "written/changed_while_hashing",
                written.changed_while_hashing,
            ),
            ("written/gone", self.written_gone),
            (
                "written/not_described_over_budget",
                self.written_over_budget,
            ),
            ("written/not_described_served", self.written_served),
            (
                "containers/by_cgroup_id",
                u64::from(self.enricher.containers.caching()),
            ),
            ("containers/hits", container_hits),
            ("containers/reads", container_reads),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        if let Some(store) = &self.store {
            self.status.store_bytes = store
                .disk_usage()
                .map(|u| u.db_bytes + u.wal_bytes)
                .unwrap_or(0);
            let keep_free = store.retention().keep_free;
            self.status.store_filesystem =
                warden_store::FilesystemSpace::of(store.dir())
                    .ok()
                    .map(|space| FilesystemRoom {
                        size_bytes: space.size,
                        available_bytes: space.available,
                        keep_free_bytes: keep_free.bytes_of(space.size),
                    });
        }
        if let Some(thread) = &self.store_thread {
            let store = thread.counters().snapshot();
            self.status.store_deleted_for_free_space = store.deleted_for_free_space;
            self.status.store_reserve_released = store.reserve_released;
            self.status.store_errors = store.errors;
            self.status.store_last_error = store.last_error;
            if store.reopened > self.status.store_reopened {
                say!(
                    "warden: a new event store opened in the old one's place: {}",
                    store.last_reopen.as_deref().unwrap_or("?")
                );
            }
            self.status.store_reopened = store.reopened;
            self.status.store_last_reopen = store.last_reopen;
            let ahead_s = store.clock_ahead_ns / 1_000_000_000;
            if ahead_s >= CLOCK_AHEAD_SAID_S && self.status.clock_ahead_s < CLOCK_AHEAD_SAID_S {
                say!(
                    "warden: the clock is {ahead_s} s ahead of the time elapsed this boot (set \
                     forward?): retention by age goes by the time elapsed, so no history is \
                     deleted sooner"
                );
            }
            self.status.clock_ahead_s = ahead_s;
        }
        match self.status.write(&self.config.data_dir) {
            Ok(()) if self.status_unwritten => {
                self.status_unwritten = false;
                say!("warden: status written again");
            }
            Ok(()) => {}
            Err(e) if !self.status_unwritten => {
                self.status_unwritten = true;
                say!("warden: cannot write status (said once until it can): {e:#}");
            }
            Err(_) => {}
        }
        if let Some(file) = &mut self.jsonl {
            file.flush();
        }
    }

    /// Stops the sources (restoring the kernel's audit state), drains what they had queued,
    /// flushes the sinks.
    fn shutdown(mut self) -> anyhow::Result<()> {
        let mut problems = Vec::new();
        if let Some((source, _)) = &mut self.audit
            && let Err(e) = source.stop()
        {
            problems.push(format!("audit restore: {e:?}"));
        }
        if let Some((source, _)) = &mut self.connector {
            source.stop();
        }
        if let Some((source, _)) = &mut self.ebpf {
            source.stop();
        }
        if let Some((source, _)) = &mut self.fanotify {
            source.stop();
        }
        self.step(Duration::ZERO);
        // The connections still open, as they stand at the stop; then no more ends.
        self.look_at_open_tcp(true);
        if let Some(diag) = &mut self.tcp_ends {
            diag.stop();
        }
        self.take_tcp_ends(true);
        self.report_losses(true);
        self.write_status(Duration::ZERO);
        self.store_tx = None;
        if let Some(thread) = self.store_thread.take() {
            thread.join().context("store writer")?;
        }
        if let Some(file) = &mut self.jsonl {
            file.flush();
        }
        if let Some(stdout) = &mut self.stdout {
            stdout.finish(STDOUT_FINISH_WAIT);
        }
        let total: u64 = self.status.events.values().sum();
        let losses = if self.status.lost.values().any(|n| *n > 0) {
            " (some lost or dropped on the way: by cause above)"
        } else {
            ""
        };
        say!("warden: stopped after recording {total} events{losses}");
        anyhow::ensure!(problems.is_empty(), "{}", problems.join("; "));
        Ok(())
    }
}

/// Whether an audit network call made or took what may be a TCP connection: a connect that
/// succeeded or is under way, or an accept, of an inet socket whose transport is TCP or was not
/// read.
fn may_be_a_tcp_connection(event: &NetworkEvent) -> bool {
    matches!(event.action, NetAction::Connect | NetAction::Accept)
        && event.success
        && matches!(event.family, Some(2 | 10))
        && event.transport.as_deref().is_none_or(|t| t == "tcp")
}

/// How often a cause of loss that goes on is said again on stderr.
const LOSS_LOG_EVERY: Duration = Duration::from_secs(60);

/// Says losses on stderr: a cause's first at once, then at most one line per
/// [`LOSS_LOG_EVERY`] with what came since, so that a loss that goes on (a disk short of
/// space) does not flood the log. The loss events and `warden status` keep every count.
#[derive(Debug, Default)]
struct LossLog {
    /// By "source/cause": the count last said, and when.
    said: BTreeMap<String, (u64, Instant)>,
}

impl LossLog {
    /// Says what grew in `counters` (`all`: whatever is unsaid, without waiting).
    fn say(&mut self, counters: &BTreeMap<String, u64>, all: bool) {
        for (name, &count) in counters {
            let (said, at) = self
                .said
                .get(name)
                .map_or((0, None), |&(said, at)| (said, Some(at)));
            let due = all || at.is_none_or(|at| at.elapsed() >= LOSS_LOG_EVERY);
            if count > said && due {
                let (source, cause) = name.split_once('/').unwrap_or((name, ""));
                say!("warden: lost {} events ({source}: {cause})", count - said);
                self.said.insert(name.clone(), (count, Instant::now()));
            }
        }
    }
}

/// The eBPF process source, as `sources.process` asks: required with "ebpf", tried with "auto"
/// (audit and the connector take over when it cannot load), not started with "audit".
fn start_ebpf(
    config: &Config,
    status: &mut Status,
) -> anyhow::Result<Option<(EbpfSource, Receiver<Record>)>> {
    let mode = config.sources.process.as_str();
    let (started, detail) = if mode == "audit" {
        (None, "sources.process = \"audit\"".to_string())
    } else {
        match EbpfSource::start(EbpfConfig {
            channel_capacity: EBPF_QUEUE,
            // fanotify says only "attributes changed", and the file programs do not see these
            // calls; audit file rules see them themselves.
            attribute_changes: matches!(config.files.source.as_str(), "fanotify" | "ebpf"),
            // It says "created" of a link and "modified" of a truncate (the file programs,
            // when they run, report these calls themselves).
            links_and_truncates: matches!(config.files.source.as_str(), "fanotify" | "ebpf"),
            files: (config.files.source == "ebpf").then_some(FileActivityConfig {
                write_opens: config.files.modify,
                io_uring: config.files.io_uring,
            }),
            network: (config.network.enabled && config.network.source != "audit").then_some(
                NetworkActivityConfig {
                    datagrams: config.network.datagrams,
                    io_uring: config.network.io_uring,
                    follow_32_bit: config.network.follow_32_bit,
                    connection_ends: config.network.connection_ends,
                    // Checked as the config was read.
                    open_connections_every: config
                        .open_connections_every()
                        .unwrap_or(Duration::from_secs(600)),
                    connections_max: config.network.connections_max,
                    datagram_traffic: config.network.datagram_traffic,
                    dns: config.network.dns,
                    requests: config.network.requests,
                    requests_received: config.network.requests_received,
                    answers: config.network.answers,
                },
            ),
            exclude_pid: Some(std::process::id()),
        }) {
            Ok(pair) => {
                let mut detail = match pair.0.failed_execs() {
                    Ok(()) => "fork, exec and exit from the scheduler tracepoints; failed execs \
                               from the exec calls' tracepoints"
                        .to_string(),
                    Err(why) => format!(
                        "fork, exec and exit from the scheduler tracepoints; failed execs not \
                         seen ({why})"
                    ),
                };
                match pair.0.scripts() {
                    Ok(()) => detail.push_str("; the scripts interpreters run, from the exec"),
                    Err(why) => detail.push_str(&format!(
                        "; a script's exec is its interpreter's alone ({why})"
                    )),
                }
                match pair.0.attribute_changes() {
                    Some(Ok(())) => {
                        detail.push_str("; chmod, chown and the setting of file times from their calls' tracepoints")
                    }
                    Some(Err(why)) => {
                        detail.push_str(&format!("; chmod and chown not told apart ({why})"));
                    }
                    None => {}
                }
                match pair.0.links_and_truncates() {
                    Some(Ok(())) => detail
                        .push_str("; links, symlinks and truncates from their calls' tracepoints"),
                    Some(Err(why)) => detail.push_str(&format!(
                        "; links and truncates not told apart from creations and modifications \
                         ({why})"
                    )),
                    None => {}
                }
                match (pair.0.files(), pair.0.files_io_uring()) {
                    (Some(Ok(())), uring) => {
                        detail.push_str("; file changes from the file calls' tracepoints");
                        detail.push_str(&io_uring_detail(uring));
                        match pair.0.files_compat() {
                            Some(Ok(())) => detail.push_str(
                                ", and 32-bit processes' from every syscall's entry and exit \
                                 while one runs",
                            ),
                            Some(Err(why)) => {
                                detail.push_str(&format!(" (not 32-bit processes': {why})"))
                            }
                            None => {}
                        }
                    }
                    (Some(Err(why)), _) => detail.push_str(&format!(
                        "; file changes not from eBPF ({why}): fanotify instead"
                    )),
                    (None, _) => {}
                }
                match (pair.0.network(), pair.0.network_io_uring()) {
                    (Some(Ok(())), uring) => {
                        detail.push_str("; network calls from their tracepoints");
                        detail.push_str(&io_uring_detail(uring));
                        match pair.0.network_compat() {
                            Some(Ok(())) => detail.push_str(
                                ", and 32-bit processes' from every syscall's exit while one runs",
                            ),
                            Some(Err(why)) => {
                                detail.push_str(&format!(" (not 32-bit processes': {why})"))
                            }
                            None => {}
                        }
                        match pair.0.connect_outcomes() {
                            Some(Ok(())) => detail.push_str(
                                "; non-blocking connects' outcomes from TCP state changes",
                            ),
                            Some(Err(why)) => detail.push_str(&format!(
                                " (not non-blocking connects' outcomes: {why})"
                            )),
                            None => {}
                        }
                        // The same program: attached or not with the outcomes above.
                        if pair.0.connection_ends() == Some(Ok(())) {
                            detail.push_str("; TCP connections' ends with their traffic, likewise");
                            match pair.0.found_open_connections() {
                                Some(Ok(found)) => detail.push_str(&format!(
                                    " (also of the {} found open at the start, in {} ms)",
                                    found.sockets,
                                    found.took.as_millis()
                                )),
                                Some(Err(why)) => detail
                                    .push_str(&format!(" (not of those open at the start: {why})")),
                                None => {}
                            }
                            match pair.0.open_connections() {
                                Some(Ok(())) => detail.push_str(&format!(
                                    ", and those still open with their traffic so far {}as the \
                                     agent stops",
                                    match config.network.open_connections_every.as_str() {
                                        "0" => String::new(),
                                        every => format!("every {every} and "),
                                    }
                                )),
                                Some(Err(why)) => {
                                    detail.push_str(&format!(" (not those still open: {why})"))
                                }
                                None => {}
                            }
                        }
                        match pair.0.datagram_traffic() {
                            Some(Ok(())) => {
                                detail.push_str(
                                    "; each datagram socket's traffic (UDP, ICMP, raw) at its \
                                     end, counted at every send and receive",
                                );
                                match pair.0.found_open_datagram_sockets() {
                                    Some(Ok(found)) => detail.push_str(&format!(
                                        " (from the start for the {} found open then, in {} ms)",
                                        found.sockets,
                                        found.took.as_millis()
                                    )),
                                    Some(Err(why)) => detail.push_str(&format!(
                                        " (not of those open at the start: {why})"
                                    )),
                                    None => {}
                                }
                                detail.push_str(
                                    ", and UDP sockets' still open beside the connections'",
                                );
                            }
                            Some(Err(why)) => {
                                detail.push_str(&format!(" (not datagram sockets' traffic: {why})"))
                            }
                            None => {}
                        }
                        match pair.0.first_datagrams() {
                            Some(Ok(())) => detail.push_str(
                                "; each UDP socket's first datagram to or from each peer from \
                                 the socket layer's hooks, and each raw or ICMP socket's first \
                                 packet from the packet hooks",
                            ),
                            Some(Err(why)) => detail.push_str(&format!(
                                " (not the first datagrams of UDP, raw and ICMP sockets: {why})"
                            )),
                            None => {}
                        }
                        match pair.0.dns() {
                            Some(Ok(())) => {
                                detail.push_str("; DNS queries and answers from the packet hooks")
                            }
                            Some(Err(why)) => {
                                detail.push_str(&format!(" (not DNS messages: {why})"))
                            }
                            None => {}
                        }
                        match pair.0.requests() {
                            Some(Ok(())) => detail.push_str(
                                "; outgoing connections' TLS hellos and HTTP requests from the \
                                 packet hooks",
                            ),
                            Some(Err(why)) => detail.push_str(&format!(
                                " (not connections' TLS hellos and HTTP requests: {why})"
                            )),
                            None => {}
                        }
                        match pair.0.requests_received() {
                            Some(Ok(())) => detail.push_str(
                                "; TLS hellos and HTTP requests received by connections made to \
                                 this host from the packet hooks",
                            ),
                            Some(Err(why)) => {
                                detail.push_str(&format!(" (not requests received: {why})"))
                            }
                            None => {}
                        }
                        match pair.0.answers() {
                            Some(Ok(())) => detail.push_str(
                                "; servers' answers (TLS server hellos, HTTP responses, SSH \
                                 lines) both ways from the packet hooks",
                            ),
                            Some(Err(why)) => {
                                detail.push_str(&format!(" (not servers' answers: {why})"))
                            }
                            None => {}
                        }
                        match pair.0.quic_initials() {
                            Some(Ok(())) => detail.push_str(
                                "; QUIC clients' TLS hellos from their Initial datagrams",
                            ),
                            Some(Err(why)) => {
                                detail.push_str(&format!(" (not QUIC clients' TLS hellos: {why})"))
                            }
                            None => {}
                        }
                        if pair.0.network_compat_tcp() == Some(Ok(())) {
                            detail.push_str(
                                "; 32-bit processes' TCP connects and listens from TCP state \
                                 changes while that program is not attached",
                            );
                        }
                    }
                    (Some(Err(why)), _) => detail.push_str(&format!(
                        "; network calls not from eBPF ({why}): audit instead"
                    )),
                    (None, _) => {}
                }
                (Some(pair), detail)
            }
            Err(e) if mode == "auto" => (None, format!("{e}; execs from audit instead")),
            Err(e) => anyhow::bail!("sources.process = \"ebpf\", but {e}"),
        }
    };
    status.sources.push(SourceStatus {
        name: "ebpf".into(),
        active: started.is_some(),
        detail,
    });
    Ok(started)
}

fn event_exit_status(event: &ProcEvent) -> Option<ExitStatus> {
    event.exit_status()
}

fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

/// What the status says of io_uring's operations beside a part of the eBPF source.
fn io_uring_detail(uring: Option<Result<(), &str>>) -> String {
    match uring {
        Some(Ok(())) => " and io_uring's operations".into(),
        Some(Err(why)) => format!(" (not io_uring's: {why})"),
        None => String::new(),
    }
}

//! The audit source: takes the audit daemon slot (or reads the multicast group), installs
//! Warden's rules, reads records on a blocking thread, assembles them into events and hands them
//! to a bounded channel — and puts the kernel back as it found it on every exit path.
//!
//! # Modes
//!
//! At start the source reads `AUDIT_GET` and picks how to read:
//!
//! * **Unicast** (`ReadMode::Unicast`): no audit daemon is registered (`pid == 0`), or the
//!   registered pid no longer exists. Warden registers its reading socket with
//!   `AUDIT_SET pid = getpid()`. Delivery is reliable: records wait in the kernel backlog while
//!   Warden reads. Warden sets `backlog_wait_time = 0` (a full backlog drops and counts in
//!   `lost`, it never stalls the audited tasks) and `backlog_limit` (default 32768).
//! * **Multicast** (`ReadMode::Multicast`): auditd (or another reader) holds the slot, or the
//!   configuration forces it. Warden joins `AUDIT_NLGRP_READLOG` read-only: the daemon keeps
//!   flow control and the backlog settings, and a receive-buffer overrun (`ENOBUFS`) loses
//!   records for Warden alone (counted as `socket_overruns`). The report says so.
//!
//! In both modes Warden enables audit if it was off (`enabled=0`) and installs its rules (by
//! default execve/execveat, `always,exit`, key `warden`, for the native and compat ABIs). If
//! audit is locked (`enabled=2`) nothing can change: Warden reads multicast and relies on the
//! rules already there.
//!
//! # Threads and channel
//!
//! One reader thread per source does recv → [`parse_record`] → [`Assembler`] → output, so records
//! never wait in a second queue; parsing and assembling cost microseconds per record and the
//! assembler is bounded. Finished events go to a bounded queue ([`crate::queue`]) with `try_send`: when
//! it is full the event is dropped and counted (`channel_dropped`), the reader never blocks.
//! Events carrying the configured key (`warden`) whose SYSCALL is an exec become
//! [`AuditOutput::Exec`]; everything else (other keys, AVC, user messages, config changes) is
//! [`AuditOutput::Event`] unless `forward_other_events` is off. The kernel's `lost` counter is
//! read every `status_interval` on a separate control socket and reported as a delta since start;
//! at the same time Warden's rules are checked, and any someone deleted is added back and counted
//! ([`AuditStats::rules_reinstalled`]).
//!
//! # Cleanup
//!
//! Everything Warden changes is recorded in a [`Restorer`] as it is changed: each added rule (its
//! exact bytes, removed with `AUDIT_DEL_RULE` and the same bytes), the daemon slot, and the
//! original `enabled`, `backlog_limit`, `backlog_wait_time`. [`Restorer::restore`] undoes them
//! once (idempotent) and runs from [`AuditSource::stop`], from `Drop` of the source and of the
//! restorer, from a failed start, and from [`restore_all`] — which a binary calls from its
//! signal-handling thread (not from inside an async signal handler) or from the panic hook set
//! by [`install_panic_hook`].
//!
//! **SIGKILL cannot be handled.** After it the kernel still lists Warden's pid as the daemon until
//! the next unicast send fails with `ECONNREFUSED`, when kauditd unregisters the dead pid by
//! itself (`auditd_reset()`; the integration test `killed_daemon_is_replaced` checks this). The
//! rules stay installed, so at start the source deletes every rule carrying its key that it
//! finds (`stale_rules_removed` in the report) and says so. The settings a killed run changed
//! are named in its [`ledger`](super::ledger) (`AuditSourceConfig::ledger`), written before
//! each change: the next start puts them back ([`settle`]) before it reads its baseline, and
//! so can `warden cleanup` without starting. Two Warden instances sharing the key share the
//! rules (the kernel refuses duplicates): do not run two.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;

use super::assemble::{Assembler, AssemblerConfig, AssemblerStats, Event, EventEnd};
use super::control::{AuditControl, AuditError, AuditSocket};
use super::exec::{ExecError, ExecEvent};
use super::file::FileOp;
use super::ledger::{Ledger, LedgerFile, Owner, Setting, SettingChange, Settled, boot_id};
use super::msgtype;
use super::net::{NetCall, NetError, NetEvent};
use super::record::{MalformedCounters, Value, parse_record};
use super::rules::{AuditRule, RuleData, exec_rules};
use super::wire::{self, AuditStatus};

/// Configuration of the audit source.
#[derive(Clone, Debug)]
pub struct AuditSourceConfig {
    /// Never take the daemon slot; read the multicast group even when the slot is free.
    pub force_multicast: bool,
    /// Rules to install (removed again at stop). Default: [`exec_rules`] with [`Self::key`].
    pub rules: Vec<AuditRule>,
    /// The key that marks Warden's rules and events; stale rules with it are removed at start.
    pub key: String,
    /// Delete rules carrying `key` found at start (left by a run that was killed).
    pub remove_stale_rules: bool,
    /// Enable audit (`enabled=1`) if it is off; restored at stop.
    pub enable_audit: bool,
    /// Kernel backlog limit set in unicast mode.
    pub backlog_limit: u32,
    /// Kernel backlog wait time set in unicast mode (jiffies; 0 = drop, never stall tasks).
    pub backlog_wait_time: u32,
    /// Receive buffer asked for the reading socket (`SO_RCVBUFFORCE`, else `SO_RCVBUF`).
    pub receive_buffer: usize,
    /// Capacity of the output channel.
    pub channel_capacity: usize,
    /// Limits of the event assembler.
    pub assembler: AssemblerConfig,
    /// How often to read the kernel's `lost` counter.
    pub status_interval: Duration,
    /// Send events that are not Warden exec events as [`AuditOutput::Event`].
    pub forward_other_events: bool,
    /// Read each network call's socket as its records are read ([`NetEvent::socket`]: its
    /// transport, a listener's address), and the handshake of a connect that said
    /// `EINPROGRESS` ([`NetEvent::first_look`]: audit says nothing of how it ends). As soon as
    /// the records are read, because the process may close the socket soon after the call.
    pub probe_sockets: bool,
    /// With `probe_sockets`: also each TCP connection's socket cookie ([`NetEvent::cookie`]:
    /// a connect's, an accept's new socket's), which ties it to its end.
    pub socket_cookies: bool,
    /// Where to keep the [`ledger`](super::ledger) of the settings this run changes, so a
    /// killed run's are put back by the next. `None`: a killed run's settings stay.
    pub ledger: Option<PathBuf>,
}

/// The pause after a batch of records that emptied the socket (see the reader loop).
const COALESCE: Duration = Duration::from_millis(10);

impl Default for AuditSourceConfig {
    fn default() -> Self {
        AuditSourceConfig {
            force_multicast: false,
            rules: exec_rules(super::WARDEN_KEY),
            key: super::WARDEN_KEY.to_owned(),
            remove_stale_rules: true,
            enable_audit: true,
            backlog_limit: 32_768,
            backlog_wait_time: 0,
            receive_buffer: 8 * 1024 * 1024,
            channel_capacity: 4096,
            assembler: AssemblerConfig::default(),
            status_interval: Duration::from_secs(5),
            forward_other_events: true,
            probe_sockets: false,
            socket_cookies: false,
            ledger: None,
        }
    }
}

/// How the source reads records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReadMode {
    /// Registered as the audit daemon: reliable, with kernel backpressure.
    Unicast,
    /// Member of the read-only multicast group: best effort, coexists with auditd.
    Multicast,
}

/// What the source decided at start, for the log.
#[derive(Clone, Debug)]
pub struct SourceReport {
    /// The read mode.
    pub mode: ReadMode,
    /// Why that mode, in words.
    pub reason: String,
    /// The kernel's audit status before Warden changed anything.
    pub initial: AuditStatus,
    /// Rules installed (and to be removed at stop).
    pub rules_installed: usize,
    /// Rules with Warden's key found and removed at start (a previous run was killed).
    pub stale_rules_removed: usize,
    /// The receive buffer the kernel granted (as `SO_RCVBUF` reports it).
    pub receive_buffer: usize,
    /// Other things worth logging (audit enabled by Warden, rules already present, ...).
    pub notes: Vec<String>,
}

/// What the source sends on its channel.
#[derive(Clone, Debug)]
pub enum AuditOutput {
    /// An exec (execve/execveat) matched by a rule with Warden's key.
    Exec(Box<ExecEvent>),
    /// A socket call matched by a rule with Warden's key (its network view).
    Net(Box<NetEvent>),
    /// A file operation matched by a rule with Warden's key (its file view).
    File(Box<FileOp>),
    /// Any other assembled event (other rules' events, events with the key that no view
    /// decodes, AVC, user-space messages, config changes...).
    Event(Event),
}

/// Counters of the source. Everything dropped or malformed is counted here.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditStats {
    /// Datagrams received.
    pub datagrams: u64,
    /// Records parsed and fed to the assembler.
    pub records: u64,
    /// Records that did not parse, by reason (skipped).
    pub malformed: MalformedCounters,
    /// Datagrams with a bad netlink header (skipped).
    pub bad_datagrams: u64,
    /// Non-record netlink messages (acks, control replies) seen by the reader (ignored).
    pub control_messages: u64,
    /// `AUDIT_REPLACE` probes: another process tried to take the daemon slot (ignored).
    pub replace_probes: u64,
    /// `ENOBUFS` on the reading socket: the receive buffer overran and records were lost for
    /// Warden (in unicast mode the kernel may requeue them).
    pub socket_overruns: u64,
    /// Other receive errors.
    pub receive_errors: u64,
    /// Exec events produced (sent, or dropped if the channel was full).
    pub exec_events: u64,
    /// Other events produced (sent, or dropped if the channel was full).
    pub other_events: u64,
    /// Other events not sent because `forward_other_events` is off.
    pub other_events_skipped: u64,
    /// Events with Warden's key that were not a decodable exec (sent as `Event`).
    pub exec_errors: u64,
    /// Events that were a lone CONFIG_CHANGE record closed by the assembler's timeout (complete:
    /// see [`AssemblerStats::events_timed_out`], which counts them too).
    pub lone_config_changes: u64,
    /// Network events produced.
    pub net_events: u64,
    /// File events produced.
    pub file_events: u64,
    /// Events with Warden's key that a network or file view could not decode (broken records;
    /// sent as `Event`).
    pub view_errors: u64,
    /// Events dropped because the channel was full (or its receiver gone).
    pub channel_dropped: u64,
    /// Kernel `lost` counter at start.
    pub kernel_lost_at_start: u32,
    /// Records the kernel lost since start (delta of its `lost` counter).
    pub kernel_lost: u64,
    /// Kernel backlog at the last status read.
    pub kernel_backlog: u32,
    /// Failed status reads.
    pub status_errors: u64,
    /// Warden's rules found deleted by someone else and added back (checked with every status
    /// read): events of the gap between are lost, in unknown number.
    pub rules_reinstalled: u64,
    /// The assembler's counters.
    pub assembler: AssemblerStats,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A setting Warden changed: what it was, and what Warden set.
#[derive(Clone, Copy, Debug)]
struct Changed {
    original: u32,
    ours: u32,
}

/// Everything to undo.
#[derive(Debug)]
struct Changes {
    control: AuditControl,
    rules: Vec<Vec<u8>>,
    registered: bool,
    enabled: Option<Changed>,
    backlog_limit: Option<Changed>,
    backlog_wait_time: Option<Changed>,
    /// The ledger naming this run and its changes, when one is kept.
    ledger: Option<(LedgerFile, Ledger)>,
}

impl Changes {
    /// Names a change in the ledger before it is made; a ledger that cannot be written is
    /// said once and forgotten (the change still made).
    fn enter_in_ledger(&mut self, change: SettingChange, notes: &mut Vec<String>) {
        let Some((file, ledger)) = &mut self.ledger else {
            return;
        };
        ledger.changes.push(change);
        if let Err(e) = file.write(ledger) {
            notes.push(ledger_unwritable(file, &e));
            self.ledger = None;
        }
    }
}

fn ledger_unwritable(file: &LedgerFile, e: &std::io::Error) -> String {
    format!(
        "cannot keep the audit ledger {}: {e}; if this run is killed, its audit settings stay",
        file.path().display()
    )
}

/// Undoes what a source changed in the kernel. Shared by the source and its [`RestoreHandle`]s.
#[derive(Debug)]
pub struct Restorer {
    changes: Mutex<Option<Changes>>,
}

/// Errors met while restoring (each step is tried even if an earlier one failed).
pub type RestoreErrors = Vec<AuditError>;

impl Restorer {
    /// Undo every recorded change, once: delete Warden's rules (exact bytes), unregister the
    /// daemon pid if Warden holds it, and put back `backlog_wait_time`, `backlog_limit` and
    /// `enabled` where they still have the value Warden set. Later calls do nothing.
    pub fn restore(&self) -> Result<(), RestoreErrors> {
        // A panic hook may run while another thread restores: wait a little, never forever.
        let deadline = Instant::now() + Duration::from_secs(10);
        let taken = loop {
            match self.changes.try_lock() {
                Ok(mut g) => break g.take(),
                Err(std::sync::TryLockError::Poisoned(p)) => break p.into_inner().take(),
                Err(std::sync::TryLockError::WouldBlock) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(std::sync::TryLockError::WouldBlock) => return Ok(()),
            }
        };
        let Some(mut c) = taken else { return Ok(()) };
        let mut errors = Vec::new();
        for rule in c.rules.iter().rev() {
            if let Err(e) = c.control.delete_rule(rule) {
                // ENOENT: already gone (someone ran auditctl -D); nothing to undo.
                if !matches!(&e, AuditError::Io { source, .. } if source.raw_os_error() == Some(libc::ENOENT))
                {
                    errors.push(e);
                }
            }
        }
        let now = c.control.status();
        if c.registered {
            let ours = now
                .as_ref()
                .map(|s| s.pid == std::process::id())
                .unwrap_or(true);
            if ours && let Err(e) = c.control.unregister() {
                errors.push(e);
            }
        }
        let still = |get: fn(&AuditStatus) -> Option<u32>, ch: &Changed| match &now {
            Ok(s) => get(s) == Some(ch.ours),
            Err(_) => true,
        };
        if let Some(ch) = c.backlog_wait_time
            && still(|s| s.backlog_wait_time, &ch)
            && let Err(e) = c.control.set_backlog_wait_time(ch.original)
        {
            errors.push(e);
        }
        if let Some(ch) = c.backlog_limit
            && still(|s| Some(s.backlog_limit), &ch)
            && let Err(e) = c.control.set_backlog_limit(ch.original)
        {
            errors.push(e);
        }
        if let Some(ch) = c.enabled
            && still(|s| Some(s.enabled), &ch)
            && let Err(e) = c.control.set_enabled(ch.original)
        {
            errors.push(e);
        }
        if errors.is_empty() {
            // A ledger left behind is only read again, harmlessly, by the next start.
            if let Some((file, _)) = &c.ledger {
                let _ = file.remove();
            }
            Ok(())
        } else {
            Err(errors)
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut Changes) -> R) -> Option<R> {
        lock(&self.changes).as_mut().map(f)
    }

    /// Adds back every Warden rule someone deleted meanwhile (`auditctl -D`, another tool's
    /// cleanup), found by comparing the kernel's list with what was installed (list, filter,
    /// action, fields and syscalls; the kernel's bytes may differ from ours). Listing changes
    /// nothing and logs nothing, where a probing add would log a CONFIG_CHANGE record for every
    /// rule each time. Returns how many came back; nothing once restored.
    pub fn reinstall_missing(&self) -> u64 {
        self.with(|c| {
            let Ok(listed) = c.control.list_rules() else {
                return 0;
            };
            let same = |a: &RuleData, b: &RuleData| {
                (a.list, a.action, &a.fields, a.mask) == (b.list, b.action, &b.fields, b.mask)
            };
            let mut back = 0;
            for rule in &c.rules {
                let Ok(ours) = RuleData::decode(rule) else {
                    continue;
                };
                if !listed.iter().any(|l| same(l, &ours)) && c.control.add_rule(rule).is_ok() {
                    back += 1;
                }
            }
            back
        })
        .unwrap_or(0)
    }
}

impl Drop for Restorer {
    fn drop(&mut self) {
        let _ = self.restore();
    }
}

/// A cloneable handle that restores the kernel's audit state from anywhere (a signal-handling
/// thread, a panic hook). Restoring twice is harmless.
#[derive(Clone, Debug)]
pub struct RestoreHandle(Arc<Restorer>);

impl RestoreHandle {
    /// See [`Restorer::restore`].
    pub fn restore(&self) -> Result<(), RestoreErrors> {
        self.0.restore()
    }
}

static ACTIVE: Mutex<Vec<Weak<Restorer>>> = Mutex::new(Vec::new());

/// Restore every audit source of this process that is still running (see
/// [`Restorer::restore`]). For a signal-handling thread (e.g. one blocked in `sigwait`) or a
/// panic hook — not for the inside of an async signal handler, which must not take locks.
pub fn restore_all() -> Result<(), RestoreErrors> {
    let live: Vec<Arc<Restorer>> = {
        let mut list = match ACTIVE.try_lock() {
            Ok(g) => g,
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => lock(&ACTIVE),
        };
        list.retain(|w| w.strong_count() > 0);
        list.iter().filter_map(Weak::upgrade).collect()
    };
    let mut errors = Vec::new();
    for r in live {
        if let Err(e) = r.restore() {
            errors.extend(e);
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Chain a panic hook that calls [`restore_all`] before the previous hook runs, so a panic in
/// any thread leaves no rules or daemon registration behind.
pub fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let _ = restore_all();
        previous(info);
    }));
}

/// A running audit source. Stop it with [`AuditSource::stop`] or by dropping it.
#[derive(Debug)]
pub struct AuditSource {
    report: SourceReport,
    restorer: Arc<Restorer>,
    stop: Arc<AtomicBool>,
    stats: Arc<Mutex<AuditStats>>,
    thread: Option<JoinHandle<()>>,
}

/// Puts back the settings a killed run named in its ledger, where they still hold its values,
/// and removes the ledger; leaves a live run's alone. For the start of a source and for
/// `warden cleanup`.
pub fn settle(file: &LedgerFile, control: &mut AuditControl) -> Result<Settled, AuditError> {
    let io = |op| move |source| AuditError::Io { op, source };
    let ledger = match file.read().map_err(io("read the audit ledger"))? {
        None => return Ok(Settled::Clean),
        Some(Err(e)) => {
            file.remove()
                .map_err(io("remove an unreadable audit ledger"))?;
            return Ok(Settled::Unreadable(e.to_string()));
        }
        Some(Ok(ledger)) => ledger,
    };
    if boot_id().is_some_and(|b| b != ledger.boot_id) {
        file.remove()
            .map_err(io("remove an old boot's audit ledger"))?;
        return Ok(Settled::OtherBoot);
    }
    if ledger.owner.is_alive() {
        return Ok(Settled::OwnerRuns(ledger.owner.pid));
    }
    let now = control.status()?;
    let restored = ledger.undo(&now);
    for change in &restored {
        match change.setting {
            Setting::BacklogWaitTime => control.set_backlog_wait_time(change.original)?,
            Setting::BacklogLimit => control.set_backlog_limit(change.original)?,
            Setting::Enabled => control.set_enabled(change.original)?,
        }
    }
    let kept = ledger.changed_since(&now);
    file.remove().map_err(io("remove the audit ledger"))?;
    Ok(Settled::Restored {
        pid: ledger.owner.pid,
        restored,
        kept,
    })
}

/// Reads the socket of each network call of `batch` ([`NetEvent::socket`]), the handshake of
/// each connect that said `EINPROGRESS` ([`NetEvent::first_look`]) and, with `cookies`, each
/// TCP connection's cookie ([`NetEvent::cookie`]), unless a later connect of the batch took the
/// descriptor ([`replaced_in`]): the look would find the newer socket.
fn probe_sockets(batch: &mut [AuditOutput], cookies: bool) {
    let replaced = replaced_in(batch);
    for (output, replaced) in batch.iter_mut().zip(replaced) {
        let (AuditOutput::Net(net), Some(replaced)) = (output, replaced) else {
            continue;
        };
        let Some(fd) = net.fd.and_then(|fd| i32::try_from(fd).ok()) else {
            continue;
        };
        // Borrowed once, read for both.
        let socket = (!replaced)
            .then(|| crate::socket_probe::Borrowed::of(net.subject.pid, fd).ok())
            .flatten();
        net.socket = socket.as_ref().and_then(|s| s.facts().ok());
        let tcp = net
            .socket
            .as_ref()
            .is_some_and(|s| s.protocol == libc::IPPROTO_TCP);
        let connected = net.success == Some(true) || net.errno == Some("EINPROGRESS");
        net.cookie = match net.call {
            _ if !cookies => None,
            NetCall::Connect if tcp && connected => socket.as_ref().and_then(|s| s.cookie().ok()),
            // The connection is the new socket, the call's result: the one whose peer the
            // record names, if it names one (the number may have been taken again since).
            NetCall::Accept | NetCall::Accept4 if tcp => net
                .exit
                .and_then(|new| i32::try_from(new).ok())
                .filter(|&new| new >= 0)
                .and_then(|new| crate::socket_probe::Borrowed::of(net.subject.pid, new).ok())
                .filter(|new| {
                    net.addr.is_none()
                        || new
                            .facts()
                            .is_ok_and(|f| f.remote.as_ref() == net.addr.as_ref())
                })
                .and_then(|new| new.cookie().ok()),
            _ => None,
        };
        if net.call == NetCall::Connect && net.errno == Some("EINPROGRESS") {
            let facts = socket.as_ref().and_then(|s| s.handshake().ok());
            net.first_look = Some(super::net::FirstLook {
                facts,
                at: Instant::now(),
                time_ns: crate::procfs::realtime_ns(),
            });
        }
    }
}

/// For each event of a batch, in order: `None` unless it is a network call with a descriptor;
/// then whether its socket is surely gone: it is a connect, and a later connect of the batch,
/// on the same descriptor of the same process, went to a newer socket (a socket connects once:
/// asked again, it says `EALREADY` while its handshake is under way and `EISCONN` once
/// connected).
fn replaced_in(batch: &[AuditOutput]) -> Vec<Option<bool>> {
    let mut later_connects = std::collections::HashSet::new();
    let mut found = vec![None; batch.len()];
    for (i, output) in batch.iter().enumerate().rev() {
        let AuditOutput::Net(net) = output else {
            continue;
        };
        let Some(fd) = net.fd else {
            continue;
        };
        let key = (net.subject.pid, fd);
        let connect = net.call == NetCall::Connect;
        found[i] = Some(connect && later_connects.contains(&key));
        if connect && !matches!(net.errno, Some("EALREADY" | "EISCONN")) {
            later_connects.insert(key);
        }
    }
    found
}

fn process_comm(pid: u32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|s| s.trim_end().to_owned())
}

impl AuditSource {
    /// Start: pick the mode, install rules, spawn the reader. Returns the source and the
    /// receiving end of its channel. On error everything already changed is undone.
    pub fn start(
        config: AuditSourceConfig,
    ) -> Result<(AuditSource, Receiver<AuditOutput>), AuditError> {
        let mut control = AuditControl::open()?;
        let settled = match &config.ledger {
            Some(path) => match settle(&LedgerFile::new(path), &mut control) {
                Ok(Settled::Clean) => None,
                Ok(settled) => Some(settled.to_string()),
                Err(e) => Some(format!(
                    "could not put back the audit settings an earlier run left: {e}"
                )),
            },
            None => None,
        };
        let initial = control.status()?;
        let restorer = Arc::new(Restorer {
            changes: Mutex::new(None),
        });
        let result = Self::setup(&config, control, initial, &restorer);
        match result {
            Ok((mut report, reader_sock, early, poll)) => {
                report.notes.splice(0..0, settled);
                {
                    let mut list = lock(&ACTIVE);
                    list.retain(|w| w.strong_count() > 0);
                    list.push(Arc::downgrade(&restorer));
                }
                let (tx, rx) = crate::queue::bounded_lazy(config.channel_capacity);
                let stop = Arc::new(AtomicBool::new(false));
                let stats = Arc::new(Mutex::new(AuditStats {
                    kernel_lost_at_start: initial.lost,
                    ..AuditStats::default()
                }));
                let reader = Reader {
                    sock: reader_sock,
                    poll,
                    tx,
                    stop: stop.clone(),
                    shared: stats.clone(),
                    stats: AuditStats {
                        kernel_lost_at_start: initial.lost,
                        ..AuditStats::default()
                    },
                    assembler: Assembler::new(config.assembler),
                    key: config.key.clone().into_bytes(),
                    forward_other: config.forward_other_events,
                    probe_sockets: config.probe_sockets,
                    socket_cookies: config.socket_cookies,
                    status_interval: config.status_interval,
                    started: Instant::now(),
                    last_lost: initial.lost,
                    restorer: restorer.clone(),
                };
                let thread = std::thread::Builder::new()
                    .name("warden-audit".into())
                    .spawn(move || reader.run(early))
                    .map_err(|source| AuditError::Io {
                        op: "spawn audit reader thread",
                        source,
                    });
                let thread = match thread {
                    Ok(t) => t,
                    Err(e) => {
                        let _ = restorer.restore();
                        return Err(e);
                    }
                };
                Ok((
                    AuditSource {
                        report,
                        restorer,
                        stop,
                        stats,
                        thread: Some(thread),
                    },
                    rx,
                ))
            }
            Err(e) => {
                let _ = restorer.restore();
                Err(e)
            }
        }
    }

    #[allow(clippy::type_complexity)]
    fn setup(
        config: &AuditSourceConfig,
        control: AuditControl,
        initial: AuditStatus,
        restorer: &Arc<Restorer>,
    ) -> Result<
        (
            SourceReport,
            AuditSocket,
            Vec<(u16, Vec<u8>)>,
            Option<AuditControl>,
        ),
        AuditError,
    > {
        *lock(&restorer.changes) = Some(Changes {
            control,
            rules: Vec::new(),
            registered: false,
            enabled: None,
            backlog_limit: None,
            backlog_wait_time: None,
            ledger: None,
        });
        let mut notes = Vec::new();
        // The ledger names this run even before it changes anything, so `warden cleanup`
        // knows the rules with its key are a live run's.
        if let Some(path) = &config.ledger {
            let file = LedgerFile::new(path);
            match (boot_id(), Owner::this_process()) {
                (Some(boot_id), Some(owner)) => {
                    let ledger = Ledger {
                        boot_id,
                        owner,
                        changes: Vec::new(),
                    };
                    match file.write(&ledger) {
                        Ok(()) => restorer.with(|c| c.ledger = Some((file, ledger))),
                        Err(e) => {
                            notes.push(ledger_unwritable(&file, &e));
                            None
                        }
                    };
                }
                _ => notes.push(format!(
                    "cannot keep the audit ledger {}: /proc gives no boot id or process start time",
                    path.display()
                )),
            }
        }
        let locked = initial.enabled == 2;
        let key = config.key.as_bytes();

        // Stale rules of a killed run.
        let mut stale = 0;
        if config.remove_stale_rules && !locked {
            let rules = restorer
                .with(|c| c.control.list_rules())
                .unwrap_or(Ok(Vec::new()))?;
            for r in rules.iter().filter(|r| r.has_key(key)) {
                restorer
                    .with(|c| c.control.delete_rule(&r.raw))
                    .unwrap_or(Ok(()))?;
                stale += 1;
            }
            if stale > 0 {
                notes.push(format!(
                    "removed {stale} stale audit rule(s) with key {:?} left by a previous run that did not stop cleanly",
                    config.key
                ));
            }
        }

        // Mode.
        let me = std::process::id();
        let (mut mode, mut reason) = if locked {
            (
                ReadMode::Multicast,
                "audit is locked (enabled=2) until reboot: reading the multicast group read-only; rules and settings cannot change".to_owned(),
            )
        } else if config.force_multicast {
            (
                ReadMode::Multicast,
                "multicast forced by configuration: reading AUDIT_NLGRP_READLOG read-only"
                    .to_owned(),
            )
        } else if initial.pid == 0 {
            (
                ReadMode::Unicast,
                "no audit daemon registered: Warden took the daemon slot (unicast, reliable)"
                    .to_owned(),
            )
        } else if initial.pid != me && !Path::new(&format!("/proc/{}", initial.pid)).exists() {
            (
                ReadMode::Unicast,
                format!(
                    "registered audit daemon pid {} no longer exists (killed without unregistering): Warden took the daemon slot (unicast, reliable)",
                    initial.pid
                ),
            )
        } else {
            let who = if initial.pid == me {
                "this process (another socket)".to_owned()
            } else {
                match process_comm(initial.pid) {
                    Some(c) => format!("pid {} ({c})", initial.pid),
                    None => format!("pid {}", initial.pid),
                }
            };
            (
                ReadMode::Multicast,
                format!(
                    "the audit daemon slot is held by {who}: reading the multicast group AUDIT_NLGRP_READLOG read-only; that daemon keeps flow control, and a receive-buffer overrun loses records for Warden only"
                ),
            )
        };

        let mut early = Vec::new();
        let mut reader: Option<AuditSocket> = None;
        let mut granted = 0;
        if mode == ReadMode::Unicast {
            let mut daemon = AuditControl::open()?;
            let (got, _) = daemon.socket().set_receive_buffer(config.receive_buffer);
            granted = got;
            match daemon.register(|ty, body| early.push((ty, body.to_vec()))) {
                Ok(()) => {
                    restorer.with(|c| c.registered = true);
                    reader = Some(daemon.into_socket());
                }
                Err(AuditError::SlotTaken { .. }) => {
                    mode = ReadMode::Multicast;
                    reason = "the kernel refused the daemon slot (EEXIST: a live daemon answered): reading the multicast group AUDIT_NLGRP_READLOG read-only".to_owned();
                }
                Err(e) => return Err(e),
            }
        }
        let reader = match reader {
            Some(r) => r,
            None => {
                let s = AuditSocket::open_multicast()?;
                granted = s.set_receive_buffer(config.receive_buffer).0;
                s
            }
        };

        // Settings.
        if !locked {
            let mut set = |setting: Setting,
                           want: u32,
                           apply: fn(&mut AuditControl, u32) -> Result<(), AuditError>,
                           slot: fn(&mut Changes) -> &mut Option<Changed>|
             -> Result<(), AuditError> {
                let Some(cur) = setting.of(&initial) else {
                    return Ok(());
                };
                if cur == want {
                    return Ok(());
                }
                restorer
                    .with(|c| {
                        let change = SettingChange {
                            setting,
                            original: cur,
                            ours: want,
                        };
                        c.enter_in_ledger(change, &mut notes);
                        apply(&mut c.control, want)?;
                        *slot(c) = Some(Changed {
                            original: cur,
                            ours: want,
                        });
                        Ok::<(), AuditError>(())
                    })
                    .unwrap_or(Ok(()))?;
                Ok(())
            };
            if mode == ReadMode::Unicast {
                set(
                    Setting::BacklogLimit,
                    config.backlog_limit,
                    AuditControl::set_backlog_limit,
                    |c| &mut c.backlog_limit,
                )?;
                set(
                    Setting::BacklogWaitTime,
                    config.backlog_wait_time,
                    AuditControl::set_backlog_wait_time,
                    |c| &mut c.backlog_wait_time,
                )?;
            }
            if config.enable_audit && initial.enabled == 0 {
                set(Setting::Enabled, 1, AuditControl::set_enabled, |c| {
                    &mut c.enabled
                })?;
                notes.push("audit was disabled: Warden enabled it (restored at stop)".to_owned());
            }
        }

        // Rules.
        let mut installed = 0;
        if !locked {
            for rule in &config.rules {
                let bytes = rule.encode()?;
                let added = restorer
                    .with(|c| match c.control.add_rule(&bytes) {
                        Ok(()) => {
                            c.rules.push(bytes.clone());
                            Ok(true)
                        }
                        Err(AuditError::Io { source, .. })
                            if source.raw_os_error() == Some(libc::EEXIST) =>
                        {
                            Ok(false)
                        }
                        Err(e) => Err(e),
                    })
                    .unwrap_or(Ok(false))?;
                if added {
                    installed += 1;
                } else {
                    notes.push(format!(
                        "an identical rule is already installed (not Warden's: left in place at stop): {rule:?}"
                    ));
                }
            }
        } else if !config.rules.is_empty() {
            notes.push("audit is locked: Warden's rules were not installed".to_owned());
        }

        // A second control socket for the reader's periodic status reads.
        let poll = AuditControl::open().ok();
        Ok((
            SourceReport {
                mode,
                reason,
                initial,
                rules_installed: installed,
                stale_rules_removed: stale,
                receive_buffer: granted,
                notes,
            },
            reader,
            early,
            poll,
        ))
    }

    /// What was decided at start.
    pub fn report(&self) -> &SourceReport {
        &self.report
    }

    /// A snapshot of the counters (updated by the reader after every batch).
    pub fn stats(&self) -> AuditStats {
        lock(&self.stats).clone()
    }

    /// Installs more rules while the source runs (a watch on a credential store made since the
    /// start), removed at stop with the others; how many were added (an identical rule already
    /// there is left alone, as at start). Nothing once the source is stopped.
    pub fn add_rules(&self, rules: &[AuditRule]) -> Result<usize, AuditError> {
        let mut added = 0;
        for rule in rules {
            let bytes = rule.encode()?;
            let result = self.restorer.with(|c| match c.control.add_rule(&bytes) {
                Ok(()) => {
                    c.rules.push(bytes);
                    Ok(true)
                }
                Err(AuditError::Io { source, .. })
                    if source.raw_os_error() == Some(libc::EEXIST) =>
                {
                    Ok(false)
                }
                Err(e) => Err(e),
            });
            if result.transpose()? == Some(true) {
                added += 1;
            }
        }
        Ok(added)
    }

    /// A handle that restores the kernel state from another thread or a panic hook.
    pub fn restore_handle(&self) -> RestoreHandle {
        RestoreHandle(self.restorer.clone())
    }

    /// Stop: remove the rules and restore the settings first (so no new records come), then let
    /// the reader drain its socket, flush the assembler and exit. Idempotent.
    pub fn stop(&mut self) -> Result<(), RestoreErrors> {
        let restored = self.restorer.restore();
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        restored
    }
}

impl Drop for AuditSource {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// The reader thread's state.
struct Reader {
    sock: AuditSocket,
    poll: Option<AuditControl>,
    tx: crate::queue::BoundedSender<AuditOutput>,
    stop: Arc<AtomicBool>,
    shared: Arc<Mutex<AuditStats>>,
    stats: AuditStats,
    assembler: Assembler,
    key: Vec<u8>,
    forward_other: bool,
    probe_sockets: bool,
    socket_cookies: bool,
    status_interval: Duration,
    started: Instant,
    last_lost: u32,
    restorer: Arc<Restorer>,
}

/// Receive buffer: the largest audit record is MAX_AUDIT_MESSAGE_LENGTH (8970) bytes.
const READ_BUF: usize = 64 * 1024;
/// Most datagrams handled before counters are published and the stop flag checked.
const BATCH: usize = 256;

impl Reader {
    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn run(mut self, early: Vec<(u16, Vec<u8>)>) {
        let mut out = Vec::new();
        for (ty, body) in early {
            self.stats.datagrams += 1;
            self.record(ty, &body, &mut out);
        }
        self.emit(&mut out);
        let mut buf = vec![0u8; READ_BUF];
        let mut last_status = Instant::now();
        loop {
            let stopping = self.stop.load(Ordering::SeqCst);
            let wait = if stopping {
                Duration::ZERO
            } else {
                Duration::from_millis(100)
            };
            let mut got = 0;
            let mut r = self.sock.recv(&mut buf, wait);
            loop {
                match r {
                    Ok(Some(n)) => {
                        got += 1;
                        self.datagram(&buf[..n], &mut out);
                    }
                    Ok(None) => break,
                    Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                        self.stats.socket_overruns += 1;
                    }
                    Err(_) => {
                        self.stats.receive_errors += 1;
                        std::thread::sleep(Duration::from_millis(10));
                        break;
                    }
                }
                // Checked before receiving the next one: a datagram taken off the socket must
                // be handled (once this dropped every 257th record under load).
                if got >= BATCH {
                    break;
                }
                r = self.sock.try_recv(&mut buf);
            }
            let now = self.now_ms();
            self.assembler.flush_expired(now, &mut out);
            self.emit(&mut out);
            if last_status.elapsed() >= self.status_interval {
                last_status = Instant::now();
                self.poll_status();
            }
            if stopping {
                self.assembler.flush_all(&mut out);
                self.emit(&mut out);
                self.poll_status();
                self.publish();
                return;
            }
            self.publish();
            // An exec is ~7 records sent one by one: after a batch that emptied the socket,
            // let records gather for a moment rather than waking for each one.
            if got > 0 && got < BATCH {
                std::thread::sleep(COALESCE);
            }
        }
    }

    fn publish(&mut self) {
        self.stats.assembler = *self.assembler.stats();
        *lock(&self.shared) = self.stats.clone();
    }

    fn poll_status(&mut self) {
        let Some(ctl) = self.poll.as_mut() else {
            return;
        };
        match ctl.status() {
            Ok(s) => {
                self.stats.kernel_lost += u64::from(s.lost.wrapping_sub(self.last_lost));
                self.last_lost = s.lost;
                self.stats.kernel_backlog = s.backlog;
            }
            Err(_) => self.stats.status_errors += 1,
        }
        self.stats.rules_reinstalled += self.restorer.reinstall_missing();
    }

    fn datagram(&mut self, d: &[u8], out: &mut Vec<Event>) {
        self.stats.datagrams += 1;
        let Ok((ty, ..)) = wire::header(d) else {
            self.stats.bad_datagrams += 1;
            return;
        };
        match ty {
            msgtype::REPLACE => self.stats.replace_probes += 1,
            t if t < 1100 => self.stats.control_messages += 1,
            _ => self.record(ty, wire::record_body(d), out),
        }
    }

    fn record(&mut self, ty: u16, body: &[u8], out: &mut Vec<Event>) {
        match parse_record(ty, body) {
            Ok(rec) => {
                self.stats.records += 1;
                let now = self.now_ms();
                self.assembler.push(rec, now, out);
            }
            Err(e) => self.stats.malformed.count(&e),
        }
    }

    fn has_key(&self, ev: &Event) -> bool {
        ev.record(msgtype::SYSCALL)
            .and_then(|r| r.get("key"))
            .and_then(Value::bytes)
            .is_some_and(|k| k.split(|b| *b == 0x01).any(|p| p == self.key.as_slice()))
    }

    /// The network or file view of an event of Warden's rules that is not an exec.
    fn view_of(&mut self, ev: Event) -> AuditOutput {
        match NetEvent::from_event(&ev) {
            Ok(net) => {
                self.stats.net_events += 1;
                return AuditOutput::Net(Box::new(net));
            }
            Err(NetError::NotNet) => {}
            Err(_) => {
                self.stats.view_errors += 1;
                return AuditOutput::Event(ev);
            }
        }
        match FileOp::from_event(&ev) {
            Some(Ok(op)) => {
                self.stats.file_events += 1;
                AuditOutput::File(Box::new(op))
            }
            Some(Err(_)) => {
                self.stats.view_errors += 1;
                AuditOutput::Event(ev)
            }
            None => {
                self.stats.other_events += 1;
                AuditOutput::Event(ev)
            }
        }
    }

    fn emit(&mut self, out: &mut Vec<Event>) {
        let mut outputs = Vec::with_capacity(out.len());
        for ev in out.drain(..) {
            if ev.end == EventEnd::Timeout
                && ev.records.iter().all(|r| r.rtype == msgtype::CONFIG_CHANGE)
            {
                // A rule change made by a process whose own syscall is not audited (Warden
                // installing its rules, auditctl) is a lone CONFIG_CHANGE that no EOE follows:
                // complete, though closed by the timeout.
                self.stats.lone_config_changes += 1;
            }
            let msg = if self.has_key(&ev) {
                match ExecEvent::from_event(&ev) {
                    Ok(x) => {
                        self.stats.exec_events += 1;
                        AuditOutput::Exec(Box::new(x))
                    }
                    // Warden's network and file rules: their views are built here, beside the
                    // parsing, so the channel carries small events and the agent's thread less work.
                    Err(ExecError::NotExec) => self.view_of(ev),
                    Err(_) => {
                        self.stats.exec_errors += 1;
                        self.stats.other_events += 1;
                        AuditOutput::Event(ev)
                    }
                }
            } else if self.forward_other {
                self.stats.other_events += 1;
                AuditOutput::Event(ev)
            } else {
                self.stats.other_events_skipped += 1;
                continue;
            };
            outputs.push(msg);
        }
        if self.probe_sockets {
            probe_sockets(&mut outputs, self.socket_cookies);
        }
        for msg in outputs {
            if self.tx.try_send(msg).is_err() {
                self.stats.channel_dropped += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::subject::Subject;

    fn connect(pid: u32, fd: u64, errno: Option<&'static str>) -> AuditOutput {
        AuditOutput::Net(Box::new(NetEvent {
            id: Default::default(),
            complete: true,
            arch: crate::audit::exec::arch::X86_64,
            syscall: 42,
            call: NetCall::Connect,
            success: Some(errno.is_none()),
            exit: Some(if errno.is_some() { -115 } else { 0 }),
            errno,
            subject: Subject {
                pid,
                ..Subject::default()
            },
            fd: Some(fd),
            addr: None,
            addr_raw: None,
            keys: Vec::new(),
            socket: None,
            first_look: None,
            cookie: None,
            asked: None,
            filter: None,
        }))
    }

    #[test]
    fn a_later_connect_on_the_same_descriptor_replaces_a_connects_socket() {
        let mut bind = connect(77, 6, None);
        if let AuditOutput::Net(net) = &mut bind {
            net.call = NetCall::Bind;
        }
        let batch = [
            connect(77, 3, Some("EINPROGRESS")),
            connect(77, 3, Some("EALREADY")),
            connect(77, 4, Some("EINPROGRESS")),
            connect(78, 3, Some("EINPROGRESS")),
            bind,
            connect(77, 6, None),
            connect(77, 3, None),
        ];
        assert_eq!(
            replaced_in(&batch),
            [
                Some(true),
                Some(true),
                Some(false),
                Some(false),
                Some(false),
                Some(false),
                Some(false)
            ],
            "the connects on descriptor 3 before the last; a bind is no connect's"
        );
    }

    #[test]
    fn a_replaced_or_closed_socket_is_not_read() {
        let mut batch = [
            connect(std::process::id(), 987_654, Some("EINPROGRESS")),
            connect(std::process::id(), 987_654, Some("EINPROGRESS")),
        ];
        probe_sockets(&mut batch, true);
        for output in &batch {
            let AuditOutput::Net(net) = output else {
                unreachable!()
            };
            let look = net.first_look.as_ref().expect("looked at");
            assert_eq!(look.facts, None, "no such descriptor, or replaced");
            assert_eq!(net.socket, None);
        }
    }
}

//! The process table itself: entries keyed by an internal id, indexed by pid and by key, with
//! the exited queue and the live leaves that bound its memory.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use warden_core::{
    Argv, BootId, ExecEvent, ExitEvent, ForkEvent, Parent, Process, ProcessKey, Source,
};

use crate::facts::{ExecFact, ExitFact, ForkFact, ProcSource, SeedProcess};

/// Limits and tolerances of the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableConfig {
    /// How long (boot-time nanoseconds) an exited entry is kept so late events still attach.
    pub grace_ns: u64,
    /// Most entries kept, live and exited. Values below 16 are raised to 16.
    pub max_entries: usize,
    /// How many ticks a start time derived from a fork timestamp may differ from an exact one
    /// (from /proc or a fact) and still be the same process.
    pub derived_ticks_slack: u64,
}

impl Default for TableConfig {
    fn default() -> Self {
        TableConfig {
            grace_ns: 10_000_000_000,
            max_entries: 65_536,
            derived_ticks_slack: 2,
        }
    }
}

/// What the table dropped or could not place; exported as metrics and loss events by the caller.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TableStats {
    /// Entries retired because their pid came back with another start time, or because
    /// [`ProcessTable::sweep`] found them gone (exit never reported).
    pub retired: u64,
    /// Exited entries removed after their grace period.
    pub reaped: u64,
    /// Exited entries evicted early by the cap.
    pub evicted_exited: u64,
    /// Live entries evicted by the cap.
    pub evicted_live: u64,
    /// Exits of a pid the table did not know (dropped: no identity).
    pub unknown_exits: u64,
    /// Exits of a process the table never knew, reported with the identity the exit carried
    /// (it started before the sources were attached and ended before /proc was read, or its
    /// fork was lost).
    pub unseen_exits: u64,
    /// Exits of a process already marked exited (dropped).
    pub duplicate_exits: u64,
    /// Forks of a child already created by a fork (dropped).
    pub duplicate_forks: u64,
    /// Malformed facts (pid 0, a process forking itself), dropped.
    pub malformed: u64,
    /// Execs reported without a key because no start time could be found.
    pub unkeyed_execs: u64,
}

/// The image a process ran before its last exec in place.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PreviousImage {
    /// Executable path of the previous image.
    pub exe: Option<Vec<u8>>,
    /// Its arguments.
    pub args: Argv,
}

/// Credentials and image of a process; shared between a parent and its forked children until one
/// of them execs.
#[derive(Clone, Debug, Default)]
struct Image {
    uid: Option<u32>,
    euid: Option<u32>,
    gid: Option<u32>,
    egid: Option<u32>,
    auid: Option<u32>,
    session: Option<u32>,
    tty: Option<String>,
    comm: Option<String>,
    exe: Option<Vec<u8>>,
    args: Argv,
    cwd: Option<Vec<u8>>,
}

impl Image {
    fn from_seed(p: &SeedProcess) -> Image {
        Image {
            uid: p.uid,
            euid: p.euid,
            gid: p.gid,
            egid: p.egid,
            auid: p.auid,
            session: p.session,
            tty: p.tty.clone(),
            comm: p.comm.clone(),
            exe: p.exe.clone(),
            args: p.args.clone(),
            cwd: p.cwd.clone(),
        }
    }

    /// The image after `f`: the new program's fields; credentials, session and cwd fall back to
    /// the old image's when the fact lacks them (exec does not change them unless setuid).
    fn after_exec(f: &ExecFact, old: &Image) -> Image {
        Image {
            uid: f.uid.or(old.uid),
            euid: f.euid.or(old.euid),
            gid: f.gid.or(old.gid),
            egid: f.egid.or(old.egid),
            auid: f.auid.or(old.auid),
            session: f.session.or(old.session),
            tty: f.tty.clone().or_else(|| old.tty.clone()),
            comm: f.comm.clone(),
            exe: f.exe.clone(),
            args: f.args.clone(),
            cwd: f.cwd.clone().or_else(|| old.cwd.clone()),
        }
    }
}

/// The link to the parent fixed at creation: its entry (while it exists) and a copy of its
/// identity for when it is gone.
#[derive(Clone, Copy, Debug)]
struct ParentLink {
    id: u64,
    key: Option<ProcessKey>,
    pid: u32,
}

#[derive(Clone, Copy, Debug)]
struct ExitState {
    boot_ns: u64,
    /// Set by [`ProcessTable::sweep`], which found the process gone before its exit arrived
    /// (an exit still queued or held in the pipeline): the real exit may still come, and is
    /// then reported.
    swept: bool,
}

#[derive(Debug)]
pub(crate) struct Entry {
    pid: u32,
    /// None while no start time is known (an exec whose /proc was already gone).
    pub(crate) key: Option<ProcessKey>,
    /// The start ticks came from /proc or a fact, not from a fork timestamp.
    exact: bool,
    /// The parent pid at creation.
    creation_ppid: Option<u32>,
    /// The parent pid last reported.
    ppid: Option<u32>,
    parent: Option<ParentLink>,
    /// The parent link came from a fork (authoritative), not from first sight.
    parent_from_fork: bool,
    /// A fork fact created or confirmed this entry.
    forked: bool,
    /// The image is known (seeded, copied from the parent at fork, or set by an exec).
    has_image: bool,
    image: Arc<Image>,
    previous: Option<Arc<Image>>,
    exit: Option<ExitState>,
    /// Exited, past its grace period, kept only because entries descend from it.
    held: bool,
    /// Entries whose parent link points here.
    pub(crate) children: u32,
}

impl Entry {
    fn new(pid: u32, key: Option<ProcessKey>, exact: bool, ppid: Option<u32>) -> Entry {
        Entry {
            pid,
            key,
            exact,
            creation_ppid: ppid,
            ppid,
            parent: None,
            parent_from_fork: false,
            forked: false,
            has_image: false,
            image: Arc::default(),
            previous: None,
            exit: None,
            held: false,
            children: 0,
        }
    }
}

/// The shadow process table. See the crate documentation for its rules.
#[derive(Debug)]
pub struct ProcessTable {
    boot: BootId,
    ns_per_tick: u64,
    boot_time_ns: i64,
    config: TableConfig,
    /// Ids grow with every insertion, so a parent's id is always below its children's.
    next_id: u64,
    pub(crate) entries: HashMap<u64, Entry>,
    /// The current entry of each pid (live, or exited within its grace).
    pub(crate) by_pid: HashMap<u32, u64>,
    pub(crate) by_key: HashMap<ProcessKey, u64>,
    /// Exited entries not yet reaped or held, by (exit boot ns, id).
    pub(crate) exited: BTreeSet<(u64, u64)>,
    /// Live entries without children, oldest first: the cap's second victims.
    pub(crate) live_leaves: BTreeSet<u64>,
    /// The latest boot-time nanoseconds seen in a fact or `reap` call.
    now_boot_ns: u64,
    stats: TableStats,
}

impl ProcessTable {
    /// An empty table for this boot. `clock_ticks_per_sec` is `sysconf(_SC_CLK_TCK)` (USER_HZ,
    /// 100 on Linux); `boot_time_ns` is the UTC time of boot in nanoseconds, used for `start_ns`.
    pub fn new(
        boot: BootId,
        clock_ticks_per_sec: u64,
        boot_time_ns: i64,
        config: TableConfig,
    ) -> ProcessTable {
        let config = TableConfig {
            max_entries: config.max_entries.max(16),
            ..config
        };
        ProcessTable {
            boot,
            ns_per_tick: (1_000_000_000 / clock_ticks_per_sec.max(1)).max(1),
            boot_time_ns,
            config,
            next_id: 0,
            entries: HashMap::new(),
            by_pid: HashMap::new(),
            by_key: HashMap::new(),
            exited: BTreeSet::new(),
            live_leaves: BTreeSet::new(),
            now_boot_ns: 0,
            stats: TableStats::default(),
        }
    }

    /// Entries held, live and exited.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the table holds no entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Counters of what was retired, reaped, evicted or dropped.
    pub fn stats(&self) -> TableStats {
        self.stats
    }

    /// The limits in force (`max_entries` raised to at least 16).
    pub fn config(&self) -> TableConfig {
        self.config
    }

    /// Loads the processes of a /proc scan, oldest first, linking each to the entry of its ppid.
    /// Returns one [`Source::ProcScan`] exec event per process added (processes already known
    /// under the same key are skipped; a known pid with another start time is retired first).
    pub fn seed(&mut self, mut procs: Vec<SeedProcess>) -> Vec<ExecEvent> {
        procs.sort_by_key(|p| (p.start_ticks, p.pid));
        let mut added = Vec::new();
        for p in &procs {
            if p.pid == 0 {
                self.stats.malformed += 1;
                continue;
            }
            let key = self.key(p.pid, p.start_ticks);
            if self.by_key.contains_key(&key) {
                continue;
            }
            self.reserve(1);
            if let Some(old) = self.by_pid.get(&p.pid).copied() {
                self.retire(old);
            }
            let id = self.insert_seed(p);
            added.push((id, p.ppid));
        }
        // Parents that sorted after their child (same start tick, wrapped pid).
        for &(id, ppid) in &added {
            let unlinked = self.entries.get(&id).is_some_and(|e| e.parent.is_none());
            if let (true, Some(ppid)) = (unlinked, ppid)
                && let Some(parent) = self.by_pid.get(&ppid).copied()
                && parent < id
            {
                self.link(id, parent);
            }
        }
        added
            .iter()
            .filter_map(|&(id, _)| self.entries.get(&id))
            .map(|e| ExecEvent {
                process: self.process(e),
                source: Source::ProcScan,
                syscall: None,
                success: true,
                exit: None,
                script: None,
            })
            .collect()
    }

    /// A new thread group. Returns the fork event, or None for a duplicate fork (the child was
    /// already created by a fork) or a malformed fact. The child starts with its parent's image.
    pub fn on_fork(&mut self, f: &ForkFact) -> Option<ForkEvent> {
        if f.child_pid == 0 || f.child_pid == f.parent_pid {
            self.stats.malformed += 1;
            return None;
        }
        self.advance(f.boot_ns);
        self.reserve(1);
        let (ticks, exact) = match f.child_start_ticks {
            Some(t) => (t, true),
            None => (
                ProcessKey::ticks_from_boot_ns(f.boot_ns, self.ticks_per_sec()),
                false,
            ),
        };
        let parent = self.by_pid.get(&f.parent_pid).copied();
        let child_key = self.key(f.child_pid, ticks);
        let existing = self.find_same(f.child_pid, ticks, exact);
        let id = match existing {
            Some(id) => {
                let e = self.entries.get_mut(&id)?;
                if e.forked {
                    self.stats.duplicate_forks += 1;
                    return None;
                }
                // An exec arrived before this fork: confirm the entry, fix its parent.
                e.forked = true;
                if e.key.is_none() {
                    e.key = Some(child_key);
                    e.exact = exact;
                    self.index_key(id);
                }
                let e = self.entries.get_mut(&id)?;
                e.creation_ppid = Some(f.parent_pid);
                // The fork's parent is authoritative over a first-sight ppid, when the table
                // knows it (a parent newer than the child cannot be linked: ids order parents).
                if !e.parent_from_fork
                    && let Some(parent) = parent.filter(|&p| p < id)
                {
                    e.parent_from_fork = true;
                    if e.parent.map(|p| p.id) != Some(parent) {
                        self.unlink(id);
                        self.link(id, parent);
                    }
                }
                if let Some(parent) = parent.and_then(|p| self.entries.get(&p)) {
                    let image = parent.image.clone();
                    let e = self.entries.get_mut(&id)?;
                    if e.has_image {
                        e.previous.get_or_insert(image);
                    } else {
                        e.image = image;
                        e.has_image = true;
                    }
                }
                id
            }
            None => {
                if let Some(old) = self.by_pid.get(&f.child_pid).copied() {
                    self.retire(old);
                }
                let mut e = Entry::new(f.child_pid, Some(child_key), exact, Some(f.parent_pid));
                e.forked = true;
                e.parent_from_fork = true;
                if let Some(p) = parent.and_then(|p| self.entries.get(&p)) {
                    e.image = p.image.clone();
                    e.has_image = p.has_image;
                }
                let id = self.insert(e);
                if let Some(parent) = parent {
                    self.link(id, parent);
                }
                id
            }
        };
        let e = self.entries.get(&id)?;
        let mut child = self.process(e);
        // The child as forked: a copy of the parent, whatever it exec'd since.
        if let Some(prev) = &e.previous {
            fill_image(&mut child, prev, true);
        }
        child.ppid = Some(f.parent_pid);
        child.original_ppid = None;
        Some(ForkEvent { child })
    }

    /// An exec. Finds the process by start time (the fact's, the table's entry for the pid,
    /// then `src`), retiring an entry whose pid was reused; creates it if unknown, linking the
    /// parent by `ppid` (looked up in `src` when the table lacks it). A successful exec replaces
    /// the image and keeps the old one as [`previous`](Self::previous); a failed one reports the
    /// attempted program without changing the table. The key is None only when no start time
    /// could be found anywhere.
    pub fn on_exec(&mut self, f: &ExecFact, src: &dyn ProcSource, source: Source) -> ExecEvent {
        let event = |process| ExecEvent {
            process,
            source,
            syscall: f.syscall.clone(),
            success: f.success,
            exit: f.exit,
            script: None,
        };
        if f.pid == 0 {
            // Malformed: report the fact as is.
            self.stats.malformed += 1;
            let mut process = Process {
                pid: f.pid,
                ppid: f.ppid,
                ..Process::default()
            };
            fill_image(&mut process, &Image::after_exec(f, &Image::default()), true);
            return event(process);
        }
        self.reserve(2);
        let id = self.resolve_exec(f, src);
        let e = self
            .entries
            .get_mut(&id)
            .expect("resolve_exec returns an entry");
        if let Some(ppid) = f.ppid {
            e.ppid = Some(ppid);
            e.creation_ppid.get_or_insert(ppid);
        }
        if f.success {
            let image = Arc::new(Image::after_exec(f, &e.image));
            if e.has_image {
                e.previous = Some(std::mem::replace(&mut e.image, image));
            } else {
                e.image = image;
            }
            e.has_image = true;
        }
        let e = &self.entries[&id];
        let mut process = self.process(e);
        if !f.success {
            fill_image(&mut process, &Image::after_exec(f, &e.image), true);
        }
        if process.key.is_none() {
            self.stats.unkeyed_execs += 1;
        }
        event(process)
    }

    /// A thread group ended. Returns the exit event, or None when the pid is unknown or already
    /// exited (both counted). The entry stays for the grace period. An exit with a start time
    /// is the exit of that process only: of another one than the pid's entry, or of a pid the
    /// table does not know, it is reported with the identity it carries alone.
    pub fn on_exit(&mut self, f: &ExitFact) -> Option<ExitEvent> {
        self.advance(f.boot_ns);
        let known = self.by_pid.get(&f.pid).copied().filter(|id| {
            let key = self.entries.get(id).and_then(|e| e.key);
            match (f.start_ticks, key) {
                (Some(ticks), Some(key)) => key.start_ticks == ticks,
                _ => true,
            }
        });
        let Some(id) = known else {
            let Some(ticks) = f.start_ticks else {
                self.stats.unknown_exits += 1;
                return None;
            };
            self.stats.unseen_exits += 1;
            let key = self.key(f.pid, ticks);
            let start_ns = self.start_ns(&key);
            return Some(ExitEvent {
                process: Process {
                    key: Some(key),
                    pid: f.pid,
                    start_ns: Some(start_ns),
                    ..Process::default()
                },
                exit_code: f.exit_code,
                signal: f.signal,
                duration_ns: Some(f.time_ns.saturating_sub(start_ns).max(0)),
            });
        };
        match self.entries.get(&id)?.exit {
            Some(ExitState { swept: true, .. }) => self.unsweep(id),
            Some(_) => {
                self.stats.duplicate_exits += 1;
                return None;
            }
            None => {}
        }
        self.mark_exited(id, f.boot_ns);
        let process = self.process(self.entries.get(&id)?);
        let duration_ns = process.start_ns.map(|s| f.time_ns.saturating_sub(s).max(0));
        Some(ExitEvent {
            process,
            exit_code: f.exit_code,
            signal: f.signal,
            duration_ns,
        })
    }

    /// The process now holding `pid` (live, or exited within its grace period).
    pub fn get(&self, pid: u32) -> Option<Process> {
        let id = self.by_pid.get(&pid)?;
        Some(self.process(self.entries.get(id)?))
    }

    /// The process now holding `pid` as the subject of an activity event: identity, ids,
    /// image path and parent, without argv or cwd (the process's exec event has them, one
    /// `entity_id` away) — cheap enough for every file and network event.
    pub fn subject(&self, pid: u32) -> Option<Process> {
        let id = self.by_pid.get(&pid)?;
        Some(self.view(self.entries.get(id)?, false))
    }

    /// The process that held `pid` and started at `start_ticks`, as the subject of an activity
    /// event, even if it has exited and its pid was reused since (until it is reaped): for
    /// what the kernel reports after the fact, away from the process (a connect's outcome).
    pub fn subject_started(&self, pid: u32, start_ticks: u64) -> Option<Process> {
        let key = ProcessKey {
            boot: self.boot,
            pid,
            start_ticks,
        };
        let id = self.by_key.get(&key)?;
        Some(self.view(self.entries.get(id)?, false))
    }

    /// When the process now holding `pid` exited (boot-time ns), if it has; None when it is
    /// live, unknown, or only found gone by a sweep (its real exit may still come).
    pub fn exited_at(&self, pid: u32) -> Option<u64> {
        let id = self.by_pid.get(&pid)?;
        let exit = self.entries.get(id)?.exit.as_ref()?;
        (!exit.swept).then_some(exit.boot_ns)
    }

    /// The process holding `pid`, loaded from `src` (with its parent linked if known) when the
    /// table lacks it. The caller uses it before [`on_fork`](Self::on_fork) for a parent the
    /// table may not know, since forks carry no /proc lookups of their own.
    pub fn lookup(&mut self, pid: u32, src: &dyn ProcSource) -> Option<Process> {
        if !self.by_pid.contains_key(&pid) {
            self.reserve(1);
        }
        let id = self.parent_by_pid(pid, src)?;
        Some(self.process(self.entries.get(&id)?))
    }

    /// The process with this key, even if its pid was since reused (until it is reaped).
    pub fn get_key(&self, key: &ProcessKey) -> Option<Process> {
        let id = self.by_key.get(key)?;
        Some(self.process(self.entries.get(id)?))
    }

    /// The process holding `pid`, then its parent, grandparent, ... as far as the table knows
    /// them (parents as fixed at creation, not after re-parenting). Empty if `pid` is unknown.
    pub fn ancestry(&self, pid: u32) -> Vec<Process> {
        let mut out = Vec::new();
        let mut next = self.by_pid.get(&pid).copied();
        while let Some(id) = next {
            let Some(e) = self.entries.get(&id) else {
                break;
            };
            out.push(self.process(e));
            // Parent ids are below their children's, so this ends; the bound is a safety net.
            next = e
                .parent
                .map(|p| p.id)
                .filter(|&p| p < id && out.len() <= self.entries.len());
        }
        out
    }

    /// The image the process holding `pid` ran before its last exec in place, if known.
    pub fn previous(&self, pid: u32) -> Option<PreviousImage> {
        let e = self.entries.get(self.by_pid.get(&pid)?)?;
        let prev = e.previous.as_ref()?;
        Some(PreviousImage {
            exe: prev.exe.clone(),
            args: prev.args.clone(),
        })
    }

    /// Removes exited entries whose grace period ended by `now_boot_ns`, except those live or
    /// recent entries descend from (kept for trees, removed when their last descendant goes).
    /// Returns how many were removed.
    pub fn reap(&mut self, now_boot_ns: u64) -> usize {
        self.advance(now_boot_ns);
        let before = self.stats.reaped;
        while let Some(&(at, id)) = self.exited.first() {
            if at.saturating_add(self.config.grace_ns) > now_boot_ns {
                break;
            }
            self.exited.remove(&(at, id));
            let has_children = self.entries.get(&id).is_some_and(|e| e.children > 0);
            if has_children {
                if let Some(e) = self.entries.get_mut(&id) {
                    e.held = true;
                }
            } else {
                self.stats.reaped += 1;
                self.remove(id);
            }
        }
        (self.stats.reaped - before) as usize
    }

    /// Checks every live entry against `src` and retires those whose pid is gone or holds
    /// another process (their exit was lost: the connector drops under load, audit never sees
    /// death by signal). Costs one `start_ticks` lookup per live entry; call it every few
    /// seconds. Returns how many were retired.
    pub fn sweep(&mut self, now_boot_ns: u64, src: &dyn ProcSource) -> usize {
        self.advance(now_boot_ns);
        let live: Vec<(u32, u64)> = self
            .by_pid
            .iter()
            .filter(|(_, id)| self.entries.get(id).is_some_and(|e| e.exit.is_none()))
            .map(|(&pid, &id)| (pid, id))
            .collect();
        let mut retired = 0;
        for (pid, id) in live {
            let Some(e) = self.entries.get(&id) else {
                continue;
            };
            match (src.start_ticks(pid), e.key) {
                // Gone: its exit may still be on its way (queued, or held behind an exec), so
                // the pid keeps pointing here and a late exit is still reported.
                (None, _) => {
                    self.sweep_out(id);
                    retired += 1;
                }
                (Some(t), Some(k)) if !self.same_start(k.start_ticks, e.exact, t, true) => {
                    self.retire(id);
                    retired += 1;
                }
                _ => {}
            }
        }
        retired
    }

    // ---- resolution ----

    fn ticks_per_sec(&self) -> u64 {
        1_000_000_000 / self.ns_per_tick
    }

    fn key(&self, pid: u32, start_ticks: u64) -> ProcessKey {
        ProcessKey {
            boot: self.boot,
            pid,
            start_ticks,
        }
    }

    fn advance(&mut self, boot_ns: u64) {
        self.now_boot_ns = self.now_boot_ns.max(boot_ns);
    }

    /// Whether start times `a` and `b` name the same process: equal, or within the slack when
    /// either was derived from a fork timestamp.
    fn same_start(&self, a: u64, a_exact: bool, b: u64, b_exact: bool) -> bool {
        a == b || (!(a_exact && b_exact) && a.abs_diff(b) <= self.config.derived_ticks_slack)
    }

    /// The entry for `pid` started at `ticks`: by exact key (even retired), or the pid's current
    /// entry when its start matches or is not known yet.
    fn find_same(&self, pid: u32, ticks: u64, exact: bool) -> Option<u64> {
        if let Some(&id) = self.by_key.get(&self.key(pid, ticks)) {
            return Some(id);
        }
        let id = *self.by_pid.get(&pid)?;
        let e = self.entries.get(&id)?;
        match e.key {
            Some(k) => self
                .same_start(k.start_ticks, e.exact, ticks, exact)
                .then_some(id),
            // Keyless entries are live processes whose exec came first; an exited one cannot
            // be matched safely.
            None => e.exit.is_none().then_some(id),
        }
    }

    fn resolve_exec(&mut self, f: &ExecFact, src: &dyn ProcSource) -> u64 {
        let current = self.by_pid.get(&f.pid).copied();
        let ticks = match (f.start_ticks, current) {
            (Some(t), _) => Some(t),
            (None, Some(id)) => {
                let e = &self.entries[&id];
                match (e.key, e.exit.is_some()) {
                    // A live entry is trusted without a lookup (sweep catches lost exits).
                    (Some(_), false) => return id,
                    // Exited: a late event, unless /proc shows the pid reused.
                    (Some(k), true) => match src.start_ticks(f.pid) {
                        Some(t) if !self.same_start(k.start_ticks, e.exact, t, true) => Some(t),
                        _ => return id,
                    },
                    (None, _) => src.start_ticks(f.pid),
                }
            }
            (None, None) => src.start_ticks(f.pid),
        };
        if let Some(t) = ticks
            && let Some(id) = self.find_same(f.pid, t, true)
        {
            if self.entries[&id].key.is_none() {
                let e = self.entries.get_mut(&id).expect("found above");
                e.key = Some(ProcessKey {
                    boot: self.boot,
                    pid: f.pid,
                    start_ticks: t,
                });
                e.exact = true;
                self.index_key(id);
            }
            return id;
        }
        if let Some(id) = current {
            // Still no start time: a keyless entry is this process (a late event if exited).
            if ticks.is_none() && self.entries.get(&id).is_some_and(|e| e.key.is_none()) {
                return id;
            }
            self.retire(id);
        }
        let parent = f
            .ppid
            .filter(|&p| p != f.pid)
            .and_then(|p| self.parent_by_pid(p, src));
        let key = ticks.map(|t| self.key(f.pid, t));
        let id = self.insert(Entry::new(f.pid, key, true, f.ppid));
        if let Some(parent) = parent {
            self.link(id, parent);
        }
        id
    }

    /// The entry for `ppid`, loaded from `src` if the table lacks it.
    fn parent_by_pid(&mut self, ppid: u32, src: &dyn ProcSource) -> Option<u64> {
        if ppid == 0 {
            return None;
        }
        if let Some(&id) = self.by_pid.get(&ppid) {
            return Some(id);
        }
        let snap = src.snapshot(ppid).filter(|s| s.pid == ppid)?;
        match self.by_key.get(&self.key(ppid, snap.start_ticks)) {
            Some(&id) => Some(id),
            None => Some(self.insert_seed(&snap)),
        }
    }

    // ---- storage ----

    fn insert_seed(&mut self, p: &SeedProcess) -> u64 {
        let mut e = Entry::new(p.pid, Some(self.key(p.pid, p.start_ticks)), true, p.ppid);
        e.image = Arc::new(Image::from_seed(p));
        e.has_image = true;
        let parent = p.ppid.and_then(|pp| self.by_pid.get(&pp).copied());
        let id = self.insert(e);
        if let Some(parent) = parent {
            self.link(id, parent);
        }
        id
    }

    /// Adds a live entry as the current one of its pid (the caller retired the previous one).
    fn insert(&mut self, e: Entry) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.by_pid.insert(e.pid, id);
        self.entries.insert(id, e);
        self.index_key(id);
        self.live_leaves.insert(id);
        id
    }

    fn index_key(&mut self, id: u64) {
        if let Some(key) = self.entries.get(&id).and_then(|e| e.key) {
            self.by_key.insert(key, id);
        }
    }

    /// Links `child` to `parent`, which must exist and be older.
    fn link(&mut self, child: u64, parent: u64) {
        if parent >= child {
            return;
        }
        let Some(p) = self.entries.get_mut(&parent) else {
            return;
        };
        let link = ParentLink {
            id: parent,
            key: p.key,
            pid: p.pid,
        };
        p.children += 1;
        if p.children == 1 {
            self.live_leaves.remove(&parent);
        }
        if let Some(c) = self.entries.get_mut(&child) {
            c.parent = Some(link);
        }
    }

    fn unlink(&mut self, child: u64) {
        if let Some(link) = self.entries.get_mut(&child).and_then(|c| c.parent.take()) {
            self.release(link.id);
        }
    }

    /// One child of `id` went away: a live entry may become a leaf, a held one is removed.
    fn release(&mut self, id: u64) {
        let mut next = Some(id);
        while let Some(id) = next.take() {
            let Some(p) = self.entries.get_mut(&id) else {
                return;
            };
            p.children = p.children.saturating_sub(1);
            if p.children > 0 {
                return;
            }
            if p.exit.is_none() {
                self.live_leaves.insert(id);
            } else if p.held {
                self.stats.reaped += 1;
                next = self.take(id).and_then(|e| e.parent).map(|l| l.id);
            }
        }
    }

    fn mark_exited(&mut self, id: u64, boot_ns: u64) {
        if let Some(e) = self.entries.get_mut(&id)
            && e.exit.is_none()
        {
            e.exit = Some(ExitState {
                boot_ns,
                swept: false,
            });
            self.live_leaves.remove(&id);
            self.exited.insert((boot_ns, id));
        }
    }

    /// The process behind `id` was found gone from /proc with no exit reported yet: marked
    /// exited now (so it ages out like any other), but a real exit still finds it.
    fn sweep_out(&mut self, id: u64) {
        let now = self.now_boot_ns;
        if let Some(e) = self.entries.get_mut(&id)
            && e.exit.is_none()
        {
            self.stats.retired += 1;
            e.exit = Some(ExitState {
                boot_ns: now,
                swept: true,
            });
            self.live_leaves.remove(&id);
            self.exited.insert((now, id));
        }
    }

    /// Undoes [`Self::sweep_out`] for the real exit that has now arrived.
    fn unsweep(&mut self, id: u64) {
        if let Some(e) = self.entries.get_mut(&id)
            && let Some(exit) = e.exit.take()
        {
            // Past its grace period and kept for its children ("held"), it is in no exit list.
            if e.held {
                e.held = false;
            } else {
                self.exited.remove(&(exit.boot_ns, id));
            }
            if e.children == 0 {
                self.live_leaves.insert(id);
            }
        }
    }

    /// The process behind `id` is gone without an exit for it (its pid now holds another
    /// process): it is marked exited now and no longer the pid's current entry.
    fn retire(&mut self, id: u64) {
        let Some(e) = self.entries.get(&id) else {
            return;
        };
        if self.by_pid.get(&e.pid) == Some(&id) {
            self.by_pid.remove(&e.pid);
        }
        if e.exit.is_none() {
            self.stats.retired += 1;
            self.mark_exited(id, self.now_boot_ns);
        }
    }

    /// Evicts until `n` entries can be added without passing the cap: the oldest exited first,
    /// then the oldest live leaves.
    fn reserve(&mut self, n: usize) {
        while !self.entries.is_empty() && self.entries.len() + n > self.config.max_entries {
            let victim = if let Some(&(at, id)) = self.exited.first() {
                self.exited.remove(&(at, id));
                self.stats.evicted_exited += 1;
                id
            } else if let Some(&id) = self.live_leaves.first() {
                self.stats.evicted_live += 1;
                id
            } else {
                // Unreachable while parent ids stay below their children's (the newest entry is
                // always a leaf); evict the oldest entry rather than grow.
                self.stats.evicted_live += 1;
                *self.entries.keys().min().expect("not empty")
            };
            self.remove(victim);
        }
    }

    /// Removes an entry and every index to it, releasing its parent.
    fn remove(&mut self, id: u64) {
        if let Some(parent) = self.take(id).and_then(|e| e.parent) {
            self.release(parent.id);
        }
    }

    /// Removes an entry from every index without touching its parent.
    fn take(&mut self, id: u64) -> Option<Entry> {
        let e = self.entries.remove(&id)?;
        if self.by_pid.get(&e.pid) == Some(&id) {
            self.by_pid.remove(&e.pid);
        }
        if let Some(key) = e.key
            && self.by_key.get(&key) == Some(&id)
        {
            self.by_key.remove(&key);
        }
        if let Some(x) = e.exit {
            self.exited.remove(&(x.boot_ns, id));
        }
        self.live_leaves.remove(&id);
        Some(e)
    }

    // ---- output ----

    fn start_ns(&self, key: &ProcessKey) -> i64 {
        let since_boot = key
            .start_ticks
            .saturating_mul(self.ns_per_tick)
            .min(i64::MAX as u64);
        self.boot_time_ns.saturating_add(since_boot as i64)
    }

    pub(crate) fn process(&self, e: &Entry) -> Process {
        self.view(e, true)
    }

    /// `e` as an event shows it; without `args`, no argv or cwd (of it or its parent).
    fn view(&self, e: &Entry, args: bool) -> Process {
        let parent = e.parent.map(|link| match self.entries.get(&link.id) {
            Some(p) => Parent {
                key: p.key,
                pid: p.pid,
                exe: p.image.exe.clone(),
                args: if args {
                    p.image.args.clone()
                } else {
                    Argv::default()
                },
            },
            None => Parent {
                key: link.key,
                pid: link.pid,
                exe: None,
                args: Argv::default(),
            },
        });
        let mut process = Process {
            key: e.key,
            pid: e.pid,
            ppid: e.ppid,
            original_ppid: e.creation_ppid.filter(|&c| Some(c) != e.ppid),
            start_ns: e.key.map(|k| self.start_ns(&k)),
            parent,
            ..Process::default()
        };
        fill_image(&mut process, &e.image, args);
        process
    }

    #[cfg(test)]
    pub(crate) fn parent_key_of(&self, e: &Entry) -> Option<ProcessKey> {
        self.process(e).parent.and_then(|p| p.key)
    }

    /// Checks every index against the entries (tests only).
    #[cfg(test)]
    pub(crate) fn check_invariants(&self) {
        for (&pid, id) in &self.by_pid {
            assert_eq!(self.entries[id].pid, pid);
        }
        for (key, id) in &self.by_key {
            assert_eq!(self.entries[id].key, Some(*key));
        }
        let mut children: HashMap<u64, u32> = HashMap::new();
        for (&id, e) in &self.entries {
            if let Some(link) = e.parent {
                assert!(link.id < id, "parent older than child");
                if self.entries.contains_key(&link.id) {
                    *children.entry(link.id).or_default() += 1;
                }
            }
            assert!(!e.held || e.exit.is_some(), "held entry not exited");
            if e.exit.is_none() {
                assert_eq!(self.by_pid.get(&e.pid), Some(&id), "live entry not current");
            }
            if e.held {
                assert!(e.children > 0, "held entry without children");
            }
            if let Some(x) = e.exit {
                assert_eq!(self.exited.contains(&(x.boot_ns, id)), !e.held);
            }
            assert_eq!(
                self.live_leaves.contains(&id),
                e.exit.is_none() && e.children == 0
            );
        }
        for (&id, e) in &self.entries {
            assert_eq!(
                e.children,
                children.get(&id).copied().unwrap_or(0),
                "children of {id}"
            );
        }
        assert_eq!(
            self.exited.len(),
            self.entries
                .values()
                .filter(|e| e.exit.is_some() && !e.held)
                .count()
        );
    }
}

fn fill_image(p: &mut Process, image: &Image, args: bool) {
    p.uid = image.uid;
    p.euid = image.euid;
    p.gid = image.gid;
    p.egid = image.egid;
    p.auid = image.auid;
    p.session_id = image.session;
    p.tty = image.tty.clone();
    p.comm = image.comm.clone();
    p.exe = image.exe.clone();
    if args {
        p.args = image.args.clone();
        p.cwd = image.cwd.clone();
    }
}

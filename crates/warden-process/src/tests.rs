//! Unit tests of the process table with a fake /proc, and a proptest over random fact sequences.

use std::collections::{HashMap, HashSet};

use proptest::prelude::*;
use warden_core::{BootId, ProcessKey, Source};

use crate::{
    ExecFact, ExitFact, ForkFact, NoProcSource, ProcSource, ProcessTable, SeedProcess, TableConfig,
};

const BOOT: BootId = BootId([0xab; 16]);
/// 2024-01-01T00:00:00Z.
const BOOT_TIME_NS: i64 = 1_704_067_200_000_000_000;
const SEC: u64 = 1_000_000_000;

/// A fake /proc: the processes "running" now.
#[derive(Default)]
struct FakeProc(HashMap<u32, SeedProcess>);

impl ProcSource for FakeProc {
    fn start_ticks(&self, pid: u32) -> Option<u64> {
        self.0.get(&pid).map(|p| p.start_ticks)
    }

    fn snapshot(&self, pid: u32) -> Option<SeedProcess> {
        self.0.get(&pid).cloned()
    }
}

/// /proc as these processes only.
fn proc_of(procs: impl IntoIterator<Item = SeedProcess>) -> FakeProc {
    FakeProc(procs.into_iter().map(|p| (p.pid, p)).collect())
}

fn table() -> ProcessTable {
    ProcessTable::new(BOOT, 100, BOOT_TIME_NS, TableConfig::default())
}

fn key(pid: u32, start_ticks: u64) -> ProcessKey {
    ProcessKey {
        boot: BOOT,
        pid,
        start_ticks,
    }
}

fn seed(pid: u32, ppid: u32, start_ticks: u64, exe: &str) -> SeedProcess {
    SeedProcess {
        pid,
        ppid: (ppid != 0).then_some(ppid),
        start_ticks,
        uid: Some(0),
        euid: Some(0),
        comm: Some(exe.rsplit('/').next().unwrap_or(exe).to_owned()),
        exe: Some(exe.as_bytes().to_vec()),
        args: vec![exe.as_bytes().to_vec()].into(),
        cwd: Some(b"/".to_vec()),
        ..SeedProcess::default()
    }
}

fn fork(parent: u32, child: u32, boot_ns: u64) -> ForkFact {
    ForkFact {
        parent_pid: parent,
        child_pid: child,
        child_start_ticks: None,
        boot_ns,
        time_ns: BOOT_TIME_NS + boot_ns as i64,
    }
}

fn exec(pid: u32, ppid: u32, exe: &str, args: &[&str]) -> ExecFact {
    ExecFact {
        pid,
        ppid: Some(ppid),
        uid: Some(1000),
        euid: Some(1000),
        exe: Some(exe.as_bytes().to_vec()),
        args: args.iter().map(|a| a.as_bytes().to_vec()).collect(),
        comm: Some(exe.rsplit('/').next().unwrap_or(exe).to_owned()),
        success: true,
        syscall: Some("execve".into()),
        exit: Some(0),
        ..ExecFact::default()
    }
}

fn exit(pid: u32, boot_ns: u64) -> ExitFact {
    ExitFact {
        pid,
        start_ticks: None,
        exit_code: Some(0),
        signal: None,
        boot_ns,
        time_ns: BOOT_TIME_NS + boot_ns as i64,
    }
}

fn base() -> ProcessTable {
    let mut t = table();
    let events = t.seed(vec![
        seed(1, 0, 1, "/sbin/init"),
        seed(900, 1, 500, "/usr/sbin/sshd"),
        seed(1000, 900, 1000, "/bin/bash"),
    ]);
    assert_eq!(events.len(), 3);
    assert!(events.iter().all(|e| e.source == Source::ProcScan));
    t
}

#[test]
fn seed_fork_exec_exit_chain() {
    let mut t = base();
    let bash = t.get(1000).unwrap();
    assert_eq!(bash.key, Some(key(1000, 1000)));
    assert_eq!(bash.parent.as_ref().unwrap().key, Some(key(900, 500)));
    assert_eq!(bash.start_ns, Some(BOOT_TIME_NS + 10 * SEC as i64));

    // bash forks at 20 s after boot; /proc of the child was not read: ticks from the fork stamp.
    let f = t.on_fork(&fork(1000, 1234, 20 * SEC)).unwrap();
    assert_eq!(f.child.key, Some(key(1234, 2000)));
    assert_eq!(f.child.entity_id().unwrap(), "abababab-1234-2000");
    assert_eq!(
        f.child.exe.as_deref(),
        Some(&b"/bin/bash"[..]),
        "a fork copies its parent"
    );
    let parent = f.child.parent.as_ref().unwrap();
    assert_eq!((parent.key, parent.pid), (Some(key(1000, 1000)), 1000));
    assert_eq!(parent.exe.as_deref(), Some(&b"/bin/bash"[..]));

    // The exec keeps the key and replaces the image.
    let e = t.on_exec(
        &exec(1234, 1000, "/usr/bin/ls", &["ls", "-l"]),
        &NoProcSource,
        Source::Audit,
    );
    assert_eq!(e.process.key, Some(key(1234, 2000)));
    assert_eq!(e.process.args, vec![b"ls".to_vec(), b"-l".to_vec()].into());
    assert_eq!(
        e.process.cwd.as_deref(),
        Some(&b"/"[..]),
        "cwd survives exec"
    );
    assert_eq!(
        e.process.parent.as_ref().unwrap().key,
        Some(key(1000, 1000))
    );
    assert_eq!(
        t.previous(1234).unwrap().exe.as_deref(),
        Some(&b"/bin/bash"[..])
    );

    let chain: Vec<u32> = t.ancestry(1234).iter().map(|p| p.pid).collect();
    assert_eq!(chain, vec![1234, 1000, 900, 1]);

    let x = t.on_exit(&exit(1234, 21 * SEC)).unwrap();
    assert_eq!(x.process.key, Some(key(1234, 2000)));
    assert_eq!(x.process.exe.as_deref(), Some(&b"/usr/bin/ls"[..]));
    assert_eq!(x.duration_ns, Some(SEC as i64));
    assert!(t.on_exit(&exit(1234, 21 * SEC)).is_none(), "duplicate exit");
    assert_eq!(t.stats().duplicate_exits, 1);
    t.check_invariants();
}

#[test]
fn exec_before_fork_attaches_to_one_process() {
    let mut t = base();
    // The connector lags: audit's exec comes first; /proc still has the child.
    let mut proc = FakeProc::default();
    proc.0.insert(1234, seed(1234, 1000, 2000, "/usr/bin/ls"));
    let e = t.on_exec(
        &exec(1234, 1000, "/usr/bin/ls", &["ls"]),
        &proc,
        Source::Audit,
    );
    assert_eq!(e.process.key, Some(key(1234, 2000)));
    assert_eq!(e.process.parent.as_ref().unwrap().pid, 1000);
    // The fork stamp is a little after copy_process: tick 2001, within the slack.
    let f = t.on_fork(&fork(1000, 1234, 20 * SEC + 10_000_000)).unwrap();
    assert_eq!(
        f.child.key,
        Some(key(1234, 2000)),
        "same process, first key kept"
    );
    assert_eq!(
        f.child.exe.as_deref(),
        Some(&b"/bin/bash"[..]),
        "fork shows the forked image"
    );
    assert_eq!(
        t.get(1234).unwrap().exe.as_deref(),
        Some(&b"/usr/bin/ls"[..])
    );
    assert_eq!(
        t.previous(1234).unwrap().exe.as_deref(),
        Some(&b"/bin/bash"[..])
    );
    assert!(
        t.on_fork(&fork(1000, 1234, 20 * SEC)).is_none(),
        "duplicate fork"
    );
    assert_eq!(t.len(), 4);
    t.check_invariants();
}

#[test]
fn exec_before_fork_without_proc_gets_key_from_the_fork() {
    let mut t = base();
    let e = t.on_exec(
        &exec(1234, 1000, "/usr/bin/true", &["true"]),
        &NoProcSource,
        Source::Audit,
    );
    assert_eq!(e.process.key, None, "no start time anywhere yet");
    assert_eq!(t.stats().unkeyed_execs, 1);
    let f = t.on_fork(&fork(1000, 1234, 20 * SEC)).unwrap();
    assert_eq!(f.child.key, Some(key(1234, 2000)));
    let x = t.on_exit(&exit(1234, 20 * SEC + 5_000_000)).unwrap();
    assert_eq!(x.process.key, Some(key(1234, 2000)));
    assert_eq!(x.process.exe.as_deref(), Some(&b"/usr/bin/true"[..]));
    assert_eq!(t.len(), 4);
    t.check_invariants();
}

#[test]
fn short_lived_process_starts_at_its_fork() {
    let mut t = base();
    // Fork, exit, and only then the audit exec: /proc is long gone.
    t.on_fork(&fork(1000, 4321, 30 * SEC + 7_000_000)).unwrap();
    let x = t.on_exit(&exit(4321, 30 * SEC + 9_000_000)).unwrap();
    assert_eq!(x.process.key, Some(key(4321, 3000)));
    let e = t.on_exec(
        &exec(4321, 1000, "/usr/bin/id", &["id"]),
        &NoProcSource,
        Source::Audit,
    );
    assert_eq!(
        e.process.key,
        Some(key(4321, 3000)),
        "late exec attaches to the exited entry"
    );
    assert_eq!(e.process.start_ns, Some(BOOT_TIME_NS + 30 * SEC as i64));
    t.check_invariants();
}

#[test]
fn pid_reuse_gives_a_new_entity() {
    let mut t = base();
    t.on_fork(&fork(1000, 555, 20 * SEC)).unwrap();
    let old = t.get(555).unwrap().key.unwrap();
    // The exit was lost; pid 555 comes back from another parent much later.
    let f = t.on_fork(&fork(900, 555, 90 * SEC)).unwrap();
    let new = f.child.key.unwrap();
    assert_ne!(old.entity_id(), new.entity_id());
    assert_eq!(t.stats().retired, 1);
    assert_eq!(t.get(555).unwrap().key, Some(new));
    assert!(
        t.get_key(&old).is_some(),
        "the retired entry stays for its grace period"
    );
    // An exec whose /proc says another start time also retires the current entry.
    let mut proc = FakeProc::default();
    proc.0.insert(555, seed(555, 1, 12_000, "/usr/bin/x"));
    let e = t.on_exec(
        &exec(555, 1, "/usr/bin/x", &["x"]),
        &proc,
        Source::ProcConnector,
    );
    // A live entry is trusted without a lookup: same process as the fork.
    assert_eq!(e.process.key, Some(new));
    let mut with_ticks = exec(555, 1, "/usr/bin/x", &["x"]);
    with_ticks.start_ticks = Some(12_000);
    let e = t.on_exec(&with_ticks, &proc, Source::ProcConnector);
    assert_eq!(e.process.key, Some(key(555, 12_000)));
    assert_eq!(t.stats().retired, 2);
    t.check_invariants();
}

#[test]
fn reparenting_keeps_the_original_parent() {
    let mut t = base();
    t.on_fork(&fork(1000, 2000, 20 * SEC)).unwrap();
    t.on_exit(&exit(1000, 21 * SEC)).unwrap();
    // The daemon's next exec reports ppid 1: it was re-parented.
    let e = t.on_exec(
        &exec(2000, 1, "/usr/bin/daemon", &["daemon"]),
        &NoProcSource,
        Source::Audit,
    );
    assert_eq!(e.process.ppid, Some(1));
    assert_eq!(e.process.original_ppid, Some(1000));
    let parent = e.process.parent.unwrap();
    assert_eq!((parent.pid, parent.key), (1000, Some(key(1000, 1000))));
    assert_eq!(parent.exe.as_deref(), Some(&b"/bin/bash"[..]));
    t.check_invariants();
}

#[test]
fn unknown_parent_is_loaded_from_proc() {
    let mut t = table();
    let mut proc = FakeProc::default();
    proc.0.insert(77, seed(77, 1, 300, "/usr/bin/cron"));
    let e = t.on_exec(
        &exec(78, 77, "/bin/sh", &["sh"]),
        &proc,
        Source::ProcConnector,
    );
    assert_eq!(e.process.key, None);
    let parent = e.process.parent.unwrap();
    assert_eq!(parent.key, Some(key(77, 300)));
    assert_eq!(parent.exe.as_deref(), Some(&b"/usr/bin/cron"[..]));
    t.check_invariants();
}

#[test]
fn failed_exec_leaves_the_image() {
    let mut t = base();
    let mut f = exec(1000, 900, "/nonexistent", &["nonexistent"]);
    f.success = false;
    f.exit = Some(-2);
    let e = t.on_exec(&f, &NoProcSource, Source::Audit);
    assert!(!e.success);
    assert_eq!(e.process.exe.as_deref(), Some(&b"/nonexistent"[..]));
    assert_eq!(t.get(1000).unwrap().exe.as_deref(), Some(&b"/bin/bash"[..]));
    assert!(t.previous(1000).is_none());
}

#[test]
fn grace_period_then_reap_keeping_ancestors() {
    let mut t = base();
    t.on_fork(&fork(1000, 2000, 20 * SEC)).unwrap(); // will outlive its parent
    t.on_fork(&fork(1000, 2001, 20 * SEC)).unwrap();
    t.on_exit(&exit(2001, 21 * SEC)).unwrap();
    t.on_exit(&exit(1000, 22 * SEC)).unwrap();
    assert_eq!(t.reap(25 * SEC), 0, "within grace");
    assert!(t.get(2001).is_some());
    assert_eq!(
        t.reap(31 * SEC),
        1,
        "2001 reaped, bash kept as 2000's ancestor"
    );
    assert!(t.get(2001).is_none());
    assert!(t.get(1000).is_some());
    assert_eq!(t.ancestry(2000).len(), 4);
    t.check_invariants();
    // The last descendant goes: the held ancestor goes with it.
    t.on_exit(&exit(2000, 40 * SEC)).unwrap();
    assert_eq!(t.reap(45 * SEC), 0);
    assert_eq!(t.reap(50 * SEC), 2);
    assert!(t.get(1000).is_none());
    assert_eq!(t.len(), 2);
    assert_eq!(t.stats().reaped, 3);
    t.check_invariants();
}

#[test]
fn cap_evicts_exited_then_live_leaves() {
    let config = TableConfig {
        max_entries: 16,
        ..TableConfig::default()
    };
    let mut t = ProcessTable::new(BOOT, 100, BOOT_TIME_NS, config);
    t.seed(vec![
        seed(1, 0, 1, "/sbin/init"),
        seed(100, 1, 10, "/bin/sh"),
    ]);
    for pid in 200..210 {
        t.on_fork(&fork(100, pid, u64::from(pid) * SEC)).unwrap();
    }
    for pid in 200..204 {
        t.on_exit(&exit(pid, 300 * SEC)).unwrap();
    }
    assert_eq!(t.len(), 12);
    for pid in 300..310 {
        t.on_fork(&fork(100, pid, u64::from(pid) * SEC)).unwrap();
        assert!(t.len() <= 16);
    }
    let s = t.stats();
    assert_eq!(s.evicted_exited, 4, "all exited entries go first");
    assert_eq!(s.evicted_live, 2);
    // The oldest live leaves went (200..204 exited, then 204 and 205), never init or sh.
    assert!(t.get(205).is_none() && t.get(206).is_some());
    assert!(t.get(1).is_some() && t.get(100).is_some());
    t.check_invariants();
}

#[test]
fn sweep_retires_processes_whose_exit_was_lost() {
    let mut t = base();
    t.on_fork(&fork(1000, 2000, 20 * SEC)).unwrap();
    let proc = proc_of([
        seed(1, 0, 1, "/sbin/init"),
        seed(900, 1, 500, "/usr/sbin/sshd"),
        seed(1000, 900, 7777, "/bin/other"), // pid reused
    ]);
    assert_eq!(t.sweep(60 * SEC, &proc), 2);
    assert!(
        t.get_key(&key(2000, 2000)).is_some(),
        "retired but within grace"
    );
    assert_eq!(t.reap(71 * SEC), 2);
    assert_eq!(t.len(), 2);
    t.check_invariants();
}

/// A process gone from /proc whose exit is still on its way (queued, or held behind its exec)
/// is swept, and the exit that then arrives is reported, once, with its code.
#[test]
fn an_exit_arriving_after_the_sweep_is_still_reported() {
    let mut t = base();
    t.on_fork(&fork(900, 2000, 20 * SEC)).unwrap();
    let mut proc = proc_of([
        seed(1, 0, 1, "/sbin/init"),
        seed(900, 1, 500, "/usr/sbin/sshd"),
        seed(1000, 900, 1000, "/bin/bash"),
    ]);
    assert_eq!(t.sweep(21 * SEC, &proc), 1);
    t.check_invariants();
    let mut late = exit(2000, 21 * SEC + 1);
    late.exit_code = Some(3);
    let event = t.on_exit(&late).expect("the late exit is reported");
    assert_eq!(event.exit_code, Some(3));
    assert_eq!(event.process.pid, 2000);
    assert_eq!(t.stats().unknown_exits, 0);
    t.check_invariants();
    assert!(t.on_exit(&late).is_none(), "only once");
    assert_eq!(t.stats().duplicate_exits, 1);
    // Swept and then held past its grace period for a child: a late exit is still reported.
    t.on_fork(&fork(900, 3000, 30 * SEC)).unwrap();
    t.on_fork(&fork(3000, 3001, 31 * SEC)).unwrap();
    proc.0.insert(3001, seed(3001, 3000, 3100, "/bin/child"));
    assert_eq!(t.sweep(32 * SEC, &proc), 1);
    t.reap(60 * SEC);
    t.check_invariants();
    assert!(t.on_exit(&exit(3000, 61 * SEC)).is_some());
    t.check_invariants();
    assert_eq!(t.stats().unknown_exits, 0);
}

/// When a process exited bounds when its other events happened: known from its exit only
/// (not from a sweep, which finds it gone at some later time), until its pid is reused.
#[test]
fn exited_at_is_the_exit_of_the_pids_current_process() {
    let mut t = base();
    assert_eq!(t.exited_at(1000), None, "live");
    assert_eq!(t.exited_at(4242), None, "unknown");
    t.on_fork(&fork(1000, 2000, 20 * SEC)).unwrap();
    t.on_exit(&exit(2000, 21 * SEC)).unwrap();
    assert_eq!(t.exited_at(2000), Some(21 * SEC));
    // The pid reused: the new process is live.
    t.on_fork(&fork(1000, 2000, 22 * SEC)).unwrap();
    assert_eq!(t.exited_at(2000), None);
    // Swept (gone from /proc, its exit not yet here): no exit time yet; then its exit's.
    t.on_fork(&fork(900, 3000, 23 * SEC)).unwrap();
    let proc = proc_of([
        seed(1, 0, 1, "/sbin/init"),
        seed(900, 1, 500, "/usr/sbin/sshd"),
        seed(1000, 900, 1000, "/bin/bash"),
        seed(2000, 1000, 2200, "/bin/bash"),
    ]);
    assert_eq!(t.sweep(30 * SEC, &proc), 1);
    assert_eq!(t.exited_at(3000), None);
    t.on_exit(&exit(3000, 24 * SEC)).unwrap();
    assert_eq!(t.exited_at(3000), Some(24 * SEC));
    t.check_invariants();
}

#[test]
fn subject_started_is_the_process_of_that_start_even_after_its_pid_is_reused() {
    let mut t = base();
    t.on_fork(&fork(1000, 2000, 20 * SEC)).unwrap(); // tick 2000
    t.on_exit(&exit(2000, 21 * SEC)).unwrap();
    t.on_fork(&fork(1000, 2000, 22 * SEC)).unwrap(); // the pid reused: tick 2200
    let key_of = |p: Option<warden_core::Process>| p.and_then(|p| p.key);
    assert_eq!(
        key_of(t.subject(2000)),
        Some(key(2000, 2200)),
        "the pid's now"
    );
    assert_eq!(key_of(t.subject_started(2000, 2000)), Some(key(2000, 2000)));
    assert_eq!(key_of(t.subject_started(2000, 2200)), Some(key(2000, 2200)));
    assert_eq!(key_of(t.subject_started(2000, 2100)), None, "no such start");
    assert_eq!(key_of(t.subject_started(4242, 2000)), None, "no such pid");
    // Reaped: gone.
    t.reap(21 * SEC + t.config().grace_ns + SEC);
    assert_eq!(key_of(t.subject_started(2000, 2000)), None);
    assert_eq!(key_of(t.subject_started(2000, 2200)), Some(key(2000, 2200)));
    t.check_invariants();
}

#[test]
fn derived_ticks_far_from_exact_are_another_process() {
    let mut t = base();
    t.on_fork(&fork(1000, 2000, 20 * SEC)).unwrap(); // tick 2000, derived
    let mut f = exec(2000, 1000, "/usr/bin/x", &["x"]);
    f.start_ticks = Some(2001);
    assert_eq!(
        t.on_exec(&f, &NoProcSource, Source::ProcConnector)
            .process
            .key,
        Some(key(2000, 2000))
    );
    f.start_ticks = Some(2500);
    assert_eq!(
        t.on_exec(&f, &NoProcSource, Source::ProcConnector)
            .process
            .key,
        Some(key(2000, 2500))
    );
    t.check_invariants();
}

#[derive(Clone, Debug)]
enum Op {
    Fork {
        parent: u32,
        child: u32,
        ticks: Option<u64>,
        dt: u64,
    },
    Exec {
        pid: u32,
        ppid: Option<u32>,
        ticks: Option<u64>,
        success: bool,
        proc_ticks: Option<u64>,
    },
    Exit {
        pid: u32,
        dt: u64,
    },
    Reap {
        dt: u64,
    },
    Sweep,
    Seed(Vec<(u32, u32, u64)>),
}

fn op() -> impl Strategy<Value = Op> {
    let pid = 0u32..24;
    let ticks = proptest::option::of(0u64..40);
    prop_oneof![
        4 => (pid.clone(), pid.clone(), ticks.clone(), 0u64..3 * SEC)
            .prop_map(|(parent, child, ticks, dt)| Op::Fork { parent, child, ticks, dt }),
        4 => (pid.clone(), proptest::option::of(pid.clone()), ticks.clone(), any::<bool>(), ticks.clone())
            .prop_map(|(pid, ppid, ticks, success, proc_ticks)| Op::Exec { pid, ppid, ticks, success, proc_ticks }),
        3 => (pid.clone(), 0u64..3 * SEC).prop_map(|(pid, dt)| Op::Exit { pid, dt }),
        1 => (0u64..20 * SEC).prop_map(|dt| Op::Reap { dt }),
        1 => Just(Op::Sweep),
        1 => proptest::collection::vec((pid.clone(), pid, 0u64..40), 0..12).prop_map(Op::Seed),
    ]
}

proptest! {
    #[test]
    fn random_fact_sequences_keep_the_table_sound(ops in proptest::collection::vec(op(), 1..120)) {
        let config = TableConfig { max_entries: 16, grace_ns: 5 * SEC, derived_ticks_slack: 2 };
        let mut t = ProcessTable::new(BOOT, 100, BOOT_TIME_NS, config);
        let mut now = 0u64;
        let mut known: HashSet<ProcessKey> = HashSet::new();
        for op in ops {
            let mut proc = FakeProc::default();
            let mut seen = Vec::new();
            match op {
                Op::Fork { parent, child, ticks, dt } => {
                    now += dt;
                    let f = ForkFact { child_start_ticks: ticks, ..fork(parent, child, now) };
                    if let Some(e) = t.on_fork(&f) {
                        seen.push(e.child);
                    }
                }
                Op::Exec { pid, ppid, ticks, success, proc_ticks } => {
                    if let Some(pt) = proc_ticks {
                        proc.0.insert(pid, seed(pid, ppid.unwrap_or(1), pt, "/x"));
                    }
                    if let Some(pp) = ppid {
                        proc.0.insert(pp, seed(pp, 1, 0, "/p"));
                    }
                    let mut f = exec(pid, 0, "/bin/x", &["x"]);
                    f.ppid = ppid;
                    f.start_ticks = ticks;
                    f.success = success;
                    seen.push(t.on_exec(&f, &proc, Source::Audit).process);
                }
                Op::Exit { pid, dt } => {
                    now += dt;
                    if let Some(e) = t.on_exit(&exit(pid, now)) {
                        prop_assert!(e.duration_ns.is_none_or(|d| d >= 0));
                        seen.push(e.process);
                    }
                }
                Op::Reap { dt } => {
                    now += dt;
                    t.reap(now);
                }
                Op::Sweep => {
                    t.sweep(now, &proc);
                }
                Op::Seed(list) => {
                    // Keys seeded here are known, even if the cap evicts them within the call.
                    known.extend(list.iter().map(|&(p, _, st)| key(p, st)));
                    let procs = list.into_iter().map(|(p, pp, st)| seed(p, pp, st, "/s")).collect();
                    seen.extend(t.seed(procs).into_iter().map(|e| e.process));
                }
            }
            t.check_invariants();
            prop_assert!(t.len() <= 16);
            // Every parent key refers to a process that was known when the link was made.
            for p in &seen {
                if let Some(parent_key) = p.parent.as_ref().and_then(|p| p.key) {
                    prop_assert!(known.contains(&parent_key) || t.get_key(&parent_key).is_some());
                }
            }
            known.extend(t.by_key.keys().copied());
            for e in t.entries.values() {
                if let Some(parent_key) = t.parent_key_of(e) {
                    prop_assert!(known.contains(&parent_key), "unknown parent key {parent_key:?}");
                }
            }
            for p in &seen {
                if let Some(k) = p.key {
                    known.insert(k);
                }
            }
            for pid in 0..24 {
                prop_assert!(t.ancestry(pid).len() <= t.len());
            }
        }
    }
}

#[test]
fn activity_subjects_name_the_process_without_its_argv() {
    let t = base();
    let full = t.get(1000).unwrap();
    let subject = t.subject(1000).unwrap();
    assert!(!full.args.is_empty() && full.cwd.is_some());
    assert!(subject.args.is_empty() && subject.cwd.is_none());
    assert_eq!(
        (subject.key, subject.pid, subject.ppid, &subject.exe),
        (full.key, full.pid, full.ppid, &full.exe)
    );
    let parent = subject.parent.unwrap();
    assert_eq!(parent.key, Some(key(900, 500)));
    assert_eq!(parent.exe.as_deref(), Some(&b"/usr/sbin/sshd"[..]));
    assert!(parent.args.is_empty());
    assert!(t.subject(4242).is_none());
}

#[test]
fn an_exit_with_a_start_time_belongs_to_that_process_only() {
    let mut t = base();
    // A process the table never saw: reported with the identity its exit carries.
    let mut unseen = exit(4000, 50 * SEC);
    unseen.start_ticks = Some(4_900);
    let event = t.on_exit(&unseen).expect("reported");
    assert_eq!(event.process.key, Some(key(4000, 4_900)));
    assert_eq!(event.process.start_ns, Some(BOOT_TIME_NS + 49 * SEC as i64));
    assert_eq!(event.duration_ns, Some(SEC as i64));
    assert_eq!(event.process.exe, None, "nothing else is known of it");
    assert_eq!((t.stats().unseen_exits, t.stats().unknown_exits), (1, 0));
    // Without a start time (the process connector) it cannot be named: dropped and counted.
    assert!(t.on_exit(&exit(4001, 50 * SEC)).is_none());
    assert_eq!(t.stats().unknown_exits, 1);
    // The exit of another process than the one the table holds under the pid (its fork was
    // lost) leaves that entry alone.
    let bash = t.get(1000).unwrap();
    let mut other = exit(1000, 51 * SEC);
    other.start_ticks = Some(5_000);
    let event = t.on_exit(&other).expect("reported");
    assert_eq!(event.process.key, Some(key(1000, 5_000)));
    assert_eq!(t.get(1000), Some(bash.clone()), "bash still runs");
    // Its own exit matches it.
    let mut own = exit(1000, 52 * SEC);
    own.start_ticks = bash.key.map(|k| k.start_ticks);
    let event = t.on_exit(&own).expect("reported");
    assert_eq!(event.process.exe, bash.exe);
    assert_eq!(event.process.key, bash.key);
    assert_eq!(t.stats().unseen_exits, 2);
    t.check_invariants();
}

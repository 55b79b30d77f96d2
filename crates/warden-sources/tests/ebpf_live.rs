//! Live tests of the eBPF process source against the running kernel (root): fork, exec and exit
//! records with identities, credentials, paths and arguments as /proc shows them; chmod/chown
//! and file activity with their files, results and processes; network calls with both ends.

use std::io::Write;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::MetadataExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use warden_core::{
    ClassicInstruction, EbpfProgram, FileTimes, FileVersion, FilterProgram, TimeSet,
};
use warden_sources::audit::net::{NetCall, SockAddr};
use warden_sources::ebpf::{
    AttrRecord, Datagrams, EbpfConfig, EbpfError, EbpfSource, ExecFlags, ExecRecord,
    FileActivityConfig, FileOp, FileRecord, Handshake, NetRecord, NetworkActivityConfig, Record,
};
use warden_sources::procfs;
use warden_sources::socket_probe::SocketFacts;

#[path = "support/dns.rs"]
mod dns;
#[path = "support/ia32.rs"]
mod ia32;
#[path = "support/quic.rs"]
mod quic;
#[path = "support/sniffer.rs"]
mod sniffer;
#[path = "support/ssh.rs"]
mod ssh;
#[path = "support/tls.rs"]
mod tls;

/// Set in the child process of `the_programs_go_with_a_killed_agent`.
const CHILD_ENV: &str = "WARDEN_EBPF_CHILD";

/// One source at a time in this process: the kill test counts the loaded programs by name.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serialize() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn source() -> Option<(EbpfSource, crossbeam_channel::Receiver<Record>)> {
    source_with(EbpfConfig::default())
}

fn source_with(config: EbpfConfig) -> Option<(EbpfSource, crossbeam_channel::Receiver<Record>)> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 || std::env::var_os(CHILD_ENV).is_some() {
        eprintln!("skipped: needs root");
        return None;
    }
    match EbpfSource::start(config) {
        Ok(pair) => Some(pair),
        // A build without clang cannot test this; anything else is a failure.
        Err(EbpfError::NotBuiltIn) => {
            eprintln!("skipped: the eBPF program was not built in");
            None
        }
        Err(e) => panic!("the eBPF source should start as root here: {e}"),
    }
}

/// The source with network activity, looking at the connections and UDP sockets still open
/// every `every` (zero: only as it stops).
fn source_looking_every(
    every: Duration,
) -> Option<(EbpfSource, crossbeam_channel::Receiver<Record>)> {
    source_with(EbpfConfig {
        network: Some(NetworkActivityConfig {
            open_connections_every: every,
            ..NetworkActivityConfig::default()
        }),
        ..EbpfConfig::default()
    })
}

/// The source's config with network activity, datagrams as asked.
fn network_with_datagrams(datagrams: Datagrams) -> EbpfConfig {
    EbpfConfig {
        network: Some(NetworkActivityConfig {
            datagrams,
            ..NetworkActivityConfig::default()
        }),
        ..EbpfConfig::default()
    }
}

/// Network calls, and the requests of outgoing connections, not those received: a test that
/// counts what its client's requests were left out for, which its server's would add to.
fn outgoing_requests_only() -> EbpfConfig {
    EbpfConfig {
        network: Some(NetworkActivityConfig {
            datagrams: Datagrams::Off,
            requests_received: false,
            ..NetworkActivityConfig::default()
        }),
        ..EbpfConfig::default()
    }
}

/// A new pipe, both ends close-on-exec: (read end, write end).
fn pipe() -> (std::os::fd::OwnedFd, std::os::fd::OwnedFd) {
    use std::os::fd::FromRawFd;
    let mut fds = [0; 2];
    // SAFETY: room for the two descriptors.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: both are new and ours.
    unsafe {
        (
            std::os::fd::OwnedFd::from_raw_fd(fds[0]),
            std::os::fd::OwnedFd::from_raw_fd(fds[1]),
        )
    }
}

/// Collects records until `done` says so (or 10 s pass: then fails with what was seen).
fn collect(
    rx: &crossbeam_channel::Receiver<Record>,
    done: impl Fn(&[Record]) -> bool,
) -> Vec<Record> {
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done(&seen) {
        assert!(
            Instant::now() < deadline,
            "timed out; saw {} records",
            seen.len()
        );
        if let Ok(r) = rx.recv_timeout(Duration::from_millis(100)) {
            seen.push(r);
        }
    }
    seen
}

fn exec_of(records: &[Record], pid: u32) -> Option<&ExecRecord> {
    records.iter().find_map(|r| match r {
        Record::Exec(e) if e.pid == pid => Some(&**e),
        _ => None,
    })
}

/// This process's directory in the unified (cgroup2) hierarchy, if one is mounted.
fn own_cgroup_dir() -> Option<std::path::PathBuf> {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap();
    let mount = mounts.lines().find_map(|l| {
        let mut f = l.split(' ');
        let (_, dir, kind) = (f.next()?, f.next()?, f.next()?);
        (kind == "cgroup2").then_some(dir)
    })?;
    let cgroup = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let path = cgroup.lines().find_map(|l| l.strip_prefix("0::"))?;
    Some(std::path::Path::new(mount).join(path.trim_start_matches('/')))
}

fn ticks_of(ns: u64) -> u64 {
    ns / (1_000_000_000 / procfs::clock_ticks())
}

#[test]
fn fork_exec_exit_carry_what_proc_shows() {
    let _one = serialize();
    let Some((mut src, rx)) = source() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cwd = std::fs::canonicalize(dir.path()).unwrap();
    let odd = std::ffi::OsStr::from_bytes(b"raw\xff bytes\nand a newline");
    let mut child = Command::new("/bin/sh")
        .args(["-c", "read x; exec /bin/sleep 0.2", "name with spaces", ""])
        .arg(odd)
        .current_dir(&cwd)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let proc_info = procfs::read_process(pid).unwrap();
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    assert!(child.wait().unwrap().success());

    let records = collect(&rx, |seen| {
        seen.iter()
            .any(|r| matches!(r, Record::Exit(e) if e.pid == pid))
    });
    let me = std::process::id();
    let fork = records
        .iter()
        .find_map(|r| match r {
            Record::Fork(f) if f.pid == pid => Some(f),
            _ => None,
        })
        .expect("the child's fork");
    assert_eq!(fork.parent_pid, me);
    assert_eq!(
        ticks_of(fork.start_ns),
        proc_info.start_ticks,
        "start as /proc counts it"
    );
    assert_eq!(
        ticks_of(fork.parent_start_ns),
        procfs::read_process(me).unwrap().start_ticks
    );

    // Two execs of the same pid: the shell, then sleep; in that order.
    let execs: Vec<&ExecRecord> = records
        .iter()
        .filter_map(|r| match r {
            Record::Exec(e) if e.pid == pid => Some(&**e),
            _ => None,
        })
        .collect();
    assert_eq!(execs.len(), 2, "{execs:#?}");
    let shell = execs[0];
    let shell_exe = std::fs::canonicalize("/bin/sh").unwrap();
    assert_eq!(shell.exe.as_deref(), Some(shell_exe.as_os_str().as_bytes()));
    let args: Vec<&[u8]> = shell.args.iter().map(Vec::as_slice).collect();
    assert_eq!(
        args,
        [
            &b"/bin/sh"[..],
            b"-c",
            b"read x; exec /bin/sleep 0.2",
            b"name with spaces",
            b"",
            odd.as_bytes()
        ]
    );
    assert_eq!(shell.cwd, cwd.as_os_str().as_bytes());
    assert_eq!((shell.uid, shell.euid, shell.gid, shell.egid), (0, 0, 0, 0));
    assert_eq!(shell.ppid, me);
    assert_eq!(
        shell.start_ns, fork.start_ns,
        "one start time across records"
    );
    // Nothing cut; held or not, as its version was new to the program or not.
    assert_eq!(shell.flags.0 & !ExecFlags::HOLD, 0);
    let sleep = execs[1];
    let sleep_exe = std::fs::canonicalize("/bin/sleep").unwrap();
    assert_eq!(sleep.exe.as_deref(), Some(sleep_exe.as_os_str().as_bytes()));
    assert_eq!(sleep.args, [b"/bin/sleep".to_vec(), b"0.2".to_vec()]);
    assert_eq!(sleep.comm, b"sleep");
    assert!(shell.boot_ns < sleep.boot_ns);
    // The executables' versions as the exec found the inodes: what stat says of those files
    // (the root filesystem here is not one whose stat shows another device than its inode's).
    for (exec, path) in [(shell, &shell_exe), (sleep, &sleep_exe)] {
        let stat = FileVersion::of(&std::fs::metadata(path).unwrap());
        assert_eq!(exec.exe_version, Some(stat), "{}", path.display());
    }
    // The cgroup the child inherited from this process: its directory in the cgroup2 mount.
    match own_cgroup_dir() {
        Some(dir) => {
            use std::os::unix::fs::MetadataExt;
            let inode = std::fs::metadata(&dir).unwrap().ino();
            assert_eq!(shell.cgroup_id, Some(inode), "{}", dir.display());
            assert_eq!(sleep.cgroup_id, Some(inode));
        }
        None => eprintln!("no cgroup2 mount: cgroup ids not compared"),
    }

    let exit = records
        .iter()
        .find_map(|r| match r {
            Record::Exit(e) if e.pid == pid => Some(e),
            _ => None,
        })
        .unwrap();
    assert_eq!((exit.exit_code(), exit.signal()), (Some(0), None));
    assert_eq!(exit.start_ns, fork.start_ns);
    assert!(exit.boot_ns > sleep.boot_ns);
    let stats = src.stop();
    assert_eq!(stats.malformed, 0);
    assert!(stats.records >= 4);
}

#[test]
fn threads_are_not_processes_and_signals_are_told() {
    let _one = serialize();
    let Some((_src, rx)) = source() else {
        return;
    };
    // A thread of ours: no fork record, no exit record when it ends.
    let tid = std::thread::spawn(|| {
        // SAFETY: gettid has no preconditions.
        unsafe { libc::gettid() as u32 }
    })
    .join()
    .unwrap();
    // A process killed by a signal, with an exit code of a multi-threaded one beside it.
    let mut killed = Command::new("/bin/sleep").arg("30").spawn().unwrap();
    let killed_pid = killed.id();
    let mut exited = Command::new("/bin/sh")
        .args(["-c", "exit 9"])
        .spawn()
        .unwrap();
    let exited_pid = exited.id();
    // SAFETY: kill of our own child.
    unsafe { libc::kill(killed_pid as i32, libc::SIGKILL) };
    killed.wait().unwrap();
    exited.wait().unwrap();
    let records = collect(&rx, |seen| {
        [killed_pid, exited_pid].iter().all(|&pid| {
            seen.iter()
                .any(|r| matches!(r, Record::Exit(e) if e.pid == pid))
        })
    });
    let exit = |pid| {
        records
            .iter()
            .find_map(|r| match r {
                Record::Exit(e) if e.pid == pid => Some(e),
                _ => None,
            })
            .unwrap()
    };
    assert_eq!(exit(killed_pid).signal(), Some(libc::SIGKILL));
    assert_eq!(exit(exited_pid).exit_code(), Some(9));
    assert!(exec_of(&records, exited_pid).is_some());
    assert!(
        !records.iter().any(|r| match r {
            Record::Fork(f) => f.pid == tid,
            Record::Exit(e) => e.pid == tid,
            Record::Exec(e) => e.pid == tid,
            Record::Attr(a) => a.pid == tid,
            Record::File(f) => f.pid == tid,
            Record::Net(n) => n.pid == tid,
            Record::Script(s) => s.pid == tid,
            Record::CaughtUp(_) => false,
        }),
        "thread {tid} seen as a process"
    );
}

/// The reader says in its queue how far it has caught up with the kernel: a process that has
/// exited before an instant has its fork, exec and exit ahead of the first mark at or past it.
#[test]
fn caught_up_marks_follow_what_they_vouch_for() {
    let _one = serialize();
    let Some((mut src, rx)) = source() else {
        return;
    };
    for _ in 0..5 {
        let mut child = Command::new("/bin/true").spawn().unwrap();
        let pid = child.id();
        assert!(child.wait().unwrap().success());
        let exited = procfs::boottime_ns();
        let records = collect(&rx, |seen| {
            seen.iter()
                .any(|r| matches!(r, Record::CaughtUp(at) if *at >= exited))
        });
        let mark = records
            .iter()
            .position(|r| matches!(r, Record::CaughtUp(at) if *at >= exited))
            .unwrap();
        let before = &records[..mark];
        assert!(
            before
                .iter()
                .any(|r| matches!(r, Record::Fork(f) if f.pid == pid)),
            "no fork of {pid} before the mark"
        );
        assert!(
            exec_of(before, pid).is_some(),
            "no exec of {pid} before the mark"
        );
        assert!(
            before
                .iter()
                .any(|r| matches!(r, Record::Exit(x) if x.pid == pid)),
            "no exit of {pid} before the mark"
        );
        // Marks only move forward.
        let marks: Vec<u64> = records
            .iter()
            .filter_map(|r| match r {
                Record::CaughtUp(at) => Some(*at),
                _ => None,
            })
            .collect();
        assert!(marks.windows(2).all(|w| w[0] <= w[1]), "{marks:?}");
    }
    src.stop();
}

#[test]
fn a_long_argument_list_is_cut_and_said_so() {
    let _one = serialize();
    let Some((_src, rx)) = source() else {
        return;
    };
    let long = "x".repeat(40_000);
    let mut child = Command::new("/bin/true").arg(&long).spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    let records = collect(&rx, |seen| exec_of(seen, pid).is_some());
    let exec = exec_of(&records, pid).unwrap();
    assert!(
        exec.flags
            .has(warden_sources::ebpf::ExecFlags::ARGS_TRUNCATED)
    );
    assert_eq!(exec.args[0], b"/bin/true");
    let total: usize = exec.args.iter().map(|a| a.len() + 1).sum();
    assert_eq!(total, 16_384 + 1, "the program copies 16 KiB of argv");
}

/// Everything `file` holds, read from its start.
fn contents(file: &std::fs::File) -> Vec<u8> {
    use std::os::unix::fs::FileExt;
    let mut all = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = file.read_at(&mut chunk, all.len() as u64).unwrap();
        if n == 0 {
            return all;
        }
        all.extend_from_slice(&chunk[..n]);
    }
}

/// Runs the image at `path` with `args` and waits for its end.
fn run_to_end(path: &str, args: &[&str]) -> u32 {
    let mut child = Command::new(path).args(args).spawn().unwrap();
    let pid = child.id();
    assert!(child.wait().unwrap().success());
    pid
}

/// A payload written, run and deleted, and one run from memory (a memfd, no file at all):
/// by the time a batch of records is read, the process has ended and its image is gone. The
/// reader is woken for such execs and holds each image open from its record, so the content
/// that ran can still be read — here, after the process ended and the file went.
#[test]
fn an_image_gone_with_its_process_is_held_from_its_exec() {
    let _one = serialize();
    let Some((src, rx)) = source() else {
        return;
    };
    let sleep = std::fs::read("/bin/sleep").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path().canonicalize().unwrap();

    let payload = dir.join("payload");
    std::fs::write(&payload, &sleep).unwrap();
    std::fs::set_permissions(
        &payload,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let path = payload.to_str().unwrap();
    let first = run_to_end(path, &["0.05"]);
    // The same version of the file again: seen, not held.
    let again = run_to_end(path, &["0.05"]);
    std::fs::remove_file(&payload).unwrap();

    // SAFETY: a NUL-terminated name; flags 0 (inherited by the child, which runs it).
    let fd = unsafe { libc::memfd_create(c"payload".as_ptr(), 0) };
    assert!(fd >= 0, "memfd_create: {}", std::io::Error::last_os_error());
    // SAFETY: a new fd we own.
    let memfd = unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    (&memfd).write_all(&sleep).unwrap();
    let in_memory = run_to_end(&format!("/proc/self/fd/{fd}"), &["0.05"]);
    drop(memfd);

    let records = collect(&rx, |seen| {
        [first, again, in_memory]
            .iter()
            .all(|&pid| exec_of(seen, pid).is_some())
    });
    let first = exec_of(&records, first).unwrap();
    assert_eq!(first.exe.as_deref(), Some(payload.as_os_str().as_bytes()));
    assert!(first.flags.has(ExecFlags::HOLD), "{:?}", first.flags);
    assert!(!first.flags.has(ExecFlags::EXE_UNLINKED));
    let held = first.image.as_ref().expect("the first exec's image held");
    assert!(contents(held.file()) == sleep, "the image that ran");

    let again = exec_of(&records, again).unwrap();
    assert!(!again.flags.has(ExecFlags::HOLD), "{:?}", again.flags);
    assert!(again.image.is_none());

    let in_memory = exec_of(&records, in_memory).unwrap();
    assert_eq!(
        in_memory.exe.as_deref(),
        Some(&b"/memfd:payload (deleted)"[..]),
        "named as /proc/PID/exe names it"
    );
    assert!(
        in_memory
            .flags
            .has(ExecFlags::EXE_UNLINKED | ExecFlags::HOLD)
    );
    let held = in_memory.image.as_ref().expect("the memfd held");
    assert!(contents(held.file()) == sleep, "the image that ran");

    // Counters are published every half second.
    let deadline = Instant::now() + Duration::from_secs(5);
    while src.stats().images_held < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let stats = src.stats();
    assert_eq!(stats.images_not_held_busy, 0);
    assert!(stats.images_held >= 2, "{stats:?}");
}

/// Writes an executable file at `path`.
fn write_executable(path: &std::path::Path, content: &[u8]) {
    std::fs::write(path, content).unwrap();
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
}

/// A `#!` script's exec is its interpreter's: the kernel replaces the script with the
/// interpreter before the exec is done. The script is recorded with it all the same — its
/// path, its version, and (new) the file itself, held while the script is deleted — also from
/// memory (a memfd the interpreter reads by its fd), and only the script the exec named where
/// its interpreter is a script too.
#[test]
fn the_script_an_interpreter_runs_is_recorded_with_its_exec() {
    let _one = serialize();
    let Some((src, rx)) = source() else {
        return;
    };
    assert_eq!(src.scripts(), Ok(()), "this kernel lists ____fput");
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path().canonicalize().unwrap();
    // Content of its own, so each version is new to the program: held.
    let unique = format!("# {} {:?}\n", std::process::id(), Instant::now());
    let script = dir.join("stage2");
    let script_content = format!("#!/bin/sh\n{unique}exit 0\n").into_bytes();
    write_executable(&script, &script_content);
    let script_inode = std::fs::metadata(&script).unwrap().ino();
    let chained = dir.join("chained");
    write_executable(
        &chained,
        format!("#!{}\n{unique}", script.display()).as_bytes(),
    );
    let by_script = run_to_end(script.to_str().unwrap(), &[]);
    let by_chain = run_to_end(chained.to_str().unwrap(), &[]);
    let by_binary = run_to_end("/bin/true", &[]);
    std::fs::remove_file(&script).unwrap();

    // SAFETY: a NUL-terminated name; flags 0: the child inherits it, and its interpreter
    // opens the script by /proc/self/fd/N.
    let fd = unsafe { libc::memfd_create(c"script".as_ptr(), 0) };
    assert!(fd >= 0, "memfd_create: {}", std::io::Error::last_os_error());
    // SAFETY: a new fd we own.
    let memfd = unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    // It runs a while: its fds are where the reader finds it.
    let memfd_content = format!("#!/bin/sh\n{unique}sleep 0.1\n").into_bytes();
    (&memfd).write_all(&memfd_content).unwrap();
    let from_memory = run_to_end(&format!("/proc/self/fd/{fd}"), &[]);
    drop(memfd);

    let records = collect(&rx, |seen| {
        [by_script, by_chain, by_binary, from_memory]
            .iter()
            .all(|&pid| exec_of(seen, pid).is_some())
    });
    let sh = std::fs::canonicalize("/bin/sh").unwrap();
    let exec = exec_of(&records, by_script).unwrap();
    assert_eq!(
        exec.exe.as_deref(),
        Some(sh.as_os_str().as_bytes()),
        "run by its interpreter"
    );
    assert!(exec.flags.has(ExecFlags::SCRIPT), "{:?}", exec.flags);
    let seen = exec.script.as_ref().expect("the script with its exec");
    assert_eq!(seen.pid, by_script);
    assert_eq!(seen.path, script.as_os_str().as_bytes());
    assert_eq!(seen.version.map(|v| v.inode), Some(script_inode));
    assert!(
        seen.flags.has(ExecFlags::HOLD),
        "a new version: {:?}",
        seen.flags
    );
    let held = seen.file.as_ref().expect("the script held");
    assert!(
        contents(held.file()) == script_content,
        "the script that ran, deleted since"
    );

    let exec = exec_of(&records, by_chain).unwrap();
    let seen = exec.script.as_ref().expect("the chain's script");
    assert_eq!(
        seen.path,
        chained.as_os_str().as_bytes(),
        "the file the exec named"
    );

    let exec = exec_of(&records, by_binary).unwrap();
    assert!(!exec.flags.has(ExecFlags::SCRIPT) && exec.script.is_none());

    let exec = exec_of(&records, from_memory).unwrap();
    let seen = exec.script.as_ref().expect("the memfd's script");
    assert_eq!(seen.path, b"/memfd:script (deleted)");
    assert!(seen.flags.has(ExecFlags::EXE_UNLINKED | ExecFlags::HOLD));
    let held = seen.file.as_ref().expect("held from the process's fds");
    assert!(contents(held.file()) == memfd_content);
    assert!(
        !records.iter().any(|r| matches!(r, Record::Script(_))),
        "every script record goes with its exec's"
    );
}

#[test]
fn failed_execs_name_what_was_asked_for_and_why() {
    let _one = serialize();
    let Some((src, rx)) = source() else {
        return;
    };
    assert_eq!(
        src.failed_execs(),
        Ok(()),
        "this kernel has the syscall tracepoints"
    );
    let dir = tempfile::tempdir().unwrap();
    let cwd = std::fs::canonicalize(dir.path()).unwrap();
    std::fs::write(cwd.join("noexec"), "not a program\n").unwrap();
    // Each command is tried by a child of the shell, which then exits 127 or 126.
    let status = Command::new("/bin/sh")
        .args(["-c", "./nope arg1 'two words'; ./noexec x; true"])
        .current_dir(&cwd)
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let failed = |records: &[Record], ret: i32| -> Option<ExecRecord> {
        records.iter().find_map(|r| match r {
            Record::Exec(e) if e.ret == ret && e.cwd == cwd.as_os_str().as_bytes() => {
                Some((**e).clone())
            }
            _ => None,
        })
    };
    let records = collect(&rx, |seen| {
        failed(seen, -libc::ENOENT).is_some() && failed(seen, -libc::EACCES).is_some()
    });
    let missing = failed(&records, -libc::ENOENT).unwrap();
    assert_eq!(
        missing.exe.as_deref(),
        Some(cwd.join("nope").as_os_str().as_bytes())
    );
    assert_eq!(
        missing.args,
        [b"./nope".to_vec(), b"arg1".to_vec(), b"two words".to_vec()]
    );
    assert_eq!((missing.uid, missing.euid), (0, 0));
    assert_eq!(missing.comm, b"sh", "the caller's name: the call failed");
    let denied = failed(&records, -libc::EACCES).unwrap();
    assert_eq!(
        denied.exe.as_deref(),
        Some(cwd.join("noexec").as_os_str().as_bytes())
    );
    assert_eq!(denied.args, [b"./noexec".to_vec(), b"x".to_vec()]);
    assert_ne!(missing.pid, denied.pid, "each tried in its own child");
    assert_eq!((missing.exe_version, denied.exe_version), (None, None));
}

/// Warden's programs loaded on the host now (the kernel keeps 15 characters of a name).
fn warden_programs() -> usize {
    aya::programs::loaded_programs()
        .flatten()
        .filter(|p| p.name().starts_with(b"warden_"))
        .count()
}

/// The body of the child process of the next test: starts the source, says so, waits.
#[test]
fn ebpf_child() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let (_src, _rx) = EbpfSource::start(EbpfConfig::default()).expect("the child's source");
    println!("ready");
    std::thread::sleep(Duration::from_secs(60));
}

/// Nothing is pinned: the programs are attached through the agent's file descriptors only, so
/// a SIGKILLed agent leaves no program behind (the host is as it was, however the agent ends).
#[test]
fn the_programs_go_with_a_killed_agent() {
    let _one = serialize();
    let Some((src, rx)) = source() else {
        return;
    };
    drop((src, rx));
    let quiet = |what: &str, want: &dyn Fn(usize) -> bool| {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let n = warden_programs();
            if want(n) {
                return n;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: {n} warden programs loaded"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    // Stopped sources release theirs too (freed after an RCU grace period).
    quiet("after a stop", &|n| n == 0);
    /// Kills the child however the test ends, so a failed assertion leaves nothing loaded.
    struct Killed(std::process::Child);
    impl Drop for Killed {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut child = Killed(
        Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "ebpf_child",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env(CHILD_ENV, "1")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    // The test harness prints its own lines first ("test ebpf_child ... " before ours).
    let out = std::io::BufReader::new(child.0.stdout.take().unwrap());
    let ready = std::io::BufRead::lines(out)
        .map_while(Result::ok)
        .any(|line| line.ends_with("ready"));
    assert!(ready, "the child did not start its source");
    assert_eq!(
        warden_programs(),
        7,
        "fork, exec, exit and the four exec calls"
    );
    drop(child); // SIGKILL, then reaped
    quiet("after SIGKILL", &|n| n == 0);
}

/// Where the host has not mounted tracefs (the syscall tracepoints' ids live there), the source
/// mounts it in a mount namespace of its own thread: the failed-exec test then passes in a mount
/// namespace that has no tracefs, and the host's mounts are not touched.
#[test]
fn failed_execs_are_seen_without_a_mounted_tracefs() {
    let _one = serialize();
    if source().is_none() {
        return;
    }
    let script = r#"umount /sys/kernel/tracing 2>/dev/null; umount /sys/kernel/debug/tracing 2>/dev/null
        echo "tracefs entries: $(ls /sys/kernel/tracing | wc -l)"
        exec "$0" --exact failed_execs_name_what_was_asked_for_and_why --test-threads 1"#;
    let host_mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", script])
        .arg(std::env::current_exe().unwrap())
        .output()
        .expect("unshare (util-linux) runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("tracefs entries: 0"), "{text}");
    assert!(out.status.success() && text.contains("1 passed"), "{text}");
    assert_eq!(
        std::fs::read_to_string("/proc/self/mountinfo").unwrap(),
        host_mounts,
        "our mounts changed"
    );
}

#[test]
fn chmod_and_chown_are_reported_with_the_file_and_the_result() {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use std::os::unix::process::CommandExt;
    let _one = serialize();
    let config = EbpfConfig {
        attribute_changes: true,
        ..EbpfConfig::default()
    };
    let Some((src, rx)) = source_with(config) else {
        return;
    };
    assert_eq!(src.attribute_changes(), Some(Ok(())));
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let dir_path = std::fs::canonicalize(dir.path()).unwrap();
    let file = dir_path.join("target file");
    std::fs::write(&file, b"x").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
    std::os::unix::fs::chown(&file, Some(1234), None).unwrap();
    // By descriptor, and relative to the working directory (a child that cds there).
    let open = std::fs::File::open(&file).unwrap();
    // SAFETY: a valid open descriptor.
    assert_eq!(unsafe { libc::fchmod(open.as_raw_fd(), 0o600) }, 0);
    let status = Command::new("/bin/chmod")
        .args(["700", "target file"])
        .current_dir(&dir_path)
        .status()
        .unwrap();
    assert!(status.success());
    // Refused: nobody may not chmod root's file (the call gets as far as the permission check).
    let status = Command::new("/bin/chmod")
        .arg("777")
        .arg(&file)
        .uid(65534)
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(!status.success());
    let meta = std::fs::metadata(&file).unwrap();
    let mine = |r: &Record| match r {
        Record::Attr(a) if a.path == file.as_os_str().as_bytes() => Some((**a).clone()),
        _ => None,
    };
    let records = collect(&rx, |seen| seen.iter().filter_map(mine).count() >= 5);
    let attrs: Vec<AttrRecord> = records.iter().filter_map(mine).collect();
    let me = std::process::id();
    let chmod = &attrs[0];
    assert!(chmod.call.is_chmod(), "{chmod:?}");
    assert_eq!((chmod.pid, chmod.ret, chmod.mode), (me, 0, Some(0o640)));
    assert_eq!(ticks_of(chmod.start_ns), procfs::start_ticks(me).unwrap());
    let chown = &attrs[1];
    assert!(!chown.call.is_chmod(), "{chown:?}");
    assert_eq!(
        (chown.ret, chown.uid, chown.gid, chown.mode),
        (0, Some(1234), None, None)
    );
    let by_fd = &attrs[2];
    assert_eq!(by_fd.call.name(), "fchmod");
    assert_eq!(by_fd.mode, Some(0o600));
    assert_eq!(
        (by_fd.inode, by_fd.device),
        (Some(meta.ino()), Some(meta.dev()))
    );
    let relative = &attrs[3];
    assert_ne!(relative.pid, me, "the child's call");
    assert_eq!((relative.ret, relative.mode), (0, Some(0o700)));
    let refused = &attrs[4];
    assert_eq!(refused.ret, -libc::EPERM);
    assert_eq!(refused.mode, Some(0o777));
    assert!(!attrs.iter().any(|a| a.path_truncated));
}

/// A file's times set by a call (how a planted file is made to look old): the times asked for
/// (a time, now, or left), by path and by descriptor, and a refused attempt.
#[test]
fn the_times_a_call_sets_are_reported_with_the_file_and_the_result() {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::MetadataExt;
    let _one = serialize();
    let config = EbpfConfig {
        attribute_changes: true,
        ..EbpfConfig::default()
    };
    let Some((_src, rx)) = source_with(config) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let dir_path = std::fs::canonicalize(dir.path()).unwrap();
    let file = dir_path.join("planted");
    std::fs::write(&file, b"x").unwrap();
    let c_path = std::ffi::CString::new(file.as_os_str().as_bytes()).unwrap();
    let ts = |sec: i64, nsec: i64| libc::timespec {
        tv_sec: sec,
        tv_nsec: nsec,
    };
    // SAFETY: valid C strings, arrays of two timespecs/timevals, and an open descriptor.
    unsafe {
        let old = [ts(1_262_304_000, 5), ts(1_546_300_800, 0)];
        assert_eq!(
            libc::utimensat(libc::AT_FDCWD, c_path.as_ptr(), old.as_ptr(), 0),
            0
        );
        let open = std::fs::File::open(&file).unwrap();
        let mtime_only = [ts(0, libc::UTIME_OMIT), ts(1_000, 0)];
        assert_eq!(libc::futimens(open.as_raw_fd(), mtime_only.as_ptr()), 0);
        assert_eq!(
            libc::utimensat(libc::AT_FDCWD, c_path.as_ptr(), std::ptr::null(), 0),
            0
        );
        let tv = [
            libc::timeval {
                tv_sec: 7,
                tv_usec: 8,
            },
            libc::timeval {
                tv_sec: 9,
                tv_usec: 10,
            },
        ];
        assert_eq!(
            libc::syscall(libc::SYS_utimes, c_path.as_ptr(), tv.as_ptr()),
            0
        );
        let missing = std::ffi::CString::new(format!("{}/missing", dir_path.display())).unwrap();
        assert_eq!(
            libc::utimensat(libc::AT_FDCWD, missing.as_ptr(), old.as_ptr(), 0),
            -1
        );
    }
    let meta = std::fs::metadata(&file).unwrap();
    let in_dir = |r: &Record| match r {
        Record::Attr(a) if a.path.starts_with(dir_path.as_os_str().as_bytes()) => {
            Some((**a).clone())
        }
        _ => None,
    };
    let records = collect(&rx, |seen| seen.iter().filter_map(in_dir).count() >= 5);
    let calls: Vec<AttrRecord> = records.iter().filter_map(in_dir).collect();
    let me = std::process::id();
    let set = |accessed, modified| Some(FileTimes { accessed, modified });
    let at = |ns: i64| Some(TimeSet::At(ns));
    let by_path = &calls[0];
    assert_eq!(
        (
            by_path.call.name(),
            by_path.pid,
            by_path.ret,
            by_path.path.clone()
        ),
        ("utimensat", me, 0, file.as_os_str().as_bytes().to_vec())
    );
    assert_eq!(
        by_path.times,
        set(at(1_262_304_000_000_000_005), at(1_546_300_800_000_000_000))
    );
    assert_eq!((by_path.mode, by_path.uid, by_path.gid), (None, None, None));
    let by_fd = &calls[1];
    assert_eq!(by_fd.times, set(None, at(1_000_000_000_000)));
    assert_eq!(
        (by_fd.inode, by_fd.device),
        (Some(meta.ino()), Some(meta.dev()))
    );
    assert_eq!(calls[2].times, set(Some(TimeSet::Now), Some(TimeSet::Now)));
    assert_eq!(calls[3].call.name(), "utimes");
    assert_eq!(calls[3].times, set(at(7_000_008_000), at(9_000_010_000)));
    let refused = &calls[4];
    assert_eq!(refused.ret, -libc::ENOENT);
    assert!(refused.path.ends_with(b"/missing"));
    assert!(calls.iter().all(|c| c.call.is_times()));
}

/// The file records of `records` whose path lies in `dir`.
fn files_in(records: &[Record], dir: &std::path::Path) -> Vec<FileRecord> {
    records
        .iter()
        .filter_map(|r| match r {
            Record::File(f) if f.path.starts_with(dir.as_os_str().as_bytes()) => {
                Some((**f).clone())
            }
            _ => None,
        })
        .collect()
}

/// Beside fanotify the link, symlink and truncate programs run alone: those calls are
/// reported (with their results), and no other file activity is.
#[test]
fn links_and_truncates_are_reported_without_the_rest_of_file_activity() {
    use std::os::fd::AsRawFd;
    let _one = serialize();
    let config = EbpfConfig {
        links_and_truncates: true,
        ..EbpfConfig::default()
    };
    let Some((src, rx)) = source_with(config) else {
        return;
    };
    assert_eq!(src.links_and_truncates(), Some(Ok(())));
    assert_eq!(src.files(), None);
    let dir = tempfile::tempdir().unwrap();
    let dir = std::fs::canonicalize(dir.path()).unwrap();
    let (a, b, c) = (dir.join("a"), dir.join("b"), dir.join("c"));
    let path = |p: &std::path::Path| p.as_os_str().as_bytes().to_vec();
    std::fs::write(&a, b"one").unwrap();
    std::fs::hard_link(&a, &b).unwrap();
    std::os::unix::fs::symlink("a", &c).unwrap();
    let refused = std::fs::hard_link(&a, &b).unwrap_err();
    assert_eq!(refused.raw_os_error(), Some(libc::EEXIST));
    let b_name = std::ffi::CString::new(path(&b)).unwrap();
    // SAFETY: a NUL-terminated path.
    assert_eq!(unsafe { libc::truncate(b_name.as_ptr(), 1) }, 0);
    // Before the last reported call, so that they would be seen if they were reported.
    std::fs::remove_file(&c).unwrap();
    std::fs::rename(&b, dir.join("d")).unwrap();
    let open = std::fs::OpenOptions::new().write(true).open(&a).unwrap();
    // SAFETY: a valid open descriptor.
    assert_eq!(unsafe { libc::ftruncate(open.as_raw_fd(), 0) }, 0);
    drop(open);
    let records = collect(&rx, |seen| files_in(seen, &dir).len() >= 5);
    let files = files_in(&records, &dir);
    let me = std::process::id();
    let seen: Vec<(FileOp, Vec<u8>, i32)> = files
        .iter()
        .map(|f| {
            assert_eq!(f.pid, me, "{f:?}");
            (f.op, f.path.clone(), f.ret)
        })
        .collect();
    assert_eq!(
        seen,
        [
            (FileOp::Link, path(&b), 0),
            (FileOp::Symlink, path(&c), 0),
            (FileOp::Link, path(&b), -libc::EEXIST),
            (FileOp::Truncate, path(&b), 0),
            (FileOp::Truncate, path(&a), 0),
        ],
        "the write, the unlink and the rename are not reported: {files:?}"
    );
    assert_eq!(files[0].other.as_deref(), Some(a.as_os_str().as_bytes()));
    assert_eq!(files[1].other.as_deref(), Some(&b"a"[..]));
    assert_eq!(files[4].call, Some("ftruncate"));
}

#[test]
fn file_activity_is_reported_with_paths_identity_and_results() {
    use std::io::{Read as _, Write as _};
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::MetadataExt;
    let _one = serialize();
    let dir = tempfile::tempdir().unwrap();
    let dir_path = std::fs::canonicalize(dir.path()).unwrap();
    std::fs::write(dir_path.join("existing"), b"x").unwrap();
    let config = EbpfConfig {
        files: Some(FileActivityConfig {
            write_opens: true,
            io_uring: true,
        }),
        ..EbpfConfig::default()
    };
    let Some((src, rx)) = source_with(config) else {
        return;
    };
    assert_eq!(src.files(), Some(Ok(())));
    let at = |name: &str| dir_path.join(name);
    let bytes = |p: std::path::PathBuf| p.into_os_string().into_vec();

    std::fs::write(at("a"), b"one").unwrap();
    let created = std::fs::metadata(at("a")).unwrap();
    std::fs::rename(at("a"), at("b")).unwrap();
    let mut appending = std::fs::OpenOptions::new()
        .append(true)
        .open(at("b"))
        .unwrap();
    appending.write_all(b"two").unwrap();
    drop(appending);
    std::fs::hard_link(at("b"), at("c")).unwrap();
    std::os::unix::fs::symlink("b", at("d")).unwrap();
    std::fs::create_dir(at("sub")).unwrap();
    std::fs::remove_dir(at("sub")).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(at("b"))
        .unwrap()
        .set_len(1)
        .unwrap();
    // A read is not a change.
    let mut text = String::new();
    std::fs::File::open(at("existing"))
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    // Relative to a directory fd, and a refused call.
    let dirfd = std::fs::File::open(&dir_path).unwrap();
    let name = std::ffi::CString::new("c").unwrap();
    // SAFETY: a valid directory fd and NUL-terminated name.
    assert_eq!(
        unsafe { libc::unlinkat(dirfd.as_raw_fd(), name.as_ptr(), 0) },
        0
    );
    assert!(std::fs::remove_file(at("never-was")).is_err());
    // Relative to a descriptor that is no open file: the name alone, said unresolved.
    let lone = std::ffi::CString::new("warden-no-such-dirfd-name").unwrap();
    // SAFETY: a NUL-terminated name; the call fails with EBADF.
    assert_eq!(unsafe { libc::unlinkat(9999, lone.as_ptr(), 0) }, -1);
    // A shell's relative names, and its redirection closed by dup2 rather than close.
    let status = Command::new("/bin/sh")
        .args(["-c", "echo x > rel && mv rel rel2"])
        .current_dir(&dir_path)
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::remove_file(at("rel2")).unwrap();
    std::fs::remove_file(at("d")).unwrap();

    let last = bytes(at("d"));
    let records = collect(&rx, |seen| {
        seen.iter()
            .any(|r| matches!(r, Record::File(f) if f.op == FileOp::Unlink && f.path == last))
    });
    let files = files_in(&records, &dir_path);
    let me = std::process::id();
    let find = |op: FileOp, path: &str| {
        let path = bytes(at(path));
        files
            .iter()
            .find(|f| f.op == op && f.path == path)
            .unwrap_or_else(|| panic!("no {op:?} of {path:?} in {files:#?}"))
    };
    let create = find(FileOp::Create, "a");
    assert_eq!((create.pid, create.inode), (me, Some(created.ino())));
    assert!(create.ret >= 0, "an open's result is its fd: {create:?}");
    assert_eq!(create.device, Some(created.dev()));
    assert_eq!(create.mode, Some(created.mode()));
    assert_eq!(ticks_of(create.start_ns), procfs::start_ticks(me).unwrap());
    assert_eq!(find(FileOp::CloseWrite, "a").inode, Some(created.ino()));
    assert_eq!(create.call, Some("openat"), "std opens with openat");
    let rename = find(FileOp::Rename, "b");
    assert_eq!(
        (rename.ret, rename.other.clone()),
        (0, Some(bytes(at("a"))))
    );
    assert_eq!(find(FileOp::OpenWrite, "b").inode, Some(created.ino()));
    assert!(
        files
            .iter()
            .filter(|f| f.op == FileOp::CloseWrite && f.path == bytes(at("b")))
            .count()
            >= 2
    );
    assert_eq!(find(FileOp::Link, "c").other, Some(bytes(at("b"))));
    assert_eq!(find(FileOp::Symlink, "d").other, Some(b"b".to_vec()));
    assert_eq!(find(FileOp::Mkdir, "sub").ret, 0);
    assert_eq!(find(FileOp::Rmdir, "sub").ret, 0);
    let truncate = find(FileOp::Truncate, "b");
    assert_eq!((truncate.ret, truncate.inode), (0, Some(created.ino())));
    assert!(
        !files.iter().any(|f| f.path == bytes(at("existing"))),
        "{files:#?}"
    );
    assert_eq!(
        find(FileOp::Unlink, "c").ret,
        0,
        "unlinkat relative to a directory fd"
    );
    assert_eq!(find(FileOp::Unlink, "never-was").ret, -libc::ENOENT);
    let unresolved = records
        .iter()
        .find_map(|r| match r {
            Record::File(f) if f.path == b"warden-no-such-dirfd-name" => Some(f),
            _ => None,
        })
        .expect("the unlinkat on a bad descriptor");
    assert!(unresolved.path_unresolved, "{unresolved:?}");
    assert_eq!((unresolved.pid, unresolved.ret), (me, -libc::EBADF));
    let shell_create = find(FileOp::Create, "rel");
    assert_ne!(shell_create.pid, me, "the shell's open");
    let dup_closed = find(FileOp::CloseWrite, "rel");
    assert_eq!(
        (dup_closed.pid, dup_closed.call),
        (shell_create.pid, Some("dup2")),
        "closed by dup2"
    );
    let mv = find(FileOp::Rename, "rel2");
    assert_eq!(mv.other, Some(bytes(at("rel"))));
    assert!(!files.iter().any(|f| f.path_truncated || f.other_truncated));
}

/// A program writing to its redirected standard output exits without closing it: the kernel
/// closes it, and that is the close after writing, in the child's name, before its exit.
#[test]
fn files_left_open_at_exit_are_closes_after_writing() {
    let _one = serialize();
    let config = EbpfConfig {
        files: Some(FileActivityConfig::default()),
        ..EbpfConfig::default()
    };
    let Some((_src, rx)) = source_with(config) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let dir_path = std::fs::canonicalize(dir.path()).unwrap();
    let out = dir_path.join("out.txt");
    let file = std::fs::File::create(&out).unwrap();
    // The shell's own echo: unlike coreutils' echo, it does not close its output itself. It
    // writes once told to, when our copy of the file is closed (spawn closes it), so that its
    // exit drops the last reference whatever the timing.
    let mut child = Command::new("/bin/sh")
        .args(["-c", "read go; echo written"])
        .stdin(Stdio::piped())
        .stdout(Stdio::from(file))
        .spawn()
        .unwrap();
    let child_pid = child.id();
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let status = child.wait_with_output().unwrap().status;
    assert!(status.success());
    let path = out.into_os_string().into_vec();
    let records = collect(&rx, |seen| {
        seen.iter()
            .any(|r| matches!(r, Record::Exit(e) if e.pid == child_pid))
    });
    let close = records
        .iter()
        .position(|r| matches!(r, Record::File(f) if f.op == FileOp::CloseWrite && f.path == path))
        .unwrap_or_else(|| panic!("no close of the output: {records:#?}"));
    let Record::File(f) = &records[close] else {
        unreachable!()
    };
    assert_eq!(
        (f.pid, f.call),
        (child_pid, Some("exit")),
        "the exiting child's"
    );
    let exit = records
        .iter()
        .position(|r| matches!(r, Record::Exit(e) if e.pid == child_pid))
        .unwrap();
    assert!(close < exit, "the close comes before the exit");
    // The parent's own copy, closed after the spawn while the child held it, was no last
    // reference: one close in all.
    let closes = records
        .iter()
        .filter(|r| matches!(r, Record::File(f) if f.op == FileOp::CloseWrite && f.path == path))
        .count();
    assert_eq!(closes, 1, "{records:#?}");
}

#[test]
fn the_agents_own_file_activity_is_not_reported() {
    let _one = serialize();
    let config = EbpfConfig {
        files: Some(FileActivityConfig::default()),
        exclude_pid: Some(std::process::id()),
        ..EbpfConfig::default()
    };
    let Some((_src, rx)) = source_with(config) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let dir_path = std::fs::canonicalize(dir.path()).unwrap();
    std::fs::write(dir_path.join("mine"), b"x").unwrap();
    std::fs::remove_file(dir_path.join("mine")).unwrap();
    let status = Command::new("/bin/touch")
        .arg(dir_path.join("theirs"))
        .status()
        .unwrap();
    assert!(status.success());
    let theirs = dir_path.join("theirs").into_os_string().into_vec();
    let records = collect(&rx, |seen| {
        seen.iter()
            .any(|r| matches!(r, Record::File(f) if f.path == theirs))
    });
    let files = files_in(&records, &dir_path);
    assert!(
        files.iter().all(|f| f.pid != std::process::id()),
        "{files:#?}"
    );
}

fn net_of(records: &[Record], pid: u32) -> Vec<NetRecord> {
    records
        .iter()
        .filter_map(|r| match r {
            Record::Net(n) if n.pid == pid => Some((**n).clone()),
            _ => None,
        })
        .collect()
}

fn inet(addr: std::net::SocketAddr) -> SockAddr {
    match addr {
        std::net::SocketAddr::V4(a) => SockAddr::Inet {
            addr: *a.ip(),
            port: a.port(),
        },
        std::net::SocketAddr::V6(a) => SockAddr::Inet6 {
            addr: *a.ip(),
            port: a.port(),
            flowinfo: 0,
            scope_id: 0,
        },
    }
}

#[test]
fn network_calls_are_reported_with_the_socket_they_left() {
    use std::net::{TcpListener, TcpStream, UdpSocket};
    use std::os::fd::AsRawFd;
    let _one = serialize();
    let config = network_with_datagrams(Datagrams::All);
    let Some((src, rx)) = source_with(config) else {
        return;
    };
    assert_eq!(src.network(), Some(Ok(())));
    assert_eq!(src.network_io_uring(), None, "not asked for");
    let me = std::process::id();
    let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let server = listener.local_addr().unwrap();
    let client = TcpStream::connect(server).unwrap();
    let (accepted, _) = listener.accept().unwrap();
    let udp6 = UdpSocket::bind(("::1", 0)).ok();
    if let Some(u) = &udp6 {
        u.connect(("::1", 9)).unwrap();
        u.send(b"connected: not reported").ok();
    }
    let lone = UdpSocket::bind(("127.0.0.1", 0)).unwrap();
    lone.send_to(b"d", server).unwrap();
    let closed = TcpListener::bind(("127.0.0.1", 0))
        .unwrap()
        .local_addr()
        .unwrap();
    assert!(TcpStream::connect(closed).is_err());
    // connect(2) on a descriptor that is no socket.
    let file = std::fs::File::open("/proc/self/status").unwrap();
    let target = sockaddr_in_of(std::net::SocketAddrV4::new([127, 0, 0, 1].into(), 7));
    // SAFETY: a valid sockaddr_in of its own size; the call fails with ENOTSOCK.
    let rc = unsafe {
        libc::connect(
            file.as_raw_fd(),
            (&raw const target).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as u32,
        )
    };
    assert_eq!(rc, -1);

    let records = collect(&rx, |seen| {
        net_of(seen, me).iter().any(|n| n.ret == -libc::ENOTSOCK)
    });
    let mine = net_of(&records, me);
    let one = |what: &str, pick: &dyn Fn(&NetRecord) -> bool| -> NetRecord {
        let found: Vec<_> = mine.iter().filter(|n| pick(n)).collect();
        assert_eq!(found.len(), 1, "{what}: {mine:#?}");
        found[0].clone()
    };
    let bind = one("bind", &|n| {
        n.call == NetCall::Bind && n.fd == listener.as_raw_fd()
    });
    assert_eq!(bind.ret, 0);
    assert_eq!(
        Some(ticks_of(bind.start_ns)),
        procfs::start_ticks(me),
        "process identity"
    );
    assert_eq!(bind.socket.as_ref().unwrap().local, Some(inet(server)));
    let listen = one("listen", &|n| {
        n.call == NetCall::Listen && n.fd == listener.as_raw_fd()
    });
    assert_eq!(listen.socket.as_ref().unwrap().transport(), Some("tcp"));
    assert_eq!(listen.socket.as_ref().unwrap().local, Some(inet(server)));
    let connect = one("connect", &|n| {
        n.call == NetCall::Connect && n.fd == client.as_raw_fd()
    });
    assert_eq!((connect.ret, connect.addr.clone()), (0, Some(inet(server))));
    let socket = connect.socket.unwrap();
    assert_eq!(socket.local, Some(inet(client.local_addr().unwrap())));
    assert_eq!(socket.remote, Some(inet(server)));
    let accept = one("accept", &|n| {
        matches!(n.call, NetCall::Accept | NetCall::Accept4)
    });
    assert_eq!(
        (accept.fd, accept.ret),
        (listener.as_raw_fd(), accepted.as_raw_fd())
    );
    let socket = accept.socket.unwrap();
    assert_eq!(socket.local, Some(inet(server)));
    assert_eq!(socket.remote, Some(inet(client.local_addr().unwrap())));
    if let Some(u) = &udp6 {
        let c6 = one("udp6 connect", &|n| {
            n.call == NetCall::Connect && n.fd == u.as_raw_fd()
        });
        let socket = c6.socket.unwrap();
        assert_eq!(
            (socket.family, socket.transport()),
            (libc::AF_INET6 as u16, Some("udp"))
        );
        assert_eq!(socket.local, Some(inet(u.local_addr().unwrap())));
    }
    // Only the datagram that names its peer; the connected send is not reported.
    let sent = one("sendto", &|n| {
        matches!(n.call, NetCall::SendTo | NetCall::SendMsg)
    });
    assert_eq!((sent.fd, sent.addr), (lone.as_raw_fd(), Some(inet(server))));
    let refused = one("refused", &|n| n.ret == -libc::ECONNREFUSED);
    assert_eq!(refused.addr, Some(inet(closed)));
    let notsock = one("not a socket", &|n| n.ret == -libc::ENOTSOCK);
    assert_eq!(notsock.socket, None);
    assert_eq!(notsock.fd, file.as_raw_fd());
    drop(src);

    // The agent's own calls are not reported.
    let config = EbpfConfig {
        network: Some(NetworkActivityConfig::default()),
        exclude_pid: Some(me),
        ..EbpfConfig::default()
    };
    let Some((_src, rx)) = source_with(config) else {
        return;
    };
    let quiet = TcpListener::bind(("127.0.0.1", 0)).unwrap();
    drop(TcpStream::connect(quiet.local_addr().unwrap()).unwrap());
    // A child's connect is, and comes after ours would have.
    let status = Command::new("/bin/bash")
        .args(["-c", "exec 3<>/dev/tcp/127.0.0.1/$0"])
        .arg(quiet.local_addr().unwrap().port().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    let records = collect(&rx, |seen| {
        seen.iter()
            .any(|r| matches!(r, Record::Net(n) if n.pid != me && n.call == NetCall::Connect))
    });
    assert!(net_of(&records, me).is_empty(), "{records:#?}");
}

/// The ended connections among `records` of process `pid`.
fn ends_of(records: &[Record], pid: u32) -> Vec<NetRecord> {
    net_of(records, pid)
        .into_iter()
        .filter(|n| n.traffic.is_some())
        .collect()
}

/// The client's end of the connection a traffic record is about: an accepted one's peer, a
/// connected one's own end.
fn client_end_of(n: &NetRecord) -> Option<SockAddr> {
    let socket = n.socket.as_ref().expect("the socket read");
    if matches!(n.call, NetCall::Accept | NetCall::Accept4) {
        socket.remote.clone()
    } else {
        socket.local.clone()
    }
}

/// Each TCP connection a connect or an accept made known is reported again as the kernel
/// closes it, for the same process, with both ends, the traffic each way as the kernel
/// counted it, the state it closed from and the error it was closed for: an orderly close, a
/// reset, each from both sides. A connect that never got a connection has no end.
#[test]
fn the_end_of_each_tcp_connection_is_reported_with_its_traffic() {
    use std::io::{Read, Write};
    use std::net::{Shutdown, TcpListener, TcpStream};
    use std::os::fd::AsRawFd;
    const ESTABLISHED: u8 = 1;
    const FIN_WAIT2: u8 = 5;
    const TIME_WAIT: u8 = 6;
    const LAST_ACK: u8 = 9;
    const CLOSING: u8 = 11;
    let _one = serialize();
    let Some((src, rx)) = source_with(EbpfConfig {
        network: Some(NetworkActivityConfig::default()),
        ..EbpfConfig::default()
    }) else {
        return;
    };
    assert_eq!(src.connection_ends(), Some(Ok(())));
    let me = std::process::id();
    let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let server = listener.local_addr().unwrap();

    // An orderly connection: 100,000 bytes up, 1,234 down; the client closes first.
    let mut client = TcpStream::connect(server).unwrap();
    let (client_fd, client_end) = (client.as_raw_fd(), client.local_addr().unwrap());
    let (mut accepted, _) = listener.accept().unwrap();
    let accepted_fd = accepted.as_raw_fd();
    let uploader = std::thread::spawn(move || {
        client.write_all(&[7; 100_000]).unwrap();
        client
    });
    accepted.read_exact(&mut [0; 100_000]).unwrap();
    let mut client = uploader.join().unwrap();
    accepted.write_all(&[1; 1_234]).unwrap();
    client.read_exact(&mut [0; 1_234]).unwrap();
    client.shutdown(Shutdown::Write).unwrap();
    drop(client);
    assert_eq!(accepted.read(&mut [0; 1]).unwrap(), 0, "the client's FIN");
    drop(accepted);

    // A reset: the client closes with a zero linger, so its end sends RST.
    let resetting = TcpStream::connect(server).unwrap();
    let (resetting_fd, resetting_end) = (resetting.as_raw_fd(), resetting.local_addr().unwrap());
    let (reset, _) = listener.accept().unwrap();
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a live linger of its own size on our socket.
    let rc = unsafe {
        libc::setsockopt(
            resetting_fd,
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&raw const linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0);
    drop(resetting);

    // No connection, no end: a refused connect, and a non-blocking one abandoned in SYN_SENT
    // (to a listener whose accept queue is full, so its SYN goes unanswered).
    assert!(TcpStream::connect(("127.0.0.1", free_port())).is_err());
    let full = TcpListener::bind(("127.0.0.1", 0)).unwrap();
    // SAFETY: listen(2) on our socket: a backlog of 0 takes one connection.
    assert_eq!(unsafe { libc::listen(full.as_raw_fd(), 0) }, 0);
    let full_at = match full.local_addr().unwrap() {
        std::net::SocketAddr::V4(a) => a,
        other => panic!("{other}"),
    };
    let _filler = TcpStream::connect(full_at).unwrap();
    let (abandoned, target) = tcp_client_to(full_at);
    let abandoned_fd = abandoned.as_raw_fd();
    // SAFETY: fcntl on our own fd, then a valid sockaddr_in of its own size.
    let rc = unsafe {
        libc::fcntl(abandoned_fd, libc::F_SETFL, libc::O_NONBLOCK);
        libc::connect(
            abandoned_fd,
            (&raw const target).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as u32,
        )
    };
    assert_eq!(
        (rc, std::io::Error::last_os_error().raw_os_error()),
        (-1, Some(libc::EINPROGRESS))
    );
    drop(abandoned);

    // Until the abandoned connect's outcome; then until a bind made after that: the ring holds
    // what the kernel wrote before it first.
    let mut records = collect(&rx, |seen| {
        ends_of(seen, me).len() >= 4
            && net_of(seen, me)
                .iter()
                .any(|n| n.outcome && n.fd == abandoned_fd)
    });
    let marker = TcpListener::bind(("127.0.0.1", 0)).unwrap();
    records.extend(collect(&rx, |seen| {
        net_of(seen, me)
            .iter()
            .any(|n| n.call == NetCall::Bind && n.fd == marker.as_raw_fd())
    }));
    drop(reset);
    let ends = ends_of(&records, me);
    assert_eq!(ends.len(), 4, "{ends:#?}");
    // Each end by the call that made it known and the client's end (fds are reused).
    let end_of = |call: NetCall, client: std::net::SocketAddr| -> NetRecord {
        let found: Vec<_> = ends
            .iter()
            .filter(|n| n.call == call && client_end_of(n) == Some(inet(client)))
            .collect();
        assert_eq!(found.len(), 1, "{call:?} {client}: {ends:#?}");
        found[0].clone()
    };
    let ends_of_socket = |n: &NetRecord| {
        let socket = n.socket.clone().expect("the socket read");
        (socket.local, socket.remote)
    };

    let up = end_of(NetCall::Connect, client_end);
    let end = up.traffic.unwrap();
    assert_eq!(up.fd, client_fd);
    assert_eq!(
        ends_of_socket(&up),
        (Some(inet(client_end)), Some(inet(server)))
    );
    // The kernel counts the peer's FIN as a byte received.
    assert_eq!(
        (
            end.bytes_sent - end.bytes_retransmitted,
            end.bytes_received,
            end.peer_fin
        ),
        (100_000, 1_235, true)
    );
    assert!(
        [FIN_WAIT2, TIME_WAIT, CLOSING].contains(&end.state),
        "an orderly active close: {end:?}"
    );
    assert_eq!(end.error, 0);
    assert!(
        end.segments_sent >= 2 && end.segments_received >= 2,
        "{end:?}"
    );
    assert!(end.since_ns > 0 && end.since_ns < up.boot_ns, "{end:?}");
    assert_eq!(
        Some(ticks_of(up.start_ns)),
        procfs::start_ticks(me),
        "process identity"
    );

    let down = end_of(NetCall::Accept, client_end);
    let end = down.traffic.unwrap();
    assert_eq!(down.fd, accepted_fd);
    assert_eq!(
        ends_of_socket(&down),
        (Some(inet(server)), Some(inet(client_end)))
    );
    assert_eq!(
        (end.bytes_sent, end.bytes_received, end.peer_fin),
        (1_234, 100_001, true)
    );
    assert_eq!((end.state, end.error), (LAST_ACK, 0), "{end:?}");

    // The side that reset closed from ESTABLISHED with no error of its own; the side reset
    // was closed for ECONNRESET.
    let resetter = end_of(NetCall::Connect, resetting_end);
    assert_eq!(resetter.fd, resetting_fd);
    let resetter = resetter.traffic.unwrap();
    assert_eq!((resetter.state, resetter.error), (ESTABLISHED, 0));
    let was_reset = end_of(NetCall::Accept, resetting_end).traffic.unwrap();
    assert_eq!(
        (was_reset.state, was_reset.error, was_reset.bytes_received),
        (ESTABLISHED, libc::ECONNRESET, 0)
    );
    assert!(
        !resetter.peer_fin && !was_reset.peer_fin,
        "no FIN either way"
    );
    drop(src);
}

/// A connection still open is looked at now and then, and as the source stops: its traffic so
/// far, its state, for the process that made or took it; one already closed is not.
#[test]
fn connections_still_open_are_reported_with_their_traffic_so_far() {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::os::fd::AsRawFd;
    const ESTABLISHED: u8 = 1;
    let _one = serialize();
    let Some((mut src, rx)) = source_looking_every(Duration::from_millis(300)) else {
        return;
    };
    assert_eq!(src.open_connections(), Some(Ok(())));
    let me = std::process::id();
    let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let server = listener.local_addr().unwrap();
    let mut client = TcpStream::connect(server).unwrap();
    let client_end = client.local_addr().unwrap();
    let (mut accepted, _) = listener.accept().unwrap();
    client.write_all(&[7; 3_000]).unwrap();
    accepted.read_exact(&mut [0; 3_000]).unwrap();
    accepted.write_all(&[1; 70]).unwrap();
    client.read_exact(&mut [0; 70]).unwrap();
    // Closed before any look: never looked at.
    let gone = TcpStream::connect(server).unwrap();
    let gone_end = gone.local_addr().unwrap();
    drop((gone, listener.accept().unwrap()));

    let look = |records: &[Record], call: NetCall, sent: u64| -> Option<NetRecord> {
        ends_of(records, me).into_iter().find(|n| {
            let traffic = n.traffic.unwrap();
            traffic.still_open
                && n.call == call
                && client_end_of(n) == Some(inet(client_end))
                && traffic.bytes_sent == sent
        })
    };
    let records = collect(&rx, |seen| {
        look(seen, NetCall::Connect, 3_000).is_some() && look(seen, NetCall::Accept, 70).is_some()
    });
    let up = look(&records, NetCall::Connect, 3_000).unwrap();
    assert_eq!(up.fd, client.as_raw_fd());
    let traffic = up.traffic.unwrap();
    assert_eq!(
        (
            traffic.state,
            traffic.bytes_received,
            traffic.peer_fin,
            traffic.error
        ),
        (ESTABLISHED, 70, false, 0)
    );
    assert!(traffic.since_ns < up.boot_ns);
    assert_eq!(
        Some(ticks_of(up.start_ns)),
        procfs::start_ticks(me),
        "process identity"
    );
    let down = look(&records, NetCall::Accept, 70).unwrap();
    assert_eq!(down.fd, accepted.as_raw_fd());
    assert_eq!(down.traffic.unwrap().bytes_received, 3_000);

    // More, then the stop: the last look is queued before the source ends.
    client.write_all(&[2; 1_000]).unwrap();
    accepted.read_exact(&mut [0; 1_000]).unwrap();
    src.stop();
    let mut rest = records;
    rest.extend(rx.try_iter());
    assert!(
        look(&rest, NetCall::Connect, 4_000).is_some(),
        "{:#?}",
        ends_of(&rest, me)
    );
    assert!(
        !ends_of(&rest, me).iter().any(|n| {
            n.traffic.unwrap().still_open
                && n.socket.as_ref().unwrap().local == Some(inet(gone_end))
        }),
        "a closed connection is not looked at"
    );
}

/// `at` as a `struct sockaddr_in`.
fn sockaddr_in_of(at: std::net::SocketAddrV4) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as u16,
        sin_port: at.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from_ne_bytes(at.ip().octets()),
        },
        sin_zero: [0; 8],
    }
}

/// A TCP connect from a new socket to `to`, made non-blocking: the socket, whatever the connect
/// said (its handshake may still be under way).
fn connect_without_waiting(to: std::net::SocketAddrV4) -> std::net::TcpStream {
    use std::os::fd::FromRawFd;
    // SAFETY: a plain socket(2).
    let fd = unsafe {
        libc::socket(
            libc::AF_INET,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    };
    assert!(fd >= 0, "{}", std::io::Error::last_os_error());
    let address = sockaddr_in_of(to);
    // SAFETY: a live socket and an address of the size given.
    let rc = unsafe {
        libc::connect(
            fd,
            (&address as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as u32,
        )
    };
    let error = std::io::Error::last_os_error();
    assert!(
        rc == 0 || error.raw_os_error() == Some(libc::EINPROGRESS),
        "{error}"
    );
    // SAFETY: just made, owned here only.
    unsafe { std::net::TcpStream::from_raw_fd(fd) }
}

/// Connections open before the source started are found as it starts: their ends and the
/// looks at them are recorded as a recorded connect's or accept's are, marked found open, with
/// the whole connection's traffic, for the process holding them, the side an accept took told
/// apart from the side a connect made (by the port each holds); a connect whose handshake was
/// under way is one too; a listener is no connection.
#[test]
fn connections_open_before_the_start_are_found_and_their_ends_recorded() {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::os::fd::AsRawFd;
    let _one = serialize();
    let me = std::process::id();
    // A connect whose handshake is under way as the source starts: its listener's queue is
    // full (a backlog of 0 holds one), so its SYN is dropped until that one is accepted.
    let full = TcpListener::bind(("127.0.0.1", 0)).unwrap();
    // SAFETY: listen(2) again on a listening socket sets its backlog.
    assert_eq!(unsafe { libc::listen(full.as_raw_fd(), 0) }, 0);
    let std::net::SocketAddr::V4(full_at) = full.local_addr().unwrap() else {
        unreachable!("bound to an IPv4 address")
    };
    let queued = TcpStream::connect(full_at).unwrap();
    let mut pending = connect_without_waiting(full_at);
    let pending_end = pending.local_addr().unwrap();
    // Made before the source starts: one to close, one (IPv6) to hold past its stop.
    let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let client_end = client.local_addr().unwrap();
    let (mut accepted, _) = listener.accept().unwrap();
    client.write_all(&[7; 3_000]).unwrap();
    accepted.read_exact(&mut [0; 3_000]).unwrap();
    accepted.write_all(&[1; 70]).unwrap();
    client.read_exact(&mut [0; 70]).unwrap();
    let listener6 = TcpListener::bind(("::1", 0)).unwrap();
    let mut held = TcpStream::connect(listener6.local_addr().unwrap()).unwrap();
    let held_end = held.local_addr().unwrap();
    let (mut taken, _) = listener6.accept().unwrap();
    held.write_all(&[3; 500]).unwrap();
    taken.read_exact(&mut [0; 500]).unwrap();

    // Only the stop's look.
    let Some((mut src, rx)) = source_looking_every(Duration::ZERO) else {
        return;
    };
    let found = src.found_open_connections();
    assert!(
        matches!(found, Some(Ok(n)) if n.sockets >= 6),
        "two connections from both sides and three sockets of the third at least: {found:?}"
    );
    // The queue has room again: the pending connect's SYN, sent again, gets through.
    drop((full.accept().unwrap(), queued));
    let mut writable = libc::pollfd {
        fd: pending.as_raw_fd(),
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: one live pollfd.
    assert_eq!(
        unsafe { libc::poll(&mut writable, 1, 10_000) },
        1,
        "connected"
    );
    pending.set_nonblocking(false).unwrap();
    pending.write_all(&[4; 123]).unwrap();
    let (mut taken_late, _) = full.accept().unwrap();
    taken_late.read_exact(&mut [0; 123]).unwrap();
    let pending_fd = pending.as_raw_fd();
    drop((pending, taken_late));
    // More after the start, then the end.
    client.write_all(&[2; 1_000]).unwrap();
    accepted.read_exact(&mut [0; 1_000]).unwrap();
    let (client_fd, accepted_fd) = (client.as_raw_fd(), accepted.as_raw_fd());
    drop(client);
    assert_eq!(accepted.read(&mut [0; 1]).unwrap(), 0, "the FIN");
    drop(accepted);

    let end = |records: &[Record], call: NetCall, end: std::net::SocketAddr| -> Option<NetRecord> {
        ends_of(records, me).into_iter().find(|n| {
            n.call == call && client_end_of(n) == Some(inet(end)) && !n.traffic.unwrap().still_open
        })
    };
    let records = collect(&rx, |seen| {
        end(seen, NetCall::Connect, client_end).is_some()
            && end(seen, NetCall::Accept, client_end).is_some()
            && end(seen, NetCall::Connect, pending_end).is_some()
    });
    let late = end(&records, NetCall::Connect, pending_end).unwrap();
    let traffic = late.traffic.unwrap();
    assert!(traffic.found_open, "{late:#?}");
    assert_eq!(
        (late.fd, traffic.bytes_sent),
        (pending_fd, 123),
        "the connect under way at the start: {late:#?}"
    );
    let up = end(&records, NetCall::Connect, client_end).unwrap();
    let traffic = up.traffic.unwrap();
    assert!(traffic.found_open, "{up:#?}");
    assert_eq!(
        (
            traffic.bytes_sent,
            traffic.bytes_received,
            traffic.peer_fin,
            traffic.error
        ),
        (4_000, 71, true, 0),
        "the whole connection's traffic (the peer's FIN counted as a byte)"
    );
    assert_eq!(up.fd, client_fd);
    assert_eq!(
        Some(ticks_of(up.start_ns)),
        procfs::start_ticks(me),
        "process identity"
    );
    assert!(traffic.since_ns < up.boot_ns);
    let down = end(&records, NetCall::Accept, client_end).unwrap();
    assert!(down.traffic.unwrap().found_open);
    assert_eq!(down.fd, accepted_fd);
    assert_eq!(down.traffic.unwrap().bytes_received, 4_001, "with the FIN");

    src.stop();
    let mut rest = records;
    rest.extend(rx.try_iter());
    let looks: Vec<_> = ends_of(&rest, me)
        .into_iter()
        .filter(|n| n.traffic.unwrap().still_open)
        .collect();
    for call in [NetCall::Connect, NetCall::Accept] {
        let look = looks
            .iter()
            .find(|n| n.call == call && client_end_of(n) == Some(inet(held_end)))
            .unwrap_or_else(|| panic!("the held connection's {call:?} side: {looks:#?}"));
        assert!(look.traffic.unwrap().found_open);
    }
    let listening = [
        listener.local_addr().unwrap(),
        listener6.local_addr().unwrap(),
    ];
    assert!(
        !looks.iter().any(|n| {
            let local = n.socket.as_ref().unwrap().local.clone();
            listening.iter().any(|l| local == Some(inet(*l)))
                && n.socket.as_ref().unwrap().remote.is_none()
        }),
        "a listener is no connection: {looks:#?}"
    );
    drop((held, taken));
}

/// UDP sockets open before the source started are found as it starts: their traffic from then
/// on, their ends and the looks at them are recorded, marked found open, for the process
/// holding them, with its fd; which way the first datagram went is guessed from whether the
/// socket is connected (a client's) or not (a server's).
#[test]
fn udp_sockets_open_before_the_start_are_found_and_counted_from_then() {
    use std::net::UdpSocket;
    use std::os::fd::AsRawFd;
    let _one = serialize();
    let me = std::process::id();
    // Made, and talked over, before the source starts.
    let server = UdpSocket::bind(("127.0.0.1", 0)).unwrap();
    let server_end = server.local_addr().unwrap();
    let client = UdpSocket::bind(("127.0.0.1", 0)).unwrap();
    let client_end = client.local_addr().unwrap();
    client.connect(server_end).unwrap();
    let mut buf = [0; 2048];
    for _ in 0..2 {
        client.send(&[9; 40]).unwrap();
        assert_eq!(server.recv_from(&mut buf).unwrap().0, 40);
    }
    // Held past the stop.
    let held = UdpSocket::bind(("::1", 0)).unwrap();
    held.send_to(&[3; 10], ("::1", 9)).unwrap();
    let held_end = held.local_addr().unwrap();

    // Only the stop's look.
    let Some((mut src, rx)) = source_looking_every(Duration::ZERO) else {
        return;
    };
    let found = src.found_open_datagram_sockets();
    assert!(
        matches!(found, Some(Ok(n)) if n.sockets >= 3),
        "the three sockets at least: {found:?}"
    );
    for _ in 0..3 {
        client.send(&[7; 100]).unwrap();
        assert_eq!(server.recv_from(&mut buf).unwrap().0, 100);
    }
    server.send_to(&[1; 50], client_end).unwrap();
    assert_eq!(client.recv(&mut buf).unwrap(), 50);
    let fds = (client.as_raw_fd(), server.as_raw_fd());
    drop((client, server));

    let udp_end = |records: &[Record], end| udp_end_of(records, me, end);
    let records = collect(&rx, |seen| {
        udp_end(seen, client_end).is_some() && udp_end(seen, server_end).is_some()
    });
    let counts = |n: &NetRecord| {
        let t = n.traffic.unwrap();
        assert!(t.found_open, "{n:#?}");
        (
            n.call,
            n.fd,
            t.bytes_sent,
            t.segments_sent,
            t.bytes_received,
            t.segments_received,
        )
    };
    let client = udp_end(&records, client_end).unwrap();
    assert_eq!(
        counts(&client),
        (NetCall::SendMsg, fds.0, 300, 3, 50, 1),
        "connected: a client's, counted from the start"
    );
    assert_eq!(
        Some(ticks_of(client.start_ns)),
        procfs::start_ticks(me),
        "process identity"
    );
    let server = udp_end(&records, server_end).unwrap();
    assert_eq!(
        counts(&server),
        (NetCall::RecvFrom, fds.1, 50, 1, 300, 3),
        "unconnected: a server's"
    );

    let look = look_at_stop(&mut src, &rx, records, me, held_end);
    assert_eq!(
        counts(&look),
        (NetCall::RecvFrom, held.as_raw_fd(), 0, 0, 0, 0),
        "unconnected, so taken for a server's (it sent first, before the start)"
    );
    drop(held);
}

/// Each datagram socket's traffic is counted at its sends and receives and recorded as the
/// socket is released, for the process of its first datagram: a connected UDP client and the
/// unconnected server it talks to (a peek not counted twice), a raw ICMP socket; a UDP socket
/// still open is looked at as the source stops.
#[test]
fn datagram_sockets_traffic_is_recorded_at_their_end() {
    use std::net::UdpSocket;
    let _one = serialize();
    // Only the stop's look.
    let Some((mut src, rx)) = source_looking_every(Duration::ZERO) else {
        return;
    };
    assert_eq!(src.datagram_traffic(), Some(Ok(())));
    let me = std::process::id();
    let server = UdpSocket::bind(("127.0.0.1", 0)).unwrap();
    let server_end = server.local_addr().unwrap();
    let client = UdpSocket::bind(("127.0.0.1", 0)).unwrap();
    let client_end = client.local_addr().unwrap();
    client.connect(server_end).unwrap();
    for _ in 0..3 {
        client.send(&[7; 100]).unwrap();
    }
    let mut buf = [0; 2048];
    assert_eq!(server.peek_from(&mut buf).unwrap().0, 100);
    for _ in 0..3 {
        assert_eq!(server.recv_from(&mut buf).unwrap().0, 100);
    }
    server.send_to(&[1; 50], client_end).unwrap();
    assert_eq!(client.recv(&mut buf).unwrap(), 50);
    // An echo request on a raw ICMP socket: it sees its own request come in on loopback, and
    // the reply, each with its IP header.
    let raw = socket_of(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_ICMP).unwrap();
    let request = sniffer::echo_request(56);
    let sent = sniffer::send_echo(&raw, std::net::Ipv4Addr::LOCALHOST, 56).unwrap();
    assert_eq!(sent, request.len());
    // SAFETY: a live socket and a buffer of the size given.
    let got = unsafe {
        libc::recv(
            std::os::fd::AsRawFd::as_raw_fd(&raw),
            buf.as_mut_ptr().cast(),
            buf.len(),
            0,
        )
    };
    assert_eq!(got, 20 + request.len() as isize, "IP header and ICMP");
    // Held past the stop.
    let held = UdpSocket::bind(("::1", 0)).unwrap();
    held.send_to(&[3; 10], ("::1", 9)).unwrap();
    let held_end = held.local_addr().unwrap();
    drop((client, server, raw));

    let udp_end = |records: &[Record], end| udp_end_of(records, me, end);
    let raw_end = |records: &[Record]| -> Option<NetRecord> {
        ends_of(records, me).into_iter().find(|n| {
            let socket = n.socket.as_ref().unwrap();
            socket.sock_type == libc::SOCK_RAW && socket.protocol == libc::IPPROTO_ICMP
        })
    };
    let records = collect(&rx, |seen| {
        udp_end(seen, client_end).is_some()
            && udp_end(seen, server_end).is_some()
            && raw_end(seen).is_some()
    });
    let client = udp_end(&records, client_end).unwrap();
    let t = client.traffic.unwrap();
    assert_eq!(client.call, NetCall::SendMsg, "its first datagram went out");
    assert_eq!(
        (
            t.bytes_sent,
            t.segments_sent,
            t.bytes_received,
            t.segments_received
        ),
        (300, 3, 50, 1)
    );
    assert_eq!(
        client.socket.as_ref().unwrap().remote,
        Some(inet(server_end)),
        "connected: its peer"
    );
    assert_eq!(
        Some(ticks_of(client.start_ns)),
        procfs::start_ticks(me),
        "process identity"
    );
    assert!(t.since_ns < client.boot_ns);
    let server = udp_end(&records, server_end).unwrap();
    let t = server.traffic.unwrap();
    assert_eq!(server.call, NetCall::RecvFrom, "its first datagram came in");
    assert_eq!(
        (
            t.bytes_received,
            t.segments_received,
            t.bytes_sent,
            t.segments_sent
        ),
        (300, 3, 50, 1),
        "the peek not counted"
    );
    assert_eq!(server.socket.as_ref().unwrap().remote, None, "unconnected");
    let raw = raw_end(&records).unwrap();
    let t = raw.traffic.unwrap();
    assert_eq!((t.bytes_sent, t.segments_sent), (request.len() as u64, 1));
    assert!(
        t.segments_received >= 1
            && t.bytes_received == u64::from(t.segments_received) * (20 + request.len() as u64),
        "{t:?}"
    );

    let look = look_at_stop(&mut src, &rx, records, me, held_end);
    let t = look.traffic.unwrap();
    assert_eq!(
        (t.bytes_sent, t.segments_sent, t.bytes_received),
        (10, 1, 0)
    );
    drop(held);
}

/// The end (not a look) of process `me`'s UDP socket whose own end is `end`, among `records`.
fn udp_end_of(records: &[Record], me: u32, end: std::net::SocketAddr) -> Option<NetRecord> {
    ends_of(records, me).into_iter().find(|n| {
        let socket = n.socket.as_ref().unwrap();
        socket.protocol == libc::IPPROTO_UDP
            && socket.local == Some(inet(end))
            && !n.traffic.unwrap().still_open
    })
}

/// Stops `src`, and finds among `records` and the rest of `rx` the look its stop took at process
/// `me`'s socket whose own end is `end`.
fn look_at_stop(
    src: &mut EbpfSource,
    rx: &crossbeam_channel::Receiver<Record>,
    mut records: Vec<Record>,
    me: u32,
    end: std::net::SocketAddr,
) -> NetRecord {
    src.stop();
    records.extend(rx.try_iter());
    let looks = ends_of(&records, me);
    looks
        .iter()
        .find(|n| {
            n.traffic.unwrap().still_open && n.socket.as_ref().unwrap().local == Some(inet(end))
        })
        .cloned()
        .unwrap_or_else(|| panic!("a look at the held socket at the stop: {looks:#?}"))
}

/// A look at more open connections than one read of the iterator takes (2,048) is read in
/// turns, the ring drained between them: each connection is looked at exactly once.
#[test]
fn a_look_at_many_connections_reports_each_once() {
    use std::net::{TcpListener, TcpStream};
    const CONNECTIONS: usize = 2_100; // 4,200 sockets noted: more than two reads of 2,048
    let _one = serialize();
    // Two sockets per connection, and this process's own.
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit on a local struct.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
        limit.rlim_cur = limit.rlim_max.min(2 * CONNECTIONS as u64 + 512);
        libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
    }
    if limit.rlim_cur < 2 * CONNECTIONS as u64 + 512 {
        eprintln!(
            "skipped: the file-descriptor limit ({}) is too low",
            limit.rlim_max
        );
        return;
    }
    let Some((mut src, rx)) = source_with(EbpfConfig {
        network: Some(NetworkActivityConfig {
            open_connections_every: Duration::ZERO, // only as the source stops
            ..NetworkActivityConfig::default()
        }),
        ..EbpfConfig::default()
    }) else {
        return;
    };
    let me = std::process::id();
    let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let server = listener.local_addr().unwrap();
    let mut held = Vec::with_capacity(2 * CONNECTIONS);
    for _ in 0..CONNECTIONS {
        let made = TcpStream::connect(server).unwrap();
        held.push(listener.accept().unwrap().0);
        held.push(made);
    }
    // Until the last accept's record: every connection is noted.
    let last = held[2 * CONNECTIONS - 2].peer_addr().unwrap();
    let mut records = collect(&rx, |seen| {
        net_of(seen, me).iter().any(|n| {
            matches!(n.call, NetCall::Accept | NetCall::Accept4)
                && n.socket.as_ref().and_then(|s| s.remote.clone()) == Some(inet(last))
        })
    });
    src.stop();
    records.extend(rx.try_iter());
    let mut looked = std::collections::HashMap::new();
    for n in ends_of(&records, me) {
        if n.traffic.unwrap().still_open {
            let socket = n.socket.unwrap();
            *looked.entry((socket.local, socket.remote)).or_insert(0) += 1;
        }
    }
    assert_eq!(looked.len(), 2 * CONNECTIONS, "every socket looked at");
    assert!(looked.values().all(|&n| n == 1), "each once");
    drop(held);
}

/// A socket made by socket(2) (owned), or the errno it failed with.
fn socket_of(family: i32, kind: i32, protocol: i32) -> Result<std::os::fd::OwnedFd, i32> {
    sniffer::socket(family, kind, protocol).map_err(|e| e.raw_os_error().unwrap_or(0))
}

/// setsockopt(2) at level SOL_SOCKET with `value`'s bytes: 0 or the errno.
fn set_option<T>(fd: &std::os::fd::OwnedFd, name: i32, value: &T) -> i32 {
    use std::os::fd::AsRawFd;
    // SAFETY: `value` is a live T of the size given.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            name,
            (value as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        0
    } else {
        std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
    }
}

/// A socket filter loaded by bpf(2) as `name`: "r0 = 0; exit", two instructions (it keeps
/// nothing of a packet); with its id and tag as the kernel reports them (BPF_OBJ_GET_INFO_BY_FD).
fn socket_filter_program(name: &str) -> (std::os::fd::OwnedFd, u32, [u8; 8]) {
    use std::os::fd::{AsRawFd, FromRawFd};
    const BPF_PROG_LOAD: libc::c_long = 5;
    const BPF_OBJ_GET_INFO_BY_FD: libc::c_long = 15;
    const BPF_PROG_TYPE_SOCKET_FILTER: u32 = 1;
    // struct bpf_insn, little-endian: code, registers, offset, immediate.
    let instructions: [u64; 2] = [0xb7, 0x95];
    let license = c"GPL";
    // union bpf_attr for BPF_PROG_LOAD: type, count, insns, license, (log), name at 48.
    let mut attr = [0u8; 128];
    attr[0..4].copy_from_slice(&BPF_PROG_TYPE_SOCKET_FILTER.to_ne_bytes());
    attr[4..8].copy_from_slice(&2u32.to_ne_bytes());
    attr[8..16].copy_from_slice(&(instructions.as_ptr() as u64).to_ne_bytes());
    attr[16..24].copy_from_slice(&(license.as_ptr() as u64).to_ne_bytes());
    attr[48..48 + name.len()].copy_from_slice(name.as_bytes());
    // SAFETY: a bpf_attr of its size, naming live memory.
    let fd = unsafe { libc::syscall(libc::SYS_bpf, BPF_PROG_LOAD, attr.as_ptr(), attr.len()) };
    assert!(fd >= 0, "{}", std::io::Error::last_os_error());
    // SAFETY: just made, owned here only.
    let program = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as i32) };
    // struct bpf_prog_info's head: type, id, tag.
    let mut info = [0u8; 16];
    let mut attr = [0u8; 16];
    attr[0..4].copy_from_slice(&program.as_raw_fd().to_ne_bytes());
    attr[4..8].copy_from_slice(&(info.len() as u32).to_ne_bytes());
    attr[8..16].copy_from_slice(&(info.as_mut_ptr() as u64).to_ne_bytes());
    // SAFETY: as above; the kernel writes at most info_len bytes to `info`.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_OBJ_GET_INFO_BY_FD,
            attr.as_ptr(),
            attr.len(),
        )
    };
    assert_eq!(rc, 0, "{}", std::io::Error::last_os_error());
    let id = u32::from_ne_bytes(info[4..8].try_into().unwrap());
    (program, id, info[8..16].try_into().unwrap())
}

/// A sniffer's calls and an ICMP tunnel's: each packet, raw and ICMP socket made (or refused)
/// is reported with what it was made for, a packet socket's bind with its interface, and a
/// filter attached with its program (a classic one's instructions, an eBPF one's identity);
/// the sockets and options of ordinary traffic are not.
#[test]
fn packet_raw_and_icmp_sockets_and_their_filters_are_reported() {
    use std::os::fd::AsRawFd;
    let _one = serialize();
    let config = network_with_datagrams(Datagrams::Off);
    let Some((src, rx)) = source_with(config) else {
        return;
    };
    assert_eq!(src.network(), Some(Ok(())));
    let me = std::process::id();
    // Not reported: the sockets every connection makes, and their other options.
    let tcp = socket_of(libc::AF_INET, libc::SOCK_STREAM, 0).unwrap();
    assert_eq!(set_option(&tcp, libc::SO_REUSEADDR, &1i32), 0);
    let _udp = socket_of(libc::AF_INET6, libc::SOCK_DGRAM, 0).unwrap();
    let _unix = socket_of(libc::AF_UNIX, libc::SOCK_DGRAM, 0).unwrap();

    let (tap, lo) = sniffer::packet_socket_on_lo().expect("a packet socket (root)");
    let raw_icmp = socket_of(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_ICMP).unwrap();
    // An ICMP ("ping") socket: refused unless the group may (net.ipv4.ping_group_range).
    let ping = socket_of(libc::AF_INET6, libc::SOCK_DGRAM, libc::IPPROTO_ICMPV6);
    // A filter that is no filter: refused, and still reported.
    let empty = libc::sock_fprog {
        len: 0,
        filter: std::ptr::null_mut(),
    };
    assert_eq!(
        set_option(&raw_icmp, libc::SO_ATTACH_FILTER, &empty),
        libc::EINVAL
    );
    // An eBPF filter, by its descriptor.
    let (ebpf, ebpf_id, ebpf_tag) = socket_filter_program("warden_t_filter");
    assert_eq!(
        set_option(&raw_icmp, libc::SO_ATTACH_BPF, &ebpf.as_raw_fd()),
        0
    );
    // The last: a packet socket for ARP, its own DGRAM kind.
    let arp = i32::from((libc::ETH_P_ARP as u16).to_be());
    let last = socket_of(libc::AF_PACKET, libc::SOCK_DGRAM, arp).unwrap();

    let records = collect(&rx, |seen| {
        net_of(seen, me)
            .iter()
            .any(|n| n.call == NetCall::Socket && n.fd == last.as_raw_fd())
    });
    let calls: Vec<NetRecord> = net_of(&records, me)
        .into_iter()
        .filter(|n| {
            matches!(
                n.call,
                NetCall::Socket | NetCall::SetSockOpt | NetCall::Bind
            )
        })
        .collect();
    let fds: Vec<(NetCall, i32, i32)> = calls.iter().map(|n| (n.call, n.fd, n.ret)).collect();
    let ping_record = match &ping {
        Ok(fd) => (NetCall::Socket, fd.as_raw_fd(), fd.as_raw_fd()),
        Err(errno) => (NetCall::Socket, -1, -errno),
    };
    assert_eq!(
        fds,
        [
            (NetCall::Socket, tap.as_raw_fd(), tap.as_raw_fd()),
            (NetCall::Bind, tap.as_raw_fd(), 0),
            (NetCall::SetSockOpt, tap.as_raw_fd(), 0),
            (NetCall::Socket, raw_icmp.as_raw_fd(), raw_icmp.as_raw_fd()),
            ping_record,
            (NetCall::SetSockOpt, raw_icmp.as_raw_fd(), -libc::EINVAL),
            (NetCall::SetSockOpt, raw_icmp.as_raw_fd(), 0),
            (NetCall::Socket, last.as_raw_fd(), last.as_raw_fd()),
        ],
        "only the packet, raw and ICMP sockets and the filters, in order"
    );
    let facts = |n: &NetRecord| {
        let s = n.socket.as_ref().expect("the socket");
        (s.family, s.sock_type, s.transport())
    };
    let packet = libc::AF_PACKET as u16;
    assert_eq!(facts(&calls[0]), (packet, libc::SOCK_RAW, Some("all")));
    assert_eq!(
        calls[1].addr,
        Some(SockAddr::Packet {
            protocol: libc::ETH_P_IP as u16,
            ifindex: lo as i32
        })
    );
    let attached = calls[2].filter.as_ref().expect("the filter");
    assert_eq!(
        (attached.option_name().as_str(), attached.instructions),
        ("SO_ATTACH_FILTER", Some(sniffer::FILTER_LENGTH))
    );
    let given: Vec<ClassicInstruction> = sniffer::filter_program()
        .iter()
        .map(|i| ClassicInstruction {
            code: i.code,
            jt: i.jt,
            jf: i.jf,
            k: i.k,
        })
        .collect();
    assert_eq!(
        attached.program,
        Some(FilterProgram::Classic(given)),
        "its instructions, as given"
    );
    assert_eq!(calls[2].addr, None, "a program is no address");
    assert_eq!(calls[2].socket.as_ref().map(|s| s.family), Some(packet));
    assert_eq!(
        facts(&calls[3]),
        (libc::AF_INET as u16, libc::SOCK_RAW, Some("icmp"))
    );
    assert_eq!(
        facts(&calls[4]),
        (libc::AF_INET6 as u16, libc::SOCK_DGRAM, Some("ipv6-icmp"))
    );
    let refused = calls[5].filter.as_ref().expect("the empty filter");
    assert_eq!((refused.instructions, &refused.program), (Some(0), &None));
    let by_descriptor = calls[6].filter.as_ref().expect("the eBPF filter");
    assert_eq!(
        (
            by_descriptor.option_name().as_str(),
            by_descriptor.instructions
        ),
        ("SO_ATTACH_BPF", None)
    );
    assert_eq!(
        by_descriptor.program,
        Some(FilterProgram::Ebpf(EbpfProgram {
            id: ebpf_id,
            tag: ebpf_tag,
            name: "warden_t_filter".into(),
            instructions: 2,
        })),
        "the program the descriptor named"
    );
    assert_eq!(facts(&calls[7]), (packet, libc::SOCK_DGRAM, Some("arp")));
}

/// With `Datagrams::First`, each UDP socket's first datagram to each peer, and the first it
/// receives from each, is reported once (of up to eight peers in turn), by the process, at the
/// socket layer; datagrams pass as ever; a connected socket's are its connect's; and nothing
/// stays in the kernel after.
#[test]
fn the_first_datagram_of_a_socket_to_or_from_each_peer_is_reported_once() {
    use std::net::{TcpListener, TcpStream, UdpSocket};
    use std::os::fd::AsRawFd;
    let _one = serialize();
    let config = network_with_datagrams(Datagrams::First);
    let ours = || {
        aya::programs::loaded_programs()
            .filter_map(Result::ok)
            .filter(|p| {
                p.name_as_str().is_some_and(|n| {
                    n.starts_with("warden_datagram") || n.starts_with("warden_packet")
                })
            })
            .count()
    };
    // Another agent's, if one runs.
    let before = ours();
    let Some((src, rx)) = source_with(config) else {
        return;
    };
    assert_eq!(src.first_datagrams(), Some(Ok(())));
    assert_eq!(
        ours(),
        before + 7,
        "the seven programs are loaded (four for UDP, three for raw and ICMP sockets and DNS)"
    );
    let me = std::process::id();
    let udp = || UdpSocket::bind(("127.0.0.1", 0)).unwrap();
    let (a, b, lone, again) = (udp(), udp(), udp(), udp());
    let at = |s: &UdpSocket| s.local_addr().unwrap();
    for _ in 0..3 {
        lone.send_to(b"a", at(&a)).unwrap();
    }
    for _ in 0..2 {
        lone.send_to(b"b", at(&b)).unwrap();
    }
    // Another socket to the same peer is another socket's first.
    again.send_to(b"a", at(&a)).unwrap();
    // A socket that talks with eight peers in turn: each once (a socket keeps eight).
    let eight: Vec<UdpSocket> = (0..8).map(|_| udp()).collect();
    let many = udp();
    for _ in 0..3 {
        for peer in &eight {
            many.send_to(b"m", at(peer)).unwrap();
        }
    }
    let mut buf = [0u8; 8];
    let mut senders = Vec::new();
    for _ in 0..4 {
        senders.push(a.recv_from(&mut buf).unwrap().1);
    }
    senders.sort();
    senders.dedup();
    assert_eq!(senders.len(), 2, "every datagram passed");
    // A connected socket's receive (its connect is recorded) is not.
    let connected = udp();
    connected.connect(at(&lone)).unwrap();
    lone.send_to(b"c", at(&connected)).unwrap();
    connected.recv_from(&mut buf).unwrap();
    let six = UdpSocket::bind(("::1", 0)).ok();
    let six_to = six.as_ref().map(|r6| {
        let s6 = UdpSocket::bind(("::1", 0)).unwrap();
        s6.send_to(b"6", r6.local_addr().unwrap()).unwrap();
        s6.send_to(b"6", r6.local_addr().unwrap()).unwrap();
        r6.recv_from(&mut buf).unwrap();
        r6.recv_from(&mut buf).unwrap();
        s6
    });
    // The end of what is looked at: a call recorded after all of the above.
    let closed = TcpListener::bind(("127.0.0.1", 0))
        .unwrap()
        .local_addr()
        .unwrap();
    assert!(TcpStream::connect(closed).is_err());
    let records = collect(&rx, |seen| {
        net_of(seen, me)
            .iter()
            .any(|n| n.ret == -libc::ECONNREFUSED)
    });
    let firsts: Vec<NetRecord> = net_of(&records, me)
        .into_iter()
        .filter(|n| n.first_datagram)
        .collect();
    let ends = |n: &NetRecord| {
        let local = n.socket.as_ref().and_then(|s| s.local.clone());
        (n.call, local.and_then(|l| l.port()), n.addr.clone())
    };
    let mut got: Vec<_> = firsts.iter().map(ends).collect();
    let port = |s: &UdpSocket| Some(at(s).port());
    let mut expected = vec![
        (NetCall::SendMsg, port(&lone), Some(inet(at(&a)))),
        (NetCall::SendMsg, port(&lone), Some(inet(at(&b)))),
        (NetCall::SendMsg, port(&again), Some(inet(at(&a)))),
        (NetCall::SendMsg, port(&lone), Some(inet(at(&connected)))),
        (NetCall::RecvFrom, port(&a), Some(inet(at(&lone)))),
        (NetCall::RecvFrom, port(&a), Some(inet(at(&again)))),
    ];
    for peer in &eight {
        expected.push((NetCall::SendMsg, port(&many), Some(inet(at(peer)))));
    }
    if let (Some(r6), Some(s6)) = (&six, &six_to) {
        expected.push((NetCall::SendMsg, port(s6), Some(inet(at(r6)))));
        expected.push((NetCall::RecvFrom, port(r6), Some(inet(at(s6)))));
    }
    got.sort_by_key(|e| format!("{e:?}"));
    expected.sort_by_key(|e| format!("{e:?}"));
    assert_eq!(got, expected, "{firsts:#?}");
    for n in &firsts {
        let socket = n.socket.as_ref().unwrap();
        assert_eq!(socket.transport(), Some("udp"), "{n:?}");
        assert_eq!((n.fd, n.ret), (-1, 0), "no call: {n:?}");
        assert_eq!(Some(ticks_of(n.start_ns)), procfs::start_ticks(me), "{n:?}");
    }
    assert!(
        !net_of(&records, me).iter().any(|n| matches!(
            n.call,
            NetCall::SendTo | NetCall::SendMsg | NetCall::RecvFrom
        ) && !n.first_datagram),
        "no call programs for datagrams: {records:#?}"
    );
    let _ = (connected.as_raw_fd(), six_to);
    drop(src);

    // The programs went with the source: the kernel holds none of them (freed after a grace
    // period).
    let deadline = Instant::now() + Duration::from_secs(5);
    while ours() > before {
        assert!(
            Instant::now() < deadline,
            "{} datagram programs left",
            ours() - before
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// With `Datagrams::First`, each raw or ICMP socket's first packet to each peer, and the first
/// from each, is reported once, its peer and local address read from the packet: one sent for
/// the process that sends it, one that comes in for the socket's owner, though it comes in as
/// another process sends it: the socket's maker, or the process found holding it as the source
/// started (with its fd, and the socket's traffic counted for it from then on). The kernel's own
/// replies are nobody's.
#[test]
fn the_first_packet_of_a_raw_socket_to_or_from_each_peer_is_reported_once() {
    use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
    use std::os::fd::{AsRawFd, OwnedFd};
    let _one = serialize();
    // Made before the source starts: found held, and taken up at its first packet.
    let early = socket_of(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_ICMP).unwrap();
    let config = network_with_datagrams(Datagrams::First);
    let Some((src, rx)) = source_with(config) else {
        return;
    };
    assert_eq!(src.first_datagrams(), Some(Ok(())));
    let me = std::process::id();
    // Another process's raw ICMP socket, which every ICMP packet on the host reaches: it only
    // waits, holding it, until its pipe closes.
    let (ready_out, ready_in) = pipe();
    let (hold_out, hold_in) = pipe();
    // SAFETY: the child makes only async-signal-safe calls (socket, write, read, _exit).
    let listener = unsafe { libc::fork() };
    assert!(listener >= 0);
    if listener == 0 {
        // SAFETY: as above, on descriptors the child inherited.
        unsafe {
            // Not to hold this process's sockets open past their close.
            libc::close(hold_in.as_raw_fd());
            libc::close(early.as_raw_fd());
            let made = libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_ICMP);
            libc::write(
                ready_in.as_raw_fd(),
                [u8::from(made >= 0)].as_ptr().cast(),
                1,
            );
            let mut byte = 0u8;
            libc::read(hold_out.as_raw_fd(), (&mut byte as *mut u8).cast(), 1);
            libc::_exit(0);
        }
    }
    /// Closes the child's pipe and reaps it however the test ends.
    struct Reaped(i32, Option<OwnedFd>);
    impl Drop for Reaped {
        fn drop(&mut self) {
            self.1.take();
            // SAFETY: our own child.
            unsafe { libc::waitpid(self.0, std::ptr::null_mut(), 0) };
        }
    }
    let child = Reaped(listener, Some(hold_in));
    drop((ready_in, hold_out));
    let mut made = 0u8;
    // SAFETY: a live pipe and a byte of room.
    let got = unsafe { libc::read(ready_out.as_raw_fd(), (&mut made as *mut u8).cast(), 1) };
    assert_eq!((got, made), (1, 1), "the child made its raw socket");

    let send_echo = |fd: &OwnedFd, to: Ipv4Addr| {
        assert_eq!(sniffer::send_echo(fd, to, 16).unwrap(), 8 + 16);
    };
    let raw = socket_of(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_ICMP).unwrap();
    let (two, three, four) = (
        Ipv4Addr::new(127, 0, 0, 2),
        Ipv4Addr::new(127, 0, 0, 3),
        Ipv4Addr::new(127, 0, 0, 4),
    );
    for _ in 0..3 {
        send_echo(&raw, two);
    }
    send_echo(&raw, three);
    send_echo(&early, four);
    // The end of what is looked at: a call recorded after all of the above (the replies come
    // back within the sends).
    let closed = TcpListener::bind(("127.0.0.1", 0))
        .unwrap()
        .local_addr()
        .unwrap();
    assert!(TcpStream::connect(closed).is_err());
    let early_fd = early.as_raw_fd();
    drop(early);
    let records = collect(&rx, |seen| {
        net_of(seen, me)
            .iter()
            .any(|n| n.ret == -libc::ECONNREFUSED)
            && ends_of(seen, me).iter().any(|n| n.fd == early_fd)
    });
    let host = |ip: Ipv4Addr| Some(inet(SocketAddr::V4(SocketAddrV4::new(ip, 0))));
    let firsts = |pid: u32| -> Vec<NetRecord> {
        net_of(&records, pid)
            .into_iter()
            .filter(|n| n.first_datagram)
            .collect()
    };
    let facts = |n: &NetRecord| {
        let local = n.socket.as_ref().and_then(|s| s.local.clone());
        (n.call, n.fd, n.addr.clone(), local)
    };
    let ours: Vec<_> = firsts(me).iter().map(facts).collect();
    let lo = Ipv4Addr::LOCALHOST;
    for sent in [
        (NetCall::SendMsg, -1, host(two), host(lo)),
        (NetCall::SendMsg, -1, host(three), host(lo)),
        (NetCall::SendMsg, early_fd, host(four), host(lo)),
    ] {
        let times = ours.iter().filter(|&f| *f == sent).count();
        assert_eq!(times, 1, "{sent:?} once: {ours:#?}");
    }
    assert_eq!(
        ours.iter().filter(|f| f.0 == NetCall::SendMsg).count(),
        3,
        "no other: the kernel's replies are nobody's: {ours:#?}"
    );
    // Each socket sees its own requests come in (from 127.0.0.1) and the replies (from the
    // hosts pinged).
    for came in [
        (NetCall::RecvFrom, -1, host(lo), host(two)),
        (NetCall::RecvFrom, -1, host(two), host(lo)),
        (NetCall::RecvFrom, -1, host(three), host(lo)),
        (NetCall::RecvFrom, early_fd, host(lo), host(two)),
        (NetCall::RecvFrom, early_fd, host(four), host(lo)),
    ] {
        let times = ours.iter().filter(|&f| *f == came).count();
        assert_eq!(times, 1, "{came:?} once: {ours:#?}");
    }
    for n in firsts(me) {
        let socket = n.socket.as_ref().unwrap();
        assert_eq!(
            (socket.sock_type, socket.transport()),
            (libc::SOCK_RAW, Some("icmp")),
            "{n:?}"
        );
        // Requests out (and each socket's own, seen coming in from 127.0.0.1), replies in.
        let request = n.call == NetCall::SendMsg || n.addr == host(lo);
        assert_eq!(n.icmp, Some(if request { (8, 0) } else { (0, 0) }), "{n:?}");
        assert_eq!(Some(ticks_of(n.start_ns)), procfs::start_ticks(me), "{n:?}");
    }
    // The listener's: each packet came in as this process sent it.
    let theirs: Vec<_> = firsts(listener as u32).iter().map(facts).collect();
    for came in [two, three, four] {
        let reply = (NetCall::RecvFrom, -1, host(came), host(lo));
        assert!(theirs.contains(&reply), "{reply:?}: {theirs:#?}");
    }
    assert!(
        theirs.contains(&(NetCall::RecvFrom, -1, host(lo), host(two))),
        "{theirs:#?}"
    );
    assert!(
        theirs.iter().all(|f| f.0 == NetCall::RecvFrom),
        "{theirs:#?}"
    );
    // The socket found held: its traffic counted for this process from its first packet, with
    // its fd, marked found open. It received its first (our request to 127.0.0.2).
    let end = ends_of(&records, me)
        .into_iter()
        .find(|n| n.fd == early_fd)
        .unwrap();
    let t = end.traffic.unwrap();
    assert!(t.found_open, "{end:#?}");
    assert_eq!(end.call, NetCall::RecvFrom, "{end:#?}");
    assert_eq!(t.segments_sent, 1, "{end:#?}");
    drop((raw, child, src));
}

/// A DNS exchange over UDP port 53 is recorded from its packets: the query for the process
/// that sent it, the answer for that process too (its socket's asker), though it comes in as
/// the server (this process) sends it; each with the message (an answer longer than 512 bytes
/// cut to them), the socket's key the two share, and both ends. The server's side of it
/// (a query in, an answer out) is not a client's lookup, and is not recorded.
#[test]
fn dns_queries_and_answers_are_recorded_for_the_asking_process() {
    use std::net::UdpSocket;
    use std::os::fd::AsRawFd;
    let _one = serialize();
    let Some((src, rx)) = source_with(EbpfConfig {
        network: Some(NetworkActivityConfig::default()),
        ..EbpfConfig::default()
    }) else {
        return;
    };
    assert_eq!(src.dns(), Some(Ok(())));
    let me = std::process::id();
    let server = UdpSocket::bind(("127.53.0.1", 53)).expect("port 53 on 127.53.0.1");
    server
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let small = dns::query(0x4242, "exfil.example", false);
    let big = dns::query(0x4343, "big.example", true);
    // The asker: another process, which sends both queries over one connected socket and
    // reads each answer.
    let (done_out, done_in) = pipe();
    let to = sockaddr_in_of(std::net::SocketAddrV4::new([127, 53, 0, 1].into(), 53));
    // SAFETY: the child makes only async-signal-safe calls (socket, connect, send, recv,
    // write, _exit) on memory prepared before the fork.
    let asker = unsafe { libc::fork() };
    assert!(asker >= 0);
    if asker == 0 {
        // SAFETY: as above.
        unsafe {
            libc::close(done_out.as_raw_fd());
            let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0);
            // Never waits for good, should this process fail.
            let wait = libc::timeval {
                tv_sec: 5,
                tv_usec: 0,
            };
            let mut ok = fd >= 0
                && libc::setsockopt(
                    fd,
                    libc::SOL_SOCKET,
                    libc::SO_RCVTIMEO,
                    (&wait as *const libc::timeval).cast(),
                    std::mem::size_of::<libc::timeval>() as u32,
                ) == 0
                && libc::connect(
                    fd,
                    (&to as *const libc::sockaddr_in).cast(),
                    std::mem::size_of::<libc::sockaddr_in>() as u32,
                ) == 0;
            let mut buf = [0u8; 2048];
            for query in [&small, &big] {
                ok = ok
                    && libc::send(fd, query.as_ptr().cast(), query.len(), 0)
                        == query.len() as isize
                    && libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) > 0;
            }
            libc::write(done_in.as_raw_fd(), [u8::from(ok)].as_ptr().cast(), 1);
            libc::_exit(0);
        }
    }
    drop(done_in);
    // Read while it waits for its first answer.
    let asker_start = procfs::start_ticks(asker as u32);
    assert!(asker_start.is_some());
    let mut answers = Vec::new();
    let mut buf = [0u8; 2048];
    for given in [
        dns::Given::Address([192, 0, 2, 9].into()),
        dns::Given::Text(700),
    ] {
        let (n, from) = server.recv_from(&mut buf).unwrap();
        let answer = dns::answer(&buf[..n], &given).unwrap();
        server.send_to(&answer, from).unwrap();
        answers.push((answer, from));
    }
    let mut ok = 0u8;
    // SAFETY: a live pipe and a byte of room.
    let got = unsafe { libc::read(done_out.as_raw_fd(), (&mut ok as *mut u8).cast(), 1) };
    // SAFETY: our own child.
    unsafe { libc::waitpid(asker, std::ptr::null_mut(), 0) };
    assert_eq!((got, ok), (1, 1), "the asker's exchange");
    let asker = asker as u32;
    let dns_of = |records: &[Record]| -> Vec<NetRecord> {
        records
            .iter()
            .filter_map(|r| match r {
                Record::Net(n) if n.dns.is_some() && (n.pid == asker || n.pid == me) => {
                    Some((**n).clone())
                }
                _ => None,
            })
            .collect()
    };
    let records = collect(&rx, |seen| dns_of(seen).len() >= 4);
    std::thread::sleep(Duration::from_millis(200));
    let mut records = records;
    records.extend(rx.try_iter());
    let got = dns_of(&records);
    assert_eq!(
        got.len(),
        4,
        "two queries, two answers, nothing of the server's: {got:#?}"
    );
    let server_end = inet(server.local_addr().unwrap());
    let client_end = inet(answers[0].1);
    for (n, (call, message, cut)) in got.iter().zip([
        (NetCall::SendMsg, small.clone(), false),
        (NetCall::RecvFrom, answers[0].0.clone(), false),
        (NetCall::SendMsg, big.clone(), false),
        (NetCall::RecvFrom, answers[1].0[..512].to_vec(), true),
    ]) {
        assert_eq!(n.pid, asker, "the asker's, both ways: {n:#?}");
        assert_eq!(n.call, call, "{n:#?}");
        let capture = n.dns.as_ref().unwrap();
        assert_eq!((&capture.bytes, capture.cut), (&message, cut), "{n:#?}");
        assert_eq!(
            capture.socket,
            got[0].dns.as_ref().unwrap().socket,
            "one socket"
        );
        let socket = n.socket.as_ref().unwrap();
        assert_eq!(
            (socket.protocol, socket.local.clone(), socket.remote.clone()),
            (
                libc::IPPROTO_UDP,
                Some(client_end.clone()),
                Some(server_end.clone())
            ),
            "{n:#?}"
        );
        assert_eq!(Some(ticks_of(n.start_ns)), asker_start, "{n:#?}");
        assert_eq!(
            (n.fd, n.addr.clone(), n.addr_cut),
            (-1, None, false),
            "{n:#?}"
        );
    }
    assert!(answers[1].0.len() > 512);
    drop(src);
}

/// DNS over TCP (a truncated answer's retry, a zone transfer): a connection to port 53 carries
/// each message after its two-byte length, recorded as UDP's are (an answer longer than 512
/// bytes cut to them); the server's side of the connection is not.
#[test]
fn dns_over_tcp_is_recorded_too() {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    let _one = serialize();
    let Some((src, rx)) = source_with(network_with_datagrams(Datagrams::Off)) else {
        return;
    };
    assert_eq!(src.dns(), Some(Ok(())));
    let me = std::process::id();
    let framed = |message: &[u8]| {
        let mut bytes = (message.len() as u16).to_be_bytes().to_vec();
        bytes.extend_from_slice(message);
        bytes
    };
    let read_framed = |conn: &mut TcpStream| {
        let mut len = [0u8; 2];
        conn.read_exact(&mut len).unwrap();
        let mut message = vec![0; usize::from(u16::from_be_bytes(len))];
        conn.read_exact(&mut message).unwrap();
        message
    };
    let server = TcpListener::bind(("127.53.0.1", 53)).expect("TCP port 53 on 127.53.0.1");
    let serving = std::thread::spawn(move || {
        let (mut conn, _) = server.accept().unwrap();
        let query = read_framed(&mut conn);
        let answer = dns::answer(&query, &dns::Given::Text(700)).unwrap();
        conn.write_all(&framed(&answer)).unwrap();
        answer
    });
    let query = dns::query(0x4444, "zone.example", true);
    let mut client = TcpStream::connect(("127.53.0.1", 53)).unwrap();
    client.write_all(&framed(&query)).unwrap();
    let answer = read_framed(&mut client);
    assert_eq!(answer, serving.join().unwrap());
    assert!(answer.len() > 512);
    let dns_of = |records: &[Record]| -> Vec<NetRecord> {
        net_of(records, me)
            .into_iter()
            .filter(|n| n.dns.is_some())
            .collect()
    };
    let mut records = collect(&rx, |seen| dns_of(seen).len() >= 2);
    std::thread::sleep(Duration::from_millis(200));
    records.extend(rx.try_iter());
    let got = dns_of(&records);
    assert_eq!(
        got.len(),
        2,
        "the query and the answer, not the server's: {got:#?}"
    );
    let server_end = inet("127.53.0.1:53".parse().unwrap());
    let client_end = inet(client.local_addr().unwrap());
    for (n, (call, message, cut)) in got.iter().zip([
        (NetCall::SendMsg, query, false),
        (NetCall::RecvFrom, answer[..512].to_vec(), true),
    ]) {
        assert_eq!(n.call, call, "{n:#?}");
        let capture = n.dns.as_ref().unwrap();
        assert_eq!((&capture.bytes, capture.cut), (&message, cut), "{n:#?}");
        let socket = n.socket.as_ref().unwrap();
        assert_eq!(
            (socket.sock_type, socket.protocol),
            (libc::SOCK_STREAM, libc::IPPROTO_TCP)
        );
        assert_eq!(
            (socket.local.clone(), socket.remote.clone()),
            (Some(client_end.clone()), Some(server_end.clone()))
        );
    }
    drop((client, src));
}

/// The running kernel's (major, minor).
fn kernel_version() -> (u32, u32) {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let mut parts = release
        .trim()
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

/// The source as `config` asks, where io_uring's operations can be followed (Linux 6.17 and
/// later: the tracepoints' arguments were others before).
fn uring_source(config: EbpfConfig) -> Option<(EbpfSource, crossbeam_channel::Receiver<Record>)> {
    let started = source_with(config)?;
    if kernel_version() < (6, 17) {
        eprintln!("skipped: the io_uring tracepoints have other arguments before 6.17");
        return None;
    }
    Some(started)
}

/// io_uring's socket operation makes a socket without socket(2): a packet or raw one is
/// reported all the same (as its syscall would be, flagged io_uring's; one into a fixed slot
/// with no fd), and an ordinary one is not.
#[test]
fn io_uring_packet_and_raw_sockets_are_reported() {
    use io_uring::{IoUring, opcode, types};
    use std::os::fd::{FromRawFd, OwnedFd};
    let _one = serialize();
    let config = EbpfConfig {
        network: Some(NetworkActivityConfig {
            io_uring: true,
            datagrams: Datagrams::Off,
            ..NetworkActivityConfig::default()
        }),
        ..EbpfConfig::default()
    };
    let Some((src, rx)) = uring_source(config) else {
        return;
    };
    assert_eq!(src.network_io_uring(), Some(Ok(())));
    let mut ring = IoUring::new(8).expect("io_uring on this kernel");
    ring.submitter().register_files_sparse(2).unwrap();
    let mut complete = |entry: io_uring::squeue::Entry| -> i32 {
        // SAFETY: the entry points at nothing of ours.
        unsafe { ring.submission().push(&entry).unwrap() };
        ring.submit_and_wait(1).unwrap();
        ring.completion().next().expect("a completion").result()
    };
    let me = std::process::id();
    let ordinary = complete(opcode::Socket::new(libc::AF_INET, libc::SOCK_STREAM, 0).build());
    assert!(ordinary >= 0, "io_uring socket: {ordinary}");
    // SAFETY: the new socket's fd, ours now.
    let _ordinary = unsafe { OwnedFd::from_raw_fd(ordinary) };
    let all = i32::from((libc::ETH_P_ALL as u16).to_be());
    let packet = complete(opcode::Socket::new(libc::AF_PACKET, libc::SOCK_RAW, all).build());
    assert!(packet >= 0, "io_uring packet socket: {packet}");
    // SAFETY: likewise.
    let _packet = unsafe { OwnedFd::from_raw_fd(packet) };
    let direct = opcode::Socket::new(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_ICMP)
        .file_index(Some(
            types::DestinationSlot::try_from_slot_target(1).unwrap(),
        ))
        .build();
    assert_eq!(complete(direct), 0, "a raw socket into fixed slot 1");

    let records = collect(&rx, |seen| {
        net_of(seen, me).iter().filter(|n| n.io_uring).count() >= 2
    });
    std::thread::sleep(Duration::from_millis(200));
    let mut records = records;
    records.extend(rx.try_iter());
    let made: Vec<_> = net_of(&records, me)
        .into_iter()
        .filter(|n| n.call == NetCall::Socket)
        .map(|n| {
            let s = n.socket.expect("as asked");
            (
                n.io_uring,
                n.fd,
                n.ret,
                s.family,
                s.sock_type,
                s.transport(),
            )
        })
        .collect();
    assert_eq!(
        made,
        [
            (
                true,
                packet,
                packet,
                libc::AF_PACKET as u16,
                libc::SOCK_RAW,
                Some("all")
            ),
            (
                true,
                -1,
                0,
                libc::AF_INET as u16,
                libc::SOCK_RAW,
                Some("icmp")
            ),
        ],
        "the packet and raw sockets, not the stream one"
    );
}

/// io_uring's connects and accepts bypass the syscalls the network programs watch; their
/// completions are reported all the same, with both ends.
#[test]
fn io_uring_connects_and_accepts_are_reported() {
    use io_uring::{IoUring, opcode, types};
    use std::net::{SocketAddr, TcpListener};
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    let _one = serialize();
    let config = EbpfConfig {
        network: Some(NetworkActivityConfig {
            io_uring: true,
            ..NetworkActivityConfig::default()
        }),
        ..EbpfConfig::default()
    };
    let Some((src, rx)) = uring_source(config) else {
        return;
    };
    assert_eq!(src.network(), Some(Ok(())));
    assert_eq!(src.network_io_uring(), Some(Ok(())));
    let mut ring = match IoUring::new(8) {
        Ok(ring) => ring,
        Err(e) => panic!("io_uring should be available on this kernel: {e}"),
    };
    // Room for a connection accepted into the ring's own slots (below).
    ring.submitter().register_files_sparse(2).unwrap();
    let mut complete = |entry: io_uring::squeue::Entry| -> i32 {
        // SAFETY: the entry's pointers (the address below) outlive the wait for its completion.
        unsafe { ring.submission().push(&entry).unwrap() };
        ring.submit_and_wait(1).unwrap();
        ring.completion().next().expect("a completion").result()
    };
    let me = std::process::id();
    let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let server = listener.local_addr().unwrap();
    let SocketAddr::V4(server4) = server else {
        unreachable!()
    };
    let (client, target) = tcp_client_to(server4);
    let connect = opcode::Connect::new(
        types::Fd(client.as_raw_fd()),
        (&raw const target).cast(),
        std::mem::size_of::<libc::sockaddr_in>() as u32,
    );
    assert_eq!(complete(connect.build()), 0, "io_uring connect");
    let accept = opcode::Accept::new(
        types::Fd(listener.as_raw_fd()),
        std::ptr::null_mut(),
        std::ptr::null_mut(),
    );
    let accepted = complete(accept.build());
    assert!(accepted >= 0, "io_uring accept: {accepted}");
    // SAFETY: the accepted connection's fd, ours now.
    let accepted = unsafe { OwnedFd::from_raw_fd(accepted) };
    let client_end = local_end_of(client.as_raw_fd()).unwrap();
    // A second connection, accepted into a fixed slot: no fd, the socket found in the ring's
    // table.
    let second = std::net::TcpStream::connect(server).unwrap();
    let second_end = local_end_of(second.as_raw_fd()).unwrap();
    let direct = opcode::Accept::new(
        types::Fd(listener.as_raw_fd()),
        std::ptr::null_mut(),
        std::ptr::null_mut(),
    )
    .file_index(Some(types::DestinationSlot::auto_target()));
    let slot = complete(direct.build());
    assert!(slot >= 0, "io_uring direct accept: {slot}");

    let records = collect(&rx, |seen| {
        net_of(seen, me).iter().filter(|n| n.io_uring).count() >= 3
    });
    let uring: Vec<_> = net_of(&records, me)
        .into_iter()
        .filter(|n| n.io_uring)
        .collect();
    let connect = uring
        .iter()
        .find(|n| n.call == NetCall::Connect)
        .unwrap_or_else(|| panic!("no io_uring connect: {uring:#?}"));
    assert_eq!((connect.ret, connect.fd), (0, -1));
    assert_eq!(connect.addr, Some(inet(server)), "the address asked for");
    let socket = connect.socket.as_ref().unwrap();
    assert_eq!(socket.transport(), Some("tcp"));
    assert_eq!(socket.local.as_ref(), Some(&client_end));
    assert_eq!(socket.remote, Some(inet(server)));
    let accept = uring
        .iter()
        .find(|n| n.call == NetCall::Accept && n.ret == accepted.as_raw_fd())
        .unwrap_or_else(|| panic!("no io_uring accept: {uring:#?}"));
    let socket = accept.socket.as_ref().unwrap();
    assert_eq!(socket.local, Some(inet(server)));
    assert_eq!(socket.remote.as_ref(), Some(&client_end));
    let direct = uring
        .iter()
        .find(|n| n.call == NetCall::Accept && n.ret == slot)
        .unwrap_or_else(|| panic!("no io_uring direct accept: {uring:#?}"));
    let socket = direct.socket.as_ref().unwrap();
    assert_eq!(socket.local, Some(inet(server)));
    assert_eq!(
        socket.remote.as_ref(),
        Some(&second_end),
        "the new connection's peer"
    );
    // Nothing of it came through the syscalls' programs.
    assert!(
        net_of(&records, me)
            .iter()
            .all(|n| n.io_uring || n.call != NetCall::Connect || n.fd != client.as_raw_fd()),
        "{records:#?}"
    );

    // The connection the ring made and took ends like any: from both sides, with no fd (the
    // ring's completion did not say it, or named a slot).
    drop((client, accepted));
    let ended_side = |records: &[Record], call: NetCall| {
        ends_of(records, me).into_iter().find(|n| {
            n.call == call
                && !n.traffic.unwrap().still_open
                && client_end_of(n).as_ref() == Some(&client_end)
        })
    };
    let records = collect(&rx, |seen| {
        ended_side(seen, NetCall::Connect).is_some() && ended_side(seen, NetCall::Accept).is_some()
    });
    for call in [NetCall::Connect, NetCall::Accept] {
        assert_eq!(ended_side(&records, call).unwrap().fd, -1, "{call:?}");
    }
}

/// io_uring's file operations pass none of the file calls' tracepoints; they are reported all
/// the same, as their syscalls would be: an open with its file, a close after writing, named
/// operations with their names (relative to a directory fd too) and their results, failures
/// included; one that asks for no completion on success as submitted.
#[test]
fn io_uring_file_operations_are_reported() {
    use io_uring::{IoUring, opcode, squeue, types};
    use std::ffi::CString;
    use std::os::fd::AsRawFd;
    let _one = serialize();
    let config = EbpfConfig {
        files: Some(FileActivityConfig {
            write_opens: true,
            io_uring: true,
        }),
        ..EbpfConfig::default()
    };
    let Some((src, rx)) = uring_source(config) else {
        return;
    };
    assert_eq!(src.files(), Some(Ok(())));
    assert_eq!(src.files_io_uring(), Some(Ok(())));
    assert_eq!(src.network_io_uring(), None, "not asked for");
    let dir = tempfile::tempdir().unwrap();
    let dir_path = std::fs::canonicalize(dir.path()).unwrap();
    let at = |name: &str| dir_path.join(name).into_os_string().into_vec();
    let c = |name: &[u8]| CString::new(name).unwrap();
    let dirfd = std::fs::File::open(&dir_path).unwrap();
    let mut ring = IoUring::new(8).unwrap();
    // Room for files opened into the ring's own slots (below).
    ring.submitter().register_files_sparse(4).unwrap();
    let mut run = |entry: io_uring::squeue::Entry, wait: bool| -> Option<i32> {
        // SAFETY: every name and buffer below outlives its operation (reaped here, or done
        // once the call returns: the no-completion ones are waited for by their effect).
        unsafe { ring.submission().push(&entry).unwrap() };
        if !wait {
            ring.submit().unwrap();
            return None;
        }
        ring.submit_and_wait(1).unwrap();
        Some(ring.completion().next().expect("a completion").result())
    };
    // Create "a" (absolute name), then close it through the ring.
    let a = c(&at("a"));
    let open = opcode::OpenAt::new(types::Fd(libc::AT_FDCWD), a.as_ptr())
        .flags(libc::O_CREAT | libc::O_WRONLY)
        .mode(0o640)
        .build();
    let fd = run(open, true).unwrap();
    assert!(fd >= 0, "io_uring open: {fd}");
    // SAFETY: our fd; written once so that its close is a close after writing.
    assert_eq!(unsafe { libc::write(fd, b"x".as_ptr().cast(), 1) }, 1);
    assert_eq!(
        run(opcode::Close::new(types::Fd(fd)).build(), true),
        Some(0)
    );
    // Rename "a" to "b" relative to a directory fd; a directory, a symlink, a link.
    let (rel_a, rel_b) = (c(b"a"), c(b"b"));
    let rename = opcode::RenameAt::new(
        types::Fd(dirfd.as_raw_fd()),
        rel_a.as_ptr(),
        types::Fd(dirfd.as_raw_fd()),
        rel_b.as_ptr(),
    );
    assert_eq!(run(rename.build(), true), Some(0));
    let sub = c(&at("sub"));
    let mkdir = opcode::MkDirAt::new(types::Fd(libc::AT_FDCWD), sub.as_ptr()).mode(0o755);
    assert_eq!(run(mkdir.build(), true), Some(0));
    let (target, link) = (c(b"b"), c(&at("s")));
    let symlink = opcode::SymlinkAt::new(types::Fd(libc::AT_FDCWD), target.as_ptr(), link.as_ptr());
    assert_eq!(run(symlink.build(), true), Some(0));
    let (b, h) = (c(&at("b")), c(&at("h")));
    let hard = opcode::LinkAt::new(
        types::Fd(libc::AT_FDCWD),
        b.as_ptr(),
        types::Fd(libc::AT_FDCWD),
        h.as_ptr(),
    );
    assert_eq!(run(hard.build(), true), Some(0));
    // A truncate through the ring, of a file opened the usual way.
    let held = std::fs::OpenOptions::new()
        .write(true)
        .open(dir_path.join("h"))
        .unwrap();
    let truncate = opcode::Ftruncate::new(types::Fd(held.as_raw_fd()), 0);
    assert_eq!(run(truncate.build(), true), Some(0));
    // Opens into the ring's fixed file slots: no fd, the file found in the ring's table (the
    // slot asked for, and one the kernel picks).
    let (fixed, fixed_any) = (c(&at("fixed")), c(&at("fixed-any")));
    for (name, slot) in [
        (
            &fixed,
            types::DestinationSlot::try_from_slot_target(1).unwrap(),
        ),
        (&fixed_any, types::DestinationSlot::auto_target()),
    ] {
        let open = opcode::OpenAt::new(types::Fd(libc::AT_FDCWD), name.as_ptr())
            .flags(libc::O_CREAT | libc::O_WRONLY)
            .mode(0o600)
            .file_index(Some(slot))
            .build();
        let res = run(open, true).unwrap();
        assert!(res >= 0, "fixed-slot open: {res}");
    }
    // Written and closed in its slot: a close after writing too.
    let byte = [b'x'];
    let write = opcode::Write::new(types::Fixed(1), byte.as_ptr(), 1).build();
    assert_eq!(run(write, true), Some(1));
    assert_eq!(
        run(opcode::Close::new(types::Fixed(1)).build(), true),
        Some(0)
    );
    // A refused unlink, and one that asks for no completion on success.
    let missing = c(&at("never-was"));
    let refused = opcode::UnlinkAt::new(types::Fd(libc::AT_FDCWD), missing.as_ptr());
    assert_eq!(run(refused.build(), true), Some(-libc::ENOENT));
    let quiet = opcode::UnlinkAt::new(types::Fd(libc::AT_FDCWD), h.as_ptr())
        .build()
        .flags(squeue::Flags::SKIP_SUCCESS);
    run(quiet, false);
    let deadline = Instant::now() + Duration::from_secs(5);
    while dir_path.join("h").exists() {
        assert!(Instant::now() < deadline, "the quiet unlink never happened");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(
        ring.completion().next().is_none(),
        "a completion was posted"
    );
    // Two renames in flight at once under one tag (0, as many submitters leave it): each gets
    // its own result.
    let (b2, found, none, lost) = (c(&at("b")), c(&at("found")), c(&at("none")), c(&at("lost")));
    for (from, to) in [(&b2, &found), (&none, &lost)] {
        let rename = opcode::RenameAt::new(
            types::Fd(libc::AT_FDCWD),
            from.as_ptr(),
            types::Fd(libc::AT_FDCWD),
            to.as_ptr(),
        );
        // SAFETY: the names outlive both operations (reaped below).
        unsafe {
            ring.submission()
                .push(&rename.build().user_data(0))
                .unwrap()
        };
    }
    ring.submit_and_wait(2).unwrap();
    let mut both: Vec<i32> = ring.completion().map(|c| c.result()).collect();
    both.sort_unstable();
    assert_eq!(both, [-libc::ENOENT, 0]);
    // Submitted by the kernel's polling thread (SQPOLL), not by a syscall of ours: the
    // operation is still this process's, and its relative name still this directory's.
    let mut polled: IoUring = IoUring::builder().setup_sqpoll(1000).build(4).unwrap();
    let (rel_s, rel_t) = (c(b"s"), c(b"t"));
    let rename = opcode::RenameAt::new(
        types::Fd(dirfd.as_raw_fd()),
        rel_s.as_ptr(),
        types::Fd(dirfd.as_raw_fd()),
        rel_t.as_ptr(),
    );
    // SAFETY: the names outlive the operation (reaped below).
    unsafe { polled.submission().push(&rename.build()).unwrap() };
    polled.submit_and_wait(1).unwrap();
    assert_eq!(polled.completion().next().map(|c| c.result()), Some(0));

    let me = std::process::id();
    let uring_files = |seen: &[Record]| -> Vec<FileRecord> {
        seen.iter()
            .filter_map(|r| match r {
                Record::File(f) if f.pid == me && f.io_uring => Some((**f).clone()),
                _ => None,
            })
            .collect()
    };
    let records = collect(&rx, |seen| uring_files(seen).len() >= 15);
    let files = uring_files(&records);
    let find = |op: FileOp, path: &[u8]| -> FileRecord {
        files
            .iter()
            .find(|f| f.op == op && f.path == path)
            .cloned()
            .unwrap_or_else(|| panic!("no {op:?} of {}: {files:#?}", String::from_utf8_lossy(path)))
    };
    let create = find(FileOp::Create, &at("a"));
    assert_eq!((create.call, create.ret), (Some("openat"), fd));
    assert_eq!(create.mode.map(|m| m & 0o7777), Some(0o640));
    let close = find(FileOp::CloseWrite, &at("a"));
    assert_eq!(close.inode, create.inode, "the same file");
    let renamed = find(FileOp::Rename, &at("b"));
    assert_eq!(
        renamed.other.as_deref(),
        Some(&at("a")[..]),
        "made absolute by the dir fd"
    );
    assert_eq!(
        (renamed.call, renamed.ret, renamed.submitted),
        (Some("renameat2"), 0, false)
    );
    assert_eq!(find(FileOp::Mkdir, &at("sub")).ret, 0);
    let symlinked = find(FileOp::Symlink, &at("s"));
    assert_eq!(
        symlinked.other.as_deref(),
        Some(&b"b"[..]),
        "the target as given"
    );
    assert_eq!(
        find(FileOp::Link, &at("h")).other.as_deref(),
        Some(&at("b")[..])
    );
    let truncated = find(FileOp::Truncate, &at("h"));
    assert_eq!((truncated.call, truncated.ret), (Some("ftruncate"), 0));
    assert_eq!(
        find(FileOp::Unlink, &at("never-was")).ret,
        -libc::ENOENT,
        "with its result"
    );
    let quiet = find(FileOp::Unlink, &at("h"));
    assert!(quiet.submitted, "{quiet:?}");
    for name in ["fixed", "fixed-any"] {
        let created = find(FileOp::Create, &at(name));
        assert_eq!(created.mode.map(|m| m & 0o7777), Some(0o600), "{created:?}");
    }
    let fixed_close = find(FileOp::CloseWrite, &at("fixed"));
    assert_eq!(fixed_close.inode, find(FileOp::Create, &at("fixed")).inode);
    let found_rename = find(FileOp::Rename, &at("found"));
    assert_eq!((found_rename.ret, found_rename.submitted), (0, false));
    let lost_rename = find(FileOp::Rename, &at("lost"));
    assert_eq!(
        (lost_rename.ret, lost_rename.submitted),
        (-libc::ENOENT, false)
    );
    let polled_rename = find(FileOp::Rename, &at("t"));
    assert_eq!(polled_rename.other.as_deref(), Some(&at("s")[..]));
    assert_eq!(polled_rename.ret, 0);
    assert!(
        files.iter().all(|f| f.uring_pending.is_none()),
        "all paired"
    );
    assert_eq!(src.stats().uring_unpaired, 0);
    drop(held);
}

/// A TCP socket of ours, and the address of `server` as connect(2) takes it.
fn tcp_client_to(server: std::net::SocketAddrV4) -> (std::os::fd::OwnedFd, libc::sockaddr_in) {
    use std::os::fd::FromRawFd;
    // SAFETY: plain socket(2).
    let client = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0) };
    assert!(client >= 0);
    let target = sockaddr_in_of(server);
    // SAFETY: a fresh fd of ours.
    (unsafe { std::os::fd::OwnedFd::from_raw_fd(client) }, target)
}

/// Two ways past a program at io_uring's completions: asking for no completion on success
/// (`IOSQE_CQE_SKIP_SUCCESS`), and filling the completion queue first so that the kernel sets
/// the completion aside. Both connects are reported all the same: the first as submitted
/// (its failure too, when it fails), the second as it overflowed.
#[test]
fn io_uring_connects_that_skip_or_overflow_their_completion_are_reported() {
    use io_uring::{IoUring, opcode, squeue, types};
    use std::net::{SocketAddr, TcpListener};
    use std::os::fd::AsRawFd;
    let _one = serialize();
    let config = EbpfConfig {
        network: Some(NetworkActivityConfig {
            io_uring: true,
            ..NetworkActivityConfig::default()
        }),
        ..EbpfConfig::default()
    };
    let Some((src, rx)) = uring_source(config) else {
        return;
    };
    assert_eq!(src.network_io_uring(), Some(Ok(())));
    let me = std::process::id();
    let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let server = listener.local_addr().unwrap();
    let SocketAddr::V4(server4) = server else {
        unreachable!()
    };
    let closed4 = std::net::SocketAddrV4::new(std::net::Ipv4Addr::LOCALHOST, free_port());
    let closed = SocketAddr::V4(closed4);
    let sockaddr_len = std::mem::size_of::<libc::sockaddr_in>() as u32;

    // 1. No completion on success: the connect succeeds and the ring stays empty.
    let mut ring = IoUring::new(4).unwrap();
    let (quiet, target) = tcp_client_to(server4);
    let connect = opcode::Connect::new(
        types::Fd(quiet.as_raw_fd()),
        (&raw const target).cast(),
        sockaddr_len,
    )
    .build()
    .flags(squeue::Flags::SKIP_SUCCESS);
    // SAFETY: `target` outlives the operation (it is done once the socket has its peer).
    unsafe { ring.submission().push(&connect).unwrap() };
    ring.submit().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while peer_of(quiet.as_raw_fd()).is_none() {
        assert!(
            Instant::now() < deadline,
            "the quiet connect never connected"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(
        ring.completion().next().is_none(),
        "a completion was posted"
    );
    // 2. The same, failing: its failure completes.
    let (refused, target_closed) = tcp_client_to(closed4);
    let connect = opcode::Connect::new(
        types::Fd(refused.as_raw_fd()),
        (&raw const target_closed).cast(),
        sockaddr_len,
    )
    .build()
    .flags(squeue::Flags::SKIP_SUCCESS);
    // SAFETY: as above; the wait is for its completion.
    unsafe { ring.submission().push(&connect).unwrap() };
    ring.submit_and_wait(1).unwrap();
    let failed = ring
        .completion()
        .next()
        .expect("a failure completes")
        .result();
    assert_eq!(failed, -libc::ECONNREFUSED);
    // 3. A bind, the same way: its address comes from the kernel's copy.
    let (bound, _) = tcp_client_to(server4);
    let here = std::net::SocketAddrV4::new(std::net::Ipv4Addr::LOCALHOST, free_port());
    let (_, here_raw) = tcp_client_to(here);
    let bind = opcode::Bind::new(
        types::Fd(bound.as_raw_fd()),
        (&raw const here_raw).cast(),
        sockaddr_len,
    )
    .build()
    .flags(squeue::Flags::SKIP_SUCCESS);
    // SAFETY: `here_raw` outlives the operation (done once the socket has its name).
    unsafe { ring.submission().push(&bind).unwrap() };
    ring.submit().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while local_end_of(bound.as_raw_fd()) != Some(inet(here.into())) {
        assert!(Instant::now() < deadline, "the quiet bind never bound");
        std::thread::sleep(Duration::from_millis(5));
    }
    // 4. A completion queue of two, filled by two no-ops nobody reaps; then a connect.
    let mut full: IoUring = IoUring::builder().setup_cqsize(2).build(2).unwrap();
    assert!(
        full.params().is_feature_nodrop(),
        "no overflow list on this kernel"
    );
    for _ in 0..2 {
        // SAFETY: a no-op holds no pointer.
        unsafe { full.submission().push(&opcode::Nop::new().build()).unwrap() };
    }
    full.submit_and_wait(2).unwrap();
    let (crowded, target) = tcp_client_to(server4);
    let connect = opcode::Connect::new(
        types::Fd(crowded.as_raw_fd()),
        (&raw const target).cast(),
        sockaddr_len,
    );
    // SAFETY: `target` outlives the operation (reaped below).
    unsafe { full.submission().push(&connect.build()).unwrap() };
    full.submit().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while peer_of(crowded.as_raw_fd()).is_none() {
        assert!(
            Instant::now() < deadline,
            "the crowded connect never connected"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    // Reaping the no-ops lets the set-aside completion in.
    let nops: Vec<_> = full.completion().map(|c| c.result()).collect();
    assert_eq!(nops, [0, 0]);
    full.submit_and_wait(1).unwrap();
    let results: Vec<_> = full.completion().map(|c| c.result()).collect();
    assert_eq!(results, [0], "the connect's completion, after the overflow");

    let uring_connects = |seen: &[Record]| -> Vec<NetRecord> {
        net_of(seen, me)
            .into_iter()
            .filter(|n| n.io_uring && n.call == NetCall::Connect)
            .collect()
    };
    let records = collect(&rx, |seen| {
        uring_connects(seen).len() >= 4
            && net_of(seen, me)
                .iter()
                .any(|n| n.io_uring && n.call == NetCall::Bind)
    });
    let connects = uring_connects(&records);
    let find = |what: &str, want: &dyn Fn(&NetRecord) -> bool| {
        connects
            .iter()
            .find(|n| want(n))
            .cloned()
            .unwrap_or_else(|| panic!("no {what}: {connects:#?}"))
    };
    let quiet_record = find("submitted connect", &|n| {
        n.submitted && n.addr == Some(inet(server))
    });
    assert_eq!((quiet_record.ret, quiet_record.fd), (0, -1));
    assert_eq!(
        quiet_record
            .socket
            .as_ref()
            .and_then(SocketFacts::transport),
        Some("tcp"),
        "the socket as it stood"
    );
    find("submitted refused connect", &|n| {
        n.submitted && n.addr == Some(inet(closed))
    });
    let refusal = find("refusal", &|n| n.ret == -libc::ECONNREFUSED);
    assert!(!refusal.submitted && !refusal.cq_overflow);
    assert_eq!(refusal.addr, Some(inet(closed)));
    let overflowed = find("overflowed connect", &|n| n.cq_overflow);
    let quiet_bind = net_of(&records, me)
        .into_iter()
        .find(|n| n.io_uring && n.call == NetCall::Bind)
        .unwrap_or_else(|| panic!("no submitted bind: {records:#?}"));
    assert!(quiet_bind.submitted, "{quiet_bind:?}");
    assert_eq!(
        quiet_bind.addr,
        Some(inet(here.into())),
        "the address asked for"
    );
    assert_eq!((overflowed.ret, overflowed.submitted), (0, false));
    assert_eq!(overflowed.addr, Some(inet(server)));
    let socket = overflowed.socket.as_ref().unwrap();
    assert_eq!(socket.remote, Some(inet(server)));
    assert_eq!(
        socket.local.as_ref(),
        local_end_of(crowded.as_raw_fd()).as_ref()
    );
}

/// A loopback port nothing listens on (just freed).
fn free_port() -> u16 {
    let probe = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
    probe.local_addr().unwrap().port()
}

/// The peer of a socket, once connected.
fn peer_of(fd: std::os::fd::RawFd) -> Option<SockAddr> {
    socket_name(fd, libc::getpeername)
}

/// The local end of a socket.
fn local_end_of(fd: std::os::fd::RawFd) -> Option<SockAddr> {
    socket_name(fd, libc::getsockname)
}

fn socket_name(
    fd: std::os::fd::RawFd,
    call: unsafe extern "C" fn(
        libc::c_int,
        *mut libc::sockaddr,
        *mut libc::socklen_t,
    ) -> libc::c_int,
) -> Option<SockAddr> {
    // SAFETY: a sockaddr_in-sized buffer and its length.
    let mut name: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_in>() as u32;
    // SAFETY: as above.
    let rc = unsafe { call(fd, (&raw mut name).cast(), &mut len) };
    (rc == 0 && name.sin_family == libc::AF_INET as u16).then(|| SockAddr::Inet {
        addr: std::net::Ipv4Addr::from(u32::from_be(name.sin_addr.s_addr)),
        port: u16::from_be(name.sin_port),
    })
}

/// Runs the 32-bit connector (its connect after `delay_ms`) against a listener of ours, then
/// /bin/true; collects the records until its exit and until `more` holds. Its pid, the address
/// it connected to, the records; None where no ia32 emulation.
fn run_ia32_connector(
    rx: &crossbeam_channel::Receiver<Record>,
    delay_ms: u32,
    more: impl Fn(&[Record]) -> bool,
) -> Option<(u32, std::net::SocketAddrV4, Vec<Record>)> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let std::net::SocketAddr::V4(to) = listener.local_addr().unwrap() else {
        unreachable!()
    };
    let dir = tempfile::tempdir().unwrap();
    let mut child = spawn_ia32_connector(dir.path(), to, delay_ms)?;
    let pid = child.id();
    assert!(child.wait().unwrap().success());
    listener.set_nonblocking(true).unwrap();
    assert!(listener.accept().is_ok(), "the 32-bit program's connect");
    assert!(Command::new("/bin/true").status().unwrap().success());
    let records = collect(rx, |seen| {
        seen.iter()
            .any(|r| matches!(r, Record::Exit(x) if x.pid == pid))
            && more(seen)
    });
    Some((pid, to, records))
}

/// Writes the 32-bit connector (`tests/support/ia32.rs`) into `dir` and starts it; None where
/// the kernel cannot run 32-bit programs (no ia32 emulation: nothing to see then).
fn spawn_ia32_connector(
    dir: &std::path::Path,
    to: std::net::SocketAddrV4,
    delay_ms: u32,
) -> Option<std::process::Child> {
    let program = dir.join("connect32");
    ia32::write_connector(&program, to, delay_ms);
    match Command::new(&program).spawn() {
        Ok(child) => Some(child),
        Err(e) if e.raw_os_error() == Some(libc::ENOEXEC) => {
            eprintln!("skipped: no ia32 emulation here");
            None
        }
        Err(e) => panic!("{e}"),
    }
}

/// A 32-bit process's file changes are compat syscalls too: with file activity the follower
/// (programs at every syscall's entry and exit while it runs) records them as the native
/// programs would, flagged.
#[test]
fn a_32_bit_programs_file_changes_are_followed_while_it_runs() {
    let _one = serialize();
    let config = EbpfConfig {
        files: Some(FileActivityConfig {
            write_opens: true,
            io_uring: false,
        }),
        ..EbpfConfig::default()
    };
    let Some((src, rx)) = source_with(config) else {
        return;
    };
    if !cfg!(target_arch = "x86_64") {
        assert!(matches!(src.files_compat(), Some(Err(_))));
        return;
    }
    assert_eq!(src.files_compat(), Some(Ok(())));
    assert_eq!(src.network_compat(), None, "network not asked for");
    let dir = tempfile::tempdir().unwrap();
    let dir_path = std::fs::canonicalize(dir.path()).unwrap();
    let program = dir_path.join("files32");
    // It waits a little first: the follower is attached as the reader learns of its exec.
    ia32::write_file_changer(&program, &dir_path, 50);
    let mut child = match Command::new(&program).spawn() {
        Ok(child) => child,
        Err(e) if e.raw_os_error() == Some(libc::ENOEXEC) => {
            eprintln!("skipped: no ia32 emulation here");
            return;
        }
        Err(e) => panic!("{e}"),
    };
    let pid = child.id();
    assert!(child.wait().unwrap().success());
    assert!(!dir_path.join("a32").exists() && !dir_path.join("b32").exists());
    let records = collect(&rx, |seen| {
        seen.iter()
            .any(|r| matches!(r, Record::Exit(x) if x.pid == pid))
    });
    let mine: Vec<&FileRecord> = records
        .iter()
        .filter_map(|r| match r {
            Record::File(f) if f.pid == pid => Some(&**f),
            _ => None,
        })
        .collect();
    let at = |name: &str| dir_path.join(name).into_os_string().into_vec();
    let ops: Vec<_> = mine
        .iter()
        .map(|f| (f.op, f.call, f.path.clone()))
        .collect();
    assert_eq!(
        ops,
        [
            (FileOp::Create, Some("creat"), at("a32")),
            (FileOp::CloseWrite, Some("close"), at("a32")),
            (FileOp::Rename, Some("rename"), at("b32")),
            (FileOp::Unlink, Some("unlink"), at("b32")),
        ],
        "{mine:#?}"
    );
    assert!(mine.iter().all(|f| f.compat && f.ret >= 0), "{mine:#?}");
    assert_eq!(mine[0].mode.map(|m| m & 0o7777), Some(0o644));
    assert_eq!(mine[2].other.as_deref(), Some(&at("a32")[..]));
    assert!(stats_after(&src, &records).compat_attaches >= 1);
}

/// The source's counters once they account for `records` (they are published every half
/// second).
fn stats_after(src: &EbpfSource, records: &[Record]) -> warden_sources::ebpf::EbpfStats {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let stats = src.stats();
        if stats.records >= records.len() as u64 || Instant::now() > deadline {
            return stats;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Without the program at every syscall's exit (not asked for; as between a 32-bit process's
/// exec and that program's attach), a 32-bit process's TCP connect is still seen, at the
/// socket's change of state: the peer it asked for, no result yet.
#[test]
fn a_32_bit_programs_tcp_connect_is_seen_without_following_it() {
    use std::net::SocketAddr;
    let _one = serialize();
    let config = EbpfConfig {
        network: Some(NetworkActivityConfig {
            follow_32_bit: false,
            ..NetworkActivityConfig::default()
        }),
        ..EbpfConfig::default()
    };
    let Some((src, rx)) = source_with(config) else {
        return;
    };
    assert_eq!(src.network_compat(), None, "not asked for");
    if !cfg!(target_arch = "x86_64") {
        assert!(matches!(src.network_compat_tcp(), Some(Err(_))));
        return;
    }
    assert_eq!(src.network_compat_tcp(), Some(Ok(())));
    // It connects at once: nothing is attached for it, so the timing does not matter.
    let Some((pid, to, records)) = run_ia32_connector(&rx, 0, |_| true) else {
        return;
    };
    let (connects, results): (Vec<_>, Vec<_>) = net_of(&records, pid)
        .into_iter()
        .filter(|n| n.call == NetCall::Connect)
        .partition(|n| !n.outcome);
    assert_eq!(connects.len(), 1, "{records:#?}");
    let connect = &connects[0];
    assert!(connect.compat && connect.submitted, "{connect:?}");
    let socket = connect.socket.as_ref().expect("the socket");
    assert_eq!(socket.transport(), Some("tcp"));
    assert_eq!(
        socket.remote,
        Some(inet(SocketAddr::V4(to))),
        "the peer asked for"
    );
    // Its result, which no record of the call tells here: the handshake's end, with both ends.
    assert_eq!(results.len(), 1, "{records:#?}");
    let result = &results[0];
    assert_eq!(result.handshake, Some(Handshake::Established), "{result:?}");
    let ends = result.socket.as_ref().expect("the socket");
    assert_eq!(ends.remote, Some(inet(SocketAddr::V4(to))));
    assert!(ends.local.is_some(), "this end, bound by now: {result:?}");
    assert_eq!(
        stats_after(&src, &records).compat_attaches,
        0,
        "nothing attached for it"
    );
}

/// A 32-bit process's calls are compat syscalls, which pass none of the syscall tracepoints:
/// its exec is flagged, and while it runs a program at every syscall's exit follows its
/// network calls (attached as its exec is read, detached when it is gone).
#[test]
fn a_32_bit_programs_connect_is_followed_while_it_runs() {
    let _one = serialize();
    let config = EbpfConfig {
        network: Some(NetworkActivityConfig::default()),
        ..EbpfConfig::default()
    };
    let Some((src, rx)) = source_with(config) else {
        return;
    };
    if !cfg!(target_arch = "x86_64") {
        assert!(matches!(src.network_compat(), Some(Err(_))));
        return;
    }
    assert_eq!(src.network_compat(), Some(Ok(())));
    // It waits a little before connecting: the program is attached as the reader learns of
    // its exec (woken at once by the starts ring; here even a connect right after the exec was
    // seen, 5 times of 5, but a loaded machine may take longer). A 64-bit exec follows.
    let is_true = |r: &Record| matches!(r, Record::Exec(e) if e.exe.as_deref() == Some(&b"/usr/bin/true"[..]));
    let Some((pid, to, records)) = run_ia32_connector(&rx, 50, |seen| seen.iter().any(is_true))
    else {
        return;
    };
    let exec = exec_of(&records, pid).expect("the 32-bit program's exec");
    assert!(exec.flags.has(ExecFlags::COMPAT), "{exec:?}");
    let true_exec = records
        .iter()
        .find_map(|r| match r {
            Record::Exec(e) if e.exe.as_deref() == Some(&b"/usr/bin/true"[..]) => Some(e),
            _ => None,
        })
        .unwrap();
    assert!(!true_exec.flags.has(ExecFlags::COMPAT), "{true_exec:?}");
    // (Its connection's end, when it came, is no call.)
    let connects: Vec<_> = net_of(&records, pid)
        .into_iter()
        .filter(|n| n.call == NetCall::Connect && n.traffic.is_none())
        .collect();
    assert_eq!(connects.len(), 1, "{records:#?}");
    let connect = &connects[0];
    assert!(connect.compat && !connect.io_uring, "{connect:?}");
    assert_eq!(
        (connect.ret, connect.addr.clone()),
        (
            0,
            Some(SockAddr::Inet {
                addr: *to.ip(),
                port: to.port(),
            })
        )
    );
    assert_eq!(
        connect.socket.as_ref().and_then(|s| s.transport()),
        Some("tcp")
    );
    // Attached for it, and gone with the last 32-bit process (the counters are published
    // every half second).
    let deadline = Instant::now() + Duration::from_secs(5);
    while !(src.stats().compat_attaches >= 1 && src.stats().compat_processes == 0) {
        assert!(Instant::now() < deadline, "{:?}", src.stats());
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A 32-bit process that started before the source is found in /proc and followed too.
#[test]
fn a_32_bit_process_running_before_the_source_is_followed() {
    use std::net::{SocketAddr, TcpListener};
    let _one = serialize();
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !cfg!(target_arch = "x86_64") || !root {
        return;
    }
    let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let SocketAddr::V4(to) = listener.local_addr().unwrap() else {
        unreachable!()
    };
    let dir = tempfile::tempdir().unwrap();
    let Some(mut child) = spawn_ia32_connector(dir.path(), to, 1500) else {
        return;
    };
    let pid = child.id();
    std::thread::sleep(Duration::from_millis(200)); // its exec is done
    let config = EbpfConfig {
        network: Some(NetworkActivityConfig::default()),
        ..EbpfConfig::default()
    };
    let Some((_src, rx)) = source_with(config) else {
        child.kill().ok();
        return;
    };
    assert!(child.wait().unwrap().success());
    let records = collect(&rx, |seen| {
        seen.iter()
            .any(|r| matches!(r, Record::Exit(x) if x.pid == pid))
    });
    let connects: Vec<_> = net_of(&records, pid)
        .into_iter()
        .filter(|n| n.call == NetCall::Connect && n.compat)
        .collect();
    assert_eq!(connects.len(), 1, "{records:#?}");
}

/// Each outgoing TCP connection's first segment with data is recorded when it may begin a TLS
/// ClientHello, an HTTP request or an SSH client's identification: its first 4,096 bytes (a
/// longer one cut), both ends and the connection's fd, IPv4 and IPv6. Where the first bytes
/// were a text command, later segments that begin an HTTP request (keep-alive) or a ClientHello
/// (in a proxy's CONNECT tunnel, after SMTP's STARTTLS) are recorded too, until such a hello;
/// after an SSH client's line, its KEXINIT, and nothing after it.
/// Not recorded: a TLS connection's later segments, other commands, what follows a tunnel's
/// hello, the accepting side's first bytes as a request. The SSH server's answer is, both ways
/// (its line and then its KEXINIT): sent by the server here, received by the client here.
#[test]
fn the_first_bytes_of_outgoing_connections_are_recorded_when_they_are_a_request() {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::os::fd::AsRawFd;
    let _one = serialize();
    let Some((src, rx)) = source_with(network_with_datagrams(Datagrams::Off)) else {
        return;
    };
    assert_eq!(src.requests(), Some(Ok(())));
    let me = std::process::id();
    // A ClientHello longer than the 4,096 bytes kept.
    let hello = tls::client_hello("c2.example", 4500);
    assert!(hello.len() > 4096);
    let request = b"GET /payload.sh HTTP/1.1\r\nHost: files.example\r\n\r\n".to_vec();
    let served = |listener: TcpListener| {
        std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            // The accepting side's first bytes look like a request too: not recorded.
            conn.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
            // Each part the client sends acknowledged, so that it sends the next apart. (A part
            // longer than a read is acknowledged twice; the client, which reads one, may leave
            // the other unread as it hangs up, and so reset the connection: its end.)
            let mut part = vec![0u8; 4096];
            while matches!(conn.read(&mut part), Ok(n) if n > 0) {
                if conn.write_all(b"k").is_err() {
                    break;
                }
            }
        })
    };
    let v4 = TcpListener::bind("127.0.0.1:0").unwrap();
    let v6 = TcpListener::bind("[::1]:0").unwrap();
    let other = TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy = TcpListener::bind("127.0.0.1:0").unwrap();
    let mail = TcpListener::bind("127.0.0.1:0").unwrap();
    let (v4_at, v6_at, other_at, proxy_at, mail_at) = (
        v4.local_addr().unwrap(),
        v6.local_addr().unwrap(),
        other.local_addr().unwrap(),
        proxy.local_addr().unwrap(),
        mail.local_addr().unwrap(),
    );
    let servers = [served(v4), served(v6), served(proxy), served(mail)];
    let talk = |at, parts: &[&[u8]]| {
        let mut conn = TcpStream::connect(at).unwrap();
        let fd = conn.as_raw_fd();
        let local = conn.local_addr().unwrap();
        let mut greeting = [0u8; 18];
        conn.read_exact(&mut greeting).unwrap();
        for part in parts {
            conn.write_all(part).unwrap();
            let mut acknowledged = [0u8; 1];
            conn.read_exact(&mut acknowledged).unwrap();
        }
        (conn, fd, local)
    };
    let tls = talk(
        v4_at,
        &[
            &hello,
            b"\x17\x03\x03\x00\x01x",
            b"GET /inside HTTP/1.1\r\n\r\n",
        ],
    );
    let second = b"GET /second HTTP/1.1\r\n\r\n".to_vec();
    let http = talk(
        v6_at,
        &[&request, b"some body bytes", &second, b"POST-ish data"],
    );
    // An SSH client's line, then its KEXINIT (recorded), then its next key exchange message
    // (not: the KEXINIT ends the looking). The server's line and its KEXINIT come between, apart,
    // as sshd's do: the other way's packets are not the client's.
    let kexinit = ssh::packet(20, b"\x5a\x5a\x5a\x5a\x5a\x5a\x5a\x5a\x00\x00\x00\x04none");
    let server_kexinit = ssh::packet(20, b"\x33\x33\x33\x33\x33\x33\x33\x33\x00\x00\x00\x04zlib");
    let ssh_server = {
        let server_kexinit = server_kexinit.clone();
        std::thread::spawn(move || {
            let (mut conn, _) = other.accept().unwrap();
            conn.set_nodelay(true).unwrap();
            let mut part = vec![0u8; 4096];
            assert!(conn.read(&mut part).unwrap() > 0);
            conn.write_all(b"SSH-2.0-srv_1.0\r\n").unwrap();
            std::thread::sleep(Duration::from_millis(100));
            conn.write_all(&server_kexinit).unwrap();
            while conn.read(&mut part).unwrap() > 0 {
                conn.write_all(b"k").unwrap();
            }
        })
    };
    let ssh = {
        let mut conn = TcpStream::connect(other_at).unwrap();
        let (fd, local) = (conn.as_raw_fd(), conn.local_addr().unwrap());
        conn.write_all(b"SSH-2.0-OpenSSH_9.2\r\n").unwrap();
        conn.read_exact(&mut [0u8; 17]).unwrap();
        conn.read_exact(&mut vec![0u8; server_kexinit.len()])
            .unwrap();
        for part in [&kexinit[..], &ssh::packet(30, &[7; 40])] {
            conn.write_all(part).unwrap();
            conn.read_exact(&mut [0u8; 1]).unwrap();
        }
        (conn, fd, local)
    };
    let connect = b"CONNECT inner.example:443 HTTP/1.1\r\nHost: inner.example:443\r\n\r\n".to_vec();
    // Longer than the smaller records (2,048 bytes), shorter than what is kept.
    let inner = tls::client_hello("inner.example", 2500);
    assert!((2049..4096).contains(&inner.len()));
    let tunnel = talk(
        proxy_at,
        &[
            &connect,
            &inner,
            b"\x17\x03\x03\x00\x01x",
            b"GET /encrypted HTTP/1.1\r\n\r\n",
        ],
    );
    let starttls = tls::client_hello("mail.example", 0);
    let smtp = talk(
        mail_at,
        &[
            b"EHLO me.example\r\n",
            b"MAIL FROM:<a@b.example>\r\n",
            b"STARTTLS\r\n",
            &starttls,
        ],
    );
    // (The servers' side, received, is not this test's; their answers are, below.)
    let openings = |records: &[Record]| -> Vec<NetRecord> {
        net_of(records, me)
            .into_iter()
            .filter(|n| n.opening.is_some() && n.call == NetCall::SendMsg && !n.answer)
            .collect()
    };
    let answers = |records: &[Record], call: NetCall| -> Vec<Vec<u8>> {
        net_of(records, me)
            .into_iter()
            .filter(|n| n.answer && n.call == call)
            .filter_map(|n| n.opening.map(|captured| captured.bytes))
            .collect()
    };
    let mut records = collect(&rx, |seen| {
        openings(seen).len() >= 9 && answers(seen, NetCall::RecvFrom).len() >= 2
    });
    drop((tls.0, http.0, ssh.0, tunnel.0, smtp.0));
    for server in servers.into_iter().chain([ssh_server]) {
        server.join().unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));
    records.extend(rx.try_iter());
    let got = openings(&records);
    let expected = [
        (hello[..4096].to_vec(), true, tls.1, tls.2, v4_at),
        (request.clone(), false, http.1, http.2, v6_at),
        (second, false, http.1, http.2, v6_at),
        (
            b"SSH-2.0-OpenSSH_9.2\r\n".to_vec(),
            false,
            ssh.1,
            ssh.2,
            other_at,
        ),
        (kexinit.clone(), false, ssh.1, ssh.2, other_at),
        (connect, false, tunnel.1, tunnel.2, proxy_at),
        (inner, false, tunnel.1, tunnel.2, proxy_at),
        (
            b"EHLO me.example\r\n".to_vec(),
            false,
            smtp.1,
            smtp.2,
            mail_at,
        ),
        (starttls, false, smtp.1, smtp.2, mail_at),
    ];
    assert_eq!(
        got.iter()
            .map(|n| n.opening.as_ref().unwrap().bytes.len())
            .collect::<Vec<_>>(),
        expected.iter().map(|e| e.0.len()).collect::<Vec<_>>(),
        "{got:#?}"
    );
    for (n, (bytes, cut, fd, local, remote)) in got.iter().zip(expected) {
        let captured = n.opening.as_ref().unwrap();
        assert_eq!(
            (captured.bytes.len(), captured.cut),
            (bytes.len(), cut),
            "{n:#?}"
        );
        assert_eq!(captured.bytes, bytes);
        assert_sent_from(n, fd, libc::SOCK_STREAM, local, remote);
    }
    // The SSH server's answer: its line, then its KEXINIT looked for and found, as the server
    // here sent them and as the client here received them. The other servers' first bytes
    // (a request's look) are no answer.
    let server_said = vec![b"SSH-2.0-srv_1.0\r\n".to_vec(), server_kexinit];
    assert_eq!(answers(&records, NetCall::SendMsg), server_said);
    assert_eq!(answers(&records, NetCall::RecvFrom), server_said);
    drop(src);
}

/// Asserts that `n` is a send over descriptor `fd` (-1: none known) of a socket of `sock_type`
/// (TCP's or UDP's) between `local` and `remote`, as a packet's record names them.
fn assert_sent_from(
    n: &NetRecord,
    fd: i32,
    sock_type: i32,
    local: std::net::SocketAddr,
    remote: std::net::SocketAddr,
) {
    assert_eq!((n.call, n.fd), (NetCall::SendMsg, fd), "{n:#?}");
    let socket = n.socket.as_ref().unwrap();
    let protocol = if sock_type == libc::SOCK_STREAM {
        libc::IPPROTO_TCP
    } else {
        libc::IPPROTO_UDP
    };
    assert_eq!((socket.sock_type, socket.protocol), (sock_type, protocol));
    assert_eq!(
        (socket.local.clone(), socket.remote.clone()),
        (Some(inet(local)), Some(inet(remote)))
    );
}

/// Waits (5 s at most) for the counter `count` of the source's to reach `want`, and asserts
/// that it is `want`: the counters are published every half second.
fn assert_counted(
    src: &EbpfSource,
    count: impl Fn(&warden_sources::ebpf::EbpfStats) -> u64,
    want: u64,
) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while count(&src.stats()) < want && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(count(&src.stats()), want);
}

/// The first bytes a connection made to this host receives are recorded as a receive when they
/// are a request, for the process that accepted it: after its accept, for that process and its
/// fd (and a later request on it, not its body); before its accept, or to a listener deferring
/// accepts (whose connection is made only as the request comes; its later request is followed
/// too), unclaimed (no process), ahead of the accept's record in the ring. Not what a connection this host made receives, nor
/// bytes that begin no request (a binary protocol's, a lowercase word).
#[test]
fn requests_received_are_recorded_for_the_process_that_accepted() {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::os::fd::AsRawFd;
    use std::sync::mpsc;
    let _one = serialize();
    let Some((src, rx)) = source_with(network_with_datagrams(Datagrams::Off)) else {
        return;
    };
    assert_eq!(src.requests_received(), Some(Ok(())));
    let me = std::process::id();
    let acknowledging = |mut conn: TcpStream| {
        let mut part = vec![0u8; 4096];
        while conn.read(&mut part).unwrap_or(0) > 0 {
            conn.write_all(b"k").unwrap();
        }
    };
    // Accepted first: the client sends once the server has the connection, and the server's
    // first bytes look like a request too (the client's side is not recorded).
    let owned = TcpListener::bind("[::1]:0").unwrap();
    let owned_at = owned.local_addr().unwrap();
    let (accepted_tx, accepted_rx) = mpsc::channel();
    let (connected_tx, connected_rx) = mpsc::channel::<()>();
    let owned_server = std::thread::spawn(move || {
        let (mut conn, peer) = owned.accept().unwrap();
        accepted_tx.send((conn.as_raw_fd(), peer)).unwrap();
        connected_rx.recv().unwrap();
        conn.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
        acknowledging(conn);
    });
    let mut client = TcpStream::connect(owned_at).unwrap();
    let client_at = client.local_addr().unwrap();
    connected_tx.send(()).unwrap();
    let (accepted_fd, peer) = accepted_rx.recv().unwrap();
    assert_eq!(peer, client_at);
    client.read_exact(&mut [0u8; 18]).unwrap();
    let first = b"GET /owned HTTP/1.1\r\nHost: server.example\r\n\r\n".to_vec();
    let later = b"POST /later HTTP/1.1\r\nContent-Length: 14\r\n\r\n".to_vec();
    for part in [&first[..], &later[..], b"some body here"] {
        client.write_all(part).unwrap();
        client.read_exact(&mut [0u8; 1]).unwrap();
    }
    // Sent before the accept.
    let early = TcpListener::bind("127.0.0.1:0").unwrap();
    let early_at = early.local_addr().unwrap();
    let hello = tls::client_hello("server.example", 0);
    let mut early_client = TcpStream::connect(early_at).unwrap();
    let early_client_at = early_client.local_addr().unwrap();
    early_client.write_all(&hello).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let (early_conn, _) = early.accept().unwrap();
    let early_server = std::thread::spawn(move || acknowledging(early_conn));
    early_client.read_exact(&mut [0u8; 1]).unwrap();
    // To a listener deferring accepts: the connection is made as its request comes.
    // Dual-stack, taking an IPv4 client: its socket names it ::ffff:127.0.0.1, its packets
    // 127.0.0.1.
    let deferring = TcpListener::bind("[::]:0").unwrap();
    let deferring_at =
        std::net::SocketAddr::from(([127, 0, 0, 1], deferring.local_addr().unwrap().port()));
    let seconds: libc::c_int = 5;
    // SAFETY: a listening socket of ours, and an int the size given.
    let set = unsafe {
        libc::setsockopt(
            deferring.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_DEFER_ACCEPT,
            (&raw const seconds).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(set, 0);
    let deferred = b"GET /deferred HTTP/1.1\r\n\r\n".to_vec();
    let mut deferring_client = TcpStream::connect(deferring_at).unwrap();
    let deferring_client_at = deferring_client.local_addr().unwrap();
    deferring_client.write_all(&deferred).unwrap();
    let (deferred_conn, _) = deferring.accept().unwrap();
    let deferred_fd = deferred_conn.as_raw_fd();
    let deferred_server = std::thread::spawn(move || acknowledging(deferred_conn));
    deferring_client.read_exact(&mut [0u8; 1]).unwrap();
    // Its later request: the connection the listener's packet began is followed too.
    let deferred_later = b"GET /deferred/later HTTP/1.1\r\n\r\n".to_vec();
    deferring_client.write_all(&deferred_later).unwrap();
    deferring_client.read_exact(&mut [0u8; 1]).unwrap();
    // No request: a binary protocol's first bytes, and a lowercase word.
    let other = TcpListener::bind("127.0.0.1:0").unwrap();
    let other_at = other.local_addr().unwrap();
    let other_server = std::thread::spawn(move || {
        acknowledging(other.accept().unwrap().0);
        acknowledging(other.accept().unwrap().0);
    });
    let mut binary = TcpStream::connect(other_at).unwrap();
    binary
        .write_all(b"\x00\x00\x00\x2c\x00\x03\x00\x00user")
        .unwrap();
    binary.read_exact(&mut [0u8; 1]).unwrap();
    drop(binary);
    let mut ssh = TcpStream::connect(other_at).unwrap();
    ssh.write_all(b"hello there, server\r\n").unwrap();
    ssh.read_exact(&mut [0u8; 1]).unwrap();

    let received = |records: &[Record]| -> Vec<NetRecord> {
        records
            .iter()
            .filter_map(|r| match r {
                Record::Net(n)
                    if n.call == NetCall::RecvFrom
                        && n.opening.is_some()
                        && (n.pid == me || n.unclaimed) =>
                {
                    Some((**n).clone())
                }
                _ => None,
            })
            .collect()
    };
    let mut records = collect(&rx, |seen| received(seen).len() >= 5);
    drop((client, early_client, deferring_client, ssh));
    for server in [owned_server, early_server, deferred_server, other_server] {
        server.join().unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));
    records.extend(rx.try_iter());
    let got = received(&records);
    let expected = [
        (&first, me, accepted_fd, owned_at, client_at),
        (&later, me, accepted_fd, owned_at, client_at),
        (&hello, 0, -1, early_at, early_client_at),
        (&deferred, 0, -1, deferring_at, deferring_client_at),
        (
            &deferred_later,
            me,
            deferred_fd,
            deferring_at,
            deferring_client_at,
        ),
    ];
    assert_eq!(got.len(), expected.len(), "{got:#?}");
    for (n, (bytes, pid, fd, local, remote)) in got.iter().zip(expected) {
        let captured = n.opening.as_ref().unwrap();
        assert_eq!(&captured.bytes, bytes, "{n:#?}");
        assert!(!captured.cut);
        assert_eq!((n.pid, n.fd, n.unclaimed), (pid, fd, pid == 0), "{n:#?}");
        let socket = n.socket.as_ref().unwrap();
        assert_eq!(
            (socket.sock_type, socket.protocol),
            (libc::SOCK_STREAM, libc::IPPROTO_TCP)
        );
        assert_eq!(
            (socket.local.clone(), socket.remote.clone()),
            (Some(inet(local)), Some(inet(remote)))
        );
    }
    // An unclaimed request comes before its connection's accept.
    let position = |found: &dyn Fn(&NetRecord) -> bool| {
        records
            .iter()
            .position(|r| matches!(r, Record::Net(n) if found(n)))
            .unwrap()
    };
    for (local, remote) in [
        (early_at, early_client_at),
        (deferring_at, deferring_client_at),
    ] {
        // (A dual-stack socket's ends as IPv4, as its packets name them.)
        let plain = |end: &Option<SockAddr>| match end {
            Some(SockAddr::Inet6 { addr, port, .. }) if addr.to_ipv4_mapped().is_some() => {
                Some(SockAddr::Inet {
                    addr: addr.to_ipv4_mapped().unwrap(),
                    port: *port,
                })
            }
            other => other.clone(),
        };
        let ends = |n: &NetRecord| {
            n.socket.as_ref().is_some_and(|s| {
                (plain(&s.local), plain(&s.remote)) == (Some(inet(local)), Some(inet(remote)))
            })
        };
        let request = position(&|n| n.unclaimed && ends(n));
        let accept = position(&|n| n.call == NetCall::Accept4 && n.pid == me && ends(n));
        assert!(request < accept, "{request} {accept}");
    }
    drop(src);
}

/// A connection's later requests are recorded at most 16 a second: of a burst of 21 on one
/// keep-alive connection, its first request and 16 more, the other 4 counted.
#[test]
fn later_requests_on_a_connection_are_recorded_at_most_16_a_second() {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    let _one = serialize();
    let Some((src, rx)) = source_with(outgoing_requests_only()) else {
        return;
    };
    let me = std::process::id();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let at = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut part = vec![0u8; 4096];
        while conn.read(&mut part).unwrap() > 0 {
            conn.write_all(b"k").unwrap();
        }
    });
    let mut conn = TcpStream::connect(at).unwrap();
    let local = conn.local_addr().unwrap();
    for i in 0..21 {
        conn.write_all(format!("GET /beacon/{i} HTTP/1.1\r\n\r\n").as_bytes())
            .unwrap();
        conn.read_exact(&mut [0u8; 1]).unwrap();
    }
    let mine = |records: &[Record]| -> Vec<NetRecord> {
        net_of(records, me)
            .into_iter()
            .filter(|n| {
                n.opening.is_some()
                    && n.socket.as_ref().and_then(|s| s.local.clone()) == Some(inet(local))
            })
            .collect()
    };
    let mut records = collect(&rx, |seen| mine(seen).len() >= 17);
    drop(conn);
    server.join().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    records.extend(rx.try_iter());
    let got = mine(&records);
    let targets: Vec<String> = got
        .iter()
        .map(|n| String::from_utf8_lossy(&n.opening.as_ref().unwrap().bytes).into_owned())
        .collect();
    assert_eq!(
        targets,
        (0..17)
            .map(|i| format!("GET /beacon/{i} HTTP/1.1\r\n\r\n"))
            .collect::<Vec<_>>()
    );
    assert_counted(&src, |stats| stats.later_requests_over_rate, 4);
}

/// Each outgoing UDP datagram that may hold a QUIC client's Initial packet is recorded whole for
/// the process sending it: at least 1,200 bytes, a long header of the Initial type, QUIC
/// version 1 or 2; from a connected socket (IPv4) and an unconnected one (IPv6), with both
/// ends, and without connections' ends noted; one longer than 1,500 bytes, cut there. Smaller
/// datagrams, another packet type, a short header and the receiving side are not, nor more
/// than 16 a second from one socket (counted).
#[test]
fn quic_clients_initial_datagrams_are_recorded() {
    use std::net::UdpSocket;
    let _one = serialize();
    let config = EbpfConfig {
        network: Some(NetworkActivityConfig {
            datagrams: Datagrams::Off,
            connection_ends: false,
            ..NetworkActivityConfig::default()
        }),
        ..EbpfConfig::default()
    };
    let Some((src, rx)) = source_with(config) else {
        return;
    };
    assert_eq!(src.quic_initials(), Some(Ok(())));
    // Connections' first bytes need their ends noted; QUIC's Initials do not.
    assert_eq!(src.requests(), None);
    let me = std::process::id();
    // A hello of two Initials, as a post-quantum key share makes one.
    let hello = tls::quic_client_hello("c2.quic.example", 1500);
    let v1 = quic::client_initials(quic::VERSION_1, &[0xd1; 8], &hello, 2);
    let v2 = quic::client_initials(
        quic::VERSION_2,
        &[0xd2; 8],
        &tls::quic_client_hello("v2.quic.example", 0),
        1,
    );
    // The whole long hello in one datagram, longer than the 1,500 bytes kept.
    let jumbo = quic::client_initials(quic::VERSION_1, &[0xd3; 8], &hello, 1);
    assert!(jumbo[0].len() > 1500);
    let server4 = UdpSocket::bind("127.0.0.1:0").unwrap();
    let server6 = UdpSocket::bind("[::1]:0").unwrap();
    let (at4, at6) = (server4.local_addr().unwrap(), server6.local_addr().unwrap());
    let client4 = UdpSocket::bind("127.0.0.1:0").unwrap();
    client4.connect(at4).unwrap();
    for datagram in v1.iter().chain(&jumbo) {
        client4.send(datagram).unwrap();
    }
    // Not Initials: an established connection's packet (short header), a Handshake packet,
    // and an Initial's head in a datagram too small to be a client's.
    let mut short = v1[0].clone();
    short[0] = 0x41;
    let mut handshake = v1[0].clone();
    handshake[0] = 0xe1;
    for datagram in [&short, &handshake, &v1[0][..1000].to_vec()] {
        client4.send(datagram).unwrap();
    }
    let client6 = UdpSocket::bind("[::1]:0").unwrap();
    client6.send_to(&v2[0], at6).unwrap();
    let mut buffer = [0u8; 2048];
    for _ in 0..6 {
        server4.recv(&mut buffer).unwrap();
    }
    server6.recv(&mut buffer).unwrap();
    // A socket sending Initials as a busy QUIC server does: 16 a second are recorded.
    let busy = UdpSocket::bind("127.0.0.1:0").unwrap();
    for _ in 0..20 {
        busy.send_to(&v1[0], at4).unwrap();
        server4.recv(&mut buffer).unwrap();
    }
    let busy_at = busy.local_addr().unwrap();
    let initials = |records: &[Record]| -> Vec<NetRecord> {
        net_of(records, me)
            .into_iter()
            .filter(|n| n.opening.is_some())
            .collect()
    };
    let mut records = collect(&rx, |seen| initials(seen).len() >= 20);
    std::thread::sleep(Duration::from_millis(300));
    records.extend(rx.try_iter());
    let (busy_ones, got): (Vec<NetRecord>, Vec<NetRecord>) = initials(&records)
        .into_iter()
        .partition(|n| n.socket.as_ref().and_then(|s| s.local.clone()) == Some(inet(busy_at)));
    assert_eq!(busy_ones.len(), 16, "{busy_ones:#?}");
    assert_counted(&src, |stats| stats.quic_initials_over_rate, 4);
    assert_eq!(got.len(), 4, "the four Initials only: {got:#?}");
    let local4 = client4.local_addr().unwrap();
    let local6 = client6.local_addr().unwrap();
    for (n, (datagram, cut, local, remote)) in got.iter().zip([
        (&v1[0][..], false, local4, at4),
        (&v1[1][..], false, local4, at4),
        (&jumbo[0][..1500], true, local4, at4),
        (&v2[0][..], false, local6, at6),
    ]) {
        let captured = n.opening.as_ref().unwrap();
        assert_eq!(captured.bytes, datagram, "{n:#?}");
        assert_eq!(captured.cut, cut);
        assert_sent_from(n, -1, libc::SOCK_DGRAM, local, remote);
    }
    drop(src);
}

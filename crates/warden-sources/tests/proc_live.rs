//! Live tests of the process connector and the /proc reader against the running kernel (root).

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use warden_sources::proc_connector::{
    ExitStatus, ProcConnectorConfig, ProcConnectorSource, ProcEvent,
};
use warden_sources::procfs;

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

#[test]
fn connector_sees_fork_exec_exit() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let (mut src, rx) = ProcConnectorSource::start(ProcConnectorConfig::default()).unwrap();
    assert!(src.receive_buffer() > 0);
    let me = std::process::id();

    // A thread of ours: a thread-level fork, counted but not sent.
    let tid = std::thread::spawn(|| {
        // SAFETY: gettid has no preconditions.
        unsafe { libc::gettid() as u32 }
    })
    .join()
    .unwrap();

    // Child C forks grandchild G (/bin/true), waits for it, then waits on stdin and exits 7.
    let mut child = Command::new("/bin/sh")
        .args(["-c", "/bin/true & wait; read x; exit 7"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let c = child.id();
    let start_ticks = {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Ok(p) = procfs::read_process(c) {
                break p.start_ticks;
            }
            assert!(Instant::now() < deadline, "child not in /proc");
        }
    };
    std::thread::sleep(Duration::from_millis(200));
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(7));

    let mut events = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    let exit_of = |evs: &[ProcEvent], pid: u32| {
        evs.iter()
            .find(|e| matches!(e, ProcEvent::Exit { tgid, .. } if *tgid == pid))
            .copied()
    };
    while exit_of(&events, c).is_none() && Instant::now() < deadline {
        if let Ok(e) = rx.recv_timeout(Duration::from_millis(200)) {
            events.push(e);
        }
    }
    let fork_c = events
        .iter()
        .find(|e| matches!(e, ProcEvent::Fork { child_tgid, .. } if *child_tgid == c))
        .copied()
        .expect("fork of the child");
    let ProcEvent::Fork {
        parent_tgid,
        child_pid,
        ..
    } = fork_c
    else {
        unreachable!()
    };
    assert_eq!(parent_tgid, me);
    assert_eq!(child_pid, c);
    let exec_c = events
        .iter()
        .find(|e| matches!(e, ProcEvent::Exec { tgid, .. } if *tgid == c))
        .copied()
        .expect("exec of the child");
    let g = events
        .iter()
        .find_map(|e| match e {
            ProcEvent::Fork {
                parent_tgid,
                child_tgid,
                ..
            } if *parent_tgid == c => Some(*child_tgid),
            _ => None,
        })
        .expect("fork of the grandchild");
    assert!(
        events
            .iter()
            .any(|e| matches!(e, ProcEvent::Exec { tgid, pid, .. } if *tgid == g && *pid == g)),
        "exec of the grandchild"
    );
    let exit_g = exit_of(&events, g).expect("exit of the grandchild");
    assert_eq!(exit_g.exit_status(), Some(ExitStatus::Exited(0)));
    let exit_c = exit_of(&events, c).unwrap();
    assert_eq!(exit_c.exit_status(), Some(ExitStatus::Exited(7)));
    if let ProcEvent::Exit {
        parent_tgid,
        exit_signal,
        ..
    } = exit_c
    {
        assert_eq!(parent_tgid, me);
        assert_eq!(exit_signal, libc::SIGCHLD as u32);
    }
    // Kernel timestamps: ordered, on the monotonic clock, and in the same units as /proc's
    // start time (ticks since boot).
    let (tf, te, tx) = (
        fork_c.header().timestamp_ns,
        exec_c.header().timestamp_ns,
        exit_c.header().timestamp_ns,
    );
    assert!(tf <= te && te <= tx, "{tf} {te} {tx}");
    assert!(tx <= procfs::monotonic_ns());
    let tick_ns = 1_000_000_000 / procfs::clock_ticks();
    let fork_ticks = tf / tick_ns;
    assert!(
        fork_ticks.abs_diff(start_ticks) <= 2,
        "fork at {fork_ticks} ticks, /proc says {start_ticks}"
    );
    // The thread we started was not sent as a fork.
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, ProcEvent::Fork { child_pid, .. } if *child_pid == tid))
    );
    let stats = src.stop();
    assert!(stats.thread_forks >= 1, "{stats:?}");
    assert!(stats.forks >= 2 && stats.execs >= 2 && stats.exits >= 2);
    // Stopped: the channel closes once drained.
    while rx.try_recv().is_ok() {}
    assert!(rx.recv_timeout(Duration::from_millis(100)).is_err());
}

#[test]
fn procfs_lists_this_process() {
    let me = std::process::id();
    let list = procfs::processes().unwrap();
    let p = list.iter().find(|p| p.pid == me).expect("own pid listed");
    // SAFETY: no preconditions.
    let (ppid, uid, euid, gid) = unsafe {
        (
            libc::getppid() as u32,
            libc::getuid(),
            libc::geteuid(),
            libc::getgid(),
        )
    };
    assert_eq!(p.ppid, ppid);
    assert_eq!((p.uid, p.euid, p.gid), (uid, euid, gid));
    let argv: Vec<Vec<u8>> = std::env::args_os()
        .map(std::os::unix::ffi::OsStringExt::into_vec)
        .collect();
    assert_eq!(p.cmdline, argv);
    let exe = std::env::current_exe().unwrap();
    assert_eq!(
        p.exe.as_deref(),
        Some(std::os::unix::ffi::OsStrExt::as_bytes(exe.as_os_str()))
    );
    let cwd = std::env::current_dir().unwrap();
    assert_eq!(
        p.cwd.as_deref(),
        Some(std::os::unix::ffi::OsStrExt::as_bytes(cwd.as_os_str()))
    );
    assert!(p.start_ticks > 0);
    assert!(!p.comm.is_empty());
    assert!(list.iter().any(|p| p.pid == 1));
    // Parents of listed processes are (almost always) listed too.
    assert!(list.iter().any(|q| q.pid == p.ppid));

    let id = procfs::boot_id().unwrap();
    assert_eq!(id.len(), 36, "{id}");
    assert_eq!(procfs::clock_ticks(), 100);
    let btime = procfs::parse_btime(&std::fs::read_to_string("/proc/stat").unwrap()).unwrap();
    let boot_ns = procfs::boot_time_ns();
    assert!(
        (boot_ns / 1_000_000_000).abs_diff(btime) <= 2,
        "{boot_ns} vs btime {btime}"
    );
}

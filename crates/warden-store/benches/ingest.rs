//! Ingest throughput of the event store on one core: realistic exec events (as the agent makes
//! them; their ECS JSON line ≈ 1 KB, not written on ingest),
//! committed in batches of 150, 500 and 1000 by one writer, plus the channel-fed writer thread.
//! Run with `cargo bench -p warden-store` (release). Prints a Markdown table: events/s (best
//! of 3) and CPU time per 1000 events (least of 3; the inserting thread for `insert_batch`, the
//! whole process, sender included, for the writer thread; kernel writeback threads excluded).

use std::time::{Duration, Instant};

use warden_core::{
    BootId, Event, EventKind, ExecEvent, Executable, Parent, Process, ProcessKey, Source,
};
use warden_store::{KeepFree, Retention, Store, StoredEvent, spawn_writer};

const EVENTS: usize = 300_000;
const T0: i64 = 1_780_000_000_000_000_000;

/// The `i`th exec, as the agent stores it: 70 % of parents a process started just before (a
/// shell, a script), 30 % one of 20 daemons.
fn exec_event(i: usize) -> StoredEvent {
    let pid = 20_000 + (i % 30_000) as u32;
    let ppid = if i % 10 < 7 {
        pid - 1 - (i % 5) as u32
    } else {
        300 + (i % 20) as u32
    };
    let uid = [0, 1000, 1001, 33][i % 4];
    let tools = [
        "/usr/bin/bash",
        "/usr/bin/ls",
        "/usr/bin/grep",
        "/usr/bin/python3.11",
        "/usr/sbin/sshd",
    ];
    let exe = tools[i % tools.len()];
    let boot = BootId(*b"\x4f\x2c\x9a\x1e\x7d\x3b\x4c\x55\x9a\x0e\x1b\x2c\x3d\x4e\x5f\x60");
    let key = |pid, start_ticks| {
        Some(ProcessKey {
            boot,
            pid,
            start_ticks,
        })
    };
    StoredEvent::from_event(Event {
        time_ns: T0 + (i as i64) * 137_000,
        host: "web-01".into(),
        kind: EventKind::Exec(ExecEvent {
            process: Process {
                key: key(pid, 9_000_000 + i as u64),
                pid,
                ppid: Some(ppid),
                uid: Some(uid),
                euid: Some(uid),
                gid: Some(uid),
                egid: Some(uid),
                user_name: Some("deploy".into()),
                exe: Some(exe.into()),
                args: vec![
                    exe.into(),
                    b"-la".to_vec(),
                    format!("/var/log/app/{i}.log").into_bytes(),
                ]
                .into(),
                cwd: Some(b"/home/deploy".to_vec()),
                executable: Some(Executable {
                    sha256: Some(
                        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
                    ),
                    size: Some(1_234_567),
                    package: Some("coreutils".into()),
                    ..Executable::default()
                }),
                parent: Some(Parent {
                    key: key(ppid, 8_000_000 + u64::from(ppid)),
                    pid: ppid,
                    exe: Some(b"/usr/bin/bash".to_vec()),
                    args: vec![b"bash".to_vec()].into(),
                }),
                ..Process::default()
            },
            source: Source::Ebpf,
            syscall: None,
            success: true,
            exit: Some(0),
            script: None,
        }),
    })
}

fn no_retention() -> Retention {
    Retention {
        max_age: Duration::ZERO,
        max_bytes: 0,
        keep_free: KeepFree::NONE,
    }
}

/// CPU time of the calling thread, in ns (`/proc/thread-self/schedstat`: exact, no libc).
fn thread_cpu_ns() -> f64 {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    stat.split_whitespace()
        .next()
        .and_then(|ns| ns.parse().ok())
        .unwrap_or(f64::NAN)
}

/// CPU time of the process, exited threads included, in ns (utime + stime of `/proc/self/stat`,
/// in clock ticks of 10 ms).
fn process_cpu_ns() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(Vec::new(), |(_, rest)| rest.split_whitespace().collect());
    let ticks = |i: usize| fields.get(i).and_then(|t| t.parse::<f64>().ok());
    match (ticks(11), ticks(12)) {
        (Some(utime), Some(stime)) => (utime + stime) * 1e7,
        _ => f64::NAN,
    }
}

/// One run: events/s, and CPU ms per 1000 events.
type Run = (f64, f64);

fn run(events: &[StoredEvent], cpu_ns: fn() -> f64, body: impl FnOnce()) -> Run {
    let (cpu, started) = (cpu_ns(), Instant::now());
    body();
    let secs = started.elapsed().as_secs_f64();
    let thousands = events.len() as f64 / 1000.0;
    (
        events.len() as f64 / secs,
        (cpu_ns() - cpu) / 1e6 / thousands,
    )
}

/// `Writer::insert_batch` with batches of `batch` (generation excluded).
fn direct(events: &[StoredEvent], batch: usize) -> Run {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), no_retention()).expect("open");
    let mut writer = store.writer().expect("writer");
    run(events, thread_cpu_ns, || {
        for chunk in events.chunks(batch) {
            writer.insert_batch(chunk).expect("insert");
        }
    })
}

/// Through a channel into the writer thread (send, batch, commit), until joined.
fn threaded(events: &[StoredEvent], batch: usize) -> Run {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), no_retention()).expect("open");
    let (tx, rx) = crossbeam_channel::bounded(4 * batch);
    let owned = events.to_vec();
    run(events, process_cpu_ns, || {
        let thread = spawn_writer(&store, rx, batch, Duration::from_millis(200)).expect("spawn");
        for e in owned {
            tx.send(e).expect("send");
        }
        drop(tx);
        let stats = thread.join().expect("join");
        assert_eq!(stats.written as usize, events.len());
    })
}

fn main() {
    let realistic: Vec<StoredEvent> = (0..EVENTS).map(exec_event).collect();
    let avg_json = realistic.iter().map(|e| e.json().len()).sum::<usize>() / realistic.len();
    let best = |f: &dyn Fn() -> Run| {
        let runs: Vec<Run> = (0..3).map(|_| f()).collect();
        (
            runs.iter().map(|r| r.0).fold(0.0, f64::max),
            runs.iter().map(|r| r.1).fold(f64::INFINITY, f64::min),
        )
    };
    let b150 = best(&|| direct(&realistic, 150));
    let b500 = best(&|| direct(&realistic, 500));
    let b1000 = best(&|| direct(&realistic, 1000));
    let threaded_1000 = best(&|| threaded(&realistic, 1000));

    println!(
        "{EVENTS} exec events per run (their JSON: {avg_json} bytes on average), best of 3 (CPU: least of 3)\n"
    );
    println!("| path | events/s | CPU ms per 1000 events |");
    println!("|---|---:|---:|");
    for (path, (rate, cpu)) in [
        (
            "insert_batch, batch 150 (the agent's at 1,000 execs/s)",
            b150,
        ),
        ("insert_batch, batch 500", b500),
        ("insert_batch, batch 1000", b1000),
        ("channel → writer thread, batch 1000", threaded_1000),
    ] {
        println!("| {path} | {rate:.0} | {cpu:.2} |");
    }
}

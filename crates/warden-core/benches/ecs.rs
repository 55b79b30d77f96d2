//! Cost of the ECS JSON line per event: what the agent pays for every fork, exec and exit before
//! the store sees it. Realistic events (an exec of a packaged binary with a few arguments, its
//! fork and exit). Run with `cargo bench -p warden-core`; prints ns per event (median of 7 runs
//! of 100,000 events of each kind).

use std::hint::black_box;
use std::time::Instant;

use warden_core::{
    BootId, Event, EventKind, ExecEvent, Executable, ExitEvent, ForkEvent, Parent, Process,
    ProcessKey, Source, to_ecs_line,
};

fn process(pid: u32) -> Process {
    let boot = BootId::parse("7ba6d36d-1111-2222-3333-444455556666").expect("boot id");
    Process {
        key: Some(ProcessKey {
            boot,
            pid,
            start_ticks: 1_377_932,
        }),
        pid,
        ppid: Some(pid - 1),
        start_ns: Some(1_780_000_000_000_000_000),
        uid: Some(1000),
        euid: Some(1000),
        gid: Some(1000),
        egid: Some(1000),
        user_name: Some("alice".into()),
        euser_name: Some("alice".into()),
        group_name: Some("alice".into()),
        auid: Some(1000),
        session_id: Some(3),
        tty: Some("pts0".into()),
        comm: Some("curl".into()),
        exe: Some(b"/usr/bin/curl".to_vec()),
        args: [
            "curl",
            "-sSL",
            "https://example.invalid/install.sh",
            "-o",
            "/tmp/x",
        ]
        .iter()
        .map(|a| a.as_bytes().to_vec())
        .collect(),
        cwd: Some(b"/home/alice/projects/thing".to_vec()),
        executable: Some(Executable {
            sha256: Some("cb30d69b24245bf2ecdc9e7f53bbad19159999970b6d82c0c00c7d32d9e37aa4".into()),
            size: Some(151_344),
            inode: Some(247_497),
            device: Some(65_024),
            owner_uid: Some(0),
            owner_gid: Some(0),
            mode: Some(0o100755),
            mtime_ns: Some(1_663_687_647_000_000_000),
            ctime_ns: Some(1_663_687_647_000_000_000),
            package: Some("curl".into()),
            package_verified: Some(true),
            build_id: Some("15dfff3239aa7c3b16a71e6b2e3b6e4009dab998".into()),
            ..Executable::default()
        }),
        parent: Some(Parent {
            key: Some(ProcessKey {
                boot,
                pid: pid - 1,
                start_ticks: 1_377_000,
            }),
            pid: pid - 1,
            exe: Some(b"/usr/bin/bash".to_vec()),
            args: vec![b"bash".to_vec(), b"./install.sh".to_vec()].into(),
        }),
        ..Process::default()
    }
}

fn main() {
    let p = process(4242);
    let events = [
        (
            "exec",
            EventKind::Exec(ExecEvent {
                process: p.clone(),
                source: Source::Ebpf,
                syscall: None,
                success: true,
                exit: Some(0),
                script: None,
            }),
        ),
        ("fork", EventKind::Fork(ForkEvent { child: p.clone() })),
        (
            "exit",
            EventKind::Exit(ExitEvent {
                process: p,
                exit_code: Some(0),
                signal: None,
                duration_ns: Some(12_000_000),
            }),
        ),
    ];
    const N: usize = 100_000;
    println!("| event | ns per ECS line (median of 7 × {N}) | bytes |");
    println!("|---|---:|---:|");
    for (name, kind) in events {
        let event = Event {
            time_ns: 1_780_000_000_123_456_789,
            host: "host-1".into(),
            kind,
        };
        let mut runs = Vec::new();
        for _ in 0..7 {
            let t = Instant::now();
            for _ in 0..N {
                black_box(to_ecs_line(black_box(&event)));
            }
            runs.push(t.elapsed().as_nanos() as f64 / N as f64);
        }
        runs.sort_by(f64::total_cmp);
        println!(
            "| {name} | {:.0} | {} |",
            runs[3],
            to_ecs_line(&event).len()
        );
    }
}

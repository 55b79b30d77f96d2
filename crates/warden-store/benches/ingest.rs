//! Ingest throughput of the event store on one core: realistic exec events (JSON ≈ 600 bytes),
//! committed in batches of 500 and 1000 by one writer, plus the channel-fed writer thread.
//! Run with `cargo bench -p warden-store` (release). Prints a Markdown table.

use std::time::{Duration, Instant};

use warden_store::{Retention, Store, StoredEvent, spawn_writer};

const EVENTS: usize = 300_000;
const T0: i64 = 1_780_000_000_000_000_000;

/// How parents are drawn.
#[derive(Clone, Copy)]
enum Parents {
    /// 70 % a process started just before (a shell, a script), 30 % one of 20 daemons: new
    /// keys land near the end of the entity indexes, as pids are allocated in sequence.
    Realistic,
    /// Worst case: 700 parents in rotation, so every batch touches pages all over the
    /// `parent_entity_id` index.
    Scattered,
}

fn exec_event(i: usize, parents: Parents) -> StoredEvent {
    let pid = 20_000 + (i % 30_000) as i64;
    let ppid = match parents {
        Parents::Realistic if i % 10 < 7 => pid - 1 - (i % 5) as i64,
        Parents::Realistic => 300 + (i % 20) as i64,
        Parents::Scattered => 1_000 + (i % 700) as i64,
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
    let boot = "4f2c9a1e-7d3b-4c55-9a0e-1b2c3d4e5f60";
    let entity_id = format!("{boot}:{pid}:{}", 9_000_000 + i);
    let parent = format!("{boot}:{ppid}:{}", 8_000_000 + ppid);
    let time_ns = T0 + (i as i64) * 137_000;
    let json = serde_json::json!({
        "@timestamp": format!("2026-05-28T12:{:02}:{:02}.{:09}Z", (i / 60_000) % 60, (i / 1000) % 60, i % 1_000_000_000),
        "event": {"kind": "event", "category": ["process"], "type": ["start"], "action": "exec", "outcome": "success"},
        "host": {"name": "web-01", "boot_id": "4f2c9a1e-7d3b-4c55-9a0e-1b2c3d4e5f60"},
        "process": {
            "entity_id": entity_id, "pid": pid, "executable": exe,
            "args": [exe, "-la", format!("/var/log/app/{i}.log")],
            "working_directory": "/home/deploy",
            "hash": {"sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"},
            "parent": {"entity_id": parent, "pid": ppid, "executable": "/usr/bin/bash"},
            "user": {"id": uid.to_string(), "name": "deploy"},
        },
    })
    .to_string();
    StoredEvent {
        time_ns,
        class: "exec".into(),
        action: "exec".into(),
        entity_id,
        parent_entity_id: Some(parent),
        pid,
        ppid: Some(ppid),
        uid: Some(uid),
        exe: Some(exe.into()),
        path: Some(exe.into()),
        success: Some(true),
        json,
        ..StoredEvent::default()
    }
}

fn no_retention() -> Retention {
    Retention {
        max_age: Duration::ZERO,
        max_bytes: 0,
    }
}

/// Events/s of `Writer::insert_batch` with batches of `batch` (generation excluded).
fn direct(events: &[StoredEvent], batch: usize) -> f64 {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), no_retention()).expect("open");
    let mut writer = store.writer().expect("writer");
    let started = Instant::now();
    for chunk in events.chunks(batch) {
        writer.insert_batch(chunk).expect("insert");
    }
    events.len() as f64 / started.elapsed().as_secs_f64()
}

/// Events/s through a channel into the writer thread (send, batch, commit), until joined.
fn threaded(events: &[StoredEvent], batch: usize) -> f64 {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), no_retention()).expect("open");
    let (tx, rx) = crossbeam_channel::bounded(4 * batch);
    let thread = spawn_writer(&store, rx, batch, Duration::from_millis(200)).expect("spawn");
    let owned = events.to_vec();
    let started = Instant::now();
    for e in owned {
        tx.send(e).expect("send");
    }
    drop(tx);
    let stats = thread.join().expect("join");
    assert_eq!(stats.written as usize, events.len());
    events.len() as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let realistic: Vec<StoredEvent> = (0..EVENTS)
        .map(|i| exec_event(i, Parents::Realistic))
        .collect();
    let scattered: Vec<StoredEvent> = (0..EVENTS)
        .map(|i| exec_event(i, Parents::Scattered))
        .collect();
    let avg_json = realistic.iter().map(|e| e.json.len()).sum::<usize>() / realistic.len();
    let best = |f: &dyn Fn() -> f64| (0..3).map(|_| f()).fold(0.0, f64::max);
    let b500 = best(&|| direct(&realistic, 500));
    let b1000 = best(&|| direct(&realistic, 1000));
    let threaded_1000 = best(&|| threaded(&realistic, 1000));
    let scattered_1000 = best(&|| direct(&scattered, 1000));

    println!(
        "{EVENTS} exec events per run, JSON {avg_json} bytes on average, 5 indexes, best of 3\n"
    );
    println!("| path | events/s |");
    println!("|---|---:|");
    println!("| insert_batch, batch 500 | {b500:.0} |");
    println!("| insert_batch, batch 1000 | {b1000:.0} |");
    println!("| channel → writer thread, batch 1000 | {threaded_1000:.0} |");
    println!("| insert_batch, batch 1000, scattered parents (worst case) | {scattered_1000:.0} |");
    println!();
    println!("| batch 500 | batch 1000 | thread, 1000 | scattered parents, 1000 |");
    println!("|---:|---:|---:|---:|");
    println!("| {b500:.0} | {b1000:.0} | {threaded_1000:.0} | {scattered_1000:.0} |");
}

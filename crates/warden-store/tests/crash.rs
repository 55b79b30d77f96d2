//! SIGKILL in the middle of writing: the store stays intact and holds every committed batch
//! whole. The test re-executes its own binary as the writing child (`crash_child`).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use warden_core::{BootId, Event, EventKind, ExecEvent, Process, ProcessKey, Source};
use warden_store::{Body, EventFilter, KeepFree, Retention, Store, StoredEvent};

const CHILD_ENV: &str = "WARDEN_STORE_CRASH_CHILD";
const BATCH: i64 = 300;
/// Small enough that size retention (deletes, incremental vacuum, TRUNCATE checkpoints) runs
/// in the child, so kills also land in the middle of it.
const MAX_BYTES: u64 = 4 << 20;

fn retention() -> Retention {
    Retention {
        max_age: Duration::ZERO,
        max_bytes: MAX_BYTES,
        keep_free: KeepFree::NONE,
    }
}

/// Event `i` of batch `b`, as the agent stores it: the batch number is the pid, the index the
/// ppid.
fn event(b: i64, i: i64) -> StoredEvent {
    StoredEvent::from_event(Event {
        time_ns: b * 1_000_000 + i,
        host: "h".into(),
        kind: EventKind::Exec(ExecEvent {
            process: Process {
                key: Some(ProcessKey {
                    boot: BootId([b as u8; 16]),
                    pid: b as u32,
                    start_ticks: i as u64,
                }),
                pid: b as u32,
                ppid: Some(i as u32),
                uid: Some(0),
                exe: Some(b"/usr/bin/true".to_vec()),
                args: vec![b"true".to_vec(), noise(b * 1_000 + i, 900)].into(),
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

/// `len` characters of 64 that do not compress (6 bits each; blocks are packed): 900 of them
/// take about what the 600 bytes of padding before packing did, so that the store still grows
/// to its size limit within the test.
fn noise(seed: i64, len: usize) -> Vec<u8> {
    const ALPHABET: &[u8; 64] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_";
    let mut state = seed as u64 | 1;
    (0..len)
        .map(|_| ALPHABET[jitter(&mut state, 64) as usize])
        .collect()
}

/// The child: writes batches forever, continuing after the last batch in the store, and prints
/// `committed N` after each commit. Does nothing when run as an ordinary test.
#[test]
fn crash_child() {
    let Some(dir) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let store = Store::open(&dir, retention()).expect("child open");
    let next = {
        let reader = Store::reader(&dir).expect("child reader");
        let filter = EventFilter {
            newest_first: true,
            limit: Some(1),
            ..EventFilter::default()
        };
        reader
            .query(&filter)
            .next()
            .transpose()
            .expect("last")
            .map_or(0, |r| r.event.pid + 1)
    };
    let mut writer = store.writer().expect("child writer");
    for b in next.. {
        let batch: Vec<StoredEvent> = (0..BATCH).map(|i| event(b, i)).collect();
        writer.insert_batch(&batch).expect("insert");
        println!("committed {b}");
        if b % 5 == 4 {
            writer.enforce_retention().expect("retention");
        }
    }
}

/// Cheap pseudo-random numbers without a dependency.
fn jitter(seed: &mut u64, below: u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed % below
}

#[test]
fn sigkill_mid_write_keeps_every_committed_batch_whole() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let exe = std::env::current_exe().expect("test binary");
    let mut seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    let mut last_committed = -1i64;
    let mut retention_seen = false;
    for round in 0..6 {
        let mut child = Command::new(&exe)
            .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn child");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let commits_before_kill = 3 + jitter(&mut seed, 25);
        let mut seen = 0;
        for line in lines.by_ref() {
            let line = line.expect("line");
            if let Some(b) = line.strip_prefix("committed ") {
                last_committed = b.parse().expect("batch number");
                seen += 1;
                if seen >= commits_before_kill {
                    break;
                }
            }
        }
        assert!(
            seen >= commits_before_kill,
            "round {round}: child stopped early"
        );
        std::thread::sleep(Duration::from_micros(jitter(&mut seed, 3_000)));
        child.kill().expect("SIGKILL");
        let status = child.wait().expect("wait");
        assert!(!status.success(), "child was killed");
        // Commits reported between our last read and the kill.
        for line in lines {
            let Ok(line) = line else { break };
            if let Some(b) = line.strip_prefix("committed ") {
                last_committed = b.parse().expect("batch number");
            }
        }

        let reader = Store::reader(dir.path()).expect("reader after kill");
        let conn = reader.connection();
        let integrity: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(integrity, "ok", "round {round}");
        // Per batch (the events' pid): (pid, events, distinct ppids, min seq, max seq).
        let mut batches: Vec<(i64, i64, i64, i64, i64)> = Vec::new();
        let mut ppids = std::collections::BTreeSet::new();
        for row in reader.query(&EventFilter::default()) {
            let row = row.unwrap_or_else(|e| panic!("round {round}: {e}"));
            // The event itself came back whole, not only the fields filters read.
            let Body::Event(stored) = &row.event.body else {
                panic!("round {round}: seq {} has no event", row.seq);
            };
            assert_eq!(stored.time_ns, row.event.time_ns, "round {round}");
            match batches.last_mut() {
                Some(b) if b.0 == row.event.pid => {
                    b.1 += 1;
                    b.4 = row.seq;
                }
                _ => {
                    ppids.clear();
                    batches.push((row.event.pid, 1, 0, row.seq, row.seq));
                }
            }
            ppids.insert(row.event.ppid);
            batches.last_mut().expect("pushed").2 = ppids.len() as i64;
        }
        let (first, last) = (
            batches.first().expect("rows").0,
            batches.last().expect("rows").0,
        );
        assert!(
            last >= last_committed,
            "round {round}: batch {last_committed} committed, {last} stored"
        );
        assert_eq!(
            batches.len() as i64,
            last - first + 1,
            "round {round}: batches contiguous"
        );
        // Batch 0 was written first, from seq 1: a later start means retention trimmed it.
        let trimmed = first > 0 || batches[0].3 > 1;
        if trimmed {
            retention_seen = true;
        }
        for (i, &(b, n, distinct, min_seq, max_seq)) in batches.iter().enumerate() {
            if i == 0 && trimmed {
                // Size retention deletes the oldest rows, possibly part of the oldest batch
                // (batch 0 included): what is left of it is its newest rows.
                assert!(
                    n <= BATCH && max_seq - min_seq + 1 == n,
                    "round {round}: batch {b}"
                );
                continue;
            }
            assert_eq!(
                (n, distinct),
                (BATCH, BATCH),
                "round {round}: batch {b} complete"
            );
            assert_eq!(
                max_seq - min_seq + 1,
                BATCH,
                "round {round}: batch {b} contiguous"
            );
        }
        let usage = reader.disk_usage().unwrap();
        assert!(usage.db_bytes <= 2 * MAX_BYTES, "round {round}: {usage:?}");
    }
    assert!(retention_seen, "retention ran in the child");
}

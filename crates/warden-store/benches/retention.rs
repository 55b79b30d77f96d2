//! What a size-retention run costs the writer, which holds the store's write lock meanwhile
//! (commits wait that long): a store grown past its limit with events that do not compress is
//! cut to 90 % of the limit, the oldest deleted and their pages given back to the filesystem;
//! the run is timed whole, and the WAL's largest size meanwhile sampled every millisecond: the
//! room the run needed on the disk beyond the store's size before it. Three rounds on one
//! store, 64 MiB added before each. Run with
//! `cargo bench -p warden-store --bench retention` (release); the store is in a temp dir on
//! the disk of `TMPDIR`. Prints a Markdown table.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use warden_store::{Body, Retention, Store, StoredEvent, Writer};

const MIB: u64 = 1 << 20;
const LIMIT: u64 = 128 * MIB;
/// Bytes of noise per event: with the block's framing, about 1 KiB stored.
const PAD: usize = 1000;

/// Events of `PAD` random letters from `seed` on.
fn batch(seed: &mut u64, first: i64, count: usize) -> Vec<StoredEvent> {
    (0..count)
        .map(|i| {
            let pad: String = (0..PAD)
                .map(|_| {
                    *seed ^= *seed << 13;
                    *seed ^= *seed >> 7;
                    *seed ^= *seed << 17;
                    char::from(b'a' + (*seed % 26) as u8)
                })
                .collect();
            StoredEvent {
                time_ns: 1_780_000_000_000_000_000 + first + i as i64,
                class: "file".into(),
                action: "create".into(),
                pid: 1000,
                body: Body::Json(format!("{{\"pad\":\"{pad}\"}}")),
                ..StoredEvent::default()
            }
        })
        .collect()
}

/// Commits events until the store holds `bytes` more.
fn grow(writer: &mut Writer, seed: &mut u64, next: &mut i64, bytes: u64) {
    let target = writer.disk_usage().unwrap().total() + bytes;
    while writer.disk_usage().unwrap().total() < target {
        writer.insert_batch(&batch(seed, *next, 1000)).unwrap();
        *next += 1000;
    }
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let unlimited = Retention {
        max_age: Duration::ZERO,
        max_bytes: 0,
        ..Retention::default()
    };
    let store = Store::open(dir.path(), unlimited).unwrap();
    let mut writer = store.writer().unwrap();
    let (mut seed, mut next) = (0x9e37_79b9_7f4a_7c15_u64, 0i64);
    grow(&mut writer, &mut seed, &mut next, LIMIT);
    println!("| round | store before | deleted events | run | largest WAL | store after |");
    println!("|---|---:|---:|---:|---:|---:|");
    let wal = dir.path().join("events.db-wal");
    for round in 1..=3 {
        writer.set_retention(unlimited).unwrap();
        grow(&mut writer, &mut seed, &mut next, 64 * MIB);
        writer.compact().unwrap();
        let before = writer.disk_usage().unwrap().total();
        writer
            .set_retention(Retention {
                max_bytes: LIMIT,
                ..unlimited
            })
            .unwrap();
        let running = AtomicBool::new(true);
        let (report, took, largest_wal) = std::thread::scope(|s| {
            let sampler = s.spawn(|| {
                let mut largest = 0;
                while running.load(Ordering::Relaxed) {
                    largest = largest.max(std::fs::metadata(&wal).map_or(0, |m| m.len()));
                    std::thread::sleep(Duration::from_millis(1));
                }
                largest
            });
            let started = Instant::now();
            let report = writer.enforce_retention().unwrap();
            let took = started.elapsed();
            running.store(false, Ordering::Relaxed);
            (report, took, sampler.join().unwrap())
        });
        println!(
            "| {round} | {:.1} MiB | {} | {:.0} ms | {:.1} MiB | {:.1} MiB |",
            before as f64 / MIB as f64,
            report.deleted(),
            took.as_secs_f64() * 1000.0,
            largest_wal as f64 / MIB as f64,
            report.after.total() as f64 / MIB as f64
        );
    }
}

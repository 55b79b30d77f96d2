//! The store on a small filesystem: a disk filled to its last byte in one stroke (SQLite needs
//! room even to delete, so the store gives back its reserve first, then its oldest events), and
//! a batch larger than the room left (written up to the floor, the rest dropped). Each test
//! re-executes its own binary in a mount namespace of its own (`unshare --mount`, root), on a
//! small tmpfs that ends with it: nothing is mounted on the host however the test ends.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use warden_store::{
    Body, EventFilter, KeepFree, RESERVE_BYTES, RESERVE_FILE, Retention, Store, StoreError,
    StoredEvent, WriterOptions, spawn_writer_with,
};

const CHILD_ENV: &str = "WARDEN_STORE_FULL_DISK_CHILD";
const MIB: u64 = 1 << 20;
/// What the store leaves free for the host: more than the reserve, so that giving the reserve
/// back is not enough and events must go too.
const FLOOR: u64 = 3 * MIB;

#[test]
fn a_disk_full_to_the_last_byte_gets_its_space_back() {
    in_own_mount_namespace("full_disk_child");
}

/// The child: on a 12 MiB tmpfs mounted in its own namespace.
#[test]
fn full_disk_child() {
    let Some(mount) = child_tmpfs() else {
        return;
    };
    let dir = mount.join("data");
    let store = Store::open(&dir, floor_only()).unwrap();
    let mut writer = store.writer().unwrap();
    let mut next = 0;
    while writer.disk_usage().unwrap().total() < 5 * MIB {
        let batch: Vec<StoredEvent> = (next..next + 200).map(event).collect();
        writer.insert_batch(&batch).unwrap();
        next += 200;
    }

    // Without the reserve: SQLite has no room to delete, and the disk stays full.
    writer.compact().unwrap(); // The WAL truncated: no room in it either.
    assert!(!writer.release_reserve(), "no reserve taken yet");
    let grabbed = grab_every_free_byte(&mount);
    let full = writer.enforce_retention();
    assert!(
        matches!(&full, Err(StoreError::Sqlite(e)) if e.to_string().contains("full")),
        "{full:?}"
    );
    assert!(available(&mount) < MIB);
    std::fs::remove_file(grabbed).unwrap();

    // With it.
    writer.compact().unwrap();
    assert!(writer.keep_reserve(), "room to spare for the reserve");
    let reserve = std::fs::metadata(dir.join(RESERVE_FILE)).unwrap();
    assert_eq!(reserve.len(), RESERVE_BYTES);
    let held = writer.disk_usage().unwrap().total();
    grab_every_free_byte(&mount);
    let report = writer.enforce_retention().unwrap();
    assert!(report.reserve_released, "{report:?}");
    assert!(report.deleted_for_free_space > 0, "{report:?}");
    assert!(report.after.total() < held, "{report:?}");
    assert!(
        available(&mount) >= FLOOR,
        "{} bytes free: {report:?}",
        available(&mount)
    );
    assert!(!dir.join(RESERVE_FILE).exists());
    // New events go in again, and the newest survived.
    writer.insert_batch(&[event(next)]).unwrap();
    let last = writer.last_seq().unwrap();
    assert_eq!(last, Some(next + 1));
}

/// The writer thread keeps the floor, however large a batch: one of 16,000 events (10 MB
/// packed, with 7 MiB of room) is written as far as the room goes and the rest is dropped and
/// counted. Then, at the floor, new batches go in and the oldest events make room for them.
#[test]
fn a_batch_larger_than_the_room_stops_at_the_floor() {
    in_own_mount_namespace("large_batch_child");
}

/// The child: on a 12 MiB tmpfs mounted in its own namespace.
#[test]
fn large_batch_child() {
    let Some(mount) = child_tmpfs() else {
        return;
    };
    let store = Store::open(mount.join("data"), floor_only()).unwrap();
    // The lowest free space seen while the writer thread writes `events`, and its stats.
    let run = |events: std::ops::Range<i64>, batch_size: usize| {
        let count = events.end - events.start;
        // Queued before the thread starts: its first batches are full.
        let (tx, rx) = crossbeam_channel::unbounded();
        for i in events {
            tx.send(event(i)).unwrap();
        }
        let options = WriterOptions {
            batch_size,
            flush_interval: Duration::from_millis(10),
            retention_interval: Duration::from_secs(3600),
        };
        let thread = spawn_writer_with(&store, rx, options).unwrap();
        let counters = thread.counters();
        let mut lowest = u64::MAX;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            lowest = lowest.min(available(&mount));
            let done = counters.snapshot();
            if done.written + done.dropped_disk_short == count as u64 {
                break;
            }
            assert!(Instant::now() < deadline, "{done:?}");
            std::thread::sleep(Duration::from_millis(1));
        }
        // And while its checkpointer copies the WAL into the database, the WAL file kept
        // (it goes when the store closes).
        for _ in 0..300 {
            lowest = lowest.min(available(&mount));
            std::thread::sleep(Duration::from_millis(1));
        }
        drop(tx);
        (lowest, thread.join().unwrap())
    };

    let (lowest, first) = run(0..16_000, 16_000);
    let kept = i64::try_from(first.written).unwrap();
    assert!(kept > 1_000 && kept < 16_000, "{first:?}");
    assert_eq!(
        first.dropped_disk_short,
        16_000 - first.written,
        "{first:?}"
    );
    assert_eq!(first.errors, 0, "{first:?}");
    assert!(lowest >= FLOOR, "{lowest} bytes free: {first:?}");
    assert_eq!(newest_and_oldest(&store), (kept, 1));

    // At the floor: each batch of 200 makes room for itself, from the oldest.
    let (lowest, second) = run(16_000..22_000, 200);
    assert_eq!(second.written, 6_000, "{second:?}");
    assert_eq!(second.dropped_disk_short, 0, "{second:?}");
    assert!(second.deleted_for_free_space > 0, "{second:?}");
    assert!(lowest >= FLOOR, "{lowest} bytes free: {second:?}");
    let (newest, oldest) = newest_and_oldest(&store);
    assert_eq!(newest, kept + 6_000);
    assert!(oldest > 1, "the oldest events made room");
}

/// The `seq` of the newest and the oldest event in `store`.
fn newest_and_oldest(store: &Store) -> (i64, i64) {
    let reader = Store::reader(store.dir()).unwrap();
    let seqs: Vec<i64> = reader
        .query(&EventFilter::default())
        .map(|row| row.unwrap().seq)
        .collect();
    (*seqs.iter().max().unwrap(), *seqs.iter().min().unwrap())
}

/// Runs the test `child` of this binary again in a mount namespace of its own, where it
/// mounts its tmpfs: nothing is mounted on the host however it ends. Skipped without root or
/// `unshare`.
fn in_own_mount_namespace(child: &str) {
    if std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    // SAFETY: no preconditions.
    if unsafe { nix::libc::geteuid() } != 0 {
        eprintln!("skipping: mounting a tmpfs needs root");
        return;
    }
    if !Command::new("unshare")
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success())
    {
        eprintln!("skipping: unshare (util-linux) is not installed");
        return;
    }
    let mount = tempfile::tempdir().unwrap();
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private"])
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", child, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, mount.path())
        .output()
        .unwrap();
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("1 passed"), "the child ran no test: {said}");
}

/// In a child ([`in_own_mount_namespace`]): its directory, with a 12 MiB tmpfs mounted on it.
fn child_tmpfs() -> Option<PathBuf> {
    let mount = PathBuf::from(std::env::var_os(CHILD_ENV)?);
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=12m", "warden-test"])
        .arg(&mount)
        .status()
        .unwrap();
    assert!(mounted.success());
    Some(mount)
}

/// No limit but the free space left: [`FLOOR`].
fn floor_only() -> Retention {
    Retention {
        max_age: Duration::ZERO,
        max_bytes: 0,
        keep_free: KeepFree {
            percent: 100,
            at_most: FLOOR,
        },
    }
}

/// Takes every free byte of the filesystem at `dir` at once (allocated, not sparse).
fn grab_every_free_byte(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("grabber");
    let file = std::fs::File::create(&path).unwrap();
    nix::fcntl::posix_fallocate(&file, 0, available(dir) as i64).unwrap();
    assert!(available(dir) < 64 * 1024, "{} bytes left", available(dir));
    path
}

fn available(path: &Path) -> u64 {
    let st = nix::sys::statvfs::statvfs(path).unwrap();
    st.blocks_available() * st.fragment_size()
}

/// An event of about 1 KiB that does not compress.
fn event(i: i64) -> StoredEvent {
    let mut state = (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let noise: String = (0..1024)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            char::from(b'a' + (state % 26) as u8)
        })
        .collect();
    StoredEvent {
        time_ns: 1_700_000_000_000_000_000 + i,
        class: "exec".into(),
        action: "exec".into(),
        entity_id: format!("b-{i}-1"),
        pid: i,
        body: Body::Json(format!("{{\"n\":{i},\"pad\":\"{noise}\"}}")),
        ..StoredEvent::default()
    }
}

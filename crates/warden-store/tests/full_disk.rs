//! A disk filled to its last byte in one stroke: SQLite needs room even to delete, so the store
//! gives back its reserve first, then its oldest events. The test re-executes its own binary
//! in a mount namespace of its own (`unshare --mount`, root), on a small tmpfs that ends with
//! it: nothing is mounted on the host however the test ends.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use warden_store::{
    Body, KeepFree, RESERVE_BYTES, RESERVE_FILE, Retention, Store, StoreError, StoredEvent,
};

const CHILD_ENV: &str = "WARDEN_STORE_FULL_DISK_CHILD";
const MIB: u64 = 1 << 20;
/// What the store leaves free for the host: more than the reserve, so that giving the reserve
/// back is not enough and events must go too.
const FLOOR: u64 = 3 * MIB;

#[test]
fn a_disk_full_to_the_last_byte_gets_its_space_back() {
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
        .args([
            "--exact",
            "full_disk_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, mount.path())
        .output()
        .unwrap();
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("1 passed"), "the child ran no test: {said}");
}

/// The child: on a 12 MiB tmpfs mounted in its own namespace.
#[test]
fn full_disk_child() {
    let Some(mount) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let mount = Path::new(&mount);
    let mounted = Command::new("mount")
        .args([
            "-t",
            "tmpfs",
            "-o",
            "size=12m",
            "warden-test",
            &mount.to_string_lossy(),
        ])
        .status()
        .unwrap();
    assert!(mounted.success());
    let dir = mount.join("data");
    let store = Store::open(
        &dir,
        Retention {
            max_age: Duration::ZERO,
            max_bytes: 0,
            keep_free: KeepFree {
                percent: 100,
                at_most: FLOOR,
            },
        },
    )
    .unwrap();
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
    let grabbed = grab_every_free_byte(mount);
    let full = writer.enforce_retention();
    assert!(
        matches!(&full, Err(StoreError::Sqlite(e)) if e.to_string().contains("full")),
        "{full:?}"
    );
    assert!(available(mount) < MIB);
    std::fs::remove_file(grabbed).unwrap();

    // With it.
    writer.compact().unwrap();
    assert!(writer.keep_reserve(), "room to spare for the reserve");
    let reserve = std::fs::metadata(dir.join(RESERVE_FILE)).unwrap();
    assert_eq!(reserve.len(), RESERVE_BYTES);
    let held = writer.disk_usage().unwrap().total();
    grab_every_free_byte(mount);
    let report = writer.enforce_retention().unwrap();
    assert!(report.reserve_released, "{report:?}");
    assert!(report.deleted_for_free_space > 0, "{report:?}");
    assert!(report.after.total() < held, "{report:?}");
    assert!(
        available(mount) >= FLOOR,
        "{} bytes free: {report:?}",
        available(mount)
    );
    assert!(!dir.join(RESERVE_FILE).exists());
    // New events go in again, and the newest survived.
    writer.insert_batch(&[event(next)]).unwrap();
    let last = writer.last_seq().unwrap();
    assert_eq!(last, Some(next + 1));
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

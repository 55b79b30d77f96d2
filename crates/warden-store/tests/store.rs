//! Store behaviour: round trips with each filter, tailing, retention by age and size, the writer
//! thread, and a reader running beside the writer.

use std::time::{Duration, Instant};

use warden_store::{
    Body, DiskUsage, EventFilter, KeepFree, RESERVE_BYTES, RESERVE_FILE, RESERVE_SHARE, Reader,
    Retention, SCHEMA_VERSION, Store, StoredEvent, StoredEventRow, WriterOptions, WriterStats,
    attach_read_only, spawn_writer, spawn_writer_with,
};

const HOUR_NS: i64 = 3_600_000_000_000;
const T0: i64 = 1_780_000_000_000_000_000;

fn no_retention() -> Retention {
    Retention {
        max_age: Duration::ZERO,
        max_bytes: 0,
        keep_free: KeepFree::NONE,
    }
}

/// A store with only a size limit.
fn size_limited(dir: &std::path::Path, max_bytes: u64) -> Store {
    let retention = Retention {
        max_age: Duration::ZERO,
        max_bytes,
        keep_free: KeepFree::NONE,
    };
    Store::open(dir, retention).expect("open")
}

fn event(i: i64) -> StoredEvent {
    let class = ["exec", "fork", "exit"][(i % 3) as usize];
    StoredEvent {
        time_ns: T0 + i * 1_000,
        class: class.into(),
        action: class.into(),
        entity_id: format!("boot:{}:{}", 1000 + i % 10, i % 10),
        parent_entity_id: (i % 10 != 0)
            .then(|| format!("boot:{}:{}", 1000 + (i % 10) - 1, (i % 10) - 1)),
        pid: 1000 + i % 10,
        ppid: Some(999 + i % 10),
        uid: Some(i % 2),
        exe: Some(format!("/usr/bin/tool{}", i % 4)),
        path: (i % 5 == 0).then(|| format!("/etc/file{i}")),
        success: Some(i % 7 != 0),
        body: Body::Json(format!("{{\"n\":{i},\"pad\":\"{}\"}}", noise(i, 800))),
        ..StoredEvent::default()
    }
}

/// `len` characters of 64 that do not compress (6 bits each), so that the size tests' stores
/// grow as they mean to although blocks are packed: 800 of them take about what 600 bytes of
/// padding took unpacked.
fn noise(seed: i64, len: usize) -> String {
    const ALPHABET: &[u8; 64] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_";
    let mut state = (seed as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            char::from(ALPHABET[(state % 64) as usize])
        })
        .collect()
}

fn events(range: std::ops::Range<i64>) -> Vec<StoredEvent> {
    range.map(event).collect()
}

fn all(reader: &Reader, filter: &EventFilter) -> Vec<StoredEventRow> {
    reader
        .query(filter)
        .collect::<Result<Vec<_>, _>>()
        .expect("query")
}

fn store_with(n: i64) -> (tempfile::TempDir, Store, Vec<StoredEvent>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path().join("store"), no_retention()).expect("open");
    let mut writer = store.writer().expect("writer");
    let evs = events(0..n);
    for chunk in evs.chunks(250) {
        writer.insert_batch(chunk).expect("insert");
    }
    (dir, store, evs)
}

/// Checks `filter` against the same predicate evaluated in Rust over `evs`.
fn check(
    reader: &Reader,
    evs: &[StoredEvent],
    filter: &EventFilter,
    keep: impl Fn(&StoredEvent) -> bool,
) {
    let got: Vec<StoredEvent> = all(reader, filter).into_iter().map(|r| r.event).collect();
    let want: Vec<StoredEvent> = evs.iter().filter(|e| keep(e)).cloned().collect();
    assert!(
        !want.is_empty(),
        "filter {filter:?} selects nothing; a useless test"
    );
    assert_eq!(got.len(), want.len(), "filter {filter:?}");
    assert_eq!(got, want, "filter {filter:?}");
    assert_eq!(reader.count(filter).expect("count"), want.len() as u64);
    // The SQL and the filter's own predicate agree (the cursor is not the predicate's business).
    if filter.after_seq.is_none() {
        let by_predicate: Vec<StoredEvent> =
            evs.iter().filter(|e| filter.matches(e)).cloned().collect();
        assert_eq!(got, by_predicate, "filter {filter:?} and its predicate");
    }
}

/// Network and file events: a connect or accept between IPv4 or IPv6 addresses, or a rename.
fn socket_or_file_event(i: i64) -> StoredEvent {
    let base = StoredEvent {
        time_ns: T0 + i * 1_000,
        entity_id: format!("boot:{}:1", 2000 + i % 5),
        pid: 2000 + i % 5,
        success: Some(i % 4 != 0),
        body: Body::Json(format!("{{\"n\":{i}}}")),
        ..StoredEvent::default()
    };
    match i % 3 {
        0 => StoredEvent {
            class: "file".into(),
            action: if i % 2 == 0 { "rename" } else { "delete" }.into(),
            path: Some(format!("/srv/new{i}")),
            old_path: Some(format!("/etc/old{i}")),
            ..base
        },
        1 => StoredEvent {
            class: "network".into(),
            action: "connect".into(),
            local_address: Some(format!("10.0.{}.{}", i % 7, i % 200)),
            local_port: Some(30_000 + i % 50),
            remote_address: Some(format!("192.168.{}.1", i % 3)),
            remote_port: Some([443, 80, 53][(i % 3) as usize]),
            ..base
        },
        _ => StoredEvent {
            class: "network".into(),
            action: "accept".into(),
            local_address: Some("::ffff:10.9.0.1".into()),
            local_port: Some(22),
            remote_address: Some(format!("2001:db8:{:x}::{:x}", i % 4, i)),
            remote_port: Some(50_000 + i % 9),
            ..base
        },
    }
}

#[test]
fn socket_and_file_filters_in_sql_and_after_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), no_retention()).expect("open");
    let mut writer = store.writer().expect("writer");
    let evs: Vec<StoredEvent> = (0..1500).map(socket_or_file_event).collect();
    writer.insert_batch(&evs).expect("insert");
    let reader = Store::reader(dir.path()).expect("reader");
    let net = |s: &str, p: u8| (s.parse().expect("ip"), p);
    let kind = |c: &str, a: Option<&str>| (c.to_string(), a.map(String::from));
    let filters = [
        EventFilter {
            ports: vec![443, 22],
            ..EventFilter::default()
        },
        EventFilter {
            success: Some(false),
            kinds: vec![kind("network", Some("connect"))],
            ..EventFilter::default()
        },
        EventFilter {
            kinds: vec![kind("file", Some("rename")), kind("network", None)],
            ..EventFilter::default()
        },
        EventFilter {
            path_glob: Some("/etc/old1*".into()),
            ..EventFilter::default()
        },
        EventFilter {
            networks: vec![net("10.0.3.0", 24)],
            ..EventFilter::default()
        },
        EventFilter {
            networks: vec![net("10.9.0.1", 32)],
            ..EventFilter::default()
        },
        EventFilter {
            networks: vec![net("2001:db8:2::", 48), net("192.168.1.0", 24)],
            success: Some(true),
            ..EventFilter::default()
        },
    ];
    for filter in &filters {
        let want: Vec<StoredEvent> = evs.iter().filter(|e| filter.matches(e)).cloned().collect();
        check(&reader, &evs, filter, |e| filter.matches(e));
        // `limit` counts rows after the address post-filter, from either end.
        for newest_first in [false, true] {
            let limited = EventFilter {
                limit: Some(3),
                newest_first,
                ..filter.clone()
            };
            let mut got: Vec<StoredEvent> = all(&reader, &limited)
                .into_iter()
                .map(|r| r.event)
                .collect();
            let mut expected: Vec<StoredEvent> = want.iter().take(3).cloned().collect();
            if newest_first {
                got.reverse();
                expected = want[want.len() - 3..].to_vec();
            }
            assert_eq!(got, expected, "{limited:?}");
        }
    }
}

#[test]
fn open_sets_up_wal_schema_version_and_incremental_vacuum() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path().join("a/b"), Retention::default()).expect("open");
    assert!(store.path().ends_with("a/b/events.db"));
    let reader = Store::reader(store.dir()).expect("reader");
    let conn = reader.connection();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    let vacuum: i64 = conn
        .query_row("PRAGMA auto_vacuum", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    assert_eq!(version, SCHEMA_VERSION);
    assert_eq!(vacuum, 2, "auto_vacuum=INCREMENTAL");
    let page_size: i64 = conn
        .query_row("PRAGMA page_size", [], |r| r.get(0))
        .unwrap();
    assert_eq!(page_size, 8192);
    // Opening again is a no-op migration; the reader refuses to write.
    Store::open(store.dir(), Retention::default()).expect("reopen");
    let refused = conn.execute("DELETE FROM event_blocks", []).unwrap_err();
    assert!(refused.to_string().contains("readonly"), "{refused}");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(store.dir()).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700);
}

#[test]
fn newer_schema_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), no_retention()).expect("open");
    let conn = rusqlite::Connection::open(store.path()).unwrap();
    conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    drop(conn);
    let err = Store::open(dir.path(), no_retention()).expect_err("newer schema");
    assert!(err.to_string().contains("newer"), "{err}");
}

#[test]
fn a_damaged_store_is_set_aside_and_a_new_one_begins() {
    let (dir, store, _) = store_with(500);
    let store_dir = store.dir().to_path_buf();
    // An undamaged store is opened as it is.
    let (_, aside) = Store::open_setting_damage_aside(&store_dir, no_retention()).unwrap();
    assert_eq!(aside, None);
    // A newer schema is refused, not set aside: that store is not damaged.
    let conn = rusqlite::Connection::open(store.path()).unwrap();
    conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    let err = Store::open_setting_damage_aside(&store_dir, no_retention()).unwrap_err();
    assert!(err.to_string().contains("newer"), "{err}");
    conn.pragma_update(None, "user_version", SCHEMA_VERSION)
        .unwrap();
    drop(conn);

    // Its header damaged, the file is no database any more.
    let mut damaged = std::fs::read(store.path()).unwrap();
    damaged[..16].copy_from_slice(b"not a database!\0");
    std::fs::write(store.path(), &damaged).unwrap();
    assert!(Store::open(&store_dir, no_retention()).is_err());
    let (store, aside) = Store::open_setting_damage_aside(&store_dir, no_retention()).unwrap();
    let aside = aside.expect("set aside");
    assert!(aside.why.contains("not a database"), "{}", aside.why);
    let name = aside.path.file_name().unwrap().to_str().unwrap();
    assert!(name.starts_with("events.db.damaged-2"), "{name}");
    assert_eq!(
        std::fs::read(&aside.path).unwrap(),
        damaged,
        "kept as it was"
    );
    // The new store records, from seq 1.
    store.writer().unwrap().insert_batch(&events(0..3)).unwrap();
    let rows = all(&Store::reader(&store_dir).unwrap(), &EventFilter::default());
    assert_eq!(rows.iter().map(|r| r.seq).collect::<Vec<_>>(), [1, 2, 3]);
    // Damaged again at once: the second is set aside beside the first, not over it.
    std::fs::write(store.path(), &damaged).unwrap();
    let (_, again) = Store::open_setting_damage_aside(&store_dir, no_retention()).unwrap();
    let again = again.expect("set aside again");
    assert_ne!(again.path, aside.path);
    assert_eq!(
        std::fs::read(&aside.path).unwrap(),
        damaged,
        "the first kept"
    );
    assert_eq!(std::fs::read(&again.path).unwrap(), damaged);
    assert!(again.removed.is_empty());

    // Damaged again and again (a failing disk): the newest KEEP_SET_ASIDE are kept, the
    // oldest deleted, with their WALs, and said.
    std::fs::write(format!("{}-wal", aside.path.display()), b"wal").unwrap();
    let mut all_aside = vec![aside.path.clone(), again.path];
    let mut removed = Vec::new();
    for _ in 0..3 {
        std::fs::write(store.path(), &damaged).unwrap();
        let (_, next) = Store::open_setting_damage_aside(&store_dir, no_retention()).unwrap();
        let next = next.expect("set aside");
        all_aside.push(next.path);
        removed.extend(next.removed);
    }
    assert_eq!(removed, all_aside[..2], "the oldest two, oldest first");
    let mut left: Vec<std::path::PathBuf> = std::fs::read_dir(&store_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains(".damaged-"))
        .collect();
    left.sort();
    let mut newest = all_aside[2..].to_vec();
    newest.sort();
    assert_eq!(left, newest, "no WAL of a deleted one left either");
    assert_eq!(newest.len(), warden_store::KEEP_SET_ASIDE);
    drop(dir);
}

#[test]
fn round_trip_every_field_and_seq_order() {
    let (_dir, store, evs) = store_with(1234);
    let reader = Store::reader(store.dir()).expect("reader");
    let rows = all(&reader, &EventFilter::default());
    assert_eq!(rows.len(), evs.len());
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row.seq, i as i64 + 1);
        assert_eq!(row.event, evs[i]);
    }
    let newest = all(
        &reader,
        &EventFilter {
            newest_first: true,
            limit: Some(700),
            ..EventFilter::default()
        },
    );
    assert_eq!(newest.len(), 700);
    assert_eq!(newest[0].seq, 1234);
    assert!(newest.windows(2).all(|w| w[0].seq == w[1].seq + 1));
    assert_eq!(reader.last_seq().unwrap(), Some(1234));
}

#[test]
fn each_filter_matches_its_rust_predicate() {
    let (_dir, store, evs) = store_with(2000);
    let reader = Store::reader(store.dir()).expect("reader");
    let base = EventFilter::default;
    check(
        &reader,
        &evs,
        &EventFilter {
            since: Some(T0 + 500_000),
            ..base()
        },
        |e| e.time_ns >= T0 + 500_000,
    );
    check(
        &reader,
        &evs,
        &EventFilter {
            until: Some(T0 + 500_000),
            ..base()
        },
        |e| e.time_ns < T0 + 500_000,
    );
    check(
        &reader,
        &evs,
        &EventFilter {
            since: Some(T0 + 100_000),
            until: Some(T0 + 1_700_000),
            ..base()
        },
        |e| (T0 + 100_000..T0 + 1_700_000).contains(&e.time_ns),
    );
    check(
        &reader,
        &evs,
        &EventFilter {
            pids: vec![1003, 1007],
            ..base()
        },
        |e| e.pid == 1003 || e.pid == 1007,
    );
    check(
        &reader,
        &evs,
        &EventFilter {
            entity_ids: vec!["boot:1004:4".into()],
            ..base()
        },
        |e| e.entity_id == "boot:1004:4",
    );
    check(
        &reader,
        &evs,
        &EventFilter {
            entity_ids: vec!["boot:1004:4".into()],
            match_parent_entity: true,
            ..base()
        },
        |e| e.entity_id == "boot:1004:4" || e.parent_entity_id.as_deref() == Some("boot:1004:4"),
    );
    check(
        &reader,
        &evs,
        &EventFilter {
            uids: vec![1],
            ..base()
        },
        |e| e.uid == Some(1),
    );
    check(
        &reader,
        &evs,
        &EventFilter {
            classes: vec!["exec".into(), "exit".into()],
            ..base()
        },
        |e| e.class != "fork",
    );
    check(
        &reader,
        &evs,
        &EventFilter {
            exe_glob: Some("/usr/bin/tool[12]".into()),
            ..base()
        },
        |e| matches!(e.exe.as_deref(), Some("/usr/bin/tool1" | "/usr/bin/tool2")),
    );
    check(
        &reader,
        &evs,
        &EventFilter {
            path_glob: Some("/etc/file1*".into()),
            ..base()
        },
        |e| {
            e.path
                .as_deref()
                .is_some_and(|p| p.starts_with("/etc/file1"))
        },
    );
    // Everything at once, across pages, newest first.
    let combined = EventFilter {
        since: Some(T0 + 10_000),
        until: Some(T0 + 1_900_000),
        pids: vec![1001, 1002, 1005],
        uids: vec![1],
        classes: vec!["exec".into(), "fork".into()],
        exe_glob: Some("/usr/bin/*".into()),
        after_seq: Some(100),
        ..base()
    };
    let keep = |e: &StoredEvent| {
        (T0 + 10_000..T0 + 1_900_000).contains(&e.time_ns)
            && [1001, 1002, 1005].contains(&e.pid)
            && e.uid == Some(1)
            && e.class != "exit"
            && (e.time_ns - T0) / 1_000 >= 100
    };
    check(&reader, &evs, &combined, keep);
    let mut reversed: Vec<StoredEvent> = all(
        &reader,
        &EventFilter {
            newest_first: true,
            ..combined.clone()
        },
    )
    .into_iter()
    .map(|r| r.event)
    .collect();
    reversed.reverse();
    assert_eq!(
        reversed,
        evs.iter().filter(|e| keep(e)).cloned().collect::<Vec<_>>()
    );
    // Limit, and a filter nothing matches.
    let limited = all(
        &reader,
        &EventFilter {
            pids: vec![1003],
            limit: Some(7),
            ..base()
        },
    );
    assert_eq!(limited.len(), 7);
    assert!(
        all(
            &reader,
            &EventFilter {
                pids: vec![42],
                ..base()
            }
        )
        .is_empty()
    );
    assert!(
        all(
            &reader,
            &EventFilter {
                since: Some(T0 + HOUR_NS),
                ..base()
            }
        )
        .is_empty()
    );
    assert!(
        all(
            &reader,
            &EventFilter {
                limit: Some(0),
                ..base()
            }
        )
        .is_empty()
    );
}

#[test]
fn parameters_are_bound_not_spliced() {
    let (_dir, store, _) = store_with(10);
    let reader = Store::reader(store.dir()).expect("reader");
    let hostile = EventFilter {
        classes: vec!["exec') OR 1=1 --".into()],
        entity_ids: vec!["x' OR '1'='1".into()],
        exe_glob: Some("*' OR 1=1 --".into()),
        ..EventFilter::default()
    };
    assert!(all(&reader, &hostile).is_empty());
}

#[test]
fn tailing_with_after_seq_sees_each_event_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), no_retention()).expect("open");
    let mut writer = store.writer().expect("writer");
    let reader = Store::reader(dir.path()).expect("reader");
    assert_eq!(reader.last_seq().unwrap(), None);
    let mut cursor = 0;
    let mut seen = Vec::new();
    for round in 0..20 {
        writer
            .insert_batch(&events(round * 37..(round + 1) * 37))
            .expect("insert");
        let filter = EventFilter {
            after_seq: Some(cursor),
            ..EventFilter::default()
        };
        for row in reader.query(&filter) {
            let row = row.expect("row");
            assert!(row.seq > cursor);
            cursor = row.seq;
            seen.push(row.event);
        }
    }
    assert_eq!(seen, events(0..20 * 37));
    // seq is never reused, even once every row is gone.
    writer
        .set_retention(Retention {
            max_age: Duration::from_secs(1),
            max_bytes: 0,
            keep_free: KeepFree::NONE,
        })
        .unwrap();
    let report = writer
        .enforce_retention_at(T0 + HOUR_NS)
        .expect("retention");
    assert_eq!(report.deleted_by_age, 740);
    writer.insert_batch(&events(0..1)).expect("insert");
    let rows = all(
        &reader,
        &EventFilter {
            after_seq: Some(cursor),
            ..EventFilter::default()
        },
    );
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].seq, 741);
}

#[test]
fn retention_by_age_deletes_only_old_events() {
    let dir = tempfile::tempdir().expect("tempdir");
    let retention = Retention {
        max_age: Duration::from_secs(3600),
        max_bytes: 0,
        keep_free: KeepFree::NONE,
    };
    let store = Store::open(dir.path(), retention).expect("open");
    let mut writer = store.writer().expect("writer");
    let now = T0 + 10 * HOUR_NS;
    let mut old = events(0..12_000);
    for e in &mut old {
        e.time_ns = now - 2 * HOUR_NS + e.time_ns - T0;
    }
    let mut fresh = events(0..500);
    for e in &mut fresh {
        e.time_ns = now - HOUR_NS / 2;
    }
    writer.insert_batch(&old).expect("insert");
    writer.insert_batch(&fresh).expect("insert");
    let report = writer.enforce_retention_at(now).expect("retention");
    assert_eq!(report.deleted_by_age, 12_000);
    assert_eq!(report.deleted_by_size, 0);
    assert!(
        report.after.total() < report.before.total() / 4,
        "file shrinks: {report:?}"
    );
    let reader = Store::reader(dir.path()).expect("reader");
    let rows = all(&reader, &EventFilter::default());
    assert_eq!(rows.len(), 500);
    assert!(rows.iter().all(|r| r.event.time_ns == now - HOUR_NS / 2));
    let free: i64 = reader
        .connection()
        .query_row("PRAGMA freelist_count", [], |r| r.get(0))
        .unwrap();
    assert_eq!(free, 0, "incremental vacuum returned the free pages");
}

#[test]
fn a_clock_set_forward_does_not_delete_history_sooner() {
    const DAY: i64 = 86_400 * 1_000_000_000;
    let dir = tempfile::tempdir().expect("tempdir");
    let retention = Retention {
        max_age: Duration::from_secs(7 * 86_400),
        max_bytes: 0,
        keep_free: KeepFree::NONE,
    };
    let store = Store::open(dir.path(), retention).expect("open");
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    let at = |time_ns: i64, i: i64| StoredEvent {
        time_ns,
        ..event(i)
    };
    let old: Vec<StoredEvent> = (0..10).map(|i| at(wall - 8 * DAY + i, i)).collect();
    let recent: Vec<StoredEvent> = (10..20).map(|i| at(wall - DAY + i, i)).collect();
    {
        let mut writer = store.writer().expect("writer");
        writer.insert_batch(&old).unwrap();
        writer.insert_batch(&recent).unwrap();
    }
    // The store's clock anchor: 10 days ago by the wall clock, yet no time elapsed since on
    // the boot-time clock, as if the clock had just been set 10 days forward.
    let boottime = nix::time::clock_gettime(nix::time::ClockId::CLOCK_BOOTTIME).unwrap();
    let boottime = boottime.tv_sec() * 1_000_000_000 + boottime.tv_nsec();
    let conn = rusqlite::Connection::open(store.path()).unwrap();
    conn.execute(
        "UPDATE store_meta SET value = ?1 WHERE name = 'clock_wall_ns'",
        [wall - 10 * DAY],
    )
    .unwrap();
    conn.execute(
        "UPDATE store_meta SET value = ?1 WHERE name = 'clock_boottime_ns'",
        [boottime],
    )
    .unwrap();
    let report = store.writer().unwrap().enforce_retention().unwrap();
    assert_eq!(report.deleted_by_age, 0, "{report:?}");
    assert!(report.clock_ahead_ns > 9 * DAY, "{report:?}");
    // An anchor of this moment: the 8-day-old events go, by the wall clock.
    conn.execute("DELETE FROM store_meta WHERE name LIKE 'clock_%'", [])
        .unwrap();
    drop(conn);
    let report = store.writer().unwrap().enforce_retention().unwrap();
    assert_eq!(report.deleted_by_age, 10, "{report:?}");
    // The two clocks are read a little apart.
    assert!(report.clock_ahead_ns < 1_000_000_000, "{report:?}");
    let reader = Store::reader(dir.path()).unwrap();
    assert_eq!(
        all(&reader, &EventFilter::default())
            .into_iter()
            .map(|r| r.event)
            .collect::<Vec<_>>(),
        recent
    );
}

#[test]
fn retention_by_size_shrinks_the_file_under_the_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), no_retention()).expect("open");
    let mut writer = store.writer().expect("writer");
    let evs = events(0..30_000);
    for chunk in evs.chunks(1000) {
        writer.insert_batch(chunk).expect("insert");
    }
    let before = writer.disk_usage().unwrap();
    assert!(before.total() > 20 << 20, "{before:?}");
    let max_bytes = 6 << 20;
    writer
        .set_retention(Retention {
            max_age: Duration::ZERO,
            max_bytes,
            keep_free: KeepFree::NONE,
        })
        .unwrap();
    let report = writer.enforce_retention().expect("retention");
    let after = std::fs::metadata(store.path()).unwrap().len();
    assert!(
        after <= max_bytes,
        "database file {after} > {max_bytes}: {report:?}"
    );
    assert!(report.after.total() <= max_bytes, "{report:?}");
    assert!(!report.over_limit && !report.checkpoint_busy, "{report:?}");
    assert!(report.deleted_by_size > 0);
    // The newest events are the ones kept, contiguous up to the last.
    let reader = Store::reader(dir.path()).expect("reader");
    let rows = all(&reader, &EventFilter::default());
    assert_eq!(rows.len() as u64 + report.deleted_by_size, 30_000);
    assert_eq!(rows.last().unwrap().seq, 30_000);
    assert!(rows.windows(2).all(|w| w[0].seq + 1 == w[1].seq));
    assert!(
        rows.len() > 3_000,
        "kept {} rows under 90% of the limit",
        rows.len()
    );
    // Under the limit: nothing more happens.
    let again = writer.enforce_retention().expect("retention");
    assert_eq!(again.deleted(), 0);
    let integrity: String = reader
        .connection()
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
}

#[test]
fn writer_thread_batches_flushes_on_time_and_on_close() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), no_retention()).expect("open");
    let (tx, rx) = crossbeam_channel::bounded(10_000);
    let thread = spawn_writer(&store, rx, 100, Duration::from_millis(50)).expect("spawn");
    let counters = thread.counters();
    for e in events(0..1050) {
        tx.send(e).unwrap();
    }
    // The 50 left over after 10 full batches are flushed by time, not by count.
    let deadline = Instant::now() + Duration::from_secs(10);
    while counters.snapshot().written < 1050 {
        assert!(
            Instant::now() < deadline,
            "flush by time: {:?}",
            counters.snapshot()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    for e in events(1050..1060) {
        tx.send(e).unwrap();
    }
    drop(tx);
    let stats = thread.join().expect("join");
    assert_eq!(stats.written, 1060);
    assert!(stats.batches >= 11, "{stats:?}");
    assert_eq!(stats.errors, 0);
    assert_eq!(stats.retention_runs, 1);
    let reader = Store::reader(dir.path()).expect("reader");
    assert_eq!(reader.count(&EventFilter::default()).unwrap(), 1060);
    assert_eq!(
        all(&reader, &EventFilter::default())
            .into_iter()
            .map(|r| r.event)
            .collect::<Vec<_>>(),
        events(0..1060)
    );
}

#[test]
fn a_store_removed_under_the_writer_is_made_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store_dir = dir.path().join("data");
    let store = Store::open(&store_dir, no_retention()).expect("open");
    let (tx, rx) = crossbeam_channel::bounded(10_000);
    let thread = spawn_writer(&store, rx, 100, Duration::from_millis(20)).expect("spawn");
    let counters = thread.counters();
    let wait_for = |written: u64| {
        let deadline = Instant::now() + Duration::from_secs(10);
        while counters.snapshot().written < written {
            assert!(Instant::now() < deadline, "{:?}", counters.snapshot());
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    for e in events(0..100) {
        tx.send(e).unwrap();
    }
    wait_for(100);
    // The data dir goes, as `rm -rf` takes it: the writer's commits would go into a file
    // nobody can open. Within a second or two a new store is in its place.
    std::fs::remove_dir_all(&store_dir).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while counters.snapshot().reopened == 0 {
        assert!(Instant::now() < deadline, "{:?}", counters.snapshot());
        std::thread::sleep(Duration::from_millis(20));
    }
    for e in events(100..150) {
        tx.send(e).unwrap();
    }
    drop(tx);
    let stats = thread.join().expect("join");
    assert_eq!(stats.written, 150);
    assert_eq!(stats.reopened, 1);
    assert_eq!(
        stats.last_reopen.as_deref(),
        Some("its file was removed or replaced")
    );
    let reader = Store::reader(&store_dir).expect("the new store");
    assert_eq!(
        all(&reader, &EventFilter::default())
            .into_iter()
            .map(|r| r.event)
            .collect::<Vec<_>>(),
        events(100..150)
    );
}

/// A store damaged under the writer (pages overwritten in place, as a failing disk or a stray
/// program leaves them). SQLite finds damage only where it reads a damaged page: the commits
/// read the newest pages, which the writer keeps in its cache, retention the oldest. Whichever
/// finds it sets the store aside, a new one takes its place, and recording goes on: every
/// batch is committed, the later ones in the new store.
#[test]
fn a_store_damaged_under_the_writer_is_set_aside_and_recording_goes_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store_dir = dir.path().join("data");
    let retention = Retention {
        max_age: Duration::ZERO,
        max_bytes: 24 << 20,
        keep_free: KeepFree::NONE,
    };
    let store = Store::open(&store_dir, retention).expect("open");
    let (tx, rx) = crossbeam_channel::bounded(10_000);
    let options = WriterOptions {
        batch_size: 100,
        flush_interval: Duration::from_millis(20),
        retention_interval: Duration::from_secs(3600),
    };
    let thread = spawn_writer_with(&store, rx, options).expect("spawn");
    let counters = thread.counters();
    let mut next = 0;
    let mut send = |n: i64| {
        let written = counters.snapshot().written + n as u64;
        for e in events(next..next + n) {
            tx.send(e).unwrap();
        }
        next += n;
        let deadline = Instant::now() + Duration::from_secs(30);
        while counters.snapshot().written < written {
            assert!(Instant::now() < deadline, "{:?}", counters.snapshot());
            std::thread::sleep(Duration::from_millis(10));
        }
        next
    };
    // Until the database file itself (not only its WAL) holds 8 MiB of old pages.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut damaged_at = 0;
    while std::fs::metadata(store.path()).unwrap().len() < 8 << 20 {
        assert!(Instant::now() < deadline, "{:?}", counters.snapshot());
        damaged_at = send(2_000);
    }

    // Its old pages overwritten, in place (the same inode: the writer's check that its file is
    // still there passes); its first pages, with the schema, left whole.
    let length = std::fs::metadata(store.path()).unwrap().len() as usize;
    let garbage = noise(7, length / 2 - (64 << 10)).into_bytes();
    std::fs::OpenOptions::new()
        .write(true)
        .open(store.path())
        .and_then(|file| {
            use std::os::unix::fs::FileExt;
            file.write_all_at(&garbage, 64 << 10)?;
            file.sync_all()
        })
        .unwrap();

    // Batch after batch, over the size limit: retention reads the oldest pages.
    let deadline = Instant::now() + Duration::from_secs(60);
    while counters.snapshot().reopened == 0 {
        assert!(Instant::now() < deadline, "{:?}", counters.snapshot());
        send(2_000);
    }
    let last = send(500);
    drop(tx);
    let stats = thread.join().expect("join");
    assert_eq!(stats.reopened, 1, "{stats:?}");
    assert_eq!(
        (stats.written, stats.dropped),
        (last as u64, 0),
        "{stats:?}"
    );
    let why = stats.last_reopen.expect("said why");
    assert!(why.starts_with("damaged ("), "{why}");
    let aside = std::fs::read_dir(&store_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            let name = p.to_string_lossy();
            name.contains(".damaged-") && !name.ends_with("-wal")
        })
        .expect("the damaged file kept");
    assert!(why.contains(&aside.display().to_string()), "{why}");

    // The new store holds the events from the batch that found the damage on, in order.
    let kept: Vec<StoredEvent> = all(&Store::reader(&store_dir).unwrap(), &EventFilter::default())
        .into_iter()
        .map(|r| r.event)
        .collect();
    let first = last - kept.len() as i64;
    assert!(
        first >= damaged_at && first < last - 500,
        "{first} of {last}"
    );
    assert_eq!(kept, events(first..last));
}

#[test]
fn reader_beside_writer_sees_whole_batches_and_writer_never_busy() {
    const BATCH: i64 = 200;
    const BATCHES: i64 = 150;
    let dir = tempfile::tempdir().expect("tempdir");
    // A size limit so retention (vacuum + TRUNCATE checkpoints) also runs while readers read.
    let store = size_limited(dir.path(), 8 << 20);
    let (tx, rx) = crossbeam_channel::bounded(1_000);
    let options = WriterOptions {
        batch_size: BATCH as usize,
        flush_interval: Duration::from_secs(60),
        retention_interval: Duration::from_millis(20),
    };
    let thread = spawn_writer_with(&store, rx, options).expect("spawn");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let dir = dir.path().to_path_buf();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let reader = Store::reader(&dir).expect("reader");
                let mut queries = 0;
                let mut max_seen = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let rows = all(
                        &reader,
                        &EventFilter {
                            newest_first: true,
                            limit: Some(1_500),
                            ..EventFilter::default()
                        },
                    );
                    // Whole batches only: the newest row closes a batch.
                    if let Some(first) = rows.first() {
                        assert_eq!(first.seq % BATCH, 0, "partial batch visible");
                        assert!(first.seq >= max_seen, "seq went backwards");
                        max_seen = first.seq;
                    }
                    queries += 1;
                }
                (queries, max_seen)
            })
        })
        .collect();
    for b in 0..BATCHES {
        for e in events(b * BATCH..(b + 1) * BATCH) {
            tx.send(e).unwrap();
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    drop(tx);
    let stats = thread.join().expect("join");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for r in readers {
        let (queries, max_seen) = r.join().expect("reader thread");
        assert!(queries > 10, "reader ran {queries} queries");
        assert!(max_seen > 0);
    }
    assert_eq!(stats.errors, 0, "{stats:?}");
    assert_eq!(stats.written, (BATCH * BATCHES) as u64);
    assert!(stats.retention_deleted > 0, "size retention ran: {stats:?}");
    let reader = Store::reader(dir.path()).expect("reader");
    assert_eq!(reader.last_seq().unwrap(), Some(BATCH * BATCHES));
}

#[test]
fn reader_opens_after_the_writer_closed() {
    let (_dir, store, _) = store_with(10);
    // store_with's writer is dropped: the WAL was checkpointed and removed.
    let reader = Store::reader(store.dir()).expect("reader");
    assert_eq!(reader.count(&EventFilter::default()).unwrap(), 10);
    assert!(Store::reader("/nonexistent/warden-store").is_err());
}

#[test]
fn attach_read_only_exposes_events_to_another_connection() {
    let (_dir, store, _) = store_with(25);
    let conn = rusqlite::Connection::open_in_memory().unwrap();
    attach_read_only(&conn, store.dir(), "store").expect("attach");
    let (blocks, events): (i64, i64) = conn
        .query_row(
            "SELECT count(*), sum(last_seq - first_seq + 1) FROM store.event_blocks",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((blocks, events), (1, 25));
    assert!(
        conn.execute("DELETE FROM store.event_blocks", []).is_err(),
        "read-only"
    );
    assert!(attach_read_only(&conn, store.dir(), "x; DROP TABLE event_blocks").is_err());
}

/// The events table as schema 1 declared it (schema 2 added columns at the end).
const SCHEMA_1_COLUMNS: &str = "seq INTEGER PRIMARY KEY AUTOINCREMENT, time_ns INTEGER NOT NULL,
    class TEXT NOT NULL, action TEXT NOT NULL, entity_id TEXT NOT NULL,
    parent_entity_id TEXT, pid INTEGER NOT NULL, ppid INTEGER, uid INTEGER,
    exe TEXT, path TEXT, success INTEGER, json TEXT NOT NULL";

/// A store written by the first schema (before network and file events) is upgraded by the
/// first reader, and its events read back with the new columns empty.
#[test]
fn an_old_store_is_upgraded_on_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = warden_store::database_path(dir.path());
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(&format!(
            "PRAGMA journal_mode = WAL;
             CREATE TABLE events ({SCHEMA_1_COLUMNS});
             INSERT INTO events (time_ns, class, action, entity_id, pid, json)
                VALUES (5, 'exec', 'exec', 'b-1-2', 1, '{{}}');
             PRAGMA user_version = 1;"
        ))
        .unwrap();
    }
    let reader = Store::reader(dir.path()).unwrap();
    let rows: Vec<_> = reader
        .query(&EventFilter::default())
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].event.entity_id, "b-1-2");
    assert_eq!(rows[0].event.local_port, None);
    let version: i64 = reader
        .connection()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert!(version >= 2);
}

/// A store of schema 3 (one row per event) is upgraded: its events move into blocks with
/// their `seq`s (gaps left by retention kept), `seq` is never reused (the highest ever
/// assigned was deleted before the upgrade), and new batches follow.
#[test]
fn rows_of_the_per_event_schema_move_into_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let path = warden_store::database_path(dir.path());
    let insert = "INSERT INTO events (time_ns, class, action, entity_id, parent_entity_id, \
                  pid, success, json, remote_port) VALUES (?1, 'exec', 'exec', ?2, ?3, ?1, ?4, ?5, ?6)";
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(&format!(
            "PRAGMA journal_mode = WAL;
             CREATE TABLE events ({SCHEMA_1_COLUMNS}, old_path TEXT,
                local_address TEXT, local_port INTEGER, remote_address TEXT, remote_port INTEGER,
                entity_key INTEGER, parent_key INTEGER);
             CREATE INDEX events_time_ns ON events(time_ns);
             PRAGMA user_version = 3;"
        ))
        .unwrap();
        for i in 1..=2500i64 {
            conn.execute(
                insert,
                rusqlite::params![
                    i,
                    format!("b-{i}-7"),
                    (i % 2 == 0).then(|| "b-1-1".to_string()),
                    (i % 3 == 0).then_some(i % 6 == 0),
                    format!("{{\"i\":{i}}}"),
                    (i % 5 == 0).then_some(443),
                ],
            )
            .unwrap();
        }
        // Retention had deleted a run in the middle and the newest event.
        conn.execute(
            "DELETE FROM events WHERE seq BETWEEN 1001 AND 1010 OR seq = 2500",
            [],
        )
        .unwrap();
    }
    let store = Store::open(dir.path(), no_retention()).unwrap();
    let reader = Store::reader(dir.path()).unwrap();
    let rows = all(&reader, &EventFilter::default());
    assert_eq!(rows.len(), 2500 - 11);
    for row in &rows {
        let i = row.seq;
        assert!(!(1001..=1010).contains(&i) && i < 2500, "{i}");
        let e = &row.event;
        assert_eq!((e.time_ns, e.pid), (i, i));
        assert_eq!(e.entity_id, format!("b-{i}-7"));
        assert_eq!(
            e.parent_entity_id.as_deref(),
            (i % 2 == 0).then_some("b-1-1")
        );
        assert_eq!(e.success, (i % 3 == 0).then_some(i % 6 == 0));
        assert_eq!(e.json(), format!("{{\"i\":{i}}}"));
        assert_eq!(e.remote_port, (i % 5 == 0).then_some(443));
    }
    let tables: Vec<String> = reader
        .connection()
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name = 'events'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(tables.is_empty(), "events dropped");
    assert_eq!(reader.last_seq().unwrap(), Some(2500));
    let mut writer = store.writer().unwrap();
    writer.insert_batch(&events(0..3)).unwrap();
    let newest: Vec<i64> = all(
        &reader,
        &EventFilter {
            after_seq: Some(2499),
            ..EventFilter::default()
        },
    )
    .iter()
    .map(|r| r.seq)
    .collect();
    assert_eq!(newest, [2501, 2502, 2503]);
}

/// Sends `n` events (from `first`) through a writer thread on `store` as fast as it takes them
/// (retention's timer an hour away), waits until all are committed, then commits ten more
/// slowly and stops it. Returns the disk usage before the stop and the thread's final counters.
fn load(store: &Store, first: i64, n: i64) -> (DiskUsage, WriterStats) {
    let (tx, rx) = crossbeam_channel::bounded(10_000);
    let options = WriterOptions {
        batch_size: 200,
        flush_interval: Duration::from_millis(10),
        retention_interval: Duration::from_secs(3600),
    };
    let thread = spawn_writer_with(store, rx, options).expect("spawn");
    let counters = thread.counters();
    for i in first..first + n {
        tx.send(event(i)).expect("send");
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while counters.snapshot().written < n as u64 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    // A last few commits, then quiet: the checkpointer catches up and the next commit
    // restarts the WAL, truncated to its budget.
    for i in first + n..first + n + 10 {
        tx.send(event(i)).expect("send");
        std::thread::sleep(Duration::from_millis(50));
    }
    let usage = store.disk_usage().unwrap();
    drop(tx);
    let stats = thread.join().expect("join");
    assert_eq!((stats.written, stats.errors), (n as u64 + 10, 0));
    (usage, stats)
}

/// The writer thread's commits never checkpoint (its checkpointer thread does, beside it), and
/// the WAL still restarts under load: ~90 MB of events through the 64 MiB WAL budget of a
/// store without a size limit end with the WAL back at its budget (it would hold every frame
/// if it never restarted), every event in the database.
#[test]
fn checkpoints_beside_the_writer_keep_the_wal_bounded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), no_retention()).expect("open");
    const N: i64 = 120_000;
    let (usage, stats) = load(&store, 0, N);
    assert_eq!(stats.retention_deleted, 0);
    assert!(
        usage.wal_bytes <= 64 << 20,
        "WAL back within its budget: {usage:?}"
    );
    assert!(
        usage.db_bytes > 60 << 20,
        "events reached the database: {usage:?}"
    );
    let reader = Store::reader(dir.path()).unwrap();
    assert_eq!(
        reader.count(&EventFilter::default()).unwrap(),
        N as u64 + 10
    );
}

/// The size limit holds between retention runs: ~20 MB of events through an 8 MiB store with
/// retention's timer an hour away end with the store near its limit (trimmed each time a
/// sixteenth of the limit was written over it), the newest events kept and every other one
/// counted as deleted.
#[test]
fn the_size_limit_holds_between_retention_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = size_limited(dir.path(), 8 << 20);
    const N: i64 = 30_000;
    let (usage, stats) = load(&store, 0, N);
    // At most that sixteenth and the WAL's budget past the limit (not all ~20 MB written).
    let bound = (8 << 20) + (8 << 20) / 16 + (2 << 20);
    assert!(
        usage.total() <= bound,
        "store far over its 8 MiB limit: {usage:?}"
    );
    assert!(
        stats.retention_runs > 2 && stats.retention_deleted > 10_000,
        "{stats:?}"
    );
    let reader = Store::reader(dir.path()).unwrap();
    let left = reader.count(&EventFilter::default()).unwrap();
    assert_eq!(left + stats.retention_deleted, N as u64 + 10);
    let newest = all(
        &reader,
        &EventFilter {
            newest_first: true,
            limit: Some(1),
            ..EventFilter::default()
        },
    );
    assert_eq!(newest[0].seq, N + 10);
}

/// `--entity` and `--pid` read only the blocks whose process filter may hold them; what they
/// find is exactly what the predicate accepts, also in blocks written without a filter (before
/// schema 6: `processes` NULL). (That they skip blocks: `reader::tests`.)
#[test]
fn process_filters_skip_blocks_without_losing_events() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), no_retention()).expect("open");
    let mut writer = store.writer().expect("writer");
    // 400 blocks of 10 events, each block its own processes (pids 10b..10b+9).
    let block_events = |b: i64| -> Vec<StoredEvent> {
        (0..10)
            .map(|i| StoredEvent {
                entity_id: format!("b-{}-7", 10 * b + i),
                parent_entity_id: Some(format!("b-{b}-1")),
                pid: 10 * b + i,
                ..event(10 * b + i)
            })
            .collect()
    };
    for b in 0..400 {
        writer.insert_batch(&block_events(b)).expect("insert");
    }
    let path = warden_store::database_path(dir.path());
    let conn = rusqlite::Connection::open(&path).unwrap();
    let unfiltered = conn
        .execute(
            "UPDATE event_blocks SET processes = NULL WHERE first_seq % 3 = 1",
            [],
        )
        .unwrap();
    assert!(unfiltered > 100);
    let reader = Store::reader(dir.path()).unwrap();
    let everything = all(&reader, &EventFilter::default());
    assert_eq!(everything.len(), 4000);
    let filters = [
        EventFilter {
            pids: vec![1234, 7, 3999],
            ..EventFilter::default()
        },
        EventFilter {
            entity_ids: vec!["b-2345-7".into()],
            ..EventFilter::default()
        },
        EventFilter {
            entity_ids: vec!["b-77-1".into(), "b-3001-7".into()],
            match_parent_entity: true,
            ..EventFilter::default()
        },
        EventFilter {
            pids: vec![555],
            entity_ids: vec!["b-555-7".into()],
            ..EventFilter::default()
        },
        EventFilter {
            pids: vec![40_000],
            ..EventFilter::default()
        },
    ];
    for filter in &filters {
        let want: Vec<i64> = everything
            .iter()
            .filter(|r| filter.matches(&r.event))
            .map(|r| r.seq)
            .collect();
        let got: Vec<i64> = all(&reader, filter).iter().map(|r| r.seq).collect();
        assert_eq!(got, want, "{filter:?}");
    }
    assert_eq!(
        all(&reader, &filters[2]).len(),
        10 + 1,
        "b-77's children and b-3001"
    );
}

/// A damaged block (disk damage, a bug) costs only what cannot be read: its error comes where
/// its events would, and the query goes on with the next blocks. (A packed block is one zstd
/// frame, checked whole: cut, none of it is read. A format-2 block keeps the events before
/// the damage: block.rs's tests.)
#[test]
fn a_damaged_block_is_reported_and_the_others_still_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), no_retention()).expect("open");
    let mut writer = store.writer().expect("writer");
    for b in 0..3 {
        writer
            .insert_batch(&events(10 * b..10 * b + 10))
            .expect("insert");
    }
    let path = warden_store::database_path(dir.path());
    let conn = rusqlite::Connection::open(&path).unwrap();
    // The middle block loses its last bytes.
    let cut = conn
        .execute(
            "UPDATE event_blocks SET events = substr(events, 1, length(events) - 5) \
             WHERE first_seq = 11",
            [],
        )
        .unwrap();
    assert_eq!(cut, 1);
    let reader = Store::reader(dir.path()).unwrap();
    for newest_first in [false, true] {
        let items: Vec<_> = reader
            .query(&EventFilter {
                newest_first,
                ..EventFilter::default()
            })
            .collect();
        let seqs: Vec<i64> = items
            .iter()
            .filter_map(|r| r.as_ref().ok())
            .map(|r| r.seq)
            .collect();
        let errors: Vec<String> = items
            .iter()
            .filter_map(|r| r.as_ref().err())
            .map(|e| e.to_string())
            .collect();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains("block at seq 11"), "{errors:?}");
        let mut want: Vec<i64> = (1..=10).chain(21..=30).collect();
        if newest_first {
            want.reverse();
        }
        assert_eq!(seqs, want, "newest_first {newest_first}");
    }
}

/// A batch's cost is known before it is written, and bounds what it takes on disk: its frames
/// in the WAL and their copies in the database once checkpointed (the WAL file keeps its
/// size). Written within a limit, a batch keeps its first events, in order, and leaves out
/// the rest whole.
#[test]
fn a_batch_within_a_limit_keeps_its_first_events_and_its_cost_bounds_its_bytes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), no_retention()).expect("open");
    let mut writer = store.writer().unwrap();
    writer.insert_batch(&events(0..1)).unwrap();
    writer.compact().unwrap();
    let before = writer.disk_usage().unwrap();
    let batch = events(1..2001);
    let encoded = writer.encode(&batch);
    let cost = encoded.cost();
    let limit = cost / 2;
    let inserted = writer.insert_encoded(&encoded, Some(limit)).unwrap();
    assert!(
        inserted > 800 && inserted < 1000,
        "{inserted} of 2000 events in half the cost"
    );
    drop(encoded);
    let checkpoint = rusqlite::Connection::open(store.path()).unwrap();
    let busy: i64 = checkpoint
        .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get(0))
        .unwrap();
    assert_eq!(busy, 0);
    let after = writer.disk_usage().unwrap();
    assert!(after.wal_bytes > 0, "the WAL keeps its size: {after:?}");
    let taken = after.total() - before.total();
    assert!(taken <= limit, "{taken} bytes taken, {limit} allowed");
    assert!(
        taken * 3 / 2 >= limit,
        "the cost is near what is taken: {taken} bytes, {limit} allowed"
    );
    let reader = Store::reader(dir.path()).unwrap();
    let rows = all(&reader, &EventFilter::default());
    assert_eq!(rows.len(), inserted + 1);
    for (row, expected) in rows[1..].iter().zip(&batch) {
        assert_eq!(row.event.time_ns, expected.time_ns);
    }
    assert_eq!(writer.last_seq().unwrap(), Some(inserted as i64 + 1));
    // No room at all: nothing goes in, nothing is said to.
    let rest = writer.encode(&batch[inserted..]);
    assert_eq!(writer.insert_encoded(&rest, Some(0)).unwrap(), 0);
    assert_eq!(writer.insert_encoded(&rest, None).unwrap(), 2000 - inserted);
    assert_eq!(writer.last_seq().unwrap(), Some(2001));
}

/// The reserve beside the database counts in the size limit: with it held, a store of 32 MiB
/// whose database and WAL take 31 MiB is over its limit, and retention brings the three under
/// it. A store limited to less than 16 MiB holds no reserve.
#[test]
fn the_reserve_counts_in_the_size_limit() {
    const MIB: u64 = 1 << 20;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = size_limited(dir.path(), 32 * MIB);
    let mut writer = store.writer().unwrap();
    assert!(writer.keep_reserve(), "room for the reserve");
    let reserve = dir.path().join(RESERVE_FILE);
    assert_eq!(std::fs::metadata(&reserve).unwrap().len(), RESERVE_BYTES);
    assert_eq!(writer.size_limit(), 32 * MIB - RESERVE_BYTES);
    // Each batch checkpointed at once: the total grows by a batch (~0.3 MiB) at a time.
    let mut next = 0;
    while writer.disk_usage().unwrap().total() < 31 * MIB {
        writer.insert_batch(&events(next..next + 500)).unwrap();
        writer.compact().unwrap();
        next += 500;
    }
    assert!(writer.disk_usage().unwrap().total() < 32 * MIB);
    let report = writer.enforce_retention().unwrap();
    assert!(report.deleted_by_size > 0, "{report:?}");
    assert!(!report.over_limit, "{report:?}");
    let footprint = report.after.total() + std::fs::metadata(&reserve).unwrap().len();
    assert!(footprint <= 32 * MIB, "{footprint} bytes: {report:?}");

    let small = tempfile::tempdir().expect("tempdir");
    let store = size_limited(small.path(), RESERVE_SHARE * RESERVE_BYTES - 1);
    let writer = store.writer().unwrap();
    assert!(!writer.keep_reserve());
    assert!(!small.path().join(RESERVE_FILE).exists());
    assert_eq!(writer.size_limit(), RESERVE_SHARE * RESERVE_BYTES - 1);
}

/// `sha256_prefix` reads the digests from the events themselves: an exec's image, the content
/// a file change left, in a stored event or a JSON line.
#[test]
fn digests_are_found_in_the_events_themselves() {
    use warden_core::{
        Event, EventKind, ExecEvent, Executable, FileAction, FileEvent, Process, Source,
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), no_retention()).expect("open");
    let mut writer = store.writer().expect("writer");
    let image = |sha256: &str| {
        Some(Executable {
            sha256: Some(sha256.into()),
            ..Executable::default()
        })
    };
    let process = |pid: u32| Process {
        pid,
        ..Process::default()
    };
    let exec = Event {
        time_ns: T0,
        host: "h".into(),
        kind: EventKind::Exec(ExecEvent {
            process: Process {
                executable: image(&"aa11".repeat(16)),
                ..process(1)
            },
            source: Source::Ebpf,
            syscall: None,
            success: true,
            exit: None,
            script: None,
        }),
    };
    let written = Event {
        time_ns: T0 + 1,
        host: "h".into(),
        kind: EventKind::File(FileEvent {
            is_dir: Some(false),
            content: image(&"bb22".repeat(16)).map(Box::new),
            ..FileEvent::new(
                process(2),
                FileAction::CloseWrite,
                Source::Fanotify,
                b"/tmp/dropped".to_vec(),
            )
        }),
    };
    // A script run by its interpreter: its exec names the script's digest (and its path is
    // the script's).
    let script = Event {
        time_ns: T0 + 3,
        host: "h".into(),
        kind: EventKind::Exec(ExecEvent {
            process: Process {
                exe: Some(b"/usr/bin/dash".to_vec()),
                executable: image(&"ee55".repeat(16)),
                ..process(5)
            },
            source: Source::Ebpf,
            syscall: None,
            success: true,
            exit: None,
            script: Some(Box::new(warden_core::Script {
                path: b"/tmp/stage2".to_vec(),
                file: image(&"ff66".repeat(16)),
            })),
        }),
    };
    let line = StoredEvent {
        time_ns: T0 + 2,
        class: "file".into(),
        action: "rename".into(),
        entity_id: "x-3-1".into(),
        pid: 3,
        body: Body::Json(format!(
            r#"{{"file":{{"path":"/tmp/b","hash":{{"sha256":"{}"}}}}}}"#,
            "cc33".repeat(16)
        )),
        ..StoredEvent::default()
    };
    let evs = vec![
        StoredEvent::from_event(exec),
        StoredEvent::from_event(written),
        line,
        event(4),
        StoredEvent::from_event(script),
    ];
    assert_eq!(
        evs[4].path.as_deref(),
        Some("/tmp/stage2"),
        "an exec's path: its script's"
    );
    writer.insert_batch(&evs).expect("insert");
    let reader = Store::reader(dir.path()).expect("reader");
    let pids = |prefix: &str, classes: &[&str]| -> Vec<i64> {
        let filter = EventFilter {
            sha256_prefix: Some(prefix.into()),
            classes: classes.iter().map(|c| c.to_string()).collect(),
            ..EventFilter::default()
        };
        all(&reader, &filter).iter().map(|r| r.event.pid).collect()
    };
    assert_eq!(pids("aa11aa", &[]), [1], "an exec's image");
    assert_eq!(pids("bb22", &[]), [2], "a written file's content");
    assert_eq!(pids(&"cc33".repeat(16), &[]), [3], "in a JSON line");
    assert_eq!(
        pids("bb22", &["exec"]),
        [] as [i64; 0],
        "with the other fields"
    );
    assert_eq!(pids("dd", &[]), [] as [i64; 0]);
    assert_eq!(
        pids("ff66ff", &[]),
        [5],
        "a script's, run by its interpreter"
    );
    assert_eq!(pids("ee55ee", &[]), [5], "and the interpreter's image");
    // `--exe`: an exec's executable, or the script its interpreter runs.
    for (exe, want) in [
        ("/tmp/*", true),
        ("*/dash", true),
        ("/usr/bin/python*", false),
    ] {
        let filter = EventFilter {
            exe_glob: Some(exe.into()),
            ..EventFilter::default()
        };
        assert_eq!(filter.matches(&evs[4]), want, "{exe}");
    }
    for e in &evs {
        let filter = EventFilter {
            sha256_prefix: Some("aa".into()),
            ..EventFilter::default()
        };
        assert_eq!(filter.matches(e), e.pid == 1, "{e:?}");
    }
}

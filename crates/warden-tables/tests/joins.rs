//! Joins on process identity over a real store: SQLite asks the inner event table once per
//! outer row, and within one statement those asks are answered from one memoized scan. The
//! answers must be what each ask alone would give, and the next statement must see what the
//! store gained since. (A store of its own: the tables read one store directory per process.)

mod support;

use rusqlite::Connection;
use warden_core::{BootId, Event, EventKind, ExecEvent, Process, ProcessKey, Source};

const BOOT: BootId = BootId([0xcd; 16]);

fn process(pid: u32) -> Process {
    Process {
        key: Some(ProcessKey {
            boot: BOOT,
            pid,
            start_ticks: 500 + u64::from(pid),
        }),
        pid,
        ppid: Some(1),
        uid: Some(0),
        exe: Some(format!("/usr/bin/tool{pid}").into_bytes()),
        args: vec![b"tool".to_vec()].into(),
        ..Default::default()
    }
}

/// Process `pid`'s exec, then `connects` connects of it.
fn activity(pid: u32, connects: u16) -> Vec<Event> {
    let mut events = vec![Event {
        time_ns: (1_000 + i64::from(pid)) * 1_000_000_000,
        host: "test".into(),
        kind: EventKind::Exec(ExecEvent {
            process: process(pid),
            source: Source::Ebpf,
            syscall: Some("execve".into()),
            success: true,
            exit: Some(0),
            script: None,
        }),
    }];
    events.extend(
        (0..connects)
            .map(|fd| support::connect(process(pid), 2_000 + i64::from(pid), fd.into(), None)),
    );
    events
}

fn write(store: &warden_store::Store, events: Vec<Event>) {
    let rows: Vec<_> = events
        .into_iter()
        .map(warden_store::StoredEvent::from_event)
        .collect();
    store.writer().unwrap().insert_batch(&rows).unwrap();
}

/// (executable, connects) per process, through the join, in one statement.
fn connects_by_exe(conn: &Connection) -> Vec<(String, i64)> {
    warden_tables::begin_statement();
    let mut stmt = conn
        .prepare(
            "SELECT p.path, count(*) FROM socket_events s JOIN process_events p \
             USING (entity_id) GROUP BY 1 ORDER BY 1",
        )
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn a_join_on_entity_id_is_answered_from_one_scan_per_statement() {
    let dir = tempfile::tempdir().unwrap();
    let store = warden_store::Store::open(dir.path(), warden_store::Retention::default()).unwrap();
    // 40 connects over 4 processes: far more asks than it takes to memoize.
    let mut events = Vec::new();
    for pid in 100..104 {
        events.extend(activity(pid, 10));
    }
    write(&store, events);
    warden_tables::set_event_store_dir(dir.path());
    let conn = warden_tables::open().unwrap();

    let expected: Vec<(String, i64)> = (100..104)
        .map(|pid| (format!("/usr/bin/tool{pid}"), 10))
        .collect();
    assert_eq!(connects_by_exe(&conn), expected);

    // Each ask alone (a statement per process) agrees.
    for pid in 100..104 {
        warden_tables::begin_statement();
        let entity = format!("cdcdcdcd-{pid}-{}", 500 + pid);
        let n: i64 = conn
            .query_row(
                "SELECT count(*) FROM socket_events s JOIN process_events p USING (entity_id) \
                 WHERE p.entity_id = ?1",
                [&entity],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 10, "{entity}");
    }

    // The store gains a process: the next statement sees it (nothing memoized is reused).
    write(&store, activity(104, 12));
    let mut expected = expected;
    expected.push(("/usr/bin/tool104".into(), 12));
    assert_eq!(connects_by_exe(&conn), expected);
}

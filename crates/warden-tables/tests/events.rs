//! The event tables over a real store: process_events and process_lifecycle_events read what the
//! agent wrote, with `time` constraints pushed into the store's range scan, joined with live tables.

use warden_core::{
    BootId, Event, EventKind, ExecEvent, Executable, ExitEvent, Parent, Process, ProcessKey, Source,
};

fn exec_at(time_s: i64, pid: u32, exe: &str) -> Event {
    let boot = BootId([0xab; 16]);
    Event {
        time_ns: time_s * 1_000_000_000 + 5,
        host: "test".into(),
        kind: EventKind::Exec(ExecEvent {
            process: Process {
                key: Some(ProcessKey {
                    boot,
                    pid,
                    start_ticks: 77,
                }),
                pid,
                ppid: Some(1),
                uid: Some(0),
                euid: Some(0),
                gid: Some(0),
                egid: Some(0),
                user_name: Some("root".into()),
                exe: Some(exe.as_bytes().to_vec()),
                args: vec![exe.as_bytes().to_vec(), b"two words".to_vec()],
                cwd: Some(b"/tmp".to_vec()),
                executable: Some(Executable {
                    sha256: Some("00ff".into()),
                    size: Some(123),
                    mode: Some(0o100755),
                    owner_uid: Some(0),
                    package: Some("coreutils".into()),
                    package_verified: Some(true),
                    ..Default::default()
                }),
                parent: Some(Parent {
                    key: Some(ProcessKey {
                        boot,
                        pid: 1,
                        start_ticks: 1,
                    }),
                    pid: 1,
                    exe: Some(b"/sbin/init".to_vec()),
                    args: vec![b"init".to_vec()],
                }),
                ..Default::default()
            },
            source: Source::Audit,
            syscall: Some("execve".into()),
            success: true,
            exit: Some(0),
        }),
    }
}

fn stored(event: &Event) -> warden_store::StoredEvent {
    warden_store::StoredEvent::from_event(event, warden_core::to_ecs_line(event))
}

#[test]
fn process_events_read_the_store_with_time_pushdown() {
    let dir = tempfile::tempdir().unwrap();
    let store = warden_store::Store::open(dir.path(), warden_store::Retention::default()).unwrap();
    let mut writer = store.writer().unwrap();
    let mut exit = exec_at(2_000, 11, "/usr/bin/true");
    if let EventKind::Exec(e) = &exit.kind {
        exit.kind = EventKind::Exit(ExitEvent {
            process: e.process.clone(),
            exit_code: Some(4),
            signal: None,
            duration_ns: Some(3_000_000),
        });
    }
    let events = [
        exec_at(1_000, 10, "/usr/bin/env"),
        exec_at(2_000, 11, "/usr/bin/true"),
        exec_at(3_000, 12, "/usr/bin/id"),
        exit,
    ];
    let rows: Vec<_> = events.iter().map(stored).collect();
    writer.insert_batch(&rows).unwrap();

    warden_tables::set_event_store_dir(dir.path());
    let conn = warden_tables::open().unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT pid, path, cmdline, parent, time, entity_id, parent_entity_id, sha256, \
             package, package_verified, mode, username, syscall \
             FROM process_events WHERE time >= 2000 AND time < 3000",
        )
        .unwrap();
    let got: Vec<Vec<rusqlite::types::Value>> = stmt
        .query_map([], |r| (0..13).map(|i| r.get(i)).collect())
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    use rusqlite::types::Value::{Integer, Text};
    assert_eq!(got.len(), 1, "{got:?}");
    let row = &got[0];
    assert_eq!(row[0], Integer(11));
    assert_eq!(row[1], Text("/usr/bin/true".into()));
    assert_eq!(row[2], Text("/usr/bin/true \"two words\"".into()));
    assert_eq!(row[3], Integer(1));
    assert_eq!(row[4], Integer(2000));
    assert_eq!(row[5], Text("abababab-11-77".into()));
    assert_eq!(row[6], Text("abababab-1-1".into()));
    assert_eq!(row[7], Text("00ff".into()));
    assert_eq!(row[8], Text("coreutils".into()));
    assert_eq!(row[9], Integer(1));
    assert_eq!(row[10], Text("0755".into()));
    assert_eq!(row[11], Text("root".into()));
    assert_eq!(row[12], Text("execve".into()));

    // A join with a live table.
    let n: i64 = conn
        .query_row(
            "SELECT count(*) FROM process_events e JOIN users u USING (uid) WHERE u.username = 'root'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 3);

    let (code, duration): (i64, i64) = conn
        .query_row(
            "SELECT exit_code, duration_ms FROM process_lifecycle_events WHERE action = 'exit'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((code, duration), (4, 3));
}

//! The event tables over a real store: process_events, process_lifecycle_events, socket_events
//! and file_events read what the agent wrote, with `time` constraints pushed into the store's
//! range scan, joined with each other and with live tables.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::OnceLock;

use rusqlite::types::Value::{self, Integer, Null, Text};
use sha2::{Digest, Sha256};
use warden_core::{
    BootId, ClassicInstruction, Event, EventKind, ExecEvent, Executable, ExitEvent, FileAction,
    FileEvent, FilterProgram, NetAction, NetworkEvent, Parent, Process, ProcessKey, SocketAddress,
    Source,
};

const BOOT: BootId = BootId([0xab; 16]);

fn process(pid: u32, exe: &str) -> Process {
    Process {
        key: Some(ProcessKey {
            boot: BOOT,
            pid,
            start_ticks: 77,
        }),
        pid,
        ppid: Some(1),
        uid: Some(0),
        euid: Some(0),
        gid: Some(0),
        egid: Some(0),
        auid: Some(1000),
        user_name: Some("root".into()),
        exe: Some(exe.as_bytes().to_vec()),
        args: vec![exe.as_bytes().to_vec(), b"two words".to_vec()].into(),
        cwd: Some(b"/tmp".to_vec()),
        parent: Some(Parent {
            key: Some(ProcessKey {
                boot: BOOT,
                pid: 1,
                start_ticks: 1,
            }),
            pid: 1,
            exe: Some(b"/sbin/init".to_vec()),
            args: vec![b"init".to_vec()].into(),
        }),
        ..Default::default()
    }
}

fn at(time_s: i64, kind: EventKind) -> Event {
    Event {
        time_ns: time_s * 1_000_000_000 + 5,
        host: "test".into(),
        kind,
    }
}

fn exec_at(time_s: i64, pid: u32, exe: &str) -> Event {
    let mut process = process(pid, exe);
    process.executable = Some(Executable {
        sha256: Some("00ff".into()),
        size: Some(123),
        mode: Some(0o100755),
        owner_uid: Some(0),
        package: Some("coreutils".into()),
        package_verified: Some(true),
        ..Default::default()
    });
    at(
        time_s,
        EventKind::Exec(ExecEvent {
            process,
            source: Source::Audit,
            syscall: Some("execve".into()),
            success: true,
            exit: Some(0),
            script: None,
        }),
    )
}

fn ip(text: &str, port: u16) -> Option<SocketAddress> {
    Some(SocketAddress::Ip {
        addr: text.parse::<IpAddr>().unwrap(),
        port,
    })
}

/// A successful TCP call by pid 12 (`/usr/bin/curl`); `edit` adjusts it.
fn network_at(time_s: i64, action: NetAction, edit: impl FnOnce(&mut NetworkEvent)) -> Event {
    let mut e = NetworkEvent {
        syscall: Some(action.name().into()),
        family: Some(2),
        transport: Some("tcp".into()),
        fd: Some(3),
        exit: Some(0),
        ..NetworkEvent::new(process(12, "/usr/bin/curl"), action, Source::Audit)
    };
    edit(&mut e);
    at(time_s, EventKind::Network(e))
}

/// A successful file operation by pid 12 on a root-owned file; `edit` adjusts it.
fn file_at(
    time_s: i64,
    action: FileAction,
    path: &str,
    edit: impl FnOnce(&mut FileEvent),
) -> Event {
    let mut e = FileEvent {
        process: process(12, "/usr/bin/curl"),
        action,
        source: Source::Audit,
        syscall: None,
        path: path.as_bytes().to_vec(),
        old_path: None,
        target_path: None,
        inode: Some(55),
        device: None,
        mode: Some(0o100644),
        owner_uid: Some(0),
        owner_gid: Some(0),
        is_dir: Some(false),
        watch: None,
        success: true,
        exit: Some(0),
        content: None,
        times: None,
    };
    edit(&mut e);
    at(time_s, EventKind::File(e))
}

fn events() -> Vec<Event> {
    let mut exit = exec_at(2_000, 11, "/usr/bin/true");
    if let EventKind::Exec(e) = &exit.kind {
        exit.kind = EventKind::Exit(ExitEvent {
            process: e.process.clone(),
            exit_code: Some(4),
            signal: None,
            duration_ns: Some(3_000_000),
        });
    }
    vec![
        exec_at(1_000, 10, "/usr/bin/env"),
        exec_at(2_000, 11, "/usr/bin/true"),
        exec_at(3_000, 12, "/usr/bin/curl"),
        exit,
        network_at(5_000, NetAction::Connect, |e| {
            e.local = ip("10.0.0.5", 40_000);
            e.remote = ip("93.184.216.34", 443);
        }),
        network_at(5_001, NetAction::Connect, |e| {
            // A non-blocking connect still under way: the agent records it as a success.
            e.family = Some(10);
            e.remote = ip("2001:db8::1", 80);
            e.fd = Some(4);
            e.exit = Some(-115);
            e.errno = Some("EINPROGRESS".into());
        }),
        network_at(5_002, NetAction::Accept, |e| {
            e.family = Some(10);
            e.syscall = Some("accept4".into());
            e.local = ip("::1", 22);
            e.remote = ip("::1", 50_000);
            e.exit = Some(7);
        }),
        network_at(5_003, NetAction::Bind, |e| {
            e.family = Some(1);
            e.transport = Some("stream".into());
            e.local = Some(SocketAddress::Unix {
                path: b"/tmp/.X11-unix/X0".to_vec(),
                abstract_name: true,
            });
        }),
        network_at(5_004, NetAction::Connect, |e| {
            e.transport = None;
            e.remote = ip("127.0.0.1", 9);
            e.success = false;
            e.exit = Some(-111);
            e.errno = Some("ECONNREFUSED".into());
        }),
        network_at(5_005, NetAction::Close, |e| {
            // The end of the accepted connection above, reset by its peer.
            e.family = Some(10);
            e.syscall = None;
            e.local = ip("::1", 22);
            e.remote = ip("::1", 50_000);
            e.exit = None;
            e.success = false;
            e.errno = Some("ECONNRESET".into());
            e.traffic = Some(warden_core::Traffic {
                incoming: true,
                duration_ns: 3_500_000_000,
                state: "ESTABLISHED".into(),
                bytes_sent: 4_096,
                bytes_received: 1_000_000,
                bytes_retransmitted: 0,
                segments_sent: 10,
                segments_received: 700,
                found_open: false,
            });
        }),
        network_at(5_006, NetAction::Filter, |e| {
            // A sniffer's classic filter: ldh [12]; ret #65535.
            e.family = Some(17);
            e.transport = Some("all".into());
            e.socket_type = Some("raw".into());
            e.syscall = Some("setsockopt".into());
            e.filter = Some(warden_core::SocketFilter {
                option: "SO_ATTACH_FILTER".into(),
                instructions: Some(2),
            });
            e.filter_program = Some(FilterProgram::Classic(vec![
                ClassicInstruction {
                    code: 0x28,
                    jt: 0,
                    jf: 0,
                    k: 12,
                },
                ClassicInstruction {
                    code: 0x06,
                    jt: 0,
                    jf: 0,
                    k: 0xffff,
                },
            ]));
        }),
        network_at(5_007, NetAction::Filter, |e| {
            e.syscall = Some("setsockopt".into());
            e.filter = Some(warden_core::SocketFilter {
                option: "SO_ATTACH_BPF".into(),
                instructions: None,
            });
            e.filter_program = Some(FilterProgram::Ebpf(warden_core::EbpfProgram {
                id: 31,
                tag: [0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10],
                name: "sniff".into(),
                instructions: 12,
            }));
        }),
        file_at(6_000, FileAction::Create, "/etc/cron.d/job", |e| {
            e.syscall = Some("openat".into());
        }),
        file_at(6_001, FileAction::Rename, "/etc/passwd", |e| {
            e.syscall = Some("rename".into());
            e.old_path = Some(b"/etc/passwd.new".to_vec());
            e.inode = Some(56);
            e.content = Some(Box::new(Executable {
                sha256: Some("5e".repeat(32)),
                size: Some(1234),
                mtime_ns: Some(5_000_500_000_000),
                ctime_ns: Some(6_000_900_000_000),
                ..Executable::default()
            }));
        }),
        file_at(6_002, FileAction::Read, "/root/.ssh/id_ed25519", |e| {
            e.source = Source::Fanotify;
            e.syscall = Some("FAN_OPEN".into());
            e.watch = Some("ssh".into());
            e.mode = Some(0o100600);
            e.exit = None;
        }),
        file_at(6_003, FileAction::Chmod, "/usr/local/bin/tool", |e| {
            e.syscall = Some("fchmodat".into());
            e.mode = Some(0o104755);
            e.owner_uid = Some(1000);
        }),
        file_at(6_004, FileAction::Symlink, "/tmp/link", |e| {
            e.syscall = Some("symlinkat".into());
            e.target_path = Some(b"/etc/shadow".to_vec());
            e.success = false;
            e.exit = Some(-13);
        }),
        // Made to look old: its modification time set back, its access time to the call's.
        file_at(6_005, FileAction::Times, "/usr/local/bin/tool", |e| {
            e.syscall = Some("utimensat".into());
            e.times = Some(warden_core::FileTimes {
                accessed: Some(warden_core::TimeSet::Now),
                modified: Some(warden_core::TimeSet::At(1_546_300_800_000_000_000)),
            });
        }),
    ]
}

/// One store shared by every test here: the tables read the store directory set
/// process-wide, and the tests run in parallel. A static is never dropped, so the store lives
/// in cargo's temporary directory for tests, under one name made anew by each run (a temp dir
/// in /tmp would be left behind by every run).
fn open() -> rusqlite::Connection {
    static STORE: OnceLock<std::path::PathBuf> = OnceLock::new();
    let dir = STORE.get_or_init(|| {
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("warden-tables-events");
        let _ = std::fs::remove_dir_all(&dir);
        let store = warden_store::Store::open(&dir, warden_store::Retention::default()).unwrap();
        let rows: Vec<_> = events()
            .iter()
            .map(|e| warden_store::StoredEvent::from_event(e.clone()))
            .collect();
        store.writer().unwrap().insert_batch(&rows).unwrap();
        dir
    });
    warden_tables::set_event_store_dir(dir);
    warden_tables::open().unwrap()
}

/// The rows of `sql`, each as column name → value.
fn query(conn: &rusqlite::Connection, sql: &str) -> Vec<BTreeMap<String, Value>> {
    let mut stmt = conn.prepare(sql).unwrap();
    let names: Vec<String> = stmt.column_names().map(str::to_owned).collect();
    stmt.query_map([], |r| {
        names
            .iter()
            .enumerate()
            .map(|(i, n)| Ok((n.clone(), r.get(i)?)))
            .collect()
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

fn text(s: &str) -> Value {
    Text(s.into())
}

#[test]
fn process_events_read_the_store_with_time_pushdown() {
    let conn = open();
    let got = query(
        &conn,
        "SELECT pid, path, cmdline, parent, time, entity_id, parent_entity_id, sha256, \
         package, package_verified, mode, username, syscall, auid \
         FROM process_events WHERE time >= 2000 AND time < 3000",
    );
    assert_eq!(got.len(), 1, "{got:?}");
    let row = &got[0];
    assert_eq!(row["pid"], Integer(11));
    assert_eq!(row["path"], text("/usr/bin/true"));
    assert_eq!(row["cmdline"], text("/usr/bin/true \"two words\""));
    assert_eq!(row["parent"], Integer(1));
    assert_eq!(row["time"], Integer(2000));
    assert_eq!(row["entity_id"], text("abababab-11-77"));
    assert_eq!(row["parent_entity_id"], text("abababab-1-1"));
    assert_eq!(row["sha256"], text("00ff"));
    assert_eq!(row["package"], text("coreutils"));
    assert_eq!(row["package_verified"], Integer(1));
    assert_eq!(row["mode"], text("0755"));
    assert_eq!(row["username"], text("root"));
    assert_eq!(row["syscall"], text("execve"));
    assert_eq!(row["auid"], Integer(1000));

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

#[test]
fn socket_events_read_network_events_in_osquerys_columns() {
    let conn = open();
    let all = query(
        &conn,
        "SELECT *, protocol, socket, success, eid FROM socket_events ORDER BY time",
    );
    assert_eq!(all.len(), 8, "{all:?}");
    let spec = warden_tables::table("socket_events").unwrap().spec;
    let visible = spec.columns.iter().filter(|c| !c.hidden()).count();
    assert_eq!(
        all[0].len(),
        visible + 4,
        "SELECT * gives every visible column"
    );

    let connect = &all[0];
    for (column, value) in [
        ("action", text("connect")),
        ("pid", Integer(12)),
        ("path", text("/usr/bin/curl")),
        ("fd", text("3")),
        ("auid", Integer(1000)),
        ("family", Integer(2)),
        ("protocol", Integer(6)),
        ("local_address", text("10.0.0.5")),
        ("local_port", Integer(40_000)),
        ("remote_address", text("93.184.216.34")),
        ("remote_port", Integer(443)),
        ("socket", Null),
        ("time", Integer(5_000)),
        ("success", Integer(1)),
        ("status", text("succeeded")),
        ("entity_id", text("abababab-12-77")),
        ("parent_entity_id", text("abababab-1-1")),
        ("uid", Integer(0)),
        ("username", text("root")),
        ("cmdline", text("/usr/bin/curl \"two words\"")),
        ("transport", text("tcp")),
        ("direction", text("egress")),
        ("errno", Null),
        ("syscall", text("connect")),
        ("source", text("audit")),
    ] {
        assert_eq!(connect[column], value, "connect: {column}");
    }
    assert!(matches!(connect["uptime"], Integer(_) | Null));
    assert!(matches!(&connect["eid"], Text(eid) if eid.parse::<i64>().is_ok()));

    let in_progress = &all[1];
    assert_eq!(in_progress["status"], text("in_progress"));
    assert_eq!(in_progress["success"], Integer(1));
    assert_eq!(in_progress["errno"], text("EINPROGRESS"));
    assert_eq!(in_progress["family"], Integer(10));
    assert_eq!(in_progress["remote_address"], text("2001:db8::1"));
    assert_eq!(in_progress["local_address"], Null);

    let accept = &all[2];
    assert_eq!(accept["action"], text("accept"));
    assert_eq!(accept["syscall"], text("accept4"));
    assert_eq!(accept["local_address"], text("::1"));
    assert_eq!(accept["local_port"], Integer(22));
    assert_eq!(accept["remote_port"], Integer(50_000));
    assert_eq!(accept["direction"], text("ingress"));

    let bind = &all[3];
    assert_eq!(bind["family"], Integer(1));
    assert_eq!(bind["local_address"], text("@/tmp/.X11-unix/X0"));
    assert_eq!(bind["socket"], text("@/tmp/.X11-unix/X0"));
    assert_eq!(bind["protocol"], Null);
    assert_eq!(bind["transport"], text("stream"));

    let refused = &all[4];
    assert_eq!(refused["status"], text("failed"));
    assert_eq!(refused["success"], Integer(0));
    assert_eq!(refused["errno"], text("ECONNREFUSED"));
    assert_eq!(refused["protocol"], Null);
    for column in [
        "bytes_sent",
        "bytes_received",
        "duration_ns",
        "state",
        "found_open",
    ] {
        assert_eq!(refused[column], Null, "a call's row: {column}");
    }

    // A connection's end: what this host sent and received over it, from the accepting side.
    let close = &all[5];
    for (column, value) in [
        ("action", text("close")),
        ("local_port", Integer(22)),
        ("remote_port", Integer(50_000)),
        ("direction", text("ingress")),
        ("status", text("failed")),
        ("errno", text("ECONNRESET")),
        ("syscall", Null),
        ("bytes_sent", Integer(4_096)),
        ("bytes_received", Integer(1_000_000)),
        ("duration_ns", Integer(3_500_000_000)),
        ("state", text("ESTABLISHED")),
        ("found_open", Integer(0)),
    ] {
        assert_eq!(close[column], value, "close: {column}");
    }

    // Filters attached: a classic one's program and its digest, an eBPF one's identity.
    let (classic, ebpf) = (&all[6], &all[7]);
    let le_bytes = [0x28, 0, 0, 0, 12, 0, 0, 0, 6, 0, 0, 0, 0xff, 0xff, 0, 0];
    let sha256: String = Sha256::digest(le_bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    for (column, value) in [
        ("action", text("filter")),
        ("filter_option", text("SO_ATTACH_FILTER")),
        ("filter_instructions", Integer(2)),
        ("filter_bytecode", text("2,40 0 0 12,6 0 0 65535")),
        ("filter_sha256", text(&sha256)),
        ("filter_program_id", Null),
        ("filter_program_tag", Null),
    ] {
        assert_eq!(classic[column], value, "classic filter: {column}");
    }
    for (column, value) in [
        ("filter_option", text("SO_ATTACH_BPF")),
        ("filter_instructions", Integer(12)),
        ("filter_bytecode", Null),
        ("filter_sha256", Null),
        ("filter_program_id", Integer(31)),
        ("filter_program_tag", text("fedcba9876543210")),
        ("filter_program_name", text("sniff")),
    ] {
        assert_eq!(ebpf[column], value, "eBPF filter: {column}");
    }
    for column in ["filter_option", "filter_sha256", "filter_program_id"] {
        assert_eq!(close[column], Null, "no filter's row: {column}");
    }

    // A time constraint reaches the store's range scan.
    let accepted = query(
        &conn,
        "SELECT action, remote_port FROM socket_events WHERE time = 5002",
    );
    assert_eq!(accepted.len(), 1);
    assert_eq!(accepted[0]["action"], text("accept"));

    // Which program made the connection, from the exec that started it.
    let joined = query(
        &conn,
        "SELECT s.remote_address, p.path, p.time FROM socket_events s \
         JOIN process_events p USING (entity_id) \
         WHERE s.action = 'connect' AND s.status = 'succeeded'",
    );
    assert_eq!(joined.len(), 1, "{joined:?}");
    assert_eq!(joined[0]["remote_address"], text("93.184.216.34"));
    assert_eq!(joined[0]["path"], text("/usr/bin/curl"));
    assert_eq!(joined[0]["time"], Integer(3_000));
}

#[test]
fn file_events_read_file_events_in_osquerys_columns() {
    let conn = open();
    let all = query(
        &conn,
        "SELECT *, eid FROM file_events ORDER BY time, action",
    );
    let actions: Vec<(&Value, &Value)> = all
        .iter()
        .map(|r| (&r["action"], &r["target_path"]))
        .collect();
    assert_eq!(
        actions,
        [
            (&text("CREATED"), &text("/etc/cron.d/job")),
            (&text("MOVED_FROM"), &text("/etc/passwd.new")),
            (&text("MOVED_TO"), &text("/etc/passwd")),
            (&text("ACCESSED"), &text("/root/.ssh/id_ed25519")),
            (&text("ATTRIBUTES_MODIFIED"), &text("/usr/local/bin/tool")),
            (&text("CREATED"), &text("/tmp/link")),
            (&text("ATTRIBUTES_MODIFIED"), &text("/usr/local/bin/tool")),
        ]
    );

    let created = &all[0];
    for (column, value) in [
        ("category", text("warden")),
        ("transaction_id", Integer(0)),
        ("inode", Integer(55)),
        ("uid", Integer(0)),
        ("gid", Integer(0)),
        ("mode", text("0644")),
        ("size", Null),
        ("atime", Null),
        ("mtime", Null),
        ("ctime", Null),
        ("md5", Null),
        ("sha1", Null),
        ("sha256", Null),
        ("hashed", Integer(0)),
        ("time", Integer(6_000)),
        ("entity_id", text("abababab-12-77")),
        ("parent_entity_id", text("abababab-1-1")),
        ("pid", Integer(12)),
        ("exe", text("/usr/bin/curl")),
        ("process_uid", Integer(0)),
        ("operation", text("create")),
        ("old_path", Null),
        ("link_target", Null),
        ("success", Integer(1)),
        ("source", text("audit")),
        ("syscall", text("openat")),
    ] {
        assert_eq!(created[column], value, "create: {column}");
    }

    // Both rows of a rename name the old path, and are paired by transaction id and eid.
    let (from, to) = (&all[1], &all[2]);
    assert_eq!(from["old_path"], text("/etc/passwd.new"));
    assert_eq!(to["old_path"], text("/etc/passwd.new"));
    assert_eq!(from["operation"], text("rename"));
    assert_ne!(from["transaction_id"], Integer(0));
    assert_eq!(from["transaction_id"], to["transaction_id"]);
    assert_eq!(from["eid"], to["eid"]);
    assert_eq!(to["inode"], Integer(56));
    // The file the rename left, as the agent found it: on both rows.
    for row in [from, to] {
        assert_eq!(row["sha256"], text(&"5e".repeat(32)));
        assert_eq!(row["hashed"], Integer(1));
        assert_eq!(row["size"], Integer(1234));
        assert_eq!(row["mtime"], Integer(5_000));
        assert_eq!(row["ctime"], Integer(6_000));
        assert_eq!(row["md5"], Null);
    }

    let read = &all[3];
    assert_eq!(read["category"], text("ssh"));
    assert_eq!(read["mode"], text("0600"));
    assert_eq!(read["source"], text("fanotify"));
    assert_eq!(read["syscall"], text("FAN_OPEN"));

    let chmod = &all[4];
    assert_eq!(chmod["mode"], text("4755"));
    assert_eq!(chmod["uid"], Integer(1000));

    let symlink = &all[5];
    assert_eq!(symlink["link_target"], text("/etc/shadow"));
    assert_eq!(symlink["success"], Integer(0));

    // The times a call set: the modification time it was set back to; the access time set to
    // the call's own is no given time.
    let times = &all[6];
    assert_eq!(times["operation"], text("times"));
    assert_eq!(times["mtime"], Integer(1_546_300_800));
    assert_eq!(times["atime"], Null);
    assert_eq!(chmod["atime"], Null);

    // A time constraint reaches the store's range scan; both rows of the rename come back.
    let renamed = query(
        &conn,
        "SELECT action FROM file_events WHERE time > 6000 AND time <= 6001 ORDER BY action",
    );
    assert_eq!(renamed.len(), 2);
    assert_eq!(renamed[0]["action"], text("MOVED_FROM"));

    // The owner of each file read, by name, from the live users table.
    let owners = query(
        &conn,
        "SELECT f.target_path, u.username FROM file_events f JOIN users u ON u.uid = f.uid \
         WHERE f.action = 'ACCESSED'",
    );
    assert_eq!(owners.len(), 1);
    assert_eq!(owners[0]["target_path"], text("/root/.ssh/id_ed25519"));
    assert_eq!(owners[0]["username"], text("root"));
}

#[test]
fn osquery_events_reports_the_store_backed_tables() {
    let conn = open();
    let got = query(
        &conn,
        "SELECT name, publisher, events, active FROM osquery_events \
         WHERE name IN ('process_events', 'socket_events', 'file_events', 'user_events', \
         'process_file_events') \
         ORDER BY name",
    );
    let summary: Vec<(&Value, &Value, &Value, &Value)> = got
        .iter()
        .map(|r| (&r["name"], &r["publisher"], &r["events"], &r["active"]))
        .collect();
    let store = text("warden_store");
    assert_eq!(
        summary,
        [
            (&text("file_events"), &store, &Integer(6), &Integer(1)),
            (&text("process_events"), &store, &Integer(3), &Integer(1)),
            (
                &text("process_file_events"),
                &store,
                &Integer(6),
                &Integer(1)
            ),
            (&text("socket_events"), &store, &Integer(8), &Integer(1)),
            (
                &text("user_events"),
                &text("user_events"),
                &Integer(0),
                &Integer(0)
            ),
        ]
    );
}

#[test]
fn warden_events_is_the_whole_store_in_its_own_fields() {
    let conn = open();
    let all = query(
        &conn,
        "SELECT seq, class, count(*) AS n FROM warden_events GROUP BY class ORDER BY class",
    );
    let counts: Vec<(Value, Value)> = all
        .iter()
        .map(|r| (r["class"].clone(), r["n"].clone()))
        .collect();
    assert_eq!(
        counts,
        [
            (text("exec"), Integer(3)),
            (text("exit"), Integer(1)),
            (text("file"), Integer(6)),
            (text("network"), Integer(8)),
        ]
    );
    let got = query(
        &conn,
        "SELECT seq, time, time_ns, action, pid, exe, path, old_path, success, \
         json_extract(json, '$.file.path') AS json_path \
         FROM warden_events WHERE time = 6001",
    );
    assert_eq!(got.len(), 1, "{got:?}");
    let row = &got[0];
    assert_eq!(row["seq"], Integer(14), "the 14th event stored");
    assert_eq!(row["time_ns"], Integer(6_001_000_000_005));
    assert_eq!(row["action"], text("rename"));
    assert_eq!(row["path"], text("/etc/passwd"));
    assert_eq!(row["old_path"], text("/etc/passwd.new"));
    assert_eq!(row["success"], Integer(1));
    assert_eq!(row["json_path"], text("/etc/passwd"));
    let connect = query(
        &conn,
        "SELECT remote_address, remote_port, local_port FROM warden_events \
         WHERE action = 'connect' AND time = 5000",
    );
    assert_eq!(connect[0]["remote_address"], text("93.184.216.34"));
    assert_eq!(connect[0]["remote_port"], Integer(443));
    assert_eq!(connect[0]["local_port"], Integer(40_000));
}

#[test]
fn process_file_events_tell_the_same_events_by_the_process() {
    let conn = open();
    let all = query(
        &conn,
        "SELECT *, eid FROM process_file_events ORDER BY time",
    );
    let said: Vec<(&Value, &Value, &Value)> = all
        .iter()
        .map(|r| (&r["operation"], &r["path"], &r["dest_path"]))
        .collect();
    assert_eq!(
        said,
        [
            (&text("create"), &text("/etc/cron.d/job"), &Null),
            // A rename's old name and new; a symlink's target and the link.
            (
                &text("rename"),
                &text("/etc/passwd.new"),
                &text("/etc/passwd")
            ),
            (&text("read"), &text("/root/.ssh/id_ed25519"), &Null),
            (&text("chmod"), &text("/usr/local/bin/tool"), &Null),
            (&text("symlink"), &text("/etc/shadow"), &text("/tmp/link")),
            (&text("times"), &text("/usr/local/bin/tool"), &Null),
        ]
    );
    let rename = &all[1];
    for (column, value) in [
        ("pid", Integer(12)),
        ("ppid", Integer(1)),
        ("time", Integer(6_001)),
        ("executable", text("/usr/bin/curl")),
        ("partial", text("false")),
        ("cwd", text("/tmp")),
        // osquery's ids are text.
        ("uid", text("0")),
        ("gid", text("0")),
        ("euid", text("0")),
        ("egid", text("0")),
        ("auid", text("1000")),
        ("fsuid", Null),
        ("sgid", Null),
        // Stored at 6,001 s after the epoch: long before this boot.
        ("uptime", Null),
        ("entity_id", text("abababab-12-77")),
        ("parent_entity_id", text("abababab-1-1")),
        ("action", text("rename")),
        ("success", Integer(1)),
        ("inode", Integer(56)),
        ("sha256", text(&"5e".repeat(32))),
        ("category", Null),
        ("source", text("audit")),
        ("syscall", text("rename")),
    ] {
        assert_eq!(rename[column], value, "rename: {column}");
    }
    // The same eid as the event's rows in file_events.
    let eids = query(
        &conn,
        "SELECT DISTINCT f.eid FROM file_events f JOIN process_file_events p ON p.eid = f.eid \
         WHERE p.operation = 'rename'",
    );
    assert_eq!(eids.len(), 1);
    assert_eq!(all[2]["category"], text("ssh"));
    assert_eq!(all[4]["success"], Integer(0));

    // A process's file activity by its identity, as a join from process_events would ask.
    let by_entity = query(
        &conn,
        "SELECT count(*) AS n FROM process_file_events WHERE entity_id = 'abababab-12-77'",
    );
    assert_eq!(by_entity[0]["n"], Integer(6));
    let none = query(
        &conn,
        "SELECT count(*) AS n FROM process_file_events WHERE entity_id = 'abababab-10-77'",
    );
    assert_eq!(none[0]["n"], Integer(0));
}

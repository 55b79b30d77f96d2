//! Fixture tests: records recorded from the real kernel (and hand-written damage) through the
//! whole pure pipeline — parse, assemble, exec view.

use std::collections::{BTreeMap, HashSet};

use warden_sources::audit::{
    Assembler, AssemblerConfig, Event, EventEnd, ExecCall, ExecError, ExecEvent, MalformedCounters,
    ParseErrorKind, Record, WARDEN_KEY, msgtype, parse_log_line, parse_record,
};

mod common;

use common::messages;

const KERNEL_EXEC: &str = include_str!("fixtures/kernel-exec.txt");
const MALFORMED: &str = include_str!("fixtures/malformed.txt");
const AUDITD_LOG: &[u8] = include_bytes!("fixtures/auditd.log");

/// Parse and assemble like the source will: count bad records, feed the rest with event time
/// as the clock, flush at the end.
fn run(
    msgs: &[(u16, Vec<u8>)],
    config: AssemblerConfig,
) -> (Vec<Event>, MalformedCounters, Assembler) {
    let mut bad = MalformedCounters::default();
    let mut asm = Assembler::new(config);
    let mut events = Vec::new();
    for (t, body) in msgs {
        match parse_record(*t, body) {
            Ok(r) => {
                let now = r.id.time.as_millis();
                asm.push(r, now, &mut events);
            }
            Err(e) => bad.count(&e),
        }
    }
    asm.flush_all(&mut events);
    (events, bad, asm)
}

fn by_serial(events: &[Event]) -> BTreeMap<u32, &Event> {
    events.iter().map(|e| (e.id.serial, e)).collect()
}

fn exec(events: &BTreeMap<u32, &Event>, serial: u32) -> ExecEvent {
    ExecEvent::from_event(events[&serial]).unwrap()
}

#[test]
fn kernel_records_all_parse_and_assemble_complete() {
    let msgs = messages(KERNEL_EXEC);
    assert_eq!(msgs.len(), 665);
    let (events, bad, asm) = run(&msgs, AssemblerConfig::default());
    assert_eq!(bad.total(), 0);
    assert_eq!(events.len(), 85);
    assert!(
        events
            .iter()
            .all(|e| e.end == EventEnd::Eoe && e.is_complete())
    );
    let stats = asm.stats();
    assert_eq!(stats.records, 665);
    assert_eq!(stats.events_eoe, 85);
    assert_eq!(
        stats.orphan_eoe + stats.events_timed_out + stats.events_evicted,
        0
    );
    // Every non-EOE record ended up in exactly one event.
    let in_events: usize = events.iter().map(|e| e.records.len()).sum();
    assert_eq!(in_events, 665 - 85);
}

#[test]
fn kernel_fixture_really_interleaves() {
    let mut seen = HashSet::new();
    let mut last = None;
    let mut interleaved = 0;
    for (_, body) in messages(KERNEL_EXEC) {
        let serial = parse_record(1300, &body).unwrap().id.serial;
        if last != Some(serial) && !seen.insert(serial) {
            interleaved += 1;
        }
        last = Some(serial);
    }
    assert!(interleaved >= 5, "{interleaved}");
}

#[test]
fn kernel_exec_views() {
    let msgs = messages(KERNEL_EXEC);
    let (events, _, _) = run(&msgs, AssemblerConfig::default());
    let ev = by_serial(&events);

    // Arguments with a space, a newline, non-UTF-8, a quote, and an empty one.
    let e = exec(&ev, 9);
    assert_eq!(e.call, ExecCall::Execve);
    assert_eq!(
        e.argv,
        [
            &b"/bin/echo"[..],
            b"a b",
            b"line\nbreak",
            b"\xff\xfe",
            b"say\"hi",
            b""
        ]
    );
    assert!(e.argv_complete);
    assert_eq!(e.argc, Some(6));
    assert_eq!(
        (
            e.subject.uid,
            e.subject.euid,
            e.subject.auid,
            e.subject.ses,
            e.subject.tty.as_deref()
        ),
        (0, 0, None, None, None)
    );
    assert_eq!(e.subject.exe.as_deref(), Some(&b"/usr/bin/echo"[..]));
    assert_eq!(e.cwd.as_deref(), Some(&b"/tmp/wfix"[..]));
    assert!(e.has_key(WARDEN_KEY.as_bytes()));
    assert!(e.complete);

    // A backslash inside a quoted argument.
    assert_eq!(exec(&ev, 10).argv[1], b"\\0");

    // 10 000-byte argument split across three EXECVE records (a1_len counts hex digits).
    let e = exec(&ev, 12);
    assert_eq!(e.argv.len(), 3);
    assert_eq!(e.argv[1], vec![b'A'; 10_000]);
    assert_eq!(e.argv[2], b"tail");
    assert!(e.argv_complete);
    assert!(events_of(&ev, 12, msgtype::EXECVE) >= 2);

    // 20 000 spaces, six pieces.
    let e = exec(&ev, 15);
    assert_eq!(e.argv[1], vec![b' '; 20_000]);
    assert!(e.argv_complete);

    // Executable with a non-UTF-8 byte and a space: exe, comm, PATH name and proctitle in hex.
    let e = exec(&ev, 16);
    let name = b"/tmp/wfix/tru\xe9 e";
    assert_eq!(e.subject.exe.as_deref(), Some(&name[..]));
    assert_eq!(e.subject.comm.as_deref(), Some(&b"tru\xe9 e"[..]));
    assert_eq!(e.argv, [&name[..], b"x"]);
    assert_eq!(e.paths[0].name.as_deref(), Some(&name[..]));
    assert_eq!(e.paths[0].mode, Some(0o100755));
    assert_eq!(
        e.paths[1].name.as_deref(),
        Some(&b"/lib64/ld-linux-x86-64.so.2"[..])
    );
    assert_eq!(
        e.proctitle.as_deref(),
        Some(&[name.to_vec(), b"x".to_vec()][..])
    );

    // A failed execve: no EXECVE record, an errno.
    let e = exec(&ev, 18);
    assert_eq!((e.success, e.exit), (Some(false), Some(-2)));
    assert!(e.argv.is_empty());

    // fexecve → execveat, on the rule with two keys (joined by 0x01, hex-encoded).
    let e = exec(&ev, 255);
    assert_eq!(e.call, ExecCall::Execveat);
    assert_eq!(e.keys, [&b"warden"[..], b"second"]);
    assert_eq!(e.argv, [&b"true"[..], b"via-fexecve"]);

    // Both parallel loops came through whole.
    let loops: Vec<ExecEvent> = events
        .iter()
        .filter_map(|e| ExecEvent::from_event(e).ok())
        .filter(|e| e.argv.get(1).is_some_and(|a| a.starts_with(b"loop")))
        .collect();
    assert_eq!(loops.len(), 60);
    assert!(loops.iter().all(|e| e.argv_complete && e.argv.len() == 3));

    // auditctl's own sendto (CONFIG_CHANGE + SYSCALL 44) is not an exec.
    assert_eq!(ExecEvent::from_event(ev[&2]), Err(ExecError::NotExec));
    assert_eq!(ev[&2].records[0].rtype, msgtype::CONFIG_CHANGE);
}

fn events_of(ev: &BTreeMap<u32, &Event>, serial: u32, rtype: u16) -> usize {
    ev[&serial].records_of(rtype).count()
}

#[test]
fn malformed_records_are_counted_and_skipped() {
    let msgs = messages(MALFORMED);
    let (events, bad, asm) = run(&msgs, AssemblerConfig::default());
    assert_eq!(bad.total(), 8);
    assert_eq!(bad.get(ParseErrorKind::MissingStamp), 2);
    assert_eq!(bad.get(ParseErrorKind::BadStamp), 1);
    assert_eq!(bad.get(ParseErrorKind::UnterminatedQuote), 1);
    assert_eq!(bad.get(ParseErrorKind::BadTime), 1);
    assert_eq!(bad.get(ParseErrorKind::BadKey), 1);
    assert_eq!(bad.get(ParseErrorKind::BadSerial), 1);
    assert_eq!(bad.get(ParseErrorKind::Empty), 1);
    assert_eq!(asm.stats().orphan_eoe, 1);

    let ev = by_serial(&events);
    assert_eq!(ev.len(), 4);
    assert_eq!(ev[&105].end, EventEnd::Eoe);
    assert_eq!(ev[&106].end, EventEnd::Eoe);
    assert_eq!(ev[&107].end, EventEnd::Standalone);
    // No EOE ever came for 100: still in flight at the end (the stream spans 29 ms, less than
    // the 2 s timeout), so flush_all emitted it, flagged incomplete.
    assert_eq!(ev[&100].end, EventEnd::Flushed);
    let e = exec(&ev, 100);
    assert!(!e.complete);
    assert_eq!(e.argv, [&b"ls"[..], b"-l"]);
    assert_eq!(
        (e.subject.auid, e.subject.ses, e.subject.tty.as_deref()),
        (Some(1000), Some(2), Some("pts1"))
    );

    let e = exec(&ev, 105);
    assert_eq!(e.argv, [&b"sudo"[..], b"-u", b"bob jones"]);
    assert_eq!(e.cwd.as_deref(), Some(&b"/home/alice b "[..]));
    assert_eq!(e.paths[0].mode, Some(0o104755));
    assert_eq!(e.proctitle.as_deref().unwrap()[2], b"bob jones");

    let e = exec(&ev, 106);
    assert_eq!(e.call, ExecCall::Execveat);
    assert_eq!(e.argv, [&b"my tool"[..], b"hello\nworld\xff", b"--"]);
    assert!(e.argv_complete);
    assert_eq!(e.subject.comm.as_deref(), Some(&b"my tool"[..]));
    assert_eq!(e.subject.exe.as_deref(), Some(&b"/opt/my tool"[..]));
    assert_eq!(e.keys, [&b"warden"[..], b"other"]);
    assert_eq!(e.paths[0].name, None);
    assert_eq!(e.paths[0].inode, Some(1234));

    let user = &ev[&107].records[0];
    assert_eq!(user.rtype, 1112);
    assert!(
        user.get("msg")
            .unwrap()
            .text()
            .unwrap()
            .contains("op=login")
    );
}

#[test]
fn timeout_uses_the_callers_clock() {
    // With the stream's own clock, event 100 is flushed by time once later events arrive
    // (1700000000.001 → .030 is 29 ms), before flush_all.
    let msgs = messages(MALFORMED);
    let (events, _, asm) = run(
        &msgs,
        AssemblerConfig {
            timeout_ms: 5,
            ..Default::default()
        },
    );
    assert_eq!(asm.stats().events_timed_out, 1);
    assert_eq!(asm.stats().events_flushed, 0);
    assert!(
        events
            .iter()
            .any(|e| e.id.serial == 100 && e.end == EventEnd::Timeout)
    );
}

#[test]
fn auditd_log_lines_match_kernel_records() {
    let log: Vec<Record> = AUDITD_LOG
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| parse_log_line(l).unwrap())
        .collect();
    assert_eq!(log.len(), 16);
    let mut asm = Assembler::default();
    let mut events = Vec::new();
    let mut enriched = 0;
    for r in log {
        enriched += r.enriched.len();
        asm.push(r, 0, &mut events);
    }
    assert_eq!(enriched, 2 * 11 + 4 * 2);
    assert_eq!(events.len(), 2);

    let (kernel_events, _, _) = run(&messages(KERNEL_EXEC), AssemblerConfig::default());
    let kernel = by_serial(&kernel_events);
    for e in &events {
        let from_log = ExecEvent::from_event(e).unwrap();
        let from_kernel = exec(&kernel, e.id.serial);
        assert_eq!(from_log, from_kernel);
    }
    let sc = events[0].record(msgtype::SYSCALL).unwrap();
    let uid = sc.enriched.iter().find(|f| f.key == "UID").unwrap();
    assert_eq!(uid.value.text(), Some("root"));
}

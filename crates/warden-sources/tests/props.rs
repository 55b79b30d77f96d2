//! Property tests: the audit parsers and assembler never panic on arbitrary input, account for
//! every record, and the kernel's encodings (hex values, split argv) round-trip.

use proptest::prelude::*;

use warden_sources::audit::encoding::{encode_untrusted, hex_decode, hex_encode};
use warden_sources::audit::{
    Assembler, AssemblerConfig, ExecEvent, Record, msgtype, parse_log_line, parse_record,
};

/// Text that looks like an audit record often enough to get past the stamp.
fn recordish() -> impl Strategy<Value = String> {
    let value = prop_oneof![
        "\"[ -~]{0,12}\"",
        "'[ -~]{0,12}'",
        "[0-9A-F]{0,16}",
        "[0-9a-z:()_-]{0,10}",
        Just("(null)".to_string()),
        "[\\x00-\\xff]{0,4}",
    ];
    let key = prop_oneof![
        "a[0-9]{1,2}",
        "a[0-9]_len",
        "a[0-9]\\[[0-9]\\]",
        Just("argc".to_string()),
        "[a-z_]{1,8}",
        "[A-Z]{1,4}",
    ];
    let field = (key, value, prop_oneof![Just(" "), Just("  "), Just("\x1d")])
        .prop_map(|(k, v, sep)| format!("{sep}{k}={v}"));
    (
        "[0-9]{0,12}",
        "[0-9]{0,4}",
        "[0-9]{0,11}",
        prop::collection::vec(field, 0..12),
        "[\\x00-\\xff]{0,3}",
    )
        .prop_map(|(s, ms, serial, fields, tail)| {
            format!("audit({s}.{ms}:{serial}):{}{tail}", fields.concat())
        })
}

fn rtype() -> impl Strategy<Value = u16> {
    prop_oneof![
        Just(msgtype::SYSCALL),
        Just(msgtype::EXECVE),
        Just(msgtype::PATH),
        Just(msgtype::CWD),
        Just(msgtype::PROCTITLE),
        Just(msgtype::EOE),
        Just(1105u16),
        Just(msgtype::AVC),
        any::<u16>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn record_parser_never_panics_on_bytes(t in any::<u16>(), body in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = parse_record(t, &body);
        let _ = parse_log_line(&body);
    }

    #[test]
    fn record_parser_never_panics_on_recordish(t in rtype(), body in recordish()) {
        if let Ok(r) = parse_record(t, body.as_bytes()) {
            prop_assert_eq!(r.rtype, t);
            prop_assert!(r.id.time.nanos < 1_000_000_000);
        }
        let line = format!("type=SYSCALL msg={body}");
        let _ = parse_log_line(line.as_bytes());
    }

    #[test]
    fn hex_round_trip(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let hex = hex_encode(&bytes);
        prop_assert_eq!(hex_decode(&hex).unwrap(), bytes.clone());
        prop_assert_eq!(hex_decode(&hex.to_ascii_lowercase()).unwrap(), bytes);
    }

    /// Any value written the kernel's way into an encodable field parses back to its bytes.
    #[test]
    fn untrusted_value_round_trip(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let mut body = b"audit(1.000:1): item=0 name=".to_vec();
        body.extend(encode_untrusted(&bytes));
        body.extend_from_slice(b" nametype=NORMAL");
        let r = parse_record(msgtype::PATH, &body).unwrap();
        prop_assert_eq!(r.get("name").unwrap().bytes().unwrap(), &bytes[..]);
        prop_assert_eq!(r.get("nametype").unwrap().text(), Some("NORMAL"));
    }

    /// argv written like the kernel's audit_log_execve_info (long arguments hex-encoded and split
    /// as aN_len + aN[i], records cut at a size limit) comes back exactly.
    #[test]
    fn argv_round_trip(
        argv in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 0..8),
        chunk in 1usize..16,
        record_limit in 40usize..120,
    ) {
        let records = render_execve(&argv, chunk, record_limit);
        let sc = "arch=c000003e syscall=59 success=yes exit=0 ppid=1 pid=2 uid=0 gid=0 euid=0 egid=0";
        let mut asm = Assembler::default();
        let mut out = Vec::new();
        asm.push(parse_record(msgtype::SYSCALL, format!("audit(1.000:1): {sc}").as_bytes()).unwrap(), 0, &mut out);
        for body in &records {
            asm.push(parse_record(msgtype::EXECVE, body).unwrap(), 0, &mut out);
        }
        asm.push(parse_record(msgtype::EOE, b"audit(1.000:1): ").unwrap(), 0, &mut out);
        prop_assert_eq!(out.len(), 1);
        let e = ExecEvent::from_event(&out[0]).unwrap();
        prop_assert_eq!(&e.argv, &argv);
        prop_assert!(e.argv_complete);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Any stream of records: no panic, caps hold, and every non-EOE record is either in exactly
    /// one emitted event or counted as dropped.
    #[test]
    fn assembler_accounts_for_every_record(
        input in prop::collection::vec((rtype(), 0u32..6, 0u64..3, recordish()), 0..40),
        max_in_flight in 1usize..4,
        max_records in 1usize..5,
    ) {
        let config = AssemblerConfig { timeout_ms: 5, max_in_flight, max_records, max_bytes: 4096 };
        let mut asm = Assembler::new(config);
        let mut out = Vec::new();
        let mut now = 0;
        let mut pushed = 0u64;
        for (t, serial, step, body) in input {
            now += step;
            let text = format!("audit(1.000:{serial}): x=1");
            let rec: Record = match parse_record(t, body.as_bytes()) {
                Ok(mut r) => { r.id.serial = serial; r }
                Err(_) => parse_record(t, text.as_bytes()).unwrap(),
            };
            if t != msgtype::EOE { pushed += 1; }
            asm.push(rec, now, &mut out);
            prop_assert!(asm.in_flight() <= max_in_flight);
            for e in &out {
                let _ = ExecEvent::from_event(e);
            }
        }
        asm.flush_all(&mut out);
        prop_assert_eq!(asm.in_flight(), 0);
        prop_assert_eq!(asm.buffered_bytes(), 0);
        let kept: u64 = out.iter().map(|e| e.records.len() as u64).sum();
        prop_assert_eq!(kept + asm.stats().records_dropped, pushed);
        prop_assert!(out.iter().all(|e| !e.records.is_empty() && e.records.len() <= max_records));
    }
}

/// A simplified kernel writer: arguments longer than `chunk` bytes are hex-encoded and split into
/// `chunk`-byte pieces; a new record starts when the current one exceeds `limit` bytes.
fn render_execve(argv: &[Vec<u8>], chunk: usize, limit: usize) -> Vec<Vec<u8>> {
    let head = b"audit(1.000:1): ".to_vec();
    let mut records = Vec::new();
    let mut cur = head.clone();
    cur.extend_from_slice(format!("argc={}", argv.len()).as_bytes());
    let mut emit = |cur: &mut Vec<u8>, field: Vec<u8>| {
        if cur.len() > limit {
            records.push(std::mem::replace(cur, head.clone()));
        }
        cur.push(b' ');
        cur.extend(field);
    };
    for (n, arg) in argv.iter().enumerate() {
        if arg.len() <= chunk {
            let mut f = format!("a{n}=").into_bytes();
            f.extend(encode_untrusted(arg));
            emit(&mut cur, f);
        } else {
            let mut first = true;
            for (i, piece) in arg.chunks(chunk).enumerate() {
                let mut f = Vec::new();
                if first {
                    f.extend(format!("a{n}_len={} ", arg.len() * 2).into_bytes());
                    first = false;
                }
                f.extend(format!("a{n}[{i}]=").into_bytes());
                f.extend(hex_encode(piece));
                emit(&mut cur, f);
            }
        }
    }
    records.push(cur);
    records
}

/// The events of the recorded file fixture, as (type, body) lines grouped by serial (no `\x`
/// escapes in it: PROCTITLE is hex).
fn file_fixture_events() -> Vec<Vec<(u16, String)>> {
    let mut events: Vec<(String, Vec<(u16, String)>)> = Vec::new();
    for line in include_str!("fixtures/kernel-file.txt")
        .lines()
        .filter(|l| !l.starts_with('#'))
    {
        let (t, body) = line.split_once(' ').unwrap();
        let serial = body.split_once(')').unwrap().0.to_owned();
        let rec = (t.parse().unwrap(), body.to_owned());
        match events.last_mut() {
            Some((s, recs)) if *s == serial => recs.push(rec),
            _ => events.push((serial, vec![rec])),
        }
    }
    events.into_iter().map(|(_, recs)| recs).collect()
}

/// One change to a recorded event.
#[derive(Clone, Debug)]
enum Mutation {
    /// Replace field `field` (index, modulo the record's fields) of record `rec` by this value.
    Value {
        rec: usize,
        field: usize,
        value: String,
    },
    /// Drop that field.
    DropField { rec: usize, field: usize },
    /// Drop record `rec`.
    DropRecord { rec: usize },
    /// Copy record `rec` to the end.
    Duplicate { rec: usize },
    /// Make the event another file call of another ABI.
    Syscall { arch: &'static str, nr: u32 },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let value = prop_oneof![
        "[0-9a-f]{0,18}",
        "-?[0-9]{1,21}",
        "\"[ -~]{0,10}\"",
        "[0-9a-f]{1,3}:[0-9a-f]{0,3}",
        Just("(null)".to_string()),
        Just("PARENT".to_string()),
        Just("CREATE".to_string()),
        Just("DELETE".to_string()),
        Just("UNKNOWN".to_string()),
        Just("ffffff9c".to_string()),
        "[\\x00-\\xff]{0,4}",
    ];
    prop_oneof![
        (0usize..8, 0usize..40, value).prop_map(|(rec, field, value)| Mutation::Value {
            rec,
            field,
            value
        }),
        (0usize..8, 0usize..40).prop_map(|(rec, field)| Mutation::DropField { rec, field }),
        (0usize..8).prop_map(|rec| Mutation::DropRecord { rec }),
        (0usize..8).prop_map(|rec| Mutation::Duplicate { rec }),
        (
            prop_oneof![
                Just("c000003e"),
                Just("40000003"),
                Just("c00000b7"),
                Just("c00000f3")
            ],
            prop_oneof![0u32..460, Just(437u32), Just(452u32)]
        )
            .prop_map(|(arch, nr)| Mutation::Syscall { arch, nr }),
    ]
}

/// `body` with field `i` (modulo the number of fields after the stamp) changed by `f`.
fn edit_field(body: &str, i: usize, f: impl FnOnce(&str) -> Option<String>) -> String {
    let Some((stamp, rest)) = body.split_once("): ") else {
        return body.to_owned();
    };
    let mut fields: Vec<String> = rest.split(' ').map(str::to_owned).collect();
    let n = i % fields.len();
    match f(&fields[n]) {
        Some(new) => fields[n] = new,
        None => {
            fields.remove(n);
        }
    }
    format!("{stamp}): {}", fields.join(" "))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// The file view of any recorded file event, changed in any of these ways, is a value: it
    /// never panics, and a view it gives still has a path unless the error says why not.
    #[test]
    fn file_view_never_panics_on_mutated_records(
        pick in any::<prop::sample::Index>(),
        mutations in prop::collection::vec(mutation(), 0..6),
    ) {
        use warden_sources::audit::file::FileOp;
        use warden_sources::audit::{Event, EventEnd};
        let events = file_fixture_events();
        let mut recs = events[pick.index(events.len())].clone();
        for m in mutations {
            if recs.is_empty() {
                break;
            }
            let len = recs.len();
            match m {
                Mutation::Value { rec, field, value } => {
                    let r = &mut recs[rec % len];
                    r.1 = edit_field(&r.1, field, |f| {
                        let key = f.split_once('=').map_or(f, |(k, _)| k);
                        Some(format!("{key}={value}"))
                    });
                }
                Mutation::DropField { rec, field } => {
                    let r = &mut recs[rec % len];
                    r.1 = edit_field(&r.1, field, |_| None);
                }
                Mutation::DropRecord { rec } => {
                    recs.remove(rec % len);
                }
                Mutation::Duplicate { rec } => recs.push(recs[rec % len].clone()),
                Mutation::Syscall { arch, nr } => {
                    for r in recs.iter_mut().filter(|r| r.0 == msgtype::SYSCALL) {
                        r.1 = r.1.replace("arch=c000003e", &format!("arch={arch}"));
                        r.1 = edit_field(&r.1, 1, |_| Some(format!("syscall={nr}")));
                    }
                }
            }
        }
        let records: Vec<Record> = recs
            .iter()
            .filter_map(|(t, b)| parse_record(*t, b.as_bytes()).ok())
            .collect();
        let event = Event {
            id: records.first().map(|r| r.id).unwrap_or_default(),
            records,
            end: EventEnd::Eoe,
            truncated: false,
        };
        if let Some(Ok(op)) = FileOp::from_event(&event) {
            // A path, unless the call named its file by a descriptor (fchmod, ftruncate).
            prop_assert!(
                !op.path.is_empty()
                    || matches!(op.path_kind, warden_sources::audit::PathKind::Descriptor(_))
            );
        }
    }
}

mod fanotify_props {
    //! The fanotify event-buffer parser never panics, on arbitrary bytes and on buffers built
    //! the kernel's way and then damaged; well-formed buffers come back exactly.

    use proptest::prelude::*;
    use warden_sources::fanotify::parse::{self, InfoSpec, info_type};

    fn info() -> impl Strategy<Value = InfoSpec> {
        (
            prop_oneof![
                Just(info_type::FID),
                Just(info_type::DFID),
                Just(info_type::DFID_NAME),
                Just(info_type::OLD_DFID_NAME),
                Just(info_type::NEW_DFID_NAME),
            ],
            any::<[u8; 8]>(),
            any::<i32>(),
            prop::collection::vec(any::<u8>(), 0..40),
            prop::collection::vec(1u8..=255, 1..20),
        )
            .prop_map(|(kind, fsid, handle_type, handle, name)| {
                let named = matches!(
                    kind,
                    info_type::DFID_NAME | info_type::OLD_DFID_NAME | info_type::NEW_DFID_NAME
                );
                InfoSpec {
                    kind,
                    fsid,
                    handle_type,
                    handle,
                    name: named.then_some(name),
                }
            })
    }

    fn event() -> impl Strategy<Value = (u64, i32, Vec<InfoSpec>)> {
        (
            any::<u64>(),
            any::<i32>(),
            prop::collection::vec(info(), 0..4),
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        #[test]
        fn never_panics_on_bytes(buf in prop::collection::vec(any::<u8>(), 0..400)) {
            for ev in parse::events(&buf).flatten() {
                let _ = parse::actions(ev.mask).count();
                if let Some(f) = ev.fid {
                    let _ = parse::inode_from_handle(f.handle_type, f.handle);
                }
            }
        }

        #[test]
        fn never_panics_on_damaged_events(
            evs in prop::collection::vec(event(), 1..4),
            flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
            cut in any::<prop::sample::Index>(),
        ) {
            let mut buf: Vec<u8> = evs
                .iter()
                .flat_map(|(m, pid, infos)| parse::encode_event(*m, *pid, infos))
                .collect();
            for (at, byte) in flips {
                let i = at.index(buf.len());
                buf[i] = byte;
            }
            buf.truncate(cut.index(buf.len() + 1));
            let n = parse::events(&buf).count();
            prop_assert!(n <= buf.len() / parse::METADATA_LEN + 1);
        }

        #[test]
        fn well_formed_events_round_trip(evs in prop::collection::vec(event(), 1..4)) {
            let buf: Vec<u8> = evs
                .iter()
                .flat_map(|(m, pid, infos)| parse::encode_event(*m, *pid, infos))
                .collect();
            let parsed: Vec<_> = parse::events(&buf).collect();
            prop_assert_eq!(parsed.len(), evs.len());
            for (got, (m, pid, infos)) in parsed.into_iter().zip(&evs) {
                let got = got.unwrap();
                prop_assert_eq!(got.mask, *m);
                prop_assert_eq!(got.pid, *pid);
                // The last record of each kind wins, as in the parser.
                for spec in infos {
                    let slot = match spec.kind {
                        info_type::FID => got.fid,
                        info_type::DFID | info_type::DFID_NAME => got.dfid,
                        info_type::OLD_DFID_NAME => got.old_dfid_name,
                        _ => got.new_dfid_name,
                    };
                    let rec = slot.unwrap();
                    let last = infos
                        .iter()
                        .rev()
                        .find(|s| match spec.kind {
                            info_type::DFID | info_type::DFID_NAME => {
                                matches!(s.kind, info_type::DFID | info_type::DFID_NAME)
                            }
                            k => s.kind == k,
                        })
                        .unwrap();
                    prop_assert_eq!(rec.handle, &last.handle[..]);
                    prop_assert_eq!(rec.fsid, last.fsid);
                    prop_assert_eq!(rec.handle_type, last.handle_type);
                    prop_assert_eq!(rec.name, last.name.as_deref());
                }
            }
        }
    }
}

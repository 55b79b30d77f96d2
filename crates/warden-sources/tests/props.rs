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

//! Reading the recorded audit fixtures (`fixtures/*.txt`), shared by the fixture tests: one
//! netlink message per line, `TYPE BODY`, bytes outside printable ASCII written `\xNN`.

#![allow(dead_code)] // Each test file uses its own subset.

use warden_sources::audit::{Assembler, AssemblerConfig, Event, parse_record};

/// `\xNN` escapes back to bytes.
pub fn unescape(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && b.get(i + 1) == Some(&b'x') && i + 4 <= b.len() {
            let hex = std::str::from_utf8(&b[i + 2..i + 4]).unwrap();
            out.push(u8::from_str_radix(hex, 16).unwrap());
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

/// (type, body) per fixture line, comments skipped.
pub fn messages(text: &str) -> Vec<(u16, Vec<u8>)> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            // A damaged fixture line may have no body at all.
            let (t, body) = l.split_once(' ').unwrap_or((l, ""));
            (t.parse().expect("message type"), unescape(body))
        })
        .collect()
}

/// Every event of a fixture of valid records, in order of completion (the assembler's clock is
/// the records' own time).
pub fn events(text: &str) -> Vec<Event> {
    let mut asm = Assembler::new(AssemblerConfig::default());
    let mut out = Vec::new();
    for (t, body) in messages(text) {
        let r = parse_record(t, &body).unwrap();
        let now = r.id.time.as_millis();
        asm.push(r, now, &mut out);
    }
    asm.flush_all(&mut out);
    out
}

/// The value of a `# name: value` header line.
pub fn header<'a>(text: &'a str, name: &str) -> &'a str {
    let prefix = format!("# {name}: ");
    text.lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .unwrap_or_else(|| panic!("no `# {name}:` line"))
}

//! One audit record, parsed from the kernel's netlink text or an auditd log line. Pure, never panics.
//!
//! Kernel form (type from the netlink header): `audit(1732740000.123:4567): arch=c000003e ...`.
//! auditd log form: `[node=X ]type=SYSCALL msg=audit(...): ...`, optionally followed by a `0x1d`
//! byte and auditd's "enriched" uppercase fields (`UID="root"`), which land in
//! [`Record::enriched`]. Values are kept as bytes: quoted (`"..."`, or `'...'` for user-space
//! `msg='...'`), bare tokens, hex-decoded bytes (bare value of an encodable field, see
//! [`super::encoding::is_encodable`]), or `(null)`. Words without `=` (AVC's `avc:  denied  {
//! read } for`) are kept as fields with an empty key, so nothing is lost.

use std::fmt;

use super::encoding::{hex_decode, is_encodable};
use super::msgtype;

/// Longest record body accepted. The kernel's limit is 8970 bytes (MAX_AUDIT_MESSAGE_LENGTH);
/// auditd's enriched lines are longer, so allow headroom but stay bounded.
pub const MAX_RECORD_LEN: usize = 64 * 1024;

/// Wall-clock time of an audit event, as the kernel stamps it (ms resolution).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct AuditTime {
    /// Seconds since the Unix epoch.
    pub secs: u64,
    /// Nanoseconds within the second (the kernel gives milliseconds; always < 1e9).
    pub nanos: u32,
}

impl AuditTime {
    /// Milliseconds since the Unix epoch (saturating).
    pub fn as_millis(&self) -> u64 {
        self.secs
            .saturating_mul(1000)
            .saturating_add(u64::from(self.nanos / 1_000_000))
    }
}

/// What ties the records of one event together: the `audit(TIME:SERIAL)` stamp.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct EventId {
    /// Time of the event.
    pub time: AuditTime,
    /// The kernel's event serial (a 32-bit counter reset at boot).
    pub serial: u32,
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{:03}:{}",
            self.time.secs,
            self.time.nanos / 1_000_000,
            self.serial
        )
    }
}

/// A field value, bytes as sent (the kernel never promises UTF-8).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// `"..."` or `'...'`: the bytes between the quotes.
    Quoted(Vec<u8>),
    /// A bare hex value of an encodable field, decoded to the original bytes.
    Hex(Vec<u8>),
    /// Any other bare token: numbers, `yes`, `pts0`, `fd:00`, `(none)`, ...
    Bare(Vec<u8>),
    /// `(null)`: the kernel had no value (no key on the rule, no name, ...).
    Null,
}

impl Value {
    /// The value's bytes (decoded for [`Value::Hex`]); `None` for [`Value::Null`].
    pub fn bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Quoted(b) | Value::Hex(b) | Value::Bare(b) => Some(b),
            Value::Null => None,
        }
    }

    /// The value as UTF-8 text, if it is.
    pub fn text(&self) -> Option<&str> {
        std::str::from_utf8(self.bytes()?).ok()
    }

    /// A decimal number (`pid=42`, `exit=-2`). Only bare values count.
    pub fn as_i64(&self) -> Option<i64> {
        self.bare_str()?.parse().ok()
    }

    /// An unsigned decimal number (`uid=0`, `inode=1234`).
    pub fn as_u64(&self) -> Option<u64> {
        self.bare_str()?.parse().ok()
    }

    /// An unsigned decimal that fits 32 bits (ids, pids).
    pub fn as_u32(&self) -> Option<u32> {
        self.bare_str()?.parse().ok()
    }

    /// A hex number without `0x` (`arch=c000003e`, SYSCALL `a0=7ffd...`).
    pub fn as_hex_u64(&self) -> Option<u64> {
        let s = self.bare_str()?;
        if s.is_empty() || s.starts_with(['+', '-']) {
            return None;
        }
        u64::from_str_radix(s, 16).ok()
    }

    /// An octal number (`mode=0100755`).
    pub fn as_octal_u32(&self) -> Option<u32> {
        let s = self.bare_str()?;
        if s.is_empty() || s.starts_with(['+', '-']) {
            return None;
        }
        u32::from_str_radix(s, 8).ok()
    }

    /// `true` for `(null)`.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    fn bare_str(&self) -> Option<&str> {
        match self {
            Value::Bare(b) => std::str::from_utf8(b).ok(),
            _ => None,
        }
    }
}

/// One `key=value` pair. Bare words without `=` have an empty key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    /// Field name as written (`pid`, `a1[0]`, `old-auid`, `UID`).
    pub key: String,
    /// Its value.
    pub value: Value,
}

/// One audit record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Message type (netlink `nlmsg_type`), see [`msgtype`].
    pub rtype: u16,
    /// Time and serial: the event this record belongs to.
    pub id: EventId,
    /// The kernel's fields in the order written.
    pub fields: Vec<Field>,
    /// auditd's derived fields after the `0x1d` separator (empty for kernel records).
    pub enriched: Vec<Field>,
}

impl Record {
    /// First field named `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.fields.iter().find(|f| f.key == key).map(|f| &f.value)
    }

    /// A rough count of heap bytes held, for memory budgets.
    pub fn approx_size(&self) -> usize {
        let field = |f: &Field| f.key.len() + f.value.bytes().map_or(0, <[u8]>::len) + 64;
        96 + self.fields.iter().map(field).sum::<usize>()
            + self.enriched.iter().map(field).sum::<usize>()
    }
}

/// Why a record could not be parsed. Each kind has its own counter in [`MalformedCounters`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ParseErrorKind {
    /// Nothing but whitespace.
    Empty,
    /// Longer than [`MAX_RECORD_LEN`].
    TooLong,
    /// No `audit(` stamp where one was expected.
    MissingStamp,
    /// The seconds or fraction of the stamp are not numbers.
    BadTime,
    /// The serial is not a 32-bit number.
    BadSerial,
    /// The stamp does not end with `):`.
    BadStamp,
    /// A `"` or `'` is never closed.
    UnterminatedQuote,
    /// A field name holds a byte outside printable ASCII.
    BadKey,
    /// A log line without `type=`, or with an unknown type name.
    BadType,
    /// A log line without `msg=`.
    MissingMsg,
}

impl ParseErrorKind {
    /// All kinds, in counter order.
    pub const ALL: [ParseErrorKind; 10] = [
        ParseErrorKind::Empty,
        ParseErrorKind::TooLong,
        ParseErrorKind::MissingStamp,
        ParseErrorKind::BadTime,
        ParseErrorKind::BadSerial,
        ParseErrorKind::BadStamp,
        ParseErrorKind::UnterminatedQuote,
        ParseErrorKind::BadKey,
        ParseErrorKind::BadType,
        ParseErrorKind::MissingMsg,
    ];

    /// A short stable name, for counters and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            ParseErrorKind::Empty => "empty",
            ParseErrorKind::TooLong => "too_long",
            ParseErrorKind::MissingStamp => "missing_stamp",
            ParseErrorKind::BadTime => "bad_time",
            ParseErrorKind::BadSerial => "bad_serial",
            ParseErrorKind::BadStamp => "bad_stamp",
            ParseErrorKind::UnterminatedQuote => "unterminated_quote",
            ParseErrorKind::BadKey => "bad_key",
            ParseErrorKind::BadType => "bad_type",
            ParseErrorKind::MissingMsg => "missing_msg",
        }
    }

    fn index(self) -> usize {
        Self::ALL.iter().position(|k| *k == self).unwrap_or(0)
    }
}

impl fmt::Display for ParseErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A record that could not be parsed: what went wrong and where (byte offset in the input).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("malformed audit record: {kind} at byte {offset}")]
pub struct ParseError {
    /// What went wrong.
    pub kind: ParseErrorKind,
    /// Byte offset in the input where it was noticed.
    pub offset: usize,
}

fn err<T>(kind: ParseErrorKind, offset: usize) -> Result<T, ParseError> {
    Err(ParseError { kind, offset })
}

/// Counts of malformed records by reason. The source keeps one and reports it; a bad record is
/// counted and skipped, never fatal.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MalformedCounters {
    counts: [u64; ParseErrorKind::ALL.len()],
}

impl MalformedCounters {
    /// Count one error.
    pub fn count(&mut self, e: &ParseError) {
        let slot = &mut self.counts[e.kind.index()];
        *slot = slot.saturating_add(1);
    }

    /// How many of this kind.
    pub fn get(&self, kind: ParseErrorKind) -> u64 {
        self.counts[kind.index()]
    }

    /// All malformed records.
    pub fn total(&self) -> u64 {
        self.counts.iter().fold(0u64, |a, b| a.saturating_add(*b))
    }

    /// (kind, count) for every kind, zeros included.
    pub fn iter(&self) -> impl Iterator<Item = (ParseErrorKind, u64)> + '_ {
        ParseErrorKind::ALL.iter().map(|k| (*k, self.get(*k)))
    }
}

/// Parse a record as the kernel sends it over netlink: `rtype` from the netlink header, `body`
/// the payload (`audit(SECS.MS:SERIAL): fields`; trailing NULs and newlines are ignored).
pub fn parse_record(rtype: u16, body: &[u8]) -> Result<Record, ParseError> {
    if body.len() > MAX_RECORD_LEN {
        return err(ParseErrorKind::TooLong, MAX_RECORD_LEN);
    }
    let end = body
        .iter()
        .rposition(|&b| b != 0 && !b.is_ascii_whitespace())
        .map_or(0, |p| p + 1);
    let start = body[..end]
        .iter()
        .position(|&b| !b.is_ascii_whitespace())
        .unwrap_or(end);
    if start == end {
        return err(ParseErrorKind::Empty, 0);
    }
    let (id, fields_at) = parse_stamp(body, start, end)?;
    let (fields, enriched) = parse_fields(rtype, body, fields_at, end)?;
    Ok(Record {
        rtype,
        id,
        fields,
        enriched,
    })
}

/// Parse one auditd log line: `[node=NAME ]type=NAME msg=audit(...): fields[\x1dENRICHED]`.
pub fn parse_log_line(line: &[u8]) -> Result<Record, ParseError> {
    if line.len() > MAX_RECORD_LEN {
        return err(ParseErrorKind::TooLong, MAX_RECORD_LEN);
    }
    let mut pos = skip_ws(line, 0, line.len());
    if pos == line.len()
        || line[pos..]
            .iter()
            .all(|&b| b == 0 || b.is_ascii_whitespace())
    {
        return err(ParseErrorKind::Empty, 0);
    }
    let mut rtype = None;
    loop {
        if pos >= line.len() {
            return err(ParseErrorKind::MissingMsg, pos);
        }
        if line[pos..].starts_with(b"msg=") {
            pos += 4;
            break;
        }
        let tok_end = line[pos..]
            .iter()
            .position(|&b| is_sep(b))
            .map_or(line.len(), |p| pos + p);
        let tok = &line[pos..tok_end];
        if let Some(name) = tok.strip_prefix(b"type=") {
            let name = std::str::from_utf8(name).ok();
            match name.and_then(msgtype::from_name) {
                Some(t) => rtype = Some(t),
                None => return err(ParseErrorKind::BadType, pos),
            }
        } else if !tok.starts_with(b"node=") {
            return err(ParseErrorKind::MissingMsg, pos);
        }
        pos = skip_ws(line, tok_end, line.len());
    }
    let Some(rtype) = rtype else {
        return err(ParseErrorKind::BadType, 0);
    };
    // Reuse the netlink path on the rest, fixing up offsets so errors point into `line`.
    parse_record(rtype, &line[pos..]).map_err(|e| ParseError {
        kind: e.kind,
        offset: e.offset + pos,
    })
}

fn is_sep(b: u8) -> bool {
    b.is_ascii_whitespace() || b == 0x1d || b == 0
}

fn skip_ws(s: &[u8], mut pos: usize, end: usize) -> usize {
    while pos < end && (s[pos].is_ascii_whitespace() || s[pos] == 0) {
        pos += 1;
    }
    pos
}

/// `audit(SECS.FRAC:SERIAL):` starting at `pos`; returns the id and where fields begin.
fn parse_stamp(s: &[u8], pos: usize, end: usize) -> Result<(EventId, usize), ParseError> {
    let s = &s[..end];
    if !s[pos..].starts_with(b"audit(") {
        return err(ParseErrorKind::MissingStamp, pos);
    }
    let mut p = pos + 6;
    let secs_start = p;
    while p < end && s[p].is_ascii_digit() {
        p += 1;
    }
    let secs = parse_dec(&s[secs_start..p]).ok_or(ParseError {
        kind: ParseErrorKind::BadTime,
        offset: secs_start,
    })?;
    if p >= end || s[p] != b'.' {
        return err(ParseErrorKind::BadTime, p);
    }
    p += 1;
    let frac_start = p;
    while p < end && s[p].is_ascii_digit() {
        p += 1;
    }
    let frac = &s[frac_start..p];
    if frac.is_empty() || frac.len() > 9 {
        return err(ParseErrorKind::BadTime, frac_start);
    }
    let mut nanos: u32 = 0;
    for i in 0..9 {
        nanos = nanos * 10 + frac.get(i).map_or(0, |d| u32::from(d - b'0'));
    }
    if p >= end || s[p] != b':' {
        return err(ParseErrorKind::BadTime, p);
    }
    p += 1;
    let serial_start = p;
    while p < end && s[p].is_ascii_digit() {
        p += 1;
    }
    let serial = parse_dec(&s[serial_start..p])
        .and_then(|v| u32::try_from(v).ok())
        .ok_or(ParseError {
            kind: ParseErrorKind::BadSerial,
            offset: serial_start,
        })?;
    if !s[p..].starts_with(b"):") {
        return err(ParseErrorKind::BadStamp, p);
    }
    let id = EventId {
        time: AuditTime { secs, nanos },
        serial,
    };
    Ok((id, p + 2))
}

fn parse_dec(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |acc, &d| {
        acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

type Fields = (Vec<Field>, Vec<Field>);

/// The `key=value` list in `s[pos..end]`; a `0x1d` switches to auditd's enriched fields.
fn parse_fields(rtype: u16, s: &[u8], mut pos: usize, end: usize) -> Result<Fields, ParseError> {
    let mut fields = Vec::new();
    let mut enriched = Vec::new();
    let mut in_enriched = false;
    loop {
        while pos < end && is_sep(s[pos]) {
            if s[pos] == 0x1d {
                in_enriched = true;
            }
            pos += 1;
        }
        if pos >= end {
            break;
        }
        let key_start = pos;
        while pos < end && !is_sep(s[pos]) && s[pos] != b'=' {
            if s[pos] == b'"' || s[pos] == b'\'' {
                // A quote before any `=`: a quoted bare word (rare; AVC/SELinux free text).
                break;
            }
            pos += 1;
        }
        let field = if pos < end && s[pos] == b'=' {
            let key = &s[key_start..pos];
            if key.is_empty() || !key.iter().all(|b| (0x21..=0x7e).contains(b)) {
                return err(ParseErrorKind::BadKey, key_start);
            }
            // Checked printable ASCII above, so this never fails.
            let key = String::from_utf8_lossy(key).into_owned();
            pos += 1;
            let (value, next) = parse_value(s, pos, end)?;
            pos = next;
            let value = classify(rtype, &key, value, in_enriched);
            Field { key, value }
        } else if pos < end && (s[pos] == b'"' || s[pos] == b'\'') && pos == key_start {
            let (value, next) = parse_value(s, pos, end)?;
            pos = next;
            Field {
                key: String::new(),
                value: match value {
                    Raw::Quoted(b) => Value::Quoted(b.to_vec()),
                    Raw::Bare(b) => Value::Bare(b.to_vec()),
                },
            }
        } else {
            while pos < end && !is_sep(s[pos]) {
                pos += 1;
            }
            Field {
                key: String::new(),
                value: Value::Bare(s[key_start..pos].to_vec()),
            }
        };
        if in_enriched {
            enriched.push(field);
        } else {
            fields.push(field);
        }
    }
    Ok((fields, enriched))
}

enum Raw<'a> {
    Quoted(&'a [u8]),
    Bare(&'a [u8]),
}

/// The value starting at `pos`: quoted up to the matching quote, else up to the next separator.
fn parse_value(s: &[u8], pos: usize, end: usize) -> Result<(Raw<'_>, usize), ParseError> {
    if pos < end && (s[pos] == b'"' || s[pos] == b'\'') {
        let q = s[pos];
        let Some(close) = s[pos + 1..end].iter().position(|&b| b == q) else {
            return err(ParseErrorKind::UnterminatedQuote, pos);
        };
        let inner = &s[pos + 1..pos + 1 + close];
        return Ok((Raw::Quoted(inner), pos + close + 2));
    }
    let mut p = pos;
    while p < end && !is_sep(s[p]) {
        p += 1;
    }
    Ok((Raw::Bare(&s[pos..p]), p))
}

fn classify(rtype: u16, key: &str, raw: Raw<'_>, enriched: bool) -> Value {
    match raw {
        Raw::Quoted(b) => Value::Quoted(b.to_vec()),
        Raw::Bare(b"(null)") => Value::Null,
        Raw::Bare(b) => {
            if !enriched
                && !b.is_empty()
                && is_encodable(rtype, key)
                && let Some(decoded) = hex_decode(b)
            {
                return Value::Hex(decoded);
            }
            Value::Bare(b.to_vec())
        }
    }
}

/// Why a field of a record could not be read in the form asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldProblem {
    /// The field is absent (or `(null)`) but the kernel always writes it.
    Missing(&'static str),
    /// The field is present but not in the expected form.
    Malformed(&'static str),
}

impl Record {
    /// A field converted by `f`; `None` when absent or `(null)`, an error when present but not
    /// in that form.
    pub fn opt<T>(
        &self,
        key: &'static str,
        f: fn(&Value) -> Option<T>,
    ) -> Result<Option<T>, FieldProblem> {
        match self.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => f(v).map(Some).ok_or(FieldProblem::Malformed(key)),
        }
    }

    /// A field the kernel always writes, converted by `f`.
    pub fn req<T>(&self, key: &'static str, f: fn(&Value) -> Option<T>) -> Result<T, FieldProblem> {
        self.opt(key, f)?.ok_or(FieldProblem::Missing(key))
    }

    /// A field's bytes (hex-decoded when it was encoded), copied.
    pub fn bytes_of(&self, key: &str) -> Option<Vec<u8>> {
        self.get(key).and_then(Value::bytes).map(<[u8]>::to_vec)
    }

    /// A SYSCALL record's `success=yes|no`; `None` when absent.
    pub fn success(&self) -> Result<Option<bool>, FieldProblem> {
        match self.get("success").and_then(Value::text) {
            None => Ok(None),
            Some("yes") => Ok(Some(true)),
            Some("no") => Ok(Some(false)),
            Some(_) => Err(FieldProblem::Malformed("success")),
        }
    }

    /// The rule keys of a SYSCALL record: several keys on one rule are joined by 0x01.
    pub fn rule_keys(&self) -> Vec<Vec<u8>> {
        self.bytes_of("key")
            .map(|k| k.split(|b| *b == 0x01).map(<[u8]>::to_vec).collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(rtype: u16, body: &str) -> Record {
        parse_record(rtype, body.as_bytes()).unwrap()
    }

    #[test]
    fn syscall_record() {
        let r = rec(
            msgtype::SYSCALL,
            "audit(1732740000.123:4567): arch=c000003e syscall=59 success=yes exit=0 \
             a0=55d1 a1=55d2 a2=55d3 a3=8 items=2 ppid=1 pid=2 auid=1000 uid=0 gid=0 euid=0 \
             suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=3 comm=\"bash\" \
             exe=\"/usr/bin/bash\" subj=unconfined key=\"warden\"",
        );
        assert_eq!(r.id.time.secs, 1_732_740_000);
        assert_eq!(r.id.time.nanos, 123_000_000);
        assert_eq!(r.id.serial, 4567);
        assert_eq!(r.id.to_string(), "1732740000.123:4567");
        assert_eq!(r.get("arch").unwrap().as_hex_u64(), Some(0xc000_003e));
        assert_eq!(r.get("a0").unwrap(), &Value::Bare(b"55d1".to_vec()));
        assert_eq!(r.get("a3").unwrap().as_hex_u64(), Some(8));
        assert_eq!(r.get("comm").unwrap().bytes(), Some(&b"bash"[..]));
        assert_eq!(r.get("key").unwrap(), &Value::Quoted(b"warden".to_vec()));
        assert_eq!(r.get("exit").unwrap().as_i64(), Some(0));
        assert_eq!(r.fields.len(), 26);
        assert!(r.enriched.is_empty());
    }

    #[test]
    fn hex_and_null_values() {
        let r = rec(
            msgtype::SYSCALL,
            "audit(1.5:1): comm=6D7920636F6D6D exe=(null) key=(null) tty=(none) a0=ABCD",
        );
        assert_eq!(r.id.time.nanos, 500_000_000);
        assert_eq!(r.get("comm").unwrap(), &Value::Hex(b"my comm".to_vec()));
        assert!(r.get("exe").unwrap().is_null());
        assert!(r.get("key").unwrap().is_null());
        assert_eq!(r.get("tty").unwrap().text(), Some("(none)"));
        assert_eq!(r.get("a0").unwrap(), &Value::Bare(b"ABCD".to_vec()));
        // EXECVE args are encodable; a quoted hex-looking value stays text.
        let e = rec(
            msgtype::EXECVE,
            "audit(1.000:2): argc=2 a0=\"ABCD\" a1=41420A",
        );
        assert_eq!(e.get("a0").unwrap(), &Value::Quoted(b"ABCD".to_vec()));
        assert_eq!(e.get("a1").unwrap(), &Value::Hex(b"AB\n".to_vec()));
        assert_eq!(e.get("argc").unwrap().as_u32(), Some(2));
    }

    #[test]
    fn encodable_but_not_hex_stays_bare() {
        let r = rec(
            msgtype::PATH,
            "audit(1.000:2): item=0 name=ABC nametype=NORMAL",
        );
        assert_eq!(r.get("name").unwrap(), &Value::Bare(b"ABC".to_vec()));
    }

    #[test]
    fn eoe_and_trailing_nul() {
        let r = parse_record(msgtype::EOE, b"audit(1732740000.123:4567): \0").unwrap();
        assert!(r.fields.is_empty());
        assert_eq!(r.id.serial, 4567);
        let r = parse_record(msgtype::CWD, b"audit(1.000:9):  cwd=\"/root\"\n").unwrap();
        assert_eq!(r.get("cwd").unwrap().text(), Some("/root"));
    }

    #[test]
    fn user_message_single_quotes() {
        let r = rec(
            1105,
            "audit(1.000:3): pid=5 uid=0 auid=0 ses=1 subj=unconfined \
             msg='op=PAM:session_open grantors=pam_unix acct=\"root\" exe=\"/usr/sbin/cron\" \
             hostname=? addr=? terminal=cron res=success'",
        );
        let msg = r.get("msg").unwrap();
        assert!(matches!(msg, Value::Quoted(_)));
        assert!(msg.text().unwrap().starts_with("op=PAM:session_open"));
        assert!(msg.text().unwrap().ends_with("res=success"));
    }

    #[test]
    fn avc_bare_words_kept() {
        let r = rec(
            msgtype::AVC,
            "audit(1.000:4): avc:  denied  { read } for  pid=1 comm=\"cat\" name=\"shadow\"",
        );
        let words: Vec<_> = r
            .fields
            .iter()
            .filter(|f| f.key.is_empty())
            .map(|f| f.value.text().unwrap())
            .collect();
        assert_eq!(words, ["avc:", "denied", "{", "read", "}", "for"]);
        assert_eq!(r.get("pid").unwrap().as_u32(), Some(1));
    }

    #[test]
    fn log_line_forms() {
        let r = parse_log_line(
            b"type=SYSCALL msg=audit(1732740000.123:4567): arch=c000003e syscall=59 \
              key=\"warden\"\x1dARCH=x86_64 SYSCALL=execve UID=\"root\"",
        )
        .unwrap();
        assert_eq!(r.rtype, msgtype::SYSCALL);
        assert_eq!(r.fields.len(), 3);
        assert_eq!(r.enriched.len(), 3);
        assert_eq!(r.enriched[2].key, "UID");
        assert_eq!(r.enriched[2].value.text(), Some("root"));
        let r =
            parse_log_line(b"node=web1 type=UNKNOWN[1334] msg=audit(1.000:1): prog-id=7").unwrap();
        assert_eq!(r.rtype, 1334);
        let r = parse_log_line(b"type=EOE msg=audit(1.000:1): ").unwrap();
        assert_eq!(r.rtype, msgtype::EOE);
    }

    #[test]
    fn errors_have_reasons() {
        let kind = |rtype, s: &[u8]| parse_record(rtype, s).unwrap_err().kind;
        assert_eq!(kind(1300, b""), ParseErrorKind::Empty);
        assert_eq!(kind(1300, b" \n\0"), ParseErrorKind::Empty);
        assert_eq!(kind(1300, b"arch=1"), ParseErrorKind::MissingStamp);
        assert_eq!(kind(1300, b"audit(x.1:2): a=1"), ParseErrorKind::BadTime);
        assert_eq!(
            kind(1300, b"audit(1.1234567890:2):"),
            ParseErrorKind::BadTime
        );
        assert_eq!(
            kind(1300, b"audit(1.1:99999999999):"),
            ParseErrorKind::BadSerial
        );
        assert_eq!(kind(1300, b"audit(1.1:2) a=1"), ParseErrorKind::BadStamp);
        assert_eq!(
            kind(1300, b"audit(99999999999999999999.1:2):"),
            ParseErrorKind::BadTime
        );
        assert_eq!(
            kind(1300, b"audit(1.1:2): comm=\"bash"),
            ParseErrorKind::UnterminatedQuote
        );
        assert_eq!(kind(1300, b"audit(1.1:2): =1"), ParseErrorKind::BadKey);
        assert_eq!(
            kind(1300, b"audit(1.1:2): k\xffy=1"),
            ParseErrorKind::BadKey
        );
        let big = vec![b'a'; MAX_RECORD_LEN + 1];
        assert_eq!(kind(1300, &big), ParseErrorKind::TooLong);
        let line = |s: &[u8]| parse_log_line(s).unwrap_err().kind;
        assert_eq!(
            line(b"type=NOPE msg=audit(1.1:2):"),
            ParseErrorKind::BadType
        );
        assert_eq!(line(b"msg=audit(1.1:2):"), ParseErrorKind::BadType);
        assert_eq!(line(b"type=SYSCALL"), ParseErrorKind::MissingMsg);
        assert_eq!(line(b"garbage here"), ParseErrorKind::MissingMsg);
        assert_eq!(line(b"   "), ParseErrorKind::Empty);
        let e = parse_log_line(b"type=SYSCALL msg=audit(1.1:x):").unwrap_err();
        assert_eq!(e.offset, 27);
        assert_eq!(
            e.to_string(),
            "malformed audit record: bad_serial at byte 27"
        );
    }

    #[test]
    fn counters() {
        let mut c = MalformedCounters::default();
        for s in [&b""[..], b"x", b"y", b"audit(1.1:2): \"open"] {
            if let Err(e) = parse_record(1300, s) {
                c.count(&e);
            }
        }
        assert_eq!(c.get(ParseErrorKind::MissingStamp), 2);
        assert_eq!(c.get(ParseErrorKind::Empty), 1);
        assert_eq!(c.get(ParseErrorKind::UnterminatedQuote), 1);
        assert_eq!(c.total(), 4);
        assert_eq!(c.iter().count(), ParseErrorKind::ALL.len());
    }
}

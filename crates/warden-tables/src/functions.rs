//! osquery's extra SQL functions (regex_match, split, sha256, in_cidr_block, ...).
//!
//! Each function follows the behaviour of osquery's `osquery/sql/sqlite_*.cpp`: the same
//! names, argument counts, NULL handling, error messages and quirks (`concat_ws` keeps a
//! separator before a trailing NULL, `in_cidr_block` excludes an IPv4 network's own and
//! broadcast addresses). The bundled SQLite is built without its math functions, so the ones
//! osquery adds (`sqrt`, `log`, `power`, `ceil`, ...) are provided here too, together with the
//! `version`, `version_arch`, `version_dpkg` and `version_rhel` collations.

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use base64::Engine as _;
use md5::Md5;
use regex::Regex;
use rusqlite::functions::{Context, FunctionFlags};
use rusqlite::types::{ToSql, ToSqlOutput, ValueRef};
use rusqlite::{Connection, Error, Result};
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// Longest regular expression `regex_match` and `regex_split` accept (osquery's default).
const REGEX_MAX_SIZE: usize = 256;

/// Registers every function and collation on a connection.
pub fn register(conn: &Connection) -> Result<()> {
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;

    // Strings.
    conn.create_scalar_function("split", 3, flags, |ctx| {
        split_function(ctx, |input, tokens| Ok(token_split(input, tokens)))
    })?;
    conn.create_scalar_function("regex_split", 3, flags, |ctx| {
        split_function(ctx, |input, pattern| {
            if pattern.len() > REGEX_MAX_SIZE {
                return Err(user_error("Invalid regex"));
            }
            let re = ctx.get_or_create_aux(1, |_| {
                Regex::new(pattern).map_err(|_| "Invalid regex".to_string())
            })?;
            Ok(regex_split(&re, input))
        })
    })?;
    conn.create_scalar_function("regex_match", 3, flags, regex_match)?;
    conn.create_scalar_function("inet_aton", 1, flags, |ctx| {
        Ok(text_arg(ctx, 0).and_then(|a| inet_aton(&String::from_utf8_lossy(&a))))
    })?;
    conn.create_scalar_function("concat", -1, flags, |ctx| Ok(concat(ctx, &[], 0)))?;
    conn.create_scalar_function("concat_ws", -1, flags, |ctx| {
        if ctx.is_empty() {
            return Err(user_error("Missing separator to concat_ws"));
        }
        let sep = text_arg(ctx, 0).map(Cow::into_owned).unwrap_or_default();
        Ok(concat(ctx, &sep, 1))
    })?;

    // Hashing and encoding.
    conn.create_scalar_function("md5", 1, flags, |ctx| Ok(hash_arg::<Md5>(ctx)))?;
    conn.create_scalar_function("sha1", 1, flags, |ctx| Ok(hash_arg::<Sha1>(ctx)))?;
    conn.create_scalar_function("sha256", 1, flags, |ctx| Ok(hash_arg::<Sha256>(ctx)))?;
    conn.create_scalar_function("to_base64", 1, flags, |ctx| {
        Ok(text_arg(ctx, 0).map(|v| RawText(to_base64(&v).into_bytes())))
    })?;
    conn.create_scalar_function("conditional_to_base64", 1, flags, |ctx| {
        Ok(text_arg(ctx, 0).map(|v| {
            if is_printable(&v) {
                RawText(v.into_owned())
            } else {
                RawText(to_base64(&v).into_bytes())
            }
        }))
    })?;
    conn.create_scalar_function("from_base64", 1, flags, |ctx| {
        Ok(text_arg(ctx, 0).map(|v| RawText(from_base64(&v))))
    })?;
    for (name, strict) in [("community_id_v1", false), ("community_id_v1_strict", true)] {
        for n_args in [5, 6] {
            conn.create_scalar_function(name, n_args, flags, move |ctx| {
                match community_id_args(ctx) {
                    Ok(id) => Ok(Some(id)),
                    Err(message) if strict => Err(user_error(message)),
                    Err(_) => Ok(None),
                }
            })?;
        }
    }

    // Network and filesystem.
    conn.create_scalar_function("in_cidr_block", 2, flags, |ctx| {
        let (ValueRef::Text(cidr), ValueRef::Text(ip)) = (ctx.get_raw(0), ctx.get_raw(1)) else {
            return Err(user_error(match ctx.get_raw(0) {
                ValueRef::Text(_) => "IP address must be a string",
                _ => "CIDR must be a string",
            }));
        };
        in_cidr_block(&String::from_utf8_lossy(cidr), &String::from_utf8_lossy(ip))
            .map(i64::from)
            .map_err(user_error)
    })?;
    conn.create_scalar_function("parent_directory", 1, flags, |ctx| {
        let ValueRef::Text(path) = ctx.get_raw(0) else {
            return Err(user_error(
                "Invalid inputs to parent_directory, TEXT was expected",
            ));
        };
        Ok(parent_directory(path).map(|p| RawText(p.to_vec())))
    })?;

    // Versions.
    conn.create_scalar_function("version_compare", -1, flags, version_compare_function)?;
    for (name, opts) in [
        ("version", VersionOpts::GENERIC),
        ("version_arch", VersionOpts::ARCH),
        ("version_dpkg", VersionOpts::DPKG),
        ("version_rhel", VersionOpts::RHEL),
    ] {
        conn.create_collation(name, move |a: &str, b: &str| {
            version_compare(a.as_bytes(), b.as_bytes(), opts).cmp(&0)
        })?;
    }

    register_math(conn, flags)
}

/// A user-facing error from a function, with osquery's message.
fn user_error(message: impl Into<String>) -> Error {
    Error::UserFunctionError(message.into().into())
}

/// Text that may not be valid UTF-8, returned as SQL TEXT (as osquery does for decoded bytes).
struct RawText(Vec<u8>);

impl ToSql for RawText {
    fn to_sql(&self) -> Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(ValueRef::Text(&self.0)))
    }
}

/// An argument as SQLite's `sqlite3_value_text` gives it; `None` for NULL.
fn text_arg<'a>(ctx: &'a Context<'_>, i: usize) -> Option<Cow<'a, [u8]>> {
    match ctx.get_raw(i) {
        ValueRef::Null => None,
        ValueRef::Integer(v) => Some(Cow::Owned(v.to_string().into_bytes())),
        ValueRef::Real(v) => Some(Cow::Owned(real_text(v).into_bytes())),
        ValueRef::Text(t) | ValueRef::Blob(t) => Some(Cow::Borrowed(t)),
    }
}

/// A floating-point value as SQLite renders it as text (`%!.15g`: `1.0`, `0.1`, `1.0e+20`).
fn real_text(v: f64) -> String {
    if v.is_nan() {
        return String::new();
    }
    if v.is_infinite() {
        return if v > 0.0 { "Inf" } else { "-Inf" }.to_string();
    }
    let sci = format!("{v:.14e}");
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let trim = |s: &str| -> String {
        if s.contains('.') {
            let t = s.trim_end_matches('0');
            if t.ends_with('.') {
                format!("{t}0")
            } else {
                t.to_string()
            }
        } else {
            format!("{s}.0")
        }
    };
    if !(-4..15).contains(&exponent) {
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", trim(mantissa), exponent.abs())
    } else {
        let decimals = usize::try_from(14 - exponent).unwrap_or(0);
        trim(&format!("{v:.decimals$}"))
    }
}

/// The longest numeric prefix of a text, as SQLite converts text to a number (`"12abc"` → 12).
fn numeric_prefix(text: &[u8]) -> f64 {
    let s = String::from_utf8_lossy(text);
    let s = s.trim_start();
    let bytes = s.as_bytes();
    let mut end = 0;
    let mut best = 0.0;
    let mut i = 0;
    if matches!(bytes.first(), Some(b'+' | b'-')) {
        i = 1;
    }
    let mut seen_dot = false;
    let mut seen_exp = false;
    while i < bytes.len() {
        let c = bytes[i];
        let ok = c.is_ascii_digit()
            || (c == b'.' && !seen_dot && !seen_exp)
            || ((c == b'e' || c == b'E') && !seen_exp && i > 0)
            || ((c == b'+' || c == b'-') && matches!(bytes[i - 1], b'e' | b'E'));
        if !ok {
            break;
        }
        seen_dot |= c == b'.';
        seen_exp |= c == b'e' || c == b'E';
        i += 1;
        if let Ok(v) = s[..i].parse::<f64>() {
            best = v;
            end = i;
        }
    }
    if end == 0 { 0.0 } else { best }
}

/// An argument as `sqlite3_value_double` gives it; `None` for NULL.
fn double_arg(v: ValueRef<'_>) -> Option<f64> {
    match v {
        ValueRef::Null => None,
        ValueRef::Integer(i) => Some(i as f64),
        ValueRef::Real(f) => Some(f),
        ValueRef::Text(t) | ValueRef::Blob(t) => Some(numeric_prefix(t)),
    }
}

/// An argument as `sqlite3_value_int` gives it (a 32-bit integer).
fn int_arg(v: ValueRef<'_>) -> i32 {
    match v {
        ValueRef::Null => 0,
        ValueRef::Integer(i) => i as i32,
        ValueRef::Real(f) => f as i64 as i32,
        ValueRef::Text(t) | ValueRef::Blob(t) => numeric_prefix(t) as i64 as i32,
    }
}

// ---------------------------------------------------------------------------------------------
// Strings

/// Shared body of `split` and `regex_split`: NULL in → NULL out, empty token → error, then the
/// piece at the index (NULL past the end).
fn split_function(
    ctx: &Context<'_>,
    splitter: impl Fn(&str, &str) -> Result<Vec<String>>,
) -> Result<Option<String>> {
    if (0..3).any(|i| ctx.get_raw(i) == ValueRef::Null) {
        return Ok(None);
    }
    let input = text_arg(ctx, 0).map(|t| String::from_utf8_lossy(&t).into_owned());
    let token = text_arg(ctx, 1).map(|t| String::from_utf8_lossy(&t).into_owned());
    let (Some(input), Some(token)) = (input, token) else {
        return Ok(None);
    };
    if token.is_empty() {
        return Err(user_error("Invalid input to split function"));
    }
    let Ok(index) = usize::try_from(int_arg(ctx.get_raw(2))) else {
        return Ok(None);
    };
    Ok(splitter(&input, &token)?.into_iter().nth(index))
}

/// osquery's `split`: every character of `tokens` separates; empty pieces are dropped and the
/// rest trimmed of whitespace.
fn token_split(input: &str, tokens: &str) -> Vec<String> {
    input
        .split(|c| tokens.contains(c))
        .filter(|piece| !piece.is_empty())
        .map(|piece| piece.trim().to_string())
        .collect()
}

/// The pieces between matches, like C++'s `sregex_token_iterator` with -1: a trailing empty
/// piece is dropped (and so an empty input has no pieces).
fn regex_split(re: &Regex, input: &str) -> Vec<String> {
    let mut pieces: Vec<String> = re.split(input).map(str::to_string).collect();
    if pieces.last().is_some_and(String::is_empty) {
        pieces.pop();
    }
    pieces
}

/// `regex_match(input, pattern, group)`: the group of the first match, NULL without a match.
fn regex_match(ctx: &mut Context<'_>) -> Result<Option<String>> {
    if (0..3).any(|i| ctx.get_raw(i) == ValueRef::Null) {
        return Ok(None);
    }
    let pattern = text_arg(ctx, 1).map(Cow::into_owned).unwrap_or_default();
    if pattern.len() > REGEX_MAX_SIZE {
        return Err(user_error(format!(
            "Invalid regex: too big, max size is {REGEX_MAX_SIZE} bytes"
        )));
    }
    let re: Arc<Regex> = ctx.get_or_create_aux(1, |_| {
        Regex::new(&String::from_utf8_lossy(&pattern)).map_err(|_| "Invalid regex".to_string())
    })?;
    let input = text_arg(ctx, 0).map(|t| String::from_utf8_lossy(&t).into_owned());
    let Some(input) = input else { return Ok(None) };
    let Ok(index) = usize::try_from(int_arg(ctx.get_raw(2))) else {
        return Ok(None);
    };
    let Some(caps) = re.captures(&input) else {
        return Ok(None);
    };
    if index >= caps.len() {
        return Ok(None);
    }
    // A group that did not take part in the match is the empty string, as in C++.
    Ok(Some(
        caps.get(index)
            .map_or_else(String::new, |m| m.as_str().to_string()),
    ))
}

/// `concat` and `concat_ws`: NULLs are skipped, but (as in osquery) the separator still follows
/// every non-NULL value that is not the last argument. No arguments → NULL.
fn concat(ctx: &Context<'_>, sep: &[u8], start: usize) -> Option<RawText> {
    if ctx.len() <= start {
        return None;
    }
    let mut out = Vec::new();
    for i in start..ctx.len() {
        let Some(text) = text_arg(ctx, i) else {
            continue;
        };
        out.extend_from_slice(&text);
        if i + 1 < ctx.len() {
            out.extend_from_slice(sep);
        }
    }
    Some(RawText(out))
}

/// `inet_aton`: a dotted IPv4 address as an integer; NULL for IPv6 or anything else.
fn inet_aton(address: &str) -> Option<i64> {
    if address.contains(':') {
        return None;
    }
    address
        .parse::<Ipv4Addr>()
        .ok()
        .map(|ip| i64::from(u32::from(ip)))
}

// ---------------------------------------------------------------------------------------------
// Hashing and encoding

/// Hex digest of the argument's text up to its first NUL (osquery uses `strlen`).
fn hash_arg<D: Digest>(ctx: &Context<'_>) -> Option<String> {
    let text = text_arg(ctx, 0)?;
    let end = text.iter().position(|b| *b == 0).unwrap_or(text.len());
    Some(hex(&D::digest(&text[..end])))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn to_base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// osquery's decoding: newlines and trailing `=` are ignored; undecodable input gives "".
fn from_base64(text: &[u8]) -> Vec<u8> {
    let cleaned: Vec<u8> = text
        .iter()
        .copied()
        .filter(|b| *b != b'\n' && *b != b'\r')
        .collect();
    let end = cleaned
        .iter()
        .rposition(|b| *b != b'=')
        .map_or(0, |i| i + 1);
    base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(&cleaned[..end])
        .unwrap_or_default()
}

/// osquery's printable test: no control characters and nothing at or above 0x7f.
fn is_printable(bytes: &[u8]) -> bool {
    bytes.iter().all(|b| (0x20..0x7f).contains(b))
}

/// Reads and checks the arguments of `community_id_v1`, with osquery's error messages.
fn community_id_args(ctx: &Context<'_>) -> std::result::Result<String, &'static str> {
    let mut seed = 0u16;
    if ctx.len() == 6 {
        let ValueRef::Integer(s) = ctx.get_raw(5) else {
            return Err("Community ID seed must be an integer");
        };
        let s = i16::try_from(s).map_err(|_| "Community ID seed must fit in 2 bytes")?;
        seed = s as u16;
    }
    let (ValueRef::Text(saddr), ValueRef::Text(daddr)) = (ctx.get_raw(0), ctx.get_raw(1)) else {
        return Err("Community ID IPs must be strings");
    };
    let saddr: IpAddr = String::from_utf8_lossy(saddr)
        .parse()
        .map_err(|_| "Community ID saddr cannot be parsed as IP")?;
    let daddr: IpAddr = String::from_utf8_lossy(daddr)
        .parse()
        .map_err(|_| "Community ID daddr cannot be parsed as IP")?;
    let (ValueRef::Integer(sport), ValueRef::Integer(dport)) = (ctx.get_raw(2), ctx.get_raw(3))
    else {
        return Err("Community ID ports must be integers");
    };
    let (Ok(sport), Ok(dport)) = (u16::try_from(sport), u16::try_from(dport)) else {
        return Err("Community ID ports must fit in 2 bytes");
    };
    let ValueRef::Integer(proto) = ctx.get_raw(4) else {
        return Err("Community ID protocol must be an integer");
    };
    let proto = u8::try_from(proto).map_err(|_| "Community ID protocol must fit in 1 byte")?;
    Ok(community_id_v1(saddr, daddr, sport, dport, proto, seed))
}

/// Community ID v1 (corelight's community-id-spec): base64 SHA-1 over seed, the ordered
/// endpoints and the protocol.
fn community_id_v1(
    saddr: IpAddr,
    daddr: IpAddr,
    sport: u16,
    dport: u16,
    proto: u8,
    seed: u16,
) -> String {
    let (a, b, ap, bp) = if saddr < daddr || (saddr == daddr && sport < dport) {
        (saddr, daddr, sport, dport)
    } else {
        (daddr, saddr, dport, sport)
    };
    let octets = |ip: IpAddr| match ip {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    };
    let mut bytes = seed.to_be_bytes().to_vec();
    bytes.extend(octets(a));
    bytes.extend(octets(b));
    bytes.push(proto);
    bytes.push(0);
    bytes.extend(ap.to_be_bytes());
    bytes.extend(bp.to_be_bytes());
    format!("1:{}", to_base64(&Sha1::digest(&bytes)))
}

// ---------------------------------------------------------------------------------------------
// Network and filesystem

/// Whether an address lies in a CIDR block, with osquery's (boost's `hosts()`) ranges: an IPv4
/// block excludes its network and broadcast addresses unless it is a /32; an IPv6 block
/// includes all its addresses.
fn in_cidr_block(cidr: &str, ip: &str) -> std::result::Result<bool, &'static str> {
    let ip: IpAddr = ip.parse().map_err(|_| "IP address cannot be parsed")?;
    let split = |max: u32| -> Option<(&str, u32)> {
        let (addr, prefix) = cidr.split_once('/')?;
        if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let prefix: u32 = prefix.parse().ok()?;
        (prefix <= max).then_some((addr, prefix))
    };
    match ip {
        IpAddr::V4(ip) => {
            let (addr, prefix) = split(32)
                .and_then(|(a, p)| Some((a.parse::<Ipv4Addr>().ok()?, p)))
                .ok_or("CIDR for IP address v4 cannot be parsed")?;
            let (addr, ip) = (u32::from(addr), u32::from(ip));
            let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
            let (begin, end) = if prefix == 32 {
                (addr, addr.wrapping_add(1))
            } else {
                ((addr & mask).wrapping_add(1), (addr & mask) | !mask)
            };
            Ok(ip >= begin && ip < end)
        }
        IpAddr::V6(ip) => {
            let (addr, prefix) = split(128)
                .and_then(|(a, p)| Some((a.parse::<Ipv6Addr>().ok()?, p)))
                .ok_or("CIDR for IP address v6 cannot be parsed")?;
            let (addr, ip) = (u128::from(addr), u128::from(ip));
            let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
            let begin = addr & mask;
            let end = (addr | !mask).wrapping_add(1);
            Ok(ip >= begin && ip < end)
        }
    }
}

/// Everything before the last `/`; `None` when there is no `/`.
fn parent_directory(path: &[u8]) -> Option<&[u8]> {
    let end = path.iter().position(|b| *b == 0).unwrap_or(path.len());
    let path = &path[..end];
    path.iter().rposition(|b| *b == b'/').map(|i| &path[..i])
}

// ---------------------------------------------------------------------------------------------
// Versions

/// Which of osquery's version-comparison rules apply.
#[derive(Clone, Copy, Debug)]
struct VersionOpts {
    /// A version with an epoch (`1:`) sorts above one without.
    epoch: bool,
    /// Delimiters compare to each other (`~` < `-` < `^` < `.` < `:`).
    delim_precedence: bool,
    /// Look at what remains of the longer version (`~` less, `^` more, `-` equal).
    comp_remaining: bool,
    /// With a remainder, a segment difference counts only after a non-digit.
    remainder_precedence: bool,
}

impl VersionOpts {
    const GENERIC: VersionOpts = VersionOpts {
        epoch: false,
        delim_precedence: false,
        comp_remaining: false,
        remainder_precedence: false,
    };
    const ARCH: VersionOpts = VersionOpts {
        epoch: true,
        delim_precedence: false,
        comp_remaining: true,
        remainder_precedence: true,
    };
    const DPKG: VersionOpts = VersionOpts {
        epoch: true,
        delim_precedence: true,
        comp_remaining: false,
        remainder_precedence: false,
    };
    const RHEL: VersionOpts = VersionOpts {
        epoch: true,
        delim_precedence: true,
        comp_remaining: true,
        remainder_precedence: false,
    };
}

fn delimiter_rank(c: u8) -> i64 {
    match c {
        b'~' => 1,
        b'-' => 2,
        b'^' => 3,
        b'.' => 4,
        b':' => 5,
        _ => 0,
    }
}

/// Compares two version strings segment by segment: negative, zero or positive.
///
/// Within a segment (up to a delimiter) the first differing character decides, unless one
/// segment is longer, so `1.10` > `1.9`.
fn version_compare(l: &[u8], r: &[u8], opts: VersionOpts) -> i64 {
    match (l.is_empty(), r.is_empty()) {
        (true, true) => return 0,
        (true, false) => return -1,
        (false, true) => return 1,
        _ => {}
    }
    if l == r {
        return 0;
    }
    if opts.epoch {
        let colon = |v: &[u8]| v.iter().position(|c| *c == b':');
        let diff = match (colon(l), colon(r)) {
            (Some(a), Some(b)) => a as i64 - b as i64,
            (Some(_), None) => 1,
            (None, Some(_)) => -1,
            (None, None) => 0,
        };
        if diff != 0 {
            return diff;
        }
    }
    // Characters compare as C's signed `char`.
    let ch = |c: u8| i64::from(c as i8);
    let mut first_diff = 0;
    let min = l.len().min(r.len());
    for i in 0..min {
        let (ld, rd) = (delimiter_rank(l[i]), delimiter_rank(r[i]));
        if ld == 0 && rd == 0 {
            if first_diff == 0 {
                first_diff = ch(l[i]) - ch(r[i]);
            }
            continue;
        } else if ld == 0 {
            return 1;
        } else if rd == 0 {
            return -1;
        }
        if first_diff != 0 {
            return first_diff;
        }
        if opts.delim_precedence && ld != rd {
            return ld - rd;
        }
    }
    if l.len() == r.len() {
        return first_diff;
    }
    compare_remainder(l, r, min, first_diff, opts)
}

/// Decides between versions where one is a prefix-length longer than the other.
fn compare_remainder(l: &[u8], r: &[u8], pos: usize, diff: i64, opts: VersionOpts) -> i64 {
    // `longer` is the version with text left at `pos`; `shorter` ended there. `sign` turns
    // "the longer one is greater" into the result's sign.
    let (shorter, longer, sign) = if l.len() == pos {
        (l, r, -1)
    } else {
        (r, l, 1)
    };
    let next = longer[pos];
    if opts.comp_remaining {
        match next {
            b'~' => return -sign,
            b'-' => return 0,
            b'^' => return sign,
            _ => {
                if diff != 0 && (!opts.remainder_precedence || !shorter[pos - 1].is_ascii_digit()) {
                    return diff;
                }
            }
        }
    } else if diff != 0 && delimiter_rank(next) > 0 {
        return diff;
    }
    l.len() as i64 - r.len() as i64
}

/// `version_compare(a, b [, 'ARCH' | 'DPKG' | 'RHEL'])`: -1, 0 or 1.
fn version_compare_function(ctx: &mut Context<'_>) -> Result<i64> {
    let two = "Must provide two version strings to compare.";
    if ctx.len() < 2 {
        return Err(user_error(two));
    }
    let (ValueRef::Text(l), ValueRef::Text(r)) = (ctx.get_raw(0), ctx.get_raw(1)) else {
        return Err(user_error(two));
    };
    let mut opts = VersionOpts::GENERIC;
    if ctx.len() > 2 {
        let ValueRef::Text(flavor) = ctx.get_raw(2) else {
            return Err(user_error("The optional third parameter is not a string."));
        };
        opts = match flavor.to_ascii_uppercase().as_slice() {
            b"ARCH" => VersionOpts::ARCH,
            b"DPKG" => VersionOpts::DPKG,
            b"RHEL" => VersionOpts::RHEL,
            _ => {
                return Err(user_error(
                    "The optional third parameter does not match one of: (ARCH, DPKG, RHEL).",
                ));
            }
        };
    }
    let nul = |v: &[u8]| v.iter().position(|b| *b == 0).unwrap_or(v.len());
    let (l, r) = (&l[..nul(l)], &r[..nul(r)]);
    Ok(version_compare(l, r, opts).clamp(-1, 1))
}

// ---------------------------------------------------------------------------------------------
// Math

/// osquery reports a math error as the C library's errno text.
const EDOM: &str = "Numerical argument out of domain";
const ERANGE: &str = "Numerical result out of range";

/// The C library's errno for a result: a NaN from numbers is a domain error, an infinity from
/// finite numbers a range error.
fn math_errno(inputs: &[f64], result: f64) -> Option<&'static str> {
    if result.is_nan() && !inputs.iter().any(|v| v.is_nan()) {
        Some(EDOM)
    } else if result.is_infinite() && inputs.iter().all(|v| v.is_finite()) {
        Some(ERANGE)
    } else {
        None
    }
}

fn register_math(conn: &Connection, flags: FunctionFlags) -> Result<()> {
    // (name, function, whether errno is checked).
    type Unary = (&'static str, fn(f64) -> f64, bool);
    let unary: [Unary; 13] = [
        ("sqrt", f64::sqrt, true),
        ("acos", f64::acos, true),
        ("asin", f64::asin, true),
        ("atan", f64::atan, true),
        ("cos", f64::cos, true),
        ("sin", f64::sin, true),
        // osquery uses the long-double tanl and expl, whose range is far wider than a double's:
        // they do not fail where double versions would overflow.
        ("tan", f64::tan, false),
        ("cot", |x| 1.0 / x.tan(), false),
        ("exp", f64::exp, false),
        ("log", f64::ln, true),
        ("log10", f64::log10, true),
        ("degrees", f64::to_degrees, false),
        ("radians", f64::to_radians, false),
    ];
    for (name, f, check) in unary {
        conn.create_scalar_function(name, 1, flags, move |ctx| {
            let Some(x) = double_arg(ctx.get_raw(0)) else {
                return Ok(None);
            };
            let y = f(x);
            match math_errno(&[x], y).filter(|_| check) {
                Some(message) => Err(user_error(message)),
                None => Ok(Some(y)),
            }
        })?;
    }
    conn.create_scalar_function("power", 2, flags, |ctx| {
        let (Some(x), Some(y)) = (double_arg(ctx.get_raw(0)), double_arg(ctx.get_raw(1))) else {
            return Ok(None);
        };
        let v = x.powf(y);
        match math_errno(&[x, y], v) {
            Some(message) => Err(user_error(message)),
            None => Ok(Some(v)),
        }
    })?;
    for (name, f) in [("ceil", f64::ceil as fn(f64) -> f64), ("floor", f64::floor)] {
        conn.create_scalar_function(name, 1, flags, move |ctx| {
            Ok(match ctx.get_raw(0) {
                ValueRef::Null => None,
                ValueRef::Integer(i) => Some(i),
                other => double_arg(other).map(|x| f(x) as i64),
            })
        })?;
    }
    conn.create_scalar_function("pi", 0, flags, |_| Ok(std::f64::consts::PI))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reals_render_like_sqlite() {
        assert_eq!(real_text(1.0), "1.0");
        assert_eq!(real_text(1.5), "1.5");
        assert_eq!(real_text(0.1 + 0.2), "0.3");
        assert_eq!(real_text(-250.0), "-250.0");
        assert_eq!(real_text(1e20), "1.0e+20");
        assert_eq!(real_text(1.5e-7), "1.5e-07");
    }

    #[test]
    fn numeric_prefixes_convert_like_sqlite() {
        assert_eq!(numeric_prefix(b"12abc"), 12.0);
        assert_eq!(numeric_prefix(b" -1.5e2x"), -150.0);
        assert_eq!(numeric_prefix(b"abc"), 0.0);
        assert_eq!(numeric_prefix(b"3e"), 3.0);
    }

    #[test]
    fn token_split_drops_empty_pieces_and_trims() {
        assert_eq!(token_split("a,b,,c", ","), vec!["a", "b", "c"]);
        assert_eq!(token_split("192.168.0.1", ".0"), vec!["192", "168", "1"]);
        assert_eq!(token_split("a , b", ","), vec!["a", "b"]);
    }

    #[test]
    fn regex_split_drops_a_trailing_empty_piece() {
        let re = Regex::new(r"\.").unwrap();
        assert_eq!(regex_split(&re, "a.b."), vec!["a", "b"]);
        assert_eq!(regex_split(&re, ".a"), vec!["", "a"]);
        assert!(regex_split(&re, "").is_empty());
    }

    #[test]
    fn cidr_ranges_follow_boost_hosts() {
        assert_eq!(in_cidr_block("10.0.0.0/8", "10.1.2.3"), Ok(true));
        assert_eq!(in_cidr_block("10.0.0.0/8", "11.0.0.1"), Ok(false));
        assert_eq!(in_cidr_block("192.168.1.0/24", "192.168.1.0"), Ok(false));
        assert_eq!(in_cidr_block("192.168.1.0/24", "192.168.1.255"), Ok(false));
        assert_eq!(in_cidr_block("192.168.1.7/32", "192.168.1.7"), Ok(true));
        assert_eq!(in_cidr_block("2001:db8::/32", "2001:db8::1"), Ok(true));
        assert_eq!(in_cidr_block("2001:db8::/32", "2001:db8::"), Ok(true));
        assert_eq!(in_cidr_block("2001:db8::/32", "2001:db9::1"), Ok(false));
        assert!(in_cidr_block("10.0.0.0", "10.0.0.1").is_err());
        assert!(in_cidr_block("10.0.0.0/33", "10.0.0.1").is_err());
        assert!(in_cidr_block("2001:db8::/32", "10.0.0.1").is_err());
        assert!(in_cidr_block("10.0.0.0/8", "nope").is_err());
    }

    #[test]
    fn versions_compare_like_osquery() {
        let g = VersionOpts::GENERIC;
        let cmp = |a: &str, b: &str, o| version_compare(a.as_bytes(), b.as_bytes(), o).signum();
        assert_eq!(cmp("1.10", "1.9", g), 1);
        assert_eq!(cmp("1.2.3", "1.2.3", g), 0);
        assert_eq!(cmp("1.0", "1.0.1", g), -1);
        assert_eq!(cmp("2.0", "10.0", g), -1);
        assert_eq!(cmp("1:1.0", "2.0", VersionOpts::DPKG), 1);
        assert_eq!(cmp("1.0~rc1", "1.0", VersionOpts::RHEL), -1);
        assert_eq!(cmp("1.0^git1", "1.0", VersionOpts::RHEL), 1);
        assert_eq!(cmp("1.0-1", "1.0", VersionOpts::RHEL), 0);
        assert_eq!(cmp("1.0~rc1", "1.0", VersionOpts::ARCH), -1);
        assert_eq!(cmp("1.0-2", "1.0.1", VersionOpts::DPKG), -1);
        assert_eq!(cmp("", "1", g), -1);
    }

    #[test]
    fn community_id_matches_the_spec_example() {
        // TCP 128.232.110.120:34855 -> 66.35.250.204:80 from corelight's community-id-spec.
        let id = community_id_v1(
            "128.232.110.120".parse().unwrap(),
            "66.35.250.204".parse().unwrap(),
            34855,
            80,
            6,
            0,
        );
        assert_eq!(id, "1:LQU9qZlK+B5F3KDmev6m5PMibrg=");
    }

    #[test]
    fn math_errors_follow_errno() {
        assert_eq!(math_errno(&[-1.0], (-1.0f64).sqrt()), Some(EDOM));
        assert_eq!(math_errno(&[0.0], 0.0f64.ln()), Some(ERANGE));
        assert_eq!(math_errno(&[4.0], 2.0), None);
        assert_eq!(math_errno(&[f64::NAN], f64::NAN), None);
    }
}

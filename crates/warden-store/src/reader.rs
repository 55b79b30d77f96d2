//! Read-only access: filters, streamed queries in `seq` order, tailing with `after_seq`.
//!
//! A query is streamed block by block (keyset pagination on the blocks' `first_seq`, one short
//! read per block), so the iterator owns no SQLite statement and a reader never pins an old
//! WAL snapshot for long. Because `seq` only grows, blocks read from successive snapshots still
//! form a consistent result: a batch committed by the writer is one block, seen whole or not
//! at all.
//!
//! SQLite narrows the blocks by `seq` and time range; every other filter runs on the decoded
//! events, borrowed from the block, so only the events returned are copied. What an
//! [`EventFilter`] means is defined once, by [`EventFilter::matches_view`]; offline readers of
//! JSON lines use the same predicate.

use std::collections::{HashSet, VecDeque};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use crate::block::{self, BodyView, EventView, ProcessFilter};
use crate::writer::{DiskUsage, last_seq};
use crate::{BUSY_TIMEOUT, Result, StoreError, StoredEvent, StoredEventRow};

/// Which events a query returns. Empty lists and `None` do not constrain; the conditions of
/// different fields are combined with AND, the values of one list with OR.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// Events at or after this time (UTC ns, inclusive).
    pub since: Option<i64>,
    /// Events before this time (UTC ns, exclusive).
    pub until: Option<i64>,
    /// Events of these pids.
    pub pids: Vec<i64>,
    /// Events of these processes (`entity_id`); with `match_parent_entity`, also the events
    /// whose `parent_entity_id` is one of them (the processes' children).
    pub entity_ids: Vec<String>,
    /// See `entity_ids`.
    pub match_parent_entity: bool,
    /// Events of these uids.
    pub uids: Vec<i64>,
    /// Events of these classes (`exec`, `exit`...).
    pub classes: Vec<String>,
    /// Events of these kinds: `(class, None)` is every event of the class, `(class,
    /// Some(action))` only that action (`("file", Some("rename"))`). Combined with `classes`
    /// by AND, like any two fields.
    pub kinds: Vec<(String, Option<String>)>,
    /// SQLite GLOB on `exe` (case-sensitive; `*`, `?`, `[...]`); an exec's also on its `path`,
    /// the script its interpreter runs (`/bin/sh` running `/tmp/stage2`).
    pub exe_glob: Option<String>,
    /// SQLite GLOB on `path`, or on `old_path` (a renamed file is found by either name).
    pub path_glob: Option<String>,
    /// Events with one of these ports at either end of the socket.
    pub ports: Vec<u16>,
    /// Events with an IP address at either end inside one of these networks, each an address
    /// and a prefix length (`10.0.0.0`, 8). IPv4-mapped IPv6 addresses (`::ffff:10.1.2.3`, what a
    /// dual-stack socket reports for an IPv4 peer) count as the IPv4 address.
    pub networks: Vec<(IpAddr, u8)>,
    /// Events with this outcome. Events that have none (fork, exit, loss) match neither.
    pub success: Option<bool>,
    /// Events naming a sha256 that begins with this (lowercase hex): an exec's image or script,
    /// the content a file change left. Read from the event itself (decoded), so it is looked at
    /// last.
    pub sha256_prefix: Option<String>,
    /// Network events naming a domain that matches this glob, lowercase (`*.example.com`): a
    /// DNS message's question, or the name the process looked up for the peer. Read from the
    /// event itself, as `sha256_prefix`.
    pub domain_glob: Option<String>,
    /// Events with `seq` greater than this (the cursor of `--follow` and of shippers).
    pub after_seq: Option<i64>,
    /// At most this many events.
    pub limit: Option<u64>,
    /// Newest first (descending `seq`) instead of oldest first.
    pub newest_first: bool,
}

impl EventFilter {
    /// Whether `event` passes this filter: the definition of every field above (`after_seq`,
    /// `limit` and `newest_first` are about iteration, not about an event, and are ignored).
    /// [`Reader::query`] gives exactly the stored events this accepts.
    pub fn matches(&self, event: &StoredEvent) -> bool {
        self.matches_view(&event.view())
    }

    /// [`EventFilter::matches`] on a borrowed event.
    pub fn matches_view(&self, event: &EventView<'_>) -> bool {
        self.matches_naming(event, |id| self.entity_ids.iter().any(|e| e == id))
    }

    /// [`EventFilter::matches_view`], with `entity_ids`' membership asked of `named` (a set
    /// built from them, where the list is long).
    fn matches_naming(&self, event: &EventView<'_>, named: impl Fn(&str) -> bool) -> bool {
        let any_of = |list: &[i64], value: Option<i64>| {
            list.is_empty() || value.is_some_and(|v| list.contains(&v))
        };
        let own_entity = named(event.entity_id);
        let parent_entity = self.match_parent_entity && event.parent_entity_id.is_some_and(&named);
        let glob =
            |pattern: &str, value: Option<&str>| value.is_some_and(|v| glob_matches(pattern, v));
        self.since.is_none_or(|since| event.time_ns >= since)
            && self.until.is_none_or(|until| event.time_ns < until)
            && any_of(&self.pids, Some(event.pid))
            && (self.entity_ids.is_empty() || own_entity || parent_entity)
            && any_of(&self.uids, event.uid)
            && (self.classes.is_empty() || self.classes.iter().any(|c| c == event.class))
            && self.kind_matches(event)
            && self.exe_glob.as_deref().is_none_or(|g| {
                glob(g, event.exe) || (event.class == "exec" && glob(g, event.path))
            })
            && self
                .path_glob
                .as_deref()
                .is_none_or(|g| glob(g, event.path) || glob(g, event.old_path))
            && (self.ports.is_empty()
                || [event.local_port, event.remote_port]
                    .into_iter()
                    .flatten()
                    .any(|p| self.ports.iter().any(|&want| i64::from(want) == p)))
            && self.success.is_none_or(|want| event.success == Some(want))
            && self.network_matches(event)
            && self
                .sha256_prefix
                .as_deref()
                .is_none_or(|prefix| names_digest(event.body, prefix))
            && self
                .domain_glob
                .as_deref()
                .is_none_or(|g| event.class == "network" && names_domain(event.body, g))
    }

    /// Whether a block with this process filter (`None`: a block written without one) may hold
    /// an event this filter accepts: the pids and entity ids asked for (an entity's children
    /// included: the filter holds parents' ids too).
    fn block_may_match(&self, processes: Option<&[u8]>) -> bool {
        let Some(filter) = processes.and_then(ProcessFilter::from_bytes) else {
            return true;
        };
        (self.pids.is_empty() || self.pids.iter().any(|&pid| filter.may_name_pid(pid)))
            && (self.entity_ids.is_empty()
                || self.entity_ids.iter().any(|id| filter.may_name_entity(id)))
    }

    fn kind_matches(&self, event: &EventView<'_>) -> bool {
        self.kinds.is_empty()
            || self.kinds.iter().any(|(class, action)| {
                class == event.class && action.as_deref().is_none_or(|a| a == event.action)
            })
    }

    /// Whether an address of `event` is in one of the networks.
    fn network_matches(&self, event: &EventView<'_>) -> bool {
        self.networks.is_empty()
            || [event.local_address, event.remote_address]
                .into_iter()
                .filter_map(|a| a?.parse::<IpAddr>().ok())
                .any(|ip| {
                    self.networks
                        .iter()
                        .any(|&(network, prefix)| network_contains(network, prefix, ip))
                })
    }
}

/// A read-only connection to a store. Never blocks the writer (WAL); open one per thread.
pub struct Reader {
    conn: Connection,
    path: PathBuf,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Brings an older store up to this build's schema with a short-lived write connection.
fn upgrade(path: &Path) -> Result<()> {
    let mut conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    crate::schema::migrate(&mut conn)
}

impl Reader {
    /// Opens the database at `path` read-only.
    pub(crate) fn open(path: &Path) -> Result<Reader> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_URI,
        )?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.execute_batch("PRAGMA query_only = 1")?;
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version > crate::schema::SCHEMA_VERSION {
            return Err(StoreError::SchemaTooNew {
                found: version,
                supported: crate::schema::SCHEMA_VERSION,
            });
        }
        if version < crate::schema::SCHEMA_VERSION {
            // A store written by an older Warden: upgrade it in place when this user may
            // (migrations are additive and run under the write lock), so reading never fails
            // on a column the old schema lacks.
            upgrade(path).map_err(|e| StoreError::SchemaTooOld {
                found: version,
                supported: crate::schema::SCHEMA_VERSION,
                why: e.to_string(),
            })?;
        }
        Ok(Reader {
            conn,
            path: path.to_path_buf(),
        })
    }

    /// The events matching `filter`, in `seq` order (ascending, or descending with
    /// `newest_first`), streamed block by block. An SQL error ends the iteration after being
    /// yielded once; a damaged block ([`StoreError::CorruptBlock`]) is yielded after the events
    /// read from it, and the iteration goes on with the next block.
    pub fn query(&self, filter: &EventFilter) -> impl Iterator<Item = Result<StoredEventRow>> + '_ {
        EventRows::new(&self.conn, filter.clone())
    }

    /// Number of events matching `filter` (ignoring `limit`).
    pub fn count(&self, filter: &EventFilter) -> Result<u64> {
        let all = EventFilter {
            limit: None,
            ..filter.clone()
        };
        self.query(&all).try_fold(0, |n, row| row.map(|_| n + 1))
    }

    /// The highest `seq` ever assigned, or `None` for a store that never held an event. A
    /// follower starts from here to see only new events.
    pub fn last_seq(&self) -> Result<Option<i64>> {
        last_seq(&self.conn)
    }

    /// Current size of the database file and its WAL.
    pub fn disk_usage(&self) -> Result<DiskUsage> {
        DiskUsage::of(&self.path)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The underlying read-only connection, for ad-hoc SQL (the `event_blocks` table).
    pub fn connection(&self) -> &Connection {
        &self.conn
    }
}

/// Whether `ip` is inside `network`/`prefix`. Families never mix, except that an IPv4-mapped
/// IPv6 address is taken as the IPv4 address it maps.
fn network_contains(network: IpAddr, prefix: u8, ip: IpAddr) -> bool {
    match (network.to_canonical(), ip.to_canonical()) {
        (IpAddr::V4(net), IpAddr::V4(ip)) => {
            let mask = u32::MAX
                .checked_shl(32 - u32::from(prefix.min(32)))
                .unwrap_or(0);
            u32::from(net) & mask == u32::from(ip) & mask
        }
        (IpAddr::V6(net), IpAddr::V6(ip)) => {
            let mask = u128::MAX
                .checked_shl(128 - u32::from(prefix.min(128)))
                .unwrap_or(0);
            u128::from(net) & mask == u128::from(ip) & mask
        }
        _ => false,
    }
}

/// One position of a GLOB pattern.
#[derive(Debug, PartialEq)]
enum GlobToken {
    /// `*`: any run of characters.
    AnyRun,
    /// `?`: one character.
    AnyOne,
    /// `[...]` or `[^...]`: one character in (or, negated, outside) the ranges.
    Set {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
    Literal(char),
}

/// A GLOB pattern as tokens, with SQLite's reading of `[...]`: a `]` right after `[` or `[^` is
/// literal, so is a `-` first or last. `None` for an unterminated `[`, which SQLite never matches.
fn glob_tokens(pattern: &str) -> Option<Vec<GlobToken>> {
    let mut tokens = Vec::new();
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        tokens.push(match c {
            '*' => GlobToken::AnyRun,
            '?' => GlobToken::AnyOne,
            '[' => {
                let negated = chars.next_if_eq(&'^').is_some();
                let mut ranges: Vec<(char, char)> = Vec::new();
                // The character a `-` would start a range from: none at the start, after the
                // leading literal `]` or after a range (SQLite's `prior_c`).
                let mut range_start: Option<char> = None;
                if chars.next_if_eq(&']').is_some() {
                    ranges.push((']', ']'));
                }
                loop {
                    let c = chars.next()?;
                    if c == ']' {
                        break;
                    }
                    match range_start {
                        Some(start) if c == '-' && chars.peek().is_some_and(|&n| n != ']') => {
                            let end = chars.next()?;
                            ranges.pop();
                            ranges.push((start, end));
                            range_start = None;
                        }
                        _ => {
                            ranges.push((c, c));
                            range_start = Some(c);
                        }
                    }
                }
                GlobToken::Set { negated, ranges }
            }
            other => GlobToken::Literal(other),
        });
    }
    Some(tokens)
}

/// SQLite's `text GLOB pattern` in Rust, so that [`EventFilter::matches`] agrees with the SQL:
/// case-sensitive, by character, `*` `?` and `[...]`/`[^...]`, no escape character.
/// Whether the event names a sha256 beginning with `prefix` (an image's, a content's); a body
/// that does not decode names none.
fn names_digest(body: BodyView<'_>, prefix: &str) -> bool {
    let starts = |digest: &str| digest.starts_with(prefix);
    match body {
        BodyView::Event(event) => event.kind.digests().any(starts),
        BodyView::Encoded { encoding, bytes } => warden_core::Event::decode(encoding, bytes)
            .is_ok_and(|event| event.kind.digests().any(starts)),
        BodyView::Json(line) => serde_json::from_str::<serde_json::Value>(line).is_ok_and(|v| {
            [
                &v["process"]["hash"]["sha256"],
                &v["warden"]["script"]["hash"]["sha256"],
                &v["file"]["hash"]["sha256"],
            ]
            .into_iter()
            .filter_map(serde_json::Value::as_str)
            .any(starts)
        }),
    }
}

/// Whether the event of `body` names a domain matching `glob` ([`EventFilter::domain_glob`]),
/// compared in lowercase (DNS names are case-insensitive).
fn names_domain(body: BodyView<'_>, glob: &str) -> bool {
    let matches = |name: &str| glob_matches(glob, &name.to_ascii_lowercase());
    match body {
        BodyView::Event(event) => event.kind.domains().any(matches),
        BodyView::Encoded { encoding, bytes } => warden_core::Event::decode(encoding, bytes)
            .is_ok_and(|event| event.kind.domains().any(matches)),
        BodyView::Json(line) => serde_json::from_str::<serde_json::Value>(line).is_ok_and(|v| {
            [
                &v["dns"]["question"]["name"],
                &v["destination"]["domain"],
                &v["source"]["domain"],
                &v["tls"]["client"]["server_name"],
                &v["url"]["domain"],
            ]
            .into_iter()
            .filter_map(serde_json::Value::as_str)
            .any(matches)
        }),
    }
}

fn glob_matches(pattern: &str, text: &str) -> bool {
    let Some(tokens) = glob_tokens(pattern) else {
        return false;
    };
    let one = |token: &GlobToken, c: char| match token {
        GlobToken::AnyOne => true,
        GlobToken::Literal(l) => *l == c,
        GlobToken::Set { negated, ranges } => {
            ranges.iter().any(|&(lo, hi)| (lo..=hi).contains(&c)) != *negated
        }
        GlobToken::AnyRun => false,
    };
    let text: Vec<char> = text.chars().collect();
    // Greedy with backtracking to the last `*`: linear in practice, never exponential.
    let (mut p, mut t) = (0, 0);
    let mut last_run: Option<(usize, usize)> = None;
    while t < text.len() {
        match tokens.get(p) {
            Some(GlobToken::AnyRun) => {
                last_run = Some((p, t));
                p += 1;
            }
            Some(token) if one(token, text[t]) => {
                p += 1;
                t += 1;
            }
            _ => match last_run {
                Some((run_p, run_t)) => {
                    last_run = Some((run_p, run_t + 1));
                    p = run_p + 1;
                    t = run_t + 1;
                }
                None => return false,
            },
        }
    }
    tokens[p..].iter().all(|token| *token == GlobToken::AnyRun)
}

/// The next block overlapping the time range with events after `after_seq`, in `seq` order:
/// its `first_seq` and process filter (parameters: cursor, `after_seq`, `since`, `until`).
/// The events are read apart ([`BLOCK_EVENTS`]), only for a block the filter may match.
const NEXT_BLOCK: &str = "SELECT first_seq, processes FROM event_blocks \
     WHERE first_seq > ?1 AND last_seq > ?2 AND max_time_ns >= ?3 AND min_time_ns < ?4 \
     ORDER BY first_seq LIMIT 1";
/// [`NEXT_BLOCK`] for `newest_first`: the cursor is an upper bound.
const PREVIOUS_BLOCK: &str = "SELECT first_seq, processes FROM event_blocks \
     WHERE first_seq < ?1 AND last_seq > ?2 AND max_time_ns >= ?3 AND min_time_ns < ?4 \
     ORDER BY first_seq DESC LIMIT 1";
/// A block's events.
const BLOCK_EVENTS: &str = "SELECT events FROM event_blocks WHERE first_seq = ?1";

struct EventRows<'a> {
    conn: &'a Connection,
    filter: EventFilter,
    /// Blocks whose events were read (the others were ruled out by their process filter).
    blocks_read: u64,
    /// A block that could not be decoded whole: yielded after its readable events, and the
    /// query goes on with the next block (an SQL error ends it).
    damaged: Option<StoreError>,
    /// `first_seq` of the block read last.
    cursor: Option<i64>,
    buffer: VecDeque<StoredEventRow>,
    remaining: Option<u64>,
    done: bool,
    unpacker: block::Unpacker,
    /// The filter's entity ids as a set, when there are many (a process tree's generation):
    /// every event is looked up in them.
    entity_set: Option<HashSet<String>>,
}

impl EventRows<'_> {
    fn new(conn: &Connection, filter: EventFilter) -> EventRows<'_> {
        EventRows {
            conn,
            blocks_read: 0,
            damaged: None,
            cursor: None,
            buffer: VecDeque::new(),
            remaining: filter.limit,
            done: filter.limit == Some(0),
            unpacker: block::Unpacker::default(),
            entity_set: (filter.entity_ids.len() >= ENTITY_SET_FROM)
                .then(|| filter.entity_ids.iter().cloned().collect()),
            filter,
        }
    }
}

/// Entity ids beyond which a query looks them up in a set rather than the list.
const ENTITY_SET_FROM: usize = 16;

impl EventRows<'_> {
    /// Reads the next block and buffers its matching events.
    fn fetch_block(&mut self) -> Result<()> {
        let f = &self.filter;
        let (sql, start) = if f.newest_first {
            (PREVIOUS_BLOCK, i64::MAX)
        } else {
            (NEXT_BLOCK, i64::MIN)
        };
        // Blocks whose process filter rules the query's processes out are skipped unread.
        let (first_seq, bytes) = loop {
            let header: Option<(i64, Option<Vec<u8>>)> = self
                .conn
                .prepare_cached(sql)?
                .query_row(
                    params![
                        self.cursor.unwrap_or(start),
                        f.after_seq.unwrap_or(i64::MIN),
                        f.since.unwrap_or(i64::MIN),
                        f.until.unwrap_or(i64::MAX),
                    ],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            let Some((first_seq, processes)) = header else {
                self.done = true;
                return Ok(());
            };
            self.cursor = Some(first_seq);
            if !f.block_may_match(processes.as_deref()) {
                continue;
            }
            let bytes: Option<Vec<u8>> = self
                .conn
                .prepare_cached(BLOCK_EVENTS)?
                .query_row([first_seq], |r| r.get(0))
                .optional()?;
            // None: retention deleted the block between the two reads.
            if let Some(bytes) = bytes {
                self.blocks_read += 1;
                break (first_seq, bytes);
            }
        };
        let mut rows = Vec::new();
        let unpacked = match self.unpacker.unpack(&bytes) {
            Ok(unpacked) => unpacked,
            Err(why) => {
                self.damaged = Some(block::corrupt(first_seq, why));
                return Ok(());
            }
        };
        for (i, view) in block::decode(unpacked).enumerate() {
            let view = match view {
                Ok(view) => view,
                Err(why) => {
                    // The events before the damage are kept; the error follows them.
                    self.damaged = Some(block::corrupt(first_seq, why));
                    break;
                }
            };
            let seq = first_seq + i as i64;
            let matches = match &self.entity_set {
                Some(set) => f.matches_naming(&view, |id| set.contains(id)),
                None => f.matches_view(&view),
            };
            if f.after_seq.is_none_or(|after| seq > after) && matches {
                match view.to_event() {
                    Ok(event) => rows.push(StoredEventRow { seq, event }),
                    Err(why) => {
                        self.damaged = Some(block::corrupt(first_seq, format!("seq {seq}: {why}")));
                        break;
                    }
                }
            }
        }
        if f.newest_first {
            rows.reverse();
        }
        self.buffer.extend(rows);
        Ok(())
    }
}

impl Iterator for EventRows<'_> {
    type Item = Result<StoredEventRow>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == Some(0) {
            return None;
        }
        // A block may hold no matching event: read on until one does or none is left.
        while self.buffer.is_empty() && !self.done {
            if let Some(damaged) = self.damaged.take() {
                return Some(Err(damaged));
            }
            if let Err(e) = self.fetch_block() {
                self.done = true;
                self.buffer.clear();
                return Some(Err(e));
            }
        }
        let Some(row) = self.buffer.pop_front() else {
            return self.damaged.take().map(Err);
        };
        if let Some(r) = self.remaining.as_mut() {
            *r -= 1;
        }
        Some(Ok(row))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Retention, Store};

    #[test]
    fn process_queries_read_only_the_blocks_that_may_hold_the_process() {
        let dir = tempfile::tempdir().unwrap();
        let retention = Retention {
            max_age: std::time::Duration::ZERO,
            max_bytes: 0,
            keep_free: crate::KeepFree::NONE,
        };
        let store = Store::open(dir.path(), retention).unwrap();
        let mut writer = store.writer().unwrap();
        // 300 blocks of 20 events, each block its own 20 processes, children of one parent.
        for b in 0..300i64 {
            let events: Vec<StoredEvent> = (0..20)
                .map(|i| StoredEvent {
                    time_ns: b,
                    class: "exec".into(),
                    action: "exec".into(),
                    entity_id: format!("7ba6d36d-{}-{}", 20 * b + i, 1000 + b),
                    parent_entity_id: Some(format!("7ba6d36d-{b}-1")),
                    pid: 20 * b + i,
                    body: crate::Body::Json("{}".into()),
                    ..StoredEvent::default()
                })
                .collect();
            writer.insert_batch(&events).unwrap();
        }
        let reader = Store::reader(dir.path()).unwrap();
        let read = |filter: EventFilter| {
            let mut rows = EventRows::new(&reader.conn, filter);
            let found: usize = rows.by_ref().try_fold(0, |n, r| r.map(|_| n + 1)).unwrap();
            (found, rows.blocks_read)
        };
        let (found, blocks) = read(EventFilter {
            pids: vec![4321],
            ..EventFilter::default()
        });
        assert_eq!(found, 1);
        assert!(blocks <= 30, "{blocks} of 300 blocks read for one pid");
        let (found, blocks) = read(EventFilter {
            entity_ids: vec!["7ba6d36d-150-1".into()],
            match_parent_entity: true,
            ..EventFilter::default()
        });
        assert_eq!(found, 20, "the children");
        assert!(blocks <= 30, "{blocks} of 300 blocks read for one process");
        // Many processes at once (a tree's generation) are looked up in a set: the same events.
        let many: Vec<String> = (0..ENTITY_SET_FROM as i64 + 4)
            .map(|i| format!("7ba6d36d-{}-{}", 20 * 150 + i, 1150))
            .collect();
        let (found, _) = read(EventFilter {
            entity_ids: many.clone(),
            ..EventFilter::default()
        });
        assert_eq!(found, 20, "the block's events, each named once");
        let (found, _) = read(EventFilter {
            entity_ids: many,
            match_parent_entity: true,
            ..EventFilter::default()
        });
        assert_eq!(found, 20, "none of them has children");
        // Other filters read every block.
        let (found, blocks) = read(EventFilter {
            uids: vec![0],
            ..EventFilter::default()
        });
        assert_eq!((found, blocks), (0, 300));
    }

    #[test]
    fn glob_agrees_with_sqlite() {
        let conn = Connection::open_in_memory().unwrap();
        let patterns = [
            "*", "", "a*", "*c", "a?c", "a[bc]d", "a[^b]d", "[]]x", "[^]]x", "[a-c]*", "[-a]",
            "[a-]", "[a-c-e]", "[]-a]", "a[", "[x", "*a*b*", "é?", "[^a-z]*", "**", "?*?",
            "/etc/*", "*/curl", "a[*]b", "[a-cx-z]",
        ];
        let texts = [
            "",
            "a",
            "abc",
            "abd",
            "acd",
            "aad",
            "]x",
            "xx",
            "b",
            "-",
            "c",
            "d",
            "e",
            "]",
            "ab",
            "aXbYb",
            "é1",
            "Z9",
            "/etc/passwd",
            "/usr/bin/curl",
            "a*b",
            "y",
            "a[",
        ];
        for pattern in patterns {
            for text in texts {
                let sqlite: bool = conn
                    .query_row("SELECT ?1 GLOB ?2", [text, pattern], |r| r.get(0))
                    .unwrap();
                assert_eq!(
                    glob_matches(pattern, text),
                    sqlite,
                    "{text:?} GLOB {pattern:?}"
                );
            }
        }
    }

    #[test]
    fn networks_contain_their_addresses_only() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(network_contains(ip("10.0.0.0"), 8, ip("10.200.1.2")));
        assert!(!network_contains(ip("10.0.0.0"), 8, ip("11.0.0.1")));
        assert!(network_contains(ip("10.1.2.3"), 32, ip("10.1.2.3")));
        assert!(!network_contains(ip("10.1.2.3"), 32, ip("10.1.2.4")));
        assert!(network_contains(ip("0.0.0.0"), 0, ip("8.8.8.8")));
        assert!(!network_contains(ip("0.0.0.0"), 0, ip("::1")));
        assert!(network_contains(ip("10.0.0.0"), 8, ip("::ffff:10.9.9.9")));
        assert!(network_contains(ip("2001:db8::"), 32, ip("2001:db8:1::5")));
        assert!(!network_contains(ip("2001:db8::"), 32, ip("2001:db9::5")));
        assert!(network_contains(ip("::"), 0, ip("fe80::1")));
        assert!(network_contains(ip("::1"), 128, ip("::1")));
    }

    #[test]
    fn matches_reads_every_field() {
        let rename = StoredEvent {
            time_ns: 100,
            class: "file".into(),
            action: "rename".into(),
            entity_id: "e1".into(),
            parent_entity_id: Some("e0".into()),
            pid: 7,
            uid: Some(1000),
            exe: Some("/bin/mv".into()),
            path: Some("/tmp/new".into()),
            old_path: Some("/etc/old".into()),
            success: Some(true),
            ..StoredEvent::default()
        };
        let connect = StoredEvent {
            class: "network".into(),
            action: "connect".into(),
            local_address: Some("10.0.0.5".into()),
            local_port: Some(40000),
            remote_address: Some("2001:db8::1".into()),
            remote_port: Some(443),
            success: Some(false),
            ..rename.clone()
        };
        let all = EventFilter::default();
        assert!(all.matches(&rename) && all.matches(&connect));
        let only = |f: EventFilter| (f.matches(&rename), f.matches(&connect));
        let kinds = |k: &[(&str, Option<&str>)]| EventFilter {
            kinds: k
                .iter()
                .map(|(c, a)| (c.to_string(), a.map(String::from)))
                .collect(),
            ..EventFilter::default()
        };
        assert_eq!(only(kinds(&[("file", None)])), (true, false));
        assert_eq!(only(kinds(&[("file", Some("delete"))])), (false, false));
        assert_eq!(
            only(kinds(&[("file", Some("rename")), ("network", None)])),
            (true, true)
        );
        let path = |g: &str| EventFilter {
            path_glob: Some(g.into()),
            ..EventFilter::default()
        };
        assert_eq!(only(path("/etc/*")), (true, true));
        assert_eq!(only(path("/var/*")), (false, false));
        let ports = EventFilter {
            ports: vec![443],
            ..EventFilter::default()
        };
        assert_eq!(only(ports), (false, true));
        let net = |n: &str, p: u8| EventFilter {
            networks: vec![(n.parse().unwrap(), p)],
            ..EventFilter::default()
        };
        assert_eq!(only(net("10.0.0.0", 24)), (false, true));
        assert_eq!(only(net("2001:db8::", 64)), (false, true));
        assert_eq!(only(net("192.168.0.0", 16)), (false, false));
        let outcome = |s: bool| EventFilter {
            success: Some(s),
            ..EventFilter::default()
        };
        assert_eq!(only(outcome(true)), (true, false));
        assert_eq!(only(outcome(false)), (false, true));
        let fork = StoredEvent {
            class: "fork".into(),
            action: "fork".into(),
            ..StoredEvent::default()
        };
        assert!(!outcome(true).matches(&fork) && !outcome(false).matches(&fork));
        let parent = EventFilter {
            entity_ids: vec!["e0".into()],
            ..EventFilter::default()
        };
        assert!(!parent.matches(&rename));
        assert!(
            EventFilter {
                match_parent_entity: true,
                ..parent
            }
            .matches(&rename)
        );
        let time = EventFilter {
            since: Some(100),
            until: Some(101),
            ..EventFilter::default()
        };
        assert!(time.matches(&rename));
        assert!(
            !EventFilter {
                until: Some(100),
                ..time
            }
            .matches(&rename)
        );
    }
}

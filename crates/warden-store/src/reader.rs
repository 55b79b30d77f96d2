//! Read-only access: filters, streamed queries in `seq` order, tailing with `after_seq`.
//!
//! A query is streamed in pages (keyset pagination on `seq`, one short read transaction per
//! page), so the iterator owns no SQLite statement and a reader never pins an old WAL snapshot
//! for long. Because `seq` only grows, pages read from successive snapshots still form a
//! consistent result: a batch committed by the writer is seen whole or not at all.
//!
//! Plans stay linear over a whole iteration: the selective filters (pids, entity ids) use their
//! indexes; the time range is turned once into a `seq` range through the time index; the other
//! filters (classes, uids, globs, ports, outcome) are checked while scanning in `seq` order.
//!
//! What an [`EventFilter`] means is defined once, by [`EventFilter::matches`]; the SQL written
//! here is its translation for the store, and the address ranges, which SQLite cannot compare,
//! are checked with that same predicate after the SQL (before `limit` counts a row).

use std::collections::{BTreeMap, VecDeque};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags, params_from_iter};

use crate::event::COLUMNS;
use crate::writer::{DiskUsage, last_seq};
use crate::{BUSY_TIMEOUT, Result, StoreError, StoredEvent, StoredEventRow};

/// Rows fetched per page by [`Reader::query`].
const PAGE_ROWS: u64 = 500;

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
    /// SQLite GLOB on `exe` (case-sensitive; `*`, `?`, `[...]`).
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
    /// Events with `seq` greater than this (the cursor of `--follow` and of shippers).
    pub after_seq: Option<i64>,
    /// At most this many events.
    pub limit: Option<u64>,
    /// Newest first (descending `seq`) instead of oldest first.
    pub newest_first: bool,
}

impl EventFilter {
    /// The WHERE conditions (without the time range) and their bound parameters. With
    /// `scan_order`, the low-selectivity columns are written `+col` so SQLite does not pick
    /// their index (which would need a sort per page) over a `seq`-ordered scan.
    fn conditions(&self, scan_order: bool) -> (Vec<String>, Vec<Value>) {
        let mut conds = Vec::new();
        let mut params = Vec::new();
        let unindexed = if scan_order { "+" } else { "" };
        if !self.pids.is_empty() {
            let ids = self.pids.iter().map(|&p| Value::Integer(p));
            conds.push(format!("pid IN ({})", bind_list(&mut params, ids)));
        }
        if !self.entity_ids.is_empty() {
            let own = self.entity_condition("entity_id", "entity_key", &mut params);
            if self.match_parent_entity {
                let parent = self.entity_condition("parent_entity_id", "parent_key", &mut params);
                conds.push(format!("({own} OR {parent})"));
            } else {
                conds.push(own);
            }
        }
        if !self.uids.is_empty() {
            let ids = self.uids.iter().map(|&u| Value::Integer(u));
            conds.push(format!(
                "{unindexed}uid IN ({})",
                bind_list(&mut params, ids)
            ));
        }
        if !self.classes.is_empty() {
            let names = self.classes.iter().map(|c| Value::Text(c.clone()));
            conds.push(format!(
                "{unindexed}class IN ({})",
                bind_list(&mut params, names)
            ));
        }
        if !self.kinds.is_empty() {
            self.kind_conditions(unindexed, &mut conds, &mut params);
        }
        if let Some(glob) = &self.exe_glob {
            conds.push("exe GLOB ?".into());
            params.push(Value::Text(glob.clone()));
        }
        if let Some(glob) = &self.path_glob {
            conds.push("(path GLOB ? OR old_path GLOB ?)".into());
            params.push(Value::Text(glob.clone()));
            params.push(Value::Text(glob.clone()));
        }
        if !self.ports.is_empty() {
            let ports = || self.ports.iter().map(|&p| Value::Integer(i64::from(p)));
            let local = bind_list(&mut params, ports());
            let remote = bind_list(&mut params, ports());
            conds.push(format!(
                "({unindexed}local_port IN ({local}) OR {unindexed}remote_port IN ({remote}))"
            ));
        }
        if let Some(success) = self.success {
            conds.push(format!("{unindexed}success = ?"));
            params.push(Value::Integer(i64::from(success)));
        }
        (conds, params)
    }

    /// `column IN (entity_ids)`, written so that an index serves it: rows with a key through
    /// the key's index (the key narrows, the id decides, as keys may collide), rows without
    /// one (older writers) through the partial text index on `column` that holds only them.
    fn entity_condition(&self, column: &str, key: &str, params: &mut Vec<Value>) -> String {
        let ids = || self.entity_ids.iter().map(|e| Value::Text(e.clone()));
        let keys = self
            .entity_ids
            .iter()
            .map(|e| Value::Integer(crate::event::entity_key(e)));
        let keys = bind_list(params, keys);
        let keyed = bind_list(params, ids());
        let unkeyed = bind_list(params, ids());
        format!(
            "(({key} IN ({keys}) AND {column} IN ({keyed})) \
             OR ({key} IS NULL AND {column} IN ({unkeyed})))"
        )
    }

    /// `kinds` as SQL: a plain `class IN (...)` first, so that the class index stays usable
    /// (and the common case of whole classes needs nothing else), then the actions of the
    /// classes selected only in part.
    fn kind_conditions(&self, unindexed: &str, conds: &mut Vec<String>, params: &mut Vec<Value>) {
        let by_class = self.kinds_by_class();
        let classes = by_class.keys().map(|c| Value::Text(c.to_string()));
        conds.push(format!(
            "{unindexed}class IN ({})",
            bind_list(params, classes)
        ));
        if by_class.values().all(Option::is_none) {
            return;
        }
        let alternatives: Vec<String> = by_class
            .iter()
            .map(|(class, actions)| {
                params.push(Value::Text(class.to_string()));
                match actions {
                    None => format!("{unindexed}class = ?"),
                    Some(actions) => {
                        let names = actions.iter().map(|a| Value::Text(a.to_string()));
                        format!(
                            "({unindexed}class = ? AND {unindexed}action IN ({}))",
                            bind_list(params, names)
                        )
                    }
                }
            })
            .collect();
        conds.push(format!("({})", alternatives.join(" OR ")));
    }

    /// `kinds` grouped by class: `None` when the whole class is selected, else its actions.
    fn kinds_by_class(&self) -> BTreeMap<&str, Option<Vec<&str>>> {
        let mut by_class: BTreeMap<&str, Option<Vec<&str>>> = BTreeMap::new();
        for (class, action) in &self.kinds {
            let entry = by_class
                .entry(class.as_str())
                .or_insert_with(|| Some(Vec::new()));
            match (action, entry.as_mut()) {
                (Some(action), Some(actions)) => actions.push(action),
                (None, _) => *entry = None,
                (Some(_), None) => {}
            }
        }
        by_class
    }

    /// Whether `event` passes this filter: the definition of every field above (`after_seq`,
    /// `limit` and `newest_first` are about iteration, not about an event, and are ignored).
    /// [`Reader::query`] gives exactly the stored events this accepts; offline readers of JSON
    /// lines use it directly.
    pub fn matches(&self, event: &StoredEvent) -> bool {
        let any_of = |list: &[i64], value: Option<i64>| {
            list.is_empty() || value.is_some_and(|v| list.contains(&v))
        };
        let own_entity = self.entity_ids.contains(&event.entity_id);
        let parent_entity = self.match_parent_entity
            && event
                .parent_entity_id
                .as_ref()
                .is_some_and(|p| self.entity_ids.contains(p));
        let glob = |pattern: &str, value: &Option<String>| {
            value.as_deref().is_some_and(|v| glob_matches(pattern, v))
        };
        self.since.is_none_or(|since| event.time_ns >= since)
            && self.until.is_none_or(|until| event.time_ns < until)
            && any_of(&self.pids, Some(event.pid))
            && (self.entity_ids.is_empty() || own_entity || parent_entity)
            && any_of(&self.uids, event.uid)
            && (self.classes.is_empty() || self.classes.contains(&event.class))
            && self.kind_matches(event)
            && self.exe_glob.as_deref().is_none_or(|g| glob(g, &event.exe))
            && self
                .path_glob
                .as_deref()
                .is_none_or(|g| glob(g, &event.path) || glob(g, &event.old_path))
            && (self.ports.is_empty()
                || [event.local_port, event.remote_port]
                    .into_iter()
                    .flatten()
                    .any(|p| self.ports.iter().any(|&want| i64::from(want) == p)))
            && self.success.is_none_or(|want| event.success == Some(want))
            && self.network_matches(event)
    }

    fn kind_matches(&self, event: &StoredEvent) -> bool {
        self.kinds.is_empty()
            || self.kinds.iter().any(|(class, action)| {
                *class == event.class && action.as_ref().is_none_or(|a| *a == event.action)
            })
    }

    /// The part of [`EventFilter::matches`] SQL cannot do: the address ranges.
    fn network_matches(&self, event: &StoredEvent) -> bool {
        self.networks.is_empty()
            || [&event.local_address, &event.remote_address]
                .into_iter()
                .filter_map(|a| a.as_deref()?.parse::<IpAddr>().ok())
                .any(|ip| {
                    self.networks
                        .iter()
                        .any(|&(network, prefix)| network_contains(network, prefix, ip))
                })
    }

    /// Whether rows read by SQL still need [`EventFilter::network_matches`].
    fn needs_post_filter(&self) -> bool {
        !self.networks.is_empty()
    }

    /// Time conditions, appended to `conds`/`params`.
    fn time_conditions(&self, prefix: &str, conds: &mut Vec<String>, params: &mut Vec<Value>) {
        if let Some(since) = self.since {
            conds.push(format!("{prefix}time_ns >= ?"));
            params.push(Value::Integer(since));
        }
        if let Some(until) = self.until {
            conds.push(format!("{prefix}time_ns < ?"));
            params.push(Value::Integer(until));
        }
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
    /// `newest_first`), streamed page by page. An SQL error ends the iteration after being
    /// yielded once.
    pub fn query(&self, filter: &EventFilter) -> impl Iterator<Item = Result<StoredEventRow>> + '_ {
        EventRows {
            conn: &self.conn,
            filter: filter.clone(),
            state: None,
            buffer: VecDeque::new(),
            remaining: filter.limit,
            done: filter.limit == Some(0),
        }
    }

    /// Number of events matching `filter` (ignoring `limit`).
    pub fn count(&self, filter: &EventFilter) -> Result<u64> {
        if filter.needs_post_filter() {
            let all = EventFilter {
                limit: None,
                ..filter.clone()
            };
            return self.query(&all).try_fold(0, |n, row| row.map(|_| n + 1));
        }
        let (mut conds, mut params) = filter.conditions(false);
        filter.time_conditions("", &mut conds, &mut params);
        if let Some(after) = filter.after_seq {
            conds.push("seq > ?".into());
            params.push(Value::Integer(after));
        }
        let sql = format!("SELECT count(*) FROM events{}", where_sql(&conds));
        let n: i64 = self
            .conn
            .prepare_cached(&sql)?
            .query_row(params_from_iter(params), |r| r.get(0))?;
        Ok(n as u64)
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

    /// The underlying read-only connection, for ad-hoc SQL on the `events` table.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }
}

/// Appends `values` to `params`; returns the matching `?, ?, ...` placeholders.
fn bind_list(params: &mut Vec<Value>, values: impl Iterator<Item = Value>) -> String {
    let before = params.len();
    params.extend(values);
    vec!["?"; params.len() - before].join(", ")
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

fn where_sql(conds: &[String]) -> String {
    if conds.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conds.join(" AND "))
    }
}

/// Page SQL and the bounds of the remaining `seq` range (exclusive on both sides).
struct PageState {
    sql: String,
    params: Vec<Value>,
    low: i64,
    high: i64,
}

struct EventRows<'a> {
    conn: &'a Connection,
    filter: EventFilter,
    state: Option<PageState>,
    buffer: VecDeque<StoredEventRow>,
    remaining: Option<u64>,
    done: bool,
}

impl EventRows<'_> {
    /// Builds the page SQL and turns the time range into a `seq` range (once). `None`: nothing
    /// can match.
    fn plan(&self) -> Result<Option<PageState>> {
        let f = &self.filter;
        let mut low = f.after_seq.unwrap_or(0).max(0);
        let mut high = i64::MAX;
        if f.since.is_some() || f.until.is_some() {
            let (mut conds, mut params) = (Vec::new(), Vec::new());
            f.time_conditions("", &mut conds, &mut params);
            let sql = format!("SELECT min(seq), max(seq) FROM events{}", where_sql(&conds));
            let (min, max): (Option<i64>, Option<i64>) = self
                .conn
                .prepare_cached(&sql)?
                .query_row(params_from_iter(params), |r| Ok((r.get(0)?, r.get(1)?)))?;
            let (Some(min), Some(max)) = (min, max) else {
                return Ok(None);
            };
            low = low.max(min - 1);
            high = max.saturating_add(1);
        }
        let (mut conds, mut params) = f.conditions(true);
        f.time_conditions("+", &mut conds, &mut params);
        conds.push("seq > ?".into());
        conds.push("seq < ?".into());
        let order = if f.newest_first { "DESC" } else { "ASC" };
        let sql = format!(
            "SELECT seq, {COLUMNS} FROM events{} ORDER BY seq {order} LIMIT ?",
            where_sql(&conds)
        );
        Ok(Some(PageState {
            sql,
            params,
            low,
            high,
        }))
    }

    fn fetch_page(&mut self) -> Result<()> {
        if self.state.is_none() {
            match self.plan()? {
                Some(state) => self.state = Some(state),
                None => {
                    self.done = true;
                    return Ok(());
                }
            }
        }
        let Some(state) = self.state.as_mut() else {
            return Ok(());
        };
        if state.low.saturating_add(1) >= state.high {
            self.done = true;
            return Ok(());
        }
        // Rows the post-filter drops do not count against `limit`: read whole pages then.
        let post_filter = self.filter.needs_post_filter();
        let page = match self.remaining {
            Some(remaining) if !post_filter => remaining.min(PAGE_ROWS),
            _ => PAGE_ROWS,
        };
        let mut params = state.params.clone();
        params.push(Value::Integer(state.low));
        params.push(Value::Integer(state.high));
        params.push(Value::Integer(page as i64));
        let mut stmt = self.conn.prepare_cached(&state.sql)?;
        let rows = stmt.query_map(params_from_iter(params), StoredEventRow::from_row)?;
        let (mut fetched, mut last_seq) = (0u64, None);
        for row in rows {
            let row = row?;
            fetched += 1;
            last_seq = Some(row.seq);
            if !post_filter || self.filter.network_matches(&row.event) {
                self.buffer.push_back(row);
            }
        }
        match last_seq {
            Some(seq) if self.filter.newest_first => state.high = seq,
            Some(seq) => state.low = seq,
            None => {}
        }
        if fetched < page {
            self.done = true;
        }
        Ok(())
    }
}

impl Iterator for EventRows<'_> {
    type Item = Result<StoredEventRow>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == Some(0) {
            return None;
        }
        // A page may hold no row the post-filter keeps: read on until one does or none is left.
        while self.buffer.is_empty() && !self.done {
            if let Err(e) = self.fetch_page() {
                self.done = true;
                self.buffer.clear();
                return Some(Err(e));
            }
        }
        let row = self.buffer.pop_front()?;
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

    /// The query plan of the page SQL for `filter`, one detail line per step.
    fn page_plan(reader: &Reader, filter: &EventFilter) -> String {
        let rows = EventRows {
            conn: &reader.conn,
            filter: filter.clone(),
            state: None,
            buffer: VecDeque::new(),
            remaining: None,
            done: false,
        };
        let state = rows.plan().expect("plan").expect("some rows may match");
        let mut params = state.params.clone();
        params.extend([
            Value::Integer(0),
            Value::Integer(i64::MAX),
            Value::Integer(10),
        ]);
        let mut stmt = reader
            .conn
            .prepare(&format!("EXPLAIN QUERY PLAN {}", state.sql))
            .unwrap();
        let details = stmt
            .query_map(params_from_iter(params), |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<rusqlite::Result<Vec<_>>>()
            .unwrap();
        details.join("\n")
    }

    #[test]
    fn broad_filters_scan_in_seq_order_and_selective_ones_use_their_index() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Retention::default()).unwrap();
        let mut writer = store.writer().unwrap();
        let event = crate::StoredEvent {
            time_ns: 5,
            class: "exec".into(),
            entity_id: "e".into(),
            ..Default::default()
        };
        writer.insert_batch(&[event]).unwrap();
        let reader = Store::reader(dir.path()).unwrap();
        let broad = [
            EventFilter {
                classes: vec!["exec".into()],
                uids: vec![0],
                ..EventFilter::default()
            },
            EventFilter {
                since: Some(1),
                until: Some(10),
                exe_glob: Some("/usr/*".into()),
                ..EventFilter::default()
            },
            EventFilter {
                newest_first: true,
                classes: vec!["exec".into()],
                ..EventFilter::default()
            },
            EventFilter {
                kinds: vec![
                    ("network".into(), None),
                    ("file".into(), Some("rename".into())),
                    ("file".into(), Some("delete".into())),
                ],
                ports: vec![443],
                success: Some(false),
                path_glob: Some("/etc/*".into()),
                ..EventFilter::default()
            },
        ];
        for filter in &broad {
            let plan = page_plan(&reader, filter);
            assert!(!plan.contains("TEMP B-TREE"), "{filter:?}: {plan}");
            assert!(!plan.contains("INDEX"), "{filter:?}: {plan}");
        }
        let by_pid = page_plan(
            &reader,
            &EventFilter {
                pids: vec![1, 2],
                ..EventFilter::default()
            },
        );
        let by_entity = page_plan(
            &reader,
            &EventFilter {
                entity_ids: vec!["e".into()],
                match_parent_entity: true,
                ..EventFilter::default()
            },
        );
        assert!(by_pid.contains("events_pid"), "{by_pid}");
        for index in [
            "events_entity_key",
            "events_entity_id_unkeyed",
            "events_parent_key",
            "events_parent_entity_id_unkeyed",
        ] {
            assert!(by_entity.contains(index), "{index}: {by_entity}");
        }
        assert!(!by_entity.contains("SCAN"), "{by_entity}");
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

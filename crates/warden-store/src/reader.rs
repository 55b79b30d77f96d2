//! Read-only access: filters, streamed queries in `seq` order, tailing with `after_seq`.
//!
//! A query is streamed in pages (keyset pagination on `seq`, one short read transaction per
//! page), so the iterator owns no SQLite statement and a reader never pins an old WAL snapshot
//! for long. Because `seq` only grows, pages read from successive snapshots still form a
//! consistent result: a batch committed by the writer is seen whole or not at all.
//!
//! Plans stay linear over a whole iteration: the selective filters (pids, entity ids) use their
//! indexes; the time range is turned once into a `seq` range through the time index; the other
//! filters (classes, uids, globs) are checked while scanning in `seq` order.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags, params_from_iter};

use crate::event::COLUMNS;
use crate::writer::{DiskUsage, last_seq};
use crate::{BUSY_TIMEOUT, Result, StoredEventRow};

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
    /// SQLite GLOB on `exe` (case-sensitive; `*`, `?`, `[...]`).
    pub exe_glob: Option<String>,
    /// SQLite GLOB on `path`.
    pub path_glob: Option<String>,
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
            let ids = || self.entity_ids.iter().map(|e| Value::Text(e.clone()));
            let own = format!("entity_id IN ({})", bind_list(&mut params, ids()));
            if self.match_parent_entity {
                let parent = format!("parent_entity_id IN ({})", bind_list(&mut params, ids()));
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
        if let Some(glob) = &self.exe_glob {
            conds.push("exe GLOB ?".into());
            params.push(Value::Text(glob.clone()));
        }
        if let Some(glob) = &self.path_glob {
            conds.push("path GLOB ?".into());
            params.push(Value::Text(glob.clone()));
        }
        (conds, params)
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
        let page = self.remaining.map_or(PAGE_ROWS, |r| r.min(PAGE_ROWS));
        let mut params = state.params.clone();
        params.push(Value::Integer(state.low));
        params.push(Value::Integer(state.high));
        params.push(Value::Integer(page as i64));
        let mut stmt = self.conn.prepare_cached(&state.sql)?;
        let rows = stmt.query_map(params_from_iter(params), StoredEventRow::from_row)?;
        for row in rows {
            self.buffer.push_back(row?);
        }
        match self.buffer.back() {
            Some(last) if self.filter.newest_first => state.high = last.seq,
            Some(last) => state.low = last.seq,
            None => {}
        }
        if (self.buffer.len() as u64) < page {
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
        if self.buffer.is_empty()
            && !self.done
            && let Err(e) = self.fetch_page()
        {
            self.done = true;
            self.buffer.clear();
            return Some(Err(e));
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
        assert!(by_entity.contains("events_entity_id"), "{by_entity}");
        assert!(by_entity.contains("events_parent_entity_id"), "{by_entity}");
    }
}

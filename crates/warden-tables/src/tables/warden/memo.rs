//! One statement's scan of an event table, kept and indexed by process identity, for joins.
//!
//! SQLite builds no index on a virtual table for a join: it asks the inner table once per
//! outer row, here with the row's `entity_id`. Each ask is cheap alone (the store's process
//! filters skip most blocks) but still reads every block's filter, ~60 ms on a store of 2.3
//! million events: 285,000 connects joined to their execs would take hours. So within one
//! statement, once the same keyed ask has come [`MEMO_AFTER`] times, the table is scanned once
//! with the ask's other constraints and its rows indexed by `entity_id` and
//! `parent_entity_id`; the following asks are answered from that. A statement sees the store
//! as that scan did, like any one scan; the next statement scans again ([`begin_statement`]).

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::{QueryContext, Rows, TableError};

/// Keyed asks of one shape answered directly before the table is memoized: a lone lookup
/// (`WHERE entity_id = ...`) keeps its fast path, a join pays one scan.
const MEMO_AFTER: u32 = 8;

/// The columns a memo answers asks on.
const KEYS: [&str; 2] = ["entity_id", "parent_entity_id"];

/// The statement running now; 0 until a session says (then nothing is memoized).
static STATEMENT: AtomicU64 = AtomicU64::new(0);

/// Tells the event tables a new statement begins: what the previous one memoized is dropped.
/// The SQL session calls it before each statement; without it no scan is memoized.
pub fn begin_statement() {
    STATEMENT.fetch_add(1, Ordering::Relaxed);
}

/// A table's rows for one shape of ask, and where each process's are.
struct Memo {
    rows: Rows,
    /// (key column, its value) → rows.
    by_key: HashMap<(&'static str, String), Vec<usize>>,
}

/// How one keyed ask is answered.
enum Ask {
    /// By the table's own keyed scan (not asked often enough yet).
    Direct,
    /// From a memo made now.
    Memoize,
    /// From the memo made for an earlier ask.
    Memoized,
}

#[derive(Default)]
struct Memos {
    statement: u64,
    /// Keyed asks seen per shape, before its memo is made.
    asks: HashMap<String, u32>,
    made: HashMap<String, Memo>,
}

thread_local! {
    static MEMOS: RefCell<Memos> = RefCell::new(Memos::default());
}

/// `generate`'s rows for `ctx` into `rows`; an ask keyed by a process identity that repeats
/// within the statement is answered from one memoized scan.
pub(super) fn generate_keyed(
    ctx: &QueryContext,
    rows: &mut Rows,
    generate: fn(&QueryContext, &mut Rows) -> Result<(), TableError>,
) -> Result<(), TableError> {
    let statement = STATEMENT.load(Ordering::Relaxed);
    let key = KEYS.into_iter().find(|k| ctx.equals(k).is_some());
    let (Some(key), true) = (key, statement != 0) else {
        return generate(ctx, rows);
    };
    // The pid is left out too: the memo holds every process's rows (SQLite checks each row
    // against the whole query again).
    let (rest, shape) = ctx.without(&["entity_id", "parent_entity_id", "pid"]);
    let ask = MEMOS.with(|memos| {
        let mut memos = memos.borrow_mut();
        if memos.statement != statement {
            *memos = Memos {
                statement,
                ..Memos::default()
            };
        }
        if memos.made.contains_key(&shape) {
            return Ask::Memoized;
        }
        let asks = memos.asks.entry(shape.clone()).or_default();
        *asks += 1;
        if *asks >= MEMO_AFTER {
            Ask::Memoize
        } else {
            Ask::Direct
        }
    });
    match ask {
        Ask::Direct => return generate(ctx, rows),
        Ask::Memoize => {
            let mut all = Rows::for_query(&rest);
            generate(&rest, &mut all)?;
            let memo = index(ctx, all);
            MEMOS.with(|memos| memos.borrow_mut().made.insert(shape.clone(), memo));
        }
        Ask::Memoized => {}
    }
    MEMOS.with(|memos| {
        let memos = memos.borrow();
        let memo = &memos.made[&shape];
        let mut wanted: Vec<usize> = ctx
            .equals(key)
            .unwrap_or_default()
            .iter()
            .filter_map(|v| v.as_text())
            .flat_map(|id| memo.by_key.get(&(key, id)).into_iter().flatten().copied())
            .collect();
        // An IN list may name a row twice (or list an id twice): each row once, in order.
        wanted.sort_unstable();
        wanted.dedup();
        for i in wanted {
            rows.push_copy(&memo.rows, i);
        }
    });
    Ok(())
}

fn index(ctx: &QueryContext, all: Rows) -> Memo {
    let columns: Vec<(&'static str, usize)> = KEYS
        .into_iter()
        .filter_map(|k| Some((k, ctx.spec().column_index(k)?)))
        .collect();
    let mut by_key: HashMap<(&'static str, String), Vec<usize>> = HashMap::new();
    for i in 0..all.len() {
        for &(key, column) in &columns {
            if let Some(id) = all.cell(i, column).as_text() {
                by_key.entry((key, id)).or_default().push(i);
            }
        }
    }
    Memo { rows: all, by_key }
}

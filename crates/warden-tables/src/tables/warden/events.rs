//! What the event tables over the agent's store share: where the store is, the scan (a class
//! filter, with `time` constraints turned into the store's time range: only the blocks of
//! events in it are read), the stored event as the tables read it, and osquery specs extended
//! with Warden's columns.
//!
//! The tables themselves: `process_events.rs` (`process_events`, `process_lifecycle_events`),
//! `socket_events.rs`, `file_events.rs`, `process_file_events.rs`. Rows are read from the
//! store `warden run` writes, never blocking it (SQLite WAL readers).

use std::path::PathBuf;
use std::sync::{OnceLock, RwLock};

use serde_json::Value as Json;
use warden_store::StoredEvent;

use crate::context::Op;
use crate::registry::TableDef;
use crate::spec::{ColumnSpec, ColumnType::Text, Flags, TableSpec, col, osquery_spec};
use crate::{QueryContext, TableError};

use super::{file_events, memo, process_events, process_file_events, socket_events};

const NS_PER_SECOND: i64 = 1_000_000_000;

fn store_dir_cell() -> &'static RwLock<PathBuf> {
    static DIR: OnceLock<RwLock<PathBuf>> = OnceLock::new();
    DIR.get_or_init(|| RwLock::new(PathBuf::from("/var/lib/warden")))
}

/// Where the event tables read the agent's store (`warden query --data-dir`); by default the
/// agent's default data directory.
pub fn set_event_store_dir(dir: impl Into<PathBuf>) {
    if let Ok(mut d) = store_dir_cell().write() {
        *d = dir.into();
    }
}

fn store_dir() -> PathBuf {
    store_dir_cell()
        .read()
        .map(|d| d.clone())
        .unwrap_or_default()
}

/// A table whose rows are the store's events of some classes.
pub(super) struct StoreTable {
    pub def: TableDef,
    /// The store's event classes the table reads.
    pub classes: &'static [&'static str],
}

/// Every table backed by the store (registered by `mod.rs`, reported by `osquery_events`).
pub(super) fn store_tables() -> Vec<StoreTable> {
    vec![
        StoreTable {
            def: TableDef {
                spec: process_events::process_events_spec(),
                generate: |ctx, rows| {
                    memo::generate_keyed(ctx, rows, process_events::process_events)
                },
                streamed: true,
            },
            classes: process_events::EXEC_CLASSES,
        },
        StoreTable {
            def: TableDef {
                spec: &process_events::PROCESS_LIFECYCLE_EVENTS,
                generate: |ctx, rows| {
                    memo::generate_keyed(ctx, rows, process_events::process_lifecycle_events)
                },
                streamed: true,
            },
            classes: process_events::LIFECYCLE_CLASSES,
        },
        StoreTable {
            def: TableDef {
                spec: socket_events::spec(),
                generate: |ctx, rows| memo::generate_keyed(ctx, rows, socket_events::generate),
                streamed: true,
            },
            classes: socket_events::CLASSES,
        },
        StoreTable {
            def: TableDef {
                spec: file_events::spec(),
                generate: |ctx, rows| memo::generate_keyed(ctx, rows, file_events::generate),
                streamed: true,
            },
            classes: file_events::CLASSES,
        },
        StoreTable {
            def: TableDef {
                spec: process_file_events::spec(),
                generate: |ctx, rows| {
                    memo::generate_keyed(ctx, rows, process_file_events::generate)
                },
                streamed: true,
            },
            classes: file_events::CLASSES,
        },
    ]
}

/// osquery's spec of `name` followed by Warden's columns (each described "Warden: ...", which
/// is how the conformance test tells them from osquery's).
pub(super) fn osquery_spec_with(name: &str, extras: &[ColumnSpec]) -> TableSpec {
    let base = osquery_spec(name).unwrap_or_else(|| panic!("osquery declares {name}"));
    debug_assert!(extras.iter().all(|c| c.description.starts_with("Warden: ")));
    let columns: Vec<ColumnSpec> = base.columns.iter().chain(extras).copied().collect();
    TableSpec {
        columns: Vec::leak(columns),
        ..*base
    }
}

/// The extra columns every event table about a process has. Keys: an equality on either is
/// pushed into the scan, whose blocks' process filters skip what cannot hold it (a join on
/// `entity_id` then reads the few blocks of each process, not the whole store per row).
pub(super) const ENTITY_ID: ColumnSpec = col(
    "entity_id",
    Text,
    Flags::INDEX,
    &[],
    "Warden: the process identity (boot id, pid, start time)",
);
pub(super) const PARENT_ENTITY_ID: ColumnSpec = col(
    "parent_entity_id",
    Text,
    Flags::INDEX,
    &[],
    "Warden: the parent's process identity",
);

/// The store filter for a scan: the classes, plus the time range the query constrains.
pub(super) fn filter(ctx: &QueryContext, classes: &[&str]) -> warden_store::EventFilter {
    let mut filter = warden_store::EventFilter {
        classes: classes.iter().map(|c| c.to_string()).collect(),
        ..Default::default()
    };
    const NS: i64 = NS_PER_SECOND;
    for c in ctx.constraints_on("time") {
        let Some(v) = c.values.first().and_then(|v| v.as_i64()) else {
            continue;
        };
        let (since, until) = match c.op {
            Op::Eq if c.values.len() == 1 => (Some(v * NS), Some((v + 1) * NS)),
            Op::Gt => (Some((v + 1) * NS), None),
            Op::Ge => (Some(v * NS), None),
            Op::Lt => (None, Some(v * NS)),
            Op::Le => (None, Some((v + 1) * NS)),
            _ => (None, None),
        };
        if let Some(s) = since {
            filter.since = Some(filter.since.map_or(s, |f| f.max(s)));
        }
        if let Some(u) = until {
            filter.until = Some(filter.until.map_or(u, |f| f.min(u)));
        }
    }
    // Processes: the events of these identities; with only a parent asked for, its own and
    // its children's (a superset: SQLite checks each row against the query again).
    let texts = |column: &str| -> Option<Vec<String>> {
        let values = ctx.equals(column)?;
        Some(values.iter().filter_map(|v| v.as_text()).collect())
    };
    if let Some(ids) = texts("entity_id") {
        filter.entity_ids = ids;
    } else if let Some(ids) = texts("parent_entity_id") {
        filter.entity_ids = ids;
        filter.match_parent_entity = true;
    }
    if let Some(pids) = ctx.equals("pid") {
        filter.pids = pids.iter().filter_map(|v| v.as_i64()).collect();
    }
    // The raw store's `class` column (a table of every class): only those classes are decoded.
    if classes.is_empty()
        && let Some(asked) = texts("class")
    {
        filter.classes = asked;
    }
    filter
}

/// One stored event as the tables read it: the store's columns and the parsed ECS JSON.
pub(super) struct StoreEvent {
    pub seq: i64,
    pub stored: StoredEvent,
    pub json: Json,
}

impl StoreEvent {
    /// The event's time in whole seconds (osquery's `time`).
    pub fn time(&self) -> i64 {
        self.stored.time_ns.div_euclid(NS_PER_SECOND)
    }

    /// osquery's `uptime`: seconds from this boot (`boot`, UNIX seconds) to the event; None
    /// for an event of an earlier boot (it came before this boot began).
    pub fn uptime(&self, boot: Option<i64>) -> Option<i64> {
        boot.map(|b| self.time() - b).filter(|up| *up >= 0)
    }

    /// osquery's `eid`: the store's sequence number, unique and increasing.
    pub fn eid(&self) -> String {
        self.seq.to_string()
    }

    /// ECS `process`.
    pub fn process(&self) -> &Json {
        &self.json["process"]
    }

    /// Warden's own fields (`warden.*`).
    pub fn warden(&self) -> &Json {
        &self.json["warden"]
    }

    pub fn entity_id(&self) -> Option<String> {
        Some(self.stored.entity_id.clone()).filter(|e| !e.is_empty())
    }

    pub fn parent_entity_id(&self) -> Option<String> {
        self.stored.parent_entity_id.clone()
    }

    /// The source that saw the event (`warden.source`: audit, proc_connector, fanotify...).
    pub fn source(&self) -> Option<String> {
        str_of(&self.warden()["source"])
    }

    pub fn syscall(&self) -> Option<String> {
        str_of(&self.warden()["syscall"])
    }

    pub fn auid(&self) -> Option<i64> {
        int_of(&self.warden()["auid"])
    }
}

/// Reads the events of `classes` the query's time range allows; no store (the agent never ran
/// here) means no rows.
pub(super) fn scan(
    ctx: &QueryContext,
    classes: &[&str],
    mut each: impl FnMut(&StoreEvent),
) -> Result<(), TableError> {
    let Some(reader) = open_reader()? else {
        return Ok(());
    };
    for row in reader.query(&filter(ctx, classes)) {
        if crate::row::consumer_gone() {
            break;
        }
        let row = row.map_err(|e| TableError::Message(format!("event store: {e}")))?;
        // An event whose JSON does not parse is skipped: bad input loses nothing else.
        if let Some(json) = row.event.ecs() {
            each(&StoreEvent {
                seq: row.seq,
                stored: row.event,
                json,
            });
        }
    }
    Ok(())
}

/// A reader of the store, or `None` when there is no store.
pub(super) fn open_reader() -> Result<Option<warden_store::Reader>, TableError> {
    let dir = store_dir();
    if !warden_store::database_path(&dir).exists() {
        return Ok(None);
    }
    warden_store::Store::reader(&dir)
        .map(Some)
        .map_err(|e| TableError::Message(format!("event store {}: {e}", dir.display())))
}

/// The boot time in UNIX seconds, for osquery's `uptime` (seconds since boot at the event).
pub(super) fn boot_time() -> Option<i64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    stat.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

pub(super) fn str_of(v: &Json) -> Option<String> {
    match v {
        Json::String(s) => Some(s.clone()),
        Json::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A number, also from ECS's string-typed ids (`user.id`, `file.inode`).
pub(super) fn int_of(v: &Json) -> Option<i64> {
    match v {
        Json::Number(n) => n.as_i64(),
        Json::String(s) => s.parse().ok(),
        Json::Bool(b) => Some(i64::from(*b)),
        _ => None,
    }
}

/// Permission bits as osquery writes them: octal, four digits (`0755`).
pub(super) fn octal_mode(v: &Json) -> Option<String> {
    str_of(v).map(|m| format!("{m:0>4}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_constraints_become_a_store_range() {
        let spec = process_events::process_events_spec();
        let ctx = QueryContext::everything(spec)
            .with("time", Op::Gt, vec![100.into()])
            .with("time", Op::Le, vec![200.into()]);
        let f = filter(&ctx, &["exec"]);
        assert_eq!(f.since, Some(101_000_000_000));
        assert_eq!(f.until, Some(201_000_000_000));
        assert_eq!(f.classes, vec!["exec"]);
    }

    #[test]
    fn extras_follow_osquerys_columns() {
        for table in store_tables() {
            let spec = table.def.spec;
            let Some(base) = osquery_spec(spec.name) else {
                continue;
            };
            assert!(spec.columns.len() > base.columns.len(), "{}", spec.name);
            let names = |columns: &[ColumnSpec]| columns.iter().map(|c| c.name).collect::<Vec<_>>();
            assert_eq!(
                names(&spec.columns[..base.columns.len()]),
                names(base.columns)
            );
            assert!(spec.column_index("entity_id").is_some(), "{}", spec.name);
            assert!(
                spec.columns[base.columns.len()..]
                    .iter()
                    .all(|c| c.description.starts_with("Warden: ")),
                "{}",
                spec.name
            );
        }
    }

    #[test]
    fn uptime_is_since_this_boot_or_none() {
        let at = |time_s: i64| StoreEvent {
            seq: 1,
            stored: StoredEvent {
                time_ns: time_s * NS_PER_SECOND + 999,
                ..StoredEvent::default()
            },
            json: Json::Null,
        };
        assert_eq!(at(1_000).uptime(Some(400)), Some(600));
        assert_eq!(at(400).uptime(Some(400)), Some(0));
        // An event of an earlier boot came before this one began.
        assert_eq!(at(399).uptime(Some(400)), None);
        assert_eq!(at(1_000).uptime(None), None);
    }

    #[test]
    fn modes_are_four_octal_digits() {
        assert_eq!(octal_mode(&Json::from("755")).as_deref(), Some("0755"));
        assert_eq!(octal_mode(&Json::from("4755")).as_deref(), Some("4755"));
        assert_eq!(octal_mode(&Json::Null), None);
    }
}

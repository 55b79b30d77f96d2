//! Introspection: Warden's own tables (`warden_info`, `warden_tables`, `warden_columns`), the
//! osquery introspection tables that fleet managers and packs query (`osquery_info`,
//! `osquery_registry`, ...), and osquery's event tables.
//!
//! `process_events`, `process_lifecycle_events`, `socket_events`, `file_events` and
//! `process_file_events` read the agent's event store (`events.rs` and one file per table).
//! osquery's other event tables (`user_events`, `syslog_events`, ...) exist so that queries
//! written for osquery prepare and run; they return no rows until their sources are built.

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::registry::{TableDef, TableError, tables as all_tables};
use crate::spec::{ColumnType::*, Flags, TableSpec, col};
use crate::{QueryContext, Rows};

mod events;
mod file_events;
mod memo;
mod process_events;
mod process_file_events;
mod socket_events;
mod warden_events;
pub use events::set_event_store_dir;
pub use memo::begin_statement;

const NONE: Flags = Flags::NONE;
const I: Flags = Flags::INDEX;

pub(crate) static WARDEN_INFO: TableSpec = TableSpec {
    name: "warden_info",
    description: "The running Warden: version, pid, start time and uptime (as osquery_info).",
    aliases: &[],
    evented: false,
    user_data: false,
    columns: &[
        col("pid", Integer, NONE, &[], "Process (or thread) ID"),
        col(
            "uuid",
            Text,
            NONE,
            &[],
            "Unique ID of the host (system UUID or machine id)",
        ),
        col(
            "instance_id",
            Text,
            NONE,
            &[],
            "Unique, long-lived ID per instance of Warden",
        ),
        col("version", Text, NONE, &[], "Warden version"),
        col("build_platform", Text, NONE, &[], "Warden's build platform"),
        col(
            "start_time",
            BigInt,
            NONE,
            &[],
            "UNIX time in seconds when Warden started",
        ),
        col("uptime", BigInt, NONE, &[], "Seconds since Warden started"),
    ],
};

pub(crate) static WARDEN_TABLES: TableSpec = TableSpec {
    name: "warden_tables",
    description: "Every table Warden serves, with its kind and column count.",
    aliases: &[],
    evented: false,
    user_data: false,
    columns: &[
        col("name", Text, I, &[], "Table name"),
        col("description", Text, NONE, &[], "What the table holds"),
        col(
            "aliases",
            Text,
            NONE,
            &[],
            "Other names of the table (views), comma-separated",
        ),
        col(
            "evented",
            Integer,
            NONE,
            &[],
            "1 if the table holds events recorded by the agent",
        ),
        col(
            "user_data",
            Integer,
            NONE,
            &[],
            "1 if the table reports per-user data",
        ),
        col("columns", Integer, NONE, &[], "Number of columns"),
        col(
            "required_columns",
            Text,
            NONE,
            &[],
            "Columns of which one must be constrained",
        ),
    ],
};

pub(crate) static WARDEN_COLUMNS: TableSpec = TableSpec {
    name: "warden_columns",
    description: "Every column of every table Warden serves, with osquery's type and flags.",
    aliases: &[],
    evented: false,
    user_data: false,
    columns: &[
        col("table_name", Text, I, &[], "Table name"),
        col("name", Text, NONE, &[], "Column name"),
        col(
            "type",
            Text,
            NONE,
            &[],
            "osquery column type (TEXT, INTEGER, BIGINT, ...)",
        ),
        col(
            "required",
            Integer,
            NONE,
            &[],
            "1 if the column is required",
        ),
        col(
            "index",
            Integer,
            NONE,
            &[],
            "1 if constraints on it are pushed down as a key",
        ),
        col("hidden", Integer, NONE, &[], "1 if SELECT * leaves it out"),
        col(
            "additional",
            Integer,
            NONE,
            &[],
            "1 if it is an optional pushed-down input",
        ),
        col(
            "optimized",
            Integer,
            NONE,
            &[],
            "1 if constraints on it narrow the work",
        ),
        col(
            "aliases",
            Text,
            NONE,
            &[],
            "Other names of the column, comma-separated",
        ),
        col("description", Text, NONE, &[], "What the column holds"),
    ],
};

/// The time the SQL engine was first opened in this process: Warden's start for these tables.
fn started() -> u64 {
    static STARTED: OnceLock<u64> = OnceLock::new();
    *STARTED.get_or_init(now)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A stable identifier of this host: the SMBIOS system UUID, else systemd's machine id.
fn host_uuid() -> String {
    [
        "/sys/class/dmi/id/product_uuid",
        "/etc/machine-id",
        "/var/lib/dbus/machine-id",
    ]
    .iter()
    .find_map(|p| {
        let text = std::fs::read_to_string(p).ok()?;
        let text = text.trim();
        (!text.is_empty()).then(|| text.to_string())
    })
    .unwrap_or_default()
}

/// An identifier of this Warden instance: boot id, pid and start time, hashed into UUID form.
fn instance_id() -> String {
    use sha2::Digest;
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
    let seed = format!("{}:{}:{}", boot.trim(), std::process::id(), started());
    let h = sha2::Sha256::digest(seed.as_bytes());
    let hex: String = h.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

fn warden_info(_ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    let start = started();
    rows.push()
        .set("pid", std::process::id())
        .set("uuid", host_uuid())
        .set("instance_id", instance_id())
        .set("version", env!("CARGO_PKG_VERSION"))
        .set("build_platform", std::env::consts::OS)
        .set("start_time", start)
        .set("uptime", now().saturating_sub(start));
    Ok(())
}

/// `osquery_info` answered for Warden, so fleet managers and packs that check it keep working.
fn osquery_info(_ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    rows.push()
        .set("pid", std::process::id())
        .set("uuid", host_uuid())
        .set("instance_id", instance_id())
        .set("version", concat!("warden-", env!("CARGO_PKG_VERSION")))
        .set("config_hash", "")
        .set("config_valid", 1)
        .set("extensions", "inactive")
        .set("build_platform", std::env::consts::OS)
        .set("build_distro", "")
        .set("start_time", started())
        .set("watcher", -1)
        // osquery's PlatformType bits: POSIX (0x01) | LINUX (0x08).
        .set("platform_mask", 9);
    Ok(())
}

fn join(items: &[&str]) -> String {
    items.join(",")
}

fn warden_tables(ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    let wanted = ctx.equal_texts("name");
    for def in all_tables() {
        let spec = def.spec;
        if wanted.as_ref().is_some_and(|w| !w.contains(spec.name)) {
            continue;
        }
        let required: Vec<&str> = spec
            .columns
            .iter()
            .filter(|c| c.required())
            .map(|c| c.name)
            .collect();
        rows.push()
            .set("name", spec.name)
            .set("description", spec.description)
            .set("aliases", join(spec.aliases))
            .set("evented", spec.evented)
            .set("user_data", spec.user_data)
            .set("columns", spec.columns.len())
            .set("required_columns", join(&required));
    }
    Ok(())
}

fn warden_columns(ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    let wanted = ctx.equal_texts("table_name");
    for def in all_tables() {
        let spec = def.spec;
        if wanted.as_ref().is_some_and(|w| !w.contains(spec.name)) {
            continue;
        }
        for c in spec.columns {
            rows.push()
                .set("table_name", spec.name)
                .set("name", c.name)
                .set("type", c.ty.spec_name())
                .set("required", c.required())
                .set("index", c.index())
                .set("hidden", c.hidden())
                .set("additional", c.additional())
                .set("optimized", c.optimized())
                .set("aliases", join(c.aliases))
                .set("description", c.description);
        }
    }
    Ok(())
}

/// `osquery_registry`: every table as a `table` plugin, as osquery lists its own.
fn osquery_registry(_ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    for def in all_tables() {
        rows.push()
            .set("registry", "table")
            .set("name", def.spec.name)
            .set("owner_uuid", 0)
            .set("internal", 0)
            .set("active", 1);
    }
    Ok(())
}

/// `osquery_extensions`: Warden itself as the core, as osquery lists itself.
fn osquery_extensions(_ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    rows.push()
        .set("uuid", 0)
        .set("name", "core")
        .set("version", env!("CARGO_PKG_VERSION"))
        .set("sdk_version", "0.0.0")
        .set("path", "")
        .set("type", "core");
    Ok(())
}

/// `osquery_events`: one subscriber row per event table. Those Warden's store backs are active
/// once the agent has written a store here that this process can read, and count the events it
/// holds (osquery counts those received since it started: the store is Warden's equivalent);
/// the others are inactive. A store that cannot be read makes its tables inactive rather than
/// failing this table, which fleet managers poll for health.
fn osquery_events(_ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    let store_tables = events::store_tables();
    let reader = events::open_reader().ok().flatten();
    for def in all_tables().iter().filter(|d| d.spec.evented) {
        let backing = store_tables
            .iter()
            .find(|t| t.def.spec.name == def.spec.name);
        let stored_events = backing.zip(reader.as_ref()).and_then(|(table, reader)| {
            let filter = warden_store::EventFilter {
                classes: table.classes.iter().map(|c| c.to_string()).collect(),
                ..Default::default()
            };
            reader.count(&filter).ok()
        });
        let publisher = if backing.is_some() {
            STORE_PUBLISHER
        } else {
            def.spec.name
        };
        rows.push()
            .set("name", def.spec.name)
            .set("publisher", publisher)
            .set("type", "subscriber")
            .set("subscriptions", i64::from(stored_events.is_some()))
            .set("events", stored_events.unwrap_or(0))
            .set("refreshes", 0)
            .set("active", stored_events.is_some());
    }
    Ok(())
}

/// The publisher `osquery_events` names for the tables read from Warden's store.
const STORE_PUBLISHER: &str = "warden_store";

/// Tables with no rows in a standalone query: the schedule, packs and flags of a daemon that
/// Warden does not run in osquery's form, and the event tables no Warden source feeds yet.
fn no_rows(_ctx: &QueryContext, _rows: &mut Rows) -> Result<(), TableError> {
    Ok(())
}

/// osquery's event tables on Linux that no Warden source feeds yet.
const EMPTY_EVENT_TABLES: &[&str] = &[
    "apparmor_events",
    "hardware_events",
    "seccomp_events",
    "selinux_events",
    "syslog_events",
    "user_events",
    "yara_events",
];

pub(crate) fn tables() -> Vec<TableDef> {
    let _ = started();
    let mut out = vec![
        TableDef {
            spec: &WARDEN_INFO,
            generate: warden_info,
            streamed: false,
        },
        TableDef {
            spec: &WARDEN_TABLES,
            generate: warden_tables,
            streamed: false,
        },
        TableDef {
            spec: &WARDEN_COLUMNS,
            generate: warden_columns,
            streamed: false,
        },
        TableDef {
            spec: &warden_events::WARDEN_EVENTS,
            generate: |ctx, rows| memo::generate_keyed(ctx, rows, warden_events::generate),
            streamed: true,
        },
        TableDef::osquery("osquery_info", osquery_info),
        TableDef::osquery("osquery_registry", osquery_registry),
        TableDef::osquery("osquery_extensions", osquery_extensions),
        TableDef::osquery("osquery_events", osquery_events),
        TableDef::osquery("osquery_flags", no_rows),
        TableDef::osquery("osquery_packs", no_rows),
        TableDef::osquery("osquery_schedule", no_rows),
    ];
    out.extend(events::store_tables().into_iter().map(|t| t.def));
    out.extend(
        EMPTY_EVENT_TABLES
            .iter()
            .map(|t| TableDef::osquery(t, no_rows)),
    );
    out
}

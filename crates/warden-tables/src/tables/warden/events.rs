//! The event tables backed by the agent's store: `process_events` (osquery's columns plus
//! Warden's: entity ids, sha256, package, origin...) and `process_lifecycle_events` (forks and
//! exits). Rows are read from the store `warden run` writes (never blocking it: SQLite WAL
//! readers); a constraint on `time` becomes a range scan of the store's time index.

use std::path::PathBuf;
use std::sync::{OnceLock, RwLock};

use serde_json::Value as Json;

use crate::context::Op;
use crate::spec::{ColumnSpec, ColumnType::*, Flags, TableSpec, col, osquery_spec};
use crate::{QueryContext, Rows, TableError};

const NONE: Flags = Flags::NONE;
const A: Flags = Flags::ADDITIONAL;

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

/// Warden's columns after osquery's in `process_events`.
const PROCESS_EVENT_EXTRAS: &[ColumnSpec] = &[
    col(
        "entity_id",
        Text,
        NONE,
        &[],
        "Warden: the process identity (boot id, pid, start time)",
    ),
    col(
        "parent_entity_id",
        Text,
        NONE,
        &[],
        "Warden: the parent's process identity",
    ),
    col(
        "sha256",
        Text,
        NONE,
        &[],
        "Warden: SHA-256 of the executed file",
    ),
    col(
        "file_size",
        BigInt,
        NONE,
        &[],
        "Warden: size of the executed file in bytes",
    ),
    col(
        "package",
        Text,
        NONE,
        &[],
        "Warden: the Debian package that installed the file",
    ),
    col(
        "package_verified",
        Integer,
        NONE,
        &[],
        "Warden: 1 if the file matches its package's digest",
    ),
    col(
        "build_id",
        Text,
        NONE,
        &[],
        "Warden: ELF GNU build-id of the executed file",
    ),
    col(
        "origin_url",
        Text,
        NONE,
        &[],
        "Warden: download origin (user.xdg.origin.url)",
    ),
    col(
        "referrer_url",
        Text,
        NONE,
        &[],
        "Warden: download referrer (user.xdg.referrer.url)",
    ),
    col(
        "container_id",
        Text,
        NONE,
        &[],
        "Warden: container id from the cgroup",
    ),
    col("username", Text, NONE, &[], "Warden: user name of uid"),
    col(
        "parent_path",
        Text,
        NONE,
        &[],
        "Warden: the parent's executable",
    ),
    col(
        "parent_cmdline",
        Text,
        NONE,
        &[],
        "Warden: the parent's arguments",
    ),
    col(
        "success",
        Integer,
        NONE,
        &[],
        "Warden: 1 if the exec succeeded",
    ),
    col(
        "source",
        Text,
        NONE,
        &[],
        "Warden: the source that saw the exec (audit, proc_connector)",
    ),
];

/// `process_events`: osquery's spec followed by Warden's extra columns.
pub(crate) fn process_events_spec() -> &'static TableSpec {
    static SPEC: OnceLock<TableSpec> = OnceLock::new();
    SPEC.get_or_init(|| {
        let base = osquery_spec("process_events").expect("osquery declares process_events");
        let columns: Vec<ColumnSpec> = base
            .columns
            .iter()
            .chain(PROCESS_EVENT_EXTRAS)
            .copied()
            .collect();
        TableSpec {
            columns: Vec::leak(columns),
            ..*base
        }
    })
}

pub(crate) static PROCESS_LIFECYCLE_EVENTS: TableSpec = TableSpec {
    name: "process_lifecycle_events",
    description: "Process forks and exits recorded by the agent, with identities and exit status.",
    aliases: &[],
    evented: true,
    user_data: false,
    columns: &[
        col("action", Text, NONE, &[], "fork or exit"),
        col("time", BigInt, A, &[], "Time of the event in UNIX time"),
        col("pid", BigInt, NONE, &[], "Process ID"),
        col("parent", BigInt, NONE, &[], "Parent process ID"),
        col(
            "entity_id",
            Text,
            NONE,
            &[],
            "The process identity (boot id, pid, start time)",
        ),
        col(
            "parent_entity_id",
            Text,
            NONE,
            &[],
            "The parent's process identity",
        ),
        col("path", Text, NONE, &[], "The process's executable"),
        col("cmdline", Text, NONE, &[], "The process's arguments"),
        col("uid", BigInt, NONE, &[], "User ID"),
        col("exit_code", Integer, NONE, &[], "Exit code (exit events)"),
        col(
            "signal",
            Integer,
            NONE,
            &[],
            "Terminating signal (exit events)",
        ),
        col(
            "duration_ms",
            BigInt,
            NONE,
            &[],
            "Process lifetime in milliseconds (exit events)",
        ),
        col(
            "eid",
            Text,
            Flags::HIDDEN,
            &[],
            "Event ID (the store's sequence number)",
        ),
    ],
};

/// The store filter for a scan: the classes, plus the time range the query constrains.
fn filter(ctx: &QueryContext, classes: &[&str]) -> warden_store::EventFilter {
    let mut filter = warden_store::EventFilter {
        classes: classes.iter().map(|c| c.to_string()).collect(),
        ..Default::default()
    };
    const NS: i64 = 1_000_000_000;
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
    filter
}

/// Seconds since boot at `time` (for osquery's `uptime` column), from the current boot time.
fn boot_time() -> Option<i64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    stat.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

fn str_of(v: &Json) -> Option<String> {
    match v {
        Json::String(s) => Some(s.clone()),
        Json::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn int_of(v: &Json) -> Option<i64> {
    match v {
        Json::Number(n) => n.as_i64(),
        Json::String(s) => s.parse().ok(),
        Json::Bool(b) => Some(i64::from(*b)),
        _ => None,
    }
}

fn args_of(v: &Json) -> Option<String> {
    v.as_array().map(|a| {
        a.iter()
            .filter_map(Json::as_str)
            .collect::<Vec<_>>()
            .join(" ")
    })
}

/// Reads the matching events; no store (the agent never ran here) means no rows.
fn scan(
    ctx: &QueryContext,
    classes: &[&str],
    mut each: impl FnMut(i64, &Json),
) -> Result<(), TableError> {
    let dir = store_dir();
    if !warden_store::database_path(&dir).exists() {
        return Ok(());
    }
    let reader = warden_store::Store::reader(&dir)
        .map_err(|e| TableError::Message(format!("event store {}: {e}", dir.display())))?;
    for row in reader.query(&filter(ctx, classes)) {
        let row = row.map_err(|e| TableError::Message(format!("event store: {e}")))?;
        if let Ok(json) = serde_json::from_str::<Json>(&row.event.json) {
            each(row.seq, &json);
        }
    }
    Ok(())
}

/// The event's time in whole seconds (osquery's `time`).
fn event_time(v: &Json) -> Option<i64> {
    v["@timestamp"]
        .as_str()
        .and_then(warden_core::parse_rfc3339_ns)
        .map(|t| t / 1_000_000_000)
}

pub(crate) fn process_events(ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    let boot = boot_time();
    scan(ctx, &["exec"], |seq, v| {
        let p = &v["process"];
        let x = &v["warden"]["executable"];
        let time = event_time(v);
        let cmdline = str_of(&p["command_line"]);
        let mut r = rows.push();
        r.set("pid", int_of(&p["pid"]))
            .set("path", str_of(&p["executable"]))
            .set("mode", str_of(&x["mode"]).map(|m| format!("{m:0>4}")))
            .set("cmdline_size", cmdline.as_ref().map(|c| c.len() as i64))
            .set("cmdline", cmdline)
            .set("cwd", str_of(&p["working_directory"]))
            .set("auid", int_of(&v["warden"]["auid"]))
            .set("uid", int_of(&p["real_user"]["id"]))
            .set("euid", int_of(&p["user"]["id"]))
            .set("gid", int_of(&p["real_group"]["id"]))
            .set("egid", int_of(&p["group"]["id"]))
            .set("owner_uid", int_of(&x["owner_uid"]))
            .set("owner_gid", int_of(&x["owner_gid"]))
            .set("mtime", int_of(&x["mtime_ns"]).map(|t| t / 1_000_000_000))
            .set("ctime", int_of(&x["ctime_ns"]).map(|t| t / 1_000_000_000))
            .set("overflows", "")
            .set("parent", int_of(&p["parent"]["pid"]).unwrap_or(-1))
            .set("time", time)
            .set("uptime", time.zip(boot).map(|(t, b)| t - b))
            .set("eid", seq.to_string())
            .set("syscall", str_of(&v["warden"]["syscall"]))
            .set("entity_id", str_of(&p["entity_id"]))
            .set("parent_entity_id", str_of(&p["parent"]["entity_id"]))
            .set("sha256", str_of(&p["hash"]["sha256"]))
            .set("file_size", int_of(&x["size"]))
            .set("package", str_of(&x["package"]))
            .set("package_verified", int_of(&x["package_verified"]))
            .set("build_id", str_of(&x["build_id"]))
            .set("origin_url", str_of(&x["origin_url"]))
            .set("referrer_url", str_of(&x["referrer_url"]))
            .set("container_id", str_of(&v["container"]["id"]))
            .set("username", str_of(&v["user"]["name"]))
            .set("parent_path", str_of(&p["parent"]["executable"]))
            .set("parent_cmdline", args_of(&p["parent"]["args"]))
            .set(
                "success",
                v["event"]["outcome"].as_str().map(|o| o == "success"),
            )
            .set("source", str_of(&v["warden"]["source"]));
    })
}

pub(crate) fn process_lifecycle_events(
    ctx: &QueryContext,
    rows: &mut Rows,
) -> Result<(), TableError> {
    scan(ctx, &["fork", "exit"], |seq, v| {
        let p = &v["process"];
        let duration = int_of(&v["warden"]["duration_ns"]);
        rows.push()
            .set("action", str_of(&v["event"]["action"]))
            .set("time", event_time(v))
            .set("pid", int_of(&p["pid"]))
            .set("parent", int_of(&p["parent"]["pid"]))
            .set("entity_id", str_of(&p["entity_id"]))
            .set("parent_entity_id", str_of(&p["parent"]["entity_id"]))
            .set("path", str_of(&p["executable"]))
            .set("cmdline", str_of(&p["command_line"]))
            .set("uid", int_of(&p["real_user"]["id"]))
            .set("exit_code", int_of(&p["exit_code"]))
            .set("signal", int_of(&v["warden"]["signal"]))
            .set("duration_ms", duration.map(|d| d / 1_000_000))
            .set("eid", seq.to_string());
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_constraints_become_a_store_range() {
        let spec = process_events_spec();
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
        let spec = process_events_spec();
        let base = osquery_spec("process_events").unwrap();
        assert_eq!(
            spec.columns.len(),
            base.columns.len() + PROCESS_EVENT_EXTRAS.len()
        );
        assert_eq!(spec.columns[0].name, "pid");
        assert!(spec.column_index("entity_id").is_some());
    }
}

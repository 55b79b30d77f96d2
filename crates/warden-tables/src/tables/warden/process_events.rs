//! `process_events` (osquery's columns plus Warden's: entity ids, sha256, package, origin...)
//! and `process_lifecycle_events` (forks and exits), read from the agent's store.

use std::sync::OnceLock;

use serde_json::Value as Json;

use super::events::{
    ENTITY_ID, PARENT_ENTITY_ID, boot_time, int_of, octal_mode, osquery_spec_with, scan, str_of,
};
use crate::spec::{ColumnSpec, ColumnType::*, Flags, TableSpec, col};
use crate::{QueryContext, Rows, TableError};

const NONE: Flags = Flags::NONE;
const A: Flags = Flags::ADDITIONAL;

/// The store's classes each table reads.
pub(super) const EXEC_CLASSES: &[&str] = &["exec"];
pub(super) const LIFECYCLE_CLASSES: &[&str] = &["fork", "exit"];

/// Warden's columns after osquery's in `process_events`.
const EXTRAS: &[ColumnSpec] = &[
    ENTITY_ID,
    PARENT_ENTITY_ID,
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
        "Warden: download origin (user.xdg.origin.url; else the URL its writer last fetched)",
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
    col(
        "script_path",
        Text,
        NONE,
        &[],
        "Warden: the script the exec named, which its interpreter (path) runs (#!)",
    ),
    col(
        "script_sha256",
        Text,
        NONE,
        &[],
        "Warden: SHA-256 of the script",
    ),
    col(
        "script_package",
        Text,
        NONE,
        &[],
        "Warden: the Debian package that installed the script",
    ),
];

/// `process_events`: osquery's spec followed by Warden's extra columns.
pub(super) fn process_events_spec() -> &'static TableSpec {
    static SPEC: OnceLock<TableSpec> = OnceLock::new();
    SPEC.get_or_init(|| osquery_spec_with("process_events", EXTRAS))
}

pub(super) static PROCESS_LIFECYCLE_EVENTS: TableSpec = TableSpec {
    name: "process_lifecycle_events",
    description: "Process forks and exits recorded by the agent, with identities and exit status.",
    aliases: &[],
    evented: true,
    user_data: false,
    columns: &[
        col("action", Text, NONE, &[], "fork or exit"),
        col("time", BigInt, A, &[], "Time of the event in UNIX time"),
        col("pid", BigInt, Flags::INDEX, &[], "Process ID"),
        col("parent", BigInt, NONE, &[], "Parent process ID"),
        col(
            "entity_id",
            Text,
            Flags::INDEX,
            &[],
            "The process identity (boot id, pid, start time)",
        ),
        col(
            "parent_entity_id",
            Text,
            Flags::INDEX,
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

/// ECS keeps the parent's arguments as a list; osquery's columns hold one line.
fn args_of(v: &Json) -> Option<String> {
    v.as_array().map(|a| {
        a.iter()
            .filter_map(Json::as_str)
            .collect::<Vec<_>>()
            .join(" ")
    })
}

pub(super) fn process_events(ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    let boot = boot_time();
    scan(ctx, EXEC_CLASSES, |e| {
        let p = e.process();
        let x = &e.warden()["executable"];
        let cmdline = str_of(&p["command_line"]);
        rows.push()
            .set("pid", e.stored.pid)
            .set("path", str_of(&p["executable"]))
            .set("mode", octal_mode(&x["mode"]))
            .set("cmdline_size", cmdline.as_ref().map(|c| c.len() as i64))
            .set("cmdline", cmdline)
            .set("cwd", str_of(&p["working_directory"]))
            .set("auid", e.auid())
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
            .set("time", e.time())
            .set("uptime", e.uptime(boot))
            .set("eid", e.eid())
            .set("syscall", e.syscall())
            .set("entity_id", e.entity_id())
            .set("parent_entity_id", e.parent_entity_id())
            .set("sha256", str_of(&p["hash"]["sha256"]))
            .set("file_size", int_of(&x["size"]))
            .set("package", str_of(&x["package"]))
            .set("package_verified", int_of(&x["package_verified"]))
            .set("build_id", str_of(&x["build_id"]))
            .set("origin_url", str_of(&x["origin_url"]))
            .set("referrer_url", str_of(&x["referrer_url"]))
            .set("container_id", str_of(&e.json["container"]["id"]))
            .set("username", str_of(&e.json["user"]["name"]))
            .set("parent_path", str_of(&p["parent"]["executable"]))
            .set("parent_cmdline", args_of(&p["parent"]["args"]))
            .set("success", e.stored.success)
            .set("source", e.source())
            .set("script_path", str_of(&e.warden()["script"]["path"]))
            .set(
                "script_sha256",
                str_of(&e.warden()["script"]["hash"]["sha256"]),
            )
            .set("script_package", str_of(&e.warden()["script"]["package"]));
    })
}

pub(super) fn process_lifecycle_events(
    ctx: &QueryContext,
    rows: &mut Rows,
) -> Result<(), TableError> {
    scan(ctx, LIFECYCLE_CLASSES, |e| {
        let p = e.process();
        let duration = int_of(&e.warden()["duration_ns"]);
        rows.push()
            .set("action", e.stored.action.as_str())
            .set("time", e.time())
            .set("pid", e.stored.pid)
            .set("parent", int_of(&p["parent"]["pid"]))
            .set("entity_id", e.entity_id())
            .set("parent_entity_id", e.parent_entity_id())
            .set("path", str_of(&p["executable"]))
            .set("cmdline", str_of(&p["command_line"]))
            .set("uid", int_of(&p["real_user"]["id"]))
            .set("exit_code", int_of(&p["exit_code"]))
            .set("signal", int_of(&e.warden()["signal"]))
            .set("duration_ms", duration.map(|d| d / 1_000_000))
            .set("eid", e.eid());
    })
}

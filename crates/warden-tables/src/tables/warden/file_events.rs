//! `file_events`: the file changes (and reads of watched files) the agent recorded, read from
//! its store, in osquery's columns plus Warden's.
//!
//! osquery's `action` is inotify's word for the change; Warden's operation (its own name, kept
//! in the `operation` column) maps to it as follows:
//!
//! | Warden operation                   | `action`              |
//! |------------------------------------|-----------------------|
//! | create, link, symlink              | `CREATED`             |
//! | open (for writing)                 | `OPENED`              |
//! | modify, close_write, truncate      | `UPDATED`             |
//! | rename                             | `MOVED_FROM` + `MOVED_TO` |
//! | delete                             | `DELETED`             |
//! | chmod, chown, attrib               | `ATTRIBUTES_MODIFIED` |
//! | read (watched files only)          | `ACCESSED`            |
//!
//! A rename is two rows, as inotify reports it: `MOVED_FROM` with the old name as `target_path`
//! and `MOVED_TO` with the new one, paired by `transaction_id` (the store's sequence number, as
//! osquery pairs them by inotify's cookie; 0 on every other row). Both rows have the same `eid`
//! and `old_path`. A rename whose old name is unknown has only its `MOVED_TO` row.
//!
//! `target_path` is the file the event is about; `category` the watch list entry that made a
//! read worth recording (`ssh`, `shadow`...), else `warden`; `inode`, `uid`, `gid` and `mode`
//! describe the file after the event, as far as the source knew. A change that left a file
//! written (a close after writing, a rename: both its rows) carries the file as the agent
//! found it then: `sha256`, `size`, `mtime`, `ctime`, and `hashed` 1; `hashed` is -1 where the
//! file was described but not hashed (larger than `files.hash_max_size`, over the hashing
//! budget, or changed while being read), 0 on other changes and where the file was gone.
//! Warden computes sha256 only: `md5` and `sha1` are NULL. A `times` operation (utimensat...)
//! has the times it set as `atime` and `mtime` (NULL where it set one to the time of the call
//! or left it alone); `atime` is NULL otherwise.

use std::sync::OnceLock;

use warden_core::FileAction;

use super::events::{
    ENTITY_ID, PARENT_ENTITY_ID, StoreEvent, int_of, octal_mode, osquery_spec_with, scan, str_of,
};
use crate::spec::{ColumnSpec, ColumnType::*, Flags, TableSpec, col};
use crate::{QueryContext, Rows, TableError};

const NONE: Flags = Flags::NONE;

/// The store's class of file events.
pub(super) const CLASSES: &[&str] = &["file"];

/// `category` of the events no watch list entry asked for.
const DEFAULT_CATEGORY: &str = "warden";

/// Warden's columns after osquery's.
const EXTRAS: &[ColumnSpec] = &[
    ENTITY_ID,
    PARENT_ENTITY_ID,
    col(
        "pid",
        BigInt,
        NONE,
        &[],
        "Warden: the process that acted on the file",
    ),
    col("exe", Text, NONE, &[], "Warden: the process's executable"),
    col(
        "process_uid",
        BigInt,
        NONE,
        &[],
        "Warden: real user ID of the process",
    ),
    col(
        "operation",
        Text,
        NONE,
        &[],
        "Warden: the operation (create, open, modify, close_write, rename, delete, chmod, \
         chown, attrib, link, symlink, truncate, read)",
    ),
    col(
        "old_path",
        Text,
        NONE,
        &[],
        "Warden: the old name of a renamed file",
    ),
    col(
        "link_target",
        Text,
        NONE,
        &[],
        "Warden: what a symlink points to, or the existing file a hard link names",
    ),
    SUCCESS,
    SOURCE,
    SYSCALL,
];

/// Columns both file tables have (`file_events`, `process_file_events`).
pub(super) const SUCCESS: ColumnSpec = col(
    "success",
    Integer,
    NONE,
    &[],
    "Warden: 1 if the operation succeeded",
);
pub(super) const SOURCE: ColumnSpec = col(
    "source",
    Text,
    NONE,
    &[],
    "Warden: the source that saw the operation (audit, ebpf, fanotify)",
);
pub(super) const SYSCALL: ColumnSpec = col(
    "syscall",
    Text,
    NONE,
    &[],
    "Warden: the syscall (openat, renameat2...) or fanotify event (FAN_CLOSE_WRITE...)",
);

pub(super) fn spec() -> &'static TableSpec {
    static SPEC: OnceLock<TableSpec> = OnceLock::new();
    SPEC.get_or_init(|| osquery_spec_with("file_events", EXTRAS))
}

/// inotify's word for an operation, as osquery's `action` (see the table above).
fn osquery_action(operation: FileAction) -> &'static str {
    match operation {
        FileAction::Create | FileAction::Link | FileAction::Symlink => "CREATED",
        FileAction::Open => "OPENED",
        FileAction::Modify | FileAction::CloseWrite | FileAction::Truncate => "UPDATED",
        FileAction::Rename => "MOVED_TO",
        FileAction::Delete => "DELETED",
        FileAction::Chmod | FileAction::Chown | FileAction::Attrib | FileAction::Times => {
            "ATTRIBUTES_MODIFIED"
        }
        FileAction::Read => "ACCESSED",
    }
}

pub(super) fn generate(ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    scan(ctx, CLASSES, |e| {
        let operation = FileAction::from_name(&e.stored.action);
        let renamed = operation == Some(FileAction::Rename);
        if renamed && let Some(old_path) = &e.stored.old_path {
            push(rows, e, old_path.clone(), Some("MOVED_FROM"), e.seq);
        }
        let path = e.stored.path.clone().unwrap_or_default();
        let transaction_id = if renamed { e.seq } else { 0 };
        push(rows, e, path, operation.map(osquery_action), transaction_id);
    })
}

fn push(
    rows: &mut Rows,
    e: &StoreEvent,
    target_path: String,
    action: Option<&str>,
    transaction_id: i64,
) {
    let file = &e.json["file"];
    let category = str_of(&e.warden()["file"]["watch"]);
    let sha256 = str_of(&file["hash"]["sha256"]);
    let hashed = match (&sha256, file["size"].is_null()) {
        (Some(_), _) => 1,
        (None, false) => -1,
        (None, true) => 0,
    };
    // What a `times` call set (`now` is no time: NULL).
    let set_times = &e.warden()["file"]["times"];
    let seconds = |time: &serde_json::Value| {
        time.as_str()
            .and_then(warden_core::parse_rfc3339_ns)
            .map(|ns| ns.div_euclid(1_000_000_000))
    };
    rows.push()
        .set("target_path", target_path)
        .set("category", category.as_deref().unwrap_or(DEFAULT_CATEGORY))
        .set("action", action)
        .set("transaction_id", transaction_id)
        .set("inode", int_of(&file["inode"]))
        .set("uid", int_of(&file["uid"]))
        .set("gid", int_of(&file["gid"]))
        .set("mode", octal_mode(&file["mode"]))
        .set("sha256", sha256)
        .set("size", file["size"].as_i64())
        .set("atime", seconds(&set_times["accessed"]))
        .set(
            "mtime",
            seconds(&set_times["modified"]).or_else(|| seconds(&file["mtime"])),
        )
        .set("ctime", seconds(&file["ctime"]))
        .set("hashed", hashed)
        .set("time", e.time())
        .set("eid", e.eid())
        .set("entity_id", e.entity_id())
        .set("parent_entity_id", e.parent_entity_id())
        .set("pid", e.stored.pid)
        .set("exe", e.stored.exe.clone())
        .set("process_uid", e.stored.uid)
        .set("operation", e.stored.action.as_str())
        .set("old_path", e.stored.old_path.clone())
        .set("link_target", str_of(&file["target_path"]))
        .set("success", e.stored.success)
        .set("source", e.source())
        .set("syscall", e.syscall());
}

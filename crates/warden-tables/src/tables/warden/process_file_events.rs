//! `process_file_events`: the file changes (and reads of watched files) the agent recorded,
//! read from its store in the columns of osquery's audit-based file monitor, one row per
//! event, plus Warden's.
//!
//! `file_events` tells the same events in inotify's words; this table tells them as osquery's
//! audit subscriber does, by the process. Its `operation`, in osquery's vocabulary where it
//! has the word, else in Warden's (Warden's own name is in `action`):
//!
//! | Warden action      | `operation` | `path`, `dest_path`                          |
//! |--------------------|-------------|----------------------------------------------|
//! | open (for writing) | `open`      | the file                                     |
//! | modify, truncate   | `write`     | the file                                     |
//! | close_write        | `close`     | the file                                     |
//! | delete             | `unlink`    | the file                                     |
//! | rename             | `rename`    | the old name (NULL when unknown), the new    |
//! | link               | `link`      | the existing file, the new name              |
//! | symlink            | `symlink`   | the target as given, the link                |
//! | read (watched)     | `read`      | the file                                     |
//! | create             | `create`    | the file (or directory)                      |
//! | chmod, chown, attrib | the same  | the file                                     |
//!
//! (osquery's audit monitor never reports a creation, nor an attribute change: it sees the
//! open, then the write.) `uid`, `gid`, `euid`, `egid` and `auid` are the acting process's, as
//! text like osquery's; Warden does not record the filesystem and saved ids (`fsuid`, `fsgid`,
//! `suid`, `sgid` are NULL). `partial` is `true` where the process was not fully known (no
//! identity or no executable: it ended before the agent could look). `uptime` is the event's
//! time since boot; NULL for an event of an earlier boot.

use std::sync::OnceLock;

use warden_core::FileAction;

use super::events::{
    ENTITY_ID, PARENT_ENTITY_ID, boot_time, int_of, osquery_spec_with, scan, str_of,
};
use super::file_events;
use crate::spec::{ColumnSpec, ColumnType::*, Flags, TableSpec, col};
use crate::{QueryContext, Rows, TableError};

const NONE: Flags = Flags::NONE;

/// Warden's columns after osquery's.
const EXTRAS: &[ColumnSpec] = &[
    ENTITY_ID,
    PARENT_ENTITY_ID,
    col(
        "action",
        Text,
        NONE,
        &[],
        "Warden: the operation in Warden's words (create, open, modify, close_write, rename, \
         delete, chmod, chown, attrib, link, symlink, truncate, read)",
    ),
    file_events::SUCCESS,
    col(
        "inode",
        BigInt,
        NONE,
        &[],
        "Warden: the file's inode number",
    ),
    col(
        "sha256",
        Text,
        NONE,
        &[],
        "Warden: SHA-256 of what a close after writing or a rename left",
    ),
    col(
        "category",
        Text,
        NONE,
        &[],
        "Warden: the watch list entry that made a read worth recording (ssh, shadow...)",
    ),
    file_events::SOURCE,
    file_events::SYSCALL,
];

pub(super) fn spec() -> &'static TableSpec {
    static SPEC: OnceLock<TableSpec> = OnceLock::new();
    SPEC.get_or_init(|| osquery_spec_with("process_file_events", EXTRAS))
}

/// osquery's audit monitor's word for an action, else Warden's (see the table above).
fn osquery_operation(action: FileAction) -> &'static str {
    match action {
        FileAction::Open => "open",
        FileAction::Modify | FileAction::Truncate => "write",
        FileAction::CloseWrite => "close",
        FileAction::Delete => "unlink",
        other => other.name(),
    }
}

pub(super) fn generate(ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    let boot = boot_time();
    scan(ctx, file_events::CLASSES, |e| {
        let action = FileAction::from_name(&e.stored.action);
        let file = &e.json["file"];
        let path = e.stored.path.clone();
        let (path, dest_path) = match action {
            Some(FileAction::Rename) => (e.stored.old_path.clone(), path),
            Some(FileAction::Link | FileAction::Symlink) => (str_of(&file["target_path"]), path),
            _ => (path, None),
        };
        let p = e.process();
        let id = |v: &serde_json::Value| int_of(v).map(|n| n.to_string());
        let partial = e.entity_id().is_none() || p["executable"].is_null();
        rows.push()
            .set(
                "operation",
                action.map_or_else(
                    || e.stored.action.to_string(),
                    |a| osquery_operation(a).to_string(),
                ),
            )
            .set("pid", e.stored.pid)
            .set("ppid", e.stored.ppid)
            .set("time", e.time())
            .set("executable", e.stored.exe.clone())
            .set("partial", if partial { "true" } else { "false" })
            .set("cwd", str_of(&p["working_directory"]))
            .set("path", path)
            .set("dest_path", dest_path)
            .set("uid", id(&p["real_user"]["id"]))
            .set("gid", id(&p["real_group"]["id"]))
            .set("auid", e.auid().map(|a| a.to_string()))
            .set("euid", id(&p["user"]["id"]))
            .set("egid", id(&p["group"]["id"]))
            .set("uptime", e.uptime(boot))
            .set("eid", e.eid())
            .set("entity_id", e.entity_id())
            .set("parent_entity_id", e.parent_entity_id())
            .set("action", e.stored.action.as_str())
            .set("success", e.stored.success)
            .set("inode", int_of(&file["inode"]))
            .set("sha256", str_of(&file["hash"]["sha256"]))
            .set("category", str_of(&e.warden()["file"]["watch"]))
            .set("source", e.source())
            .set("syscall", e.syscall());
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_use_osquerys_words_where_it_has_them() {
        for (action, word) in [
            (FileAction::Open, "open"),
            (FileAction::Modify, "write"),
            (FileAction::Truncate, "write"),
            (FileAction::CloseWrite, "close"),
            (FileAction::Delete, "unlink"),
            (FileAction::Rename, "rename"),
            (FileAction::Link, "link"),
            (FileAction::Symlink, "symlink"),
            (FileAction::Read, "read"),
            (FileAction::Create, "create"),
            (FileAction::Chmod, "chmod"),
        ] {
            assert_eq!(osquery_operation(action), word, "{action:?}");
        }
    }
}

//! `warden_events`: every event of the agent's store, of every class, with the store's own
//! fields (`seq`, class, action, ids, addresses...) and the full ECS line in `json` — the raw
//! store as SQL, for what the osquery-shaped tables do not ask (`json_extract(json, ...)`).
//! `time` constraints narrow the blocks read, as in the other event tables; `entity_id`,
//! `parent_entity_id` and `pid` equalities skip the blocks whose process filters rule them
//! out; `class` ones the events of other classes.

use super::events::{filter, open_reader};
use crate::spec::{ColumnType::*, Flags, TableSpec, col};
use crate::{QueryContext, Rows, TableError};

const NONE: Flags = Flags::NONE;
/// Narrows the blocks read (time) or the events decoded (class).
const PUSHED: Flags = Flags::OPTIMIZED;
/// A process key: the blocks' process filters skip what cannot hold it.
const KEY: Flags = Flags::INDEX;

pub(super) static WARDEN_EVENTS: TableSpec = TableSpec {
    name: "warden_events",
    description: "Every event in the agent's store, in the store's own fields plus the ECS JSON line.",
    aliases: &[],
    evented: false,
    user_data: false,
    columns: &[
        col(
            "seq",
            BigInt,
            NONE,
            &[],
            "Position in the store: grows with every event, never reused",
        ),
        col(
            "time",
            BigInt,
            PUSHED,
            &[],
            "UNIX time of the event, in seconds",
        ),
        col(
            "time_ns",
            BigInt,
            NONE,
            &[],
            "UNIX time of the event, in nanoseconds",
        ),
        col(
            "class",
            Text,
            PUSHED,
            &[],
            "exec, fork, exit, network, file or loss",
        ),
        col(
            "action",
            Text,
            NONE,
            &[],
            "What happened within the class (exec, connect, rename...)",
        ),
        col(
            "entity_id",
            Text,
            KEY,
            &[],
            "The process identity (boot id, pid, start time)",
        ),
        col(
            "parent_entity_id",
            Text,
            KEY,
            &[],
            "The parent's process identity",
        ),
        col("pid", BigInt, KEY, &[], "Process ID"),
        col("ppid", BigInt, NONE, &[], "Parent process ID"),
        col("uid", BigInt, NONE, &[], "Real user ID"),
        col("exe", Text, NONE, &[], "The process's executable"),
        col(
            "path",
            Text,
            NONE,
            &[],
            "The file (or Unix socket) the event is about",
        ),
        col("old_path", Text, NONE, &[], "A renamed file's old path"),
        col(
            "success",
            Integer,
            NONE,
            &[],
            "1 or 0 for events with an outcome",
        ),
        col(
            "local_address",
            Text,
            NONE,
            &[],
            "This host's end of a socket",
        ),
        col("local_port", Integer, NONE, &[], "This host's port"),
        col(
            "remote_address",
            Text,
            NONE,
            &[],
            "The peer's end of a socket",
        ),
        col("remote_port", Integer, NONE, &[], "The peer's port"),
        col("json", Text, NONE, &[], "The event as an ECS JSON line"),
    ],
};

pub(super) fn generate(ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    let Some(reader) = open_reader()? else {
        return Ok(());
    };
    // The agent stores events in binary: their JSON is written only for queries that read it.
    let wants_json = ctx.wants("json");
    for row in reader.query(&filter(ctx, &[])) {
        if crate::row::consumer_gone() {
            break;
        }
        let row = row.map_err(|e| TableError::Message(format!("event store: {e}")))?;
        let e = row.event;
        let json = wants_json.then(|| e.json().into_owned());
        rows.push()
            .set("seq", row.seq)
            .set("time", e.time_ns.div_euclid(1_000_000_000))
            .set("time_ns", e.time_ns)
            .set("class", e.class)
            .set("action", e.action)
            .set("entity_id", e.entity_id)
            .set("parent_entity_id", e.parent_entity_id)
            .set("pid", e.pid)
            .set("ppid", e.ppid)
            .set("uid", e.uid)
            .set("exe", e.exe)
            .set("path", e.path)
            .set("old_path", e.old_path)
            .set("success", e.success)
            .set("local_address", e.local_address)
            .set("local_port", e.local_port)
            .set("remote_address", e.remote_address)
            .set("remote_port", e.remote_port)
            .set("json", json);
    }
    Ok(())
}

//! The on-disk schema and its explicit migrations, versioned by `PRAGMA user_version`.
//!
//! Migration `i` (0-based) takes the database from version `i` to `i + 1`. Never edit a
//! released migration: append a new one.

use rusqlite::{Connection, Transaction, TransactionBehavior};

use crate::block::Encoder;
use crate::writer::{BlockShape, encode_blocks, insert_blocks};
use crate::{Body, Result, StoreError, StoredEvent};

/// One step of the schema.
enum Migration {
    Sql(&'static str),
    /// A step SQL alone cannot do (re-encoding rows).
    Code(fn(&Transaction<'_>) -> Result<()>),
}

use Migration::{Code, Sql};

/// Migrations, in order. Index `i` upgrades version `i` to `i + 1`.
const MIGRATIONS: &[Migration] = &[
    // 1: the events table. AUTOINCREMENT so that `seq` is never reused, even once retention has
    // deleted every row: shippers and `--follow` keep a cursor on it.
    Sql("CREATE TABLE events (
        seq              INTEGER PRIMARY KEY AUTOINCREMENT,
        time_ns          INTEGER NOT NULL,
        class            TEXT    NOT NULL,
        action           TEXT    NOT NULL,
        entity_id        TEXT    NOT NULL,
        parent_entity_id TEXT,
        pid              INTEGER NOT NULL,
        ppid             INTEGER,
        uid              INTEGER,
        exe              TEXT,
        path             TEXT,
        success          INTEGER,
        json             TEXT    NOT NULL
    );
    CREATE INDEX events_time_ns ON events(time_ns);
    CREATE INDEX events_entity_id ON events(entity_id);
    CREATE INDEX events_parent_entity_id ON events(parent_entity_id);
    CREATE INDEX events_pid ON events(pid);
    CREATE INDEX events_class ON events(class, time_ns);"),
    // 2: network and file events: a rename's old path and both ends of a socket, so that
    // `--path`, `--port` and `--addr` filter in SQL. Existing rows keep NULLs.
    Sql("ALTER TABLE events ADD COLUMN old_path TEXT;
    ALTER TABLE events ADD COLUMN local_address TEXT;
    ALTER TABLE events ADD COLUMN local_port INTEGER;
    ALTER TABLE events ADD COLUMN remote_address TEXT;
    ALTER TABLE events ADD COLUMN remote_port INTEGER;"),
    // 3: integer keys for the entity lookups (`crate::event::entity_key`), written by the
    // writer. The text indexes on `entity_id` and `parent_entity_id` were the writer's most
    // expensive: long keys, compared as strings, inserted all over the index. A key has the
    // start time in its high bits, so new processes land at the right edge of the index.
    // Rows without a key (written before this migration, or by an older agent still running)
    // stay reachable through partial text indexes that hold only them: empty on a new store,
    // and never touched by the new writer's inserts.
    Sql("ALTER TABLE events ADD COLUMN entity_key INTEGER;
    ALTER TABLE events ADD COLUMN parent_key INTEGER;
    DROP INDEX IF EXISTS events_entity_id;
    DROP INDEX IF EXISTS events_parent_entity_id;
    CREATE INDEX events_entity_key ON events(entity_key);
    CREATE INDEX events_parent_key ON events(parent_key);
    CREATE INDEX events_entity_id_unkeyed ON events(entity_id) WHERE entity_key IS NULL;
    CREATE INDEX events_parent_entity_id_unkeyed ON events(parent_entity_id)
        WHERE parent_key IS NULL AND parent_entity_id IS NOT NULL;"),
    // 4 and 5: one row per committed batch (`block.rs`) instead of one row and five index entries
    // per event: SQLite's per-row and per-index work was over half of the agent's CPU at 1,000
    // execs/s (docs/PERFORMANCE.md, 2026-11-28 "event blocks"). Blocks are found by `seq`
    // (the primary key) and by time (`max_time_ns`, for retention and `--since`); the other
    // filters run on the decoded events. `store_meta.last_seq` keeps `seq` from ever being
    // reused. The rows of `events` move into blocks (each a run of consecutive `seq`s) and the
    // table goes: an older agent still running on the store then fails its commits (counted
    // in its status as store errors) until it is restarted with this build.
    Sql("CREATE TABLE event_blocks (
        first_seq   INTEGER PRIMARY KEY,
        last_seq    INTEGER NOT NULL,
        min_time_ns INTEGER NOT NULL,
        max_time_ns INTEGER NOT NULL,
        events      BLOB    NOT NULL
    );
    CREATE INDEX event_blocks_max_time ON event_blocks(max_time_ns);
    CREATE TABLE store_meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
    INSERT INTO store_meta (name, value) VALUES ('last_seq',
        coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0));"),
    Code(events_into_blocks),
    // 6: each block's `processes` (`block::ProcessFilter`: a Bloom filter of the entity ids,
    // parent ids and pids its events name), so that `--entity`/`--pid` read only the blocks
    // that may hold the process instead of decoding the whole store. Placed before `events`:
    // SQLite reaches a column after a large blob only through the blob's overflow pages. Blocks
    // written before have none (NULL: always read).
    Sql("CREATE TABLE event_blocks_6 (
        first_seq   INTEGER PRIMARY KEY,
        last_seq    INTEGER NOT NULL,
        min_time_ns INTEGER NOT NULL,
        max_time_ns INTEGER NOT NULL,
        processes   BLOB,
        events      BLOB    NOT NULL
    );
    INSERT INTO event_blocks_6 (first_seq, last_seq, min_time_ns, max_time_ns, events)
        SELECT first_seq, last_seq, min_time_ns, max_time_ns, events FROM event_blocks;
    DROP TABLE event_blocks;
    ALTER TABLE event_blocks_6 RENAME TO event_blocks;
    CREATE INDEX event_blocks_max_time ON event_blocks(max_time_ns);"),
];

/// Events read at a time when migration 5 re-encodes the rows of `events`.
const MIGRATED_BLOCK_EVENTS: usize = 1000;

/// Inserts `run` (events of consecutive `seq`s from `first_seq`) as blocks of schema 4.
fn insert_run(
    tx: &Transaction<'_>,
    first_seq: i64,
    run: &[StoredEvent],
    encoder: &mut Encoder,
) -> Result<()> {
    let blocks = encode_blocks(run, encoder);
    insert_blocks(tx, first_seq, run, &blocks, BlockShape::Schema4)?;
    Ok(())
}

/// Migration 5: every row of `events` into blocks, then the table dropped.
fn events_into_blocks(tx: &Transaction<'_>) -> Result<()> {
    let mut select = tx.prepare(
        "SELECT seq, time_ns, class, action, entity_id, parent_entity_id, pid, ppid, uid, exe, \
         path, success, json, old_path, local_address, local_port, remote_address, remote_port \
         FROM events ORDER BY seq",
    )?;
    let mut rows = select.query([])?;
    let mut run: Vec<StoredEvent> = Vec::new();
    let mut encoder = Encoder::default();
    let mut first_seq = 0;
    while let Some(r) = rows.next()? {
        let seq: i64 = r.get(0)?;
        if run.len() == MIGRATED_BLOCK_EVENTS
            || (!run.is_empty() && seq != first_seq + run.len() as i64)
        {
            insert_run(tx, first_seq, &run, &mut encoder)?;
            run.clear();
        }
        if run.is_empty() {
            first_seq = seq;
        }
        run.push(StoredEvent {
            time_ns: r.get(1)?,
            class: r.get(2)?,
            action: r.get(3)?,
            entity_id: r.get(4)?,
            parent_entity_id: r.get(5)?,
            pid: r.get(6)?,
            ppid: r.get(7)?,
            uid: r.get(8)?,
            exe: r.get(9)?,
            path: r.get(10)?,
            success: r.get(11)?,
            body: Body::Json(r.get(12)?),
            old_path: r.get(13)?,
            local_address: r.get(14)?,
            local_port: r.get(15)?,
            remote_address: r.get(16)?,
            remote_port: r.get(17)?,
        });
    }
    if !run.is_empty() {
        insert_run(tx, first_seq, &run, &mut encoder)?;
    }
    drop(rows);
    drop(select);
    tx.execute_batch("DROP TABLE events")?;
    Ok(())
}

/// Schema version this build writes (the number of migrations).
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the database up to [`SCHEMA_VERSION`]; refuses a newer one.
///
/// Runs in one IMMEDIATE transaction, so two processes opening a new store at once do not both
/// migrate. (`auto_vacuum=INCREMENTAL` is set by the writer connection's setup, before the
/// first table exists: it cannot be turned on afterwards without a full VACUUM.)
pub(crate) fn migrate(conn: &mut Connection) -> Result<()> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    if version == SCHEMA_VERSION {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // Re-read under the write lock: another process may have migrated meanwhile.
    let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    for (i, step) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        match step {
            Sql(sql) => tx.execute_batch(sql)?,
            Code(run) => run(&tx)?,
        }
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
    }
    tx.commit()?;
    Ok(())
}

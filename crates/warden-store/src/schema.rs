//! The on-disk schema and its explicit migrations, versioned by `PRAGMA user_version`.
//!
//! Migration `i` (0-based) takes the database from version `i` to `i + 1`. Never edit a
//! released migration: append a new one.

use rusqlite::{Connection, TransactionBehavior};

use crate::{Result, StoreError};

/// Migrations, in order. Index `i` upgrades version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: the events table. AUTOINCREMENT so that `seq` is never reused, even once retention has
    // deleted every row: shippers and `--follow` keep a cursor on it.
    "CREATE TABLE events (
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
    CREATE INDEX events_class ON events(class, time_ns);",
    // 2: network and file events: a rename's old path and both ends of a socket, so that
    // `--path`, `--port` and `--addr` filter in SQL. Existing rows keep NULLs.
    "ALTER TABLE events ADD COLUMN old_path TEXT;
    ALTER TABLE events ADD COLUMN local_address TEXT;
    ALTER TABLE events ADD COLUMN local_port INTEGER;
    ALTER TABLE events ADD COLUMN remote_address TEXT;
    ALTER TABLE events ADD COLUMN remote_port INTEGER;",
    // 3: integer keys for the entity lookups (`crate::event::entity_key`), written by the
    // writer. The text indexes on `entity_id` and `parent_entity_id` were the writer's most
    // expensive: long keys, compared as strings, inserted all over the index. A key has the
    // start time in its high bits, so new processes land at the right edge of the index.
    // Rows without a key (written before this migration, or by an older agent still running)
    // stay reachable through partial text indexes that hold only them: empty on a new store,
    // and never touched by the new writer's inserts.
    "ALTER TABLE events ADD COLUMN entity_key INTEGER;
    ALTER TABLE events ADD COLUMN parent_key INTEGER;
    DROP INDEX IF EXISTS events_entity_id;
    DROP INDEX IF EXISTS events_parent_entity_id;
    CREATE INDEX events_entity_key ON events(entity_key);
    CREATE INDEX events_parent_key ON events(parent_key);
    CREATE INDEX events_entity_id_unkeyed ON events(entity_id) WHERE entity_key IS NULL;
    CREATE INDEX events_parent_entity_id_unkeyed ON events(parent_entity_id)
        WHERE parent_key IS NULL AND parent_entity_id IS NOT NULL;",
];

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
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
    }
    tx.commit()?;
    Ok(())
}

//! The embedded event store of the Warden agent: one SQLite database in WAL mode.
//!
//! - [`Store::open`] creates the directory and the database, applies the schema migrations
//!   (`PRAGMA user_version`) and remembers the [`Retention`] policy.
//! - A [`Writer`] (one per store, owned by one thread) inserts batches in one transaction each
//!   and enforces retention by age, by size and by the free space left on the filesystem
//!   ([`Writer::enforce_retention`], [`KeepFree`]).
//! - [`spawn_writer`] runs a writer on its own thread, fed by a `crossbeam_channel`, batching by
//!   count or time; its counters are shared atomics ([`WriterCounters`]).
//! - A [`Reader`] ([`Store::reader`]) opens the database read-only; WAL readers never block the
//!   writer. [`Reader::query`] streams the rows matching an [`EventFilter`], in `seq` order.
//! - [`database_path`] and [`attach_read_only`] let the SQL engine `ATTACH` the store.
//!
//! One table, `event_blocks`, holds every event class (exec, fork, exit, loss, network, file...):
//! one row per committed batch, its events encoded together (`block.rs`: the filter columns
//! of each event plus its full JSON line), with the batch's `seq` and time range as columns.
//! Every event has a `seq` (never reused, even after retention deleted every block: the
//! counter is kept in `store_meta`), the cursor for tailing and for shippers.

mod block;
mod clock;
mod event;
mod reader;
mod reserve;
mod schema;
mod space;
mod thread;
mod writer;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use block::{BodyView, EventView};
pub use event::{Body, StoredEvent, StoredEventRow};
pub use reader::{EventFilter, Reader};
pub use reserve::{RESERVE_BYTES, RESERVE_FILE, RESERVE_SHARE};
pub use schema::SCHEMA_VERSION;
pub use space::{FilesystemSpace, KeepFree};
pub use thread::{
    WriterCounters, WriterOptions, WriterStats, WriterThread, spawn_writer, spawn_writer_with,
};
pub use writer::{DiskUsage, EncodedBatch, RetentionReport, Writer};

/// File name of the database inside the store directory.
pub const DATABASE_FILE: &str = "events.db";

/// How long SQLite waits for a lock before it reports `SQLITE_BUSY`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// An error reported by SQLite.
    #[error("event store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A file-system error (creating the directory, reading file sizes).
    #[error("event store {path}: {source}")]
    Io {
        /// The path concerned.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The database was written by a newer Warden (its schema version is unknown here).
    #[error("event store schema version {found} is newer than this build supports ({supported})")]
    SchemaTooNew {
        /// `user_version` found in the database.
        found: i64,
        /// The newest version this build knows.
        supported: i64,
    },
    /// The database was written by an older Warden and could not be upgraded by this reader.
    #[error(
        "event store schema version {found} is older than this build's ({supported}) and could \
         not be upgraded ({why}); run `warden run` once, or read as a user who may write it"
    )]
    SchemaTooOld {
        /// `user_version` found in the database.
        found: i64,
        /// The version this build reads.
        supported: i64,
        /// Why the upgrade failed.
        why: String,
    },
    /// An argument was rejected (for example an invalid schema name for `ATTACH`).
    #[error("event store: {0}")]
    Invalid(String),
    /// A stored block of events could not be decoded (a newer format, or damage).
    #[error("event store: block at seq {first_seq} unreadable: {why}")]
    CorruptBlock {
        /// `seq` of the block's first event.
        first_seq: i64,
        /// What is wrong with it.
        why: String,
    },
    /// The writer thread panicked.
    #[error("event store writer thread panicked")]
    WriterPanicked,
}

/// Result type of the store.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// How much history the store keeps. A zero field disables that limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Events whose `time_ns` is older than now minus `max_age` are deleted.
    pub max_age: Duration,
    /// Bound on the database file plus its WAL, in bytes; the oldest events are deleted (and the
    /// file shrunk) until the total is under about 90 % of it.
    pub max_bytes: u64,
    /// Space left free on the store's filesystem: below it the oldest events are deleted to
    /// give space back, and when none is left to delete new batches are dropped (counted),
    /// whatever `max_bytes` allows.
    pub keep_free: KeepFree,
}

impl Default for Retention {
    /// Seven days, 1 GiB, and 5 % of the filesystem (at most 1 GiB) left free.
    fn default() -> Self {
        Retention {
            max_age: Duration::from_secs(7 * 24 * 3600),
            max_bytes: 1 << 30,
            keep_free: KeepFree::default(),
        }
    }
}

/// An opened (created, migrated) store: its location and retention policy.
///
/// It holds no connection; [`Store::writer`] and [`Store::reader`] open their own, so a writer
/// can move to its thread and any number of readers can run beside it.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
    path: PathBuf,
    retention: Retention,
}

impl Store {
    /// Opens the store in `dir`, creating the directory (mode 0700) and the database if needed,
    /// switching it to WAL mode and applying schema migrations.
    pub fn open(dir: impl AsRef<Path>, retention: Retention) -> Result<Store> {
        let dir = dir.as_ref().to_path_buf();
        create_private_dir(&dir)?;
        let path = database_path(&dir);
        let mut conn = writer::open_write_connection(&path, &retention)?;
        schema::migrate(&mut conn)?;
        Ok(Store {
            dir,
            path,
            retention,
        })
    }

    /// Opens the store in `dir` as [`Store::open`] does, but a database SQLite finds damaged
    /// (not a database, or a malformed image) is set aside, with its WAL, as
    /// `events.db.damaged-<UTC time>` (kept for `sqlite3 .recover`), and a new store begins in
    /// its place: the agent records on. Its `seq` starts again from 1 (the old store's last
    /// cannot be read: opening fails only when the file's header is damaged). Any other error
    /// (a newer schema, permissions, a full disk) is returned as it is: those stores are not
    /// damaged.
    pub fn open_setting_damage_aside(
        dir: impl AsRef<Path>,
        retention: Retention,
    ) -> Result<(Store, Option<SetAside>)> {
        let dir = dir.as_ref();
        let error = match Store::open(dir, retention) {
            Ok(store) => return Ok((store, None)),
            Err(e) if is_damage(&e) => e,
            Err(e) => return Err(e),
        };
        let (aside, removed) = set_aside(dir)?;
        let store = Store::open(dir, retention)?;
        Ok((
            store,
            Some(SetAside {
                path: aside,
                why: error.to_string(),
                removed,
            }),
        ))
    }

    /// Opens the single writer of this store. Only one writer should exist at a time (a second
    /// one would wait on SQLite's lock).
    pub fn writer(&self) -> Result<Writer> {
        Writer::open(&self.path, self.retention)
    }

    /// Opens a read-only connection to the store in `dir` (which must already exist).
    pub fn reader(dir: impl AsRef<Path>) -> Result<Reader> {
        Reader::open(&database_path(dir.as_ref()))
    }

    /// The store directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The SQLite database file, for `ATTACH` by the SQL engine.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The retention policy given at open.
    pub fn retention(&self) -> Retention {
        self.retention
    }

    /// Current size of the database file and its WAL.
    pub fn disk_usage(&self) -> Result<DiskUsage> {
        DiskUsage::of(&self.path)
    }
}

/// A damaged database that [`Store::open_setting_damage_aside`] moved aside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetAside {
    /// Where it is now.
    pub path: PathBuf,
    /// What SQLite said of it.
    pub why: String,
    /// Older damaged databases deleted to keep [`KEEP_SET_ASIDE`].
    pub removed: Vec<PathBuf>,
}

/// How many damaged databases set aside are kept: a failing disk can damage a new store again
/// and again, and each copy may be as large as the store.
pub const KEEP_SET_ASIDE: usize = 3;

const SET_ASIDE_PREFIX: &str = "events.db.damaged-";

/// Moves the store's database in `dir`, with its WAL, aside as
/// `events.db.damaged-<UTC time>` (its shared-memory index is removed), and deletes the
/// oldest set aside before beyond [`KEEP_SET_ASIDE`]. Returns where it went, and what was
/// deleted.
pub(crate) fn set_aside(dir: &Path) -> Result<(PathBuf, Vec<PathBuf>)> {
    let path = database_path(dir);
    let stamp = time_stamp(std::time::SystemTime::now());
    // A second one within the same second takes the next number: a rename over the first
    // would lose it, and a number freed by pruning, reused, would sort the newest first.
    let highest = set_aside_in(dir)
        .into_iter()
        .filter(|((at, _), _)| *at == stamp)
        .map(|((_, number), _)| number)
        .max();
    let aside = match highest {
        None => dir.join(format!("{SET_ASIDE_PREFIX}{stamp}")),
        Some(n) => dir.join(format!("{SET_ASIDE_PREFIX}{stamp}-{}", n + 1)),
    };
    for suffix in ["", "-wal"] {
        let from = PathBuf::from(format!("{}{suffix}", path.display()));
        let to = PathBuf::from(format!("{}{suffix}", aside.display()));
        match std::fs::rename(&from, &to) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(StoreError::Io {
                    path: from,
                    source: e,
                });
            }
            _ => {}
        }
    }
    let _ = std::fs::remove_file(format!("{}-shm", path.display()));
    Ok((aside, prune_set_aside(dir)))
}

/// Deletes the oldest damaged databases (with their WALs) beyond [`KEEP_SET_ASIDE`]; returns
/// their paths.
fn prune_set_aside(dir: &Path) -> Vec<PathBuf> {
    let kept = set_aside_in(dir);
    let excess = kept.len().saturating_sub(KEEP_SET_ASIDE);
    kept.into_iter()
        .take(excess)
        .filter(|(_, path)| std::fs::remove_file(path).is_ok())
        .map(|(_, path)| {
            let _ = std::fs::remove_file(format!("{}-wal", path.display()));
            path
        })
        .collect()
}

/// The damaged databases set aside in `dir`, oldest first, with their places in time.
fn set_aside_in(dir: &Path) -> Vec<((String, u32), PathBuf)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<((String, u32), PathBuf)> = entries
        .filter_map(|e| {
            let path = e.ok()?.path();
            let order = set_aside_order(path.file_name()?.to_str()?)?;
            Some((order, path))
        })
        .collect();
    found.sort();
    found
}

/// Says which older damaged databases were deleted, for a log line.
pub fn deleted_set_aside(removed: &[PathBuf]) -> String {
    let names: Vec<String> = removed.iter().map(|p| p.display().to_string()).collect();
    format!(
        "; deleted the oldest damaged store(s) set aside before, {KEEP_SET_ASIDE} being kept: {}",
        names.join(", ")
    )
}

/// Where a set-aside database's name falls in time: its stamp, then its number (a second
/// one within the same second is `-2`, and `-10` comes after `-9`). `None` for other files,
/// a set-aside WAL among them.
fn set_aside_order(name: &str) -> Option<(String, u32)> {
    let rest = name.strip_prefix(SET_ASIDE_PREFIX)?;
    let (stamp, number) = match rest.rsplit_once('-') {
        Some((stamp, number)) => (stamp, number.parse().ok()?),
        None => (rest, 1),
    };
    stamp.ends_with('Z').then(|| (stamp.to_owned(), number))
}

/// Whether SQLite found the database itself damaged (not a database, a malformed image).
pub(crate) fn is_damage(error: &StoreError) -> bool {
    use rusqlite::ErrorCode::{DatabaseCorrupt, NotADatabase};
    matches!(error, StoreError::Sqlite(e)
        if matches!(e.sqlite_error_code(), Some(DatabaseCorrupt | NotADatabase)))
}

/// `20261206T071500Z`: a UTC time for file names.
fn time_stamp(at: std::time::SystemTime) -> String {
    let ns = at
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
    // 2026-12-06T07:15:00.123456789Z, without its separators and fraction.
    let full = warden_core::rfc3339_ns(ns);
    let seconds = full.split('.').next().unwrap_or(&full);
    format!("{}Z", seconds.replace(['-', ':'], ""))
}

/// The database file of the store in `dir`.
pub fn database_path(dir: impl AsRef<Path>) -> PathBuf {
    dir.as_ref().join(DATABASE_FILE)
}

/// `ATTACH`es the store in `dir` to `conn`, read-only, under the schema name `schema` (an SQL
/// identifier: letters, digits, `_`). Its events are then `schema.events`.
///
/// `conn` must have been opened with URI file names enabled (rusqlite's default flags do).
pub fn attach_read_only(
    conn: &rusqlite::Connection,
    dir: impl AsRef<Path>,
    schema: &str,
) -> Result<()> {
    let valid = !schema.is_empty()
        && !schema.starts_with(|c: char| c.is_ascii_digit())
        && schema
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(StoreError::Invalid(format!(
            "invalid schema name {schema:?}"
        )));
    }
    let uri = read_only_uri(&database_path(dir));
    conn.execute(&format!("ATTACH DATABASE ?1 AS {schema}"), [uri])?;
    Ok(())
}

/// `file:` URI opening `path` read-only; URI-reserved and non-ASCII bytes are percent-encoded.
fn read_only_uri(path: &Path) -> String {
    let mut uri = String::from("file:");
    for &b in path.as_os_str().as_encoded_bytes() {
        if b.is_ascii() && !b.is_ascii_control() && !matches!(b, b'?' | b'#' | b'%') {
            uri.push(b as char);
        } else {
            uri.push_str(&format!("%{b:02X}"));
        }
    }
    uri.push_str("?mode=ro");
    uri
}

fn create_private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| StoreError::Io {
            path: dir.to_path_buf(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_aside_names_sort_by_time_then_number() {
        let a = set_aside_order("events.db.damaged-20261206T084715Z").unwrap();
        let b = set_aside_order("events.db.damaged-20261206T084715Z-2").unwrap();
        let c = set_aside_order("events.db.damaged-20261206T084715Z-10").unwrap();
        let d = set_aside_order("events.db.damaged-20261206T084716Z").unwrap();
        assert!(a < b && b < c && c < d);
        assert_eq!(
            set_aside_order("events.db.damaged-20261206T084715Z-wal"),
            None
        );
        assert_eq!(set_aside_order("events.db-wal"), None);
        assert_eq!(set_aside_order("events.db.reserve"), None);
    }

    #[test]
    fn uri_escapes_reserved_and_non_ascii_bytes() {
        assert_eq!(read_only_uri(Path::new("/a/b.db")), "file:/a/b.db?mode=ro");
        assert_eq!(
            read_only_uri(Path::new("/a?#%/b.db")),
            "file:/a%3F%23%25/b.db?mode=ro"
        );
        assert_eq!(read_only_uri(Path::new("/é")), "file:/%C3%A9?mode=ro");
    }
}

//! The single writer: batched inserts, retention by age and size, checkpoints and vacuum.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags, TransactionBehavior, params};

use crate::block::{self, Encoder};
use crate::clock::{self, Anchor};
use crate::reserve::{RESERVE_BYTES, RESERVE_SHARE, Reserve};
use crate::{BUSY_TIMEOUT, FilesystemSpace, Result, Retention, StoreError, StoredEvent};

/// Blocks deleted per transaction by retention, so one run never holds the write lock (nor
/// grows the WAL) for long.
const DELETE_CHUNK: i64 = 50;
/// Size-retention rounds per run (each: estimate, delete, vacuum, measure).
const MAX_SIZE_ROUNDS: usize = 16;
/// A batch is stored as blocks of about this many bytes (at least one event each). Small enough
/// that every buffer on the way (the encoded block, SQLite's copy of it and the record it
/// builds) stays below glibc's mmap threshold and free-list consolidation size: larger blocks
/// cost a fresh mapping and its page faults on every commit (seen in `perf`). Large enough that
/// a block is a few dozen events, so rows and index entries are few.
const BLOCK_BYTES: usize = 32 * 1024;
/// One step of [`Writer::compact`]: 128 pages (1 MiB of 8 KiB pages), the most room a step
/// needs in the WAL.
const VACUUM_STEP: &str = "PRAGMA incremental_vacuum(128)";
/// How long a TRUNCATE checkpoint waits for readers before giving up for this run.
const CHECKPOINT_WAIT: Duration = Duration::from_millis(100);
/// A WAL frame's header, before the page it holds.
const WAL_FRAME_HEADER: u64 = 24;
/// A block's row beside its events: the header, the times and `processes` (`block.rs`'s filter).
const BLOCK_ROW_BYTES: u64 = 512;
/// Pages every commit rewrites whatever it inserts: the last leaf of `event_blocks` and of its
/// index, `store_meta`'s page, the pointer map's (auto-vacuum) and the database header's.
const COMMIT_PAGES: u64 = 5;

/// Size of the store on disk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DiskUsage {
    /// The database file, in bytes.
    pub db_bytes: u64,
    /// Its write-ahead log (`-wal`), in bytes.
    pub wal_bytes: u64,
}

impl DiskUsage {
    /// Database plus WAL: the figure retention bounds.
    pub fn total(&self) -> u64 {
        self.db_bytes + self.wal_bytes
    }

    /// Measures the database at `path` and its WAL (a missing file counts 0).
    pub fn of(path: &Path) -> Result<DiskUsage> {
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        Ok(DiskUsage {
            db_bytes: file_len(path)?,
            wal_bytes: file_len(Path::new(&wal))?,
        })
    }
}

/// A file's device and inode, if it exists.
fn file_identity(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

fn file_len(path: &Path) -> Result<u64> {
    match std::fs::metadata(path) {
        Ok(m) => Ok(m.len()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(source) => Err(StoreError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// What one retention run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionReport {
    /// Events deleted because they were older than `max_age`.
    pub deleted_by_age: u64,
    /// Oldest events deleted to bring the store under `max_bytes`.
    pub deleted_by_size: u64,
    /// Oldest events deleted to leave the filesystem its free space (`keep_free`), beyond
    /// what `max_bytes` asked.
    pub deleted_for_free_space: u64,
    /// Disk usage before the run.
    pub before: DiskUsage,
    /// Disk usage after the run.
    pub after: DiskUsage,
    /// A checkpoint could not complete because a reader still used old WAL frames; the WAL
    /// shrinks on a later run.
    pub checkpoint_busy: bool,
    /// The store is still above `max_bytes` after the run.
    pub over_limit: bool,
    /// The filesystem still has less free than `keep_free` after the run (the store had no
    /// more to give back).
    pub disk_short: bool,
    /// How far the wall clock was ahead of the time elapsed this boot since the store's
    /// clock anchor, in ns (0: not ahead): retention by age went by the elapsed time.
    pub clock_ahead_ns: i64,
    /// The disk was too full for SQLite to delete: the store's reserve was given back first.
    pub reserve_released: bool,
}

impl RetentionReport {
    /// Total events deleted.
    pub fn deleted(&self) -> u64 {
        self.deleted_by_age + self.deleted_by_size + self.deleted_for_free_space
    }
}

/// What the store may hold on disk, and whether the filesystem's free space is what limits it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SizeBudget {
    bytes: u64,
    for_free_space: bool,
}

/// The store's size budget: `max_bytes` (0: none), or less when the filesystem's `room` is
/// short. Deleting from the store gives its bytes back to the filesystem, so the store's size
/// (`total`) plus the room left is what it may hold, whatever it deletes meanwhile.
fn size_budget(max_bytes: u64, total: u64, room: Option<i64>) -> Option<SizeBudget> {
    let by_room = room.map(|room| u64::try_from(i128::from(total) + i128::from(room)).unwrap_or(0));
    match by_room {
        Some(bytes) if max_bytes == 0 || bytes < max_bytes => Some(SizeBudget {
            bytes,
            for_free_space: true,
        }),
        _ => (max_bytes > 0).then_some(SizeBudget {
            bytes: max_bytes,
            for_free_space: false,
        }),
    }
}

/// Opens a read-write connection set up for the store: 8 KiB pages and incremental auto-vacuum
/// (effective only on a new database), WAL, `synchronous=NORMAL`, busy timeout, WAL size limit.
pub(crate) fn open_write_connection(path: &Path, retention: &Retention) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // Before WAL and before any table: page_size and auto_vacuum only take effect on an empty
    // database (an existing store keeps its own). 8 KiB pages rather than 4: fewer page splits,
    // WAL frames and B-tree levels per row, and denser index pages (~10 % less writer CPU per
    // row and ~10 % less disk in `benches/ingest.rs`; 16 KiB did better on full batches of
    // 1000 but not on the small batches of a quiet host, where every commit rewrites whole
    // pages).
    conn.execute_batch("PRAGMA page_size = 8192; PRAGMA auto_vacuum = INCREMENTAL")?;
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Invalid(format!(
            "{}: could not switch to WAL mode (journal_mode is {mode})",
            path.display()
        )));
    }
    // A 2 MiB page cache: a writer appends blocks (their pages are written once and not read
    // again but by retention), so a larger cache only filled with pages never reused — 8 MiB
    // of RSS in each of the writer's and the checkpointer's connections.
    conn.execute_batch(
        "PRAGMA synchronous = NORMAL;
         PRAGMA temp_store = MEMORY;
         PRAGMA cache_size = -2048;",
    )?;
    apply_wal_budget(&conn, retention, true)?;
    Ok(conn)
}

/// The WAL's size budget for a store in `dir`: an eighth of `max_bytes` (64 MiB without a
/// limit), and no more than a sixteenth of its filesystem; 1–64 MiB. A larger WAL means fewer
/// checkpoints (each one syncs). On a small filesystem, a WAL holding most of the store would
/// halve what the store may keep (its frames count twice until copied, [`Writer::room`]),
/// and leave a full disk's retention no room to copy it.
pub(crate) fn wal_budget(retention: &Retention, dir: &Path) -> u64 {
    let filesystem = FilesystemSpace::of(dir).ok().map(|space| space.size);
    wal_budget_of(retention.max_bytes, filesystem)
}

/// [`wal_budget`] for a store limited to `max_bytes` (0: no limit) on a filesystem of
/// `filesystem_bytes` (`None`: unknown).
fn wal_budget_of(max_bytes: u64, filesystem_bytes: Option<u64>) -> u64 {
    const MIB: u64 = 1 << 20;
    let by_size = if max_bytes == 0 {
        64 * MIB
    } else {
        max_bytes / 8
    };
    let by_filesystem = filesystem_bytes.map_or(u64::MAX, |bytes| bytes / 16);
    by_size.min(by_filesystem).clamp(MIB, 64 * MIB)
}

/// Sizes the WAL from the size budget ([`wal_budget`]): truncated back to it after a
/// checkpoint (`journal_size_limit`) and, unless checkpoints run elsewhere (`autocheckpoint`
/// false), checkpointed by this connection's commits when it holds that much
/// (`wal_autocheckpoint`).
fn apply_wal_budget(conn: &Connection, retention: &Retention, autocheckpoint: bool) -> Result<()> {
    let dir = conn
        .path()
        .and_then(|path| Path::new(path).parent())
        .unwrap_or(Path::new("."));
    let budget = wal_budget(retention, dir);
    let page_size: u64 = conn.query_row("PRAGMA page_size", [], |r| r.get::<_, i64>(0))? as u64;
    conn.pragma_update(None, "journal_size_limit", budget as i64)?;
    let pages = if autocheckpoint {
        (budget / page_size.max(512)) as i64
    } else {
        0
    };
    conn.pragma_update(None, "wal_autocheckpoint", pages)?;
    Ok(())
}

/// The writer of a store: owns a read-write connection; use it from one thread.
pub struct Writer {
    conn: Connection,
    /// Encodes the blocks inserted (its buffers kept for their capacity).
    encoder: Encoder,
    /// The database's page size: what a block costs on disk ([`EncodedBatch::cost`]).
    page_bytes: u64,
    /// Bytes of blocks the last [`Writer::insert_batch`] inserted.
    last_batch_bytes: u64,
    /// Set when checkpoints are run by another connection ([`Writer::leave_checkpoints`]):
    /// held around this writer's own (retention's TRUNCATE) checkpoint, so that it waits for
    /// one under way instead of failing busy.
    checkpoints_elsewhere: Option<Arc<Mutex<()>>>,
    path: PathBuf,
    /// The database file opened (device, inode): whether it is still the one at `path`.
    file: Option<(u64, u64)>,
    /// What retention by age counts time by.
    clock: Anchor,
    retention: Retention,
    /// Space held beside the database, given back when the disk is too full to delete.
    reserve: Reserve,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("path", &self.path)
            .field("retention", &self.retention)
            .finish_non_exhaustive()
    }
}

impl Writer {
    /// Opens the writer of the (already migrated) database at `path`.
    pub(crate) fn open(path: &Path, retention: Retention) -> Result<Writer> {
        let conn = open_write_connection(path, &retention)?;
        let clock = Anchor::load_or_set(&conn)?;
        let page_bytes = conn.query_row("PRAGMA page_size", [], |r| r.get::<_, i64>(0))?;
        Ok(Writer {
            clock,
            conn,
            encoder: Encoder::default(),
            page_bytes: u64::try_from(page_bytes).unwrap_or(8192),
            last_batch_bytes: 0,
            checkpoints_elsewhere: None,
            path: path.to_path_buf(),
            file: file_identity(path),
            retention,
            reserve: Reserve::in_dir(path.parent().unwrap_or(Path::new("."))),
        })
    }

    /// Whether the file at the store's path is still the database this writer opened: not
    /// removed (with the data dir, say) nor replaced. Commits into a removed file succeed, but
    /// nobody can read them and their space is never given back.
    pub fn is_in_place(&self) -> bool {
        self.file.is_none() || file_identity(&self.path) == self.file
    }

    /// Inserts `events` in one transaction (as blocks of consecutive `seq`s): either all of
    /// them are stored or none. Returns the number inserted.
    pub fn insert_batch(&mut self, events: &[StoredEvent]) -> Result<usize> {
        let batch = self.encode(events);
        self.insert_encoded(&batch, None)
    }

    /// Encodes `events` as the blocks they will be stored as, without writing them: what they
    /// will take on disk is then known ([`EncodedBatch::cost`]) before anything is written.
    pub fn encode<'a>(&mut self, events: &'a [StoredEvent]) -> EncodedBatch<'a> {
        EncodedBatch {
            events,
            blocks: encode_blocks(events, &mut self.encoder),
            page_bytes: self.page_bytes,
        }
    }

    /// Inserts the first blocks of `batch` whose cost ([`EncodedBatch::cost`]) fits in
    /// `limit` bytes (all of them without a limit), in one transaction. Returns the number of
    /// events inserted: the first ones of the batch; the others are left out whole.
    pub fn insert_encoded(
        &mut self,
        batch: &EncodedBatch<'_>,
        limit: Option<u64>,
    ) -> Result<usize> {
        let fitting = batch.fitting(limit.unwrap_or(u64::MAX));
        if fitting == 0 {
            return Ok(0);
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let last = last_seq(&tx)?.unwrap_or(0);
        let (inserted, bytes) = insert_blocks(
            &tx,
            last + 1,
            batch.events,
            &batch.blocks[..fitting],
            BlockShape::Current,
        )?;
        tx.prepare_cached("UPDATE store_meta SET value = ?1 WHERE name = 'last_seq'")?
            .execute([last + inserted as i64])?;
        tx.commit()?;
        self.last_batch_bytes = bytes;
        Ok(inserted)
    }

    /// Bytes of blocks the last [`Writer::insert_batch`] inserted (what it added to the WAL,
    /// less SQLite's pages and headers).
    pub(crate) fn last_batch_bytes(&self) -> u64 {
        self.last_batch_bytes
    }

    /// The highest `seq` ever assigned (kept even when retention deleted that row), or `None`
    /// for a store that never held an event.
    pub fn last_seq(&self) -> Result<Option<i64>> {
        last_seq(&self.conn)
    }

    /// The retention policy in force.
    pub fn retention(&self) -> Retention {
        self.retention
    }

    /// Stops checkpointing from this connection's commits: another connection does it
    /// ([`crate::spawn_writer`]'s checkpointer thread), so that a checkpoint's copy and sync
    /// never hold up a commit (they took 250–300 ms in a file storm, and the agent's queue
    /// overflowed meanwhile).
    /// `lock` is held by whoever checkpoints.
    pub(crate) fn leave_checkpoints(&mut self, lock: Arc<Mutex<()>>) -> Result<()> {
        apply_wal_budget(&self.conn, &self.retention, false)?;
        self.checkpoints_elsewhere = Some(lock);
        Ok(())
    }

    /// Replaces the retention policy (for example after a configuration reload).
    pub fn set_retention(&mut self, retention: Retention) -> Result<()> {
        apply_wal_budget(&self.conn, &retention, self.checkpoints_elsewhere.is_none())?;
        self.retention = retention;
        Ok(())
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Current size of the database file and its WAL.
    pub fn disk_usage(&self) -> Result<DiskUsage> {
        DiskUsage::of(&self.path)
    }

    /// Applies the retention policy now; see [`Writer::enforce_retention_at`]. "Now" is the
    /// wall clock, but never ahead of the time elapsed this boot since the store's clock
    /// anchor (`clock.rs`): setting the clock forward does not delete history sooner.
    ///
    /// On a disk so full that SQLite cannot even delete (`SQLITE_FULL`), the store's reserve
    /// is given back first and retention tried again in the room it leaves
    /// ([`RetentionReport::reserve_released`]).
    pub fn enforce_retention(&mut self) -> Result<RetentionReport> {
        self.make_room(0)
    }

    /// Applies the retention policy now ([`Writer::enforce_retention`]), leaving room for
    /// `need` more bytes (an [`EncodedBatch::cost`]) before the filesystem is down to
    /// `keep_free`: the oldest events make room for the newest.
    pub fn make_room(&mut self, need: u64) -> Result<RetentionReport> {
        let wall = clock::wall_ns();
        let now = self.clock.now(wall, clock::boottime_ns());
        let mut result = self.retain(now, need);
        let released = result.as_ref().is_err_and(is_disk_full) && self.reserve.release();
        if released {
            result = self.retain(now, need);
        }
        let mut report = result?;
        report.clock_ahead_ns = wall.saturating_sub(now);
        report.reserve_released = released;
        Ok(report)
    }

    /// Takes the store's reserve (see `reserve.rs`) unless it is held, when the room beyond
    /// `keep_free` has it to spare and the size limit is at least [`RESERVE_SHARE`] times the
    /// reserve. Returns whether it is held.
    pub fn keep_reserve(&self) -> bool {
        let max_bytes = self.retention.max_bytes;
        if max_bytes > 0 && max_bytes < RESERVE_SHARE * RESERVE_BYTES {
            return false;
        }
        self.reserve.is_held() || self.reserve.take(self.room())
    }

    /// What the database and its WAL may take (0: no limit): `max_bytes`, less the reserve
    /// when it is held, so that the store's whole footprint keeps to the limit. A `stat`.
    pub fn size_limit(&self) -> u64 {
        let max_bytes = self.retention.max_bytes;
        if max_bytes > 0 && self.reserve.is_held() {
            max_bytes.saturating_sub(RESERVE_BYTES).max(1)
        } else {
            max_bytes
        }
    }

    /// Gives the reserve back now. Returns whether one was held.
    pub fn release_reserve(&self) -> bool {
        self.reserve.release()
    }

    /// Applies the retention policy as of `now_ns` (UTC ns):
    /// 1. deletes the blocks whose events are all older than `now_ns - max_age`, in chunks
    ///    (a block spans one batch, a fraction of a second: an event outlives `max_age` by at
    ///    most that);
    /// 2. when the database plus its WAL exceed their budget, deletes the oldest blocks in
    ///    chunks until the total is under about 90 % of it (hysteresis, so the next batches do
    ///    not trigger it again at once). The budget is `max_bytes`, or less when the
    ///    filesystem has less free than `keep_free`: the store's size less that shortfall;
    /// 3. after any deletion, frees the pages (`incremental_vacuum`) and checkpoints the WAL
    ///    with TRUNCATE, so the files really shrink.
    ///
    /// A reader holding an old snapshot can keep a checkpoint from completing; the writer then
    /// does not wait for it (`checkpoint_busy` in the report) and retries on the next run.
    pub fn enforce_retention_at(&mut self, now_ns: i64) -> Result<RetentionReport> {
        self.retain(now_ns, 0)
    }

    /// [`Writer::enforce_retention_at`], with the filesystem's room counted `need` bytes
    /// short.
    fn retain(&mut self, now_ns: i64, need: u64) -> Result<RetentionReport> {
        let mut report = RetentionReport {
            before: self.disk_usage()?,
            ..RetentionReport::default()
        };
        let max_age = self.retention.max_age;
        if !max_age.is_zero() {
            let age_ns = i64::try_from(max_age.as_nanos()).unwrap_or(i64::MAX);
            let cutoff = now_ns.saturating_sub(age_ns);
            report.deleted_by_age = self.delete_chunked(
                "DELETE FROM event_blocks WHERE first_seq IN (SELECT first_seq FROM event_blocks \
                 WHERE max_time_ns < ?1 ORDER BY max_time_ns LIMIT ?2) \
                 RETURNING last_seq - first_seq + 1",
                cutoff,
            )?;
            if report.deleted_by_age > 0 {
                report.checkpoint_busy = self.compact()?;
            }
        }
        let max_bytes = self.size_limit();
        let total = self.disk_usage()?.total();
        let room = self
            .room()
            .map(|room| room.saturating_sub(i64::try_from(need).unwrap_or(i64::MAX)));
        if let Some(budget) = size_budget(max_bytes, total, room)
            && total > budget.bytes
        {
            self.enforce_size(budget.bytes, &mut report)?;
            if budget.for_free_space {
                report.deleted_for_free_space = std::mem::take(&mut report.deleted_by_size);
            }
        }
        report.after = self.disk_usage()?;
        report.over_limit = max_bytes > 0 && report.after.total() > max_bytes;
        report.disk_short = self.room().is_some_and(|room| room < 0);
        Ok(report)
    }

    /// Bytes the store may still write before its filesystem has only `keep_free` left
    /// (negative: that far under); `None` when the filesystem cannot be asked.
    ///
    /// The WAL's size is counted as taken already: a checkpoint copies the WAL's frames into
    /// the database, which grows by as much (the WAL file keeps its size, to be reused). So the
    /// store gives space back while the disk still has room for that copy, which retention's
    /// own checkpoint needs: on a disk with no room at all SQLite can delete nothing.
    pub fn room(&self) -> Option<i64> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let wal = self.disk_usage().map_or(0, |usage| usage.wal_bytes);
        FilesystemSpace::of(dir).ok().map(|space| {
            space
                .room(self.retention.keep_free)
                .saturating_sub(i64::try_from(wal).unwrap_or(i64::MAX))
        })
    }

    fn enforce_size(&mut self, max_bytes: u64, report: &mut RetentionReport) -> Result<()> {
        let target = max_bytes - max_bytes / 10;
        // Free pages and a long WAL may be all the excess there is.
        report.checkpoint_busy = self.compact()?;
        for _ in 0..MAX_SIZE_ROUNDS {
            let usage = self.disk_usage()?;
            if usage.total() <= target {
                break;
            }
            // A WAL that could not be truncated (a reader is behind) does not shrink by
            // deleting blocks: size the deletion on the database file alone then.
            let counted = if report.checkpoint_busy {
                usage.db_bytes
            } else {
                usage.total()
            };
            let excess = counted.saturating_sub(target);
            if excess == 0 {
                break;
            }
            let deleted = self.delete_oldest(excess)?;
            if deleted == 0 {
                break;
            }
            report.deleted_by_size += deleted;
            report.checkpoint_busy = self.compact()?;
            if report.checkpoint_busy {
                break;
            }
        }
        Ok(())
    }

    /// Runs `sql` (parameters: a value, a chunk size; it returns each deleted block's event
    /// count) until it deletes fewer blocks than a chunk; one transaction per chunk. Returns
    /// the events deleted.
    fn delete_chunked(&mut self, sql: &str, value: i64) -> Result<u64> {
        let mut deleted = 0u64;
        loop {
            let (blocks, events) = self.delete_returning(sql, params![value, DELETE_CHUNK])?;
            deleted += events;
            if blocks < DELETE_CHUNK as u64 {
                return Ok(deleted);
            }
        }
    }

    /// Deletes the oldest blocks (lowest `seq`) until at least `bytes` of encoded events are
    /// gone (or none is left), in chunks. Returns the events deleted.
    fn delete_oldest(&mut self, bytes: u64) -> Result<u64> {
        let mut deleted = 0u64;
        let mut freed = 0u64;
        while freed < bytes {
            // The chunk's blocks, oldest first, up to the one that reaches `bytes`.
            let mut last_block = None;
            {
                let mut stmt = self.conn.prepare_cached(
                    "SELECT first_seq, length(events) FROM event_blocks ORDER BY first_seq LIMIT ?1",
                )?;
                let mut rows = stmt.query([DELETE_CHUNK])?;
                while let Some(row) = rows.next()? {
                    last_block = Some(row.get::<_, i64>(0)?);
                    freed += row.get::<_, i64>(1)?.max(0) as u64;
                    if freed >= bytes {
                        break;
                    }
                }
            }
            let Some(last_block) = last_block else { break };
            let (_, events) = self.delete_returning(
                "DELETE FROM event_blocks WHERE first_seq <= ?1 \
                 RETURNING last_seq - first_seq + 1",
                params![last_block],
            )?;
            deleted += events;
        }
        Ok(deleted)
    }

    /// Runs a `DELETE ... RETURNING <event count>`; returns the blocks and events deleted.
    fn delete_returning(&mut self, sql: &str, params: impl rusqlite::Params) -> Result<(u64, u64)> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let mut rows = stmt.query(params)?;
        let (mut blocks, mut events) = (0u64, 0u64);
        while let Some(row) = rows.next()? {
            blocks += 1;
            events += row.get::<_, i64>(0)?.max(0) as u64;
        }
        Ok((blocks, events))
    }

    /// Returns free pages to the file system (`incremental_vacuum`) and checkpoints the WAL
    /// with TRUNCATE, waiting at most 100 ms for readers. Returns whether a checkpoint was
    /// blocked.
    ///
    /// The vacuum moves the pages at the end of the file into the free ones, and every page
    /// moved is written to the WAL first: freeing all at once would need as much room as it
    /// gives back. So it goes a [`VACUUM_STEP`] at a time, each step checkpointed (the
    /// database shrinks, the WAL is emptied), and a store on a nearly full disk can still give
    /// its space back.
    pub fn compact(&mut self) -> Result<bool> {
        let mut free_before = i64::MAX;
        loop {
            if self.checkpoint_truncate()? {
                return Ok(true);
            }
            let free_pages: i64 = self
                .conn
                .query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
            // None left, or none freed by the last step (a store made without auto-vacuum).
            if free_pages == 0 || free_pages >= free_before {
                return Ok(false);
            }
            free_before = free_pages;
            // One result row per freed page: step it to the end (execute_batch steps once).
            // A PRAGMA takes no bound parameter: the step is in the text.
            let mut stmt = self.conn.prepare_cached(VACUUM_STEP)?;
            let mut rows = stmt.query([])?;
            while rows.next()?.is_some() {}
        }
    }

    /// Checkpoints the WAL with TRUNCATE, waiting at most 100 ms for readers. Returns whether
    /// the checkpoint was blocked.
    fn checkpoint_truncate(&mut self) -> Result<bool> {
        // A checkpoint under way on the checkpointer's connection would make this one fail
        // busy at once (SQLite does not wait for the checkpoint lock): wait for it instead.
        let lock = self.checkpoints_elsewhere.clone();
        let _turn = lock
            .as_ref()
            .map(|l| l.lock().unwrap_or_else(|p| p.into_inner()));
        self.conn.busy_timeout(CHECKPOINT_WAIT)?;
        let result: rusqlite::Result<i64> =
            self.conn
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0));
        self.conn.busy_timeout(BUSY_TIMEOUT)?;
        match result {
            Ok(busy) => Ok(busy != 0),
            Err(e) if e.sqlite_error_code() == Some(ErrorCode::DatabaseBusy) => Ok(true),
            Err(e) => Err(e.into()),
        }
    }
}

/// A batch of events encoded as the blocks it will be stored as, not yet written
/// ([`Writer::encode`]).
#[derive(Debug)]
pub struct EncodedBatch<'a> {
    events: &'a [StoredEvent],
    blocks: Vec<EncodedBlock>,
    /// The page size of the database it is for.
    page_bytes: u64,
}

impl EncodedBatch<'_> {
    /// What writing the whole batch takes on disk at most, in bytes: a WAL frame (a page and
    /// its header) for every page its blocks' rows fill and every page its commit rewrites,
    /// and as much again for the database, into which a checkpoint copies those pages while
    /// the WAL file keeps its size.
    pub fn cost(&self) -> u64 {
        self.commit_cost()
            + self
                .blocks
                .iter()
                .map(|block| self.block_cost(block))
                .sum::<u64>()
    }

    /// How many of its first blocks fit in `limit` bytes, with their commit.
    fn fitting(&self, limit: u64) -> usize {
        let mut cost = self.commit_cost();
        self.blocks
            .iter()
            .take_while(|block| {
                cost += self.block_cost(block);
                cost <= limit
            })
            .count()
    }

    /// A page's cost: its WAL frame, then its copy in the database.
    fn frame_bytes(&self) -> u64 {
        2 * (self.page_bytes + WAL_FRAME_HEADER)
    }

    /// The pages every commit rewrites.
    fn commit_cost(&self) -> u64 {
        COMMIT_PAGES * self.frame_bytes()
    }

    /// The pages a block's row fills: in the table's leaf and, past what a leaf keeps of a
    /// row, in overflow pages (each holds a page less 4 bytes).
    fn block_cost(&self, block: &EncodedBlock) -> u64 {
        let row = block.packed.len() as u64 + BLOCK_ROW_BYTES;
        row.div_ceil(self.page_bytes - 4) * self.frame_bytes()
    }
}

/// One block of an [`EncodedBatch`].
#[derive(Debug)]
pub(crate) struct EncodedBlock {
    /// How many of the batch's events it holds, after the previous block's.
    events: usize,
    packed: Vec<u8>,
}

/// Encodes `events` as blocks of about [`BLOCK_BYTES`] (at least one event each).
pub(crate) fn encode_blocks(events: &[StoredEvent], encoder: &mut Encoder) -> Vec<EncodedBlock> {
    let mut blocks = Vec::new();
    let mut rest = events;
    while !rest.is_empty() {
        let (len, _) = encoder.encode(rest, BLOCK_BYTES);
        blocks.push(EncodedBlock {
            events: len,
            packed: encoder.pack().to_vec(),
        });
        rest = &rest[len..];
    }
    blocks
}

/// Inserts `blocks`, encoded from the first events of `events` ([`encode_blocks`]): the first
/// event with `seq` `first_seq` and the others following one by one. The caller keeps
/// `store_meta.last_seq`. Returns the events inserted and the bytes of their blocks.
pub(crate) fn insert_blocks(
    conn: &Connection,
    first_seq: i64,
    events: &[StoredEvent],
    blocks: &[EncodedBlock],
    shape: BlockShape,
) -> Result<(usize, u64)> {
    let mut insert = conn.prepare_cached(match shape {
        BlockShape::Current => {
            "INSERT INTO event_blocks (first_seq, last_seq, min_time_ns, max_time_ns, \
             processes, events) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
        }
        BlockShape::Schema4 => {
            "INSERT INTO event_blocks (first_seq, last_seq, min_time_ns, max_time_ns, events) \
             VALUES (?1, ?2, ?3, ?4, ?6)"
        }
    })?;
    let mut seq = first_seq;
    let mut rest = events;
    let mut bytes = 0;
    for encoded in blocks {
        let (block, after) = rest.split_at(encoded.events);
        let times = block.iter().map(|e| e.time_ns);
        let (min_time, max_time) = (times.clone().min(), times.max());
        insert.execute(params![
            seq,
            seq + block.len() as i64 - 1,
            min_time,
            max_time,
            block::ProcessFilter::of(block).as_bytes(),
            encoded.packed,
        ])?;
        bytes += encoded.packed.len() as u64;
        seq += block.len() as i64;
        rest = after;
    }
    Ok((events.len() - rest.len(), bytes))
}

/// Which `event_blocks` [`insert_blocks`] writes into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BlockShape {
    /// This build's (with `processes`).
    Current,
    /// Schema 4's, which migration 5 fills (migration 6 adds `processes`).
    Schema4,
}

/// The highest `seq` ever assigned in the store behind `conn` (`None`: no event ever stored).
pub(crate) fn last_seq(conn: &Connection) -> Result<Option<i64>> {
    let last: i64 = conn
        .prepare_cached("SELECT value FROM store_meta WHERE name = 'last_seq'")?
        .query_row([], |r| r.get(0))?;
    Ok((last > 0).then_some(last))
}

/// SQLite's "database or disk is full" (`SQLITE_FULL`: a write met `ENOSPC`).
pub(crate) fn is_disk_full(error: &StoreError) -> bool {
    matches!(error, StoreError::Sqlite(e) if e.sqlite_error_code() == Some(ErrorCode::DiskFull))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    fn budget(bytes: u64, for_free_space: bool) -> Option<SizeBudget> {
        Some(SizeBudget {
            bytes,
            for_free_space,
        })
    }

    #[test]
    fn the_wal_budget_is_an_eighth_of_the_size_limit_and_a_sixteenth_of_the_filesystem() {
        const GIB: u64 = 1 << 30;
        // No limit, a large disk: 64 MiB.
        assert_eq!(wal_budget_of(0, Some(500 * GIB)), 64 * MIB);
        assert_eq!(wal_budget_of(0, None), 64 * MIB);
        // A limit of 80 MiB: 10 MiB.
        assert_eq!(wal_budget_of(80 * MIB, Some(500 * GIB)), 10 * MIB);
        // A 32 MiB filesystem: 2 MiB, whatever the limit.
        assert_eq!(wal_budget_of(0, Some(32 * MIB)), 2 * MIB);
        assert_eq!(wal_budget_of(80 * MIB, Some(32 * MIB)), 2 * MIB);
        // Never under 1 MiB, nor over 64.
        assert_eq!(wal_budget_of(0, Some(4 * MIB)), MIB);
        assert_eq!(wal_budget_of(8 * GIB, None), 64 * MIB);
    }

    #[test]
    fn the_size_budget_is_the_smaller_of_max_bytes_and_what_the_filesystem_leaves() {
        // Room enough: max_bytes rules.
        assert_eq!(
            size_budget(100 * MIB, 10 * MIB, Some(500 * MIB as i64)),
            budget(100 * MIB, false)
        );
        // 5 MiB under the floor: the store gives back 5 MiB of its 10.
        assert_eq!(
            size_budget(100 * MIB, 10 * MIB, Some(-5 * MIB as i64)),
            budget(5 * MIB, true)
        );
        // Further under than the store's whole size: nothing may stay.
        assert_eq!(
            size_budget(100 * MIB, 10 * MIB, Some(-50 * MIB as i64)),
            budget(0, true)
        );
        // Little room left, but some: the store may grow into it.
        assert_eq!(
            size_budget(100 * MIB, 10 * MIB, Some(20 * MIB as i64)),
            budget(30 * MIB, true)
        );
        // No size limit: the filesystem's is the only one.
        assert_eq!(
            size_budget(0, 10 * MIB, Some(20 * MIB as i64)),
            budget(30 * MIB, true)
        );
        // The filesystem could not be asked: max_bytes alone, or no budget.
        assert_eq!(
            size_budget(100 * MIB, 10 * MIB, None),
            budget(100 * MIB, false)
        );
        assert_eq!(size_budget(0, 10 * MIB, None), None);
    }
}

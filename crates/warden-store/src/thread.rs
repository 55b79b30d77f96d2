//! The writer thread: drains a channel of events into batches, commits them, runs retention;
//! beside it, the checkpointer thread copies the WAL into the database so that commits never
//! wait for that copy and its sync.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError};
use rusqlite::{Connection, ErrorCode};

use crate::writer::{is_disk_full, open_write_connection, wal_budget};
use crate::{
    Result, Store, StoreError, StoredEvent, Writer, deleted_set_aside, is_damage, set_aside,
};

/// How the writer thread batches and when it runs retention.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriterOptions {
    /// A batch is committed once it holds this many events...
    pub batch_size: usize,
    /// ...or once its first event has waited this long.
    pub flush_interval: Duration,
    /// Retention ([`Writer::enforce_retention`]) runs this often (and once at start).
    pub retention_interval: Duration,
}

impl Default for WriterOptions {
    /// 1000 events or 200 ms; retention every minute.
    fn default() -> Self {
        WriterOptions {
            batch_size: 1000,
            flush_interval: Duration::from_millis(200),
            retention_interval: Duration::from_secs(60),
        }
    }
}

/// Counters of a writer thread, shared with whoever wants to read them (metrics, `warden_info`).
#[derive(Debug, Default)]
pub struct WriterCounters {
    /// Events committed.
    pub written: AtomicU64,
    /// Batches committed.
    pub batches: AtomicU64,
    /// Events deleted by retention.
    pub retention_deleted: AtomicU64,
    /// Retention runs.
    pub retention_runs: AtomicU64,
    /// Failed batch commits and failed retention runs.
    pub errors: AtomicU64,
    /// Events lost because their batch failed to commit.
    pub dropped: AtomicU64,
    /// Events not stored because the filesystem had less free than `keep_free` and the store
    /// nothing left to give back.
    pub dropped_disk_short: AtomicU64,
    /// Stored events deleted early to leave the filesystem its free space.
    pub deleted_for_free_space: AtomicU64,
    /// Times the reserve was given back because the disk was too full for SQLite to delete.
    pub reserve_released: AtomicU64,
    /// New databases opened in the store's place (its file removed, or damaged and set aside).
    pub reopened: AtomicU64,
    /// Why the last one was.
    pub last_reopen: Mutex<Option<String>>,
    /// How far the wall clock was ahead of the time elapsed this boot at the last retention
    /// run, in ns ([`crate::RetentionReport::clock_ahead_ns`]).
    pub clock_ahead_ns: AtomicI64,
    /// Database plus WAL size measured after the last retention run, in bytes.
    pub disk_bytes: AtomicU64,
    /// The message of the last error, if any.
    pub last_error: Mutex<Option<String>>,
}

/// A plain copy of [`WriterCounters`] at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Events committed.
    pub written: u64,
    /// Batches committed.
    pub batches: u64,
    /// Events deleted by retention.
    pub retention_deleted: u64,
    /// Retention runs.
    pub retention_runs: u64,
    /// Failed batch commits and failed retention runs.
    pub errors: u64,
    /// Events lost because their batch failed to commit.
    pub dropped: u64,
    /// Events not stored because the filesystem had less free than `keep_free`.
    pub dropped_disk_short: u64,
    /// Stored events deleted early to leave the filesystem its free space.
    pub deleted_for_free_space: u64,
    /// Times the reserve was given back because the disk was too full for SQLite to delete.
    pub reserve_released: u64,
    /// New databases opened in the store's place.
    pub reopened: u64,
    /// Why the last one was.
    pub last_reopen: Option<String>,
    /// How far the wall clock was ahead of the time elapsed this boot at the last retention
    /// run, in ns.
    pub clock_ahead_ns: i64,
    /// Database plus WAL size after the last retention run, in bytes.
    pub disk_bytes: u64,
    /// The message of the last error, if any.
    pub last_error: Option<String>,
}

impl WriterCounters {
    /// Reads every counter.
    pub fn snapshot(&self) -> WriterStats {
        WriterStats {
            written: self.written.load(Ordering::Relaxed),
            batches: self.batches.load(Ordering::Relaxed),
            retention_deleted: self.retention_deleted.load(Ordering::Relaxed),
            retention_runs: self.retention_runs.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            dropped_disk_short: self.dropped_disk_short.load(Ordering::Relaxed),
            deleted_for_free_space: self.deleted_for_free_space.load(Ordering::Relaxed),
            reserve_released: self.reserve_released.load(Ordering::Relaxed),
            reopened: self.reopened.load(Ordering::Relaxed),
            last_reopen: self
                .last_reopen
                .lock()
                .map(|e| e.clone())
                .unwrap_or_default(),
            clock_ahead_ns: self.clock_ahead_ns.load(Ordering::Relaxed),
            disk_bytes: self.disk_bytes.load(Ordering::Relaxed),
            last_error: self
                .last_error
                .lock()
                .map(|e| e.clone())
                .unwrap_or_default(),
        }
    }

    fn record_error(&self, error: &StoreError) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut last) = self.last_error.lock() {
            *last = Some(error.to_string());
        }
    }
}

/// How long the writer sleeps after taking a partial batch, letting events gather.
const GATHER: Duration = Duration::from_millis(50);

/// A running writer thread.
#[derive(Debug)]
pub struct WriterThread {
    handle: JoinHandle<()>,
    /// Ends once the writer thread has (its sender of written bytes dropped).
    checkpointer: JoinHandle<()>,
    counters: Arc<WriterCounters>,
}

impl WriterThread {
    /// The thread's counters (live).
    pub fn counters(&self) -> Arc<WriterCounters> {
        Arc::clone(&self.counters)
    }

    /// Waits for the thread to finish (it does once every sender of its channel is dropped and
    /// the last batch is committed) and returns the final counters.
    pub fn join(self) -> Result<WriterStats> {
        self.handle.join().map_err(|_| StoreError::WriterPanicked)?;
        self.checkpointer
            .join()
            .map_err(|_| StoreError::WriterPanicked)?;
        Ok(self.counters.snapshot())
    }

    /// Whether the thread has exited.
    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }
}

/// Starts a writer thread on `store` with `batch_size` and `flush_interval` and the default
/// retention interval; see [`spawn_writer_with`].
pub fn spawn_writer(
    store: &Store,
    receiver: Receiver<StoredEvent>,
    batch_size: usize,
    flush_interval: Duration,
) -> Result<WriterThread> {
    let options = WriterOptions {
        batch_size,
        flush_interval,
        ..WriterOptions::default()
    };
    spawn_writer_with(store, receiver, options)
}

/// Starts a writer thread: it opens the store's writer (an error here is returned at once),
/// then collects events from `receiver` into batches of up to `batch_size`, committing a batch
/// when full or `flush_interval` after its first event, runs retention every
/// `retention_interval`, and exits after a final flush when the channel is closed (every
/// sender dropped).
///
/// A batch that fails to commit is counted (`errors`, `dropped`) and discarded: the thread
/// never stops on a write error, so its channel keeps draining and sources never block. Nor
/// does it fill the disk ([`Sink::room_for`]), nor write on into a file removed or damaged
/// ([`Sink::replace`]).
pub fn spawn_writer_with(
    store: &Store,
    receiver: Receiver<StoredEvent>,
    options: WriterOptions,
) -> Result<WriterThread> {
    let mut writer = store.writer()?;
    let checkpoint_lock = Arc::new(Mutex::new(()));
    writer.leave_checkpoints(Arc::clone(&checkpoint_lock))?;
    let checkpoints = open_checkpoint_connection(store)?;
    let counters = Arc::new(WriterCounters::default());
    let (written_tx, written_rx) = crossbeam_channel::unbounded();
    let spawn_error = |source| StoreError::Io {
        path: store.path().to_path_buf(),
        source,
    };
    let shared = Arc::clone(&counters);
    let lock = Arc::clone(&checkpoint_lock);
    let ckpt_store = store.clone();
    let checkpointer = std::thread::Builder::new()
        .name("warden-ckpt".into())
        .spawn(move || {
            checkpoint_when_written(checkpoints, &ckpt_store, &lock, &written_rx, &shared)
        })
        .map_err(spawn_error)?;
    let sink = Sink {
        writer,
        store: store.clone(),
        counters: Arc::clone(&counters),
        notes: written_tx,
        checkpoint_lock,
        relief: Relief::default(),
    };
    let handle = std::thread::Builder::new()
        .name("warden-store".into())
        .spawn(move || run(sink, &receiver, options))
        .map_err(spawn_error)?;
    Ok(WriterThread {
        handle,
        checkpointer,
        counters,
    })
}

/// How long a checkpoint waits for the writer (or readers) before leaving it to the next round.
const CHECKPOINT_BUSY: Duration = Duration::from_millis(10);

/// What the writer thread tells the checkpointer.
enum Note {
    /// This many bytes of events were committed.
    Written(u64),
    /// The writer opened a new database in the store's place: checkpoint that one.
    Reopened,
}

fn open_checkpoint_connection(store: &Store) -> Result<Connection> {
    let conn = open_write_connection(store.path(), &store.retention())?;
    conn.busy_timeout(CHECKPOINT_BUSY)?;
    Ok(conn)
}

/// The checkpointer: copies the WAL's frames into the database whenever half the WAL's budget
/// of events was committed since the last time, and once more when the writer has exited. A
/// checkpoint that cannot complete now is tried again after the next commit; errors are
/// counted.
fn checkpoint_when_written(
    mut conn: Connection,
    store: &Store,
    lock: &Mutex<()>,
    notes: &Receiver<Note>,
    counters: &WriterCounters,
) {
    let every = wal_budget(&store.retention(), store.dir()) / 2;
    let mut pending = 0u64;
    let run = |conn: &Connection, mode: &str| {
        conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
            r.get::<_, i64>(0)
        })
    };
    // PASSIVE copies the bulk while the writer goes on committing. But the writer restarts
    // the WAL from its start only if every frame is copied when it begins a transaction, and
    // under steady load some commit always lands during a copy: the WAL would then grow
    // without end (a test saw it). RESTART then copies what came in meanwhile — a few frames,
    // holding the writer back for that short copy only — and makes the next commit restart
    // the WAL. Busy (a reader on an old snapshot, a commit under way): left to the next round.
    let checkpoint = |conn: &Connection| {
        // The writer's retention checkpoints take turns with these.
        let _turn = lock.lock().unwrap_or_else(|p| p.into_inner());
        run(conn, "PASSIVE").and_then(|_| run(conn, "RESTART"))
    };
    let checkpoint = |conn: &Connection| match checkpoint(conn) {
        Ok(busy) => busy == 0,
        Err(e) if e.sqlite_error_code() == Some(ErrorCode::DatabaseBusy) => false,
        Err(e) => {
            counters.record_error(&e.into());
            true
        }
    };
    while let Ok(note) = notes.recv() {
        match note {
            Note::Written(bytes) => {
                pending += bytes;
                if pending >= every.max(1) && checkpoint(&conn) {
                    pending = 0;
                }
            }
            Note::Reopened => match open_checkpoint_connection(store) {
                Ok(fresh) => {
                    conn = fresh;
                    pending = 0;
                }
                Err(e) => counters.record_error(&e),
            },
        }
    }
    if pending > 0 {
        checkpoint(&conn);
    }
}

/// The writer thread's side of the store: its writer and what it needs to replace it.
struct Sink {
    writer: Writer,
    /// Where the writer's database is, and its retention: to open a new one in its place.
    store: Store,
    counters: Arc<WriterCounters>,
    /// To the checkpointer.
    notes: Sender<Note>,
    /// Held by whoever checkpoints (given to every writer opened).
    checkpoint_lock: Arc<Mutex<()>>,
    relief: Relief,
}

fn run(mut sink: Sink, receiver: &Receiver<StoredEvent>, options: WriterOptions) {
    let batch_size = options.batch_size.max(1);
    let mut batch: Vec<StoredEvent> = Vec::with_capacity(batch_size);
    let mut flush_at: Option<Instant> = None;
    sink.retention();
    sink.writer.keep_reserve();
    let mut retention_at = Instant::now() + options.retention_interval;
    let mut since_size_check = 0u64;
    let mut check_at = Instant::now() + CHECK_INTERVAL;
    loop {
        let now = Instant::now();
        let wake = flush_at
            .map_or(retention_at, |f| f.min(retention_at))
            .min(check_at);
        match receiver.recv_timeout(wake.saturating_duration_since(now)) {
            Ok(event) => {
                if batch.is_empty() {
                    flush_at = Some(Instant::now() + options.flush_interval);
                }
                batch.push(event);
                while batch.len() < batch_size {
                    match receiver.try_recv() {
                        Ok(event) => batch.push(event),
                        Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                    }
                }
                if batch.len() >= batch_size {
                    since_size_check += sink.flush(&mut batch);
                    flush_at = None;
                } else {
                    // Let the batch fill in the channel rather than waking for every event.
                    std::thread::sleep(GATHER.min(options.flush_interval));
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                sink.flush(&mut batch);
                return;
            }
        }
        let now = Instant::now();
        if flush_at.is_some_and(|f| now >= f) {
            since_size_check += sink.flush(&mut batch);
            flush_at = None;
        }
        // The size limit also between retention runs: once a sixteenth of it was written, a
        // store over it is trimmed now, not up to `retention_interval` later (a minute of a
        // busy host's events can be a quarter of the budget).
        let max_bytes = sink.writer.retention().max_bytes;
        if max_bytes > 0 && since_size_check >= max_bytes / 16 {
            since_size_check = 0;
            let limit = sink.writer.size_limit();
            if sink.writer.disk_usage().is_ok_and(|u| u.total() > limit) {
                sink.retention();
            }
        }
        // Without commits to look before, the store is looked at each second all the same:
        // whether its file is still in place, and whether another program took the space.
        if now >= check_at {
            if !sink.writer.is_in_place() {
                sink.replace(REMOVED);
            }
            if sink.has_room() {
                sink.writer.keep_reserve();
            }
            check_at = Instant::now() + CHECK_INTERVAL;
        }
        if now >= retention_at {
            // Between commits; a pending batch stays pending (its flush time still holds).
            sink.retention();
            retention_at = Instant::now() + options.retention_interval;
        }
    }
}

/// How often the writer looks at its store without a commit to look before: whether its file
/// is still in place and the filesystem short of its free space; and how often retention runs
/// to give space back while it stays short (when the store has already given all it could,
/// each run finds nothing to delete).
const CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// Why a new database is opened when the old one's file is gone.
const REMOVED: &str = "its file was removed or replaced";

/// When retention last ran because the filesystem was short of room, and could not make it.
#[derive(Debug, Default)]
struct Relief {
    last: Option<Instant>,
}

impl Sink {
    /// Commits `batch` and tells the checkpointer about how many bytes that added to the
    /// WAL. Returns the bytes committed (the blocks, less SQLite's own pages and headers).
    ///
    /// The batch is written only as far as the filesystem has room for it before it is down
    /// to `keep_free` ([`Sink::room_for`]: older events are deleted to make it); what does not
    /// fit is dropped and counted (`dropped_disk_short`). A commit that fails because the disk
    /// filled meanwhile (another program's writes) is tried once more after retention gave
    /// space back; one that finds the database damaged sets it aside and is tried once more in
    /// a new one.
    fn flush(&mut self, batch: &mut Vec<StoredEvent>) -> u64 {
        if batch.is_empty() {
            return 0;
        }
        // A stat: no commit goes into a file removed since the last look. Where no new one
        // can be made, the batch is lost, and counted: written there, nobody would see it.
        if !self.writer.is_in_place() && !self.replace(REMOVED) {
            self.counters
                .dropped
                .fetch_add(batch.len() as u64, Ordering::Relaxed);
            batch.clear();
            return 0;
        }
        if !self.has_room() {
            self.counters
                .dropped_disk_short
                .fetch_add(batch.len() as u64, Ordering::Relaxed);
            batch.clear();
            return 0;
        }
        // Encoded first, so that what it takes on disk is known before it is written: the
        // floor is kept to the block, however large the events.
        let encoded = self.writer.encode(batch);
        let need = encoded.cost();
        let limit = self.room_for(need);
        let mut result = self.writer.insert_encoded(&encoded, limit);
        if result.as_ref().is_err_and(is_disk_full) {
            self.relief.last = None;
            let limit = self.room_for(need);
            result = self.writer.insert_encoded(&encoded, limit);
        } else if let Err(e) = &result
            && is_damage(e)
        {
            let why = format!("damaged ({e})");
            if self.replace(&why) {
                let limit = self.room_for(need);
                result = self.writer.insert_encoded(&encoded, limit);
            }
        }
        let mut bytes = 0;
        match result {
            Ok(n) => {
                self.counters
                    .dropped_disk_short
                    .fetch_add((batch.len() - n) as u64, Ordering::Relaxed);
                if n > 0 {
                    self.counters.written.fetch_add(n as u64, Ordering::Relaxed);
                    self.counters.batches.fetch_add(1, Ordering::Relaxed);
                    bytes = self.writer.last_batch_bytes();
                    // The checkpointer ends only after this thread: it always receives.
                    let _ = self.notes.send(Note::Written(bytes));
                }
            }
            Err(e) => {
                self.counters
                    .dropped
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
                self.counters.record_error(&e);
            }
        }
        batch.clear();
        bytes
    }

    /// Whether the store's filesystem has more free than `keep_free` ([`Sink::room_for`]
    /// nothing more).
    fn has_room(&mut self) -> bool {
        self.room_for(0).is_none_or(|room| room > 0)
    }

    /// The bytes the store may write before its filesystem is down to `keep_free`, asked
    /// before every commit (a `statvfs`); `None` when the filesystem cannot be asked. When
    /// that is less than `need`, retention first deletes the oldest events to make room for
    /// it. A run that could not make it (the store holds no more it may give) is not tried
    /// again for a [`CHECK_INTERVAL`].
    fn room_for(&mut self, need: u64) -> Option<u64> {
        let need_signed = i64::try_from(need).unwrap_or(i64::MAX);
        let short = |room: Option<i64>| room.is_some_and(|room| room < need_signed);
        // Asked once, and once more only after retention ran: each ask is three syscalls.
        let mut room = self.writer.room();
        if short(room)
            && self
                .relief
                .last
                .is_none_or(|at| at.elapsed() >= CHECK_INTERVAL)
        {
            self.retention_for(need);
            room = self.writer.room();
            self.relief.last = short(room).then(Instant::now);
        }
        room.map(|room| u64::try_from(room).unwrap_or(0))
    }

    /// Opens a new database in the store's place, because the one written to is gone (its
    /// file removed, the data dir with it) or `why` says it is damaged: then it is set aside
    /// first, if it is still there. The agent records on instead of writing into a file
    /// nobody can read. Returns whether a new one is open; if not, the next check tries again.
    fn replace(&mut self, why: &str) -> bool {
        let mut why = why.to_owned();
        if self.writer.is_in_place()
            && let Ok((aside, removed)) = set_aside(self.store.dir())
        {
            why = format!("{why}: set aside as {}", aside.display());
            if !removed.is_empty() {
                why.push_str(&deleted_set_aside(&removed));
            }
        }
        let opened = Store::open(self.store.dir(), self.store.retention()).and_then(|store| {
            let mut writer = store.writer()?;
            writer.leave_checkpoints(Arc::clone(&self.checkpoint_lock))?;
            Ok(writer)
        });
        match opened {
            Ok(writer) => {
                self.writer = writer;
                let _ = self.notes.send(Note::Reopened);
                self.counters.reopened.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut last) = self.counters.last_reopen.lock() {
                    *last = Some(why);
                }
                true
            }
            Err(e) => {
                self.counters.record_error(&e);
                false
            }
        }
    }

    fn retention(&mut self) {
        self.retention_for(0);
    }

    /// Retention ([`Writer::make_room`]), leaving room for `need` more bytes.
    fn retention_for(&mut self, need: u64) {
        let result = self.writer.make_room(need);
        let counters = &self.counters;
        counters.retention_runs.fetch_add(1, Ordering::Relaxed);
        match result {
            Ok(report) => {
                counters
                    .retention_deleted
                    .fetch_add(report.deleted(), Ordering::Relaxed);
                counters
                    .deleted_for_free_space
                    .fetch_add(report.deleted_for_free_space, Ordering::Relaxed);
                counters
                    .reserve_released
                    .fetch_add(u64::from(report.reserve_released), Ordering::Relaxed);
                counters
                    .disk_bytes
                    .store(report.after.total(), Ordering::Relaxed);
                counters
                    .clock_ahead_ns
                    .store(report.clock_ahead_ns, Ordering::Relaxed);
            }
            Err(e) => {
                counters.record_error(&e);
                // Retention reads the oldest pages, which no commit reads again: where a
                // damaged store shows first. Deleting from it fails each time from then on, so
                // it would grow past its limits; a new one takes its place.
                if is_damage(&e) {
                    self.replace(&format!("damaged ({e})"));
                }
            }
        }
    }
}

//! File activity from fanotify: creates, deletes, renames (old and new name in one event),
//! writes, closes after writing and metadata changes on whole filesystems, plus reads of
//! watched credential files, from reader threads into one bounded channel (`try_send`: when
//! full, drop and count).
//!
//! * **Groups**: `FAN_CLASS_NOTIF` (never a permission event: nothing waits on us) reporting
//!   file handles and names (`FAN_REPORT_DFID_NAME_TARGET`, falling back to fewer report bits
//!   on older kernels). No event carries an fd; paths come from the handles. Two groups, each
//!   with its reader thread: the changes' (`warden-fanotify`), read in bursts where they come
//!   in bursts, and the watches' (`warden-fanwatch`), read as each event comes, so that a file
//!   made at a watched path is marked before another process can read it.
//! * **Marks**: in the changes' group, `FAN_MARK_FILESYSTEM` on each configured filesystem
//!   (default: the local block-device filesystems of `/proc/self/mountinfo`, one per fsid) for
//!   `FAN_CREATE | FAN_DELETE | FAN_RENAME | FAN_MODIFY | FAN_CLOSE_WRITE | FAN_ATTRIB |
//!   FAN_ONDIR`. In the watches' group, inode marks `FAN_OPEN | FAN_ACCESS | FAN_CLOSE |
//!   FAN_DELETE_SELF` (directories: `FAN_EVENT_ON_CHILD`) on watched paths, whose reads carry
//!   the watch's label, and `FAN_CREATE | FAN_RENAME` on their parent directories, to follow
//!   each path. An open is a read unless it was for writing only: told by what the kernel
//!   merged into its event, else by the opener's fdinfo once the other events of that read are
//!   handled, or, the descriptor gone by then, by what follows (a read or a close without
//!   writing: a read; a close after writing with no read between: not one).
//!   [`FanotifySource::marks`] says which marks the kernel took and why it refused the others
//!   (where a second group cannot be had, the changes' group runs alone and the watches are
//!   said to be refused, with why).
//! * **Paths**: a directory handle is opened with `open_by_handle_at(O_PATH)` on a fd of its
//!   filesystem and named by `readlink(/proc/self/fd/N)`; the name from the event is joined
//!   to it. Directory paths are cached (bounded); a directory rename clears the cache, a
//!   directory delete drops its entry. A directory already gone leaves the bare name and
//!   `path_resolved = false` (counted in `unresolved`). Paths, inode, mode and owner are what
//!   they are when the event is read (microseconds later while events are sparse, up to 5 ms
//!   in a burst: `Pace`): a file renamed or chmodded meanwhile shows its newer name and mode. A hard link is a `Create` (the kernel reports
//!   `link(2)` as `FAN_CREATE`); its inode is the existing file's.
//! * **Exclusions**: events of the agent's own process (`exclude_self`) are dropped before any
//!   work; paths under `exclude_prefixes` are dropped after resolution, and each existing
//!   excluded directory also gets a kernel ignore mark (`FAN_MARK_IGNORE`, kernel 6.0+) so the
//!   events on its direct children are never queued at all.
//! * **Loss**: the kernel queue is bounded (16384 events); when it overflows the kernel queues
//!   one `FAN_Q_OVERFLOW` event, counted in `queue_overflow`.
//! * **Stop**: each reader thread owns its group fd; closing it destroys the group and every
//!   mark with it, so there is nothing to restore — also when the process is killed. The
//!   readers sleep in `poll` until an event comes or the stop writes an eventfd they also
//!   poll (the watches' reader also wakes once a second for the looks): an idle source costs
//!   no wake-up.
//! * **Privilege**: filesystem marks and handle reporting need `CAP_SYS_ADMIN`;
//!   `open_by_handle_at` needs `CAP_DAC_READ_SEARCH`.

pub mod mounts;
pub mod parse;
pub mod watch;

use std::collections::HashMap;
use std::ffi::{CString, OsStr};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use thiserror::Error;
use warden_core::FileAction;

use crate::held::{HeldFile, Pool, open_to_hold};

pub use watch::{WatchList, WatchPath, credential_watches, spawn_looker};

use parse::{FidInfo, RawEvent, mask};

/// Read buffer: the kernel returns as many whole events as fit.
const READ_BUFFER: usize = 64 * 1024;
/// The pause after a read that emptied the queue, while events come in a burst ([`Pace`]):
/// events gather meanwhile (the kernel merges repeats), so a busy host costs a few hundred
/// wake-ups a second, not one per event. Not longer: each new event is compared with the queued
/// ones to merge, so a long queue makes every event dearer (the file storm under the agent's
/// mask: 1.79× woken per event, 1.31–1.33× read every 1–20 ms, 1.52× every 50 ms;
/// docs/PERFORMANCE.md, session 8).
const COALESCE: Duration = Duration::from_millis(5);
/// [`Pace`]'s window, and the events in two of them that make a burst.
const PACE_WINDOW: Duration = Duration::from_millis(10);
const BURST_EVENTS: u64 = 32;
/// The watches' reader's nice value ([`Role::Watches`]).
const WATCH_NICE: libc::c_int = -5;
/// How often [`FanotifyConfig::rewatch`] is asked where the watched paths are now.
const REWATCH_EVERY: Duration = Duration::from_secs(10);
/// How long the stop waits for the readers to end. One waiting in the kernel on a server that
/// stopped answering (re-marking a watched file on a network filesystem) is left behind: the
/// process's exit ends it, or the server's answer.
const READERS_STOP_WAIT: Duration = Duration::from_secs(2);
/// A repeated read of one object by one process within this time is one `Read` event.
const READ_REPEAT_WINDOW: Duration = Duration::from_secs(2);
/// An open of a watched object whose purpose neither the opener's fdinfo nor a following event
/// told is recorded as a read after this long (and the most kept waiting at once: beyond, at
/// once). Its close normally follows within microseconds.
const UNSURE_OPEN_WAIT: Duration = Duration::from_secs(2);
const UNSURE_OPENS_MAX: usize = 1024;
/// `AT_HANDLE_FID` (kernel 6.5): encode handles the way fanotify does.
const AT_HANDLE_FID: libc::c_int = 0x200;
/// `MAX_HANDLE_SZ`.
const MAX_HANDLE_SZ: usize = 128;

/// The events of a watch's parent directory: what makes a file at the watched path (only looked
/// at, never reported).
const PARENT_MASK: u64 = mask::CREATE | mask::RENAME | mask::ONDIR;

/// The events of a filesystem mark.
const FILESYSTEM_MASK_BASE: u64 =
    mask::CREATE | mask::DELETE | mask::RENAME | mask::CLOSE_WRITE | mask::ATTRIB | mask::ONDIR;

/// Configuration of the fanotify source.
#[derive(Clone, Debug)]
pub struct FanotifyConfig {
    /// Paths on the filesystems to mark whole; `None`: every local block-device filesystem.
    pub filesystems: Option<Vec<PathBuf>>,
    /// Paths whose reads are recorded (see [`credential_watches`] for the default list). A
    /// watch is a mark on the object: a file made at a watched path since (a password change
    /// replaces /etc/shadow) is marked as its creation or rename is read (a mark on the path's
    /// directory, in the watches' group).
    pub watches: Vec<WatchPath>,
    /// Where the watched paths are now, asked again every `rewatch_every` by a thread of its
    /// own (a look can wait on a slow filesystem; the reader must not): a store made since in
    /// a directory that was not there (a new user's ~/.ssh, a new browser profile) is watched
    /// from then on.
    pub rewatch: Option<WatchList>,
    /// How often `rewatch` is asked.
    pub rewatch_every: Duration,
    /// Events under these directories are dropped (the agent's data directory).
    pub exclude_prefixes: Vec<PathBuf>,
    /// Events under these are kept though under an excluded prefix: the more specific prefix
    /// decides ([`excluded_path`]).
    pub include_prefixes: Vec<PathBuf>,
    /// Drop events of this process.
    pub exclude_self: bool,
    /// Also put kernel ignore marks on excluded directories.
    pub ignore_marks: bool,
    /// Report `FAN_MODIFY` (every `write(2)`; the kernel merges repeats while queued).
    pub report_modify: bool,
    /// Hold each file a close after writing left ([`FanotifyEvent::written`]) open from the
    /// moment its event is read, for the pipeline's description: a file deleted or replaced
    /// soon after it was written (a dropper's payload, a staged archive) is still described.
    pub hold_written: bool,
    /// Capacity of the output channel.
    pub channel_capacity: usize,
    /// Directory paths kept in the resolution cache.
    pub path_cache_capacity: usize,
}

impl Default for FanotifyConfig {
    fn default() -> Self {
        FanotifyConfig {
            filesystems: None,
            watches: Vec::new(),
            rewatch: None,
            rewatch_every: REWATCH_EVERY,
            exclude_prefixes: Vec::new(),
            include_prefixes: Vec::new(),
            exclude_self: true,
            ignore_marks: true,
            report_modify: true,
            hold_written: false,
            channel_capacity: 8192,
            path_cache_capacity: 8192,
        }
    }
}

/// One file event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FanotifyEvent {
    /// `CLOCK_REALTIME` ns when the event was read (fanotify events carry no time).
    pub time_ns: i64,
    /// The acting process (tgid); 0 when outside the agent's pid namespace.
    pub pid: u32,
    /// What happened.
    pub action: FileAction,
    /// The `FAN_*` bit behind the action.
    pub mask_name: &'static str,
    /// The object's path (a rename's new name). Only the entry name when the directory could
    /// not be resolved (`path_resolved` false).
    pub path: Vec<u8>,
    /// Whether `path` is a whole absolute path.
    pub path_resolved: bool,
    /// A rename's old path.
    pub old_path: Option<Vec<u8>>,
    /// A new symlink's target.
    pub target_path: Option<Vec<u8>>,
    /// Inode number (from `fstat` of the object, or from its handle when it is gone).
    pub inode: Option<u64>,
    /// `st_dev` of the filesystem.
    pub device: Option<u64>,
    /// `st_mode` after the event.
    pub mode: Option<u32>,
    /// Owner after the event.
    pub owner_uid: Option<u32>,
    /// Group after the event.
    pub owner_gid: Option<u32>,
    /// The object's link count when it was looked at (a creation's and an attribute change's:
    /// the others are not looked at). A new file with more than one is a hard link.
    pub links: Option<u64>,
    /// The object is a directory (`FAN_ONDIR`).
    pub is_dir: bool,
    /// The label of the watch the object belongs to.
    pub watch: Option<Arc<str>>,
    /// A close after writing's file, held open from the moment the event was read (a regular
    /// file, while one of [`WRITTEN_HELD_MAX`] places is free; [`FanotifyConfig::hold_written`]).
    pub written: Option<HeldFile>,
}

/// Written files held open at most at once. Beyond it (a storm of writes), a file is described
/// from its path as the pipeline finds it.
pub const WRITTEN_HELD_MAX: usize = 256;

/// Written files held now, until the pipeline has described them.
pub static WRITTEN: Pool = Pool::new(WRITTEN_HELD_MAX);

/// Bytes of written files on memory filesystems (tmpfs, ramfs) held at most at once: a file
/// held there after its deletion keeps its memory taken until it is described.
pub const WRITTEN_IN_MEMORY_MAX: usize = 64 << 20;

/// Those bytes held now.
pub static WRITTEN_IN_MEMORY: Pool = Pool::new(WRITTEN_IN_MEMORY_MAX);

/// A filesystem with less free than this share of it (1/10) holds no written file: a file
/// deleted to make room there gives its room back at once.
const HOLD_FREE_SHARE: u64 = 10;

/// Counters of the fanotify source.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FanotifyStats {
    /// Kernel events read (one may yield several file events when the kernel merged them).
    pub events: u64,
    /// File events produced (sent or dropped).
    pub emitted: u64,
    /// File events dropped because the channel was full (or its receiver gone).
    pub dropped_channel: u64,
    /// `FAN_Q_OVERFLOW` events: the kernel queue was full and events were lost.
    pub queue_overflow: u64,
    /// File events whose directory could not be resolved to a path.
    pub unresolved: u64,
    /// Kernel events of the agent's own process, dropped.
    pub excluded_self: u64,
    /// File events under an excluded prefix, dropped.
    pub excluded_path: u64,
    /// Repeated reads of one object by one process folded into one event.
    pub reads_coalesced: u64,
    /// Modifications reported in the same kernel event as their close-after-write, folded
    /// into it.
    pub modify_folded: u64,
    /// Events that did not parse.
    pub malformed: u64,
    /// Nameless `FAN_ATTRIB` events of objects already deleted (the link-count drop of an
    /// unlink, after its `FAN_DELETE`), dropped.
    pub attrib_of_deleted: u64,
    /// `FAN_FS_ERROR` and other events of no file interest.
    pub other: u64,
    /// Failed reads of the group fd.
    pub read_errors: u64,
    /// Watches marked after the start: a file made at a watched path, or a store found by a
    /// later look ([`FanotifyConfig::rewatch`]).
    pub rewatched: u64,
    /// Creations and renames in a watch's parent directory, looked at to follow the watched
    /// path and not reported.
    pub watch_parent_events: u64,
    /// Watched objects deleted (their marks and labels gone with them).
    pub watches_gone: u64,
    /// Written files held open from their close after writing.
    pub written_held: u64,
    /// Written files not held: gone (or not a regular file) when the event was read.
    pub written_not_held_gone: u64,
    /// Written files not held because [`WRITTEN_HELD_MAX`] were held already.
    pub written_not_held_busy: u64,
    /// Written files not held for their room: their filesystem was short of space (less than
    /// a tenth free), or they were a memory filesystem's beyond [`WRITTEN_IN_MEMORY_MAX`].
    pub written_not_held_room: u64,
    /// Opens of watched objects for writing only (no read between them and their close): not
    /// reads, not recorded (the changes' group records what they changed).
    pub watched_opens_for_writing: u64,
    /// Filesystems marked after the start, as they were mounted (with the default marks: a
    /// user's runtime directory at login, a container's /dev/shm, a disk plugged in).
    pub filesystems_marked_later: u64,
    /// Filesystems mounted after the start that the kernel refused to mark.
    pub filesystems_refused_later: u64,
}

impl FanotifyStats {
    /// The counters of two readers added up.
    fn plus(self, other: FanotifyStats) -> FanotifyStats {
        // Taken apart whole: a counter added later cannot be left out of the sum.
        let FanotifyStats {
            events,
            emitted,
            dropped_channel,
            queue_overflow,
            unresolved,
            excluded_self,
            excluded_path,
            reads_coalesced,
            modify_folded,
            malformed,
            attrib_of_deleted,
            other: other_events,
            read_errors,
            rewatched,
            watch_parent_events,
            watches_gone,
            written_held,
            written_not_held_gone,
            written_not_held_busy,
            written_not_held_room,
            watched_opens_for_writing,
            filesystems_marked_later,
            filesystems_refused_later,
        } = other;
        FanotifyStats {
            events: self.events + events,
            emitted: self.emitted + emitted,
            dropped_channel: self.dropped_channel + dropped_channel,
            queue_overflow: self.queue_overflow + queue_overflow,
            unresolved: self.unresolved + unresolved,
            excluded_self: self.excluded_self + excluded_self,
            excluded_path: self.excluded_path + excluded_path,
            reads_coalesced: self.reads_coalesced + reads_coalesced,
            modify_folded: self.modify_folded + modify_folded,
            malformed: self.malformed + malformed,
            attrib_of_deleted: self.attrib_of_deleted + attrib_of_deleted,
            other: self.other + other_events,
            read_errors: self.read_errors + read_errors,
            rewatched: self.rewatched + rewatched,
            watch_parent_events: self.watch_parent_events + watch_parent_events,
            watches_gone: self.watches_gone + watches_gone,
            written_held: self.written_held + written_held,
            written_not_held_gone: self.written_not_held_gone + written_not_held_gone,
            written_not_held_busy: self.written_not_held_busy + written_not_held_busy,
            written_not_held_room: self.written_not_held_room + written_not_held_room,
            watched_opens_for_writing: self.watched_opens_for_writing + watched_opens_for_writing,
            filesystems_marked_later: self.filesystems_marked_later + filesystems_marked_later,
            filesystems_refused_later: self.filesystems_refused_later + filesystems_refused_later,
        }
    }
}

/// Which kind of mark a [`MarkReport`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MarkKind {
    /// `FAN_MARK_FILESYSTEM` for file changes.
    Filesystem,
    /// An inode mark for reads of a watched path.
    Watch,
    /// An ignore mark on an excluded directory.
    Ignore,
}

/// What became of one requested mark.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MarkReport {
    /// The kind of mark.
    pub kind: MarkKind,
    /// The path asked for.
    pub path: PathBuf,
    /// The watch label, for [`MarkKind::Watch`].
    pub label: Option<Arc<str>>,
    /// `None` when marked; else why not (kernel error, or "same filesystem as ...").
    pub refused: Option<String>,
    /// Refused as missing: a watched path not made yet, marked once it is.
    pub missing: bool,
}

/// Why the source could not start.
#[derive(Debug, Error)]
pub enum FanotifyError {
    /// The kernel refused for lack of privilege.
    #[error(
        "fanotify: permission denied: filesystem marks and file-handle events need CAP_SYS_ADMIN (and resolving handles CAP_DAC_READ_SEARCH)"
    )]
    Permission,
    /// The kernel has no fanotify, or not with file-handle reporting (before 5.9).
    #[error("fanotify with file-handle and name reporting is not supported by this kernel: {0}")]
    Unsupported(io::Error),
    /// Nothing could be marked.
    #[error("fanotify: no mark was accepted: {0}")]
    NothingMarked(String),
    /// Any other error.
    #[error("fanotify: {0}")]
    Io(#[from] io::Error),
    /// The reader thread could not be spawned.
    #[error("spawn fanotify thread: {0}")]
    Spawn(io::Error),
}

/// A running fanotify source. Stop with [`FanotifySource::stop`] or by dropping.
#[derive(Debug)]
pub struct FanotifySource {
    stop: Arc<AtomicBool>,
    /// An eventfd in every reader's poll, written at the stop.
    wake: Arc<OwnedFd>,
    /// Each reader's thread and counters.
    readers: Vec<(JoinHandle<()>, Arc<Mutex<FanotifyStats>>)>,
    /// The counters of the readers stopped.
    stopped: FanotifyStats,
    marks: Vec<MarkReport>,
    init_flags: u32,
}

/// A filesystem the reader can resolve handles on.
#[derive(Debug)]
/// A marked filesystem, for resolving its events' handles.
struct Filesystem {
    /// Any fd on it: `open_by_handle_at`'s mount fd. The root filesystem's is held from the
    /// start. Any other's is opened as its events are resolved and closed after each read of
    /// events ([`Filesystem::release`]): an open fd makes an unmount fail with `EBUSY`, and
    /// other filesystems are unmounted by their owners while the agent runs (a user's runtime
    /// directory at logout, a container's /dev/shm as it stops, a removable disk).
    fd: std::cell::RefCell<Option<OwnedFd>>,
    /// Where to open it again (the root of its mount) and the fsid it must have there; `None`
    /// for the held one.
    reopen: Option<(CString, [u8; 8])>,
    dev: u64,
}

impl Filesystem {
    /// `open_by_handle_at`'s mount fd, opened again if it was released; None when the
    /// filesystem is no longer where it was (unmounted, or another mounted there).
    fn mount_fd(&self) -> Option<RawFd> {
        let mut fd = self.fd.borrow_mut();
        if fd.is_none()
            && let Some((path, fsid)) = &self.reopen
        {
            *fd = open_directory(path)
                .ok()
                .filter(|dir| fstatfs_fsid(dir.as_raw_fd()).is_ok_and(|id| id == *fsid));
        }
        fd.as_ref().map(AsRawFd::as_raw_fd)
    }

    /// Closes the fd of a filesystem not held.
    fn release(&self) {
        if self.reopen.is_some() {
            self.fd.borrow_mut().take();
        }
    }
}

/// A directory opened for reading (no `O_PATH`: `open_by_handle_at` refuses that as a mount
/// fd, `EBADF`).
fn open_directory(path: &CString) -> io::Result<OwnedFd> {
    // SAFETY: open returns a new fd we own, or -1.
    let fd = unsafe {
        libc::open(
            path.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `statfs`'s `f_type` of tmpfs and of ramfs.
const TMPFS_MAGIC: libc::c_long = 0x0102_1994;
const RAMFS_MAGIC: libc::c_long = 0x8584_58f6;

/// fstatfs of `fd`.
fn fstatfs_of(fd: RawFd) -> Option<libc::statfs> {
    // SAFETY: fstatfs fills the zeroed struct.
    unsafe {
        let mut st: libc::statfs = std::mem::zeroed();
        (libc::fstatfs(fd, &mut st) == 0).then_some(st)
    }
}

fn fstatfs_fsid(fd: RawFd) -> io::Result<[u8; 8]> {
    let st = fstatfs_of(fd).ok_or_else(io::Error::last_os_error)?;
    // SAFETY: fsid_t is two c_ints with private fields; fanotify reports the same 8 bytes.
    Ok(unsafe { std::mem::transmute::<libc::fsid_t, [u8; 8]>(st.f_fsid) })
}

/// The root of the mount `dir` is on: the last directory up from it on the same device.
fn mount_root(dir: &Path) -> PathBuf {
    let dev = |p: &Path| {
        std::fs::metadata(p)
            .ok()
            .map(|m| std::os::unix::fs::MetadataExt::dev(&m))
    };
    let Some(own) = dev(dir) else {
        return dir.to_path_buf();
    };
    let mut root = dir;
    while let Some(parent) = root.parent()
        && dev(parent) == Some(own)
    {
        root = parent;
    }
    root.to_path_buf()
}

fn path_cstring(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

fn statfs_fsid(path: &CString) -> io::Result<[u8; 8]> {
    // SAFETY: statfs fills the zeroed struct; path is NUL-terminated.
    unsafe {
        let mut st: libc::statfs = std::mem::zeroed();
        if libc::statfs(path.as_ptr(), &mut st) != 0 {
            return Err(io::Error::last_os_error());
        }
        // fsid_t is two c_ints with private fields; fanotify reports the same 8 bytes.
        Ok(std::mem::transmute::<libc::fsid_t, [u8; 8]>(st.f_fsid))
    }
}

fn stat_path(path: &CString) -> io::Result<libc::stat> {
    // SAFETY: stat fills the zeroed struct.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        if libc::stat(path.as_ptr(), &mut st) != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(st)
    }
}

fn fstat(fd: RawFd) -> Option<libc::stat> {
    // SAFETY: fstat fills the zeroed struct.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        (libc::fstat(fd, &mut st) == 0).then_some(st)
    }
}

fn mark(group: RawFd, flags: libc::c_uint, event_mask: u64, path: &CString) -> io::Result<()> {
    // SAFETY: plain syscall wrapper on our group fd; path is NUL-terminated.
    let r = unsafe { libc::fanotify_mark(group, flags, event_mask, libc::AT_FDCWD, path.as_ptr()) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The handle fanotify would report for `path`: (fsid, type, bytes) as a map key.
fn handle_key_of(path: &CString) -> io::Result<Vec<u8>> {
    let fsid = statfs_fsid(path)?;
    let mut buf = [0u64; (8 + MAX_HANDLE_SZ) / 8];
    let fh = buf.as_mut_ptr().cast::<libc::file_handle>();
    let mut mount_id: libc::c_int = 0;
    let mut call = |flags| {
        // SAFETY: buf is 8-aligned and holds the header plus MAX_HANDLE_SZ bytes, which is
        // what handle_bytes announces.
        unsafe {
            (*fh).handle_bytes = MAX_HANDLE_SZ as u32;
            libc::name_to_handle_at(libc::AT_FDCWD, path.as_ptr(), fh, &mut mount_id, flags)
        }
    };
    if call(AT_HANDLE_FID | libc::AT_SYMLINK_FOLLOW) != 0 && call(libc::AT_SYMLINK_FOLLOW) != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel wrote the header and handle_bytes bytes after it.
    let (handle_type, handle) = unsafe {
        let len = ((*fh).handle_bytes as usize).min(MAX_HANDLE_SZ);
        let bytes = std::slice::from_raw_parts(buf.as_ptr().cast::<u8>().add(8), len);
        ((*fh).handle_type, bytes)
    };
    let mut key = Vec::new();
    push_key(
        &mut key,
        &FidInfo {
            fsid,
            handle_type,
            handle,
            name: None,
        },
    );
    Ok(key)
}

/// A handle as a map key: fsid, type, bytes.
fn push_key(key: &mut Vec<u8>, fid: &FidInfo<'_>) {
    key.clear();
    key.extend_from_slice(&fid.fsid);
    key.extend_from_slice(&fid.handle_type.to_ne_bytes());
    key.extend_from_slice(fid.handle);
}

fn init_group() -> Result<(OwnedFd, u32), FanotifyError> {
    let base = libc::FAN_CLASS_NOTIF | libc::FAN_CLOEXEC | libc::FAN_NONBLOCK;
    // Newest first: the target's handle (for stat of created/deleted objects) needs 5.17.
    let attempts = [
        libc::FAN_REPORT_DFID_NAME_TARGET,
        libc::FAN_REPORT_DFID_NAME | libc::FAN_REPORT_FID,
        libc::FAN_REPORT_DFID_NAME,
    ];
    let mut last = io::Error::from_raw_os_error(libc::EINVAL);
    for report in attempts {
        let flags = base | report;
        // SAFETY: plain syscall; returns a new fd or -1.
        let fd = unsafe {
            libc::fanotify_init(
                flags,
                (libc::O_RDONLY | libc::O_LARGEFILE | libc::O_CLOEXEC) as libc::c_uint,
            )
        };
        if fd >= 0 {
            // SAFETY: fresh fd.
            return Ok((unsafe { OwnedFd::from_raw_fd(fd) }, flags));
        }
        last = io::Error::last_os_error();
        match last.raw_os_error() {
            Some(libc::EPERM) => return Err(FanotifyError::Permission),
            Some(libc::EINVAL) => continue,
            Some(libc::ENOSYS) => break,
            // Groups, fds or memory used up: not a question of the kernel's support.
            _ => return Err(FanotifyError::Io(last)),
        }
    }
    Err(FanotifyError::Unsupported(last))
}

impl FanotifySource {
    /// Create the groups, place the marks, start the readers. Returns the source and its
    /// channel. Marks the kernel refuses are reported by [`FanotifySource::marks`]; start fails
    /// only when none at all was taken, or for lack of privilege.
    pub fn start(
        config: FanotifyConfig,
    ) -> Result<(FanotifySource, Receiver<FanotifyEvent>), FanotifyError> {
        let bytes = |paths: &[PathBuf]| -> Vec<Vec<u8>> {
            paths
                .iter()
                .map(|p| p.as_os_str().as_bytes().to_vec())
                .collect()
        };
        let (exclude, include) = (
            bytes(&config.exclude_prefixes),
            bytes(&config.include_prefixes),
        );
        // With the default marks, the mount table is followed: its file polls as changed
        // when a filesystem is mounted or unmounted.
        let mut mount_table = None;
        let fs_paths = match &config.filesystems {
            Some(paths) => paths.clone(),
            None => {
                let mut table = std::fs::File::open("/proc/self/mountinfo")?;
                let paths = default_marks(&mut table, &exclude, &include)?;
                mount_table = Some(table);
                paths
            }
        };
        // First: without it no reader could be stopped.
        // SAFETY: plain syscall; returns a new fd or -1.
        let wake = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if wake < 0 {
            return Err(FanotifyError::Io(io::Error::last_os_error()));
        }
        // SAFETY: a fresh fd.
        let wake = Arc::new(unsafe { OwnedFd::from_raw_fd(wake) });
        let mut marks = Vec::new();
        let changes = if fs_paths.is_empty() {
            None
        } else {
            Some(mark_filesystems(&config, fs_paths, &mut marks)?)
        };
        let watches = if config.watches.is_empty() && config.rewatch.is_none() {
            None
        } else {
            match mark_watches(&config, &mut marks) {
                Ok(marked) => Some(marked),
                Err(e) if changes.is_some() && !matches!(e, FanotifyError::Permission) => {
                    // No second group (the user's fanotify groups or fds used up): the changes
                    // are recorded all the same; the watches are said to be refused, and why.
                    let why = format!("no fanotify group for the watches: {e}");
                    marks.extend(config.watches.iter().map(|w| MarkReport {
                        kind: MarkKind::Watch,
                        path: w.path.clone(),
                        label: Some(w.label.clone()),
                        refused: Some(why.clone()),
                        missing: false,
                    }));
                    None
                }
                Err(e) => return Err(e),
            }
        };

        if !marks.iter().any(|m| m.refused.is_none()) {
            let why = marks
                .iter()
                .map(|m| {
                    format!(
                        "{}: {}",
                        m.path.display(),
                        m.refused.as_deref().unwrap_or("")
                    )
                })
                .collect::<Vec<_>>()
                .join("; ");
            return Err(FanotifyError::NothingMarked(if why.is_empty() {
                "nothing configured".into()
            } else {
                why
            }));
        }
        if let Some(changes) = &changes
            && config.ignore_marks
        {
            mark_ignored(&config, changes, &mut marks);
        }

        let (tx, rx) = crate::queue::bounded_lazy(config.channel_capacity);
        let stop = Arc::new(AtomicBool::new(false));
        let init_flags = changes
            .as_ref()
            .or(watches.as_ref())
            .map_or(0, |g| g.init_flags);
        let reader = |marked: Marked, role: Role| Reader {
            group: marked.group,
            filesystems: marked.filesystems,
            watches: marked.watches,
            looks: None,
            role,
            dir_cache: PathCache::new(config.path_cache_capacity),
            exclude: config
                .exclude_prefixes
                .iter()
                .map(|p| p.as_os_str().as_bytes().to_vec())
                .collect(),
            include: config
                .include_prefixes
                .iter()
                .map(|p| p.as_os_str().as_bytes().to_vec())
                .collect(),
            self_pid: config.exclude_self.then(|| std::process::id() as i32),
            tx: tx.clone(),
            stop: stop.clone(),
            wake: wake.clone(),
            shared: Arc::new(Mutex::new(FanotifyStats::default())),
            stats: FanotifyStats::default(),
            key: Vec::new(),
            last_read: None,
            unsure_opens: HashMap::new(),
            pace: Pace::new(Instant::now()),
            hold_written: config.hold_written && role == Role::Changes,
            mount_table: None,
            filesystem_mask: filesystem_mask(&config),
            refused_later: Vec::new(),
        };
        let mut readers = Vec::new();
        if let Some(marked) = watches {
            let mut reader = reader(marked, Role::Watches);
            reader.looks = config
                .rewatch
                .clone()
                .map(|list| {
                    // The looking thread finds each path's handle too: a path lookup, which
                    // may wait on a slow filesystem.
                    spawn_looker(list, config.rewatch_every, stop.clone(), |_, listed| {
                        let mut found = Vec::new();
                        let mut missing_in = std::collections::BTreeSet::new();
                        for w in &listed {
                            match path_cstring(&w.path).and_then(|c| handle_key_of(&c)) {
                                Ok(key) => found.push((w.clone(), key)),
                                Err(_) => {
                                    missing_in.extend(w.path.parent().map(Path::to_path_buf));
                                }
                            }
                        }
                        let parents = missing_in.into_iter().filter(|d| d.is_dir()).collect();
                        Look {
                            listed,
                            found,
                            parents,
                        }
                    })
                })
                .transpose()
                .map_err(FanotifyError::Spawn)?;
            readers.push(reader);
        }
        if let Some(marked) = changes {
            let mut reader = reader(marked, Role::Changes);
            reader.mount_table = mount_table;
            readers.push(reader);
        }
        let mut source = FanotifySource {
            stop,
            wake,
            readers: Vec::new(),
            stopped: FanotifyStats::default(),
            marks,
            init_flags,
        };
        for reader in readers {
            let shared = reader.shared.clone();
            let name = match reader.role {
                Role::Changes => "warden-fanotify",
                Role::Watches => "warden-fanwatch",
            };
            // On failure `source` is dropped: the readers already running are stopped.
            let thread = std::thread::Builder::new()
                .name(name.into())
                .spawn(move || reader.run())
                .map_err(FanotifyError::Spawn)?;
            source.readers.push((thread, shared));
        }
        Ok((source, rx))
    }

    /// A snapshot of the counters (of both readers).
    pub fn stats(&self) -> FanotifyStats {
        self.readers
            .iter()
            .map(|(_, shared)| *shared.lock().unwrap_or_else(PoisonError::into_inner))
            .fold(self.stopped, FanotifyStats::plus)
    }

    /// Every mark asked for, and whether the kernel took it.
    pub fn marks(&self) -> &[MarkReport] {
        &self.marks
    }

    /// The `fanotify_init` flags the kernel accepted.
    pub fn init_flags(&self) -> u32 {
        self.init_flags
    }

    /// Whether events carry the created/deleted/renamed object's own handle
    /// (`FAN_REPORT_TARGET_FID`), which gives inode, mode and owner of new entries.
    pub fn reports_target_fid(&self) -> bool {
        self.init_flags & libc::FAN_REPORT_TARGET_FID != 0
    }

    /// Stop the readers and close the groups (which removes every mark). Idempotent.
    pub fn stop(&mut self) -> FanotifyStats {
        self.stop.store(true, Ordering::SeqCst);
        // Readable from now on: every reader's poll returns.
        let one = 1u64.to_ne_bytes();
        // SAFETY: writing 8 bytes from our own buffer to our own eventfd.
        unsafe { libc::write(self.wake.as_raw_fd(), one.as_ptr().cast(), one.len()) };
        let mut stats = FanotifyStats::default();
        let deadline = Instant::now() + READERS_STOP_WAIT;
        for (thread, shared) in self.readers.drain(..) {
            while !thread.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            if thread.is_finished() {
                let _ = thread.join();
            }
            stats = stats.plus(*shared.lock().unwrap_or_else(PoisonError::into_inner));
        }
        self.stopped = self.stopped.plus(stats);
        self.stopped
    }
}

impl Drop for FanotifySource {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A group and what its reader needs of its marks.
struct Marked {
    group: OwnedFd,
    init_flags: u32,
    filesystems: HashMap<[u8; 8], Filesystem>,
    watches: Watches,
}

/// The group of the changes: `FAN_MARK_FILESYSTEM` on each of `paths` (one per filesystem).
/// Each mark asked for is said in `marks`.
fn mark_filesystems(
    config: &FanotifyConfig,
    paths: Vec<PathBuf>,
    marks: &mut Vec<MarkReport>,
) -> Result<Marked, FanotifyError> {
    let (group, init_flags) = init_group()?;
    let mut filesystems = HashMap::new();
    let mut marked: Vec<([u8; 8], PathBuf)> = Vec::new();
    for path in paths {
        let refused = (|| -> Result<Option<String>, FanotifyError> {
            let c = path_cstring(&path)?;
            let fsid = statfs_fsid(&c)?;
            if let Some((_, first)) = marked.iter().find(|(f, _)| *f == fsid) {
                return Ok(Some(format!("same filesystem as {}", first.display())));
            }
            match mark(
                group.as_raw_fd(),
                libc::FAN_MARK_ADD | libc::FAN_MARK_FILESYSTEM,
                filesystem_mask(config),
                &c,
            ) {
                Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
                    return Err(FanotifyError::Permission);
                }
                Err(e) => return Ok(Some(e.to_string())),
                Ok(()) => {}
            }
            marked.push((fsid, path.clone()));
            register_filesystem(&mut filesystems, fsid, &path)?;
            Ok(None)
        })();
        let refused = match refused {
            Ok(r) => r,
            Err(FanotifyError::Permission) => return Err(FanotifyError::Permission),
            Err(e) => Some(e.to_string()),
        };
        marks.push(MarkReport {
            kind: MarkKind::Filesystem,
            path,
            label: None,
            refused,
            missing: false,
        });
    }
    Ok(Marked {
        group,
        init_flags,
        filesystems,
        watches: Watches::default(),
    })
}

/// The events of the changes' filesystem marks.
fn filesystem_mask(config: &FanotifyConfig) -> u64 {
    if config.report_modify {
        FILESYSTEM_MASK_BASE | mask::MODIFY
    } else {
        FILESYSTEM_MASK_BASE
    }
}

/// Ignore marks on the excluded directories, in the changes' group: the events of their direct
/// children are never queued.
fn mark_ignored(config: &FanotifyConfig, changes: &Marked, marks: &mut Vec<MarkReport>) {
    // An ignore mark on a directory must survive modification of it (EISDIR otherwise);
    // FAN_EVENT_ON_CHILD extends it to the events of its direct children, FAN_ONDIR to those
    // about subdirectories. Deeper levels are filtered by the reader.
    let ignore_mask = filesystem_mask(config) | libc::FAN_EVENT_ON_CHILD | mask::ONDIR;
    for prefix in &config.exclude_prefixes {
        let refused = path_cstring(prefix)
            .and_then(|c| {
                mark(
                    changes.group.as_raw_fd(),
                    libc::FAN_MARK_ADD | libc::FAN_MARK_IGNORE_SURV,
                    ignore_mask,
                    &c,
                )
            })
            .err()
            .map(|e| e.to_string());
        marks.push(MarkReport {
            kind: MarkKind::Ignore,
            path: prefix.clone(),
            label: None,
            refused,
            missing: false,
        });
    }
}

/// The group of the watches: each watched object marked for reads, and its parent directory
/// for what makes a file at its path. Each mark asked for is said in `marks`.
fn mark_watches(
    config: &FanotifyConfig,
    marks: &mut Vec<MarkReport>,
) -> Result<Marked, FanotifyError> {
    let (group, init_flags) = init_group()?;
    let mut filesystems = HashMap::new();
    let mut watches = Watches::default();
    for w in &config.watches {
        let refused = watches.add(group.as_raw_fd(), &mut filesystems, w).err();
        if refused
            .as_ref()
            .is_some_and(|e| e.raw_os_error() == Some(libc::EPERM))
        {
            return Err(FanotifyError::Permission);
        }
        marks.push(MarkReport {
            kind: MarkKind::Watch,
            path: w.path.clone(),
            label: Some(w.label.clone()),
            missing: refused
                .as_ref()
                .is_some_and(|e| e.kind() == io::ErrorKind::NotFound),
            refused: refused.map(|e| match e.raw_os_error() {
                // A weak fsid (FUSE's, 0) may not share a file-handle group with others.
                Some(libc::EXDEV) => "its filesystem has no fsid to tell its files from the \
                                      other watched ones' (fanotify: EXDEV)"
                    .to_string(),
                _ => e.to_string(),
            }),
        });
    }
    Ok(Marked {
        group,
        init_flags,
        filesystems,
        watches,
    })
}

fn register_filesystem(
    filesystems: &mut HashMap<[u8; 8], Filesystem>,
    fsid: [u8; 8],
    path: &Path,
) -> io::Result<()> {
    if filesystems.contains_key(&fsid) {
        return Ok(());
    }
    // Opening a watched file would be a read of it: open the directory itself, or the file's
    // parent.
    let dir = if path.is_dir() {
        path
    } else {
        path.parent().unwrap_or(Path::new("/"))
    };
    let fd = open_directory(&path_cstring(dir)?)?;
    let dev = fstat(fd.as_raw_fd()).map_or(0, |st| st.st_dev);
    let root = path_cstring(&mount_root(dir))?;
    let held = root.as_bytes() == b"/";
    filesystems.insert(
        fsid,
        Filesystem {
            fd: std::cell::RefCell::new(held.then_some(fd)),
            reopen: (!held).then_some((root, fsid)),
            dev,
        },
    );
    Ok(())
}

/// A bounded map of directory handle → path, LRU-ish: two generations; a hit in the old one
/// moves the entry to the new one; when the new one is full the old one is dropped.
#[derive(Debug)]
struct PathCache {
    young: HashMap<Vec<u8>, Vec<u8>>,
    old: HashMap<Vec<u8>, Vec<u8>>,
    half: usize,
}

impl PathCache {
    fn new(capacity: usize) -> PathCache {
        PathCache {
            young: HashMap::new(),
            old: HashMap::new(),
            half: (capacity / 2).max(1),
        }
    }

    fn get(&mut self, key: &[u8]) -> Option<&Vec<u8>> {
        if !self.young.contains_key(key) {
            let (k, v) = self.old.remove_entry(key)?;
            self.insert(k, v);
        }
        self.young.get(key)
    }

    fn insert(&mut self, key: Vec<u8>, path: Vec<u8>) {
        if self.young.len() >= self.half {
            self.old = std::mem::take(&mut self.young);
        }
        self.young.insert(key, path);
    }

    fn remove(&mut self, key: &[u8]) {
        self.young.remove(key);
        self.old.remove(key);
    }

    fn clear(&mut self) {
        self.young.clear();
        self.old.clear();
    }

    /// A directory moved from `old` to `new`: every cached path at or below `old` moves too.
    fn move_prefix(&mut self, old: &[u8], new: &[u8]) {
        for map in [&mut self.young, &mut self.old] {
            for path in map.values_mut() {
                if under_prefix(path, old) {
                    let mut moved = new.to_vec();
                    moved.extend_from_slice(&path[old.len()..]);
                    *path = moved;
                }
            }
        }
    }
}

/// What fstat of an event's object told.
#[derive(Clone, Copy, Debug, Default)]
struct ObjectFacts {
    inode: Option<u64>,
    device: Option<u64>,
    mode: Option<u32>,
    uid: Option<u32>,
    gid: Option<u32>,
    links: Option<u64>,
}

/// `path`'s bytes without a trailing `/` (but `/` itself), as events name it.
fn trimmed(path: &Path) -> &[u8] {
    let bytes = path.as_os_str().as_bytes();
    match bytes.iter().rposition(|b| *b != b'/') {
        Some(end) => &bytes[..=end],
        None => bytes,
    }
}

/// What a look at the watched paths found: the list then, the handle key of each path that
/// existed, and the directories of those missing that existed (a file made there is marked as
/// it comes).
struct Look {
    listed: Vec<WatchPath>,
    found: Vec<(WatchPath, Vec<u8>)>,
    parents: Vec<PathBuf>,
}

/// The watched objects: marks for reads, and their labels by handle and by path.
#[derive(Default)]
struct Watches {
    /// Watched files (and symlinks), by handle key.
    objects: HashMap<Vec<u8>, Arc<str>>,
    /// Watched directories (their children's reads too), by handle key.
    dirs: HashMap<Vec<u8>, Arc<str>>,
    /// The watched paths (no trailing `/`): a file made at one is marked at once.
    paths: HashMap<Vec<u8>, Arc<str>>,
}

impl Watches {
    /// Marks `w`'s object for reads (a directory's children's too) unless it is marked
    /// already: its handle's key, and whether it was marked now.
    fn add(
        &mut self,
        group: RawFd,
        filesystems: &mut HashMap<[u8; 8], Filesystem>,
        w: &WatchPath,
    ) -> io::Result<(Vec<u8>, bool)> {
        self.paths
            .insert(trimmed(&w.path).to_vec(), w.label.clone());
        if let Some(parent) = w.path.parent() {
            // What makes a file at the watched path (a rename over it, a creation: also where
            // it is missing now), read as it comes. Best effort: without it the path is
            // followed by the looks alone.
            let _ = mark_parent(group, filesystems, parent);
        }
        let c = path_cstring(&w.path)?;
        let key = handle_key_of(&c)?;
        if self.objects.contains_key(&key) || self.dirs.contains_key(&key) {
            return Ok((key, false));
        }
        let st = stat_path(&c)?;
        let is_dir = st.st_mode & libc::S_IFMT == libc::S_IFDIR;
        // Its own deletion too: its label is forgotten then (a replaced file's last name gone).
        let mut m =
            mask::OPEN | mask::ACCESS | mask::CLOSE_WRITE | mask::CLOSE_NOWRITE | mask::DELETE_SELF;
        if is_dir {
            m |= libc::FAN_EVENT_ON_CHILD;
        }
        mark(group, libc::FAN_MARK_ADD, m, &c)?;
        let fsid = statfs_fsid(&c)?;
        register_filesystem(filesystems, fsid, &w.path)?;
        if is_dir {
            self.dirs.insert(key.clone(), w.label.clone());
        } else {
            self.objects.insert(key.clone(), w.label.clone());
        }
        Ok((key, true))
    }
}

/// Marks `dir`, a watched path's directory, for [`PARENT_MASK`]; its filesystem is registered
/// for resolving the handles of its events.
fn mark_parent(
    group: RawFd,
    filesystems: &mut HashMap<[u8; 8], Filesystem>,
    dir: &Path,
) -> io::Result<()> {
    let c = path_cstring(dir)?;
    mark(group, libc::FAN_MARK_ADD, PARENT_MASK, &c)?;
    register_filesystem(filesystems, statfs_fsid(&c)?, dir)
}

/// What a reader's group is marked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    /// Whole filesystems: the changes to report, read in bursts where they come in bursts
    /// ([`Pace`]).
    Changes,
    /// The watched objects' reads, and their parent directories' creations and renames, which
    /// keep the watches on their paths (looked at, never reported). A group of its own, read as
    /// each event comes: a file renamed over a watched path (a password change's new
    /// /etc/shadow) is marked before the next process reads it, however busy the filesystems.
    Watches,
}

struct Reader {
    group: OwnedFd,
    role: Role,
    filesystems: HashMap<[u8; 8], Filesystem>,
    watches: Watches,
    /// What the looking thread finds of the watched paths ([`FanotifyConfig::rewatch`]).
    looks: Option<Receiver<Look>>,
    dir_cache: PathCache,
    exclude: Vec<Vec<u8>>,
    include: Vec<Vec<u8>>,
    self_pid: Option<i32>,
    tx: crate::queue::BoundedSender<FanotifyEvent>,
    stop: Arc<AtomicBool>,
    /// Readable once the source stops.
    wake: Arc<OwnedFd>,
    shared: Arc<Mutex<FanotifyStats>>,
    stats: FanotifyStats,
    /// Scratch for building handle keys without allocating per lookup.
    key: Vec<u8>,
    last_read: Option<(i32, Vec<u8>, Instant)>,
    /// Opens of watched objects not yet told a read or not, by process and object.
    unsure_opens: HashMap<(i32, Vec<u8>), UnsureOpen>,
    pace: Pace,
    /// [`FanotifyConfig::hold_written`].
    hold_written: bool,
    /// The mount table, followed with the default marks (the changes' reader only): it polls
    /// as changed when a filesystem is mounted, and the new ones the defaults take are marked.
    mount_table: Option<std::fs::File>,
    /// The filesystem marks' events.
    filesystem_mask: u64,
    /// Filesystems mounted after the start whose mark the kernel refused (not asked again
    /// while they stay mounted).
    refused_later: Vec<[u8; 8]>,
}

/// Whether the reader pauses after a read for events to gather. fanotify stamps no time on its
/// events: an event's time is when it is read. While they are sparse (an incident's handful of
/// changes, a read of a watched key), the reader wakes for each at once, so each is timed within
/// a wake-up of when it happened, and keeps its place among the eBPF events of its process. A
/// burst (`BURST_EVENTS` within this window and the one before) is read every `COALESCE`, as
/// the cost of a storm asks.
#[derive(Debug)]
struct Pace {
    window_start: Instant,
    this_window: u64,
    last_window: u64,
}

impl Pace {
    fn new(now: Instant) -> Pace {
        Pace {
            window_start: now,
            this_window: 0,
            last_window: 0,
        }
    }

    /// A read of `events` events at `now`.
    fn read(&mut self, events: u64, now: Instant) {
        let since = now.saturating_duration_since(self.window_start);
        if since >= PACE_WINDOW {
            // The window before this one, or nothing if a quiet one passed in between.
            self.last_window = if since < 2 * PACE_WINDOW {
                self.this_window
            } else {
                0
            };
            self.this_window = 0;
            self.window_start = now;
        }
        self.this_window += events;
    }

    /// Whether events are coming in a burst.
    fn bursting(&self) -> bool {
        self.this_window + self.last_window >= BURST_EVENTS
    }
}

/// The default marks' paths (see [`mounts::default_filesystems`]), from the mount table read
/// again from its start: the memory filesystems users can write to, unless excluded.
fn default_marks(
    table: &mut std::fs::File,
    exclude: &[Vec<u8>],
    include: &[Vec<u8>],
) -> io::Result<Vec<PathBuf>> {
    use std::io::{Read, Seek};
    let mut mountinfo = Vec::new();
    table.seek(io::SeekFrom::Start(0))?;
    table.read_to_end(&mut mountinfo)?;
    Ok(mounts::default_filesystems(
        &mounts::parse_mountinfo(&mountinfo),
        |path| {
            !excluded_path(path.as_os_str().as_bytes(), exclude, include)
                && mounts::open_to_users(path)
        },
    ))
}

/// Whether `path` is excluded: under one of `exclude` and not under a more specific one of
/// `include` (`/dev` excluded, `/dev/shm` included: `/dev/shm/x` is kept, `/dev/null` not; an
/// exclude below an include wins in turn).
pub fn excluded_path(path: &[u8], exclude: &[Vec<u8>], include: &[Vec<u8>]) -> bool {
    let deepest = |prefixes: &[Vec<u8>]| {
        prefixes
            .iter()
            .filter(|p| under_prefix(path, p))
            .map(|p| p.strip_suffix(b"/").unwrap_or(p).len())
            .max()
    };
    match (deepest(exclude), deepest(include)) {
        (Some(out), Some(kept)) => out > kept,
        (out, _) => out.is_some(),
    }
}

/// `path` is `prefix` or lies below it.
fn under_prefix(path: &[u8], prefix: &[u8]) -> bool {
    let prefix = prefix.strip_suffix(b"/").unwrap_or(prefix);
    path.starts_with(prefix)
        && (path.len() == prefix.len() || path[prefix.len()] == b'/' || prefix.is_empty())
}

fn join_name(dir: &[u8], name: &[u8]) -> Vec<u8> {
    if name == b"." || name.is_empty() {
        return dir.to_vec();
    }
    let mut p = Vec::with_capacity(dir.len() + 1 + name.len());
    p.extend_from_slice(dir);
    if !dir.ends_with(b"/") {
        p.push(b'/');
    }
    p.extend_from_slice(name);
    p
}

impl Reader {
    fn run(mut self) {
        let mut buf = vec![0u8; READ_BUFFER];
        self.learn_parent_paths();
        if self.role == Role::Watches {
            // It races the next process to the file a rename put at a watched path, and runs
            // only for the few events of the watched objects and their directories: first in
            // line for a core when woken. (At nice 0, beside a busy thread, 1.2 reads in 1,000
            // were missed so; none in 10,000 at -5, nor in 6,000 at -10.) Best effort: without
            // CAP_SYS_NICE it stays at nice 0.
            // SAFETY: plain syscalls on this thread's own id.
            unsafe {
                libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, WATCH_NICE)
            };
        }
        // Woken by events and by the stop only: an idle reader costs nothing. With looks to
        // take, once a second too (the looking thread sleeps as long between its checks).
        let timeout_ms = if self.looks.is_some() { 1000 } else { -1 };
        while !self.stop.load(Ordering::SeqCst) {
            // Nothing but the root filesystem held while waiting (see `Filesystem::fd`).
            self.filesystems.values().for_each(Filesystem::release);
            let mut pfds = [self.group.as_raw_fd(), self.wake.as_raw_fd()].map(|fd| libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            });
            let table = self.mount_table.as_ref().map(|t| libc::pollfd {
                fd: t.as_raw_fd(),
                events: libc::POLLPRI,
                revents: 0,
            });
            let mut all: Vec<libc::pollfd> = pfds.iter().copied().chain(table).collect();
            // SAFETY: valid pollfds, as many as said.
            let ready =
                unsafe { libc::poll(all.as_mut_ptr(), all.len() as libc::nfds_t, timeout_ms) };
            pfds.copy_from_slice(&all[..2]);
            if all
                .get(2)
                .is_some_and(|t| t.revents & (libc::POLLPRI | libc::POLLERR) != 0)
            {
                self.follow_mounts();
            }
            if let Some(look) = self.looks.as_ref().and_then(|rx| rx.try_recv().ok()) {
                self.apply(look);
                *self.shared.lock().unwrap_or_else(PoisonError::into_inner) = self.stats;
            }
            self.settle_unsure_opens(Instant::now());
            if ready <= 0 || pfds[0].revents == 0 {
                continue;
            }
            let mut full_reads = false;
            loop {
                // SAFETY: reading into our own buffer of the given length.
                let n = unsafe {
                    libc::read(
                        self.group.as_raw_fd(),
                        buf.as_mut_ptr().cast::<libc::c_void>(),
                        buf.len(),
                    )
                };
                if n < 0 {
                    match io::Error::last_os_error().raw_os_error() {
                        Some(libc::EAGAIN) => break,
                        Some(libc::EINTR) => continue,
                        _ => {
                            self.stats.read_errors += 1;
                            std::thread::sleep(Duration::from_millis(10));
                            break;
                        }
                    }
                }
                let n = n as usize;
                if n == 0 {
                    break;
                }
                let time_ns = crate::procfs::realtime_ns();
                let mut events = 0;
                for parsed in parse::events(&buf[..n]) {
                    events += 1;
                    match parsed {
                        Ok(ev) => self.handle(&ev, time_ns),
                        Err(_) => self.stats.malformed += 1,
                    }
                }
                self.pace.read(events, Instant::now());
                self.look_at_fresh_opens();
                self.filesystems.values().for_each(Filesystem::release);
                // A read that left room for more drained the queue.
                full_reads = n + 4096 > buf.len();
                if !full_reads {
                    break;
                }
            }
            *self.shared.lock().unwrap_or_else(PoisonError::into_inner) = self.stats;
            if !full_reads && self.role == Role::Changes && self.pace.bursting() {
                std::thread::sleep(COALESCE);
            }
        }
        *self.shared.lock().unwrap_or_else(PoisonError::into_inner) = self.stats;
        // Dropping `group` closes it: the kernel destroys the group and all its marks.
    }

    /// The mount table changed: marks the filesystems the default marks take that are not
    /// marked yet (reading the table again also clears its change).
    fn follow_mounts(&mut self) {
        let Some(table) = self.mount_table.as_mut() else {
            return;
        };
        let Ok(paths) = default_marks(table, &self.exclude, &self.include) else {
            return;
        };
        let mut mounted = Vec::with_capacity(paths.len());
        for path in paths {
            let Ok(c) = path_cstring(&path) else {
                continue;
            };
            let Ok(fsid) = statfs_fsid(&c) else {
                continue;
            };
            mounted.push(fsid);
            if self.filesystems.contains_key(&fsid) || self.refused_later.contains(&fsid) {
                continue;
            }
            let marked = mark(
                self.group.as_raw_fd(),
                libc::FAN_MARK_ADD | libc::FAN_MARK_FILESYSTEM,
                self.filesystem_mask,
                &c,
            )
            .and_then(|()| register_filesystem(&mut self.filesystems, fsid, &path));
            match marked {
                Ok(()) => self.stats.filesystems_marked_later += 1,
                Err(_) => {
                    self.stats.filesystems_refused_later += 1;
                    self.refused_later.push(fsid);
                }
            }
        }
        // Those unmounted since (a container's /dev/shm, each its own): their marks went with
        // them; so goes what resolved their events (the held root filesystem stays).
        self.filesystems
            .retain(|fsid, fs| fs.reopen.is_none() || mounted.contains(fsid));
        self.refused_later.retain(|fsid| mounted.contains(fsid));
        *self.shared.lock().unwrap_or_else(PoisonError::into_inner) = self.stats;
    }

    fn handle(&mut self, ev: &RawEvent<'_>, time_ns: i64) {
        self.stats.events += 1;
        for fd in [Some(ev.fd), ev.pidfd].into_iter().flatten() {
            if fd >= 0 {
                // SAFETY: the kernel gave us this fd; nobody else holds it.
                unsafe { libc::close(fd) };
            }
        }
        if ev.mask & mask::Q_OVERFLOW != 0 {
            self.stats.queue_overflow += 1;
            return;
        }
        self.invalidate(ev);
        if self.self_pid == Some(ev.pid) {
            self.stats.excluded_self += 1;
            return;
        }
        if ev.mask & mask::DELETE_SELF != 0
            && let Some(fid) = &ev.fid
        {
            // A watched object gone (a replaced /etc/shadow's last name): its label goes too,
            // so the maps stay the size of what is watched.
            push_key(&mut self.key, fid);
            if self.watches.objects.remove(&self.key).is_some()
                || self.watches.dirs.remove(&self.key).is_some()
            {
                self.stats.watches_gone += 1;
            }
        }
        let closed = ev.mask & (mask::CLOSE_WRITE | mask::CLOSE_NOWRITE) != 0;
        if parse::actions(ev.mask).next().is_none() && !(self.role == Role::Watches && closed) {
            self.stats.other += 1;
            return;
        }
        // A watched object's open, read or close: what it says of reading is decided before
        // any path is resolved, and most are settled here (a close, a repeated read).
        let mut unsure = false;
        if self.role == Role::Watches && ev.mask & WATCH_READ_MASK != 0 {
            let Some(object) = object_key(ev) else {
                return;
            };
            let waiting = self.unsure_opens.remove(&(ev.pid, object.clone()));
            match read_sign(ev.mask) {
                ReadSign::Closed { reading } => {
                    match waiting {
                        Some(open) if reading => self.send(open.read),
                        Some(_) => self.not_a_read(ev.pid, &object),
                        None => {}
                    }
                    return;
                }
                ReadSign::NotRead => {
                    self.not_a_read(ev.pid, &object);
                    return;
                }
                // An open told a read by a later event: recorded as of its open.
                ReadSign::Read if waiting.is_some() => {
                    if let Some(open) = waiting {
                        self.send(open.read);
                    }
                    return;
                }
                ReadSign::Read | ReadSign::Unsure if self.repeated_read(ev) => {
                    self.stats.reads_coalesced += 1;
                    return;
                }
                ReadSign::Read => {}
                // An open alone (past the repeated reads: a storm of opens by one process is
                // looked at once per window): kept until what follows tells, or the opener's
                // descriptor does once the rest of this read's events are handled.
                ReadSign::Unsure => unsure = self.unsure_opens.len() < UNSURE_OPENS_MAX,
            }
        }

        let is_dir = ev.mask & mask::ONDIR != 0;
        let (path, old_path, resolved) = self.paths(ev);
        if is_dir && ev.mask & mask::RENAME != 0 {
            // Paths below a moved directory move with it; without both names, forget them all.
            match (&old_path, resolved) {
                (Some(old), true) => self.dir_cache.move_prefix(old, &path),
                _ => self.dir_cache.clear(),
            }
        }
        if is_dir
            && resolved
            && ev.mask & (mask::CREATE | mask::RENAME | mask::MOVED_TO) != 0
            && let Some(fid) = &ev.fid
        {
            // Learn a new (or moved) directory's path now, from its parent's: by the time the
            // events inside it are read, it may be gone already (mkdir d; touch d/f; rm -r d),
            // and its handle would no longer open.
            push_key(&mut self.key, fid);
            self.dir_cache.insert(self.key.clone(), path.clone());
        }
        if resolved
            && ev.mask & (mask::CREATE | mask::RENAME) != 0
            && !self.watches.paths.is_empty()
            && let Some(label) = self.watches.paths.get(&path).cloned()
        {
            // A file made at a watched path (renamed there: a password change writes a new
            // /etc/shadow and renames it over the old): the mark stayed with the old object.
            let watch = WatchPath::new(PathBuf::from(OsStr::from_bytes(&path)), &label);
            if let Ok((_, true)) =
                self.watches
                    .add(self.group.as_raw_fd(), &mut self.filesystems, &watch)
            {
                self.stats.rewatched += 1;
            }
        }
        if self.role == Role::Watches && ev.mask & PARENT_MASK & !mask::ONDIR != 0 {
            // A watch's parent directory's: looked at above; the change itself is the changes'
            // group's to report (or eBPF's).
            self.stats.watch_parent_events += 1;
            return;
        }
        if !resolved && path.is_empty() && ev.mask & !mask::ONDIR == mask::ATTRIB {
            // unlink drops the link count of an inode whose name is already gone: the kernel
            // reports that FAN_ATTRIB with the object's handle only, and the object is gone
            // by now. The FAN_DELETE before it says all there is.
            self.stats.attrib_of_deleted += 1;
            return;
        }
        if !self.exclude.is_empty()
            && resolved
            && self.excluded(&path)
            && old_path.as_deref().is_none_or(|p| self.excluded(p))
        {
            self.stats.excluded_path += 1;
            return;
        }

        let (facts, symlink_target) = self.object_facts(ev);
        let watch = self.watch_label(ev);
        if self.role == Role::Watches && watch.is_none() {
            return;
        }
        let mut written = (self.hold_written && !is_dir && ev.mask & mask::CLOSE_WRITE != 0)
            .then(|| self.hold_written(ev))
            .flatten();
        for (action, mask_name) in parse::actions(ev.mask) {
            if action == FileAction::Modify && ev.mask & mask::CLOSE_WRITE != 0 {
                // The kernel merged the writes with the close that ended them: one change,
                // said by the close-after-write.
                self.stats.modify_folded += 1;
                continue;
            }
            let mut action = action;
            let mut target_path = None;
            if action != FileAction::Read || watch.is_none() {
                // The watches' group reports reads only (its closes after writing are the
                // changes' group's to report); the changes' group, reads of nothing.
                if self.role == Role::Watches || action == FileAction::Read {
                    continue;
                }
            }
            if action == FileAction::Create
                && let Some(mode) = facts.mode
            {
                action = parse::refine_create(mode);
                if action == FileAction::Symlink {
                    target_path = symlink_target.clone();
                }
            }
            self.stats.emitted += 1;
            if !resolved {
                self.stats.unresolved += 1;
            }
            let out = FanotifyEvent {
                time_ns,
                pid: ev.pid.max(0) as u32,
                action,
                mask_name,
                path: path.clone(),
                path_resolved: resolved,
                old_path: old_path.clone(),
                target_path,
                inode: facts.inode,
                device: facts.device,
                mode: facts.mode,
                owner_uid: facts.uid,
                owner_gid: facts.gid,
                links: facts.links,
                is_dir,
                watch: watch.clone(),
                written: (action == FileAction::CloseWrite)
                    .then(|| written.take())
                    .flatten(),
            };
            if unsure && let Some(object) = object_key(ev) {
                self.stats.emitted -= 1;
                let open = UnsureOpen {
                    read: out,
                    at: Instant::now(),
                    looked: false,
                };
                self.unsure_opens.insert((ev.pid, object), open);
                continue;
            }
            if self.tx.try_send(out).is_err() {
                self.stats.dropped_channel += 1;
            }
        }
    }

    /// Sends an event decided later than it was read.
    fn send(&mut self, event: FanotifyEvent) {
        self.stats.emitted += 1;
        if self.tx.try_send(event).is_err() {
            self.stats.dropped_channel += 1;
        }
    }

    /// An open of a watched object that was no read: counted, and a read by the process right
    /// after is one (not a repetition of it).
    fn not_a_read(&mut self, pid: i32, object: &[u8]) {
        self.stats.watched_opens_for_writing += 1;
        if self
            .last_read
            .as_ref()
            .is_some_and(|(p, key, _)| *p == pid && key == object)
        {
            self.last_read = None;
        }
    }

    /// Looks at the opens this read left unsure, once its other events are handled (a rename
    /// that replaced a watched file is marked before this costs any time): a descriptor the
    /// opener still holds says what for. Those whose descriptor is gone wait for their close.
    fn look_at_fresh_opens(&mut self) {
        let fresh: Vec<_> = self
            .unsure_opens
            .iter()
            .filter(|(_, open)| !open.looked)
            .map(|(key, _)| key.clone())
            .collect();
        for key in fresh {
            self.settle_by_descriptor(key, false);
        }
    }

    /// Settles the opens left unsure for [`UNSURE_OPEN_WAIT`] (neither read nor closed since):
    /// by the opener's descriptor again, and one whose descriptor is not found (passed to
    /// another process) is recorded as a read.
    fn settle_unsure_opens(&mut self, now: Instant) {
        if self.unsure_opens.is_empty() {
            return;
        }
        let due: Vec<_> = self
            .unsure_opens
            .iter()
            .filter(|(_, open)| now.duration_since(open.at) >= UNSURE_OPEN_WAIT)
            .map(|(key, _)| key.clone())
            .collect();
        for key in due {
            self.settle_by_descriptor(key, true);
        }
    }

    /// An unsure open decided by the opener's fdinfo: for writing only, no read; otherwise a
    /// read. With no descriptor found, it waits on, unless `last_look`: then a read.
    fn settle_by_descriptor(&mut self, key: (i32, Vec<u8>), last_look: bool) {
        let Some(open) = self.unsure_opens.get_mut(&key) else {
            return;
        };
        open.looked = true;
        let mode = open
            .read
            .inode
            .and_then(|inode| open_access_mode(key.0, inode));
        if mode.is_none() && !last_look {
            return;
        }
        let Some(open) = self.unsure_opens.remove(&key) else {
            return;
        };
        if mode == Some(libc::O_WRONLY) {
            self.not_a_read(key.0, &key.1);
        } else {
            self.send(open.read);
        }
    }

    fn excluded(&self, path: &[u8]) -> bool {
        excluded_path(path, &self.exclude, &self.include)
    }

    /// Keep cached directory paths true before the event is resolved: a deleted directory loses
    /// its own entry (it was empty); a move reported without FAN_RENAME empties the cache. (A
    /// FAN_RENAME of a directory moves the cached paths below it once both names are known.)
    fn invalidate(&mut self, ev: &RawEvent<'_>) {
        if ev.mask & mask::ONDIR == 0 {
            return;
        }
        if ev.mask & (mask::MOVED_FROM | mask::MOVED_TO) != 0 {
            // Without FAN_RENAME's pair of names there is no telling where the tree went.
            self.dir_cache.clear();
        } else if ev.mask & mask::DELETE != 0 {
            match &ev.fid {
                Some(fid) => {
                    push_key(&mut self.key, fid);
                    self.dir_cache.remove(&self.key);
                }
                None => self.dir_cache.clear(),
            }
        }
    }

    /// The event's path (and a rename's old path), and whether it is whole.
    fn paths(&mut self, ev: &RawEvent<'_>) -> (Vec<u8>, Option<Vec<u8>>, bool) {
        if let (Some(old), Some(new)) = (&ev.old_dfid_name, &ev.new_dfid_name) {
            let (old_path, old_ok) = self.named_path(old);
            let (new_path, new_ok) = self.named_path(new);
            return (new_path, Some(old_path), old_ok && new_ok);
        }
        let one = ev.new_dfid_name.or(ev.old_dfid_name).or(ev.dfid);
        if let Some(dfid) = one {
            let (path, ok) = self.named_path(&dfid);
            return (path, None, ok);
        }
        if let Some(fid) = &ev.fid {
            // No directory record: name the object itself.
            if let Some(fd) = self.open_handle(fid)
                && let Some(path) = fd_path(fd.as_raw_fd())
            {
                return (path, None, true);
            }
        }
        (Vec::new(), None, false)
    }

    /// A directory handle's path joined with the record's name.
    fn named_path(&mut self, dfid: &FidInfo<'_>) -> (Vec<u8>, bool) {
        let name = dfid.name.unwrap_or(b".");
        match self.dir_path(dfid) {
            Some(dir) => (join_name(&dir, name), true),
            None => (name.to_vec(), false),
        }
    }

    fn dir_path(&mut self, dfid: &FidInfo<'_>) -> Option<Vec<u8>> {
        push_key(&mut self.key, dfid);
        if let Some(p) = self.dir_cache.get(&self.key) {
            return Some(p.clone());
        }
        let fd = self.open_handle(dfid)?;
        let path = fd_path(fd.as_raw_fd())?;
        push_key(&mut self.key, dfid);
        self.dir_cache.insert(self.key.clone(), path.clone());
        Some(path)
    }

    fn open_handle(&self, fid: &FidInfo<'_>) -> Option<OwnedFd> {
        if fid.handle.len() > MAX_HANDLE_SZ {
            return None;
        }
        let mount_fd = self.filesystems.get(&fid.fsid)?.mount_fd()?;
        let mut buf = [0u64; (8 + MAX_HANDLE_SZ) / 8];
        // SAFETY: buf is 8-aligned and large enough for the header plus MAX_HANDLE_SZ bytes;
        // we write the header fields and copy at most MAX_HANDLE_SZ bytes after them.
        let fd = unsafe {
            let fh = buf.as_mut_ptr().cast::<libc::file_handle>();
            (*fh).handle_bytes = fid.handle.len() as u32;
            (*fh).handle_type = fid.handle_type;
            std::ptr::copy_nonoverlapping(
                fid.handle.as_ptr(),
                buf.as_mut_ptr().cast::<u8>().add(8),
                fid.handle.len(),
            );
            libc::open_by_handle_at(
                mount_fd,
                fh,
                libc::O_PATH | libc::O_CLOEXEC | libc::O_NOFOLLOW,
            )
        };
        // SAFETY: a fresh fd when non-negative.
        (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd) })
    }

    /// Opens the file a close after writing left, by its handle (the very inode, whatever its
    /// name now), for reading: only a regular file, looked at through an `O_PATH` descriptor
    /// first, so nothing else is ever opened (a device's open can act).
    fn hold_written(&mut self, ev: &RawEvent<'_>) -> Option<HeldFile> {
        let Some(slot) = WRITTEN.take() else {
            self.stats.written_not_held_busy += 1;
            return None;
        };
        let Some((located, st)) = ev
            .fid
            .as_ref()
            .and_then(|fid| self.open_handle(fid))
            .and_then(|located| fstat(located.as_raw_fd()).map(|st| (located, st)))
            .filter(|(_, st)| st.st_mode & libc::S_IFMT == libc::S_IFREG)
        else {
            self.stats.written_not_held_gone += 1;
            return None;
        };
        // Held, a file deleted since keeps its room taken until it is described: not where
        // room is short, and not more than a budget of memory.
        let Some(room) = fstatfs_of(located.as_raw_fd()) else {
            self.stats.written_not_held_gone += 1;
            return None;
        };
        let in_memory = matches!(room.f_type, TMPFS_MAGIC | RAMFS_MAGIC);
        let memory = if in_memory {
            match WRITTEN_IN_MEMORY.take_n(usize::try_from(st.st_size).unwrap_or(usize::MAX)) {
                Some(bytes) => Some(bytes),
                None => {
                    self.stats.written_not_held_room += 1;
                    return None;
                }
            }
        } else {
            None
        };
        if room.f_bavail.saturating_mul(HOLD_FREE_SHARE) < room.f_blocks {
            self.stats.written_not_held_room += 1;
            return None;
        }
        let opened = open_to_hold(
            format!("/proc/self/fd/{}", located.as_raw_fd()).as_bytes(),
            true,
        );
        match (opened, memory) {
            (Some(file), Some(bytes)) => {
                self.stats.written_held += 1;
                Some(HeldFile::in_both(file, slot, bytes))
            }
            (Some(file), None) => {
                self.stats.written_held += 1;
                Some(HeldFile::new(file, slot))
            }
            (None, _) => {
                self.stats.written_not_held_gone += 1;
                None
            }
        }
    }

    /// fstat of the object (the target's own handle), or what its handle says when it is gone.
    fn object_facts(&self, ev: &RawEvent<'_>) -> (ObjectFacts, Option<Vec<u8>>) {
        let Some(fid) = &ev.fid else {
            return (ObjectFacts::default(), None);
        };
        let device = self.filesystems.get(&fid.fsid).map(|fs| fs.dev);
        // Only a creation (is it a file, a directory, a symlink?) and a metadata change (the
        // new mode and owner) need the object itself; the rest make do with the inode its
        // handle carries, sparing three syscalls per event (open, fstat, close).
        if ev.mask & (mask::CREATE | mask::ATTRIB) == 0
            && let Some(inode) = parse::inode_from_handle(fid.handle_type, fid.handle)
        {
            return (
                ObjectFacts {
                    inode: Some(inode),
                    device,
                    ..ObjectFacts::default()
                },
                None,
            );
        }
        let opened = self.open_handle(fid);
        let Some(st) = opened.as_ref().and_then(|fd| fstat(fd.as_raw_fd())) else {
            return (
                ObjectFacts {
                    inode: parse::inode_from_handle(fid.handle_type, fid.handle),
                    device,
                    ..ObjectFacts::default()
                },
                None,
            );
        };
        let target = (st.st_mode & libc::S_IFMT == libc::S_IFLNK)
            .then(|| opened.as_ref().and_then(|fd| readlink_fd(fd.as_raw_fd())))
            .flatten();
        (
            ObjectFacts {
                inode: Some(st.st_ino),
                device: Some(st.st_dev),
                mode: Some(st.st_mode),
                uid: Some(st.st_uid),
                gid: Some(st.st_gid),
                links: Some(st.st_nlink),
            },
            target,
        )
    }

    /// Takes a look at the watched paths: those made or replaced since are marked. (Labels
    /// are forgotten as their objects are deleted, not here: a look keeps out of some
    /// filesystems, whose objects marked at the start stay watched.)
    fn apply(&mut self, look: Look) {
        let group = self.group.as_raw_fd();
        for w in &look.listed {
            self.watches
                .paths
                .insert(trimmed(&w.path).to_vec(), w.label.clone());
        }
        for (w, key) in look.found {
            let known =
                self.watches.objects.contains_key(&key) || self.watches.dirs.contains_key(&key);
            if !known && let Ok((_, true)) = self.watches.add(group, &mut self.filesystems, &w) {
                self.stats.rewatched += 1;
            }
        }
        for dir in look.parents {
            // A missing store's directory made since (or its mark gone with an older one).
            let _ = mark_parent(group, &mut self.filesystems, &dir);
        }
    }

    /// Puts the watched paths' parent directories in the path cache: the first rename over a
    /// watched path is then marked without opening its directory by handle first.
    fn learn_parent_paths(&mut self) {
        let parents: std::collections::HashSet<&[u8]> = self
            .watches
            .paths
            .keys()
            .filter_map(|p| Path::new(OsStr::from_bytes(p)).parent())
            .map(|p| p.as_os_str().as_bytes())
            .collect();
        for parent in parents {
            let parent_path = Path::new(OsStr::from_bytes(parent));
            if let Ok(key) = path_cstring(parent_path).and_then(|c| handle_key_of(&c)) {
                self.dir_cache.insert(key, parent.to_vec());
            }
        }
    }

    fn watch_label(&mut self, ev: &RawEvent<'_>) -> Option<Arc<str>> {
        if self.watches.objects.is_empty() && self.watches.dirs.is_empty() {
            return None;
        }
        if let Some(fid) = &ev.fid {
            push_key(&mut self.key, fid);
            if let Some(l) = self.watches.objects.get(&self.key) {
                return Some(l.clone());
            }
        }
        for dfid in [&ev.dfid, &ev.new_dfid_name, &ev.old_dfid_name]
            .into_iter()
            .flatten()
        {
            push_key(&mut self.key, dfid);
            if let Some(l) = self.watches.dirs.get(&self.key) {
                return Some(l.clone());
            }
        }
        None
    }

    /// One process reading one watched object again soon after: not a new event.
    fn repeated_read(&mut self, ev: &RawEvent<'_>) -> bool {
        let Some(object) = object_key(ev) else {
            return false;
        };
        self.key = object;
        let now = Instant::now();
        if let Some((pid, key, at)) = &mut self.last_read
            && *pid == ev.pid
            && *key == self.key
            && now.duration_since(*at) < READ_REPEAT_WINDOW
        {
            *at = now;
            return true;
        }
        self.last_read = Some((ev.pid, self.key.clone(), now));
        false
    }
}

/// The object an event is about, as a key: its handle (and name, for a directory's entry).
fn object_key(ev: &RawEvent<'_>) -> Option<Vec<u8>> {
    let object = ev.fid.or(ev.dfid)?;
    let mut key = Vec::new();
    push_key(&mut key, &object);
    if let Some(name) = object.name {
        key.extend_from_slice(name);
    }
    Some(key)
}

/// An open of a watched object not yet told a read or not.
struct UnsureOpen {
    /// The read it would be.
    read: FanotifyEvent,
    /// When its event was read.
    at: Instant,
    /// Its opener's descriptors were looked at (and had none on it).
    looked: bool,
}

/// The events of a watched object that say something of its reading.
const WATCH_READ_MASK: u64 = mask::OPEN | mask::ACCESS | mask::CLOSE_WRITE | mask::CLOSE_NOWRITE;

/// What an event of a watched object says of its reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ReadSign {
    /// A read, or an open for reading.
    Read,
    /// An open for writing only.
    NotRead,
    /// An open alone: the opener's fdinfo tells what for while it holds the descriptor, else
    /// what follows.
    Unsure,
    /// A close alone (without writing: `reading`), which tells what an unsure open was.
    Closed { reading: bool },
}

/// The sign of an event `mask` (the kernel merges a process's events on one object while they
/// wait in its queue).
fn read_sign(event_mask: u64) -> ReadSign {
    if event_mask & mask::ACCESS != 0 {
        return ReadSign::Read;
    }
    let closed_reading = event_mask & mask::CLOSE_NOWRITE != 0;
    let closed_writing = event_mask & mask::CLOSE_WRITE != 0;
    if event_mask & mask::OPEN == 0 {
        return ReadSign::Closed {
            reading: closed_reading,
        };
    }
    if closed_reading {
        ReadSign::Read
    } else if closed_writing {
        ReadSign::NotRead
    } else {
        ReadSign::Unsure
    }
}

/// The access mode (`O_RDONLY`, `O_WRONLY`, `O_RDWR`) of a descriptor process `pid` has open on
/// inode `inode`; the first found. None when it has none open now.
fn open_access_mode(pid: i32, inode: u64) -> Option<i32> {
    let pid = u32::try_from(pid).ok()?;
    let (_, flags) = crate::procfs::fds_on_inode(pid, inode).next()?;
    Some(flags & libc::O_ACCMODE)
}

/// The path of an open fd, `None` when it is deleted (unlinked, or a removed directory).
fn fd_path(fd: RawFd) -> Option<Vec<u8>> {
    let st = fstat(fd)?;
    if st.st_nlink == 0 {
        return None;
    }
    let link = std::fs::read_link(format!("/proc/self/fd/{fd}")).ok()?;
    let bytes = link.into_os_string().into_encoded_bytes();
    // The kernel names an unlinked name "<path> (deleted)", though another name may still link
    // the inode (a hard link's): no path, unless a file of that very name is this object.
    if bytes.ends_with(b" (deleted)") {
        let named = CString::new(bytes.clone())
            .ok()
            .and_then(|c| stat_path(&c).ok());
        if named.is_none_or(|n| (n.st_dev, n.st_ino) != (st.st_dev, st.st_ino)) {
            return None;
        }
    }
    // Only absolute paths name something reachable from our root.
    bytes.starts_with(b"/").then_some(bytes)
}

/// The target of a symlink opened with `O_PATH | O_NOFOLLOW`.
fn readlink_fd(fd: RawFd) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; libc::PATH_MAX as usize];
    // SAFETY: readlinkat with an empty path reads the link the O_PATH fd refers to.
    let n = unsafe {
        libc::readlinkat(
            fd,
            c"".as_ptr(),
            buf.as_mut_ptr().cast::<libc::c_char>(),
            buf.len(),
        )
    };
    if n < 0 {
        return None;
    }
    buf.truncate(n as usize);
    Some(buf)
}

#[cfg(test)]
mod tests {
    use super::{Duration, Instant, Pace, PathCache, ReadSign, mask, read_sign};

    /// A watched object's events as the kernel may merge them, and what each says of reading.
    #[test]
    fn an_open_is_a_read_unless_it_was_for_writing_only() {
        assert_eq!(read_sign(mask::ACCESS), ReadSign::Read);
        assert_eq!(
            read_sign(mask::OPEN | mask::ACCESS | mask::CLOSE_WRITE),
            ReadSign::Read
        );
        assert_eq!(read_sign(mask::OPEN | mask::CLOSE_NOWRITE), ReadSign::Read);
        assert_eq!(read_sign(mask::OPEN | mask::CLOSE_WRITE), ReadSign::NotRead);
        assert_eq!(read_sign(mask::OPEN), ReadSign::Unsure);
        assert_eq!(
            read_sign(mask::CLOSE_NOWRITE),
            ReadSign::Closed { reading: true }
        );
        assert_eq!(
            read_sign(mask::CLOSE_WRITE),
            ReadSign::Closed { reading: false }
        );
    }

    #[test]
    fn the_reader_pauses_only_in_a_burst() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let mut pace = Pace::new(t0);
        // An incident's handful of events, each read at once.
        for at in 0..10 {
            pace.read(2, ms(at));
        }
        assert!(!pace.bursting(), "20 events in 10 ms are read as they come");
        pace.read(12, ms(11));
        assert!(pace.bursting(), "32 within two windows are a burst");
        // The burst goes on, read every pause: still one.
        pace.read(40, ms(16));
        pace.read(40, ms(22));
        assert!(pace.bursting());
        // A quiet window in between ends it.
        pace.read(1, ms(60));
        assert!(!pace.bursting());
        pace.read(1, ms(61));
        assert!(!pace.bursting());
    }

    #[test]
    fn moving_a_directory_moves_the_cached_paths_below_it() {
        let mut cache = PathCache::new(8);
        cache.insert(b"a".to_vec(), b"/t/d".to_vec());
        cache.insert(b"b".to_vec(), b"/t/d/e".to_vec());
        cache.insert(b"c".to_vec(), b"/t/dx".to_vec());
        cache.move_prefix(b"/t/d", b"/u/moved");
        assert_eq!(cache.get(b"a").map(Vec::as_slice), Some(&b"/u/moved"[..]));
        assert_eq!(cache.get(b"b").map(Vec::as_slice), Some(&b"/u/moved/e"[..]));
        assert_eq!(cache.get(b"c").map(Vec::as_slice), Some(&b"/t/dx"[..]));
    }

    use super::*;

    /// A descriptor on a name since unlinked, whose inode another name still links: no path
    /// (the kernel's "<path> (deleted)" names nothing). A file really named so keeps its own.
    #[test]
    fn an_unlinked_name_is_no_path_though_its_inode_lives_on() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::write(&a, b"x").unwrap();
        std::fs::hard_link(&a, &b).unwrap();
        let on_b = std::fs::File::open(&b).unwrap();
        assert_eq!(
            fd_path(on_b.as_raw_fd()),
            Some(b.as_os_str().as_bytes().to_vec())
        );
        std::fs::remove_file(&b).unwrap();
        assert_eq!(fd_path(on_b.as_raw_fd()), None, "b is gone, though a lives");
        let odd = dir.path().join("c (deleted)");
        std::fs::write(&odd, b"y").unwrap();
        let on_odd = std::fs::File::open(&odd).unwrap();
        assert_eq!(
            fd_path(on_odd.as_raw_fd()),
            Some(odd.as_os_str().as_bytes().to_vec())
        );
    }

    #[test]
    fn prefixes_match_whole_components() {
        assert!(under_prefix(
            b"/var/lib/warden/events.db",
            b"/var/lib/warden"
        ));
        assert!(under_prefix(b"/var/lib/warden", b"/var/lib/warden/"));
        assert!(!under_prefix(b"/var/lib/wardenx/a", b"/var/lib/warden"));
        assert!(under_prefix(b"/x", b"/"));
    }

    /// The more specific prefix decides between an exclusion and an inclusion.
    #[test]
    fn the_most_specific_prefix_decides_what_is_excluded() {
        let list = |l: &[&str]| l.iter().map(|p| p.as_bytes().to_vec()).collect::<Vec<_>>();
        let exclude = list(&["/dev", "/run", "/dev/shm/pulse/"]);
        let include = list(&["/dev/shm/", "/run/user"]);
        let out = |p: &str| excluded_path(p.as_bytes(), &exclude, &include);
        assert!(out("/dev/null") && out("/dev") && out("/run/systemd/x"));
        assert!(!out("/dev/shm/.x") && !out("/dev/shm") && !out("/run/user/1000/a"));
        assert!(out("/dev/shm/pulse/a"), "an exclusion below an inclusion");
        assert!(out("/dev/shmx"), "under /dev only");
        assert!(!out("/tmp/a"));
        assert!(!excluded_path(b"/dev/x", &[], &include));
        assert!(excluded_path(b"/dev/shm/x", &exclude, &[]));
    }

    #[test]
    fn names_join() {
        assert_eq!(join_name(b"/a", b"b"), b"/a/b");
        assert_eq!(join_name(b"/", b"b"), b"/b");
        assert_eq!(join_name(b"/a", b"."), b"/a");
    }

    #[test]
    fn cache_is_bounded_and_keeps_recent() {
        let mut c = PathCache::new(4);
        for i in 0u8..10 {
            c.insert(vec![i], vec![i]);
            assert!(c.young.len() + c.old.len() <= 4);
        }
        assert!(c.get(&[9]).is_some());
        assert!(c.get(&[0]).is_none());
        c.remove(&[9]);
        assert!(c.get(&[9]).is_none());
    }
}

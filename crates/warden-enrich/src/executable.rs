//! The executable cache: stat, sha256, build-id and download origin of an exec's image, computed
//! once per file version.

use std::cell::Cell;
use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};

use sha2::{Digest, Sha256};
use warden_core::{Executable, FileVersion};

use crate::elf::{self, Counting};
use crate::lru::Bounded;
use crate::xattr;

/// Opens `path` read-only for hashing: `O_NOATIME` when permitted (the caller owns the file or
/// has `CAP_FOWNER`; otherwise `EPERM` and a plain open), `O_CLOEXEC`, and `O_NONBLOCK` so a
/// FIFO at the path cannot block. `/proc/PID/exe` opens the image the process runs, even when
/// the file was deleted or replaced since.
pub fn open_for_read(path: &[u8]) -> io::Result<File> {
    let path = OsStr::from_bytes(path);
    let open = |flags| {
        OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_CLOEXEC | libc::O_NONBLOCK | flags)
            .open(path)
    };
    match open(libc::O_NOATIME) {
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => open(0),
        r => r,
    }
}

/// Settings of the [`ExecutableCache`].
#[derive(Clone, Debug)]
pub struct ExecutableConfig {
    /// Most file versions remembered (default 4096: a few MB at most).
    pub capacity: usize,
    /// Files larger than this are not hashed (`sha256` stays None), so one huge binary cannot
    /// stall the pipeline: at ~1.3 GB/s with SHA-NI the default 64 MiB costs ~50 ms cold.
    /// Stat, build-id and origin are still recorded. 0 disables hashing.
    pub max_hash_size: u64,
    /// Read buffer used for hashing (default 1 MiB).
    pub buffer_size: usize,
}

impl Default for ExecutableConfig {
    fn default() -> Self {
        ExecutableConfig {
            capacity: 4096,
            max_hash_size: 64 << 20,
            buffer_size: 1 << 20,
        }
    }
}

/// Counters of the [`ExecutableCache`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExecutableStats {
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups that had to read the file.
    pub misses: u64,
    /// Of the hits, those answered by a version the kernel reported, without opening the file.
    pub by_version: u64,
    /// Reads of file contents (hash chunks, ELF headers and notes).
    pub reads: u64,
    /// Bytes hashed.
    pub bytes_hashed: u64,
    /// Files not hashed because they exceed `max_hash_size`.
    pub too_large: u64,
    /// Files not hashed because the caller's budget of bytes had less left than their size.
    pub over_budget: u64,
    /// Files that changed while being hashed (result not cached, sha256 None).
    pub changed_while_hashing: u64,
    /// Entries evicted to stay within capacity.
    pub evicted: u64,
    /// Entries held now.
    pub entries: u64,
}

/// What Warden knows about executables, one entry per [`FileVersion`]: the per-exec hot path is
/// an open, an fstat and a hash-map lookup.
///
/// The cached [`Executable`] has every field except `package` and `package_verified`, which
/// depend on the path and are the [`DpkgIndex`](crate::DpkgIndex)'s business.
pub struct ExecutableCache {
    config: ExecutableConfig,
    cache: Bounded<FileVersion, Executable>,
    buf: Vec<u8>,
    reads: Cell<u64>,
    stats: ExecutableStats,
}

impl std::fmt::Debug for ExecutableCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecutableCache")
            .field("config", &self.config)
            .field("stats", &self.stats())
            .finish()
    }
}

impl ExecutableCache {
    /// A cache of `capacity` file versions with default settings.
    pub fn new(capacity: usize) -> Self {
        Self::with_config(ExecutableConfig {
            capacity,
            ..ExecutableConfig::default()
        })
    }

    /// A cache with the given settings.
    pub fn with_config(config: ExecutableConfig) -> Self {
        ExecutableCache {
            cache: Bounded::new(config.capacity),
            buf: Vec::new(),
            reads: Cell::new(0),
            stats: ExecutableStats::default(),
            config,
        }
    }

    /// Describes the file at `path` (which may be `/proc/PID/exe`: the image that ran, even when
    /// deleted or replaced). None when it cannot be opened.
    pub fn describe(&mut self, path: &[u8]) -> Option<Executable> {
        let file = open_for_read(path).ok()?;
        self.describe_file(&file)
    }

    /// Describes the image process `pid` runs, through `/proc/PID/exe`.
    pub fn describe_pid(&mut self, pid: u32) -> Option<Executable> {
        self.describe(format!("/proc/{pid}/exe").as_bytes())
    }

    /// Describes an already-open file (a fanotify event fd, or one opened by the caller); reads
    /// with `pread`, so the fd's offset is left alone.
    pub fn describe_file(&mut self, file: &File) -> Option<Executable> {
        let mut unlimited = u64::MAX;
        self.describe_file_within(file, &mut unlimited)
    }

    /// [`describe_file`](Self::describe_file), hashing only while `hash_budget` bytes remain:
    /// a file larger than what is left is described without its sha256 (and not cached, so a
    /// later look may hash it); the bytes hashed are taken from the budget. A cached
    /// description costs nothing.
    ///
    /// A file whose version changed while it was hashed is described once more, as it is
    /// then: the change may be a writer's, or only a name's (an unlink, a link, a chmod move
    /// its ctime too). A payload deleted as soon as it started is then still hashed; a file
    /// still being written gets no sha256.
    pub fn describe_file_within(
        &mut self,
        file: &File,
        hash_budget: &mut u64,
    ) -> Option<Executable> {
        match self.describe_version(file, hash_budget)? {
            Ok(exe) => Some(exe),
            Err(_changed) => Some(
                self.describe_version(file, hash_budget)?
                    .unwrap_or_else(|e| e),
            ),
        }
    }

    /// One description of `file` as its version is now: `Err` (without a sha256) when the
    /// version changed while it was hashed.
    fn describe_version(
        &mut self,
        file: &File,
        hash_budget: &mut u64,
    ) -> Option<Result<Executable, Executable>> {
        let meta = file.metadata().ok()?;
        let version = FileVersion::of(&meta);
        if let Some(hit) = self.cache.get(&version) {
            self.stats.hits += 1;
            return Some(Ok(hit.clone()));
        }
        self.stats.misses += 1;
        let mut exe = Executable {
            size: Some(meta.size()),
            inode: Some(meta.ino()),
            device: Some(meta.dev()),
            owner_uid: Some(meta.uid()),
            owner_gid: Some(meta.gid()),
            mode: Some(meta.mode()),
            mtime_ns: Some(version.mtime_ns),
            ctime_ns: Some(version.ctime_ns),
            ..Executable::default()
        };
        let mut cacheable = true;
        if meta.file_type().is_file() {
            let counted = Counting {
                inner: file,
                reads: &self.reads,
            };
            exe.build_id = elf::build_id(&counted);
            (exe.origin_url, exe.referrer_url) = xattr::download_origin(file);
            if meta.size() > self.config.max_hash_size {
                self.stats.too_large += 1;
            } else if meta.size() > *hash_budget {
                self.stats.over_budget += 1;
                cacheable = false;
            } else if let Some(digest) = {
                *hash_budget -= meta.size();
                self.sha256(file)
            } {
                // A writer racing the hash makes the digest meaningless: check the version again.
                match file.metadata() {
                    Ok(after) if FileVersion::of(&after) == version => {
                        exe.sha256 = Some(digest);
                    }
                    _ => {
                        self.stats.changed_while_hashing += 1;
                        return Some(Err(exe));
                    }
                }
            } else {
                cacheable = false;
            }
        }
        if cacheable {
            self.cache.insert(version, exe.clone());
        }
        Some(Ok(exe))
    }

    /// sha256 of the whole file, read with the big buffer; None on a read error.
    fn sha256(&mut self, file: &File) -> Option<String> {
        if self.buf.len() != self.config.buffer_size.max(4096) {
            self.buf = vec![0u8; self.config.buffer_size.max(4096)];
        }
        let mut hasher = Sha256::new();
        let mut offset = 0u64;
        loop {
            self.reads.set(self.reads.get() + 1);
            match file.read_at(&mut self.buf, offset) {
                Ok(0) => break,
                Ok(n) => {
                    hasher.update(&self.buf[..n]);
                    offset += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return None,
            }
        }
        self.stats.bytes_hashed += offset;
        Some(crate::hex(&hasher.finalize()))
    }

    /// The description of `version` if one is cached (counted as a hit); never touches the
    /// file. For a version the kernel reported (an eBPF exec record), before any open.
    pub fn cached(&mut self, version: &FileVersion) -> Option<Executable> {
        let hit = self.cache.get(version)?.clone();
        self.stats.hits += 1;
        self.stats.by_version += 1;
        Some(hit)
    }

    /// Makes `alias` find what `described` found: the kernel's and `stat`'s device numbers of
    /// one file can differ (btrfs subvolumes, overlays), and a version the kernel reports must
    /// then hit the entry `stat` keyed. Only when both name the same version otherwise.
    pub fn alias(&mut self, described: &FileVersion, alias: FileVersion) {
        if described == &alias || !described.same_but_device(&alias) {
            return;
        }
        if let Some(entry) = self.cache.get(described).cloned() {
            self.cache.insert(alias, entry);
        }
    }

    /// Counters: hits, misses, reads, bytes hashed, evictions.
    pub fn stats(&self) -> ExecutableStats {
        ExecutableStats {
            reads: self.reads.get(),
            evicted: self.cache.evicted(),
            entries: self.cache.len() as u64,
            ..self.stats
        }
    }

    /// Keeps `exe`, described elsewhere, as the description of `version`.
    pub fn remember(&mut self, version: FileVersion, exe: &Executable) {
        self.cache.insert(version, exe.clone());
    }

    /// Forgets every entry (counters are kept).
    pub fn clear(&mut self) {
        self.cache.clear();
    }
}

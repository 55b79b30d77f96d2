//! What Warden learns about each exec beyond what the kernel said: the executable's stat,
//! sha256, ELF build-id and download origin (cached per file version), its Debian package and
//! whether it still matches the package's digest, the container the process runs in, and user
//! and group names; the names a process's DNS answers gave the addresses it connects to. Every cache is bounded and keyed so the per-exec hot path is an open, an
//! fstat and a few hash-map lookups — only the lookups when the source read the file's version
//! and the cgroup in the kernel ([`ExecHints`]).

#![deny(missing_docs)]

pub mod container;
pub mod dpkg;
pub mod elf;
pub mod executable;
pub mod fetched;
mod lru;
pub mod names;
pub mod resolved;
pub mod xattr;

use std::fs::File;
use std::os::unix::ffi::OsStrExt;

pub use container::{ContainerIds, container_id, container_id_of};
pub use dpkg::{DpkgConfig, DpkgIndex, DpkgStats};
pub use elf::build_id;
pub use executable::{ExecutableCache, ExecutableConfig, ExecutableStats, open_for_read};
pub use fetched::Fetched;
pub use names::Names;
pub use resolved::{AskedNames, ResolvedNames};
pub use warden_core::FileVersion;
use warden_core::{Executable, Process};

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

/// Settings of the [`Enricher`].
#[derive(Clone, Debug, Default)]
pub struct EnrichConfig {
    /// The executable cache.
    pub executables: ExecutableConfig,
    /// The dpkg index.
    pub dpkg: DpkgConfig,
    /// The cache of written files' contents ([`Enricher::written_file`]).
    pub written: ExecutableConfig,
}

/// All of enrichment, for the one pipeline thread that owns it (`&mut self`; not shared).
#[derive(Debug)]
pub struct Enricher {
    /// Per-file-version executable facts.
    pub executables: ExecutableCache,
    /// The same facts of files that changes left written: a cache of their own, so that a
    /// storm of written files does not evict the executables.
    pub written: ExecutableCache,
    /// Debian package ownership and digests.
    pub dpkg: DpkgIndex,
    /// uid/gid names.
    pub names: Names,
    /// Container ids, by cgroup where the host allows.
    pub containers: ContainerIds,
    /// Whether an image's path names that very file here, in the agent's mount namespace, by
    /// the image's version (with the path it was asked for): a process in a container, or in
    /// a namespace that mounts another file on the path, runs a file of its own by a name the
    /// host's packages may own.
    at_path: lru::Bounded<FileVersion, (Vec<u8>, bool)>,
    /// Execs left undescribed because the only file left to describe, the one at their path,
    /// is not the image the kernel reported (its process gone, and the path replaced since or
    /// another mount namespace's).
    pub other_file_at_path: u64,
}

impl Default for Enricher {
    fn default() -> Self {
        Enricher::new(EnrichConfig::default())
    }
}

/// What a process source read in the kernel at exec time that spares enrichment a /proc read.
#[derive(Clone, Copy, Debug, Default)]
pub struct ExecHints<'a> {
    /// The executable's version (inode, device, size, times).
    pub exe_version: Option<FileVersion>,
    /// The process's cgroup id in the unified hierarchy.
    pub cgroup_id: Option<u64>,
    /// The image itself, opened by the source while the process ran it (the eBPF reader
    /// holds the first exec of each file version, and every unlinked image): described from
    /// it, so an image gone with its process by the time the exec is enriched (a payload
    /// deleted once it ran, a memfd) is still hashed.
    pub image: Option<&'a File>,
}

/// Images whose place at their path is remembered ([`Enricher::package_at`]).
const AT_PATH_ENTRIES: usize = 4096;

/// Suffix the kernel appends to `/proc/PID/exe`'s target once the file is unlinked.
const DELETED: &[u8] = b" (deleted)";

impl Enricher {
    /// An enricher over this host's files.
    pub fn new(config: EnrichConfig) -> Self {
        Enricher {
            executables: ExecutableCache::with_config(config.executables),
            written: ExecutableCache::with_config(config.written),
            dpkg: DpkgIndex::new(config.dpkg),
            names: Names::new(),
            containers: ContainerIds::for_host(),
            at_path: lru::Bounded::new(AT_PATH_ENTRIES),
            other_file_at_path: 0,
        }
    }

    /// Everything known about the executable at `path`, package fields included.
    pub fn executable(&mut self, path: &[u8]) -> Option<Executable> {
        let file = open_for_read(path).ok()?;
        Some(self.executable_file(path, &file, false))
    }

    /// The executable of process `pid` whose exec named `path`: through `/proc/PID/exe` while
    /// it still points at `path` (so a binary deleted or replaced since is described as the
    /// image that ran), else the file at `path`. A deleted image keeps its package but gets
    /// `package_verified: None` (an upgrade replaced it; its digest is no longer recorded).
    pub fn executable_of(&mut self, pid: u32, path: Option<&[u8]>) -> Option<Executable> {
        let image = open_image(pid, path)?;
        Some(self.executable_file(&image.path, &image.file, image.deleted))
    }

    fn executable_file(&mut self, path: &[u8], file: &File, deleted: bool) -> Executable {
        let mut exe = self.executables.describe_file(file).unwrap_or_default();
        exe.package = match version_of(&exe) {
            // Deleted, or replaced, since it ran (a package's upgrade): still its package's.
            _ if deleted => self.dpkg.package_of(path).map(str::to_string),
            Some(version) => self.package_at(path, &version),
            None => None,
        };
        if exe.package.is_some() && !deleted {
            exe.package_verified = self.dpkg.verify(path, file);
        }
        exe
    }

    /// The package owning `path`, for an image of `version` run by that name: only when the
    /// path names that very file here (in the agent's mount namespace). A container's
    /// `/usr/bin/curl` is not the host's curl package's file, and checking it against that
    /// package's digest would call it modified. Each version's answer is kept, so a known
    /// image costs no look at its path.
    fn package_at(&mut self, path: &[u8], version: &FileVersion) -> Option<String> {
        let package = self.dpkg.package_of(path)?.to_string();
        if let Some((asked, here)) = self.at_path.get(version)
            && asked == path
        {
            return here.then_some(package);
        }
        let here = std::fs::metadata(std::ffi::OsStr::from_bytes(path))
            .is_ok_and(|meta| FileVersion::of(&meta).same_but_device(version));
        self.at_path.insert(*version, (path.to_vec(), here));
        here.then_some(package)
    }

    /// The regular file at `path` as a change left it (a close after writing, a rename's new
    /// name), if `path` still names the file the change did (`inode`, when the source knew
    /// it): size, times, owner, ELF build-id, download origin, package, and its sha256 while
    /// `hash_budget` bytes remain ([`ExecutableCache::describe_file_within`]). Not the
    /// package's digest check: a package's upgrade writes its files before it records their
    /// new digests. None when the path names no regular file now, or another one.
    ///
    /// The path is opened without following a last symlink and looked at before it is read:
    /// nothing but a regular file is ever opened for reading (a device's open can act).
    pub fn written_file(
        &mut self,
        path: &[u8],
        inode: Option<u64>,
        hash_budget: &mut u64,
    ) -> Option<Executable> {
        use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
        let located = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(std::ffi::OsStr::from_bytes(path))
            .ok()?;
        let meta = located.metadata().ok()?;
        if !meta.file_type().is_file() || inode.is_some_and(|ino| ino != meta.ino()) {
            return None;
        }
        // The same inode, now for reading (the path may name another file by now).
        let fd = std::os::fd::AsRawFd::as_raw_fd(&located);
        let file = open_for_read(format!("/proc/self/fd/{fd}").as_bytes()).ok()?;
        let mut content = self.written.describe_file_within(&file, hash_budget)?;
        if content.inode != Some(meta.ino()) {
            return None;
        }
        content.package = self.dpkg.package_of(path).map(str::to_string);
        Some(content)
    }

    /// [`Enricher::written_file`] from the file itself, held open by the source since the
    /// change (a regular file, the very inode the change left), though its path may name
    /// another file by now, or none.
    pub fn written_held(
        &mut self,
        path: &[u8],
        file: &File,
        hash_budget: &mut u64,
    ) -> Option<Executable> {
        let mut content = self.written.describe_file_within(file, hash_budget)?;
        content.package = self.dpkg.package_of(path).map(str::to_string);
        Some(content)
    }

    /// Fills the user, effective user and group names only: the cheap part of [`enrich`],
    /// for fork and exit events whose image an earlier exec event already described.
    ///
    /// [`enrich`]: Enricher::enrich
    pub fn names(&mut self, p: &mut Process) {
        if p.user_name.is_none()
            && let Some(uid) = p.uid
        {
            p.user_name = self.names.user(uid).map(str::to_string);
        }
        if p.euser_name.is_none()
            && let Some(euid) = p.euid
        {
            p.euser_name = self.names.user(euid).map(str::to_string);
        }
        if p.group_name.is_none()
            && let Some(gid) = p.gid
        {
            p.group_name = self.names.group(gid).map(str::to_string);
        }
    }

    /// Fills what the source left empty: user, effective user and group names, the container
    /// id (from `/proc/PID/cgroup`) and the executable (from `/proc/PID/exe` or `exe`).
    pub fn enrich(&mut self, p: &mut Process) {
        self.enrich_exec(p, ExecHints::default());
    }

    /// [`enrich`](Enricher::enrich) for an exec, with what its source read in the kernel
    /// (eBPF): a file version described before is served from the caches without opening
    /// `/proc/PID/exe` (a new one is described through it as usual, and kept under the
    /// kernel's version too when only the device numbers differ); a cgroup seen before needs
    /// no `/proc/PID/cgroup` on unified-only hosts ([`ContainerIds`]).
    pub fn enrich_exec(&mut self, p: &mut Process, hints: ExecHints) {
        self.names(p);
        if p.container_id.is_none() {
            p.container_id = self.containers.of(p.pid, hints.cgroup_id);
        }
        if p.executable.is_none() {
            p.executable = match (hints.exe_version, p.exe.as_deref()) {
                (Some(version), Some(path)) => {
                    self.executable_by_version(p.pid, path, version, hints.image)
                }
                (_, path) => self.executable_of(p.pid, path),
            };
        }
    }

    /// [`enrich_exec`](Enricher::enrich_exec) for an image this thread must not open: one on a
    /// filesystem served over a network or by a process, whose server may never answer. An
    /// image whose version the kernel reported and the caches know is served from them;
    /// otherwise `describe` describes it elsewhere (None when it could not in time), and what
    /// it found is remembered for the image's next exec ([`Enricher::remember`]). Its package
    /// is named but not checked: the check reads the file.
    pub fn enrich_exec_elsewhere(
        &mut self,
        p: &mut Process,
        hints: ExecHints,
        describe: impl FnOnce(u32, &[u8]) -> Option<Executable>,
    ) {
        self.names(p);
        if p.container_id.is_none() {
            p.container_id = self.containers.of(p.pid, hints.cgroup_id);
        }
        let Some(path) = p.exe.as_deref().filter(|_| p.executable.is_none()) else {
            return;
        };
        p.executable = self.image_elsewhere(p.pid, path, hints.exe_version, describe);
    }

    /// The file process `pid` runs from `path` (its image, or the script its interpreter
    /// runs), of `version` as the kernel found it, on a filesystem this thread must not open
    /// ([`Enricher::enrich_exec_elsewhere`]): from the caches, else as `describe` finds it
    /// elsewhere, kept only if it is that version.
    pub fn image_elsewhere(
        &mut self,
        pid: u32,
        path: &[u8],
        version: Option<FileVersion>,
        describe: impl FnOnce(u32, &[u8]) -> Option<Executable>,
    ) -> Option<Executable> {
        // Its path is not looked at: a look there waits on the server.
        if let Some(version) = version
            && let Some(known) = self.known_executable(path, &version, false)
        {
            return Some(known);
        }
        let mut exe = describe(pid, path)?;
        if let Some(version) = version
            && !self.is_version(&exe, &version)
        {
            return None;
        }
        self.remember(&exe, version);
        exe.package = self.dpkg.package_of(path).map(str::to_string);
        Some(exe)
    }

    /// The file an exec named that its interpreter runs (a `#!` script), at `path`, of
    /// `version` as the kernel found it: from the caches, else from `held` when the source
    /// held it, else the file at `path` while it is that version. None without a version:
    /// nothing would tell the file found from another.
    pub fn script(
        &mut self,
        pid: u32,
        path: &[u8],
        version: Option<FileVersion>,
        held: Option<&File>,
    ) -> Option<Executable> {
        self.executable_by_version(pid, path, version?, held)
    }

    /// The file an exec named, at `path` (as the call gave it, made absolute; a `/proc/self/`
    /// or `/dev/fd/` name is process `pid`'s), while it is still the file of `inode` the exec
    /// opened: audit's record gives no more of its version. None once it is gone or another
    /// file (counted).
    pub fn script_of_inode(&mut self, pid: u32, path: &[u8], inode: u64) -> Option<Executable> {
        use std::os::unix::fs::MetadataExt;
        let own = of_process(pid, path);
        let file = open_for_read(&own).ok()?;
        if file.metadata().ok()?.ino() != inode {
            self.other_file_at_path += 1;
            return None;
        }
        Some(self.executable_file(path, &file, false))
    }

    /// Whether `found` is the file of `version` the kernel reported: its inode, size and mtime
    /// (the device may read otherwise, and an unlink moves the ctime). Counted when not.
    fn is_version(&mut self, found: &Executable, version: &FileVersion) -> bool {
        let same = version_of(found).is_some_and(|found| {
            (found.inode, found.size, found.mtime_ns)
                == (version.inode, version.size, version.mtime_ns)
        });
        self.other_file_at_path += u64::from(!same);
        same
    }

    /// Keeps a description made elsewhere ([`describe_image`]) for the image's next exec, also
    /// under the version the kernel reported of it, where that differs only in its device.
    pub fn remember(&mut self, exe: &Executable, kernel_version: Option<FileVersion>) {
        let Some(stat) = version_of(exe) else {
            return;
        };
        self.executables.remember(stat, exe);
        if let Some(version) = kernel_version {
            self.executables.alias(&stat, version);
        }
    }

    /// The executable `pid` runs, at `path`, of `version` as the kernel saw it: from the
    /// caches, else from `image` when the source held it, else as [`Enricher::executable_of`]
    /// finds it.
    fn executable_by_version(
        &mut self,
        pid: u32,
        path: &[u8],
        version: FileVersion,
        image: Option<&File>,
    ) -> Option<Executable> {
        if let Some(known) = self.known_executable(path, &version, true) {
            return Some(known);
        }
        let described = match image {
            Some(file) => {
                let (live, deleted) = without_deleted(path);
                Some(self.executable_file(live, file, deleted))
            }
            // Through /proc/PID/exe while the process lives, else the file at the path: only
            // if it is the image the kernel reported (its inode, size and mtime; the device
            // may read otherwise, and an unlink moves the ctime).
            None => self
                .executable_of(pid, Some(path))
                .filter(|found| self.is_version(found, &version)),
        };
        if let Some(stat) = described.as_ref().and_then(version_of) {
            self.executables.alias(&stat, version);
            self.dpkg.alias(&stat, version);
        }
        described
    }

    /// The executable at `path` of `version`, entirely from the caches; None on any miss. The
    /// package is the one owning the path, checked to own the very file there
    /// ([`Enricher::package_at`]) when `may_look` at the path (not on a filesystem whose
    /// server may not answer).
    fn known_executable(
        &mut self,
        path: &[u8],
        version: &FileVersion,
        may_look: bool,
    ) -> Option<Executable> {
        let (live, deleted) = without_deleted(path);
        let package = match deleted || !may_look {
            true => self.dpkg.package_of(live).map(str::to_string),
            false => self.package_at(live, version),
        };
        let package_verified = match package {
            Some(_) if !deleted => self.dpkg.verified(live, version)?,
            _ => None,
        };
        let mut exe = self.executables.cached(version)?;
        exe.package = package;
        exe.package_verified = package_verified;
        Some(exe)
    }
}

/// The image a process runs, opened for reading: [`Enricher::executable_of`]'s choice.
struct Image {
    /// The path it was run by (without the kernel's " (deleted)").
    path: Vec<u8>,
    file: File,
    /// It was deleted or replaced since.
    deleted: bool,
}

/// Opens the image `pid` runs through `/proc/PID/exe` while that still points at `path`, else
/// the file at `path`.
fn open_image(pid: u32, path: Option<&[u8]>) -> Option<Image> {
    let proc_exe = format!("/proc/{pid}/exe");
    if let Ok(target) = std::fs::read_link(&proc_exe) {
        let (live, deleted) = without_deleted(target.as_os_str().as_bytes());
        if path.is_none_or(|p| without_deleted(p).0 == live)
            && let Ok(file) = open_for_read(proc_exe.as_bytes())
        {
            return Some(Image {
                path: live.to_vec(),
                file,
                deleted,
            });
        }
    }
    let path = path?;
    Some(Image {
        path: path.to_vec(),
        file: open_for_read(path).ok()?,
        deleted: false,
    })
}

/// `path` as process `pid` names it: its own `/proc/self/...` and `/dev/fd/N` are
/// `/proc/PID/...` here.
fn of_process(pid: u32, path: &[u8]) -> Vec<u8> {
    let (base, rest) = if let Some(rest) = path.strip_prefix(b"/proc/self/") {
        (format!("/proc/{pid}/"), rest)
    } else if let Some(rest) = path.strip_prefix(b"/dev/fd/") {
        (format!("/proc/{pid}/fd/"), rest)
    } else {
        return path.to_vec();
    };
    let mut own = base.into_bytes();
    own.extend_from_slice(rest);
    own
}

/// `path` without the " (deleted)" the kernel appends to the name of a file with none left,
/// and whether it had it.
fn without_deleted(path: &[u8]) -> (&[u8], bool) {
    match path.strip_suffix(DELETED) {
        Some(live) => (live, true),
        None => (path, false),
    }
}

/// The image `pid` runs from `path`, as [`Enricher::executable_of`] finds it but without the
/// package fields and with a cache of the caller's: for a thread of its own, where an image's
/// filesystem may keep the caller waiting ([`Enricher::enrich_exec_elsewhere`]).
pub fn describe_image(cache: &mut ExecutableCache, pid: u32, path: &[u8]) -> Option<Executable> {
    cache.describe_file(&open_image(pid, Some(path))?.file)
}

/// The file version an [`Executable`] describes, when it has every part of one.
fn version_of(exe: &Executable) -> Option<FileVersion> {
    Some(FileVersion {
        dev: exe.device?,
        inode: exe.inode?,
        size: exe.size?,
        mtime_ns: exe.mtime_ns?,
        ctime_ns: exe.ctime_ns?,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_process_own_names_are_its_proc_entries() {
        assert_eq!(super::of_process(7, b"/proc/self/fd/3"), b"/proc/7/fd/3");
        assert_eq!(super::of_process(7, b"/dev/fd/3"), b"/proc/7/fd/3");
        assert_eq!(super::of_process(7, b"/tmp/x"), b"/tmp/x");
        assert_eq!(super::of_process(7, b"/proc/selfish"), b"/proc/selfish");
    }

    #[test]
    fn hex() {
        assert_eq!(super::hex(&[0, 0x0f, 0xa5, 0xff]), "000fa5ff");
    }
}

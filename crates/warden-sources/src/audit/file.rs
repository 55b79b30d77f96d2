//! The file view of an assembled audit event: which process created, opened for writing,
//! truncated, renamed, deleted, re-moded, re-owned or linked which file — or read a watched one —
//! and the audit rules that make the kernel report it.
//!
//! Built from SYSCALL (ids, comm, exe, result, key, `a0`..`a3`: fds, flags, modes, owners), CWD,
//! PATH (one per name the call looked up: `nametype=` PARENT, NORMAL, CREATE, DELETE or UNKNOWN)
//! and OPENAT2 (`oflag=`: openat2's flags live in `struct open_how`, out of the SYSCALL record's
//! reach). Pure: no IO except [`read_watch_rules`], which `stat`s the paths it is given.
//!
//! What the kernel writes (Linux 6.18, `tests/fixtures/kernel-file.txt`), and so what the view can
//! and cannot say:
//!
//! * A relative name is recorded as passed; the CWD record holds the directory it is relative to
//!   when the call used the cwd (no dirfd, or `AT_FDCWD`). [`FileOp::path`] joins them.
//! * For an `*at()` call with a real dirfd and a relative name, the records do **not** name the
//!   directory: the PARENT record's `name=` is the process's *cwd* (the kernel prints the cwd for
//!   every parent of a name without a `/`), only its `inode=` is the dirfd's directory. The view
//!   keeps the name relative and says so ([`PathKind::RelativeToDirfd`]); the caller may resolve
//!   `/proc/PID/fd/DIRFD` while the process lives.
//! * fd calls name no file: ftruncate has no PATH record at all, fchmod and fchown one with
//!   `name=(null)` (inode, device and old mode only). The view has an empty path and says which
//!   descriptor the call used ([`PathKind::Descriptor`]); the caller may resolve
//!   `/proc/PID/fd/FD` while the process lives.
//! * A failed call may stop before the last name: a failed unlink (ENOENT) has only the PARENT
//!   record. The view then names that directory ([`PathKind::ParentOnly`]).
//! * symlink's target string is recorded, as a PATH record with `nametype=UNKNOWN`, verbatim.
//! * rename writes both parents, a DELETE for the old name, a CREATE for the new one, and one more
//!   DELETE for a file it replaced; `renameat2(RENAME_EXCHANGE)` writes two DELETEs and two
//!   CREATEs (its flags are `a4`, which SYSCALL records never carry: two CREATEs are the only sign).
//!
//! Covered syscalls (argument layouts are the same on every ABI): x86-64, i386 (with the 16-bit
//! `chown` family and `truncate64`), aarch64, riscv64 (no renameat) — see [`file_syscalls`].

use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use warden_core::{FileAction, FileEvent, Process, Source};

use super::assemble::Event;
use super::exec::arch;
use super::msgtype;
use super::net::errno_name;
use super::record::{EventId, FieldProblem, Record, Value};
use super::rules::{AuditRule, FieldValue, Op, WatchKind, field, perm};
use super::subject::Subject;

/// OPENAT2 record type (1337): `oflag=` (octal), `mode=`, `resolve=` of an openat2 call.
pub const OPENAT2: u16 = 1337;

/// `AT_FDCWD`: "relative to the cwd" in place of a dirfd.
pub const AT_FDCWD: i32 = -100;

/// `AT_REMOVEDIR`: unlinkat's flag making it rmdir.
pub const AT_REMOVEDIR: u64 = 0x200;

/// Open flags that make an open a write (`O_WRONLY | O_RDWR | O_CREAT | O_TRUNC`; the same bits
/// on x86, arm and riscv).
pub const OPEN_WRITE_FLAGS: u32 = 0o1 | 0o2 | 0o100 | 0o1000;

const O_ACCMODE: u64 = 0o3;
const O_CREAT: u64 = 0o100;
const O_TRUNC: u64 = 0o1000;
const S_IFMT: u32 = 0o170000;
const S_IFDIR: u32 = 0o040000;

/// A file syscall by argument layout: what its `a0`..`a3` hold. The same layout has different
/// numbers (and sometimes names) on each ABI.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FileCall {
    /// open(path, flags=a1, mode).
    Open,
    /// openat(dirfd=a0, path, flags=a2, mode).
    OpenAt,
    /// openat2(dirfd=a0, path, how, size): flags in the OPENAT2 record.
    OpenAt2,
    /// creat(path, mode): open with `O_CREAT | O_WRONLY | O_TRUNC`.
    Creat,
    /// truncate(path, length) (and i386 truncate64).
    Truncate,
    /// ftruncate(fd=a0, length) (and i386 ftruncate64).
    Ftruncate,
    /// rename(old, new).
    Rename,
    /// renameat(olddirfd=a0, old, newdirfd=a2, new) and renameat2 (flags in a4, not recorded).
    RenameAt,
    /// unlink(path).
    Unlink,
    /// unlinkat(dirfd=a0, path, flags=a2).
    UnlinkAt,
    /// rmdir(path).
    Rmdir,
    /// mkdir(path, mode).
    Mkdir,
    /// mkdirat(dirfd=a0, path, mode).
    MkdirAt,
    /// mknod(path, mode, dev).
    Mknod,
    /// mknodat(dirfd=a0, path, mode, dev).
    MknodAt,
    /// chmod(path, mode=a1).
    Chmod,
    /// fchmod(fd=a0, mode=a1).
    Fchmod,
    /// fchmodat(dirfd=a0, path, mode=a2, ...) and fchmodat2.
    FchmodAt,
    /// chown(path, uid=a1, gid=a2) and lchown; `ids16`: the i386 16-bit ids (-1 is 0xffff).
    Chown {
        /// 16-bit uid_t / gid_t (i386 chown 182, lchown 16).
        ids16: bool,
    },
    /// fchown(fd=a0, uid=a1, gid=a2).
    Fchown {
        /// 16-bit ids (i386 fchown 95).
        ids16: bool,
    },
    /// fchownat(dirfd=a0, path, uid=a2, gid=a3, flags).
    FchownAt,
    /// link(old, new).
    Link,
    /// linkat(olddirfd=a0, old, newdirfd=a2, new, flags).
    LinkAt,
    /// symlink(target, linkpath).
    Symlink,
    /// symlinkat(target, newdirfd=a1, linkpath).
    SymlinkAt,
}

impl FileCall {
    /// A chmod or chown call (of any form).
    pub fn changes_attributes(self) -> bool {
        use FileCall::*;
        matches!(
            self,
            Chmod | Fchmod | FchmodAt | Chown { .. } | Fchown { .. } | FchownAt
        )
    }

    /// A link or symlink call (of any form): what fanotify reports as a creation.
    pub fn makes_links(self) -> bool {
        use FileCall::*;
        matches!(self, Link | LinkAt | Symlink | SymlinkAt)
    }

    /// Argument index of the dirfd the (new) name is relative to.
    fn dirfd_arg(self) -> Option<usize> {
        use FileCall::*;
        match self {
            OpenAt | OpenAt2 | UnlinkAt | MkdirAt | MknodAt | FchmodAt | FchownAt => Some(0),
            RenameAt | LinkAt => Some(2),
            SymlinkAt => Some(1),
            _ => None,
        }
    }

    /// Argument index of the dirfd the old name (rename source, link target) is relative to.
    fn old_dirfd_arg(self) -> Option<usize> {
        matches!(self, FileCall::RenameAt | FileCall::LinkAt).then_some(0)
    }

    /// Argument index of the file descriptor of an fd call.
    fn fd_arg(self) -> Option<usize> {
        matches!(
            self,
            FileCall::Ftruncate | FileCall::Fchmod | FileCall::Fchown { .. }
        )
        .then_some(0)
    }

    /// Argument index of chmod's new mode.
    fn mode_arg(self) -> Option<usize> {
        match self {
            FileCall::Chmod | FileCall::Fchmod => Some(1),
            FileCall::FchmodAt => Some(2),
            _ => None,
        }
    }

    /// Argument indexes of chown's new uid and gid, and whether they are 16-bit.
    fn owner_args(self) -> Option<(usize, usize, bool)> {
        match self {
            FileCall::Chown { ids16 } | FileCall::Fchown { ids16 } => Some((1, 2, ids16)),
            FileCall::FchownAt => Some((2, 3, false)),
            _ => None,
        }
    }

    fn is_open(self) -> bool {
        matches!(
            self,
            FileCall::Open | FileCall::OpenAt | FileCall::OpenAt2 | FileCall::Creat
        )
    }
}

/// One row of a syscall table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FileSyscall {
    /// Syscall number on its ABI.
    pub nr: u32,
    /// Its name on that ABI (`chown32`, `fchmodat2`, ...).
    pub name: &'static str,
    /// Its argument layout.
    pub call: FileCall,
}

const fn sys(nr: u32, name: &'static str, call: FileCall) -> FileSyscall {
    FileSyscall { nr, name, call }
}

use FileCall as C;

const X86_64_FILE: &[FileSyscall] = &[
    sys(2, "open", C::Open),
    sys(257, "openat", C::OpenAt),
    sys(85, "creat", C::Creat),
    sys(437, "openat2", C::OpenAt2),
    sys(76, "truncate", C::Truncate),
    sys(77, "ftruncate", C::Ftruncate),
    sys(82, "rename", C::Rename),
    sys(264, "renameat", C::RenameAt),
    sys(316, "renameat2", C::RenameAt),
    sys(87, "unlink", C::Unlink),
    sys(263, "unlinkat", C::UnlinkAt),
    sys(84, "rmdir", C::Rmdir),
    sys(83, "mkdir", C::Mkdir),
    sys(258, "mkdirat", C::MkdirAt),
    sys(133, "mknod", C::Mknod),
    sys(259, "mknodat", C::MknodAt),
    sys(90, "chmod", C::Chmod),
    sys(91, "fchmod", C::Fchmod),
    sys(268, "fchmodat", C::FchmodAt),
    sys(452, "fchmodat2", C::FchmodAt),
    sys(92, "chown", C::Chown { ids16: false }),
    sys(93, "fchown", C::Fchown { ids16: false }),
    sys(94, "lchown", C::Chown { ids16: false }),
    sys(260, "fchownat", C::FchownAt),
    sys(86, "link", C::Link),
    sys(265, "linkat", C::LinkAt),
    sys(88, "symlink", C::Symlink),
    sys(266, "symlinkat", C::SymlinkAt),
];

const I386_FILE: &[FileSyscall] = &[
    sys(5, "open", C::Open),
    sys(295, "openat", C::OpenAt),
    sys(8, "creat", C::Creat),
    sys(437, "openat2", C::OpenAt2),
    sys(92, "truncate", C::Truncate),
    sys(93, "ftruncate", C::Ftruncate),
    sys(193, "truncate64", C::Truncate),
    sys(194, "ftruncate64", C::Ftruncate),
    sys(38, "rename", C::Rename),
    sys(302, "renameat", C::RenameAt),
    sys(353, "renameat2", C::RenameAt),
    sys(10, "unlink", C::Unlink),
    sys(301, "unlinkat", C::UnlinkAt),
    sys(40, "rmdir", C::Rmdir),
    sys(39, "mkdir", C::Mkdir),
    sys(296, "mkdirat", C::MkdirAt),
    sys(14, "mknod", C::Mknod),
    sys(297, "mknodat", C::MknodAt),
    sys(15, "chmod", C::Chmod),
    sys(94, "fchmod", C::Fchmod),
    sys(306, "fchmodat", C::FchmodAt),
    sys(452, "fchmodat2", C::FchmodAt),
    sys(16, "lchown", C::Chown { ids16: true }),
    sys(95, "fchown", C::Fchown { ids16: true }),
    sys(182, "chown", C::Chown { ids16: true }),
    sys(198, "lchown32", C::Chown { ids16: false }),
    sys(207, "fchown32", C::Fchown { ids16: false }),
    sys(212, "chown32", C::Chown { ids16: false }),
    sys(298, "fchownat", C::FchownAt),
    sys(9, "link", C::Link),
    sys(303, "linkat", C::LinkAt),
    sys(83, "symlink", C::Symlink),
    sys(304, "symlinkat", C::SymlinkAt),
];

/// The asm-generic table (aarch64; riscv64 is the same without renameat): only the `*at` calls.
const GENERIC_FILE: &[FileSyscall] = &[
    sys(56, "openat", C::OpenAt),
    sys(437, "openat2", C::OpenAt2),
    sys(45, "truncate", C::Truncate),
    sys(46, "ftruncate", C::Ftruncate),
    sys(276, "renameat2", C::RenameAt),
    sys(35, "unlinkat", C::UnlinkAt),
    sys(34, "mkdirat", C::MkdirAt),
    sys(33, "mknodat", C::MknodAt),
    sys(52, "fchmod", C::Fchmod),
    sys(53, "fchmodat", C::FchmodAt),
    sys(452, "fchmodat2", C::FchmodAt),
    sys(55, "fchown", C::Fchown { ids16: false }),
    sys(54, "fchownat", C::FchownAt),
    sys(37, "linkat", C::LinkAt),
    sys(36, "symlinkat", C::SymlinkAt),
    // Last, so riscv64 can take the table without it.
    sys(38, "renameat", C::RenameAt),
];

/// The file syscalls Warden decodes on an ABI (empty when its numbers are not tabled).
pub fn file_syscalls(abi: u32) -> &'static [FileSyscall] {
    match abi {
        arch::X86_64 => X86_64_FILE,
        arch::I386 => I386_FILE,
        arch::AARCH64 => GENERIC_FILE,
        arch::RISCV64 => &GENERIC_FILE[..GENERIC_FILE.len() - 1],
        _ => &[],
    }
}

/// The file syscall `nr` is on `abi`, if it is one.
pub fn file_syscall(abi: u32, nr: u32) -> Option<&'static FileSyscall> {
    file_syscalls(abi).iter().find(|s| s.nr == nr)
}

/// How much of [`FileOp::path`] the records pin down.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PathKind {
    /// The object's own name, absolute (joined with the CWD record when it was relative).
    Exact,
    /// The name as passed, relative to this directory fd, which the records do not resolve
    /// (see the module doc).
    RelativeToDirfd(i32),
    /// The call named the object by this descriptor (fchmod, ftruncate, `AT_EMPTY_PATH`): no
    /// record gives its path, which is empty here.
    Descriptor(i32),
    /// The call failed before the kernel recorded the object's name: the path is the directory
    /// the lookup got to (a PARENT record), not the object.
    ParentOnly,
}

/// A file operation, as audit saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileOp {
    /// Stamp of the event.
    pub id: EventId,
    /// The event was closed by EOE with nothing dropped (see [`Event::is_complete`]).
    pub complete: bool,
    /// `arch=`.
    pub arch: u32,
    /// `syscall=` number.
    pub syscall: u32,
    /// The syscall's name on this ABI (`openat`, `chown32`, `fchmodat2`).
    pub syscall_name: &'static str,
    /// Its argument layout.
    pub call: FileCall,
    /// What happened to the file.
    pub action: FileAction,
    /// `success=yes|no`.
    pub success: Option<bool>,
    /// `exit=`: return value (the new fd of an open) or negative errno.
    pub exit: Option<i64>,
    /// The errno's name when the call failed with a known one (`ENOENT`, `EACCES`).
    pub errno: Option<&'static str>,
    /// Who called.
    pub subject: Subject,
    /// The CWD record.
    pub cwd: Option<Vec<u8>>,
    /// The file (a rename's new name, a link's new name); see [`FileOp::path_kind`]. Joined
    /// paths drop `.` components and repeated `/` but keep `..`: lexical `..` removal is wrong
    /// when the component before it is a symlink.
    pub path: Vec<u8>,
    /// How far [`FileOp::path`] is resolved.
    pub path_kind: PathKind,
    /// A rename's old name: absolute, or (not starting with `/`) relative to the old dirfd `a0`.
    pub old_path: Option<Vec<u8>>,
    /// A hard link's existing file (resolved like `old_path`), or a symlink's content, verbatim
    /// as the program wrote it (a relative target is relative to the link's directory, so it
    /// is never joined with anything).
    pub target_path: Option<Vec<u8>>,
    /// A rename that swapped two names (`RENAME_EXCHANGE`): `old_path` now names the file that
    /// was at `path`.
    pub exchanged: bool,
    /// The object's inode (for a rename: the moved file's).
    pub inode: Option<u64>,
    /// Its device (`libc::makedev(major, minor)`).
    pub device: Option<u64>,
    /// `st_mode`: the PATH record's (as it was looked up: for a delete before it, for a create
    /// after), or for chmod the file type with the requested permission bits.
    pub mode: Option<u32>,
    /// chown's new owner (`None` for -1, unchanged); for other calls the file's owner.
    pub owner_uid: Option<u32>,
    /// chown's new group (`None` for -1, unchanged); for other calls the file's group.
    pub owner_gid: Option<u32>,
    /// The object is a directory: from the mode's type bits, else from the call (mkdir, rmdir,
    /// unlinkat with `AT_REMOVEDIR`).
    pub is_dir: Option<bool>,
    /// The open flags of the open family (creat: `O_CREAT | O_WRONLY | O_TRUNC`).
    pub open_flags: Option<u64>,
    /// Rule keys (several keys on one rule are joined by 0x01 in the record).
    pub keys: Vec<Vec<u8>>,
}

/// Why a file syscall's event has no file view.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FileViewError {
    /// A field the kernel always writes is missing.
    #[error("record lacks field {0}")]
    MissingField(&'static str),
    /// A field is present but not in the expected form.
    #[error("field {0} is malformed")]
    BadField(&'static str),
    /// A record the call always has is missing (`CWD` for a relative name, `OPENAT2`).
    #[error("event lacks its {0} record")]
    MissingRecord(&'static str),
    /// The records name no file: an fd call (fchmod, fchown, ftruncate: `fd` is `a0`), a failed
    /// `*at()` call relative to a dirfd (`fd` is the dirfd), or a call that failed before any
    /// lookup.
    #[error("the records name no path (fd {fd:?})")]
    NoPath {
        /// The descriptor the call named the file or directory by.
        fd: Option<i32>,
    },
}

impl From<FieldProblem> for FileViewError {
    fn from(p: FieldProblem) -> Self {
        match p {
            FieldProblem::Missing(key) => FileViewError::MissingField(key),
            FieldProblem::Malformed(key) => FileViewError::BadField(key),
        }
    }
}

/// `nametype=` of a PATH record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NameType {
    Normal,
    Parent,
    Create,
    Delete,
    Unknown,
    Other,
}

/// The parts of a PATH record the view uses.
struct PathRec {
    name: Option<Vec<u8>>,
    inode: Option<u64>,
    device: Option<u64>,
    mode: Option<u32>,
    ouid: Option<u32>,
    ogid: Option<u32>,
    nametype: NameType,
}

fn path_rec(r: &Record) -> Result<PathRec, FileViewError> {
    let device = match r.get("dev") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.text()
                .and_then(parse_dev)
                .ok_or(FileViewError::BadField("dev"))?,
        ),
    };
    let nametype = match r.get("nametype").and_then(Value::text) {
        Some("NORMAL") => NameType::Normal,
        Some("PARENT") => NameType::Parent,
        Some("CREATE") => NameType::Create,
        Some("DELETE") => NameType::Delete,
        Some("UNKNOWN") => NameType::Unknown,
        _ => NameType::Other,
    };
    Ok(PathRec {
        name: r.bytes_of("name"),
        inode: r.opt("inode", Value::as_u64)?,
        device,
        mode: r.opt("mode", Value::as_octal_u32)?,
        ouid: r.opt("ouid", Value::as_u32)?,
        ogid: r.opt("ogid", Value::as_u32)?,
        nametype,
    })
}

/// `fe:00` → `makedev(0xfe, 0)`.
fn parse_dev(s: &str) -> Option<u64> {
    let (major, minor) = s.split_once(':')?;
    let hex = |p: &str| {
        (!p.is_empty() && p.len() <= 8 && p.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| u32::from_str_radix(p, 16).ok())
            .flatten()
    };
    Some(libc::makedev(hex(major)?, hex(minor)?))
}

/// `base/name` without `.` components or repeated slashes; `..` kept (see [`FileOp::path`]).
pub(crate) fn join(base: &[u8], name: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(base.len() + name.len() + 1);
    for part in base
        .split(|b| *b == b'/')
        .chain(name.split(|b| *b == b'/'))
        .filter(|p| !p.is_empty() && *p != b".")
    {
        out.push(b'/');
        out.extend_from_slice(part);
    }
    if out.is_empty() {
        out.push(b'/');
    }
    out
}

/// The low 32 bits of a register as the `int` the program passed.
fn as_int(reg: u64) -> i32 {
    reg as u32 as i32
}

/// The event's SYSCALL arguments `a0`..`a3`.
struct Args<'a>(&'a Record);

impl Args<'_> {
    fn get(&self, i: usize) -> Result<u64, FileViewError> {
        const KEYS: [&str; 4] = ["a0", "a1", "a2", "a3"];
        Ok(self.0.req(KEYS[i], Value::as_hex_u64)?)
    }

    /// The dirfd in argument `i`, `None` for `AT_FDCWD`.
    fn dirfd(&self, i: Option<usize>) -> Result<Option<i32>, FileViewError> {
        match i {
            None => Ok(None),
            Some(i) => Ok(Some(as_int(self.get(i)?)).filter(|fd| *fd != AT_FDCWD)),
        }
    }
}

/// Resolves recorded names against the CWD record or leaves them relative to a dirfd.
struct Resolver<'a> {
    cwd: Option<&'a [u8]>,
}

impl Resolver<'_> {
    fn resolve(
        &self,
        name: &[u8],
        dirfd: Option<i32>,
    ) -> Result<(Vec<u8>, PathKind), FileViewError> {
        if name.starts_with(b"/") {
            return Ok((join(b"", name), PathKind::Exact));
        }
        if let Some(fd) = dirfd {
            // An empty name (`AT_EMPTY_PATH`) means the fd itself, which no record names.
            if name.is_empty() {
                return Ok((Vec::new(), PathKind::Descriptor(fd)));
            }
            return Ok((name.to_vec(), PathKind::RelativeToDirfd(fd)));
        }
        let cwd = self.cwd.ok_or(FileViewError::MissingRecord("CWD"))?;
        Ok((join(cwd, name), PathKind::Exact))
    }
}

/// The first record of the first listed name type that has one.
fn find<'a>(paths: &'a [PathRec], order: &[NameType]) -> Option<&'a PathRec> {
    order
        .iter()
        .find_map(|t| paths.iter().find(|p| p.nametype == *t))
}

impl FileOp {
    /// The file view of `event`: `None` when it is not one of the file syscalls of
    /// [`file_syscalls`] (or its `arch=` / `syscall=` cannot be read, so nothing says it is),
    /// an error when it is one but its records are broken or name no file.
    pub fn from_event(event: &Event) -> Option<Result<FileOp, FileViewError>> {
        let sc = event.record(msgtype::SYSCALL)?;
        let abi = u32::try_from(sc.get("arch")?.as_hex_u64()?).ok()?;
        let nr = sc.get("syscall")?.as_u32()?;
        let entry = file_syscall(abi, nr)?;
        Some(Self::build(event, sc, abi, entry))
    }

    fn build(
        event: &Event,
        sc: &Record,
        abi: u32,
        entry: &'static FileSyscall,
    ) -> Result<FileOp, FileViewError> {
        let call = entry.call;
        let args = Args(sc);
        let success = sc.success()?;
        let exit = sc.opt("exit", Value::as_i64)?;
        let errno = match (success, exit) {
            (Some(false), Some(e)) if e < 0 => errno_name(-e),
            _ => None,
        };
        let paths = event
            .records_of(msgtype::PATH)
            .map(path_rec)
            .collect::<Result<Vec<_>, _>>()?;
        let cwd = event.record(msgtype::CWD).and_then(|r| r.bytes_of("cwd"));
        let resolver = Resolver {
            cwd: cwd.as_deref(),
        };

        let open_flags = match call {
            FileCall::Open => Some(args.get(1)?),
            FileCall::OpenAt => Some(args.get(2)?),
            FileCall::Creat => Some(O_CREAT | O_TRUNC | 0o1),
            FileCall::OpenAt2 => Some(
                event
                    .record(OPENAT2)
                    .ok_or(FileViewError::MissingRecord("OPENAT2"))?
                    .req("oflag", Value::as_octal_u32)?
                    .into(),
            ),
            _ => None,
        };

        use NameType::*;
        let order: &[NameType] = match call {
            _ if call.is_open() => &[Create, Normal],
            C::Rename | C::RenameAt | C::Mkdir | C::MkdirAt | C::Mknod | C::MknodAt => &[Create],
            C::Link | C::LinkAt | C::Symlink | C::SymlinkAt => &[Create],
            C::Unlink | C::UnlinkAt | C::Rmdir => &[Delete, Normal],
            _ => &[Normal],
        };
        let object = find(&paths, order);
        let dirfd = args.dirfd(call.dirfd_arg())?;
        let fd = call.fd_arg().map(|i| args.get(i)).transpose()?.map(as_int);
        let (path, path_kind) = match object {
            Some(PathRec { name: Some(n), .. }) => resolver.resolve(n, dirfd)?,
            Some(_) => match fd {
                Some(fd) => (Vec::new(), PathKind::Descriptor(fd)),
                None => return Err(FileViewError::NoPath { fd }),
            },
            None => match paths.iter().find(|p| p.nametype == Parent) {
                Some(PathRec { name: Some(n), .. }) if fd.is_none() && dirfd.is_none() => {
                    (resolver.resolve(n, None)?.0, PathKind::ParentOnly)
                }
                _ => match fd {
                    Some(fd) => (Vec::new(), PathKind::Descriptor(fd)),
                    None => return Err(FileViewError::NoPath { fd: dirfd }),
                },
            },
        };
        let object = object.filter(|_| path_kind != PathKind::ParentOnly);

        let old_dirfd = args.dirfd(call.old_dirfd_arg())?;
        // A name relative to an fd no record resolves (or the fd itself) has no path to give.
        let resolve_other = |p: &PathRec| -> Result<Option<Vec<u8>>, FileViewError> {
            match p.name.as_deref().map(|n| resolver.resolve(n, old_dirfd)) {
                None | Some(Err(FileViewError::NoPath { .. })) => Ok(None),
                Some(r) => r.map(|(p, _)| Some(p)),
            }
        };
        let creates = paths.iter().filter(|p| p.nametype == Create).count();
        let (old_path, target_path, exchanged) = match call {
            C::Rename | C::RenameAt => {
                let new = object.and_then(|o| o.name.as_deref());
                // The moved file's old name: the DELETE of the same inode (a replaced file's
                // DELETE carries the new name and another inode).
                let old = object
                    .and_then(|o| o.inode)
                    .and_then(|ino| {
                        paths
                            .iter()
                            .find(|p| p.nametype == Delete && p.inode == Some(ino))
                    })
                    .or_else(|| {
                        paths
                            .iter()
                            .find(|p| p.nametype == Delete && p.name.as_deref() != new)
                    });
                (
                    old.map(resolve_other).transpose()?.flatten(),
                    None,
                    creates >= 2,
                )
            }
            C::Link | C::LinkAt => {
                let existing = paths.iter().find(|p| p.nametype == Normal);
                (
                    None,
                    existing.map(resolve_other).transpose()?.flatten(),
                    false,
                )
            }
            C::Symlink | C::SymlinkAt => {
                let content = paths
                    .iter()
                    .find(|p| p.nametype == Unknown)
                    .and_then(|p| p.name.clone());
                (None, content, false)
            }
            _ => (None, None, false),
        };

        let action = match call {
            C::Open | C::OpenAt | C::OpenAt2 | C::Creat => {
                let flags = open_flags.unwrap_or(0);
                if creates > 0 {
                    FileAction::Create
                } else if flags & O_ACCMODE != 0 || flags & (O_CREAT | O_TRUNC) != 0 {
                    FileAction::Open
                } else {
                    FileAction::Read
                }
            }
            C::Truncate | C::Ftruncate => FileAction::Truncate,
            C::Rename | C::RenameAt => FileAction::Rename,
            C::Unlink | C::UnlinkAt | C::Rmdir => FileAction::Delete,
            C::Mkdir | C::MkdirAt | C::Mknod | C::MknodAt => FileAction::Create,
            C::Chmod | C::Fchmod | C::FchmodAt => FileAction::Chmod,
            C::Chown { .. } | C::Fchown { .. } | C::FchownAt => FileAction::Chown,
            C::Link | C::LinkAt => FileAction::Link,
            C::Symlink | C::SymlinkAt => FileAction::Symlink,
        };

        let recorded_mode = object.and_then(|o| o.mode);
        let mode = match call.mode_arg() {
            Some(i) => {
                let bits = (args.get(i)? as u32) & 0o7777;
                Some(recorded_mode.map_or(bits, |m| (m & S_IFMT) | bits))
            }
            None => recorded_mode,
        };
        let (owner_uid, owner_gid) = match call.owner_args() {
            Some((u, g, ids16)) => {
                let id = |reg: u64| {
                    let unchanged = if ids16 {
                        reg as u16 == u16::MAX
                    } else {
                        reg as u32 == u32::MAX
                    };
                    (!unchanged).then_some(if ids16 { reg as u16 as u32 } else { reg as u32 })
                };
                (id(args.get(u)?), id(args.get(g)?))
            }
            None => (object.and_then(|o| o.ouid), object.and_then(|o| o.ogid)),
        };
        let is_dir = match mode {
            Some(m) if recorded_mode.is_some() => Some(m & S_IFMT == S_IFDIR),
            _ => match call {
                C::Mkdir | C::MkdirAt | C::Rmdir => Some(true),
                C::UnlinkAt => Some(args.get(2)? & AT_REMOVEDIR != 0),
                _ => None,
            },
        };

        Ok(FileOp {
            id: event.id,
            complete: event.is_complete(),
            arch: abi,
            syscall: entry.nr,
            syscall_name: entry.name,
            call,
            action,
            success,
            exit,
            errno,
            subject: Subject::from_syscall(sc)?,
            cwd,
            path,
            path_kind,
            old_path,
            target_path,
            exchanged,
            inode: object.and_then(|o| o.inode),
            device: object.and_then(|o| o.device),
            mode,
            owner_uid,
            owner_gid,
            is_dir,
            open_flags,
            keys: sc.rule_keys(),
        })
    }

    /// Was the event tagged with this rule key?
    pub fn has_key(&self, key: &[u8]) -> bool {
        self.keys.iter().any(|k| k == key)
    }

    /// The event model's form, for `process` (which the caller builds from its process table,
    /// with the ids of this view). `watch` is left for the caller, who knows its watch list.
    pub fn to_file_event(&self, process: Process) -> FileEvent {
        FileEvent {
            process,
            action: self.action,
            source: Source::Audit,
            syscall: Some(self.syscall_name.to_owned()),
            path: self.path.clone(),
            old_path: self.old_path.clone(),
            target_path: self.target_path.clone(),
            inode: self.inode,
            device: self.device,
            mode: self.mode,
            owner_uid: self.owner_uid,
            owner_gid: self.owner_gid,
            is_dir: self.is_dir,
            watch: None,
            success: self.success.unwrap_or(false),
            exit: self.exit,
            content: None,
            times: None,
        }
    }
}

/// The ABIs whose calls reach the kernel on this machine: the native one and its 32-bit compat
/// ABI where the table knows it.
fn native_abis() -> &'static [u32] {
    if cfg!(target_arch = "x86_64") {
        &[arch::X86_64, arch::I386]
    } else if cfg!(target_arch = "aarch64") {
        &[arch::AARCH64]
    } else if cfg!(target_arch = "x86") {
        &[arch::I386]
    } else if cfg!(target_arch = "riscv64") {
        &[arch::RISCV64]
    } else {
        &[]
    }
}

/// Warden's file-change rules for this machine's ABIs (see [`file_rules_for`]).
pub fn file_rules(key: &str, exclude_pid: u32) -> Vec<AuditRule> {
    native_abis()
        .iter()
        .flat_map(|&abi| file_rules_for(abi, key, exclude_pid))
        .collect()
}

/// The file-change rules for one ABI: `always,exit`, `-F pid!=exclude_pid` (the agent's own
/// file work would otherwise feed back into its own stream), tagged with `key`.
///
/// * `open` restricted to write opens: `-F a1&0x243` (any of `O_WRONLY | O_RDWR | O_CREAT |
///   O_TRUNC`);
/// * `openat` likewise on its flags, `-F a2&0x243`;
/// * every other call of [`file_syscalls`] unfiltered, in one rule. That includes openat2,
///   whose flags are behind a pointer: its read-only opens are recorded too and come out as
///   [`FileAction::Read`] (classified from the OPENAT2 record), which a consumer keeping only
///   watched reads can tell by the key.
///
/// On x86-64 that is 3 rules (`-S open`, `-S openat`, and `-S creat,openat2,truncate,...`);
/// i386 the same 3; aarch64 and riscv64 2 (no `open`).
pub fn file_rules_for(abi: u32, key: &str, exclude_pid: u32) -> Vec<AuditRule> {
    let table = file_syscalls(abi);
    let numbers = |pick: fn(FileCall) -> bool| -> Vec<u32> {
        table
            .iter()
            .filter(|s| pick(s.call))
            .map(|s| s.nr)
            .collect()
    };
    let finish = |r: AuditRule| {
        r.field(field::PID, Op::Ne, FieldValue::Num(exclude_pid))
            .key(key)
    };
    let write_flags = FieldValue::Num(OPEN_WRITE_FLAGS);
    let mut rules = Vec::new();
    for (call, arg) in [
        (FileCall::Open, field::ARG1),
        (FileCall::OpenAt, field::ARG2),
    ] {
        let nrs: Vec<u32> = table
            .iter()
            .filter(|s| s.call == call)
            .map(|s| s.nr)
            .collect();
        if !nrs.is_empty() {
            rules.push(finish(AuditRule::exit_always(abi).syscalls(&nrs).field(
                arg,
                Op::BitMask,
                write_flags.clone(),
            )));
        }
    }
    let rest = numbers(|c| !matches!(c, FileCall::Open | FileCall::OpenAt));
    if !rest.is_empty() {
        rules.push(finish(AuditRule::exit_always(abi).syscalls(&rest)));
    }
    rules
}

/// The rules for the file calls `calls` picks only (of every form: `at`, `f`, i386's), one per
/// native ABI, `-F pid!=exclude_pid`, tagged with `key`. Beside fanotify, which says only
/// "attributes changed" of a chmod or chown, "created" of a link and never sees a refused
/// change, these tell the calls apart where the eBPF tracepoints that would cannot run
/// ([`FileCall::changes_attributes`], [`FileCall::makes_links`]).
pub fn call_rules(key: &str, exclude_pid: u32, calls: impl Fn(FileCall) -> bool) -> Vec<AuditRule> {
    native_abis()
        .iter()
        .filter_map(|&abi| {
            let numbers: Vec<u32> = file_syscalls(abi)
                .iter()
                .filter(|s| calls(s.call))
                .map(|s| s.nr)
                .collect();
            (!numbers.is_empty()).then(|| {
                AuditRule::exit_always(abi)
                    .syscalls(&numbers)
                    .field(field::PID, Op::Ne, FieldValue::Num(exclude_pid))
                    .key(key)
            })
        })
        .collect()
}

/// Why [`read_watch_rules`] left a path out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WatchSkip {
    /// The kernel only watches absolute paths.
    NotAbsolute,
    /// Neither the path nor its parent directory exists: the kernel needs the parent to hang a
    /// file watch on.
    ParentMissing,
    /// `lstat` failed otherwise (permission, I/O).
    Unreadable(io::ErrorKind),
}

/// A path [`read_watch_rules`] did not watch, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkippedWatch {
    /// The path as given.
    pub path: PathBuf,
    /// Why.
    pub reason: WatchSkip,
}

/// Read watches for sensitive paths, as `auditctl -w PATH -p r -k KEY` encodes them: a
/// directory becomes a tree watch ([`WatchKind::Tree`]: reads of anything below it), anything
/// else (a file, a symlink — `lstat`, so the link itself — or a name that does not exist yet
/// but whose parent does) a file watch. `exclude_pid` adds `-F pid!=PID` (the agent reads
/// `/etc/passwd` & co. itself). Paths that cannot be watched are returned with the reason.
///
/// The kernel matches `-p r` against the syscall's read class (readlink, getxattr, ...) and,
/// for the open family, the access mode: `O_RDONLY` and `O_RDWR` opens both count as reads.
pub fn read_watch_rules(
    paths: &[&Path],
    key: &str,
    exclude_pid: Option<u32>,
) -> (Vec<AuditRule>, Vec<SkippedWatch>) {
    let mut rules = Vec::new();
    let mut skipped = Vec::new();
    for &path in paths {
        let skip = |reason| SkippedWatch {
            path: path.to_path_buf(),
            reason,
        };
        if !path.is_absolute() {
            skipped.push(skip(WatchSkip::NotAbsolute));
            continue;
        }
        // The kernel refuses a trailing `/` (auditctl strips it too); `/` itself stays.
        let bytes = path.as_os_str().as_bytes();
        let trimmed = match bytes.iter().rposition(|b| *b != b'/') {
            Some(end) => &bytes[..=end],
            None => &bytes[..1],
        };
        let kind = match std::fs::symlink_metadata(path) {
            Ok(m) if m.is_dir() => WatchKind::Tree,
            Ok(_) => WatchKind::File,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                match path.parent().map(std::fs::metadata) {
                    Some(Ok(m)) if m.is_dir() => WatchKind::File,
                    _ => {
                        skipped.push(skip(WatchSkip::ParentMissing));
                        continue;
                    }
                }
            }
            Err(e) => {
                skipped.push(skip(WatchSkip::Unreadable(e.kind())));
                continue;
            }
        };
        let mut rule = AuditRule::watch(trimmed, kind, perm::READ);
        if let Some(pid) = exclude_pid {
            rule = rule.field(field::PID, Op::Ne, FieldValue::Num(pid));
        }
        rules.push(rule.key(key));
    }
    (rules, skipped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::rules::RuleData;

    use crate::audit::assemble::event_of as ev;

    fn sc(nr: u32, args: &str, result: &str) -> String {
        format!(
            "arch=c000003e syscall={nr} {result} {args} items=2 ppid=10 pid=11 \
             auid=4294967295 uid=1 gid=2 euid=3 suid=4 fsuid=5 egid=6 sgid=7 fsgid=8 \
             tty=(none) ses=4294967295 comm=\"touch\" exe=\"/usr/bin/touch\" key=\"wf\""
        )
    }

    const OK: &str = "success=yes exit=0";

    #[test]
    fn join_paths() {
        assert_eq!(join(b"/a/b", b"c"), b"/a/b/c");
        assert_eq!(join(b"/a/b/", b"./c//d/"), b"/a/b/c/d");
        assert_eq!(join(b"/a", b"../c"), b"/a/../c");
        assert_eq!(join(b"", b"/"), b"/");
        assert_eq!(join(b"/", b"."), b"/");
        assert_eq!(as_int(0xffff_ff9c), AT_FDCWD);
        assert_eq!(as_int(0xffff_ffff_ffff_ff9c), AT_FDCWD);
        assert_eq!(parse_dev("fe:01"), Some(libc::makedev(0xfe, 1)));
        assert_eq!(parse_dev("fe"), None);
        assert_eq!(parse_dev("fe:zz"), None);
    }

    #[test]
    fn relative_create_and_errors() {
        let s = sc(
            257,
            "a0=ffffff9c a1=7ffd a2=241 a3=1a4",
            "success=yes exit=3",
        );
        let cwd = "cwd=\"/home/u\"";
        let parent = "item=0 name=\"/home/u\" inode=2 dev=fe:00 mode=040755 ouid=0 ogid=0 \
                      nametype=PARENT";
        let create = "item=1 name=\"x.txt\" inode=9 dev=fe:00 mode=0100644 ouid=1 ogid=2 \
                      nametype=CREATE";
        let op = FileOp::from_event(&ev(&[
            (1300, &s),
            (1307, cwd),
            (1302, parent),
            (1302, create),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!((op.action, op.syscall_name), (FileAction::Create, "openat"));
        assert_eq!(op.path, b"/home/u/x.txt");
        assert_eq!(op.path_kind, PathKind::Exact);
        assert_eq!(
            (op.inode, op.device),
            (Some(9), Some(libc::makedev(0xfe, 0)))
        );
        assert_eq!((op.mode, op.is_dir), (Some(0o100644), Some(false)));
        assert_eq!((op.owner_uid, op.owner_gid), (Some(1), Some(2)));
        assert_eq!((op.subject.auid, op.subject.ses), (None, None));
        assert!(op.has_key(b"wf"));
        let fe = op.to_file_event(Process::default());
        assert_eq!(
            (fe.action, fe.syscall.as_deref(), fe.success),
            (FileAction::Create, Some("openat"), true)
        );

        // A relative name needs its CWD.
        assert_eq!(
            FileOp::from_event(&ev(&[(1300, &s), (1302, parent), (1302, create)])),
            Some(Err(FileViewError::MissingRecord("CWD")))
        );
        // Broken fields say which.
        let bad = s.replace("a2=241", "a2=xyz");
        assert_eq!(
            FileOp::from_event(&ev(&[(1300, &bad), (1307, cwd), (1302, create)])),
            Some(Err(FileViewError::BadField("a2")))
        );
        let bad_dev = create.replace("fe:00", "fe");
        assert_eq!(
            FileOp::from_event(&ev(&[(1300, &s), (1307, cwd), (1302, &bad_dev)])),
            Some(Err(FileViewError::BadField("dev")))
        );
        let no_pid = s.replace(" pid=11", "");
        assert_eq!(
            FileOp::from_event(&ev(&[(1300, &no_pid), (1307, cwd), (1302, create)])),
            Some(Err(FileViewError::MissingField("pid")))
        );
        // Not a file call, or nothing says which call: no view.
        assert_eq!(
            FileOp::from_event(&ev(&[(1300, &sc(59, "a0=1", OK))])),
            None
        );
        assert_eq!(FileOp::from_event(&ev(&[(1307, cwd)])), None);
        let no_arch = s.replace("arch=c000003e ", "");
        assert_eq!(FileOp::from_event(&ev(&[(1300, &no_arch)])), None);
    }

    #[test]
    fn dirfd_relative_and_fd_calls() {
        // mkdirat(3, "d"): the PARENT name is the cwd, not fd 3's directory.
        let s = sc(258, "a0=3 a1=7ffd a2=1c0 a3=0", OK);
        let op = FileOp::from_event(&ev(&[
            (1300, &s),
            (1307, "cwd=\"/root\""),
            (
                1302,
                "item=0 name=\"/root\" inode=5 dev=fe:00 mode=040755 nametype=PARENT",
            ),
            (
                1302,
                "item=1 name=\"d\" inode=6 dev=fe:00 mode=040700 nametype=CREATE",
            ),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(
            (op.path.as_slice(), op.path_kind),
            (&b"d"[..], PathKind::RelativeToDirfd(3))
        );
        assert_eq!((op.action, op.is_dir), (FileAction::Create, Some(true)));

        // fchmod: a PATH record without a name.
        let s = sc(91, "a0=4 a1=1ed a2=0 a3=0", OK);
        let r = FileOp::from_event(&ev(&[
            (1300, &s),
            (
                1302,
                "item=0 name=(null) inode=7 dev=fe:00 mode=0100644 nametype=NORMAL",
            ),
        ]));
        let op = r.unwrap().unwrap();
        assert_eq!((op.path.len(), op.path_kind), (0, PathKind::Descriptor(4)));
        assert_eq!(
            (op.action, op.mode, op.inode),
            (FileAction::Chmod, Some(0o100755), Some(7))
        );
        // fchownat(5, "", ..., AT_EMPTY_PATH): the fd is the file.
        let s = sc(260, "a0=5 a1=7ffd a2=0 a3=0", OK);
        let r = FileOp::from_event(&ev(&[
            (1300, &s),
            (1307, "cwd=\"/\""),
            (
                1302,
                "item=0 name=\"\" inode=7 dev=fe:00 mode=0100644 nametype=NORMAL",
            ),
        ]));
        let op = r.unwrap().unwrap();
        assert_eq!((op.path.len(), op.path_kind), (0, PathKind::Descriptor(5)));
        assert_eq!(op.action, FileAction::Chown);
        // ftruncate: no PATH record at all.
        let s = sc(77, "a0=5 a1=0 a2=0 a3=0", OK);
        let op = FileOp::from_event(&ev(&[(1300, &s)])).unwrap().unwrap();
        assert_eq!(
            (op.action, op.path_kind),
            (FileAction::Truncate, PathKind::Descriptor(5))
        );
    }

    #[test]
    fn chmod_chown_and_failed_unlink() {
        let s = sc(90, "a0=7ffd a1=9ed a2=0 a3=0", OK);
        let op = FileOp::from_event(&ev(&[
            (1300, &s),
            (1307, "cwd=\"/\""),
            (
                1302,
                "item=0 name=\"/bin/x\" inode=7 dev=fe:00 mode=0100644 nametype=NORMAL",
            ),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!((op.action, op.mode), (FileAction::Chmod, Some(0o104755)));

        let s = sc(260, "a0=ffffff9c a1=7ffd a2=ffffffff a3=3e8", OK);
        let op = FileOp::from_event(&ev(&[
            (1300, &s),
            (1307, "cwd=\"/\""),
            (
                1302,
                "item=0 name=\"/f\" inode=7 dev=fe:00 mode=0100644 ouid=0 ogid=0 \
                    nametype=NORMAL",
            ),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!((op.owner_uid, op.owner_gid), (None, Some(1000)));

        // i386 16-bit chown: -1 is 0xffff.
        let s = sc(182, "a0=ffd0 a1=ffff a2=64 a3=0", OK).replace("c000003e", "40000003");
        let op = FileOp::from_event(&ev(&[
            (1300, &s),
            (
                1302,
                "item=0 name=\"/f\" inode=7 dev=fe:00 mode=0100644 nametype=NORMAL",
            ),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(
            (op.syscall_name, op.owner_uid, op.owner_gid),
            ("chown", None, Some(100))
        );

        let s = sc(87, "a0=7ffd a1=0 a2=0 a3=0", "success=no exit=-2");
        let op = FileOp::from_event(&ev(&[
            (1300, &s),
            (1307, "cwd=\"/\""),
            (
                1302,
                "item=0 name=\"/etc/\" inode=2 dev=fe:00 mode=040755 nametype=PARENT",
            ),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(
            (op.path.as_slice(), op.path_kind, op.errno, op.inode),
            (&b"/etc"[..], PathKind::ParentOnly, Some("ENOENT"), None)
        );
    }

    #[test]
    fn tables() {
        for abi in [arch::X86_64, arch::I386, arch::AARCH64, arch::RISCV64] {
            let t = file_syscalls(abi);
            let mut nrs: Vec<u32> = t.iter().map(|s| s.nr).collect();
            nrs.sort_unstable();
            nrs.dedup();
            assert_eq!(nrs.len(), t.len(), "duplicate numbers for {abi:#x}");
        }
        assert_eq!(file_syscall(arch::X86_64, 316).unwrap().name, "renameat2");
        assert_eq!(file_syscall(arch::AARCH64, 38).unwrap().name, "renameat");
        assert_eq!(file_syscall(arch::RISCV64, 38), None);
        assert_eq!(file_syscall(arch::I386, 212).unwrap().name, "chown32");
        assert!(file_syscalls(arch::S390X).is_empty());
    }

    #[test]
    fn rules_encode() {
        let r = file_rules_for(arch::X86_64, "wf", 77);
        assert_eq!(r.len(), 3);
        assert_eq!(r[0].syscalls, [2]);
        assert_eq!(r[1].syscalls, [257]);
        assert_eq!(r[2].syscalls.len(), X86_64_FILE.len() - 2);
        for rule in &r {
            let d = RuleData::decode(&rule.encode().unwrap()).unwrap();
            assert_eq!(d.arch(), Some(arch::X86_64));
            assert!(d.has_key(b"wf"));
            assert!(
                d.fields
                    .contains(&(field::PID, Op::Ne.code(), FieldValue::Num(77)))
            );
        }
        let d = RuleData::decode(&r[0].encode().unwrap()).unwrap();
        assert_eq!(
            d.fields[1],
            (field::ARG1, 0x0800_0000, FieldValue::Num(0x243))
        );
        assert_eq!(file_rules_for(arch::AARCH64, "wf", 1).len(), 2);
        assert_eq!(file_rules_for(arch::I386, "wf", 1).len(), 3);
        if cfg!(target_arch = "x86_64") {
            assert_eq!(file_rules("wf", 1).len(), 6);
        }
    }

    /// The x86-64 syscall names of `rules`, sorted, after checking each rule's key and pid.
    fn call_rule_names(rules: &[AuditRule]) -> Vec<&'static str> {
        assert!(!rules.is_empty());
        let mut x86_64 = Vec::new();
        for rule in rules {
            let d = RuleData::decode(&rule.encode().unwrap()).unwrap();
            assert!(d.has_key(b"wa"));
            assert!(
                d.fields
                    .contains(&(field::PID, Op::Ne.code(), FieldValue::Num(9)))
            );
            let abi = d.arch().expect("an arch");
            let names: Vec<&str> = d
                .syscalls()
                .iter()
                .map(|&nr| file_syscall(abi, nr).expect("a file call").name)
                .collect();
            assert!(!names.is_empty());
            if abi == arch::X86_64 {
                x86_64.extend(names);
            }
        }
        x86_64.sort_unstable();
        x86_64
    }

    #[test]
    fn call_rules_are_the_calls_asked_for() {
        let attributes = call_rule_names(&call_rules("wa", 9, FileCall::changes_attributes));
        let links = call_rule_names(&call_rules("wa", 9, FileCall::makes_links));
        let both = call_rule_names(&call_rules("wa", 9, |c| {
            c.changes_attributes() || c.makes_links()
        }));
        if !cfg!(target_arch = "x86_64") {
            return;
        }
        let chmod_chown = [
            "chmod",
            "chown",
            "fchmod",
            "fchmodat",
            "fchmodat2",
            "fchown",
            "fchownat",
            "lchown",
        ];
        assert_eq!(attributes, chmod_chown);
        let link_calls = ["link", "linkat", "symlink", "symlinkat"];
        assert_eq!(links, link_calls);
        let mut union: Vec<&str> = chmod_chown.iter().chain(&link_calls).copied().collect();
        union.sort_unstable();
        assert_eq!(both, union);
    }

    #[test]
    fn watch_rules() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, b"x").unwrap();
        let missing = dir.path().join("later");
        let orphan = dir.path().join("no/such");
        let with_slash = format!("{}/", dir.path().display());
        let paths: Vec<&Path> = vec![
            &file,
            &missing,
            &orphan,
            Path::new("relative"),
            Path::new(&with_slash),
        ];
        let (rules, skipped) = read_watch_rules(&paths, "wr", Some(9));
        assert_eq!(
            skipped,
            [
                SkippedWatch {
                    path: orphan.clone(),
                    reason: WatchSkip::ParentMissing
                },
                SkippedWatch {
                    path: PathBuf::from("relative"),
                    reason: WatchSkip::NotAbsolute
                }
            ]
        );
        let decoded: Vec<RuleData> = rules
            .iter()
            .map(|r| RuleData::decode(&r.encode().unwrap()).unwrap())
            .collect();
        let bytes = |p: &Path| p.as_os_str().as_bytes().to_vec();
        assert_eq!(
            decoded[0].fields[0],
            (field::WATCH, Op::Eq.code(), FieldValue::Str(bytes(&file)))
        );
        assert_eq!(
            decoded[0].fields[1],
            (field::PERM, Op::Eq.code(), FieldValue::Num(perm::READ))
        );
        assert_eq!(
            decoded[0].fields[2],
            (field::PID, Op::Ne.code(), FieldValue::Num(9))
        );
        assert_eq!(decoded[1].fields[0].2, FieldValue::Str(bytes(&missing)));
        assert_eq!(
            decoded[2].fields[0],
            (
                field::DIR,
                Op::Eq.code(),
                FieldValue::Str(bytes(dir.path()))
            )
        );
        for d in &decoded {
            assert_eq!((d.arch(), d.syscalls().len()), (None, 2048));
            assert!(d.has_key(b"wr"));
        }
    }
}

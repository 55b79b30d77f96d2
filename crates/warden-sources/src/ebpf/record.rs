//! The records of the eBPF process program (bpf/process.bpf.c), decoded from the ring buffer's
//! bytes: a pure parser, so malformed or short records are an error to count, never a panic.
//! The C side asserts the offsets used here at compile time.

use std::net::{Ipv4Addr, Ipv6Addr};

use thiserror::Error;
use warden_core::{
    ClassicInstruction, EbpfProgram, FileTimes, FileVersion, FilterProgram, TimeSet,
};

use crate::audit::net::{FilterAttach, NetCall, SockAddr, family, parse_sockaddr};
use crate::socket_probe::SocketFacts;

const KIND_FORK: u32 = 1;
const KIND_EXEC: u32 = 2;
const KIND_EXIT: u32 = 3;
const KIND_EXEC_FAILED: u32 = 4;
const KIND_ATTR: u32 = 5;
const KIND_FILE: u32 = 6;
const KIND_NET: u32 = 8;
const KIND_URING_RESULT: u32 = 9;
const KIND_SCRIPT: u32 = 10;

const HEADER_LEN: usize = 24;
const FORK_LEN: usize = 40;
const EXIT_LEN: usize = 32;
const EXEC_DATA: usize = 176;
/// Where an attribute change's paths start (the exec record's data area, which it shares).
const ATTR_DATA: usize = EXEC_DATA;
/// Where a file record's paths start.
const FILE_DATA: usize = 88;
/// An io_uring result record's length (bpf/uring.h's `struct uring_result`).
const URING_RESULT_LEN: usize = 48;
/// Where a network record's address begins (bpf/net.h's `NET_ADDR`).
const NET_ADDR: usize = 88;

/// What the kernel could not read whole for an exec, and what it found of its image (the
/// record's `flags`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExecFlags(pub u32);

impl ExecFlags {
    /// argv was longer than the program copies (16 KiB): `args` ends early.
    pub const ARGS_TRUNCATED: u32 = 1;
    /// The executable's path was deeper or longer than the program walks.
    pub const EXE_TRUNCATED: u32 = 2;
    /// The working directory's path was deeper or longer than the program walks.
    pub const CWD_TRUNCATED: u32 = 4;
    /// argv could not be read from the process's memory.
    pub const ARGS_UNREADABLE: u32 = 8;
    /// The image is a 32-bit one (x86 ia32): its calls are compat syscalls, which the file
    /// and network programs' tracepoints do not see.
    pub const COMPAT: u32 = 32;
    /// The image had no name in any directory when it ran (a memfd, an `O_TMPFILE`, a file
    /// deleted before the exec): `exe` ends in the kernel's " (deleted)", as audit's `exe=`
    /// and `/proc/PID/exe` name it.
    pub const EXE_UNLINKED: u32 = 64;
    /// The first exec of its file's version since the program was loaded, or one of an
    /// unlinked image, on a local filesystem (not one a server answers for): the reader was
    /// woken for it at once, to hold its image ([`ExecRecord::image`]) before the process can
    /// end.
    pub const HOLD: u32 = 128;
    /// The exec ran through an interpreter (a `#!` script, a binfmt_misc format): the
    /// [`ScriptRecord`] of the file it named came before it.
    pub const SCRIPT: u32 = 256;

    /// Is this flag set?
    pub fn has(self, flag: u32) -> bool {
        self.0 & flag != 0
    }
}

/// A new process (not a thread).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForkRecord {
    /// The child's pid.
    pub pid: u32,
    /// When, `CLOCK_BOOTTIME` ns.
    pub boot_ns: u64,
    /// The child's start, `CLOCK_BOOTTIME` ns (what /proc's starttime counts in ticks).
    pub start_ns: u64,
    /// The child's parent process.
    pub parent_pid: u32,
    /// The parent's start.
    pub parent_start_ns: u64,
}

/// An exec: a successful one read from the task once its new image is in place, or a failed
/// call with the caller's identity and what it asked for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExecRecord {
    /// 0, or the failed call's `-errno`.
    pub ret: i32,
    /// The process (thread group id).
    pub pid: u32,
    /// When, `CLOCK_BOOTTIME` ns.
    pub boot_ns: u64,
    /// The process's start (unchanged by exec).
    pub start_ns: u64,
    /// Parent process.
    pub ppid: u32,
    /// The parent's start.
    pub parent_start_ns: u64,
    /// Real user id after the exec.
    pub uid: u32,
    /// Effective user id after the exec.
    pub euid: u32,
    /// Real group id.
    pub gid: u32,
    /// Effective group id.
    pub egid: u32,
    /// Login uid; None when unset (or the kernel has no audit support).
    pub loginuid: Option<u32>,
    /// Audit session id; None when unset.
    pub sessionid: Option<u32>,
    /// Task name after the exec.
    pub comm: Vec<u8>,
    /// Controlling terminal's name (`pts0`, `tty1`), if any.
    pub tty: Option<String>,
    /// The executable's absolute path (the mm's exe file, as audit's `exe=`); None if the
    /// process had no executable file. A failed call: the name it was given, made absolute
    /// against `cwd` when relative.
    pub exe: Option<Vec<u8>>,
    /// Working directory, absolute.
    pub cwd: Vec<u8>,
    /// Arguments as the new image received them (a failed call: as it passed them).
    pub args: Vec<Vec<u8>>,
    /// What could not be read whole.
    pub flags: ExecFlags,
    /// The executable file's version as the exec found its inode (device as `stat` encodes
    /// it); None for a failed exec, or when the program could not read it.
    pub exe_version: Option<FileVersion>,
    /// The process's cgroup in the unified (v2) hierarchy: the inode of its directory there
    /// (None when the kernel gave 0).
    pub cgroup_id: Option<u64>,
    /// The image, held open by the reader from the moment it read a [`ExecFlags::HOLD`]
    /// exec's record, while the process still ran it: describable even once the process has
    /// ended and its file is gone.
    pub image: Option<crate::held::HeldFile>,
    /// The file the exec named, when an interpreter runs it ([`ExecFlags::SCRIPT`]; paired
    /// by the reader).
    pub script: Option<Box<ScriptRecord>>,
}

/// The file an exec named when an interpreter runs it: a `#!` script (the exec's image is
/// then its interpreter), or a binfmt_misc format's file. Read in the kernel while the exec
/// still had it, before its interpreter replaced it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScriptRecord {
    /// The exec'ing process.
    pub pid: u32,
    /// When, `CLOCK_BOOTTIME` ns.
    pub boot_ns: u64,
    /// Its absolute path, in the process's mount namespace (" (deleted)" appended when it
    /// had no name left: a memfd, a file deleted before the exec).
    pub path: Vec<u8>,
    /// [`ExecFlags::EXE_TRUNCATED`], [`ExecFlags::EXE_UNLINKED`], [`ExecFlags::HOLD`] (the
    /// first exec of its version, or an unlinked one, where an open by its path waits on no
    /// server).
    pub flags: ExecFlags,
    /// Its version as the exec found its inode; None when the program could not read it.
    pub version: Option<FileVersion>,
    /// The file, held open by the reader for its description ([`ExecFlags::HOLD`]).
    pub file: Option<crate::held::HeldFile>,
}

/// A process ended (its last thread exited).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExitRecord {
    /// The process.
    pub pid: u32,
    /// When, `CLOCK_BOOTTIME` ns.
    pub boot_ns: u64,
    /// The process's start.
    pub start_ns: u64,
    /// Wait status as the kernel keeps it: `code << 8`, or the signal (`| 0x80` with a core).
    pub status: u32,
}

impl ExitRecord {
    /// The exit code, when the process exited rather than being killed.
    pub fn exit_code(&self) -> Option<i32> {
        (self.status & 0x7f == 0).then_some(((self.status >> 8) & 0xff) as i32)
    }

    /// The signal that killed it, if one did.
    pub fn signal(&self) -> Option<i32> {
        let signal = self.status & 0x7f;
        (signal != 0).then_some(signal as i32)
    }
}

/// The call that changed (or tried to change) a file's mode or owner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttrCall {
    /// chmod(path, mode).
    Chmod,
    /// fchmod(fd, mode).
    Fchmod,
    /// fchmodat(dirfd, path, mode).
    Fchmodat,
    /// fchmodat2(dirfd, path, mode, flags).
    Fchmodat2,
    /// chown(path, uid, gid).
    Chown,
    /// lchown(path, uid, gid): the link itself.
    Lchown,
    /// fchown(fd, uid, gid).
    Fchown,
    /// fchownat(dirfd, path, uid, gid, flags).
    Fchownat,
    /// utimensat(dirfd, path, times, flags); a NULL path is the fd's file (futimens).
    Utimensat,
    /// utimes(path, times).
    Utimes,
    /// futimesat(dirfd, path, times).
    Futimesat,
    /// utime(path, times).
    Utime,
}

impl AttrCall {
    fn of(code: u32) -> Option<AttrCall> {
        use AttrCall::*;
        [
            Chmod, Fchmod, Fchmodat, Fchmodat2, Chown, Lchown, Fchown, Fchownat, Utimensat, Utimes,
            Futimesat, Utime,
        ]
        .get((code as usize).checked_sub(1)?)
        .copied()
    }

    /// The call's name.
    pub fn name(self) -> &'static str {
        match self {
            AttrCall::Chmod => "chmod",
            AttrCall::Fchmod => "fchmod",
            AttrCall::Fchmodat => "fchmodat",
            AttrCall::Fchmodat2 => "fchmodat2",
            AttrCall::Chown => "chown",
            AttrCall::Lchown => "lchown",
            AttrCall::Fchown => "fchown",
            AttrCall::Fchownat => "fchownat",
            AttrCall::Utimensat => "utimensat",
            AttrCall::Utimes => "utimes",
            AttrCall::Futimesat => "futimesat",
            AttrCall::Utime => "utime",
        }
    }

    /// A call that sets a file's times (not its mode or owner).
    pub fn is_times(self) -> bool {
        matches!(
            self,
            AttrCall::Utimensat | AttrCall::Utimes | AttrCall::Futimesat | AttrCall::Utime
        )
    }

    /// The times the call set, from the array it was given as the record holds it (`raw`:
    /// four longs, as many as were read; None when it passed none: both set to now).
    fn times_set(self, raw: Option<[i64; 4]>) -> FileTimes {
        const UTIME_NOW: i64 = (1 << 30) - 1;
        const UTIME_OMIT: i64 = (1 << 30) - 2;
        let Some(raw) = raw else {
            return FileTimes {
                accessed: Some(TimeSet::Now),
                modified: Some(TimeSet::Now),
            };
        };
        let at =
            |secs: i64, ns: i64| TimeSet::At(secs.saturating_mul(1_000_000_000).saturating_add(ns));
        let (accessed, modified) = match self {
            AttrCall::Utimensat => {
                let one = |secs: i64, ns: i64| match ns {
                    UTIME_NOW => Some(TimeSet::Now),
                    UTIME_OMIT => None,
                    _ => Some(at(secs, ns)),
                };
                (one(raw[0], raw[1]), one(raw[2], raw[3]))
            }
            // Two timevals: microseconds.
            AttrCall::Utimes | AttrCall::Futimesat => (
                Some(at(raw[0], raw[1].saturating_mul(1_000))),
                Some(at(raw[2], raw[3].saturating_mul(1_000))),
            ),
            // A utimbuf: two times in seconds.
            _ => (Some(at(raw[0], 0)), Some(at(raw[1], 0))),
        };
        FileTimes { accessed, modified }
    }

    /// A chmod (mode), not a chown (owner).
    pub fn is_chmod(self) -> bool {
        matches!(
            self,
            AttrCall::Chmod | AttrCall::Fchmod | AttrCall::Fchmodat | AttrCall::Fchmodat2
        )
    }
}

/// A chmod or chown call as it returned: who asked, which file, what for, and the result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttrRecord {
    /// Which call.
    pub call: AttrCall,
    /// The calling process.
    pub pid: u32,
    /// When, `CLOCK_BOOTTIME` ns.
    pub boot_ns: u64,
    /// The process's start.
    pub start_ns: u64,
    /// 0, or the call's `-errno`.
    pub ret: i32,
    /// chmod calls: the mode asked for (permission bits).
    pub mode: Option<u32>,
    /// chown calls: the owner asked for (None: left as it was).
    pub uid: Option<u32>,
    /// chown calls: the group asked for (None: left as it was).
    pub gid: Option<u32>,
    /// fchmod/fchown: the file's inode number.
    pub inode: Option<u64>,
    /// fchmod/fchown: the file's device, as `stat` encodes it.
    pub device: Option<u64>,
    /// The file: the name as given, made absolute against the directory it is relative to
    /// (the working directory, or the directory fd); for fchmod/fchown, the fd's file.
    pub path: Vec<u8>,
    /// That directory's (or file's) path is deeper than the walk went: its last components.
    pub path_truncated: bool,
    /// Times calls: the times set.
    pub times: Option<FileTimes>,
}

/// What a file record reports (bpf/files.h's `FILE_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileOp {
    /// An open created the file.
    Create,
    /// A regular file opened for writing.
    OpenWrite,
    /// The last close of a regular file opened for writing.
    CloseWrite,
    /// unlink, or unlinkat without `AT_REMOVEDIR`.
    Unlink,
    /// rmdir, or unlinkat with `AT_REMOVEDIR`.
    Rmdir,
    /// mkdir, mkdirat.
    Mkdir,
    /// rename, renameat, renameat2: `path` the new name, `other` the old one.
    Rename,
    /// link, linkat: `path` the new name, `other` the existing file.
    Link,
    /// symlink, symlinkat: `path` the link, `other` its target as given.
    Symlink,
    /// truncate, ftruncate.
    Truncate,
    /// mknod, mknodat.
    Mknod,
}

impl FileOp {
    /// A link, symlink or truncate: what fanotify reports as a creation or a modification.
    pub fn links_or_truncates(self) -> bool {
        matches!(self, FileOp::Link | FileOp::Symlink | FileOp::Truncate)
    }

    fn of(code: u32) -> Option<FileOp> {
        use FileOp::*;
        [
            Create, OpenWrite, CloseWrite, Unlink, Rmdir, Mkdir, Rename, Link, Symlink, Truncate,
            Mknod,
        ]
        .get((code as usize).checked_sub(1)?)
        .copied()
    }
}

/// A file change, read at the changing process's syscall.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileRecord {
    /// What happened.
    pub op: FileOp,
    /// The call it was taken at (`openat`, `renameat2`, `dup2`...; `exit` for a file closed
    /// by its process's exit); None for a call this build does not know.
    pub call: Option<&'static str>,
    /// The acting process.
    pub pid: u32,
    /// When, `CLOCK_BOOTTIME` ns.
    pub boot_ns: u64,
    /// The process's start.
    pub start_ns: u64,
    /// The call's result: 0 (an open: the fd), or `-errno`.
    pub ret: i32,
    /// The object's inode, when the call had its file (opens, closes, ftruncate).
    pub inode: Option<u64>,
    /// Its device, as `stat` encodes it.
    pub device: Option<u64>,
    /// Its `st_mode`.
    pub mode: Option<u32>,
    /// Its owner.
    pub uid: Option<u32>,
    /// Its group.
    pub gid: Option<u32>,
    /// The object's path (a rename's new name): the name as given, made absolute against
    /// the directory it is relative to; an fd's file, walked.
    pub path: Vec<u8>,
    /// A rename's old path, a hard link's existing file, a symlink's target as given.
    pub other: Option<Vec<u8>>,
    /// The directory `path` is relative to was deeper than the walk went: its last
    /// components only.
    pub path_truncated: bool,
    /// The same for `other`.
    pub other_truncated: bool,
    /// `path` is a relative name whose directory fd was not open: the name alone.
    pub path_unresolved: bool,
    /// An io_uring operation rather than a syscall.
    pub io_uring: bool,
    /// A 32-bit process's compat syscall.
    pub compat: bool,
    /// An io_uring operation recorded as it was submitted, because its success will post no
    /// completion (`IOSQE_CQE_SKIP_SUCCESS`): `ret` (0) says nothing of the result.
    pub submitted: bool,
    /// An io_uring operation recorded as it was submitted whose result comes in a record of
    /// its own, by this ring and request: the source pairs them ([`super::uring::Pairs`]) and passes
    /// the record on with its result, this None.
    pub uring_pending: Option<UringKey>,
}

/// An io_uring operation in flight: its ring and its request (the kernel's addresses of them;
/// a request's is unique while it is in flight, where the submitter's tag need not be).
pub type UringKey = (u64, u64);

/// A network call, read as it returned in the calling process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetRecord {
    /// Which call.
    pub call: NetCall,
    /// The calling process.
    pub pid: u32,
    /// When, `CLOCK_BOOTTIME` ns.
    pub boot_ns: u64,
    /// The process's start.
    pub start_ns: u64,
    /// The call's result (accept: the new connection's fd), or `-errno`.
    pub ret: i32,
    /// The socket the call was given (accept: the listening one); -1 for an io_uring
    /// operation (its completion no longer knows).
    pub fd: i32,
    /// An io_uring operation rather than a syscall.
    pub io_uring: bool,
    /// An io_uring operation recorded as it was submitted, because its success will post no
    /// completion (`IOSQE_CQE_SKIP_SUCCESS`): `ret` (0) says nothing of the result, and the
    /// socket is as it stood before. A failure still completes, as a record of its own.
    pub submitted: bool,
    /// An io_uring completion that found the completion queue full (read where the kernel
    /// sets it aside, from what the operation's submission noted).
    pub cq_overflow: bool,
    /// A 32-bit process's compat syscall.
    pub compat: bool,
    /// The address the call named, as given (connect's and a send's peer, bind's own end;
    /// recvfrom's peer as the kernel wrote it back). None: no address, or not decodable
    /// (`addr_malformed`).
    pub addr: Option<SockAddr>,
    /// The caller's address was not a socket address this build can decode.
    pub addr_malformed: bool,
    /// It was longer than the record holds: what is decoded is its head.
    pub addr_cut: bool,
    /// `addr` is not the call's but the socket's own, read from it: a Unix listener's path,
    /// which a listen or an accept (the connection takes it on) names none of.
    pub own_addr: bool,
    /// The socket as the call left it (accept: the new connection): family, type, protocol,
    /// and for inet sockets the ends it has (a bound local end, a connected peer). None when
    /// the descriptor was no socket (the call then failed with `ENOTSOCK` or `EBADF`).
    pub socket: Option<SocketFacts>,
    /// How the TCP handshake of a connect that returned `EINPROGRESS` ended, when this record
    /// knows: it ended inside the call (loopback's do), or this record is its `outcome`.
    pub handshake: Option<Handshake>,
    /// Not a call: the outcome of an earlier non-blocking connect, taken as its handshake
    /// ended (`handshake`), for the process that connected (`fd`: the connect's). The socket
    /// is as the handshake left it: both ends, the local one bound.
    pub outcome: bool,
    /// Not a call: the first datagram its UDP socket sent to (`call` sendmsg) or received
    /// from (recvfrom) the peer `addr`, taken at the socket layer (with `Datagrams::First`):
    /// a send as the kernel took it to send, before its route (`ret` 0 says nothing of what
    /// the call returned), a receive as it was handed to the process. No fd (-1).
    pub first_datagram: bool,
    /// A setsockopt's: the packet filter it attached.
    pub filter: Option<FilterAttach>,
    /// A raw or ICMP socket's first packet to or from a peer, when it was ICMP (ICMPv6 for
    /// an IPv6 one): its type and code (8 and 0: an echo request).
    pub icmp: Option<(u8, u8)>,
    /// Not a call: the end of a TCP connection that a record of `call` (connect, accept) made
    /// known, taken as the kernel closed it, for the process that made or took it (which may
    /// have exited; `fd` the connection's, -1 from io_uring). `socket` has both ends.
    pub traffic: Option<TcpTraffic>,
    /// Not a call: a DNS message its UDP socket sent to port 53 (`call` sendmsg: a query, for
    /// the process that sent it) or received from it (recvfrom: an answer, for the process that
    /// sent the socket's last query), taken from the packet. `socket` has both ends, as the
    /// packet had them. No fd (-1).
    pub dns: Option<Captured>,
    /// Not a call: the first bytes an outgoing TCP connection (made by a recorded connect)
    /// sent, its first segment with data, when they may begin a TLS ClientHello or an HTTP
    /// request (`call` sendmsg), for the connection's maker, taken from the packet; a later
    /// segment's, or a QUIC client's Initial datagram. Or (`call` recvfrom) the first bytes a
    /// connection made to this host received, or a later request on it, for the process that
    /// accepted it. `socket` has both ends; `fd` is the connection's. Or a server's answer
    /// ([`NetRecord::answer`]).
    pub opening: Option<Captured>,
    /// The `opening` is a server's answer, not a client's request: the first bytes a
    /// connection made here received (`call` recvfrom), for its maker, or those a connection
    /// accepted here sent (`call` sendmsg), for the process that accepted it.
    pub answer: bool,
    /// A received `opening` whose connection no process had taken yet (it came before the
    /// accept, or to the listener itself): no process (pid 0, no fd), to be paired with the
    /// accept recorded after it, by the connection's ends.
    pub unclaimed: bool,
}

/// Bytes a packet carried: a DNS message, a connection's first bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Captured {
    /// The socket's key (the kernel's address of it): a DNS query and its answers share it.
    pub socket: u64,
    /// The bytes, or their first [`crate::ebpf::DNS_KEPT`] (a DNS message) or
    /// [`crate::ebpf::OPENING_KEPT`] (a connection's first bytes).
    pub bytes: Vec<u8>,
    /// There were more than that: a DNS message longer, or a first segment longer (or a TCP
    /// DNS message that went on in later segments).
    pub cut: bool,
}

/// How a TCP connection ended, and its traffic as the kernel counted it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpTraffic {
    /// When the connect or accept that made it known returned, `CLOCK_BOOTTIME` ns.
    pub since_ns: u64,
    /// The TCP state it closed from (the kernel's number: `ESTABLISHED` 1...).
    pub state: u8,
    /// The error it failed with (`ECONNRESET`, `ETIMEDOUT`...), 0 when none.
    pub error: i32,
    /// Payload bytes sent, retransmissions included.
    pub bytes_sent: u64,
    /// Of them, retransmitted.
    pub bytes_retransmitted: u64,
    /// Bytes received, as sequence space: with the peer's FIN, when it came (`peer_fin`).
    pub bytes_received: u64,
    /// The peer's FIN came (the socket was marked done).
    pub peer_fin: bool,
    /// Not the end: the connection is still open (`state` is its state now), looked at by
    /// the iterator over TCP sockets; its traffic so far.
    pub still_open: bool,
    /// Found already open as the source started, not made known by a record: `since_ns` is
    /// when it was found, and whether an accept took it (`call`) is guessed from the port it
    /// holds (one a bind or a listen took, as a listener's connections hold, rather than one a
    /// connect chose).
    pub found_open: bool,
    /// Segments sent, retransmissions included.
    pub segments_sent: u32,
    /// Segments received.
    pub segments_received: u32,
}

/// How a TCP handshake ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handshake {
    /// The connection is established.
    Established,
    /// It failed with this errno (`ECONNREFUSED`, `ETIMEDOUT`, `EHOSTUNREACH`...); 0: none,
    /// the socket was closed before the handshake ended.
    Failed(i32),
}

/// One record of the ring buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    /// A new process.
    Fork(ForkRecord),
    /// An exec, successful or failed.
    Exec(Box<ExecRecord>),
    /// A process's end.
    Exit(ExitRecord),
    /// A chmod or chown call.
    Attr(Box<AttrRecord>),
    /// A file change.
    File(Box<FileRecord>),
    /// A network call.
    Net(Box<NetRecord>),
    /// The file of an exec run through an interpreter, before its exec's record (the reader
    /// gives it to that record: the pipeline never sees one).
    Script(Box<ScriptRecord>),
    /// Not the kernel's: the reader has passed on every record the programs wrote before this
    /// `CLOCK_BOOTTIME` instant (ns). Sent after each drain that emptied the ring, so what
    /// takes records in order knows how far it has caught up with the kernel, and that the
    /// fork and exec of a process another source saw act are behind it.
    CaughtUp(u64),
}

/// Why a record could not be decoded.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum RecordError {
    /// Fewer bytes than its kind needs.
    #[error("{kind} record of {len} bytes is short")]
    Short {
        /// Record kind.
        kind: &'static str,
        /// Its length.
        len: usize,
    },
    /// A kind this agent does not know (object and agent from different builds).
    #[error("unknown record kind {0}")]
    UnknownKind(u32),
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_ne_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// A NUL-terminated C string in a fixed field.
fn c_string(field: &[u8]) -> &[u8] {
    field.split(|&b| b == 0).next().unwrap_or(&[])
}

fn unset(id: u32) -> Option<u32> {
    (id != u32::MAX).then_some(id)
}

/// Decodes one record.
pub fn parse(b: &[u8]) -> Result<Record, RecordError> {
    let short = |kind| RecordError::Short { kind, len: b.len() };
    if b.len() < HEADER_LEN {
        return Err(short("any"));
    }
    let (pid, boot_ns, start_ns) = (u32_at(b, 4), u64_at(b, 8), u64_at(b, 16));
    match u32_at(b, 0) {
        KIND_FORK => {
            if b.len() < FORK_LEN {
                return Err(short("fork"));
            }
            Ok(Record::Fork(ForkRecord {
                pid,
                boot_ns,
                start_ns,
                parent_pid: u32_at(b, 24),
                parent_start_ns: u64_at(b, 32),
            }))
        }
        KIND_EXIT => {
            if b.len() < EXIT_LEN {
                return Err(short("exit"));
            }
            Ok(Record::Exit(ExitRecord {
                pid,
                boot_ns,
                start_ns,
                status: u32_at(b, 24),
            }))
        }
        kind @ (KIND_EXEC | KIND_EXEC_FAILED) => {
            if b.len() < EXEC_DATA {
                return Err(short("exec"));
            }
            let exe_len = usize::from(u16_at(b, 68));
            let cwd_len = usize::from(u16_at(b, 70));
            let args_len = u32_at(b, 72) as usize;
            let data = &b[EXEC_DATA..];
            if data.len() < exe_len + cwd_len + args_len {
                return Err(short("exec"));
            }
            let (exe, rest) = data.split_at(exe_len);
            let (cwd, rest) = rest.split_at(cwd_len);
            let tty = c_string(&b[144..176]);
            let cwd = path_of_components(cwd);
            let flags = ExecFlags(u32_at(b, 52));
            let exe = if kind == KIND_EXEC {
                (exe_len > 0).then(|| {
                    let mut path = path_of_components(exe);
                    if flags.has(ExecFlags::EXE_UNLINKED) {
                        path.extend_from_slice(DELETED);
                    }
                    path
                })
            } else {
                let name = c_string(exe);
                (!name.is_empty()).then(|| absolute(name, &cwd))
            };
            Ok(Record::Exec(Box::new(ExecRecord {
                ret: u32_at(b, 64) as i32,
                pid,
                boot_ns,
                start_ns,
                ppid: u32_at(b, 24),
                uid: u32_at(b, 28),
                euid: u32_at(b, 32),
                gid: u32_at(b, 36),
                egid: u32_at(b, 40),
                loginuid: unset(u32_at(b, 44)),
                sessionid: unset(u32_at(b, 48)),
                flags,
                parent_start_ns: u64_at(b, 56),
                exe_version: exe_version_at(b),
                cgroup_id: Some(u64_at(b, 120)).filter(|&id| id != 0),
                comm: c_string(&b[128..144]).to_vec(),
                tty: (!tty.is_empty()).then(|| String::from_utf8_lossy(tty).into_owned()),
                exe,
                cwd,
                args: split_args(&rest[..args_len]),
                image: None,
                script: None,
            })))
        }
        KIND_SCRIPT => {
            if b.len() < EXEC_DATA {
                return Err(short("script"));
            }
            let len = usize::from(u16_at(b, 68));
            let components = b[EXEC_DATA..].get(..len).ok_or_else(|| short("script"))?;
            let flags = ExecFlags(u32_at(b, 52));
            let mut path = path_of_components(components);
            if flags.has(ExecFlags::EXE_UNLINKED) {
                path.extend_from_slice(DELETED);
            }
            Ok(Record::Script(Box::new(ScriptRecord {
                pid,
                boot_ns,
                path,
                flags,
                version: exe_version_at(b),
                file: None,
            })))
        }
        KIND_ATTR => {
            if b.len() < ATTR_DATA {
                return Err(short("attr"));
            }
            let base_len = usize::from(u16_at(b, 56));
            let name_len = usize::from(u16_at(b, 58));
            let Some(data) = b[ATTR_DATA..].get(..base_len + name_len) else {
                return Err(short("attr"));
            };
            let call = AttrCall::of(u32_at(b, 60)).ok_or(RecordError::UnknownKind(KIND_ATTR))?;
            let (base, name) = data.split_at(base_len);
            let name = c_string(name);
            let base = (base_len > 0).then(|| path_of_components(base));
            let path = match base {
                _ if name.starts_with(b"/") => name.to_vec(),
                Some(base) if name.is_empty() => base,
                Some(base) => absolute(name, &base),
                None => name.to_vec(),
            };
            let inode = Some(u64_at(b, 40)).filter(|&i| i != 0);
            Ok(Record::Attr(Box::new(AttrRecord {
                call,
                pid,
                boot_ns,
                start_ns,
                ret: u32_at(b, 24) as i32,
                mode: call.is_chmod().then(|| u32_at(b, 28) & 0o7777),
                uid: unset(u32_at(b, 32)).filter(|_| !call.is_chmod()),
                gid: unset(u32_at(b, 36)).filter(|_| !call.is_chmod()),
                inode,
                device: inode.map(|_| libc::makedev(u32_at(b, 48), u32_at(b, 52))),
                path,
                path_truncated: u32_at(b, 64) & ATTR_BASE_TRUNCATED != 0,
                times: call.is_times().then(|| {
                    let read = u32_at(b, 64) & ATTR_TIMES_READ != 0;
                    call.times_set(read.then(|| [72, 80, 88, 96].map(|at| u64_at(b, at) as i64)))
                }),
            })))
        }
        KIND_FILE => {
            if b.len() < FILE_DATA {
                return Err(short("file"));
            }
            let op =
                FileOp::of(u32::from(u16_at(b, 28))).ok_or(RecordError::UnknownKind(KIND_FILE))?;
            let lens = [60, 62, 64, 66].map(|at| usize::from(u16_at(b, at)));
            let Some(mut data) = b[FILE_DATA..].get(..lens.iter().sum()) else {
                return Err(short("file"));
            };
            let mut segment = |len: usize| {
                let (this, rest) = data.split_at(len);
                data = rest;
                this
            };
            // Each path: the name as given, then the components of what it is relative to.
            let (name, base) = (segment(lens[0]), segment(lens[1]));
            let (other_name, other_base) = (segment(lens[2]), segment(lens[3]));
            let flags = u32_at(b, 68);
            let inode = Some(u64_at(b, 32)).filter(|&i| i != 0);
            Ok(Record::File(Box::new(FileRecord {
                op,
                call: FILE_CALLS
                    .get(usize::from(u16_at(b, 30)).wrapping_sub(1))
                    .copied(),
                pid,
                boot_ns,
                start_ns,
                ret: u32_at(b, 24) as i32,
                inode,
                device: inode.map(|_| libc::makedev(u32_at(b, 40), u32_at(b, 44))),
                mode: inode.map(|_| u32_at(b, 48)),
                uid: inode.map(|_| u32_at(b, 52)),
                gid: inode.map(|_| u32_at(b, 56)),
                path: named_path(base, name, flags & FILE_PATH_UNRESOLVED != 0),
                other: (lens[2] + lens[3] > 0).then(|| {
                    if op == FileOp::Symlink {
                        c_string(other_name).to_vec() // a target, as given
                    } else {
                        named_path(other_base, other_name, flags & FILE_OTHER_UNRESOLVED != 0)
                    }
                }),
                path_truncated: flags & FILE_PATH_TRUNCATED != 0,
                other_truncated: flags & FILE_OTHER_TRUNCATED != 0,
                path_unresolved: flags & FILE_PATH_UNRESOLVED != 0,
                io_uring: flags & FILE_URING != 0,
                compat: flags & FILE_COMPAT != 0,
                submitted: flags & FILE_URING_SUBMITTED != 0,
                uring_pending: (flags & FILE_URING_PENDING != 0)
                    .then(|| (u64_at(b, 72), u64_at(b, 80))),
            })))
        }
        KIND_NET => {
            if b.len() < NET_ADDR {
                return Err(short("network"));
            }
            let call = NET_CALLS
                .get(usize::from(u16_at(b, 28)).wrapping_sub(1))
                .copied()
                .ok_or(RecordError::UnknownKind(KIND_NET))?;
            let flags = u32_at(b, 76);
            let Some(addr) = b[NET_ADDR..].get(..u32_at(b, 80) as usize) else {
                return Err(short("network"));
            };
            // A connection's traffic record holds it where an address would be.
            let traffic = if flags & NET_ENDED != 0 {
                if addr.len() != TCP_TRAFFIC {
                    return Err(short("connection end"));
                }
                Some(TcpTraffic {
                    since_ns: u64_at(addr, 0),
                    state: b[84],
                    peer_fin: b[85] != 0,
                    still_open: flags & NET_STILL_OPEN != 0,
                    found_open: flags & NET_FOUND_OPEN != 0,
                    error: i32::from(u16_at(b, 86)),
                    bytes_sent: u64_at(addr, 8),
                    bytes_retransmitted: u64_at(addr, 16),
                    bytes_received: u64_at(addr, 24),
                    segments_sent: u32_at(addr, 32),
                    segments_received: u32_at(addr, 36),
                })
            } else {
                None
            };
            // A filter's record holds its program there.
            let program = if flags & NET_FILTER_PROGRAM != 0 {
                if addr.len() % CLASSIC_INSTRUCTION != 0 {
                    return Err(short("classic filter"));
                }
                let instructions =
                    addr.chunks_exact(CLASSIC_INSTRUCTION)
                        .map(|i| ClassicInstruction {
                            code: u16_at(i, 0),
                            jt: i[2],
                            jf: i[3],
                            k: u32_at(i, 4),
                        });
                Some(FilterProgram::Classic(instructions.collect()))
            } else if flags & NET_FILTER_EBPF != 0 {
                if addr.len() != ATTACHED_PROGRAM {
                    return Err(short("eBPF filter"));
                }
                Some(FilterProgram::Ebpf(EbpfProgram {
                    tag: addr[..8].try_into().expect("8 bytes"),
                    id: u32_at(addr, 8),
                    instructions: u32_at(addr, 12),
                    name: String::from_utf8_lossy(c_string(&addr[16..32])).into_owned(),
                }))
            } else {
                None
            };
            // A DNS message's record, and a connection's first bytes', hold the socket's key
            // and the bytes there.
            let captured = |what: &'static str| {
                if addr.len() < 8 {
                    return Err(short(what));
                }
                Ok(Captured {
                    socket: u64_at(addr, 0),
                    bytes: addr[8..].to_vec(),
                    cut: flags & NET_ADDR_CUT != 0,
                })
            };
            let dns = (flags & NET_DNS != 0)
                .then(|| captured("DNS message"))
                .transpose()?;
            let opening = (flags & NET_OPENING != 0)
                .then(|| captured("connection's first bytes"))
                .transpose()?;
            let holds_bytes = dns.is_some() || opening.is_some();
            let parsed =
                (!addr.is_empty() && traffic.is_none() && program.is_none() && !holds_bytes)
                    .then(|| parse_sockaddr(addr));
            let socket = (flags & NET_SOCKET_READ != 0).then(|| {
                let family = u16_at(b, 36);
                let end = |port_at: usize, addr_at: usize| {
                    let port = u16_at(b, port_at);
                    let ip: [u8; 16] = b[addr_at..addr_at + 16].try_into().expect("16 bytes");
                    match family {
                        family::INET => Some(SockAddr::Inet {
                            addr: Ipv4Addr::new(ip[0], ip[1], ip[2], ip[3]),
                            port,
                        }),
                        family::INET6 => Some(SockAddr::Inet6 {
                            addr: Ipv6Addr::from(ip),
                            port,
                            flowinfo: 0,
                            scope_id: 0,
                        }),
                        _ => None,
                    }
                };
                let sock_type = i32::from(u16_at(b, 30));
                // An end not bound (port 0) or not connected (no peer) is not an end. A raw
                // socket has no ports (where one would be, the kernel keeps its protocol): its
                // end is its address alone, when it has one.
                let kept = |a: SockAddr| {
                    if sock_type != libc::SOCK_RAW {
                        return (a.port() != Some(0)).then_some(a);
                    }
                    match a {
                        SockAddr::Inet { addr, .. } if !addr.is_unspecified() => {
                            Some(SockAddr::Inet { addr, port: 0 })
                        }
                        SockAddr::Inet6 { addr, .. } if !addr.is_unspecified() => {
                            Some(SockAddr::Inet6 {
                                addr,
                                port: 0,
                                flowinfo: 0,
                                scope_id: 0,
                            })
                        }
                        _ => None,
                    }
                };
                SocketFacts {
                    family,
                    sock_type,
                    protocol: i32::from(u16_at(b, 38)),
                    local: end(40, 44).and_then(kept),
                    remote: end(42, 60).and_then(kept),
                }
            });
            Ok(Record::Net(Box::new(NetRecord {
                call,
                pid,
                boot_ns,
                start_ns,
                ret: u32_at(b, 24) as i32,
                fd: u32_at(b, 32) as i32,
                io_uring: flags & NET_IO_URING != 0,
                submitted: flags & NET_SUBMITTED != 0,
                cq_overflow: flags & NET_CQ_OVERFLOW != 0,
                compat: flags & NET_COMPAT != 0,
                addr: parsed.as_ref().and_then(|p| p.as_ref().ok().cloned()),
                addr_malformed: matches!(parsed, Some(Err(_))),
                addr_cut: flags & NET_ADDR_CUT != 0 && !holds_bytes,
                own_addr: flags & NET_ADDR_OWN != 0,
                socket,
                handshake: (flags & NET_SETTLED != 0).then(|| match b[84] {
                    TCP_CLOSE => Handshake::Failed(i32::from(u16_at(b, 86))),
                    _ => Handshake::Established,
                }),
                outcome: flags & NET_OUTCOME != 0,
                first_datagram: flags & NET_FIRST_DATAGRAM != 0,
                icmp: (flags & NET_ICMP != 0).then(|| (b[84], b[85])),
                filter: (call == NetCall::SetSockOpt).then(|| FilterAttach {
                    option: b[84],
                    instructions: (flags & NET_FILTER_LEN != 0).then(|| u16_at(b, 86)),
                    program,
                }),
                traffic,
                dns,
                opening,
                unclaimed: flags & NET_UNCLAIMED != 0,
                answer: flags & NET_ANSWER != 0,
            })))
        }
        kind => Err(RecordError::UnknownKind(kind)),
    }
}

/// The calls network records are taken at, by their number in bpf/net.h (`NCALL_*`, from 1).
pub(crate) const NET_CALLS: [NetCall; 10] = [
    NetCall::Connect,
    NetCall::Accept,
    NetCall::Accept4,
    NetCall::Bind,
    NetCall::Listen,
    NetCall::SendTo,
    NetCall::SendMsg,
    NetCall::RecvFrom,
    NetCall::Socket,
    NetCall::SetSockOpt,
];

const ATTR_BASE_TRUNCATED: u32 = 1;
const ATTR_TIMES_READ: u32 = 2;
const NET_SOCKET_READ: u32 = 1;
const NET_ADDR_CUT: u32 = 2;
const NET_DNS: u32 = 65536;
const NET_ICMP: u32 = 131_072;
const NET_OPENING: u32 = 262_144;
const NET_UNCLAIMED: u32 = 524_288;
const NET_ANSWER: u32 = 1_048_576;
const NET_IO_URING: u32 = 4;
const NET_COMPAT: u32 = 8;
const NET_SUBMITTED: u32 = 16;
const NET_CQ_OVERFLOW: u32 = 32;
const NET_SETTLED: u32 = 64;
const NET_OUTCOME: u32 = 128;
const NET_ADDR_OWN: u32 = 256;
const NET_FIRST_DATAGRAM: u32 = 512;
const NET_FILTER_LEN: u32 = 1024;
const NET_FILTER_PROGRAM: u32 = 16384;
const NET_FILTER_EBPF: u32 = 32768;
/// The size of a classic filter's instruction (struct sock_filter).
const CLASSIC_INSTRUCTION: usize = 8;
/// The size of an eBPF filter's identity (bpf/net.h's struct attached_program).
const ATTACHED_PROGRAM: usize = 32;
const NET_ENDED: u32 = 2048;
const NET_STILL_OPEN: u32 = 4096;
const NET_FOUND_OPEN: u32 = 8192;
/// sizeof(struct tcp_traffic): an ended connection's traffic.
const TCP_TRAFFIC: usize = 40;
/// The TCP state of a socket whose handshake failed (the kernel's `TCP_CLOSE`).
const TCP_CLOSE: u8 = 7;

/// The calls file records are taken at, by their number in bpf/files.h (`CALL_*`, from 1).
pub(crate) const FILE_CALLS: [&str; 24] = [
    "open",
    "openat",
    "openat2",
    "creat",
    "close",
    "dup2",
    "dup3",
    "exit",
    "ftruncate",
    "truncate",
    "unlink",
    "unlinkat",
    "rmdir",
    "mkdir",
    "mkdirat",
    "mknod",
    "mknodat",
    "rename",
    "renameat",
    "renameat2",
    "link",
    "linkat",
    "symlink",
    "symlinkat",
];

const FILE_PATH_TRUNCATED: u32 = 1;
const FILE_OTHER_TRUNCATED: u32 = 2;
const FILE_PATH_UNRESOLVED: u32 = 4;
const FILE_OTHER_UNRESOLVED: u32 = 8;
const FILE_URING: u32 = 16;
const FILE_URING_PENDING: u32 = 32;
const FILE_URING_SUBMITTED: u32 = 64;
const FILE_COMPAT: u32 = 128;

/// The result of an io_uring file operation recorded at its submission
/// (`FileRecord::uring_pending`): its key and result. None when `b` is no such record.
pub(crate) fn uring_result(b: &[u8]) -> Option<(UringKey, i32)> {
    (b.len() >= URING_RESULT_LEN && u32_at(b, 0) == KIND_URING_RESULT)
        .then(|| ((u64_at(b, 32), u64_at(b, 40)), u32_at(b, 24) as i32))
}

/// A path as a file record writes it: a name as given (none for an fd's file), then the
/// components, leaf first, of the directory a relative name is relative to (none for an
/// absolute name; none either for the root, or when that directory was `unresolved`).
fn named_path(base: &[u8], name: &[u8], unresolved: bool) -> Vec<u8> {
    let name = c_string(name);
    if name.starts_with(b"/") || unresolved {
        return name.to_vec();
    }
    let base = path_of_components(base);
    if name.is_empty() {
        base
    } else {
        absolute(name, &base)
    }
}

/// The exec's executable version (offsets 80..120), None when the program left its inode 0.
fn exe_version_at(b: &[u8]) -> Option<FileVersion> {
    let inode = u64_at(b, 80);
    (inode != 0).then(|| FileVersion {
        dev: libc::makedev(u32_at(b, 112), u32_at(b, 116)),
        inode,
        size: u64_at(b, 88),
        mtime_ns: u64_at(b, 96) as i64,
        ctime_ns: u64_at(b, 104) as i64,
    })
}

/// A doorbell's note: an exec whose image to hold at once ([`ExecFlags::HOLD`]), the image
/// as the exec found it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HoldNote {
    /// The process.
    pub pid: u32,
    /// The image's device, as `stat` encodes it.
    pub dev: u64,
    /// The image's inode.
    pub inode: u64,
    /// A script's file rather than the image ([`ScriptRecord`]): opened by its path, which
    /// its record in the ring has.
    pub script: bool,
}

/// The note of a `HOLD` doorbell entry (`struct hold_note`); None when it is short.
pub fn hold_note(b: &[u8]) -> Option<HoldNote> {
    (b.len() >= 24).then(|| HoldNote {
        pid: u32_at(b, 0),
        dev: libc::makedev(u32_at(b, 4), u32_at(b, 8)),
        inode: u64_at(b, 16),
        script: u32_at(b, 12) != 0,
    })
}

/// `name` as given to a call, made absolute against `cwd` (not normalized: `..` stays).
fn absolute(name: &[u8], cwd: &[u8]) -> Vec<u8> {
    if name.starts_with(b"/") {
        return name.to_vec();
    }
    let mut path = cwd.to_vec();
    if !path.ends_with(b"/") {
        path.push(b'/');
    }
    path.extend_from_slice(name.strip_prefix(b"./").unwrap_or(name));
    path
}

/// What the kernel appends to the path of a file with no name left (`d_path`).
const DELETED: &[u8] = b" (deleted)";

/// Joins components written leaf first, each NUL-terminated, into an absolute path.
pub fn path_of_components(leaf_first: &[u8]) -> Vec<u8> {
    let names: Vec<&[u8]> = leaf_first
        .split(|&b| b == 0)
        .filter(|name| !name.is_empty())
        .collect();
    if names.is_empty() {
        return b"/".to_vec();
    }
    let mut path = Vec::with_capacity(leaf_first.len() + 1);
    for name in names.iter().rev() {
        path.push(b'/');
        path.extend_from_slice(name);
    }
    path
}

/// Splits the argv area (each argument NUL-terminated; the last one's NUL missing when it
/// was cut) into arguments, keeping empty ones.
pub fn split_args(area: &[u8]) -> Vec<Vec<u8>> {
    if area.is_empty() {
        return Vec::new();
    }
    let area = area.strip_suffix(&[0]).unwrap_or(area);
    area.split(|&b| b == 0).map(<[u8]>::to_vec).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn header(kind: u32, pid: u32, boot: u64, start: u64) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&kind.to_ne_bytes());
        b.extend_from_slice(&pid.to_ne_bytes());
        b.extend_from_slice(&boot.to_ne_bytes());
        b.extend_from_slice(&start.to_ne_bytes());
        b
    }

    fn exec_bytes(exe: &[u8], cwd: &[u8], args: &[u8], tty: &[u8]) -> Vec<u8> {
        exec_bytes_of(KIND_EXEC, 0, exe, cwd, args, tty)
    }

    fn exec_bytes_of(
        kind: u32,
        ret: i32,
        exe: &[u8],
        cwd: &[u8],
        args: &[u8],
        tty: &[u8],
    ) -> Vec<u8> {
        let mut b = header(kind, 42, 5_000, 4_000);
        for v in [7u32, 1000, 0, 1000, 1000, u32::MAX, 3, 0] {
            b.extend_from_slice(&v.to_ne_bytes());
        }
        b.extend_from_slice(&3_000u64.to_ne_bytes());
        b.extend_from_slice(&ret.to_ne_bytes());
        b.extend_from_slice(&(exe.len() as u16).to_ne_bytes());
        b.extend_from_slice(&(cwd.len() as u16).to_ne_bytes());
        b.extend_from_slice(&(args.len() as u32).to_ne_bytes());
        b.extend_from_slice(&0u32.to_ne_bytes());
        // The executable's version: inode 77, size 4096, mtime 1 s, ctime 2 s, device 8:1.
        for v in [77u64, 4096, 1_000_000_000, 2_000_000_000] {
            b.extend_from_slice(&v.to_ne_bytes());
        }
        for v in [8u32, 1] {
            b.extend_from_slice(&v.to_ne_bytes());
        }
        b.extend_from_slice(&4242u64.to_ne_bytes());
        let mut comm = [0u8; 16];
        comm[..4].copy_from_slice(b"true");
        b.extend_from_slice(&comm);
        let mut t = [0u8; 32];
        t[..tty.len()].copy_from_slice(tty);
        b.extend_from_slice(&t);
        assert_eq!(b.len(), EXEC_DATA);
        b.extend_from_slice(exe);
        b.extend_from_slice(cwd);
        b.extend_from_slice(args);
        b
    }

    #[test]
    fn a_hold_note_names_the_process_and_its_image() {
        let mut b = Vec::new();
        for v in [42u32, 8, 1, 0] {
            b.extend_from_slice(&v.to_ne_bytes());
        }
        b.extend_from_slice(&77u64.to_ne_bytes());
        let note = hold_note(&b).unwrap();
        assert_eq!(
            note,
            HoldNote {
                pid: 42,
                dev: libc::makedev(8, 1),
                inode: 77,
                script: false,
            }
        );
        assert_eq!(hold_note(&b[..20]), None);
        b[12..16].copy_from_slice(&1u32.to_ne_bytes());
        assert!(hold_note(&b).unwrap().script, "a script's file");
    }

    /// A script's record is laid out as an exec's, its path and version in the exe fields.
    #[test]
    fn a_script_record_names_the_file_the_exec_named() {
        let mut b = exec_bytes_of(KIND_SCRIPT, 0, b"stage2\0work\0tmp\0", b"", b"", b"");
        let Record::Script(s) = parse(&b).unwrap() else {
            panic!("not a script")
        };
        assert_eq!((s.pid, s.boot_ns), (42, 5_000));
        assert_eq!(s.path, b"/tmp/work/stage2");
        assert_eq!(s.version.map(|v| (v.inode, v.size)), Some((77, 4096)));
        assert!(s.file.is_none() && !s.flags.has(ExecFlags::HOLD));
        // A memfd script: named as the kernel names a file with no name left.
        let mut memfd = exec_bytes_of(KIND_SCRIPT, 0, b"memfd:s\0", b"", b"", b"");
        let flags = ExecFlags::EXE_UNLINKED | ExecFlags::HOLD;
        memfd[52..56].copy_from_slice(&flags.to_ne_bytes());
        let Record::Script(s) = parse(&memfd).unwrap() else {
            panic!("not a script")
        };
        assert_eq!(s.path, b"/memfd:s (deleted)");
        assert!(s.flags.has(ExecFlags::HOLD));
        // A path longer than the record: short, not a panic.
        b[68..70].copy_from_slice(&600u16.to_ne_bytes());
        assert!(matches!(parse(&b), Err(RecordError::Short { .. })));
    }

    #[test]
    fn an_unlinked_image_is_named_as_the_kernel_names_it() {
        let mut b = exec_bytes(b"memfd:payload\0", b"tmp\0", b"x\0", b"");
        let flags = ExecFlags::EXE_UNLINKED | ExecFlags::HOLD;
        b[52..56].copy_from_slice(&flags.to_ne_bytes());
        let Record::Exec(e) = parse(&b).unwrap() else {
            panic!("not an exec")
        };
        assert_eq!(e.exe.as_deref(), Some(&b"/memfd:payload (deleted)"[..]));
        assert!(e.flags.has(ExecFlags::HOLD));
        // Held by the reader, not by the parser.
        assert!(e.image.is_none());
    }

    #[test]
    fn an_exec_record_becomes_paths_and_arguments() {
        let b = exec_bytes(
            b"true\0bin\0usr\0",
            b"tmp\0",
            b"true\0a b\0\0\xff\0",
            b"pts0",
        );
        let Record::Exec(e) = parse(&b).unwrap() else {
            panic!("not an exec")
        };
        assert_eq!(
            (e.pid, e.boot_ns, e.start_ns, e.ppid),
            (42, 5_000, 4_000, 7)
        );
        assert_eq!((e.uid, e.euid, e.gid, e.egid), (1000, 0, 1000, 1000));
        assert_eq!((e.loginuid, e.sessionid), (None, Some(3)));
        assert_eq!(e.parent_start_ns, 3_000);
        assert_eq!(e.exe.as_deref(), Some(&b"/usr/bin/true"[..]));
        assert_eq!(e.cwd, b"/tmp");
        assert_eq!(e.comm, b"true");
        assert_eq!(e.tty.as_deref(), Some("pts0"));
        let args: Vec<&[u8]> = e.args.iter().map(Vec::as_slice).collect();
        assert_eq!(args, [&b"true"[..], b"a b", b"", b"\xff"]);
        let version = e.exe_version.expect("the executable's version");
        assert_eq!(
            (
                version.inode,
                version.size,
                version.mtime_ns,
                version.ctime_ns
            ),
            (77, 4096, 1_000_000_000, 2_000_000_000)
        );
        assert_eq!(version.dev, libc::makedev(8, 1));
        assert_eq!(e.cgroup_id, Some(4242));
    }

    fn attr_bytes(
        call: u32,
        mode: u32,
        owner: [u32; 2],
        ino: u64,
        base: &[u8],
        name: &[u8],
    ) -> Vec<u8> {
        let mut b = header(KIND_ATTR, 42, 5_000, 4_000);
        for v in [0u32, mode, owner[0], owner[1]] {
            b.extend_from_slice(&v.to_ne_bytes());
        }
        b.extend_from_slice(&ino.to_ne_bytes());
        for v in [8u32, 1] {
            b.extend_from_slice(&v.to_ne_bytes());
        }
        b.extend_from_slice(&(base.len() as u16).to_ne_bytes());
        b.extend_from_slice(&(name.len() as u16).to_ne_bytes());
        for v in [call, 0] {
            b.extend_from_slice(&v.to_ne_bytes());
        }
        b.resize(ATTR_DATA, 0);
        b.extend_from_slice(base);
        b.extend_from_slice(name);
        b
    }

    fn attr(b: &[u8]) -> AttrRecord {
        match parse(b) {
            Ok(Record::Attr(a)) => *a,
            other => panic!("not an attribute change: {other:?}"),
        }
    }

    #[test]
    fn chmod_and_chown_records_name_the_file_and_what_was_asked() {
        // chmod("c.txt", 0100600) in /tmp.
        let a = attr(&attr_bytes(
            1,
            0o100600,
            [u32::MAX; 2],
            0,
            b"tmp\0",
            b"c.txt\0",
        ));
        assert_eq!((a.call, a.pid, a.ret), (AttrCall::Chmod, 42, 0));
        assert_eq!(a.mode, Some(0o600), "permission bits only");
        assert_eq!((a.uid, a.gid, a.inode, a.device), (None, None, None, None));
        assert_eq!(a.path, b"/tmp/c.txt");
        // An absolute name ignores the base; fchownat(…, uid 1000, gid -1).
        let a = attr(&attr_bytes(8, 0, [1000, u32::MAX], 0, b"", b"/etc/x\0"));
        assert_eq!((a.call, a.mode), (AttrCall::Fchownat, None));
        assert_eq!((a.uid, a.gid), (Some(1000), None), "-1 leaves the group");
        assert_eq!(a.path, b"/etc/x");
        // fchmod(fd): the fd's file, with its inode.
        let a = attr(&attr_bytes(2, 0o755, [0, 0], 77, b"f\0d\0", b""));
        assert_eq!(a.call.name(), "fchmod");
        assert_eq!(a.path, b"/d/f");
        assert_eq!((a.inode, a.device), (Some(77), Some(libc::makedev(8, 1))));
        // Lengths past the record, or an unknown call, are refused, not read past.
        let mut cut = attr_bytes(1, 0, [0, 0], 0, b"tmp\0", b"c\0");
        cut.truncate(ATTR_DATA + 3);
        assert!(matches!(parse(&cut), Err(RecordError::Short { .. })));
        assert!(parse(&attr_bytes(13, 0, [0, 0], 0, b"", b"/x\0")).is_err());
    }

    #[test]
    fn an_exec_without_an_inode_has_no_version() {
        let mut b = exec_bytes(b"true\0", b"\0", b"true\0", b"");
        b[80..88].fill(0);
        let Record::Exec(e) = parse(&b).unwrap() else {
            panic!("not an exec")
        };
        assert_eq!(e.exe_version, None);
    }

    #[test]
    fn a_failed_exec_names_what_was_asked_for() {
        let b = exec_bytes_of(
            KIND_EXEC_FAILED,
            -2,
            b"./nope\0",
            b"w\0tmp\0",
            b"./nope\0x\0",
            b"",
        );
        let Record::Exec(e) = parse(&b).unwrap() else {
            panic!("not an exec")
        };
        assert_eq!(e.ret, -2);
        assert_eq!(e.exe.as_deref(), Some(&b"/tmp/w/nope"[..]));
        assert_eq!(e.args, [b"./nope".to_vec(), b"x".to_vec()]);
        let b = exec_bytes_of(KIND_EXEC_FAILED, -13, b"/etc/shadow\0", b"", b"", b"");
        let Record::Exec(e) = parse(&b).unwrap() else {
            panic!("not an exec")
        };
        assert_eq!(e.exe.as_deref(), Some(&b"/etc/shadow"[..]));
        assert_eq!(absolute(b"bin/x", b"/"), b"/bin/x");
    }

    #[test]
    fn the_root_directory_and_no_executable() {
        let b = exec_bytes(b"", b"", b"", b"");
        let Record::Exec(e) = parse(&b).unwrap() else {
            panic!("not an exec")
        };
        assert_eq!(e.exe, None);
        assert_eq!(e.cwd, b"/");
        assert!(e.args.is_empty());
        assert_eq!(e.tty, None);
    }

    #[test]
    fn a_cut_argument_keeps_what_was_read() {
        assert_eq!(split_args(b"ab\0cd"), [b"ab".to_vec(), b"cd".to_vec()]);
        assert_eq!(split_args(b"\0"), [Vec::<u8>::new()]);
    }

    #[test]
    fn fork_and_exit_records() {
        let mut b = header(KIND_FORK, 9, 100, 90);
        b.extend_from_slice(&8u32.to_ne_bytes());
        b.extend_from_slice(&0u32.to_ne_bytes());
        b.extend_from_slice(&80u64.to_ne_bytes());
        assert_eq!(
            parse(&b).unwrap(),
            Record::Fork(ForkRecord {
                pid: 9,
                boot_ns: 100,
                start_ns: 90,
                parent_pid: 8,
                parent_start_ns: 80
            })
        );
        let exit = |status: u32| {
            let mut b = header(KIND_EXIT, 9, 200, 90);
            b.extend_from_slice(&status.to_ne_bytes());
            b.extend_from_slice(&0u32.to_ne_bytes());
            match parse(&b).unwrap() {
                Record::Exit(e) => e,
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(
            (exit(7 << 8).exit_code(), exit(7 << 8).signal()),
            (Some(7), None)
        );
        assert_eq!((exit(9).exit_code(), exit(9).signal()), (None, Some(9)));
        assert_eq!(exit(0x80 | 11).signal(), Some(11));
    }

    /// A file record: op, ret, inode (0: none), flags, and the four segments.
    fn file_bytes(op: u32, ret: i32, ino: u64, flags: u32, segments: [&[u8]; 4]) -> Vec<u8> {
        let mut b = header(KIND_FILE, 42, 5_000, 4_000);
        b.extend_from_slice(&ret.to_ne_bytes());
        b.extend_from_slice(&(op as u16).to_ne_bytes());
        b.extend_from_slice(&2u16.to_ne_bytes()); // openat
        b.extend_from_slice(&ino.to_ne_bytes());
        for v in [8u32, 1, 0o100644, 1000, 100] {
            b.extend_from_slice(&v.to_ne_bytes());
        }
        for segment in segments {
            b.extend_from_slice(&(segment.len() as u16).to_ne_bytes());
        }
        b.extend_from_slice(&flags.to_ne_bytes());
        b.extend_from_slice(&0xfeed_u64.to_ne_bytes()); // an io_uring ring,
        b.extend_from_slice(&7u64.to_ne_bytes()); // and a tag
        assert_eq!(b.len(), FILE_DATA);
        for segment in segments {
            b.extend_from_slice(segment);
        }
        b
    }

    fn file(b: &[u8]) -> FileRecord {
        match parse(b) {
            Ok(Record::File(f)) => *f,
            other => panic!("not a file record: {other:?}"),
        }
    }

    #[test]
    fn io_uring_file_records_carry_their_key_and_results_theirs() {
        let plain = file(&file_bytes(4, 0, 0, 0, [b"/tmp/x\0", b"", b"", b""]));
        assert_eq!(
            (plain.io_uring, plain.submitted, plain.uring_pending),
            (false, false, None)
        );
        let pending = file(&file_bytes(4, 0, 0, 16 | 32, [b"/tmp/x\0", b"", b"", b""]));
        assert!(pending.io_uring && !pending.submitted);
        assert_eq!(pending.uring_pending, Some((0xfeed, 7)));
        let quiet = file(&file_bytes(4, 0, 0, 16 | 64, [b"/tmp/x\0", b"", b"", b""]));
        assert!(quiet.io_uring && quiet.submitted && quiet.uring_pending.is_none());
        // Its result: header, res, pad, ring, tag.
        let mut result = header(KIND_URING_RESULT, 42, 5_000, 4_000);
        result.extend_from_slice(&(-2i32).to_ne_bytes());
        result.extend_from_slice(&0u32.to_ne_bytes());
        result.extend_from_slice(&0xfeed_u64.to_ne_bytes());
        result.extend_from_slice(&7u64.to_ne_bytes());
        assert_eq!(uring_result(&result), Some(((0xfeed, 7), -2)));
        assert_eq!(uring_result(&result[..40]), None, "short");
        assert_eq!(
            uring_result(&file_bytes(4, 0, 0, 0, [b"", b"", b"", b""])),
            None
        );
    }

    #[test]
    fn file_records_name_their_paths_as_given_made_absolute() {
        // An open of a relative name: the name, then the working directory's components.
        let create = file(&file_bytes(
            1,
            3,
            77,
            0,
            [b"notes.txt\0", b"u\0home\0", b"", b""],
        ));
        assert_eq!((create.op, create.call), (FileOp::Create, Some("openat")));
        assert_eq!((create.pid, create.start_ns, create.ret), (42, 4_000, 3));
        assert_eq!(create.path, b"/home/u/notes.txt");
        assert_eq!(create.inode, Some(77));
        assert_eq!(create.device, Some(libc::makedev(8, 1)));
        assert_eq!(
            (create.mode, create.uid, create.gid),
            (Some(0o100644), Some(1000), Some(100))
        );
        // A close: its file walked, no name.
        let close = file(&file_bytes(
            3,
            0,
            77,
            0,
            [b"", b"notes.txt\0u\0home\0", b"", b""],
        ));
        assert_eq!(
            (close.op, close.path.as_slice()),
            (FileOp::CloseWrite, &b"/home/u/notes.txt"[..])
        );
        // A rename of absolute names; a failed one of a relative name, its inode unknown.
        let rename = file(&file_bytes(
            7,
            0,
            0,
            0,
            [b"/tmp/new\0", b"", b"old\0", b"tmp\0"],
        ));
        assert_eq!(rename.op, FileOp::Rename);
        assert_eq!(rename.path, b"/tmp/new");
        assert_eq!(rename.other.as_deref(), Some(&b"/tmp/old"[..]));
        assert_eq!(
            (rename.inode, rename.device, rename.mode),
            (None, None, None)
        );
        let failed = file(&file_bytes(4, -2, 0, 0, [b"./gone\0", b"tmp\0", b"", b""]));
        assert_eq!((failed.op, failed.ret), (FileOp::Unlink, -libc::ENOENT));
        assert_eq!(failed.path, b"/tmp/gone");
        // A symlink's target stays as given, even relative.
        let symlink = file(&file_bytes(9, 0, 0, 0, [b"/tmp/l\0", b"", b"../t\0", b""]));
        assert_eq!(symlink.other.as_deref(), Some(&b"../t"[..]));
        // The root directory, and a directory walk cut short.
        let root = file(&file_bytes(6, 0, 0, 2, [b"x\0", b"", b"", b""]));
        assert_eq!(root.path, b"/x");
        let cut = file(&file_bytes(6, 0, 0, 1, [b"x\0", b"deep\0", b"", b""]));
        assert!(cut.path_truncated && !cut.other_truncated);
        assert_eq!(cut.path, b"/deep/x", "the components that were read");
        let unresolved = file(&file_bytes(4, 0, 0, 4, [b"x\0", b"", b"", b""]));
        assert!(unresolved.path_unresolved && !root.path_unresolved);
        assert_eq!(unresolved.path, b"x", "the name alone");
    }

    /// The socket part of a network record: family, type, protocol, and each end as its port
    /// and address bytes.
    #[derive(Clone, Copy)]
    struct Sock<'a>(u16, u16, u16, (u16, &'a [u8]), (u16, &'a [u8]));

    /// A network record as bpf/net.h writes it (`socket`: when the socket was read).
    fn net_bytes(call: u16, ret: i32, socket: Option<Sock>, addr: &[u8]) -> Vec<u8> {
        let mut b = header(KIND_NET, 42, 5_000, 4_000);
        b.extend_from_slice(&ret.to_ne_bytes());
        b.extend_from_slice(&call.to_ne_bytes());
        let read = socket.is_some();
        let Sock(family, sock_type, protocol, local, remote) =
            socket.unwrap_or(Sock(0, 0, 0, (0, &[]), (0, &[])));
        b.extend_from_slice(&sock_type.to_ne_bytes());
        b.extend_from_slice(&7i32.to_ne_bytes()); // fd
        for v in [family, protocol, local.0, remote.0] {
            b.extend_from_slice(&v.to_ne_bytes());
        }
        for ip in [local.1, remote.1] {
            let mut a = [0u8; 16];
            a[..ip.len()].copy_from_slice(ip);
            b.extend_from_slice(&a);
        }
        let flags = u32::from(read) * NET_SOCKET_READ;
        b.extend_from_slice(&flags.to_ne_bytes());
        b.extend_from_slice(&(addr.len() as u32).to_ne_bytes());
        b.extend_from_slice(&0u32.to_ne_bytes());
        assert_eq!(b.len(), NET_ADDR);
        b.extend_from_slice(addr);
        b
    }

    /// Each times call's array read as the times it sets: timespecs (with now and left
    /// alone), timevals in microseconds, a utimbuf in seconds, and none (both now).
    #[test]
    fn the_times_calls_arrays_are_read_as_times() {
        let at = |ns: i64| Some(TimeSet::At(ns));
        let now_omit = [5, (1 << 30) - 1, 6, (1 << 30) - 2];
        assert_eq!(
            AttrCall::Utimensat.times_set(Some(now_omit)),
            FileTimes {
                accessed: Some(TimeSet::Now),
                modified: None
            }
        );
        assert_eq!(
            AttrCall::Futimesat.times_set(Some([1, 2, 3, 4])),
            FileTimes {
                accessed: at(1_000_002_000),
                modified: at(3_000_004_000)
            }
        );
        assert_eq!(
            AttrCall::Utime.times_set(Some([7, 8, 0, 0])),
            FileTimes {
                accessed: at(7_000_000_000),
                modified: at(8_000_000_000)
            }
        );
        assert_eq!(
            AttrCall::Utimes.times_set(None),
            FileTimes {
                accessed: Some(TimeSet::Now),
                modified: Some(TimeSet::Now)
            }
        );
        assert!(AttrCall::Utime.is_times() && !AttrCall::Chmod.is_times());
    }

    fn net(b: &[u8]) -> NetRecord {
        match parse(b) {
            Ok(Record::Net(n)) => *n,
            other => panic!("not a network record: {other:?}"),
        }
    }

    fn sin(ip: [u8; 4], port: u16) -> Vec<u8> {
        let mut b = family::INET.to_ne_bytes().to_vec();
        b.extend_from_slice(&port.to_be_bytes());
        b.extend_from_slice(&ip);
        b.extend_from_slice(&[0; 8]);
        b
    }

    #[test]
    fn network_records_carry_the_address_asked_for_and_the_socket() {
        // A TCP connect: the peer asked for, and both ends of the socket it left.
        let tcp = Sock(
            family::INET,
            1,
            6,
            (40_000, &[127, 0, 0, 1]),
            (80, &[127, 0, 0, 2]),
        );
        let connect = net(&net_bytes(
            1,
            -libc::EINPROGRESS,
            Some(tcp),
            &sin([127, 0, 0, 2], 80),
        ));
        assert_eq!(
            (connect.call, connect.pid, connect.start_ns),
            (NetCall::Connect, 42, 4_000)
        );
        assert_eq!((connect.ret, connect.fd), (-libc::EINPROGRESS, 7));
        let peer = SockAddr::Inet {
            addr: Ipv4Addr::new(127, 0, 0, 2),
            port: 80,
        };
        assert_eq!(connect.addr, Some(peer.clone()));
        let socket = connect.socket.expect("read");
        assert_eq!(socket.transport(), Some("tcp"));
        assert_eq!(
            socket.local,
            Some(SockAddr::Inet {
                addr: Ipv4Addr::LOCALHOST,
                port: 40_000
            })
        );
        assert_eq!(socket.remote, Some(peer));
        // A listener over IPv6: its end only (no peer, port 0, is no end).
        let v6 = Ipv6Addr::LOCALHOST.octets();
        let listen = net(&net_bytes(
            5,
            0,
            Some(Sock(family::INET6, 1, 6, (8080, &v6), (0, &[]))),
            b"",
        ));
        assert_eq!(listen.call, NetCall::Listen);
        assert_eq!(listen.addr, None);
        let socket = listen.socket.expect("read");
        let listening = SockAddr::Inet6 {
            addr: Ipv6Addr::LOCALHOST,
            port: 8080,
            flowinfo: 0,
            scope_id: 0,
        };
        assert_eq!(socket.local, Some(listening));
        assert_eq!(socket.remote, None);
        // A UDP socket's first datagram to a peer, from the socket layer.
        let mut first = net_bytes(
            7,
            0,
            Some(Sock(family::INET, 2, 17, (5_000, &[0; 4]), (0, &[]))),
            &sin([10, 0, 0, 1], 53),
        );
        first[76..80].copy_from_slice(&(NET_SOCKET_READ | NET_FIRST_DATAGRAM).to_ne_bytes());
        let first = net(&first);
        assert!(first.first_datagram && !first.outcome);
        assert_eq!(first.call, NetCall::SendMsg);
        assert_eq!(first.addr.as_ref().and_then(SockAddr::port), Some(53));
        assert!(!listen.first_datagram);
        // A raw socket's first packet from a peer: its own end is the packet's address, with
        // no port (where one would be, the kernel keeps the socket's protocol).
        let mut raw = net_bytes(
            8,
            0,
            Some(Sock(family::INET, 3, 1, (1, &[127, 0, 0, 2]), (0, &[]))),
            &sin([127, 0, 0, 1], 0),
        );
        raw[76..80]
            .copy_from_slice(&(NET_SOCKET_READ | NET_FIRST_DATAGRAM | NET_ICMP).to_ne_bytes());
        raw[84] = 0; // an echo reply
        raw[85] = 0;
        let raw = net(&raw);
        assert_eq!(raw.icmp, Some((0, 0)));
        assert_eq!(first.icmp, None);
        let socket = raw.socket.expect("read");
        let own = SockAddr::Inet {
            addr: Ipv4Addr::new(127, 0, 0, 2),
            port: 0,
        };
        assert_eq!((socket.local, socket.remote), (Some(own), None));
        // A connect on a descriptor that is no socket: the address, no socket.
        let notsock = net(&net_bytes(
            1,
            -libc::ENOTSOCK,
            None,
            &sin([10, 0, 0, 1], 22),
        ));
        assert_eq!(notsock.socket, None);
        assert!(notsock.addr.is_some() && !notsock.addr_malformed);
        // A Unix socket's path, and an address too short for its family.
        let mut unix = family::UNIX.to_ne_bytes().to_vec();
        unix.extend_from_slice(b"/run/x.sock\0");
        let u = net(&net_bytes(
            1,
            0,
            Some(Sock(family::UNIX, 1, 0, (0, &[]), (0, &[]))),
            &unix,
        ));
        assert_eq!(
            u.addr.as_ref().and_then(SockAddr::unix_path).as_deref(),
            Some(&b"/run/x.sock"[..])
        );
        assert_eq!(
            u.socket.as_ref().and_then(SocketFacts::transport),
            Some("stream")
        );
        let short = net(&net_bytes(
            4,
            -libc::EINVAL,
            None,
            &family::INET.to_ne_bytes(),
        ));
        assert!(short.addr.is_none() && short.addr_malformed);
    }

    #[test]
    fn a_handshakes_end_is_read_from_the_record() {
        let tcp = || {
            Sock(
                family::INET,
                1,
                6,
                (40_000, &[127, 0, 0, 1]),
                (80, &[127, 0, 0, 1]),
            )
        };
        let under_way = net_bytes(1, -libc::EINPROGRESS, Some(tcp()), &sin([127, 0, 0, 1], 80));
        let r = net(&under_way);
        assert_eq!((r.handshake, r.outcome), (None, false));
        // The state the handshake left (offset 84) and its error (86), when settled.
        let settled = |mut b: Vec<u8>, flags: u32, state: u8, err: u16| {
            let was = u32_at(&b, 76);
            b[76..80].copy_from_slice(&(was | flags).to_ne_bytes());
            b[84] = state;
            b[86..88].copy_from_slice(&err.to_ne_bytes());
            net(&b)
        };
        let refused = settled(under_way.clone(), NET_SETTLED, TCP_CLOSE, 111);
        assert_eq!(refused.handshake, Some(Handshake::Failed(111)));
        assert!(!refused.outcome);
        // ESTABLISHED (1), or any later state (CLOSE_WAIT, 8): the connection was made.
        for state in [1, 8] {
            let made = settled(under_way.clone(), NET_SETTLED | NET_OUTCOME, state, 0);
            assert_eq!(made.handshake, Some(Handshake::Established));
            assert!(made.outcome);
        }
        let abandoned = settled(under_way, NET_SETTLED | NET_OUTCOME, TCP_CLOSE, 0);
        assert_eq!(abandoned.handshake, Some(Handshake::Failed(0)));
    }

    /// A connection's end: its traffic where an address would be, the state it closed from
    /// and its error; the call that made it known; both ends.
    #[test]
    fn an_ended_connections_record_carries_its_traffic() {
        let mut traffic = Vec::new();
        for v in [900u64, 5_000, 1_000, 70_001] {
            traffic.extend_from_slice(&v.to_ne_bytes());
        }
        for v in [12u32, 60] {
            traffic.extend_from_slice(&v.to_ne_bytes());
        }
        assert_eq!(traffic.len(), TCP_TRAFFIC);
        let tcp = || {
            Sock(
                family::INET,
                1,
                6,
                (22, &[10, 0, 0, 1]),
                (50_000, &[10, 0, 0, 2]),
            )
        };
        let mut b = net_bytes(2, 0, Some(tcp()), &traffic);
        b[76..80].copy_from_slice(&(NET_SOCKET_READ | NET_ENDED).to_ne_bytes());
        b[84] = 1; // ESTABLISHED
        b[85] = 1; // the peer's FIN came
        b[86..88].copy_from_slice(&104u16.to_ne_bytes()); // ECONNRESET
        let ended = net(&b);
        assert_eq!(ended.call, NetCall::Accept);
        assert_eq!(
            ended.traffic,
            Some(TcpTraffic {
                since_ns: 900,
                state: 1,
                peer_fin: true,
                still_open: false,
                found_open: false,
                error: 104,
                bytes_sent: 5_000,
                bytes_retransmitted: 1_000,
                bytes_received: 70_001,
                segments_sent: 12,
                segments_received: 60,
            })
        );
        assert_eq!(ended.addr, None, "traffic, not an address");
        // A connection found open as the source started, looked at: both marks.
        let mut found = b.clone();
        found[76..80].copy_from_slice(
            &(NET_SOCKET_READ | NET_ENDED | NET_STILL_OPEN | NET_FOUND_OPEN).to_ne_bytes(),
        );
        let look = net(&found).traffic.expect("traffic");
        assert!(look.found_open && look.still_open);
        assert!(!ended.addr_malformed);
        let socket = ended.socket.expect("read");
        assert_eq!(socket.local.and_then(|a| a.port()), Some(22));
        assert_eq!(socket.remote.and_then(|a| a.port()), Some(50_000));

        // Traffic of another size than the programs write is a damaged record.
        let mut short = net_bytes(2, 0, Some(tcp()), &traffic[..32]);
        short[76..80].copy_from_slice(&NET_ENDED.to_ne_bytes());
        assert!(matches!(
            parse(&short),
            Err(RecordError::Short {
                kind: "connection end",
                ..
            })
        ));
        // Without the flag, the same bytes are an address (here, not one).
        b[76..80].copy_from_slice(&NET_SOCKET_READ.to_ne_bytes());
        assert_eq!(net(&b).traffic, None);
    }

    #[test]
    fn short_and_unknown_network_records_are_errors() {
        let b = net_bytes(1, 0, None, &sin([127, 0, 0, 1], 1));
        assert!(matches!(
            parse(&b[..b.len() - 1]),
            Err(RecordError::Short {
                kind: "network",
                ..
            })
        ));
        assert!(matches!(
            parse(&b[..NET_ADDR - 1]),
            Err(RecordError::Short {
                kind: "network",
                ..
            })
        ));
        assert_eq!(
            parse(&net_bytes(11, 0, None, b"")),
            Err(RecordError::UnknownKind(KIND_NET))
        );
    }

    /// A packet or raw socket's making, and a filter attached: the socket as asked for (a
    /// raw socket's protocol where its port would be is no port), the option and the filter's
    /// length.
    #[test]
    fn socket_and_filter_records_carry_the_socket_and_the_filter() {
        let sniffer = Sock(family::PACKET, 3, 0x0003u16.to_be(), (0, &[]), (0, &[]));
        let made = net(&net_bytes(9, 5, Some(sniffer), b""));
        assert_eq!(
            (made.call, made.ret, made.filter),
            (NetCall::Socket, 5, None)
        );
        let socket = made.socket.expect("as asked");
        assert_eq!(socket.transport(), Some("all"));
        assert_eq!(socket.sock_type, libc::SOCK_RAW);

        let icmp = Sock(family::INET, 3, 1, (1, &[0, 0, 0, 0]), (0, &[]));
        let mut b = net_bytes(10, 0, Some(icmp), b"");
        b[76..80].copy_from_slice(&(NET_SOCKET_READ | NET_FILTER_LEN).to_ne_bytes());
        b[84] = 26;
        b[86..88].copy_from_slice(&30u16.to_ne_bytes());
        let attached = net(&b);
        assert_eq!(attached.call, NetCall::SetSockOpt);
        let filter = attached.filter.expect("a setsockopt's filter");
        assert_eq!(
            (filter.option_name(), filter.instructions),
            ("SO_ATTACH_FILTER".to_string(), Some(30))
        );
        let socket = attached.socket.expect("read");
        assert_eq!(socket.transport(), Some("icmp"));
        assert_eq!(socket.local, None, "a raw socket's protocol is no port");

        assert_eq!(filter.program, None, "its instructions were not read");

        // The same with its instructions where the address would be: ldh [12]; ret #-1.
        let mut program = Vec::new();
        for (code, jt, jf, k) in [(0x28u16, 0u8, 0u8, 12u32), (0x06, 1, 255, u32::MAX)] {
            program.extend_from_slice(&code.to_ne_bytes());
            program.extend_from_slice(&[jt, jf]);
            program.extend_from_slice(&k.to_ne_bytes());
        }
        let mut b = net_bytes(10, 0, Some(icmp), &program);
        let flags = NET_SOCKET_READ | NET_FILTER_LEN | NET_FILTER_PROGRAM;
        b[76..80].copy_from_slice(&flags.to_ne_bytes());
        b[84] = 26;
        b[86..88].copy_from_slice(&2u16.to_ne_bytes());
        let attached = net(&b);
        assert_eq!(attached.addr, None, "a program is no address");
        let instructions = |code, jt, jf, k| ClassicInstruction { code, jt, jf, k };
        assert_eq!(
            attached.filter.and_then(|f| f.program),
            Some(FilterProgram::Classic(vec![
                instructions(0x28, 0, 0, 12),
                instructions(0x06, 1, 255, u32::MAX)
            ]))
        );
        // A program cut mid-instruction is malformed, not read short.
        b.truncate(b.len() - 1);
        b[80..84].copy_from_slice(&15u32.to_ne_bytes());
        assert!(matches!(
            parse(&b),
            Err(RecordError::Short {
                kind: "classic filter",
                ..
            })
        ));

        // An eBPF program attached: no length, and the program's identity.
        let mut identity = vec![0xab, 0xcd, 0, 1, 2, 3, 4, 5];
        identity.extend_from_slice(&77u32.to_ne_bytes());
        identity.extend_from_slice(&9u32.to_ne_bytes());
        identity.extend_from_slice(b"sniff\0\0\0\0\0\0\0\0\0\0\0");
        let mut b = net_bytes(10, 0, Some(icmp), &identity);
        b[76..80].copy_from_slice(&(NET_SOCKET_READ | NET_FILTER_EBPF).to_ne_bytes());
        b[84] = 50;
        let filter = net(&b).filter.expect("a setsockopt's filter");
        assert_eq!(
            (filter.option_name(), filter.instructions),
            ("SO_ATTACH_BPF".to_string(), None)
        );
        assert_eq!(
            filter.program,
            Some(FilterProgram::Ebpf(EbpfProgram {
                id: 77,
                tag: [0xab, 0xcd, 0, 1, 2, 3, 4, 5],
                name: "sniff".into(),
                instructions: 9,
            }))
        );
        b.truncate(b.len() - 1);
        b[80..84].copy_from_slice(&31u32.to_ne_bytes());
        assert!(matches!(
            parse(&b),
            Err(RecordError::Short {
                kind: "eBPF filter",
                ..
            })
        ));
    }

    #[test]
    fn short_and_unknown_file_records_are_errors() {
        let mut b = file_bytes(1, 3, 77, 0, [b"name\0", b"dir\0", b"", b""]);
        b.truncate(b.len() - 1);
        assert!(matches!(
            parse(&b),
            Err(RecordError::Short { kind: "file", .. })
        ));
        assert!(matches!(
            parse(&b[..40]),
            Err(RecordError::Short { kind: "file", .. })
        ));
        let unknown = file_bytes(99, 0, 0, 0, [b"", b"", b"", b""]);
        assert_eq!(parse(&unknown), Err(RecordError::UnknownKind(KIND_FILE)));
    }

    #[test]
    fn short_and_unknown_records_are_errors() {
        assert_eq!(
            parse(&[0; 10]),
            Err(RecordError::Short {
                kind: "any",
                len: 10
            })
        );
        assert_eq!(parse(&header(9, 1, 1, 1)), Err(RecordError::UnknownKind(9)));
        let mut b = exec_bytes(b"x\0", b"", b"a\0", b"");
        b.truncate(b.len() - 1);
        assert!(matches!(
            parse(&b),
            Err(RecordError::Short { kind: "exec", .. })
        ));
    }

    proptest! {
        #[test]
        fn any_bytes_decode_or_fail_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = parse(&bytes);
        }

        #[test]
        fn any_exec_header_with_data_decodes_or_fails(
            kind in 1u32..5, lens in any::<[u16; 2]>(), args_len in any::<u32>(),
            data in proptest::collection::vec(any::<u8>(), 0..300)
        ) {
            let mut b = exec_bytes(b"", b"", b"", b"");
            b[0..4].copy_from_slice(&kind.to_ne_bytes());
            b[68..70].copy_from_slice(&lens[0].to_ne_bytes());
            b[70..72].copy_from_slice(&lens[1].to_ne_bytes());
            b[72..76].copy_from_slice(&args_len.to_ne_bytes());
            b.extend_from_slice(&data);
            let _ = parse(&b);
        }
    }
}

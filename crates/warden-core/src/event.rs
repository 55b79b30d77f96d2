//! The one event model: what every source produces and every sink (store, JSON stream, SQL)
//! consumes. Sources fill what they know; enrichment fills the rest; nothing here does IO.

use crate::identity::ProcessKey;

/// One thing that happened on the host.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// When it happened: nanoseconds since the UNIX epoch, UTC.
    pub time_ns: i64,
    pub host: String,
    pub kind: EventKind,
}

#[derive(Clone, Debug, PartialEq)]
pub enum EventKind {
    Exec(ExecEvent),
    Fork(ForkEvent),
    Exit(ExitEvent),
    /// Events that could not be recorded: the loss itself is an event.
    Loss(LossEvent),
}

impl EventKind {
    /// The event class name users filter on (`warden events --class`).
    pub fn class(&self) -> &'static str {
        match self {
            EventKind::Exec(_) => "exec",
            EventKind::Fork(_) => "fork",
            EventKind::Exit(_) => "exit",
            EventKind::Loss(_) => "loss",
        }
    }

    /// The process the event is about, if any.
    pub fn process(&self) -> Option<&Process> {
        match self {
            EventKind::Exec(e) => Some(&e.process),
            EventKind::Fork(e) => Some(&e.child),
            EventKind::Exit(e) => Some(&e.process),
            EventKind::Loss(_) => None,
        }
    }
}

/// A process as an event describes it: identity, credentials, image and parent.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Process {
    pub key: Option<ProcessKey>,
    pub pid: u32,
    /// The parent pid the kernel reports now (1 or a subreaper after re-parenting).
    pub ppid: Option<u32>,
    /// The parent pid at creation, when it differs from `ppid` (the process was re-parented).
    pub original_ppid: Option<u32>,
    /// Process start, nanoseconds since the UNIX epoch.
    pub start_ns: Option<i64>,
    pub uid: Option<u32>,
    pub euid: Option<u32>,
    pub gid: Option<u32>,
    pub egid: Option<u32>,
    pub user_name: Option<String>,
    pub euser_name: Option<String>,
    pub group_name: Option<String>,
    /// Login uid (audit's auid) and session id; None when unset.
    pub auid: Option<u32>,
    pub session_id: Option<u32>,
    pub tty: Option<String>,
    pub comm: Option<String>,
    /// Executable path, as bytes: paths need not be UTF-8.
    pub exe: Option<Vec<u8>>,
    pub args: Vec<Vec<u8>>,
    pub cwd: Option<Vec<u8>>,
    pub executable: Option<Executable>,
    pub container_id: Option<String>,
    pub parent: Option<Parent>,
}

impl Process {
    pub fn entity_id(&self) -> Option<String> {
        self.key.map(|k| k.entity_id())
    }
}

/// The parent of a process, as far as known when the event was made.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Parent {
    pub key: Option<ProcessKey>,
    pub pid: u32,
    pub exe: Option<Vec<u8>>,
    pub args: Vec<Vec<u8>>,
}

/// What Warden learned about an executable file (computed once per file version).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Executable {
    pub sha256: Option<String>,
    pub size: Option<u64>,
    pub inode: Option<u64>,
    pub device: Option<u64>,
    pub owner_uid: Option<u32>,
    pub owner_gid: Option<u32>,
    /// Permission bits and file type, as `st_mode`.
    pub mode: Option<u32>,
    pub mtime_ns: Option<i64>,
    pub ctime_ns: Option<i64>,
    /// The Debian package that installed the file, if any.
    pub package: Option<String>,
    /// Whether the file still matches the digest its package recorded (None: no digest known).
    pub package_verified: Option<bool>,
    /// The ELF GNU build-id, hex.
    pub build_id: Option<String>,
    /// Download origin and referrer (`user.xdg.origin.url`, `user.xdg.referrer.url` xattrs).
    pub origin_url: Option<String>,
    pub referrer_url: Option<String>,
}

/// Which source saw an exec.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExecSource {
    /// The kernel audit stream: complete argv, exe, cwd from the records themselves.
    Audit,
    /// The process connector, completed from /proc (racy for short-lived processes).
    ProcConnector,
    /// Found running in /proc when the agent started.
    ProcScan,
}

impl ExecSource {
    pub fn name(self) -> &'static str {
        match self {
            ExecSource::Audit => "audit",
            ExecSource::ProcConnector => "proc_connector",
            ExecSource::ProcScan => "procfs",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ExecEvent {
    pub process: Process,
    pub source: ExecSource,
    /// `execve` or `execveat`, when the source knows.
    pub syscall: Option<String>,
    pub success: bool,
    /// The syscall's return value or errno (audit `exit=`).
    pub exit: Option<i64>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ForkEvent {
    /// The new process; its `parent` is the forking process.
    pub child: Process,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ExitEvent {
    pub process: Process,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    /// How long the process lived, when its start is known.
    pub duration_ns: Option<i64>,
}

/// Events that were lost, and why: the loss is itself recorded.
#[derive(Clone, Debug, PartialEq)]
pub struct LossEvent {
    /// Where: "audit", "proc_connector", "pipeline", "store", ...
    pub source: String,
    /// Why: "kernel_lost", "socket_overrun", "queue_full", "malformed", ...
    pub cause: String,
    pub count: u64,
}

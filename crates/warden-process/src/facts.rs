//! The table's inputs: plain facts each source's records are mapped onto, and the /proc seam.

use warden_core::Argv;
/// A process found running in /proc when the agent started (or looked up later for a pid the
/// table did not know).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SeedProcess {
    /// Thread-group id.
    pub pid: u32,
    /// The parent pid /proc reports now (None for pid 1 and kthreadd, whose ppid is 0).
    pub ppid: Option<u32>,
    /// Start time in clock ticks since boot, /proc/PID/stat field 22.
    pub start_ticks: u64,
    /// Real user id.
    pub uid: Option<u32>,
    /// Effective user id.
    pub euid: Option<u32>,
    /// Real group id.
    pub gid: Option<u32>,
    /// Effective group id.
    pub egid: Option<u32>,
    /// Login uid (/proc/PID/loginuid); None when unset (4294967295).
    pub auid: Option<u32>,
    /// Audit session id (/proc/PID/sessionid); None when unset.
    pub session: Option<u32>,
    /// Controlling terminal name, e.g. `pts/0`.
    pub tty: Option<String>,
    /// The 16-byte task name.
    pub comm: Option<String>,
    /// Executable path (/proc/PID/exe), as bytes.
    pub exe: Option<Vec<u8>>,
    /// Arguments (/proc/PID/cmdline split on NUL).
    pub args: Argv,
    /// Working directory (/proc/PID/cwd).
    pub cwd: Option<Vec<u8>>,
}

/// A new thread group: the process connector's FORK (pid == tgid only), or audit's clone/fork.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ForkFact {
    /// The forking process (tgid).
    pub parent_pid: u32,
    /// The new process (tgid).
    pub child_pid: u32,
    /// The child's start ticks if the caller could read /proc/CHILD/stat; otherwise the table
    /// derives them from `boot_ns`.
    pub child_start_ticks: Option<u64>,
    /// Kernel timestamp of the fork, nanoseconds since boot on the clock /proc uses for start
    /// times (CLOCK_BOOTTIME; the connector stamps with CLOCK_MONOTONIC, so the caller adds the
    /// boottime−monotonic offset when the host has been suspended).
    pub boot_ns: u64,
    /// Wall-clock time of the fork, nanoseconds since the UNIX epoch.
    pub time_ns: i64,
}

/// An exec: complete from audit (SYSCALL + EXECVE + CWD + PATH), or the connector's EXEC completed
/// from /proc. Fields a source does not know are None.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExecFact {
    /// The exec'ing process (tgid; audit's `pid=`).
    pub pid: u32,
    /// The parent pid at exec time (audit's `ppid=`), if known.
    pub ppid: Option<u32>,
    /// Start ticks if the source knows them (e.g. read from /proc/PID/stat).
    pub start_ticks: Option<u64>,
    /// Wall-clock time of the exec, nanoseconds since the UNIX epoch.
    pub time_ns: i64,
    /// Real user id after the exec.
    pub uid: Option<u32>,
    /// Effective user id after the exec.
    pub euid: Option<u32>,
    /// Real group id.
    pub gid: Option<u32>,
    /// Effective group id.
    pub egid: Option<u32>,
    /// Login uid; None when unset.
    pub auid: Option<u32>,
    /// Audit session id; None when unset.
    pub session: Option<u32>,
    /// Controlling terminal, e.g. `pts/0`; None for `(none)`.
    pub tty: Option<String>,
    /// Task name after the exec.
    pub comm: Option<String>,
    /// Executable path.
    pub exe: Option<Vec<u8>>,
    /// Arguments, `argv[0]` first.
    pub args: Argv,
    /// Working directory.
    pub cwd: Option<Vec<u8>>,
    /// Whether the exec succeeded. A failed exec is reported but leaves the table's image as is.
    pub success: bool,
    /// `execve` or `execveat`, when the source knows.
    pub syscall: Option<String>,
    /// The syscall's return value or errno (audit `exit=`).
    pub exit: Option<i64>,
}

/// A thread group ended: the connector's EXIT (pid == tgid), or audit's `exit_group`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExitFact {
    /// The process (tgid).
    pub pid: u32,
    /// Its start time in clock ticks, when the source tells (eBPF): the exit is then matched
    /// to that process only, and reported even if the table never knew it.
    pub start_ticks: Option<u64>,
    /// Exit status, when known.
    pub exit_code: Option<i32>,
    /// Terminating signal, when known.
    pub signal: Option<i32>,
    /// Kernel timestamp of the exit, nanoseconds since boot.
    pub boot_ns: u64,
    /// Wall-clock time of the exit, nanoseconds since the UNIX epoch.
    pub time_ns: i64,
}

/// Lookups of a pid the table does not know (or must check). The binary implements it over
/// /proc; both calls race with the process exiting and then return None.
pub trait ProcSource {
    /// The start ticks of the process now holding `pid` (/proc/PID/stat field 22).
    fn start_ticks(&self, pid: u32) -> Option<u64>;
    /// Everything /proc says about `pid`.
    fn snapshot(&self, pid: u32) -> Option<SeedProcess>;
}

/// A [`ProcSource`] that knows nothing: for replays and hosts where /proc must not be read.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoProcSource;

impl ProcSource for NoProcSource {
    fn start_ticks(&self, _pid: u32) -> Option<u64> {
        None
    }

    fn snapshot(&self, _pid: u32) -> Option<SeedProcess> {
        None
    }
}

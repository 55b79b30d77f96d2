//! /proc reading to seed the process table before the event sources start: every process with
//! its identity (pid, start time in clock ticks since boot), parent, ids, exe, argv, cwd, comm,
//! tty and session; plus the boot id and the clock facts needed to relate kernel timestamps.
//!
//! Parsers (`parse_*`) are pure and take the file contents; [`processes`] and [`read_process`]
//! do the IO. A process that exits mid-scan is skipped; a field that cannot be read for one
//! process (a kernel thread has no exe, another user's cwd needs privilege) is `None`.

use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use thiserror::Error;

/// Why one process could not be read.
#[derive(Debug, Error)]
pub enum ProcError {
    /// The process is gone (exited between listing and reading).
    #[error("process {0} vanished")]
    Vanished(u32),
    /// A file had an unexpected format.
    #[error("malformed /proc/{pid}/{file}: {why}")]
    Malformed {
        /// The pid.
        pid: u32,
        /// The file.
        file: &'static str,
        /// What was wrong.
        why: &'static str,
    },
    /// Any other read error.
    #[error("reading /proc/{pid}/{file}: {source}")]
    Io {
        /// The pid.
        pid: u32,
        /// The file.
        file: &'static str,
        /// The OS error.
        source: io::Error,
    },
}

/// The fields of `/proc/PID/stat` Warden uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stat {
    /// Field 1: pid.
    pub pid: u32,
    /// Field 2: comm (between the first `(` and the last `)`; may contain anything).
    pub comm: Vec<u8>,
    /// Field 3: state letter.
    pub state: u8,
    /// Field 4: parent pid.
    pub ppid: u32,
    /// Field 5: process group.
    pub pgrp: i32,
    /// Field 6: session id.
    pub session: i32,
    /// Field 7: controlling terminal (`major << 8 | minor` in the low bits; 0 = none).
    pub tty_nr: i32,
    /// Field 22: start time in clock ticks since boot.
    pub start_ticks: u64,
}

/// Parse `/proc/PID/stat`. `None` if the format is not recognised.
pub fn parse_stat(b: &[u8]) -> Option<Stat> {
    let open = b.iter().position(|&c| c == b'(')?;
    let close = b.iter().rposition(|&c| c == b')')?;
    if close < open {
        return None;
    }
    let pid = std::str::from_utf8(&b[..open]).ok()?.trim().parse().ok()?;
    let comm = b[open + 1..close].to_vec();
    let rest = std::str::from_utf8(b.get(close + 1..)?).ok()?;
    let f: Vec<&str> = rest.split_ascii_whitespace().collect();
    // f[0] is field 3 (state), so field N is f[N - 3].
    let field = |n: usize| f.get(n - 3).copied();
    Some(Stat {
        pid,
        comm,
        state: *field(3)?.as_bytes().first()?,
        ppid: field(4)?.parse().ok()?,
        pgrp: field(5)?.parse().ok()?,
        session: field(6)?.parse().ok()?,
        tty_nr: field(7)?.parse().ok()?,
        start_ticks: field(22)?.parse().ok()?,
    })
}

/// Real and effective user and group ids.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ids {
    /// Real uid.
    pub uid: u32,
    /// Effective uid.
    pub euid: u32,
    /// Real gid.
    pub gid: u32,
    /// Effective gid.
    pub egid: u32,
}

/// Parse the `Uid:` and `Gid:` lines of `/proc/PID/status` (real, effective, saved, fs).
pub fn parse_status_ids(text: &str) -> Option<Ids> {
    let pair = |prefix: &str| -> Option<(u32, u32)> {
        let line = text.lines().find(|l| l.starts_with(prefix))?;
        let mut it = line[prefix.len()..].split_ascii_whitespace();
        Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
    };
    let (uid, euid) = pair("Uid:")?;
    let (gid, egid) = pair("Gid:")?;
    Some(Ids {
        uid,
        euid,
        gid,
        egid,
    })
}

/// Split `/proc/PID/cmdline` into arguments (NUL-separated; the trailing NUL ends the last one).
/// Empty for kernel threads and zombies.
pub fn parse_cmdline(b: &[u8]) -> Vec<Vec<u8>> {
    if b.is_empty() {
        return Vec::new();
    }
    let b = b.strip_suffix(&[0]).unwrap_or(b);
    b.split(|&c| c == 0).map(<[u8]>::to_vec).collect()
}

/// One process as /proc shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessInfo {
    /// Process id (thread group id).
    pub pid: u32,
    /// Parent pid (0 for pid 1 and kthreadd).
    pub ppid: u32,
    /// Start time, clock ticks since boot (`/proc/PID/stat` field 22). With the boot id and the
    /// pid it identifies the process across pid reuse.
    pub start_ticks: u64,
    /// Real uid.
    pub uid: u32,
    /// Effective uid.
    pub euid: u32,
    /// Real gid.
    pub gid: u32,
    /// Effective gid.
    pub egid: u32,
    /// `/proc/PID/exe` target; `None` for kernel threads, zombies or without privilege. A
    /// deleted binary reads as `"/path (deleted)"`.
    pub exe: Option<Vec<u8>>,
    /// argv as bytes (empty for kernel threads).
    pub cmdline: Vec<Vec<u8>>,
    /// Current directory; `None` when unreadable.
    pub cwd: Option<Vec<u8>>,
    /// Command name (at most 15 bytes, from stat).
    pub comm: Vec<u8>,
    /// State letter (R, S, D, Z, ...).
    pub state: u8,
    /// Controlling terminal device number, 0 = none.
    pub tty_nr: i32,
    /// Session id.
    pub session: i32,
}

fn io_err(pid: u32, file: &'static str, e: io::Error) -> ProcError {
    match e.raw_os_error() {
        Some(libc::ENOENT | libc::ESRCH) => ProcError::Vanished(pid),
        _ => ProcError::Io {
            pid,
            file,
            source: e,
        },
    }
}

fn link(dir: &Path, name: &str) -> Option<Vec<u8>> {
    fs::read_link(dir.join(name))
        .ok()
        .map(|p| p.as_os_str().as_bytes().to_vec())
}

/// Read one process from `root` (normally `/proc`).
pub fn read_process_in(root: &Path, pid: u32) -> Result<ProcessInfo, ProcError> {
    let dir = root.join(pid.to_string());
    let stat_bytes = fs::read(dir.join("stat")).map_err(|e| io_err(pid, "stat", e))?;
    let stat = parse_stat(&stat_bytes).ok_or(ProcError::Malformed {
        pid,
        file: "stat",
        why: "unrecognised format",
    })?;
    let status = fs::read_to_string(dir.join("status")).map_err(|e| io_err(pid, "status", e))?;
    let ids = parse_status_ids(&status).ok_or(ProcError::Malformed {
        pid,
        file: "status",
        why: "no Uid:/Gid: lines",
    })?;
    let cmdline = fs::read(dir.join("cmdline"))
        .map(|b| parse_cmdline(&b))
        .unwrap_or_default();
    let exe = link(&dir, "exe");
    let cwd = link(&dir, "cwd");
    // Still the same process? (The pid could have been reused while we read.)
    if !dir.join("stat").exists() {
        return Err(ProcError::Vanished(pid));
    }
    Ok(ProcessInfo {
        pid,
        ppid: stat.ppid,
        start_ticks: stat.start_ticks,
        uid: ids.uid,
        euid: ids.euid,
        gid: ids.gid,
        egid: ids.egid,
        exe,
        cmdline,
        cwd,
        comm: stat.comm,
        state: stat.state,
        tty_nr: stat.tty_nr,
        session: stat.session,
    })
}

/// The descriptors process `pid` holds open on inode `inode`, each as (its number, its open
/// flags), from its fdinfo (`ino:` and `flags:`; read without touching the files, whose server
/// could keep a look at them waiting). Lazy: a caller that takes the first reads no further.
pub fn fds_on_inode(pid: u32, inode: u64) -> impl Iterator<Item = (String, i32)> {
    let fds = fs::read_dir(format!("/proc/{pid}/fdinfo")).ok();
    fds.into_iter().flatten().flatten().filter_map(move |fd| {
        let info = fs::read_to_string(fd.path()).ok()?;
        let field = |name: &str| info.lines().find_map(|line| line.strip_prefix(name));
        if field("ino:")?.trim().parse::<u64>().ok()? != inode {
            return None;
        }
        let flags = i32::from_str_radix(field("flags:")?.trim(), 8).ok()?;
        Some((fd.file_name().to_string_lossy().into_owned(), flags))
    })
}

/// A process's start time in clock ticks since boot (/proc/PID/stat field 22): one small read,
/// for the hot path that needs only the identity.
pub fn start_ticks(pid: u32) -> Option<u64> {
    let stat = fs::read(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&stat).map(|s| s.start_ticks)
}

/// Read one process from `/proc`.
pub fn read_process(pid: u32) -> Result<ProcessInfo, ProcError> {
    read_process_in(Path::new("/proc"), pid)
}

/// The pids listed under `root` (numeric directory names), sorted.
pub fn pids_in(root: &Path) -> io::Result<Vec<u32>> {
    let mut pids: Vec<u32> = fs::read_dir(root)?
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    pids.sort_unstable();
    Ok(pids)
}

/// Every process under `root`, skipping those that vanish mid-scan. Other per-process errors
/// are returned beside the list (the scan goes on).
pub fn processes_in(root: &Path) -> io::Result<(Vec<ProcessInfo>, Vec<ProcError>)> {
    let mut list = Vec::new();
    let mut errors = Vec::new();
    for pid in pids_in(root)? {
        match read_process_in(root, pid) {
            Ok(p) => list.push(p),
            Err(ProcError::Vanished(_)) => {}
            Err(e) => errors.push(e),
        }
    }
    Ok((list, errors))
}

/// Every process in `/proc` (see [`processes_in`]); per-process errors other than vanishing are
/// dropped.
pub fn processes() -> io::Result<Vec<ProcessInfo>> {
    processes_in(Path::new("/proc")).map(|(list, _)| list)
}

/// This boot's id (`/proc/sys/kernel/random/boot_id`, a UUID), changed by every reboot.
pub fn boot_id() -> io::Result<String> {
    Ok(fs::read_to_string("/proc/sys/kernel/random/boot_id")?
        .trim()
        .to_owned())
}

/// Clock ticks per second (`sysconf(_SC_CLK_TCK)`, USER_HZ, 100 on Linux): the unit of
/// [`ProcessInfo::start_ticks`].
pub fn clock_ticks() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as u64 } else { 100 }
}

fn clock_ns(id: libc::clockid_t) -> Option<u128> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid timespec to write.
    if unsafe { libc::clock_gettime(id, &mut ts) } != 0 {
        return None;
    }
    Some(ts.tv_sec as u128 * 1_000_000_000 + ts.tv_nsec as u128)
}

/// Nanoseconds since boot on `CLOCK_BOOTTIME` (counts suspend). The proc connector's
/// `timestamp_ns` is on `CLOCK_MONOTONIC` (`ktime_get_ns`), which equals this when the machine
/// never suspended.
pub fn boottime_ns() -> u64 {
    clock_ns(libc::CLOCK_BOOTTIME).unwrap_or(0) as u64
}

/// The wall clock (`CLOCK_REALTIME`) in ns since the Unix epoch.
pub fn realtime_ns() -> i64 {
    clock_ns(libc::CLOCK_REALTIME).map_or(0, |ns| i64::try_from(ns).unwrap_or(i64::MAX))
}

/// Nanoseconds on `CLOCK_MONOTONIC` (the clock of the proc connector's `timestamp_ns`).
pub fn monotonic_ns() -> u64 {
    clock_ns(libc::CLOCK_MONOTONIC).unwrap_or(0) as u64
}

/// Wall-clock time of boot in ns since the Unix epoch: `CLOCK_REALTIME - CLOCK_BOOTTIME`
/// (nanosecond precision; moves with NTP steps). Falls back to `btime` of `/proc/stat`
/// (second precision).
pub fn boot_time_ns() -> u64 {
    // Read BOOTTIME twice around REALTIME and take the middle, to bound the skew.
    let a = clock_ns(libc::CLOCK_BOOTTIME);
    let r = clock_ns(libc::CLOCK_REALTIME);
    let b = clock_ns(libc::CLOCK_BOOTTIME);
    if let (Some(a), Some(r), Some(b)) = (a, r, b) {
        return r.saturating_sub((a + b) / 2) as u64;
    }
    fs::read_to_string("/proc/stat")
        .ok()
        .as_deref()
        .and_then(parse_btime)
        .map_or(0, |s| s * 1_000_000_000)
}

/// The `btime` line of `/proc/stat`: boot time in seconds since the epoch.
pub fn parse_btime(stat: &str) -> Option<u64> {
    stat.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_odd_comm() {
        let line = b"4242 (a) b (c)) S 1 4242 4242 34816 4242 4194560 120 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
        let s = parse_stat(line).unwrap();
        assert_eq!(s.pid, 4242);
        assert_eq!(s.comm, b"a) b (c)");
        assert_eq!(s.state, b'S');
        assert_eq!(s.ppid, 1);
        assert_eq!(s.session, 4242);
        assert_eq!(s.tty_nr, 34816);
        assert_eq!(s.start_ticks, 987654);
        assert!(parse_stat(b"12 (x").is_none());
        assert!(parse_stat(b"12 (x) S 1").is_none());
    }

    #[test]
    fn status_ids() {
        let text = "Name:\tbash\nUid:\t1000\t1001\t1002\t1003\nGid:\t10\t11\t12\t13\n";
        assert_eq!(
            parse_status_ids(text),
            Some(Ids {
                uid: 1000,
                euid: 1001,
                gid: 10,
                egid: 11
            })
        );
        assert_eq!(parse_status_ids("Name: x\n"), None);
    }

    #[test]
    fn cmdline_split() {
        assert_eq!(parse_cmdline(b""), Vec::<Vec<u8>>::new());
        assert_eq!(
            parse_cmdline(b"ls\0-l\0\0x\0"),
            vec![b"ls".to_vec(), b"-l".to_vec(), b"".to_vec(), b"x".to_vec()]
        );
        // A process that rewrote its title without a final NUL.
        assert_eq!(
            parse_cmdline(b"nginx: worker"),
            vec![b"nginx: worker".to_vec()]
        );
    }

    #[test]
    fn btime() {
        assert_eq!(
            parse_btime("cpu 1 2\nbtime 1700000000\n"),
            Some(1_700_000_000)
        );
        assert_eq!(parse_btime("cpu 1 2\n"), None);
    }

    #[test]
    fn fixture_tree_skips_vanished() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("77");
        fs::create_dir(&p).unwrap();
        fs::write(p.join("stat"), "77 (sh) S 5 77 77 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 555 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n").unwrap();
        fs::write(p.join("status"), "Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\n").unwrap();
        fs::write(p.join("cmdline"), b"sh\0-c\0true\0").unwrap();
        fs::create_dir(dir.path().join("78")).unwrap(); // vanished: no files
        fs::create_dir(dir.path().join("self")).unwrap();
        let (list, errors) = processes_in(dir.path()).unwrap();
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].ppid, 5);
        assert_eq!(list[0].start_ticks, 555);
        assert_eq!(list[0].cmdline.len(), 3);
        assert_eq!(list[0].exe, None);
    }
}

//! Fast, hand-written readers of /proc/PID for the process tables: the pid list a query needs,
//! one-read loads of per-pid files into a reusable buffer, file descriptor links, and pure
//! parsers of `stat`, `status` and namespace links.

use std::fmt::Write as _;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;

use crate::QueryContext;

/// The pids a scan covers: the `pid = …` / `pid IN (…)` values when the query gives them
/// (positive ones only: a missing pid simply yields no row), otherwise every process in /proc.
pub(crate) fn pids(ctx: &QueryContext) -> Vec<i64> {
    match ctx.equal_ints("pid") {
        Some(wanted) => wanted.into_iter().filter(|p| *p > 0).collect(),
        None => all_pids(),
    }
}

/// Every process id listed in /proc, ascending.
pub(crate) fn all_pids() -> Vec<i64> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut out: Vec<i64> = dir
        .flatten()
        .filter_map(|e| parse_pid(e.file_name().as_bytes()))
        .collect();
    out.sort_unstable();
    out
}

/// A /proc directory name as a pid (`"123"` → 123; `"self"`, `"0"` → none).
pub(crate) fn parse_pid(name: &[u8]) -> Option<i64> {
    if name.is_empty() || !name.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(name)
        .ok()?
        .parse()
        .ok()
        .filter(|p| *p > 0)
}

/// How a /proc file must be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shape {
    /// One record (stat, status, cmdline, environ, io, cgroup): a read that does not fill the
    /// buffer returned the whole file, so one read is enough.
    Single,
    /// A sequence of records (maps, net/tcp): the kernel may stop early, so read until EOF.
    Records,
}

/// Reads /proc files into one reusable buffer, so a scan of every process allocates once.
#[derive(Debug)]
pub(crate) struct ProcReader {
    buf: Vec<u8>,
    path: String,
}

impl ProcReader {
    pub(crate) fn new() -> ProcReader {
        ProcReader {
            buf: vec![0; 16 * 1024],
            path: String::with_capacity(64),
        }
    }

    /// `/proc/<pid>/<name>` in the reusable path buffer.
    fn pid_path(&mut self, pid: i64, name: &str) -> &str {
        self.path.clear();
        let _ = write!(self.path, "/proc/{pid}/{name}");
        &self.path
    }

    /// The contents of `/proc/<pid>/<name>`, or `None` when it cannot be read (the process
    /// exited, or permission is denied).
    pub(crate) fn read(&mut self, pid: i64, name: &str, shape: Shape) -> Option<&[u8]> {
        self.pid_path(pid, name);
        let path = std::mem::take(&mut self.path);
        let n = read_into(&path, &mut self.buf, shape);
        self.path = path;
        n.map(|n| &self.buf[..n])
    }

    /// The contents of any file, read the same way.
    pub(crate) fn read_path(&mut self, path: &str, shape: Shape) -> Option<&[u8]> {
        read_into(path, &mut self.buf, shape).map(|n| &self.buf[..n])
    }

    /// The target of the symlink `/proc/<pid>/<name>` (exe, cwd, root, ns/net, fd/3).
    pub(crate) fn readlink(&mut self, pid: i64, name: &str) -> Option<String> {
        let path = self.pid_path(pid, name);
        let target = nix::fcntl::readlink(path).ok()?;
        Some(String::from_utf8_lossy(target.as_bytes()).into_owned())
    }
}

/// Reads a file into `buf` (growing it when full) and returns the length read.
fn read_into(path: &str, buf: &mut Vec<u8>, shape: Shape) -> Option<usize> {
    let mut file = std::fs::File::open(path).ok()?;
    let mut len = 0;
    loop {
        if len == buf.len() {
            buf.resize(buf.len() * 2, 0);
        }
        let n = match file.read(&mut buf[len..]) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            // An error after some data (a process exiting mid-read) keeps what was read.
            Err(_) if len > 0 => return Some(len),
            Err(_) => return None,
        };
        len += n;
        if n == 0 || (shape == Shape::Single && len < buf.len()) {
            return Some(len);
        }
    }
}

/// Calls `each(fd, link)` for every descriptor in /proc/<pid>/fd whose link can be read.
/// Returns false when the directory cannot be opened (process gone, permission denied).
pub(crate) fn for_each_fd(pid: i64, mut each: impl FnMut(i64, &[u8])) -> bool {
    let mut path = format!("/proc/{pid}/fd/");
    let Ok(dir) = std::fs::read_dir(&path) else {
        return false;
    };
    let fds: Vec<i64> = dir
        .flatten()
        .filter_map(|e| parse_fd(e.file_name().as_bytes()))
        .collect();
    let base = path.len();
    for fd in fds {
        path.truncate(base);
        let _ = write!(path, "{fd}");
        // A descriptor closed since the listing has no link: skip it.
        if let Ok(link) = nix::fcntl::readlink(path.as_str()) {
            each(fd, link.as_bytes());
        }
    }
    true
}

/// A /proc/PID/fd entry name as a descriptor number (`"."` and `".."` are not).
fn parse_fd(name: &[u8]) -> Option<i64> {
    if name.is_empty() || !name.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(name).ok()?.parse().ok()
}

/// The number inside a link like `socket:[1234]`, `pipe:[99]` or `net:[4026531833]` whose
/// prefix is `kind`.
pub(crate) fn bracketed_inode(link: &[u8], kind: &str) -> Option<u64> {
    let rest = link.strip_prefix(kind.as_bytes())?.strip_prefix(b":[")?;
    let digits = rest.strip_suffix(b"]")?;
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// The inode of one of a process's namespaces (`kind` is `net`, `mnt`, …), from the link
/// /proc/PID/ns/<kind>.
pub(crate) fn namespace_inode(pid: i64, kind: &str) -> Option<u64> {
    let link = nix::fcntl::readlink(format!("/proc/{pid}/ns/{kind}").as_str()).ok()?;
    bracketed_inode(link.as_bytes(), kind)
}

/// Converts the raw bytes of a /proc text field into a `String`.
pub(crate) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The fields of /proc/PID/stat the tables use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Stat {
    /// The command name (`comm`, at most 15 bytes; may contain spaces and parentheses).
    pub comm: String,
    pub state: String,
    pub ppid: i64,
    pub pgrp: i64,
    /// The kernel's `PF_*` flags of the task.
    pub flags: u64,
    /// Clock ticks in user and kernel mode.
    pub utime: u64,
    pub stime: u64,
    pub nice: i64,
    pub threads: i64,
    /// Clock ticks after boot when the process started.
    pub starttime: u64,
    /// Virtual memory size in bytes.
    pub vsize: u64,
    /// Resident set size in pages.
    pub rss: u64,
}

/// `PF_KTHREAD`: the task is a kernel thread (no memory map, no executable).
pub(crate) const PF_KTHREAD: u64 = 0x0020_0000;

impl Stat {
    pub(crate) fn is_kernel_thread(&self) -> bool {
        self.flags & PF_KTHREAD != 0
    }
}

/// Parses /proc/PID/stat: `pid (comm) state ppid …`. The command name may itself contain
/// `)` and spaces, so it runs from the first `(` to the last `)`.
pub(crate) fn parse_stat(content: &[u8]) -> Option<Stat> {
    let open = content.iter().position(|&b| b == b'(')?;
    let close = content.iter().rposition(|&b| b == b')')?;
    if close < open {
        return None;
    }
    let comm = text(&content[open + 1..close]);
    let rest = std::str::from_utf8(content.get(close + 1..)?).ok()?;
    let f: Vec<&str> = rest.split_ascii_whitespace().take(22).collect();
    if f.len() < 22 {
        return None;
    }
    let int = |i: usize| f[i].parse::<i64>().ok();
    let uint = |i: usize| f[i].parse::<u64>().ok();
    Some(Stat {
        comm,
        state: f[0].to_string(),
        ppid: int(1)?,
        pgrp: int(2)?,
        flags: uint(6)?,
        utime: uint(11)?,
        stime: uint(12)?,
        nice: int(16)?,
        threads: int(17)?,
        starttime: uint(19)?,
        vsize: uint(20)?,
        rss: uint(21)?,
    })
}

/// Real, effective and saved user and group ids from /proc/PID/status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Ids {
    pub uid: [i64; 3],
    pub gid: [i64; 3],
}

/// Parses the `Uid:` and `Gid:` lines of /proc/PID/status (`real effective saved fs`).
pub(crate) fn parse_status_ids(content: &[u8]) -> Option<Ids> {
    let text = std::str::from_utf8(content).ok()?;
    let mut uid = None;
    let mut gid = None;
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let slot = match key {
            "Uid" => &mut uid,
            "Gid" => &mut gid,
            _ => continue,
        };
        let v: Vec<i64> = value
            .split_ascii_whitespace()
            .filter_map(|n| n.parse().ok())
            .collect();
        if v.len() >= 3 {
            *slot = Some([v[0], v[1], v[2]]);
        }
        if uid.is_some() && gid.is_some() {
            break;
        }
    }
    Some(Ids {
        uid: uid?,
        gid: gid?,
    })
}

/// The bytes of a NUL-separated list (cmdline, environ) as its items, without empty trailing
/// items.
pub(crate) fn nul_items(content: &[u8]) -> impl Iterator<Item = &[u8]> {
    content.split(|&b| b == 0).filter(|item| !item.is_empty())
}

/// Whether a path exists (following symlinks).
pub(crate) fn exists(path: &str) -> bool {
    std::fs::metadata(path).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_spaces_and_parentheses_in_comm() {
        let line = b"4242 (my (odd) proc) S 1 4242 4242 0 -1 4194560 100 0 0 0 7 3 0 0 20 -5 4 0 \
12345 10485760 256 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
        let s = parse_stat(line).unwrap();
        assert_eq!(s.comm, "my (odd) proc");
        assert_eq!(s.state, "S");
        assert_eq!((s.ppid, s.pgrp), (1, 4242));
        assert_eq!((s.utime, s.stime), (7, 3));
        assert_eq!((s.nice, s.threads), (-5, 4));
        assert_eq!(s.starttime, 12345);
        assert_eq!(s.vsize, 10_485_760);
        assert_eq!(s.rss, 256);
        assert!(!s.is_kernel_thread());
    }

    #[test]
    fn kernel_threads_are_flagged_and_truncated_stat_is_rejected() {
        let kthread = b"2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 1 0 0 20 0 1 0 1 0 0 \
18446744073709551615 0 0 0 0 0 0 0 2147483647 0 0 0 0 0 1 0 0 0 0 0\n";
        assert!(parse_stat(kthread).unwrap().is_kernel_thread());
        assert!(parse_stat(b"12 (sh) S 1 2 3").is_none());
        assert!(parse_stat(b"garbage").is_none());
    }

    #[test]
    fn status_ids_are_real_effective_saved() {
        let status = "Name:\tbash\nUmask:\t0022\nState:\tS (sleeping)\nUid:\t1000\t0\t1001\t0\n\
Gid:\t100\t101\t102\t100\nFDSize:\t256\n";
        let ids = parse_status_ids(status.as_bytes()).unwrap();
        assert_eq!(ids.uid, [1000, 0, 1001]);
        assert_eq!(ids.gid, [100, 101, 102]);
        assert!(parse_status_ids(b"Name:\tx\n").is_none());
    }

    #[test]
    fn bracketed_inodes_parse_only_their_kind() {
        assert_eq!(bracketed_inode(b"socket:[1234]", "socket"), Some(1234));
        assert_eq!(
            bracketed_inode(b"net:[4026531833]", "net"),
            Some(4_026_531_833)
        );
        assert_eq!(bracketed_inode(b"pipe:[7]", "socket"), None);
        assert_eq!(bracketed_inode(b"socket:[]", "socket"), None);
        assert_eq!(bracketed_inode(b"/tmp/socket:[1]", "socket"), None);
    }

    #[test]
    fn pid_and_fd_names() {
        assert_eq!(parse_pid(b"123"), Some(123));
        assert_eq!(parse_pid(b"self"), None);
        assert_eq!(parse_pid(b"0"), None);
        assert_eq!(parse_fd(b"0"), Some(0));
        assert_eq!(parse_fd(b".."), None);
    }

    #[test]
    fn nul_lists_split_without_empty_items() {
        let items: Vec<&[u8]> = nul_items(b"ls\0-l\0\0/tmp\0").collect();
        assert_eq!(items, vec![&b"ls"[..], b"-l", b"/tmp"]);
    }

    #[test]
    fn reader_reads_own_stat_and_big_files() {
        let mut r = ProcReader::new();
        let me = i64::from(std::process::id());
        let stat = parse_stat(r.read(me, "stat", Shape::Single).unwrap()).unwrap();
        assert_eq!(stat.ppid, i64::from(nix::unistd::getppid().as_raw()));
        // maps of this test binary is longer than one kernel page: read to the end.
        let maps = r.read(me, "maps", Shape::Records).unwrap().to_vec();
        let expected = std::fs::read("/proc/self/maps").unwrap();
        let lines = |b: &[u8]| b.iter().filter(|&&c| c == b'\n').count();
        assert!(
            expected.len() > 4096,
            "maps fits one page; test proves nothing"
        );
        assert!(lines(&maps).abs_diff(lines(&expected)) < 8);
        assert_eq!(maps.last(), Some(&b'\n'));
        assert!(r.read(i64::from(i32::MAX), "stat", Shape::Single).is_none());
    }
}

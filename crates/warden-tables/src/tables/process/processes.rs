//! `processes`: every running process, from /proc/PID/{stat,status,cmdline,exe,cwd,root,io,
//! cgroup}, reading per pid only the files behind the columns the query uses.

use std::os::unix::fs::MetadataExt;
use std::sync::OnceLock;

use super::proc::{ProcReader, Shape, exists, parse_stat, parse_status_ids, pids, text};
use crate::{QueryContext, Rows, TableError};

/// Which per-pid sources a query needs.
struct Needs {
    exe: bool,
    cmdline: bool,
    cwd: bool,
    root: bool,
    ids: bool,
    io: bool,
    cgroup: bool,
    start_time: bool,
}

impl Needs {
    fn of(ctx: &QueryContext) -> Needs {
        let any = |cols: &[&str]| cols.iter().any(|c| ctx.wants(c));
        Needs {
            exe: any(&["path", "on_disk"]),
            cmdline: ctx.wants("cmdline"),
            cwd: ctx.wants("cwd"),
            root: ctx.wants("root"),
            ids: any(&["uid", "gid", "euid", "egid", "suid", "sgid"]),
            io: any(&["disk_bytes_read", "disk_bytes_written"]),
            cgroup: ctx.wants("cgroup_path"),
            start_time: ctx.wants("start_time"),
        }
    }
}

pub(crate) fn generate(ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    let needs = Needs::of(ctx);
    let tck = clock_ticks();
    let page = page_size();
    let boot = if needs.start_time { boot_time() } else { None };
    let mut reader = ProcReader::new();
    for pid in pids(ctx) {
        // A process that exited since the listing has no stat: skip it.
        let Some(stat) = reader.read(pid, "stat", Shape::Single).and_then(parse_stat) else {
            continue;
        };
        let ids = if needs.ids {
            match reader
                .read(pid, "status", Shape::Single)
                .and_then(parse_status_ids)
            {
                Some(ids) => Some(ids),
                None => continue,
            }
        } else {
            None
        };

        let mut row = rows.push();
        row.set("pid", pid)
            .set("name", stat.comm.as_str())
            .set("state", stat.state.as_str())
            .set("parent", stat.ppid)
            .set("pgroup", stat.pgrp)
            .set("nice", stat.nice)
            .set("threads", stat.threads)
            .set("user_time", ticks_to_ms(stat.utime, tck))
            .set("system_time", ticks_to_ms(stat.stime, tck))
            // Linux has no unpageable-memory counter.
            .set("wired_size", 0);
        // Kernel threads have no memory map: osquery leaves their sizes empty.
        if !stat.is_kernel_thread() {
            row.set("resident_size", stat.rss.saturating_mul(page))
                .set("total_size", stat.vsize);
        }
        if needs.start_time {
            let start = match boot {
                Some(boot) if tck > 0 => (boot + stat.starttime / tck) as i64,
                _ => -1,
            };
            row.set("start_time", start);
        }
        if let Some(ids) = ids {
            row.set("uid", ids.uid[0])
                .set("euid", ids.uid[1])
                .set("suid", ids.uid[2])
                .set("gid", ids.gid[0])
                .set("egid", ids.gid[1])
                .set("sgid", ids.gid[2]);
        }
        if needs.exe {
            let mut path = reader.readlink(pid, "exe").unwrap_or_default();
            let on_disk = on_disk(pid, &mut path, &mut reader);
            row.set("path", path).set("on_disk", on_disk);
        }
        if needs.cmdline {
            let cmdline = reader
                .read(pid, "cmdline", Shape::Single)
                .map(join_cmdline)
                .unwrap_or_default();
            row.set("cmdline", cmdline);
        }
        if needs.cwd {
            row.set("cwd", reader.readlink(pid, "cwd").unwrap_or_default());
        }
        if needs.root {
            row.set("root", reader.readlink(pid, "root").unwrap_or_default());
        }
        if needs.cgroup {
            let cgroup = reader
                .read(pid, "cgroup", Shape::Single)
                .map(parse_cgroup_path)
                .unwrap_or_default();
            row.set("cgroup_path", cgroup);
        }
        if needs.io {
            // /proc/PID/io needs ptrace access: unreadable means NULL, as in osquery.
            if let Some((read, written)) = reader.read(pid, "io", Shape::Single).and_then(parse_io)
            {
                row.set("disk_bytes_read", read)
                    .set("disk_bytes_written", written);
            }
        }
    }
    Ok(())
}

fn ticks_to_ms(ticks: u64, tck: u64) -> i64 {
    if tck == 0 {
        return -1;
    }
    (ticks.saturating_mul(1000) / tck) as i64
}

/// Clock ticks per second (`CLK_TCK`).
fn clock_ticks() -> u64 {
    use nix::unistd::{SysconfVar, sysconf};
    static TCK: OnceLock<u64> = OnceLock::new();
    *TCK.get_or_init(|| {
        sysconf(SysconfVar::CLK_TCK)
            .ok()
            .flatten()
            .and_then(|v| u64::try_from(v).ok())
            .unwrap_or(100)
    })
}

fn page_size() -> u64 {
    use nix::unistd::{SysconfVar, sysconf};
    static PAGE: OnceLock<u64> = OnceLock::new();
    *PAGE.get_or_init(|| {
        sysconf(SysconfVar::PAGE_SIZE)
            .ok()
            .flatten()
            .and_then(|v| u64::try_from(v).ok())
            .unwrap_or(4096)
    })
}

/// Boot time in seconds since the epoch, from the `btime` line of /proc/stat (read once).
fn boot_time() -> Option<u64> {
    static BOOT: OnceLock<Option<u64>> = OnceLock::new();
    *BOOT.get_or_init(|| {
        let text = std::fs::read_to_string("/proc/stat").ok()?;
        parse_btime(&text)
    })
}

/// The `btime` value of /proc/stat text.
fn parse_btime(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

/// argv as osquery shows it: the NUL-separated arguments joined by spaces, trimmed.
fn join_cmdline(raw: &[u8]) -> String {
    let joined: Vec<u8> = raw.iter().map(|&b| if b == 0 { b' ' } else { b }).collect();
    text(&joined).trim().to_string()
}

/// The cgroup path of a process: the path field of the first line of /proc/PID/cgroup
/// (`0::/user.slice` with cgroup v2, `4:memory:/docker/…` with v1; paths may contain colons).
fn parse_cgroup_path(content: &[u8]) -> String {
    let first = content.split(|&b| b == b'\n').next().unwrap_or_default();
    let mut parts = first.splitn(3, |&b| b == b':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(_), Some(_), Some(path)) => text(path),
        _ => String::new(),
    }
}

/// Bytes read from and written to storage, from /proc/PID/io: `read_bytes`, and
/// `write_bytes - cancelled_write_bytes` (writes truncated away before reaching the disk).
fn parse_io(content: &[u8]) -> Option<(i64, i64)> {
    let text = std::str::from_utf8(content).ok()?;
    let (mut read, mut write, mut cancelled) = (None, None, 0i64);
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim().parse::<i64>().ok();
        match key {
            "read_bytes" => read = value,
            "write_bytes" => write = value,
            "cancelled_write_bytes" => cancelled = value.unwrap_or(0),
            _ => {}
        }
    }
    Some((read?, write? - cancelled))
}

const DELETED: &str = " (deleted)";

/// osquery's `on_disk`: 1 when the executable still exists, 0 when it was deleted (the
/// ` (deleted)` suffix the kernel appends is then removed from `path`), -1 when unknown.
fn on_disk(pid: i64, path: &mut String, reader: &mut ProcReader) -> i64 {
    if path.is_empty() {
        return -1;
    }
    if !path.ends_with(DELETED) {
        return i64::from(exists(path));
    }
    if !exists(path) {
        path.truncate(path.len() - DELETED.len());
        return 0;
    }
    // A file really named "… (deleted)" exists: it is the executable only if its inode is
    // the one mapped for that path.
    let Ok(meta) = std::fs::metadata(path.as_str()) else {
        return -1;
    };
    let Some(maps) = reader.read(pid, "maps", Shape::Records) else {
        return -1;
    };
    match mapped_inode(maps, path) {
        None => -1,
        Some(inode) if inode == meta.ino() => 1,
        Some(_) => {
            path.truncate(path.len() - DELETED.len());
            0
        }
    }
}

/// The inode /proc/PID/maps gives for a mapped path.
fn mapped_inode(maps: &[u8], path: &str) -> Option<u64> {
    let maps = std::str::from_utf8(maps).ok()?;
    maps.lines()
        .filter_map(super::process_memory_map::parse_maps_line)
        .find(|m| m.path == path)
        .map(|m| m.inode)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cmdline_joins_arguments_with_spaces() {
        assert_eq!(join_cmdline(b"/bin/sleep\x0030\x00"), "/bin/sleep 30");
        assert_eq!(join_cmdline(b""), "");
        assert_eq!(
            join_cmdline(b"nginx: worker process\0\0\0"),
            "nginx: worker process"
        );
    }

    #[test]
    fn cgroup_path_is_the_first_line_path() {
        assert_eq!(
            parse_cgroup_path(b"0::/user.slice/a.scope\n"),
            "/user.slice/a.scope"
        );
        assert_eq!(
            parse_cgroup_path(b"12:cpu,cpuacct:/docker/ab:c\n11:memory:/x\n"),
            "/docker/ab:c"
        );
        assert_eq!(parse_cgroup_path(b"garbage"), "");
    }

    #[test]
    fn io_written_subtracts_cancelled() {
        let io = b"rchar: 1\nwchar: 2\nsyscr: 3\nsyscw: 4\nread_bytes: 4096\nwrite_bytes: 8192\n\
cancelled_write_bytes: 4096\n";
        assert_eq!(parse_io(io), Some((4096, 4096)));
        assert_eq!(parse_io(b"rchar: 1\n"), None);
    }

    #[test]
    fn btime_and_ticks() {
        let stat = "cpu  1 2 3\nintr 5\nctxt 9\nbtime 1700000000\nprocesses 4\n";
        assert_eq!(parse_btime(stat), Some(1_700_000_000));
        assert_eq!(parse_btime("cpu 1\n"), None);
        assert_eq!(ticks_to_ms(250, 100), 2500);
    }

    #[test]
    fn deleted_executable_is_detected_and_suffix_removed() {
        let mut reader = ProcReader::new();
        let mut path = "/nonexistent/warden-test-binary (deleted)".to_string();
        assert_eq!(on_disk(1, &mut path, &mut reader), 0);
        assert_eq!(path, "/nonexistent/warden-test-binary");
        let mut empty = String::new();
        assert_eq!(on_disk(1, &mut empty, &mut reader), -1);
        let mut real = std::env::current_exe().unwrap().display().to_string();
        assert_eq!(on_disk(1, &mut real, &mut reader), 1);
    }

    #[test]
    fn mapped_inode_finds_the_path() {
        let maps = b"5581-5582 r-xp 00000000 fe:00 4242    /usr/bin/x (deleted)\n\
7ff0-7ff1 rw-p 00000000 00:00 0 \n";
        assert_eq!(mapped_inode(maps, "/usr/bin/x (deleted)"), Some(4242));
        assert_eq!(mapped_inode(maps, "/usr/bin/y"), None);
    }
}

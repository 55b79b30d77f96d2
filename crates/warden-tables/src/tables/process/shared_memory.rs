//! `shared_memory`: System V shared memory segments of this IPC namespace, from
//! /proc/sysvipc/shm.

use crate::{QueryContext, Rows, TableError};

/// Set in a segment's mode once it is marked for destruction (`IPC_RMID` while attached).
const SHM_DEST: u32 = 0o1000;
/// Set in a segment's mode while it is locked in memory (`SHM_LOCK`).
const SHM_LOCKED: u32 = 0o2000;

pub(crate) fn generate(_ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    // No System V IPC in this kernel: no segments.
    let Ok(text) = std::fs::read_to_string("/proc/sysvipc/shm") else {
        return Ok(());
    };
    for seg in parse_shm(&text) {
        rows.push()
            .set("shmid", seg.shmid)
            .set("owner_uid", seg.uid)
            .set("creator_uid", seg.cuid)
            .set("pid", seg.lpid)
            .set("creator_pid", seg.cpid)
            .set("atime", seg.atime)
            .set("dtime", seg.dtime)
            .set("ctime", seg.ctime)
            .set("permissions", permissions(seg.mode))
            .set("size", seg.size)
            .set("attached", seg.nattch)
            .set("status", if seg.mode & SHM_DEST != 0 { "dest" } else { "" })
            .set("locked", i64::from(seg.mode & SHM_LOCKED != 0));
    }
    Ok(())
}

/// One line of /proc/sysvipc/shm.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Segment {
    shmid: i64,
    mode: u32,
    size: i64,
    cpid: i64,
    lpid: i64,
    nattch: i64,
    uid: i64,
    cuid: i64,
    atime: i64,
    dtime: i64,
    ctime: i64,
}

/// Parses `key shmid perms size cpid lpid nattch uid gid cuid cgid atime dtime ctime …`
/// (perms in octal), skipping the header and malformed lines.
fn parse_shm(text: &str) -> Vec<Segment> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_ascii_whitespace().collect();
            if f.len() < 14 {
                return None;
            }
            let n = |i: usize| f[i].parse::<i64>().ok();
            Some(Segment {
                shmid: n(1)?,
                mode: u32::from_str_radix(f[2], 8).ok()?,
                size: n(3)?,
                cpid: n(4)?,
                lpid: n(5)?,
                nattch: n(6)?,
                uid: n(7)?,
                cuid: n(9)?,
                atime: n(11)?,
                dtime: n(12)?,
                ctime: n(13)?,
            })
        })
        .collect()
}

/// Four octal digits of a mode, as osquery's `lsperms` prints them.
fn permissions(mode: u32) -> String {
    format!("{:04o}", mode & 0o7777)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_parse_with_octal_mode() {
        let text = "       key      shmid perms                  size  cpid  lpid nattch   uid   gid  cuid  cgid      atime      dtime      ctime                   rss                  swap\n\
         0          3  1600                 4096  1234  1240      2  1000  1000     0     0 1700000100 1700000050 1700000000                  4096                     0\n";
        let segs = parse_shm(text);
        assert_eq!(segs.len(), 1);
        let s = &segs[0];
        assert_eq!(s.shmid, 3);
        assert_eq!(s.mode, 0o1600);
        assert_eq!(s.mode & SHM_DEST, SHM_DEST);
        assert_eq!(permissions(s.mode), "1600");
        assert_eq!((s.cpid, s.lpid, s.nattch), (1234, 1240, 2));
        assert_eq!((s.uid, s.cuid), (1000, 0));
        assert_eq!(
            (s.atime, s.dtime, s.ctime),
            (1_700_000_100, 1_700_000_050, 1_700_000_000)
        );
        assert!(parse_shm("header only\n").is_empty());
    }
}

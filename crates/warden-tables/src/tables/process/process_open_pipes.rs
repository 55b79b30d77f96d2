//! `process_open_pipes`: anonymous pipes and FIFOs held by processes (from the /proc/PID/fd
//! links), each paired with the descriptors at the other end of the same pipe.

use std::collections::HashMap;
use std::os::unix::fs::{FileTypeExt, MetadataExt};

use super::proc::{all_pids, bracketed_inode, for_each_fd};
use crate::{QueryContext, Rows, TableError};

/// One end of a pipe held by a process.
#[derive(Clone, Debug, PartialEq, Eq)]
struct PipeEnd {
    pid: i64,
    fd: i64,
    /// `r`, `w` or `rw`: how the descriptor was opened.
    mode: String,
    inode: u64,
    kind: &'static str,
}

pub(crate) fn generate(_ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    let mut ends = Vec::new();
    for pid in all_pids() {
        for_each_fd(pid, |fd, link| {
            if let Some(end) = pipe_end(pid, fd, link) {
                ends.push(end);
            }
        });
    }
    for (end, partner) in pair_up(&ends) {
        let mut row = rows.push();
        row.set("pid", end.pid)
            .set("fd", end.fd)
            .set("mode", end.mode.as_str())
            .set("inode", end.inode)
            .set("type", end.kind);
        if let Some(p) = partner {
            row.set("partner_pid", p.pid)
                .set("partner_fd", p.fd)
                .set("partner_mode", p.mode.as_str());
        }
    }
    Ok(())
}

/// The pipe behind one descriptor: `pipe:[N]` links are anonymous pipes; a path whose target
/// is a FIFO is a named pipe. Anything else (or a descriptor closed meanwhile) is none.
fn pipe_end(pid: i64, fd: i64, link: &[u8]) -> Option<PipeEnd> {
    let fd_path = format!("/proc/{pid}/fd/{fd}");
    let (inode, kind) = if let Some(inode) = bracketed_inode(link, "pipe") {
        (inode, "anonymous")
    } else if link.starts_with(b"/") {
        let meta = std::fs::metadata(&fd_path).ok()?;
        if !meta.file_type().is_fifo() {
            return None;
        }
        (meta.ino(), "named")
    } else {
        return None;
    };
    // The link itself carries the open mode: readable and/or writable bits.
    let mode = std::fs::symlink_metadata(&fd_path)
        .map(|m| mode_letters(m.mode()))
        .unwrap_or_else(|_| "-".to_string());
    Some(PipeEnd {
        pid,
        fd,
        mode,
        inode,
        kind,
    })
}

/// `r`/`w`/`rw` from permission bits (any of user, group, other).
fn mode_letters(mode: u32) -> String {
    let mut s = String::new();
    if mode & 0o444 != 0 {
        s.push('r');
    }
    if mode & 0o222 != 0 {
        s.push('w');
    }
    s
}

/// osquery's pairing: a pipe end with no other holder gets one row without partner; otherwise
/// one row per other end that can talk to it (opposite modes, or either side `rw`).
fn pair_up(ends: &[PipeEnd]) -> Vec<(&PipeEnd, Option<&PipeEnd>)> {
    let mut by_inode: HashMap<u64, Vec<usize>> = HashMap::new();
    for (i, e) in ends.iter().enumerate() {
        by_inode.entry(e.inode).or_default().push(i);
    }
    let mut out = Vec::new();
    for (i, end) in ends.iter().enumerate() {
        let same = &by_inode[&end.inode];
        if same.len() == 1 {
            out.push((end, None));
            continue;
        }
        for &j in same {
            let other = &ends[j];
            if j == i || (other.mode == end.mode && end.mode != "rw") {
                continue;
            }
            out.push((end, Some(other)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn end(pid: i64, fd: i64, mode: &str, inode: u64) -> PipeEnd {
        PipeEnd {
            pid,
            fd,
            mode: mode.to_string(),
            inode,
            kind: "anonymous",
        }
    }

    #[test]
    fn ends_pair_with_opposite_modes_only() {
        let ends = vec![
            end(10, 3, "r", 100),
            end(10, 4, "w", 100),
            end(11, 0, "r", 100),
            end(12, 5, "w", 200),
        ];
        let pairs = pair_up(&ends);
        let key = |(a, b): &(&PipeEnd, Option<&PipeEnd>)| (a.pid, a.fd, b.map(|p| (p.pid, p.fd)));
        let got: Vec<_> = pairs.iter().map(key).collect();
        assert_eq!(
            got,
            vec![
                (10, 3, Some((10, 4))),
                (10, 4, Some((10, 3))),
                (10, 4, Some((11, 0))),
                (11, 0, Some((10, 4))),
                (12, 5, None),
            ]
        );
    }

    #[test]
    fn mode_bits_become_letters() {
        assert_eq!(mode_letters(0o120500), "r");
        assert_eq!(mode_letters(0o120300), "w");
        assert_eq!(mode_letters(0o120700), "rw");
    }
}

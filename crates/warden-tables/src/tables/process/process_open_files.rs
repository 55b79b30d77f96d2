//! `process_open_files`: the file descriptors of each process that name files, from the
//! /proc/PID/fd links (sockets, pipes and anonymous inodes are left out, as in osquery).

use super::proc::{for_each_fd, pids, text};
use crate::{QueryContext, Rows, TableError};

pub(crate) fn generate(ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    for pid in pids(ctx) {
        // Unreadable fd directories (exited, permission denied) are skipped.
        for_each_fd(pid, |fd, link| {
            if is_file_link(link) {
                rows.push()
                    .set("pid", pid)
                    .set("fd", fd)
                    .set("path", text(link));
            }
        });
    }
    Ok(())
}

/// Whether a descriptor link names a file rather than a socket, pipe or anonymous inode.
fn is_file_link(link: &[u8]) -> bool {
    let has = |needle: &[u8]| link.windows(needle.len()).any(|w| w == needle);
    !(has(b"socket:") || has(b"anon_inode:") || has(b"pipe:"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockets_pipes_and_anon_inodes_are_not_files() {
        assert!(is_file_link(b"/var/log/syslog"));
        assert!(is_file_link(b"/dev/null"));
        assert!(is_file_link(b"/tmp/x (deleted)"));
        assert!(!is_file_link(b"socket:[123]"));
        assert!(!is_file_link(b"pipe:[9]"));
        assert!(!is_file_link(b"anon_inode:[eventpoll]"));
    }
}

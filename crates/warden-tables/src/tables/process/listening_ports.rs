//! `listening_ports`: sockets waiting for peers, derived from the process socket scan as
//! osquery does: internet sockets with no remote port, UNIX sockets bound to a path, and
//! packet sockets.

use super::sockets::{AF_INET, AF_INET6, AF_UNIX, SocketInfo, scan};
use crate::{QueryContext, Rows, TableError};

pub(crate) fn generate(ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    // Mapping sockets to processes reads every /proc/PID/fd: only when pid or fd is used.
    let owners = ctx.wants("pid") || ctx.wants("fd");
    let found = scan(None, owners, true);
    for s in found.sockets.iter().filter(|s| is_listening(s)) {
        let (pid, fd) = found
            .owners
            .get(&s.inode)
            .map_or((-1, -1), |o| (o.pid, o.fd));
        let mut row = rows.push();
        row.set("pid", pid)
            .set("fd", fd)
            .set("protocol", s.protocol)
            .set("family", s.family)
            .set("net_namespace", s.net_ns.to_string());
        if s.family == AF_UNIX {
            // osquery reports UNIX sockets by path, with port and socket 0.
            row.set("port", 0)
                .set("path", s.path.as_str())
                .set("socket", 0);
        } else {
            row.set("address", s.local_address.as_str())
                .set("port", s.local_port)
                .set("socket", s.inode);
        }
    }
    Ok(())
}

/// osquery's rule: skip anonymous UNIX sockets and internet sockets that have a peer.
fn is_listening(s: &SocketInfo) -> bool {
    match s.family {
        AF_UNIX => !s.path.is_empty(),
        AF_INET | AF_INET6 => s.remote_port == 0,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listening_means_no_peer_or_a_bound_unix_path() {
        let tcp = |remote_port| SocketInfo {
            family: AF_INET,
            protocol: 6,
            remote_port,
            ..SocketInfo::default()
        };
        assert!(is_listening(&tcp(0)));
        assert!(!is_listening(&tcp(443)));
        let unix = |path: &str| SocketInfo {
            family: AF_UNIX,
            path: path.to_string(),
            ..SocketInfo::default()
        };
        assert!(is_listening(&unix("/run/x.sock")));
        assert!(!is_listening(&unix("")));
    }
}

//! `process_open_sockets`: every socket of every network namespace with the process and
//! descriptor holding it (pid -1 when no visible process holds it), as osquery builds it.

use super::sockets::scan;
use crate::{QueryContext, Rows, TableError};

pub(crate) fn generate(ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    // `pid = …` narrows the scan to those processes' sockets; `pid = -1` means every socket.
    let filter = ctx
        .equal_ints("pid")
        .filter(|p| !p.is_empty() && !p.contains(&-1));
    let owners = filter.is_some() || ctx.wants("pid") || ctx.wants("fd");
    let found = scan(filter.as_ref(), owners, false);
    for s in &found.sockets {
        let (pid, fd) = match found.owners.get(&s.inode) {
            Some(o) => (o.pid, o.fd),
            None if filter.is_none() => (-1, -1),
            // When filtering by pid, only sockets those processes hold are reported.
            None => continue,
        };
        rows.push()
            .set("pid", pid)
            .set("fd", fd)
            .set("socket", s.inode)
            .set("family", s.family)
            .set("protocol", s.protocol)
            .set("local_address", s.local_address.as_str())
            .set("remote_address", s.remote_address.as_str())
            .set("local_port", s.local_port)
            .set("remote_port", s.remote_port)
            .set("path", s.path.as_str())
            .set("state", s.state.as_str())
            .set("net_namespace", s.net_ns.to_string());
    }
    Ok(())
}

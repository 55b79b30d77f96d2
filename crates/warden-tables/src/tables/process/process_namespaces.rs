//! `process_namespaces`: the namespace inodes of each process, from the /proc/PID/ns links.

use super::proc::{namespace_inode, pids};
use crate::{QueryContext, Rows, TableError};

/// The namespaces osquery reports, each as the column `<kind>_namespace`.
const KINDS: [(&str, &str); 7] = [
    ("cgroup", "cgroup_namespace"),
    ("ipc", "ipc_namespace"),
    ("mnt", "mnt_namespace"),
    ("net", "net_namespace"),
    ("pid", "pid_namespace"),
    ("user", "user_namespace"),
    ("uts", "uts_namespace"),
];

pub(crate) fn generate(ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    for pid in pids(ctx) {
        // A process that no longer exists has no row; one whose links are unreadable has a
        // row with the readable namespaces (as osquery).
        if !std::path::Path::new(&format!("/proc/{pid}")).is_dir() {
            continue;
        }
        let mut row = rows.push();
        row.set("pid", pid);
        for (kind, column) in KINDS {
            if ctx.wants(column)
                && let Some(inode) = namespace_inode(pid, kind)
            {
                row.set(column, inode.to_string());
            }
        }
    }
    Ok(())
}

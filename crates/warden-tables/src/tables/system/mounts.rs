//! `mounts`: mounted filesystems from /proc/mounts, with block and inode counts from statvfs.
//!
//! statvfs on an unreachable network filesystem can hang, so network and automount types keep
//! NULL counts.

use crate::{QueryContext, Rows, TableError};

use super::util::unescape_octal;

pub(crate) fn generate(ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    let text = std::fs::read_to_string("/proc/mounts")?;
    let want_stats = [
        "blocks_size",
        "blocks",
        "blocks_free",
        "blocks_available",
        "inodes",
        "inodes_free",
    ]
    .iter()
    .any(|c| ctx.wants(c));
    for m in parse_mounts(&text) {
        let mut row = rows.push();
        if ctx.wants("device_alias") {
            let alias = std::fs::canonicalize(&m.device)
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_else(|_| m.device.clone());
            row.set("device_alias", alias);
        }
        if want_stats
            && !skips_statvfs(&m.fs_type)
            && let Ok(st) = nix::sys::statvfs::statvfs(m.path.as_str())
        {
            row.set("blocks_size", st.block_size())
                .set("blocks", st.blocks())
                .set("blocks_free", st.blocks_free())
                .set("blocks_available", st.blocks_available())
                .set("inodes", st.files())
                .set("inodes_free", st.files_free());
        }
        row.set("device", m.device)
            .set("path", m.path)
            .set("type", m.fs_type)
            .set("flags", m.options);
    }
    Ok(())
}

/// One line of /proc/mounts.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Mount {
    pub device: String,
    pub path: String,
    pub fs_type: String,
    pub options: String,
}

/// Parses /proc/mounts (fstab format, octal escapes decoded); short lines are skipped.
pub(super) fn parse_mounts(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let mut f = line.split_whitespace();
            Some(Mount {
                device: unescape_octal(f.next()?),
                path: unescape_octal(f.next()?),
                fs_type: f.next()?.to_string(),
                options: f.next()?.to_string(),
            })
        })
        .collect()
}

/// Filesystem types whose statvfs could block on the network or trigger an automount.
fn skips_statvfs(fs_type: &str) -> bool {
    const REMOTE: [&str; 14] = [
        "autofs",
        "nfs",
        "nfs4",
        "cifs",
        "smb3",
        "smbfs",
        "ncpfs",
        "afs",
        "ceph",
        "glusterfs",
        "lustre",
        "9p",
        "davfs",
        "fuse.sshfs",
    ];
    REMOTE.contains(&fs_type) || fs_type.starts_with("fuse.s3") || fs_type == "fuse.rclone"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_lines_with_escapes() {
        let m = parse_mounts(
            "/dev/vda / ext4 rw,relatime 0 0\n/dev/sdb1 /mnt/my\\040disk vfat ro 0 0\nbad\n",
        );
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].fs_type, "ext4");
        assert_eq!(m[1].path, "/mnt/my disk");
        assert_eq!(m[1].options, "ro");
    }

    #[test]
    fn network_types_skip_statvfs() {
        assert!(skips_statvfs("nfs4"));
        assert!(skips_statvfs("cifs"));
        assert!(!skips_statvfs("ext4"));
    }
}

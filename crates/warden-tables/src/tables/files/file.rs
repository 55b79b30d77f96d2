//! `file`: stat(2) metadata of the files a query names by `path` or `directory`.
//!
//! Follows osquery on Linux: the link itself decides `symlink` and `symlink_target_path`; every
//! other column describes what the path resolves to (stat, falling back to lstat for a dangling
//! link). `btime` is the birth time from statx where the filesystem records it, else 0.

use std::fs::{FileType, Metadata};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::time::UNIX_EPOCH;

use super::{Target, split_path, targets};
use crate::{QueryContext, Rows, TableError};

pub(crate) fn generate(ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    for target in targets(ctx) {
        write_row(ctx, &target, rows);
    }
    Ok(())
}

/// Adds the row of one file; a path that does not exist (or vanished) adds nothing.
fn write_row(ctx: &QueryContext, target: &Target, rows: &mut Rows) {
    let Ok(link) = std::fs::symlink_metadata(&target.fs_path) else {
        return;
    };
    let is_link = link.file_type().is_symlink();
    let followed = if is_link {
        std::fs::metadata(&target.fs_path).ok()
    } else {
        None
    };
    let meta = followed.as_ref().unwrap_or(&link);
    // A dangling link has nothing to resolve to: osquery calls its type "unknown".
    let kind = if is_link && followed.is_none() {
        "unknown"
    } else {
        type_name(meta.file_type())
    };
    let mut row = rows.push();
    row.set("path", target.path.as_str())
        .set("directory", target.directory.as_str())
        .set("filename", split_path(&target.path).1)
        .set("inode", meta.ino())
        .set("uid", meta.uid())
        .set("gid", meta.gid())
        .set("mode", mode_string(meta.mode()))
        .set("device", meta.rdev())
        .set("size", meta.size())
        .set("block_size", meta.blksize())
        .set("hard_links", meta.nlink())
        .set("atime", meta.atime())
        .set("mtime", meta.mtime())
        .set("ctime", meta.ctime())
        .set("btime", birth_time(meta))
        .set("symlink", is_link)
        .set("type", kind)
        .set("pid_with_namespace", 0);
    if is_link && ctx.wants("symlink_target_path") {
        let target_text = std::fs::read_link(&target.fs_path)
            .ok()
            .map(|t| t.to_string_lossy().into_owned());
        row.set("symlink_target_path", target_text);
    }
}

/// osquery's name for a file type.
fn type_name(ft: FileType) -> &'static str {
    if ft.is_file() {
        "regular"
    } else if ft.is_dir() {
        "directory"
    } else if ft.is_symlink() {
        "symlink"
    } else if ft.is_char_device() {
        "character"
    } else if ft.is_block_device() {
        "block"
    } else if ft.is_fifo() {
        "fifo"
    } else if ft.is_socket() {
        "socket"
    } else {
        "unknown"
    }
}

/// The permission bits (with setuid, setgid and sticky) as four octal digits: `0644`, `4755`.
fn mode_string(mode: u32) -> String {
    format!("{:04o}", mode & 0o7777)
}

/// Seconds since the epoch of the file's birth, or 0 when the filesystem does not record it.
fn birth_time(meta: &Metadata) -> i64 {
    meta.created()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Op, osquery_spec};

    #[test]
    fn modes_are_four_octal_digits() {
        assert_eq!(mode_string(0o100644), "0644");
        assert_eq!(mode_string(0o104755), "4755");
        assert_eq!(mode_string(0o41777), "1777");
        assert_eq!(mode_string(0o120777), "0777");
    }

    #[test]
    fn a_dangling_link_is_reported_as_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("dangling");
        std::os::unix::fs::symlink("no/such/target", &link).unwrap();
        let missing = dir.path().join("missing");
        let ctx = QueryContext::everything(osquery_spec("file").unwrap()).with(
            "path",
            Op::Eq,
            vec![
                link.display().to_string().into(),
                missing.display().to_string().into(),
            ],
        );
        let rows = crate::table("file").unwrap().run(&ctx).unwrap();
        assert_eq!(rows.len(), 1, "a missing path gives no row");
        assert_eq!(rows.get(0, "symlink").unwrap().as_i64(), Some(1));
        assert_eq!(
            rows.get(0, "symlink_target_path")
                .unwrap()
                .as_text()
                .as_deref(),
            Some("no/such/target")
        );
        assert_eq!(
            rows.get(0, "type").unwrap().as_text().as_deref(),
            Some("unknown")
        );
    }
}

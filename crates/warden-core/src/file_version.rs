//! The identity of one version of one file: the key of every per-file cache (digests, build ids,
//! package verification), whether it comes from `stat` or from the kernel's inode at exec time.

use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;

/// One version of one file: two stats with the same key are the same bytes for every practical
/// purpose (a rewrite changes mtime or size; a chmod, chown, xattr change or a rewrite that
/// restores mtime changes ctime; a replace changes the inode).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FileVersion {
    /// `st_dev`.
    pub dev: u64,
    /// `st_ino`.
    pub inode: u64,
    /// `st_size`.
    pub size: u64,
    /// `st_mtime` in nanoseconds since the epoch.
    pub mtime_ns: i64,
    /// `st_ctime` in nanoseconds since the epoch.
    pub ctime_ns: i64,
}

impl FileVersion {
    /// The version of the file `meta` describes.
    pub fn of(meta: &Metadata) -> FileVersion {
        FileVersion {
            dev: meta.dev(),
            inode: meta.ino(),
            size: meta.size(),
            mtime_ns: ns(meta.mtime(), meta.mtime_nsec()),
            ctime_ns: ns(meta.ctime(), meta.ctime_nsec()),
        }
    }

    /// Whether `other` is the same version apart from the device number. The kernel's inode
    /// names its superblock's device, where `stat` may show another (a btrfs subvolume's
    /// anonymous device, an overlay's): same inode, size and times is the same file version.
    pub fn same_but_device(&self, other: &FileVersion) -> bool {
        self.inode == other.inode
            && self.size == other.size
            && self.mtime_ns == other.mtime_ns
            && self.ctime_ns == other.ctime_ns
    }
}

fn ns(sec: i64, nsec: i64) -> i64 {
    sec.saturating_mul(1_000_000_000).saturating_add(nsec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_and_its_stat_agree_and_a_rewrite_changes_the_version() {
        let dir = std::env::temp_dir().join(format!("warden-fv-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f");
        std::fs::write(&path, b"one").unwrap();
        let v1 = FileVersion::of(&std::fs::metadata(&path).unwrap());
        assert_eq!(v1, FileVersion::of(&std::fs::metadata(&path).unwrap()));
        assert_eq!(v1.size, 3);
        std::fs::write(&path, b"three").unwrap();
        let v2 = FileVersion::of(&std::fs::metadata(&path).unwrap());
        assert_ne!(v1, v2);
        assert!(!v1.same_but_device(&v2));
        let moved = FileVersion {
            dev: v2.dev + 1,
            ..v2
        };
        assert!(v2.same_but_device(&moved));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

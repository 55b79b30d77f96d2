//! The store's reserve: a file of a few MiB the store holds beside its database, to give back
//! the moment its filesystem is full to the last byte. SQLite needs room even to delete (the
//! WAL takes a copy of every page a deletion or a vacuum step changes), so a disk filled in
//! one stroke, between two of the writer's looks, left the store unable to give back any of
//! its space: the host stayed full. With the reserve released, retention has the room it
//! needs, and the space it frees goes back to the host.
//!
//! The reserve is taken only out of the store's own share (the room beyond `keep_free`), never
//! the host's, and taken again once that room allows. It counts in the store's size limit. It is allocated (`posix_fallocate`), not
//! a sparse file: its blocks are really held.

use std::path::{Path, PathBuf};

/// The file's name in the data dir.
pub const RESERVE_FILE: &str = "events.db.reserve";

/// Its size: room for a deletion and one vacuum step (128 pages of 8 KiB) in the WAL, twice.
pub const RESERVE_BYTES: u64 = 2 << 20;

/// A store limited (`max_size`) to less than this many times [`RESERVE_BYTES`] holds no
/// reserve: it would take more than an eighth of what the store may keep. A larger one counts
/// its reserve in the limit.
pub const RESERVE_SHARE: u64 = 8;

/// The reserve of a store in one directory.
#[derive(Debug)]
pub(crate) struct Reserve {
    path: PathBuf,
}

impl Reserve {
    /// The reserve in `dir` (taken or not).
    pub(crate) fn in_dir(dir: &Path) -> Reserve {
        Reserve {
            path: dir.join(RESERVE_FILE),
        }
    }

    /// Whether the reserve is held whole.
    pub(crate) fn is_held(&self) -> bool {
        std::fs::metadata(&self.path).is_ok_and(|m| m.len() >= RESERVE_BYTES)
    }

    /// Takes the reserve if it is not held and `room` (the free space beyond `keep_free`, less
    /// the WAL) has it to spare. Returns whether it is held now. A failed allocation leaves no
    /// file behind.
    pub(crate) fn take(&self, room: Option<i64>) -> bool {
        if self.is_held() {
            return true;
        }
        let spare = room.is_some_and(|room| room >= i64::try_from(RESERVE_BYTES).unwrap_or(0));
        if !spare {
            return false;
        }
        let allocated = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&self.path)
            .is_ok_and(|file| {
                nix::fcntl::posix_fallocate(&file, 0, RESERVE_BYTES as nix::libc::off_t).is_ok()
            });
        if !allocated {
            let _ = std::fs::remove_file(&self.path);
            return false;
        }
        true
    }

    /// Gives the reserve back to the filesystem. Returns whether one was held.
    pub(crate) fn release(&self) -> bool {
        std::fs::remove_file(&self.path).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: i64 = 1 << 20;

    #[test]
    fn the_reserve_is_taken_only_from_room_to_spare() {
        let dir = tempfile::tempdir().unwrap();
        let reserve = Reserve::in_dir(dir.path());
        assert!(!reserve.take(Some(MIB)), "1 MiB of room cannot spare 2");
        assert!(!reserve.take(None), "unknown room spares nothing");
        assert!(!dir.path().join(RESERVE_FILE).exists());
        assert!(reserve.take(Some(3 * MIB)));
        assert!(reserve.is_held());
        // Held: taken again without room, as it takes nothing more.
        assert!(reserve.take(Some(-MIB)));
    }

    #[test]
    fn the_reserve_holds_real_blocks_and_gives_them_back() {
        use std::os::unix::fs::MetadataExt as _;
        let dir = tempfile::tempdir().unwrap();
        let reserve = Reserve::in_dir(dir.path());
        assert!(reserve.take(Some(4 * MIB)));
        let meta = std::fs::metadata(dir.path().join(RESERVE_FILE)).unwrap();
        assert_eq!(meta.len(), RESERVE_BYTES);
        assert!(
            meta.blocks() * 512 >= RESERVE_BYTES,
            "allocated, not sparse: {} blocks",
            meta.blocks()
        );
        assert!(reserve.release());
        assert!(!reserve.is_held());
        assert!(!reserve.release(), "nothing left to give");
        // A file cut short (by someone else) is not a reserve: it is made whole again.
        std::fs::write(dir.path().join(RESERVE_FILE), b"short").unwrap();
        assert!(!reserve.is_held());
        assert!(reserve.take(Some(4 * MIB)));
        assert!(reserve.is_held());
    }
}

//! Room on a filesystem: how much of it is free, and how much the agent leaves free for the
//! host's other uses ([`KeepFree`]), so that the agent's own files never fill the disk.

use std::io;
use std::path::Path;

/// How much of a filesystem the agent leaves free: `percent` of its size, at most `at_most`
/// bytes (the shape of journald's `SystemKeepFree`). A share alone is `at_most: u64::MAX`; a
/// size alone is `percent: 100`; [`KeepFree::NONE`] leaves nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeepFree {
    /// A share of the filesystem's size, 0 to 100.
    pub percent: u8,
    /// A cap on that share, in bytes.
    pub at_most: u64,
}

impl KeepFree {
    /// Leaves nothing free: the agent writes until the filesystem is full.
    pub const NONE: KeepFree = KeepFree {
        percent: 0,
        at_most: 0,
    };

    /// The bytes to leave free on a filesystem of `size` bytes.
    pub fn bytes_of(&self, size: u64) -> u64 {
        let share = u128::from(size) * u128::from(self.percent.min(100)) / 100;
        u64::try_from(share).unwrap_or(u64::MAX).min(self.at_most)
    }
}

impl Default for KeepFree {
    /// 5 % of the filesystem, at most 1 GiB.
    fn default() -> Self {
        KeepFree {
            percent: 5,
            at_most: 1 << 30,
        }
    }
}

/// A filesystem's size and the space still available on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FilesystemSpace {
    /// Its size, in bytes.
    pub size: u64,
    /// What an unprivileged process may still write, in bytes. The agent runs as root and
    /// could also take the blocks reserved for root (ext4 keeps 5 %), but those are the host's
    /// last resort when the disk fills, so they are not counted as the agent's room.
    pub available: u64,
}

impl FilesystemSpace {
    /// The filesystem holding `path` (`statvfs`).
    pub fn of(path: &Path) -> io::Result<FilesystemSpace> {
        let st = nix::sys::statvfs::statvfs(path).map_err(io::Error::from)?;
        let fragment = st.fragment_size();
        Ok(FilesystemSpace {
            size: st.blocks().saturating_mul(fragment),
            available: st.blocks_available().saturating_mul(fragment),
        })
    }

    /// Bytes that may still be written before only `keep` is left; negative when the
    /// filesystem is already that far under it.
    pub fn room(&self, keep: KeepFree) -> i64 {
        let room = i128::from(self.available) - i128::from(keep.bytes_of(self.size));
        i64::try_from(room).unwrap_or(if room < 0 { i64::MIN } else { i64::MAX })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;

    #[test]
    fn the_default_is_five_percent_up_to_a_gibibyte() {
        let keep = KeepFree::default();
        assert_eq!(keep.bytes_of(10 * GIB), GIB / 2);
        assert_eq!(keep.bytes_of(1000 * GIB), GIB);
        assert_eq!(keep.bytes_of(0), 0);
    }

    #[test]
    fn a_size_alone_is_capped_by_the_filesystem() {
        let keep = KeepFree {
            percent: 100,
            at_most: 2 * GIB,
        };
        assert_eq!(keep.bytes_of(100 * GIB), 2 * GIB);
        assert_eq!(keep.bytes_of(GIB), GIB);
        assert_eq!(KeepFree::NONE.bytes_of(100 * GIB), 0);
    }

    #[test]
    fn room_goes_negative_under_the_floor() {
        let space = FilesystemSpace {
            size: 100 * GIB,
            available: 3 * GIB,
        };
        let keep = KeepFree {
            percent: 4,
            at_most: u64::MAX,
        };
        assert_eq!(space.room(keep), -(GIB as i64));
        assert_eq!(space.room(KeepFree::NONE), 3 * GIB as i64);
        // Shares beyond 100 % are 100 %; huge sizes do not overflow.
        let all = KeepFree {
            percent: 200,
            at_most: u64::MAX,
        };
        assert_eq!(all.bytes_of(u64::MAX), u64::MAX);
    }

    #[test]
    fn a_real_filesystem_has_a_size() {
        let dir = tempfile::tempdir().unwrap();
        let space = FilesystemSpace::of(dir.path()).unwrap();
        assert!(space.size > 0 && space.available <= space.size, "{space:?}");
        assert!(FilesystemSpace::of(&dir.path().join("missing")).is_err());
    }
}

//! Files held open for their description: an exec's image or script, a file a change left
//! written. A source opens one at once, while it still exists, and the pipeline describes it
//! later, even once it is gone from its path. Each holds a place in a bounded [`Pool`], given
//! back when its last clone is dropped, so a burst costs a bounded number of descriptors.

use std::fs::File;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A bound on the files held at once, of one kind.
#[derive(Debug)]
pub struct Pool {
    held: AtomicUsize,
    max: usize,
}

impl Pool {
    /// A pool of `max` places.
    pub const fn new(max: usize) -> Pool {
        Pool {
            held: AtomicUsize::new(0),
            max,
        }
    }

    /// Files held now.
    pub fn held(&self) -> usize {
        self.held.load(Ordering::Relaxed)
    }

    /// Its size.
    pub fn max(&self) -> usize {
        self.max
    }

    /// A place, if one is free.
    pub fn take(&'static self) -> Option<Slot> {
        self.take_n(1)
    }

    /// `n` places at once (a pool counted in bytes: a file's size), if they are free.
    pub fn take_n(&'static self, n: usize) -> Option<Slot> {
        let before = self.held.fetch_add(n, Ordering::Relaxed);
        if before.checked_add(n).is_some_and(|after| after <= self.max) {
            Some(Slot(self, n))
        } else {
            self.held.fetch_sub(n, Ordering::Relaxed);
            None
        }
    }
}

/// Places in a [`Pool`], given back when dropped.
#[derive(Debug)]
pub struct Slot(&'static Pool, usize);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.held.fetch_sub(self.1, Ordering::Relaxed);
    }
}

/// A file held open for its description, in its place until its last clone is dropped.
/// Records compare equal whatever files they hold: a held file is a means of describing
/// what happened, not a fact of it.
#[derive(Clone, Debug)]
pub struct HeldFile(Arc<(File, Slot, Option<Slot>)>);

impl HeldFile {
    /// `file`, in `slot`.
    pub fn new(file: File, slot: Slot) -> HeldFile {
        HeldFile(Arc::new((file, slot, None)))
    }

    /// `file`, in `slot` and in `also` (a second pool's: the bytes it keeps in memory).
    pub fn in_both(file: File, slot: Slot, also: Slot) -> HeldFile {
        HeldFile(Arc::new((file, slot, Some(also))))
    }

    /// The open file.
    pub fn file(&self) -> &File {
        &self.0.0
    }
}

impl PartialEq for HeldFile {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for HeldFile {}

/// Opens `path` for reading, to hold it: without touching its access time (`O_NOATIME`, where
/// permitted: the agent's reads are no one's use of the file, and an investigator reads the
/// atime), no terminal taken, no wait on a FIFO; a last symlink followed only when `follow`
/// (a magic link of /proc: `/proc/PID/exe`, `/proc/PID/fd/N`, whose file it is).
pub fn open_to_hold(path: &[u8], follow: bool) -> Option<File> {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::OpenOptionsExt;
    let no_follow = if follow { 0 } else { libc::O_NOFOLLOW };
    let open = |noatime| {
        std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_CLOEXEC | libc::O_NOCTTY | libc::O_NONBLOCK | no_follow | noatime)
            .open(std::ffi::OsStr::from_bytes(path))
    };
    match open(libc::O_NOATIME) {
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => open(0),
        opened => opened,
    }
    .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pool_gives_each_place_once_and_back_when_the_last_clone_goes() {
        static POOL: Pool = Pool::new(2);
        let a = POOL.take().unwrap();
        let b = HeldFile::new(File::open("/dev/null").unwrap(), POOL.take().unwrap());
        assert!(POOL.take().is_none(), "full");
        assert_eq!(POOL.held(), 2, "a refused take gives back what it counted");
        let clone = b.clone();
        drop(b);
        assert_eq!(POOL.held(), 2, "a clone still holds it");
        drop(clone);
        drop(a);
        assert_eq!(POOL.held(), 0);
        assert_eq!(POOL.max(), 2);
    }

    /// A pool counted in bytes: a file's size taken at once, or not at all.
    #[test]
    fn a_pool_of_bytes_takes_a_size_whole_or_not_at_all() {
        static PLACES: Pool = Pool::new(4);
        static BYTES: Pool = Pool::new(100);
        let file = || File::open("/dev/null").unwrap();
        let big = HeldFile::in_both(file(), PLACES.take().unwrap(), BYTES.take_n(60).unwrap());
        assert!(BYTES.take_n(41).is_none(), "beyond the budget");
        assert!(BYTES.take_n(usize::MAX).is_none(), "no overflow");
        assert_eq!(
            BYTES.held(),
            60,
            "refused takes give back what they counted"
        );
        let small = BYTES.take_n(40).unwrap();
        assert_eq!((BYTES.held(), PLACES.held()), (100, 1));
        drop(big);
        assert_eq!((BYTES.held(), PLACES.held()), (40, 0));
        drop(small);
        assert_eq!(BYTES.held(), 0);
    }
}

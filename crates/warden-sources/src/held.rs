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
        if self.held.fetch_add(1, Ordering::Relaxed) < self.max {
            Some(Slot(self))
        } else {
            self.held.fetch_sub(1, Ordering::Relaxed);
            None
        }
    }
}

/// A place in a [`Pool`], given back when dropped.
#[derive(Debug)]
pub struct Slot(&'static Pool);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.held.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A file held open for its description, in its place until its last clone is dropped.
/// Records compare equal whatever files they hold: a held file is a means of describing
/// what happened, not a fact of it.
#[derive(Clone, Debug)]
pub struct HeldFile(Arc<(File, Slot)>);

impl HeldFile {
    /// `file`, in `slot`.
    pub fn new(file: File, slot: Slot) -> HeldFile {
        HeldFile(Arc::new((file, slot)))
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
}

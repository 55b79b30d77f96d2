//! Pairs the io_uring file operations recorded at their submission with their results, which
//! come later in records of their own (bpf/uring.h): a pure core, fed the ring's records in
//! order by the reader.

use std::collections::{HashMap, VecDeque};

use super::record::{FileRecord, UringKey};

/// Operations waiting for their result, at most this many: beyond, the oldest is passed on
/// without one (its result lost, or its completion never coming where we look).
const CAPACITY: usize = 4096;

/// The file records waiting for their results, by ring and request, oldest first.
#[derive(Debug, Default)]
pub struct Pairs {
    waiting: HashMap<UringKey, Box<FileRecord>>,
    order: VecDeque<UringKey>,
}

impl Pairs {
    /// Holds `record` (one with `uring_pending`) until its result. Returns a record passed on
    /// without its result to make room, if any.
    pub fn hold(&mut self, mut record: Box<FileRecord>) -> Option<Box<FileRecord>> {
        let key = record.uring_pending.take()?;
        let evicted = if self.waiting.len() >= CAPACITY {
            self.oldest()
        } else {
            None
        };
        // A request used again before its result came: the earlier one will get none.
        let replaced = self.waiting.insert(key, record).map(unpaired);
        self.order.push_back(key);
        replaced.or(evicted)
    }

    /// The operation `key` completed with `res`: its record, with the result, if one waits.
    pub fn complete(&mut self, key: UringKey, res: i32) -> Option<Box<FileRecord>> {
        let mut record = self.waiting.remove(&key)?;
        // Its key stays in `order` until the oldest are looked at (or the list is compacted).
        if self.order.len() > 2 * CAPACITY {
            self.order.retain(|k| self.waiting.contains_key(k));
        }
        record.ret = res;
        Some(record)
    }

    /// The records submitted before `cutoff_ns` (`CLOCK_BOOTTIME`) still without their result,
    /// passed on without one: their result was lost (the ring had no room for it) or their
    /// completion is long in coming.
    pub fn expire(&mut self, cutoff_ns: u64) -> Vec<Box<FileRecord>> {
        let mut expired = Vec::new();
        while let Some(key) = self.order.front() {
            match self.waiting.get(key) {
                Some(record) if record.boot_ns >= cutoff_ns => break,
                Some(_) => {
                    let record = self.waiting.remove(key).expect("just seen");
                    expired.push(unpaired(record));
                }
                None => {} // completed already
            }
            self.order.pop_front();
        }
        expired
    }

    /// Every record still waiting, passed on without its result (the source is stopping).
    pub fn drain(&mut self) -> Vec<Box<FileRecord>> {
        self.expire(u64::MAX)
    }

    /// Records waiting now.
    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    /// Whether none waits.
    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    fn oldest(&mut self) -> Option<Box<FileRecord>> {
        while let Some(key) = self.order.pop_front() {
            if let Some(record) = self.waiting.remove(&key) {
                return Some(unpaired(record));
            }
        }
        None
    }
}

/// A record passed on without its result: as one recorded at submission, result unknown.
fn unpaired(mut record: Box<FileRecord>) -> Box<FileRecord> {
    record.submitted = true;
    record
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ebpf::record::FileOp;

    fn pending(key: UringKey, path: &str) -> Box<FileRecord> {
        Box::new(FileRecord {
            op: FileOp::Rename,
            call: Some("renameat2"),
            pid: 1,
            boot_ns: 2,
            start_ns: 3,
            ret: 0,
            inode: None,
            device: None,
            mode: None,
            uid: None,
            gid: None,
            path: path.as_bytes().to_vec(),
            other: None,
            path_truncated: false,
            other_truncated: false,
            path_unresolved: false,
            io_uring: true,
            compat: false,
            submitted: false,
            uring_pending: Some(key),
        })
    }

    #[test]
    fn a_result_completes_its_own_record_only() {
        let mut pairs = Pairs::default();
        assert!(pairs.hold(pending((1, 10), "/a")).is_none());
        assert!(pairs.hold(pending((1, 11), "/b")).is_none());
        assert!(pairs.hold(pending((2, 10), "/c")).is_none());
        let b = pairs.complete((1, 11), -2).unwrap();
        assert_eq!(
            (b.path.as_slice(), b.ret, b.submitted),
            (&b"/b"[..], -2, false)
        );
        assert_eq!(b.uring_pending, None, "passed on as complete");
        assert!(pairs.complete((1, 11), 0).is_none(), "once");
        assert!(
            pairs.complete((3, 10), 0).is_none(),
            "another ring's request"
        );
        assert_eq!(pairs.complete((2, 10), 0).unwrap().path, b"/c");
        assert_eq!(pairs.len(), 1);
    }

    #[test]
    fn a_request_used_again_passes_the_first_on_unpaired() {
        let mut pairs = Pairs::default();
        assert!(pairs.hold(pending((1, 7), "/first")).is_none());
        let first = pairs.hold(pending((1, 7), "/second")).unwrap();
        assert_eq!(first.path, b"/first");
        assert!(first.submitted, "its result unknown");
        assert_eq!(pairs.complete((1, 7), 0).unwrap().path, b"/second");
        assert!(pairs.is_empty());
    }

    #[test]
    fn results_long_in_coming_are_given_up_on_oldest_first() {
        let mut pairs = Pairs::default();
        for (req, at) in [(1, 100), (2, 200), (3, 300)] {
            let mut record = pending((1, req), "/x");
            record.boot_ns = at;
            assert!(pairs.hold(record).is_none());
        }
        assert!(pairs.complete((1, 1), 0).is_some());
        let expired = pairs.expire(250);
        assert_eq!(
            expired.len(),
            1,
            "only the one from 200: 100 completed, 300 is recent"
        );
        assert_eq!((expired[0].boot_ns, expired[0].submitted), (200, true));
        assert_eq!(pairs.len(), 1);
        let rest = pairs.drain();
        assert_eq!(rest.len(), 1);
        assert!(pairs.is_empty() && pairs.complete((1, 3), 0).is_none());
    }

    #[test]
    fn beyond_capacity_the_oldest_goes_on_unpaired() {
        let mut pairs = Pairs::default();
        for req in 0..CAPACITY as u64 {
            assert!(pairs.hold(pending((1, req), "/x")).is_none());
        }
        let oldest = pairs.hold(pending((1, u64::MAX), "/new")).unwrap();
        assert_eq!((oldest.uring_pending, oldest.submitted), (None, true));
        assert_eq!(pairs.len(), CAPACITY);
        assert!(pairs.complete((1, 0), 0).is_none(), "gone");
        assert!(pairs.complete((1, u64::MAX), 0).is_some());
    }
}

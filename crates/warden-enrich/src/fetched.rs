//! What processes fetched, from their connections' first bytes, for the files they write: a
//! file written by a process that had requested a URL (curl, wget, a dropper's own fetch)
//! carries that URL as its download origin, and so does each exec of it after, where the file
//! has no origin of its own (a browser's `user.xdg.origin.url`). What Santa's download origin
//! answers on macOS: where did this binary come from?

use warden_core::{Executable, ProcessKey};

use crate::lru::Bounded;

/// How much later than the close the agent saw a file's last modification may be stamped
/// (fanotify's events are stamped as they are read, a few ms after the close; 1 s spares a
/// loaded host).
const STAMP_SLACK_NS: i64 = 1_000_000_000;

/// Each process's last request's URL, by pid (with the process's key, to tell a later process
/// of the pid); the URL each file such a process is writing came from, by inode, until the
/// file is closed (a shell's redirection: the shell, not the writer, may close it last); and
/// the URL each file written so came from, by inode (with when it was closed: content
/// modified after that is another's). Bounded: past `capacity` entries each, the least
/// recently used are let go.
#[derive(Debug)]
pub struct Fetched {
    requests: Bounded<u32, (ProcessKey, String)>,
    writing: Bounded<u64, String>,
    files: Bounded<u64, (String, i64)>,
}

impl Fetched {
    /// At most `capacity` processes' requests and `capacity` files kept.
    pub fn new(capacity: usize) -> Fetched {
        Fetched {
            requests: Bounded::new(capacity),
            writing: Bounded::new(capacity),
            files: Bounded::new(capacity),
        }
    }

    /// Notes that `process` requested `url` (its latest request: a redirect's target, the
    /// next file of a batch, replaces the one before).
    pub fn requested(&mut self, process: ProcessKey, url: String) {
        self.requests.insert(process.pid, (process, url));
    }

    /// The process of `pid` that last requested a URL, and the URL: the caller tells whether
    /// that process is still the pid's.
    pub fn request_of(&mut self, pid: u32) -> Option<(ProcessKey, &str)> {
        self.requests
            .get(&pid)
            .map(|(process, url)| (*process, url.as_str()))
    }

    /// Notes that the file of `inode`, closed after writing at `closed_ns` (UTC), came from
    /// `url`: its writer's last request.
    pub fn wrote(&mut self, inode: u64, url: &str, closed_ns: i64) {
        self.writing.remove(&inode);
        self.files.insert(inode, (url.to_owned(), closed_ns));
    }

    /// Notes that the file of `inode` is being written with what `url` fetched (a write by
    /// the process that requested it), for its close, whoever closes it.
    pub fn writing(&mut self, inode: u64, url: &str) {
        if self.writing.get(&inode).is_none_or(|noted| noted != url) {
            self.writing.insert(inode, url.to_owned());
        }
    }

    /// The file of `inode`, closed after writing at `closed_ns` by a process that fetched
    /// nothing: it came from the URL its writer had fetched, when one was noted writing it.
    pub fn closed(&mut self, inode: u64, closed_ns: i64) {
        if let Some(url) = self.writing.remove(&inode) {
            self.files.insert(inode, (url, closed_ns));
        }
    }

    /// The URL the file `image` came from: its inode was written by a process that had
    /// requested one, and its content was last modified by that writing (not since).
    pub fn origin_of(&mut self, image: &Executable) -> Option<&str> {
        let modified_ns = image.mtime_ns?;
        self.files
            .get(&image.inode?)
            .filter(|(_, closed_ns)| modified_ns <= closed_ns.saturating_add(STAMP_SLACK_NS))
            .map(|(url, _)| url.as_str())
    }

    /// Whether nothing is noted: no process's request, no file's origin.
    pub fn is_empty(&self) -> bool {
        self.requests.len() == 0 && self.writing.len() == 0 && self.files.len() == 0
    }

    /// Files noted now.
    pub fn files(&self) -> usize {
        self.files.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use warden_core::BootId;

    const S: i64 = 1_000_000_000;

    fn process(pid: u32, start_ticks: u64) -> ProcessKey {
        ProcessKey {
            boot: BootId([1; 16]),
            pid,
            start_ticks,
        }
    }

    fn image(inode: u64, mtime_ns: i64) -> Executable {
        Executable {
            inode: Some(inode),
            mtime_ns: Some(mtime_ns),
            ..Executable::default()
        }
    }

    /// A process's last request is its own (a later process of the pid is told by its key); a
    /// file written after it comes from it while its content is that writing's.
    #[test]
    fn a_file_comes_from_its_writers_last_request_until_rewritten() {
        let mut fetched = Fetched::new(16);
        assert!(fetched.is_empty());
        let curl = process(10, 500);
        fetched.requested(curl, "http://a.example/first".into());
        fetched.requested(curl, "http://b.example/stage2".into());
        assert_eq!(
            fetched.request_of(10),
            Some((curl, "http://b.example/stage2"))
        );
        assert_eq!(fetched.request_of(11), None);
        fetched.wrote(7, "http://b.example/stage2", 100 * S);
        // Modified by that writing (stamped up to a second late): its origin.
        assert_eq!(
            fetched.origin_of(&image(7, 100 * S + S / 2)),
            Some("http://b.example/stage2")
        );
        assert_eq!(
            fetched.origin_of(&image(7, 99 * S)),
            Some("http://b.example/stage2")
        );
        // Written again since, or another file: not.
        assert_eq!(fetched.origin_of(&image(7, 102 * S)), None);
        assert_eq!(fetched.origin_of(&image(8, 100 * S)), None);
        assert_eq!(fetched.origin_of(&Executable::default()), None);
        assert_eq!(fetched.files(), 1);
    }

    /// A file the fetcher wrote and another process closed (`curl URL > x` under a shell that
    /// keeps the descriptor): its origin is what the writer fetched; a file no fetcher wrote
    /// gets none at its close.
    #[test]
    fn a_file_closed_by_another_comes_from_its_writers_request() {
        let mut fetched = Fetched::new(16);
        fetched.writing(7, "http://b.example/stage2");
        assert!(!fetched.is_empty());
        assert_eq!(fetched.origin_of(&image(7, 100 * S)), None);
        fetched.closed(7, 100 * S);
        assert_eq!(
            fetched.origin_of(&image(7, 100 * S)),
            Some("http://b.example/stage2")
        );
        // Noted once: a later close (another writing since) is not this one's.
        fetched.closed(7, 200 * S);
        assert_eq!(fetched.origin_of(&image(7, 200 * S)), None);
        fetched.closed(8, 100 * S);
        assert_eq!(fetched.origin_of(&image(8, 100 * S)), None);
    }
}

//! The JSON-lines event stream: one ECS object per line, to standard output or to a file rotated
//! by size (FILE → FILE.1 → … → FILE.N, the oldest dropped), so shippers such as Filebeat, Vector
//! or Fluent Bit can tail it unchanged. The file never fills its filesystem: below the space to
//! leave free, the oldest rotated files go first, then lines are dropped and counted.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use warden_store::{FilesystemSpace, KeepFree};

use super::create_private_dirs;

/// Lines are gathered up to this many bytes before they are written.
const BUFFER_BYTES: usize = 64 * 1024;
/// The filesystem's free space is asked again once this many bytes of lines were offered (and
/// at every [`RotatingFile::flush`]): before every buffer written, so that the file passes
/// the floor by a buffer at most, even while the store fills the same filesystem. A `statvfs`
/// and two `stat`s per 64 KiB of lines: at 5 MB/s of lines, 80 looks a second.
const SPACE_CHECK_BYTES: u64 = BUFFER_BYTES as u64;

/// Lines that did not reach the file, by cause.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct LinesLost {
    /// The write failed (and the file was cut back to its last whole line).
    pub write_failed: u64,
    /// The filesystem had less free than the space to leave, with no rotated file left to
    /// delete.
    pub disk_short: u64,
}

/// Appends lines to a file, rotating it when the next line would pass `max_bytes`.
pub struct RotatingFile {
    path: PathBuf,
    max_bytes: u64,
    keep: u32,
    keep_free: KeepFree,
    file: File,
    /// Whole lines not yet written.
    buffer: Vec<u8>,
    buffered_lines: u64,
    /// Bytes of whole lines in the file: what a failed write is cut back to.
    written: u64,
    /// Bytes of lines offered since the free space was last asked.
    since_space_check: u64,
    /// The filesystem was under its free space at the last check: lines are dropped.
    short: bool,
    /// The last rotation failed (and was said once).
    rotation_failed: bool,
    lost: LinesLost,
}

impl RotatingFile {
    pub fn open(
        path: &Path,
        max_bytes: u64,
        keep: u32,
        keep_free: KeepFree,
    ) -> io::Result<RotatingFile> {
        if let Some(dir) = path.parent() {
            create_private_dirs(dir)?;
        }
        let file = open_append(path)?;
        let written = file.metadata()?.len();
        let mut out = RotatingFile {
            path: path.to_path_buf(),
            max_bytes: max_bytes.max(1),
            keep,
            keep_free,
            file,
            buffer: Vec::with_capacity(BUFFER_BYTES),
            buffered_lines: 0,
            written,
            since_space_check: 0,
            short: false,
            rotation_failed: false,
            lost: LinesLost::default(),
        };
        out.check_space();
        Ok(out)
    }

    /// Writes one line (a newline is added), or counts it lost. A line longer than the limit
    /// gets a file of its own.
    pub fn write_line(&mut self, line: &str) {
        let size = line.len() as u64 + 1;
        self.since_space_check += size;
        if self.since_space_check >= SPACE_CHECK_BYTES {
            self.check_space();
            self.write_buffer();
        }
        if self.short {
            self.lost.disk_short += 1;
            return;
        }
        let pending = self.written + self.buffer.len() as u64;
        if pending > 0 && pending + size > self.max_bytes {
            self.write_buffer();
            match self.rotate() {
                Ok(()) => self.rotation_failed = false,
                // Keep appending to the current file; the next line tries again.
                Err(e) if !self.rotation_failed => {
                    self.rotation_failed = true;
                    say!("warden: cannot rotate {}: {e}", self.path.display());
                }
                Err(_) => {}
            }
        }
        self.buffer.extend_from_slice(line.as_bytes());
        self.buffer.push(b'\n');
        self.buffered_lines += 1;
        if self.buffer.len() >= BUFFER_BYTES {
            self.write_buffer();
        }
    }

    /// Looks at the file and the filesystem's free space again, and writes what is buffered.
    pub fn flush(&mut self) {
        self.check_space();
        self.write_buffer();
    }

    /// Whether lines are being dropped: the filesystem was short of its free space at the
    /// last look.
    pub fn is_short(&self) -> bool {
        self.short
    }

    /// Lines lost so far, by cause.
    pub fn lost(&self) -> LinesLost {
        self.lost
    }

    /// Writes the buffered lines. On failure (a full disk) the file is cut back to its last
    /// whole line, so that a line is in the file whole or not at all, and the lines are
    /// counted lost.
    fn write_buffer(&mut self) {
        if self.buffer.is_empty() {
            return;
        }
        match self.file.write_all(&self.buffer) {
            Ok(()) => self.written += self.buffer.len() as u64,
            Err(_) => {
                // The file is opened to append: after the cut the next write lands there.
                let _ = self.file.set_len(self.written);
                self.lost.write_failed += self.buffered_lines;
                // Ask again now: the failure may be a full disk.
                self.since_space_check = SPACE_CHECK_BYTES;
            }
        }
        self.buffer.clear();
        self.buffered_lines = 0;
    }

    /// Whether the filesystem has more free than `keep_free`; when it has not, the oldest
    /// rotated files are deleted to give space back, and if that is not enough lines are
    /// dropped until a later check finds room. A filesystem that cannot be asked is taken to
    /// have room (a failed write is still cut back and counted). A file removed or moved away
    /// meanwhile is made again: lines are not written on into a file nobody sees.
    fn check_space(&mut self) {
        self.since_space_check = 0;
        if !self.is_in_place() {
            if let Some(dir) = self.path.parent() {
                let _ = create_private_dirs(dir);
            }
            if let Ok(file) = open_append(&self.path) {
                self.written = file.metadata().map_or(0, |m| m.len());
                self.file = file;
            }
        }
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let room = || FilesystemSpace::of(dir).map(|space| space.room(self.keep_free));
        let mut short = room().is_ok_and(|room| room < 0);
        for n in (1..=self.keep).rev() {
            if !short {
                break;
            }
            if std::fs::remove_file(self.numbered(n)).is_ok() {
                short = room().is_ok_and(|room| room < 0);
            }
        }
        self.short = short;
    }

    /// Whether the file at the path is still the one written to.
    fn is_in_place(&self) -> bool {
        use std::os::unix::fs::MetadataExt as _;
        let ours = self.file.metadata().map(|m| (m.dev(), m.ino()));
        let there = std::fs::metadata(&self.path).map(|m| (m.dev(), m.ino()));
        matches!((ours, there), (Ok(a), Ok(b)) if a == b)
    }

    fn numbered(&self, n: u32) -> PathBuf {
        let mut name = self.path.as_os_str().to_owned();
        name.push(format!(".{n}"));
        PathBuf::from(name)
    }

    fn rotate(&mut self) -> io::Result<()> {
        if self.keep == 0 {
            std::fs::remove_file(&self.path)?;
        } else {
            let _ = std::fs::remove_file(self.numbered(self.keep));
            for n in (1..self.keep).rev() {
                let from = self.numbered(n);
                if from.exists() {
                    std::fs::rename(&from, self.numbered(n + 1))?;
                }
            }
            std::fs::rename(&self.path, self.numbered(1))?;
        }
        self.file = open_append(&self.path)?;
        self.written = 0;
        Ok(())
    }
}

impl Drop for RotatingFile {
    fn drop(&mut self) {
        self.write_buffer();
    }
}

/// Opens `path` to append, creating it readable by its owner only: the lines hold every
/// user's command lines (a file that exists keeps its mode, which its owner chose).
fn open_append(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(i: usize) -> String {
        format!("{{\"n\":\"{i:020}\"}}") // 28 bytes + newline
    }

    #[test]
    fn rotates_by_size_and_keeps_n_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let mut f = RotatingFile::open(&path, 100, 2, KeepFree::NONE).unwrap();
        for i in 0..20 {
            f.write_line(&line(i));
        }
        f.flush();
        let current = std::fs::read_to_string(&path).unwrap();
        assert!(current.len() <= 100);
        assert!(current.ends_with("{\"n\":\"00000000000000000019\"}\n"));
        let one = std::fs::read_to_string(dir.path().join("events.jsonl.1")).unwrap();
        assert_eq!(one.lines().count(), 3);
        assert!(dir.path().join("events.jsonl.2").exists());
        assert!(!dir.path().join("events.jsonl.3").exists());
        // Every line is whole JSON: nothing was split across files.
        for l in current.lines().chain(one.lines()) {
            serde_json::from_str::<serde_json::Value>(l).unwrap();
        }
        assert_eq!(f.lost(), LinesLost::default());
    }

    #[test]
    fn the_file_and_the_dirs_it_makes_are_its_owners_only() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log/warden/events.jsonl");
        let mut f = RotatingFile::open(&path, 100, 1, KeepFree::NONE).unwrap();
        for i in 0..5 {
            f.write_line(&line(i)); // rotated: the new file too
        }
        f.flush();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&dir.path().join("log/warden/events.jsonl.1")), 0o600);
        assert_eq!(mode(&dir.path().join("log/warden")), 0o700);
        assert_eq!(mode(&dir.path().join("log")), 0o700);
    }

    #[test]
    fn a_removed_file_is_made_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let mut f = RotatingFile::open(&path, 1 << 20, 2, KeepFree::NONE).unwrap();
        f.write_line(&line(0));
        f.flush();
        std::fs::remove_file(&path).unwrap();
        f.write_line(&line(1));
        f.flush();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            format!("{}\n", line(1))
        );
    }

    #[test]
    fn failed_writes_are_counted_not_fatal() {
        // /dev/full fails every write with ENOSPC, as a full disk does.
        let mut f = RotatingFile::open(Path::new("/dev/full"), 1 << 20, 0, KeepFree::NONE).unwrap();
        for i in 0..3 {
            f.write_line(&line(i));
        }
        f.flush();
        f.write_line(&line(3));
        f.flush();
        assert_eq!(
            f.lost(),
            LinesLost {
                write_failed: 4,
                disk_short: 0
            }
        );
    }

    #[test]
    fn under_its_free_space_it_deletes_rotated_files_then_drops_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let mut f = RotatingFile::open(&path, 100, 2, KeepFree::NONE).unwrap();
        for i in 0..10 {
            f.write_line(&line(i));
        }
        f.flush();
        assert!(dir.path().join("events.jsonl.2").exists());
        // Ask for all of the filesystem free: no rotated file can give that back.
        f.keep_free = KeepFree {
            percent: 100,
            at_most: u64::MAX,
        };
        f.flush();
        assert!(!dir.path().join("events.jsonl.1").exists());
        assert!(!dir.path().join("events.jsonl.2").exists());
        let before = std::fs::read_to_string(&path).unwrap();
        f.write_line(&line(10));
        f.flush();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), before);
        assert_eq!(f.lost().disk_short, 1);
        // Room again: lines are written again.
        f.keep_free = KeepFree::NONE;
        f.flush();
        f.write_line(&line(11));
        f.flush();
        assert!(
            std::fs::read_to_string(&path)
                .unwrap()
                .ends_with(&format!("{}\n", line(11)))
        );
        assert_eq!(f.lost().disk_short, 1);
    }
}

//! The JSON lines on standard output (`output.stdout`), written by a thread of their own. A
//! reader that is slow or stopped (a paused pager, a shipper behind, a full pipe) never holds
//! the pipeline: lines beyond what may wait for it are dropped and counted. A reader that goes
//! away (a closed pipe) ends the printing, said once, and the agent records on.

use std::io::{self, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Bytes of lines that may wait for the reader: a few seconds of a busy host's events.
const WAITING_BYTES: u64 = 8 << 20;
/// Lines are gathered up to this many bytes into one write.
const WRITE_BYTES: usize = 64 * 1024;

/// Lines that were not printed, by cause.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct LinesNotPrinted {
    /// More were waiting for the reader than [`WAITING_BYTES`].
    pub slow_reader: u64,
    /// Standard output failed (its reader went away): nothing is printed since.
    pub closed: u64,
}

/// The printing thread and the lines on their way to it.
pub struct StdoutLines {
    lines: Option<Sender<String>>,
    /// Bytes sent and not yet written, shared with the thread.
    waiting: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
    not_printed: LinesNotPrinted,
}

impl StdoutLines {
    /// Starts the printing thread (`warden-stdout`).
    pub fn start() -> io::Result<StdoutLines> {
        let (lines, printed) = mpsc::channel::<String>();
        let waiting = Arc::new(AtomicU64::new(0));
        let thread = {
            let waiting = Arc::clone(&waiting);
            std::thread::Builder::new()
                .name("warden-stdout".into())
                .spawn(move || print(&printed, &waiting, &mut io::stdout().lock()))?
        };
        Ok(StdoutLines {
            lines: Some(lines),
            waiting,
            thread: Some(thread),
            not_printed: LinesNotPrinted::default(),
        })
    }

    /// Hands one line (without its newline) to the thread, or counts it not printed.
    pub fn write_line(&mut self, line: String) {
        let size = line.len() as u64 + 1;
        let Some(lines) = &self.lines else {
            self.not_printed.closed += 1;
            return;
        };
        if self.waiting.load(Ordering::Relaxed) + size > WAITING_BYTES {
            self.not_printed.slow_reader += 1;
            return;
        }
        self.waiting.fetch_add(size, Ordering::Relaxed);
        if lines.send(line).is_err() {
            self.lines = None;
            self.not_printed.closed += 1;
        }
    }

    /// Lines not printed so far, by cause.
    pub fn not_printed(&self) -> LinesNotPrinted {
        self.not_printed
    }

    /// Whether the lines are being dropped, for a reader that is gone or behind: the news of
    /// their loss is not offered to it then.
    pub fn is_dropping(&self) -> bool {
        self.lines.is_none() || self.waiting.load(Ordering::Relaxed) >= WAITING_BYTES / 2
    }

    /// At the stop: lets the thread print what waits, for at most `wait` (a reader that
    /// takes nothing would otherwise hold the stop for good); what is left is not printed.
    pub fn finish(&mut self, wait: Duration) {
        self.lines = None;
        let Some(thread) = self.thread.take() else {
            return;
        };
        let deadline = Instant::now() + wait;
        while !thread.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        // Unfinished, it is left to the process's exit.
        if thread.is_finished() {
            let _ = thread.join();
        }
    }
}

/// The thread: writes the lines as they come, gathered while more wait, until the pipeline
/// is done or `out` fails.
fn print(lines: &Receiver<String>, waiting: &AtomicU64, out: &mut impl Write) {
    let mut batch = Vec::with_capacity(WRITE_BYTES);
    while let Ok(first) = lines.recv() {
        batch.clear();
        let mut next = Some(first);
        while let Some(line) = next.take() {
            batch.extend_from_slice(line.as_bytes());
            batch.push(b'\n');
            if batch.len() < WRITE_BYTES {
                next = lines.try_recv().ok();
            }
        }
        let written = out.write_all(&batch).and_then(|()| out.flush());
        waiting.fetch_sub(batch.len() as u64, Ordering::Relaxed);
        if let Err(e) = written {
            say!(
                "warden: standard output failed ({e}): events are no longer printed there; \
                 the store and the JSON file, if any, still keep them"
            );
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that fails after `room` bytes, as a pipe whose reader went away.
    struct Closing {
        written: Vec<u8>,
        room: usize,
    }

    impl Write for Closing {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.written.len() + buf.len() > self.room {
                return Err(io::ErrorKind::BrokenPipe.into());
            }
            self.written.extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_are_written_whole_until_the_output_fails() {
        let (lines, printed) = mpsc::channel();
        let waiting = AtomicU64::new(0);
        for line in ["{\"a\":1}", "{\"b\":2}"] {
            waiting.fetch_add(line.len() as u64 + 1, Ordering::Relaxed);
            lines.send(line.to_string()).unwrap();
        }
        drop(lines);
        let mut out = Closing {
            written: Vec::new(),
            room: 1 << 20,
        };
        print(&printed, &waiting, &mut out);
        assert_eq!(out.written, b"{\"a\":1}\n{\"b\":2}\n");
        assert_eq!(waiting.load(Ordering::Relaxed), 0);

        // A failed write ends the thread: the pipeline's next send finds it gone.
        let (lines, printed) = mpsc::channel();
        lines.send("x".repeat(100)).unwrap();
        let mut out = Closing {
            written: Vec::new(),
            room: 10,
        };
        print(&printed, &AtomicU64::new(101), &mut out);
        drop(printed);
        assert!(lines.send("after".into()).is_err());
    }
}

//! Filesystems served over a network or by a process (NFS, SMB, FUSE…): which paths lie on
//! one ([`ServedMounts`]), and looks at executables there from a thread of their own
//! ([`ServedLooks`]). A server that stops answering keeps that thread waiting in the kernel —
//! for good, on a hard NFS mount whose server is gone — never the pipeline, which waits a
//! bounded time for each answer and goes on without it.

use std::fs::File;
use std::io::{Read, Seek};
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::time::Duration;

use warden_core::Executable;
use warden_enrich::ExecutableCache;
use warden_sources::fanotify::mounts;

use super::activity::under;

/// The mount points of served filesystems in the agent's mount namespace, read again when the
/// kernel says its mount table changed (mountinfo polls "priority" then): a filesystem mounted
/// a moment ago is known at the next question. Reading mountinfo never waits on a server; a
/// look at a path under one could.
pub struct ServedMounts {
    /// `/proc/self/mountinfo`, kept open to be polled.
    mountinfo: Option<File>,
    points: Vec<Vec<u8>>,
}

impl ServedMounts {
    /// The served filesystems mounted now.
    pub fn new() -> ServedMounts {
        let mut mounts = ServedMounts {
            mountinfo: File::open("/proc/self/mountinfo").ok(),
            points: Vec::new(),
        };
        mounts.read();
        mounts
    }

    /// Whether `path` lies on a served filesystem: one poll, and a read of mountinfo after a
    /// change of the mount table.
    pub fn holds(&mut self, path: &[u8]) -> bool {
        if self.changed() {
            self.read();
        }
        self.points.iter().any(|point| under(path, point))
    }

    /// Whether the mount table changed since mountinfo was last polled (the poll clears it).
    fn changed(&self) -> bool {
        use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
        let Some(file) = &self.mountinfo else {
            return false;
        };
        let mut fds = [PollFd::new(file.as_fd(), PollFlags::POLLPRI)];
        poll(&mut fds, PollTimeout::ZERO).is_ok_and(|n| {
            n > 0
                && fds[0]
                    .revents()
                    .is_some_and(|r| r.intersects(PollFlags::POLLPRI | PollFlags::POLLERR))
        })
    }

    fn read(&mut self) {
        let Some(file) = &mut self.mountinfo else {
            return;
        };
        let mut text = Vec::new();
        if file.rewind().is_ok() && file.read_to_end(&mut text).is_ok() {
            self.points = mounts::served_mount_points(&mounts::parse_mountinfo(&text));
        }
    }
}

/// The type of the network or FUSE filesystem holding `path` (the innermost mount over it),
/// if it is on one; from mountinfo alone, so a server that does not answer keeps no one
/// waiting.
pub fn served_filesystem_of(path: &Path) -> Option<String> {
    let text = std::fs::read("/proc/self/mountinfo").ok()?;
    let path = std::path::absolute(path).ok()?;
    mounts::parse_mountinfo(&text)
        .into_iter()
        .filter(|e| under(path.as_os_str().as_bytes(), &e.mount_point))
        // The last of the longest: a later mount on the same point hides the earlier.
        .max_by_key(|e| e.mount_point.len())
        .filter(|e| mounts::served(&e.fstype))
        .map(|e| e.fstype)
}

/// The served filesystems whose server does not answer within `wait`, by mount point and
/// type: a `statfs` of each (which asks the server, where a `stat` could be answered from the
/// client's cache), all at once, each from a thread of its own, left waiting where it does not
/// answer. For the start's look at the watched paths, which would wait on such a server.
pub fn unanswering(wait: Duration) -> Vec<(Vec<u8>, String)> {
    let Ok(text) = std::fs::read("/proc/self/mountinfo") else {
        return Vec::new();
    };
    let (answer, answers) = mpsc::channel();
    let mut asked = Vec::new();
    for entry in mounts::parse_mountinfo(&text) {
        if !mounts::served(&entry.fstype) {
            continue;
        }
        let answer = answer.clone();
        let point = entry.mount_point.clone();
        let spawned = std::thread::Builder::new()
            .name("warden-statfs".into())
            .spawn(move || {
                let path = std::ffi::OsStr::from_bytes(&point);
                let _ = nix::sys::statvfs::statvfs(path);
                let _ = answer.send(point);
            });
        if spawned.is_ok() {
            asked.push((entry.mount_point, entry.fstype));
        }
    }
    drop(answer);
    let deadline = std::time::Instant::now() + wait;
    while !asked.is_empty() {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match answers.recv_timeout(left) {
            Ok(point) => asked.retain(|(p, _)| *p != point),
            Err(_) => break,
        }
    }
    asked
}

/// How long the pipeline waits for an image's description: a cold 20 MB binary over a
/// gigabit link is hashed in about this time. A slower answer is still kept for the image's
/// next exec ([`ServedLooks::late`]).
pub const SERVED_WAIT: Duration = Duration::from_millis(200);

/// One look asked of the thread: the image `pid` runs from `path`.
struct Look {
    pid: u32,
    path: Vec<u8>,
}

/// The looking thread and what came of its looks.
pub struct ServedLooks {
    looks: SyncSender<Look>,
    answers: Receiver<Option<Executable>>,
    /// A look was asked and not answered yet (one is asked at a time).
    pending: bool,
    /// Answers that came after their wait: kept for the image's next exec.
    late: Vec<Executable>,
    /// Counters, for the status file.
    pub stats: ServedStats,
}

/// What came of the looks at executables on served filesystems.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ServedStats {
    /// Described within the wait.
    pub described: u64,
    /// Not described: no answer within the wait.
    pub late: u64,
    /// Not described: the thread was still waiting on an earlier look.
    pub busy: u64,
}

impl ServedLooks {
    /// Starts the looking thread (`warden-served`).
    pub fn start() -> std::io::Result<ServedLooks> {
        let (looks, asked) = mpsc::sync_channel::<Look>(1);
        let (answer, answers) = mpsc::channel();
        std::thread::Builder::new()
            .name("warden-served".into())
            .spawn(move || {
                // Small: the pipeline keeps what it is told in its own cache.
                let mut cache = ExecutableCache::new(16);
                for look in asked {
                    let exe = warden_enrich::describe_image(&mut cache, look.pid, &look.path);
                    if answer.send(exe).is_err() {
                        break;
                    }
                }
            })?;
        Ok(ServedLooks {
            looks,
            answers,
            pending: false,
            late: Vec::new(),
            stats: ServedStats::default(),
        })
    }

    /// The image `pid` runs from `path`, described by the looking thread within `wait`. None
    /// when it did not answer in time, or is still waiting on an earlier look (then this one
    /// is not asked: the pipeline never queues behind a server that stopped answering).
    pub fn describe(&mut self, pid: u32, path: &[u8], wait: Duration) -> Option<Executable> {
        self.collect_late();
        if self.pending {
            self.stats.busy += 1;
            return None;
        }
        let look = Look {
            pid,
            path: path.to_vec(),
        };
        if self.looks.try_send(look).is_err() {
            // Only when the thread is gone (it cannot be full with nothing pending).
            self.stats.busy += 1;
            return None;
        }
        self.pending = true;
        match self.answers.recv_timeout(wait) {
            Ok(exe) => {
                self.pending = false;
                self.stats.described += 1;
                exe
            }
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                self.stats.late += 1;
                None
            }
        }
    }

    /// Descriptions that came after their wait, to remember for the images' next execs.
    pub fn late(&mut self) -> Vec<Executable> {
        self.collect_late();
        std::mem::take(&mut self.late)
    }

    fn collect_late(&mut self) {
        if self.pending
            && let Ok(exe) = self.answers.try_recv()
        {
            self.pending = false;
            self.late.extend(exe);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_within_the_wait_describes_the_image() {
        let mut looks = ServedLooks::start().unwrap();
        // Not this test's own image (it may be too large to hash): another process's, by path.
        let path = b"/usr/bin/true";
        let exe = looks
            .describe(std::process::id(), path, Duration::from_secs(10))
            .expect("described");
        assert_eq!(
            exe.size,
            Some(std::fs::metadata("/usr/bin/true").unwrap().len())
        );
        assert_eq!(exe.sha256.as_deref().map(str::len), Some(64));
        assert_eq!(looks.stats.described, 1);
        assert!(looks.late().is_empty());
    }

    #[test]
    fn an_answer_after_the_wait_is_kept_and_no_look_queues_behind_it() {
        let mut looks = ServedLooks::start().unwrap();
        let path = b"/usr/bin/true";
        // No wait at all: the answer comes after it (hashing this binary takes milliseconds).
        assert!(
            looks
                .describe(std::process::id(), path, Duration::ZERO)
                .is_none()
        );
        assert_eq!(looks.stats.late, 1);
        // While the first look is under way the next is not asked.
        if looks
            .describe(std::process::id(), path, Duration::ZERO)
            .is_none()
        {
            assert!(looks.stats.busy == 1 || looks.stats.late == 2);
        }
        // Every late answer is kept: one, or two should the first have come before the second
        // look was asked.
        let late = usize::try_from(looks.stats.late).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let mut kept = Vec::new();
        while kept.len() < late && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
            kept.extend(looks.late());
        }
        assert_eq!(kept.len(), late, "the late answers are kept");
        assert!(kept.iter().all(|exe| exe.sha256.is_some()));
    }
}

//! A tiny FUSE filesystem served by a thread of the test process over the raw `/dev/fuse`
//! protocol (the kernel's include/uapi/linux/fuse.h), for the end-to-end tests that check the
//! agent never stalls on a filesystem whose server stops answering some processes.
//!
//! One flat root directory of regular files, kept in memory. Every lookup and attribute read
//! reaches the server (no caching), so the tests see each access; requests from the threads the
//! test picks are left unanswered (for 20 s, then EIO), like a server that hangs for them. Needs
//! root (mount(2)).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::ffi::CString;
use std::fs::File;
use std::io::{self, PipeReader, PipeWriter, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

/// The node id the kernel gives the root directory.
const ROOT: u64 = 1;
/// The largest WRITE the kernel may send; 128 KiB is within its default page limit, so no
/// FUSE_MAX_PAGES negotiation is needed.
const MAX_WRITE: u32 = 128 * 1024;
/// The kernel refuses reads of the device too short for a WRITE of `MAX_WRITE` plus headers.
const READ_BUFFER: usize = MAX_WRITE as usize + 4096;
/// How long a request left unanswered waits before it gets EIO after all: past every wait of
/// the tests, so an agent a failing test leaves waiting on the server still ends (a process
/// waiting on FUSE cannot even be killed until the request ends).
const GIVE_UP_AFTER: Duration = Duration::from_secs(20);
/// The protocol version we speak: 7.31 has every structure used here at its current size.
const MAJOR: u32 = 7;
const MINOR: u32 = 31;
/// INIT flag: WRITE requests may carry more than one page (else a 1 MB write takes 256).
const FUSE_BIG_WRITES: u32 = 1 << 5;
/// INIT flag: lookups in one directory need not wait for each other. Without it the kernel
/// serializes them on a per-directory lock, and one unanswered lookup would stall every other
/// process looking up a name in the root, whether the server ignores it or not.
const FUSE_PARALLEL_DIROPS: u32 = 1 << 18;
/// fuse_setattr_in.valid bits.
const FATTR_MODE: u32 = 1 << 0;
const FATTR_UID: u32 = 1 << 1;
const FATTR_GID: u32 = 1 << 2;
const FATTR_SIZE: u32 = 1 << 3;
const FATTR_ATIME: u32 = 1 << 4;
const FATTR_MTIME: u32 = 1 << 5;
const FATTR_ATIME_NOW: u32 = 1 << 7;
const FATTR_MTIME_NOW: u32 = 1 << 8;
const FATTR_CTIME: u32 = 1 << 10;

/// The opcodes handled (enum fuse_opcode); the others get ENOSYS.
mod op {
    pub const LOOKUP: u32 = 1;
    pub const FORGET: u32 = 2;
    pub const GETATTR: u32 = 3;
    pub const SETATTR: u32 = 4;
    pub const UNLINK: u32 = 10;
    pub const OPEN: u32 = 14;
    pub const READ: u32 = 15;
    pub const WRITE: u32 = 16;
    pub const STATFS: u32 = 17;
    pub const RELEASE: u32 = 18;
    pub const FSYNC: u32 = 20;
    pub const GETXATTR: u32 = 22;
    pub const LISTXATTR: u32 = 23;
    pub const FLUSH: u32 = 25;
    pub const INIT: u32 = 26;
    pub const OPENDIR: u32 = 27;
    pub const READDIR: u32 = 28;
    pub const RELEASEDIR: u32 = 29;
    pub const ACCESS: u32 = 34;
    pub const CREATE: u32 = 35;
    pub const INTERRUPT: u32 = 36;
    pub const DESTROY: u32 = 38;
    pub const BATCH_FORGET: u32 = 42;
}

/// A mounted test filesystem; dropping it ends the connection and unmounts it.
pub struct FuseMount {
    dir: tempfile::TempDir,
    /// Dropped to tell the serving thread to stop: its end of the pipe then hangs up.
    stop: Option<PipeWriter>,
    thread: Option<JoinHandle<()>>,
    ignored: Arc<AtomicU64>,
}

impl FuseMount {
    /// Mounts (fstype `fuse.warden-test`) a filesystem at a fresh temp directory, served by a
    /// thread. Its root starts with `files`: (name, content, mode); regular files can be
    /// created, written, truncated, chmod'ed and unlinked there. A request from a thread id for
    /// which `ignore` is true is not answered: it stays pending until the `FuseMount` drops, or
    /// for 20 s (`GIVE_UP_AFTER`), then fails with EIO.
    /// (Requests the kernel makes on its own, like RELEASE after the last close, come with 0.)
    pub fn serve(
        files: Vec<(&str, Vec<u8>, u32)>,
        ignore: impl Fn(u32) -> bool + Send + 'static,
    ) -> io::Result<FuseMount> {
        let dir = tempfile::tempdir()?;
        // Non-blocking, so the thread can wait on it and on the stop pipe together.
        let device = File::options()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open("/dev/fuse")?;
        let options = format!(
            "fd={},rootmode=40755,user_id=0,group_id=0,allow_other",
            device.as_raw_fd()
        );
        let target = CString::new(dir.path().as_os_str().as_bytes())?;
        let options = CString::new(options)?;
        // SAFETY: every pointer is to a NUL-terminated string that outlives the call.
        let mounted = unsafe {
            libc::mount(
                c"warden-test".as_ptr(),
                target.as_ptr(),
                c"fuse.warden-test".as_ptr(),
                libc::MS_NOSUID | libc::MS_NODEV,
                options.as_ptr().cast(),
            )
        };
        if mounted != 0 {
            return Err(io::Error::last_os_error());
        }
        // From here on `FuseMount`'s drop cleans up, even if the thread does not start.
        let mut mount = FuseMount {
            dir,
            stop: None,
            thread: None,
            ignored: Arc::new(AtomicU64::new(0)),
        };
        let (stop_reader, stop_writer) = io::pipe()?;
        mount.stop = Some(stop_writer);
        let server = Server::new(device, files, Box::new(ignore), mount.ignored.clone());
        let thread = std::thread::Builder::new()
            .name("fuse-server".into())
            .spawn(move || server.run(&stop_reader))?;
        mount.thread = Some(thread);
        Ok(mount)
    }

    /// The mount point.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// How many requests were left unanswered so far.
    pub fn ignored(&self) -> u64 {
        self.ignored.load(Ordering::SeqCst)
    }
}

impl Drop for FuseMount {
    fn drop(&mut self) {
        // The thread leaves its loop and closes the device: closing the last reference to it
        // aborts the connection, so pending requests fail (ENOTCONN, ECONNABORTED) instead of
        // leaving their processes stuck, uninterruptibly, forever.
        self.stop.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        // Detached: a process still inside the filesystem would make a plain umount fail.
        if let Ok(target) = CString::new(self.dir.path().as_os_str().as_bytes()) {
            // SAFETY: a NUL-terminated path that outlives the call.
            unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
        }
    }
}

/// The thread group (process) id of thread `tid`, from /proc.
pub fn process_of(tid: u32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{tid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("Tgid:"))?
        .trim()
        .parse()
        .ok()
}

struct Inode {
    /// File type and permission bits, as st_mode.
    mode: u32,
    uid: u32,
    gid: u32,
    data: Vec<u8>,
    atime: Duration,
    mtime: Duration,
    ctime: Duration,
    /// How many times the kernel was handed this node and not told to forget it: an unlinked
    /// file lives on (open, or running) until that drops to zero.
    lookups: u64,
    linked: bool,
}

impl Inode {
    fn new(mode: u32, uid: u32, gid: u32, data: Vec<u8>) -> Inode {
        let now = now();
        Inode {
            mode,
            uid,
            gid,
            data,
            atime: now,
            mtime: now,
            ctime: now,
            lookups: 0,
            linked: true,
        }
    }
}

fn now() -> Duration {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
}

struct Server {
    device: File,
    inodes: HashMap<u64, Inode>,
    /// The root directory: name to node id.
    names: BTreeMap<Vec<u8>, u64>,
    next_node: u64,
    ignore: Box<dyn Fn(u32) -> bool + Send>,
    ignored: Arc<AtomicU64>,
    /// Requests left unanswered, oldest first, with when they came.
    unanswered: VecDeque<(u64, Instant)>,
}

impl Server {
    fn new(
        device: File,
        files: Vec<(&str, Vec<u8>, u32)>,
        ignore: Box<dyn Fn(u32) -> bool + Send>,
        ignored: Arc<AtomicU64>,
    ) -> Server {
        let mut server = Server {
            device,
            inodes: HashMap::from([(ROOT, Inode::new(libc::S_IFDIR | 0o755, 0, 0, Vec::new()))]),
            names: BTreeMap::new(),
            next_node: ROOT + 1,
            ignore,
            ignored,
            unanswered: VecDeque::new(),
        };
        for (name, data, mode) in files {
            server.add(
                name.as_bytes(),
                Inode::new(libc::S_IFREG | mode, 0, 0, data),
            );
        }
        server
    }

    fn add(&mut self, name: &[u8], inode: Inode) -> u64 {
        let node = self.next_node;
        self.next_node += 1;
        self.inodes.insert(node, inode);
        self.names.insert(name.to_vec(), node);
        node
    }

    /// Serves until `stop` hangs up or the connection ends; then the device closes.
    fn run(mut self, stop: &PipeReader) {
        let mut buffer = vec![0; READ_BUFFER];
        loop {
            let mut fds = [self.device.as_raw_fd(), stop.as_raw_fd()].map(|fd| libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            });
            let timeout = self.unanswered.front().map_or(-1, |(_, since)| {
                let left = GIVE_UP_AFTER.saturating_sub(since.elapsed());
                i32::try_from(left.as_millis()).unwrap_or(i32::MAX)
            });
            // SAFETY: `fds` is a valid array of two pollfds for the duration of the call.
            if unsafe { libc::poll(fds.as_mut_ptr(), 2, timeout) } < 0 {
                if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return;
            }
            if fds[1].revents != 0 {
                return;
            }
            while let Some(&(unique, since)) = self.unanswered.front() {
                if since.elapsed() < GIVE_UP_AFTER {
                    break;
                }
                self.unanswered.pop_front();
                self.reply(unique, Err(libc::EIO));
            }
            match (&self.device).read(&mut buffer) {
                Ok(len) => self.handle(&buffer[..len]),
                // Nothing there after all, or the request was interrupted while being read.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
                // ENODEV: unmounted or aborted from outside.
                Err(_) => return,
            }
        }
    }

    fn handle(&mut self, request: &[u8]) {
        // struct fuse_in_header: len, opcode, unique, nodeid, uid, gid, pid, total_extlen.
        let opcode = u32_at(request, 4);
        let unique = u64_at(request, 8);
        let node = u64_at(request, 16);
        let (uid, gid) = (u32_at(request, 24), u32_at(request, 28));
        let tid = u32_at(request, 32);
        let body = request.get(40..).unwrap_or_default();
        match opcode {
            // These get no reply; ignoring them would change nothing.
            op::FORGET => return self.forget(node, u64_at(body, 0)),
            op::BATCH_FORGET => {
                // fuse_batch_forget_in (count, dummy), then count fuse_forget_one.
                for at in (0..u32_at(body, 0) as usize).map(|i| 8 + 16 * i) {
                    self.forget(u64_at(body, at), u64_at(body, at + 8));
                }
                return;
            }
            // The interrupted request gets its answer (or not) like any other.
            op::INTERRUPT => return,
            // Ignoring INIT would stall every process, not just the ignored ones.
            op::INIT => {}
            _ if (self.ignore)(tid) => {
                self.ignored.fetch_add(1, Ordering::SeqCst);
                self.unanswered.push_back((unique, Instant::now()));
                return;
            }
            _ => {}
        }
        let result = match opcode {
            op::INIT => Ok(init(body)),
            op::LOOKUP => match self.names.get(cstr(body)) {
                Some(&node) => self.entry_out(node),
                None => Err(libc::ENOENT),
            },
            op::GETATTR => self.attr_out(node),
            op::SETATTR => self.setattr(node, body),
            op::OPEN | op::OPENDIR => self.inode(node).map(|_| open_out()),
            op::CREATE => self.create(body, uid, gid),
            op::READ => self.read(node, body),
            op::WRITE => self.write(node, body),
            op::READDIR => Ok(self.readdir(body)),
            op::UNLINK => self.unlink(cstr(body)),
            op::STATFS => Ok(statfs_out()),
            op::FLUSH | op::RELEASE | op::FSYNC | op::RELEASEDIR | op::ACCESS | op::DESTROY => {
                Ok(Out::default())
            }
            op::GETXATTR => Err(libc::ENODATA),
            // With size 0 the caller asks how long the (empty) list is.
            op::LISTXATTR if u32_at(body, 0) == 0 => Ok(Out::default().u32s(&[0, 0])),
            op::LISTXATTR => Ok(Out::default()),
            _ => Err(libc::ENOSYS),
        };
        self.reply(unique, result);
    }

    /// Writes the answer to request `unique`: a fuse_out_header then the body, in one write.
    fn reply(&self, unique: u64, result: Result<Out, i32>) {
        let (error, body) = match result {
            Ok(out) => (0, out.0),
            Err(errno) => (-errno, Vec::new()),
        };
        let message = Out::default()
            .u32s(&[16 + body.len() as u32, error as u32])
            .u64s(&[unique])
            .bytes(&body);
        // Fails (ENOENT) only when the request was interrupted meanwhile: nobody to tell then.
        let _ = (&self.device).write_all(&message.0);
    }

    fn inode(&mut self, node: u64) -> Result<&mut Inode, i32> {
        self.inodes.get_mut(&node).ok_or(libc::ENOENT)
    }

    fn forget(&mut self, node: u64, count: u64) {
        if let Some(inode) = self.inodes.get_mut(&node) {
            inode.lookups = inode.lookups.saturating_sub(count);
            if inode.lookups == 0 && !inode.linked {
                self.inodes.remove(&node);
            }
        }
    }

    /// A fuse_entry_out for `node`, counting the lookup the kernel will now hold.
    fn entry_out(&mut self, node: u64) -> Result<Out, i32> {
        let inode = self.inode(node)?;
        inode.lookups += 1;
        // Zero timeouts for the name and the attributes: every access reaches the server.
        // nodeid, generation, entry_valid, attr_valid, entry_valid_nsec, attr_valid_nsec.
        let out = Out::default().u64s(&[node, 0, 0, 0]).u32s(&[0, 0]);
        Ok(out.attr(node, inode))
    }

    /// A fuse_attr_out for `node`, not to be cached either.
    fn attr_out(&mut self, node: u64) -> Result<Out, i32> {
        let inode = self.inode(node)?;
        // attr_valid, attr_valid_nsec, dummy.
        Ok(Out::default().u64s(&[0]).u32s(&[0, 0]).attr(node, inode))
    }

    fn setattr(&mut self, node: u64, body: &[u8]) -> Result<Out, i32> {
        // struct fuse_setattr_in: valid, padding, fh, size, lock_owner, atime, mtime, ctime,
        // atimensec, mtimensec, ctimensec, mode, unused4, uid, gid, unused5.
        let valid = u32_at(body, 0);
        let time = |secs_at, nanos_at| Duration::new(u64_at(body, secs_at), u32_at(body, nanos_at));
        let inode = self.inode(node)?;
        if valid & FATTR_MODE != 0 {
            inode.mode = (inode.mode & libc::S_IFMT) | (u32_at(body, 68) & 0o7777);
        }
        if valid & FATTR_UID != 0 {
            inode.uid = u32_at(body, 76);
        }
        if valid & FATTR_GID != 0 {
            inode.gid = u32_at(body, 80);
        }
        if valid & FATTR_SIZE != 0 {
            inode.data.resize(u64_at(body, 16) as usize, 0);
            inode.mtime = now();
        }
        if valid & FATTR_ATIME_NOW != 0 {
            inode.atime = now();
        } else if valid & FATTR_ATIME != 0 {
            inode.atime = time(32, 56);
        }
        if valid & FATTR_MTIME_NOW != 0 {
            inode.mtime = now();
        } else if valid & FATTR_MTIME != 0 {
            inode.mtime = time(40, 60);
        }
        inode.ctime = if valid & FATTR_CTIME != 0 {
            time(48, 64)
        } else {
            now()
        };
        self.attr_out(node)
    }

    fn create(&mut self, body: &[u8], uid: u32, gid: u32) -> Result<Out, i32> {
        // struct fuse_create_in: flags, mode (umask already applied), umask, open_flags; name.
        let name = cstr(body.get(16..).unwrap_or_default());
        if self.names.contains_key(name) {
            return Err(libc::EEXIST);
        }
        let mode = libc::S_IFREG | (u32_at(body, 4) & 0o7777);
        let node = self.add(name, Inode::new(mode, uid, gid, Vec::new()));
        Ok(self.entry_out(node)?.bytes(&open_out().0))
    }

    fn read(&mut self, node: u64, body: &[u8]) -> Result<Out, i32> {
        // struct fuse_read_in: fh, offset, size, ...
        let (offset, size) = (u64_at(body, 8) as usize, u32_at(body, 16) as usize);
        let data = &self.inode(node)?.data;
        let start = offset.min(data.len());
        Ok(Out::default().bytes(&data[start..(start + size).min(data.len())]))
    }

    fn write(&mut self, node: u64, body: &[u8]) -> Result<Out, i32> {
        // struct fuse_write_in: fh, offset, size, write_flags, lock_owner, flags, padding; data.
        let (offset, size) = (u64_at(body, 8) as usize, u32_at(body, 16) as usize);
        let written = body.get(40..40 + size).ok_or(libc::EINVAL)?;
        let inode = self.inode(node)?;
        if inode.data.len() < offset + size {
            inode.data.resize(offset + size, 0);
        }
        inode.data[offset..offset + size].copy_from_slice(written);
        (inode.mtime, inode.ctime) = (now(), now());
        // struct fuse_write_out: size, padding.
        Ok(Out::default().u32s(&[size as u32, 0]))
    }

    /// Directory entries (fuse_dirent) from the offset asked, as many as fit in the size asked;
    /// an entry's offset is its index plus one, which is where the next read resumes.
    fn readdir(&self, body: &[u8]) -> Out {
        let (offset, size) = (u64_at(body, 8) as usize, u32_at(body, 16) as usize);
        let dots = [(&b"."[..], ROOT), (&b".."[..], ROOT)];
        let entries = dots.into_iter().chain(
            self.names
                .iter()
                .map(|(name, node)| (name.as_slice(), *node)),
        );
        let mut out = Out::default();
        for (index, (name, node)) in entries.enumerate().skip(offset) {
            let mode = self.inodes.get(&node).map_or(0, |inode| inode.mode);
            // ino, off, namelen, type (the DT_ value: the S_IFMT bits shifted), name, padding.
            let record = Out::default()
                .u64s(&[node, index as u64 + 1])
                .u32s(&[name.len() as u32, (mode & libc::S_IFMT) >> 12])
                .bytes(name)
                .pad8();
            if out.0.len() + record.0.len() > size {
                break;
            }
            out = out.bytes(&record.0);
        }
        out
    }

    fn unlink(&mut self, name: &[u8]) -> Result<Out, i32> {
        let node = self.names.remove(name).ok_or(libc::ENOENT)?;
        let inode = self.inode(node)?;
        (inode.linked, inode.ctime) = (false, now());
        // Dropped now if the kernel holds no reference to it, otherwise on its last FORGET.
        self.forget(node, 0);
        Ok(Out::default())
    }
}

/// The INIT reply (fuse_init_out: major, minor, max_readahead, flags, max_background and
/// congestion_threshold, max_write, time_gran, max_pages and map_alignment, flags2, unused[7])
/// to the kernel's fuse_init_in (major, minor, max_readahead, flags, ...): the readahead it
/// asks, the flags we want among those it offers, its default limits, nanosecond times.
fn init(body: &[u8]) -> Out {
    let flags = u32_at(body, 12) & (FUSE_BIG_WRITES | FUSE_PARALLEL_DIROPS);
    let out = Out::default().u32s(&[MAJOR, MINOR, u32_at(body, 8), flags, 0, MAX_WRITE, 1, 0, 0]);
    out.u32s(&[0; 7])
}

/// fuse_open_out: no file handle needed (nodes are enough), no open flags.
fn open_out() -> Out {
    Out::default().u64s(&[0]).u32s(&[0, 0])
}

/// fuse_statfs_out: blocks, bfree, bavail, files, ffree, bsize, namelen, frsize, padding,
/// spare[6]; free space is whatever memory holds.
fn statfs_out() -> Out {
    let out = Out::default().u64s(&[1 << 20, 1 << 19, 1 << 19, 1 << 20, 1 << 19]);
    out.u32s(&[4096, 255, 4096, 0]).u32s(&[0; 6])
}

/// A message being built, in the kernel's (native) byte order.
#[derive(Default)]
struct Out(Vec<u8>);

impl Out {
    fn u32s(mut self, values: &[u32]) -> Out {
        self.0
            .extend(values.iter().flat_map(|value| value.to_ne_bytes()));
        self
    }

    fn u64s(mut self, values: &[u64]) -> Out {
        self.0
            .extend(values.iter().flat_map(|value| value.to_ne_bytes()));
        self
    }

    fn bytes(mut self, bytes: &[u8]) -> Out {
        self.0.extend_from_slice(bytes);
        self
    }

    fn pad8(mut self) -> Out {
        self.0.resize(self.0.len().next_multiple_of(8), 0);
        self
    }

    /// struct fuse_attr: ino, size, blocks, atime, mtime, ctime, atimensec, mtimensec,
    /// ctimensec, mode, nlink, uid, gid, rdev, blksize, flags.
    fn attr(self, node: u64, inode: &Inode) -> Out {
        let size = inode.data.len() as u64;
        let nlink = match (inode.mode & libc::S_IFMT == libc::S_IFDIR, inode.linked) {
            (true, _) => 2,
            (false, linked) => u32::from(linked),
        };
        let (a, m, c) = (inode.atime, inode.mtime, inode.ctime);
        self.u64s(&[node, size, size.div_ceil(512)])
            .u64s(&[a.as_secs(), m.as_secs(), c.as_secs()])
            .u32s(&[a.subsec_nanos(), m.subsec_nanos(), c.subsec_nanos()])
            .u32s(&[inode.mode, nlink, inode.uid, inode.gid, 0, 4096, 0])
    }
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    bytes
        .get(at..at + 4)
        .map_or(0, |b| u32::from_ne_bytes(b.try_into().unwrap()))
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    bytes
        .get(at..at + 8)
        .map_or(0, |b| u64::from_ne_bytes(b.try_into().unwrap()))
}

/// A NUL-terminated name at the start of `bytes`.
fn cstr(bytes: &[u8]) -> &[u8] {
    bytes.split(|b| *b == 0).next().unwrap_or_default()
}

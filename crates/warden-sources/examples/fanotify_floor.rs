//! The floor under fanotify's cost: a bare notification group with one filesystem mark of the
//! given event mask, read by a reader that only drains the queue (in batches, as the agent's
//! does) — no path resolution, no events built. `scripts/bench-file-overhead` times the file
//! storm under it (watcher `fanotify-floor`, mask in `FLOOR_MASK`), to tell what each kind of
//! event costs the workload whoever reads it.
//!
//! ```text
//! fanotify_floor MASK PATH [--every MS | --hold]
//!     # MASK: FAN_* bits (0x... or decimal); PATH: on the filesystem;
//!     # runs until stdin closes, then prints {"bytes":N}
//! ```
//!
//! The reader drains the queue every 5 ms, as the agent's does (`--every MS`: another pause;
//! 0 waits in poll(2) and so is woken by each event). `--hold` never reads: the events stay
//! queued (in an unlimited queue, so none is dropped), so the storm pays only for making and
//! queueing them, with no reader running beside it — and for a queue that only grows.

use std::ffi::CString;
use std::io::Read as _;
use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

fn parse_mask(text: &str) -> Result<u64, std::num::ParseIntError> {
    match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => text.parse(),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mask, path, pause) = match args.as_slice() {
        [mask, path] => (mask, path, Some(5)),
        [mask, path, flag] if flag == "--hold" => (mask, path, None),
        [mask, path, flag, ms] if flag == "--every" => (mask, path, Some(ms.parse::<u64>()?)),
        _ => return Err("usage: fanotify_floor MASK PATH [--every MS | --hold]".into()),
    };
    let hold = pause.is_none();
    let mask = parse_mask(mask)?;
    let path = CString::new(path.as_str())?;
    // The agent's report bits: directory handle and name, and the target's handle.
    let flags = libc::FAN_CLASS_NOTIF
        | libc::FAN_CLOEXEC
        | libc::FAN_NONBLOCK
        | libc::FAN_REPORT_DFID_NAME_TARGET;
    let flags = if hold {
        flags | libc::FAN_UNLIMITED_QUEUE
    } else {
        flags
    };
    // SAFETY: plain fanotify_init.
    let fd = unsafe { libc::fanotify_init(flags, libc::O_RDONLY as u32) };
    if fd < 0 {
        return Err(format!("fanotify_init: {}", std::io::Error::last_os_error()).into());
    }
    // SAFETY: a fresh fd of ours.
    let group = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: our group, a NUL-terminated path.
    let marked = unsafe {
        libc::fanotify_mark(
            group.as_raw_fd(),
            libc::FAN_MARK_ADD | libc::FAN_MARK_FILESYSTEM,
            mask,
            libc::AT_FDCWD,
            path.as_ptr(),
        )
    };
    if marked != 0 {
        return Err(format!("fanotify_mark: {}", std::io::Error::last_os_error()).into());
    }
    let stop = Arc::new(AtomicBool::new(false));
    let stopper = Arc::clone(&stop);
    std::thread::spawn(move || {
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
        stopper.store(true, Ordering::SeqCst);
    });
    eprintln!("fanotify_floor: ready");
    let mut buf = vec![0u8; 64 * 1024];
    let mut bytes = 0u64;
    while !stop.load(Ordering::SeqCst) {
        let Some(pause) = pause else {
            std::thread::sleep(Duration::from_millis(5));
            continue;
        };
        loop {
            // SAFETY: reading into our own buffer of its length.
            let n = unsafe {
                libc::read(
                    group.as_raw_fd(),
                    buf.as_mut_ptr().cast::<libc::c_void>(),
                    buf.len(),
                )
            };
            if n <= 0 {
                break;
            }
            bytes += n as u64;
        }
        if pause == 0 {
            let mut ready = libc::pollfd {
                fd: group.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            unsafe { libc::poll(&mut ready, 1, 100) };
        } else {
            // As the agent's reader: let events gather rather than wake for each.
            std::thread::sleep(Duration::from_millis(pause));
        }
    }
    println!("{{\"bytes\":{bytes}}}");
    Ok(())
}

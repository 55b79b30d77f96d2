//! The kernel's share of fanotify's cost: a fanotify source as the agent sets it up (every local
//! filesystem marked, the same mask), whose events are counted and dropped — no process table,
//! no JSON, no store. `scripts/bench-file-overhead` times the file storm under it (watcher
//! `drain`), so the agent's own share of the overhead can be told from the kernel's.
//!
//! ```text
//! fanotify_drain            # runs until stdin closes, then prints {"events":N,"stats":...}
//! ```

use std::io::Read as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use warden_sources::fanotify::{FanotifyConfig, FanotifySource};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (mut source, rx) = FanotifySource::start(FanotifyConfig {
        channel_capacity: 65_536,
        ..FanotifyConfig::default()
    })?;
    let count = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let drain = {
        let (count, done) = (count.clone(), done.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::SeqCst) {
                if rx
                    .recv_timeout(std::time::Duration::from_millis(100))
                    .is_ok()
                {
                    count.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };
    eprintln!("fanotify_drain: ready");
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    done.store(true, Ordering::SeqCst);
    let _ = drain.join();
    let stats = source.stop();
    println!(
        "{{\"events\":{},\"stats\":\"{stats:?}\"}}",
        count.load(Ordering::Relaxed)
    );
    Ok(())
}

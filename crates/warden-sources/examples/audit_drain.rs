//! The kernel's share of auditing file calls: an audit source with the agent's file rules (no
//! exec, network or read-watch rules), in the daemon slot with the agent's backlog settings,
//! whose events are assembled and dropped — no views, no process table, no store.
//! `scripts/bench-file-overhead` times the file storm under it (watcher `audit-drain`), so the
//! agent's own share of the overhead can be told from the kernel's.
//!
//! ```text
//! audit_drain            # runs until stdin closes, then prints {"events":N,"stats":...}
//! ```

use std::io::Read as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use warden_sources::audit::{AuditSource, AuditSourceConfig, WARDEN_KEY, file_rules};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (mut source, rx) = AuditSource::start(AuditSourceConfig {
        rules: file_rules(WARDEN_KEY, std::process::id()),
        channel_capacity: 65_536,
        ..AuditSourceConfig::default()
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
    eprintln!("audit_drain: ready ({:?})", source.report());
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    done.store(true, Ordering::SeqCst);
    let _ = drain.join();
    let stats = source.stats();
    source
        .stop()
        .map_err(|e| format!("audit state not restored: {e:?}"))?;
    println!(
        "{{\"events\":{},\"stats\":\"{stats:?}\"}}",
        count.load(Ordering::Relaxed)
    );
    Ok(())
}

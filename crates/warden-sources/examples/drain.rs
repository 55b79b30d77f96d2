//! The kernel's share of watching files: a source as the agent sets it up, whose events are
//! counted and dropped — no process table, no JSON, no store. `scripts/bench-file-overhead`
//! times the file storm under it, so the agent's own share of the overhead can be told from
//! the kernel's.
//! - `fanotify`: every local filesystem marked with the agent's mask; paths resolved.
//! - `audit`: the agent's file rules, in the daemon slot with its backlog settings; records
//!   assembled into events.
//! - `ebpf`: the eBPF programs with file activity (write-opens too), records decoded.
//! - `ebpf-close`: the same without write-opens (as `files.modify = false`).
//! - `ebpf-process`: the eBPF programs without file activity (the floor `ebpf` adds to).
//! - `ebpf-net`: the eBPF programs with network calls (connect, accept, bind, listen).
//!
//! ```text
//! drain fanotify|audit|ebpf|ebpf-close|ebpf-process|ebpf-net [print]
//!     # runs until stdin closes, then prints {"events":N,"stats":"..."}; `print`: each event too
//! ```

use std::io::Read as _;

use crossbeam_channel::Receiver;
use warden_sources::audit::{AuditSource, AuditSourceConfig, WARDEN_KEY, file_rules};
use warden_sources::ebpf::{EbpfConfig, EbpfSource, FileActivityConfig, NetworkActivityConfig};
use warden_sources::fanotify::{FanotifyConfig, FanotifySource};

const CHANNEL_CAPACITY: usize = 65_536;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let which = std::env::args().nth(1).unwrap_or_default();
    let (events, stats) = match which.as_str() {
        "fanotify" => {
            let (mut source, rx) = FanotifySource::start(FanotifyConfig {
                channel_capacity: CHANNEL_CAPACITY,
                ..FanotifyConfig::default()
            })?;
            eprintln!("drain: fanotify ready");
            let events = count_until_stdin_closes(rx);
            (events, format!("{:?}", source.stop()))
        }
        "audit" => {
            let (mut source, rx) = AuditSource::start(AuditSourceConfig {
                rules: file_rules(WARDEN_KEY, std::process::id()),
                channel_capacity: CHANNEL_CAPACITY,
                ..AuditSourceConfig::default()
            })?;
            eprintln!("drain: audit ready ({:?})", source.report());
            let events = count_until_stdin_closes(rx);
            let stats = format!("{:?}", source.stats());
            source
                .stop()
                .map_err(|e| format!("audit state not restored: {e:?}"))?;
            (events, stats)
        }
        "ebpf" | "ebpf-close" | "ebpf-process" | "ebpf-net" => {
            let (mut source, rx) = EbpfSource::start(EbpfConfig {
                channel_capacity: CHANNEL_CAPACITY,
                files: (which == "ebpf" || which == "ebpf-close").then(|| FileActivityConfig {
                    write_opens: which == "ebpf",
                    io_uring: true,
                }),
                network: (which == "ebpf-net").then_some(NetworkActivityConfig {
                    io_uring: true,
                    ..NetworkActivityConfig::default()
                }),
                exclude_pid: Some(std::process::id()),
                ..EbpfConfig::default()
            })?;
            if let Some(Err(why)) = source.files() {
                return Err(format!("file activity not attached: {why}").into());
            }
            if let Some(Err(why)) = source.network() {
                return Err(format!("network activity not attached: {why}").into());
            }
            eprintln!("drain: ebpf ready");
            let events = count_until_stdin_closes(rx);
            (events, format!("{:?}", source.stop()))
        }
        other => {
            return Err(format!(
                "usage: drain fanotify|audit|ebpf|ebpf-close|ebpf-process|ebpf-net (not {other:?})"
            )
            .into());
        }
    };
    println!("{{\"events\":{events},\"stats\":{stats:?}}}");
    Ok(())
}

/// Receives and drops the source's events until standard input closes; returns how many.
fn count_until_stdin_closes<T: Send + std::fmt::Debug + 'static>(rx: Receiver<T>) -> u64 {
    let print = std::env::args().nth(2).as_deref() == Some("print");
    let (done_tx, done_rx) = crossbeam_channel::bounded::<()>(0);
    let counter = std::thread::spawn(move || {
        let mut count = 0u64;
        loop {
            crossbeam_channel::select! {
                recv(rx) -> event => match event {
                    Ok(event) => {
                        count += 1;
                        if print {
                            println!("{event:?}");
                        }
                    }
                    Err(_) => return count,
                },
                recv(done_rx) -> _ => return count,
            }
        }
    });
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    drop(done_tx);
    counter.join().unwrap_or(0)
}

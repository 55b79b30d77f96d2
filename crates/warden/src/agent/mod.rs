//! `warden run`: the agent — sources, process table, enrichment and sinks wired into one pipeline.

/// Writes a line to standard error as `eprintln!` does, but never panics: standard error
/// closed under the agent (its reader gone) must not end it. What cannot be said is lost.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

mod activity;
mod answer;
pub mod cleanup;
pub mod config;
mod diag_ends;
mod dns;
mod handshakes;
pub mod jsonl;
mod opening;
mod pipeline;
mod proc_source;
mod quic;
mod served;
mod ssh;
pub mod status;
mod stdout;
mod tcp_ends;
mod unclaimed;

pub use pipeline::run;

/// Creates `dir` and its missing parents for their owner only (0700): what the agent writes
/// holds every user's command lines.
fn create_private_dirs(dir: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

//! `warden run`: the agent — sources, process table, enrichment and sinks wired into one pipeline.

mod activity;
pub mod config;
pub mod jsonl;
mod pipeline;
mod proc_source;
pub mod status;

pub use pipeline::run;

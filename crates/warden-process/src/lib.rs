//! The shadow process table: every process Warden knows, under one identity whichever source saw it.
//!
//! Sources report *facts* ([`SeedProcess`] from a /proc scan at start, [`ForkFact`],
//! [`ExecFact`], [`ExitFact`]); the [`ProcessTable`] turns them into the events of
//! `warden-core` ([`ForkEvent`](warden_core::ForkEvent), [`ExecEvent`](warden_core::ExecEvent),
//! [`ExitEvent`](warden_core::ExitEvent)) with keys, parents and start times filled in. The table
//! is pure: the only IO is the [`ProcSource`] seam, which the binary implements over /proc and
//! tests fake.
//!
//! Rules (the lessons of laurel, Tetragon and Elastic, see `research/audit.md` §4):
//!
//! * **Identity** is `(boot id, pid, start ticks)` ([`ProcessKey`](warden_core::ProcessKey)). An
//!   exec keeps the key (same task, same start time). A pid seen again with another start time is
//!   a new process: the old entry is retired first. Start ticks derived from a fork timestamp
//!   are approximate (the connector stamps the event after `copy_process`), so they match an exact
//!   value within [`TableConfig::derived_ticks_slack`]; the first key given to a process is kept.
//! * **Parents** are fixed at creation (fork, seed or first sight). Later ppid values
//!   (re-parenting to 1 or a subreaper) only fill `Process::ppid`; `original_ppid` keeps the pid
//!   at creation.
//! * **Threads**: every fact is per thread group (pid = tgid). The caller drops the connector's
//!   thread forks and exits (pid != tgid) before they reach the table. (The connector reports
//!   the leader's exit when the leader thread ends, which is before the group's end if it calls
//!   `pthread_exit`; audit's `exit_group` and a later [`ProcessTable::sweep`] settle that.)
//! * **Lost exits**: neither source guarantees an exit (the connector drops under load, audit
//!   never sees death by signal); [`ProcessTable::sweep`] checks live entries against /proc.
//! * **Bounded memory**: exited entries stay [`TableConfig::grace_ns`] of boot time so late
//!   events still attach, then [`ProcessTable::reap`] drops them, unless live processes descend
//!   from them (ancestors are kept for trees). A hard cap ([`TableConfig::max_entries`]) evicts
//!   the oldest exited entries first, then the oldest live leaves; every removal is counted in
//!   [`TableStats`].

mod facts;
mod table;

#[cfg(test)]
mod tests;

pub use facts::{ExecFact, ExitFact, ForkFact, NoProcSource, ProcSource, SeedProcess};
pub use table::{PreviousImage, ProcessTable, TableConfig, TableStats};

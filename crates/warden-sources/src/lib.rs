//! Warden's kernel event sources, each a blocking reader thread feeding a bounded channel
//! (`try_send`: when full, drop and count, never block the kernel):
//!
//! * [`audit`] — Linux audit over netlink: control client, rules, daemon or multicast reading,
//!   record parser, event assembler and exec view.
//! * [`ebpf`] — fork, exec and exit from a small eBPF program at the scheduler tracepoints,
//!   through one ring buffer (the cheapest complete process source).
//! * [`fanotify`] — file activity from a fanotify group: create, delete, rename, write, close,
//!   metadata changes on whole filesystems, reads of watched credential files.
//! * [`proc_connector`] — the netlink process connector: fork, exec and exit with kernel
//!   timestamps.
//! * [`procfs`] — /proc reading to seed the process table (pid, ppid, start time, ids, exe,
//!   argv, cwd, tty, session), plus boot id and clock facts.
//! * [`queue`] — the deep bounded queues between sources and the agent, allocated lazily.
//! * [`socket_probe`] — a live socket's type, protocol and ends, borrowed with `pidfd_getfd`
//!   (what an audit network record leaves out).
//! * [`tcp_diag`] — TCP sockets as the kernel's socket diagnostics describe them: each one's
//!   end as it is destroyed, and those open now, with their traffic (what audit cannot see).

#![warn(missing_docs)]

pub mod audit;
pub mod ebpf;
pub mod fanotify;
pub mod held;
pub mod proc_connector;
pub mod procfs;
pub mod queue;
pub mod socket_probe;
pub mod tcp_diag;

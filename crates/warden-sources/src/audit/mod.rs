//! Linux audit source: a pure core (record parser, event assembler, exec view, wire format,
//! rule encoding) and the kernel IO at the edge ([`control`]: netlink sockets and the control
//! client; [`netlink`]: the running source with its reader thread and cleanup).
//!
//! Data flow: netlink message (type, body) → [`parse_record`] → [`Assembler::push`] → [`Event`]
//! → [`ExecEvent::from_event`] → [`AuditOutput`] on a bounded channel. Every stage reports bad
//! input as a value ([`ParseError`], [`ExecError`], [`EventEnd`] flags) and counts it
//! ([`MalformedCounters`], [`AssemblerStats`], [`AuditStats`]); nothing panics or stops the
//! stream.

pub mod assemble;
pub mod control;
pub mod encoding;
pub mod exec;
pub mod file;
pub mod ledger;
pub mod msgtype;
pub mod net;
pub mod netlink;
pub mod record;
pub mod rules;
pub mod subject;
pub mod wire;

pub use assemble::{Assembler, AssemblerConfig, AssemblerStats, Event, EventEnd, is_standalone};
pub use control::{AuditControl, AuditError, AuditSocket, CAP_AUDIT_CONTROL, CAP_AUDIT_READ};
pub use exec::{Dev, ExecCall, ExecError, ExecEvent, PathEntry, exec_call};
pub use file::{
    FileCall, FileOp, FileViewError, PathKind, SkippedWatch, WatchSkip, call_rules, file_rules,
    read_watch_rules,
};
pub use netlink::{
    AuditOutput, AuditSource, AuditSourceConfig, AuditStats, ReadMode, RestoreHandle, Restorer,
    SourceReport, install_panic_hook, restore_all, settle,
};
pub use record::{
    AuditTime, EventId, Field, MalformedCounters, ParseError, ParseErrorKind, Record, Value,
    parse_log_line, parse_record,
};
pub use rules::{AuditRule, FieldValue, FilterList, Op, RuleData, WatchKind, exec_rules};
pub use subject::Subject;
pub use wire::AuditStatus;

/// The rule key Warden puts on every audit rule it installs, and looks for in events.
pub const WARDEN_KEY: &str = "warden";

//! Linux audit source, pure core: record parser, event assembler and exec view (no IO here).
//!
//! Data flow: netlink message (type, body) → [`parse_record`] → [`Assembler::push`] → [`Event`]
//! → [`ExecEvent::from_event`]. Every stage reports bad input as a value ([`ParseError`],
//! [`ExecError`], [`EventEnd`] flags) and counts it ([`MalformedCounters`], [`AssemblerStats`]);
//! nothing here panics or stops the stream.

pub mod assemble;
pub mod encoding;
pub mod exec;
pub mod msgtype;
pub mod record;

pub use assemble::{Assembler, AssemblerConfig, AssemblerStats, Event, EventEnd, is_standalone};
pub use exec::{Dev, ExecCall, ExecError, ExecEvent, PathEntry, exec_call};
pub use record::{
    AuditTime, EventId, Field, MalformedCounters, ParseError, ParseErrorKind, Record, Value,
    parse_log_line, parse_record,
};

/// The rule key Warden puts on every audit rule it installs, and looks for in events.
pub const WARDEN_KEY: &str = "warden";

//! Warden's shared vocabulary: the process identity every source maps to, and the one event model
//! every source produces and every sink consumes. Pure data, no IO.

mod argv;
mod ecs;
mod event;
mod file_version;
mod identity;
mod short_text;
mod stored;

pub use argv::Argv;
pub use ecs::{
    command_line, days_from_civil, parse_rfc3339_ns, rfc3339_ns, text, to_ecs, to_ecs_line,
};
pub use event::{
    ClassicInstruction, DnsMessage, DnsQuestion, DnsRecord, EbpfProgram, Event, EventKind,
    ExecEvent, Executable, ExitEvent, FileAction, FileEvent, FileTimes, FilterProgram, ForkEvent,
    HttpRequest, HttpResponse, Icmp, LossEvent, NetAction, NetworkEvent, Parent, Process, Script,
    ServerBanner, SocketAddress, SocketFilter, Source, SshHello, TimeSet, TlsHello, TlsServerHello,
    Traffic, classic_bytecode, tcp_state_name,
};
pub use file_version::FileVersion;
pub use identity::{BootId, EntityId, ProcessKey};
pub use stored::EVENT_ENCODING;

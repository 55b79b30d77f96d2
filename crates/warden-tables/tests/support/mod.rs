//! What the store-backed tests share: a successful eBPF connect of a process, as the agent
//! records it.

use warden_core::{Event, EventKind, NetAction, NetworkEvent, Process, SocketAddress, Source};

/// `process`'s successful TCP connect at `time_s` (UNIX seconds) on `fd`, to `remote`.
pub fn connect(process: Process, time_s: i64, fd: i64, remote: Option<SocketAddress>) -> Event {
    Event {
        time_ns: time_s * 1_000_000_000,
        host: "test".into(),
        kind: EventKind::Network(NetworkEvent {
            syscall: Some("connect".into()),
            family: Some(2),
            transport: Some("tcp".into()),
            remote,
            fd: Some(fd),
            exit: Some(0),
            ..NetworkEvent::new(process, NetAction::Connect, Source::Ebpf)
        }),
    }
}

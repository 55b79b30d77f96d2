//! The stored form of an event: the fields filters read, common to every event class, plus the
//! event itself (or, for events stored before it, or read from a file, its JSON line).

use std::borrow::Cow;

use warden_core::{Event, EventKind, SocketAddress};

/// One event as the store keeps it. Generic over event classes: a new class (network, file...)
/// fills the columns it has and leaves the others `None`; everything else is in `body`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredEvent {
    /// Event time, UTC nanoseconds since the Unix epoch.
    pub time_ns: i64,
    /// Event class: `exec`, `fork`, `exit`, `loss`, later `connect`, `file`...
    pub class: String,
    /// What happened, within the class (for example `exec`, `exec_denied`, `connect`).
    pub action: String,
    /// Identity of the process concerned (boot id, pid, start time), in its string form.
    pub entity_id: String,
    /// Identity of its parent, when known.
    pub parent_entity_id: Option<String>,
    /// Process id.
    pub pid: i64,
    /// Parent process id, when known.
    pub ppid: Option<i64>,
    /// User id, when known.
    pub uid: Option<i64>,
    /// Executable path, when known.
    pub exe: Option<String>,
    /// Path the event is about (file events, the executed file...), when any.
    pub path: Option<String>,
    /// Outcome, when the event has one.
    pub success: Option<bool>,
    /// The old name of a renamed file.
    pub old_path: Option<String>,
    /// This host's end of a socket: IP address, or a Unix socket's path (`@name` if abstract).
    pub local_address: Option<String>,
    pub local_port: Option<i64>,
    /// The peer's end of a socket.
    pub remote_address: Option<String>,
    pub remote_port: Option<i64>,
    /// The full event.
    pub body: Body,
}

/// The full event: the event itself, or its JSON line where only that is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// The event as the agent made it (stored in binary, JSON written when read).
    Event(Box<Event>),
    /// An ECS JSON line: events stored before the binary form (block format 1), and lines
    /// read back from a JSON-lines file.
    Json(String),
}

impl Default for Body {
    fn default() -> Body {
        Body::Json(String::new())
    }
}

impl StoredEvent {
    /// The stored form of `event`.
    pub fn from_event(event: Event) -> StoredEvent {
        let mut stored = StoredEvent::fields_of(&event);
        stored.body = Body::Event(Box::new(event));
        stored
    }

    /// The event as its ECS JSON line, exactly as the JSON stream writes it.
    pub fn json(&self) -> Cow<'_, str> {
        match &self.body {
            Body::Event(event) => Cow::Owned(warden_core::to_ecs_line(event)),
            Body::Json(line) => Cow::Borrowed(line),
        }
    }

    /// The event's ECS form as a JSON value (what the JSON line holds); `None` for a JSON body
    /// that does not parse.
    pub fn ecs(&self) -> Option<serde_json::Value> {
        match &self.body {
            Body::Event(event) => Some(warden_core::to_ecs(event)),
            Body::Json(line) => serde_json::from_str(line).ok(),
        }
    }

    /// The fields filters read, of `event` (an empty body).
    fn fields_of(event: &Event) -> StoredEvent {
        let process = event.kind.process();
        let own = process.and_then(|p| p.key);
        let parent = process.and_then(|p| p.parent.as_ref()?.key);
        let text = |b: &Option<Vec<u8>>| b.as_deref().map(warden_core::text);
        let mut stored = StoredEvent {
            time_ns: event.time_ns,
            class: event.kind.class().into(),
            action: event.kind.action().into(),
            entity_id: own.map(|k| k.entity_id()).unwrap_or_default(),
            parent_entity_id: parent.map(|k| k.entity_id()),
            pid: process.map_or(0, |p| i64::from(p.pid)),
            ppid: process.and_then(|p| p.ppid.map(i64::from)),
            uid: process.and_then(|p| p.uid.map(i64::from)),
            exe: process.and_then(|p| text(&p.exe)),
            path: None,
            success: event.kind.success(),
            ..StoredEvent::default()
        };
        match &event.kind {
            // The file the exec named: a script's, not its interpreter's.
            EventKind::Exec(e) => {
                stored.path = match &e.script {
                    Some(script) => Some(warden_core::text(&script.path)),
                    None => text(&e.process.exe),
                }
            }
            EventKind::File(e) => {
                stored.path = Some(warden_core::text(&e.path));
                stored.old_path = text(&e.old_path);
            }
            EventKind::Network(e) => {
                let end = |a: &Option<SocketAddress>| {
                    let a = a.as_ref();
                    (
                        a.and_then(SocketAddress::address_text),
                        a.and_then(SocketAddress::port).map(i64::from),
                    )
                };
                (stored.local_address, stored.local_port) = end(&e.local);
                (stored.remote_address, stored.remote_port) = end(&e.remote);
                // A Unix socket's path is what `--path` finds.
                stored.path = [&e.remote, &e.local].into_iter().find_map(|a| match a {
                    Some(SocketAddress::Unix { .. }) => a.as_ref()?.address_text(),
                    _ => None,
                });
            }
            _ => {}
        }
        stored
    }
}

/// A stored event with its sequence number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEventRow {
    /// Position in the store: increases with every insert and is never reused. The cursor for
    /// tailing ([`crate::EventFilter::after_seq`]) and for shippers.
    pub seq: i64,
    /// The event.
    pub event: StoredEvent,
}

#[cfg(test)]
mod tests {
    use warden_core::{ExitEvent, Process};

    use super::*;

    #[test]
    fn json_and_ecs_come_from_the_event_or_the_line() {
        let event = Event {
            time_ns: 1,
            host: "h".into(),
            kind: EventKind::Exit(ExitEvent {
                process: Process {
                    pid: 7,
                    ..Process::default()
                },
                exit_code: Some(3),
                signal: None,
                duration_ns: None,
            }),
        };
        let line = warden_core::to_ecs_line(&event);
        let stored = StoredEvent::from_event(event);
        assert_eq!(stored.json(), line);
        assert_eq!(stored.ecs().unwrap()["process"]["exit_code"], 3);
        let read_back = StoredEvent {
            body: Body::Json(line.clone()),
            ..stored.clone()
        };
        assert_eq!(read_back.json(), line);
        assert_eq!(read_back.ecs(), stored.ecs());
        let bad = StoredEvent {
            body: Body::Json("{not json".into()),
            ..stored
        };
        assert_eq!(bad.ecs(), None);
    }
}

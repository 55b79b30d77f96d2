//! The stored form of an event: indexed columns common to every event class, plus its JSON.

use warden_core::{Event, EventKind, ProcessKey, SocketAddress};

/// One event as the store keeps it. Generic over event classes: a new class (network, file...)
/// fills the columns it has and leaves the others `None`; everything else is in `json`.
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
    /// The full event, exactly as written to the JSON stream.
    pub json: String,
    /// The integer keys of `entity_id` and `parent_entity_id`, when whoever made the row had the
    /// process keys ([`StoredEvent::from_event`]); the writer derives them from the ids
    /// otherwise. Not read back.
    pub keys: Option<RowKeys>,
}

/// The `entity_key` and `parent_key` columns of a row (see [`entity_key`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RowKeys {
    /// The key of `entity_id`.
    pub entity: i64,
    /// The key of `parent_entity_id`, when there is one.
    pub parent: Option<i64>,
}

impl RowKeys {
    /// The keys of `event`'s columns, from the ids as stored.
    pub(crate) fn of(event: &StoredEvent) -> RowKeys {
        event.keys.unwrap_or_else(|| RowKeys {
            entity: entity_key(&event.entity_id),
            parent: event.parent_entity_id.as_deref().map(entity_key),
        })
    }
}

impl StoredEvent {
    /// The stored form of `event`, whose JSON-stream line is `json`.
    pub fn from_event(event: &Event, json: String) -> StoredEvent {
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
            // Keys only for a keyed process: an unkeyed one's empty id is keyed by the writer.
            keys: own.map(|k| RowKeys {
                entity: process_key(k),
                parent: parent.map(process_key),
            }),
            pid: process.map_or(0, |p| i64::from(p.pid)),
            ppid: process.and_then(|p| p.ppid.map(i64::from)),
            uid: process.and_then(|p| p.uid.map(i64::from)),
            exe: process.and_then(|p| text(&p.exe)),
            path: None,
            success: event.kind.success(),
            json,
            ..StoredEvent::default()
        };
        match &event.kind {
            EventKind::Exec(e) => stored.path = text(&e.process.exe),
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

/// Column list, in the order of [`StoredEvent`]'s fields (shared by inserts and selects).
pub(crate) const COLUMNS: &str = "time_ns, class, action, entity_id, parent_entity_id, pid, ppid, \
     uid, exe, path, success, json, old_path, local_address, local_port, remote_address, remote_port";

/// The integer key the store indexes an entity id by (columns `entity_key`, `parent_key`).
///
/// Equal ids have equal keys; different ids may share one, so a lookup by key also compares the
/// ids. An id of the agent's form, `<boot>-<pid>-<start ticks>` (`warden_core::ProcessKey`),
/// gives `start ticks << 22 | pid` (pids stay below 2^22): keys then grow with the processes'
/// start times, so the events of new processes are inserted at the right edge of the index,
/// next to each other, rather than all over it. Any other id gets a hash (negative, so never
/// equal to a key of the first kind).
pub(crate) fn entity_key(id: &str) -> i64 {
    if let Some(key) = pid_and_ticks(id.as_bytes()).and_then(|(pid, ticks)| ordered_key(pid, ticks))
    {
        return key;
    }
    // FNV-1a.
    let hash = id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    (hash | 1 << 63) as i64
}

/// `start ticks << 22 | pid`, when both fit.
fn ordered_key(pid: u64, ticks: u64) -> Option<i64> {
    const PID_BITS: u32 = 22;
    (ticks < 1 << (63 - PID_BITS) && pid < 1 << PID_BITS)
        .then_some(((ticks << PID_BITS) | pid) as i64)
}

/// [`entity_key`] of `key`'s entity id, without formatting and parsing it.
fn process_key(key: ProcessKey) -> i64 {
    ordered_key(u64::from(key.pid), key.start_ticks).unwrap_or_else(|| entity_key(&key.entity_id()))
}

/// The last two numbers of `<anything>-<pid>-<ticks>` (also with `:` separators: cheap, and
/// keeps foreign ids of that shape ordered). Bytes, not `str::split`: this runs twice per row.
fn pid_and_ticks(id: &[u8]) -> Option<(u64, u64)> {
    let is_separator = |b: &u8| matches!(b, b'-' | b':');
    let number = |digits: &[u8]| {
        if digits.is_empty() || digits.len() > 19 {
            return None;
        }
        digits.iter().try_fold(0u64, |n, &d| {
            d.is_ascii_digit().then(|| n * 10 + u64::from(d - b'0'))
        })
    };
    let last = id.iter().rposition(is_separator)?;
    let before = id[..last].iter().rposition(is_separator)?;
    Some((number(&id[before + 1..last])?, number(&id[last + 1..])?))
}

impl StoredEventRow {
    /// Reads a row selected as `seq, <COLUMNS>`.
    pub(crate) fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoredEventRow> {
        Ok(StoredEventRow {
            seq: row.get(0)?,
            event: StoredEvent {
                time_ns: row.get(1)?,
                class: row.get(2)?,
                action: row.get(3)?,
                entity_id: row.get(4)?,
                parent_entity_id: row.get(5)?,
                pid: row.get(6)?,
                ppid: row.get(7)?,
                uid: row.get(8)?,
                exe: row.get(9)?,
                path: row.get(10)?,
                success: row.get(11)?,
                json: row.get(12)?,
                old_path: row.get(13)?,
                local_address: row.get(14)?,
                local_port: row.get(15)?,
                remote_address: row.get(16)?,
                remote_port: row.get(17)?,
                keys: None,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use warden_core::{BootId, ForkEvent, Parent, Process};

    #[test]
    fn keys_from_process_keys_are_the_keys_of_their_ids() {
        let boot = BootId([0x7b; 16]);
        let key = |pid, start_ticks| ProcessKey {
            boot,
            pid,
            start_ticks,
        };
        for k in [
            key(1, 1),
            key(4_194_303, 2_117_069),
            key(4_194_304, 5),
            key(7, u64::MAX),
        ] {
            assert_eq!(process_key(k), entity_key(&k.entity_id()), "{k:?}");
        }
        let child = key(25611, 2_117_070);
        let parent = key(25610, 2_117_069);
        let fork = Event {
            time_ns: 1,
            host: "h".into(),
            kind: EventKind::Fork(ForkEvent {
                child: Process {
                    key: Some(child),
                    pid: child.pid,
                    parent: Some(Parent {
                        key: Some(parent),
                        pid: parent.pid,
                        ..Parent::default()
                    }),
                    ..Process::default()
                },
            }),
        };
        let stored = StoredEvent::from_event(&fork, "{}".into());
        let derived = RowKeys::of(&StoredEvent {
            keys: None,
            ..stored.clone()
        });
        assert_eq!(stored.keys, Some(derived));
        assert_eq!(derived.parent, Some(entity_key(&parent.entity_id())));
    }

    #[test]
    fn entity_keys_follow_start_time_and_hash_other_ids() {
        let key = entity_key("4f2c9a1e-4194303-100");
        assert_eq!(key, (100 << 22) | 4_194_303);
        // Later processes sort after earlier ones, whatever their pids.
        assert!(entity_key("4f2c9a1e-7-101") > key);
        assert_eq!(entity_key("boot:12:34"), (34 << 22) | 12);
        // Ids of another form are hashed: stable, and apart from the ordered keys.
        for other in [
            "",
            "e",
            "1-2",
            "b-1",
            "b-x-2",
            "b-+1-2",
            "b--2",
            "b-4194304-1",
            "b-1-9999999999999999999",
            "b-1-99999999999999999999",
        ] {
            assert_eq!(entity_key(other), entity_key(other), "{other}");
            assert!(entity_key(other) < 0, "{other}");
        }
        assert_ne!(entity_key("e1"), entity_key("e2"));
    }
}

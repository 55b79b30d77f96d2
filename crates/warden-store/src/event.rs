//! The stored form of an event: indexed columns common to every event class, plus its JSON.

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
    /// The full event, exactly as written to the JSON stream.
    pub json: String,
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
pub(crate) const COLUMNS: &str =
    "time_ns, class, action, entity_id, parent_entity_id, pid, ppid, uid, exe, path, success, json";

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
            },
        })
    }
}

//! The event assembler: groups audit records into events by their `audit(TIME:SERIAL)` stamp.
//!
//! Pure and bounded: the caller passes records in arrival order with its own clock (`now_ms`, any
//! monotonic milliseconds), and gets events back. The rules, from the kernel's `audit_log_exit()`
//! and `audit_log_start()`:
//!
//! * A syscall event is SYSCALL, its auxiliary records (EXECVE, CWD, PATH, SOCKADDR, ...),
//!   PROCTITLE, then **EOE (1320)**, all with one stamp. Records written during the syscall (AVC,
//!   CONFIG_CHANGE, LOGIN, ...) share that stamp and may come *before* SYSCALL. Events of
//!   different tasks interleave. So records are buffered per [`EventId`] until EOE arrives.
//! * **Standalone types** never get an EOE, and are emitted at once as a one-record event:
//!   type < 1300 (control, user-space 1100–1199, daemon 1200–1299), 2000 (KERNEL, boot),
//!   ≥ 2100 (user-space anomalies and responses) and 1406–1419 (netlabel MAC_UNLBL…CALIPSO config)
//!   — the same set auditd's `auparse` treats as single-record. Exception: if an event with the
//!   same stamp is already in flight (e.g. LOGIN written inside an audited syscall) the record
//!   joins it instead.
//! * Everything else (1300–1405, 1420–1999, 2001–2099: syscall records, AVC, AppArmor, integrity,
//!   kernel anomalies) waits for EOE. Such a record written outside any syscall context (no EOE
//!   will ever come, e.g. a NETFILTER_PKT in softirq) is flushed by the **timeout**: an event whose
//!   first record is `timeout_ms` old is emitted with [`EventEnd::Timeout`], so callers can tell
//!   "complete" from "maybe incomplete".
//! * **Bounds**: at most `max_in_flight` events and `max_bytes` buffered; on overflow the oldest
//!   event is emitted early as [`EventEnd::Evicted`] and counted. An event keeps at most
//!   `max_records` records; more are dropped, counted, and the event is marked `truncated`.
//! * An EOE for a stamp not in flight (its event already timed out or was evicted) is counted as
//!   an orphan and dropped. A record arriving after its event was closed starts a new event, which
//!   will end by timeout.

use std::collections::{BTreeMap, HashMap};

use super::msgtype;
use super::record::{EventId, Record};

/// Limits of the assembler.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AssemblerConfig {
    /// An event without EOE is flushed this long after its first record arrived.
    pub timeout_ms: u64,
    /// Most events buffered at once.
    pub max_in_flight: usize,
    /// Most records kept for one event (a 2 MiB argv is about 280 EXECVE records).
    pub max_records: usize,
    /// Most bytes buffered over all in-flight events (estimated by [`Record::approx_size`]).
    pub max_bytes: usize,
}

impl Default for AssemblerConfig {
    fn default() -> Self {
        AssemblerConfig {
            timeout_ms: 2_000,
            max_in_flight: 256,
            max_records: 1_024,
            max_bytes: 32 * 1024 * 1024,
        }
    }
}

/// How an event was closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventEnd {
    /// Its EOE arrived: complete.
    Eoe,
    /// A standalone record type that never gets an EOE: complete.
    Standalone,
    /// No EOE within the timeout: possibly incomplete.
    Timeout,
    /// Pushed out early by the in-flight or memory cap: possibly incomplete.
    Evicted,
    /// Emitted by [`Assembler::flush_all`] (shutdown): possibly incomplete.
    Flushed,
}

/// The records of one event, in arrival order (EOE itself is not kept).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// The shared stamp.
    pub id: EventId,
    /// The records.
    pub records: Vec<Record>,
    /// Why the event was emitted.
    pub end: EventEnd,
    /// Records were dropped because the event hit `max_records`.
    pub truncated: bool,
}

impl Event {
    /// Closed by EOE or a standalone type, and nothing dropped.
    pub fn is_complete(&self) -> bool {
        matches!(self.end, EventEnd::Eoe | EventEnd::Standalone) && !self.truncated
    }

    /// First record of this type.
    pub fn record(&self, rtype: u16) -> Option<&Record> {
        self.records.iter().find(|r| r.rtype == rtype)
    }

    /// All records of this type, in order.
    pub fn records_of(&self, rtype: u16) -> impl Iterator<Item = &Record> {
        self.records.iter().filter(move |r| r.rtype == rtype)
    }
}

/// Counters of the assembler; every record and event is accounted for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AssemblerStats {
    /// Records pushed (EOE included).
    pub records: u64,
    /// Events closed by EOE.
    pub events_eoe: u64,
    /// Standalone one-record events.
    pub events_standalone: u64,
    /// Events flushed by the timeout.
    pub events_timed_out: u64,
    /// Events pushed out by the in-flight or byte cap.
    pub events_evicted: u64,
    /// Events emitted by `flush_all`.
    pub events_flushed: u64,
    /// EOE records with no event in flight.
    pub orphan_eoe: u64,
    /// Records dropped because their event hit `max_records`.
    pub records_dropped: u64,
}

struct Pending {
    seq: u64,
    first_seen_ms: u64,
    records: Vec<Record>,
    bytes: usize,
    truncated: bool,
}

/// Groups records into events. See the module docs for the rules.
pub struct Assembler {
    config: AssemblerConfig,
    pending: HashMap<EventId, Pending>,
    /// Arrival order of pending events: seq → id. The first entry is the oldest.
    order: BTreeMap<u64, EventId>,
    next_seq: u64,
    bytes: usize,
    stats: AssemblerStats,
}

impl std::fmt::Debug for Assembler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Assembler")
            .field("config", &self.config)
            .field("in_flight", &self.pending.len())
            .field("bytes", &self.bytes)
            .field("stats", &self.stats)
            .finish()
    }
}

impl Default for Assembler {
    fn default() -> Self {
        Assembler::new(AssemblerConfig::default())
    }
}

/// Is `rtype` a record type that is never followed by an EOE? (See the module docs.)
pub fn is_standalone(rtype: u16) -> bool {
    rtype < msgtype::SYSCALL
        || rtype == msgtype::KERNEL
        || rtype >= 2100
        || (1406..=1419).contains(&rtype)
}

impl Assembler {
    /// A new assembler; zero limits are raised to 1.
    pub fn new(config: AssemblerConfig) -> Self {
        let config = AssemblerConfig {
            max_in_flight: config.max_in_flight.max(1),
            max_records: config.max_records.max(1),
            max_bytes: config.max_bytes.max(1),
            ..config
        };
        Assembler {
            config,
            pending: HashMap::new(),
            order: BTreeMap::new(),
            next_seq: 0,
            bytes: 0,
            stats: AssemblerStats::default(),
        }
    }

    /// The limits in force.
    pub fn config(&self) -> &AssemblerConfig {
        &self.config
    }

    /// Counters so far.
    pub fn stats(&self) -> &AssemblerStats {
        &self.stats
    }

    /// Events waiting for their end.
    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }

    /// Bytes buffered (estimate).
    pub fn buffered_bytes(&self) -> usize {
        self.bytes
    }

    /// Feed one record that arrived at `now_ms`; finished events are appended to `out`
    /// (timed-out ones first, then any evicted, then the one this record completes).
    pub fn push(&mut self, record: Record, now_ms: u64, out: &mut Vec<Event>) {
        self.stats.records += 1;
        self.flush_expired(now_ms, out);
        let id = record.id;

        if record.rtype == msgtype::EOE {
            match self.remove(&id) {
                Some(p) => {
                    self.stats.events_eoe += 1;
                    out.push(finish(id, p, EventEnd::Eoe));
                }
                None => self.stats.orphan_eoe += 1,
            }
            return;
        }

        if is_standalone(record.rtype) && !self.pending.contains_key(&id) {
            self.stats.events_standalone += 1;
            out.push(Event {
                id,
                records: vec![record],
                end: EventEnd::Standalone,
                truncated: false,
            });
            return;
        }

        let size = record.approx_size();
        if let Some(p) = self.pending.get_mut(&id) {
            if p.records.len() >= self.config.max_records {
                p.truncated = true;
                self.stats.records_dropped += 1;
                return;
            }
            p.records.push(record);
            p.bytes += size;
            self.bytes += size;
        } else {
            let seq = self.next_seq;
            self.next_seq += 1;
            self.order.insert(seq, id);
            self.pending.insert(
                id,
                Pending {
                    seq,
                    first_seen_ms: now_ms,
                    records: vec![record],
                    bytes: size,
                    truncated: false,
                },
            );
            self.bytes += size;
        }
        self.enforce_caps(id, out);
    }

    /// Emit every event whose first record arrived `timeout_ms` or more before `now_ms`.
    /// Call it periodically (e.g. when a read times out) so quiet streams still flush.
    pub fn flush_expired(&mut self, now_ms: u64, out: &mut Vec<Event>) {
        while let Some((_, id)) = self.order.first_key_value() {
            let id = *id;
            let Some(p) = self.pending.get(&id) else {
                // Unreachable by construction; keep the maps consistent anyway.
                self.order.pop_first();
                continue;
            };
            if now_ms.saturating_sub(p.first_seen_ms) < self.config.timeout_ms {
                break;
            }
            if let Some(p) = self.remove(&id) {
                self.stats.events_timed_out += 1;
                out.push(finish(id, p, EventEnd::Timeout));
            }
        }
    }

    /// Emit everything in flight, oldest first (shutdown).
    pub fn flush_all(&mut self, out: &mut Vec<Event>) {
        while let Some((_, id)) = self.order.pop_first() {
            if let Some(p) = self.pending.remove(&id) {
                self.bytes -= p.bytes;
                self.stats.events_flushed += 1;
                out.push(finish(id, p, EventEnd::Flushed));
            }
        }
        self.bytes = 0;
    }

    /// Evict oldest events while over a cap, sparing `current` unless it is the only one.
    fn enforce_caps(&mut self, current: EventId, out: &mut Vec<Event>) {
        while self.pending.len() > self.config.max_in_flight
            || (self.bytes > self.config.max_bytes && self.pending.len() > 1)
        {
            let victim = self
                .order
                .values()
                .copied()
                .find(|id| *id != current)
                .unwrap_or(current);
            match self.remove(&victim) {
                Some(p) => {
                    self.stats.events_evicted += 1;
                    out.push(finish(victim, p, EventEnd::Evicted));
                }
                None => break,
            }
        }
    }

    fn remove(&mut self, id: &EventId) -> Option<Pending> {
        let p = self.pending.remove(id)?;
        self.order.remove(&p.seq);
        self.bytes -= p.bytes;
        Some(p)
    }
}

fn finish(id: EventId, p: Pending, end: EventEnd) -> Event {
    Event {
        id,
        records: p.records,
        end,
        truncated: p.truncated,
    }
}

/// An event of these (type, body-after-the-stamp) records, all stamped `audit(1.000:1)`: how the
/// views' unit tests write the records they decode.
#[cfg(test)]
pub(crate) fn event_of(records: &[(u16, &str)]) -> Event {
    Event {
        id: EventId::default(),
        records: records
            .iter()
            .map(|(t, b)| {
                super::record::parse_record(*t, format!("audit(1.000:1): {b}").as_bytes()).unwrap()
            })
            .collect(),
        end: EventEnd::Eoe,
        truncated: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::record::parse_record;

    fn r(rtype: u16, serial: u32, rest: &str) -> Record {
        parse_record(rtype, format!("audit(100.000:{serial}): {rest}").as_bytes()).unwrap()
    }

    fn push_all(a: &mut Assembler, recs: Vec<Record>, now: u64) -> Vec<Event> {
        let mut out = Vec::new();
        for rec in recs {
            a.push(rec, now, &mut out);
        }
        out
    }

    #[test]
    fn interleaved_serials_close_on_eoe() {
        let mut a = Assembler::default();
        let out = push_all(
            &mut a,
            vec![
                r(1300, 1, "syscall=59"),
                r(1300, 2, "syscall=59"),
                r(1309, 2, "argc=1 a0=\"b\""),
                r(1309, 1, "argc=1 a0=\"a\""),
                r(1320, 2, ""),
                r(1327, 1, "proctitle=\"a\""),
                r(1320, 1, ""),
            ],
            0,
        );
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].id.serial, 2);
        assert_eq!(out[0].records.len(), 2);
        assert_eq!(out[1].id.serial, 1);
        assert_eq!(out[1].records.len(), 3);
        assert!(out.iter().all(Event::is_complete));
        assert_eq!(a.in_flight(), 0);
        assert_eq!(a.buffered_bytes(), 0);
        assert_eq!(a.stats().events_eoe, 2);
    }

    #[test]
    fn standalone_types() {
        let mut a = Assembler::default();
        let out = push_all(
            &mut a,
            vec![
                r(1105, 7, "pid=1"),
                r(1200, 8, "op=start"),
                r(2000, 9, "state=initialized"),
                r(2100, 10, "x=1"),
                r(1300, 11, "syscall=1"),
                r(1006, 11, "old-auid=1 auid=2"),
            ],
            0,
        );
        assert_eq!(out.len(), 4);
        assert!(out.iter().all(|e| e.end == EventEnd::Standalone));
        // LOGIN joins the in-flight syscall event with the same stamp.
        assert_eq!(a.in_flight(), 1);
        assert!(is_standalone(1006) && is_standalone(1410) && !is_standalone(1400));
        assert!(!is_standalone(1300) && !is_standalone(1320) && !is_standalone(2001));
    }

    #[test]
    fn timeout_flushes_incomplete() {
        let mut a = Assembler::new(AssemblerConfig {
            timeout_ms: 100,
            ..Default::default()
        });
        let mut out = Vec::new();
        a.push(r(1300, 1, "syscall=59"), 0, &mut out);
        a.push(r(1300, 2, "syscall=59"), 50, &mut out);
        a.flush_expired(99, &mut out);
        assert!(out.is_empty());
        a.flush_expired(100, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].id.serial, 1);
        assert_eq!(out[0].end, EventEnd::Timeout);
        assert!(!out[0].is_complete());
        // A late EOE for the flushed event is an orphan.
        a.push(r(1320, 1, ""), 120, &mut out);
        assert_eq!(a.stats().orphan_eoe, 1);
        // Pushing at a later time flushes the second before anything else.
        a.push(r(1300, 3, "syscall=59"), 150, &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(out[1].id.serial, 2);
        a.flush_all(&mut out);
        assert_eq!(out[2].end, EventEnd::Flushed);
        assert_eq!(a.in_flight(), 0);
        assert_eq!(a.buffered_bytes(), 0);
    }

    #[test]
    fn in_flight_cap_evicts_oldest() {
        let mut a = Assembler::new(AssemblerConfig {
            max_in_flight: 2,
            ..Default::default()
        });
        let out = push_all(
            &mut a,
            (1..=4).map(|s| r(1300, s, "syscall=59")).collect(),
            0,
        );
        assert_eq!(out.len(), 2);
        assert_eq!(out.iter().map(|e| e.id.serial).collect::<Vec<_>>(), [1, 2]);
        assert!(out.iter().all(|e| e.end == EventEnd::Evicted));
        assert_eq!(a.stats().events_evicted, 2);
        assert_eq!(a.in_flight(), 2);
    }

    #[test]
    fn byte_cap_and_record_cap() {
        let mut a = Assembler::new(AssemblerConfig {
            max_bytes: 1,
            max_records: 2,
            ..Default::default()
        });
        let mut out = Vec::new();
        a.push(r(1300, 1, "syscall=59"), 0, &mut out);
        a.push(r(1309, 1, "a0=\"x\""), 0, &mut out);
        a.push(r(1309, 1, "a1=\"y\""), 0, &mut out);
        assert!(
            out.is_empty(),
            "the only event is never evicted by the byte cap"
        );
        a.push(r(1320, 1, ""), 0, &mut out);
        assert_eq!(out[0].records.len(), 2);
        assert!(out[0].truncated);
        assert!(!out[0].is_complete());
        assert_eq!(a.stats().records_dropped, 1);
        a.push(r(1300, 2, "syscall=59"), 0, &mut out);
        a.push(r(1300, 3, "syscall=59"), 0, &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(out[1].id.serial, 2);
        assert_eq!(out[1].end, EventEnd::Evicted);
    }

    #[test]
    fn same_serial_different_time_are_different_events() {
        let mut a = Assembler::default();
        let mut out = Vec::new();
        let r1 = parse_record(1300, b"audit(1.000:5): syscall=1").unwrap();
        let r2 = parse_record(1300, b"audit(2.000:5): syscall=2").unwrap();
        a.push(r1, 0, &mut out);
        a.push(r2, 0, &mut out);
        assert_eq!(a.in_flight(), 2);
    }
}

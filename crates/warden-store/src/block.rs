//! The stored form of a batch of events: blobs of about 32 KiB of events each
//! (`event_blocks.events`).
//!
//! One row per block instead of one row (and five index entries) per event: SQLite's per-row
//! and per-index work was most of the agent's CPU under load (docs/PERFORMANCE.md). A block is
//! read whole and filtered in Rust ([`crate::EventFilter::matches_view`]) on borrowed views, so
//! scanning allocates only for the events a query returns.
//!
//! Layout (format 2): the format byte, the event encoding ([`warden_core::EVENT_ENCODING`]), the
//! number of events (varint), then each event: a presence mask (varint, bit per optional field),
//! `time_ns` and `pid` (zigzag varints), `class`, `action`, `entity_id`, the optional fields
//! present, and the body: the event's binary form (bytes) when the mask says so, else its JSON
//! line (a string). Strings and bytes are a varint length and the bytes (UTF-8 for strings).
//! Integers are LEB128 varints; signed ones zigzag-encoded. Format 1, written before the binary
//! form, has no encoding byte and always a JSON body; it is still read.
//!
//! Packed (format 3, what is written): the format byte, the length of the format-2 block
//! (varint), then that block compressed as one zstd frame. A block's events repeat their
//! processes and the directories they touch, so a packed block is about 14 times smaller
//! (measured on a file storm's store): less disk for the same retention, and fewer pages for
//! SQLite to write, which is what the agent's writing costs the processes that share its
//! filesystem. Format-2 blocks, written before packing, are still read.

use warden_core::EVENT_ENCODING;

use crate::{Body, StoreError, StoredEvent};

/// The layout written by this build (the first byte of every block).
pub(crate) const FORMAT: u8 = 2;
/// The layout of blocks whose bodies are all JSON lines, read but no longer written.
const FORMAT_JSON_BODIES: u8 = 1;
/// A format-2 block, compressed: what the writer stores.
pub(crate) const PACKED: u8 = 3;
/// A packed block says how long it is unpacked; more than this is damage, not a block (the
/// writer cuts blocks at 32 KiB, whatever event comes last).
const MAX_UNPACKED: u64 = 64 << 20;
/// zstd's fastest level: from level 3 blocks got ~10 % smaller, for twice the CPU.
const ZSTD_LEVEL: i32 = 1;

const PARENT_ENTITY_ID: u32 = 1 << 0;
const PPID: u32 = 1 << 1;
const UID: u32 = 1 << 2;
const EXE: u32 = 1 << 3;
const PATH: u32 = 1 << 4;
const SUCCESS: u32 = 1 << 5;
const SUCCEEDED: u32 = 1 << 6;
const OLD_PATH: u32 = 1 << 7;
const LOCAL_ADDRESS: u32 = 1 << 8;
const LOCAL_PORT: u32 = 1 << 9;
const REMOTE_ADDRESS: u32 = 1 << 10;
const REMOTE_PORT: u32 = 1 << 11;
/// The body is the event's binary form, not a JSON line (format 2).
const BODY_IS_EVENT: u32 = 1 << 12;
/// Bits a reader of format 1 knows: any other bit means a newer writer's field.
const KNOWN_IN_FORMAT_1: u32 = (1 << 12) - 1;
/// Bits a reader of format 2 knows.
const KNOWN: u32 = (1 << 13) - 1;

/// An event inside a block, borrowed from it: the fields of [`StoredEvent`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventView<'a> {
    pub time_ns: i64,
    pub class: &'a str,
    pub action: &'a str,
    pub entity_id: &'a str,
    pub parent_entity_id: Option<&'a str>,
    pub pid: i64,
    pub ppid: Option<i64>,
    pub uid: Option<i64>,
    pub exe: Option<&'a str>,
    pub path: Option<&'a str>,
    pub success: Option<bool>,
    pub old_path: Option<&'a str>,
    pub local_address: Option<&'a str>,
    pub local_port: Option<i64>,
    pub remote_address: Option<&'a str>,
    pub remote_port: Option<i64>,
    pub body: BodyView<'a>,
}

/// The body of an event, borrowed: from a block (not yet decoded) or from a [`StoredEvent`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyView<'a> {
    /// The event's binary form, in event encoding `encoding`.
    Encoded { encoding: u8, bytes: &'a [u8] },
    /// The event.
    Event(&'a warden_core::Event),
    /// A JSON line.
    Json(&'a str),
}

impl EventView<'_> {
    /// The owned event; an error if its body does not decode.
    pub fn to_event(&self) -> Result<StoredEvent, String> {
        let owned = |s: Option<&str>| s.map(str::to_owned);
        let body = match self.body {
            BodyView::Encoded { encoding, bytes } => {
                Body::Event(Box::new(warden_core::Event::decode(encoding, bytes)?))
            }
            BodyView::Event(event) => Body::Event(Box::new(event.clone())),
            BodyView::Json(line) => Body::Json(line.to_owned()),
        };
        Ok(StoredEvent {
            time_ns: self.time_ns,
            class: self.class.to_owned(),
            action: self.action.to_owned(),
            entity_id: self.entity_id.to_owned(),
            parent_entity_id: owned(self.parent_entity_id),
            pid: self.pid,
            ppid: self.ppid,
            uid: self.uid,
            exe: owned(self.exe),
            path: owned(self.path),
            success: self.success,
            old_path: owned(self.old_path),
            local_address: owned(self.local_address),
            local_port: self.local_port,
            remote_address: owned(self.remote_address),
            remote_port: self.remote_port,
            body,
        })
    }
}

impl StoredEvent {
    /// This event as a borrowed view (what filters read).
    pub fn view(&self) -> EventView<'_> {
        EventView {
            time_ns: self.time_ns,
            class: &self.class,
            action: &self.action,
            entity_id: &self.entity_id,
            parent_entity_id: self.parent_entity_id.as_deref(),
            pid: self.pid,
            ppid: self.ppid,
            uid: self.uid,
            exe: self.exe.as_deref(),
            path: self.path.as_deref(),
            success: self.success,
            old_path: self.old_path.as_deref(),
            local_address: self.local_address.as_deref(),
            local_port: self.local_port,
            remote_address: self.remote_address.as_deref(),
            remote_port: self.remote_port,
            body: match &self.body {
                Body::Event(event) => BodyView::Event(event),
                Body::Json(line) => BodyView::Json(line),
            },
        }
    }
}

/// Encodes events as blocks; its buffers (and its compression context) are kept, so that
/// encoding a block allocates nothing once they have grown.
pub(crate) struct Encoder {
    block: Vec<u8>,
    events: Vec<u8>,
    body: Vec<u8>,
    packed: Vec<u8>,
    /// None where zstd could not make a context: blocks are then stored unpacked.
    compressor: Option<zstd::bulk::Compressor<'static>>,
}

impl Default for Encoder {
    fn default() -> Self {
        Encoder {
            block: Vec::new(),
            events: Vec::new(),
            body: Vec::new(),
            packed: Vec::new(),
            // With the frame's checksum (4 bytes): damage is found, not read as other events.
            compressor: zstd::bulk::Compressor::new(ZSTD_LEVEL)
                .and_then(|mut c| c.include_checksum(true).map(|()| c))
                .ok(),
        }
    }
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder")
            .field("block", &self.block.len())
            .field("packed", &self.packed.len())
            .finish_non_exhaustive()
    }
}

impl Encoder {
    /// The block [`Encoder::encode`] made last, packed (format 3); as it is (format 2) if zstd
    /// failed, which a reader reads all the same.
    pub(crate) fn pack(&mut self) -> &[u8] {
        let Some(compressor) = &mut self.compressor else {
            return &self.block;
        };
        self.packed.clear();
        self.packed.push(PACKED);
        put_varint(&mut self.packed, self.block.len() as u64);
        let header = self.packed.len();
        self.packed.resize(
            header + zstd::zstd_safe::compress_bound(self.block.len()),
            0,
        );
        match compressor.compress_to_buffer(&self.block, &mut self.packed[header..]) {
            Ok(n) => {
                self.packed.truncate(header + n);
                &self.packed
            }
            Err(_) => &self.block,
        }
    }

    /// Encodes the first events of `events` as one block: as many as fit in `max_bytes`, and
    /// always the first. Returns how many, and the block.
    pub(crate) fn encode(&mut self, events: &[StoredEvent], max_bytes: usize) -> (usize, &[u8]) {
        self.events.clear();
        let mut count = 0;
        for e in events {
            if count > 0 && self.events.len() >= max_bytes {
                break;
            }
            self.event(e);
            count += 1;
        }
        self.block.clear();
        self.block.extend_from_slice(&[FORMAT, EVENT_ENCODING]);
        put_varint(&mut self.block, count as u64);
        self.block.extend_from_slice(&self.events);
        (count, &self.block)
    }

    fn event(&mut self, e: &StoredEvent) {
        let out = &mut self.events;
        let mut mask = 0;
        let mut flag = |present: bool, bit: u32| {
            if present {
                mask |= bit;
            }
        };
        flag(e.parent_entity_id.is_some(), PARENT_ENTITY_ID);
        flag(e.ppid.is_some(), PPID);
        flag(e.uid.is_some(), UID);
        flag(e.exe.is_some(), EXE);
        flag(e.path.is_some(), PATH);
        flag(e.success.is_some(), SUCCESS);
        flag(e.success == Some(true), SUCCEEDED);
        flag(e.old_path.is_some(), OLD_PATH);
        flag(e.local_address.is_some(), LOCAL_ADDRESS);
        flag(e.local_port.is_some(), LOCAL_PORT);
        flag(e.remote_address.is_some(), REMOTE_ADDRESS);
        flag(e.remote_port.is_some(), REMOTE_PORT);
        flag(matches!(e.body, Body::Event(_)), BODY_IS_EVENT);
        put_varint(out, u64::from(mask));
        put_signed(out, e.time_ns);
        put_signed(out, e.pid);
        put_str(out, &e.class);
        put_str(out, &e.action);
        put_str(out, &e.entity_id);
        let put_opt_str = |out: &mut Vec<u8>, s: &Option<String>| {
            if let Some(s) = s {
                put_str(out, s);
            }
        };
        let put_opt_int = |out: &mut Vec<u8>, n: Option<i64>| {
            if let Some(n) = n {
                put_signed(out, n);
            }
        };
        put_opt_str(out, &e.parent_entity_id);
        put_opt_int(out, e.ppid);
        put_opt_int(out, e.uid);
        put_opt_str(out, &e.exe);
        put_opt_str(out, &e.path);
        put_opt_str(out, &e.old_path);
        put_opt_str(out, &e.local_address);
        put_opt_int(out, e.local_port);
        put_opt_str(out, &e.remote_address);
        put_opt_int(out, e.remote_port);
        match &e.body {
            Body::Event(event) => {
                self.body.clear();
                event.encode_into(&mut self.body);
                put_bytes(out, &self.body);
            }
            Body::Json(line) => put_str(out, line),
        }
    }
}

/// Encodes `events` as one block.
#[cfg(test)]
pub(crate) fn encode(events: &[StoredEvent]) -> Vec<u8> {
    let mut encoder = Encoder::default();
    let (count, block) = encoder.encode(events, usize::MAX);
    assert_eq!(count, events.len());
    block.to_vec()
}

/// Unpacks packed blocks for [`decode`], into a buffer it keeps (with its zstd context).
#[derive(Default)]
pub(crate) struct Unpacker {
    decompressor: Option<zstd::bulk::Decompressor<'static>>,
    buffer: Vec<u8>,
}

impl Unpacker {
    /// The block in a format [`decode`] reads: a packed block unpacked, another as it is.
    pub(crate) fn unpack<'a>(&'a mut self, block: &'a [u8]) -> Result<&'a [u8], String> {
        let Some((&PACKED, rest)) = block.split_first() else {
            return Ok(block);
        };
        let mut header = decode(rest);
        let len = header.varint()?;
        if len > MAX_UNPACKED {
            return Err(format!(
                "a packed block of {len} bytes unpacked is no block"
            ));
        }
        let decompressor = match &mut self.decompressor {
            Some(d) => d,
            None => self
                .decompressor
                .insert(zstd::bulk::Decompressor::new().map_err(|e| format!("zstd context: {e}"))?),
        };
        self.buffer.clear();
        self.buffer.reserve(len as usize);
        let n = decompressor
            .decompress_to_buffer(header.input, &mut self.buffer)
            .map_err(|e| format!("packed block does not unpack: {e}"))?;
        if n as u64 != len {
            return Err(format!("packed block unpacks to {n} bytes, not {len}"));
        }
        Ok(&self.buffer)
    }
}

/// The events of a block, in order. Yields an error (once, then stops) for a block that is
/// not of a known format or is cut short. A packed block is first unpacked ([`Unpacker`]).
pub(crate) fn decode(block: &[u8]) -> Decoder<'_> {
    Decoder {
        input: block,
        left: None,
        encoding: None,
        failed: false,
    }
}

/// Iterator over a block's events ([`decode`]).
pub(crate) struct Decoder<'a> {
    input: &'a [u8],
    /// Events still to read; `None` before the header is read.
    left: Option<u64>,
    /// The block's event encoding (format 2); `None` in format 1, whose bodies are JSON.
    encoding: Option<u8>,
    failed: bool,
}

impl<'a> Decoder<'a> {
    fn header(&mut self) -> Result<u64, String> {
        let (&format, rest) = self.input.split_first().ok_or("empty block")?;
        self.input = rest;
        match format {
            FORMAT => {
                let (&encoding, rest) = self.input.split_first().ok_or("block cut in header")?;
                self.input = rest;
                self.encoding = Some(encoding);
            }
            FORMAT_JSON_BODIES => {}
            _ => {
                return Err(format!(
                    "block format {format} (this build reads formats {FORMAT_JSON_BODIES} \
                     and {FORMAT}, and {FORMAT} packed)"
                ));
            }
        }
        self.varint()
    }

    fn event(&mut self) -> Result<EventView<'a>, String> {
        let mask = u32::try_from(self.varint()?).map_err(|_| "presence mask too large")?;
        let known = if self.encoding.is_some() {
            KNOWN
        } else {
            KNOWN_IN_FORMAT_1
        };
        if mask & !known != 0 {
            return Err(format!("unknown fields (mask {mask:#x})"));
        }
        let time_ns = self.signed()?;
        let pid = self.signed()?;
        let class = self.str()?;
        let action = self.str()?;
        let entity_id = self.str()?;
        let parent_entity_id = self.opt_str(mask & PARENT_ENTITY_ID != 0)?;
        let ppid = self.opt_signed(mask & PPID != 0)?;
        let uid = self.opt_signed(mask & UID != 0)?;
        let exe = self.opt_str(mask & EXE != 0)?;
        let path = self.opt_str(mask & PATH != 0)?;
        let old_path = self.opt_str(mask & OLD_PATH != 0)?;
        let local_address = self.opt_str(mask & LOCAL_ADDRESS != 0)?;
        let local_port = self.opt_signed(mask & LOCAL_PORT != 0)?;
        let remote_address = self.opt_str(mask & REMOTE_ADDRESS != 0)?;
        let remote_port = self.opt_signed(mask & REMOTE_PORT != 0)?;
        let body = match self.encoding {
            Some(encoding) if mask & BODY_IS_EVENT != 0 => BodyView::Encoded {
                encoding,
                bytes: self.bytes()?,
            },
            _ => BodyView::Json(self.str()?),
        };
        Ok(EventView {
            time_ns,
            class,
            action,
            entity_id,
            parent_entity_id,
            pid,
            ppid,
            uid,
            exe,
            path,
            success: (mask & SUCCESS != 0).then_some(mask & SUCCEEDED != 0),
            old_path,
            local_address,
            local_port,
            remote_address,
            remote_port,
            body,
        })
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut value = 0u64;
        for (i, &byte) in self.input.iter().enumerate().take(10) {
            let bits = u64::from(byte & 0x7f);
            if i == 9 && bits > 1 {
                return Err("varint overflows 64 bits".into());
            }
            value |= bits << (7 * i);
            if byte & 0x80 == 0 {
                self.input = &self.input[i + 1..];
                return Ok(value);
            }
        }
        Err("block cut inside a number".into())
    }

    fn signed(&mut self) -> Result<i64, String> {
        let z = self.varint()?;
        Ok((z >> 1) as i64 ^ -((z & 1) as i64))
    }

    fn bytes(&mut self) -> Result<&'a [u8], String> {
        let len = usize::try_from(self.varint()?).map_err(|_| "length too large")?;
        if len > self.input.len() {
            return Err("block cut inside a string".into());
        }
        let (bytes, rest) = self.input.split_at(len);
        self.input = rest;
        Ok(bytes)
    }

    fn str(&mut self) -> Result<&'a str, String> {
        let bytes = self.bytes()?;
        std::str::from_utf8(bytes).map_err(|e| format!("string not UTF-8: {e}"))
    }

    fn opt_str(&mut self, present: bool) -> Result<Option<&'a str>, String> {
        present.then(|| self.str()).transpose()
    }

    fn opt_signed(&mut self, present: bool) -> Result<Option<i64>, String> {
        present.then(|| self.signed()).transpose()
    }

    fn step(&mut self) -> Option<Result<EventView<'a>, String>> {
        let left = match self.left {
            Some(left) => left,
            None => match self.header() {
                Ok(n) => n,
                Err(e) => return Some(Err(e)),
            },
        };
        if left == 0 {
            self.left = Some(0);
            return (!self.input.is_empty()).then(|| Err("bytes after the last event".into()));
        }
        self.left = Some(left - 1);
        Some(self.event())
    }
}

impl<'a> Iterator for Decoder<'a> {
    type Item = Result<EventView<'a>, String>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let item = self.step()?;
        if item.is_err() {
            self.failed = true;
        }
        Some(item)
    }
}

/// A Bloom filter of the processes a block's events name (their entity ids, their parents'
/// and their pids), stored beside the block (`event_blocks.processes`): a query for a process
/// or a pid reads only the blocks that may hold it, instead of decoding the whole store.
/// Sized by the block: 8 bits per key (3 per event) and 3 probes, so a block without the key
/// is read anyway about 3 % of the time, whatever the number of events in it. (Filters of
/// schema 6's first blocks were 64 bytes whatever the block; they are read alike.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProcessFilter(Vec<u8>);

impl ProcessFilter {
    /// Filter bytes per event: its entity id, its parent's and its pid, 8 bits each.
    const BYTES_PER_EVENT: usize = 3;
    const MIN_BYTES: usize = 64;
    const PROBES: u64 = 3;

    /// The filter of `events`.
    pub(crate) fn of(events: &[StoredEvent]) -> ProcessFilter {
        let bytes = (events.len() * Self::BYTES_PER_EVENT)
            .next_multiple_of(8)
            .max(Self::MIN_BYTES);
        Self::sized(events, bytes)
    }

    /// The filter of `events` in `bytes` bytes (a multiple of 8).
    fn sized(events: &[StoredEvent], bytes: usize) -> ProcessFilter {
        let mut filter = ProcessFilter(vec![0; bytes]);
        for e in events {
            filter.insert(e.entity_id.as_bytes());
            if let Some(parent) = &e.parent_entity_id {
                filter.insert(parent.as_bytes());
            }
            filter.insert(&pid_key(e.pid));
        }
        filter
    }

    /// A stored filter; `None` for bytes that are not one (then every block is read).
    pub(crate) fn from_bytes(bytes: &[u8]) -> Option<ProcessFilter> {
        (!bytes.is_empty() && bytes.len().is_multiple_of(8)).then(|| ProcessFilter(bytes.to_vec()))
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Whether an event of (or whose parent is) entity `id` may be in the block.
    pub(crate) fn may_name_entity(&self, id: &str) -> bool {
        self.may_contain(id.as_bytes())
    }

    /// Whether an event of `pid` may be in the block.
    pub(crate) fn may_name_pid(&self, pid: i64) -> bool {
        self.may_contain(&pid_key(pid))
    }

    fn bits(&self, key: &[u8]) -> impl Iterator<Item = usize> + use<> {
        // FNV-1a, and a second hash from it for double hashing (h1 + i * h2).
        let h1 = key.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        });
        let h2 = h1.rotate_left(32).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        let bits = self.0.len() as u64 * 8;
        (0..Self::PROBES).map(move |i| (h1.wrapping_add(i.wrapping_mul(h2)) % bits) as usize)
    }

    fn insert(&mut self, key: &[u8]) {
        for bit in self.bits(key) {
            self.0[bit / 8] |= 1 << (bit % 8);
        }
    }

    fn may_contain(&self, key: &[u8]) -> bool {
        self.bits(key)
            .all(|bit| self.0[bit / 8] & (1 << (bit % 8)) != 0)
    }
}

/// A pid's key: its 8 bytes after 0xff, a byte UTF-8 never holds, so that it is never equal
/// to an entity id's key (the id's text).
fn pid_key(pid: i64) -> [u8; 9] {
    let mut key = [0xff; 9];
    key[1..].copy_from_slice(&pid.to_le_bytes());
    key
}

/// The error of a block that cannot be read.
pub(crate) fn corrupt(first_seq: i64, why: String) -> StoreError {
    StoreError::CorruptBlock { first_seq, why }
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn put_signed(out: &mut Vec<u8>, value: i64) {
    put_varint(out, ((value << 1) ^ (value >> 63)) as u64);
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_bytes(out, s.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn full() -> StoredEvent {
        StoredEvent {
            time_ns: -5,
            class: "network".into(),
            action: "connect".into(),
            entity_id: "b-1-2".into(),
            parent_entity_id: Some("b-0-1".into()),
            pid: 1,
            ppid: Some(0),
            uid: Some(i64::MAX),
            exe: Some("/usr/bin/curl".into()),
            path: Some("/run/x.sock".into()),
            success: Some(false),
            old_path: Some("é".into()),
            local_address: Some("::1".into()),
            local_port: Some(0),
            remote_address: Some("127.0.0.1".into()),
            remote_port: Some(65535),
            body: Body::Json("{\"a\":1}".into()),
        }
    }

    /// An event as the agent stores it: its body is the event itself.
    fn agent_event(pid: u32) -> StoredEvent {
        StoredEvent::from_event(warden_core::Event {
            time_ns: 7,
            host: "h".into(),
            kind: warden_core::EventKind::Exit(warden_core::ExitEvent {
                process: warden_core::Process {
                    pid,
                    exe: Some(b"/bin/\xff".to_vec()),
                    ..Default::default()
                },
                exit_code: Some(1),
                signal: None,
                duration_ns: None,
            }),
        })
    }

    fn decoded(block: &[u8]) -> Result<Vec<StoredEvent>, String> {
        let mut unpacker = Unpacker::default();
        decode(unpacker.unpack(block)?)
            .map(|v| v?.to_event())
            .collect()
    }

    fn packed(events: &[StoredEvent]) -> Vec<u8> {
        let mut encoder = Encoder::default();
        let (count, _) = encoder.encode(events, usize::MAX);
        assert_eq!(count, events.len());
        encoder.pack().to_vec()
    }

    #[test]
    fn packed_blocks_unpack_to_their_events_and_are_smaller() {
        let events: Vec<StoredEvent> = (0..60).map(|i| agent_event(1000 + i)).collect();
        let plain = encode(&events);
        let small = packed(&events);
        assert_eq!(small[0], PACKED);
        assert!(
            small.len() * 4 < plain.len(),
            "{} bytes packed, {} plain",
            small.len(),
            plain.len()
        );
        assert_eq!(decoded(&small).unwrap(), events);
        // An unpacker is reused block after block.
        let mut unpacker = Unpacker::default();
        for block in [&small, &plain, &small] {
            let n = decode(unpacker.unpack(block).unwrap()).count();
            assert_eq!(n, events.len());
        }
        assert_eq!(decoded(&packed(&[])).unwrap(), vec![]);
    }

    #[test]
    fn damaged_packed_blocks_are_errors_not_panics() {
        let events: Vec<StoredEvent> = (0..20).map(|i| agent_event(1000 + i)).collect();
        let block = packed(&events);
        for cut in 0..block.len() {
            assert!(decoded(&block[..cut]).is_err(), "cut at {cut}");
        }
        // Frame bytes changed: zstd's checks, or the block's, refuse it.
        let mut flipped = block.clone();
        let middle = flipped.len() / 2;
        flipped[middle] ^= 0x55;
        assert!(decoded(&flipped).is_err());
        // A length that does not match, and one too large to be a block.
        let mut header = vec![PACKED];
        put_varint(&mut header, encode(&events).len() as u64 + 1);
        let frame_at = 1 + {
            let mut n = Vec::new();
            put_varint(&mut n, encode(&events).len() as u64);
            n.len()
        };
        let mut wrong_len = header.clone();
        wrong_len.extend_from_slice(&block[frame_at..]);
        assert!(decoded(&wrong_len).unwrap_err().contains("not"));
        let mut huge = vec![PACKED];
        put_varint(&mut huge, MAX_UNPACKED + 1);
        huge.extend_from_slice(&block[frame_at..]);
        assert!(decoded(&huge).unwrap_err().contains("no block"));
        // Packed twice is not a block this build writes.
        let mut twice = Encoder {
            block: block.clone(),
            ..Encoder::default()
        };
        assert!(decoded(twice.pack()).unwrap_err().contains("format 3"));
    }

    #[test]
    fn every_field_and_absence_round_trip() {
        let sparse = StoredEvent {
            time_ns: i64::MIN,
            pid: i64::MAX,
            ..StoredEvent::default()
        };
        let succeeded = StoredEvent {
            success: Some(true),
            ..full()
        };
        let events = vec![full(), sparse, agent_event(3), succeeded];
        assert_eq!(decoded(&encode(&events)).unwrap(), events);
        assert_eq!(decoded(&encode(&[])).unwrap(), vec![]);
        let back = decoded(&encode(&[agent_event(3)])).unwrap();
        assert!(
            back[0].json().contains(r#""executable":"/bin/\\xff""#),
            "{}",
            back[0].json()
        );
    }

    #[test]
    fn blocks_of_format_1_are_still_read() {
        // Format 1 is format 2 without the encoding byte, with only JSON bodies.
        let events = vec![full(), StoredEvent::default()];
        let block = encode(&events);
        let format_1 = [&[FORMAT_JSON_BODIES][..], &block[2..]].concat();
        assert_eq!(decoded(&format_1).unwrap(), events);
        // An event body is not a format-1 field.
        let block = encode(&[agent_event(1)]);
        let format_1 = [&[FORMAT_JSON_BODIES][..], &block[2..]].concat();
        assert!(decoded(&format_1).unwrap_err().contains("unknown fields"));
    }

    #[test]
    fn blocks_hold_about_the_bytes_asked() {
        let events = vec![agent_event(3); 100];
        let mut encoder = Encoder::default();
        // Less the header: format, event encoding, count.
        let one = encoder.encode(&events[..1], usize::MAX).1.len() - 3;
        let (count, block) = encoder.encode(&events, one * 10);
        assert_eq!(count, 10, "a block of {} bytes", block.len());
        // At least one event, however small the limit.
        assert_eq!(encoder.encode(&events, 0).0, 1);
    }

    #[test]
    fn an_event_body_that_does_not_decode_is_an_error() {
        let mut block = encode(&[agent_event(1)]);
        // The last byte of the block is the last byte of the event's binary form.
        let last = block.len() - 1;
        block[last] = 0xff;
        let view = decode(&block).next().unwrap().unwrap();
        assert!(matches!(view.body, BodyView::Encoded { .. }));
        assert!(view.to_event().is_err());
        // A block of another event encoding: its events are read, their bodies are not.
        let mut block = encode(&[agent_event(1)]);
        block[1] = EVENT_ENCODING + 1;
        let err = decode(&block)
            .next()
            .unwrap()
            .unwrap()
            .to_event()
            .unwrap_err();
        assert!(err.contains("encoding"), "{err}");
    }

    #[test]
    fn damaged_blocks_are_errors_not_panics() {
        let block = encode(&[full(), agent_event(2)]);
        for cut in 0..block.len() {
            assert!(decoded(&block[..cut]).is_err(), "cut at {cut}");
        }
        let mut other_format = block.clone();
        other_format[0] = 9;
        assert!(decoded(&other_format).unwrap_err().contains("format"));
        let mut trailing = block.clone();
        trailing.push(0);
        assert!(decoded(&trailing).unwrap_err().contains("after the last"));
        // A presence bit of a field this build does not know.
        let mut unknown = vec![FORMAT, EVENT_ENCODING, 1];
        put_varint(&mut unknown, u64::from(KNOWN + 1));
        assert!(decoded(&unknown).unwrap_err().contains("unknown fields"));
        // The iterator stops after its error.
        let mut d = decode(&block[..block.len() - 1]);
        assert!(d.next().unwrap().is_ok());
        assert!(d.next().unwrap().is_err());
        assert!(d.next().is_none());
    }

    #[test]
    fn process_filters_hold_what_was_put_in_and_little_else() {
        // Blocks of 25 events (JSON lines: 32 KiB) and of 150 (binary events), and an old
        // fixed-size filter of a 25-event block, all equally selective.
        for (count, old_size) in [(25, false), (150, false), (25, true)] {
            let events: Vec<StoredEvent> = (0..count)
                .map(|i| StoredEvent {
                    entity_id: format!("7ba6d36d-{}-{}", 1000 + i, 5000 + i),
                    parent_entity_id: Some(format!("7ba6d36d-{}-{}", 900 + i, 4000 + i)),
                    pid: 1000 + i,
                    ..full()
                })
                .collect();
            let written = if old_size {
                ProcessFilter::sized(&events, 64)
            } else {
                ProcessFilter::of(&events)
            };
            assert!(written.as_bytes().len() >= 3 * count as usize || old_size);
            let filter = ProcessFilter::from_bytes(written.as_bytes()).expect("a filter");
            for e in &events {
                assert!(filter.may_name_entity(&e.entity_id));
                assert!(filter.may_name_entity(e.parent_entity_id.as_deref().unwrap()));
                assert!(filter.may_name_pid(e.pid));
            }
            let strangers = (0..1000)
                .filter(|i| {
                    filter.may_name_entity(&format!("7ba6d36d-{}-{}", 20_000 + i, 90_000 + i))
                })
                .count();
            assert!(
                strangers < 80,
                "{count} events: {strangers} of 1000 absent ids pass"
            );
            let other_pids = (0..1000)
                .filter(|i| filter.may_name_pid(50_000 + i))
                .count();
            assert!(
                other_pids < 80,
                "{count} events: {other_pids} of 1000 absent pids pass"
            );
        }
        // Bytes that are no filter are not read (every block is then decoded).
        assert!(ProcessFilter::from_bytes(&[]).is_none());
        assert!(ProcessFilter::from_bytes(&[0; 12]).is_none());
    }

    fn arb_opt_str() -> impl Strategy<Value = Option<String>> {
        proptest::option::of(".{0,12}")
    }

    prop_compose! {
        fn arb_event()(
            time_ns in any::<i64>(), pid in any::<i64>(), class in ".{0,8}", action in ".{0,8}",
            entity_id in ".{0,24}", parent_entity_id in arb_opt_str(),
            ppid in any::<Option<i64>>(), uid in any::<Option<i64>>(),
            exe in arb_opt_str(), path in arb_opt_str(), success in any::<Option<bool>>(),
            old_path in arb_opt_str(), local_address in arb_opt_str(),
            local_port in any::<Option<i64>>(), remote_address in arb_opt_str(),
            remote_port in any::<Option<i64>>(), json in ".{0,64}", pid_in_body in any::<u32>(),
            body_is_event in any::<bool>(),
        ) -> StoredEvent {
            StoredEvent {
                time_ns, class, action, entity_id, parent_entity_id, pid, ppid, uid, exe, path,
                success, old_path, local_address, local_port, remote_address, remote_port,
                body: if body_is_event { agent_event(pid_in_body).body } else { Body::Json(json) },
            }
        }
    }

    proptest! {
        #[test]
        fn any_events_round_trip(events in proptest::collection::vec(arb_event(), 0..8)) {
            prop_assert_eq!(decoded(&encode(&events)).unwrap(), events);
        }

        #[test]
        fn any_bytes_decode_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decoded(&bytes);
            for format in [FORMAT, PACKED] {
                let mut with_header = vec![format];
                with_header.extend_from_slice(&bytes);
                let _ = decoded(&with_header);
            }
        }

        #[test]
        fn any_events_round_trip_packed(events in proptest::collection::vec(arb_event(), 0..8)) {
            prop_assert_eq!(decoded(&packed(&events)).unwrap(), events);
        }
    }
}

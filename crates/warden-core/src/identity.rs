//! One process identity across every source: boot id + pid + start time in clock ticks since boot.
//!
//! /proc (stat field 22), the audit stream (looked up at exec) and the process connector (fork
//! timestamp converted to ticks) all map to the same key, so a process seen by any source is the
//! same `entity_id` everywhere. A bare pid is never an identity: pids are reused.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::short_text::ShortText;

/// The kernel's boot id (/proc/sys/kernel/random/boot_id), which changes at every boot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct BootId(pub [u8; 16]);

impl BootId {
    /// Parses the text form `8-4-4-4-12` hex digits (dashes optional).
    pub fn parse(text: &str) -> Option<BootId> {
        let hex: Vec<u8> = text.trim().bytes().filter(|b| *b != b'-').collect();
        if hex.len() != 32 {
            return None;
        }
        let mut out = [0u8; 16];
        for (i, pair) in hex.chunks(2).enumerate() {
            let s = std::str::from_utf8(pair).ok()?;
            out[i] = u8::from_str_radix(s, 16).ok()?;
        }
        Some(BootId(out))
    }

    /// The first 8 hex digits: enough to tell boots of one host apart in an entity id.
    pub fn short(&self) -> String {
        format!("{:08x}", self.short_number())
    }

    /// The first four bytes as one number (its hex form is [`BootId::short`]).
    fn short_number(&self) -> u32 {
        u32::from_be_bytes([self.0[0], self.0[1], self.0[2], self.0[3]])
    }
}

impl fmt::Display for BootId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// A process: the same value whichever source saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ProcessKey {
    pub boot: BootId,
    pub pid: u32,
    /// Start time in clock ticks since boot, as /proc/PID/stat field 22 gives it.
    pub start_ticks: u64,
}

/// A process key displayed as its entity id (see [`ProcessKey::entity_id`]).
#[derive(Clone, Copy, Debug)]
pub struct EntityId(ProcessKey);

impl EntityId {
    /// `<8 hex digits>-<pid>-<ticks>`: at most 8 + 1 + 10 + 1 + 20 bytes.
    fn text(&self) -> ShortText<40> {
        let k = &self.0;
        let mut t = ShortText::new();
        t.push_hex8(k.boot.short_number());
        t.push_ascii("-");
        t.push_decimal(u64::from(k.pid), 0);
        t.push_ascii("-");
        t.push_decimal(k.start_ticks, 0);
        t
    }
}

impl std::fmt::Display for EntityId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.text().as_str())
    }
}

impl serde::Serialize for EntityId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.text().as_str())
    }
}

impl ProcessKey {
    /// The key's string form, carried on every event as `process.entity_id`:
    /// `<first 8 hex digits of the boot id>-<pid>-<start ticks>`, readable and unique per host.
    pub fn entity_id(&self) -> String {
        self.entity().text().as_str().to_owned()
    }

    /// The entity id as something to write (into JSON, say) without a string of its own:
    /// this runs for every event, twice (the process and its parent).
    pub fn entity(&self) -> EntityId {
        EntityId(*self)
    }

    /// Converts a kernel timestamp in nanoseconds since boot (as the process connector gives
    /// it at fork) to the clock ticks /proc uses, so both sources agree on the key.
    pub fn ticks_from_boot_ns(boot_ns: u64, clock_ticks_per_sec: u64) -> u64 {
        let ns_per_tick = 1_000_000_000 / clock_ticks_per_sec.max(1);
        boot_ns / ns_per_tick
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boot_id_round_trips_and_shortens() {
        let id = BootId::parse("3f2a9c10-1b2c-4d5e-8f90-0123456789ab").unwrap();
        assert_eq!(id.to_string(), "3f2a9c10-1b2c-4d5e-8f90-0123456789ab");
        assert_eq!(id.short(), "3f2a9c10");
        assert!(BootId::parse("nope").is_none());
    }

    #[test]
    fn entity_ids_differ_by_start_time_for_a_reused_pid() {
        let boot = BootId([7; 16]);
        let a = ProcessKey {
            boot,
            pid: 42,
            start_ticks: 100,
        };
        let b = ProcessKey {
            boot,
            pid: 42,
            start_ticks: 9000,
        };
        assert_ne!(a.entity_id(), b.entity_id());
        assert_eq!(a.entity_id(), "07070707-42-100");
    }

    #[test]
    fn connector_nanoseconds_map_to_proc_ticks() {
        // 12.345 s after boot at 100 ticks/s is tick 1234, as /proc would say.
        assert_eq!(ProcessKey::ticks_from_boot_ns(12_345_000_000, 100), 1234);
    }
}

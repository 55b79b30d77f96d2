//! The clock retention by age goes by: the wall clock, but never ahead of the time that really
//! elapsed this boot, so that setting the clock forward cannot make the agent delete the
//! history an investigation needs.

use rusqlite::{Connection, OptionalExtension as _, params};

use crate::Result;

/// A wall-clock time and the boot-time clock's reading at that moment, in one boot: from
/// them, the wall time now as elapsed time counts it. Kept in `store_meta`, so that an agent
/// restarted in the same boot keeps the anchor of the first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Anchor {
    pub(crate) boot_id: String,
    /// UTC ns.
    pub(crate) wall_ns: i64,
    /// `CLOCK_BOOTTIME` ns (counts suspend).
    pub(crate) boottime_ns: i64,
}

impl Anchor {
    /// The time retention counts from: the wall clock (`wall_ns`), or the anchor's wall time
    /// plus the boot time elapsed since, whichever is earlier. A clock set back makes
    /// retention wait; a clock set forward does not make it delete sooner.
    pub(crate) fn now(&self, wall_ns: i64, boottime_ns: i64) -> i64 {
        let elapsed = boottime_ns.saturating_sub(self.boottime_ns).max(0);
        wall_ns.min(self.wall_ns.saturating_add(elapsed))
    }

    /// This moment on both clocks, in this boot.
    pub(crate) fn here() -> Anchor {
        Anchor {
            boot_id: boot_id(),
            wall_ns: wall_ns(),
            boottime_ns: boottime_ns(),
        }
    }

    /// The store's anchor if it was set in this boot, else this moment's, saved.
    pub(crate) fn load_or_set(conn: &Connection) -> Result<Anchor> {
        let here = Anchor::here();
        let get = |name: &str| {
            conn.query_row(
                "SELECT value FROM store_meta WHERE name = ?1",
                [name],
                |r| r.get::<_, rusqlite::types::Value>(0),
            )
            .optional()
        };
        use rusqlite::types::Value::{Integer, Text};
        if let (Some(Text(boot)), Some(Integer(wall)), Some(Integer(boottime))) = (
            get("clock_boot_id")?,
            get("clock_wall_ns")?,
            get("clock_boottime_ns")?,
        ) && !boot.is_empty()
            && boot == here.boot_id
            && boottime <= here.boottime_ns
        {
            return Ok(Anchor {
                boot_id: boot,
                wall_ns: wall,
                boottime_ns: boottime,
            });
        }
        here.save(conn)?;
        Ok(here)
    }

    pub(crate) fn save(&self, conn: &Connection) -> Result<()> {
        let mut put = conn.prepare_cached(
            "INSERT INTO store_meta (name, value) VALUES (?1, ?2) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        )?;
        put.execute(params!["clock_boot_id", self.boot_id])?;
        put.execute(params!["clock_wall_ns", self.wall_ns])?;
        put.execute(params!["clock_boottime_ns", self.boottime_ns])?;
        Ok(())
    }
}

/// UTC ns now.
pub(crate) fn wall_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// `CLOCK_BOOTTIME` ns now.
pub(crate) fn boottime_ns() -> i64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_BOOTTIME)
        .map(|t| t.tv_sec() * 1_000_000_000 + t.tv_nsec())
        .unwrap_or(0)
}

/// This boot's id; empty when unknown (then no anchor outlives the agent's run).
fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|id| id.trim().to_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400 * 1_000_000_000;

    #[test]
    fn a_clock_set_forward_does_not_move_retention() {
        let anchor = Anchor {
            boot_id: "b".into(),
            wall_ns: 100 * DAY,
            boottime_ns: 5 * DAY,
        };
        // One day later on both clocks: the wall clock.
        assert_eq!(anchor.now(101 * DAY, 6 * DAY), 101 * DAY);
        // The wall clock set 30 days forward: one day elapsed, and that is what counts.
        assert_eq!(anchor.now(131 * DAY, 6 * DAY), 101 * DAY);
        // Set back: the wall clock, earlier.
        assert_eq!(anchor.now(90 * DAY, 6 * DAY), 90 * DAY);
    }
}

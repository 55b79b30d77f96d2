//! How exact an event's time is, by its source, and its time written to that precision: audit
//! stamps to the millisecond, so `warden events` and `warden tree` show no more digits than that.

use serde_json::Value;

/// How exact an event's time is, by its source: the order of two events closer than that is
/// not known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Timing {
    /// The call's own (eBPF), or the kernel's stamp.
    Exact,
    /// When fanotify's event was read (it stamps none): it may show after what its process
    /// did next.
    ReadLate,
    /// Audit's records are stamped to the millisecond, from the coarse clock at the call's
    /// entry (updated every tick: 4 ms at 250 Hz), so up to a tick early.
    Millisecond,
}

impl Timing {
    pub(crate) fn of(ecs: &Value) -> Timing {
        match ecs["warden"]["source"].as_str() {
            Some("fanotify") => Timing::ReadLate,
            Some("audit") => Timing::Millisecond,
            _ => Timing::Exact,
        }
    }

    /// The time as `HH:MM:SS.ffffff` on `day`, else in full; to the millisecond where that is
    /// all there is (padded, so that the columns stay).
    pub(crate) fn clock(self, ns: i64, day: Option<i64>) -> String {
        let time = clock(ns, day);
        if self != Timing::Millisecond {
            return time;
        }
        match time.split_once('.') {
            Some((whole, fraction)) if time.ends_with('Z') => {
                format!("{whole}.{}Z", &fraction[..3])
            }
            Some((whole, fraction)) => format!("{whole}.{}   ", &fraction[..3]),
            None => time,
        }
    }

    /// The time in full (RFC 3339), to the millisecond where that is all there is, padded to
    /// the width of the nanosecond form, so that the columns of a listing stay.
    pub(crate) fn stamp(self, ns: i64) -> String {
        let full = warden_core::rfc3339_ns(ns);
        let shown = self.clock(ns, None);
        format!("{shown:<width$}", width = full.len())
    }
}

pub(crate) const NS_PER_DAY: i64 = 86_400 * 1_000_000_000;

/// A time as `HH:MM:SS.ffffff` on `day`, else in full.
pub(crate) fn clock(ns: i64, day: Option<i64>) -> String {
    let full = warden_core::rfc3339_ns(ns);
    if Some(ns.div_euclid(NS_PER_DAY)) == day {
        full[11..26].to_owned()
    } else {
        full
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_show_the_precision_their_source_has() {
        let ns = 1_796_530_411_527_123_456;
        let day = Some(ns / NS_PER_DAY);
        assert_eq!(Timing::Exact.clock(ns, day), "04:13:31.527123");
        assert_eq!(Timing::Millisecond.clock(ns, day), "04:13:31.527   ");
        assert_eq!(
            Timing::Millisecond.clock(ns, None),
            "2026-12-06T04:13:31.527Z"
        );
        let audit = serde_json::json!({"warden": {"source": "audit"}});
        assert_eq!(Timing::of(&audit), Timing::Millisecond);
        assert_eq!(Timing::of(&Value::Null), Timing::Exact);
        assert_eq!(Timing::Exact.stamp(ns), "2026-12-06T04:13:31.527123456Z");
        assert_eq!(
            Timing::Millisecond.stamp(ns),
            "2026-12-06T04:13:31.527Z      "
        );
    }
}

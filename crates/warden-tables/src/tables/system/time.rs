//! `time`: the current date and time in UTC, with the local time zone's abbreviation.

use crate::{QueryContext, Rows, TableError};

pub(crate) fn generate(_ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|e| TableError::Message(format!("clock before 1970: {e}")))?
        .as_secs();
    let now = i64::try_from(now).map_err(|e| TableError::Message(e.to_string()))?;
    let t = Civil::from_unix(now);
    let iso = t.iso_8601();
    let zone = local_zone(now).filter(|z| !z.is_empty());
    rows.push()
        .set("weekday", WEEKDAYS[t.weekday])
        .set("year", t.year)
        .set("month", t.month)
        .set("day", t.day)
        .set("hour", t.hour)
        .set("minutes", t.minute)
        .set("seconds", t.second)
        .set("timezone", "UTC")
        .set("local_timezone", zone.unwrap_or_else(|| "UTC".to_string()))
        .set("unix_time", now)
        .set("timestamp", format!("{} UTC", t.asctime()))
        .set("datetime", iso.clone())
        .set("iso_8601", iso);
    Ok(())
}

const WEEKDAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A broken-down UTC time.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Civil {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    /// 0 = Sunday.
    pub weekday: usize,
}

impl Civil {
    /// Converts seconds since the epoch to a UTC calendar date (proleptic Gregorian).
    pub fn from_unix(secs: i64) -> Civil {
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        // Days to civil date (Howard Hinnant's algorithm).
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        Civil {
            year,
            month,
            day,
            hour: (rem / 3_600) as u32,
            minute: (rem % 3_600 / 60) as u32,
            second: (rem % 60) as u32,
            weekday: (days + 4).rem_euclid(7) as usize,
        }
    }

    /// `2024-02-29T12:00:00Z`.
    pub fn iso_8601(&self) -> String {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }

    /// C's asctime layout without the newline: `Thu Feb 29 12:00:00 2024`.
    pub fn asctime(&self) -> String {
        format!(
            "{} {}{:3} {:02}:{:02}:{:02} {}",
            &WEEKDAYS[self.weekday][..3],
            MONTHS[(self.month as usize).saturating_sub(1) % 12],
            self.day,
            self.hour,
            self.minute,
            self.second,
            self.year
        )
    }
}

/// The local time zone's abbreviation at `now` (`CET`, `UTC`), from the C library.
fn local_zone(now: i64) -> Option<String> {
    let t: libc::time_t = now;
    // SAFETY: `tm` is plain old data; zeroed is a valid value for it.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the duration of the call.
    let ok = unsafe { !libc::localtime_r(&t, &mut tm).is_null() };
    if !ok || tm.tm_zone.is_null() {
        return None;
    }
    // SAFETY: glibc points tm_zone at a NUL-terminated static string that lives as long as
    // the time zone data, which is never freed while the process runs.
    let zone = unsafe { std::ffi::CStr::from_ptr(tm.tm_zone) };
    Some(zone.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_and_leap_day() {
        let e = Civil::from_unix(0);
        assert_eq!((e.year, e.month, e.day, e.weekday), (1970, 1, 1, 4));
        let leap = Civil::from_unix(1_709_208_000); // 2024-02-29 12:00:00 UTC, a Thursday
        assert_eq!(leap.iso_8601(), "2024-02-29T12:00:00Z");
        assert_eq!(leap.asctime(), "Thu Feb 29 12:00:00 2024");
        assert_eq!(WEEKDAYS[leap.weekday], "Thursday");
    }

    #[test]
    fn single_digit_days_are_space_padded() {
        // 2016-05-02 22:27:32 UTC, osquery's documented example.
        let t = Civil::from_unix(1_462_228_052);
        assert_eq!(t.asctime(), "Mon May  2 22:27:32 2016");
    }

    #[test]
    fn matches_the_c_library() {
        for secs in [86_399_i64, 951_782_400, 4_102_444_800, 1_234_567_890] {
            let t: libc::time_t = secs;
            let mut tm: libc::tm = unsafe { std::mem::zeroed() };
            unsafe { libc::gmtime_r(&t, &mut tm) };
            let c = Civil::from_unix(secs);
            assert_eq!(c.year, i64::from(tm.tm_year) + 1900);
            assert_eq!(c.month as i32, tm.tm_mon + 1);
            assert_eq!(c.day as i32, tm.tm_mday);
            assert_eq!(c.hour as i32, tm.tm_hour);
            assert_eq!(c.weekday as i32, tm.tm_wday);
        }
    }
}

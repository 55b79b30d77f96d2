//! `memory_info`: main memory and swap totals, in bytes, from /proc/meminfo.

use crate::{QueryContext, Rows, TableError};

const FIELDS: [(&str, &str); 10] = [
    ("memory_total", "MemTotal"),
    ("memory_free", "MemFree"),
    ("memory_available", "MemAvailable"),
    ("buffers", "Buffers"),
    ("cached", "Cached"),
    ("swap_cached", "SwapCached"),
    ("active", "Active"),
    ("inactive", "Inactive"),
    ("swap_total", "SwapTotal"),
    ("swap_free", "SwapFree"),
];

pub(crate) fn generate(_ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mut row = rows.push();
    for (key, bytes) in parse_meminfo(&text) {
        if let Some((column, _)) = FIELDS.iter().find(|(_, k)| *k == key) {
            row.set(column, bytes);
        }
    }
    Ok(())
}

/// Every `Key:  N kB` line as (key, bytes). Lines without a unit are counts, kept as is.
pub(super) fn parse_meminfo(text: &str) -> Vec<(&str, u64)> {
    text.lines()
        .filter_map(|line| {
            let (key, rest) = line.split_once(':')?;
            let mut words = rest.split_whitespace();
            let n: u64 = words.next()?.parse().ok()?;
            let bytes = match words.next() {
                Some("kB") => n.checked_mul(1024)?,
                _ => n,
            };
            Some((key.trim(), bytes))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kilobytes_become_bytes() {
        let v = parse_meminfo(
            "MemTotal:       24684092 kB\nHugePages_Total:       0\nActive(anon):    1568 kB\n",
        );
        assert_eq!(v[0], ("MemTotal", 24_684_092 * 1024));
        assert_eq!(v[1], ("HugePages_Total", 0));
        assert_eq!(v[2], ("Active(anon)", 1568 * 1024));
    }
}

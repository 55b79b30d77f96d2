//! `cpu_time`: per-core time counters (in clock ticks) from the `cpuN` lines of /proc/stat.

use crate::{QueryContext, Rows, TableError};

pub(crate) fn generate(_ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    let text = std::fs::read_to_string("/proc/stat")?;
    for core in parse_stat(&text) {
        let mut row = rows.push();
        row.set("core", core.core);
        for (column, value) in COLUMNS.iter().zip(core.values) {
            row.set(column, value);
        }
    }
    Ok(())
}

const COLUMNS: [&str; 10] = [
    "user",
    "nice",
    "system",
    "idle",
    "iowait",
    "irq",
    "softirq",
    "steal",
    "guest",
    "guest_nice",
];

/// One `cpuN` line: the core number and its ten counters (missing trailing counters are 0).
#[derive(Debug, PartialEq, Eq)]
struct CoreTimes {
    core: u32,
    values: [u64; 10],
}

fn parse_stat(text: &str) -> Vec<CoreTimes> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let core = words.next()?.strip_prefix("cpu")?.parse().ok()?;
            let nums: Vec<u64> = words.map_while(|w| w.parse().ok()).collect();
            if nums.len() < 7 {
                return None;
            }
            let mut values = [0_u64; 10];
            for (slot, n) in values.iter_mut().zip(nums) {
                *slot = n;
            }
            Some(CoreTimes { core, values })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_core_lines_only() {
        let text = "cpu  10451 0 3179 54958 283 0 51 598 0 0\n\
                    cpu0 5315 0 1434 27643 78 0 10 294 0 0\n\
                    cpu1 5135 1 1745 27315 204 0 41\n\
                    intr 144110 0 0\nctxt 229955\n";
        let cores = parse_stat(text);
        assert_eq!(cores.len(), 2);
        assert_eq!(cores[0].core, 0);
        assert_eq!(cores[0].values[7], 294);
        assert_eq!(cores[1].values[1], 1);
        assert_eq!(cores[1].values[9], 0);
    }
}

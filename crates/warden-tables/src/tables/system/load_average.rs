//! `load_average`: the 1, 5 and 15 minute load averages from /proc/loadavg.

use crate::{QueryContext, Rows, TableError};

pub(crate) fn generate(_ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    let Ok(text) = std::fs::read_to_string("/proc/loadavg") else {
        return Ok(());
    };
    for (period, average) in parse_loadavg(&text) {
        rows.push().set("period", period).set("average", average);
    }
    Ok(())
}

/// The three averages, formatted as osquery does (six decimals: `0.490000`).
fn parse_loadavg(text: &str) -> Vec<(&'static str, String)> {
    let values: Vec<f64> = text
        .split_whitespace()
        .take(3)
        .filter_map(|v| v.parse().ok())
        .collect();
    if values.len() != 3 {
        return Vec::new();
    }
    ["1m", "5m", "15m"]
        .into_iter()
        .zip(values)
        .map(|(p, v)| (p, format!("{v:.6}")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_periods() {
        let v = parse_loadavg("0.49 0.36 0.14 2/99 7689\n");
        assert_eq!(
            v,
            vec![
                ("1m", "0.490000".to_string()),
                ("5m", "0.360000".to_string()),
                ("15m", "0.140000".to_string())
            ]
        );
        assert!(parse_loadavg("").is_empty());
    }
}

//! `uptime`: time since boot, from /proc/uptime.

use crate::{QueryContext, Rows, TableError};

pub(crate) fn generate(_ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    let text = std::fs::read_to_string("/proc/uptime")?;
    let total = parse_uptime(&text)
        .ok_or_else(|| TableError::Message(format!("unexpected /proc/uptime: {text:?}")))?;
    rows.push()
        .set("days", total / 86_400)
        .set("hours", total % 86_400 / 3_600)
        .set("minutes", total % 3_600 / 60)
        .set("seconds", total % 60)
        .set("total_seconds", total);
    Ok(())
}

/// Whole seconds since boot from the text of /proc/uptime (`"12345.67 23456.78\n"`).
fn parse_uptime(text: &str) -> Option<u64> {
    let first = text.split_whitespace().next()?;
    first.split('.').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_whole_seconds() {
        assert_eq!(parse_uptime("93784.55 180000.10\n"), Some(93784));
        assert_eq!(parse_uptime("garbage"), None);
    }

    #[test]
    fn reads_the_running_system() {
        let rows = crate::table("uptime").unwrap().scan().unwrap();
        assert_eq!(rows.len(), 1);
        let total = rows.get(0, "total_seconds").unwrap().as_i64().unwrap();
        assert!(total > 0);
    }
}

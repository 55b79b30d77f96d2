//! `memory_map`: the physical memory map from /proc/iomem (addresses read as zero without
//! root, as the kernel hides them).

use crate::{QueryContext, Rows, TableError};

pub(crate) fn generate(_ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    let Ok(text) = std::fs::read_to_string("/proc/iomem") else {
        return Ok(());
    };
    for (start, end, name) in parse_iomem(&text) {
        rows.push()
            .set("name", name)
            .set("start", format!("0x{start}"))
            .set("end", format!("0x{end}"));
    }
    Ok(())
}

/// `  000f0000-000fffff : System ROM` → ("000f0000", "000fffff", "System ROM"); nested
/// regions (indented) are included.
fn parse_iomem(text: &str) -> Vec<(&str, &str, &str)> {
    text.lines()
        .filter_map(|line| {
            let (range, name) = line.trim_start().split_once(" : ")?;
            let (start, end) = range.split_once('-')?;
            Some((start, end, name))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_and_nested_regions() {
        let v = parse_iomem(
            "00000000-00000fff : Reserved\n00100000-bfffffff : System RAM\n  01000000-02209987 : Kernel code\nbroken\n",
        );
        assert_eq!(v.len(), 3);
        assert_eq!(v[1], ("00100000", "bfffffff", "System RAM"));
        assert_eq!(v[2], ("01000000", "02209987", "Kernel code"));
    }
}

//! `process_memory_map`: the memory regions of each process, from /proc/PID/maps.

use super::proc::{ProcReader, Shape, pids};
use crate::{QueryContext, Rows, TableError};

pub(crate) fn generate(ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    let mut reader = ProcReader::new();
    for pid in pids(ctx) {
        // Exited processes and those we may not inspect are skipped.
        let Some(maps) = reader.read(pid, "maps", Shape::Records) else {
            continue;
        };
        let text = String::from_utf8_lossy(maps);
        for map in text.lines().filter_map(parse_maps_line) {
            rows.push()
                .set("pid", pid)
                .set("start", format!("0x{}", map.start))
                .set("end", format!("0x{}", map.end))
                .set("permissions", map.permissions)
                .set("offset", map.offset)
                .set("device", map.device)
                .set("inode", map.inode)
                .set("path", map.path)
                // A named region with no backing inode: [heap], [stack], [vdso], …
                .set("pseudo", i64::from(map.inode == 0 && !map.path.is_empty()));
        }
    }
    Ok(())
}

/// One line of /proc/PID/maps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct MapEntry<'a> {
    pub start: &'a str,
    pub end: &'a str,
    pub permissions: &'a str,
    /// Offset into the mapped file; -1 when it cannot be parsed.
    pub offset: i64,
    pub device: &'a str,
    pub inode: u64,
    /// The mapped path or pseudo-path, empty for anonymous memory. Paths may contain spaces.
    pub path: &'a str,
}

/// Splits off the next space-separated field, skipping leading spaces.
fn field(s: &str) -> Option<(&str, &str)> {
    let s = s.trim_start_matches(' ');
    if s.is_empty() {
        return None;
    }
    Some(s.split_once(' ').unwrap_or((s, "")))
}

/// Parses `start-end perms offset dev inode [path]`.
pub(crate) fn parse_maps_line(line: &str) -> Option<MapEntry<'_>> {
    let (range, rest) = field(line)?;
    let (permissions, rest) = field(rest)?;
    let (offset, rest) = field(rest)?;
    let (device, rest) = field(rest)?;
    let (inode, rest) = field(rest)?;
    let (start, end) = range.split_once('-')?;
    Some(MapEntry {
        start,
        end,
        permissions,
        offset: i64::from_str_radix(offset, 16).unwrap_or(-1),
        device,
        inode: inode.parse().ok()?,
        path: rest.trim(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_anonymous_and_pseudo_regions() {
        let file = parse_maps_line(
            "55d0a1e00000-55d0a1e02000 r--p 00004000 fe:01 1835   /usr/bin/my tool",
        )
        .unwrap();
        assert_eq!((file.start, file.end), ("55d0a1e00000", "55d0a1e02000"));
        assert_eq!(file.permissions, "r--p");
        assert_eq!(file.offset, 0x4000);
        assert_eq!(file.device, "fe:01");
        assert_eq!(file.inode, 1835);
        assert_eq!(file.path, "/usr/bin/my tool");

        let anon = parse_maps_line("7f00-7f01 rw-p 00000000 00:00 0 ").unwrap();
        assert_eq!(anon.path, "");
        assert_eq!(anon.inode, 0);

        let heap = parse_maps_line("5600-5700 rw-p 00000000 00:00 0      [heap]").unwrap();
        assert_eq!(heap.path, "[heap]");
        assert!(parse_maps_line("5600-5700 rw-p").is_none());
    }
}

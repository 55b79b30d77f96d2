//! Software RAID from /proc/mdstat and /sys/block/mdN/md: `md_devices`, `md_drives` and
//! `md_personalities` (no rows on machines without the md driver or arrays).

use std::path::Path;

use crate::{QueryContext, Rows, TableError};

use super::util::read_trimmed;

/// What /proc/mdstat says.
#[derive(Debug, Default, PartialEq, Eq)]
struct MdStat {
    personalities: Vec<String>,
    arrays: Vec<Array>,
    unused: String,
}

/// One array block of /proc/mdstat.
#[derive(Debug, Default, PartialEq, Eq)]
struct Array {
    name: String,
    status: String,
    level: Option<String>,
    /// In 1 KiB blocks.
    size: Option<u64>,
    /// (kind, progress, finish, speed) for recovery, resync, reshape, check.
    actions: Vec<(String, String, String, String)>,
    bitmap: Option<(String, String, String)>,
    other: Vec<String>,
}

fn parse_mdstat(text: &str) -> MdStat {
    let mut out = MdStat::default();
    let mut cur: Option<Array> = None;
    for line in text.lines() {
        let t = line.trim();
        if let Some(p) = t.strip_prefix("Personalities :") {
            out.personalities = p
                .split_whitespace()
                .map(|w| w.trim_matches(['[', ']']).to_string())
                .filter(|w| !w.is_empty())
                .collect();
        } else if let Some(u) = t.strip_prefix("unused devices:") {
            out.unused = u.trim().to_string();
        } else if !line.starts_with([' ', '\t']) && t.contains(" : ") {
            if let Some(a) = cur.take() {
                out.arrays.push(a);
            }
            let (name, rest) = t.split_once(" : ").unwrap_or((t, ""));
            let mut words = rest.split_whitespace();
            let status = words.next().unwrap_or_default().to_string();
            let mut level = words.next().map(str::to_string);
            if level.as_deref().is_some_and(|l| l.starts_with('(')) {
                level = words.next().map(str::to_string);
            }
            cur = Some(Array {
                name: name.to_string(),
                status,
                level: level.filter(|l| !l.contains('[')),
                ..Array::default()
            });
        } else if let Some(a) = cur.as_mut() {
            if t.is_empty() {
                continue;
            }
            let mut words = t.split_whitespace();
            let first = words.next();
            if a.size.is_none() && words.next() == Some("blocks") {
                a.size = first.and_then(|s| s.parse().ok());
            } else if let Some(b) = t.strip_prefix("bitmap:") {
                let parts: Vec<&str> = b.split(',').map(str::trim).collect();
                let on_mem = parts.first().copied().unwrap_or_default().to_string();
                let chunk = parts
                    .iter()
                    .find(|p| p.ends_with("chunk"))
                    .map(|p| p.trim_end_matches("chunk").trim().to_string())
                    .unwrap_or_default();
                let file = parts
                    .iter()
                    .find(|p| p.starts_with("file:"))
                    .map(|p| p.trim_start_matches("file:").trim().to_string())
                    .unwrap_or_default();
                a.bitmap = Some((on_mem, chunk, file));
            } else if let Some(action) = parse_action(t) {
                a.actions.push(action);
            } else {
                a.other.push(t.to_string());
            }
        }
    }
    if let Some(a) = cur.take() {
        out.arrays.push(a);
    }
    out
}

/// `[==>...]  recovery = 12.6% (37043392/293039104) finish=127.5min speed=33440K/sec`.
fn parse_action(t: &str) -> Option<(String, String, String, String)> {
    let rest = t
        .strip_prefix('[')
        .map_or(t, |r| r.split_once(']').map_or(r, |x| x.1));
    let (kind, rest) = rest.trim().split_once('=')?;
    let kind = kind.trim();
    if !["recovery", "resync", "reshape", "check"].contains(&kind) {
        return None;
    }
    let mut words = rest.split_whitespace();
    let mut progress = words.next().unwrap_or_default().to_string();
    let (mut finish, mut speed) = (String::new(), String::new());
    for w in words {
        if let Some(f) = w.strip_prefix("finish=") {
            finish = f.to_string();
        } else if let Some(s) = w.strip_prefix("speed=") {
            speed = s.to_string();
        } else if w.starts_with('(') {
            progress = format!("{progress} {w}");
        }
    }
    Some((kind.to_string(), progress, finish, speed))
}

/// osquery's numeric RAID levels.
fn level_number(level: &str) -> Option<i64> {
    match level {
        "linear" => Some(-1),
        "multipath" => Some(-4),
        "faulty" => Some(-5),
        l => l.strip_prefix("raid").and_then(|n| n.parse().ok()),
    }
}

fn read_mdstat() -> Option<MdStat> {
    std::fs::read_to_string("/proc/mdstat")
        .ok()
        .map(|t| parse_mdstat(&t))
}

pub(crate) fn generate_personalities(
    _ctx: &QueryContext,
    rows: &mut Rows,
) -> Result<(), TableError> {
    for p in read_mdstat().map(|m| m.personalities).unwrap_or_default() {
        rows.push().set("name", p);
    }
    Ok(())
}

pub(crate) fn generate_devices(_ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    let Some(stat) = read_mdstat() else {
        return Ok(());
    };
    for a in &stat.arrays {
        let md = Path::new("/sys/block").join(&a.name).join("md");
        let attr = |n: &str| read_trimmed(md.join(n));
        let num = |n: &str| attr(n).and_then(|v| v.parse::<i64>().ok());
        let level = attr("level")
            .or_else(|| a.level.clone())
            .unwrap_or_default();
        let raid_disks = num("raid_disks");
        let drives = drives(&md);
        let count = |pred: &dyn Fn(&str) -> bool| drives.iter().filter(|d| pred(&d.1)).count();
        let failed = count(&|s| s.contains("faulty"));
        let active = count(&|s| s.contains("in_sync"));
        let spare = count(&|s| s.contains("spare"));
        let mut row = rows.push();
        row.set("device_name", a.name.as_str())
            .set("status", a.status.as_str())
            .set("raid_level", level_number(&level))
            .set("size", a.size)
            .set("chunk_size", num("chunk_size"))
            .set("raid_disks", raid_disks)
            .set("nr_raid_disks", drives.len())
            .set("working_disks", drives.len() - failed)
            .set("active_disks", active)
            .set("failed_disks", failed)
            .set("spare_disks", spare)
            .set("superblock_state", attr("array_state"))
            .set("superblock_version", attr("metadata_version"))
            .set("unused_devices", stat.unused.as_str())
            .set("other", a.other.join(" "));
        for (kind, progress, finish, speed) in &a.actions {
            let prefix = if kind == "check" {
                "check_array"
            } else {
                kind.as_str()
            };
            row.set(&format!("{prefix}_progress"), progress.as_str())
                .set(&format!("{prefix}_finish"), finish.as_str())
                .set(&format!("{prefix}_speed"), speed.as_str());
        }
        if let Some((on_mem, chunk, file)) = &a.bitmap {
            row.set("bitmap_on_mem", on_mem.as_str())
                .set("bitmap_chunk_size", chunk.as_str())
                .set("bitmap_external_file", file.as_str());
        }
    }
    Ok(())
}

/// The member devices of an array: (device name, sysfs state, slot).
fn drives(md: &Path) -> Vec<(String, String, Option<i64>)> {
    let Ok(entries) = std::fs::read_dir(md) else {
        return Vec::new();
    };
    let mut out: Vec<_> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let dev = name.strip_prefix("dev-")?.to_string();
            let state = read_trimmed(e.path().join("state")).unwrap_or_default();
            let slot = read_trimmed(e.path().join("slot")).and_then(|s| s.parse().ok());
            Some((dev, state, slot))
        })
        .collect();
    out.sort();
    out
}

/// sysfs member states in osquery's words (`in_sync` → `active sync`).
fn drive_state(sysfs: &str) -> String {
    let words: Vec<&str> = sysfs
        .split(',')
        .filter_map(|w| match w.trim() {
            "faulty" => Some("faulty"),
            "in_sync" => Some("active sync"),
            "write_mostly" => Some("writemostly"),
            "failfast" => Some("failfast"),
            "spare" => Some("spare"),
            "blocked" => Some("blocked"),
            "" => None,
            other => Some(other),
        })
        .collect();
    if words.is_empty() {
        "recovering".into()
    } else {
        words.join(" ")
    }
}

pub(crate) fn generate_drives(_ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    let Some(stat) = read_mdstat() else {
        return Ok(());
    };
    for a in &stat.arrays {
        let md = Path::new("/sys/block").join(&a.name).join("md");
        for (dev, state, slot) in drives(&md) {
            rows.push()
                .set("md_device_name", a.name.as_str())
                .set("drive_name", format!("/dev/{dev}"))
                .set("state", drive_state(&state))
                .set("slot", slot);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MDSTAT: &str = "Personalities : [raid1] [raid6] [raid5] [raid4] \n\
md0 : active raid1 sdb1[1] sda1[0]\n      1048512 blocks super 1.2 [2/2] [UU]\n\
      [==>..................]  recovery = 12.6% (37043392/293039104) finish=127.5min speed=33440K/sec\n\
      bitmap: 0/1 pages [0KB], 65536KB chunk\n\n\
md1 : inactive sdc1[0](S)\n      523264 blocks super 1.2\n\n\
unused devices: <none>\n";

    #[test]
    fn mdstat_arrays() {
        let m = parse_mdstat(MDSTAT);
        assert_eq!(m.personalities, vec!["raid1", "raid6", "raid5", "raid4"]);
        assert_eq!(m.unused, "<none>");
        assert_eq!(m.arrays.len(), 2);
        let a = &m.arrays[0];
        assert_eq!(a.name, "md0");
        assert_eq!(a.status, "active");
        assert_eq!(a.level.as_deref(), Some("raid1"));
        assert_eq!(a.size, Some(1_048_512));
        assert_eq!(a.actions[0].0, "recovery");
        assert_eq!(a.actions[0].1, "12.6% (37043392/293039104)");
        assert_eq!(a.actions[0].2, "127.5min");
        assert_eq!(a.actions[0].3, "33440K/sec");
        assert_eq!(
            a.bitmap,
            Some(("0/1 pages [0KB]".into(), "65536KB".into(), String::new()))
        );
        assert_eq!(m.arrays[1].status, "inactive");
        assert_eq!(m.arrays[1].level, None);
    }

    #[test]
    fn levels_and_states() {
        assert_eq!(level_number("raid10"), Some(10));
        assert_eq!(level_number("linear"), Some(-1));
        assert_eq!(drive_state("in_sync"), "active sync");
        assert_eq!(drive_state("faulty,write_mostly"), "faulty writemostly");
        assert_eq!(drive_state(""), "recovering");
    }
}

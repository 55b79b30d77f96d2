//! `system_controls`: kernel tunables (sysctl) from /proc/sys, with the values configured in
//! /etc/sysctl.conf and the sysctl.d directories.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::{QueryContext, Rows, TableError};

const PROC_SYS: &str = "/proc/sys";

/// The configuration files, in the order osquery reads them (later files win).
const CONFIG_FILES: [&str; 1] = ["/etc/sysctl.conf"];
const CONFIG_DIRS: [&str; 5] = [
    "/run/sysctl.d",
    "/etc/sysctl.d",
    "/usr/local/lib/sysctl.d",
    "/usr/lib/sysctl.d",
    "/lib/sysctl.d",
];

pub(crate) fn generate(ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    let config = if ctx.wants("config_value") {
        read_config()
    } else {
        BTreeMap::new()
    };
    let mut leaves: Vec<PathBuf> = Vec::new();
    if let Some(names) = ctx.equal_texts("name") {
        leaves.extend(names.iter().filter_map(|n| name_to_path(n)));
    } else if ctx.equals("oid").is_some() {
        // Linux has no numeric MIBs: no control has an oid.
        return Ok(());
    } else {
        let subsystems = ctx.equal_texts("subsystem");
        let Ok(entries) = std::fs::read_dir(PROC_SYS) else {
            return Ok(());
        };
        let mut tops: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        tops.sort();
        for top in tops {
            let name = top.file_name().map(|n| n.to_string_lossy().into_owned());
            if let (Some(filter), Some(name)) = (&subsystems, &name)
                && !filter.contains(name)
            {
                continue;
            }
            walk(&top, &mut leaves);
        }
    }
    for path in leaves {
        let Some(name) = path_to_name(&path) else {
            continue;
        };
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if !meta.is_file() {
            continue;
        }
        let subsystem = name.split('.').next().unwrap_or_default().to_string();
        let mut row = rows.push();
        if ctx.wants("current_value") {
            // Write-only controls (vm.compact_memory) read as an empty value, as in osquery.
            let value = std::fs::read(&path)
                .map(|b| String::from_utf8_lossy(&b).trim().to_string())
                .unwrap_or_default();
            row.set("current_value", value);
        }
        row.set("config_value", config.get(&name).cloned())
            .set("subsystem", subsystem)
            .set("type", "string")
            .set("name", name);
    }
    Ok(())
}

/// Collects the files under a /proc/sys directory, directories first, each level sorted.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(meta) = std::fs::symlink_metadata(dir) else {
        return;
    };
    if !meta.is_dir() {
        out.push(dir.to_path_buf());
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut children: Vec<(bool, PathBuf)> = entries
        .flatten()
        .map(|e| (!e.file_type().is_ok_and(|t| t.is_dir()), e.path()))
        .collect();
    children.sort();
    for (is_file, child) in children {
        if is_file {
            out.push(child);
        } else {
            walk(&child, out);
        }
    }
}

/// `kernel.ostype` → /proc/sys/kernel/ostype. Names with empty components (which could
/// otherwise climb out of /proc/sys) are refused.
fn name_to_path(name: &str) -> Option<PathBuf> {
    let parts: Vec<&str> = name.split(['.', '/']).collect();
    if parts.iter().any(|p| p.is_empty()) {
        return None;
    }
    let mut path = PathBuf::from(PROC_SYS);
    path.extend(parts);
    Some(path)
}

/// /proc/sys/net/ipv4/ip_forward → `net.ipv4.ip_forward`.
fn path_to_name(path: &Path) -> Option<String> {
    let rel = path.strip_prefix(PROC_SYS).ok()?;
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    (!parts.is_empty()).then(|| parts.join("."))
}

/// The configured values of every sysctl configuration file.
fn read_config() -> BTreeMap<String, String> {
    let mut config = BTreeMap::new();
    let mut files: Vec<PathBuf> = CONFIG_FILES.iter().map(PathBuf::from).collect();
    for dir in CONFIG_DIRS {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        let mut confs: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "conf"))
            .collect();
        confs.sort();
        files.extend(confs);
    }
    for file in files {
        if let Ok(text) = std::fs::read_to_string(&file) {
            parse_config(&text, &mut config);
        }
    }
    config
}

/// Parses sysctl.conf lines (`key = value`, `#` and `;` comments, a leading `-` meaning
/// "ignore errors"); keys written with slashes are normalised to dots.
fn parse_config(text: &str, config: &mut BTreeMap<String, String>) {
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim().trim_start_matches('-').replace('/', ".");
        if key.is_empty() {
            continue;
        }
        config.insert(key, value.trim().to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_paths_round_trip() {
        let p = name_to_path("net.ipv4.ip_forward").unwrap();
        assert_eq!(p, PathBuf::from("/proc/sys/net/ipv4/ip_forward"));
        assert_eq!(path_to_name(&p).as_deref(), Some("net.ipv4.ip_forward"));
        assert!(name_to_path("kernel..ostype").is_none());
        assert!(name_to_path(".kernel").is_none());
    }

    #[test]
    fn config_lines() {
        let mut c = BTreeMap::new();
        parse_config(
            "# comment\n; other\nnet.ipv4.ip_forward = 1\n-kernel/sysrq=0\nbroken\n",
            &mut c,
        );
        assert_eq!(c.get("net.ipv4.ip_forward").map(String::as_str), Some("1"));
        assert_eq!(c.get("kernel.sysrq").map(String::as_str), Some("0"));
        assert_eq!(c.len(), 2);
    }
}

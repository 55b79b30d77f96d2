//! `selinux_settings`: the active SELinux settings from the mounted selinuxfs (root keys,
//! booleans, policy capabilities, initial contexts and class permissions); no rows when
//! SELinux is not mounted.

use std::path::{Path, PathBuf};

use crate::{QueryContext, Rows, TableError};

const ROOT_KEYS: [&str; 6] = [
    "checkreqprot",
    "deny_unknown",
    "enforce",
    "mls",
    "policyvers",
    "reject_unknown",
];
const SCOPES: [&str; 3] = ["booleans", "policy_capabilities", "initial_contexts"];

pub(crate) fn generate(_ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    let Some(root) = super::mounts::parse_mounts(&mounts)
        .into_iter()
        .find(|m| m.fs_type == "selinuxfs")
        .map(|m| PathBuf::from(m.path))
    else {
        return Ok(());
    };
    for key in ROOT_KEYS {
        let mut row = rows.push();
        row.set("scope", "").set("key", key);
        if let Ok(v) = std::fs::read_to_string(root.join(key)) {
            row.set("value", v);
        }
    }
    for scope in SCOPES {
        let mut files = Vec::new();
        list_files(&root.join(scope), &mut files, 0);
        for file in files {
            let Some(key) = file.file_name().map(|n| n.to_string_lossy().into_owned()) else {
                continue;
            };
            let Ok(raw) = std::fs::read_to_string(&file) else {
                continue;
            };
            let value = if scope == "booleans" {
                match boolean_value(&raw) {
                    Some(v) => v.to_string(),
                    None => continue,
                }
            } else {
                raw
            };
            rows.push()
                .set("scope", scope)
                .set("key", key)
                .set("value", value);
        }
    }
    let class_root = root.join("class");
    let mut files = Vec::new();
    list_files(&class_root, &mut files, 0);
    for file in files {
        let Some((key, value)) = class_entry(&class_root, &file) else {
            continue;
        };
        rows.push()
            .set("scope", "class")
            .set("key", key)
            .set("value", value);
    }
    Ok(())
}

/// Every regular file below a directory, sorted.
fn list_files(dir: &Path, out: &mut Vec<PathBuf>, depth: usize) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    paths.sort();
    for p in paths {
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.is_dir() && depth < 8 => list_files(&p, out, depth + 1),
            Ok(m) if m.is_file() => out.push(p),
            _ => {}
        }
    }
}

/// A boolean file holds "current pending": `1 1` is on, `0 0` is off; anything else (a
/// pending change) is skipped, as osquery does.
fn boolean_value(raw: &str) -> Option<&'static str> {
    match raw.trim() {
        "0 0" => Some("off"),
        "1 1" => Some("on"),
        _ => None,
    }
}

/// class/file/perms/read → ("file/perms", "read"); `index` files are skipped.
fn class_entry(class_root: &Path, file: &Path) -> Option<(String, String)> {
    let rel = file.strip_prefix(class_root).ok()?;
    let value = rel.file_name()?.to_string_lossy().into_owned();
    if value == "index" {
        return None;
    }
    let key = rel.parent()?.to_string_lossy().into_owned();
    (!key.is_empty()).then_some((key, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_and_classes() {
        assert_eq!(boolean_value("1 1"), Some("on"));
        assert_eq!(boolean_value("0 0\n"), Some("off"));
        assert_eq!(boolean_value("0 1"), None);
        let root = Path::new("/sys/fs/selinux/class");
        assert_eq!(
            class_entry(root, Path::new("/sys/fs/selinux/class/file/perms/read")),
            Some(("file/perms".to_string(), "read".to_string()))
        );
        assert_eq!(
            class_entry(root, Path::new("/sys/fs/selinux/class/file/index")),
            None
        );
    }
}

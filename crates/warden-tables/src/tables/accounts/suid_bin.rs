//! `suid_bin`: setuid and setgid files under osquery's fixed list of binary directories.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::sys;
use crate::{QueryContext, Rows, TableError};

/// The directories osquery searches (recursively, without following links to directories).
const SEARCH_DIRS: &[&str] = &[
    "/bin",
    "/sbin",
    "/usr/bin",
    "/usr/sbin",
    "/usr/local/bin",
    "/usr/local/sbin",
    "/tmp",
];

/// Guards against pathological trees (osquery walks without a limit).
const MAX_DEPTH: usize = 64;

pub(crate) fn generate(_ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    let users: HashMap<u32, String> = sys::passwd()
        .into_iter()
        .rev()
        .map(|p| (p.uid, p.username))
        .collect();
    let groups: HashMap<u32, String> = sys::groups()
        .into_iter()
        .rev()
        .map(|g| (g.gid, g.name))
        .collect();
    let names = Names { users, groups };
    for dir in SEARCH_DIRS {
        walk(Path::new(dir), 0, &names, rows);
    }
    Ok(())
}

struct Names {
    users: HashMap<u32, String>,
    groups: HashMap<u32, String>,
}

fn walk(dir: &Path, depth: usize, names: &Names, rows: &mut Rows) {
    if depth > MAX_DEPTH {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            walk(&path, depth + 1, names, rows);
            continue;
        }
        // A link to a file counts with the target's mode and owner, as `stat` sees it.
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        if !meta.is_file() {
            continue;
        }
        let Some(perms) = permissions(meta.mode()) else {
            continue;
        };
        let user = names
            .users
            .get(&meta.uid())
            .cloned()
            .unwrap_or_else(|| meta.uid().to_string());
        let group = names
            .groups
            .get(&meta.gid())
            .cloned()
            .unwrap_or_else(|| meta.gid().to_string());
        rows.push()
            .set("path", path.to_string_lossy().into_owned())
            .set("username", user)
            .set("groupname", group)
            .set("permissions", perms)
            .set("pid_with_namespace", 0);
    }
}

/// `S` for setuid, `G` for setgid (both: `SG`); `None` for neither.
fn permissions(mode: u32) -> Option<&'static str> {
    match (mode & 0o4000 != 0, mode & 0o2000 != 0) {
        (true, true) => Some("SG"),
        (true, false) => Some("S"),
        (false, true) => Some("G"),
        (false, false) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_bits_name_the_permissions() {
        assert_eq!(permissions(0o104755), Some("S"));
        assert_eq!(permissions(0o102755), Some("G"));
        assert_eq!(permissions(0o106755), Some("SG"));
        assert_eq!(permissions(0o100755), None);
    }

    #[test]
    fn walk_finds_setuid_files_below_a_directory() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let suid = dir.path().join("sub/tool");
        std::fs::write(&suid, "x").unwrap();
        std::fs::set_permissions(&suid, std::fs::Permissions::from_mode(0o4755)).unwrap();
        std::fs::write(dir.path().join("plain"), "x").unwrap();
        let names = Names {
            users: HashMap::new(),
            groups: HashMap::new(),
        };
        let spec = crate::spec::osquery_spec("suid_bin").unwrap();
        let mut rows = Rows::new(spec);
        walk(dir.path(), 0, &names, &mut rows);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows.get(0, "permissions").unwrap().as_text().unwrap(), "S");
        let uid = nix::unistd::getuid().as_raw().to_string();
        assert_eq!(rows.get(0, "username").unwrap().as_text().unwrap(), uid);
    }
}

//! systemd unit files on disk: the system unit search path, the `[Unit]`/`[Service]`/`[Install]`
//! settings Warden reports, and which units are enabled through `*.wants`/`*.requires` links.
//! Shared by `systemd_units` and `startup_items`, which read unit files instead of asking a
//! running systemd over D-Bus.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The system unit search path, highest precedence first (`systemd-analyze unit-paths`,
/// without the control/transient/generator directories, which hold no static unit files).
pub(super) const UNIT_DIRS: &[&str] = &[
    "/etc/systemd/system",
    "/run/systemd/system",
    "/usr/local/lib/systemd/system",
    "/lib/systemd/system",
    "/usr/lib/systemd/system",
];

/// The directories where `systemctl enable` creates its links (the administrator's and the
/// runtime ones).
pub(super) const ENABLE_DIRS: &[&str] = &["/etc/systemd/system", "/run/systemd/system"];

const UNIT_SUFFIXES: &[&str] = &[
    ".service",
    ".socket",
    ".target",
    ".timer",
    ".path",
    ".mount",
    ".automount",
    ".swap",
    ".slice",
    ".scope",
    ".device",
];

/// Whether a file name is a unit name.
pub(super) fn is_unit_name(name: &str) -> bool {
    UNIT_SUFFIXES
        .iter()
        .any(|s| name.len() > s.len() && name.ends_with(s))
}

/// The settings of a unit file that the tables report.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct UnitSettings {
    pub description: Option<String>,
    pub user: Option<String>,
    /// Whether the `[Install]` section says how to enable the unit.
    pub installable: bool,
}

/// Parses unit file text (and, applied in order, its drop-ins) into the settings reported.
pub(super) fn parse_unit(texts: &[&str]) -> UnitSettings {
    let mut out = UnitSettings::default();
    for text in texts {
        let mut section = String::new();
        let mut logical = String::new();
        for raw in text.lines() {
            // A trailing backslash continues the line.
            if let Some(head) = raw.strip_suffix('\\') {
                logical.push_str(head);
                logical.push(' ');
                continue;
            }
            logical.push_str(raw);
            let line = std::mem::take(&mut logical);
            let line = line.trim();
            if line.is_empty() || line.starts_with(['#', ';']) {
                continue;
            }
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                section = name.to_string();
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            let (key, value) = (key.trim(), value.trim());
            match (section.as_str(), key) {
                ("Unit", "Description") => out.description = Some(value.to_string()),
                ("Service", "User") => {
                    out.user = (!value.is_empty()).then(|| value.to_string());
                }
                ("Install", "WantedBy" | "RequiredBy" | "UpheldBy" | "Alias" | "Also") => {
                    out.installable |= !value.is_empty();
                }
                _ => {}
            }
        }
    }
    out
}

/// A unit found on disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Unit {
    pub id: String,
    /// The file the unit was read from (for an instance, its template's file).
    pub fragment: PathBuf,
    /// Linked to /dev/null or empty: systemd refuses to load it.
    pub masked: bool,
    pub settings: UnitSettings,
    /// Named in a `*.wants`/`*.requires` directory of an enable directory.
    pub enabled: bool,
}

/// The template of an instance name: `getty@tty1.service` → `getty@.service`.
fn template_of(id: &str) -> Option<String> {
    let (prefix, rest) = id.split_once('@')?;
    let dot = rest.rfind('.')?;
    if dot == 0 {
        return None;
    }
    Some(format!("{prefix}@{}", &rest[dot..]))
}

/// Every unit of the search path under `root` ("/" for the running system): the unit files
/// (not templates, not aliases), plus the template instances that enable links name.
pub(super) fn scan(root: &Path) -> Vec<Unit> {
    let under = |dir: &str| root.join(dir.trim_start_matches('/'));
    // id -> file, first directory wins.
    let mut files: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut aliases: BTreeSet<String> = BTreeSet::new();
    for dir in UNIT_DIRS {
        let Ok(entries) = std::fs::read_dir(under(dir)) else {
            continue;
        };
        for e in entries.flatten() {
            let Some(name) = e.file_name().to_str().map(str::to_string) else {
                continue;
            };
            if !is_unit_name(&name) || files.contains_key(&name) {
                continue;
            }
            let path = e.path();
            // A link to another unit's file under a different name is an alias, not a unit.
            if let Ok(target) = std::fs::read_link(&path)
                && target != Path::new("/dev/null")
                && target.file_name().and_then(|n| n.to_str()) != Some(name.as_str())
            {
                aliases.insert(name);
                continue;
            }
            files.insert(name, path);
        }
    }
    let enabled = enabled_names(root);
    let mut ids: BTreeSet<String> = files
        .keys()
        .filter(|id| !id.contains("@."))
        .cloned()
        .collect();
    ids.extend(
        enabled
            .iter()
            .filter(|id| template_of(id).is_some_and(|t| files.contains_key(&t)))
            .cloned(),
    );
    ids.into_iter()
        .filter(|id| !aliases.contains(id))
        .filter_map(|id| {
            let fragment = files
                .get(&id)
                .or_else(|| files.get(&template_of(&id)?))?
                .clone();
            let masked = std::fs::read_link(&fragment).is_ok_and(|t| t == Path::new("/dev/null"))
                || std::fs::metadata(&fragment).is_ok_and(|m| m.len() == 0);
            let settings = if masked {
                UnitSettings::default()
            } else {
                read_settings(root, &id, &fragment)
            };
            Some(Unit {
                enabled: enabled.contains(&id),
                id,
                fragment,
                masked,
                settings,
            })
        })
        .collect()
}

/// The settings of a unit: its file, then its drop-ins (`<id>.d/*.conf` in every search
/// directory, and the template's, ordered by file name).
fn read_settings(root: &Path, id: &str, fragment: &Path) -> UnitSettings {
    let mut texts = Vec::new();
    if let Ok(t) = std::fs::read_to_string(fragment) {
        texts.push(t);
    }
    let mut dropins: BTreeMap<std::ffi::OsString, PathBuf> = BTreeMap::new();
    let names: Vec<String> = std::iter::once(id.to_string())
        .chain(template_of(id))
        .collect();
    for dir in UNIT_DIRS.iter().rev() {
        for name in &names {
            let d = root
                .join(dir.trim_start_matches('/'))
                .join(format!("{name}.d"));
            let Ok(entries) = std::fs::read_dir(d) else {
                continue;
            };
            for e in entries.flatten() {
                if e.path().extension().is_some_and(|x| x == "conf") {
                    dropins.insert(e.file_name(), e.path());
                }
            }
        }
    }
    for path in dropins.values() {
        if let Ok(t) = std::fs::read_to_string(path) {
            texts.push(t);
        }
    }
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    parse_unit(&refs)
}

/// The unit names linked from `*.wants`/`*.requires` directories of the enable directories.
pub(super) fn enabled_names(root: &Path) -> BTreeSet<String> {
    enable_links(root).into_iter().map(|l| l.unit).collect()
}

/// One enable link: `<dir>/<target>.wants/<unit>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct EnableLink {
    pub unit: String,
    /// The `.wants`/`.requires` directory holding the link.
    pub directory: PathBuf,
}

/// Every enable link under the enable directories.
pub(super) fn enable_links(root: &Path) -> Vec<EnableLink> {
    let mut out = Vec::new();
    for dir in ENABLE_DIRS {
        let Ok(entries) = std::fs::read_dir(root.join(dir.trim_start_matches('/'))) else {
            continue;
        };
        let mut subdirs: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.extension()
                    .is_some_and(|x| x == "wants" || x == "requires")
                    && p.is_dir()
            })
            .collect();
        subdirs.sort();
        for sub in subdirs {
            let Ok(links) = std::fs::read_dir(&sub) else {
                continue;
            };
            let mut names: Vec<String> = links
                .flatten()
                .filter_map(|e| e.file_name().to_str().map(str::to_string))
                .filter(|n| is_unit_name(n))
                .collect();
            names.sort();
            out.extend(names.into_iter().map(|unit| EnableLink {
                unit,
                directory: sub.clone(),
            }));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn unit_text_settings() {
        let s = parse_unit(&[
            "[Unit]\nDescription=OpenBSD Secure\\\nShell server\n# Description=no\n[Service]\nUser=sshd\nExecStart=/usr/sbin/sshd -D\n[Install]\nWantedBy=multi-user.target\n",
            "[Service]\nUser=\n",
        ]);
        assert_eq!(
            s.description.as_deref(),
            Some("OpenBSD Secure Shell server")
        );
        assert_eq!(s.user, None, "a drop-in resets User=");
        assert!(s.installable);
        assert!(!parse_unit(&["[Unit]\nDescription=x\n"]).installable);
    }

    #[test]
    fn templates_and_instances() {
        assert_eq!(
            template_of("getty@tty1.service").as_deref(),
            Some("getty@.service")
        );
        assert_eq!(template_of("getty@.service"), None);
        assert_eq!(template_of("ssh.service"), None);
        assert!(is_unit_name("a.timer"));
        assert!(!is_unit_name("a.conf"));
    }

    #[test]
    fn scan_finds_units_masks_aliases_and_enablement() {
        let root = tempfile::tempdir().unwrap();
        let lib = root.path().join("lib/systemd/system");
        let etc = root.path().join("etc/systemd/system");
        std::fs::create_dir_all(&lib).unwrap();
        std::fs::create_dir_all(etc.join("multi-user.target.wants")).unwrap();
        std::fs::create_dir_all(etc.join("getty.target.wants")).unwrap();
        std::fs::write(
            lib.join("a.service"),
            "[Unit]\nDescription=A\n[Install]\nWantedBy=multi-user.target\n",
        )
        .unwrap();
        std::fs::write(lib.join("b.service"), "[Unit]\nDescription=B\n").unwrap();
        std::fs::write(
            lib.join("getty@.service"),
            "[Unit]\nDescription=Getty on %I\n",
        )
        .unwrap();
        std::fs::create_dir_all(etc.join("a.service.d")).unwrap();
        std::fs::write(etc.join("a.service.d/x.conf"), "[Service]\nUser=nobody\n").unwrap();
        symlink("/dev/null", etc.join("b.service")).unwrap();
        symlink(lib.join("a.service"), etc.join("alias-of-a.service")).unwrap();
        symlink(
            lib.join("a.service"),
            etc.join("multi-user.target.wants/a.service"),
        )
        .unwrap();
        symlink(
            lib.join("getty@.service"),
            etc.join("getty.target.wants/getty@tty1.service"),
        )
        .unwrap();
        let units = scan(root.path());
        let ids: Vec<_> = units.iter().map(|u| u.id.as_str()).collect();
        assert_eq!(ids, vec!["a.service", "b.service", "getty@tty1.service"]);
        assert!(units[0].enabled);
        assert_eq!(units[0].settings.user.as_deref(), Some("nobody"));
        assert!(units[1].masked);
        assert_eq!(units[1].fragment, etc.join("b.service"));
        assert_eq!(units[2].fragment, lib.join("getty@.service"));
        assert_eq!(
            units[2].settings.description.as_deref(),
            Some("Getty on %I")
        );
        let links = enable_links(root.path());
        assert_eq!(links.len(), 2);
        assert_eq!(links[0].directory, etc.join("getty.target.wants"));
    }
}

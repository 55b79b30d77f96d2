//! `startup_items`: what starts on its own — XDG autostart entries (`/etc/xdg/autostart`,
//! `~/.config/autostart`), autostart scripts (`~/.config/autostart-scripts`), SysV init scripts
//! (`/etc/init.d`) and systemd units enabled through `*.wants`/`*.requires` links.
//!
//! osquery lists systemd units by asking systemd over D-Bus; Warden reads the enable links
//! instead (see `systemd_units`), so a systemd row's `status` is `enabled` rather than the
//! unit's runtime state, and its `source` is the `.wants` directory holding the link.
//! Desktop entries are `disabled` when `Hidden=true` or `X-GNOME-Autostart-enabled=false`;
//! their `Exec=` command is split into `path` (the program) and `args`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::unit_files::{enable_links, scan};
use crate::{QueryContext, Rows, TableError};

const XDG_AUTOSTART: &str = "/etc/xdg/autostart";
const INIT_D: &str = "/etc/init.d";

pub(crate) fn generate(_ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    let mut seen_homes = std::collections::HashSet::new();
    for user in crate::sys::passwd() {
        if !seen_homes.insert(user.home.clone()) {
            continue;
        }
        let autostart = user.home.join(".config/autostart");
        desktop_items(&autostart, Some(&user.username), rows);
        script_items(
            &user.home.join(".config/autostart-scripts"),
            Some(&user.username),
            rows,
        );
    }
    script_items(Path::new(INIT_D), None, rows);
    desktop_items(Path::new(XDG_AUTOSTART), None, rows);

    let units: BTreeMap<String, _> = scan(Path::new("/"))
        .into_iter()
        .map(|u| (u.id.clone(), u))
        .collect();
    for link in enable_links(Path::new("/")) {
        let unit = units.get(&link.unit);
        rows.push()
            .set("name", link.unit.as_str())
            .set(
                "path",
                unit.map(|u| u.fragment.to_string_lossy().into_owned()),
            )
            .set("type", "systemd unit")
            .set("source", link.directory.to_string_lossy().into_owned())
            .set("status", "enabled")
            .set("username", unit.and_then(|u| u.settings.user.clone()));
    }
    Ok(())
}

/// Sorted regular files (or links to them) of a directory; empty when it cannot be read.
fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Source directory as osquery prints it: with a trailing slash.
fn source_of(dir: &Path) -> String {
    format!("{}/", dir.display())
}

fn desktop_items(dir: &Path, username: Option<&str>, rows: &mut Rows) {
    for file in files_in(dir) {
        if file.extension().is_none_or(|e| e != "desktop") {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        let entry = parse_desktop(&text);
        let (path, args) = split_exec(entry.exec.as_deref().unwrap_or(""));
        rows.push()
            .set("name", entry.name)
            .set("path", path)
            .set("args", args)
            .set("type", "Startup Item")
            .set("source", source_of(dir))
            .set("status", if entry.enabled { "enabled" } else { "disabled" })
            .set("username", username);
    }
}

fn script_items(dir: &Path, username: Option<&str>, rows: &mut Rows) {
    for file in files_in(dir) {
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        rows.push()
            .set("name", name)
            .set("path", file.to_string_lossy().into_owned())
            .set("type", "Startup Item")
            .set("source", source_of(dir))
            .set("status", "enabled")
            .set("username", username);
    }
}

#[derive(Debug, PartialEq, Eq)]
struct DesktopEntry {
    name: Option<String>,
    exec: Option<String>,
    enabled: bool,
}

/// The `[Desktop Entry]` group of a .desktop file.
fn parse_desktop(text: &str) -> DesktopEntry {
    let mut entry = DesktopEntry {
        name: None,
        exec: None,
        enabled: true,
    };
    let mut in_entry = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_entry = line == "[Desktop Entry]";
            continue;
        }
        if !in_entry || line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim();
        match key.trim() {
            "Name" => entry.name = Some(value.to_string()),
            "Exec" => entry.exec = Some(value.to_string()),
            "Hidden" if value == "true" => entry.enabled = false,
            "X-GNOME-Autostart-enabled" if value == "false" => entry.enabled = false,
            _ => {}
        }
    }
    entry
}

/// Splits an `Exec=` command line into the program and the rest (double quotes group words).
fn split_exec(exec: &str) -> (Option<String>, Option<String>) {
    let exec = exec.trim();
    if exec.is_empty() {
        return (None, None);
    }
    let (program, rest) = if let Some(quoted) = exec.strip_prefix('"') {
        match quoted.split_once('"') {
            Some((p, rest)) => (p.to_string(), rest),
            None => (quoted.to_string(), ""),
        }
    } else {
        match exec.split_once(char::is_whitespace) {
            Some((p, rest)) => (p.to_string(), rest),
            None => (exec.to_string(), ""),
        }
    };
    let rest = rest.trim();
    (Some(program), (!rest.is_empty()).then(|| rest.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn desktop_entries() {
        let e = parse_desktop(
            "[Desktop Entry]\nType=Application\nName=Updater\nName[de]=Aktualisierer\nExec=/usr/bin/updater --quiet %U\n\n[Desktop Action x]\nExec=/bin/other\n",
        );
        assert_eq!(e.name.as_deref(), Some("Updater"));
        assert_eq!(e.exec.as_deref(), Some("/usr/bin/updater --quiet %U"));
        assert!(e.enabled);
        assert!(!parse_desktop("[Desktop Entry]\nHidden=true\n").enabled);
        assert!(!parse_desktop("[Desktop Entry]\nX-GNOME-Autostart-enabled=false\n").enabled);
    }

    #[test]
    fn exec_lines_split() {
        assert_eq!(
            split_exec("/usr/bin/updater --quiet %U"),
            (Some("/usr/bin/updater".into()), Some("--quiet %U".into()))
        );
        assert_eq!(
            split_exec("\"/opt/My App/app\" -x"),
            (Some("/opt/My App/app".into()), Some("-x".into()))
        );
        assert_eq!(split_exec("prog"), (Some("prog".into()), None));
        assert_eq!(split_exec(""), (None, None));
    }
}

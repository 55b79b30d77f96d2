//! `os_version`: the distribution's name and version from /etc/os-release (and the legacy
//! /etc/redhat-release and /etc/gentoo-release files), plus the architecture from uname.

use std::collections::BTreeMap;

use crate::{QueryContext, Rows, TableError};

/// The values one os_version row holds, by column name.
type OsRow = BTreeMap<&'static str, String>;

pub(crate) fn generate(_ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    let mut r = defaults();
    if let Ok(text) = std::fs::read_to_string("/etc/os-release") {
        apply_os_release(&mut r, &text);
    }
    if let Some(arch) = super::util::machine() {
        r.insert("arch", arch);
    }
    if let Ok(text) = std::fs::read_to_string("/etc/redhat-release") {
        apply_legacy_release(&mut r, "rhel", &text);
    } else if let Ok(text) = std::fs::read_to_string("/etc/gentoo-release") {
        apply_legacy_release(&mut r, "gentoo", &text);
    }
    let mut row = rows.push();
    for (column, value) in r {
        row.set(column, value);
    }
    row.set("pid_with_namespace", 0);
    Ok(())
}

/// What osquery reports when nothing better is known.
fn defaults() -> OsRow {
    let mut r = OsRow::new();
    r.insert("name", "Unknown".into());
    r.insert("major", "0".into());
    r.insert("minor", "0".into());
    r.insert("patch", "0".into());
    r.insert("platform", "posix".into());
    r
}

/// Strips one pair of surrounding double or single quotes.
fn unquote(value: &str) -> &str {
    let v = value.trim();
    for q in ['"', '\''] {
        if v.len() >= 2 && v.starts_with(q) && v.ends_with(q) {
            return &v[1..v.len() - 1];
        }
    }
    v
}

/// Applies the KEY=value lines of an os-release file (systemd's format). VERSION_ID is split
/// into major, minor and patch; any `*CODENAME` key fills `codename`.
fn apply_os_release(r: &mut OsRow, text: &str) {
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = unquote(value).to_string();
        let column = match key.trim() {
            "NAME" => "name",
            "VERSION" => "version",
            "BUILD_ID" => "build",
            "ID" => "platform",
            "ID_LIKE" => "platform_like",
            "VERSION_CODENAME" => "codename",
            "VERSION_ID" => {
                let parts: Vec<&str> = value.splitn(3, '.').collect();
                for (column, part) in ["major", "minor", "patch"].iter().zip(&parts) {
                    r.insert(column, (*part).to_string());
                }
                continue;
            }
            k if k.contains("CODENAME") => "codename",
            _ => continue,
        };
        r.insert(column, value);
    }
}

/// Applies an old Red Hat / Gentoo style one-line release file ("CentOS release 6.10 (Final)").
fn apply_legacy_release(r: &mut OsRow, platform: &str, text: &str) {
    r.insert("platform", platform.into());
    r.insert("platform_like", platform.into());
    let content = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let re = regex::Regex::new(r"([\w+\s]+) .* ([0-9]+)\.([0-9]+)\.?(\w+)?").expect("valid regex");
    if let Some(c) = re.captures(&content) {
        r.insert("name", c[1].to_string());
        r.insert("major", c[2].to_string());
        r.insert("minor", c[3].to_string());
        let patch = c.get(4).map_or("0", |m| m.as_str());
        r.insert("patch", patch.to_string());
    }
    r.insert("version", content);
    r.insert("build", String::new());
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEBIAN: &str = r#"PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
"#;

    const UBUNTU: &str = r#"NAME="Ubuntu"
VERSION_ID="22.04"
VERSION="22.04.3 LTS (Jammy Jellyfish)"
ID=ubuntu
ID_LIKE=debian
UBUNTU_CODENAME=jammy
"#;

    #[test]
    fn debian_os_release() {
        let mut r = defaults();
        apply_os_release(&mut r, DEBIAN);
        assert_eq!(r["name"], "Debian GNU/Linux");
        assert_eq!(r["version"], "12 (bookworm)");
        assert_eq!(r["major"], "12");
        assert_eq!(r["minor"], "0");
        assert_eq!(r["codename"], "bookworm");
        assert_eq!(r["platform"], "debian");
        assert!(!r.contains_key("platform_like"));
    }

    #[test]
    fn ubuntu_os_release_with_distro_codename() {
        let mut r = defaults();
        apply_os_release(&mut r, UBUNTU);
        assert_eq!(r["major"], "22");
        assert_eq!(r["minor"], "04");
        assert_eq!(r["platform_like"], "debian");
        assert_eq!(r["codename"], "jammy");
    }

    #[test]
    fn centos6_release_file() {
        let mut r = defaults();
        apply_legacy_release(&mut r, "rhel", "CentOS release 6.10 (Final)\n");
        assert_eq!(r["name"], "CentOS");
        assert_eq!(r["major"], "6");
        assert_eq!(r["minor"], "10");
        assert_eq!(r["patch"], "0");
        assert_eq!(r["version"], "CentOS release 6.10 (Final)");
    }
}

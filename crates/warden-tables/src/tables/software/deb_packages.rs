//! `deb_packages`: the dpkg database (`<admindir>/status` plus the `updates/` journal), the
//! packages dpkg knows in any state other than `not-installed`, as libdpkg reports them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::deb822::{self, Paragraph, Syntax};
use crate::{QueryContext, Rows, TableError};

/// dpkg's default administrative directory.
pub(super) const DEFAULT_ADMINDIR: &str = "/var/lib/dpkg";

/// One package record of the dpkg database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct DebPackage {
    pub name: String,
    pub version: String,
    pub arch: String,
    pub status: String,
    pub revision: String,
    pub source: String,
    /// `Installed-Size` as dpkg records it (KiB; osquery reports the field unchanged).
    pub size: String,
    pub maintainer: String,
    pub section: String,
    pub priority: String,
}

/// The admin directories a query names (`admindir = ...`), or dpkg's default.
pub(super) fn admindirs(ctx: &QueryContext) -> Vec<String> {
    match ctx.equal_texts("admindir") {
        Some(dirs) => dirs.into_iter().collect(),
        None => vec![DEFAULT_ADMINDIR.to_string()],
    }
}

pub(crate) fn generate(ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    for admindir in admindirs(ctx) {
        for p in read_database(Path::new(&admindir)) {
            rows.push()
                .set("name", p.name)
                .set("version", p.version)
                .set("source", p.source)
                .set("size", p.size)
                .set("arch", p.arch)
                .set("revision", p.revision)
                .set("status", p.status)
                .set("maintainer", p.maintainer)
                .set("section", p.section)
                .set("priority", p.priority)
                .set("admindir", admindir.as_str())
                .set("pid_with_namespace", 0);
        }
    }
    Ok(())
}

/// The packages of one dpkg admin directory: `status`, then the journal files of `updates/`
/// (all-digit names, applied in order) replacing records of the same package and
/// architecture. Empty when the directory holds no readable status file.
pub(super) fn read_database(admindir: &Path) -> Vec<DebPackage> {
    let Ok(status) = std::fs::read_to_string(admindir.join("status")) else {
        return Vec::new();
    };
    let mut records: BTreeMap<(String, String), Paragraph> = BTreeMap::new();
    let mut apply = |text: &str| {
        for p in deb822::parse(text, Syntax::default()) {
            let Some(name) = p.get("Package") else {
                continue;
            };
            let key = (name.to_string(), p.text("Architecture").to_string());
            records.insert(key, p);
        }
    };
    apply(&status);
    for journal in update_files(&admindir.join("updates")) {
        if let Ok(text) = std::fs::read_to_string(&journal) {
            apply(&text);
        }
    }
    records.values().filter_map(package_from).collect()
}

/// The dpkg journal files in an `updates` directory, in the order dpkg applies them.
fn update_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<(u64, PathBuf)> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name();
            let name = name.to_str()?;
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            Some((name.parse().ok()?, e.path()))
        })
        .collect();
    files.sort();
    files.into_iter().map(|(_, p)| p).collect()
}

/// A package from its status paragraph; `None` for records in the `not-installed` state (dpkg
/// keeps them for selections) and paragraphs without a `Status` field.
pub(super) fn package_from(p: &Paragraph) -> Option<DebPackage> {
    let status = p.get("Status")?.split_whitespace().collect::<Vec<_>>();
    if status.len() != 3 || status[2] == "not-installed" {
        return None;
    }
    let version = describe_version(p.text("Version"));
    Some(DebPackage {
        name: p.get("Package")?.to_string(),
        revision: revision(&version).to_string(),
        version,
        arch: p.text("Architecture").to_string(),
        status: status.join(" "),
        source: p.text("Source").to_string(),
        size: p.text("Installed-Size").to_string(),
        maintainer: p.text("Maintainer").to_string(),
        section: p.text("Section").to_string(),
        priority: p.text("Priority").to_string(),
    })
}

/// A version the way libdpkg prints it: `[epoch:]upstream[-revision]`, a zero epoch omitted.
fn describe_version(version: &str) -> String {
    let version = version.trim();
    match version.split_once(':') {
        Some((epoch, rest)) if epoch.trim_start_matches('0').is_empty() => rest.to_string(),
        _ => version.to_string(),
    }
}

/// The Debian revision of a version: the part after the last hyphen, if any.
fn revision(version: &str) -> &str {
    version.rsplit_once('-').map_or("", |(_, r)| r)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = "\
Package: libc6
Status: install ok installed
Priority: optional
Section: libs
Installed-Size: 12987
Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>
Architecture: amd64
Multi-Arch: same
Source: glibc
Version: 2.36-9+deb12u10
Description: GNU C Library: Shared libraries
 Contains the standard libraries.

Package: old-thing
Status: purge ok not-installed
Architecture: amd64

Package: removed-thing
Status: deinstall ok config-files
Architecture: all
Version: 1:2.0
Source: thing (1:2.0)

Package: bash
Status: install ok installed
Architecture: amd64
Version: 5.2.15-2+b7
Source: bash (5.2.15-2)
";

    #[test]
    fn status_paragraphs_become_packages() {
        let ps: Vec<_> = deb822::parse(STATUS, Syntax::default())
            .iter()
            .filter_map(package_from)
            .collect();
        assert_eq!(ps.len(), 3, "not-installed records are left out");
        let libc = &ps[0];
        assert_eq!(libc.name, "libc6");
        assert_eq!(libc.version, "2.36-9+deb12u10");
        assert_eq!(libc.revision, "9+deb12u10");
        assert_eq!(libc.size, "12987");
        assert_eq!(libc.source, "glibc");
        assert_eq!(libc.status, "install ok installed");
        assert_eq!(libc.section, "libs");
        let removed = &ps[1];
        assert_eq!(removed.status, "deinstall ok config-files");
        assert_eq!(removed.version, "1:2.0");
        assert_eq!(removed.revision, "");
        assert_eq!(removed.maintainer, "");
        assert_eq!(ps[2].source, "bash (5.2.15-2)");
    }

    #[test]
    fn versions_are_described_like_libdpkg() {
        assert_eq!(describe_version("0:1.2-3"), "1.2-3");
        assert_eq!(describe_version("2:1.2"), "2:1.2");
        assert_eq!(revision("1.2-3-4ubuntu1"), "4ubuntu1");
    }

    #[test]
    fn journal_updates_replace_status_records() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("status"), STATUS).unwrap();
        std::fs::create_dir(dir.path().join("updates")).unwrap();
        std::fs::write(
            dir.path().join("updates/0001"),
            "Package: bash\nStatus: install ok installed\nArchitecture: amd64\nVersion: 5.3-1\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("updates/tmp.i"),
            "Package: bash\nStatus: x\n",
        )
        .unwrap();
        let ps = read_database(dir.path());
        let bash = ps.iter().find(|p| p.name == "bash").unwrap();
        assert_eq!(bash.version, "5.3-1");
        assert!(read_database(&dir.path().join("missing")).is_empty());
    }
}

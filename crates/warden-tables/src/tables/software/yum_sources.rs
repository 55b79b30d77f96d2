//! `yum_sources`: the repositories of /etc/yum.conf and the `*.repo` files of its `reposdir`
//! (default /etc/yum.repos.d), INI sections other than `[main]`.

use std::path::{Path, PathBuf};

use crate::{QueryContext, Rows, TableError};

const YUM_CONF: &str = "/etc/yum.conf";
const DEFAULT_REPOS_DIR: &str = "/etc/yum.repos.d";
const KEYS: &[&str] = &[
    "name",
    "baseurl",
    "mirrorlist",
    "metalink",
    "enabled",
    "gpgcheck",
    "gpgkey",
];

pub(crate) fn generate(_ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    let mut repos_dir = PathBuf::from(DEFAULT_REPOS_DIR);
    if let Ok(text) = std::fs::read_to_string(YUM_CONF) {
        let sections = parse_ini(&text);
        if let Some(dir) = sections
            .iter()
            .find(|s| s.name == "main")
            .and_then(|s| s.get("reposdir"))
        {
            // reposdir may list several directories; the first one is used, as osquery does.
            if let Some(first) = dir.split([',', ' ']).find(|d| !d.is_empty()) {
                repos_dir = PathBuf::from(first);
            }
        }
        emit(Path::new(YUM_CONF), &sections, rows);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(&repos_dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "repo") && p.is_file())
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    for file in files {
        if let Ok(text) = std::fs::read_to_string(&file) {
            emit(&file, &parse_ini(&text), rows);
        }
    }
    Ok(())
}

fn emit(source: &Path, sections: &[Section], rows: &mut Rows) {
    for s in sections.iter().filter(|s| s.name != "main") {
        let mut row = rows.push();
        row.set("source", source.to_string_lossy().into_owned())
            .set("pid_with_namespace", 0);
        for key in KEYS {
            if let Some(v) = s.get(key) {
                row.set(key, v);
            }
        }
    }
}

#[derive(Debug, Default, PartialEq, Eq)]
struct Section {
    name: String,
    values: Vec<(String, String)>,
}

impl Section {
    fn get(&self, key: &str) -> Option<&str> {
        self.values
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// INI text as yum reads it: `[section]`, `key=value`, `#`/`;` comments, and indented
/// continuation lines appended to the previous value with a space.
fn parse_ini(text: &str) -> Vec<Section> {
    let mut out: Vec<Section> = Vec::new();
    for raw in text.lines() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with(['#', ';']) {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            out.push(Section {
                name: name.trim().to_string(),
                values: Vec::new(),
            });
            continue;
        }
        let Some(section) = out.last_mut() else {
            continue;
        };
        if raw.starts_with([' ', '\t']) && !line.contains('=') {
            if let Some((_, v)) = section.values.last_mut() {
                v.push(' ');
                v.push_str(line);
            }
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            section
                .values
                .push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_sections() {
        let text = "[main]\nreposdir=/etc/my.repos.d\n\n[fedora]\nname=Fedora $releasever - $basearch\n#baseurl=http://old\nmetalink=https://mirrors.fedoraproject.org/metalink?repo=fedora-$releasever&arch=$basearch\nenabled=1\ngpgcheck=1\ngpgkey=file:///etc/pki/rpm-gpg/RPM-GPG-KEY-fedora-$releasever-$basearch\n\n[multi]\nbaseurl=http://a/\n  http://b/\n";
        let s = parse_ini(text);
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].get("reposdir"), Some("/etc/my.repos.d"));
        assert_eq!(s[1].get("name"), Some("Fedora $releasever - $basearch"));
        assert_eq!(s[1].get("baseurl"), None);
        assert!(s[1].get("metalink").unwrap().contains("repo=fedora"));
        assert_eq!(s[2].get("baseurl"), Some("http://a/ http://b/"));
        let mut rows = Rows::new(crate::spec::osquery_spec("yum_sources").unwrap());
        emit(Path::new("/etc/yum.repos.d/f.repo"), &s, &mut rows);
        assert_eq!(rows.len(), 2);
        assert_eq!(
            rows.get(0, "enabled").unwrap().as_text().as_deref(),
            Some("1")
        );
    }
}

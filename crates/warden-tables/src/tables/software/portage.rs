//! Gentoo's Portage: `portage_packages` (installed packages, /var/db/pkg/<category>/<pf>, with
//! the world file), `portage_use` (the USE flags each was built with) and `portage_keywords`
//! (/etc/portage/package.{accept_keywords,keywords,mask,unmask}, files or directories).

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use crate::{QueryContext, Rows, TableError};

const PKG_DB: &str = "/var/db/pkg";
const WORLD: &str = "/var/lib/portage/world";
const KEYWORDS: &[&str] = &[
    "/etc/portage/package.accept_keywords",
    "/etc/portage/package.keywords",
];
const MASK: &str = "/etc/portage/package.mask";
const UNMASK: &str = "/etc/portage/package.unmask";

/// Splits a package atom into name and version: `>=app-misc/foo-1.2-r1` →
/// (`app-misc/foo`, `>=1.2-r1`). A lone `=` operator is dropped, like osquery does.
fn split_atom(atom: &str) -> (String, String) {
    let atom = atom.trim_end_matches('/');
    let ops_len = atom.len() - atom.trim_start_matches(['<', '>', '=', '~']).len();
    let (ops, rest) = atom.split_at(ops_len);
    let ops = if ops == "=" { "" } else { ops };
    let slash = rest.find('/').map_or(0, |i| i + 1);
    // The version starts at the last "-<digit>" outside a trailing "-r<N>" revision.
    let mut search_end = rest.len();
    if let Some(i) = rest.rfind("-r")
        && i >= slash
        && rest[i + 2..].chars().all(|c| c.is_ascii_digit())
        && i + 2 < rest.len()
    {
        search_end = i;
    }
    let head = &rest[..search_end];
    match head.rfind('-') {
        Some(i) if i >= slash && head[i + 1..].starts_with(|c: char| c.is_ascii_digit()) => {
            (rest[..i].to_string(), format!("{ops}{}", &rest[i + 1..]))
        }
        _ => (rest.to_string(), ops.to_string()),
    }
}

/// The installed package directories: /var/db/pkg/<category>/<name>-<version>.
fn installed() -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    let Ok(categories) = std::fs::read_dir(PKG_DB) else {
        return out;
    };
    for cat in categories.flatten().filter(|c| c.path().is_dir()) {
        let Ok(pkgs) = std::fs::read_dir(cat.path()) else {
            continue;
        };
        for p in pkgs.flatten().filter(|p| p.path().is_dir()) {
            let atom = format!(
                "{}/{}",
                cat.file_name().to_string_lossy(),
                p.file_name().to_string_lossy()
            );
            out.push((atom, p.path()));
        }
    }
    out.sort();
    out
}

fn read_trimmed(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

/// Atoms listed one per line (first word), comments skipped.
fn atoms(text: &str) -> Vec<Vec<&str>> {
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|w| !w.is_empty() && !w[0].starts_with('#'))
        .collect()
}

pub(crate) fn generate_packages(_ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    let world_text = std::fs::read_to_string(WORLD).unwrap_or_default();
    let world: HashSet<String> = atoms(&world_text)
        .iter()
        .map(|w| split_atom(w[0]).0)
        .collect();
    for (atom, dir) in installed() {
        let (package, version) = split_atom(&atom);
        rows.push()
            .set("world", i64::from(world.contains(&package)))
            .set("package", package)
            .set("version", version)
            .set("slot", read_trimmed(&dir.join("SLOT")))
            .set("build_time", read_trimmed(&dir.join("BUILD_TIME")))
            .set("repository", read_trimmed(&dir.join("repository")))
            .set("eapi", read_trimmed(&dir.join("EAPI")))
            .set("size", read_trimmed(&dir.join("SIZE")));
    }
    Ok(())
}

pub(crate) fn generate_use(_ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    for (atom, dir) in installed() {
        let (package, version) = split_atom(&atom);
        let Some(flags) = read_trimmed(&dir.join("USE")) else {
            continue;
        };
        for flag in flags.split_whitespace() {
            rows.push()
                .set("package", package.as_str())
                .set("version", version.as_str())
                .set("use", flag);
        }
    }
    Ok(())
}

/// The text of a Portage config that may be a file or a directory of files.
fn read_config(path: &Path) -> String {
    if path.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .map(|d| {
                d.flatten()
                    .map(|e| e.path())
                    .filter(|p| p.is_file())
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        files
            .iter()
            .filter_map(|f| std::fs::read_to_string(f).ok())
            .collect::<Vec<_>>()
            .join("\n")
    } else {
        std::fs::read_to_string(path).unwrap_or_default()
    }
}

#[derive(Debug, Default, PartialEq, Eq)]
struct KeywordEntry {
    package: String,
    version: String,
    keyword: String,
    mask: bool,
    unmask: bool,
}

/// Merges the keyword, mask and unmask lists by atom.
fn keyword_summary(keywords: &str, masked: &str, unmasked: &str) -> Vec<KeywordEntry> {
    let mut by_atom: BTreeMap<String, KeywordEntry> = BTreeMap::new();
    fn entry<'a>(map: &'a mut BTreeMap<String, KeywordEntry>, atom: &str) -> &'a mut KeywordEntry {
        map.entry(atom.to_string()).or_insert_with(|| {
            let (package, version) = split_atom(atom);
            KeywordEntry {
                package,
                version,
                ..KeywordEntry::default()
            }
        })
    }
    for words in atoms(keywords) {
        let keyword = words[1..]
            .iter()
            .take_while(|w| !w.starts_with('#'))
            .copied()
            .collect::<Vec<_>>()
            .join(" ");
        entry(&mut by_atom, words[0]).keyword = keyword;
    }
    for words in atoms(masked) {
        entry(&mut by_atom, words[0]).mask = true;
    }
    for words in atoms(unmasked) {
        entry(&mut by_atom, words[0]).unmask = true;
    }
    by_atom.into_values().collect()
}

pub(crate) fn generate_keywords(_ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    let keywords: String = KEYWORDS
        .iter()
        .map(|p| read_config(Path::new(p)))
        .collect::<Vec<_>>()
        .join("\n");
    let masked = read_config(Path::new(MASK));
    let unmasked = read_config(Path::new(UNMASK));
    for e in keyword_summary(&keywords, &masked, &unmasked) {
        rows.push()
            .set("package", e.package)
            .set("version", e.version)
            .set("keyword", e.keyword)
            .set("mask", i64::from(e.mask))
            .set("unmask", i64::from(e.unmask));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atoms_split_into_package_and_version() {
        let s = |a: &str| split_atom(a);
        assert_eq!(
            s("app-misc/foo-1.2.3"),
            ("app-misc/foo".into(), "1.2.3".into())
        );
        assert_eq!(
            s("sys-libs/glibc-2.38-r10"),
            ("sys-libs/glibc".into(), "2.38-r10".into())
        );
        assert_eq!(
            s(">=dev-lang/python-3.11"),
            ("dev-lang/python".into(), ">=3.11".into())
        );
        assert_eq!(
            s("=x11-libs/gtk+-3.24.41"),
            ("x11-libs/gtk+".into(), "3.24.41".into())
        );
        assert_eq!(
            s("media-libs/libpng"),
            ("media-libs/libpng".into(), "".into())
        );
        assert_eq!(
            s("dev-util/foo-bar-2"),
            ("dev-util/foo-bar".into(), "2".into())
        );
        assert_eq!(s("www-client/r2-r"), ("www-client/r2-r".into(), "".into()));
    }

    #[test]
    fn keyword_mask_unmask_merge() {
        let e = keyword_summary(
            "# c\n=dev-lang/rust-1.80.0 ~amd64\napp-misc/x ~amd64 ~arm64\n",
            "dev-lang/rust\n=dev-lang/rust-1.80.0\n",
            "app-misc/x\n",
        );
        assert_eq!(e.len(), 3);
        let rust = e.iter().find(|x| x.version == "1.80.0").unwrap();
        assert_eq!(rust.keyword, "~amd64");
        assert!(rust.mask && !rust.unmask);
        let x = e.iter().find(|x| x.package == "app-misc/x").unwrap();
        assert_eq!(x.keyword, "~amd64 ~arm64");
        assert!(x.unmask);
        assert!(keyword_summary("", "", "").is_empty());
    }
}

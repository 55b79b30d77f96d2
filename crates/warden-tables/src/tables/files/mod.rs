//! Tables about files: metadata, hashes, file types and extended attributes.
//!
//! The helpers here turn a query's `path` and `directory` constraints into the files a table
//! reports on, with the values osquery gives the `path` and `directory` columns.

use std::path::PathBuf;

use crate::QueryContext;
use crate::registry::TableDef;

mod extended_attributes;
mod file;
mod hash;
mod magic;

pub(crate) fn tables() -> Vec<TableDef> {
    vec![
        TableDef::osquery("extended_attributes", extended_attributes::generate),
        TableDef::osquery("file", file::generate),
        TableDef::osquery("hash", hash::generate),
        TableDef::osquery("magic", magic::generate),
    ]
}

/// One file a query names, with the text of its `path` and `directory` columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    /// The file to read (not necessarily valid UTF-8).
    pub fs_path: PathBuf,
    /// The `path` column: the constraint's own text for `=`, so SQLite's re-check matches.
    pub path: String,
    /// The `directory` column: the parent of `path`, or the queried directory as written.
    pub directory: String,
}

/// The files named by the `path` constraints (`=`, LIKE, GLOB), then the entries of the
/// directories named by the `directory` constraints, the way osquery's `file` and `hash` list
/// them. A directory that cannot be read is skipped.
pub(crate) fn targets(ctx: &QueryContext) -> Vec<Target> {
    let mut out = Vec::new();
    for fs_path in ctx.paths("path").unwrap_or_default() {
        let path = fs_path.to_string_lossy().into_owned();
        let directory = split_path(&path).0.to_string();
        out.push(Target {
            fs_path,
            path,
            directory,
        });
    }
    out.extend(directory_targets(ctx));
    out
}

/// The entries of the directories named by the `directory` constraints, sorted by name.
pub(crate) fn directory_targets(ctx: &QueryContext) -> Vec<Target> {
    let mut out = Vec::new();
    for dir in ctx.paths("directory").unwrap_or_default() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let directory = dir.to_string_lossy().into_owned();
        let mut names: Vec<_> = entries.flatten().map(|e| e.file_name()).collect();
        names.sort();
        for name in names {
            let fs_path = dir.join(&name);
            out.push(Target {
                path: fs_path.to_string_lossy().into_owned(),
                fs_path,
                directory: directory.clone(),
            });
        }
    }
    out
}

/// Splits a path into its parent directory and file name at the last `/`, as osquery's
/// boost paths do: `/etc/passwd` → (`/etc`, `passwd`), `/etc` → (`/`, `etc`), `name` → (``, `name`).
pub(crate) fn split_path(path: &str) -> (&str, &str) {
    match path.rfind('/') {
        None => ("", path),
        Some(0) if path.len() == 1 => ("", path),
        Some(0) => ("/", &path[1..]),
        Some(i) => (&path[..i], &path[i + 1..]),
    }
}

/// Lower-case hex of bytes.
pub(crate) fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Op, osquery_spec};

    #[test]
    fn paths_split_into_parent_and_name() {
        assert_eq!(split_path("/etc/passwd"), ("/etc", "passwd"));
        assert_eq!(split_path("/etc"), ("/", "etc"));
        assert_eq!(split_path("/"), ("", "/"));
        assert_eq!(split_path("relative"), ("", "relative"));
        assert_eq!(split_path("/a/b/"), ("/a/b", ""));
    }

    #[test]
    fn hex_is_lower_case() {
        assert_eq!(to_hex(&[0x00, 0xab, 0x10, 0xff]), "00ab10ff");
    }

    #[test]
    fn directory_entries_keep_the_queried_directory_text() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("b"), "").unwrap();
        std::fs::write(dir.path().join("a"), "").unwrap();
        let written = format!("{}/", dir.path().display());
        let ctx = QueryContext::everything(osquery_spec("file").unwrap()).with(
            "directory",
            Op::Eq,
            vec![written.clone().into()],
        );
        let found = targets(&ctx);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].path, format!("{written}a"));
        assert!(found.iter().all(|t| t.directory == written));
    }
}

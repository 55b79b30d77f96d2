//! `npm_packages`: Node packages under the global `node_modules` directories (system prefixes
//! and per-user version managers: nvm, asdf, fnm, mise, volta, ~/.npm-global), or under the
//! `directory` a query names, read from each `package.json`, nested `node_modules` included up
//! to `max_depth` (default 100, -1 for no limit).

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::{QueryContext, Rows, TableError};

const DEFAULT_MAX_DEPTH: i64 = 100;

const SYSTEM_PREFIXES: &[&str] = &["/usr/local/lib", "/opt/homebrew/lib", "/usr/lib"];

/// Per-user prefixes (glob, relative to the home directory).
const USER_PREFIXES: &[&str] = &[
    ".npm-global/lib",
    ".nvm/versions/node/*/lib",
    ".asdf/installs/nodejs/*/lib",
    ".local/share/fnm/node-versions/*/installation/lib",
    ".local/share/mise/installs/node/*/lib",
    ".volta/tools/image/node/*/lib",
];

pub(crate) fn generate(ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    let max_depth = ctx
        .equal_ints("max_depth")
        .and_then(|v| v.into_iter().next())
        .unwrap_or(DEFAULT_MAX_DEPTH);
    let dirs: Vec<PathBuf> = match ctx.equal_texts("directory") {
        Some(dirs) => dirs.into_iter().map(PathBuf::from).collect(),
        None => default_dirs(),
    };
    for dir in dirs {
        scan_site(&dir, max_depth, rows);
    }
    Ok(())
}

fn default_dirs() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = SYSTEM_PREFIXES
        .iter()
        .map(PathBuf::from)
        .filter(|p| p.is_dir())
        .collect();
    let mut homes = HashSet::new();
    for user in crate::sys::passwd() {
        if !homes.insert(user.home.clone()) || !user.home.is_dir() {
            continue;
        }
        let home = glob::Pattern::escape(&user.home.to_string_lossy());
        for prefix in USER_PREFIXES {
            if let Ok(paths) = glob::glob(&format!("{home}/{prefix}")) {
                out.extend(paths.flatten().filter(|p| p.is_dir()));
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The `package.json` files of `<dir>/node_modules/*` and `<dir>/node_modules/@scope/*`.
fn manifests(dir: &Path) -> Vec<PathBuf> {
    let modules = dir.join("node_modules");
    let Ok(entries) = std::fs::read_dir(&modules) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name();
        let path = e.path();
        if name.to_string_lossy().starts_with('@') {
            if let Ok(scoped) = std::fs::read_dir(&path) {
                out.extend(scoped.flatten().map(|s| s.path().join("package.json")));
            }
        } else {
            out.push(path.join("package.json"));
        }
    }
    out.retain(|p| p.is_file());
    out.sort();
    out
}

fn scan_site(site: &Path, max_depth: i64, rows: &mut Rows) {
    let mut visited: HashSet<(u64, u64)> = HashSet::new();
    let mut stack = vec![(site.to_path_buf(), 0_i64)];
    while let Some((dir, depth)) = stack.pop() {
        // Symlink loops: visit each directory once.
        let Ok(meta) = std::fs::symlink_metadata(&dir) else {
            continue;
        };
        if !visited.insert((meta.dev(), meta.ino())) {
            continue;
        }
        for manifest in manifests(&dir) {
            let info = std::fs::read(&manifest)
                .ok()
                .and_then(|b| parse_package_json(&b))
                .unwrap_or_default();
            rows.push()
                .set("name", info.name)
                .set("version", info.version)
                .set("description", info.description)
                .set("author", info.author)
                .set("license", info.license)
                .set("homepage", info.homepage)
                .set("path", manifest.to_string_lossy().into_owned())
                .set("directory", site.to_string_lossy().into_owned())
                .set("depth", depth)
                .set("max_depth", max_depth)
                .set("pid_with_namespace", 0);
            if (max_depth == -1 || depth < max_depth)
                && let Some(pkg) = manifest.parent()
                && pkg.join("node_modules").is_dir()
            {
                stack.push((pkg.to_path_buf(), depth + 1));
            }
        }
    }
}

#[derive(Debug, Default, PartialEq, Eq)]
struct PackageInfo {
    name: Option<String>,
    version: Option<String>,
    description: Option<String>,
    author: Option<String>,
    license: Option<String>,
    homepage: Option<String>,
}

/// The fields of a `package.json`; `None` when it is not a JSON object.
fn parse_package_json(bytes: &[u8]) -> Option<PackageInfo> {
    let doc: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    let obj = doc.as_object()?;
    let text = |v: &serde_json::Value| v.as_str().map(str::to_string);
    let field = |k: &str| obj.get(k).map(|v| text(v).unwrap_or_default());
    Some(PackageInfo {
        name: field("name"),
        version: field("version"),
        description: field("description"),
        homepage: field("homepage"),
        // "author": "Name <mail>" or {"name": ...}.
        author: obj.get("author").and_then(|a| match a {
            serde_json::Value::Object(o) => o.get("name").map(|n| text(n).unwrap_or_default()),
            other => text(other),
        }),
        // "license": "MIT", or the deprecated {"type": ..., "url": ...}.
        license: obj.get("license").and_then(|l| match l {
            serde_json::Value::Object(o) => o.get("url").and_then(text),
            other => text(other),
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_json_fields() {
        let p = parse_package_json(br#"{"name":"npm","version":"9.2.0","description":"a package manager","author":{"name":"GitHub Inc."},"license":"Artistic-2.0","homepage":"https://docs.npmjs.com/"}"#).unwrap();
        assert_eq!(p.name.as_deref(), Some("npm"));
        assert_eq!(p.author.as_deref(), Some("GitHub Inc."));
        assert_eq!(p.license.as_deref(), Some("Artistic-2.0"));
        let old = parse_package_json(
            br#"{"name":"x","author":"Me <me@x>","license":{"type":"MIT","url":"http://l"}}"#,
        )
        .unwrap();
        assert_eq!(old.author.as_deref(), Some("Me <me@x>"));
        assert_eq!(old.license.as_deref(), Some("http://l"));
        assert_eq!(old.version, None);
        assert!(parse_package_json(b"[1]").is_none());
        assert!(parse_package_json(b"{").is_none());
    }

    #[test]
    fn nested_and_scoped_packages_with_depth_limit() {
        let dir = tempfile::tempdir().unwrap();
        let nm = dir.path().join("node_modules");
        for (p, name) in [("a", "a"), ("@s/b", "@s/b"), ("a/node_modules/c", "c")] {
            std::fs::create_dir_all(nm.join(p)).unwrap();
            std::fs::write(
                nm.join(p).join("package.json"),
                format!(r#"{{"name":"{name}"}}"#),
            )
            .unwrap();
        }
        let spec = crate::spec::osquery_spec("npm_packages").unwrap();
        let mut rows = Rows::new(spec);
        scan_site(dir.path(), DEFAULT_MAX_DEPTH, &mut rows);
        let mut found: Vec<(String, i64)> = (0..rows.len())
            .map(|i| {
                (
                    rows.get(i, "name").unwrap().as_text().unwrap(),
                    rows.get(i, "depth").unwrap().as_i64().unwrap(),
                )
            })
            .collect();
        found.sort();
        assert_eq!(
            found,
            vec![("@s/b".into(), 0), ("a".into(), 0), ("c".into(), 1)]
        );
        let mut shallow = Rows::new(spec);
        scan_site(dir.path(), 0, &mut shallow);
        assert_eq!(shallow.len(), 2);
    }
}

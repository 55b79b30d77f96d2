//! `python_packages`: Python distributions installed in site directories — `*.dist-info/METADATA`
//! and `*.egg-info` (`PKG-INFO`) — of the system interpreters (uid 0) and of each user's
//! environments (pyenv, ~/.local, pipx, uv, conda, virtualenvs...), with osquery's path list.
//!
//! Differences from osquery, all toward reporting what is there: metadata values may contain
//! colons; only the header block is read (a `Name:` line in the description is ignored); a user's
//! `~/.local/lib/python3.X/site-packages` is searched (osquery looks one level too high); an
//! `.egg-info` file (not directory) is read as the PKG-INFO it is.

use std::path::{Path, PathBuf};

use crate::{QueryContext, Rows, TableError};

/// System-wide site directory patterns (glob).
const SYSTEM_SITES: &[&str] = &[
    "/usr/local/lib/python*/dist-packages",
    "/usr/local/lib/python*/site-packages",
    "/usr/local/lib64/python*/site-packages",
    "/opt/homebrew/lib/python*/dist-packages",
    "/opt/homebrew/lib/python*/site-packages",
    "/usr/lib/python*/dist-packages",
    "/usr/lib/python*/site-packages",
    "/opt/conda/lib/python*/dist-packages",
    "/opt/conda/lib/python*/site-packages",
    "/opt/miniconda3/lib/python*/site-packages",
    "/opt/anaconda3/lib/python*/site-packages",
];

/// Per-user directories holding one Python installation or environment per child.
const USER_ENV_ROOTS: &[&str] = &[
    ".pyenv/versions",
    ".asdf/installs/python",
    ".local/share/uv/tools",
    ".local/share/mise/installs/python",
    ".local/share/pipx/venvs",
    ".local/pipx/venvs",
    ".cache/pypoetry/virtualenvs",
    "miniforge3/envs",
    "miniconda3/envs",
    "anaconda3/envs",
    "mambaforge/envs",
    ".virtualenvs",
    ".local/share/virtualenvs",
];

/// Per-user site directory patterns (glob, relative to the home directory).
const USER_SITES: &[&str] = &[
    ".local/lib/python*/site-packages",
    "miniforge3/lib/python*/site-packages",
    "miniconda3/lib/python*/site-packages",
    "anaconda3/lib/python*/site-packages",
    "mambaforge/lib/python*/site-packages",
];

pub(crate) fn generate(ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    if let Some(dirs) = ctx.equal_texts("directory") {
        for dir in dirs {
            site_rows(Path::new(&dir), 0, rows);
        }
        return Ok(());
    }
    for pattern in SYSTEM_SITES {
        for site in glob_dirs(pattern) {
            site_rows(&site, 0, rows);
        }
    }
    for user in crate::sys::users_for(ctx) {
        for site in user_sites(&user.home) {
            site_rows(&site, user.uid, rows);
        }
    }
    Ok(())
}

fn glob_dirs(pattern: &str) -> Vec<PathBuf> {
    glob::glob(pattern)
        .map(|g| g.flatten().filter(|p| p.is_dir()).collect())
        .unwrap_or_default()
}

/// The site directories of one home directory.
fn user_sites(home: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for root in USER_ENV_ROOTS {
        let Ok(entries) = std::fs::read_dir(home.join(root)) else {
            continue;
        };
        let mut envs: Vec<PathBuf> = entries
            .flatten()
            // pyenv's "system" and similar links point at installations reported elsewhere.
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.path())
            .collect();
        envs.sort();
        for env in envs {
            let pattern = format!(
                "{}/lib/python*/site-packages",
                glob::Pattern::escape(&env.to_string_lossy())
            );
            out.extend(glob_dirs(&pattern));
        }
    }
    for site in USER_SITES {
        let pattern = format!("{}/{site}", glob::Pattern::escape(&home.to_string_lossy()));
        out.extend(glob_dirs(&pattern));
    }
    out
}

fn site_rows(site: &Path, uid: u32, rows: &mut Rows) {
    let Ok(entries) = std::fs::read_dir(site) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    paths.sort();
    for path in paths {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let metadata = if name.ends_with(".dist-info") {
            path.join("METADATA")
        } else if name.ends_with(".egg-info") {
            if path.is_dir() {
                path.join("PKG-INFO")
            } else {
                path.clone()
            }
        } else {
            continue;
        };
        let Ok(bytes) = std::fs::read(&metadata) else {
            continue;
        };
        let m = parse_metadata(&String::from_utf8_lossy(&bytes));
        rows.push()
            .set("name", m.name)
            .set("version", m.version)
            .set("summary", m.summary)
            .set("author", m.author)
            .set("license", m.license)
            .set("path", path.to_string_lossy().into_owned())
            .set("directory", site.to_string_lossy().into_owned())
            .set("uid", uid)
            .set("pid_with_namespace", 0);
    }
}

#[derive(Debug, Default, PartialEq, Eq)]
struct Metadata {
    name: Option<String>,
    version: Option<String>,
    summary: Option<String>,
    author: Option<String>,
    license: Option<String>,
}

/// The header block of core metadata (`METADATA`/`PKG-INFO`): the first value of each field.
fn parse_metadata(text: &str) -> Metadata {
    let mut m = Metadata::default();
    for line in text.lines() {
        if line.trim().is_empty() {
            break; // The description body follows the headers.
        }
        if line.starts_with([' ', '\t']) {
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let slot = match key.trim() {
            "Name" => &mut m.name,
            "Version" => &mut m.version,
            "Summary" => &mut m.summary,
            "Author" => &mut m.author,
            "License" => &mut m.license,
            _ => continue,
        };
        if slot.is_none() {
            *slot = Some(value.trim().to_string());
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_headers() {
        let m = parse_metadata(
            "Metadata-Version: 2.1\nName: requests\nVersion: 2.31.0\nSummary: Python HTTP for Humans: simple\nAuthor: Kenneth Reitz\nLicense: Apache 2.0\nClassifier: x\n\nName: not-a-header\n",
        );
        assert_eq!(m.name.as_deref(), Some("requests"));
        assert_eq!(m.version.as_deref(), Some("2.31.0"));
        assert_eq!(m.summary.as_deref(), Some("Python HTTP for Humans: simple"));
        assert_eq!(m.author.as_deref(), Some("Kenneth Reitz"));
        assert_eq!(m.license.as_deref(), Some("Apache 2.0"));
        assert_eq!(parse_metadata("").name, None);
    }

    #[test]
    fn site_directory_rows() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("foo-1.0.dist-info");
        std::fs::create_dir(&d).unwrap();
        std::fs::write(d.join("METADATA"), "Name: foo\nVersion: 1.0\n").unwrap();
        std::fs::write(
            dir.path().join("bar-2.0.egg-info"),
            "Name: bar\nVersion: 2.0\n",
        )
        .unwrap();
        std::fs::create_dir(dir.path().join("foo")).unwrap();
        std::fs::create_dir(dir.path().join("broken-1.dist-info")).unwrap();
        let mut rows = Rows::new(crate::spec::osquery_spec("python_packages").unwrap());
        site_rows(dir.path(), 1000, &mut rows);
        assert_eq!(rows.len(), 2);
        assert_eq!(
            rows.get(0, "name").unwrap().as_text().as_deref(),
            Some("bar")
        );
        assert_eq!(
            rows.get(1, "version").unwrap().as_text().as_deref(),
            Some("1.0")
        );
        assert_eq!(rows.get(1, "uid").unwrap().as_i64(), Some(1000));
    }

    #[test]
    fn user_environments_are_found() {
        let home = tempfile::tempdir().unwrap();
        let a = home
            .path()
            .join(".pyenv/versions/3.12.1/lib/python3.12/site-packages");
        let b = home.path().join(".local/lib/python3.11/site-packages");
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        std::os::unix::fs::symlink(
            home.path().join(".pyenv/versions/3.12.1"),
            home.path().join(".pyenv/versions/3.12"),
        )
        .unwrap();
        assert_eq!(user_sites(home.path()), vec![a, b]);
    }
}

//! `apparmor_profiles`: loaded AppArmor profiles (and their child profiles) from
//! /sys/kernel/security/apparmor/policy/profiles; no rows without AppArmor.

use std::path::{Path, PathBuf};

use crate::{QueryContext, Rows, TableError};

use super::util::read_trimmed;

const PROFILES: &str = "/sys/kernel/security/apparmor/policy/profiles";

pub(crate) fn generate(ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    let wanted = ctx.equal_texts("path");
    let mut queue: Vec<(String, PathBuf)> = subdirs(Path::new(PROFILES))
        .into_iter()
        .map(|p| (String::new(), p))
        .collect();
    let mut seen = 0;
    while let Some((parent, dir)) = queue.pop() {
        seen += 1;
        if seen > 100_000 {
            break;
        }
        let Some(p) = read_profile(&dir, &parent) else {
            continue;
        };
        queue.extend(
            subdirs(&dir.join("profiles"))
                .into_iter()
                .map(|c| (p.path.clone(), c)),
        );
        if wanted.as_ref().is_some_and(|w| !w.contains(&p.path)) {
            continue;
        }
        rows.push()
            .set("path", p.path)
            .set("name", p.name)
            .set("attach", p.attach)
            .set("mode", p.mode)
            .set("sha1", p.sha1)
            .set("sha256", p.sha256);
    }
    Ok(())
}

#[derive(Debug)]
struct Profile {
    path: String,
    name: String,
    attach: String,
    mode: String,
    sha1: Option<String>,
    sha256: Option<String>,
}

/// One profile directory; profiles are addressed as `parent//child` like aa-status does.
fn read_profile(dir: &Path, parent: &str) -> Option<Profile> {
    let name = read_trimmed(dir.join("name"))?;
    let path = if parent.is_empty() {
        name.clone()
    } else {
        format!("{parent}//{name}")
    };
    let sha256 = read_trimmed(dir.join("sha256"));
    let sha1 = if sha256.is_none() {
        read_trimmed(dir.join("sha1"))
    } else {
        None
    };
    Some(Profile {
        path,
        name,
        attach: read_trimmed(dir.join("attach"))?,
        mode: read_trimmed(dir.join("mode"))?,
        sha1,
        sha256,
    })
}

fn subdirs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect();
    out.sort();
    out.reverse();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_directory() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        std::fs::write(p.join("name"), "firefox\n").unwrap();
        std::fs::write(p.join("attach"), "/usr/lib/firefox/firefox\n").unwrap();
        std::fs::write(p.join("mode"), "enforce\n").unwrap();
        std::fs::write(p.join("sha256"), "abc\n").unwrap();
        let prof = read_profile(p, "").unwrap();
        assert_eq!(prof.path, "firefox");
        assert_eq!(prof.sha256.as_deref(), Some("abc"));
        assert!(prof.sha1.is_none());
        let child = read_profile(p, "parent").unwrap();
        assert_eq!(child.path, "parent//firefox");
    }
}

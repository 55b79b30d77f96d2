//! `sudoers`: the rules of /etc/sudoers and the files it includes (`#include`, `@include`,
//! `#includedir`, `@includedir`), one row per rule as osquery splits them.

use std::path::{Path, PathBuf};

use crate::{QueryContext, Rows, TableError};

const SUDOERS: &str = "/etc/sudoers";

/// sudoers(5): no more than 128 files may be nested.
const MAX_NEST: usize = 128;

const WHITESPACE: &[char] = &['\t', '\u{b}', ' '];

/// One rule line: its first word and the rest.
#[derive(Debug, PartialEq, Eq)]
struct Rule {
    header: String,
    details: String,
}

pub(crate) fn generate(_ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    read_file(Path::new(SUDOERS), 1, rows);
    Ok(())
}

fn read_file(path: &Path, depth: usize, rows: &mut Rows) {
    if depth > MAX_NEST {
        return;
    }
    let Ok(bytes) = std::fs::read(path) else {
        return;
    };
    let source = path.to_string_lossy().into_owned();
    for rule in parse_sudoers(&String::from_utf8_lossy(&bytes)) {
        rows.push()
            .set("source", source.as_str())
            .set("header", rule.header.as_str())
            .set("rule_details", rule.details.as_str());
        match rule.header.as_str() {
            "#include" | "@include" => {
                read_file(&resolve(path, &rule.details), depth + 1, rows);
            }
            "#includedir" | "@includedir" => {
                for file in included_dir_files(&resolve(path, &rule.details)) {
                    read_file(&file, depth + 1, rows);
                }
            }
            _ => {}
        }
    }
}

/// An include target relative to the including file's directory unless absolute.
fn resolve(including: &Path, target: &str) -> PathBuf {
    let target = Path::new(target);
    if target.is_absolute() {
        target.to_path_buf()
    } else {
        including
            .parent()
            .map_or_else(|| target.to_path_buf(), |d| d.join(target))
    }
}

/// The files an includedir names: sorted, skipping names that contain `.` or end in `~`.
fn included_dir_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            !name.is_empty() && !name.contains('.') && !name.ends_with('~')
        })
        .filter(|e| e.file_type().is_ok_and(|t| !t.is_dir()))
        .map(|e| e.path())
        .collect();
    files.sort();
    files
}

/// Splits sudoers text into rules: each non-comment line is a header (its first word) and the
/// details (the rest, trimmed). A line ending in `\` continues on the next line (joined without
/// the backslash). Include lines are kept as rules; an include with no target is a comment.
fn parse_sudoers(text: &str) -> Vec<Rule> {
    let mut out: Vec<Rule> = Vec::new();
    let mut continued = false;
    for raw in text.split('\n') {
        let line = raw.trim_matches(WHITESPACE);
        if line.is_empty() {
            continue;
        }
        if continued && let Some(last) = out.last_mut() {
            continued = line.ends_with('\\');
            if last.details.is_empty() {
                last.header.pop();
            } else {
                last.details.pop();
            }
            last.details.push_str(line);
            continue;
        }
        let (header, details) = match line.find(WHITESPACE) {
            Some(i) => (&line[..i], line[i..].trim_matches(WHITESPACE)),
            None => (line, ""),
        };
        let include = matches!(
            header,
            "#include" | "@include" | "#includedir" | "@includedir"
        );
        if line.starts_with('#') && !include {
            continue;
        }
        if include && details.is_empty() {
            continue;
        }
        continued = !include && line.ends_with('\\');
        out.push(Rule {
            header: header.to_string(),
            details: details.to_string(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(h: &str, d: &str) -> Rule {
        Rule {
            header: h.into(),
            details: d.into(),
        }
    }

    #[test]
    fn rules_split_into_header_and_details() {
        let text = "# comment\nDefaults\tenv_reset\n\nroot ALL=(ALL:ALL) ALL\n%sudo   ALL=(ALL:ALL) ALL\n#includedir /etc/sudoers.d\n@include\nCmnd_Alias X = /bin/a, \\\n    /bin/b\n";
        assert_eq!(
            parse_sudoers(text),
            vec![
                rule("Defaults", "env_reset"),
                rule("root", "ALL=(ALL:ALL) ALL"),
                rule("%sudo", "ALL=(ALL:ALL) ALL"),
                rule("#includedir", "/etc/sudoers.d"),
                rule("Cmnd_Alias", "X = /bin/a, /bin/b"),
            ]
        );
    }

    #[test]
    fn includes_are_followed_and_dotted_names_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let main = dir.path().join("sudoers");
        std::fs::create_dir(dir.path().join("d")).unwrap();
        std::fs::write(&main, "root ALL=(ALL) ALL\n@includedir d\n#include extra\n").unwrap();
        std::fs::write(
            dir.path().join("d/alice"),
            "alice ALL=(ALL) NOPASSWD: ALL\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("d/README.txt"), "ignored ALL=ALL\n").unwrap();
        std::fs::write(dir.path().join("d/bob~"), "ignored ALL=ALL\n").unwrap();
        std::fs::write(dir.path().join("extra"), "Defaults mail_badpass\n").unwrap();
        let spec = crate::spec::osquery_spec("sudoers").unwrap();
        let mut rows = Rows::new(spec);
        read_file(&main, 1, &mut rows);
        let headers: Vec<String> = (0..rows.len())
            .map(|i| rows.get(i, "header").unwrap().as_text().unwrap())
            .collect();
        assert_eq!(
            headers,
            ["root", "@includedir", "alice", "#include", "Defaults"]
        );
        assert!(
            rows.get(2, "source")
                .unwrap()
                .as_text()
                .unwrap()
                .ends_with("d/alice")
        );
    }

    #[test]
    fn an_include_loop_stops() {
        let dir = tempfile::tempdir().unwrap();
        let main = dir.path().join("sudoers");
        std::fs::write(&main, "#include sudoers\n").unwrap();
        let spec = crate::spec::osquery_spec("sudoers").unwrap();
        let mut rows = Rows::new(spec);
        read_file(&main, 1, &mut rows);
        assert_eq!(rows.len(), MAX_NEST);
    }
}

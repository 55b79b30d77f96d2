//! `shell_history`: per-user shell history files (~/.bash_history, ~/.zsh_history, …, and
//! ~/.bash_sessions/*.history), one row per command, with the time when the file records one.

use std::path::Path;

use crate::sys::{self, Passwd};
use crate::{QueryContext, Rows, TableError};

/// The history files osquery reads in each home directory, in its order.
const HISTORY_FILES: &[&str] = &[
    ".bash_history",
    ".zsh_history",
    ".zhistory",
    ".history",
    ".sh_history",
    ".ash_history",
];

pub(crate) fn generate(ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    collect(&sys::users_for(ctx), rows);
    Ok(())
}

fn collect(users: &[Passwd], rows: &mut Rows) {
    for user in users {
        let mut files: Vec<_> = HISTORY_FILES.iter().map(|f| user.home.join(f)).collect();
        let sessions = user.home.join(".bash_sessions");
        if let Ok(entries) = std::fs::read_dir(&sessions) {
            let mut found: Vec<_> = entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "history"))
                .collect();
            found.sort();
            files.extend(found);
        }
        for file in files {
            emit_file(user.uid, &file, rows);
        }
    }
}

fn emit_file(uid: u32, file: &Path, rows: &mut Rows) {
    // Not every entry is a file (or readable): skip it.
    let Ok(bytes) = std::fs::read(file) else {
        return;
    };
    let name = file.to_string_lossy();
    for (time, command) in parse_history(&String::from_utf8_lossy(&bytes)) {
        rows.push()
            .set("uid", uid)
            .set("time", time)
            .set("command", command)
            .set("history_file", name.as_ref());
    }
}

/// Splits history text into `(time, command)` entries, as osquery does:
/// - bash with `HISTTIMEFORMAT`: a `#1700000000` line gives the time of the next line;
/// - zsh extended history: `: 1700000000:0;command`;
/// - anything else is a command with time 0 (blank lines included).
fn parse_history(text: &str) -> Vec<(i64, String)> {
    let mut out = Vec::new();
    let mut pending: Option<i64> = None;
    if text.is_empty() {
        return out;
    }
    let body = text.strip_suffix('\n').unwrap_or(text);
    for line in body.split('\n') {
        if pending.is_none()
            && let Some(t) = bash_timestamp(line)
        {
            pending = Some(t);
            continue;
        }
        if let Some(t) = pending.take() {
            out.push((t, line.to_string()));
        } else if let Some((t, cmd)) = zsh_extended(line) {
            out.push((t, cmd.to_string()));
        } else {
            out.push((0, line.to_string()));
        }
    }
    out
}

/// `#<digits>` on a line of its own.
fn bash_timestamp(line: &str) -> Option<i64> {
    let digits = line.strip_prefix('#')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// `: <start>:<elapsed>;<command>` (up to 10 spaces after the colon, a start of 1–11 digits).
fn zsh_extended(line: &str) -> Option<(i64, &str)> {
    let rest = line.strip_prefix(':')?;
    let trimmed = rest.trim_start_matches(' ');
    if rest.len() - trimmed.len() > 10 {
        return None;
    }
    let (start, rest) = trimmed.split_once(':')?;
    if start.is_empty() || start.len() > 11 || !start.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (elapsed, command) = rest.split_once(';')?;
    if elapsed.is_empty() || !elapsed.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((start.parse().ok()?, command))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bash_timestamps_apply_to_the_next_line() {
        let got = parse_history("#1700000000\nls -la\nwhoami\n#12\n#13\n");
        assert_eq!(
            got,
            vec![
                (1_700_000_000, "ls -la".to_string()),
                (0, "whoami".to_string()),
                (12, "#13".to_string()),
            ]
        );
    }

    #[test]
    fn zsh_extended_history_gives_times() {
        let got = parse_history(": 1700000001:0;git status\n:  1700000002:15;echo a;b\nplain\n");
        assert_eq!(got[0], (1_700_000_001, "git status".to_string()));
        assert_eq!(got[1], (1_700_000_002, "echo a;b".to_string()));
        assert_eq!(got[2], (0, "plain".to_string()));
        assert_eq!(zsh_extended(": x:0;cmd"), None);
    }

    #[test]
    fn blank_lines_count_and_last_line_needs_no_newline() {
        assert_eq!(parse_history("a\n\nb").len(), 3);
        assert!(parse_history("").is_empty());
        assert_eq!(parse_history("\n"), vec![(0, String::new())]);
    }

    #[test]
    fn reads_history_files_of_a_home_directory() {
        let home = tempfile::tempdir().unwrap();
        std::fs::write(home.path().join(".bash_history"), "#100\nid\nuname -a\n").unwrap();
        std::fs::write(home.path().join(".zsh_history"), ": 200:0;pwd\n").unwrap();
        std::fs::create_dir(home.path().join(".bash_sessions")).unwrap();
        std::fs::write(home.path().join(".bash_sessions/A1.history"), "top\n").unwrap();
        std::fs::write(home.path().join(".bash_sessions/A1.session"), "nope\n").unwrap();
        let user = Passwd {
            username: "t".into(),
            uid: 4321,
            gid: 4321,
            gecos: String::new(),
            home: home.path().to_path_buf(),
            shell: "/bin/sh".into(),
        };
        let spec = crate::spec::osquery_spec("shell_history").unwrap();
        let mut rows = Rows::new(spec);
        collect(&[user], &mut rows);
        assert_eq!(rows.len(), 4);
        let cmds: Vec<String> = (0..4)
            .map(|i| rows.get(i, "command").unwrap().as_text().unwrap())
            .collect();
        assert_eq!(cmds, ["id", "uname -a", "pwd", "top"]);
        assert_eq!(rows.get(0, "time").unwrap().as_i64(), Some(100));
        assert_eq!(rows.get(1, "time").unwrap().as_i64(), Some(0));
        assert_eq!(rows.get(2, "time").unwrap().as_i64(), Some(200));
        assert_eq!(rows.get(3, "uid").unwrap().as_i64(), Some(4321));
        assert!(
            rows.get(3, "history_file")
                .unwrap()
                .as_text()
                .unwrap()
                .ends_with("A1.history")
        );
    }
}

//! `ssh_configs`: ssh client options from each user's ~/.ssh/config and the system-wide
//! /etc/ssh/ssh_config (plus /etc/ssh/ssh_config.d/*.conf), one row per option with its block.

use std::path::Path;

use crate::sys::{self, Passwd};
use crate::{QueryContext, Rows, TableError};

const SYSTEM_CONFIG: &str = "/etc/ssh/ssh_config";
const SYSTEM_CONFIG_DIR: &str = "/etc/ssh/ssh_config.d";

pub(crate) fn generate(ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    collect(&sys::users_for(ctx), rows);
    // The system-wide files belong to root; osquery reports them whatever the uid constraint
    // (SQLite then filters on uid).
    emit_file(0, Path::new(SYSTEM_CONFIG), rows);
    if let Ok(entries) = std::fs::read_dir(SYSTEM_CONFIG_DIR) {
        let mut files: Vec<_> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "conf"))
            .collect();
        files.sort();
        for f in files {
            emit_file(0, &f, rows);
        }
    }
    Ok(())
}

fn collect(users: &[Passwd], rows: &mut Rows) {
    for user in users {
        emit_file(user.uid, &user.home.join(".ssh/config"), rows);
    }
}

fn emit_file(uid: u32, path: &Path, rows: &mut Rows) {
    let Ok(bytes) = std::fs::read(path) else {
        return;
    };
    let file = path.to_string_lossy();
    for (block, option) in parse_ssh_config(&String::from_utf8_lossy(&bytes)) {
        rows.push()
            .set("uid", uid)
            .set("block", block)
            .set("option", option)
            .set("ssh_config_file", file.as_ref());
    }
}

/// `(block, option)` pairs of ssh_config text. Lines are trimmed and lower-cased as osquery
/// reports them; a `Host`/`Match` line starts a block that lasts until the next one; options
/// before the first block have an empty block.
fn parse_ssh_config(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut block = String::new();
    for raw in text.lines() {
        let line = raw.trim().to_lowercase();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let keyword = line
            .split(|c: char| c.is_whitespace() || c == '=')
            .next()
            .unwrap_or("");
        if (keyword == "host" || keyword == "match") && line.len() > keyword.len() {
            block = line;
        } else {
            out.push((block.clone(), line));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_grouped_under_their_host_or_match_block() {
        let text = "# global\nForwardAgent no\n\nHost *.Example.com\n    User Alice\n  Port 2222\nMatch host foo exec \"true\"\n\tIdentityFile ~/.ssh/id_foo\nHostname x\n";
        let got = parse_ssh_config(text);
        assert_eq!(
            got,
            vec![
                (String::new(), "forwardagent no".to_string()),
                ("host *.example.com".to_string(), "user alice".to_string()),
                ("host *.example.com".to_string(), "port 2222".to_string()),
                (
                    "match host foo exec \"true\"".to_string(),
                    "identityfile ~/.ssh/id_foo".to_string()
                ),
                (
                    "match host foo exec \"true\"".to_string(),
                    "hostname x".to_string()
                ),
            ]
        );
    }

    #[test]
    fn reads_a_user_config() {
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir(home.path().join(".ssh")).unwrap();
        std::fs::write(home.path().join(".ssh/config"), "Host a\n  User b\n").unwrap();
        let spec = crate::spec::osquery_spec("ssh_configs").unwrap();
        let mut rows = Rows::new(spec);
        collect(&[super::super::test_user(home.path(), 4002)], &mut rows);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows.get(0, "block").unwrap().as_text().unwrap(), "host a");
        assert_eq!(rows.get(0, "uid").unwrap().as_i64(), Some(4002));
    }
}

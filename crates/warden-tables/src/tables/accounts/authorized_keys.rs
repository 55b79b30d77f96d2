//! `authorized_keys`: the keys in each user's ~/.ssh/authorized_keys and authorized_keys2,
//! split into options, algorithm, key and comment.

use crate::sys::{self, Passwd};
use crate::{QueryContext, Rows, TableError};

const KEY_FILES: &[&str] = &[".ssh/authorized_keys", ".ssh/authorized_keys2"];

/// Key types sshd accepts in authorized_keys (plain keys; certificates are matched by suffix).
const KEY_TYPES: &[&str] = &[
    "ssh-rsa",
    "ssh-dss",
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ecdsa-sha2-nistp256@openssh.com",
    "sk-ssh-ed25519@openssh.com",
];

/// One parsed line.
#[derive(Debug, PartialEq, Eq)]
struct AuthorizedKey {
    options: String,
    algorithm: String,
    key: String,
    comment: String,
}

pub(crate) fn generate(ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    collect(&sys::users_for(ctx), rows);
    Ok(())
}

fn collect(users: &[Passwd], rows: &mut Rows) {
    for user in users {
        for name in KEY_FILES {
            let path = user.home.join(name);
            let Ok(bytes) = std::fs::read(&path) else {
                continue;
            };
            let file = path.to_string_lossy();
            for k in parse_authorized_keys(&String::from_utf8_lossy(&bytes)) {
                rows.push()
                    .set("uid", user.uid)
                    .set("algorithm", k.algorithm)
                    .set("key", k.key)
                    .set("options", k.options)
                    .set("comment", k.comment)
                    .set("key_file", file.as_ref())
                    .set("pid_with_namespace", 0);
            }
        }
    }
}

fn is_key_type(token: &str) -> bool {
    KEY_TYPES.contains(&token)
        || token
            .strip_suffix("-cert-v01@openssh.com")
            .is_some_and(|base| {
                KEY_TYPES
                    .iter()
                    .any(|t| t.trim_end_matches("@openssh.com") == base)
            })
}

/// Splits off the first whitespace-separated field, keeping whitespace inside double quotes
/// (`command="echo hi",no-pty`), and returns it with the rest (leading whitespace removed).
fn split_field(line: &str) -> (&str, &str) {
    let mut quoted = false;
    let mut escaped = false;
    for (i, ch) in line.char_indices() {
        match ch {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ' ' | '\t' if !quoted => {
                return (&line[..i], line[i..].trim_start_matches([' ', '\t']));
            }
            _ => {}
        }
    }
    (line, "")
}

/// Parses authorized_keys text: `[options] keytype base64-key [comment]` per line. Comments and
/// blank lines are skipped; so are lines without a recognised key type, except z/OS key-ring
/// lines (`zos-key-ring-label=...`), reported with only their options as osquery does.
fn parse_authorized_keys(text: &str) -> Vec<AuthorizedKey> {
    let mut out = Vec::new();
    for raw in text.lines() {
        let line = raw.trim_start_matches([' ', '\t']).trim_end();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (first, rest) = split_field(line);
        let (options, algorithm, rest) = if is_key_type(first) {
            ("", first, rest)
        } else {
            let (second, rest) = split_field(rest);
            if !is_key_type(second) {
                if first
                    .split(',')
                    .any(|o| o.starts_with("zos-key-ring-label="))
                {
                    out.push(AuthorizedKey {
                        options: line.to_string(),
                        algorithm: String::new(),
                        key: String::new(),
                        comment: String::new(),
                    });
                }
                continue;
            }
            (first, second, rest)
        };
        let (key, comment) = split_field(rest);
        if key.is_empty() {
            continue;
        }
        out.push(AuthorizedKey {
            options: options.to_string(),
            algorithm: algorithm.to_string(),
            key: key.to_string(),
            comment: comment.to_string(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: &str = "# comment line\n\
        \n\
        ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA alice@laptop\n\
        command=\"echo hello world\",no-pty ssh-rsa AAAAB3NzaC1yc2E bob key two\n\
        from=\"10.0.0.0/8\" ecdsa-sha2-nistp256 AAAAE2VjZHNh\n\
        ssh-rsa-cert-v01@openssh.com AAAAHHNzaC1yc2EtY2VydA cert\n\
        unknown-type AAAA nope\n\
        zos-key-ring-label=\"KeyRingOwner/SSHAuthKeysRing uniq-ssh-rsa\"\n\
        ssh-rsa\n";

    #[test]
    fn lines_split_into_options_algorithm_key_and_comment() {
        let got = parse_authorized_keys(FIXTURE);
        assert_eq!(got.len(), 5, "{got:?}");
        assert_eq!(
            got[0],
            AuthorizedKey {
                options: String::new(),
                algorithm: "ssh-ed25519".into(),
                key: "AAAAC3NzaC1lZDI1NTE5AAAAIA".into(),
                comment: "alice@laptop".into(),
            }
        );
        assert_eq!(got[1].options, "command=\"echo hello world\",no-pty");
        assert_eq!(got[1].algorithm, "ssh-rsa");
        assert_eq!(got[1].comment, "bob key two");
        assert_eq!(got[2].options, "from=\"10.0.0.0/8\"");
        assert_eq!(got[2].comment, "");
        assert_eq!(got[3].algorithm, "ssh-rsa-cert-v01@openssh.com");
        assert!(got[4].options.starts_with("zos-key-ring-label="));
        assert_eq!(got[4].algorithm, "");
    }

    #[test]
    fn reads_both_key_files_of_a_home() {
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir(home.path().join(".ssh")).unwrap();
        std::fs::write(
            home.path().join(".ssh/authorized_keys"),
            "ssh-ed25519 AAAA one\n",
        )
        .unwrap();
        std::fs::write(
            home.path().join(".ssh/authorized_keys2"),
            "ssh-rsa BBBB two\n",
        )
        .unwrap();
        let user = super::super::test_user(home.path(), 4000);
        let spec = crate::spec::osquery_spec("authorized_keys").unwrap();
        let mut rows = Rows::new(spec);
        collect(&[user], &mut rows);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows.get(1, "key").unwrap().as_text().unwrap(), "BBBB");
        assert_eq!(rows.get(1, "uid").unwrap().as_i64(), Some(4000));
        assert!(
            rows.get(1, "key_file")
                .unwrap()
                .as_text()
                .unwrap()
                .ends_with("authorized_keys2")
        );
    }
}

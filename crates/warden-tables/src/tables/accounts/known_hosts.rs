//! `known_hosts`: the lines of each user's ~/.ssh/known_hosts (hashed `|1|` entries included).

use crate::sys::{self, Passwd};
use crate::{QueryContext, Rows, TableError};

pub(crate) fn generate(ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    collect(&sys::users_for(ctx), rows);
    Ok(())
}

fn collect(users: &[Passwd], rows: &mut Rows) {
    for user in users {
        let path = user.home.join(".ssh/known_hosts");
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        let file = path.to_string_lossy();
        for line in entries(&String::from_utf8_lossy(&bytes)) {
            rows.push()
                .set("uid", user.uid)
                .set("key", line)
                .set("key_file", file.as_ref());
        }
    }
}

/// The entries of known_hosts text: every non-empty line not starting with `#`, verbatim
/// (osquery reports the whole line, markers and hashed host names included).
fn entries(text: &str) -> impl Iterator<Item = &str> {
    text.split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entry_line_is_kept_verbatim() {
        let text = "# header\n\
            github.com ssh-ed25519 AAAAC3Nza\n\
            |1|c2FsdA==|aGFzaA== ecdsa-sha2-nistp256 AAAAE2Vj\n\
            \n\
            @cert-authority *.example.com ssh-rsa AAAAB3\n";
        let got: Vec<&str> = entries(text).collect();
        assert_eq!(got.len(), 3);
        assert!(got[1].starts_with("|1|"));
        assert!(got[2].starts_with("@cert-authority"));
    }

    #[test]
    fn reads_a_home_known_hosts() {
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir(home.path().join(".ssh")).unwrap();
        std::fs::write(
            home.path().join(".ssh/known_hosts"),
            "h1 ssh-rsa AAAA\nh2 ssh-rsa BBBB\n",
        )
        .unwrap();
        let spec = crate::spec::osquery_spec("known_hosts").unwrap();
        let mut rows = Rows::new(spec);
        collect(&[super::super::test_user(home.path(), 4001)], &mut rows);
        assert_eq!(rows.len(), 2);
        assert_eq!(
            rows.get(1, "key").unwrap().as_text().unwrap(),
            "h2 ssh-rsa BBBB"
        );
        assert_eq!(rows.get(0, "uid").unwrap().as_i64(), Some(4001));
    }
}

//! `shadow`: password state and aging fields from /etc/shadow (readable by root only).

use crate::{QueryContext, Rows, TableError};

const SHADOW: &str = "/etc/shadow";

/// One line of /etc/shadow; empty numeric fields are -1, as `getspent` reports them.
#[derive(Debug, PartialEq, Eq)]
struct Shadow {
    username: String,
    password: String,
    last_change: i64,
    min: i64,
    max: i64,
    warning: i64,
    inactive: i64,
    expire: i64,
    flag: i64,
}

pub(crate) fn generate(ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    // Not root, or no shadow file: no rows, as with getspent.
    let Ok(text) = std::fs::read_to_string(SHADOW) else {
        return Ok(());
    };
    let names = ctx.equal_texts("username");
    for s in parse_shadow(&text) {
        if names.as_ref().is_some_and(|n| !n.contains(&s.username)) {
            continue;
        }
        let mut row = rows.push();
        row.set("password_status", password_status(&s.password))
            .set("last_change", s.last_change)
            .set("min", s.min)
            .set("max", s.max)
            .set("warning", s.warning)
            .set("inactive", s.inactive)
            .set("expire", s.expire)
            .set("flag", s.flag)
            .set("username", s.username.as_str())
            .set("hash_alg", hash_alg(&s.password).unwrap_or(""));
    }
    Ok(())
}

/// Parses shadow-format text; lines without the nine fields are skipped.
fn parse_shadow(text: &str) -> Vec<Shadow> {
    let num = |f: &str| -> Option<i64> {
        if f.is_empty() {
            Some(-1)
        } else {
            f.parse().ok()
        }
    };
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() != 9 {
                return None;
            }
            Some(Shadow {
                username: f[0].to_string(),
                password: f[1].to_string(),
                last_change: num(f[2])?,
                min: num(f[3])?,
                max: num(f[4])?,
                warning: num(f[5])?,
                inactive: num(f[6])?,
                expire: num(f[7])?,
                flag: num(f[8])?,
            })
        })
        .collect()
}

/// osquery's reading of the password field: `!!` never set, `!`/`*`/`x` prefix locked,
/// empty, or active.
fn password_status(password: &str) -> &'static str {
    if password == "!!" {
        "not_set"
    } else if password.starts_with(['!', '*', 'x']) {
        "locked"
    } else if password.is_empty() {
        "empty"
    } else {
        "active"
    }
}

/// The crypt(3) method id of `$id$...` (`6` SHA-512, `y` yescrypt, `2b` bcrypt).
fn hash_alg(password: &str) -> Option<&str> {
    let rest = password.strip_prefix('$')?;
    let (id, _) = rest.split_once('$')?;
    (!id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_parse_with_empty_numbers_as_minus_one() {
        let text = "root:$y$j9T$abc$def:19500:0:99999:7:::\nbob:!:19000::::::\nbad:line\n";
        let got = parse_shadow(text);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].last_change, 19500);
        assert_eq!(got[0].max, 99999);
        assert_eq!(got[0].inactive, -1);
        assert_eq!(got[1].min, -1);
        assert_eq!(got[1].flag, -1);
    }

    #[test]
    fn password_field_gives_status_and_algorithm() {
        assert_eq!(password_status("!!"), "not_set");
        assert_eq!(password_status("!$6$salt$hash"), "locked");
        assert_eq!(password_status("*"), "locked");
        assert_eq!(password_status(""), "empty");
        assert_eq!(password_status("$6$salt$hash"), "active");
        assert_eq!(hash_alg("$6$salt$hash"), Some("6"));
        assert_eq!(hash_alg("$2b$10$x"), Some("2b"));
        assert_eq!(hash_alg("!$6$salt$hash"), None);
        assert_eq!(hash_alg("*"), None);
    }
}

//! `kernel_keys`: the keys and keyrings visible to the caller, from /proc/keys.

use crate::{QueryContext, Rows, TableError};

pub(crate) fn generate(_ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    let Ok(text) = std::fs::read_to_string("/proc/keys") else {
        return Ok(());
    };
    for k in parse_keys(&text) {
        rows.push()
            .set("serial_number", k[0])
            .set("flags", k[1])
            .set("usage", k[2])
            .set("timeout", k[3])
            .set("permissions", k[4])
            .set("uid", k[5])
            .set("gid", k[6])
            .set("type", k[7])
            .set("description", k[8..].concat());
    }
    Ok(())
}

/// The whitespace-separated fields of each well-formed line (the description and its
/// summary are the fields from the ninth on, joined as osquery does: `_uid.0:empty`).
fn parse_keys(text: &str) -> Vec<Vec<&str>> {
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|f| f.len() >= 9)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_lines() {
        let v = parse_keys(
            "3ffc9a0a I--Q---     2 perm 1f3f0000     0 65534 keyring   _uid.0: empty\nshort\n",
        );
        assert_eq!(v.len(), 1);
        assert_eq!(v[0][0], "3ffc9a0a");
        assert_eq!(v[0][7], "keyring");
        assert_eq!(v[0][8..].concat(), "_uid.0:empty");
    }
}

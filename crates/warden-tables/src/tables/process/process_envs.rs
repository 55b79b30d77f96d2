//! `process_envs`: the environment of each process, from /proc/PID/environ.

use super::proc::{ProcReader, Shape, nul_items, pids, text};
use crate::{QueryContext, Rows, TableError};

pub(crate) fn generate(ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    let mut reader = ProcReader::new();
    for pid in pids(ctx) {
        // Unreadable environments (exited, or another user's process) give no rows.
        let Some(environ) = reader.read(pid, "environ", Shape::Single) else {
            continue;
        };
        for (key, value) in parse_environ(environ) {
            rows.push()
                .set("pid", pid)
                .set("key", key)
                .set("value", value);
        }
    }
    Ok(())
}

/// `KEY=value` items of a NUL-separated environment block, split at the first `=` (an item
/// without `=` is a key with an empty value).
fn parse_environ(raw: &[u8]) -> Vec<(String, String)> {
    nul_items(raw)
        .map(|item| match item.iter().position(|&b| b == b'=') {
            Some(eq) => (text(&item[..eq]), text(&item[eq + 1..])),
            None => (text(item), String::new()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_at_the_first_equals_sign() {
        let env = parse_environ(b"PATH=/usr/bin:/bin\0OPTS=a=b\0EMPTY=\0ODD\0\0");
        assert_eq!(
            env,
            vec![
                ("PATH".into(), "/usr/bin:/bin".into()),
                ("OPTS".into(), "a=b".into()),
                ("EMPTY".into(), String::new()),
                ("ODD".into(), String::new()),
            ]
        );
        assert!(parse_environ(b"").is_empty());
    }
}

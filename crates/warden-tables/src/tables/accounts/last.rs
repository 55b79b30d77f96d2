//! `last`: logins and logouts recorded in /var/log/wtmp.

use super::utmp::{self, Utmp};
use crate::{QueryContext, Rows, TableError};

const WTMP: &str = "/var/log/wtmp";

pub(crate) fn generate(_ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    emit(&utmp::read(WTMP), rows);
    Ok(())
}

fn emit(records: &[Utmp], rows: &mut Rows) {
    // osquery reports only login (USER_PROCESS) and logout (DEAD_PROCESS) records.
    for r in records
        .iter()
        .filter(|r| r.kind == utmp::USER_PROCESS || r.kind == utmp::DEAD_PROCESS)
    {
        rows.push()
            .set("username", r.user.as_str())
            .set("tty", r.line.as_str())
            .set("pid", r.pid)
            .set("type", r.kind)
            .set("type_name", type_name(r.kind))
            .set("time", r.time)
            .set("host", r.host.as_str());
    }
}

/// osquery's `last` names for `ut_type` (hyphenated, unlike `logged_in_users`).
fn type_name(kind: i16) -> &'static str {
    match kind {
        utmp::EMPTY => "empty",
        utmp::RUN_LVL => "run-level",
        utmp::BOOT_TIME => "boot-time",
        utmp::NEW_TIME => "new-time",
        utmp::OLD_TIME => "old-time",
        utmp::INIT_PROCESS => "init-process",
        utmp::LOGIN_PROCESS => "login-process",
        utmp::USER_PROCESS => "user-process",
        utmp::DEAD_PROCESS => "dead-process",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tables::accounts::utmp::fixture::record;

    #[test]
    fn only_logins_and_logouts_are_reported() {
        let mut bytes = record(utmp::BOOT_TIME, 0, "~", "reboot", "6.18", 5);
        bytes.extend(record(
            utmp::USER_PROCESS,
            700,
            "pts/1",
            "carol",
            "198.51.100.7",
            1_700_000_000,
        ));
        bytes.extend(record(
            utmp::DEAD_PROCESS,
            700,
            "pts/1",
            "",
            "",
            1_700_000_100,
        ));
        let spec = crate::spec::osquery_spec("last").unwrap();
        let mut rows = Rows::new(spec);
        emit(&utmp::parse(&bytes), &mut rows);
        assert_eq!(rows.len(), 2);
        assert_eq!(
            rows.get(0, "type_name").unwrap().as_text().unwrap(),
            "user-process"
        );
        assert_eq!(rows.get(0, "type").unwrap().as_i64(), Some(7));
        assert_eq!(rows.get(0, "username").unwrap().as_text().unwrap(), "carol");
        assert_eq!(
            rows.get(1, "type_name").unwrap().as_text().unwrap(),
            "dead-process"
        );
        assert_eq!(rows.get(1, "time").unwrap().as_i64(), Some(1_700_000_100));
    }
}

//! `logged_in_users`: the sessions recorded in /var/run/utmp.

use super::utmp::{self, Utmp};
use crate::{QueryContext, Rows, TableError};

const UTMP: &str = "/var/run/utmp";

pub(crate) fn generate(_ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    emit(&utmp::read(UTMP), rows);
    Ok(())
}

fn emit(records: &[Utmp], rows: &mut Rows) {
    // osquery leaves out init's own records (run level, boot time written by pid 1).
    for r in records.iter().filter(|r| r.pid != 1) {
        rows.push()
            .set("type", type_name(r.kind))
            .set("user", r.user.as_str())
            .set("tty", r.line.as_str())
            .set("host", r.host.as_str())
            .set("time", r.time)
            .set("pid", r.pid);
    }
}

/// osquery's `logged_in_users` names for `ut_type`.
fn type_name(kind: i16) -> &'static str {
    match kind {
        utmp::EMPTY => "empty",
        utmp::RUN_LVL => "runlevel",
        utmp::BOOT_TIME => "boot_time",
        utmp::NEW_TIME => "new_time",
        utmp::OLD_TIME => "old_time",
        utmp::INIT_PROCESS => "init",
        utmp::LOGIN_PROCESS => "login",
        utmp::USER_PROCESS => "user",
        utmp::DEAD_PROCESS => "dead",
        utmp::ACCOUNTING => "accounting",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tables::accounts::utmp::fixture::record;

    #[test]
    fn user_sessions_become_rows_and_init_records_are_skipped() {
        let mut bytes = record(utmp::RUN_LVL, 1, "~", "runlevel", "", 10);
        bytes.extend(record(utmp::LOGIN_PROCESS, 300, "tty1", "LOGIN", "", 20));
        bytes.extend(record(
            utmp::USER_PROCESS,
            301,
            "pts/3",
            "bob",
            "192.0.2.1",
            30,
        ));
        bytes.extend(record(42, 302, "x", "", "", 40));
        let spec = crate::spec::osquery_spec("logged_in_users").unwrap();
        let mut rows = Rows::new(spec);
        emit(&utmp::parse(&bytes), &mut rows);
        assert_eq!(rows.len(), 3);
        assert_eq!(rows.get(0, "type").unwrap().as_text().unwrap(), "login");
        assert_eq!(rows.get(1, "type").unwrap().as_text().unwrap(), "user");
        assert_eq!(rows.get(1, "user").unwrap().as_text().unwrap(), "bob");
        assert_eq!(rows.get(1, "host").unwrap().as_text().unwrap(), "192.0.2.1");
        assert_eq!(rows.get(1, "time").unwrap().as_i64(), Some(30));
        assert_eq!(rows.get(1, "pid").unwrap().as_i64(), Some(301));
        assert_eq!(rows.get(2, "type").unwrap().as_text().unwrap(), "unknown");
    }
}

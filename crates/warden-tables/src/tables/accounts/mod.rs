//! Tables about users and their configuration: accounts, logins, shell history, ssh, sudo, cron.

use crate::registry::TableDef;

pub(crate) fn tables() -> Vec<TableDef> {
    vec![]
}

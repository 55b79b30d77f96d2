//! Tables about the machine itself: kernel, OS, time, hardware.

use crate::registry::TableDef;

mod uptime;

pub(crate) fn tables() -> Vec<TableDef> {
    vec![TableDef::osquery("uptime", uptime::generate)]
}

//! Tables about networking: interfaces, routes, neighbours, firewall, resolver and /etc name files.

use crate::registry::TableDef;

pub(crate) fn tables() -> Vec<TableDef> {
    vec![]
}

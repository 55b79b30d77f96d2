//! Tables about installed software: packages, their sources, services and browser/editor add-ons.

use crate::registry::TableDef;

pub(crate) fn tables() -> Vec<TableDef> {
    vec![]
}

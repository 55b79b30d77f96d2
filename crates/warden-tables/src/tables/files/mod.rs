//! Tables about files: metadata, hashes, file types and extended attributes.

use crate::registry::TableDef;

pub(crate) fn tables() -> Vec<TableDef> {
    vec![]
}

//! The table generators, grouped by the part of the system they read.

use crate::registry::TableDef;

mod accounts;
mod files;
mod network;
mod process;
mod software;
mod system;
mod warden;

pub use warden::{begin_statement, set_event_store_dir};

/// Every implemented table (unsorted; the registry sorts).
pub(crate) fn all() -> Vec<TableDef> {
    [
        accounts::tables(),
        files::tables(),
        network::tables(),
        process::tables(),
        software::tables(),
        system::tables(),
        warden::tables(),
    ]
    .concat()
}

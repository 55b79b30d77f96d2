//! The operating system as SQL: osquery-compatible tables over live Linux state.
//!
//! Each table is a [`TableSpec`] (declared once, as data) plus a generator function that reads
//! the system. One generic SQLite virtual-table module serves them all ([`open`] registers them
//! with osquery's SQL functions), so any join, aggregate or subquery of SQLite works across tables.

mod context;
mod functions;
mod registry;
mod row;
pub mod spec;
mod specs;
pub mod sys;
mod tables;
pub use tables::{begin_statement, set_event_store_dir};
mod vtab;

pub use context::{Constraint, Op, QueryContext, like_to_glob};
pub use registry::{Generate, TableDef, TableError, open, register, table, table_names, tables};
pub use row::{RowWriter, Rows, Value};
pub use spec::{ColumnSpec, ColumnType, Flags, TableSpec, osquery_spec};

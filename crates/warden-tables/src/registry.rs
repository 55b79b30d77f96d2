//! The set of tables Warden serves and the SQL connection that exposes them.

use rusqlite::Connection;

use crate::context::QueryContext;
use crate::row::Rows;
use crate::spec::{TableSpec, osquery_spec};

/// Why a generator could not produce its rows. Per-entry problems (a process that exited
/// mid-scan, a file that cannot be read) are not errors: the generator skips the entry.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Message(String),
}

/// Produces a table's rows for one scan.
pub type Generate = fn(&QueryContext, &mut Rows) -> Result<(), TableError>;

/// A table: its spec and its generator.
#[derive(Clone, Copy, Debug)]
pub struct TableDef {
    pub spec: &'static TableSpec,
    pub generate: Generate,
    /// Rows are handed to SQLite in batches as they are made (the generator runs on a thread
    /// of its own) instead of all at once: for tables that may hold millions (the event
    /// store's), whose whole scan would not fit in memory.
    pub streamed: bool,
}

impl TableDef {
    /// A table with osquery's spec of that name.
    ///
    /// # Panics
    /// When osquery declares no such Linux table (a programming error the tests catch).
    pub fn osquery(name: &str, generate: Generate) -> TableDef {
        let spec = osquery_spec(name)
            .unwrap_or_else(|| panic!("osquery declares no Linux table named {name}"));
        TableDef {
            spec,
            generate,
            streamed: false,
        }
    }

    /// Runs the generator over a whole-table scan (no constraints, every column).
    pub fn scan(&self) -> Result<Rows, TableError> {
        self.run(&QueryContext::everything(self.spec))
    }

    /// Runs the generator with a given context.
    pub fn run(&self, ctx: &QueryContext) -> Result<Rows, TableError> {
        let mut rows = Rows::new(self.spec);
        (self.generate)(ctx, &mut rows)?;
        Ok(rows)
    }
}

/// Every table Warden implements, sorted by name.
pub fn tables() -> &'static [TableDef] {
    static TABLES: std::sync::OnceLock<Vec<TableDef>> = std::sync::OnceLock::new();
    TABLES.get_or_init(|| {
        let mut all = crate::tables::all();
        all.sort_by_key(|t| t.spec.name);
        all
    })
}

/// Looks up an implemented table by name.
pub fn table(name: &str) -> Option<&'static TableDef> {
    let all = tables();
    all.binary_search_by(|t| t.spec.name.cmp(name))
        .ok()
        .map(|i| &all[i])
}

/// Every name a query can use: tables and their aliases (views).
pub fn table_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = tables()
        .iter()
        .flat_map(|t| std::iter::once(t.spec.name).chain(t.spec.aliases.iter().copied()))
        .collect();
    names.sort_unstable();
    names
}

/// Opens an in-memory SQL engine with every table, alias view and osquery function registered.
pub fn open() -> rusqlite::Result<Connection> {
    let conn = Connection::open_in_memory()?;
    register(&conn)?;
    Ok(conn)
}

/// Registers every table, alias view and osquery function on an existing connection.
pub fn register(conn: &Connection) -> rusqlite::Result<()> {
    for def in tables() {
        conn.create_module(def.spec.name, &crate::vtab::MODULE, Some(*def))?;
    }
    for def in tables() {
        for alias in def.spec.aliases {
            conn.execute_batch(&format!(
                "CREATE TEMP VIEW IF NOT EXISTS \"{alias}\" AS SELECT * FROM \"{}\"",
                def.spec.name
            ))?;
        }
    }
    crate::functions::register(conn)?;
    Ok(())
}

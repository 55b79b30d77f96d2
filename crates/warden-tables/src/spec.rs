//! Table and column declarations: the one place a table's schema is stated, as data.
//!
//! osquery's Linux specs are generated into [`crate::specs`]; Warden's own tables are declared in
//! [`crate::tables::warden`]. Everything else (the SQL schema, `.schema`, the registry tables,
//! the conformance tests) is derived from these values.

/// A column's declared type, with osquery's names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColumnType {
    Text,
    Datetime,
    Integer,
    BigInt,
    UnsignedBigInt,
    Double,
    Blob,
}

impl ColumnType {
    /// The type as osquery declares it to SQLite (and prints in `.schema`).
    pub fn sql_name(self) -> &'static str {
        match self {
            ColumnType::Text => "TEXT",
            ColumnType::Datetime => "DATETIME",
            ColumnType::Integer => "INTEGER",
            ColumnType::BigInt => "BIGINT",
            ColumnType::UnsignedBigInt => "UNSIGNED BIGINT",
            ColumnType::Double => "DOUBLE",
            ColumnType::Blob => "BLOB",
        }
    }

    /// The name used in osquery's spec files (`UNSIGNED_BIGINT`, not `UNSIGNED BIGINT`).
    pub fn spec_name(self) -> &'static str {
        match self {
            ColumnType::UnsignedBigInt => "UNSIGNED_BIGINT",
            other => other.sql_name(),
        }
    }

    /// Whether values of this type are numbers inside SQL.
    pub fn is_integer(self) -> bool {
        matches!(
            self,
            ColumnType::Integer | ColumnType::BigInt | ColumnType::UnsignedBigInt
        )
    }
}

/// osquery's column options, as a small bit set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flags(u8);

impl Flags {
    pub const NONE: Flags = Flags(0);
    /// A query must constrain at least one of the table's required columns.
    pub const REQUIRED: Flags = Flags(1);
    /// Constraints on the column are pushed into the generator, as a key.
    pub const INDEX: Flags = Flags(2);
    /// Not returned by `SELECT *`; must be named.
    pub const HIDDEN: Flags = Flags(4);
    /// A pushed-down optional input that may produce rows otherwise absent (`uid`, `time`).
    pub const ADDITIONAL: Flags = Flags(8);
    /// Pushed down so the generator can do less work.
    pub const OPTIMIZED: Flags = Flags(16);
    /// Declared by osquery for another platform only: present, hidden, always empty.
    pub const NOT_ON_LINUX: Flags = Flags(32);

    pub const fn union(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }

    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether constraints on the column reach the generator (osquery pushes down only these).
    pub const fn is_pushed_down(self) -> bool {
        self.0 & (Self::REQUIRED.0 | Self::INDEX.0 | Self::ADDITIONAL.0 | Self::OPTIMIZED.0) != 0
    }
}

/// One column of a table.
#[derive(Clone, Copy, Debug)]
pub struct ColumnSpec {
    pub name: &'static str,
    pub ty: ColumnType,
    pub flags: Flags,
    /// Other names for the column; each becomes a hidden column with the same value.
    pub aliases: &'static [&'static str],
    pub description: &'static str,
}

impl ColumnSpec {
    pub fn required(&self) -> bool {
        self.flags.contains(Flags::REQUIRED)
    }
    pub fn index(&self) -> bool {
        self.flags.contains(Flags::INDEX)
    }
    pub fn hidden(&self) -> bool {
        self.flags.contains(Flags::HIDDEN) || self.flags.contains(Flags::NOT_ON_LINUX)
    }
    pub fn additional(&self) -> bool {
        self.flags.contains(Flags::ADDITIONAL)
    }
    pub fn optimized(&self) -> bool {
        self.flags.contains(Flags::OPTIMIZED)
    }
}

/// Declares a column; used by the generated specs and by Warden's own tables.
pub const fn col(
    name: &'static str,
    ty: ColumnType,
    flags: Flags,
    aliases: &'static [&'static str],
    description: &'static str,
) -> ColumnSpec {
    ColumnSpec {
        name,
        ty,
        flags,
        aliases,
        description,
    }
}

/// One table: its name, columns and attributes.
#[derive(Debug)]
pub struct TableSpec {
    pub name: &'static str,
    pub description: &'static str,
    /// Other names for the table; each becomes a view.
    pub aliases: &'static [&'static str],
    /// An event table (`*_events`), filled by the agent rather than read from the system.
    pub evented: bool,
    /// Returns the calling user's data unless a `uid` is constrained.
    pub user_data: bool,
    pub columns: &'static [ColumnSpec],
}

impl TableSpec {
    /// Position of a column (by its name or one of its aliases).
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns
            .iter()
            .position(|c| c.name == name || c.aliases.contains(&name))
    }

    /// The column names SQLite sees, in order: the columns, then one hidden column per alias.
    /// Each entry maps a SQLite column number to the spec column that holds its value.
    pub fn sql_columns(&self) -> Vec<(String, usize)> {
        let mut out: Vec<(String, usize)> = self
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| (c.name.to_string(), i))
            .collect();
        for (i, c) in self.columns.iter().enumerate() {
            out.extend(c.aliases.iter().map(|a| (a.to_string(), i)));
        }
        out
    }

    /// The `CREATE TABLE` statement declaring this table to SQLite.
    pub fn create_sql(&self) -> String {
        let mut parts: Vec<String> = self
            .columns
            .iter()
            .map(|c| {
                let hidden = if c.hidden() { " HIDDEN" } else { "" };
                format!("\"{}\" {}{hidden}", c.name, c.ty.sql_name())
            })
            .collect();
        for c in self.columns {
            for alias in c.aliases {
                parts.push(format!("\"{alias}\" {} HIDDEN", c.ty.sql_name()));
            }
        }
        format!("CREATE TABLE \"{}\"({})", self.name, parts.join(", "))
    }

    /// Whether the table declares columns a query must constrain.
    pub fn has_required(&self) -> bool {
        self.columns.iter().any(ColumnSpec::required)
    }
}

/// Looks up one of osquery's Linux table specs by name.
pub fn osquery_spec(name: &str) -> Option<&'static TableSpec> {
    let all = crate::specs::OSQUERY_LINUX;
    all.binary_search_by(|t| t.name.cmp(name))
        .ok()
        .map(|i| &all[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_specs_are_sorted_for_lookup() {
        let names: Vec<_> = crate::specs::OSQUERY_LINUX.iter().map(|t| t.name).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted);
        assert_eq!(osquery_spec("processes").unwrap().name, "processes");
        assert!(osquery_spec("no_such_table").is_none());
    }

    #[test]
    fn create_sql_marks_hidden_and_alias_columns() {
        let sql = osquery_spec("process_events").unwrap().create_sql();
        assert!(sql.contains("\"env\" TEXT HIDDEN"), "{sql}");
        assert!(sql.contains("\"environment\" TEXT HIDDEN"), "{sql}");
        assert!(sql.contains("\"pid\" BIGINT,"), "{sql}");
    }
}

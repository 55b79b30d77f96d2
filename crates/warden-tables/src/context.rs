//! What a query asks of a table: the pushed-down constraints and the columns it uses.
//!
//! Generators read this to do only the work the query needs: look up one pid instead of scanning
//! /proc, expand `path LIKE '/etc/%'` into the files it names, skip hashing when no hash column is
//! selected.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::row::Value;
use crate::spec::TableSpec;

/// A comparison SQLite hands to the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Eq,
    Gt,
    Ge,
    Lt,
    Le,
    Like,
    Glob,
}

impl Op {
    pub(crate) fn code(self) -> char {
        match self {
            Op::Eq => '=',
            Op::Gt => '>',
            Op::Ge => 'g',
            Op::Lt => '<',
            Op::Le => 'l',
            Op::Like => 'L',
            Op::Glob => 'G',
        }
    }

    pub(crate) fn from_code(c: char) -> Option<Op> {
        Some(match c {
            '=' => Op::Eq,
            '>' => Op::Gt,
            'g' => Op::Ge,
            '<' => Op::Lt,
            'l' => Op::Le,
            'L' => Op::Like,
            'G' => Op::Glob,
            _ => return None,
        })
    }

    /// Whether `left OP right` holds for numbers.
    pub fn compare_i64(self, left: i64, right: i64) -> bool {
        match self {
            Op::Eq => left == right,
            Op::Gt => left > right,
            Op::Ge => left >= right,
            Op::Lt => left < right,
            Op::Le => left <= right,
            Op::Like | Op::Glob => true,
        }
    }
}

/// One pushed-down constraint: `column OP value` (an `IN` list gives several values).
#[derive(Clone, Debug)]
pub struct Constraint {
    pub column: usize,
    pub op: Op,
    pub values: Vec<Value>,
}

/// The constraints and used columns of one scan of one table.
#[derive(Debug)]
pub struct QueryContext {
    spec: &'static TableSpec,
    constraints: Vec<Constraint>,
    used: Vec<bool>,
}

impl QueryContext {
    pub fn new(spec: &'static TableSpec, constraints: Vec<Constraint>, used: Vec<bool>) -> Self {
        QueryContext {
            spec,
            constraints,
            used,
        }
    }

    /// A context that constrains nothing and uses every column (a full `SELECT *` scan).
    pub fn everything(spec: &'static TableSpec) -> Self {
        QueryContext::new(spec, Vec::new(), vec![true; spec.columns.len()])
    }

    /// Adds a constraint (for tests and for tables that call other tables' generators).
    pub fn with(mut self, column: &str, op: Op, values: Vec<Value>) -> Self {
        let column = self.spec.column_index(column).expect("known column");
        self.constraints.push(Constraint { column, op, values });
        self
    }

    /// This context less its constraints on `columns`, and a text that names what it still
    /// asks (constraints and columns read): what several scans that differ only in those
    /// columns share.
    pub fn without(&self, columns: &[&str]) -> (QueryContext, String) {
        let dropped: Vec<usize> = columns
            .iter()
            .filter_map(|c| self.spec.column_index(c))
            .collect();
        let rest = QueryContext {
            spec: self.spec,
            constraints: self
                .constraints
                .iter()
                .filter(|c| !dropped.contains(&c.column))
                .cloned()
                .collect(),
            used: self.used.clone(),
        };
        let shape = format!("{}|{:?}|{:?}", self.spec.name, rest.constraints, rest.used);
        (rest, shape)
    }

    /// Marks only these columns as used.
    pub fn using(mut self, columns: &[&str]) -> Self {
        self.used = vec![false; self.spec.columns.len()];
        for c in columns {
            let i = self.spec.column_index(c).expect("known column");
            self.used[i] = true;
        }
        self
    }

    pub fn spec(&self) -> &'static TableSpec {
        self.spec
    }

    /// Every pushed-down constraint.
    pub fn constraints(&self) -> &[Constraint] {
        &self.constraints
    }

    /// Which of the spec's columns the query reads.
    pub fn used_columns(&self) -> &[bool] {
        &self.used
    }

    /// Whether the query reads this column: expensive columns are computed only when it does.
    pub fn wants(&self, column: &str) -> bool {
        self.spec
            .column_index(column)
            .is_none_or(|i| self.used.get(i).copied().unwrap_or(true))
    }

    /// Whether any constraint on the column was pushed down.
    pub fn is_constrained(&self, column: &str) -> bool {
        self.constraints_on(column).next().is_some()
    }

    /// The constraints on one column.
    pub fn constraints_on(&self, column: &str) -> impl Iterator<Item = &Constraint> {
        let index = self.spec.column_index(column);
        self.constraints
            .iter()
            .filter(move |c| Some(c.column) == index)
    }

    /// Every value the column is required to equal (`=` and `IN`), or `None` when the query
    /// does not pin the column down. Several constraints give the union (SQLite re-checks rows).
    pub fn equals(&self, column: &str) -> Option<Vec<&Value>> {
        let mut found = None::<Vec<&Value>>;
        for c in self.constraints_on(column).filter(|c| c.op == Op::Eq) {
            found.get_or_insert_with(Vec::new).extend(c.values.iter());
        }
        found
    }

    /// [`equals`](Self::equals) as integers (values that are not numbers are left out).
    pub fn equal_ints(&self, column: &str) -> Option<BTreeSet<i64>> {
        self.equals(column)
            .map(|vs| vs.iter().filter_map(|v| v.as_i64()).collect())
    }

    /// [`equals`](Self::equals) as text.
    pub fn equal_texts(&self, column: &str) -> Option<BTreeSet<String>> {
        self.equals(column)
            .map(|vs| vs.iter().filter_map(|v| v.as_text()).collect())
    }

    /// Whether a number satisfies every numeric range constraint on the column (`time > ...`).
    pub fn int_matches(&self, column: &str, value: i64) -> bool {
        self.constraints_on(column).all(|c| {
            c.op == Op::Eq && c.values.len() > 1
                || c.values
                    .iter()
                    .all(|v| v.as_i64().is_none_or(|r| c.op.compare_i64(value, r)))
        })
    }

    /// The paths named by the constraints on a path column, the way osquery's `file` and `hash`
    /// expand them: `=` names one path; `LIKE` uses `%` as a wildcard within one level and `%%`
    /// for any depth; `GLOB` uses shell wildcards. Returns `None` when the column is not
    /// constrained. Paths that do not exist are kept for `=` (the generator reports nothing).
    pub fn paths(&self, column: &str) -> Option<Vec<PathBuf>> {
        let mut out: Vec<PathBuf> = Vec::new();
        let mut any = false;
        for c in self.constraints_on(column) {
            any = true;
            for v in &c.values {
                let Some(text) = v.as_text() else { continue };
                match c.op {
                    Op::Eq => out.push(PathBuf::from(text)),
                    Op::Like => out.extend(expand_glob(&like_to_glob(&text))),
                    Op::Glob => out.extend(expand_glob(&text)),
                    _ => {}
                }
            }
        }
        if !any {
            return None;
        }
        out.sort();
        out.dedup();
        Some(out)
    }

    /// The entries of the directories named by a directory column (`directory = '/etc'`, or
    /// the LIKE/GLOB forms, which name several directories).
    pub fn directory_entries(&self, column: &str) -> Option<Vec<PathBuf>> {
        let dirs = self.paths(column)?;
        let mut out = Vec::new();
        for dir in dirs {
            if let Ok(entries) = std::fs::read_dir(&dir) {
                out.extend(entries.flatten().map(|e| e.path()));
            }
        }
        out.sort();
        Some(out)
    }
}

/// Turns an osquery path LIKE pattern into a shell glob: `%%` → `**`, `%` → `*`, `_` → `?`.
pub fn like_to_glob(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut chars = pattern.chars().peekable();
    while let Some(ch) = chars.next() {
        match ch {
            '%' if chars.peek() == Some(&'%') => {
                chars.next();
                out.push_str("**");
                // `/dir/%%` means everything below dir: glob needs `**/*` for files at all depths.
                if chars.peek().is_none() {
                    out.push_str("/*");
                }
            }
            '%' => out.push('*'),
            '_' => out.push('?'),
            '[' | ']' | '*' | '?' => {
                out.push('[');
                out.push(ch);
                out.push(']');
            }
            other => out.push(other),
        }
    }
    out
}

fn expand_glob(pattern: &str) -> Vec<PathBuf> {
    let options = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: false,
    };
    match glob::glob_with(pattern, options) {
        Ok(paths) => paths.flatten().collect(),
        // Not a valid glob: treat it as a literal path.
        Err(_) => vec![Path::new(pattern).to_path_buf()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::osquery_spec;

    #[test]
    fn like_patterns_become_globs() {
        assert_eq!(like_to_glob("/etc/%"), "/etc/*");
        assert_eq!(like_to_glob("/etc/%%"), "/etc/**/*");
        assert_eq!(like_to_glob("/etc/%.conf"), "/etc/*.conf");
        assert_eq!(like_to_glob("/tmp/a_b[1]"), "/tmp/a?b[[]1[]]");
    }

    #[test]
    fn like_expands_one_level_and_double_percent_recurses() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("a.txt"), "a").unwrap();
        std::fs::write(dir.path().join("sub/b.txt"), "b").unwrap();
        let spec = osquery_spec("file").unwrap();
        let one = QueryContext::everything(spec).with(
            "path",
            Op::Like,
            vec![format!("{}/%", dir.path().display()).into()],
        );
        let found = one.paths("path").unwrap();
        assert_eq!(found.len(), 2, "{found:?}");
        let deep = QueryContext::everything(spec).with(
            "path",
            Op::Like,
            vec![format!("{}/%%", dir.path().display()).into()],
        );
        let found = deep.paths("path").unwrap();
        assert!(found.contains(&dir.path().join("sub/b.txt")), "{found:?}");
    }

    #[test]
    fn equality_and_in_values_are_collected() {
        let spec = osquery_spec("processes").unwrap();
        let ctx = QueryContext::everything(spec).with("pid", Op::Eq, vec![1.into(), 2.into()]);
        assert_eq!(ctx.equal_ints("pid").unwrap().len(), 2);
        assert!(ctx.equal_ints("parent").is_none());
    }
}

//! A SQL session over the live tables: runs statements and explains errors the way users need.

use anyhow::Context as _;
use rusqlite::Connection;
use rusqlite::types::Value;

/// The columns and rows of one statement.
pub struct ResultSet {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

pub struct Session {
    conn: Connection,
}

impl Session {
    pub fn open() -> anyhow::Result<Session> {
        let conn = warden_tables::open().context("cannot open the SQL engine")?;
        Ok(Session { conn })
    }

    /// Runs every statement in `sql`, handing each one's result to `sink` as it completes.
    pub fn run(
        &self,
        sql: &str,
        mut sink: impl FnMut(&ResultSet) -> std::io::Result<()>,
    ) -> anyhow::Result<()> {
        use rusqlite::fallible_iterator::FallibleIterator;
        let mut batch = rusqlite::Batch::new(&self.conn, sql);
        while let Some(mut stmt) = batch.next().map_err(explain)? {
            // What the event tables memoized for the last statement's joins is not this one's.
            warden_tables::begin_statement();
            let columns: Vec<String> = stmt.column_names().map(str::to_string).collect();
            let n = columns.len();
            let rows = stmt
                .query_map([], |row| (0..n).map(|i| row.get::<_, Value>(i)).collect())
                .map_err(explain)?
                .collect::<rusqlite::Result<Vec<Vec<Value>>>>()
                .map_err(explain)?;
            if n > 0 {
                sink(&ResultSet { columns, rows })?;
            }
        }
        Ok(())
    }
}

/// Turns an SQLite error into the message a user needs: SQLite's text, plus the nearest table
/// names when the table does not exist.
pub fn explain(e: rusqlite::Error) -> anyhow::Error {
    let message = match &e {
        rusqlite::Error::SqlInputError { msg, .. } => msg.clone(),
        rusqlite::Error::SqliteFailure(_, Some(msg)) => msg.clone(),
        other => other.to_string(),
    };
    if let Some(name) = message.strip_prefix("no such table: ") {
        let name = name.rsplit('.').next().unwrap_or(name);
        let near = nearest_tables(name);
        if !near.is_empty() {
            return anyhow::anyhow!("{message} (did you mean {}?)", near.join(", "));
        }
    }
    anyhow::anyhow!(message)
}

/// Up to three table names closest to `name` (edit distance, or sharing a word).
pub fn nearest_tables(name: &str) -> Vec<&'static str> {
    let name = name.to_ascii_lowercase();
    let mut scored: Vec<(usize, &'static str)> = warden_tables::table_names()
        .into_iter()
        .filter_map(|t| {
            let d = strsim::levenshtein(&name, t);
            let close = d <= (name.len() / 3).max(2);
            let shares = name.len() >= 4 && (t.contains(&name) || name.contains(t));
            (close || shares).then_some((if shares { d.min(3) } else { d }, t))
        })
        .collect();
    scored.sort();
    scored.into_iter().take(3).map(|(_, t)| t).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_several_statements() {
        let session = Session::open().unwrap();
        let mut seen = Vec::new();
        session
            .run("SELECT 1 AS a; SELECT 2 AS b, 3 AS c;", |r| {
                seen.push((r.columns.clone(), r.rows.len()));
                Ok(())
            })
            .unwrap();
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[1].0, vec!["b", "c"]);
    }

    #[test]
    fn a_semicolon_inside_a_string_does_not_split() {
        let session = Session::open().unwrap();
        let mut values = Vec::new();
        session
            .run("SELECT 'a;b' AS s", |r| {
                values.push(r.rows[0][0].clone());
                Ok(())
            })
            .unwrap();
        assert_eq!(values, vec![Value::Text("a;b".into())]);
    }

    #[test]
    fn unknown_tables_get_suggestions() {
        let session = Session::open().unwrap();
        let err = session.run("SELECT * FROM uptme", |_| Ok(())).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("no such table: uptme"), "{text}");
        assert!(text.contains("uptime"), "{text}");
    }
}

//! The SQL engine end to end: registration, pushdown, required columns, hidden and alias columns.

fn query(sql: &str) -> rusqlite::Result<Vec<Vec<rusqlite::types::Value>>> {
    let conn = warden_tables::open()?;
    let mut stmt = conn.prepare(sql)?;
    let n = stmt.column_count();
    let rows = stmt.query_map([], |r| (0..n).map(|i| r.get(i)).collect())?;
    rows.collect()
}

#[test]
fn a_table_answers_select_star() {
    let rows = query("SELECT * FROM uptime").unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].len(), 5);
}

#[test]
fn select_one_needs_no_table() {
    let rows = query("SELECT 1").unwrap();
    assert_eq!(rows, vec![vec![rusqlite::types::Value::Integer(1)]]);
}

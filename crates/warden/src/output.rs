//! Result sets rendered for people and programs: aligned table, JSON, CSV and line modes.

use std::io::{self, Write};

use rusqlite::types::Value;

use crate::session::ResultSet;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// An aligned table with a header, as osqueryi prints by default.
    Table,
    /// A JSON array of objects whose values are strings, as `osqueryi --json` prints.
    Json,
    /// RFC 4180 CSV with a header line.
    Csv,
    /// `column = value` lines, a blank line between rows.
    Line,
}

impl Format {
    pub fn parse(name: &str) -> Option<Format> {
        Some(match name {
            "table" | "pretty" => Format::Table,
            "json" => Format::Json,
            "csv" => Format::Csv,
            "line" => Format::Line,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Table => "table",
            Format::Json => "json",
            Format::Csv => "csv",
            Format::Line => "line",
        }
    }
}

/// A value as text: NULL is empty (osquery's `--nullvalue` default), blobs are shown lossily.
pub fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::Integer(i) => i.to_string(),
        Value::Real(f) => f.to_string(),
        Value::Text(s) => s.clone(),
        Value::Blob(b) => String::from_utf8_lossy(b).into_owned(),
    }
}

pub fn write(out: &mut impl Write, format: Format, result: &ResultSet) -> io::Result<()> {
    match format {
        Format::Table => write_table(out, result),
        Format::Json => write_json(out, result),
        Format::Csv => write_csv(out, result),
        Format::Line => write_lines(out, result),
    }
}

fn write_table(out: &mut impl Write, result: &ResultSet) -> io::Result<()> {
    let cells: Vec<Vec<String>> = result
        .rows
        .iter()
        .map(|r| r.iter().map(|v| text(v).replace('\n', "\\n")).collect())
        .collect();
    let mut widths: Vec<usize> = result.columns.iter().map(|c| c.chars().count()).collect();
    for row in &cells {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let rule: String = widths
        .iter()
        .map(|w| format!("+{}", "-".repeat(w + 2)))
        .collect::<String>()
        + "+\n";
    let line = |out: &mut dyn Write, row: &[String]| -> io::Result<()> {
        for (cell, w) in row.iter().zip(&widths) {
            let pad = w - cell.chars().count();
            write!(out, "| {cell}{} ", " ".repeat(pad))?;
        }
        writeln!(out, "|")
    };
    out.write_all(rule.as_bytes())?;
    line(out, &result.columns)?;
    out.write_all(rule.as_bytes())?;
    for row in &cells {
        line(out, row)?;
    }
    if !cells.is_empty() {
        out.write_all(rule.as_bytes())?;
    }
    Ok(())
}

fn write_json(out: &mut impl Write, result: &ResultSet) -> io::Result<()> {
    let keys: Vec<String> = result
        .columns
        .iter()
        .map(|c| serde_json::to_string(c).unwrap_or_default())
        .collect();
    out.write_all(b"[\n")?;
    for (i, row) in result.rows.iter().enumerate() {
        out.write_all(b"  {")?;
        for (j, (key, value)) in keys.iter().zip(row).enumerate() {
            let sep = if j == 0 { "" } else { "," };
            let value = serde_json::to_string(&text(value)).unwrap_or_default();
            write!(out, "{sep}{key}:{value}")?;
        }
        let sep = if i + 1 == result.rows.len() { "" } else { "," };
        writeln!(out, "}}{sep}")?;
    }
    out.write_all(b"]\n")
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn write_csv(out: &mut impl Write, result: &ResultSet) -> io::Result<()> {
    let header: Vec<String> = result.columns.iter().map(|c| csv_field(c)).collect();
    writeln!(out, "{}", header.join(","))?;
    for row in &result.rows {
        let fields: Vec<String> = row.iter().map(|v| csv_field(&text(v))).collect();
        writeln!(out, "{}", fields.join(","))?;
    }
    Ok(())
}

fn write_lines(out: &mut impl Write, result: &ResultSet) -> io::Result<()> {
    let width = result
        .columns
        .iter()
        .map(|c| c.chars().count())
        .max()
        .unwrap_or(0);
    for (i, row) in result.rows.iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        for (column, value) in result.columns.iter().zip(row) {
            writeln!(out, "{column:>width$} = {}", text(value))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ResultSet {
        ResultSet {
            columns: vec!["pid".into(), "name".into()],
            rows: vec![
                vec![Value::Integer(1), Value::Text("init".into())],
                vec![Value::Integer(22), Value::Null],
            ],
        }
    }

    fn render(format: Format) -> String {
        let mut out = Vec::new();
        write(&mut out, format, &sample()).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn table_is_aligned() {
        let t = render(Format::Table);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[1], "| pid | name |");
        assert_eq!(lines[3], "| 1   | init |");
        assert_eq!(lines[4], "| 22  |      |");
        assert!(lines.iter().all(|l| l.len() == lines[0].len()));
    }

    #[test]
    fn json_is_an_array_of_string_objects() {
        let parsed: serde_json::Value = serde_json::from_str(&render(Format::Json)).unwrap();
        assert_eq!(parsed[0]["pid"], "1");
        assert_eq!(parsed[1]["name"], "");
    }

    #[test]
    fn csv_quotes_when_needed() {
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(render(Format::Csv), "pid,name\n1,init\n22,\n");
    }

    #[test]
    fn line_mode_right_aligns_names() {
        assert_eq!(
            render(Format::Line),
            " pid = 1\nname = init\n\n pid = 22\nname = \n"
        );
    }
}

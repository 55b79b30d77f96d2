//! Conformance with osquery: every table's columns against osquery's Linux specs, every Linux
//! pack query of osquery's packs, and a full scan of every table on this host.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value as Json;

fn shared(path: &str) -> Json {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/conformance/osquery")
        .join(path);
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (../shared must sit beside the project)",
            file.display()
        )
    });
    serde_json::from_str(&text).expect("valid JSON")
}

/// Tables osquery declares (Warden's own tables are checked by their unit tests).
fn is_osquery_table(name: &str) -> bool {
    warden_tables::osquery_spec(name).is_some()
}

#[test]
fn every_column_matches_osquerys_linux_spec() {
    let specs = shared("linux-tables.json");
    let by_name: BTreeMap<&str, &Json> = specs["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["table"].as_str().unwrap(), t))
        .collect();
    let conn = warden_tables::open().unwrap();
    let mut checked = 0;
    for def in warden_tables::tables() {
        let name = def.spec.name;
        if !is_osquery_table(name) {
            continue;
        }
        let expected = by_name
            .get(name)
            .unwrap_or_else(|| panic!("{name} is not one of osquery's Linux tables"));
        // What SQLite itself reports for the table: names, declared types, hidden flags.
        let mut stmt = conn
            .prepare(&format!(
                "SELECT name, type, hidden FROM pragma_table_xinfo('{name}')"
            ))
            .unwrap();
        let actual: Vec<(String, String, i64)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let columns = expected["columns"].as_array().unwrap();
        let mut aliases = Vec::new();
        for (i, c) in columns.iter().enumerate() {
            let cname = c["name"].as_str().unwrap();
            let ty = c["type"].as_str().unwrap().replace('_', " ");
            let hidden = c["hidden"].as_bool().unwrap() || !c["on_linux"].as_bool().unwrap();
            assert_eq!(actual[i].0, cname, "{name}: column {i}");
            assert_eq!(actual[i].1, ty, "{name}.{cname}: type");
            assert_eq!(actual[i].2 != 0, hidden, "{name}.{cname}: hidden flag");
            let spec = &def.spec.columns[i];
            for (flag, ours) in [
                ("required", spec.required()),
                ("index", spec.index()),
                ("additional", spec.additional()),
                ("optimized", spec.optimized()),
            ] {
                assert_eq!(c[flag].as_bool().unwrap(), ours, "{name}.{cname}: {flag}");
            }
            if let Some(a) = c.get("aliases").and_then(Json::as_array) {
                aliases.extend(a.iter().map(|a| a.as_str().unwrap().to_string()));
            }
        }
        // Then Warden's extra columns (declared as such), then the aliases as hidden columns.
        let rest = &actual[columns.len()..];
        let extras = rest.len() - aliases.len();
        for (cname, _, _) in &rest[..extras] {
            let i = def.spec.column_index(cname).unwrap();
            assert!(
                def.spec.columns[i].description.starts_with("Warden: "),
                "{name}.{cname} is not one of osquery's columns nor a declared Warden extra"
            );
        }
        let alias_names: Vec<&str> = rest[extras..].iter().map(|c| c.0.as_str()).collect();
        assert_eq!(alias_names, aliases, "{name}: alias columns");
        assert!(rest[extras..].iter().all(|c| c.2 != 0));
        checked += 1;
    }
    assert!(checked >= 60, "only {checked} osquery tables implemented");
    println!("{checked} tables match osquery's Linux specs");
}

/// Pack queries that cannot run on Linux, with the reason.
const CANNOT_RUN: &[(&str, &str)] = &[(
    "opera_extensions",
    "osquery itself no longer has this table (removed upstream; it is only in the old pack)",
)];

#[test]
fn every_linux_pack_query_executes() {
    let packs = shared("packs-linux.json");
    let conn = warden_tables::open().unwrap();
    let mut ran = 0;
    let mut skipped = Vec::new();
    let mut failures = Vec::new();
    for q in packs["queries"].as_array().unwrap() {
        let name = format!(
            "{}/{}",
            q["pack"].as_str().unwrap(),
            q["name"].as_str().unwrap()
        );
        let sql = q["query"].as_str().unwrap();
        let tables: Vec<&str> = q["tables"]
            .as_array()
            .map(|t| t.iter().filter_map(Json::as_str).collect())
            .unwrap_or_default();
        if let Some((t, why)) = CANNOT_RUN.iter().find(|(t, _)| tables.contains(t)) {
            skipped.push(format!("{name}: {t}: {why}"));
            continue;
        }
        let result = conn.prepare(sql).and_then(|mut stmt| {
            let n = stmt.column_count();
            let mut rows = stmt.query([])?;
            let mut count = 0;
            while let Some(row) = rows.next()? {
                for i in 0..n {
                    let _: rusqlite::types::Value = row.get(i)?;
                }
                count += 1;
            }
            Ok(count)
        });
        match result {
            Ok(_) => ran += 1,
            Err(e) => failures.push(format!("{name}: {e}\n    {sql}")),
        }
    }
    println!("{ran} pack queries ran; skipped {}:", skipped.len());
    for s in &skipped {
        println!("  {s}");
    }
    assert!(
        failures.is_empty(),
        "{} pack queries failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(ran >= 100, "only {ran} pack queries ran");
}

#[test]
fn every_table_scans_on_this_host() {
    let conn = warden_tables::open().unwrap();
    let mut failures = Vec::new();
    for def in warden_tables::tables() {
        if def.spec.has_required() {
            continue;
        }
        let sql = format!("SELECT * FROM \"{}\"", def.spec.name);
        let result = conn.prepare(&sql).and_then(|mut stmt| {
            let n = stmt.column_count();
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                for i in 0..n {
                    let _: rusqlite::types::Value = row.get(i)?;
                }
            }
            Ok(())
        });
        if let Err(e) = result {
            failures.push(format!("{}: {e}", def.spec.name));
        }
    }
    assert!(
        failures.is_empty(),
        "tables that failed a full scan:\n{}",
        failures.join("\n")
    );
}

#[test]
fn required_columns_are_enforced_with_osquerys_message() {
    let conn = warden_tables::open().unwrap();
    for def in warden_tables::tables()
        .iter()
        .filter(|d| d.spec.has_required())
    {
        let err = conn
            .prepare(&format!("SELECT * FROM \"{}\"", def.spec.name))
            .and_then(|mut s| s.query([])?.next().map(|_| ()))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!(
                "Table {} was queried without a required column in the WHERE clause",
                def.spec.name
            )),
            "{}: {err}",
            def.spec.name
        );
    }
}

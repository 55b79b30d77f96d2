//! In-process query times: one open connection, each query run repeatedly; prints the median.
//! Run with `cargo bench -p warden-tables --bench queries`.

use std::time::{Duration, Instant};

fn median_time(conn: &rusqlite::Connection, sql: &str, runs: usize) -> (Duration, usize) {
    let mut times = Vec::with_capacity(runs);
    let mut rows = 0;
    for _ in 0..runs {
        let started = Instant::now();
        let mut stmt = conn.prepare(sql).expect("query prepares");
        let n = stmt.column_count();
        let mut result = stmt.query([]).expect("query runs");
        rows = 0;
        while let Some(row) = result.next().expect("row") {
            for i in 0..n {
                let _: rusqlite::types::Value = row.get(i).expect("value");
            }
            rows += 1;
        }
        times.push(started.elapsed());
    }
    times.sort();
    (times[runs / 2], rows)
}

fn main() {
    let conn = warden_tables::open().expect("engine opens");
    let queries = [
        "SELECT pid, name, cmdline FROM processes",
        "SELECT * FROM processes",
        "SELECT * FROM listening_ports",
        "SELECT * FROM users",
        "SELECT * FROM deb_packages",
        "SELECT path, sha256 FROM hash WHERE path = '/usr/bin/bash'",
    ];
    println!("| in-process query | rows | median |");
    println!("|---|---|---|");
    for sql in queries {
        let (t, rows) = median_time(&conn, sql, 30);
        println!("| `{sql}` | {rows} | {:.3} ms |", t.as_secs_f64() * 1000.0);
    }
}

//! The accounts tables through SQL, checked against the system's own files and tools.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use rusqlite::types::Value;

fn query(sql: &str) -> Vec<Vec<Value>> {
    let conn = warden_tables::open().expect("open");
    let mut stmt = conn.prepare(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    let n = stmt.column_count();
    let rows = stmt
        .query_map([], |r| (0..n).map(|i| r.get(i)).collect())
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    rows.collect::<rusqlite::Result<_>>()
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

fn text(v: &Value) -> String {
    match v {
        Value::Text(s) => s.clone(),
        Value::Integer(i) => i.to_string(),
        Value::Null => String::new(),
        other => panic!("unexpected {other:?}"),
    }
}

fn int(v: &Value) -> i64 {
    match v {
        Value::Integer(i) => *i,
        other => panic!("not an integer: {other:?}"),
    }
}

fn read(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

fn is_root() -> bool {
    nix::unistd::getuid().is_root()
}

/// Lines of /etc/passwd as field vectors (comments and blank lines left out).
fn passwd_lines() -> Vec<Vec<String>> {
    read("/etc/passwd")
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.split(':').map(str::to_string).collect::<Vec<_>>())
        .filter(|f| f.len() >= 7)
        .collect()
}

#[test]
fn users_lists_every_line_of_etc_passwd() {
    let rows = query(
        "SELECT username, uid, gid, description, directory, shell, uuid, uid_signed FROM users",
    );
    let got: BTreeSet<Vec<String>> = rows
        .iter()
        .map(|r| r[..6].iter().map(text).collect())
        .collect();
    let lines = passwd_lines();
    assert!(!lines.is_empty());
    assert_eq!(rows.len(), lines.len());
    for f in &lines {
        let want = vec![
            f[0].clone(),
            f[2].clone(),
            f[3].clone(),
            f[4].clone(),
            f[5].clone(),
            f[6].clone(),
        ];
        assert!(got.contains(&want), "missing {want:?}");
    }
    for r in &rows {
        assert_eq!(text(&r[6]), "", "uuid is empty on Linux");
        assert_eq!(int(&r[7]), int(&r[1]) as u32 as i32 as i64);
    }
}

#[test]
fn users_uid_and_username_constraints_select_accounts() {
    let rows = query("SELECT username, directory FROM users WHERE uid = 0");
    assert_eq!(rows.len(), 1);
    assert_eq!(text(&rows[0][0]), "root");
    let root_home = passwd_lines()
        .into_iter()
        .find(|f| f[2] == "0")
        .map(|f| f[5].clone())
        .unwrap();
    assert_eq!(text(&rows[0][1]), root_home);

    let lines = passwd_lines();
    let some: Vec<&Vec<String>> = lines.iter().take(3).collect();
    let list = some
        .iter()
        .map(|f| f[2].clone())
        .collect::<Vec<_>>()
        .join(",");
    let rows = query(&format!("SELECT username FROM users WHERE uid IN ({list})"));
    let names: BTreeSet<String> = rows.iter().map(|r| text(&r[0])).collect();
    let want: BTreeSet<String> = some.iter().map(|f| f[0].clone()).collect();
    assert_eq!(names, want);

    let rows = query("SELECT uid FROM users WHERE username = 'root'");
    assert_eq!(rows.len(), 1);
    assert_eq!(int(&rows[0][0]), 0);
    assert!(query("SELECT * FROM users WHERE uid = 987654321").is_empty());
}

#[test]
fn groups_match_etc_group() {
    let mut want: BTreeMap<i64, String> = BTreeMap::new();
    for line in read("/etc/group").unwrap_or_default().lines() {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() >= 4
            && !line.starts_with('#')
            && let Ok(gid) = f[2].parse::<i64>()
        {
            want.entry(gid).or_insert_with(|| f[0].to_string());
        }
    }
    assert!(!want.is_empty());
    let rows = query("SELECT gid, groupname, gid_signed FROM groups");
    let got: BTreeMap<i64, String> = rows.iter().map(|r| (int(&r[0]), text(&r[1]))).collect();
    assert_eq!(got, want);
    assert_eq!(rows.len(), want.len(), "one row per gid");
    let root = query("SELECT groupname FROM groups WHERE gid = 0");
    assert_eq!(root.len(), 1);
    assert_eq!(text(&root[0][0]), want[&0]);
}

#[test]
fn user_groups_agree_with_id() {
    let rows = query("SELECT uid, gid FROM user_groups");
    let pairs: BTreeSet<(i64, i64)> = rows.iter().map(|r| (int(&r[0]), int(&r[1]))).collect();
    assert!(pairs.contains(&(0, 0)));
    // Every account's primary group is listed.
    for f in passwd_lines() {
        let (uid, gid) = (f[2].parse::<i64>().unwrap(), f[3].parse::<i64>().unwrap());
        assert!(pairs.contains(&(uid, gid)), "{f:?}");
    }
    // The root account's groups as id(1) reports them.
    let out = Command::new("id").args(["-G", "root"]).output().unwrap();
    let want: BTreeSet<i64> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|g| g.parse().ok())
        .collect();
    let rows = query("SELECT gid FROM user_groups WHERE uid = 0");
    let got: BTreeSet<i64> = rows.iter().map(|r| int(&r[0])).collect();
    assert_eq!(got, want);
}

#[test]
fn logged_in_users_agree_with_who() {
    let rows = query("SELECT user, tty FROM logged_in_users WHERE type = 'user'");
    let Ok(out) = Command::new("who").output() else {
        return;
    };
    let who: BTreeSet<(String, String)> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            Some((w.next()?.to_string(), w.next()?.to_string()))
        })
        .collect();
    let got: BTreeSet<(String, String)> = rows.iter().map(|r| (text(&r[0]), text(&r[1]))).collect();
    assert_eq!(got, who);
}

#[test]
fn last_agrees_with_utmpdump_of_wtmp() {
    let rows = query("SELECT username, tty, type, type_name, pid FROM last");
    for r in &rows {
        let kind = int(&r[2]);
        assert!(kind == 7 || kind == 8, "{r:?}");
        assert_eq!(
            text(&r[3]),
            if kind == 7 {
                "user-process"
            } else {
                "dead-process"
            }
        );
    }
    // utmpdump prints one `[type] [pid] ...` line per record.
    let Ok(out) = Command::new("utmpdump").arg("/var/log/wtmp").output() else {
        return;
    };
    let dumped = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with("[7]") || l.starts_with("[8]"))
        .count();
    assert_eq!(rows.len(), dumped);
}

/// The home directory of each uid, from /etc/passwd.
fn homes() -> BTreeMap<i64, Vec<String>> {
    let mut out: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    for f in passwd_lines() {
        out.entry(f[2].parse().unwrap())
            .or_default()
            .push(f[5].clone());
    }
    out
}

/// A file column must name an existing file below the home of the row's uid.
fn assert_files_in_homes(sql: &str) {
    let homes = homes();
    for r in query(sql) {
        let (uid, file) = (int(&r[0]), text(&r[1]));
        assert!(std::path::Path::new(&file).exists(), "{file}");
        let dirs = &homes[&uid];
        assert!(
            dirs.iter().any(|h| file.starts_with(h.as_str())),
            "{file} not in {dirs:?}"
        );
    }
}

#[test]
fn shell_history_rows_come_from_history_files_in_homes() {
    assert_files_in_homes("SELECT uid, history_file FROM shell_history");
    // root's own history, when there is one, is reported line by line.
    let home = &homes()[&0][0];
    let file = format!("{home}/.bash_history");
    let rows = query(&format!(
        "SELECT command FROM shell_history WHERE uid = 0 AND history_file = '{file}'"
    ));
    match read(&file) {
        Some(t) => {
            let commands = t
                .lines()
                .filter(|l| {
                    !(l.starts_with('#')
                        && l[1..].chars().all(|c| c.is_ascii_digit())
                        && l.len() > 1)
                })
                .count();
            assert_eq!(rows.len(), commands);
        }
        None => assert!(rows.is_empty()),
    }
    for r in query("SELECT uid FROM shell_history WHERE uid = 0") {
        assert_eq!(int(&r[0]), 0);
    }
}

#[test]
fn ssh_key_tables_read_files_in_homes() {
    assert_files_in_homes("SELECT uid, key_file FROM authorized_keys");
    assert_files_in_homes("SELECT uid, key_file FROM known_hosts");
    assert_files_in_homes("SELECT uid, path FROM user_ssh_keys");
    for r in query("SELECT algorithm, key FROM authorized_keys") {
        assert!(!text(&r[0]).is_empty() || text(&r[1]).is_empty());
    }
    for r in query("SELECT encrypted FROM user_ssh_keys") {
        assert!(matches!(int(&r[0]), 0 | 1));
    }
}

#[test]
fn ssh_configs_report_each_option_of_the_system_config() {
    let rows = query(
        "SELECT block, option, uid FROM ssh_configs WHERE ssh_config_file = '/etc/ssh/ssh_config'",
    );
    let Some(config) = read("/etc/ssh/ssh_config") else {
        assert!(rows.is_empty());
        return;
    };
    let mut want = Vec::new();
    let mut block = String::new();
    for line in config.lines().map(|l| l.trim().to_lowercase()) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.starts_with("host ") || line.starts_with("match ") {
            block = line;
        } else {
            want.push((block.clone(), line));
        }
    }
    let got: Vec<(String, String)> = rows.iter().map(|r| (text(&r[0]), text(&r[1]))).collect();
    assert_eq!(got, want);
    assert!(rows.iter().all(|r| int(&r[2]) == 0));
}

#[test]
fn sudoers_reads_etc_sudoers_when_present() {
    let rows = query("SELECT source, header, rule_details FROM sudoers");
    match read("/etc/sudoers") {
        None => assert!(rows.is_empty()),
        Some(text_) => {
            let rules = text_
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .filter(|l| !l.starts_with('#') || l.starts_with("#include"))
                .count();
            let from_main = rows
                .iter()
                .filter(|r| text(&r[0]) == "/etc/sudoers")
                .count();
            assert!(from_main <= rules && (rules == 0 || from_main > 0));
        }
    }
}

#[test]
fn shadow_lists_etc_shadow_for_root() {
    let rows = query("SELECT username, password_status, last_change FROM shadow");
    if !is_root() {
        return;
    }
    let Some(shadow) = read("/etc/shadow") else {
        assert!(rows.is_empty());
        return;
    };
    let want: Vec<String> = shadow
        .lines()
        .filter(|l| l.split(':').count() == 9)
        .map(|l| l.split(':').next().unwrap().to_string())
        .collect();
    let got: Vec<String> = rows.iter().map(|r| text(&r[0])).collect();
    assert_eq!(got, want);
    for r in &rows {
        assert!(["active", "locked", "empty", "not_set"].contains(&text(&r[1]).as_str()));
    }
    let root = query("SELECT username FROM shadow WHERE username = 'root'");
    assert_eq!(root.len(), usize::from(want.iter().any(|u| u == "root")));
}

#[test]
fn crontab_reports_the_jobs_of_cron_d() {
    let rows = query("SELECT path, minute, hour, command, event FROM crontab");
    let Ok(entries) = std::fs::read_dir("/etc/cron.d") else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(content) = std::fs::read_to_string(&path) else {
            continue;
        };
        let name = path.to_string_lossy().into_owned();
        let want: Vec<(String, String)> = content
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .filter(|w| w.len() >= 6 || (w[0].starts_with('@') && w.len() >= 2))
            .map(|w| {
                if w[0].starts_with('@') {
                    (String::new(), w[1..].join(" "))
                } else {
                    (w[0].to_string(), w[5..].join(" "))
                }
            })
            .collect();
        let got: Vec<(String, String)> = rows
            .iter()
            .filter(|r| text(&r[0]) == name)
            .map(|r| (text(&r[1]), text(&r[3])))
            .collect();
        assert_eq!(got, want, "{name}");
    }
}

/// `find -L` follows links to files, as osquery's `stat` does (`/usr/bin/sg` -> `newgrp`).
#[test]
fn suid_bin_matches_find_in_usr_bin() {
    let out = Command::new("find")
        .args([
            "-L",
            "/usr/bin",
            "-maxdepth",
            "1",
            "-type",
            "f",
            "-perm",
            "/6000",
        ])
        .output()
        .unwrap();
    let want: BTreeSet<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    let rows =
        query("SELECT path, permissions, username FROM suid_bin WHERE path LIKE '/usr/bin/%'");
    let got: BTreeSet<String> = rows
        .iter()
        .map(|r| text(&r[0]))
        .filter(|p| !p["/usr/bin/".len()..].contains('/'))
        .collect();
    assert_eq!(got, want);
    let setuid: BTreeSet<String> = {
        let out = Command::new("find")
            .args([
                "-L",
                "/usr/bin",
                "-maxdepth",
                "1",
                "-type",
                "f",
                "-perm",
                "-4000",
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    };
    for r in &rows {
        assert_eq!(
            text(&r[1]).starts_with('S'),
            setuid.contains(&text(&r[0])),
            "{r:?}"
        );
    }
    if let Some(su) = rows.iter().find(|r| text(&r[0]) == "/usr/bin/su") {
        assert_eq!(text(&su[2]), "root");
    }
}

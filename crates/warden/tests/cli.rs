//! The `warden` binary end to end: query output modes, exit codes, error messages, the shell.

use assert_cmd::Command;

fn warden() -> Command {
    Command::cargo_bin("warden").expect("binary built")
}

fn stdout_of(args: &[&str]) -> String {
    let out = warden().args(args).output().expect("runs");
    assert!(
        out.status.success(),
        "warden {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

#[test]
fn json_output_is_an_array_of_objects_with_string_values() {
    let text = stdout_of(&[
        "query",
        "--json",
        "SELECT 1 AS one, 'x' AS two, NULL AS three",
    ]);
    let rows: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    assert_eq!(
        rows,
        serde_json::json!([{"one": "1", "two": "x", "three": ""}])
    );
}

#[test]
fn csv_and_line_modes() {
    assert_eq!(
        stdout_of(&["query", "--csv", "SELECT 1 AS a, 'b,c' AS b"]),
        "a,b\n1,\"b,c\"\n"
    );
    assert_eq!(
        stdout_of(&["query", "--line", "SELECT 1 AS a, 2 AS bb"]),
        " a = 1\nbb = 2\n"
    );
}

#[test]
fn reads_sql_from_stdin() {
    let out = warden()
        .args(["query", "--csv"])
        .write_stdin("SELECT 40 + 2 AS answer;")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "answer\n42\n");
}

#[test]
fn the_process_itself_is_in_processes() {
    // The query runs in a child; its pid must be in the processes table it reads.
    let text = stdout_of(&[
        "query",
        "--csv",
        "SELECT p.name FROM processes p JOIN warden_info w USING (pid)",
    ]);
    assert_eq!(text, "name\nwarden\n");
}

#[test]
fn syntax_errors_show_sqlites_message_and_fail() {
    let out = warden().args(["query", "SELEC 1"]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("near \"SELEC\": syntax error"), "{err}");
}

#[test]
fn unknown_tables_suggest_the_nearest_names() {
    let out = warden()
        .args(["query", "SELECT * FROM proceses"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no such table: proceses"), "{err}");
    assert!(err.contains("processes"), "{err}");
}

#[test]
fn a_missing_required_column_gets_osquerys_message() {
    let out = warden()
        .args(["query", "SELECT * FROM file"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Table file was queried without a required column in the WHERE clause"),
        "{err}"
    );
}

#[test]
fn shell_runs_dot_commands_and_statements_from_stdin() {
    let script = ".tables uptim\n.schema uptime\n.mode csv\nSELECT 7 AS seven;\n.mode line\nSELECT\n  8 AS eight;\n.quit\n";
    let out = warden().arg("shell").write_stdin(script).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("  => uptime"), "{text}");
    assert!(
        text.contains("CREATE TABLE \"uptime\"(\"days\" INTEGER"),
        "{text}"
    );
    assert!(text.contains("seven\n7\n"), "{text}");
    assert!(text.contains("eight = 8"), "{text}");
}

#[test]
fn shell_reports_errors_and_keeps_going() {
    let out = warden()
        .args(["shell", "--csv"])
        .write_stdin("SELECT * FROM nope;\nSELECT 1 AS ok;\n")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such table: nope"));
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok\n1\n"));
}

#[test]
fn works_as_an_ordinary_user_with_what_that_user_can_see() {
    if !nix_is_root() {
        eprintln!("skipped: needs root to switch to an unprivileged user");
        return;
    }
    // The build directory may not be reachable by nobody (a 0700 parent): run a copy from a
    // directory anyone can enter.
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let bin = dir.path().join("warden");
    std::fs::copy(assert_cmd::cargo::cargo_bin("warden"), &bin).unwrap();
    // setpriv (util-linux) drops to nobody without a login shell.
    let out = std::process::Command::new("setpriv")
        .current_dir(dir.path())
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(&bin)
        .args([
            "query",
            "--csv",
            "SELECT (SELECT count(*) FROM processes) > 1 AS many, \
             (SELECT uid FROM processes JOIN warden_info USING (pid)) AS me, \
             (SELECT count(*) FROM shadow) AS shadow_rows",
        ])
        .output()
        .expect("setpriv runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "many,me,shadow_rows\n1,65534,0\n"
    );
}

fn nix_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

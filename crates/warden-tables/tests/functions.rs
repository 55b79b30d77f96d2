//! osquery's SQL functions through SQL, with known answers (and the system's own `sha256sum`,
//! `base64` and `dpkg --compare-versions` where one exists).

use std::io::Write;
use std::process::{Command, Stdio};

use rusqlite::types::Value;

fn one(sql: &str) -> rusqlite::Result<Value> {
    let conn = warden_tables::open()?;
    conn.query_row(sql, [], |r| r.get(0))
}

fn t(sql: &str) -> Option<String> {
    match one(sql).unwrap_or_else(|e| panic!("{sql}: {e}")) {
        Value::Null => None,
        Value::Text(s) => Some(s),
        other => panic!("{sql}: expected text, got {other:?}"),
    }
}

fn i(sql: &str) -> Option<i64> {
    match one(sql).unwrap_or_else(|e| panic!("{sql}: {e}")) {
        Value::Null => None,
        Value::Integer(v) => Some(v),
        other => panic!("{sql}: expected integer, got {other:?}"),
    }
}

fn f(sql: &str) -> f64 {
    match one(sql).unwrap_or_else(|e| panic!("{sql}: {e}")) {
        Value::Real(v) => v,
        other => panic!("{sql}: expected real, got {other:?}"),
    }
}

fn err(sql: &str) -> String {
    one(sql)
        .expect_err(&format!("{sql} should fail"))
        .to_string()
}

/// Pipes text through a command and returns its first output word.
fn piped(program: &str, args: &[&str], input: &[u8]) -> String {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect(program);
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn regex_match_returns_the_group() {
    assert_eq!(
        t("SELECT regex_match('hello world 42', '([a-z]+) ([a-z]+)', 2)").as_deref(),
        Some("world")
    );
    assert_eq!(
        t("SELECT regex_match('abc123', '[0-9]+', 0)").as_deref(),
        Some("123")
    );
    assert_eq!(t("SELECT regex_match('abc', '[0-9]+', 0)"), None);
    assert_eq!(t("SELECT regex_match('abc', '(b)', 5)"), None);
    assert_eq!(t("SELECT regex_match(NULL, 'a', 0)"), None);
    assert_eq!(err("SELECT regex_match('abc', '(', 0)"), "Invalid regex");
    let long = "a".repeat(300);
    assert!(err(&format!("SELECT regex_match('a', '{long}', 0)")).contains("too big"));
}

#[test]
fn regex_split_and_split() {
    assert_eq!(
        t(r"SELECT regex_split('192.168.0.1', '\.', 1)").as_deref(),
        Some("168")
    );
    assert_eq!(
        t(r"SELECT regex_split('a1b22c', '[0-9]+', 2)").as_deref(),
        Some("c")
    );
    assert_eq!(t(r"SELECT regex_split('a.b', '\.', 2)"), None);
    assert_eq!(t("SELECT split('a,b,c', ',', 1)").as_deref(), Some("b"));
    assert_eq!(t("SELECT split('a,,b', ',', 1)").as_deref(), Some("b"));
    assert_eq!(
        t("SELECT split('192.168.0.1', '.0', 2)").as_deref(),
        Some("1")
    );
    assert_eq!(t("SELECT split('a, b', ',', 1)").as_deref(), Some("b"));
    assert_eq!(t("SELECT split('a,b', ',', 5)"), None);
    assert_eq!(t("SELECT split('a,b', ',', -1)"), None);
    assert_eq!(t("SELECT split(NULL, ',', 0)"), None);
    assert_eq!(
        err("SELECT split('a', '', 0)"),
        "Invalid input to split function"
    );
}

#[test]
fn concat_skips_nulls() {
    assert_eq!(
        t("SELECT concat('a', NULL, 'b', 1)").as_deref(),
        Some("ab1")
    );
    assert_eq!(t("SELECT concat()"), None);
    assert_eq!(
        t("SELECT concat_ws('-', 'a', 'b', 'c')").as_deref(),
        Some("a-b-c")
    );
    // osquery keeps the separator after a value that is followed by a NULL.
    assert_eq!(
        t("SELECT concat_ws(',', 'a', NULL, 'b')").as_deref(),
        Some("a,b")
    );
    assert_eq!(t("SELECT concat_ws(',', 'a', NULL)").as_deref(), Some("a,"));
    assert_eq!(t("SELECT concat_ws(NULL, 'a', 'b')").as_deref(), Some("ab"));
}

#[test]
fn hashes_match_coreutils() {
    assert_eq!(
        t("SELECT sha256('abc')").as_deref(),
        Some("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    );
    assert_eq!(
        t("SELECT sha1('abc')").as_deref(),
        Some("a9993e364706816aba3e25717850c26c9cd0d89d")
    );
    assert_eq!(
        t("SELECT md5('abc')").as_deref(),
        Some("900150983cd24fb0d6963f7d28e17f72")
    );
    let input = "Warden function test";
    for (func, program) in [
        ("sha256", "sha256sum"),
        ("sha1", "sha1sum"),
        ("md5", "md5sum"),
    ] {
        assert_eq!(
            t(&format!("SELECT {func}('{input}')")).unwrap(),
            piped(program, &[], input.as_bytes())
        );
    }
    assert_eq!(t("SELECT sha256(NULL)"), None);
    // Numbers are hashed as their text.
    assert_eq!(t("SELECT md5(42)"), t("SELECT md5('42')"));
}

#[test]
fn base64_round_trips() {
    assert_eq!(t("SELECT to_base64('hello')").as_deref(), Some("aGVsbG8="));
    assert_eq!(
        t("SELECT to_base64('Warden')").unwrap(),
        piped("base64", &[], b"Warden")
    );
    assert_eq!(
        t("SELECT from_base64('aGVsbG8=')").as_deref(),
        Some("hello")
    );
    assert_eq!(t("SELECT from_base64('aGVsbG8')").as_deref(), Some("hello"));
    assert_eq!(t("SELECT from_base64('!!!')").as_deref(), Some(""));
    assert_eq!(
        t("SELECT conditional_to_base64('plain text')").as_deref(),
        Some("plain text")
    );
    assert_eq!(
        t("SELECT conditional_to_base64(char(1) || 'x')").as_deref(),
        Some("AXg=")
    );
    assert_eq!(t("SELECT to_base64(NULL)"), None);
}

#[test]
fn inet_aton_and_cidr() {
    assert_eq!(i("SELECT inet_aton('192.168.0.1')"), Some(3_232_235_521));
    assert_eq!(i("SELECT inet_aton('::1')"), None);
    assert_eq!(i("SELECT inet_aton('nope')"), None);
    assert_eq!(i("SELECT in_cidr_block('10.0.0.0/8', '10.1.2.3')"), Some(1));
    assert_eq!(i("SELECT in_cidr_block('10.0.0.0/8', '11.1.2.3')"), Some(0));
    assert_eq!(
        i("SELECT in_cidr_block('192.168.1.0/24', '192.168.1.255')"),
        Some(0)
    );
    assert_eq!(
        i("SELECT in_cidr_block('2001:db8::/32', '2001:db8:1::5')"),
        Some(1)
    );
    assert_eq!(i("SELECT in_cidr_block('fe80::/10', '::1')"), Some(0));
    assert_eq!(
        err("SELECT in_cidr_block('10.0.0.0/8', 'x')"),
        "IP address cannot be parsed"
    );
    assert_eq!(
        err("SELECT in_cidr_block('bad', '10.0.0.1')"),
        "CIDR for IP address v4 cannot be parsed"
    );
    assert_eq!(
        err("SELECT in_cidr_block(1, '10.0.0.1')"),
        "CIDR must be a string"
    );
}

#[test]
fn community_id() {
    assert_eq!(
        t("SELECT community_id_v1('128.232.110.120', '66.35.250.204', 34855, 80, 6)").as_deref(),
        Some("1:LQU9qZlK+B5F3KDmev6m5PMibrg=")
    );
    // Direction does not matter.
    assert_eq!(
        t("SELECT community_id_v1('66.35.250.204', '128.232.110.120', 80, 34855, 6)"),
        t("SELECT community_id_v1('128.232.110.120', '66.35.250.204', 34855, 80, 6)")
    );
    assert_ne!(
        t("SELECT community_id_v1('128.232.110.120', '66.35.250.204', 34855, 80, 6, 1)"),
        t("SELECT community_id_v1('128.232.110.120', '66.35.250.204', 34855, 80, 6)")
    );
    assert_eq!(
        t("SELECT community_id_v1('x', '66.35.250.204', 1, 2, 6)"),
        None
    );
    assert_eq!(
        err("SELECT community_id_v1_strict('x', '66.35.250.204', 1, 2, 6)"),
        "Community ID saddr cannot be parsed as IP"
    );
}

#[test]
fn parent_directory() {
    assert_eq!(
        t("SELECT parent_directory('/etc/ssh/sshd_config')").as_deref(),
        Some("/etc/ssh")
    );
    assert_eq!(t("SELECT parent_directory('/etc')").as_deref(), Some(""));
    assert_eq!(t("SELECT parent_directory('file')"), None);
    assert!(err("SELECT parent_directory(1)").contains("TEXT was expected"));
}

#[test]
fn version_compare_and_collation() {
    assert_eq!(i("SELECT version_compare('1.10', '1.9')"), Some(1));
    assert_eq!(i("SELECT version_compare('1.2', '1.2')"), Some(0));
    assert_eq!(i("SELECT version_compare('1.2', '1.2.1')"), Some(-1));
    assert_eq!(i("SELECT version_compare('1:1.0', '2.0', 'DPKG')"), Some(1));
    assert_eq!(
        i("SELECT version_compare('1.0~rc1', '1.0', 'rhel')"),
        Some(-1)
    );
    assert_eq!(i("SELECT version_compare('1.0^1', '1.0', 'RHEL')"), Some(1));
    assert!(err("SELECT version_compare('1', '2', 'BSD')").contains("(ARCH, DPKG, RHEL)"));
    assert!(err("SELECT version_compare('1')").contains("two version strings"));
    // Cross-check plain dotted versions with dpkg, when it is installed.
    let pairs = [
        ("2.36.1", "2.4"),
        ("1.0.0", "1.0"),
        ("10.2", "10.10"),
        ("3.1", "3.1"),
    ];
    for (a, b) in pairs {
        let ours = i(&format!("SELECT version_compare('{a}', '{b}', 'DPKG')")).unwrap();
        let Ok(status) = Command::new("dpkg")
            .args(["--compare-versions", a, "gt", b])
            .status()
        else {
            continue;
        };
        assert_eq!(ours == 1, status.success(), "{a} vs {b}");
    }
    let conn = warden_tables::open().unwrap();
    let sorted: Vec<String> = conn
        .prepare(
            "SELECT v FROM (SELECT '1.10' AS v UNION ALL SELECT '1.9' UNION ALL SELECT '1.2.3') \
             ORDER BY v COLLATE version",
        )
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(sorted, ["1.2.3", "1.9", "1.10"]);
}

#[test]
fn math_functions() {
    assert_eq!(f("SELECT sqrt(16)"), 4.0);
    assert!((f("SELECT pi()") - std::f64::consts::PI).abs() < 1e-15);
    assert_eq!(f("SELECT power(2, 10)"), 1024.0);
    assert!((f("SELECT log(exp(2))") - 2.0).abs() < 1e-12);
    assert_eq!(f("SELECT log10(1000)"), 3.0);
    assert!((f("SELECT degrees(pi())") - 180.0).abs() < 1e-12);
    assert!((f("SELECT radians(180)") - std::f64::consts::PI).abs() < 1e-12);
    assert!((f("SELECT sin(pi() / 2)") - 1.0).abs() < 1e-12);
    assert!((f("SELECT cos(0)") - 1.0).abs() < 1e-12);
    assert!((f("SELECT tan(atan(0.5))") - 0.5).abs() < 1e-12);
    assert!((f("SELECT cot(pi() / 4)") - 1.0).abs() < 1e-12);
    assert!((f("SELECT asin(1)") - std::f64::consts::FRAC_PI_2).abs() < 1e-12);
    assert!(f("SELECT acos(1)").abs() < 1e-12);
    assert_eq!(i("SELECT ceil(1.2)"), Some(2));
    assert_eq!(i("SELECT floor(-1.2)"), Some(-2));
    assert_eq!(i("SELECT floor(7)"), Some(7));
    assert_eq!(one("SELECT sqrt(NULL)").unwrap(), Value::Null);
    assert_eq!(err("SELECT sqrt(-1)"), "Numerical argument out of domain");
    assert_eq!(err("SELECT log(0)"), "Numerical result out of range");
    assert_eq!(err("SELECT acos(2)"), "Numerical argument out of domain");
}

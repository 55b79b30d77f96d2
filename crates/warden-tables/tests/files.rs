//! The `files` tables through SQL, checked against the system's own tools and views: `stat`,
//! `sha256sum`/`sha1sum`/`md5sum`, `file`, and xattrs the test sets itself.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use rusqlite::types::Value;

fn query(sql: &str) -> rusqlite::Result<Vec<Vec<Value>>> {
    let conn = warden_tables::open()?;
    let mut stmt = conn.prepare(sql)?;
    let n = stmt.column_count();
    let rows = stmt.query_map([], |r| (0..n).map(|i| r.get(i)).collect())?;
    rows.collect()
}

fn text(v: &Value) -> String {
    match v {
        Value::Text(s) => s.clone(),
        Value::Integer(i) => i.to_string(),
        other => panic!("expected text, got {other:?}"),
    }
}

fn int(v: &Value) -> i64 {
    match v {
        Value::Integer(i) => *i,
        other => panic!("expected integer, got {other:?}"),
    }
}

/// Quotes a string as an SQL literal.
fn lit(s: impl AsRef<str>) -> String {
    format!("'{}'", s.as_ref().replace('\'', "''"))
}

/// The first whitespace-separated word a command prints.
fn command_word(program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).output().expect(program);
    assert!(out.status.success(), "{program} {args:?} failed");
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

fn command_line(program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).output().expect(program);
    assert!(out.status.success(), "{program} {args:?} failed");
    String::from_utf8(out.stdout)
        .unwrap()
        .trim_end()
        .to_string()
}

/// A temp tree: a.txt, b.bin (3 MiB + 17 bytes, crossing read-buffer boundaries), link -> a.txt,
/// sub/c.txt, sub/deeper/d.txt.
fn tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::write(p.join("a.txt"), "hello warden\n").unwrap();
    let big: Vec<u8> = (0..(3 << 20) + 17u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(p.join("b.bin"), big).unwrap();
    std::os::unix::fs::symlink("a.txt", p.join("link")).unwrap();
    std::fs::create_dir_all(p.join("sub/deeper")).unwrap();
    std::fs::write(p.join("sub/c.txt"), "c").unwrap();
    std::fs::write(p.join("sub/deeper/d.txt"), "d").unwrap();
    dir
}

#[test]
fn hash_matches_coreutils() {
    let dir = tree();
    for name in ["a.txt", "b.bin", "sub/c.txt"] {
        let path = dir.path().join(name);
        let path = path.to_str().unwrap();
        let rows = query(&format!(
            "SELECT md5, sha1, sha256, directory FROM hash WHERE path = {}",
            lit(path)
        ))
        .unwrap();
        assert_eq!(rows.len(), 1, "{path}");
        assert_eq!(text(&rows[0][0]), command_word("md5sum", &[path]));
        assert_eq!(text(&rows[0][1]), command_word("sha1sum", &[path]));
        assert_eq!(text(&rows[0][2]), command_word("sha256sum", &[path]));
        assert_eq!(
            text(&rows[0][3]),
            Path::new(path).parent().unwrap().to_str().unwrap()
        );
    }
}

#[test]
fn hash_computes_only_selected_digests() {
    let dir = tree();
    let path = dir.path().join("a.txt");
    let rows = query(&format!(
        "SELECT sha256 FROM hash WHERE path = {}",
        lit(path.to_str().unwrap())
    ))
    .unwrap();
    assert_eq!(
        text(&rows[0][0]),
        command_word("sha256sum", &[path.to_str().unwrap()])
    );
    // A symlink is hashed as its target.
    let link = dir.path().join("link");
    let rows = query(&format!(
        "SELECT md5 FROM hash WHERE path = {}",
        lit(link.to_str().unwrap())
    ))
    .unwrap();
    assert_eq!(
        text(&rows[0][0]),
        command_word("md5sum", &[path.to_str().unwrap()])
    );
}

#[test]
fn hash_skips_directories_and_missing_files() {
    let dir = tree();
    let root = dir.path().to_str().unwrap();
    let rows = query(&format!(
        "SELECT path FROM hash WHERE path IN ({}, {})",
        lit(root),
        lit(format!("{root}/missing"))
    ))
    .unwrap();
    assert!(rows.is_empty(), "{rows:?}");
    // `directory =` hashes the regular files directly inside, not `sub`.
    let rows = query(&format!(
        "SELECT path, directory FROM hash WHERE directory = {}",
        lit(root)
    ))
    .unwrap();
    let names: BTreeSet<String> = rows
        .iter()
        .map(|r| {
            assert_eq!(text(&r[1]), root);
            text(&r[0])
        })
        .collect();
    let expected: BTreeSet<String> = ["a.txt", "b.bin", "link"]
        .iter()
        .map(|n| format!("{root}/{n}"))
        .collect();
    assert_eq!(names, expected);
}

#[test]
fn file_columns_match_stat() {
    let dir = tree();
    for name in ["a.txt", "sub", "link"] {
        let path = dir.path().join(name);
        let path = path.to_str().unwrap();
        // stat -L: osquery describes what a link points to (and flags the link itself).
        let stat = command_line(
            "stat",
            &["-L", "-c", "%i|%u|%g|%a|%s|%h|%X|%Y|%Z|%o|%F", path],
        );
        let f: Vec<&str> = stat.split('|').collect();
        let rows = query(&format!(
            "SELECT inode, uid, gid, mode, size, hard_links, atime, mtime, ctime, block_size, \
             type, symlink, symlink_target_path, filename, directory, btime \
             FROM file WHERE path = {}",
            lit(path)
        ))
        .unwrap();
        assert_eq!(rows.len(), 1, "{path}");
        let r = &rows[0];
        assert_eq!(int(&r[0]).to_string(), f[0], "inode of {path}");
        assert_eq!(int(&r[1]).to_string(), f[1]);
        assert_eq!(int(&r[2]).to_string(), f[2]);
        assert_eq!(text(&r[3]), format!("{:0>4}", f[3]), "mode of {path}");
        assert_eq!(int(&r[4]).to_string(), f[4]);
        assert_eq!(int(&r[5]).to_string(), f[5]);
        assert_eq!(int(&r[6]).to_string(), f[6]);
        assert_eq!(int(&r[7]).to_string(), f[7]);
        assert_eq!(int(&r[8]).to_string(), f[8]);
        assert_eq!(int(&r[9]).to_string(), f[9]);
        let expected_type = match f[10] {
            "regular file" | "regular empty file" => "regular",
            "directory" => "directory",
            other => panic!("unexpected stat type {other}"),
        };
        assert_eq!(text(&r[10]), expected_type);
        let is_link = name == "link";
        assert_eq!(int(&r[11]), i64::from(is_link));
        if is_link {
            assert_eq!(text(&r[12]), "a.txt");
        } else {
            assert_eq!(r[12], Value::Null);
        }
        assert_eq!(text(&r[13]), name);
        assert_eq!(text(&r[14]), dir.path().to_str().unwrap());
        // Birth time: what statx reports (stat's %W), 0 when the filesystem has none.
        let birth = command_line("stat", &["-L", "-c", "%W", path]);
        let birth: i64 = birth.parse().unwrap_or(0).max(0);
        assert_eq!(int(&r[15]), birth, "btime of {path}");
    }
}

#[test]
fn file_reports_device_nodes() {
    let rows = query("SELECT type, device, mode FROM file WHERE path = '/dev/null'").unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(text(&rows[0][0]), "character");
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata("/dev/null").unwrap();
    assert_eq!(int(&rows[0][1]) as u64, meta.rdev());
    assert_eq!(
        text(&rows[0][2]),
        format!("{:0>4}", command_line("stat", &["-c", "%a", "/dev/null"]))
    );
}

#[test]
fn missing_paths_give_no_rows() {
    let dir = tree();
    let rows = query(&format!(
        "SELECT * FROM file WHERE path = {}",
        lit(format!("{}/nope", dir.path().display()))
    ))
    .unwrap();
    assert!(rows.is_empty());
}

/// Every path below a directory, recursively.
fn walk(dir: &Path, out: &mut BTreeSet<String>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        out.insert(path.to_str().unwrap().to_string());
        if entry.file_type().unwrap().is_dir() {
            walk(&path, out);
        }
    }
}

#[test]
fn like_expands_one_level_and_double_percent_recurses() {
    let dir = tree();
    let root = dir.path().to_str().unwrap();
    let one: BTreeSet<String> = query(&format!(
        "SELECT path FROM file WHERE path LIKE {}",
        lit(format!("{root}/%"))
    ))
    .unwrap()
    .iter()
    .map(|r| text(&r[0]))
    .collect();
    let expected: BTreeSet<String> = std::fs::read_dir(root)
        .unwrap()
        .flatten()
        .map(|e| e.path().to_str().unwrap().to_string())
        .collect();
    assert_eq!(one, expected);

    let deep: BTreeSet<String> = query(&format!(
        "SELECT path FROM file WHERE path LIKE {}",
        lit(format!("{root}/%%"))
    ))
    .unwrap()
    .iter()
    .map(|r| text(&r[0]))
    .collect();
    let mut all = BTreeSet::new();
    walk(dir.path(), &mut all);
    assert_eq!(deep, all);
    assert!(deep.contains(&format!("{root}/sub/deeper/d.txt")));

    // A pattern inside a name, and GLOB.
    let txt = query(&format!(
        "SELECT filename FROM file WHERE path LIKE {}",
        lit(format!("{root}/%.txt"))
    ))
    .unwrap();
    assert_eq!(txt.len(), 1);
    assert_eq!(text(&txt[0][0]), "a.txt");
    let glob = query(&format!(
        "SELECT filename FROM file WHERE path GLOB {}",
        lit(format!("{root}/sub/*.txt"))
    ))
    .unwrap();
    assert_eq!(glob.len(), 1);
    assert_eq!(text(&glob[0][0]), "c.txt");
}

#[test]
fn directory_lists_its_entries() {
    let dir = tree();
    let root = dir.path().to_str().unwrap();
    let expected: BTreeSet<String> = std::fs::read_dir(root)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_str().unwrap().to_string())
        .collect();
    for written in [root.to_string(), format!("{root}/")] {
        let rows = query(&format!(
            "SELECT filename, directory, path FROM file WHERE directory = {}",
            lit(&written)
        ))
        .unwrap();
        let names: BTreeSet<String> = rows.iter().map(|r| text(&r[0])).collect();
        assert_eq!(names, expected, "directory = {written}");
        for r in &rows {
            assert_eq!(text(&r[1]), written);
            assert_eq!(text(&r[2]), format!("{root}/{}", text(&r[0])));
        }
    }
}

#[test]
fn required_column_error() {
    let err = query("SELECT * FROM file").unwrap_err().to_string();
    assert!(
        err.contains("Table file was queried without a required column in the WHERE clause"),
        "{err}"
    );
    let err = query("SELECT * FROM hash WHERE md5 = 'x'")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("Table hash was queried without a required column in the WHERE clause"),
        "{err}"
    );
}

#[test]
fn file_joins_hash_by_path() {
    let dir = tree();
    let root = dir.path().to_str().unwrap();
    let rows = query(&format!(
        "SELECT path, file.size, hash.sha256 FROM file JOIN hash USING (path) \
         WHERE path LIKE {} ORDER BY path",
        lit(format!("{root}/%"))
    ))
    .unwrap();
    // Regular files and the link to one; `sub` (a directory) has no hash row.
    let paths: Vec<String> = rows.iter().map(|r| text(&r[0])).collect();
    assert_eq!(
        paths,
        ["a.txt", "b.bin", "link"]
            .iter()
            .map(|n| format!("{root}/{n}"))
            .collect::<Vec<_>>()
    );
    for r in &rows {
        let path = text(&r[0]);
        assert_eq!(int(&r[1]) as u64, std::fs::metadata(&path).unwrap().len());
        assert_eq!(text(&r[2]), command_word("sha256sum", &[&path]));
    }
}

#[test]
fn magic_matches_the_file_command() {
    let dir = tree();
    let script = dir.path().join("script.sh");
    std::fs::write(&script, "#!/bin/sh\necho hi\n").unwrap();
    let mut paths = vec![
        dir.path().join("a.txt").to_str().unwrap().to_string(),
        dir.path().join("b.bin").to_str().unwrap().to_string(),
        dir.path().join("link").to_str().unwrap().to_string(),
        script.to_str().unwrap().to_string(),
    ];
    if let Ok(exe) = std::env::current_exe() {
        paths.push(exe.to_str().unwrap().to_string());
    }
    for path in &paths {
        let rows = query(&format!(
            "SELECT data, mime_type, mime_encoding FROM magic WHERE path = {}",
            lit(path)
        ))
        .unwrap();
        assert_eq!(rows.len(), 1, "{path}");
        assert_eq!(text(&rows[0][0]), command_line("file", &["-b", path]));
        assert_eq!(
            text(&rows[0][1]),
            command_line("file", &["-b", "--mime-type", path])
        );
        assert_eq!(
            text(&rows[0][2]),
            command_line("file", &["-b", "--mime-encoding", path])
        );
    }
    let rows = query(&format!(
        "SELECT * FROM magic WHERE path = {}",
        lit(format!("{}/missing", dir.path().display()))
    ))
    .unwrap();
    assert!(rows.is_empty());

    // An explicit database is used and reported; one that cannot be loaded gives no rows.
    let a = lit(&paths[0]);
    let db = "/usr/share/misc/magic.mgc";
    if Path::new(db).exists() {
        let rows = query(&format!(
            "SELECT magic_db_files, mime_type FROM magic WHERE path = {a} AND magic_db_files = '{db}'"
        ))
        .unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(text(&rows[0][0]), db);
        assert_eq!(text(&rows[0][1]), "text/plain");
    }
    let rows = query(&format!(
        "SELECT * FROM magic WHERE path = {a} AND magic_db_files = '/no/such/magic.mgc'"
    ))
    .unwrap();
    assert!(rows.is_empty());
}

/// Sets an xattr; `false` if the filesystem does not support user xattrs.
fn set_xattr(path: &Path, name: &str, value: &[u8]) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let p = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    let n = std::ffi::CString::new(name).unwrap();
    // SAFETY: both strings are NUL-terminated and `value` is valid for its length.
    let rc = unsafe {
        libc::setxattr(
            p.as_ptr(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    rc == 0
}

#[test]
fn extended_attributes_report_user_xattrs() {
    let dir = tree();
    let path = dir.path().join("a.txt");
    if !set_xattr(&path, "user.warden.text", b"plain value\0") {
        eprintln!(
            "skipped: {} does not support user xattrs",
            dir.path().display()
        );
        return;
    }
    assert!(set_xattr(&path, "user.warden.raw", b"\x01\x02raw"));
    assert!(set_xattr(
        &path,
        "user.xdg.origin.url",
        b"https://example.com/a.txt"
    ));
    let rows = query(&format!(
        "SELECT key, value, base64, directory FROM extended_attributes WHERE path = {} \
         AND key LIKE 'user.%' ORDER BY key",
        lit(path.to_str().unwrap())
    ))
    .unwrap();
    let got: Vec<(String, String, i64)> = rows
        .iter()
        .map(|r| {
            assert_eq!(text(&r[3]), dir.path().to_str().unwrap());
            (text(&r[0]), text(&r[1]), int(&r[2]))
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("user.warden.raw".to_string(), "AQJyYXc=".to_string(), 1),
            ("user.warden.text".to_string(), "plain value".to_string(), 0),
            (
                "user.xdg.origin.url".to_string(),
                "https://example.com/a.txt".to_string(),
                0
            ),
        ]
    );
    // `directory =` covers the file too; a file without xattrs adds no rows.
    let rows = query(&format!(
        "SELECT path FROM extended_attributes WHERE directory = {} AND key LIKE 'user.%'",
        lit(dir.path().to_str().unwrap())
    ))
    .unwrap();
    // a.txt directly, and `link`, which resolves to it.
    assert_eq!(rows.len(), 6, "{rows:?}");
}

/// Throughput of `SELECT sha256 FROM hash` against `sha256sum` on a 200 MB file (warm cache,
/// best of three each). Meaningful only in a release build:
/// `cargo test --release -p warden-tables --test files -- --ignored --nocapture`.
#[test]
#[ignore = "benchmark; run in release with --ignored"]
fn sha256_throughput_against_sha256sum() {
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.bin");
    let chunk: Vec<u8> = (0..1u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
        .collect();
    {
        let mut f = std::fs::File::create(&path).unwrap();
        for _ in 0..200 {
            std::io::Write::write_all(&mut f, &chunk).unwrap();
        }
    }
    let path = path.to_str().unwrap().to_string();
    let expected = command_word("sha256sum", &[&path]); // also warms the page cache
    let best = |mut run: Box<dyn FnMut()>| -> Duration {
        (0..3)
            .map(|_| {
                let start = Instant::now();
                run();
                start.elapsed()
            })
            .min()
            .unwrap()
    };
    let sql = format!("SELECT sha256 FROM hash WHERE path = {}", lit(&path));
    let ours = best(Box::new(move || {
        let rows = query(&sql).unwrap();
        assert_eq!(text(&rows[0][0]), expected);
    }));
    let p = path.clone();
    let theirs = best(Box::new(move || {
        command_word("sha256sum", &[&p]);
    }));
    let mb = 200.0 * 1.048_576;
    let ours_rate = mb / ours.as_secs_f64();
    let theirs_rate = mb / theirs.as_secs_f64();
    println!(
        "hash.sha256: {ours:?} ({ours_rate:.0} MB/s); sha256sum: {theirs:?} ({theirs_rate:.0} MB/s); \
         ratio {:.2}",
        ours_rate / theirs_rate
    );
    assert!(ours_rate >= 0.9 * theirs_rate);
}

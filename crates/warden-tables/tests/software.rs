//! The software tables through SQL, compared with the system's own tools and files: dpkg-query,
//! pip, npm, the apt and systemd configuration, and fixtures the tests create.

use std::collections::BTreeSet;
use std::process::Command;

use rusqlite::types::Value;

fn query(sql: &str) -> Vec<Vec<Value>> {
    let conn = warden_tables::open().expect("open");
    let mut stmt = conn.prepare(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    let n = stmt.column_count();
    let rows = stmt
        .query_map([], |r| (0..n).map(|i| r.get(i)).collect())
        .unwrap();
    rows.collect::<Result<_, _>>().unwrap()
}

fn text(v: &Value) -> String {
    match v {
        Value::Text(s) => s.clone(),
        Value::Integer(i) => i.to_string(),
        Value::Null => String::new(),
        other => format!("{other:?}"),
    }
}

/// A command's stdout, or `None` when the tool is not installed here.
fn run(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn deb_packages_match_dpkg_query() {
    let Some(out) = run(
        "dpkg-query",
        &[
            "-W",
            "-f",
            "${Package}\t${Architecture}\t${Version}\t${db:Status-Status}\n",
        ],
    ) else {
        return; // not a Debian system
    };
    let expected: BTreeSet<(String, String, String)> = out
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f.len() == 4 && f[3] == "installed")
                .then(|| (f[0].to_string(), f[1].to_string(), f[2].to_string()))
        })
        .collect();
    assert!(!expected.is_empty());
    let got: BTreeSet<(String, String, String)> = query(
        "SELECT name, arch, version FROM deb_packages WHERE status = 'install ok installed' \
         OR status LIKE 'hold ok installed'",
    )
    .iter()
    .map(|r| (text(&r[0]), text(&r[1]), text(&r[2])))
    .collect();
    assert_eq!(got, expected);
    // Every row carries the default admindir and a revision consistent with its version.
    for r in query("SELECT version, revision, admindir FROM deb_packages") {
        assert_eq!(text(&r[2]), "/var/lib/dpkg");
        let (version, revision) = (text(&r[0]), text(&r[1]));
        if revision.is_empty() {
            assert!(!version.contains('-'), "{version}");
        } else {
            assert!(
                version.ends_with(&format!("-{revision}")),
                "{version} {revision}"
            );
        }
    }
}

#[test]
fn deb_packages_size_and_source_match_dpkg_query() {
    let Some(out) = run(
        "dpkg-query",
        &[
            "-W",
            "-f",
            "${Package}\t${Installed-Size}\t${Source}\n",
            "dpkg",
        ],
    ) else {
        return;
    };
    let f: Vec<&str> = out.trim_end_matches('\n').split('\t').collect();
    let rows =
        query("SELECT size, source, section, priority FROM deb_packages WHERE name = 'dpkg'");
    assert_eq!(rows.len(), 1);
    assert_eq!(text(&rows[0][0]), f[1]);
    assert_eq!(text(&rows[0][1]), f[2]);
    assert!(!text(&rows[0][2]).is_empty());
}

#[test]
fn deb_packages_admindir_selects_a_fixture_database() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("status"),
        "Package: hello\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1:2.10-3\n\
         Installed-Size: 280\nMaintainer: Someone <s@example.org>\nSection: devel\nPriority: optional\n\n\
         Package: gone\nStatus: purge ok not-installed\n",
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("info")).unwrap();
    std::fs::write(dir.path().join("info/hello.list"), "/.\n/usr/bin/hello\n").unwrap();
    let d = dir.path().display();
    let rows = query(&format!(
        "SELECT name, version, revision, size, admindir, section FROM deb_packages WHERE admindir = '{d}'"
    ));
    assert_eq!(rows.len(), 1);
    assert_eq!(text(&rows[0][0]), "hello");
    assert_eq!(text(&rows[0][1]), "1:2.10-3");
    assert_eq!(text(&rows[0][2]), "3");
    assert_eq!(rows[0][3], Value::Integer(280));
    assert_eq!(text(&rows[0][4]), d.to_string());
    let files = query(&format!(
        "SELECT package, path FROM deb_package_files WHERE admindir = '{d}'"
    ));
    let paths: Vec<String> = files.iter().map(|r| text(&r[1])).collect();
    assert_eq!(paths, vec!["/.", "/usr/bin/hello"]);
    // A directory that is not a dpkg database gives no rows, not an error.
    assert!(query("SELECT * FROM deb_packages WHERE admindir = '/nonexistent'").is_empty());
}

#[test]
fn deb_package_files_match_dpkg_listfiles() {
    let Some(out) = run("dpkg-query", &["-L", "dpkg"]) else {
        return;
    };
    let expected: Vec<String> = out
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    let got: Vec<String> = query("SELECT path FROM deb_package_files WHERE package = 'dpkg'")
        .iter()
        .map(|r| text(&r[0]))
        .collect();
    // dpkg-query -L also prints diversion notes; every listed path must be in the table.
    for p in expected.iter().filter(|p| p.starts_with('/')) {
        assert!(got.contains(p), "{p} missing");
    }
    assert!(got.iter().any(|p| p == "/usr/bin/dpkg"));
}

#[test]
fn apt_sources_follow_the_configured_files() {
    let rows = query("SELECT name, source, base_uri, release, maintainer FROM apt_sources");
    // Each `URIs`/`Suites` pair of the .sources files and each deb line of the .list files.
    let mut expected = 0;
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir("/etc/apt/sources.list.d")
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.push("/etc/apt/sources.list".into());
    for f in &files {
        let Ok(t) = std::fs::read_to_string(f) else {
            continue;
        };
        let ext = f.extension().and_then(|e| e.to_str()).unwrap_or("");
        if ext == "sources" {
            for stanza in t.split("\n\n") {
                let field = |k: &str| {
                    stanza
                        .lines()
                        .find_map(|l| l.strip_prefix(&format!("{k}:")))
                        .map_or(0, |v| v.split_whitespace().count())
                };
                let is_deb = stanza
                    .lines()
                    .any(|l| l.starts_with("Types:") && l.split_whitespace().any(|w| w == "deb"));
                if is_deb && !stanza.contains("Enabled: no") {
                    expected += field("URIs") * field("Suites");
                }
            }
        } else if ext == "list" || f.ends_with("sources.list") {
            expected += t
                .lines()
                .filter(|l| l.trim_start().starts_with("deb "))
                .count();
        }
    }
    assert_eq!(rows.len(), expected, "{rows:?}");
    for r in &rows {
        let uri = text(&r[2]);
        assert!(uri.contains("://") && !uri.ends_with('/'), "{uri}");
        assert!(text(&r[0]).starts_with(uri.split_once("://").unwrap().1));
        assert!(std::path::Path::new(&text(&r[1])).is_file());
    }
    // deb.debian.org's lists are downloaded on this kind of host: the Release file fills in
    // the codename and origin.
    let release = "/var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_InRelease";
    if let Some(r) = rows.iter().find(|r| {
        text(&r[2]) == "http://deb.debian.org/debian" && text(&r[0]).ends_with(" bookworm")
    }) && std::path::Path::new(release).exists()
    {
        assert_eq!(text(&r[3]), "bookworm");
        assert_eq!(text(&r[4]), "Debian");
    }
}

#[test]
fn rpm_tables_without_an_rpm_database_are_empty() {
    let has_db = [
        "/var/lib/rpm/rpmdb.sqlite",
        "/usr/lib/sysimage/rpm/rpmdb.sqlite",
    ]
    .iter()
    .any(|p| std::path::Path::new(p).exists());
    let packages = query("SELECT name FROM rpm_packages");
    let files = query("SELECT path FROM rpm_package_files WHERE package = 'rpm'");
    if !has_db {
        assert!(packages.is_empty());
        assert!(files.is_empty());
    } else if let Some(out) = run("rpm", &["-qa", "--qf", "%{NAME}\n"]) {
        let expected: BTreeSet<String> = out.lines().map(str::to_string).collect();
        let got: BTreeSet<String> = packages.iter().map(|r| text(&r[0])).collect();
        assert_eq!(got, expected);
    }
}

#[test]
fn systemd_units_follow_the_unit_files() {
    let rows = query(
        "SELECT id, load_state, unit_file_state, fragment_path, object_path FROM systemd_units",
    );
    if !std::path::Path::new("/lib/systemd/system").is_dir()
        && !std::path::Path::new("/usr/lib/systemd/system").is_dir()
    {
        assert!(rows.is_empty());
        return;
    }
    assert!(!rows.is_empty());
    for r in &rows {
        let (id, fragment) = (text(&r[0]), text(&r[3]));
        assert!(std::fs::symlink_metadata(&fragment).is_ok(), "{fragment}");
        assert!(!id.contains("@."), "templates are not units: {id}");
        assert!(text(&r[4]).starts_with("/org/freedesktop/systemd1/unit/"));
    }
    // Every link in /etc/systemd/system/*.wants names an enabled unit (when its file exists).
    for wants in std::fs::read_dir("/etc/systemd/system").unwrap().flatten() {
        if !wants.file_name().to_string_lossy().ends_with(".wants") {
            continue;
        }
        for link in std::fs::read_dir(wants.path()).unwrap().flatten() {
            if !link.path().exists() {
                continue;
            }
            let name = link.file_name().to_string_lossy().into_owned();
            let row = rows.iter().find(|r| text(&r[0]) == name);
            let row = row.unwrap_or_else(|| panic!("{name} not listed"));
            assert_eq!(text(&row[2]), "enabled", "{name}");
            assert_eq!(text(&row[1]), "loaded", "{name}");
        }
    }
    // A unit file in the vendor directory with no [Install] section is static.
    let units = query(
        "SELECT id, fragment_path, unit_file_state FROM systemd_units WHERE unit_file_state = 'static'",
    );
    for r in units.iter().take(20) {
        let text_of = std::fs::read_to_string(text(&r[1])).unwrap_or_default();
        assert!(!text_of.contains("WantedBy="), "{}", text(&r[0]));
    }
}

#[test]
fn startup_items_list_init_scripts_and_enabled_units() {
    let rows = query("SELECT name, path, type, source, status FROM startup_items");
    let scripts: BTreeSet<String> = std::fs::read_dir("/etc/init.d")
        .map(|d| {
            d.flatten()
                .filter(|e| e.path().is_file())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    let listed: BTreeSet<String> = rows
        .iter()
        .filter(|r| text(&r[3]) == "/etc/init.d/")
        .map(|r| text(&r[0]))
        .collect();
    assert_eq!(listed, scripts);
    let mut links = BTreeSet::new();
    if let Ok(d) = std::fs::read_dir("/etc/systemd/system") {
        for w in d
            .flatten()
            .filter(|w| w.file_name().to_string_lossy().ends_with(".wants"))
        {
            for l in std::fs::read_dir(w.path()).unwrap().flatten() {
                links.insert(l.file_name().to_string_lossy().into_owned());
            }
        }
    }
    let units: BTreeSet<String> = rows
        .iter()
        .filter(|r| text(&r[2]) == "systemd unit" && text(&r[3]).starts_with("/etc/"))
        .filter(|r| text(&r[3]).ends_with(".wants"))
        .map(|r| text(&r[0]))
        .collect();
    assert_eq!(units, links);
}

#[test]
fn startup_items_read_a_users_autostart_entry() {
    // The table reports every account's ~/.config/autostart; the test uses its own home.
    let fixture = HomeFixture::create(".config/autostart");
    let Some(dir) = &fixture.0 else { return };
    let file = dir.join("warden-test-startup.desktop");
    std::fs::write(
        &file,
        "[Desktop Entry]\nType=Application\nName=Warden Test\nExec=/usr/bin/true --flag\n",
    )
    .unwrap();
    let rows =
        query("SELECT path, args, status, source FROM startup_items WHERE name = 'Warden Test'");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(text(&rows[0][0]), "/usr/bin/true");
    assert_eq!(text(&rows[0][1]), "--flag");
    assert_eq!(text(&rows[0][2]), "enabled");
    assert_eq!(text(&rows[0][3]), format!("{}/", dir.display()));
}

#[test]
fn python_packages_match_pip() {
    let Some(site) = run(
        "python3",
        &[
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['purelib'])",
        ],
    ) else {
        return;
    };
    let site = site.trim().to_string();
    let Some(out) = run(
        "python3",
        &["-m", "pip", "list", "--format=json", "--path", &site],
    ) else {
        return;
    };
    let norm = |s: &str| s.to_ascii_lowercase().replace(['_', '.'], "-");
    let expected: BTreeSet<(String, String)> = serde_json::from_str::<serde_json::Value>(&out)
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                norm(p["name"].as_str().unwrap()),
                p["version"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let got: BTreeSet<(String, String)> = query(&format!(
        "SELECT name, version FROM python_packages WHERE directory = '{site}'"
    ))
    .iter()
    .map(|r| (norm(&text(&r[0])), text(&r[1])))
    .collect();
    assert_eq!(got, expected);
}

#[test]
fn python_packages_report_system_sites_as_uid_0() {
    let rows =
        query("SELECT directory, uid, path FROM python_packages WHERE directory LIKE '/usr/%'");
    for r in &rows {
        assert_eq!(r[1], Value::Integer(0));
        assert!(text(&r[2]).starts_with(&text(&r[0])));
    }
}

#[test]
fn npm_packages_match_npm_ls() {
    let Some(prefix) = run("npm", &["prefix", "-g"]) else {
        return;
    };
    let lib = format!("{}/lib", prefix.trim());
    let Some(out) = run("npm", &["ls", "-g", "--depth=0", "--json"]) else {
        return;
    };
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    let expected: BTreeSet<(String, String)> = doc["dependencies"]
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), v["version"].as_str().unwrap_or("").to_string()))
                .collect()
        })
        .unwrap_or_default();
    let got: BTreeSet<(String, String)> = query(&format!(
        "SELECT name, version FROM npm_packages WHERE directory = '{lib}' AND depth = 0"
    ))
    .iter()
    .map(|r| (text(&r[0]), text(&r[1])))
    .collect();
    assert_eq!(got, expected);
    // Without a directory constraint the global prefix is searched too.
    let all = query("SELECT DISTINCT directory FROM npm_packages");
    assert!(all.iter().any(|r| text(&r[0]) == lib), "{all:?}");
}

#[test]
fn npm_packages_max_depth_limits_nesting() {
    let dir = tempfile::tempdir().unwrap();
    let nm = dir.path().join("node_modules");
    std::fs::create_dir_all(nm.join("a/node_modules/b")).unwrap();
    std::fs::write(
        nm.join("a/package.json"),
        r#"{"name":"a","version":"1.0.0"}"#,
    )
    .unwrap();
    std::fs::write(
        nm.join("a/node_modules/b/package.json"),
        r#"{"name":"b","version":"2.0.0"}"#,
    )
    .unwrap();
    let d = dir.path().display();
    let deep = query(&format!(
        "SELECT name, depth FROM npm_packages WHERE directory = '{d}' ORDER BY name"
    ));
    assert_eq!(deep.len(), 2);
    assert_eq!(deep[1], vec![Value::Text("b".into()), Value::Integer(1)]);
    let shallow = query(&format!(
        "SELECT name FROM npm_packages WHERE directory = '{d}' AND max_depth = 0"
    ));
    assert_eq!(shallow.len(), 1);
}

/// Creates `rel` under $HOME for the duration of a test, only when nothing is there yet.
struct HomeFixture(Option<std::path::PathBuf>);

impl HomeFixture {
    fn create(rel: &str) -> HomeFixture {
        let Ok(home) = std::env::var("HOME") else {
            return HomeFixture(None);
        };
        let root = std::path::Path::new(&home).join(rel);
        if root.exists() || std::fs::create_dir_all(&root).is_err() {
            return HomeFixture(None);
        }
        HomeFixture(Some(root))
    }
}

impl Drop for HomeFixture {
    fn drop(&mut self) {
        if let Some(root) = &self.0 {
            std::fs::remove_dir_all(root).ok();
        }
    }
}

#[test]
fn vscode_extensions_read_a_users_extensions_json() {
    let fixture = HomeFixture::create(".vscode-oss");
    let Some(root) = &fixture.0 else { return };
    std::fs::create_dir_all(root.join("extensions")).unwrap();
    std::fs::write(
        root.join("extensions/extensions.json"),
        r#"[{"identifier":{"id":"warden.test-ext"},"version":"1.2.3","location":{"path":"/x/warden.test-ext-1.2.3"},
            "metadata":{"id":"0000-1111","publisherId":"p1","publisherDisplayName":"Warden","installedTimestamp":1700000000000,"isPreReleaseVersion":true}}]"#,
    )
    .unwrap();
    let uid = nix_uid();
    let rows = query(&format!(
        "SELECT name, version, publisher, installed_at, prerelease, vscode_edition FROM vscode_extensions WHERE uid = {uid}"
    ));
    let row = rows
        .iter()
        .find(|r| text(&r[0]) == "warden.test-ext")
        .expect("fixture listed");
    assert_eq!(text(&row[1]), "1.2.3");
    assert_eq!(text(&row[2]), "Warden");
    assert_eq!(row[3], Value::Integer(1_700_000_000_000));
    assert_eq!(row[4], Value::Integer(1));
    assert_eq!(text(&row[5]), "vscodium");
}

#[test]
fn firefox_addons_read_a_users_profile() {
    let fixture = HomeFixture::create(".config/mozilla");
    let Some(root) = &fixture.0 else { return };
    let profile = root.join("firefox/abcd.default-release");
    std::fs::create_dir_all(&profile).unwrap();
    std::fs::write(
        profile.join("extensions.json"),
        r#"{"addons":[{"id":"warden@test","type":"extension","version":"0.1","active":true,"visible":true,"userDisabled":false,
            "location":"app-profile","defaultLocale":{"name":"Warden Test Addon","creator":"W"}}]}"#,
    )
    .unwrap();
    let rows = query(&format!(
        "SELECT name, identifier, active, disabled, location FROM firefox_addons WHERE uid = {}",
        nix_uid()
    ));
    let row = rows
        .iter()
        .find(|r| text(&r[1]) == "warden@test")
        .expect("fixture listed");
    assert_eq!(text(&row[0]), "Warden Test Addon");
    assert_eq!(row[2], Value::Integer(1));
    assert_eq!(row[3], Value::Integer(0));
}

#[test]
fn chrome_extensions_read_a_users_profile() {
    let fixture = HomeFixture::create(".config/vivaldi");
    let Some(root) = &fixture.0 else { return };
    let profile = root.join("Default");
    let ext = profile.join("Extensions/abcdefghijklmnopabcdefghijklmnop/1.0_0");
    std::fs::create_dir_all(&ext).unwrap();
    let manifest = r#"{"name":"Warden Chrome Test","version":"1.0","permissions":["tabs"],"content_scripts":[{"matches":["https://*/*"],"js":["c.js"]}]}"#;
    std::fs::write(ext.join("manifest.json"), manifest).unwrap();
    std::fs::write(
        profile.join("Preferences"),
        r#"{"profile":{"name":"Warden"},"extensions":{"settings":{"abcdefghijklmnopabcdefghijklmnop":{"path":"abcdefghijklmnopabcdefghijklmnop/1.0_0","state":1}}}}"#,
    )
    .unwrap();
    let uid = nix_uid();
    let rows = query(&format!(
        "SELECT name, browser_type, profile, referenced, permissions, manifest_hash, state FROM chrome_extensions WHERE uid = {uid}"
    ));
    let row = rows
        .iter()
        .find(|r| text(&r[0]) == "Warden Chrome Test")
        .expect("fixture listed");
    assert_eq!(text(&row[1]), "vivaldi");
    assert_eq!(text(&row[2]), "Warden");
    assert_eq!(row[3], Value::Integer(1));
    assert_eq!(text(&row[4]), "tabs");
    let sha = run("sha256sum", &[ext.join("manifest.json").to_str().unwrap()]).unwrap_or_default();
    if let Some(expected) = sha.split_whitespace().next() {
        assert_eq!(text(&row[5]), expected);
    }
    assert_eq!(text(&row[6]), "1");
    let scripts = query(&format!(
        "SELECT script, match, identifier FROM chrome_extension_content_scripts WHERE uid = {uid}"
    ));
    assert!(scripts.iter().any(|r| text(&r[0]) == "c.js"
        && text(&r[1]) == "https://*/*"
        && text(&r[2]) == "abcdefghijklmnopabcdefghijklmnop"));
}

fn nix_uid() -> u32 {
    nix::unistd::getuid().as_raw()
}

#[test]
fn distribution_specific_tables_are_empty_without_their_sources() {
    if !std::path::Path::new("/var/db/pkg").exists() {
        assert!(query("SELECT * FROM portage_packages").is_empty());
        assert!(query("SELECT * FROM portage_use").is_empty());
    }
    if !std::path::Path::new("/etc/portage").exists() {
        assert!(query("SELECT * FROM portage_keywords").is_empty());
    }
    if !std::path::Path::new("/etc/yum.repos.d").exists()
        && !std::path::Path::new("/etc/yum.conf").exists()
    {
        assert!(query("SELECT * FROM yum_sources").is_empty());
    }
}

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

/// `warden events` over a store and over the same events as JSON lines.
mod events {
    use std::path::{Path, PathBuf};

    use assert_cmd::Command;
    use warden_core::{
        BootId, Event, EventKind, ExecEvent, ExitEvent, FileAction, FileEvent, ForkEvent,
        LossEvent, NetAction, NetworkEvent, Parent, Process, ProcessKey, SocketAddress, Source,
    };
    use warden_store::{Retention, Store, StoredEvent};

    const T0: i64 = 1_795_816_800_000_000_000;
    /// A renamed file's new name with everything XML and one-line text must escape, and a
    /// byte that is not UTF-8.
    const NASTY_PATH: &[u8] = b"/tmp/new \"q\" 'a' <b>&c\nline\x01\xff";

    fn process(pid: u32) -> Process {
        let key = |pid, start_ticks| ProcessKey {
            boot: BootId([3; 16]),
            pid,
            start_ticks,
        };
        Process {
            key: Some(key(pid, 100)),
            pid,
            ppid: Some(1),
            uid: Some(1000),
            exe: Some(b"/usr/bin/tool".to_vec()),
            args: vec![b"tool".to_vec(), b"<arg>".to_vec()].into(),
            parent: Some(Parent {
                key: Some(key(1, 1)),
                pid: 1,
                ..Parent::default()
            }),
            ..Process::default()
        }
    }

    fn ip(addr: &str, port: u16) -> Option<SocketAddress> {
        Some(SocketAddress::Ip {
            addr: addr.parse().unwrap(),
            port,
        })
    }

    fn network(
        action: NetAction,
        local: Option<SocketAddress>,
        remote: Option<SocketAddress>,
        errno: Option<&str>,
    ) -> EventKind {
        EventKind::Network(NetworkEvent {
            syscall: Some(action.name().into()),
            transport: Some("tcp".into()),
            local,
            remote,
            fd: Some(3),
            success: errno.is_none(),
            exit: Some(if errno.is_some() { -111 } else { 0 }),
            errno: errno.map(String::from),
            ..NetworkEvent::new(process(300), action, Source::Audit)
        })
    }

    fn file(action: FileAction, path: &[u8], old_path: Option<&[u8]>, success: bool) -> EventKind {
        EventKind::File(FileEvent {
            old_path: old_path.map(<[u8]>::to_vec),
            success,
            ..FileEvent::new(process(400), action, Source::Fanotify, path.to_vec())
        })
    }

    /// One event of every class, the network and file ones with the fields filters look at.
    fn sample_events() -> Vec<Event> {
        let kinds = vec![
            EventKind::Exec(ExecEvent {
                process: process(100),
                source: Source::Audit,
                syscall: Some("execve".into()),
                success: true,
                exit: Some(0),
                script: None,
            }),
            EventKind::Fork(ForkEvent {
                child: process(101),
            }),
            network(
                NetAction::Connect,
                ip("10.0.0.5", 40000),
                ip("93.184.216.34", 443),
                None,
            ),
            network(
                NetAction::Connect,
                ip("10.0.0.5", 40001),
                ip("10.1.2.3", 5432),
                Some("ECONNREFUSED"),
            ),
            network(
                NetAction::Accept,
                ip("::1", 22),
                ip("2001:db8::9", 50000),
                None,
            ),
            file(FileAction::Rename, NASTY_PATH, Some(b"/etc/old.conf"), true),
            file(FileAction::CloseWrite, b"/var/log/app.log", None, true),
            file(FileAction::Delete, b"/tmp/gone", None, false),
            EventKind::Exit(ExitEvent {
                process: process(100),
                exit_code: Some(0),
                signal: None,
                duration_ns: Some(1),
            }),
            EventKind::Loss(LossEvent {
                source: "audit".into(),
                cause: "kernel_lost".into(),
                count: 2,
            }),
            file(FileAction::Create, b"/tmp/created", None, true),
        ];
        kinds
            .into_iter()
            .enumerate()
            .map(|(i, kind)| Event {
                time_ns: T0 + i as i64 * 1_000_000_000,
                host: "host1".into(),
                kind,
            })
            .collect()
    }

    /// A store and a JSON-lines file holding the sample events (the file also has a line that
    /// is not Warden's).
    struct Fixture {
        dir: tempfile::TempDir,
    }

    impl Fixture {
        fn new() -> Fixture {
            let dir = tempfile::tempdir().unwrap();
            let store = Store::open(dir.path().join("data"), Retention::default()).unwrap();
            let mut writer = store.writer().unwrap();
            let mut lines = String::new();
            let mut stored = Vec::new();
            for (i, event) in sample_events().iter().enumerate() {
                let line = warden_core::to_ecs_line(event);
                if i == 4 {
                    lines.push_str("{\"not\": \"warden\"}\n");
                }
                lines.push_str(&line);
                lines.push('\n');
                stored.push(StoredEvent::from_event(event.clone()));
            }
            writer.insert_batch(&stored).unwrap();
            std::fs::write(dir.path().join("events.jsonl"), lines).unwrap();
            Fixture { dir }
        }

        fn data_dir(&self) -> PathBuf {
            self.dir.path().join("data")
        }

        fn jsonl(&self) -> PathBuf {
            self.dir.path().join("events.jsonl")
        }

        fn run(&self, source: &[&str], args: &[&str]) -> std::process::Output {
            Command::cargo_bin("warden")
                .unwrap()
                .arg("events")
                .args(source)
                .args(args)
                .output()
                .unwrap()
        }

        /// Standard output of `warden events ARGS` over the store, checked to be the same
        /// over the JSON-lines file.
        fn events(&self, args: &[&str]) -> String {
            let data_dir = self.data_dir();
            let jsonl = self.jsonl();
            let from_store = self.run(&["--data-dir", path_str(&data_dir)], args);
            let from_file = self.run(&["--input", path_str(&jsonl)], args);
            for out in [&from_store, &from_file] {
                assert!(
                    out.status.success(),
                    "warden events {args:?}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            assert_eq!(
                String::from_utf8_lossy(&from_store.stdout),
                String::from_utf8_lossy(&from_file.stdout),
                "store and --input disagree on {args:?}"
            );
            let note = String::from_utf8_lossy(&from_file.stderr);
            assert!(
                note.contains("1 line skipped: not Warden JSON (first at line 5: "),
                "{note}"
            );
            String::from_utf8(from_store.stdout).unwrap()
        }

        /// The actions of the events `warden events ARGS --format json` prints, with the
        /// last path segment of file events (`rename`, `create:created`...).
        fn actions(&self, args: &[&str]) -> Vec<String> {
            let mut all = args.to_vec();
            all.extend(["--format", "json"]);
            self.events(&all)
                .lines()
                .map(|line| {
                    let v: serde_json::Value = serde_json::from_str(line).unwrap();
                    let action = v["event"]["action"].as_str().unwrap().to_string();
                    match v["file"]["name"].as_str() {
                        Some(name) if action != "rename" => format!("{action}:{name}"),
                        _ => action,
                    }
                })
                .collect()
        }
    }

    /// The child elements of `node` named `name`.
    fn child<'a, 'input>(
        node: roxmltree::Node<'a, 'input>,
        name: &str,
    ) -> Vec<roxmltree::Node<'a, 'input>> {
        node.children()
            .filter(|c| c.tag_name().name() == name)
            .collect()
    }

    fn path_str(p: &Path) -> &str {
        p.to_str().unwrap()
    }

    /// The store keeps events as the agent handled them (each source read at its own pace);
    /// they are printed in their own time order.
    #[test]
    fn events_are_printed_in_time_order() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let store = Store::open(&data, Retention::default()).unwrap();
        let mut writer = store.writer().unwrap();
        let at = |seconds: i64, name: &[u8]| {
            StoredEvent::from_event(Event {
                time_ns: T0 + seconds * 1_000_000_000,
                host: "host1".into(),
                kind: file(FileAction::Create, name, None, true),
            })
        };
        writer
            .insert_batch(&[at(2, b"/tmp/third"), at(0, b"/tmp/first")])
            .unwrap();
        writer.insert_batch(&[at(1, b"/tmp/second")]).unwrap();
        drop(writer);
        drop(store);
        let names = |args: &[&str]| -> Vec<String> {
            let out = Command::cargo_bin("warden")
                .unwrap()
                .args(["events", "--data-dir", path_str(&data), "--format", "json"])
                .args(args)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8(out.stdout)
                .unwrap()
                .lines()
                .map(|line| {
                    let v: serde_json::Value = serde_json::from_str(line).unwrap();
                    v["file"]["name"].as_str().unwrap().to_string()
                })
                .collect()
        };
        assert_eq!(names(&[]), ["first", "second", "third"]);
        // The last two stored, in time order.
        assert_eq!(names(&["--limit", "2"]), ["first", "second"]);
    }

    /// A damaged block of the store is said on standard error; what can be read is printed.
    #[test]
    fn a_damaged_block_is_reported_and_the_rest_printed() {
        let f = Fixture::new();
        let all = f.actions(&[]);
        // The same events again, as a second block.
        let store = Store::open(f.data_dir(), Retention::default()).unwrap();
        let again: Vec<StoredEvent> = sample_events()
            .into_iter()
            .map(StoredEvent::from_event)
            .collect();
        store.writer().unwrap().insert_batch(&again).unwrap();
        drop(store);
        let db = f.data_dir().join("events.db");
        // The first block is cut: packed, none of it can be read.
        rusqlite::Connection::open(&db)
            .unwrap()
            .execute(
                "UPDATE event_blocks SET events = substr(events, 1, length(events) - 5) \
                 WHERE first_seq = 1",
                [],
            )
            .unwrap();
        let out = f.run(
            &["--data-dir", path_str(&f.data_dir())],
            &["--format", "json"],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("block at seq 1 unreadable"), "{stderr}");
        let printed = String::from_utf8_lossy(&out.stdout).lines().count();
        assert_eq!(printed, all.len(), "the second block's events");
    }

    #[test]
    fn classes_by_name_bsm_code_and_negation() {
        let f = Fixture::new();
        assert_eq!(
            f.actions(&["--class", "nt,fw"]),
            ["connect", "connect", "accept", "close_write:app.log"]
        );
        assert_eq!(
            f.actions(&["--class", "^fw"]),
            [
                "exec",
                "fork",
                "connect",
                "connect",
                "accept",
                "rename",
                "delete:gone",
                "exit",
                "events-lost",
                "create:created"
            ]
        );
        assert_eq!(f.actions(&["--class", "fc"]), ["rename", "create:created"]);
        assert_eq!(f.actions(&["--class", "fd"]), ["rename", "delete:gone"]);
        assert_eq!(
            f.actions(&["--class", "pc", "--class", "^fork"]),
            ["exec", "exit"]
        );
        assert_eq!(
            f.actions(&["--class", "accept,loss"]),
            ["accept", "events-lost"]
        );
    }

    #[test]
    fn ports_addresses_outcomes_and_paths() {
        let f = Fixture::new();
        assert_eq!(f.actions(&["--port", "443"]), ["connect"]);
        assert_eq!(f.actions(&["--port", "22,5432"]), ["connect", "accept"]);
        assert_eq!(f.actions(&["--addr", "10.0.0.0/8"]), ["connect", "connect"]);
        assert_eq!(f.actions(&["--addr", "10.1.2.3"]), ["connect"]);
        assert_eq!(f.actions(&["--addr", "2001:db8::/32"]), ["accept"]);
        assert_eq!(f.actions(&["--addr", "::1"]), ["accept"]);
        assert!(f.actions(&["--addr", "192.168.0.0/16"]).is_empty());
        // The limit counts what the address filter keeps.
        assert_eq!(
            f.actions(&["--addr", "10.0.0.0/8,::/0", "--limit", "1"]),
            ["accept"]
        );
        assert_eq!(f.actions(&["--failure"]), ["connect", "delete:gone"]);
        assert_eq!(
            f.actions(&["--success", "--class", "nt"]),
            ["connect", "accept"]
        );
        // A rename is found by its old name too.
        assert_eq!(f.actions(&["--path", "/etc/*"]), ["rename"]);
        assert_eq!(
            f.actions(&["--path", "/tmp/*"]),
            ["rename", "delete:gone", "create:created"]
        );
        assert_eq!(
            f.actions(&["--class", "fd", "--path", "/tmp/g*", "--failure"]),
            ["delete:gone"]
        );
    }

    #[test]
    fn text_lines_show_sockets_and_renames() {
        let f = Fixture::new();
        let text = f.events(&["--class", "nt,rename"]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert!(
            lines[0].contains(" connect 10.0.0.5:40000 -> 93.184.216.34:443 tcp success pid=300"),
            "{text}"
        );
        assert!(
            lines[1].contains("-> 10.1.2.3:5432 tcp failure ECONNREFUSED"),
            "{text}"
        );
        assert!(
            lines[2].contains(" accept [::1]:22 -> [2001:db8::9]:50000"),
            "{text}"
        );
        assert!(
            lines[3].contains(
                " rename /etc/old.conf -> /tmp/new \"q\" 'a' <b>&c\\nline\\x01\\xff success"
            ),
            "{text}"
        );
    }

    #[test]
    fn xml_is_one_record_per_event_and_parses() {
        let f = Fixture::new();
        let xml = f.events(&["--format", "xml"]);
        assert!(
            xml.starts_with("<?xml version='1.0' encoding='UTF-8'?>\n<audit>\n"),
            "{xml}"
        );
        let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "audit");
        let records: Vec<roxmltree::Node> = root.children().filter(|n| n.is_element()).collect();
        assert_eq!(records.len(), sample_events().len());
        assert!(records.iter().all(|r| r.tag_name().name() == "record"));
        let by_action = |action: &str| {
            *records
                .iter()
                .find(|r| r.attribute("action") == Some(action))
                .unwrap()
        };

        let rename = by_action("rename");
        assert_eq!(rename.attribute("class"), Some("file"));
        assert_eq!(
            rename.attribute("time"),
            Some("2026-11-27T22:00:05.000000000Z")
        );
        let paths = child(rename, "path");
        assert_eq!(
            paths[0].text(),
            Some("/tmp/new \"q\" 'a' <b>&c\nline\\x01\\xff")
        );
        assert_eq!(paths[1].attribute("role"), Some("old"));
        assert_eq!(paths[1].text(), Some("/etc/old.conf"));
        assert_eq!(
            child(rename, "return")[0].attribute("errval"),
            Some("success")
        );
        let subject = child(rename, "subject")[0];
        assert_eq!(subject.attribute("pid"), Some("400"));
        assert_eq!(subject.attribute("uid"), Some("1000"));
        assert_eq!(subject.attribute("exe"), Some("/usr/bin/tool"));
        let refused = records
            .iter()
            .find(|r| {
                child(**r, "return")
                    .first()
                    .is_some_and(|ret| ret.attribute("errno") == Some("ECONNREFUSED"))
            })
            .unwrap();
        let socket = child(*refused, "socket")[0];
        assert_eq!(socket.attribute("remote_address"), Some("10.1.2.3"));
        assert_eq!(socket.attribute("remote_port"), Some("5432"));
        assert_eq!(socket.attribute("transport"), Some("tcp"));
        assert_eq!(
            child(*refused, "return")[0].attribute("retval"),
            Some("-111")
        );
        let exec = by_action("exec");
        let args: Vec<&str> = child(child(exec, "exec_args")[0], "arg")
            .iter()
            .map(|a| a.text().unwrap())
            .collect();
        assert_eq!(args, ["tool", "<arg>"]);
        assert_eq!(
            child(by_action("loss"), "loss")[0].attribute("count"),
            Some("2")
        );
        // An empty result is still a document.
        let empty = f.events(&["--format", "xml", "--pid", "9"]);
        assert_eq!(
            empty,
            "<?xml version='1.0' encoding='UTF-8'?>\n<audit>\n</audit>\n"
        );
        roxmltree::Document::parse(&empty).expect("well-formed XML");
    }

    #[test]
    fn input_from_stdin_and_skipped_lines() {
        let f = Fixture::new();
        let out = Command::cargo_bin("warden")
            .unwrap()
            .args([
                "events", "--input", "-", "--class", "nt", "--format", "json",
            ])
            .write_stdin(
                "garbage\n\n{\"event\":{}}\n".to_string()
                    + &std::fs::read_to_string(f.jsonl()).unwrap(),
            )
            .output()
            .unwrap();
        assert!(out.status.success());
        assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 3);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("3 lines skipped: not Warden JSON (first at line 1: not JSON"),
            "{err}"
        );
    }

    #[test]
    fn bad_arguments_are_explained() {
        let f = Fixture::new();
        let data_dir = f.data_dir();
        let store = ["--data-dir", path_str(&data_dir)];
        let usage_error = |args: &[&str], expected: &[&str]| {
            let out = f.run(&store, args);
            assert_eq!(out.status.code(), Some(2), "{args:?}");
            let err = String::from_utf8_lossy(&out.stderr);
            for e in expected {
                assert!(err.contains(e), "{args:?}: {err}");
            }
        };
        usage_error(
            &["--class", "nt,xx"],
            &["unknown event class \"xx\"", "nt", "fw (write)", "rename"],
        );
        usage_error(
            &["--addr", "10.0.0.0/33"],
            &["prefix length must be 0 to 32"],
        );
        usage_error(&["--addr", "localhost"], &["not an address or CIDR range"]);
        usage_error(&["--success", "--failure"], &["cannot be used with"]);
        usage_error(
            &["--follow", "--input", "x.jsonl"],
            &["cannot be used with"],
        );
        let out = f.run(&store, &["--class", "nt,^network"]);
        assert_eq!(out.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&out.stderr).contains("selects no event"));
        let out = f.run(&["--input", "/nonexistent/x.jsonl"], &[]);
        assert_eq!(out.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read /nonexistent/x.jsonl"));
    }

    #[test]
    fn a_followed_xml_stream_is_closed_on_ctrl_c() {
        use std::io::BufRead;
        let f = Fixture::new();
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("warden"))
            .args([
                "events",
                "--follow",
                "--format",
                "xml",
                "--class",
                "nt",
                "--data-dir",
            ])
            .arg(f.data_dir())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut seen = String::new();
        // The header and the three network records, then the stream waits for more.
        while seen.matches("<record").count() < 3 {
            assert!(stdout.read_line(&mut seen).unwrap() > 0, "{seen}");
        }
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGINT,
        )
        .unwrap();
        std::io::Read::read_to_string(&mut stdout, &mut seen).unwrap();
        assert!(child.wait().unwrap().success());
        assert!(seen.ends_with("</audit>\n"), "{seen}");
        roxmltree::Document::parse(&seen).expect("well-formed XML");
    }
}

/// `warden status` says by its exit status whether the agent runs: here the status file of an
/// agent long gone (its pid is this test, no warden), and no status at all.
#[test]
fn status_exits_2_when_the_agent_is_not_running_and_1_without_a_status() {
    let dir = tempfile::tempdir().unwrap();
    let status = serde_json::json!({
        "pid": std::process::id(), "version": "0", "started_ns": 0, "updated_ns": 0,
        "sources": [], "events": {}, "events_per_sec": 0.0, "store_bytes": 0,
        "store_path": "", "lost": {}, "process_table_size": 0, "rss_bytes": 0,
    });
    std::fs::write(dir.path().join("status.json"), status.to_string()).unwrap();
    let out = warden()
        .args(["status", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("NOT running"));
    let none = warden()
        .args(["status", "--data-dir"])
        .arg(dir.path().join("missing"))
        .output()
        .unwrap();
    assert_eq!(none.status.code(), Some(1), "{none:?}");
}

/// `warden cleanup` run by another user says it needs root, and changes nothing.
#[test]
fn cleanup_says_it_needs_root() {
    let out = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(assert_cmd::cargo::cargo_bin("warden"))
        .arg("cleanup")
        .output();
    // SAFETY: no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let Some(out) = out.as_ref().ok().filter(|_| root) else {
        eprintln!("skipping: needs root and setpriv (util-linux) to run as another user");
        return;
    };
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("run it as root"), "{said}");
    assert!(said.contains("CAP_AUDIT_CONTROL"), "{said}");
}

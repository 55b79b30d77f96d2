//! The process tables against the running system: this test process, children it spawns with
//! known arguments and environment, sockets, files and pipes it opens, and `ps`.

use std::collections::{BTreeMap, BTreeSet};
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::process::{Child, Command, Stdio};

use rusqlite::types::Value;

fn query(sql: &str) -> Vec<Vec<Value>> {
    let conn = warden_tables::open().unwrap();
    let mut stmt = conn.prepare(sql).unwrap();
    let n = stmt.column_count();
    let rows = stmt
        .query_map([], |r| (0..n).map(|i| r.get(i)).collect())
        .unwrap();
    rows.collect::<rusqlite::Result<_>>().unwrap()
}

fn int(v: &Value) -> i64 {
    match v {
        Value::Integer(i) => *i,
        other => panic!("not an integer: {other:?}"),
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::Text(t) => t.clone(),
        other => panic!("not text: {other:?}"),
    }
}

fn me() -> i64 {
    i64::from(std::process::id())
}

/// A child process killed when the test ends.
struct Kid(Child);

impl Kid {
    fn sleep(seconds: &str) -> Kid {
        Kid(Command::new("sleep")
            .arg(seconds)
            .env("WARDEN_PROCESS_TEST", "hello world=1")
            .stdin(Stdio::null())
            .spawn()
            .unwrap())
    }
    fn pid(&self) -> i64 {
        i64::from(self.0.id())
    }
}

impl Drop for Kid {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The inode behind a descriptor of this process.
fn fd_inode(fd: i32) -> u64 {
    std::fs::metadata(format!("/proc/self/fd/{fd}"))
        .unwrap()
        .ino()
}

#[test]
fn own_process_row_matches_proc_and_libc() {
    let rows = query(&format!(
        "SELECT name, path, cmdline, parent, uid, euid, gid, on_disk, threads, resident_size, \
         total_size, start_time, cwd, state, pgroup FROM processes WHERE pid = {}",
        me()
    ));
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let comm = &stat[stat.find('(').unwrap() + 1..stat.rfind(')').unwrap()];
    assert_eq!(text(&r[0]), comm);
    let exe = std::env::current_exe().unwrap();
    assert_eq!(text(&r[1]), exe.display().to_string());
    let args: Vec<String> = std::env::args().collect();
    assert_eq!(text(&r[2]), args.join(" ").trim());
    assert_eq!(int(&r[3]), i64::from(nix::unistd::getppid().as_raw()));
    assert_eq!(int(&r[4]), i64::from(nix::unistd::getuid().as_raw()));
    assert_eq!(int(&r[5]), i64::from(nix::unistd::geteuid().as_raw()));
    assert_eq!(int(&r[6]), i64::from(nix::unistd::getgid().as_raw()));
    assert_eq!(int(&r[7]), 1, "the test binary exists on disk");
    assert!(int(&r[8]) >= 1);
    assert!(int(&r[9]) > 0 && int(&r[10]) > int(&r[9]));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let start = int(&r[11]);
    assert!(
        start <= now && start > now - 3600,
        "start_time {start} vs now {now}"
    );
    assert_eq!(
        text(&r[12]),
        std::env::current_dir().unwrap().display().to_string()
    );
    assert!(["R", "S"].contains(&text(&r[13]).as_str()));
    assert_eq!(int(&r[14]), i64::from(nix::unistd::getpgrp().as_raw()));
}

#[test]
fn spawned_child_has_its_args_parent_and_environment() {
    let kid = Kid::sleep("31.5");
    // Wait until the child has exec'd sleep (before that it is a copy of this process).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while std::fs::read(format!("/proc/{}/cmdline", kid.pid())).unwrap() != b"sleep\x0031.5\x00" {
        assert!(std::time::Instant::now() < deadline, "child never exec'd");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let rows = query(&format!(
        "SELECT name, cmdline, parent, path, on_disk FROM processes WHERE pid = {}",
        kid.pid()
    ));
    assert_eq!(rows.len(), 1);
    assert_eq!(text(&rows[0][0]), "sleep");
    assert_eq!(text(&rows[0][1]), "sleep 31.5");
    assert_eq!(int(&rows[0][2]), me());
    let sleep_path = std::fs::read_link(format!("/proc/{}/exe", kid.pid())).unwrap();
    assert_eq!(text(&rows[0][3]), sleep_path.display().to_string());
    assert_eq!(int(&rows[0][4]), 1);

    let env = query(&format!(
        "SELECT key, value FROM process_envs WHERE pid = {}",
        kid.pid()
    ));
    let env: BTreeMap<String, String> = env.iter().map(|r| (text(&r[0]), text(&r[1]))).collect();
    assert_eq!(
        env.get("WARDEN_PROCESS_TEST").map(String::as_str),
        Some("hello world=1")
    );
    assert_eq!(env.get("PATH"), std::env::var("PATH").ok().as_ref());
}

#[test]
fn every_ps_process_is_listed_with_the_same_name() {
    let out = Command::new("ps")
        .args(["-eo", "pid=,comm="])
        .output()
        .unwrap();
    assert!(out.status.success());
    let ps: BTreeMap<i64, String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let l = l.trim_start();
            let (pid, comm) = l.split_once(' ')?;
            Some((pid.parse().ok()?, comm.trim_start().to_string()))
        })
        .collect();
    assert!(ps.len() > 2);
    let rows = query("SELECT pid, name FROM processes");
    let ours: BTreeMap<i64, String> = rows.iter().map(|r| (int(&r[0]), text(&r[1]))).collect();
    for (pid, comm) in &ps {
        match ours.get(pid) {
            Some(name) if name == comm => {}
            // A process may rename itself between ps and the query: kernel workers do, with
            // each workqueue they serve ("kworker/0:0-events", "...-events_freezable"). Its
            // name then differs from what ps saw; otherwise the table is wrong.
            Some(name) => {
                let now = std::fs::read_to_string(format!("/proc/{pid}/comm"))
                    .map(|c| c.trim_end().to_string())
                    .unwrap_or_default();
                assert_ne!(
                    &now, comm,
                    "pid {pid}: ps says {comm:?}, the table {name:?}"
                );
            }
            // Only processes that exited since ps ran (ps itself) may be missing.
            None => assert!(
                !std::path::Path::new(&format!("/proc/{pid}")).exists(),
                "pid {pid} ({comm}) missing"
            ),
        }
    }
    assert!(ours.contains_key(&me()));
}

#[test]
fn pid_in_list_returns_exactly_those_pids() {
    let kid = Kid::sleep("32");
    let rows = query(&format!(
        "SELECT pid FROM processes WHERE pid IN ({}, {}, 999999999)",
        me(),
        kid.pid()
    ));
    let got: BTreeSet<i64> = rows.iter().map(|r| int(&r[0])).collect();
    assert_eq!(got, BTreeSet::from([me(), kid.pid()]));

    // The generator itself only reads the pids it is given.
    let table = warden_tables::table("processes").unwrap();
    let ctx = warden_tables::QueryContext::everything(table.spec).with(
        "pid",
        warden_tables::Op::Eq,
        vec![me().into(), kid.pid().into()],
    );
    let rows = table.run(&ctx).unwrap();
    assert_eq!(rows.len(), 2);
}

#[test]
fn an_exited_pid_gives_no_row() {
    let mut child = Command::new("true").spawn().unwrap();
    let pid = i64::from(child.id());
    child.wait().unwrap();
    for table in [
        "processes",
        "process_envs",
        "process_memory_map",
        "process_open_files",
    ] {
        let rows = query(&format!("SELECT * FROM {table} WHERE pid = {pid}"));
        assert!(rows.is_empty(), "{table}: {rows:?}");
    }
}

#[test]
fn listening_ports_show_our_tcp_and_udp_sockets() {
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let tcp_port = i64::from(tcp.local_addr().unwrap().port());
    let udp_port = i64::from(udp.local_addr().unwrap().port());
    let rows = query(&format!(
        "SELECT pid, port, protocol, family, address, fd, socket, net_namespace \
         FROM listening_ports WHERE (port = {tcp_port} AND protocol = 6) \
         OR (port = {udp_port} AND protocol = 17)"
    ));
    assert_eq!(rows.len(), 2, "{rows:?}");
    let netns = std::fs::read_link("/proc/self/ns/net").unwrap();
    for r in &rows {
        let (fd, port) = if int(&r[2]) == 6 {
            (tcp.as_raw_fd(), tcp_port)
        } else {
            (udp.as_raw_fd(), udp_port)
        };
        assert_eq!(int(&r[0]), me());
        assert_eq!(int(&r[1]), port);
        assert_eq!(int(&r[3]), 2);
        assert_eq!(text(&r[4]), "127.0.0.1");
        assert_eq!(int(&r[5]), i64::from(fd));
        assert_eq!(int(&r[6]) as u64, fd_inode(fd));
        assert_eq!(
            format!("net:[{}]", text(&r[7])),
            netns.display().to_string()
        );
    }
}

#[test]
fn open_sockets_show_a_connection_with_its_peer() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let client = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let (_server, _) = listener.accept().unwrap();
    let local_port = client.local_addr().unwrap().port();
    let rows = query(&format!(
        "SELECT fd, socket, family, protocol, local_address, local_port, remote_address, \
         remote_port, state FROM process_open_sockets WHERE pid = {} AND local_port = {local_port}",
        me()
    ));
    assert_eq!(rows.len(), 1, "{rows:?}");
    let r = &rows[0];
    assert_eq!(int(&r[0]), i64::from(client.as_raw_fd()));
    assert_eq!(int(&r[1]) as u64, fd_inode(client.as_raw_fd()));
    assert_eq!((int(&r[2]), int(&r[3])), (2, 6));
    assert_eq!(text(&r[4]), "127.0.0.1");
    assert_eq!(text(&r[6]), "127.0.0.1");
    assert_eq!(int(&r[7]), i64::from(port));
    assert_eq!(text(&r[8]), "ESTABLISHED");

    // A pid filter reports only sockets that process holds.
    let kid = Kid::sleep("33");
    let rows = query(&format!(
        "SELECT socket FROM process_open_sockets WHERE pid = {} AND local_port = {local_port}",
        kid.pid()
    ));
    assert!(rows.is_empty());
}

#[test]
fn open_files_include_a_file_we_opened() {
    let file = tempfile::NamedTempFile::new().unwrap();
    let fd = i64::from(file.as_file().as_raw_fd());
    let rows = query(&format!(
        "SELECT path FROM process_open_files WHERE pid = {} AND fd = {fd}",
        me()
    ));
    assert_eq!(rows.len(), 1);
    let expected = std::fs::canonicalize(file.path()).unwrap();
    assert_eq!(text(&rows[0][0]), expected.display().to_string());
    let sockets = query(&format!(
        "SELECT count(*) FROM process_open_files WHERE pid = {} AND path LIKE 'socket:%'",
        me()
    ));
    assert_eq!(int(&sockets[0][0]), 0);
}

#[test]
fn memory_map_matches_proc_self_maps() {
    // The first mapping is the test executable, which does not move.
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let first: Vec<&str> = maps.lines().next().unwrap().split_whitespace().collect();
    let (start, end) = first[0].split_once('-').unwrap();
    let rows = query(&format!(
        "SELECT end, permissions, offset, device, inode, path, pseudo FROM process_memory_map \
         WHERE pid = {} AND start = '0x{start}'",
        me()
    ));
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!(text(&r[0]), format!("0x{end}"));
    assert_eq!(text(&r[1]), first[1]);
    assert_eq!(int(&r[2]), i64::from_str_radix(first[2], 16).unwrap());
    assert_eq!(text(&r[3]), first[3]);
    assert_eq!(int(&r[4]), first[4].parse::<i64>().unwrap());
    assert_eq!(text(&r[5]), first[5]);
    assert_eq!(int(&r[6]), 0);
    let stack = query(&format!(
        "SELECT pseudo, inode FROM process_memory_map WHERE pid = {} AND path = '[stack]'",
        me()
    ));
    assert_eq!(stack.len(), 1);
    assert_eq!((int(&stack[0][0]), int(&stack[0][1])), (1, 0));
}

#[test]
fn namespaces_match_the_ns_links() {
    let rows = query(&format!(
        "SELECT net_namespace, mnt_namespace, pid_namespace, uts_namespace \
         FROM process_namespaces WHERE pid = {}",
        me()
    ));
    assert_eq!(rows.len(), 1);
    for (i, kind) in ["net", "mnt", "pid", "uts"].iter().enumerate() {
        let link = std::fs::read_link(format!("/proc/self/ns/{kind}")).unwrap();
        assert_eq!(
            format!("{kind}:[{}]", text(&rows[0][i])),
            link.display().to_string()
        );
    }
}

#[test]
fn pipes_pair_their_read_and_write_ends() {
    let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    let inode = fd_inode(read.as_raw_fd());
    let rows = query(&format!(
        "SELECT fd, mode, type, partner_pid, partner_fd, partner_mode FROM process_open_pipes \
         WHERE pid = {} AND inode = {inode} AND partner_pid = pid",
        me()
    ));
    let got: BTreeSet<(i64, String, String, i64, i64, String)> = rows
        .iter()
        .map(|r| {
            (
                int(&r[0]),
                text(&r[1]),
                text(&r[2]),
                int(&r[3]),
                int(&r[4]),
                text(&r[5]),
            )
        })
        .collect();
    let (r, w) = (i64::from(read.as_raw_fd()), i64::from(write.as_raw_fd()));
    let anon = "anonymous".to_string();
    assert_eq!(
        got,
        BTreeSet::from([
            (r, "r".into(), anon.clone(), me(), w, "w".into()),
            (w, "w".into(), anon, me(), r, "r".into()),
        ])
    );
}

#[test]
fn shared_memory_lists_a_segment_we_create() {
    // SAFETY: plain System V calls on a private segment this test creates and removes.
    let id = unsafe { libc::shmget(libc::IPC_PRIVATE, 8192, libc::IPC_CREAT | 0o600) };
    if id < 0 {
        eprintln!("System V shared memory unavailable here; skipping");
        return;
    }
    let rows = query(&format!(
        "SELECT size, permissions, creator_pid, owner_uid, attached, status FROM shared_memory \
         WHERE shmid = {id}"
    ));
    // SAFETY: removes the segment created above.
    unsafe { libc::shmctl(id, libc::IPC_RMID, std::ptr::null_mut()) };
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!(int(&r[0]), 8192);
    assert_eq!(text(&r[1]), "0600");
    assert_eq!(int(&r[2]), me());
    assert_eq!(int(&r[3]), i64::from(nix::unistd::geteuid().as_raw()));
    assert_eq!(int(&r[4]), 0);
    assert_eq!(text(&r[5]), "");
}

/// Timing of the benchmarked queries against `ps` and `ss` (run with `--release --ignored`).
#[test]
#[ignore = "timing report, not a check"]
fn timing_against_ps_and_ss() {
    let conn = warden_tables::open().unwrap();
    let time = |f: &mut dyn FnMut()| {
        let start = std::time::Instant::now();
        for _ in 0..50 {
            f();
        }
        start.elapsed() / 50
    };
    for sql in [
        "SELECT pid, name, cmdline FROM processes",
        "SELECT * FROM processes",
        "SELECT * FROM listening_ports",
        "SELECT * FROM process_open_sockets",
    ] {
        let mut stmt = conn.prepare(sql).unwrap();
        let t = time(&mut || {
            let n = stmt.query_map([], |_| Ok(())).unwrap().count();
            assert!(n > 0);
        });
        eprintln!("{sql}: {t:?}");
    }
    for (cmd, args) in [
        ("ps", &["-eo", "pid,comm,args"][..]),
        ("ss", &["-ltunp"][..]),
    ] {
        let t = time(&mut || {
            Command::new(cmd)
                .args(args)
                .stdout(Stdio::null())
                .status()
                .unwrap();
        });
        eprintln!("{cmd} {args:?}: {t:?} (including exec)");
    }
}

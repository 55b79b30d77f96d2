//! Enrichment against this host's real files: sha256 vs `sha256sum`, build-id vs `readelf -n` /
//! `file -b`, dpkg ownership vs `dpkg -S`, names vs /etc/passwd, xattr origin.

use std::fs::File;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use warden_enrich::{
    DpkgIndex, Enricher, ExecHints, ExecutableCache, ExecutableConfig, Names, build_id,
    open_for_read, xattr,
};

const BASH: &str = "/usr/bin/bash";
const SLEEP: &str = "/usr/bin/sleep";

fn tool(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn sha256sum(path: &Path) -> String {
    tool("sha256sum", &[path.to_str().unwrap()])
        .expect("sha256sum")
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// Build-id as binutils (or, without it, `file`) prints it.
fn reference_build_id(path: &str) -> Option<String> {
    if let Some(out) = tool("readelf", &["-n", path]) {
        return out
            .lines()
            .find_map(|l| l.trim().strip_prefix("Build ID: "))
            .map(str::to_string);
    }
    let out = tool("file", &["-b", "-L", path])?;
    let at = out.find("BuildID[sha1]=")? + "BuildID[sha1]=".len();
    Some(out[at..].split([',', ' ', '\n']).next()?.to_string())
}

#[test]
fn sha256_matches_sha256sum_for_bash_and_a_copy() {
    let mut cache = ExecutableCache::new(64);
    let exe = cache.describe(BASH.as_bytes()).expect("bash");
    assert_eq!(
        exe.sha256.as_deref(),
        Some(sha256sum(Path::new(BASH)).as_str())
    );
    let meta = std::fs::metadata(BASH).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!(exe.size, Some(meta.size()));
    assert_eq!(exe.inode, Some(meta.ino()));
    assert_eq!(exe.device, Some(meta.dev()));
    assert_eq!(exe.mode, Some(meta.mode()));
    assert_eq!(exe.owner_uid, Some(0));

    let tmp = tempfile::tempdir().unwrap();
    let copy = tmp.path().join("bash-copy");
    std::fs::copy(BASH, &copy).unwrap();
    let c = cache.describe(copy.as_os_str().as_bytes()).unwrap();
    assert_eq!(c.sha256, exe.sha256);
    assert_ne!(c.inode, exe.inode);
    assert_eq!(c.build_id, exe.build_id);
}

#[test]
fn second_describe_is_a_cache_hit_without_reads() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("prog");
    std::fs::write(&path, vec![7u8; 3 << 20]).unwrap();
    let p = path.as_os_str().as_bytes();
    let mut cache = ExecutableCache::with_config(ExecutableConfig {
        capacity: 8,
        buffer_size: 1 << 20,
        ..ExecutableConfig::default()
    });
    let first = cache.describe(p).unwrap();
    let s1 = cache.stats();
    assert_eq!((s1.misses, s1.hits), (1, 0));
    assert!(s1.reads >= 4, "3 MiB in 1 MiB chunks + EOF: {s1:?}");
    assert_eq!(s1.bytes_hashed, 3 << 20);
    let second = cache.describe(p).unwrap();
    let s2 = cache.stats();
    assert_eq!(second, first);
    assert_eq!((s2.misses, s2.hits), (1, 1));
    assert_eq!(s2.reads, s1.reads, "a hit reads nothing");
    assert_eq!(s2.bytes_hashed, s1.bytes_hashed);
}

#[test]
fn modified_file_gets_a_new_hash() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("prog");
    std::fs::write(&path, b"version one\n").unwrap();
    let p = path.as_os_str().as_bytes();
    let mut cache = ExecutableCache::new(8);
    let one = cache.describe(p).unwrap();
    assert_eq!(one.sha256.as_deref(), Some(sha256sum(&path).as_str()));

    // Same size, rewritten in place, then mtime restored: ctime still moves.
    let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
    std::thread::sleep(Duration::from_millis(15));
    std::fs::write(&path, b"version two\n").unwrap();
    File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    let two = cache.describe(p).unwrap();
    assert_ne!(two.sha256, one.sha256);
    assert_eq!(two.sha256.as_deref(), Some(sha256sum(&path).as_str()));

    // Touch (new mtime, same bytes): a new version, re-hashed to the same digest.
    std::thread::sleep(Duration::from_millis(15));
    assert!(Command::new("touch").arg(&path).status().unwrap().success());
    let three = cache.describe(p).unwrap();
    assert_eq!(three.sha256, two.sha256);
    assert_ne!(three.mtime_ns, two.mtime_ns);
    assert_eq!(cache.stats().misses, 3);
}

#[test]
fn size_cap_skips_the_hash_but_keeps_the_stat() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("big");
    std::fs::write(&path, vec![1u8; 10_000]).unwrap();
    let mut cache = ExecutableCache::with_config(ExecutableConfig {
        max_hash_size: 4096,
        ..ExecutableConfig::default()
    });
    let exe = cache.describe(path.as_os_str().as_bytes()).unwrap();
    assert_eq!(exe.sha256, None);
    assert_eq!(exe.size, Some(10_000));
    assert_eq!(cache.stats().too_large, 1);
}

#[test]
fn proc_pid_exe_describes_a_deleted_image() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("sleeper");
    std::fs::copy("/usr/bin/sleep", &path).unwrap();
    let want = sha256sum(&path);
    let mut child = Command::new(&path).arg("30").spawn().unwrap();
    std::thread::sleep(Duration::from_millis(100));
    std::fs::remove_file(&path).unwrap();
    let mut cache = ExecutableCache::new(8);
    let exe = cache.describe_pid(child.id());
    // An already-open fd works the same.
    let fd = open_for_read(format!("/proc/{}/exe", child.id()).as_bytes()).unwrap();
    let via_fd = cache.describe_file(&fd);
    let mut enricher = Enricher::default();
    let via_enricher = enricher.executable_of(child.id(), Some(path.as_os_str().as_bytes()));
    child.kill().unwrap();
    child.wait().unwrap();
    let exe = exe.expect("deleted image still readable via /proc/PID/exe");
    assert_eq!(exe.sha256.as_deref(), Some(want.as_str()));
    assert_eq!(via_fd.unwrap().sha256, exe.sha256);
    let e = via_enricher.unwrap();
    assert_eq!(e.sha256, exe.sha256);
    assert_eq!(e.package, None);
}

#[test]
fn build_id_matches_binutils() {
    let bins = [
        "/usr/bin/bash",
        "/usr/bin/ls",
        "/usr/bin/dpkg",
        "/usr/lib/x86_64-linux-gnu/libc.so.6",
        "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
    ];
    let mut checked = 0;
    for b in bins {
        let Ok(f) = File::open(b) else { continue };
        let Some(want) = reference_build_id(b) else {
            eprintln!("no reference build-id for {b}");
            continue;
        };
        assert_eq!(build_id(&f).as_deref(), Some(want.as_str()), "{b}");
        // The same bytes as a slice.
        let bytes = std::fs::read(b).unwrap();
        assert_eq!(
            build_id(bytes.as_slice()).as_deref(),
            Some(want.as_str()),
            "{b}"
        );
        checked += 1;
    }
    assert!(checked >= 3, "checked {checked}");
    let mut cache = ExecutableCache::new(8);
    let exe = cache.describe(BASH.as_bytes()).unwrap();
    assert_eq!(exe.build_id, reference_build_id(BASH));
    // A script has none.
    assert_eq!(build_id(&File::open("/etc/passwd").unwrap()), None);
}

#[test]
fn xattr_origin_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("downloaded");
    File::create(&path)
        .unwrap()
        .write_all(b"#!/bin/sh\n")
        .unwrap();
    let f = File::open(&path).unwrap();
    let mut cache = ExecutableCache::new(8);
    let before = cache.describe(path.as_os_str().as_bytes()).unwrap();
    assert_eq!(before.origin_url, None);
    let url = "https://example.com/tools/downloaded";
    if let Err(e) = xattr::set(&f, xattr::ORIGIN_URL, url.as_bytes()) {
        eprintln!("SKIP: user xattrs unsupported here: {e}");
        return;
    }
    xattr::set(&f, xattr::REFERRER_URL, b"https://example.com/").unwrap();
    // setxattr moves ctime: a new file version, so the cache re-reads.
    let after = cache.describe(path.as_os_str().as_bytes()).unwrap();
    assert_eq!(after.origin_url.as_deref(), Some(url));
    assert_eq!(after.referrer_url.as_deref(), Some("https://example.com/"));
    // A long value (> the 1 KiB first buffer; ext4 caps a value at one block) is read whole.
    let long = format!("https://example.com/{}", "a".repeat(3000));
    xattr::set(&f, xattr::ORIGIN_URL, long.as_bytes()).unwrap();
    assert_eq!(
        xattr::get(&f, xattr::ORIGIN_URL).as_deref(),
        Some(long.as_str())
    );
}

#[test]
fn dpkg_owns_bash_and_it_verifies() {
    if !Path::new("/var/lib/dpkg/info").exists() {
        eprintln!("SKIP: no dpkg");
        return;
    }
    let mut idx = DpkgIndex::default();
    // dpkg records /bin/bash; on merged-/usr the exec path is /usr/bin/bash.
    let dpkg_s = tool("dpkg", &["-S", "/bin/bash"]).unwrap();
    let want = dpkg_s.split(": ").next().unwrap().to_string();
    assert_eq!(want, "bash");
    assert_eq!(idx.package_of(b"/usr/bin/bash"), Some("bash"));
    assert_eq!(idx.package_of(b"/bin/bash"), Some("bash"));
    let f = File::open(BASH).unwrap();
    assert_eq!(idx.verify(b"/usr/bin/bash", &f), Some(true));

    // A multi-arch package keeps its qualifier, as dpkg -S prints it.
    for (path, listed) in [
        (
            "/usr/lib/x86_64-linux-gnu/libc.so.6",
            "/lib/x86_64-linux-gnu/libc.so.6",
        ),
        ("/usr/bin/ls", "/bin/ls"),
        ("/usr/bin/dpkg", "/usr/bin/dpkg"),
    ] {
        let Some(out) = tool("dpkg", &["-S", listed]) else {
            continue;
        };
        let want = out.split(": ").next().unwrap();
        assert_eq!(idx.package_of(path.as_bytes()), Some(want), "{path}");
        let f = File::open(path).unwrap();
        assert_eq!(idx.verify(path.as_bytes(), &f), Some(true), "{path}");
    }

    // A temp file is nobody's.
    let tmp = tempfile::NamedTempFile::new().unwrap();
    let tp = tmp.path().as_os_str().as_bytes();
    assert_eq!(idx.package_of(tp), None);
    assert_eq!(idx.verify(tp, tmp.as_file()), None);
    // A directory is not owned.
    assert_eq!(idx.package_of(b"/usr/bin"), None);
    let s = idx.stats();
    eprintln!("dpkg index: {s:?}");
    assert!(s.packages > 100 && s.files > 10_000, "{s:?}");
}

#[test]
fn enricher_fills_a_process() {
    let mut e = Enricher::default();
    let mut p = warden_core::Process {
        pid: std::process::id(),
        uid: Some(0),
        euid: Some(0),
        gid: Some(0),
        ..Default::default()
    };
    e.enrich(&mut p);
    assert_eq!(p.user_name.as_deref(), Some("root"));
    assert_eq!(p.euser_name.as_deref(), Some("root"));
    assert_eq!(p.group_name.as_deref(), Some("root"));
    let exe = p.executable.expect("own executable");
    assert!(exe.sha256.is_some());
    assert_eq!(exe.package, None, "the test binary is not packaged");

    let bash = e.executable(b"/bin/bash").unwrap();
    assert_eq!(bash.package.as_deref(), Some("bash"));
    assert_eq!(bash.package_verified, Some(true));
}

#[test]
fn names_match_etc_passwd_and_group() {
    let mut n = Names::new();
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    let mut seen = std::collections::HashSet::new();
    for line in passwd.lines() {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 7 {
            continue;
        }
        let uid: u32 = f[2].parse().unwrap();
        if seen.insert(uid) {
            assert_eq!(n.user(uid), Some(f[0]), "uid {uid}");
        }
    }
    let group = std::fs::read_to_string("/etc/group").unwrap();
    let mut seen = std::collections::HashSet::new();
    for line in group.lines() {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 4 {
            continue;
        }
        let gid: u32 = f[2].parse().unwrap();
        if seen.insert(gid) {
            assert_eq!(n.group(gid), Some(f[0]), "gid {gid}");
        }
    }
    assert_eq!(n.user(4_000_000_000), None);
    // `id -un` agrees for root.
    if let Some(out) = tool("id", &["-un", "0"]) {
        assert_eq!(n.user(0), Some(out.trim()));
    }
}

#[test]
fn an_exec_with_the_kernels_file_version_is_served_from_the_caches() {
    let mut child = Command::new(BASH)
        .args(["-c", "read x"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let stat = warden_core::FileVersion::of(&std::fs::metadata(BASH).unwrap());
    // As a btrfs subvolume would show it: the inode's device is not the one stat reports.
    let kernel = warden_core::FileVersion {
        dev: stat.dev ^ 0x1000,
        ..stat
    };
    let process = |pid: u32, exe: &str| warden_core::Process {
        pid,
        exe: Some(exe.as_bytes().to_vec()),
        ..Default::default()
    };
    let hints = ExecHints {
        exe_version: Some(kernel),
        cgroup_id: None,
        image: None,
    };
    let mut e = Enricher::default();
    let mut first = process(pid, BASH);
    e.enrich_exec(&mut first, hints);
    let described = first.executable.expect("described through /proc/PID/exe");
    assert_eq!(described.inode, Some(stat.inode));
    assert_eq!(described.package.as_deref(), Some("bash"));
    assert_eq!(described.package_verified, Some(true));
    drop(child.stdin.take());
    child.wait().unwrap();

    // The process is gone and the path names nothing: only the caches can answer.
    let mut gone = process(pid, "/nonexistent/bash");
    e.enrich_exec(&mut gone, hints);
    let cached = gone.executable.expect("served by the kernel's version");
    assert_eq!(cached.sha256, described.sha256);
    assert_eq!(cached.build_id, described.build_id);
    assert_eq!(cached.package, None, "the package follows the path");
    // At the packaged path, the package and its verification come from the caches too.
    let mut again = process(pid, BASH);
    e.enrich_exec(&mut again, hints);
    assert_eq!(again.executable, Some(described));
    // Another version of the file is not served from this one's entry.
    let mut other = process(pid, "/nonexistent/bash");
    let changed = warden_core::FileVersion {
        size: stat.size + 1,
        ..kernel
    };
    e.enrich_exec(
        &mut other,
        ExecHints {
            exe_version: Some(changed),
            ..hints
        },
    );
    assert_eq!(other.executable, None);
}

#[test]
fn a_hash_budget_is_drawn_on_and_a_file_over_it_is_described_unhashed() {
    let tmp = tempfile::tempdir().unwrap();
    let (small, big) = (tmp.path().join("small"), tmp.path().join("big"));
    std::fs::write(&small, vec![1u8; 3000]).unwrap();
    std::fs::write(&big, vec![2u8; 5000]).unwrap();
    let mut cache = ExecutableCache::new(64);
    let mut budget = 6000;
    let open = |p: &Path| open_for_read(p.as_os_str().as_bytes()).unwrap();
    let first = cache
        .describe_file_within(&open(&small), &mut budget)
        .unwrap();
    assert_eq!(first.sha256.as_deref(), Some(sha256sum(&small).as_str()));
    assert_eq!(budget, 3000);
    let over = cache
        .describe_file_within(&open(&big), &mut budget)
        .unwrap();
    assert_eq!((over.sha256, over.size), (None, Some(5000)));
    assert_eq!((budget, cache.stats().over_budget), (3000, 1));
    // Not cached unhashed: with budget again it is hashed; a cached file costs nothing.
    let mut more = 5000;
    let later = cache.describe_file_within(&open(&big), &mut more).unwrap();
    assert_eq!(later.sha256.as_deref(), Some(sha256sum(&big).as_str()));
    let again = cache
        .describe_file_within(&open(&small), &mut more)
        .unwrap();
    assert_eq!((again.sha256, more), (first.sha256, 0));
}

#[test]
fn a_written_file_is_described_only_while_its_path_names_it() {
    use std::os::unix::fs::MetadataExt;
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("dropped");
    std::fs::write(&path, b"#!/bin/sh\necho payload\n").unwrap();
    let has_origin = xattr::set(
        &File::open(&path).unwrap(),
        xattr::ORIGIN_URL,
        b"http://127.0.0.1:8080/payload",
    )
    .is_ok();
    let inode = std::fs::metadata(&path).unwrap().ino();
    let mut enricher = Enricher::default();
    let mut budget = u64::MAX;
    let bytes = path.as_os_str().as_bytes();
    let written = enricher
        .written_file(bytes, Some(inode), &mut budget)
        .expect("the file");
    assert_eq!(written.sha256.as_deref(), Some(sha256sum(&path).as_str()));
    assert_eq!((written.size, written.inode), (Some(23), Some(inode)));
    if has_origin {
        assert_eq!(
            written.origin_url.as_deref(),
            Some("http://127.0.0.1:8080/payload")
        );
    }
    assert_eq!(written.package, None);
    // Another file at the path now (replaced; the old one kept, so its inode is not reused):
    // not the one the change named.
    std::fs::rename(&path, tmp.path().join("old")).unwrap();
    std::fs::write(&path, b"other").unwrap();
    assert_eq!(enricher.written_file(bytes, Some(inode), &mut budget), None);
    // Without an inode to compare, whatever regular file is there.
    let now = enricher.written_file(bytes, None, &mut budget).unwrap();
    assert_eq!(now.size, Some(5));
    // Gone; a directory; a symlink (not followed); a FIFO (never opened for reading).
    std::fs::remove_file(&path).unwrap();
    assert_eq!(enricher.written_file(bytes, None, &mut budget), None);
    let dir = tmp.path().as_os_str().as_bytes();
    assert_eq!(enricher.written_file(dir, None, &mut budget), None);
    let link = tmp.path().join("link");
    std::os::unix::fs::symlink("/usr/bin/bash", &link).unwrap();
    let link = link.as_os_str().as_bytes();
    assert_eq!(enricher.written_file(link, None, &mut budget), None);
    let fifo = tmp.path().join("fifo");
    nix_free_mkfifo(&fifo);
    let fifo = fifo.as_os_str().as_bytes();
    assert_eq!(enricher.written_file(fifo, None, &mut budget), None);
    // A package's file is named with its package.
    let bash = enricher
        .written_file(BASH.as_bytes(), None, &mut budget)
        .unwrap();
    assert_eq!(bash.package.as_deref(), Some("bash"));
    assert_eq!(bash.package_verified, None, "not checked for written files");
}

fn nix_free_mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
}

#[test]
fn download_origin_is_read_from_one_list_or_name_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("f");
    std::fs::write(&path, b"x").unwrap();
    let f = File::open(&path).unwrap();
    assert_eq!(xattr::download_origin(&f), (None, None));
    if let Err(e) = xattr::set(&f, xattr::REFERRER_URL, b"http://127.0.0.1/page") {
        eprintln!("SKIP: user xattrs unsupported here: {e}");
        return;
    }
    assert_eq!(
        xattr::download_origin(&f),
        (None, Some("http://127.0.0.1/page".into()))
    );
    // More attribute names than the list's buffer holds: each is then asked for.
    for i in 0..40 {
        let name = std::ffi::CString::new(format!("user.warden.test.attribute.{i:02}")).unwrap();
        xattr::set(&f, &name, b"v").unwrap();
    }
    xattr::set(&f, xattr::ORIGIN_URL, b"http://127.0.0.1/file").unwrap();
    assert_eq!(
        xattr::download_origin(&f),
        (
            Some("http://127.0.0.1/file".into()),
            Some("http://127.0.0.1/page".into())
        )
    );
}

/// A file unlinked while it is hashed (a payload deleted as soon as it started) changes only
/// its ctime: it is described once more and hashed; a file still being written while it is
/// hashed twice gets no sha256.
#[test]
fn a_file_unlinked_while_hashed_is_hashed_again_and_one_still_written_is_not() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("payload");
    // Large enough that hashing it takes far longer than the 20 ms before the change.
    std::fs::write(&path, vec![7u8; 16 << 20]).unwrap();
    let digest = sha256sum(&path);
    let file = open_for_read(path.as_os_str().as_bytes()).unwrap();
    let mut cache = ExecutableCache::new(8);
    let unlink = std::thread::spawn({
        let path = path.clone();
        move || {
            std::thread::sleep(Duration::from_millis(20));
            std::fs::remove_file(path).unwrap();
        }
    });
    let described = cache.describe_file(&file).unwrap();
    unlink.join().unwrap();
    assert_eq!(
        cache.stats().changed_while_hashing,
        1,
        "the unlink was seen"
    );
    assert_eq!(described.sha256.as_deref(), Some(digest.as_str()));

    let growing = tmp.path().join("growing");
    std::fs::write(&growing, vec![1u8; 16 << 20]).unwrap();
    let file = open_for_read(growing.as_os_str().as_bytes()).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = std::thread::spawn({
        let stop = stop.clone();
        let mut out = std::fs::OpenOptions::new()
            .append(true)
            .open(&growing)
            .unwrap();
        move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                out.write_all(b"more").unwrap();
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    });
    let described = cache.describe_file(&file).unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().unwrap();
    assert_eq!(described.sha256, None, "no digest of a moving file");
    assert_eq!(
        cache.stats().changed_while_hashing,
        3,
        "both passes saw it change"
    );
}

/// `pid`'s exec of [`SLEEP`], enriched as eBPF reports it: with the image's `version`.
fn sleep_exec(
    e: &mut Enricher,
    pid: u32,
    version: warden_core::FileVersion,
) -> Option<warden_core::Executable> {
    let mut p = warden_core::Process {
        pid,
        exe: Some(SLEEP.as_bytes().to_vec()),
        ..Default::default()
    };
    let hints = ExecHints {
        exe_version: Some(version),
        ..ExecHints::default()
    };
    e.enrich_exec(&mut p, hints);
    p.executable
}

/// A process whose mount namespace puts another file at a packaged path (as a container's
/// `/usr/bin/sleep` is its image's, not the host's coreutils) runs a file no package of the
/// host's owns: described as itself, without the host's package and its digest check (which
/// would call it modified). A process in a namespace of its own that sees the host's files
/// keeps its package.
#[test]
fn a_package_owns_its_own_file_not_another_namespaces_by_the_same_name() {
    let tmp = tempfile::tempdir().unwrap();
    let shadow = tmp.path().join("sleep");
    let mut image = std::fs::read(SLEEP).unwrap();
    image.extend_from_slice(b"not coreutils' sleep");
    std::fs::write(&shadow, &image).unwrap();
    std::fs::set_permissions(&shadow, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let script = format!(
        "mount --bind {} {SLEEP} && exec {SLEEP} 5",
        shadow.display()
    );
    let in_own_namespace = |script: &str| {
        Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c", script])
            .spawn()
            .expect("unshare")
    };
    let mut shadowed = in_own_namespace(&script);
    let mut sharing = in_own_namespace(&format!("exec {SLEEP} 5"));
    let shadow_version = warden_core::FileVersion::of(&std::fs::metadata(&shadow).unwrap());
    let host_version = warden_core::FileVersion::of(&std::fs::metadata(SLEEP).unwrap());
    let runs = |pid: u32, version: &warden_core::FileVersion| {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(format!("/proc/{pid}/exe")).is_ok_and(|m| m.ino() == version.inode)
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !(runs(shadowed.id(), &shadow_version) && runs(sharing.id(), &host_version)) {
        assert!(std::time::Instant::now() < deadline, "the sleeps never ran");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut e = Enricher::default();
    let mut exec = |pid, version| sleep_exec(&mut e, pid, version).expect("described");
    for round in ["described", "from the caches"] {
        let other = exec(shadowed.id(), shadow_version);
        assert_eq!(other.sha256, Some(sha256sum(&shadow)), "{round}");
        assert_eq!(
            (other.package, other.package_verified),
            (None, None),
            "{round}"
        );
        let own = exec(sharing.id(), host_version);
        assert_eq!(own.package.as_deref(), Some("coreutils"), "{round}");
        assert_eq!(own.package_verified, Some(true), "{round}");
    }
    for child in [&mut shadowed, &mut sharing] {
        child.kill().unwrap();
        child.wait().unwrap();
    }
}

/// Once a process is gone, the file at its path is all there is to describe: only if it is
/// the image the kernel reported. Another file there (replaced since, or another mount
/// namespace's) is not described as the one that ran.
#[test]
fn a_gone_process_is_not_described_by_another_file_at_its_path() {
    let mut child = Command::new(SLEEP).arg("0").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    let here = warden_core::FileVersion::of(&std::fs::metadata(SLEEP).unwrap());
    let mut e = Enricher::default();
    let mut gone = |version| sleep_exec(&mut e, pid, version);
    let elsewhere = warden_core::FileVersion {
        inode: here.inode + 1,
        ..here
    };
    assert_eq!(gone(elsewhere), None, "not the file that ran");
    let described = gone(here).expect("the very file that ran");
    assert_eq!(described.sha256, Some(sha256sum(Path::new(SLEEP))));
    assert_eq!(e.other_file_at_path, 1);
}

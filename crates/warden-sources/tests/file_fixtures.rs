//! File fixture tests: create/open/truncate/rename/delete/chmod/chown/link/symlink records and
//! watched reads recorded from the real kernel (`fixtures/kernel-file.txt`, see
//! `fixtures/record-file.py`) through parse → assemble → FileOp, checked field by field.

use std::collections::BTreeMap;

use warden_core::{FileAction, Process};
use warden_sources::audit::EventEnd;
use warden_sources::audit::exec::arch;
use warden_sources::audit::file::{FileOp, FileViewError, PathKind};

mod common;

const KERNEL_FILE: &str = include_str!("fixtures/kernel-file.txt");

/// The activity's steps: label → (syscall name, result or -errno).
fn steps() -> BTreeMap<&'static str, (&'static str, i64)> {
    KERNEL_FILE
        .lines()
        .filter_map(|l| l.strip_prefix("# step: "))
        .map(|s| {
            let mut it = s.split(':');
            let (label, name, res) = (it.next().unwrap(), it.next().unwrap(), it.next().unwrap());
            (label, (name, res.parse().unwrap()))
        })
        .collect()
}

/// What one event must look like. `path` / `old` / `target` starting with `W/` are in the work
/// directory; others are compared as they are.
struct Expect {
    /// The activity's step label, when the event is one (else an unlabelled `os.open`).
    step: Option<&'static str>,
    syscall: &'static str,
    action: FileAction,
    path: &'static str,
    kind: PathKind,
    old: Option<&'static str>,
    target: Option<&'static str>,
}

const DIRFD: PathKind = PathKind::RelativeToDirfd(3);
const EXACT: PathKind = PathKind::Exact;

fn expect(
    step: Option<&'static str>,
    syscall: &'static str,
    action: FileAction,
    path: &'static str,
    kind: PathKind,
) -> Expect {
    Expect {
        step,
        syscall,
        action,
        path,
        kind,
        old: None,
        target: None,
    }
}

fn work(p: &str) -> Vec<u8> {
    match p.strip_prefix("W/") {
        Some(rest) => format!("{}/{rest}", common::header(KERNEL_FILE, "work")).into_bytes(),
        None if p == "W" => common::header(KERNEL_FILE, "work").as_bytes().to_vec(),
        None => p.as_bytes().to_vec(),
    }
}

/// Every event of the fixture, in order; the fd calls (ftruncate, fchmod, fchown) are errors and
/// listed in `fd_calls`.
fn expectations() -> Vec<Option<Expect>> {
    use FileAction::*;
    let rename = |step, syscall, path, kind, old| {
        Some(Expect {
            old: Some(old),
            ..expect(Some(step), syscall, Rename, path, kind)
        })
    };
    let with_target = |step, syscall, action, path, kind, target| {
        Some(Expect {
            target: Some(target),
            ..expect(Some(step), syscall, action, path, kind)
        })
    };
    let e =
        |step, syscall, action, path, kind| Some(expect(Some(step), syscall, action, path, kind));
    vec![
        e("create", "open", Create, "W/new.txt", EXACT),
        e("write_open", "openat", Open, "W/new.txt", EXACT),
        None, // ftruncate
        None, // fchmod
        None, // fchown
        e("truncate", "truncate", Truncate, "W/new.txt", EXACT),
        e("creat", "creat", Create, "W/creat.txt", EXACT),
        e("chmod", "chmod", Chmod, "W/new.txt", EXACT),
        e("fchmodat", "fchmodat", Chmod, "W/creat.txt", EXACT),
        e("fchmodat2", "fchmodat2", Chmod, "f.txt", DIRFD),
        e("chown", "chown", Chown, "W/new.txt", EXACT),
        e("fchownat", "fchownat", Chown, "f.txt", DIRFD),
        rename("rename", "rename", "W/renamed.txt", EXACT, "W/new.txt"),
        e("mkdir", "mkdir", Create, "W/sub", EXACT),
        rename(
            "renameat",
            "renameat",
            "W/sub/moved.txt",
            EXACT,
            "W/renamed.txt",
        ),
        rename("renameat_dirfd", "renameat", "g.txt", DIRFD, "f.txt"),
        rename(
            "exchange",
            "renameat2",
            "W/sub/moved.txt",
            EXACT,
            "W/creat.txt",
        ),
        Some(expect(None, "openat", Create, "W/victim.txt", EXACT)),
        rename(
            "rename_over",
            "rename",
            "W/victim.txt",
            EXACT,
            "W/creat.txt",
        ),
        with_target("link", "link", Link, "W/hard.txt", EXACT, "W/sub/moved.txt"),
        with_target("linkat", "linkat", Link, "W/hard2.txt", EXACT, "g.txt"),
        with_target(
            "symlink",
            "symlink",
            Symlink,
            "W/sym",
            EXACT,
            "target-of-link",
        ),
        with_target(
            "symlinkat",
            "symlinkat",
            Symlink,
            "sym2",
            DIRFD,
            "/etc/hostname",
        ),
        e("lchown", "lchown", Chown, "W/sym", EXACT),
        e("mknod", "mknod", Create, "W/fifo", EXACT),
        e("mknodat", "mknodat", Create, "fifo2", DIRFD),
        e("mkdirat", "mkdirat", Create, "d2", DIRFD),
        e("unlinkat_dir", "unlinkat", Delete, "d2", DIRFD),
        e("rel_create", "open", Create, "W/sub/rel.txt", EXACT),
        rename(
            "rel_rename",
            "rename",
            "W/sub/../rel2.txt",
            EXACT,
            "W/sub/rel.txt",
        ),
        e("rel_mkdir", "mkdir", Create, "W/sub/reldir", EXACT),
        e("rel_rmdir", "rmdir", Delete, "W/sub/reldir", EXACT),
        e("rel_unlink", "unlink", Delete, "W/sub/../rel2.txt", EXACT),
        with_target(
            "rel_symlink",
            "symlink",
            Symlink,
            "W/sub/relsym",
            EXACT,
            "x",
        ),
        e("openat_dirfd", "openat", Create, "in-dir.txt", DIRFD),
        e("unlink", "unlink", Delete, "W/hard.txt", EXACT),
        e("unlinkat", "unlinkat", Delete, "sym2", DIRFD),
        e("unlink_fifo", "unlink", Delete, "W/fifo", EXACT),
        e("unlink_enoent", "unlink", Delete, "W", PathKind::ParentOnly),
        e("open_eacces", "open", Open, "W/rootonly.txt", EXACT),
        e("openat2_create", "openat2", Create, "W/o2.txt", EXACT),
        e("read_watched", "open", Read, "W/watched.txt", EXACT),
        e(
            "read_in_watched_dir",
            "openat",
            Read,
            "W/watchdir/inner.txt",
            EXACT,
        ),
        Some(expect(None, "openat", Create, "W/later.txt", EXACT)),
        e("read_later", "open", Read, "W/later.txt", EXACT),
        e("openat2_read", "openat2", Read, "W/watched.txt", EXACT),
        e("rmdir", "rmdir", Delete, "W/sub", EXACT),
    ]
}

fn views() -> Vec<Result<FileOp, FileViewError>> {
    common::events(KERNEL_FILE)
        .iter()
        .map(|e| FileOp::from_event(e).expect("every event is a file call"))
        .collect()
}

fn op<'a>(views: &'a [Result<FileOp, FileViewError>], step: &str) -> &'a FileOp {
    let i = expectations()
        .iter()
        .position(|e| e.as_ref().is_some_and(|e| e.step == Some(step)))
        .unwrap();
    views[i].as_ref().unwrap()
}

#[test]
fn every_event_is_complete_and_a_file_call() {
    let evs = common::events(KERNEL_FILE);
    assert_eq!(evs.len(), expectations().len());
    let pid: u32 = common::header(KERNEL_FILE, "pid").parse().unwrap();
    for e in &evs {
        assert_eq!(e.end, EventEnd::Eoe);
        let Ok(f) = FileOp::from_event(e).unwrap() else {
            continue;
        };
        assert!(f.complete, "{f:?}");
        assert_eq!((f.subject.pid, f.arch), (pid, arch::X86_64));
        assert_eq!(f.subject.comm.as_deref(), Some(&b"python3"[..]));
        assert_eq!((f.subject.auid, f.subject.ses), (None, None));
        assert_eq!(f.subject.uid, 0);
        assert_eq!(f.keys.len(), 1);
    }
}

#[test]
fn kernel_file_views() {
    let steps = steps();
    let views = views();
    for (i, (exp, got)) in expectations().iter().zip(&views).enumerate() {
        let Some(exp) = exp else { continue };
        let f = got.as_ref().unwrap_or_else(|e| panic!("event {i}: {e}"));
        let ctx = format!("event {i} ({:?}): {f:?}", exp.step);
        assert_eq!(f.syscall_name, exp.syscall, "{ctx}");
        assert_eq!(f.action, exp.action, "{ctx}");
        assert_eq!(f.path, work(exp.path), "{ctx}");
        assert_eq!(f.path_kind, exp.kind, "{ctx}");
        assert_eq!(f.old_path, exp.old.map(work), "{ctx}");
        assert_eq!(f.target_path, exp.target.map(work), "{ctx}");
        if let Some(step) = exp.step {
            let (name, result) = steps[step];
            assert_eq!((name, f.exit), (exp.syscall, Some(result)), "{ctx}");
            assert_eq!(f.success, Some(result >= 0), "{ctx}");
        }
        // Reads come only from the watches (installed first, so their key wins).
        let key: &[u8] = if f.action == FileAction::Read {
            b"wardenread"
        } else {
            b"wardenfile"
        };
        assert!(f.has_key(key), "{ctx}");
        assert_eq!(f.exchanged, exp.step == Some("exchange"), "{ctx}");
        if f.path_kind != PathKind::ParentOnly {
            assert!(f.inode.is_some() && f.device.is_some(), "{ctx}");
        }
    }
    // The unwatched read-only open was not recorded: no event names a step for it.
    assert!(steps.contains_key("read_unwatched"));
}

#[test]
fn fd_calls_name_their_descriptor() {
    let views = views();
    for (i, exp) in expectations().iter().enumerate() {
        if exp.is_none() {
            // The write-open fd 4 of new.txt: ftruncate, fchmod, fchown.
            let op = views[i].as_ref().expect("an fd call has a view");
            assert_eq!((op.path.len(), op.path_kind), (0, PathKind::Descriptor(4)));
        }
    }
    let steps = steps();
    for s in ["ftruncate", "fchmod", "fchown"] {
        assert_eq!(steps[s], (s, 0));
    }
}

#[test]
fn modes_owners_and_inodes() {
    let v = views();
    let create = op(&v, "create");
    assert_eq!((create.mode, create.is_dir), (Some(0o100644), Some(false)));
    assert_eq!(create.open_flags, Some(0o301)); // O_WRONLY | O_CREAT | O_EXCL
    assert_eq!(op(&v, "write_open").open_flags, Some(0o2001)); // O_WRONLY | O_APPEND
    assert_eq!(op(&v, "write_open").inode, create.inode);
    assert_eq!(op(&v, "creat").open_flags, Some(0o1101));
    // chmod: the file type from the record, the bits from the argument.
    assert_eq!(op(&v, "chmod").mode, Some(0o100600));
    assert_eq!(op(&v, "fchmodat").mode, Some(0o100604));
    assert_eq!(op(&v, "fchmodat2").mode, Some(0o100640));
    // chown: -1 is "unchanged".
    let chown = op(&v, "chown");
    assert_eq!((chown.owner_uid, chown.owner_gid), (Some(65534), None));
    let fchownat = op(&v, "fchownat");
    assert_eq!(
        (fchownat.owner_uid, fchownat.owner_gid),
        (None, Some(65534))
    );
    let lchown = op(&v, "lchown");
    assert_eq!(
        (lchown.owner_uid, lchown.owner_gid),
        (Some(65534), Some(65534))
    );
    assert_eq!(lchown.mode, Some(0o120777));
    // Other calls report the file's owner (root made everything).
    assert_eq!((create.owner_uid, create.owner_gid), (Some(0), Some(0)));
    // Directories.
    for s in [
        "mkdir",
        "mkdirat",
        "unlinkat_dir",
        "rel_mkdir",
        "rel_rmdir",
        "rmdir",
    ] {
        assert_eq!(op(&v, s).is_dir, Some(true), "{s}");
    }
    assert_eq!(op(&v, "mknod").mode, Some(0o010644));
    assert_eq!(op(&v, "mkdirat").mode, Some(0o040700));
    // Renames follow the moved inode: the same file from create to rename to renameat.
    assert_eq!(op(&v, "rename").inode, create.inode);
    assert_eq!(op(&v, "renameat").inode, create.inode);
    // The exchange put creat.txt's inode at sub/moved.txt.
    assert_eq!(op(&v, "exchange").inode, op(&v, "creat").inode);
    // rename over victim.txt: the moved file's inode, not the replaced one's.
    let over = op(&v, "rename_over");
    assert_eq!(over.inode, create.inode);
    assert!(!over.exchanged);
    // A hard link names the existing inode.
    assert_eq!(op(&v, "link").inode, op(&v, "creat").inode);
}

#[test]
fn failures_and_dirfd() {
    let v = views();
    let enoent = op(&v, "unlink_enoent");
    assert_eq!(
        (enoent.success, enoent.errno, enoent.inode, enoent.is_dir),
        (Some(false), Some("ENOENT"), None, None)
    );
    let eacces = op(&v, "open_eacces");
    assert_eq!((eacces.errno, eacces.exit), (Some("EACCES"), Some(-13)));
    assert_eq!((eacces.subject.uid, eacces.subject.euid), (0, 65534));
    assert_eq!(eacces.mode, Some(0o100600));
    assert_eq!(op(&v, "rmdir").errno, Some("ENOTEMPTY"));
    // openat(dirfd, "in-dir.txt") after chdir: the kernel's PARENT name is the cwd (sub), but
    // the file is in `other`; the view must not join them.
    let in_dir = op(&v, "openat_dirfd");
    assert_eq!(in_dir.cwd.as_deref(), Some(work("W/sub").as_slice()));
    assert_eq!(in_dir.path, b"in-dir.txt");
    // The event model's form.
    let fe = op(&v, "exchange").to_file_event(Process {
        pid: 1,
        ..Process::default()
    });
    assert_eq!(fe.action, FileAction::Rename);
    assert_eq!(fe.syscall.as_deref(), Some("renameat2"));
    assert_eq!(fe.old_path, Some(work("W/creat.txt")));
    assert!(fe.success);
}

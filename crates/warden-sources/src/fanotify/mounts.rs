//! Pure choice of the filesystems a fanotify source marks by default, from
//! `/proc/self/mountinfo`: every mounted local filesystem on a real block device (ext4, xfs,
//! btrfs...), one mount per device, preferring a mount of the filesystem's root so paths
//! resolved through it are whole. Pseudo and memory filesystems (proc, sysfs, tmpfs, overlay,
//! cgroup...) and network filesystems are left out unless configured by path.

use std::path::{Path, PathBuf};

/// One line of `/proc/self/mountinfo`, the fields this module needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountEntry {
    /// `major:minor` of the filesystem's device (`st_dev`); major 0 for anonymous devices.
    pub major: u32,
    /// Minor device number.
    pub minor: u32,
    /// The directory of the filesystem mounted here (`/` unless a bind mount of a subtree).
    pub root: Vec<u8>,
    /// Where it is mounted (octal escapes decoded).
    pub mount_point: Vec<u8>,
    /// Filesystem type (`ext4`, `tmpfs`...).
    pub fstype: String,
    /// The mount source (`/dev/vda1`...).
    pub source: Vec<u8>,
}

/// Filesystem types on block devices that fanotify filesystem marks with file handles work on
/// (they have export operations) and that hold data worth watching.
const LOCAL_BLOCK_FILESYSTEMS: &[&str] = &[
    "ext2", "ext3", "ext4", "xfs", "btrfs", "f2fs", "jfs", "reiserfs", "vfat", "exfat", "ntfs3",
    "nilfs2", "bcachefs",
];

/// Decode mountinfo's octal escapes (`\040` for a space, `\011`, `\012`, `\134`).
fn unescape(field: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        if field[i] == b'\\'
            && i + 3 < field.len()
            && field[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            let v = field[i + 1..i + 4]
                .iter()
                .fold(0u32, |acc, b| acc * 8 + u32::from(b - b'0'));
            out.push(v as u8);
            i += 4;
        } else {
            out.push(field[i]);
            i += 1;
        }
    }
    out
}

/// Parse one mountinfo line; `None` when malformed.
pub fn parse_mountinfo_line(line: &[u8]) -> Option<MountEntry> {
    let fields: Vec<&[u8]> = line
        .split(|&b| b == b' ')
        .filter(|f| !f.is_empty())
        .collect();
    // id parent major:minor root mount-point options [optional...] - fstype source super-opts
    let dash = fields.iter().position(|f| *f == b"-")?;
    if dash < 6 || fields.len() < dash + 3 {
        return None;
    }
    let dev = std::str::from_utf8(fields[2]).ok()?;
    let (major, minor) = dev.split_once(':')?;
    Some(MountEntry {
        major: major.parse().ok()?,
        minor: minor.parse().ok()?,
        root: unescape(fields[3]),
        mount_point: unescape(fields[4]),
        fstype: String::from_utf8_lossy(fields[dash + 1]).into_owned(),
        source: unescape(fields[dash + 2]),
    })
}

/// Parse all of mountinfo; malformed lines are skipped.
pub fn parse_mountinfo(text: &[u8]) -> Vec<MountEntry> {
    text.split(|&b| b == b'\n')
        .filter_map(parse_mountinfo_line)
        .collect()
}

/// Whether a mount is a local filesystem on a real block device: a known on-disk type, and a
/// device number of a block device or (btrfs, whose `st_dev` is an anonymous per-subvolume
/// number) a `/dev/` source.
pub fn is_local_block_filesystem(entry: &MountEntry) -> bool {
    LOCAL_BLOCK_FILESYSTEMS.contains(&entry.fstype.as_str())
        && (entry.major != 0 || entry.source.starts_with(b"/dev/"))
}

/// Whether a filesystem is served over a network or by a process (FUSE, virtiofs): a call
/// on it can wait as long as its server does — forever, on a hard NFS mount whose server is
/// gone. The agent reads nothing there on its own account.
pub fn served(fstype: &str) -> bool {
    fstype.starts_with("fuse")
        || matches!(
            fstype,
            "nfs"
                | "nfs4"
                | "cifs"
                | "smb3"
                | "smbfs"
                | "9p"
                | "ceph"
                | "glusterfs"
                | "afs"
                | "lustre"
                | "virtiofs"
                | "davfs"
                | "ncpfs"
                | "coda"
                | "gfs2"
                | "ocfs2"
                | "orangefs"
                | "beegfs"
                | "gpfs"
        )
}

/// The mount points of [`served`] filesystems, from mountinfo's entries.
pub fn served_mount_points(entries: &[MountEntry]) -> Vec<Vec<u8>> {
    entries
        .iter()
        .filter(|e| served(&e.fstype))
        .map(|e| e.mount_point.clone())
        .collect()
}

/// Where the periodic looks at the watch list do not go: the mount points of [`served`]
/// filesystems (a look there asks their server, from every host, every few seconds, and waits
/// as long as it does) and of automounts (`autofs`: a look there mounts what it serves, or
/// keeps it from expiring).
pub fn unlooked_mount_points(entries: &[MountEntry]) -> Vec<Vec<u8>> {
    entries
        .iter()
        .filter(|e| served(&e.fstype) || e.fstype == "autofs")
        .map(|e| e.mount_point.clone())
        .collect()
}

/// Memory filesystems whose files the default marks cover when users can write there.
const MEMORY_FILESYSTEMS: &[&str] = &["tmpfs", "ramfs"];

/// The default mark targets: one mount point per local block device, in mountinfo order,
/// preferring a mount of the filesystem's root (`root == "/"`) over bind mounts of subtrees;
/// then the memory filesystems (tmpfs, ramfs) that `staging` says users can write to — where
/// an intruder stages tools that leave no trace on disk (`/dev/shm`, a tmpfs `/tmp`,
/// `/run/user/UID`), not the system's own (`/run`, `/sys/fs/cgroup`). (The caller
/// deduplicates again by `statfs` fsid, which is what fanotify reports.)
pub fn default_filesystems(
    entries: &[MountEntry],
    staging: impl Fn(&Path) -> bool,
) -> Vec<PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    let path = |e: &MountEntry| PathBuf::from(std::ffi::OsStr::from_bytes(&e.mount_point));
    // `staging` looks at the mount point: never through a served filesystem, whose server
    // may not answer.
    let unlooked = unlooked_mount_points(entries);
    let memory = |e: &&MountEntry| {
        MEMORY_FILESYSTEMS.contains(&e.fstype.as_str())
            && e.root == b"/"
            && !unlooked.iter().any(|m| e.mount_point.starts_with(m))
            && staging(&path(e))
    };
    // A mount under a later one on the same point is hidden: its path names the later one.
    let visible = entries.iter().enumerate().filter(|(i, e)| {
        !entries[i + 1..]
            .iter()
            .any(|later| later.mount_point == e.mount_point)
    });
    let mut chosen: Vec<&MountEntry> = Vec::new();
    for (_, entry) in visible.filter(|(_, e)| is_local_block_filesystem(e) || memory(e)) {
        match chosen
            .iter_mut()
            .find(|c| (c.major, c.minor) == (entry.major, entry.minor))
        {
            Some(c) if c.root != b"/" && entry.root == b"/" => *c = entry,
            Some(_) => {}
            None => chosen.push(entry),
        }
    }
    chosen.into_iter().map(path).collect()
}

/// Whether users other than root can write to the directory at `path` (world-writable, or
/// owned by another user): a memory filesystem there is a staging area. Where it cannot be
/// looked at (gone, or not a directory), not.
pub fn open_to_users(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_dir() && (m.mode() & 0o002 != 0 || m.uid() != 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &[u8] = b"22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard
25 24 0:23 / /dev/shm rw,relatime - tmpfs tmpfs rw,size=24684092k
60 27 254:0 /srv/data /mnt/bind rw,relatime shared:5 - ext4 /dev/vda rw
61 27 8:17 /sub /mnt/x rw - xfs /dev/sdb1 rw
62 27 8:17 / /mnt/my\\040disk rw - xfs /dev/sdb1 rw
63 27 0:50 / /var/lib/docker/overlay2/x/merged rw - overlay overlay rw
64 27 0:51 / /home rw - btrfs /dev/sdc rw
garbage line
";

    #[test]
    fn network_and_fuse_mounts_are_served() {
        let text = [
            SAMPLE,
            b"70 27 0:60 / /mnt/nfs rw - nfs4 server:/export rw
",
            b"71 27 0:61 / /home/u/remote rw - fuse.sshfs u@h: rw
",
            b"72 27 0:62 / /mnt/share rw - cifs //h/share rw
",
        ]
        .concat();
        let points = served_mount_points(&parse_mountinfo(&text));
        assert_eq!(
            points,
            [&b"/mnt/nfs"[..], b"/home/u/remote", b"/mnt/share"],
            "ext4, xfs, btrfs, tmpfs, overlay, proc are not"
        );
        assert!(served("fuseblk") && served("virtiofs") && !served("ext4") && !served("tmpfs"));
        // The looks at the watch list keep out of those and of automounts too.
        let automounted = [&text[..], b"73 27 0:63 / /net rw - autofs auto.net rw\n"].concat();
        assert_eq!(
            unlooked_mount_points(&parse_mountinfo(&automounted)),
            [&b"/mnt/nfs"[..], b"/home/u/remote", b"/mnt/share", b"/net"]
        );
    }

    #[test]
    fn parses_and_chooses() {
        let entries = parse_mountinfo(SAMPLE);
        assert_eq!(entries.len(), 8);
        assert_eq!(entries[1].fstype, "ext4");
        assert_eq!(entries[1].source, b"/dev/vda");
        assert_eq!(entries[3].root, b"/srv/data");
        assert_eq!(entries[5].mount_point, b"/mnt/my disk");
        // The bind mount of /dev/vda loses to its root mount; the xfs root mount wins over
        // its subtree mount; btrfs (anonymous device number, /dev source) is in.
        assert_eq!(
            default_filesystems(&entries, |_| false),
            [
                PathBuf::from("/"),
                PathBuf::from("/mnt/my disk"),
                PathBuf::from("/home")
            ]
        );
    }

    /// Memory filesystems are marked where users can write (as `staging` says), after the
    /// block devices: never one mounted below a served filesystem (not even looked at), nor a
    /// bind mount of a subtree, nor one another is mounted over (its path names that one).
    #[test]
    fn memory_filesystems_users_can_write_are_chosen() {
        let text = [
            SAMPLE,
            b"80 27 0:70 / /tmp rw - tmpfs tmpfs rw
81 27 0:71 / /run rw - tmpfs tmpfs rw,mode=755
82 81 0:72 / /run/user/1000 rw - tmpfs tmpfs rw,mode=700,uid=1000
83 27 0:73 / /mnt/nfs rw - nfs4 server:/export rw
84 83 0:74 / /mnt/nfs/scratch rw - tmpfs tmpfs rw
85 27 0:70 /sub /mnt/tmpsub rw - tmpfs tmpfs rw
86 27 0:75 / /srv/ram rw - ramfs ramfs rw
87 25 0:76 / /dev/shm rw - tmpfs tmpfs rw
",
        ]
        .concat();
        let entries = parse_mountinfo(&text);
        let looked = std::cell::RefCell::new(Vec::new());
        let staging = |p: &Path| {
            looked.borrow_mut().push(p.to_path_buf());
            p != Path::new("/run")
        };
        let chosen = default_filesystems(&entries, staging);
        let paths = |list: &[&str]| list.iter().map(PathBuf::from).collect::<Vec<_>>();
        assert_eq!(
            chosen,
            paths(&[
                "/",
                "/mnt/my disk",
                "/home",
                "/tmp",
                "/run/user/1000",
                "/srv/ram",
                "/dev/shm"
            ])
        );
        assert!(
            !looked.borrow().contains(&PathBuf::from("/mnt/nfs/scratch")),
            "nothing looked at below a served mount"
        );
        assert!(!looked.borrow().contains(&PathBuf::from("/mnt/tmpsub")));
    }

    #[test]
    fn a_directory_open_to_users_is_world_writable_or_not_roots() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let set = |mode: u32| {
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(mode)).unwrap()
        };
        set(0o1777);
        assert!(open_to_users(dir.path()));
        set(0o755);
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        assert_eq!(open_to_users(dir.path()), !root, "owned by us");
        assert!(!open_to_users(&dir.path().join("gone")));
    }

    #[test]
    fn unescape_leaves_odd_backslashes() {
        assert_eq!(unescape(b"a\\040b"), b"a b");
        assert_eq!(unescape(b"a\\04"), b"a\\04");
        assert_eq!(unescape(b"\\134x"), b"\\x");
    }
}

//! Container id from `/proc/PID/cgroup`: docker, containerd, cri-o, podman and kubepods
//! layouts, cgroup v1 and v2, cgroupfs and systemd drivers; cached by cgroup id on hosts where
//! that id names the whole membership (unified hierarchy only).

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use crate::lru::Bounded;

/// Prefixes runtimes put before the id in systemd scope names (`docker-<id>.scope`).
const SCOPE_PREFIXES: [&str; 5] = [
    "docker-",
    "cri-containerd-",
    "crio-",
    "libpod-",
    "containerd-",
];

/// The container id (64 lowercase hex) named by the text of a `/proc/PID/cgroup` file, or None
/// for a process outside any recognised container. Every line is `hierarchy:controllers:path`;
/// in each path the last component that names a container wins (docker-in-docker → the inner
/// one), and the first line with an id answers (controllers agree in practice).
///
/// Recognised components: a bare 64-hex name (`/docker/<id>`, cgroupfs
/// `/kubepods/burstable/pod<uid>/<id>`), and `<prefix><id>.scope` with prefix `docker-`,
/// `cri-containerd-`, `crio-`, `libpod-` or `containerd-` (systemd driver, also under
/// `kubepods-*.slice`). Runtime monitors (`crio-conmon-<id>.scope`, `libpod-conmon-<id>.scope`)
/// are not containers.
pub fn container_id(cgroup: &str) -> Option<String> {
    cgroup.lines().find_map(|line| {
        let path = line.splitn(3, ':').nth(2)?;
        path.split('/').rev().find_map(component_id)
    })
}

/// The container id one cgroup path component names, if any.
fn component_id(c: &str) -> Option<String> {
    if is_id(c) {
        return Some(c.to_string());
    }
    let stem = c.strip_suffix(".scope").unwrap_or(c);
    SCOPE_PREFIXES.iter().find_map(|p| {
        let id = stem.strip_prefix(p)?;
        is_id(id).then(|| id.to_string())
    })
}

fn is_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The container id of process `pid`, from `/proc/PID/cgroup` (None when it cannot be read).
pub fn container_id_of(pid: u32) -> Option<String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    container_id(&text)
}

/// Where the unified (v2) hierarchy is mounted, if it is the only cgroup hierarchy: the
/// `/proc/self/cgroup` text is a single `0::` line, and `mounts` (`/proc/self/mounts`) has a
/// `cgroup2` entry. On such a host a cgroup id names a process's whole cgroup membership.
pub fn unified_only_mount(self_cgroup: &str, mounts: &str) -> Option<PathBuf> {
    let mut lines = self_cgroup.lines().filter(|l| !l.is_empty());
    let only = lines.next()?;
    if !only.starts_with("0::") || lines.next().is_some() {
        return None;
    }
    mounts.lines().find_map(|l| {
        let mut fields = l.split(' ');
        let (_, dir, kind) = (fields.next()?, fields.next()?, fields.next()?);
        (kind == "cgroup2").then(|| PathBuf::from(unescape_mount(dir)))
    })
}

/// A mount point as `/proc/self/mounts` escapes it (space, tab, newline, backslash in octal).
fn unescape_mount(dir: &str) -> String {
    let b = dir.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b
            .get(i + 1..i + 4)
            .filter(|d| b[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match octal {
            Some(d) => {
                out.push(
                    d.iter()
                        .fold(0u8, |n, c| n.wrapping_mul(8).wrapping_add(c - b'0')),
                );
                i += 4;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Container ids by cgroup id. Where the unified hierarchy is the only one, the cgroup id an
/// exec record carries names the process's whole membership: one read of `/proc/PID/cgroup`
/// answers for every later process of that cgroup, also for one that exited before it could
/// be read. Elsewhere (hybrid v1 + v2 hosts, whose v1 paths a cgroup id does not name), and for
/// execs without a cgroup id, each lookup reads `/proc/PID/cgroup`.
pub struct ContainerIds {
    unified: Option<PathBuf>,
    cache: Bounded<u64, Option<String>>,
    hits: u64,
    reads: u64,
}

impl std::fmt::Debug for ContainerIds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContainerIds")
            .field("unified", &self.unified)
            .field("hits", &self.hits)
            .field("reads", &self.reads)
            .finish_non_exhaustive()
    }
}

impl ContainerIds {
    /// Cgroups remembered at most.
    const CAPACITY: usize = 4096;

    /// For this host: cached by cgroup id when the unified hierarchy is the only one.
    pub fn for_host() -> ContainerIds {
        let read = |path| std::fs::read_to_string(path).unwrap_or_default();
        ContainerIds::new(unified_only_mount(
            &read("/proc/self/cgroup"),
            &read("/proc/self/mounts"),
        ))
    }

    /// Cached by cgroup id when `unified` (the cgroup2 mount) is given; never otherwise.
    pub fn new(unified: Option<PathBuf>) -> ContainerIds {
        ContainerIds {
            unified,
            cache: Bounded::new(Self::CAPACITY),
            hits: 0,
            reads: 0,
        }
    }

    /// Whether lookups with a cgroup id are cached (a unified-only host).
    pub fn caching(&self) -> bool {
        self.unified.is_some()
    }

    /// The container id of process `pid`, whose cgroup (v2 id) was `cgroup_id` at its exec.
    pub fn of(&mut self, pid: u32, cgroup_id: Option<u64>) -> Option<String> {
        let (Some(root), Some(id)) = (self.unified.as_ref(), cgroup_id) else {
            return container_id_of(pid);
        };
        if let Some(known) = self.cache.get(&id) {
            self.hits += 1;
            return known.clone();
        }
        self.reads += 1;
        let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
        let container = container_id(&text);
        // Kept only when the cgroup read is the exec's (the directory's inode is the id): the
        // process may have moved since, or exited and left its pid to another.
        let path = text.lines().find_map(|l| l.strip_prefix("0::"));
        let dir = path.map(|p| root.join(p.trim_start_matches('/')));
        if dir.and_then(|d| std::fs::metadata(d).ok()).map(|m| m.ino()) == Some(id) {
            self.cache.insert(id, container.clone());
        }
        container
    }

    /// Lookups answered from the cache, and reads of `/proc/PID/cgroup` made for lookups with a
    /// cgroup id.
    pub fn stats(&self) -> (u64, u64) {
        (self.hits, self.reads)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "3f1c2b7e9a0d4c5b8e6f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d";
    const ID2: &str = "aaaabbbbccccddddeeeeffff00001111222233334444555566667777888899990";

    fn one(path: &str) -> Option<String> {
        container_id(&format!("0::{path}\n"))
    }

    #[test]
    fn docker_cgroupfs_v1() {
        let text = format!(
            "12:pids:/docker/{ID}\n11:memory:/docker/{ID}\n1:name=systemd:/docker/{ID}\n0::/system.slice/containerd.service\n"
        );
        assert_eq!(container_id(&text).as_deref(), Some(ID));
    }

    #[test]
    fn docker_systemd_v2() {
        assert_eq!(
            one(&format!("/system.slice/docker-{ID}.scope")).as_deref(),
            Some(ID)
        );
        // A sub-cgroup inside the container still names it.
        assert_eq!(
            one(&format!("/system.slice/docker-{ID}.scope/init.scope")).as_deref(),
            Some(ID)
        );
    }

    #[test]
    fn containerd_and_crio_kubepods_systemd() {
        let uid = "pod0c2f1e7a_7b1d_4e3b_9a3e_2f1d0c9b8a7e";
        assert_eq!(
            one(&format!(
                "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-{uid}.slice/cri-containerd-{ID}.scope"
            ))
            .as_deref(),
            Some(ID)
        );
        assert_eq!(
            one(&format!(
                "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-{uid}.slice/crio-{ID}.scope"
            ))
            .as_deref(),
            Some(ID)
        );
        assert_eq!(
            one(&format!(
                "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-{uid}.slice/crio-conmon-{ID}.scope"
            )),
            None,
            "conmon is the monitor, not the container"
        );
    }

    #[test]
    fn kubepods_cgroupfs_v1() {
        let text = format!(
            "11:cpuset:/kubepods/besteffort/pod0c2f1e7a-7b1d-4e3b-9a3e-2f1d0c9b8a7e/{ID}\n10:memory:/kubepods/besteffort/pod0c2f1e7a-7b1d-4e3b-9a3e-2f1d0c9b8a7e/{ID}\n"
        );
        assert_eq!(container_id(&text).as_deref(), Some(ID));
    }

    #[test]
    fn podman() {
        assert_eq!(
            one(&format!("/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{ID}.scope/container"))
                .as_deref(),
            Some(ID)
        );
        assert_eq!(
            one(&format!("/machine.slice/libpod-{ID}.scope")).as_deref(),
            Some(ID)
        );
        assert_eq!(
            one(&format!("/machine.slice/libpod-conmon-{ID}.scope")),
            None
        );
    }

    #[test]
    fn docker_in_docker_names_the_inner_container() {
        let inner = &ID2[..64];
        assert_eq!(
            one(&format!("/docker/{ID}/docker/{inner}")).as_deref(),
            Some(inner)
        );
    }

    #[test]
    fn not_in_a_container() {
        assert_eq!(one("/"), None);
        assert_eq!(one("/user.slice/user-0.slice/session-3.scope"), None);
        assert_eq!(one("/system.slice/docker.service"), None);
        // This VM's own layout: a 32-hex name is not a container id.
        let text =
            "9:name=systemd:/\n4:memory:/process_api/a775f0a859b53b049126fa8418b827d4\n0::/\n";
        assert_eq!(container_id(text), None);
        assert_eq!(one(&format!("/docker/{}", ID.to_uppercase())), None);
        assert_eq!(one(&format!("/docker/{}", &ID[..63])), None);
        assert_eq!(container_id(""), None);
        assert_eq!(container_id("garbage without colons"), None);
    }

    #[test]
    fn only_a_unified_hierarchy_is_cached() {
        let mounts = "sysfs /sys sysfs rw 0 0\ncgroup2 /sys/fs/cgroup cgroup2 rw,nosuid 0 0\n";
        assert_eq!(
            unified_only_mount("0::/user.slice/session-3.scope\n", mounts),
            Some(PathBuf::from("/sys/fs/cgroup"))
        );
        // Hybrid: v1 hierarchies beside the unified one.
        let hybrid = "4:memory:/x\n1:name=systemd:/user.slice\n0::/user.slice\n";
        assert_eq!(unified_only_mount(hybrid, mounts), None);
        // No cgroup2 mount to check a cgroup's id against.
        assert_eq!(
            unified_only_mount("0::/\n", "sysfs /sys sysfs rw 0 0\n"),
            None
        );
        assert_eq!(unified_only_mount("", mounts), None);
        // Mount points are octal-escaped.
        let odd = "cgroup2 /mnt/cg\\040two cgroup2 rw 0 0\n";
        assert_eq!(
            unified_only_mount("0::/\n", odd),
            Some(PathBuf::from("/mnt/cg two"))
        );
    }

    /// This process's cgroup in the unified hierarchy, if one is mounted (also on a hybrid
    /// host): the mount, and the directory's inode (its cgroup id).
    fn own_unified_cgroup() -> Option<(PathBuf, u64)> {
        let mounts = std::fs::read_to_string("/proc/self/mounts").ok()?;
        let root = unified_only_mount("0::/\n", &mounts)?;
        let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
        let path = text.lines().find_map(|l| l.strip_prefix("0::"))?;
        let dir = root.join(path.trim_start_matches('/'));
        Some((root, std::fs::metadata(dir).ok()?.ino()))
    }

    #[test]
    fn a_cgroup_read_once_answers_for_its_later_processes() {
        let Some((root, id)) = own_unified_cgroup() else {
            eprintln!("SKIP: no cgroup2 mount");
            return;
        };
        let me = std::process::id();
        let want = container_id_of(me);
        let mut ids = ContainerIds::new(Some(root));
        assert!(ids.caching());
        assert_eq!(ids.of(me, Some(id)), want);
        assert_eq!(ids.stats(), (0, 1));
        // A pid that holds no process: only the cache can answer, by the cgroup id.
        assert_eq!(ids.of(u32::MAX, Some(id)), want);
        assert_eq!(ids.stats(), (1, 1));
        // An id that is not the cgroup /proc shows is not remembered under it.
        let wrong = id ^ 0x5a5a;
        assert_eq!(ids.of(me, Some(wrong)), want);
        assert_eq!(ids.of(u32::MAX, Some(wrong)), None);
        assert_eq!(ids.stats(), (1, 3));
        // Without caching (hybrid hosts), every lookup reads /proc.
        let mut uncached = ContainerIds::new(None);
        assert_eq!(uncached.of(me, Some(id)), want);
        assert_eq!(uncached.of(u32::MAX, Some(id)), None);
    }
}

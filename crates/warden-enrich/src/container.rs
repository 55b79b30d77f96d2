//! Container id from `/proc/PID/cgroup`: docker, containerd, cri-o, podman and kubepods
//! layouts, cgroup v1 and v2, cgroupfs and systemd drivers.

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
    fn this_process() {
        // Must not panic; on a bare host it is None.
        let _ = container_id_of(std::process::id());
    }
}

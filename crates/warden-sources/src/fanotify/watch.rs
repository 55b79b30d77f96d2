//! The default watch list of credential stores whose reads are worth recording (ssh and gpg
//! keys, cloud, registry and package-index tokens, browser and mail password and cookie
//! databases, /etc/shadow, the host's SSH and Kerberos keys), as a pure function of the users'
//! home directories; plus the small IO that expands its `*` components (browser profiles, host
//! key types) and keeps the paths that exist, and the thread that looks at the list again
//! from time to time ([`spawn_looker`]: stores made since the start are watched too).

use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// A path whose reads are recorded, with the label events carry (`ssh`, `firefox`...).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct WatchPath {
    /// A file, or a directory (its direct children are watched).
    pub path: PathBuf,
    /// What it holds, reported as the event's `watch`.
    pub label: Arc<str>,
}

impl WatchPath {
    /// A watch of `path` labelled `label`.
    pub fn new(path: impl Into<PathBuf>, label: &str) -> WatchPath {
        WatchPath {
            path: path.into(),
            label: Arc::from(label),
        }
    }
}

/// Where the watched paths are now: asked again from time to time
/// ([`super::FanotifyConfig::rewatch`]), so that credential stores made after the start are
/// watched too.
#[derive(Clone)]
pub struct WatchList(Arc<dyn Fn() -> Vec<WatchPath> + Send + Sync>);

impl WatchList {
    /// The list `list` gives each time it is called.
    pub fn new(list: impl Fn() -> Vec<WatchPath> + Send + Sync + 'static) -> WatchList {
        WatchList(Arc::new(list))
    }

    /// The watched paths now.
    pub fn now(&self) -> Vec<WatchPath> {
        (self.0)()
    }
}

impl std::fmt::Debug for WatchList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WatchList(..)")
    }
}

/// A thread (`warden-rewatch`) that asks `list` every `every` (the first time `every` after
/// the start) and sends what `look` makes of it (given when the look began), until `stop` or
/// until the receiver is gone. Its looks may wait on a slow filesystem; whoever receives them
/// does not.
pub fn spawn_looker<T: Send + 'static>(
    list: WatchList,
    every: Duration,
    stop: Arc<AtomicBool>,
    look: impl Fn(Instant, Vec<WatchPath>) -> T + Send + 'static,
) -> std::io::Result<crossbeam_channel::Receiver<T>> {
    let (tx, rx) = crossbeam_channel::bounded(1);
    std::thread::Builder::new()
        .name("warden-rewatch".into())
        .spawn(move || {
            let mut last = Instant::now();
            while !stop.load(Ordering::SeqCst) {
                // A wake-up a second at most: the thread ends within one of `stop`.
                std::thread::sleep(every.min(Duration::from_secs(1)));
                if last.elapsed() < every {
                    continue;
                }
                let began = Instant::now();
                last = began;
                if tx.send(look(began, list.now())).is_err() {
                    break;
                }
            }
        })?;
    Ok(rx)
}

/// Home directories from `/etc/passwd` text (field 6), deduplicated, in file order. Empty
/// homes are skipped; `/` and `/nonexistent` are kept out because nothing credential-like
/// lives at their top.
pub fn parse_passwd_homes(passwd: &[u8]) -> Vec<PathBuf> {
    let mut homes: Vec<PathBuf> = Vec::new();
    for line in passwd.split(|&b| b == b'\n') {
        if line.starts_with(b"#") {
            continue;
        }
        let Some(home) = line.split(|&b| b == b':').nth(5) else {
            continue;
        };
        if home.is_empty() || home == b"/" || home == b"/nonexistent" {
            continue;
        }
        let home = PathBuf::from(std::ffi::OsString::from_vec(home.to_vec()));
        if !homes.contains(&home) {
            homes.push(home);
        }
    }
    homes
}

/// Per home: (relative path, label). A `*` in a component matches any run of characters
/// within one entry (a browser profile); a trailing `/` marks a directory watch.
const HOME_CREDENTIALS: &[(&str, &str)] = &[
    (".ssh/", "ssh"),
    (".gnupg/", "gnupg"),
    (".gnupg/private-keys-v1.d/", "gnupg"),
    (".aws/credentials", "aws"),
    (".aws/config", "aws"),
    (".azure/", "azure"),
    (".config/gcloud/", "gcloud"),
    (".docker/config.json", "docker"),
    (".config/containers/auth.json", "containers"),
    (".kube/config", "kube"),
    (".netrc", "netrc"),
    (".git-credentials", "git"),
    (".config/git/credentials", "git"),
    (".config/gh/hosts.yml", "github"),
    (".npmrc", "npm"),
    (".pypirc", "pypi"),
    (".cargo/credentials.toml", "cargo"),
    (".cargo/credentials", "cargo"),
    (".vault-token", "vault"),
    (".terraform.d/credentials.tfrc.json", "terraform"),
    (".pgpass", "postgres"),
    (".my.cnf", "mysql"),
    (".local/share/keyrings/", "keyring"),
    (".local/share/kwalletd/", "keyring"),
    (".password-store/", "pass"),
    (".mozilla/firefox/*/logins.json", "firefox"),
    (".mozilla/firefox/*/key4.db", "firefox"),
    (".mozilla/firefox/*/cookies.sqlite", "firefox"),
    (".thunderbird/*/logins.json", "thunderbird"),
    (".thunderbird/*/key4.db", "thunderbird"),
];

/// Chromium-family browsers: (config directory under `~/.config`, label).
const CHROMIUM_BROWSERS: &[(&str, &str)] = &[
    ("google-chrome", "chrome"),
    ("chromium", "chromium"),
    ("BraveSoftware/Brave-Browser", "brave"),
    ("microsoft-edge", "edge"),
];

/// Files of a Chromium profile holding secrets (`Cookies` moved under `Network/` in 2021).
const CHROMIUM_FILES: &[&str] = &["Login Data", "Cookies", "Network/Cookies", "Web Data"];

/// System-wide credential stores: password hashes (and the old ones pam_pwhistory keeps), the
/// host's SSH private keys, its Kerberos keys.
const SYSTEM_CREDENTIALS: &[(&str, &str)] = &[
    ("/etc/shadow", "shadow"),
    ("/etc/gshadow", "shadow"),
    ("/etc/shadow-", "shadow"),
    ("/etc/gshadow-", "shadow"),
    ("/etc/security/opasswd", "shadow"),
    ("/etc/ssh/ssh_host_*_key", "ssh_host"),
    ("/etc/krb5.keytab", "kerberos"),
];

/// The credential watch list for these homes, as patterns (may contain `*` components; a
/// trailing `/` in the text form means a directory). Pure: nothing is checked to exist.
pub fn credential_watch_patterns(homes: &[PathBuf]) -> Vec<WatchPath> {
    let mut out = Vec::new();
    for (path, label) in SYSTEM_CREDENTIALS {
        out.push(WatchPath::new(*path, label));
    }
    for home in homes {
        for (rel, label) in HOME_CREDENTIALS {
            out.push(WatchPath::new(home.join(rel), label));
        }
        for (dir, label) in CHROMIUM_BROWSERS {
            for file in CHROMIUM_FILES {
                out.push(WatchPath::new(
                    home.join(".config").join(dir).join("*").join(file),
                    label,
                ));
            }
        }
    }
    out
}

/// Whether `name` matches `pattern`, a component with one `*` (any run of characters).
fn matches_star(pattern: &[u8], name: &[u8]) -> bool {
    let Some(star) = pattern.iter().position(|&b| b == b'*') else {
        return pattern == name;
    };
    let (prefix, suffix) = (&pattern[..star], &pattern[star + 1..]);
    name.len() >= prefix.len() + suffix.len() && name.starts_with(prefix) && name.ends_with(suffix)
}

/// Expand a pattern's `*` components against the filesystem and keep what exists.
pub fn expand_existing(pattern: &WatchPath) -> Vec<WatchPath> {
    expand_existing_in(pattern, &mut Dirs::default())
}

/// Which directories exist, each asked once per look: the patterns of a home share most of
/// theirs (~/.config), and most homes (a system account's) have none of them.
#[derive(Default)]
struct Dirs(std::collections::HashMap<PathBuf, bool>);

impl Dirs {
    fn exist(&mut self, path: &Path) -> bool {
        if let Some(known) = self.0.get(path) {
            return *known;
        }
        let is_dir = path.is_dir();
        self.0.insert(path.to_path_buf(), is_dir);
        is_dir
    }
}

fn expand_existing_in(pattern: &WatchPath, dirs: &mut Dirs) -> Vec<WatchPath> {
    let mut found = vec![PathBuf::new()];
    for component in pattern.path.components() {
        let part = component.as_os_str();
        let mut next = Vec::new();
        for base in &found {
            // Where the path so far is no directory, nothing below it is looked for.
            if !base.as_os_str().is_empty() && !dirs.exist(base) {
                continue;
            }
            if part.as_bytes().contains(&b'*') {
                let Ok(dir) = std::fs::read_dir(base) else {
                    continue;
                };
                for entry in dir.flatten() {
                    if matches_star(part.as_bytes(), entry.file_name().as_bytes()) {
                        next.push(base.join(entry.file_name()));
                    }
                }
            } else {
                next.push(base.join(part));
            }
        }
        found = next;
    }
    found
        .into_iter()
        .filter(|p| p.symlink_metadata().is_ok())
        .map(|path| WatchPath {
            path,
            label: pattern.label.clone(),
        })
        .collect()
}

/// The credential watch list of this host: homes from `passwd` (normally `/etc/passwd`),
/// patterns expanded, existing paths only, each once; nothing at or below `avoid` (mount points
/// not to look into: [`super::mounts::unlooked_mount_points`]) is looked at.
pub fn credential_watches(passwd: &Path, avoid: &[Vec<u8>]) -> std::io::Result<Vec<WatchPath>> {
    let avoided = |path: &Path| {
        avoid
            .iter()
            .any(|a| super::under_prefix(path.as_os_str().as_bytes(), a))
    };
    let mut homes = parse_passwd_homes(&std::fs::read(passwd)?);
    homes.retain(|home| !avoided(home));
    let mut out: Vec<WatchPath> = Vec::new();
    let mut dirs = Dirs::default();
    for pattern in credential_watch_patterns(&homes) {
        if avoided(&pattern.path) {
            continue;
        }
        for watch in expand_existing_in(&pattern, &mut dirs) {
            if !out.iter().any(|w| w.path == watch.path) {
                out.push(watch);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn homes_from_passwd() {
        let passwd = b"root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
systemd-network:x:998:998::/:/usr/sbin/nologin
alice:x:1000:1000:Alice:/home/alice:/bin/bash
alice2:x:1001:1001::/home/alice:/bin/bash
# comment
broken
";
        assert_eq!(
            parse_passwd_homes(passwd),
            [
                PathBuf::from("/root"),
                PathBuf::from("/usr/sbin"),
                PathBuf::from("/home/alice")
            ]
        );
    }

    #[test]
    fn patterns_cover_the_stores() {
        let pats = credential_watch_patterns(&[PathBuf::from("/home/a")]);
        let has = |p: &str, label: &str| {
            pats.iter()
                .any(|w| w.path == Path::new(p) && &*w.label == label)
        };
        assert!(has("/etc/shadow", "shadow"));
        assert!(has("/etc/ssh/ssh_host_*_key", "ssh_host"));
        assert!(has("/etc/krb5.keytab", "kerberos"));
        assert!(has("/home/a/.config/gcloud/", "gcloud"));
        assert!(has("/home/a/.config/gh/hosts.yml", "github"));
        assert!(has("/home/a/.ssh/", "ssh"));
        assert!(has("/home/a/.aws/credentials", "aws"));
        assert!(has("/home/a/.kube/config", "kube"));
        assert!(has("/home/a/.mozilla/firefox/*/key4.db", "firefox"));
        assert!(has("/home/a/.config/google-chrome/*/Login Data", "chrome"));
        assert!(has(
            "/home/a/.config/BraveSoftware/Brave-Browser/*/Network/Cookies",
            "brave"
        ));
    }

    #[test]
    fn expands_profiles() {
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path();
        for profile in ["abc.default", "xyz.work"] {
            let dir = home.join(".mozilla/firefox").join(profile);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("logins.json"), "{}").unwrap();
        }
        std::fs::create_dir_all(home.join(".ssh")).unwrap();
        let pats = credential_watch_patterns(&[home.to_path_buf()]);
        let mut found: Vec<_> = pats.iter().flat_map(expand_existing).collect();
        found.retain(|w| w.path.starts_with(home));
        found.sort_by(|a, b| a.path.cmp(&b.path));
        let rel: Vec<_> = found
            .iter()
            .map(|w| (w.path.strip_prefix(home).unwrap().to_owned(), &*w.label))
            .collect();
        assert_eq!(
            rel,
            [
                (
                    PathBuf::from(".mozilla/firefox/abc.default/logins.json"),
                    "firefox"
                ),
                (
                    PathBuf::from(".mozilla/firefox/xyz.work/logins.json"),
                    "firefox"
                ),
                (PathBuf::from(".ssh"), "ssh"),
            ]
        );
    }

    #[test]
    fn a_star_matches_within_one_entry() {
        assert!(matches_star(b"ssh_host_*_key", b"ssh_host_ed25519_key"));
        assert!(!matches_star(
            b"ssh_host_*_key",
            b"ssh_host_ed25519_key.pub"
        ));
        assert!(!matches_star(b"ssh_host_*_key", b"ssh_host_key"));
        assert!(matches_star(b"*", b"abc.default"));
        assert!(matches_star(b"plain", b"plain") && !matches_star(b"plain", b"plainer"));
        let tmp = tempfile::tempdir().unwrap();
        for name in [
            "ssh_host_ed25519_key",
            "ssh_host_ed25519_key.pub",
            "ssh_host_rsa_key",
            "sshd_config",
        ] {
            std::fs::write(tmp.path().join(name), "").unwrap();
        }
        let mut keys: Vec<_> = expand_existing(&WatchPath::new(
            tmp.path().join("ssh_host_*_key"),
            "ssh_host",
        ))
        .into_iter()
        .map(|w| w.path.file_name().unwrap().to_owned())
        .collect();
        keys.sort();
        assert_eq!(keys, ["ssh_host_ed25519_key", "ssh_host_rsa_key"]);
    }

    #[test]
    fn stores_under_an_avoided_mount_point_are_not_looked_at() {
        let tmp = tempfile::tempdir().unwrap();
        let (local, remote) = (tmp.path().join("local"), tmp.path().join("remote/u"));
        for home in [&local, &remote] {
            std::fs::create_dir_all(home.join(".ssh")).unwrap();
        }
        let passwd = tmp.path().join("passwd");
        std::fs::write(
            &passwd,
            format!(
                "a:x:1000:1000::{}:/bin/sh\nu:x:1001:1001::{}:/bin/sh\n",
                local.display(),
                remote.display()
            ),
        )
        .unwrap();
        let homes_watched = |avoid: &[Vec<u8>]| -> Vec<PathBuf> {
            let mut found: Vec<_> = credential_watches(&passwd, avoid)
                .unwrap()
                .into_iter()
                .filter(|w| w.path.starts_with(tmp.path()))
                .map(|w| w.path)
                .collect();
            found.sort();
            found
        };
        assert_eq!(
            homes_watched(&[]),
            [local.join(".ssh"), remote.join(".ssh")]
        );
        let mount_point = tmp.path().join("remote").as_os_str().as_bytes().to_vec();
        assert_eq!(homes_watched(&[mount_point]), [local.join(".ssh")]);
    }
}

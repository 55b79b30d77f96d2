//! Debian package ownership and integrity: which package installed a file
//! (`/var/lib/dpkg/info/*.list`) and whether it still matches the md5 dpkg recorded
//! (`*.md5sums`).

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use md5::{Digest, Md5};
use warden_core::FileVersion;

use crate::lru::Bounded;

/// Settings of the [`DpkgIndex`].
#[derive(Clone, Debug)]
pub struct DpkgConfig {
    /// dpkg's admin directory (default `/var/lib/dpkg`): `status` and `info/` live there.
    pub admin_dir: PathBuf,
    /// Root the listed paths are resolved under when canonicalizing (default `/`).
    pub root: PathBuf,
    /// How often, at most, `status`'s mtime is checked for a package change (default 2 s).
    pub check_interval: Duration,
    /// md5 results remembered, per file version (default 4096).
    pub md5_capacity: usize,
    /// Files larger than this are not verified (`verify` returns None) (default 64 MiB).
    pub max_verify_size: u64,
}

impl Default for DpkgConfig {
    fn default() -> Self {
        DpkgConfig {
            admin_dir: PathBuf::from("/var/lib/dpkg"),
            root: PathBuf::from("/"),
            check_interval: Duration::from_secs(2),
            md5_capacity: 4096,
            max_verify_size: 64 << 20,
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Owned {
    /// Index into `Loaded::packages`.
    package: u32,
    md5: Option<[u8; 16]>,
}

#[derive(Debug, Default)]
struct Loaded {
    /// Package names as dpkg prints them: `bash`, `libc6:amd64`.
    packages: Vec<Box<str>>,
    /// Canonical path (directories resolved, so `/bin/x` is `/usr/bin/x` on merged-/usr) →
    /// owner. Directories are left out: many packages share them.
    files: HashMap<Box<[u8]>, Owned>,
    /// `status`'s mtime when loaded.
    status_mtime: Option<i64>,
    build_time: Duration,
}

/// Sizes and timing of the loaded index.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DpkgStats {
    /// Packages with a `.list` file.
    pub packages: usize,
    /// Files (not directories) owned by some package.
    pub files: usize,
    /// Files with a recorded md5.
    pub with_md5: usize,
    /// How long the last (re)build took.
    pub build_time: Duration,
    /// Times the index was (re)built.
    pub builds: u64,
    /// md5 digests computed (cache misses of `verify`).
    pub md5_computed: u64,
}

/// Which Debian package owns a path, and whether the file still matches its recorded md5. Built
/// lazily on first use; rebuilt when `/var/lib/dpkg/status` changes (checked at most every
/// `check_interval`). Without dpkg (another distribution) every answer is None.
#[derive(Debug)]
pub struct DpkgIndex {
    config: DpkgConfig,
    loaded: Option<Loaded>,
    last_check: Option<Instant>,
    md5_cache: Bounded<FileVersion, [u8; 16]>,
    /// Queried directory → canonical directory, for paths missed as given (cleared on rebuild).
    dir_cache: Bounded<Box<[u8]>, Box<[u8]>>,
    builds: u64,
    md5_computed: u64,
}

impl Default for DpkgIndex {
    fn default() -> Self {
        Self::new(DpkgConfig::default())
    }
}

impl DpkgIndex {
    /// An index over `config.admin_dir`; nothing is read until the first question.
    pub fn new(config: DpkgConfig) -> Self {
        DpkgIndex {
            md5_cache: Bounded::new(config.md5_capacity),
            dir_cache: Bounded::new(1024),
            config,
            loaded: None,
            last_check: None,
            builds: 0,
            md5_computed: 0,
        }
    }

    /// The package that installed `path` (dpkg's name: `bash`, `libc6:amd64`), or None. The
    /// path is looked up as given, then with its directory canonicalized.
    pub fn package_of(&mut self, path: &[u8]) -> Option<&str> {
        let owned = self.lookup(path)?;
        let loaded = self.loaded.as_ref()?;
        Some(&loaded.packages[owned.package as usize])
    }

    /// Whether `file` (the open file at `path`) still has the md5 its package recorded:
    /// Some(true) intact, Some(false) modified, None when the path is not package-owned, the
    /// package records no digest for it (conffiles, symlinks), the file is larger than
    /// `max_verify_size`, or it cannot be read. The md5 is computed once per file version.
    pub fn verify(&mut self, path: &[u8], file: &File) -> Option<bool> {
        let want = self.lookup(path)?.md5?;
        let meta = file.metadata().ok()?;
        if !meta.file_type().is_file() || meta.size() > self.config.max_verify_size {
            return None;
        }
        let version = FileVersion::of(&meta);
        if let Some(have) = self.md5_cache.get(&version) {
            return Some(*have == want);
        }
        let have = md5_file(file).ok()?;
        self.md5_computed += 1;
        if file.metadata().ok().map(|m| FileVersion::of(&m)) == Some(version) {
            self.md5_cache.insert(version, have);
        }
        Some(have == want)
    }

    /// [`verify`](DpkgIndex::verify) answered from the md5 computed earlier for `version`,
    /// without opening the file: `Some(answer)` when the path is not package-owned or has no
    /// recorded digest (`Some(None)`) or the digest is cached, `None` when only reading the
    /// file can tell.
    pub fn verified(&mut self, path: &[u8], version: &FileVersion) -> Option<Option<bool>> {
        let Some(want) = self.lookup(path).and_then(|owned| owned.md5) else {
            return Some(None);
        };
        if version.size > self.config.max_verify_size {
            return Some(None);
        }
        let have = self.md5_cache.get(version)?;
        Some(Some(*have == want))
    }

    /// Makes the md5 cached for `described` known under `alias` too (see
    /// [`ExecutableCache::alias`](crate::ExecutableCache::alias)).
    pub fn alias(&mut self, described: &FileVersion, alias: FileVersion) {
        if described == &alias || !described.same_but_device(&alias) {
            return;
        }
        if let Some(md5) = self.md5_cache.get(described).copied() {
            self.md5_cache.insert(alias, md5);
        }
    }

    /// Sizes of the index (building it if needed).
    pub fn stats(&mut self) -> DpkgStats {
        self.ensure_loaded();
        let l = self.loaded.as_ref();
        DpkgStats {
            packages: l.map_or(0, |l| l.packages.len()),
            files: l.map_or(0, |l| l.files.len()),
            with_md5: l.map_or(0, |l| l.files.values().filter(|o| o.md5.is_some()).count()),
            build_time: l.map_or(Duration::ZERO, |l| l.build_time),
            builds: self.builds,
            md5_computed: self.md5_computed,
        }
    }

    fn lookup(&mut self, path: &[u8]) -> Option<Owned> {
        self.ensure_loaded();
        let files = &self.loaded.as_ref()?.files;
        if let Some(o) = files.get(path) {
            return Some(*o);
        }
        // Not found as given: maybe reached through a symlinked directory (/bin → usr/bin).
        let slash = path.iter().rposition(|b| *b == b'/')?;
        let dir = &path[..slash];
        let real = match self.dir_cache.get(&Box::from(dir)) {
            Some(real) => real.clone(),
            None => {
                let d = if dir.is_empty() { b"/".as_slice() } else { dir };
                let real: Box<[u8]> =
                    resolve_dir(&self.config.root, d, &mut |p| canonicalize(p)).into();
                self.dir_cache.insert(dir.into(), real.clone());
                real
            }
        };
        if *real == *dir {
            return None;
        }
        files
            .get(join(&real, &path[slash + 1..]).as_slice())
            .copied()
    }

    fn status_mtime(&self) -> Option<i64> {
        let m = std::fs::metadata(self.config.admin_dir.join("status")).ok()?;
        Some(m.mtime() * 1_000_000_000 + m.mtime_nsec())
    }

    fn ensure_loaded(&mut self) {
        let now = Instant::now();
        let due = self
            .last_check
            .is_none_or(|t| now.duration_since(t) >= self.config.check_interval);
        if self.loaded.is_some() && !due {
            return;
        }
        self.last_check = Some(now);
        let mtime = self.status_mtime();
        if let Some(l) = &self.loaded
            && l.status_mtime == mtime
        {
            return;
        }
        let start = Instant::now();
        let mut loaded = load(&self.config.admin_dir.join("info"), &self.config.root);
        loaded.status_mtime = mtime;
        loaded.build_time = start.elapsed();
        self.loaded = Some(loaded);
        self.dir_cache.clear();
        self.builds += 1;
    }
}

/// md5 of a whole file, read with `pread` in 256 KiB chunks.
fn md5_file(file: &File) -> io::Result<[u8; 16]> {
    let mut buf = vec![0u8; 256 << 10];
    let mut hasher = Md5::new();
    let mut offset = 0u64;
    loop {
        match file.read_at(&mut buf, offset) {
            Ok(0) => break,
            Ok(n) => {
                hasher.update(&buf[..n]);
                offset += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(hasher.finalize().into())
}

fn canonicalize(dir: &Path) -> Option<Vec<u8>> {
    std::fs::canonicalize(dir)
        .ok()
        .map(|p| p.as_os_str().as_bytes().to_vec())
}

/// `dir/name`, without doubling the slash of `/`.
fn join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(dir.len() + 1 + name.len());
    out.extend_from_slice(dir);
    if out.last() != Some(&b'/') {
        out.push(b'/');
    }
    out.extend_from_slice(name);
    out
}

/// The canonical form of listed directory `dir`: realpath of `root/dir`, expressed relative to
/// `root` again; `dir` itself when it does not resolve (or resolves outside `root`).
fn resolve_dir(
    root: &Path,
    dir: &[u8],
    resolve: &mut dyn FnMut(&Path) -> Option<Vec<u8>>,
) -> Vec<u8> {
    let full = root.join(Path::new(std::ffi::OsStr::from_bytes(
        dir.strip_prefix(b"/").unwrap_or(dir),
    )));
    match resolve(&full) {
        Some(real) => {
            let rootb = root.as_os_str().as_bytes();
            if rootb == b"/" {
                real
            } else {
                // Back to a path relative to the root; outside it, keep the listed directory.
                match real.strip_prefix(rootb.strip_suffix(b"/").unwrap_or(rootb)) {
                    Some([]) => b"/".to_vec(),
                    Some(rest) if rest.starts_with(b"/") => rest.to_vec(),
                    _ => dir.to_vec(),
                }
            }
        }
        None => dir.to_vec(),
    }
}

/// The package name dpkg prints for an info file stem: `bash`, `libc6:amd64`.
fn package_name(file_name: &[u8], ext: &[u8]) -> Option<String> {
    let stem = file_name.strip_suffix(ext)?;
    (!stem.is_empty()).then(|| String::from_utf8_lossy(stem).into_owned())
}

/// Reads every `*.list` and `*.md5sums` under `info_dir`.
fn load(info_dir: &Path, root: &Path) -> Loaded {
    let mut loaded = Loaded::default();
    let Ok(dir) = std::fs::read_dir(info_dir) else {
        return loaded;
    };
    let mut lists = Vec::new();
    let mut sums = Vec::new();
    for entry in dir.flatten() {
        let name = entry.file_name();
        let name = name.as_bytes();
        if let Some(pkg) = package_name(name, b".list") {
            lists.push((pkg, entry.path()));
        } else if let Some(pkg) = package_name(name, b".md5sums") {
            sums.push((pkg, entry.path()));
        }
    }
    lists.sort();
    // Listed directory → canonical directory, memoized: ~10^4 directories for ~10^5 files.
    let mut dirs: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
    let mut canonical = |path: &[u8]| -> Option<Vec<u8>> {
        let slash = path.iter().rposition(|b| *b == b'/')?;
        let dir = &path[..slash];
        let real = match dirs.get(dir) {
            Some(r) => r.clone(),
            None => {
                let d = if dir.is_empty() { b"/".as_slice() } else { dir };
                let r = resolve_dir(root, d, &mut |p| canonicalize(p));
                dirs.insert(dir.to_vec(), r.clone());
                r
            }
        };
        let name = &path[slash + 1..];
        if name.is_empty() || name == b"." {
            return None;
        }
        Some(join(&real, name))
    };
    let mut index_of: HashMap<String, u32> = HashMap::new();
    for (pkg, path) in &lists {
        let Ok(text) = std::fs::read(path) else {
            continue;
        };
        let id = loaded.packages.len() as u32;
        loaded.packages.push(pkg.clone().into_boxed_str());
        index_of.insert(pkg.clone(), id);
        for line in text.split(|b| *b == b'\n') {
            if !line.starts_with(b"/") {
                continue;
            }
            if let Some(key) = canonical(line) {
                loaded.files.entry(key.into_boxed_slice()).or_insert(Owned {
                    package: id,
                    md5: None,
                });
            }
        }
    }
    for (pkg, path) in &sums {
        let Some(&id) = index_of.get(pkg) else {
            continue;
        };
        let Ok(text) = std::fs::read(path) else {
            continue;
        };
        for line in text.split(|b| *b == b'\n') {
            // "<32 hex>  <path relative to />"
            let (Some(hex), Some(rel)) = (line.get(..32), line.get(34..)) else {
                continue;
            };
            let Some(md5) = parse_md5(hex) else {
                continue;
            };
            let mut abs = Vec::with_capacity(rel.len() + 1);
            abs.push(b'/');
            abs.extend_from_slice(rel);
            let Some(key) = canonical(&abs) else {
                continue;
            };
            let owned = loaded.files.entry(key.into_boxed_slice()).or_insert(Owned {
                package: id,
                md5: None,
            });
            if owned.package == id || owned.md5.is_none() {
                owned.md5.get_or_insert(md5);
            }
        }
    }
    // Every directory that holds a listed entry is a directory, not a file: drop it (dpkg lists
    // /usr, /usr/bin, ... in every package that puts something there).
    for (raw, real) in &dirs {
        loaded.files.remove(raw.as_slice());
        loaded.files.remove(real.as_slice());
    }
    loaded.files.shrink_to_fit();
    loaded
}

fn parse_md5(hex: &[u8]) -> Option<[u8; 16]> {
    let mut out = [0u8; 16];
    for (i, pair) in hex.chunks_exact(2).enumerate() {
        let digit = |c: u8| (c as char).to_digit(16);
        out[i] = (digit(pair[0])? * 16 + digit(pair[1])?) as u8;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_dir_and_join() {
        let mut resolve = |p: &Path| -> Option<Vec<u8>> {
            match p.as_os_str().as_bytes() {
                b"/bin" => Some(b"/usr/bin".to_vec()),
                b"/chroot/bin" => Some(b"/chroot/usr/bin".to_vec()),
                b"/chroot/escape" => Some(b"/elsewhere".to_vec()),
                _ => None,
            }
        };
        assert_eq!(
            resolve_dir(Path::new("/"), b"/bin", &mut resolve),
            b"/usr/bin"
        );
        assert_eq!(resolve_dir(Path::new("/"), b"/etc", &mut resolve), b"/etc");
        let chroot = Path::new("/chroot");
        assert_eq!(resolve_dir(chroot, b"/bin", &mut resolve), b"/usr/bin");
        assert_eq!(resolve_dir(chroot, b"/escape", &mut resolve), b"/escape");
        assert_eq!(join(b"/", b"x"), b"/x");
        assert_eq!(join(b"/usr/bin", b"bash"), b"/usr/bin/bash");
    }

    #[test]
    fn md5_hex() {
        assert_eq!(
            parse_md5(b"7210080490f9fd139c1b44fa0f730988").map(|m| crate::hex(&m)),
            Some("7210080490f9fd139c1b44fa0f730988".to_string())
        );
        assert_eq!(parse_md5(b"7210080490f9fd139c1b44fa0f73098g"), None);
    }

    /// A fake dpkg admin dir with a merged-/usr root: lists name /bin/tool, md5sums bin/tool.
    #[test]
    fn fake_admin_dir_with_usr_merge() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        std::fs::create_dir_all(root.join("usr/bin")).unwrap();
        std::os::unix::fs::symlink("usr/bin", root.join("bin")).unwrap();
        std::fs::write(root.join("usr/bin/tool"), b"hello\n").unwrap();
        std::fs::write(root.join("usr/bin/other"), b"other\n").unwrap();
        let admin = tmp.path().join("dpkg");
        std::fs::create_dir_all(admin.join("info")).unwrap();
        std::fs::write(admin.join("status"), b"").unwrap();
        std::fs::write(
            admin.join("info/tool:amd64.list"),
            b"/.\n/bin\n/bin/tool\n/usr\n/usr/bin\n/usr/bin/other\n",
        )
        .unwrap();
        // md5("hello\n") = b1946ac92492d2347c6235b4d2611184; other's digest is wrong.
        std::fs::write(
            admin.join("info/tool:amd64.md5sums"),
            b"b1946ac92492d2347c6235b4d2611184  bin/tool\n00000000000000000000000000000000  usr/bin/other\n",
        )
        .unwrap();
        let mut idx = DpkgIndex::new(DpkgConfig {
            admin_dir: admin.clone(),
            root: root.clone(),
            check_interval: Duration::ZERO,
            ..DpkgConfig::default()
        });
        assert_eq!(idx.package_of(b"/usr/bin/tool"), Some("tool:amd64"));
        assert_eq!(idx.package_of(b"/usr/bin/other"), Some("tool:amd64"));
        assert_eq!(
            idx.package_of(b"/usr/bin"),
            None,
            "directories are not owned"
        );
        assert_eq!(idx.package_of(b"/usr/bin/nothing"), None);
        let s = idx.stats();
        assert_eq!((s.packages, s.files, s.with_md5, s.builds), (1, 2, 2, 1));
        let tool = File::open(root.join("usr/bin/tool")).unwrap();
        assert_eq!(idx.verify(b"/usr/bin/tool", &tool), Some(true));
        assert_eq!(idx.verify(b"/usr/bin/tool", &tool), Some(true));
        assert_eq!(idx.stats().md5_computed, 1, "second verify is cached");
        let other = File::open(root.join("usr/bin/other")).unwrap();
        assert_eq!(idx.verify(b"/usr/bin/other", &other), Some(false));

        // A package change (status rewritten) rebuilds the index.
        std::thread::sleep(Duration::from_millis(20));
        std::fs::write(admin.join("info/new.list"), b"/usr/bin/new\n").unwrap();
        std::fs::write(admin.join("status"), b"changed").unwrap();
        assert_eq!(idx.package_of(b"/usr/bin/new"), Some("new"));
        assert_eq!(idx.stats().builds, 2);
    }
}

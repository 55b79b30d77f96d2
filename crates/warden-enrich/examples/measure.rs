//! Measures enrichment costs on this host: dpkg index build time and heap, and `describe()`
//! cold (cache miss) and warm (cache hit). Run with `cargo run --release -p warden-enrich
//! --example measure [PATH]`.

use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::time::Instant;

use sha2::Digest;
use warden_enrich::{DpkgIndex, Enricher, ExecutableCache};

/// A `kB` field of /proc/self/status (VmRSS, VmHWM), in bytes.
fn status_kb(field: &str) -> usize {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<usize>().ok())
        .unwrap_or(0)
        * 1024
}

fn mib(b: usize) -> f64 {
    b as f64 / (1 << 20) as f64
}

fn us(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn main() {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "/usr/bin/bash".to_string());
    let build = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    println!("build: {build}");

    // dpkg index.
    let rss0 = status_kb("VmRSS");
    let mut idx = DpkgIndex::default();
    let t = Instant::now();
    let owner = idx.package_of(path.as_bytes()).map(str::to_string);
    let first = t.elapsed();
    let s = idx.stats();
    println!(
        "dpkg: {} packages, {} files ({} with md5): built in {:.1} ms (first package_of {:.1} ms); RSS +{:.1} MiB (VmHWM {:.1} MiB)",
        s.packages,
        s.files,
        s.with_md5,
        s.build_time.as_secs_f64() * 1e3,
        first.as_secs_f64() * 1e3,
        mib(status_kb("VmRSS").saturating_sub(rss0)),
        mib(status_kb("VmHWM")),
    );
    let n = 100_000;
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(idx.package_of(path.as_bytes()));
    }
    println!(
        "dpkg: package_of({path}) = {owner:?}: {:.3} us warm",
        us(t.elapsed()) / f64::from(n)
    );
    let f = std::fs::File::open(&path).unwrap();
    let t = Instant::now();
    let v = idx.verify(path.as_bytes(), &f);
    let cold = t.elapsed();
    let t = Instant::now();
    let v2 = idx.verify(path.as_bytes(), &f);
    println!(
        "dpkg: verify = {v:?}/{v2:?}: cold (md5) {:.0} us, warm {:.2} us",
        us(cold),
        us(t.elapsed())
    );

    // describe(): a miss (page cache warm), a miss on a disk-cold copy, and hits.
    let size = std::fs::metadata(&path).unwrap().len();
    let mut cache = ExecutableCache::new(1024);
    let t = Instant::now();
    let exe = cache.describe(path.as_bytes()).unwrap();
    let first_miss = t.elapsed();
    let mut miss = first_miss;
    for _ in 0..5 {
        cache.clear();
        let t = Instant::now();
        cache.describe(path.as_bytes()).unwrap();
        miss = miss.min(t.elapsed());
    }
    let n = 100_000;
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(cache.describe(path.as_bytes()));
    }
    let hit = t.elapsed() / n;
    println!(
        "describe({path}, {size} bytes): first miss {:.0} us, best miss {:.0} us ({:.2} GB/s incl. open/stat/build-id/xattr), hit {:.2} us; sha256 {}",
        us(first_miss),
        us(miss),
        size as f64 / miss.as_secs_f64() / 1e9,
        us(hit),
        exe.sha256.as_deref().unwrap_or("-")
    );

    let tmp = std::env::temp_dir().join(format!("warden-measure-{}", std::process::id()));
    std::fs::copy(&path, &tmp).unwrap();
    let f = std::fs::File::open(&tmp).unwrap();
    f.sync_all().unwrap();
    // SAFETY: plain syscall on an open fd; it only drops the file's clean pages from the page
    // cache.
    unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    let mut cache = ExecutableCache::new(16);
    let t = Instant::now();
    cache.describe(tmp.as_os_str().as_bytes()).unwrap();
    println!(
        "describe(copy, evicted from page cache): miss {:.0} us",
        us(t.elapsed())
    );
    std::fs::remove_file(&tmp).ok();

    // Raw digest speed on memory, for reference.
    let buf = vec![0x5au8; 64 << 20];
    let t = Instant::now();
    std::hint::black_box(sha2::Sha256::digest(&buf));
    let sha = t.elapsed();
    let t = Instant::now();
    std::hint::black_box(md5::Md5::digest(&buf));
    println!(
        "raw: sha256 {:.2} GB/s, md5 {:.2} GB/s (64 MiB in memory)",
        buf.len() as f64 / sha.as_secs_f64() / 1e9,
        buf.len() as f64 / t.elapsed().as_secs_f64() / 1e9
    );
    drop(buf);

    // The whole enricher, warm, for this process.
    let mut e = Enricher::default();
    let mut p = warden_core::Process {
        pid: std::process::id(),
        uid: Some(0),
        euid: Some(0),
        gid: Some(0),
        ..Default::default()
    };
    e.enrich(&mut p.clone());
    let n = 20_000;
    let t = Instant::now();
    for _ in 0..n {
        p.executable = None;
        p.user_name = None;
        p.euser_name = None;
        p.group_name = None;
        p.container_id = None;
        e.enrich(&mut p);
    }
    println!(
        "Enricher::enrich(own process), warm: {:.2} us",
        us(t.elapsed()) / f64::from(n)
    );
    let pid = std::process::id();
    let mut names = warden_enrich::Names::new();
    let exe = std::fs::read_link("/proc/self/exe").unwrap();
    let parts: [(&str, &mut dyn FnMut()); 4] = [
        ("container_id_of", &mut || {
            std::hint::black_box(warden_enrich::container_id_of(pid));
        }),
        ("executable_of(pid, exe)", &mut || {
            std::hint::black_box(e.executable_of(pid, Some(exe.as_os_str().as_bytes())));
        }),
        ("describe(/usr/bin/bash) hit", &mut || {
            std::hint::black_box(cache.describe(b"/usr/bin/bash"));
        }),
        ("names", &mut || {
            std::hint::black_box(names.user(0));
        }),
    ];
    for (name, f) in parts {
        let t = Instant::now();
        for _ in 0..n {
            f();
        }
        println!("  {name}: {:.2} us", us(t.elapsed()) / f64::from(n));
    }
}

//! Exec load generator for `scripts/bench-exec`: runs a private copy of /bin/true at a paced rate
//! or as a burst, records every pid it launched, and prints a JSON summary.
//!
//! ```text
//! execgen --rate 1000 --seconds 30 [--pids FILE] [--dir DIR] [--inflight 32]
//! execgen --burst 20000           [--pids FILE] [--dir DIR] [--inflight 32]
//! ```
//!
//! The executable is copied to `DIR/execgen-true-<pid>` (DIR defaults to a fresh temp dir, removed
//! at exit) so its events are easy to select by exe path. Pacing uses absolute deadlines
//! (`start + i / rate`), so a slow spawn does not shift every later one; when behind, the next
//! exec starts at once. Children are spawned with `std::process::Command` (glibc `posix_spawn`,
//! i.e. `clone(CLONE_VM|CLONE_VFORK)` + `execve`), up to `--inflight` at a time, and reaped with
//! `waitpid(-1)`.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};

#[derive(Debug)]
struct Args {
    rate: Option<u64>,
    seconds: f64,
    burst: Option<u64>,
    pids: Option<PathBuf>,
    dir: Option<PathBuf>,
    inflight: usize,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        rate: None,
        seconds: 10.0,
        burst: None,
        pids: None,
        dir: None,
        inflight: 32,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--rate" => args.rate = Some(value()?.parse().context("--rate")?),
            "--seconds" => args.seconds = value()?.parse().context("--seconds")?,
            "--burst" => args.burst = Some(value()?.parse().context("--burst")?),
            "--pids" => args.pids = Some(value()?.into()),
            "--dir" => args.dir = Some(value()?.into()),
            "--inflight" => args.inflight = value()?.parse().context("--inflight")?,
            "-h" | "--help" => {
                println!(
                    "execgen --rate N --seconds S | --burst N [--pids FILE] [--dir DIR] [--inflight K]"
                );
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?} (see --help)"),
        }
    }
    match (args.rate, args.burst) {
        (Some(0), _) => bail!("--rate must be > 0"),
        (Some(_), Some(_)) => bail!("give --rate or --burst, not both"),
        (None, None) => bail!("give --rate N --seconds S, or --burst N"),
        _ => {}
    }
    anyhow::ensure!(args.inflight > 0, "--inflight must be > 0");
    anyhow::ensure!(args.seconds > 0.0, "--seconds must be > 0");
    Ok(args)
}

/// Children spawned and not yet reaped, with the outcome of those reaped.
#[derive(Debug, Default)]
struct Reaper {
    in_flight: usize,
    nonzero_exits: u64,
}

impl Reaper {
    /// Reaps every finished child; with `block`, waits for at least one first.
    fn reap(&mut self, mut block: bool) -> anyhow::Result<()> {
        while self.in_flight > 0 {
            let flags = if block {
                None
            } else {
                Some(WaitPidFlag::WNOHANG)
            };
            match waitpid(None, flags) {
                Ok(WaitStatus::StillAlive) => return Ok(()),
                Ok(WaitStatus::Exited(_, code)) => {
                    self.in_flight -= 1;
                    if code != 0 {
                        self.nonzero_exits += 1;
                    }
                }
                Ok(WaitStatus::Signaled(..)) => {
                    self.in_flight -= 1;
                    self.nonzero_exits += 1;
                }
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(e).context("waitpid"),
            }
            block = false;
        }
        Ok(())
    }
}

/// Copies /bin/true into `dir` under a name unique to this run.
fn place_true(dir: &Path) -> anyhow::Result<PathBuf> {
    let exe = dir.join(format!("execgen-true-{}", std::process::id()));
    std::fs::copy("/bin/true", &exe)
        .with_context(|| format!("cannot copy /bin/true to {}", exe.display()))?;
    Ok(exe)
}

fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let temp = match &args.dir {
        Some(_) => None,
        None => Some(tempfile::Builder::new().prefix("execgen.").tempdir()?),
    };
    let dir = args
        .dir
        .clone()
        .or_else(|| temp.as_ref().map(|t| t.path().to_path_buf()))
        .context("no directory")?;
    let exe = place_true(&dir)?;
    let exe = std::fs::canonicalize(&exe).unwrap_or(exe);

    let target = match (args.rate, args.burst) {
        (Some(rate), _) => (rate as f64 * args.seconds).round() as u64,
        (_, Some(n)) => n,
        _ => unreachable!("checked in parse_args"),
    };
    let period = args.rate.map(|r| 1.0 / r as f64);

    let mut pids: Vec<u32> = Vec::with_capacity(target as usize);
    let mut reaper = Reaper::default();
    let mut spawn_errors = 0u64;
    let mut max_lag = Duration::ZERO;
    let mut late = 0u64;
    let mut command = Command::new(&exe);

    let start = Instant::now();
    for i in 0..target {
        if let Some(period) = period {
            let deadline = start + Duration::from_secs_f64(i as f64 * period);
            let now = Instant::now();
            if deadline > now {
                // Reap while waiting: cheap, and keeps the in-flight count low.
                reaper.reap(false)?;
                let now = Instant::now();
                if deadline > now {
                    std::thread::sleep(deadline - now);
                }
            } else {
                let lag = now - deadline;
                if lag > Duration::from_millis(1) {
                    late += 1;
                }
                max_lag = max_lag.max(lag);
            }
        }
        if reaper.in_flight >= args.inflight {
            reaper.reap(true)?;
        }
        match command.spawn() {
            Ok(child) => {
                pids.push(child.id());
                reaper.in_flight += 1;
                // Dropping a Child neither kills nor waits: the reaper collects it.
                drop(child);
            }
            Err(e) => {
                spawn_errors += 1;
                if spawn_errors <= 3 {
                    eprintln!("execgen: spawn failed: {e}");
                }
                if e.raw_os_error() == Some(libc_eagain()) {
                    reaper.reap(true)?;
                }
            }
        }
        reaper.reap(false)?;
    }
    let spawned_in = start.elapsed();
    while reaper.in_flight > 0 {
        reaper.reap(true)?;
    }
    let elapsed = start.elapsed();

    if let Some(path) = &args.pids {
        let mut out = std::io::BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        );
        for pid in &pids {
            writeln!(out, "{pid}")?;
        }
        out.flush()?;
    }

    let summary = serde_json::json!({
        "mode": if args.rate.is_some() { "rate" } else { "burst" },
        "requested_rate": args.rate,
        "requested_seconds": args.rate.map(|_| args.seconds),
        "target": target,
        "count": pids.len(),
        "spawn_errors": spawn_errors,
        "nonzero_exits": reaper.nonzero_exits,
        "spawn_seconds": spawned_in.as_secs_f64(),
        "elapsed_seconds": elapsed.as_secs_f64(),
        "achieved_rate": pids.len() as f64 / spawned_in.as_secs_f64().max(1e-9),
        "late_over_1ms": late,
        "max_lag_ms": max_lag.as_secs_f64() * 1000.0,
        "inflight": args.inflight,
        "exe": exe.display().to_string(),
        "pids_file": args.pids.as_ref().map(|p| p.display().to_string()),
    });
    println!("{summary}");
    // A `--dir` copy is left for the caller to clean up; our own temp dir goes when `temp` drops.
    drop(temp);
    Ok(())
}

/// EAGAIN (fork limit reached): wait for a child before the next attempt.
fn libc_eagain() -> i32 {
    nix::errno::Errno::EAGAIN as i32
}

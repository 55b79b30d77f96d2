//! The agent's health, written to `<data_dir>/status.json` every second and read by
//! `warden status`: sources and why any is inactive, event rates, store size, losses by cause.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Status {
    pub pid: u32,
    pub version: String,
    pub started_ns: i64,
    pub updated_ns: i64,
    /// Each source, active or not, with the reason.
    pub sources: Vec<SourceStatus>,
    /// Events recorded since start, by class.
    pub events: BTreeMap<String, u64>,
    /// Events per second over the last status interval.
    pub events_per_sec: f64,
    pub store_bytes: u64,
    pub store_path: String,
    /// The store's filesystem: its size, what is free, and what Warden leaves free.
    #[serde(default)]
    pub store_filesystem: Option<FilesystemRoom>,
    /// Stored events deleted before their time to leave the filesystem its free space.
    #[serde(default)]
    pub store_deleted_for_free_space: u64,
    /// Times the store gave back its reserve: the disk was too full for SQLite even to delete.
    #[serde(default)]
    pub store_reserve_released: u64,
    /// Failed commits, retention runs and checkpoints of the store, and the last one's error.
    #[serde(default)]
    pub store_errors: u64,
    #[serde(default)]
    pub store_last_error: Option<String>,
    /// A damaged store found at start and moved aside (its new path); a new one began.
    #[serde(default)]
    pub store_set_aside: Option<String>,
    /// New databases opened in the store's place while running (its file removed, or
    /// damaged and set aside), and why the last one was.
    #[serde(default)]
    pub store_reopened: u64,
    #[serde(default)]
    pub store_last_reopen: Option<String>,
    /// How far the wall clock is ahead of the time elapsed this boot (retention by age goes
    /// by the elapsed time), in seconds; 0 when it is not.
    #[serde(default)]
    pub clock_ahead_s: i64,
    /// Events lost or dropped since start, by "source/cause".
    pub lost: BTreeMap<String, u64>,
    /// Operations seen but deliberately not recorded (excluded paths, the agent's own, Unix
    /// sockets when off...), by "class/reason".
    #[serde(default)]
    pub skipped: BTreeMap<String, u64>,
    /// What Warden saw happen but could not learn the outcome of, by "class/reason": a
    /// non-blocking connect (audit) whose socket was closed or reused before its handshake's
    /// end was seen.
    #[serde(default)]
    pub unknown: BTreeMap<String, u64>,
    pub process_table_size: usize,
    pub rss_bytes: u64,
    /// Enrichment caches, by "cache/counter": how often an exec was described without
    /// reading its file or /proc again; how written files were described (bytes hashed, files
    /// not hashed and why, files gone before the agent looked).
    #[serde(default)]
    pub caches: BTreeMap<String, u64>,
    /// Watched paths (credential stores, `files.watch_paths`) marked for reads after the
    /// start: a file made or renamed at one (a password change replaces /etc/shadow), or a
    /// store found by a later look (a new user's ~/.ssh).
    #[serde(default)]
    pub watches_marked_since_start: u64,
    /// Filesystems marked for changes after the start, as they were mounted (the default
    /// marks: a user's runtime directory at login, a container's /dev/shm, a disk plugged in),
    /// and those the kernel refused.
    #[serde(default)]
    pub filesystems_marked_since_start: u64,
    #[serde(default)]
    pub filesystems_refused_since_start: u64,
}

/// Whether the agent runs and writes its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Running,
    /// Running, but its status was not rewritten for a while (a full disk, say).
    Stale,
    NotRunning,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilesystemRoom {
    pub size_bytes: u64,
    /// What unprivileged programs may still write.
    pub available_bytes: u64,
    /// What Warden leaves free (`retention.keep_free`).
    pub keep_free_bytes: u64,
}

/// The status file is padded to whole blocks of this size ([`Status::write`]).
const STATUS_BLOCK: usize = 4096;

/// From this far ahead (seconds), the wall clock's lead is said: less is NTP's work.
pub const CLOCK_AHEAD_SAID_S: i64 = 60;

/// A status older than this, while its agent runs, was not rewritten: said by `warden status`.
const STALE_AFTER_NS: i64 = 5_000_000_000;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SourceStatus {
    pub name: String,
    pub active: bool,
    /// How it runs ("audit daemon slot", "multicast beside auditd") or why it does not.
    pub detail: String,
}

pub fn status_path(data_dir: &Path) -> PathBuf {
    data_dir.join("status.json")
}

impl Status {
    /// Writes atomically (temp file + rename) so a reader never sees half a file. On a full
    /// disk, where no temp file can be made, the file is overwritten in place instead: it is
    /// padded with spaces to whole 4 KiB blocks, so it keeps the blocks it has (a reader that
    /// meets a half-written file reads it again).
    pub fn write(&self, data_dir: &Path) -> anyhow::Result<()> {
        use std::os::unix::fs::FileExt as _;
        let path = status_path(data_dir);
        let tmp = path.with_extension("json.tmp");
        let mut text = serde_json::to_vec_pretty(self)?;
        text.push(b'\n');
        text.resize(text.len().next_multiple_of(STATUS_BLOCK), b' ');
        let replaced = std::fs::write(&tmp, &text).and_then(|()| std::fs::rename(&tmp, &path));
        match replaced {
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => {
                let _ = std::fs::remove_file(&tmp);
                let file = std::fs::OpenOptions::new().write(true).open(&path)?;
                anyhow::ensure!(
                    file.metadata()?.len() >= text.len() as u64,
                    "{e} (and the status outgrew its file)"
                );
                file.write_all_at(&text, 0)?;
                Ok(())
            }
            other => Ok(other?),
        }
    }

    pub fn read(data_dir: &Path) -> anyhow::Result<Status> {
        let path = status_path(data_dir);
        let mut attempts = 0;
        loop {
            let text = std::fs::read_to_string(&path).map_err(|e| {
                let hint = match e.kind() {
                    std::io::ErrorKind::PermissionDenied => {
                        "the data dir is its owner's only: run as root"
                    }
                    _ => "is `warden run` running with this data dir?",
                };
                anyhow::Error::new(e).context(format!("no status at {} ({hint})", path.display()))
            })?;
            match serde_json::from_str(&text) {
                Ok(status) => return Ok(status),
                // Overwritten in place while read (a full disk): read again.
                Err(_) if attempts < 3 => {
                    attempts += 1;
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(e) => {
                    return Err(e).with_context(|| format!("bad status file {}", path.display()));
                }
            }
        }
    }

    /// Whether the agent that wrote this status is still running.
    pub fn agent_alive(&self) -> bool {
        let stat = std::fs::read_to_string(format!("/proc/{}/comm", self.pid));
        stat.is_ok_and(|c| c.trim() == "warden")
    }

    /// Whether the agent that wrote this runs, and writes it still, read at `now_ns`, the
    /// agent `alive` or not.
    pub fn health(&self, now_ns: i64, alive: bool) -> Health {
        if !alive {
            Health::NotRunning
        } else if now_ns - self.updated_ns > STALE_AFTER_NS {
            Health::Stale
        } else {
            Health::Running
        }
    }

    /// The report `warden status` prints, read at `now_ns`, its agent `alive` or not.
    pub fn render(&self, now_ns: i64, alive: bool) -> String {
        let mut out = String::new();
        let age_s = (now_ns - self.updated_ns) / 1_000_000_000;
        let state = match self.health(now_ns, alive) {
            Health::NotRunning => "NOT running: last status below".to_owned(),
            Health::Stale => {
                format!("running, but this status is {age_s} s old: it could not write it since")
            }
            Health::Running => "running".to_owned(),
        };
        out.push_str(&format!(
            "agent: pid {} ({state}), version {}, up {} s\n",
            self.pid,
            self.version,
            (self.updated_ns - self.started_ns) / 1_000_000_000
        ));
        out.push_str("sources:\n");
        for s in &self.sources {
            out.push_str(&format!(
                "  {:<15} {:<8} {}\n",
                s.name,
                if s.active { "active" } else { "inactive" },
                s.detail
            ));
        }
        out.push_str(&format!("events/s: {:.1}\n", self.events_per_sec));
        out.push_str("events recorded:");
        for (class, n) in &self.events {
            out.push_str(&format!(" {class}={n}"));
        }
        out.push('\n');
        out.push_str(&format!(
            "store: {} ({})",
            self.store_path,
            size(self.store_bytes)
        ));
        if let Some(fs) = &self.store_filesystem {
            out.push_str(&format!(
                "; its filesystem: {} free of {}, {} left free for the host",
                size(fs.available_bytes),
                size(fs.size_bytes),
                size(fs.keep_free_bytes)
            ));
            if fs.available_bytes < fs.keep_free_bytes {
                out.push_str(" (SHORT: the oldest events give way, then new ones are dropped)");
            }
        }
        out.push('\n');
        if let Some(aside) = &self.store_set_aside {
            out.push_str(&format!(
                "store: found damaged at start, set aside as {aside}; this store began then\n"
            ));
        }
        if self.store_reopened > 0 {
            out.push_str(&format!(
                "store: a new database opened in its place {} time(s) (the last: {})\n",
                self.store_reopened,
                self.store_last_reopen.as_deref().unwrap_or("?")
            ));
        }
        if self.clock_ahead_s >= CLOCK_AHEAD_SAID_S {
            out.push_str(&format!(
                "retention by age: the clock is {} s ahead of the time elapsed this boot (set \
                 forward?); events are kept by the time elapsed\n",
                self.clock_ahead_s
            ));
        }
        if self.store_errors > 0 {
            out.push_str(&format!(
                "store errors: {} (the last: {})\n",
                self.store_errors,
                self.store_last_error.as_deref().unwrap_or("?")
            ));
        }
        if self.store_deleted_for_free_space > 0 {
            out.push_str(&format!(
                "store: {} events deleted early to leave free space\n",
                self.store_deleted_for_free_space
            ));
        }
        if self.store_reserve_released > 0 {
            out.push_str(&format!(
                "store: its {} reserve given back {} time(s), the disk too full to delete without it\n",
                size(warden_store::RESERVE_BYTES),
                self.store_reserve_released
            ));
        }
        out.push_str(&format!(
            "process table: {} processes\n",
            self.process_table_size
        ));
        out.push_str(&format!("agent RSS: {}\n", size(self.rss_bytes)));
        if self.watches_marked_since_start > 0 {
            out.push_str(&format!(
                "watched paths: {} marked since the start (made or replaced since)\n",
                self.watches_marked_since_start
            ));
        }
        if self.filesystems_marked_since_start + self.filesystems_refused_since_start > 0 {
            out.push_str(&format!(
                "filesystems: {} marked since the start (mounted since), {} refused\n",
                self.filesystems_marked_since_start, self.filesystems_refused_since_start
            ));
        }
        if self.lost.values().all(|n| *n == 0) {
            out.push_str("lost or dropped: none\n");
        } else {
            out.push_str("lost or dropped:\n");
            for (cause, n) in self.lost.iter().filter(|(_, n)| **n > 0) {
                out.push_str(&format!("  {cause}: {n}\n"));
            }
        }
        if !self.caches.is_empty() {
            out.push_str("enrichment caches:");
            for (counter, n) in &self.caches {
                out.push_str(&format!(" {counter}={n}"));
            }
            out.push('\n');
        }
        for (title, counts) in [
            ("not recorded by policy", &self.skipped),
            ("outcomes not known", &self.unknown),
        ] {
            if !counts.is_empty() {
                out.push_str(&format!("{title}:\n"));
                for (reason, n) in counts {
                    out.push_str(&format!("  {reason}: {n}\n"));
                }
            }
        }
        out
    }
}

/// Bytes in MiB, or in GiB from 1 GiB on.
fn size(bytes: u64) -> String {
    const GIB: u64 = 1 << 30;
    if bytes >= GIB {
        format!("{:.1} GiB", bytes as f64 / GIB as f64)
    } else {
        format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_renders_losses() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Status {
            pid: std::process::id(),
            version: "0".into(),
            ..Default::default()
        };
        s.sources.push(SourceStatus {
            name: "audit".into(),
            active: false,
            detail: "missing capability CAP_AUDIT_CONTROL".into(),
        });
        s.lost.insert("audit/kernel_lost".into(), 3);
        s.store_filesystem = Some(FilesystemRoom {
            size_bytes: 24 << 20,
            available_bytes: 1 << 20,
            keep_free_bytes: 2 << 20,
        });
        s.updated_ns = 10_000_000_000;
        s.clock_ahead_s = 864_000;
        s.store_reserve_released = 2;
        s.unknown.insert("network/handshake_end_unseen".into(), 4);
        s.write(dir.path()).unwrap();
        let back = Status::read(dir.path()).unwrap();
        assert_eq!(back.store_filesystem, s.store_filesystem);
        let text = back.render(back.updated_ns + 1_000_000_000, true);
        assert!(
            text.contains("audit           inactive missing capability"),
            "{text}"
        );
        assert!(text.contains("audit/kernel_lost: 3"), "{text}");
        assert!(
            text.contains("outcomes not known:\n  network/handshake_end_unseen: 4"),
            "{text}"
        );
        assert!(
            text.contains("its filesystem: 1.0 MiB free of 24.0 MiB, 2.0 MiB left free"),
            "{text}"
        );
        assert!(text.contains("(SHORT:"), "{text}");
        assert!(
            text.contains("its 2.0 MiB reserve given back 2 time(s)"),
            "{text}"
        );
        assert!(
            text.contains("the clock is 864000 s ahead of the time elapsed"),
            "{text}"
        );
        assert_eq!(size(3 << 30), "3.0 GiB");
        assert!(text.contains("(running), "), "{text}");
        // A status the running agent did not rewrite for a while says so.
        let stale = back.render(back.updated_ns + 40_000_000_000, true);
        assert!(
            stale.contains("running, but this status is 40 s old"),
            "{stale}"
        );
        let ended = back.render(back.updated_ns + 40_000_000_000, false);
        assert!(
            ended.contains("(NOT running: last status below)"),
            "{ended}"
        );
        let health =
            |age_s: i64, alive| back.health(back.updated_ns + age_s * 1_000_000_000, alive);
        assert_eq!(health(1, true), Health::Running);
        assert_eq!(health(40, true), Health::Stale);
        assert_eq!(health(1, false), Health::NotRunning);
        // The test is no agent.
        assert!(!back.agent_alive());
    }
}

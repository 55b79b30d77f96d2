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
    /// Events lost or dropped since start, by "source/cause".
    pub lost: BTreeMap<String, u64>,
    /// Operations seen but deliberately not recorded (excluded paths, the agent's own, Unix
    /// sockets when off...), by "class/reason".
    #[serde(default)]
    pub skipped: BTreeMap<String, u64>,
    pub process_table_size: usize,
    pub rss_bytes: u64,
    /// Enrichment caches, by "cache/counter": how often an exec was described without
    /// reading its file or /proc again.
    #[serde(default)]
    pub caches: BTreeMap<String, u64>,
}

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
    /// Writes atomically (temp file + rename) so a reader never sees half a file.
    pub fn write(&self, data_dir: &Path) -> anyhow::Result<()> {
        let path = status_path(data_dir);
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(self)?)?;
        std::fs::rename(&tmp, &path)?;
        Ok(())
    }

    pub fn read(data_dir: &Path) -> anyhow::Result<Status> {
        let path = status_path(data_dir);
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "no status at {} (is `warden run` running with this data dir?)",
                path.display()
            )
        })?;
        serde_json::from_str(&text).with_context(|| format!("bad status file {}", path.display()))
    }

    /// Whether the agent that wrote this status is still running.
    pub fn agent_alive(&self) -> bool {
        let stat = std::fs::read_to_string(format!("/proc/{}/comm", self.pid));
        stat.is_ok_and(|c| c.trim() == "warden")
    }

    /// The report `warden status` prints.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let alive = self.agent_alive();
        out.push_str(&format!(
            "agent: pid {} ({}), version {}, up {} s\n",
            self.pid,
            if alive {
                "running"
            } else {
                "NOT running: last status below"
            },
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
            "store: {} ({:.1} MiB)\n",
            self.store_path,
            self.store_bytes as f64 / (1 << 20) as f64
        ));
        out.push_str(&format!(
            "process table: {} processes\n",
            self.process_table_size
        ));
        out.push_str(&format!(
            "agent RSS: {:.1} MiB\n",
            self.rss_bytes as f64 / (1 << 20) as f64
        ));
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
        if !self.skipped.is_empty() {
            out.push_str("not recorded by policy:\n");
            for (reason, n) in &self.skipped {
                out.push_str(&format!("  {reason}: {n}\n"));
            }
        }
        out
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
        s.write(dir.path()).unwrap();
        let back = Status::read(dir.path()).unwrap();
        let text = back.render();
        assert!(
            text.contains("audit           inactive missing capability"),
            "{text}"
        );
        assert!(text.contains("audit/kernel_lost: 3"), "{text}");
    }
}

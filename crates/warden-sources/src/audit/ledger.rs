//! The audit ledger: a small file naming the run that holds the kernel's audit settings and the
//! values it changed them from, so that a run killed before it could put them back (SIGKILL,
//! the OOM killer) is undone by the next start or by `warden cleanup`.
//!
//! The ledger is written before each change is applied: a run killed between the two leaves a
//! ledger whose "ours" the kernel never took, and such a setting is left alone. A setting is
//! put back only while it still holds the value the run set, so a change someone made since
//! (`auditctl -b`) is kept, as [`super::Restorer::restore`] does. The ledger is removed when the
//! run restores cleanly. A ledger of another boot is void: the kernel began again from its
//! defaults.
//!
//! The file is text, one `name=value` per line:
//!
//! ```text
//! boot_id=0c8f…
//! pid=4242
//! pid_start=123456
//! backlog_limit=64 32768
//! backlog_wait_time=15000 0
//! enabled=0 1
//! ```

use std::fmt;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::wire::AuditStatus;

/// An audit setting Warden changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Setting {
    /// `backlog_wait_time`.
    BacklogWaitTime,
    /// `backlog_limit`.
    BacklogLimit,
    /// `enabled`.
    Enabled,
}

impl Setting {
    /// In the order they are put back, `enabled` last (as [`super::Restorer::restore`] does).
    const ALL: [Setting; 3] = [
        Setting::BacklogWaitTime,
        Setting::BacklogLimit,
        Setting::Enabled,
    ];

    /// The name `auditctl -s` gives it.
    pub fn name(self) -> &'static str {
        match self {
            Setting::BacklogWaitTime => "backlog_wait_time",
            Setting::BacklogLimit => "backlog_limit",
            Setting::Enabled => "enabled",
        }
    }

    /// Its value in a status (`None`: this kernel has no such setting).
    pub fn of(self, status: &AuditStatus) -> Option<u32> {
        match self {
            Setting::BacklogWaitTime => status.backlog_wait_time,
            Setting::BacklogLimit => Some(status.backlog_limit),
            Setting::Enabled => Some(status.enabled),
        }
    }
}

/// A setting a run changed: its value before, and the value the run set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SettingChange {
    /// Which setting.
    pub setting: Setting,
    /// Its value before the run.
    pub original: u32,
    /// The value the run set.
    pub ours: u32,
}

/// A process, told apart from a later one given the same pid by its start time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Owner {
    /// Its pid.
    pub pid: u32,
    /// Its start time, in clock ticks since boot (`/proc/PID/stat` field 22).
    pub start: u64,
}

impl Owner {
    /// This process.
    pub fn this_process() -> Option<Owner> {
        let pid = std::process::id();
        Some(Owner {
            pid,
            start: start_ticks(pid)?,
        })
    }

    /// Whether this process still runs.
    pub fn is_alive(&self) -> bool {
        start_ticks(self.pid) == Some(self.start)
    }
}

fn start_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: count fields after its last ')'.
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(19)?.parse().ok()
}

/// The id of this boot (`/proc/sys/kernel/random/boot_id`).
pub fn boot_id() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .ok()
        .map(|s| s.trim().to_owned())
}

/// What a run holds: who it is, in which boot, and what it changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ledger {
    /// The boot the changes were made in.
    pub boot_id: String,
    /// The run.
    pub owner: Owner,
    /// What it changed, in the order changed.
    pub changes: Vec<SettingChange>,
}

/// A ledger file that does not parse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("line {line}: {what}")]
pub struct LedgerError {
    /// The line (from 1).
    pub line: usize,
    /// What is wrong with it.
    pub what: String,
}

impl Ledger {
    /// The file's text.
    pub fn render(&self) -> String {
        let mut s = format!(
            "boot_id={}\npid={}\npid_start={}\n",
            self.boot_id, self.owner.pid, self.owner.start
        );
        for c in &self.changes {
            s.push_str(&format!("{}={} {}\n", c.setting.name(), c.original, c.ours));
        }
        s
    }

    /// Reads a file's text.
    pub fn parse(text: &str) -> Result<Ledger, LedgerError> {
        let (mut boot_id, mut pid, mut start) = (None, None, None);
        let mut changes = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let bad = |what: String| LedgerError { line: i + 1, what };
            let number = |v: &str| {
                v.parse::<u64>()
                    .map_err(|_| bad(format!("{v:?} is not a number")))
            };
            let Some((name, value)) = line.split_once('=') else {
                return Err(bad(format!("{line:?} is not name=value")));
            };
            match name {
                "boot_id" => boot_id = Some(value.to_owned()),
                "pid" => pid = Some(number(value)?),
                "pid_start" => start = Some(number(value)?),
                _ => {
                    let setting = Setting::ALL
                        .into_iter()
                        .find(|s| s.name() == name)
                        .ok_or_else(|| bad(format!("unknown setting {name:?}")))?;
                    let (original, ours) = value
                        .split_once(' ')
                        .ok_or_else(|| bad(format!("{value:?} is not \"original ours\"")))?;
                    let value32 = |v: &str| {
                        v.parse::<u32>()
                            .map_err(|_| bad(format!("{v:?} is not a 32-bit number")))
                    };
                    changes.push(SettingChange {
                        setting,
                        original: value32(original)?,
                        ours: value32(ours)?,
                    });
                }
            }
        }
        let missing = |what: &str| LedgerError {
            line: text.lines().count() + 1,
            what: format!("no {what}"),
        };
        Ok(Ledger {
            boot_id: boot_id.ok_or_else(|| missing("boot_id"))?,
            owner: Owner {
                pid: u32::try_from(pid.ok_or_else(|| missing("pid"))?)
                    .map_err(|_| missing("32-bit pid"))?,
                start: start.ok_or_else(|| missing("pid_start"))?,
            },
            changes,
        })
    }

    /// What to put back, given the kernel's status now, in the order to put it back: each
    /// setting that still holds the value the run set. The first change of a setting holds its
    /// value from before the run.
    pub fn undo(&self, now: &AuditStatus) -> Vec<SettingChange> {
        Setting::ALL
            .into_iter()
            .filter_map(|setting| {
                let first = self.changes.iter().find(|c| c.setting == setting)?;
                let last = self.changes.iter().rfind(|c| c.setting == setting)?;
                (setting.of(now) == Some(last.ours)).then_some(SettingChange {
                    setting,
                    original: first.original,
                    ours: last.ours,
                })
            })
            .collect()
    }

    /// The settings someone changed after the run: holding neither the value the run set nor
    /// the one from before it. They are left as they are.
    pub fn changed_since(&self, now: &AuditStatus) -> Vec<Setting> {
        Setting::ALL
            .into_iter()
            .filter(|&setting| {
                let first = self.changes.iter().find(|c| c.setting == setting);
                let last = self.changes.iter().rfind(|c| c.setting == setting);
                let current = setting.of(now);
                matches!((first, last), (Some(first), Some(last))
                    if current != Some(first.original) && current != Some(last.ours))
            })
            .collect()
    }
}

/// Where a ledger is kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LedgerFile {
    path: PathBuf,
}

impl LedgerFile {
    /// The ledger at `path`.
    pub fn new(path: impl Into<PathBuf>) -> LedgerFile {
        LedgerFile { path: path.into() }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Replaces the file, whole or not at all (a temp file synced, then renamed over it), and
    /// readable by root only.
    pub fn write(&self, ledger: &Ledger) -> std::io::Result<()> {
        let mut temp = self.path.clone().into_os_string();
        temp.push(".new");
        let temp = PathBuf::from(temp);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&temp)?;
        file.write_all(ledger.render().as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&temp, &self.path)
    }

    /// The ledger, if there is one: `Ok(None)` when there is no file.
    pub fn read(&self) -> std::io::Result<Option<Result<Ledger, LedgerError>>> {
        match std::fs::read_to_string(&self.path) {
            Ok(text) => Ok(Some(Ledger::parse(&text))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Removes the file; one already gone is no error.
    pub fn remove(&self) -> std::io::Result<()> {
        match std::fs::remove_file(&self.path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

/// What [`super::netlink::settle`] found in a ledger, for the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Settled {
    /// No ledger: the last run stopped cleanly, or never changed a setting.
    Clean,
    /// The run that wrote it still runs: it holds the settings.
    OwnerRuns(u32),
    /// A ledger of an earlier boot, removed: the kernel has begun again since.
    OtherBoot,
    /// The ledger did not parse; removed, nothing put back.
    Unreadable(String),
    /// A killed run's settings: `restored` were put back; `kept` had been changed since by
    /// someone else, and were left as they are.
    Restored {
        /// The killed run's pid.
        pid: u32,
        /// Put back.
        restored: Vec<SettingChange>,
        /// Changed since the run set them: left alone.
        kept: Vec<Setting>,
    },
}

impl fmt::Display for Settled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Settled::Clean => write!(f, "no audit settings were left by an earlier run"),
            Settled::OwnerRuns(pid) => write!(
                f,
                "the audit settings are held by a running agent (pid {pid}): left to it"
            ),
            Settled::OtherBoot => write!(
                f,
                "removed an audit ledger of an earlier boot (its settings ended with that boot)"
            ),
            Settled::Unreadable(why) => {
                write!(
                    f,
                    "removed an unreadable audit ledger ({why}): nothing put back"
                )
            }
            Settled::Restored {
                pid,
                restored,
                kept,
            } => {
                write!(
                    f,
                    "put back the audit settings a run killed before it could stop (pid {pid}) left"
                )?;
                if restored.is_empty() {
                    write!(f, ": none still held its values")?;
                }
                for (i, c) in restored.iter().enumerate() {
                    let sep = if i == 0 { ": " } else { ", " };
                    write!(f, "{sep}{} {} → {}", c.setting.name(), c.ours, c.original)?;
                }
                for s in kept {
                    write!(f, "; {} was changed since, and kept", s.name())?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(enabled: u32, limit: u32, wait: u32) -> AuditStatus {
        AuditStatus {
            enabled,
            backlog_limit: limit,
            backlog_wait_time: Some(wait),
            ..AuditStatus::default()
        }
    }

    fn ledger(changes: &[(Setting, u32, u32)]) -> Ledger {
        Ledger {
            boot_id: "0c8f2f6e-4b59-4d4b-9a47-6f0b1a2b3c4d".into(),
            owner: Owner {
                pid: 4242,
                start: 123_456,
            },
            changes: changes
                .iter()
                .map(|&(setting, original, ours)| SettingChange {
                    setting,
                    original,
                    ours,
                })
                .collect(),
        }
    }

    #[test]
    fn a_ledger_reads_back_as_written() {
        let l = ledger(&[
            (Setting::BacklogLimit, 64, 32768),
            (Setting::BacklogWaitTime, 15000, 0),
            (Setting::Enabled, 0, 1),
        ]);
        assert_eq!(Ledger::parse(&l.render()), Ok(l.clone()));
        let empty = ledger(&[]);
        assert_eq!(Ledger::parse(&empty.render()), Ok(empty));
    }

    #[test]
    fn a_bad_ledger_names_its_line() {
        let good = ledger(&[(Setting::BacklogLimit, 64, 32768)]).render();
        let cases = [
            (
                good.replace("pid=4242", "pid=x"),
                2,
                "\"x\" is not a number",
            ),
            (
                good.replace("backlog_limit=64 32768", "backlog_limit=64"),
                4,
                "is not \"original ours\"",
            ),
            (
                good.replace("backlog_limit", "rate_limit"),
                4,
                "unknown setting",
            ),
            (
                good.replace("32768", "99999999999"),
                4,
                "not a 32-bit number",
            ),
            (good.replace("pid_start=123456\n", ""), 4, "no pid_start"),
            ("garbage".to_owned(), 1, "not name=value"),
        ];
        for (text, line, what) in cases {
            let e = Ledger::parse(&text).unwrap_err();
            assert_eq!(e.line, line, "{text:?}: {e}");
            assert!(e.what.contains(what), "{text:?}: {e}");
        }
    }

    #[test]
    fn undo_puts_back_only_what_still_holds_the_runs_values() {
        let l = ledger(&[
            (Setting::BacklogLimit, 64, 32768),
            (Setting::BacklogWaitTime, 15000, 0),
            (Setting::Enabled, 0, 1),
        ]);
        let undo = l.undo(&status(1, 32768, 0));
        let order: Vec<Setting> = undo.iter().map(|c| c.setting).collect();
        assert_eq!(
            order,
            [
                Setting::BacklogWaitTime,
                Setting::BacklogLimit,
                Setting::Enabled
            ]
        );
        assert_eq!(undo[1].original, 64);
        // Someone set the limit since: it is theirs now.
        let undo = l.undo(&status(1, 8192, 0));
        assert!(undo.iter().all(|c| c.setting != Setting::BacklogLimit));
        assert_eq!(undo.len(), 2);
        assert_eq!(
            l.changed_since(&status(1, 8192, 0)),
            [Setting::BacklogLimit]
        );
        // A change written but never applied (killed between): the kernel holds the original.
        assert!(l.undo(&status(0, 64, 15000)).is_empty());
        assert!(l.changed_since(&status(0, 64, 15000)).is_empty());
    }

    #[test]
    fn a_setting_changed_twice_goes_back_to_its_first_value() {
        let l = ledger(&[
            (Setting::BacklogLimit, 64, 1000),
            (Setting::BacklogLimit, 1000, 32768),
        ]);
        let undo = l.undo(&status(1, 32768, 0));
        assert_eq!(undo.len(), 1);
        assert_eq!((undo[0].original, undo[0].ours), (64, 32768));
    }

    #[test]
    fn this_process_is_alive_and_a_changed_start_is_not() {
        let me = Owner::this_process().expect("/proc/self/stat");
        assert!(me.is_alive());
        let reused = Owner {
            start: me.start + 1,
            ..me
        };
        assert!(!reused.is_alive(), "same pid, another process");
    }

    #[test]
    fn the_file_is_written_whole_and_root_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = LedgerFile::new(dir.path().join("audit-ledger"));
        assert_eq!(file.read().unwrap(), None);
        let l = ledger(&[(Setting::Enabled, 0, 1)]);
        file.write(&l).unwrap();
        assert_eq!(file.read().unwrap(), Some(Ok(l)));
        let mode = std::fs::metadata(file.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp file left"
        );
        file.remove().unwrap();
        file.remove().unwrap();
        assert_eq!(file.read().unwrap(), None);
    }
}

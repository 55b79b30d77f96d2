//! User and group names from /etc/passwd and /etc/group, cached and refreshed when the files
//! change: no NSS call per event.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// uid → name from passwd-format text (the first entry of a uid wins, as `getpwuid` does);
/// comments and malformed lines are skipped.
pub fn parse_passwd(text: &str) -> HashMap<u32, String> {
    parse_ids(text, 7)
}

/// gid → name from group-format text (the first entry of a gid wins).
pub fn parse_group(text: &str) -> HashMap<u32, String> {
    parse_ids(text, 4)
}

fn parse_ids(text: &str, min_fields: usize) -> HashMap<u32, String> {
    let mut out = HashMap::new();
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line.starts_with('#') || line.starts_with('+') || line.starts_with('-') {
            continue;
        }
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < min_fields || f[0].is_empty() {
            continue;
        }
        if let Ok(id) = f[2].parse::<u32>() {
            out.entry(id).or_insert_with(|| f[0].to_string());
        }
    }
    out
}

/// One watched file: its parsed map and the (mtime, ctime, size, inode) it was parsed at.
#[derive(Debug)]
struct Watched {
    path: PathBuf,
    stamp: Option<(i64, i64, u64, u64)>,
    map: HashMap<u32, String>,
    parse: fn(&str) -> HashMap<u32, String>,
}

impl Watched {
    fn new(path: PathBuf, parse: fn(&str) -> HashMap<u32, String>) -> Self {
        Watched {
            path,
            stamp: None,
            map: HashMap::new(),
            parse,
        }
    }

    /// Re-reads the file when its stamp changed; true when it did.
    fn refresh(&mut self) -> bool {
        let stamp = std::fs::metadata(&self.path).ok().map(|m| {
            (
                m.mtime() * 1_000_000_000 + m.mtime_nsec(),
                m.ctime() * 1_000_000_000 + m.ctime_nsec(),
                m.size(),
                m.ino(),
            )
        });
        if stamp.is_some() && stamp == self.stamp {
            return false;
        }
        self.map = std::fs::read_to_string(&self.path)
            .map(|t| (self.parse)(&t))
            .unwrap_or_default();
        self.stamp = stamp;
        true
    }
}

/// uid → user name and gid → group name over the local account files, re-read when their
/// mtime (or ctime, size, inode: `vipw` and `useradd` replace the file) changes; the check is a
/// `stat` of each file at most every `check_interval`. Accounts only NSS knows (LDAP, sssd) have
/// no name here: the event keeps the numeric id.
#[derive(Debug)]
pub struct Names {
    users: Watched,
    groups: Watched,
    check_interval: Duration,
    last_check: Option<Instant>,
    loads: u64,
}

impl Default for Names {
    fn default() -> Self {
        Names::new()
    }
}

impl Names {
    /// Over /etc/passwd and /etc/group, checked at most once a second.
    pub fn new() -> Self {
        Names::with_files("/etc/passwd", "/etc/group", Duration::from_secs(1))
    }

    /// Over other files (tests, a container's root), checked at most every `check_interval`.
    pub fn with_files(
        passwd: impl Into<PathBuf>,
        group: impl Into<PathBuf>,
        check_interval: Duration,
    ) -> Self {
        Names {
            users: Watched::new(passwd.into(), parse_passwd),
            groups: Watched::new(group.into(), parse_group),
            check_interval,
            last_check: None,
            loads: 0,
        }
    }

    fn refresh(&mut self) {
        let now = Instant::now();
        if self
            .last_check
            .is_some_and(|t| now.duration_since(t) < self.check_interval)
        {
            return;
        }
        self.last_check = Some(now);
        self.loads += u64::from(self.users.refresh()) + u64::from(self.groups.refresh());
    }

    /// The name of user `uid`, if /etc/passwd has it.
    pub fn user(&mut self, uid: u32) -> Option<&str> {
        self.refresh();
        self.users.map.get(&uid).map(String::as_str)
    }

    /// The name of group `gid`, if /etc/group has it.
    pub fn group(&mut self, gid: u32) -> Option<&str> {
        self.refresh();
        self.groups.map.get(&gid).map(String::as_str)
    }

    /// How many times a file was (re)parsed.
    pub fn loads(&self) -> u64 {
        self.loads
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_first_wins() {
        let p = parse_passwd(
            "root:x:0:0:root:/root:/bin/bash\n# comment\nbad line\ntoor:x:0:0::/root:/bin/sh\nalice:x:1000:1000:A:/home/alice:/bin/bash\n+::::::\n",
        );
        assert_eq!(p.get(&0).map(String::as_str), Some("root"));
        assert_eq!(p.get(&1000).map(String::as_str), Some("alice"));
        assert_eq!(p.len(), 2);
        let g = parse_group("root:x:0:\nsudo:x:27:alice,bob\nshort:x\n");
        assert_eq!(g.get(&27).map(String::as_str), Some("sudo"));
        assert_eq!(g.len(), 2);
    }

    #[test]
    fn refreshes_on_change() {
        let tmp = tempfile::tempdir().unwrap();
        let (pw, gr) = (tmp.path().join("passwd"), tmp.path().join("group"));
        std::fs::write(&pw, "a:x:1:1::/:/bin/sh\n").unwrap();
        std::fs::write(&gr, "g:x:1:\n").unwrap();
        let mut n = Names::with_files(&pw, &gr, Duration::ZERO);
        assert_eq!(n.user(1), Some("a"));
        assert_eq!(n.group(1), Some("g"));
        assert_eq!(n.loads(), 2);
        assert_eq!(n.user(1), Some("a"));
        assert_eq!(n.loads(), 2, "unchanged files are not re-read");
        std::fs::write(&pw, "b:x:1:1::/:/bin/sh\nc:x:2:2::/:/bin/sh\n").unwrap();
        assert_eq!(n.user(1), Some("b"));
        assert_eq!(n.user(2), Some("c"));
        assert_eq!(n.loads(), 3);
    }
}

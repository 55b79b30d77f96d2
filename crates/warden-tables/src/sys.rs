//! Small readers of system files shared by several tables (/etc/passwd, /etc/group).

use std::path::PathBuf;

use crate::context::QueryContext;

/// One line of /etc/passwd.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Passwd {
    pub username: String,
    pub uid: u32,
    pub gid: u32,
    pub gecos: String,
    pub home: PathBuf,
    pub shell: String,
}

/// One line of /etc/group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    pub name: String,
    pub gid: u32,
    pub members: Vec<String>,
}

/// Parses passwd-format text; malformed lines are skipped.
pub fn parse_passwd(text: &str) -> Vec<Passwd> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() < 7 {
                return None;
            }
            Some(Passwd {
                username: f[0].to_string(),
                uid: f[2].parse().ok()?,
                gid: f[3].parse().ok()?,
                gecos: f[4].to_string(),
                home: PathBuf::from(f[5]),
                shell: f[6].to_string(),
            })
        })
        .collect()
}

/// Parses group-format text; malformed lines are skipped.
pub fn parse_group(text: &str) -> Vec<Group> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() < 4 {
                return None;
            }
            Some(Group {
                name: f[0].to_string(),
                gid: f[2].parse().ok()?,
                members: f[3]
                    .split(',')
                    .filter(|m| !m.is_empty())
                    .map(str::to_string)
                    .collect(),
            })
        })
        .collect()
}

/// The local accounts of /etc/passwd (empty when it cannot be read).
pub fn passwd() -> Vec<Passwd> {
    std::fs::read_to_string("/etc/passwd")
        .map(|t| parse_passwd(&t))
        .unwrap_or_default()
}

/// The local groups of /etc/group (empty when it cannot be read).
pub fn groups() -> Vec<Group> {
    std::fs::read_to_string("/etc/group")
        .map(|t| parse_group(&t))
        .unwrap_or_default()
}

/// The accounts a per-user (`user_data`) table reports on, with osquery's rule: the users named
/// by `uid` (or `username`) constraints when there are any; otherwise every account with a
/// home directory when running as root, and the calling user otherwise.
pub fn users_for(ctx: &QueryContext) -> Vec<Passwd> {
    let all = passwd();
    let uids = ctx.equal_ints("uid");
    let names = if ctx.spec().column_index("username").is_some() {
        ctx.equal_texts("username")
    } else {
        None
    };
    if uids.is_some() || names.is_some() {
        return all
            .into_iter()
            .filter(|p| {
                uids.as_ref().is_some_and(|u| u.contains(&i64::from(p.uid)))
                    || names.as_ref().is_some_and(|n| n.contains(&p.username))
            })
            .collect();
    }
    let me = nix::unistd::getuid().as_raw();
    if me == 0 {
        let mut seen = std::collections::HashSet::new();
        all.into_iter()
            .filter(|p| p.home.is_dir() && seen.insert(p.home.clone()))
            .collect()
    } else {
        all.into_iter().filter(|p| p.uid == me).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwd_lines_parse_and_bad_ones_are_skipped() {
        let text = "root:x:0:0:root:/root:/bin/bash\nbroken:line\nbob:x:1000:1000:Bob,,,:/home/bob:/bin/sh\n";
        let users = parse_passwd(text);
        assert_eq!(users.len(), 2);
        assert_eq!(users[1].username, "bob");
        assert_eq!(users[1].home, PathBuf::from("/home/bob"));
    }

    #[test]
    fn group_members_split_on_commas() {
        let groups = parse_group("sudo:x:27:alice,bob\nempty:x:5:\n");
        assert_eq!(groups[0].members, vec!["alice", "bob"]);
        assert!(groups[1].members.is_empty());
    }
}

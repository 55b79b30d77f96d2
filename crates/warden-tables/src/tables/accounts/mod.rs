//! Tables about users and their configuration: accounts, logins, shell history, ssh, sudo, cron.

use crate::registry::TableDef;

mod authorized_keys;
mod crontab;
mod groups;
mod known_hosts;
mod last;
mod logged_in_users;
mod shadow;
mod shell_history;
mod ssh_configs;
mod sudoers;
mod suid_bin;
mod user_groups;
mod user_ssh_keys;
mod users;
mod utmp;

pub(crate) fn tables() -> Vec<TableDef> {
    vec![
        TableDef::osquery("users", users::generate),
        TableDef::osquery("groups", groups::generate),
        TableDef::osquery("user_groups", user_groups::generate),
        TableDef::osquery("logged_in_users", logged_in_users::generate),
        TableDef::osquery("last", last::generate),
        TableDef::osquery("shell_history", shell_history::generate),
        TableDef::osquery("authorized_keys", authorized_keys::generate),
        TableDef::osquery("known_hosts", known_hosts::generate),
        TableDef::osquery("ssh_configs", ssh_configs::generate),
        TableDef::osquery("user_ssh_keys", user_ssh_keys::generate),
        TableDef::osquery("sudoers", sudoers::generate),
        TableDef::osquery("shadow", shadow::generate),
        TableDef::osquery("crontab", crontab::generate),
        TableDef::osquery("suid_bin", suid_bin::generate),
    ]
}

/// A made-up account whose home is a test directory, for the per-user tables' tests.
#[cfg(test)]
pub(crate) fn test_user(home: &std::path::Path, uid: u32) -> crate::sys::Passwd {
    crate::sys::Passwd {
        username: format!("test{uid}"),
        uid,
        gid: uid,
        gecos: String::new(),
        home: home.to_path_buf(),
        shell: "/bin/sh".into(),
    }
}

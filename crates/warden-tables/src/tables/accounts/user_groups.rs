//! `user_groups`: which groups each local account belongs to (primary group plus the groups of
//! /etc/group that list it), as `getgrouplist` reports them.

use crate::sys::{self, Group, Passwd};
use crate::{QueryContext, Rows, TableError};

pub(crate) fn generate(ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    let uids = ctx.equal_ints("uid");
    let groups = sys::groups();
    let mut seen = std::collections::HashSet::new();
    for user in sys::passwd() {
        if uids
            .as_ref()
            .is_some_and(|u| !u.contains(&i64::from(user.uid)))
        {
            continue;
        }
        // A uid listed twice in /etc/passwd is reported for its first entry only.
        if !seen.insert(user.uid) {
            continue;
        }
        for gid in memberships(&user, &groups) {
            rows.push().set("uid", user.uid).set("gid", gid);
        }
    }
    Ok(())
}

/// The gids of one account: its primary gid first, then every group naming it as a member,
/// in file order and without repeats.
fn memberships(user: &Passwd, groups: &[Group]) -> Vec<u32> {
    let mut out = vec![user.gid];
    for g in groups {
        if g.members.iter().any(|m| m == &user.username) && !out.contains(&g.gid) {
            out.push(g.gid);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::{parse_group, parse_passwd};

    #[test]
    fn primary_group_first_then_memberships() {
        let users = parse_passwd("bob:x:1000:1000::/home/bob:/bin/sh\n");
        let groups =
            parse_group("bob:x:1000:bob\nsudo:x:27:alice,bob\nadm:x:4:alice\ndocker:x:999:bob\n");
        assert_eq!(memberships(&users[0], &groups), vec![1000, 27, 999]);
    }
}

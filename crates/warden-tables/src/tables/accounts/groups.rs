//! `groups`: local groups from /etc/group, one row per gid as osquery reports them.

use crate::sys::{self, Group};
use crate::{QueryContext, Rows, TableError};

pub(crate) fn generate(ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    for g in select(sys::groups(), ctx.equal_ints("gid").as_ref()) {
        rows.push()
            .set("gid", g.gid)
            .set("gid_signed", g.gid as i32)
            .set("groupname", g.name.as_str())
            .set("pid_with_namespace", 0);
    }
    Ok(())
}

/// The first group of each gid (a gid listed twice is reported once, as `getgrent` callers
/// in osquery do), restricted to the constrained gids when there are any.
fn select(all: Vec<Group>, gids: Option<&std::collections::BTreeSet<i64>>) -> Vec<Group> {
    let mut seen = std::collections::HashSet::new();
    all.into_iter()
        .filter(|g| gids.is_none_or(|s| s.contains(&i64::from(g.gid))))
        .filter(|g| seen.insert(g.gid))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::parse_group;

    #[test]
    fn duplicate_gids_are_reported_once_and_gid_filters() {
        let all = parse_group("root:x:0:\nwheel:x:10:bob\nalias:x:10:\nusers:x:100:\n");
        let got = select(all.clone(), None);
        let names: Vec<&str> = got.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(names, ["root", "wheel", "users"]);
        let only: std::collections::BTreeSet<i64> = [100, 7].into();
        let got = select(all, Some(&only));
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].name, "users");
    }
}

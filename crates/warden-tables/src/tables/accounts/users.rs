//! `users`: local accounts from /etc/passwd (NSS lookups only for `include_remote = 1`).

use crate::sys::{self, Passwd};
use crate::{QueryContext, Rows, TableError};

pub(crate) fn generate(ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    let remote = ctx
        .equal_ints("include_remote")
        .is_some_and(|v| v.contains(&1));
    let names = ctx.equal_texts("username");
    let uids = ctx.equal_ints("uid");
    let mut accounts = select(sys::passwd(), names.as_ref(), uids.as_ref());
    if remote {
        // Accounts the name service knows but /etc/passwd does not (LDAP, sssd): only looked up
        // by name or uid, never enumerated, so a directory is not listed by accident.
        let mut extra = Vec::new();
        if let Some(names) = &names {
            for name in names {
                if !accounts.iter().any(|p| &p.username == name)
                    && let Ok(Some(u)) = nix::unistd::User::from_name(name)
                {
                    extra.push(from_nix(u));
                }
            }
        } else if let Some(uids) = &uids {
            for &uid in uids {
                let Ok(raw) = u32::try_from(uid) else {
                    continue;
                };
                if !accounts.iter().any(|p| p.uid == raw)
                    && let Ok(Some(u)) = nix::unistd::User::from_uid(raw.into())
                {
                    extra.push(from_nix(u));
                }
            }
        }
        accounts.extend(extra);
    }
    for p in &accounts {
        write(rows, p, remote);
    }
    Ok(())
}

/// The accounts a query names: by `username` when constrained, else by `uid`, else all
/// (osquery checks usernames first).
fn select(
    all: Vec<Passwd>,
    names: Option<&std::collections::BTreeSet<String>>,
    uids: Option<&std::collections::BTreeSet<i64>>,
) -> Vec<Passwd> {
    all.into_iter()
        .filter(|p| match (names, uids) {
            (Some(n), _) => n.contains(&p.username),
            (None, Some(u)) => u.contains(&i64::from(p.uid)),
            (None, None) => true,
        })
        .collect()
}

fn from_nix(u: nix::unistd::User) -> Passwd {
    Passwd {
        username: u.name,
        uid: u.uid.as_raw(),
        gid: u.gid.as_raw(),
        gecos: u.gecos.to_string_lossy().into_owned(),
        home: u.dir,
        shell: u.shell.to_string_lossy().into_owned(),
    }
}

fn write(rows: &mut Rows, p: &Passwd, remote: bool) {
    rows.push()
        .set("uid", p.uid)
        .set("gid", p.gid)
        // osquery reinterprets the 32-bit id as signed: 4294967294 becomes -2.
        .set("uid_signed", p.uid as i32)
        .set("gid_signed", p.gid as i32)
        .set("username", p.username.as_str())
        .set("description", p.gecos.as_str())
        .set("directory", p.home.to_string_lossy().into_owned())
        .set("shell", p.shell.as_str())
        .set("uuid", "")
        .set("pid_with_namespace", 0)
        .set("include_remote", i64::from(remote));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::parse_passwd;
    use std::collections::BTreeSet;

    const FIXTURE: &str = "root:x:0:0:root:/root:/bin/bash\n\
        bob:x:1000:1000:Bob B,,,:/home/bob:/bin/sh\n\
        nfs:x:4294967294:4294967294::/:/usr/sbin/nologin\n";

    #[test]
    fn username_constraint_wins_over_uid() {
        let all = parse_passwd(FIXTURE);
        let names: BTreeSet<String> = ["bob".to_string()].into();
        let uids: BTreeSet<i64> = [0].into();
        let got = select(all.clone(), Some(&names), Some(&uids));
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].username, "bob");
        let got = select(all.clone(), None, Some(&uids));
        assert_eq!(got[0].username, "root");
        assert_eq!(select(all, None, None).len(), 3);
    }

    #[test]
    fn signed_ids_wrap_like_osquery() {
        let all = parse_passwd(FIXTURE);
        let spec = crate::spec::osquery_spec("users").unwrap();
        let mut rows = Rows::new(spec);
        write(&mut rows, &all[2], false);
        assert_eq!(rows.get(0, "uid").unwrap().as_i64(), Some(4294967294));
        assert_eq!(rows.get(0, "uid_signed").unwrap().as_i64(), Some(-2));
        assert_eq!(rows.get(0, "uuid").unwrap().as_text().as_deref(), Some(""));
    }
}

//! `rpm_package_files`: the files each package of the RPM database installs, with the owner,
//! mode, size and digest the database records for them.

use super::rpm_header::*;
use crate::{QueryContext, Rows, TableError};

/// osquery skips packages claiming more files than this.
const MAX_FILES: usize = 64 * 1024;

pub(crate) fn generate(ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    let packages = ctx.equal_texts("package");
    for h in system_headers() {
        let name = h.string(TAG_NAME).unwrap_or("");
        if packages.as_ref().is_some_and(|n| !n.contains(name)) {
            continue;
        }
        for f in files(&h) {
            rows.push()
                .set("package", name)
                .set("path", f.path)
                .set("username", f.username)
                .set("groupname", f.groupname)
                .set("mode", f.mode)
                .set("size", f.size)
                .set("sha256", f.sha256);
        }
    }
    Ok(())
}

#[derive(Debug, PartialEq, Eq)]
struct FileEntry {
    path: String,
    username: String,
    groupname: String,
    /// Permission bits as four octal digits, like osquery's `lsperms`.
    mode: String,
    size: Option<i64>,
    /// The recorded digest when the package uses SHA-256 (otherwise NULL).
    sha256: Option<String>,
}

/// The files of one header, in header order.
fn files(h: &Header) -> Vec<FileEntry> {
    let paths = h.file_paths();
    if paths.is_empty() || paths.len() > MAX_FILES {
        return Vec::new();
    }
    let users = h.strings(TAG_FILEUSERNAME);
    let groups = h.strings(TAG_FILEGROUPNAME);
    let modes = h.ints(TAG_FILEMODES);
    let sizes = if h.ints(TAG_LONGFILESIZES).is_empty() {
        h.ints(TAG_FILESIZES)
    } else {
        h.ints(TAG_LONGFILESIZES)
    };
    let digests = h.strings(TAG_FILEDIGESTS);
    // RPM's default file digest (no FILEDIGESTALGO tag) is MD5.
    let sha256 = h.int(TAG_FILEDIGESTALGO) == Some(DIGEST_SHA256);
    paths
        .into_iter()
        .enumerate()
        .map(|(i, path)| {
            let mode = modes.get(i).copied().unwrap_or(0);
            FileEntry {
                path,
                username: users.get(i).cloned().unwrap_or_default(),
                groupname: groups.get(i).cloned().unwrap_or_default(),
                mode: format!("{:04o}", mode & 0o7777),
                size: sizes.get(i).copied(),
                sha256: sha256.then(|| digests.get(i).cloned().unwrap_or_default()),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::rpm_header::build::{V, header};
    use super::*;

    #[test]
    fn file_entries_from_header() {
        let blob = header(&[
            (TAG_NAME, V::S("bash")),
            (TAG_DIRNAMES, V::Sa(&["/usr/bin/", "/etc/skel/"])),
            (TAG_BASENAMES, V::Sa(&["bash", ".bashrc"])),
            (TAG_DIRINDEXES, V::I32(&[0, 1])),
            (TAG_FILEUSERNAME, V::Sa(&["root", "root"])),
            (TAG_FILEGROUPNAME, V::Sa(&["root", "wheel"])),
            (TAG_FILEMODES, V::I16(&[0o104755, 0o100644])),
            (TAG_FILESIZES, V::I32(&[1_389_064, 172])),
            (TAG_FILEDIGESTS, V::Sa(&["aa11", "bb22"])),
            (TAG_FILEDIGESTALGO, V::I32(&[8])),
        ]);
        let f = files(&parse_header(&blob).unwrap());
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].path, "/usr/bin/bash");
        assert_eq!(f[0].mode, "4755");
        assert_eq!(f[1].path, "/etc/skel/.bashrc");
        assert_eq!(f[1].groupname, "wheel");
        assert_eq!(f[1].mode, "0644");
        assert_eq!(f[1].size, Some(172));
        assert_eq!(f[1].sha256.as_deref(), Some("bb22"));
    }

    #[test]
    fn md5_digests_are_not_reported_as_sha256() {
        let blob = header(&[
            (TAG_BASENAMES, V::Sa(&["x"])),
            (TAG_DIRNAMES, V::Sa(&["/"])),
            (TAG_DIRINDEXES, V::I32(&[0])),
            (
                TAG_FILEDIGESTS,
                V::Sa(&["d41d8cd98f00b204e9800998ecf8427e"]),
            ),
        ]);
        let f = files(&parse_header(&blob).unwrap());
        assert_eq!(f[0].sha256, None);
        assert!(files(&parse_header(&header(&[])).unwrap()).is_empty());
    }
}

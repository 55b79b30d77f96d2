//! `magic`: libmagic's description, MIME type and MIME encoding of the files named by `path`.
//!
//! Binds the system libmagic (Debian's libmagic1) through a minimal FFI. As in osquery, the
//! database is `/usr/share/file/magic.mgc:/usr/share/misc/magic.mgc` (those present) unless the query gives
//! `magic_db_files`; symlinks are described as links, as `file -b` does.

use std::ffi::{CStr, CString, c_char, c_int};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::targets;
use crate::{QueryContext, Rows, TableError};

/// The database files osquery loads by default.
const DEFAULT_DATABASES: &[&str] = &["/usr/share/file/magic.mgc", "/usr/share/misc/magic.mgc"];

const MAGIC_NONE: c_int = 0x0000000;
const MAGIC_MIME_TYPE: c_int = 0x0000010;
const MAGIC_MIME_ENCODING: c_int = 0x0000400;

/// libmagic's opaque `struct magic_set`.
#[repr(C)]
struct MagicSet {
    _private: [u8; 0],
}

#[link(name = "magic")]
unsafe extern "C" {
    fn magic_open(flags: c_int) -> *mut MagicSet;
    fn magic_close(cookie: *mut MagicSet);
    fn magic_load(cookie: *mut MagicSet, filename: *const c_char) -> c_int;
    fn magic_file(cookie: *mut MagicSet, filename: *const c_char) -> *const c_char;
    fn magic_setflags(cookie: *mut MagicSet, flags: c_int) -> c_int;
}

/// An open libmagic cookie with its database loaded; closed on drop.
struct Magic {
    cookie: *mut MagicSet,
}

impl Magic {
    /// Opens libmagic and loads the colon-separated database list; `None` if either fails.
    fn open(databases: &str) -> Option<Magic> {
        let databases = CString::new(databases).ok()?;
        // SAFETY: magic_open has no preconditions; a null result is handled below.
        let cookie = unsafe { magic_open(MAGIC_NONE) };
        if cookie.is_null() {
            return None;
        }
        let magic = Magic { cookie };
        // SAFETY: the cookie is valid (non-null, not closed) and `databases` is a NUL-terminated
        // string that outlives the call.
        let rc = unsafe { magic_load(magic.cookie, databases.as_ptr()) };
        (rc == 0).then_some(magic)
    }

    /// libmagic's answer for one file with the given flags; `None` on error.
    fn describe(&mut self, path: &CStr, flags: c_int) -> Option<String> {
        // SAFETY: the cookie is valid and exclusively borrowed for the call.
        if unsafe { magic_setflags(self.cookie, flags) } != 0 {
            return None;
        }
        // SAFETY: the cookie is valid and `path` is NUL-terminated. The returned string is owned
        // by the cookie and stays valid until its next call, so it is copied out right away.
        unsafe {
            let text = magic_file(self.cookie, path.as_ptr());
            if text.is_null() {
                None
            } else {
                Some(CStr::from_ptr(text).to_string_lossy().into_owned())
            }
        }
    }
}

impl Drop for Magic {
    fn drop(&mut self) {
        // SAFETY: the cookie came from magic_open and is closed exactly once, here.
        unsafe { magic_close(self.cookie) };
    }
}

pub(crate) fn generate(ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    let databases = database_list(
        ctx.equal_texts("magic_db_files")
            .map(|set| set.into_iter().collect()),
    );
    let Some(mut magic) = Magic::open(&databases) else {
        // osquery returns no rows when libmagic or its database cannot be loaded.
        return Ok(());
    };
    for target in targets(ctx) {
        // A path that does not exist gives no row.
        if std::fs::symlink_metadata(&target.fs_path).is_err() {
            continue;
        }
        let Some(c_path) = c_path(&target.fs_path) else {
            continue;
        };
        let mut row = rows.push();
        row.set("path", target.path.as_str())
            .set("magic_db_files", databases.as_str());
        if ctx.wants("data") {
            row.set("data", magic.describe(&c_path, MAGIC_NONE));
        }
        if ctx.wants("mime_type") {
            row.set("mime_type", magic.describe(&c_path, MAGIC_MIME_TYPE));
        }
        if ctx.wants("mime_encoding") {
            row.set(
                "mime_encoding",
                magic.describe(&c_path, MAGIC_MIME_ENCODING),
            );
        }
    }
    Ok(())
}

/// The database list to load: the queried files joined with `:`, else those of osquery's
/// default files that exist on this host.
fn database_list(queried: Option<Vec<String>>) -> String {
    match queried {
        Some(files) if !files.is_empty() => files.join(":"),
        _ => {
            let present: Vec<&str> = DEFAULT_DATABASES
                .iter()
                .copied()
                .filter(|f| Path::new(f).exists())
                .collect();
            if present.is_empty() {
                DEFAULT_DATABASES.join(":")
            } else {
                present.join(":")
            }
        }
    }
}

fn c_path(path: &Path) -> Option<CString> {
    CString::new(path.as_os_str().as_bytes()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_list_defaults_to_osquery_files() {
        let default = database_list(None);
        assert!(
            default.split(':').all(|f| DEFAULT_DATABASES.contains(&f)),
            "{default}"
        );
        assert_eq!(database_list(Some(vec!["/a".into(), "/b".into()])), "/a:/b");
    }

    #[test]
    fn describes_a_text_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.txt");
        std::fs::write(&path, "hello world\n").unwrap();
        let Some(mut magic) = Magic::open(&database_list(None)) else {
            eprintln!("skipped: libmagic database not installed");
            return;
        };
        let c = c_path(&path).unwrap();
        assert_eq!(
            magic.describe(&c, MAGIC_MIME_TYPE).as_deref(),
            Some("text/plain")
        );
        assert_eq!(
            magic.describe(&c, MAGIC_MIME_ENCODING).as_deref(),
            Some("us-ascii")
        );
    }
}

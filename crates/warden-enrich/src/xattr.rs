//! Download origin: the `user.xdg.origin.url` and `user.xdg.referrer.url` extended attributes
//! that browsers and download tools (Chromium, Firefox with the pref, wget --xattr, curl
//! --xattr) set on downloaded files.

use std::ffi::CStr;
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;

/// The xattr holding the URL a file was downloaded from.
pub const ORIGIN_URL: &CStr = c"user.xdg.origin.url";
/// The xattr holding the page that linked to the download.
pub const REFERRER_URL: &CStr = c"user.xdg.referrer.url";

/// Largest attribute value read (a longer one is treated as absent).
const MAX_VALUE: usize = 64 * 1024;

/// The value of extended attribute `name` of the open file, as text (lossy UTF-8, trailing NULs
/// trimmed). None when the attribute is absent (`ENODATA`), xattrs are unsupported
/// (`ENOTSUP`) or the read fails for any other reason.
pub fn get(file: &File, name: &CStr) -> Option<String> {
    let mut buf = vec![0u8; 1024];
    loop {
        // SAFETY: the fd is open for the lifetime of `file`, `name` is NUL-terminated, and `buf`
        // is a valid writable buffer of `buf.len()` bytes.
        let n = unsafe {
            libc::fgetxattr(
                file.as_raw_fd(),
                name.as_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        };
        if n >= 0 {
            buf.truncate(n as usize);
            while buf.last() == Some(&0) {
                buf.pop();
            }
            return Some(String::from_utf8_lossy(&buf).into_owned());
        }
        match io::Error::last_os_error().raw_os_error() {
            Some(libc::ERANGE) if buf.len() < MAX_VALUE => {
                // SAFETY: a size query: a null buffer of length 0 is allowed by fgetxattr(2).
                let need = unsafe {
                    libc::fgetxattr(file.as_raw_fd(), name.as_ptr(), std::ptr::null_mut(), 0)
                };
                if need <= 0 || need as usize > MAX_VALUE {
                    return None;
                }
                buf.resize((need as usize).max(buf.len() * 2).min(MAX_VALUE), 0);
            }
            Some(libc::EINTR) => continue,
            _ => return None,
        }
    }
}

/// The open file's download origin and referrer ([`ORIGIN_URL`], [`REFERRER_URL`]). Most files
/// have neither: one `flistxattr` says so, where asking for each would take a `fgetxattr`
/// each. A list longer than the buffer (many attributes) or unreadable: each is asked for.
pub fn download_origin(file: &File) -> (Option<String>, Option<String>) {
    let mut list = [0u8; 512];
    // SAFETY: the fd is open for the lifetime of `file`, and `list` is a valid writable buffer
    // of `list.len()` bytes.
    let n = unsafe { libc::flistxattr(file.as_raw_fd(), list.as_mut_ptr().cast(), list.len()) };
    let listed = |name: &CStr| {
        n < 0
            || list[..n.max(0) as usize]
                .split(|&b| b == 0)
                .any(|listed| listed == name.to_bytes())
    };
    let value = |name: &CStr| listed(name).then(|| get(file, name)).flatten();
    (value(ORIGIN_URL), value(REFERRER_URL))
}

/// Sets extended attribute `name` on the open file (used by tests and tools).
pub fn set(file: &File, name: &CStr, value: &[u8]) -> io::Result<()> {
    // SAFETY: the fd is open, `name` is NUL-terminated, and `value` is valid for `value.len()`
    // bytes; flags 0 means create or replace.
    let rc = unsafe {
        libc::fsetxattr(
            file.as_raw_fd(),
            name.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

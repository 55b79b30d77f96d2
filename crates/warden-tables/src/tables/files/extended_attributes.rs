//! `extended_attributes`: the xattrs of the files named by `path` (or the entries of `directory`).
//!
//! Follows osquery on Linux: `security.capability` is decoded into libcap's text form
//! (`cap_net_raw=ep`); a value is shown as text when it is NUL-terminated printable ASCII and
//! base64-encoded (`base64` = 1) otherwise. Warden also shows the freedesktop `user.xdg.*`
//! attributes (`user.xdg.origin.url`, written by browsers and download tools without a NUL)
//! as text when they are printable.

use std::ffi::{CString, c_char, c_void};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use base64::Engine as _;

use super::targets;
use crate::{QueryContext, Rows, TableError};

const CAPABILITY: &str = "security.capability";

pub(crate) fn generate(ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    let cap_bits = capability_bits();
    for target in targets(ctx) {
        // Missing files, files without xattr support, permission denied: no rows for the file.
        let Ok(attrs) = read_xattrs(&target.fs_path) else {
            continue;
        };
        for (key, value) in display_rows(&attrs, cap_bits) {
            rows.push()
                .set("path", target.path.as_str())
                .set("directory", target.directory.as_str())
                .set("key", key)
                .set("value", value.text)
                .set("base64", value.base64);
        }
    }
    Ok(())
}

/// A value as the table shows it.
#[derive(Debug, PartialEq, Eq)]
struct Shown {
    text: String,
    base64: bool,
}

/// The rows of one file's attributes in osquery's order: the decoded capability set first,
/// then every other attribute (the raw capability too, if it could not be decoded).
fn display_rows(attrs: &[(String, Vec<u8>)], cap_bits: u32) -> Vec<(String, Shown)> {
    let mut out = Vec::new();
    let decoded = attrs
        .iter()
        .find(|(k, _)| k == CAPABILITY)
        .and_then(|(_, v)| capability_text(v, cap_bits));
    if let Some(text) = &decoded {
        out.push((
            CAPABILITY.to_string(),
            Shown {
                text: text.clone(),
                base64: false,
            },
        ));
    }
    for (key, value) in attrs {
        if key == CAPABILITY && decoded.is_some() {
            continue;
        }
        out.push((key.clone(), show_value(key, value)));
    }
    out
}

/// Text if the value is printable (NUL-terminated, or any `user.xdg.*` text), else base64.
fn show_value(key: &str, value: &[u8]) -> Shown {
    let printable = |bytes: &[u8]| bytes.iter().all(|b| (0x20..0x7f).contains(b));
    if value.is_empty() {
        return Shown {
            text: String::new(),
            base64: true,
        };
    }
    let text = match value.split_last() {
        Some((0, body)) if printable(body) => Some(body),
        _ if key.starts_with("user.xdg.") && printable(value) => Some(value),
        _ => None,
    };
    match text {
        Some(body) => Shown {
            text: String::from_utf8_lossy(body).into_owned(),
            base64: false,
        },
        None => Shown {
            text: base64::engine::general_purpose::STANDARD.encode(value),
            base64: true,
        },
    }
}

const CAP_NAMES: &[&str] = &[
    "cap_chown",
    "cap_dac_override",
    "cap_dac_read_search",
    "cap_fowner",
    "cap_fsetid",
    "cap_kill",
    "cap_setgid",
    "cap_setuid",
    "cap_setpcap",
    "cap_linux_immutable",
    "cap_net_bind_service",
    "cap_net_broadcast",
    "cap_net_admin",
    "cap_net_raw",
    "cap_ipc_lock",
    "cap_ipc_owner",
    "cap_sys_module",
    "cap_sys_rawio",
    "cap_sys_chroot",
    "cap_sys_ptrace",
    "cap_sys_pacct",
    "cap_sys_admin",
    "cap_sys_boot",
    "cap_sys_nice",
    "cap_sys_resource",
    "cap_sys_time",
    "cap_sys_tty_config",
    "cap_mknod",
    "cap_lease",
    "cap_audit_write",
    "cap_audit_control",
    "cap_setfcap",
    "cap_mac_override",
    "cap_mac_admin",
    "cap_syslog",
    "cap_wake_alarm",
    "cap_block_suspend",
    "cap_audit_read",
    "cap_perfmon",
    "cap_bpf",
    "cap_checkpoint_restore",
];

/// How many capabilities the running kernel knows (libcap names only these).
fn capability_bits() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        .map_or(CAP_NAMES.len() as u32, |last| last + 1)
        .min(64)
}

const EFF: u8 = 1;
const INH: u8 = 2;
const PER: u8 = 4;

/// Decodes a `security.capability` value (struct vfs_cap_data, revisions 1 to 3) into libcap's
/// `cap_to_text` form, e.g. `cap_net_raw=ep`. `None` if the value is malformed.
fn capability_text(raw: &[u8], cap_bits: u32) -> Option<String> {
    let word = |i: usize| -> Option<u32> {
        let bytes = raw.get(i * 4..i * 4 + 4)?;
        Some(u32::from_le_bytes(bytes.try_into().ok()?))
    };
    let magic = word(0)?;
    let sets = match (magic & 0xff00_0000, raw.len()) {
        (0x0100_0000, 12) => 1,
        (0x0200_0000, 20) | (0x0300_0000, 24) => 2,
        _ => return None,
    };
    let effective = magic & 1 != 0;
    let (mut permitted, mut inheritable) = (0u64, 0u64);
    for set in 0..sets {
        permitted |= u64::from(word(1 + set * 2)?) << (32 * set);
        inheritable |= u64::from(word(2 + set * 2)?) << (32 * set);
    }
    let flags = |n: u32| -> u8 {
        let bit = 1u64 << n;
        let p = permitted & bit != 0;
        let i = inheritable & bit != 0;
        let e = effective && (p || i);
        (u8::from(e) * EFF) | (u8::from(i) * INH) | (u8::from(p) * PER)
    };
    Some(caps_to_text(flags, cap_bits))
}

/// libcap's text rendering: the most common flag combination becomes the `=` base, every other
/// combination lists its capabilities with the flags added (`+`) or removed (`-`); when the
/// base is empty the first group is written `caps=flags`.
fn caps_to_text(flags: impl Fn(u32) -> u8, cap_bits: u32) -> String {
    let letters = |f: u8| {
        let mut s = String::new();
        if f & EFF != 0 {
            s.push('e');
        }
        if f & INH != 0 {
            s.push('i');
        }
        if f & PER != 0 {
            s.push('p');
        }
        s
    };
    let mut histogram = [0u32; 8];
    for n in 0..cap_bits {
        histogram[usize::from(flags(n))] += 1;
    }
    // The most common combination, preferring fewer flags on ties.
    let mut common = 7u8;
    for t in (0..7u8).rev() {
        if histogram[usize::from(t)] >= histogram[usize::from(common)] {
            common = t;
        }
    }
    let mut text = format!("={}", letters(common));
    let mut base = 0;
    for t in (0..8u8).rev() {
        if t == common || histogram[usize::from(t)] == 0 {
            continue;
        }
        text.push(' ');
        let names: Vec<String> = (0..cap_bits)
            .filter(|n| flags(*n) == t)
            .map(|n| {
                CAP_NAMES
                    .get(n as usize)
                    .map_or_else(|| n.to_string(), |s| (*s).to_string())
            })
            .collect();
        text.push_str(&names.join(","));
        let added = t & !common;
        if added != 0 {
            let mut op = '+';
            if text[base..].starts_with("= ") {
                base += 2;
                op = '=';
            }
            text.push(op);
            text.push_str(&letters(added));
        }
        let removed = !t & common;
        if removed != 0 {
            text.push('-');
            text.push_str(&letters(removed));
        }
    }
    text[base..].to_string()
}

/// Every extended attribute of a file (following symlinks), in the kernel's order.
fn read_xattrs(path: &Path) -> io::Result<Vec<(String, Vec<u8>)>> {
    let c_path = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let names = sized_read(|buf, len| {
        // SAFETY: `c_path` is NUL-terminated; `buf` is null with `len` 0 (size query) or points
        // to `len` writable bytes.
        unsafe { libc::listxattr(c_path.as_ptr(), buf.cast::<c_char>(), len) }
    });
    let names = match names {
        Ok(n) => n,
        Err(e) if e.raw_os_error() == Some(libc::ENOTSUP) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for name in names.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let Ok(c_name) = CString::new(name) else {
            continue;
        };
        let value = sized_read(|buf, len| {
            // SAFETY: both strings are NUL-terminated; `buf` is null with `len` 0 (size query)
            // or points to `len` writable bytes.
            unsafe { libc::getxattr(c_path.as_ptr(), c_name.as_ptr(), buf, len) }
        });
        // An attribute removed since the listing is skipped.
        if let Ok(value) = value {
            out.push((String::from_utf8_lossy(name).into_owned(), value));
        }
    }
    Ok(out)
}

/// Calls a size-query-then-fill syscall pair, retrying if the data grows in between.
fn sized_read(call: impl Fn(*mut c_void, usize) -> isize) -> io::Result<Vec<u8>> {
    for _ in 0..8 {
        let size = call(std::ptr::null_mut(), 0);
        let Ok(size) = usize::try_from(size) else {
            return Err(io::Error::last_os_error());
        };
        if size == 0 {
            return Ok(Vec::new());
        }
        let mut buf = vec![0u8; size];
        let got = call(buf.as_mut_ptr().cast::<c_void>(), buf.len());
        match usize::try_from(got) {
            Ok(n) => {
                buf.truncate(n);
                return Ok(buf);
            }
            Err(_) if io::Error::last_os_error().raw_os_error() == Some(libc::ERANGE) => continue,
            Err(_) => return Err(io::Error::last_os_error()),
        }
    }
    Err(io::Error::from_raw_os_error(libc::ERANGE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_text_only_when_nul_terminated_and_printable() {
        assert_eq!(
            show_value("user.a", b"hello\0"),
            Shown {
                text: "hello".into(),
                base64: false
            }
        );
        assert_eq!(
            show_value("user.a", b"hello"),
            Shown {
                text: "aGVsbG8=".into(),
                base64: true
            }
        );
        assert_eq!(
            show_value("user.a", b""),
            Shown {
                text: String::new(),
                base64: true
            }
        );
        assert!(show_value("user.a", b"\x01\x02\0").base64);
    }

    #[test]
    fn xdg_origin_url_is_shown_as_text() {
        let url = b"https://example.com/file.tar.gz";
        assert_eq!(
            show_value("user.xdg.origin.url", url),
            Shown {
                text: "https://example.com/file.tar.gz".into(),
                base64: false
            }
        );
        assert!(show_value("user.xdg.origin.url", b"\xff\xfe").base64);
    }

    /// vfs_cap_data revision 2 with the effective flag and the given permitted/inheritable.
    fn cap_v2(permitted: u64, inheritable: u64, effective: bool) -> Vec<u8> {
        let mut raw = (0x0200_0000u32 | u32::from(effective))
            .to_le_bytes()
            .to_vec();
        for half in 0..2 {
            raw.extend(((permitted >> (32 * half)) as u32).to_le_bytes());
            raw.extend(((inheritable >> (32 * half)) as u32).to_le_bytes());
        }
        raw
    }

    #[test]
    fn capabilities_render_like_getcap() {
        let net_raw = 1 << 13;
        let net_admin = 1 << 12;
        assert_eq!(
            capability_text(&cap_v2(net_raw, 0, true), 41).as_deref(),
            Some("cap_net_raw=ep")
        );
        assert_eq!(
            capability_text(&cap_v2(net_raw | net_admin, 0, false), 41).as_deref(),
            Some("cap_net_admin,cap_net_raw=p")
        );
        assert_eq!(
            capability_text(&cap_v2(net_raw, net_admin, true), 41).as_deref(),
            Some("cap_net_raw=ep cap_net_admin+ei")
        );
        let all = (1u64 << 41) - 1;
        assert_eq!(
            capability_text(&cap_v2(all, 0, true), 41).as_deref(),
            Some("=ep")
        );
        assert_eq!(
            capability_text(&cap_v2(all & !net_raw, 0, true), 41).as_deref(),
            Some("=ep cap_net_raw-ep")
        );
        assert_eq!(capability_text(b"\x00\x00\x00\x02", 41), None);
    }

    #[test]
    fn decoded_capability_comes_first_and_replaces_the_raw_value() {
        let attrs = vec![
            ("user.x".to_string(), b"1\0".to_vec()),
            (CAPABILITY.to_string(), cap_v2(1 << 13, 0, true)),
        ];
        let rows = display_rows(&attrs, 41);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].0, CAPABILITY);
        assert_eq!(rows[0].1.text, "cap_net_raw=ep");
        assert_eq!(rows[1].0, "user.x");
    }
}

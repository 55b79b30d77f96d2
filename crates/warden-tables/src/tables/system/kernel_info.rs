//! `kernel_info`: the running kernel's version (/proc/version) and boot arguments
//! (/proc/cmdline, with BOOT_IMAGE= as `path` and root= as `device`).

use crate::{QueryContext, Rows, TableError};

pub(crate) fn generate(_ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    let mut row = rows.push();
    if let Ok(cmdline) = std::fs::read_to_string("/proc/cmdline") {
        let args = parse_cmdline(&cmdline);
        row.set("arguments", args.arguments)
            .set("path", args.path)
            .set("device", args.device);
    }
    let version = std::fs::read_to_string("/proc/version")
        .ok()
        .and_then(|t| parse_version(&t))
        .or_else(|| {
            nix::sys::utsname::uname()
                .ok()
                .map(|u| u.release().to_string_lossy().into_owned())
        });
    row.set("version", version);
    Ok(())
}

/// The kernel command line split into the image path, the root device and everything else.
#[derive(Debug, Default, PartialEq, Eq)]
struct Cmdline {
    arguments: String,
    path: Option<String>,
    device: Option<String>,
}

fn parse_cmdline(text: &str) -> Cmdline {
    let mut out = Cmdline::default();
    let mut rest = Vec::new();
    for arg in text.split_whitespace() {
        if let Some(p) = arg.strip_prefix("BOOT_IMAGE=") {
            out.path = Some(p.to_string());
        } else if let Some(d) = arg.strip_prefix("root=") {
            out.device = Some(d.to_string());
        } else {
            rest.push(arg);
        }
    }
    out.arguments = rest.join(" ");
    out
}

/// The release from /proc/version ("Linux version 6.1.0-13-amd64 (...) ...").
fn parse_version(text: &str) -> Option<String> {
    let mut words = text.split_whitespace();
    let _linux = words.next()?;
    (words.next()? == "version").then_some(())?;
    words.next().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cmdline_splits_image_and_root() {
        let c = parse_cmdline("BOOT_IMAGE=/boot/vmlinuz-6.1.0 root=UUID=abcd ro quiet\n");
        assert_eq!(c.path.as_deref(), Some("/boot/vmlinuz-6.1.0"));
        assert_eq!(c.device.as_deref(), Some("UUID=abcd"));
        assert_eq!(c.arguments, "ro quiet");
    }

    #[test]
    fn version_line() {
        assert_eq!(
            parse_version("Linux version 6.1.0-13-amd64 (debian-kernel@lists.debian.org) #1 SMP\n")
                .as_deref(),
            Some("6.1.0-13-amd64")
        );
        assert_eq!(parse_version("garbage"), None);
    }
}

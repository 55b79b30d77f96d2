//! `systemd_units`: the system's systemd units, read from the unit files on disk.
//!
//! osquery asks the running systemd over D-Bus (`ListUnits`) and returns nothing when it cannot
//! reach it. Warden does not speak D-Bus; it reads the unit search path instead, which works the
//! same whether or not systemd is PID 1 (on this kind of host it often is not). What the files
//! can tell is reported; what only the manager knows is not made up:
//!
//! - `id`, `fragment_path`, `description` (`[Unit] Description=`, drop-ins applied), `user`
//!   (`[Service] User=`): from the unit file. Template units (`foo@.service`) are listed only
//!   through the instances enable links name (`getty@tty1.service`); aliases are not listed.
//! - `load_state`: `masked` for a unit linked to /dev/null or empty, `loaded` otherwise.
//! - `unit_file_state`: `masked`, `enabled` (linked from a `*.wants`/`*.requires` directory in
//!   /etc or /run), `static` (no `[Install]` section to enable it), or `disabled`.
//! - `object_path`: the D-Bus object path systemd gives the unit (derived from the id).
//! - `active_state`, `sub_state`, `following`, `source_path`: NULL — runtime state that only a
//!   running manager knows. `job_id` 0, `job_type` empty and `job_path` "/": no job is queued.

use std::path::Path;

use super::unit_files::{Unit, scan};
use crate::{QueryContext, Rows, TableError};

pub(crate) fn generate(_ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    for unit in scan(Path::new("/")) {
        rows.push()
            .set("id", unit.id.as_str())
            .set("description", unit.settings.description.clone())
            .set("load_state", if unit.masked { "masked" } else { "loaded" })
            .set("unit_file_state", unit_file_state(&unit))
            .set("object_path", object_path(&unit.id))
            .set("job_id", 0)
            .set("job_type", "")
            .set("job_path", "/")
            .set(
                "fragment_path",
                unit.fragment.to_string_lossy().into_owned(),
            )
            .set("user", unit.settings.user.clone());
    }
    Ok(())
}

fn unit_file_state(unit: &Unit) -> &'static str {
    if unit.masked {
        "masked"
    } else if unit.enabled {
        "enabled"
    } else if unit.settings.installable {
        "disabled"
    } else {
        "static"
    }
}

/// systemd's D-Bus object path for a unit: every byte that is not an ASCII letter or digit
/// (and a leading digit) escaped as `_xx`.
fn object_path(id: &str) -> String {
    let mut out = String::from("/org/freedesktop/systemd1/unit/");
    for (i, b) in id.bytes().enumerate() {
        if b.is_ascii_alphabetic() || (b.is_ascii_digit() && i > 0) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("_{b:02x}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::unit_files::UnitSettings;
    use super::*;

    #[test]
    fn object_paths_escape_like_systemd() {
        assert_eq!(
            object_path("ssh.service"),
            "/org/freedesktop/systemd1/unit/ssh_2eservice"
        );
        assert_eq!(
            object_path("getty@tty1.service"),
            "/org/freedesktop/systemd1/unit/getty_40tty1_2eservice"
        );
        assert_eq!(
            object_path("1-x.mount"),
            "/org/freedesktop/systemd1/unit/_31_2dx_2emount"
        );
    }

    #[test]
    fn file_states() {
        let mut u = Unit {
            id: "a.service".into(),
            fragment: "/lib/systemd/system/a.service".into(),
            masked: false,
            settings: UnitSettings::default(),
            enabled: false,
        };
        assert_eq!(unit_file_state(&u), "static");
        u.settings.installable = true;
        assert_eq!(unit_file_state(&u), "disabled");
        u.enabled = true;
        assert_eq!(unit_file_state(&u), "enabled");
        u.masked = true;
        assert_eq!(unit_file_state(&u), "masked");
    }
}

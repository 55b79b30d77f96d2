//! `disk_encryption`: whether each block device is a dm-crypt mapping (or sits on one), from
//! the device-mapper UUIDs in sysfs and the LUKS header of the underlying device.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use crate::{QueryContext, Rows, TableError};

use super::blkid;
use super::block_devices::{BlockDevice, enumerate};
use super::util::read_trimmed;

/// The encryption columns of one device.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Status {
    encrypted: bool,
    kind: String,
}

pub(crate) fn generate(ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    let devices = enumerate();
    let wanted = ctx.equal_texts("name");
    let mut memo = HashMap::new();
    for dev in devices.values() {
        if wanted.as_ref().is_some_and(|w| !w.contains(&dev.name)) {
            continue;
        }
        let st = status(dev, &devices, &mut memo, 0);
        let mut row = rows.push();
        row.set("name", dev.name.as_str())
            .set("encrypted", i64::from(st.encrypted))
            .set("type", st.kind)
            .set(
                "encryption_status",
                if st.encrypted {
                    "encrypted"
                } else {
                    "not encrypted"
                },
            );
        if ctx.wants("uuid") {
            let uuid = blkid::probe_device(Path::new(&dev.name)).and_then(|p| p.uuid);
            row.set("uuid", uuid.unwrap_or_default());
        }
    }
    Ok(())
}

/// A dm-crypt mapping is encrypted; any other device takes its parent's status.
fn status(
    dev: &BlockDevice,
    all: &BTreeMap<String, BlockDevice>,
    memo: &mut HashMap<String, Status>,
    depth: usize,
) -> Status {
    if let Some(s) = memo.get(&dev.name) {
        return s.clone();
    }
    let dm_uuid = read_trimmed(dev.sys_path.join("dm/uuid")).unwrap_or_default();
    let st = if let Some(kind) = crypt_kind(&dm_uuid) {
        let cipher = dev
            .parent
            .as_ref()
            .and_then(|p| blkid::probe_device(Path::new(p)))
            .and_then(|p| p.cipher);
        Status {
            encrypted: true,
            kind: match cipher {
                Some(c) => format!("{kind}-{c}"),
                None => kind,
            },
        }
    } else {
        match dev.parent.as_ref().and_then(|p| all.get(p)) {
            Some(parent) if depth < 16 => status(parent, all, memo, depth + 1),
            _ => Status {
                encrypted: false,
                kind: String::new(),
            },
        }
    };
    memo.insert(dev.name.clone(), st.clone());
    st
}

/// The crypt type of a device-mapper UUID (`CRYPT-LUKS2-<uuid>-<name>` → `LUKS2`), or
/// `None` for mappings that are not dm-crypt.
fn crypt_kind(dm_uuid: &str) -> Option<String> {
    let rest = dm_uuid.strip_prefix("CRYPT-")?;
    let kind = rest.split('-').next().filter(|k| !k.is_empty())?;
    Some(kind.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dm_uuids() {
        assert_eq!(
            crypt_kind("CRYPT-LUKS2-0123456789abcdef0123456789abcdef-root").as_deref(),
            Some("LUKS2")
        );
        assert_eq!(crypt_kind("CRYPT-PLAIN-swap").as_deref(), Some("PLAIN"));
        assert_eq!(crypt_kind("LVM-abcdef"), None);
        assert_eq!(crypt_kind(""), None);
    }

    #[test]
    fn children_inherit_from_crypt_parents() {
        let mut all = BTreeMap::new();
        let crypt = BlockDevice {
            name: "/dev/dm-0".into(),
            ..BlockDevice::default()
        };
        let lv = BlockDevice {
            name: "/dev/dm-1".into(),
            parent: Some("/dev/dm-0".into()),
            ..BlockDevice::default()
        };
        all.insert(crypt.name.clone(), crypt);
        all.insert(lv.name.clone(), lv.clone());
        let mut memo = HashMap::new();
        memo.insert(
            "/dev/dm-0".to_string(),
            Status {
                encrypted: true,
                kind: "LUKS2-aes-xts-plain64".into(),
            },
        );
        let st = status(&lv, &all, &mut memo, 0);
        assert!(st.encrypted);
        assert_eq!(st.kind, "LUKS2-aes-xts-plain64");
    }
}

//! `pci_devices`: PCI devices from /sys/bus/pci/devices (uevent and driver link), named
//! through the udev database or pci.ids when they are installed.

use std::collections::HashMap;
use std::path::Path;

use crate::{QueryContext, Rows, TableError};

use super::hwids::{IdDb, PCI_IDS};

pub(crate) fn generate(ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    let Ok(entries) = std::fs::read_dir("/sys/bus/pci/devices") else {
        return Ok(());
    };
    let names = [
        "vendor",
        "model",
        "pci_class",
        "pci_subclass",
        "subsystem_vendor",
        "subsystem_model",
    ];
    let db = if names.iter().any(|c| ctx.wants(c)) {
        IdDb::load(&PCI_IDS)
    } else {
        IdDb::default()
    };
    let mut paths: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    paths.sort();
    for dir in paths {
        let Ok(uevent) = std::fs::read_to_string(dir.join("uevent")) else {
            continue;
        };
        let props = parse_uevent(&uevent);
        let Some(slot) = props.get("PCI_SLOT_NAME") else {
            continue;
        };
        let udev = udev_properties(&format!("+pci:{slot}"));
        let mut row = rows.push();
        row.set("pci_slot", slot.as_str());
        let driver = props
            .get("DRIVER")
            .cloned()
            .or_else(|| link_name(&dir.join("driver")));
        row.set("driver", driver.unwrap_or_default());
        let mut ids = None;
        match props.get("PCI_ID").and_then(|v| split_ids(v)) {
            Some((v, d)) => {
                row.set("vendor_id", format!("0x{v}"))
                    .set("model_id", format!("0x{d}"))
                    .set(
                        "vendor",
                        db.vendor(&v)
                            .map(str::to_string)
                            .or_else(|| udev.get("ID_VENDOR_FROM_DATABASE").cloned())
                            .unwrap_or_default(),
                    )
                    .set(
                        "model",
                        db.device(&v, &d)
                            .map(str::to_string)
                            .or_else(|| udev.get("ID_MODEL_FROM_DATABASE").cloned())
                            .unwrap_or_default(),
                    );
                ids = Some((v, d));
            }
            None => {
                row.set("vendor_id", "0").set("model_id", "0");
            }
        }
        if let (Some((v, d)), Some((sv, sd))) =
            (&ids, props.get("PCI_SUBSYS_ID").and_then(|s| split_ids(s)))
        {
            row.set("subsystem_vendor_id", format!("0x{sv}"))
                .set("subsystem_model_id", format!("0x{sd}"))
                .set("subsystem_vendor", db.vendor(&sv))
                .set("subsystem_model", db.subsystem(v, d, &sv, &sd));
        }
        if let Some((class, sub)) = props.get("PCI_CLASS").and_then(|c| split_class(c)) {
            row.set(
                "pci_class",
                udev.get("ID_PCI_CLASS_FROM_DATABASE")
                    .cloned()
                    .or_else(|| db.class(&class).map(str::to_string))
                    .unwrap_or_default(),
            )
            .set(
                "pci_subclass",
                udev.get("ID_PCI_SUBCLASS_FROM_DATABASE")
                    .cloned()
                    .or_else(|| db.subclass(&class, &sub).map(str::to_string))
                    .unwrap_or_default(),
            )
            .set("pci_class_id", format!("0x{class}"))
            .set("pci_subclass_id", format!("0x{sub}"));
        }
    }
    Ok(())
}

/// KEY=value lines of a sysfs uevent file.
pub(super) fn parse_uevent(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The `E:` properties udev recorded for a device (/run/udev/data/<id>), empty without udev.
pub(super) fn udev_properties(id: &str) -> HashMap<String, String> {
    std::fs::read_to_string(Path::new("/run/udev/data").join(id))
        .map(|t| {
            t.lines()
                .filter_map(|l| l.strip_prefix("E:"))
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        })
        .unwrap_or_default()
}

fn link_name(link: &Path) -> Option<String> {
    std::fs::read_link(link)
        .ok()?
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
}

/// `1AF4:1042` → ("1af4", "1042").
fn split_ids(value: &str) -> Option<(String, String)> {
    let v = value.to_ascii_lowercase();
    let (a, b) = v.split_once(':')?;
    if a.is_empty() || b.is_empty() || b.contains(':') {
        return None;
    }
    Some((a.to_string(), b.to_string()))
}

/// The PCI_CLASS value (`18000` or `0C0330`) → (class, subclass) as two hex digits each.
fn split_class(value: &str) -> Option<(String, String)> {
    let v = value.to_ascii_lowercase();
    match v.len() {
        5 => Some((format!("0{}", &v[0..1]), v[1..3].to_string())),
        6 => Some((v[0..2].to_string(), v[2..4].to_string())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uevent_and_ids() {
        let p = parse_uevent("DRIVER=virtio-pci\nPCI_CLASS=18000\nPCI_ID=1AF4:1042\n");
        assert_eq!(p["DRIVER"], "virtio-pci");
        assert_eq!(
            split_ids(&p["PCI_ID"]),
            Some(("1af4".to_string(), "1042".to_string()))
        );
        assert_eq!(split_ids("bad"), None);
        assert_eq!(
            split_class("18000"),
            Some(("01".to_string(), "80".to_string()))
        );
        assert_eq!(
            split_class("0C0330"),
            Some(("0c".to_string(), "03".to_string()))
        );
        assert_eq!(split_class("1"), None);
    }
}

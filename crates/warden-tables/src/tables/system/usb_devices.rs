//! `usb_devices`: USB devices from /sys/bus/usb/devices (interfaces left out), named through
//! usb.ids when installed and otherwise by the device's own strings.

use std::path::Path;

use crate::{QueryContext, Rows, TableError};

use super::hwids::{IdDb, USB_IDS};
use super::util::read_trimmed;

pub(crate) fn generate(ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    let Ok(entries) = std::fs::read_dir("/sys/bus/usb/devices") else {
        return Ok(());
    };
    let db = if ctx.wants("vendor") || ctx.wants("model") {
        IdDb::load(&USB_IDS)
    } else {
        IdDb::default()
    };
    let mut paths: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    paths.sort();
    for dir in paths {
        // Interfaces are named like 1-1:1.0; devices have no colon.
        if dir
            .file_name()
            .is_some_and(|n| n.to_string_lossy().contains(':'))
        {
            continue;
        }
        let attr = |name: &str| read_trimmed(dir.join(name)).filter(|s| !s.is_empty());
        let (Some(bus), Some(dev)) = (attr("busnum"), attr("devnum")) else {
            continue;
        };
        let vendor_id = attr("idVendor").unwrap_or_default().to_ascii_lowercase();
        let model_id = attr("idProduct").unwrap_or_default().to_ascii_lowercase();
        let vendor = db
            .vendor(&vendor_id)
            .map(str::to_string)
            .or_else(|| attr("manufacturer"));
        let model = db
            .device(&vendor_id, &model_id)
            .map(str::to_string)
            .or_else(|| attr("product"));
        let class = |name: &str| attr(name).and_then(|h| u8::from_str_radix(&h, 16).ok());
        rows.push()
            .set("usb_address", bus.parse::<i64>().ok())
            .set("usb_port", dev.parse::<i64>().ok())
            .set("vendor", vendor.unwrap_or_default())
            .set("vendor_id", vendor_id)
            .set("version", attr("bcdDevice").unwrap_or_default())
            .set("model", model.unwrap_or_default())
            .set("model_id", model_id)
            .set("serial", attr("serial").unwrap_or_default())
            .set(
                "class",
                class("bDeviceClass")
                    .map(|c| c.to_string())
                    .unwrap_or_default(),
            )
            .set(
                "subclass",
                class("bDeviceSubClass")
                    .map(|c| c.to_string())
                    .unwrap_or_default(),
            )
            .set(
                "protocol",
                class("bDeviceProtocol")
                    .map(|c| c.to_string())
                    .unwrap_or_default(),
            )
            .set("removable", removable(&dir));
    }
    Ok(())
}

/// 1 for a removable port, 0 for a fixed one, -1 when the hub does not say.
fn removable(dir: &Path) -> i64 {
    match read_trimmed(dir.join("removable")).as_deref() {
        Some("removable") => 1,
        Some("fixed") => 0,
        _ => -1,
    }
}

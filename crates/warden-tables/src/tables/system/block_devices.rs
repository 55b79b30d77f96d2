//! `block_devices`: block devices from /sys/class/block (disks, partitions, loop, device
//! mapper), with vendor/model/serial from sysfs and filesystem type/UUID/label from the
//! device's superblock.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::{QueryContext, Rows, TableError};

use super::blkid;
use super::util::read_trimmed;

pub(crate) fn generate(ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    let devices = enumerate();
    let wanted = ctx.equal_texts("name");
    let probe = ["uuid", "type", "label"].iter().any(|c| ctx.wants(c));
    for dev in devices.values() {
        if wanted.as_ref().is_some_and(|w| !w.contains(&dev.name)) {
            continue;
        }
        let root = root_of(dev, &devices);
        let mut row = rows.push();
        row.set("name", dev.name.as_str())
            .set("parent", dev.parent.clone().unwrap_or_default())
            .set("vendor", root.vendor.clone().unwrap_or_default())
            .set("model", root.model.clone().unwrap_or_default())
            .set("serial", root.serial.clone().unwrap_or_default())
            .set("size", dev.size)
            .set("block_size", dev.block_size);
        if probe {
            let p = blkid::probe_device(Path::new(&dev.name)).unwrap_or_default();
            row.set("uuid", p.uuid.unwrap_or_default())
                .set("type", p.fs_type)
                .set("label", p.label.unwrap_or_default());
        }
    }
    Ok(())
}

/// One block device as sysfs describes it.
#[derive(Debug, Clone, Default)]
pub(super) struct BlockDevice {
    /// `/dev/vda1`.
    pub name: String,
    /// `/dev/vda` for a partition, the underlying device for a device-mapper or md device.
    pub parent: Option<String>,
    /// The device's directory under /sys/devices.
    pub sys_path: PathBuf,
    pub vendor: Option<String>,
    pub model: Option<String>,
    pub serial: Option<String>,
    /// In 512-byte sectors.
    pub size: Option<u64>,
    pub block_size: Option<u64>,
}

/// Every block device, by `/dev/` name.
pub(super) fn enumerate() -> BTreeMap<String, BlockDevice> {
    let mut out = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir("/sys/class/block") else {
        return out;
    };
    for entry in entries.flatten() {
        let Ok(sys_path) = std::fs::canonicalize(entry.path()) else {
            continue;
        };
        if !sys_path.join("uevent").exists() {
            continue;
        }
        let Some(base) = sys_path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
        else {
            continue;
        };
        let dir_parent = sys_path
            .parent()
            .and_then(Path::file_name)
            .map(|n| n.to_string_lossy().into_owned());
        let parent = match dir_parent.as_deref() {
            Some("block") | None => first_entry(&sys_path.join("slaves")),
            Some(p) => Some(p.to_string()),
        }
        .map(|p| format!("/dev/{p}"));
        let attr = |name: &str| read_trimmed(sys_path.join(name)).filter(|s| !s.is_empty());
        let dev = BlockDevice {
            name: format!("/dev/{base}"),
            parent,
            vendor: attr("device/vendor").or_else(|| attr("device/device/vendor")),
            model: attr("device/model"),
            serial: attr("device/wwid")
                .or_else(|| attr("device/serial"))
                .or_else(|| attr("serial")),
            size: attr("size").and_then(|s| s.parse().ok()),
            block_size: attr("queue/logical_block_size").and_then(|s| s.parse().ok()),
            sys_path,
        };
        out.insert(dev.name.clone(), dev);
    }
    out
}

/// The first entry of a directory (a device-mapper device's `slaves/`).
fn first_entry(dir: &Path) -> Option<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names.into_iter().next()
}

/// The top of a device's parent chain, whose vendor, model and serial children inherit.
fn root_of<'a>(dev: &'a BlockDevice, all: &'a BTreeMap<String, BlockDevice>) -> &'a BlockDevice {
    let mut cur = dev;
    for _ in 0..16 {
        match cur.parent.as_ref().and_then(|p| all.get(p)) {
            Some(p) => cur = p,
            None => break,
        }
    }
    cur
}

//! The pci.ids / usb.ids hardware name databases: vendor, device, subsystem and class names
//! by their hex IDs.

use std::collections::HashMap;

/// Where distributions install the databases.
pub(super) const PCI_IDS: [&str; 3] = [
    "/usr/share/misc/pci.ids",
    "/usr/share/hwdata/pci.ids",
    "/usr/share/pci.ids",
];
pub(super) const USB_IDS: [&str; 3] = [
    "/usr/share/misc/usb.ids",
    "/usr/share/hwdata/usb.ids",
    "/var/lib/usbutils/usb.ids",
];

/// A parsed ids file (all IDs lower-case hex).
#[derive(Debug, Default)]
pub(super) struct IdDb {
    vendors: HashMap<String, String>,
    devices: HashMap<(String, String), String>,
    /// (vendor, device, "subvendor subdevice") → name.
    subsystems: HashMap<(String, String, String), String>,
    classes: HashMap<String, String>,
    subclasses: HashMap<(String, String), String>,
}

impl IdDb {
    /// Reads the first database that exists (empty when none does).
    pub fn load(paths: &[&str]) -> IdDb {
        paths
            .iter()
            .find_map(|p| std::fs::read(p).ok())
            .map(|b| IdDb::parse(&String::from_utf8_lossy(&b)))
            .unwrap_or_default()
    }

    /// Parses the tab-indented format shared by pci.ids and usb.ids.
    pub fn parse(text: &str) -> IdDb {
        let mut db = IdDb::default();
        let mut vendor: Option<String> = None;
        let mut device: Option<String> = None;
        let mut class: Option<String> = None;
        // Sections other than vendors and `C` classes (usb.ids' AT, HID, ...) are skipped.
        let mut skip = false;
        for line in text.lines() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let tabs = line.len() - line.trim_start_matches('\t').len();
            let body = line.trim_start_matches('\t');
            let (id, name) = match body.split_once("  ") {
                Some((id, name)) => (id.trim().to_ascii_lowercase(), name.trim().to_string()),
                None => continue,
            };
            match tabs {
                0 => {
                    vendor = None;
                    device = None;
                    class = None;
                    skip = false;
                    if let Some(c) = id.strip_prefix("c ") {
                        class = Some(c.to_string());
                        db.classes.insert(c.to_string(), name);
                    } else if id.len() == 4 && id.chars().all(|c| c.is_ascii_hexdigit()) {
                        vendor = Some(id.clone());
                        db.vendors.insert(id, name);
                    } else {
                        skip = true;
                    }
                }
                1 if !skip => {
                    if let Some(c) = &class {
                        db.subclasses.insert((c.clone(), id), name);
                    } else if let Some(v) = &vendor {
                        device = Some(id.clone());
                        db.devices.insert((v.clone(), id), name);
                    }
                }
                2 if !skip => {
                    if let (Some(v), Some(d)) = (&vendor, &device) {
                        db.subsystems.insert((v.clone(), d.clone(), id), name);
                    }
                }
                _ => {}
            }
        }
        db
    }

    pub fn vendor(&self, vendor: &str) -> Option<&str> {
        self.vendors.get(vendor).map(String::as_str)
    }
    pub fn device(&self, vendor: &str, device: &str) -> Option<&str> {
        self.devices
            .get(&(vendor.to_string(), device.to_string()))
            .map(String::as_str)
    }
    pub fn subsystem(&self, vendor: &str, device: &str, sv: &str, sd: &str) -> Option<&str> {
        self.subsystems
            .get(&(vendor.to_string(), device.to_string(), format!("{sv} {sd}")))
            .map(String::as_str)
    }
    pub fn class(&self, class: &str) -> Option<&str> {
        self.classes.get(class).map(String::as_str)
    }
    pub fn subclass(&self, class: &str, subclass: &str) -> Option<&str> {
        self.subclasses
            .get(&(class.to_string(), subclass.to_string()))
            .map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDS: &str = "# comment\n1af4  Red Hat, Inc.\n\t1042  Virtio 1.0 block device\n\
\t\t1af4 1100  QEMU Virtual Machine\n8086  Intel Corporation\n\
C 01  Mass storage controller\n\t80  Mass storage controller\n\t\t00  ignored\n";

    #[test]
    fn vendors_devices_and_classes() {
        let db = IdDb::parse(IDS);
        assert_eq!(db.vendor("1af4"), Some("Red Hat, Inc."));
        assert_eq!(db.device("1af4", "1042"), Some("Virtio 1.0 block device"));
        assert_eq!(
            db.subsystem("1af4", "1042", "1af4", "1100"),
            Some("QEMU Virtual Machine")
        );
        assert_eq!(db.class("01"), Some("Mass storage controller"));
        assert_eq!(db.subclass("01", "80"), Some("Mass storage controller"));
        assert_eq!(db.vendor("ffff"), None);
    }
}

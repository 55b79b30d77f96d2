//! Tables about the machine itself: kernel, OS, time, hardware.

use crate::registry::TableDef;

mod acpi_tables;
mod apparmor_profiles;
mod blkid;
mod block_devices;
mod cpu_time;
mod cpuid;
mod disk_encryption;
mod hwids;
mod kernel_info;
mod kernel_keys;
mod kernel_modules;
mod load_average;
mod md;
mod memory_info;
mod memory_map;
mod mounts;
mod os_version;
mod pci_devices;
mod secureboot;
mod selinux_settings;
mod smbios;
mod system_controls;
mod system_info;
mod time;
mod ulimit_info;
mod uptime;
mod usb_devices;
mod util;

pub(crate) fn tables() -> Vec<TableDef> {
    vec![
        TableDef::osquery("acpi_tables", acpi_tables::generate),
        TableDef::osquery("apparmor_profiles", apparmor_profiles::generate),
        TableDef::osquery("block_devices", block_devices::generate),
        TableDef::osquery("cpu_info", smbios::generate_cpu_info),
        TableDef::osquery("cpu_time", cpu_time::generate),
        TableDef::osquery("cpuid", cpuid::generate),
        TableDef::osquery("disk_encryption", disk_encryption::generate),
        TableDef::osquery("kernel_info", kernel_info::generate),
        TableDef::osquery("kernel_keys", kernel_keys::generate),
        TableDef::osquery("kernel_modules", kernel_modules::generate),
        TableDef::osquery("load_average", load_average::generate),
        TableDef::osquery("md_devices", md::generate_devices),
        TableDef::osquery("md_drives", md::generate_drives),
        TableDef::osquery("md_personalities", md::generate_personalities),
        TableDef::osquery(
            "memory_array_mapped_addresses",
            smbios::generate_memory_array_mapped_addresses,
        ),
        TableDef::osquery("memory_arrays", smbios::generate_memory_arrays),
        TableDef::osquery("memory_devices", smbios::generate_memory_devices),
        TableDef::osquery("memory_error_info", smbios::generate_memory_error_info),
        TableDef::osquery("memory_info", memory_info::generate),
        TableDef::osquery("memory_map", memory_map::generate),
        TableDef::osquery("mounts", mounts::generate),
        TableDef::osquery("oem_strings", smbios::generate_oem_strings),
        TableDef::osquery("os_version", os_version::generate),
        TableDef::osquery("pci_devices", pci_devices::generate),
        TableDef::osquery("platform_info", smbios::generate_platform_info),
        TableDef::osquery("secureboot", secureboot::generate),
        TableDef::osquery("selinux_settings", selinux_settings::generate),
        TableDef::osquery("smbios_tables", smbios::generate_smbios_tables),
        TableDef::osquery("system_controls", system_controls::generate),
        TableDef::osquery("system_info", system_info::generate),
        TableDef::osquery("time", time::generate),
        TableDef::osquery("ulimit_info", ulimit_info::generate),
        TableDef::osquery("uptime", uptime::generate),
        TableDef::osquery("usb_devices", usb_devices::generate),
    ]
}

//! SMBIOS (DMI) structures from /sys/firmware/dmi/tables/DMI: the parser the hardware tables
//! share, and the generators of `smbios_tables`, `platform_info`, `cpu_info`, `oem_strings`,
//! `memory_devices`, `memory_arrays`, `memory_array_mapped_addresses` and `memory_error_info`.
//!
//! The DMI file is readable by root only and absent on machines without SMBIOS (many VMs):
//! those tables then have no rows.

use crate::{QueryContext, Rows, TableError};

const DMI_TABLES: &str = "/sys/firmware/dmi/tables/DMI";

/// One SMBIOS structure: its formatted area (header included) and its string set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Structure<'a> {
    pub kind: u8,
    pub handle: u16,
    /// The formatted area, starting with the 4-byte header.
    pub data: &'a [u8],
    /// The whole structure, strings and terminating double NUL included.
    pub raw: &'a [u8],
    strings: Vec<&'a [u8]>,
}

impl Structure<'_> {
    pub fn byte(&self, at: usize) -> Option<u8> {
        self.data.get(at).copied()
    }
    pub fn word(&self, at: usize) -> Option<u16> {
        Some(u16::from_le_bytes(
            self.data.get(at..at + 2)?.try_into().ok()?,
        ))
    }
    pub fn dword(&self, at: usize) -> Option<u32> {
        Some(u32::from_le_bytes(
            self.data.get(at..at + 4)?.try_into().ok()?,
        ))
    }
    pub fn qword(&self, at: usize) -> Option<u64> {
        Some(u64::from_le_bytes(
            self.data.get(at..at + 8)?.try_into().ok()?,
        ))
    }
    /// The string a byte at `at` refers to (1-based; 0 means none → empty), right-trimmed.
    pub fn string_at(&self, at: usize) -> String {
        self.byte(at).map(|i| self.string(i)).unwrap_or_default()
    }
    pub fn string(&self, index: u8) -> String {
        if index == 0 {
            return String::new();
        }
        self.strings
            .get(usize::from(index) - 1)
            .map(|s| String::from_utf8_lossy(s).trim_end().to_string())
            .unwrap_or_default()
    }
}

/// Splits a DMI table blob into structures; stops at corrupt data or at end-of-table padding.
pub(super) fn parse(blob: &[u8]) -> Vec<Structure<'_>> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 4 <= blob.len() {
        let kind = blob[at];
        let len = usize::from(blob[at + 1]);
        let handle = u16::from_le_bytes([blob[at + 2], blob[at + 3]]);
        if len < 4 || at + len > blob.len() {
            break;
        }
        // The string set ends with two NULs (a structure without strings has just those two).
        let mut end = at + len;
        let mut strings = Vec::new();
        let mut start = end;
        loop {
            if end + 1 >= blob.len() {
                end = blob.len();
                break;
            }
            if blob[end] == 0 {
                if end > start {
                    strings.push(&blob[start..end]);
                }
                if blob[end + 1] == 0 {
                    end += 2;
                    break;
                }
                start = end + 1;
            }
            end += 1;
        }
        out.push(Structure {
            kind,
            handle,
            data: &blob[at..at + len],
            raw: &blob[at..end],
            strings,
        });
        if kind == 127 {
            break;
        }
        at = end;
    }
    out
}

/// The DMI table blob of the running machine, if the kernel exposes it.
pub(super) fn read_tables() -> Option<Vec<u8>> {
    std::fs::read(DMI_TABLES).ok()
}

fn description(kind: u8) -> &'static str {
    match kind {
        0 => "BIOS Information",
        1 => "System Information",
        2 => "Base Board or Module Information",
        3 => "System Enclosure or Chassis",
        4 => "Processor Information",
        5 => "Memory Controller Information",
        6 => "Memory Module Information",
        7 => "Cache Information",
        8 => "Port Connector Information",
        9 => "System Slots",
        10 => "On Board Devices Information",
        11 => "OEM Strings",
        12 => "System Configuration Options",
        13 => "BIOS Language Information",
        14 => "Group Associations",
        15 => "System Event Log",
        16 => "Physical Memory Array",
        17 => "Memory Device",
        18 => "32-bit Memory Error Information",
        19 => "Memory Array Mapped Address",
        20 => "Memory Device Mapped Address",
        21 => "Built-in Pointing Device",
        22 => "Portable Battery",
        23 => "System Reset",
        24 => "Hardware Security",
        25 => "System Power Controls",
        26 => "Voltage Probe",
        27 => "Cooling Device",
        28 => "Temperature Probe",
        29 => "Electrical Current Probe",
        30 => "Out-of-Band Remote Access",
        31 => "Boot Integrity Services",
        32 => "System Boot Information",
        33 => "64-bit Memory Error Information",
        34 => "Management Device",
        35 => "Management Device Component",
        36 => "Management Device Threshold Data",
        37 => "Memory Channel",
        38 => "IPMI Device Information",
        39 => "System Power Supply",
        40 => "Additional Information",
        41 => "Onboard Devices Extended Info",
        126 => "Inactive",
        127 => "End-of-Table",
        130 => "Memory SPD Data",
        131 => "OEM Processor Type",
        132 => "OEM Processor Bus Speed",
        _ => "Unknown",
    }
}

fn hex4(v: u16) -> String {
    format!("0x{v:04x}")
}

fn hex_width(v: u64, width: usize) -> String {
    format!("0x{v:0width$x}")
}

/// Runs a per-structure row writer over the machine's SMBIOS data (no data: no rows).
fn each_structure(
    rows: &mut Rows,
    mut f: impl FnMut(usize, &Structure<'_>, &mut Rows),
) -> Result<(), TableError> {
    let Some(blob) = read_tables() else {
        return Ok(());
    };
    for (i, s) in parse(&blob).iter().enumerate() {
        f(i, s, rows);
    }
    Ok(())
}

pub(crate) fn generate_smbios_tables(
    _ctx: &QueryContext,
    rows: &mut Rows,
) -> Result<(), TableError> {
    each_structure(rows, smbios_row)
}

fn smbios_row(i: usize, s: &Structure<'_>, rows: &mut Rows) {
    rows.push()
        .set("number", i)
        .set("type", s.kind)
        .set("description", description(s.kind))
        .set("handle", s.handle)
        .set("header_size", s.data.len())
        .set("size", s.raw.len())
        .set("md5", super::util::md5_hex(s.raw));
}

pub(crate) fn generate_platform_info(
    _ctx: &QueryContext,
    rows: &mut Rows,
) -> Result<(), TableError> {
    let firmware = firmware_type();
    each_structure(rows, |_, s, rows| platform_row(s, &firmware, rows))
}

/// `uefi` when the kernel booted through EFI, `bios` otherwise.
fn firmware_type() -> String {
    if std::path::Path::new("/sys/firmware/efi").is_dir() {
        "uefi".into()
    } else {
        "bios".into()
    }
}

fn platform_row(s: &Structure<'_>, firmware: &str, rows: &mut Rows) {
    if s.kind != 0 || s.data.len() < 0x16 {
        return;
    }
    let (Some(addr), Some(size), Some(major), Some(minor)) =
        (s.word(0x06), s.byte(0x09), s.byte(0x14), s.byte(0x15))
    else {
        return;
    };
    rows.push()
        .set("vendor", s.string_at(0x04))
        .set("version", s.string_at(0x05))
        .set("date", s.string_at(0x08))
        .set("revision", format!("{major}.{minor}"))
        .set("extra", "")
        .set("firmware_type", firmware)
        .set("address", hex4(addr))
        .set("size", ((u64::from(size) + 1) << 6) * 1024)
        .set("volume_size", 0);
}

pub(crate) fn generate_cpu_info(_ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    let mut counter = 0;
    each_structure(rows, |_, s, rows| cpu_row(s, &mut counter, rows))
}

fn cpu_row(s: &Structure<'_>, counter: &mut usize, rows: &mut Rows) {
    if s.kind != 4 || s.data.len() < 0x1A {
        return;
    }
    let ptype = s.byte(0x05).unwrap_or(0);
    let mut row = rows.push();
    let friendly = match ptype {
        3 => Some("CPU"),
        4 => Some("MATH"),
        5 => Some("DSP"),
        6 => Some("GPU"),
        _ => None,
    };
    if let Some(f) = friendly {
        row.set("device_id", format!("{f}{counter}"));
        *counter += 1;
    }
    row.set("socket_designation", s.string_at(0x04))
        .set("model", s.string_at(0x10))
        .set("manufacturer", s.string_at(0x07))
        .set("processor_type", ptype.to_string())
        .set("cpu_status", s.byte(0x18))
        .set("current_clock_speed", s.word(0x16))
        .set("max_clock_speed", s.word(0x14));
    if s.data.len() >= 0x28 {
        row.set("number_of_cores", s.byte(0x23).map(|b| b.to_string()))
            .set("logical_processors", s.byte(0x25))
            .set(
                "address_width",
                if s.word(0x26).unwrap_or(0) & 0x4 != 0 {
                    "64"
                } else {
                    "32"
                },
            );
    } else {
        let logical = std::thread::available_parallelism().map_or(1, |n| n.get());
        row.set(
            "number_of_cores",
            super::system_info::physical_cores().to_string(),
        )
        .set("logical_processors", logical)
        .set("address_width", (usize::BITS).to_string());
    }
}

pub(crate) fn generate_oem_strings(_ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    each_structure(rows, |_, s, rows| {
        if s.kind != 11 || s.data.len() < 5 {
            return;
        }
        for n in 1..=s.byte(4).unwrap_or(0) {
            rows.push()
                .set("handle", hex4(s.handle))
                .set("number", n)
                .set("value", s.string(n));
        }
    })
}

const FORM_FACTORS: [&str; 15] = [
    "Other",
    "Unknown",
    "SIMM",
    "SIP",
    "Chip",
    "DIP",
    "ZIP",
    "Proprietary Card",
    "DIMM",
    "TSOP",
    "Row of chips",
    "RIMM",
    "SODIMM",
    "SRIMM",
    "FB-DIMM",
];
const MEMORY_DETAILS: [&str; 16] = [
    "Reserved",
    "Other",
    "Unknown",
    "Fast-paged",
    "Static column",
    "Pseudo-static",
    "RAMBUS",
    "Synchronous",
    "CMOS",
    "EDO",
    "Window DRAM",
    "Cache DRAM",
    "Non-volatile",
    "Registered (Buffered)",
    "Unbuffered (Unregistered)",
    "LRDIMM",
];
const MEMORY_TYPES: [&str; 30] = [
    "Other",
    "Unknown",
    "DRAM",
    "EDRAM",
    "VRAM",
    "SRAM",
    "RAM",
    "ROM",
    "FLASH",
    "EEPROM",
    "FEPROM",
    "EPROM",
    "CDRAM",
    "3DRAM",
    "SDRAM",
    "SGRAM",
    "RDRAM",
    "DDR",
    "DDR2",
    "DDR2 FB-DIMM",
    "RESERVED",
    "RESERVED",
    "RESERVED",
    "DDR3",
    "FBD2",
    "DDR4",
    "LPDDR",
    "LPDDR2",
    "LPDDR3",
    "LPDDR4",
];

/// Looks up a 1-based enumeration value.
fn lookup(table: &[&'static str], v: Option<u8>) -> Option<&'static str> {
    let v = usize::from(v?);
    v.checked_sub(1).and_then(|i| table.get(i)).copied()
}

pub(crate) fn generate_memory_devices(
    _ctx: &QueryContext,
    rows: &mut Rows,
) -> Result<(), TableError> {
    each_structure(rows, |_, s, rows| memory_device_row(s, rows))
}

fn memory_device_row(s: &Structure<'_>, rows: &mut Rows) {
    if s.kind != 17 || s.raw.len() < 0x2A || s.data.len() < 0x28 {
        return;
    }
    let word = |at| s.word(at).unwrap_or(0);
    let mut row = rows.push();
    row.set("handle", hex4(s.handle))
        .set("array_handle", hex4(word(0x04)))
        .set("form_factor", lookup(&FORM_FACTORS, s.byte(0x0E)));
    if word(0x08) != 0xFFFF {
        row.set("total_width", word(0x08));
    }
    if word(0x0A) != 0xFFFF {
        row.set("data_width", word(0x0A));
    }
    match word(0x0C) {
        0xFFFF => {}
        0x7FFF => {
            row.set("size", s.dword(0x1C));
        }
        v => {
            row.set("size", v);
        }
    }
    if s.byte(0x0F) != Some(0xFF) {
        row.set("set", s.byte(0x0F));
    }
    let details = word(0x13);
    let details: Vec<&str> = MEMORY_DETAILS
        .iter()
        .enumerate()
        .filter(|(i, _)| details & (1 << i) != 0)
        .map(|(_, n)| *n)
        .collect();
    row.set("device_locator", s.string_at(0x10))
        .set("bank_locator", s.string_at(0x11))
        .set("memory_type", lookup(&MEMORY_TYPES, s.byte(0x12)))
        .set("memory_type_details", details.join(" "))
        .set("manufacturer", s.string_at(0x17))
        .set("serial_number", s.string_at(0x18))
        .set("asset_tag", s.string_at(0x19))
        .set("part_number", s.string_at(0x1A));
    for (column, at) in [("max_speed", 0x15), ("configured_clock_speed", 0x20)] {
        let v = word(at);
        if v != 0 && v != 0xFFFF {
            row.set(column, v);
        }
    }
    for (column, at) in [
        ("min_voltage", 0x22),
        ("max_voltage", 0x24),
        ("configured_voltage", 0x26),
    ] {
        let v = word(at);
        if v != 0 {
            row.set(column, v);
        }
    }
}

pub(crate) fn generate_memory_arrays(
    _ctx: &QueryContext,
    rows: &mut Rows,
) -> Result<(), TableError> {
    const LOCATIONS: [&str; 10] = [
        "Other",
        "Unknown",
        "System board or motherboard",
        "ISA add-on card",
        "EISA add-on card",
        "PCI add-on card",
        "MCA add-on card",
        "PCMCIA add-on card",
        "Proprietary add-on card",
        "NuBus",
    ];
    const USES: [&str; 7] = [
        "Other",
        "Unknown",
        "System memory",
        "Video memory",
        "Flash memory",
        "Non-volatile RAM",
        "Cache memory",
    ];
    const ECC: [&str; 7] = [
        "Other",
        "Unknown",
        "none",
        "Parity",
        "Single-bit ECC",
        "Multi-bit ECC",
        "CRC",
    ];
    each_structure(rows, |_, s, rows| {
        if s.kind != 16 || s.data.len() < 0x0F || s.raw.len() < 0x17 {
            return;
        }
        let location = match s.byte(0x04) {
            Some(0xA0) => Some("PC-98/C20 add-on card"),
            Some(0xA1) => Some("PC-98/C24 add-on card"),
            Some(0xA2) => Some("PC-98/E add-on card"),
            Some(0xA3) => Some("PC-98/Local bus add-on card"),
            v => lookup(&LOCATIONS, v),
        };
        let cap = s.dword(0x07).unwrap_or(0);
        let capacity = if cap >= 0x8000_0000 {
            s.qword(0x0F).unwrap_or(0) / 1_073_741_824
        } else {
            u64::from(cap) / 1_048_576
        };
        let mut row = rows.push();
        row.set("handle", hex4(s.handle))
            .set("location", location)
            .set("use", lookup(&USES, s.byte(0x05)))
            .set("memory_error_correction", lookup(&ECC, s.byte(0x06)))
            .set("max_capacity", capacity)
            .set("number_memory_devices", s.word(0x0D));
        if let Some(h) = s.word(0x0B).filter(|h| *h != 0xFFFE && *h != 0xFFFF) {
            row.set("memory_error_info_handle", hex4(h));
        }
    })
}

pub(crate) fn generate_memory_array_mapped_addresses(
    _ctx: &QueryContext,
    rows: &mut Rows,
) -> Result<(), TableError> {
    each_structure(rows, |_, s, rows| {
        if s.kind != 19 || s.data.len() < 0x0F || s.raw.len() < 0x1F {
            return;
        }
        let start = s.dword(0x04).unwrap_or(0);
        let (first, last) = if start != 0xFFFF_FFFF {
            (
                hex_width(u64::from(start), 8),
                hex_width(u64::from(s.dword(0x08).unwrap_or(0)), 8),
            )
        } else {
            (
                hex_width(s.qword(0x0F).unwrap_or(0), 12),
                hex_width(s.qword(0x17).unwrap_or(0), 12),
            )
        };
        rows.push()
            .set("handle", hex4(s.handle))
            .set("memory_array_handle", hex4(s.word(0x0C).unwrap_or(0)))
            .set("starting_address", first)
            .set("ending_address", last)
            .set("partition_width", s.byte(0x0E));
    })
}

pub(crate) fn generate_memory_error_info(
    _ctx: &QueryContext,
    rows: &mut Rows,
) -> Result<(), TableError> {
    const TYPES: [&str; 14] = [
        "Other",
        "Unknown",
        "OK",
        "Bad read",
        "Parity error",
        "Single-bit error",
        "Double-bit error",
        "Multi-bit error",
        "Nibble error",
        "Checksum error",
        "CRC error",
        "Corrected single-bit error",
        "Corrected error",
        "Uncorrectable error",
    ];
    const GRANULARITY: [&str; 4] = ["Other", "Unknown", "Device level", "Memory partition level"];
    const OPERATIONS: [&str; 5] = ["Other", "Unknown", "Read", "Write", "Partial write"];
    each_structure(rows, |_, s, rows| {
        if s.kind != 18 || s.data.len() < 0x17 {
            return;
        }
        let mut row = rows.push();
        row.set("handle", hex4(s.handle))
            .set("error_type", lookup(&TYPES, s.byte(0x04)))
            .set("error_granularity", lookup(&GRANULARITY, s.byte(0x05)))
            .set("error_operation", lookup(&OPERATIONS, s.byte(0x06)));
        if let Some(v) = s.dword(0x07).filter(|v| *v != 0) {
            row.set("vendor_syndrome", hex_width(u64::from(v), 8));
        }
        for (column, at) in [
            ("memory_array_error_address", 0x0B),
            ("device_error_address", 0x0F),
            ("error_resolution", 0x13),
        ] {
            if let Some(v) = s.dword(at).filter(|v| *v != 0x8000_0000) {
                row.set(column, hex_width(u64::from(v), 8));
            }
        }
    })
}

/// The System (type 1) and Base Board (type 2) strings system_info reports.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Hardware {
    pub vendor: Option<String>,
    pub model: Option<String>,
    pub version: Option<String>,
    pub serial: Option<String>,
    pub board_vendor: Option<String>,
    pub board_model: Option<String>,
    pub board_version: Option<String>,
    pub board_serial: Option<String>,
}

/// Reads system and board identity from SMBIOS structures (Lenovo's swapped model and
/// version strings are put back in order, as osquery does).
pub(super) fn hardware(structures: &[Structure<'_>]) -> Hardware {
    let mut hw = Hardware::default();
    for s in structures {
        if s.raw.len() < 0x12 {
            continue;
        }
        match s.kind {
            1 if hw.vendor.is_none() => {
                hw.vendor = Some(s.string_at(0x04));
                hw.model = Some(s.string_at(0x05));
                hw.version = Some(s.string_at(0x06));
                hw.serial = Some(s.string_at(0x07));
                if hw
                    .vendor
                    .as_deref()
                    .is_some_and(|v| v.eq_ignore_ascii_case("lenovo"))
                {
                    std::mem::swap(&mut hw.model, &mut hw.version);
                }
            }
            2 if hw.board_vendor.is_none() => {
                hw.board_vendor = Some(s.string_at(0x04));
                hw.board_model = Some(s.string_at(0x05));
                hw.board_version = Some(s.string_at(0x06));
                hw.board_serial = Some(s.string_at(0x07));
            }
            _ => {}
        }
    }
    hw
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A tiny DMI table: BIOS (type 0), System (type 1), OEM strings (type 11), end.
    pub(in super::super) fn fixture() -> Vec<u8> {
        let mut b = Vec::new();
        // Type 0, length 0x18, handle 0.
        let mut t0 = vec![0u8; 0x18];
        t0[0] = 0;
        t0[1] = 0x18;
        t0[4] = 1; // vendor
        t0[5] = 2; // version
        t0[6] = 0x00;
        t0[7] = 0xE8; // address 0xe800
        t0[8] = 3; // date
        t0[9] = 0x0F; // (15+1)*64K
        t0[0x14] = 2;
        t0[0x15] = 7;
        b.extend(&t0);
        b.extend(b"SeaBIOS\x00rel-1.16\x0004/01/2014\x00\x00");
        // Type 1, length 0x1B, handle 0x0100.
        let mut t1 = vec![0u8; 0x1B];
        t1[0] = 1;
        t1[1] = 0x1B;
        t1[2] = 0x00;
        t1[3] = 0x01;
        t1[4] = 1;
        t1[5] = 2;
        t1[6] = 3;
        t1[7] = 0;
        b.extend(&t1);
        b.extend(b"QEMU\0Standard PC  \0pc-1.0\0\0");
        // Type 11 with two strings, handle 0x0b00.
        b.extend([11, 5, 0x00, 0x0B, 2]);
        b.extend(b"first\0second\0\0");
        // End of table.
        b.extend([127, 4, 0xFF, 0xFE, 0, 0]);
        b
    }

    #[test]
    fn structures_and_strings() {
        let blob = fixture();
        let s = parse(&blob);
        assert_eq!(s.len(), 4);
        assert_eq!(s[0].string_at(4), "SeaBIOS");
        assert_eq!(s[0].string_at(8), "04/01/2014");
        assert_eq!(s[1].handle, 0x0100);
        assert_eq!(s[1].string_at(5), "Standard PC");
        assert_eq!(s[1].string_at(7), "");
        assert_eq!(s[2].string(2), "second");
        assert_eq!(s[2].raw.len(), 5 + 14);
        assert_eq!(s[3].kind, 127);
    }

    #[test]
    fn hardware_identity() {
        let blob = fixture();
        let hw = hardware(&parse(&blob));
        assert_eq!(hw.vendor.as_deref(), Some("QEMU"));
        assert_eq!(hw.model.as_deref(), Some("Standard PC"));
        assert_eq!(hw.version.as_deref(), Some("pc-1.0"));
        assert_eq!(hw.board_vendor, None);
    }

    #[test]
    fn rows_from_the_fixture() {
        let blob = fixture();
        let structures = parse(&blob);
        let spec = crate::osquery_spec("platform_info").unwrap();
        let mut rows = Rows::new(spec);
        for s in &structures {
            platform_row(s, "bios", &mut rows);
        }
        assert_eq!(rows.len(), 1);
        assert_eq!(rows.get(0, "vendor").unwrap().as_text().unwrap(), "SeaBIOS");
        assert_eq!(rows.get(0, "address").unwrap().as_text().unwrap(), "0xe800");
        assert_eq!(rows.get(0, "revision").unwrap().as_text().unwrap(), "2.7");
        assert_eq!(rows.get(0, "size").unwrap().as_i64(), Some(1_048_576));

        let spec = crate::osquery_spec("smbios_tables").unwrap();
        let mut rows = Rows::new(spec);
        for (i, s) in structures.iter().enumerate() {
            smbios_row(i, s, &mut rows);
        }
        assert_eq!(rows.len(), 4);
        assert_eq!(
            rows.get(2, "description").unwrap().as_text().unwrap(),
            "OEM Strings"
        );
        assert_eq!(rows.get(1, "handle").unwrap().as_i64(), Some(256));
    }
}

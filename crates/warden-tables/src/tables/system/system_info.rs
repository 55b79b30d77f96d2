//! `system_info`: host identity — host names, hardware UUID, CPU summary (/proc/cpuinfo,
//! CPUID), physical memory, and system/board strings from SMBIOS (or /sys/class/dmi/id).

use std::collections::BTreeSet;
use std::ffi::{CStr, CString};

use crate::{QueryContext, Rows, TableError};

use super::util::read_trimmed;

pub(crate) fn generate(ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    let hostname = nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default();
    let fqdn = if ctx.wants("hostname") || ctx.wants("local_hostname") {
        fqdn(&hostname).unwrap_or_else(|| hostname.clone())
    } else {
        hostname.clone()
    };
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = parse_cpuinfo(&cpuinfo);
    let logical = online_cpus();
    let mut row = rows.push();
    row.set("hostname", fqdn.as_str())
        .set("computer_name", hostname)
        .set("local_hostname", fqdn.as_str())
        .set("uuid", host_uuid().unwrap_or_default())
        .set("cpu_type", super::util::machine())
        .set(
            "cpu_subtype",
            cpu.model.clone().unwrap_or_else(|| "0".into()),
        )
        .set(
            "cpu_brand",
            super::cpuid::brand().or_else(|| cpu.model_name.clone()),
        )
        .set("cpu_logical_cores", logical.map_or(-1, |n| n as i64))
        .set("cpu_physical_cores", physical_cores_from(&cpuinfo))
        .set("cpu_microcode", cpu.microcode.clone())
        .set(
            "physical_memory",
            physical_memory().map_or(-1, |m| m as i64),
        );
    if let Some(siblings) = cpu.siblings {
        let sockets = match logical {
            Some(l) if siblings > 0 && l > 0 => (l / siblings) as i64,
            _ => -1,
        };
        row.set("cpu_sockets", sockets);
    }
    let hw = match super::smbios::read_tables() {
        Some(blob) => super::smbios::hardware(&super::smbios::parse(&blob)),
        None => dmi_id_hardware(),
    };
    row.set("hardware_vendor", hw.vendor)
        .set("hardware_model", hw.model.unwrap_or_default())
        .set("hardware_version", hw.version)
        .set("hardware_serial", hw.serial)
        .set("board_vendor", hw.board_vendor)
        .set("board_model", hw.board_model)
        .set("board_version", hw.board_version)
        .set("board_serial", hw.board_serial);
    Ok(())
}

/// The fields of the first processor block of /proc/cpuinfo that system_info reports.
#[derive(Debug, Default, PartialEq, Eq)]
struct CpuInfo {
    model: Option<String>,
    model_name: Option<String>,
    microcode: Option<String>,
    siblings: Option<usize>,
}

fn parse_cpuinfo(text: &str) -> CpuInfo {
    let mut out = CpuInfo::default();
    for line in text.lines() {
        if line.trim().is_empty() {
            break;
        }
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim().to_string();
        match key.trim() {
            "model" => out.model = Some(value),
            "model name" => out.model_name = Some(value),
            "microcode" => out.microcode = Some(value),
            "siblings" => out.siblings = value.parse().ok(),
            _ => {}
        }
    }
    out
}

/// Distinct (physical id, core id) pairs in /proc/cpuinfo; the processor count when the
/// kernel does not report topology.
fn physical_cores_from(cpuinfo: &str) -> usize {
    let mut cores = BTreeSet::new();
    let mut processors = 0;
    let (mut phys, mut core) = (None::<String>, None::<String>);
    for line in cpuinfo.lines().chain(std::iter::once("")) {
        if line.trim().is_empty() {
            if let (Some(p), Some(c)) = (phys.take(), core.take()) {
                cores.insert((p, c));
            }
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        match key.trim() {
            "processor" => processors += 1,
            "physical id" => phys = Some(value.trim().to_string()),
            "core id" => core = Some(value.trim().to_string()),
            _ => {}
        }
    }
    if cores.is_empty() {
        processors
    } else {
        cores.len()
    }
}

/// Physical cores of the running machine (shared with cpu_info's fallback).
pub(super) fn physical_cores() -> usize {
    physical_cores_from(&std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default())
}

fn online_cpus() -> Option<usize> {
    // SAFETY: sysconf has no memory-safety preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    usize::try_from(n).ok().filter(|n| *n > 0)
}

fn physical_memory() -> Option<u64> {
    // SAFETY: sysconf has no memory-safety preconditions.
    let (pages, size) = unsafe {
        (
            libc::sysconf(libc::_SC_PHYS_PAGES),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    let pages = u64::try_from(pages).ok().filter(|p| *p > 0)?;
    let size = u64::try_from(size).ok().filter(|s| *s > 0)?;
    pages.checked_mul(size)
}

/// The canonical name of the host as the resolver knows it (/etc/hosts, DNS), like
/// `hostname --fqdn`.
fn fqdn(hostname: &str) -> Option<String> {
    let name = CString::new(hostname).ok()?;
    // SAFETY: addrinfo is plain old data; zeroed is a valid "no hints" value.
    let mut hints: libc::addrinfo = unsafe { std::mem::zeroed() };
    hints.ai_family = libc::AF_UNSPEC;
    hints.ai_flags = libc::AI_CANONNAME;
    let mut res: *mut libc::addrinfo = std::ptr::null_mut();
    // SAFETY: valid NUL-terminated name, valid hints and out pointer.
    let rc = unsafe { libc::getaddrinfo(name.as_ptr(), std::ptr::null(), &hints, &mut res) };
    if rc != 0 || res.is_null() {
        return None;
    }
    // SAFETY: getaddrinfo succeeded, so `res` points to a valid list until freeaddrinfo.
    let canon = unsafe {
        let c = (*res).ai_canonname;
        let out = (!c.is_null()).then(|| CStr::from_ptr(c).to_string_lossy().into_owned());
        libc::freeaddrinfo(res);
        out
    };
    canon.filter(|c| !c.is_empty())
}

/// SMBIOS placeholder UUIDs that identify nothing.
fn is_placeholder_uuid(uuid: &str) -> bool {
    let u = uuid.to_ascii_lowercase();
    u == "03000200-0400-0500-0006-000700080009"
        || u.chars().filter(|c| *c != '-').all(|c| c == '0')
        || u.chars().filter(|c| *c != '-').all(|c| c == 'f')
}

/// The hardware UUID (/sys/class/dmi/id/product_uuid, root only); without one, the systemd
/// machine id written as a UUID, which is equally stable for the life of the installation.
fn host_uuid() -> Option<String> {
    if let Some(u) = read_trimmed("/sys/class/dmi/id/product_uuid")
        .filter(|u| !u.is_empty() && !is_placeholder_uuid(u))
    {
        return Some(u);
    }
    let id =
        read_trimmed("/etc/machine-id").or_else(|| read_trimmed("/var/lib/dbus/machine-id"))?;
    machine_id_as_uuid(&id)
}

fn machine_id_as_uuid(id: &str) -> Option<String> {
    if id.len() != 32 || !id.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    Some(format!(
        "{}-{}-{}-{}-{}",
        &id[0..8],
        &id[8..12],
        &id[12..16],
        &id[16..20],
        &id[20..32]
    ))
}

/// System and board strings from /sys/class/dmi/id, readable without root, for when the
/// raw SMBIOS tables are not.
fn dmi_id_hardware() -> super::smbios::Hardware {
    let f = |name: &str| read_trimmed(format!("/sys/class/dmi/id/{name}"));
    let mut hw = super::smbios::Hardware {
        vendor: f("sys_vendor"),
        model: f("product_name"),
        version: f("product_version"),
        serial: f("product_serial"),
        board_vendor: f("board_vendor"),
        board_model: f("board_name"),
        board_version: f("board_version"),
        board_serial: f("board_serial"),
    };
    if hw
        .vendor
        .as_deref()
        .is_some_and(|v| v.eq_ignore_ascii_case("lenovo"))
    {
        std::mem::swap(&mut hw.model, &mut hw.version);
    }
    hw
}

#[cfg(test)]
mod tests {
    use super::*;

    const CPUINFO: &str = "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel\t\t: 207\n\
model name\t: Intel(R) Xeon(R) Processor\nmicrocode\t: 0x1\nphysical id\t: 0\nsiblings\t: 2\n\
core id\t\t: 0\n\nprocessor\t: 1\nmodel\t\t: 207\nphysical id\t: 0\nsiblings\t: 2\ncore id\t\t: 1\n";

    #[test]
    fn first_processor_block() {
        let c = parse_cpuinfo(CPUINFO);
        assert_eq!(c.model.as_deref(), Some("207"));
        assert_eq!(c.model_name.as_deref(), Some("Intel(R) Xeon(R) Processor"));
        assert_eq!(c.microcode.as_deref(), Some("0x1"));
        assert_eq!(c.siblings, Some(2));
    }

    #[test]
    fn physical_cores_count_distinct_core_ids() {
        assert_eq!(physical_cores_from(CPUINFO), 2);
        let ht = CPUINFO.replace("core id\t\t: 1", "core id\t\t: 0");
        assert_eq!(physical_cores_from(&ht), 1);
        assert_eq!(physical_cores_from("processor : 0\n\nprocessor : 1\n"), 2);
    }

    #[test]
    fn uuids() {
        assert!(is_placeholder_uuid("03000200-0400-0500-0006-000700080009"));
        assert!(is_placeholder_uuid("00000000-0000-0000-0000-000000000000"));
        assert!(!is_placeholder_uuid("4c4c4544-0042-3510-8052-b4c04f384833"));
        assert_eq!(
            machine_id_as_uuid("0123456789abcdef0123456789abcdef").as_deref(),
            Some("01234567-89ab-cdef-0123-456789abcdef")
        );
        assert_eq!(machine_id_as_uuid("short"), None);
    }
}

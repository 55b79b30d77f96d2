//! `cpuid`: CPU vendor, brand, family and feature bits straight from the x86_64 CPUID
//! instruction (no rows on other architectures).

use crate::{QueryContext, Rows, TableError};

/// Feature bits osquery reports: (leaf, name, register, bit).
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
const FEATURES: &[(u32, &str, &str, u32)] = &[
    (1, "pae", "edx", 6),
    (1, "msr", "edx", 5),
    (1, "sep", "edx", 11),
    (1, "mtrr", "edx", 12),
    (1, "pge", "edx", 13),
    (1, "mca", "edx", 14),
    (1, "pat", "edx", 16),
    (1, "clfsh", "edx", 19),
    (1, "acpi", "edx", 22),
    (1, "mmz", "edx", 23),
    (1, "sse", "edx", 25),
    (1, "sse2", "edx", 26),
    (1, "ss", "edx", 27),
    (1, "htt", "edx", 28),
    (1, "ia64", "edx", 30),
    (1, "sse3", "ecx", 0),
    (1, "vmx", "ecx", 5),
    (1, "smx", "ecx", 6),
    (1, "ssse3", "ecx", 9),
    (1, "sdbg", "ecx", 11),
    (1, "pdcm", "ecx", 15),
    (1, "pcid", "ecx", 17),
    (1, "dca", "ecx", 18),
    (1, "sse4.1", "ecx", 19),
    (1, "sse4.2", "ecx", 20),
    (1, "aes", "ecx", 25),
    (1, "avx", "ecx", 28),
    (1, "hypervisor", "ecx", 31),
    (7, "sgx", "ebx", 2),
    (7, "hle", "ebx", 4),
    (7, "avx2", "ebx", 5),
    (7, "smep", "ebx", 7),
    (7, "bmi2", "ebx", 8),
    (7, "erms", "ebx", 9),
    (7, "invpcid", "ebx", 10),
    (7, "rtm", "ebx", 11),
    (7, "pqm", "ebx", 12),
    (7, "mpx", "ebx", 14),
    (7, "pqe", "ebx", 15),
    (7, "avx512f", "ebx", 16),
    (7, "avx512dq", "ebx", 17),
    (7, "rdseed", "ebx", 18),
    (7, "adx", "ebx", 19),
    (7, "smap", "ebx", 20),
    (7, "intel_pt", "ebx", 25),
    (7, "sha", "ebx", 29),
    (7, "umip", "ecx", 2),
    (7, "pku", "ecx", 3),
    (7, "ospke", "ecx", 4),
    (7, "gfni", "ecx", 8),
    (7, "vaes", "ecx", 9),
    (7, "sgx_lc", "ecx", 30),
    (7, "spec_ctrl", "edx", 26),
    (0x8000_0001, "lahfsahf", "ecx", 0),
    (0x8000_0001, "svm", "ecx", 2),
    (0x8000_0001, "3dnowprefetch", "ecx", 8),
    (0x8000_0001, "ibs", "ecx", 10),
    (0x8000_0001, "skinit", "ecx", 12),
    (0x8000_0001, "lwp", "ecx", 15),
    (0x8000_0001, "nx", "edx", 20),
    (0x8000_0001, "page1gb", "edx", 26),
    (0x8000_0001, "lm", "edx", 29),
];

/// The registers one CPUID call returns: [eax, ebx, ecx, edx].
type Regs = [u32; 4];

#[cfg(target_arch = "x86_64")]
fn cpuid(leaf: u32, subleaf: u32) -> Regs {
    // CPUID exists on every x86_64 processor; unsupported leaves never fault.
    let r = std::arch::x86_64::__cpuid_count(leaf, subleaf);
    [r.eax, r.ebx, r.ecx, r.edx]
}

/// Four registers as the ASCII text they hold (little-endian bytes), NULs dropped.
fn regs_text(regs: &[u32]) -> String {
    let bytes: Vec<u8> = regs
        .iter()
        .flat_map(|r| r.to_le_bytes())
        .filter(|&b| b != 0)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

fn hex8(regs: &[u32]) -> String {
    regs.iter().map(|r| format!("{r:08x}")).collect()
}

fn reg_index(name: &str) -> usize {
    match name {
        "ebx" => 1,
        "ecx" => 2,
        "edx" => 3,
        _ => 0,
    }
}

/// The brand string (`Intel(R) Xeon(R) Processor`), trimmed, when CPUID can give it.
pub(super) fn brand() -> Option<String> {
    #[cfg(target_arch = "x86_64")]
    {
        if cpuid(0x8000_0000, 0)[0] < 0x8000_0004 {
            return None;
        }
        let regs: Vec<u32> = (0..3).flat_map(|i| cpuid(0x8000_0002 + i, 0)).collect();
        let s = regs_text(&regs).trim().to_string();
        (!s.is_empty()).then_some(s)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        None
    }
}

pub(crate) fn generate(_ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    #[cfg(target_arch = "x86_64")]
    {
        let leaf0 = cpuid(0, 0);
        if leaf0[0] < 1 {
            return Ok(());
        }
        let mut add = |feature: &str, value: String, register: &str, bit: u32, eax: &str| {
            rows.push()
                .set("feature", feature)
                .set("value", value)
                .set("output_register", register)
                .set("output_bit", bit)
                .set("input_eax", eax);
        };
        add(
            "vendor",
            regs_text(&[leaf0[1], leaf0[3], leaf0[2]]),
            "ebx,edx,ecx",
            0,
            "0",
        );
        let product: Vec<u32> = (0..3).flat_map(|i| cpuid(0x8000_0002 + i, 0)).collect();
        add(
            "product_name",
            regs_text(&product),
            "eax,ebx,ecx,edx",
            0,
            "0x80000002",
        );
        let hv = cpuid(0x4000_0000, 0);
        if hv[0] != 0 {
            add(
                "hypervisor_id",
                hex8(&hv[..3]),
                "ebx,ecx,edx",
                0,
                "0x40000000",
            );
        }
        let l1 = cpuid(1, 0);
        let l3 = cpuid(3, 0);
        add(
            "serial",
            hex8(&[l1[0], l3[0], l3[3]]),
            "eax,eax,ecx",
            0,
            "1,3",
        );
        add("family", format!("{:04x}", l1[0] & 0xf00), "eax", 0, "1");
        let max_basic = leaf0[0];
        let max_ext = cpuid(0x8000_0000, 0)[0];
        for &(leaf, name, register, bit) in FEATURES {
            let supported = if leaf >= 0x8000_0000 {
                leaf <= max_ext
            } else {
                leaf <= max_basic
            };
            let regs = if supported { cpuid(leaf, 0) } else { [0; 4] };
            let set = regs[reg_index(register)] & (1 << bit) != 0;
            add(
                name,
                if set { "1" } else { "0" }.into(),
                register,
                bit,
                &leaf.to_string(),
            );
        }
        let (s0, s1) = if max_basic >= 0x12 {
            (cpuid(0x12, 0), cpuid(0x12, 1))
        } else {
            ([0; 4], [0; 4])
        };
        add("sgx0", hex8(&s0), "eax,ebx,ecx,edx", 0, "18");
        add("sgx1", hex8(&s1), "eax,ebx,ecx,edx", 0, "18,1");
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = rows;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn register_text_is_little_endian() {
        // "GenuineIntel" as CPUID leaf 0 returns it in ebx, edx, ecx.
        assert_eq!(
            regs_text(&[0x756e_6547, 0x4965_6e69, 0x6c65_746e]),
            "GenuineIntel"
        );
        assert_eq!(hex8(&[1, 0xabc]), "0000000100000abc");
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn vendor_matches_proc_cpuinfo() {
        let leaf0 = cpuid(0, 0);
        let vendor = regs_text(&[leaf0[1], leaf0[3], leaf0[2]]);
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap();
        assert!(
            cpuinfo.contains(&format!("vendor_id\t: {vendor}")),
            "{vendor}"
        );
    }
}

//! `kernel_modules`: loaded kernel modules from /proc/modules (no rows on a kernel built
//! without module support).

use crate::{QueryContext, Rows, TableError};

pub(crate) fn generate(_ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    let Ok(text) = std::fs::read_to_string("/proc/modules") else {
        return Ok(());
    };
    for m in parse_modules(&text) {
        rows.push()
            .set("name", m.name)
            .set("size", m.size)
            .set("used_by", m.used_by)
            .set("status", m.status)
            .set("address", m.address);
    }
    Ok(())
}

/// One line of /proc/modules.
#[derive(Debug, PartialEq, Eq)]
struct Module {
    name: String,
    size: u64,
    used_by: String,
    status: String,
    address: String,
}

/// `name size refcount users, state address [taint]`; the users list keeps its commas
/// between names and loses the trailing one, as osquery reports it.
fn parse_modules(text: &str) -> Vec<Module> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 6 {
                return None;
            }
            Some(Module {
                name: f[0].to_string(),
                size: f[1].parse().ok()?,
                used_by: f[3].trim_end_matches(',').to_string(),
                status: f[4].to_string(),
                address: f[5].to_string(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_lines() {
        let m = parse_modules(
            "nf_tables 331776 2 nft_chain_nat,nft_compat, Live 0xffffffffc0a00000\n\
             crc32_pclmul 16384 0 - Live 0x0000000000000000 (E)\nshort line\n",
        );
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].used_by, "nft_chain_nat,nft_compat");
        assert_eq!(m[0].size, 331_776);
        assert_eq!(m[1].used_by, "-");
        assert_eq!(m[1].address, "0x0000000000000000");
    }
}

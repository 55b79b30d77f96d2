//! `arp_cache`: the kernel's IPv4 neighbour (ARP) table, from /proc/net/arp.

use crate::{QueryContext, Rows, TableError};

/// `ATF_COM | ATF_PERM`: a completed, permanent (static) entry.
const ATF_COM_PERM: &str = "0x6";

/// One row of /proc/net/arp.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ArpEntry {
    pub address: String,
    pub mac: String,
    pub interface: String,
    pub permanent: bool,
}

/// Parses /proc/net/arp: a header line, then `IP HWtype Flags HWaddress Mask Device` rows.
/// Rows that do not have exactly six fields are skipped.
pub(crate) fn parse_arp(text: &str) -> Vec<ArpEntry> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let [address, _hw_type, flags, mac, _mask, device] = f.as_slice() else {
                return None;
            };
            Some(ArpEntry {
                address: (*address).to_string(),
                mac: (*mac).to_string(),
                interface: (*device).to_string(),
                permanent: *flags == ATF_COM_PERM,
            })
        })
        .collect()
}

pub(crate) fn generate(_ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    let Ok(text) = std::fs::read_to_string("/proc/net/arp") else {
        return Ok(());
    };
    for entry in parse_arp(&text) {
        rows.push()
            .set("address", entry.address)
            .set("mac", entry.mac)
            .set("interface", entry.interface)
            .set("permanent", if entry.permanent { "1" } else { "0" });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arp_rows_parse_and_flags_mark_permanent() {
        let text = "IP address       HW type     Flags       HW address            Mask     Device\n\
                    192.0.2.1        0x1         0x2         02:fc:00:00:00:05     *        eth0\n\
                    192.0.2.9        0x1         0x6         aa:bb:cc:dd:ee:ff     *        br0\n\
                    short line\n";
        let arp = parse_arp(text);
        assert_eq!(arp.len(), 2);
        assert_eq!(arp[0].address, "192.0.2.1");
        assert_eq!(arp[0].mac, "02:fc:00:00:00:05");
        assert_eq!(arp[0].interface, "eth0");
        assert!(!arp[0].permanent);
        assert!(arp[1].permanent);
    }
}

//! `interface_addresses`, `interface_details`, `interface_ipv6`: network interfaces from
//! getifaddrs(3), /sys/class/net/<if>/ and /proc/sys/net/ipv6/conf/<if>/, as osquery reports them.

use std::collections::BTreeSet;
use std::net::Ipv6Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use nix::ifaddrs::{InterfaceAddress, getifaddrs};
use nix::sys::socket::{AddressFamily, SockaddrLike, SockaddrStorage};

use crate::{QueryContext, Rows, TableError};

/// The netdevice flags osquery takes from /sys/class/net/<if>/flags (the device's own flags)
/// instead of from getifaddrs (which reports the operational view).
const SYSFS_FLAGS: u32 = (libc::IFF_UP
    | libc::IFF_DEBUG
    | libc::IFF_NOTRAILERS
    | libc::IFF_NOARP
    | libc::IFF_PROMISC
    | libc::IFF_ALLMULTI
    | libc::IFF_MULTICAST
    | libc::IFF_PORTSEL
    | libc::IFF_AUTOMEDIA
    | libc::IFF_DYNAMIC) as u32;

/// ethtool's "get driver info" command.
const ETHTOOL_GDRVINFO: u32 = 0x0000_0003;

/// `struct ethtool_drvinfo` from linux/ethtool.h.
#[repr(C)]
struct EthtoolDrvinfo {
    cmd: u32,
    driver: [u8; 32],
    version: [u8; 32],
    fw_version: [u8; 32],
    bus_info: [u8; 32],
    erom_version: [u8; 32],
    reserved2: [u8; 12],
    n_priv_flags: u32,
    n_stats: u32,
    testinfo_len: u32,
    eedump_len: u32,
    regdump_len: u32,
}

/// Formats an IPv6 address the way getnameinfo(NI_NUMERICHOST) does: link-local unicast and
/// multicast addresses with a scope get `%<interface name>` (or `%<index>` when the index has
/// no name), other scoped addresses `%<index>`.
pub(crate) fn format_ipv6(
    ip: Ipv6Addr,
    scope_id: u32,
    name_of: impl Fn(u32) -> Option<String>,
) -> String {
    if scope_id == 0 {
        return ip.to_string();
    }
    let seg0 = ip.segments()[0];
    let link_local = seg0 & 0xffc0 == 0xfe80 || seg0 & 0xff0f == 0xff02;
    let scope = if link_local {
        name_of(scope_id).unwrap_or_else(|| scope_id.to_string())
    } else {
        scope_id.to_string()
    };
    format!("{ip}%{scope}")
}

/// The name of an interface index, via if_indextoname(3).
fn interface_name(index: u32) -> Option<String> {
    let mut buf = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: buf holds IF_NAMESIZE bytes as if_indextoname requires.
    let p = unsafe { libc::if_indextoname(index, buf.as_mut_ptr()) };
    if p.is_null() {
        return None;
    }
    // SAFETY: on success buf holds a NUL-terminated name.
    let name = unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) };
    Some(name.to_string_lossy().into_owned())
}

/// An IPv4 or IPv6 socket address as text; `None` for other families.
fn ip_text(addr: &SockaddrStorage) -> Option<String> {
    if let Some(v4) = addr.as_sockaddr_in() {
        return Some(v4.ip().to_string());
    }
    let v6 = addr.as_sockaddr_in6()?;
    Some(format_ipv6(v6.ip(), v6.scope_id(), interface_name))
}

fn is_ip(entry: &InterfaceAddress) -> bool {
    entry
        .address
        .as_ref()
        .and_then(SockaddrLike::family)
        .is_some_and(|f| f == AddressFamily::Inet || f == AddressFamily::Inet6)
}

pub(crate) fn generate_addresses(_ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    let Ok(entries) = getifaddrs() else {
        return Ok(());
    };
    for entry in entries.filter(is_ip) {
        let mut row = rows.push();
        row.set("interface", entry.interface_name.as_str())
            .set("address", entry.address.as_ref().and_then(ip_text))
            .set("mask", entry.netmask.as_ref().and_then(ip_text))
            .set("type", "unknown");
        // getifaddrs puts the broadcast or the point-to-point peer in one field, by IFF_BROADCAST.
        if let Some(b) = entry.broadcast.as_ref().and_then(ip_text) {
            row.set("broadcast", b);
        } else if let Some(p) = entry.destination.as_ref().and_then(ip_text) {
            row.set("point_to_point", p);
        }
    }
    Ok(())
}

/// One network device as getifaddrs lists it (its AF_PACKET entry).
struct Link {
    name: String,
    flags: u32,
    mac: [u8; 6],
}

/// The links of the current network namespace, in getifaddrs order, one per name.
fn links() -> Vec<Link> {
    let Ok(entries) = getifaddrs() else {
        return Vec::new();
    };
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for entry in entries {
        let link = match &entry.address {
            None => None,
            Some(a) => match a.as_link_addr() {
                Some(l) => Some(l.addr().unwrap_or_default()),
                None => continue,
            },
        };
        if !seen.insert(entry.interface_name.clone()) {
            continue;
        }
        out.push(Link {
            flags: entry.flags.bits() as u32,
            mac: link.unwrap_or_default(),
            name: entry.interface_name,
        });
    }
    out
}

/// The MAC as osquery prints it: six lowercase hex bytes joined by colons.
pub(crate) fn format_mac(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// osquery's flags: the getifaddrs flags with the device-flag bits replaced by the sysfs value
/// (`0x1003\n`). Unreadable sysfs flags leave the getifaddrs flags without those bits.
pub(crate) fn merge_flags(ifaddrs_flags: u32, sysfs_text: Option<&str>) -> u32 {
    let sysfs = sysfs_text
        .and_then(|t| t.trim().strip_prefix("0x").map(str::to_string))
        .and_then(|h| u32::from_str_radix(&h, 16).ok())
        .unwrap_or(0);
    (ifaddrs_flags & !SYSFS_FLAGS) | (sysfs & SYSFS_FLAGS)
}

/// The link speed in Mb/s from /sys/class/net/<if>/speed; unknown (-1, or unreadable) is 0.
pub(crate) fn parse_speed(text: Option<&str>) -> i64 {
    text.and_then(|t| t.trim().parse::<i64>().ok())
        .filter(|s| *s >= 0 && *s != i64::from(u32::MAX))
        .unwrap_or(0)
}

fn read_trimmed(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

fn read_number(path: &Path) -> Option<i64> {
    read_trimmed(path)?.parse().ok()
}

/// A datagram socket for interface ioctls.
fn ioctl_socket() -> Option<OwnedFd> {
    // SAFETY: plain socket(2) call; the result is checked before use.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    // SAFETY: fd is a freshly created descriptor that nothing else owns.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd) })
}

fn ifreq_for(name: &str) -> Option<libc::ifreq> {
    let bytes = name.as_bytes();
    if bytes.len() >= libc::IFNAMSIZ {
        return None;
    }
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in ifr.ifr_name.iter_mut().zip(bytes) {
        *dst = *src as libc::c_char;
    }
    Some(ifr)
}

/// SIOCGIFMETRIC (Linux always answers 0, but ask the kernel rather than assume).
fn interface_metric(sock: &OwnedFd, name: &str) -> Option<i64> {
    let mut ifr = ifreq_for(name)?;
    // SAFETY: ifr is a valid ifreq naming the interface; the kernel fills ifru_metric.
    let rc = unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFMETRIC, &mut ifr) };
    // SAFETY: after a successful SIOCGIFMETRIC the union holds the metric.
    (rc >= 0).then(|| i64::from(unsafe { ifr.ifr_ifru.ifru_metric }))
}

/// The bus address ethtool reports (`ETHTOOL_GDRVINFO`), `None` when the driver has none.
fn bus_info(sock: &OwnedFd, name: &str) -> Option<String> {
    let mut ifr = ifreq_for(name)?;
    // SAFETY: EthtoolDrvinfo is plain old data; all-zero is valid.
    let mut info: EthtoolDrvinfo = unsafe { std::mem::zeroed() };
    info.cmd = ETHTOOL_GDRVINFO;
    ifr.ifr_ifru.ifru_data = (&raw mut info).cast();
    // SAFETY: ifru_data points at a live ethtool_drvinfo of the kernel's size.
    let rc = unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCETHTOOL, &mut ifr) };
    if rc < 0 {
        return None;
    }
    let end = info
        .bus_info
        .iter()
        .position(|b| *b == 0)
        .unwrap_or(info.bus_info.len());
    Some(String::from_utf8_lossy(&info.bus_info[..end]).into_owned())
}

const STATS: &[(&str, &str)] = &[
    ("ipackets", "rx_packets"),
    ("opackets", "tx_packets"),
    ("ibytes", "rx_bytes"),
    ("obytes", "tx_bytes"),
    ("ierrors", "rx_errors"),
    ("oerrors", "tx_errors"),
    ("idrops", "rx_dropped"),
    ("odrops", "tx_dropped"),
    ("collisions", "collisions"),
];

pub(crate) fn generate_details(ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    let wanted = ctx.equal_texts("interface");
    let sock = ioctl_socket();
    for link in links() {
        if wanted.as_ref().is_some_and(|w| !w.contains(&link.name)) {
            continue;
        }
        let dir = Path::new("/sys/class/net").join(&link.name);
        let mut row = rows.push();
        row.set("interface", link.name.as_str())
            .set("mac", format_mac(&link.mac))
            .set("type", read_number(&dir.join("type")).unwrap_or(0))
            .set("mtu", read_number(&dir.join("mtu")).unwrap_or(0))
            .set(
                "flags",
                merge_flags(link.flags, read_trimmed(&dir.join("flags")).as_deref()),
            )
            // Linux keeps no time of last change for a device.
            .set("last_change", -1);
        for (column, file) in STATS {
            if ctx.wants(column) {
                row.set(column, read_number(&dir.join("statistics").join(file)));
            }
        }
        if ctx.wants("link_speed") {
            let speed = read_trimmed(&dir.join("speed"));
            row.set("link_speed", parse_speed(speed.as_deref()));
        }
        if let Some(sock) = &sock {
            row.set("metric", interface_metric(sock, &link.name).unwrap_or(0));
            if ctx.wants("pci_slot") {
                row.set(
                    "pci_slot",
                    bus_info(sock, &link.name).unwrap_or_else(|| "-1".to_string()),
                );
            }
        }
    }
    Ok(())
}

/// The IPv6 settings of one interface, combined with the `all` settings as the kernel does
/// (and as osquery reports them). Each value is `None` when its file cannot be read (→ -1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Ipv6Conf {
    pub hop_limit: Option<i64>,
    pub forwarding: Option<i64>,
    pub accept_redirects: Option<i64>,
    pub accept_ra: Option<i64>,
}

/// The `interface_ipv6` values: (hop_limit, forwarding_enabled, redirect_accept, rtadv_accept).
pub(crate) fn ipv6_values(iface: &Ipv6Conf, all: &Ipv6Conf) -> (i64, i64, i64, i64) {
    let forwarding = iface.forwarding.unwrap_or(-1);
    let redirect_all = all.accept_redirects.unwrap_or(-1) != 0;
    let redirect_if = iface.accept_redirects.unwrap_or(-1) != 0;
    let redirect = if forwarding != 0 {
        redirect_all && redirect_if
    } else {
        redirect_all || redirect_if
    };
    let ra = iface.accept_ra.unwrap_or(-1);
    let rtadv = if ra == 2 {
        true
    } else {
        ra != 0 && forwarding == 0
    };
    (
        iface.hop_limit.unwrap_or(-1),
        forwarding,
        i64::from(redirect),
        i64::from(rtadv),
    )
}

fn read_ipv6_conf(name: &str) -> Ipv6Conf {
    let dir = Path::new("/proc/sys/net/ipv6/conf").join(name);
    Ipv6Conf {
        hop_limit: read_number(&dir.join("hop_limit")),
        forwarding: read_number(&dir.join("forwarding")),
        accept_redirects: read_number(&dir.join("accept_redirects")),
        accept_ra: read_number(&dir.join("accept_ra")),
    }
}

pub(crate) fn generate_ipv6(ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    let wanted = ctx.equal_texts("interface");
    let all = read_ipv6_conf("all");
    for link in links() {
        if wanted.as_ref().is_some_and(|w| !w.contains(&link.name)) {
            continue;
        }
        let (hop_limit, forwarding, redirect, rtadv) =
            ipv6_values(&read_ipv6_conf(&link.name), &all);
        rows.push()
            .set("interface", link.name.as_str())
            .set("hop_limit", hop_limit)
            .set("forwarding_enabled", forwarding)
            .set("redirect_accept", redirect)
            .set("rtadv_accept", rtadv);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_scopes_follow_getnameinfo() {
        let ll: Ipv6Addr = "fe80::fc:ff:fe00:1".parse().unwrap();
        let name = |i: u32| (i == 2).then(|| "eth0".to_string());
        assert_eq!(format_ipv6(ll, 2, name), "fe80::fc:ff:fe00:1%eth0");
        assert_eq!(format_ipv6(ll, 9, name), "fe80::fc:ff:fe00:1%9");
        assert_eq!(format_ipv6(ll, 0, name), "fe80::fc:ff:fe00:1");
        let global: Ipv6Addr = "fd00::2".parse().unwrap();
        assert_eq!(format_ipv6(global, 3, name), "fd00::2%3");
        let mc: Ipv6Addr = "ff02::1".parse().unwrap();
        assert_eq!(format_ipv6(mc, 2, name), "ff02::1%eth0");
    }

    #[test]
    fn flags_take_device_bits_from_sysfs() {
        let up_running_bcast = (libc::IFF_UP | libc::IFF_RUNNING | libc::IFF_BROADCAST) as u32;
        // sysfs says down + multicast: UP is dropped, MULTICAST added, RUNNING/BROADCAST kept.
        let merged = merge_flags(up_running_bcast, Some("0x1002\n"));
        assert_eq!(
            merged,
            (libc::IFF_RUNNING | libc::IFF_BROADCAST | libc::IFF_MULTICAST) as u32
        );
        assert_eq!(
            merge_flags(up_running_bcast, None),
            up_running_bcast & !SYSFS_FLAGS
        );
    }

    #[test]
    fn mac_and_speed_formats() {
        assert_eq!(format_mac(&[2, 0xfc, 0, 0, 0, 0x0a]), "02:fc:00:00:00:0a");
        assert_eq!(parse_speed(Some("1000\n")), 1000);
        assert_eq!(parse_speed(Some("-1\n")), 0);
        assert_eq!(parse_speed(Some("4294967295")), 0);
        assert_eq!(parse_speed(None), 0);
    }

    #[test]
    fn ipv6_values_combine_interface_and_all() {
        let all = Ipv6Conf {
            accept_redirects: Some(1),
            ..Default::default()
        };
        let host = Ipv6Conf {
            hop_limit: Some(64),
            forwarding: Some(0),
            accept_redirects: Some(0),
            accept_ra: Some(1),
        };
        assert_eq!(ipv6_values(&host, &all), (64, 0, 1, 1));
        let router = Ipv6Conf {
            forwarding: Some(1),
            ..host
        };
        assert_eq!(ipv6_values(&router, &all), (64, 1, 0, 0));
        let router_ra2 = Ipv6Conf {
            accept_ra: Some(2),
            ..router
        };
        assert_eq!(ipv6_values(&router_ra2, &all).3, 1);
        // Unreadable values are -1, which counts as set (as in osquery).
        assert_eq!(ipv6_values(&Ipv6Conf::default(), &all), (-1, -1, 1, 0));
    }
}

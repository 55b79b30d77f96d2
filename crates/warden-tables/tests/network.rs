//! The network tables through SQL, compared with the kernel's and /etc's own views.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, Ipv6Addr};

use rusqlite::types::Value;

fn query(sql: &str) -> Vec<Vec<Value>> {
    let conn = warden_tables::open().expect("engine opens");
    let mut stmt = conn.prepare(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    let n = stmt.column_count();
    let rows = stmt
        .query_map([], |r| (0..n).map(|i| r.get(i)).collect())
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    rows.collect::<rusqlite::Result<_>>()
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

fn text(v: &Value) -> String {
    match v {
        Value::Text(s) => s.clone(),
        Value::Integer(i) => i.to_string(),
        Value::Null => String::new(),
        other => panic!("unexpected value {other:?}"),
    }
}

fn int(v: &Value) -> i64 {
    match v {
        Value::Integer(i) => *i,
        other => panic!("expected an integer, got {other:?}"),
    }
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[test]
fn interface_addresses_match_the_kernel() {
    let rows = query("SELECT interface, address, mask, type FROM interface_addresses");
    let lo_v4: Vec<_> = rows
        .iter()
        .filter(|r| text(&r[0]) == "lo" && text(&r[1]) == "127.0.0.1")
        .collect();
    assert_eq!(lo_v4.len(), 1, "{rows:?}");
    assert_eq!(text(&lo_v4[0][2]), "255.0.0.0");
    assert_eq!(text(&lo_v4[0][3]), "unknown");

    // Every IPv6 address in /proc/net/if_inet6 is there, with its prefix as the mask.
    for line in read("/proc/net/if_inet6").lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let raw = u128::from_str_radix(f[0], 16).unwrap();
        let addr = Ipv6Addr::from(raw).to_string();
        let prefix = u32::from_str_radix(f[2], 16).unwrap();
        let mask = Ipv6Addr::from(u128::MAX.checked_shl(128 - prefix).unwrap_or(0)).to_string();
        let iface = f[5];
        let found = rows.iter().any(|r| {
            text(&r[0]) == iface
                && text(&r[1]).split('%').next() == Some(addr.as_str())
                && text(&r[2]) == mask
        });
        assert!(found, "{iface} {addr}/{prefix} missing from {rows:?}");
    }
    if read("/proc/net/if_inet6").contains(" lo") {
        assert!(
            rows.iter()
                .any(|r| text(&r[0]) == "lo" && text(&r[1]) == "::1")
        );
    }
}

#[test]
fn interface_details_match_sysfs() {
    let rows = query(
        "SELECT interface, mtu, mac, type, flags, ibytes, last_change, link_speed FROM interface_details",
    );
    let names: BTreeSet<String> = rows.iter().map(|r| text(&r[0])).collect();
    let sysfs: BTreeSet<String> = std::fs::read_dir("/sys/class/net")
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, sysfs);

    for r in &rows {
        let name = text(&r[0]);
        let dir = format!("/sys/class/net/{name}");
        assert_eq!(
            int(&r[1]).to_string(),
            read(&format!("{dir}/mtu")).trim(),
            "{name} mtu"
        );
        assert_eq!(
            int(&r[3]).to_string(),
            read(&format!("{dir}/type")).trim(),
            "{name} type"
        );
        let address = read(&format!("{dir}/address"));
        if address.trim().len() == 17 {
            assert_eq!(text(&r[2]), address.trim(), "{name} mac");
        }
        let sysfs_flags = i64::from_str_radix(
            read(&format!("{dir}/flags"))
                .trim()
                .trim_start_matches("0x"),
            16,
        )
        .unwrap();
        // IFF_UP and IFF_LOOPBACK come from the device flags.
        assert_eq!(int(&r[4]) & 0x9, sysfs_flags & 0x9, "{name} flags");
        assert_eq!(int(&r[6]), -1);
        assert!(int(&r[7]) >= 0);
    }

    let lo = rows
        .iter()
        .find(|r| text(&r[0]) == "lo")
        .expect("lo listed");
    assert_eq!(text(&lo[2]), "00:00:00:00:00:00");
    assert_ne!(int(&lo[4]) & 0x8, 0, "lo has IFF_LOOPBACK");
    // Counters only grow: the table's value is at least what sysfs said before the query.
    let before: i64 = read("/sys/class/net/lo/statistics/rx_bytes")
        .trim()
        .parse()
        .unwrap();
    let again = query("SELECT ibytes FROM interface_details WHERE interface = 'lo'");
    assert!(int(&again[0][0]) >= before);
}

#[test]
fn interface_ipv6_matches_proc_sys() {
    let rows = query("SELECT interface, hop_limit, forwarding_enabled FROM interface_ipv6");
    let names: BTreeSet<String> = rows.iter().map(|r| text(&r[0])).collect();
    assert!(names.contains("lo"), "{rows:?}");
    for r in &rows {
        let dir = format!("/proc/sys/net/ipv6/conf/{}", text(&r[0]));
        let hop = read(&format!("{dir}/hop_limit"));
        let hop = hop.trim().parse::<i64>().unwrap_or(-1);
        assert_eq!(int(&r[1]), hop);
        let fwd = read(&format!("{dir}/forwarding"));
        assert_eq!(int(&r[2]), fwd.trim().parse::<i64>().unwrap_or(-1));
    }
}

/// A hex field of /proc/net/route: a little-endian IPv4 address.
fn proc_ipv4(hex: &str) -> Ipv4Addr {
    Ipv4Addr::from(u32::from_str_radix(hex, 16).unwrap().swap_bytes())
}

#[test]
fn routes_contain_every_proc_net_route_entry() {
    let rows =
        query("SELECT destination, netmask, gateway, interface, metric, mtu, type FROM routes");
    let ipv4 = read("/proc/net/route");
    for line in ipv4.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (iface, dest, gw, metric, mask) = (f[0], proc_ipv4(f[1]), proc_ipv4(f[2]), f[6], f[7]);
        let prefix = u32::from(proc_ipv4(mask)).count_ones() as i64;
        let found = rows.iter().any(|r| {
            text(&r[0]) == dest.to_string()
                && int(&r[1]) == prefix
                && text(&r[3]) == iface
                && int(&r[4]).to_string() == metric
                && (gw.is_unspecified() || text(&r[2]) == gw.to_string())
        });
        assert!(found, "{line} missing from {rows:?}");
    }
    for line in read("/proc/net/ipv6_route").lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let dest = Ipv6Addr::from(u128::from_str_radix(f[0], 16).unwrap()).to_string();
        let prefix = i64::from_str_radix(f[1], 16).unwrap();
        let metric = i64::from_str_radix(f[5], 16).unwrap();
        let iface = f[9];
        if metric == i64::from(u32::MAX) {
            // The kernel's null entry: listed in the file, never dumped over netlink.
            continue;
        }
        let found = rows.iter().any(|r| {
            text(&r[0]) == dest
                && int(&r[1]) == prefix
                && int(&r[4]) == metric
                && (iface == "lo" || text(&r[3]) == iface)
        });
        assert!(found, "{line} missing from {rows:?}");
    }
    // The local table is dumped too: 127.0.0.1 is a local route.
    assert!(
        rows.iter()
            .any(|r| text(&r[0]) == "127.0.0.1" && text(&r[6]) == "local"),
        "{rows:?}"
    );
}

#[test]
fn arp_cache_matches_proc_net_arp() {
    let before = read("/proc/net/arp");
    let rows = query("SELECT address, mac, interface, permanent FROM arp_cache");
    let after = read("/proc/net/arp");
    let entries = |t: &str| -> BTreeSet<(String, String, String)> {
        t.lines()
            .skip(1)
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f.len() == 6).then(|| (f[0].to_string(), f[3].to_string(), f[5].to_string()))
            })
            .collect()
    };
    let (before, after) = (entries(&before), entries(&after));
    let got: BTreeSet<_> = rows
        .iter()
        .map(|r| (text(&r[0]), text(&r[1]), text(&r[2])))
        .collect();
    for e in before.intersection(&after) {
        assert!(got.contains(e), "{e:?} missing from {got:?}");
    }
    for e in &got {
        assert!(
            before.contains(e) || after.contains(e),
            "{e:?} not in /proc/net/arp"
        );
    }
    for r in &rows {
        assert!(["0", "1"].contains(&text(&r[3]).as_str()));
    }
}

#[test]
fn etc_hosts_matches_the_file_and_the_hosts_alias() {
    let expected: Vec<(String, String)> = read("/etc/hosts")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let mut w = l.split('#').next().unwrap().split_whitespace();
            let addr = w.next().unwrap_or_default().to_string();
            (addr, w.collect::<Vec<_>>().join(" "))
        })
        .collect();
    let rows = query("SELECT address, hostnames, pid_with_namespace FROM etc_hosts");
    let got: Vec<(String, String)> = rows.iter().map(|r| (text(&r[0]), text(&r[1]))).collect();
    assert_eq!(got, expected);
    assert!(rows.iter().all(|r| int(&r[2]) == 0));

    let alias = query("SELECT address, hostnames FROM hosts");
    assert_eq!(alias.len(), rows.len());

    // Through our own mount namespace root the file is the same.
    let me = std::process::id();
    let ns = query(&format!(
        "SELECT address, pid_with_namespace FROM etc_hosts WHERE pid_with_namespace = {me}"
    ));
    assert_eq!(ns.len(), rows.len());
    assert!(ns.iter().all(|r| int(&r[1]) == i64::from(me)));
}

#[test]
fn etc_services_and_protocols_know_ssh_and_tcp() {
    let ssh = query("SELECT name, port, protocol FROM etc_services WHERE name = 'ssh'");
    if read("/etc/services").lines().any(|l| l.starts_with("ssh")) {
        assert!(
            ssh.iter().any(|r| int(&r[1]) == 22 && text(&r[2]) == "tcp"),
            "{ssh:?}"
        );
    }
    let tcp = query("SELECT number, alias FROM etc_protocols WHERE name = 'tcp'");
    if read("/etc/protocols").lines().any(|l| l.starts_with("tcp")) {
        assert_eq!(tcp.len(), 1, "{tcp:?}");
        assert_eq!(int(&tcp[0][0]), 6);
        assert_eq!(text(&tcp[0][1]), "TCP");
    }
    // Every protocol line of the file is a row.
    let lines = read("/etc/protocols")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter(|l| l.split('#').next().unwrap().split_whitespace().count() >= 2)
        .count();
    let count = query("SELECT count(*) FROM etc_protocols");
    assert_eq!(int(&count[0][0]) as usize, lines);
}

#[test]
fn dns_resolvers_match_resolv_conf() {
    let conf = read("/etc/resolv.conf");
    let mut expected: Vec<String> = conf
        .lines()
        .filter_map(|l| l.strip_prefix("nameserver"))
        .filter_map(|r| r.split_whitespace().next())
        .filter(|a| {
            a.split('%')
                .next()
                .unwrap()
                .parse::<std::net::IpAddr>()
                .is_ok()
        })
        .map(str::to_string)
        .take(3)
        .collect();
    if expected.is_empty() {
        expected.push("127.0.0.1".to_string());
    }
    let rows = query(
        "SELECT id, address, options FROM dns_resolvers WHERE type = 'nameserver' ORDER BY id",
    );
    let got: Vec<String> = rows.iter().map(|r| text(&r[1])).collect();
    assert_eq!(got, expected);
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(int(&r[0]), i as i64);
        // RES_INIT | RES_RECURSE | RES_DEFNAMES | RES_DNSRCH are always set after res_init.
        assert_eq!(int(&r[2]) & 0x2c1, 0x2c1);
    }
    let rotate = conf
        .lines()
        .any(|l| l.starts_with("options") && l.contains("rotate"));
    assert_eq!(int(&rows[0][2]) & 0x4000 != 0, rotate);
}

#[test]
fn iptables_reads_only_the_loaded_legacy_tables() {
    let names: BTreeSet<String> = read("/proc/net/ip_tables_names")
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    let rows = query("SELECT filter_name, chain, policy, match FROM iptables");
    if names.is_empty() {
        assert!(rows.is_empty(), "{rows:?}");
    }
    for r in &rows {
        assert!(names.contains(&text(&r[0])), "{r:?}");
    }
    // Reading the tables never creates one.
    let after: BTreeSet<String> = read("/proc/net/ip_tables_names")
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(names, after);
}

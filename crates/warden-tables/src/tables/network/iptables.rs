//! `iptables`: the legacy IPv4 x_tables rules, read with the IPT_SO_GET_INFO / IPT_SO_GET_ENTRIES
//! getsockopt calls (what libiptc does) and parsed from the kernel's rule blob by hand.
//!
//! Only the tables named in /proc/net/ip_tables_names are read, so a query never instantiates a
//! table; without legacy tables (nftables-only hosts, module not loaded) there are no rows. Rows
//! follow osquery: one row per rule, then one row for the chain itself (its policy). Differences:
//! a rule's `packets`/`bytes` are the rule's own counters (osquery repeats the chain policy's), and
//! `src_port`/`dst_port` are set only when the rule's first match is the `tcp`/`udp` match.

use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::{QueryContext, Rows, TableError};

const IPT_SO_GET_INFO: libc::c_int = 64;
const IPT_SO_GET_ENTRIES: libc::c_int = 65;
const TABLE_NAME_LEN: usize = 32;
const GETINFO_SIZE: usize = 84;
const GET_ENTRIES_HEADER: usize = 40;
const ENTRY_SIZE: usize = 112;
const ELEM_HEADER: usize = 32;
const HOOK_NAMES: [&str; 5] = ["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"];

const INV_VIA_IN: u8 = 0x01;
const INV_VIA_OUT: u8 = 0x02;
const INV_SRCIP: u8 = 0x08;
const INV_DSTIP: u8 = 0x10;
const INV_PROTO: u8 = 0x40;

/// What IPT_SO_GET_INFO says about a table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct TableInfo {
    pub valid_hooks: u32,
    pub hook_entry: [u32; 5],
    pub underflow: [u32; 5],
    pub size: u32,
}

/// One rule of a chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Rule {
    pub target: String,
    pub protocol: String,
    pub src_port: String,
    pub dst_port: String,
    pub src_ip: String,
    pub src_mask: String,
    pub dst_ip: String,
    pub dst_mask: String,
    pub iniface: String,
    pub iniface_mask: String,
    pub outiface: String,
    pub outiface_mask: String,
    pub packets: u64,
    pub bytes: u64,
}

/// One chain: its policy (built-in chains only) with the policy counters, and its rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Chain {
    pub name: String,
    pub policy: Option<(String, u64, u64)>,
    pub rules: Vec<Rule>,
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}
fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}
fn i32_at(b: &[u8], at: usize) -> Option<i32> {
    Some(i32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}
fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_ne_bytes(b.get(at..at + 8)?.try_into().ok()?))
}
fn ipv4_at(b: &[u8], at: usize) -> Option<Ipv4Addr> {
    let o: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
    Some(Ipv4Addr::from(o))
}
/// A NUL-terminated string in a fixed-size field.
fn cstr_at(b: &[u8], at: usize, len: usize) -> Option<String> {
    let field = b.get(at..at + len)?;
    let end = field.iter().position(|c| *c == 0).unwrap_or(len);
    Some(String::from_utf8_lossy(&field[..end]).into_owned())
}

/// Parses the IPT_SO_GET_INFO answer.
pub(crate) fn parse_info(b: &[u8]) -> Option<TableInfo> {
    let mut info = TableInfo {
        valid_hooks: u32_at(b, 32)?,
        size: u32_at(b, 80)?,
        ..TableInfo::default()
    };
    for h in 0..5 {
        info.hook_entry[h] = u32_at(b, 36 + 4 * h)?;
        info.underflow[h] = u32_at(b, 56 + 4 * h)?;
    }
    Some(info)
}

/// One entry of the blob, as far as chain reconstruction needs it.
struct Entry {
    offset: usize,
    next: usize,
    target_name: String,
    /// The standard target's verdict, or the ERROR target's chain name.
    verdict: Option<i32>,
    error_name: Option<String>,
}

fn entry_at(blob: &[u8], offset: usize) -> Option<Entry> {
    let e = blob.get(offset..)?;
    let target_offset = usize::from(u16_at(e, 88)?);
    let next = usize::from(u16_at(e, 90)?);
    if next < ENTRY_SIZE || target_offset < ENTRY_SIZE || target_offset + ELEM_HEADER > next {
        return None;
    }
    let target_name = cstr_at(e, target_offset + 2, 29)?;
    let data = target_offset + ELEM_HEADER;
    let (verdict, error_name) = match target_name.as_str() {
        "" => (i32_at(e, data), None),
        "ERROR" => (None, cstr_at(e, data, 30)),
        _ => (None, None),
    };
    Some(Entry {
        offset,
        next,
        target_name,
        verdict,
        error_name,
    })
}

/// The name of a standard verdict (`-NF_xxx - 1`).
fn verdict_name(verdict: i32) -> &'static str {
    match verdict {
        -1 => "DROP",
        -2 => "ACCEPT",
        -4 => "QUEUE",
        -5 => "RETURN",
        _ => "",
    }
}

/// Uppercase hex of the bytes of an interface mask, up to the first zero byte (as osquery).
fn mask_hex(mask: &[u8]) -> String {
    mask.iter()
        .take_while(|b| **b != 0)
        .map(|b| format!("{b:02X}"))
        .collect()
}

fn rule_at(blob: &[u8], entry: &Entry, target: String) -> Option<Rule> {
    let e = blob.get(entry.offset..entry.offset + entry.next)?;
    let invflags = e[83];
    let inv = |flag: u8| if invflags & flag != 0 { "!" } else { "" };
    let proto = u16_at(e, 80)?;
    let iface = |at: usize, flag: u8| -> Option<String> {
        let name = cstr_at(e, at, 16)?;
        Some(if name.is_empty() {
            "all".to_string()
        } else {
            format!("{}{name}", inv(flag))
        })
    };
    // Ports: the first match, when it is the tcp or udp match of a tcp/udp rule.
    let target_offset = usize::from(u16_at(e, 88)?);
    let mut ports = (String::new(), String::new());
    if (proto == 6 || proto == 17) && target_offset >= ENTRY_SIZE + ELEM_HEADER + 8 {
        let name = cstr_at(e, ENTRY_SIZE + 2, 29)?;
        if name == "tcp" || name == "udp" {
            let d = ENTRY_SIZE + ELEM_HEADER;
            ports = (
                format!("{}:{}", u16_at(e, d)?, u16_at(e, d + 2)?),
                format!("{}:{}", u16_at(e, d + 4)?, u16_at(e, d + 6)?),
            );
        }
    }
    Some(Rule {
        target,
        protocol: format!("{}{proto}", inv(INV_PROTO)),
        src_port: ports.0,
        dst_port: ports.1,
        src_ip: format!("{}{}", inv(INV_SRCIP), ipv4_at(e, 0)?),
        dst_ip: format!("{}{}", inv(INV_DSTIP), ipv4_at(e, 4)?),
        src_mask: ipv4_at(e, 8)?.to_string(),
        dst_mask: ipv4_at(e, 12)?.to_string(),
        iniface: iface(16, INV_VIA_IN)?,
        outiface: iface(32, INV_VIA_OUT)?,
        iniface_mask: mask_hex(e.get(48..64)?),
        outiface_mask: mask_hex(e.get(64..80)?),
        packets: u64_at(e, 96)?,
        bytes: u64_at(e, 104)?,
    })
}

/// Rebuilds the chains of a table from its IPT_SO_GET_ENTRIES blob: built-in chains start at
/// `hook_entry` and end with their policy entry at `underflow`; a user chain starts with an
/// ERROR entry naming it and ends with a RETURN entry; the blob ends with an ERROR entry.
/// Built-in chains come first in hook order, then user chains by name (libiptc's order).
pub(crate) fn parse_entries(info: &TableInfo, blob: &[u8]) -> Vec<Chain> {
    let mut entries = Vec::new();
    let mut offset = 0;
    while offset < blob.len() {
        let Some(entry) = entry_at(blob, offset) else {
            break;
        };
        offset += entry.next;
        entries.push(entry);
    }
    let hooks: Vec<usize> = (0..5)
        .filter(|h| info.valid_hooks & (1 << h) != 0)
        .collect();
    // Where each user chain's first rule sits: the target of a jump.
    let mut chain_at = std::collections::HashMap::new();
    for (i, e) in entries.iter().enumerate() {
        if let (Some(name), Some(next)) = (&e.error_name, entries.get(i + 1)) {
            chain_at.insert(next.offset, name.clone());
        }
    }
    let target_of = |e: &Entry| -> String {
        match e.verdict {
            Some(v) if v < 0 => verdict_name(v).to_string(),
            Some(v) if e.target_name.is_empty() => {
                let v = usize::try_from(v).unwrap_or(usize::MAX);
                if v == e.offset + e.next {
                    String::new()
                } else {
                    chain_at.get(&v).cloned().unwrap_or_default()
                }
            }
            _ => e.target_name.clone(),
        }
    };

    let mut builtins: Vec<Chain> = Vec::new();
    let mut users: Vec<Chain> = Vec::new();
    let mut current: Option<(Chain, Option<usize>)> = None;
    let finish = |c: Option<(Chain, Option<usize>)>, b: &mut Vec<Chain>, u: &mut Vec<Chain>| {
        if let Some((chain, hook)) = c {
            if hook.is_some() {
                b.push(chain)
            } else {
                u.push(chain)
            }
        }
    };
    for (i, e) in entries.iter().enumerate() {
        if let Some(&h) = hooks
            .iter()
            .find(|&&h| info.hook_entry[h] as usize == e.offset)
        {
            finish(current.take(), &mut builtins, &mut users);
            current = Some((
                Chain {
                    name: HOOK_NAMES[h].to_string(),
                    policy: None,
                    rules: Vec::new(),
                },
                Some(h),
            ));
        }
        if let Some(name) = &e.error_name {
            finish(current.take(), &mut builtins, &mut users);
            if i + 1 < entries.len() {
                current = Some((
                    Chain {
                        name: name.clone(),
                        policy: None,
                        rules: Vec::new(),
                    },
                    None,
                ));
            }
            continue;
        }
        let Some((chain, hook)) = current.as_mut() else {
            continue;
        };
        let e_bytes = &blob[e.offset..];
        if let Some(h) = *hook
            && info.underflow[h] as usize == e.offset
        {
            let counters = (
                u64_at(e_bytes, 96).unwrap_or(0),
                u64_at(e_bytes, 104).unwrap_or(0),
            );
            chain.policy = Some((target_of(e), counters.0, counters.1));
            finish(current.take(), &mut builtins, &mut users);
            continue;
        }
        let ends_user_chain = hook.is_none()
            && e.verdict == Some(-5)
            && entries.get(i + 1).is_some_and(|n| n.error_name.is_some());
        if ends_user_chain {
            continue;
        }
        if let Some(rule) = rule_at(blob, e, target_of(e)) {
            chain.rules.push(rule);
        }
    }
    finish(current, &mut builtins, &mut users);
    users.sort_by(|a, b| a.name.cmp(&b.name));
    builtins.extend(users);
    builtins
}

/// A raw IPv4 socket for the x_tables getsockopt calls (needs CAP_NET_RAW/CAP_NET_ADMIN).
fn raw_socket() -> std::io::Result<OwnedFd> {
    // SAFETY: plain socket(2) call; the result is checked before use.
    let fd = unsafe {
        libc::socket(
            libc::AF_INET,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::IPPROTO_RAW,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd is a freshly created descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn getsockopt_into(sock: &OwnedFd, opt: libc::c_int, buf: &mut [u8]) -> std::io::Result<()> {
    let mut len = buf.len() as libc::socklen_t;
    // SAFETY: buf is writable for len bytes; the kernel writes at most len.
    let rc = unsafe {
        libc::getsockopt(
            sock.as_raw_fd(),
            libc::SOL_IP,
            opt,
            buf.as_mut_ptr().cast(),
            &mut len,
        )
    };
    if rc < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

fn with_name(buf: &mut [u8], name: &str) -> bool {
    let bytes = name.as_bytes();
    if bytes.len() >= TABLE_NAME_LEN {
        return false;
    }
    buf[..bytes.len()].copy_from_slice(bytes);
    true
}

/// Reads one table's chains from the kernel.
fn read_table(sock: &OwnedFd, name: &str) -> std::io::Result<Vec<Chain>> {
    let mut info_buf = [0u8; GETINFO_SIZE];
    if !with_name(&mut info_buf, name) {
        return Ok(Vec::new());
    }
    getsockopt_into(sock, IPT_SO_GET_INFO, &mut info_buf)?;
    let Some(info) = parse_info(&info_buf) else {
        return Ok(Vec::new());
    };
    let mut entries_buf = vec![0u8; GET_ENTRIES_HEADER + info.size as usize];
    with_name(&mut entries_buf, name);
    entries_buf[32..36].copy_from_slice(&info.size.to_ne_bytes());
    getsockopt_into(sock, IPT_SO_GET_ENTRIES, &mut entries_buf)?;
    Ok(parse_entries(&info, &entries_buf[GET_ENTRIES_HEADER..]))
}

pub(crate) fn generate(_ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    let Ok(names) = std::fs::read_to_string("/proc/net/ip_tables_names") else {
        return Ok(());
    };
    let names: Vec<&str> = names
        .lines()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .collect();
    if names.is_empty() {
        return Ok(());
    }
    let Ok(sock) = raw_socket() else {
        return Ok(());
    };
    for name in names {
        // A table that vanished or cannot be read is skipped.
        let Ok(chains) = read_table(&sock, name) else {
            continue;
        };
        for chain in chains {
            let (policy, packets, bytes) = chain.policy.clone().unwrap_or_default();
            for rule in chain.rules {
                rows.push()
                    .set("filter_name", name)
                    .set("chain", chain.name.as_str())
                    .set("policy", policy.as_str())
                    .set("target", rule.target)
                    .set("protocol", rule.protocol)
                    .set("src_port", rule.src_port)
                    .set("dst_port", rule.dst_port)
                    .set("src_ip", rule.src_ip)
                    .set("src_mask", rule.src_mask)
                    .set("iniface", rule.iniface)
                    .set("iniface_mask", rule.iniface_mask)
                    .set("dst_ip", rule.dst_ip)
                    .set("dst_mask", rule.dst_mask)
                    .set("outiface", rule.outiface)
                    .set("outiface_mask", rule.outiface_mask)
                    .set("match", "yes")
                    .set("packets", rule.packets)
                    .set("bytes", rule.bytes);
            }
            rows.push()
                .set("filter_name", name)
                .set("chain", chain.name.as_str())
                .set("policy", policy.as_str())
                .set("packets", packets)
                .set("bytes", bytes);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds one ipt_entry with optional first match (name, data) and a target (name, data).
    fn entry(
        ip: [u8; 84],
        matches: Option<(&str, Vec<u8>)>,
        target: (&str, Vec<u8>),
        counters: (u64, u64),
    ) -> Vec<u8> {
        let mut e = ip.to_vec();
        e.extend([0u8; 28]);
        let elem = |name: &str, data: &[u8]| {
            let size = (ELEM_HEADER + data.len()).div_ceil(8) * 8;
            let mut m = vec![0u8; size];
            m[0..2].copy_from_slice(&(size as u16).to_ne_bytes());
            m[2..2 + name.len()].copy_from_slice(name.as_bytes());
            m[ELEM_HEADER..ELEM_HEADER + data.len()].copy_from_slice(data);
            m
        };
        if let Some((name, data)) = matches {
            e.extend(elem(name, &data));
        }
        let target_offset = e.len();
        e.extend(elem(target.0, &target.1));
        let next = e.len();
        e[88..90].copy_from_slice(&(target_offset as u16).to_ne_bytes());
        e[90..92].copy_from_slice(&(next as u16).to_ne_bytes());
        e[96..104].copy_from_slice(&counters.0.to_ne_bytes());
        e[104..112].copy_from_slice(&counters.1.to_ne_bytes());
        e
    }

    fn any_ip() -> [u8; 84] {
        [0u8; 84]
    }

    fn verdict(v: i32) -> (&'static str, Vec<u8>) {
        ("", v.to_ne_bytes().to_vec())
    }

    fn error(name: &str) -> (&'static str, Vec<u8>) {
        let mut d = vec![0u8; 32];
        d[..name.len()].copy_from_slice(name.as_bytes());
        ("ERROR", d)
    }

    /// A filter table like `iptables -A INPUT -s 10.0.0.0/8 -i eth0 -p tcp --dport 22 -j ACCEPT;
    /// iptables -N LOGDROP; iptables -A LOGDROP -j DROP; iptables -A FORWARD -j LOGDROP;
    /// iptables -P FORWARD DROP`.
    fn filter_blob() -> (TableInfo, Vec<u8>) {
        let mut blob = Vec::new();
        let mut info = TableInfo {
            valid_hooks: 0b1110,
            ..TableInfo::default()
        };
        // INPUT: one rule, then the policy.
        info.hook_entry[1] = blob.len() as u32;
        let mut ip = any_ip();
        ip[0..4].copy_from_slice(&[10, 0, 0, 0]);
        ip[8..12].copy_from_slice(&[255, 0, 0, 0]);
        ip[16..20].copy_from_slice(b"eth0");
        ip[48..53].copy_from_slice(&[0xff; 5]);
        ip[80..82].copy_from_slice(&6u16.to_ne_bytes());
        ip[83] = INV_SRCIP;
        let mut tcp = Vec::new();
        for p in [0u16, 65535, 22, 22] {
            tcp.extend(p.to_ne_bytes());
        }
        tcp.extend([0u8; 4]);
        blob.extend(entry(ip, Some(("tcp", tcp)), verdict(-2), (7, 420)));
        info.underflow[1] = blob.len() as u32;
        blob.extend(entry(any_ip(), None, verdict(-2), (100, 9000)));
        // FORWARD: a jump to LOGDROP (offset patched below), then the policy DROP.
        info.hook_entry[2] = blob.len() as u32;
        let jump_at = blob.len();
        blob.extend(entry(any_ip(), None, verdict(0), (3, 180)));
        info.underflow[2] = blob.len() as u32;
        blob.extend(entry(any_ip(), None, verdict(-1), (5, 300)));
        // OUTPUT: only the policy.
        info.hook_entry[3] = blob.len() as u32;
        info.underflow[3] = blob.len() as u32;
        blob.extend(entry(any_ip(), None, verdict(-2), (1, 60)));
        // User chain LOGDROP: head, one DROP rule, RETURN tail.
        blob.extend(entry(any_ip(), None, error("LOGDROP"), (0, 0)));
        let logdrop_first = blob.len() as i32;
        blob.extend(entry(any_ip(), None, verdict(-1), (3, 180)));
        blob.extend(entry(any_ip(), None, verdict(-5), (0, 0)));
        // Table end.
        blob.extend(entry(any_ip(), None, error("ERROR"), (0, 0)));
        let target_offset = u16::from_ne_bytes([blob[jump_at + 88], blob[jump_at + 89]]) as usize;
        let at = jump_at + target_offset + ELEM_HEADER;
        blob[at..at + 4].copy_from_slice(&logdrop_first.to_ne_bytes());
        info.size = blob.len() as u32;
        (info, blob)
    }

    #[test]
    fn chains_rules_and_policies_are_rebuilt() {
        let (info, blob) = filter_blob();
        let chains = parse_entries(&info, &blob);
        let names: Vec<&str> = chains.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["INPUT", "FORWARD", "OUTPUT", "LOGDROP"]);

        let input = &chains[0];
        assert_eq!(input.policy, Some(("ACCEPT".to_string(), 100, 9000)));
        assert_eq!(input.rules.len(), 1);
        let r = &input.rules[0];
        assert_eq!(r.target, "ACCEPT");
        assert_eq!(r.protocol, "6");
        assert_eq!(r.src_ip, "!10.0.0.0");
        assert_eq!(r.src_mask, "255.0.0.0");
        assert_eq!(r.dst_ip, "0.0.0.0");
        assert_eq!(r.iniface, "eth0");
        assert_eq!(r.iniface_mask, "FFFFFFFFFF");
        assert_eq!(r.outiface, "all");
        assert_eq!(r.outiface_mask, "");
        assert_eq!(r.src_port, "0:65535");
        assert_eq!(r.dst_port, "22:22");
        assert_eq!((r.packets, r.bytes), (7, 420));

        let forward = &chains[1];
        assert_eq!(forward.policy, Some(("DROP".to_string(), 5, 300)));
        assert_eq!(forward.rules.len(), 1);
        assert_eq!(forward.rules[0].target, "LOGDROP");
        assert_eq!(forward.rules[0].src_port, "");

        assert!(chains[2].rules.is_empty());
        let logdrop = &chains[3];
        assert_eq!(logdrop.policy, None);
        assert_eq!(logdrop.rules.len(), 1);
        assert_eq!(logdrop.rules[0].target, "DROP");
    }

    #[test]
    fn getinfo_parses_hooks_and_size() {
        let mut b = [0u8; GETINFO_SIZE];
        b[..6].copy_from_slice(b"filter");
        b[32..36].copy_from_slice(&14u32.to_ne_bytes());
        b[40..44].copy_from_slice(&0u32.to_ne_bytes());
        b[60..64].copy_from_slice(&152u32.to_ne_bytes());
        b[80..84].copy_from_slice(&792u32.to_ne_bytes());
        let info = parse_info(&b).unwrap();
        assert_eq!(info.valid_hooks, 14);
        assert_eq!(info.underflow[1], 152);
        assert_eq!(info.size, 792);
        assert!(parse_entries(&info, &[0u8; 10]).is_empty());
    }

    /// Reads the kernel's own default `filter` table inside a throwaway network namespace owned
    /// by one thread (it disappears with the thread; the host's tables are never touched).
    #[test]
    fn kernel_filter_table_in_a_private_namespace() {
        let result = std::thread::spawn(|| {
            // SAFETY: unshare(2) on this thread only; it owns no state tied to the old namespace.
            if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
                return None; // not privileged: nothing to check
            }
            let sock = raw_socket().ok()?;
            // ENOENT when the kernel has no iptable_filter: nothing to check either.
            read_table(&sock, "filter").ok()
        })
        .join()
        .unwrap();
        let Some(chains) = result else {
            return;
        };
        let names: Vec<&str> = chains.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["INPUT", "FORWARD", "OUTPUT"]);
        for c in &chains {
            assert_eq!(c.policy.as_ref().map(|p| p.0.as_str()), Some("ACCEPT"));
            assert!(c.rules.is_empty(), "{c:?}");
        }
    }
}

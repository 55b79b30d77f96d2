//! `dns_resolvers`: the resolver configuration glibc's `res_init` builds from /etc/resolv.conf.
//!
//! osquery calls `res_init` and reports `_res`; this module parses the file by glibc's rules
//! instead (nameserver ≤ 3, search ≤ 6 domains, sortlist ≤ 10, last `domain`/`search` wins, the
//! hostname's domain when neither is given, `RES_OPTIONS`/`LOCALDOMAIN` from the environment) and
//! computes the same `options` bitmask. Differences from osquery: an IPv6 nameserver is reported
//! by its address with netmask 128 (glibc keeps it outside `nsaddr_list`, so osquery shows an
//! empty string), and a sortlist `netmask` is the prefix length rather than the raw
//! network-order mask integer.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::etc_files::{namespace_pids, read_etc};
use crate::{QueryContext, Rows, TableError};

const MAXNS: usize = 3;
const MAXDNSRCH: usize = 6;
const MAXRESOLVSORT: usize = 10;

/// `res_init` flags (resolv.h).
const RES_INIT: u64 = 0x1;
const RES_USEVC: u64 = 0x8;
const RES_RECURSE: u64 = 0x40;
const RES_DEFNAMES: u64 = 0x80;
const RES_DNSRCH: u64 = 0x200;
const RES_ROTATE: u64 = 0x4000;
const RES_USE_EDNS0: u64 = 0x0010_0000;
const RES_SNGLKUP: u64 = 0x0020_0000;
const RES_SNGLKUPREOP: u64 = 0x0040_0000;
const RES_NOTLDQUERY: u64 = 0x0100_0000;
const RES_NORELOAD: u64 = 0x0200_0000;
const RES_TRUSTAD: u64 = 0x0400_0000;
const RES_NOAAAA: u64 = 0x0800_0000;
/// `RES_DEFAULT`, plus `RES_INIT` which `res_init` sets once it has run.
const RES_INITIALIZED: u64 = RES_INIT | RES_RECURSE | RES_DEFNAMES | RES_DNSRCH;

/// Option keywords that set a flag; glibc matches them as prefixes of the word, in this order.
const OPTION_FLAGS: &[(&str, u64)] = &[
    ("rotate", RES_ROTATE),
    ("edns0", RES_USE_EDNS0),
    ("single-request-reopen", RES_SNGLKUPREOP),
    ("single-request", RES_SNGLKUP),
    ("no_tld_query", RES_NOTLDQUERY),
    ("no-tld-query", RES_NOTLDQUERY),
    ("no-reload", RES_NORELOAD),
    ("use-vc", RES_USEVC),
    ("trust-ad", RES_TRUSTAD),
    ("no-aaaa", RES_NOAAAA),
];

/// The resolver state `res_init` would build.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ResolverConf {
    pub nameservers: Vec<String>,
    /// Address and prefix length.
    pub sortlist: Vec<(Ipv4Addr, u32)>,
    pub search: Vec<String>,
    pub options: u64,
}

/// Applies the words of an `options` line (or `RES_OPTIONS`) to a flag set.
pub(crate) fn apply_options(words: &str, mut options: u64) -> u64 {
    for word in words.split([' ', '\t']).filter(|w| !w.is_empty()) {
        if let Some((_, flag)) = OPTION_FLAGS.iter().find(|(name, _)| word.starts_with(name)) {
            options |= flag;
        }
    }
    options
}

/// The classful mask glibc gives a sortlist entry without one.
fn classful_prefix(addr: Ipv4Addr) -> u32 {
    match addr.octets()[0] {
        0..=127 => 8,
        128..=191 => 16,
        _ => 24,
    }
}

/// Parses one sortlist item: `addr`, `addr/mask` or `addr&mask` (mask dotted-quad).
fn parse_sort_item(item: &str) -> Option<(Ipv4Addr, u32)> {
    let (addr, mask) = match item.find(['/', '&']) {
        Some(i) => (&item[..i], Some(&item[i + 1..])),
        None => (item, None),
    };
    let addr: Ipv4Addr = addr.parse().ok()?;
    let prefix = match mask.and_then(|m| m.parse::<Ipv4Addr>().ok()) {
        Some(m) => u32::from(m).count_ones(),
        None => classful_prefix(addr),
    };
    Some((addr, prefix))
}

/// Whether a nameserver address is one glibc accepts (IPv4, or IPv6 with an optional `%scope`).
fn valid_nameserver(text: &str) -> bool {
    text.parse::<Ipv4Addr>().is_ok()
        || text
            .split('%')
            .next()
            .is_some_and(|a| a.parse::<Ipv6Addr>().is_ok())
}

/// Parses resolv.conf text the way glibc's `res_init` does. `hostname` supplies the default
/// search domain; `res_options` and `local_domain` are the `RES_OPTIONS` and `LOCALDOMAIN`
/// environment variables.
pub(crate) fn parse_resolv_conf(
    text: &str,
    hostname: &str,
    res_options: Option<&str>,
    local_domain: Option<&str>,
) -> ResolverConf {
    let mut conf = ResolverConf {
        nameservers: Vec::new(),
        sortlist: Vec::new(),
        search: Vec::new(),
        options: RES_INITIALIZED,
    };
    let mut have_search = false;
    for line in text.lines() {
        if line.starts_with(['#', ';']) {
            continue;
        }
        let Some((keyword, rest)) = line.split_once([' ', '\t']) else {
            continue;
        };
        let rest = rest.trim_start_matches([' ', '\t']);
        match keyword {
            "domain" => {
                if let Some(d) = rest.split_whitespace().next() {
                    conf.search = vec![d.to_string()];
                    have_search = true;
                }
            }
            "search" => {
                let domains: Vec<String> = rest
                    .split_whitespace()
                    .take(MAXDNSRCH)
                    .map(str::to_string)
                    .collect();
                if !domains.is_empty() {
                    conf.search = domains;
                    have_search = true;
                }
            }
            "nameserver" => {
                if conf.nameservers.len() < MAXNS
                    && let Some(ns) = rest.split_whitespace().next()
                    && valid_nameserver(ns)
                {
                    conf.nameservers.push(ns.to_string());
                }
            }
            "sortlist" => {
                for item in rest.split_whitespace() {
                    if conf.sortlist.len() >= MAXRESOLVSORT {
                        break;
                    }
                    if let Some(entry) = parse_sort_item(item) {
                        conf.sortlist.push(entry);
                    }
                }
            }
            "options" => conf.options = apply_options(rest, conf.options),
            _ => {}
        }
    }
    if conf.nameservers.is_empty() {
        // glibc falls back to a name server on the local machine.
        conf.nameservers.push(Ipv4Addr::LOCALHOST.to_string());
    }
    if let Some(local) = local_domain {
        conf.search = local
            .split_whitespace()
            .take(MAXDNSRCH)
            .map(str::to_string)
            .collect();
    } else if !have_search && let Some((_, domain)) = hostname.split_once('.') {
        conf.search = vec![domain.to_string()];
    }
    if let Some(words) = res_options {
        conf.options = apply_options(words, conf.options);
    }
    conf
}

pub(crate) fn generate(ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    let hostname = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_default();
    let res_options = std::env::var("RES_OPTIONS").ok();
    let local_domain = std::env::var("LOCALDOMAIN").ok();
    let pids = namespace_pids(ctx).unwrap_or_else(|| [0].into());
    for pid in pids {
        // A missing file still configures the resolver (glibc's defaults); an unreadable process
        // root gives nothing.
        let text = match read_etc(pid, "resolv.conf") {
            Some(text) => text,
            None if pid == 0 => String::new(),
            None => continue,
        };
        let conf = parse_resolv_conf(
            &text,
            &hostname,
            res_options.as_deref(),
            local_domain.as_deref(),
        );
        for (i, ns) in conf.nameservers.iter().enumerate() {
            rows.push()
                .set("id", i)
                .set("type", "nameserver")
                .set("address", ns.as_str())
                .set("netmask", if ns.contains(':') { "128" } else { "32" })
                .set("options", conf.options)
                .set("pid_with_namespace", pid);
        }
        for (i, (addr, prefix)) in conf.sortlist.iter().enumerate() {
            rows.push()
                .set("id", i)
                .set("type", "sortlist")
                .set("address", addr.to_string())
                .set("netmask", prefix.to_string())
                .set("options", conf.options)
                .set("pid_with_namespace", pid);
        }
        for (i, domain) in conf.search.iter().enumerate() {
            rows.push()
                .set("id", i)
                .set("type", "search")
                .set("address", domain.as_str())
                .set("options", conf.options)
                .set("pid_with_namespace", pid);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_file_gives_glibc_default_flags() {
        let conf = parse_resolv_conf("nameserver 10.255.255.53\n", "vm", None, None);
        assert_eq!(conf.nameservers, vec!["10.255.255.53"]);
        // Measured with res_init() on glibc 2.36: 705 = RES_INIT | RES_DEFAULT.
        assert_eq!(conf.options, 705);
        assert!(conf.search.is_empty());
    }

    #[test]
    fn options_set_flags_by_prefix_like_glibc() {
        // Values measured with res_init() and RES_OPTIONS on glibc 2.36.
        assert_eq!(apply_options("rotate edns0", RES_INITIALIZED), 1_065_665);
        assert_eq!(
            apply_options("single-request-reopen", RES_INITIALIZED),
            4_195_009
        );
        assert_eq!(apply_options("single-request", RES_INITIALIZED), 2_097_857);
        assert_eq!(apply_options("use-vc", RES_INITIALIZED), 713);
        assert_eq!(apply_options("trust-ad", RES_INITIALIZED), 67_109_569);
        assert_eq!(apply_options("no-aaaa", RES_INITIALIZED), 134_218_433);
        assert_eq!(
            apply_options("rotatexyz ndots:2 debug inet6", RES_INITIALIZED),
            17_089
        );
    }

    #[test]
    fn full_file_follows_glibc_limits_and_order() {
        let text = "# generated\n; also a comment\ndomain example.org\nsearch a.example b.example\n\
                    nameserver 1.1.1.1\nnameserver 2606:4700:4700::1111\nnameserver bogus\n\
                    nameserver 8.8.8.8\nnameserver 9.9.9.9\n\
                    sortlist 130.155.160.0/255.255.240.0 130.155.0.0 10.1.2.3&255.255.255.0\n\
                    options rotate timeout:1\n";
        let conf = parse_resolv_conf(text, "host.local", Some("edns0"), None);
        assert_eq!(
            conf.nameservers,
            vec!["1.1.1.1", "2606:4700:4700::1111", "8.8.8.8"]
        );
        assert_eq!(conf.search, vec!["a.example", "b.example"]);
        assert_eq!(
            conf.sortlist,
            vec![
                (Ipv4Addr::new(130, 155, 160, 0), 20),
                (Ipv4Addr::new(130, 155, 0, 0), 16),
                (Ipv4Addr::new(10, 1, 2, 3), 24),
            ]
        );
        assert_eq!(conf.options, RES_INITIALIZED | RES_ROTATE | RES_USE_EDNS0);
    }

    #[test]
    fn search_defaults_to_hostname_domain_and_nameserver_to_localhost() {
        let conf = parse_resolv_conf("", "box.corp.example", None, None);
        assert_eq!(conf.search, vec!["corp.example"]);
        assert_eq!(conf.nameservers, vec!["127.0.0.1"]);
        let conf = parse_resolv_conf("domain last.example\n", "box.corp.example", None, None);
        assert_eq!(conf.search, vec!["last.example"]);
        let conf = parse_resolv_conf("", "box.corp.example", None, Some("x.y z.w"));
        assert_eq!(conf.search, vec!["x.y", "z.w"]);
    }
}

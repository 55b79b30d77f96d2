//! `etc_hosts`, `etc_services`, `etc_protocols`: the name databases of /etc, line-parsed as osquery does.

use std::collections::BTreeSet;

use crate::{QueryContext, Rows, TableError};

/// One line of /etc/hosts: the address and its hostnames (`None` when the line names none).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct HostsEntry {
    pub address: String,
    pub hostnames: Option<String>,
}

/// One line of /etc/services.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ServiceEntry {
    pub name: String,
    pub port: Option<i64>,
    pub protocol: String,
    pub aliases: String,
    pub comment: Option<String>,
}

/// One line of /etc/protocols.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ProtocolEntry {
    pub name: String,
    pub number: Option<i64>,
    pub alias: Option<String>,
    pub comment: Option<String>,
}

/// Splits on any of `delims`, drops empty pieces, then trims each (osquery's `split`).
fn split_pieces<'a>(text: &'a str, delims: &'a [char]) -> impl Iterator<Item = &'a str> {
    text.split(delims).filter(|p| !p.is_empty()).map(str::trim)
}

/// The non-empty, non-comment lines of a file, trimmed.
fn content_lines(text: &str) -> impl Iterator<Item = &str> {
    split_pieces(text, &['\n']).filter(|l| !l.is_empty() && !l.starts_with('#'))
}

/// Parses hosts-format text: `address name [name...] [# comment]`.
pub(crate) fn parse_hosts(text: &str) -> Vec<HostsEntry> {
    content_lines(text)
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let address = words.next()?.to_string();
            let rest: Vec<&str> = words.collect();
            let hostnames = (!rest.is_empty()).then(|| {
                rest.iter()
                    .take_while(|w| !w.starts_with('#'))
                    .copied()
                    .collect::<Vec<_>>()
                    .join(" ")
            });
            Some(HostsEntry { address, hostnames })
        })
        .collect()
}

/// The part of a line before the first `#`, and the comment after it (later `#`s joined by " # ").
fn fields_and_comment(line: &str) -> (String, Option<String>) {
    let mut parts = split_pieces(line, &['#']);
    let fields = parts.next().unwrap_or_default().to_string();
    let rest: Vec<&str> = parts.collect();
    let comment = (!rest.is_empty()).then(|| rest.join(" # "));
    (fields, comment)
}

/// Parses services-format text: `name port/protocol [aliases...] [# comment]`.
pub(crate) fn parse_services(text: &str) -> Vec<ServiceEntry> {
    content_lines(text)
        .filter_map(|line| {
            let (fields, comment) = fields_and_comment(line);
            let words: Vec<&str> = fields.split_whitespace().collect();
            if words.len() < 2 {
                return None;
            }
            let port_proto: Vec<&str> = split_pieces(words[1], &['/']).collect();
            let [port, protocol] = port_proto.as_slice() else {
                return None;
            };
            Some(ServiceEntry {
                name: words[0].to_string(),
                port: port.parse().ok(),
                protocol: (*protocol).to_string(),
                aliases: words[2..].join(" "),
                comment,
            })
        })
        .collect()
}

/// Parses protocols-format text: `name number [alias] [# comment]`.
pub(crate) fn parse_protocols(text: &str) -> Vec<ProtocolEntry> {
    content_lines(text)
        .filter_map(|line| {
            let (fields, comment) = fields_and_comment(line);
            let words: Vec<&str> = fields.split_whitespace().collect();
            if words.len() < 2 {
                return None;
            }
            Some(ProtocolEntry {
                name: words[0].to_string(),
                number: words[1].parse().ok(),
                alias: words.get(2).map(|s| (*s).to_string()),
                comment,
            })
        })
        .collect()
}

/// The pids whose mount namespace a query asks about (`pid_with_namespace = N`), if any.
pub(crate) fn namespace_pids(ctx: &QueryContext) -> Option<BTreeSet<i64>> {
    ctx.equal_ints("pid_with_namespace")
}

/// Reads `/etc/<file>` as the host sees it (pid 0) or inside a process's root (pid > 0).
/// A missing or unreadable file gives `None`.
pub(crate) fn read_etc(pid: i64, file: &str) -> Option<String> {
    let path = if pid > 0 {
        format!("/proc/{pid}/root/etc/{file}")
    } else {
        format!("/etc/{file}")
    };
    std::fs::read_to_string(path).ok()
}

pub(crate) fn generate_hosts(ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    let pids = namespace_pids(ctx).unwrap_or_else(|| BTreeSet::from([0]));
    for pid in pids {
        let Some(text) = read_etc(pid, "hosts") else {
            continue;
        };
        for entry in parse_hosts(&text) {
            rows.push()
                .set("address", entry.address)
                .set("hostnames", entry.hostnames)
                .set("pid_with_namespace", pid);
        }
    }
    Ok(())
}

pub(crate) fn generate_services(_ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    let Some(text) = read_etc(0, "services") else {
        return Ok(());
    };
    for entry in parse_services(&text) {
        rows.push()
            .set("name", entry.name)
            .set("port", entry.port)
            .set("protocol", entry.protocol)
            .set("aliases", entry.aliases)
            .set("comment", entry.comment);
    }
    Ok(())
}

pub(crate) fn generate_protocols(_ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    let Some(text) = read_etc(0, "protocols") else {
        return Ok(());
    };
    for entry in parse_protocols(&text) {
        rows.push()
            .set("name", entry.name)
            .set("number", entry.number)
            .set("alias", entry.alias)
            .set("comment", entry.comment);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_lines_keep_names_until_a_comment() {
        let text = "# comment\n\n127.0.0.1\tlocalhost loopback # trailing\n  ::1 ip6-localhost\n10.0.0.1\n10.0.0.2 #only\n";
        let hosts = parse_hosts(text);
        assert_eq!(hosts.len(), 4);
        assert_eq!(hosts[0].address, "127.0.0.1");
        assert_eq!(hosts[0].hostnames.as_deref(), Some("localhost loopback"));
        assert_eq!(hosts[1].address, "::1");
        assert_eq!(hosts[1].hostnames.as_deref(), Some("ip6-localhost"));
        assert_eq!(hosts[2].hostnames, None);
        assert_eq!(hosts[3].hostnames.as_deref(), Some(""));
    }

    #[test]
    fn services_split_port_protocol_aliases_and_comment() {
        let text = "# Network services\nssh\t\t22/tcp\t\t\t\t# SSH Remote Login Protocol\n\
                    smtp 25/tcp mail\nbad-line\nbroken 12\nkerberos 88/udp kerberos5 krb5 # Kerberos v5 # more\n";
        let s = parse_services(text);
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].name, "ssh");
        assert_eq!(s[0].port, Some(22));
        assert_eq!(s[0].protocol, "tcp");
        assert_eq!(s[0].aliases, "");
        assert_eq!(s[0].comment.as_deref(), Some("SSH Remote Login Protocol"));
        assert_eq!(s[1].aliases, "mail");
        assert_eq!(s[1].comment, None);
        assert_eq!(s[2].aliases, "kerberos5 krb5");
        assert_eq!(s[2].comment.as_deref(), Some("Kerberos v5 # more"));
    }

    #[test]
    fn protocols_take_one_alias() {
        let text = "# Internet protocols\nip\t0\tIP\t\t# internet protocol, pseudo protocol number\n\
                    tcp 6 TCP # transmission control protocol\nnoalias 200\nshort\n";
        let p = parse_protocols(text);
        assert_eq!(p.len(), 3);
        assert_eq!(p[0].name, "ip");
        assert_eq!(p[0].number, Some(0));
        assert_eq!(p[0].alias.as_deref(), Some("IP"));
        assert_eq!(
            p[0].comment.as_deref(),
            Some("internet protocol, pseudo protocol number")
        );
        assert_eq!(p[1].number, Some(6));
        assert_eq!(p[2].alias, None);
        assert_eq!(p[2].comment, None);
    }
}

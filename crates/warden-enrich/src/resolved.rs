//! The names processes looked up, from their DNS answers: a connection a process then makes to
//! an address its lookup resolved carries the name it asked for (ECS `destination.domain`), so
//! that "where did it connect" is answered with a name, not only an address.

use std::net::IpAddr;

use warden_core::{DnsMessage, SocketAddress};

use crate::lru::Bounded;

/// How long an address is kept named at least, whatever its answer's TTL (ns): a process
/// keeps using an address longer than a short TTL says (a connection pool, a cached result).
pub const KEPT_AT_LEAST_NS: u64 = 10 * 60 * 1_000_000_000;

/// How long at most, whatever its TTL (ns).
pub const KEPT_AT_MOST_NS: u64 = 24 * 3600 * 1_000_000_000;

/// The addresses each process's DNS answers resolved, by process (pid and start) and address:
/// the name it asked for, until when. Bounded: past `capacity` entries the least recently used
/// are let go. A process resolves for itself (glibc, a browser's network process, a stub
/// resolver's client all do), so a name is given only to the process that looked it up: an
/// address of a CDN that serves many names is never named by another process's lookup.
#[derive(Debug)]
pub struct ResolvedNames {
    names: Bounded<(u32, u64, IpAddr), Named>,
}

#[derive(Debug)]
struct Named {
    name: String,
    until_ns: u64,
}

impl ResolvedNames {
    /// At most `capacity` addresses named at once.
    pub fn new(capacity: usize) -> ResolvedNames {
        ResolvedNames {
            names: Bounded::new(capacity),
        }
    }

    /// Notes what `answer` resolved for process `pid` started at `start_ns`, at `at_ns` (any
    /// clock, the same for [`ResolvedNames::name_of`]): each A and AAAA record's address is
    /// named by the name asked for (not by the CNAME a record is of: the name the process
    /// used), for its TTL within the bounds above. An answer that failed names nothing.
    pub fn note(&mut self, pid: u32, start_ns: u64, answer: &DnsMessage, at_ns: u64) {
        if answer.response_code.as_deref() != Some("NOERROR") {
            return;
        }
        let Some(asked) = answer.question.as_ref().map(|q| &q.name) else {
            return;
        };
        for record in &answer.answers {
            let Ok(ip) = record.data.parse::<IpAddr>() else {
                continue;
            };
            if record.record_type != "A" && record.record_type != "AAAA" {
                continue;
            }
            let kept =
                (u64::from(record.ttl) * 1_000_000_000).clamp(KEPT_AT_LEAST_NS, KEPT_AT_MOST_NS);
            self.names.insert(
                (pid, start_ns, ip.to_canonical()),
                Named {
                    name: asked.clone(),
                    until_ns: at_ns.saturating_add(kept),
                },
            );
        }
    }

    /// The name process `pid` started at `start_ns` looked up that resolved to `ip`, if it is
    /// still kept at `at_ns`. An IPv4-mapped IPv6 address (a dual-stack socket's) is its IPv4
    /// address.
    pub fn name_of(&mut self, pid: u32, start_ns: u64, ip: IpAddr, at_ns: u64) -> Option<&str> {
        self.names
            .get(&(pid, start_ns, ip.to_canonical()))
            .filter(|named| at_ns <= named.until_ns)
            .map(|named| named.name.as_str())
    }

    /// Addresses named now.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.names.len() == 0
    }
}

/// The names connections asked for by their first bytes (a TLS hello's server name, an HTTP
/// request's host), by connection: process (pid and start) and both ends. A connection's end
/// and its looks then carry the name it asked for, more exactly than its address's lookup (a
/// CDN's address serves many names; one connection asked for one). Bounded as
/// [`ResolvedNames`]; an entry leaves with its connection's end.
#[derive(Debug)]
pub struct AskedNames {
    names: Bounded<(u32, u64, SocketAddress, SocketAddress), String>,
}

impl AskedNames {
    /// At most `capacity` connections named at once.
    pub fn new(capacity: usize) -> AskedNames {
        AskedNames {
            names: Bounded::new(capacity),
        }
    }

    /// Notes that the connection of process `pid` started at `start_ns` from `local` to
    /// `remote` asked for `name`.
    pub fn note(
        &mut self,
        pid: u32,
        start_ns: u64,
        local: &SocketAddress,
        remote: &SocketAddress,
        name: &str,
    ) {
        self.names.insert(
            (pid, start_ns, canonical(local), canonical(remote)),
            name.to_owned(),
        );
    }

    /// The name that connection asked for; `ended`: the connection is over, and its name is
    /// let go.
    pub fn name_of(
        &mut self,
        pid: u32,
        start_ns: u64,
        local: &SocketAddress,
        remote: &SocketAddress,
        ended: bool,
    ) -> Option<String> {
        let key = (pid, start_ns, canonical(local), canonical(remote));
        if ended {
            self.names.remove(&key)
        } else {
            self.names.get(&key).cloned()
        }
    }

    /// Connections named now.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.names.len() == 0
    }
}

/// `end` with an IPv4-mapped IPv6 address as its IPv4 address: a dual-stack socket's ends as
/// its packets name them.
fn canonical(end: &SocketAddress) -> SocketAddress {
    match end {
        SocketAddress::Ip { addr, port } => SocketAddress::Ip {
            addr: addr.to_canonical(),
            port: *port,
        },
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use warden_core::{DnsQuestion, DnsRecord};

    fn answer(code: &str, records: &[(&str, &str, u32)]) -> DnsMessage {
        DnsMessage {
            id: 1,
            question: Some(DnsQuestion {
                name: "www.example.com".into(),
                record_type: "A".into(),
            }),
            response_code: Some(code.into()),
            answers: records
                .iter()
                .map(|&(record_type, data, ttl)| DnsRecord {
                    name: "edge.example.net".into(),
                    record_type: record_type.into(),
                    ttl,
                    data: data.into(),
                })
                .collect(),
            cut: false,
        }
    }

    const S: u64 = 1_000_000_000;

    fn end(text: &str) -> SocketAddress {
        let at: std::net::SocketAddr = text.parse().unwrap();
        SocketAddress::Ip {
            addr: at.ip(),
            port: at.port(),
        }
    }

    /// A connection's name is its own: not another connection's of the process to the same
    /// address, nor another process's; its looks keep it, its end lets it go.
    #[test]
    fn a_connection_is_named_by_what_it_asked_for_until_it_ends() {
        let mut names = AskedNames::new(16);
        let (here, there) = (end("10.0.0.5:40000"), end("192.0.2.7:443"));
        names.note(10, 500, &here, &there, "c2.example");
        let other_port = end("10.0.0.5:40001");
        assert_eq!(names.name_of(10, 500, &other_port, &there, false), None);
        assert_eq!(names.name_of(11, 500, &here, &there, false), None);
        // A dual-stack socket's ends, mapped.
        let (here6, there6) = (
            end("[::ffff:10.0.0.5]:40000"),
            end("[::ffff:192.0.2.7]:443"),
        );
        assert_eq!(
            names.name_of(10, 500, &here6, &there6, false).as_deref(),
            Some("c2.example")
        );
        assert_eq!(
            names.name_of(10, 500, &here, &there, true).as_deref(),
            Some("c2.example")
        );
        assert_eq!(names.name_of(10, 500, &here, &there, false), None);
        assert!(names.is_empty());
    }

    #[test]
    fn an_address_is_named_for_the_process_that_looked_it_up_while_kept() {
        let mut names = ResolvedNames::new(16);
        let looked_up = answer(
            "NOERROR",
            &[
                ("CNAME", "edge.example.net", 60),
                ("A", "192.0.2.7", 60),
                ("AAAA", "2001:db8::7", 3 * 3600),
            ],
        );
        names.note(10, 500, &looked_up, 1_000 * S);
        let v4: IpAddr = "192.0.2.7".parse().unwrap();
        let v6: IpAddr = "2001:db8::7".parse().unwrap();
        // The name asked for, not the CNAME's target; a dual-stack socket's mapped address too.
        assert_eq!(
            names.name_of(10, 500, v4, 1_001 * S),
            Some("www.example.com")
        );
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(
            names.name_of(10, 500, mapped, 1_001 * S),
            Some("www.example.com")
        );
        // Not another process's, nor an earlier process's of that pid.
        assert_eq!(names.name_of(11, 500, v4, 1_001 * S), None);
        assert_eq!(names.name_of(10, 400, v4, 1_001 * S), None);
        // A 60 s TTL is kept 10 minutes; 3 hours, 3 hours.
        assert!(
            names
                .name_of(10, 500, v4, 1_000 * S + KEPT_AT_LEAST_NS)
                .is_some()
        );
        assert_eq!(
            names.name_of(10, 500, v4, 1_001 * S + KEPT_AT_LEAST_NS),
            None
        );
        assert!(
            names
                .name_of(10, 500, v6, 1_000 * S + 3 * 3600 * S)
                .is_some()
        );
        assert_eq!(names.len(), 2, "the CNAME names no address");
    }

    #[test]
    fn failed_answers_name_nothing_and_the_least_used_go_first() {
        let mut names = ResolvedNames::new(8);
        names.note(1, 1, &answer("NXDOMAIN", &[("A", "192.0.2.1", 60)]), 0);
        assert!(names.is_empty());
        let first: IpAddr = "192.0.2.1".parse().unwrap();
        names.note(1, 1, &answer("NOERROR", &[("A", "192.0.2.1", 60)]), 0);
        for i in 2..40u8 {
            // The first one kept in use.
            assert!(names.name_of(1, 1, first, 0).is_some(), "after {i}");
            let ip = format!("192.0.2.{i}");
            names.note(1, 1, &answer("NOERROR", &[("A", &ip, 60)]), 0);
        }
        assert!(names.len() <= 8);
        assert!(names.name_of(1, 1, first, 0).is_some());
    }
}

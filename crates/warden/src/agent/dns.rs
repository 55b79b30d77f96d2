//! DNS messages as their packets carried them, read for their question, response code and
//! answers: simple-dns parses; this decides how much of a cut or hostile message is read.

use std::net::{Ipv4Addr, Ipv6Addr};

use simple_dns::rdata::RData;
use simple_dns::{Packet, QTYPE, TYPE};
use warden_core::{DnsMessage, DnsQuestion, DnsRecord};

/// The most answers read from one message (a message may claim 65,535).
const ANSWERS_READ: u16 = 64;

/// A DNS header's bytes.
const HEADER: usize = 12;

/// The message `bytes`, which were cut from a longer one when `cut`: its id, first question,
/// response code (an answer's) and as many of its answers as can be read. None when it is
/// shorter than a DNS header.
///
/// Only the first question and the answers are read, by a copy whose header counts no more:
/// the authority and additional sections are never parsed, and a message cut short, or with a
/// record that cannot be read, gives the answers before it (the rest marked `cut`).
pub fn message(bytes: &[u8], cut: bool) -> Option<DnsMessage> {
    if bytes.len() < HEADER {
        return None;
    }
    let count = |at: usize| u16::from_be_bytes([bytes[at], bytes[at + 1]]);
    let response = bytes[2] & 0x80 != 0;
    let claimed = count(6);
    let mut copy = bytes.to_vec();
    copy[4..6].copy_from_slice(&count(4).min(1).to_be_bytes());
    copy[8..HEADER].fill(0);
    let mut read = |answers: u16| {
        copy[6..8].copy_from_slice(&answers.to_be_bytes());
        Packet::parse(&copy).ok().map(|packet| {
            let question = packet.questions.first().map(|q| DnsQuestion {
                name: q.qname.to_string(),
                record_type: question_type(q.qtype),
            });
            let answers: Vec<DnsRecord> = packet.answers.iter().map(record).collect();
            (question, answers)
        })
    };
    // Readable answers are a prefix: all of them, as a rule; else the most that parse, found
    // by halving.
    let all = claimed.min(ANSWERS_READ);
    let (mut good, mut bad, mut parsed) = match read(all) {
        Some(found) => (Some(all), all + 1, Some(found)),
        None => (None, all, None),
    };
    while good.map_or(0, |g| g + 1) < bad {
        let mid = good.map_or(0, |g: u16| (g + bad).div_ceil(2).max(g + 1));
        match read(mid) {
            Some(found) => {
                good = Some(mid);
                parsed = Some(found);
            }
            None => bad = mid,
        }
    }
    let (question, answers) = parsed.unwrap_or((None, Vec::new()));
    Some(DnsMessage {
        id: count(0),
        question,
        response_code: response.then(|| response_code(bytes[3] & 0xf)),
        cut: cut || good.is_none_or(|g| g < claimed),
        answers,
    })
}

/// The name of response code `code` (RFC 1035 and 2136's).
fn response_code(code: u8) -> String {
    const NAMES: [&str; 11] = [
        "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN", "YXRRSET",
        "NXRRSET", "NOTAUTH", "NOTZONE",
    ];
    NAMES
        .get(usize::from(code))
        .map_or_else(|| format!("RCODE{code}"), |name| (*name).to_string())
}

/// A record type's name as `dig` prints it (`TYPE<n>` for one simple-dns does not name).
fn type_name(t: TYPE) -> String {
    match t {
        TYPE::Unknown(n) => format!("TYPE{n}"),
        known => format!("{known:?}"),
    }
}

fn question_type(q: QTYPE) -> String {
    match q {
        QTYPE::TYPE(t) => type_name(t),
        other => format!("{other:?}"),
    }
}

fn record(rr: &simple_dns::ResourceRecord<'_>) -> DnsRecord {
    let data = match &rr.rdata {
        RData::A(a) => Ipv4Addr::from(a.address).to_string(),
        RData::AAAA(a) => Ipv6Addr::from(a.address).to_string(),
        RData::CNAME(name) => name.0.to_string(),
        RData::NS(name) => name.0.to_string(),
        RData::PTR(name) => name.0.to_string(),
        RData::MX(mx) => format!("{} {}", mx.preference, mx.exchange),
        RData::TXT(txt) => String::try_from(txt.clone()).unwrap_or_default(),
        _ => String::new(),
    };
    DnsRecord {
        name: rr.name.to_string(),
        record_type: type_name(rr.rdata.type_code()),
        ttl: rr.ttl,
        data,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use simple_dns::rdata::{A, AAAA, CNAME, TXT};
    use simple_dns::{CLASS, Name, Question, ResourceRecord};

    fn query(id: u16, name: &str, qtype: TYPE) -> Packet<'static> {
        let mut packet = Packet::new_query(id);
        packet.questions.push(Question::new(
            Name::new_unchecked(name).into_owned(),
            QTYPE::TYPE(qtype),
            simple_dns::QCLASS::CLASS(CLASS::IN),
            false,
        ));
        packet
    }

    fn bytes(packet: &Packet<'_>) -> Vec<u8> {
        packet.build_bytes_vec().unwrap()
    }

    /// An answer for www.example.com: a CNAME to edge.example.net, two addresses of it and
    /// a TXT record.
    fn answer() -> Vec<u8> {
        let mut packet = query(0x1234, "www.example.com", TYPE::A).into_reply();
        let q = query(0x1234, "www.example.com", TYPE::A);
        packet.questions = q.questions;
        let rr = |name: &'static str, ttl, rdata| {
            ResourceRecord::new(Name::new_unchecked(name), CLASS::IN, ttl, rdata)
        };
        packet.answers.push(rr(
            "www.example.com",
            60,
            RData::CNAME(CNAME(Name::new_unchecked("edge.example.net"))),
        ));
        packet.answers.push(rr(
            "edge.example.net",
            30,
            RData::A(A::from(Ipv4Addr::new(192, 0, 2, 7))),
        ));
        packet.answers.push(rr(
            "edge.example.net",
            30,
            RData::AAAA(AAAA::from("2001:db8::7".parse::<Ipv6Addr>().unwrap())),
        ));
        packet.answers.push(rr(
            "edge.example.net",
            5,
            RData::TXT(TXT::new().with_string("v=spf1 -all").unwrap()),
        ));
        bytes(&packet)
    }

    #[test]
    fn a_query_is_read_for_its_id_and_question() {
        let m = message(&bytes(&query(7, "evil.example", TYPE::TXT)), false).unwrap();
        assert_eq!(m.id, 7);
        assert_eq!(
            m.question,
            Some(DnsQuestion {
                name: "evil.example".into(),
                record_type: "TXT".into(),
            })
        );
        assert_eq!((m.response_code, m.answers.len(), m.cut), (None, 0, false));
    }

    #[test]
    fn an_answer_is_read_for_its_code_and_records() {
        let m = message(&answer(), false).unwrap();
        assert_eq!(m.id, 0x1234);
        assert_eq!(m.response_code.as_deref(), Some("NOERROR"));
        assert_eq!(m.question.unwrap().name, "www.example.com");
        let got: Vec<(&str, &str, u32, &str)> = m
            .answers
            .iter()
            .map(|a| (&*a.name, &*a.record_type, a.ttl, &*a.data))
            .collect();
        assert_eq!(
            got,
            [
                ("www.example.com", "CNAME", 60, "edge.example.net"),
                ("edge.example.net", "A", 30, "192.0.2.7"),
                ("edge.example.net", "AAAA", 30, "2001:db8::7"),
                ("edge.example.net", "TXT", 5, "v=spf1 -all"),
            ]
        );
        assert!(!m.cut);
        let resolved: Vec<String> = DnsMessage {
            answers: m.answers,
            ..message(&answer(), false).unwrap()
        }
        .resolved_ips()
        .iter()
        .map(|ip| ip.to_string())
        .collect();
        assert_eq!(resolved, ["192.0.2.7", "2001:db8::7"]);
    }

    /// A message cut anywhere gives the answers before the cut, marked cut; never a panic.
    #[test]
    fn a_cut_message_gives_the_answers_that_fit() {
        let whole = answer();
        for len in 0..whole.len() {
            let Some(m) = message(&whole[..len], true) else {
                assert!(len < HEADER);
                continue;
            };
            assert!(m.cut);
            assert_eq!(m.id, 0x1234);
            for (got, full) in m
                .answers
                .iter()
                .zip(message(&whole, false).unwrap().answers)
            {
                assert_eq!(*got, full, "cut at {len}");
            }
        }
        // Cut just before the TXT record's end: the three before it.
        let m = message(&whole[..whole.len() - 1], true).unwrap();
        assert_eq!(m.answers.len(), 3);
    }

    proptest::proptest! {
        /// Whatever bytes a packet carries: read without a panic, as a message exactly when
        /// they hold a header, never with more answers than the most read.
        #[test]
        fn any_bytes_are_read_without_a_panic(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600),
            cut in proptest::prelude::any::<bool>(),
        ) {
            let m = message(&bytes, cut);
            proptest::prop_assert_eq!(m.is_some(), bytes.len() >= HEADER);
            if let Some(m) = m {
                proptest::prop_assert!(m.answers.len() <= usize::from(ANSWERS_READ));
                proptest::prop_assert!(!cut || m.cut);
            }
        }

        /// A real answer with one byte changed anywhere: read without a panic, its id kept
        /// when the change is past it, never with records it does not hold.
        #[test]
        fn a_damaged_answer_is_read_as_far_as_it_goes(
            at in 0usize..1000,
            byte in proptest::prelude::any::<u8>(),
        ) {
            let mut bytes = answer();
            let at = at % bytes.len();
            bytes[at] = byte;
            let m = message(&bytes, false).unwrap();
            if at >= 2 {
                proptest::prop_assert_eq!(m.id, 0x1234);
            }
            proptest::prop_assert!(m.answers.len() <= 4);
        }
    }

    /// A header that claims more than is there, an error code, and garbage.
    #[test]
    fn hostile_or_failed_answers_are_read_as_far_as_they_go() {
        let mut claims = answer();
        claims[6..8].copy_from_slice(&u16::MAX.to_be_bytes());
        claims[10..12].copy_from_slice(&u16::MAX.to_be_bytes());
        let m = message(&claims, false).unwrap();
        assert_eq!((m.answers.len(), m.cut), (4, true), "{m:?}");

        let mut failed = answer();
        failed[3] = (failed[3] & 0xf0) | 3;
        failed[6..8].fill(0);
        let m = message(&failed, false).unwrap();
        assert_eq!(m.response_code.as_deref(), Some("NXDOMAIN"));
        assert!(m.answers.is_empty() && !m.cut);

        let garbage: Vec<u8> = (0..300u32).map(|i| (i * 37 % 251) as u8).collect();
        let m = message(&garbage, false).unwrap();
        assert_eq!(m.id, u16::from_be_bytes([garbage[0], garbage[1]]));
    }
}

//! DNS messages as a stub resolver and a resolver write them, for the tests of what DNS
//! lookups are recorded; shared by the eBPF source's live tests and the agent's (its actor and
//! the resolver its tests run).

// Each of them takes what it needs.
#![allow(dead_code)]

use simple_dns::rdata::{A, RData, TXT};
use simple_dns::{CLASS, Name, Packet, QCLASS, QTYPE, Question, ResourceRecord, TYPE};

/// What an answer gives.
pub enum Given {
    /// One A record of this address.
    Address(std::net::Ipv4Addr),
    /// One TXT record of about this many bytes (strings of 200).
    Text(usize),
}

/// A query `id` for `name`'s A record, or its TXT record.
pub fn query(id: u16, name: &str, txt: bool) -> Vec<u8> {
    let mut packet = Packet::new_query(id);
    packet.questions.push(Question::new(
        Name::new_unchecked(name),
        QTYPE::TYPE(if txt { TYPE::TXT } else { TYPE::A }),
        QCLASS::CLASS(CLASS::IN),
        false,
    ));
    packet.build_bytes_vec().expect("a query writes")
}

/// The answer to `query` (its id and question), giving `given` for the name asked about with
/// a TTL of 60 s. None when `query` is no DNS query.
pub fn answer(query: &[u8], given: &Given) -> Option<Vec<u8>> {
    let asked = Packet::parse(query).ok()?;
    let name = asked.questions.first()?.qname.clone();
    let mut packet = asked.clone().into_reply();
    packet.questions = asked.questions.clone();
    // Character strings of at most 255 bytes each.
    let text = "x".repeat(200);
    let rdata = match given {
        Given::Address(ip) => RData::A(A::from(*ip)),
        Given::Text(len) => {
            let mut txt = TXT::new();
            for _ in 0..len.div_ceil(200) {
                txt = txt.with_string(&text).ok()?;
            }
            RData::TXT(txt)
        }
    };
    packet
        .answers
        .push(ResourceRecord::new(name, CLASS::IN, 60, rdata));
    packet.build_bytes_vec().ok()
}

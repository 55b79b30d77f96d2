//! The JSON form of events: Elastic Common Schema field names, so Filebeat, Vector or Fluent Bit
//! ship the stream unchanged. Fields ECS has no name for live under `warden.*`.
//!
//! The form is declared as borrowed `Serialize` structs and written straight to text: this runs
//! once per event on the agent's hot path, so no intermediate JSON tree is built.

use std::borrow::Cow;

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::event::{
    Event, EventKind, Executable, FileAction, FileEvent, FilterProgram, NetAction, NetworkEvent,
    Parent, Process, SocketAddress, TimeSet,
};
use crate::identity::EntityId;
use crate::short_text::ShortText;

/// The event as one ECS JSON object.
pub fn to_ecs(event: &Event) -> Value {
    serde_json::to_value(Ecs::of(event)).unwrap_or(Value::Null)
}

/// The event as one line of JSON (no trailing newline).
pub fn to_ecs_line(event: &Event) -> String {
    // Sized for a typical process event (1.2-1.4 KB), so the line is not regrown as it is written.
    let mut line = Vec::with_capacity(1536);
    if serde_json::to_writer(&mut line, &Ecs::of(event)).is_err() {
        return String::new();
    }
    // serde_json writes only valid UTF-8.
    String::from_utf8(line).unwrap_or_default()
}

#[derive(Serialize)]
struct Ecs<'a> {
    #[serde(rename = "@timestamp")]
    timestamp: Rfc3339,
    host: Host<'a>,
    event: Meta,
    #[serde(skip_serializing_if = "Option::is_none")]
    process: Option<EcsProcess<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<User<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    container: Option<Container<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<Endpoint>,
    #[serde(skip_serializing_if = "Option::is_none")]
    destination: Option<Endpoint>,
    /// The listening end of bind/listen (ECS: "the receiver of a connection").
    #[serde(skip_serializing_if = "Option::is_none")]
    server: Option<Endpoint>,
    #[serde(skip_serializing_if = "Option::is_none")]
    network: Option<Network<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<File<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dns: Option<Dns<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tls: Option<Tls<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    http: Option<Http<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<Url<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_agent: Option<UserAgent<'a>>,
    warden: Warden<'a>,
}

/// ECS `tls`: what a ClientHello offered, or what a ServerHello chose. `client.ja4` is not
/// ECS's (yet): named as its `client.ja3`.
#[derive(Serialize)]
struct Tls<'a> {
    /// `1.3`, `1.2`...: the highest offered, or the one chosen.
    version: &'a str,
    version_protocol: &'static str,
    /// A ServerHello's cipher suite: its IANA name, or its number (`0x00ff`).
    #[serde(skip_serializing_if = "Option::is_none")]
    cipher: Option<String>,
    /// A ServerHello's application protocol (ALPN).
    #[serde(skip_serializing_if = "Option::is_none")]
    next_protocol: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client: Option<TlsClient<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    server: Option<TlsServer<'a>>,
}

#[derive(Serialize)]
struct TlsServer<'a> {
    ja3s: &'a str,
}

#[derive(Serialize)]
struct TlsClient<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    server_name: Option<&'a str>,
    ja3: &'a str,
    ja4: &'a str,
}

/// ECS `http`: a request's method and protocol version, or a response's status, type and
/// length.
#[derive(Serialize)]
struct Http<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    request: Option<HttpRequestLine<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response: Option<EcsHttpResponse<'a>>,
    version: &'a str,
}

#[derive(Serialize)]
struct EcsHttpResponse<'a> {
    status_code: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    mime_type: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<EcsHttpBody>,
}

#[derive(Serialize)]
struct EcsHttpBody {
    bytes: u64,
}

#[derive(Serialize)]
struct HttpRequestLine<'a> {
    method: &'a str,
}

/// ECS `url`: a request's target as sent, its host, and the whole URL where the two make one.
#[derive(Serialize)]
struct Url<'a> {
    original: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    domain: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    full: Option<String>,
}

#[derive(Serialize)]
struct UserAgent<'a> {
    original: &'a str,
}

/// ECS `dns`: a DNS message's question, response code and answers, and the addresses the
/// answers resolved the name to.
#[derive(Serialize)]
struct Dns<'a> {
    /// ECS keeps it as a string.
    id: String,
    /// `query` or `answer`.
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    question: Option<EcsDnsQuestion<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    answers: Vec<EcsDnsAnswer<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    resolved_ip: Vec<String>,
}

#[derive(Serialize)]
struct EcsDnsQuestion<'a> {
    name: &'a str,
    #[serde(rename = "type")]
    record_type: &'a str,
}

#[derive(Serialize)]
struct EcsDnsAnswer<'a> {
    name: &'a str,
    #[serde(rename = "type")]
    record_type: &'a str,
    ttl: u32,
    data: &'a str,
}

impl<'a> Dns<'a> {
    fn of(action: NetAction, m: &'a crate::DnsMessage) -> Dns<'a> {
        Dns {
            id: m.id.to_string(),
            kind: if action == NetAction::DnsAnswer {
                "answer"
            } else {
                "query"
            },
            question: m.question.as_ref().map(|q| EcsDnsQuestion {
                name: &q.name,
                record_type: &q.record_type,
            }),
            response_code: m.response_code.as_deref(),
            answers: m
                .answers
                .iter()
                .map(|a| EcsDnsAnswer {
                    name: &a.name,
                    record_type: &a.record_type,
                    ttl: a.ttl,
                    data: &a.data,
                })
                .collect(),
            resolved_ip: m.resolved_ips().iter().map(|ip| ip.to_string()).collect(),
        }
    }
}

/// ECS `source`/`destination`/`server`: `address` is the raw address (the IP, or a Unix
/// socket's path, `@name` when abstract), `ip` and `port` for inet sockets.
#[derive(Default, Serialize)]
struct Endpoint {
    #[serde(skip_serializing_if = "Option::is_none")]
    address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    port: Option<u16>,
    /// The peer's: the name its process looked up that resolved to it.
    #[serde(skip_serializing_if = "Option::is_none")]
    domain: Option<String>,
    /// What this end sent to the other over a connection (its end's event).
    #[serde(skip_serializing_if = "Option::is_none")]
    bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    packets: Option<u64>,
}

impl Endpoint {
    fn of(a: &SocketAddress) -> Option<Endpoint> {
        let address = a.address_text()?;
        Some(Endpoint {
            ip: a.ip().map(|_| address.clone()),
            port: a.port(),
            address: Some(address),
            domain: None,
            bytes: None,
            packets: None,
        })
    }

    /// This end, sending `bytes` in `packets` to the other: its address when known (not an
    /// unconnected datagram socket's peers).
    fn sending(a: Option<&SocketAddress>, bytes: u64, packets: u64) -> Endpoint {
        Endpoint {
            bytes: Some(bytes),
            packets: Some(packets),
            ..a.and_then(Endpoint::of).unwrap_or_default()
        }
    }
}

#[derive(Serialize)]
struct Network<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    transport: Option<&'a str>,
    /// The IANA protocol number of `transport` (ECS keeps it as a string): what osquery's
    /// `socket_events.protocol` holds.
    #[serde(skip_serializing_if = "Option::is_none")]
    iana_number: Option<String>,
    /// `ipv4`, `ipv6`, or `unix`.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    /// The application protocol the event's bytes were read as: `dns`, `tls`, `quic` (a TLS
    /// hello over UDP), `http`.
    #[serde(skip_serializing_if = "Option::is_none")]
    protocol: Option<&'static str>,
    direction: &'static str,
    /// Both ways, over a connection (its end's event).
    #[serde(skip_serializing_if = "Option::is_none")]
    bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    packets: Option<u64>,
}

#[derive(Serialize)]
struct File<'a> {
    path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    directory: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    target_path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    inode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    device: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    uid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gid: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    /// The content a change left, as the agent found it (`FileEvent::content`).
    #[serde(skip_serializing_if = "Option::is_none")]
    hash: Option<Hash<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mtime: Option<Rfc3339>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ctime: Option<Rfc3339>,
}

#[derive(Serialize)]
struct Host<'a> {
    name: &'a str,
}

#[derive(Serialize)]
struct Meta {
    kind: &'static str,
    category: [&'static str; 1],
    #[serde(rename = "type")]
    types: [&'static str; 1],
    action: &'static str,
    module: &'static str,
    /// `warden.<class>`.
    dataset: Dataset,
    #[serde(skip_serializing_if = "Option::is_none")]
    outcome: Option<&'static str>,
    /// ns: a connection's, at its end.
    #[serde(skip_serializing_if = "Option::is_none")]
    duration: Option<u64>,
}

#[derive(Serialize)]
struct EcsProcess<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    entity_id: Option<EntityId>,
    pid: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    executable: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    args_count: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    command_line: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    args: Vec<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    working_directory: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    start: Option<Rfc3339>,
    #[serde(skip_serializing_if = "Option::is_none")]
    end: Option<Rfc3339>,
    #[serde(skip_serializing_if = "Option::is_none")]
    uptime: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exit_code: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tty: Option<Tty<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<User<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    real_user: Option<User<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    group: Option<User<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    real_group: Option<User<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hash: Option<Hash<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parent: Option<EcsParent<'a>>,
}

#[derive(Serialize)]
struct Tty<'a> {
    name: &'a str,
}

/// An ECS user or group: `id` (as a string, ECS's type) and `name`.
#[derive(Serialize, Clone)]
struct User<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<IdText>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
}

impl<'a> User<'a> {
    fn of(id: Option<u32>, name: Option<&'a str>) -> Option<User<'a>> {
        (id.is_some() || name.is_some()).then(|| User {
            id: id.map(IdText),
            name,
        })
    }
}

#[derive(Serialize)]
struct Hash<'a> {
    sha256: &'a str,
}

#[derive(Serialize)]
struct EcsParent<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    entity_id: Option<EntityId>,
    pid: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    executable: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    args: Vec<Cow<'a, str>>,
}

#[derive(Serialize)]
struct Container<'a> {
    id: &'a str,
}

#[derive(Serialize, Default)]
struct Warden<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    syscall: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    syscall_exit: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    signal: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    duration_ns: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    executable: Option<ExecutableFacts<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    auid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    session_id: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ppid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    original_ppid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    loss: Option<Loss<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    network: Option<WardenNetwork<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<WardenFile<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    script: Option<WardenScript<'a>>,
}

/// The file an exec named that an interpreter runs (a `#!` script): ECS has no field for it.
#[derive(Serialize)]
struct WardenScript<'a> {
    path: Cow<'a, str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hash: Option<Hash<'a>>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    facts: Option<ExecutableFacts<'a>>,
}

/// Network facts ECS has no field for.
#[derive(Serialize)]
struct WardenNetwork<'a> {
    action: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    family: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fd: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    errno: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    socket_type: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    filter: Option<WardenFilter<'a>>,
    /// A connection's traffic: its state (how it ended), what ECS's `bytes` and `packets` do
    /// not say.
    #[serde(skip_serializing_if = "Option::is_none")]
    traffic: Option<WardenTraffic<'a>>,
    /// A DNS message longer than was kept: its answers past that are left out.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    dns_cut: bool,
    /// A raw or ICMP socket's first ICMP packet to or from a peer: its type and code.
    #[serde(skip_serializing_if = "Option::is_none")]
    icmp: Option<WardenIcmp>,
    /// A ClientHello's offered application protocols (ALPN), in its order: ECS names only
    /// the one agreed on.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    alpn: &'a [String],
    /// A ClientHello or an HTTP request's head longer than was kept: what came past that is
    /// left out.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    request_cut: bool,
    /// An SSH client's identification and HASSH (ECS has no SSH fields), or a server's
    /// identification.
    #[serde(skip_serializing_if = "Option::is_none")]
    ssh: Option<WardenSsh<'a>>,
    /// What ECS's `http.response` does not say of an HTTP response.
    #[serde(skip_serializing_if = "Option::is_none")]
    http_response: Option<WardenHttpResponse<'a>>,
    /// What JA3S hashed of a ServerHello (ECS keeps only the hash).
    #[serde(skip_serializing_if = "Option::is_none")]
    ja3s_text: Option<&'a str>,
    /// A server's greeting (SMTP's, FTP's, POP3's, IMAP's first line).
    #[serde(skip_serializing_if = "Option::is_none")]
    banner: Option<&'a str>,
}

#[derive(Serialize)]
struct WardenHttpResponse<'a> {
    reason: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    location: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    server: Option<&'a str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    cut: bool,
}

#[derive(Serialize)]
struct WardenSsh<'a> {
    identification: &'a str,
    software: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    comments: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hassh: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hassh_algorithms: Option<&'a str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    cut: bool,
}

#[derive(Serialize)]
struct WardenIcmp {
    #[serde(rename = "type")]
    kind: u8,
    code: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'static str>,
}

/// A packet filter attached, with what is known of its program.
#[derive(Serialize)]
struct WardenFilter<'a> {
    option: &'a str,
    /// A classic filter's length, as the caller gave it.
    #[serde(skip_serializing_if = "Option::is_none")]
    instructions: Option<u16>,
    /// A classic filter's program as `tcpdump -ddd` prints it ([`crate::classic_bytecode`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    bytecode: Option<String>,
    /// The SHA-256 of a classic filter's instructions, 8 little-endian bytes each (struct
    /// sock_filter): one digest to match a known filter by.
    #[serde(skip_serializing_if = "Option::is_none")]
    hash: Option<OwnedHash>,
    /// An eBPF filter's program.
    #[serde(skip_serializing_if = "Option::is_none")]
    program: Option<WardenProgram<'a>>,
}

#[derive(Serialize)]
struct OwnedHash {
    sha256: String,
}

/// An eBPF program, as bpftool shows it.
#[derive(Serialize)]
struct WardenProgram<'a> {
    id: u32,
    /// The kernel's tag, in hex.
    tag: String,
    #[serde(skip_serializing_if = "str::is_empty")]
    name: &'a str,
    instructions: u32,
}

impl<'a> WardenFilter<'a> {
    fn new(filter: &'a crate::SocketFilter, program: Option<&'a FilterProgram>) -> Self {
        let classic = match program {
            Some(FilterProgram::Classic(instructions)) => Some(instructions.as_slice()),
            _ => None,
        };
        WardenFilter {
            option: &filter.option,
            instructions: filter.instructions,
            bytecode: classic.map(crate::classic_bytecode),
            hash: classic.map(|program| {
                let mut digest = Sha256::new();
                for instruction in program {
                    digest.update(instruction.to_le_bytes());
                }
                OwnedHash {
                    sha256: hex(&digest.finalize()),
                }
            }),
            program: match program {
                Some(FilterProgram::Ebpf(p)) => Some(WardenProgram {
                    id: p.id,
                    tag: hex(&p.tag),
                    name: &p.name,
                    instructions: p.instructions,
                }),
                _ => None,
            },
        }
    }
}

/// Bytes in lowercase hex.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Serialize)]
struct WardenTraffic<'a> {
    /// A TCP connection's (a datagram socket has none).
    #[serde(skip_serializing_if = "str::is_empty")]
    state: &'a str,
    bytes_retransmitted: u64,
    /// Open already as the agent started: `event.duration` counts from then, and the
    /// direction is guessed.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    found_open: bool,
}

/// File facts ECS has no field for.
#[derive(Serialize)]
struct WardenFile<'a> {
    action: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    old_path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    watch: Option<&'a str>,
    /// Everything known of the content a change left (package, build-id, origin...).
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<ExecutableFacts<'a>>,
    /// The times a `times` call set: each `now` or the time it was set to.
    #[serde(skip_serializing_if = "Option::is_none")]
    times: Option<TimesSet>,
}

#[derive(Serialize)]
struct TimesSet {
    #[serde(skip_serializing_if = "Option::is_none")]
    accessed: Option<TimeSetText>,
    #[serde(skip_serializing_if = "Option::is_none")]
    modified: Option<TimeSetText>,
}

/// A time a call set, as JSON: `"now"`, or the time (RFC 3339).
struct TimeSetText(TimeSet);

impl Serialize for TimeSetText {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            TimeSet::Now => serializer.serialize_str("now"),
            TimeSet::At(ns) => Rfc3339(ns).serialize(serializer),
        }
    }
}

#[derive(Serialize)]
struct ExecutableFacts<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    inode: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    device: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    owner_uid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    owner_gid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mtime_ns: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ctime_ns: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    package: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    package_verified: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    build_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    origin_url: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    referrer_url: Option<&'a str>,
}

#[derive(Serialize)]
struct Loss<'a> {
    source: &'a str,
    cause: &'a str,
    count: u64,
}

impl<'a> Ecs<'a> {
    fn of(event: &'a Event) -> Ecs<'a> {
        let (kind, category, types, action) = match &event.kind {
            EventKind::Exec(_) => ("event", "process", "start", "exec"),
            EventKind::Fork(_) => ("event", "process", "start", "fork"),
            EventKind::Exit(_) => ("event", "process", "end", "exit"),
            EventKind::Network(e) => ("event", "network", net_type(e.action), e.action.name()),
            EventKind::File(e) => ("event", "file", e.action.ecs_type(), e.action.name()),
            EventKind::Loss(_) => ("pipeline_error", "host", "info", "events-lost"),
        };
        let mut ecs = Ecs {
            timestamp: Rfc3339(event.time_ns),
            host: Host { name: &event.host },
            event: Meta {
                kind,
                category: [category],
                types: [types],
                action,
                module: "warden",
                dataset: Dataset(event.kind.class()),
                outcome: None,
                duration: None,
            },
            process: None,
            user: None,
            container: None,
            source: None,
            destination: None,
            server: None,
            network: None,
            file: None,
            dns: None,
            tls: None,
            http: None,
            url: None,
            user_agent: None,
            warden: Warden::default(),
        };
        match &event.kind {
            EventKind::Exec(e) => {
                ecs.set_process(&e.process);
                ecs.event.outcome = Some(outcome(e.success));
                ecs.warden.source = Some(e.source.name());
                ecs.warden.syscall = e.syscall.as_deref();
                ecs.warden.syscall_exit = e.exit;
                ecs.warden.script = e.script.as_deref().map(|script| {
                    let file = script.file.as_ref();
                    WardenScript {
                        path: text_cow(&script.path),
                        hash: file
                            .and_then(|f| f.sha256.as_deref())
                            .map(|sha256| Hash { sha256 }),
                        facts: file.map(executable),
                    }
                });
            }
            EventKind::Fork(e) => ecs.set_process(&e.child),
            EventKind::Exit(e) => {
                ecs.set_process(&e.process);
                if let Some(p) = &mut ecs.process {
                    p.exit_code = e.exit_code;
                    if let Some(duration) = e.duration_ns {
                        p.end = Some(Rfc3339(event.time_ns));
                        p.uptime = Some(duration / 1_000_000_000);
                    }
                }
                ecs.warden.signal = e.signal;
                ecs.warden.duration_ns = e.duration_ns;
            }
            EventKind::Network(e) => ecs.set_network(e),
            EventKind::File(e) => ecs.set_file(e),
            EventKind::Loss(e) => {
                ecs.warden.loss = Some(Loss {
                    source: &e.source,
                    cause: &e.cause,
                    count: e.count,
                });
            }
        }
        ecs
    }

    fn set_network(&mut self, e: &'a NetworkEvent) {
        self.set_process(&e.process);
        self.event.outcome = Some(outcome(e.success));
        self.warden.source = Some(e.source.name());
        self.warden.syscall = e.syscall.as_deref();
        self.warden.syscall_exit = e.exit;
        let mut local = e.local.as_ref().and_then(Endpoint::of);
        let mut remote = e.remote.as_ref().and_then(Endpoint::of);
        if let Some(end) = &e.traffic {
            self.event.duration = Some(end.duration_ns);
            local = Some(Endpoint::sending(
                e.local.as_ref(),
                end.bytes_sent,
                end.segments_sent,
            ));
            remote = Some(Endpoint::sending(
                e.remote.as_ref(),
                end.bytes_received,
                end.segments_received,
            ));
        }
        // The name a request asked for is its server's: the peer's when this host asked, this
        // host's when a client asked it.
        let received = e.action.is_received_request();
        if let (Some(end), Some(name)) = (&mut remote, e.remote_name.as_deref()) {
            end.domain = Some(name.to_owned());
        }
        let server = if received { &mut local } else { &mut remote };
        if let (Some(end), Some(name)) = (server, e.requested_name())
            && end.domain.is_none()
        {
            end.domain = Some(name.to_owned());
        }
        // The ends go the way the bytes went: this host is the source of what left it, the
        // peer of what came in; a bind's, listen's, socket's or filter's end is a server's.
        match e.direction() {
            "egress" => {
                self.source = local;
                self.destination = remote;
            }
            "ingress" => {
                self.source = remote;
                self.destination = local;
            }
            _ => {
                self.server = local;
                self.source = remote;
            }
        }
        self.network = Some(Network {
            transport: e.transport.as_deref(),
            iana_number: e
                .transport
                .as_deref()
                .and_then(iana_protocol_number)
                .map(|n| n.to_string()),
            kind: network_type(e),
            protocol: application_protocol(e),
            direction: e.direction(),
            bytes: e
                .traffic
                .as_ref()
                .map(|end| end.bytes_sent + end.bytes_received),
            packets: e
                .traffic
                .as_ref()
                .map(|end| end.segments_sent + end.segments_received),
        });
        self.warden.network = Some(WardenNetwork {
            action: e.action.name(),
            family: e.family,
            fd: e.fd,
            errno: e.errno.as_deref(),
            socket_type: e.socket_type.as_deref(),
            filter: e
                .filter
                .as_ref()
                .map(|filter| WardenFilter::new(filter, e.filter_program.as_ref())),
            traffic: e.traffic.as_ref().map(|end| WardenTraffic {
                state: &end.state,
                bytes_retransmitted: end.bytes_retransmitted,
                found_open: end.found_open,
            }),
            dns_cut: e.dns.as_ref().is_some_and(|m| m.cut),
            icmp: e.icmp.map(|icmp| WardenIcmp {
                kind: icmp.kind,
                code: icmp.code,
                name: icmp.name(e.family == Some(10)),
            }),
            alpn: e.tls.as_ref().map_or(&[], |hello| &hello.alpn),
            request_cut: e.tls.as_ref().is_some_and(|hello| hello.cut)
                || e.http.as_ref().is_some_and(|request| request.cut),
            ssh: e.ssh.as_deref().map(|hello| WardenSsh {
                identification: &hello.identification,
                software: &hello.software,
                comments: hello.comments.as_deref(),
                hassh: hello.hassh.as_deref(),
                hassh_algorithms: hello.hassh_algorithms.as_deref(),
                cut: hello.cut,
            }),
            http_response: e.response.as_deref().map(|response| WardenHttpResponse {
                reason: &response.reason,
                location: response.location.as_deref(),
                server: response.server.as_deref(),
                cut: response.cut,
            }),
            ja3s_text: e
                .server_hello
                .as_deref()
                .map(|hello| hello.ja3s_text.as_str()),
            banner: e.banner.as_ref().map(|banner| banner.line.as_str()),
        });
        self.dns = e.dns.as_ref().map(|m| Dns::of(e.action, m));
        self.tls = e.tls.as_deref().map(|hello| Tls {
            version: &hello.version,
            version_protocol: "tls",
            cipher: None,
            next_protocol: None,
            client: Some(TlsClient {
                server_name: hello.server_name.as_deref(),
                ja3: &hello.ja3,
                ja4: &hello.ja4,
            }),
            server: None,
        });
        if let Some(hello) = e.server_hello.as_deref() {
            self.tls = Some(Tls {
                version: &hello.version,
                version_protocol: "tls",
                cipher: Some(
                    hello
                        .cipher_name()
                        .map_or_else(|| format!("0x{:04x}", hello.cipher), str::to_owned),
                ),
                next_protocol: hello.alpn.as_deref(),
                client: None,
                server: Some(TlsServer { ja3s: &hello.ja3s }),
            });
        }
        if let Some(response) = e.response.as_deref() {
            self.http = Some(Http {
                request: None,
                response: Some(EcsHttpResponse {
                    status_code: response.status,
                    mime_type: response.content_type.as_deref(),
                    body: response.content_length.map(|bytes| EcsHttpBody { bytes }),
                }),
                version: &response.version,
            });
        }
        if let Some(request) = e.http.as_deref() {
            self.http = Some(Http {
                request: Some(HttpRequestLine {
                    method: &request.method,
                }),
                response: None,
                version: &request.version,
            });
            // An address too (ECS: a URL that names no domain has its IP here).
            let domain = request.host_name();
            // A path's target is relative to the host; a proxy's is a whole URL already.
            let relative = request.target.starts_with('/');
            self.url = Some(Url {
                original: &request.target,
                domain,
                path: relative.then(|| {
                    request
                        .target
                        .split(['?', '#'])
                        .next()
                        .unwrap_or(&request.target)
                }),
                full: request.url(),
            });
            self.user_agent = request
                .user_agent
                .as_deref()
                .map(|original| UserAgent { original });
        }
    }

    fn set_file(&mut self, e: &'a FileEvent) {
        self.set_process(&e.process);
        self.event.outcome = Some(outcome(e.success));
        self.warden.source = Some(e.source.name());
        self.warden.syscall = e.syscall.as_deref();
        self.warden.syscall_exit = e.exit;
        let (directory, name) = split_path(&e.path);
        let content = e.content.as_deref();
        self.file = Some(File {
            path: text(&e.path),
            name,
            directory,
            target_path: e.target_path.as_deref().map(text),
            inode: e.inode.map(|i| i.to_string()),
            device: e.device.map(|d| d.to_string()),
            mode: e.mode.map(octal_mode),
            uid: e.owner_uid.map(|u| u.to_string()),
            gid: e.owner_gid.map(|g| g.to_string()),
            kind: file_type(e),
            hash: content
                .and_then(|c| c.sha256.as_deref())
                .map(|sha256| Hash { sha256 }),
            size: content.and_then(|c| c.size),
            mtime: content.and_then(|c| c.mtime_ns).map(Rfc3339),
            ctime: content.and_then(|c| c.ctime_ns).map(Rfc3339),
        });
        self.warden.file = Some(WardenFile {
            action: e.action.name(),
            old_path: e.old_path.as_deref().map(text),
            watch: e.watch.as_deref(),
            content: content.map(executable),
            times: e.times.map(|t| TimesSet {
                accessed: t.accessed.map(TimeSetText),
                modified: t.modified.map(TimeSetText),
            }),
        });
    }

    fn set_process(&mut self, p: &'a Process) {
        let args: Vec<Cow<'a, str>> = p.args.iter().map(|a| text_cow(a)).collect();
        let real_user = User::of(p.uid, p.user_name.as_deref());
        self.user = real_user.clone();
        self.container = p.container_id.as_deref().map(|id| Container { id });
        self.warden.auid = p.auid;
        self.warden.session_id = p.session_id;
        self.warden.ppid = p.ppid;
        self.warden.original_ppid = p.original_ppid;
        self.warden.executable = p.executable.as_ref().map(executable);
        self.process = Some(EcsProcess {
            entity_id: p.key.map(|k| k.entity()),
            pid: p.pid,
            name: p.comm.as_deref(),
            executable: p.exe.as_deref().map(text_cow),
            args_count: (!args.is_empty()).then_some(args.len()),
            command_line: (!args.is_empty()).then(|| command_line(&args)),
            args,
            working_directory: p.cwd.as_deref().map(text_cow),
            start: p.start_ns.map(Rfc3339),
            end: None,
            uptime: None,
            exit_code: None,
            tty: p.tty.as_deref().map(|name| Tty { name }),
            user: User::of(
                p.euid.or(p.uid),
                p.euser_name.as_deref().or(p.user_name.as_deref()),
            ),
            real_user,
            group: User::of(p.egid.or(p.gid), p.group_name.as_deref()),
            real_group: User::of(p.gid, None),
            hash: p
                .executable
                .as_ref()
                .and_then(|x| x.sha256.as_deref())
                .map(|sha256| Hash { sha256 }),
            parent: p.parent.as_ref().map(parent),
        });
    }
}

fn outcome(success: bool) -> &'static str {
    if success { "success" } else { "failure" }
}

/// ECS `event.type` of a socket call.
fn net_type(action: NetAction) -> &'static str {
    match action {
        NetAction::Bind | NetAction::Listen | NetAction::Socket => "start",
        NetAction::Filter => "change",
        NetAction::Close => "end",
        NetAction::Traffic => "info",
        // What a packet's bytes said: a lookup, a request (sent or received), an answer.
        NetAction::DnsQuery
        | NetAction::DnsAnswer
        | NetAction::TlsHello
        | NetAction::HttpRequest
        | NetAction::SshHello => "protocol",
        action if action.is_received_request() || action.is_answer() => "protocol",
        _ => "connection",
    }
}

/// ECS `network.protocol`: what the event's bytes were read as, where they were read.
fn application_protocol(e: &NetworkEvent) -> Option<&'static str> {
    if e.dns.is_some() {
        Some("dns")
    } else if e.ssh.is_some() {
        Some("ssh")
    } else if let Some(banner) = &e.banner {
        match banner.protocol.as_deref() {
            Some("smtp") => Some("smtp"),
            Some("ftp") => Some("ftp"),
            Some("pop3") => Some("pop3"),
            Some("imap") => Some("imap"),
            _ => None,
        }
    } else if e.http.is_some() || e.response.is_some() {
        Some("http")
    } else if e.tls.is_some() || e.server_hello.is_some() {
        Some(if e.transport.as_deref() == Some("udp") {
            "quic"
        } else {
            "tls"
        })
    } else {
        None
    }
}

/// ECS `network.type`: from the addresses, else from the socket's family (a listen names no
/// address).
fn network_type(e: &NetworkEvent) -> Option<&'static str> {
    const AF_UNIX: u16 = 1;
    const AF_INET: u16 = 2;
    const AF_INET6: u16 = 10;
    let of_address = |a: &SocketAddress| match a {
        SocketAddress::Ip { addr, .. } if addr.is_ipv4() => Some("ipv4"),
        SocketAddress::Ip { .. } => Some("ipv6"),
        SocketAddress::Unix { .. } | SocketAddress::UnixUnnamed => Some("unix"),
        SocketAddress::Other { .. } | SocketAddress::Link { .. } => None,
    };
    [&e.local, &e.remote]
        .into_iter()
        .flatten()
        .find_map(of_address)
        .or(match e.family? {
            AF_UNIX => Some("unix"),
            AF_INET => Some("ipv4"),
            AF_INET6 => Some("ipv6"),
            _ => None,
        })
}

/// The IANA protocol number of a transport name as the sources write it (Unix socket types
/// and raw sockets have none).
fn iana_protocol_number(transport: &str) -> Option<u8> {
    Some(match transport {
        "icmp" => 1,
        "tcp" => 6,
        "udp" => 17,
        "ipv6-icmp" => 58,
        "sctp" => 132,
        "udplite" => 136,
        _ => return None,
    })
}

/// ECS `file.directory` and `file.name`. Trailing slashes do not make an empty name, and the
/// root itself has neither (it is in no directory).
fn split_path(path: &[u8]) -> (Option<String>, Option<String>) {
    let without_trailing_slashes =
        |p: &[u8]| p.iter().rposition(|&b| b != b'/').map_or(0, |i| i + 1);
    let path = &path[..without_trailing_slashes(path)];
    if path.is_empty() {
        return (None, None);
    }
    match path.iter().rposition(|&b| b == b'/') {
        None => (None, Some(text(path))),
        Some(slash) => {
            let directory = match &path[..without_trailing_slashes(&path[..slash])] {
                b"" => "/".to_string(),
                d => text(d),
            };
            (Some(directory), Some(text(&path[slash + 1..])))
        }
    }
}

/// ECS `file.type`: a symlink event's object is a symlink whatever else is known.
fn file_type(e: &FileEvent) -> Option<&'static str> {
    if e.action == FileAction::Symlink {
        return Some("symlink");
    }
    e.is_dir.map(|d| if d { "dir" } else { "file" })
}

/// Permission bits in octal with four digits (`0640`), as ECS `file.mode` writes them.
fn octal_mode(mode: u32) -> String {
    format!("{:04o}", mode & 0o7777)
}

fn parent(parent: &Parent) -> EcsParent<'_> {
    EcsParent {
        entity_id: parent.key.map(|k| k.entity()),
        pid: parent.pid,
        executable: parent.exe.as_deref().map(text_cow),
        args: parent.args.iter().map(|a| text_cow(a)).collect(),
    }
}

fn executable(x: &Executable) -> ExecutableFacts<'_> {
    ExecutableFacts {
        size: x.size,
        inode: x.inode,
        device: x.device,
        owner_uid: x.owner_uid,
        owner_gid: x.owner_gid,
        mode: x.mode.map(octal_mode),
        mtime_ns: x.mtime_ns,
        ctime_ns: x.ctime_ns,
        package: x.package.as_deref(),
        package_verified: x.package_verified,
        build_id: x.build_id.as_deref(),
        origin_url: x.origin_url.as_deref(),
        referrer_url: x.referrer_url.as_deref(),
    }
}

/// Bytes as text: valid UTF-8 as is; each byte of an invalid sequence as `\xNN`, so binary
/// arguments survive in JSON without loss.
pub fn text(bytes: &[u8]) -> String {
    text_cow(bytes).into_owned()
}

/// [`text`] without a copy when the bytes are valid UTF-8 (nearly always).
fn text_cow(bytes: &[u8]) -> Cow<'_, str> {
    if let Ok(s) = std::str::from_utf8(bytes) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(bytes.len() + 8);
    let mut rest = bytes;
    loop {
        match std::str::from_utf8(rest) {
            Ok(s) => {
                out.push_str(s);
                return Cow::Owned(out);
            }
            Err(e) => {
                let (good, bad) = rest.split_at(e.valid_up_to());
                out.push_str(std::str::from_utf8(good).unwrap_or_default());
                let n = e.error_len().unwrap_or(bad.len());
                for b in &bad[..n] {
                    out.push_str(&format!("\\x{b:02x}"));
                }
                rest = &bad[n..];
            }
        }
    }
}

/// The arguments joined by spaces, each quoted when it would otherwise be ambiguous.
pub fn command_line(args: &[Cow<'_, str>]) -> String {
    let mut line = String::with_capacity(args.iter().map(|a| a.len() + 3).sum());
    for (i, t) in args.iter().enumerate() {
        if i > 0 {
            line.push(' ');
        }
        if t.is_empty() || t.contains([' ', '"', '\'', '\\', '\n', '\t']) {
            line.push('"');
            for c in t.chars() {
                match c {
                    '\\' => line.push_str("\\\\"),
                    '"' => line.push_str("\\\""),
                    '\n' => line.push_str("\\n"),
                    c => line.push(c),
                }
            }
            line.push('"');
        } else {
            line.push_str(t);
        }
    }
    line
}

/// RFC 3339 UTC with nanoseconds, from nanoseconds since the epoch.
pub fn rfc3339_ns(ns: i64) -> String {
    Rfc3339(ns).to_string()
}

/// A time written as [`rfc3339_ns`] does, straight into the JSON (no intermediate string).
#[derive(Clone, Copy)]
struct Rfc3339(i64);

impl Rfc3339 {
    /// `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ` (30 bytes; an i64 of ns spans years 1677 to 2262).
    fn text(&self) -> ShortText<32> {
        let secs = self.0.div_euclid(1_000_000_000);
        let nanos = self.0.rem_euclid(1_000_000_000) as u64;
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400) as u64;
        let (y, m, d) = civil_from_days(days);
        let mut t = ShortText::new();
        t.push_decimal(y.max(0) as u64, 4);
        for (separator, n) in [
            ("-", u64::from(m)),
            ("-", u64::from(d)),
            ("T", rem / 3600),
            (":", rem % 3600 / 60),
            (":", rem % 60),
        ] {
            t.push_ascii(separator);
            t.push_decimal(n, 2);
        }
        t.push_ascii(".");
        t.push_decimal(nanos, 9);
        t.push_ascii("Z");
        t
    }
}

impl std::fmt::Display for Rfc3339 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.text().as_str())
    }
}

impl Serialize for Rfc3339 {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.text().as_str())
    }
}

/// `event.dataset`: the module and the event's class.
#[derive(Clone, Copy)]
struct Dataset(&'static str);

impl Serialize for Dataset {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut t = ShortText::<48>::new();
        t.push_ascii("warden.");
        t.push_ascii(self.0);
        serializer.serialize_str(t.as_str())
    }
}

/// A user or group id, which ECS wants as a string, written without an intermediate string.
#[derive(Clone, Copy)]
struct IdText(u32);

impl Serialize for IdText {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut t = ShortText::<10>::new();
        t.push_decimal(u64::from(self.0), 0);
        serializer.serialize_str(t.as_str())
    }
}

/// Nanoseconds since the epoch of an RFC 3339 UTC timestamp as [`rfc3339_ns`] writes it
/// (`2026-11-27T22:00:00.123456789Z`; fewer fraction digits are accepted).
pub fn parse_rfc3339_ns(text: &str) -> Option<i64> {
    let text = text.strip_suffix('Z')?;
    let (date, time) = text.split_once('T')?;
    let mut d = date.split('-').map(|x| x.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let mut t = hms.split(':').map(|x| x.parse::<i64>().ok());
    let (hh, mm, ss) = (t.next()??, t.next()??, t.next()??);
    let nanos: i64 = format!("{frac:0<9}").get(..9)?.parse().ok()?;
    let days = days_from_civil(y, m, day);
    Some((days * 86_400 + hh * 3600 + mm * 60 + ss) * 1_000_000_000 + nanos)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{ExecEvent, FileAction, LossEvent, Source};
    use crate::identity::{BootId, ProcessKey};
    use std::net::IpAddr;

    #[test]
    fn timestamps_are_rfc3339_utc_with_nanoseconds() {
        assert_eq!(rfc3339_ns(0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(
            rfc3339_ns(1_795_816_800_123_456_789),
            "2026-11-27T22:00:00.123456789Z"
        );
        assert_eq!(
            rfc3339_ns(951_782_400_000_000_000),
            "2000-02-29T00:00:00.000000000Z"
        );
        assert_eq!(rfc3339_ns(-1), "1969-12-31T23:59:59.999999999Z");
        assert_eq!(rfc3339_ns(i64::MIN), "1677-09-21T00:12:43.145224192Z");
        assert_eq!(rfc3339_ns(i64::MAX), "2262-04-11T23:47:16.854775807Z");
    }

    #[test]
    fn timestamps_parse_back() {
        for ns in [0, 1_795_816_800_123_456_789, 951_782_400_000_000_001] {
            assert_eq!(parse_rfc3339_ns(&rfc3339_ns(ns)), Some(ns));
        }
        assert_eq!(
            parse_rfc3339_ns("2026-11-27T22:00:00.5Z"),
            Some(1_795_816_800_500_000_000)
        );
        assert_eq!(parse_rfc3339_ns("garbage"), None);
    }

    #[test]
    fn invalid_utf8_bytes_are_escaped_not_lost() {
        assert_eq!(text(b"plain"), "plain");
        assert_eq!(text(b"a\xffb"), "a\\xffb");
        assert_eq!(text("é".as_bytes()), "é");
    }

    #[test]
    fn exec_events_carry_ecs_process_fields() {
        let boot = BootId([1; 16]);
        let key = ProcessKey {
            boot,
            pid: 10,
            start_ticks: 5,
        };
        let parent_key = ProcessKey {
            boot,
            pid: 9,
            start_ticks: 3,
        };
        let event = Event {
            time_ns: 1_000_000_000,
            host: "h".into(),
            kind: EventKind::Exec(ExecEvent {
                process: Process {
                    key: Some(key),
                    pid: 10,
                    ppid: Some(9),
                    uid: Some(1000),
                    user_name: Some("bob".into()),
                    exe: Some(b"/bin/echo".to_vec()),
                    args: vec![b"echo".to_vec(), b"a b".to_vec()].into(),
                    executable: Some(Executable {
                        sha256: Some("ab".into()),
                        ..Default::default()
                    }),
                    parent: Some(Parent {
                        key: Some(parent_key),
                        pid: 9,
                        exe: Some(b"/bin/sh".to_vec()),
                        args: vec![].into(),
                    }),
                    ..Default::default()
                },
                source: Source::Audit,
                syscall: Some("execve".into()),
                success: true,
                exit: Some(0),
                script: None,
            }),
        };
        let v = to_ecs(&event);
        assert_eq!(v["event"]["category"][0], "process");
        assert_eq!(v["event"]["type"][0], "start");
        assert_eq!(v["event"]["outcome"], "success");
        assert_eq!(v["process"]["entity_id"], key.entity_id());
        assert_eq!(v["process"]["parent"]["entity_id"], parent_key.entity_id());
        assert_eq!(v["process"]["executable"], "/bin/echo");
        assert_eq!(v["process"]["args"][1], "a b");
        assert_eq!(v["process"]["command_line"], "echo \"a b\"");
        let odd: Vec<Cow<str>> = ["a", "", "b\\c", "say \"hi\"", "l1\nl2", "t\tt", "it's"]
            .into_iter()
            .map(Cow::Borrowed)
            .collect();
        assert_eq!(
            command_line(&odd),
            r#"a "" "b\\c" "say \"hi\"" "l1\nl2" "t	t" "it's""#
        );
        assert_eq!(v["process"]["hash"]["sha256"], "ab");
        assert_eq!(v["user"]["name"], "bob");
        assert_eq!(v["warden"]["source"], "audit");
    }

    #[test]
    fn losses_are_pipeline_errors_with_counts() {
        let event = Event {
            time_ns: 0,
            host: "h".into(),
            kind: EventKind::Loss(LossEvent {
                source: "audit".into(),
                cause: "kernel_lost".into(),
                count: 3,
            }),
        };
        let v = to_ecs(&event);
        assert_eq!(v["event"]["kind"], "pipeline_error");
        assert_eq!(v["warden"]["loss"]["count"], 3);
    }

    /// The ECS document of network event `event`, at time 0 on host `h`.
    fn network_ecs(event: NetworkEvent) -> Value {
        to_ecs(&Event {
            time_ns: 0,
            host: "h".into(),
            kind: EventKind::Network(event),
        })
    }

    fn caller() -> Process {
        Process {
            key: Some(ProcessKey {
                boot: BootId([2; 16]),
                pid: 300,
                start_ticks: 9,
            }),
            pid: 300,
            uid: Some(1000),
            auid: Some(1000),
            exe: Some(b"/usr/bin/curl".to_vec()),
            ..Default::default()
        }
    }

    fn ip(text: &str, port: u16) -> SocketAddress {
        SocketAddress::Ip {
            addr: text.parse::<IpAddr>().unwrap(),
            port,
        }
    }

    fn unix(path: &[u8], abstract_name: bool) -> SocketAddress {
        SocketAddress::Unix {
            path: path.to_vec(),
            abstract_name,
        }
    }

    fn net(
        action: NetAction,
        family: u16,
        local: Option<SocketAddress>,
        remote: Option<SocketAddress>,
    ) -> Value {
        network_ecs(NetworkEvent {
            syscall: Some(action.name().into()),
            family: Some(family),
            transport: Some(if family == 1 { "stream" } else { "tcp" }.into()),
            local,
            remote,
            fd: Some(3),
            exit: Some(0),
            ..NetworkEvent::new(caller(), action, Source::Audit)
        })
    }

    /// A DNS answer: ECS's `dns` fields, the resolver its source, this host its destination.
    #[test]
    fn a_dns_answer_names_its_question_records_and_addresses() {
        let answer = crate::DnsMessage {
            id: 4242,
            question: Some(crate::DnsQuestion {
                name: "exfil.example".into(),
                record_type: "A".into(),
            }),
            response_code: Some("NOERROR".into()),
            answers: vec![
                crate::DnsRecord {
                    name: "exfil.example".into(),
                    record_type: "CNAME".into(),
                    ttl: 60,
                    data: "cdn.example".into(),
                },
                crate::DnsRecord {
                    name: "cdn.example".into(),
                    record_type: "A".into(),
                    ttl: 30,
                    data: "192.0.2.9".into(),
                },
            ],
            cut: true,
        };
        let v = network_ecs(NetworkEvent {
            family: Some(2),
            transport: Some("udp".into()),
            local: Some(ip("10.0.0.5", 40_000)),
            remote: Some(ip("10.0.0.53", 53)),
            dns: Some(Box::new(answer)),
            ..NetworkEvent::new(caller(), NetAction::DnsAnswer, Source::Ebpf)
        });
        assert_eq!(v["event"]["type"][0], "protocol");
        assert_eq!(v["event"]["action"], "dns_answer");
        assert_eq!(v["network"]["direction"], "ingress");
        assert_eq!(v["source"]["ip"], "10.0.0.53");
        assert_eq!(v["destination"]["port"], 40_000);
        let dns = &v["dns"];
        assert_eq!(
            (&dns["id"], &dns["type"], &dns["response_code"]),
            (
                &serde_json::json!("4242"),
                &serde_json::json!("answer"),
                &serde_json::json!("NOERROR")
            )
        );
        assert_eq!(
            dns["question"],
            serde_json::json!({"name": "exfil.example", "type": "A"})
        );
        assert_eq!(dns["answers"][0]["data"], "cdn.example");
        assert_eq!(dns["answers"][1]["ttl"], 30);
        assert_eq!(dns["resolved_ip"], serde_json::json!(["192.0.2.9"]));
        assert_eq!(v["warden"]["network"]["dns_cut"], true);
        assert_eq!(v["network"]["protocol"], "dns");
    }

    /// A ClientHello: ECS `tls.*`, the offered protocols beside, and its server name as the
    /// destination's domain.
    #[test]
    fn a_tls_hello_names_its_server_and_fingerprints() {
        let hello = |server_name: Option<&str>| {
            network_ecs(NetworkEvent {
                family: Some(2),
                transport: Some("tcp".into()),
                local: Some(ip("10.0.0.5", 40_000)),
                remote: Some(ip("203.0.113.7", 443)),
                fd: Some(5),
                tls: Some(Box::new(crate::TlsHello {
                    server_name: server_name.map(str::to_owned),
                    alpn: vec!["h2".into(), "http/1.1".into()],
                    version: "1.3".into(),
                    ja4: "t13d1516h2_8daaf6152771_e5627efa2ab1".into(),
                    ja3: "aa".repeat(16),
                    cut: false,
                })),
                ..NetworkEvent::new(caller(), NetAction::TlsHello, Source::Ebpf)
            })
        };
        let v = hello(Some("c2.example"));
        assert_eq!(v["event"]["action"], "tls_hello");
        assert_eq!(v["event"]["type"][0], "protocol");
        assert_eq!(v["network"]["protocol"], "tls");
        assert_eq!(v["network"]["direction"], "egress");
        assert_eq!(v["destination"]["ip"], "203.0.113.7");
        assert_eq!(v["destination"]["domain"], "c2.example");
        assert_eq!(v["source"]["port"], 40_000);
        assert_eq!(
            v["tls"],
            serde_json::json!({
                "version": "1.3",
                "version_protocol": "tls",
                "client": {
                    "server_name": "c2.example",
                    "ja3": "aa".repeat(16),
                    "ja4": "t13d1516h2_8daaf6152771_e5627efa2ab1",
                },
            })
        );
        assert_eq!(
            v["warden"]["network"]["alpn"],
            serde_json::json!(["h2", "http/1.1"])
        );
        assert!(v["warden"]["network"].get("request_cut").is_none());
        let by_address = hello(None);
        assert!(by_address["tls"]["client"].get("server_name").is_none());
        assert!(by_address["destination"].get("domain").is_none());
        // A QUIC client's hello, in its Initial datagrams.
        let over_udp = network_ecs(NetworkEvent {
            family: Some(2),
            transport: Some("udp".into()),
            remote: Some(ip("203.0.113.7", 443)),
            tls: Some(Box::new(crate::TlsHello {
                server_name: Some("c2.example".into()),
                alpn: vec!["h3".into()],
                version: "1.3".into(),
                ja4: "q13d0310h3_55b375c5d22e_cd85d2d88918".into(),
                ja3: "aa".repeat(16),
                cut: false,
            })),
            ..NetworkEvent::new(caller(), NetAction::TlsHello, Source::Ebpf)
        });
        assert_eq!(over_udp["network"]["protocol"], "quic");
        assert_eq!(over_udp["network"]["transport"], "udp");
        assert_eq!(over_udp["destination"]["domain"], "c2.example");
    }

    /// A request a client made of a server here: the client is the source, this host the
    /// destination, named by what the client asked for; the traffic comes in.
    #[test]
    fn a_request_received_has_its_client_as_the_source() {
        let hello = network_ecs(NetworkEvent {
            family: Some(2),
            transport: Some("tcp".into()),
            local: Some(ip("10.0.0.5", 8443)),
            remote: Some(ip("198.51.100.9", 51_000)),
            fd: Some(7),
            remote_name: Some("scanner.example".into()),
            tls: Some(Box::new(crate::TlsHello {
                server_name: Some("www.example".into()),
                alpn: vec![],
                version: "1.2".into(),
                ja4: "t12d1209h1_d34a8e72043a_b39be8c56a14".into(),
                ja3: "bb".repeat(16),
                cut: false,
            })),
            ..NetworkEvent::new(caller(), NetAction::TlsHelloReceived, Source::Ebpf)
        });
        assert_eq!(hello["event"]["action"], "tls_hello_received");
        assert_eq!(hello["event"]["type"][0], "protocol");
        assert_eq!(hello["network"]["direction"], "ingress");
        assert_eq!(hello["network"]["protocol"], "tls");
        assert_eq!(hello["source"]["ip"], "198.51.100.9");
        assert_eq!(hello["source"]["domain"], "scanner.example");
        assert_eq!(hello["destination"]["port"], 8443);
        assert_eq!(hello["destination"]["domain"], "www.example");
        assert_eq!(hello["tls"]["client"]["server_name"], "www.example");
        let request = network_ecs(NetworkEvent {
            family: Some(2),
            transport: Some("tcp".into()),
            local: Some(ip("10.0.0.5", 8080)),
            remote: Some(ip("198.51.100.9", 51_001)),
            http: Some(Box::new(crate::HttpRequest {
                method: "GET".into(),
                target: "/cgi-bin/.%2e/.%2e/bin/sh".into(),
                version: "1.1".into(),
                host: Some("www.example:8080".into()),
                user_agent: Some("zgrab/0.x".into()),
                cut: false,
            })),
            ..NetworkEvent::new(caller(), NetAction::HttpRequestReceived, Source::Ebpf)
        });
        assert_eq!(request["network"]["direction"], "ingress");
        assert_eq!(request["source"]["port"], 51_001);
        assert_eq!(request["destination"]["domain"], "www.example");
        assert!(request["source"].get("domain").is_none());
        assert_eq!(
            request["url"]["full"],
            "http://www.example:8080/cgi-bin/.%2e/.%2e/bin/sh"
        );
        assert_eq!(request["user_agent"]["original"], "zgrab/0.x");
    }

    /// An SSH client's identification: Warden's fields (ECS has none for SSH), `network.protocol`
    /// `ssh`; received, the client is the source.
    #[test]
    fn an_ssh_hello_names_the_clients_software_and_hassh() {
        let hello = |action| {
            network_ecs(NetworkEvent {
                family: Some(2),
                transport: Some("tcp".into()),
                local: Some(ip("10.0.0.5", 22)),
                remote: Some(ip("198.51.100.9", 51_000)),
                ssh: Some(Box::new(crate::SshHello {
                    identification: "SSH-2.0-Go".into(),
                    software: "Go".into(),
                    comments: None,
                    hassh: Some("b5752e36ba6c5979a575e43178908adf".into()),
                    hassh_algorithms: Some("a;b;c;d".into()),
                    cut: false,
                })),
                ..NetworkEvent::new(caller(), action, Source::Ebpf)
            })
        };
        let received = hello(NetAction::SshHelloReceived);
        assert_eq!(received["event"]["action"], "ssh_hello_received");
        assert_eq!(received["event"]["type"][0], "protocol");
        assert_eq!(received["network"]["protocol"], "ssh");
        assert_eq!(received["network"]["direction"], "ingress");
        assert_eq!(received["source"]["ip"], "198.51.100.9");
        assert_eq!(received["destination"]["port"], 22);
        let ssh = &received["warden"]["network"]["ssh"];
        assert_eq!(ssh["identification"], "SSH-2.0-Go");
        assert_eq!(ssh["software"], "Go");
        assert_eq!(ssh["hassh"], "b5752e36ba6c5979a575e43178908adf");
        assert!(ssh.get("comments").is_none() && ssh.get("cut").is_none());
        let sent = hello(NetAction::SshHello);
        assert_eq!(sent["network"]["direction"], "egress");
        assert_eq!(sent["destination"]["ip"], "198.51.100.9");
    }

    /// A server's answer: a ServerHello as ECS `tls.cipher`, `tls.next_protocol` and
    /// `tls.server.ja3s` (no client's fields), an HTTP response as `http.response.*`; the
    /// server is the source of what a client here received, and this host of what it sent.
    #[test]
    fn a_servers_answer_names_its_choices_and_status() {
        let answer = |action, server_hello, response| {
            network_ecs(NetworkEvent {
                family: Some(2),
                transport: Some("tcp".into()),
                local: Some(ip("10.0.0.5", 40_000)),
                remote: Some(ip("198.51.100.9", 443)),
                server_hello,
                response,
                ..NetworkEvent::new(caller(), action, Source::Ebpf)
            })
        };
        let hello = crate::TlsServerHello {
            version: "1.2".into(),
            cipher: 0xc02f,
            alpn: Some("h2".into()),
            ja3s: "0123456789abcdef0123456789abcdef".into(),
            ja3s_text: "771,49199,65281-16".into(),
        };
        let got = answer(NetAction::TlsServerHello, Some(Box::new(hello)), None);
        assert_eq!(got["event"]["action"], "tls_server_hello");
        assert_eq!(got["event"]["type"][0], "protocol");
        assert_eq!(got["network"]["protocol"], "tls");
        assert_eq!(got["network"]["direction"], "ingress");
        assert_eq!(got["source"]["port"], 443);
        assert_eq!(
            got["tls"],
            serde_json::json!({
                "version": "1.2",
                "version_protocol": "tls",
                "cipher": "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
                "next_protocol": "h2",
                "server": {"ja3s": "0123456789abcdef0123456789abcdef"},
            })
        );
        assert_eq!(got["warden"]["network"]["ja3s_text"], "771,49199,65281-16");
        let unnamed = crate::TlsServerHello {
            version: "1.3".into(),
            cipher: 0x00ff,
            alpn: None,
            ja3s: String::new(),
            ja3s_text: String::new(),
        };
        let got = answer(NetAction::TlsServerHelloSent, Some(Box::new(unnamed)), None);
        assert_eq!(got["tls"]["cipher"], "0x00ff");
        assert_eq!(got["network"]["direction"], "egress");
        assert_eq!(got["source"]["port"], 40_000);
        let response = crate::HttpResponse {
            version: "1.1".into(),
            status: 302,
            reason: "Found".into(),
            content_type: Some("text/html".into()),
            content_length: Some(154),
            location: Some("http://stage2.example/x".into()),
            server: Some("nginx".into()),
            cut: false,
        };
        let got = answer(NetAction::HttpResponseSent, None, Some(Box::new(response)));
        assert_eq!(got["network"]["protocol"], "http");
        assert_eq!(
            got["http"],
            serde_json::json!({
                "response": {"status_code": 302, "mime_type": "text/html", "body": {"bytes": 154}},
                "version": "1.1",
            })
        );
        assert_eq!(
            got["warden"]["network"]["http_response"],
            serde_json::json!({
                "reason": "Found",
                "location": "http://stage2.example/x",
                "server": "nginx",
            })
        );
        assert!(got.get("url").is_none() && got.get("tls").is_none());
    }

    /// An HTTP request: ECS `http.*`, `url.*` (the whole URL from its host and target) and
    /// `user_agent`; a proxy's whole-URL target is the URL itself.
    #[test]
    fn an_http_request_names_its_url_and_user_agent() {
        let request = |target: &str, host: Option<&str>| {
            network_ecs(NetworkEvent {
                family: Some(10),
                transport: Some("tcp".into()),
                local: Some(ip("::1", 40_000)),
                remote: Some(ip("::1", 8080)),
                http: Some(Box::new(crate::HttpRequest {
                    method: "GET".into(),
                    target: target.into(),
                    version: "1.1".into(),
                    host: host.map(str::to_owned),
                    user_agent: Some("curl/8.5.0".into()),
                    cut: true,
                })),
                ..NetworkEvent::new(caller(), NetAction::HttpRequest, Source::Ebpf)
            })
        };
        let v = request("/stage2.sh?k=1", Some("files.example:8080"));
        assert_eq!(v["event"]["action"], "http_request");
        assert_eq!(v["network"]["protocol"], "http");
        assert_eq!(
            v["http"],
            serde_json::json!({"request": {"method": "GET"}, "version": "1.1"})
        );
        assert_eq!(
            v["url"],
            serde_json::json!({
                "original": "/stage2.sh?k=1",
                "domain": "files.example",
                "path": "/stage2.sh",
                "full": "http://files.example:8080/stage2.sh?k=1",
            })
        );
        assert_eq!(v["user_agent"]["original"], "curl/8.5.0");
        assert_eq!(v["destination"]["domain"], "files.example");
        assert_eq!(v["warden"]["network"]["request_cut"], true);
        let proxied = request("http://other.example/x", Some("[2001:db8::1]:3128"));
        assert_eq!(proxied["url"]["full"], "http://other.example/x");
        assert_eq!(proxied["url"]["domain"], "2001:db8::1");
        // An address is no domain of the destination's.
        assert!(proxied["destination"].get("domain").is_none());
        assert!(proxied["url"].get("path").is_none());
        let bare = request("/", None);
        assert!(bare["url"].get("full").is_none() && bare["url"].get("domain").is_none());
    }

    /// A connection to an address the process's own lookup resolved: the peer's domain.
    #[test]
    fn a_connection_names_the_domain_its_process_looked_up() {
        let connect = |remote_name: Option<&str>| {
            network_ecs(NetworkEvent {
                syscall: Some("connect".into()),
                family: Some(2),
                transport: Some("tcp".into()),
                local: Some(ip("10.0.0.5", 40_000)),
                remote: Some(ip("192.0.2.9", 443)),
                fd: Some(3),
                exit: Some(0),
                remote_name: remote_name.map(Into::into),
                ..NetworkEvent::new(caller(), NetAction::Connect, Source::Ebpf)
            })
        };
        assert!(connect(None)["destination"].get("domain").is_none());
        let named = connect(Some("c2.exfil.example"));
        assert_eq!(named["destination"]["domain"], "c2.exfil.example");
        assert_eq!(named["destination"]["ip"], "192.0.2.9");
        assert!(named["source"].get("domain").is_none());
    }

    #[test]
    fn connect_v4_names_source_and_destination() {
        let v = net(
            NetAction::Connect,
            2,
            Some(ip("10.0.0.5", 40_000)),
            Some(ip("93.184.216.34", 443)),
        );
        assert_eq!(v["event"]["category"][0], "network");
        assert_eq!(v["event"]["type"][0], "connection");
        assert_eq!(v["event"]["action"], "connect");
        assert_eq!(v["event"]["outcome"], "success");
        assert_eq!(v["source"]["ip"], "10.0.0.5");
        assert_eq!(v["source"]["address"], "10.0.0.5");
        assert_eq!(v["source"]["port"], 40_000);
        assert_eq!(v["destination"]["ip"], "93.184.216.34");
        assert_eq!(v["destination"]["port"], 443);
        assert!(v.get("server").is_none());
        assert_eq!(v["network"]["transport"], "tcp");
        assert_eq!(v["network"]["iana_number"], "6");
        assert_eq!(v["network"]["type"], "ipv4");
        assert_eq!(v["network"]["direction"], "egress");
        assert_eq!(v["warden"]["network"]["action"], "connect");
        assert_eq!(v["warden"]["network"]["family"], 2);
        assert_eq!(v["warden"]["network"]["fd"], 3);
        assert_eq!(v["warden"]["syscall"], "connect");
        assert_eq!(v["warden"]["syscall_exit"], 0);
        assert_eq!(v["warden"]["auid"], 1000);
        assert_eq!(v["process"]["entity_id"], caller().entity_id().unwrap());
        assert_eq!(v["process"]["executable"], "/usr/bin/curl");
    }

    #[test]
    fn failed_connect_keeps_its_errno() {
        let event = Event {
            time_ns: 0,
            host: "h".into(),
            kind: EventKind::Network(NetworkEvent {
                syscall: Some("connect".into()),
                family: Some(2),
                remote: Some(ip("127.0.0.1", 9)),
                fd: Some(4),
                success: false,
                exit: Some(-111),
                errno: Some("ECONNREFUSED".into()),
                ..NetworkEvent::new(caller(), NetAction::Connect, Source::Audit)
            }),
        };
        let v = to_ecs(&event);
        assert_eq!(v["event"]["outcome"], "failure");
        assert_eq!(v["warden"]["network"]["errno"], "ECONNREFUSED");
        assert_eq!(v["warden"]["syscall_exit"], -111);
        assert!(v.get("source").is_none());
        assert!(v["network"].get("transport").is_none());
        assert!(v["network"].get("iana_number").is_none());
    }

    #[test]
    fn accept_v6_makes_the_peer_the_source() {
        let v = net(
            NetAction::Accept,
            10,
            Some(ip("::1", 22)),
            Some(ip("2001:db8::7", 51_000)),
        );
        assert_eq!(v["source"]["ip"], "2001:db8::7");
        assert_eq!(v["source"]["port"], 51_000);
        assert_eq!(v["destination"]["ip"], "::1");
        assert_eq!(v["destination"]["port"], 22);
        assert_eq!(v["network"]["type"], "ipv6");
        assert_eq!(v["network"]["direction"], "ingress");
        assert_eq!(v["event"]["type"][0], "connection");
    }

    #[test]
    fn bind_and_listen_name_the_server() {
        let v = net(NetAction::Bind, 2, Some(ip("0.0.0.0", 8080)), None);
        assert_eq!(v["server"]["ip"], "0.0.0.0");
        assert_eq!(v["server"]["port"], 8080);
        assert!(v.get("source").is_none());
        assert!(v.get("destination").is_none());
        assert_eq!(v["event"]["type"][0], "start");
        assert_eq!(v["network"]["direction"], "unknown");

        // listen(2) names no address: the family still tells the network type.
        let v = net(NetAction::Listen, 10, None, None);
        assert!(v.get("server").is_none());
        assert_eq!(v["network"]["type"], "ipv6");
        assert_eq!(v["warden"]["network"]["action"], "listen");
    }

    /// A connection's end: its traffic goes each way from the end that sent it, its duration
    /// is the event's, and its direction its connection's.
    #[test]
    fn a_connections_end_carries_its_traffic_each_way() {
        let close = |incoming: bool, found_open: bool| {
            network_ecs(NetworkEvent {
                family: Some(2),
                transport: Some("tcp".into()),
                local: Some(ip("10.0.0.5", 40_000)),
                remote: Some(ip("93.184.216.34", 443)),
                fd: Some(3),
                success: false,
                errno: Some("ECONNRESET".into()),
                traffic: Some(crate::Traffic {
                    incoming,
                    duration_ns: 2_500_000_000,
                    state: "ESTABLISHED".into(),
                    bytes_sent: 70_000,
                    bytes_received: 300,
                    bytes_retransmitted: 1_448,
                    segments_sent: 50,
                    segments_received: 30,
                    found_open,
                }),
                ..NetworkEvent::new(caller(), NetAction::Close, Source::Ebpf)
            })
        };
        let v = close(false, false);
        assert_eq!(v["event"]["action"], "close");
        assert_eq!(v["event"]["type"][0], "end");
        assert_eq!(v["event"]["outcome"], "failure");
        assert_eq!(v["event"]["duration"], 2_500_000_000u64);
        assert_eq!(v["network"]["direction"], "egress");
        assert_eq!(v["source"]["ip"], "10.0.0.5");
        assert_eq!(v["source"]["bytes"], 70_000);
        assert_eq!(v["source"]["packets"], 50);
        assert_eq!(v["destination"]["ip"], "93.184.216.34");
        assert_eq!(v["destination"]["bytes"], 300);
        assert_eq!(v["destination"]["packets"], 30);
        assert_eq!(v["network"]["bytes"], 70_300);
        assert_eq!(v["network"]["packets"], 80);
        assert_eq!(v["warden"]["network"]["errno"], "ECONNRESET");
        let traffic = &v["warden"]["network"]["traffic"];
        assert_eq!(traffic["state"], "ESTABLISHED");
        assert_eq!(traffic["bytes_retransmitted"], 1_448);
        assert!(traffic.get("found_open").is_none(), "said only when true");
        let v = close(false, true);
        assert_eq!(v["warden"]["network"]["traffic"]["found_open"], true);

        // Taken by an accept: the peer is the source, and what it sent is what came in.
        let v = close(true, false);
        assert_eq!(v["network"]["direction"], "ingress");
        assert_eq!(v["source"]["ip"], "93.184.216.34");
        assert_eq!(v["source"]["bytes"], 300);
        assert_eq!(v["destination"]["ip"], "10.0.0.5");
        assert_eq!(v["destination"]["bytes"], 70_000);

        // Other events carry no traffic.
        let v = net(
            NetAction::Connect,
            2,
            Some(ip("10.0.0.5", 1)),
            Some(ip("10.0.0.6", 2)),
        );
        assert!(v["source"].get("bytes").is_none());
        assert!(v["network"].get("bytes").is_none());
        assert!(v["event"].get("duration").is_none());
    }

    /// An unconnected datagram socket's end: what came in from its peers (unnamed) is still
    /// what the other end sent; it has no TCP state.
    #[test]
    fn an_unconnected_datagram_sockets_end_carries_its_traffic_without_a_peer() {
        let v = network_ecs(NetworkEvent {
            family: Some(2),
            transport: Some("udp".into()),
            local: Some(ip("10.0.0.5", 53)),
            traffic: Some(crate::Traffic {
                incoming: true,
                duration_ns: 1_000,
                state: String::new(),
                bytes_sent: 4_000,
                bytes_received: 900,
                bytes_retransmitted: 0,
                segments_sent: 10,
                segments_received: 12,
                found_open: false,
            }),
            ..NetworkEvent::new(caller(), NetAction::Close, Source::Ebpf)
        });
        assert_eq!(v["network"]["direction"], "ingress");
        assert_eq!(v["source"]["bytes"], 900, "{v}");
        assert_eq!(v["source"]["packets"], 12);
        assert!(v["source"].get("ip").is_none(), "no peer: {v}");
        assert_eq!(v["destination"]["ip"], "10.0.0.5");
        assert_eq!(v["destination"]["bytes"], 4_000);
        assert!(
            v["warden"]["network"]["traffic"].get("state").is_none(),
            "{v}"
        );
    }

    /// A sniffer's packet socket: its type and link protocol, the interface it is bound to, the
    /// filter it attached.
    #[test]
    fn packet_sockets_carry_their_type_interface_and_filter() {
        let packet_with = |action, local, filter, filter_program| {
            network_ecs(NetworkEvent {
                syscall: Some("socket".into()),
                family: Some(17),
                transport: Some("all".into()),
                local,
                fd: Some(4),
                exit: Some(4),
                socket_type: Some("raw".into()),
                filter,
                filter_program,
                ..NetworkEvent::new(caller(), action, Source::Ebpf)
            })
        };
        let packet = |action, local, filter| packet_with(action, local, filter, None);
        let v = packet(NetAction::Socket, None, None);
        assert_eq!(v["event"]["action"], "socket");
        assert_eq!(v["event"]["type"][0], "start");
        assert_eq!(v["warden"]["network"]["socket_type"], "raw");
        assert_eq!(v["warden"]["network"]["family"], 17);
        assert_eq!(v["network"]["transport"], "all");
        assert!(v["network"].get("iana_number").is_none());
        assert!(v["network"].get("type").is_none());
        assert!(v["warden"]["network"].get("filter").is_none());

        let lo = SocketAddress::Link {
            ifindex: 1,
            interface: Some("lo".into()),
            protocol: 3,
        };
        let v = packet(NetAction::Bind, Some(lo), None);
        assert_eq!(v["server"]["address"], "lo");
        assert!(v["server"].get("ip").is_none() && v["server"].get("port").is_none());
        let gone = SocketAddress::Link {
            ifindex: 7,
            interface: None,
            protocol: 3,
        };
        assert_eq!(
            packet(NetAction::Bind, Some(gone), None)["server"]["address"],
            "if7"
        );

        let filter = crate::SocketFilter {
            option: "SO_ATTACH_FILTER".into(),
            instructions: Some(30),
        };
        let v = packet(NetAction::Filter, None, Some(filter));
        assert_eq!(v["event"]["type"][0], "change");
        assert_eq!(v["network"]["direction"], "unknown");
        let attached = &v["warden"]["network"]["filter"];
        assert_eq!(attached["option"], "SO_ATTACH_FILTER");
        assert_eq!(attached["instructions"], 30);
        assert!(attached.get("bytecode").is_none() && attached.get("hash").is_none());

        // With its program: a classic one as tcpdump -ddd prints it, with the digest of its
        // instructions' bytes; an eBPF one as bpftool names it.
        let classic = crate::FilterProgram::Classic(vec![
            crate::ClassicInstruction {
                code: 0x28,
                jt: 0,
                jf: 0,
                k: 12,
            },
            crate::ClassicInstruction {
                code: 0x15,
                jt: 0,
                jf: 1,
                k: 0x86dd,
            },
        ]);
        let filter = crate::SocketFilter {
            option: "SO_ATTACH_FILTER".into(),
            instructions: Some(2),
        };
        let v = packet_with(NetAction::Filter, None, Some(filter), Some(classic));
        let attached = &v["warden"]["network"]["filter"];
        assert_eq!(attached["bytecode"], "2,40 0 0 12,21 0 1 34525");
        let bytes = [0x28, 0, 0, 0, 12, 0, 0, 0, 0x15, 0, 0, 1, 0xdd, 0x86, 0, 0];
        assert_eq!(attached["hash"]["sha256"], hex(&Sha256::digest(bytes)));
        assert!(attached.get("program").is_none());

        let ebpf = crate::FilterProgram::Ebpf(crate::EbpfProgram {
            id: 31,
            tag: [0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10],
            name: String::new(),
            instructions: 12,
        });
        let filter = crate::SocketFilter {
            option: "SO_ATTACH_BPF".into(),
            instructions: None,
        };
        let v = packet_with(NetAction::Filter, None, Some(filter), Some(ebpf));
        let attached = &v["warden"]["network"]["filter"];
        assert_eq!(
            attached["program"],
            serde_json::json!({"id": 31, "tag": "fedcba9876543210", "instructions": 12}),
            "no name when it has none"
        );
        assert!(attached.get("bytecode").is_none() && attached.get("hash").is_none());
    }

    #[test]
    fn unix_sockets_are_addressed_by_path_or_abstract_name() {
        let v = net(
            NetAction::Connect,
            1,
            Some(SocketAddress::UnixUnnamed),
            Some(unix(b"/run/dbus/system_bus_socket", false)),
        );
        assert_eq!(v["destination"]["address"], "/run/dbus/system_bus_socket");
        assert!(v["destination"].get("ip").is_none());
        assert!(v["destination"].get("port").is_none());
        assert!(
            v.get("source").is_none(),
            "an unnamed socket has no address"
        );
        assert_eq!(v["network"]["type"], "unix");
        assert_eq!(v["network"]["transport"], "stream");
        assert!(v["network"].get("iana_number").is_none());

        let v = net(
            NetAction::Bind,
            1,
            Some(unix(b"/tmp/.X11-unix/X0", true)),
            None,
        );
        assert_eq!(v["server"]["address"], "@/tmp/.X11-unix/X0");

        // An empty path is an unnamed socket too, not an empty address.
        let v = net(NetAction::Bind, 1, Some(unix(b"", false)), None);
        assert!(v.get("server").is_none());
    }

    fn file(action: FileAction, path: &[u8], edit: impl FnOnce(&mut FileEvent)) -> Value {
        let mut e = FileEvent {
            process: caller(),
            action,
            source: Source::Fanotify,
            syscall: None,
            path: path.to_vec(),
            old_path: None,
            target_path: None,
            inode: Some(1234),
            device: None,
            mode: Some(0o100640),
            owner_uid: Some(0),
            owner_gid: Some(42),
            is_dir: Some(false),
            watch: None,
            success: true,
            exit: None,
            content: None,
            times: None,
        };
        edit(&mut e);
        to_ecs(&Event {
            time_ns: 0,
            host: "h".into(),
            kind: EventKind::File(e),
        })
    }

    #[test]
    fn a_written_files_content_is_described() {
        let v = file(FileAction::CloseWrite, b"/tmp/drop/updater", |e| {
            e.content = Some(Box::new(Executable {
                sha256: Some("ab".repeat(32)),
                size: Some(4096),
                mtime_ns: Some(1_000_000_001),
                ctime_ns: Some(2_000_000_000),
                build_id: Some("beef".into()),
                origin_url: Some("http://127.0.0.1/payload".into()),
                ..Executable::default()
            }));
        });
        assert_eq!(v["file"]["hash"]["sha256"], "ab".repeat(32));
        assert_eq!(v["file"]["size"], 4096);
        assert_eq!(v["file"]["mtime"], "1970-01-01T00:00:01.000000001Z");
        assert_eq!(v["file"]["ctime"], "1970-01-01T00:00:02.000000000Z");
        let content = &v["warden"]["file"]["content"];
        assert_eq!(content["build_id"], "beef");
        assert_eq!(content["origin_url"], "http://127.0.0.1/payload");
        // Without content, none of it.
        let v = file(FileAction::Delete, b"/tmp/drop/updater", |_| {});
        assert!(v["file"].get("hash").is_none() && v["file"].get("size").is_none());
        assert!(v["warden"]["file"].get("content").is_none());
    }

    #[test]
    fn renames_carry_the_old_path() {
        let v = file(FileAction::Rename, b"/etc/passwd", |e| {
            e.source = Source::Audit;
            e.syscall = Some("renameat2".into());
            e.old_path = Some(b"/etc/passwd.new".to_vec());
            e.exit = Some(0);
        });
        assert_eq!(v["event"]["category"][0], "file");
        assert_eq!(v["event"]["type"][0], "change");
        assert_eq!(v["event"]["action"], "rename");
        assert_eq!(v["file"]["path"], "/etc/passwd");
        assert_eq!(v["file"]["directory"], "/etc");
        assert_eq!(v["file"]["name"], "passwd");
        assert_eq!(v["file"]["inode"], "1234");
        assert_eq!(v["file"]["mode"], "0640");
        assert_eq!(v["file"]["uid"], "0");
        assert_eq!(v["file"]["gid"], "42");
        assert_eq!(v["file"]["type"], "file");
        assert_eq!(v["warden"]["file"]["action"], "rename");
        assert_eq!(v["warden"]["file"]["old_path"], "/etc/passwd.new");
        assert_eq!(v["warden"]["syscall"], "renameat2");
        assert_eq!(v["warden"]["source"], "audit");
        assert_eq!(v["warden"]["auid"], 1000);
    }

    #[test]
    fn times_set_are_said_as_now_or_a_time() {
        let v = file(FileAction::Times, b"/usr/local/bin/tool", |e| {
            e.times = Some(crate::FileTimes {
                accessed: Some(TimeSet::Now),
                modified: Some(TimeSet::At(1_546_300_800_000_000_001)),
            });
        });
        assert_eq!(v["event"]["action"], "times");
        assert_eq!(v["event"]["type"][0], "change");
        assert_eq!(
            v["warden"]["file"]["times"],
            serde_json::json!({"accessed": "now", "modified": "2019-01-01T00:00:00.000000001Z"})
        );
        assert_eq!(FileAction::Times.bsm_classes(), ["fm"]);
        let left = file(FileAction::Times, b"/t", |e| {
            e.times = Some(crate::FileTimes {
                accessed: None,
                modified: Some(TimeSet::Now),
            });
        });
        assert_eq!(
            left["warden"]["file"]["times"],
            serde_json::json!({"modified": "now"})
        );
        let other = file(FileAction::Chmod, b"/t", |_| {});
        assert!(other["warden"]["file"].get("times").is_none());
    }

    #[test]
    fn watched_reads_carry_the_watch_label() {
        let v = file(FileAction::Read, b"/home/bob/.ssh/id_ed25519", |e| {
            e.watch = Some("ssh".into());
            e.mode = Some(0o100600);
        });
        assert_eq!(v["event"]["type"][0], "access");
        assert_eq!(v["warden"]["file"]["watch"], "ssh");
        assert_eq!(v["warden"]["source"], "fanotify");
        assert_eq!(v["file"]["mode"], "0600");
        assert!(v["warden"]["file"].get("old_path").is_none());
    }

    #[test]
    fn non_utf8_paths_are_escaped() {
        let v = file(FileAction::Create, b"/tmp/a\xffb/c\xfe", |_| {});
        assert_eq!(v["file"]["path"], "/tmp/a\\xffb/c\\xfe");
        assert_eq!(v["file"]["directory"], "/tmp/a\\xffb");
        assert_eq!(v["file"]["name"], "c\\xfe");
        assert_eq!(v["event"]["type"][0], "creation");
    }

    #[test]
    fn paths_split_into_directory_and_name() {
        let split = |p: &[u8]| {
            let v = file(FileAction::Delete, p, |_| {});
            (
                v["file"]["directory"].as_str().map(str::to_owned),
                v["file"]["name"].as_str().map(str::to_owned),
            )
        };
        let some = |d: &str, n: &str| (Some(d.to_owned()), Some(n.to_owned()));
        assert_eq!(split(b"/vmlinuz"), some("/", "vmlinuz"));
        assert_eq!(
            split(b"/etc/ssh/sshd_config"),
            some("/etc/ssh", "sshd_config")
        );
        assert_eq!(split(b"/tmp/dir/"), some("/tmp", "dir"));
        assert_eq!(split(b"//etc//hosts"), some("//etc", "hosts"));
        assert_eq!(split(b"relative"), (None, Some("relative".into())));
        assert_eq!(split(b"/"), (None, None));
        let v = file(FileAction::Delete, b"/", |_| {});
        assert_eq!(v["file"]["path"], "/");
    }

    #[test]
    fn symlinks_are_typed_and_name_their_target() {
        let v = file(FileAction::Symlink, b"/tmp/link", |e| {
            e.target_path = Some(b"/etc/shadow".to_vec());
            e.is_dir = None;
            e.mode = None;
        });
        assert_eq!(v["file"]["type"], "symlink");
        assert_eq!(v["file"]["target_path"], "/etc/shadow");
        assert!(v["file"].get("mode").is_none());
    }
}

//! `socket_events`: the socket calls the agent recorded (connect, accept, bind, listen, and
//! unconnected sends and receives), read from its store, in osquery's columns plus Warden's.
//!
//! osquery's columns, from the stored event:
//! - `action`: the call (`connect`, `accept`, `bind`, `listen`; Warden also has `send` and
//!   `receive`); the exact syscall (`accept4`, `socketcall(connect)`) is Warden's `syscall`.
//!   Warden's `connect_result` is no call: the end of the TCP handshake a non-blocking connect
//!   began (that connect's row says `in_progress`), established or failed (`errno`
//!   `ECONNREFUSED`, `ETIMEDOUT`...; none when the socket was closed first), with both ends.
//! - `path`: the caller's executable; `fd`: the socket's descriptor (the call's first argument);
//!   `auid`: the login uid.
//! - `family`: the `AF_*` number; `protocol`: the IANA number of the transport (tcp 6, udp 17,
//!   icmp 1, ipv6-icmp 58, sctp 132, udplite 136; NULL for Unix and raw sockets or unknown).
//! - `local_*`/`remote_*`: this host's end and the peer's (bind and listen name the local end,
//!   connect the remote, accept both when known); for Unix sockets the address is the path,
//!   `@name` for an abstract one, and `socket` holds it too (the local path, else the peer's).
//! - `success`: 1 or 0; `status`: `succeeded`, `failed`, `in_progress` (a non-blocking connect,
//!   errno EINPROGRESS, whose handshake had not ended as the call returned) or `no_client` (a
//!   non-blocking accept with no connection waiting). A non-blocking connect whose handshake
//!   ended inside the call (loopback's do) has the handshake's outcome.
//!
//! Warden's `close` is no call either: the end of a TCP connection a `connect` or `accept` row
//! recorded, for the same process, with its traffic from this host's point of view
//! (`bytes_sent`, `bytes_received`), how long it lasted (`duration_ns`) and the TCP state it
//! closed from (`state`); `failed` with `errno` `ECONNRESET`, `ETIMEDOUT`... when the
//! kernel closed it for an error. Its `traffic` rows, while it is still open: the same columns
//! so far (now and then, and as the agent stops), `state` its state then. `found_open` is 1 for
//! a connection that was already open as the agent started (found then, not seen made): its
//! `duration_ns` counts from the agent's start, and its `direction` is guessed. A datagram
//! socket's (UDP, ICMP, raw IP) `close` and `traffic` rows have the same columns, from its first
//! datagram, for that datagram's process, with `state` NULL and, unconnected, no remote end; a
//! UDP socket's found open at the start (`found_open` 1) from then, for the process found
//! holding it, its `direction` guessed from whether it is connected. With audit, TCP `close`
//! and `traffic` rows come from the kernel's socket diagnostics (`source` `sock_diag`): `state`
//! is NULL for a `close` (a destroyed socket does not say how it ended).
//! Other rows have these columns NULL.
//!
//! Warden's `filter` rows: a packet filter attached to a socket (a sniffer's), with the option
//! and what is known of its program (with eBPF; audit does not read the caller's memory): a
//! classic filter's length, instructions (`filter_bytecode`) and their digest
//! (`filter_sha256`, to match a known backdoor's filter by), or an eBPF program's id, tag and
//! name. Other rows have these columns NULL.
//!
//! `remote_domain`: the name the process looked up (its own DNS answer, seen by eBPF) that
//! resolved to the remote address, on any row whose peer is one; on a connection's `close` and
//! `traffic` rows, the name its TLS hello or HTTP request asked for, where it did.
//!
//! Warden's `dns_query` and `dns_answer` rows: a DNS message over port 53 (eBPF reads it
//! from the packet), a query for the process that sent it, an answer for the process whose
//! query it answers: the name asked about and the type asked for, an answer's response code,
//! its records as JSON (`json_each(dns_answers)`: name, type, ttl, data) and the addresses
//! they resolved the name to (`dns_resolved_ips`, comma-separated: to find which name an
//! address a process connected to had). Other rows have these columns NULL.
//!
//! Warden's `tls_hello` and `http_request` rows (eBPF): what an outgoing connection's first
//! bytes asked for (`tls_hello_received` and `http_request_received`: what a client's asked of
//! a server here). `ssh_hello` (`_received`): an SSH client's identification (`ssh_software`,
//! `ssh_identification`) and, where its KEXINIT came with it, its HASSH. A ClientHello's server name, highest version, offered protocols and
//! fingerprints (`ja4`, `ja3`: the client library, whatever it reaches, to match threat
//! intelligence by); a plain HTTP request's method, target, host, whole URL and user agent.
//! Other rows have these columns NULL.
//!
//! Warden's `tls_server_hello`, `http_response` and `ssh_server_hello` rows (eBPF): what a
//! server answered a connection made here (`_sent`: what a server here answered): the TLS
//! version, cipher (`tls_cipher`), chosen protocol (`tls_alpn`) and `ja3s`; the HTTP status,
//! content type and length, `Location` and `Server`; the SSH server's software and line (in the
//! `ssh_` columns). `server_banner` (`_sent`): a server's greeting (`banner`: SMTP's, FTP's,
//! POP3's, IMAP's first line).

use std::sync::OnceLock;

use super::events::{
    ENTITY_ID, PARENT_ENTITY_ID, StoreEvent, boot_time, int_of, osquery_spec_with, scan, str_of,
};
use crate::spec::{ColumnSpec, ColumnType::*, Flags, TableSpec, col};
use crate::{QueryContext, Rows, TableError};

const NONE: Flags = Flags::NONE;

/// The store's class of socket calls.
pub(super) const CLASSES: &[&str] = &["network"];

/// Warden's columns after osquery's.
const EXTRAS: &[ColumnSpec] = &[
    ENTITY_ID,
    PARENT_ENTITY_ID,
    col(
        "uid",
        BigInt,
        NONE,
        &[],
        "Warden: real user ID of the process",
    ),
    col("username", Text, NONE, &[], "Warden: user name of uid"),
    col(
        "cmdline",
        Text,
        NONE,
        &[],
        "Warden: the process's arguments",
    ),
    col(
        "transport",
        Text,
        NONE,
        &[],
        "Warden: tcp, udp, icmp, sctp, raw; stream, dgram or seqpacket for Unix sockets",
    ),
    col(
        "direction",
        Text,
        NONE,
        &[],
        "Warden: egress (connect, send), ingress (accept, receive) or unknown (bind, listen)",
    ),
    col(
        "errno",
        Text,
        NONE,
        &[],
        "Warden: the error name of a failed call (ECONNREFUSED, EINPROGRESS...)",
    ),
    col(
        "syscall",
        Text,
        NONE,
        &[],
        "Warden: the syscall (connect, accept4, sendto, socketcall(bind)...)",
    ),
    col(
        "source",
        Text,
        NONE,
        &[],
        "Warden: the source that saw the call (audit)",
    ),
    col(
        "container_id",
        Text,
        NONE,
        &[],
        "Warden: container id from the cgroup",
    ),
    col(
        "bytes_sent",
        BigInt,
        NONE,
        &[],
        "Warden: close, traffic: payload bytes this host sent over the connection, each once",
    ),
    col(
        "bytes_received",
        BigInt,
        NONE,
        &[],
        "Warden: close, traffic: payload bytes this host received over the connection",
    ),
    col(
        "duration_ns",
        BigInt,
        NONE,
        &[],
        "Warden: close, traffic: from its connect or accept to its end (or the look), ns",
    ),
    col(
        "state",
        Text,
        NONE,
        &[],
        "Warden: close: the TCP state it closed from (FIN_WAIT2, LAST_ACK...); traffic: its state \
         (NULL for a datagram socket)",
    ),
    col(
        "found_open",
        Integer,
        NONE,
        &[],
        "Warden: close, traffic: 1 if the connection or UDP socket was open already as the \
         agent started (duration_ns counts from then; direction guessed), else 0",
    ),
    col(
        "filter_option",
        Text,
        NONE,
        &[],
        "Warden: filter: the option that attached it (SO_ATTACH_FILTER, SO_ATTACH_BPF...)",
    ),
    col(
        "filter_instructions",
        BigInt,
        NONE,
        &[],
        "Warden: filter: its length in instructions (eBPF reads it)",
    ),
    col(
        "filter_sha256",
        Text,
        NONE,
        &[],
        "Warden: filter: SHA-256 of a classic filter's instructions (8 little-endian bytes each, \
         struct sock_filter), to match a known filter by",
    ),
    col(
        "filter_bytecode",
        Text,
        NONE,
        &[],
        "Warden: filter: a classic filter's program as tcpdump -ddd prints it, commas for \
         newlines (iptables' bpf --bytecode)",
    ),
    col(
        "filter_program_id",
        BigInt,
        NONE,
        &[],
        "Warden: filter: an eBPF filter's program id (bpftool prog show id N)",
    ),
    col(
        "filter_program_tag",
        Text,
        NONE,
        &[],
        "Warden: filter: an eBPF filter's program tag (the kernel's digest of its instructions)",
    ),
    col(
        "filter_program_name",
        Text,
        NONE,
        &[],
        "Warden: filter: an eBPF filter's program name",
    ),
    col(
        "icmp_type",
        Integer,
        NONE,
        &[],
        "Warden: send, receive of a raw or ICMP socket's first ICMP packet to or from a peer: its \
         type (8 echo request, 0 echo reply; ICMPv6 128, 129...)",
    ),
    col(
        "icmp_code",
        Integer,
        NONE,
        &[],
        "Warden: the same packet's ICMP code",
    ),
    col(
        "remote_domain",
        Text,
        NONE,
        &[],
        "Warden: the name the process looked up that resolved to remote_address (its own DNS \
         answer, with eBPF), or that the connection asked for (its TLS hello's or HTTP \
         request's): what it meant to reach",
    ),
    col(
        "dns_id",
        Integer,
        NONE,
        &[],
        "Warden: dns_query, dns_answer: the message's id (an answer carries its query's)",
    ),
    col(
        "dns_question",
        Text,
        NONE,
        &[],
        "Warden: dns_query, dns_answer: the name asked about (example.com)",
    ),
    col(
        "dns_question_type",
        Text,
        NONE,
        &[],
        "Warden: dns_query, dns_answer: the type of record asked for (A, AAAA, TXT...)",
    ),
    col(
        "dns_response_code",
        Text,
        NONE,
        &[],
        "Warden: dns_answer: NOERROR, NXDOMAIN, SERVFAIL, REFUSED...",
    ),
    col(
        "dns_answers",
        Text,
        NONE,
        &[],
        "Warden: dns_answer: its records, a JSON array of {name, type, ttl, data}",
    ),
    col(
        "dns_resolved_ips",
        Text,
        NONE,
        &[],
        "Warden: dns_answer: the addresses of its A and AAAA records, comma-separated",
    ),
    col(
        "tls_server_name",
        Text,
        NONE,
        &[],
        "Warden: tls_hello: the server name it asked for (SNI)",
    ),
    col(
        "tls_version",
        Text,
        NONE,
        &[],
        "Warden: tls_hello: the highest TLS version it offered (1.3, 1.2...)",
    ),
    col(
        "tls_alpn",
        Text,
        NONE,
        &[],
        "Warden: tls_hello: the application protocols it offered (h2,http/1.1), comma-separated",
    ),
    col(
        "ja4",
        Text,
        NONE,
        &[],
        "Warden: tls_hello: its JA4 fingerprint (t13d1516h2_8daaf6152771_e5627efa2ab1)",
    ),
    col(
        "ja3",
        Text,
        NONE,
        &[],
        "Warden: tls_hello: its JA3 fingerprint (an MD5, hex)",
    ),
    col(
        "http_method",
        Text,
        NONE,
        &[],
        "Warden: http_request: GET, POST, CONNECT...",
    ),
    col(
        "http_target",
        Text,
        NONE,
        &[],
        "Warden: http_request: the request's target as sent (/stage2.sh?x=1)",
    ),
    col(
        "http_host",
        Text,
        NONE,
        &[],
        "Warden: http_request: its Host, without the port",
    ),
    col(
        "http_url",
        Text,
        NONE,
        &[],
        "Warden: http_request: the whole URL, where its host and target make one",
    ),
    col(
        "http_user_agent",
        Text,
        NONE,
        &[],
        "Warden: http_request: its User-Agent (curl/8.5.0)",
    ),
    col(
        "ssh_software",
        Text,
        NONE,
        &[],
        "Warden: ssh_hello: the software the SSH client claims (OpenSSH_9.2p1, paramiko_3.4.0)",
    ),
    col(
        "ssh_identification",
        Text,
        NONE,
        &[],
        "Warden: ssh_hello: the client's whole identification line (SSH-2.0-OpenSSH_9.2p1 Debian-2)",
    ),
    col(
        "hassh",
        Text,
        NONE,
        &[],
        "Warden: ssh_hello: the client's HASSH (an MD5, hex), where its KEXINIT came with its identification",
    ),
    col(
        "tls_cipher",
        Text,
        NONE,
        &[],
        "Warden: tls_server_hello (_sent): the cipher suite the server chose (its IANA name, or 0x....)",
    ),
    col(
        "ja3s",
        Text,
        NONE,
        &[],
        "Warden: tls_server_hello (_sent): the server's JA3S (an MD5, hex)",
    ),
    col(
        "http_status",
        Integer,
        NONE,
        &[],
        "Warden: http_response (_sent): the response's status (200, 404, 302...)",
    ),
    col(
        "http_content_type",
        Text,
        NONE,
        &[],
        "Warden: http_response (_sent): its Content-Type",
    ),
    col(
        "http_content_length",
        BigInt,
        NONE,
        &[],
        "Warden: http_response (_sent): its Content-Length",
    ),
    col(
        "http_location",
        Text,
        NONE,
        &[],
        "Warden: http_response (_sent): its Location (where a redirect sent the client)",
    ),
    col(
        "http_server",
        Text,
        NONE,
        &[],
        "Warden: http_response (_sent): its Server header",
    ),
    col(
        "banner",
        Text,
        NONE,
        &[],
        "Warden: server_banner (_sent): a server's greeting, its first line (220 mx.example ESMTP Postfix)",
    ),
];

pub(super) fn spec() -> &'static TableSpec {
    static SPEC: OnceLock<TableSpec> = OnceLock::new();
    SPEC.get_or_init(|| osquery_spec_with("socket_events", EXTRAS))
}

pub(super) fn generate(ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    let boot = boot_time();
    scan(ctx, CLASSES, |e| {
        let network = &e.json["network"];
        let facts = &e.warden()["network"];
        let errno = str_of(&facts["errno"]);
        let stored = &e.stored;
        // A connection's traffic: ECS's ends are the connection's, this host's the source when it
        // connected out.
        let (here, there) = match network["direction"].as_str() {
            Some("egress") => ("source", "destination"),
            _ => ("destination", "source"),
        };
        let bytes = |end: &str| int_of(&e.json[end]["bytes"]);
        let unix_socket = (network["type"].as_str() == Some("unix"))
            .then(|| {
                stored
                    .local_address
                    .clone()
                    .or(stored.remote_address.clone())
            })
            .flatten();
        let mut row = rows.push();
        row.set("action", stored.action.as_str())
            .set("pid", stored.pid)
            .set("path", stored.exe.clone())
            .set("fd", int_of(&facts["fd"]).map(|fd| fd.to_string()))
            .set("auid", e.auid())
            .set("family", int_of(&facts["family"]))
            .set("protocol", int_of(&network["iana_number"]))
            .set("local_address", stored.local_address.clone())
            .set("remote_address", stored.remote_address.clone())
            .set("local_port", stored.local_port)
            .set("remote_port", stored.remote_port)
            .set("socket", unix_socket)
            .set("time", e.time())
            .set("uptime", e.uptime(boot))
            .set("eid", e.eid())
            .set("success", stored.success)
            .set("status", status(e, errno.as_deref()))
            .set("entity_id", e.entity_id())
            .set("parent_entity_id", e.parent_entity_id())
            .set("uid", stored.uid)
            .set("username", str_of(&e.json["user"]["name"]))
            .set("cmdline", str_of(&e.process()["command_line"]))
            .set("transport", str_of(&network["transport"]))
            .set("direction", str_of(&network["direction"]))
            .set("errno", errno)
            .set("syscall", e.syscall())
            .set("source", e.source())
            .set("container_id", str_of(&e.json["container"]["id"]))
            .set("bytes_sent", bytes(here))
            .set("bytes_received", bytes(there))
            .set("duration_ns", int_of(&e.json["event"]["duration"]))
            .set("state", str_of(&facts["traffic"]["state"]))
            .set(
                "found_open",
                facts["traffic"]
                    .is_object()
                    .then(|| i64::from(facts["traffic"]["found_open"] == true)),
            );
        let filter = &facts["filter"];
        let program = &filter["program"];
        row.set("filter_option", str_of(&filter["option"]))
            .set(
                "filter_instructions",
                int_of(&filter["instructions"]).or(int_of(&program["instructions"])),
            )
            .set("filter_sha256", str_of(&filter["hash"]["sha256"]))
            .set("filter_bytecode", str_of(&filter["bytecode"]))
            .set("filter_program_id", int_of(&program["id"]))
            .set("filter_program_tag", str_of(&program["tag"]))
            .set("filter_program_name", str_of(&program["name"]));
        let icmp = &facts["icmp"];
        row.set("icmp_type", int_of(&icmp["type"]))
            .set("icmp_code", int_of(&icmp["code"]));
        // (A request received names this host: its name is the destination's, not the peer's.)
        row.set("remote_domain", str_of(&e.json[there]["domain"]));
        let dns = &e.json["dns"];
        let resolved: Vec<&str> = dns["resolved_ip"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|ip| ip.as_str())
            .collect();
        row.set(
            "dns_id",
            dns["id"].as_str().and_then(|id| id.parse::<i64>().ok()),
        )
        .set("dns_question", str_of(&dns["question"]["name"]))
        .set("dns_question_type", str_of(&dns["question"]["type"]))
        .set("dns_response_code", str_of(&dns["response_code"]))
        .set(
            "dns_answers",
            (dns["type"] == "answer")
                .then(|| dns.get("answers").cloned().unwrap_or_default())
                .map(|answers| match answers {
                    serde_json::Value::Null => "[]".to_string(),
                    answers => answers.to_string(),
                }),
        )
        .set(
            "dns_resolved_ips",
            (!resolved.is_empty()).then(|| resolved.join(",")),
        );
        let tls = &e.json["tls"];
        let alpn: Vec<&str> = facts["alpn"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|protocol| protocol.as_str())
            .collect();
        // Offered by a ClientHello, or the one a ServerHello chose.
        let alpn = match tls["next_protocol"].as_str() {
            Some(chosen) => Some(chosen.to_owned()),
            None => (!alpn.is_empty()).then(|| alpn.join(",")),
        };
        row.set("tls_server_name", str_of(&tls["client"]["server_name"]))
            .set("tls_version", str_of(&tls["version"]))
            .set("tls_alpn", alpn)
            .set("tls_cipher", str_of(&tls["cipher"]))
            .set("ja3s", str_of(&tls["server"]["ja3s"]))
            .set("ja4", str_of(&tls["client"]["ja4"]))
            .set("ja3", str_of(&tls["client"]["ja3"]));
        let url = &e.json["url"];
        row.set("http_method", str_of(&e.json["http"]["request"]["method"]))
            .set("http_target", str_of(&url["original"]))
            .set("http_host", str_of(&url["domain"]))
            .set("http_url", str_of(&url["full"]))
            .set("http_user_agent", str_of(&e.json["user_agent"]["original"]));
        let ssh = &facts["ssh"];
        row.set("ssh_software", str_of(&ssh["software"]))
            .set("ssh_identification", str_of(&ssh["identification"]))
            .set("hassh", str_of(&ssh["hassh"]));
        let response = &e.json["http"]["response"];
        let more = &facts["http_response"];
        row.set("http_status", response["status_code"].as_i64())
            .set("http_content_type", str_of(&response["mime_type"]))
            .set("http_content_length", response["body"]["bytes"].as_i64())
            .set("http_location", str_of(&more["location"]))
            .set("http_server", str_of(&more["server"]))
            .set("banner", str_of(&facts["banner"]));
    })
}

/// osquery's `status`. A non-blocking connect under way is recorded as a success whose errno
/// says EINPROGRESS; an accept with nothing waiting fails with EAGAIN.
fn status(e: &StoreEvent, errno: Option<&str>) -> Option<&'static str> {
    Some(match (e.stored.action.as_str(), errno, e.stored.success?) {
        (_, Some("EINPROGRESS"), _) => "in_progress",
        ("accept", Some("EAGAIN" | "EWOULDBLOCK"), _) => "no_client",
        (_, _, true) => "succeeded",
        (_, _, false) => "failed",
    })
}

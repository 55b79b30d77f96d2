//! `--format text`: one readable line per event. What the event is about comes first (a
//! socket's ends, a file's path), then the process; control characters are shown escaped, so
//! that a hostile path can neither break the line nor drive the terminal.

use serde_json::Value;
use warden_store::StoredEvent;

use crate::timing::Timing;

/// One socket end: `10.0.0.5:443`, `[2001:db8::1]:443`, a Unix path, or `?` when unknown.
fn socket_end(address: Option<&str>, port: Option<i64>) -> String {
    match (address, port) {
        (Some(a), Some(p)) if a.contains(':') => format!("[{a}]:{p}"),
        (Some(a), Some(p)) => format!("{a}:{p}"),
        (Some(a), None) => a.to_string(),
        (None, Some(p)) => format!("*:{p}"),
        (None, None) => "?".into(),
    }
}

fn outcome(success: Option<bool>) -> &'static str {
    match success {
        Some(true) => " success",
        Some(false) => " failure",
        None => "",
    }
}

/// Control characters as `\n`, `\t` or `\xNN`.
pub fn escape_controls(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    for c in line.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let mut utf8 = [0; 4];
                for b in c.encode_utf8(&mut utf8).bytes() {
                    out.push_str(&format!("\\x{b:02x}"));
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// The line of one event; `ecs` is its JSON, for what the store's columns do not hold.
pub fn text_line(event: &StoredEvent, ecs: &Value) -> String {
    let s = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    let mut line = format!("{} ", Timing::of(ecs).stamp(event.time_ns));
    line.push_str(&what_happened(event, ecs));
    let p = &ecs["process"];
    if !p.is_null() {
        // The current parent pid; the one at creation when that is all the event has.
        let ppid = event
            .ppid
            .map_or_else(|| s(&p["parent"]["pid"]), |ppid| ppid.to_string());
        line.push_str(&format!(" pid={} ppid={ppid}", event.pid));
        if let Some(name) = ecs["user"]["name"].as_str() {
            line.push_str(&format!(" user={name}"));
        } else if let Some(uid) = event.uid {
            line.push_str(&format!(" uid={uid}"));
        }
        if let Some(exe) = &event.exe {
            line.push_str(&format!(" exe={exe}"));
        }
        if let Some(cmd) = p["command_line"].as_str() {
            line.push_str(&format!(" cmd=[{cmd}]"));
        }
        if let Some(code) = p["exit_code"].as_i64() {
            line.push_str(&format!(" exit_code={code}"));
        }
        if let Some(sig) = ecs["warden"]["signal"].as_i64() {
            line.push_str(&format!(" signal={sig}"));
        }
        line.push_str(&format!(" entity={}", event.entity_id));
        if let Some(parent) = &event.parent_entity_id {
            line.push_str(&format!(" parent={parent}"));
        }
    }
    if let Some(loss) = ecs["warden"]["loss"].as_object() {
        line.push_str(&format!(
            " source={} cause={} count={}",
            s(&loss["source"]),
            s(&loss["cause"]),
            s(&loss["count"])
        ));
    }
    escape_controls(&line)
}

/// A connection's traffic, from this host's point of view, as its `close` or `traffic` event's
/// ECS tells it.
pub struct Traffic<'a> {
    /// Bytes this host sent, each once.
    pub sent: u64,
    pub received: u64,
    pub retransmitted: u64,
    pub duration_ns: u64,
    pub state: &'a str,
    /// Open already as the agent started: the duration counts from then.
    pub found_open: bool,
}

impl<'a> Traffic<'a> {
    /// None for any event but a connection's `close` or `traffic`.
    pub fn of(ecs: &'a Value) -> Option<Traffic<'a>> {
        let facts = &ecs["warden"]["network"]["traffic"];
        // ECS's ends are the connection's: this host's is its source when it connected out.
        let (here, there) = match ecs["network"]["direction"].as_str() {
            Some("egress") => ("source", "destination"),
            _ => ("destination", "source"),
        };
        Some(Traffic {
            sent: ecs[here]["bytes"].as_u64()?,
            received: ecs[there]["bytes"].as_u64()?,
            retransmitted: facts["bytes_retransmitted"].as_u64()?,
            duration_ns: ecs["event"]["duration"].as_u64()?,
            state: facts["state"].as_str().unwrap_or_default(),
            found_open: facts["found_open"] == true,
        })
    }
}

/// The name the process looked up that resolved to the peer (ECS's `domain` of whichever end
/// is the peer: the destination when the traffic went out, else the source). Not the name a
/// request received asked this host for, which is the destination's.
pub fn remote_domain(ecs: &Value) -> Option<&str> {
    let peer = match ecs["network"]["direction"].as_str() {
        Some("egress") => "destination",
        _ => "source",
    };
    ecs[peer]["domain"].as_str()
}

/// A DNS message's question (`name=example.com type=A`) and, an answer's, its code, the
/// addresses it resolved the name to and how many records it had (` cut`: more were left out).
fn push_dns(line: &mut String, ecs: &Value) {
    let dns = &ecs["dns"];
    if !dns.is_object() {
        return;
    }
    let question = &dns["question"];
    if let (Some(name), Some(kind)) = (question["name"].as_str(), question["type"].as_str()) {
        line.push_str(&format!(" name={name} type={kind}"));
    }
    if let Some(code) = dns["response_code"].as_str() {
        line.push_str(&format!(" code={code}"));
    }
    let resolved: Vec<&str> = dns["resolved_ip"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if !resolved.is_empty() {
        line.push_str(&format!(" resolved={}", resolved.join(",")));
    }
    if dns["type"] == "answer" {
        let records = dns["answers"].as_array().map_or(0, Vec::len);
        line.push_str(&format!(" records={records}"));
    }
    if ecs["warden"]["network"]["dns_cut"] == true {
        line.push_str(" cut");
    }
}

/// The application protocols a TLS hello offered (ALPN), in its order.
pub fn offered_protocols(ecs: &Value) -> Vec<&str> {
    ecs["warden"]["network"]["alpn"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

/// What a connection's first bytes asked for: a ClientHello's server name, version,
/// protocols and JA4 (`sni=c2.example tls=1.3 alpn=h2,http/1.1 ja4=t13d...`), an HTTP
/// request's method and URL and user agent (`GET http://files.example/x.sh ua="curl/8.5.0"`),
/// an SSH client's identification and HASSH (`ssh="SSH-2.0-Go" hassh=...`); ` cut` when more
/// was sent than kept. Or what a server answered: a ServerHello's choices and JA3S
/// (`tls=1.3 cipher=TLS_AES_128_GCM_SHA256 alpn=h2 ja3s=...`), an HTTP response's status and
/// head (`302 "Found" location=http://... type="text/html" length=154 server="nginx"`), an SSH
/// server's identification, a greeting (`banner="220 mx.example ESMTP Postfix"`).
fn push_request(line: &mut String, ecs: &Value) {
    let tls = &ecs["tls"];
    if tls.is_object() {
        if let Some(name) = tls["client"]["server_name"].as_str() {
            line.push_str(&format!(" sni={name}"));
        }
        if let Some(version) = tls["version"].as_str() {
            line.push_str(&format!(" tls={version}"));
        }
        if let Some(cipher) = tls["cipher"].as_str() {
            line.push_str(&format!(" cipher={cipher}"));
        }
        let alpn = offered_protocols(ecs);
        if !alpn.is_empty() {
            line.push_str(&format!(" alpn={}", alpn.join(",")));
        }
        if let Some(chosen) = tls["next_protocol"].as_str() {
            line.push_str(&format!(" alpn={chosen}"));
        }
        if let Some(ja4) = tls["client"]["ja4"].as_str() {
            line.push_str(&format!(" ja4={ja4}"));
        }
        if let Some(ja3s) = tls["server"]["ja3s"].as_str() {
            line.push_str(&format!(" ja3s={ja3s}"));
        }
    }
    let response = &ecs["http"]["response"];
    if let Some(status) = response["status_code"].as_u64() {
        let more = &ecs["warden"]["network"]["http_response"];
        line.push_str(&format!(" {status}"));
        if let Some(reason) = more["reason"].as_str().filter(|r| !r.is_empty()) {
            line.push_str(&format!(" {reason:?}"));
        }
        if let Some(location) = more["location"].as_str() {
            line.push_str(&format!(" location={location}"));
        }
        if let Some(kind) = response["mime_type"].as_str() {
            line.push_str(&format!(" type={kind:?}"));
        }
        if let Some(length) = response["body"]["bytes"].as_u64() {
            line.push_str(&format!(" length={length}"));
        }
        if let Some(server) = more["server"].as_str() {
            line.push_str(&format!(" server={server:?}"));
        }
        if more["cut"] == true {
            line.push_str(" cut");
        }
    }
    if let Some(method) = ecs["http"]["request"]["method"].as_str() {
        let url = &ecs["url"];
        let target = url["full"].as_str().or(url["original"].as_str());
        line.push_str(&format!(" {method} {}", target.unwrap_or("?")));
        if let Some(agent) = ecs["user_agent"]["original"].as_str() {
            line.push_str(&format!(" ua={agent:?}"));
        }
    }
    if let Some(banner) = ecs["warden"]["network"]["banner"].as_str() {
        line.push_str(&format!(" banner={banner:?}"));
    }
    let ssh = &ecs["warden"]["network"]["ssh"];
    if let Some(identification) = ssh["identification"].as_str() {
        line.push_str(&format!(" ssh={identification:?}"));
        if let Some(hassh) = ssh["hassh"].as_str() {
            line.push_str(&format!(" hassh={hassh}"));
        }
    }
    if ecs["warden"]["network"]["request_cut"] == true || ssh["cut"] == true {
        line.push_str(" cut");
    }
}

/// What an event says apart from its time and its process: the action, then a socket's ends
/// or a file's path, and the outcome (unescaped: the caller escapes the whole line).
pub fn what_happened(event: &StoredEvent, ecs: &Value) -> String {
    let mut line = format!("{:<5}", event.action);
    match event.class.as_str() {
        "network" if matches!(event.action.as_str(), "socket" | "filter") => {
            // The socket itself: family, type and what it takes (`AF_PACKET raw all`), and
            // the filter attached.
            let network = &ecs["warden"]["network"];
            let family = network["family"]
                .as_u64()
                .and_then(|f| u16::try_from(f).ok());
            if let Some(family) = family {
                match warden_sources::audit::net::family::name(family) {
                    Some(name) => line.push_str(&format!(" {name}")),
                    None => line.push_str(&format!(" family={family}")),
                }
            }
            for word in [&network["socket_type"], &ecs["network"]["transport"]] {
                if let Some(word) = word.as_str() {
                    line.push_str(&format!(" {word}"));
                }
            }
            if let Some(option) = network["filter"]["option"].as_str() {
                line.push_str(&format!(" {option}"));
            }
            let filter = &network["filter"];
            if let Some(length) = filter["instructions"].as_u64() {
                line.push_str(&format!(" instructions={length}"));
            }
            // A classic filter by its digest's start (the whole is in the JSON), an eBPF one
            // as bpftool names it.
            if let Some(sha256) = filter["hash"]["sha256"].as_str() {
                line.push_str(&format!(" sha256={}", &sha256[..sha256.len().min(12)]));
            }
            let program = &filter["program"];
            if let (Some(id), Some(tag)) = (program["id"].as_u64(), program["tag"].as_str()) {
                line.push_str(&format!(" program={id} tag={tag}"));
                if let Some(name) = program["name"].as_str() {
                    line.push_str(&format!(" name={name}"));
                }
            }
            line.push_str(outcome(event.success));
            if let Some(errno) = network["errno"].as_str() {
                line.push_str(&format!(" {errno}"));
            }
        }
        "network" => {
            line.push_str(&format!(
                " {} -> {}",
                socket_end(event.local_address.as_deref(), event.local_port),
                socket_end(event.remote_address.as_deref(), event.remote_port)
            ));
            if let Some(transport) = ecs["network"]["transport"].as_str() {
                line.push_str(&format!(" {transport}"));
            }
            let icmp = &ecs["warden"]["network"]["icmp"];
            if let Some(name) = icmp["name"].as_str() {
                line.push_str(&format!(" icmp={name}"));
            } else if let (Some(kind), Some(code)) = (icmp["type"].as_u64(), icmp["code"].as_u64())
            {
                line.push_str(&format!(" icmp={kind}/{code}"));
            }
            // A hello's or request's own name is said with it; a looked-up name that differs
            // from it is said here.
            let asked = [&ecs["tls"]["client"]["server_name"], &ecs["url"]["domain"]];
            if let Some(domain) = remote_domain(ecs)
                && !asked.iter().any(|name| name.as_str() == Some(domain))
            {
                line.push_str(&format!(" domain={domain}"));
            }
            push_dns(&mut line, ecs);
            push_request(&mut line, ecs);
            if let Some(traffic) = Traffic::of(ecs) {
                line.push_str(&format!(
                    " sent={} received={}",
                    traffic.sent, traffic.received
                ));
                if traffic.retransmitted > 0 {
                    line.push_str(&format!(" retransmitted={}", traffic.retransmitted));
                }
                // A connection found open at the agent's start lasted at least that long.
                line.push_str(&format!(
                    " duration{}{:.3}s",
                    if traffic.found_open { ">=" } else { "=" },
                    traffic.duration_ns as f64 / 1e9,
                ));
                if !traffic.state.is_empty() {
                    line.push_str(&format!(" state={}", traffic.state));
                }
                if traffic.found_open {
                    line.push_str(" found_open");
                }
            }
            line.push_str(outcome(event.success));
            if let Some(errno) = ecs["warden"]["network"]["errno"].as_str() {
                line.push_str(&format!(" {errno}"));
            }
        }
        "file" => {
            let path = event.path.as_deref().unwrap_or("?");
            match &event.old_path {
                Some(old) => line.push_str(&format!(" {old} -> {path}")),
                None => line.push_str(&format!(" {path}")),
            }
            if let Some(target) = ecs["file"]["target_path"].as_str() {
                line.push_str(&format!(" target={target}"));
            }
            // What a `times` call set them to: `now`, or a time.
            for which in ["accessed", "modified"] {
                if let Some(time) = ecs["warden"]["file"]["times"][which].as_str() {
                    line.push_str(&format!(" {which}={time}"));
                }
            }
            line.push_str(outcome(event.success));
            // The content the change left, as the process lines of `warden tree` name an
            // image (the whole digest is in the JSON).
            if let Some(sha256) = ecs["file"]["hash"]["sha256"].as_str() {
                line.push_str(&format!(" sha256={}", &sha256[..sha256.len().min(12)]));
            }
        }
        "exec" => {
            // The file the exec named (a failed one: as it was asked for): its image, or the
            // script its interpreter runs, with that script's digest.
            if let Some(path) = &event.path {
                line.push_str(&format!(" {path}"));
            }
            if event.success == Some(false) {
                line.push_str(outcome(event.success));
                let errno = ecs["warden"]["syscall_exit"].as_i64();
                if let Some(name) = errno.and_then(|e| warden_sources::audit::net::errno_name(-e)) {
                    line.push_str(&format!(" {name}"));
                }
            }
            if let Some(sha256) = ecs["warden"]["script"]["hash"]["sha256"].as_str() {
                line.push_str(&format!(
                    " script_sha256={}",
                    &sha256[..sha256.len().min(12)]
                ));
            }
        }
        _ => {}
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockets_and_files_show_what_they_are_about() {
        let connect = StoredEvent {
            class: "network".into(),
            action: "connect".into(),
            pid: 9,
            ppid: Some(1),
            entity_id: "e".into(),
            local_address: Some("10.0.0.5".into()),
            local_port: Some(40000),
            remote_address: Some("2001:db8::1".into()),
            remote_port: Some(443),
            success: Some(false),
            ..StoredEvent::default()
        };
        let ecs = serde_json::json!({
            "process": {"pid": 9},
            "network": {"transport": "tcp"},
            "warden": {"network": {"errno": "ECONNREFUSED"}},
        });
        assert_eq!(
            text_line(&connect, &ecs),
            "1970-01-01T00:00:00.000000000Z connect 10.0.0.5:40000 -> [2001:db8::1]:443 tcp \
             failure ECONNREFUSED pid=9 ppid=1 entity=e"
        );
        let rename = StoredEvent {
            class: "file".into(),
            action: "rename".into(),
            path: Some("/tmp/new\nline".into()),
            old_path: Some("/etc/\u{1b}[2Jold".into()),
            success: Some(true),
            ..StoredEvent::default()
        };
        assert_eq!(
            text_line(&rename, &Value::Null),
            "1970-01-01T00:00:00.000000000Z rename /etc/\\x1b[2Jold -> /tmp/new\\nline success"
        );
        // The content the change left, by its digest's start.
        let written = serde_json::json!({"file": {"hash": {"sha256": "ab".repeat(32)}}});
        assert_eq!(
            text_line(&rename, &written),
            "1970-01-01T00:00:00.000000000Z rename /etc/\\x1b[2Jold -> /tmp/new\\nline success \
             sha256=abababababab"
        );
        // The times a call set.
        let times = StoredEvent {
            action: "times".into(),
            old_path: None,
            ..rename.clone()
        };
        let set = serde_json::json!({"warden": {"file": {"times": {
            "accessed": "now", "modified": "2019-01-01T00:00:00.000000000Z"}}}});
        assert_eq!(
            text_line(&times, &set),
            "1970-01-01T00:00:00.000000000Z times /tmp/new\\nline accessed=now \
             modified=2019-01-01T00:00:00.000000000Z success"
        );
        // Audit's time to the millisecond it has, the columns kept.
        let audit = StoredEvent {
            time_ns: 1_500_000_001,
            ..rename
        };
        let ecs = serde_json::json!({"warden": {"source": "audit"}});
        assert!(
            text_line(&audit, &ecs).starts_with("1970-01-01T00:00:01.500Z       rename "),
            "{}",
            text_line(&audit, &ecs)
        );
    }

    /// A filter attached: its option, and its program (a classic one's length and digest, an
    /// eBPF one's id, tag and name).
    #[test]
    fn a_filter_shows_its_program() {
        let attached = StoredEvent {
            class: "network".into(),
            action: "filter".into(),
            pid: 9,
            entity_id: "e".into(),
            success: Some(true),
            ..StoredEvent::default()
        };
        let classic = serde_json::json!({"warden": {"network": {
            "family": 17, "socket_type": "raw",
            "filter": {"option": "SO_ATTACH_FILTER", "instructions": 2,
                       "bytecode": "2,40 0 0 12,6 0 0 65535",
                       "hash": {"sha256": "0123456789abcdef".repeat(4)}}}}});
        assert_eq!(
            text_line(&attached, &classic),
            "1970-01-01T00:00:00.000000000Z filter AF_PACKET raw SO_ATTACH_FILTER instructions=2 \
             sha256=0123456789ab success"
        );
        let ebpf = serde_json::json!({"warden": {"network": {
            "family": 2, "socket_type": "raw",
            "filter": {"option": "SO_ATTACH_BPF",
                       "program": {"id": 31, "tag": "fedcba9876543210", "name": "sniff",
                                   "instructions": 12}}}}});
        assert_eq!(
            text_line(&attached, &ebpf),
            "1970-01-01T00:00:00.000000000Z filter AF_INET raw SO_ATTACH_BPF program=31 \
             tag=fedcba9876543210 name=sniff success"
        );
    }

    /// A server's answer: a ServerHello's choices and JA3S; an HTTP response's status and head,
    /// its header values quoted (a type may hold a space), what was not sent left out.
    #[test]
    fn an_answer_shows_what_the_server_chose_or_said() {
        let answer = |action: &str| StoredEvent {
            class: "network".into(),
            action: action.into(),
            pid: 9,
            entity_id: "e".into(),
            success: Some(true),
            ..StoredEvent::default()
        };
        let hello = serde_json::json!({"tls": {"version": "1.2", "version_protocol": "tls",
            "cipher": "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "next_protocol": "h2",
            "server": {"ja3s": "0123456789abcdef0123456789abcdef"}}});
        assert_eq!(
            text_line(&answer("tls_server_hello"), &hello),
            "1970-01-01T00:00:00.000000000Z tls_server_hello ? -> ? tls=1.2 \
             cipher=TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 alpn=h2 \
             ja3s=0123456789abcdef0123456789abcdef success"
        );
        let response = serde_json::json!({
            "http": {"version": "1.1", "response": {"status_code": 302,
                     "mime_type": "text/html; charset=utf-8", "body": {"bytes": 154}}},
            "warden": {"network": {"http_response": {"reason": "Found",
                       "location": "http://stage2.example/x.sh"}}}});
        assert_eq!(
            text_line(&answer("http_response_sent"), &response),
            "1970-01-01T00:00:00.000000000Z http_response_sent ? -> ? 302 \"Found\" \
             location=http://stage2.example/x.sh type=\"text/html; charset=utf-8\" length=154 \
             success"
        );
    }

    /// A connection's traffic, from this host's side; one found open at the agent's start
    /// lasted at least its duration, and says so.
    #[test]
    fn a_connections_traffic_shows_what_went_each_way() {
        let look = StoredEvent {
            class: "network".into(),
            action: "traffic".into(),
            local_address: Some("127.0.0.1".into()),
            local_port: Some(4444),
            remote_address: Some("127.0.0.1".into()),
            remote_port: Some(50000),
            success: Some(true),
            ..StoredEvent::default()
        };
        let ecs = |found_open: bool| {
            serde_json::json!({
                "event": {"duration": 4_483_000_000u64},
                "network": {"transport": "tcp", "direction": "ingress"},
                "source": {"bytes": 130},
                "destination": {"bytes": 7},
                "warden": {"network": {"traffic": {
                    "state": "ESTABLISHED", "bytes_retransmitted": 0, "found_open": found_open}}},
            })
        };
        assert_eq!(
            what_happened(&look, &ecs(false)),
            "traffic 127.0.0.1:4444 -> 127.0.0.1:50000 tcp sent=7 received=130 duration=4.483s \
             state=ESTABLISHED success"
        );
        assert_eq!(
            what_happened(&look, &ecs(true)),
            "traffic 127.0.0.1:4444 -> 127.0.0.1:50000 tcp sent=7 received=130 duration>=4.483s \
             state=ESTABLISHED found_open success"
        );
    }
}

//! `--format xml`, after praudit -x: one `<record>` element per event inside `<audit>`, its
//! fields as attributes and as child elements named like BSM's tokens (`subject`, `exec_args`,
//! `path`, `attribute`, `socket`, `exit`, `return`).
//!
//! ```xml
//! <?xml version='1.0' encoding='UTF-8'?>
//! <audit>
//! <record class="file" action="rename" time="2026-11-27T22:00:00.000000000Z" host="h"><subject pid="7" .../><path>/new</path><path role="old">/old</path><return errval="success"/></record>
//! </audit>
//! ```
//!
//! Written by hand: escaping is the only hard part. XML 1.0 cannot carry most control
//! characters at all (not even as `&#1;`), so they are written as visible `\xNN`, like the
//! bytes of a non-UTF-8 path already are in Warden's JSON.

use serde_json::Value;
use warden_store::StoredEvent;

pub const HEADER: &str = "<?xml version='1.0' encoding='UTF-8'?>\n<audit>\n";
pub const FOOTER: &str = "</audit>\n";

/// Whether XML 1.0 allows `c` in a document (its `Char` production).
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// `text` escaped for an attribute value or element content. Tab, newline and carriage return
/// become character references, which attribute-value normalisation leaves intact.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c if is_xml_char(c) => out.push(c),
            c => {
                let mut utf8 = [0; 4];
                for b in c.encode_utf8(&mut utf8).bytes() {
                    out.push_str(&format!("\\x{b:02x}"));
                }
            }
        }
    }
    out
}

/// An element being written: attributes first, then children or nothing (`<name .../>`).
struct Element {
    name: &'static str,
    text: String,
}

impl Element {
    fn new(name: &'static str) -> Element {
        Element {
            name,
            text: format!("<{name}"),
        }
    }

    fn attr(mut self, name: &str, value: Option<impl ToString>) -> Element {
        if let Some(value) = value {
            let value = escape(&value.to_string());
            self.text.push_str(&format!(" {name}=\"{value}\""));
        }
        self
    }

    /// No attribute has been set.
    fn is_bare(&self) -> bool {
        self.text.len() == 1 + self.name.len()
    }

    fn empty(mut self) -> String {
        self.text.push_str("/>");
        self.text
    }

    fn with_text(self, text: &str) -> String {
        format!("{}>{}</{}>", self.text, escape(text), self.name)
    }

    fn with_children(self, children: &[String]) -> String {
        format!("{}>{}</{}>", self.text, children.concat(), self.name)
    }
}

/// One event as a `<record>` element, on one line (no trailing newline). `ecs` is the event's
/// JSON, for what the store's columns do not hold (user name, arguments, errno...).
pub fn record(event: &StoredEvent, ecs: &Value) -> String {
    let str_at = |v: &Value| v.as_str().map(String::from);
    let mut children = Vec::new();
    if !ecs["process"].is_null() {
        children.push(
            Element::new("subject")
                .attr("pid", Some(event.pid))
                .attr("ppid", event.ppid)
                .attr("uid", event.uid)
                .attr("user", str_at(&ecs["user"]["name"]))
                .attr("entity_id", Some(&event.entity_id))
                .attr("parent_entity_id", event.parent_entity_id.as_ref())
                .attr("exe", event.exe.as_ref())
                .empty(),
        );
    }
    if let Some(args) = ecs["process"]["args"]
        .as_array()
        .filter(|_| event.class == "exec")
    {
        let args: Vec<String> = args
            .iter()
            .map(|a| Element::new("arg").with_text(a.as_str().unwrap_or_default()))
            .collect();
        children.push(Element::new("exec_args").with_children(&args));
    }
    if let Some(path) = &event.path {
        children.push(Element::new("path").with_text(path));
    }
    if let Some(old) = &event.old_path {
        children.push(
            Element::new("path")
                .attr("role", Some("old"))
                .with_text(old),
        );
    }
    if let Some(target) = ecs["file"]["target_path"].as_str() {
        children.push(
            Element::new("path")
                .attr("role", Some("target"))
                .with_text(target),
        );
    }
    if event.class == "file" {
        // BSM's attribute token (mode, owner, node id, device), with what the change left:
        // its size and sha256.
        let file = &ecs["file"];
        let attribute = Element::new("attribute")
            .attr("mode", str_at(&file["mode"]))
            .attr("uid", str_at(&file["uid"]))
            .attr("gid", str_at(&file["gid"]))
            .attr("nodeid", str_at(&file["inode"]))
            .attr("device", str_at(&file["device"]))
            .attr("size", file["size"].as_u64())
            .attr("sha256", str_at(&file["hash"]["sha256"]));
        if !attribute.is_bare() {
            children.push(attribute.empty());
        }
        // The times a `times` call set (as BSM's utimes records carry its argument).
        let set = &ecs["warden"]["file"]["times"];
        let times = Element::new("times")
            .attr("accessed", str_at(&set["accessed"]))
            .attr("modified", str_at(&set["modified"]));
        if !times.is_bare() {
            children.push(times.empty());
        }
    }
    if event.class == "exec" {
        // The attribute token of the file the exec named (its `<path>`): the script an
        // interpreter runs, else the image.
        let script = &ecs["warden"]["script"];
        let (file, sha256) = match script.is_null() {
            true => (
                &ecs["warden"]["executable"],
                &ecs["process"]["hash"]["sha256"],
            ),
            false => (script, &script["hash"]["sha256"]),
        };
        let attribute = Element::new("attribute")
            .attr("mode", str_at(&file["mode"]))
            .attr("uid", file["owner_uid"].as_u64())
            .attr("gid", file["owner_gid"].as_u64())
            .attr("nodeid", file["inode"].as_u64())
            .attr("device", file["device"].as_u64())
            .attr("size", file["size"].as_u64())
            .attr("sha256", str_at(sha256));
        if !attribute.is_bare() {
            children.push(attribute.empty());
        }
    }
    if event.class == "network" {
        children.push(
            Element::new("socket")
                .attr("family", ecs["warden"]["network"]["family"].as_u64())
                .attr("type", str_at(&ecs["warden"]["network"]["socket_type"]))
                .attr("transport", str_at(&ecs["network"]["transport"]))
                .attr("local_address", event.local_address.as_ref())
                .attr("local_port", event.local_port)
                .attr("remote_address", event.remote_address.as_ref())
                .attr("remote_port", event.remote_port)
                .attr("remote_domain", super::text::remote_domain(ecs))
                .empty(),
        );
        if let Some(traffic) = super::text::Traffic::of(ecs) {
            children.push(
                Element::new("traffic")
                    .attr("sent", Some(traffic.sent))
                    .attr("received", Some(traffic.received))
                    .attr("retransmitted", Some(traffic.retransmitted))
                    .attr("duration_ns", Some(traffic.duration_ns))
                    .attr("state", Some(traffic.state).filter(|s| !s.is_empty()))
                    .attr("found_open", traffic.found_open.then_some("true"))
                    .empty(),
            );
        }
        let filter = &ecs["warden"]["network"]["filter"];
        if filter.is_object() {
            children.push(
                Element::new("filter")
                    .attr("option", str_at(&filter["option"]))
                    .attr("instructions", filter["instructions"].as_u64())
                    .attr("sha256", str_at(&filter["hash"]["sha256"]))
                    .attr("bytecode", str_at(&filter["bytecode"]))
                    .attr("program_id", filter["program"]["id"].as_u64())
                    .attr("program_tag", str_at(&filter["program"]["tag"]))
                    .attr("program_name", str_at(&filter["program"]["name"]))
                    .attr(
                        "program_instructions",
                        filter["program"]["instructions"].as_u64(),
                    )
                    .empty(),
            );
        }
        let dns = &ecs["dns"];
        if dns.is_object() {
            let answers: Vec<String> = dns["answers"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|a| {
                    Element::new("answer")
                        .attr("name", str_at(&a["name"]))
                        .attr("type", str_at(&a["type"]))
                        .attr("ttl", a["ttl"].as_u64())
                        .attr("data", str_at(&a["data"]))
                        .empty()
                })
                .collect();
            let element = Element::new("dns")
                .attr("id", str_at(&dns["id"]))
                .attr("type", str_at(&dns["type"]))
                .attr("name", str_at(&dns["question"]["name"]))
                .attr("question_type", str_at(&dns["question"]["type"]))
                .attr("response_code", str_at(&dns["response_code"]))
                .attr(
                    "cut",
                    (ecs["warden"]["network"]["dns_cut"] == true).then_some("true"),
                );
            children.push(if answers.is_empty() {
                element.empty()
            } else {
                element.with_children(&answers)
            });
        }
        let cut = (ecs["warden"]["network"]["request_cut"] == true).then_some("true");
        let tls = &ecs["tls"];
        if tls.is_object() {
            let alpn = super::text::offered_protocols(ecs);
            children.push(
                Element::new("tls")
                    .attr("server_name", str_at(&tls["client"]["server_name"]))
                    .attr("version", str_at(&tls["version"]))
                    .attr("alpn", (!alpn.is_empty()).then(|| alpn.join(",")))
                    .attr("ja4", str_at(&tls["client"]["ja4"]))
                    .attr("ja3", str_at(&tls["client"]["ja3"]))
                    .attr("cipher", str_at(&tls["cipher"]))
                    .attr("chosen_protocol", str_at(&tls["next_protocol"]))
                    .attr("ja3s", str_at(&tls["server"]["ja3s"]))
                    .attr("cut", cut)
                    .empty(),
            );
        }
        if let Some(banner) = ecs["warden"]["network"]["banner"].as_str() {
            children.push(Element::new("banner").attr("line", Some(banner)).empty());
        }
        let ssh = &ecs["warden"]["network"]["ssh"];
        if ssh.is_object() {
            children.push(
                Element::new("ssh")
                    .attr("identification", str_at(&ssh["identification"]))
                    .attr("software", str_at(&ssh["software"]))
                    .attr("hassh", str_at(&ssh["hassh"]))
                    .attr("cut", (ssh["cut"] == true).then_some("true"))
                    .empty(),
            );
        }
        let response = &ecs["http"]["response"];
        if response.is_object() {
            let more = &ecs["warden"]["network"]["http_response"];
            children.push(
                Element::new("http_response")
                    .attr(
                        "status",
                        response["status_code"].as_u64().map(|s| s.to_string()),
                    )
                    .attr("reason", str_at(&more["reason"]))
                    .attr("version", str_at(&ecs["http"]["version"]))
                    .attr("content_type", str_at(&response["mime_type"]))
                    .attr(
                        "content_length",
                        response["body"]["bytes"].as_u64().map(|b| b.to_string()),
                    )
                    .attr("location", str_at(&more["location"]))
                    .attr("server", str_at(&more["server"]))
                    .attr("cut", (more["cut"] == true).then_some("true"))
                    .empty(),
            );
        } else if ecs["http"].is_object() {
            children.push(
                Element::new("http")
                    .attr("method", str_at(&ecs["http"]["request"]["method"]))
                    .attr("target", str_at(&ecs["url"]["original"]))
                    .attr("version", str_at(&ecs["http"]["version"]))
                    .attr("host", str_at(&ecs["url"]["domain"]))
                    .attr("url", str_at(&ecs["url"]["full"]))
                    .attr("user_agent", str_at(&ecs["user_agent"]["original"]))
                    .attr("cut", cut)
                    .empty(),
            );
        }
    }
    if event.class == "exit" {
        children.push(
            Element::new("exit")
                .attr("code", ecs["process"]["exit_code"].as_i64())
                .attr("signal", ecs["warden"]["signal"].as_i64())
                .empty(),
        );
    }
    if let Some(loss) = ecs["warden"]["loss"].as_object() {
        children.push(
            Element::new("loss")
                .attr("source", str_at(&loss["source"]))
                .attr("cause", str_at(&loss["cause"]))
                .attr("count", loss["count"].as_u64())
                .empty(),
        );
    }
    if let Some(success) = event.success {
        children.push(
            Element::new("return")
                .attr("errval", Some(if success { "success" } else { "failure" }))
                .attr("retval", ecs["warden"]["syscall_exit"].as_i64())
                .attr("errno", str_at(&ecs["warden"]["network"]["errno"]))
                .empty(),
        );
    }
    Element::new("record")
        .attr("class", Some(&event.class))
        .attr("action", Some(&event.action))
        .attr("time", Some(warden_core::rfc3339_ns(event.time_ns)))
        .attr("host", str_at(&ecs["host"]["name"]))
        .with_children(&children)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_and_control_characters_are_escaped() {
        assert_eq!(escape("a&b<c>\"d'"), "a&amp;b&lt;c&gt;&quot;d&apos;");
        assert_eq!(escape("x\ty\nz\r"), "x&#9;y&#10;z&#13;");
        assert_eq!(escape("\u{1}\u{1b}[31m\u{7f}"), "\\x01\\x1b[31m\u{7f}");
        assert_eq!(escape("\u{fffe}é"), "\\xef\\xbf\\xbeé");
        assert_eq!(escape("/tmp/a\\xffb"), "/tmp/a\\xffb");
    }

    #[test]
    fn records_carry_the_event_as_attributes_and_tokens() {
        let event = StoredEvent {
            time_ns: 0,
            class: "file".into(),
            action: "rename".into(),
            entity_id: "e".into(),
            pid: 7,
            path: Some("/new".into()),
            old_path: Some("/old".into()),
            success: Some(true),
            ..StoredEvent::default()
        };
        let ecs = serde_json::json!({"host": {"name": "h"}, "process": {"pid": 7}});
        assert_eq!(
            record(&event, &ecs),
            "<record class=\"file\" action=\"rename\" time=\"1970-01-01T00:00:00.000000000Z\" \
             host=\"h\"><subject pid=\"7\" entity_id=\"e\"/><path>/new</path>\
             <path role=\"old\">/old</path><return errval=\"success\"/></record>"
        );
        // The file's attributes, and what the change left, as BSM's attribute token.
        let ecs = serde_json::json!({
            "process": {"pid": 7},
            "file": {"mode": "0644", "uid": "0", "gid": "0", "inode": "12", "device": "65024",
                     "size": 10, "hash": {"sha256": "e372d8b5"}},
        });
        assert!(
            record(&event, &ecs).contains(
                "<attribute mode=\"0644\" uid=\"0\" gid=\"0\" nodeid=\"12\" device=\"65024\" \
                 size=\"10\" sha256=\"e372d8b5\"/>"
            ),
            "{}",
            record(&event, &ecs)
        );
    }

    /// A filter attached, with what is known of its program.
    #[test]
    fn a_filter_carries_its_program() {
        let event = StoredEvent {
            class: "network".into(),
            action: "filter".into(),
            success: Some(true),
            ..StoredEvent::default()
        };
        let classic = serde_json::json!({"warden": {"network": {"filter": {
            "option": "SO_ATTACH_FILTER", "instructions": 1, "bytecode": "1,6 0 0 0",
            "hash": {"sha256": "ab"}}}}});
        let xml = record(&event, &classic);
        assert!(
            xml.contains(
                "<filter option=\"SO_ATTACH_FILTER\" instructions=\"1\" sha256=\"ab\" \
                 bytecode=\"1,6 0 0 0\"/>"
            ),
            "{xml}"
        );
        let ebpf = serde_json::json!({"warden": {"network": {"filter": {
            "option": "SO_ATTACH_BPF",
            "program": {"id": 31, "tag": "fedcba9876543210", "name": "sniff", "instructions": 12}}}}});
        let xml = record(&event, &ebpf);
        assert!(
            xml.contains(
                "<filter option=\"SO_ATTACH_BPF\" program_id=\"31\" \
                 program_tag=\"fedcba9876543210\" program_name=\"sniff\" \
                 program_instructions=\"12\"/>"
            ),
            "{xml}"
        );
    }
}

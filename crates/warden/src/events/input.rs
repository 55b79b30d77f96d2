//! Offline reduction: events read back from the JSON lines Warden wrote (`warden run`'s stream
//! or `warden events --format json`), as the same [`StoredEvent`]s the store holds, so that
//! one filter predicate and one set of printers serve both.

use std::io::BufRead;

use serde_json::Value;
use warden_store::{Body, StoredEvent};

/// The stored form of one ECS JSON line: the inverse of [`StoredEvent::from_event`] over the
/// fields [`warden_core::to_ecs_line`] writes. The line itself becomes the body.
pub fn stored_event_from_ecs(line: &str) -> Result<StoredEvent, String> {
    let v: Value = serde_json::from_str(line).map_err(|e| format!("not JSON ({e})"))?;
    let dataset = v["event"]["dataset"].as_str().ok_or("no event.dataset")?;
    let class = dataset
        .strip_prefix("warden.")
        .filter(|c| !c.is_empty())
        .ok_or_else(|| format!("event.dataset {dataset:?} is not warden.<class>"))?;
    let time_ns = v["@timestamp"]
        .as_str()
        .and_then(warden_core::parse_rfc3339_ns)
        .ok_or("no RFC 3339 @timestamp")?;
    // Network and file events name their action; for the others it is the class (ECS calls a
    // loss `events-lost`, the store `loss`).
    let action = match class {
        "network" | "file" => v["event"]["action"].as_str().ok_or("no event.action")?,
        other => other,
    };
    let text = |v: &Value| v.as_str().map(String::from);
    // ECS keeps ids as strings; accept numbers too.
    let integer = |v: &Value| v.as_i64().or_else(|| v.as_str()?.parse().ok());
    let process = &v["process"];
    let mut event = StoredEvent {
        time_ns,
        class: class.into(),
        action: action.into(),
        entity_id: text(&process["entity_id"]).unwrap_or_default(),
        parent_entity_id: text(&process["parent"]["entity_id"]),
        pid: integer(&process["pid"]).unwrap_or(0),
        ppid: integer(&v["warden"]["ppid"]),
        uid: integer(&v["user"]["id"]),
        exe: text(&process["executable"]),
        success: match v["event"]["outcome"].as_str() {
            Some("success") => Some(true),
            Some("failure") => Some(false),
            _ => None,
        },
        body: Body::Json(line.to_string()),
        ..StoredEvent::default()
    };
    match class {
        // The file the exec named: a script's, not its interpreter's.
        "exec" => event.path = text(&v["warden"]["script"]["path"]).or_else(|| event.exe.clone()),
        "file" => {
            event.path = text(&v["file"]["path"]);
            event.old_path = text(&v["warden"]["file"]["old_path"]);
        }
        "network" => {
            // Which ECS end is this host's goes with the way the bytes went (see ecs.rs
            // `set_network`).
            let (local, remote) = match v["network"]["direction"].as_str() {
                Some("egress") => ("source", "destination"),
                Some("ingress") => ("destination", "source"),
                _ => ("server", "source"),
            };
            let end = |name: &str| &v[name];
            (event.local_address, event.local_port) =
                (text(&end(local)["address"]), integer(&end(local)["port"]));
            (event.remote_address, event.remote_port) =
                (text(&end(remote)["address"]), integer(&end(remote)["port"]));
            // A Unix socket (an address without an IP) is what `--path` finds, the peer first.
            event.path = [remote, local].into_iter().find_map(|name| {
                let end = end(name);
                end["ip"].is_null().then(|| text(&end["address"])).flatten()
            });
        }
        _ => {}
    }
    Ok(event)
}

/// Lines that were not Warden events: how many, and the first one's number and reason.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Skipped {
    pub count: u64,
    pub first: Option<(u64, String)>,
}

impl Skipped {
    fn add(&mut self, line_number: u64, reason: String) {
        self.count += 1;
        self.first.get_or_insert((line_number, reason));
    }

    /// The note for standard error, when any line was skipped.
    pub fn report(&self) -> Option<String> {
        let (line, reason) = self.first.as_ref()?;
        let lines = if self.count == 1 { "line" } else { "lines" };
        Some(format!(
            "{} {lines} skipped: not Warden JSON (first at line {line}: {reason})",
            self.count
        ))
    }
}

/// Reads JSON lines, giving each Warden event to `each` in order. Blank lines are ignored;
/// others that are not Warden events (not UTF-8, not JSON, not ECS from Warden) are counted in
/// the result, never fatal. Read errors and errors of `each` end the reading.
pub fn read_events(
    mut input: impl BufRead,
    mut each: impl FnMut(StoredEvent) -> anyhow::Result<()>,
) -> anyhow::Result<Skipped> {
    let mut skipped = Skipped::default();
    let mut buf = Vec::new();
    let mut line_number = 0;
    loop {
        buf.clear();
        if input.read_until(b'\n', &mut buf)? == 0 {
            return Ok(skipped);
        }
        line_number += 1;
        let line = match std::str::from_utf8(&buf) {
            Ok(line) => line.trim_end_matches(['\n', '\r']),
            Err(e) => {
                skipped.add(line_number, format!("not UTF-8 ({e})"));
                continue;
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        match stored_event_from_ecs(line) {
            Ok(event) => each(event)?,
            Err(reason) => skipped.add(line_number, reason),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use warden_core::{
        BootId, Event, EventKind, ExecEvent, ExitEvent, FileAction, FileEvent, ForkEvent,
        LossEvent, NetAction, NetworkEvent, Parent, Process, ProcessKey, SocketAddress, Source,
    };

    fn process(pid: u32) -> Process {
        let key = |pid, start_ticks| ProcessKey {
            boot: BootId([7; 16]),
            pid,
            start_ticks,
        };
        Process {
            key: Some(key(pid, 50)),
            pid,
            ppid: Some(1),
            uid: Some(1000),
            user_name: Some("alice".into()),
            exe: Some(b"/usr/bin/t\xffool".to_vec()),
            args: vec![b"tool".to_vec(), b"-x".to_vec()].into(),
            parent: Some(Parent {
                key: Some(key(1, 2)),
                pid: 1,
                ..Parent::default()
            }),
            ..Process::default()
        }
    }

    fn net(
        action: NetAction,
        local: Option<SocketAddress>,
        remote: Option<SocketAddress>,
    ) -> EventKind {
        // A connection's end taken by an accept, for this peer's port; else made by a connect.
        let incoming = remote.as_ref().and_then(SocketAddress::port) == Some(50_000);
        EventKind::Network(NetworkEvent {
            syscall: Some(action.name().into()),
            family: Some(2),
            transport: Some("tcp".into()),
            local,
            remote,
            fd: Some(3),
            success: false,
            exit: Some(-111),
            errno: Some("ECONNREFUSED".into()),
            traffic: matches!(action, NetAction::Close | NetAction::Traffic).then(|| {
                warden_core::Traffic {
                    incoming,
                    duration_ns: 9,
                    state: "LAST_ACK".into(),
                    bytes_sent: 1,
                    bytes_received: 2,
                    bytes_retransmitted: 0,
                    segments_sent: 3,
                    segments_received: 4,
                    found_open: false,
                }
            }),
            ..NetworkEvent::new(process(30), action, Source::Audit)
        })
    }

    fn file(action: FileAction, path: &[u8], old_path: Option<&[u8]>) -> EventKind {
        EventKind::File(FileEvent {
            process: process(40),
            action,
            source: Source::Fanotify,
            syscall: None,
            path: path.to_vec(),
            old_path: old_path.map(<[u8]>::to_vec),
            target_path: None,
            inode: Some(12),
            device: None,
            mode: None,
            owner_uid: None,
            owner_gid: None,
            is_dir: Some(false),
            watch: None,
            success: true,
            exit: None,
            content: None,
            times: None,
        })
    }

    #[test]
    fn every_kind_of_event_reads_back_as_the_store_keeps_it() {
        let ip = |addr: &str, port| {
            Some(SocketAddress::Ip {
                addr: addr.parse().unwrap(),
                port,
            })
        };
        let unix = |path: &[u8], abstract_name| {
            Some(SocketAddress::Unix {
                path: path.to_vec(),
                abstract_name,
            })
        };
        let kinds = vec![
            EventKind::Exec(ExecEvent {
                process: process(10),
                source: Source::Audit,
                syscall: Some("execve".into()),
                success: true,
                exit: Some(0),
                script: None,
            }),
            EventKind::Fork(ForkEvent { child: process(11) }),
            EventKind::Exit(ExitEvent {
                process: process(12),
                exit_code: Some(3),
                signal: None,
                duration_ns: Some(5),
            }),
            EventKind::Loss(LossEvent {
                source: "audit".into(),
                cause: "kernel_lost".into(),
                count: 4,
            }),
            net(
                NetAction::Connect,
                ip("10.0.0.5", 40000),
                ip("93.184.216.34", 443),
            ),
            net(NetAction::Accept, ip("::1", 22), ip("2001:db8::9", 50000)),
            // Taken by an accept (the helper says so of this peer's port).
            net(NetAction::Close, ip("::1", 22), ip("2001:db8::9", 50000)),
            net(NetAction::Bind, ip("0.0.0.0", 8080), None),
            net(NetAction::Listen, ip("::", 8080), None),
            net(NetAction::Send, None, ip("8.8.8.8", 53)),
            net(NetAction::Receive, ip("10.0.0.5", 53), ip("8.8.4.4", 53)),
            net(
                NetAction::Connect,
                Some(SocketAddress::UnixUnnamed),
                unix(b"/run/x.sock", false),
            ),
            net(NetAction::Bind, unix(b"hidden", true), None),
            net(
                NetAction::Connect,
                Some(SocketAddress::Other { family: 16 }),
                None,
            ),
            file(
                FileAction::Rename,
                b"/tmp/new \"<&>\"",
                Some(b"/etc/old\n\xfe"),
            ),
            file(FileAction::Create, b"relative", None),
        ];
        // Every action, with both ends.
        let every_action =
            NetAction::ALL.map(|action| net(action, ip("10.0.0.5", 40000), ip("10.0.0.6", 443)));
        for kind in kinds.into_iter().chain(every_action) {
            let event = Event {
                time_ns: 1_795_816_800_123_456_789,
                host: "h".into(),
                kind,
            };
            let line = warden_core::to_ecs_line(&event);
            // The same fields as the agent stores, with the line for the event.
            let stored = StoredEvent {
                body: Body::Json(line.clone()),
                ..StoredEvent::from_event(event)
            };
            assert_eq!(stored_event_from_ecs(&line), Ok(stored), "{line}");
        }
    }

    #[test]
    fn bad_lines_are_counted_with_the_first_reason() {
        let good = warden_core::to_ecs_line(&Event {
            time_ns: 0,
            host: "h".into(),
            kind: EventKind::Fork(ForkEvent { child: process(5) }),
        });
        let mut input = format!(
            "{good}\n\nnot json\n{{\"event\":{{\"dataset\":\"other.thing\"}}}}\n  \n{good}\r\n"
        )
        .into_bytes();
        input.extend_from_slice(b"\xff\xfe\n");
        let mut pids = Vec::new();
        let skipped = read_events(&input[..], |e| {
            pids.push(e.pid);
            Ok(())
        })
        .unwrap();
        assert_eq!(pids, vec![5, 5]);
        assert_eq!(skipped.count, 3);
        let report = skipped.report().unwrap();
        assert!(
            report.starts_with("3 lines skipped: not Warden JSON (first at line 3: not JSON"),
            "{report}"
        );
        assert_eq!(Skipped::default().report(), None);
        let err = stored_event_from_ecs("{\"event\":{\"dataset\":\"other\"}}").unwrap_err();
        assert!(err.contains("warden.<class>"), "{err}");
    }
}

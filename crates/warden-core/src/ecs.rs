//! The JSON form of events: Elastic Common Schema field names, so Filebeat, Vector or Fluent Bit
//! ship the stream unchanged. Fields ECS has no name for live under `warden.*`.

use serde_json::{Map, Value, json};

use crate::event::{Event, EventKind, Executable, Parent, Process};

/// The event as one ECS JSON object.
pub fn to_ecs(event: &Event) -> Value {
    let mut root = Map::new();
    root.insert("@timestamp".into(), rfc3339_ns(event.time_ns).into());
    root.insert("host".into(), json!({ "name": event.host }));
    let (kind, category, types, action) = match &event.kind {
        EventKind::Exec(_) => ("event", "process", "start", "exec"),
        EventKind::Fork(_) => ("event", "process", "start", "fork"),
        EventKind::Exit(_) => ("event", "process", "end", "exit"),
        EventKind::Loss(_) => ("pipeline_error", "host", "info", "events-lost"),
    };
    root.insert(
        "event".into(),
        json!({
            "kind": kind,
            "category": [category],
            "type": [types],
            "action": action,
            "module": "warden",
            "dataset": format!("warden.{}", event.kind.class()),
        }),
    );
    let mut warden = Map::new();
    match &event.kind {
        EventKind::Exec(e) => {
            insert_process(&mut root, &mut warden, &e.process);
            warden.insert("source".into(), e.source.name().into());
            put(&mut warden, "syscall", e.syscall.clone().map(Value::from));
            if let Some(exit) = e.exit {
                warden.insert("syscall_exit".into(), exit.into());
            }
            if let Some(Value::Object(ev)) = root.get_mut("event") {
                ev.insert(
                    "outcome".into(),
                    if e.success { "success" } else { "failure" }.into(),
                );
            }
        }
        EventKind::Fork(e) => insert_process(&mut root, &mut warden, &e.child),
        EventKind::Exit(e) => {
            insert_process(&mut root, &mut warden, &e.process);
            if let Some(Value::Object(p)) = root.get_mut("process") {
                put(p, "exit_code", e.exit_code.map(Value::from));
                if let Some(duration) = e.duration_ns {
                    let end = event.time_ns;
                    p.insert("end".into(), rfc3339_ns(end).into());
                    p.insert("uptime".into(), (duration / 1_000_000_000).into());
                }
            }
            put(&mut warden, "signal", e.signal.map(Value::from));
            put(&mut warden, "duration_ns", e.duration_ns.map(Value::from));
        }
        EventKind::Loss(e) => {
            warden.insert(
                "loss".into(),
                json!({ "source": e.source, "cause": e.cause, "count": e.count }),
            );
        }
    }
    if !warden.is_empty() {
        root.insert("warden".into(), Value::Object(warden));
    }
    Value::Object(root)
}

/// The event as one line of JSON (no trailing newline).
pub fn to_ecs_line(event: &Event) -> String {
    to_ecs(event).to_string()
}

fn put(map: &mut Map<String, Value>, key: &str, value: Option<Value>) {
    if let Some(v) = value {
        map.insert(key.into(), v);
    }
}

fn insert_process(root: &mut Map<String, Value>, warden: &mut Map<String, Value>, p: &Process) {
    let mut proc_ = Map::new();
    put(&mut proc_, "entity_id", p.entity_id().map(Value::from));
    proc_.insert("pid".into(), p.pid.into());
    put(&mut proc_, "name", p.comm.clone().map(Value::from));
    put(
        &mut proc_,
        "executable",
        p.exe.as_deref().map(|b| text(b).into()),
    );
    if !p.args.is_empty() {
        let args: Vec<Value> = p.args.iter().map(|a| text(a).into()).collect();
        proc_.insert("args_count".into(), args.len().into());
        proc_.insert("command_line".into(), command_line(&p.args).into());
        proc_.insert("args".into(), Value::Array(args));
    }
    put(
        &mut proc_,
        "working_directory",
        p.cwd.as_deref().map(|b| text(b).into()),
    );
    put(
        &mut proc_,
        "start",
        p.start_ns.map(|t| rfc3339_ns(t).into()),
    );
    if let Some(tty) = &p.tty {
        proc_.insert("tty".into(), json!({ "name": tty }));
    }
    let user = |id: Option<u32>, name: &Option<String>| {
        let mut m = Map::new();
        put(&mut m, "id", id.map(|i| i.to_string().into()));
        put(&mut m, "name", name.clone().map(Value::from));
        m
    };
    let effective = user(
        p.euid.or(p.uid),
        &p.euser_name.clone().or(p.user_name.clone()),
    );
    if !effective.is_empty() {
        proc_.insert("user".into(), Value::Object(effective));
    }
    let real = user(p.uid, &p.user_name);
    if !real.is_empty() {
        proc_.insert("real_user".into(), Value::Object(real.clone()));
        root.insert("user".into(), Value::Object(real));
    }
    let mut group = Map::new();
    put(
        &mut group,
        "id",
        p.egid.or(p.gid).map(|g| g.to_string().into()),
    );
    put(&mut group, "name", p.group_name.clone().map(Value::from));
    if !group.is_empty() {
        proc_.insert("group".into(), Value::Object(group));
    }
    if let Some(gid) = p.gid {
        proc_.insert("real_group".into(), json!({ "id": gid.to_string() }));
    }
    if let Some(x) = &p.executable {
        if let Some(sha) = &x.sha256 {
            proc_.insert("hash".into(), json!({ "sha256": sha }));
        }
        warden.insert("executable".into(), executable(x));
    }
    if let Some(parent) = &p.parent {
        proc_.insert("parent".into(), parent_json(parent));
    }
    if let Some(c) = &p.container_id {
        root.insert("container".into(), json!({ "id": c }));
    }
    put(warden, "auid", p.auid.map(Value::from));
    put(warden, "session_id", p.session_id.map(Value::from));
    put(warden, "ppid", p.ppid.map(Value::from));
    put(warden, "original_ppid", p.original_ppid.map(Value::from));
    root.insert("process".into(), Value::Object(proc_));
}

fn parent_json(parent: &Parent) -> Value {
    let mut m = Map::new();
    put(
        &mut m,
        "entity_id",
        parent.key.map(|k| k.entity_id().into()),
    );
    m.insert("pid".into(), parent.pid.into());
    put(
        &mut m,
        "executable",
        parent.exe.as_deref().map(|b| text(b).into()),
    );
    if !parent.args.is_empty() {
        let args: Vec<Value> = parent.args.iter().map(|a| text(a).into()).collect();
        m.insert("args".into(), Value::Array(args));
    }
    Value::Object(m)
}

fn executable(x: &Executable) -> Value {
    let mut m = Map::new();
    put(&mut m, "size", x.size.map(Value::from));
    put(&mut m, "inode", x.inode.map(Value::from));
    put(&mut m, "device", x.device.map(Value::from));
    put(&mut m, "owner_uid", x.owner_uid.map(Value::from));
    put(&mut m, "owner_gid", x.owner_gid.map(Value::from));
    put(
        &mut m,
        "mode",
        x.mode.map(|m| format!("{:o}", m & 0o7777).into()),
    );
    put(&mut m, "package", x.package.clone().map(Value::from));
    put(
        &mut m,
        "package_verified",
        x.package_verified.map(Value::from),
    );
    put(&mut m, "build_id", x.build_id.clone().map(Value::from));
    put(&mut m, "origin_url", x.origin_url.clone().map(Value::from));
    put(
        &mut m,
        "referrer_url",
        x.referrer_url.clone().map(Value::from),
    );
    Value::Object(m)
}

/// Bytes as text: valid UTF-8 as is; each byte of an invalid sequence as `\xNN`, so binary
/// arguments survive in JSON without loss.
pub fn text(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    let mut rest = bytes;
    loop {
        match std::str::from_utf8(rest) {
            Ok(s) => {
                out.push_str(s);
                return out;
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
fn command_line(args: &[Vec<u8>]) -> String {
    args.iter()
        .map(|a| {
            let t = text(a);
            if t.is_empty() || t.contains([' ', '"', '\'', '\\', '\n', '\t']) {
                format!(
                    "\"{}\"",
                    t.replace('\\', "\\\\")
                        .replace('"', "\\\"")
                        .replace('\n', "\\n")
                )
            } else {
                t
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// RFC 3339 UTC with nanoseconds, from nanoseconds since the epoch.
pub fn rfc3339_ns(ns: i64) -> String {
    let secs = ns.div_euclid(1_000_000_000);
    let nanos = ns.rem_euclid(1_000_000_000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
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
    use crate::event::{ExecEvent, ExecSource, LossEvent};
    use crate::identity::{BootId, ProcessKey};

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
                    args: vec![b"echo".to_vec(), b"a b".to_vec()],
                    executable: Some(Executable {
                        sha256: Some("ab".into()),
                        ..Default::default()
                    }),
                    parent: Some(Parent {
                        key: Some(parent_key),
                        pid: 9,
                        exe: Some(b"/bin/sh".to_vec()),
                        args: vec![],
                    }),
                    ..Default::default()
                },
                source: ExecSource::Audit,
                syscall: Some("execve".into()),
                success: true,
                exit: Some(0),
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
}

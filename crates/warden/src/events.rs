//! `warden events`: reduce the recorded events the way auditreduce does — by time, process,
//! user, executable and class — and print them as text or JSON lines, or follow them live.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use serde_json::Value;

#[derive(Args, Debug)]
pub struct EventsArgs {
    /// Only events at or after this time: relative (`10m`, `2h`, `7d` ago) or absolute UTC
    /// (`2026-11-27T21:00:00Z`, `2026-11-27 21:00`, `2026-11-27`).
    #[arg(long)]
    since: Option<String>,
    /// Only events before this time (same forms as --since).
    #[arg(long)]
    until: Option<String>,
    /// Only events of these process ids (repeat or comma-separate).
    #[arg(long, value_delimiter = ',')]
    pid: Vec<i64>,
    /// Only events of this process identity, or whose parent it is.
    #[arg(long)]
    entity: Vec<String>,
    /// Only events of this user (name or uid).
    #[arg(long)]
    user: Vec<String>,
    /// Only events of this uid.
    #[arg(long, value_delimiter = ',')]
    uid: Vec<i64>,
    /// Only events whose executable matches this glob (`*/curl`, `/tmp/*`).
    #[arg(long)]
    exe: Option<String>,
    /// Only events whose path matches this glob.
    #[arg(long)]
    path: Option<String>,
    /// Only these classes: exec, fork, exit, loss (comma-separated; `ex` and `pc` as in BSM).
    #[arg(long, value_delimiter = ',')]
    class: Vec<String>,
    /// At most this many events (the most recent ones when not following).
    #[arg(long)]
    limit: Option<usize>,
    /// Keep printing new events as the agent records them (Ctrl-C to stop).
    #[arg(long, short)]
    follow: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: EventFormat,
    /// The agent's data directory (where events.db is).
    #[arg(long, default_value = "/var/lib/warden")]
    data_dir: PathBuf,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum EventFormat {
    /// One readable line per event.
    Text,
    /// One ECS JSON object per line, as recorded.
    Json,
}

/// The event classes `--class` accepts, with the BSM codes users know.
pub fn class_names(names: &[String]) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    for name in names {
        let classes: &[&str] = match name.trim() {
            "exec" | "ex" => &["exec"],
            "fork" => &["fork"],
            "exit" => &["exit"],
            "pc" | "process" => &["exec", "fork", "exit"],
            "loss" => &["loss"],
            other => anyhow::bail!(
                "unknown event class {other:?}: use exec (ex), fork, exit, process (pc) or loss"
            ),
        };
        out.extend(classes.iter().map(|c| c.to_string()));
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

/// A time argument as UTC nanoseconds: relative to now (`10m`) or absolute.
pub fn parse_time(text: &str, now_ns: i64) -> anyhow::Result<i64> {
    let text = text.trim();
    if let Ok(ago) = crate::agent::config::parse_duration(text) {
        return Ok(now_ns - ago.as_nanos() as i64);
    }
    let t = text.trim_end_matches('Z').replace('T', " ");
    let (date, time) = t.split_once(' ').unwrap_or((&t, "00:00:00"));
    let d: Vec<i64> = date
        .split('-')
        .map(str::parse)
        .collect::<Result<_, _>>()
        .with_context(|| {
            format!("{text:?} is not a time: use 10m, 2h, 7d or 2026-11-27T21:00:00Z")
        })?;
    anyhow::ensure!(d.len() == 3, "{text:?} is not a date YYYY-MM-DD");
    let (time, frac) = time.split_once('.').unwrap_or((time, "0"));
    let h: Vec<i64> = time
        .split(':')
        .map(str::parse)
        .collect::<Result<_, _>>()
        .with_context(|| format!("{text:?}: bad time of day"))?;
    let (hh, mm, ss) = (h[0], *h.get(1).unwrap_or(&0), *h.get(2).unwrap_or(&0));
    let frac_ns: i64 = format!("{frac:0<9}")[..9].parse().unwrap_or(0);
    let days = warden_core::days_from_civil(d[0], d[1], d[2]);
    Ok(((days * 86_400 + hh * 3600 + mm * 60 + ss) * 1_000_000_000) + frac_ns)
}

fn uid_of(user: &str) -> anyhow::Result<i64> {
    if let Ok(uid) = user.parse() {
        return Ok(uid);
    }
    warden_tables::sys::passwd()
        .into_iter()
        .find(|p| p.username == user)
        .map(|p| i64::from(p.uid))
        .with_context(|| format!("no such user: {user}"))
}

pub fn run(args: EventsArgs) -> anyhow::Result<()> {
    let now = now_ns();
    let mut uids = args.uid.clone();
    for u in &args.user {
        uids.push(uid_of(u)?);
    }
    let mut filter = warden_store::EventFilter {
        since: args
            .since
            .as_deref()
            .map(|t| parse_time(t, now))
            .transpose()?,
        until: args
            .until
            .as_deref()
            .map(|t| parse_time(t, now))
            .transpose()?,
        pids: args.pid.clone(),
        entity_ids: args.entity.clone(),
        match_parent_entity: true,
        uids,
        classes: class_names(&args.class)?,
        exe_glob: args.exe.clone(),
        path_glob: args.path.clone(),
        after_seq: None,
        limit: args.limit.map(|n| n as u64),
        newest_first: false,
    };
    let reader = warden_store::Store::reader(&args.data_dir).with_context(|| {
        format!(
            "no event store in {} (is `warden run` recording there? see --data-dir)",
            args.data_dir.display()
        )
    })?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    // With --limit, the most recent events: read newest first, print in time order.
    filter.newest_first = filter.limit.is_some();
    loop {
        let mut rows = reader.query(&filter).collect::<Result<Vec<_>, _>>()?;
        if filter.newest_first {
            rows.reverse();
            filter.newest_first = false;
        }
        for row in rows {
            filter.after_seq = Some(filter.after_seq.map_or(row.seq, |s| s.max(row.seq)));
            print_event(&mut out, args.format, &row.event.json)?;
        }
        out.flush()?;
        if !args.follow {
            return Ok(());
        }
        // Following: the newest events only, then everything after them.
        filter.limit = None;
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn print_event(out: &mut impl Write, format: EventFormat, json: &str) -> std::io::Result<()> {
    match format {
        EventFormat::Json => writeln!(out, "{json}"),
        EventFormat::Text => {
            let v: Value = serde_json::from_str(json).unwrap_or(Value::Null);
            writeln!(out, "{}", text_line(&v))
        }
    }
}

/// One readable line: time, action, pid/ppid, user, executable and arguments, identities.
pub fn text_line(v: &Value) -> String {
    let s = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    let p = &v["process"];
    let mut line = format!("{} {:<5}", s(&v["@timestamp"]), s(&v["event"]["action"]));
    if !p.is_null() {
        line.push_str(&format!(
            " pid={} ppid={}",
            s(&p["pid"]),
            s(&p["parent"]["pid"])
        ));
        if let Some(name) = v["user"]["name"].as_str() {
            line.push_str(&format!(" user={name}"));
        } else if let Some(id) = v["user"]["id"].as_str() {
            line.push_str(&format!(" uid={id}"));
        }
        if let Some(exe) = p["executable"].as_str() {
            line.push_str(&format!(" exe={exe}"));
        }
        if let Some(cmd) = p["command_line"].as_str() {
            line.push_str(&format!(" cmd=[{cmd}]"));
        }
        if let Some(code) = p["exit_code"].as_i64() {
            line.push_str(&format!(" exit_code={code}"));
        }
        if let Some(sig) = v["warden"]["signal"].as_i64() {
            line.push_str(&format!(" signal={sig}"));
        }
        line.push_str(&format!(" entity={}", s(&p["entity_id"])));
        if let Some(parent) = p["parent"]["entity_id"].as_str() {
            line.push_str(&format!(" parent={parent}"));
        }
    }
    if let Some(loss) = v["warden"]["loss"].as_object() {
        line.push_str(&format!(
            " source={} cause={} count={}",
            s(&loss["source"]),
            s(&loss["cause"]),
            s(&loss["count"])
        ));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_relative_and_absolute() {
        let now = 1_800_000_000_000_000_000;
        assert_eq!(parse_time("10m", now).unwrap(), now - 600_000_000_000);
        assert_eq!(parse_time("1970-01-02", now).unwrap(), 86_400_000_000_000);
        assert_eq!(
            parse_time("2026-11-27T22:00:00.5Z", now).unwrap(),
            1_795_816_800_500_000_000
        );
        assert_eq!(
            parse_time("2026-11-27 22:00", now).unwrap(),
            1_795_816_800_000_000_000
        );
        assert!(parse_time("yesterday-ish", now).is_err());
    }

    #[test]
    fn classes_accept_bsm_codes() {
        assert_eq!(class_names(&["ex".into()]).unwrap(), vec!["exec"]);
        assert_eq!(
            class_names(&["pc".into()]).unwrap(),
            vec!["exec", "exit", "fork"]
        );
        assert!(class_names(&["nope".into()]).is_err());
    }
}

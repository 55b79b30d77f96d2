//! `warden events`: reduce the recorded events the way auditreduce does — by time, process,
//! user, executable, class, path, port, address and outcome — and print them as text, JSON
//! lines or praudit-style XML, or follow them live. With `--input`, the same reduction runs
//! over a JSON-lines file written earlier instead of the store.
//!
//! One filter ([`warden_store::EventFilter`]) serves both: the store applies it to the events
//! of the blocks in its time range, the offline path calls the same predicate on each line
//! read back ([`input`]).

pub(crate) mod input;
pub(crate) mod select;
pub(crate) mod text;
mod xml;

use std::collections::VecDeque;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use serde_json::Value;
use warden_store::{EventFilter, StoredEvent};

use select::{ClassSelector, ClassTerm, IpNetwork};

#[derive(Args, Debug)]
pub struct EventsArgs {
    #[command(flatten)]
    select: Selection,
    /// At most this many events (the most recent ones when not following).
    #[arg(long)]
    limit: Option<usize>,
    /// Keep printing new events as the agent records them (Ctrl-C to stop).
    #[arg(long, short)]
    follow: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: EventFormat,
    /// Reduce this JSON-lines file (as `warden run` or `--format json` wrote it; `-` for
    /// standard input) instead of the store. Lines that are not Warden events are skipped and
    /// counted on standard error.
    #[arg(long, value_name = "FILE", conflicts_with = "follow")]
    input: Option<PathBuf>,
    /// The agent's data directory (where events.db is).
    #[arg(long, default_value = "/var/lib/warden")]
    data_dir: PathBuf,
}

/// Which events: the auditreduce-style criteria `warden events` and `warden tree` share.
#[derive(Args, Debug, Default)]
pub struct Selection {
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
    /// Only events of this process identity, or whose parent it is (`warden tree`: its own
    /// only; its children are in its tree).
    #[arg(long)]
    entity: Vec<String>,
    /// Only events of this user (name or uid).
    #[arg(long)]
    user: Vec<String>,
    /// Only events of this uid.
    #[arg(long, value_delimiter = ',')]
    uid: Vec<i64>,
    /// Only events whose executable matches this glob (`*/curl`, `/tmp/*`); an exec's also by
    /// the script its interpreter runs (`/bin/sh` running `/tmp/stage2`).
    #[arg(long)]
    exe: Option<String>,
    /// Only events whose path, or a renamed file's old path, matches this glob (`/etc/*`). An
    /// exec's path is the file it named: its executable, or the script its interpreter runs.
    #[arg(long)]
    path: Option<String>,
    /// Only these event classes, like auditreduce -c: `--class nt,fw`, `--class ^fw`.
    ///
    /// Comma-separated words: Warden's classes all, exec, fork, exit, process, network, dns
    /// (dns_query and dns_answer), tls (tls_hello, tls_hello_received, tls_server_hello,
    /// tls_server_hello_sent), http (http_request, http_request_received, http_response,
    /// http_response_sent), ssh (ssh_hello, ssh_hello_received, ssh_server_hello,
    /// ssh_server_hello_sent), file, loss; the BSM
    /// codes ex (exec), pc (exec, fork, exit), nt (network), fr (file read), fw (file write),
    /// fc (file create), fd (file delete), fm (file attribute change) — a rename is both fc
    /// and fd; or an action: connect, connect_result (a non-blocking connect's outcome),
    /// accept, bind, listen, send, receive, socket (a packet, raw or ICMP socket made), filter
    /// (a packet filter attached), close and traffic (a connection's end and its traffic so
    /// far), dns_query, dns_answer, tls_hello (a connection's TLS ClientHello), http_request
    /// (a plain HTTP connection's request), ssh_hello (an SSH client's identification),
    /// tls_hello_received, http_request_received and ssh_hello_received (a client's, to a
    /// server here), tls_server_hello, http_response and ssh_server_hello (a server's answer,
    /// to a client here), tls_server_hello_sent, http_response_sent and ssh_server_hello_sent
    /// (a server here's answer), server_banner and server_banner_sent (a greeting: SMTP's,
    /// FTP's, POP3's, IMAP's), create, open, modify, close_write, rename,
    /// delete, chmod, chown, attrib, link, symlink, truncate, read, times (file times set). A
    /// word prefixed with ^ (or !) is taken away. Words apply left to right,
    /// from nothing, or from all when the first one is taken away: `^fw` is everything but
    /// file writes, `file,^fd` every file event but deletions and renames.
    #[arg(long, value_delimiter = ',', value_name = "CLASS")]
    class: Vec<ClassTerm>,
    /// Only events with this port at either end of the socket (repeat or comma-separate).
    #[arg(long, value_delimiter = ',')]
    port: Vec<u16>,
    /// Only events with an IP address at either end in this range: `10.0.0.0/8`,
    /// `2001:db8::/32`, or one address (repeat or comma-separate).
    #[arg(long, value_delimiter = ',', value_name = "CIDR")]
    addr: Vec<IpNetwork>,
    /// Only events that succeeded (events without an outcome — fork, exit, loss — are left out).
    #[arg(long, conflicts_with = "failure")]
    success: bool,
    /// Only events that failed (a refused connect, a denied exec or open...).
    #[arg(long)]
    failure: bool,
    /// Only events naming a sha256 that begins with these hex digits (at least 8): the exec of
    /// an image or a script with that digest, a file change that left such content. Read from
    /// each event itself, so slower than the other criteria on a large store.
    #[arg(long, value_name = "HEX", value_parser = sha256_prefix)]
    sha256: Option<String>,
    /// Only network events naming a domain that matches this glob (`*.example.com`, case
    /// does not matter): the DNS lookups of it, the connections, datagrams and connection
    /// ends to an address a process's own lookup of it resolved, and the TLS hellos and HTTP
    /// requests that asked for it by name. Read from each event itself, as `--sha256`.
    #[arg(long, value_name = "GLOB")]
    domain: Option<String>,
}

/// A sha256 prefix as `--sha256` takes it: 8 to 64 hex digits, compared in lowercase.
fn sha256_prefix(text: &str) -> Result<String, String> {
    let hex = text.trim().to_ascii_lowercase();
    if !(8..=64).contains(&hex.len()) || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!(
            "{text:?} is not the start of a sha256: 8 to 64 hex digits"
        ));
    }
    Ok(hex)
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum EventFormat {
    /// One readable line per event.
    Text,
    /// One ECS JSON object per line, as recorded.
    Json,
    /// praudit -x style XML: `<audit>` with one `<record>` per event.
    Xml,
}

pub(crate) fn now_ns() -> i64 {
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

/// The store filter the arguments ask for. `now_ns` anchors relative times.
pub(crate) fn filter_of(args: &Selection, now_ns: i64) -> anyhow::Result<EventFilter> {
    let mut uids = args.uid.clone();
    for u in &args.user {
        uids.push(uid_of(u)?);
    }
    let classes = ClassSelector::new(&args.class);
    anyhow::ensure!(
        !classes.is_empty(),
        "--class selects no event at all: every class it names is also taken away"
    );
    let time = |t: &Option<String>| t.as_deref().map(|t| parse_time(t, now_ns)).transpose();
    Ok(EventFilter {
        since: time(&args.since)?,
        until: time(&args.until)?,
        pids: args.pid.clone(),
        entity_ids: args.entity.clone(),
        match_parent_entity: true,
        uids,
        kinds: classes.filter_kinds(),
        exe_glob: args.exe.clone(),
        path_glob: args.path.clone(),
        ports: args.port.clone(),
        networks: args
            .addr
            .iter()
            .map(|n| (n.address, n.prefix_len))
            .collect(),
        success: match (args.success, args.failure) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        },
        sha256_prefix: args.sha256.clone(),
        domain_glob: args.domain.as_ref().map(|g| g.to_ascii_lowercase()),
        ..EventFilter::default()
    })
}

pub fn run(args: EventsArgs) -> anyhow::Result<()> {
    let filter = EventFilter {
        limit: args.limit.map(|n| n as u64),
        ..filter_of(&args.select, now_ns())?
    };
    match &args.input {
        Some(path) => {
            let input = open_input(path)?;
            let mut printer = Printer::new(args.format);
            let skipped = reduce_input(input, &filter, &mut printer);
            printer.finish()?;
            if let Some(note) = skipped?.report() {
                eprintln!("warden events: {}: {note}", path.display());
            }
            Ok(())
        }
        None => reduce_store(&args, filter),
    }
}

pub(crate) fn open_input(path: &Path) -> anyhow::Result<Box<dyn BufRead>> {
    if path == Path::new("-") {
        return Ok(Box::new(std::io::stdin().lock()));
    }
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(Box::new(std::io::BufReader::new(file)))
}

/// Prints the events of `input` that `filter` accepts, in the file's order; with a limit, the
/// last ones.
fn reduce_input(
    input: impl BufRead,
    filter: &EventFilter,
    printer: &mut Printer,
) -> anyhow::Result<input::Skipped> {
    let mut last = VecDeque::new();
    let skipped = input::read_events(input, |event| {
        if !filter.matches(&event) {
            return Ok(());
        }
        match filter.limit {
            None => printer.event(&event)?,
            Some(limit) => {
                last.push_back(event);
                if last.len() as u64 > limit {
                    last.pop_front();
                }
            }
        }
        Ok(())
    })?;
    for event in &last {
        printer.event(event)?;
    }
    Ok(skipped)
}

fn reduce_store(args: &EventsArgs, mut filter: EventFilter) -> anyhow::Result<()> {
    let reader = warden_store::Store::reader(&args.data_dir).with_context(|| {
        format!(
            "no event store in {} (is `warden run` recording there? see --data-dir)",
            args.data_dir.display()
        )
    })?;
    let interrupted = if args.follow {
        Some(watch_interrupt()?)
    } else {
        None
    };
    let mut printer = Printer::new(args.format);
    // With --limit, the most recent events: read newest first, print in time order.
    filter.newest_first = filter.limit.is_some();
    loop {
        // Everything up to here is committed before the query starts, so it is seen now: the
        // next round need not look at it again, even where nothing matched.
        let horizon = reader.last_seq()?;
        let mut rows = Vec::new();
        for row in reader.query(&filter) {
            match row {
                Ok(row) => rows.push(row),
                // A damaged block: said, and the rest is still printed.
                Err(e @ warden_store::StoreError::CorruptBlock { .. }) => {
                    eprintln!("warden events: {e}")
                }
                Err(e) => return Err(e.into()),
            }
        }
        filter.newest_first = false;
        // The store holds events as the agent handled them; each source is read at its own
        // pace, so a file change can be stored after the exit of the process that made it.
        // Printed in the events' own time order, as an audit trail reads.
        rows.sort_by_key(|row| (row.event.time_ns, row.seq));
        for row in rows {
            filter.after_seq = filter.after_seq.max(Some(row.seq));
            printer.event(&row.event)?;
        }
        filter.after_seq = filter.after_seq.max(horizon);
        printer.flush()?;
        let Some(interrupted) = &interrupted else {
            return printer.finish();
        };
        // Following: the newest events only, then everything after them.
        filter.limit = None;
        let next_poll = Instant::now() + Duration::from_millis(200);
        while Instant::now() < next_poll {
            if interrupted.load(Ordering::SeqCst) {
                // Ctrl-C ends the stream properly: the XML document is closed.
                return printer.finish();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Turns SIGINT/SIGTERM into a flag, so that a followed stream ends with its closing lines. A
/// second signal exits at once (for when standard output is stuck).
fn watch_interrupt() -> anyhow::Result<Arc<AtomicBool>> {
    use nix::sys::signal::{SigSet, Signal};
    let mut set = SigSet::empty();
    set.add(Signal::SIGINT);
    set.add(Signal::SIGTERM);
    set.thread_block().context("cannot block SIGINT/SIGTERM")?;
    let interrupted = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&interrupted);
    std::thread::Builder::new()
        .name("warden-events-signals".into())
        .spawn(move || {
            while set.wait().is_ok() {
                if flag.swap(true, Ordering::SeqCst) {
                    std::process::exit(130);
                }
            }
        })?;
    Ok(interrupted)
}

/// Writes events to standard output in one format, with the XML document's opening and
/// closing lines around them.
struct Printer {
    out: std::io::BufWriter<std::io::StdoutLock<'static>>,
    format: EventFormat,
    started: bool,
}

impl Printer {
    fn new(format: EventFormat) -> Printer {
        Printer {
            out: std::io::BufWriter::new(std::io::stdout().lock()),
            format,
            started: false,
        }
    }

    fn start(&mut self) -> std::io::Result<()> {
        if !self.started {
            self.started = true;
            if let EventFormat::Xml = self.format {
                self.out.write_all(xml::HEADER.as_bytes())?;
            }
        }
        Ok(())
    }

    fn event(&mut self, event: &StoredEvent) -> std::io::Result<()> {
        self.start()?;
        let ecs = || event.ecs().unwrap_or(Value::Null);
        match self.format {
            EventFormat::Json => writeln!(self.out, "{}", event.json()),
            EventFormat::Text => writeln!(self.out, "{}", text::text_line(event, &ecs())),
            EventFormat::Xml => writeln!(self.out, "{}", xml::record(event, &ecs())),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        // An XML document is opened even when no event comes, so followers see it at once.
        self.start()?;
        self.out.flush()
    }

    fn finish(mut self) -> anyhow::Result<()> {
        self.start()?;
        if let EventFormat::Xml = self.format {
            self.out.write_all(xml::FOOTER.as_bytes())?;
        }
        self.out.flush()?;
        Ok(())
    }
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
    fn a_sha256_prefix_is_8_to_64_hex_digits_in_lowercase() {
        assert_eq!(sha256_prefix("FB3E34709B64").unwrap(), "fb3e34709b64");
        assert_eq!(sha256_prefix(&"a".repeat(64)).unwrap(), "a".repeat(64));
        for bad in ["fb3e347", "fb3e34709b6g", "", &"a".repeat(65)] {
            let err = sha256_prefix(bad).unwrap_err();
            assert!(err.contains("8 to 64 hex digits"), "{bad}: {err}");
        }
    }
}

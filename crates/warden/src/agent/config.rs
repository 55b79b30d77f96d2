//! The agent's configuration: embedded defaults, optionally overridden by a TOML file
//! (`warden run --config FILE`; `docs/warden.toml` is the commented sample).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use serde::{Deserialize, Deserializer};
use warden_sources::ebpf::Datagrams;
use warden_store::KeepFree;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where the event store and the status file live.
    pub data_dir: PathBuf,
    pub retention: RetentionConfig,
    pub sources: SourcesConfig,
    pub events: EventsConfig,
    pub network: NetworkConfig,
    pub files: FilesConfig,
    pub output: OutputConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventsConfig {
    /// Record fork and exit events. Off, only execs are recorded (Santa's default, and what an
    /// execve audit rule gives); the process table still follows every fork and exit, so
    /// identities and parents are the same either way.
    pub forks_and_exits: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkConfig {
    /// Record connect, accept, bind and listen.
    pub enabled: bool,
    /// "ebpf" (the calls' tracepoints, in the eBPF process source: both ends of every
    /// connection, no audit backlog to overflow, and no audit syscall context slowing every
    /// call on the host; not the calls of 32-bit processes), "audit" (syscall rules on the
    /// audit stream; needs `sources.audit`), or "auto" (eBPF where the eBPF process source
    /// runs and the programs attach, else audit).
    pub source: String,
    /// Unconnected datagrams (sends and receives that name a peer): "first" (the first each
    /// UDP socket sends to, or receives from, each peer, from the socket layer's hooks, and
    /// each raw or ICMP socket's first packet to or from each peer, from the packet hooks:
    /// eBPF only), "all" (every sendto/sendmsg/recvfrom with an address, with its result: programs
    /// or audit rules at every send and receive on the host), or "off". `true` and `false`,
    /// the older spelling, are "all" and "off".
    #[serde(deserialize_with = "datagrams")]
    pub datagrams: Datagrams,
    /// eBPF: also io_uring's connects, accepts, binds and listens (programs at every io_uring
    /// submission and completion on the host).
    pub io_uring: bool,
    /// eBPF: follow 32-bit processes' network calls with a program at every syscall's exit
    /// while one runs; false: only their TCP connects and listens (from TCP state changes).
    pub follow_32_bit: bool,
    /// Record Unix-domain sockets (local IPC: D-Bus, journald, databases).
    pub unix: bool,
    /// Record the other families too (netlink, packet...): mostly system noise.
    pub other_families: bool,
    /// Read what a record leaves out (transport, a connect's local port) from the live socket.
    pub probe_sockets: bool,
    /// Record each TCP connection's end (a `close` event, for the process whose connect or
    /// accept recorded it), with how long it lasted, how it ended, and the bytes and segments
    /// each way as the kernel counted them. Read once per connection as it closes: its sends
    /// and receives pay nothing. eBPF: at the socket's last change of state. Audit cannot see
    /// it: with audit, the kernel's socket diagnostics describe each socket as it is destroyed
    /// (with `probe_sockets`, which reads each connection's cookie as its call's records are
    /// read; how it ended is not said).
    pub connection_ends: bool,
    /// With `connection_ends`: how often each connection still open is recorded with its
    /// traffic so far (a `traffic` event; "10m", "1h"...), and as the agent stops; "0": only
    /// as it stops.
    pub open_connections_every: String,
    /// With `connection_ends`: how many TCP connections are kept noted at once (about 120
    /// bytes of kernel memory each); with more open, the least recently looked at is
    /// forgotten and its end goes unrecorded.
    pub connections_max: u32,
    /// eBPF: record each datagram socket's traffic (UDP, ICMP, raw IP: bytes and datagrams
    /// each way) as a `close` event when it is released, for the process of its first
    /// datagram, and UDP sockets still open with their traffic so far beside the connections
    /// (`open_connections_every`). Counted at every send and receive on the host. Audit
    /// cannot see it.
    pub datagram_traffic: bool,
    /// eBPF: record each DNS message over UDP port 53 (or TCP) as a `dns_query` event of the process
    /// that sent it and a `dns_answer` event of the process whose query it answers, with the
    /// name asked about, the answer's code and records (what a process resolved, and so what
    /// name an address it connects to had). Read from the packets at every packet's cgroup
    /// hooks. Audit cannot see it.
    pub dns: bool,
    /// eBPF: read each outgoing TCP connection's first bytes (its first packet with data) and
    /// record a TLS ClientHello as a `tls_hello` event (the server name asked for, the offered
    /// protocols, the JA4 and JA3 fingerprints) and a plain HTTP request as an
    /// `http_request` event (method, URL, host, user agent) and an SSH client's identification
    /// as an `ssh_hello` event (the software it claims, and the HASSH of its KEXINIT, which the
    /// event waits for two seconds at most), for the process that made the
    /// connection: whom it meant to reach, even when its lookup was not seen (DNS over HTTPS,
    /// a cache); the connection's end and looks then carry that name. On a connection that
    /// began with a text command, its later HTTP requests and the TLS hello in a proxy's
    /// CONNECT tunnel or after a STARTTLS too. Needs `connection_ends`. And each QUIC
    /// client's Initial datagrams (HTTP/3), opened for the
    /// ClientHello inside, as a `tls_hello` event of the process sending them (with or
    /// without `connection_ends`). Audit cannot see it.
    pub requests: bool,
    /// eBPF: read each TCP connection made to this host for the request it received (its
    /// first packet with data) and record a ClientHello as a `tls_hello_received` event (the
    /// name the client asked this host for, the client's JA4 and JA3) and an HTTP request as
    /// an `http_request_received` event (method, URL, user agent), an SSH client's
    /// identification as an `ssh_hello_received` event, for the process that accepted the
    /// connection: what clients asked of the servers here (an exploit's URL, a
    /// scanner's fingerprint), tied to the process that served them and so to what it then
    /// ran. Later HTTP requests on a connection that began with one too, at most 16 a second
    /// each. Not while the agent has more than 2 MiB of records not yet read, half its ring
    /// (counted). Needs `connection_ends`. Audit cannot see it.
    pub requests_received: bool,
    /// eBPF: read servers' answers, a TCP connection's first packet with data from its
    /// server: received on a connection made here, for its maker (a `tls_server_hello`: the
    /// version, cipher and protocol the server chose and its JA3S; an `http_response`: the
    /// status, content type and length, `Location` and `Server`; an `ssh_server_hello`: the
    /// server's software), and sent on a connection accepted here, for the process that
    /// accepted it (`tls_server_hello_sent`, `http_response_sent`, `ssh_server_hello_sent`:
    /// whether what a client asked of a server here was served); a server's greeting
    /// (`server_banner`, `_sent`: SMTP's, FTP's, POP3's, IMAP's). Where the first was an HTTP
    /// response, the later ones on the connection too (keep-alive), at most 16 a second. Not
    /// while the agent has more than 2 MiB of records not yet read (counted). Needs
    /// `connection_ends`. Audit cannot see it.
    pub answers: bool,
}

/// `network.datagrams`: "first", "all" or "off", or a boolean (the older spelling).
fn datagrams<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Datagrams, D::Error> {
    struct Setting;
    impl serde::de::Visitor<'_> for Setting {
        type Value = Datagrams;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("network.datagrams: \"first\", \"all\" or \"off\"")
        }
        fn visit_bool<E: serde::de::Error>(self, all: bool) -> Result<Datagrams, E> {
            Ok(if all { Datagrams::All } else { Datagrams::Off })
        }
        fn visit_str<E: serde::de::Error>(self, word: &str) -> Result<Datagrams, E> {
            match word {
                "first" => Ok(Datagrams::First),
                "all" => Ok(Datagrams::All),
                "off" => Ok(Datagrams::Off),
                _ => Err(E::invalid_value(serde::de::Unexpected::Str(word), &self)),
            }
        }
    }
    deserializer.deserialize_any(Setting)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FilesConfig {
    /// "fanotify" (filesystem marks; complete), "ebpf" (the file calls' tracepoints; cheapest,
    /// sees failures; fanotify where it cannot load), "audit" (syscall rules; sees failures
    /// too), or "off".
    pub source: String,
    /// fanotify: the filesystems to watch, by a path on each; empty = every local block-device
    /// filesystem, and every memory filesystem (tmpfs) users can write to that is not
    /// excluded (`/dev/shm`, a tmpfs `/tmp`, `/run/user/UID`).
    pub filesystems: Vec<PathBuf>,
    /// fanotify: report each modification (`FAN_MODIFY`), not only the close after writing:
    /// needed for truncate(2) and for writes to files that stay open (logs, databases).
    pub modify: bool,
    /// Changes under these prefixes are not recorded (the data directory always is excluded).
    pub exclude_paths: Vec<PathBuf>,
    /// Changes under these are recorded though under an excluded prefix (the more specific
    /// prefix decides): the places in `/dev` and `/run` any user can write, which intruders
    /// stage tools in because nothing of them reaches a disk.
    pub include_paths: Vec<PathBuf>,
    /// Changes made by these executables are not recorded.
    pub exclude_processes: Vec<PathBuf>,
    /// ebpf: also io_uring's file operations (opens, closes, renames, unlinks, mkdirs, links,
    /// symlinks, truncates), which pass no syscall (programs at every io_uring submission and
    /// completion on the host). fanotify sees them anyway.
    pub io_uring: bool,
    /// Record reads of credential stores (~/.ssh, browser logins and cookies, keyrings,
    /// /etc/shadow...).
    pub watch_reads: bool,
    /// More paths (files or directories) whose reads are recorded.
    pub watch_paths: Vec<PathBuf>,
    /// Describe the file each close after writing and each rename left, as it is when the
    /// agent handles the event: sha256, size, times, ELF build-id, download origin, package.
    pub describe_written: bool,
    /// Written files larger than this are described without their sha256.
    pub hash_max_size: String,
    /// At most this many bytes of written files are hashed per second; beyond, they are
    /// described without their sha256 (counted), so a burst of large writes never holds the
    /// pipeline up.
    pub hash_per_second: String,
    /// At most this many written files are described per second (each costs the agent about
    /// 30 µs); beyond, they are not (counted), so a burst of small files (an unpacked archive)
    /// costs a bounded share of a core.
    pub describe_per_second: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Events older than this are deleted ("7d", "12h", "30m").
    pub max_age: String,
    /// The store is kept under this size ("1GiB", "500MiB").
    pub max_size: String,
    /// Space left free on the filesystems of the store and of the JSON file: a share ("5%"),
    /// a size ("2GiB"), or the smaller of both ("5%, 1GiB"); "0" leaves none.
    pub keep_free: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SourcesConfig {
    /// Where fork, exec and exit come from: "ebpf" (a program at the scheduler tracepoints),
    /// "audit" (exec rules, with the process connector for fork and exit), or "auto" (eBPF
    /// when it loads here, else audit).
    pub process: String,
    /// The kernel audit stream: exec events when `process` says so, network calls, file
    /// changes with `files.source = "audit"`.
    pub audit: bool,
    /// "auto": take the audit daemon slot when it is free, else read the multicast group;
    /// "multicast": never take the slot (coexist with auditd even when it is not running).
    pub audit_mode: String,
    /// The kernel audit backlog limit Warden sets when it takes the daemon slot.
    pub audit_backlog_limit: u32,
    /// Fork, exec and exit from the netlink process connector.
    pub proc_connector: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutputConfig {
    /// Record events in the embedded store (queried by `warden events` and SQL).
    pub store: bool,
    /// Print every event as one ECS JSON line on standard output.
    pub stdout: bool,
    /// Append every event as one ECS JSON line to this file, rotated by size.
    pub file: Option<PathBuf>,
    /// Rotate the file when it reaches this size.
    pub file_max_size: String,
    /// Rotated files kept (FILE.1 … FILE.N).
    pub file_keep: u32,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            data_dir: PathBuf::from("/var/lib/warden"),
            retention: RetentionConfig::default(),
            sources: SourcesConfig::default(),
            events: EventsConfig::default(),
            network: NetworkConfig::default(),
            files: FilesConfig::default(),
            output: OutputConfig::default(),
        }
    }
}

impl Default for RetentionConfig {
    fn default() -> RetentionConfig {
        RetentionConfig {
            max_age: "7d".into(),
            max_size: "1GiB".into(),
            keep_free: "5%, 1GiB".into(),
        }
    }
}

impl Default for SourcesConfig {
    fn default() -> SourcesConfig {
        SourcesConfig {
            process: "auto".into(),
            audit: true,
            audit_mode: "auto".into(),
            audit_backlog_limit: 32_768,
            proc_connector: true,
        }
    }
}

impl Default for EventsConfig {
    fn default() -> EventsConfig {
        EventsConfig {
            forks_and_exits: true,
        }
    }
}

impl Default for NetworkConfig {
    fn default() -> NetworkConfig {
        NetworkConfig {
            enabled: true,
            source: "auto".into(),
            datagrams: Datagrams::First,
            io_uring: true,
            follow_32_bit: true,
            connection_ends: true,
            open_connections_every: "10m".into(),
            connections_max: warden_sources::ebpf::CONNECTIONS_MAX,
            datagram_traffic: true,
            dns: true,
            requests: true,
            requests_received: true,
            answers: true,
            unix: true,
            other_families: false,
            probe_sockets: true,
        }
    }
}

impl Default for FilesConfig {
    fn default() -> FilesConfig {
        FilesConfig {
            source: "fanotify".into(),
            filesystems: Vec::new(),
            modify: true,
            io_uring: true,
            exclude_paths: [
                "/proc",
                "/sys",
                "/dev",
                "/run",
                "/var/cache/apt",
                "/var/lib/apt/lists",
            ]
            .map(PathBuf::from)
            .to_vec(),
            include_paths: ["/dev/shm", "/run/user"].map(PathBuf::from).to_vec(),
            exclude_processes: Vec::new(),
            watch_reads: true,
            watch_paths: Vec::new(),
            describe_written: true,
            hash_max_size: "64MiB".into(),
            hash_per_second: "128MiB".into(),
            describe_per_second: 2000,
        }
    }
}

impl Default for OutputConfig {
    fn default() -> OutputConfig {
        OutputConfig {
            store: true,
            stdout: false,
            file: None,
            file_max_size: "100MiB".into(),
            file_keep: 5,
        }
    }
}

impl Config {
    /// The embedded defaults, or the file's settings over them; every value is validated so a
    /// bad config is refused at start with the offending key named.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Config> {
        let config = match path {
            None => Config::default(),
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read config {}", path.display()))?;
                toml::from_str(&text)
                    .with_context(|| format!("invalid config {}", path.display()))?
            }
        };
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> anyhow::Result<()> {
        self.max_age()?;
        self.open_connections_every()?;
        self.max_bytes()?;
        self.keep_free()?;
        parse_size(&self.output.file_max_size).context("output.file_max_size")?;
        self.written_hashing()?;
        anyhow::ensure!(
            matches!(self.sources.audit_mode.as_str(), "auto" | "multicast"),
            "sources.audit_mode must be \"auto\" or \"multicast\", not {:?}",
            self.sources.audit_mode
        );
        anyhow::ensure!(
            matches!(self.sources.process.as_str(), "auto" | "ebpf" | "audit"),
            "sources.process must be \"auto\", \"ebpf\" or \"audit\", not {:?}",
            self.sources.process
        );
        anyhow::ensure!(
            matches!(
                self.files.source.as_str(),
                "fanotify" | "ebpf" | "audit" | "off"
            ),
            "files.source must be \"fanotify\", \"ebpf\", \"audit\" or \"off\", not {:?}",
            self.files.source
        );
        anyhow::ensure!(
            matches!(self.network.source.as_str(), "auto" | "ebpf" | "audit"),
            "network.source must be \"auto\", \"ebpf\" or \"audit\", not {:?}",
            self.network.source
        );
        anyhow::ensure!(
            self.sources.audit || self.sources.proc_connector,
            "no source enabled: set sources.audit or sources.proc_connector"
        );
        Ok(())
    }

    pub fn max_age(&self) -> anyhow::Result<Duration> {
        parse_duration(&self.retention.max_age).context("retention.max_age")
    }

    pub fn max_bytes(&self) -> anyhow::Result<u64> {
        parse_size(&self.retention.max_size).context("retention.max_size")
    }

    pub fn keep_free(&self) -> anyhow::Result<KeepFree> {
        parse_keep_free(&self.retention.keep_free).context("retention.keep_free")
    }

    /// Written files' hashing: (the largest file hashed, bytes hashed per second).
    pub fn written_hashing(&self) -> anyhow::Result<(u64, u64)> {
        Ok((
            parse_size(&self.files.hash_max_size).context("files.hash_max_size")?,
            parse_size(&self.files.hash_per_second).context("files.hash_per_second")?,
        ))
    }

    pub fn open_connections_every(&self) -> anyhow::Result<Duration> {
        parse_duration(&self.network.open_connections_every)
            .context("network.open_connections_every")
    }

    pub fn file_max_bytes(&self) -> u64 {
        parse_size(&self.output.file_max_size).unwrap_or(100 << 20)
    }
}

/// "90s", "10m", "12h", "7d", "2w" → a duration.
pub fn parse_duration(text: &str) -> anyhow::Result<Duration> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .with_context(|| format!("{text:?} is not a duration like 30s, 10m, 12h, 7d"))?;
    let secs = match unit.trim() {
        "s" | "" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        other => anyhow::bail!("unknown duration unit {other:?} in {text:?} (s, m, h, d, w)"),
    };
    Ok(Duration::from_secs(n * secs))
}

/// "5%", "2GiB", "5%, 1GiB" (the smaller of both), "0" → what to leave free on a filesystem.
pub fn parse_keep_free(text: &str) -> anyhow::Result<KeepFree> {
    let mut keep = KeepFree {
        percent: 100,
        at_most: u64::MAX,
    };
    let (mut share, mut size) = (false, false);
    for part in text.split(',').map(str::trim) {
        if let Some(number) = part.strip_suffix('%') {
            anyhow::ensure!(!share, "{text:?} gives two shares");
            share = true;
            keep.percent = number
                .trim()
                .parse()
                .ok()
                .filter(|p| *p <= 100)
                .with_context(|| format!("{part:?} is not a share from 0% to 100%"))?;
        } else {
            anyhow::ensure!(!size, "{text:?} gives two sizes");
            size = true;
            keep.at_most = parse_size(part)
                .with_context(|| format!("{text:?} is not like 5%, 2GiB or \"5%, 1GiB\""))?;
        }
    }
    Ok(keep)
}

/// "500MiB", "1GiB", "10MB", "4096" → bytes.
pub fn parse_size(text: &str) -> anyhow::Result<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .with_context(|| format!("{text:?} is not a size like 500MiB or 1GiB"))?;
    let factor: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" | "K" => 1 << 10,
        "MiB" | "M" => 1 << 20,
        "GiB" | "G" => 1 << 30,
        "KB" => 1000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        other => anyhow::bail!("unknown size unit {other:?} in {text:?} (KiB, MiB, GiB)"),
    };
    Ok(n * factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        let c = Config::load(None).unwrap();
        assert_eq!(c.max_age().unwrap(), Duration::from_secs(7 * 86_400));
        assert_eq!(c.max_bytes().unwrap(), 1 << 30);
        assert_eq!(c.keep_free().unwrap(), KeepFree::default());
    }

    #[test]
    fn the_sample_config_parses_and_equals_the_defaults_it_documents() {
        let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/warden.toml");
        let c = Config::load(Some(Path::new(sample))).unwrap();
        let d = Config::default();
        assert_eq!(c.data_dir, d.data_dir);
        assert_eq!(c.retention.max_age, d.retention.max_age);
        assert_eq!(c.keep_free().unwrap(), d.keep_free().unwrap());
        assert_eq!(c.sources.audit_mode, d.sources.audit_mode);
        assert_eq!(c.sources.audit_backlog_limit, d.sources.audit_backlog_limit);
        assert_eq!(c.output.file_keep, d.output.file_keep);
        assert_eq!(c.events.forks_and_exits, d.events.forks_and_exits);
        assert_eq!(c.network.enabled, d.network.enabled);
        assert_eq!(c.network.datagrams, d.network.datagrams);
        assert_eq!(c.network.source, d.network.source);
        assert_eq!(c.network.io_uring, d.network.io_uring);
        assert_eq!(c.network.follow_32_bit, d.network.follow_32_bit);
        assert_eq!(c.files.source, d.files.source);
        assert_eq!(c.files.io_uring, d.files.io_uring);
        assert_eq!(c.files.exclude_paths, d.files.exclude_paths);
        assert_eq!(c.files.include_paths, d.files.include_paths);
        assert_eq!(c.files.watch_reads, d.files.watch_reads);
        assert_eq!(c.files.modify, d.files.modify);
    }

    #[test]
    fn datagrams_take_a_word_or_the_older_boolean() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.toml");
        for (value, expected) in [
            ("\"first\"", Datagrams::First),
            ("\"all\"", Datagrams::All),
            ("\"off\"", Datagrams::Off),
            ("true", Datagrams::All),
            ("false", Datagrams::Off),
        ] {
            std::fs::write(&path, format!("[network]\ndatagrams = {value}")).unwrap();
            let config = Config::load(Some(&path)).unwrap();
            assert_eq!(config.network.datagrams, expected, "{value}");
        }
        assert_eq!(Config::default().network.datagrams, Datagrams::First);
    }

    #[test]
    fn bad_configs_name_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.toml");
        for (text, expected) in [
            ("data_dirr = \"/x\"", "unknown field `data_dirr`"),
            ("[retention]\nmax_age = \"7 parsecs\"", "retention.max_age"),
            ("[retention]\nkeep_free = \"105%\"", "retention.keep_free"),
            ("[sources]\naudit_mode = \"loud\"", "audit_mode"),
            ("[files]\nsource = \"inotify\"", "files.source"),
            ("[network]\nsource = \"pcap\"", "network.source"),
            (
                "[network]\ndatagrams = \"some\"",
                "invalid value: string \"some\", expected network.datagrams: \"first\"",
            ),
            (
                "[network]\ndatagrams = 3",
                "expected network.datagrams: \"first\", \"all\" or \"off\"",
            ),
            ("[network]\nenable = true", "unknown field `enable`"),
            ("[events]\nforks = false", "unknown field `forks`"),
            (
                "[sources]\naudit = false\nproc_connector = false",
                "no source enabled",
            ),
        ] {
            std::fs::write(&path, text).unwrap();
            let err = format!("{:#}", Config::load(Some(&path)).unwrap_err());
            assert!(err.contains(expected), "{text}: {err}");
        }
    }

    #[test]
    fn durations_and_sizes() {
        assert_eq!(parse_duration("10m").unwrap(), Duration::from_secs(600));
        assert!(parse_duration("ten").is_err());
        assert_eq!(parse_size("2MiB").unwrap(), 2 << 20);
        assert!(parse_size("2 lots").is_err());
    }

    #[test]
    fn free_space_is_a_share_a_size_or_the_smaller_of_both() {
        let keep = |text| parse_keep_free(text).unwrap();
        const GIB: u64 = 1 << 30;
        assert_eq!(keep("5%, 1GiB"), KeepFree::default());
        assert_eq!(keep(" 1GiB ,5% "), KeepFree::default());
        assert_eq!(keep("10%").bytes_of(100 * GIB), 10 * GIB);
        assert_eq!(keep("2GiB").bytes_of(100 * GIB), 2 * GIB);
        assert_eq!(keep("2GiB").bytes_of(GIB), GIB);
        assert_eq!(keep("0").bytes_of(100 * GIB), 0);
        assert_eq!(keep("0%").bytes_of(100 * GIB), 0);
        for bad in [
            "",
            "101%",
            "-1%",
            "five%",
            "5%, 6%",
            "1GiB, 2GiB",
            "5 percent",
        ] {
            assert!(parse_keep_free(bad).is_err(), "{bad:?}");
        }
    }
}

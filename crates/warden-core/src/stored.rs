//! The compact binary form of an [`Event`], as the store keeps it: the event itself rather than
//! its JSON line, which is written only when something reads it (a JSON sink, `warden events`,
//! SQL). Building three ECS lines per process was the largest part of the agent's CPU.
//!
//! The form is postcard's encoding of the event model (serde): varints, length-prefixed byte
//! strings, variant indexes, no field names. It is not self-describing, so it is versioned:
//! [`EVENT_ENCODING`] names the model as of this build. A change to a stored type (a field
//! added, removed, reordered or retyped; a variant anywhere but at the end) must bump it and
//! keep a reader for every earlier encoding, or the events already stored become unreadable.

use std::borrow::Cow;

use crate::Event;

/// The encoding of the event model written by this build.
/// - 2 added `NetAction::ConnectResult` at the end of its enum: encoding 1 is read as 2 (every
///   event it holds is one of 2's), and a build that reads only 1 says so of a newer store
///   instead of failing on an unknown variant.
/// - 3 added `FileEvent::content`, the last field of the event's last field: a file event of 1
///   or 2 is read as its bytes followed by that field's `None` (see [`as_current`]).
/// - 4 added `ExecEvent::script`, the same way: an exec event of 1 to 3 is read as its bytes
///   followed by that field's `None`.
/// - 5 added `FileAction::Times` (at the end of its enum) and `FileEvent::times` (its last
///   field): a file event of 3 or 4 is read with that field's `None` after it, one of 1 or 2
///   with two (`content`'s and `times`').
/// - 6 added `NetAction::Socket` and `NetAction::Filter` (at the end of their enum),
///   `SocketAddress::Link` (likewise) and `NetworkEvent::socket_type` and `filter` (its last
///   two fields): a network event of 1 to 5 is read with their two `None`s after it.
/// - 7 added `NetAction::Close` and `Traffic` (at the end of its enum) and
///   `NetworkEvent::traffic` (its last field): a network event of 6 is read with that field's
///   `None` after it, one of 1 to 5 with three.
/// - 8 added `Traffic::found_open`, the last field of a network event's last field when that
///   is `Some`: a network event of 7 is read with a `false` after it when its `traffic` is
///   `Some`. Whether it is cannot be told from the bytes' start, so the event is read with that
///   byte after it, and a byte left over is that padding (see [`Event::decode`]).
/// - 9 added `FilterProgram` and `NetworkEvent::filter_program` (its last field): a network
///   event of 8 is read with that field's `None` after it; one of 7 with two zero bytes, the
///   first its traffic's `found_open` if it has traffic, else left over. And
///   `Source::SockDiag`, at the end of its enum.
/// - 10 added `NetAction::DnsQuery` and `DnsAnswer` (at the end of its enum), `DnsMessage`,
///   `Icmp`, and `NetworkEvent::dns`, `remote_name` and `icmp` (its last three fields): a
///   network event of 9 is read with those fields' three `None`s after it, one of 8 with four
///   zero bytes, and so on.
/// - 11 added `NetAction::TlsHello` and `HttpRequest` (at the end of its enum), `TlsHello`,
///   `HttpRequest`, and `NetworkEvent::tls` and `http` (its last two fields): a network event
///   of 10 is read with their two `None`s after it, and so on.
/// - 12 added `NetAction::TlsHelloReceived` and `HttpRequestReceived` (at the end of its
///   enum): encoding 11 is read as 12, as 1 is as 2.
/// - 13 added `NetAction::SshHello` and `SshHelloReceived` (at the end of its enum),
///   `SshHello` and `NetworkEvent::ssh` (its last field): a network event of 11 or 12 is read
///   with that field's `None` after it, and so on.
/// - 14 added `NetAction::TlsServerHello`, `HttpResponse`, `SshServerHello`, `ServerBanner`
///   and their `…Sent` (at the end of its enum), `TlsServerHello`, `HttpResponse`, and
///   `NetworkEvent::server_hello`, `response` and `banner` (its last three fields): a network
///   event of 13 is read with their three `None`s after it, and so on.
pub const EVENT_ENCODING: u8 = 14;

/// The encodings this build reads: its own, and earlier ones it can read as its own.
const READABLE: [u8; 14] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, EVENT_ENCODING];

/// `EventKind::Exec`'s variant index.
const EXEC_VARIANT: u64 = 0;
/// `EventKind::Network`'s variant index.
const NETWORK_VARIANT: u64 = 3;
/// `EventKind::File`'s variant index.
const FILE_VARIANT: u64 = 4;

impl Event {
    /// Appends the event's binary form to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        // Writing to a Vec cannot fail, and every type in the model is serializable.
        let taken = std::mem::take(out);
        *out = postcard::to_extend(self, taken).expect("events always encode");
    }

    /// The event whose binary form ([`Event::encode_into`], encoding `encoding`) is `bytes`,
    /// which must hold nothing else.
    pub fn decode(encoding: u8, bytes: &[u8]) -> Result<Event, String> {
        if !READABLE.contains(&encoding) {
            return Err(format!(
                "event encoding {encoding} (this build reads encodings {READABLE:?})"
            ));
        }
        let (bytes, padding) = as_current(encoding, bytes);
        match postcard::take_from_bytes::<Event>(&bytes) {
            // Zero bytes appended for a field the event turned out not to have (an older
            // network event's found_open, with no traffic) are left over.
            Ok((event, rest)) if rest.len() <= padding => Ok(event),
            Ok((_, rest)) => Err(format!("{} bytes after the event", rest.len() - padding)),
            Err(e) => Err(format!("undecodable event: {e}")),
        }
    }
}

/// An event's bytes of `encoding` as this build's, and how many zero bytes were appended: an
/// event whose kind gained last fields since lacks them, and did not have them (`None`,
/// `false`: one zero byte each) — a file event before 3 its `content` and `times`, before 5
/// its `times`; an exec event before 4 its `script`; a network event before 6 its
/// `socket_type`, `filter` and `traffic`, before 7 its `traffic`, before 8 its traffic's
/// `found_open` (which only an event with traffic reads), before 9 its `filter_program`,
/// before 10 its `dns`, `remote_name` and `icmp`, before 11 its `tls` and `http`, before 13
/// its `ssh`, before 14 its `server_hello`, `response` and `banner`. Its kind is read from the bytes' start, as postcard lays an event out: the
/// time (a varint), the host (a varint length and
/// the bytes), then the kind's variant index (a varint).
fn as_current(encoding: u8, bytes: &[u8]) -> (Cow<'_, [u8]>, usize) {
    let fields_since = |added_in: &[u8]| added_in.iter().filter(|&&e| encoding < e).count();
    let missing = match kind_variant(bytes) {
        Some(FILE_VARIANT) => fields_since(&[3, 5]),
        Some(EXEC_VARIANT) => fields_since(&[4]),
        Some(NETWORK_VARIANT) => fields_since(&[6, 6, 7, 8, 9, 10, 10, 10, 11, 11, 13, 14, 14, 14]),
        _ => 0,
    };
    if missing == 0 {
        return (Cow::Borrowed(bytes), 0);
    }
    let mut upgraded = bytes.to_vec();
    upgraded.resize(bytes.len() + missing, 0);
    (Cow::Owned(upgraded), missing)
}

/// The variant index of the kind of the event encoded in `bytes`; None if they end first.
fn kind_variant(bytes: &[u8]) -> Option<u64> {
    fn varint(rest: &mut &[u8]) -> Option<u64> {
        let mut value = 0u64;
        for (i, &byte) in rest.iter().enumerate().take(10) {
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                *rest = &rest[i + 1..];
                return Some(value);
            }
        }
        None
    }
    let mut rest = bytes;
    varint(&mut rest)?;
    let host_len = usize::try_from(varint(&mut rest)?).ok()?;
    rest = rest.get(host_len..)?;
    varint(&mut rest)
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv6Addr};

    use super::*;
    use crate::{
        BootId, EventKind, ExecEvent, Executable, ExitEvent, FileAction, FileEvent, ForkEvent,
        LossEvent, NetAction, NetworkEvent, Parent, Process, ProcessKey, Script, SocketAddress,
        Source,
    };

    fn key(pid: u32) -> Option<ProcessKey> {
        Some(ProcessKey {
            boot: BootId([7; 16]),
            pid,
            start_ticks: u64::MAX - u64::from(pid),
        })
    }

    /// A process with every field set, odd bytes included.
    fn full_process() -> Process {
        Process {
            key: key(4242),
            pid: 4242,
            ppid: Some(1),
            original_ppid: Some(4000),
            start_ns: Some(-5),
            uid: Some(1000),
            euid: Some(0),
            gid: Some(u32::MAX),
            egid: Some(0),
            user_name: Some("bob".into()),
            euser_name: Some("root".into()),
            group_name: Some("staff".into()),
            auid: Some(1000),
            session_id: Some(3),
            tty: Some("pts/0".into()),
            comm: Some("a\nb".into()),
            exe: Some(b"/tmp/x\xff y".to_vec()),
            args: vec![b"x".to_vec(), b"".to_vec(), b"\"q\" \xfe".to_vec()].into(),
            cwd: Some(b"/home/bob".to_vec()),
            executable: Some(Executable {
                sha256: Some("ab".repeat(32)),
                size: Some(u64::MAX),
                inode: Some(12),
                device: Some(0x803),
                owner_uid: Some(0),
                owner_gid: Some(0),
                mode: Some(0o100755),
                mtime_ns: Some(i64::MIN),
                ctime_ns: Some(i64::MAX),
                package: Some("coreutils".into()),
                package_verified: Some(false),
                build_id: Some("0f".into()),
                origin_url: Some("https://example.invalid/x".into()),
                referrer_url: Some("https://example.invalid/".into()),
            }),
            container_id: Some("c0ffee".into()),
            parent: Some(Parent {
                key: key(1),
                pid: 1,
                exe: Some(b"/sbin/init".to_vec()),
                args: vec![b"init".to_vec()].into(),
            }),
        }
    }

    /// One event of every kind and variant the model has.
    fn every_kind() -> Vec<Event> {
        let p = full_process;
        let mut kinds = vec![
            EventKind::Exec(ExecEvent {
                process: p(),
                source: Source::Ebpf,
                syscall: Some("execveat".into()),
                success: false,
                exit: Some(-2),
                script: None,
            }),
            EventKind::Exec(ExecEvent {
                process: p(),
                source: Source::Ebpf,
                syscall: None,
                success: true,
                exit: None,
                script: Some(Box::new(Script {
                    path: b"/tmp/stage\xff (deleted)".to_vec(),
                    file: Some(Executable {
                        sha256: Some("5c".repeat(32)),
                        package: Some("dash".into()),
                        ..Executable::default()
                    }),
                })),
            }),
            EventKind::Fork(ForkEvent { child: p() }),
            EventKind::Exit(ExitEvent {
                process: Process::default(),
                exit_code: Some(-1),
                signal: Some(9),
                duration_ns: Some(1),
            }),
            EventKind::Loss(LossEvent {
                source: "store".into(),
                cause: "queue_full".into(),
                count: 1 << 40,
            }),
        ];
        let ends = [
            SocketAddress::Ip {
                addr: IpAddr::V6(Ipv6Addr::LOCALHOST),
                port: 443,
            },
            SocketAddress::Ip {
                addr: "127.0.0.1".parse().unwrap(),
                port: 0,
            },
            SocketAddress::Unix {
                path: b"sock\0et".to_vec(),
                abstract_name: true,
            },
            SocketAddress::UnixUnnamed,
            SocketAddress::Other { family: 16 },
            SocketAddress::Link {
                ifindex: 1,
                interface: Some("lo".into()),
                protocol: 3,
            },
        ];
        for (action, end) in NetAction::ALL.into_iter().zip(ends.iter().cycle()) {
            kinds.push(EventKind::Network(NetworkEvent {
                process: p(),
                action,
                source: Source::Audit,
                syscall: Some("connect".into()),
                family: Some(10),
                transport: Some("tcp".into()),
                local: Some(end.clone()),
                remote: Some(SocketAddress::UnixUnnamed),
                fd: Some(3),
                success: true,
                exit: Some(0),
                errno: Some("EINPROGRESS".into()),
                socket_type: (action == NetAction::Socket).then(|| "raw".into()),
                filter: (action == NetAction::Filter).then(|| crate::SocketFilter {
                    option: "SO_ATTACH_FILTER".into(),
                    instructions: Some(2),
                }),
                filter_program: (action == NetAction::Filter).then(|| {
                    crate::FilterProgram::Classic(vec![
                        crate::ClassicInstruction {
                            code: 0x28,
                            jt: 0,
                            jf: 0,
                            k: 12,
                        },
                        crate::ClassicInstruction {
                            code: 0x15,
                            jt: 1,
                            jf: 255,
                            k: u32::MAX,
                        },
                    ])
                }),
                traffic: matches!(action, NetAction::Close | NetAction::Traffic).then(|| {
                    crate::Traffic {
                        incoming: true,
                        duration_ns: 1 << 40,
                        state: "LAST_ACK".into(),
                        bytes_sent: u64::MAX,
                        bytes_received: 0,
                        bytes_retransmitted: 7,
                        segments_sent: 3,
                        segments_received: 4,
                        found_open: true,
                    }
                }),
                dns: matches!(action, NetAction::DnsQuery | NetAction::DnsAnswer).then(|| {
                    Box::new(crate::DnsMessage {
                        id: 0xbeef,
                        question: Some(crate::DnsQuestion {
                            name: "example.com".into(),
                            record_type: "A".into(),
                        }),
                        response_code: (action == NetAction::DnsAnswer).then(|| "NOERROR".into()),
                        answers: vec![crate::DnsRecord {
                            name: "example.com".into(),
                            record_type: "A".into(),
                            ttl: 300,
                            data: "192.0.2.7".into(),
                        }],
                        cut: true,
                    })
                }),
                remote_name: (action == NetAction::Connect).then(|| "c2.example".into()),
                icmp: (action == NetAction::Send).then_some(crate::Icmp { kind: 8, code: 0 }),
                tls: matches!(action, NetAction::TlsHello | NetAction::TlsHelloReceived).then(
                    || {
                        Box::new(crate::TlsHello {
                            server_name: Some("c2.example".into()),
                            alpn: vec!["h2".into(), "http/1.1".into()],
                            version: "1.3".into(),
                            ja4: "t13d1516h2_8daaf6152771_e5627efa2ab1".into(),
                            ja3: "0123456789abcdef0123456789abcdef".into(),
                            cut: true,
                        })
                    },
                ),
                http: matches!(
                    action,
                    NetAction::HttpRequest | NetAction::HttpRequestReceived
                )
                .then(|| {
                    Box::new(crate::HttpRequest {
                        method: "GET".into(),
                        target: "/stage2.sh?x=\"1\"".into(),
                        version: "1.1".into(),
                        host: Some("files.example:8080".into()),
                        user_agent: None,
                        cut: false,
                    })
                }),
                ssh: matches!(
                    action,
                    NetAction::SshHello
                        | NetAction::SshHelloReceived
                        | NetAction::SshServerHello
                        | NetAction::SshServerHelloSent
                )
                .then(|| {
                    Box::new(crate::SshHello {
                        identification: "SSH-2.0-Go".into(),
                        software: "Go".into(),
                        comments: None,
                        hassh: Some("8a8ae540028bf433cd68356c1b9e8d5b".into()),
                        hassh_algorithms: Some("a;b;c;d".into()),
                        cut: false,
                    })
                }),
                server_hello: matches!(
                    action,
                    NetAction::TlsServerHello | NetAction::TlsServerHelloSent
                )
                .then(|| {
                    Box::new(crate::TlsServerHello {
                        version: "1.3".into(),
                        cipher: 0x1301,
                        alpn: Some("h2".into()),
                        ja3s: "f4febc55ea12b31ae17cfb7e614afda8".into(),
                        ja3s_text: "771,4865,43-51".into(),
                    })
                }),
                response: matches!(
                    action,
                    NetAction::HttpResponse | NetAction::HttpResponseSent
                )
                .then(|| {
                    Box::new(crate::HttpResponse {
                        version: "1.1".into(),
                        status: 302,
                        reason: "Found \"x\"".into(),
                        content_type: Some("application/x-sh".into()),
                        content_length: Some(u64::MAX),
                        location: Some("http://stage2.example/x".into()),
                        server: None,
                        cut: true,
                    })
                }),
                banner: matches!(
                    action,
                    NetAction::ServerBanner | NetAction::ServerBannerSent
                )
                .then(|| {
                    Box::new(crate::ServerBanner {
                        line: "220 mx.example ESMTP \"x\"".into(),
                        protocol: Some("smtp".into()),
                    })
                }),
            }));
        }
        // A filter that is an eBPF program.
        let Some(EventKind::Network(classic)) = kinds
            .iter()
            .find(|k| matches!(k, EventKind::Network(n) if n.action == NetAction::Filter))
        else {
            unreachable!("a filter event was made above")
        };
        let mut ebpf = classic.clone();
        ebpf.filter = Some(crate::SocketFilter {
            option: "SO_ATTACH_BPF".into(),
            instructions: None,
        });
        ebpf.filter_program = Some(crate::FilterProgram::Ebpf(crate::EbpfProgram {
            id: 4242,
            tag: [0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 3],
            name: "sniff".into(),
            instructions: 1_000_000,
        }));
        kinds.push(EventKind::Network(ebpf));
        for (action, source) in FileAction::ALL.into_iter().zip(
            [Source::Fanotify, Source::ProcScan, Source::ProcConnector]
                .iter()
                .cycle(),
        ) {
            kinds.push(EventKind::File(FileEvent {
                process: p(),
                action,
                source: *source,
                syscall: None,
                path: b"/tmp/new\xff".to_vec(),
                old_path: Some(b"/tmp/old".to_vec()),
                target_path: Some(Vec::new()),
                inode: Some(9),
                device: None,
                mode: Some(0o644),
                owner_uid: Some(1),
                owner_gid: Some(2),
                is_dir: Some(true),
                watch: Some("ssh".into()),
                success: false,
                exit: Some(-13),
                content: (action == FileAction::CloseWrite).then(|| {
                    Box::new(Executable {
                        sha256: Some("9f".repeat(32)),
                        size: Some(4),
                        origin_url: Some("http://127.0.0.1/x".into()),
                        ..Executable::default()
                    })
                }),
                times: (action == FileAction::Times).then_some(crate::FileTimes {
                    accessed: Some(crate::TimeSet::Now),
                    modified: Some(crate::TimeSet::At(-1_000_000_001)),
                }),
            }));
        }
        kinds
            .into_iter()
            .enumerate()
            .map(|(i, kind)| Event {
                time_ns: 1_795_816_800_123_456_789 + i as i64,
                host: "host-é".into(),
                kind,
            })
            .collect()
    }

    fn encoded(event: &Event) -> Vec<u8> {
        let mut out = b"prefix".to_vec();
        event.encode_into(&mut out);
        assert_eq!(&out[..6], b"prefix", "encoding appends");
        out.split_off(6)
    }

    #[test]
    fn every_kind_of_event_decodes_to_itself_and_to_the_same_json() {
        for event in every_kind() {
            let bytes = encoded(&event);
            let back = Event::decode(EVENT_ENCODING, &bytes).unwrap();
            assert_eq!(back, event);
            assert_eq!(crate::to_ecs_line(&back), crate::to_ecs_line(&event));
        }
    }

    /// An event as `encoding` stored it: a file event before 5 without its times, before 3
    /// without its content too; an exec event before 4 without its script; a network event
    /// before 7 without its end, before 6 without its socket type and filter too; before 9
    /// without its filter's program; before 10 without its DNS message.
    fn encoded_as(encoding: u8, event: &Event) -> Vec<u8> {
        let mut bytes = encoded(event);
        if let EventKind::Network(n) = &event.kind
            && encoding < 13
        {
            assert!(n.ssh.is_none(), "no SSH hello before encoding 13");
            assert_eq!(bytes.pop(), Some(0), "ssh's None ends it");
        }
        if let EventKind::Network(n) = &event.kind
            && encoding < 11
        {
            assert!(n.tls.is_none(), "no ClientHello before encoding 11");
            assert!(n.http.is_none(), "no HTTP request before encoding 11");
            assert_eq!(bytes.pop(), Some(0), "http's None ends it");
            assert_eq!(bytes.pop(), Some(0), "tls's None before it");
        }
        if let EventKind::Network(n) = &event.kind
            && encoding < 10
        {
            assert!(n.dns.is_none(), "no DNS message before encoding 10");
            assert!(n.remote_name.is_none(), "no name before encoding 10");
            assert!(n.icmp.is_none(), "no ICMP head before encoding 10");
            assert_eq!(bytes.pop(), Some(0), "icmp's None ends it");
            assert_eq!(bytes.pop(), Some(0), "remote_name's None before it");
            assert_eq!(bytes.pop(), Some(0), "dns's None before it");
        }
        if let EventKind::Network(n) = &event.kind
            && encoding < 9
        {
            assert!(n.filter_program.is_none(), "no program before encoding 9");
            assert_eq!(bytes.pop(), Some(0), "filter_program's None ends it");
        }
        match &event.kind {
            EventKind::File(f) if encoding < 5 => {
                assert!(f.times.is_none(), "no times before encoding 5");
                assert_eq!(bytes.pop(), Some(0), "times' None ends a file event");
                if encoding < 3 {
                    assert!(f.content.is_none(), "no content before encoding 3");
                    assert_eq!(bytes.pop(), Some(0), "content's None came before");
                }
            }
            EventKind::Exec(e) if encoding < 4 => {
                assert!(e.script.is_none(), "no script before encoding 4");
                assert_eq!(bytes.pop(), Some(0), "script's None ends an exec event");
            }
            EventKind::Network(n) if encoding == 7 => {
                if let Some(traffic) = &n.traffic {
                    assert!(!traffic.found_open, "not found open before encoding 8");
                    assert_eq!(bytes.pop(), Some(0), "found_open's false ends it");
                }
            }
            EventKind::Network(n) if encoding < 7 => {
                assert!(n.traffic.is_none(), "no traffic before encoding 7");
                assert_eq!(bytes.pop(), Some(0), "traffic's None ends a network event");
                if encoding < 6 {
                    assert!(n.socket_type.is_none() && n.filter.is_none());
                    assert_eq!(bytes.pop(), Some(0), "filter's None came before");
                    assert_eq!(bytes.pop(), Some(0), "socket_type's None before it");
                }
            }
            _ => {}
        }
        bytes
    }

    /// An event as it could be before `encoding`: without the fields added since.
    fn as_before(encoding: u8, mut event: Event) -> Event {
        if let EventKind::Network(n) = &mut event.kind
            && encoding < 14
        {
            n.server_hello = None;
            n.response = None;
            n.banner = None;
            if n.action.is_answer() {
                // No such actions before 14.
                n.action = NetAction::Connect;
            }
        }
        if let EventKind::Network(n) = &mut event.kind
            && encoding < 13
        {
            n.ssh = None;
            if matches!(n.action, NetAction::SshHello | NetAction::SshHelloReceived) {
                // No such actions before 13.
                n.action = NetAction::Connect;
            }
        }
        if let EventKind::Network(n) = &mut event.kind
            && encoding < 12
        {
            // No received requests before 12.
            n.action = match n.action {
                NetAction::TlsHelloReceived => NetAction::TlsHello,
                NetAction::HttpRequestReceived => NetAction::HttpRequest,
                action => action,
            };
        }
        if let EventKind::Network(n) = &mut event.kind
            && encoding < 11
        {
            n.tls = None;
            n.http = None;
            if matches!(n.action, NetAction::TlsHello | NetAction::HttpRequest) {
                // No such actions before 11.
                n.action = NetAction::Connect;
            }
        }
        if let EventKind::Network(n) = &mut event.kind
            && encoding < 10
        {
            n.dns = None;
            n.remote_name = None;
            n.icmp = None;
            if matches!(n.action, NetAction::DnsQuery | NetAction::DnsAnswer) {
                // No such actions before 10.
                n.action = NetAction::Send;
            }
        }
        if let EventKind::Network(n) = &mut event.kind
            && encoding < 9
        {
            n.filter_program = None;
        }
        match &mut event.kind {
            EventKind::File(f) if encoding < 5 => {
                f.times = None;
                if f.action == FileAction::Times {
                    // No such action before 5.
                    f.action = FileAction::Attrib;
                }
                if encoding < 3 {
                    f.content = None;
                }
            }
            EventKind::Exec(e) if encoding < 4 => e.script = None,
            EventKind::Network(n) if encoding == 7 => {
                if let Some(traffic) = &mut n.traffic {
                    traffic.found_open = false;
                }
            }
            EventKind::Network(n) if encoding < 7 => {
                n.traffic = None;
                if matches!(n.action, NetAction::Close | NetAction::Traffic) {
                    // No such action before 7.
                    n.action = NetAction::Accept;
                }
                if encoding < 6 {
                    n.socket_type = None;
                    n.filter = None;
                    if matches!(n.action, NetAction::Socket | NetAction::Filter) {
                        // No such actions before 6.
                        n.action = NetAction::Bind;
                    }
                    if matches!(n.local, Some(SocketAddress::Link { .. })) {
                        n.local = Some(SocketAddress::Other { family: 17 });
                    }
                }
            }
            _ => {}
        }
        event
    }

    #[test]
    fn what_earlier_encodings_stored_reads_the_same() {
        // Encoding 2 only added a variant at the end of an enum: 1's bytes are 2's. Encoding 3
        // added a file event's content at its end, 4 an exec event's script at its end, 5 a
        // file event's times after its content, 6 a network event's socket type and filter, 7
        // its end, 8 whether that connection was found open, 9 a filter's program, 10 a DNS
        // message, a name and an ICMP head, 11 a ClientHello and an HTTP request; 12 only
        // variants at the end of an enum, as 2 did; 13 an SSH hello.
        for encoding in [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12] {
            for event in every_kind() {
                let event = as_before(encoding, event);
                let bytes = encoded_as(encoding, &event);
                assert_eq!(
                    Event::decode(encoding, &bytes).unwrap(),
                    event,
                    "{encoding}"
                );
                let grew = match &event.kind {
                    EventKind::File(_) => encoding < 5,
                    EventKind::Exec(_) => encoding < 4,
                    EventKind::Network(_) => true,
                    _ => false,
                };
                if grew {
                    assert!(Event::decode(EVENT_ENCODING, &bytes).is_err());
                }
            }
        }
        let mut result = every_kind()
            .into_iter()
            .find(|e| matches!(e.kind, EventKind::Network(_)))
            .expect("a network event");
        if let EventKind::Network(n) = &mut result.kind {
            n.action = crate::NetAction::ConnectResult;
        }
        let bytes = encoded(&result);
        assert_eq!(Event::decode(EVENT_ENCODING, &bytes).unwrap(), result);
    }

    #[test]
    fn the_kind_is_read_from_the_bytes_start() {
        for event in every_kind() {
            let variant = kind_variant(&encoded(&event));
            let is_file = matches!(event.kind, EventKind::File(_));
            assert_eq!(variant == Some(FILE_VARIANT), is_file, "{event:?}");
            let is_exec = matches!(event.kind, EventKind::Exec(_));
            assert_eq!(variant == Some(EXEC_VARIANT), is_exec, "{event:?}");
        }
        assert_eq!(kind_variant(&[]), None);
        assert_eq!(kind_variant(&[0x80; 12]), None);
        assert_eq!(
            kind_variant(&[2, 200, 1]),
            None,
            "a host longer than the bytes"
        );
    }

    #[test]
    fn the_stored_form_is_compact() {
        let event = &every_kind()[0];
        let bytes = encoded(event);
        let json = crate::to_ecs_line(event);
        assert!(
            bytes.len() * 2 < json.len(),
            "{} bytes encoded vs {} of JSON",
            bytes.len(),
            json.len()
        );
    }

    #[test]
    fn damaged_or_foreign_bytes_are_errors() {
        let event = &every_kind()[0];
        let bytes = encoded(event);
        for cut in 0..bytes.len() {
            assert!(
                Event::decode(EVENT_ENCODING, &bytes[..cut]).is_err(),
                "cut {cut}"
            );
        }
        let mut longer = bytes.clone();
        longer.push(0);
        let err = Event::decode(EVENT_ENCODING, &longer).unwrap_err();
        assert!(err.contains("1 bytes after"), "{err}");
        let err = Event::decode(EVENT_ENCODING + 1, &bytes).unwrap_err();
        assert!(
            err.contains(&format!("encoding {}", EVENT_ENCODING + 1)),
            "{err}"
        );
        assert!(err.contains(&format!("{EVENT_ENCODING}]")), "{err}");
        for byte in 0..=255u8 {
            let _ = Event::decode(EVENT_ENCODING, &[byte; 64]);
        }
    }

    proptest::proptest! {
        /// Whatever a damaged store hands the decoder, it answers with an event or an error.
        #[test]
        fn any_bytes_decode_without_panic(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512),
        ) {
            let _ = Event::decode(EVENT_ENCODING, &bytes);
        }

        /// An encoded event with some bytes changed: an event or an error, never a panic (and
        /// no allocation of what a changed length claims).
        #[test]
        fn damaged_events_decode_without_panic(
            kind in 0..20usize,
            changes in proptest::collection::vec(
                (proptest::prelude::any::<usize>(), proptest::prelude::any::<u8>()),
                1..8,
            ),
        ) {
            let events = every_kind();
            let mut bytes = encoded(&events[kind % events.len()]);
            for (at, byte) in changes {
                let at = at % bytes.len();
                bytes[at] = byte;
            }
            let _ = Event::decode(EVENT_ENCODING, &bytes);
        }
    }

    /// The stored form of one event, pinned: if this fails, a stored type changed shape, and
    /// events already in stores would no longer decode. Bump [`EVENT_ENCODING`] and keep a reader
    /// for the old encoding (see the module comment), then update the bytes here.
    #[test]
    fn the_encoding_of_the_model_is_pinned() {
        let event = Event {
            time_ns: 1,
            host: "h".into(),
            kind: EventKind::Network(NetworkEvent {
                process: Process {
                    key: key(2),
                    pid: 2,
                    exe: Some(b"/e".to_vec()),
                    args: vec![b"a".to_vec()].into(),
                    executable: Some(Executable {
                        referrer_url: Some("r".into()),
                        ..Executable::default()
                    }),
                    parent: Some(Parent::default()),
                    ..Process::default()
                },
                action: NetAction::Accept,
                source: Source::Fanotify,
                syscall: None,
                family: Some(2),
                transport: None,
                local: Some(SocketAddress::Ip {
                    addr: "127.0.0.1".parse().unwrap(),
                    port: 80,
                }),
                remote: None,
                fd: Some(-1),
                success: true,
                exit: None,
                errno: None,
                socket_type: Some("raw".into()),
                filter: Some(crate::SocketFilter {
                    option: "o".into(),
                    instructions: Some(1),
                }),
                traffic: None,
                filter_program: Some(crate::FilterProgram::Classic(vec![
                    crate::ClassicInstruction {
                        code: 6,
                        jt: 1,
                        jf: 2,
                        k: 3,
                    },
                ])),
                dns: None,
                remote_name: None,
                icmp: None,
                tls: None,
                http: None,
                ssh: None,
                server_hello: None,
                response: None,
                banner: None,
            }),
        };
        let hex: String = encoded(&event).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "02016803010707070707070707070707070707070702fdffffffffffffffff0102000000000000000000000000\
             000001022f650101610001000000000000000000000000000101720001000000000104000102000100007f00\
             000150000101010000010372617701016f01010001000106010203000000000000000000"
        );
    }

    /// The same for an exec event, whose last field (encoding 4's `script`) ends the bytes.
    #[test]
    fn the_encoding_of_an_exec_event_is_pinned() {
        let event = Event {
            time_ns: 1,
            host: "h".into(),
            kind: EventKind::Exec(ExecEvent {
                process: Process {
                    pid: 2,
                    ..Process::default()
                },
                source: Source::Ebpf,
                syscall: None,
                success: true,
                exit: None,
                script: Some(Box::new(Script {
                    path: b"/s".to_vec(),
                    file: Some(Executable {
                        sha256: Some("ab".into()),
                        ..Executable::default()
                    }),
                })),
            }),
        };
        let hex: String = encoded(&event).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "02016800000200000000000000000000000000000000000000000200010001022f7301010261620000000000\
             0000000000000000"
        );
    }

    /// The same for a file event, whose last fields (encoding 3's `content`, 5's `times`) end
    /// the bytes.
    #[test]
    fn the_encoding_of_a_file_event_is_pinned() {
        let event = Event {
            time_ns: 1,
            host: "h".into(),
            kind: EventKind::File(FileEvent {
                inode: Some(3),
                is_dir: Some(false),
                content: Some(Box::new(Executable {
                    sha256: Some("ab".into()),
                    size: Some(4),
                    ..Executable::default()
                })),
                times: Some(crate::FileTimes {
                    accessed: None,
                    modified: Some(crate::TimeSet::At(3)),
                }),
                ..FileEvent::new(
                    Process {
                        pid: 2,
                        ..Process::default()
                    },
                    FileAction::CloseWrite,
                    Source::Fanotify,
                    b"/f".to_vec(),
                )
            }),
        };
        let hex: String = encoded(&event).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "0201680400020000000000000000000000000000000000000000030400022f66000001030000000001000001\
             00010102616201040000000000000000000000000100010106"
        );
    }
}

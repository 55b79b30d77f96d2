//! Network fixture tests: connect/accept/bind/listen/sendto records recorded from the real kernel
//! (`fixtures/kernel-net.txt`, see `fixtures/record-net.py`) through parse → assemble → NetEvent,
//! and property tests of `parse_sockaddr`.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;

use warden_sources::audit::EventEnd;
use warden_sources::audit::exec::arch;
use warden_sources::audit::net::{
    AddrRole, NetCall, NetError, NetEvent, SockAddr, UnixAddr, family, parse_sockaddr,
};

mod common;

const KERNEL_NET: &str = include_str!("fixtures/kernel-net.txt");

/// What the activity reported (ports it got from the kernel, pids), from the `# activity:` line.
fn activity() -> BTreeMap<&'static str, &'static str> {
    let line = KERNEL_NET
        .lines()
        .find_map(|l| l.strip_prefix("# activity: "))
        .unwrap();
    line.split(' ')
        .map(|kv| kv.split_once('=').unwrap())
        .collect()
}

fn num<T: std::str::FromStr>(a: &BTreeMap<&str, &str>, k: &str) -> T
where
    T::Err: std::fmt::Debug,
{
    a[k].parse().unwrap()
}

fn v4(port: u16) -> Option<SockAddr> {
    Some(SockAddr::Inet {
        addr: Ipv4Addr::LOCALHOST,
        port,
    })
}

fn v6(port: u16) -> String {
    format!("[::1]:{port}")
}

#[test]
fn every_event_is_complete_and_a_net_event() {
    let evs = common::events(KERNEL_NET);
    assert_eq!(evs.len(), 27);
    for e in &evs {
        assert_eq!(e.end, EventEnd::Eoe);
        let n = NetEvent::from_event(e).unwrap();
        assert!(n.complete && n.has_key(b"wardennet"), "{n:?}");
        assert_eq!(
            (n.subject.uid, n.subject.euid, n.subject.gid, n.subject.egid),
            (0, 0, 0, 0)
        );
        assert_eq!((n.subject.auid, n.subject.ses), (None, None));
    }
}

#[test]
#[cfg(target_endian = "little")]
fn kernel_net_views() {
    let a = activity();
    let pid: u32 = num(&a, "pid");
    let n: Vec<NetEvent> = common::events(KERNEL_NET)
        .iter()
        .map(|e| NetEvent::from_event(e).unwrap())
        .collect();
    let calls: Vec<&str> = n.iter().map(|e| e.call.name()).collect();
    assert_eq!(
        calls,
        [
            "bind", "listen", "connect", "accept4", "connect", "accept", // TCP v4
            "bind", "listen", "connect", "accept4", // TCP v6
            "bind", "connect", // refused
            "bind", "bind", "sendto", "sendmsg", "recvfrom", // UDP
            "bind", "listen", "connect", "accept", // Unix path
            "bind", "listen", "connect", "accept4", // abstract
            "connect", "connect", // i386 socketcall, i386 connect
        ]
    );
    for e in &n[..25] {
        assert_eq!((e.subject.pid, e.arch), (pid, arch::X86_64));
        assert_eq!(e.subject.comm.as_deref(), Some(&b"python3"[..]));
        assert_eq!(
            e.success,
            Some(e.call != NetCall::Connect || e.exit == Some(0))
        );
    }

    // TCP over IPv4: bind to port 0, listen has only the fd, connect names the listener,
    // accept4 and accept name the PEER (the client's ephemeral port).
    let tcp4: u16 = num(&a, "tcp4_port");
    assert_eq!(
        (n[0].local(), n[0].fd, n[0].remote()),
        (v4(0).as_ref(), Some(3), None)
    );
    assert_eq!(n[0].syscall, 49);
    assert_eq!(
        (n[1].addr_role(), &n[1].addr, n[1].fd),
        (AddrRole::None, &None, Some(3))
    );
    assert_eq!((n[2].remote(), n[2].fd), (v4(tcp4).as_ref(), Some(4)));
    assert_eq!(n[3].remote(), v4(num(&a, "tcp4_client_port")).as_ref());
    assert_eq!((n[3].syscall, n[3].fd, n[3].exit), (288, Some(3), Some(5)));
    assert_eq!(n[4].remote(), v4(tcp4).as_ref());
    assert_eq!(n[5].remote(), v4(num(&a, "tcp4_client2_port")).as_ref());
    assert_eq!((n[5].syscall, n[5].exit), (43, Some(5)));

    // TCP over IPv6.
    let s = |e: &NetEvent| e.addr.as_ref().unwrap().to_string();
    assert_eq!(n[6].addr.as_ref().unwrap().family(), family::INET6);
    assert_eq!(
        n[6].local().unwrap().ip(),
        Some(IpAddr::V6(Ipv6Addr::LOCALHOST))
    );
    assert_eq!(s(&n[6]), v6(0));
    assert_eq!(s(&n[8]), v6(num(&a, "tcp6_port")));
    assert_eq!(s(&n[9]), v6(num(&a, "tcp6_client_port")));

    // The refused connect still names its target.
    let r = &n[11];
    assert_eq!(
        (r.success, r.exit, r.errno),
        (Some(false), Some(-111), Some("ECONNREFUSED"))
    );
    assert_eq!(r.remote(), v4(num(&a, "refused_port")).as_ref());
    assert!(n.iter().filter(|e| e.errno.is_some()).count() == 3);

    // UDP: sendto and sendmsg name the receiver, recvfrom the sender.
    let rx: u16 = num(&a, "udp_rx_port");
    assert_eq!((n[14].remote(), n[14].exit), (v4(rx).as_ref(), Some(4)));
    assert_eq!((n[15].remote(), n[15].exit), (v4(rx).as_ref(), Some(4)));
    assert_eq!(n[16].remote(), v4(num(&a, "udp_tx_port")).as_ref());

    // Unix socket with a path; accept(fd, NULL, NULL) has no SOCKADDR at all.
    let path = a["unix_path"].as_bytes();
    assert_eq!(n[17].local().unwrap().unix_path().as_deref(), Some(path));
    assert_eq!(n[19].remote().unwrap().unix_path().as_deref(), Some(path));
    assert_eq!((&n[20].addr, &n[20].addr_raw), (&None, &None));

    // Abstract socket: "@name"; its accepted peer is unnamed.
    assert_eq!(
        n[21].local().unwrap().unix_path().unwrap(),
        b"@warden-net-fixture"
    );
    assert_eq!(s(&n[23]), "unix:@warden-net-fixture");
    assert_eq!(n[24].addr, Some(SockAddr::Unix(UnixAddr::Unnamed)));

    // i386: socketcall(SYS_CONNECT) takes the fd from the SOCKETCALL record; direct connect 362.
    let net32: u32 = num(&a, "net32_pid");
    for (e, syscall, fd) in [(&n[25], 102, 3), (&n[26], 362, 4)] {
        assert_eq!((e.arch, e.syscall, e.fd), (arch::I386, syscall, Some(fd)));
        assert_eq!((e.subject.pid, e.subject.ppid), (net32, pid));
        assert_eq!(e.errno, Some("ECONNREFUSED"));
        assert_eq!(e.remote(), v4(1).as_ref());
        assert_eq!(e.subject.comm.as_deref(), Some(&b"net32"[..]));
    }
}

#[test]
fn a_record_without_syscall_is_no_net_event() {
    let evs = common::events(KERNEL_NET);
    let mut e = evs[0].clone();
    e.records.retain(|r| r.rtype != 1300);
    assert_eq!(NetEvent::from_event(&e), Err(NetError::NoSyscall));
}

proptest! {
    #[test]
    fn parse_sockaddr_never_panics(b in proptest::collection::vec(any::<u8>(), 0..160)) {
        let _ = parse_sockaddr(&b).map(|a| a.to_string());
    }

    #[test]
    fn inet_round_trips(ip in any::<[u8; 4]>(), port in any::<u16>(), zero in any::<bool>()) {
        let mut b = family::INET.to_ne_bytes().to_vec();
        b.extend_from_slice(&port.to_be_bytes());
        b.extend_from_slice(&ip);
        if zero {
            b.extend_from_slice(&[0; 8]);
        }
        let a = parse_sockaddr(&b).unwrap();
        prop_assert_eq!(a.ip(), Some(IpAddr::V4(Ipv4Addr::from(ip))));
        prop_assert_eq!(a.port(), Some(port));
        prop_assert_eq!(a.to_string(), format!("{}:{port}", Ipv4Addr::from(ip)));
    }

    #[test]
    fn inet6_round_trips(
        ip in any::<[u8; 16]>(),
        port in any::<u16>(),
        flow in any::<u32>(),
        scope in any::<u32>(),
    ) {
        let mut b = family::INET6.to_ne_bytes().to_vec();
        b.extend_from_slice(&port.to_be_bytes());
        b.extend_from_slice(&flow.to_be_bytes());
        b.extend_from_slice(&ip);
        b.extend_from_slice(&scope.to_ne_bytes());
        let a = parse_sockaddr(&b).unwrap();
        prop_assert_eq!(
            a,
            SockAddr::Inet6 { addr: Ipv6Addr::from(ip), port, flowinfo: flow, scope_id: scope }
        );
    }
}

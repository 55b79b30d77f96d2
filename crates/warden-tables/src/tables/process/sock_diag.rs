//! TCP and UDP sockets of this process's network namespace through the kernel's sock_diag
//! netlink interface: one pass over the socket hash tables (a LISTEN-only request skips the
//! established table entirely), where /proc/net/tcp rescans it on every read.

use netlink_packet_core::{
    NLM_F_DUMP, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload,
};
use netlink_packet_sock_diag::SockDiagMessage;
use netlink_packet_sock_diag::inet::{ExtensionFlags, InetRequest, SocketId, StateFlags};
use netlink_sys::protocols::NETLINK_SOCK_DIAG;
use netlink_sys::{Socket, SocketAddr};

use super::sockets::{AF_INET, SocketInfo, tcp_state_name};

/// Dumps the sockets of one family (`AF_INET`/`AF_INET6`) and IP protocol (TCP, UDP,
/// UDP-Lite) in the given states. `None` when sock_diag is unavailable (the caller falls back
/// to /proc/net).
pub(crate) fn dump(
    family: i64,
    protocol: i64,
    states: StateFlags,
    ns: u64,
) -> Option<Vec<SocketInfo>> {
    let mut socket = Socket::new(NETLINK_SOCK_DIAG).ok()?;
    socket.bind_auto().ok()?;
    socket.connect(&SocketAddr::new(0, 0)).ok()?;

    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    let socket_id = if family == AF_INET {
        SocketId::new_v4()
    } else {
        SocketId::new_v6()
    };
    let mut request = NetlinkMessage::new(
        header,
        SockDiagMessage::InetRequest(InetRequest {
            family: u8::try_from(family).ok()?,
            protocol: u8::try_from(protocol).ok()?,
            extensions: ExtensionFlags::empty(),
            states,
            socket_id,
        })
        .into(),
    );
    request.finalize();
    let mut out = vec![0; request.buffer_len()];
    request.serialize(&mut out);
    socket.send(&out, 0).ok()?;

    let mut sockets = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let size = socket.recv(&mut &mut buf[..], 0).ok()?;
        if size == 0 {
            return None;
        }
        let mut offset = 0;
        while offset < size {
            let message =
                NetlinkMessage::<SockDiagMessage>::deserialize(&buf[offset..size]).ok()?;
            let length = message.header.length as usize;
            match message.payload {
                NetlinkPayload::InnerMessage(SockDiagMessage::InetResponse(r)) => {
                    let id = &r.header.socket_id;
                    sockets.push(SocketInfo {
                        inode: u64::from(r.header.inode),
                        family,
                        protocol,
                        local_address: id.source_address.to_string(),
                        local_port: id.source_port,
                        remote_address: id.destination_address.to_string(),
                        remote_port: id.destination_port,
                        path: String::new(),
                        state: if protocol == 6 {
                            tcp_state_name(usize::from(r.header.state)).to_string()
                        } else {
                            String::new()
                        },
                        net_ns: ns,
                    });
                }
                NetlinkPayload::Done(_) => return Some(sockets),
                NetlinkPayload::Error(_) => return None,
                _ => {}
            }
            if length == 0 {
                break;
            }
            offset += length;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tables::process::sockets::AF_INET6;

    #[test]
    fn finds_a_listener_we_open_and_agrees_with_proc() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let Some(found) = dump(AF_INET, 6, StateFlags::LISTEN, 0) else {
            eprintln!("sock_diag unavailable; skipping");
            return;
        };
        let ours = found.iter().find(|s| s.local_port == port).unwrap();
        assert_eq!(ours.local_address, "127.0.0.1");
        assert_eq!(ours.state, "LISTEN");
        assert_eq!(ours.remote_port, 0);
        let proc = std::fs::read_to_string("/proc/net/tcp").unwrap();
        let parsed = crate::tables::process::sockets::parse_inet(&proc, AF_INET, 6, 0);
        assert!(
            parsed
                .iter()
                .any(|s| s.inode == ours.inode && s.local_port == port)
        );
        assert!(dump(AF_INET6, 17, StateFlags::all(), 0).is_some());
    }
}

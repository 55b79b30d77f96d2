//! Live tests of the TCP socket diagnostics against the running kernel (root): a loopback
//! connection's sockets found open by a dump, then heard of as the kernel destroys them, each
//! by the cookie its descriptor gives, with its traffic.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use warden_sources::tcp_diag::{self, DestroyListener, TcpSocket};

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// The cookie of a socket of ours (SO_COOKIE).
fn cookie_of(socket: &impl AsRawFd) -> u64 {
    let mut cookie = 0u64;
    let mut len = size_of::<u64>() as libc::socklen_t;
    // SAFETY: a u64 option; the kernel writes at most `len` bytes into it.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_COOKIE,
            (&raw mut cookie).cast(),
            &mut len,
        )
    };
    assert_eq!(rc, 0, "{}", std::io::Error::last_os_error());
    cookie
}

#[test]
fn a_connections_sockets_are_found_open_then_heard_of_as_destroyed_with_their_traffic() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let mut listener = DestroyListener::open().expect("the destroy groups (root)");
    let server = TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let mut client = TcpStream::connect(server.local_addr().unwrap()).unwrap();
    let (mut taken, _) = server.accept().unwrap();
    client.write_all(&[7; 3_000]).unwrap();
    taken.read_exact(&mut [0; 3_000]).unwrap();
    taken.write_all(&[1; 70]).unwrap();
    client.read_exact(&mut [0; 70]).unwrap();
    let (ours, theirs) = (cookie_of(&client), cookie_of(&taken));
    assert_ne!(ours, theirs);

    // Open: both ends, established, with their traffic so far.
    let open = tcp_diag::open_tcp_sockets().expect("a dump");
    assert_eq!(open.malformed, 0);
    let find =
        |sockets: &[TcpSocket], cookie: u64| sockets.iter().find(|s| s.cookie == cookie).cloned();
    let client_open = find(&open.sockets, ours).expect("our end, by its cookie");
    assert_eq!(client_open.local, client.local_addr().unwrap());
    assert_eq!(client_open.remote, server.local_addr().unwrap());
    assert_eq!(client_open.state, 1, "ESTABLISHED");
    let counters = client_open.counters.expect("tcp_info");
    assert_eq!(counters.bytes_received, 70);
    assert_eq!(counters.bytes_acked, 3_001, "the SYN and the payload");
    assert!(find(&open.sockets, theirs).is_some(), "the accepted end");
    assert!(
        !open
            .sockets
            .iter()
            .any(|s| s.local == server.local_addr().unwrap() && s.remote.port() == 0),
        "no listener"
    );

    // Closed: each heard of as the kernel destroys it.
    drop(client);
    let mut buf = [0; 1];
    assert_eq!(taken.read(&mut buf).unwrap(), 0, "the FIN");
    drop(taken);
    let mut heard: Vec<TcpSocket> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while (find(&heard, ours).is_none() || find(&heard, theirs).is_none())
        && Instant::now() < deadline
    {
        let described = listener.read(Duration::from_millis(200)).expect("a read");
        assert_eq!((described.malformed, described.overflowed), (0, false));
        heard.extend(described.sockets);
    }
    let ended = find(&heard, ours).expect("our end destroyed");
    assert_eq!(ended.state, 7, "CLOSE");
    assert_eq!(ended.local, client_open.local);
    let counters = ended.counters.expect("tcp_info");
    if let (Some(sent), Some(again)) = (counters.bytes_sent, counters.bytes_retransmitted) {
        assert_eq!(sent - again, 3_000, "the payload, each byte once");
    }
    assert_eq!(counters.bytes_received, 71, "with the peer's FIN");
    let accepted = find(&heard, theirs).expect("the accepted end destroyed");
    assert_eq!(
        accepted.counters.unwrap().bytes_received,
        3_001,
        "with our FIN"
    );
}

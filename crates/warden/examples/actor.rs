//! The acting process of the network and file end-to-end tests and benchmarks: does a known set
//! of socket or file operations as a separate process with a known pid, and says what it did.
//!
//! ```text
//! actor net            # env TCP4, TCP6 (optional), UDP, UNIX, REFUSED: ports / socket path;
//!                      # then a sniffer's packet socket (bound to lo, a filter attached) and a
//!                      # raw ICMP socket, which sends an echo request to 127.0.0.2 (a tunnel's)
//! actor datagram       # env UDP: one unconnected datagram (sendto with an address)
//! actor lookup NAME    # env DNS: a resolver's address (ip:port): one DNS query for NAME's A
//!                      # record over a connected UDP socket, and its answer read; with env
//!                      # CONNECT (a port), then a TCP connection to the address it gave
//! actor handshakes     # non-blocking connects whose handshakes end after the call: late,
//!                      # timed out, abandoned, and refused (to listeners of its own)
//! actor files DIR SECRET
//! actor accept-loop COUNT          # listens on 127.0.0.1, prints {"port":..}, accepts COUNT
//! actor connect-storm PORT COUNT
//! actor handshake-storm PORT COUNT [HOLD_MS]  # COUNT non-blocking connects, 100 at a time:
//!                                  # each batch's handshakes waited for, held HOLD_MS (200),
//!                                  # closed; reports the local ports
//! actor file-storm DIR COUNT
//! actor write-storm DIR COUNT [SIZE]  # COUNT files of SIZE bytes (4096) written and kept:
//!                                  # DIR/wN, each its own content
//! actor link-storm DIR COUNT       # COUNT x link, truncate(2), unlink of the link, beside one
//!                                  # file made first (what fanotify alone calls creations and
//!                                  # modifications)
//! actor read-storm DIR COUNT       # COUNT x open, read, close of 100 files made first
//! actor sparse-files DIR COUNT MS  # COUNT x create and write DIR/sN, MS milliseconds apart;
//!                                  # says when each began and ended (CLOCK_REALTIME ns)
//! actor send-storm DIR COUNT       # COUNT x send and receive on a connected socket pair
//! actor udp-storm DIR COUNT        # COUNT x sendto and recvfrom between two unconnected UDP
//!                                  # sockets (one peer: what a datagram costs under a watcher)
//! actor socket-storm DIR COUNT     # COUNT x socket, setsockopt SO_REUSEADDR and TCP_NODELAY,
//!                                  # close: a connection's set-up, none of it recorded
//! actor udp-scatter DIR COUNT      # COUNT x sendto from one unconnected UDP socket, each to
//!                                  # another loopback port (a new peer each: the worst case)
//! actor icmp-storm DIR COUNT       # COUNT echo requests of 64 bytes from one raw ICMP socket
//!                                  # to 127.0.0.2 (an ICMP tunnel's traffic), replies drained
//! actor dns-storm DIR COUNT        # COUNT DNS lookups, each a new UDP socket, one query and
//!                                  # its answer, from a resolver thread on 127.53.0.3:53
//! actor hello-storm DIR COUNT      # COUNT loopback TCP connections, each opened with a TLS
//!                                  # ClientHello of its own server name, answered, closed
//! actor request-storm DIR COUNT    # COUNT loopback TCP connections, each an HTTP request of
//!                                  # its own target to a server thread, answered, closed (what a
//!                                  # web server here receives)
//! actor tcp-chatter DIR COUNT [http]  # one loopback TCP connection, COUNT exchanges of 64
//!                                  # bytes each way (with http: each an HTTP request on a
//!                                  # keep-alive connection, and its HTTP response)
//! actor quic-storm DIR COUNT       # COUNT QUIC connections opened as HTTP/3 clients open
//!                                  # them, each from a UDP socket of its own: a ClientHello of
//!                                  # its own server name in two Initial datagrams, answered,
//!                                  # then the first sent again (a retransmission); reports the
//!                                  # server's port
//! actor serve COUNT DELAY_MS       # a web server on [::] (IPv4 clients too): prints
//!                                  # `WARDEN-CHILD {"port":..}` as it listens, then takes COUNT
//!                                  # connections, each DELAY_MS after the last was served (a
//!                                  # request may come first), and reads one request from each:
//!                                  # a TLS hello gets no answer; an SSH client a server's line
//!                                  # and KEXINIT, and its next packet is read; an HTTP request
//!                                  # for a target holding "/run" runs /bin/true (a web shell's
//!                                  # command); every one gets "200 ok"
//! actor uring-storm DIR COUNT      # COUNT io_uring no-ops, submitted and reaped 64 at a time
//! actor uring-file-storm DIR COUNT # the file storm's kind through io_uring: COUNT x create,
//!                                  # close, rename, delete, none of them a syscall
//! actor uring-net      # env TCP4: two connects through io_uring, one of them asking for no
//!                      # completion on success (IOSQE_CQE_SKIP_SUCCESS)
//! actor ia32-sleeper PATH SECONDS  # writes a 32-bit program to PATH that sleeps SECONDS (then
//!                                  # tries a connect to 127.0.0.1:9), starts it, prints its pid
//!                                  # (DIR unused: the storms share one calling form)
//! actor hold-connections COUNT SECONDS  # COUNT loopback TCP connections, 100 bytes each way,
//!                                       # held SECONDS (a line once all are up)
//! actor hold-udp COUNT SECONDS     # likewise COUNT pairs of UDP sockets, a client connected to
//!                                  # its server
//! ```
//!
//! `net`, `uring-net`, `lookup` and `files` print one line `WARDEN-CHILD {json}` when done, then wait for stdin to
//! close (so sockets stay open while the agent looks at them). The storms print a JSON summary
//! (`{"pid":..,"ops":..,"seconds":..}`) and exit.

use std::io::{Read as _, Write as _};
use std::net::{TcpStream, UdpSocket};
use std::os::fd::AsRawFd as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context as _, bail};
use serde_json::{Map, Value};

// The tests' 32-bit programs; only the sleeper (a connector) is used here.
#[path = "../../warden-sources/tests/support/dns.rs"]
mod dns;
#[path = "../../warden-sources/tests/support/ia32.rs"]
#[allow(dead_code)]
mod ia32;
#[path = "../../warden-sources/tests/support/quic.rs"]
mod quic;
#[path = "../../warden-sources/tests/support/sniffer.rs"]
mod sniffer;
#[path = "../../warden-sources/tests/support/ssh.rs"]
mod ssh;
#[path = "../../warden-sources/tests/support/tls.rs"]
mod tls;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| -> anyhow::Result<&str> {
        args.get(i)
            .map(String::as_str)
            .with_context(|| format!("missing argument {i}; see the usage in actor.rs"))
    };
    let mut report = Map::new();
    let mut hold: Vec<Box<dyn std::any::Any>> = Vec::new();
    let start = Instant::now();
    match arg(0)? {
        "net" => net(&mut report, &mut hold)?,
        "uring-net" => uring_net(&mut report, &mut hold)?,
        "handshakes" => handshakes(&mut report)?,
        "datagram" => {
            let lone = UdpSocket::bind(("127.0.0.1", 0))?;
            lone.send_to(b"d", ("127.0.0.1", var("UDP")?.parse::<u16>()?))?;
            report.insert("port".into(), lone.local_addr()?.port().into());
            hold.push(Box::new(lone));
        }
        "lookup" => lookup(arg(1)?, &var("DNS")?, &mut report, &mut hold)?,
        "files" => files(Path::new(arg(1)?), Path::new(arg(2)?), &mut report)?,
        "accept-loop" => {
            let count: u64 = arg(1)?.parse()?;
            let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
            // std listens with a backlog of 128: a connect storm on 2 cores overflows it, and
            // each overflow stalls the client for a 1 s SYN retransmit (21 s for 10,000 instead
            // of ~1 s). Listening again raises it to net.core.somaxconn.
            nix::sys::socket::listen(&listener, nix::sys::socket::Backlog::MAXALLOWABLE)
                .context("listen with a larger backlog")?;
            println!(
                "{}",
                serde_json::json!({"port": listener.local_addr()?.port()})
            );
            std::io::stdout().flush()?;
            for _ in 0..count {
                drop(listener.accept()?);
            }
            report.insert("ops".into(), count.into());
        }
        "connect-storm" => {
            let port: u16 = arg(1)?.parse()?;
            let count: u64 = arg(2)?.parse()?;
            for _ in 0..count {
                drop(TcpStream::connect(("127.0.0.1", port)).context("connect")?);
            }
            report.insert("ops".into(), count.into());
        }
        "handshake-storm" => {
            let port: u16 = arg(1)?.parse()?;
            let count: u64 = arg(2)?.parse()?;
            let hold_ms: u64 = args
                .get(3)
                .map_or(Ok(200), |ms| ms.parse())
                .context("HOLD_MS")?;
            let ports = handshake_storm(port, count, std::time::Duration::from_millis(hold_ms))?;
            report.insert("ops".into(), count.into());
            report.insert("local_ports".into(), ports.into());
        }
        "file-storm" => {
            let dir = PathBuf::from(arg(1)?);
            let count: u64 = arg(2)?.parse()?;
            file_storm(&dir, count)?;
            report.insert("ops".into(), (count * 4).into());
        }
        "write-storm" => {
            let dir = PathBuf::from(arg(1)?);
            let count: u64 = arg(2)?.parse()?;
            let size: usize = args.get(3).map_or(Ok(4096), |s| s.parse())?;
            write_storm(&dir, count, size)?;
            report.insert("ops".into(), count.into());
        }
        "link-storm" => {
            let dir = PathBuf::from(arg(1)?);
            let count: u64 = arg(2)?.parse()?;
            link_storm(&dir, count)?;
            report.insert("ops".into(), (count * 3).into());
        }
        "sparse-files" => {
            let dir = PathBuf::from(arg(1)?);
            let count: u64 = arg(2)?.parse()?;
            let gap = std::time::Duration::from_millis(arg(3)?.parse()?);
            report.insert("ops".into(), count.into());
            report.insert("times".into(), sparse_files(&dir, count, gap)?.into());
        }
        "read-storm" => {
            let dir = PathBuf::from(arg(1)?);
            let count: u64 = arg(2)?.parse()?;
            read_storm(&dir, count)?;
            report.insert("ops".into(), count.into());
        }
        "send-storm" => {
            let count: u64 = arg(2)?.parse()?;
            send_storm(count)?;
            report.insert("ops".into(), count.into());
        }
        "udp-storm" => {
            let count: u64 = arg(2)?.parse()?;
            udp_storm(count)?;
            report.insert("ops".into(), (2 * count).into());
        }
        "udp-scatter" => {
            let count: u64 = arg(2)?.parse()?;
            udp_scatter(count)?;
            report.insert("ops".into(), count.into());
        }
        "icmp-storm" => {
            let count: u64 = arg(2)?.parse()?;
            icmp_storm(count)?;
            report.insert("ops".into(), count.into());
        }
        "dns-storm" => {
            let count: u64 = arg(2)?.parse()?;
            dns_storm(count)?;
            report.insert("ops".into(), count.into());
        }
        "hello-storm" => {
            let count: u64 = arg(2)?.parse()?;
            hello_storm(count)?;
            report.insert("ops".into(), count.into());
        }
        "quic-storm" => {
            let count: u64 = arg(2)?.parse()?;
            let port = quic_storm(count)?;
            report.insert("ops".into(), count.into());
            report.insert("port".into(), port.into());
        }
        "socket-storm" => {
            let count: u64 = arg(2)?.parse()?;
            socket_storm(count)?;
            report.insert("ops".into(), (4 * count).into());
        }
        "tcp-storm" => {
            let count: u64 = arg(2)?.parse()?;
            tcp_storm(count)?;
            report.insert("ops".into(), count.into());
        }
        "request-storm" => {
            let count: u64 = arg(2)?.parse()?;
            request_storm(count)?;
            report.insert("ops".into(), count.into());
        }
        "tcp-chatter" => {
            let count: u64 = arg(2)?.parse()?;
            let http = args.get(3).is_some_and(|kind| kind == "http");
            tcp_chatter(count, http)?;
            report.insert("ops".into(), (2 * count).into());
        }
        "hold-connections" => {
            let count: usize = arg(1)?.parse()?;
            let seconds: u64 = arg(2)?.parse()?;
            hold_connections(count, std::time::Duration::from_secs(seconds))?;
            report.insert("connections".into(), count.into());
        }
        "hold-udp" => {
            let count: usize = arg(1)?.parse()?;
            let seconds: u64 = arg(2)?.parse()?;
            hold_udp_sockets(count, std::time::Duration::from_secs(seconds))?;
            report.insert("pairs".into(), count.into());
        }
        "ia32-sleeper" => {
            let path = PathBuf::from(arg(1)?);
            let seconds: u32 = arg(2)?.parse()?;
            let nowhere = std::net::SocketAddrV4::new(std::net::Ipv4Addr::LOCALHOST, 9);
            ia32::write_connector(&path, nowhere, seconds.saturating_mul(1000));
            // Detached from our output, which a caller reads to its end.
            let child = std::process::Command::new(&path)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()?;
            report.insert("sleeper".into(), child.id().into());
        }
        "serve" => {
            let count: u64 = arg(1)?.parse()?;
            let delay = std::time::Duration::from_millis(arg(2)?.parse()?);
            // Its report went out as it began listening: whoever read it may read no more.
            return serve(count, delay);
        }
        "uring-storm" => {
            let count: u64 = arg(2)?.parse()?;
            uring_storm(count)?;
            report.insert("ops".into(), count.into());
        }
        "uring-file-storm" => {
            let count: u64 = arg(2)?.parse()?;
            uring_file_storm(Path::new(arg(1)?), count)?;
            report.insert("ops".into(), (4 * count).into());
        }
        other => {
            bail!(
                "unknown role {other:?}: net, uring-net, handshakes, datagram, files, accept-loop, \
                 connect-storm, handshake-storm, hold-connections, hold-udp, \
                 file-storm, read-storm, send-storm, request-storm, serve, uring-storm, uring-file-storm, \
                 ia32-sleeper"
            )
        }
    }
    report.insert("pid".into(), std::process::id().into());
    report.insert("seconds".into(), start.elapsed().as_secs_f64().into());
    report.insert("cpu_seconds".into(), cpu_seconds().into());
    if hold.is_empty()
        && !matches!(
            arg(0)?,
            "net" | "uring-net" | "handshakes" | "datagram" | "lookup" | "files"
        )
    {
        println!("{}", Value::Object(report));
        return Ok(());
    }
    println!("WARDEN-CHILD {}", Value::Object(report));
    std::io::stdout().flush()?;
    let mut rest = String::new();
    let _ = std::io::stdin().read_line(&mut rest);
    drop(hold);
    Ok(())
}

/// `serve`: see the usage above.
fn serve(count: u64, delay: std::time::Duration) -> anyhow::Result<()> {
    let listener = std::net::TcpListener::bind(("::", 0)).context("listen on [::]")?;
    println!(
        "WARDEN-CHILD {}",
        serde_json::json!({"port": listener.local_addr()?.port(), "pid": std::process::id()})
    );
    std::io::stdout().flush()?;
    for _ in 0..count {
        std::thread::sleep(delay);
        let (mut conn, _) = listener.accept().context("accept")?;
        let mut request = vec![0u8; 4096];
        let read = conn.read(&mut request).context("read a request")?;
        let request = &request[..read];
        if request.first() == Some(&0x16) {
            continue;
        }
        // An SSH client: a server's line and KEXINIT back, as sshd sends them, for the
        // client's KEXINIT, read; then nothing more.
        if request.starts_with(b"SSH-") {
            conn.set_nodelay(true)?;
            conn.write_all(b"SSH-2.0-WardenTest\r\n")?;
            conn.write_all(&ssh::kexinit([
                "curve25519-sha256",
                "ssh-ed25519",
                "aes128-ctr",
                "aes128-ctr",
                "hmac-sha2-256",
                "hmac-sha2-256",
                "none",
                "none",
            ]))?;
            let _ = conn.read(&mut vec![0u8; 4096]);
            continue;
        }
        let target = request.split(|&b| b == b' ').nth(1).unwrap_or_default();
        if target.windows(4).any(|w| w == b"/run") {
            std::process::Command::new("/bin/true")
                .status()
                .context("run /bin/true")?;
        }
        conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")?;
    }
    Ok(())
}

/// The CPU time this process has used, user and system (its threads', and the kernel's work
/// done in its context: on loopback, the receiving side's too): what a storm cost, with less
/// of the machine's noise than its wall time.
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage fills the struct given, which is ours.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return 0.0;
    }
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

fn var(name: &str) -> anyhow::Result<String> {
    std::env::var(name).with_context(|| format!("environment variable {name} not set"))
}

fn net(
    report: &mut Map<String, Value>,
    hold: &mut Vec<Box<dyn std::any::Any>>,
) -> anyhow::Result<()> {
    let tcp4 = TcpStream::connect(("127.0.0.1", var("TCP4")?.parse::<u16>()?)).context("tcp4")?;
    (&tcp4).write_all(b"hi")?;
    report.insert("tcp4".into(), tcp4.local_addr()?.port().into());
    hold.push(Box::new(tcp4));
    if let Ok(port) = var("TCP6") {
        let tcp6 = TcpStream::connect(("::1", port.parse::<u16>()?)).context("tcp6")?;
        report.insert("tcp6".into(), tcp6.local_addr()?.port().into());
        hold.push(Box::new(tcp6));
    }
    let udp = UdpSocket::bind(("127.0.0.1", 0))?;
    udp.connect(("127.0.0.1", var("UDP")?.parse::<u16>()?))?;
    udp.send(b"x")?;
    report.insert("udp".into(), udp.local_addr()?.port().into());
    hold.push(Box::new(udp));
    let unix = std::os::unix::net::UnixStream::connect(var("UNIX")?).context("unix")?;
    hold.push(Box::new(unix));
    let refused = TcpStream::connect(("127.0.0.1", var("REFUSED")?.parse::<u16>()?));
    report.insert("refused".into(), refused.is_err().into());
    let (sniffer, icmp) = sniffer()?;
    sniffer::send_echo(&icmp, std::net::Ipv4Addr::new(127, 0, 0, 2), 16).context("an echo")?;
    report.insert("sniffer".into(), sniffer.as_raw_fd().into());
    report.insert("icmp".into(), icmp.as_raw_fd().into());
    hold.push(Box::new((sniffer, icmp)));
    Ok(())
}

/// A DNS lookup of `name` (its A record) at `resolver`, as a stub resolver makes one: a
/// connected UDP socket, one query, its answer read (5 s at most).
fn lookup(
    name: &str,
    resolver: &str,
    report: &mut Map<String, Value>,
    hold: &mut Vec<Box<dyn std::any::Any>>,
) -> anyhow::Result<()> {
    let socket = UdpSocket::bind(("0.0.0.0", 0))?;
    socket.connect(resolver).context("the resolver")?;
    socket.set_read_timeout(Some(std::time::Duration::from_secs(5)))?;
    socket.send(&dns::query(0x5151, name, false))?;
    let mut answer = [0u8; 1500];
    let n = socket.recv(&mut answer).context("the answer")?;
    let answer = simple_dns::Packet::parse(&answer[..n]).context("a DNS answer")?;
    report.insert("port".into(), socket.local_addr()?.port().into());
    report.insert("answers".into(), answer.answers.len().into());
    if let Ok(port) = var("CONNECT") {
        let Some(simple_dns::rdata::RData::A(a)) = answer.answers.first().map(|a| &a.rdata) else {
            bail!("no address in the answer");
        };
        let to = std::net::Ipv4Addr::from(a.address);
        anyhow::ensure!(
            to.is_loopback(),
            "{to} is no loopback address: not connecting"
        );
        let connection = TcpStream::connect((to, port.parse::<u16>()?))?;
        report.insert("connected".into(), connection.local_addr()?.port().into());
        hold.push(Box::new(connection));
    }
    Ok(())
}

/// What a sniffer and an ICMP tunnel make: a packet socket bound to the loopback interface
/// with a classic filter attached (`tests/support/sniffer.rs`), and a raw ICMP socket.
fn sniffer() -> anyhow::Result<(std::os::fd::OwnedFd, std::os::fd::OwnedFd)> {
    let (packet, _lo) = sniffer::packet_socket_on_lo().context("a sniffer's packet socket")?;
    let icmp = sniffer::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_ICMP)
        .context("a raw ICMP socket")?;
    Ok((packet, icmp))
}

/// Non-blocking TCP connects to 127.0.0.1 whose handshakes end after the call returned
/// `EINPROGRESS`, each its own way: established late (a listener whose accept queue is full
/// drops the SYN; a slot freed, the retransmit a second later completes it), timed out
/// (`TCP_SYNCNT` 1: given up ~3 s in), abandoned (closed under way); and refused (on loopback
/// the refusal comes inside the call). Reports each one's local port and `SO_ERROR`, and the
/// ports connected to. The sockets are held 1.5 s after the last handshake ended, so that a
/// follower that looks at them each second (audit's) sees each as its handshake left it.
fn handshakes(report: &mut Map<String, Value>) -> anyhow::Result<()> {
    use nix::sys::socket::{Backlog, SockaddrIn, getsockname, getsockopt, listen, sockopt};
    use std::net::TcpListener;
    use std::os::fd::OwnedFd;
    use std::time::Duration;

    // A listener whose accept queue (backlog 0: one connection) is full.
    let full_listener = || -> anyhow::Result<(TcpListener, TcpStream, u16)> {
        let listener = TcpListener::bind(("127.0.0.1", 0))?;
        listen(&listener, Backlog::new(0)?)?;
        let port = listener.local_addr()?.port();
        let filler = TcpStream::connect(("127.0.0.1", port))?;
        Ok((listener, filler, port))
    };
    let connect = |port: u16, syn_retries: Option<i32>| -> anyhow::Result<OwnedFd> {
        let fd = nonblocking_tcp_socket()?;
        if let Some(n) = syn_retries {
            // SAFETY: setsockopt(2) on our socket, with an int the size it says.
            let rc = unsafe {
                libc::setsockopt(
                    fd.as_raw_fd(),
                    libc::IPPROTO_TCP,
                    libc::TCP_SYNCNT,
                    (&n as *const i32).cast(),
                    size_of::<i32>() as libc::socklen_t,
                )
            };
            anyhow::ensure!(rc == 0, "TCP_SYNCNT: {}", std::io::Error::last_os_error());
        }
        let peer = SockaddrIn::new(127, 0, 0, 1, port);
        match nix::sys::socket::connect(fd.as_raw_fd(), &peer) {
            Err(nix::errno::Errno::EINPROGRESS) => Ok(fd),
            other => bail!("a non-blocking connect to port {port} gave {other:?}, not EINPROGRESS"),
        }
    };
    let local_port = |fd: &OwnedFd| -> anyhow::Result<u16> {
        Ok(getsockname::<SockaddrIn>(fd.as_raw_fd())?.port())
    };
    // Waits for the handshake's end (the socket writable) and takes its error.
    let outcome = |fd: &OwnedFd, within: Duration| -> anyhow::Result<i32> {
        let mut poll = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLOUT,
            revents: 0,
        };
        // SAFETY: poll(2) on one pollfd of ours.
        let ready = unsafe { libc::poll(&mut poll, 1, within.as_millis() as i32) };
        anyhow::ensure!(ready == 1, "no end of the handshake in {within:?}");
        Ok(getsockopt(fd, sockopt::SocketError)?)
    };

    let (late_listener, _late_filler, late_to) = full_listener()?;
    let late = connect(late_to, None)?;
    report.insert("late".into(), local_port(&late)?.into());
    report.insert("late_to".into(), late_to.into());
    std::thread::sleep(Duration::from_millis(200));
    let _room = late_listener.accept()?;
    let late_error = outcome(&late, Duration::from_secs(5))?;
    // When the process learnt of its end, within microseconds of it (UTC ns).
    let late_ended = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
    report.insert("late_error".into(), late_error.into());
    report.insert(
        "late_ended_ns".into(),
        (late_ended.as_nanos() as u64).into(),
    );

    let (_silent_listener, _silent_filler, silent) = full_listener()?;
    report.insert("silent_to".into(), silent.into());
    let timed_out = connect(silent, Some(1))?;
    report.insert("timed_out".into(), local_port(&timed_out)?.into());
    let abandoned = connect(silent, None)?;
    report.insert("abandoned".into(), local_port(&abandoned)?.into());
    drop(abandoned);

    let refused_to = TcpListener::bind(("127.0.0.1", 0))?.local_addr()?.port();
    let refused = connect(refused_to, None)?;
    report.insert("refused_to".into(), refused_to.into());
    report.insert(
        "refused_error".into(),
        outcome(&refused, Duration::from_secs(5))?.into(),
    );
    report.insert(
        "timed_out_error".into(),
        outcome(&timed_out, Duration::from_secs(10))?.into(),
    );
    std::thread::sleep(Duration::from_millis(1500));
    Ok(())
}

/// A non-blocking IPv4 TCP socket.
fn nonblocking_tcp_socket() -> nix::Result<std::os::fd::OwnedFd> {
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, socket};
    socket(
        AddressFamily::Inet,
        SockType::Stream,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        None,
    )
}

/// Non-blocking connects to 127.0.0.1:`port`, 100 at a time: a batch's connects (each returning
/// `EINPROGRESS`), then its handshakes waited for, the sockets held for `hold` (a follower that
/// looks at each while it is still open sees it; one closed and its number reused at once
/// names a newer socket), then closed. Returns the local ports, in order.
fn handshake_storm(port: u16, count: u64, hold: std::time::Duration) -> anyhow::Result<Vec<u16>> {
    use nix::sys::socket::{SockaddrIn, getsockname};

    let peer = SockaddrIn::new(127, 0, 0, 1, port);
    let mut ports = Vec::with_capacity(count as usize);
    let mut left = count;
    while left > 0 {
        let batch = left.min(100);
        left -= batch;
        let mut sockets = Vec::new();
        for _ in 0..batch {
            let fd = nonblocking_tcp_socket()?;
            match nix::sys::socket::connect(fd.as_raw_fd(), &peer) {
                Ok(()) | Err(nix::errno::Errno::EINPROGRESS) => sockets.push(fd),
                Err(e) => bail!("connect to port {port}: {e}"),
            }
        }
        let mut polls: Vec<libc::pollfd> = sockets
            .iter()
            .map(|fd| libc::pollfd {
                fd: fd.as_raw_fd(),
                events: libc::POLLOUT,
                revents: 0,
            })
            .collect();
        let deadline = Instant::now() + std::time::Duration::from_secs(10);
        while polls.iter().any(|p| p.revents == 0) {
            anyhow::ensure!(Instant::now() < deadline, "handshakes not done in 10 s");
            let mut waiting: Vec<libc::pollfd> =
                polls.iter().filter(|p| p.revents == 0).copied().collect();
            // SAFETY: poll(2) on pollfds of ours.
            unsafe { libc::poll(waiting.as_mut_ptr(), waiting.len() as libc::nfds_t, 100) };
            for done in waiting.iter().filter(|p| p.revents != 0) {
                if let Some(p) = polls.iter_mut().find(|p| p.fd == done.fd) {
                    p.revents = done.revents;
                }
            }
        }
        for fd in &sockets {
            ports.push(getsockname::<SockaddrIn>(fd.as_raw_fd())?.port());
        }
        std::thread::sleep(hold);
    }
    Ok(ports)
}

/// Create, rename (in place and across directories), chmod, symlink, hard link, write-open and
/// truncate, unlink, mkdir, rmdir — then a read of the fake credential `secret`.
fn files(dir: &Path, secret: &Path, report: &mut Map<String, Value>) -> anyhow::Result<()> {
    let step = |what: &str, r: std::io::Result<()>| r.with_context(|| what.to_owned());
    step("create", std::fs::write(dir.join("a.txt"), b"one"))?;
    step(
        "rename",
        std::fs::rename(dir.join("a.txt"), dir.join("b.txt")),
    )?;
    step("mkdir", std::fs::create_dir(dir.join("sub")))?;
    step(
        "move",
        std::fs::rename(dir.join("b.txt"), dir.join("sub/c.txt")),
    )?;
    let mode = std::fs::Permissions::from_mode(0o600);
    step(
        "chmod",
        std::fs::set_permissions(dir.join("sub/c.txt"), mode),
    )?;
    // Made to look old (futimens on a descriptor opened for reading).
    let old = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_546_300_800);
    step(
        "set its modification time",
        std::fs::File::open(dir.join("sub/c.txt")).and_then(|f| f.set_modified(old)),
    )?;
    step(
        "symlink",
        std::os::unix::fs::symlink("sub/c.txt", dir.join("link")),
    )?;
    step(
        "link",
        std::fs::hard_link(dir.join("sub/c.txt"), dir.join("hard")),
    )?;
    // By path (truncate(2)), so both file sources can name the file.
    nix::unistd::truncate(&dir.join("hard"), 1).context("truncate")?;
    step("unlink", std::fs::remove_file(dir.join("hard")))?;
    step("unlink", std::fs::remove_file(dir.join("link")))?;
    step("unlink", std::fs::remove_file(dir.join("sub/c.txt")))?;
    step("rmdir", std::fs::remove_dir(dir.join("sub")))?;
    let content = std::fs::read(secret).context("read the fake credential")?;
    report.insert("secret_len".into(), content.len().into());
    Ok(())
}

/// `count` reads of whole small files (open, read, close), as a build reads its sources: no
/// change to report, so what a watcher costs here is what it costs to look and find nothing.
fn read_storm(dir: &Path, count: u64) -> anyhow::Result<()> {
    const FILES: u64 = 100;
    for i in 0..FILES {
        std::fs::write(dir.join(format!("r{i}")), b"some source text\n")?;
    }
    let mut buf = Vec::with_capacity(64);
    for i in 0..count {
        buf.clear();
        std::fs::File::open(dir.join(format!("r{}", i % FILES)))?.read_to_end(&mut buf)?;
    }
    Ok(())
}

/// `count` times a one-byte datagram sent and received on a connected Unix socket pair:
/// send(2) and recv(2), which are sendto and recvfrom without an address — what the datagram
/// watchers look at, and keep none of.
fn send_storm(count: u64) -> anyhow::Result<()> {
    let (a, b) = std::os::unix::net::UnixDatagram::pair()?;
    let mut buf = [0u8; 16];
    for _ in 0..count {
        a.send(b"x")?;
        b.recv(&mut buf)?;
    }
    Ok(())
}

fn udp_storm(count: u64) -> anyhow::Result<()> {
    let a = UdpSocket::bind(("127.0.0.1", 0))?;
    let b = UdpSocket::bind(("127.0.0.1", 0))?;
    let to = b.local_addr()?;
    let mut buf = [0u8; 16];
    for _ in 0..count {
        a.send_to(b"x", to)?;
        b.recv_from(&mut buf)?;
    }
    Ok(())
}

/// What every connection's set-up passes: socket(2), two setsockopt(2) (SO_REUSEADDR at
/// SOL_SOCKET, TCP_NODELAY at IPPROTO_TCP), close(2); none of them of a kind Warden records.
fn socket_storm(count: u64) -> anyhow::Result<()> {
    use std::os::fd::{FromRawFd as _, OwnedFd};
    let one: i32 = 1;
    let set = |fd: &OwnedFd, level: i32, name: i32| {
        // SAFETY: an int option of its own size on our socket.
        unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                level,
                name,
                (&raw const one).cast(),
                size_of::<i32>() as libc::socklen_t,
            )
        }
    };
    for _ in 0..count {
        // SAFETY: a plain socket(2), owned at once.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
        anyhow::ensure!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
        // SAFETY: just made, owned here only.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        anyhow::ensure!(set(&fd, libc::SOL_SOCKET, libc::SO_REUSEADDR) == 0);
        anyhow::ensure!(set(&fd, libc::IPPROTO_TCP, libc::TCP_NODELAY) == 0);
    }
    Ok(())
}

/// COUNT loopback TCP connections, each a 512-byte reply closed by both ends in turn (the
/// server first, the client at its EOF): every one recorded, with its end from each side.
fn tcp_storm(count: u64) -> anyhow::Result<()> {
    const REPLY: usize = 512;
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    // A backlog past std's 128, as accept-loop's: an overflow stalls a connect for a second.
    nix::sys::socket::listen(&listener, nix::sys::socket::Backlog::MAXALLOWABLE)?;
    let at = listener.local_addr()?;
    let server = std::thread::spawn(move || -> anyhow::Result<()> {
        for _ in 0..count {
            listener.accept()?.0.write_all(&[7; REPLY])?;
        }
        Ok(())
    });
    for _ in 0..count {
        let mut reply = Vec::with_capacity(REPLY);
        TcpStream::connect(at)?.read_to_end(&mut reply)?;
        anyhow::ensure!(reply.len() == REPLY, "a reply of {} bytes", reply.len());
    }
    server
        .join()
        .map_err(|_| anyhow::anyhow!("the server panicked"))?
}

/// One loopback TCP connection (no delay) carrying `count` exchanges of 64 bytes each way:
/// its data packets after the first, which every long connection sends. With `http`, each
/// message the client sends is an HTTP request (`GET /c/NNNNNNNN HTTP/1.1`, 64 bytes) on a
/// keep-alive connection.
fn tcp_chatter(count: u64, http: bool) -> anyhow::Result<()> {
    const SIZE: usize = 64;
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    let at = listener.local_addr()?;
    let server = std::thread::spawn(move || -> anyhow::Result<()> {
        let mut conn = listener.accept()?.0;
        conn.set_nodelay(true)?;
        let mut message = [0u8; SIZE];
        // An HTTP client's requests get HTTP responses, as keep-alive's do.
        let mut answer = [7u8; SIZE];
        if http {
            let head = b"HTTP/1.1 200 OK\r\nContent-Length: 25\r\n\r\n";
            answer[..head.len()].copy_from_slice(head);
        }
        for _ in 0..count {
            conn.read_exact(&mut message)?;
            conn.write_all(&answer)?;
        }
        Ok(())
    });
    let mut conn = TcpStream::connect(at)?;
    conn.set_nodelay(true)?;
    let mut reply = [0u8; SIZE];
    for i in 0..count {
        let mut message = [b'x'; SIZE];
        if http {
            let line = format!("GET /c/{i:08} HTTP/1.1\r\nHost: chatter.example\r\n");
            message[..line.len()].copy_from_slice(line.as_bytes());
            message[SIZE - 4..].copy_from_slice(b"\r\n\r\n");
        }
        conn.write_all(&message)?;
        conn.read_exact(&mut reply)?;
    }
    server
        .join()
        .map_err(|_| anyhow::anyhow!("the server panicked"))?
}

/// COUNT loopback TCP connections made and taken, 100 bytes each way, held open for `hold`,
/// then closed (two sockets each: the file-descriptor limit must allow 2 × COUNT).
fn hold_connections(count: usize, hold: std::time::Duration) -> anyhow::Result<()> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    nix::sys::socket::listen(&listener, nix::sys::socket::Backlog::MAXALLOWABLE)?;
    let at = listener.local_addr()?;
    let mut held = Vec::with_capacity(2 * count);
    for _ in 0..count {
        let mut made = TcpStream::connect(at).context("connect (file-descriptor limit?)")?;
        let (mut taken, _) = listener.accept()?;
        made.write_all(&[1; 100])?;
        taken.read_exact(&mut [0; 100])?;
        taken.write_all(&[2; 100])?;
        made.read_exact(&mut [0; 100])?;
        held.extend([made, taken]);
    }
    hold_them(count, hold)
}

/// `count` pairs of UDP sockets on loopback, a client connected to its server, 100 bytes sent
/// each way; held for `hold`, with a line on stdout once all are up.
fn hold_udp_sockets(count: usize, hold: std::time::Duration) -> anyhow::Result<()> {
    let mut held = Vec::with_capacity(2 * count);
    let mut buf = [0; 200];
    for _ in 0..count {
        let server = UdpSocket::bind(("127.0.0.1", 0)).context("bind (file-descriptor limit?)")?;
        let client = UdpSocket::bind(("127.0.0.1", 0))?;
        client.connect(server.local_addr()?)?;
        client.send(&[1; 100])?;
        let (_, from) = server.recv_from(&mut buf)?;
        server.send_to(&[2; 100], from)?;
        client.recv(&mut buf)?;
        held.extend([server, client]);
    }
    hold_them(count, hold)
}

/// Says on stdout that `count` are up, then holds them (the caller's) for `hold`.
fn hold_them(count: usize, hold: std::time::Duration) -> anyhow::Result<()> {
    println!(
        "{}",
        serde_json::json!({"held": count, "pid": std::process::id()})
    );
    std::io::stdout().flush()?;
    std::thread::sleep(hold);
    Ok(())
}

fn udp_scatter(count: u64) -> anyhow::Result<()> {
    let a = UdpSocket::bind(("127.0.0.1", 0))?;
    for i in 0..count {
        // Ports 20000-59999: nobody listens there on a test machine, and loopback drops them.
        let port = 20_000 + (i % 40_000) as u16;
        a.send_to(b"x", ("127.0.0.1", port))?;
    }
    Ok(())
}

/// `count` echo requests from one raw ICMP socket to 127.0.0.2, as an ICMP tunnel sends them
/// (the kernel answers each; the socket's queue is drained as it goes, so none is dropped).
fn icmp_storm(count: u64) -> anyhow::Result<()> {
    let raw = sniffer::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_ICMP)
        .context("a raw ICMP socket")?;
    let mut buf = [0u8; 2048];
    for _ in 0..count {
        sniffer::send_echo(&raw, std::net::Ipv4Addr::new(127, 0, 0, 2), 56)?;
        // Its own request and the reply come back to it.
        for _ in 0..2 {
            // SAFETY: a live socket and a buffer of the size given.
            let got = unsafe { libc::recv(raw.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            anyhow::ensure!(got > 0, "recv: {}", std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// `count` DNS lookups as a stub resolver makes them (a new connected UDP socket each, one
/// query, its answer read), each of its own name, answered by a resolver thread of this process
/// on 127.53.0.3:53 with one A record.
fn dns_storm(count: u64) -> anyhow::Result<()> {
    let resolver = UdpSocket::bind(("127.53.0.3", 53)).context("127.53.0.3:53")?;
    let serving = std::thread::spawn(move || -> anyhow::Result<()> {
        let mut buf = [0u8; 1500];
        let given = dns::Given::Address(std::net::Ipv4Addr::new(192, 0, 2, 1));
        for _ in 0..count {
            let (n, from) = resolver.recv_from(&mut buf)?;
            let answer = dns::answer(&buf[..n], &given).context("a query")?;
            resolver.send_to(&answer, from)?;
        }
        Ok(())
    });
    let mut buf = [0u8; 1500];
    for i in 0..count {
        let query = dns::query((i % 65_536) as u16, &format!("h{i}.storm.example"), false);
        let socket = UdpSocket::bind(("127.0.0.1", 0))?;
        socket.connect(("127.53.0.3", 53))?;
        socket.send(&query)?;
        socket.recv(&mut buf)?;
    }
    serving
        .join()
        .map_err(|_| anyhow::anyhow!("the resolver thread panicked"))?
}

/// `count` loopback TCP connections as TLS clients open them: each sends a ClientHello for a
/// server name of its own (`h{i}.storm.example`), reads a byte of answer and closes.
fn hello_storm(count: u64) -> anyhow::Result<()> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    // A backlog past std's 128, as accept-loop's: an overflow stalls a connect for a second.
    nix::sys::socket::listen(&listener, nix::sys::socket::Backlog::MAXALLOWABLE)?;
    let at = listener.local_addr()?;
    let server = std::thread::spawn(move || -> anyhow::Result<()> {
        let mut head = [0u8; 5];
        let mut rest = vec![0u8; 1 << 16];
        for _ in 0..count {
            let mut conn = listener.accept()?.0;
            conn.read_exact(&mut head)?;
            let length = usize::from(u16::from_be_bytes([head[3], head[4]]));
            conn.read_exact(&mut rest[..length])?;
            conn.write_all(&[0x15])?;
        }
        Ok(())
    });
    for i in 0..count {
        let mut conn = TcpStream::connect(at)?;
        conn.write_all(&tls::client_hello(&format!("h{i}.storm.example"), 0))?;
        conn.read_exact(&mut [0u8; 1])?;
    }
    server
        .join()
        .map_err(|_| anyhow::anyhow!("the server panicked"))?
}

/// `count` loopback TCP connections, each an HTTP request for a target of its own to a server
/// thread, which reads the request's head and answers it; then closed.
fn request_storm(count: u64) -> anyhow::Result<()> {
    const ANSWER: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    // A backlog past std's 128, as accept-loop's: an overflow stalls a connect for a second.
    nix::sys::socket::listen(&listener, nix::sys::socket::Backlog::MAXALLOWABLE)?;
    let at = listener.local_addr()?;
    let server = std::thread::spawn(move || -> anyhow::Result<()> {
        let mut head = vec![0u8; 4096];
        for _ in 0..count {
            let mut conn = listener.accept()?.0;
            let mut read = 0;
            while !head[..read].ends_with(b"\r\n\r\n") {
                let more = conn.read(&mut head[read..])?;
                anyhow::ensure!(more > 0, "a request ended early");
                read += more;
            }
            conn.write_all(ANSWER)?;
        }
        Ok(())
    });
    for i in 0..count {
        let mut conn = TcpStream::connect(at)?;
        conn.write_all(
            format!(
                "GET /storm/{i}?q=1 HTTP/1.1\r\nHost: storm.example\r\nUser-Agent: storm/1\r\n\r\n"
            )
            .as_bytes(),
        )?;
        let mut answer = [0u8; ANSWER.len()];
        conn.read_exact(&mut answer)?;
    }
    server
        .join()
        .map_err(|_| anyhow::anyhow!("the server panicked"))?
}

/// `count` QUIC connections as HTTP/3 clients open them, each from a UDP socket of its own to
/// one loopback server: a ClientHello for a server name of its own (`q{i}.storm.example`),
/// long enough (as a post-quantum key share makes it) to take two Initial datagrams; a byte of
/// answer read; then the first Initial sent again, as a client resends what is not yet
/// acknowledged. The server's port.
fn quic_storm(count: u64) -> anyhow::Result<u16> {
    let server = UdpSocket::bind(("127.0.0.1", 0))?;
    let at = server.local_addr()?;
    let serving = std::thread::spawn(move || -> anyhow::Result<()> {
        let mut datagram = vec![0u8; 2048];
        for _ in 0..count {
            let (_, client) = server.recv_from(&mut datagram)?;
            server.recv_from(&mut datagram)?;
            server.send_to(&[0], client)?;
            server.recv_from(&mut datagram)?;
        }
        Ok(())
    });
    for i in 0..count {
        let client = UdpSocket::bind(("127.0.0.1", 0))?;
        client.connect(at)?;
        let hello = tls::quic_client_hello(&format!("q{i}.storm.example"), 1500);
        let id = (i + 1).to_be_bytes();
        let initials = quic::client_initials(quic::VERSION_1, &id, &hello, 2);
        for initial in &initials {
            client.send(initial)?;
        }
        client.recv(&mut [0u8; 1])?;
        client.send(&initials[0])?;
    }
    serving
        .join()
        .map_err(|_| anyhow::anyhow!("the server panicked"))??;
    Ok(at.port())
}

/// Two connects to 127.0.0.1:$TCP4 through io_uring, which pass no connect(2): one reaped as
/// usual ("plain"), one whose success posts no completion at all ("quiet"). Reports each
/// one's local port.
fn uring_net(
    report: &mut Map<String, Value>,
    hold: &mut Vec<Box<dyn std::any::Any>>,
) -> anyhow::Result<()> {
    use io_uring::{opcode, squeue, types};
    use std::os::fd::FromRawFd as _;
    let port: u16 = var("TCP4")?.parse()?;
    let target = nix::sys::socket::SockaddrIn::new(127, 0, 0, 1, port);
    let mut ring = io_uring::IoUring::new(4)?;
    for (name, flags) in [
        ("plain", squeue::Flags::empty()),
        ("quiet", squeue::Flags::SKIP_SUCCESS),
    ] {
        let socket = TcpStream::from(
            // SAFETY: a fresh socket(2) fd, owned from here on.
            unsafe {
                std::os::fd::OwnedFd::from_raw_fd(libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0))
            },
        );
        let connect = opcode::Connect::new(
            types::Fd(socket.as_raw_fd()),
            nix::sys::socket::SockaddrLike::as_ptr(&target),
            nix::sys::socket::SockaddrLike::len(&target),
        )
        .build()
        .flags(flags);
        // SAFETY: `target` outlives the operation: it is done once the socket has its peer.
        unsafe { ring.submission().push(&connect)? };
        ring.submit()?;
        let deadline = Instant::now() + std::time::Duration::from_secs(5);
        while socket.peer_addr().is_err() {
            anyhow::ensure!(Instant::now() < deadline, "{name}: no connection in 5 s");
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        report.insert(name.into(), socket.local_addr()?.port().into());
        hold.push(Box::new(socket));
    }
    // The plain one's completion, and nothing for the quiet one.
    ring.submit_and_wait(1)?;
    let results: Vec<i32> = ring.completion().map(|c| c.result()).collect();
    anyhow::ensure!(
        results == [0],
        "completions {results:?}: expected the plain one's only"
    );
    Ok(())
}

/// `count` io_uring no-op requests, 64 per submission: every completion passes the io_uring
/// completion tracepoint, where the network program looks at each one's opcode.
fn uring_storm(count: u64) -> anyhow::Result<()> {
    const BATCH: u64 = 64;
    let mut ring = io_uring::IoUring::new(BATCH as u32)?;
    let mut done = 0;
    while done < count {
        let n = BATCH.min(count - done);
        for i in 0..n {
            let nop = io_uring::opcode::Nop::new().build().user_data(i);
            // SAFETY: a no-op names no memory.
            unsafe { ring.submission().push(&nop)? };
        }
        ring.submit_and_wait(n as usize)?;
        let reaped = ring.completion().count() as u64;
        anyhow::ensure!(reaped == n, "{reaped} of {n} no-ops completed");
        done += n;
    }
    Ok(())
}

/// `count` times through one io_uring, one operation at a time: create, close, rename, delete.
fn uring_file_storm(dir: &Path, count: u64) -> anyhow::Result<()> {
    use io_uring::{opcode, types};
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt as _;
    let mut ring = io_uring::IoUring::new(4)?;
    let mut run = |entry: io_uring::squeue::Entry| -> anyhow::Result<i32> {
        // SAFETY: the names the entry points to live until it completes (waited for here).
        unsafe { ring.submission().push(&entry)? };
        ring.submit_and_wait(1)?;
        let res = ring.completion().next().context("no completion")?.result();
        anyhow::ensure!(res >= 0, "io_uring operation failed: {res}");
        Ok(res)
    };
    let cwd = types::Fd(libc::AT_FDCWD);
    for i in 0..count {
        let a = CString::new(dir.join(format!("f{i}")).as_os_str().as_bytes())?;
        let b = CString::new(dir.join(format!("g{i}")).as_os_str().as_bytes())?;
        let open = opcode::OpenAt::new(cwd, a.as_ptr())
            .flags(libc::O_CREAT | libc::O_WRONLY)
            .mode(0o644);
        let fd = run(open.build())?;
        run(opcode::Close::new(types::Fd(fd)).build())?;
        run(opcode::RenameAt::new(cwd, a.as_ptr(), cwd, b.as_ptr()).build())?;
        run(opcode::UnlinkAt::new(cwd, b.as_ptr()).build())?;
    }
    Ok(())
}

/// `count` times: create and write, rename, append, delete — four changes per file.
/// Each file's `[began, ended]`, in ns since the epoch.
fn sparse_files(dir: &Path, count: u64, gap: std::time::Duration) -> anyhow::Result<Vec<Value>> {
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
    };
    let mut times = Vec::new();
    for i in 0..count {
        let began = now();
        std::fs::write(dir.join(format!("s{i}")), b"data")?;
        times.push(serde_json::json!([began, now()]));
        std::thread::sleep(gap);
    }
    Ok(times)
}

fn write_storm(dir: &Path, count: u64, size: usize) -> anyhow::Result<()> {
    let mut content = vec![0u8; size.max(8)];
    for i in 0..count {
        // Each file its own: a cache of contents never answers for the next.
        content[..8].copy_from_slice(&i.to_le_bytes());
        std::fs::write(dir.join(format!("w{i}")), &content[..size])?;
    }
    Ok(())
}

fn link_storm(dir: &Path, count: u64) -> anyhow::Result<()> {
    let file = dir.join("file");
    std::fs::write(&file, b"data")?;
    for i in 0..count {
        let link = dir.join(format!("l{i}"));
        std::fs::hard_link(&file, &link)?;
        nix::unistd::truncate(&link, (i % 2) as i64)?;
        std::fs::remove_file(&link)?;
    }
    Ok(())
}

fn file_storm(dir: &Path, count: u64) -> anyhow::Result<()> {
    for i in 0..count {
        let a = dir.join(format!("f{i}"));
        let b = dir.join(format!("g{i}"));
        std::fs::write(&a, b"data")?;
        std::fs::rename(&a, &b)?;
        std::fs::OpenOptions::new()
            .append(true)
            .open(&b)?
            .write_all(b"more")?;
        std::fs::remove_file(&b)?;
    }
    Ok(())
}

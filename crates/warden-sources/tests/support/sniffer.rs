//! What a sniffer and an ICMP tunnel make, for the tests of what packet, raw and ICMP sockets,
//! filters and packets are recorded; shared by the eBPF source's live tests and the agent's
//! (its actor).

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// The classic filter attached: "load the frame's byte 12; accept it whole", two instructions.
pub const FILTER_LENGTH: u16 = 2;

/// That filter's instructions.
pub fn filter_program() -> [libc::sock_filter; FILTER_LENGTH as usize] {
    [
        libc::sock_filter {
            code: 0x28,
            jt: 0,
            jf: 0,
            k: 12,
        },
        libc::sock_filter {
            code: 0x06,
            jt: 0,
            jf: 0,
            k: 0xffff,
        },
    ]
}

/// A socket made by socket(2), close-on-exec, or the error it failed with.
pub fn socket(family: i32, kind: i32, protocol: i32) -> std::io::Result<OwnedFd> {
    // SAFETY: a plain socket(2); a descriptor it returns is owned at once.
    let fd = unsafe { libc::socket(family, kind | libc::SOCK_CLOEXEC, protocol) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: just made, owned here only.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A packet socket for every link protocol, bound to the loopback interface for IPv4 frames,
/// with a classic filter of [`FILTER_LENGTH`] instructions attached; and the interface's index.
pub fn packet_socket_on_lo() -> std::io::Result<(OwnedFd, u32)> {
    let all = i32::from((libc::ETH_P_ALL as u16).to_be());
    let packet = socket(libc::AF_PACKET, libc::SOCK_RAW, all)?;
    // SAFETY: a NUL-terminated name.
    let lo = unsafe { libc::if_nametoindex(c"lo".as_ptr()) };
    if lo == 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: sockaddr_ll is plain data.
    let mut at_lo: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    at_lo.sll_family = libc::AF_PACKET as u16;
    at_lo.sll_protocol = (libc::ETH_P_IP as u16).to_be();
    at_lo.sll_ifindex = lo as i32;
    // SAFETY: a valid sockaddr_ll of its own size.
    let rc = unsafe {
        libc::bind(
            packet.as_raw_fd(),
            (&raw const at_lo).cast(),
            size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let program = filter_program();
    let filter = libc::sock_fprog {
        len: FILTER_LENGTH,
        filter: program.as_ptr().cast_mut(),
    };
    // SAFETY: a sock_fprog of its own size, its program alive across the call.
    let rc = unsafe {
        libc::setsockopt(
            packet.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ATTACH_FILTER,
            (&raw const filter).cast(),
            size_of::<libc::sock_fprog>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok((packet, lo))
}

/// An ICMP echo request with `payload` bytes and its checksum.
pub fn echo_request(payload: usize) -> Vec<u8> {
    let mut packet = vec![8, 0, 0, 0, 0x12, 0x34, 0, 1];
    packet.extend((0..payload).map(|i| i as u8));
    let mut sum: u32 = packet
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    packet[2..4].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    packet
}

/// Sends an echo request of `payload` bytes to `to` over raw ICMP socket `raw`: the bytes
/// sent.
pub fn send_echo(raw: &OwnedFd, to: std::net::Ipv4Addr, payload: usize) -> std::io::Result<usize> {
    let request = echo_request(payload);
    let to = libc::sockaddr_in {
        sin_family: libc::AF_INET as u16,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from_ne_bytes(to.octets()),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: a live socket, a buffer and an address of the sizes given.
    let sent = unsafe {
        libc::sendto(
            raw.as_raw_fd(),
            request.as_ptr().cast(),
            request.len(),
            0,
            (&raw const to).cast(),
            size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    usize::try_from(sent).map_err(|_| std::io::Error::last_os_error())
}

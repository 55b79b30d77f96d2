//! Requests received on connections that no process had taken yet, held until the accept that
//! takes the connection names its process. A client may send its request before the server's
//! accept returns (on loopback it mostly does), and to a listener that defers accepts the
//! connection is made only as the request comes: the eBPF side then records the request
//! unclaimed, ahead of that accept's record in the ring, so a request waits only for records
//! after it. The two are paired by the connection's ends, which the request's packet and the
//! accept's socket both give; an IPv4 client of a dual-stack IPv6 socket is named by the socket
//! with a mapped address (`::ffff:192.0.2.1`), so ends are compared as IPv4 where they are.
//!
//! Bounded: at most [`UNCLAIMED_MAX`] requests are held, each at most [`UNCLAIMED_FOR_NS`];
//! past either the oldest is let go and counted. A request no accept claims (its connection
//! reset before the accept, a connection this host made that the kernel side had no note of)
//! goes that way. Nothing here does IO.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};

use warden_sources::audit::net::SockAddr;

/// Requests held at most at once: a server that takes seconds to accept thousands of
/// connections each with a request waiting is under a flood, whose first requests are kept.
pub const UNCLAIMED_MAX: usize = 1024;

/// How long a request waits for its accept: a server that has not taken a connection 10 s
/// after its request came is not about to.
pub const UNCLAIMED_FOR_NS: u64 = 10_000_000_000;

/// A TCP connection's two ends (this host's, the peer's), as compared here.
pub type Ends = (SocketAddr, SocketAddr);

/// The ends `local` and `remote` as compared here: None unless both are IP ends.
pub fn ends(local: Option<&SockAddr>, remote: Option<&SockAddr>) -> Option<Ends> {
    Some((ip_end(local?)?, ip_end(remote?)?))
}

fn ip_end(end: &SockAddr) -> Option<SocketAddr> {
    match *end {
        SockAddr::Inet { addr, port } => Some(SocketAddr::new(IpAddr::V4(addr), port)),
        SockAddr::Inet6 { addr, port, .. } => Some(SocketAddr::new(
            addr.to_ipv4_mapped().map_or(IpAddr::V6(addr), IpAddr::V4),
            port,
        )),
        _ => None,
    }
}

/// The requests held, in the order they came.
pub struct Unclaimed<T> {
    /// By the connection's ends: when each came (boot time, ns) and the request.
    held: HashMap<Ends, Vec<(u64, T)>>,
    /// Each request's ends and time, oldest first (a claimed one's stays until it would
    /// expire, and is then passed over).
    order: VecDeque<(u64, Ends)>,
    /// Requests held now.
    count: usize,
}

impl<T> Default for Unclaimed<T> {
    fn default() -> Self {
        Self {
            held: HashMap::new(),
            order: VecDeque::new(),
            count: 0,
        }
    }
}

impl<T> Unclaimed<T> {
    /// Holds `request`, received at `boot_ns` on the connection `ends`. Returns how many held
    /// requests were let go unclaimed to make room or for their age.
    pub fn hold(&mut self, ends: Ends, boot_ns: u64, request: T) -> usize {
        let mut let_go = self.expire(boot_ns);
        while self.count >= UNCLAIMED_MAX && !self.order.is_empty() {
            let_go += usize::from(self.let_go_oldest());
        }
        self.held.entry(ends).or_default().push((boot_ns, request));
        self.order.push_back((boot_ns, ends));
        self.count += 1;
        let_go
    }

    /// The requests held for the connection `ends`, which an accept took at `boot_ns`, in the
    /// order they came; and how many others were let go for their age.
    pub fn claim(&mut self, ends: Ends, boot_ns: u64) -> (Vec<T>, usize) {
        let let_go = self.expire(boot_ns);
        let claimed: Vec<T> = self
            .held
            .remove(&ends)
            .unwrap_or_default()
            .into_iter()
            .map(|(_, request)| request)
            .collect();
        self.count -= claimed.len();
        (claimed, let_go)
    }

    /// Requests held now.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Lets go of the requests older than [`UNCLAIMED_FOR_NS`] at `now_ns`: how many.
    fn expire(&mut self, now_ns: u64) -> usize {
        let mut let_go = 0;
        while self
            .order
            .front()
            .is_some_and(|&(at, _)| now_ns.saturating_sub(at) > UNCLAIMED_FOR_NS)
        {
            let_go += usize::from(self.let_go_oldest());
        }
        let_go
    }

    /// Lets go of the oldest request still held: whether there was one (its place in the
    /// order may be a claimed one's, passed over).
    fn let_go_oldest(&mut self) -> bool {
        let Some((at, ends)) = self.order.pop_front() else {
            return false;
        };
        let Some(requests) = self.held.get_mut(&ends) else {
            return false;
        };
        let Some(oldest) = requests.iter().position(|&(came, _)| came == at) else {
            return false;
        };
        requests.remove(oldest);
        if requests.is_empty() {
            self.held.remove(&ends);
        }
        self.count -= 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;

    fn v4(port: u16) -> SockAddr {
        SockAddr::Inet {
            addr: Ipv4Addr::new(192, 0, 2, 1),
            port,
        }
    }

    fn connection(client_port: u16) -> Ends {
        ends(Some(&v4(80)), Some(&v4(client_port))).unwrap()
    }

    #[test]
    fn an_accept_claims_its_connections_requests_in_their_order() {
        let mut held = Unclaimed::default();
        assert_eq!(held.hold(connection(1000), 1, "first"), 0);
        assert_eq!(held.hold(connection(2000), 2, "other"), 0);
        assert_eq!(held.hold(connection(1000), 3, "second"), 0);
        assert_eq!(held.len(), 3);
        assert_eq!(
            held.claim(connection(1000), 4),
            (vec!["first", "second"], 0)
        );
        assert_eq!(held.claim(connection(1000), 5), (vec![], 0));
        assert_eq!(held.len(), 1);
        assert_eq!(held.claim(connection(2000), 6), (vec!["other"], 0));
        assert_eq!(held.len(), 0);
    }

    #[test]
    fn a_dual_stack_sockets_mapped_ends_are_the_ipv4_packets() {
        let mapped = |port| SockAddr::Inet6 {
            addr: Ipv4Addr::new(192, 0, 2, 1).to_ipv6_mapped(),
            port,
            flowinfo: 0,
            scope_id: 0,
        };
        assert_eq!(
            ends(Some(&mapped(80)), Some(&mapped(1000))),
            Some(connection(1000))
        );
        let v6 = SockAddr::Inet6 {
            addr: Ipv6Addr::LOCALHOST,
            port: 80,
            flowinfo: 0,
            scope_id: 0,
        };
        assert_ne!(ends(Some(&v6), Some(&v6)), Some(connection(80)));
        assert_eq!(ends(Some(&v4(80)), None), None);
    }

    #[test]
    fn requests_left_unclaimed_are_let_go_by_age_and_number() {
        let mut held = Unclaimed::default();
        held.hold(connection(1), 0, 1);
        held.hold(connection(2), UNCLAIMED_FOR_NS, 2);
        // The first is older than the wait when the third comes; the second is not.
        assert_eq!(held.hold(connection(3), UNCLAIMED_FOR_NS + 1, 3), 1);
        assert_eq!(held.claim(connection(1), UNCLAIMED_FOR_NS + 1), (vec![], 0));
        assert_eq!(
            held.claim(connection(2), UNCLAIMED_FOR_NS + 2),
            (vec![2], 0)
        );
        // A claimed request's place in the order is passed over as it comes up.
        assert_eq!(held.claim(connection(3), 3 * UNCLAIMED_FOR_NS), (vec![], 1));
        assert_eq!(held.len(), 0);

        let now = 4 * UNCLAIMED_FOR_NS;
        for port in 0..UNCLAIMED_MAX as u16 {
            assert_eq!(held.hold(connection(port), now, port), 0);
        }
        assert_eq!(held.hold(connection(60000), now, 60000), 1);
        assert_eq!(held.len(), UNCLAIMED_MAX);
        assert_eq!(held.claim(connection(0), now), (vec![], 0));
        assert_eq!(held.claim(connection(1), now), (vec![1], 0));
        assert_eq!(held.claim(connection(60000), now), (vec![60000], 0));
    }
}

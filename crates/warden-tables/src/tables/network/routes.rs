//! `routes`: every IPv4 and IPv6 route of every routing table, from an rtnetlink RTM_GETROUTE dump.
//!
//! Like osquery this dumps all tables (main, local, ...) and maps the route type to `gateway`
//! (unicast), `local`, `broadcast`, `anycast` or `other`. One difference: osquery reports
//! `netmask` 0 for host routes (/32, /128) that carry a destination; Warden reports the real
//! prefix length, so a host route is not mistaken for a default route.

use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteMetric, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use super::netlink;
use crate::{QueryContext, Rows, TableError};

/// One route as the table reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Route {
    pub destination: String,
    pub netmask: u8,
    pub gateway: Option<String>,
    pub source: Option<String>,
    pub flags: u32,
    pub interface: Option<String>,
    pub mtu: u32,
    pub metric: u32,
    pub kind: &'static str,
    pub hopcount: u32,
}

fn address_text(addr: &RouteAddress) -> Option<String> {
    match addr {
        RouteAddress::Inet(a) => Some(a.to_string()),
        RouteAddress::Inet6(a) => Some(a.to_string()),
        _ => None,
    }
}

fn type_name(kind: RouteType) -> &'static str {
    match kind {
        RouteType::Unicast => "gateway",
        RouteType::Local => "local",
        RouteType::Broadcast => "broadcast",
        RouteType::Anycast => "anycast",
        _ => "other",
    }
}

/// Turns one RTM_NEWROUTE message into a row; `name_of` maps an interface index to its name.
/// Routes that are neither IPv4 nor IPv6 (multicast routing, MPLS) give `None`.
pub(crate) fn route_from_message(
    msg: &RouteMessage,
    name_of: impl Fn(u32) -> Option<String>,
) -> Option<Route> {
    let header: &RouteHeader = &msg.header;
    let default_destination = match header.address_family {
        AddressFamily::Inet => "0.0.0.0",
        AddressFamily::Inet6 => "::",
        _ => return None,
    };
    let mut route = Route {
        destination: default_destination.to_string(),
        netmask: header.destination_prefix_length,
        gateway: None,
        source: None,
        flags: header.flags.bits(),
        interface: None,
        mtu: 0,
        metric: 0,
        kind: type_name(header.kind),
        hopcount: 0,
    };
    for attr in &msg.attributes {
        match attr {
            RouteAttribute::Destination(a) => {
                if let Some(text) = address_text(a) {
                    route.destination = text;
                }
            }
            RouteAttribute::Gateway(a) => route.gateway = address_text(a),
            RouteAttribute::PrefSource(a) => route.source = address_text(a),
            RouteAttribute::Oif(index) => route.interface = name_of(*index),
            RouteAttribute::Priority(p) => route.metric = *p,
            RouteAttribute::Metrics(metrics) => {
                for m in metrics {
                    match m {
                        RouteMetric::Mtu(v) => route.mtu = *v,
                        RouteMetric::Hoplimit(v) => route.hopcount = *v,
                        _ => {}
                    }
                }
            }
            // A multipath route: report its first next hop.
            RouteAttribute::MultiPath(hops) => {
                if let Some(hop) = hops.first() {
                    if route.interface.is_none() {
                        route.interface = name_of(hop.interface_index);
                    }
                    if route.gateway.is_none() {
                        route.gateway = hop.attributes.iter().find_map(|a| match a {
                            RouteAttribute::Gateway(g) => address_text(g),
                            _ => None,
                        });
                    }
                }
            }
            _ => {}
        }
    }
    Some(route)
}

/// The name of an interface index (if_indextoname(3)).
pub(crate) fn interface_name(index: u32) -> Option<String> {
    nix::net::if_::if_indextoname(index)
        .ok()
        .and_then(|c| c.into_string().ok())
}

pub(crate) fn generate(_ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    let messages = netlink::dump(RouteNetlinkMessage::GetRoute(RouteMessage::default()))?;
    for message in messages {
        let RouteNetlinkMessage::NewRoute(msg) = message else {
            continue;
        };
        let Some(route) = route_from_message(&msg, interface_name) else {
            continue;
        };
        rows.push()
            .set("destination", route.destination)
            .set("netmask", route.netmask)
            .set("gateway", route.gateway)
            .set("source", route.source)
            .set("flags", route.flags)
            .set("interface", route.interface)
            .set("mtu", route.mtu)
            .set("metric", route.metric)
            .set("type", route.kind)
            .set("hopcount", route.hopcount);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_core::{NetlinkMessage, NetlinkPayload};
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn name_of(i: u32) -> Option<String> {
        (i == 2).then(|| "eth0".to_string())
    }

    #[test]
    fn default_ipv4_route_has_gateway_and_zero_prefix() {
        let mut msg = RouteMessage::default();
        msg.header.address_family = AddressFamily::Inet;
        msg.header.kind = RouteType::Unicast;
        msg.attributes = vec![
            RouteAttribute::Gateway(RouteAddress::Inet(Ipv4Addr::new(192, 0, 2, 1))),
            RouteAttribute::Oif(2),
        ];
        let r = route_from_message(&msg, name_of).unwrap();
        assert_eq!(r.destination, "0.0.0.0");
        assert_eq!(r.netmask, 0);
        assert_eq!(r.gateway.as_deref(), Some("192.0.2.1"));
        assert_eq!(r.interface.as_deref(), Some("eth0"));
        assert_eq!(r.kind, "gateway");
        assert_eq!((r.mtu, r.metric, r.hopcount), (0, 0, 0));
    }

    #[test]
    fn ipv6_local_route_with_metrics() {
        let mut msg = RouteMessage::default();
        msg.header.address_family = AddressFamily::Inet6;
        msg.header.destination_prefix_length = 128;
        msg.header.kind = RouteType::Local;
        msg.attributes = vec![
            RouteAttribute::Destination(RouteAddress::Inet6(Ipv6Addr::LOCALHOST)),
            RouteAttribute::Priority(1024),
            RouteAttribute::Metrics(vec![RouteMetric::Mtu(1500), RouteMetric::Hoplimit(64)]),
            RouteAttribute::PrefSource(RouteAddress::Inet6(Ipv6Addr::LOCALHOST)),
        ];
        let r = route_from_message(&msg, name_of).unwrap();
        assert_eq!(r.destination, "::1");
        assert_eq!(r.netmask, 128);
        assert_eq!(r.source.as_deref(), Some("::1"));
        assert_eq!((r.mtu, r.metric, r.hopcount), (1500, 1024, 64));
        assert_eq!(r.kind, "local");
        assert_eq!(r.interface, None);
    }

    #[test]
    fn other_families_are_skipped_and_wire_bytes_decode() {
        let mut msg = RouteMessage::default();
        msg.header.address_family = AddressFamily::Mpls;
        assert!(route_from_message(&msg, name_of).is_none());

        // An RTM_NEWROUTE for 192.0.2.0/24 dev 2 (table main, proto kernel, scope link).
        let bytes: Vec<u8> = vec![
            0x34, 0, 0, 0, 0x18, 0, 0x02, 0, 1, 0, 0, 0, 0, 0, 0, 0, // nlmsghdr
            2, 24, 0, 0, 254, 2, 253, 1, 0, 0, 0, 0, // rtmsg
            8, 0, 15, 0, 254, 0, 0, 0, // RTA_TABLE
            8, 0, 1, 0, 192, 0, 2, 0, // RTA_DST
            8, 0, 4, 0, 2, 0, 0, 0, // RTA_OIF
        ];
        let decoded = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&bytes).unwrap();
        let NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewRoute(m)) = decoded.payload else {
            panic!("not a route: {decoded:?}");
        };
        let r = route_from_message(&m, name_of).unwrap();
        assert_eq!(r.destination, "192.0.2.0");
        assert_eq!(r.netmask, 24);
        assert_eq!(r.interface.as_deref(), Some("eth0"));
        assert_eq!(r.kind, "gateway");
    }
}

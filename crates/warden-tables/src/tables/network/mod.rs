//! Tables about networking: interfaces, routes, neighbours, firewall, resolver and /etc name files.

use crate::registry::TableDef;

mod arp_cache;
mod dns_resolvers;
mod etc_files;
mod interfaces;
mod iptables;
mod netlink;
mod routes;

pub(crate) fn tables() -> Vec<TableDef> {
    vec![
        TableDef::osquery("arp_cache", arp_cache::generate),
        TableDef::osquery("dns_resolvers", dns_resolvers::generate),
        TableDef::osquery("etc_hosts", etc_files::generate_hosts),
        TableDef::osquery("etc_protocols", etc_files::generate_protocols),
        TableDef::osquery("etc_services", etc_files::generate_services),
        TableDef::osquery("interface_addresses", interfaces::generate_addresses),
        TableDef::osquery("interface_details", interfaces::generate_details),
        TableDef::osquery("interface_ipv6", interfaces::generate_ipv6),
        TableDef::osquery("iptables", iptables::generate),
        TableDef::osquery("routes", routes::generate),
    ]
}

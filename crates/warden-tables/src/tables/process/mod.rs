//! Tables about running processes: /proc per pid, their files, sockets, memory and environment.

use crate::registry::TableDef;

mod listening_ports;
mod proc;
mod process_envs;
mod process_memory_map;
mod process_namespaces;
mod process_open_files;
mod process_open_pipes;
mod process_open_sockets;
mod processes;
mod shared_memory;
mod sock_diag;
mod sockets;

pub(crate) fn tables() -> Vec<TableDef> {
    vec![
        TableDef::osquery("processes", processes::generate),
        TableDef::osquery("listening_ports", listening_ports::generate),
        TableDef::osquery("process_open_sockets", process_open_sockets::generate),
        TableDef::osquery("process_open_files", process_open_files::generate),
        TableDef::osquery("process_memory_map", process_memory_map::generate),
        TableDef::osquery("process_envs", process_envs::generate),
        TableDef::osquery("process_namespaces", process_namespaces::generate),
        TableDef::osquery("process_open_pipes", process_open_pipes::generate),
        TableDef::osquery("shared_memory", shared_memory::generate),
    ]
}

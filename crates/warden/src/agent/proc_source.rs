//! The process table's window on /proc: start times and snapshots of pids it does not know yet.

use warden_process::{ProcSource, SeedProcess};
use warden_sources::procfs::{self, ProcessInfo};

/// Reads /proc on demand (the process table's only IO).
pub struct LiveProc;

impl ProcSource for LiveProc {
    fn start_ticks(&self, pid: u32) -> Option<u64> {
        procfs::start_ticks(pid)
    }

    fn snapshot(&self, pid: u32) -> Option<SeedProcess> {
        procfs::read_process(pid).ok().map(seed_of)
    }
}

/// A /proc process as the table's seed.
pub fn seed_of(p: ProcessInfo) -> SeedProcess {
    SeedProcess {
        pid: p.pid,
        ppid: Some(p.ppid),
        start_ticks: p.start_ticks,
        uid: Some(p.uid),
        euid: Some(p.euid),
        gid: Some(p.gid),
        egid: Some(p.egid),
        auid: None,
        session: u32::try_from(p.session).ok(),
        tty: (p.tty_nr != 0).then(|| tty_name(p.tty_nr)),
        comm: Some(String::from_utf8_lossy(&p.comm).into_owned()),
        exe: p.exe,
        args: p.cmdline.into(),
        cwd: p.cwd,
    }
}

/// A tty device number as the name audit uses (`pts3`, `tty1`).
fn tty_name(tty_nr: i32) -> String {
    let major = (tty_nr >> 8) & 0xfff;
    let minor = (tty_nr & 0xff) | ((tty_nr >> 12) & 0xfff00);
    match major {
        136..=143 => format!("pts{}", (major - 136) * 256 + minor),
        4 => format!("tty{minor}"),
        _ => format!("{major}:{minor}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tty_numbers_become_names() {
        assert_eq!(tty_name((136 << 8) | 3), "pts3");
        assert_eq!(tty_name((4 << 8) | 1), "tty1");
    }
}

//! The table against the real /proc: this test's own process gets the key /proc implies.

use std::fs;

use warden_core::{BootId, ProcessKey, Source};
use warden_process::{ExecFact, ProcSource, ProcessTable, SeedProcess, TableConfig};

/// USER_HZ: the unit of /proc/PID/stat start times on every Linux ABI.
const TICKS_PER_SEC: u64 = 100;

/// A minimal /proc-backed source, as the binary will have.
struct RealProc;

/// The fields of /proc/PID/stat after `(comm)`, which may itself hold spaces and parentheses.
fn stat_fields(pid: u32) -> Option<(String, Vec<String>)> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text[open + 1..close].to_owned();
    Some((
        comm,
        text[close + 1..]
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
    ))
}

impl ProcSource for RealProc {
    fn start_ticks(&self, pid: u32) -> Option<u64> {
        // Field 22; the fields after `)` start at field 3.
        stat_fields(pid)?.1.get(22 - 3)?.parse().ok()
    }

    fn snapshot(&self, pid: u32) -> Option<SeedProcess> {
        let (comm, fields) = stat_fields(pid)?;
        let ppid: u32 = fields.get(4 - 3)?.parse().ok()?;
        let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        Some(SeedProcess {
            pid,
            ppid: (ppid != 0).then_some(ppid),
            start_ticks: fields.get(22 - 3)?.parse().ok()?,
            comm: Some(comm),
            exe: fs::read_link(format!("/proc/{pid}/exe"))
                .ok()
                .map(|p| p.into_os_string().into_encoded_bytes()),
            args: cmdline
                .split(|b| *b == 0)
                .filter(|a| !a.is_empty())
                .map(<[u8]>::to_vec)
                .collect(),
            cwd: fs::read_link(format!("/proc/{pid}/cwd"))
                .ok()
                .map(|p| p.into_os_string().into_encoded_bytes()),
            ..SeedProcess::default()
        })
    }
}

fn boot() -> (BootId, i64) {
    let id = fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap();
    let stat = fs::read_to_string("/proc/stat").unwrap();
    let btime: i64 = stat
        .lines()
        .find_map(|l| l.strip_prefix("btime "))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    (BootId::parse(&id).unwrap(), btime * 1_000_000_000)
}

#[test]
fn own_process_gets_the_key_proc_implies() {
    let (boot_id, boot_time_ns) = boot();
    let pid = std::process::id();
    let start_ticks = RealProc.start_ticks(pid).expect("own /proc/PID/stat");
    let ppid = RealProc.snapshot(pid).unwrap().ppid;

    let mut table = ProcessTable::new(boot_id, TICKS_PER_SEC, boot_time_ns, TableConfig::default());
    // An exec fact as audit gives it: no start time, found through /proc.
    let fact = ExecFact {
        pid,
        ppid,
        exe: std::env::current_exe()
            .ok()
            .map(|p| p.into_os_string().into_encoded_bytes()),
        success: true,
        ..ExecFact::default()
    };
    let event = table.on_exec(&fact, &RealProc, Source::Audit);
    let expected = ProcessKey {
        boot: boot_id,
        pid,
        start_ticks,
    };
    assert_eq!(event.process.key, Some(expected));
    assert_eq!(event.process.entity_id(), Some(expected.entity_id()));

    // The start time is in the past and after boot.
    let now_ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    let start_ns = event.process.start_ns.unwrap();
    assert!(
        start_ns >= boot_time_ns && start_ns <= now_ns + 1_000_000_000,
        "{start_ns}"
    );

    // The parent (cargo or the shell) was loaded from /proc with its own key.
    if let Some(ppid) = ppid {
        let parent = event.process.parent.expect("parent from /proc");
        assert_eq!(parent.pid, ppid);
        assert_eq!(
            parent.key.map(|k| k.start_ticks),
            RealProc.start_ticks(ppid),
            "parent key as /proc says"
        );
        assert_eq!(table.ancestry(pid).len(), 2);
    }

    // A /proc scan of the same process agrees: nothing new is added.
    let seeded = table.seed(vec![RealProc.snapshot(pid).unwrap()]);
    assert!(seeded.is_empty());
    assert_eq!(table.get(pid).unwrap().key, Some(expected));
}

//! `warden cleanup`: undoes what an agent killed before it could stop (SIGKILL, the OOM killer)
//! left in the kernel — its audit rules, the audit settings it changed, its daemon slot —
//! without starting one. For a service manager's post-stop hook (`ExecStopPost=`).

use std::path::Path;

use anyhow::Context as _;
use warden_sources::audit::ledger::{LedgerFile, Settled};
use warden_sources::audit::{AuditControl, WARDEN_KEY, settle};

use super::pipeline::{AUDIT_LEDGER, single_instance};

/// Cleans up after a killed agent and says what it did; refuses while an agent runs.
pub fn run() -> anyhow::Result<()> {
    anyhow::ensure!(
        nix::unistd::geteuid().is_root(),
        "warden cleanup changes the kernel's audit rules and settings: run it as root (it needs \
         CAP_AUDIT_CONTROL, and the agent lock in /run)"
    );
    // Held while cleaning: no agent starts meanwhile, and none runs now.
    let _no_agent = single_instance().context("cannot clean up")?;
    let mut control = AuditControl::open()?;
    let mut done = Vec::new();
    match settle(&LedgerFile::new(AUDIT_LEDGER), &mut control)? {
        Settled::Clean => {}
        Settled::OwnerRuns(pid) => anyhow::bail!(
            "cannot clean up: the audit settings are held by a running process (pid {pid}) \
             that does not hold the agent lock"
        ),
        settled => done.push(settled.to_string()),
    }
    let status = control.status()?;
    if status.enabled == 2 {
        done.push("audit is locked (enabled=2) until reboot: its rules cannot change".into());
    } else {
        let ours: Vec<_> = control
            .list_rules()?
            .into_iter()
            .filter(|r| r.has_key(WARDEN_KEY.as_bytes()))
            .collect();
        for rule in &ours {
            control.delete_rule(&rule.raw)?;
        }
        if !ours.is_empty() {
            done.push(format!(
                "removed {} audit rule(s) with key {WARDEN_KEY:?}",
                ours.len()
            ));
        }
    }
    if status.pid != 0 && !Path::new(&format!("/proc/{}", status.pid)).exists() {
        // Only the registered daemon may unregister; a new one may replace a dead one (the
        // kernel's probe of it fails), then leave.
        let mut daemon = AuditControl::open()?;
        daemon.register(|_, _| {})?;
        daemon.unregister()?;
        done.push(format!(
            "freed the audit daemon slot of pid {}, which no longer runs",
            status.pid
        ));
    }
    if done.is_empty() {
        println!("nothing to clean up: no agent left audit rules or settings behind");
    }
    for line in done {
        println!("{line}");
    }
    Ok(())
}

//! Who made an audited syscall: the ids, names and session of its SYSCALL record, read once for
//! every view of the event (exec, network, file).

use super::exec::UNSET_ID;
use super::record::{FieldProblem, Record, Value};

/// The caller of an audited syscall, as the SYSCALL record gives it (credentials at the time of
/// the call; after it, for an exec).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Subject {
    /// Thread-group id.
    pub pid: u32,
    /// Parent's thread-group id.
    pub ppid: u32,
    /// Real uid.
    pub uid: u32,
    /// Effective uid.
    pub euid: u32,
    /// Saved uid.
    pub suid: Option<u32>,
    /// Filesystem uid.
    pub fsuid: Option<u32>,
    /// Real gid.
    pub gid: u32,
    /// Effective gid.
    pub egid: u32,
    /// Saved gid.
    pub sgid: Option<u32>,
    /// Filesystem gid.
    pub fsgid: Option<u32>,
    /// Login uid; `None` when unset.
    pub auid: Option<u32>,
    /// Audit session; `None` when unset.
    pub ses: Option<u32>,
    /// Controlling terminal (`pts0`); `None` for `(none)`.
    pub tty: Option<String>,
    /// `comm=`.
    pub comm: Option<Vec<u8>>,
    /// `exe=`.
    pub exe: Option<Vec<u8>>,
}

impl Subject {
    /// The subject of a SYSCALL record. The ids the kernel always writes are required.
    pub fn from_syscall(sc: &Record) -> Result<Subject, FieldProblem> {
        let set = |v: Option<u32>| v.filter(|v| *v != UNSET_ID);
        Ok(Subject {
            pid: sc.req("pid", Value::as_u32)?,
            ppid: sc.req("ppid", Value::as_u32)?,
            uid: sc.req("uid", Value::as_u32)?,
            euid: sc.req("euid", Value::as_u32)?,
            suid: sc.opt("suid", Value::as_u32)?,
            fsuid: sc.opt("fsuid", Value::as_u32)?,
            gid: sc.req("gid", Value::as_u32)?,
            egid: sc.req("egid", Value::as_u32)?,
            sgid: sc.opt("sgid", Value::as_u32)?,
            fsgid: sc.opt("fsgid", Value::as_u32)?,
            auid: set(sc.opt("auid", Value::as_u32)?),
            ses: set(sc.opt("ses", Value::as_u32)?),
            tty: sc
                .get("tty")
                .and_then(Value::text)
                .filter(|t| *t != "(none)")
                .map(str::to_owned),
            comm: sc.bytes_of("comm"),
            exe: sc.bytes_of("exe"),
        })
    }

    /// `comm` as text (lossy: it is a label, at most 16 bytes).
    pub fn comm_text(&self) -> Option<String> {
        self.comm
            .as_deref()
            .map(|c| String::from_utf8_lossy(c).into_owned())
    }
}

//! The exec view of an assembled audit event: who ran what, with which argv, from where.
//!
//! Built from SYSCALL (ids, comm, exe, result, key), EXECVE (argc and arguments, long ones
//! rejoined from `aN_len` + `aN[i]` pieces across records), CWD, PATH and PROCTITLE. Byte strings
//! stay bytes: arguments and paths need not be UTF-8.

use std::collections::BTreeMap;

use super::assemble::Event;
use super::msgtype;
use super::record::{EventId, FieldProblem, Record, Value};
use super::subject::Subject;

/// `AUDIT_ARCH_*` values of the `arch=` field.
pub mod arch {
    /// x86-64.
    pub const X86_64: u32 = 0xc000_003e;
    /// i386 (also 32-bit programs on x86-64).
    pub const I386: u32 = 0x4000_0003;
    /// AArch64.
    pub const AARCH64: u32 = 0xc000_00b7;
    /// 32-bit ARM (EABI).
    pub const ARM: u32 = 0x4000_0028;
    /// RISC-V 64.
    pub const RISCV64: u32 = 0xc000_00f3;
    /// PowerPC 64 little-endian.
    pub const PPC64LE: u32 = 0xc000_0015;
    /// s390x.
    pub const S390X: u32 = 0x8000_0016;
}

/// `auid` / `ses` value meaning "not set".
pub const UNSET_ID: u32 = u32::MAX;

/// Which exec call this was.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExecCall {
    /// execve(2).
    Execve,
    /// execveat(2).
    Execveat,
    /// Not recognised for this arch, but the event carries an EXECVE record.
    Other,
}

/// execve / execveat for an arch and syscall number, if it is one.
pub fn exec_call(arch: u32, syscall: u32) -> Option<ExecCall> {
    let (execve, execveat) = match arch {
        arch::X86_64 => (59, 322),
        arch::I386 => (11, 358),
        arch::AARCH64 | arch::RISCV64 => (221, 281),
        arch::ARM => (11, 387),
        arch::PPC64LE => (11, 362),
        arch::S390X => (11, 354),
        _ => return None,
    };
    if syscall == execve {
        Some(ExecCall::Execve)
    } else if syscall == execveat {
        Some(ExecCall::Execveat)
    } else {
        None
    }
}

/// A device number as the kernel writes it (`fd:00` = major 0xfd, minor 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Dev {
    /// Major number.
    pub major: u32,
    /// Minor number.
    pub minor: u32,
}

/// One PATH record.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PathEntry {
    /// `item=`: position in the syscall's name list.
    pub item: Option<u32>,
    /// `name=` as the program passed it (may be relative to cwd or to an unseen dirfd).
    pub name: Option<Vec<u8>>,
    /// `inode=`.
    pub inode: Option<u64>,
    /// `dev=`.
    pub dev: Option<Dev>,
    /// `mode=` (octal: file type and permission bits).
    pub mode: Option<u32>,
    /// `ouid=`: owner.
    pub ouid: Option<u32>,
    /// `ogid=`: group.
    pub ogid: Option<u32>,
    /// `nametype=`: NORMAL, PARENT, CREATE, DELETE, UNKNOWN.
    pub nametype: Option<String>,
}

/// An exec, as audit saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecEvent {
    /// Stamp of the event.
    pub id: EventId,
    /// The event was closed by EOE with nothing dropped (see [`Event::is_complete`]).
    pub complete: bool,
    /// `arch=`.
    pub arch: Option<u32>,
    /// `syscall=` number.
    pub syscall: u32,
    /// execve, execveat, or other.
    pub call: ExecCall,
    /// `success=yes|no`.
    pub success: Option<bool>,
    /// `exit=`: return value or negative errno.
    pub exit: Option<i64>,
    /// Who called, with the credentials after the exec.
    pub subject: Subject,
    /// CWD record.
    pub cwd: Option<Vec<u8>>,
    /// `argc=` of the EXECVE record.
    pub argc: Option<u32>,
    /// Arguments, decoded and rejoined.
    pub argv: Vec<Vec<u8>>,
    /// `argv` has exactly `argc` entries and every split argument was whole.
    pub argv_complete: bool,
    /// PATH records in order.
    pub paths: Vec<PathEntry>,
    /// PROCTITLE split at NULs (the kernel cuts it at 128 bytes).
    pub proctitle: Option<Vec<Vec<u8>>>,
    /// Rule keys (several keys on one rule are joined by 0x01 in the record).
    pub keys: Vec<Vec<u8>>,
}

impl ExecEvent {
    /// Was the event tagged with this rule key?
    pub fn has_key(&self, key: &[u8]) -> bool {
        self.keys.iter().any(|k| k == key)
    }

    /// The file the call named (the first PATH record: a `#!` script's exec names the script,
    /// then its interpreter): its name made absolute against the CWD record (not through
    /// symlinks), and its inode. The script an interpreter runs when it is not the image.
    pub fn named(&self) -> Option<(Vec<u8>, u64)> {
        let first = self.paths.iter().find(|p| p.item == Some(0))?;
        Some((self.asked()?, first.inode?))
    }

    /// The name the call was given (the first PATH record's), made absolute against the CWD
    /// record: what a failed exec asked for (its `exe=` is the image of the process that
    /// asked, which it still runs).
    pub fn asked(&self) -> Option<Vec<u8>> {
        let first = self.paths.iter().find(|p| p.item == Some(0))?;
        let name = first.name.as_deref()?;
        match (name.starts_with(b"/"), &self.cwd) {
            (true, _) => Some(super::file::join(b"/", name)),
            (false, Some(cwd)) => Some(super::file::join(cwd, name)),
            (false, None) => None,
        }
    }
}

/// Why an event has no exec view.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ExecError {
    /// The event has no SYSCALL record.
    #[error("event has no SYSCALL record")]
    NoSyscall,
    /// The syscall is not an exec and there is no EXECVE record.
    #[error("event is not an exec")]
    NotExec,
    /// A field the kernel always writes is missing.
    #[error("SYSCALL record lacks field {0}")]
    MissingField(&'static str),
    /// A field is present but not in the expected form.
    #[error("field {0} is malformed")]
    BadField(&'static str),
}

impl From<FieldProblem> for ExecError {
    fn from(p: FieldProblem) -> Self {
        match p {
            FieldProblem::Missing(key) => ExecError::MissingField(key),
            FieldProblem::Malformed(key) => ExecError::BadField(key),
        }
    }
}

impl ExecEvent {
    /// The exec view of `event`, or why there is none.
    pub fn from_event(event: &Event) -> Result<ExecEvent, ExecError> {
        let sc = event.record(msgtype::SYSCALL).ok_or(ExecError::NoSyscall)?;
        let arch = sc
            .opt("arch", Value::as_hex_u64)?
            .map(|a| u32::try_from(a).map_err(|_| ExecError::BadField("arch")))
            .transpose()?;
        let syscall = sc.req("syscall", Value::as_u32)?;
        let has_execve = event.record(msgtype::EXECVE).is_some();
        let call = match arch.and_then(|a| exec_call(a, syscall)) {
            Some(c) => c,
            None if has_execve => ExecCall::Other,
            None => return Err(ExecError::NotExec),
        };
        let success = sc.success()?;
        let (argc, argv, argv_complete) = assemble_argv(event.records_of(msgtype::EXECVE));
        Ok(ExecEvent {
            id: event.id,
            complete: event.is_complete(),
            arch,
            syscall,
            call,
            success,
            exit: sc.opt("exit", Value::as_i64)?,
            subject: Subject::from_syscall(sc)?,
            cwd: event.record(msgtype::CWD).and_then(|r| r.bytes_of("cwd")),
            argc,
            argv,
            argv_complete,
            paths: event
                .records_of(msgtype::PATH)
                .map(path_entry)
                .collect::<Result<_, _>>()?,
            proctitle: event
                .record(msgtype::PROCTITLE)
                .and_then(|r| r.bytes_of("proctitle"))
                .map(|t| split_nul(&t)),
            keys: sc.rule_keys(),
        })
    }
}

fn split_nul(title: &[u8]) -> Vec<Vec<u8>> {
    let mut parts: Vec<Vec<u8>> = title.split(|b| *b == 0).map(<[u8]>::to_vec).collect();
    while parts.len() > 1 && parts.last().is_some_and(Vec::is_empty) {
        parts.pop();
    }
    parts
}

fn path_entry(r: &Record) -> Result<PathEntry, ExecError> {
    let dev = |key: &'static str| -> Result<Option<Dev>, ExecError> {
        match r.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .text()
                .and_then(parse_dev)
                .map(Some)
                .ok_or(ExecError::BadField(key)),
        }
    };
    Ok(PathEntry {
        item: r.opt("item", Value::as_u32)?,
        name: r.bytes_of("name"),
        inode: r.opt("inode", Value::as_u64)?,
        dev: dev("dev")?,
        mode: r.opt("mode", Value::as_octal_u32)?,
        ouid: r.opt("ouid", Value::as_u32)?,
        ogid: r.opt("ogid", Value::as_u32)?,
        nametype: r.get("nametype").and_then(Value::text).map(str::to_owned),
    })
}

fn parse_dev(s: &str) -> Option<Dev> {
    let (major, minor) = s.split_once(':')?;
    let hex = |p: &str| {
        (!p.is_empty() && p.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| u32::from_str_radix(p, 16).ok())
            .flatten()
    };
    Some(Dev {
        major: hex(major)?,
        minor: hex(minor)?,
    })
}

/// Where one argument's text was found.
#[derive(Default)]
struct ArgParts {
    whole: Option<(Vec<u8>, bool)>,
    declared_len: Option<u64>,
    /// piece index → (bytes, was a clean quoted/hex value)
    pieces: BTreeMap<u32, (Vec<u8>, bool, bool)>,
}

enum ArgKey {
    Whole(u32),
    Len(u32),
    Piece(u32, u32),
}

fn arg_key(key: &str) -> Option<ArgKey> {
    let rest = key.strip_prefix('a')?;
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let n: u32 = rest[..digits].parse().ok()?;
    let tail = &rest[digits..];
    if tail.is_empty() {
        return Some(ArgKey::Whole(n));
    }
    if tail == "_len" {
        return Some(ArgKey::Len(n));
    }
    let idx = tail.strip_prefix('[')?.strip_suffix(']')?;
    if idx.is_empty() || !idx.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(ArgKey::Piece(n, idx.parse().ok()?))
}

/// (argc, argv, complete) from the EXECVE records of one event, in order.
fn assemble_argv<'a>(
    records: impl Iterator<Item = &'a Record>,
) -> (Option<u32>, Vec<Vec<u8>>, bool) {
    let mut argc = None;
    let mut args: BTreeMap<u32, ArgParts> = BTreeMap::new();
    let mut clean = true;
    for r in records {
        for f in &r.fields {
            if f.key == "argc" {
                if argc.is_none() {
                    argc = f.value.as_u32();
                    clean &= argc.is_some();
                }
                continue;
            }
            let Some(k) = arg_key(&f.key) else { continue };
            // Kernel values are quoted or hex; a bare non-hex value is damage.
            let ok = matches!(f.value, Value::Quoted(_) | Value::Hex(_));
            let hex = matches!(f.value, Value::Hex(_));
            let b = f.value.bytes().unwrap_or_default().to_vec();
            match k {
                ArgKey::Whole(n) => {
                    args.entry(n).or_default().whole.get_or_insert((b, ok));
                }
                ArgKey::Len(n) => {
                    let len = f.value.as_u64();
                    clean &= len.is_some();
                    args.entry(n).or_default().declared_len = len;
                }
                ArgKey::Piece(n, i) => {
                    args.entry(n)
                        .or_default()
                        .pieces
                        .entry(i)
                        .or_insert((b, ok, hex));
                }
            }
        }
    }

    let mut argv = Vec::new();
    for n in 0.. {
        if argc.is_some_and(|c| n >= c) {
            break;
        }
        let Some(parts) = args.remove(&n) else { break };
        if let Some((b, ok)) = parts.whole {
            clean &= ok && parts.pieces.is_empty();
            argv.push(b);
            continue;
        }
        let mut joined = Vec::new();
        let mut written_len = 0u64;
        let mut expected = 0u32;
        for (i, (b, ok, hex)) in &parts.pieces {
            if *i != expected {
                clean = false;
                break;
            }
            expected += 1;
            clean &= *ok;
            let len = b.len() as u64;
            written_len += if *hex { len * 2 } else { len };
            joined.extend_from_slice(b);
        }
        if expected == 0 {
            clean = false;
            break;
        }
        // The kernel's aN_len is the length as written: hex digits if hex-encoded.
        clean &= parts.declared_len == Some(written_len);
        argv.push(joined);
    }
    let complete = clean && argc.is_some_and(|c| argv.len() as u64 == u64::from(c));
    (argc, argv, complete)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::audit::assemble::event_of as ev;

    const SC: &str = "arch=c000003e syscall=59 success=yes exit=0 a0=1 a1=2 a2=3 a3=4 items=2 \
                      ppid=10 pid=11 auid=4294967295 uid=1 gid=2 euid=3 suid=4 fsuid=5 egid=6 \
                      sgid=7 fsgid=8 tty=(none) ses=4294967295 comm=\"ls\" exe=\"/usr/bin/ls\" \
                      key=77617264656E01657865630A";

    #[test]
    fn basic_exec_view() {
        let e = ExecEvent::from_event(&ev(&[
            (1300, SC),
            (1309, "argc=2 a0=\"ls\" a1=2D6C20612062"),
            (1307, "cwd=\"/tmp\""),
            (
                1302,
                "item=0 name=\"/usr/bin/ls\" inode=42 dev=fd:01 mode=0100755 ouid=0 ogid=0 \
                 rdev=00:00 nametype=NORMAL cap_fp=0",
            ),
            (1302, "item=1 name=(null) nametype=UNKNOWN"),
            (1327, "proctitle=6C73002D6C2061206200"),
        ]))
        .unwrap();
        assert_eq!(e.call, ExecCall::Execve);
        assert_eq!(
            (
                e.subject.pid,
                e.subject.ppid,
                e.subject.uid,
                e.subject.gid,
                e.subject.euid,
                e.subject.egid
            ),
            (11, 10, 1, 2, 3, 6)
        );
        assert_eq!(
            (
                e.subject.suid,
                e.subject.fsuid,
                e.subject.sgid,
                e.subject.fsgid
            ),
            (Some(4), Some(5), Some(7), Some(8))
        );
        assert_eq!(
            (e.subject.auid, e.subject.ses, e.subject.tty.as_deref()),
            (None, None, None)
        );
        assert_eq!((e.success, e.exit), (Some(true), Some(0)));
        assert_eq!(e.argv, [&b"ls"[..], b"-l a b"]);
        assert!(e.argv_complete);
        assert_eq!(e.cwd.as_deref(), Some(&b"/tmp"[..]));
        assert_eq!(e.paths.len(), 2);
        assert_eq!(
            e.paths[0].dev,
            Some(Dev {
                major: 0xfd,
                minor: 1
            })
        );
        assert_eq!(e.paths[0].mode, Some(0o100755));
        assert_eq!(e.paths[0].inode, Some(42));
        assert_eq!(e.paths[1].name, None);
        assert_eq!(e.paths[1].nametype.as_deref(), Some("UNKNOWN"));
        assert_eq!(e.proctitle.as_ref().unwrap(), &[&b"ls"[..], b"-l a b"]);
        assert_eq!(e.keys, [&b"warden"[..], b"exec\n"]);
        assert!(e.has_key(b"warden"));
        assert_eq!(e.named(), Some((b"/usr/bin/ls".to_vec(), 42)));
    }

    /// A script's exec: the first PATH record is the script as the call named it (relative to
    /// the working directory), then its interpreter's.
    #[test]
    fn the_file_an_exec_named_is_its_first_path() {
        let paths = |first: &str| {
            ExecEvent::from_event(&ev(&[
                (1300, SC),
                (1309, "argc=1 a0=\"stage2\""),
                (1307, "cwd=\"/tmp/work\""),
                (1302, first),
                (
                    1302,
                    "item=1 name=\"/bin/sh\" inode=7 dev=fd:01 mode=0100755 nametype=NORMAL",
                ),
            ]))
            .unwrap()
        };
        let e = paths("item=0 name=\"./stage2\" inode=99 dev=fd:01 mode=0100755 nametype=NORMAL");
        assert_eq!(e.named(), Some((b"/tmp/work/stage2".to_vec(), 99)));
        assert_eq!(paths("item=0 name=(null) nametype=UNKNOWN").named(), None);
        // A failed exec's: the name asked for, which no inode answered.
        let missing = paths("item=0 name=\"missing\" nametype=UNKNOWN");
        assert_eq!(missing.asked(), Some(b"/tmp/work/missing".to_vec()));
        assert_eq!(missing.named(), None);
    }

    #[test]
    fn long_args_split_across_records() {
        let e = ExecEvent::from_event(&ev(&[
            (1300, SC),
            (1309, "argc=3 a0=\"sh\" a1_len=8 a1[0]=4142"),
            (1309, "a1[1]=4344 a2=\"x\""),
        ]))
        .unwrap();
        assert_eq!(e.argv, [&b"sh"[..], b"ABCD", b"x"]);
        assert!(e.argv_complete);
        // Quoted pieces count raw bytes in aN_len.
        let e = ExecEvent::from_event(&ev(&[
            (1300, SC),
            (1309, "argc=1 a0_len=4 a0[0]=\"ab\""),
            (1309, "a0[1]=\"cd\""),
        ]))
        .unwrap();
        assert_eq!(e.argv, [b"abcd"]);
        assert!(e.argv_complete);
    }

    #[test]
    fn damaged_argv_is_flagged_not_fatal() {
        for recs in [
            // missing a1
            &[(1300, SC), (1309, "argc=3 a0=\"a\" a2=\"c\"")][..],
            // piece gap
            &[(1300, SC), (1309, "argc=1 a0_len=6 a0[0]=4142 a0[2]=4546")],
            // length mismatch
            &[(1300, SC), (1309, "argc=1 a0_len=99 a0[0]=4142")],
            // bare non-hex
            &[(1300, SC), (1309, "argc=1 a0=XYZ")],
            // absurd argc
            &[(1300, SC), (1309, "argc=4000000000 a0=\"a\"")],
        ] {
            let e = ExecEvent::from_event(&ev(recs)).unwrap();
            assert!(!e.argv_complete, "{recs:?}");
        }
    }

    #[test]
    fn failed_exec_without_execve_record() {
        let sc = SC.replace("success=yes exit=0", "success=no exit=-2");
        let e = ExecEvent::from_event(&ev(&[(1300, &sc)])).unwrap();
        assert_eq!((e.success, e.exit), (Some(false), Some(-2)));
        assert!(e.argv.is_empty() && !e.argv_complete && e.argc.is_none());
    }

    #[test]
    fn errors() {
        assert_eq!(
            ExecEvent::from_event(&ev(&[(1309, "argc=0")])),
            Err(ExecError::NoSyscall)
        );
        let open = SC.replace("syscall=59", "syscall=2");
        assert_eq!(
            ExecEvent::from_event(&ev(&[(1300, &open)])),
            Err(ExecError::NotExec)
        );
        let no_pid = SC.replace(" pid=11", "");
        assert_eq!(
            ExecEvent::from_event(&ev(&[(1300, &no_pid)])),
            Err(ExecError::MissingField("pid"))
        );
        let bad_uid = SC.replace(" uid=1", " uid=x");
        assert_eq!(
            ExecEvent::from_event(&ev(&[(1300, &bad_uid)])),
            Err(ExecError::BadField("uid"))
        );
        let execveat = SC.replace("syscall=59", "syscall=322");
        let e = ExecEvent::from_event(&ev(&[(1300, &execveat)])).unwrap();
        assert_eq!(e.call, ExecCall::Execveat);
        assert_eq!(exec_call(arch::AARCH64, 221), Some(ExecCall::Execve));
        assert_eq!(exec_call(0, 59), None);
    }
}

//! Audit filter rules as data: a builder ([`AuditRule`]) that encodes `struct audit_rule_data`
//! for `AUDIT_ADD_RULE`/`AUDIT_DEL_RULE`, and a decoder ([`RuleData`]) for what
//! `AUDIT_LIST_RULES` returns. Pure, no IO.
//!
//! `struct audit_rule_data` (kernel `include/uapi/linux/audit.h`), host byte order:
//!
//! ```text
//! u32 flags            filter list (AUDIT_FILTER_EXIT = 4, ...)
//! u32 action           never 0, possible 1, always 2
//! u32 field_count
//! u32 mask[64]         syscall bitmap: bit n of the 2048 = syscall n
//! u32 fields[64]       field ids (AUDIT_ARCH = 11, AUDIT_FILTERKEY = 210, ...)
//! u32 values[64]       numbers, or for string fields the string's length
//! u32 fieldflags[64]   operator (AUDIT_EQUAL = 0x40000000, ...)
//! u32 buflen
//! u8  buf[buflen]      the string values, concatenated in field order, no NULs
//! ```
//!
//! The kernel matches `AUDIT_DEL_RULE` against installed rules by comparing list, action, fields
//! (id, operator, value or string) and the syscall bitmap, so deleting with the exact bytes that
//! added a rule (or that `AUDIT_LIST_RULES` returned for it) removes exactly that rule.
//! Several keys on one rule are joined with `\x01` into one `filterkey` string, as auditctl does.

use thiserror::Error;

use super::exec::arch;

/// Bytes before `buf` in `struct audit_rule_data`.
pub const RULE_HEADER_LEN: usize = 4 * (3 + 64 + 64 * 3 + 1);
/// `AUDIT_MAX_FIELDS`.
pub const MAX_FIELDS: usize = 64;
/// `AUDIT_BITMASK_SIZE` in u32 words (2048 syscall bits).
pub const BITMASK_WORDS: usize = 64;
/// `AUDIT_MAX_KEY_LEN`: the longest filterkey string the kernel accepts.
pub const MAX_KEY_LEN: usize = 256;
/// Separator of several keys in one filterkey string.
pub const KEY_SEPARATOR: u8 = 0x01;

/// Field ids (`AUDIT_*` in `audit.h`) most rules need. Any other id can be passed as a number.
pub mod field {
    /// Process id.
    pub const PID: u32 = 0;
    /// Real uid.
    pub const UID: u32 = 1;
    /// Effective uid.
    pub const EUID: u32 = 2;
    /// Real gid.
    pub const GID: u32 = 5;
    /// Login uid.
    pub const AUID: u32 = 9;
    /// Parent pid.
    pub const PPID: u32 = 18;
    /// Syscall ABI (`AUDIT_ARCH_*`).
    pub const ARCH: u32 = 11;
    /// Syscall return value.
    pub const EXIT: u32 = 103;
    /// Syscall success (1) or failure (0).
    pub const SUCCESS: u32 = 104;
    /// Watched path (string).
    pub const WATCH: u32 = 105;
    /// Permission filter for watches (r=4 w=2 x=1 a=8).
    pub const PERM: u32 = 106;
    /// Watched directory tree (string).
    pub const DIR: u32 = 107;
    /// Executable path of the task (string).
    pub const EXE: u32 = 112;
    /// First syscall argument (a0); a1..a3 are 201..203.
    pub const ARG0: u32 = 200;
    /// The rule's key (string).
    pub const FILTERKEY: u32 = 210;
    /// Second syscall argument (a1).
    pub const ARG1: u32 = 201;
    /// Third syscall argument (a2).
    pub const ARG2: u32 = 202;
    /// Fourth syscall argument (a3).
    pub const ARG3: u32 = 203;

    /// Does the kernel take this field's value as a string in `buf`?
    pub fn is_string(id: u32) -> bool {
        // AUDIT_WATCH, AUDIT_DIR, AUDIT_FILTERKEY, AUDIT_EXE, and the LSM label fields
        // (AUDIT_SUBJ_USER..AUDIT_SUBJ_CLR = 13..17, AUDIT_OBJ_USER..AUDIT_OBJ_LEV_HIGH = 19..23).
        matches!(id, WATCH | DIR | FILTERKEY | EXE | 13..=17 | 19..=23)
    }
}

/// `AUDIT_PERM_*` bits of a watch's [`field::PERM`] value (`-p rwxa`). The kernel matches them
/// against the syscall's class (its read, write and attribute-change tables) or, for the open
/// family and execve, against the call's access mode.
pub mod perm {
    /// `x`: execute.
    pub const EXEC: u32 = 1;
    /// `w`: write.
    pub const WRITE: u32 = 2;
    /// `r`: read.
    pub const READ: u32 = 4;
    /// `a`: attribute change.
    pub const ATTR: u32 = 8;
}

/// What a watch rule watches (`auditctl -w` picks by `stat`ing the path).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WatchKind {
    /// One file, by name in its parent directory ([`field::WATCH`]); the file need not exist
    /// yet, its parent must.
    File,
    /// A directory and everything below it ([`field::DIR`], an audit tree); it must exist.
    Tree,
}

/// The filter list a rule belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FilterList {
    /// `AUDIT_FILTER_USER` (0): user-space messages.
    User,
    /// `AUDIT_FILTER_TASK` (1): checked at fork.
    Task,
    /// `AUDIT_FILTER_EXIT` (4): checked at syscall exit — the normal list.
    Exit,
    /// `AUDIT_FILTER_EXCLUDE` (5): drops records by type.
    Exclude,
    /// `AUDIT_FILTER_FS` (6).
    Filesystem,
    /// `AUDIT_FILTER_URING_EXIT` (7).
    IoUring,
}

impl FilterList {
    /// The kernel's number.
    pub fn code(self) -> u32 {
        match self {
            FilterList::User => 0,
            FilterList::Task => 1,
            FilterList::Exit => 4,
            FilterList::Exclude => 5,
            FilterList::Filesystem => 6,
            FilterList::IoUring => 7,
        }
    }

    /// From the kernel's number.
    pub fn from_code(code: u32) -> Option<FilterList> {
        Some(match code {
            0 => FilterList::User,
            1 => FilterList::Task,
            4 => FilterList::Exit,
            5 => FilterList::Exclude,
            6 => FilterList::Filesystem,
            7 => FilterList::IoUring,
            _ => return None,
        })
    }
}

/// What a matching rule does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// `AUDIT_NEVER` (0): suppress.
    Never,
    /// `AUDIT_POSSIBLE` (1): build a context, do not log.
    Possible,
    /// `AUDIT_ALWAYS` (2): log.
    Always,
}

impl Action {
    /// The kernel's number.
    pub fn code(self) -> u32 {
        match self {
            Action::Never => 0,
            Action::Possible => 1,
            Action::Always => 2,
        }
    }
}

/// A comparison operator of a field filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// `=`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `>`
    Gt,
    /// `<=`
    Le,
    /// `>=`
    Ge,
    /// `&` (any bit of the mask set)
    BitMask,
    /// `&=` (all bits of the mask set)
    BitTest,
}

impl Op {
    /// The kernel's `fieldflags` value.
    pub fn code(self) -> u32 {
        match self {
            Op::Eq => 0x4000_0000,
            Op::Ne => 0x3000_0000,
            Op::Lt => 0x1000_0000,
            Op::Gt => 0x2000_0000,
            Op::Le => 0x5000_0000,
            Op::Ge => 0x6000_0000,
            Op::BitMask => 0x0800_0000,
            Op::BitTest => 0x4800_0000,
        }
    }
}

/// A field filter's value.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum FieldValue {
    /// A number (ids, arch, exit codes; negative values as their u32 bit pattern).
    Num(u32),
    /// A string (paths, keys, labels).
    Str(Vec<u8>),
}

/// One `-F field op value` filter.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RuleField {
    /// Field id (see [`field`]).
    pub id: u32,
    /// Operator.
    pub op: Op,
    /// Value; must be [`FieldValue::Str`] exactly when [`field::is_string`] says so.
    pub value: FieldValue,
}

/// Why a rule cannot be encoded or decoded.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum RuleError {
    /// More than 64 fields (arch and key count too).
    #[error("a rule has at most {MAX_FIELDS} fields, this one has {0}")]
    TooManyFields(usize),
    /// A syscall number past the 2048-bit bitmap.
    #[error("syscall number {0} is out of range")]
    SyscallOutOfRange(u32),
    /// A string field given a number or the reverse.
    #[error("field {0} takes a {1} value")]
    WrongValueKind(u32, &'static str),
    /// Keys joined are longer than the kernel accepts.
    #[error("rule key is {0} bytes, the kernel accepts at most {MAX_KEY_LEN}")]
    KeyTooLong(usize),
    /// A key containing the separator byte or empty.
    #[error("rule keys must be non-empty and must not contain \\x01")]
    BadKey,
    /// Rule data shorter than its header or its strings.
    #[error("truncated audit_rule_data ({0} bytes)")]
    Truncated(usize),
}

/// A rule to install, built from its parts: `AuditRule::exit_always(arch).syscalls(..).key(..)`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AuditRule {
    /// The filter list (normally [`FilterList::Exit`]).
    pub list: FilterList,
    /// The action (normally [`Action::Always`]).
    pub action: Action,
    /// `AUDIT_ARCH_*` the syscall numbers are for; emitted as the first field. `None` matches
    /// every ABI (then the numbers mean different calls on each: avoid for syscall rules).
    pub arch: Option<u32>,
    /// Syscall numbers; empty with [`AuditRule::all_syscalls`] false means none are set.
    pub syscalls: Vec<u32>,
    /// Set every bit of the syscall bitmap (`-S all`).
    pub all_syscalls: bool,
    /// Extra field filters, in order, after `arch`.
    pub fields: Vec<RuleField>,
    /// Keys, joined with `\x01` into one `filterkey` field at the end.
    pub keys: Vec<Vec<u8>>,
}

impl AuditRule {
    /// An empty `always,exit` rule for one ABI.
    pub fn exit_always(arch: u32) -> AuditRule {
        AuditRule {
            list: FilterList::Exit,
            action: Action::Always,
            arch: Some(arch),
            syscalls: Vec::new(),
            all_syscalls: false,
            fields: Vec::new(),
            keys: Vec::new(),
        }
    }

    /// A watch, encoded as `auditctl -w PATH -p PERM` does: an `always,exit` rule on every
    /// syscall of every ABI (the kernel narrows it with the watch and [`perm`] bits), no arch
    /// field, then [`field::WATCH`] or [`field::DIR`] with the path and [`field::PERM`]. The
    /// kernel wants an absolute path without a trailing `/`.
    pub fn watch(path: impl Into<Vec<u8>>, kind: WatchKind, perm_bits: u32) -> AuditRule {
        let id = match kind {
            WatchKind::File => field::WATCH,
            WatchKind::Tree => field::DIR,
        };
        AuditRule {
            list: FilterList::Exit,
            action: Action::Always,
            arch: None,
            syscalls: Vec::new(),
            all_syscalls: true,
            fields: Vec::new(),
            keys: Vec::new(),
        }
        .field(id, Op::Eq, FieldValue::Str(path.into()))
        .field(field::PERM, Op::Eq, FieldValue::Num(perm_bits))
    }

    /// Add syscall numbers.
    pub fn syscalls(mut self, numbers: &[u32]) -> AuditRule {
        self.syscalls.extend_from_slice(numbers);
        self
    }

    /// Add a field filter.
    pub fn field(mut self, id: u32, op: Op, value: FieldValue) -> AuditRule {
        self.fields.push(RuleField { id, op, value });
        self
    }

    /// Add a key.
    pub fn key(mut self, key: impl Into<Vec<u8>>) -> AuditRule {
        self.keys.push(key.into());
        self
    }

    /// Encode as `struct audit_rule_data`.
    pub fn encode(&self) -> Result<Vec<u8>, RuleError> {
        let mut fields: Vec<(u32, u32, FieldValue)> = Vec::new();
        if let Some(a) = self.arch {
            fields.push((field::ARCH, Op::Eq.code(), FieldValue::Num(a)));
        }
        for f in &self.fields {
            match (&f.value, field::is_string(f.id)) {
                (FieldValue::Num(_), true) => {
                    return Err(RuleError::WrongValueKind(f.id, "string"));
                }
                (FieldValue::Str(_), false) => {
                    return Err(RuleError::WrongValueKind(f.id, "numeric"));
                }
                _ => {}
            }
            fields.push((f.id, f.op.code(), f.value.clone()));
        }
        if !self.keys.is_empty() {
            if self
                .keys
                .iter()
                .any(|k| k.is_empty() || k.contains(&KEY_SEPARATOR))
            {
                return Err(RuleError::BadKey);
            }
            let joined = self.keys.join(&KEY_SEPARATOR);
            if joined.len() > MAX_KEY_LEN {
                return Err(RuleError::KeyTooLong(joined.len()));
            }
            fields.push((field::FILTERKEY, Op::Eq.code(), FieldValue::Str(joined)));
        }
        if fields.len() > MAX_FIELDS {
            return Err(RuleError::TooManyFields(fields.len()));
        }
        let mut mask = [0u32; BITMASK_WORDS];
        if self.all_syscalls {
            mask = [u32::MAX; BITMASK_WORDS];
        }
        for &n in &self.syscalls {
            let word = (n / 32) as usize;
            if word >= BITMASK_WORDS {
                return Err(RuleError::SyscallOutOfRange(n));
            }
            mask[word] |= 1 << (n % 32);
        }
        let mut ids = [0u32; MAX_FIELDS];
        let mut values = [0u32; MAX_FIELDS];
        let mut ops = [0u32; MAX_FIELDS];
        let mut buf = Vec::new();
        for (i, (id, op, value)) in fields.iter().enumerate() {
            ids[i] = *id;
            ops[i] = *op;
            values[i] = match value {
                FieldValue::Num(v) => *v,
                FieldValue::Str(s) => {
                    buf.extend_from_slice(s);
                    s.len() as u32
                }
            };
        }
        let mut out = Vec::with_capacity(RULE_HEADER_LEN + buf.len());
        for v in [self.list.code(), self.action.code(), fields.len() as u32] {
            out.extend_from_slice(&v.to_ne_bytes());
        }
        for arr in [&mask, &ids, &values, &ops] {
            for v in arr.iter() {
                out.extend_from_slice(&v.to_ne_bytes());
            }
        }
        out.extend_from_slice(&(buf.len() as u32).to_ne_bytes());
        out.extend_from_slice(&buf);
        Ok(out)
    }
}

/// Warden's exec rules for this machine's ABIs: `always,exit` on execve and execveat for the
/// native 64-bit ABI and its 32-bit compat ABI, tagged with `key`.
///
/// On x86-64: `-F arch=b64 -S 59,322` and `-F arch=b32 -S 11,358`; on aarch64: `b64 -S 221,281`
/// and `b32 -S 11,387`. Other targets get the rules of [`exec_rules_for`] for their arch if known.
pub fn exec_rules(key: &str) -> Vec<AuditRule> {
    let arches: &[u32] = if cfg!(target_arch = "x86_64") {
        &[arch::X86_64, arch::I386]
    } else if cfg!(target_arch = "aarch64") {
        &[arch::AARCH64, arch::ARM]
    } else if cfg!(target_arch = "x86") {
        &[arch::I386]
    } else if cfg!(target_arch = "arm") {
        &[arch::ARM]
    } else if cfg!(target_arch = "riscv64") {
        &[arch::RISCV64]
    } else if cfg!(target_arch = "powerpc64") {
        &[arch::PPC64LE]
    } else if cfg!(target_arch = "s390x") {
        &[arch::S390X]
    } else {
        &[]
    };
    arches
        .iter()
        .filter_map(|&a| exec_rules_for(a, key))
        .collect()
}

/// The execve + execveat rule for one ABI, if its syscall numbers are known.
pub fn exec_rules_for(abi: u32, key: &str) -> Option<AuditRule> {
    let (execve, execveat) = match abi {
        arch::X86_64 => (59, 322),
        arch::I386 => (11, 358),
        arch::AARCH64 | arch::RISCV64 => (221, 281),
        arch::ARM => (11, 387),
        arch::PPC64LE => (11, 362),
        arch::S390X => (11, 354),
        _ => return None,
    };
    Some(
        AuditRule::exit_always(abi)
            .syscalls(&[execve, execveat])
            .key(key),
    )
}

/// A rule as the kernel lists it, decoded enough to find its keys; `raw` is kept so it can be
/// deleted with exactly these bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleData {
    /// The filter list number (`flags`).
    pub list: u32,
    /// The action number.
    pub action: u32,
    /// (field id, operator, value): strings resolved from `buf`.
    pub fields: Vec<(u32, u32, FieldValue)>,
    /// The syscall bitmap.
    pub mask: [u32; BITMASK_WORDS],
    /// The whole `struct audit_rule_data` as received.
    pub raw: Vec<u8>,
}

impl RuleData {
    /// Decode one `AUDIT_LIST_RULES` reply payload.
    pub fn decode(b: &[u8]) -> Result<RuleData, RuleError> {
        if b.len() < RULE_HEADER_LEN {
            return Err(RuleError::Truncated(b.len()));
        }
        let w = |i: usize| u32::from_ne_bytes(b[i * 4..i * 4 + 4].try_into().unwrap_or([0; 4]));
        let count = (w(2) as usize).min(MAX_FIELDS);
        let mut mask = [0u32; BITMASK_WORDS];
        for (i, m) in mask.iter_mut().enumerate() {
            *m = w(3 + i);
        }
        let (ids_at, vals_at, ops_at) = (3 + 64, 3 + 128, 3 + 192);
        let buflen = w(3 + 256) as usize;
        let buf = b
            .get(RULE_HEADER_LEN..RULE_HEADER_LEN + buflen)
            .ok_or(RuleError::Truncated(b.len()))?;
        let mut off = 0usize;
        let mut fields = Vec::with_capacity(count);
        for i in 0..count {
            let (id, val, op) = (w(ids_at + i), w(vals_at + i), w(ops_at + i));
            let value = if field::is_string(id) {
                let s = buf
                    .get(off..off + val as usize)
                    .ok_or(RuleError::Truncated(b.len()))?;
                off += val as usize;
                FieldValue::Str(s.to_vec())
            } else {
                FieldValue::Num(val)
            };
            fields.push((id, op, value));
        }
        Ok(RuleData {
            list: w(0),
            action: w(1),
            fields,
            mask,
            raw: b.to_vec(),
        })
    }

    /// The rule's keys (its filterkey split on `\x01`).
    pub fn keys(&self) -> Vec<&[u8]> {
        self.fields
            .iter()
            .filter(|(id, _, _)| *id == field::FILTERKEY)
            .filter_map(|(_, _, v)| match v {
                FieldValue::Str(s) => Some(s.as_slice()),
                FieldValue::Num(_) => None,
            })
            .flat_map(|s| s.split(|b| *b == KEY_SEPARATOR))
            .collect()
    }

    /// Does the rule carry `key` (alone or among several keys)?
    pub fn has_key(&self, key: &[u8]) -> bool {
        self.keys().contains(&key)
    }

    /// The syscall numbers set in the bitmap.
    pub fn syscalls(&self) -> Vec<u32> {
        (0..(BITMASK_WORDS as u32 * 32))
            .filter(|n| self.mask[(n / 32) as usize] & (1 << (n % 32)) != 0)
            .collect()
    }

    /// The `arch` field's value, if any.
    pub fn arch(&self) -> Option<u32> {
        self.fields.iter().find_map(|(id, _, v)| match v {
            FieldValue::Num(a) if *id == field::ARCH => Some(*a),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn execve_rule_layout() {
        let r = exec_rules_for(arch::X86_64, "warden").unwrap();
        let b = r.encode().unwrap();
        assert_eq!(RULE_HEADER_LEN, 1040);
        assert_eq!(b.len(), 1040 + 6);
        let d = RuleData::decode(&b).unwrap();
        assert_eq!(d.list, 4);
        assert_eq!(d.action, 2);
        assert_eq!(d.syscalls(), vec![59, 322]);
        assert_eq!(d.arch(), Some(arch::X86_64));
        assert_eq!(d.keys(), vec![b"warden".as_slice()]);
        assert!(d.has_key(b"warden"));
        assert!(!d.has_key(b"ward"));
        assert_eq!(d.fields[0].1, Op::Eq.code());
        assert_eq!(&b[1040..], b"warden");
    }

    #[test]
    fn several_keys_and_string_fields() {
        let r = AuditRule::exit_always(arch::I386)
            .syscalls(&[11])
            .field(field::EXE, Op::Eq, FieldValue::Str(b"/bin/sh".to_vec()))
            .field(field::UID, Op::Ne, FieldValue::Num(0))
            .key("warden")
            .key("exec");
        let d = RuleData::decode(&r.encode().unwrap()).unwrap();
        assert_eq!(d.fields.len(), 4);
        assert_eq!(
            d.fields[1],
            (
                field::EXE,
                Op::Eq.code(),
                FieldValue::Str(b"/bin/sh".to_vec())
            )
        );
        assert_eq!(d.keys(), vec![b"warden".as_slice(), b"exec".as_slice()]);
    }

    #[test]
    fn bad_rules_are_errors() {
        let r = AuditRule::exit_always(arch::X86_64).syscalls(&[5000]);
        assert_eq!(r.encode(), Err(RuleError::SyscallOutOfRange(5000)));
        let r = AuditRule::exit_always(arch::X86_64).field(field::EXE, Op::Eq, FieldValue::Num(1));
        assert!(matches!(r.encode(), Err(RuleError::WrongValueKind(..))));
        let r = AuditRule::exit_always(arch::X86_64).key("a\x01b");
        assert_eq!(r.encode(), Err(RuleError::BadKey));
        let r = AuditRule::exit_always(arch::X86_64).key(vec![b'k'; 300]);
        assert_eq!(r.encode(), Err(RuleError::KeyTooLong(300)));
        let mut r = AuditRule::exit_always(arch::X86_64);
        for _ in 0..64 {
            r = r.field(field::UID, Op::Eq, FieldValue::Num(0));
        }
        assert_eq!(r.encode(), Err(RuleError::TooManyFields(65)));
        assert_eq!(RuleData::decode(&[0; 100]), Err(RuleError::Truncated(100)));
        let mut b = exec_rules_for(arch::X86_64, "warden")
            .unwrap()
            .encode()
            .unwrap();
        b.truncate(1042);
        assert!(RuleData::decode(&b).is_err());
    }

    /// `-F a1&0x243` and `-w PATH -p r` as auditctl encodes them (checked against the kernel and
    /// `auditctl` by `file_rules_match_auditctl` in tests/audit_live.rs).
    #[test]
    fn bitmask_and_watch_encoding() {
        let r = AuditRule::exit_always(arch::X86_64).syscalls(&[2]).field(
            field::ARG1,
            Op::BitMask,
            FieldValue::Num(0x243),
        );
        let d = RuleData::decode(&r.encode().unwrap()).unwrap();
        assert_eq!(d.fields[1], (201, 0x0800_0000, FieldValue::Num(0x243)));
        assert_eq!(Op::BitTest.code(), 0x4800_0000);

        let w = AuditRule::watch(b"/etc/shadow".to_vec(), WatchKind::File, perm::READ).key("k");
        let b = w.encode().unwrap();
        let d = RuleData::decode(&b).unwrap();
        assert_eq!((d.list, d.action, d.arch()), (4, 2, None));
        assert_eq!(d.syscalls().len(), 2048);
        assert_eq!(
            d.fields,
            [
                (
                    field::WATCH,
                    Op::Eq.code(),
                    FieldValue::Str(b"/etc/shadow".to_vec())
                ),
                (field::PERM, Op::Eq.code(), FieldValue::Num(4)),
                (
                    field::FILTERKEY,
                    Op::Eq.code(),
                    FieldValue::Str(b"k".to_vec())
                ),
            ]
        );
        assert_eq!(&b[RULE_HEADER_LEN..], b"/etc/shadowk");
        let t = AuditRule::watch(b"/root/.ssh".to_vec(), WatchKind::Tree, perm::READ);
        let d = RuleData::decode(&t.encode().unwrap()).unwrap();
        assert_eq!(d.fields[0].0, field::DIR);
    }

    #[test]
    fn native_exec_rules() {
        let rules = exec_rules("warden");
        if cfg!(target_arch = "x86_64") {
            assert_eq!(rules.len(), 2);
            assert_eq!(rules[1].arch, Some(arch::I386));
            assert_eq!(rules[1].syscalls, vec![11, 358]);
        }
        let all = AuditRule {
            all_syscalls: true,
            ..AuditRule::exit_always(arch::X86_64)
        };
        let d = RuleData::decode(&all.encode().unwrap()).unwrap();
        assert_eq!(d.syscalls().len(), 2048);
    }
}

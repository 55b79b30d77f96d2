//! Audit netlink sockets and the control client: `AUDIT_GET`/`AUDIT_SET` status, rule listing,
//! adding and deleting. Blocking, with a timeout on every kernel round trip.
//!
//! Privileges, from the kernel's `audit_netlink_ok()`: every control message needs
//! **CAP_AUDIT_CONTROL** in the initial user *and* PID namespace (`EPERM` otherwise, or
//! `ECONNREFUSED` from another user namespace); joining the read-only multicast group needs
//! **CAP_AUDIT_READ**. Failures are mapped to [`AuditError::Permission`] naming the capability.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use thiserror::Error;

use super::rules::{RuleData, RuleError};
use super::wire::{self, AuditStatus, WireError};

/// Capability needed for status, settings and rules.
pub const CAP_AUDIT_CONTROL: &str = "CAP_AUDIT_CONTROL";
/// Capability needed to read the multicast group.
pub const CAP_AUDIT_READ: &str = "CAP_AUDIT_READ";

/// An error of the audit source or its control client.
#[derive(Debug, Error)]
pub enum AuditError {
    /// The kernel refused for lack of a capability (EPERM).
    #[error(
        "{op}: permission denied: needs {capability} in the initial user and PID namespace (run as root or grant the capability)"
    )]
    Permission {
        /// The operation attempted.
        op: &'static str,
        /// The capability it needs.
        capability: &'static str,
    },
    /// The caller is not in the initial user namespace (ECONNREFUSED).
    #[error("{op}: audit is only available from the initial user namespace (not from a container)")]
    Namespace {
        /// The operation attempted.
        op: &'static str,
    },
    /// The kernel has no audit support.
    #[error("{op}: this kernel has no audit support (NETLINK_AUDIT unavailable)")]
    Unsupported {
        /// The operation attempted.
        op: &'static str,
    },
    /// Audit is locked (`enabled=2`, `auditctl -e 2`): nothing can change until reboot.
    #[error("{op}: audit configuration is locked (enabled=2) until reboot")]
    Locked {
        /// The operation attempted.
        op: &'static str,
    },
    /// Another process is registered as the audit daemon (EEXIST on `AUDIT_SET pid`).
    #[error("{op}: another process (pid {pid}) is registered as the audit daemon")]
    SlotTaken {
        /// The operation attempted.
        op: &'static str,
        /// The registered pid, as last seen (0 if unknown).
        pid: u32,
    },
    /// The kernel did not answer in time.
    #[error("{op}: no answer from the kernel within {timeout:?}")]
    Timeout {
        /// The operation attempted.
        op: &'static str,
        /// How long we waited.
        timeout: Duration,
    },
    /// A reply could not be decoded.
    #[error("{op}: malformed reply: {source}")]
    Wire {
        /// The operation attempted.
        op: &'static str,
        /// What was wrong.
        source: WireError,
    },
    /// A rule could not be encoded or a listed rule decoded.
    #[error("audit rule: {0}")]
    Rule(#[from] RuleError),
    /// Any other OS or kernel error.
    #[error("{op}: {source}")]
    Io {
        /// The operation attempted.
        op: &'static str,
        /// The OS error.
        source: io::Error,
    },
}

impl AuditError {
    /// Map an errno of `op` (needing `capability`) to an error.
    pub fn from_errno(op: &'static str, errno: i32, capability: &'static str) -> AuditError {
        match errno {
            libc::EPERM | libc::EACCES => AuditError::Permission { op, capability },
            libc::ECONNREFUSED => AuditError::Namespace { op },
            libc::EPROTONOSUPPORT | libc::EAFNOSUPPORT => AuditError::Unsupported { op },
            libc::EEXIST if op == OP_SET_PID => AuditError::SlotTaken { op, pid: 0 },
            _ => AuditError::Io {
                op,
                source: io::Error::from_raw_os_error(errno),
            },
        }
    }

    /// Is this a missing-privilege error?
    pub fn is_permission(&self) -> bool {
        matches!(self, AuditError::Permission { .. })
    }
}

const OP_SET_PID: &str = "register as audit daemon (AUDIT_SET pid)";

fn os_err(op: &'static str, e: io::Error, cap: &'static str) -> AuditError {
    match e.raw_os_error() {
        Some(n) => AuditError::from_errno(op, n, cap),
        None => AuditError::Io { op, source: e },
    }
}

/// A `NETLINK_AUDIT` socket (raw fd, close-on-exec).
#[derive(Debug)]
pub struct AuditSocket {
    fd: OwnedFd,
}

impl AsRawFd for AuditSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl AuditSocket {
    /// A unicast socket (kernel-assigned port, no groups).
    pub fn open() -> Result<AuditSocket, AuditError> {
        Self::open_with_groups(0, "open audit netlink socket", CAP_AUDIT_CONTROL)
    }

    /// A socket bound to the read-only multicast group `AUDIT_NLGRP_READLOG`.
    pub fn open_multicast() -> Result<AuditSocket, AuditError> {
        Self::open_with_groups(
            1 << (wire::AUDIT_NLGRP_READLOG - 1),
            "join audit multicast group AUDIT_NLGRP_READLOG",
            CAP_AUDIT_READ,
        )
    }

    fn open_with_groups(
        groups: u32,
        op: &'static str,
        cap: &'static str,
    ) -> Result<AuditSocket, AuditError> {
        // SAFETY: plain socket(2) call; the returned fd is owned right away.
        let raw = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                wire::NETLINK_AUDIT,
            )
        };
        if raw < 0 {
            return Err(os_err(op, io::Error::last_os_error(), cap));
        }
        // SAFETY: `raw` is a fresh, valid fd nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: sockaddr_nl is plain data; zeroed is a valid value.
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        addr.nl_groups = groups;
        // SAFETY: addr is a valid sockaddr_nl of the given length.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&raw const addr).cast::<libc::sockaddr>(),
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(os_err(op, io::Error::last_os_error(), cap));
        }
        Ok(AuditSocket { fd })
    }

    /// The port the kernel assigned to this socket.
    pub fn port(&self) -> io::Result<u32> {
        // SAFETY: plain data.
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t;
        // SAFETY: addr/len describe a valid buffer.
        let rc = unsafe {
            libc::getsockname(
                self.fd.as_raw_fd(),
                (&raw mut addr).cast::<libc::sockaddr>(),
                &mut len,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(addr.nl_pid)
    }

    /// Ask for a receive buffer of `bytes`: `SO_RCVBUFFORCE` (needs CAP_NET_ADMIN, passes
    /// `net.core.rmem_max`), else `SO_RCVBUF`. Returns the size the kernel reports (which is
    /// double the request, for bookkeeping) and whether the forced variant worked.
    pub fn set_receive_buffer(&self, bytes: usize) -> (usize, bool) {
        let val = bytes.min(i32::MAX as usize / 2) as libc::c_int;
        let set = |opt| {
            // SAFETY: setsockopt with a c_int value of the right size.
            unsafe {
                libc::setsockopt(
                    self.fd.as_raw_fd(),
                    libc::SOL_SOCKET,
                    opt,
                    (&raw const val).cast::<libc::c_void>(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                )
            }
        };
        let forced = set(libc::SO_RCVBUFFORCE) == 0;
        if !forced {
            set(libc::SO_RCVBUF);
        }
        let mut got: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: getsockopt into a c_int of the right size.
        unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUF,
                (&raw mut got).cast::<libc::c_void>(),
                &mut len,
            );
        }
        (got.max(0) as usize, forced)
    }

    /// Send one netlink message to the kernel.
    pub fn send(&self, msg: &[u8]) -> io::Result<()> {
        // SAFETY: plain data.
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        loop {
            // SAFETY: msg and addr are valid for the lengths given.
            let rc = unsafe {
                libc::sendto(
                    self.fd.as_raw_fd(),
                    msg.as_ptr().cast::<libc::c_void>(),
                    msg.len(),
                    0,
                    (&raw const addr).cast::<libc::sockaddr>(),
                    std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
                )
            };
            if rc >= 0 {
                return Ok(());
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }

    /// Wait up to `timeout` for a datagram and read it into `buf`. `Ok(None)` on timeout.
    /// `ENOBUFS` (the socket overran and the kernel dropped data) comes back as an error with
    /// that raw errno; the socket stays usable.
    pub fn recv(&self, buf: &mut [u8], timeout: Duration) -> io::Result<Option<usize>> {
        let mut pfd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = timeout.as_millis().min(i32::MAX as u128) as libc::c_int;
        // SAFETY: one valid pollfd.
        let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
        if rc < 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::Interrupted {
                Ok(None)
            } else {
                Err(e)
            };
        }
        if rc == 0 {
            return Ok(None);
        }
        self.try_recv(buf)
    }

    /// Read one datagram if one is queued, without waiting.
    pub fn try_recv(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        // SAFETY: buf is valid for writes of buf.len() bytes.
        let n = unsafe {
            libc::recv(
                self.fd.as_raw_fd(),
                buf.as_mut_ptr().cast::<libc::c_void>(),
                buf.len(),
                libc::MSG_DONTWAIT,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(None),
                _ => Err(e),
            };
        }
        Ok(Some(n as usize))
    }
}

/// Receive buffer for control replies (a rule is ~1 KiB; a status 44 bytes).
const CONTROL_BUF: usize = 64 * 1024;

/// The control client: one unicast socket, one request at a time.
#[derive(Debug)]
pub struct AuditControl {
    sock: AuditSocket,
    seq: u32,
    timeout: Duration,
    buf: Vec<u8>,
}

/// How a transaction ends.
#[derive(Clone, Copy, PartialEq, Eq)]
enum End {
    /// At the acknowledgement (and the reply, if one is expected).
    Ack,
    /// At the acknowledgement *and* `NLMSG_DONE` (lists are sent from a kernel thread and can
    /// come after the ack).
    AckAndDone,
}

impl AuditControl {
    /// Open a control socket. Opening needs no privilege; the first request does.
    pub fn open() -> Result<AuditControl, AuditError> {
        Ok(AuditControl {
            sock: AuditSocket::open()?,
            seq: 0,
            timeout: Duration::from_secs(5),
            buf: vec![0; CONTROL_BUF],
        })
    }

    /// The underlying socket.
    pub fn socket(&self) -> &AuditSocket {
        &self.sock
    }

    /// Give up the client and keep its socket (after [`AuditControl::register`], the socket the
    /// kernel unicasts records to).
    pub fn into_socket(self) -> AuditSocket {
        self.sock
    }

    fn transact(
        &mut self,
        op: &'static str,
        ty: u16,
        payload: &[u8],
        reply: Option<u16>,
        end: End,
        mut on_other: impl FnMut(u16, &[u8]),
    ) -> Result<Vec<Vec<u8>>, AuditError> {
        self.seq = self.seq.wrapping_add(1).max(1);
        let seq = self.seq;
        let capability = CAP_AUDIT_CONTROL;
        let msg = wire::encode(ty, wire::NLM_F_REQUEST | wire::NLM_F_ACK, seq, payload);
        self.sock
            .send(&msg)
            .map_err(|e| os_err(op, e, capability))?;
        let deadline = Instant::now() + self.timeout;
        let mut replies = Vec::new();
        let (mut acked, mut done) = (false, end == End::Ack);
        loop {
            if acked && done && (reply.is_none() || !replies.is_empty() || end == End::AckAndDone) {
                return Ok(replies);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(AuditError::Timeout {
                    op,
                    timeout: self.timeout,
                });
            }
            let n = match self.sock.recv(&mut self.buf, left) {
                Ok(Some(n)) => n,
                Ok(None) => continue,
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => continue,
                Err(e) => return Err(os_err(op, e, capability)),
            };
            let (ty0, ..) =
                wire::header(&self.buf[..n]).map_err(|source| AuditError::Wire { op, source })?;
            if ty0 >= 1100 {
                // An audit record (this socket is also the daemon socket): not ours to parse.
                on_other(ty0, wire::record_body(&self.buf[..n]));
                continue;
            }
            for m in wire::messages(&self.buf[..n]) {
                let m = m.map_err(|source| AuditError::Wire { op, source })?;
                if m.ty == wire::NLMSG_ERROR {
                    if let Some((errno, for_seq)) = m.error()
                        && for_seq == seq
                    {
                        if errno != 0 {
                            return Err(AuditError::from_errno(op, errno, capability));
                        }
                        acked = true;
                    }
                } else if m.seq != seq {
                    on_other(m.ty, m.payload);
                } else if m.ty == wire::NLMSG_DONE {
                    done = true;
                } else if Some(m.ty) == reply {
                    replies.push(m.payload.to_vec());
                }
            }
        }
    }

    /// `AUDIT_GET`: the kernel's audit status.
    pub fn status(&mut self) -> Result<AuditStatus, AuditError> {
        let op = "get audit status (AUDIT_GET)";
        let r = self.transact(
            op,
            wire::AUDIT_GET,
            &[],
            Some(wire::AUDIT_GET),
            End::Ack,
            |_, _| {},
        )?;
        let first = r.first().map(Vec::as_slice).unwrap_or(&[]);
        AuditStatus::decode(first).map_err(|source| AuditError::Wire { op, source })
    }

    /// `AUDIT_SET` with `status.mask` saying which fields apply.
    pub fn set_status(&mut self, op: &'static str, status: &AuditStatus) -> Result<(), AuditError> {
        self.transact(
            op,
            wire::AUDIT_SET,
            &status.encode(),
            None,
            End::Ack,
            |_, _| {},
        )
        .map(drop)
    }

    /// Set `enabled` (0 off, 1 on).
    pub fn set_enabled(&mut self, enabled: u32) -> Result<(), AuditError> {
        self.set_status(
            "set audit enabled (AUDIT_SET enabled)",
            &AuditStatus {
                mask: wire::STATUS_ENABLED,
                enabled,
                ..AuditStatus::default()
            },
        )
    }

    /// Set the kernel backlog limit.
    pub fn set_backlog_limit(&mut self, limit: u32) -> Result<(), AuditError> {
        self.set_status(
            "set audit backlog_limit (AUDIT_SET)",
            &AuditStatus {
                mask: wire::STATUS_BACKLOG_LIMIT,
                backlog_limit: limit,
                ..AuditStatus::default()
            },
        )
    }

    /// Set the backlog wait time (jiffies; 0 = never make tasks wait).
    pub fn set_backlog_wait_time(&mut self, wait: u32) -> Result<(), AuditError> {
        self.set_status(
            "set audit backlog_wait_time (AUDIT_SET)",
            &AuditStatus {
                mask: wire::STATUS_BACKLOG_WAIT_TIME,
                backlog_wait_time: Some(wait),
                ..AuditStatus::default()
            },
        )
    }

    /// Register **this control socket** as the audit daemon (`AUDIT_SET pid = getpid()`): the
    /// kernel then unicasts every record to it. Records that arrive before the acknowledgement
    /// are handed to `early` as (type, body). `EEXIST` (another live daemon) becomes
    /// [`AuditError::SlotTaken`].
    pub fn register(&mut self, early: impl FnMut(u16, &[u8])) -> Result<(), AuditError> {
        let status = AuditStatus {
            mask: wire::STATUS_PID,
            pid: std::process::id(),
            ..AuditStatus::default()
        };
        self.transact(
            OP_SET_PID,
            wire::AUDIT_SET,
            &status.encode(),
            None,
            End::Ack,
            early,
        )
        .map(drop)
    }

    /// Unregister the audit daemon (`AUDIT_SET pid = 0`). The kernel allows this only from the
    /// registered process.
    pub fn unregister(&mut self) -> Result<(), AuditError> {
        self.set_status(
            "unregister audit daemon (AUDIT_SET pid 0)",
            &AuditStatus {
                mask: wire::STATUS_PID,
                pid: 0,
                ..AuditStatus::default()
            },
        )
    }

    /// `AUDIT_LIST_RULES`: every installed rule.
    pub fn list_rules(&mut self) -> Result<Vec<RuleData>, AuditError> {
        let r = self.transact(
            "list audit rules (AUDIT_LIST_RULES)",
            wire::AUDIT_LIST_RULES,
            &[],
            Some(wire::AUDIT_LIST_RULES),
            End::AckAndDone,
            |_, _| {},
        )?;
        r.iter()
            .map(|b| RuleData::decode(b).map_err(AuditError::from))
            .collect()
    }

    /// `AUDIT_ADD_RULE` with encoded `struct audit_rule_data`. `EEXIST` means an identical rule
    /// is already installed and is returned as an `Io` error with that errno.
    pub fn add_rule(&mut self, data: &[u8]) -> Result<(), AuditError> {
        self.transact(
            "add audit rule (AUDIT_ADD_RULE)",
            wire::AUDIT_ADD_RULE,
            data,
            None,
            End::Ack,
            |_, _| {},
        )
        .map(drop)
    }

    /// `AUDIT_DEL_RULE` with the same bytes the rule was added with (or listed as).
    pub fn delete_rule(&mut self, data: &[u8]) -> Result<(), AuditError> {
        self.transact(
            "delete audit rule (AUDIT_DEL_RULE)",
            wire::AUDIT_DEL_RULE,
            data,
            None,
            End::Ack,
            |_, _| {},
        )
        .map(drop)
    }
}

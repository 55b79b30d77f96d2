//! The audit netlink wire format, pure: netlink message framing, `struct audit_status`, and the
//! control message types. No IO here; [`super::control`] sends and receives these bytes.
//!
//! Everything is in host byte order, as netlink is. Layouts are from the kernel's
//! `include/uapi/linux/netlink.h` and `include/uapi/linux/audit.h`.
//!
//! One quirk matters to readers: audit *records* sent by **unicast** to the registered daemon
//! carry an `nlmsg_len` that excludes the 16-byte header (kept by the kernel for compatibility
//! with old auditd), while the multicast copies carry the correct length. Each record is its own
//! datagram, so the reader takes the body as "the datagram after the header" and ignores
//! `nlmsg_len` for record types (see [`record_body`]).

use thiserror::Error;

/// Length of `struct nlmsghdr`.
pub const NLMSG_HDRLEN: usize = 16;

/// `NLMSG_NOOP`: nothing.
pub const NLMSG_NOOP: u16 = 1;
/// `NLMSG_ERROR`: an error or (error 0) an acknowledgement.
pub const NLMSG_ERROR: u16 = 2;
/// `NLMSG_DONE`: end of a multi-part reply.
pub const NLMSG_DONE: u16 = 3;
/// `NLMSG_OVERRUN`: data lost.
pub const NLMSG_OVERRUN: u16 = 4;

/// `NLM_F_REQUEST`: a request to the kernel.
pub const NLM_F_REQUEST: u16 = 0x1;
/// `NLM_F_ACK`: ask for an acknowledgement (an `NLMSG_ERROR` with error 0).
pub const NLM_F_ACK: u16 = 0x4;

/// `NETLINK_AUDIT` protocol number.
pub const NETLINK_AUDIT: i32 = 9;
/// `AUDIT_NLGRP_READLOG`: the read-only multicast group (a group number; bind with bit 0 set).
pub const AUDIT_NLGRP_READLOG: u32 = 1;

/// `AUDIT_GET`: get status.
pub const AUDIT_GET: u16 = 1000;
/// `AUDIT_SET`: set status (enable/disable, daemon pid, backlog settings).
pub const AUDIT_SET: u16 = 1001;
/// `AUDIT_ADD_RULE`: add a syscall filtering rule (`struct audit_rule_data`).
pub const AUDIT_ADD_RULE: u16 = 1011;
/// `AUDIT_DEL_RULE`: delete a rule (the same `struct audit_rule_data` as when it was added).
pub const AUDIT_DEL_RULE: u16 = 1012;
/// `AUDIT_LIST_RULES`: list rules (one reply message per rule, then `NLMSG_DONE`).
pub const AUDIT_LIST_RULES: u16 = 1013;

/// `AUDIT_STATUS_ENABLED` mask bit.
pub const STATUS_ENABLED: u32 = 0x0001;
/// `AUDIT_STATUS_FAILURE` mask bit.
pub const STATUS_FAILURE: u32 = 0x0002;
/// `AUDIT_STATUS_PID` mask bit.
pub const STATUS_PID: u32 = 0x0004;
/// `AUDIT_STATUS_RATE_LIMIT` mask bit.
pub const STATUS_RATE_LIMIT: u32 = 0x0008;
/// `AUDIT_STATUS_BACKLOG_LIMIT` mask bit.
pub const STATUS_BACKLOG_LIMIT: u32 = 0x0010;
/// `AUDIT_STATUS_BACKLOG_WAIT_TIME` mask bit.
pub const STATUS_BACKLOG_WAIT_TIME: u32 = 0x0020;
/// `AUDIT_STATUS_LOST` mask bit (resets the kernel's lost counter: Warden never sets it).
pub const STATUS_LOST: u32 = 0x0040;

/// Size of `struct audit_status` on kernels ≥ 5.10 (with `backlog_wait_time_actual`).
pub const AUDIT_STATUS_LEN: usize = 44;
/// The shortest `struct audit_status` accepted (kernels before `feature_bitmap`).
pub const AUDIT_STATUS_MIN_LEN: usize = 32;

/// A malformed netlink message or structure.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum WireError {
    /// Fewer bytes than a header or structure needs.
    #[error("truncated {what}: {len} bytes")]
    Truncated {
        /// What was being decoded.
        what: &'static str,
        /// How many bytes there were.
        len: usize,
    },
    /// `nlmsg_len` is smaller than the header or runs past the datagram.
    #[error("bad nlmsg_len {len} with {avail} bytes available")]
    BadLength {
        /// The declared length.
        len: usize,
        /// The bytes left in the datagram.
        avail: usize,
    },
}

/// One decoded netlink message (borrowing its payload).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NlMsg<'a> {
    /// `nlmsg_type`.
    pub ty: u16,
    /// `nlmsg_flags`.
    pub flags: u16,
    /// `nlmsg_seq`.
    pub seq: u32,
    /// `nlmsg_pid` (the sender's port; 0 for the kernel).
    pub port: u32,
    /// The bytes after the header, as long as `nlmsg_len` says.
    pub payload: &'a [u8],
}

impl NlMsg<'_> {
    /// For an `NLMSG_ERROR` message: the (positive) errno, 0 for an acknowledgement, and the
    /// sequence number of the request it answers.
    pub fn error(&self) -> Option<(i32, u32)> {
        if self.ty != NLMSG_ERROR || self.payload.len() < 4 + NLMSG_HDRLEN {
            return None;
        }
        let err = i32::from_ne_bytes(self.payload[0..4].try_into().ok()?);
        let seq = u32_at(self.payload, 4 + 8)?;
        Some((err.checked_neg().unwrap_or(err), seq))
    }
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Round up to netlink's 4-byte alignment.
pub const fn align(len: usize) -> usize {
    (len + 3) & !3
}

/// Encode one request: header (`nlmsg_pid` 0: the kernel fills in the port) then `payload`,
/// padded to 4 bytes.
pub fn encode(ty: u16, flags: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
    let len = NLMSG_HDRLEN + payload.len();
    let mut out = Vec::with_capacity(align(len));
    out.extend_from_slice(&(len as u32).to_ne_bytes());
    out.extend_from_slice(&ty.to_ne_bytes());
    out.extend_from_slice(&flags.to_ne_bytes());
    out.extend_from_slice(&seq.to_ne_bytes());
    out.extend_from_slice(&0u32.to_ne_bytes());
    out.extend_from_slice(payload);
    out.resize(align(len), 0);
    out
}

/// Read just the header of a datagram: (type, flags, seq, declared length).
pub fn header(datagram: &[u8]) -> Result<(u16, u16, u32, usize), WireError> {
    let trunc = WireError::Truncated {
        what: "nlmsghdr",
        len: datagram.len(),
    };
    let len = u32_at(datagram, 0).ok_or_else(|| trunc.clone())? as usize;
    let ty = u16_at(datagram, 4).ok_or_else(|| trunc.clone())?;
    let flags = u16_at(datagram, 6).ok_or_else(|| trunc.clone())?;
    let seq = u32_at(datagram, 8).ok_or_else(|| trunc.clone())?;
    if datagram.len() < NLMSG_HDRLEN {
        return Err(trunc);
    }
    Ok((ty, flags, seq, len))
}

/// The body of an audit record datagram: everything after the header, whatever `nlmsg_len`
/// says (see the module docs for the unicast length quirk).
pub fn record_body(datagram: &[u8]) -> &[u8] {
    datagram.get(NLMSG_HDRLEN..).unwrap_or(&[])
}

/// Iterate over the netlink messages packed in one datagram (control replies).
pub fn messages(datagram: &[u8]) -> Messages<'_> {
    Messages {
        rest: datagram,
        failed: false,
    }
}

/// Iterator returned by [`messages`]. Stops after the first error.
#[derive(Debug)]
pub struct Messages<'a> {
    rest: &'a [u8],
    failed: bool,
}

impl<'a> Iterator for Messages<'a> {
    type Item = Result<NlMsg<'a>, WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.len() < NLMSG_HDRLEN {
            return None;
        }
        let (ty, flags, seq, len) = match header(self.rest) {
            Ok(h) => h,
            Err(e) => {
                self.failed = true;
                return Some(Err(e));
            }
        };
        if len < NLMSG_HDRLEN || len > self.rest.len() {
            self.failed = true;
            return Some(Err(WireError::BadLength {
                len,
                avail: self.rest.len(),
            }));
        }
        let port = u32_at(self.rest, 12).unwrap_or(0);
        let msg = NlMsg {
            ty,
            flags,
            seq,
            port,
            payload: &self.rest[NLMSG_HDRLEN..len],
        };
        self.rest = self.rest.get(align(len)..).unwrap_or(&[]);
        Some(Ok(msg))
    }
}

/// `struct audit_status`. Fields the running kernel does not send are `None`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AuditStatus {
    /// Which fields a SET applies (`STATUS_*` bits); 0 in replies.
    pub mask: u32,
    /// 0 = off, 1 = on, 2 = on and locked (immutable until reboot).
    pub enabled: u32,
    /// Failure action: 0 silent, 1 printk, 2 panic.
    pub failure: u32,
    /// Pid of the registered audit daemon, 0 if none.
    pub pid: u32,
    /// Messages per second, 0 = unlimited.
    pub rate_limit: u32,
    /// Most records queued in the kernel.
    pub backlog_limit: u32,
    /// Records the kernel lost since boot (or since the last reset).
    pub lost: u32,
    /// Records queued now.
    pub backlog: u32,
    /// Kernel audit feature bits.
    pub feature_bitmap: Option<u32>,
    /// How long (in jiffies) a task waits when the backlog is full; 0 = drop at once.
    pub backlog_wait_time: Option<u32>,
    /// Total time tasks spent waiting on a full backlog.
    pub backlog_wait_time_actual: Option<u32>,
}

impl AuditStatus {
    /// Decode an `AUDIT_GET` reply payload.
    pub fn decode(b: &[u8]) -> Result<AuditStatus, WireError> {
        if b.len() < AUDIT_STATUS_MIN_LEN {
            return Err(WireError::Truncated {
                what: "audit_status",
                len: b.len(),
            });
        }
        let at = |i: usize| u32_at(b, i * 4);
        let req = |i: usize| at(i).unwrap_or(0);
        Ok(AuditStatus {
            mask: req(0),
            enabled: req(1),
            failure: req(2),
            pid: req(3),
            rate_limit: req(4),
            backlog_limit: req(5),
            lost: req(6),
            backlog: req(7),
            feature_bitmap: at(8),
            backlog_wait_time: at(9),
            backlog_wait_time_actual: at(10),
        })
    }

    /// Encode for `AUDIT_SET` (the full 44-byte structure; the kernel applies only `mask`).
    pub fn encode(&self) -> Vec<u8> {
        let vals = [
            self.mask,
            self.enabled,
            self.failure,
            self.pid,
            self.rate_limit,
            self.backlog_limit,
            self.lost,
            self.backlog,
            self.feature_bitmap.unwrap_or(0),
            self.backlog_wait_time.unwrap_or(0),
            self.backlog_wait_time_actual.unwrap_or(0),
        ];
        vals.iter().flat_map(|v| v.to_ne_bytes()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_pads_and_frames() {
        let m = encode(AUDIT_GET, NLM_F_REQUEST, 7, &[1, 2, 3]);
        assert_eq!(m.len(), 20);
        let msgs: Vec<_> = messages(&m).collect();
        assert_eq!(msgs.len(), 1);
        let msg = msgs[0].as_ref().unwrap();
        assert_eq!(msg.ty, AUDIT_GET);
        assert_eq!(msg.seq, 7);
        assert_eq!(msg.payload, &[1, 2, 3]);
    }

    #[test]
    fn several_messages_and_errors() {
        let mut d = encode(AUDIT_LIST_RULES, 0, 1, &[9; 6]);
        let mut err = Vec::new();
        err.extend_from_slice(&(-1i32).to_ne_bytes());
        err.extend_from_slice(&encode(AUDIT_ADD_RULE, 5, 42, &[])[..16]);
        d.extend(encode(NLMSG_ERROR, 0, 42, &err));
        d.extend(encode(NLMSG_DONE, 0, 1, &[0; 4]));
        let msgs: Vec<_> = messages(&d).map(Result::unwrap).collect();
        assert_eq!(msgs.len(), 3);
        assert_eq!(msgs[0].payload.len(), 6);
        assert_eq!(msgs[1].error(), Some((1, 42)));
        assert_eq!(msgs[2].ty, NLMSG_DONE);
    }

    #[test]
    fn bad_lengths_stop_iteration() {
        let mut d = encode(AUDIT_GET, 0, 1, &[0; 8]);
        d[0..4].copy_from_slice(&100u32.to_ne_bytes());
        let msgs: Vec<_> = messages(&d).collect();
        assert!(matches!(msgs[..], [Err(WireError::BadLength { .. })]));
        d[0..4].copy_from_slice(&3u32.to_ne_bytes());
        assert!(matches!(
            messages(&d).next(),
            Some(Err(WireError::BadLength { .. }))
        ));
        assert!(header(&[0; 5]).is_err());
        assert_eq!(record_body(&[0; 5]), &[] as &[u8]);
    }

    #[test]
    fn status_round_trip_and_short_forms() {
        let s = AuditStatus {
            mask: STATUS_PID,
            enabled: 1,
            pid: 4242,
            backlog_limit: 8192,
            lost: 3,
            feature_bitmap: Some(0x7f),
            backlog_wait_time: Some(0),
            backlog_wait_time_actual: Some(0),
            ..AuditStatus::default()
        };
        let b = s.encode();
        assert_eq!(b.len(), AUDIT_STATUS_LEN);
        assert_eq!(AuditStatus::decode(&b).unwrap(), s);
        let short = AuditStatus::decode(&b[..32]).unwrap();
        assert_eq!(short.backlog_wait_time, None);
        assert_eq!(short.pid, 4242);
        assert!(AuditStatus::decode(&b[..31]).is_err());
    }
}

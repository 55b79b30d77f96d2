//! Pure decoding of what `read(2)` returns from a fanotify group: `fanotify_event_metadata`
//! headers, each followed by info records (`fanotify_event_info_fid` with a file handle and,
//! for the `*_DFID_NAME` kinds, a NUL-terminated name; pidfd; fs error). No IO, no allocation
//! per event: records borrow from the read buffer.
//!
//! Also pure: which [`FileAction`]s an event mask stands for, and the inode number some file
//! handle formats carry (ext4 and xfs), which is all that is left of a deleted file.
//!
//! [`encode_event`] writes a buffer the kernel's way, for tests and fixtures.

use warden_core::FileAction;

/// `fanotify_event_metadata` is 24 bytes: event_len u32, vers u8, reserved u8, metadata_len
/// u16, mask u64, fd s32, pid s32.
pub const METADATA_LEN: usize = 24;
/// `FANOTIFY_METADATA_VERSION`; the kernel has written 3 since 2.6.37.
pub const METADATA_VERSION: u8 = 3;
/// `fanotify_event_info_header` (type u8, pad u8, len u16).
const INFO_HEADER_LEN: usize = 4;
/// Header + `__kernel_fsid_t` + `file_handle.handle_bytes` + `file_handle.handle_type`.
const FID_FIXED_LEN: usize = INFO_HEADER_LEN + 8 + 4 + 4;

/// Info record types (`FAN_EVENT_INFO_TYPE_*`).
pub mod info_type {
    /// The object's file handle.
    pub const FID: u8 = 1;
    /// The parent directory's handle and the object's name.
    pub const DFID_NAME: u8 = 2;
    /// The parent directory's handle (no name).
    pub const DFID: u8 = 3;
    /// A pidfd of the acting process.
    pub const PIDFD: u8 = 4;
    /// A filesystem error report (`FAN_FS_ERROR`).
    pub const ERROR: u8 = 5;
    /// `FAN_RENAME`: the old parent and name.
    pub const OLD_DFID_NAME: u8 = 10;
    /// `FAN_RENAME`: the new parent and name.
    pub const NEW_DFID_NAME: u8 = 12;
}

/// One file-handle info record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FidInfo<'a> {
    /// The filesystem id as the kernel wrote it (`statfs().f_fsid`, native byte order).
    pub fsid: [u8; 8],
    /// `file_handle.handle_type` (`FILEID_*` of the filesystem's export operations).
    pub handle_type: i32,
    /// The opaque handle (`f_handle`).
    pub handle: &'a [u8],
    /// The entry name for `*_DFID_NAME` records (without the NUL); `.` for an event on a
    /// directory itself.
    pub name: Option<&'a [u8]>,
}

/// One event with its info records, borrowed from the read buffer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RawEvent<'a> {
    /// `FAN_*` bits (several when the kernel merged events queued back to back).
    pub mask: u64,
    /// The event's fd: `FAN_NOFD` (-1) for groups reporting file handles.
    pub fd: i32,
    /// The acting process's tgid (thread id with `FAN_REPORT_TID`); 0 when outside our pid
    /// namespace.
    pub pid: i32,
    /// The object (`FAN_EVENT_INFO_TYPE_FID`).
    pub fid: Option<FidInfo<'a>>,
    /// The parent directory, with the name when the group reports names (`DFID_NAME`/`DFID`).
    pub dfid: Option<FidInfo<'a>>,
    /// A rename's old parent and name.
    pub old_dfid_name: Option<FidInfo<'a>>,
    /// A rename's new parent and name.
    pub new_dfid_name: Option<FidInfo<'a>>,
    /// `FAN_REPORT_PIDFD`: the pidfd (owned by the reader once read).
    pub pidfd: Option<i32>,
    /// `FAN_FS_ERROR`: errno and count.
    pub error: Option<(i32, u32)>,
    /// Info records of a type this parser does not know, skipped.
    pub unknown_infos: u32,
}

/// Why a buffer did not parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Fewer bytes than a metadata header, or an `event_len` past the end of the buffer.
    #[error("truncated event")]
    Truncated,
    /// A metadata version other than 3.
    #[error("unknown fanotify metadata version {0}")]
    Version(u8),
    /// `metadata_len` < 24 or `event_len` < `metadata_len`.
    #[error("bad event length")]
    Length,
    /// An info record whose length is too short or runs past its event (the event is skipped,
    /// the events after it are still read).
    #[error("bad info record of type {0}")]
    Info(u8),
}

impl ParseError {
    /// Whether the events after this one can still be read (the event boundary was sound).
    pub fn is_recoverable(self) -> bool {
        matches!(self, ParseError::Info(_))
    }
}

/// Events in a buffer, in order. After an unrecoverable error it yields nothing more.
#[derive(Clone, Debug)]
pub struct Events<'a> {
    buf: &'a [u8],
    done: bool,
}

/// Iterate over the events of one `read(2)`.
pub fn events(buf: &[u8]) -> Events<'_> {
    Events { buf, done: false }
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn i32_at(b: &[u8], at: usize) -> i32 {
    i32::from_ne_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_ne_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

impl<'a> Iterator for Events<'a> {
    type Item = Result<RawEvent<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.buf.is_empty() {
            return None;
        }
        match split_event(self.buf) {
            Ok((event, rest)) => {
                self.buf = rest;
                Some(parse_infos(event))
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// The first event's bytes (metadata and infos) and the rest of the buffer.
fn split_event(buf: &[u8]) -> Result<(&[u8], &[u8]), ParseError> {
    if buf.len() < METADATA_LEN {
        return Err(ParseError::Truncated);
    }
    let event_len = u32_at(buf, 0) as usize;
    let version = buf[4];
    let metadata_len = usize::from(u16_at(buf, 6));
    if version != METADATA_VERSION {
        return Err(ParseError::Version(version));
    }
    if metadata_len < METADATA_LEN || event_len < metadata_len {
        return Err(ParseError::Length);
    }
    if event_len > buf.len() {
        return Err(ParseError::Truncated);
    }
    Ok(buf.split_at(event_len))
}

fn parse_infos(event: &[u8]) -> Result<RawEvent<'_>, ParseError> {
    let metadata_len = usize::from(u16_at(event, 6));
    let mut out = RawEvent {
        mask: u64_at(event, 8),
        fd: i32_at(event, 16),
        pid: i32_at(event, 20),
        ..RawEvent::default()
    };
    let mut rest = &event[metadata_len..];
    while !rest.is_empty() {
        if rest.len() < INFO_HEADER_LEN {
            return Err(ParseError::Info(rest[0]));
        }
        let kind = rest[0];
        let len = usize::from(u16_at(rest, 2));
        if len < INFO_HEADER_LEN || len > rest.len() {
            return Err(ParseError::Info(kind));
        }
        let (record, tail) = rest.split_at(len);
        rest = tail;
        match kind {
            info_type::FID => out.fid = Some(parse_fid(record, false)?),
            info_type::DFID => out.dfid = Some(parse_fid(record, false)?),
            info_type::DFID_NAME => out.dfid = Some(parse_fid(record, true)?),
            info_type::OLD_DFID_NAME => out.old_dfid_name = Some(parse_fid(record, true)?),
            info_type::NEW_DFID_NAME => out.new_dfid_name = Some(parse_fid(record, true)?),
            info_type::PIDFD => {
                if record.len() < INFO_HEADER_LEN + 4 {
                    return Err(ParseError::Info(kind));
                }
                out.pidfd = Some(i32_at(record, INFO_HEADER_LEN));
            }
            info_type::ERROR => {
                if record.len() < INFO_HEADER_LEN + 8 {
                    return Err(ParseError::Info(kind));
                }
                out.error = Some((
                    i32_at(record, INFO_HEADER_LEN),
                    u32_at(record, INFO_HEADER_LEN + 4),
                ));
            }
            _ => out.unknown_infos += 1,
        }
    }
    Ok(out)
}

fn parse_fid(record: &[u8], named: bool) -> Result<FidInfo<'_>, ParseError> {
    let kind = record[0];
    if record.len() < FID_FIXED_LEN {
        return Err(ParseError::Info(kind));
    }
    let fsid: [u8; 8] = record[4..12].try_into().expect("8 bytes");
    let handle_bytes = u32_at(record, 12) as usize;
    let handle_type = i32_at(record, 16);
    let handle_end = FID_FIXED_LEN
        .checked_add(handle_bytes)
        .filter(|&end| end <= record.len())
        .ok_or(ParseError::Info(kind))?;
    let handle = &record[FID_FIXED_LEN..handle_end];
    let name = if named {
        // The name is NUL-terminated; the record is padded to 4 bytes after it.
        let tail = &record[handle_end..];
        let nul = tail
            .iter()
            .position(|&b| b == 0)
            .ok_or(ParseError::Info(kind))?;
        Some(&tail[..nul])
    } else {
        None
    };
    Ok(FidInfo {
        fsid,
        handle_type,
        handle,
        name,
    })
}

/// `FAN_*` event bits this module knows by name.
pub mod mask {
    /// A file was read.
    pub const ACCESS: u64 = libc::FAN_ACCESS;
    /// A file was written.
    pub const MODIFY: u64 = libc::FAN_MODIFY;
    /// Metadata changed.
    pub const ATTRIB: u64 = libc::FAN_ATTRIB;
    /// A file opened for writing was closed.
    pub const CLOSE_WRITE: u64 = libc::FAN_CLOSE_WRITE;
    /// A file or directory was opened.
    pub const OPEN: u64 = libc::FAN_OPEN;
    /// A file opened for reading only was closed.
    pub const CLOSE_NOWRITE: u64 = libc::FAN_CLOSE_NOWRITE;
    /// An entry was moved out of a directory (old-style rename half).
    pub const MOVED_FROM: u64 = libc::FAN_MOVED_FROM;
    /// An entry was moved into a directory (old-style rename half).
    pub const MOVED_TO: u64 = libc::FAN_MOVED_TO;
    /// An entry was created.
    pub const CREATE: u64 = libc::FAN_CREATE;
    /// An entry was deleted.
    pub const DELETE: u64 = libc::FAN_DELETE;
    /// The marked object itself was deleted (its last name gone).
    pub const DELETE_SELF: u64 = libc::FAN_DELETE_SELF;
    /// The kernel queue overflowed: events were lost.
    pub const Q_OVERFLOW: u64 = libc::FAN_Q_OVERFLOW;
    /// A filesystem error.
    pub const FS_ERROR: u64 = libc::FAN_FS_ERROR;
    /// A rename, with old and new parent+name in one event (kernel 5.17+).
    pub const RENAME: u64 = libc::FAN_RENAME;
    /// The object is a directory.
    pub const ONDIR: u64 = libc::FAN_ONDIR;
}

/// The file actions an event mask stands for, in the order they happened when the kernel
/// merged several into one event (create before writes, writes before close, delete last),
/// each with the `FAN_*` name of its bit. An open and a read merged are one `Read`.
pub fn actions(event_mask: u64) -> impl Iterator<Item = (FileAction, &'static str)> {
    const ORDER: [(u64, FileAction, &str); 10] = [
        (mask::CREATE, FileAction::Create, "FAN_CREATE"),
        (mask::MOVED_TO, FileAction::Rename, "FAN_MOVED_TO"),
        (mask::RENAME, FileAction::Rename, "FAN_RENAME"),
        (mask::OPEN, FileAction::Read, "FAN_OPEN"),
        (mask::ACCESS, FileAction::Read, "FAN_ACCESS"),
        (mask::MODIFY, FileAction::Modify, "FAN_MODIFY"),
        (mask::ATTRIB, FileAction::Attrib, "FAN_ATTRIB"),
        (mask::CLOSE_WRITE, FileAction::CloseWrite, "FAN_CLOSE_WRITE"),
        (mask::MOVED_FROM, FileAction::Rename, "FAN_MOVED_FROM"),
        (mask::DELETE, FileAction::Delete, "FAN_DELETE"),
    ];
    let read_seen = std::cell::Cell::new(false);
    ORDER
        .into_iter()
        .filter(move |(bit, action, _)| {
            if event_mask & bit == 0 {
                return false;
            }
            if *action == FileAction::Read {
                return !read_seen.replace(true);
            }
            true
        })
        .map(|(_, action, name)| (action, name))
}

/// What a `Create` really was, from the new object's `st_mode`: a symlink or a new object.
/// (A hard link is a `FAN_CREATE` too, and stays a `Create`: its link count cannot tell it
/// apart from a new file linked again before the event was read.)
pub fn refine_create(mode: u32) -> FileAction {
    if mode & libc::S_IFMT == libc::S_IFLNK {
        FileAction::Symlink
    } else {
        FileAction::Create
    }
}

/// The inode number inside a file handle, for the formats that carry it plainly:
/// `FILEID_INO32_GEN` (1) and `FILEID_INO32_GEN_PARENT` (2) as ext2/3/4, xfs and others write
/// them, and xfs's 64-bit `0x81`/`0x82`. The only inode left of a deleted file.
pub fn inode_from_handle(handle_type: i32, handle: &[u8]) -> Option<u64> {
    match handle_type {
        1 | 2 if handle.len() >= 8 => {
            Some(u64::from(u32::from_ne_bytes(handle[0..4].try_into().ok()?)))
        }
        // xfs_fid64 starts with the 64-bit inode number, native byte order.
        0x81 | 0x82 if handle.len() >= 12 => {
            Some(u64::from_ne_bytes(handle[0..8].try_into().ok()?))
        }
        _ => None,
    }
}

/// An info record to encode with [`encode_event`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InfoSpec {
    /// `FAN_EVENT_INFO_TYPE_*`.
    pub kind: u8,
    /// The filesystem id.
    pub fsid: [u8; 8],
    /// `file_handle.handle_type`.
    pub handle_type: i32,
    /// The handle bytes.
    pub handle: Vec<u8>,
    /// The name, for the named kinds.
    pub name: Option<Vec<u8>>,
}

/// Encode one event as the kernel writes it (native byte order, records padded to 4 bytes):
/// fixtures for the parser's tests.
pub fn encode_event(event_mask: u64, pid: i32, infos: &[InfoSpec]) -> Vec<u8> {
    let mut out = vec![0u8; METADATA_LEN];
    for info in infos {
        let start = out.len();
        out.extend_from_slice(&[info.kind, 0, 0, 0]);
        out.extend_from_slice(&info.fsid);
        out.extend_from_slice(&(info.handle.len() as u32).to_ne_bytes());
        out.extend_from_slice(&info.handle_type.to_ne_bytes());
        out.extend_from_slice(&info.handle);
        if let Some(name) = &info.name {
            out.extend_from_slice(name);
            out.push(0);
        }
        while !(out.len() - start).is_multiple_of(4) {
            out.push(0);
        }
        let len = (out.len() - start) as u16;
        out[start + 2..start + 4].copy_from_slice(&len.to_ne_bytes());
    }
    let len = out.len() as u32;
    out[0..4].copy_from_slice(&len.to_ne_bytes());
    out[4] = METADATA_VERSION;
    out[6..8].copy_from_slice(&(METADATA_LEN as u16).to_ne_bytes());
    out[8..16].copy_from_slice(&event_mask.to_ne_bytes());
    out[16..20].copy_from_slice(&libc::FAN_NOFD.to_ne_bytes());
    out[20..24].copy_from_slice(&pid.to_ne_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fid(kind: u8, handle: &[u8], name: Option<&[u8]>) -> InfoSpec {
        InfoSpec {
            kind,
            fsid: [1, 2, 3, 4, 5, 6, 7, 8],
            handle_type: 1,
            handle: handle.to_vec(),
            name: name.map(<[u8]>::to_vec),
        }
    }

    #[test]
    fn create_with_dfid_name_and_fid() {
        let buf = encode_event(
            mask::CREATE,
            42,
            &[
                fid(
                    info_type::DFID_NAME,
                    &[9, 0, 0, 0, 1, 0, 0, 0],
                    Some(b"new.txt"),
                ),
                fid(info_type::FID, &[10, 0, 0, 0, 7, 0, 0, 0], None),
            ],
        );
        assert_eq!(buf.len() % 4, 0);
        let evs: Vec<_> = events(&buf).collect();
        assert_eq!(evs.len(), 1);
        let ev = evs[0].unwrap();
        assert_eq!(ev.mask, mask::CREATE);
        assert_eq!(ev.pid, 42);
        assert_eq!(ev.fd, -1);
        let d = ev.dfid.unwrap();
        assert_eq!(d.name, Some(&b"new.txt"[..]));
        assert_eq!(d.fsid, [1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(d.handle, &[9, 0, 0, 0, 1, 0, 0, 0]);
        assert_eq!(
            inode_from_handle(d.handle_type, d.handle),
            Some(9),
            "ext4 handle: ino, generation"
        );
        let f = ev.fid.unwrap();
        assert_eq!(f.name, None);
        assert_eq!(inode_from_handle(f.handle_type, f.handle), Some(10));
    }

    #[test]
    fn rename_has_old_and_new() {
        let mut buf = encode_event(
            mask::RENAME | mask::ONDIR,
            7,
            &[
                fid(info_type::OLD_DFID_NAME, &[1; 8], Some(b"a")),
                fid(info_type::NEW_DFID_NAME, &[2; 8], Some(b"bcd")),
                fid(info_type::FID, &[3; 8], None),
            ],
        );
        // Two events in one read.
        buf.extend(encode_event(
            mask::MODIFY | mask::CLOSE_WRITE,
            8,
            &[fid(info_type::DFID_NAME, &[4; 8], Some(b"x"))],
        ));
        let evs: Vec<_> = events(&buf).map(Result::unwrap).collect();
        assert_eq!(evs.len(), 2);
        assert_eq!(evs[0].old_dfid_name.unwrap().name, Some(&b"a"[..]));
        assert_eq!(evs[0].new_dfid_name.unwrap().name, Some(&b"bcd"[..]));
        assert_eq!(evs[0].fid.unwrap().handle, &[3; 8]);
        assert_eq!(evs[1].pid, 8);
        let acts: Vec<_> = actions(evs[1].mask).collect();
        assert_eq!(
            acts,
            [
                (FileAction::Modify, "FAN_MODIFY"),
                (FileAction::CloseWrite, "FAN_CLOSE_WRITE")
            ]
        );
    }

    #[test]
    fn merged_open_and_access_is_one_read() {
        let acts: Vec<_> = actions(mask::OPEN | mask::ACCESS).collect();
        assert_eq!(acts, [(FileAction::Read, "FAN_OPEN")]);
        let acts: Vec<_> = actions(mask::ACCESS).collect();
        assert_eq!(acts, [(FileAction::Read, "FAN_ACCESS")]);
        let acts: Vec<_> = actions(mask::CREATE | mask::DELETE | mask::ONDIR).collect();
        assert_eq!(
            acts,
            [
                (FileAction::Create, "FAN_CREATE"),
                (FileAction::Delete, "FAN_DELETE")
            ]
        );
        assert_eq!(actions(mask::Q_OVERFLOW).count(), 0);
    }

    #[test]
    fn overflow_event_has_no_infos() {
        let buf = encode_event(mask::Q_OVERFLOW, 0, &[]);
        let ev = events(&buf).next().unwrap().unwrap();
        assert_eq!(ev.mask, mask::Q_OVERFLOW);
        assert!(ev.fid.is_none() && ev.dfid.is_none());
    }

    #[test]
    fn pidfd_and_error_records() {
        let mut buf = encode_event(mask::FS_ERROR, 0, &[]);
        // Append an ERROR record and a PIDFD record by hand.
        buf.extend_from_slice(&[info_type::ERROR, 0, 12, 0]);
        buf.extend_from_slice(&(-5i32).to_ne_bytes());
        buf.extend_from_slice(&3u32.to_ne_bytes());
        buf.extend_from_slice(&[info_type::PIDFD, 0, 8, 0]);
        buf.extend_from_slice(&9i32.to_ne_bytes());
        buf.extend_from_slice(&[99, 0, 4, 0]); // unknown type, header only
        let len = buf.len() as u32;
        buf[0..4].copy_from_slice(&len.to_ne_bytes());
        let ev = events(&buf).next().unwrap().unwrap();
        assert_eq!(ev.error, Some((-5, 3)));
        assert_eq!(ev.pidfd, Some(9));
        assert_eq!(ev.unknown_infos, 1);
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        assert_eq!(events(&[0u8; 10]).next(), Some(Err(ParseError::Truncated)));
        let mut buf = encode_event(mask::CREATE, 1, &[]);
        buf[4] = 2;
        assert_eq!(events(&buf).next(), Some(Err(ParseError::Version(2))));
        let mut buf = encode_event(mask::CREATE, 1, &[]);
        buf[0] = 200;
        assert_eq!(events(&buf).next(), Some(Err(ParseError::Truncated)));
        assert_eq!(events(&buf).count(), 1, "stops after a broken boundary");

        // A FID record whose handle runs past the record: that event is an error, the next
        // one still parses.
        let mut bad = encode_event(
            mask::CREATE,
            1,
            &[fid(info_type::DFID_NAME, &[1; 8], Some(b"n"))],
        );
        bad[METADATA_LEN + 12] = 200; // handle_bytes
        bad.extend(encode_event(mask::DELETE, 2, &[]));
        let evs: Vec<_> = events(&bad).collect();
        assert_eq!(evs[0], Err(ParseError::Info(info_type::DFID_NAME)));
        assert!(evs[0].unwrap_err().is_recoverable());
        assert_eq!(evs[1].unwrap().pid, 2);

        // A name without its NUL.
        let mut noname = encode_event(mask::CREATE, 1, &[fid(info_type::DFID_NAME, &[1; 8], None)]);
        noname.extend_from_slice(b"abcd");
        let len = noname.len() as u32;
        noname[0..4].copy_from_slice(&len.to_ne_bytes());
        let rec_len = (noname.len() - METADATA_LEN) as u16;
        noname[METADATA_LEN + 2..METADATA_LEN + 4].copy_from_slice(&rec_len.to_ne_bytes());
        assert!(matches!(
            events(&noname).next(),
            Some(Err(ParseError::Info(_)))
        ));
    }

    #[test]
    fn create_refined_by_mode() {
        assert_eq!(refine_create(libc::S_IFLNK | 0o777), FileAction::Symlink);
        assert_eq!(refine_create(libc::S_IFREG | 0o644), FileAction::Create);
        assert_eq!(refine_create(libc::S_IFDIR | 0o755), FileAction::Create);
    }
}

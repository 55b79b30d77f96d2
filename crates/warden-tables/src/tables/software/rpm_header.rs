//! RPM package headers as the RPM database stores them, and the SQLite database (RPM >= 4.16,
//! `rpmdb.sqlite`) that holds them. Other database backends (Berkeley DB, ndb) are not read:
//! a host with one of those reports no rows.
//!
//! A stored header is `il` (u32 BE, number of index entries), `dl` (u32 BE, data length),
//! `il` entries of four u32 BE (tag, type, offset, count), then `dl` bytes of data.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub(super) const TAG_SHA1HEADER: u32 = 269;
pub(super) const TAG_NAME: u32 = 1000;
pub(super) const TAG_VERSION: u32 = 1001;
pub(super) const TAG_RELEASE: u32 = 1002;
pub(super) const TAG_EPOCH: u32 = 1003;
pub(super) const TAG_INSTALLTIME: u32 = 1008;
pub(super) const TAG_SIZE: u32 = 1009;
pub(super) const TAG_VENDOR: u32 = 1011;
pub(super) const TAG_GROUP: u32 = 1016;
pub(super) const TAG_ARCH: u32 = 1022;
pub(super) const TAG_OLDFILENAMES: u32 = 1027;
pub(super) const TAG_FILESIZES: u32 = 1028;
pub(super) const TAG_FILEMODES: u32 = 1030;
pub(super) const TAG_FILEDIGESTS: u32 = 1035;
pub(super) const TAG_FILEUSERNAME: u32 = 1039;
pub(super) const TAG_FILEGROUPNAME: u32 = 1040;
pub(super) const TAG_SOURCERPM: u32 = 1044;
pub(super) const TAG_DIRINDEXES: u32 = 1116;
pub(super) const TAG_BASENAMES: u32 = 1117;
pub(super) const TAG_DIRNAMES: u32 = 1118;
pub(super) const TAG_LONGFILESIZES: u32 = 5008;
pub(super) const TAG_LONGSIZE: u32 = 5009;
pub(super) const TAG_FILEDIGESTALGO: u32 = 5011;

/// The digest algorithm number RPM uses for SHA-256 (OpenPGP's).
pub(super) const DIGEST_SHA256: i64 = 8;

const TYPE_CHAR: u32 = 1;
const TYPE_INT8: u32 = 2;
const TYPE_INT16: u32 = 3;
const TYPE_INT32: u32 = 4;
const TYPE_INT64: u32 = 5;
const TYPE_STRING: u32 = 6;
const TYPE_BIN: u32 = 7;
const TYPE_STRING_ARRAY: u32 = 8;
const TYPE_I18NSTRING: u32 = 9;

/// A tag's value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum TagValue {
    Ints(Vec<i64>),
    Strings(Vec<String>),
    Bytes(Vec<u8>),
}

/// A parsed header: tag → value.
#[derive(Clone, Debug, Default)]
pub(super) struct Header {
    tags: HashMap<u32, TagValue>,
}

impl Header {
    /// The first string of a string tag (the C locale of an i18n string).
    pub fn string(&self, tag: u32) -> Option<&str> {
        match self.tags.get(&tag)? {
            TagValue::Strings(v) => v.first().map(String::as_str),
            _ => None,
        }
    }

    pub fn strings(&self, tag: u32) -> &[String] {
        match self.tags.get(&tag) {
            Some(TagValue::Strings(v)) => v,
            _ => &[],
        }
    }

    /// The first number of a numeric tag.
    pub fn int(&self, tag: u32) -> Option<i64> {
        self.ints(tag).first().copied()
    }

    pub fn ints(&self, tag: u32) -> &[i64] {
        match self.tags.get(&tag) {
            Some(TagValue::Ints(v)) => v,
            _ => &[],
        }
    }

    /// The paths of the files the package installs (directory name + base name, or the old
    /// single-list form).
    pub fn file_paths(&self) -> Vec<String> {
        let basenames = self.strings(TAG_BASENAMES);
        if basenames.is_empty() {
            return self.strings(TAG_OLDFILENAMES).to_vec();
        }
        let dirnames = self.strings(TAG_DIRNAMES);
        let indexes = self.ints(TAG_DIRINDEXES);
        basenames
            .iter()
            .enumerate()
            .map(|(i, base)| {
                let dir = indexes
                    .get(i)
                    .and_then(|&d| usize::try_from(d).ok())
                    .and_then(|d| dirnames.get(d))
                    .map_or("", String::as_str);
                format!("{dir}{base}")
            })
            .collect()
    }
}

fn be32(data: &[u8], at: usize) -> Option<u32> {
    let b = data.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// Parses a stored header blob. `None` when the blob is truncated or inconsistent; single
/// entries whose data does not fit are dropped.
pub(super) fn parse_header(blob: &[u8]) -> Option<Header> {
    let il = usize::try_from(be32(blob, 0)?).ok()?;
    let dl = usize::try_from(be32(blob, 4)?).ok()?;
    let data_start = il.checked_mul(16)?.checked_add(8)?;
    let data = blob.get(data_start..data_start.checked_add(dl)?)?;
    let mut header = Header::default();
    for i in 0..il {
        let at = 8 + i * 16;
        let tag = be32(blob, at)?;
        let ty = be32(blob, at + 4)?;
        let offset = usize::try_from(be32(blob, at + 8)?).ok()?;
        let count = usize::try_from(be32(blob, at + 12)?).ok()?;
        if let Some(value) = read_value(data, ty, offset, count) {
            header.tags.entry(tag).or_insert(value);
        }
    }
    Some(header)
}

fn read_value(data: &[u8], ty: u32, offset: usize, count: usize) -> Option<TagValue> {
    let rest = data.get(offset..)?;
    let ints = |width: usize| -> Option<TagValue> {
        let bytes = rest.get(..count.checked_mul(width)?)?;
        Some(TagValue::Ints(
            bytes
                .chunks_exact(width)
                .map(|c| match width {
                    1 => i64::from(c[0]),
                    2 => i64::from(u16::from_be_bytes([c[0], c[1]])),
                    4 => i64::from(u32::from_be_bytes([c[0], c[1], c[2], c[3]])),
                    _ => i64::from_be_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]),
                })
                .collect(),
        ))
    };
    match ty {
        TYPE_CHAR | TYPE_INT8 => ints(1),
        TYPE_INT16 => ints(2),
        TYPE_INT32 => ints(4),
        TYPE_INT64 => ints(8),
        TYPE_BIN => Some(TagValue::Bytes(rest.get(..count)?.to_vec())),
        TYPE_STRING | TYPE_STRING_ARRAY | TYPE_I18NSTRING => {
            let n = if ty == TYPE_STRING { 1 } else { count };
            let mut out = Vec::with_capacity(n.min(1 << 16));
            let mut pos = 0;
            for _ in 0..n {
                let len = rest.get(pos..)?.iter().position(|&b| b == 0)?;
                out.push(String::from_utf8_lossy(&rest[pos..pos + len]).into_owned());
                pos += len + 1;
            }
            Some(TagValue::Strings(out))
        }
        _ => None,
    }
}

/// Where RPM keeps its SQLite database (the first that exists).
const DB_PATHS: &[&str] = &[
    "/var/lib/rpm/rpmdb.sqlite",
    "/usr/lib/sysimage/rpm/rpmdb.sqlite",
];

/// The system's SQLite RPM database, if there is one.
pub(super) fn system_db() -> Option<PathBuf> {
    DB_PATHS.iter().map(PathBuf::from).find(|p| p.is_file())
}

/// Every header of an `rpmdb.sqlite`, opened read-only. A header that does not parse is skipped.
pub(super) fn read_db(path: &Path) -> rusqlite::Result<Vec<Header>> {
    use rusqlite::OpenFlags;
    let conn = rusqlite::Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    let mut stmt = conn.prepare("SELECT blob FROM Packages ORDER BY hnum")?;
    let blobs = stmt.query_map([], |r| r.get::<_, Vec<u8>>(0))?;
    Ok(blobs.flatten().filter_map(|b| parse_header(&b)).collect())
}

/// The headers of the system's RPM database; empty when there is none or it cannot be read.
pub(super) fn system_headers() -> Vec<Header> {
    system_db()
        .and_then(|p| read_db(&p).ok())
        .unwrap_or_default()
}

/// Builds header blobs in tests (the inverse of [`parse_header`]).
#[cfg(test)]
pub(super) mod build {
    /// An entry to encode: tag and value.
    pub enum V<'a> {
        S(&'a str),
        I18n(&'a str),
        Sa(&'a [&'a str]),
        I32(&'a [u32]),
        I16(&'a [u16]),
        I64(&'a [u64]),
    }

    pub fn header(entries: &[(u32, V)]) -> Vec<u8> {
        let mut index = Vec::new();
        let mut data: Vec<u8> = Vec::new();
        for (tag, v) in entries {
            let (ty, count, align) = match v {
                V::S(_) => (6u32, 1usize, 1usize),
                V::I18n(_) => (9, 1, 1),
                V::Sa(a) => (8, a.len(), 1),
                V::I32(a) => (4, a.len(), 4),
                V::I16(a) => (3, a.len(), 2),
                V::I64(a) => (5, a.len(), 8),
            };
            while !data.len().is_multiple_of(align) {
                data.push(0);
            }
            let offset = data.len();
            match v {
                V::S(s) | V::I18n(s) => {
                    data.extend_from_slice(s.as_bytes());
                    data.push(0);
                }
                V::Sa(a) => {
                    for s in *a {
                        data.extend_from_slice(s.as_bytes());
                        data.push(0);
                    }
                }
                V::I32(a) => a.iter().for_each(|n| data.extend(n.to_be_bytes())),
                V::I16(a) => a.iter().for_each(|n| data.extend(n.to_be_bytes())),
                V::I64(a) => a.iter().for_each(|n| data.extend(n.to_be_bytes())),
            }
            for n in [*tag, ty, offset as u32, count as u32] {
                index.extend(n.to_be_bytes());
            }
        }
        let mut blob = Vec::new();
        blob.extend((entries.len() as u32).to_be_bytes());
        blob.extend((data.len() as u32).to_be_bytes());
        blob.extend(index);
        blob.extend(data);
        blob
    }
}

#[cfg(test)]
mod tests {
    use super::build::{V, header};
    use super::*;

    #[test]
    fn header_tags_decode() {
        let blob = header(&[
            (TAG_NAME, V::S("bash")),
            (TAG_GROUP, V::I18n("System Environment/Shells")),
            (TAG_EPOCH, V::I32(&[2])),
            (TAG_FILEMODES, V::I16(&[0o100755, 0o40755])),
            (TAG_LONGSIZE, V::I64(&[5_000_000_000])),
            (TAG_DIRNAMES, V::Sa(&["/usr/bin/", "/etc/"])),
            (TAG_BASENAMES, V::Sa(&["bash", "bashrc"])),
            (TAG_DIRINDEXES, V::I32(&[0, 1])),
        ]);
        let h = parse_header(&blob).unwrap();
        assert_eq!(h.string(TAG_NAME), Some("bash"));
        assert_eq!(h.string(TAG_GROUP), Some("System Environment/Shells"));
        assert_eq!(h.int(TAG_EPOCH), Some(2));
        assert_eq!(h.ints(TAG_FILEMODES), &[0o100755, 0o40755]);
        assert_eq!(h.int(TAG_LONGSIZE), Some(5_000_000_000));
        assert_eq!(h.file_paths(), vec!["/usr/bin/bash", "/etc/bashrc"]);
        assert_eq!(h.string(TAG_VERSION), None);
    }

    #[test]
    fn truncated_blobs_are_rejected() {
        let blob = header(&[(TAG_NAME, V::S("bash"))]);
        assert!(parse_header(&blob[..blob.len() - 1]).is_none());
        assert!(parse_header(&[0, 0]).is_none());
        // An entry pointing past the data is dropped, the header survives.
        let mut bad = header(&[(TAG_NAME, V::S("x")), (TAG_VERSION, V::S("1"))]);
        bad[8 + 16 + 8..8 + 16 + 12].copy_from_slice(&100u32.to_be_bytes());
        let h = parse_header(&bad).unwrap();
        assert_eq!(h.string(TAG_NAME), Some("x"));
        assert_eq!(h.string(TAG_VERSION), None);
    }

    #[test]
    fn sqlite_database_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rpmdb.sqlite");
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL);",
        )
        .unwrap();
        for name in ["a", "b"] {
            let blob = header(&[(TAG_NAME, V::S(name))]);
            conn.execute("INSERT INTO Packages (blob) VALUES (?1)", [blob])
                .unwrap();
        }
        conn.execute("INSERT INTO Packages (blob) VALUES (x'00')", [])
            .unwrap();
        drop(conn);
        let headers = read_db(&path).unwrap();
        let names: Vec<_> = headers.iter().filter_map(|h| h.string(TAG_NAME)).collect();
        assert_eq!(names, vec!["a", "b"]);
    }
}

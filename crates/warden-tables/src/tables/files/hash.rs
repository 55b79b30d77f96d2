//! `hash`: MD5, SHA-1 and SHA-256 of the regular files a query names by `path` or `directory`.
//!
//! Only the digests the query selects are computed, all in one pass over the file with a large
//! read buffer. Directories and other non-regular files get no row, as in osquery; a symlink is
//! hashed as the file it points to.

use std::fs::File;
use std::io::{self, Read};

use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256};

use super::{targets, to_hex};
use crate::{QueryContext, Rows, TableError};

/// Read size: large enough that syscalls cost nothing next to hashing.
const BUFFER: usize = 1 << 20;

pub(crate) fn generate(ctx: &QueryContext, rows: &mut Rows) -> Result<(), TableError> {
    let wanted = Wanted {
        md5: ctx.wants("md5"),
        sha1: ctx.wants("sha1"),
        sha256: ctx.wants("sha256"),
    };
    let mut buffer = Vec::new();
    for target in targets(ctx) {
        // `metadata` follows links: a link to a regular file is hashed, anything else skipped.
        let Ok(meta) = std::fs::metadata(&target.fs_path) else {
            continue;
        };
        if !meta.is_file() {
            continue;
        }
        let digests = if wanted.any() {
            let Ok(file) = File::open(&target.fs_path) else {
                continue;
            };
            // Sequential read-ahead is only a hint: ignore hosts that refuse it.
            let _ = nix::fcntl::posix_fadvise(
                &file,
                0,
                0,
                nix::fcntl::PosixFadviseAdvice::POSIX_FADV_SEQUENTIAL,
            );
            if buffer.is_empty() {
                buffer = vec![0; BUFFER];
            }
            match hash_reader(file, wanted, &mut buffer) {
                Ok(d) => d,
                // Unreadable mid-way (vanished, I/O error): skip the file.
                Err(_) => continue,
            }
        } else {
            Digests::default()
        };
        rows.push()
            .set("path", target.path.as_str())
            .set("directory", target.directory.as_str())
            .set("md5", digests.md5)
            .set("sha1", digests.sha1)
            .set("sha256", digests.sha256)
            .set("pid_with_namespace", 0);
    }
    Ok(())
}

/// Which digests to compute.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Wanted {
    pub md5: bool,
    pub sha1: bool,
    pub sha256: bool,
}

impl Wanted {
    fn any(self) -> bool {
        self.md5 || self.sha1 || self.sha256
    }
}

/// Hex digests; `None` for those not asked for.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Digests {
    pub md5: Option<String>,
    pub sha1: Option<String>,
    pub sha256: Option<String>,
}

/// Hashes everything a reader yields, in one pass, with the given buffer.
pub(crate) fn hash_reader(
    mut reader: impl Read,
    wanted: Wanted,
    buffer: &mut [u8],
) -> io::Result<Digests> {
    let mut md5 = wanted.md5.then(Md5::new);
    let mut sha1 = wanted.sha1.then(Sha1::new);
    let mut sha256 = wanted.sha256.then(Sha256::new);
    loop {
        let n = match reader.read(buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let chunk = &buffer[..n];
        if let Some(h) = md5.as_mut() {
            h.update(chunk);
        }
        if let Some(h) = sha1.as_mut() {
            h.update(chunk);
        }
        if let Some(h) = sha256.as_mut() {
            h.update(chunk);
        }
    }
    Ok(Digests {
        md5: md5.map(|h| to_hex(&h.finalize())),
        sha1: sha1.map(|h| to_hex(&h.finalize())),
        sha256: sha256.map(|h| to_hex(&h.finalize())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: Wanted = Wanted {
        md5: true,
        sha1: true,
        sha256: true,
    };

    #[test]
    fn known_digests_of_abc() {
        let mut buffer = vec![0; 2];
        let d = hash_reader(&b"abc"[..], ALL, &mut buffer).unwrap();
        assert_eq!(d.md5.as_deref(), Some("900150983cd24fb0d6963f7d28e17f72"));
        assert_eq!(
            d.sha1.as_deref(),
            Some("a9993e364706816aba3e25717850c26c9cd0d89d")
        );
        assert_eq!(
            d.sha256.as_deref(),
            Some("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        );
    }

    #[test]
    fn only_wanted_digests_are_computed() {
        let mut buffer = vec![0; 16];
        let only = Wanted {
            md5: false,
            sha1: false,
            sha256: true,
        };
        let d = hash_reader(&b""[..], only, &mut buffer).unwrap();
        assert_eq!(d.md5, None);
        assert_eq!(d.sha1, None);
        assert_eq!(
            d.sha256.as_deref(),
            Some("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        );
    }
}

//! A small superblock prober (the part of libblkid the block tables need): filesystem type,
//! UUID and label for ext2/3/4, XFS, Btrfs, swap, LUKS, FAT and squashfs.

use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// What a superblock says about a device.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct Probe {
    pub fs_type: String,
    pub uuid: Option<String>,
    pub label: Option<String>,
    /// LUKS only: the cipher name and mode (`aes-xts-plain64`).
    pub cipher: Option<String>,
}

/// How much of the device the probes look at (Btrfs' superblock sits at 64 KiB).
const PROBE_BYTES: usize = 0x10000 + 0x1000;

/// Reads the start of a block device and identifies it; `None` when it cannot be read or no
/// known signature matches.
pub(super) fn probe_device(dev: &Path) -> Option<Probe> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(dev)
        .ok()?;
    let mut buf = Vec::with_capacity(PROBE_BYTES);
    file.take(PROBE_BYTES as u64).read_to_end(&mut buf).ok()?;
    probe(&buf)
}

/// Identifies a superblock from the first bytes of a device.
pub(super) fn probe(b: &[u8]) -> Option<Probe> {
    luks(b)
        .or_else(|| ext(b))
        .or_else(|| xfs(b))
        .or_else(|| btrfs(b))
        .or_else(|| swap(b))
        .or_else(|| squashfs(b))
        .or_else(|| fat(b))
}

fn le16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn le32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// A standard 8-4-4-4-12 UUID from 16 raw bytes; all zeros means none.
fn uuid(raw: &[u8]) -> Option<String> {
    if raw.len() != 16 || raw.iter().all(|&b| b == 0) {
        return None;
    }
    let h = super::util::hex(raw);
    Some(format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    ))
}

/// A NUL-padded text field; empty means none.
fn text(raw: &[u8]) -> Option<String> {
    let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
    let s = String::from_utf8_lossy(&raw[..end]).trim().to_string();
    (!s.is_empty()).then_some(s)
}

fn ext(b: &[u8]) -> Option<Probe> {
    const SB: usize = 1024;
    (le16(b, SB + 0x38)? == 0xEF53).then_some(())?;
    let compat = le32(b, SB + 0x5C)?;
    let incompat = le32(b, SB + 0x60)?;
    let ro_compat = le32(b, SB + 0x64)?;
    // A journal device is not a filesystem.
    if incompat & 0x8 != 0 {
        return Some(Probe {
            fs_type: "jbd".into(),
            uuid: uuid(b.get(SB + 0x68..SB + 0x78)?),
            ..Probe::default()
        });
    }
    // Features ext3 lacks: extents, 64bit, flex_bg, mmp, ... / huge_file, gdt_csum, ...
    let ext4_incompat = 0x40 | 0x80 | 0x100 | 0x200 | 0x400 | 0x1000 | 0x8000 | 0x10000;
    let ext4_ro = 0x8 | 0x10 | 0x20 | 0x40 | 0x100 | 0x200 | 0x400;
    let fs_type = if incompat & ext4_incompat != 0 || ro_compat & ext4_ro != 0 {
        "ext4"
    } else if compat & 0x4 != 0 {
        "ext3"
    } else {
        "ext2"
    };
    Some(Probe {
        fs_type: fs_type.into(),
        uuid: uuid(b.get(SB + 0x68..SB + 0x78)?),
        label: text(b.get(SB + 0x78..SB + 0x88)?),
        cipher: None,
    })
}

fn xfs(b: &[u8]) -> Option<Probe> {
    (b.get(0..4)? == b"XFSB").then_some(())?;
    Some(Probe {
        fs_type: "xfs".into(),
        uuid: uuid(b.get(32..48)?),
        label: text(b.get(108..120)?),
        cipher: None,
    })
}

fn btrfs(b: &[u8]) -> Option<Probe> {
    const SB: usize = 0x10000;
    (b.get(SB + 0x40..SB + 0x48)? == b"_BHRfS_M").then_some(())?;
    Some(Probe {
        fs_type: "btrfs".into(),
        uuid: uuid(b.get(SB + 0x20..SB + 0x30)?),
        label: text(b.get(SB + 0x12B..SB + 0x22B)?),
        cipher: None,
    })
}

fn swap(b: &[u8]) -> Option<Probe> {
    for page in [4096_usize, 8192, 16384, 65536] {
        let Some(sig) = b.get(page - 10..page) else {
            continue;
        };
        if sig == b"SWAPSPACE2" {
            return Some(Probe {
                fs_type: "swap".into(),
                uuid: uuid(b.get(1024 + 12..1024 + 28)?),
                label: text(b.get(1024 + 28..1024 + 44)?),
                cipher: None,
            });
        }
        if sig == b"SWAP-SPACE" {
            return Some(Probe {
                fs_type: "swap".into(),
                ..Probe::default()
            });
        }
    }
    None
}

fn luks(b: &[u8]) -> Option<Probe> {
    (b.get(0..6)? == b"LUKS\xba\xbe").then_some(())?;
    let version = u16::from_be_bytes(b.get(6..8)?.try_into().ok()?);
    let (label, cipher) = if version == 1 {
        let name = text(b.get(8..40)?);
        let mode = text(b.get(40..72)?);
        let cipher = match (name, mode) {
            (Some(n), Some(m)) => Some(format!("{n}-{m}")),
            (n, m) => n.or(m),
        };
        (None, cipher)
    } else {
        (text(b.get(24..72)?), luks2_cipher(b))
    };
    Some(Probe {
        fs_type: "crypto_LUKS".into(),
        uuid: text(b.get(168..208)?),
        label,
        cipher,
    })
}

/// LUKS2 keeps its cipher in the JSON area after the 4 KiB binary header.
fn luks2_cipher(b: &[u8]) -> Option<String> {
    let json = b.get(4096..)?;
    let end = json.iter().position(|&c| c == 0).unwrap_or(json.len());
    let v: serde_json::Value = serde_json::from_slice(&json[..end]).ok()?;
    let segments = v.get("segments")?.as_object()?;
    segments
        .values()
        .find_map(|s| s.get("encryption")?.as_str().map(str::to_string))
}

fn squashfs(b: &[u8]) -> Option<Probe> {
    (b.get(0..4)? == b"hsqs").then_some(())?;
    Some(Probe {
        fs_type: "squashfs".into(),
        ..Probe::default()
    })
}

fn fat(b: &[u8]) -> Option<Probe> {
    (b.get(510..512)? == [0x55, 0xAA]).then_some(())?;
    let (serial_at, label_at) = if b.get(82..87)? == b"FAT32" {
        (67, 71)
    } else if b.get(54..59)? == b"FAT12" || b.get(54..59)? == b"FAT16" {
        (39, 43)
    } else {
        return None;
    };
    let serial = le32(b, serial_at)?;
    let label = text(b.get(label_at..label_at + 11)?).filter(|l| l != "NO NAME");
    Some(Probe {
        fs_type: "vfat".into(),
        uuid: Some(format!("{:04X}-{:04X}", serial >> 16, serial & 0xFFFF)),
        label,
        cipher: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(len: usize) -> Vec<u8> {
        vec![0; len]
    }

    #[test]
    fn ext4_superblock() {
        let mut b = image(4096);
        b[1024 + 0x38..1024 + 0x3A].copy_from_slice(&0xEF53_u16.to_le_bytes());
        b[1024 + 0x5C..1024 + 0x60].copy_from_slice(&0x4_u32.to_le_bytes());
        b[1024 + 0x60..1024 + 0x64].copy_from_slice(&0x2C2_u32.to_le_bytes());
        b[1024 + 0x68..1024 + 0x78].copy_from_slice(&[0x11; 16]);
        b[1024 + 0x78..1024 + 0x7D].copy_from_slice(b"rootf");
        let p = probe(&b).unwrap();
        assert_eq!(p.fs_type, "ext4");
        assert_eq!(
            p.uuid.as_deref(),
            Some("11111111-1111-1111-1111-111111111111")
        );
        assert_eq!(p.label.as_deref(), Some("rootf"));
    }

    #[test]
    fn ext3_has_only_a_journal() {
        let mut b = image(4096);
        b[1024 + 0x38..1024 + 0x3A].copy_from_slice(&0xEF53_u16.to_le_bytes());
        b[1024 + 0x5C..1024 + 0x60].copy_from_slice(&0x4_u32.to_le_bytes());
        b[1024 + 0x60..1024 + 0x64].copy_from_slice(&0x2_u32.to_le_bytes());
        assert_eq!(probe(&b).unwrap().fs_type, "ext3");
    }

    #[test]
    fn swap_and_luks1() {
        let mut b = image(8192);
        b[4086..4096].copy_from_slice(b"SWAPSPACE2");
        b[1036..1052].copy_from_slice(&[0xab; 16]);
        let p = probe(&b).unwrap();
        assert_eq!(p.fs_type, "swap");
        assert!(p.uuid.unwrap().starts_with("abababab-"));

        let mut l = image(8192);
        l[0..6].copy_from_slice(b"LUKS\xba\xbe");
        l[6..8].copy_from_slice(&1_u16.to_be_bytes());
        l[8..11].copy_from_slice(b"aes");
        l[40..50].copy_from_slice(b"xts-plain6");
        l[168..172].copy_from_slice(b"abcd");
        let p = probe(&l).unwrap();
        assert_eq!(p.fs_type, "crypto_LUKS");
        assert_eq!(p.cipher.as_deref(), Some("aes-xts-plain6"));
        assert_eq!(p.uuid.as_deref(), Some("abcd"));
    }

    #[test]
    fn luks2_cipher_from_json() {
        let mut l = image(8192);
        l[0..6].copy_from_slice(b"LUKS\xba\xbe");
        l[6..8].copy_from_slice(&2_u16.to_be_bytes());
        let json = br#"{"segments":{"0":{"type":"crypt","encryption":"aes-xts-plain64"}}}"#;
        l[4096..4096 + json.len()].copy_from_slice(json);
        assert_eq!(
            probe(&l).unwrap().cipher.as_deref(),
            Some("aes-xts-plain64")
        );
    }

    #[test]
    fn fat32_serial_and_label() {
        let mut b = image(4096);
        b[510] = 0x55;
        b[511] = 0xAA;
        b[82..87].copy_from_slice(b"FAT32");
        b[67..71].copy_from_slice(&0x1234_ABCD_u32.to_le_bytes());
        b[71..82].copy_from_slice(b"EFI        ");
        let p = probe(&b).unwrap();
        assert_eq!(p.fs_type, "vfat");
        assert_eq!(p.uuid.as_deref(), Some("1234-ABCD"));
        assert_eq!(p.label.as_deref(), Some("EFI"));
    }

    /// Formats real images with the system's mkfs tools and compares with blkid.
    #[test]
    fn real_images_match_blkid() {
        let dir = tempfile::tempdir().unwrap();
        let run = |cmd: &str, args: &[&str]| {
            std::process::Command::new(cmd)
                .args(args)
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        };
        let cases: [(&str, &[&str]); 2] = [
            ("mkfs.ext4", &["-q", "-F", "-L", "wardenfs"]),
            ("mkswap", &["-L", "wardenswap"]),
        ];
        for (tool, args) in cases {
            let img = dir.path().join(format!("{tool}.img"));
            std::fs::write(&img, vec![0u8; 8 << 20]).unwrap();
            let img_s = img.to_string_lossy().into_owned();
            let mut all: Vec<&str> = args.to_vec();
            all.push(&img_s);
            if run(tool, &all).is_none() {
                continue; // tool not installed
            }
            let Some(export) = run("blkid", &["-o", "export", &img_s]) else {
                continue;
            };
            let field = |k: &str| {
                export
                    .lines()
                    .find_map(|l| l.strip_prefix(&format!("{k}=")).map(str::to_string))
            };
            let p = probe_device(&img).unwrap();
            assert_eq!(Some(p.fs_type.clone()), field("TYPE"), "{tool}");
            assert_eq!(p.uuid, field("UUID"), "{tool}");
            assert_eq!(p.label, field("LABEL"), "{tool}");
        }
    }

    #[test]
    fn unknown_and_short_inputs() {
        assert!(probe(&image(100)).is_none());
        assert!(probe(&image(PROBE_BYTES)).is_none());
    }
}

//! ELF GNU build-id: read the ELF header, the program (or section) headers and the note, never
//! the whole file. 32- and 64-bit, little- and big-endian.

use std::cell::Cell;
use std::fs::File;
use std::os::unix::fs::FileExt;

/// Random access to the bytes of a file or buffer: the parser reads only what it needs.
pub trait ReadAt {
    /// Fills `buf` from `offset`; false when the bytes are not all there.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> bool;
}

impl ReadAt for [u8] {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> bool {
        let Ok(start) = usize::try_from(offset) else {
            return false;
        };
        match start
            .checked_add(buf.len())
            .and_then(|end| self.get(start..end))
        {
            Some(src) => {
                buf.copy_from_slice(src);
                true
            }
            None => false,
        }
    }
}

impl ReadAt for File {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> bool {
        FileExt::read_exact_at(self, buf, offset).is_ok()
    }
}

/// A reader that counts its reads (the executable cache's read counter).
pub(crate) struct Counting<'a, R: ?Sized> {
    pub(crate) inner: &'a R,
    pub(crate) reads: &'a Cell<u64>,
}

impl<R: ReadAt + ?Sized> ReadAt for Counting<'_, R> {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> bool {
        self.reads.set(self.reads.get() + 1);
        self.inner.read_exact_at(buf, offset)
    }
}

const PT_NOTE: u32 = 4;
const SHT_NOTE: u32 = 7;
const NT_GNU_BUILD_ID: u32 = 3;
/// Bounds so a hostile header cannot make the parser read much.
const MAX_HEADERS: usize = 1024;
const MAX_NOTE_BYTES: u64 = 64 * 1024;

#[derive(Clone, Copy)]
struct Layout {
    is64: bool,
    big: bool,
}

impl Layout {
    fn u16(self, b: &[u8], at: usize) -> u16 {
        let a = [b[at], b[at + 1]];
        if self.big {
            u16::from_be_bytes(a)
        } else {
            u16::from_le_bytes(a)
        }
    }
    fn u32(self, b: &[u8], at: usize) -> u32 {
        let a = [b[at], b[at + 1], b[at + 2], b[at + 3]];
        if self.big {
            u32::from_be_bytes(a)
        } else {
            u32::from_le_bytes(a)
        }
    }
    fn u64(self, b: &[u8], at: usize) -> u64 {
        let mut a = [0u8; 8];
        a.copy_from_slice(&b[at..at + 8]);
        if self.big {
            u64::from_be_bytes(a)
        } else {
            u64::from_le_bytes(a)
        }
    }
    /// A word: u64 in ELF64, u32 in ELF32.
    fn word(self, b: &[u8], at: usize) -> u64 {
        if self.is64 {
            self.u64(b, at)
        } else {
            u64::from(self.u32(b, at))
        }
    }
}

/// The GNU build-id of the ELF image behind `r`, lowercase hex; None when `r` is not ELF or has
/// no `NT_GNU_BUILD_ID` note. Looks in `PT_NOTE` segments first (present in stripped binaries),
/// then in `SHT_NOTE` sections. Reads only the headers and the notes.
pub fn build_id<R: ReadAt + ?Sized>(r: &R) -> Option<String> {
    let mut ident = [0u8; 64];
    if !r.read_exact_at(&mut ident[..52], 0) || &ident[..4] != b"\x7fELF" {
        return None;
    }
    let l = Layout {
        is64: match ident[4] {
            1 => false,
            2 => true,
            _ => return None,
        },
        big: match ident[5] {
            1 => false,
            2 => true,
            _ => return None,
        },
    };
    if l.is64 && !r.read_exact_at(&mut ident[52..64], 52) {
        return None;
    }
    let h = &ident[..];
    let (phoff, shoff, phentsize, phnum, shentsize, shnum) = if l.is64 {
        (
            l.u64(h, 0x20),
            l.u64(h, 0x28),
            l.u16(h, 0x36),
            l.u16(h, 0x38),
            l.u16(h, 0x3a),
            l.u16(h, 0x3c),
        )
    } else {
        (
            u64::from(l.u32(h, 0x1c)),
            u64::from(l.u32(h, 0x20)),
            l.u16(h, 0x2a),
            l.u16(h, 0x2c),
            l.u16(h, 0x2e),
            l.u16(h, 0x30),
        )
    };

    // Program headers: p_type, p_offset, p_filesz, p_align.
    let (ph_min, ph_off, ph_size, ph_align) = if l.is64 {
        (56, 8, 32, 48)
    } else {
        (32, 4, 16, 28)
    };
    if phoff != 0 && usize::from(phentsize) >= ph_min && usize::from(phnum) <= MAX_HEADERS {
        let table = read_table(r, phoff, phentsize, phnum)?;
        for e in table.chunks_exact(usize::from(phentsize)) {
            if l.u32(e, 0) != PT_NOTE {
                continue;
            }
            let align = if l.word(e, ph_align) == 8 { 8 } else { 4 };
            if let Some(id) = note(r, l, l.word(e, ph_off), l.word(e, ph_size), align) {
                return Some(id);
            }
        }
    }

    // Section headers: sh_type, sh_offset, sh_size, sh_addralign.
    let (sh_min, sh_off, sh_size, sh_align) = if l.is64 {
        (64, 24, 32, 48)
    } else {
        (40, 16, 20, 32)
    };
    if shoff != 0 && usize::from(shentsize) >= sh_min && usize::from(shnum) <= MAX_HEADERS {
        let table = read_table(r, shoff, shentsize, shnum)?;
        for e in table.chunks_exact(usize::from(shentsize)) {
            if l.u32(e, 4) != SHT_NOTE {
                continue;
            }
            let align = if l.word(e, sh_align) == 8 { 8 } else { 4 };
            if let Some(id) = note(r, l, l.word(e, sh_off), l.word(e, sh_size), align) {
                return Some(id);
            }
        }
    }
    None
}

fn read_table<R: ReadAt + ?Sized>(r: &R, off: u64, entsize: u16, num: u16) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; usize::from(entsize) * usize::from(num)];
    r.read_exact_at(&mut buf, off).then_some(buf)
}

/// Walks the notes of one segment or section; the build-id's descriptor as hex.
fn note<R: ReadAt + ?Sized>(r: &R, l: Layout, off: u64, size: u64, align: usize) -> Option<String> {
    if size == 0 || size > MAX_NOTE_BYTES {
        return None;
    }
    let mut buf = vec![0u8; size as usize];
    if !r.read_exact_at(&mut buf, off) {
        return None;
    }
    let pad = |n: usize| n.div_ceil(align) * align;
    let mut at = 0usize;
    while at + 12 <= buf.len() {
        let namesz = l.u32(&buf, at) as usize;
        let descsz = l.u32(&buf, at + 4) as usize;
        let kind = l.u32(&buf, at + 8);
        let name_at = at + 12;
        let desc_at = name_at.checked_add(pad(namesz))?;
        let end = desc_at.checked_add(pad(descsz))?;
        let name = buf.get(name_at..name_at + namesz)?;
        let desc = buf.get(desc_at..desc_at + descsz)?;
        if kind == NT_GNU_BUILD_ID && name == b"GNU\0" && !desc.is_empty() {
            return Some(crate::hex(desc));
        }
        at = end;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal ELF image: header, one PT_NOTE program header (or none), one SHT_NOTE section
    /// header (or none), and a build-id note.
    pub(crate) fn synth(is64: bool, big: bool, with_ph: bool, with_sh: bool, id: &[u8]) -> Vec<u8> {
        let put16 = |v: &mut Vec<u8>, x: u16| {
            v.extend_from_slice(&if big {
                x.to_be_bytes()
            } else {
                x.to_le_bytes()
            })
        };
        let put32 = |v: &mut Vec<u8>, x: u32| {
            v.extend_from_slice(&if big {
                x.to_be_bytes()
            } else {
                x.to_le_bytes()
            })
        };
        let put64 = |v: &mut Vec<u8>, x: u64| {
            v.extend_from_slice(&if big {
                x.to_be_bytes()
            } else {
                x.to_le_bytes()
            })
        };
        let putw = |v: &mut Vec<u8>, x: u64| {
            if is64 {
                put64(v, x)
            } else {
                put32(v, x as u32)
            }
        };
        let ehsize: u64 = if is64 { 64 } else { 52 };
        let phentsize: u64 = if is64 { 56 } else { 32 };
        let shentsize: u64 = if is64 { 64 } else { 40 };
        // A leading unrelated note, then the build-id note.
        let mut notes = Vec::new();
        put32(&mut notes, 4);
        put32(&mut notes, 16);
        put32(&mut notes, 1); // NT_GNU_ABI_TAG
        notes.extend_from_slice(b"GNU\0");
        notes.extend_from_slice(&[0u8; 16]);
        put32(&mut notes, 4);
        put32(&mut notes, id.len() as u32);
        put32(&mut notes, NT_GNU_BUILD_ID);
        notes.extend_from_slice(b"GNU\0");
        notes.extend_from_slice(id);
        while notes.len() % 4 != 0 {
            notes.push(0);
        }
        let phoff = ehsize;
        let shoff = phoff + phentsize;
        let notes_off = shoff + shentsize;

        let mut v = b"\x7fELF".to_vec();
        v.push(if is64 { 2 } else { 1 });
        v.push(if big { 2 } else { 1 });
        v.push(1);
        v.resize(16, 0);
        put16(&mut v, 2); // e_type
        put16(&mut v, 62); // e_machine
        put32(&mut v, 1); // e_version
        putw(&mut v, 0); // e_entry
        putw(&mut v, if with_ph { phoff } else { 0 });
        putw(&mut v, if with_sh { shoff } else { 0 });
        put32(&mut v, 0); // e_flags
        put16(&mut v, ehsize as u16);
        put16(&mut v, phentsize as u16);
        put16(&mut v, u16::from(with_ph));
        put16(&mut v, shentsize as u16);
        put16(&mut v, u16::from(with_sh));
        put16(&mut v, 0); // e_shstrndx
        assert_eq!(v.len() as u64, ehsize);
        // Program header.
        put32(&mut v, PT_NOTE);
        if is64 {
            put32(&mut v, 4); // p_flags
            put64(&mut v, notes_off);
            put64(&mut v, 0);
            put64(&mut v, 0);
            put64(&mut v, notes.len() as u64);
            put64(&mut v, notes.len() as u64);
            put64(&mut v, 4);
        } else {
            put32(&mut v, notes_off as u32);
            put32(&mut v, 0);
            put32(&mut v, 0);
            put32(&mut v, notes.len() as u32);
            put32(&mut v, notes.len() as u32);
            put32(&mut v, 4); // p_flags
            put32(&mut v, 4); // p_align
        }
        assert_eq!(v.len() as u64, shoff);
        // Section header.
        put32(&mut v, 0); // sh_name
        put32(&mut v, SHT_NOTE);
        putw(&mut v, 2); // sh_flags
        putw(&mut v, 0); // sh_addr
        putw(&mut v, notes_off);
        putw(&mut v, notes.len() as u64);
        put32(&mut v, 0); // sh_link
        put32(&mut v, 0); // sh_info
        putw(&mut v, 4); // sh_addralign
        putw(&mut v, 0); // sh_entsize
        assert_eq!(v.len() as u64, notes_off);
        v.extend_from_slice(&notes);
        v
    }

    #[test]
    fn all_classes_and_endiannesses() {
        let id: Vec<u8> = (1..=20).collect();
        let want = crate::hex(&id);
        for is64 in [false, true] {
            for big in [false, true] {
                for (ph, sh) in [(true, true), (true, false), (false, true)] {
                    let img = synth(is64, big, ph, sh, &id);
                    assert_eq!(
                        build_id(img.as_slice()).as_deref(),
                        Some(want.as_str()),
                        "is64={is64} big={big} ph={ph} sh={sh}"
                    );
                }
                let none = synth(is64, big, false, false, &id);
                assert_eq!(build_id(none.as_slice()), None);
            }
        }
    }

    #[test]
    fn truncated_and_garbage_are_none() {
        let img = synth(true, false, true, true, &[7u8; 20]);
        for cut in [0, 3, 20, 63, 100, img.len() - 1] {
            // Must not panic; a cut inside the note loses the id.
            let _ = build_id(&img[..cut]);
        }
        assert_eq!(build_id(&img[..img.len() - 30]), None);
        assert_eq!(build_id(b"#!/bin/sh\necho hi\n".as_slice()), None);
        let mut bad = img.clone();
        bad[4] = 9;
        assert_eq!(build_id(bad.as_slice()), None);
    }
}

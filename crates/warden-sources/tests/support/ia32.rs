//! A 32-bit (x86 ia32) program made byte by byte for the tests of what 32-bit processes'
//! compat syscalls escape; shared by the eBPF source's live tests and the agent's.

/// A 32-bit (i386) static program of a few bytes, written to `path`: nanosleep `delay_ms`,
/// socket(AF_INET, SOCK_STREAM), connect to `to`, exit(0) — by `int 0x80`, as compat
/// syscalls.
pub fn write_connector(path: &std::path::Path, to: std::net::SocketAddrV4, delay_ms: u32) {
    let mut code: Vec<u8> = Vec::new();
    code.extend([0xb8, 0xa2, 0x00, 0x00, 0x00]); // mov eax, 162 (nanosleep)
    let timespec_at = code.len() + 1;
    code.extend([0xbb, 0, 0, 0, 0]); // mov ebx, &timespec (patched below)
    code.extend([0x31, 0xc9, 0xcd, 0x80]); // xor ecx, ecx; int 0x80
    code.extend([0xb8, 0x67, 0x01, 0x00, 0x00]); // mov eax, 359 (socket)
    code.extend([0xbb, 0x02, 0x00, 0x00, 0x00]); // mov ebx, AF_INET
    code.extend([0xb9, 0x01, 0x00, 0x00, 0x00]); // mov ecx, SOCK_STREAM
    code.extend([0x31, 0xd2, 0xcd, 0x80]); // xor edx, edx; int 0x80
    code.extend([0x89, 0xc3]); // mov ebx, eax (the socket)
    code.extend([0xb8, 0x6a, 0x01, 0x00, 0x00]); // mov eax, 362 (connect)
    let addr_at = code.len() + 1;
    code.extend([0xb9, 0, 0, 0, 0]); // mov ecx, &sockaddr (patched below)
    code.extend([0xba, 0x10, 0x00, 0x00, 0x00, 0xcd, 0x80]); // mov edx, 16; int 0x80
    code.extend([0xb8, 0x01, 0x00, 0x00, 0x00, 0x31, 0xdb, 0xcd, 0x80]); // exit(0)
    let sockaddr = BASE + HEADERS + code.len() as u32;
    code[addr_at..addr_at + 4].copy_from_slice(&sockaddr.to_le_bytes());
    code.extend(2u16.to_le_bytes()); // sin_family
    code.extend(to.port().to_be_bytes());
    code.extend(to.ip().octets());
    code.extend([0; 8]);
    let timespec = BASE + HEADERS + code.len() as u32;
    code[timespec_at..timespec_at + 4].copy_from_slice(&timespec.to_le_bytes());
    code.extend((delay_ms / 1000).to_le_bytes()); // tv_sec
    code.extend((delay_ms % 1000 * 1_000_000).to_le_bytes()); // tv_nsec
    write_elf(path, code);
}

/// The program's load address and the headers' length before its code.
const BASE: u32 = 0x0804_8000;
const HEADERS: u32 = 52 + 32;

/// Writes `code` (starting at BASE + HEADERS, data after it) as a static i386 ELF, runnable.
fn write_elf(path: &std::path::Path, code: Vec<u8>) {
    use std::os::unix::fs::PermissionsExt;
    let size = HEADERS + code.len() as u32;
    let mut elf: Vec<u8> = vec![0x7f, b'E', b'L', b'F', 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    elf.extend(2u16.to_le_bytes()); // ET_EXEC
    elf.extend(3u16.to_le_bytes()); // EM_386
    elf.extend(1u32.to_le_bytes()); // EV_CURRENT
    elf.extend((BASE + HEADERS).to_le_bytes()); // entry
    elf.extend(52u32.to_le_bytes()); // program headers
    elf.extend(0u32.to_le_bytes()); // no section headers
    elf.extend(0u32.to_le_bytes()); // flags
    for half in [52u16, 32, 1, 40, 0, 0] {
        elf.extend(half.to_le_bytes()); // ehsize, phentsize, phnum, shentsize, shnum, shstrndx
    }
    for word in [1u32, 0, BASE, BASE, size, size, 5, 0x1000] {
        elf.extend(word.to_le_bytes()); // PT_LOAD of the whole file, R+X
    }
    elf.extend(code);
    std::fs::write(path, &elf).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A 32-bit (i386) static program written to `path` that changes files in `dir` by compat
/// syscalls, after a nanosleep of `delay_ms`: creat `dir/a32` (mode 0644), write a byte, close
/// it, rename it to `dir/b32`, unlink that, exit(0).
pub fn write_file_changer(path: &std::path::Path, dir: &std::path::Path, delay_ms: u32) {
    use std::os::unix::ffi::OsStrExt;
    let mut code: Vec<u8> = Vec::new();
    // Each `mov reg, imm32` whose immediate is a data address: patched once the data is placed.
    let mut patches: Vec<(usize, usize)> = Vec::new(); // (code offset, data item)
    let mov = |code: &mut Vec<u8>, opcode: u8, imm: u32| {
        code.push(opcode);
        code.extend(imm.to_le_bytes());
    };
    const EAX: u8 = 0xb8;
    const EBX: u8 = 0xbb;
    const ECX: u8 = 0xb9;
    const EDX: u8 = 0xba;
    const INT80: [u8; 2] = [0xcd, 0x80];
    let (a, b, byte, timespec) = (0, 1, 2, 3); // data items
    mov(&mut code, EAX, 162); // nanosleep(timespec, NULL)
    patches.push((code.len() + 1, timespec));
    mov(&mut code, EBX, 0);
    code.extend([0x31, 0xc9]); // xor ecx, ecx
    code.extend(INT80);
    mov(&mut code, EAX, 8); // creat(a, 0644)
    patches.push((code.len() + 1, a));
    mov(&mut code, EBX, 0);
    mov(&mut code, ECX, 0o644);
    code.extend(INT80);
    code.extend([0x89, 0xc6]); // mov esi, eax (the fd)
    mov(&mut code, EAX, 4); // write(fd, byte, 1)
    code.extend([0x89, 0xf3]); // mov ebx, esi
    patches.push((code.len() + 1, byte));
    mov(&mut code, ECX, 0);
    mov(&mut code, EDX, 1);
    code.extend(INT80);
    mov(&mut code, EAX, 6); // close(fd)
    code.extend([0x89, 0xf3]); // mov ebx, esi
    code.extend(INT80);
    mov(&mut code, EAX, 38); // rename(a, b)
    patches.push((code.len() + 1, a));
    mov(&mut code, EBX, 0);
    patches.push((code.len() + 1, b));
    mov(&mut code, ECX, 0);
    code.extend(INT80);
    mov(&mut code, EAX, 10); // unlink(b)
    patches.push((code.len() + 1, b));
    mov(&mut code, EBX, 0);
    code.extend(INT80);
    mov(&mut code, EAX, 1); // exit(0)
    code.extend([0x31, 0xdb]); // xor ebx, ebx
    code.extend(INT80);
    let mut sleep = (delay_ms / 1000).to_le_bytes().to_vec(); // tv_sec
    sleep.extend((delay_ms % 1000 * 1_000_000).to_le_bytes()); // tv_nsec
    let mut data_at = Vec::new();
    for item in [
        dir.join("a32").as_os_str().as_bytes(),
        dir.join("b32").as_os_str().as_bytes(),
        b"x".as_slice(),
        &sleep,
    ] {
        data_at.push(BASE + HEADERS + code.len() as u32);
        code.extend(item);
        code.push(0);
    }
    for (at, item) in patches {
        code[at..at + 4].copy_from_slice(&data_at[item].to_le_bytes());
    }
    write_elf(path, code);
}

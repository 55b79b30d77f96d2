//! Compiles the eBPF process program (bpf/process.bpf.c) with clang into OUT_DIR, to be embedded
//! in the binary. Without clang the crate still builds: the eBPF source then reports that it
//! was not built in, and the agent falls back to audit and the process connector.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(warden_bpf)");
    println!("cargo::rerun-if-changed=bpf/process.bpf.c");
    println!("cargo::rerun-if-changed=bpf/kernel.h");
    println!("cargo::rerun-if-changed=bpf/files.h");
    println!("cargo::rerun-if-changed=bpf/net.h");
    println!("cargo::rerun-if-changed=bpf/uring.h");
    println!("cargo::rerun-if-changed=bpf/compat.h");
    println!("cargo::rerun-if-env-changed=WARDEN_CLANG");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let object = out.join("process.bpf.o");
    let clang = std::env::var("WARDEN_CLANG").unwrap_or_else(|_| "clang".into());
    // The file programs read a syscall's arguments from its registers, which differ by arch.
    let arch = match std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() {
        Ok("x86_64") => "-D__TARGET_ARCH_x86",
        Ok("aarch64") => "-D__TARGET_ARCH_arm64",
        _ => "-D__TARGET_ARCH_unsupported",
    };
    let compiled = Command::new(&clang)
        .args([
            "-O2", "-g", "-target", "bpf", "-Wall", "-Werror", "-Ibpf", arch, "-c",
        ])
        .arg("bpf/process.bpf.c")
        .arg("-o")
        .arg(&object)
        .status();
    match compiled {
        Ok(status) if status.success() => {
            // DWARF is not needed at run time; BTF (what CO-RE reads) stays.
            let _ = Command::new("llvm-strip").arg("-g").arg(&object).status();
            println!("cargo::rustc-cfg=warden_bpf");
        }
        Ok(status) => panic!("{clang} failed to compile bpf/process.bpf.c ({status})"),
        Err(e) => println!(
            "cargo::warning=eBPF process source not built: cannot run {clang} ({e}); \
             scripts/deps installs it"
        ),
    }
}

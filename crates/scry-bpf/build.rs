//! Compiles the BPF C programs with Debian's clang-19 and generates their Rust
//! skeletons. Everything a program needs from the kernel comes from the committed
//! `vmlinux.h` (CO-RE), so no kernel headers are read here or at run time.

use std::path::PathBuf;

use libbpf_cargo::SkeletonBuilder;

const PROGRAMS: &[&str] = &["process", "probes", "socket", "net", "policy"];

fn main() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR is set by cargo"));
    let clang = std::env::var("SCRY_CLANG").unwrap_or_else(|_| "clang-19".to_owned());
    println!("cargo:rerun-if-env-changed=SCRY_CLANG");
    println!("cargo:rerun-if-changed=src/bpf");
    for name in PROGRAMS {
        let src = format!("src/bpf/{name}.bpf.c");
        SkeletonBuilder::new()
            .source(&src)
            .clang(&clang)
            .clang_args(["-Isrc/bpf", "-D__TARGET_ARCH_x86", "-Wall", "-Werror", "-O2", "-g"])
            .build_and_generate(out.join(format!("{name}.skel.rs")))
            .unwrap_or_else(|e| {
                panic!(
                    "building {src} with {clang} failed (is clang-19 installed? scripts/setup.sh installs it): {e:#}"
                )
            });
    }
}

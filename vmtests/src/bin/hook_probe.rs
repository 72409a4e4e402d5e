//! Says what this kernel offers Scry, as `@@scry-vmtest` marker lines that
//! `vmtests/run` reads: the release, BTF, the active LSMs and, for each hook
//! kind, whether a program of that kind loaded and attached (or why not).
//! Runs inside each guest of the kernel matrix and on the host; as root.

use std::path::Path;

use scry_bpf::probe::HookSupport;

/// One line of output; the reason of a refusal may span lines, the marker not.
fn mark(what: &str, value: &str) {
    println!("@@scry-vmtest {what} {}", value.split_whitespace().collect::<Vec<_>>().join(" "));
}

fn read(path: &str) -> String {
    match std::fs::read_to_string(path) {
        Ok(s) => s.trim().to_owned(),
        Err(e) => format!("unreadable ({path}: {e})"),
    }
}

fn main() {
    mark("release", &read("/proc/sys/kernel/osrelease"));
    mark("btf", if Path::new("/sys/kernel/btf/vmlinux").exists() { "yes" } else { "no" });
    // securityfs: the guest's /init mounts it; a host may not have.
    mark("lsm", &read("/sys/kernel/security/lsm"));
    for r in HookSupport::probe().results {
        match r.error {
            None => mark("hook", &format!("{} ok", r.kind)),
            Some(e) => mark("hook", &format!("{} refused {e}", r.kind)),
        }
    }
}

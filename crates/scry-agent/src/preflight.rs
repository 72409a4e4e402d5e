//! Checks before loading anything, each failing with one line that says what
//! is missing and what to do.

use std::fs;

use anyhow::bail;

pub const BTF_PATH: &str = "/sys/kernel/btf/vmlinux";
const TRACEFS: &str = "/sys/kernel/tracing";

/// What the checks found.
#[derive(Clone, Debug)]
pub struct Facts {
    pub kernel: String,
    pub btf: String,
    /// What the agent did to the host to be able to run (shown by `scry status`).
    pub notices: Vec<String>,
    /// Namespace inode numbers of the host (pid 1), indexed as `NAMESPACES`.
    pub host_namespaces: [u32; 10],
}

fn namespaces_of(pid: &str) -> [u32; 10] {
    std::array::from_fn(|i| {
        fs::read_link(format!("/proc/{pid}/ns/{}", scry_bpf::process::NAMESPACES[i]))
            .ok()
            .and_then(|l| l.to_string_lossy().split_once('[')?.1.trim_end_matches(']').parse().ok())
            .unwrap_or(0)
    })
}

const CAP_SYS_ADMIN: u32 = 21;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

fn effective_caps() -> u64 {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("CapEff:").map(|v| v.trim().to_owned())))
        .and_then(|h| u64::from_str_radix(&h, 16).ok())
        .unwrap_or(0)
}

pub fn check() -> anyhow::Result<Facts> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        bail!("scry agent must run as root: it loads BPF programs. Run it with sudo");
    }
    let caps = effective_caps();
    let has = |c: u32| caps & (1 << c) != 0;
    if !(has(CAP_SYS_ADMIN) || (has(CAP_BPF) && has(CAP_PERFMON))) {
        bail!(
            "missing capability: loading BPF needs CAP_SYS_ADMIN, or CAP_BPF and CAP_PERFMON (effective set is {caps:#x}). \
             Run privileged, or grant them (e.g. securityContext.capabilities.add)"
        );
    }
    if fs::metadata(BTF_PATH).is_err() {
        bail!(
            "no BTF at {BTF_PATH}: this kernel was built without CONFIG_DEBUG_INFO_BTF, which Scry's CO-RE programs need. \
             Use a kernel with BTF (every major distribution's since 2021)"
        );
    }
    if let Ok(lockdown) = fs::read_to_string("/sys/kernel/security/lockdown")
        && lockdown.contains("[confidentiality]")
    {
        bail!(
            "the kernel is locked down in confidentiality mode, which forbids BPF from reading kernel memory. \
             Boot with lockdown=integrity (or none) to run Scry"
        );
    }
    let mut notices = Vec::new();
    if fs::metadata(format!("{TRACEFS}/events")).is_err() {
        let target = std::ffi::CString::new(TRACEFS).expect("no NUL in a constant");
        let fstype = std::ffi::CString::new("tracefs").expect("no NUL in a constant");
        // SAFETY: all pointers are valid NUL-terminated strings for the call.
        let rc = unsafe { libc::mount(fstype.as_ptr(), target.as_ptr(), fstype.as_ptr(), 0, std::ptr::null()) };
        if rc != 0 {
            bail!(
                "tracefs is not mounted at {TRACEFS} and mounting it failed ({}): tracepoints cannot be attached. \
                 Mount it with `mount -t tracefs nodev {TRACEFS}`",
                std::io::Error::last_os_error()
            );
        }
        notices.push(format!("mounted tracefs at {TRACEFS} (it was not mounted)"));
    }
    let mut host_namespaces = namespaces_of("1");
    if host_namespaces.contains(&0) {
        host_namespaces = namespaces_of("self");
        notices.push(
            "host namespaces taken from the agent's own: /proc/1/ns is unreadable, so `is_host` means \"same as the agent\""
                .to_owned(),
        );
    }
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").map(|s| s.trim().to_owned()).unwrap_or_default();
    Ok(Facts { kernel, btf: BTF_PATH.to_owned(), notices, host_namespaces })
}

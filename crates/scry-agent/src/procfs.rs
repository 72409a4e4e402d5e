//! Seeds the process cache from `/proc`, so processes older than the agent have
//! identity and parents. Each process is read into the same `ExecRecord` the
//! kernel sends for an exec, flagged `procFS`.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use scry_bpf::process::{CgroupRef, Creds, ExecFile, ExecRecord, NAMESPACES, flags};

use crate::metadata::cgroup::CgroupMounts;

/// Tetragon's bit for "found by the /proc scan".
pub const FLAG_PROCFS: u32 = 0x04;

const PF_KTHREAD: u64 = 0x0020_0000;

/// Every user-space process, oldest first (so parents come before children).
pub fn scan(mounts: &CgroupMounts) -> Vec<ExecRecord> {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    let mut out: Vec<ExecRecord> = fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| read_process(pid, ticks, mounts))
        .collect();
    out.sort_by_key(|r| (r.ktime, r.pid));
    out
}

fn read_process(pid: u32, ticks: u64, mounts: &CgroupMounts) -> Option<ExecRecord> {
    let dir = format!("/proc/{pid}");
    let stat = fs::read_to_string(format!("{dir}/stat")).ok()?;
    // Fields after the parenthesised command, which may itself hold spaces.
    let rest: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ppid: u32 = rest.get(1)?.parse().ok()?;
    let pflags: u64 = rest.get(6)?.parse().ok()?;
    if pflags & PF_KTHREAD != 0 {
        return None;
    }
    let start_ticks: u64 = rest.get(19)?.parse().ok()?;
    let status = fs::read_to_string(format!("{dir}/status")).ok()?;
    let field = |name: &str| -> Vec<&str> {
        status.lines().find_map(|l| l.strip_prefix(name)).map(|v| v.split_whitespace().collect()).unwrap_or_default()
    };
    let ids = |name: &str| -> [u32; 4] {
        let v = field(name);
        std::array::from_fn(|i| v.get(i).and_then(|s| s.parse().ok()).unwrap_or(0))
    };
    let cap = |name: &str| field(name).first().and_then(|h| u64::from_str_radix(h, 16).ok()).unwrap_or(0);
    let [uid, euid, suid, fsuid] = ids("Uid:");
    let [gid, egid, sgid, fsgid] = ids("Gid:");
    let argv: Vec<String> = fs::read(format!("{dir}/cmdline"))
        .unwrap_or_default()
        .split(|&b| b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    let exe = fs::read_link(format!("{dir}/exe")).ok();
    let mut rec_flags = FLAG_PROCFS;
    let mut bin_props = 0;
    let mut file = ExecFile::default();
    let binary = match &exe {
        Some(p) => {
            let s = p.to_string_lossy();
            match s.strip_suffix(" (deleted)") {
                Some(path) => {
                    bin_props |= flags::BIN_UNLINKED;
                    path.to_owned()
                }
                None => s.into_owned(),
            }
        }
        None => {
            rec_flags |= flags::ERROR_FILENAME;
            String::new()
        }
    };
    if let Ok(meta) = fs::metadata(format!("{dir}/exe")) {
        file = ExecFile { uid: meta.uid(), gid: meta.gid(), nlink: meta.nlink() as u32, ino: meta.ino() };
    }
    let cwd = fs::read_link(format!("{dir}/cwd")).map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
    if cwd == "/" {
        rec_flags |= flags::ROOT_CWD;
    }
    let auid =
        fs::read_to_string(format!("{dir}/loginuid")).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(u32::MAX);
    let ns = std::array::from_fn(|i| namespace_inode(&dir, NAMESPACES[i]));
    let (cgroup_v2, cgroup_v1) = cgroups(&dir, mounts);
    Some(ExecRecord {
        pid,
        tid: pid,
        ppid,
        ktime: start_ticks * (1_000_000_000 / ticks),
        creds: Creds { uid, gid, euid, egid, suid, sgid, fsuid, fsgid },
        auid,
        flags: rec_flags,
        caps: scry_bpf::process::Caps {
            effective: cap("CapEff:"),
            permitted: cap("CapPrm:"),
            inheritable: cap("CapInh:"),
        },
        ns,
        bin_props,
        file,
        cgroup_v2,
        cgroup_v1,
        binary,
        cwd,
        args_orig_len: argv.iter().map(|a| a.len() as u32 + 1).sum(),
        argv,
    })
}

fn namespace_inode(dir: &str, name: &str) -> u32 {
    // "net:[4026531840]"
    fs::read_link(format!("{dir}/ns/{name}"))
        .ok()
        .and_then(|l| {
            let s = l.to_string_lossy().into_owned();
            s.split_once('[')?.1.strip_suffix(']')?.parse().ok()
        })
        .unwrap_or(0)
}

/// The v2 and v1-memory cgroups of a process, as the kernel would report them.
fn cgroups(dir: &str, mounts: &CgroupMounts) -> (CgroupRef, CgroupRef) {
    let text = fs::read_to_string(format!("{dir}/cgroup")).unwrap_or_default();
    let mut v2 = CgroupRef::default();
    let mut v1 = CgroupRef::default();
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        if controllers.is_empty() {
            v2 = cgroup_ref(mounts.v2.as_deref(), path);
        } else if controllers.split(',').any(|c| c == "memory") {
            v1 = cgroup_ref(mounts.v1_memory.as_deref(), path);
        }
    }
    (v2, v1)
}

fn cgroup_ref(mount: Option<&Path>, path: &str) -> CgroupRef {
    let mut parts = path.rsplit('/');
    let name = parts.next().unwrap_or("").to_owned();
    let parent_name = parts.next().unwrap_or("").to_owned();
    let id = mount.and_then(|m| fs::metadata(m.join(path.trim_start_matches('/'))).ok()).map_or(0, |meta| meta.ino());
    CgroupRef { id, name, parent_name }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let mounts = CgroupMounts::detect();
        let me = std::process::id();
        let all = scan(&mounts);
        let rec = all.iter().find(|r| r.pid == me).expect("own process found");
        assert_eq!(rec.binary, std::env::current_exe().unwrap().to_string_lossy());
        assert_eq!(rec.cwd, std::env::current_dir().unwrap().to_string_lossy());
        assert_eq!(rec.argv.first().map(String::as_str), std::env::args().next().as_deref());
        // SAFETY: getppid and getuid have no preconditions.
        assert_eq!(rec.ppid, unsafe { libc::getppid() } as u32);
        assert_eq!(rec.creds.uid, unsafe { libc::getuid() });
        assert_ne!(rec.flags & FLAG_PROCFS, 0);
        assert!(rec.ns[NAMESPACES.iter().position(|n| *n == "net").unwrap()] != 0);
        assert!(all.windows(2).all(|w| w[0].ktime <= w[1].ktime), "oldest first");
    }
}

//! Attribution from cgroups: container ids for the container runtimes' cgroup
//! layouts (containerd, CRI-O, Docker, podman; systemd and cgroupfs drivers;
//! cgroup v1 and v2), pod uids from kubelet's layout, and systemd units for
//! host processes.
//!
//! The names come from the kernel at the event (leaf and parent directory of
//! the task's cgroup), so a process that lives for a millisecond is attributed
//! as well as a daemon.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// A container as its cgroup names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerRef {
    /// `containerd`, `cri-o`, `docker`, `podman`, or `""` when the layout does not say.
    pub runtime: &'static str,
    /// 64 hex characters.
    pub id: String,
}

fn is_container_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The container a cgroup directory name (the leaf) stands for, if any.
/// `parent` is the leaf's parent directory name, used where the leaf is a bare id.
pub fn container_of(leaf: &str, parent: &str) -> Option<ContainerRef> {
    let name = leaf.strip_suffix(".scope").unwrap_or(leaf);
    const PREFIXES: [(&str, &str); 5] = [
        ("cri-containerd-", "containerd"),
        ("crio-", "cri-o"),
        ("docker-", "docker"),
        ("libpod-", "podman"),
        ("containerd-", "containerd"),
    ];
    for (prefix, runtime) in PREFIXES {
        if let Some(id) = name.strip_prefix(prefix) {
            return is_container_hex(id).then(|| ContainerRef { runtime, id: id.to_owned() });
        }
    }
    if is_container_hex(name) {
        let runtime = match parent {
            "docker" => "docker",
            p if p.starts_with("libpod") => "podman",
            _ => "",
        };
        return Some(ContainerRef { runtime, id: name.to_owned() });
    }
    None
}

/// The pod uid in a kubelet cgroup directory name: `pod<uid>` (cgroupfs) or
/// `kubepods-<qos>-pod<uid with _>.slice` (systemd).
pub fn pod_uid_of(dir: &str) -> Option<String> {
    let name = dir.strip_suffix(".slice").unwrap_or(dir);
    let idx = name.rfind("pod")?;
    let uid = &name[idx + 3..];
    let uid = uid.replace('_', "-");
    let ok = uid.len() == 36 && uid.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
    ok.then_some(uid)
}

/// The systemd unit a cgroup path belongs to: its last `.service` or `.scope`
/// component (`/system.slice/ssh.service` → `ssh.service`).
pub fn unit_of(path: &str) -> Option<String> {
    path.rsplit('/').find(|c| c.ends_with(".service") || c.ends_with(".scope")).map(str::to_owned)
}

/// Where the cgroup hierarchies are mounted, read from `/proc/self/mountinfo`.
#[derive(Clone, Debug, Default)]
pub struct CgroupMounts {
    pub v2: Option<PathBuf>,
    pub v1_memory: Option<PathBuf>,
}

impl CgroupMounts {
    pub fn detect() -> CgroupMounts {
        let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        Self::parse(&text)
    }

    fn parse(mountinfo: &str) -> CgroupMounts {
        let mut mounts = CgroupMounts::default();
        for line in mountinfo.lines() {
            // id parent major:minor root mount-point options ... - fstype source super-options
            let Some((pre, post)) = line.split_once(" - ") else { continue };
            let mount_point = pre.split(' ').nth(4).map(PathBuf::from);
            let mut post = post.split(' ');
            let fstype = post.next().unwrap_or("");
            let super_opts = post.nth(1).unwrap_or("");
            match fstype {
                "cgroup2" if mounts.v2.is_none() => mounts.v2 = mount_point,
                "cgroup" if super_opts.split(',').any(|o| o == "memory") => mounts.v1_memory = mount_point,
                _ => {}
            }
        }
        mounts
    }
}

/// cgroup id → path, for one hierarchy. A cgroup's id is its directory's inode
/// number, so a miss is answered by walking the hierarchy once more.
#[derive(Debug)]
pub struct CgroupPaths {
    root: PathBuf,
    by_id: HashMap<u64, String>,
}

/// Bounds a rescan so a huge hierarchy cannot stall the event path.
const MAX_SCAN_DIRS: usize = 100_000;

impl CgroupPaths {
    pub fn new(root: PathBuf) -> Self {
        CgroupPaths { root, by_id: HashMap::new() }
    }

    /// The known path (relative to the hierarchy root, starting with `/`) of cgroup `id`.
    pub fn cached(&self, id: u64) -> Option<String> {
        self.by_id.get(&id).cloned()
    }

    /// Walks the hierarchy again, then answers as `cached`.
    pub fn rescan_for(&mut self, id: u64) -> Option<String> {
        self.rescan();
        self.cached(id)
    }

    fn rescan(&mut self) {
        use std::os::unix::fs::MetadataExt;
        self.by_id.clear();
        let mut stack = vec![self.root.clone()];
        let mut seen = 0;
        while let Some(dir) = stack.pop() {
            seen += 1;
            if seen > MAX_SCAN_DIRS {
                break;
            }
            let Ok(meta) = std::fs::metadata(&dir) else { continue };
            let rel = dir.strip_prefix(&self.root).unwrap_or(Path::new(""));
            self.by_id.insert(meta.ino(), format!("/{}", rel.display()));
            let Ok(entries) = std::fs::read_dir(&dir) else { continue };
            for entry in entries.flatten() {
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    stack.push(entry.path());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn container_layouts() {
        let cases = [
            (format!("cri-containerd-{ID}.scope"), "kubepods-besteffort-pod1.slice", "containerd"),
            (format!("crio-{ID}.scope"), "x", "cri-o"),
            (format!("crio-{ID}"), "x", "cri-o"),
            (format!("docker-{ID}.scope"), "system.slice", "docker"),
            (format!("libpod-{ID}.scope"), "machine.slice", "podman"),
            (ID.to_owned(), "docker", "docker"),
            (ID.to_owned(), "pod0a1b", ""),
        ];
        for (leaf, parent, runtime) in cases {
            assert_eq!(container_of(&leaf, parent), Some(ContainerRef { runtime, id: ID.to_owned() }), "{leaf}");
        }
        assert_eq!(container_of("ssh.service", "system.slice"), None);
        assert_eq!(container_of("docker-abc.scope", "system.slice"), None);
        assert_eq!(container_of(&format!("crio-conmon-{ID}.scope"), "x"), None);
    }

    #[test]
    fn pod_uids() {
        let uid = "1b4e28ba-2fa1-11d2-883f-0016d3cca427";
        assert_eq!(pod_uid_of(&format!("pod{uid}")).as_deref(), Some(uid));
        let systemd = format!("kubepods-burstable-pod{}.slice", uid.replace('-', "_"));
        assert_eq!(pod_uid_of(&systemd).as_deref(), Some(uid));
        assert_eq!(pod_uid_of("kubepods.slice"), None);
    }

    #[test]
    fn units() {
        assert_eq!(unit_of("/system.slice/ssh.service").as_deref(), Some("ssh.service"));
        assert_eq!(unit_of("/user.slice/user-0.slice/session-3.scope").as_deref(), Some("session-3.scope"));
        assert_eq!(unit_of("/"), None);
    }

    #[test]
    fn mountinfo_hybrid() {
        let text = "\
30 23 0:26 / /sys/fs/cgroup/memory rw,relatime shared:10 - cgroup cgroup rw,memory
31 23 0:27 / /sys/fs/cgroup/unified rw,relatime shared:11 - cgroup2 cgroup2 rw
32 23 0:28 / /sys/fs/cgroup/pids rw,relatime shared:12 - cgroup cgroup rw,pids";
        let m = CgroupMounts::parse(text);
        assert_eq!(m.v2.as_deref(), Some(Path::new("/sys/fs/cgroup/unified")));
        assert_eq!(m.v1_memory.as_deref(), Some(Path::new("/sys/fs/cgroup/memory")));
    }
}

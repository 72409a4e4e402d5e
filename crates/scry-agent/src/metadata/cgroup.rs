//! Attribution from cgroups: container ids for the container runtimes' cgroup
//! layouts (containerd, CRI-O, Docker, podman; systemd and cgroupfs drivers;
//! cgroup v1 and v2), pod uids from kubelet's layout, and systemd units for
//! host processes.
//!
//! The names come from the kernel at the event (leaf and parent directory of
//! the task's cgroup), so a process that lives for a millisecond is attributed
//! as well as a daemon.

use std::path::PathBuf;

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
            let Some((pre, post)) = line.split_once(" - ") else {
                continue;
            };
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

/// cgroup id → path, for one hierarchy. The kernel resolves an id exactly:
/// a cgroup's id is its kernfs node id, which `open_by_handle_at` accepts as a
/// file handle on the hierarchy's mount (as systemd and bpftool do).
#[derive(Debug)]
pub struct CgroupPaths {
    root: PathBuf,
    by_id: lru::LruCache<u64, Option<String>>,
}

/// Entries kept; a node has far fewer live cgroups.
const CACHE_ENTRIES: usize = 16384;
/// `FILEID_KERNFS`: the handle type kernfs gives its file handles.
const FILEID_KERNFS: i32 = 0xfe;

#[repr(C)]
struct KernfsHandle {
    handle_bytes: u32,
    handle_type: i32,
    id: u64,
}

impl CgroupPaths {
    pub fn new(root: PathBuf) -> Self {
        let cap = std::num::NonZeroUsize::new(CACHE_ENTRIES).expect("nonzero");
        CgroupPaths { root, by_id: lru::LruCache::new(cap) }
    }

    /// The path (relative to the hierarchy root, starting with `/`) of cgroup
    /// `id`, or `None` once the cgroup is gone.
    pub fn path(&mut self, id: u64) -> Option<String> {
        if let Some(known) = self.by_id.get(&id) {
            return known.clone();
        }
        let found = self.resolve(id);
        self.by_id.put(id, found.clone());
        found
    }

    fn resolve(&self, id: u64) -> Option<String> {
        use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
        let mount = std::fs::File::open(&self.root).ok()?;
        let mut handle = KernfsHandle { handle_bytes: 8, handle_type: FILEID_KERNFS, id };
        // SAFETY: the handle is a valid `struct file_handle` with 8 bytes of
        // payload; the returned fd is owned below.
        let fd = unsafe {
            libc::open_by_handle_at(
                mount.as_raw_fd(),
                (&mut handle as *mut KernfsHandle).cast::<libc::file_handle>(),
                libc::O_RDONLY | libc::O_CLOEXEC | libc::O_DIRECTORY,
            )
        };
        if fd < 0 {
            return None;
        }
        // SAFETY: fd was just returned by the kernel and is not owned elsewhere.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let full = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).ok()?;
        let rel = full.strip_prefix(&self.root).ok()?;
        Some(format!("/{}", rel.display()))
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
    fn resolves_cgroup_ids_through_the_kernel() {
        use std::os::unix::fs::MetadataExt;
        let Some(root) = CgroupMounts::detect().v2 else { panic!("a cgroup2 hierarchy is mounted here") };
        let mut paths = CgroupPaths::new(root.clone());
        assert_eq!(paths.path(std::fs::metadata(&root).unwrap().ino()).as_deref(), Some("/"));
        let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
        let own = own.lines().find_map(|l| l.strip_prefix("0::")).unwrap().to_owned();
        let ino = std::fs::metadata(root.join(own.trim_start_matches('/'))).unwrap().ino();
        assert_eq!(paths.path(ino), Some(own));
        assert_eq!(paths.path(u64::MAX - 1), None);
    }

    #[test]
    fn mountinfo_hybrid() {
        let text = "\
30 23 0:26 / /sys/fs/cgroup/memory rw,relatime shared:10 - cgroup cgroup rw,memory
31 23 0:27 / /sys/fs/cgroup/unified rw,relatime shared:11 - cgroup2 cgroup2 rw
32 23 0:28 / /sys/fs/cgroup/pids rw,relatime shared:12 - cgroup cgroup rw,pids";
        let m = CgroupMounts::parse(text);
        assert_eq!(m.v2.as_deref(), Some(std::path::Path::new("/sys/fs/cgroup/unified")));
        assert_eq!(m.v1_memory.as_deref(), Some(std::path::Path::new("/sys/fs/cgroup/memory")));
    }
}

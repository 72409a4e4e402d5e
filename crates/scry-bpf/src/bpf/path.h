/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Resolving a struct path to its text, as d_path would, from tracepoints
 * (where bpf_d_path is not allowed). Shared by the process and policy
 * programs; include after vmlinux.h and the BPF helper headers. */
#ifndef SCRY_PATH_H
#define SCRY_PATH_H

#ifndef PATH_SIZE
#define PATH_SIZE 4096
#endif
#define PATH_DEPTH 48

/* Paths are assembled backwards, leaf first. Twice PATH_SIZE so that a masked
 * offset (< PATH_SIZE) plus one name (< 256) always stays inside the buffer. */
struct path_buf {
	char buf[PATH_SIZE * 2];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct path_buf);
} path_scratch SEC(".maps");

/* Resolve @p relative to @root (the task's root, so a containerised process sees
 * its own paths, as d_path would) into pb->buf[pos, PATH_SIZE - 1). Returns pos;
 * sets *len and *trunc. bpf_d_path is not allowed from tracepoints, hence the walk.
 * The loop keeps every iteration's verifier state alike (pos masked at the top,
 * one exit flag) so that states prune and the verifier stays well under its limit. */
static __always_inline __u32 path_walk(const struct path *p, const struct path *root, struct path_buf *pb,
				       __u32 *len, bool *trunc)
{
	struct dentry *dentry = BPF_CORE_READ(p, dentry);
	struct vfsmount *vfsmnt = BPF_CORE_READ(p, mnt);
	struct dentry *root_dentry = BPF_CORE_READ(root, dentry);
	struct vfsmount *root_mnt = BPF_CORE_READ(root, mnt);
	__u32 pos = PATH_SIZE - 1;
	int i;

	*trunc = true; /* unless the walk reaches a root */
	for (i = 0; i < PATH_DEPTH; i++) {
		pos &= PATH_SIZE - 1;
		if (dentry == root_dentry && vfsmnt == root_mnt) {
			*trunc = false;
			break;
		}
		struct mount *mnt = container_of(vfsmnt, struct mount, mnt);
		struct dentry *mnt_root = BPF_CORE_READ(vfsmnt, mnt_root);
		struct dentry *parent = BPF_CORE_READ(dentry, d_parent);

		if (dentry == mnt_root || dentry == parent) {
			struct mount *mnt_parent = BPF_CORE_READ(mnt, mnt_parent);

			/* Global root, or a detached tree: nothing above. */
			if (dentry != mnt_root || mnt_parent == mnt) {
				*trunc = false;
				break;
			}
			dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
			vfsmnt = (struct vfsmount *)__builtin_preserve_access_index(&mnt_parent->mnt);
			continue;
		}
		__u32 nlen = BPF_CORE_READ(dentry, d_name.len) & 255;
		const unsigned char *name = BPF_CORE_READ(dentry, d_name.name);

		if (pos < nlen + 1)
			break;
		pos -= nlen + 1;
		pos &= PATH_SIZE - 1;
		bpf_probe_read_kernel(&pb->buf[pos + 1], nlen, name);
		pb->buf[pos] = '/';
		dentry = parent;
	}
	pos &= PATH_SIZE - 1;
	if (pos == PATH_SIZE - 1) {
		pos = PATH_SIZE - 2;
		pb->buf[pos] = '/';
	}
	*len = (PATH_SIZE - 1 - pos) & (PATH_SIZE - 1);
	return pos;
}

#endif

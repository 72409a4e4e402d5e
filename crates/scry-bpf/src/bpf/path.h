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

/* One walk's state, for the per-component callback. */
struct path_walk_state {
	struct dentry *dentry;
	struct vfsmount *vfsmnt;
	struct dentry *root_dentry;
	struct vfsmount *root_mnt;
	struct path_buf *pb;
	__u32 pos;
	bool trunc;
};

/* One step up: a name prepended, or a mount crossed. Returns 1 to stop. A
 * bpf_loop callback, so the verifier checks one step, not PATH_DEPTH
 * unrolled ones (which cost it ~100k instructions per walk in a program). */
static long path_walk_step(__u32 i, void *data)
{
	struct path_walk_state *w = data;
	struct dentry *dentry = w->dentry;
	struct vfsmount *vfsmnt = w->vfsmnt;
	__u32 pos = w->pos & (PATH_SIZE - 1);

	if (dentry == w->root_dentry && vfsmnt == w->root_mnt) {
		w->trunc = false;
		return 1;
	}
	struct mount *mnt = container_of(vfsmnt, struct mount, mnt);
	struct dentry *mnt_root = BPF_CORE_READ(vfsmnt, mnt_root);
	struct dentry *parent = BPF_CORE_READ(dentry, d_parent);

	if (dentry == mnt_root || dentry == parent) {
		struct mount *mnt_parent = BPF_CORE_READ(mnt, mnt_parent);

		/* Global root, or a detached tree: nothing above. */
		if (dentry != mnt_root || mnt_parent == mnt) {
			w->trunc = false;
			return 1;
		}
		w->dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
		w->vfsmnt = (struct vfsmount *)__builtin_preserve_access_index(&mnt_parent->mnt);
		return 0;
	}
	__u32 nlen = BPF_CORE_READ(dentry, d_name.len) & 255;
	const unsigned char *name = BPF_CORE_READ(dentry, d_name.name);

	if (pos < nlen + 1)
		return 1;
	pos -= nlen + 1;
	pos &= PATH_SIZE - 1;
	bpf_probe_read_kernel(&w->pb->buf[pos + 1], nlen, name);
	w->pb->buf[pos] = '/';
	w->pos = pos;
	w->dentry = parent;
	return 0;
}

/* Resolve @p relative to @root (the task's root, so a containerised process sees
 * its own paths, as d_path would) into pb->buf[pos, PATH_SIZE - 1). Returns pos;
 * sets *len and *trunc. bpf_d_path is not allowed from tracepoints, hence the walk. */
static __always_inline __u32 path_walk(const struct path *p, const struct path *root, struct path_buf *pb,
				       __u32 *len, bool *trunc)
{
	struct path_walk_state w = {
		.dentry = BPF_CORE_READ(p, dentry),
		.vfsmnt = BPF_CORE_READ(p, mnt),
		.root_dentry = BPF_CORE_READ(root, dentry),
		.root_mnt = BPF_CORE_READ(root, mnt),
		.pb = pb,
		.pos = PATH_SIZE - 1,
		.trunc = true, /* unless the walk reaches a root */
	};
	__u32 pos;

	bpf_loop(PATH_DEPTH, path_walk_step, &w, 0);
	pos = w.pos & (PATH_SIZE - 1);
	if (pos == PATH_SIZE - 1) {
		pos = PATH_SIZE - 2;
		pb->buf[pos] = '/';
	}
	*trunc = w.trunc;
	*len = (PATH_SIZE - 1 - pos) & (PATH_SIZE - 1);
	return pos;
}

#endif

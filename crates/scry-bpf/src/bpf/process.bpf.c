// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Process lifecycle: exec, exit (thread-group leader only) and fork.
 *
 * Each hook exists as tp_btf and as raw_tp; user space loads the best kind the
 * kernel accepts (see probe.rs) and disables the others before load. Both kinds
 * share one body: every kernel read goes through BPF_CORE_READ, which works on
 * the typed tp_btf pointers and on raw_tp's untyped ones alike. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "process.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Set by user space before load. */
const volatile __u32 args_max = 4096;     /* < ARGS_CAP */

/* Make the record types visible in BTF so the skeleton generates Rust twins. */
struct exec_event _exec_event = {};
struct exit_event _exit_event = {};
struct fork_event _fork_event = {};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22); /* resized by user space */
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, STAT_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

/* An exec record is ~25 KiB: far over the 512-byte BPF stack, so it is built in
 * a per-CPU slot and only its used prefix is copied into the ring. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct exec_event);
} exec_scratch SEC(".maps");

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

/* kernfs_node.parent became __parent in 6.15. */
struct kernfs_node___old {
	struct kernfs_node___old *parent;
} __attribute__((preserve_access_index));

#define PATH_DEPTH 48
#define S_ISUID 0004000
#define S_ISGID 0002000
#define S_IXGRP 0000010
#define PF_KTHREAD 0x00200000
#define SIGNAL_GROUP_EXIT 0x00000004

static __always_inline void count(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &idx);

	if (v)
		*v += 1;
}

static __always_inline int output(void *rec, __u64 size, __u32 sent, __u32 lost)
{
	if (bpf_ringbuf_output(&events, rec, size, 0))
		count(lost);
	else
		count(sent);
	return 0;
}

/* Resolve @p relative to @root (the task's root, so a containerised process sees
 * its own paths, as d_path would) into pb->buf[pos, PATH_SIZE - 1). Returns pos;
 * sets *len and *trunc. bpf_d_path is not allowed from tracepoints, hence the walk.
 * The loop keeps every iteration's verifier state alike (pos masked at the top,
 * one exit flag) so that states prune and the verifier stays well under its limit. */
static __always_inline __u32 path_walk(struct path *p, struct path *root, struct path_buf *pb,
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

static __always_inline void read_cgroup(struct cgroup *cgrp, struct cgroup_ref *out)
{
	struct kernfs_node *kn = BPF_CORE_READ(cgrp, kn);
	struct kernfs_node *parent;

	if (!kn)
		return;
	out->id = BPF_CORE_READ(kn, id);
	bpf_probe_read_kernel_str(out->name, sizeof(out->name), BPF_CORE_READ(kn, name));
	if (bpf_core_field_exists(kn->__parent))
		parent = BPF_CORE_READ(kn, __parent);
	else
		parent = (struct kernfs_node *)BPF_CORE_READ((struct kernfs_node___old *)kn, parent);
	if (parent)
		bpf_probe_read_kernel_str(out->parent_name, sizeof(out->parent_name),
					  BPF_CORE_READ(parent, name));
}

static __always_inline void read_namespaces(struct task_struct *task, const struct cred *cred,
					    __u32 *ns)
{
	struct nsproxy *nsp = BPF_CORE_READ(task, nsproxy);
	struct pid *pid = BPF_CORE_READ(task, thread_pid);
	unsigned int level = BPF_CORE_READ(pid, level);
	struct upid upid = {};

	ns[NS_UTS] = BPF_CORE_READ(nsp, uts_ns, ns.inum);
	ns[NS_IPC] = BPF_CORE_READ(nsp, ipc_ns, ns.inum);
	ns[NS_MNT] = BPF_CORE_READ(nsp, mnt_ns, ns.inum);
	ns[NS_PID_FOR_CHILDREN] = BPF_CORE_READ(nsp, pid_ns_for_children, ns.inum);
	ns[NS_NET] = BPF_CORE_READ(nsp, net_ns, ns.inum);
	if (bpf_core_field_exists(nsp->time_ns)) {
		ns[NS_TIME] = BPF_CORE_READ(nsp, time_ns, ns.inum);
		ns[NS_TIME_FOR_CHILDREN] = BPF_CORE_READ(nsp, time_ns_for_children, ns.inum);
	}
	ns[NS_CGROUP] = BPF_CORE_READ(nsp, cgroup_ns, ns.inum);
	ns[NS_USER] = BPF_CORE_READ(cred, user_ns, ns.inum);
	bpf_core_read(&upid, sizeof(upid), &pid->numbers[level & 31]);
	ns[NS_PID] = BPF_CORE_READ(upid.ns, ns.inum);
}

static __always_inline int handle_exec(struct task_struct *task)
{
	__u32 zero = 0;
	struct exec_event *e = bpf_map_lookup_elem(&exec_scratch, &zero);
	struct path_buf *pb = bpf_map_lookup_elem(&path_scratch, &zero);

	if (!e || !pb)
		return 0;

	struct exec_event_header *h = &e->h;
	__u64 id = bpf_get_current_pid_tgid();
	const struct cred *cred = BPF_CORE_READ(task, cred);
	struct mm_struct *mm = BPF_CORE_READ(task, mm);
	struct file *exe = BPF_CORE_READ(mm, exe_file);
	struct fs_struct *fs = BPF_CORE_READ(task, fs);
	struct css_set *cgroups = BPF_CORE_READ(task, cgroups);
	struct inode *inode = BPF_CORE_READ(exe, f_inode);
	struct path root = {}, path = {};
	bool trunc;
	__u32 pos, off, len;

	h->kind = EVENT_EXEC;
	h->pid = id >> 32;
	h->tid = (__u32)id;
	h->ppid = BPF_CORE_READ(task, real_parent, tgid);
	h->ktime = bpf_ktime_get_ns();
	h->flags = FLAG_EXECVE;

	h->uid = BPF_CORE_READ(cred, uid.val);
	h->gid = BPF_CORE_READ(cred, gid.val);
	h->euid = BPF_CORE_READ(cred, euid.val);
	h->egid = BPF_CORE_READ(cred, egid.val);
	h->suid = BPF_CORE_READ(cred, suid.val);
	h->sgid = BPF_CORE_READ(cred, sgid.val);
	h->fsuid = BPF_CORE_READ(cred, fsuid.val);
	h->fsgid = BPF_CORE_READ(cred, fsgid.val);
	/* loginuid exists only with CONFIG_AUDIT. */
	h->auid = bpf_core_field_exists(task->loginuid) ? BPF_CORE_READ(task, loginuid.val) : (__u32)-1;
	/* kernel_cap_t is u64 since 6.3 and u32[2] before: 8 bytes either way. */
	bpf_core_read(&h->cap_effective, 8, &cred->cap_effective);
	bpf_core_read(&h->cap_permitted, 8, &cred->cap_permitted);
	bpf_core_read(&h->cap_inheritable, 8, &cred->cap_inheritable);
	read_namespaces(task, cred, h->ns);

	__builtin_memset(&h->cgrp_v2, 0, sizeof(h->cgrp_v2));
	__builtin_memset(&h->cgrp_v1, 0, sizeof(h->cgrp_v1));
	read_cgroup(BPF_CORE_READ(cgroups, dfl_cgrp), &h->cgrp_v2);
	/* On cgroup v1 the container path lives in the controller hierarchies; the
	 * memory one is present wherever containers are. User space ignores this
	 * when no v1 memory hierarchy is mounted. */
	if (bpf_core_enum_value_exists(enum cgroup_subsys_id, memory_cgrp_id)) {
		int idx = bpf_core_enum_value(enum cgroup_subsys_id, memory_cgrp_id);
		struct cgroup_subsys_state *css = NULL;

		bpf_core_read(&css, sizeof(css), &cgroups->subsys[idx & 15]);
		if (css)
			read_cgroup(BPF_CORE_READ(css, cgroup), &h->cgrp_v1);
	}

	/* The executed file: for a #! script, the interpreter that runs it. */
	h->file_ino = BPF_CORE_READ(inode, i_ino);
	h->file_nlink = BPF_CORE_READ(inode, __i_nlink);
	h->file_uid = BPF_CORE_READ(inode, i_uid.val);
	h->file_gid = BPF_CORE_READ(inode, i_gid.val);
	umode_t mode = BPF_CORE_READ(inode, i_mode);

	h->bin_props = 0;
	if ((mode & S_ISUID) && h->euid == h->file_uid && h->uid != h->euid)
		h->bin_props |= BIN_SETUID;
	if ((mode & S_ISGID) && (mode & S_IXGRP) && h->egid == h->file_gid && h->gid != h->egid)
		h->bin_props |= BIN_SETGID;
	if (exe && h->file_nlink == 0)
		h->bin_props |= BIN_UNLINKED;

	bpf_core_read(&root, sizeof(root), &fs->root);
	h->bin_len = 0;
	if (exe) {
		bpf_core_read(&path, sizeof(path), &exe->f_path);
		pos = path_walk(&path, &root, pb, &len, &trunc);
		bpf_probe_read_kernel(&e->data[0], len, &pb->buf[pos]);
		h->bin_len = len;
		if (trunc)
			h->flags |= FLAG_TRUNC_FILENAME;
	} else {
		h->flags |= FLAG_ERROR_FILENAME;
	}
	off = h->bin_len & (PATH_SIZE - 1);

	bpf_core_read(&path, sizeof(path), &fs->pwd);
	pos = path_walk(&path, &root, pb, &len, &trunc);
	bpf_probe_read_kernel(&e->data[off], len, &pb->buf[pos]);
	h->cwd_len = len;
	if (trunc)
		h->flags |= FLAG_TRUNC_CWD;
	if (len == 1)
		h->flags |= FLAG_ROOT_CWD;
	off = (off + len) & (PATH_SIZE * 2 - 1);

	/* argv as the new image sees it: its pages were just written by exec. */
	unsigned long arg_start = BPF_CORE_READ(mm, arg_start);
	unsigned long arg_end = BPF_CORE_READ(mm, arg_end);
	__u32 alen = arg_end > arg_start ? arg_end - arg_start : 0;

	h->args_orig_len = alen;
	if (alen > args_max) {
		alen = args_max;
		h->flags |= FLAG_TRUNC_ARGS;
	}
	alen &= ARGS_CAP - 1;
	if (bpf_probe_read_user(&e->data[off], alen, (void *)arg_start)) {
		alen = 0;
		h->flags |= FLAG_ERROR_ARGS;
	}
	h->args_len = alen;

	__u64 size = __builtin_offsetof(struct exec_event, data) + off + alen;

	if (size > sizeof(*e))
		size = sizeof(*e);
	return output(e, size, STAT_EXEC_SENT, STAT_EXEC_LOST);
}

static __always_inline int handle_exit(struct task_struct *task)
{
	struct signal_struct *signal = BPF_CORE_READ(task, signal);
	struct exit_event e = {};

	if (BPF_CORE_READ(task, flags) & PF_KTHREAD)
		return 0;
	/* Threads leave silently; the process exits with its last thread. */
	if (BPF_CORE_READ(signal, live.counter) != 0)
		return 0;

	e.kind = EVENT_EXIT;
	e.pid = BPF_CORE_READ(task, tgid);
	e.tid = BPF_CORE_READ(task, pid);
	e.ktime = bpf_ktime_get_ns();
	/* A group exit (exit_group, fatal signal) carries the group's status. */
	if (BPF_CORE_READ(signal, flags) & SIGNAL_GROUP_EXIT)
		e.exit_code = BPF_CORE_READ(signal, group_exit_code);
	else
		e.exit_code = BPF_CORE_READ(task, exit_code);
	return output(&e, sizeof(e), STAT_EXIT_SENT, STAT_EXIT_LOST);
}

static __always_inline int handle_fork(struct task_struct *parent, struct task_struct *child)
{
	struct fork_event e = {};

	if (BPF_CORE_READ(parent, flags) & PF_KTHREAD)
		return 0;
	e.pid = BPF_CORE_READ(child, tgid);
	/* A new thread is not a new process. */
	if (e.pid != BPF_CORE_READ(child, pid))
		return 0;
	e.kind = EVENT_FORK;
	e.ppid = BPF_CORE_READ(parent, tgid);
	e.ktime = BPF_CORE_READ(child, start_time);
	return output(&e, sizeof(e), STAT_FORK_SENT, STAT_FORK_LOST);
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(exec_tp_btf, struct task_struct *p)
{
	return handle_exec(p);
}

SEC("raw_tp/sched_process_exec")
int BPF_PROG(exec_raw_tp, struct task_struct *p)
{
	return handle_exec(p);
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(exit_tp_btf, struct task_struct *p)
{
	return handle_exit(p);
}

SEC("raw_tp/sched_process_exit")
int BPF_PROG(exit_raw_tp, struct task_struct *p)
{
	return handle_exit(p);
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(fork_tp_btf, struct task_struct *parent, struct task_struct *child)
{
	return handle_fork(parent, child);
}

SEC("raw_tp/sched_process_fork")
int BPF_PROG(fork_raw_tp, struct task_struct *parent, struct task_struct *child)
{
	return handle_fork(parent, child);
}

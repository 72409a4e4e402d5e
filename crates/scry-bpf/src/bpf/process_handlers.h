/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The process hooks' bodies, included once per hook kind by process.bpf.c with
 * READ (how a kernel field is read) and VARIANT (a name suffix) defined. No
 * include guard: that is the point. */

static __always_inline void VARIANT(read_cgroup)(struct cgroup *cgrp, struct cgroup_ref *out)
{
	struct kernfs_node *kn = READ(cgrp, kn);
	struct kernfs_node *parent;

	if (!kn)
		return;
	out->id = READ(kn, id);
	bpf_probe_read_kernel_str(out->name, sizeof(out->name), READ(kn, name));
	if (bpf_core_field_exists(kn->__parent))
		parent = READ(kn, __parent);
	else
		parent = (struct kernfs_node *)READ((struct kernfs_node___old *)kn, parent);
	if (parent)
		bpf_probe_read_kernel_str(out->parent_name, sizeof(out->parent_name),
					  READ(parent, name));
}

static __always_inline void VARIANT(read_namespaces)(struct task_struct *task, const struct cred *cred,
					    __u32 *ns)
{
	struct nsproxy *nsp = READ(task, nsproxy);
	struct pid *pid = READ(task, thread_pid);
	unsigned int level = READ(pid, level);
	struct upid upid = {};

	ns[NS_UTS] = READ(nsp, uts_ns, ns.inum);
	ns[NS_IPC] = READ(nsp, ipc_ns, ns.inum);
	ns[NS_MNT] = READ(nsp, mnt_ns, ns.inum);
	ns[NS_PID_FOR_CHILDREN] = READ(nsp, pid_ns_for_children, ns.inum);
	ns[NS_NET] = READ(nsp, net_ns, ns.inum);
	if (bpf_core_field_exists(nsp->time_ns)) {
		ns[NS_TIME] = READ(nsp, time_ns, ns.inum);
		ns[NS_TIME_FOR_CHILDREN] = READ(nsp, time_ns_for_children, ns.inum);
	}
	ns[NS_CGROUP] = READ(nsp, cgroup_ns, ns.inum);
	ns[NS_USER] = READ(cred, user_ns, ns.inum);
	bpf_core_read(&upid, sizeof(upid), &pid->numbers[level & 31]);
	ns[NS_PID] = BPF_CORE_READ(upid.ns, ns.inum);
}

static __always_inline int VARIANT(handle_exec)(struct task_struct *task)
{
	__u32 zero = 0;
	struct exec_event *e = bpf_map_lookup_elem(&exec_scratch, &zero);
	struct path_buf *pb = bpf_map_lookup_elem(&path_scratch, &zero);

	if (!e || !pb)
		return 0;

	struct exec_event_header *h = &e->h;
	__u64 id = bpf_get_current_pid_tgid();
	const struct cred *cred = READ(task, cred);
	struct mm_struct *mm = READ(task, mm);
	struct file *exe = READ(mm, exe_file);
	struct fs_struct *fs = READ(task, fs);
	struct css_set *cgroups = READ(task, cgroups);
	struct inode *inode = READ(exe, f_inode);
	struct path *root = &fs->root;
	bool trunc;
	__u32 pos, off, len;

	h->kind = EVENT_EXEC;
	h->pid = id >> 32;
	h->tid = (__u32)id;
	h->ppid = READ(task, real_parent, tgid);
	h->ktime = bpf_ktime_get_ns();
	h->flags = FLAG_EXECVE;

	h->uid = READ(cred, uid.val);
	h->gid = READ(cred, gid.val);
	h->euid = READ(cred, euid.val);
	h->egid = READ(cred, egid.val);
	h->suid = READ(cred, suid.val);
	h->sgid = READ(cred, sgid.val);
	h->fsuid = READ(cred, fsuid.val);
	h->fsgid = READ(cred, fsgid.val);
	/* loginuid exists only with CONFIG_AUDIT. */
	h->auid = bpf_core_field_exists(task->loginuid) ? READ(task, loginuid.val) : (__u32)-1;
	/* kernel_cap_t is u64 since 6.3 and u32[2] before: 8 bytes either way. */
	bpf_core_read(&h->cap_effective, 8, &cred->cap_effective);
	bpf_core_read(&h->cap_permitted, 8, &cred->cap_permitted);
	bpf_core_read(&h->cap_inheritable, 8, &cred->cap_inheritable);
	VARIANT(read_namespaces)(task, cred, h->ns);

	__builtin_memset(&h->cgrp_v2, 0, sizeof(h->cgrp_v2));
	__builtin_memset(&h->cgrp_v1, 0, sizeof(h->cgrp_v1));
	VARIANT(read_cgroup)(READ(cgroups, dfl_cgrp), &h->cgrp_v2);
	/* On cgroup v1 the container path lives in the controller hierarchies; the
	 * memory one is present wherever containers are. User space ignores this
	 * when no v1 memory hierarchy is mounted. */
	if (bpf_core_enum_value_exists(enum cgroup_subsys_id, memory_cgrp_id)) {
		int idx = bpf_core_enum_value(enum cgroup_subsys_id, memory_cgrp_id);
		struct cgroup_subsys_state *css = READ(cgroups, subsys[idx & 15]);

		if (css)
			VARIANT(read_cgroup)(READ(css, cgroup), &h->cgrp_v1);
	}

	/* The executed file: for a #! script, the interpreter that runs it. */
	h->file_ino = READ(inode, i_ino);
	h->file_nlink = READ(inode, __i_nlink);
	h->file_uid = READ(inode, i_uid.val);
	h->file_gid = READ(inode, i_gid.val);
	umode_t mode = READ(inode, i_mode);

	h->bin_props = 0;
	if ((mode & S_ISUID) && h->euid == h->file_uid && h->uid != h->euid)
		h->bin_props |= BIN_SETUID;
	if ((mode & S_ISGID) && (mode & S_IXGRP) && h->egid == h->file_gid && h->gid != h->egid)
		h->bin_props |= BIN_SETGID;
	if (exe && h->file_nlink == 0)
		h->bin_props |= BIN_UNLINKED;

	h->bin_len = 0;
	if (exe) {
		pos = path_walk(&exe->f_path, root, pb, &len, &trunc);
		bpf_probe_read_kernel(&e->data[0], len, &pb->buf[pos]);
		h->bin_len = len;
		if (trunc)
			h->flags |= FLAG_TRUNC_FILENAME;
	} else {
		h->flags |= FLAG_ERROR_FILENAME;
	}
	off = h->bin_len & (PATH_SIZE - 1);

	pos = path_walk(&fs->pwd, root, pb, &len, &trunc);
	bpf_probe_read_kernel(&e->data[off], len, &pb->buf[pos]);
	h->cwd_len = len;
	if (trunc)
		h->flags |= FLAG_TRUNC_CWD;
	if (len == 1)
		h->flags |= FLAG_ROOT_CWD;
	off = (off + len) & (PATH_SIZE * 2 - 1);

	/* argv as the new image sees it: its pages were just written by exec. */
	unsigned long arg_start = READ(mm, arg_start);
	unsigned long arg_end = READ(mm, arg_end);
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

static __always_inline int VARIANT(handle_exit)(struct task_struct *task)
{
	struct signal_struct *signal = READ(task, signal);
	struct exit_event e = {};

	if (READ(task, flags) & PF_KTHREAD)
		return 0;
	/* Threads leave silently; the process exits with its last thread. */
	if (READ(signal, live.counter) != 0)
		return 0;

	e.kind = EVENT_EXIT;
	e.pid = READ(task, tgid);
	e.tid = READ(task, pid);
	e.ktime = bpf_ktime_get_ns();
	/* A group exit (exit_group, fatal signal) carries the group's status. */
	if (READ(signal, flags) & SIGNAL_GROUP_EXIT)
		e.exit_code = READ(signal, group_exit_code);
	else
		e.exit_code = READ(task, exit_code);
	return output(&e, sizeof(e), STAT_EXIT_SENT, STAT_EXIT_LOST);
}

static __always_inline int VARIANT(handle_fork)(struct task_struct *parent, struct task_struct *child)
{
	struct fork_event e = {};

	if (READ(parent, flags) & PF_KTHREAD)
		return 0;
	e.pid = READ(child, tgid);
	/* A new thread is not a new process. */
	if (e.pid != READ(child, pid))
		return 0;
	e.kind = EVENT_FORK;
	e.ppid = READ(parent, tgid);
	e.ktime = READ(child, start_time);
	return output(&e, sizeof(e), STAT_FORK_SENT, STAT_FORK_LOST);
}


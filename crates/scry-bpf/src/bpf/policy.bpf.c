// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* TracingPolicy syscall hooks, filtered and enforced in the kernel.
 *
 * One program on raw_syscalls:sys_enter (tp_btf) serves every policy hook on a
 * syscall (Tetragon's `kprobes` with `syscall: true`): kernels without
 * kprobes or fentry — this project's own machines, hardened and serverless
 * nodes — still run it, and one attachment costs the same whatever the
 * number of policies. User space compiles each hook's selectors into the
 * `hooks` array and lists a syscall's hooks in `call_hooks`; a syscall
 * without hooks costs one hash lookup.
 *
 * Selectors follow Tetragon: a hook's selectors are tried in order, the
 * first whose every match* holds applies its actions; within a matchArgs
 * entry the values OR (NotEqual: none may be equal). matchBinaries compares
 * the process's executable, resolved to a full path at exec and looked up
 * among the paths policies name (`binary_ids`), so the hot path compares
 * integers. A signal is sent before the syscall runs: SIGKILL is delivered
 * on the way back to user space, and the call itself is not prevented
 * (that takes Override, or a cgroup hook for connect). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "policy.h"
#include "path.h"
#define SOURCE_STATS PSTAT_COUNT
#include "source.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct policy_event _policy_event = {};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, POLICY_MAX_HOOKS);
	__type(key, __u32);
	__type(value, struct hook);
} hooks SEC(".maps");

/* By syscall number: an array, so the lookup every syscall of the node
 * makes is an index, inlined by the verifier. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, POLICY_SYSCALLS);
	__type(key, __u32);
	__type(value, struct call_hooks);
} call_hooks SEC(".maps");

/* Executable paths policies name, with their ids (from 1). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct binary_key);
	__type(value, __u32);
} binary_ids SEC(".maps");

/* Each process's executable id, when policies name it. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 32768);
	__type(key, __u32);
	__type(value, __u32);
} task_binary SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct binary_key);
} key_scratch SEC(".maps");

static __always_inline int arg_matches(const struct arg_match *m, const __u64 *args)
{
	__u64 v = args[m->index < POLICY_ARGS ? m->index : 0];
	int i;

	for (i = 0; i < POLICY_VALUES; i++) {
		__u64 want = m->values[i];

		if (i >= m->nvalues)
			break;
		switch (m->op) {
		case OP_EQUAL:
			if (v == want)
				return 1;
			break;
		case OP_NOT_EQUAL:
			if (v == want)
				return 0;
			break;
		case OP_GREATER:
			if ((__s64)v > (__s64)want)
				return 1;
			break;
		case OP_LESS:
			if ((__s64)v < (__s64)want)
				return 1;
			break;
		case OP_MASK:
			if (v & want)
				return 1;
			break;
		}
	}
	return m->op == OP_NOT_EQUAL;
}

static __always_inline int selector_matches(const struct selector *s, const __u64 *args, __u32 binary)
{
	int i, in = 0;

	for (i = 0; i < POLICY_ARG_MATCHES; i++) {
		if (i >= s->nargs)
			break;
		if (!arg_matches(&s->args[i], args))
			return 0;
	}
	if (s->bin_op == BIN_NONE)
		return 1;
	for (i = 0; i < POLICY_BINARIES; i++) {
		if (i >= s->nbinaries)
			break;
		if (binary && s->binaries[i] == binary)
			in = 1;
	}
	return s->bin_op == BIN_IN ? in : !in;
}

static __always_inline void act(__u32 idx, const struct hook *h, __u32 sel, const struct selector *s,
				const __u64 *args, __u32 nr, __u32 binary)
{
	struct policy_event *e;
	__s32 err = 0;
	int i;

	if (s->actions & ACTION_SIGNAL)
		err = bpf_send_signal(s->signal);
	if (!(s->actions & ACTION_POST))
		return;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(PSTAT_LOST);
		return;
	}
	__u64 id = bpf_get_current_pid_tgid();

	e->ktime = bpf_ktime_get_ns();
	e->pid = id >> 32;
	e->tid = (__u32)id;
	e->hook = idx;
	e->policy_id = h->policy_id;
	e->syscall = nr;
	e->selector = sel;
	e->actions = s->actions;
	e->signal = s->signal;
	e->signal_error = err;
	e->binary = binary;
	for (i = 0; i < POLICY_ARGS; i++)
		e->args[i] = args[i];
	bpf_ringbuf_submit(e, wakeup_flag());
	count(PSTAT_SENT);
}

/* The hook's first matching selector acts; without selectors, every call
 * is posted. */
static __always_inline void run_hook(__u32 idx, const __u64 *args, __u32 nr, __u32 binary)
{
	struct hook *h = bpf_map_lookup_elem(&hooks, &idx);
	__u32 i;

	if (!h || !h->enabled)
		return;
	if (h->nselectors == 0) {
		struct selector post = { .actions = ACTION_POST };

		act(idx, h, 0, &post, args, nr, binary);
		return;
	}
	for (i = 0; i < POLICY_SELECTORS; i++) {
		if (i >= h->nselectors)
			break;
		if (selector_matches(&h->selectors[i], args, binary)) {
			act(idx, h, i, &h->selectors[i], args, nr, binary);
			return;
		}
	}
}

/* tp_btf rather than raw_tp: `regs` is a typed pointer, so the arguments
 * are plain loads, not six helper calls, on every hooked syscall. */
SEC("tp_btf/sys_enter")
int BPF_PROG(policy_sys_enter, struct pt_regs *regs, long id)
{
	__u32 nr = (__u32)id, tgid, *bin, binary, i;
	struct call_hooks *c = bpf_map_lookup_elem(&call_hooks, &nr);
	__u64 args[POLICY_ARGS];

	if (!c || !c->n)
		return 0;
	/* x86_64's syscall argument registers. */
	args[0] = regs->di;
	args[1] = regs->si;
	args[2] = regs->dx;
	args[3] = regs->r10;
	args[4] = regs->r8;
	args[5] = regs->r9;
	tgid = bpf_get_current_pid_tgid() >> 32;
	bin = bpf_map_lookup_elem(&task_binary, &tgid);
	binary = bin ? *bin : 0;
	for (i = 0; i < POLICY_HOOKS_PER_CALL; i++) {
		if (i >= c->n)
			break;
		run_hook(c->hook[i], args, nr, binary);
	}
	return 0;
}

/* At exec, the new executable's full path names the process's id (or
 * forgets an old one). */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(policy_exec, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm)
{
	__u32 zero = 0, tgid = task->tgid, len, pos, *id;
	struct path_buf *pb = bpf_map_lookup_elem(&path_scratch, &zero);
	struct binary_key *key = bpf_map_lookup_elem(&key_scratch, &zero);
	struct file *exe = task->mm->exe_file;
	bool trunc;

	if (!pb || !key || !exe)
		return 0;
	pos = path_walk(&exe->f_path, &task->fs->root, pb, &len, &trunc);
	__builtin_memset(key, 0, sizeof(*key));
	if (!trunc && len < POLICY_BINARY_SIZE)
		bpf_probe_read_kernel(key->path, len & (POLICY_BINARY_SIZE - 1), &pb->buf[pos]);
	id = bpf_map_lookup_elem(&binary_ids, key);
	if (id)
		bpf_map_update_elem(&task_binary, &tgid, id, BPF_ANY);
	else
		bpf_map_delete_elem(&task_binary, &tgid);
	return 0;
}

/* A new process runs its parent's executable until it execs. */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(policy_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = parent->tgid, ctgid = child->tgid, *id;

	if (ptgid == ctgid)
		return 0;
	id = bpf_map_lookup_elem(&task_binary, &ptgid);
	if (id)
		bpf_map_update_elem(&task_binary, &ctgid, id, BPF_ANY);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(policy_exit, struct task_struct *task)
{
	__u32 tgid = task->tgid;

	if (task->pid == tgid)
		bpf_map_delete_elem(&task_binary, &tgid);
	return 0;
}

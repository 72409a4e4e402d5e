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
#include <bpf/bpf_endian.h>
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

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, POLICY_CONNECT_HOOKS);
	__type(key, __u32);
	__type(value, struct connect_hook);
} connect_hooks SEC(".maps");

/* Signals a connect hook decided on, sent when the thread's connect()
 * returns: cgroup programs may not send signals, tracepoints may. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32); /* thread id */
	__type(value, __u32);
} pending_signal SEC(".maps");

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

static __always_inline int in_binaries(__u32 op, __u32 n, const __u32 *ids, __u32 binary)
{
	int i, in = 0;

	if (op == BIN_NONE)
		return 1;
	for (i = 0; i < POLICY_BINARIES; i++) {
		if (i >= n)
			break;
		if (binary && ids[i] == binary)
			in = 1;
	}
	return op == BIN_IN ? in : !in;
}

static __always_inline int selector_matches(const struct selector *s, const __u64 *args, __u32 binary)
{
	int i;

	for (i = 0; i < POLICY_ARG_MATCHES; i++) {
		if (i >= s->nargs)
			break;
		if (!arg_matches(&s->args[i], args))
			return 0;
	}
	return in_binaries(s->bin_op, s->nbinaries, s->binaries, binary);
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

#define AF_INET 2
#define AF_INET6 10
#define SOCK_STREAM 1
#define NR_CONNECT 42

static __always_inline int port_matches(const struct connect_selector *s, __u16 port)
{
	int i, in = 0;

	if (s->port_op == PORT_NONE)
		return 1;
	for (i = 0; i < POLICY_PORTS; i++) {
		if (i >= s->nports)
			break;
		if (s->ports[i] == port)
			in = 1;
	}
	return s->port_op == PORT_IN ? in : !in;
}

/* What one connect() is, for every hook: computed once, read by the
 * per-hook callback. */
struct connect_call {
	__u32 tgid;
	__u32 tid;
	__u32 binary;
	__u16 family;
	__u16 port;
	__u8 daddr[16];
	int allow;
};

static __always_inline void post_connect(__u32 idx, const struct connect_hook *h, __u32 sel,
					 const struct connect_selector *s, const struct connect_call *c)
{
	struct policy_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e) {
		count(PSTAT_LOST);
		return;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->ktime = bpf_ktime_get_ns();
	e->pid = c->tgid;
	e->tid = c->tid;
	e->hook = idx;
	e->policy_id = h->policy_id;
	e->syscall = NR_CONNECT;
	e->selector = sel;
	e->actions = s->actions;
	e->signal = s->signal;
	e->binary = c->binary;
	e->connect = 1;
	e->family = c->family;
	e->dport = c->port;
	__builtin_memcpy(e->daddr, c->daddr, 16);
	bpf_ringbuf_submit(e, wakeup_flag());
	count(PSTAT_SENT);
}

/* One hook against one connect(): a bpf_loop callback, so the verifier
 * checks it once rather than once per hook slot. */
static long connect_hook_cb(__u32 i, void *data)
{
	struct connect_call *c = data;
	struct connect_hook *h = bpf_map_lookup_elem(&connect_hooks, &i);
	__u32 j;

	if (!h || !h->enabled)
		return 0;
	if (h->nselectors == 0) {
		struct connect_selector post = { .actions = ACTION_POST };

		post_connect(i, h, 0, &post, c);
		return 0;
	}
	for (j = 0; j < POLICY_SELECTORS; j++) {
		struct connect_selector *s = &h->selectors[j];

		if (j >= h->nselectors)
			break;
		if (!port_matches(s, c->port) || !in_binaries(s->bin_op, s->nbinaries, s->binaries, c->binary))
			continue;
		if (s->actions & ACTION_SIGNAL) {
			bpf_map_update_elem(&pending_signal, &c->tid, &s->signal, BPF_ANY);
			c->allow = 0;
		}
		if (s->actions & ACTION_POST)
			post_connect(i, h, j, s, c);
		break;
	}
	return 0;
}

/* Tetragon's tcp_connect hook, where kprobes are not: a TCP socket's
 * connect() reaches this before the kernel sends its SYN. A selector that
 * signals also refuses the connection (EPERM), so nothing leaves; the
 * signal follows when connect() returns. Returns 1 to allow. */
static __always_inline int connect_check(struct bpf_sock_addr *ctx, __u16 family)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct connect_call c = { .tgid = id >> 32, .tid = (__u32)id, .family = family, .allow = 1 };
	__u32 *bin;

	if (ctx->type != SOCK_STREAM)
		return 1;
	c.port = bpf_ntohs(ctx->user_port);
	if (family == AF_INET) {
		__u32 a = ctx->user_ip4;

		__builtin_memcpy(c.daddr, &a, 4);
	} else {
		__u32 a0 = ctx->user_ip6[0], a1 = ctx->user_ip6[1], a2 = ctx->user_ip6[2], a3 = ctx->user_ip6[3];

		__builtin_memcpy(c.daddr, &a0, 4);
		__builtin_memcpy(c.daddr + 4, &a1, 4);
		__builtin_memcpy(c.daddr + 8, &a2, 4);
		__builtin_memcpy(c.daddr + 12, &a3, 4);
	}
	bin = bpf_map_lookup_elem(&task_binary, &c.tgid);
	c.binary = bin ? *bin : 0;
	bpf_loop(POLICY_CONNECT_HOOKS, connect_hook_cb, &c, 0);
	return c.allow ? 1 : 0;
}

SEC("cgroup/connect4")
int policy_connect4(struct bpf_sock_addr *ctx)
{
	return connect_check(ctx, AF_INET);
}

SEC("cgroup/connect6")
int policy_connect6(struct bpf_sock_addr *ctx)
{
	return connect_check(ctx, AF_INET6);
}

SEC("tracepoint/syscalls/sys_exit_connect")
int policy_connect_exit(void *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid(), *sig = bpf_map_lookup_elem(&pending_signal, &tid);

	if (sig) {
		bpf_send_signal(*sig);
		bpf_map_delete_elem(&pending_signal, &tid);
	}
	return 0;
}

// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* TracingPolicy hooks, filtered and enforced in the kernel.
 *
 * Hooks run at sites: a syscall's entry (its syscalls/sys_enter_NAME
 * tracepoint), its exit (tp_btf sys_exit), exec (tp_btf
 * sched_process_exec), kprobes, uprobes, tracepoints and LSM hooks. One
 * program per kind of site serves every policy: kernels without kprobes or
 * fentry — this project's own machines, hardened and serverless nodes —
 * still run the syscall, exec and tracepoint ones, and one attachment costs
 * the same whatever the number of policies. Programs are attached only
 * while a hook needs them.
 *
 * User space compiles each hook into the `hooks` array: where each argument
 * comes from (a syscall register, the return value, exec's linux_binprm)
 * and what it is (an integer, a user string, a descriptor's, file's or
 * binprm's path), and its selectors. Selectors follow Tetragon: tried in
 * order, the first whose every match* holds applies its actions; within a
 * matchArgs entry the values OR (negated operators: none may match).
 * String values live in maps (Equal: hash; Prefix and Postfix: LPM tries),
 * so any number of them costs one lookup. matchBinaries compares the
 * process's executable, resolved to a full path at exec and looked up among
 * the paths policies name (`binary_ids`), so the hot path compares
 * integers. A signal is sent before the hooked call returns to user space:
 * SIGKILL then stops the process before it sees the result. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "policy.h"
#include "path.h"
#define SOURCE_STATS PSTAT_COUNT
#include "source.h"

/* Address families are macros, not in vmlinux.h. */
#define AF_INET 2
#define AF_INET6 10

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct policy_event _policy_event = {};
struct policy_chunk _policy_chunk = {};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, POLICY_MAX_HOOKS);
	__type(key, __u32);
	__type(value, struct hook);
} hooks SEC(".maps");

/* By site: an array, so the lookup every syscall of the node makes is an
 * index, inlined by the verifier. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, POLICY_SITES);
	__type(key, __u32);
	__type(value, struct site_hooks);
} site_hooks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, struct str_key);
	__type(value, __u8);
} str_equal SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 8192);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct prefix_key);
	__type(value, __u8);
} str_prefix SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 8192);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct postfix_key);
	__type(value, __u8);
} str_postfix SEC(".maps");

/* Executable paths policies name, with their ids (from 1). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct binary_key);
	__type(value, __u32);
} binary_ids SEC(".maps");

/* followChildren: by binary id, the bits of the selectors that follow its
 * descendants; by process, the bits its ancestors gave it (set at fork, not
 * retroactive, as Tetragon's) — and matchPIDs followForks bits, which user
 * space sets on the listed processes themselves. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u64);
} follow_bits SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 32768);
	__type(key, __u32);
	__type(value, __u64);
} task_follow SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1024);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct bin_prefix_key);
	__type(value, __u64);
} bin_prefix SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1024);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct bin_postfix_key);
	__type(value, __u64);
} bin_postfix SEC(".maps");

/* Each process's executable's pattern bits (matchBinaries Prefix/Postfix),
 * set at exec and inherited at fork. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 32768);
	__type(key, __u32);
	__type(value, __u64);
} task_patterns SEC(".maps");

/* Each process's executable id, when policies name it. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 32768);
	__type(key, __u32);
	__type(value, __u32);
} task_binary SEC(".maps");

/* When each rate-limited event last posted. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct rate_key);
	__type(value, __u64);
} rate_last SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, POLICY_MAX_HOOKS);
	__type(key, __u32);
	__type(value, struct hook_stats);
} hook_stats SEC(".maps");

/* One hooked call as the selectors see it, and the record it posts: the
 * header, then the string arguments, packed before sending. */
struct policy_call {
	struct policy_event e;
	char str[POLICY_STRS][POLICY_STR_SIZE]; /* sent right after the header */
	char tail[POLICY_STRS][POLICY_POSTFIX_SIZE]; /* each string's end, reversed */
	__u32 override; /* a selector asked the function to return `error` */
	__s32 error;
	__u32 deny; /* connect sites: a selector refused the connect */
};

struct scratch {
	struct policy_call call;
	/* The call's raw argument sources (here, not on the programs' stacks:
	 * 6.1 caps a program's and its callbacks' frames at 512 bytes). */
	__u64 raw[POLICY_SOURCES];
	/* Connect sites: what they know, by SITE_SOCK_*. */
	struct sock_tuple site_sock[SITE_SOCKS];
	union {
		struct addr_key addr;
		struct binary_key binary;
		struct str_key equal;
		struct prefix_key prefix;
		struct postfix_key postfix;
		struct rate_key rate;
		struct bin_prefix_key bin_prefix;
		struct bin_postfix_key bin_postfix;
	} key;
};

/* Sized, not typed: its layout is the programs' own business (and user
 * space's skeleton generator mishandles its two-dimensional arrays). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(struct scratch));
} scratch_map SEC(".maps");

/* A maxData data record, built per CPU (16 KiB). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct policy_chunk);
} data_scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 4096);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct addr_key);
	__type(value, __u8);
} addr_lpm SEC(".maps");

/* Policies' workload scopes: the cgroups of the pods and containers they
 * select, kept current by user space as pods come and go. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct scope_key);
	__type(value, __u8);
} policy_scope SEC(".maps");

/* Set by user space where cgroup programs may choose their errno (5.18). */
const volatile __u32 connect_errno = 0;

/* Signals a connect site's hook decided on, sent when the thread's
 * connect() returns: cgroup programs may not send signals, tracepoints may. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32); /* thread id */
	__type(value, __u32);
} pending_signal SEC(".maps");

static __always_inline int int_matches(const struct arg_match *m, __u64 v)
{
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

/* Whether string slot `k` is in the match's set: one map lookup. A string
 * longer than Equal compares is equal to none of the values; one that could
 * not be read is in no set. */
static __always_inline int str_in_set(struct scratch *sc, const struct arg_match *m, __u32 k)
{
	struct policy_call *c = &sc->call;
	__u32 len = c->e.str_len[k], n;

	if (c->e.str_trunc[k] && len == 0)
		return 0;
	switch (m->op) {
	case OP_STR_EQUAL:
	case OP_STR_NOT_EQUAL:
		if (len >= POLICY_MATCH_SIZE)
			return 0;
		__builtin_memset(&sc->key.equal, 0, sizeof(sc->key.equal));
		sc->key.equal.set = m->set;
		bpf_probe_read_kernel(sc->key.equal.s, len & (POLICY_MATCH_SIZE - 1), c->str[k]);
		return bpf_map_lookup_elem(&str_equal, &sc->key.equal) != NULL;
	case OP_PREFIX:
	case OP_NOT_PREFIX:
		n = len < POLICY_PREFIX_SIZE ? len : POLICY_PREFIX_SIZE;
		sc->key.prefix.prefixlen = 16 + 8 * n;
		sc->key.prefix.set = m->set;
		bpf_probe_read_kernel(sc->key.prefix.s, n & 255, c->str[k]);
		return bpf_map_lookup_elem(&str_prefix, &sc->key.prefix) != NULL;
	default:
		n = len < POLICY_POSTFIX_SIZE ? len : POLICY_POSTFIX_SIZE;
		sc->key.postfix.prefixlen = 16 + 8 * n;
		sc->key.postfix.set = m->set;
		bpf_probe_read_kernel(sc->key.postfix.s, n & (2 * POLICY_POSTFIX_SIZE - 1), c->tail[k]);
		return bpf_map_lookup_elem(&str_postfix, &sc->key.postfix) != NULL;
	}
}

/* Whether `port` is in one of the match's ranges. */
static __always_inline int port_in_ranges(const struct arg_match *m, __u16 port)
{
	int i;

	for (i = 0; i < POLICY_PORT_RANGES; i++) {
		__u32 r;

		if (i >= m->nvalues)
			break;
		r = m->values[i / 2] >> (32 * (i % 2));
		if (port >= (__u16)r && port <= (__u16)(r >> 16))
			return 1;
	}
	return 0;
}

/* Whether the tuple's source or destination address is in the match's
 * CIDRs: one LPM lookup. */
static __always_inline int addr_in_set(struct scratch *sc, const struct arg_match *m, const struct sock_tuple *t,
				       int dest)
{
	struct addr_key *k = &sc->key.addr;
	const __u8 *a = dest ? t->daddr : t->saddr;

	k->prefixlen = 32 + 128;
	k->set = m->set;
	if (t->family == AF_INET) {
		__builtin_memset(k->addr, 0, 10);
		k->addr[10] = 0xff;
		k->addr[11] = 0xff;
		__builtin_memcpy(&k->addr[12], a, 4);
	} else {
		__builtin_memcpy(k->addr, a, 16);
	}
	return bpf_map_lookup_elem(&addr_lpm, k) != NULL;
}

static __always_inline int sock_matches(struct scratch *sc, const struct arg_match *m, __u32 slot)
{
	const struct sock_tuple *t = &sc->call.e.sock[slot & (POLICY_SOCKS - 1)];
	int i;

	switch (m->op) {
	case OP_SPORT:
		return port_in_ranges(m, t->sport);
	case OP_NOT_SPORT:
		return !port_in_ranges(m, t->sport);
	case OP_SPORT_PRIV:
		return t->sport < 1024;
	case OP_NOT_SPORT_PRIV:
		return t->sport >= 1024;
	case OP_DPORT:
		return port_in_ranges(m, t->dport);
	case OP_NOT_DPORT:
		return !port_in_ranges(m, t->dport);
	case OP_DPORT_PRIV:
		return t->dport < 1024;
	case OP_NOT_DPORT_PRIV:
		return t->dport >= 1024;
	case OP_SADDR:
		return addr_in_set(sc, m, t, 0);
	case OP_NOT_SADDR:
		return !addr_in_set(sc, m, t, 0);
	case OP_DADDR:
		return addr_in_set(sc, m, t, 1);
	case OP_NOT_DADDR:
		return !addr_in_set(sc, m, t, 1);
	}
	for (i = 0; i < POLICY_VALUES; i++) {
		__u64 v = m->op == OP_PROTOCOL ? t->protocol : m->op == OP_FAMILY ? t->family : t->state;

		if (i >= m->nvalues)
			break;
		if (v == m->values[i])
			return 1;
	}
	return 0;
}

static __always_inline int arg_matches(struct scratch *sc, const struct hook *h, const struct arg_match *m)
{
	__u32 idx = m->index < POLICY_ARGS ? m->index : 0, k;

	if (m->op < OP_STR_EQUAL)
		return int_matches(m, sc->call.e.args[idx]);
	if (m->op > OP_NOT_POSTFIX)
		return sock_matches(sc, m, h->args[idx].slot);
	k = h->args[idx].slot & (POLICY_STRS - 1);
	switch (m->op) {
	case OP_STR_EQUAL:
	case OP_PREFIX:
	case OP_POSTFIX:
		return str_in_set(sc, m, k);
	default:
		return !str_in_set(sc, m, k);
	}
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

/* A selector's matchBinaries: the executable, or with followChildren an
 * ancestor's, in (or not in) its list. */
static __always_inline int binaries_match(const struct selector *s, __u32 binary)
{
	int in;

	if (s->bin_op == BIN_NONE)
		return 1;
	if (s->bin_op >= BIN_MATCH) {
		__u32 tgid = bpf_get_current_pid_tgid() >> 32;
		__u64 *mask = bpf_map_lookup_elem(&task_patterns, &tgid);

		in = mask && (*mask & s->pattern_bit);
		return s->bin_op == BIN_MATCH ? in : !in;
	}
	in = in_binaries(BIN_IN, s->nbinaries, s->binaries, binary);
	if (!in && s->follow_bit) {
		__u32 tgid = bpf_get_current_pid_tgid() >> 32;
		__u64 *mask = bpf_map_lookup_elem(&task_follow, &tgid);

		in = mask && (*mask & s->follow_bit);
	}
	return s->bin_op == BIN_IN ? in : !in;
}

static __always_inline int in_set(__u32 op, __u32 n, const __u32 *values, __u32 v)
{
	int i, in = 0;

	for (i = 0; i < POLICY_SET_VALUES; i++) {
		if (i >= n)
			break;
		if (values[i] == v)
			in = 1;
	}
	return op == BIN_IN ? in : !in;
}

/* The task's id in its own PID namespace. */
static __always_inline __u32 ns_pid(struct task_struct *task)
{
	struct pid *pid = BPF_CORE_READ(task, thread_pid);
	unsigned int level = BPF_CORE_READ(pid, level);
	__u32 nr = 0;

	bpf_probe_read_kernel(&nr, sizeof(nr), __builtin_preserve_access_index(&pid->numbers[level & 31].nr));
	return nr;
}

/* The inode of the task's namespace of type `ns`. */
static __always_inline __u32 ns_inum(struct task_struct *task, __u32 ns)
{
	struct nsproxy *nsp = BPF_CORE_READ(task, nsproxy);
	struct pid_namespace *pidns = NULL;
	unsigned int level;
	struct pid *pid;

	switch (ns) {
	case NS_UTS:
		return BPF_CORE_READ(nsp, uts_ns, ns.inum);
	case NS_IPC:
		return BPF_CORE_READ(nsp, ipc_ns, ns.inum);
	case NS_MNT:
		return BPF_CORE_READ(nsp, mnt_ns, ns.inum);
	case NS_PID:
		/* The namespace the task's pid is allocated in: its deepest level. */
		pid = BPF_CORE_READ(task, thread_pid);
		level = BPF_CORE_READ(pid, level);
		bpf_probe_read_kernel(&pidns, sizeof(pidns), __builtin_preserve_access_index(&pid->numbers[level & 31].ns));
		return BPF_CORE_READ(pidns, ns.inum);
	case NS_PID_FOR_CHILDREN:
		return BPF_CORE_READ(nsp, pid_ns_for_children, ns.inum);
	case NS_NET:
		return BPF_CORE_READ(nsp, net_ns, ns.inum);
	case NS_TIME:
		return BPF_CORE_READ(nsp, time_ns, ns.inum);
	case NS_TIME_FOR_CHILDREN:
		return BPF_CORE_READ(nsp, time_ns_for_children, ns.inum);
	case NS_CGROUP:
		return BPF_CORE_READ(nsp, cgroup_ns, ns.inum);
	default:
		return BPF_CORE_READ(task, cred, user_ns, ns.inum);
	}
}

/* One hook's evaluation, shared by the bpf_loop callbacks below: each is
 * verified once, not once per selector, matchArgs entry or namespace (the
 * inline loops cost the verifier hundreds of thousands of instructions per
 * program). */
struct hook_eval {
	struct scratch *sc;
	const struct hook *h;
	const struct selector *s;
	const __u64 *raw;
	int ok;       /* the current filter list holds so far */
	int matched;  /* the first matching selector, or -1 */
	__u32 binaries_ok; /* bit j: selector j's matchBinaries holds */
	struct task_struct *task;
};

/* Each callback bounds its index itself, in 64 bits behind a barrier: the
 * verifier does not know bpf_loop's count, and clang would compare a
 * 32-bit copy the verifier cannot connect to the index it uses. */
static long arg_match_cb(__u32 i, void *data)
{
	struct hook_eval *ev = data;

	__u64 n = i;

	barrier_var(n);
	if (n >= POLICY_ARG_MATCHES)
		return 1;
	if (!arg_matches(ev->sc, ev->h, &ev->s->args[n])) {
		ev->ok = 0;
		return 1;
	}
	return 0;
}

static long ns_cb(__u32 i, void *data)
{
	struct hook_eval *ev = data;
	const struct ns_filter *f;

	__u64 n = i;

	barrier_var(n);
	if (n >= POLICY_NS_FILTERS)
		return 1;
	f = &ev->s->ns[n];
	if (!in_set(f->op, f->n, f->inums, ns_inum(ev->task, f->ns))) {
		ev->ok = 0;
		return 1;
	}
	return 0;
}

/* matchPIDs, matchNamespaces and matchCapabilities on the current task. */
static __always_inline int task_matches(struct hook_eval *ev)
{
	const struct selector *s = ev->s;
	struct task_struct *task;
	const struct cred *cred;
	int i;

	if (!s->npids && !s->nns && !s->ncaps)
		return 1;
	/* A local: BPF_CORE_READ on `ev->task` would relocate hook_eval too. */
	task = bpf_get_current_task_btf();
	ev->task = task;
	for (i = 0; i < POLICY_PID_FILTERS; i++) {
		const struct pid_filter *f = &s->pids[i];

		if (i >= s->npids)
			break;
		__u32 tgid = BPF_CORE_READ(task, tgid);
		int in = in_set(BIN_IN, f->n, f->pids, f->ns_pid ? ns_pid(task) : tgid);

		if (!in && f->follow_bit) {
			__u64 *mask = bpf_map_lookup_elem(&task_follow, &tgid);

			in = mask && (*mask & f->follow_bit);
		}
		if (f->op == BIN_IN ? !in : in)
			return 0;
	}
	ev->ok = 1;
	bpf_loop(s->nns, ns_cb, ev, 0);
	if (!ev->ok)
		return 0;
	cred = BPF_CORE_READ(task, cred);
	for (i = 0; i < POLICY_CAP_FILTERS; i++) {
		const struct cap_filter *f = &s->caps[i];
		const kernel_cap_t *set;
		__u64 caps = 0;

		if (i >= s->ncaps)
			break;
		set = f->set == 0 ? __builtin_preserve_access_index(&cred->cap_effective)
		    : f->set == 1 ? __builtin_preserve_access_index(&cred->cap_inheritable)
				  : __builtin_preserve_access_index(&cred->cap_permitted);
		/* 64 bits either way: u32[2] before 6.3, one u64 since. */
		bpf_probe_read_kernel(&caps, sizeof(caps), set);
		if (!f->ns_cap && BPF_CORE_READ(cred, user_ns, level) != 0)
			caps = 0;
		if (f->op == BIN_IN ? !(caps & f->mask) : (caps & f->mask))
			return 0;
	}
	return 1;
}

/* Selector `j` of the hook: the first that matches stops the loop. */
static long selector_cb(__u32 j, void *data)
{
	struct hook_eval *ev = data;
	const struct selector *s;

	__u64 n = j;

	barrier_var(n);
	if (n >= POLICY_SELECTORS)
		return 1;
	s = &ev->h->selectors[n];
	ev->s = s;
	ev->ok = 1;
	bpf_loop(s->nargs, arg_match_cb, ev, 0);
	if (!ev->ok || !(ev->binaries_ok & (1 << n)) || !task_matches(ev))
		return 0;
	ev->matched = j;
	return 1;
}

/* A hook without selectors posts every call. */
static const struct selector post_every_call = { .actions = ACTION_POST };

/* Whether a post of selector `sel` repeats one made within its window (and
 * if not, notes this one). */
static __always_inline int rate_limited(struct scratch *sc, __u32 idx, const struct hook *h, __u32 sel,
					const struct selector *s)
{
	struct policy_call *c = &sc->call;
	struct rate_key *k = &sc->key.rate;
	__u64 now = bpf_ktime_get_ns(), *last;
	int j;

	__builtin_memset(k, 0, sizeof(*k));
	k->hook = idx;
	k->selector = sel;
	if (s->rate_scope == RATE_THREAD)
		k->scope_id = c->e.tid;
	else if (s->rate_scope == RATE_PROCESS)
		k->scope_id = c->e.pid;
	for (j = 0; j < POLICY_ARGS; j++) {
		const struct arg_spec *a = &h->args[j];

		if (a->kind == ARG_INT || a->kind == ARG_KERNEL_CAP) {
			k->args[j] = c->e.args[j];
		} else if (a->kind == ARG_CRED || a->kind == ARG_CURRENT_CRED) {
			k->args[j] = (c->e.cred.uid | (__u64)c->e.cred.euid << 32) ^ c->e.cred.effective;
		} else if (a->kind >= ARG_SOCK) {
			/* A socket as its ports and a fold of its addresses. */
			const struct sock_tuple *t = &c->e.sock[a->slot & (POLICY_SOCKS - 1)];
			__u32 fold = 0;
			int b;

			for (b = 0; b < 16; b += 4)
				fold ^= *(__u32 *)&t->saddr[b] ^ *(__u32 *)&t->daddr[b];
			k->args[j] = t->sport | (__u64)t->dport << 16 | (__u64)fold << 32;
		}
	}
	for (j = 0; j < POLICY_STRS; j++) {
		__u32 n = c->e.str_len[j] < RATE_STR_BYTES ? c->e.str_len[j] : RATE_STR_BYTES;

		if (j < c->e.nstr)
			bpf_probe_read_kernel(&k->str[j * RATE_STR_BYTES], n & 63, c->str[j]);
	}
	last = bpf_map_lookup_elem(&rate_last, k);
	if (last && now - *last < (__u64)s->rate_ms * 1000000) {
		struct hook_stats *st = bpf_map_lookup_elem(&hook_stats, &idx);

		if (st)
			st->rate_limited++;
		return 1;
	}
	bpf_map_update_elem(&rate_last, k, &now, BPF_ANY);
	return 0;
}

/* A maxData buffer's sending: the bytes from `sent` to `total`, a chunk
 * per data record. */
struct data_send {
	const struct policy_call *c;
	__u64 src;
	__u32 sent;
	__u32 total;
	bool user;
};

static long data_cb(__u32 i, void *data)
{
	struct data_send *d = data;
	struct policy_chunk *rec;
	__u32 zero = 0, n;
	long got;

	if (d->sent >= d->total)
		return 1;
	rec = bpf_map_lookup_elem(&data_scratch, &zero);
	if (!rec)
		return 1;
	n = d->total - d->sent;
	if (n > POLICY_DATA_CHUNK)
		n = POLICY_DATA_CHUNK;
	barrier_var(n);
	if (n > POLICY_DATA_CHUNK)
		return 1;
	if (d->user)
		got = bpf_probe_read_user(rec->bytes, n, (const void *)(d->src + d->sent));
	else
		got = bpf_probe_read_kernel(rec->bytes, n, (const void *)(d->src + d->sent));
	if (got < 0)
		return 1;
	rec->kind = RECORD_DATA;
	rec->tid = d->c->e.tid;
	rec->id = d->c->e.ktime;
	rec->offset = d->sent;
	rec->len = n;
	if (bpf_ringbuf_output(&events, rec, offsetof(struct policy_chunk, bytes) + n, BPF_RB_NO_WAKEUP)) {
		count(PSTAT_LOST);
		return 1;
	}
	d->sent += n;
	return 0;
}

/* Sends the hook's maxData buffer beyond the bytes the event keeps, up to
 * POLICY_DATA_MAX; returns how many bytes went out. */
static __always_inline __u32 send_data(struct scratch *sc, const struct hook *h)
{
	const struct arg_spec *spec = &h->args[h->data_arg < POLICY_ARGS ? h->data_arg : 0];
	struct policy_call *c = &sc->call;
	struct data_send d = { .c = c, .user = spec->kind == ARG_USER_BUF };
	__u32 slot = spec->slot & (POLICY_STRS - 1);
	__u64 size = sc->raw[spec->size & (POLICY_SOURCES - 1)];

	d.src = sc->raw[spec->source & (POLICY_SOURCES - 1)];
	/* Only after a whole first part: a failed read sends nothing more. */
	d.sent = c->e.str_len[slot];
	if (d.sent < POLICY_STR_SIZE - 1 || size <= d.sent)
		return 0;
	d.total = size < POLICY_DATA_MAX ? size : POLICY_DATA_MAX;
	bpf_loop(POLICY_DATA_MAX / POLICY_DATA_CHUNK + 1, data_cb, &d, 0);
	c->e.str_trunc[slot] = d.sent < size;
	c->e.data_slot = slot;
	return d.sent - (POLICY_STR_SIZE - 1);
}

/* Runs a matching selector's actions: the signal first, then the record.
 * `deferred` (a constant: connect sites, whose cgroup programs may not send
 * signals): the signal waits for the syscall's exit and the connect is
 * refused. */
static __always_inline void act(struct scratch *sc, __u32 idx, const struct hook *h, __u32 sel,
				const struct selector *s, const bool deferred)
{
	struct policy_call *c = &sc->call;
	__u32 len0 = c->e.str_len[0] & (POLICY_STR_SIZE - 1), len1 = 0, size;
	__u32 actions = s->actions, signal = s->signal;

	c->e.signal_error = 0;
	if (deferred) {
		if (actions & ACTION_SIGNAL)
			bpf_map_update_elem(&pending_signal, &c->e.tid, &signal, BPF_ANY);
		if (actions & (ACTION_SIGNAL | ACTION_OVERRIDE))
			c->deny = 1;
		if (actions & ACTION_OVERRIDE)
			c->error = s->error;
	} else if (actions & ACTION_SIGNAL) {
		c->e.signal_error = bpf_send_signal(signal);
	}
	if (!deferred && (actions & ACTION_OVERRIDE)) {
		c->override = 1;
		c->error = s->error;
	}
	if (!(actions & ACTION_POST))
		return;
	if (s->rate_ms && rate_limited(sc, idx, h, sel, s))
		return;
	c->e.ktime = bpf_ktime_get_ns();
	c->e.hook = idx;
	c->e.policy_id = h->policy_id;
	c->e.selector = sel;
	c->e.actions = actions;
	c->e.signal = signal;
	c->e.kind = RECORD_EVENT;
	c->e.data_len = 0;
	/* Connect sites (deferred) have no buffers, and cgroup programs may
	 * not read memory. */
	if (!deferred && h->data_arg != STR_NONE)
		c->e.data_len = send_data(sc, h);
	if (c->e.nstr > 1) {
		/* Pack the second string right after the first. */
		len1 = c->e.str_len[1] & (POLICY_STR_SIZE - 1);
		bpf_probe_read_kernel(&c->str[0][len0], len1, c->str[1]);
	}
	size = sizeof(c->e) + len0 + len1;
	if (size > sizeof(*c))
		return;
	if (bpf_ringbuf_output(&events, c, size, wakeup_flag())) {
		count(PSTAT_LOST);
		return;
	}
	count(PSTAT_SENT);
}

/* The file behind descriptor `fd` of the current process. */
static __always_inline struct file *fd_file(__u64 fd)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *f = NULL;

	if (fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
	return f;
}

/* A char_iovec argument's gathering: the iovecs' bytes one after another
 * into the first string slot, up to its size. */
struct iovec_read {
	struct policy_call *c;
	__u64 iov;
	__u64 total; /* every entry's length, kept or not */
	__u32 len;
	bool trunc;
};

static long iovec_cb(__u32 i, void *data)
{
	struct iovec_read *r = data;
	struct iovec iov = {};
	__u32 room, n;

	if (bpf_probe_read_user(&iov, sizeof(iov), (const void *)(r->iov + (__u64)i * sizeof(iov)))) {
		r->trunc = true;
		return 1;
	}
	r->total += iov.iov_len;
	if (r->len >= POLICY_STR_SIZE - 1) {
		r->trunc = r->trunc || iov.iov_len;
		return 0;
	}
	room = POLICY_STR_SIZE - 1 - r->len;
	n = iov.iov_len < room ? iov.iov_len : room;
	if (iov.iov_len > room)
		r->trunc = true;
	barrier_var(n);
	if (n > POLICY_STR_SIZE - 1)
		n = POLICY_STR_SIZE - 1;
	/* Offset below the slot's size and size at most that: the write stays
	 * in the scratch value (slot 0 has the other slot behind it), and the
	 * room left keeps it in slot 0. */
	if (bpf_probe_read_user(&r->c->str[0][r->len & (POLICY_STR_SIZE - 1)], n, iov.iov_base)) {
		r->trunc = true;
		return 1;
	}
	r->len += n;
	return 0;
}

static __always_inline __u32 read_iovecs(struct policy_call *c, __u64 iov, __u64 count, bool *trunc, __u64 *total)
{
	struct iovec_read r = { .c = c, .iov = iov };

	if (count > POLICY_IOVECS) {
		count = POLICY_IOVECS;
		r.trunc = true;
	}
	bpf_loop(count, iovec_cb, &r, 0);
	*trunc = r.trunc;
	*total = r.total;
	return r.len;
}

/* Fills string slot `k` from hook argument `a`: a user string is copied,
 * a descriptor, file or binprm is resolved to its full path (relative to
 * the process's root, as d_path would). */
static __always_inline void read_string(struct scratch *sc, const struct hook *h, __u32 a, const __u64 *raw)
{
	struct policy_call *c = &sc->call;
	const struct arg_spec *spec = &h->args[a < POLICY_ARGS ? a : 0];
	__u32 k = spec->slot & (POLICY_STRS - 1), zero = 0, len = 0, pos, i, n;
	__u64 v = raw[spec->source & (POLICY_SOURCES - 1)], size;
	struct file *f = NULL;
	bool trunc = false;
	long got;

	switch (spec->kind) {
	case ARG_USER_STRING:
		got = bpf_probe_read_user_str(c->str[k], POLICY_STR_SIZE, (const void *)v);
		if (got > 0) {
			len = got - 1;
			trunc = got == POLICY_STR_SIZE;
		} else {
			trunc = true;
		}
		break;
	case ARG_FD:
		f = fd_file(v);
		break;
	case ARG_FILE:
		f = (struct file *)v;
		break;
	case ARG_BPRM:
		f = BPF_CORE_READ((struct linux_binprm *)v, file);
		break;
	case ARG_USER_BUF:
	case ARG_KERNEL_BUF:
		/* As many bytes as the length argument says, up to the slot's
		 * size: the record's argument value becomes that length. */
		size = raw[spec->size & (POLICY_SOURCES - 1)];
		c->e.args[a < POLICY_ARGS ? a : 0] = size;
		/* At most a string's 4095 bytes: lengths stay below the slot's size. */
		trunc = size > POLICY_STR_SIZE - 1;
		len = trunc ? POLICY_STR_SIZE - 1 : size;
		/* Forgotten, then bounded again where the verifier sees it. */
		barrier_var(len);
		if (len > POLICY_STR_SIZE - 1)
			len = POLICY_STR_SIZE - 1;
		if (spec->kind == ARG_USER_BUF)
			got = bpf_probe_read_user(c->str[k], len, (const void *)v);
		else
			got = bpf_probe_read_kernel(c->str[k], len, (const void *)v);
		if (got < 0) {
			len = 0;
			trunc = true;
		}
		break;
	case ARG_USER_IOVEC:
		len = read_iovecs(c, v, raw[spec->size & (POLICY_SOURCES - 1)], &trunc, &size);
		c->e.args[a < POLICY_ARGS ? a : 0] = size;
		break;
	case ARG_KERNEL_STRING:
	case ARG_FILENAME:
		if (spec->kind == ARG_FILENAME)
			v = (__u64)BPF_CORE_READ((struct filename *)v, name);
		got = bpf_probe_read_kernel_str(c->str[k], POLICY_STR_SIZE, (const void *)v);
		if (got > 0) {
			len = got - 1;
			trunc = got == POLICY_STR_SIZE;
		} else {
			trunc = true;
		}
		break;
	}
	if (spec->kind == ARG_FD || spec->kind == ARG_FILE || spec->kind == ARG_BPRM || spec->kind == ARG_PATH) {
		struct path_buf *pb = bpf_map_lookup_elem(&path_scratch, &zero);
		struct task_struct *task = bpf_get_current_task_btf();
		const struct path *p = spec->kind == ARG_PATH ? (const struct path *)v
			: f ? __builtin_preserve_access_index(&f->f_path) : NULL;

		trunc = true;
		if (p && pb) {
			pos = path_walk(p, &task->fs->root, pb, &len, &trunc);
			len &= POLICY_STR_SIZE - 1;
			bpf_probe_read_kernel(c->str[k], len, &pb->buf[pos & (PATH_SIZE - 1)]);
		}
	}
	c->e.str_len[k] = len;
	c->e.str_trunc[k] = trunc;
	if (!spec->tail)
		return;
	/* Postfix compares the end, reversed, against reversed values. */
	n = len < POLICY_POSTFIX_SIZE ? len : POLICY_POSTFIX_SIZE;
	for (i = 0; i < POLICY_POSTFIX_SIZE; i++) {
		if (i >= n)
			break;
		c->tail[k][i] = c->str[k][(len - 1 - i) & (POLICY_STR_SIZE - 1)];
	}
}

/* String slot `k` of the hook. */
static long string_cb(__u32 k, void *data)
{
	struct hook_eval *ev = data;

	__u64 n = k;

	barrier_var(n);
	if (n >= POLICY_STRS)
		return 1;
	read_string(ev->sc, ev->h, ev->h->str_arg[n], ev->raw);
	return 0;
}

/* A struct sock's family, type, protocol, state, ports and addresses. */
static __always_inline void sock_of(struct sock *sk, struct sock_tuple *t)
{
	t->family = BPF_CORE_READ(sk, __sk_common.skc_family);
	t->type = BPF_CORE_READ(sk, sk_type);
	t->protocol = BPF_CORE_READ(sk, sk_protocol);
	t->state = BPF_CORE_READ(sk, __sk_common.skc_state);
	t->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
	t->dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (t->family == AF_INET6) {
		BPF_CORE_READ_INTO(&t->saddr, sk, __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);
		BPF_CORE_READ_INTO(&t->daddr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
	} else {
		BPF_CORE_READ_INTO((__u32 *)t->saddr, sk, __sk_common.skc_rcv_saddr);
		BPF_CORE_READ_INTO((__u32 *)t->daddr, sk, __sk_common.skc_daddr);
	}
}

/* A sockaddr's family, address and port (as the tuple's source side). */
static __always_inline void sockaddr_of(const void *p, bool user, struct sock_tuple *t)
{
	struct sockaddr_in6 sa = {};

	if (user)
		bpf_probe_read_user(&sa, sizeof(sa), p);
	else
		bpf_probe_read_kernel(&sa, sizeof(sa), p);
	t->family = sa.sin6_family;
	t->sport = bpf_ntohs(sa.sin6_port);
	if (t->family == AF_INET6)
		__builtin_memcpy(t->saddr, &sa.sin6_addr, 16);
	else if (t->family == AF_INET)
		/* sockaddr_in's address is where sockaddr_in6's flowinfo is. */
		__builtin_memcpy(t->saddr, &sa.sin6_flowinfo, 4);
}

/* Fills socket slot `k` from hook argument `a`. */
static __always_inline void read_sock(struct scratch *sc, const struct hook *h, __u32 a, const __u64 *raw)
{
	const struct arg_spec *spec = &h->args[a < POLICY_ARGS ? a : 0];
	struct sock_tuple *t = &sc->call.e.sock[spec->slot & (POLICY_SOCKS - 1)];
	__u64 v = raw[spec->source & (POLICY_SOURCES - 1)];

	__builtin_memset(t, 0, sizeof(*t));
	switch (spec->kind) {
	case ARG_SOCKET:
		v = (__u64)BPF_CORE_READ((struct socket *)v, sk);
		/* fall through */
	case ARG_SOCK:
		if (v)
			sock_of((struct sock *)v, t);
		break;
	case ARG_SOCKADDR:
	case ARG_USER_SOCKADDR:
		sockaddr_of((const void *)v, spec->kind == ARG_USER_SOCKADDR, t);
		break;
	case ARG_SITE_SOCK:
		__builtin_memcpy(t, &sc->site_sock[spec->source < SITE_SOCKS ? spec->source : 0], sizeof(*t));
		break;
	}
}

/* The hook's cred argument `a`: a struct cred *, or the task's own. */
static __always_inline void read_cred(struct scratch *sc, const struct hook *h, __u32 a, const __u64 *raw)
{
	const struct arg_spec *spec = &h->args[a < POLICY_ARGS ? a : 0];
	struct cred_info *ci = &sc->call.e.cred;
	const struct cred *cred;

	if (spec->kind == ARG_CURRENT_CRED)
		cred = BPF_CORE_READ(bpf_get_current_task_btf(), cred);
	else
		cred = (const struct cred *)raw[spec->source & (POLICY_SOURCES - 1)];
	ci->uid = BPF_CORE_READ(cred, uid.val);
	ci->gid = BPF_CORE_READ(cred, gid.val);
	ci->suid = BPF_CORE_READ(cred, suid.val);
	ci->sgid = BPF_CORE_READ(cred, sgid.val);
	ci->euid = BPF_CORE_READ(cred, euid.val);
	ci->egid = BPF_CORE_READ(cred, egid.val);
	ci->fsuid = BPF_CORE_READ(cred, fsuid.val);
	ci->fsgid = BPF_CORE_READ(cred, fsgid.val);
	ci->securebits = BPF_CORE_READ(cred, securebits);
	/* 64 bits either way: u32[2] before 6.3, one u64 since. */
	bpf_probe_read_kernel(&ci->permitted, 8, __builtin_preserve_access_index(&cred->cap_permitted));
	bpf_probe_read_kernel(&ci->effective, 8, __builtin_preserve_access_index(&cred->cap_effective));
	bpf_probe_read_kernel(&ci->inheritable, 8, __builtin_preserve_access_index(&cred->cap_inheritable));
}

/* The hook's cred argument (a loop of one: a callback's frame is not the
 * hook's). */
static long cred_cb(__u32 k, void *data)
{
	struct hook_eval *ev = data;

	read_cred(ev->sc, ev->h, ev->h->cred_arg, ev->raw);
	return 1;
}

/* Argument `j`, when it points at what is compared (a kernel_cap_t): the
 * value read in its place. */
static long deref_cb(__u32 j, void *data)
{
	struct hook_eval *ev = data;
	struct policy_event *e = &ev->sc->call.e;

	__u64 n = j;

	barrier_var(n);
	if (n >= POLICY_ARGS)
		return 1;
	if (ev->h->args[n].kind == ARG_KERNEL_CAP)
		bpf_probe_read_kernel(&e->args[n], 8, (const void *)e->args[n]);
	return 0;
}

/* Socket slot `k` of the hook. */
static long sock_cb(__u32 k, void *data)
{
	struct hook_eval *ev = data;

	__u64 n = k;

	barrier_var(n);
	if (n >= POLICY_SOCKS)
		return 1;
	read_sock(ev->sc, ev->h, ev->h->sock_arg[n], ev->raw);
	return 0;
}

/* Whether the current task's cgroup is in the policy's workload scope. The
 * cgroup v2 id read through the task (what bpf_get_current_cgroup_id
 * returns), so every program kind can ask, cgroup programs included. */
static __always_inline int in_scope(__u32 policy_id)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct scope_key key = { .policy_id = policy_id };

	key.cgroup = BPF_CORE_READ(task, cgroups, dfl_cgrp, kn, id);
	return bpf_map_lookup_elem(&policy_scope, &key) != NULL;
}

/* A site's call: its raw argument sources (in `sc`), for every hook there. */
struct site_call {
	struct scratch *sc;
	const struct site_hooks *list;
	__u64 *raw;
};

/* One hook against one call, from a bpf_loop callback (below), so the
 * verifier checks it once rather than once per hook slot. The first
 * matching selector acts; without selectors, every call is posted. */
static __always_inline void run_hook(__u32 i, struct site_call *sc, const bool deferred)
{
	struct policy_call *c = &sc->sc->call;
	__u32 idx = sc->list->hook[i & (POLICY_HOOKS_PER_SITE - 1)], j;
	struct hook *h = bpf_map_lookup_elem(&hooks, &idx);
	struct hook_eval ev = {};

	if (!h || !h->enabled)
		return;
	if (h->skip_failed && (__s64)sc->raw[SRC_RET] < 0)
		return;
	if (h->scoped && !in_scope(h->policy_id))
		return;
	/* matchBinaries first, as Tetragon does: when no selector can match
	 * this executable, the call costs no argument reads at all. */
	for (j = 0; j < POLICY_SELECTORS; j++) {
		if (j >= h->nselectors)
			break;
		if (binaries_match(&h->selectors[j], c->e.binary))
			ev.binaries_ok |= 1 << j;
	}
	if (h->nselectors && !ev.binaries_ok)
		return;
	for (j = 0; j < POLICY_ARGS; j++)
		c->e.args[j] = j < h->nargs ? sc->raw[h->args[j].source & (POLICY_SOURCES - 1)] : 0;
	c->e.nstr = 0;
	for (j = 0; j < POLICY_STRS; j++)
		if (h->str_arg[j] != STR_NONE)
			c->e.nstr = j + 1;
	c->e.nsock = 0;
	for (j = 0; j < POLICY_SOCKS; j++)
		if (h->sock_arg[j] != STR_NONE)
			c->e.nsock = j + 1;
	ev.sc = sc->sc;
	ev.h = h;
	ev.raw = sc->raw;
	ev.matched = -1;
	/* Each only when the hook has such arguments: a helper call costs. */
	if (c->e.nstr)
		bpf_loop(c->e.nstr, string_cb, &ev, 0);
	if (c->e.nsock)
		bpf_loop(c->e.nsock, sock_cb, &ev, 0);
	c->e.ncred = h->cred_arg != STR_NONE;
	if (c->e.ncred)
		bpf_loop(1, cred_cb, &ev, 0);
	if (h->deref)
		bpf_loop(h->nargs, deref_cb, &ev, 0);
	if (h->nselectors == 0) {
		act(sc->sc, idx, h, 0, &post_every_call, deferred);
		return;
	}
	bpf_loop(h->nselectors, selector_cb, &ev, 0);
	if (ev.matched < 0)
		return;
	/* Checked right where it indexes: 6.1's verifier forgets the bound of
	 * a copy clang spills before the check. */
	j = ev.matched;
	barrier_var(j);
	if (j < POLICY_SELECTORS)
		act(sc->sc, idx, h, j, &h->selectors[j], deferred);
}

static long hook_cb(__u32 i, void *data)
{
	run_hook(i, data, false);
	return 0;
}

static long hook_cb_deferred(__u32 i, void *data)
{
	run_hook(i, data, true);
	return 0;
}

/* Runs the hooks of `site` on a call whose sources `raw` holds (filled
 * but for the header); `deferred` (a constant) for connect sites. */
static __always_inline void run_site_as(__u32 site, struct site_call *call, __u32 binary, const bool deferred)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct policy_event *e = &call->sc->call.e;

	e->pid = id >> 32;
	e->tid = (__u32)id;
	e->site = site;
	e->binary = binary;
	e->ret = (__s64)call->raw[SRC_RET];
	call->sc->call.override = 0;
	if (deferred)
		bpf_loop(call->list->n, hook_cb_deferred, call, 0);
	else
		bpf_loop(call->list->n, hook_cb, call, 0);
}

static __always_inline void run_site(__u32 site, struct site_call *call, __u32 binary)
{
	run_site_as(site, call, binary, false);
}

static __always_inline __u32 current_binary(void)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32, *bin = bpf_map_lookup_elem(&task_binary, &tgid);

	return bin ? *bin : 0;
}

/* Whether a site's `list` has hooks this process may match: sites whose
 * every selector lists executables are skipped by processes running none. */
static __always_inline bool site_wanted(const struct site_hooks *list)
{
	return list && list->n && (!list->binary_gate || current_binary());
}

/* A syscall's entry or exit site: its hooks, with the argument registers. */
static __always_inline void run_syscall(__u32 site, struct pt_regs *regs, long ret)
{
	const struct site_hooks *list = bpf_map_lookup_elem(&site_hooks, &site);
	__u32 zero = 0;
	struct site_call call;

	if (!site_wanted(list))
		return;
	call.sc = bpf_map_lookup_elem(&scratch_map, &zero);
	if (!call.sc)
		return;
	call.list = list;
	call.raw = call.sc->raw;
	/* x86_64's syscall argument registers (pt_regs keeps them at exit). */
	call.raw[0] = regs->di;
	call.raw[1] = regs->si;
	call.raw[2] = regs->dx;
	call.raw[3] = regs->r10;
	call.raw[4] = regs->r8;
	call.raw[5] = regs->r9;
	call.raw[SRC_RET] = ret;
	call.raw[SRC_BPRM] = 0;
	run_site(site, &call, current_binary());
}

SEC("tp_btf/sys_exit")
int BPF_PROG(policy_sys_exit, struct pt_regs *regs, long ret)
{
	__u64 nr = regs->orig_ax;

	if (nr < POLICY_SYSCALLS)
		run_syscall(SITE_EXIT + (__u32)nr, regs, ret);
	return 0;
}

/* The pattern bits of an executable's path (pb's `len` bytes at `pos`):
 * its longest listed prefix's and postfix's. */
static __always_inline __u64 binary_patterns(struct scratch *sc, struct path_buf *pb, __u32 pos, __u32 len)
{
	struct bin_prefix_key *pk = &sc->key.bin_prefix;
	struct bin_postfix_key *sk = &sc->key.bin_postfix;
	__u32 n = len < POLICY_BINARY_SIZE - 1 ? len : POLICY_BINARY_SIZE - 1, i;
	__u64 mask = 0, *bits;

	/* Values are at most 255 bytes: a longer path's first 255 decide. */
	pk->prefixlen = 8 * n;
	bpf_probe_read_kernel(pk->path, n & (POLICY_BINARY_SIZE - 1), &pb->buf[pos & (PATH_SIZE - 1)]);
	bits = bpf_map_lookup_elem(&bin_prefix, pk);
	if (bits)
		mask |= *bits;
	n = len < POLICY_POSTFIX_SIZE ? len : POLICY_POSTFIX_SIZE;
	sk->prefixlen = 8 * n;
	for (i = 0; i < POLICY_POSTFIX_SIZE; i++) {
		if (i >= n)
			break;
		sk->path[i] = pb->buf[(pos + len - 1 - i) & (PATH_SIZE - 1)];
	}
	bits = bpf_map_lookup_elem(&bin_postfix, sk);
	if (bits)
		mask |= *bits;
	return mask;
}

/* At exec: the exec hooks run first (security_bprm_check's equivalent: the
 * process's binary is still the caller's), then the new executable's full
 * path names the process's id (or forgets an old one). */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(policy_exec, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm)
{
	__u32 zero = 0, tgid = task->tgid, len, pos, *id, site = SITE_EXEC;
	__u64 patterns;
	struct path_buf *pb = bpf_map_lookup_elem(&path_scratch, &zero);
	struct file *exe = task->mm->exe_file;
	const struct site_hooks *list = bpf_map_lookup_elem(&site_hooks, &site);
	struct site_call call = {};
	struct binary_key *key;
	bool trunc;

	call.sc = bpf_map_lookup_elem(&scratch_map, &zero);
	if (!pb || !call.sc || !exe)
		return 0;
	if (list && list->n) {
		call.list = list;
		call.raw = call.sc->raw;
		__builtin_memset(call.raw, 0, sizeof(call.sc->raw));
		call.raw[SRC_BPRM] = (__u64)bprm;
		run_site(site, &call, current_binary());
	}
	key = &call.sc->key.binary;
	pos = path_walk(&exe->f_path, &task->fs->root, pb, &len, &trunc);
	__builtin_memset(key, 0, sizeof(*key));
	if (!trunc && len < POLICY_BINARY_SIZE)
		bpf_probe_read_kernel(key->path, len & (POLICY_BINARY_SIZE - 1), &pb->buf[pos]);
	id = bpf_map_lookup_elem(&binary_ids, key);
	if (id)
		bpf_map_update_elem(&task_binary, &tgid, id, BPF_ANY);
	else
		bpf_map_delete_elem(&task_binary, &tgid);
	patterns = binary_patterns(call.sc, pb, pos, len);
	if (patterns)
		bpf_map_update_elem(&task_patterns, &tgid, &patterns, BPF_ANY);
	else
		bpf_map_delete_elem(&task_patterns, &tgid);
	return 0;
}

/* A kernel function's hooks, from its kprobe: the attachment's cookie is
 * the site. Returns whether a selector asked for Override. */
/* Site `site`'s hooks when this process may match them (site_wanted), else
 * NULL: asked before any argument is read. */
static __always_inline const struct site_hooks *wanted_hooks(__u32 site)
{
	const struct site_hooks *list = bpf_map_lookup_elem(&site_hooks, &site);

	return site_wanted(list) ? list : NULL;
}

/* Runs `list` (wanted_hooks' answer for `site`) on a call's arguments;
 * returns whether a selector asked to override. */
static __always_inline int run_function(__u32 site, const struct site_hooks *list, const __u64 *args, long ret)
{
	__u32 zero = 0, i;
	struct site_call call;

	call.sc = bpf_map_lookup_elem(&scratch_map, &zero);
	if (!call.sc)
		return 0;
	call.list = list;
	call.raw = call.sc->raw;
	for (i = 0; i < POLICY_ARGS; i++)
		call.raw[i] = args[i];
	call.raw[SRC_RET] = ret;
	call.raw[SRC_BPRM] = 0;
	run_site(site, &call, current_binary());
	return call.sc->call.override;
}

/* A hooked syscall's entry, through that syscall's own tracepoint
 * (syscalls/sys_enter_NAME, the attachment's cookie its number): syscalls
 * without hooks run no program at all, where raw_syscalls:sys_enter would
 * run one on every syscall of the node. The record: the common fields, the
 * number, then the six arguments as longs. */
struct syscall_enter_record {
	__u64 common;
	__s64 nr;
	__u64 args[POLICY_ARGS];
};

SEC("tracepoint")
int policy_sys_enter(struct syscall_enter_record *ctx)
{
	__u32 site = bpf_get_attach_cookie(ctx);
	const struct site_hooks *list = site < POLICY_SYSCALLS ? wanted_hooks(site) : NULL;
	__u64 args[POLICY_ARGS];

	if (!list)
		return 0;
	/* Read, not loaded: a direct load of args[5] would make the kernel
	 * refuse the attachment to syscalls with fewer arguments (their record
	 * is shorter than the program's furthest context access). */
	bpf_probe_read_kernel(args, sizeof(args), ctx->args);
	run_function(site, list, args, 0);
	return 0;
}

static __always_inline int run_kprobe(struct pt_regs *ctx)
{
	__u64 site = bpf_get_attach_cookie(ctx);
	const struct site_hooks *list;

	if (site < SITE_KPROBE || site >= SITE_KPROBE + POLICY_KPROBES)
		return 0;
	list = wanted_hooks((__u32)site);
	if (!list)
		return 0;
	/* x86_64's function argument registers. */
	__u64 args[POLICY_ARGS] = { ctx->di, ctx->si, ctx->dx, ctx->cx, ctx->r8, ctx->r9 };

	return run_function((__u32)site, list, args, 0);
}

/* Two programs: one that can override is attachable only to functions on
 * the kernel's error-injection list, so hooks without Override use the
 * other. Both are loaded only where the kernel attaches kprobes (and has
 * bpf_override_return). */
SEC("kprobe")
int policy_kprobe(struct pt_regs *ctx)
{
	run_kprobe(ctx);
	return 0;
}

SEC("kprobe")
int policy_kprobe_override(struct pt_regs *ctx)
{
	__u32 zero = 0;
	struct scratch *sc;

	if (!run_kprobe(ctx))
		return 0;
	sc = bpf_map_lookup_elem(&scratch_map, &zero);
	if (sc)
		bpf_override_return(ctx, sc->call.error);
	return 0;
}

/* A kernel function's arguments, kept from its entry to its return for
 * the hooks that run there, by thread and return site. */
struct ret_key {
	__u32 tid;
	__u32 site;
};

struct saved_args {
	__u64 args[POLICY_ARGS];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, struct ret_key);
	__type(value, struct saved_args);
} ret_args SEC(".maps");

/* The entry of a function hooked at its return (the cookie: the return
 * site): its arguments, kept. */
SEC("kprobe")
int policy_kprobe_entry(struct pt_regs *ctx)
{
	struct ret_key key = { .tid = (__u32)bpf_get_current_pid_tgid(), .site = (__u32)bpf_get_attach_cookie(ctx) };
	struct saved_args a = { { ctx->di, ctx->si, ctx->dx, ctx->cx, ctx->r8, ctx->r9 } };

	bpf_map_update_elem(&ret_args, &key, &a, BPF_ANY);
	return 0;
}

/* Its return: the hooks there, with the kept arguments and the value
 * returned. */
SEC("kretprobe")
int policy_kretprobe(struct pt_regs *ctx)
{
	__u64 site = bpf_get_attach_cookie(ctx);
	struct ret_key key = { .tid = (__u32)bpf_get_current_pid_tgid(), .site = (__u32)site };
	struct saved_args *kept = bpf_map_lookup_elem(&ret_args, &key);
	const struct site_hooks *list;
	__u64 args[POLICY_ARGS];

	if (!kept || site < SITE_KRETPROBE || site >= SITE_KRETPROBE + POLICY_KPROBES)
		return 0;
	__builtin_memcpy(args, kept->args, sizeof(args));
	bpf_map_delete_elem(&ret_args, &key);
	list = wanted_hooks((__u32)site);
	if (list)
		run_function((__u32)site, list, args, PT_REGS_RC(ctx));
	return 0;
}

/* fentry, fexit and fmod_ret: a trampoline is built for one function, so
 * user space loads an instance of these per hooked function, with the site
 * (a kprobe or kretprobe site, or a syscall's entry or exit: the hooks are
 * the same) set before load. The arguments come through bpf_get_func_arg
 * (5.17), which knows the function's own count; fexit sees them as they
 * were at entry, with the value returned. A syscall's function
 * (__x64_sys_NAME, `function_syscall`) has one: the caller's registers,
 * which hold the syscall's arguments. Syscalls hooked this way cost
 * nothing to the node's other syscalls, where any syscall tracepoint puts
 * every one on the kernel's slow path. */
const volatile __u32 function_site = 0;
const volatile __u32 function_syscall = 0;

static __always_inline void function_args(void *ctx, __u64 *args)
{
	const struct pt_regs *regs;
	__u64 first = 0;
	int i;

	if (function_syscall) {
		bpf_get_func_arg(ctx, 0, &first);
		regs = (const struct pt_regs *)first;
		args[0] = BPF_CORE_READ(regs, di);
		args[1] = BPF_CORE_READ(regs, si);
		args[2] = BPF_CORE_READ(regs, dx);
		args[3] = BPF_CORE_READ(regs, r10);
		args[4] = BPF_CORE_READ(regs, r8);
		args[5] = BPF_CORE_READ(regs, r9);
		return;
	}
	for (i = 0; i < POLICY_ARGS; i++)
		if (bpf_get_func_arg(ctx, i, &args[i]))
			args[i] = 0;
}

SEC("fentry")
int policy_fentry(void *ctx)
{
	const struct site_hooks *list = wanted_hooks(function_site);
	__u64 args[POLICY_ARGS];

	if (!list)
		return 0;
	function_args(ctx, args);
	run_function(function_site, list, args, 0);
	return 0;
}

SEC("fexit")
int policy_fexit(void *ctx)
{
	const struct site_hooks *list = wanted_hooks(function_site);
	__u64 args[POLICY_ARGS], ret = 0;

	if (!list)
		return 0;
	function_args(ctx, args);
	bpf_get_func_ret(ctx, &ret);
	run_function(function_site, list, args, (long)ret);
	return 0;
}

/* A syscall hooked with Override where trampolines run: fmod_ret returns an
 * error in place of any function on the kernel's error-injection list,
 * which every syscall is on. `long`: an `int` would be zero-extended into
 * the syscall's 64-bit return. */
SEC("fmod_ret")
long policy_fmod_ret(void *ctx)
{
	const struct site_hooks *list = wanted_hooks(function_site);
	__u64 args[POLICY_ARGS];
	__u32 zero = 0;
	struct scratch *sc;

	if (!list)
		return 0;
	function_args(ctx, args);
	if (!run_function(function_site, list, args, 0))
		return 0;
	sc = bpf_map_lookup_elem(&scratch_map, &zero);
	return sc ? sc->call.error : 0;
}

/* A raw tracepoint's hooks, in an instance loaded per tracepoint with its
 * site in `function_site` (raw_tp has no attach cookie before 6.10): the
 * arguments are TP_PROTO's, read rather than loaded (a load past the
 * tracepoint's own count would make the kernel refuse the attachment). */
SEC("raw_tp")
int policy_raw_tp(void *ctx)
{
	const struct site_hooks *list = wanted_hooks(function_site);
	__u64 args[POLICY_ARGS];

	if (!list)
		return 0;
	bpf_probe_read_kernel(args, sizeof(args), ctx);
	run_function(function_site, list, args, 0);
	return 0;
}

/* A user function's hooks: the same registers, in the process's own
 * memory (string arguments are user strings). */
SEC("uprobe")
int policy_uprobe(struct pt_regs *ctx)
{
	__u64 site = bpf_get_attach_cookie(ctx);
	__u64 args[POLICY_ARGS] = { ctx->di, ctx->si, ctx->dx, ctx->cx, ctx->r8, ctx->r9 };
	const struct site_hooks *list;

	if (site < SITE_UPROBE || site >= SITE_UPROBE + POLICY_UPROBES)
		return 0;
	list = wanted_hooks((__u32)site);
	if (list)
		run_function((__u32)site, list, args, 0);
	return 0;
}

/* An LSM program's result must be 0 or an errno (the verifier checks the
 * range on 6.x kernels): anything else becomes EPERM. Sign-extended to 64
 * bits and compared there, so the verifier sees the bounds it checks. */
static __always_inline long lsm_result(int v)
{
	long r = v;

	if (r > 0 || r < -4095)
		return -1;
	return r;
}

/* By tracepoint site id: where its hooks' values are in the record. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, POLICY_TRACEPOINTS);
	__type(key, __u32);
	__type(value, struct tp_fields);
} tp_fields SEC(".maps");

/* Any tracepoint (Tetragon's `tracepoints`): each attachment's cookie is its
 * site, whose fields user space read from tracefs. */
SEC("tracepoint")
int policy_tracepoint(void *ctx)
{
	__u64 site = bpf_get_attach_cookie(ctx), args[POLICY_ARGS] = {}, base = 0;
	__u32 id = (__u32)site - SITE_TRACEPOINT, i;
	const struct site_hooks *list;
	const struct tp_fields *tf;
	void *record = ctx;

	if (site < SITE_TRACEPOINT || site >= SITE_TRACEPOINT + POLICY_TRACEPOINTS)
		return 0;
	list = wanted_hooks((__u32)site);
	tf = bpf_map_lookup_elem(&tp_fields, &id);
	if (!list || !tf)
		return 0;
	/* The record's address as a plain number: every value below is then a
	 * scalar whatever its field, so the verifier's states merge (a ctx
	 * pointer in some of them made it explore every combination). */
	bpf_probe_read_kernel(&base, sizeof(base), &record);
	for (i = 0; i < POLICY_ARGS; i++) {
		struct tp_field f = tf->f[i];
		__u32 n = f.size > 8 ? 8 : f.size, shift;
		__u64 v = 0;

		if (!n)
			break;
		bpf_probe_read_kernel(&v, n, (void *)(base + f.offset));
		shift = (f.flags & TP_SIGNED) ? 64 - 8 * n : 0;
		v = (__u64)((__s64)(v << shift) >> shift);
		if (f.flags & TP_DATA_LOC)
			v = base + (v & 0xffff);
		args[i] = v;
	}
	run_function((__u32)site, list, args, 0);
	return 0;
}

/* BPF LSM hooks (loaded where BPF LSM runs): an Override's error is the
 * hook's verdict. A hook another LSM already refused stays refused. */
static __always_inline long lsm_verdict(__u32 site, __u64 arg, int ret)
{
	const struct site_hooks *list = wanted_hooks(site);
	__u64 args[POLICY_ARGS] = { arg };
	__u32 zero = 0;
	struct scratch *sc;

	if (ret)
		return lsm_result(ret);
	if (!list || !run_function(site, list, args, 0))
		return 0;
	sc = bpf_map_lookup_elem(&scratch_map, &zero);
	return sc ? lsm_result(sc->call.error) : 0;
}

/* Declared `long` rather than through BPF_PROG's `int`: a 32-bit return
 * would be zero-extended, and the verifier checks the 64-bit range. The
 * context holds the hook's argument, then the previous LSM's result. */
SEC("lsm/file_open")
long policy_lsm_file_open(unsigned long long *ctx)
{
	return lsm_verdict(SITE_LSM_FILE_OPEN, ctx[0], (int)ctx[1]);
}

SEC("lsm/bprm_check_security")
long policy_lsm_bprm_check(unsigned long long *ctx)
{
	return lsm_verdict(SITE_LSM_BPRM_CHECK, ctx[0], (int)ctx[1]);
}

/* A new process runs its parent's executable until it execs. */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(policy_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = parent->tgid, ctgid = child->tgid, *id;
	__u64 mask = 0, *inherited, *bits, *patterns;

	if (ptgid == ctgid)
		return 0;
	id = bpf_map_lookup_elem(&task_binary, &ptgid);
	if (id)
		bpf_map_update_elem(&task_binary, &ctgid, id, BPF_ANY);
	patterns = bpf_map_lookup_elem(&task_patterns, &ptgid);
	if (patterns)
		bpf_map_update_elem(&task_patterns, &ctgid, patterns, BPF_ANY);
	/* The child follows what its parent follows, and the parent itself
	 * when a followChildren selector lists its executable. */
	inherited = bpf_map_lookup_elem(&task_follow, &ptgid);
	if (inherited)
		mask = *inherited;
	bits = id ? bpf_map_lookup_elem(&follow_bits, id) : NULL;
	if (bits)
		mask |= *bits;
	if (mask)
		bpf_map_update_elem(&task_follow, &ctgid, &mask, BPF_ANY);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(policy_exit, struct task_struct *task)
{
	__u32 tgid = task->tgid;

	if (task->pid == tgid) {
		bpf_map_delete_elem(&task_binary, &tgid);
		bpf_map_delete_elem(&task_follow, &tgid);
		bpf_map_delete_elem(&task_patterns, &tgid);
	}
	return 0;
}

/* No site: out of site_hooks' range, so its lookup finds nothing. */
#define SITE_NONE POLICY_SITES

/* Whether a v6 address is IPv4-mapped (::ffff:a.b.c.d). */
static __always_inline bool v4_mapped(const __u32 *a)
{
	return a[0] == 0 && a[1] == 0 && a[2] == bpf_htonl(0xffff);
}

/* An IPv4-mapped address as the IPv4 address it is (others: unset). */
static __always_inline void unmap_v4(__u32 *a)
{
	a[0] = v4_mapped(a) ? a[3] : 0;
	a[1] = 0;
	a[2] = 0;
	a[3] = 0;
}

/* The site of the call's first packet: ip_output's or ip6_output's, for
 * TCP and UDP only (a raw or ping socket's datagrams reach no sendmsg hook,
 * so their connect alone would be half the story). A v6 socket's datagram
 * to an IPv4-mapped address leaves through ip_output, as IPv4. */
static __always_inline __u32 output_site(struct scratch *sc)
{
	struct sock_tuple *p = &sc->site_sock[SITE_SOCK_PACKET];

	if (p->protocol != IPPROTO_TCP && p->protocol != IPPROTO_UDP)
		return SITE_NONE;
	if (p->family == AF_INET6 && v4_mapped((__u32 *)p->daddr)) {
		p->family = AF_INET;
		unmap_v4((__u32 *)p->daddr);
		unmap_v4((__u32 *)p->saddr);
	}
	return p->family == AF_INET ? SITE_IP_OUTPUT : SITE_IP6_OUTPUT;
}

/* The sites a cgroup sock_addr hook runs, one after another. */
#define SOCK_ADDR_SITES 3

struct sock_addr_run {
	struct site_call call;
	__u32 binary;
	__u32 site[SOCK_ADDR_SITES];
};

/* Site `i` of the run: from one bpf_loop, so 6.1's verifier walks the
 * hooks' evaluation once rather than once per site (over a million
 * instructions with four), and takes no plain loop for an infinite one. */
static long sock_addr_site_cb(__u32 i, void *data)
{
	struct sock_addr_run *r = data;
	__u32 site;

	__u64 n = i;

	barrier_var(n);
	if (n >= SOCK_ADDR_SITES)
		return 1;
	site = r->site[n];
	r->call.list = bpf_map_lookup_elem(&site_hooks, &site);
	if (r->call.list && r->call.list->n)
		run_site_as(site, &r->call, r->binary, true);
	return 0;
}

/* What a cgroup sock_addr hook knows, as the sites' views see it: the
 * socket as it is, the address the call names (a sockaddr: on the source
 * side), and the first packet it would send (source as bound: the kernel
 * picks it later; destination the address). The other views start as the
 * socket. Returns NULL when there is nothing to run. */
static __always_inline struct scratch *sock_addr_views(struct bpf_sock_addr *ctx, __u16 family)
{
	struct bpf_sock *sk = ctx->sk;
	struct sock_tuple *t, *a, *p;
	struct scratch *sc;
	__u32 zero = 0;

	sc = bpf_map_lookup_elem(&scratch_map, &zero);
	if (!sc || !sk)
		return NULL;
	t = &sc->site_sock[SITE_SOCK_SOCKET];
	a = &sc->site_sock[SITE_SOCK_ADDRESS];
	__builtin_memset(t, 0, sizeof(*t));
	__builtin_memset(a, 0, sizeof(*a));
	t->family = family;
	t->type = ctx->type;
	t->protocol = ctx->protocol;
	t->state = sk->state;
	t->sport = sk->src_port;
	if (family == AF_INET) {
		__u32 src = sk->src_ip4, dst = ctx->user_ip4;

		__builtin_memcpy(t->saddr, &src, 4);
		__builtin_memcpy(a->saddr, &dst, 4);
	} else {
		/* Context fields by constant offsets only: no loop. */
		__u32 src[4] = { sk->src_ip6[0], sk->src_ip6[1], sk->src_ip6[2], sk->src_ip6[3] };
		__u32 dst[4] = { ctx->user_ip6[0], ctx->user_ip6[1], ctx->user_ip6[2], ctx->user_ip6[3] };

		__builtin_memcpy(t->saddr, src, 16);
		__builtin_memcpy(a->saddr, dst, 16);
	}
	a->family = family;
	a->sport = bpf_ntohs(ctx->user_port);
	__builtin_memcpy(&sc->site_sock[SITE_SOCK_CONNECTING], t, sizeof(*t));
	p = &sc->site_sock[SITE_SOCK_PACKET];
	__builtin_memcpy(p, t, sizeof(*t));
	p->type = 0;
	p->state = 0;
	__builtin_memcpy(p->daddr, a->saddr, 16);
	p->dport = a->sport;
	return sc;
}

static __always_inline void clear_sources(struct site_call *call, __u64 addrlen)
{
	call->raw = call->sc->raw;
	call->raw[0] = 0;
	call->raw[1] = 0;
	call->raw[2] = addrlen;
	call->raw[3] = 0;
	call->raw[4] = 0;
	call->raw[5] = 0;
	call->raw[SRC_RET] = 0;
	call->raw[SRC_BPRM] = 0;
	call->sc->call.deny = 0;
	call->sc->call.error = 0;
}

/* Runs the sites in `r` and decides: 1 allows the call; 0 refuses it
 * (EPERM, or Override's argError through bpf_set_retval where the kernel
 * has it: 5.18; a constant, so older kernels never verify the call). */
static __always_inline int sock_addr_verdict(struct sock_addr_run *r)
{
	r->binary = current_binary();
	bpf_loop(SOCK_ADDR_SITES, sock_addr_site_cb, r, 0);
	if (!r->call.sc->call.deny)
		return 1;
	if (connect_errno && r->call.sc->call.error < 0)
		bpf_set_retval(r->call.sc->call.error);
	return 0;
}

/* connect() of an IPv4 or IPv6 socket, before the kernel sends anything:
 * the hooks of tcp_connect's equivalent (TCP sockets), of
 * security_socket_connect's (any) and of ip_output's (TCP and UDP) run
 * here, with what each would see. A selector that signals or overrides
 * refuses the connection, so nothing leaves; the signal follows when
 * connect() returns. */
static __always_inline int connect_check(struct bpf_sock_addr *ctx, __u16 family)
{
	struct sock_addr_run r;
	struct sock_tuple *t;

	r.call.sc = sock_addr_views(ctx, family);
	if (!r.call.sc)
		return 1;
	/* As tcp_connect and ip_output see the socket: the destination set. */
	t = &r.call.sc->site_sock[SITE_SOCK_CONNECTING];
	__builtin_memcpy(t->daddr, r.call.sc->site_sock[SITE_SOCK_ADDRESS].saddr, 16);
	t->dport = r.call.sc->site_sock[SITE_SOCK_ADDRESS].sport;
	t->state = ctx->protocol == IPPROTO_TCP ? TCP_SYN_SENT : TCP_ESTABLISHED;
	clear_sources(&r.call, family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
	r.site[0] = ctx->type == SOCK_STREAM && ctx->protocol == IPPROTO_TCP ? SITE_TCP_CONNECT : SITE_NONE;
	r.site[1] = SITE_SOCKET_CONNECT;
	r.site[2] = output_site(r.call.sc);
	return sock_addr_verdict(&r);
}

/* A UDP datagram sent to an address (sendto, sendmsg and sendmmsg with a
 * name; a connected socket's were checked at its connect), before it is
 * built: ip_output's hooks. Refused, the send fails and nothing leaves;
 * the signal follows when the syscall returns. */
static __always_inline int sendmsg_check(struct bpf_sock_addr *ctx, __u16 family)
{
	struct sock_addr_run r;

	r.call.sc = sock_addr_views(ctx, family);
	if (!r.call.sc)
		return 1;
	clear_sources(&r.call, 0);
	r.site[0] = output_site(r.call.sc);
	r.site[1] = SITE_NONE;
	r.site[2] = SITE_NONE;
	return sock_addr_verdict(&r);
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

SEC("cgroup/sendmsg4")
int policy_sendmsg4(struct bpf_sock_addr *ctx)
{
	return sendmsg_check(ctx, AF_INET);
}

SEC("cgroup/sendmsg6")
int policy_sendmsg6(struct bpf_sock_addr *ctx)
{
	return sendmsg_check(ctx, AF_INET6);
}

/* The exit of a syscall a cgroup hook refused (connect, sendto, sendmsg,
 * sendmmsg): the signal its hook decided on. */
SEC("tracepoint")
int policy_signal_exit(void *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid(), *sig = bpf_map_lookup_elem(&pending_signal, &tid);

	if (sig) {
		bpf_send_signal(*sig);
		bpf_map_delete_elem(&pending_signal, &tid);
	}
	return 0;
}

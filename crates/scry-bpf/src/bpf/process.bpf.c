// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Process lifecycle: exec, exit (thread-group leader only) and fork.
 *
 * Each hook exists as tp_btf and as raw_tp; user space loads the best kind the
 * kernel accepts (see probe.rs) and disables the others before load. Both kinds
 * share one body, process_handlers.h, compiled twice with a different READ:
 * raw_tp's arguments are untyped, so every field is read with a helper call
 * (BPF_CORE_READ); tp_btf's are BTF-typed, so fields load directly (the
 * verifier turns them into fault-safe loads), which under an exec storm makes
 * the exec hook several times cheaper. Values read by helper are plain numbers
 * to the verifier and cannot be dereferenced directly, so the path walk, which
 * steps through struct mount by container_of, reads by helper in both. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "process.h"
#include "path.h"
#define SOURCE_STATS STAT_COUNT
#include "source.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Set by user space before load. */
const volatile __u32 args_max = 4096;     /* < ARGS_CAP */

/* Make the record types visible in BTF so the skeleton generates Rust twins. */
struct exec_event _exec_event = {};
struct exit_event _exit_event = {};
struct fork_event _fork_event = {};

/* An exec record is ~25 KiB: far over the 512-byte BPF stack, so it is built in
 * a per-CPU slot and only its used prefix is copied into the ring. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct exec_event);
} exec_scratch SEC(".maps");

/* kernfs_node.parent became __parent in 6.15. */
struct kernfs_node___old {
	struct kernfs_node___old *parent;
} __attribute__((preserve_access_index));

#define S_ISUID 0004000
#define S_ISGID 0002000
#define S_IXGRP 0000010
#define PF_KTHREAD 0x00200000
#define SIGNAL_GROUP_EXIT 0x00000004


static __always_inline int output(void *rec, __u64 size, __u32 sent, __u32 lost)
{
	__u64 flags = wakeup_flag();

	if (bpf_ringbuf_output(&events, rec, size, flags))
		count(lost);
	else
		count(sent);
	return 0;
}

#define READ BPF_CORE_READ
#define VARIANT(name) name##_raw
#include "process_handlers.h"
#undef READ
#undef VARIANT

/* a->b->c from READ(a, b, c), with CO-RE relocations from vmlinux.h's
 * preserve_access_index attribute. */
#define READ(src, ...) (___arrow((src), ##__VA_ARGS__))
#define VARIANT(name) name##_btf
#include "process_handlers.h"
#undef READ
#undef VARIANT

SEC("tp_btf/sched_process_exec")
int BPF_PROG(exec_tp_btf, struct task_struct *p)
{
	return handle_exec_btf(p);
}

SEC("raw_tp/sched_process_exec")
int BPF_PROG(exec_raw_tp, struct task_struct *p)
{
	return handle_exec_raw(p);
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(exit_tp_btf, struct task_struct *p)
{
	return handle_exit_btf(p);
}

SEC("raw_tp/sched_process_exit")
int BPF_PROG(exit_raw_tp, struct task_struct *p)
{
	return handle_exit_raw(p);
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(fork_tp_btf, struct task_struct *parent, struct task_struct *child)
{
	return handle_fork_btf(parent, child);
}

SEC("raw_tp/sched_process_fork")
int BPF_PROG(fork_raw_tp, struct task_struct *parent, struct task_struct *child)
{
	return handle_fork_raw(parent, child);
}

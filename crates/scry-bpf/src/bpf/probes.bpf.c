// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* One do-nothing program per hook kind. At start user space loads and attaches
 * each alone: a kind can pass the verifier and still be refused at attach (e.g.
 * fentry under some lockdown setups), so only a real attach proves it works. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} probe_ring SEC(".maps");

/* vfs_read: exported, never inlined and in every kernel's BTF. */
SEC("fentry/vfs_read")
int BPF_PROG(probe_fentry)
{
	return 0;
}

/* getpid: a syscall's function, modifiable where syscalls are on the
 * error-injection list. */
SEC("fmod_ret/__x64_sys_getpid")
long BPF_PROG(probe_syscall_override)
{
	return 0;
}

SEC("kprobe/vfs_read")
int probe_kprobe(void *ctx)
{
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(probe_tp_btf)
{
	return 0;
}

SEC("raw_tp/sched_process_fork")
int probe_raw_tp(void *ctx)
{
	return 0;
}

SEC("tracepoint/sched/sched_process_fork")
int probe_tracepoint(void *ctx)
{
	return 0;
}

SEC("uprobe")
int probe_uprobe(void *ctx)
{
	return 0;
}

SEC("lsm/file_open")
int BPF_PROG(probe_lsm)
{
	return 0;
}

SEC("perf_event")
int probe_perf_event(void *ctx)
{
	return 0;
}

/* The ring buffer kind: a map of that type and a program that writes to it. */
SEC("tracepoint/sched/sched_process_fork")
int probe_ringbuf(void *ctx)
{
	__u32 *v = bpf_ringbuf_reserve(&probe_ring, sizeof(*v), 0);

	if (v)
		bpf_ringbuf_discard(v, 0);
	return 0;
}

/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* What every source program has: its ring buffer, the wakeup threshold, and
 * per-CPU counters. Define SOURCE_STATS (the number of counters) before
 * including this. */
#ifndef SCRY_SOURCE_H
#define SCRY_SOURCE_H

/* Unread bytes in the ring above which a record wakes the reader (set by
 * user space before load). Below it the reader is not woken: it drains the
 * ring on its own short timer. A wakeup per record costs an irq_work and a
 * context switch (several microseconds each in a VM), which under an exec
 * storm costs more than everything else together. */
const volatile __u64 wakeup_bytes = 1 << 20;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22); /* resized by user space */
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SOURCE_STATS);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

static __always_inline void count(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &idx);

	if (v)
		*v += 1;
}

/* The flag for a ring submit: wake the reader only past wakeup_bytes. */
static __always_inline __u64 wakeup_flag(void)
{
	return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
}

#endif

/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* TracingPolicy hooks evaluated in the kernel: the layouts user space fills
 * (compiled selectors) and the record the programs send. Sizes follow
 * Tetragon's limits, which the policy parser enforces before anything gets
 * here. */
#ifndef SCRY_POLICY_H
#define SCRY_POLICY_H

#define POLICY_MAX_HOOKS 256      /* hooks over all policies */
#define POLICY_HOOKS_PER_CALL 8   /* hooks on one syscall */
#define POLICY_SELECTORS 5        /* per hook */
#define POLICY_ARG_MATCHES 5      /* matchArgs per selector */
#define POLICY_VALUES 4           /* values per integer operator */
#define POLICY_BINARIES 8         /* matchBinaries values per selector */
#define POLICY_BINARY_SIZE 256    /* a binary path, NUL-padded: the map key */
#define POLICY_ARGS 6             /* syscall arguments */
#define POLICY_SYSCALLS 512       /* x86_64 syscall numbers are below */

#define POLICY_CONNECT_HOOKS 16   /* connect hooks over all policies */
#define POLICY_PORTS 8            /* DPort values per selector */

/* Integer operators of matchArgs. */
enum policy_op {
	OP_EQUAL = 1,
	OP_NOT_EQUAL,
	OP_GREATER,
	OP_LESS,
	OP_MASK, /* any bit of any value set */
};

/* matchBinaries operators. */
enum policy_bin_op {
	BIN_NONE = 0,
	BIN_IN,
	BIN_NOT_IN,
};

/* What a matching selector does. */
#define ACTION_POST 1
#define ACTION_SIGNAL 2 /* send `signal` (Sigkill is signal 9) */

struct arg_match {
	__u8 index; /* syscall argument, 0-5 */
	__u8 op;    /* enum policy_op */
	__u8 nvalues;
	__u8 pad[5];
	__u64 values[POLICY_VALUES];
};

struct selector {
	__u32 nargs;
	__u32 bin_op; /* enum policy_bin_op */
	__u32 nbinaries;
	__u32 actions; /* ACTION_* bits */
	__u32 signal;
	__u32 pad;
	__u32 binaries[POLICY_BINARIES]; /* ids in the binary_ids map */
	struct arg_match args[POLICY_ARG_MATCHES];
};

struct hook {
	__u32 policy_id;
	__u32 enabled;
	__u32 nselectors; /* 0: every call matches and is posted */
	__u32 pad;
	struct selector selectors[POLICY_SELECTORS];
};

/* DPort / NotDPort on the address a socket connects to. */
enum policy_port_op {
	PORT_NONE = 0,
	PORT_IN,
	PORT_NOT_IN,
};

/* A tcp_connect hook's selector, evaluated in cgroup connect4/connect6:
 * before the kernel sends anything. */
struct connect_selector {
	__u32 port_op; /* enum policy_port_op */
	__u32 nports;
	__u16 ports[POLICY_PORTS];
	__u32 bin_op;
	__u32 nbinaries;
	__u32 binaries[POLICY_BINARIES];
	__u32 actions;
	__u32 signal;
};

struct connect_hook {
	__u32 policy_id;
	__u32 enabled;
	__u32 nselectors; /* 0: every connect is posted */
	__u32 pad;
	struct connect_selector selectors[POLICY_SELECTORS];
};

/* The hooks on one syscall, by index in the hooks array. */
struct call_hooks {
	__u32 n;
	__u32 hook[POLICY_HOOKS_PER_CALL];
};

struct binary_key {
	char path[POLICY_BINARY_SIZE];
};

/* A hook's selector matched and its action ran. */
struct policy_event {
	__u64 ktime;
	__u32 pid; /* tgid */
	__u32 tid;
	__u32 hook;
	__u32 policy_id;
	__u32 syscall;
	__u32 selector; /* which one matched */
	__u32 actions;
	__u32 signal;
	__s32 signal_error; /* bpf_send_signal's result */
	__u32 binary;       /* the process's id in binary_ids, 0 when unlisted */
	__u64 args[POLICY_ARGS];
	/* Connect hooks: the destination (syscall is connect's number). */
	__u32 connect;  /* 1 for a connect hook's record */
	__u16 family;   /* AF_INET, AF_INET6 */
	__u16 dport;
	__u8 daddr[16]; /* IPv4 in the first 4 bytes */
};

/* Counters, as for every source: records sent and lost. */
#define PSTAT_SENT 0
#define PSTAT_LOST 1
#define PSTAT_COUNT 2

#endif

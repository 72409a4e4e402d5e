/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* TracingPolicy hooks evaluated in the kernel: the layouts user space fills
 * (compiled selectors) and the record the programs send. Sizes follow
 * Tetragon's limits, which the policy parser enforces before anything gets
 * here. */
#ifndef SCRY_POLICY_H
#define SCRY_POLICY_H

#define POLICY_MAX_HOOKS 256      /* hooks over all policies */
#define POLICY_HOOKS_PER_SITE 8   /* hooks on one site */
#define POLICY_SELECTORS 5        /* per hook */
#define POLICY_ARG_MATCHES 5      /* matchArgs per selector */
#define POLICY_VALUES 4           /* values per integer operator */
#define POLICY_BINARIES 8         /* matchBinaries values per selector */
#define POLICY_BINARY_SIZE 256    /* a binary path, NUL-padded: the map key */
#define POLICY_ARGS 6             /* a hook's arguments */
#define POLICY_SYSCALLS 512       /* x86_64 syscall numbers are below */

/* Where hooks run, as an index into site_hooks: a syscall's entry (its
 * number), its exit (SITE_EXIT + number), exec (sched_process_exec), a
 * kernel function's kprobe (SITE_KPROBE + the id user space gave the
 * function, the attachment's cookie), a BPF LSM hook, or a user function's
 * uprobe (SITE_UPROBE + its id, the cookie). */
#define SITE_EXIT POLICY_SYSCALLS
#define SITE_EXEC (2 * POLICY_SYSCALLS)
#define SITE_KPROBE (SITE_EXEC + 1)
#define POLICY_KPROBES 64
#define SITE_LSM_FILE_OPEN (SITE_KPROBE + POLICY_KPROBES)
#define SITE_LSM_BPRM_CHECK (SITE_LSM_FILE_OPEN + 1)
#define SITE_UPROBE (SITE_LSM_BPRM_CHECK + 1)
#define POLICY_UPROBES 64
#define SITE_TRACEPOINT (SITE_UPROBE + POLICY_UPROBES)
#define POLICY_TRACEPOINTS 32
/* connect() of an IPv4/IPv6 socket, from cgroup connect4/connect6 before
 * anything is sent: as tcp_connect (TCP sockets) and as
 * security_socket_connect (any) see it. */
#define SITE_TCP_CONNECT (SITE_TRACEPOINT + POLICY_TRACEPOINTS)
#define SITE_SOCKET_CONNECT (SITE_TCP_CONNECT + 1)
/* A flow's first packet, as ip_output (IPv4) and ip6_output (IPv6) see it,
 * before it exists: TCP and UDP connect() from cgroup connect4/connect6,
 * and UDP datagrams sent to an address from cgroup sendmsg4/sendmsg6. */
#define SITE_IP_OUTPUT (SITE_SOCKET_CONNECT + 1)
#define SITE_IP6_OUTPUT (SITE_IP_OUTPUT + 1)
/* A kernel function's return (kretprobe), by the same id as its kprobe:
 * the hooks see the arguments kept at its entry and the return value. */
#define SITE_KRETPROBE (SITE_IP6_OUTPUT + 1)
/* A raw tracepoint, by the id user space gave it (set in the instance of
 * the program loaded for it). */
#define SITE_RAW_TRACEPOINT (SITE_KRETPROBE + POLICY_KPROBES)
#define POLICY_RAW_TRACEPOINTS 16
#define POLICY_SITES (SITE_RAW_TRACEPOINT + POLICY_RAW_TRACEPOINTS)

/* Where a tracepoint site's raw values are in its record (from the
 * tracepoint's tracefs format): size 0 ends the list. A __data_loc field
 * holds its data's offset (low 16 bits): the value is then the data's
 * address. */
struct tp_field {
	__u16 offset;
	__u8 size; /* 1, 2, 4 or 8 */
	__u8 flags; /* TP_SIGNED, TP_DATA_LOC */
};

#define TP_SIGNED 1
#define TP_DATA_LOC 2

struct tp_fields {
	struct tp_field f[POLICY_ARGS];
};

#define POLICY_STRS 2             /* string and path arguments per hook */
#define POLICY_STR_SIZE 4096      /* bytes kept of each (a power of two) */
#define POLICY_MATCH_SIZE 256     /* bytes Equal compares */
#define POLICY_PREFIX_SIZE 254    /* bytes Prefix compares: an LPM key holds 256 */
#define POLICY_POSTFIX_SIZE 128   /* bytes Postfix compares */

#define POLICY_SOCKS 2            /* socket and address arguments per hook */
#define POLICY_PORT_RANGES 8      /* port ranges per matchArgs entry: two per value */

/* matchArgs operators: on integers, then on strings and paths. */
enum policy_op {
	OP_EQUAL = 1,
	OP_NOT_EQUAL,
	OP_GREATER,
	OP_LESS,
	OP_MASK, /* any bit of any value set */
	OP_STR_EQUAL,
	OP_STR_NOT_EQUAL,
	OP_PREFIX,
	OP_NOT_PREFIX,
	OP_POSTFIX,
	OP_NOT_POSTFIX,
	/* On sockets and addresses: */
	OP_SPORT,
	OP_NOT_SPORT,
	OP_SPORT_PRIV, /* below 1024 */
	OP_NOT_SPORT_PRIV,
	OP_DPORT,
	OP_NOT_DPORT,
	OP_DPORT_PRIV,
	OP_NOT_DPORT_PRIV,
	OP_SADDR, /* in a CIDR of the match's set (addr_lpm) */
	OP_NOT_SADDR,
	OP_DADDR,
	OP_NOT_DADDR,
	OP_PROTOCOL, /* equal to a value */
	OP_FAMILY,
	OP_STATE,
};

/* matchBinaries operators. */
enum policy_bin_op {
	BIN_NONE = 0,
	BIN_IN,
	BIN_NOT_IN,
	BIN_MATCH,     /* Prefix, Postfix: the executable's pattern bits have pattern_bit */
	BIN_NOT_MATCH, /* NotPrefix, NotPostfix */
};

/* What a hook argument is made from. */
enum arg_kind {
	ARG_INT = 0,     /* the raw value */
	ARG_USER_STRING, /* a NUL-terminated string in the caller's memory */
	ARG_FD,          /* a descriptor of the calling process: its file's path */
	ARG_FILE,        /* a struct file *: its path */
	ARG_BPRM,        /* a struct linux_binprm *: the executed file's path */
	ARG_PATH,        /* a struct path *: its text */
	ARG_KERNEL_STRING, /* a NUL-terminated string in kernel memory */
	ARG_FILENAME,    /* a struct filename *: its name */
	ARG_SOCK,        /* a struct sock * */
	ARG_SOCKET,      /* a struct socket *: its sock */
	ARG_SOCKADDR,    /* a struct sockaddr * in kernel memory */
	ARG_USER_SOCKADDR, /* a struct sockaddr * in the caller's memory */
	ARG_SITE_SOCK,   /* a connect or output site's socket, address or packet: `source` says which */
	ARG_CRED,        /* a struct cred * */
	ARG_CURRENT_CRED, /* the calling task's credentials (after the call, at an exit) */
	ARG_KERNEL_CAP,  /* a kernel_cap_t *: its 64 bits, compared as an integer */
	ARG_USER_BUF,    /* bytes in the caller's memory, as many as source `size` says */
	ARG_KERNEL_BUF,  /* the same in kernel memory */
	ARG_USER_IOVEC,  /* a struct iovec array in the caller's memory, `size` entries */
};

#define POLICY_IOVECS 64 /* iovec entries a char_iovec argument reads */

/* A cred argument: ids, securebits and capability sets. */
struct cred_info {
	__u32 uid, gid, suid, sgid, euid, egid, fsuid, fsgid;
	__u32 securebits;
	__u32 pad;
	__u64 permitted, effective, inheritable;
};

/* What a connect or output site knows (ARG_SITE_SOCK's source): the socket
 * as tcp_connect and ip_output see it (destination set; TCP_SYN_SENT for
 * TCP, TCP_ESTABLISHED for a connected UDP socket), the socket before the
 * call, the address it names, and the first packet (skb). */
#define SITE_SOCK_CONNECTING 0
#define SITE_SOCK_SOCKET 1
#define SITE_SOCK_ADDRESS 2
#define SITE_SOCK_PACKET 3
#define SITE_SOCKS 4

/* A socket or address argument. An address (sockaddr) fills the source
 * side, as Tetragon's does. IPv4 addresses are in the first 4 bytes. */
struct sock_tuple {
	__u16 family;
	__u16 type;
	__u16 protocol;
	__u16 sport; /* host order */
	__u16 dport;
	__u8 state;
	__u8 pad[5];
	__u8 saddr[16];
	__u8 daddr[16];
};

/* Where a hook argument's raw value comes from: a syscall's or kernel
 * function's (or user function's) argument (0-5), the syscall's return
 * value, or exec's linux_binprm. */
#define SRC_RET 6
#define SRC_BPRM 7
#define POLICY_SOURCES 8

#define STR_NONE 0xff

struct arg_spec {
	__u8 source; /* 0-5, SRC_RET, SRC_BPRM; ARG_SITE_SOCK: SITE_SOCK_* */
	__u8 kind;   /* enum arg_kind */
	__u8 slot;   /* string slot (< POLICY_STRS) or socket slot (< POLICY_SOCKS) */
	__u8 tail;   /* 1: Postfix compares it (keep its end reversed) */
	__u8 size;   /* buffers: the source of their length (iovecs: their count) */
	__u8 pad[3];
};

/* What a matching selector does. */
#define ACTION_POST 1
#define ACTION_SIGNAL 2 /* send `signal` (Sigkill is signal 9) */
#define ACTION_OVERRIDE 4 /* the function returns `error` instead of running */

struct arg_match {
	__u8 index; /* the hook's argument */
	__u8 op;    /* enum policy_op */
	__u8 nvalues; /* port operators: ranges, two per value (low, high as u16s) */
	__u8 pad;
	__u32 set; /* string and address operators: the values' set in their map */
	__u64 values[POLICY_VALUES];
};

#define POLICY_PID_FILTERS 2  /* matchPIDs entries per selector */
#define POLICY_NS_FILTERS 10  /* matchNamespaces entries per selector */
#define POLICY_CAP_FILTERS 3  /* matchCapabilities entries per selector */
#define POLICY_SET_VALUES 4   /* values per matchPIDs / matchNamespaces entry */

/* matchPIDs: the process's id (in its own PID namespace with ns_pid) in or
 * not in `pids`, or with followForks a descendant of one of them. */
struct pid_filter {
	__u8 op; /* BIN_IN, BIN_NOT_IN */
	__u8 ns_pid;
	__u8 n;
	__u8 pad[5];
	/* followForks: this filter's bit in the masks of the listed
	 * processes and their descendants (task_follow); 0 without. */
	__u64 follow_bit;
	__u32 pids[POLICY_SET_VALUES];
};

/* Namespace types of matchNamespaces. */
enum ns_type {
	NS_UTS = 0,
	NS_IPC,
	NS_MNT,
	NS_PID,
	NS_PID_FOR_CHILDREN,
	NS_NET,
	NS_TIME,
	NS_TIME_FOR_CHILDREN,
	NS_CGROUP,
	NS_USER,
};

/* matchNamespaces: the process's namespace of `ns` (its inode) in or not
 * in `inums`. */
struct ns_filter {
	__u8 ns; /* enum ns_type */
	__u8 op;
	__u8 n;
	__u8 pad;
	__u32 inums[POLICY_SET_VALUES];
};

/* matchCapabilities: In holds when the set has any of `mask`'s bits, NotIn
 * when it has none. Without ns_cap, capabilities held only inside a user
 * namespace (not the host's) do not count. */
struct cap_filter {
	__u8 set; /* 0 effective, 1 inheritable, 2 permitted */
	__u8 op;
	__u8 ns_cap;
	__u8 pad[5];
	__u64 mask;
};

/* rateLimit scopes: whose repeats a window suppresses. */
enum rate_scope {
	RATE_THREAD = 0,
	RATE_PROCESS,
	RATE_GLOBAL,
};

struct selector {
	__u32 nargs;
	__u32 bin_op; /* enum policy_bin_op */
	__u32 nbinaries;
	__u32 actions; /* ACTION_* bits */
	__u32 signal;
	__u32 rate_ms;    /* Post's rateLimit window; 0: none */
	__u32 rate_scope; /* enum rate_scope */
	__s32 error;      /* Override's return value */
	__u32 binaries[POLICY_BINARIES]; /* ids in the binary_ids map */
	struct arg_match args[POLICY_ARG_MATCHES];
	__u8 npids;
	__u8 nns;
	__u8 ncaps;
	__u8 pad2[5];
	/* matchBinaries followChildren: this selector's bit in the masks of
	 * the listed binaries' descendants (task_follow); 0 without. */
	__u64 follow_bit;
	/* matchBinaries Prefix/Postfix: this selector's bit in the pattern
	 * masks of the executables its values match (task_patterns). */
	__u64 pattern_bit;
	struct pid_filter pids[POLICY_PID_FILTERS];
	struct ns_filter ns[POLICY_NS_FILTERS];
	struct cap_filter caps[POLICY_CAP_FILTERS];
};

struct hook {
	__u32 policy_id;
	__u32 enabled;
	__u32 nselectors; /* 0: every call matches and is posted */
	__u32 nargs;
	__u32 skip_failed; /* exit hooks: only calls that returned >= 0 */
	__u32 scoped; /* only in the cgroups policy_scope lists for its policy */
	struct arg_spec args[POLICY_ARGS];
	/* Which argument fills each string slot (STR_NONE: none). */
	__u8 str_arg[POLICY_STRS];
	/* Which argument fills each socket slot, and the cred (STR_NONE: none). */
	__u8 sock_arg[POLICY_SOCKS];
	__u8 cred_arg;
	__u8 deref; /* 1: an argument is a kernel_cap_t pointer to read through */
	__u8 data_arg; /* the maxData buffer argument (STR_NONE: none) */
	__u8 pad2;
	struct selector selectors[POLICY_SELECTORS];
};

/* A cgroup (v2 id) in a policy's workload scope (podSelector,
 * containerSelector, a namespaced policy's namespace). */
struct scope_key {
	__u32 policy_id;
	__u32 pad;
	__u64 cgroup;
};

/* What a rate-limited post is, for "the same event": the hook and
 * selector, whose (thread, process or nobody), and the first bytes of each
 * argument (Tetragon compares the first 40). */
#define RATE_STR_BYTES 40

struct rate_key {
	__u32 hook;
	__u32 selector;
	__u32 scope_id;
	__u32 pad;
	__u64 args[POLICY_ARGS]; /* integer arguments; 0 for strings */
	char str[POLICY_STRS * RATE_STR_BYTES]; /* flat: user space's skeleton wants 1-D arrays */
};

/* String operator values: Equal in a hash (zero-padded), Prefix and
 * Postfix (reversed) in LPM tries, each value tagged with its set (in the
 * tries a u16: the kernel caps an LPM key's data at 256 bytes). */
struct str_key {
	__u32 set;
	char s[POLICY_MATCH_SIZE];
};

struct prefix_key {
	__u32 prefixlen; /* 16 (the set) + 8 per byte */
	__u16 set;
	char s[POLICY_PREFIX_SIZE];
};

struct postfix_key {
	__u32 prefixlen;
	__u16 set;
	char s[POLICY_POSTFIX_SIZE]; /* reversed: last byte first */
};

/* SAddr/DAddr values: CIDRs in an LPM trie, tagged with their set; IPv4
 * as IPv4-mapped IPv6 (::ffff:a.b.c.d), so one trie holds both. */
struct addr_key {
	__u32 prefixlen; /* 32 (the set) + the CIDR's bits */
	__u32 set;
	__u8 addr[16];
};

/* The hooks on one site, by index in the hooks array. */
struct site_hooks {
	__u32 n;
	/* 1: every selector of every hook here has matchBinaries In (without
	 * followChildren), so a process running no listed executable skips
	 * the site before its arguments are read. */
	__u32 binary_gate;
	__u32 hook[POLICY_HOOKS_PER_SITE];
};

struct binary_key {
	char path[POLICY_BINARY_SIZE];
};

/* matchBinaries Prefix and Postfix values in LPM tries, each entry's value
 * the pattern bits of every value that is a prefix (postfix) of it: a
 * lookup finds the longest only. */
struct bin_prefix_key {
	__u32 prefixlen; /* 8 per byte */
	char path[POLICY_BINARY_SIZE];
};

struct bin_postfix_key {
	__u32 prefixlen;
	char path[POLICY_POSTFIX_SIZE]; /* reversed: last byte first */
};

/* What a ring record is (its first field). */
#define RECORD_EVENT 0
#define RECORD_DATA 1

#define POLICY_DATA_CHUNK 16384 /* bytes of a maxData buffer per data record */
#define POLICY_DATA_MAX 327680  /* bytes of a maxData buffer kept (Tetragon keeps ~327 KB) */

/* A maxData buffer's bytes beyond the event's own (the first 4095), sent
 * in records right before the event, from the same program run. */
struct policy_chunk {
	__u32 kind; /* RECORD_DATA */
	__u32 tid;
	__u64 id;     /* the event's ktime */
	__u32 offset; /* of bytes[0] in the buffer */
	__u32 len;
	char bytes[POLICY_DATA_CHUNK];
};

/* A hook's selector matched and its action ran. String arguments follow
 * the record: str_len[0] bytes of the first, then str_len[1] of the second. */
struct policy_event {
	__u32 kind;     /* RECORD_EVENT */
	__u32 data_len; /* a maxData buffer's bytes sent before it in data records */
	__u64 ktime;
	__u32 pid; /* tgid */
	__u32 tid;
	__u32 hook;
	__u32 policy_id;
	__u32 site;     /* the site's index */
	__u32 selector; /* which one matched */
	__u32 actions;
	__u32 signal;
	__s32 signal_error; /* bpf_send_signal's result */
	__u32 binary;       /* the process's id in binary_ids, 0 when unlisted */
	__u64 args[POLICY_ARGS]; /* by hook argument: raw values */
	__s64 ret;               /* exit hooks: the syscall's return value */
	__u16 str_len[POLICY_STRS];
	__u8 str_trunc[POLICY_STRS]; /* 1: longer than kept, or unresolvable */
	__u8 nstr;
	__u8 nsock;
	__u8 ncred;
	__u8 data_slot; /* the string slot data records continue */
	struct sock_tuple sock[POLICY_SOCKS]; /* by socket slot */
	struct cred_info cred;
};

/* Counters, as for every source: records sent and lost. */
#define PSTAT_SENT 0
#define PSTAT_LOST 1
#define PSTAT_COUNT 2

/* Per hook (by slot): posts a rateLimit window suppressed. */
struct hook_stats {
	__u64 rate_limited;
};

#endif

/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Records the process source sends to user space. The Rust side reads these
 * through the skeleton's generated `types`, so the layout is defined once, here. */
#ifndef SCRY_PROCESS_H
#define SCRY_PROCESS_H

#define EVENT_EXEC 1
#define EVENT_EXIT 2
#define EVENT_FORK 3

/* Flag bits, numbered as Tetragon numbers them so user space can name them alike. */
#define FLAG_EXECVE 0x01
#define FLAG_TRUNC_ARGS 0x10
#define FLAG_ERROR_FILENAME 0x100
#define FLAG_ERROR_ARGS 0x200
#define FLAG_NO_CWD 0x800
#define FLAG_ROOT_CWD 0x1000
#define FLAG_ERROR_CWD 0x2000
/* Not Tetragon bits: path walks that hit the depth or buffer bound. */
#define FLAG_TRUNC_FILENAME 0x100000
#define FLAG_TRUNC_CWD 0x200000

/* Binary properties. */
#define BIN_SETUID 0x1
#define BIN_SETGID 0x2
#define BIN_UNLINKED 0x4

/* Sizes. PATH_SIZE bounds one resolved path (binary, cwd); ARGS_CAP bounds argv
 * whatever the configured size (a power of two so offsets can be masked for the
 * verifier). */
#define PATH_SIZE 4096
#define ARGS_CAP 16384
#define CGROUP_NAME_SIZE 128
#define DATA_SIZE (PATH_SIZE * 2 + ARGS_CAP)

/* Namespaces, in the order user space names them. */
#define NS_UTS 0
#define NS_IPC 1
#define NS_MNT 2
#define NS_PID 3
#define NS_PID_FOR_CHILDREN 4
#define NS_NET 5
#define NS_TIME 6
#define NS_TIME_FOR_CHILDREN 7
#define NS_CGROUP 8
#define NS_USER 9
#define NS_COUNT 10

/* Kernel-side counters (per-CPU array indices). */
#define STAT_EXEC_SENT 0
#define STAT_EXEC_LOST 1
#define STAT_EXIT_SENT 2
#define STAT_EXIT_LOST 3
#define STAT_FORK_SENT 4
#define STAT_FORK_LOST 5
#define STAT_COUNT 6

struct cgroup_ref {
	__u64 id;
	char name[CGROUP_NAME_SIZE];        /* leaf cgroup directory name */
	char parent_name[CGROUP_NAME_SIZE]; /* its parent's: holds the pod uid on cgroupfs layouts */
};

struct exec_event_header {
	__u8 kind;
	__u8 pad[3];
	__u32 pid;   /* tgid */
	__u32 tid;
	__u32 ppid;  /* real parent's tgid */
	__u64 ktime; /* CLOCK_MONOTONIC ns at exec */
	__u32 uid, gid, euid, egid, suid, sgid, fsuid, fsgid;
	__u32 auid;
	__u32 flags;
	__u64 cap_effective, cap_permitted, cap_inheritable;
	__u32 ns[NS_COUNT];
	__u32 bin_props;
	__u32 file_uid, file_gid; /* owner of the executed file (setuid/setgid source) */
	__u32 file_nlink;
	__u64 file_ino;
	struct cgroup_ref cgrp_v2;
	struct cgroup_ref cgrp_v1;
	__u32 bin_len, cwd_len, args_len;
	__u32 args_orig_len;
};

struct exec_event {
	struct exec_event_header h;
	/* binary path, then cwd, then argv (NUL-separated) */
	char data[DATA_SIZE];
};

struct exit_event {
	__u8 kind;
	__u8 pad[3];
	__u32 pid;
	__u32 tid;
	__u32 exit_code; /* wait(2) status: code << 8 | signal */
	__u64 ktime;
};

struct fork_event {
	__u8 kind;
	__u8 pad[3];
	__u32 pid;   /* child tgid */
	__u32 ppid;  /* parent tgid */
	__u32 pad2;
	__u64 ktime; /* child's start_time */
};

#endif

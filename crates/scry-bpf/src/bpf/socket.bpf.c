// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Socket data tracing on syscall tracepoints: connect/accept/close and every
 * read/write-family syscall on TCP and UDP sockets (IPv4, IPv6).
 *
 * Syscall tracepoints exist on every kernel with tracing, including kernels
 * without kprobes or fentry (this project's CI kernel is one). The enter hook
 * saves the arguments per thread; the exit hook, knowing how many bytes moved,
 * resolves the fd to its socket through the task's fd table, infers the
 * protocol from the first bytes, and copies the data into the ring.
 *
 * Everything is read with helper calls (BPF_CORE_READ, probe_read): classic
 * tracepoint programs get untyped pointers. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "socket.h"
#define SOURCE_STATS SSTAT_COUNT
#include "source.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Set by user space before load. */
const volatile __u32 data_max = DATA_CAP; /* bytes copied per record, <= DATA_CAP */
const volatile __u32 infer_tries = 8;         /* messages looked at before giving up on a protocol */

struct sock_open_event _open_event = {};
struct sock_close_event _close_event = {};
struct sock_data_event _data_event = {};

#define AF_INET 2
#define AF_INET6 10
#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define EINPROGRESS 115

/* Connection flags (conn_info.flags). */
#define CONN_DISABLED 0x1 /* user space asked to stop copying data */

struct conn_key {
	__u32 tgid;
	__u32 fd;
};

struct conn_info {
	__u64 generation;
	__u64 wr_bytes;
	__u64 rd_bytes;
	__u64 reported; /* wr_bytes + rd_bytes at the last SOCK_EVENT_STATS */
	__u8 role;
	__u8 protocol;
	__u8 tries;
	__u8 flags;
	__u8 sock_type;
	__u8 pad[3];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct conn_key);
	__type(value, struct conn_info);
} conns SEC(".maps");

/* Connections user space stopped parsing (it failed to parse them, or they are
 * its own), by conn_id: data is no longer copied, bytes still counted. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct conn_id);
	__type(value, __u8);
} disabled SEC(".maps");

#define ARGS_BUF 1   /* buf, len */
#define ARGS_IOV 2   /* iov, iovcnt */
#define ARGS_MSG 3   /* struct user_msghdr * */
#define ARGS_MMSG 4  /* struct mmsghdr *: the first message is looked at */
#define ARGS_COUNT 5 /* sendfile/splice: bytes only */

struct data_args {
	__u64 fd;
	__u64 ptr;
	__u64 count;
	__u64 addr; /* sendto/recvfrom sockaddr */
	__u32 kind;
	__u32 dir;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct data_args);
} inflight SEC(".maps");

/* A data record is 16 KiB: over the 512-byte stack, so it is built per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sock_data_event);
} data_scratch SEC(".maps");

/* The socket behind fd in the current process, or NULL for any other file. */
static __always_inline struct sock *sock_of(__u32 fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	if (!fdt || fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *file = NULL;
	if (bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]) || !file)
		return NULL;
	umode_t mode = BPF_CORE_READ(file, f_inode, i_mode);
	if ((mode & S_IFMT) != S_IFSOCK)
		return NULL;
	struct socket *sock = BPF_CORE_READ(file, private_data);
	return sock ? BPF_CORE_READ(sock, sk) : NULL;
}

static __always_inline void read_addrs(struct sock *sk, struct sock_addr *local, struct sock_addr *remote)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	local->family = remote->family = family;
	local->port = BPF_CORE_READ(sk, __sk_common.skc_num);
	remote->port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	/* Sized reads: addr is an array, and BPF_CORE_READ_INTO would read one element. */
	if (family == AF_INET) {
		bpf_core_read(local->addr, 4, &sk->__sk_common.skc_rcv_saddr);
		bpf_core_read(remote->addr, 4, &sk->__sk_common.skc_daddr);
	} else {
		bpf_core_read(local->addr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
		bpf_core_read(remote->addr, 16, &sk->__sk_common.skc_v6_daddr);
	}
}

/* TCP and UDP over IPv4 and IPv6: stream and datagram INET sockets. */
static __always_inline bool traced_family(struct sock *sk)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	__u16 type = BPF_CORE_READ(sk, sk_type);
	return (family == AF_INET || family == AF_INET6) && (type == 1 || type == 2);
}

static __always_inline void send_open(struct conn_key *key, struct conn_info *ci, struct sock *sk, __u8 flags)
{
	struct sock_open_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(SSTAT_CONTROL_LOST);
		return;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->kind = SOCK_EVENT_OPEN;
	e->role = ci->role;
	e->sock_type = ci->sock_type;
	e->flags = flags;
	e->id.tgid = key->tgid;
	e->id.fd = key->fd;
	e->id.generation = ci->generation;
	e->ts = bpf_ktime_get_ns();
	read_addrs(sk, &e->local, &e->remote);
	bpf_ringbuf_submit(e, wakeup_flag());
	count(SSTAT_CONTROL_SENT);
}

/* Starts tracking a connection: at connect/accept with its role, or at its
 * first read/write (a connection older than the agent) with an unknown one. */
static __always_inline struct conn_info *open_conn(__u32 tgid, __u32 fd, struct sock *sk, __u8 role, __u8 flags)
{
	struct conn_key key = { .tgid = tgid, .fd = fd };
	struct conn_info ci = {};
	ci.generation = bpf_ktime_get_ns();
	ci.role = role;
	ci.sock_type = BPF_CORE_READ(sk, sk_type);
	if (bpf_map_update_elem(&conns, &key, &ci, BPF_ANY))
		return NULL;
	send_open(&key, &ci, sk, flags);
	return bpf_map_lookup_elem(&conns, &key);
}

/* The connection's byte totals, at close or as a periodic report. */
static __always_inline void send_totals(struct conn_key *key, struct conn_info *ci, __u8 kind)
{
	struct sock_close_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(SSTAT_CONTROL_LOST);
		return;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->kind = kind;
	e->role = ci->role;
	e->protocol = ci->protocol;
	e->id.tgid = key->tgid;
	e->id.fd = key->fd;
	e->id.generation = ci->generation;
	e->ts = bpf_ktime_get_ns();
	e->wr_bytes = ci->wr_bytes;
	e->rd_bytes = ci->rd_bytes;
	bpf_ringbuf_submit(e, wakeup_flag());
	count(SSTAT_CONTROL_SENT);
}

static __always_inline bool starts(const char *b, const char *lit, int n)
{
	for (int i = 0; i < n; i++)
		if (b[i] != lit[i])
			return false;
	return true;
}

/* Protocol of a message from its first bytes. Cheap signatures only: user
 * space parses for real and disables connections it cannot parse. */
static __always_inline __u8 infer(const char *b, __u32 len, __u8 sock_type, struct sock_addr *remote, __u16 lport)
{
	if (len >= 8) {
		if (starts(b, "GET ", 4) || starts(b, "POST ", 5) || starts(b, "PUT ", 4) || starts(b, "HEAD ", 5) ||
		    starts(b, "DELETE ", 7) || starts(b, "PATCH ", 6) || starts(b, "OPTIONS ", 8) || starts(b, "HTTP/1.", 7))
			return PROTO_HTTP;
	}
	/* DNS runs on port 53; the header alone is too weak a signature. Over
	 * TCP the first read or write may be just the 2-byte length prefix, or
	 * one byte of it (dnsmasq reads it a byte at a time; clients write it as
	 * its own iovec), and it must not be lost: it frames the stream. */
	if ((remote->port == 53 || lport == 53) && len >= (sock_type == 2 ? 12 : 1))
		return PROTO_DNS;
	if (len >= 4 && b[0] == '*' && b[1] >= '1' && b[1] <= '9')
		return PROTO_REDIS;
	if (len >= 8) {
		__u32 plen = ((__u8)b[0] << 24) | ((__u8)b[1] << 16) | ((__u8)b[2] << 8) | (__u8)b[3];
		__u32 code = ((__u8)b[4] << 24) | ((__u8)b[5] << 16) | ((__u8)b[6] << 8) | (__u8)b[7];
		/* PostgreSQL StartupMessage (protocol 3.0) or SSLRequest. */
		if (plen == len && (code == 196608 || code == 80877103))
			return PROTO_PGSQL;
		/* PostgreSQL simple query: 'Q' + length covering the rest. */
		__u32 qlen = ((__u8)b[1] << 24) | ((__u8)b[2] << 16) | ((__u8)b[3] << 8) | (__u8)b[4];
		if (b[0] == 'Q' && qlen + 1 == len)
			return PROTO_PGSQL;
		/* MySQL: 3-byte length matching the message, sequence 0, a command byte
		 * (COM_QUERY, COM_STMT_PREPARE/EXECUTE), or the server greeting (v10). */
		__u32 mlen = (__u8)b[0] | ((__u8)b[1] << 8) | ((__u8)b[2] << 16);
		if (mlen + 4 == len && b[3] == 0 && (b[4] == 0x03 || b[4] == 0x16 || b[4] == 0x17 || b[4] == 10))
			return PROTO_MYSQL;
	}
	return PROTO_UNKNOWN;
}

static __always_inline void emit_chunk(struct sock_data_event *e, const void *src, __u32 len)
{
	__u32 n = len < data_max ? len : data_max;
	/* A bound the verifier can see (data_max is only known at load). */
	if (n > DATA_CAP)
		n = DATA_CAP;
	if (n == 0)
		return;
	if (bpf_probe_read_user(e->data, n, src))
		return;
	e->data_len = n;
	if (bpf_ringbuf_output(&events, e, offsetof(struct sock_data_event, data) + n, wakeup_flag()))
		count(SSTAT_DATA_LOST);
	else
		count(SSTAT_DATA_SENT);
}

/* Copies `len` bytes at `src` as up to DATA_CHUNKS records starting at stream
 * position e->pos; the rest, if any, is flagged and left as a gap. */
static __always_inline void emit_buf(struct sock_data_event *e, const char *src, __u32 len)
{
	__u32 done = 0;
	for (int i = 0; i < DATA_CHUNKS; i++) {
		if (done >= len)
			return;
		__u32 left = len - done;
		if (i == DATA_CHUNKS - 1 && left > data_max) {
			e->flags |= DATA_TRUNCATED;
			count(SSTAT_DATA_TRUNCATED);
		}
		emit_chunk(e, src + done, left);
		__u32 step = left < data_max ? left : data_max;
		done += step;
		e->pos += step;
	}
}

static __always_inline void read_peer(struct sock_addr *peer, __u64 uaddr)
{
	if (!uaddr)
		return;
	struct sockaddr_in6 sa = {};
	if (bpf_probe_read_user(&sa, sizeof(sa), (void *)uaddr))
		return;
	peer->family = sa.sin6_family;
	peer->port = bpf_ntohs(sa.sin6_port);
	if (sa.sin6_family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&sa;
		__builtin_memcpy(peer->addr, &in->sin_addr, 4);
	} else if (sa.sin6_family == AF_INET6) {
		__builtin_memcpy(peer->addr, &sa.sin6_addr, 16);
	}
}

static __always_inline void on_data(struct data_args *a, long ret)
{
	if (ret <= 0)
		return;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u32 fd = a->fd;
	struct conn_key key = { .tgid = tgid, .fd = fd };
	struct conn_info *ci = bpf_map_lookup_elem(&conns, &key);
	struct sock *sk = NULL;
	if (!ci) {
		sk = sock_of(fd);
		if (!sk || !traced_family(sk))
			return;
		ci = open_conn(tgid, fd, sk, ROLE_UNKNOWN, OPEN_MID_STREAM);
		if (!ci)
			return;
	}
	/* Where the bytes are: a plain buffer, or the first iovec(s). */
	__u64 iov = 0, iovcnt = 0, peer_addr = a->addr;
	if (a->kind == ARGS_IOV) {
		iov = a->ptr;
		iovcnt = a->count;
	} else if (a->kind == ARGS_MSG || a->kind == ARGS_MMSG) {
		struct user_msghdr msg = {};
		if (bpf_probe_read_user(&msg, sizeof(msg), (void *)a->ptr))
			return;
		iov = (__u64)msg.msg_iov;
		iovcnt = msg.msg_iovlen;
		peer_addr = (__u64)msg.msg_name;
		if (a->kind == ARGS_MMSG) {
			/* sendmmsg/recvmmsg return a message count; only the first
			 * message is looked at, its length is in its mmsghdr. */
			__u32 first = 0;
			bpf_probe_read_user(&first, sizeof(first), (void *)(a->ptr + sizeof(struct user_msghdr)));
			ret = first;
			if (ret <= 0)
				return;
		}
	}

	__u64 pos;
	if (a->dir == DIR_EGRESS) {
		pos = ci->wr_bytes;
		__sync_fetch_and_add(&ci->wr_bytes, ret);
	} else {
		pos = ci->rd_bytes;
		__sync_fetch_and_add(&ci->rd_bytes, ret);
	}
	/* Connections whose data is not copied still show their bytes in
	 * conn_stats: report totals every STATS_EVERY bytes. */
	if (ci->wr_bytes + ci->rd_bytes - ci->reported >= STATS_EVERY) {
		ci->reported = ci->wr_bytes + ci->rd_bytes;
		send_totals(&key, ci, SOCK_EVENT_STATS);
	}
	if (a->kind == ARGS_COUNT || ci->protocol == PROTO_NONE || (ci->flags & CONN_DISABLED))
		return;

	__u32 zero = 0;
	struct sock_data_event *e = bpf_map_lookup_elem(&data_scratch, &zero);
	if (!e)
		return;
	e->kind = SOCK_EVENT_DATA;
	e->dir = a->dir;
	e->role = ci->role;
	e->flags = 0;
	e->id.tgid = tgid;
	e->id.fd = fd;
	e->id.generation = ci->generation;
	e->ts = bpf_ktime_get_ns();
	e->pos = pos;
	e->msg_size = ret;
	e->data_len = 0;
	__builtin_memset(&e->peer, 0, sizeof(e->peer));
	if (ci->sock_type == 2)
		read_peer(&e->peer, peer_addr);

	struct conn_id id = { .tgid = tgid, .fd = fd, .generation = ci->generation };
	if (bpf_map_lookup_elem(&disabled, &id)) {
		ci->flags |= CONN_DISABLED;
		return;
	}

	/* The first bytes, for protocol inference. */
	const char *first_buf = (const char *)a->ptr;
	__u64 first_len = ret;
	if (iov) {
		struct iovec v = {};
		if (bpf_probe_read_user(&v, sizeof(v), (void *)iov))
			return;
		first_buf = v.iov_base;
		first_len = v.iov_len < (__u64)ret ? v.iov_len : (__u64)ret;
	}
	if (ci->protocol == PROTO_UNKNOWN) {
		char head[16] = {};
		__u32 n = first_len < sizeof(head) ? first_len : sizeof(head);
		if (n == 0 || n > sizeof(head))
			return;
		if (bpf_probe_read_user(head, n, first_buf) == 0) {
			if (!sk)
				sk = sock_of(fd);
			struct sock_addr remote = {}, local = {};
			if (sk)
				read_addrs(sk, &local, &remote);
			if (ci->sock_type == 2 && e->peer.family)
				remote = e->peer;
			ci->protocol = infer(head, first_len, ci->sock_type, &remote, local.port);
		}
		if (ci->protocol == PROTO_UNKNOWN) {
			if (++ci->tries >= infer_tries)
				ci->protocol = PROTO_NONE;
			return;
		}
	}
	e->protocol = ci->protocol;

	if (!iov) {
		emit_buf(e, first_buf, ret);
		return;
	}
	__u32 left = ret;
	for (int i = 0; i < IOV_MAX_SEEN; i++) {
		if (i >= iovcnt || left == 0)
			break;
		struct iovec v = {};
		if (bpf_probe_read_user(&v, sizeof(v), (void *)(iov + i * sizeof(struct iovec))))
			break;
		__u32 n = v.iov_len < left ? v.iov_len : left;
		/* Each iovec's bytes continue the stream; the flag marks the one
		 * record whose iovec was cut, so user space knows the hole after
		 * it is for good. */
		e->data_len = 0;
		e->flags &= ~DATA_TRUNCATED;
		if (n > data_max) {
			e->flags |= DATA_TRUNCATED;
			count(SSTAT_DATA_TRUNCATED);
		}
		emit_chunk(e, v.iov_base, n);
		e->pos += n;
		left -= n;
	}
}

static __always_inline void save(__u64 fd, __u64 ptr, __u64 count, __u64 addr, __u32 kind, __u32 dir)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct data_args a = { .fd = fd, .ptr = ptr, .count = count, .addr = addr, .kind = kind, .dir = dir };
	bpf_map_update_elem(&inflight, &id, &a, BPF_ANY);
}

static __always_inline void finish(long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct data_args *a = bpf_map_lookup_elem(&inflight, &id);
	if (!a)
		return;
	struct data_args copy = *a;
	bpf_map_delete_elem(&inflight, &id);
	on_data(&copy, ret);
}

#define ENTER(name, fd, ptr, cnt, addr, kind, dir)                                    \
	SEC("tracepoint/syscalls/sys_enter_" #name)                                   \
	int enter_##name(struct trace_event_raw_sys_enter *ctx)                       \
	{                                                                             \
		save(ctx->args[fd], ctx->args[ptr], ctx->args[cnt], addr, kind, dir); \
		return 0;                                                             \
	}                                                                             \
	SEC("tracepoint/syscalls/sys_exit_" #name)                                    \
	int exit_##name(struct trace_event_raw_sys_exit *ctx)                         \
	{                                                                             \
		finish(ctx->ret);                                                     \
		return 0;                                                             \
	}

ENTER(write, 0, 1, 2, 0, ARGS_BUF, DIR_EGRESS)
ENTER(read, 0, 1, 2, 0, ARGS_BUF, DIR_INGRESS)
ENTER(writev, 0, 1, 2, 0, ARGS_IOV, DIR_EGRESS)
ENTER(readv, 0, 1, 2, 0, ARGS_IOV, DIR_INGRESS)
ENTER(sendto, 0, 1, 2, ctx->args[4], ARGS_BUF, DIR_EGRESS)
ENTER(recvfrom, 0, 1, 2, ctx->args[4], ARGS_BUF, DIR_INGRESS)
ENTER(sendmsg, 0, 1, 2, 0, ARGS_MSG, DIR_EGRESS)
ENTER(recvmsg, 0, 1, 2, 0, ARGS_MSG, DIR_INGRESS)
ENTER(sendmmsg, 0, 1, 2, 0, ARGS_MMSG, DIR_EGRESS)
ENTER(recvmmsg, 0, 1, 2, 0, ARGS_MMSG, DIR_INGRESS)
/* sendfile64(out_fd, in_fd, offset, count): bytes leave through out_fd. */
ENTER(sendfile64, 0, 1, 3, 0, ARGS_COUNT, DIR_EGRESS)

struct connect_args {
	__u64 fd;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct connect_args);
} connecting SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_connect")
int enter_connect(struct trace_event_raw_sys_enter *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct connect_args a = { .fd = ctx->args[0] };
	bpf_map_update_elem(&connecting, &id, &a, BPF_ANY);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_connect")
int exit_connect(struct trace_event_raw_sys_exit *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct connect_args *a = bpf_map_lookup_elem(&connecting, &id);
	if (!a)
		return 0;
	__u32 fd = a->fd;
	bpf_map_delete_elem(&connecting, &id);
	if (ctx->ret != 0 && ctx->ret != -EINPROGRESS)
		return 0;
	struct sock *sk = sock_of(fd);
	if (sk && traced_family(sk))
		open_conn(id >> 32, fd, sk, ROLE_CLIENT, 0);
	return 0;
}

static __always_inline void accepted(long ret)
{
	if (ret < 0)
		return;
	struct sock *sk = sock_of(ret);
	if (sk && traced_family(sk))
		open_conn(bpf_get_current_pid_tgid() >> 32, ret, sk, ROLE_SERVER, 0);
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int exit_accept4(struct trace_event_raw_sys_exit *ctx)
{
	accepted(ctx->ret);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept")
int exit_accept(struct trace_event_raw_sys_exit *ctx)
{
	accepted(ctx->ret);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_close")
int enter_close(struct trace_event_raw_sys_enter *ctx)
{
	struct conn_key key = { .tgid = bpf_get_current_pid_tgid() >> 32, .fd = ctx->args[0] };
	struct conn_info *ci = bpf_map_lookup_elem(&conns, &key);
	if (!ci)
		return 0;
	send_totals(&key, ci, SOCK_EVENT_CLOSE);
	bpf_map_delete_elem(&conns, &key);
	return 0;
}

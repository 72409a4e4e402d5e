/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Records the socket tracer sends to user space (read through the skeleton's
 * generated types, so the layout is defined once, here). */
#ifndef SCRY_SOCKET_H
#define SCRY_SOCKET_H

#define SOCK_EVENT_OPEN 1
#define SOCK_EVENT_CLOSE 2
#define SOCK_EVENT_DATA 3
#define SOCK_EVENT_STATS 4 /* a sock_close_event's layout: byte totals of a live connection */

/* Roles, numbered as Pixie's trace_role. */
#define ROLE_CLIENT 1
#define ROLE_SERVER 2
#define ROLE_UNKNOWN 4

/* Protocols, numbered as Pixie's traffic_protocol_t. NONE: inference gave up,
 * only bytes are counted. */
#define PROTO_UNKNOWN 0
#define PROTO_HTTP 1
#define PROTO_MYSQL 3
#define PROTO_PGSQL 5
#define PROTO_DNS 6
#define PROTO_REDIS 7
#define PROTO_NONE 255

#define DIR_EGRESS 1  /* written by the process */
#define DIR_INGRESS 2 /* read by the process */

/* Data event flags. */
#define DATA_TRUNCATED 0x1 /* msg_size > data_len: the rest of the message was not copied */

/* Open event flags. */
#define OPEN_MID_STREAM 0x1 /* first seen at a read or write, not at connect/accept */

/* Bytes copied per data record at most: 16 KiB, so the 16 KiB buffers and
 * iovecs servers write (Redis reply blocks, nginx buffers) fit one record
 * whole. */
#define DATA_CAP 16384
/* Chunks one write or read is split into at most; beyond, the rest is a gap. */
#define DATA_CHUNKS 4
/* iovec entries looked at per readv/writev/sendmsg/recvmsg. */
#define IOV_MAX_SEEN 8
/* Bytes a connection moves between two SOCK_EVENT_STATS (Pixie's 64 KiB). */
#define STATS_EVERY 65536

/* Kernel-side counters (per-CPU array indices). */
#define SSTAT_DATA_SENT 0
#define SSTAT_DATA_LOST 1
#define SSTAT_CONTROL_SENT 2
#define SSTAT_CONTROL_LOST 3
#define SSTAT_DATA_TRUNCATED 4
#define SSTAT_COUNT 5

struct sock_addr {
	__u16 family; /* AF_INET, AF_INET6, 0 when unknown */
	__u16 port;   /* host byte order */
	__u8 addr[16]; /* IPv4 in the first 4 bytes */
};

/* A connection: the process, its fd, and the time the fd was first seen as
 * this connection (so a reused fd is a new connection). */
struct conn_id {
	__u32 tgid;
	__u32 fd;
	__u64 generation;
};

struct sock_open_event {
	__u8 kind;
	__u8 role;
	__u8 sock_type; /* SOCK_STREAM 1, SOCK_DGRAM 2 */
	__u8 flags;
	__u32 pad;
	struct conn_id id;
	__u64 ts;
	struct sock_addr local;
	struct sock_addr remote;
};

/* Byte totals of a connection, at close (SOCK_EVENT_CLOSE) and every
 * STATS_EVERY bytes while it lives (SOCK_EVENT_STATS). */
struct sock_close_event {
	__u8 kind;
	__u8 role;
	__u8 protocol;
	__u8 pad[5];
	struct conn_id id;
	__u64 ts;
	__u64 wr_bytes;
	__u64 rd_bytes;
};

struct sock_data_event {
	__u8 kind;
	__u8 dir;
	__u8 protocol;
	__u8 role;
	__u32 flags;
	struct conn_id id;
	__u64 ts;
	__u64 pos;      /* stream position of data[0] in this direction */
	__u32 msg_size; /* bytes the syscall moved in this chunk's message */
	__u32 data_len; /* bytes in data[] */
	struct sock_addr peer; /* datagrams: the sender / destination, when given */
	__u8 data[DATA_CAP];
};

#endif

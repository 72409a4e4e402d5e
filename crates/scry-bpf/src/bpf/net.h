/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Records the network flow source sends to user space (read through the
 * skeleton's generated types, so the layout is defined once, here). */
#ifndef SCRY_NET_H
#define SCRY_NET_H

#define NET_EVENT_TRACE 1      /* a packet at a socket: first each way, new SYN/FIN/RST, or periodic */
#define NET_EVENT_DROP 2       /* the kernel dropped a packet (skb:kfree_skb) */
#define NET_EVENT_RETRANSMIT 3 /* tcp:tcp_retransmit_skb */
#define NET_EVENT_RESET 4      /* tcp:tcp_send_reset (egress) / tcp:tcp_receive_reset (ingress) */

#define NET_DIR_EGRESS 0  /* leaving the observing socket */
#define NET_DIR_INGRESS 1 /* arriving at it */

/* Which side opened the connection, as first seen. */
#define ORIGIN_UNKNOWN 0 /* seen only after it started */
#define ORIGIN_LOCAL 1   /* the observing socket */
#define ORIGIN_REMOTE 2

/* TCP header flag bits (byte 13). */
#define TH_FIN 0x01
#define TH_SYN 0x02
#define TH_RST 0x04
#define TH_ACK 0x10

/* Drop reasons user space can tell the drop program to skip. */
#define IGNORED_REASONS 2

/* Kernel-side counters (per-CPU array indices). */
#define NSTAT_TRACE_SENT 0
#define NSTAT_TRACE_LOST 1
#define NSTAT_DROP_SENT 2
#define NSTAT_DROP_LOST 3
#define NSTAT_TCP_SENT 4
#define NSTAT_TCP_LOST 5
#define NSTAT_COUNT 6

/* One connection as one socket sees it: its own address first. Ports in
 * host byte order; IPv4 in the first 4 bytes of an address. For ICMP echo
 * the local port holds the echo id. */
struct flow_key {
	__u8 laddr[16];
	__u8 raddr[16];
	__u16 lport;
	__u16 rport;
	__u16 family; /* AF_INET 2, AF_INET6 10 */
	__u8 protocol; /* IPPROTO_TCP 6, UDP 17, ICMP 1, ICMPV6 58 */
	__u8 pad;
};

/* Counters of one flow_key; index 0 egress, 1 ingress. */
struct flow_counts {
	__u64 packets[2];
	__u64 bytes[2];
	__u32 retransmits;
	__u32 resets;
};

struct net_event {
	__u8 kind;
	__u8 dir;
	__u8 tcp_flags; /* of this packet */
	__u8 origin;
	__u8 icmp_type;
	__u8 icmp_code;
	__u8 pad[2];
	__u32 pid;         /* the sending process, when the kernel saw it send; else 0 */
	__u32 drop_reason; /* enum skb_drop_reason, numbered as this kernel numbers it */
	__u32 len;         /* packet bytes from the IP header on */
	__u32 ifindex;
	__u64 ts;
	__u64 cookie;    /* socket cookie, 0 without a socket */
	__u64 cgroup_id; /* the socket's cgroup, 0 without a socket */
	struct flow_key key;
	struct flow_counts counts;
};

#endif

// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Network flows as the node's sockets see them, with the kernel's drops.
 *
 * Packets: cgroup_skb egress/ingress programs on the root cgroup see every
 * packet that leaves or reaches a socket of this node, in any network
 * namespace (cgroup programs follow the socket's cgroup, not its netns), and
 * always return "allow". They keep per-flow counters and report a packet only
 * when it says something new: the first packet each way, a new SYN, FIN or
 * RST, or every report_every_ns of activity (Cilium's "medium" monitor
 * aggregation), so a busy connection costs a map update per packet, not a
 * ring record.
 *
 * Drops: skb:kfree_skb carries the kernel's reason (netfilter, no socket,
 * checksum, ...). TCP health: tcp_retransmit_skb, tcp_send_reset,
 * tcp_receive_reset. These are tp_btf programs: typed arguments, no kprobes. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "net.h"
#define SOURCE_STATS NSTAT_COUNT
#include "source.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Set by user space before load. */
const volatile __u64 report_every_ns = 5000000000ULL;
/* Drop reasons that are not packets lost on their way (a closing socket
 * discarding what its owner never read): their values in this kernel's
 * numbering, found by name in its BTF; ~0 for none. */
const volatile __u32 ignored_reasons[IGNORED_REASONS] = { ~0U, ~0U };
/* Whether this kernel lets cgroup_skb programs call bpf_get_current_cgroup_id
 * and bpf_get_current_pid_tgid (Debian's 6.1 does not): without them flows
 * carry no pid, and the verifier must not see the calls at all. */
const volatile __u8 task_helpers = 0;

struct net_event _net_event = {};

#define AF_INET 2
#define AF_INET6 10
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define IPPROTO_ICMP 1
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define IPPROTO_ICMPV6 58
#define TCP_TIME_WAIT 6
#define TCP_CLOSE 7
#define TCP_NEW_SYN_RECV 12

struct flow_state {
	struct flow_counts counts;
	__u64 last_report;
	__u32 pid;
	__u8 seen[2]; /* SYN/FIN/RST flags seen each way */
	__u8 origin;
	__u8 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536); /* resized by user space */
	__type(key, struct flow_key);
	__type(value, struct flow_state);
} flows SEC(".maps");

/* What parsing a packet yields besides its key. */
struct packet {
	__u8 tcp_flags;
	__u8 icmp_type;
	__u8 icmp_code;
	__u8 origin; /* for a new flow: who opened it, judged from this packet */
};

static __always_inline int is_echo_request(__u8 proto, __u8 type)
{
	return (proto == IPPROTO_ICMP && type == 8) || (proto == IPPROTO_ICMPV6 && type == 128);
}

static __always_inline int is_echo_reply(__u8 proto, __u8 type)
{
	return (proto == IPPROTO_ICMP && type == 0) || (proto == IPPROTO_ICMPV6 && type == 129);
}

/* Fills the key (oriented to the observing socket: local first) and the
 * packet facts from the L4 header bytes `l4` (at least 14 bytes). */
static __always_inline void orient(struct flow_key *k, struct packet *p, const __u8 *src, const __u8 *dst,
				   const __u8 *l4, __u8 dir)
{
	__u16 sport = 0, dport = 0;

	if (k->protocol == IPPROTO_TCP || k->protocol == IPPROTO_UDP) {
		sport = (l4[0] << 8) | l4[1];
		dport = (l4[2] << 8) | l4[3];
	}
	if (k->protocol == IPPROTO_TCP) {
		p->tcp_flags = l4[13];
		if ((p->tcp_flags & (TH_SYN | TH_ACK)) == TH_SYN)
			p->origin = dir == NET_DIR_EGRESS ? ORIGIN_LOCAL : ORIGIN_REMOTE;
		else if ((p->tcp_flags & (TH_SYN | TH_ACK)) == (TH_SYN | TH_ACK))
			p->origin = dir == NET_DIR_EGRESS ? ORIGIN_REMOTE : ORIGIN_LOCAL;
	} else if (k->protocol == IPPROTO_UDP) {
		/* As conntrack: the first datagram seen is the original direction. */
		p->origin = dir == NET_DIR_EGRESS ? ORIGIN_LOCAL : ORIGIN_REMOTE;
	} else {
		p->icmp_type = l4[0];
		p->icmp_code = l4[1];
		/* Echo request and reply share the echo id: one flow per ping. */
		if (is_echo_request(k->protocol, p->icmp_type) || is_echo_reply(k->protocol, p->icmp_type))
			sport = dport = (l4[4] << 8) | l4[5];
		if (is_echo_request(k->protocol, p->icmp_type))
			p->origin = dir == NET_DIR_EGRESS ? ORIGIN_LOCAL : ORIGIN_REMOTE;
		else if (is_echo_reply(k->protocol, p->icmp_type))
			p->origin = dir == NET_DIR_EGRESS ? ORIGIN_REMOTE : ORIGIN_LOCAL;
	}
	if (dir == NET_DIR_EGRESS) {
		__builtin_memcpy(k->laddr, src, 16);
		__builtin_memcpy(k->raddr, dst, 16);
		k->lport = sport;
		k->rport = dport;
	} else {
		__builtin_memcpy(k->laddr, dst, 16);
		__builtin_memcpy(k->raddr, src, 16);
		k->lport = dport;
		k->rport = sport;
	}
}

static __always_inline int interesting(__u8 proto)
{
	return proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6;
}

/* The key's family and protocol and the addresses, from an IPv4 header
 * (read by either program kind); the L4 header's offset, or -1 when the
 * packet has none to read (a later fragment) or is not of interest. */
static __always_inline int from_ipv4(const struct iphdr *ip, struct flow_key *k, __u8 *src, __u8 *dst)
{
	if (ip->ihl < 5 || (ip->frag_off & bpf_htons(0x1fff)))
		return -1;
	k->family = AF_INET;
	k->protocol = ip->protocol;
	__builtin_memcpy(src, &ip->saddr, 4);
	__builtin_memcpy(dst, &ip->daddr, 4);
	return interesting(k->protocol) ? ip->ihl * 4 : -1;
}

/* As from_ipv4. Extension headers are not walked: such packets are not
 * reported. */
static __always_inline int from_ipv6(const struct ipv6hdr *ip6, struct flow_key *k, __u8 *src, __u8 *dst)
{
	k->family = AF_INET6;
	k->protocol = ip6->nexthdr;
	__builtin_memcpy(src, &ip6->saddr, 16);
	__builtin_memcpy(dst, &ip6->daddr, 16);
	return interesting(k->protocol) ? (int)sizeof(*ip6) : -1;
}

/* IP and L4 headers of a packet seen by a cgroup_skb program, whose data
 * starts at the IP header. Returns 0 when the packet has a flow key. */
static __always_inline int parse_skb(struct __sk_buff *skb, struct flow_key *k, struct packet *p, __u8 dir)
{
	__u8 src[16] = {}, dst[16] = {}, l4[16] = {};
	int l4off = -1;

	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		struct iphdr ip;

		if (bpf_skb_load_bytes(skb, 0, &ip, sizeof(ip)) == 0)
			l4off = from_ipv4(&ip, k, src, dst);
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr ip6;

		if (bpf_skb_load_bytes(skb, 0, &ip6, sizeof(ip6)) == 0)
			l4off = from_ipv6(&ip6, k, src, dst);
	}
	/* UDP and ICMP headers are 8 bytes: read what is there. */
	if (l4off < 0 || bpf_skb_load_bytes(skb, l4off, l4, k->protocol == IPPROTO_TCP ? 14 : 8) < 0)
		return -1;
	orient(k, p, src, dst, l4, dir);
	return 0;
}

static __always_inline void emit(__u8 kind, __u8 dir, const struct flow_key *k, const struct packet *p,
				 const struct flow_state *st, __u64 cookie, __u64 cgroup_id, __u32 len, __u32 reason,
				 __u32 stat_sent)
{
	struct net_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e) {
		count(stat_sent + 1);
		return;
	}
	e->kind = kind;
	e->dir = dir;
	e->tcp_flags = p->tcp_flags;
	e->origin = st ? st->origin : p->origin;
	e->icmp_type = p->icmp_type;
	e->icmp_code = p->icmp_code;
	e->pad[0] = e->pad[1] = 0;
	e->pid = st ? st->pid : 0;
	e->drop_reason = reason;
	e->len = len;
	e->ifindex = 0;
	e->ts = bpf_ktime_get_ns();
	e->cookie = cookie;
	e->cgroup_id = cgroup_id;
	e->key = *k;
	if (st)
		e->counts = st->counts;
	else
		__builtin_memset(&e->counts, 0, sizeof(e->counts));
	bpf_ringbuf_submit(e, wakeup_flag());
	count(stat_sent);
}

/* What a network namespace's stack sends on its own — TCP resets and the
 * last ACKs of time-wait sockets (the TCP control socket), ICMP errors and
 * echo replies, IPv6 neighbour discovery — leaves through its kernel
 * sockets: SOCK_RAW sockets in the root cgroup (id 1 on cgroup v2). The
 * packet is the namespace's, not the root cgroup's, so it is attributed by
 * address. */
#define ROOT_CGROUP_ID 1

static __always_inline int stack_reply(struct __sk_buff *skb)
{
	struct bpf_sock *sk = skb->sk;

	if (!sk)
		return 0;
	sk = bpf_sk_fullsock(sk);
	return sk && sk->type == SOCK_RAW && bpf_skb_cgroup_id(skb) == ROOT_CGROUP_ID;
}

static __always_inline void observe(struct __sk_buff *skb, __u8 dir)
{
	struct flow_key k = {};
	struct packet p = {};
	struct flow_state *st;
	__u64 now, cgroup_id;
	int report = 0;
	__u8 fresh;

	if (parse_skb(skb, &k, &p, dir) < 0)
		return;
	now = bpf_ktime_get_ns();
	st = bpf_map_lookup_elem(&flows, &k);
	/* A SYN on a 4-tuple whose last connection ended is a new connection. */
	if (st && (p.tcp_flags & (TH_SYN | TH_ACK)) == TH_SYN && ((st->seen[0] | st->seen[1]) & (TH_FIN | TH_RST))) {
		bpf_map_delete_elem(&flows, &k);
		st = NULL;
	}
	if (!st) {
		struct flow_state init = { .origin = p.origin, .last_report = now };

		bpf_map_update_elem(&flows, &k, &init, BPF_NOEXIST);
		st = bpf_map_lookup_elem(&flows, &k);
		if (!st)
			return;
		report = 1;
	}
	cgroup_id = stack_reply(skb) ? 0 : bpf_skb_cgroup_id(skb);
	if (st->counts.packets[dir & 1] == 0)
		report = 1;
	fresh = p.tcp_flags & (TH_SYN | TH_FIN | TH_RST) & ~st->seen[dir & 1];
	if (fresh) {
		st->seen[dir & 1] |= fresh;
		report = 1;
	}
	__sync_fetch_and_add(&st->counts.packets[dir & 1], 1);
	__sync_fetch_and_add(&st->counts.bytes[dir & 1], skb->len);
	/* A packet leaves in the sender's context unless the stack sends it
	 * later (ACKs, retransmits): the current task is the sender only when it
	 * is in the socket's cgroup. */
	if (task_helpers && dir == NET_DIR_EGRESS && cgroup_id && !st->pid && bpf_get_current_cgroup_id() == cgroup_id)
		st->pid = bpf_get_current_pid_tgid() >> 32;
	if (now - st->last_report >= report_every_ns)
		report = 1;
	if (!report)
		return;
	st->last_report = now;
	emit(NET_EVENT_TRACE, dir, &k, &p, st, bpf_get_socket_cookie(skb), cgroup_id, skb->len, 0, NSTAT_TRACE_SENT);
}

SEC("cgroup_skb/egress")
int flow_egress(struct __sk_buff *skb)
{
	observe(skb, NET_DIR_EGRESS);
	return 1;
}

SEC("cgroup_skb/ingress")
int flow_ingress(struct __sk_buff *skb)
{
	observe(skb, NET_DIR_INGRESS);
	return 1;
}

/* The key of a TCP socket; IPv4-mapped IPv6 sockets (dual-stack listeners)
 * carry IPv4 packets and get IPv4 keys, as the packets do. */
static __always_inline void key_from_sock(const struct sock *sk, struct flow_key *k)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);

	k->protocol = IPPROTO_TCP;
	k->lport = BPF_CORE_READ(sk, __sk_common.skc_num);
	/* A closing socket is unhashed (its bound port released) before its
	 * state becomes TCP_CLOSE; the port it used is still in inet_sport. */
	if (!k->lport)
		k->lport = bpf_ntohs(BPF_CORE_READ((const struct inet_sock *)sk, inet_sport));
	k->rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	/* BPF_CORE_READ_INTO reads sizeof(*dst): give it the whole array (or
	 * read the 4-byte IPv4 address by value), never the array's first byte. */
	if (family == AF_INET) {
		__u32 laddr = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		__u32 raddr = BPF_CORE_READ(sk, __sk_common.skc_daddr);

		k->family = AF_INET;
		__builtin_memcpy(k->laddr, &laddr, 4);
		__builtin_memcpy(k->raddr, &raddr, 4);
		return;
	}
	k->family = AF_INET6;
	BPF_CORE_READ_INTO(&k->laddr, sk, __sk_common.skc_v6_rcv_saddr);
	BPF_CORE_READ_INTO(&k->raddr, sk, __sk_common.skc_v6_daddr);
	/* ::ffff:a.b.c.d */
	if (*(__u64 *)k->raddr == 0 && *(__u32 *)(k->raddr + 8) == bpf_htonl(0xffff)) {
		k->family = AF_INET;
		__builtin_memmove(k->laddr, k->laddr + 12, 4);
		__builtin_memmove(k->raddr, k->raddr + 12, 4);
		__builtin_memset(k->laddr + 4, 0, 12);
		__builtin_memset(k->raddr + 4, 0, 12);
	}
}

/* Request and time-wait sockets are smaller than struct sock: only full
 * sockets have a cgroup. */
static __always_inline __u64 sock_cgroup_id(const struct sock *sk)
{
	__u8 state;

	if (!sk)
		return 0;
	state = BPF_CORE_READ(sk, __sk_common.skc_state);
	if (state == TCP_TIME_WAIT || state == TCP_NEW_SYN_RECV)
		return 0;
	return BPF_CORE_READ(sk, sk_cgrp_data.cgroup, kn, id);
}

/* A TCP health event on a socket's flow: counted in its state and sent. */
static __always_inline void tcp_event(const struct sock *sk, __u8 kind, __u8 dir)
{
	struct flow_key k = {};
	struct packet p = {};
	struct flow_state *st;

	key_from_sock(sk, &k);
	st = bpf_map_lookup_elem(&flows, &k);
	if (st) {
		if (kind == NET_EVENT_RETRANSMIT)
			__sync_fetch_and_add(&st->counts.retransmits, 1);
		else
			__sync_fetch_and_add(&st->counts.resets, 1);
	}
	emit(kind, dir, &k, &p, st, 0, sock_cgroup_id(sk), 0, 0, NSTAT_TCP_SENT);
}

SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(flow_retransmit, const struct sock *sk)
{
	tcp_event(sk, NET_EVENT_RETRANSMIT, NET_DIR_EGRESS);
	return 0;
}

/* A TCP socket's end: a record with its flow's final counters. What
 * happens after the last flag change reports nothing by itself — an
 * orphaned socket's retransmits, the last ACKs a time-wait socket (not a
 * full socket, so no cgroup program sees them) handles — and a connection
 * that ends between two periodic reports would lose its last bytes. */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(flow_close, const struct sock *sk, int oldstate, int newstate)
{
	struct flow_key k = {};
	struct packet p = {};
	struct flow_state *st;

	if (newstate != TCP_CLOSE || BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	key_from_sock(sk, &k);
	st = bpf_map_lookup_elem(&flows, &k);
	if (!st)
		return 0;
	emit(NET_EVENT_TRACE, NET_DIR_EGRESS, &k, &p, st, bpf_get_socket_cookie((void *)sk), sock_cgroup_id(sk), 0, 0,
	     NSTAT_TRACE_SENT);
	return 0;
}

SEC("tp_btf/tcp_receive_reset")
int BPF_PROG(flow_receive_reset, struct sock *sk)
{
	tcp_event(sk, NET_EVENT_RESET, NET_DIR_INGRESS);
	return 0;
}

/* Reads the IP and L4 headers of a kernel skb (network header set).
 * Returns 0 and fills src/dst/l4 when it is an IP packet of interest. */
static __always_inline int read_skb_headers(const struct sk_buff *skb, struct flow_key *k, __u8 *src, __u8 *dst,
					    __u8 *l4, __u32 *len)
{
	unsigned char *head = BPF_CORE_READ(skb, head);
	__u16 nh = BPF_CORE_READ(skb, network_header);
	__u16 proto = BPF_CORE_READ(skb, protocol);
	int l4off = -1;

	if (nh == (__u16)~0U)
		return -1;
	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr ip;

		if (bpf_probe_read_kernel(&ip, sizeof(ip), head + nh) == 0) {
			l4off = from_ipv4(&ip, k, src, dst);
			*len = bpf_ntohs(ip.tot_len);
		}
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr ip6;

		if (bpf_probe_read_kernel(&ip6, sizeof(ip6), head + nh) == 0) {
			l4off = from_ipv6(&ip6, k, src, dst);
			*len = bpf_ntohs(ip6.payload_len) + sizeof(ip6);
		}
	}
	if (l4off < 0 || bpf_probe_read_kernel(l4, 14, head + nh + l4off) < 0)
		return -1;
	return 0;
}

SEC("tp_btf/tcp_send_reset")
int BPF_PROG(flow_send_reset, const struct sock *sk, const struct sk_buff *skb)
{
	__u8 src[16] = {}, dst[16] = {}, l4[16] = {};
	struct flow_key k = {};
	struct packet p = {};
	__u32 len = 0;

	/* With a full socket the reset is that connection's; without one (a
	 * closed port) it answers the packet in skb, as the host. */
	if (sock_cgroup_id(sk)) {
		tcp_event(sk, NET_EVENT_RESET, NET_DIR_EGRESS);
		return 0;
	}
	if (!skb || read_skb_headers(skb, &k, src, dst, l4, &len) < 0)
		return 0;
	/* skb is the packet being answered: its destination is the local side. */
	orient(&k, &p, src, dst, l4, NET_DIR_INGRESS);
	p.tcp_flags = TH_RST;
	emit(NET_EVENT_RESET, NET_DIR_EGRESS, &k, &p, NULL, 0, 0, 0, 0, NSTAT_TCP_SENT);
	return 0;
}

SEC("tp_btf/kfree_skb")
int BPF_PROG(flow_drop, struct sk_buff *skb, void *location, enum skb_drop_reason reason)
{
	__u8 src[16] = {}, dst[16] = {}, l4[16] = {}, sk_src[16] = {};
	struct flow_key k = {};
	struct packet p = {};
	struct flow_state *st;
	struct sock *sk;
	__u64 cgroup_id;
	__u32 len = 0;
	__u8 dir = NET_DIR_INGRESS;

	/* Consumed, not dropped. Linux 6.1 has no SKB_CONSUMED: it traces
	 * consumed packets on skb:consume_skb instead. */
	if (bpf_core_enum_value_exists(enum skb_drop_reason, SKB_CONSUMED) &&
	    reason == bpf_core_enum_value(enum skb_drop_reason, SKB_CONSUMED))
		return 0;
	for (int i = 0; i < IGNORED_REASONS; i++)
		if (reason == ignored_reasons[i])
			return 0;
	if (read_skb_headers(skb, &k, src, dst, l4, &len) < 0)
		return 0;
	/* An echo reply for a raw-socket ping (ping(8) as root) is delivered to
	 * that socket as a clone; the original then finds no ping socket and is
	 * freed as NO_SOCKET. Nothing was lost. */
	if (reason == bpf_core_enum_value(enum skb_drop_reason, SKB_DROP_REASON_NO_SOCKET) &&
	    (k.protocol == IPPROTO_ICMP || k.protocol == IPPROTO_ICMPV6) && is_echo_reply(k.protocol, l4[0]))
		return 0;
	/* The packet is outgoing when it carries the full socket that sent it
	 * (its local address is the packet's source); an incoming packet may
	 * carry the socket it was demultiplexed to. */
	sk = BPF_CORE_READ(skb, sk);
	cgroup_id = sock_cgroup_id(sk);
	if (cgroup_id) {
		if (k.family == AF_INET) {
			__u32 saddr = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);

			__builtin_memcpy(sk_src, &saddr, 4);
		} else {
			BPF_CORE_READ_INTO(&sk_src, sk, __sk_common.skc_v6_rcv_saddr);
		}
		if (__builtin_memcmp(sk_src, src, 16) == 0)
			dir = NET_DIR_EGRESS;
	}
	orient(&k, &p, src, dst, l4, dir);
	/* A packet of a known flow: the flow knows who opened it (is_reply). */
	st = bpf_map_lookup_elem(&flows, &k);
	if (st && st->origin)
		p.origin = st->origin;
	emit(NET_EVENT_DROP, dir, &k, &p, NULL, 0, cgroup_id, len, reason, NSTAT_DROP_SENT);
	return 0;
}

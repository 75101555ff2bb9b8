// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * spanwire network metrics: TCP connection lifecycle, bytes, retransmits and smoothed RTT,
 * aggregated in the kernel per (process, direction, peer address, port) so that userspace
 * reads one bounded map per export interval instead of an event per packet.
 *
 * Hooks (all available where kprobes and fentry are not):
 *   raw_tracepoint/inet_sock_set_state  SYN_SENT (in connect(), so the pid is right) starts
 *                                       tracking a client socket; SYN_SENT -> ESTABLISHED opens,
 *                                       SYN_SENT -> CLOSE fails, * -> CLOSE closes and flushes;
 *   tracepoint sys_exit_accept{,4}      starts tracking a server socket under the accepting
 *                                       process (the state change itself runs in softirq,
 *                                       where the current pid is unrelated);
 *   raw_tracepoint/tcp_probe            each segment received on an established socket: adds
 *                                       the socket's byte and retransmit deltas and its srtt
 *                                       (at most every SW_NET_FLUSH_EVERY_NS per socket).
 * Byte and retransmit counts are deltas of the socket's own tcp_sock counters (bytes_acked,
 * bytes_received, total_retrans), so they agree with what TCP_INFO reports for the socket.
 */
#include "kernel_types.h"
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>

#include "net.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)
struct tcp_sock {
	__u32 srtt_us; /* smoothed RTT << 3, microseconds */
	__u32 total_retrans;
	__u64 bytes_received;
	__u64 bytes_acked;
};

/* Flavours (the ___sw suffix is ignored by CO-RE) for fields kernel_types.h does not declare. */
struct sock_common___sw {
	volatile unsigned char skc_state;
};

struct sock___sw {
	struct sock_common___sw __sk_common;
	int sk_err;
};
#pragma clang attribute pop

#define TCP_ESTABLISHED 1
#define TCP_SYN_SENT 2
#define TCP_CLOSE 7
#define ECONNREFUSED 111
#define ETIMEDOUT 110

const volatile __u32 agent_tgid = 0; /* the agent's own connections are not counted */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct sw_flow_key);
	__type(value, struct sw_flow_value);
} flows SEC(".maps");

/* Tracked sockets, by struct sock address; removed when the socket reaches TCP_CLOSE. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct sw_sock_state);
} socks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SW_NET_CTR_MAX);
	__type(key, __u32);
	__type(value, __u64);
} net_counters SEC(".maps");

static __always_inline void count(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&net_counters, &idx);
	if (v)
		*v += 1;
}

static __always_inline void fill_key(struct sock *sk, __u32 tgid, __u8 dir, struct sw_flow_key *k)
{
	__builtin_memset(k, 0, sizeof(*k));
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	k->tgid = tgid;
	k->direction = dir;
	k->family = family;
	if (dir == SW_NET_CLIENT)
		k->port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	else
		k->port = BPF_CORE_READ(sk, __sk_common.skc_num);
	if (dir != SW_NET_CLIENT && !k->port) /* closed: inet_put_port() zeroed skc_num */
		k->port = bpf_ntohs(BPF_CORE_READ((struct inet_sock *)sk, inet_sport));
	if (family == AF_INET) {
		__be32 r = BPF_CORE_READ(sk, __sk_common.skc_daddr);
		__builtin_memcpy(k->peer, &r, 4);
	} else {
		BPF_CORE_READ_INTO(&k->peer, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
	}
}

static __always_inline struct sw_flow_value *flow(struct sw_flow_key *k, const char *comm)
{
	struct sw_flow_value *v = bpf_map_lookup_elem(&flows, k);
	if (v)
		return v;
	struct sw_flow_value zero = {};
	__builtin_memcpy(zero.comm, comm, sizeof(zero.comm));
	bpf_map_update_elem(&flows, k, &zero, BPF_NOEXIST); /* EEXIST: another CPU won the race */
	v = bpf_map_lookup_elem(&flows, k);
	if (!v)
		count(SW_NET_FLOW_TABLE_FULL);
	return v;
}

/* Adds what the socket counted since the last flush to its flow. */
static __always_inline void flush(struct sock *sk, struct sw_sock_state *st, struct sw_flow_value *f)
{
	struct tcp_sock *tp = (struct tcp_sock *)sk;
	__u64 acked = BPF_CORE_READ(tp, bytes_acked);
	__u64 received = BPF_CORE_READ(tp, bytes_received);
	__u32 retrans = BPF_CORE_READ(tp, total_retrans);
	if (acked > st->bytes_acked)
		__sync_fetch_and_add(&f->bytes_sent, acked - st->bytes_acked);
	if (received > st->bytes_received)
		__sync_fetch_and_add(&f->bytes_received, received - st->bytes_received);
	if (retrans > st->total_retrans)
		__sync_fetch_and_add(&f->retransmits, retrans - st->total_retrans);
	st->bytes_acked = acked;
	st->bytes_received = received;
	st->total_retrans = retrans;
}

static __always_inline void rtt_sample(struct sock *sk, struct sw_flow_value *f)
{
	__u32 srtt = BPF_CORE_READ((struct tcp_sock *)sk, srtt_us) >> 3;
	if (!srtt)
		return;
	f->srtt_us = srtt;
	__sync_fetch_and_add(&f->srtt_sum_us, srtt);
	__sync_fetch_and_add(&f->srtt_samples, 1);
}

SEC("raw_tracepoint/inet_sock_set_state")
int sw_net_state(struct bpf_raw_tracepoint_args *ctx)
{
	struct sock *sk = (struct sock *)ctx->args[0];
	int oldstate = (int)ctx->args[1];
	int newstate = (int)ctx->args[2];
	__u64 id = (__u64)sk;

	if (newstate == TCP_SYN_SENT) {
		/* Inside connect(): current is the connecting process. */
		__u32 tgid = bpf_get_current_pid_tgid() >> 32;
		if (tgid == agent_tgid || tgid == 0)
			return 0;
		struct sw_sock_state st = {};
		fill_key(sk, tgid, SW_NET_CLIENT, &st.key);
		bpf_get_current_comm(st.comm, sizeof(st.comm));
		if (bpf_map_update_elem(&socks, &id, &st, BPF_ANY))
			count(SW_NET_SOCK_TABLE_FULL);
		return 0;
	}
	struct sw_sock_state *st = bpf_map_lookup_elem(&socks, &id);
	if (!st)
		return 0;
	if (oldstate == TCP_SYN_SENT && newstate == TCP_ESTABLISHED) {
		st->established = 1;
		struct sw_flow_value *f = flow(&st->key, st->comm);
		if (f)
			__sync_fetch_and_add(&f->opened, 1);
		return 0;
	}
	if (newstate != TCP_CLOSE)
		return 0;
	struct sw_flow_value *f = flow(&st->key, st->comm);
	if (f) {
		flush(sk, st, f);
		if (st->established) {
			__sync_fetch_and_add(&f->closed, 1);
		} else {
			int err = BPF_CORE_READ((struct sock___sw *)sk, sk_err);
			if (err == ECONNREFUSED)
				__sync_fetch_and_add(&f->failed_refused, 1);
			else if (err == ETIMEDOUT)
				__sync_fetch_and_add(&f->failed_timeout, 1);
			else
				__sync_fetch_and_add(&f->failed_other, 1);
		}
	}
	bpf_map_delete_elem(&socks, &id);
	return 0;
}

SEC("raw_tracepoint/tcp_probe")
int sw_net_probe(struct bpf_raw_tracepoint_args *ctx)
{
	struct sock *sk = (struct sock *)ctx->args[0];
	__u64 id = (__u64)sk;
	struct sw_sock_state *st = bpf_map_lookup_elem(&socks, &id);
	if (!st || !st->established)
		return 0;
	__u64 now = bpf_ktime_get_ns();
	if (now - st->flushed_ns < SW_NET_FLUSH_EVERY_NS)
		return 0;
	st->flushed_ns = now;
	struct sw_flow_value *f = flow(&st->key, st->comm);
	if (!f)
		return 0;
	flush(sk, st, f);
	rtt_sample(sk, f);
	return 0;
}

static __always_inline struct sock *fd_to_sock(__s32 fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	if (!fdt || fd < 0 || (__u32)fd >= BPF_CORE_READ(fdt, max_fds))
		return 0;
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *f = 0;
	if (bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]) || !f)
		return 0;
	struct socket *sock = BPF_CORE_READ(f, private_data);
	if (!sock || BPF_CORE_READ(sock, file) != f || BPF_CORE_READ(sock, type) != SOCK_STREAM)
		return 0;
	struct sock *sk = BPF_CORE_READ(sock, sk);
	if (!sk)
		return 0;
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	return (family == AF_INET || family == AF_INET6) ? sk : 0;
}

static __always_inline int accept_exit(struct sys_exit_ctx *ctx)
{
	if (ctx->ret < 0)
		return 0;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (tgid == agent_tgid)
		return 0;
	struct sock *sk = fd_to_sock((__s32)ctx->ret);
	if (!sk)
		return 0;
	struct sw_sock_state st = {};
	fill_key(sk, tgid, SW_NET_SERVER, &st.key);
	bpf_get_current_comm(st.comm, sizeof(st.comm));
	st.established = 1;
	struct sw_flow_value *f = flow(&st.key, st.comm);
	if (!f)
		return 0;
	__sync_fetch_and_add(&f->opened, 1);
	__u64 id = (__u64)sk;
	if (BPF_CORE_READ((struct sock___sw *)sk, __sk_common.skc_state) == TCP_CLOSE) {
		/* Reset before it was accepted: it will never change state again. */
		flush(sk, &st, f);
		__sync_fetch_and_add(&f->closed, 1);
		return 0;
	}
	if (bpf_map_update_elem(&socks, &id, &st, BPF_ANY)) /* a stale entry of a freed socket is replaced */
		count(SW_NET_SOCK_TABLE_FULL);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept")
int sw_net_accept(struct sys_exit_ctx *ctx)
{
	return accept_exit(ctx);
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int sw_net_accept4(struct sys_exit_ctx *ctx)
{
	return accept_exit(ctx);
}

/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Records shared by net.bpf.c and userspace (bindgen generates the Rust mirror): TCP flow
 * counters aggregated in the kernel per (process, direction, peer, port).
 */
#ifndef SPANWIRE_NET_H
#define SPANWIRE_NET_H

#include <linux/types.h>

/* Address families as stored in sw_flow_key.family. */
#define SW_AF_INET 2
#define SW_AF_INET6 10

/* Which side opened the connection. */
enum sw_net_direction {
	SW_NET_CLIENT = 1, /* this process connected (active open) */
	SW_NET_SERVER = 2, /* this process accepted (passive open) */
};

/* One aggregated flow. For a client the port is the peer's (server) port; for a server it is
 * the local (listening) port, so ephemeral client ports do not multiply the series. */
struct sw_flow_key {
	__u32 tgid;
	__u8 direction; /* enum sw_net_direction */
	__u8 _pad;
	__u16 family;   /* AF_INET or AF_INET6 */
	__u16 port;     /* host byte order */
	__u16 _pad2;
	__u8 peer[16];  /* IPv4: first 4 bytes (network order) */
};

/* Counters since the flow entry was created; updated with atomic adds. */
struct sw_flow_value {
	__u64 bytes_sent;     /* tcp_sock.bytes_acked deltas: payload acknowledged by the peer */
	__u64 bytes_received; /* tcp_sock.bytes_received deltas */
	__u64 opened;
	__u64 closed;         /* established connections that reached TCP_CLOSE */
	__u64 failed_refused; /* SYN_SENT -> CLOSE with ECONNREFUSED */
	__u64 failed_timeout; /* SYN_SENT -> CLOSE with ETIMEDOUT */
	__u64 failed_other;   /* SYN_SENT -> CLOSE otherwise (unreachable, aborted) */
	__u64 retransmits;    /* tcp_sock.total_retrans deltas (what TCP_INFO reports) */
	__u64 srtt_us;        /* latest smoothed RTT of any connection of the flow, microseconds */
	__u64 srtt_sum_us;    /* sum and count of the smoothed RTT at each sample */
	__u64 srtt_samples;
	char comm[16];        /* thread name of the process, for a process already gone */
};

/* Per-socket progress: what was already added to the flow. */
struct sw_sock_state {
	struct sw_flow_key key;
	__u64 bytes_acked;
	__u64 bytes_received;
	__u64 flushed_ns;     /* bpf_ktime_get_ns() of the last flush into the flow */
	__u32 total_retrans;
	__u32 established;
	char comm[16];
};

/* A busy socket is flushed into its flow at most this often from tcp_probe (each received
 * segment); closing flushes whatever is left. */
#define SW_NET_FLUSH_EVERY_NS 10000000ULL

enum sw_net_counter {
	SW_NET_FLOW_TABLE_FULL = 0, /* a flow could not be created */
	SW_NET_SOCK_TABLE_FULL = 1, /* a socket could not be tracked */
	SW_NET_CTR_MAX = 2,
};

#endif /* SPANWIRE_NET_H */

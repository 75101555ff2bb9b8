/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The one definition of every record and map value shared by the kernel programs
 * (src/spanwire.bpf.c) and the agent (exporter/, which generates its Rust types from
 * this file with bindgen at build time). Only fixed-width types, explicit padding.
 */
#ifndef SPANWIRE_H
#define SPANWIRE_H

#ifndef __KERNEL_TYPES_DEFINED
#include <linux/types.h>
#endif

/* Largest payload prefix one event can carry; the runtime limit (payload_max) is <= this. */
#define SW_MAX_PAYLOAD 4096

enum sw_event_kind {
	SW_EVENT_DATA = 1,    /* bytes read or written on a TCP socket */
	SW_EVENT_CONNECT = 2, /* connect() returned 0 or EINPROGRESS: this process is the client */
	SW_EVENT_ACCEPT = 3,  /* accept()/accept4() returned a socket: this process is the server */
	SW_EVENT_CLOSE = 4,   /* close() of a TCP socket fd */
	SW_EVENT_LOG = 5,     /* write to fd 1 or 2 (stdout/stderr) of an observed process; no tuple */
};

enum sw_direction {
	SW_DIR_NONE = 0,
	SW_DIR_INGRESS = 1, /* the process read the bytes */
	SW_DIR_EGRESS = 2,  /* the process wrote the bytes */
};

enum sw_syscall {
	SW_SYS_READ = 1,
	SW_SYS_WRITE = 2,
	SW_SYS_READV = 3,
	SW_SYS_WRITEV = 4,
	SW_SYS_RECVFROM = 5,
	SW_SYS_SENDTO = 6,
	SW_SYS_RECVMSG = 7,
	SW_SYS_SENDMSG = 8,
	SW_SYS_CONNECT = 9,
	SW_SYS_ACCEPT = 10,
	SW_SYS_CLOSE = 11,
};

/* Per-CPU counters, index into the `counters` map. */
enum sw_counter {
	SW_CTR_RINGBUF_FULL = 0,    /* event lost: ring buffer had no room */
	SW_CTR_PAYLOAD_FAULT = 1,   /* payload could not be read from user memory (sent without it) */
	SW_CTR_ARGS_TABLE_FULL = 2, /* syscall arguments could not be stashed at enter (event lost) */
	SW_CTR_LOG_RATE_LIMITED = 3, /* stdout/stderr write over the per-process rate (not captured) */
	SW_CTR_MAX = 4,
};

/* A TCP connection as seen from the observed process: "local" is its own end. */
struct sw_tuple {
	__u8 local_addr[16];  /* IPv4 in the first 4 bytes (network order), or IPv6 */
	__u8 remote_addr[16];
	__u16 local_port;     /* host order */
	__u16 remote_port;    /* host order */
	__u16 family;         /* AF_INET (2) or AF_INET6 (10) */
	__u16 _pad;
};

/* The record the kernel writes to the `events` ring buffer: this header, then `captured` payload bytes. */
struct sw_event {
	__u8 kind;      /* enum sw_event_kind */
	__u8 direction; /* enum sw_direction */
	__u8 syscall;   /* enum sw_syscall */
	__u8 _pad0;
	__u32 pid;      /* thread group id (the process) */
	__u32 tid;      /* thread id */
	__s32 fd;
	__u64 sock_id;  /* kernel socket address: unique while the connection lives */
	__u64 enter_ns; /* CLOCK_MONOTONIC at syscall enter */
	__u64 exit_ns;  /* CLOCK_MONOTONIC at syscall exit */
	__s64 ret;      /* syscall return value: bytes transferred for DATA */
	__u64 start_ns; /* process start (group leader's start_boottime): tells a reused pid apart */
	__u32 captured; /* payload bytes following this header */
	__u32 _pad1;
	char comm[16];  /* thread name, for processes that exit before /proc can be read */
	struct sw_tuple tuple;
};

/* Maximal record, used as per-CPU scratch space. */
struct sw_event_buf {
	struct sw_event hdr;
	__u8 payload[SW_MAX_PAYLOAD * 2]; /* doubled so masked offsets satisfy the verifier */
};

#endif /* SPANWIRE_H */

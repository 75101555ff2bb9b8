// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * spanwire kernel programs: syscall tracepoints that report TCP socket I/O and connection
 * lifecycle of selected processes to userspace through one ring buffer.
 *
 * Why syscall tracepoints: kprobes and fentry/fexit are unavailable on the target kernels
 * (see docs/architecture.md). The socket behind an fd is found by walking
 * task->files->fdt->fd[fd]->private_data (CO-RE), and a file is known to be a socket when
 * socket->file points back to it.
 */
#include "kernel_types.h"
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>

#include "spanwire.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Set by the loader before the programs are verified. */
const volatile __u32 agent_tgid = 0;     /* never observe the agent itself */
const volatile __u32 payload_max = 512;  /* bytes of payload copied per syscall (<= SW_MAX_PAYLOAD) */
const volatile __u32 payload_wide = 4096; /* ... on sockets in wide_socks (HTTP/2: header blocks follow DATA) */
const volatile __u8 capture_all = 1;     /* no --pid/--port/--exe selection: every process */
const volatile __u8 port_filter_on = 0;  /* --port given: also select connections by port */
const volatile __u64 wakeup_bytes = 65536; /* wake the reader only past this much unread data */
const volatile __u8 logs_on = 0;         /* capture stdout/stderr writes of processes in log_pids */
const volatile __u32 log_max = 1024;     /* bytes copied per stdout/stderr write (<= SW_MAX_PAYLOAD) */
const volatile __u64 log_rate = 200;     /* stdout/stderr writes captured per process per second */

/* gRPC C-core (Python, Ruby, PHP, C++...) writes one HTTP/2 header block as
 * dozens of small iovecs (":path", a length byte, the value...): follow up to
 * this many. A bounded loop, not unrolled (kernel >= 5.3). */
#define SW_MAX_IOV 64
/* "PRI * HT" read as a little-endian u64: the first 8 bytes of the HTTP/2 client preface. */
#define SW_H2_PREFACE_HEAD 0x5448202a20495250ULL

struct io_args {
	__u64 buf;      /* user buffer, iovec array or msghdr, per `vec` */
	__u64 sk;       /* struct sock * */
	__u64 enter_ns;
	__s32 fd;
	__u32 iovcnt;
	__u8 sys;
	__u8 dir;
	__u8 vec;       /* 0: plain buffer, 1: iovec array, 2: msghdr */
	__u8 _pad[5];
};

#define VEC_BUF 0
#define VEC_IOV 1
#define VEC_MSG 2

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 * 1024 * 1024);
} events SEC(".maps");

/* Arguments stashed at syscall enter for the exit program. LRU: a thread killed inside a
 * syscall never runs its exit program, and its stale entry must not fill the table. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64); /* pid_tgid */
	__type(value, struct io_args);
} inflight SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sw_event_buf);
} scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32); /* tgid */
	__type(value, __u8);
} pid_filter SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u16); /* port, host order */
	__type(value, __u8);
} port_filter SEC(".maps");

/* The agent's own TCP connections (its OTLP export) as (local port << 16 | remote port): the
 * socket on the other end is the collector receiving our telemetry; observing it would loop.
 * Keyed by the port pair, not the local port alone: another process may use the same
 * ephemeral port towards a different destination. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u8);
} self_ports SEC(".maps");

static __always_inline __u32 port_pair(__u16 a, __u16 b)
{
	return ((__u32)a << 16) | b;
}

/* Sockets whose payloads are captured up to payload_wide bytes: the agent adds the
 * connections it found to speak HTTP/2, where one write often batches DATA of some
 * streams before the HEADERS of others, and a lost header block costs HPACK state. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64); /* struct sock * */
	__type(value, __u8);
} wide_socks SEC(".maps");

/* Processes whose stdout/stderr become log records (filled by the agent as it observes them). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32); /* tgid */
	__type(value, __u8);
} log_pids SEC(".maps");

/* Per-process token bucket for stdout/stderr capture, so a noisy logger cannot fill the
 * ring buffer that HTTP events share. */
struct log_bucket {
	__u64 last_ns;
	__u64 tokens;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32); /* tgid */
	__type(value, struct log_bucket);
} log_budget SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SW_CTR_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

static __always_inline void count(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &idx);
	if (v)
		*v += 1;
}

/* 1: observe this process regardless of ports; 0: only if a port matches; -1: never. */
static __always_inline int pid_selection(__u32 tgid)
{
	if (tgid == agent_tgid)
		return -1;
	if (capture_all)
		return 1;
	if (bpf_map_lookup_elem(&pid_filter, &tgid))
		return 1;
	return port_filter_on ? 0 : -1;
}

static __always_inline struct sock *fd_to_sock(__s32 fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	if (!fdt || fd < 0)
		return 0;
	if ((__u32)fd >= BPF_CORE_READ(fdt, max_fds))
		return 0;
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *f = 0;
	if (bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]) || !f)
		return 0;
	struct socket *sock = BPF_CORE_READ(f, private_data);
	if (!sock || BPF_CORE_READ(sock, file) != f)
		return 0; /* not a socket: private_data does not point back */
	if (BPF_CORE_READ(sock, type) != SOCK_STREAM)
		return 0;
	struct sock *sk = BPF_CORE_READ(sock, sk);
	if (!sk)
		return 0;
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != AF_INET && family != AF_INET6)
		return 0;
	return sk;
}

static __always_inline int conn_selected(struct sock *sk, int pid_sel)
{
	__u16 lport = BPF_CORE_READ(sk, __sk_common.skc_num);
	__u16 rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	/* The mirror of one of the agent's own connections: its remote port is our local one. */
	__u32 mirror = port_pair(rport, lport);
	if (bpf_map_lookup_elem(&self_ports, &mirror))
		return 0;
	if (pid_sel > 0)
		return 1;
	return bpf_map_lookup_elem(&port_filter, &lport) || bpf_map_lookup_elem(&port_filter, &rport);
}

static __always_inline void read_tuple(struct sock *sk, struct sw_tuple *t)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	t->family = family;
	t->local_port = BPF_CORE_READ(sk, __sk_common.skc_num);
	t->remote_port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	t->_pad = 0;
	__builtin_memset(t->local_addr, 0, sizeof(t->local_addr));
	__builtin_memset(t->remote_addr, 0, sizeof(t->remote_addr));
	if (family == AF_INET) {
		__be32 l = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		__be32 r = BPF_CORE_READ(sk, __sk_common.skc_daddr);
		__builtin_memcpy(t->local_addr, &l, 4);
		__builtin_memcpy(t->remote_addr, &r, 4);
	} else {
		BPF_CORE_READ_INTO(&t->local_addr, sk, __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);
		BPF_CORE_READ_INTO(&t->remote_addr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
	}
}

static __always_inline struct sw_event_buf *new_event(__u8 kind, __u8 sys, __u64 id, __s32 fd,
						      struct sock *sk)
{
	__u32 zero = 0;
	struct sw_event_buf *e = bpf_map_lookup_elem(&scratch, &zero);
	if (!e)
		return 0;
	e->hdr.kind = kind;
	e->hdr.direction = SW_DIR_NONE;
	e->hdr.syscall = sys;
	e->hdr._pad0 = 0;
	e->hdr.pid = id >> 32;
	e->hdr.tid = (__u32)id;
	e->hdr.fd = fd;
	e->hdr.sock_id = (__u64)sk;
	e->hdr.ret = 0;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	e->hdr.start_ns = BPF_CORE_READ(task, group_leader, start_boottime);
	e->hdr.captured = 0;
	e->hdr._pad1 = 0;
	bpf_get_current_comm(e->hdr.comm, sizeof(e->hdr.comm));
	if (sk)
		read_tuple(sk, &e->hdr.tuple);
	else
		__builtin_memset(&e->hdr.tuple, 0, sizeof(e->hdr.tuple));
	return e;
}

static __always_inline void submit(struct sw_event_buf *e)
{
	__u32 size = sizeof(struct sw_event) + (e->hdr.captured & (SW_MAX_PAYLOAD * 2 - 1));
	if (size > sizeof(*e))
		return;
	__u64 flags = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes ? BPF_RB_FORCE_WAKEUP
										 : BPF_RB_NO_WAKEUP;
	if (bpf_ringbuf_output(&events, e, size, flags))
		count(SW_CTR_RINGBUF_FULL);
}

/* Copy up to `want` bytes from a plain user buffer. */
static __always_inline __u32 copy_plain(struct sw_event_buf *e, __u64 ubuf, __u32 want)
{
	__u32 n = want & (SW_MAX_PAYLOAD * 2 - 1);
	if (n > SW_MAX_PAYLOAD)
		n = SW_MAX_PAYLOAD;
	if (bpf_probe_read_user(e->payload, n, (void *)ubuf)) {
		count(SW_CTR_PAYLOAD_FAULT);
		return 0;
	}
	return n;
}

/* Copy up to `want` bytes spread over the first SW_MAX_IOV entries of a user iovec array. */
static __always_inline __u32 copy_iov(struct sw_event_buf *e, __u64 iov, __u64 iovcnt, __u32 want)
{
	__u32 done = 0;
#pragma clang loop unroll(disable)
	for (int i = 0; i < SW_MAX_IOV; i++) {
		if (i >= iovcnt || done >= want)
			break;
		struct sw_iovec v;
		if (bpf_probe_read_user(&v, sizeof(v), (void *)(iov + i * sizeof(v)))) {
			count(SW_CTR_PAYLOAD_FAULT);
			break;
		}
		__u64 n = v.len;
		if (n > want - done)
			n = want - done;
		__u32 off = done & (SW_MAX_PAYLOAD - 1);
		n &= (SW_MAX_PAYLOAD - 1) | SW_MAX_PAYLOAD;
		if (n > SW_MAX_PAYLOAD)
			n = SW_MAX_PAYLOAD;
		if (bpf_probe_read_user(e->payload + off, n, (void *)v.base)) {
			count(SW_CTR_PAYLOAD_FAULT);
			break;
		}
		done += n;
	}
	return done;
}

static __always_inline int log_allowed(__u32 tgid)
{
	__u64 now = bpf_ktime_get_ns();
	struct log_bucket *b = bpf_map_lookup_elem(&log_budget, &tgid);
	if (!b) {
		struct log_bucket fresh = { .last_ns = now, .tokens = log_rate > 0 ? log_rate - 1 : 0 };
		bpf_map_update_elem(&log_budget, &tgid, &fresh, BPF_ANY);
		return log_rate > 0;
	}
	__u64 elapsed = now - b->last_ns;
	if (elapsed > 1000000000ULL)
		elapsed = 1000000000ULL;
	__u64 add = elapsed * log_rate / 1000000000ULL;
	if (add) {
		__u64 t = b->tokens + add;
		b->tokens = t > log_rate ? log_rate : t;
		b->last_ns = now;
	}
	if (b->tokens == 0) {
		count(SW_CTR_LOG_RATE_LIMITED);
		return 0;
	}
	b->tokens -= 1;
	return 1;
}

/* A process with an observed connection: its stdout/stderr become log records from now on
 * (userspace also adds processes it first sees through data events). */
static __always_inline void watch_logs(__u64 id)
{
	if (!logs_on)
		return;
	__u32 tgid = id >> 32;
	if (!bpf_map_lookup_elem(&log_pids, &tgid)) {
		__u8 one = 1;
		bpf_map_update_elem(&log_pids, &tgid, &one, BPF_ANY);
	}
}

/* A write to stdout/stderr of an observed process: stash it like socket I/O, without a socket. */
static __always_inline int log_enter(struct sys_enter_ctx *ctx, __u64 id, __s32 fd, __u8 sys, __u8 vec)
{
	__u32 tgid = id >> 32;
	if (!bpf_map_lookup_elem(&log_pids, &tgid) || !log_allowed(tgid))
		return 0;
	struct io_args a = {
		.buf = ctx->args[1],
		.sk = 0,
		.enter_ns = bpf_ktime_get_ns(),
		.fd = fd,
		.iovcnt = vec == VEC_IOV ? (__u32)ctx->args[2] : 0,
		.sys = sys,
		.dir = SW_DIR_EGRESS,
		.vec = vec,
	};
	if (bpf_map_update_elem(&inflight, &id, &a, BPF_ANY))
		count(SW_CTR_ARGS_TABLE_FULL);
	return 0;
}

static __always_inline int io_enter(struct sys_enter_ctx *ctx, __u8 sys, __u8 dir, __u8 vec)
{
	__u64 id = bpf_get_current_pid_tgid();
	int sel = pid_selection(id >> 32);
	if (sel < 0)
		return 0;
	__s32 fd = (__s32)ctx->args[0];
	struct sock *sk = fd_to_sock(fd);
	if (!sk) {
		if (logs_on && dir == SW_DIR_EGRESS && (fd == 1 || fd == 2))
			return log_enter(ctx, id, fd, sys, vec);
		return 0;
	}
	if (!conn_selected(sk, sel))
		return 0;
	struct io_args a = {
		.buf = ctx->args[1],
		.sk = (__u64)sk,
		.enter_ns = bpf_ktime_get_ns(),
		.fd = fd,
		.iovcnt = vec == VEC_IOV ? (__u32)ctx->args[2] : 0,
		.sys = sys,
		.dir = dir,
		.vec = vec,
	};
	if (bpf_map_update_elem(&inflight, &id, &a, BPF_ANY))
		count(SW_CTR_ARGS_TABLE_FULL);
	return 0;
}

/* Copies up to `want` (and at most `ret`) bytes of the syscall's payload into the event. */
static __always_inline void capture(struct sw_event_buf *e, struct io_args *a, __s64 ret, __u32 want)
{
	if (want > SW_MAX_PAYLOAD)
		want = SW_MAX_PAYLOAD;
	if ((__u64)ret < want)
		want = (__u32)ret;
	if (a->vec == VEC_BUF) {
		e->hdr.captured = copy_plain(e, a->buf, want);
	} else if (a->vec == VEC_IOV) {
		e->hdr.captured = copy_iov(e, a->buf, a->iovcnt, want);
	} else {
		struct sw_user_msghdr m;
		if (bpf_probe_read_user(&m, sizeof(m), (void *)a->buf)) {
			count(SW_CTR_PAYLOAD_FAULT);
			e->hdr.captured = 0;
		} else {
			e->hdr.captured = copy_iov(e, m.msg_iov, m.msg_iovlen, want);
		}
	}
}

static __always_inline int io_exit(struct sys_exit_ctx *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct io_args *ap = bpf_map_lookup_elem(&inflight, &id);
	if (!ap)
		return 0;
	struct io_args a = *ap;
	bpf_map_delete_elem(&inflight, &id);
	__s64 ret = ctx->ret;
	if (ret <= 0)
		return 0;
	__u8 kind = a.sk ? SW_EVENT_DATA : SW_EVENT_LOG;
	struct sw_event_buf *e = new_event(kind, a.sys, id, a.fd, (struct sock *)a.sk);
	if (!e)
		return 0;
	e->hdr.direction = a.dir;
	e->hdr.enter_ns = a.enter_ns;
	e->hdr.exit_ns = bpf_ktime_get_ns();
	e->hdr.ret = ret;
	__u32 want = a.sk ? payload_max : log_max;
	if (a.sk && payload_wide > want && (__u64)ret > want && bpf_map_lookup_elem(&wide_socks, &a.sk))
		want = payload_wide;
	capture(e, &a, ret, want);
	/* The HTTP/2 client preface ("PRI * HT..."): widen this socket's capture now rather
	 * than when the agent gets to the event, and recopy this segment: the server's first
	 * read often holds the preface and a batch of request HEADERS. */
	if (a.sk && e->hdr.captured >= 8 && want < payload_wide) {
		__u64 head;
		__builtin_memcpy(&head, e->payload, sizeof(head));
		if (head == SW_H2_PREFACE_HEAD) {
			__u8 one = 1;
			bpf_map_update_elem(&wide_socks, &a.sk, &one, BPF_ANY);
			if ((__u64)ret > want)
				capture(e, &a, ret, payload_wide);
		}
	}
	submit(e);
	return 0;
}

#define IO_PAIR(name, sys, dir, vec)                                                              \
	SEC("tracepoint/syscalls/sys_enter_" #name)                                               \
	int sw_enter_##name(struct sys_enter_ctx *ctx) { return io_enter(ctx, sys, dir, vec); }   \
	SEC("tracepoint/syscalls/sys_exit_" #name)                                                \
	int sw_exit_##name(struct sys_exit_ctx *ctx) { return io_exit(ctx); }

IO_PAIR(read, SW_SYS_READ, SW_DIR_INGRESS, VEC_BUF)
IO_PAIR(write, SW_SYS_WRITE, SW_DIR_EGRESS, VEC_BUF)
IO_PAIR(readv, SW_SYS_READV, SW_DIR_INGRESS, VEC_IOV)
IO_PAIR(writev, SW_SYS_WRITEV, SW_DIR_EGRESS, VEC_IOV)
IO_PAIR(recvfrom, SW_SYS_RECVFROM, SW_DIR_INGRESS, VEC_BUF)
IO_PAIR(sendto, SW_SYS_SENDTO, SW_DIR_EGRESS, VEC_BUF)
IO_PAIR(recvmsg, SW_SYS_RECVMSG, SW_DIR_INGRESS, VEC_MSG)
IO_PAIR(sendmsg, SW_SYS_SENDMSG, SW_DIR_EGRESS, VEC_MSG)

/* connect: the fd is remembered at enter; at exit the local port is known (also for EINPROGRESS). */
SEC("tracepoint/syscalls/sys_enter_connect")
int sw_enter_connect(struct sys_enter_ctx *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	if ((id >> 32) != agent_tgid && pid_selection(id >> 32) < 0)
		return 0;
	struct io_args a = {
		.enter_ns = bpf_ktime_get_ns(),
		.fd = (__s32)ctx->args[0],
		.sys = SW_SYS_CONNECT,
	};
	if (bpf_map_update_elem(&inflight, &id, &a, BPF_ANY))
		count(SW_CTR_ARGS_TABLE_FULL);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_connect")
int sw_exit_connect(struct sys_exit_ctx *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct io_args *ap = bpf_map_lookup_elem(&inflight, &id);
	if (!ap)
		return 0;
	struct io_args a = *ap;
	bpf_map_delete_elem(&inflight, &id);
	if (a.sys != SW_SYS_CONNECT || (ctx->ret != 0 && ctx->ret != -EINPROGRESS))
		return 0;
	struct sock *sk = fd_to_sock(a.fd);
	if (!sk)
		return 0;
	if ((id >> 32) == agent_tgid) {
		__u32 own = port_pair(BPF_CORE_READ(sk, __sk_common.skc_num),
				      bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport)));
		__u8 one = 1;
		bpf_map_update_elem(&self_ports, &own, &one, BPF_ANY);
		return 0;
	}
	if (!conn_selected(sk, pid_selection(id >> 32)))
		return 0;
	watch_logs(id);
	struct sw_event_buf *e = new_event(SW_EVENT_CONNECT, SW_SYS_CONNECT, id, a.fd, sk);
	if (!e)
		return 0;
	e->hdr.enter_ns = a.enter_ns;
	e->hdr.exit_ns = bpf_ktime_get_ns();
	e->hdr.ret = ctx->ret;
	submit(e);
	return 0;
}

static __always_inline int accept_exit(struct sys_exit_ctx *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	int sel = pid_selection(id >> 32);
	if (sel < 0 || ctx->ret < 0)
		return 0;
	__s32 fd = (__s32)ctx->ret;
	struct sock *sk = fd_to_sock(fd);
	if (!sk || !conn_selected(sk, sel))
		return 0;
	watch_logs(id);
	struct sw_event_buf *e = new_event(SW_EVENT_ACCEPT, SW_SYS_ACCEPT, id, fd, sk);
	if (!e)
		return 0;
	e->hdr.enter_ns = e->hdr.exit_ns = bpf_ktime_get_ns();
	e->hdr.ret = ctx->ret;
	submit(e);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept")
int sw_exit_accept(struct sys_exit_ctx *ctx) { return accept_exit(ctx); }

SEC("tracepoint/syscalls/sys_exit_accept4")
int sw_exit_accept4(struct sys_exit_ctx *ctx) { return accept_exit(ctx); }

SEC("tracepoint/syscalls/sys_enter_close")
int sw_enter_close(struct sys_enter_ctx *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__s32 fd = (__s32)ctx->args[0];
	if ((id >> 32) == agent_tgid) {
		struct sock *own = fd_to_sock(fd);
		if (own) {
			__u32 pair = port_pair(BPF_CORE_READ(own, __sk_common.skc_num),
					       bpf_ntohs(BPF_CORE_READ(own, __sk_common.skc_dport)));
			bpf_map_delete_elem(&self_ports, &pair);
		}
		return 0;
	}
	int sel = pid_selection(id >> 32);
	if (sel < 0)
		return 0;
	struct sock *sk = fd_to_sock(fd);
	if (!sk || !conn_selected(sk, sel))
		return 0;
	struct sw_event_buf *e = new_event(SW_EVENT_CLOSE, SW_SYS_CLOSE, id, fd, sk);
	if (!e)
		return 0;
	e->hdr.enter_ns = e->hdr.exit_ns = bpf_ktime_get_ns();
	submit(e);
	return 0;
}

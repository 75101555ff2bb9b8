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

#ifndef __TARGET_ARCH_x86
#error "the exit programs read syscall arguments from x86-64 pt_regs; port sys_args() first"
#endif

/* One read or write syscall, as its exit program sees it. */
struct io_args {
	__u64 buf;      /* user buffer, iovec array or msghdr, per `vec` */
	__u64 sk;       /* struct sock *, 0 for stdout/stderr */
	__u64 enter_ns;
	__s32 fd;
	__u32 iovcnt;
	__u8 sys;
	__u8 dir;
	__u8 vec;       /* 0: plain buffer, 1: iovec array, 2: msghdr */
	__u8 _pad[5];
};

struct connect_args {
	__u64 enter_ns;
	__s32 fd;
	__u32 _pad;
};

#define VEC_BUF 0
#define VEC_IOV 1
#define VEC_MSG 2

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 * 1024 * 1024);
} events SEC(".maps");

/* connect() arguments stashed at enter for the exit program. LRU: a thread killed inside
 * the syscall never runs its exit program, and its stale entry must not fill the table. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64); /* pid_tgid */
	__type(value, struct connect_args);
} inflight SEC(".maps");

/* When each thread entered its current write-type syscall: a write's bytes exist from its
 * enter on, which userspace needs to order a client's request before the server's read of
 * it. Read and write data are taken at exit (arguments from the saved registers), so this is
 * the only thing an enter program records, and it must be cheap: an array slot chosen by
 * thread id (no hash update), tagged with the tid. Two threads sharing a slot make one of
 * them fall back to its exit time. */
#define SW_ENTER_SLOTS 65536
struct enter_slot {
	__u32 tid;
	__u32 _pad;
	__u64 ns;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SW_ENTER_SLOTS);
	__type(key, __u32);
	__type(value, struct enter_slot);
} write_enters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sw_event_buf);
} scratch SEC(".maps");

/* Selected processes (--pid, --exe): bit (tgid & 63) of word (tgid >> 6), for every possible
 * pid (< 2^22). Asked on every read/write syscall of the machine, so an array: the verifier
 * inlines its lookup, where a hash lookup is a helper call. */
#define SW_PID_WORDS 65536
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SW_PID_WORDS);
	__type(key, __u32);
	__type(value, __u64);
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
	__u32 word = tgid >> 6;
	__u64 *bits = bpf_map_lookup_elem(&pid_filter, &word);
	if (bits && (*bits & (1ULL << (tgid & 63))))
		return 1;
	return port_filter_on ? 0 : -1;
}

/* Helper calls dominate the cost of these programs (each bpf_probe_read_kernel ~30 ns here;
 * a direct load from a BTF pointer ~1 ns). So: the task's fd table is walked with direct
 * loads, and a socket's or sock's few fields are taken from one read of its first bytes,
 * at their CO-RE offsets (a field found past those bytes on some kernel is read alone). */
#define SW_HEAD 32

#define head_field(dst, head, type, field, ptr)                                                   \
	({                                                                                        \
		__u32 __off = bpf_core_field_offset(type, field);                                 \
		if (__off <= SW_HEAD - sizeof(dst))                                               \
			__builtin_memcpy(&(dst), (head) + (__off & (SW_HEAD - 1)), sizeof(dst));  \
		else                                                                              \
			dst = BPF_CORE_READ((type *)(ptr), field);                                \
	})

/* What the programs need to know about a connection's socket. */
struct sk_view {
	struct sock *sk;
	__be32 laddr4;   /* IPv4 only */
	__be32 raddr4;
	__u16 family;
	__u16 lport;     /* host order */
	__u16 rport;     /* host order */
};

/* The TCP socket behind `fd` of the current process, or 0 (not a socket, not TCP over IP). */
static __always_inline struct sock *fd_to_sock(__s32 fd, struct sk_view *v)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct fdtable *fdt = task->files->fdt;
	if (fd < 0 || (__u32)fd >= fdt->max_fds)
		return 0;
	struct file *f = 0;
	if (bpf_probe_read_kernel(&f, sizeof(f), &fdt->fd[fd]) || !f)
		return 0;
	struct socket *sock = BPF_CORE_READ(f, private_data);
	if (!sock)
		return 0;
	char head[SW_HEAD];
	if (bpf_probe_read_kernel(head, sizeof(head), sock))
		return 0;
	struct file *back;
	short type;
	struct sock *sk;
	head_field(back, head, struct socket, file, sock);
	if (back != f)
		return 0; /* not a socket: private_data does not point back */
	head_field(type, head, struct socket, type, sock);
	head_field(sk, head, struct socket, sk, sock);
	if (type != SOCK_STREAM || !sk)
		return 0;
	if (bpf_probe_read_kernel(head, sizeof(head), sk))
		return 0;
	__be16 dport;
	head_field(v->family, head, struct sock, __sk_common.skc_family, sk);
	if (v->family != AF_INET && v->family != AF_INET6)
		return 0;
	head_field(v->lport, head, struct sock, __sk_common.skc_num, sk);
	head_field(dport, head, struct sock, __sk_common.skc_dport, sk);
	head_field(v->laddr4, head, struct sock, __sk_common.skc_rcv_saddr, sk);
	head_field(v->raddr4, head, struct sock, __sk_common.skc_daddr, sk);
	if (!v->lport) {
		/* Reset by the peer (TCP_CLOSE): inet_put_port() zeroed skc_num, but the last
		 * writes and the close still belong to the connection; inet_sport keeps the port. */
		__be16 sport = BPF_CORE_READ((struct inet_sock *)sk, inet_sport);
		v->lport = bpf_ntohs(sport);
	}
	v->rport = bpf_ntohs(dport);
	v->sk = sk;
	return sk;
}

static __always_inline int conn_selected(struct sk_view *v, int pid_sel)
{
	/* The mirror of one of the agent's own connections: its remote port is our local one. */
	__u32 mirror = port_pair(v->rport, v->lport);
	if (bpf_map_lookup_elem(&self_ports, &mirror))
		return 0;
	if (pid_sel > 0)
		return 1;
	return bpf_map_lookup_elem(&port_filter, &v->lport) || bpf_map_lookup_elem(&port_filter, &v->rport);
}

static __always_inline void read_tuple(struct sk_view *v, struct sw_tuple *t)
{
	t->family = v->family;
	t->local_port = v->lport;
	t->remote_port = v->rport;
	t->_pad = 0;
	__builtin_memset(t->local_addr, 0, sizeof(t->local_addr));
	__builtin_memset(t->remote_addr, 0, sizeof(t->remote_addr));
	if (v->family == AF_INET) {
		__builtin_memcpy(t->local_addr, &v->laddr4, 4);
		__builtin_memcpy(t->remote_addr, &v->raddr4, 4);
	} else {
		/* Not `v->sk` inside the macro: CO-RE would relocate the sk_view access too. */
		struct sock *sk = v->sk;
		BPF_CORE_READ_INTO(&t->local_addr, sk, __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);
		BPF_CORE_READ_INTO(&t->remote_addr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
	}
}

static __always_inline struct sw_event_buf *new_event(__u8 kind, __u8 sys, __u64 id, __s32 fd,
						      struct sk_view *v)
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
	e->hdr.sock_id = v ? (__u64)v->sk : 0;
	e->hdr.ret = 0;
	e->hdr.start_ns = bpf_get_current_task_btf()->group_leader->start_boottime;
	e->hdr.captured = 0;
	e->hdr._pad1 = 0;
	bpf_get_current_comm(e->hdr.comm, sizeof(e->hdr.comm));
	if (v)
		read_tuple(v, &e->hdr.tuple);
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

/* Enter of a write-type syscall: remember when, for the exit program. */
static __always_inline int write_enter(void)
{
	__u64 id = bpf_get_current_pid_tgid();
	if (pid_selection(id >> 32) < 0)
		return 0;
	__u32 slot = (__u32)id & (SW_ENTER_SLOTS - 1);
	struct enter_slot *e = bpf_map_lookup_elem(&write_enters, &slot);
	if (e) {
		e->tid = (__u32)id;
		e->ns = bpf_ktime_get_ns();
	}
	return 0;
}

static __always_inline __u64 write_enter_ns(__u64 id, __u64 exit_ns)
{
	__u32 slot = (__u32)id & (SW_ENTER_SLOTS - 1);
	struct enter_slot *e = bpf_map_lookup_elem(&write_enters, &slot);
	if (e && e->tid == (__u32)id && e->ns <= exit_ns)
		return e->ns;
	return exit_ns;
}

/* The syscall's first three arguments, from the registers saved at its entry. */
static __always_inline void sys_args(__u64 *a0, __u64 *a1, __u64 *a2)
{
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	*a0 = regs->di;
	*a1 = regs->si;
	*a2 = regs->dx;
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

static __always_inline int io_exit(struct sys_exit_ctx *ctx, __u8 sys, __u8 dir, __u8 vec)
{
	__s64 ret = ctx->ret;
	if (ret <= 0)
		return 0;
	__u64 id = bpf_get_current_pid_tgid();
	int sel = pid_selection(id >> 32);
	if (sel < 0)
		return 0;
	__u64 a0, a1, a2;
	sys_args(&a0, &a1, &a2);
	__s32 fd = (__s32)a0;
	struct sk_view v;
	struct sock *sk = fd_to_sock(fd, &v);
	if (sk) {
		if (!conn_selected(&v, sel))
			return 0;
	} else {
		/* A write to stdout/stderr of a process whose logs are captured. */
		__u32 tgid = id >> 32;
		if (!logs_on || dir != SW_DIR_EGRESS || (fd != 1 && fd != 2) ||
		    !bpf_map_lookup_elem(&log_pids, &tgid) || !log_allowed(tgid))
			return 0;
	}
	__u64 now = bpf_ktime_get_ns();
	struct io_args a = {
		.buf = a1,
		.sk = (__u64)sk,
		.enter_ns = dir == SW_DIR_EGRESS ? write_enter_ns(id, now) : now,
		.fd = fd,
		.iovcnt = vec == VEC_IOV ? (__u32)a2 : 0,
		.sys = sys,
		.dir = dir,
		.vec = vec,
	};
	__u8 kind = a.sk ? SW_EVENT_DATA : SW_EVENT_LOG;
	struct sw_event_buf *e = new_event(kind, a.sys, id, a.fd, sk ? &v : 0);
	if (!e)
		return 0;
	e->hdr.direction = a.dir;
	e->hdr.enter_ns = a.enter_ns;
	e->hdr.exit_ns = now;
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

/* Reads: one exit program (the failed and EAGAIN reads of event loops cost it little).
 * Writes: the exit program plus a small enter program for the enter time. */
#define IO_READ(name, sys, vec)                                                                   \
	SEC("tracepoint/syscalls/sys_exit_" #name)                                                \
	int sw_exit_##name(struct sys_exit_ctx *ctx) { return io_exit(ctx, sys, SW_DIR_INGRESS, vec); }
#define IO_WRITE(name, sys, vec)                                                                  \
	SEC("tracepoint/syscalls/sys_enter_" #name)                                               \
	int sw_enter_##name(struct sys_enter_ctx *ctx) { return write_enter(); }                  \
	SEC("tracepoint/syscalls/sys_exit_" #name)                                                \
	int sw_exit_##name(struct sys_exit_ctx *ctx) { return io_exit(ctx, sys, SW_DIR_EGRESS, vec); }

IO_READ(read, SW_SYS_READ, VEC_BUF)
IO_WRITE(write, SW_SYS_WRITE, VEC_BUF)
IO_READ(readv, SW_SYS_READV, VEC_IOV)
IO_WRITE(writev, SW_SYS_WRITEV, VEC_IOV)
IO_READ(recvfrom, SW_SYS_RECVFROM, VEC_BUF)
IO_WRITE(sendto, SW_SYS_SENDTO, VEC_BUF)
IO_READ(recvmsg, SW_SYS_RECVMSG, VEC_MSG)
IO_WRITE(sendmsg, SW_SYS_SENDMSG, VEC_MSG)

/* connect: the fd is remembered at enter; at exit the local port is known (also for EINPROGRESS). */
SEC("tracepoint/syscalls/sys_enter_connect")
int sw_enter_connect(struct sys_enter_ctx *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	if ((id >> 32) != agent_tgid && pid_selection(id >> 32) < 0)
		return 0;
	struct connect_args a = {
		.enter_ns = bpf_ktime_get_ns(),
		.fd = (__s32)ctx->args[0],
	};
	if (bpf_map_update_elem(&inflight, &id, &a, BPF_ANY))
		count(SW_CTR_ARGS_TABLE_FULL);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_connect")
int sw_exit_connect(struct sys_exit_ctx *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct connect_args *ap = bpf_map_lookup_elem(&inflight, &id);
	if (!ap)
		return 0;
	struct connect_args a = *ap;
	bpf_map_delete_elem(&inflight, &id);
	if (ctx->ret != 0 && ctx->ret != -EINPROGRESS)
		return 0;
	struct sk_view v;
	struct sock *sk = fd_to_sock(a.fd, &v);
	if (!sk)
		return 0;
	if ((id >> 32) == agent_tgid) {
		__u32 own = port_pair(v.lport, v.rport);
		__u8 one = 1;
		bpf_map_update_elem(&self_ports, &own, &one, BPF_ANY);
		return 0;
	}
	if (!conn_selected(&v, pid_selection(id >> 32)))
		return 0;
	watch_logs(id);
	struct sw_event_buf *e = new_event(SW_EVENT_CONNECT, SW_SYS_CONNECT, id, a.fd, &v);
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
	struct sk_view v;
	struct sock *sk = fd_to_sock(fd, &v);
	if (!sk || !conn_selected(&v, sel))
		return 0;
	watch_logs(id);
	struct sw_event_buf *e = new_event(SW_EVENT_ACCEPT, SW_SYS_ACCEPT, id, fd, &v);
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
		struct sk_view own;
		if (fd_to_sock(fd, &own)) {
			__u32 pair = port_pair(own.lport, own.rport);
			bpf_map_delete_elem(&self_ports, &pair);
		}
		return 0;
	}
	int sel = pid_selection(id >> 32);
	if (sel < 0)
		return 0;
	struct sk_view v;
	struct sock *sk = fd_to_sock(fd, &v);
	if (!sk || !conn_selected(&v, sel))
		return 0;
	struct sw_event_buf *e = new_event(SW_EVENT_CLOSE, SW_SYS_CLOSE, id, fd, &v);
	if (!e)
		return 0;
	e->hdr.enter_ns = e->hdr.exit_ns = bpf_ktime_get_ns();
	submit(e);
	return 0;
}

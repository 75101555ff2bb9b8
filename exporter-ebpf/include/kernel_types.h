/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The few kernel types the programs touch, declared with preserve_access_index so that
 * clang emits CO-RE relocations: the loader rewrites every field offset to the running
 * kernel's layout from its BTF. Members are named and nested as in the kernel (anonymous
 * unions and structs included) so relocation matches them by name on any kernel version.
 * A full vmlinux.h is not needed, and the build does not depend on the build host's kernel.
 */
#ifndef SPANWIRE_KERNEL_TYPES_H
#define SPANWIRE_KERNEL_TYPES_H

#include <linux/types.h>

#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)

struct in6_addr {
	union {
		__u8 u6_addr8[16];
		__be16 u6_addr16[8];
		__be32 u6_addr32[4];
	} in6_u;
};

struct sock_common {
	union {
		__u64 skc_addrpair;
		struct {
			__be32 skc_daddr;
			__be32 skc_rcv_saddr;
		};
	};
	union {
		__u32 skc_portpair;
		struct {
			__be16 skc_dport;
			__u16 skc_num;
		};
	};
	unsigned short skc_family;
	struct in6_addr skc_v6_daddr;
	struct in6_addr skc_v6_rcv_saddr;
};

struct sock {
	struct sock_common __sk_common;
};

/* Only inet_sport: it survives the reset of a connection, when inet_put_port() zeroes skc_num. */
struct inet_sock {
	struct sock sk;
	__be16 inet_sport;
};

struct file;

struct socket {
	short type;
	struct file *file;
	struct sock *sk;
};

struct file {
	void *private_data;
};

struct fdtable {
	unsigned int max_fds;
	struct file **fd;
};

struct files_struct {
	struct fdtable *fdt;
};

/* The user registers saved at syscall entry (x86-64). A syscall does not change them, so at
 * syscall exit di/si/dx still hold its first three arguments. */
struct pt_regs {
	unsigned long dx;
	unsigned long si;
	unsigned long di;
};

struct task_struct {
	struct files_struct *files;
	struct task_struct *group_leader;
	__u64 start_boottime; /* ns since boot, what /proc/<pid>/stat's starttime is in ticks */
};

#pragma clang attribute pop

/* Syscall tracepoint records: a stable ABI (see .../events/syscalls/sys_enter_write/format). */
struct sys_enter_ctx {
	__u64 common;
	__s64 syscall_nr;
	__u64 args[6];
};

struct sys_exit_ctx {
	__u64 common;
	__s64 syscall_nr;
	__s64 ret;
};

/* Userspace ABI structs (read with bpf_probe_read_user; layout is fixed by the syscall ABI). */
struct sw_iovec {
	__u64 base;
	__u64 len;
};

struct sw_user_msghdr {
	__u64 msg_name;
	__s32 msg_namelen;
	__s32 _pad;
	__u64 msg_iov;
	__u64 msg_iovlen;
	__u64 msg_control;
	__u64 msg_controllen;
	__u32 msg_flags;
};

#define AF_INET 2
#define AF_INET6 10
#define SOCK_STREAM 1
#define EINPROGRESS 115

#endif /* SPANWIRE_KERNEL_TYPES_H */

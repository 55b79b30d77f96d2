/* The few kernel types process.bpf.c reads, declared by hand instead of a generated vmlinux.h.
 * Only the fields used are listed: `preserve_access_index` makes clang emit CO-RE relocations,
 * and the loader finds each field by name in the running kernel's BTF, wherever it lies there
 * (anonymous inner structs included). So one object runs on every kernel with BTF. */
#ifndef WARDEN_KERNEL_H
#define WARDEN_KERNEL_H

typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef unsigned long long __u64;
typedef signed int __s32;
typedef __s32 s32;
typedef signed long long s64;
typedef signed long long __s64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u32 __wsum;
typedef __u8 u8;
typedef __u16 u16;
typedef __u32 u32;
typedef __u64 u64;
typedef int pid_t;
typedef _Bool bool;
#define true 1
#define false 0

enum bpf_map_type {
	BPF_MAP_TYPE_HASH = 1,
	BPF_MAP_TYPE_ARRAY = 2,
	BPF_MAP_TYPE_PERCPU_ARRAY = 6,
	BPF_MAP_TYPE_LRU_HASH = 9,
	BPF_MAP_TYPE_SK_STORAGE = 24,
	BPF_MAP_TYPE_RINGBUF = 27,
};

typedef struct { unsigned int val; } kuid_t;
typedef struct { unsigned int val; } kgid_t;
typedef struct { int counter; } atomic_t;

struct qstr {
	const unsigned char *name;
} __attribute__((preserve_access_index));

struct inode;

struct dentry {
	struct dentry *d_parent;
	struct qstr d_name;
	struct inode *d_inode;
} __attribute__((preserve_access_index));

struct vfsmount {
	struct dentry *mnt_root;
	struct super_block *mnt_sb;
} __attribute__((preserve_access_index));

struct mount {
	struct mount *mnt_parent;
	struct dentry *mnt_mountpoint;
	struct vfsmount mnt;
} __attribute__((preserve_access_index));

struct path {
	struct vfsmount *mnt;
	struct dentry *dentry;
} __attribute__((preserve_access_index));

struct super_block {
	u32 s_dev;
	unsigned long s_magic;
} __attribute__((preserve_access_index));

struct timespec64 {
	s64 tv_sec;
	long tv_nsec;
};

/* Inode times moved three times; the loader keeps the flavour (`___suffix`) whose fields this
 * kernel has, and `bpf_core_field_exists` picks the reads. Linux 6.11 and later: */
struct inode {
	u16 i_mode;
	kuid_t i_uid;
	kgid_t i_gid;
	unsigned long i_ino;
	struct super_block *i_sb;
	/* In an anonymous union with the const i_nlink. */
	unsigned int __i_nlink;
	s64 i_size;
	s64 i_mtime_sec;
	s64 i_ctime_sec;
	u32 i_mtime_nsec;
	u32 i_ctime_nsec;
} __attribute__((preserve_access_index));

/* 6.7 to 6.10. */
struct inode___v67 {
	struct timespec64 __i_mtime;
	struct timespec64 __i_ctime;
} __attribute__((preserve_access_index));

/* 6.6. */
struct inode___v66 {
	struct timespec64 i_mtime;
	struct timespec64 __i_ctime;
} __attribute__((preserve_access_index));

/* Before 6.6. */
struct inode___v65 {
	struct timespec64 i_mtime;
	struct timespec64 i_ctime;
} __attribute__((preserve_access_index));

struct file {
	struct path f_path;
	struct inode *f_inode;
	unsigned int f_mode;
	unsigned int f_flags;
	void *private_data;
} __attribute__((preserve_access_index));

/* An exec in progress: the name it was given, and what runs it (the same string until a
 * `#!` line or a binfmt_misc format names an interpreter). */
struct linux_binprm {
	const char *filename;
	const char *interp;
} __attribute__((preserve_access_index));

/* Work a task does on its way back to user mode (task_work_add), newest first: among it, the
 * final release of each file it put (fput defers it there). */
struct callback_head {
	struct callback_head *next;
	void (*func)(struct callback_head *head);
} __attribute__((preserve_access_index));

/* Where a file keeps the callback_head of its deferred release: f_task_work (6.8), f_rcuhead
 * (6.7), f_u.fu_rcuhead (before). */
struct file___v68 {
	struct callback_head f_task_work;
} __attribute__((preserve_access_index));

struct file___v67 {
	struct callback_head f_rcuhead;
} __attribute__((preserve_access_index));

struct file___v66 {
	union {
		struct callback_head fu_rcuhead;
	} f_u;
} __attribute__((preserve_access_index));

/* An eBPF program, as a socket's filter names it (SO_ATTACH_BPF): its length in instructions
 * and its tag (the kernel's digest of its instructions, which bpftool shows; since 6.17 the
 * head of a longer digest, in a union). */
struct bpf_prog {
	u32 len;
	u8 tag[8];
	struct bpf_prog_aux *aux;
} __attribute__((preserve_access_index));

/* Its id (bpftool prog show id N) and the name its loader gave. */
struct bpf_prog_aux {
	u32 id;
	char name[16];
} __attribute__((preserve_access_index));

/* A socket file's private data. */
struct socket {
	short type;
	struct sock *sk;
} __attribute__((preserve_access_index));

struct in6_addr {
	u8 s6_addr[16];
};

/* Both ends of an inet socket, in the kernel's own words (network byte order, but skc_num), and
 * its TCP state (TCP_SYN_SENT...). */
struct sock_common {
	__be32 skc_daddr;
	__be32 skc_rcv_saddr;
	__be16 skc_dport;
	u16 skc_num;
	unsigned short skc_family;
	volatile unsigned char skc_state;
	struct in6_addr skc_v6_daddr;
	struct in6_addr skc_v6_rcv_saddr;
	unsigned long skc_flags;	/* (sk_flags) 1 << SOCK_DONE: TCP's peer sent its FIN */
} __attribute__((preserve_access_index));

/* With the error a failed connection left (ECONNREFUSED...). */
struct sock {
	struct sock_common __sk_common;
	u16 sk_type;
	u16 sk_protocol;
	int sk_err;
} __attribute__((preserve_access_index));

/* A UDP socket: a struct sock at its start (only cast, never read here). */
struct udp_sock;

/* The port a connection-oriented socket holds: a bucket of the kernel's table of bound ports.
 * `fastreuse` is -1 in a bucket a connect chose its port for (and a connect takes no port a
 * bind or a listen took), else 0 or 1. */
struct inet_bind_bucket {
	signed char fastreuse;
} __attribute__((preserve_access_index));

struct inet_connection_sock {
	struct inet_bind_bucket *icsk_bind_hash;
} __attribute__((preserve_access_index));

/* An iterator's context over TCP sockets (every socket of the host's TCP tables: listeners,
 * connections, time-wait and request sockets alike). */
struct bpf_iter_meta {
	void *seq;
	u64 session_id;
	u64 seq_num;
} __attribute__((preserve_access_index));

struct bpf_iter__tcp {
	struct bpf_iter_meta *meta;
	struct sock_common *sk_common;
	u32 uid;
} __attribute__((preserve_access_index));

/* An iterator's context over UDP sockets (every socket of the host's UDP tables). */
struct bpf_iter__udp {
	struct bpf_iter_meta *meta;
	struct udp_sock *udp_sk;
	u32 uid;
	int bucket;
} __attribute__((preserve_access_index));

/* An iterator's context over every process's open files: each (task, fd, file). */
struct bpf_iter__task_file {
	struct bpf_iter_meta *meta;
	struct task_struct *task;
	u32 fd;
	struct file *file;
} __attribute__((preserve_access_index));

/* enum sock_flags' second, since it was made (the loader relocates no enum values). */
#define SOCK_DONE 1

/* A TCP connection's traffic as the kernel counts it (RFC 4898's, which `ss -i` shows): payload
 * bytes sent (retransmissions included), of them retransmitted; bytes received (sequence space:
 * the peer's FIN counts one); segments each way. Linux 4.19 and later have them all. */
struct tcp_sock {
	u64 bytes_received;
	u64 bytes_sent;
	u64 bytes_retrans;
	u32 segs_in;
	u32 segs_out;
} __attribute__((preserve_access_index));

/* A Unix socket's own address (bound, or a listener's taken on by the connections it
 * accepts): `len` bytes of `name`, a struct sockaddr_un. */
struct sockaddr_un {
	unsigned short sun_family;
};

struct unix_address {
	int len;
	struct sockaddr_un name[];
} __attribute__((preserve_access_index));

struct unix_sock {
	struct unix_address *addr;
} __attribute__((preserve_access_index));

/* What a request will complete with: its tag, and until then the fd it was given. */
struct io_cqe {
	u64 user_data;
	s32 fd;
} __attribute__((preserve_access_index));

/* An io_uring request: the operation, the file it was given, its ring, its flags (the
 * submission's, bit for bit in their low bits; 32 bits before 6.10, 64 since: the low half is
 * read), its tag and fd, and the op's data kept for it (the op's own data overlays the
 * request's head, `struct io_cmd_data`). */
struct io_kiocb {
	struct file *file;
	u8 opcode;
	u32 flags;
	void *ctx;
	struct io_cqe cqe;
	void *async_data;
} __attribute__((preserve_access_index));

/* The kernel's copy of a connect's or bind's address, made as the request was prepared. */
struct __kernel_sockaddr_storage {
	unsigned short ss_family;
} __attribute__((preserve_access_index));

struct io_async_msghdr {
	struct __kernel_sockaddr_storage addr;
} __attribute__((preserve_access_index));

struct io_bind {
	int addr_len;
} __attribute__((preserve_access_index));

/* An accept's own data: a direct accept installs the new file in a fixed slot, not an fd. */
struct io_accept {
	u32 file_slot;
} __attribute__((preserve_access_index));

/* A socket's: the family, type and protocol asked for, and the fixed slot a direct one goes
 * into (0: none, it gets an fd). */
struct io_socket {
	int domain;
	int type;
	int protocol;
	u32 file_slot;
} __attribute__((preserve_access_index));

/* Connect's: the address as the submitter gave it (user memory). */
struct io_connect {
	void *addr;
	int addr_len;
} __attribute__((preserve_access_index));

/* A ring's fixed files (6.13 and later): a node per slot, its file pointer with flags in the
 * low bits. */
struct io_rsrc_node {
	unsigned long file_ptr;
} __attribute__((preserve_access_index));

struct io_rsrc_data {
	unsigned int nr;
	struct io_rsrc_node **nodes;
} __attribute__((preserve_access_index));

struct io_file_table {
	struct io_rsrc_data data;
} __attribute__((preserve_access_index));

struct io_ring_ctx {
	struct io_file_table file_table;
} __attribute__((preserve_access_index));

/* The kernel's copy of a name a call was given (getname). */
struct filename {
	const char *name;
} __attribute__((preserve_access_index));

/* The file operations' own data, as prepared (their names are the kernel's copies). */
struct io_open {
	int dfd;
	u32 file_slot;
} __attribute__((preserve_access_index));

struct io_close {
	int fd;
	u32 file_slot;
} __attribute__((preserve_access_index));

struct io_rename {
	int old_dfd;
	int new_dfd;
	struct filename *oldpath;
	struct filename *newpath;
} __attribute__((preserve_access_index));

struct io_unlink {
	int dfd;
	int flags;
	struct filename *filename;
} __attribute__((preserve_access_index));

struct io_mkdir {
	int dfd;
	struct filename *filename;
} __attribute__((preserve_access_index));

/* linkat's and symlinkat's (a symlink's target is its `oldpath`). */
struct io_link {
	int old_dfd;
	int new_dfd;
	struct filename *oldpath;
	struct filename *newpath;
	int flags;
} __attribute__((preserve_access_index));

struct io_uring_cqe {
	u64 user_data;
	s32 res;
	u32 flags;
} __attribute__((preserve_access_index));

/* Before 6.13 a file's references were counted here... */
struct file___v612 {
	struct {
		long counter;
	} f_count;
} __attribute__((preserve_access_index));

/* ...since, here (file_ref_t: 0 means one reference). */
struct file_ref {
	struct {
		long counter;
	} refcnt;
} __attribute__((preserve_access_index));

struct file___v613 {
	struct file_ref f_ref;
} __attribute__((preserve_access_index));

/* The registers a syscall was entered with (its arguments); x86-64 and arm64. */
#if defined(__TARGET_ARCH_x86)
struct pt_regs {
	unsigned long r10;
	unsigned long r9;
	unsigned long r8;
	unsigned long bx;
	unsigned long cx;
	unsigned long dx;
	unsigned long si;
	unsigned long di;
	unsigned long orig_ax;
} __attribute__((preserve_access_index));
#define SYSCALL_ARG0(regs) ((regs)->di)
#define SYSCALL_ARG1(regs) ((regs)->si)
#define SYSCALL_ARG2(regs) ((regs)->dx)
#define SYSCALL_ARG3(regs) ((regs)->r10)
#define SYSCALL_ARG4(regs) ((regs)->r8)
#define SYSCALL_ARG5(regs) ((regs)->r9)
#elif defined(__TARGET_ARCH_arm64)
struct pt_regs {
	u64 regs[31];
	u64 orig_x0;
} __attribute__((preserve_access_index));
/* x0 holds the return value by the syscall's exit; the first argument is kept in orig_x0. */
#define SYSCALL_ARG0(regs) ((regs)->orig_x0)
#define SYSCALL_ARG1(regs) ((regs)->regs[1])
#define SYSCALL_ARG2(regs) ((regs)->regs[2])
#define SYSCALL_ARG3(regs) ((regs)->regs[3])
#define SYSCALL_ARG4(regs) ((regs)->regs[4])
#define SYSCALL_ARG5(regs) ((regs)->regs[5])
#endif

struct fdtable {
	unsigned int max_fds;
	struct file **fd;
	unsigned long *open_fds;
} __attribute__((preserve_access_index));

struct files_struct {
	struct fdtable *fdt;
} __attribute__((preserve_access_index));

struct fs_struct {
	struct path pwd;
} __attribute__((preserve_access_index));

struct mm_struct {
	unsigned long arg_start;
	unsigned long arg_end;
	struct file *exe_file;
} __attribute__((preserve_access_index));

struct cred {
	kuid_t uid;
	kgid_t gid;
	kuid_t euid;
	kgid_t egid;
} __attribute__((preserve_access_index));

struct tty_struct {
	char name[64];
} __attribute__((preserve_access_index));

struct signal_struct {
	atomic_t live;
	struct tty_struct *tty;
} __attribute__((preserve_access_index));

#if defined(__TARGET_ARCH_x86)
/* x86: a task in a 32-bit syscall, or (right after exec) running a 32-bit image. */
#define TS_COMPAT 0x0002
struct thread_info {
	u32 status;
} __attribute__((preserve_access_index));
#endif

struct task_struct {
#if defined(__TARGET_ARCH_x86)
	struct thread_info thread_info;
#endif
	pid_t pid;
	pid_t tgid;
	int exit_code;
	struct task_struct *real_parent;
	struct mm_struct *mm;
	const struct cred *cred;
	char comm[16];
	struct fs_struct *fs;
	struct files_struct *files;
	struct signal_struct *signal;
	struct task_struct *group_leader;
	kuid_t loginuid;
	unsigned int sessionid;
	u64 start_boottime;
	struct callback_head *task_works;
} __attribute__((preserve_access_index));

/* The context of cgroup socket-address programs, as the UAPI lays it out: the verifier rewrites
 * these reads by their offsets here, so this layout is the ABI's, not a CO-RE one. */
struct bpf_sock {
	__u32 bound_dev_if;
	__u32 family;
	__u32 type;
	__u32 protocol;
	__u32 mark;
	__u32 priority;
	__u32 src_ip4;
	__u32 src_ip6[4];
	__u32 src_port;		/* host order */
	__be16 dst_port;	/* network order */
	__u16 : 16;
	__u32 dst_ip4;
	__u32 dst_ip6[4];
	__u32 state;
	__s32 rx_queue_mapping;
};

struct bpf_sock_addr {
	__u32 user_family;
	__u32 user_ip4;		/* network order */
	__u32 user_ip6[4];	/* network order */
	__u32 user_port;	/* network order */
	__u32 family;
	__u32 type;
	__u32 protocol;
	__u32 msg_src_ip4;
	__u32 msg_src_ip6[4];
	union {
		struct bpf_sock *sk;
		__u64 : 64;
	} __attribute__((aligned(8)));
};

/* The context of cgroup packet programs, as the UAPI lays it out (as bpf_sock above), up to
 * the socket, the last field read (len, data, data_end, gso_segs and sk are). */
struct __sk_buff {
	__u32 len;
	__u32 pkt_type;
	__u32 mark;
	__u32 queue_mapping;
	__u32 protocol;
	__u32 vlan_present;
	__u32 vlan_tci;
	__u32 vlan_proto;
	__u32 priority;
	__u32 ingress_ifindex;
	__u32 ifindex;
	__u32 tc_index;
	__u32 cb[5];
	__u32 hash;
	__u32 tc_classid;
	__u32 data;
	__u32 data_end;
	__u32 napi_id;
	__u32 family;
	__u32 remote_ip4;
	__u32 local_ip4;
	__u32 remote_ip6[4];
	__u32 local_ip6[4];
	__u32 remote_port;
	__u32 local_port;
	__u32 data_meta;
	__u64 flow_keys;
	__u64 tstamp;
	__u32 wire_len;
	__u32 gso_segs;
	union {
		struct bpf_sock *sk;
		__u64 : 64;
	} __attribute__((aligned(8)));
};
_Static_assert(__builtin_offsetof(struct __sk_buff, sk) == 168, "__sk_buff layout");

/* A TCP socket's counters as cgroup packet programs read them (bpf_tcp_sock), as the UAPI
 * lays them out, up to the last one read. */
struct bpf_tcp_sock {
	__u32 snd_cwnd;
	__u32 srtt_us;
	__u32 rtt_min;
	__u32 snd_ssthresh;
	__u32 rcv_nxt;
	__u32 snd_nxt;
	__u32 snd_una;
	__u32 mss_cache;
	__u32 ecn_flags;
	__u32 rate_delivered;
	__u32 rate_interval_us;
	__u32 packets_out;
	__u32 retrans_out;
	__u32 total_retrans;
	__u32 segs_in;
	__u32 data_segs_in;
	__u32 segs_out;
	__u32 data_segs_out;
};

/* A socket storage map must not be preallocated. */
#define BPF_F_NO_PREALLOC 1
/* bpf_sk_storage_get: make the socket's storage when it has none. */
#define BPF_SK_STORAGE_GET_F_CREATE 1
/* bpf_map_update_elem: only when the key has no entry yet. */
#define BPF_NOEXIST 1

#endif

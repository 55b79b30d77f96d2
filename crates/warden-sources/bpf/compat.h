/* 32-bit processes for Warden, part of process.bpf.c (after files.h, net.h, uring.h): their
 * calls are compat syscalls (x86's ia32 emulation), which pass none of the syscalls/
 * tracepoints the other programs sit at, only the raw sys_enter and sys_exit ones that every
 * syscall of every process passes. So the programs there (the follower) are attached only
 * while a 32-bit process runs: the agent's reader attaches them at such an exec and detaches
 * them when the last one is gone, and every syscall on the host meanwhile pays for the look at
 * its task's compat flag (an open-heavy load: +17 % for the exit program, +33 % with the
 * entry program too, measured). They
 * record what the native programs would: network calls (with network activity) and file
 * changes (with file activity; a close at the call's entry, as files.h does).
 *
 * Between such a process's exec and the attach (or without the follower, when not asked
 * for), a program at TCP state changes records its TCP connects and listens. */

#if defined(__TARGET_ARCH_x86)
/* What the follower records (set by the loader). */
const volatile u8 compat_network = 0;
const volatile u8 compat_files = 0;

/* The network calls of ia32 processes (compat syscall numbers), and socketcall's calls. */
#define IA32_socketcall 102
#define IA32_bind 361
#define IA32_connect 362
#define IA32_listen 363
#define IA32_accept4 364
#define SYS_BIND 2
#define SYS_CONNECT 3
#define SYS_LISTEN 4
#define SYS_ACCEPT 5
#define SYS_ACCEPT4 18

/* A network call of a 32-bit process returned `ret`. */
static __noinline int compat_net_call(struct task_struct *task, struct pt_regs *regs, long ret)
{
	u32 args[3] = {(u32)regs->bx, (u32)regs->cx, (u32)regs->dx};
	u32 call;
	switch (regs->orig_ax) {
	case IA32_socketcall: {
		u32 which = args[0];
		if (bpf_probe_read_user(args, sizeof(args), (const void *)(u64)args[1]))
			return 0;
		if (which == SYS_BIND)
			call = NCALL_bind;
		else if (which == SYS_CONNECT)
			call = NCALL_connect;
		else if (which == SYS_LISTEN)
			call = NCALL_listen;
		else if (which == SYS_ACCEPT)
			call = NCALL_accept;
		else if (which == SYS_ACCEPT4)
			call = NCALL_accept4;
		else
			return 0;
		break;
	}
	case IA32_bind:
		call = NCALL_bind;
		break;
	case IA32_connect:
		call = NCALL_connect;
		break;
	case IA32_listen:
		call = NCALL_listen;
		break;
	case IA32_accept4:
		call = NCALL_accept4;
		break;
	default:
		return 0;
	}
	s32 fd = args[0];
	bool accepts = call == NCALL_accept || call == NCALL_accept4;
	struct net_record r = {};
	net_record_begin(&r, task, call, ret, fd);
	r.flags = NET_COMPAT;
	struct sock *sk = read_socket(task, accepts ? (ret >= 0 ? (s32)ret : -1) : fd, &r);
	if (call == NCALL_connect || call == NCALL_bind)
		read_addr(&r, (const void *)(u64)args[1], (s32)args[2]);
	beyond_the_ends(&r, sk);
	net_record_send(&r);
	return 0;
}

/* ia32 file calls (compat syscall numbers). */
#define IA32_link 9
#define IA32_unlink 10
#define IA32_open 5
#define IA32_close 6
#define IA32_creat 8
#define IA32_mknod 14
#define IA32_rename 38
#define IA32_mkdir 39
#define IA32_rmdir 40
#define IA32_dup2 63
#define IA32_symlink 83
#define IA32_truncate 92
#define IA32_ftruncate 93
#define IA32_truncate64 193
#define IA32_ftruncate64 194
#define IA32_openat 295
#define IA32_mkdirat 296
#define IA32_mknodat 297
#define IA32_unlinkat 301
#define IA32_renameat 302
#define IA32_linkat 303
#define IA32_symlinkat 304
#define IA32_dup3 330
#define IA32_renameat2 353
#define IA32_openat2 437

/* A 32-bit user pointer. */
#define UPTR(x) ((const char *)(u64)(u32)(x))

/* As named_op in files.h, flagged as a compat call. */
static __always_inline void compat_named(struct task_struct *task, u32 call, u32 op, s64 ret,
					 s32 dfd, const char *name, s32 other_dfd,
					 const char *other, bool other_verbatim)
{
	u32 len = 0;
	struct file_record *r = named_record(task, call, op, ret, dfd, name, other_dfd, other,
					     other_verbatim, false, &len);
	if (!r)
		return;
	r->flags |= FILE_COMPAT;
	file_record_send(r, len);
}

/* A file call of a 32-bit process returned `ret`: recorded as its native call would be.
 * Returns whether it was one. */
static __noinline int compat_file_call(struct task_struct *task, struct pt_regs *regs, long ret)
{
	u32 a0 = regs->bx, a1 = regs->cx, a2 = regs->dx, a3 = regs->si;
	switch (regs->orig_ax) {
	case IA32_open:
		record_open(task, CALL_open, ret, AT_FDCWD, UPTR(a0), FILE_COMPAT);
		return 1;
	case IA32_creat:
		record_open(task, CALL_creat, ret, AT_FDCWD, UPTR(a0), FILE_COMPAT);
		return 1;
	case IA32_openat:
		record_open(task, CALL_openat, ret, (s32)a0, UPTR(a1), FILE_COMPAT);
		return 1;
	case IA32_openat2:
		record_open(task, CALL_openat2, ret, (s32)a0, UPTR(a1), FILE_COMPAT);
		return 1;
	case IA32_unlink:
		compat_named(task, CALL_unlink, FILE_UNLINK, ret, AT_FDCWD, UPTR(a0), 0, NULL, false);
		return 1;
	case IA32_unlinkat:
		compat_named(task, CALL_unlinkat, a2 & AT_REMOVEDIR ? FILE_RMDIR : FILE_UNLINK, ret,
			     (s32)a0, UPTR(a1), 0, NULL, false);
		return 1;
	case IA32_rmdir:
		compat_named(task, CALL_rmdir, FILE_RMDIR, ret, AT_FDCWD, UPTR(a0), 0, NULL, false);
		return 1;
	case IA32_mkdir:
		compat_named(task, CALL_mkdir, FILE_MKDIR, ret, AT_FDCWD, UPTR(a0), 0, NULL, false);
		return 1;
	case IA32_mkdirat:
		compat_named(task, CALL_mkdirat, FILE_MKDIR, ret, (s32)a0, UPTR(a1), 0, NULL, false);
		return 1;
	case IA32_mknod:
		compat_named(task, CALL_mknod, FILE_MKNOD, ret, AT_FDCWD, UPTR(a0), 0, NULL, false);
		return 1;
	case IA32_mknodat:
		compat_named(task, CALL_mknodat, FILE_MKNOD, ret, (s32)a0, UPTR(a1), 0, NULL, false);
		return 1;
	case IA32_rename:
		compat_named(task, CALL_rename, FILE_RENAME, ret, AT_FDCWD, UPTR(a1), AT_FDCWD,
			     UPTR(a0), false);
		return 1;
	case IA32_renameat:
	case IA32_renameat2:
		compat_named(task, regs->orig_ax == IA32_renameat ? CALL_renameat : CALL_renameat2,
			     FILE_RENAME, ret, (s32)a2, UPTR(a3), (s32)a0, UPTR(a1), false);
		return 1;
	case IA32_link:
		compat_named(task, CALL_link, FILE_LINK, ret, AT_FDCWD, UPTR(a1), AT_FDCWD, UPTR(a0),
			     false);
		return 1;
	case IA32_linkat:
		compat_named(task, CALL_linkat, FILE_LINK, ret, (s32)a2, UPTR(a3), (s32)a0, UPTR(a1),
			     false);
		return 1;
	case IA32_symlink:
		compat_named(task, CALL_symlink, FILE_SYMLINK, ret, AT_FDCWD, UPTR(a1), 0, UPTR(a0),
			     true);
		return 1;
	case IA32_symlinkat:
		compat_named(task, CALL_symlinkat, FILE_SYMLINK, ret, (s32)a1, UPTR(a2), 0, UPTR(a0),
			     true);
		return 1;
	case IA32_truncate:
	case IA32_truncate64:
		compat_named(task, CALL_truncate, FILE_TRUNCATE, ret, AT_FDCWD, UPTR(a0), 0, NULL,
			     false);
		return 1;
	case IA32_ftruncate:
	case IA32_ftruncate64:
		truncated(task, current_file(task, (s32)a0), ret, FILE_COMPAT);
		return 1;
	}
	return 0;
}

/* The follower's exit program: a 32-bit process's call returned. */
SEC("tp_btf/sys_exit")
int BPF_PROG(warden_compat_exit, struct pt_regs *regs, long ret)
{
	struct task_struct *task = bpf_get_current_task_btf();
	if (!(task->thread_info.status & TS_COMPAT) || task->tgid == warden_tgid)
		return 0;
	if (compat_files && compat_file_call(task, regs, ret))
		return 0;
	if (compat_network)
		compat_net_call(task, regs, ret);
	return 0;
}

/* The follower's entry program (with file activity): a 32-bit process closes a file, or
 * dup2/dup3 closes one in passing — a close after writing when it is the file's last
 * reference (at entry: by the exit the file is gone). */
SEC("tp_btf/sys_enter")
int BPF_PROG(warden_compat_enter, struct pt_regs *regs, long id)
{
	struct task_struct *task = bpf_get_current_task_btf();
	if (!(task->thread_info.status & TS_COMPAT) || task->tgid == warden_tgid)
		return 0;
	u32 a0 = regs->bx, a1 = regs->cx;
	if (id == IA32_close)
		closing(task, (s32)a0, CALL_close, FILE_COMPAT);
	else if ((id == IA32_dup2 || id == IA32_dup3) && a0 != a1)
		closing(task, (s32)a1, id == IA32_dup2 ? CALL_dup2 : CALL_dup3, FILE_COMPAT);
	return 0;
}

/* Whether the follower is attached now (set by the reader): the program below then leaves
 * 32-bit processes' TCP connects and listens to it. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u32);
} COMPAT_FOLLOWING SEC(".maps");

/* A 32-bit process's TCP connect or listen while the follower is not attached: between
 * its exec and the attach (a process that connects at once would be missed), or on a host
 * that does not follow 32-bit processes at every syscall (network.follow_32_bit = false). At
 * the socket's change of state, in the calling process: a connect's SYN_SENT (the peer set,
 * this end not yet bound; its result follows as a record of the handshake's end), a listen's
 * LISTEN. Only TCP changes state so. */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(warden_compat_tcp, struct sock *sk, int oldstate, int newstate)
{
	if (newstate != TCP_SYN_SENT && newstate != TCP_LISTEN)
		return 0;
	struct task_struct *task = bpf_get_current_task_btf();
	if (!(task->thread_info.status & TS_COMPAT) || task->tgid == warden_tgid)
		return 0;
	u32 zero = 0;
	u32 *following = bpf_map_lookup_elem(&COMPAT_FOLLOWING, &zero);
	if (following && *following)
		return 0;
	struct net_record r = {};
	bool connect = newstate == TCP_SYN_SENT;
	net_record_begin(&r, task, connect ? NCALL_connect : NCALL_listen, 0, -1);
	r.flags = NET_COMPAT | (connect ? NET_SUBMITTED : 0);
	u8 head[SOCK_HEAD];
	read_sock(sk, SOCK_STREAM, &r, head);
	/* Its result comes as the handshake ends (net.h's warden_tcp_state). */
	if (connect)
		note_connect(&r, sk);
	net_record_send(&r);
	return 0;
}
#endif

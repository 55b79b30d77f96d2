/* io_uring's operations for Warden, part of process.bpf.c (after files.h and net.h): the
 * connects, accepts, binds and listens, the packet, raw and ICMP sockets made, and the opens, closes, renames, unlinks, mkdirs,
 * links, symlinks and truncates that a ring does without a syscall (the rings are how some
 * malware passes unseen by syscall tracers). Each becomes the record its syscall would have
 * given (net.h's, files.h's), flagged as io_uring's.
 *
 * Three tracepoints (Linux 6.17 and later: their arguments were others before), because a
 * completion alone can be avoided:
 * - submission (io_uring_submit_req, the request prepared): followed operations are noted by
 *   ring and tag in URING_OPS, for an overflow; named file operations (rename...) are
 *   recorded here, from the kernel's copies of their names, and their result follows in a
 *   small KIND_URING_RESULT record the reader pairs them with by ring and request (a tag need
 *   not be unique: many submitters leave it 0); a close is recorded as close(2) is, at its
 *   start. An operation whose success will post no completion (IOSQE_CQE_SKIP_SUCCESS) is
 *   recorded here, its result unknown.
 * - completion (io_uring_complete): the result, and the socket or file as the operation left
 *   it (read from the request itself);
 * - a completion that finds the completion queue full (io_uring_cqe_overflow): the kernel sets
 *   it aside and it passes no io_uring_complete; only its ring and tag are named, so what its
 *   submission noted says what it was (two operations in flight with one tag, both
 *   overflowing: the later note is taken for both). */

#define KIND_URING_RESULT 9

/* io_uring opcodes (UAPI). */
#define IORING_OP_ACCEPT 13
#define IORING_OP_CONNECT 16
#define IORING_OP_OPENAT 18
#define IORING_OP_CLOSE 19
#define IORING_OP_SOCKET 45
#define IORING_OP_OPENAT2 28
#define IORING_OP_RENAMEAT 35
#define IORING_OP_UNLINKAT 36
#define IORING_OP_MKDIRAT 37
#define IORING_OP_SYMLINKAT 38
#define IORING_OP_LINKAT 39
#define IORING_OP_FTRUNCATE 55
#define IORING_OP_BIND 56
#define IORING_OP_LISTEN 57

/* A request's flags are its submission's (IOSQE_*), bit for bit, in their low bits. */
#define REQ_F_FIXED_FILE (1U << 0)
#define REQ_F_CQE_SKIP (1U << 6)
/* More completions will follow (a multishot accept's). */
#define IORING_CQE_F_MORE (1U << 1)

/* What to follow (set by the loader): network operations, file operations. */
const volatile u8 uring_network = 0;
const volatile u8 uring_files = 0;

/* What an operation is, for the programs below. */
#define URING_NET 1	 /* connect, accept, bind, listen: recorded at completion */
#define URING_NAMED 2	 /* rename, unlink, mkdir, link, symlink: recorded at submission */
#define URING_OPEN 3	 /* open: recorded at completion, from the new fd's file */
#define URING_CLOSE 4	 /* close: recorded at submission, as close(2) at its entry */
#define URING_TRUNCATE 5 /* ftruncate: recorded at completion, from its file */
#define URING_SOCKET 6	 /* socket (packet, raw, ICMP only): recorded at completion, as asked */

/* An operation between its submission and its completion, by ring and tag. */
struct uring_key {
	u64 ring;
	u64 user_data;
};

struct uring_op {
	u64 req;	/* the request (its address: unique while it is in flight) */
	u32 kind;	/* URING_* */
	u32 call;	/* NCALL_* (network) or CALL_* (files) */
	s32 fd;		/* the socket or file it was given; -1: a fixed file, or none */
	s32 addr_len;
	u64 addr;	/* a connect's address (user memory) */
	u32 slot;	/* an accept's, open's or socket's fixed slot, as given (0: none; its
			 * result is then no fd) */
	u32 pad;
	s32 family;	/* a socket's, as asked for */
	s32 sock_type;
	s32 protocol;
	u32 pad2;
};

/* LRU: an operation that never completes where we look (one whose success posts nothing)
 * ages out. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct uring_key);
	__type(value, struct uring_op);
} URING_OPS SEC(".maps");

/* The result of a named file operation recorded at its submission (FILE_URING_PENDING), by
 * its ring and request. */
struct uring_result {
	struct header h;
	s32 res;
	u32 pad;
	u64 ring;
	u64 req;
};

_Static_assert(sizeof(struct uring_result) == 48, "uring result layout");
_Static_assert(__builtin_offsetof(struct uring_result, ring) == 32, "uring result layout");

/* What `opcode` is (0: nothing followed), and the call it stands for. */
static __always_inline u32 uring_kind(u8 opcode, u32 *call)
{
	switch (opcode) {
	case IORING_OP_CONNECT:
		*call = NCALL_connect;
		return uring_network ? URING_NET : 0;
	case IORING_OP_ACCEPT:
		*call = NCALL_accept;
		return uring_network ? URING_NET : 0;
	case IORING_OP_BIND:
		*call = NCALL_bind;
		return uring_network ? URING_NET : 0;
	case IORING_OP_LISTEN:
		*call = NCALL_listen;
		return uring_network ? URING_NET : 0;
	case IORING_OP_SOCKET:
		*call = NCALL_socket;
		return uring_network ? URING_SOCKET : 0;
	case IORING_OP_OPENAT:
		*call = CALL_openat;
		return uring_files ? URING_OPEN : 0;
	case IORING_OP_OPENAT2:
		*call = CALL_openat2;
		return uring_files ? URING_OPEN : 0;
	case IORING_OP_CLOSE:
		*call = CALL_close;
		return uring_files ? URING_CLOSE : 0;
	case IORING_OP_RENAMEAT:
		*call = CALL_renameat2;
		return uring_files ? URING_NAMED : 0;
	case IORING_OP_UNLINKAT:
		*call = CALL_unlinkat;
		return uring_files ? URING_NAMED : 0;
	case IORING_OP_MKDIRAT:
		*call = CALL_mkdirat;
		return uring_files ? URING_NAMED : 0;
	case IORING_OP_SYMLINKAT:
		*call = CALL_symlinkat;
		return uring_files ? URING_NAMED : 0;
	case IORING_OP_LINKAT:
		*call = CALL_linkat;
		return uring_files ? URING_NAMED : 0;
	case IORING_OP_FTRUNCATE:
		*call = CALL_ftruncate;
		return uring_files ? URING_TRUNCATE : 0;
	}
	return 0;
}

/* What a completion needs of request `req`. */
static __always_inline void uring_op_of(struct io_kiocb *req, u32 kind, u32 call, u32 flags,
					struct uring_op *op)
{
	op->req = (u64)req;
	op->kind = kind;
	op->call = call;
	op->fd = -1;
	/* Only operations given a file have its fd here, and only until they complete (the field
	 * then holds the completion's flags): a completion reads the request's file instead, an
	 * overflow the fd its submission noted. */
	if ((kind == URING_NET || kind == URING_TRUNCATE) && !(flags & REQ_F_FIXED_FILE))
		op->fd = BPF_CORE_READ(req, cqe.fd);
	if (call == NCALL_connect && kind == URING_NET) {
		op->addr = (u64)BPF_CORE_READ((struct io_connect *)req, addr);
		op->addr_len = BPF_CORE_READ((struct io_connect *)req, addr_len);
	} else if (call == NCALL_accept && kind == URING_NET) {
		op->slot = BPF_CORE_READ((struct io_accept *)req, file_slot);
	} else if (kind == URING_OPEN) {
		op->slot = BPF_CORE_READ((struct io_open *)req, file_slot);
	} else if (kind == URING_SOCKET) {
		struct io_socket *sock = (struct io_socket *)req;
		op->slot = BPF_CORE_READ(sock, file_slot);
		op->family = BPF_CORE_READ(sock, domain);
		op->sock_type = BPF_CORE_READ(sock, type) & SOCK_TYPE_MASK;
		op->protocol = BPF_CORE_READ(sock, protocol);
	}
}

/* A socket operation `op` (of those the socket program records) completed with `res` (the
 * new fd, or 0 into a fixed slot), or was submitted with no completion to come. */
static __noinline void uring_socket(struct task_struct *task, struct uring_op *op, s32 res,
				    u32 flags)
{
	if (!below_transports(op->family, op->sock_type, op->protocol))
		return;
	struct net_record r = {};
	socket_made(&r, task, res, res >= 0 && !op->slot ? res : -1, op->family, op->sock_type,
		    op->protocol);
	r.flags |= NET_IO_URING | flags;
	net_record_send(&r);
}

/* A bind's address, from the kernel's copy made as the request was prepared (the submitter's
 * pointer is not kept). Where the copy lies changed within stable kernels without a trace in
 * the types: at the head of the request's async data (later 6.x), or in the message header
 * kept there (before). The head is taken when it begins with the socket's own family (where
 * a message header begins with a pointer, aligned: never such a small number). */
static __always_inline void read_bind_copy(struct io_kiocb *req, struct net_record *r)
{
	void *copy = BPF_CORE_READ(req, async_data);
	s32 len = BPF_CORE_READ((struct io_bind *)req, addr_len);
	u16 family = 0;
	if (!copy || len <= 0 || !(r->flags & NET_SOCKET_READ) ||
	    bpf_probe_read_kernel(&family, sizeof(family), copy))
		return;
	if (family != r->family)
		copy += bpf_core_field_offset(struct io_async_msghdr, addr);
	copy_addr(r, copy, len, true);
}

/* A network operation whose success will post no completion, recorded as submitted: the
 * address and the socket as they stand, no result. (Here and below, functions of their own
 * where records of both kinds would not fit one program's stack together.) */
static __noinline void uring_net_submitted(struct task_struct *task, struct io_kiocb *req,
						struct uring_op *op)
{
	struct net_record r = {};
	net_record_begin(&r, task, op->call, 0, -1);
	r.flags = NET_IO_URING | NET_SUBMITTED;
	if (op->fd >= 0)
		read_socket(task, op->fd, &r);
	if (op->call == NCALL_connect)
		read_addr(&r, (const void *)op->addr, op->addr_len);
	else if (op->call == NCALL_bind)
		read_bind_copy(req, &r);
	net_record_send(&r);
}

/* A named file operation, recorded at its submission from the kernel's copies of its names;
 * its result follows (or, `quiet`, its success will post none). */
static __noinline void uring_named(struct task_struct *task, struct io_kiocb *req, u32 call,
				   bool quiet, u64 ring)
{
	u8 opcode = BPF_CORE_READ(req, opcode);
	s32 dfd = AT_FDCWD, other_dfd = AT_FDCWD;
	const char *name = NULL, *other = NULL;
	bool verbatim = false;
	u32 op;
	switch (opcode) {
	case IORING_OP_RENAMEAT:
		op = FILE_RENAME;
		dfd = BPF_CORE_READ((struct io_rename *)req, new_dfd);
		name = BPF_CORE_READ((struct io_rename *)req, newpath, name);
		other_dfd = BPF_CORE_READ((struct io_rename *)req, old_dfd);
		other = BPF_CORE_READ((struct io_rename *)req, oldpath, name);
		break;
	case IORING_OP_UNLINKAT:
		op = BPF_CORE_READ((struct io_unlink *)req, flags) & AT_REMOVEDIR ? FILE_RMDIR
										   : FILE_UNLINK;
		dfd = BPF_CORE_READ((struct io_unlink *)req, dfd);
		name = BPF_CORE_READ((struct io_unlink *)req, filename, name);
		break;
	case IORING_OP_MKDIRAT:
		op = FILE_MKDIR;
		dfd = BPF_CORE_READ((struct io_mkdir *)req, dfd);
		name = BPF_CORE_READ((struct io_mkdir *)req, filename, name);
		break;
	case IORING_OP_SYMLINKAT:
	case IORING_OP_LINKAT:
		op = opcode == IORING_OP_LINKAT ? FILE_LINK : FILE_SYMLINK;
		verbatim = opcode == IORING_OP_SYMLINKAT; /* the target, as given */
		dfd = BPF_CORE_READ((struct io_link *)req, new_dfd);
		name = BPF_CORE_READ((struct io_link *)req, newpath, name);
		other_dfd = BPF_CORE_READ((struct io_link *)req, old_dfd);
		other = BPF_CORE_READ((struct io_link *)req, oldpath, name);
		break;
	default:
		return;
	}
	u32 len = 0;
	struct file_record *r =
		named_record(task, call, op, 0, dfd, name, other_dfd, other, verbatim, true, &len);
	if (!r)
		return;
	r->flags |= FILE_URING | (quiet ? FILE_URING_SUBMITTED : FILE_URING_PENDING);
	r->uring_ring = ring;
	r->uring_req = (u64)req;
	file_record_send(r, len);
}

/* A slot of a ring's fixed files given as the submitter encodes it (index + 1, or "any free
 * one": then the result names it): its file now. Linux 6.13 and later keep them so (before,
 * none is found). */
#define IORING_FILE_INDEX_ALLOC (~0U)
static __always_inline struct file *uring_fixed_file(u64 ring, u32 slot, s32 res)
{
	if (!bpf_core_field_exists(((struct io_rsrc_node *)0)->file_ptr))
		return NULL;
	u32 index = slot == IORING_FILE_INDEX_ALLOC ? (u32)res : slot - 1;
	struct io_ring_ctx *ctx = (void *)ring;
	if (index >= BPF_CORE_READ(ctx, file_table.data.nr))
		return NULL;
	struct io_rsrc_node **nodes = BPF_CORE_READ(ctx, file_table.data.nodes);
	struct io_rsrc_node *node = NULL;
	if (!nodes || bpf_probe_read_kernel(&node, sizeof(node), &nodes[index & 0xffffff]) || !node)
		return NULL;
	/* The pointer's low bits are flags. */
	return (struct file *)(BPF_CORE_READ(node, file_ptr) & ~3UL);
}

/* A close, recorded as close(2) is at its start: a close after writing when it drops the
 * file's last reference (a fixed slot's: the ring's own). */
static __noinline void uring_close(struct task_struct *task, struct io_kiocb *req, u64 ring)
{
	u32 slot = BPF_CORE_READ((struct io_close *)req, file_slot);
	struct file *f = slot ? uring_fixed_file(ring, slot, 0)
			      : current_file(task, BPF_CORE_READ((struct io_close *)req, fd));
	closing_file(task, f, CALL_close, FILE_URING);
}

/* An open completed (`res`: the new fd, or for a fixed slot its index or 0): what did it do
 * to its file? (As opened() in files.h; the path is the file's own, walked: the name it was
 * given is gone by now.) */
static __noinline void uring_opened(struct task_struct *task, struct file *f, s32 res, u32 call)
{
	struct file_view file = {};
	struct inode_view inode = {};
	u32 op = open_effect(f, &file, &inode);
	if (op)
		send_walked(task, op, call, res, FILE_URING, &file, &inode);
}

/* An ftruncate of `f` completed with `res`. */
static __noinline void uring_truncated(struct task_struct *task, struct file *f, s32 res)
{
	truncated(task, f, res, FILE_URING);
}

/* A network operation `op` completed with `res`; `file` is the socket it was given (when
 * known); `overflow`: its completion found the queue full. */
static __noinline void uring_net_done(struct task_struct *task, struct uring_op *op, s32 res,
				      struct file *file, bool overflow)
{
	struct net_record r = {};
	net_record_begin(&r, task, op->call, res, -1);
	r.flags = NET_IO_URING | (overflow ? NET_CQ_OVERFLOW : 0);
	struct sock *sk;
	if (op->call == NCALL_accept && res >= 0 && !op->slot)
		sk = read_socket(task, res, &r); /* the new connection */
	else
		sk = read_socket_file(file, &r); /* (a fixed slot's new connection: the caller's) */
	/* A connect's address as the submitter gave it, read back from its memory (the kernel's
	 * own copy is recycled before the completion). */
	if (op->call == NCALL_connect)
		read_addr(&r, (const void *)op->addr, op->addr_len);
	own_connection(&r, sk);
	net_record_send(&r);
}

/* The result of a named file operation recorded at its submission. */
static __noinline void uring_result_send(struct task_struct *task, u64 ring, u64 req, s32 res)
{
	struct uring_result r = {};
	r.h.kind = KIND_URING_RESULT;
	r.h.tgid = task->tgid;
	r.h.boot_ns = bpf_ktime_get_boot_ns();
	r.h.start_ns = task->group_leader->start_boottime;
	r.res = res;
	r.ring = ring;
	r.req = req;
	if (bpf_ringbuf_output(&EVENTS, &r, sizeof(r), 0))
		dropped(KIND_URING_RESULT);
}

/* Operation `op` completed with `res`; `file` is the one it was given (when known);
 * `overflow`: its completion found the queue full. */
static __always_inline void uring_done(struct task_struct *task, struct uring_op *op, s32 res,
				       u64 ring, struct file *file, bool overflow)
{
	switch (op->kind) {
	case URING_NET:
		/* An accept into a fixed slot: the new connection is in the ring's table. */
		if (op->call == NCALL_accept && op->slot && res >= 0)
			file = uring_fixed_file(ring, op->slot, res);
		uring_net_done(task, op, res, file, overflow);
		return;
	case URING_NAMED:
		/* (Submitted before the programs looked: the reader has no record to complete.) */
		uring_result_send(task, ring, op->req, res);
		return;
	case URING_OPEN:
		if (res >= 0)
			uring_opened(task,
				     op->slot ? uring_fixed_file(ring, op->slot, res)
					      : current_file(task, res),
				     res, op->call);
		return;
	case URING_TRUNCATE:
		uring_truncated(task, file, res);
		return;
	case URING_SOCKET:
		uring_socket(task, op, res, overflow ? NET_CQ_OVERFLOW : 0);
		return;
	}
}

SEC("tp_btf/io_uring_submit_req")
int BPF_PROG(warden_uring_submit, void *request)
{
	struct io_kiocb *req = request;
	if (!req)
		return 0;
	u32 call = 0;
	u32 kind = uring_kind(BPF_CORE_READ(req, opcode), &call);
	if (!kind)
		return 0;
	struct task_struct *task = bpf_get_current_task_btf();
	if (task->tgid == warden_tgid)
		return 0;
	u32 flags = BPF_CORE_READ(req, flags);
	bool quiet = flags & REQ_F_CQE_SKIP;
	u64 ring = (u64)BPF_CORE_READ(req, ctx);
	struct uring_key key = {ring, BPF_CORE_READ(req, cqe.user_data)};
	if (kind == URING_CLOSE) {
		uring_close(task, req, ring);
		return 0;
	}
	if (kind == URING_NAMED) {
		uring_named(task, req, call, quiet, ring);
		if (quiet)
			return 0; /* nothing to pair a result with */
	}
	struct uring_op op = {};
	uring_op_of(req, kind, call, flags, &op);
	bpf_map_update_elem(&URING_OPS, &key, &op, 0);
	if (quiet && kind == URING_NET)
		uring_net_submitted(task, req, &op);
	else if (quiet && kind == URING_SOCKET)
		uring_socket(task, &op, 0, NET_SUBMITTED);
	return 0;
}

SEC("tp_btf/io_uring_complete")
int BPF_PROG(warden_uring_complete, void *ring, void *request, struct io_uring_cqe *cqe)
{
	struct io_kiocb *req = request;
	if (!req)
		return 0;
	u32 call = 0;
	u32 kind = uring_kind(BPF_CORE_READ(req, opcode), &call);
	if (!kind || kind == URING_CLOSE)
		return 0;
	/* Its note is for an overflow only: this one completed (the note may be another
	 * request's of the same tag, which stays). */
	struct uring_key key = {(u64)ring, cqe->user_data};
	struct uring_op *noted = bpf_map_lookup_elem(&URING_OPS, &key);
	if (noted && noted->req == (u64)req && !(cqe->flags & IORING_CQE_F_MORE))
		bpf_map_delete_elem(&URING_OPS, &key);
	struct task_struct *task = bpf_get_current_task_btf();
	if (task->tgid == warden_tgid)
		return 0;
	struct uring_op op = {};
	uring_op_of(req, kind, call, BPF_CORE_READ(req, flags), &op);
	uring_done(task, &op, cqe->res, (u64)ring, BPF_CORE_READ(req, file), false);
	return 0;
}

SEC("tp_btf/io_uring_cqe_overflow")
int BPF_PROG(warden_uring_overflow, void *ring, u64 user_data, s32 res, u32 cflags, void *ocqe)
{
	struct uring_key key = {(u64)ring, user_data};
	struct uring_op *noted = bpf_map_lookup_elem(&URING_OPS, &key);
	if (!noted)
		return 0;
	struct uring_op op = *noted;
	if (!(cflags & IORING_CQE_F_MORE))
		bpf_map_delete_elem(&URING_OPS, &key);
	struct task_struct *task = bpf_get_current_task_btf();
	if (task->tgid == warden_tgid)
		return 0;
	uring_done(task, &op, res, (u64)ring, current_file(task, op.fd), true);
	return 0;
}

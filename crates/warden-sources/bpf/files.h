/* File activity for Warden, part of process.bpf.c (one object, one ring: a process's file
 * records come after its exec record and before its exit, in the order they happened).
 *
 * Why here rather than from fanotify: fanotify allocates, merges and queues an event per change
 * in the changing process, and the agent then turns file handles back into paths. Here each
 * change costs the changing process one short program run that writes the path and the result
 * into the ring; nothing is queued per event and no handle is opened afterwards. (A file storm
 * of creates, renames, appends and deletes: +19 % wall time, against +49 % under fanotify.)
 *
 * Where: at the file syscalls' tracepoints, like the chmod/chown programs. (Function hooks —
 * fentry on the vfs, or BPF LSM — would see what the kernel resolved, but they are not
 * available everywhere: some kernels refuse them under their security policy.) The
 * agent's exec programs already attach syscall tracepoints, so every syscall already takes
 * the traced path; these add only their own runs.
 * - A call's exit: its result, and its arguments, read back from the registers it was
 *   entered with (no entry program, no map): open, openat, openat2, creat (what the open did
 *   to its struct file: FMODE_CREATED is a create; a regular file opened for writing is a
 *   write-open, when asked for), unlink(at), rmdir, mkdir(at),
 *   mknod(at), rename(at/at2), link(at), symlink(at), truncate, ftruncate.
 * - close's entry (and dup2's and dup3's, which close their new fd): the last reference of a
 *   regular file opened for writing is a close-after-write.
 * - A process's exit (its last thread): the files it still holds, which the kernel closes
 *   rather than close(2) — a program writing to its redirected standard output —, the same
 *   way, for its first 64 descriptors.
 * Paths are named as the call was given them, made absolute against the working directory or
 * the directory fd when relative (not normalized, as audit names them); an fd's file is named
 * by walking its dentries.
 * Not seen here (fanotify sees them): file operations submitted through io_uring, the calls of
 * 32-bit processes (compat syscalls have no tracepoints), the kernel's own changes (nfsd), the
 * files a process leaves open at exit beyond its first 64 descriptors.
 * Reads of the watched credential paths are not looked for here either: every open would pay
 * for the lookups, where fanotify's inode marks on those paths cost the other reads nothing. */

#define KIND_FILE 6
/* A file program found the per-CPU scratch record in use (only possible on a preemptible
 * kernel, by a program preempted mid-record): the newer record is dropped and counted. */
#define KIND_FILE_BUSY 7

#define FILE_CREATE 1
#define FILE_OPEN_WRITE 2
#define FILE_CLOSE_WRITE 3
#define FILE_UNLINK 4
#define FILE_RMDIR 5
#define FILE_MKDIR 6
#define FILE_RENAME 7
#define FILE_LINK 8
#define FILE_SYMLINK 9
#define FILE_TRUNCATE 10
#define FILE_MKNOD 11

/* The call a record was taken at (src/ebpf/record.rs names them in this order). */
#define CALL_open 1
#define CALL_openat 2
#define CALL_openat2 3
#define CALL_creat 4
#define CALL_close 5
#define CALL_dup2 6
#define CALL_dup3 7
#define CALL_exit 8
#define CALL_ftruncate 9
#define CALL_truncate 10
#define CALL_unlink 11
#define CALL_unlinkat 12
#define CALL_rmdir 13
#define CALL_mkdir 14
#define CALL_mkdirat 15
#define CALL_mknod 16
#define CALL_mknodat 17
#define CALL_rename 18
#define CALL_renameat 19
#define CALL_renameat2 20
#define CALL_link 21
#define CALL_linkat 22
#define CALL_symlink 23
#define CALL_symlinkat 24

/* The record's flags: a path's directory was deeper than the walk goes (its last components
 * only), or a relative name's directory fd was not an open file (the name alone). */
#define FILE_PATH_TRUNCATED 1
#define FILE_OTHER_TRUNCATED 2
#define FILE_PATH_UNRESOLVED 4
#define FILE_OTHER_UNRESOLVED 8
/* An io_uring operation (uring.h), not a syscall. */
#define FILE_URING 16
/* Taken as it was submitted; its result follows in a KIND_URING_RESULT record. */
#define FILE_URING_PENDING 32
/* Taken as it was submitted, and its success will post no completion
 * (IOSQE_CQE_SKIP_SUCCESS): `ret` means nothing. */
#define FILE_URING_SUBMITTED 64
/* A 32-bit process's compat call (compat.h). */
#define FILE_COMPAT 128

#define FMODE_WRITE 0x2
#define FMODE_CREATED 0x100000
#define S_IFMT 0170000
#define S_IFREG 0100000
#define AT_REMOVEDIR 0x200

/* The agent's own process: its store's writes are never recorded (set by the loader). */
const volatile u32 warden_tgid = 0;
/* Report regular files opened for writing (files.modify). */
const volatile u8 report_write_opens = 0;

/* The object's path is `name` (as given, NUL-terminated; empty for an fd's file) and `base`
 * (the components, leaf first, of the directory a relative name is relative to, or of the fd's
 * file; empty for an absolute name); the other path (a rename's old one, a link's existing
 * file, a symlink's target) likewise. */
struct file_record {
	struct header h;
	s32 ret;	/* 0 (or the fd opened), or -errno */
	u16 op;		/* FILE_* */
	u16 call;	/* CALL_*: the call it was taken at */
	u64 ino;	/* the object's inode, where the call had its file (0: not known) */
	u32 dev_major;
	u32 dev_minor;
	u32 mode;	/* its i_mode */
	u32 uid;	/* its owner */
	u32 gid;
	u16 name_len;
	u16 base_len;
	u16 other_name_len;
	u16 other_base_len;
	u32 flags;	/* FILE_PATH_TRUNCATED, ... */
	/* An io_uring operation's ring and request (FILE_URING_PENDING: its result comes in a
	 * KIND_URING_RESULT record naming them). */
	u64 uring_ring;
	u64 uring_req;
	/* Two paths of a name and a base each; every segment starts below 4 * PATH_CAP. */
	char data[5 * PATH_CAP];
};

#define FILE_DATA 88
_Static_assert(__builtin_offsetof(struct file_record, ino) == 32, "file layout");
_Static_assert(__builtin_offsetof(struct file_record, name_len) == 60, "file layout");
_Static_assert(__builtin_offsetof(struct file_record, flags) == 68, "file layout");
_Static_assert(__builtin_offsetof(struct file_record, uring_ring) == 72, "file layout");
_Static_assert(__builtin_offsetof(struct file_record, data) == FILE_DATA, "file layout");

/* A file record is built here, one per CPU (too large for the BPF stack). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct file_record);
} FILE_SCRATCH SEC(".maps");

static __always_inline struct file_record *file_scratch(void)
{
	u32 zero = 0;
	return bpf_map_lookup_elem(&FILE_SCRATCH, &zero);
}

/* Per-CPU: the file scratch record is being written. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u32);
} FILE_BUSY SEC(".maps");

/* What the file programs read cost them a helper call per field; so the kernel's structs are
 * read a head at a time, and the fields picked from the copy at the offsets CO-RE gives
 * (a field past the head, on some other kernel, is read alone). */
#define FILE_HEAD 96
#define INODE_HEAD 72
#define DENTRY_HEAD 48

#define PICK(src, head, size, type, field, out)                                                \
	do {                                                                                   \
		u32 _off = bpf_core_field_offset(type, field);                                 \
		if (_off + sizeof(out) <= (size))                                              \
			__builtin_memcpy(&(out), (head) + _off, sizeof(out));                  \
		else                                                                           \
			bpf_probe_read_kernel(&(out), sizeof(out), (void *)(src) + _off);      \
	} while (0)

struct file_view {
	struct dentry *dentry;
	struct vfsmount *mnt;
	struct inode *inode;
	long ref;	/* f_ref's count (6.13+: 0 is one reference) or f_count */
	u32 mode;	/* f_mode */
	bool ref_is_file_ref;
};

static __always_inline bool read_file(struct file *src, struct file_view *v)
{
	u8 head[FILE_HEAD];
	if (bpf_probe_read_kernel(head, sizeof(head), src))
		return false;
	PICK(src, head, FILE_HEAD, struct file, f_mode, v->mode);
	PICK(src, head, FILE_HEAD, struct file, f_inode, v->inode);
	PICK(src, head, FILE_HEAD, struct file, f_path.dentry, v->dentry);
	PICK(src, head, FILE_HEAD, struct file, f_path.mnt, v->mnt);
	v->ref_is_file_ref = bpf_core_field_exists(((struct file___v613 *)src)->f_ref);
	if (v->ref_is_file_ref)
		PICK(src, head, FILE_HEAD, struct file___v613, f_ref.refcnt.counter, v->ref);
	else
		PICK(src, head, FILE_HEAD, struct file___v612, f_count.counter, v->ref);
	return true;
}

struct inode_view {
	unsigned long ino;
	struct super_block *sb;
	u32 uid;
	u32 gid;
	u16 mode;
};

static __always_inline bool read_inode(struct inode *src, struct inode_view *v)
{
	u8 head[INODE_HEAD];
	if (!src || bpf_probe_read_kernel(head, sizeof(head), src))
		return false;
	PICK(src, head, INODE_HEAD, struct inode, i_mode, v->mode);
	PICK(src, head, INODE_HEAD, struct inode, i_uid.val, v->uid);
	PICK(src, head, INODE_HEAD, struct inode, i_gid.val, v->gid);
	PICK(src, head, INODE_HEAD, struct inode, i_ino, v->ino);
	PICK(src, head, INODE_HEAD, struct inode, i_sb, v->sb);
	return true;
}

static __always_inline void set_inode(struct file_record *r, struct inode_view *v)
{
	u32 dev = 0;
	bpf_probe_read_kernel(&dev, sizeof(dev),
			      (void *)v->sb + bpf_core_field_offset(struct super_block, s_dev));
	r->ino = v->ino;
	r->dev_major = dev >> 20;
	r->dev_minor = dev & ((1U << 20) - 1);
	r->mode = v->mode;
	r->uid = v->uid;
	r->gid = v->gid;
}

/* The open file `fd` of the current task (a BTF pointer: its fields are direct loads). */
static __always_inline struct file *current_file(struct task_struct *task, s32 fd)
{
	if (fd < 0)
		return NULL;
	struct fdtable *fdt = task->files->fdt;
	if ((u32)fd >= fdt->max_fds)
		return NULL;
	struct file **fds = fdt->fd;
	struct file *f = NULL;
	bpf_probe_read_kernel(&f, sizeof(f), &fds[fd & 0xffffff]);
	return f;
}

static __always_inline struct file_record *file_record_begin(struct task_struct *task, u32 op,
							     u32 call, s64 ret)
{
	u32 zero = 0;
	u32 *busy = bpf_map_lookup_elem(&FILE_BUSY, &zero);
	if (!busy)
		return NULL;
	if (*busy) {
		dropped(KIND_FILE_BUSY);
		return NULL;
	}
	struct file_record *r = file_scratch();
	if (!r)
		return NULL;
	*busy = 1;
	r->h.kind = KIND_FILE;
	r->h.tgid = task->tgid;
	r->h.boot_ns = bpf_ktime_get_boot_ns();
	r->h.start_ns = task->group_leader->start_boottime;
	r->op = op;
	r->call = call;
	r->ret = ret;
	r->flags = 0;
	r->name_len = 0;
	r->base_len = 0;
	r->other_name_len = 0;
	r->other_base_len = 0;
	r->ino = 0;
	r->dev_major = 0;
	r->dev_minor = 0;
	r->mode = 0;
	r->uid = 0;
	r->gid = 0;
	r->uring_ring = 0;
	r->uring_req = 0;
	return r;
}

static __always_inline void file_record_send(struct file_record *r, u32 len)
{
	u64 size = FILE_DATA + (len & (8 * PATH_CAP - 1));
	if (size > sizeof(struct file_record))
		size = sizeof(struct file_record);
	if (bpf_ringbuf_output(&EVENTS, r, size, 0))
		dropped(KIND_FILE);
	u32 zero = 0;
	u32 *busy = bpf_map_lookup_elem(&FILE_BUSY, &zero);
	if (busy)
		*busy = 0;
}

/* The walk of process.bpf.c's walk_path, for the file programs: one read per level for the
 * dentry's parent and name (its head), one for the name itself; the mount's root read once per
 * mount. */
struct fwalk {
	struct dentry *dentry;
	struct mount *mnt;
	struct dentry *root;
	u32 base;
	u32 off;
	bool done;
};

static long fwalk_step(u32 index, void *ctx)
{
	struct fwalk *w = ctx;
	struct dentry *dentry = w->dentry;
	u8 head[DENTRY_HEAD];
	if (bpf_probe_read_kernel(head, sizeof(head), dentry)) {
		w->done = true;
		return 1;
	}
	struct dentry *parent = NULL;
	const unsigned char *name = NULL;
	PICK(dentry, head, DENTRY_HEAD, struct dentry, d_parent, parent);
	PICK(dentry, head, DENTRY_HEAD, struct dentry, d_name.name, name);
	if (dentry == w->root || dentry == parent) {
		struct mount *mnt = w->mnt;
		struct mount *up = BPF_CORE_READ(mnt, mnt_parent);
		if (up == mnt) {
			w->done = true; /* the root of the mount tree */
			return 1;
		}
		w->dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
		w->mnt = up;
		w->root = BPF_CORE_READ(up, mnt.mnt_root);
		return 0;
	}
	if (w->off > PATH_CAP - NAME_CAP)
		return 1;
	struct file_record *r = file_scratch();
	if (!r)
		return 1;
	u32 at = (w->base & (2 * PATH_CAP - 1)) + (w->off & (PATH_CAP - 1));
	long n = bpf_probe_read_kernel_str(&r->data[at & (4 * PATH_CAP - 1)], NAME_CAP, name);
	if (n <= 0) {
		w->done = true;
		return 1;
	}
	w->off += n;
	w->dentry = parent;
	return 0;
}

/* Writes the components of (dentry, vfsmnt) leaf first at `base`; returns the bytes. */
static __always_inline u32 fwalk(struct dentry *dentry, struct vfsmount *vfsmnt, u32 base,
				 u32 *flags, u32 truncated)
{
	struct fwalk w = {};
	w.dentry = dentry;
	w.mnt = (void *)vfsmnt - bpf_core_field_offset(struct mount, mnt);
	bpf_probe_read_kernel(&w.root, sizeof(w.root),
			      (void *)vfsmnt + bpf_core_field_offset(struct vfsmount, mnt_root));
	w.base = base;
	bpf_loop(PATH_DEPTH, fwalk_step, &w, 0);
	if (!w.done)
		*flags |= truncated;
	return w.off & (PATH_CAP - 1);
}

/* A name as the caller gave it: in its memory, or (`kernel`) the kernel's copy. */
static __always_inline long read_name(char *to, const char *name, bool kernel)
{
	return kernel ? bpf_probe_read_kernel_str(to, PATH_CAP, name)
		      : bpf_probe_read_user_str(to, PATH_CAP, name);
}

/* The path `name` (user memory, or the kernel's copy) relative to `dfd`, written at `at`: the
 * name as given, then, when it is relative, the base directory's components. Returns the
 * bytes written; their split is left in *name_len and *base_len. */
static __always_inline u32 name_path(struct file_record *r, struct task_struct *task, u32 at,
				     s32 dfd, const char *name, bool kernel, u32 truncated,
				     u32 *name_len, u32 *base_len)
{
	*name_len = 0;
	*base_len = 0;
	if (!name)
		return 0;
	at &= 2 * PATH_CAP - 1;
	long n = read_name(&r->data[at], name, kernel);
	if (n <= 0)
		return 0;
	u32 nl = n & (PATH_CAP - 1);
	*name_len = nl;
	if (r->data[at] == '/')
		return nl;
	struct dentry *dentry = NULL;
	struct vfsmount *mnt = NULL;
	if (dfd == AT_FDCWD) {
		dentry = task->fs->pwd.dentry;
		mnt = task->fs->pwd.mnt;
	} else {
		struct file *f = current_file(task, dfd);
		struct file_view v = {};
		if (!f || !read_file(f, &v)) {
			r->flags |= truncated == FILE_PATH_TRUNCATED ? FILE_PATH_UNRESOLVED
								       : FILE_OTHER_UNRESOLVED;
			return nl;
		}
		dentry = v.dentry;
		mnt = v.mnt;
	}
	u32 b = fwalk(dentry, mnt, at + nl, &r->flags, truncated);
	*base_len = b;
	return nl + b;
}

/* Begins a record of `op` whose object is `name` relative to `dfd`, and, when `other` is
 * given, whose other path is `other` relative to `other_dfd` (`other_verbatim`: as given,
 * never made absolute — a symlink's target); the names in the caller's memory or (`kernel`)
 * the kernel's copies. Its length goes to *len; file_record_send sends it. */
static __always_inline struct file_record *named_record(struct task_struct *task, u32 call,
							u32 op, s64 ret, s32 dfd, const char *name,
							s32 other_dfd, const char *other,
							bool other_verbatim, bool kernel, u32 *len)
{
	struct file_record *r = file_record_begin(task, op, call, ret);
	if (!r)
		return NULL;
	u32 name_len, base_len;
	u32 n = name_path(r, task, 0, dfd, name, kernel, FILE_PATH_TRUNCATED, &name_len,
			  &base_len);
	r->name_len = name_len;
	r->base_len = base_len;
	if (other) {
		u32 at = n & (2 * PATH_CAP - 1);
		if (other_verbatim) {
			long got = read_name(&r->data[at], other, kernel);
			name_len = got > 0 ? (u32)got : 0;
			base_len = 0;
			n = at + name_len;
		} else {
			n = at + name_path(r, task, at, other_dfd, other, kernel,
					   FILE_OTHER_TRUNCATED, &name_len, &base_len);
		}
		r->other_name_len = name_len;
		r->other_base_len = base_len;
	}
	*len = n;
	return r;
}

/* Sends a record of a syscall's `op` on `name` (and `other`), as named_record. */
static __always_inline void named_op(u32 call, u32 op, s64 ret, s32 dfd, const char *name,
				     s32 other_dfd, const char *other, bool other_verbatim)
{
	struct task_struct *task = bpf_get_current_task_btf();
	if (task->tgid == warden_tgid)
		return;
	u32 len = 0;
	struct file_record *r = named_record(task, call, op, ret, dfd, name, other_dfd, other,
					     other_verbatim, false, &len);
	if (r)
		file_record_send(r, len);
}

/* The registers the current syscall was entered with. */
static __always_inline struct pt_regs *entry_regs(void)
{
	return (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
}

/* What an open did to its file `f` (now open): FILE_CREATE, FILE_OPEN_WRITE (a regular file,
 * when write-opens are asked for), or 0 (nothing to report). Its views are left in *file and
 * *inode. */
static __always_inline u32 open_effect(struct file *f, struct file_view *file,
				       struct inode_view *inode)
{
	if (!f || !read_file(f, file))
		return 0;
	/* Most opens only read: they cost this much and no more. */
	bool created = file->mode & FMODE_CREATED;
	if (!created && !(report_write_opens && (file->mode & FMODE_WRITE)))
		return 0;
	if (!read_inode(file->inode, inode))
		return 0;
	if (created)
		return FILE_CREATE;
	return (inode->mode & S_IFMT) == S_IFREG ? FILE_OPEN_WRITE : 0;
}

/* Sends a record of `op` on the open file seen in `file` and `inode`, its path walked from
 * the file itself. */
static __always_inline void send_walked(struct task_struct *task, u32 op, u32 call, s64 ret,
					u32 flags, struct file_view *file,
					struct inode_view *inode)
{
	struct file_record *r = file_record_begin(task, op, call, ret);
	if (!r)
		return;
	r->flags = flags;
	set_inode(r, inode);
	u32 len = fwalk(file->dentry, file->mnt, 0, &r->flags, FILE_PATH_TRUNCATED);
	r->base_len = len;
	file_record_send(r, len);
}

/* An open of `name` (relative to `dfd`) returned `ret`: what did it do to its file? */
static __always_inline void record_open(struct task_struct *task, u32 call, s64 ret, s32 dfd,
					const char *name, u32 flags)
{
	if (ret < 0)
		return;
	struct file_view file = {};
	struct inode_view inode = {};
	u32 op = open_effect(current_file(task, ret), &file, &inode);
	if (!op)
		return;
	struct file_record *r = file_record_begin(task, op, call, ret);
	if (!r)
		return;
	r->flags = flags;
	set_inode(r, &inode);
	u32 name_len, base_len;
	u32 len = name_path(r, task, 0, dfd, name, false, FILE_PATH_TRUNCATED, &name_len,
			    &base_len);
	r->name_len = name_len;
	r->base_len = base_len;
	file_record_send(r, len);
}

/* A native open returned. */
static __always_inline int opened(struct sys_exit *ctx, u32 call, s32 dfd, const char *name)
{
	struct task_struct *task = bpf_get_current_task_btf();
	if (task->tgid != warden_tgid)
		record_open(task, call, ctx->ret, dfd, name, 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_openat")
int warden_openat_x(struct sys_exit *ctx)
{
	struct pt_regs *regs = entry_regs();
	return opened(ctx, CALL_openat, SYSCALL_ARG0(regs), (const char *)SYSCALL_ARG1(regs));
}

SEC("tracepoint/syscalls/sys_exit_openat2")
int warden_openat2_x(struct sys_exit *ctx)
{
	struct pt_regs *regs = entry_regs();
	return opened(ctx, CALL_openat2, SYSCALL_ARG0(regs), (const char *)SYSCALL_ARG1(regs));
}

SEC("tracepoint/syscalls/sys_exit_open")
int warden_open_x(struct sys_exit *ctx)
{
	struct pt_regs *regs = entry_regs();
	return opened(ctx, CALL_open, AT_FDCWD, (const char *)SYSCALL_ARG0(regs));
}

SEC("tracepoint/syscalls/sys_exit_creat")
int warden_creat_x(struct sys_exit *ctx)
{
	struct pt_regs *regs = entry_regs();
	return opened(ctx, CALL_creat, AT_FDCWD, (const char *)SYSCALL_ARG0(regs));
}

/* A regular file opened for writing whose last reference goes: a close-after-write of `f`
 * (`flags`: FILE_URING for io_uring's close). */
static __always_inline void closing_file(struct task_struct *task, struct file *f, u32 call,
					 u32 flags)
{
	struct file_view file = {};
	if (!f || !read_file(f, &file) || !(file.mode & FMODE_WRITE))
		return;
	/* file_ref_t counts from 0 for one reference; f_count from 1. */
	if (file.ref != (file.ref_is_file_ref ? 0 : 1))
		return;
	struct inode_view inode = {};
	if (!read_inode(file.inode, &inode) || (inode.mode & S_IFMT) != S_IFREG)
		return;
	send_walked(task, FILE_CLOSE_WRITE, call, 0, flags, &file, &inode);
}

/* The same of the task's fd `fd`. */
static __always_inline void closing(struct task_struct *task, s32 fd, u32 call, u32 flags)
{
	closing_file(task, current_file(task, fd), call, flags);
}

SEC("tracepoint/syscalls/sys_enter_close")
int warden_close(struct sys_enter *ctx)
{
	struct task_struct *task = bpf_get_current_task_btf();
	if (task->tgid != warden_tgid)
		closing(task, ctx->args[0], CALL_close, 0);
	return 0;
}

/* dup2 and dup3 close their new fd when it is open (not when it is the old one). */
static __always_inline int duplicating(struct sys_enter *ctx, u32 call)
{
	struct task_struct *task = bpf_get_current_task_btf();
	if (task->tgid != warden_tgid && ctx->args[0] != ctx->args[1])
		closing(task, ctx->args[1], call, 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_dup2")
int warden_dup2(struct sys_enter *ctx)
{
	return duplicating(ctx, CALL_dup2);
}

SEC("tracepoint/syscalls/sys_enter_dup3")
int warden_dup3(struct sys_enter *ctx)
{
	return duplicating(ctx, CALL_dup3);
}

/* An ftruncate of `f` returned `ret` (`flags`: FILE_URING for io_uring's). */
static __always_inline void truncated(struct task_struct *task, struct file *f, s64 ret,
				      u32 flags)
{
	struct file_view file = {};
	struct inode_view inode = {};
	if (f && read_file(f, &file) && read_inode(file.inode, &inode))
		send_walked(task, FILE_TRUNCATE, CALL_ftruncate, ret, flags, &file, &inode);
}

SEC("tracepoint/syscalls/sys_exit_ftruncate")
int warden_ftruncate_x(struct sys_exit *ctx)
{
	struct task_struct *task = bpf_get_current_task_btf();
	if (task->tgid == warden_tgid)
		return 0;
	truncated(task, current_file(task, SYSCALL_ARG0(entry_regs())), ctx->ret, 0);
	return 0;
}

/* A call whose object is its argument 0, relative to the working directory. */
#define NAMED_EXIT(call, op)                                                                   \
	SEC("tracepoint/syscalls/sys_exit_" #call)                                             \
	int warden_##call##_x(struct sys_exit *ctx)                                            \
	{                                                                                      \
		struct pt_regs *regs = entry_regs();                                           \
		named_op(CALL_##call, op, ctx->ret, AT_FDCWD, (const char *)SYSCALL_ARG0(regs),  \
			 0, NULL, false);                                                      \
		return 0;                                                                      \
	}

/* A call whose object is its argument 1, relative to the directory fd in argument 0. */
#define NAMED_AT_EXIT(call, op)                                                                \
	SEC("tracepoint/syscalls/sys_exit_" #call)                                             \
	int warden_##call##_x(struct sys_exit *ctx)                                            \
	{                                                                                      \
		struct pt_regs *regs = entry_regs();                                           \
		named_op(CALL_##call, op, ctx->ret, SYSCALL_ARG0(regs),                       \
			 (const char *)SYSCALL_ARG1(regs), 0,                                   \
			 NULL, false);                                                         \
		return 0;                                                                      \
	}

NAMED_EXIT(unlink, FILE_UNLINK)
NAMED_EXIT(rmdir, FILE_RMDIR)
NAMED_EXIT(mkdir, FILE_MKDIR)
NAMED_AT_EXIT(mkdirat, FILE_MKDIR)
NAMED_EXIT(mknod, FILE_MKNOD)
NAMED_AT_EXIT(mknodat, FILE_MKNOD)
NAMED_EXIT(truncate, FILE_TRUNCATE)

SEC("tracepoint/syscalls/sys_exit_unlinkat")
int warden_unlinkat_x(struct sys_exit *ctx)
{
	struct pt_regs *regs = entry_regs();
	u32 op = SYSCALL_ARG2(regs) & AT_REMOVEDIR ? FILE_RMDIR : FILE_UNLINK;
	named_op(CALL_unlinkat, op, ctx->ret, SYSCALL_ARG0(regs), (const char *)SYSCALL_ARG1(regs), 0,
		 NULL,
		 false);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_rename")
int warden_rename_x(struct sys_exit *ctx)
{
	struct pt_regs *regs = entry_regs();
	named_op(CALL_rename, FILE_RENAME, ctx->ret, AT_FDCWD, (const char *)SYSCALL_ARG1(regs), AT_FDCWD,
		 (const char *)SYSCALL_ARG0(regs), false);
	return 0;
}

/* renameat and renameat2 (the flags are a fifth argument). */
static __always_inline int renamed_at(struct sys_exit *ctx, u32 call)
{
	struct pt_regs *regs = entry_regs();
	named_op(call, FILE_RENAME, ctx->ret, SYSCALL_ARG2(regs), (const char *)SYSCALL_ARG3(regs),
		 SYSCALL_ARG0(regs), (const char *)SYSCALL_ARG1(regs), false);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_renameat")
int warden_renameat_x(struct sys_exit *ctx)
{
	return renamed_at(ctx, CALL_renameat);
}

SEC("tracepoint/syscalls/sys_exit_renameat2")
int warden_renameat2_x(struct sys_exit *ctx)
{
	return renamed_at(ctx, CALL_renameat2);
}

SEC("tracepoint/syscalls/sys_exit_link")
int warden_link_x(struct sys_exit *ctx)
{
	struct pt_regs *regs = entry_regs();
	named_op(CALL_link, FILE_LINK, ctx->ret, AT_FDCWD, (const char *)SYSCALL_ARG1(regs), AT_FDCWD,
		 (const char *)SYSCALL_ARG0(regs), false);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_linkat")
int warden_linkat_x(struct sys_exit *ctx)
{
	struct pt_regs *regs = entry_regs();
	named_op(CALL_linkat, FILE_LINK, ctx->ret, SYSCALL_ARG2(regs), (const char *)SYSCALL_ARG3(regs),
		 SYSCALL_ARG0(regs), (const char *)SYSCALL_ARG1(regs), false);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_symlink")
int warden_symlink_x(struct sys_exit *ctx)
{
	struct pt_regs *regs = entry_regs();
	named_op(CALL_symlink, FILE_SYMLINK, ctx->ret, AT_FDCWD, (const char *)SYSCALL_ARG1(regs), 0,
		 (const char *)SYSCALL_ARG0(regs), true);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_symlinkat")
int warden_symlinkat_x(struct sys_exit *ctx)
{
	struct pt_regs *regs = entry_regs();
	named_op(CALL_symlinkat, FILE_SYMLINK, ctx->ret, SYSCALL_ARG1(regs),
		 (const char *)SYSCALL_ARG2(regs), 0, (const char *)SYSCALL_ARG0(regs), true);
	return 0;
}

/* The descriptors a process still holds at exit that are looked at (one word of its table's
 * bitmap of open descriptors). */
#define EXIT_FDS 64

static long exit_close_step(u32 fd, void *ctx)
{
	u64 open = *(u64 *)ctx;
	if ((open >> (fd & 63)) == 0)
		return 1; /* no open descriptor from here on */
	if (open & (1ULL << (fd & 63)))
		closing(bpf_get_current_task_btf(), fd, CALL_exit, 0);
	return 0;
}

/* The last thread of a process exits (the kernel closes its files after this tracepoint): its
 * files open for writing whose last reference it holds are closes after writing too. Attached
 * before the exit program, so that they come before the process's exit record. */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(warden_exit_files, struct task_struct *task)
{
	if (task->tgid == warden_tgid || task->signal->live.counter != 0)
		return 0;
	struct files_struct *files = task->files;
	if (!files)
		return 0;
	u64 open = 0;
	bpf_probe_read_kernel(&open, sizeof(open), files->fdt->open_fds);
	if (open)
		bpf_loop(EXIT_FDS, exit_close_step, &open, 0);
	return 0;
}

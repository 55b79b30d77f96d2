// SPDX-License-Identifier: MIT OR GPL-2.0-only
/* Process lifecycle for Warden: fork, exec and exit of every process on the host, read in the
 * kernel at the scheduler's tracepoints and handed to the agent through one ring buffer.
 *
 * Why here rather than from audit records: the exec's identity, credentials, executable, working
 * directory and argv are read straight from the task, once, with no text to format in the
 * kernel and none to parse in the agent. The record layouts below are mirrored by
 * src/ebpf/record.rs; change both together. (Dual licensed: MIT like the rest of Warden, and
 * GPL-compatible as the kernel requires of programs that use its GPL-only helpers.) */
#include "kernel.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual MIT/GPL";

#define KIND_FORK 1
#define KIND_EXEC 2
#define KIND_EXIT 3
/* An execve/execveat that returned an error: the caller's identity, the name it asked for
 * (as given, in the exe area) and the argv it passed. */
#define KIND_EXEC_FAILED 4
/* A chmod or chown call as it returned: who, which file, what was asked, the result. */
#define KIND_ATTR 5
/* The file an exec named when an interpreter runs it (a `#!` script, a binfmt_misc format),
 * in the exec record's layout (its exe fields: the script's path and version; its flags:
 * EXEC_EXE_TRUNCATED, EXEC_EXE_UNLINKED, EXEC_HOLD). Sent just before the exec's record,
 * which then has EXEC_SCRIPT. */
#define KIND_SCRIPT 10

/* Exec flags: what could not be read whole. */
#define EXEC_ARGS_TRUNCATED 1
#define EXEC_EXE_TRUNCATED 2
#define EXEC_CWD_TRUNCATED 4
#define EXEC_ARGS_UNREADABLE 8
#define EXEC_NO_LOGINUID 16
/* The new image is a 32-bit one (x86's ia32 emulation): its syscalls are compat ones, which
 * the syscall tracepoints of the file and network programs never see. */
#define EXEC_COMPAT 32
/* The image had no name in any directory when it ran (its link count was 0): a memfd, an
 * O_TMPFILE, a file deleted before the exec. */
#define EXEC_EXE_UNLINKED 64
/* The first exec of this version of its file since the program was loaded, or one whose image
 * has no name: the reader is woken at once (HOLD) to open the image before the process ends. */
#define EXEC_HOLD 128
/* The exec ran through an interpreter: the KIND_SCRIPT record of the file it named came
 * before it. */
#define EXEC_SCRIPT 256

/* A path is written as its components, leaf first, each NUL-terminated; the agent reverses
 * them. PATH_CAP bounds one path, NAME_CAP one component (NAME_MAX + NUL). */
#define PATH_CAP 4096
#define NAME_CAP 256
#define PATH_DEPTH 64
/* argv as the process's memory holds it (NUL-separated), at most ARGS_CAP bytes. */
#define ARGS_CAP 16384
/* One argument of a failed exec, read from the caller's argv array, at most this long. */
#define ARG_CAP 4096
#define ARGV_MAX 256

/* Every record starts so. Times are CLOCK_BOOTTIME nanoseconds (suspend included), the clock
 * of /proc's starttime. */
struct header {
	u32 kind;
	u32 tgid;
	u64 boot_ns;
	u64 start_ns;
};

struct fork_record {
	struct header h;
	u32 parent_tgid;
	u32 pad;
	u64 parent_start_ns;
};

struct exit_record {
	struct header h;
	/* The kernel's wait status: exit code << 8, or the killing signal (| 0x80 for a core). */
	u32 exit_code;
	u32 pad;
};

struct exec_record {
	struct header h;
	u32 ppid;
	u32 uid;
	u32 euid;
	u32 gid;
	u32 egid;
	u32 loginuid;
	u32 sessionid;
	u32 flags;
	u64 parent_start_ns;
	s32 ret;      /* 0, or the failed call's -errno */
	u16 exe_len;
	u16 cwd_len;
	u32 args_len;
	u32 pad;
	/* The executable's inode as the exec found it (all 0 when unknown, and for a failed
	 * exec): the agent's file caches hit on it without opening /proc/PID/exe. */
	u64 exe_ino;
	s64 exe_size;
	s64 exe_mtime_ns;
	s64 exe_ctime_ns;
	u32 exe_dev_major;
	u32 exe_dev_minor;
	/* The process's cgroup in the unified (v2) hierarchy: its directory's inode there. */
	u64 cgroup_id;
	char comm[16];
	char tty[32];
	/* exe components (a failed exec: the name it was given), then cwd components, then argv:
	 * exe_len + cwd_len + args_len bytes. ARG_CAP of slack for the last argument's read. */
	char data[2 * PATH_CAP + ARGS_CAP + ARG_CAP];
};

/* A chmod or chown, built in the exec scratch record: its paths go where walk_path writes. */
struct attr_record {
	struct header h;
	s32 ret;        /* 0, or -errno */
	u32 mode;       /* chmod calls: the mode asked for */
	u32 uid;        /* chown calls: the owner asked for ((u32)-1: unchanged) */
	u32 gid;
	u64 ino;        /* fchmod/fchown: the file's inode and device; 0 otherwise */
	u32 dev_major;
	u32 dev_minor;
	u16 base_len;   /* components of the directory the name is relative to, or of the fd's file */
	u16 name_len;   /* then the name as given, NUL-terminated (empty for an fd) */
	u32 call;       /* ATTR_CALL_* */
	u32 flags;      /* ATTR_BASE_TRUNCATED, ATTR_TIMES_READ */
	u32 pad0;
	/* Times calls: the two times as the caller gave them (utimensat: two timespecs; utimes,
	 * futimesat: two timevals; utime: a utimbuf's two seconds), read when ATTR_TIMES_READ (a
	 * NULL array sets both to now). */
	s64 times[4];
	char pad[176 - 104];
	char data[2 * PATH_CAP];
};

#define ATTR_BASE_TRUNCATED 1
#define ATTR_TIMES_READ 2
#define ATTR_CALL_CHMOD 1
#define ATTR_CALL_FCHMOD 2
#define ATTR_CALL_FCHMODAT 3
#define ATTR_CALL_FCHMODAT2 4
#define ATTR_CALL_CHOWN 5
#define ATTR_CALL_LCHOWN 6
#define ATTR_CALL_FCHOWN 7
#define ATTR_CALL_FCHOWNAT 8
#define ATTR_CALL_UTIMENSAT 9
#define ATTR_CALL_UTIMES 10
#define ATTR_CALL_FUTIMESAT 11
#define ATTR_CALL_UTIME 12

/* The offsets src/ebpf/record.rs reads. */
_Static_assert(sizeof(struct header) == 24, "header layout");
_Static_assert(sizeof(struct fork_record) == 40, "fork layout");
_Static_assert(sizeof(struct exit_record) == 32, "exit layout");
_Static_assert(__builtin_offsetof(struct exec_record, parent_start_ns) == 56, "exec layout");
_Static_assert(__builtin_offsetof(struct exec_record, ret) == 64, "exec layout");
_Static_assert(__builtin_offsetof(struct exec_record, exe_len) == 68, "exec layout");
_Static_assert(__builtin_offsetof(struct exec_record, exe_ino) == 80, "exec layout");
_Static_assert(__builtin_offsetof(struct exec_record, exe_dev_major) == 112, "exec layout");
_Static_assert(__builtin_offsetof(struct exec_record, cgroup_id) == 120, "exec layout");
_Static_assert(__builtin_offsetof(struct exec_record, comm) == 128, "exec layout");
_Static_assert(__builtin_offsetof(struct exec_record, tty) == 144, "exec layout");
_Static_assert(__builtin_offsetof(struct exec_record, data) == 176, "exec layout");
_Static_assert(__builtin_offsetof(struct attr_record, ino) == 40, "attr layout");
_Static_assert(__builtin_offsetof(struct attr_record, base_len) == 56, "attr layout");
_Static_assert(__builtin_offsetof(struct attr_record, flags) == 64, "attr layout");
_Static_assert(__builtin_offsetof(struct attr_record, times) == 72, "attr layout");
_Static_assert(__builtin_offsetof(struct attr_record, data) ==
		       __builtin_offsetof(struct exec_record, data),
	       "an attr record's paths are where walk_path writes");
_Static_assert(sizeof(struct attr_record) <= sizeof(struct exec_record), "fits the scratch");

/* 4 MiB: some 8,000 execs with their forks and exits, a second or more of a burst while the
 * reader is starved of CPU. The agent maps it twice (the kernel's wrap-around trick), so
 * it shows as 8 MiB of the agent's RSS. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);
} EVENTS SEC(".maps");

/* The pids of 32-bit images as they are exec'd: a ring of its own that wakes the reader at
 * once (EVENTS is read in batches), so that it can start following their calls before they
 * make many. */
#define BPF_RB_FORCE_WAKEUP 2
/* bpf_ringbuf_query's: the bytes of records written and not yet read. */
#define BPF_RB_AVAIL_DATA 0
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} COMPAT_STARTS SEC(".maps");

/* A doorbell: an exec whose image the reader should hold at once (EXEC_HOLD) rings it after
 * its record is in EVENTS, which is read in batches: the reader opens the image from the
 * doorbell's note before it reads the batch, which may hold 25 ms of records. */
struct hold_note {
	u32 pid;
	u32 dev_major;
	u32 dev_minor;
	u32 script; /* 1: a script record's file, which the reader opens by its path */
	u64 ino;
};
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} HOLD SEC(".maps");

/* Versions of executables seen at exec: an exec of one not among them is marked EXEC_HOLD. */
struct image_version {
	u64 ino;
	s64 size;
	s64 mtime_ns;
	s64 ctime_ns;
	u32 dev_major;
	u32 dev_minor;
};
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, struct image_version);
	__type(value, u8);
} IMAGES_SEEN SEC(".maps");

/* An exec record is too large for the BPF stack: built here, one per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct exec_record);
} SCRATCH SEC(".maps");

/* Records the ring buffer had no room for, by kind (index 0 unused); read by the agent. Sized
 * for every KIND_* (files.h and net.h add theirs). */
#define DROPPED_KINDS 16
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, DROPPED_KINDS);
	__type(key, u32);
	__type(value, u64);
} DROPPED SEC(".maps");

/* An exec call in flight, by thread: what it asked for, kept from entry to exit. */
struct attempt {
	const char *filename;
	const char *const *argv;
};

/* LRU: an entry whose exit is never seen (a thread killed mid-call) ages out. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, u32);
	__type(value, struct attempt);
} ATTEMPTS SEC(".maps");

static __always_inline void dropped(u32 kind)
{
	u64 *n = bpf_map_lookup_elem(&DROPPED, &kind);
	if (n)
		*n += 1;
}

static __always_inline u64 start_of(struct task_struct *task)
{
	return BPF_CORE_READ(task, start_boottime);
}

/* Whether a filesystem answers an open from the host itself (include/uapi/linux/magic.h):
 * a disk's, memory's, or a stack of them. Not one served over a network or by a process
 * (NFS, SMB, FUSE...): an open there waits as long as its server, and the reader waits on
 * nothing. */
static __always_inline bool local_filesystem(unsigned long magic)
{
	switch (magic) {
	case 0xEF53:     /* ext2, ext3, ext4 */
	case 0x58465342: /* xfs */
	case 0x9123683E: /* btrfs */
	case 0xF2F52010: /* f2fs */
	case 0xCA451A4E: /* bcachefs */
	case 0x2FC12FC1: /* zfs */
	case 0x3153464A: /* jfs */
	case 0x52654973: /* reiserfs */
	case 0x3434:     /* nilfs2 */
	case 0x01021994: /* tmpfs, and the shmem of memfds */
	case 0x858458F6: /* ramfs */
	case 0x958458F6: /* hugetlbfs */
	case 0x794C7630: /* overlayfs */
	case 0x73717368: /* squashfs */
	case 0xE0F5E1E2: /* erofs */
	case 0x28CD3D45: /* cramfs */
	case 0x9660:     /* iso9660 */
	case 0x15013346: /* udf */
	case 0x4D44:     /* vfat, msdos */
	case 0x2011BAB0: /* exfat */
	case 0x7366746E: /* ntfs3 */
		return true;
	default:
		return false;
	}
}

/* One path walk in progress: bpf_loop calls walk_step once per level, so the verifier checks
 * the step once rather than every unrolled level. */
struct walk {
	struct dentry *dentry;
	struct vfsmount *vfsmnt;
	struct mount *mnt;
	u32 base; /* where in the scratch record's data this path starts */
	u32 off;  /* bytes written so far */
	bool done;
	bool served; /* a mount it crossed is not of a local filesystem */
};

static long walk_step(u32 index, void *ctx)
{
	struct walk *w = ctx;
	/* Locals, not w->...: inside BPF_CORE_READ the whole expression is relocated, and
	 * struct walk is ours, not the kernel's. */
	struct dentry *dentry = w->dentry;
	struct vfsmount *vfsmnt = w->vfsmnt;
	struct mount *mnt = w->mnt;
	struct dentry *root = BPF_CORE_READ(vfsmnt, mnt_root);
	struct dentry *parent = BPF_CORE_READ(dentry, d_parent);
	/* Its own parent, yet not its mount's root: a file of no directory (a memfd, a pipe...),
	 * which d_path names by itself. Its name is the whole path. */
	bool detached = dentry == parent && dentry != root;
	if (!detached && (dentry == root || dentry == parent)) {
		if (!local_filesystem(BPF_CORE_READ(vfsmnt, mnt_sb, s_magic)))
			w->served = true;
		struct mount *up = BPF_CORE_READ(mnt, mnt_parent);
		if (up == mnt) {
			w->done = true; /* the root of the mount tree */
			return 1;
		}
		w->dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
		w->mnt = up;
		w->vfsmnt = (void *)up + bpf_core_field_offset(struct mount, mnt);
		return 0;
	}
	if (w->off > PATH_CAP - NAME_CAP)
		return 1;
	u32 zero = 0;
	struct exec_record *r = bpf_map_lookup_elem(&SCRATCH, &zero);
	if (!r)
		return 1;
	const unsigned char *name = BPF_CORE_READ(dentry, d_name.name);
	u32 at = (w->base & (PATH_CAP - 1)) + (w->off & (PATH_CAP - 1));
	long n = bpf_probe_read_kernel_str(&r->data[at & (2 * PATH_CAP - 1)], NAME_CAP, name);
	if (n <= 0) {
		w->done = true;
		return 1;
	}
	w->off += n;
	w->dentry = parent;
	if (detached) {
		w->done = true;
		return 1;
	}
	return 0;
}

/* Writes the components of `path` leaf first into the scratch record's data at `base`, as
 * d_path would walk them up to the root of the mount tree, crossing mount points. Returns the
 * bytes written (less than PATH_CAP); `served`, when given, says whether a filesystem on the
 * way (the file's own included) is one an open by this path could wait on. */
static __always_inline u32 walk_path(struct path *path, u32 base, u32 *flags, u32 truncated,
				     bool *served)
{
	struct walk w = {};
	w.dentry = BPF_CORE_READ(path, dentry);
	w.vfsmnt = BPF_CORE_READ(path, mnt);
	w.mnt = (void *)w.vfsmnt - bpf_core_field_offset(struct mount, mnt);
	w.base = base;
	bpf_loop(PATH_DEPTH, walk_step, &w, 0);
	if (!w.done)
		*flags |= truncated;
	if (served)
		*served = w.served;
	return w.off & (PATH_CAP - 1);
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(warden_fork, struct task_struct *parent, struct task_struct *child)
{
	/* A new thread is not a new process. */
	if (BPF_CORE_READ(child, pid) != BPF_CORE_READ(child, tgid))
		return 0;
	struct fork_record r = {};
	r.h.kind = KIND_FORK;
	r.h.tgid = BPF_CORE_READ(child, tgid);
	r.h.boot_ns = bpf_ktime_get_boot_ns();
	r.h.start_ns = start_of(child);
	/* The child's parent: `parent` is the thread that forked, or for CLONE_PARENT its parent. */
	struct task_struct *real_parent = BPF_CORE_READ(child, real_parent);
	r.parent_tgid = BPF_CORE_READ(real_parent, tgid);
	struct task_struct *leader = BPF_CORE_READ(real_parent, group_leader);
	r.parent_start_ns = start_of(leader);
	if (bpf_ringbuf_output(&EVENTS, &r, sizeof(r), 0))
		dropped(KIND_FORK);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(warden_exit, struct task_struct *task)
{
	/* The process ends with its last thread: do_exit has just counted this one out. */
	struct signal_struct *signal = BPF_CORE_READ(task, signal);
	if (BPF_CORE_READ(signal, live.counter) != 0)
		return 0;
	struct exit_record r = {};
	r.h.kind = KIND_EXIT;
	r.h.tgid = BPF_CORE_READ(task, tgid);
	r.h.boot_ns = bpf_ktime_get_boot_ns();
	struct task_struct *leader = BPF_CORE_READ(task, group_leader);
	r.h.start_ns = start_of(leader);
	r.exit_code = BPF_CORE_READ(task, exit_code);
	if (bpf_ringbuf_output(&EVENTS, &r, sizeof(r), 0))
		dropped(KIND_EXIT);
	return 0;
}

/* The identity, credentials, terminal and working directory of `task` into the scratch record;
 * returns where the cwd components start (after the exe area of exe_len bytes). */
static __always_inline u32 fill_task(struct exec_record *r, struct task_struct *task, u32 exe_len)
{
	r->h.tgid = BPF_CORE_READ(task, tgid);
	r->h.boot_ns = bpf_ktime_get_boot_ns();
	/* de_thread gave the exec'ing thread its leader's start time. */
	struct task_struct *leader = BPF_CORE_READ(task, group_leader);
	r->h.start_ns = start_of(leader);
	struct task_struct *parent = BPF_CORE_READ(task, real_parent);
	r->ppid = BPF_CORE_READ(parent, tgid);
	struct task_struct *parent_leader = BPF_CORE_READ(parent, group_leader);
	r->parent_start_ns = start_of(parent_leader);
	const struct cred *cred = BPF_CORE_READ(task, cred);
	r->uid = BPF_CORE_READ(cred, uid.val);
	r->euid = BPF_CORE_READ(cred, euid.val);
	r->gid = BPF_CORE_READ(cred, gid.val);
	r->egid = BPF_CORE_READ(cred, egid.val);
	if (bpf_core_field_exists(task->loginuid)) {
		r->loginuid = BPF_CORE_READ(task, loginuid.val);
		r->sessionid = BPF_CORE_READ(task, sessionid);
	} else {
		r->loginuid = (u32)-1;
		r->sessionid = (u32)-1;
		r->flags |= EXEC_NO_LOGINUID;
	}
	bpf_probe_read_kernel_str(r->comm, sizeof(r->comm), task->comm);
	r->tty[0] = 0;
	struct signal_struct *signal = BPF_CORE_READ(task, signal);
	struct tty_struct *tty = BPF_CORE_READ(signal, tty);
	if (tty)
		bpf_probe_read_kernel_str(r->tty, sizeof(r->tty), tty->name);
	exe_len &= PATH_CAP - 1;
	struct fs_struct *fs = BPF_CORE_READ(task, fs);
	u32 cwd_len = walk_path(&fs->pwd, exe_len, &r->flags, EXEC_CWD_TRUNCATED, NULL);
	r->exe_len = exe_len;
	r->cwd_len = cwd_len;
	return (exe_len + cwd_len) & (2 * PATH_CAP - 1);
}

/* Sends the scratch record with `args_len` bytes of argv at `at`. */
static __always_inline void send_exec(struct exec_record *r, u32 at, u32 args_len)
{
	r->args_len = args_len;
	u64 size = sizeof(*r) - sizeof(r->data) + at + args_len;
	if (size > sizeof(*r))
		size = sizeof(*r);
	if (bpf_ringbuf_output(&EVENTS, r, size, 0))
		dropped(r->h.kind);
}

#define NSEC_MASK ((1U << 30) - 1)

/* The version of `exe`'s file (inode, device, size, times), or exe_ino 0 when this kernel's
 * inode times are in none of the layouts known here. */
static __always_inline void exe_version(struct exec_record *r, struct file *exe)
{
	struct inode *inode = BPF_CORE_READ(exe, f_inode);
	s64 mtime_s, mtime_ns, ctime_s, ctime_ns;
	if (bpf_core_field_exists(inode->i_mtime_sec)) {
		mtime_s = BPF_CORE_READ(inode, i_mtime_sec);
		mtime_ns = BPF_CORE_READ(inode, i_mtime_nsec);
		ctime_s = BPF_CORE_READ(inode, i_ctime_sec);
		ctime_ns = BPF_CORE_READ(inode, i_ctime_nsec);
	} else if (bpf_core_field_exists(((struct inode___v67 *)inode)->__i_mtime)) {
		struct inode___v67 *i = (void *)inode;
		mtime_s = BPF_CORE_READ(i, __i_mtime.tv_sec);
		mtime_ns = BPF_CORE_READ(i, __i_mtime.tv_nsec);
		ctime_s = BPF_CORE_READ(i, __i_ctime.tv_sec);
		ctime_ns = BPF_CORE_READ(i, __i_ctime.tv_nsec);
	} else if (bpf_core_field_exists(((struct inode___v66 *)inode)->__i_ctime)) {
		struct inode___v66 *i = (void *)inode;
		mtime_s = BPF_CORE_READ(i, i_mtime.tv_sec);
		mtime_ns = BPF_CORE_READ(i, i_mtime.tv_nsec);
		ctime_s = BPF_CORE_READ(i, __i_ctime.tv_sec);
		ctime_ns = BPF_CORE_READ(i, __i_ctime.tv_nsec);
	} else if (bpf_core_field_exists(((struct inode___v65 *)inode)->i_ctime)) {
		struct inode___v65 *i = (void *)inode;
		mtime_s = BPF_CORE_READ(i, i_mtime.tv_sec);
		mtime_ns = BPF_CORE_READ(i, i_mtime.tv_nsec);
		ctime_s = BPF_CORE_READ(i, i_ctime.tv_sec);
		ctime_ns = BPF_CORE_READ(i, i_ctime.tv_nsec);
	} else {
		return;
	}
	/* Nanoseconds are below 2^30; multigrain timestamps (6.13) keep a flag in bit 31 of
	 * the ctime's (I_CTIME_QUERIED). */
	r->exe_mtime_ns = mtime_s * 1000000000 + (mtime_ns & NSEC_MASK);
	r->exe_ctime_ns = ctime_s * 1000000000 + (ctime_ns & NSEC_MASK);
	r->exe_size = BPF_CORE_READ(inode, i_size);
	u32 dev = BPF_CORE_READ(inode, i_sb, s_dev);
	/* The kernel's dev_t: 12 bits of major above 20 of minor. */
	r->exe_dev_major = dev >> 20;
	r->exe_dev_minor = dev & ((1U << 20) - 1);
	r->exe_ino = BPF_CORE_READ(inode, i_ino);
}

/* Marks an exec whose image the reader should open at once (EXEC_HOLD): one with no name
 * (EXEC_EXE_UNLINKED), or the first exec of its file's version. Either may be gone, with the
 * process, by the time a batch is read. Only on a local filesystem. */
static __always_inline void hold_if_new(struct exec_record *r, struct file *exe)
{
	struct inode *inode = BPF_CORE_READ(exe, f_inode);
	if (BPF_CORE_READ(inode, __i_nlink) == 0)
		r->flags |= EXEC_EXE_UNLINKED;
	/* Without the image's version the reader could not tell the image it opens is this one. */
	if (!r->exe_ino || !local_filesystem(BPF_CORE_READ(inode, i_sb, s_magic)))
		return;
	if (r->flags & EXEC_EXE_UNLINKED)
		r->flags |= EXEC_HOLD;
	struct image_version v = {
		.ino = r->exe_ino,
		.size = r->exe_size,
		.mtime_ns = r->exe_mtime_ns,
		.ctime_ns = r->exe_ctime_ns,
		.dev_major = r->exe_dev_major,
		.dev_minor = r->exe_dev_minor,
	};
	if (bpf_map_lookup_elem(&IMAGES_SEEN, &v))
		return;
	u8 seen = 1;
	bpf_map_update_elem(&IMAGES_SEEN, &v, &seen, 0);
	r->flags |= EXEC_HOLD;
}

/* Rings the doorbell for a record marked EXEC_HOLD, once it is in EVENTS. */
static __always_inline void ring_hold(struct exec_record *r, u32 script)
{
	if (!(r->flags & EXEC_HOLD))
		return;
	struct hold_note note = {
		.pid = r->h.tgid,
		.dev_major = r->exe_dev_major,
		.dev_minor = r->exe_dev_minor,
		.script = script,
		.ino = r->exe_ino,
	};
	bpf_ringbuf_output(&HOLD, &note, sizeof(note), BPF_RB_FORCE_WAKEUP);
}

/* The kernel's ____fput, the deferred release of a file (from /proc/kallsyms; 0: scripts are
 * not looked for). */
const volatile u64 fput_work = 0;

/* A file opened by an exec (do_open_execat's __FMODE_EXEC, kept in f_flags). */
#define FMODE_EXEC_FLAG 0x20
/* Deferred releases looked through for a script: an exec that closed more close-on-exec
 * files than this before its interpreter ran has its script missed. */
#define TASK_WORKS_MAX 1024

/* The walk of a task's deferred work for the file of the exec's script. */
struct works_walk {
	struct callback_head *work;
	u32 head_at; /* where a file keeps the callback_head of its release */
	struct file *found;
};

static long works_step(u32 index, void *ctx)
{
	struct works_walk *w = ctx;
	struct callback_head *work = w->work;
	if (!work)
		return 1;
	if ((u64)BPF_CORE_READ(work, func) == fput_work) {
		struct file *f = (void *)work - w->head_at;
		/* Newest first: the last one is the first the exec put, the file it was asked to
		 * run (then each interpreter of a chain whose interpreter is a script, and the ELF
		 * interpreter, and files closed on exec, which no exec opened). */
		if (BPF_CORE_READ(f, f_flags) & FMODE_EXEC_FLAG)
			w->found = f;
	}
	w->work = BPF_CORE_READ(work, next);
	return 0;
}

/* The file an exec named when an interpreter runs it (a `#!` script, a binfmt_misc format):
 * by sched_process_exec the exec has put it, and its release waits in the task's work until
 * the return to user mode, so it is found there. NULL for an exec of an image itself. */
static __always_inline struct file *script_of(struct task_struct *task, struct linux_binprm *bprm)
{
	if (!fput_work || BPF_CORE_READ(bprm, interp) == BPF_CORE_READ(bprm, filename))
		return NULL;
	struct works_walk w = {.work = BPF_CORE_READ(task, task_works)};
	if (bpf_core_field_exists(((struct file___v68 *)0)->f_task_work))
		w.head_at = bpf_core_field_offset(struct file___v68, f_task_work);
	else if (bpf_core_field_exists(((struct file___v67 *)0)->f_rcuhead))
		w.head_at = bpf_core_field_offset(struct file___v67, f_rcuhead);
	else if (bpf_core_field_exists(((struct file___v66 *)0)->f_u))
		w.head_at = bpf_core_field_offset(struct file___v66, f_u);
	else
		return NULL;
	bpf_loop(TASK_WORKS_MAX, works_step, &w, 0);
	return w.found;
}

/* Sends the KIND_SCRIPT record of `script`, run by `task`'s exec. */
static __always_inline void send_script(struct task_struct *task, struct file *script)
{
	u32 zero = 0;
	struct exec_record *r = bpf_map_lookup_elem(&SCRATCH, &zero);
	if (!r)
		return;
	r->h.kind = KIND_SCRIPT;
	r->h.tgid = BPF_CORE_READ(task, tgid);
	r->h.boot_ns = bpf_ktime_get_boot_ns();
	r->h.start_ns = start_of(BPF_CORE_READ(task, group_leader));
	r->flags = 0;
	r->ret = 0;
	r->exe_ino = 0;
	r->cwd_len = 0;
	bool served = false;
	u32 len = walk_path(&script->f_path, 0, &r->flags, EXEC_EXE_TRUNCATED, &served);
	r->exe_len = len;
	exe_version(r, script);
	/* The reader opens a script by its path: only where no filesystem on the way may keep
	 * it waiting. */
	if (!served)
		hold_if_new(r, script);
	else if (BPF_CORE_READ(script, f_inode, __i_nlink) == 0)
		r->flags |= EXEC_EXE_UNLINKED;
	send_exec(r, len, 0);
	ring_hold(r, 1);
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(warden_exec, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm)
{
	/* The call succeeded: forget it under the thread id it was made with (a non-leader
	 * thread's exec takes the leader's id, so the exit tracepoint would not find it). */
	u32 caller = old_pid;
	bpf_map_delete_elem(&ATTEMPTS, &caller);
	/* First, in the scratch record the exec's is then built in. */
	struct file *script = script_of(task, bprm);
	if (script)
		send_script(task, script);
	u32 zero = 0;
	struct exec_record *r = bpf_map_lookup_elem(&SCRATCH, &zero);
	if (!r)
		return 0;
	r->h.kind = KIND_EXEC;
	r->flags = script ? EXEC_SCRIPT : 0;
	r->ret = 0;
	r->cgroup_id = bpf_get_current_cgroup_id();
	struct mm_struct *mm = BPF_CORE_READ(task, mm);
	struct file *exe = BPF_CORE_READ(mm, exe_file);
	u32 exe_len = 0;
	r->exe_ino = 0;
	if (exe) {
		exe_len = walk_path(&exe->f_path, 0, &r->flags, EXEC_EXE_TRUNCATED, NULL);
		exe_version(r, exe);
		hold_if_new(r, exe);
	}
	u32 at = fill_task(r, task, exe_len);
#if defined(__TARGET_ARCH_x86)
	/* Loading an ia32 image marks the task for its first return to user mode (TS_COMPAT). */
	if (bpf_core_field_exists(task->thread_info.status) &&
	    (BPF_CORE_READ(task, thread_info.status) & TS_COMPAT)) {
		r->flags |= EXEC_COMPAT;
		u32 pid = task->tgid;
		bpf_ringbuf_output(&COMPAT_STARTS, &pid, sizeof(pid), BPF_RB_FORCE_WAKEUP);
	}
#endif

	unsigned long arg_start = BPF_CORE_READ(mm, arg_start);
	unsigned long arg_end = BPF_CORE_READ(mm, arg_end);
	u64 args_len = arg_end > arg_start ? arg_end - arg_start : 0;
	if (args_len > ARGS_CAP) {
		args_len = ARGS_CAP;
		r->flags |= EXEC_ARGS_TRUNCATED;
	}
	/* Written so the verifier sees the bound it needs on the length. */
	u32 len = args_len & (2 * ARGS_CAP - 1);
	if (len > ARGS_CAP)
		len = ARGS_CAP;
	if (len && bpf_probe_read_user(&r->data[at], len, (void *)arg_start)) {
		r->flags |= EXEC_ARGS_UNREADABLE;
		len = 0;
	}
	send_exec(r, at, len);
	ring_hold(r, 0);
	return 0;
}

/* The calls' arguments as their tracepoints lay them out (tracefs .../format). */
struct execve_enter {
	u64 common;
	s32 nr;
	u32 pad;
	const char *filename;
	const char *const *argv;
};

struct execveat_enter {
	u64 common;
	s32 nr;
	u32 pad;
	u64 fd;
	const char *filename;
	const char *const *argv;
};

struct sys_exit {
	u64 common;
	s32 nr;
	u32 pad;
	s64 ret;
};

static __always_inline void remember(const char *filename, const char *const *argv)
{
	u32 tid = (u32)bpf_get_current_pid_tgid();
	struct attempt a = {.filename = filename, .argv = argv};
	bpf_map_update_elem(&ATTEMPTS, &tid, &a, 0);
}

SEC("tracepoint/syscalls/sys_enter_execve")
int warden_execve(struct execve_enter *ctx)
{
	remember(ctx->filename, ctx->argv);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_execveat")
int warden_execat(struct execveat_enter *ctx)
{
	remember(ctx->filename, ctx->argv);
	return 0;
}

/* One argument of a failed exec's argv into the scratch record (bpf_loop callback). */
struct argv_walk {
	const char *const *argv;
	u32 at;  /* where argv starts in data */
	u32 off; /* bytes written so far */
	bool cut;
};

static long argv_step(u32 i, void *ctx)
{
	struct argv_walk *w = ctx;
	const char *arg = 0;
	if (bpf_probe_read_user(&arg, sizeof(arg), &w->argv[i]) || !arg)
		return 1;
	if (w->off >= ARGS_CAP) {
		w->cut = true;
		return 1;
	}
	u32 zero = 0;
	struct exec_record *r = bpf_map_lookup_elem(&SCRATCH, &zero);
	if (!r)
		return 1;
	/* Always ARG_CAP: the data area has that much slack past ARGS_CAP, and a constant size
	 * is what the verifier can check. What lands past ARGS_CAP is not sent. */
	u32 at = (w->at & (2 * PATH_CAP - 1)) + (w->off & (ARGS_CAP - 1));
	long n = bpf_probe_read_user_str(&r->data[at], ARG_CAP, arg);
	if (n <= 0)
		return 1;
	w->off += n;
	if (n == ARG_CAP || w->off > ARGS_CAP) {
		w->cut = true; /* the argument may go on, or the area is full */
		return 1;
	}
	return 0;
}

static __always_inline int exec_returned(struct sys_exit *ctx)
{
	u32 tid = (u32)bpf_get_current_pid_tgid();
	struct attempt *a = bpf_map_lookup_elem(&ATTEMPTS, &tid);
	if (!a)
		return 0;
	struct attempt attempt = *a;
	bpf_map_delete_elem(&ATTEMPTS, &tid);
	if (ctx->ret >= 0)
		return 0; /* sched_process_exec told it */
	u32 zero = 0;
	struct exec_record *r = bpf_map_lookup_elem(&SCRATCH, &zero);
	if (!r)
		return 0;
	r->h.kind = KIND_EXEC_FAILED;
	r->flags = 0;
	r->exe_ino = 0;
	r->cgroup_id = bpf_get_current_cgroup_id();
	r->ret = (s32)ctx->ret;
	long n = bpf_probe_read_user_str(r->data, PATH_CAP, attempt.filename);
	u32 exe_len = n > 0 ? (u32)n : 0;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	u32 at = fill_task(r, task, exe_len);
	struct argv_walk w = {.argv = attempt.argv, .at = at};
	bpf_loop(ARGV_MAX, argv_step, &w, 0);
	if (w.cut)
		r->flags |= EXEC_ARGS_TRUNCATED;
	u32 len = w.off;
	if (len > ARGS_CAP)
		len = ARGS_CAP;
	send_exec(r, at, len);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_execve")
int warden_execve_x(struct sys_exit *ctx)
{
	return exec_returned(ctx);
}

SEC("tracepoint/syscalls/sys_exit_execveat")
int warden_execat_x(struct sys_exit *ctx)
{
	return exec_returned(ctx);
}

/* chmod, chown and the times calls: each call's entry remembers what it was asked (by thread),
 * its exit reports it with the result — fanotify only says "attributes changed", and never a
 * refused attempt. */
struct attr_call {
	const char *name; /* NULL for fchmod/fchown (and utimensat on an fd) */
	s32 dfd;          /* what `name` is relative to (AT_FDCWD), or the fd itself */
	u32 call;
	u32 mode;
	u32 uid;
	u32 gid;
	u32 pad;
	const void *times; /* the times calls' array, as given (NULL: now) */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, u32);
	__type(value, struct attr_call);
} ATTR_CALLS SEC(".maps");

/* A syscall's entry as its tracepoint lays it out: six arguments. */
struct sys_enter {
	u64 common;
	s32 nr;
	u32 pad;
	u64 args[6];
};

#define AT_FDCWD -100

static __always_inline void attr_remember_times(u32 call, const char *name, s32 dfd, u32 mode,
						u32 uid, u32 gid, const void *times)
{
	u32 tid = (u32)bpf_get_current_pid_tgid();
	struct attr_call c = {.name = name,
			      .dfd = dfd,
			      .call = call,
			      .mode = mode,
			      .uid = uid,
			      .gid = gid,
			      .times = times};
	bpf_map_update_elem(&ATTR_CALLS, &tid, &c, 0);
}

static __always_inline void attr_remember(u32 call, const char *name, s32 dfd, u32 mode, u32 uid,
					  u32 gid)
{
	attr_remember_times(call, name, dfd, mode, uid, gid, NULL);
}

SEC("tracepoint/syscalls/sys_enter_chmod")
int warden_chmod(struct sys_enter *ctx)
{
	attr_remember(ATTR_CALL_CHMOD, (const char *)ctx->args[0], AT_FDCWD, ctx->args[1], -1, -1);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_fchmod")
int warden_fchmod(struct sys_enter *ctx)
{
	attr_remember(ATTR_CALL_FCHMOD, NULL, ctx->args[0], ctx->args[1], -1, -1);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_fchmodat")
int warden_fchmodat(struct sys_enter *ctx)
{
	attr_remember(ATTR_CALL_FCHMODAT, (const char *)ctx->args[1], ctx->args[0], ctx->args[2], -1,
		      -1);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_fchmodat2")
int warden_fchmodat2(struct sys_enter *ctx)
{
	attr_remember(ATTR_CALL_FCHMODAT2, (const char *)ctx->args[1], ctx->args[0], ctx->args[2],
		      -1, -1);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_chown")
int warden_chown(struct sys_enter *ctx)
{
	attr_remember(ATTR_CALL_CHOWN, (const char *)ctx->args[0], AT_FDCWD, 0, ctx->args[1],
		      ctx->args[2]);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_lchown")
int warden_lchown(struct sys_enter *ctx)
{
	attr_remember(ATTR_CALL_LCHOWN, (const char *)ctx->args[0], AT_FDCWD, 0, ctx->args[1],
		      ctx->args[2]);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_fchown")
int warden_fchown(struct sys_enter *ctx)
{
	attr_remember(ATTR_CALL_FCHOWN, NULL, ctx->args[0], 0, ctx->args[1], ctx->args[2]);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_fchownat")
int warden_fchownat(struct sys_enter *ctx)
{
	attr_remember(ATTR_CALL_FCHOWNAT, (const char *)ctx->args[1], ctx->args[0], 0, ctx->args[2],
		      ctx->args[3]);
	return 0;
}

/* utimensat(dfd, name, times[2], flags): a NULL name is the fd's own file (futimens). */
SEC("tracepoint/syscalls/sys_enter_utimensat")
int warden_utimensat(struct sys_enter *ctx)
{
	attr_remember_times(ATTR_CALL_UTIMENSAT, (const char *)ctx->args[1], ctx->args[0], 0, -1,
			    -1, (const void *)ctx->args[2]);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_utimes")
int warden_utimes(struct sys_enter *ctx)
{
	attr_remember_times(ATTR_CALL_UTIMES, (const char *)ctx->args[0], AT_FDCWD, 0, -1, -1,
			    (const void *)ctx->args[1]);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_futimesat")
int warden_futimesat(struct sys_enter *ctx)
{
	attr_remember_times(ATTR_CALL_FUTIMESAT, (const char *)ctx->args[1], ctx->args[0], 0, -1,
			    -1, (const void *)ctx->args[2]);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_utime")
int warden_utime(struct sys_enter *ctx)
{
	attr_remember_times(ATTR_CALL_UTIME, (const char *)ctx->args[0], AT_FDCWD, 0, -1, -1,
			    (const void *)ctx->args[1]);
	return 0;
}

/* The open file `fd` of `task`, or NULL. */
static __always_inline struct file *file_of(struct task_struct *task, s32 fd)
{
	if (fd < 0)
		return NULL;
	struct files_struct *files = BPF_CORE_READ(task, files);
	struct fdtable *fdt = BPF_CORE_READ(files, fdt);
	u32 max = BPF_CORE_READ(fdt, max_fds);
	if ((u32)fd >= max)
		return NULL;
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *f = NULL;
	bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
	return f;
}

static __always_inline int attr_returned(struct sys_exit *ctx)
{
	u32 tid = (u32)bpf_get_current_pid_tgid();
	struct attr_call *found = bpf_map_lookup_elem(&ATTR_CALLS, &tid);
	if (!found)
		return 0;
	struct attr_call c = *found;
	bpf_map_delete_elem(&ATTR_CALLS, &tid);
	u32 zero = 0;
	struct exec_record *scratch = bpf_map_lookup_elem(&SCRATCH, &zero);
	if (!scratch)
		return 0;
	struct attr_record *r = (void *)scratch;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	r->h.kind = KIND_ATTR;
	r->h.tgid = BPF_CORE_READ(task, tgid);
	r->h.boot_ns = bpf_ktime_get_boot_ns();
	struct task_struct *leader = BPF_CORE_READ(task, group_leader);
	r->h.start_ns = start_of(leader);
	r->ret = (s32)ctx->ret;
	r->call = c.call;
	r->mode = c.mode;
	r->uid = c.uid;
	r->gid = c.gid;
	r->ino = 0;
	r->dev_major = 0;
	r->dev_minor = 0;
	r->flags = 0;
	r->pad0 = 0;
	__builtin_memset(r->times, 0, sizeof(r->times));
	if (c.times) {
		/* utime's utimbuf is two longs, the others' arrays four. */
		u32 size = c.call == ATTR_CALL_UTIME ? 2 * sizeof(s64) : sizeof(r->times);
		if (!bpf_probe_read_user(r->times, size, c.times))
			r->flags |= ATTR_TIMES_READ;
	}
	/* The name first, to see whether it is absolute; the base is then walked before it. */
	char first = 0;
	if (c.name)
		bpf_probe_read_user(&first, 1, c.name);
	u32 base_len = 0;
	if (first != '/') {
		struct path *base = NULL;
		struct file *f = NULL;
		if (c.dfd == AT_FDCWD) {
			struct fs_struct *fs = BPF_CORE_READ(task, fs);
			base = &fs->pwd;
		} else {
			f = file_of(task, c.dfd);
			if (f)
				base = &f->f_path;
		}
		if (base)
			base_len = walk_path(base, 0, &r->flags, ATTR_BASE_TRUNCATED, NULL);
		if (f && !c.name) {
			/* fchmod/fchown: the fd's own file. */
			struct inode *inode = BPF_CORE_READ(f, f_inode);
			r->ino = BPF_CORE_READ(inode, i_ino);
			u32 dev = BPF_CORE_READ(inode, i_sb, s_dev);
			r->dev_major = dev >> 20;
			r->dev_minor = dev & ((1U << 20) - 1);
		}
	}
	base_len &= PATH_CAP - 1;
	u32 name_len = 0;
	if (c.name) {
		long n = bpf_probe_read_user_str(&r->data[base_len], PATH_CAP, c.name);
		name_len = n > 0 ? (u32)n : 0;
	}
	r->base_len = base_len;
	r->name_len = name_len;
	u64 size = __builtin_offsetof(struct attr_record, data) + base_len + (name_len & (PATH_CAP - 1));
	if (bpf_ringbuf_output(&EVENTS, r, size, 0))
		dropped(KIND_ATTR);
	return 0;
}

/* Each call's exit: warden_<call>_x at syscalls/sys_exit_<call>. */
#define ATTR_EXIT(call)                                                                        \
	SEC("tracepoint/syscalls/sys_exit_" #call)                                             \
	int warden_##call##_x(struct sys_exit *ctx)                                            \
	{                                                                                      \
		return attr_returned(ctx);                                                     \
	}

ATTR_EXIT(chmod)
ATTR_EXIT(fchmod)
ATTR_EXIT(fchmodat)
ATTR_EXIT(fchmodat2)
ATTR_EXIT(chown)
ATTR_EXIT(lchown)
ATTR_EXIT(fchown)
ATTR_EXIT(fchownat)
ATTR_EXIT(utimensat)
ATTR_EXIT(utimes)
ATTR_EXIT(futimesat)
ATTR_EXIT(utime)

/* File activity: creates, writes, closes after writing, renames, deletes, links and truncates
 * (on the architectures whose syscall registers kernel.h knows). */
#ifdef SYSCALL_ARG0
#include "files.h"
/* Network calls: connect, accept, bind, listen (and, when asked, datagrams with an address). */
#include "net.h"
/* The same of io_uring's operations, which pass no syscall. */
#include "uring.h"
/* And of 32-bit processes, whose compat syscalls pass none of those tracepoints. */
#include "compat.h"
#endif

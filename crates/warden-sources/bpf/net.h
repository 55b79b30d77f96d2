/* Network calls for Warden, part of process.bpf.c (one object, one ring: a process's
 * connections come after its exec record and before its exit, in the order they happened).
 *
 * Why here rather than from audit: audit formats a SYSCALL, a SOCKADDR and a PROCTITLE record
 * in text for every call, queues them for kauditd, and drops what its backlog has no room for
 * when a burst outruns the reader (a connect storm lost 7-15 % here). Here a call costs the
 * caller one short program run that writes a fixed-size record into the ring; and the socket
 * itself is read as the call leaves it, so a record carries what audit's leaves out: the
 * transport, a connect's local port, a listener's address, both ends of an accepted
 * connection.
 *
 * Where: at the calls' exit tracepoints, with their arguments read back from the registers
 * they were entered with (as the file programs do):
 * - connect, bind: the address asked for (user memory, as given) and the socket after the
 *   call (its local end, once the kernel bound it; its type and protocol);
 * - listen: the socket (its address; a Unix socket's path, read from it);
 * - accept, accept4: the new connection's socket (both ends; a Unix one, the listener's path
 *   it took on); the listening fd as the fd;
 * - sendto, sendmsg, recvfrom (attached only when datagrams are asked for: they run at every
 *   send and receive): those that name a peer (an unconnected datagram); the others leave at
 *   once.
 * - a non-blocking connect's outcome (it returns EINPROGRESS with the handshake under way):
 *   at the exit, when the handshake already ended (on loopback it ends inside the call); else
 *   at the socket's leaving SYN_SENT, as a record of its own for the connecting process.
 * - the first datagram each unconnected UDP socket sends to, or receives from, each peer
 *   (the default for datagrams): at the socket layer's own hooks for them (cgroup sendmsg and
 *   recvmsg programs on the root cgroup), which only sends and receives naming a peer on a
 *   UDP socket pass, so no other call pays anything; the peers already recorded are kept
 *   with the socket (its last eight each way), and a repeat leaves at once.
 * - socket: only a packet, raw IP or ICMP socket's making; setsockopt: only a packet filter
 *   attached. Both leave at once for anything else.
 * - the end of each TCP connection recorded (its connect, its accept), with its traffic: the
 *   kernel's own counters, read once as it closes the connection (at the socket's change of
 *   state to CLOSE), for the process that made or took it. Sends and receives pay nothing.
 * - io_uring's connects, accepts, binds and listens, which pass no syscall: uring.h.
 * - 32-bit processes' calls (compat syscalls and socketcall, which pass none of the
 *   tracepoints above): compat.h. */

#define KIND_NET 8

/* The call a network record was taken at (src/ebpf/record.rs names them in this order). */
#define NCALL_connect 1
#define NCALL_accept 2
#define NCALL_accept4 3
#define NCALL_bind 4
#define NCALL_listen 5
#define NCALL_sendto 6
#define NCALL_sendmsg 7
#define NCALL_recvfrom 8
#define NCALL_socket 9
#define NCALL_setsockopt 10

/* The record's flags: the socket was read (family, type, protocol and ends are its); the
 * address the call named was longer than the record holds (its head only). */
#define NET_SOCKET_READ 1
#define NET_ADDR_CUT 2
/* The call was an io_uring operation (its fd is not known: -1). */
#define NET_IO_URING 4
/* The call was a 32-bit process's compat syscall. */
#define NET_COMPAT 8
/* An io_uring operation recorded as it was submitted, its result unknown: the submitter asked
 * for no completion when it succeeds (IOSQE_CQE_SKIP_SUCCESS). A failure still completes,
 * and is recorded then too. */
#define NET_SUBMITTED 16
/* An io_uring operation whose completion found the ring's completion queue full (it is kept
 * aside for the submitter and passes no io_uring_complete). */
#define NET_CQ_OVERFLOW 32
/* The TCP handshake a non-blocking connect began has ended: `tcp_state` is the state it left
 * the socket in (ESTABLISHED..., or CLOSE when it failed), `sk_err` the error it failed with
 * (0: abandoned, the socket closed first). */
#define NET_SETTLED 64
/* Not a call: the outcome of an earlier connect, taken as the handshake ended (the caller's
 * process named from the connect; `fd` the connect's; `ret` says nothing, the call's own
 * record has its result). */
#define NET_OUTCOME 128
/* `addr` is the socket's own address, read from it (a Unix listener's path: listen and accept
 * name no address). */
#define NET_ADDR_OWN 256
/* Not a call: the first datagram its socket sent to (NCALL_sendmsg) or received from
 * (NCALL_recvfrom) this peer, taken at the socket layer as the kernel took it to send (before
 * its route; `ret` 0 says nothing of what the send returns) or handed it to the process. No
 * fd (the layer does not know it). */
#define NET_FIRST_DATAGRAM 512
/* A setsockopt that attached a classic filter: `filter_len` is its length (instructions). */
#define NET_FILTER_LEN 1024
/* Not a call: the end of a TCP connection a record of `call` (connect, accept) made known, as
 * the kernel closed it: `addr` holds its traffic (struct tcp_traffic, not an address),
 * `tcp_state` the state it closed from, `sk_err` what it failed with (0: none). For the process
 * that made or took it, which may have exited; `fd` the connection's then. */
#define NET_ENDED 2048
/* With NET_ENDED: not the end but a look at a connection still open (its traffic so far,
 * `tcp_state` its state, `sk_err` 0), by the iterator over TCP sockets. */
#define NET_STILL_OPEN 4096
/* With NET_ENDED: a connection found already open as the agent started (by the iterator over
 * every process's files), not made known by a record: `since_ns` is when it was found, and
 * `call` (accept or connect) is guessed from its socket (see `adopt_connection`). */
#define NET_FOUND_OPEN 8192
/* With NET_FILTER_LEN: `addr` holds the classic filter's instructions as the caller gave them
 * (struct sock_filter each, `filter_len` of them), not an address. The record is then longer
 * than struct net_record: it is built in FILTER_SCRATCH. */
#define NET_FILTER_PROGRAM 16384
/* An eBPF filter attached (SO_ATTACH_BPF, SO_ATTACH_REUSEPORT_EBPF): `addr` holds the program's
 * identity (struct attached_program), not an address. */
#define NET_FILTER_EBPF 32768
/* A raw or ICMP socket's first packet to or from a peer was ICMP (or ICMPv6): its type and code
 * are the record's icmp_type and icmp_code. */
#define NET_ICMP 131072

#define S_IFSOCK 0140000
#define AF_UNIX 1
#define AF_INET 2
#define AF_INET6 10
#define AF_PACKET 17
#define IPPROTO_ICMP 1
#define IPPROTO_ICMPV6 58
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define EINPROGRESS 115
#define TCP_ESTABLISHED 1
#define TCP_SYN_SENT 2
#define TCP_SYN_RECV 3
#define TCP_CLOSE 7
#define TCP_LISTEN 10
#define SOCK_STREAM 1
#define SOCK_DGRAM 2
#define SOCK_RAW 3
/* socket(2)'s type without SOCK_NONBLOCK and SOCK_CLOEXEC. */
#define SOCK_TYPE_MASK 0xf
#define SOL_SOCKET 1
#define SO_ATTACH_FILTER 26
#define SO_ATTACH_BPF 50
#define SO_ATTACH_REUSEPORT_CBPF 51
#define SO_ATTACH_REUSEPORT_EBPF 52
/* sizeof(struct sockaddr_storage): every family's address fits. */
#define NET_ADDR_CAP 128

struct net_record {
	struct header h;
	s32 ret;	/* the call's result (accept: the new fd), or -errno */
	u16 call;	/* NCALL_* */
	u16 sock_type;	/* SOCK_STREAM... (socket read) */
	s32 fd;		/* the socket the call was given */
	u16 family;	/* AF_* (socket read) */
	u16 protocol;	/* IPPROTO_* (socket read) */
	u16 local_port;	/* host order (inet sockets) */
	u16 remote_port;
	u8 local_addr[16];	/* 4 bytes for AF_INET, 16 for AF_INET6 */
	u8 remote_addr[16];
	u32 flags;	/* NET_* */
	u32 addr_len;	/* bytes of `addr` */
	union {
		struct {
			u8 tcp_state;	/* NET_SETTLED: the socket's state after the handshake */
			u8 peer_fin;	/* NET_ENDED: the peer's FIN came (it is in bytes_received) */
			u16 sk_err;	/* NET_SETTLED: the handshake's error (errno), 0 when none */
		};
		struct {
			u8 option;	/* setsockopt: the SO_ATTACH_* option */
			u8 pad2;
			u16 filter_len;	/* NET_FILTER_LEN: the classic filter's instructions */
		};
		struct {
			u8 icmp_type;	/* NET_ICMP: a first packet's ICMP or ICMPv6 type */
			u8 icmp_code;	/* and code */
			u16 pad3;
		};
	};
	u8 addr[NET_ADDR_CAP];	/* the address the call named, as given (struct sockaddr) */
};

#define NET_ADDR 88
_Static_assert(__builtin_offsetof(struct net_record, local_addr) == 44, "net layout");
_Static_assert(__builtin_offsetof(struct net_record, flags) == 76, "net layout");
_Static_assert(__builtin_offsetof(struct net_record, addr) == NET_ADDR, "net layout");

/* A connection's traffic, in an ended record's `addr` (NET_ENDED). */
struct tcp_traffic {
	u64 since_ns;		/* when the connect or accept that made it known returned */
	u64 bytes_sent;		/* payload, retransmissions included */
	u64 bytes_retrans;
	u64 bytes_received;	/* sequence space: with the peer's FIN, if it came */
	u32 segs_out;
	u32 segs_in;
};
_Static_assert(sizeof(struct tcp_traffic) == 40, "traffic layout");

/* Whether to record connections' ends (network.connection_ends): set at load. */
const volatile u8 connection_ends = 0;
/* Whether to count datagram sockets' traffic (network.datagram_traffic): set at load. */
const volatile u8 datagram_traffic = 0;

/* Heads read in one probe each, as in files.h (FILE_HEAD covers the file's). */
#define SOCKET_HEAD 32
#define SOCK_HEAD 96

/* The socket `sk` (of socket type `type`) as it stands: its family and protocol, and for
 * inet sockets both ends. `head`: room for SOCK_HEAD bytes (the caller's, for the stack's
 * sake). */
static __always_inline void read_sock(struct sock *sk, short type, struct net_record *r,
				      u8 *head)
{
	if (!sk || bpf_probe_read_kernel(head, SOCK_HEAD, sk))
		return;
	u16 family = 0, num = 0;
	__be16 dport = 0;
	PICK(sk, head, SOCK_HEAD, struct sock, __sk_common.skc_family, family);
	PICK(sk, head, SOCK_HEAD, struct sock, __sk_common.skc_num, num);
	PICK(sk, head, SOCK_HEAD, struct sock, __sk_common.skc_dport, dport);
	r->flags |= NET_SOCKET_READ;
	r->family = family;
	r->sock_type = type;
	bpf_probe_read_kernel(&r->protocol, sizeof(r->protocol),
			      (void *)sk + bpf_core_field_offset(struct sock, sk_protocol));
	if (family != AF_INET && family != AF_INET6)
		return;
	r->local_port = num;
	r->remote_port = __builtin_bswap16(dport);
	if (family == AF_INET) {
		PICK(sk, head, SOCK_HEAD, struct sock, __sk_common.skc_rcv_saddr,
		     *(__be32 *)r->local_addr);
		PICK(sk, head, SOCK_HEAD, struct sock, __sk_common.skc_daddr,
		     *(__be32 *)r->remote_addr);
	} else {
		PICK(sk, head, SOCK_HEAD, struct sock, __sk_common.skc_v6_rcv_saddr, r->local_addr);
		PICK(sk, head, SOCK_HEAD, struct sock, __sk_common.skc_v6_daddr, r->remote_addr);
	}
}

/* The socket of file `f` as it stands: its family, type and protocol, and for inet sockets
 * both ends. Nothing when `f` is no socket (the record's flags then say so). Returns its
 * `struct sock`, NULL when none. */
static __always_inline struct sock *read_socket_file(struct file *f, struct net_record *r)
{
	u8 head[SOCK_HEAD];
	if (!f || bpf_probe_read_kernel(head, FILE_HEAD, f))
		return NULL;
	struct inode *inode = NULL;
	struct socket *socket = NULL;
	PICK(f, head, FILE_HEAD, struct file, f_inode, inode);
	PICK(f, head, FILE_HEAD, struct file, private_data, socket);
	u16 mode = 0;
	if (!inode || bpf_probe_read_kernel(&mode, sizeof(mode),
					    (void *)inode + bpf_core_field_offset(struct inode, i_mode)))
		return NULL;
	if ((mode & S_IFMT) != S_IFSOCK || !socket ||
	    bpf_probe_read_kernel(head, SOCKET_HEAD, socket))
		return NULL;
	short type = 0;
	struct sock *sk = NULL;
	PICK(socket, head, SOCKET_HEAD, struct socket, type, type);
	PICK(socket, head, SOCKET_HEAD, struct socket, sk, sk);
	read_sock(sk, type, r, head);
	return sk;
}

/* The socket behind `fd`, likewise. */
static __always_inline struct sock *read_socket(struct task_struct *task, s32 fd,
						struct net_record *r)
{
	return read_socket_file(current_file(task, fd), r);
}

/* A TCP socket's connection as the record of its connect or accept (`r`) noted it, for the
 * records the kernel's later changes of state make with no process at hand: the process and
 * its fd, when, and the local end the kernel chose (a socket gives its port back as it
 * closes). */
struct connection {
	u64 start_ns;
	u64 since_ns;
	u32 tgid;
	s32 fd;
	u8 local_addr[16];
	u16 local_port;
	u16 accepted;	/* CONNECTION_ACCEPTED, CONNECTION_FOUND_OPEN */
};

/* A connection's `accepted`: taken by an accept (else made by a connect); found already open
 * as the agent started. */
#define CONNECTION_ACCEPTED 1
#define CONNECTION_FOUND_OPEN 2

static __always_inline struct connection noted_by(struct net_record *r, bool accepted, s32 fd)
{
	struct connection c = {.start_ns = r->h.start_ns,
			       .since_ns = r->h.boot_ns,
			       .tgid = r->h.tgid,
			       .fd = fd,
			       .local_port = r->local_port,
			       .accepted = accepted};
	__builtin_memcpy(c.local_addr, r->local_addr, sizeof(c.local_addr));
	return c;
}

/* Non-blocking connects whose handshake is under way, by their `struct sock`, for the record
 * of the outcome. An entry leaves as the socket leaves SYN_SENT (a socket is freed only after
 * it is closed, which leaves it too). LRU: more handshakes than this under way at once, and
 * the oldest's outcome goes unrecorded. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, u64);
	__type(value, struct connection);
} CONNECTING SEC(".maps");

/* Notes the TCP connect of record `r` on socket `sk` for the program below; false when it is
 * not one or the map refused. */
static __always_inline bool note_connect(struct net_record *r, struct sock *sk)
{
	if (!sk || r->protocol != IPPROTO_TCP || (r->family != AF_INET && r->family != AF_INET6))
		return false;
	u64 key = (u64)sk;
	struct connection c = noted_by(r, false, r->fd);
	return !bpf_map_update_elem(&CONNECTING, &key, &c, 0);
}

/* The handshake's end, as the socket `sk` stands in `state`: what it failed with, if it did. */
static __always_inline void settle(struct net_record *r, struct sock *sk, u8 state)
{
	int err = 0;
	if (state == TCP_CLOSE)
		bpf_probe_read_kernel(&err, sizeof(err),
				      (void *)sk + bpf_core_field_offset(struct sock, sk_err));
	r->flags |= NET_SETTLED;
	r->tcp_state = state;
	r->sk_err = err > 0 && err < 0x10000 ? err : 0;
}

/* The TCP state of socket `sk` (TCP_ESTABLISHED...), `otherwise` when it cannot be read. */
static __always_inline u8 tcp_state(void *sk, u8 otherwise)
{
	u8 state = otherwise;
	bpf_probe_read_kernel(&state, sizeof(state),
			      sk + bpf_core_field_offset(struct sock_common, skc_state));
	return state;
}

/* A TCP connect that returned EINPROGRESS: noted for the state-change program below, unless
 * its handshake already ended (loopback's ends inside the call) — then this record carries the
 * outcome. Noted before the state is looked at, and whoever takes the note out records the
 * outcome, so that a handshake ending meanwhile is recorded once. */
static __always_inline void await_handshake(struct net_record *r, struct sock *sk)
{
	if (!note_connect(r, sk))
		return;
	u64 key = (u64)sk;
	u8 state = tcp_state(sk, TCP_SYN_SENT);
	if (state != TCP_SYN_SENT && !bpf_map_delete_elem(&CONNECTING, &key))
		settle(r, sk, state);
}

/* TCP connections recorded (by a connect, an accept), by their `struct sock`, for the record
 * of their end and the looks at them while open (the process may exit first, or hand the
 * socket on: the connection stays its maker's). An entry leaves as its socket reaches CLOSE,
 * which every TCP socket passes before it is freed. LRU, sized at load
 * (network.connections_max): with more connections than that open at once, the least
 * recently looked at is forgotten, its end unrecorded. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, u64);
	__type(value, struct connection);
} CONNECTIONS SEC(".maps");

/* Notes connection `c` on socket `sk` (map `flags`: BPF_NOEXIST keeps a note already there),
 * then looks at the socket's state: one that closed meanwhile is let go here (its state is
 * CLOSE) or by the end's program, so that no note outlives its socket. Whether it is kept. */
static __always_inline bool keep_note(struct sock *sk, struct connection *c, u64 flags)
{
	u64 key = (u64)sk;
	if (bpf_map_update_elem(&CONNECTIONS, &key, c, flags))
		return false;
	if (tcp_state(sk, TCP_CLOSE) != TCP_CLOSE)
		return true;
	bpf_map_delete_elem(&CONNECTIONS, &key);
	return false;
}

/* Notes the TCP connection that record `r` (a connect that succeeded or is under way, an
 * accept) made known on socket `sk`, for its end's record. Noted before the state is looked
 * at, as a connect's handshake is: a connection that closed meanwhile is let go here (its
 * state is CLOSE) or by the end's program, never kept for a socket that will not pass CLOSE
 * again. */
static __always_inline void own_connection(struct net_record *r, struct sock *sk)
{
	if (!connection_ends || !sk || r->protocol != IPPROTO_TCP || r->sock_type != SOCK_STREAM ||
	    (r->family != AF_INET && r->family != AF_INET6))
		return;
	bool accepted = r->call == NCALL_accept || r->call == NCALL_accept4;
	if (accepted ? r->ret < 0
		     : r->call != NCALL_connect || (r->ret != 0 && r->ret != -EINPROGRESS) ||
			       (r->flags & NET_SETTLED && r->tcp_state == TCP_CLOSE))
		return;
	/* (An io_uring accept's result may be a fixed slot's index.) */
	struct connection c =
		noted_by(r, accepted, r->flags & NET_IO_URING ? -1 : accepted ? r->ret : r->fd);
	keep_note(sk, &c, 0);
}

/* Copies the address the call named (`len` bytes as the caller said): from its memory, or
 * (`kernel`) from the kernel's copy. */
static __always_inline void copy_addr(struct net_record *r, const void *addr, s64 len,
				      bool kernel)
{
	if (!addr || len <= 0)
		return;
	u64 n = len > NET_ADDR_CAP ? NET_ADDR_CAP : (u64)len;
	if (len > NET_ADDR_CAP)
		r->flags |= NET_ADDR_CUT;
	/* 64 bits and opaque to the compiler, so that the bound the verifier sees is on the very
	 * register passed (else clang passes a copy the check never looked at). */
	asm volatile("" : "+r"(n));
	if (n > NET_ADDR_CAP)
		return;
	long failed = kernel ? bpf_probe_read_kernel(r->addr, n, addr)
			     : bpf_probe_read_user(r->addr, n, addr);
	if (!failed)
		r->addr_len = n;
}

/* The address the call named, from the caller's memory. */
static __always_inline void read_addr(struct net_record *r, const void *addr, s64 len)
{
	copy_addr(r, addr, len, false);
}

/* A Unix socket's own address as the record's address, when it has one (a listener's path:
 * what a listen or an accept is about, though the call names none). */
static __always_inline void read_unix_name(struct net_record *r, struct sock *sk)
{
	struct unix_address *ua = NULL;
	int len = 0;
	if (!sk || r->family != AF_UNIX ||
	    bpf_probe_read_kernel(&ua, sizeof(ua),
				  (void *)sk + bpf_core_field_offset(struct unix_sock, addr)) ||
	    !ua ||
	    bpf_probe_read_kernel(&len, sizeof(len),
				  (void *)ua + bpf_core_field_offset(struct unix_address, len)))
		return;
	copy_addr(r, (void *)ua + bpf_core_field_offset(struct unix_address, name), len, true);
	if (r->addr_len)
		r->flags |= NET_ADDR_OWN;
}

/* What the socket `sk` of a call's record tells beyond its ends: a connect's handshake left
 * under way, a Unix listener's path; and a TCP connection's end to come. */
static __always_inline void beyond_the_ends(struct net_record *r, struct sock *sk)
{
	if (r->call == NCALL_connect && r->ret == -EINPROGRESS)
		await_handshake(r, sk);
	else if (r->call == NCALL_listen || r->call == NCALL_accept || r->call == NCALL_accept4)
		read_unix_name(r, sk);
	own_connection(r, sk);
}

static __always_inline void net_record_begin(struct net_record *r, struct task_struct *task,
					     u32 call, s64 ret, s32 fd)
{
	r->h.kind = KIND_NET;
	r->h.tgid = task->tgid;
	r->h.boot_ns = bpf_ktime_get_boot_ns();
	r->h.start_ns = task->group_leader->start_boottime;
	r->ret = ret;
	r->call = call;
	r->fd = fd;
}

static __always_inline void net_record_send(struct net_record *r)
{
	u64 size = NET_ADDR + r->addr_len;
	if (size > sizeof(*r))
		size = sizeof(*r);
	if (bpf_ringbuf_output(&EVENTS, r, size, 0))
		dropped(KIND_NET);
}

/* A record of `call` on socket `fd` (its state read from `socket_fd`: the call's own, or an
 * accept's new one), naming `addr` of `len` bytes when given. */
static __always_inline void net_call(u32 call, s64 ret, s32 fd, s32 socket_fd, const void *addr,
				     s64 len)
{
	struct task_struct *task = bpf_get_current_task_btf();
	if (task->tgid == warden_tgid)
		return;
	struct net_record r = {};
	net_record_begin(&r, task, call, ret, fd);
	struct sock *sk = read_socket(task, socket_fd, &r);
	read_addr(&r, addr, len);
	beyond_the_ends(&r, sk);
	net_record_send(&r);
}

/* connect and bind: (fd, address, its length). */
static __always_inline int addressed(struct sys_exit *ctx, u32 call)
{
	struct pt_regs *regs = entry_regs();
	s32 fd = SYSCALL_ARG0(regs);
	net_call(call, ctx->ret, fd, fd, (const void *)SYSCALL_ARG1(regs), (s32)SYSCALL_ARG2(regs));
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_connect")
int warden_connect_x(struct sys_exit *ctx)
{
	return addressed(ctx, NCALL_connect);
}

SEC("tracepoint/syscalls/sys_exit_bind")
int warden_bind_x(struct sys_exit *ctx)
{
	return addressed(ctx, NCALL_bind);
}

SEC("tracepoint/syscalls/sys_exit_listen")
int warden_listen_x(struct sys_exit *ctx)
{
	s32 fd = SYSCALL_ARG0(entry_regs());
	net_call(NCALL_listen, ctx->ret, fd, fd, NULL, 0);
	return 0;
}

/* accept and accept4: the connection is the new socket (none when the call failed). */
static __always_inline int accepted(struct sys_exit *ctx, u32 call)
{
	s32 fd = SYSCALL_ARG0(entry_regs());
	net_call(call, ctx->ret, fd, ctx->ret >= 0 ? (s32)ctx->ret : -1, NULL, 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept")
int warden_accept_x(struct sys_exit *ctx)
{
	return accepted(ctx, NCALL_accept);
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int warden_accept4_x(struct sys_exit *ctx)
{
	return accepted(ctx, NCALL_accept4);
}

/* sendto(fd, buf, len, flags, dest_addr, addrlen): only one that names a peer. */
SEC("tracepoint/syscalls/sys_exit_sendto")
int warden_sendto_x(struct sys_exit *ctx)
{
	struct pt_regs *regs = entry_regs();
	const void *addr = (const void *)SYSCALL_ARG4(regs);
	if (!addr)
		return 0;
	s32 fd = SYSCALL_ARG0(regs);
	net_call(NCALL_sendto, ctx->ret, fd, fd, addr, (s32)SYSCALL_ARG5(regs));
	return 0;
}

/* The head of struct user_msghdr: where the peer's address is, and its length. */
struct msghdr_head {
	void *name;
	s32 namelen;
};

SEC("tracepoint/syscalls/sys_exit_sendmsg")
int warden_sendmsg_x(struct sys_exit *ctx)
{
	struct pt_regs *regs = entry_regs();
	struct msghdr_head msg = {};
	if (bpf_probe_read_user(&msg, sizeof(msg), (const void *)SYSCALL_ARG1(regs)) || !msg.name)
		return 0;
	s32 fd = SYSCALL_ARG0(regs);
	net_call(NCALL_sendmsg, ctx->ret, fd, fd, msg.name, msg.namelen);
	return 0;
}

/* recvfrom(fd, buf, len, flags, src_addr, addrlen): the kernel wrote the peer there. */
SEC("tracepoint/syscalls/sys_exit_recvfrom")
int warden_recvfrom_x(struct sys_exit *ctx)
{
	struct pt_regs *regs = entry_regs();
	const void *addr = (const void *)SYSCALL_ARG4(regs);
	const void *len_at = (const void *)SYSCALL_ARG5(regs);
	if (!addr || !len_at || ctx->ret < 0)
		return 0;
	s32 len = 0;
	if (bpf_probe_read_user(&len, sizeof(len), len_at) || len <= 0)
		return 0;
	s32 fd = SYSCALL_ARG0(regs);
	net_call(NCALL_recvfrom, ctx->ret, fd, fd, addr, len);
	return 0;
}

/* socket(family, type, protocol): only the sockets that see or make packets below the
 * transports, which an intruder's sniffer, ICMP tunnel or portless backdoor needs: a packet
 * socket, a raw IP socket, an ICMP ("ping") socket. Any other leaves after comparing three
 * arguments: the sockets every connection makes cost next to nothing here. A refused one (no
 * CAP_NET_RAW) is recorded too. */
static __always_inline bool below_transports(s32 family, s32 type, s32 protocol)
{
	bool inet = family == AF_INET || family == AF_INET6;
	bool ping = inet && type == SOCK_DGRAM &&
		    (protocol == IPPROTO_ICMP || protocol == IPPROTO_ICMPV6);
	return family == AF_PACKET || (inet && type == SOCK_RAW) || ping;
}

/* The record of a socket made (or refused: `ret` < 0) as asked for, which is what the kernel
 * made when it succeeded (and a packet socket's protocol is not in its `struct sock`). */
static __always_inline void socket_made(struct net_record *r, struct task_struct *task, s64 ret,
					s32 fd, s32 family, s32 type, s32 protocol)
{
	net_record_begin(r, task, NCALL_socket, ret, fd);
	r->flags |= NET_SOCKET_READ;
	r->family = family;
	r->sock_type = type;
	r->protocol = protocol;
}

SEC("tracepoint/syscalls/sys_exit_socket")
int warden_socket_x(struct sys_exit *ctx)
{
	struct pt_regs *regs = entry_regs();
	s32 family = SYSCALL_ARG0(regs);
	s32 type = SYSCALL_ARG1(regs) & SOCK_TYPE_MASK;
	s32 protocol = SYSCALL_ARG2(regs);
	if (!below_transports(family, type, protocol))
		return 0;
	struct task_struct *task = bpf_get_current_task_btf();
	if (task->tgid == warden_tgid)
		return 0;
	struct net_record r = {};
	socket_made(&r, task, ctx->ret, ctx->ret >= 0 ? (s32)ctx->ret : -1, family, type,
		    protocol);
	net_record_send(&r);
	return 0;
}

/* struct sock_fprog (64-bit): a classic filter's length and where its instructions are, in the
 * caller's memory. */
struct sock_fprog {
	u16 len;
	u64 filter;
};

/* The size of a classic filter's instruction (struct sock_filter: code, jt, jf, k), and how
 * many a filter record holds: as many as a per-CPU map's value has room for (32 KiB), 4,085 of
 * the kernel's bound of 4,096 (BPF_MAXINSNS). A longer filter is recorded by its length. */
#define CLASSIC_INSN 8
#define CLASSIC_KEPT_INSNS ((32768 - NET_ADDR) / CLASSIC_INSN)

/* A filter record: a network record's head, then the classic filter's instructions where its
 * address would be (NET_FILTER_PROGRAM). Too large for the stack: one per CPU (syscall
 * tracepoints run their programs with preemption off, so no other record is built in it
 * meanwhile). */
struct filter_record {
	u8 head[NET_ADDR];
	u8 program[CLASSIC_KEPT_INSNS * CLASSIC_INSN];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct filter_record);
} FILTER_SCRATCH SEC(".maps");

/* Sends record `r` of a classic filter of `len` instructions at `insns` (the caller's memory)
 * with the instructions: a filter names its sniffer (a backdoor's magic packet, say) better
 * than its length. False, and nothing sent, when they cannot be read. */
static __always_inline bool classic_filter_sent(struct net_record *r, u16 len, u64 insns)
{
	u32 zero = 0;
	struct filter_record *f = bpf_map_lookup_elem(&FILTER_SCRATCH, &zero);
	if (!f || !len)
		return false;
	u64 size = (u64)len * CLASSIC_INSN;
	/* Checked apart, so that clang does not fold it into one test of `len - 1` whose bound
	 * the verifier cannot carry over to `size`. */
	barrier_var(size);
	if (size > sizeof(f->program))
		return false;
	if (bpf_probe_read_user(f->program, size, (const void *)insns))
		return false;
	r->flags |= NET_FILTER_PROGRAM;
	r->addr_len = size;
	__builtin_memcpy(f->head, r, NET_ADDR);
	if (bpf_ringbuf_output(&EVENTS, f, NET_ADDR + size, 0))
		dropped(KIND_NET);
	return true;
}

/* An eBPF filter's identity, in its record's `addr` (NET_FILTER_EBPF). */
struct attached_program {
	u8 tag[8];
	u32 id;
	u32 len;
	char name[16];
};
_Static_assert(sizeof(struct attached_program) <= NET_ADDR_CAP, "fits in addr");

/* Reads into `r` which eBPF program the descriptor at `value` (the caller's int) names: run
 * once the kernel has taken it as a socket filter, so the file is a program's. */
static __always_inline void read_attached_program(struct task_struct *task, u64 value,
						  struct net_record *r)
{
	s32 fd = -1;
	if (bpf_probe_read_user(&fd, sizeof(fd), (const void *)value))
		return;
	struct file *f = current_file(task, fd);
	struct bpf_prog *prog = NULL;
	if (!f || bpf_probe_read_kernel(&prog, sizeof(prog),
					(void *)f + bpf_core_field_offset(struct file, private_data)) ||
	    !prog)
		return;
	struct attached_program *p = (struct attached_program *)r->addr;
	struct bpf_prog_aux *aux = BPF_CORE_READ(prog, aux);
	if (BPF_CORE_READ_INTO(&p->len, prog, len) || BPF_CORE_READ_INTO(&p->tag, prog, tag) ||
	    !aux || BPF_CORE_READ_INTO(&p->id, aux, id) || BPF_CORE_READ_INTO(&p->name, aux, name))
		return;
	r->addr_len = sizeof(*p);
	r->flags |= NET_FILTER_EBPF;
}

/* setsockopt(fd, level, name, value, len): only a packet filter attached (SO_ATTACH_*), what a
 * packet socket keeps of the traffic it sees (a portless backdoor's magic packet); every other
 * option leaves after two comparisons. */
SEC("tracepoint/syscalls/sys_exit_setsockopt")
int warden_setsockopt_x(struct sys_exit *ctx)
{
	struct pt_regs *regs = entry_regs();
	s32 level = SYSCALL_ARG1(regs);
	s32 name = SYSCALL_ARG2(regs);
	if (level != SOL_SOCKET ||
	    (name != SO_ATTACH_FILTER && name != SO_ATTACH_BPF &&
	     name != SO_ATTACH_REUSEPORT_CBPF && name != SO_ATTACH_REUSEPORT_EBPF))
		return 0;
	struct task_struct *task = bpf_get_current_task_btf();
	if (task->tgid == warden_tgid)
		return 0;
	struct net_record r = {};
	s32 fd = SYSCALL_ARG0(regs);
	net_record_begin(&r, task, NCALL_setsockopt, ctx->ret, fd);
	read_socket(task, fd, &r);
	r.option = name;
	u64 value = SYSCALL_ARG3(regs);
	if (name == SO_ATTACH_FILTER || name == SO_ATTACH_REUSEPORT_CBPF) {
		struct sock_fprog prog = {};
		if (!bpf_probe_read_user(&prog, sizeof(prog), (const void *)value)) {
			r.filter_len = prog.len;
			r.flags |= NET_FILTER_LEN;
			if (classic_filter_sent(&r, prog.len, prog.filter))
				return 0;
		}
	} else if (ctx->ret == 0) {
		read_attached_program(task, value, &r);
	}
	net_record_send(&r);
	return 0;
}

/* A TCP socket left SYN_SENT: the handshake of a connect noted above has ended (ESTABLISHED;
 * or CLOSE: refused, timed out, unreachable, or closed first). In whatever context the kernel
 * is (a softirq, mostly), so the process comes from the note. The peer is read from the
 * socket; a failed one's local end is gone by now (seen here), so the note's is taken. */
static __noinline void connect_outcome(struct sock *sk, int newstate)
{
	u64 key = (u64)sk;
	struct connection *noted = bpf_map_lookup_elem(&CONNECTING, &key);
	if (!noted)
		return;
	struct connection c = *noted;
	if (bpf_map_delete_elem(&CONNECTING, &key))
		return;
	struct net_record r = {};
	r.h.kind = KIND_NET;
	r.h.tgid = c.tgid;
	r.h.boot_ns = bpf_ktime_get_boot_ns();
	r.h.start_ns = c.start_ns;
	r.ret = -EINPROGRESS;
	r.call = NCALL_connect;
	r.fd = c.fd;
	u8 head[SOCK_HEAD];
	read_sock(sk, SOCK_STREAM, &r, head);
	if (!r.local_port) {
		r.local_port = c.local_port;
		__builtin_memcpy(r.local_addr, c.local_addr, sizeof(r.local_addr));
	}
	settle(&r, sk, newstate);
	r.flags |= NET_OUTCOME;
	net_record_send(&r);
}

/* The traffic record of connection `c` on socket `sk` in `state`: its end (as it reaches
 * CLOSE from `state`) or, `flags` NET_STILL_OPEN, a look at it still open. Both ends read from
 * the socket, the local one the note's when the socket has given its port back. */
static __noinline void traffic_record(struct sock *sk, struct connection *c, u8 state, u32 flags)
{
	struct net_record r = {};
	r.h.kind = KIND_NET;
	r.h.tgid = c->tgid;
	r.h.boot_ns = bpf_ktime_get_boot_ns();
	r.h.start_ns = c->start_ns;
	r.call = c->accepted & CONNECTION_ACCEPTED ? NCALL_accept : NCALL_connect;
	r.fd = c->fd;
	if (c->accepted & CONNECTION_FOUND_OPEN)
		flags |= NET_FOUND_OPEN;
	u8 head[SOCK_HEAD];
	read_sock(sk, SOCK_STREAM, &r, head);
	if (!r.local_port) {
		r.local_port = c->local_port;
		__builtin_memcpy(r.local_addr, c->local_addr, sizeof(r.local_addr));
	}
	int err = 0;
	if (!(flags & NET_STILL_OPEN))
		bpf_probe_read_kernel(&err, sizeof(err),
				      (void *)sk + bpf_core_field_offset(struct sock, sk_err));
	r.tcp_state = state;
	r.sk_err = err > 0 && err < 0x10000 ? err : 0;
	/* TCP marks the socket done as the peer's FIN comes in order, and only then (reading's
	 * shutdown would not tell it: a close shuts both ways down first). */
	unsigned long sk_flags = 0;
	bpf_probe_read_kernel(&sk_flags, sizeof(sk_flags),
			      (void *)sk + bpf_core_field_offset(struct sock, __sk_common.skc_flags));
	r.peer_fin = (sk_flags >> SOCK_DONE) & 1;
	struct tcp_traffic *t = (void *)r.addr;
	t->since_ns = c->since_ns;
	struct tcp_sock *tp = (void *)sk;
	t->bytes_sent = BPF_CORE_READ(tp, bytes_sent);
	t->bytes_retrans = BPF_CORE_READ(tp, bytes_retrans);
	t->bytes_received = BPF_CORE_READ(tp, bytes_received);
	t->segs_out = BPF_CORE_READ(tp, segs_out);
	t->segs_in = BPF_CORE_READ(tp, segs_in);
	r.addr_len = sizeof(*t);
	r.flags |= NET_ENDED | flags;
	net_record_send(&r);
}

/* A TCP socket reached CLOSE, from `oldstate`: the end of a connection noted above, recorded
 * for its process with the traffic the kernel counted. In whatever context the kernel is. A
 * connection that never got past SYN_SENT is let go unrecorded: its connect's outcome told its
 * failure. */
static __always_inline void connection_end(struct sock *sk, int oldstate)
{
	u64 key = (u64)sk;
	struct connection *noted = bpf_map_lookup_elem(&CONNECTIONS, &key);
	if (!noted)
		return;
	struct connection c = *noted;
	if (bpf_map_delete_elem(&CONNECTIONS, &key) || oldstate == TCP_SYN_SENT)
		return;
	traffic_record(sk, &c, oldstate, 0);
}

/* Every TCP socket's change of state on the host: most leave after two comparisons. */
/* Whether to read each incoming TCP connection's first bytes (network.requests_received): set
 * at load. */
const volatile u8 received_requests = 0;
static __always_inline void deferred_talker(struct sock *sk);

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(warden_tcp_state, struct sock *sk, int oldstate, int newstate)
{
	if (oldstate == TCP_SYN_SENT)
		connect_outcome(sk, newstate);
	if (oldstate == TCP_SYN_RECV && newstate == TCP_ESTABLISHED && received_requests)
		deferred_talker(sk);
	if (newstate == TCP_CLOSE && connection_ends)
		connection_end(sk, oldstate);
	return 0;
}

/* The peers a UDP socket's datagrams were recorded with, kept with the socket itself (freed
 * with it): the last PEERS_KEPT each way, the oldest replaced. A peer among them is not
 * recorded again; a socket that talks with more peers than that in turn is recorded each time
 * a peer comes back after it was pushed out. Storage on the socket rather than a map keyed by
 * it: no hashing, no lock shared with other CPUs, nothing to evict. */
#define PEERS_KEPT 8
#define PEER_USED 0x10000

struct peer {
	u32 addr[4];	/* network order; IPv4's in the first word */
	u32 port;	/* network order, | PEER_USED (0: an empty slot; a peer's port may be 0) */
};

struct datagram_peers {
	struct peer peers[2][PEERS_KEPT];	/* [0]: received from, [1]: sent to */
	u32 next[2];				/* the slot to replace next */
	/* A raw or ICMP socket's owner, the process its datagrams that come in are recorded for
	 * (they come in with no process at hand): its maker, or, found open as the agent
	 * started, the first process found holding it. tgid 0: none known, as on the kernel's
	 * own sockets (its ICMP replies', TCP's resets'). */
	u64 owner_start_ns;
	u32 owner_tgid;
	s32 owner_fd;				/* found open: the holder's descriptor of it, else -1 */
};

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct datagram_peers);
} DATAGRAM_PEERS SEC(".maps");

/* A sockaddr_in / sockaddr_in6, as a call would have named the peer. */
struct sockaddr_in_head {
	u16 family;
	__be16 port;
	__be32 addr;
	u8 zero[8];
};

struct sockaddr_in6_head {
	u16 family;
	__be16 port;
	u32 flowinfo;
	u32 addr[4];
	u32 scope_id;
};

/* Whether `peer` is new among those socket storage `seen` keeps the way given (`out`: sent
 * to), noting it if so (the oldest replaced). Two first datagrams at once on two CPUs may both
 * be taken for new: harmless. */
static __always_inline bool new_peer(struct datagram_peers *seen, bool out, struct peer *peer)
{
	u32 way = out ? 1 : 0;
	for (int i = 0; i < PEERS_KEPT; i++) {
		struct peer *p = &seen->peers[way][i];
		if (p->port == peer->port && p->addr[0] == peer->addr[0] &&
		    p->addr[1] == peer->addr[1] && p->addr[2] == peer->addr[2] &&
		    p->addr[3] == peer->addr[3])
			return false;
	}
	u32 slot = seen->next[way] % PEERS_KEPT;
	seen->peers[way][slot] = *peer;
	seen->next[way] = slot + 1;
	return true;
}

/* Sends first-datagram record `r` (its process, call, socket and local end filled in) naming
 * `peer` as a call would have (a sockaddr_in or sockaddr_in6 of `r`'s family). */
static __always_inline void first_datagram_send(struct net_record *r, struct peer *peer)
{
	r->flags |= NET_FIRST_DATAGRAM | NET_SOCKET_READ;
	if (r->family == AF_INET) {
		struct sockaddr_in_head *a = (void *)r->addr;
		a->family = AF_INET;
		a->port = (u16)peer->port;
		a->addr = peer->addr[0];
		r->addr_len = sizeof(*a);
	} else {
		struct sockaddr_in6_head *a = (void *)r->addr;
		a->family = AF_INET6;
		a->port = (u16)peer->port;
		__builtin_memcpy(a->addr, peer->addr, sizeof(a->addr));
		r->addr_len = sizeof(*a);
	}
	net_record_send(r);
}

/* The first datagram of a socket to (`out`) or from a peer: recorded for the process that
 * sends or receives it, as a record of the call it would be (sendmsg, recvfrom) marked
 * NET_FIRST_DATAGRAM. `family`: the hook's (a constant: each hook may read only its family's
 * address fields). Always lets the datagram pass (1): these hooks may refuse a send, and
 * Warden never does. */
static __always_inline int first_datagram(struct bpf_sock_addr *ctx, bool out, u32 family)
{
	struct task_struct *task = bpf_get_current_task_btf();
	if (task->tgid == warden_tgid)
		return 1;
	struct bpf_sock *sk = ctx->sk;
	if (!sk)
		return 1;
	/* A receive on a connected socket is its connection's, which its connect recorded. */
	if (!out && sk->dst_port)
		return 1;
	struct peer peer = {.port = (ctx->user_port & 0xffff) | PEER_USED};
	if (family == AF_INET) {
		peer.addr[0] = ctx->user_ip4;
	} else if (family == AF_INET6) {
		peer.addr[0] = ctx->user_ip6[0];
		peer.addr[1] = ctx->user_ip6[1];
		peer.addr[2] = ctx->user_ip6[2];
		peer.addr[3] = ctx->user_ip6[3];
	} else {
		return 1;
	}
	struct datagram_peers *seen =
		bpf_sk_storage_get(&DATAGRAM_PEERS, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!seen || !new_peer(seen, out, &peer))
		return 1;
	struct net_record r = {};
	net_record_begin(&r, task, out ? NCALL_sendmsg : NCALL_recvfrom, 0, -1);
	r.family = family;
	r.sock_type = ctx->type;
	r.protocol = ctx->protocol;
	r.local_port = sk->src_port;
	if (family == AF_INET) {
		*(u32 *)r.local_addr = sk->src_ip4;
	} else {
		((u32 *)r.local_addr)[0] = sk->src_ip6[0];
		((u32 *)r.local_addr)[1] = sk->src_ip6[1];
		((u32 *)r.local_addr)[2] = sk->src_ip6[2];
		((u32 *)r.local_addr)[3] = sk->src_ip6[3];
	}
	first_datagram_send(&r, &peer);
	return 1;
}

SEC("cgroup/sendmsg4")
int warden_datagram_out4(struct bpf_sock_addr *ctx)
{
	return first_datagram(ctx, true, AF_INET);
}

SEC("cgroup/sendmsg6")
int warden_datagram_out6(struct bpf_sock_addr *ctx)
{
	return first_datagram(ctx, true, AF_INET6);
}

SEC("cgroup/recvmsg4")
int warden_datagram_in4(struct bpf_sock_addr *ctx)
{
	return first_datagram(ctx, false, AF_INET);
}

SEC("cgroup/recvmsg6")
int warden_datagram_in6(struct bpf_sock_addr *ctx)
{
	return first_datagram(ctx, false, AF_INET6);
}

/* A datagram socket's traffic (UDP, UDP-Lite, ICMP, raw IP), counted at its sends and receives
 * and kept with the socket itself, for the record of its end (at its release) and the looks at
 * it while open. Its owner is the process of its first datagram seen. */
struct datagram_traffic {
	u64 sk;			/* the socket's struct sock: read at its release, whose program
				 * is given only some of its fields */
	u64 since_ns;		/* its first datagram seen (found open: the agent's start),
				 * CLOCK_BOOTTIME */
	u64 start_ns;		/* the owner's start */
	u32 tgid;		/* the owner */
	s32 fd;			/* the owner's descriptor of it, when known (found open), else -1:
				 * the calls' layer does not know it */
	u8 first_in;		/* the first was received (a server's socket), else sent */
	u8 found_open;		/* found open as the agent started (adopt_datagram_socket) */
	u64 bytes_sent;		/* payload, as the calls returned it */
	u64 bytes_received;
	u32 sent;		/* datagrams */
	u32 received;
};

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct datagram_traffic);
} DATAGRAM_TRAFFIC SEC(".maps");

#define MSG_PEEK 2

/* A send or a receive of `len` bytes on socket `sk` (every socket's, on the host): counted
 * when `sk` is an inet datagram or raw socket. Most leave after reading its family and type. */
static __always_inline void count_datagram(struct sock *sk, int len, bool in)
{
	if (!datagram_traffic || len <= 0 || !sk)
		return;
	u16 family = sk->__sk_common.skc_family;
	u16 type = sk->sk_type;
	if ((family != AF_INET && family != AF_INET6) || (type != SOCK_DGRAM && type != SOCK_RAW))
		return;
	struct task_struct *task = bpf_get_current_task_btf();
	if (task->tgid == warden_tgid)
		return;
	struct datagram_traffic *t =
		bpf_sk_storage_get(&DATAGRAM_TRAFFIC, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!t)
		return;
	/* Two first datagrams at once on two CPUs: either may name the owner. */
	if (!t->since_ns) {
		t->tgid = task->tgid;
		t->start_ns = task->group_leader->start_boottime;
		t->fd = -1;
		t->first_in = in;
		t->sk = (u64)sk;
		t->since_ns = bpf_ktime_get_boot_ns();
	}
	if (in) {
		__sync_fetch_and_add(&t->bytes_received, len);
		__sync_fetch_and_add(&t->received, 1);
	} else {
		__sync_fetch_and_add(&t->bytes_sent, len);
		__sync_fetch_and_add(&t->sent, 1);
	}
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(warden_sent, struct sock *sk, int ret, int flags)
{
	count_datagram(sk, ret, false);
	return 0;
}

/* A peek is read again: counted then. */
SEC("tp_btf/sock_recv_length")
int BPF_PROG(warden_received, struct sock *sk, int ret, int flags)
{
	if (!(flags & MSG_PEEK))
		count_datagram(sk, ret, true);
	return 0;
}

/* The record of datagram socket traffic `t`, its socket's ends already in `r`: at the socket's
 * end, or (`flags` NET_STILL_OPEN) a look at it. As a connection's: NET_ENDED, its traffic
 * where an address would be, `call` the way its first datagram went (recvfrom: in). */
static __always_inline void datagram_traffic_record(struct net_record *r,
						    struct datagram_traffic *t, u32 flags)
{
	r->h.kind = KIND_NET;
	r->h.tgid = t->tgid;
	r->h.start_ns = t->start_ns;
	r->h.boot_ns = bpf_ktime_get_boot_ns();
	r->call = t->first_in ? NCALL_recvfrom : NCALL_sendmsg;
	r->fd = t->fd;
	if (t->found_open)
		flags |= NET_FOUND_OPEN;
	struct tcp_traffic *traffic = (void *)r->addr;
	traffic->since_ns = t->since_ns;
	traffic->bytes_sent = t->bytes_sent;
	traffic->bytes_received = t->bytes_received;
	traffic->segs_out = t->sent;
	traffic->segs_in = t->received;
	r->addr_len = sizeof(*traffic);
	r->flags |= NET_SOCKET_READ | NET_ENDED | flags;
	net_record_send(r);
}

/* The end of datagram socket `sk` (of type `type`), with its traffic `t`: its ends read from
 * it (it lives until its release is over). */
static __noinline void datagram_socket_end(struct sock *sk, u32 type, struct datagram_traffic *t)
{
	struct net_record r = {};
	u8 head[SOCK_HEAD];
	read_sock(sk, type, &r, head);
	datagram_traffic_record(&r, t, 0);
}

/* An inet socket released (its last file closed): a datagram socket's end, with its traffic,
 * when it had any. In the process that closed it; the record names its owner. TCP's ends are
 * its state change's. Lets the release go on (1). */
SEC("cgroup/sock_release")
int warden_socket_released(struct bpf_sock *sk)
{
	struct datagram_traffic *t = bpf_sk_storage_get(&DATAGRAM_TRAFFIC, sk, 0, 0);
	if (!t || !t->since_ns)
		return 1;
	struct datagram_traffic copy = *t;
	datagram_socket_end((struct sock *)copy.sk, sk->type, &copy);
	return 1;
}

/* A datagram socket open as the agent starts (UDP, raw IP, ICMP), as the first process found
 * holding it holds it: noted by the search over processes' files (warden_find_datagram_holders)
 * for what takes it up after: the search over UDP sockets (warden_adopt_udp_sockets), a raw or
 * ICMP socket's first packet after the start (adopt_raw_socket). Noted first, taken up after,
 * for no one program has all it takes: a socket reached from a file is one socket storage
 * refuses (the verifier does not trust it), and the UDP iterator and the packet hooks know no
 * process. */
struct datagram_holder {
	u64 start_ns;
	u32 tgid;
	s32 fd;
	u8 connected;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 65536);
	__type(key, u64);	/* its struct sock */
	__type(value, struct datagram_holder);
} DATAGRAM_HOLDERS SEC(".maps");

/* Whether a socket of `type` and `protocol` (inet) is a raw or an ICMP ("ping") one: the
 * datagrams that carry no port, which the socket layer's hooks above never see. */
static __always_inline bool raw_or_icmp(u32 type, u32 protocol)
{
	return type == SOCK_RAW ||
	       (type == SOCK_DGRAM && (protocol == IPPROTO_ICMP || protocol == IPPROTO_ICMPV6));
}

/* A raw or ICMP socket made: its maker is its owner (see datagram_peers), for the packets that
 * come in to it. Lets the socket be made (1), as every path here must. */
SEC("cgroup/sock_create")
int warden_datagram_made(struct bpf_sock *sk)
{
	if (!raw_or_icmp(sk->type, sk->protocol))
		return 1;
	struct task_struct *task = bpf_get_current_task_btf();
	if (task->tgid == warden_tgid)
		return 1;
	struct datagram_peers *seen =
		bpf_sk_storage_get(&DATAGRAM_PEERS, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (seen) {
		seen->owner_start_ns = task->group_leader->start_boottime;
		seen->owner_tgid = task->tgid;
		seen->owner_fd = -1;
	}
	return 1;
}

/* Raw or ICMP socket `sk`, found held as the agent started (DATAGRAM_HOLDERS), taken up at its
 * first packet since: its holder becomes its owner, and its traffic (when counted, and not yet
 * by another process's datagram) is counted for it from now on, with its fd, marked found open.
 * Returns its storage, NULL when it was not found so (the kernel's own sockets). */
static __always_inline struct datagram_peers *adopt_raw_socket(struct bpf_sock *sk, bool out)
{
	u64 key = (u64)sk;
	struct datagram_holder *found = bpf_map_lookup_elem(&DATAGRAM_HOLDERS, &key);
	if (!found)
		return NULL;
	struct datagram_holder holder = *found;
	bpf_map_delete_elem(&DATAGRAM_HOLDERS, &key);
	if (datagram_traffic) {
		struct datagram_traffic *t =
			bpf_sk_storage_get(&DATAGRAM_TRAFFIC, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
		if (t && !t->since_ns) {
			t->tgid = holder.tgid;
			t->start_ns = holder.start_ns;
			t->fd = holder.fd;
			t->first_in = !out;
			t->found_open = 1;
			t->sk = key;
			t->since_ns = bpf_ktime_get_boot_ns();
		}
	}
	struct datagram_peers *seen =
		bpf_sk_storage_get(&DATAGRAM_PEERS, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (seen) {
		seen->owner_start_ns = holder.start_ns;
		seen->owner_tgid = holder.tgid;
		seen->owner_fd = holder.fd;
	}
	return seen;
}

/* The first packet of raw or ICMP socket `sk` to (`out`) or from each peer, recorded as a UDP
 * socket's first datagram is (first_datagram), its peer and local address read from the
 * packet's IP header (a raw socket's peer need not be named by any call: IP_HDRINCL, connect).
 * One sent is recorded for the process that sends it; one that comes in, for the socket's
 * owner (in the kernel's receive path, no process of its own is at hand). Sockets with no owner
 * are the kernel's, and are left alone. */
static __noinline int raw_first_packet(struct __sk_buff *skb, struct bpf_sock *sk, bool out)
{
	struct datagram_peers *seen = bpf_sk_storage_get(&DATAGRAM_PEERS, sk, 0, 0);
	if (!seen || !seen->owner_tgid)
		seen = adopt_raw_socket(sk, out);
	if (!seen || seen->owner_tgid == warden_tgid)
		return 1;
	/* The IP header: data starts at it in these hooks, whichever the way. */
	u32 head[10];
	if (bpf_skb_load_bytes(skb, 0, head, 20))
		return 1;
	u32 family = sk->family;
	u8 version = *(u8 *)head >> 4;
	struct peer peer = {.port = PEER_USED};
	struct net_record r = {};
	if (version == 4 && family == AF_INET) {
		/* Words 3 and 4: the source and destination. */
		peer.addr[0] = head[out ? 4 : 3];
		*(u32 *)r.local_addr = head[out ? 3 : 4];
	} else if (version == 6 && family == AF_INET6) {
		/* Words 2-5 and 6-9. */
		if (bpf_skb_load_bytes(skb, 0, head, 40))
			return 1;
		if (out) {
			__builtin_memcpy(peer.addr, &head[6], 16);
			__builtin_memcpy(r.local_addr, &head[2], 16);
		} else {
			__builtin_memcpy(peer.addr, &head[2], 16);
			__builtin_memcpy(r.local_addr, &head[6], 16);
		}
	} else {
		return 1;
	}
	if (!new_peer(seen, out, &peer))
		return 1;
	/* An ICMP packet's type and code (an echo request, a reply, an error): the IP header's
	 * protocol, not the socket's, says it is one (a raw socket of IPPROTO_RAW sends any). */
	u8 *bytes = (u8 *)head;
	u32 icmp_at = 0;
	if (version == 4 && bytes[9] == IPPROTO_ICMP)
		icmp_at = (bytes[0] & 0xf) * 4;
	else if (version == 6 && bytes[6] == IPPROTO_ICMPV6)
		icmp_at = 40;
	u8 icmp[2];
	if (icmp_at >= 20 && !bpf_skb_load_bytes(skb, icmp_at, icmp, sizeof(icmp))) {
		r.icmp_type = icmp[0];
		r.icmp_code = icmp[1];
		r.flags |= NET_ICMP;
	}
	if (out) {
		struct task_struct *task = bpf_get_current_task_btf();
		if (task->tgid == warden_tgid)
			return 1;
		net_record_begin(&r, task, NCALL_sendmsg, 0, -1);
		if (task->tgid == seen->owner_tgid)
			r.fd = seen->owner_fd;
	} else {
		r.h.kind = KIND_NET;
		r.h.tgid = seen->owner_tgid;
		r.h.start_ns = seen->owner_start_ns;
		r.h.boot_ns = bpf_ktime_get_boot_ns();
		r.call = NCALL_recvfrom;
		r.fd = seen->owner_fd;
	}
	r.family = family;
	r.sock_type = sk->type;
	r.protocol = sk->protocol;
	r.local_port = sk->src_port;
	first_datagram_send(&r, &peer);
	return 1;
}

/* Whether to record DNS messages (network.dns): set at load. */
const volatile u8 dns_messages = 0;
/* Whether to record raw and ICMP sockets' first packets (network.datagrams = "first"): set at
 * load. */
const volatile u8 raw_first_packets = 0;

#define DNS_PORT 53
/* The bytes of a DNS message kept: a classic UDP message's most. A longer one (EDNS) is cut;
 * the answers that fit are read from it. */
#define DNS_KEPT 512
/* A send or receive record whose "address" is a DNS message: the socket's key (8 bytes, the
 * struct sock's address: a query and its answers share it), then the message. */
#define NET_DNS 65536
#define IPPROTO_UDP_HEAD 8

/* The process that last sent a DNS query over a socket: the one its answers are recorded for
 * (they come in with no process at hand). */
struct dns_asker {
	u64 start_ns;
	u32 tgid;
};

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct dns_asker);
} DNS_ASKERS SEC(".maps");

/* A network record with room for a DNS message where its address would be. */
struct dns_record {
	struct net_record r;
	u8 rest[8 + DNS_KEPT - NET_ADDR_CAP];
};

/* The ends of a UDP or TCP packet: its addresses from the IP header (version `version`), its
 * ports (`ports`, read from the UDP or TCP header at `ip_len`: both begin with them), into
 * record `r` as a send's (`out`) or a receive's. */
static __always_inline bool read_packet_ends(struct __sk_buff *skb, struct net_record *r,
					     u8 version, u32 ip_len, __be16 *ports, bool out)
{
	u32 head[10];
	if (version == 4) {
		if (bpf_skb_load_bytes(skb, 0, head, 20))
			return false;
		r->family = AF_INET;
		*(u32 *)r->local_addr = head[out ? 3 : 4];
		*(u32 *)r->remote_addr = head[out ? 4 : 3];
	} else {
		if (bpf_skb_load_bytes(skb, 0, head, 40))
			return false;
		r->family = AF_INET6;
		__builtin_memcpy(r->local_addr, &head[out ? 2 : 6], 16);
		__builtin_memcpy(r->remote_addr, &head[out ? 6 : 2], 16);
	}
	r->local_port = __builtin_bswap16(ports[out ? 0 : 1]);
	r->remote_port = __builtin_bswap16(ports[out ? 1 : 0]);
	return true;
}

/* The length of the IP header that `head` (its first 7 bytes) begins, when the packet is IPv4
 * or IPv6 and, IPv6, carries `protocol` next; 0 otherwise. IPv6 extension headers are not
 * followed: DNS and the requests read here have no use for them. */
static __always_inline u32 ip_head_length(const u8 *head, u8 protocol)
{
	u32 length;
	switch (head[0] >> 4) {
	case 4:
		length = (head[0] & 0xf) * 4;
		return length >= 20 ? length : 0;
	case 6:
		return head[6] == protocol ? 40 : 0;
	default:
		return 0;
	}
}

/* The head of record `r` (reserved: zeroed here) of a packet read at the packet hooks, sent
 * (`out`) or received, for the process `tgid` started at `start_ns`: both ends from its IP
 * header (version `version`) and its ports (at `ip_len`), a UDP or a TCP (`tcp`) socket's.
 * False when the ends cannot be read (the caller discards it). */
static __always_inline bool packet_record(struct net_record *r, struct __sk_buff *skb,
					  u8 version, u32 ip_len, __be16 *ports, bool out, u32 tgid,
					  u64 start_ns, bool tcp)
{
	__builtin_memset(r, 0, NET_ADDR);
	if (!read_packet_ends(skb, r, version, ip_len, ports, out))
		return false;
	r->h.kind = KIND_NET;
	r->h.tgid = tgid;
	r->h.start_ns = start_ns;
	r->h.boot_ns = bpf_ktime_get_boot_ns();
	r->call = out ? NCALL_sendmsg : NCALL_recvfrom;
	r->sock_type = tcp ? SOCK_STREAM : SOCK_DGRAM;
	r->protocol = tcp ? IPPROTO_TCP : IPPROTO_UDP;
	return true;
}

/* What every UDP or TCP packet looked at begins with: its IP version, the IP header's length
 * and the ports (from the UDP or TCP header, which both begin with them). */
struct packet_head {
	u8 version;
	u32 ip_len;
	__be16 ports[2];
};

/* The head of packet `skb`, whose socket's transport is `protocol`: false when it is neither
 * IPv4 nor IPv6 carrying that transport next. */
static __always_inline bool read_packet_head(struct __sk_buff *skb, u8 protocol,
					     struct packet_head *head)
{
	u8 ip_head[7];
	if (bpf_skb_load_bytes(skb, 0, ip_head, sizeof(ip_head)))
		return false;
	head->version = ip_head[0] >> 4;
	head->ip_len = ip_head_length(ip_head, protocol);
	/* (At most 60 always: said for the verifier.) */
	if (!head->ip_len || head->ip_len > 60)
		return false;
	return !bpf_skb_load_bytes(skb, head->ip_len, head->ports, sizeof(head->ports));
}

/* A UDP packet of socket `sk` to port 53 (`out`: a query sent) or from it (an answer come in):
 * its DNS message recorded as a send or a receive marked NET_DNS, with both ends. A query for
 * the process that sends it, which becomes the socket's asker; an answer for the socket's
 * asker, and not at all when it has none (its query went before the agent started). Other
 * packets leave after their UDP header's ports are read. A DNS server's own traffic (queries
 * in, answers out) is not this. */
static __noinline int dns_message(struct __sk_buff *skb, struct bpf_sock *sk,
				  struct packet_head *head, bool out, bool tcp)
{
	u8 version = head->version;
	u32 ip_len = head->ip_len;
	__be16 *ports = head->ports;
	if (ip_len > 60 || ports[out ? 1 : 0] != __builtin_bswap16(DNS_PORT))
		return 1;
	u32 at = ip_len + IPPROTO_UDP_HEAD;
	/* Over TCP, the message's length as its prefix gives it (0: over UDP, the datagram's). */
	u64 declared = 0;
	if (tcp) {
		/* Over TCP (RFC 1035 4.2.2): a segment that begins a message begins with its
		 * length, two bytes; segments without a message (a handshake's, an ACK) are too
		 * short, and one that carries the rest of a longer message is taken for none when
		 * its first two bytes are less than a header. */
		u8 offset = 0;
		if (bpf_skb_load_bytes(skb, ip_len + 12, &offset, 1))
			return 1;
		u32 tcp_len = (offset >> 4) * 4;
		if (tcp_len < 20)
			return 1;
		__be16 length = 0;
		if (bpf_skb_load_bytes(skb, ip_len + tcp_len, &length, sizeof(length)) ||
		    __builtin_bswap16(length) < 12)
			return 1;
		declared = __builtin_bswap16(length);
		at = ip_len + tcp_len + 2;
	}
	/* 64 bits throughout, so that the verifier follows the bounds below to the load. */
	u64 len = skb->len;
	/* Shorter than a DNS header: no message. */
	if (len < at + 12)
		return 1;
	len -= at;
	/* A segment may hold more than one message (the rest is left out), or only the start of
	 * a longer one (cut). */
	bool continues = false;
	if (declared) {
		if (len > declared)
			len = declared;
		else if (len < declared)
			continues = true;
	}
	u32 tgid;
	u64 start_ns;
	if (out) {
		struct task_struct *task = bpf_get_current_task_btf();
		tgid = task->tgid;
		start_ns = task->group_leader->start_boottime;
		if (tgid == warden_tgid)
			return 1;
		struct dns_asker *asker =
			bpf_sk_storage_get(&DNS_ASKERS, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
		if (asker) {
			asker->tgid = tgid;
			asker->start_ns = start_ns;
		}
	} else {
		struct dns_asker *asker = bpf_sk_storage_get(&DNS_ASKERS, sk, 0, 0);
		if (!asker || !asker->tgid || asker->tgid == warden_tgid)
			return 1;
		tgid = asker->tgid;
		start_ns = asker->start_ns;
	}
	struct dns_record *rec = bpf_ringbuf_reserve(&EVENTS, sizeof(*rec), 0);
	if (!rec) {
		dropped(KIND_NET);
		return 1;
	}
	struct net_record *r = &rec->r;
	if (!packet_record(r, skb, version, ip_len, ports, out, tgid, start_ns, tcp)) {
		bpf_ringbuf_discard(rec, 0);
		return 1;
	}
	r->fd = -1;
	r->flags = NET_DNS | NET_SOCKET_READ;
	u64 kept = len;
	if (kept > DNS_KEPT || continues) {
		if (kept > DNS_KEPT)
			kept = DNS_KEPT;
		r->flags |= NET_ADDR_CUT;
	}
	*(u64 *)r->addr = (u64)sk;
	if (kept < 12 || kept > DNS_KEPT || bpf_skb_load_bytes(skb, at, r->addr + 8, kept)) {
		bpf_ringbuf_discard(rec, 0);
		return 1;
	}
	r->addr_len = 8 + kept;
	bpf_ringbuf_submit(rec, 0);
	return 1;
}

/* Whether to read each outgoing TCP connection's first bytes (network.requests): set at load. */
const volatile u8 connection_openings = 0;

/* The bytes of a connection's segment kept: Chromium's ClientHello, with a post-quantum key
 * share and ECH's grease, runs to ~2,000 bytes and grows with its server name, which may come
 * last (browsers shuffle the extensions). A segment of up to OPENING_SMALL bytes takes a record
 * that size, so that the ring holds twice as many of the usual ones; one of up to OPENING_TINY
 * (most HTTP requests a server receives, a hello without post-quantum keys) one that size. */
#define OPENING_KEPT 4096
#define OPENING_SMALL 2048
#define OPENING_TINY 512
/* A send (or receive) record whose "address" is a TCP connection's first bytes sent (received):
 * the socket's key (8 bytes), then the bytes. */
#define NET_OPENING 262144
/* With NET_OPENING, a receive: no process has taken the connection yet (its request came
 * before the accept that takes it, or to the listener itself). The agent pairs the record with
 * that accept's, which comes after it in the ring, by the connection's ends. */
#define NET_UNCLAIMED 524288
/* With NET_OPENING, a server's answer rather than a client's request: received on a connection
 * a connect made here (a web server's response to curl), or sent on one accepted here (a
 * server here answering). */
#define NET_ANSWER 1048576

/* Network records with room for a connection's first bytes where their address would be. */
struct opening_record {
	struct net_record r;
	u8 rest[8 + OPENING_KEPT - NET_ADDR_CAP];
};
struct opening_record_small {
	struct net_record r;
	u8 rest[8 + OPENING_SMALL - NET_ADDR_CAP];
};
struct opening_record_tiny {
	struct net_record r;
	u8 rest[8 + OPENING_TINY - NET_ADDR_CAP];
};

/* What a connection's bytes may be, by their first ones (see read_request_head): a client's
 * request, a server's answer, or either (an SSH line). */
#define MAY_REQUEST 1
#define MAY_ANSWER 2

/* Names in the record `r` of bytes received on socket `key` (0: a listener's packet, no
 * connection yet), which may be what `may` says, the process whose connection it is, by the
 * connection's note, and its fd there. On a connection accepted here they are a request; on
 * one a connect made, an answer (marked NET_ANSWER): false when they cannot be that. With no
 * note, the record is marked NET_UNCLAIMED (a request's: an answer is always noted, its
 * connect came before it). Looked up once the record holds its place in the ring, so that an
 * accept noted too late for this look is recorded after it, where the agent pairs them. */
static __always_inline bool claim(struct net_record *r, u64 key, u8 may)
{
	struct connection *noted = key ? bpf_map_lookup_elem(&CONNECTIONS, &key) : 0;
	if (!noted) {
		r->flags |= NET_UNCLAIMED;
		return may & MAY_REQUEST;
	}
	if (noted->accepted & CONNECTION_ACCEPTED) {
		if (!(may & MAY_REQUEST))
			return false;
	} else {
		if (!(may & MAY_ANSWER))
			return false;
		r->flags |= NET_ANSWER;
	}
	r->h.tgid = noted->tgid;
	r->h.start_ns = noted->start_ns;
	r->fd = noted->fd;
	return true;
}

/* Records the `len` bytes at `at` of packet `skb` (the first `cap` of them: the rest is cut)
 * as a send (`out`) or a receive marked NET_OPENING, in a record of `size` bytes, with the
 * packet's ends (IP version `version`, ports `ports` at `ip_len`, a TCP (`tcp`) or UDP
 * packet's) and socket key `key`, for the process `tgid` started at `start_ns` and its
 * descriptor `fd` (a receive: for the process its connection's note names, see `claim`, the
 * bytes being what `may` says). A send is a server's answer when `may` is MAY_ANSWER alone.
 * The record's flags when it was recorded, else 0. `size` and `cap` are constants at each
 * call, as the ring's reservation needs. */
static __always_inline u32 record_packet_bytes(struct __sk_buff *skb, u64 size, u64 cap,
						u8 version, u32 ip_len, __be16 *ports, bool tcp,
						bool out, u32 tgid, u64 start_ns, s32 fd, u64 key,
						u32 at, u64 len, u8 may)
{
	struct net_record *r = bpf_ringbuf_reserve(&EVENTS, size, 0);
	if (!r) {
		dropped(KIND_NET);
		return false;
	}
	if (!packet_record(r, skb, version, ip_len, ports, out, tgid, start_ns, tcp)) {
		bpf_ringbuf_discard(r, 0);
		return false;
	}
	r->fd = fd;
	r->flags = NET_OPENING | NET_SOCKET_READ;
	if (out && may == MAY_ANSWER)
		r->flags |= NET_ANSWER;
	if (!out && !claim(r, key, may)) {
		bpf_ringbuf_discard(r, 0);
		return false;
	}
	u64 kept = len;
	if (kept > cap) {
		kept = cap;
		r->flags |= NET_ADDR_CUT;
	}
	*(u64 *)r->addr = key;
	if (kept < 1 || kept > cap || bpf_skb_load_bytes(skb, at, r->addr + 8, kept)) {
		bpf_ringbuf_discard(r, 0);
		return false;
	}
	r->addr_len = 8 + kept;
	u32 flags = r->flags;
	bpf_ringbuf_submit(r, 0);
	return flags;
}

/* The first bytes of a TCP payload looked at: room for a method of nine capitals and its space
 * (PROPPATCH). */
#define REQUEST_HEAD 10

/* Whether `b`, a TCP payload's first REQUEST_HEAD bytes, begin a handshake record (SSL 3 or
 * TLS) whose first message is a ClientHello. */
static __always_inline bool is_client_hello(const u8 *b)
{
	return b[0] == 0x16 && b[1] == 3 && b[5] == 1;
}

/* The length of the word of capitals that `b` begin with, when a space follows it; else 0. */
static __always_inline u32 command_length(const u8 *b)
{
	for (int i = 0; i < REQUEST_HEAD; i++) {
		if (b[i] == ' ')
			return i;
		if (b[i] < 'A' || b[i] > 'Z')
			return 0;
	}
	return 0;
}

/* Whether `b` begin a text command: three to nine capitals, then a space (an HTTP/1 request's
 * GET, POST, CONNECT...; SMTP's EHLO). A connection's first bytes are recorded when they begin
 * a ClientHello, this or an SSH identification: the agent reads them whole, and every other
 * protocol's bytes stay out of the ring (FTP's and IMAP's servers speak first). */
static __always_inline bool is_text_command(const u8 *b)
{
	return command_length(b) >= 3;
}

#define WORD(a, b, c, d) ((u32)(a) << 24 | (u32)(b) << 16 | (u32)(c) << 8 | (u32)(d))

/* Whether `b`, a TCP payload's first REQUEST_HEAD bytes, begin an SSH identification line
 * (RFC 4253 §4.2: `SSH-2.0-software`), which each side sends first: the software it claims. */
static __always_inline bool is_ssh_identification(const u8 *b)
{
	return WORD(b[0], b[1], b[2], b[3]) == WORD('S', 'S', 'H', '-');
}

/* Whether `b` begin an HTTP/1 response's status line (`HTTP/1.1 200`). */
static __always_inline bool is_http_status(const u8 *b)
{
	return WORD(b[0], b[1], b[2], b[3]) == WORD('H', 'T', 'T', 'P') && b[4] == '/';
}

/* Whether `b` begin the greeting of a server that speaks first: SMTP's or FTP's `220 ` (or
 * `220-`, a greeting of several lines), POP3's `+OK `, IMAP's `* OK `. */
static __always_inline bool is_banner(const u8 *b)
{
	switch (WORD(b[0], b[1], b[2], b[3])) {
	case WORD('2', '2', '0', ' '):
	case WORD('2', '2', '0', '-'):
	case WORD('+', 'O', 'K', ' '):
		return true;
	case WORD('*', ' ', 'O', 'K'):
		return b[4] == ' ';
	default:
		return false;
	}
}

/* Whether `b` begin a server's answer: a handshake record whose first message is a
 * ServerHello, an HTTP/1 response's status line, or a server's greeting. */
static __always_inline bool is_answer(const u8 *b)
{
	return (b[0] == 0x16 && b[1] == 3 && b[5] == 2) || is_http_status(b) || is_banner(b);
}

/* Where a TCP packet's data begins, read in place (a packet has its headers in its head,
 * where the hook's data begins: this host's as it makes them, a received one's as TCP pulled
 * them), how many bytes of it there are, and its first REQUEST_HEAD bytes. */
struct tcp_payload {
	u8 version;
	u8 hello;	/* the bytes begin a ClientHello */
	u8 ssh;		/* an SSH identification line */
	u8 may;		/* MAY_REQUEST, MAY_ANSWER: what the bytes may begin */
	u8 head[REQUEST_HEAD];
	u32 ip_len;
	u32 at;
	u64 len;
};

/* The payload of TCP packet `skb`: false when it has too few bytes to begin a request (a
 * handshake's packet, an ACK, a FIN: most of a connection's), found with no helper called. */
static __always_inline bool read_tcp_payload(struct __sk_buff *skb, struct tcp_payload *p)
{
	u8 *data = (u8 *)(long)skb->data, *end = (u8 *)(long)skb->data_end;
	if (data + 7 > end)
		return false;
	p->version = data[0] >> 4;
	u32 ip_len = ip_head_length(data, IPPROTO_TCP);
	/* (At most 60 always: said for the verifier, which bounds the offset in place.) */
	if (!ip_len || ip_len > 60)
		return false;
	u8 *tcp = data + ip_len;
	if (tcp + 13 > end)
		return false;
	u32 tcp_len = (tcp[12] >> 4) * 4;
	if (tcp_len < 20)
		return false;
	/* 64 bits throughout, so that the verifier follows the bounds below to the load. */
	u64 len = skb->len;
	if (len < ip_len + tcp_len + REQUEST_HEAD)
		return false;
	p->ip_len = ip_len;
	p->at = ip_len + tcp_len;
	p->len = len - p->at;
	return true;
}

/* Reads payload `p`'s first REQUEST_HEAD bytes from packet `skb` (in place where the packet's
 * head holds them, else copied: a segment's data is mostly in its pages): whether they may
 * begin a request (a ClientHello, a text command, an SSH identification) or an answer (a
 * ServerHello, an HTTP response, an SSH identification), said in `p->may`. Read only where a
 * packet is wanted: the first with data, a talker's. */
static __always_inline bool read_request_head(struct __sk_buff *skb, struct tcp_payload *p)
{
	u8 *data = (u8 *)(long)skb->data, *end = (u8 *)(long)skb->data_end;
	u32 at = p->at;
	bool read = false;
	/* (At most 120: two headers of 60 at most. Said for the verifier.) */
	if (at <= 120) {
		u8 *head = data + at;
		if (head + REQUEST_HEAD <= end) {
			__builtin_memcpy(p->head, head, REQUEST_HEAD);
			read = true;
		} else {
			read = !bpf_skb_load_bytes(skb, at, p->head, REQUEST_HEAD);
		}
	}
	if (!read) {
		/* (Unread: zeroes, which begin nothing looked for.) */
		__builtin_memset(p->head, 0, REQUEST_HEAD);
		p->hello = p->ssh = p->may = 0;
		return false;
	}
	p->hello = is_client_hello(p->head);
	p->ssh = is_ssh_identification(p->head);
	p->may = (p->hello || p->ssh || is_text_command(p->head) ? MAY_REQUEST : 0) |
		 (p->ssh || is_answer(p->head) ? MAY_ANSWER : 0);
	return p->may;
}

/* Records TCP packet `skb`'s payload `p` as a connection's bytes sent (`out`) or received, in
 * the smallest record that holds it (see OPENING_KEPT), as what `may` says they may be. As
 * record_packet_bytes. */
static __always_inline u32 record_tcp_payload(struct __sk_buff *skb, struct tcp_payload *p,
					       bool out, u32 tgid, u64 start_ns, s32 fd, u64 key,
					       u8 may)
{
	__be16 ports[2];
	u32 ip_len = p->ip_len;
	if (ip_len > 60 || bpf_skb_load_bytes(skb, ip_len, ports, sizeof(ports)))
		return 0;
	u64 len = p->len;
	if (len > OPENING_SMALL)
		return record_packet_bytes(skb, sizeof(struct opening_record), OPENING_KEPT,
					   p->version, ip_len, ports, true, out, tgid, start_ns,
					   fd, key, p->at, len, may);
	if (len > OPENING_TINY)
		return record_packet_bytes(skb, sizeof(struct opening_record_small),
					   OPENING_SMALL, p->version, ip_len, ports, true, out,
					   tgid, start_ns, fd, key, p->at, len, may);
	return record_packet_bytes(skb, sizeof(struct opening_record_tiny), OPENING_TINY,
				   p->version, ip_len, ports, true, out, tgid, start_ns, fd, key,
				   p->at, len, may);
}


/* Whether `b` begin with an HTTP method (RFC 9110's, and PATCH) and its space, told by its
 * first four bytes and its length: a later request on a connection, where SMTP's and others'
 * commands are not wanted. */
static __always_inline bool is_http_method(const u8 *b)
{
	u32 length;
	switch (WORD(b[0], b[1], b[2], b[3])) {
	case WORD('G', 'E', 'T', ' '):
	case WORD('P', 'U', 'T', ' '):
		length = 3;
		break;
	case WORD('P', 'O', 'S', 'T'):
	case WORD('H', 'E', 'A', 'D'):
		length = 4;
		break;
	case WORD('P', 'A', 'T', 'C'):
	case WORD('T', 'R', 'A', 'C'):
		length = 5;
		break;
	case WORD('D', 'E', 'L', 'E'):
		length = 6;
		break;
	case WORD('O', 'P', 'T', 'I'):
	case WORD('C', 'O', 'N', 'N'):
		length = 7;
		break;
	default:
		return false;
	}
	return command_length(b) == length;
}

/* What a socket had recorded in the current second: kept with it, for a rate. */
struct per_second {
	u64 second_ns;
	u32 recorded;
};

/* Whether one more record is within `most` a second by `rate`, counting it when it is; when
 * it is not, counted as dropped of `kind`. */
static __always_inline bool within_rate(struct per_second *rate, u32 most, u32 kind)
{
	u64 now = bpf_ktime_get_boot_ns();
	if (now - rate->second_ns >= 1000000000ULL) {
		rate->second_ns = now;
		rate->recorded = 0;
	}
	if (rate->recorded >= most) {
		dropped(kind);
		return false;
	}
	rate->recorded++;
	return true;
}

/* A connection whose first bytes were a text command: its later packets are looked at too,
 * for another HTTP request (keep-alive) or a TLS ClientHello (inside a proxy's CONNECT tunnel,
 * after a STARTTLS), until such a hello, past which all is encrypted; at most
 * LATER_REQUEST_RATE recorded a second. Or an SSH client's (`kexinit_left`): its next few
 * packets are looked at for its first key exchange message, which names its algorithms (the
 * agent's HASSH), until it comes or they are looked at. An SSH server's answer likewise
 * (`server_kexinit_left`), the other way: its KEXINIT gives its HASSHServer. A server whose
 * first answer was an HTTP response (`server_http`): its later packets are looked at for a
 * later response (to a keep-alive request), at most LATER_REQUEST_RATE recorded a second,
 * until the client's way is encrypted. Kept with the socket. */
struct talker {
	struct per_second rate;
	struct per_second answer_rate;
	u8 encrypted;
	u8 kexinit_left;
	u8 outgoing;	/* the client's bytes are sent (else received): the way it is followed */
	u8 server_kexinit_left;
	u8 server_http;
};
/* An SSH client's packets after its identification looked at for its KEXINIT: OpenSSH's comes
 * next, once the server's line is read. */
#define KEXINIT_LOOKS 4
/* SSH_MSG_KEXINIT (RFC 4253 §7.1). */
#define SSH_MSG_KEXINIT 20
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct talker);
} TALKERS SEC(".maps");
#define LATER_REQUEST_RATE 16
#define KIND_REQUEST_OVER_RATE 12
#define KIND_ANSWER_OVER_RATE 15

/* A connection whose later packets going the way `out` (sent, else received) are looked at:
 * its socket `sk`'s talker, when it is one (its first bytes that way were a text command, or
 * an SSH client's identification) not yet past what it is looked at for, or when a server's
 * answers are looked for that way (an SSH server's KEXINIT, later HTTP responses); NULL for
 * every other. */
static __always_inline struct talker *talker_of(struct bpf_sock *sk, bool out)
{
	struct talker *talker = bpf_sk_storage_get(&TALKERS, sk, 0, 0);
	if (!talker)
		return 0;
	if (talker->outgoing == out)
		return talker->encrypted ? 0 : talker;
	return talker->server_kexinit_left || talker->server_http ? talker : 0;
}

/* Whether talker `talker` follows the way `out` for a server's answers (its KEXINIT, later
 * responses), not a client's requests. */
static __always_inline bool servers_way(struct talker *talker, bool out)
{
	return talker->outgoing != out;
}

/* Makes socket `sk` a talker after a server's first answer went the way `out`, payload `p`:
 * an SSH server's identification (its next packets that way looked at for its KEXINIT), an
 * HTTP response (for later responses). The client's way is the other one, whichever side's
 * bytes came first. Not a ServerHello's: nothing after it is read. */
static __always_inline void follow_server(struct bpf_sock *sk, struct tcp_payload *p, bool out)
{
	bool http = is_http_status(p->head);
	if (!p->ssh && !http)
		return;
	struct talker *talker = bpf_sk_storage_get(&TALKERS, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!talker)
		return;
	talker->outgoing = !out;
	if (p->ssh)
		talker->server_kexinit_left = KEXINIT_LOOKS;
	else
		talker->server_http = 1;
}

/* Makes socket `sk` a talker after its first bytes going the way `out`, payload `p`: a text
 * command's (looked at for later requests), an SSH client's identification (for its KEXINIT).
 * Not a ClientHello's: nothing after it is read. */
static __always_inline void follow(struct bpf_sock *sk, struct tcp_payload *p, bool out)
{
	if (p->hello)
		return;
	struct talker *talker = bpf_sk_storage_get(&TALKERS, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!talker)
		return;
	talker->outgoing = out;
	if (p->ssh)
		talker->kexinit_left = KEXINIT_LOOKS;
}

/* Whether `b`, a packet's first REQUEST_HEAD bytes, begin an SSH binary packet (RFC 4253 §6)
 * holding a KEXINIT: a length below 64 KiB (the real ones are 1 to 2 KiB), padding of at least
 * four bytes, the message's number. */
static __always_inline bool is_kexinit(const u8 *b)
{
	return b[0] == 0 && b[1] == 0 && b[4] >= 4 && b[5] == SSH_MSG_KEXINIT;
}

/* Whether talker `talker`'s later packet going the way `out`, its payload `p` (its head read),
 * is recorded: on the server's way, when it begins the server's KEXINIT (which ends the
 * looking there, as the last look does), or a later HTTP response's status line (at most
 * LATER_REQUEST_RATE a second). An SSH client's when it begins a KEXINIT, which ends
 * the looking, as the last look does; another's when the bytes begin a ClientHello or an HTTP
 * request (not SMTP's or another's command), at most LATER_REQUEST_RATE a second. A talker is
 * let go at its hello, past which all is encrypted. */
static __always_inline bool talkers_request(struct talker *talker, struct tcp_payload *p,
					    bool out)
{
	if (servers_way(talker, out)) {
		if (talker->server_kexinit_left) {
			bool kexinit = is_kexinit(p->head);
			talker->server_kexinit_left = kexinit ? 0 : talker->server_kexinit_left - 1;
			return kexinit;
		}
		return is_http_status(p->head) &&
		       within_rate(&talker->answer_rate, LATER_REQUEST_RATE, KIND_ANSWER_OVER_RATE);
	}
	if (talker->kexinit_left) {
		talker->kexinit_left--;
		bool kexinit = is_kexinit(p->head);
		if (kexinit || !talker->kexinit_left)
			talker->encrypted = 1;
		return kexinit;
	}
	if (!p->hello && !is_http_method(p->head))
		return false;
	if (!within_rate(&talker->rate, LATER_REQUEST_RATE, KIND_REQUEST_OVER_RATE))
		return false;
	if (p->hello) {
		/* Past it all is encrypted, the server's answers too. */
		talker->encrypted = 1;
		talker->server_http = 0;
	}
	return true;
}

/* Whether to read servers' answers (network.answers): a connection's first bytes received
 * on one a connect made here, sent on one accepted here. Set at load. */
const volatile u8 server_answers = 0;

/* Bytes of records waiting in the ring (of 4 MiB) past which a request received, or an answer
 * either way, is not recorded: half, so that however busy a server here is, the other half is
 * kept for what the host's processes do. */
#define RECEIVED_RING_MAX (2 << 20)
/* A request received that was not recorded: the ring held more than RECEIVED_RING_MAX bytes. */
#define KIND_RECEIVED_RING_BUSY 13
/* Likewise an answer, received or sent. */
#define KIND_ANSWER_RING_BUSY 14

/* Whether the ring has room for a server's exchange, the bytes being what `may` says: counted
 * as dropped when it has not. */
static __always_inline bool room_for_exchange(u8 may)
{
	if (bpf_ringbuf_query(&EVENTS, BPF_RB_AVAIL_DATA) <= RECEIVED_RING_MAX)
		return true;
	dropped(may == MAY_ANSWER ? KIND_ANSWER_RING_BUSY : KIND_RECEIVED_RING_BUSY);
	return false;
}

/* An outgoing TCP packet of socket `sk`: when it is the first with data of a connection a
 * connect made (the kernel's count of data segments sent is this packet's own), and its bytes
 * may begin a TLS ClientHello or an HTTP request; or a later one of a connection whose first
 * bytes were a text command (a talker), when its bytes begin an HTTP request or a ClientHello:
 * its first OPENING_KEPT bytes recorded as a send marked NET_OPENING, for the connection's
 * maker (the packet may leave in the kernel's own time, with no process at hand). The first
 * with data of a connection accepted here, when its bytes may begin an answer (a ServerHello,
 * an HTTP response, an SSH line, a greeting), is recorded so too, marked NET_ANSWER, for the
 * process that accepted it (not when the ring is half full, as a request received), and so
 * is a talker's later answer (its KEXINIT, a later response). Every other packet leaves after
 * the socket's counts are read (and a later one, after its socket's storage is looked at), or
 * its first bytes; connections not noted (ones made before the agent started that it did not
 * find) are not read. */
static __noinline int connection_opening(struct __sk_buff *skb, struct bpf_sock *sk)
{
	struct tcp_payload p;
	if (!read_tcp_payload(skb, &p))
		return 1;
	/* The connection's first packet with data: the kernel counted it before the hook. */
	struct bpf_tcp_sock *tp = bpf_tcp_sock(sk);
	if (!tp)
		return 1;
	u32 segments = skb->gso_segs;
	bool first = tp->data_segs_out == (segments ? segments : 1);
	struct talker *talker = first ? 0 : talker_of(sk, true);
	if (!first && !talker)
		return 1;
	/* (The talker is tested below as itself, not as `first`, which the verifier cannot tie
	 * to it.) */
	barrier_var(talker);
	bool wanted = read_request_head(skb, &p);
	/* A talker's packet is a request, or on the server's way an answer. */
	bool servers = false;
	if (talker) {
		if (!talkers_request(talker, &p, true))
			return 1;
		servers = servers_way(talker, true);
	} else if (!wanted) {
		return 1;
	}
	u64 key = (u64)sk;
	struct connection *noted = bpf_map_lookup_elem(&CONNECTIONS, &key);
	if (!noted)
		return 1;
	struct connection c = *noted;
	u8 may = MAY_REQUEST;
	if (c.accepted & CONNECTION_ACCEPTED) {
		/* A server here answering. */
		if ((talker && !servers) || !server_answers ||
		    (!talker && !(p.may & MAY_ANSWER)) || !room_for_exchange(MAY_ANSWER))
			return 1;
		may = MAY_ANSWER;
	} else if (servers || !connection_openings || (!talker && !(p.may & MAY_REQUEST))) {
		return 1;
	}
	if (!record_tcp_payload(skb, &p, true, c.tgid, c.start_ns, c.fd, key, may) || !first)
		return 1;
	if (may == MAY_REQUEST)
		follow(sk, &p, true);
	else
		follow_server(sk, &p, true);
	return 1;
}

/* Bytes of records waiting in the ring past which a look leaves a connection out (counted as
 * a network record the ring had no room for): a look never crowds out what the host does. */
#define LOOK_RING_MAX (1 << 20)

/* A connection a listener's own packet began (deferred accepts: its request came with the
 * handshake's last ACK), whose bytes were a text command or an SSH line: by its client's end
 * and this host's port, until its socket is made and made a talker (deferred_talker). LRU: one
 * whose connection is never made ages out. */
struct deferred_key {
	u8 remote_addr[16];	/* IPv4 in the first 4 bytes; an IPv4-mapped IPv6 end as IPv4 */
	u16 local_port;		/* host order */
	u16 remote_port;
	u32 pad;
};
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct deferred_key);
	__type(value, u8);	/* 1: an SSH line (its KEXINIT looked for) */
} DEFERRED SEC(".maps");

/* Notes the connection that listener's packet `skb` (its payload `p`, a request) begins, for
 * its later packets to be looked at as a talker's. */
static __always_inline void defer_talker(struct __sk_buff *skb, struct tcp_payload *p)
{
	struct deferred_key key = {};
	__be16 ports[2];
	u32 ip_len = p->ip_len;
	if (ip_len > 60 || bpf_skb_load_bytes(skb, ip_len, ports, sizeof(ports)))
		return;
	if (p->version == 4 ? bpf_skb_load_bytes(skb, 12, key.remote_addr, 4)
			    : bpf_skb_load_bytes(skb, 8, key.remote_addr, 16))
		return;
	key.local_port = __builtin_bswap16(ports[1]);
	key.remote_port = __builtin_bswap16(ports[0]);
	u8 ssh = p->ssh;
	bpf_map_update_elem(&DEFERRED, &key, &ssh, 0);
}

/* A connection made to this host becoming established (`sk`, its new socket): a talker, the
 * way in, when a listener's packet began it with a request (defer_talker). */
static __always_inline void deferred_talker(struct sock *sk)
{
	struct deferred_key key = {};
	key.local_port = sk->__sk_common.skc_num;
	key.remote_port = __builtin_bswap16(sk->__sk_common.skc_dport);
	if (sk->__sk_common.skc_family == AF_INET) {
		*(u32 *)key.remote_addr = sk->__sk_common.skc_daddr;
	} else {
		u8 v6[16];
		BPF_CORE_READ_INTO(&v6, sk, __sk_common.skc_v6_daddr);
		u32 *words = (u32 *)v6;
		/* ::ffff:a.b.c.d, a dual-stack socket's IPv4 client: as its packet named it. */
		if (!words[0] && !words[1] && words[2] == __builtin_bswap32(0xffff))
			*(u32 *)key.remote_addr = words[3];
		else
			__builtin_memcpy(key.remote_addr, v6, 16);
	}
	u8 *ssh = bpf_map_lookup_elem(&DEFERRED, &key);
	if (!ssh)
		return;
	struct talker *talker = bpf_sk_storage_get(&TALKERS, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (talker) {
		talker->outgoing = 0;
		talker->kexinit_left = *ssh ? KEXINIT_LOOKS : 0;
	}
	bpf_map_delete_elem(&DEFERRED, &key);
}

/* An incoming TCP packet of socket `sk`: when it is the first with data of a connection made
 * to this host (the kernel counts a packet after this hook), or a listener's own (data that
 * comes before its connection is made: a client's ACK with its request to a listener that
 * defers accepts, a Fast Open SYN), and its bytes may begin a ClientHello or a text command;
 * or a later one of a connection whose first bytes were a text command, when they begin an
 * HTTP request or a ClientHello: recorded as a receive marked NET_OPENING, for the process
 * that took the connection (see `claim`). The first with data of a connection made here, when
 * its bytes may begin an answer (a ServerHello, an HTTP response, an SSH line, a greeting), is
 * recorded so too, marked NET_ANSWER, for the connection's maker, and so is a talker's later
 * answer (its KEXINIT, a later response). Not when the ring holds more than RECEIVED_RING_MAX
 * bytes not yet read: a busy server's exchanges never crowd out what the host does (counted).
 * Every other packet leaves as an outgoing one does. */
static __noinline int received_request(struct __sk_buff *skb, struct bpf_sock *sk)
{
	struct tcp_payload p;
	if (!read_tcp_payload(skb, &p))
		return 1;
	bool listener = sk->state == TCP_LISTEN, first = listener;
	struct talker *talker = 0;
	if (listener) {
		if (!received_requests)
			return 1;
	} else {
		struct bpf_tcp_sock *tp = bpf_tcp_sock(sk);
		if (!tp)
			return 1;
		first = !tp->data_segs_in;
		talker = first ? 0 : talker_of(sk, false);
		if (!first && !talker)
			return 1;
	}
	/* (As in connection_opening.) */
	barrier_var(talker);
	bool wanted = read_request_head(skb, &p);
	/* A talker's packet is a request, or on the server's way an answer. */
	u8 may = p.may;
	if (talker) {
		if (!talkers_request(talker, &p, false))
			return 1;
		may = servers_way(talker, false) ? MAY_ANSWER : MAY_REQUEST;
	} else if (!wanted) {
		return 1;
	}
	if (!received_requests)
		may &= ~MAY_REQUEST;
	if (!server_answers || listener)
		may &= ~MAY_ANSWER;
	if (!may || !room_for_exchange(may))
		return 1;
	u64 key = listener ? 0 : (u64)sk;
	u32 recorded = record_tcp_payload(skb, &p, false, 0, 0, -1, key, may);
	if (!recorded || !first || p.hello)
		return 1;
	if (recorded & NET_ANSWER) {
		follow_server(sk, &p, false);
	} else if (listener) {
		defer_talker(skb, &p);
	} else {
		follow(sk, &p, false);
	}
	return 1;
}

/* Whether to read outgoing QUIC Initial datagrams (network.requests): set at load. */
const volatile u8 quic_initials = 0;

/* The least a datagram carrying a client's Initial packet may be (RFC 9000 §14.1): clients pad
 * them, which keeps every smaller datagram out with no byte of it read. */
#define QUIC_INITIAL_MIN 1200
/* The bytes of an Initial's datagram kept: clients send their first ones at 1,200 to 1,472
 * bytes (what an Ethernet path carries unfragmented), whatever the path. */
#define QUIC_KEPT 1500
/* A socket's Initials recorded in one second at most: a client's connection sends a few; a
 * QUIC server's socket sends one or two per client, which the agent cannot open (they are
 * keyed for the server), and is kept from filling the ring with them. */
#define QUIC_SOCKET_RATE 16
#define KIND_QUIC_OVER_RATE 11

/* A send record whose "address" is a QUIC Initial's datagram: the socket's key, the bytes. */
struct quic_record {
	struct net_record r;
	u8 rest[8 + QUIC_KEPT - NET_ADDR_CAP];
};

/* A socket's Initials recorded in the current second, kept with the socket. */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct per_second);
} QUIC_RATES SEC(".maps");
/* QUIC versions 1 and 2, as their packets carry them (big-endian, read as a u32 here). */
#define QUIC_VERSION_1 0x01000000
#define QUIC_VERSION_2 0xcf43336b

/* An outgoing UDP packet of socket `sk` (its head `head` read): when its datagram may hold a
 * QUIC client's Initial packet (at least 1,200 bytes, a long header of the Initial type, QUIC
 * version 1 or 2), its first QUIC_KEPT bytes recorded as a send marked NET_OPENING, for the
 * process sending it: the agent opens it for the ClientHello inside. A QUIC server's Initials
 * look alike and are recorded too (the agent's keys do not open them), at most
 * QUIC_SOCKET_RATE a second from one socket. Every other datagram leaves after its length, or
 * its first five bytes, are read. */
static __noinline int quic_initial(struct __sk_buff *skb, struct bpf_sock *sk,
				   struct packet_head *head)
{
	u32 ip_len = head->ip_len;
	if (ip_len > 60)
		return 1;
	u32 at = ip_len + IPPROTO_UDP_HEAD;
	/* 64 bits throughout, so that the verifier follows the bounds below to the load. */
	u64 len = skb->len;
	if (len < at + QUIC_INITIAL_MIN)
		return 1;
	len -= at;
	u8 first[5];
	if (bpf_skb_load_bytes(skb, at, first, sizeof(first)))
		return 1;
	u32 version = *(u32 *)&first[1];
	/* A long header (its top bit), the fixed bit, and the Initial type: 0 in version 1, 1 in
	 * version 2. */
	u8 kind = first[0] & 0xf0;
	if (!((version == QUIC_VERSION_1 && kind == 0xc0) ||
	      (version == QUIC_VERSION_2 && kind == 0xd0)))
		return 1;
	struct task_struct *task = bpf_get_current_task_btf();
	u32 tgid = task->tgid;
	if (tgid == warden_tgid)
		return 1;
	struct per_second *rate =
		bpf_sk_storage_get(&QUIC_RATES, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!rate || !within_rate(rate, QUIC_SOCKET_RATE, KIND_QUIC_OVER_RATE))
		return 1;
	record_packet_bytes(skb, sizeof(struct quic_record), QUIC_KEPT, head->version, ip_len,
			    head->ports, false, true, tgid, task->group_leader->start_boottime, -1,
			    (u64)sk, at, len, MAY_REQUEST);
	return 1;
}

/* A UDP packet of socket `sk`, each way (`out`: sent): a DNS message when it is to or from port
 * 53 (dns_message), maybe a QUIC client's Initial when it is sent (quic_initial). */
static __always_inline int udp_packet(struct __sk_buff *skb, struct bpf_sock *sk, bool out)
{
	struct packet_head head;
	if (!read_packet_head(skb, IPPROTO_UDP, &head))
		return 1;
	if (dns_messages && head.ports[out ? 1 : 0] == __builtin_bswap16(DNS_PORT))
		return dns_message(skb, sk, &head, out, false);
	if (quic_initials && out)
		return quic_initial(skb, sk, &head);
	return 1;
}

/* Every packet a socket sends or receives, each way (`out`: sent): a UDP one may be a DNS
 * message or a QUIC client's Initial (udp_packet); a raw or ICMP socket's, maybe its first to or
 * from a peer (raw_first_packet); a TCP one, maybe a connection's first bytes or a talker's
 * later ones, sent (connection_opening) or received (received_request). Most leave after the
 * socket's type is read, a TCP one after its headers. Always lets the packet pass (1): these
 * hooks may drop it, and Warden never does. */
static __always_inline int packet(struct __sk_buff *skb, bool out)
{
	struct bpf_sock *sk = skb->sk;
	if (!sk)
		return 1;
	sk = bpf_sk_fullsock(sk);
	if (!sk)
		return 1;
	u32 type = sk->type, protocol = sk->protocol;
	if (type == SOCK_DGRAM && protocol == IPPROTO_UDP)
		return dns_messages || quic_initials ? udp_packet(skb, sk, out) : 1;
	/* A TCP connection to a DNS server's port: its peer's port says it, with no packet read
	 * (a server's own connections, their peer a client's port, are not). */
	if (dns_messages && type == SOCK_STREAM && protocol == IPPROTO_TCP &&
	    sk->dst_port == __builtin_bswap16(DNS_PORT)) {
		struct packet_head head;
		if (!read_packet_head(skb, IPPROTO_TCP, &head))
			return 1;
		return dns_message(skb, sk, &head, out, true);
	}
	if (raw_first_packets && raw_or_icmp(type, protocol))
		return raw_first_packet(skb, sk, out);
	if (type != SOCK_STREAM || protocol != IPPROTO_TCP)
		return 1;
	if ((connection_openings || server_answers) && out)
		return connection_opening(skb, sk);
	if ((received_requests || server_answers) && !out)
		return received_request(skb, sk);
	return 1;
}

SEC("cgroup_skb/egress")
int warden_packet_out(struct __sk_buff *skb)
{
	return packet(skb, true);
}

SEC("cgroup_skb/ingress")
int warden_packet_in(struct __sk_buff *skb)
{
	return packet(skb, false);
}

/* Each connection noted above that is still open, with its traffic so far: run by the agent
 * over every TCP socket of the host now and then, and as it stops (a connection held for days
 * would else tell nothing until it ends, and nothing at all past the agent's stop). Each one
 * recorded also writes its key to the iterator's file: a read of it returns when the reader's
 * buffer is full (2,048 connections), and the agent drains the ring between reads, so that
 * however many connections are open, a look adds at most that many records to the ring at once. */
SEC("iter/tcp")
int warden_open_connections(struct bpf_iter__tcp *ctx)
{
	struct sock_common *skc = ctx->sk_common;
	if (!skc)
		return 0;
	u64 key = (u64)skc;
	struct connection *noted = bpf_map_lookup_elem(&CONNECTIONS, &key);
	if (!noted)
		return 0;
	struct connection c = *noted;
	u8 state = tcp_state(skc, TCP_CLOSE);
	if (state == TCP_CLOSE)
		return 0;
	if (bpf_ringbuf_query(&EVENTS, BPF_RB_AVAIL_DATA) > LOOK_RING_MAX) {
		dropped(KIND_NET);
		return 0;
	}
	traffic_record((struct sock *)skc, &c, state, NET_STILL_OPEN);
	bpf_seq_write(ctx->meta->seq, &key, sizeof(key));
	return 0;
}

/* A look at UDP socket `sk` and its traffic `t`: its ends read from it. */
static __noinline void look_at_datagram_socket(struct sock *sk, struct datagram_traffic *t)
{
	struct net_record r = {};
	u8 head[SOCK_HEAD];
	read_sock(sk, SOCK_DGRAM, &r, head);
	datagram_traffic_record(&r, t, NET_STILL_OPEN);
}

/* Each UDP socket with traffic counted above that is still open, with its traffic so far: run
 * by the agent beside the look at TCP connections (ICMP and raw sockets have no iterator: only
 * their ends are recorded). Bounded as that look is. */
SEC("iter/udp")
int warden_open_datagram_sockets(struct bpf_iter__udp *ctx)
{
	struct sock *sk = (struct sock *)ctx->udp_sk;
	if (!sk)
		return 0;
	struct datagram_traffic *t = bpf_sk_storage_get(&DATAGRAM_TRAFFIC, sk, 0, 0);
	if (!t || !t->since_ns)
		return 0;
	if (bpf_ringbuf_query(&EVENTS, BPF_RB_AVAIL_DATA) > LOOK_RING_MAX) {
		dropped(KIND_NET);
		return 0;
	}
	struct datagram_traffic copy = *t;
	look_at_datagram_socket(sk, &copy);
	u64 key = (u64)sk;
	bpf_seq_write(ctx->meta->seq, &key, sizeof(key));
	return 0;
}

/* Whether the connection on `sk` was taken by an accept, as far as the socket tells: it holds
 * the port a bind or a listen took (a listener's connections share its port's bucket), where a
 * connect's own port is one it chose (its bucket marked so). A connect from a port bound by
 * hand first is taken for an accept. */
static __always_inline bool accepted_guess(struct sock *sk)
{
	struct inet_bind_bucket *port = NULL;
	signed char fastreuse = -1;
	bpf_probe_read_kernel(&port, sizeof(port),
			      (void *)sk + bpf_core_field_offset(struct inet_connection_sock,
								 icsk_bind_hash));
	if (port)
		bpf_probe_read_kernel(&fastreuse, sizeof(fastreuse),
				      (void *)port + bpf_core_field_offset(struct inet_bind_bucket,
									   fastreuse));
	return fastreuse >= 0;
}

/* The TCP connection on socket file `file`, fd `fd` of `task`, found open as the agent starts
 * (its handshake under way, or done): noted as a connect's or an accept's would have been (the
 * first process found holding it keeps it), so that its end and the looks at it are recorded.
 * Whether an accept took an established one is guessed (accepted_guess). `since_ns` is now: when it was made is not kept. Returns whether
 * it was noted. */
static __noinline bool adopt_connection(struct task_struct *task, struct file *file, s32 fd)
{
	struct net_record r = {};
	struct sock *sk = read_socket_file(file, &r);
	if (!sk || r.protocol != IPPROTO_TCP || r.sock_type != SOCK_STREAM ||
	    (r.family != AF_INET && r.family != AF_INET6))
		return false;
	u8 state = tcp_state(sk, TCP_CLOSE);
	/* A listener is no connection. */
	if (state == TCP_CLOSE || state == TCP_LISTEN)
		return false;
	r.h.tgid = task->tgid;
	r.h.start_ns = task->group_leader->start_boottime;
	r.h.boot_ns = bpf_ktime_get_boot_ns();
	/* A handshake under way is a connect's (its outcome is not recorded: the connect was not
	 * seen; a failed one leaves its note with no end, as a recorded connect's does). */
	bool accepted = state != TCP_SYN_SENT && accepted_guess(sk);
	struct connection c = noted_by(&r, accepted, fd);
	c.accepted |= CONNECTION_FOUND_OPEN;
	/* A connection already noted (its connect or accept was recorded) keeps its note. */
	return keep_note(sk, &c, BPF_NOEXIST);
}

/* Each UDP, raw IP or ICMP socket open as the agent starts, with the first process found
 * holding it (threads sharing their leader's files are skipped by the kernel): run once by the
 * agent, then warden_adopt_udp_sockets (a raw or ICMP socket is taken up at its first packet
 * after: adopt_raw_socket). */
SEC("iter/task_file")
int warden_find_datagram_holders(struct bpf_iter__task_file *ctx)
{
	struct task_struct *task = ctx->task;
	struct file *file = ctx->file;
	if (!task || !file || task->tgid == warden_tgid)
		return 0;
	struct socket *socket = bpf_sock_from_file(file);
	struct sock *sk = socket ? socket->sk : NULL;
	if (!sk)
		return 0;
	u16 family = sk->__sk_common.skc_family;
	u16 type = sk->sk_type, protocol = sk->sk_protocol;
	if ((family != AF_INET && family != AF_INET6) ||
	    !((type == SOCK_DGRAM && protocol == IPPROTO_UDP) || raw_or_icmp(type, protocol)))
		return 0;
	struct datagram_holder holder = {
		.start_ns = task->group_leader->start_boottime,
		.tgid = task->tgid,
		.fd = ctx->fd,
		/* connect(2) on a datagram socket sets its state so. */
		.connected = sk->__sk_common.skc_state == TCP_ESTABLISHED,
	};
	u64 key = (u64)sk;
	bpf_map_update_elem(&DATAGRAM_HOLDERS, &key, &holder, BPF_NOEXIST);
	return 0;
}

/* Each UDP socket found held above, adopted: its traffic is counted from now on, for that
 * process, with its fd, and its end and the looks at it are recorded, marked found open (a
 * resolver's, a tunnel's, a backdoor's socket made before an upgrade). Which way its first
 * datagram went is guessed: a connected socket is a client's (sent first), an unconnected one a
 * server's. A socket counted already (a datagram went since the start) keeps its owner. Run
 * once, after the programs that count and record datagram sockets are attached. Each one
 * adopted writes its key to the iterator's file, so the agent counts them. */
SEC("iter/udp")
int warden_adopt_udp_sockets(struct bpf_iter__udp *ctx)
{
	struct sock *sk = (struct sock *)ctx->udp_sk;
	if (!sk)
		return 0;
	u64 key = (u64)sk;
	struct datagram_holder *found = bpf_map_lookup_elem(&DATAGRAM_HOLDERS, &key);
	if (!found)
		return 0;
	struct datagram_holder holder = *found;
	bpf_map_delete_elem(&DATAGRAM_HOLDERS, &key);
	struct datagram_traffic *t =
		bpf_sk_storage_get(&DATAGRAM_TRAFFIC, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!t || t->since_ns)
		return 0;
	t->tgid = holder.tgid;
	t->start_ns = holder.start_ns;
	t->fd = holder.fd;
	t->first_in = !holder.connected;
	t->found_open = 1;
	t->sk = key;
	t->since_ns = bpf_ktime_get_boot_ns();
	bpf_seq_write(ctx->meta->seq, &key, sizeof(key));
	return 0;
}

/* Each TCP connection open as the agent starts, over every process's open files (threads
 * sharing their leader's files are skipped by the kernel): the agent runs it once, after the
 * program at TCP state changes is attached. Without it, a connection made before the start (an
 * upgrade's, a restart's) would never have its end or its traffic recorded. Each one noted
 * writes its key to the iterator's file, so the agent counts them. */
SEC("iter/task_file")
int warden_adopt_connections(struct bpf_iter__task_file *ctx)
{
	struct task_struct *task = ctx->task;
	struct file *file = ctx->file;
	if (!task || !file || task->tgid == warden_tgid)
		return 0;
	u64 key = (u64)file;
	if (adopt_connection(task, file, ctx->fd))
		bpf_seq_write(ctx->meta->seq, &key, sizeof(key));
	return 0;
}

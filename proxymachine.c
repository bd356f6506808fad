/*
 * Copyright (c) 2026 The proxymachine authors.
 *
 * Permission is hereby granted, free of charge, to any person obtaining a
 * copy of this software and associated documentation files (the
 * "Software"), to deal in the Software without restriction, including
 * without limitation the rights to use, copy, modify, merge, publish,
 * distribute, sublicense, and/or sell copies of the Software, and to permit
 * persons to whom the Software is furnished to do so, subject to the
 * following conditions: see LICENSE.
 */

/*
 * proxymachine: a content-aware (layer 7) TCP routing proxy.
 *
 * For each client connection the bytes received so far are handed to a
 * router compiled into the program (router.h).  The router answers: wait
 * for more bytes, connect to a backend (optionally replacing the first
 * bytes and answering the client first), or close (optionally after a
 * reply).  Once connected, bytes are relayed both ways through bounded
 * buffers until both directions are done.  One process, one event loop
 * (epoll, kqueue or poll(2)), fixed pools: no allocation on the
 * per-connection path.  With -w N a master process forks N such processes
 * (workers) that share the listener and only supervises them.
 *
 * The file, in order: configuration and tunables; types and globals;
 * logging; addresses and tables (for the core and the routers); clock and
 * timers; the memory budget, buffers and splice pipes; descriptors; the
 * event layer (poll, epoll, kqueue); connections (directions, states,
 * routing, connecting, relaying, closing); timers and the process title;
 * the listener; stats, signals and shutdown; running as a service;
 * messages between processes; the resolver process and reloads; workers
 * (-w); the event loop and main().  Each section starts with a line
 * "--- name ---".  What static builds put in place of libc's is in
 * small.c.
 */

/* --- Configuration and tunables ---------------------------------- */

#ifdef __linux__
#define _GNU_SOURCE		/* accept4(2), SOCK_NONBLOCK */
#endif

#include <sys/types.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "router.h"

#ifdef PM_NO_MAIN
/* Built into the fuzz harnesses: what only main() uses is unused there. */
#if defined(__GNUC__) || defined(__clang__)
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-variable"
#endif
#endif

#if defined(__OpenBSD__) || defined(__FreeBSD__) || defined(__NetBSD__) || \
    defined(__DragonFly__)
#define HAVE_SETPROCTITLE
#endif

#ifdef __linux__
#include <sys/syscall.h>	/* close_range(2) */
#include <sched.h>		/* sched_getaffinity(2) */
#endif

/*
 * On Linux a stream that fills whole buffers is moved with splice(2)
 * through a pipe, socket to socket, so its bytes are not copied into the
 * proxy and out again.  -DPM_NO_SPLICE keeps read(2) and write(2).
 */
#if defined(__linux__) && !defined(PM_NO_SPLICE)
#define HAVE_SPLICE	1
#else
#define HAVE_SPLICE	0
#endif

/*
 * On Linux, syslog lines go to /dev/log from a few lines of our own:
 * musl's syslog(3) stamps them with the local time, which costs a static
 * binary the time zone code (8 KB) for a field syslogd fills in anyway.
 * -DPM_LIBC_SYSLOG keeps syslog(3).
 */
#if defined(__linux__) && !defined(PM_LIBC_SYSLOG)
#define HAVE_DEVLOG
#include <sys/un.h>
#endif

/*
 * Linux says EAGAIN to a write on a socket whose connect is in progress,
 * and the error once it failed: the first bytes can go at once.
 */
#ifdef __linux__
#define FD_EARLY_WRITE	1
#else
#define FD_EARLY_WRITE	0
#endif

/* The process title: setproctitle(3), or rewritten in argv on Linux. */
#ifdef HAVE_SETPROCTITLE
#define TITLE_IN_ARGV	0
#elif defined(__linux__)
#define TITLE_IN_ARGV	1
#else
#define TITLE_IN_ARGV	0
#endif

/* SIGINFO (^T on the BSDs) logs the stats where the system has it. */
#ifdef SIGINFO
#define SIG_INFO	SIGINFO
#else
#define SIG_INFO	0
#endif

/* Compilers without GNU attributes ignore them. */
#if !defined(__GNUC__) && !defined(__clang__) && !defined(__TINYC__)
#define __attribute__(x)
#endif

/*
 * The system's calls that differ, each with the portable path beside it:
 * the rest of the file calls these and knows no system.
 */

/* splice(2) of at most len bytes, non-blocking; ENOSYS where none is. */
static ssize_t
sys_splice(int from, int to, size_t len)
{
#if HAVE_SPLICE
	return splice(from, NULL, to, NULL, len,
	    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
#else
	(void)from;
	(void)to;
	(void)len;
	errno = ENOSYS;
	return -1;
#endif
}

/* pipe(2), both ends close-on-exec and non-blocking; returns 0 or -1. */
static int
sys_pipe(int fd[2])
{
#ifdef __linux__
	return pipe2(fd, O_NONBLOCK | O_CLOEXEC);
#else
	if (pipe(fd) == -1)
		return -1;
	if (fcntl(fd[0], F_SETFL, O_NONBLOCK) == -1 ||
	    fcntl(fd[1], F_SETFL, O_NONBLOCK) == -1 ||
	    fcntl(fd[0], F_SETFD, FD_CLOEXEC) == -1 ||
	    fcntl(fd[1], F_SETFD, FD_CLOEXEC) == -1) {
		close(fd[0]);
		close(fd[1]);
		return -1;
	}
	return 0;
#endif
}

/*
 * socket(2) and accept(2), non-blocking and close-on-exec at once where
 * the system can (SOCK_NONBLOCK, accept4); *later is set when the caller
 * must make them so itself.
 */
static int
sys_socket(int af, int *later)
{
#ifdef SOCK_NONBLOCK
	*later = 0;
	return socket(af, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
#else
	*later = 1;
	return socket(af, SOCK_STREAM, 0);
#endif
}

static int
sys_accept(int lfd, struct sockaddr *sa, socklen_t *len, int *later)
{
#ifdef __linux__
	*later = 0;
	return accept4(lfd, sa, len, SOCK_NONBLOCK | SOCK_CLOEXEC);
#else
	*later = 1;
	return accept(lfd, sa, len);
#endif
}

/* Shows t as the process title where setproctitle(3) does it; returns 1. */
static int
sys_setproctitle(const char *t)
{
#ifdef HAVE_SETPROCTITLE
	setproctitle("-%s", t);
	return 1;
#else
	(void)t;
	return 0;
#endif
}

/* pledge(2) and unveil(2) on OpenBSD; elsewhere they promise nothing. */
static int
sys_pledge(const char *promises)
{
#ifdef __OpenBSD__
	return pledge(promises, NULL);
#else
	(void)promises;
	return 0;
#endif
}

static int
sys_unveil(const char *path, const char *perms)
{
#ifdef __OpenBSD__
	return unveil(path, perms);
#else
	(void)path;
	(void)perms;
	return 0;
#endif
}

/* Closes every descriptor from lowfd up. */
static void
sys_closefrom(int lowfd)
{
#if defined(__OpenBSD__) || defined(__FreeBSD__) || defined(__NetBSD__) || \
    defined(__DragonFly__)
	closefrom(lowfd);
#else
	struct rlimit	 rl;
	rlim_t		 fd, hi = 65536;

#if defined(__linux__) && defined(SYS_close_range)
	if (syscall(SYS_close_range, (unsigned int)lowfd, ~0U, 0) == 0)
		return;
#endif
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		hi = rl.rlim_cur > 1048576 ? 1048576 : rl.rlim_cur;
	for (fd = (rlim_t)lowfd; fd < hi; fd++)
		(void)close((int)fd);
#endif
}

/* The CPUs online, or 1 when the system cannot say. */
static int
sys_ncpu(void)
{
	long		 n = -1;
#ifdef __linux__
	/* The CPUs we may run on, as musl's sysconf(3) counts them. */
	cpu_set_t	 cpus;

	if (sched_getaffinity(0, sizeof(cpus), &cpus) == 0)
		n = CPU_COUNT(&cpus);
#elif defined(_SC_NPROCESSORS_ONLN)
	n = sysconf(_SC_NPROCESSORS_ONLN);
#endif
	return n < 1 ? 1 : n > INT_MAX ? INT_MAX : (int)n;
}

/*
 * Syslog: opened when the proxy detaches (and again in the resolver, which
 * closes every descriptor it does not know), for facility daemon, each
 * line with the pid of the process that sends it.
 */
#ifdef HAVE_DEVLOG
static int	 devlog = -1;

static void
syslog_close(void)
{
	if (devlog != -1)
		close(devlog);
	devlog = -1;
}

/* Connects to /dev/log; until that works, lines are dropped. */
static void
syslog_open(void)
{
	struct sockaddr_un	 sun;

	syslog_close();
	if ((devlog = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, "/dev/log", sizeof("/dev/log"));
	if (connect(devlog, (struct sockaddr *)&sun, sizeof(sun)) == -1)
		syslog_close();
}

/*
 * Sends "<PRI>proxymachine[PID]: msg", connecting again once when syslogd
 * has gone (restarted) or was not there.
 */
static void
syslog_send(int prio, const char *msg)
{
	char	 b[1280];
	int	 n, again;

	n = snprintf(b, sizeof(b), "<%d>proxymachine[%ld]: %s",
	    LOG_DAEMON | prio, (long)getpid(), msg);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(b))
		n = sizeof(b) - 1;
	for (again = 0; again < 2; again++) {
		if (devlog != -1 && send(devlog, b, (size_t)n, 0) != -1)
			return;
		if (devlog != -1 && errno != ECONNREFUSED &&
		    errno != ECONNRESET && errno != ENOTCONN && errno != EPIPE)
			return;
		syslog_open();
	}
}
#else
static void
syslog_open(void)
{
	openlog("proxymachine", LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

static void
syslog_close(void)
{
	closelog();
}

static void
syslog_send(int prio, const char *msg)
{
	syslog(prio, "%s", msg);
}
#endif

/*
 * Tunables.  Each can be overridden at build time with -DNAME=value (the
 * Makefile passes MAXCONN and BUFSIZE through).
 */
#ifndef PM_VERSION
#define PM_VERSION		"0.1.0"
#endif
/*
 * Connection slots: each costs about 500 bytes of address space, touched
 * only once used, and two descriptors.
 */
#ifndef PM_MAXCONN
#define PM_MAXCONN		4096
#endif
/* PM_BUFSIZE, the bytes buffered per direction, is in router.h. */
/*
 * The memory budget for buffers, in MiB, unless -m says otherwise: 8 MiB
 * is 128 buffers of 64 KiB, 64 busy connections at once, and fits a box
 * of 32 MiB.  It is reserved once at start-up and touched as it is used.
 */
#ifndef PM_MEMORY
#define PM_MEMORY		8
#endif
/*
 * Replies this long at most (a SOCKS answer, a git ERR line, the two held
 * for a connect) are kept in the connection itself, so that answering
 * never waits for the budget; it costs each slot that much.
 */
#ifndef PM_REPLYMAX
#define PM_REPLYMAX		512
#endif
/*
 * When the budget is spent and a reader waits, a client not routed after
 * this long gives its buffer up (it is closed), the oldest first: a few
 * clients that send a byte and stall cannot hold the budget.
 */
#ifndef PM_RECLAIM_MS
#define PM_RECLAIM_MS		2000
#endif
#define MEMORY_STR1(m)		#m
#define MEMORY_STR(m)		MEMORY_STR1(m)	/* as -m says it */
/* A free buffer unused this long gives its memory back to the system. */
#ifndef PM_BUF_IDLE_MS
#define PM_BUF_IDLE_MS		1000
#endif
/* A client must be routed within this many milliseconds. */
#ifndef PM_ROUTE_TIMEOUT
#define PM_ROUTE_TIMEOUT	30000
#endif
/*
 * The routers' name lookups (PM_LOOKUP, for a router with router_lookups
 * set): each serving process (each worker, or the one) has PM_RESOLVERS
 * resolver processes of its own, each running one lookup at a time, so
 * that a name server that never answers holds only the lookups it was
 * given; up to PM_LOOKUPS lookups wait for one or run (more fail at once,
 * busy); each gets PM_LOOKUP_TIMEOUT, waiting included, unless the route
 * that asks sets connect_ms.  Each resolver process costs its memory.
 */
#ifndef PM_RESOLVERS
#define PM_RESOLVERS		4
#endif
#ifndef PM_LOOKUPS
#define PM_LOOKUPS		64
#endif
#ifndef PM_LOOKUP_TIMEOUT
#define PM_LOOKUP_TIMEOUT	5000
#endif
/* Failed connects are retried this many times, PM_RETRY_MS apart. */
#ifndef PM_CONNECT_RETRIES
#define PM_CONNECT_RETRIES	10
#endif
#ifndef PM_RETRY_MS
#define PM_RETRY_MS		100
#endif
/* On TERM and INT, connections get this long to finish. */
#ifndef PM_TERM_GRACE
#define PM_TERM_GRACE		10000
#endif
/* Once one side failed, the other gets this long to take what is left. */
#ifndef PM_FLUSH_TIMEOUT
#define PM_FLUSH_TIMEOUT	5000
#endif
/* A reply before a close must be taken by the client within this. */
#ifndef PM_CLOSE_TIMEOUT
#define PM_CLOSE_TIMEOUT	30000
#endif
/* After a reply, wait this long for the client's close (lingering). */
#ifndef PM_LINGER_MS
#define PM_LINGER_MS		2000
#endif
/* Rounds of read and write per stream and wake-up, at most. */
#ifndef PM_RELAY_ROUNDS
#define PM_RELAY_ROUNDS		4
#endif
/* Events taken from epoll or kqueue per wake-up, at most. */
#ifndef PM_EVENTS
#define PM_EVENTS		256
#endif
/* Connections accepted per wake-up, at most. */
#ifndef PM_ACCEPT_BATCH
#define PM_ACCEPT_BATCH		64
#endif
/* After EMFILE or ENFILE on accept, stop accepting for this long. */
#ifndef PM_ACCEPT_PAUSE
#define PM_ACCEPT_PAUSE		1000
#endif
/*
 * Descriptors kept for the listener, the log and the signal pipe (and one
 * more for each listener past the first).
 */
#ifndef PM_RESERVE_FDS
#define PM_RESERVE_FDS		16
#endif
/* splice(2): pipes open at most, two descriptors each. */
#ifndef PM_PIPES
#define PM_PIPES		64
#endif
/*
 * Workers (-w) at most, and how often each may be restarted (the resolver
 * process as well).
 */
#ifndef PM_MAXWORKERS
#define PM_MAXWORKERS		64
#endif
#ifndef PM_RESPAWN_MS
#define PM_RESPAWN_MS		1000
#endif
/*
 * Listeners (each -h at each -p and -a) at most: each costs a descriptor
 * and a few hundred bytes.  PM_TINY (below) takes one, as the original.
 */
#ifndef PM_LISTENERS
#ifdef PM_TINY
#define PM_LISTENERS		1
#else
#define PM_LISTENERS		8
#endif
#endif
/*
 * A PROXY header from a load balancer in front (-a): its most bytes (v1
 * takes 107; v2 16 and its addresses, 232 with Unix sockets, and its
 * extensions), and how long it may take to arrive whole.
 */
#ifndef PM_PROXYIN_MAX
#define PM_PROXYIN_MAX		512
#endif
#ifndef PM_PROXYIN_MS
#define PM_PROXYIN_MS		3000
#endif
/*
 * A table file is read whole, up to this many bytes.  On reload the
 * resolver sends its text back with the answers to its lookups, in a
 * message of at most PM_MSG_MAX bytes (memory taken only while a reload
 * is in flight).
 */
#ifndef PM_TABLE_MAX
#define PM_TABLE_MAX		(1024 * 1024)
#endif
#ifndef PM_MSG_MAX
#define PM_MSG_MAX		(4 * PM_TABLE_MAX)
#endif

/*
 * Size knobs, for static binaries.  Each says what it saves in a static,
 * stripped musl build on x86_64 (text+data of the git router, as make
 * size measures it, with the knobs above it in the list); define one with
 * -D.
 *
 * PM_SMALL, which make static and make size set when they build with
 * musl, puts a few lines of our own (small.c, the small libc) in place of
 * what libc brings; no feature goes.  For Linux (musl, or glibc without
 * _FORTIFY_SOURCE):
 *   PM_SMALL_PRINTF	snprintf, vsnprintf, err, errx and warnx: the
 *			integer conversions, no floating point	11.5 KiB
 *   PM_SMALL_MALLOC	malloc and its kin: a mapping per block (enough:
 *			nothing allocates per connection)	 8.5 KiB
 *   PM_SMALL_GETOPT	getopt_long: options end at the first
 *			operand (the proxy takes none)		 3.5 KiB
 *   PM_SMALL_PASSWD	getpwnam for -u: /etc/passwd, no nscd	 5.5 KiB
 *   PM_SMALL_SYSCALL	fork, setuid, setgid, setgroups, setrlimit,
 *			fcntl, open: bare system calls (one thread;
 *			fork needs _Fork, musl 1.2.2 or glibc
 *			2.34)					 4.0 KiB
 *   PM_SMALL_LOOKUP	qsort, strstr and mbstowcs (the C locale's),
 *			for getaddrinfo: short and slow		 4.5 KiB
 *
 * PM_TINY (make tiny) is PM_SMALL, and leaves out:
 *   PM_NUMERIC		host names: -h and the tables take numeric
 *			addresses only (no getaddrinfo), and a
 *			router's PM_LOOKUP fails at once (no
 *			resolver processes for lookups)		21.0 KiB
 *   PM_NO_WORKERS	-w: one process				 3.9 KiB
 *   PM_NO_PROXYPROTO	the PROXY protocol: no -a, and a route
 *			that asks for a header (proxy=1 or 2) is
 *			refused as its backend would be: its
 *			fail reply, then the close		 2.4 KiB
 * and sets PM_LISTENERS (above) to 1: one -h, one -p	 0.2 KiB
 * and on its own:
 *   PM_NO_PRIVDROP	-u and -t: it runs as it was started	 1.4 KiB
 */
#ifdef PM_TINY
#define PM_NUMERIC
#define PM_NO_WORKERS
#define PM_NO_PROXYPROTO
#endif

/*
 * The knobs as constants, for code that the compiler drops when one is
 * off, and what usage() and -V say of them.  PM_TEST_HOOKS is set for the
 * test binaries only (see test_lookup_delay()).
 */
#ifdef PM_NUMERIC
#define HAVE_NAMES	0
#define LEFT_N		", numeric addresses only"
#else
#define HAVE_NAMES	1
#define LEFT_N		""
#endif
/* A name without an address: not in POSIX, so not everywhere. */
#ifndef EAI_NODATA
#define EAI_NODATA	EAI_NONAME
#endif
#ifdef PM_NO_WORKERS
#define HAVE_WORKERS	0
#define USAGE_W		""
#define HELP_W		""
#define LEFT_W		", no -w"
#else
#define HAVE_WORKERS	1
#define USAGE_W		" [-w workers]"
#define HELP_W		"  -w, --workers N       N processes share the port " \
			"(0: one per CPU)\n"
#define LEFT_W		""
#endif
#ifdef PM_NO_PROXYPROTO
#define HAVE_PROXYPROTO	0
#define USAGE_A		""
#define HELP_A		""
#define OR_A		""
#define LEFT_A		", no PROXY protocol"
#else
#define HAVE_PROXYPROTO	1
#define USAGE_A		" [-a port]"
#define HELP_A		"  -a, --accept-proxy PORT  as -p, for a PROXY " \
			"header first\n"
#define OR_A		" and -a"
#define LEFT_A		""
#endif
#if PM_LISTENERS > 1
#define HELP_LIS	"      (-h, -p" OR_A " repeat: each host at each " \
			"port, " MEMORY_STR(PM_LISTENERS) " at most)\n"
#else
#define HELP_LIS	""
#endif
#ifdef PM_NO_PRIVDROP
#define HAVE_PRIVDROP	0
#define USAGE_TU	""
#define HELP_TU		""
#define LEFT_TU		", no -u or -t"
#else
#define HAVE_PRIVDROP	1
#define USAGE_TU	" [-t dir] [-u user]"
#define HELP_TU		"  -t, --chroot DIR      chroot to DIR after " \
			"binding\n" \
			"  -u, --user USER       run as USER after binding\n"
#define LEFT_TU		""
#endif
#ifdef PM_TEST_HOOKS
#define TEST_HOOKS	1
#else
#define TEST_HOOKS	0
#endif

#if PM_BUFSIZE < 512 || PM_BUFSIZE > 1048576
#error "PM_BUFSIZE must be between 512 and 1048576"
#endif
#if PM_MAXCONN < 1
#error "PM_MAXCONN must be positive"
#endif
#if PM_RESOLVERS < 1 || PM_LOOKUPS < 1 || PM_LOOKUPS > 65535
#error "PM_RESOLVERS must be positive, PM_LOOKUPS from 1 to 65535"
#endif
#if PM_TABLE_MAX < 1 || PM_MSG_MAX <= PM_TABLE_MAX || PM_MSG_MAX > 0x7fffffff
#error "PM_MSG_MAX must be larger than PM_TABLE_MAX and below 2 GiB"
#endif

#define TIME_NEVER	UINT64_MAX
/* How often a repeated line may be written, and shutdown progress said. */
#define SAY_EVERY_MS	1000

/* How a shutdown goes: QUIT waits for everyone, TERM and INT not long. */
#define STOP_GRACEFUL	1
#define STOP_FAST	2

/* The older name is the one every system has. */
#if !defined(MAP_ANON) && defined(MAP_ANONYMOUS)
#define MAP_ANON	MAP_ANONYMOUS
#endif

/* limits.h may leave them out (then pathconf(2) knows); POSIX's least. */
#ifndef PIPE_BUF
#define PIPE_BUF	512
#endif
#ifndef PATH_MAX
#define PATH_MAX	256
#endif

/* --- Types and globals ------------------------------------------ */

enum cstate {
	C_FREE,		/* slot unused */
	C_ROUTING,	/* reading the client, asking the router */
	C_LOOKUP,	/* reading the client, a name being looked up */
	C_CONNECTING,	/* connect(2) to the backend in progress */
	C_RETRYWAIT,	/* waiting PM_RETRY_MS before the next attempt */
	C_RELAY,	/* relaying both ways */
	C_CLOSING	/* writing a last reply to the client, then closing */
};

/* Connection flags. */
#define F_BDATA		0x0001	/* the backend has sent a byte */
#define F_LINGER	0x0002	/* closing: reply written, draining */
/* A PROXY header is still to come (never in a build without -a). */
#define F_PROXYIN	(HAVE_PROXYPROTO ? 0x0004 : 0)
#define F_LOCAL		0x0008	/* LOCAL(c) is known */
#define F_UNROUTED	0x0010	/* routing: ask once the reply is out */
#define F_EXPIRED	0x0020	/* and with expired set */

/* What the I/O helpers return besides a count: see buf_read(). */
#define IO_ERROR	(-1)	/* failed, errno set */
#define IO_AGAIN	(-2)	/* nothing now: wait for the descriptor */
#define IO_NOSPLICE	(-3)	/* the kernel cannot splice from it */
#define IO_NOBUF	(-4)	/* no buffer to read into: wait for one */

/*
 * Bytes in one direction; p is NULL while the buffer is empty.  With
 * splice(2) the bytes of a bulk stream wait in a pipe instead, and len
 * counts them there; the buffer and the pipe are never both in use.
 */
struct buf {
	unsigned char	*p;
	uint32_t	 off;
	uint32_t	 len;
	int		 pipe;		/* pipes[] index + 1, 0: none */
	unsigned char	 bulk;		/* a read filled the buffer: splice */
	unsigned char	 full;		/* the pipe took no more: write first */
	unsigned char	 inl;		/* p is its connection's own area */
};

/* One socket of a connection. */
struct side {
	int		 fd;		/* -1 when closed */
	unsigned char	 dead;		/* failed: no more I/O on it */
};

/* One direction: the bytes read from one side and written to the other. */
struct dir {
	struct conn	*conn;
	struct side	*from;
	struct side	*to;
	struct dir	*wnext;		/* waiting: the next in line */
	struct buf	 buf;
	uint64_t	 n;		/* bytes written to its sink */
	unsigned char	 eof;		/* its source sent its end of file */
	unsigned char	 shut;		/* its sink's write side is shut */
	unsigned char	 held;		/* its bytes wait for the connect */
	unsigned char	 waiting;	/* in line for a buffer */
};

/* What one step of a direction did. */
struct moved {
	ssize_t		 got;		/* the read: count, 0, IO_*, */
	ssize_t		 put;		/* bytes written */
	int		 rd, wr;	/* a read, a write was tried */
	int		 more;		/* a read filled what a write emptied */
};
enum { DIR_OK, DIR_FROM, DIR_TO };	/* dir_step(): what failed */
#define MORE_UP		1	/* conn_relay(): up has likely more to read */
#define MORE_DOWN	2	/* and down */

struct conn {
	enum cstate	 state;
	struct side	 client;
	struct side	 backend;
	struct dir	 up;		/* client to backend */
	struct dir	 down;		/* backend to client */
	unsigned int	 flags;
	int		 tries;		/* connect attempts made */
	uint64_t	 id;
	uint64_t	 born;		/* when accepted, ms */
	uint64_t	 deadline;	/* this state's timer, 0: none */
	uint64_t	 wait;		/* routing: ask again at, 0: none */
	uint32_t	 heldok;	/* down.held: the reply once connected, */
	uint32_t	 heldfail;	/* then the one if that fails */
	unsigned char	 lis;		/* the listener it came in on */
	unsigned char	 hdr;		/* PROXY header bytes in front of up */
	int		 lookup;	/* lookups[] index + 1, 0: none */
	int		 lkstatus;	/* a lookup failed at once, else -1 */
	const char	*lkwhy;		/* why a lookup failed, for the log */
	const char	*endwhy;	/* closing: why, for the log */
	const char	*lastwhy;	/* why the last connect failed */
	struct pm_route	 route;
	struct sockaddr_storage peer;
};

static struct conn	 conns[PM_MAXCONN];
/*
 * Each slot's note from the router and its small replies, apart from the
 * slots so that an idle connection's memory does not grow by them.
 */
static char		 notes[PM_MAXCONN][PM_NOTEMAX];
static unsigned char	 replies[PM_MAXCONN][PM_REPLYMAX];
/* And the address each client connected to, for PROXY headers. */
static struct sockaddr_in6 locals[PM_MAXCONN];
#define NOTE(c)		(notes[(c) - conns])
#define REPLIES(c)	(replies[(c) - conns])
#define LOCAL(c)	(&locals[(c) - conns])
static int		 slotfree[PM_MAXCONN];
static int		 nslotfree;
static int		 slotfresh;		/* never used yet: from */
static int		 hiwater = -1;		/* highest slot in use */
static unsigned char	*pool;			/* the budget, mapped once */
static size_t		 poolsize;		/* its bytes */
static unsigned char	*mybufs;		/* this process's share */
static int		 nbuf;			/* buffers in it */
static int		 bufreserve;		/* kept from readers */
static unsigned char	**buffree;		/* free: last freed on top */
static uint64_t		*buffreed;		/* when each was freed */
static int		 nbuffree;
static int		 bufcold;		/* the first ones: given back */
static int		 buffresh;		/* never used yet: from */
static struct dir	*waithead;		/* readers waiting for one */
static struct dir	*waittail;
static unsigned char	 scratch[4096];		/* bytes to throw away */
static struct {
	int		 r, w;
} pipes[PM_PIPES];
static int		 pipefree[PM_PIPES];	/* open, empty, unused */
static int		 npipefree;
static int		 pipeunmade[PM_PIPES];	/* closed */
static int		 npipeunmade;
static int		 npipes;		/* open */
static uint64_t		 pipe_retry;		/* pipe(2) failed: not before */
static int		 splice_off;		/* the kernel refused it */
static int		 pipemax = PM_PIPES;	/* what the budget leaves */

static int		 maxconn;		/* usable slots */
static int		 nconn;			/* slots in use */
static int		 nconn_max;		/* most slots ever in use */
static uint64_t		 nconn_total;		/* connections accepted */

static uint64_t		 now;			/* monotonic ms */
static uint64_t		 next_timer = TIME_NEVER;	/* lower bound */

/* The listeners, in the order -h and -p name them. */
static struct listener {
	int		 fd;
	int		 proxy;			/* expects a PROXY header */
	struct sockaddr_storage ss;		/* what it is bound to */
	socklen_t	 sslen;
	char		 addr[PM_ADDRSTRLEN];	/* the same, as text */
	uint64_t	 accepted;
} lis[PM_LISTENERS];
static int		 nlis;
/* Every listener's address, for the title and the log. */
static char		 laddr[PM_LISTENERS * (PM_ADDRSTRLEN + 8)];
static uint64_t		 accept_resume;		/* paused until, 0: not */
static int		 accept_failing;	/* said so in the log */
static int		 pool_full;		/* said so in the log */

static int		 sigpipe[2] = { -1, -1 };
static volatile sig_atomic_t got_quit, got_term, got_hup, got_stats;
static volatile sig_atomic_t got_chld, got_now;
static int		 stopping;		/* 0, STOP_GRACEFUL, STOP_FAST */
static uint64_t		 stop_deadline;		/* fast: force at */
static uint64_t		 stop_said;		/* last progress line */
static int		 stop_left = -1;	/* conns at that line */

static struct conn	*routing;		/* in router_route() */

/*
 * Tables load in one of three modes.  LOAD_FILE (start-up): pm_conf_read()
 * reads the file and addr_lookup() asks getaddrinfo(3).  LOAD_RECORD (the
 * resolver process, on a reload): the same, and each text read and each
 * answer is kept in rec, to be sent back.  LOAD_REPLAY (where the table
 * serves): both answer from that record, so router_load() reads no file
 * and waits for no name server.
 */
enum load_mode { LOAD_FILE, LOAD_RECORD, LOAD_REPLAY };
static enum load_mode	 load_mode;
static struct {
	unsigned char	*p;
	size_t		 len, cap;
	int		 full;		/* it outgrew PM_MSG_MAX */
} rec;
static const unsigned char *replay;	/* the records, in LOAD_REPLAY */
static size_t		 replaylen;

static const char	*conf_path;
static int		 verbosity = PM_LOG_INFO;	/* the last level logged */
static int		 stamped = 1;		/* lines start with the time */
static int		 use_syslog;		/* detached: log there */
static const char	*pidfile;

/*
 * Messages between the processes (the same program on the same host, so
 * in its own byte order): a header of a body length, a type and a request
 * id, then the body.  A message in memory is a blob, shared by count.
 */
#define MSG_HDR		12
#define M_RELOAD	1	/* to the resolver: load the table; no body */
#define M_TABLE		2	/* its answer, passed on to the workers */
#define M_LOOKUP	3	/* to a resolver: family, port, name */
#define M_ADDR		4	/* its answer: status, count, addresses */

struct blob {
	int		 refs;
	size_t		 len;		/* of data: header and body */
	unsigned char	 data[];
};

/* A message being read: the header, then a blob for the whole of it. */
struct msgin {
	unsigned char	 hdr[MSG_HDR];
	size_t		 got;		/* bytes of it so far */
	struct blob	*b;		/* once the header is in */
};

/* A message being written; b is NULL when there is none. */
struct msgout {
	struct blob	*b;
	size_t		 off;		/* bytes of it written */
};

/*
 * The resolver: the child process that loads the table on reload (seen
 * from the process that serves, or from the master).
 */
static struct {
	pid_t		 pid;		/* 0: not running */
	int		 fd;		/* our end of the socket, -1: none */
	uint64_t	 born;		/* started at, ms */
	uint32_t	 id;		/* of the last request */
	int		 busy;		/* a reload is in flight */
	int		 again;		/* HUP meanwhile: load once more */
	struct msgin	 in;
	struct msgout	 out;
} rsv = { 0, -1, 0, 0, 0, 0, { { 0 }, 0, NULL }, { NULL, 0 } };
static int		 in_resolver;		/* this is the resolver */

/*
 * The routers' lookups: each waits for a resolver process (asked 0) or
 * runs in one.  Its id is its generation (16 bits, never 0) and its
 * index, so that a late answer for a slot taken again is known.
 */
struct lookup {
	uint32_t	 id;		/* 0: free */
	int		 slot;		/* the connection's */
	int		 asked;		/* lkp[] index + 1, 0: waiting */
	uint64_t	 seq;		/* order of arrival */
	int		 port;
	int		 family;
	size_t		 hostlen;
	char		 host[PM_HOSTMAX];
};
static struct lookup	 lookups[PM_LOOKUPS];
static int		 nlookups;		/* in use */
static uint32_t		 lookup_gen;		/* the last generation */
static uint64_t		 lookup_seq;

/* An answer to a lookup: status, count, then each address whole. */
#define LK_ADDR		(4 + sizeof(struct sockaddr_storage))
#define LK_ANSMAX	(MSG_HDR + 8 + PM_ANSWERMAX * LK_ADDR)

/* A resolver process for lookups, seen from the process it serves. */
struct lkproc {
	pid_t		 pid;		/* 0: none */
	int		 fd;		/* -1: none */
	uint32_t	 busy;		/* the lookup asked, 0: idle */
	size_t		 got;		/* bytes of its answer so far */
	unsigned char	 in[LK_ANSMAX];
};
static struct lkproc	 lkp[PM_RESOLVERS];	/* this process's */
static int		 nlkp;			/* of them, running */
/* The master's: those of each worker, row k for worker k. */
static struct {
	pid_t		 pid;
	int		 fd;
} lkrow[PM_MAXWORKERS + 1][PM_RESOLVERS];
static struct pm_answer	 answer;		/* the one being delivered */

/*
 * Workers (-w): worker is 1..nworkers in one, 0 in the master or alone.
 * nworkers is what -w set (nworkers_w); without HAVE_WORKERS it is the
 * constant 1, and the master's code goes.
 */
static int		 nworkers_w = 1;
#define nworkers	(HAVE_WORKERS ? nworkers_w : 1)
static int		 worker;
static char		 wtag[16];		/* "wK " in a worker's log */
static int		 master_fd = -1;	/* a worker's pipe from it */
static struct msgin	 master_in;		/* what came down it */
static struct {
	pid_t		 pid;		/* 0: not running */
	uint64_t	 born;		/* started at, ms */
	int		 fd;		/* the master's pipe to it, -1: none */
	struct msgout	 out;		/* the table being sent to it */
	int		 stale;		/* a newer table is to follow */
} workers[PM_MAXWORKERS + 1];
static uint64_t		 respawns;		/* workers restarted */
static struct blob	*table;			/* master: the last reload */

/* What the stats line (SIGUSR1, SIGINFO) reports. */
static struct {
	uint64_t	 up, down;		/* bytes of closed conns */
	uint64_t	 connect_errors;	/* attempts all failed */
	uint64_t	 connect_retries;
	uint64_t	 idle_timeouts;
	uint64_t	 route_timeouts;
	uint64_t	 route_full;
	uint64_t	 router_closes;
	uint64_t	 client_errors;
	uint64_t	 backend_errors;
	uint64_t	 accept_errors;
	uint64_t	 local_errors;		/* no socket for a backend */
	uint64_t	 buf_waits;		/* readers put in line */
	uint64_t	 route_reclaimed;	/* closed for their buffer */
	uint64_t	 self_refused;		/* destination: ourselves */
	uint64_t	 proxy_bad;		/* PROXY headers refused */
	uint64_t	 spliced;		/* bytes moved with splice */
} st;
static int		 title_dirty = 1;

static char		 logbuf[16384];
static size_t		 loglen;

/* A problem that many connections may meet: said once a second at most. */
struct burst {
	uint64_t	 said;		/* last said, ms; 0: never */
	uint64_t	 n;		/* seen since, not said */
};
static struct burst	 local_burst;	/* no socket for a backend */
static struct burst	 self_burst;	/* a destination: ourselves */
static struct burst	 connect_burst;	/* a backend could not be had */
static struct burst	 silent_burst;	/* a backend said nothing */
static struct burst	 wait_burst;	/* readers wait for a buffer */
static struct burst	 lookup_burst;	/* too many lookups at once */
static struct burst	 proxy_burst;	/* a PROXY header this build lacks */

/*
 * Prototypes of the static functions, section by section in the order
 * of the file (the event layer's backends declare their own).
 */
/* Configuration and tunables. */
static ssize_t	sys_splice(int, int, size_t);
static int	sys_pipe(int[2]);
static int	sys_socket(int, int *);
static int	sys_accept(int, struct sockaddr *, socklen_t *, int *);
static int	sys_setproctitle(const char *);
static int	sys_pledge(const char *);
static int	sys_unveil(const char *, const char *);
static void	sys_closefrom(int);
static int	sys_ncpu(void);
static void	syslog_close(void);
static void	syslog_open(void);
static void	syslog_send(int, const char *);
/* Logging. */
static void	log_flush(void);
static void	log_stamp(char *, size_t, time_t);
static void	log_line(int, const char *, va_list);
static void	log_at(int, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static void	log_warnx(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
static void	log_errno(int, const char *, va_list);
static void	log_warn(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
static void	fatalx(const char *, ...)
		    __attribute__((format(printf, 1, 2), noreturn));
static void	fatal(const char *, ...)
		    __attribute__((format(printf, 1, 2), noreturn));
static uint64_t	burst_say(struct burst *);
static const char *burst_tail(uint64_t, char *, size_t);
/* Addresses and tables, for the core and the routers. */
static void	addr_ntop4(const unsigned char *, char *, size_t);
static void	addr_ntop6(const unsigned char *, char *, size_t);
static void	rec_put(const void *, size_t);
static void	rec_item(int, const char *, size_t, const void *, size_t);
static int	replay_find(int, int, const char *, size_t,
		    const unsigned char **, size_t *);
static void	test_lookup_delay(const char *);
static int	addr_numeric(const char *, in_port_t,
		    struct sockaddr_storage *, socklen_t *);
static long	num_parse(const char *, long);
static int	addr_resolve(const char *, const char *, int,
		    struct sockaddr_storage *, socklen_t *, char *, size_t);
static int	addr_lookup(const char *, const char *, int,
		    struct sockaddr_storage *, socklen_t *, char *, size_t);
static const struct sockaddr *addr_unmap(const struct sockaddr *,
		    struct sockaddr_in *);
static in_port_t	addr_port(const struct sockaddr *);
static size_t	addr_bytes(const struct sockaddr *, const unsigned char **);
static int	addr_cmp(const struct sockaddr *, const struct sockaddr *);
static int	addr_local(const struct sockaddr *);
static int	addr_is_self(const struct sockaddr *);
static int	conf_slurp(const char *, char **, size_t *, char *, size_t);
static int	conf_uncomment(char *);
static int	conf_lines(const char *, const char *, size_t,
		    int (*)(void *, char *, char *, size_t), void *, char *,
		    size_t);
/* Clock and timers. */
static uint64_t	clock_ms(void);
static void	timer_set(struct conn *, uint64_t);
/* The memory budget, buffers and splice pipes. */
static void	pool_init(void);
static void *mem_map(void *, size_t, int);
static int	mem_parse(const char *, uint64_t *);
static void	mem_init(uint64_t, const char *);
static void	mem_share(void);
static int	buf_get(struct buf *, int);
static uint64_t	mem_trim(void);
static void	dir_wait(struct dir *);
static void	mem_reclaim(void);
static void	dir_unwait(struct dir *);
static int	pipes_fit(int);
static void	pipe_close(int);
static int	pipe_get(struct buf *);
static void	pipe_put(struct buf *);
static void	pipe_trim(int);
static ssize_t	pipe_in(int, struct buf *);
static ssize_t	pipe_out(int, struct buf *);
static void	buf_put(struct buf *);
static void	buf_free(unsigned char *);
static size_t	buf_room(struct buf *);
static int	buf_takes(const struct buf *);
static ssize_t	buf_read(int, struct buf *);
static ssize_t	buf_write(int, struct buf *);
static int	buf_append(struct buf *, const void *, size_t);
static void	buf_inline(struct buf *, unsigned char *, size_t);
static int	buf_set(struct buf *, const void *, size_t);
static int	buf_prepend(struct buf *, const void *, size_t);
static void	buf_trim(struct buf *, size_t, size_t);
static void	buf_bulk(struct buf *);
/* Descriptors. */
static ssize_t	fd_read(int, void *, size_t);
static ssize_t	fd_write(int, const void *, size_t);
static ssize_t	fd_drain(int);
static int	fd_socket(int);
static int	fd_setup(int);
static void	fd_nodelay(int);
static int	fd_error(int);
/* The event layer. */
static void	ev_note(int);
static void	ev_knone(int);
static void	ev_kinit(void);
static void	ev_close(void);
static int	ev_wait(int);
static void	ev_init(void);
static void	ev_set(int, int, short);
static void	ev_forget(int);
static void	ev_fresh(int);
static short	ev_take(int);
/* Connections. */
static void	conn_close_backend(struct conn *);
static void	dir_init(struct dir *, struct conn *, struct side *,
		    struct side *);
static uint64_t	conn_upn(const struct conn *);
static void	conn_new(int, struct sockaddr_storage *, int);
static void	conn_close(struct conn *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static void	conn_log(struct conn *, const char *);
static void	conn_close_all(void);
static void	conn_hook(struct conn *, void (*)(const struct pm_route *));
static int	dir_reads(const struct dir *);
static int	dir_drains(const struct dir *);
static int	dir_writes(const struct dir *);
static int	dir_done(const struct dir *);
static short	dir_in(const struct dir *);
static short	dir_out(const struct dir *);
static int	dir_step(struct dir *, short, short, struct moved *);
static void	conn_events(struct conn *);
static size_t	proxy_header(const struct conn *, int, unsigned char *);
static int	conn_proxy(struct conn *);
static void	addr_make(void *, size_t, const unsigned char *,
		    const unsigned char *);
static int	proxy_parse(const unsigned char *, size_t,
		    struct sockaddr_storage *, struct sockaddr_in6 *,
		    const char **);
static int	conn_proxyin(struct conn *);
static int	conn_route(struct conn *, int);
static int	conn_decide(struct conn *, int, const struct pm_answer *);
static int	conn_wait(struct conn *);
static int	conn_route_close(struct conn *);
static int	conn_lookup(struct conn *);
static int	conn_answer(struct conn *, int);
static void	lookup_drop(struct conn *);
static void	lookup_dispatch(void);
static void	lookup_io(int);
static struct blob *lookup_answer(const struct blob *);
static int	lookup_fork(const struct passwd *, int, pid_t *, int *);
static int	lookups_start(const struct passwd *);
static void	lookups_take(int);
static void	lookups_watch(void);
static void	lookup_lost(int, const char *);
static int	conn_route_remote(struct conn *);
static int	conn_connect(struct conn *);
static int	conn_connect_done(struct conn *, short);
static int	conn_connect_failed(struct conn *, const char *, int);
static void	conn_bound(struct conn *);
static int	conn_giveup(struct conn *, const char *);
static int	conn_finish(struct conn *);
static int	conn_finish_io(struct conn *, short);
static int	conn_client_gone(struct conn *, int);
static int	conn_backend_gone(struct conn *, int, const char *);
static int	conn_side_gone(struct conn *, struct side *, int);
static int	conn_check(struct conn *);
static int	conn_client_eof(struct conn *);
static int	conn_client_io(struct conn *, short);
static int	conn_relay(struct conn *, short, short, int *);
static void	conn_io(struct conn *, short, short);
static void	conn_timer(struct conn *);
/* Timers and the process title. */
static void	timers_run(void);
static void	title_init(int, char **);
static void	title_update(void);
/* The listeners. */
static void	listener_addr(const char *, const char *, int);
static void	listener_open(void);
static void	listener_close(void);
static void	listen_events(void);
static void	accept_batch(int);
static void	fd_limit(void);
/* Stats, signals and shutdown. */
static void	stats_log(void);
static void	quit(int)
		    __attribute__((noreturn));
static void	sig_handler(int);
static void	signals_init(void);
static void	signals_run(void);
static void	stop_begin(int);
static void	stop_check(void);
/* Running as a service. */
static int	daemonize(void);
static int	fd_printf(int, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static void	pidfile_write(void);
static struct passwd *pwcopy(const struct passwd *);
static void	privdrop(const struct passwd *, const char *, int);
static void	usage(int)
		    __attribute__((noreturn));
#ifndef PM_NO_MAIN
/* Messages between processes. */
static struct blob *blob_new(uint32_t, uint32_t, size_t);
static void	blob_put(struct blob *);
static uint32_t	msg_field(const struct blob *, int);
static void	msgin_reset(struct msgin *);
static void	msgout_set(struct msgout *, struct blob *);
static int	msg_read(int, struct msgin *, const char **);
static struct blob *msg_take(struct msgin *);
static int	msg_write(int, struct msgout *);
static void	fds_close_from(int);
/* The resolver process and reloads. */
static struct blob *resolver_answer(const struct blob *);
static void	resolver_main(int, const struct passwd *, int,
		    const sigset_t *)
		    __attribute__((noreturn));
static int	resolver_start(const struct passwd *, int);
static void	resolver_lost(const char *);
static char *exit_str(int, char *, size_t);
static void	resolver_reaped(int);
static int	resolver_tick(void);
static void	children_reap(void);
static void	reload_request(void);
static int	reload_apply(const struct blob *, char *, size_t);
static int	reload_log(const struct blob *);
static void	worker_send(int);
static void	workers_table(struct blob *);
static void	resolver_io(short);
static void	resolver_events(void);
static void	master_io(void);
/* Workers (-w). */
static void	workers_signal(int);
static void	worker_init(int, int);
static int	worker_start(int);
static void	master_signals(void);
static void	master(void);
static void	master_gone(void);
/* The event loop and main(). */
static void	slot_run(int);
static void	serve(void)
		    __attribute__((noreturn));
#endif

/* The level is tested first, so a quiet log costs no formatting. */
#define log_notice(...)	do { if (verbosity >= PM_LOG_NOTICE) \
			    log_at(PM_LOG_NOTICE, __VA_ARGS__); } while (0)
#define log_info(...)	do { if (verbosity >= PM_LOG_INFO) \
			    log_at(PM_LOG_INFO, __VA_ARGS__); } while (0)
#define log_debug(...)	do { if (verbosity >= PM_LOG_DEBUG) \
			    log_at(PM_LOG_DEBUG, __VA_ARGS__); } while (0)

#define IDF	"#%llu "
#define ID(c)	((unsigned long long)(c)->id)
/* Why a closing connection ends, as two "%s" of a close line. */
#define ENDWHY(c)	((c)->endwhy != NULL ? (c)->endwhy : ""), \
			((c)->endwhy != NULL ? "; " : "")

/*
 * Logging.  Lines are collected in logbuf and written to stderr once per
 * loop iteration (or when the buffer fills), so a busy proxy makes one
 * write(2) per wake-up, not one per event.  Workers share stderr: each of
 * their writes is whole lines of at most PIPE_BUF bytes, which a pipe
 * keeps together.
 */

/* --- Logging ----------------------------------------------------- */

static void
log_flush(void)
{
	size_t	 off = 0, len, k;
	ssize_t	 n;

	while (off < loglen) {
		len = loglen - off;
		if (worker > 0 && len > PIPE_BUF) {
			for (k = PIPE_BUF; k > 0 && logbuf[off + k - 1] != '\n';
			    k--)
				;
			len = k > 0 ? k : PIPE_BUF;
		}
		n = write(STDERR_FILENO, logbuf + off, len);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			break;		/* nowhere to complain: drop it */
		}
		off += (size_t)n;
	}
	loglen = 0;
}

/*
 * Writes the time t (seconds since 1970) in UTC as 2026-01-31T23:59:59
 * into s (len bytes).  By hand: gmtime_r(3) and strftime(3) bring a
 * static binary time zone code that a UTC stamp does not need.
 */
static void
log_stamp(char *s, size_t len, time_t t)
{
	uint64_t	 sec = (uint64_t)t, z, era, doe, yoe, doy, mp, y, m;

	/* Days to a civil date, the proleptic Gregorian calendar. */
	z = sec / 86400 + 719468;	/* days since 0000-03-01 */
	era = z / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	m = mp < 10 ? mp + 3 : mp - 9;
	y = era * 400 + yoe + (m <= 2);
	snprintf(s, len, "%04u-%02u-%02uT%02u:%02u:%02u", (unsigned)y,
	    (unsigned)m, (unsigned)(doy - (153 * mp + 2) / 5 + 1),
	    (unsigned)(sec / 3600 % 24), (unsigned)(sec / 60 % 60),
	    (unsigned)(sec % 60));
}

/*
 * Writes one line at level (PM_LOG_*): to syslog with the matching
 * priority, or to stderr, with the time in UTC unless a service manager
 * that stamps lines itself reads it (see main()).
 */
static void
log_line(int level, const char *fmt, va_list ap)
{
	static const int	 prio[] = { LOG_ERR, LOG_WARNING, LOG_NOTICE,
				    LOG_INFO, LOG_DEBUG };
	static time_t		 last_sec = (time_t)-1;
	static char		 stamp[32];
	struct timespec		 ts;
	char			 line[1024];
	int			 n = 0, m;

	if (level > verbosity)
		return;
	if (level < PM_LOG_ERR || level > PM_LOG_DEBUG)
		level = PM_LOG_INFO;
	if (use_syslog) {
		n = snprintf(line, sizeof(line), "%s", wtag);
		vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
		syslog_send(prio[level], line);
		return;
	}
	if (stamped) {
		clock_gettime(CLOCK_REALTIME, &ts);
		if (ts.tv_sec != last_sec) {
			last_sec = ts.tv_sec;
			log_stamp(stamp, sizeof(stamp), ts.tv_sec);
		}
		n = snprintf(line, sizeof(line), "%s.%03ldZ ", stamp,
		    (long)(ts.tv_nsec / 1000000));
	}
	n += snprintf(line + n, sizeof(line) - (size_t)n, "%s", wtag);
	if (n < 0)
		return;
	m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	if (m < 0)
		return;
	n += m;
	if ((size_t)n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	if (loglen + (size_t)n > sizeof(logbuf))
		log_flush();
	memcpy(logbuf + loglen, line, (size_t)n);
	loglen += (size_t)n;
}

static void
log_at(int level, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_line(level, fmt, ap);
	va_end(ap);
}

static void
log_warnx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_line(PM_LOG_WARN, fmt, ap);
	va_end(ap);
}

/* Logs at level what fmt says, then ": strerror(errno)". */
static void
log_errno(int level, const char *fmt, va_list ap)
{
	char	 msg[512];
	int	 saved = errno;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	log_at(level, "%s: %s", msg, strerror(saved));
}

/* Like log_warnx(), with ": strerror(errno)" added. */
static void
log_warn(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_errno(PM_LOG_WARN, fmt, ap);
	va_end(ap);
}

/* Logs the error and exits 1; fatal() adds ": strerror(errno)". */
static void
fatalx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_line(PM_LOG_ERR, fmt, ap);
	va_end(ap);
	quit(1);
}

static void
fatal(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_errno(PM_LOG_ERR, fmt, ap);
	va_end(ap);
	quit(1);
}

/*
 * Counts one more of a repeated problem.  Returns 0 when it is not to be
 * said now; else (the first time, then at most once a second) the number
 * seen since it was last said, this one included.
 */
static uint64_t
burst_say(struct burst *b)
{
	uint64_t	 n;

	b->n++;
	if (b->said != 0 && now < b->said + SAY_EVERY_MS)
		return 0;
	b->said = now;
	n = b->n;
	b->n = 0;
	return n;
}

/*
 * Returns what a line said for a burst of n adds: nothing for one, else
 * " (N times since the last such line)", written into buf.
 */
static const char *
burst_tail(uint64_t n, char *buf, size_t len)
{
	if (n <= 1)
		return "";
	snprintf(buf, len, " (%llu times since the last such line)",
	    (unsigned long long)n);
	return buf;
}

/* Router lines written while deciding for a connection carry its id. */
void
pm_log(int level, const char *fmt, ...)
{
	char	 f[512];
	va_list	 ap;

	/* The resolver's load is done again where the table serves. */
	if (level > verbosity || load_mode == LOAD_RECORD)
		return;
	va_start(ap, fmt);
	if (routing != NULL && snprintf(f, sizeof(f), IDF "%s", ID(routing),
	    fmt) < (int)sizeof(f))
		log_line(level, f, ap);
	else
		log_line(level, fmt, ap);
	va_end(ap);
}

/*
 * The router's word on the connection it decides for, kept for the line
 * logged when it closes (and logged now with -v).
 */
void
pm_note(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	if (routing == NULL)
		log_line(PM_LOG_INFO, fmt, ap);
	else {
		vsnprintf(NOTE(routing), PM_NOTEMAX, fmt, ap);
		log_debug(IDF "%s", ID(routing), NOTE(routing));
	}
	va_end(ap);
}

/* --- Addresses and tables, for the core and the routers ---------- */

/* Writes the IPv4 address at a (4 bytes) as text into buf. */
static void
addr_ntop4(const unsigned char *a, char *buf, size_t len)
{
	snprintf(buf, len, "%u.%u.%u.%u", a[0], a[1], a[2], a[3]);
}

/*
 * Writes the IPv6 address at a (16 bytes) as text into buf (at least
 * INET6_ADDRSTRLEN bytes), as inet_ntop(3) does (RFC 5952: the longest
 * run of two or more zero groups as ::, an IPv4-mapped address with its
 * IPv4 part dotted), without the 700 bytes it costs a static binary.
 */
static void
addr_ntop6(const unsigned char *a, char *buf, size_t len)
{
	static const unsigned char	 mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0,
					    0, 0, 0xff, 0xff };
	unsigned int			 g[8];
	int				 i, best = -1, bestn = 1, run, n;
	size_t				 o = 0;

	if (memcmp(a, mapped, sizeof(mapped)) == 0) {
		snprintf(buf, len, "::ffff:%u.%u.%u.%u", a[12], a[13], a[14],
		    a[15]);
		return;
	}
	for (i = 0; i < 8; i++)
		g[i] = (unsigned int)a[2 * i] << 8 | a[2 * i + 1];
	for (i = 0; i < 8; i += run > 0 ? run : 1) {
		for (run = 0; i + run < 8 && g[i + run] == 0; run++)
			;
		if (run > bestn) {
			best = i;
			bestn = run;
		}
	}
	buf[0] = '\0';
	for (i = 0; i < 8 && o < len; i++) {
		if (i == best) {
			n = snprintf(buf + o, len - o, "::");
			i += bestn - 1;
		} else
			n = snprintf(buf + o, len - o, "%s%x",
			    i > 0 && i != best + bestn ? ":" : "", g[i]);
		if (n < 0)
			break;
		o += (size_t)n;
	}
}

const char *
pm_lookup_str(int status)
{
	static const char *const words[] = { "found", "not found",
	    "temporary failure", "timed out", "too many lookups in flight",
	    "failed" };

	return status >= 0 && status <= PM_FAILED ? words[status] : "?";
}

char *
pm_addr_str(const struct sockaddr *sa, char *buf, size_t len)
{
	char	 host[INET6_ADDRSTRLEN];

	switch (sa->sa_family) {
	case AF_INET: {
		const struct sockaddr_in *sin = (const void *)sa;

		addr_ntop4((const unsigned char *)&sin->sin_addr, host,
		    sizeof(host));
		snprintf(buf, len, "%s:%u", host, ntohs(sin->sin_port));
		break;
	}
	case AF_INET6: {
		const struct sockaddr_in6 *sin6 = (const void *)sa;

		addr_ntop6(sin6->sin6_addr.s6_addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, ntohs(sin6->sin6_port));
		break;
	}
	default:
		snprintf(buf, len, "(family %d)", sa->sa_family);
		break;
	}
	return buf;
}

/*
 * The record of a reload: items of a kind byte, a 4-byte length and that
 * many bytes, which begin with a key (a file's path, or a lookup's host
 * and port) and its NUL.  'F' holds a file's text, 'f' why it could not
 * be read, 'A' a lookup's address, 'a' why it failed.
 */

/* Appends the n bytes at p to the record; sets rec.full if it cannot. */
static void
rec_put(const void *p, size_t n)
{
	unsigned char	*np;
	size_t		 cap;

	if (rec.full)
		return;
	/* The message also holds a status byte. */
	if (n > PM_MSG_MAX - 1 - rec.len) {
		rec.full = 1;
		return;
	}
	if (rec.len + n > rec.cap) {
		for (cap = rec.cap > 0 ? rec.cap : 4096; cap < rec.len + n;
		    cap *= 2)
			;
		if ((np = realloc(rec.p, cap)) == NULL) {
			rec.full = 1;
			return;
		}
		rec.p = np;
		rec.cap = cap;
	}
	memcpy(rec.p + rec.len, p, n);
	rec.len += n;
}

/* Records an item: kind, then the key (keylen bytes) and n bytes at p. */
static void
rec_item(int kind, const char *key, size_t keylen, const void *p, size_t n)
{
	unsigned char	 k = (unsigned char)kind;
	uint32_t	 len = (uint32_t)(keylen + n);

	rec_put(&k, 1);
	rec_put(&len, sizeof(len));
	rec_put(key, keylen);
	rec_put(p, n);
}

/*
 * Finds the first item of kind a or b in the record being replayed whose
 * key is the keylen bytes at key.  Returns its kind, with *p and *n set
 * to the bytes after the key, or 0 when there is none.
 */
static int
replay_find(int a, int b, const char *key, size_t keylen,
    const unsigned char **p, size_t *n)
{
	size_t		 off = 0;
	uint32_t	 len;
	int		 k;

	while (replaylen - off > sizeof(len)) {
		k = replay[off];
		memcpy(&len, replay + off + 1, sizeof(len));
		off += 1 + sizeof(len);
		if (len > replaylen - off)
			return 0;
		if ((k == a || k == b) && len >= keylen &&
		    memcmp(replay + off, key, keylen) == 0) {
			*p = replay + off + keylen;
			*n = len - keylen;
			return k;
		}
		off += len;
	}
	return 0;
}

/*
 * Test binaries only (TEST_HOOKS): a name server that takes
 * PM_TEST_LOOKUP_DELAY_MS (from the environment) to answer for a name, not
 * for an address, so that the suite can show that no connection waits for
 * it.
 */
static void
test_lookup_delay(const char *host)
{
	unsigned char	 a[sizeof(struct in6_addr)];
	struct timespec	 ts;
	const char	*s;
	long		 ms;

	if (!TEST_HOOKS || (s = getenv("PM_TEST_LOOKUP_DELAY_MS")) == NULL ||
	    inet_pton(AF_INET, host, a) == 1 ||
	    inet_pton(AF_INET6, host, a) == 1)
		return;
	if ((ms = num_parse(s, 60000)) <= 0)
		return;
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = ms % 1000 * 1000000;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/*
 * Reads host as a numeric IPv4 or IPv6 address, with port; returns 0, or
 * -1 when it is not one.
 */
static int
addr_numeric(const char *host, in_port_t port, struct sockaddr_storage *ss,
    socklen_t *sslen)
{
	struct sockaddr_in	*sin = (void *)ss;
	struct sockaddr_in6	*sin6 = (void *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		*sslen = sizeof(*sin);
	} else if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		*sslen = sizeof(*sin6);
	} else
		return -1;
	return 0;
}

/*
 * Reads s, a decimal number from 0 to max; returns it, or -1 when s is
 * not one.  (strtol(3) reads through a stdio stream in musl: 2.7 KB of a
 * static binary.)
 */
static long
num_parse(const char *s, long max)
{
	long	 v = 0;

	if (*s == '\0')
		return -1;
	for (; *s >= '0' && *s <= '9'; s++)
		if ((v = v * 10 + (*s - '0')) > max)
			return -1;
	return *s == '\0' ? v : -1;
}

/* Resolves host and port; returns 0, or -1 with the problem in err. */
static int
addr_resolve(const char *host, const char *port, int passive,
    struct sockaddr_storage *ss, socklen_t *sslen, char *err, size_t errlen)
{
	struct addrinfo	 hints, *res;
	int		 e;
	long		 n = num_parse(port, 65535);

	if (n < 1) {
		snprintf(err, errlen, "bad port '%s'", port);
		return -1;
	}
	test_lookup_delay(host);
	if (!HAVE_NAMES) {
		if (addr_numeric(host, (in_port_t)n, ss, sslen) == -1) {
			snprintf(err, errlen, "%s: not a numeric address "
			    "(this build looks up no names)", host);
			return -1;
		}
		return 0;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
	if ((e = getaddrinfo(host, port, &hints, &res)) != 0) {
		snprintf(err, errlen, "%s: %s", host, gai_strerror(e));
		return -1;
	}
	if (res->ai_addrlen > sizeof(*ss)) {
		freeaddrinfo(res);
		snprintf(err, errlen, "%s: address too long", host);
		return -1;
	}
	memset(ss, 0, sizeof(*ss));
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*sslen = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

/*
 * Resolves host and port as the load mode says: with getaddrinfo(3),
 * recorded or not, or from the record.  Returns 0, or -1 with the problem
 * in err.
 */
static int
addr_lookup(const char *host, const char *port, int passive,
    struct sockaddr_storage *ss, socklen_t *sslen, char *err, size_t errlen)
{
	const unsigned char	*p;
	char			*key;
	size_t			 n, keylen;
	int			 rc;

	if (load_mode == LOAD_FILE)
		return addr_resolve(host, port, passive, ss, sslen, err,
		    errlen);
	/* The key: 'p' (passive) or 'a', host, NUL, port, NUL. */
	keylen = 1 + strlen(host) + 1 + strlen(port) + 1;
	if ((key = malloc(keylen)) == NULL) {
		snprintf(err, errlen, "%s: out of memory", host);
		return -1;
	}
	key[0] = passive ? 'p' : 'a';
	memcpy(key + 1, host, strlen(host) + 1);
	memcpy(key + 1 + strlen(host) + 1, port, strlen(port) + 1);
	if (load_mode == LOAD_RECORD) {
		rc = addr_resolve(host, port, passive, ss, sslen, err, errlen);
		if (rc == 0)
			rec_item('A', key, keylen, ss, *sslen);
		else
			rec_item('a', key, keylen, err, strlen(err));
		free(key);
		return rc;
	}
	rc = -1;
	switch (replay_find('A', 'a', key, keylen, &p, &n)) {
	case 'A':
		if (n == 0 || n > sizeof(*ss)) {
			snprintf(err, errlen, "%s: bad address from the "
			    "resolver", host);
			break;
		}
		memset(ss, 0, sizeof(*ss));
		memcpy(ss, p, n);
		*sslen = (socklen_t)n;
		rc = 0;
		break;
	case 'a':
		snprintf(err, errlen, "%.*s", (int)n, (const char *)p);
		break;
	default:
		snprintf(err, errlen, "%s: not looked up by the resolver",
		    host);
		break;
	}
	free(key);
	return rc;
}

int
pm_addr_parse(const char *spec, const char *defport,
    struct sockaddr_storage *ss, socklen_t *sslen, char *err, size_t errlen)
{
	char		 host[256];
	const char	*port, *colon, *close, *h = spec;
	size_t		 hlen;
	int		 k;

	if (spec[0] == '[') {
		if ((close = strchr(spec, ']')) == NULL) {
			snprintf(err, errlen, "'%s': missing ]", spec);
			return -1;
		}
		hlen = (size_t)(close - spec - 1);
		if (close[1] == ':')
			port = close + 2;
		else if (close[1] == '\0' && defport != NULL)
			port = defport;
		else {
			snprintf(err, errlen, "'%s': expected [address]:port",
			    spec);
			return -1;
		}
		h++;
	} else if ((colon = strrchr(spec, ':')) != NULL &&
	    strchr(spec, ':') == colon) {
		hlen = (size_t)(colon - spec);
		port = colon + 1;
	} else if (colon == NULL && defport != NULL) {
		hlen = strlen(spec);
		port = defport;
	} else {
		snprintf(err, errlen, "'%s': expected host:port "
		    "(IPv6 as [address]:port)", spec);
		return -1;
	}
	if (hlen == 0 || hlen >= sizeof(host)) {
		snprintf(err, errlen, "'%s': bad host", spec);
		return -1;
	}
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	if (addr_lookup(host, port, 0, ss, sslen, err, errlen) == -1)
		return -1;
	if ((k = addr_is_self((struct sockaddr *)ss)) > 0) {
		snprintf(err, errlen, "'%s' is this proxy's own listening "
		    "address (%s): a loop", spec, lis[k - 1].addr);
		return -1;
	}
	return 0;
}

/*
 * Returns sa, or its IPv4 address in *sin when sa is an IPv4-mapped IPv6
 * address (an IPv4 peer of a dual-stack socket).
 */
static const struct sockaddr *
addr_unmap(const struct sockaddr *sa, struct sockaddr_in *sin)
{
	const struct sockaddr_in6	*sin6 = (const void *)sa;

	if (sa->sa_family != AF_INET6 ||
	    !IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr))
		return sa;
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_port = sin6->sin6_port;
	memcpy(&sin->sin_addr, &sin6->sin6_addr.s6_addr[12], 4);
	return (const struct sockaddr *)sin;
}

/* Returns the port of an IPv4 or IPv6 address, in network byte order. */
static in_port_t
addr_port(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ((const struct sockaddr_in *)(const void *)sa)->sin_port;
	return ((const struct sockaddr_in6 *)(const void *)sa)->sin6_port;
}

/*
 * Returns the length of the address of sa (4 for IPv4, 16 for IPv6, else
 * 0) and points *a at its bytes.
 */
static size_t
addr_bytes(const struct sockaddr *sa, const unsigned char **a)
{
	if (sa->sa_family == AF_INET) {
		*a = (const void *)&((const struct sockaddr_in *)
		    (const void *)sa)->sin_addr;
		return 4;
	}
	*a = ((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr.s6_addr;
	return sa->sa_family == AF_INET6 ? 16 : 0;
}

/*
 * Returns 0 when a and b (IPv4 or IPv6, unmapped) are the same address,
 * ports aside; 1 when they differ; -1 when a is unspecified (0.0.0.0 or
 * ::, which reaches this host).
 */
static int
addr_cmp(const struct sockaddr *a, const struct sockaddr *b)
{
	static const struct in6_addr	 any6 = IN6ADDR_ANY_INIT;
	const struct sockaddr_in	*a4 = (const void *)a, *b4 = (const void *)b;
	const struct sockaddr_in6	*a6 = (const void *)a, *b6 = (const void *)b;

	if (a->sa_family == AF_INET && a4->sin_addr.s_addr == INADDR_ANY)
		return -1;
	if (a->sa_family == AF_INET6 &&
	    memcmp(&a6->sin6_addr, &any6, sizeof(any6)) == 0)
		return -1;
	if (a->sa_family != b->sa_family)
		return 1;
	if (a->sa_family == AF_INET)
		return a4->sin_addr.s_addr != b4->sin_addr.s_addr;
	return memcmp(&a6->sin6_addr, &b6->sin6_addr, sizeof(any6)) != 0;
}

/*
 * Returns whether sa is an address of this host, one that a socket can
 * be bound to; when that cannot be told, it says yes.
 */
static int
addr_local(const struct sockaddr *sa)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len;
	int			 fd, rc;

	len = sa->sa_family == AF_INET ? sizeof(struct sockaddr_in) :
	    sizeof(struct sockaddr_in6);
	memcpy(&ss, sa, len);
	if (ss.ss_family == AF_INET)
		((struct sockaddr_in *)(void *)&ss)->sin_port = 0;
	else
		((struct sockaddr_in6 *)(void *)&ss)->sin6_port = 0;
	if ((fd = socket(ss.ss_family, SOCK_STREAM, 0)) == -1)
		return 1;
	rc = bind(fd, (struct sockaddr *)&ss, len) == 0 ||
	    errno != EADDRNOTAVAIL;
	close(fd);
	return rc;
}

/*
 * Returns whether a connect to sa (IPv4 or IPv6) would reach one of this
 * proxy's own listeners, as 1 + its index, else 0: the same port, and the
 * listener's address, any address when sa is unspecified, or any address
 * of this host when the listener is bound to all of them (:: may take
 * IPv4 as well).
 */
static int
addr_is_self(const struct sockaddr *sa)
{
	struct sockaddr_in	 a4, l4;
	const struct sockaddr	*a, *l;
	int			 k;

	if (sa->sa_family != AF_INET && sa->sa_family != AF_INET6)
		return 0;
	a = addr_unmap(sa, &a4);
	for (k = 0; k < nlis; k++) {
		l = addr_unmap((const struct sockaddr *)&lis[k].ss, &l4);
		if (addr_port(a) != addr_port(l))
			continue;
		if (addr_cmp(a, l) <= 0 || (addr_cmp(l, a) == -1 &&
		    (l->sa_family == AF_INET6 || a->sa_family == AF_INET) &&
		    addr_local(a)))
			return k + 1;
	}
	return 0;
}

/*
 * Client networks for routers' rules.  "any", an address, or an address
 * with a prefix length ("10.0.0.0/8", "fe80::/10"); bits past the prefix
 * must be zero.  An IPv4 network also matches IPv4 clients that a
 * dual-stack listener sees as IPv4-mapped IPv6 addresses.
 */
int
pm_net_parse(const char *s, struct pm_net *net, char *err, size_t errlen)
{
	static const unsigned char	 v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0,
					    0, 0, 0, 0xff, 0xff };
	char		 host[INET6_ADDRSTRLEN];
	const char	*slash;
	size_t		 n;
	long		 bits;
	int		 i, max;

	memset(net, 0, sizeof(*net));
	if (strcmp(s, "any") == 0) {
		net->family = AF_UNSPEC;
		return 0;
	}
	slash = strchr(s, '/');
	n = slash != NULL ? (size_t)(slash - s) : strlen(s);
	if (n == 0 || n >= sizeof(host))
		goto bad;
	memcpy(host, s, n);
	host[n] = '\0';
	if (inet_pton(AF_INET, host, net->addr) == 1)
		net->family = AF_INET;
	else if (inet_pton(AF_INET6, host, net->addr) == 1)
		net->family = AF_INET6;
	else
		goto bad;
	max = net->family == AF_INET ? 32 : 128;
	net->bits = max;
	if (slash != NULL) {
		if ((bits = num_parse(slash + 1, max)) == -1) {
			snprintf(err, errlen, "'%s': bad prefix length", s);
			return -1;
		}
		net->bits = (int)bits;
	}
	for (i = net->bits; i < max; i++)
		if (net->addr[i / 8] & (0x80 >> (i % 8))) {
			snprintf(err, errlen, "'%s' has bits set past the "
			    "prefix", s);
			return -1;
		}
	if (net->family == AF_INET6 && memcmp(net->addr, v4mapped, 12) == 0) {
		/* Clients are matched unmapped: so is the network. */
		if (net->bits < 96) {
			snprintf(err, errlen, "'%s': an IPv4-mapped network "
			    "needs a prefix of 96 bits or more", s);
			return -1;
		}
		memmove(net->addr, net->addr + 12, 4);
		memset(net->addr + 4, 0, 12);
		net->family = AF_INET;
		net->bits -= 96;
	}
	return 0;
bad:
	snprintf(err, errlen, "'%s' is not a network (an address, "
	    "address/bits or any)", s);
	return -1;
}

int
pm_net_match(const struct pm_net *net, const struct sockaddr *sa)
{
	struct sockaddr_in	 sin;
	const unsigned char	*a;
	int			 full, rest;

	if (net->family == AF_UNSPEC)
		return 1;
	sa = addr_unmap(sa, &sin);
	if (sa->sa_family != net->family)
		return 0;
	(void)addr_bytes(sa, &a);
	full = net->bits / 8;
	rest = net->bits % 8;
	if (memcmp(a, net->addr, (size_t)full) != 0)
		return 0;
	return rest == 0 ||
	    ((a[full] ^ net->addr[full]) & (0xff00 >> rest) & 0xff) == 0;
}

/*
 * Replaces the end of the reply held for a failed connect (from
 * router_connect_error()).  Returns 0, or -1 when no reply is held or len
 * is longer than it.
 */
int
pm_fail_reply(const void *p, size_t len)
{
	struct conn	*c = routing;

	if (c == NULL || !c->down.held || len > c->heldfail)
		return -1;
	memcpy(c->down.buf.p + c->down.buf.off + c->heldok + c->heldfail -
	    len, p, len);
	return 0;
}

int
pm_listener(const struct sockaddr **sa)
{
	int	 k = routing != NULL ? routing->lis : 0;

	if (sa != NULL)
		*sa = (const struct sockaddr *)&lis[k].ss;
	return k;
}

const struct sockaddr *
pm_listener_addr(int k)
{
	return k >= 0 && k < nlis ? (const struct sockaddr *)&lis[k].ss :
	    NULL;
}

char *
pm_net_str(const struct pm_net *net, char *buf, size_t len)
{
	char	 host[INET6_ADDRSTRLEN];

	if (net->family == AF_UNSPEC) {
		snprintf(buf, len, "any");
		return buf;
	}
	if (net->family == AF_INET)
		addr_ntop4(net->addr, host, sizeof(host));
	else
		addr_ntop6(net->addr, host, sizeof(host));
	snprintf(buf, len, "%s/%d", host, net->bits);
	return buf;
}

/*
 * Reads the file at path whole into *text (to be freed) and its length
 * into *len.  Returns 0, or -1 with `path: problem' in err.
 */
static int
conf_slurp(const char *path, char **text, size_t *len, char *err,
    size_t errlen)
{
	char	*p = NULL, *np;
	size_t	 cap = 0, n = 0;
	ssize_t	 got;
	int	 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	for (;;) {
		if (n == cap) {
			if (cap > PM_TABLE_MAX)
				break;
			cap = cap > 0 ? 2 * cap : 4096;
			if ((np = realloc(p, cap)) == NULL) {
				snprintf(err, errlen, "%s: out of memory",
				    path);
				goto fail;
			}
			p = np;
		}
		if ((got = read(fd, p + n, cap - n)) == 0)
			break;
		if (got == -1) {
			if (errno == EINTR)
				continue;
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			goto fail;
		}
		n += (size_t)got;
	}
	if (n > PM_TABLE_MAX) {
		snprintf(err, errlen, "%s: larger than %d bytes", path,
		    PM_TABLE_MAX);
		goto fail;
	}
	close(fd);
	*text = p;
	*len = n;
	return 0;
fail:
	free(p);
	close(fd);
	return -1;
}

/*
 * Cuts the comment off line: from a `#' at its start or after a blank or
 * tab, outside double quotes and not after a backslash (router.h).  A
 * backslash makes the byte after it ordinary, a blank and a quote too.
 * Returns whether anything but blanks and tabs is left.
 */
static int
conf_uncomment(char *line)
{
	char	*s;
	int	 quoted = 0, blank = 1;

	for (s = line; *s != '\0'; s++) {
		if (*s == '\\' && s[1] != '\0') {
			s++;
			blank = 0;
			continue;
		}
		if (*s == '#' && blank && !quoted) {
			*s = '\0';
			break;
		}
		if (*s == '"')
			quoted = !quoted;
		blank = *s == ' ' || *s == '\t';
	}
	return line[strspn(line, " \t")] != '\0';
}

/*
 * Hands each line of the len bytes at text, its end of line and comment
 * cut, to fn unless nothing is left of it.  Returns 0, or -1 with
 * `path:line: problem' in err.
 */
static int
conf_lines(const char *path, const char *text, size_t len,
    int (*fn)(void *, char *, char *, size_t), void *arg,
    char *err, size_t errlen)
{
	const char	*p = text, *end = text + len, *nl;
	char		 line[PM_CONF_LINEMAX + 1], why[256];
	size_t		 n;
	int		 lineno = 0;

	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		n = (size_t)((nl != NULL ? nl : end) - p);
		lineno++;
		if (n > 0 && p[n - 1] == '\r')
			n--;
		if (n > PM_CONF_LINEMAX) {
			snprintf(err, errlen, "%s:%d: line too long (more "
			    "than %d bytes)", path, lineno, PM_CONF_LINEMAX);
			return -1;
		}
		if (memchr(p, '\0', n) != NULL) {
			snprintf(err, errlen, "%s:%d: NUL byte in line", path,
			    lineno);
			return -1;
		}
		memcpy(line, p, n);
		line[n] = '\0';
		p = nl != NULL ? nl + 1 : end;
		if (!conf_uncomment(line))
			continue;
		why[0] = '\0';
		if (fn(arg, line, why, sizeof(why)) == -1) {
			snprintf(err, errlen, "%s:%d: %s", path, lineno,
			    why[0] != '\0' ? why : "bad line");
			return -1;
		}
	}
	return 0;
}

int
pm_conf_read(const char *path,
    int (*fn)(void *, char *, char *, size_t), void *arg,
    char *err, size_t errlen)
{
	const unsigned char	*p;
	char			*text;
	size_t			 len, keylen = strlen(path) + 1;
	int			 rc;

	if (load_mode == LOAD_REPLAY) {
		switch (replay_find('F', 'f', path, keylen, &p, &len)) {
		case 'F':
			return conf_lines(path, (const char *)p, len, fn, arg,
			    err, errlen);
		case 'f':
			snprintf(err, errlen, "%.*s", (int)len,
			    (const char *)p);
			return -1;
		default:
			snprintf(err, errlen, "%s: not read by the resolver",
			    path);
			return -1;
		}
	}
	if (conf_slurp(path, &text, &len, err, errlen) == -1) {
		if (load_mode == LOAD_RECORD)
			rec_item('f', path, keylen, err, strlen(err));
		return -1;
	}
	if (load_mode == LOAD_RECORD)
		rec_item('F', path, keylen, text, len);
	rc = conf_lines(path, text, len, fn, arg, err, errlen);
	free(text);
	return rc;
}

int
pm_conf_secs(const char *s, int *ms)
{
	long	 v = 0, scale = 1000;
	int	 digits = 0;

	for (; *s >= '0' && *s <= '9'; s++, digits++) {
		v = v * 10 + (*s - '0');
		if (v > PM_CONF_MAXSECS)
			return -1;
	}
	v *= 1000;
	if (*s == '.') {
		for (s++; *s >= '0' && *s <= '9'; s++, digits++) {
			if ((scale /= 10) == 0)
				return -1;
			v += (*s - '0') * scale;
		}
	}
	if (*s != '\0' || digits == 0 || v > PM_CONF_MAXSECS * 1000L)
		return -1;
	*ms = (int)v;
	return 0;
}

int
pm_conf_split(char *line, char **fields, int max)
{
	int	 n = 0;

	for (;;) {
		while (*line == ' ' || *line == '\t')
			*line++ = '\0';
		if (*line == '\0')
			return n;
		if (n == max)
			return -1;
		fields[n++] = line;
		while (*line != '\0' && *line != ' ' && *line != '\t')
			line++;
	}
}

int
pm_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * The escapes of one character, and the bytes they stand for; pm_quote()
 * writes the first six as escapes.
 */
static const char	esc_char[] = "\\\"0nrt# ";
static const char	esc_byte[] = "\\\"\0\n\r\t# ";

int
pm_unescape(const char *s, unsigned char *byte, char *err, size_t errlen)
{
	const char	*c;
	int		 hi, lo;

	if (s[1] == 'x') {
		if ((hi = pm_hexval(s[2])) == -1 ||
		    (lo = pm_hexval(s[3])) == -1) {
			snprintf(err, errlen, "\\x needs two hex digits");
			return -1;
		}
		*byte = (unsigned char)(hi << 4 | lo);
		return 4;
	}
	if (s[1] != '\0' && (c = strchr(esc_char, s[1])) != NULL) {
		*byte = (unsigned char)esc_byte[c - esc_char];
		return 2;
	}
	if (s[1] == '\0')
		snprintf(err, errlen, "backslash at the end of the line");
	else if (s[1] > ' ' && s[1] < 0x7f)
		snprintf(err, errlen, "unknown escape \\%c", s[1]);
	else
		snprintf(err, errlen, "unknown escape: a backslash, then "
		    "byte 0x%02x", (unsigned char)s[1]);
	return -1;
}

char *
pm_quote(const void *p, size_t len, char *buf, size_t buflen)
{
	static const char	 hex[] = "0123456789abcdef";
	const unsigned char	*s = p;
	const char		*c;
	char			 e[4];
	size_t			 i, n, o = 0, cut = 0;

	if (buflen < 4) {
		if (buflen > 0)
			buf[0] = '\0';
		return buf;
	}
	for (i = 0; i < len; i++) {
		n = 0;
		if ((c = memchr(esc_byte, s[i], 6)) != NULL) {
			e[n++] = '\\';
			e[n++] = esc_char[c - esc_byte];
		} else if (s[i] >= ' ' && s[i] < 0x7f)
			e[n++] = (char)s[i];
		else {
			e[n++] = '\\';
			e[n++] = 'x';
			e[n++] = hex[s[i] >> 4];
			e[n++] = hex[s[i] & 0xf];
		}
		if (o + n + 1 > buflen)
			break;
		memcpy(buf + o, e, n);
		o += n;
		/* Where to cut, should the rest not fit: room for "...". */
		if (o + 4 <= buflen)
			cut = o;
	}
	if (i < len) {
		memcpy(buf + cut, "...", 3);
		o = cut + 3;
	}
	buf[o] = '\0';
	return buf;
}

/*
 * Clock and timers.  Each connection has one deadline for its state;
 * next_timer is a lower bound of all of them, so the connections are
 * scanned only when some timer may have expired, not on every wake-up.
 */

/* --- Clock and timers -------------------------------------------- */

static uint64_t
clock_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void
timer_set(struct conn *c, uint64_t when)
{
	c->deadline = when;
	if (when != 0 && when < next_timer)
		next_timer = when;
}

/* --- The memory budget, buffers and splice pipes ----------------- */

/* Sets up the pipes' free list and the event set, at start-up. */
static void
pool_init(void)
{
	int	 i;

	for (i = 0; i < PM_PIPES; i++)
		pipeunmade[npipeunmade++] = PM_PIPES - 1 - i;
	ev_init();
}

/*
 * The memory budget.  mb MiB are mapped once at start-up (shared out among
 * the workers, each lending its own share) and lent a buffer at a time:
 * freed buffers are reused first, last freed first, so the same few stay
 * warm, and a never-used one is handed out only when none is free.  A
 * buffer left free for PM_BUF_IDLE_MS gives its pages back (a new
 * anonymous mapping over it), so memory follows use.  A few buffers are
 * kept for the replies of routers; a reader that finds none left waits
 * its turn in a queue, unread meanwhile.
 */

/*
 * Returns len bytes of fresh anonymous memory at addr (with flags
 * MAP_FIXED) or anywhere (flags 0), or MAP_FAILED.
 */
static void *
mem_map(void *addr, size_t len, int flags)
{
	const int	 prot = PROT_READ | PROT_WRITE;

	/* MAP_ANON takes no descriptor: -1, as POSIX asks. */
	// cppcheck-suppress invalidFunctionArg
	return mmap(addr, len, prot, MAP_PRIVATE | MAP_ANON | flags, -1, 0);
}

/*
 * Reads s, MiB as a whole number with up to six decimals ("8", "0.25"),
 * above 0 and at most 1048576, into *bytes.  Returns 0, or -1 when s is
 * not such a number.  No floating point: strtod(3) alone would add 7 KB
 * to a static binary.
 */
static int
mem_parse(const char *s, uint64_t *bytes)
{
	uint64_t	 v = 0, frac = 0, scale = 1000000;
	int		 digits = 0;

	for (; *s >= '0' && *s <= '9'; s++, digits++)
		if ((v = v * 10 + (uint64_t)(*s - '0')) > 1048576)
			return -1;
	if (*s == '.')
		for (s++; *s >= '0' && *s <= '9'; s++, digits++) {
			if ((scale /= 10) == 0)
				return -1;
			frac += (uint64_t)(*s - '0') * scale;
		}
	v = v * 1048576 + frac * 1048576 / 1000000;
	if (*s != '\0' || digits == 0 || v == 0 || v > 1048576ULL * 1048576)
		return -1;
	*bytes = v;
	return 0;
}

/* Maps the budget of bytes (-m mb, as given); exits on failure. */
static void
mem_init(uint64_t bytes, const char *mb)
{
	poolsize = (size_t)(bytes / PM_BUFSIZE * PM_BUFSIZE);
	if ((uint64_t)poolsize != bytes / PM_BUFSIZE * PM_BUFSIZE)
		errx(1, "-m %s: too large for this system", mb);
	if (poolsize / PM_BUFSIZE < 4)
		errx(1, "-m %s: room for %zu buffers of %d bytes; at least "
		    "4 are needed", mb, poolsize / PM_BUFSIZE, PM_BUFSIZE);
	pool = mem_map(NULL, poolsize, 0);
	if (pool == MAP_FAILED)
		err(1, "cannot reserve %s MiB for buffers (-m)", mb);
	nbuf = (int)(poolsize / PM_BUFSIZE);
	if ((buffree = calloc((size_t)nbuf, sizeof(*buffree))) == NULL ||
	    (buffreed = calloc((size_t)nbuf, sizeof(*buffreed))) == NULL)
		err(1, "calloc");
}

/*
 * Takes this process's share of the budget: all of it, or a worker's part
 * (the mapping is private to each process, so the parts may start at the
 * same address).
 */
static void
mem_share(void)
{
	if (worker > 0)
		nbuf /= nworkers;	/* at least 4: main() said so */
	mybufs = pool;
	bufreserve = nbuf / 16 < 2 ? 2 : nbuf / 16;
}

/*
 * Gives b a buffer if it has none; a reader (reader set) gets one only
 * beyond the reserve.  Returns 0, or -1 if none is left.
 */
static int
buf_get(struct buf *b, int reader)
{
	if (b->p != NULL)
		return 0;
	if (mybufs == NULL)
		mem_share();
	if (reader && nbuffree + (nbuf - buffresh) <= bufreserve)
		return -1;
	if (nbuffree > 0) {
		b->p = buffree[--nbuffree];
		if (bufcold > nbuffree)
			bufcold = nbuffree;
	} else if (buffresh < nbuf)
		b->p = mybufs + (size_t)buffresh++ * PM_BUFSIZE;
	else
		return -1;
	b->off = b->len = 0;
	return 0;
}

/*
 * Gives back the memory of the buffers free for PM_BUF_IDLE_MS, oldest
 * first, and returns when to look again (TIME_NEVER: all given back).
 */
static uint64_t
mem_trim(void)
{
	void	*q;

	while (bufcold < nbuffree &&
	    buffreed[bufcold] + PM_BUF_IDLE_MS <= now) {
		/* A fresh mapping in its place: the old pages are freed. */
		q = mem_map(buffree[bufcold], PM_BUFSIZE, MAP_FIXED);
		if (q == MAP_FAILED) {
			log_warn("giving back a buffer's memory");
			return TIME_NEVER;
		}
		bufcold++;
	}
	return bufcold < nbuffree ? buffreed[bufcold] + PM_BUF_IDLE_MS :
	    TIME_NEVER;
}

/* Puts d, whose source has bytes but no buffer to take them, in line. */
static void
dir_wait(struct dir *d)
{
	uint64_t	 n;
	char		 tail[64];

	if (d->waiting)
		return;
	d->waiting = 1;
	d->wnext = NULL;
	if (waittail != NULL)
		waittail->wnext = d;
	else
		waithead = d;
	waittail = d;
	st.buf_waits++;
	mem_reclaim();
	if ((n = burst_say(&wait_burst)) > 0)
		log_warnx("every buffer is in use (-m): readers wait their "
		    "turn%s", burst_tail(n, tail, sizeof(tail)));
}

/*
 * The budget is spent and a reader waits: the client not routed yet that
 * has held a buffer longest, if for PM_RECLAIM_MS, is closed and its
 * buffer goes to the line.  Returns nothing.
 */
static void
mem_reclaim(void)
{
	struct conn	*c, *old = NULL;
	int		 i;

	for (i = 0; i <= hiwater; i++) {
		c = &conns[i];
		if (c->state == C_ROUTING && c->up.buf.p != NULL &&
		    now >= c->born + PM_RECLAIM_MS &&
		    (old == NULL || c->born < old->born))
			old = c;
	}
	if (old == NULL)
		return;
	st.route_reclaimed++;
	conn_close(old, "no route within %llu ms while buffers are short "
	    "(%u bytes)", (unsigned long long)(now - old->born),
	    (unsigned)old->up.buf.len);
}

/* Takes d out of the line. */
static void
dir_unwait(struct dir *d)
{
	struct dir	**pp;

	if (!d->waiting)
		return;
	for (pp = &waithead; *pp != NULL && *pp != d; pp = &(*pp)->wnext)
		;
	if (*pp != NULL)
		*pp = d->wnext;
	if (waittail == d)
		for (waittail = waithead; waittail != NULL &&
		    waittail->wnext != NULL; waittail = waittail->wnext)
			;
	d->waiting = 0;
}

/*
 * Pipes for splice(2), made when first needed and kept while empty.  The
 * descriptor budget (fd_limit()) counts pipemax of them beside two
 * descriptors for every slot of the pool and the reserve, so a pipe never
 * takes a descriptor that a connection will need.
 */

/* Returns whether n pipes fit in the descriptor budget. */
static int
pipes_fit(int n)
{
	return n <= pipemax;
}

/* Closes pipe i. */
static void
pipe_close(int i)
{
	close(pipes[i].r);
	close(pipes[i].w);
	npipes--;
	pipeunmade[npipeunmade++] = i;
}

/* Gives b a pipe; returns 0, or -1 if none can be had now. */
static int
pipe_get(struct buf *b)
{
	int	 i, fd[2];

	if (!HAVE_SPLICE || splice_off)
		return -1;
	if (npipefree > 0) {
		b->pipe = pipefree[--npipefree] + 1;
		return 0;
	}
	if (npipeunmade == 0 || now < pipe_retry || !pipes_fit(npipes + 1))
		return -1;
	if (sys_pipe(fd) == -1) {
		log_warn("pipe for splice: copying for a second");
		pipe_retry = now + SAY_EVERY_MS;
		return -1;
	}
	i = pipeunmade[--npipeunmade];
	pipes[i].r = fd[0];
	pipes[i].w = fd[1];
	npipes++;
	b->pipe = i + 1;
	return 0;
}

/* Takes b's pipe back; one that still holds bytes is closed. */
static void
pipe_put(struct buf *b)
{
	if (b->len > 0)
		pipe_close(b->pipe - 1);
	else
		pipefree[npipefree++] = b->pipe - 1;
	b->pipe = 0;
	b->len = 0;
	b->full = 0;
}

/*
 * Closes unused pipes beyond the budget, or all of them: an idle proxy
 * holds none.
 */
static void
pipe_trim(int all)
{
	while (npipefree > 0 && (all || !pipes_fit(npipes)))
		pipe_close(pipefree[--npipefree]);
}

/*
 * buf_read() into b's pipe.  Returns IO_NOSPLICE when the kernel cannot
 * splice from fd at all and the pipe was empty: then nothing is spliced
 * again and the caller reads instead.
 */
static ssize_t
pipe_in(int fd, struct buf *b)
{
	ssize_t	 n;

	if (b->len >= PM_BUFSIZE)
		return IO_AGAIN;
	do {
		n = sys_splice(fd, pipes[b->pipe - 1].w, PM_BUFSIZE - b->len);
	} while (n == -1 && errno == EINTR);
	if (n > 0) {
		b->len += (uint32_t)n;
		return n;
	}
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
		/* The socket is empty, or the pipe has no slot left. */
		if (b->len > 0)
			b->full = 1;
		else
			pipe_put(b);
		return IO_AGAIN;
	}
	if (n == -1 && b->len == 0 && (errno == EINVAL || errno == ENOSYS)) {
		log_warn("splice: copying from now on");
		splice_off = 1;
		pipe_put(b);
		return IO_NOSPLICE;
	}
	if (b->len == 0)
		pipe_put(b);
	return n;
}

/* buf_write() from b's pipe. */
static ssize_t
pipe_out(int fd, struct buf *b)
{
	ssize_t	 n;

	do {
		n = sys_splice(pipes[b->pipe - 1].r, fd, b->len);
	} while (n == -1 && errno == EINTR);
	if (n == -1)
		return (errno == EAGAIN || errno == EWOULDBLOCK) ? IO_AGAIN :
		    IO_ERROR;
	b->len -= (uint32_t)n;
	b->full = 0;
	st.spliced += (uint64_t)n;
	if (b->len == 0)
		pipe_put(b);
	return n;
}

/*
 * Returns b's buffer to the pool, dropping any bytes left in it (and its
 * pipe's).
 */
static void
buf_put(struct buf *b)
{
	unsigned char	*p = b->inl ? NULL : b->p;

	if (b->pipe != 0)
		pipe_put(b);
	b->p = NULL;
	b->off = b->len = 0;
	b->inl = 0;
	if (p != NULL)
		buf_free(p);
}

/*
 * Frees the buffer at p: the first reader in line that still needs one
 * gets it, and is watched again; else it goes on the free stack.
 */
static void
buf_free(unsigned char *p)
{
	struct dir	*d;

	while ((d = waithead) != NULL &&
	    nbuffree + (nbuf - buffresh) >= bufreserve) {
		waithead = d->wnext;
		if (waithead == NULL)
			waittail = NULL;
		d->waiting = 0;
		/*
		 * One that has a buffer by now, or will read no more (its
		 * connection is closing, a side failed), leaves the line.
		 */
		if (d->buf.p != NULL || d->eof || d->from->dead ||
		    d->to->dead || d->conn->state == C_CLOSING)
			continue;
		d->buf.p = p;
		d->buf.off = d->buf.len = 0;
		conn_events(d->conn);
		return;
	}
	buffreed[nbuffree] = now;
	buffree[nbuffree++] = p;
	if (now + PM_BUF_IDLE_MS < next_timer)
		next_timer = now + PM_BUF_IDLE_MS;
}

/*
 * Returns the room left at the end of b, first moving its bytes to the
 * front when they reach the end.
 */
static size_t
buf_room(struct buf *b)
{
	if (b->p == NULL)
		return PM_BUFSIZE - b->len;	/* empty, or a pipe */
	if (b->off > 0 && b->off + b->len == PM_BUFSIZE) {
		memmove(b->p, b->p + b->off, b->len);
		b->off = 0;
	}
	return PM_BUFSIZE - b->off - b->len;
}

/* Returns whether b has room for a read now. */
static int
buf_takes(const struct buf *b)
{
	return !b->full && !b->inl && b->len < PM_BUFSIZE;
}

/*
 * Reads from fd into b.  Returns the bytes read, 0 at end of file,
 * IO_ERROR (errno set), IO_AGAIN when nothing is there yet, or IO_NOBUF
 * when b has no buffer and the budget none to lend.
 */
static ssize_t
buf_read(int fd, struct buf *b)
{
	unsigned char	*q;
	ssize_t		 n;
	size_t	 room;

	if (b->bulk && b->len == 0 && b->pipe == 0 && b->p != NULL && !b->inl &&
	    npipefree + npipeunmade > 0 && HAVE_SPLICE && !splice_off) {
		/* A buffer handed over while it waited: the pipe takes over. */
		q = b->p;
		b->p = NULL;
		buf_free(q);
	}
	if ((b->pipe != 0 || (b->bulk && b->len == 0 && pipe_get(b) == 0)) &&
	    (n = pipe_in(fd, b)) != IO_NOSPLICE)
		return n;
	if (buf_get(b, 1) == -1)
		return IO_NOBUF;
	if ((room = buf_room(b)) == 0)
		return IO_AGAIN;
	n = fd_read(fd, b->p + b->off + b->len, room);
	if (n > 0)
		b->len += (uint32_t)n;
	else if (b->len == 0)
		buf_put(b);
	return n;
}

/*
 * Writes what b holds to fd.  Returns the bytes written, IO_ERROR (errno
 * set) or IO_AGAIN when fd takes nothing now.  An emptied buffer goes
 * back to the pool.
 */
static ssize_t
buf_write(int fd, struct buf *b)
{
	ssize_t	 n;

	if (b->len == 0)
		return 0;
	if (b->pipe != 0)
		return pipe_out(fd, b);
	if ((n = fd_write(fd, b->p + b->off, b->len)) > 0) {
		b->off += (uint32_t)n;
		b->len -= (uint32_t)n;
		if (b->len == 0)
			buf_put(b);
	}
	return n;
}

/*
 * Appends the len bytes at p (not in b) to b.  Returns 0, or -1 when they
 * do not fit or no buffer is left.
 */
static int
buf_append(struct buf *b, const void *p, size_t len)
{
	if (len == 0)
		return 0;
	if (b->inl) {
		if (len > PM_REPLYMAX - b->off - b->len)
			return -1;
		memcpy(b->p + b->off + b->len, p, len);
		b->len += (uint32_t)len;
		return 0;
	}
	if (len > PM_BUFSIZE - b->len || buf_get(b, 0) == -1 ||
	    buf_room(b) < len)
		return -1;
	memcpy(b->p + b->off + b->len, p, len);
	b->len += (uint32_t)len;
	return 0;
}

/*
 * Gives the empty b the area at p (PM_REPLYMAX bytes) when len bytes fit
 * there, instead of a buffer lent from the budget.
 */
static void
buf_inline(struct buf *b, unsigned char *p, size_t len)
{
	if (b->p == NULL && len > 0 && len <= PM_REPLYMAX) {
		b->p = p;
		b->off = b->len = 0;
		b->inl = 1;
	}
}

/*
 * Makes b hold the len bytes at p, which may point into b.  Returns 0, or
 * -1 when they do not fit or no buffer is left.
 */
static int
buf_set(struct buf *b, const void *p, size_t len)
{
	if (len == 0) {
		buf_put(b);
		return 0;
	}
	if (len > PM_BUFSIZE || buf_get(b, 0) == -1)
		return -1;
	memmove(b->p, p, len);
	b->off = 0;
	b->len = (uint32_t)len;
	return 0;
}

/*
 * Puts the len bytes at p in front of those b holds.  Returns 0, or -1
 * when they do not fit or no buffer is left.
 */
static int
buf_prepend(struct buf *b, const void *p, size_t len)
{
	if (b->pipe != 0 || len > PM_BUFSIZE - b->len || buf_get(b, 0) == -1)
		return -1;
	if (b->off < len) {
		memmove(b->p + len, b->p + b->off, b->len);
		b->off = (uint32_t)len;
	}
	b->off -= (uint32_t)len;
	b->len += (uint32_t)len;
	memcpy(b->p + b->off, p, len);
	return 0;
}

/* Keeps the len bytes of b that start at from, of those it holds. */
static void
buf_trim(struct buf *b, size_t from, size_t len)
{
	b->off += (uint32_t)from;
	b->len = (uint32_t)len;
	if (b->len == 0)
		buf_put(b);
}

/* Marks b as a bulk stream: moved with splice(2) where it can be. */
static void
buf_bulk(struct buf *b)
{
	b->bulk = 1;
}

/* --- Descriptors ------------------------------------------------- */

/*
 * read(2) and write(2), retried when interrupted.  Return the count (0:
 * end of file), IO_AGAIN when fd would block, or IO_ERROR (errno set).
 */
static ssize_t
fd_read(int fd, void *p, size_t len)
{
	ssize_t	 n;

	do {
		n = read(fd, p, len);
	} while (n == -1 && errno == EINTR);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return IO_AGAIN;
	return n;
}

static ssize_t
fd_write(int fd, const void *p, size_t len)
{
	ssize_t	 n;

	do {
		n = write(fd, p, len);
	} while (n == -1 && errno == EINTR);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return IO_AGAIN;
	return n;
}

/* Reads from fd and drops the bytes.  Returns as fd_read(). */
static ssize_t
fd_drain(int fd)
{
	return fd_read(fd, scratch, sizeof(scratch));
}

/*
 * Returns a new TCP socket of family af, non-blocking, close-on-exec and
 * without Nagle (request and response must not wait), or -1.
 */
static int
fd_socket(int af)
{
	int	 fd, later;

	if ((fd = sys_socket(af, &later)) == -1)
		return -1;
	if (later && fd_setup(fd) == -1) {
		close(fd);
		return -1;
	}
	fd_nodelay(fd);
	return fd;
}

/* Sets the descriptor non-blocking and close-on-exec; returns 0 or -1. */
static int
fd_setup(int fd)
{
	int	 fl;

	if ((fl = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) == -1)
		return -1;
	return 0;
}

/* Turns off Nagle: request/response traffic must not wait. */
static void
fd_nodelay(int fd)
{
	int	 one = 1;

	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* Returns the pending error on a socket (0 if none). */
static int
fd_error(int fd)
{
	int		 e = 0;
	socklen_t	 len = sizeof(e);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) == -1)
		return errno;
	return e;
}

/* --- The event layer --------------------------------------------- */

/*
 * The event layer: everything that knows how descriptors are watched.
 *
 * Callers name what they watch with an id (EV_LISTEN(listener), EV_SIGNAL,
 * EV_MASTER, EV_CLIENT(slot), EV_BACKEND(slot)), say what it waits for
 * with ev_set(id, fd, want) and ev_forget(id) once its descriptor is
 * closed.  ev_wait() waits and lists the ids that have events in
 * ev_ready[]; ev_take(id) hands over an id's events.  Events are poll(2)'s
 * bits whatever the backend (EV_IN, EV_OUT, EV_ERR, EV_HUP name them):
 * EV_ERR and EV_HUP come unasked, as from poll(2), on a socket that failed
 * or is gone both ways; an end of file alone is EV_IN, and a read finds it.
 *
 * pfd[] describes the set once, for every backend.  One is built, picked
 * here by the system:
 *
 * - epoll(7) on Linux and kqueue(2) on the BSDs and macOS keep the set in
 *   the kernel, so that a wake-up costs what is ready, not what is open
 *   (poll(2) looks at every idle connection on every call).  ev_set() only
 *   notes the id; before it waits, ev_wait() tells the kernel what changed
 *   since, so that an id set twice between two waits costs one call, and
 *   kqueue gets the changes with the kevent(2) call that waits.
 * - poll(2) elsewhere, and with -DPM_USE_POLL: it reads pfd[] as it is.
 *
 * -DPM_USE_KQUEUE builds kqueue where the system would not pick it: the
 * tests run it on Linux over tests/kqueue_shim.c.
 */
#if defined(PM_USE_POLL) && defined(PM_USE_KQUEUE)
#error "PM_USE_POLL and PM_USE_KQUEUE: pick one"
#elif defined(PM_USE_POLL)
#define PM_EV_POLL
#define EV_NAME		"poll"
#elif defined(PM_USE_KQUEUE) || defined(__FreeBSD__) || \
    defined(__OpenBSD__) || defined(__NetBSD__) || defined(__DragonFly__) || \
    defined(__APPLE__)
#define PM_EV_KQUEUE
#define EV_NAME		"kqueue"
#include <sys/event.h>
#elif defined(__linux__)
#define PM_EV_EPOLL
#define EV_NAME		"epoll"
#include <sys/epoll.h>
#else
#define PM_EV_POLL
#define EV_NAME		"poll"
#endif

#define EV_SIGNAL	0	/* the signal pipe */
#define EV_MASTER	1	/* a worker's pipe from its master */
#define EV_RESOLVER	2	/* the socket to the resolver process */
#define EV_LISTEN(k)	(3 + (int)(k))		/* listener k */
#define EV_LOOKUP(k)	(EV_LISTEN(PM_LISTENERS) + (int)(k))	/* resolver k */
#define EV_CLIENT(i)	(EV_LOOKUP(PM_RESOLVERS) + 2 * (int)(i))
#define EV_BACKEND(i)	(EV_CLIENT(i) + 1)
#define EV_SLOT(id)	(((id) - EV_CLIENT(0)) / 2)	/* of a slot's id */
/* What in the events reported for a socket makes a read or write worth it. */
#define EV_READABLE	(EV_IN | EV_HUP | EV_ERR)
#define EV_WRITABLE	(EV_OUT | EV_HUP | EV_ERR)
#define EV_IDS		EV_CLIENT(PM_MAXCONN)
#define EV_IN		POLLIN
#define EV_OUT		POLLOUT
#define EV_ERR		POLLERR
#define EV_HUP		POLLHUP

static const char	 ev_name[] = EV_NAME;	/* for -V and the log */
static struct pollfd	 pfd[EV_IDS];
static int		 ev_ready[EV_IDS];	/* ids with events */

#ifndef PM_EV_POLL
/*
 * What the kernel was last told about each id: its descriptor + 1 (0:
 * none) and how it is watched; and the ids set since.
 */
#define KW_IN		0x01	/* for reading */
#define KW_OUT		0x02	/* for writing */
#define KW_ERR		0x04	/* kqueue: for a failure only */
#define KW_NOTED	0x80	/* in ev_noted[] */
static int		 ev_kfd[EV_IDS];
static unsigned char	 ev_khow[EV_IDS];
static int		 ev_noted[EV_IDS];
static int		 nev_noted;
static int		 ev_fd = -1;		/* the kernel's set */

static int	ev_kcreate(void);
static void	ev_ksync(int);
static void	ev_sync(void);
static void	ev_found(int, int *, short);

/* Notes that id changed, for the next ev_wait(). */
static void
ev_note(int id)
{
	if (ev_khow[id] & KW_NOTED)
		return;
	ev_khow[id] |= KW_NOTED;
	ev_noted[nev_noted++] = id;
}

/* The kernel dropped id's descriptor when it was closed. */
static void
ev_knone(int id)
{
	ev_kfd[id] = 0;
	ev_khow[id] &= KW_NOTED;
}

/* Makes a new, empty kernel set and notes every id watched. */
static void
ev_kinit(void)
{
	int	 i, id;

	if ((ev_fd = ev_kcreate()) == -1)
		fatal("%s", ev_name);
	for (i = 0; i < nev_noted; i++)
		ev_khow[ev_noted[i]] &= ~KW_NOTED;
	nev_noted = 0;
	for (id = 0; id < EV_CLIENT(hiwater + 1); id++) {
		ev_kfd[id] = 0;
		ev_khow[id] = 0;
		if (pfd[id].fd != -1)
			ev_note(id);
	}
}

/* Drops the kernel set (a master watches no connection). */
static void
ev_close(void)
{
	if (ev_fd != -1)
		close(ev_fd);
	ev_fd = -1;
}

/* Tells the kernel what changed since the last wait. */
static void
ev_sync(void)
{
	int	 i, id;

	for (i = 0; i < nev_noted; i++) {
		id = ev_noted[i];
		ev_khow[id] &= ~KW_NOTED;
		ev_ksync(id);
	}
	nev_noted = 0;
}

/* Adds the events in rev to id's, listing id if they are its first. */
static void
ev_found(int id, int *n, short rev)
{
	if (rev == 0)
		return;
	if (pfd[id].revents == 0)
		ev_ready[(*n)++] = id;
	pfd[id].revents |= rev;
}
#endif /* !PM_EV_POLL */

#ifdef PM_EV_EPOLL
static struct epoll_event	 ep_out[PM_EVENTS];

static int
ev_kcreate(void)
{
	return epoll_create1(EPOLL_CLOEXEC);
}

/* Tells epoll what id now waits for, when that changed. */
static void
ev_ksync(int id)
{
	struct epoll_event	 ev;
	int			 fd = pfd[id].fd, old = ev_kfd[id] - 1;
	unsigned char		 how;

	how = ((pfd[id].events & POLLIN) ? KW_IN : 0) |
	    ((pfd[id].events & POLLOUT) ? KW_OUT : 0);
	if (fd == old && (fd == -1 || how == (ev_khow[id] & ~KW_NOTED)))
		return;
	memset(&ev, 0, sizeof(ev));
	ev.events = ((how & KW_IN) ? EPOLLIN : 0) |
	    ((how & KW_OUT) ? EPOLLOUT : 0);
	/* The descriptor comes back too: an event for an old one is stale. */
	ev.data.u64 = (uint64_t)(uint32_t)fd << 32 | (uint32_t)id;
#ifdef EPOLLEXCLUSIVE
	/* Workers share the listener: wake one of them, not all. */
	if (id < EV_CLIENT(0) && id >= EV_LISTEN(0) && worker > 0)
		ev.events |= EPOLLEXCLUSIVE;
#endif
	if (old != -1 && fd != old &&
	    epoll_ctl(ev_fd, EPOLL_CTL_DEL, old, &ev) == -1)
		log_warn("epoll_ctl del %d", old);
	if (fd != -1 && epoll_ctl(ev_fd, fd == old ? EPOLL_CTL_MOD :
	    EPOLL_CTL_ADD, fd, &ev) == -1)
		log_warn("epoll_ctl %d", fd);
	ev_kfd[id] = fd + 1;
	ev_khow[id] = (ev_khow[id] & KW_NOTED) | how;
}

/* Returns the number of ids in ev_ready[], or -1 (errno set). */
static int
ev_wait(int timeout)
{
	uint32_t	 e;
	int		 i, id, n, nready = 0;

	ev_sync();
	if ((n = epoll_wait(ev_fd, ep_out, PM_EVENTS, timeout)) == -1)
		return -1;
	for (i = 0; i < n; i++) {
		id = (int)(uint32_t)ep_out[i].data.u64;
		if (pfd[id].fd != (int)(ep_out[i].data.u64 >> 32))
			continue;
		e = ep_out[i].events;
		ev_found(id, &nready, (short)(((e & EPOLLIN) ? POLLIN : 0) |
		    ((e & EPOLLOUT) ? POLLOUT : 0) |
		    ((e & EPOLLERR) ? POLLERR : 0) |
		    ((e & EPOLLHUP) ? POLLHUP : 0)));
	}
	return nready;
}
#endif /* PM_EV_EPOLL */

#ifdef PM_EV_KQUEUE
/*
 * kqueue: EVFILT_READ while an id waits for EV_IN, EVFILT_WRITE while it
 * waits for EV_OUT.  An id that waits for nothing keeps an EV_CLEAR read
 * filter, so that a reset is still seen (poll(2) reports one unasked):
 * its events are dropped unless they carry an error.  The changes wait in
 * kq_chg[] for the kevent(2) that waits; udata holds the id, ident the
 * descriptor.  Closing a descriptor drops its filters in the kernel.
 */
static struct kevent	 kq_chg[PM_EVENTS];
static int		 nkq_chg;
static struct kevent	 kq_out[PM_EVENTS];

static void	kq_flush(void);
static void	kq_change(int, int, int, int);

static int
ev_kcreate(void)
{
	int	 fd;

	if ((fd = kqueue()) != -1)
		(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
	return fd;
}

/*
 * Hands the waiting changes to the kernel now, not waiting for events:
 * EV_RECEIPT makes every change answer in the event list, which then has
 * no room for anything else.
 */
static void
kq_flush(void)
{
	struct timespec	 zero = { 0, 0 };
	int		 i, n;

	for (i = 0; i < nkq_chg; i++)
		kq_chg[i].flags |= EV_RECEIPT;
	n = kevent(ev_fd, kq_chg, nkq_chg, kq_chg, nkq_chg, &zero);
	if (n == -1)
		log_warn("kevent");
	for (i = 0; i < n; i++)
		if ((kq_chg[i].flags & EV_ERROR) && kq_chg[i].data != 0)
			log_warnx("kevent %d: %s", (int)kq_chg[i].ident,
			    strerror((int)kq_chg[i].data));
	nkq_chg = 0;
}

/* Queues a change of filter for fd, under id. */
static void
kq_change(int fd, int filter, int flags, int id)
{
	if (nkq_chg == PM_EVENTS)
		kq_flush();
	EV_SET(&kq_chg[nkq_chg], fd, filter, flags, 0, 0,
	    (void *)(intptr_t)id);
	nkq_chg++;
}

/*
 * Queues the changes that make the kernel watch id as pfd[] says.  A read
 * filter changes into an EV_CLEAR one, or back, by being deleted and added
 * again: adding it again would keep its flags.
 */
static void
ev_ksync(int id)
{
	int		 fd = pfd[id].fd, old = ev_kfd[id] - 1;
	unsigned char	 have = ev_khow[id] & ~KW_NOTED, how = 0;

	if (fd != -1) {
		how = ((pfd[id].events & POLLIN) ? KW_IN : 0) |
		    ((pfd[id].events & POLLOUT) ? KW_OUT : 0);
		if (how == 0)
			how = KW_ERR;
	}
	if (fd != old) {
		if (have & (KW_IN | KW_ERR))
			kq_change(old, EVFILT_READ, EV_DELETE, id);
		if (have & KW_OUT)
			kq_change(old, EVFILT_WRITE, EV_DELETE, id);
		have = 0;
	}
	if ((have ^ how) & (KW_IN | KW_ERR)) {
		if (have & (KW_IN | KW_ERR))
			kq_change(fd, EVFILT_READ, EV_DELETE, id);
		if (how & (KW_IN | KW_ERR))
			kq_change(fd, EVFILT_READ, (how & KW_ERR) ?
			    EV_ADD | EV_CLEAR : EV_ADD, id);
	}
	if ((have ^ how) & KW_OUT)
		kq_change(fd, EVFILT_WRITE, (how & KW_OUT) ? EV_ADD :
		    EV_DELETE, id);
	ev_kfd[id] = fd + 1;
	ev_khow[id] = (ev_khow[id] & KW_NOTED) | how;
}

/*
 * Returns the number of ids in ev_ready[], or -1 (errno set).  EV_EOF on
 * a read filter is an end of file (EV_IN, which a read finds), or with an
 * error in fflags a reset (EV_ERR, EV_HUP); on a write filter, a socket
 * that takes no more (EV_HUP, with EV_ERR for an error): what poll(2)
 * would say.
 */
static int
ev_wait(int timeout)
{
	struct timespec	 ts, *tsp = NULL;
	struct kevent	*k;
	short		 rev;
	int		 i, id, n, nready = 0;

	ev_sync();
	if (timeout >= 0) {
		ts.tv_sec = timeout / 1000;
		ts.tv_nsec = (long)(timeout % 1000) * 1000000;
		tsp = &ts;
	}
	n = kevent(ev_fd, kq_chg, nkq_chg, kq_out, PM_EVENTS, tsp);
	nkq_chg = 0;
	if (n == -1)
		return -1;
	for (i = 0; i < n; i++) {
		k = &kq_out[i];
		if (k->flags & EV_ERROR) {
			/* A change the kernel refused. */
			if (k->data != 0)
				log_warnx("kevent %d: %s", (int)k->ident,
				    strerror((int)k->data));
			continue;
		}
		id = (int)(intptr_t)k->udata;
		if (id < 0 || id >= EV_IDS || pfd[id].fd != (int)k->ident)
			continue;
		if (k->filter == EVFILT_READ)
			rev = pfd[id].events & POLLIN;
		else
			rev = POLLOUT | ((k->flags & EV_EOF) ? POLLHUP : 0);
		if ((k->flags & EV_EOF) && k->fflags != 0)
			rev |= POLLERR | POLLHUP;
		ev_found(id, &nready, rev);
	}
	return nready;
}
#endif /* PM_EV_KQUEUE */

#ifdef PM_EV_POLL
static void
ev_kinit(void)
{
}

static void
ev_close(void)
{
}

static void
ev_note(int id)
{
	(void)id;
}

static void
ev_knone(int id)
{
	(void)id;
}

/*
 * Returns the number of ids in ev_ready[], or -1 (errno set).  poll(2)
 * looks at the ids up to the highest slot in use.
 */
static int
ev_wait(int timeout)
{
	int	 id, n, nfds = EV_CLIENT(hiwater + 1), nready = 0;

	if ((n = poll(pfd, (nfds_t)nfds, timeout)) == -1)
		return -1;
	for (id = 0; id < nfds && nready < n; id++)
		if (pfd[id].revents != 0)
			ev_ready[nready++] = id;
	return nready;
}
#endif /* PM_EV_POLL */

/*
 * Starts the event set: at start-up, and in each new worker, where what
 * pfd[] holds is watched again (a new process has a new kernel set).
 */
static void
ev_init(void)
{
	static int	 started;
	int		 id;

	if (!started) {
		started = 1;
		for (id = 0; id < EV_CLIENT(0); id++)
			pfd[id].fd = -1;
	}
	ev_kinit();
}

/*
 * Watches fd (-1: nothing) under id for the events in want (EV_IN,
 * EV_OUT); errors and hang-ups are always reported.
 */
static void
ev_set(int id, int fd, short want)
{
	if (pfd[id].fd != fd)
		pfd[id].revents = 0;
	pfd[id].fd = fd;
	pfd[id].events = want;
	ev_note(id);
}

/* Forgets id, whose descriptor was closed. */
static void
ev_forget(int id)
{
	pfd[id].fd = -1;
	pfd[id].events = pfd[id].revents = 0;
	ev_knone(id);
}

/* Drops whatever was reported for id: its slot is taken anew. */
static void
ev_fresh(int id)
{
	pfd[id].revents = 0;
	pfd[id].fd = -1;
	pfd[id].events = 0;
}

/* Returns the events the last wait found for id, and clears them. */
static short
ev_take(int id)
{
	short	 rev = pfd[id].revents;

	pfd[id].revents = 0;
	return pfd[id].fd == -1 ? 0 : rev;
}

/* --- Connections ------------------------------------------------- */

/*
 * A connection is two directions, up (client to backend) and down
 * (backend to client), each moving bytes from its source to its sink
 * through one buffer (dir_*), and a state that says what the two mean:
 *
 *	accept
 *	  |        noop: wait for more bytes
 *	  v       +------+
 *	ROUTING --+      |          close [+ reply]
 *	  |   ^----------+   -----------------------------> CLOSING
 *	  | remote                                            |
 *	  v          failed                                   | reply
 *	CONNECTING --------> RETRYWAIT                        | written,
 *	  |  ^                  |  |  attempts spent,         | client
 *	  |  +---- 100 ms ------+  +- client gone ----------->+ gone
 *	  | connected                 (fail reply)            |
 *	  v                                                   v
 *	RELAY --- both directions done, or a flush timed out --> free
 *
 * Each transition is made in one place: conn_route() leaves ROUTING,
 * conn_connect() enters CONNECTING, conn_connect_failed() RETRYWAIT,
 * conn_connect_done() RELAY, conn_finish() CLOSING, conn_close() frees.
 */

/* Closes c's backend socket, if open, and stops watching it. */
static void
conn_close_backend(struct conn *c)
{
	if (c->backend.fd != -1) {
		close(c->backend.fd);
		c->backend.fd = -1;
	}
	ev_forget(EV_BACKEND(c - conns));
}

/* Sets d of c up to move the bytes of side from to side to. */
static void
dir_init(struct dir *d, struct conn *c, struct side *from, struct side *to)
{
	d->conn = c;
	d->from = from;
	d->to = to;
}

/*
 * Returns the client's bytes that c has sent its backend (its PROXY
 * header is not one of them).
 */
static uint64_t
conn_upn(const struct conn *c)
{
	return c->up.n > c->hdr ? c->up.n - c->hdr : 0;
}

static void
conn_new(int fd, struct sockaddr_storage *peer, int k)
{
	struct conn	*c;
	char		 a[PM_ADDRSTRLEN];
	int		 i;

	i = nslotfree > 0 ? slotfree[--nslotfree] : slotfresh++;
	c = &conns[i];
	memset(c, 0, sizeof(*c));
	c->client.fd = fd;
	c->backend.fd = -1;
	NOTE(c)[0] = '\0';
	dir_init(&c->up, c, &c->client, &c->backend);
	dir_init(&c->down, c, &c->backend, &c->client);
	/* Workers number apart: worker k of n uses k, k + n, k + 2n... */
	c->id = ++nconn_total;
	if (worker > 0)
		c->id = (c->id - 1) * (uint64_t)nworkers + (uint64_t)worker;
	c->born = now;
	c->peer = *peer;
	c->lis = (unsigned char)k;
	lis[k].accepted++;
	ev_fresh(EV_CLIENT(i));
	ev_fresh(EV_BACKEND(i));
	if (i > hiwater)
		hiwater = i;
	if (++nconn > nconn_max)
		nconn_max = nconn;
	pipe_trim(0);
	title_dirty = 1;
	log_debug(IDF "accept %s on %s", ID(c),
	    pm_addr_str((struct sockaddr *)peer, a, sizeof(a)), lis[k].addr);
	c->state = C_ROUTING;
	if (HAVE_PROXYPROTO && lis[k].proxy) {
		/* The router is asked once the header has come. */
		c->flags |= F_PROXYIN;
		timer_set(c, now + PM_PROXYIN_MS);
		conn_events(c);
		return;
	}
	timer_set(c, now + PM_ROUTE_TIMEOUT);
	if (conn_route(c, 0) == 0)
		conn_events(c);
}

static void
conn_close(struct conn *c, const char *fmt, ...)
{
	char	 why[256];
	va_list	 ap;
	int	 i = (int)(c - conns);

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	st.up += conn_upn(c);
	st.down += c->down.n;
	if (verbosity >= PM_LOG_INFO)
		conn_log(c, why);
	if (c->client.fd != -1)
		close(c->client.fd);
	c->client.fd = -1;
	ev_forget(EV_CLIENT(i));
	conn_close_backend(c);
	dir_unwait(&c->up);
	dir_unwait(&c->down);
	buf_put(&c->up.buf);
	buf_put(&c->down.buf);
	lookup_drop(c);
	c->state = C_FREE;
	slotfree[nslotfree++] = i;
	while (hiwater >= 0 && conns[hiwater].state == C_FREE)
		hiwater--;
	nconn--;
	if (nconn == 0)
		pipe_trim(1);
	title_dirty = 1;
	if (accept_resume != 0)
		accept_resume = now;	/* a descriptor is free again */
}

/*
 * Logs the line of a connection that ends: id, how it ended, the client,
 * the backend (and the attempts when there were several or the last
 * failed), the router's note, bytes each way and how long it lived.
 */
static void
conn_log(struct conn *c, const char *why)
{
	char	 ca[PM_ADDRSTRLEN], ba[PM_ADDRSTRLEN], tries[96];

	if (c->route.addrlen > 0)
		pm_addr_str((struct sockaddr *)&c->route.addr, ba, sizeof(ba));
	else
		snprintf(ba, sizeof(ba), "-");
	tries[0] = '\0';
	if (c->tries > 1 || (c->tries == 1 && c->lastwhy != NULL))
		snprintf(tries, sizeof(tries), " (%d attempt%s%s%s)",
		    c->tries, c->tries > 1 ? "s" : "",
		    c->lastwhy != NULL ? ", last: " : "",
		    c->lastwhy != NULL ? c->lastwhy : "");
	log_info(IDF "close: %s; %s -> %s%s%s%s%s%s; %llu bytes up, %llu "
	    "down, %llu.%03llu s", ID(c), why,
	    pm_addr_str((struct sockaddr *)&c->peer, ca, sizeof(ca)), ba,
	    tries, c->lkwhy != NULL ? "; lookup: " : "",
	    c->lkwhy != NULL ? c->lkwhy : "",
	    NOTE(c)[0] != '\0' ? "; " : "", NOTE(c),
	    (unsigned long long)conn_upn(c), (unsigned long long)c->down.n,
	    (unsigned long long)(now - c->born) / 1000,
	    (unsigned long long)(now - c->born) % 1000);
}

/* Closes every open connection (shutdown ran out of patience). */
static void
conn_close_all(void)
{
	int	 i;

	for (i = 0; i <= hiwater; i++)
		if (conns[i].state != C_FREE)
			conn_close(&conns[i], "shutdown");
}

/* Calls a router hook for c; its log lines carry c's id. */
static void
conn_hook(struct conn *c, void (*hook)(const struct pm_route *))
{
	routing = c;
	hook(&c->route);
	routing = NULL;
}

/*
 * Directions.  The whole relay rule is here: a direction reads while its
 * source is open and its buffer has room, writes while it holds bytes,
 * drops what its source sends once its sink failed, and is done once its
 * source ended and its buffer is empty, or its sink failed.
 */

/*
 * Returns whether d reads from its source now, to pass the bytes on (not
 * while it waits for a buffer).
 */
static int
dir_reads(const struct dir *d)
{
	return !d->eof && !d->from->dead && !d->to->dead && !d->waiting &&
	    buf_takes(&d->buf);
}

/* Returns whether d reads from its source to drop the bytes. */
static int
dir_drains(const struct dir *d)
{
	return d->to->dead && !d->eof && !d->from->dead;
}

/* Returns whether d has bytes for its sink now. */
static int
dir_writes(const struct dir *d)
{
	return d->buf.len > 0 && !d->to->dead && !d->held;
}

/* Returns whether nothing more will pass through d. */
static int
dir_done(const struct dir *d)
{
	return d->to->dead || ((d->eof || d->from->dead) && d->buf.len == 0);
}

/* Returns the events d waits for on its source, and on its sink. */
static short
dir_in(const struct dir *d)
{
	return dir_reads(d) || dir_drains(d) ? POLLIN : 0;
}

static short
dir_out(const struct dir *d)
{
	return dir_writes(d) ? POLLOUT : 0;
}

/*
 * Moves what d can move: a read when rrev says its source is ready, then
 * the write that read makes possible, or a write when wrev says its sink
 * is.  Fills m with what happened.  Returns DIR_OK, or DIR_FROM or DIR_TO
 * when its source or its sink failed (errno set).
 */
static int
dir_step(struct dir *d, short rrev, short wrev, struct moved *m)
{
	size_t	 room;
	ssize_t	 n;

	memset(m, 0, sizeof(*m));
	m->got = IO_AGAIN;
	if ((rrev & EV_READABLE) && (dir_reads(d) || dir_drains(d))) {
		m->rd = 1;
		if (dir_drains(d))
			n = fd_drain(d->from->fd);
		else {
			room = buf_room(&d->buf);
			if ((n = buf_read(d->from->fd, &d->buf)) > 0 &&
			    (size_t)n == room) {
				m->more = 1;
				buf_bulk(&d->buf);
			} else if (n == IO_NOBUF) {
				dir_wait(d);
				n = IO_AGAIN;
			}
		}
		if ((m->got = n) == 0)
			d->eof = 1;
		else if (n == IO_ERROR)
			return DIR_FROM;
		else if (n > 0)
			wrev |= POLLOUT;	/* write at once */
	}
	if ((wrev & EV_WRITABLE) && dir_writes(d)) {
		m->wr = 1;
		if ((n = buf_write(d->to->fd, &d->buf)) == IO_ERROR)
			return DIR_TO;
		if (n > 0) {
			d->n += (uint64_t)n;
			m->put = n;
		}
	}
	m->more = m->more && d->buf.len == 0;
	return DIR_OK;
}

/*
 * The events c waits for: those of its directions, or of its state before
 * and after the relay.  With nothing to wait for, a socket is still
 * watched so that a reset is seen, unless our write side of it is shut:
 * then a hang-up is normal.
 */
static void
conn_events(struct conn *c)
{
	int	 i = (int)(c - conns);
	short	 ce, be = 0;

	if (c->state == C_CLOSING) {
		ev_set(EV_CLIENT(i), c->client.fd, c->down.buf.len > 0 ?
		    POLLOUT : POLLIN);
		ev_set(EV_BACKEND(i), -1, 0);
		return;
	}
	ce = dir_in(&c->up) | dir_out(&c->down);
	if (c->state == C_RELAY)
		be = dir_in(&c->down) | dir_out(&c->up);
	else if (c->state == C_CONNECTING)
		be = POLLOUT;
	ev_set(EV_CLIENT(i), c->client.dead || (ce == 0 && c->down.shut) ?
	    -1 : c->client.fd, ce);
	ev_set(EV_BACKEND(i), c->backend.dead || (be == 0 && c->up.shut) ?
	    -1 : c->backend.fd, be);
}

/*
 * The PROXY protocol (HAProxy's proxy-protocol.txt): a header, text (v1)
 * or binary (v2), in front of a connection's first bytes, that says from
 * which address and to which one the client connected.
 */
#define PROXY_HDRMAX	108	/* v1 at most, with its NUL; v2 at most 52 */
static const unsigned char	 proxy_sig[] = "\r\n\r\n\0\r\nQUIT\n";

/*
 * Writes into h (PROXY_HDRMAX bytes) the PROXY header of version v (1 or
 * 2) for c: its client, and the address it connected to.  An IPv4 client
 * of a dual-stack listener is TCP4.  Returns its length.
 */
static size_t
proxy_header(const struct conn *c, int v, unsigned char *h)
{
	struct sockaddr_in	 s4, d4;
	const struct sockaddr	*s, *d;
	const unsigned char	*sa, *da;
	char			 stext[INET6_ADDRSTRLEN], dtext[INET6_ADDRSTRLEN];
	in_port_t		 sp, dp;
	size_t			 n;

	s = addr_unmap((const struct sockaddr *)&c->peer, &s4);
	d = addr_unmap((const struct sockaddr *)LOCAL(c), &d4);
	if ((n = addr_bytes(s, &sa)) != addr_bytes(d, &da))
		n = 0;			/* not known: UNKNOWN, UNSPEC */
	sp = addr_port(s);
	dp = addr_port(d);
	if (v == 1) {
		if (n == 0)
			return (size_t)snprintf((char *)h, PROXY_HDRMAX,
			    "PROXY UNKNOWN\r\n");
		if (n == 4) {
			addr_ntop4(sa, stext, sizeof(stext));
			addr_ntop4(da, dtext, sizeof(dtext));
		} else {
			addr_ntop6(sa, stext, sizeof(stext));
			addr_ntop6(da, dtext, sizeof(dtext));
		}
		return (size_t)snprintf((char *)h, PROXY_HDRMAX, "PROXY TCP%c "
		    "%s %s %u %u\r\n", n == 4 ? '4' : '6', stext, dtext, ntohs(sp),
		    ntohs(dp));
	}
	memcpy(h, proxy_sig, 12);
	h[12] = 0x21;			/* version 2, PROXY */
	h[13] = n == 4 ? 0x11 : n == 16 ? 0x21 : 0;	/* TCP over v4, v6 */
	h[14] = 0;
	h[15] = (unsigned char)(n > 0 ? 2 * n + 4 : 0);
	if (n > 0) {
		memcpy(h + 16, sa, n);
		memcpy(h + 16 + n, da, n);
		memcpy(h + 16 + 2 * n, &sp, 2);
		memcpy(h + 18 + 2 * n, &dp, 2);
	}
	return 16 + h[15];
}

/*
 * Puts the PROXY header c's route asks for in front of the bytes for its
 * backend, in place of what is left of one put there for an earlier
 * attempt.  Returns 0, or -1 when it does not fit.
 */
static int
conn_proxy(struct conn *c)
{
	unsigned char	 h[PROXY_HDRMAX];
	socklen_t	 len = sizeof(*LOCAL(c));
	size_t		 n;

	if (c->route.proxy != 1 && c->route.proxy != 2)
		return 0;
	if (!HAVE_PROXYPROTO)
		return -1;
	if (c->up.n < c->hdr)
		buf_trim(&c->up.buf, c->hdr - c->up.n, c->up.buf.len -
		    (c->hdr - c->up.n));
	c->up.n = 0;
	if (!(c->flags & F_LOCAL)) {
		c->flags |= F_LOCAL;
		if (getsockname(c->client.fd, (struct sockaddr *)LOCAL(c),
		    &len) == -1)
			LOCAL(c)->sin6_family = 0;	/* UNKNOWN */
	}
	n = proxy_header(c, c->route.proxy, h);
	c->hdr = (unsigned char)n;
	return buf_prepend(&c->up.buf, h, n);
}

/*
 * Makes ss (a sockaddr_in6 or larger) the address of n bytes (4: IPv4,
 * 16: IPv6) at a, and the port at pt (network byte order).
 */
static void
addr_make(void *ss, size_t n, const unsigned char *a, const unsigned char *pt)
{
	struct sockaddr_in	*sin = ss;
	struct sockaddr_in6	*sin6 = ss;

	memset(ss, 0, sizeof(*sin6));
	if (n == 4) {
		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, a, 4);
		memcpy(&sin->sin_port, pt, 2);
	} else {
		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, a, 16);
		memcpy(&sin6->sin6_port, pt, 2);
	}
}

/*
 * Reads the PROXY header (v1 or v2) at the start of the len bytes at p,
 * from a load balancer in front.  Returns its length once it is whole,
 * with the addresses it carries in *src and *dst, or with both left alone
 * when it carries none to use (v2's LOCAL, UNKNOWN, other families); 0
 * while more bytes may complete it; -1 when it is not one, with *why.
 */
static int
proxy_parse(const unsigned char *p, size_t len, struct sockaddr_storage *src,
    struct sockaddr_in6 *dst, const char **why)
{
	unsigned char		 a[2][16], pt[2][2];
	char			 line[PROXY_HDRMAX], *f[7];
	const unsigned char	*nl;
	size_t			 n, alen;
	long			 port;
	int			 i, nf;

	*why = "not a PROXY header";
	if (len == 0)
		return 0;
	if (p[0] == 'P') {
		n = len < 6 ? len : 6;
		if (memcmp(p, "PROXY ", n) != 0)
			return -1;
		n = len < PROXY_HDRMAX - 1 ? len : PROXY_HDRMAX - 1;
		if ((nl = memchr(p, '\n', n)) == NULL) {
			*why = "PROXY header too long";
			return len < PROXY_HDRMAX - 1 ? 0 : -1;
		}
		n = (size_t)(nl - p);
		if (p[n - 1] != '\r' || memchr(p, '\0', n) != NULL)
			return -1;
		memcpy(line, p, n - 1);
		line[n - 1] = '\0';
		n++;
		/* UNKNOWN: what follows it is to be ignored. */
		if (strncmp(line, "PROXY UNKNOWN", 13) == 0 &&
		    (line[13] == '\0' || line[13] == ' '))
			return (int)n;
		nf = pm_conf_split(line, f, 7);
		if (nf != 6 || (strcmp(f[1], "TCP4") != 0 &&
		    strcmp(f[1], "TCP6") != 0))
			return -1;
		alen = f[1][3] == '4' ? 4 : 16;
		for (i = 0; i < 2; i++) {
			if (inet_pton(alen == 4 ? AF_INET : AF_INET6, f[2 + i],
			    a[i]) != 1 ||
			    (port = num_parse(f[4 + i], 65535)) == -1)
				return -1;
			pt[i][0] = (unsigned char)(port >> 8);
			pt[i][1] = (unsigned char)port;
		}
	} else {
		n = len < 12 ? len : 12;
		if (memcmp(p, proxy_sig, n) != 0)
			return -1;
		if (len < 16)
			return 0;
		if ((p[12] & 0xf0) != 0x20 || (p[12] & 0x0f) > 1) {
			*why = "PROXY v2 header of an unknown version or command";
			return -1;
		}
		n = 16 + ((size_t)p[14] << 8 | p[15]);
		if (n > PM_PROXYIN_MAX) {
			*why = "PROXY header too long";
			return -1;
		}
		if (len < n)
			return 0;
		if ((p[12] & 0x0f) == 0 || (p[13] != 0x11 && p[13] != 0x21))
			return (int)n;		/* LOCAL, or not TCP */
		alen = p[13] == 0x11 ? 4 : 16;
		if (n < 16 + 2 * alen + 4) {
			*why = "PROXY v2 header too short for its addresses";
			return -1;
		}
		for (i = 0; i < 2; i++) {
			memcpy(a[i], p + 16 + i * alen, alen);
			memcpy(pt[i], p + 16 + 2 * alen + 2 * i, 2);
		}
	}
	addr_make(src, alen, a[0], pt[0]);
	addr_make(dst, alen, a[1], pt[1]);
	return (int)n;
}

/*
 * Takes the PROXY header a listener that expects one (-a) reads first:
 * its addresses become the client's, then the router is asked.  Returns
 * 0, or -1 if the connection was closed.
 */
static int
conn_proxyin(struct conn *c)
{
	struct buf	*b = &c->up.buf;
	const char	*why;
	int		 n;

	LOCAL(c)->sin6_family = 0;
	if ((n = proxy_parse(b->p + b->off, b->len, &c->peer, LOCAL(c),
	    &why)) == 0)
		return 0;
	if (n == -1) {
		st.proxy_bad++;
		conn_close(c, "%s (%u bytes)", why, (unsigned)b->len);
		return -1;
	}
	c->flags &= ~F_PROXYIN;
	if (LOCAL(c)->sin6_family != 0)
		c->flags |= F_LOCAL;
	buf_trim(b, (size_t)n, b->len - (size_t)n);
	return conn_route(c, 0);
}

/*
 * Asks the router about the bytes so far and acts on the answer.  Returns
 * 0, or -1 if the connection was closed.
 */
static int
conn_route(struct conn *c, int expired)
{
	return conn_decide(c, expired, NULL);
}

/*
 * Asks the router about the bytes so far, with router_resolved() when ans
 * is the answer to its lookup, else with router_route(), and acts on its
 * decision; asks again at once while a PM_NOOP or PM_REPLY consumed bytes
 * and left some.  While a reply of its is still being written, a question
 * waits for it (F_UNROUTED).  Returns 0, or -1 if the connection was
 * closed.
 */
static int
conn_decide(struct conn *c, int expired, const struct pm_answer *ans)
{
	static const unsigned char	 none[1];
	struct pm_route			*r = &c->route;
	struct buf			*b = &c->up.buf;
	const unsigned char		*p;
	unsigned int			 state;
	int				 rc;

again:
	if (ans == NULL && c->down.buf.len > 0) {
		c->flags |= F_UNROUTED | (expired ? F_EXPIRED : 0);
		/* A client that reads no reply still meets the deadline. */
		timer_set(c, c->born + PM_ROUTE_TIMEOUT);
		return 0;
	}
	c->flags &= ~(F_UNROUTED | F_EXPIRED);
	state = r->state;
	memset(r, 0, sizeof(*r));
	r->state = state;
	p = b->p != NULL ? b->p + b->off : none;
	routing = c;
	if (ans != NULL)
		router_resolved(p, b->len, (struct sockaddr *)&c->peer, ans,
		    r);
	else
		router_route(p, b->len, (struct sockaddr *)&c->peer, expired,
		    r);
	routing = NULL;
	ans = NULL;
	if (r->action == PM_REPLY && c->up.eof)
		r->action = PM_CLOSE;	/* nobody will answer the reply */

	switch (r->action) {
	case PM_REPLY:
	case PM_NOOP:
		if ((rc = conn_wait(c)) == 1)
			goto again;	/* each round consumes: bounded */
		return rc;
	case PM_CLOSE:
		return conn_route_close(c);
	case PM_REMOTE:
		return conn_route_remote(c);
	case PM_LOOKUP:
		return conn_lookup(c);
	default:
		conn_close(c, "router gave unknown action %d", r->action);
		return -1;
	}
}

/*
 * For conn_decide(): a PM_REPLY (its reply queued and sent at once) or a
 * PM_NOOP (the bytes it consumed dropped, the timers set).  Returns 1 to
 * ask the router again (bytes consumed, some left), 0 to wait for more,
 * or -1 if the connection was closed.
 */
static int
conn_wait(struct conn *c)
{
	struct pm_route		*r = &c->route;
	struct buf		*b = &c->up.buf;
	ssize_t			 n;

	if (r->action == PM_REPLY) {
		if (r->reply != NULL && r->replylen > 0) {
			buf_inline(&c->down.buf, REPLIES(c), r->replylen);
			if (r->replylen > PM_BUFSIZE ||
			    buf_append(&c->down.buf, r->reply,
			    r->replylen) == -1) {
				conn_close(c, "router reply of %zu bytes too "
				    "long, or no buffer", r->replylen);
				return -1;
			}
		}
		log_debug(IDF "route: a %zu-byte reply, and wait", ID(c),
		    r->reply != NULL ? r->replylen : 0);
		r->reply = NULL;
		r->replylen = 0;
	}
	if (r->consume > b->len) {
		conn_close(c, "router consumed %zu of %u bytes",
		    r->consume, (unsigned)b->len);
		return -1;
	}
	if (r->consume > 0)
		buf_trim(b, r->consume, b->len - r->consume);
	if (b->len >= PM_BUFSIZE) {
		st.route_full++;
		conn_close(c, "routing buffer full (%u bytes) "
		    "without a decision", (unsigned)b->len);
		return -1;
	}
	c->wait = r->wait_ms > 0 ? now + (uint64_t)r->wait_ms : 0;
	timer_set(c, c->born + PM_ROUTE_TIMEOUT);
	if (c->wait != 0 && c->wait < c->deadline)
		timer_set(c, c->wait);
	if (r->action == PM_NOOP)
		log_debug(IDF "route: wait (%u bytes)", ID(c),
		    (unsigned)b->len);
	if (dir_writes(&c->down)) {
		/* Send the reply now, not a round later. */
		if ((n = buf_write(c->client.fd, &c->down.buf)) == IO_ERROR)
			return conn_client_gone(c, errno);
		if (n > 0)
			c->down.n += (uint64_t)n;
	}
	if (r->consume > 0 && b->len > 0)
		return 1;
	if (c->up.eof) {
		conn_close(c, "client closed before a route (%u "
		    "bytes)", (unsigned)b->len);
		return -1;
	}
	return 0;
}

/* For conn_decide(): a PM_CLOSE, after its reply if it gave one. */
static int
conn_route_close(struct conn *c)
{
	struct pm_route		*r = &c->route;

	st.router_closes++;
	if (r->reply == NULL) {
		conn_close(c, "router closed (%u bytes)",
		    (unsigned)c->up.buf.len);
		return -1;
	}
	buf_inline(&c->down.buf, REPLIES(c), r->replylen);
	/* Short of buffers, the client's bytes are done with. */
	if (buf_append(&c->down.buf, r->reply, r->replylen) == -1 &&
	    (buf_put(&c->up.buf), buf_append(&c->down.buf, r->reply,
	    r->replylen)) == -1) {
		conn_close(c, "router reply of %zu bytes too long",
		    r->replylen);
		return -1;
	}
	log_debug(IDF "route: close after a %zu-byte reply", ID(c),
	    r->replylen);
	r->reply = NULL;
	return conn_finish(c);
}

/*
 * Takes the router's remote: the first bytes for the backend, the replies
 * for the client (now, or held for the connect's outcome), then connects.
 * Returns 0, or -1 if the connection was closed.
 */
static int
conn_route_remote(struct conn *c)
{
	struct pm_route	*r = &c->route;
	struct dir	*down = &c->down;
	char		 a[PM_ADDRSTRLEN], tail[64];
	size_t		 rlen, okl, faill;
	ssize_t		 n;
	uint64_t	 k;

	if (r->addrlen == 0 || (r->addr.ss_family != AF_INET &&
	    r->addr.ss_family != AF_INET6)) {
		conn_close(c, "router gave no usable address");
		return -1;
	}
	rlen = r->reply != NULL ? r->replylen : 0;
	okl = r->ok_reply != NULL ? r->ok_replylen : 0;
	faill = r->fail_reply != NULL ? r->fail_replylen : 0;
	if ((r->data != NULL && r->datalen > PM_BUFSIZE) ||
	    rlen > PM_BUFSIZE || okl > PM_BUFSIZE || faill > PM_BUFSIZE ||
	    2 * rlen + okl + faill > PM_BUFSIZE) {
		conn_close(c, "router data or replies longer than %d bytes",
		    PM_BUFSIZE);
		return -1;
	}
	/*
	 * The replies first: they may point into the bytes data replaces.
	 * Held for the connect's outcome, they are the reply and ok_reply,
	 * then the reply and fail_reply; one pair is dropped later.
	 */
	buf_inline(&down->buf, REPLIES(c), okl + faill > 0 ?
	    2 * rlen + okl + faill : rlen);
	if (okl + faill > 0) {
		if (buf_append(&down->buf, r->reply, rlen) == -1 ||
		    buf_append(&down->buf, r->ok_reply, okl) == -1 ||
		    buf_append(&down->buf, r->reply, rlen) == -1 ||
		    buf_append(&down->buf, r->fail_reply, faill) == -1)
			goto nobuf;
		c->heldok = (uint32_t)(rlen + okl);
		c->heldfail = (uint32_t)(rlen + faill);
		down->held = 1;
	} else if (buf_append(&down->buf, r->reply, rlen) == -1)
		goto nobuf;
	if (r->data != NULL && buf_set(&c->up.buf, r->data, r->datalen) == -1)
		goto nobuf;
	pm_addr_str((struct sockaddr *)&r->addr, a, sizeof(a));
	if (conn_proxy(c) == -1) {
		if (!HAVE_PROXYPROTO) {
			if ((k = burst_say(&proxy_burst)) > 0)
				log_warnx(IDF "route to %s asks for a PROXY "
				    "header, which this build does not send: "
				    "refused%s", ID(c), a, burst_tail(k, tail,
				    sizeof(tail)));
			return conn_giveup(c, "PROXY header asked for: this "
			    "build sends none");
		}
		conn_close(c, "no room for the PROXY header");
		return -1;
	}
	log_debug(IDF "route: %s (%u bytes to send, %u of them a PROXY "
	    "header; %zu-byte reply%s)", ID(c), a, (unsigned)c->up.buf.len,
	    (unsigned)c->hdr, rlen, down->held ? " held for the connect" : "");
	r->data = r->reply = r->ok_reply = r->fail_reply = NULL;
	r->datalen = r->replylen = r->ok_replylen = r->fail_replylen = 0;
	c->wait = 0;
	c->tries = 0;
	if (addr_is_self((struct sockaddr *)&r->addr)) {
		st.self_refused++;
		if ((k = burst_say(&self_burst)) > 0)
			log_warnx(IDF "destination %s is this proxy's own "
			    "listener: refused%s", ID(c), a,
			    burst_tail(k, tail, sizeof(tail)));
		return conn_giveup(c, "destination refused: the proxy "
		    "itself");
	}
	if (dir_writes(down)) {
		/* Send the reply now, not a round later. */
		if ((n = buf_write(c->client.fd, &down->buf)) == IO_ERROR)
			return conn_client_gone(c, errno);
		if (n > 0)
			down->n += (uint64_t)n;
	}
	return conn_connect(c);
nobuf:
	conn_close(c, "no buffer");
	return -1;
}

/*
 * Parks c for the lookup its router asked for: it waits for a resolver
 * process, or fails at once (too many lookups, no resolver), and the
 * timer then delivers that.  Returns 0, or -1 if c was closed.
 */
static int
conn_lookup(struct conn *c)
{
	struct pm_route	*r = &c->route;
	struct lookup	*l;
	char		 tail[64], qhost[4 * PM_HOSTMAX + 8];
	uint64_t	 k, until;
	size_t		 j;
	int		 i;

	if (r->host == NULL || r->hostlen == 0 || r->hostlen > PM_HOSTMAX ||
	    memchr(r->host, '\0', r->hostlen) != NULL || r->port < 1 ||
	    r->port > 65535 || (r->family != AF_UNSPEC &&
	    r->family != AF_INET && r->family != AF_INET6)) {
		conn_close(c, "router asked for a lookup without a name, "
		    "with a NUL or a name over %d bytes, or a bad port or "
		    "family", PM_HOSTMAX);
		return -1;
	}
	c->state = C_LOOKUP;
	c->wait = 0;
	c->lkstatus = -1;
	until = now + (uint64_t)(r->connect_ms > 0 ? r->connect_ms :
	    PM_LOOKUP_TIMEOUT);
	timer_set(c, until < c->born + PM_ROUTE_TIMEOUT ? until :
	    c->born + PM_ROUTE_TIMEOUT);
	for (i = 0; i < PM_LOOKUPS && lookups[i].id != 0; i++)
		;
	if (!HAVE_NAMES || nlkp == 0 || i == PM_LOOKUPS) {
		c->lkstatus = nlkp == 0 ? PM_FAILED : PM_BUSY;
		if (nlkp > 0 && (k = burst_say(&lookup_burst)) > 0)
			log_warnx(IDF "%d lookups in flight: refused%s", ID(c),
			    PM_LOOKUPS, burst_tail(k, tail, sizeof(tail)));
		timer_set(c, now);
		return 0;
	}
	l = &lookups[i];
	if ((lookup_gen = (lookup_gen + 1) & 0xffff) == 0)
		lookup_gen = 1;
	l->id = lookup_gen << 16 | (uint32_t)i;
	l->slot = (int)(c - conns);
	l->asked = 0;
	l->seq = ++lookup_seq;
	l->port = r->port;
	l->family = r->family;
	l->hostlen = r->hostlen;
	/* Names are alike in any case (RFC 4343); not so in musl's hosts. */
	for (j = 0; j < r->hostlen; j++)
		l->host[j] = r->host[j] >= 'A' && r->host[j] <= 'Z' ?
		    (char)(r->host[j] - 'A' + 'a') : r->host[j];
	nlookups++;
	c->lookup = i + 1;
	log_debug(IDF "lookup \"%s\" port %d", ID(c), pm_quote(l->host,
	    l->hostlen, qhost, sizeof(qhost)), l->port);
	lookup_dispatch();
	return 0;
}

/*
 * Hands c the answer to its lookup, or its failure (status, no address:
 * ans NULL).  Returns 0, or -1 if c was closed.
 */
static int
conn_answer(struct conn *c, int status)
{
	char	 a[PM_ADDRSTRLEN];

	lookup_drop(c);
	if (status != PM_FOUND || answer.status != PM_FOUND) {
		memset(&answer, 0, sizeof(answer));
		answer.status = status != PM_FOUND ? status : PM_FAILED;
		c->lkwhy = HAVE_NAMES ? pm_lookup_str(answer.status) :
		    "failed: this build looks up no names";
		log_debug(IDF "lookup: %s", ID(c), c->lkwhy);
	} else
		log_debug(IDF "lookup: %d address%s, the first %s", ID(c),
		    answer.naddr, answer.naddr > 1 ? "es" : "",
		    pm_addr_str((struct sockaddr *)&answer.addr[0], a,
		    sizeof(a)));
	c->state = C_ROUTING;
	timer_set(c, c->born + PM_ROUTE_TIMEOUT);
	return conn_decide(c, 0, &answer);
}

/* Starts a connect attempt.  Returns 0, or -1 if c was closed. */
static int
conn_connect(struct conn *c)
{
	struct pm_route	*r = &c->route;
	char		 a[PM_ADDRSTRLEN], tail[64];
	ssize_t		 n;
	uint64_t	 k;
	int		 fd;

	c->tries++;
	c->state = C_CONNECTING;
	if (c->tries > 1)
		log_debug(IDF "connect %s: attempt %d", ID(c),
		    pm_addr_str((struct sockaddr *)&r->addr, a, sizeof(a)),
		    c->tries);
	if ((fd = fd_socket(r->addr.ss_family)) == -1) {
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
		    errno == ENOMEM) {
			/* Ours, not the backend's: retrying will not help. */
			st.local_errors++;
			if ((k = burst_say(&local_burst)) > 0)
				log_warn("no socket for a backend%s",
				    burst_tail(k, tail, sizeof(tail)));
			return conn_giveup(c, "no socket for the backend");
		}
		return conn_connect_failed(c, strerror(errno), errno);
	}
	c->backend.fd = fd;
	if (connect(fd, (struct sockaddr *)&r->addr, r->addrlen) == 0)
		return conn_connect_done(c, POLLOUT);
	if (errno != EINPROGRESS && errno != EINTR)
		return conn_connect_failed(c, strerror(errno), errno);
	/*
	 * A connect to a nearby backend has often completed by now; then
	 * the first bytes go at once, without a round of the event loop.
	 * Where the system says EAGAIN while it is still in progress (and
	 * the error when it failed), try.
	 */
	if (FD_EARLY_WRITE && c->up.buf.len > 0 &&
	    (n = buf_write(fd, &c->up.buf)) != IO_AGAIN) {
		if (n == IO_ERROR)
			return conn_connect_failed(c, strerror(errno), errno);
		c->up.n += (uint64_t)n;
		return conn_connect_done(c, POLLOUT);
	}
	timer_set(c, r->connect_ms > 0 ? now + (uint64_t)r->connect_ms : 0);
	return 0;
}

/*
 * Finishes a connect once the socket is writable or failed: the relay
 * starts, the reply held for it goes out, and what the client did
 * meanwhile (its end of file) is passed on.  Returns 0, or -1 if c was
 * closed.
 */
static int
conn_connect_done(struct conn *c, short rev)
{
	char	 a[PM_ADDRSTRLEN];
	ssize_t	 n;
	int	 e;

	/* Writable without an error or hang-up: connected, no need to ask. */
	if (rev & (POLLERR | POLLHUP)) {
		e = fd_error(c->backend.fd);
		if (e != 0 || !(rev & POLLOUT))
			return conn_connect_failed(c, e != 0 ? strerror(e) :
			    "hung up", e);
	}
	c->state = C_RELAY;
	log_debug(IDF "connected %s", ID(c),
	    pm_addr_str((struct sockaddr *)&c->route.addr, a, sizeof(a)));
	timer_set(c, c->route.idle_ms > 0 ?
	    now + (uint64_t)c->route.idle_ms : 0);
	if (c->down.held) {
		if (c->route.bound)
			conn_bound(c);
		c->down.held = 0;
		buf_trim(&c->down.buf, 0, c->heldok);
		if (dir_writes(&c->down)) {
			if ((n = buf_write(c->client.fd, &c->down.buf)) > 0)
				c->down.n += (uint64_t)n;
			else if (n == IO_ERROR &&
			    conn_client_gone(c, errno) == -1)
				return -1;
		}
	}
	return conn_check(c);
}

/*
 * Writes the local address and port of c's backend connection over the
 * end of the reply held for the connect (the router's bound: SOCKS5's
 * BND.ADDR and BND.PORT).  Left as the router gave it if the address
 * cannot be had.
 */
static void
conn_bound(struct conn *c)
{
	struct sockaddr_storage	 ss;
	struct sockaddr_in	*sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&ss;
	unsigned char		*end;
	socklen_t		 len = sizeof(ss);

	end = c->down.buf.p + c->down.buf.off + c->heldok;
	memset(&ss, 0, sizeof(ss));	/* for the analysers */
	if (getsockname(c->backend.fd, (struct sockaddr *)&ss, &len) == -1)
		return;
	if (ss.ss_family == AF_INET && c->heldok >= 6) {
		memcpy(end - 6, &sin->sin_addr, 4);
		memcpy(end - 2, &sin->sin_port, 2);
	} else if (ss.ss_family == AF_INET6 && c->heldok >= 18) {
		memcpy(end - 18, &sin6->sin6_addr, 16);
		memcpy(end - 2, &sin6->sin6_port, 2);
	}
}

/*
 * Handles a failed connect attempt (why, and err, its errno or 0): retry,
 * or give up and tell the router.  Returns 0, or -1 if c was closed.
 */
static int
conn_connect_failed(struct conn *c, const char *why, int err)
{
	char		 a[PM_ADDRSTRLEN], tail[64];
	uint64_t	 n;

	c->lastwhy = why;
	c->route.error = err;
	conn_close_backend(c);
	pm_addr_str((struct sockaddr *)&c->route.addr, a, sizeof(a));
	if (c->up.eof || c->client.dead) {
		/* Nobody would take what a retry might bring. */
		log_debug(IDF "connect %s failed: %s (attempt %d); the client "
		    "had closed, so no retry and no connect error", ID(c), a,
		    why, c->tries);
		return conn_giveup(c, "connect failed after the client "
		    "closed");
	}
	if (c->tries <= PM_CONNECT_RETRIES) {
		st.connect_retries++;
		log_debug(IDF "connect %s failed: %s (attempt %d of %d); "
		    "retrying in %d ms", ID(c), a, why, c->tries,
		    PM_CONNECT_RETRIES + 1, PM_RETRY_MS);
		c->state = C_RETRYWAIT;
		timer_set(c, now + PM_RETRY_MS);
		return 0;
	}
	st.connect_errors++;
	if ((n = burst_say(&connect_burst)) > 0)
		log_warnx(IDF "connect %s failed after %d attempts: %s%s",
		    ID(c), a, c->tries, why, burst_tail(n, tail, sizeof(tail)));
	conn_hook(c, router_connect_error);
	return conn_giveup(c, "connect error");
}

/*
 * Ends c, whose backend could not be had: the client gets the reply held
 * for a failed connect, and what else it is owed, then is closed.  Returns
 * -1 if c was closed, else 0 (closing).
 */
static int
conn_giveup(struct conn *c, const char *why)
{
	conn_close_backend(c);
	if (c->down.held) {
		c->down.held = 0;
		buf_trim(&c->down.buf, c->heldok, c->heldfail);
	}
	c->endwhy = why;
	if (c->down.buf.len > 0 && !c->client.dead)
		return conn_finish(c);
	conn_close(c, "%s", why);
	return -1;
}

/*
 * Enters C_CLOSING: the backend is dropped, the client gets what is left in
 * the down buffer, then its close is awaited.  Returns 0, or -1 if c was
 * closed.
 */
static int
conn_finish(struct conn *c)
{
	conn_close_backend(c);
	buf_put(&c->up.buf);
	c->state = C_CLOSING;
	timer_set(c, now + PM_CLOSE_TIMEOUT);
	return conn_finish_io(c, POLLOUT);
}

/*
 * Writes the last reply, shuts the client's write side, then reads and
 * drops what the client still sends until it closes, so that our close
 * does not reset the connection under the reply.  Returns 0, or -1 if c
 * was closed.
 */
static int
conn_finish_io(struct conn *c, short rev)
{
	ssize_t	 n;

	if (c->down.buf.len > 0) {
		if (!(rev & EV_WRITABLE))
			return 0;
		if ((n = buf_write(c->client.fd, &c->down.buf)) == IO_ERROR) {
			conn_close(c, "%s%sclient gone before the reply: %s",
			    ENDWHY(c), strerror(errno));
			return -1;
		}
		if (n > 0)
			c->down.n += (uint64_t)n;
		if (c->down.buf.len > 0)
			return 0;
	}
	if (!(c->flags & F_LINGER)) {
		c->flags |= F_LINGER;
		if (shutdown(c->client.fd, SHUT_WR) == -1) {
			conn_close(c, "%s%sreply sent", ENDWHY(c));
			return -1;
		}
		timer_set(c, now + PM_LINGER_MS);
		rev |= POLLIN;
	}
	if ((rev & EV_READABLE) && (n = fd_drain(c->client.fd)) != IO_AGAIN &&
	    n <= 0) {
		conn_close(c, "%s%sreply sent", ENDWHY(c));
		return -1;
	}
	return 0;
}

/*
 * The client socket failed (err) or hung up.  Before the relay this ends
 * the connection with no error hook; during it, the client's side is dead
 * and the backend still gets what was buffered for it.  Returns 0, or -1
 * if c was closed.
 */
static int
conn_client_gone(struct conn *c, int err)
{
	if (err)
		st.client_errors++;
	if (c->state != C_RELAY) {
		conn_close(c, "client gone%s%s (state %d)",
		    err ? ": " : "", err ? strerror(err) : "", c->state);
		return -1;
	}
	if (c->down.buf.len > 0)
		log_debug(IDF "client gone%s%s: %u bytes for it dropped", ID(c),
		    err ? ": " : "", err ? strerror(err) : "",
		    (unsigned)c->down.buf.len);
	c->client.dead = 1;
	buf_put(&c->down.buf);
	timer_set(c, now + PM_FLUSH_TIMEOUT);
	return 0;
}

/*
 * The backend hung up (err 0, at its end of file) or failed.  A backend
 * that goes before sending a byte is a failed connect, as in the
 * original: retried while nothing was sent to it, else reported to the
 * router.  Returns 0, or -1 if c was closed.
 */
static int
conn_backend_gone(struct conn *c, int err, const char *why)
{
	char		 a[PM_ADDRSTRLEN], tail[64];
	uint64_t	 n;

	if (!(c->flags & F_BDATA)) {
		/* Nothing of the client's sent: its PROXY header again. */
		if (c->up.n <= c->hdr && conn_proxy(c) == 0) {
			c->down.eof = c->up.shut = c->backend.dead = 0;
			return conn_connect_failed(c, why, err);
		}
		st.connect_errors++;
		if ((n = burst_say(&silent_burst)) > 0)
			log_warnx(IDF "backend %s %s without sending a "
			    "byte%s", ID(c), pm_addr_str((struct sockaddr *)
			    &c->route.addr, a, sizeof(a)), why,
			    burst_tail(n, tail, sizeof(tail)));
		c->route.error = err;
		if (!c->up.eof && !c->client.dead)
			conn_hook(c, router_connect_error);
		if (c->down.buf.len > 0 && !c->client.dead)
			return conn_finish(c);
		conn_close(c, "backend %s without a byte", why);
		return -1;
	}
	if (err) {
		st.backend_errors++;
		if (c->up.buf.len > 0)
			log_debug(IDF "backend failed: %s: %u bytes for it "
			    "dropped", ID(c), why, (unsigned)c->up.buf.len);
		c->backend.dead = 1;
		buf_put(&c->up.buf);
		timer_set(c, now + PM_FLUSH_TIMEOUT);
	}
	return 0;
}

/* Side s of c failed (err) or hung up (0).  Returns as conn_*_gone(). */
static int
conn_side_gone(struct conn *c, struct side *s, int err)
{
	if (s == &c->client)
		return conn_client_gone(c, err);
	return conn_backend_gone(c, err ? err : EPIPE, err ? strerror(err) :
	    "hung up");
}

/*
 * Passes on half-closes and closes c when both directions are done.
 * Returns 0, or -1 if c was closed.
 */
static int
conn_check(struct conn *c)
{
	struct dir	*d;
	int		 k;

	if (c->state != C_RELAY)
		return 0;
	if (dir_done(&c->up) && dir_done(&c->down)) {
		/* Both ends read to their end: close(2) sends the FINs. */
		conn_close(c, "done");
		return -1;
	}
	/*
	 * A direction done is passed on to its sink.  A shutdown that fails
	 * finds a socket already reset: that side is gone, which may end the
	 * connection (look again) or leave bytes to flush.
	 */
	for (k = 0; k < 2; k++) {
		d = k == 0 ? &c->up : &c->down;
		if (!dir_done(d) || d->shut || d->to->dead)
			continue;
		d->shut = 1;
		if (shutdown(d->to->fd, SHUT_WR) == -1)
			return conn_side_gone(c, d->to, errno) == -1 ? -1 :
			    conn_check(c);
	}
	return 0;
}

/*
 * The client's end of file before the relay: a last question to the
 * router while routing, the end of the retries.  Returns 0, or -1 if c
 * was closed.
 */
static int
conn_client_eof(struct conn *c)
{
	c->up.eof = 1;
	switch (c->state) {
	case C_ROUTING:
		/* No more bytes will come: a last question. */
		if (c->up.buf.len > 0 && !(c->flags & F_PROXYIN))
			return conn_route(c, 1);
		if (c->down.buf.len > 0) {
			/* A reply of the router's is still going out. */
			c->endwhy = "client closed before a route";
			return conn_finish(c);
		}
		conn_close(c, "client closed before a route (%u bytes)",
		    (unsigned)c->up.buf.len);
		return -1;
	case C_LOOKUP:
		/* The answer is still wanted: the router decides then. */
		log_debug(IDF "client sent end of file during a lookup",
		    ID(c));
		return 0;
	case C_RETRYWAIT:
		/* Nobody would take what a retry brings. */
		log_debug(IDF "client closed after %d connect attempts: no "
		    "retry and no connect error", ID(c), c->tries);
		return conn_giveup(c, "client closed before a connect "
		    "worked");
	default:
		log_debug(IDF "client sent end of file during connect", ID(c));
		return 0;
	}
}

/*
 * The client's I/O before the relay: its bytes go to the up buffer (and
 * to the router while routing), a reply sent first goes to it.  Returns
 * 0, or -1 if c was closed.
 */
static int
conn_client_io(struct conn *c, short crev)
{
	ssize_t	 n;
	int	 touched = 0;

	if ((crev & EV_READABLE) && dir_reads(&c->up)) {
		touched = 1;
		if ((n = buf_read(c->client.fd, &c->up.buf)) > 0 &&
		    c->state == C_ROUTING)
			return (c->flags & F_PROXYIN) ? conn_proxyin(c) :
			    conn_route(c, 0);
		if (n == IO_NOBUF)
			dir_wait(&c->up);
		if (n == 0)
			return conn_client_eof(c);
		if (n == IO_ERROR)
			return conn_client_gone(c, errno);
	}
	if ((crev & EV_WRITABLE) && dir_writes(&c->down)) {
		touched = 1;
		if ((n = buf_write(c->client.fd, &c->down.buf)) == IO_ERROR)
			return conn_client_gone(c, errno);
		if (n > 0)
			c->down.n += (uint64_t)n;
		/* A reply of the routing is out: the question it held. */
		if (c->state == C_ROUTING && (c->flags & F_UNROUTED) &&
		    c->down.buf.len == 0)
			return conn_route(c, (c->flags & F_EXPIRED) != 0);
	}
	if (!touched && (crev & (POLLERR | POLLHUP)))
		return conn_client_gone(c, fd_error(c->client.fd));
	return 0;
}

/*
 * One round of the relay for the events crev (client) and brev
 * (backend): each direction moves what it can, then the connection looks
 * at what that means.  Sets *more (MORE_UP, MORE_DOWN) when a read
 * filled a buffer that the write then emptied: there is likely more to
 * read.  Returns 0, or -1 if c was closed.
 */
static int
conn_relay(struct conn *c, short crev, short brev, int *more)
{
	struct moved	 up, down;
	int		 r;

	*more = 0;
	if ((r = dir_step(&c->up, crev, brev, &up)) != DIR_OK &&
	    conn_side_gone(c, r == DIR_FROM ? &c->client : &c->backend,
	    errno) == -1)
		return -1;
	if (c->state != C_RELAY)
		return 0;		/* retrying or closing */
	if ((r = dir_step(&c->down, brev, crev, &down)) != DIR_OK &&
	    conn_side_gone(c, r == DIR_FROM ? &c->backend : &c->client,
	    errno) == -1)
		return -1;
	if (down.got > 0)
		c->flags |= F_BDATA;
	else if (down.got == 0 && !(c->flags & F_BDATA) &&
	    conn_backend_gone(c, 0, "closed") == -1)
		return -1;
	if (c->state != C_RELAY)
		return 0;
	/* Traffic with the backend keeps the inactivity timer away. */
	if ((down.got >= 0 || up.put > 0) && c->route.idle_ms > 0 &&
	    !c->client.dead && !c->backend.dead)
		timer_set(c, now + (uint64_t)c->route.idle_ms);
	/* A failure on a socket we had nothing to do with. */
	if (!up.rd && !down.wr && (crev & (POLLERR | POLLHUP)) &&
	    !c->client.dead && !c->down.shut &&
	    conn_client_gone(c, fd_error(c->client.fd)) == -1)
		return -1;
	if (!down.rd && !up.wr && (brev & (POLLERR | POLLHUP)) &&
	    !c->backend.dead && !c->up.shut &&
	    conn_side_gone(c, &c->backend, fd_error(c->backend.fd)) == -1)
		return -1;
	*more = (up.more ? MORE_UP : 0) | (down.more ? MORE_DOWN : 0);
	return conn_check(c);
}

/*
 * Steps c for the events crev (client) and brev (backend), then, while a
 * stream keeps filling whole buffers that its write empties, a few rounds
 * more without waiting: a busy stream costs one wait per several buffers,
 * and a bounded number so the other connections get their turn.
 */
static void
conn_io(struct conn *c, short crev, short brev)
{
	int	 more = 0, round;

	for (round = 0; ; round++) {
		if (c->state == C_CONNECTING && brev != 0) {
			if (conn_connect_done(c, brev) == -1)
				return;
			brev = c->state == C_RELAY ? POLLOUT : 0;
		}
		if (c->state == C_CLOSING) {
			if (conn_finish_io(c, crev) == -1)
				return;
			break;
		}
		if (c->state != C_RELAY) {
			if (conn_client_io(c, crev) == -1)
				return;
			break;
		}
		if (conn_relay(c, crev, brev, &more) == -1)
			return;
		if (more == 0 || round + 1 >= PM_RELAY_ROUNDS ||
		    c->state != C_RELAY)
			break;
		crev = (more & MORE_UP) ? POLLIN : 0;
		brev = (more & MORE_DOWN) ? POLLIN : 0;
	}
	conn_events(c);
}

/* Acts on an expired deadline of c. */
static void
conn_timer(struct conn *c)
{
	char		 a[PM_ADDRSTRLEN], tail[64];
	uint64_t	 n;

	c->deadline = 0;
	switch (c->state) {
	case C_ROUTING:
		if (c->flags & F_PROXYIN) {
			st.proxy_bad++;
			conn_close(c, "no whole PROXY header within %d ms (%u "
			    "bytes)", PM_PROXYIN_MS, (unsigned)c->up.buf.len);
			return;
		}
		if (now >= c->born + PM_ROUTE_TIMEOUT) {
			st.route_timeouts++;
			conn_close(c, "no route within %d ms (%u bytes)",
			    PM_ROUTE_TIMEOUT, (unsigned)c->up.buf.len);
			return;
		}
		if (c->wait != 0 && now >= c->wait) {
			c->wait = 0;
			if (conn_route(c, 1) == -1)
				return;
		} else
			timer_set(c, c->wait != 0 && c->wait <
			    c->born + PM_ROUTE_TIMEOUT ? c->wait :
			    c->born + PM_ROUTE_TIMEOUT);
		break;
	case C_LOOKUP:
		if (conn_answer(c, c->lkstatus >= 0 ? c->lkstatus :
		    PM_TIMEDOUT) == -1)
			return;
		break;
	case C_CONNECTING:
		if (conn_connect_failed(c, "connect timed out", ETIMEDOUT) ==
		    -1)
			return;
		break;
	case C_RETRYWAIT:
		if (conn_connect(c) == -1)
			return;
		break;
	case C_RELAY:
		if (c->client.dead || c->backend.dead) {
			conn_close(c, "%s gone; the rest not taken within "
			    "%d ms", c->client.dead ? "client" : "backend",
			    PM_FLUSH_TIMEOUT);
			return;
		}
		st.idle_timeouts++;
		pm_addr_str((struct sockaddr *)&c->route.addr, a, sizeof(a));
		if (!(c->flags & F_BDATA)) {
			if ((n = burst_say(&silent_burst)) > 0)
				log_warnx(IDF "backend %s: no byte within the "
				    "inactivity timeout of %d ms%s%s", ID(c), a,
				    c->route.idle_ms, c->up.eof ||
				    c->client.dead ? "; the client had closed, "
				    "so no error" : "", burst_tail(n, tail,
				    sizeof(tail)));
			if (!c->up.eof && !c->client.dead)
				conn_hook(c, router_idle_error);
		}
		conn_close(c, "inactivity timeout (%d ms) on %s",
		    c->route.idle_ms, a);
		return;
	case C_CLOSING:
		conn_close(c, "%s%s%s", ENDWHY(c), (c->flags & F_LINGER) ?
		    "reply sent" : "client did not take the reply in time");
		return;
	default:
		return;
	}
	conn_events(c);
}

/* --- Timers and the process title -------------------------------- */

/* Runs the expired timers and recomputes next_timer. */
static void
timers_run(void)
{
	struct conn	*c;
	int		 i;

	next_timer = mem_trim();
	for (i = 0; i <= hiwater; i++) {
		c = &conns[i];
		if (c->state == C_FREE || c->deadline == 0)
			continue;
		if (c->deadline <= now)
			conn_timer(c);
		if (c->state != C_FREE && c->deadline != 0 &&
		    c->deadline < next_timer)
			next_timer = c->deadline;
	}
}

/*
 * Process title: "proxymachine VERSION - ROUTER HOST:PORT - cur/max/tot
 * conns".  setproctitle(3) where the system has it; on Linux the argument
 * area is rewritten (the environment is moved out of the way first);
 * elsewhere the title is only logged.
 */
static char	*title_area;
static size_t	 title_size;
/* The moved environment: volatile, so that the one store to it stays. */
static char	**volatile title_env;

static void
title_init(int argc, char **argv)
{
	extern char	**environ;
	char		 *end, **env;
	int		  i, n;

	if (!TITLE_IN_ARGV || argc < 1 || argv[0] == NULL)
		return;
	end = argv[0];
	for (i = 0; i < argc; i++)
		if (argv[i] == end)
			end = argv[i] + strlen(argv[i]) + 1;
	for (n = 0; environ[n] != NULL; n++)
		if (environ[n] == end)
			end = environ[n] + strlen(environ[n]) + 1;
	if ((env = calloc((size_t)n + 1, sizeof(*env))) == NULL)
		return;
	for (i = 0; i < n; i++)
		if ((env[i] = strdup(environ[i])) == NULL) {
			while (i > 0)
				free(env[--i]);
			free(env);
			return;		/* no title, then */
		}
	environ = title_env = env;
	title_area = argv[0];
	title_size = (size_t)(end - argv[0]);
}

static void
title_update(void)
{
	char	 t[sizeof(laddr) + 128], w[32];

	title_dirty = 0;
	w[0] = '\0';
	if (worker > 0)
		snprintf(w, sizeof(w), " - worker %d of %d", worker,
		    nworkers);
	if (in_resolver)
		snprintf(t, sizeof(t), "proxymachine %s - %s %s - resolver",
		    PM_VERSION, router_name, laddr);
	else if (nworkers > 1 && worker == 0)
		snprintf(t, sizeof(t), "proxymachine %s - %s %s - master of "
		    "%d workers", PM_VERSION, router_name, laddr, nworkers);
	else
		snprintf(t, sizeof(t), "proxymachine %s - %s %s - %d/%d/%llu "
		    "conns%s", PM_VERSION, router_name, laddr, nconn,
		    nconn_max, (unsigned long long)nconn_total, w);
	if (!sys_setproctitle(t) && title_area != NULL && title_size > 1) {
		size_t	 n = strlen(t);

		if (n >= title_size)
			n = title_size - 1;
		memcpy(title_area, t, n);
		memset(title_area + n, 0, title_size - n);
	}
}

/*
 * The listener.
 */

/* --- The listener ------------------------------------------------ */

/*
 * Resolves one more address to listen on, before the table is read: a
 * table may not route to it.  proxy: it expects a PROXY header.
 */
static void
listener_addr(const char *host, const char *port, int proxy)
{
	struct listener	*l = &lis[nlis];
	char		 e[256];
	size_t		 n = strlen(laddr);

	if (addr_lookup(host, port, 1, &l->ss, &l->sslen, e, sizeof(e)) == -1)
		errx(1, "listen address: %s", e);
	pm_addr_str((struct sockaddr *)&l->ss, l->addr, sizeof(l->addr));
	l->fd = -1;
	l->proxy = HAVE_PROXYPROTO && proxy;
	snprintf(laddr + n, sizeof(laddr) - n, "%s%s%s", nlis > 0 ? " " : "",
	    l->addr, proxy ? "/proxy" : "");
	nlis++;
}

static void
listener_open(void)
{
	struct listener	*l, *m;
	int		 one = 1;

	log_flush();		/* what the table said, should this fail */
	for (l = lis; l < lis + nlis; l++) {
		if ((l->fd = socket(l->ss.ss_family, SOCK_STREAM, 0)) == -1)
			err(1, "socket");
		if (setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one,
		    sizeof(one)) == -1)
			err(1, "setsockopt SO_REUSEADDR");
		/*
		 * An IPv6 listener beside an IPv4 one at its port takes
		 * IPv6 only, as on OpenBSD: -h 0.0.0.0 -h :: works anywhere.
		 */
		for (m = lis; m < lis + nlis; m++)
			if (l->ss.ss_family == AF_INET6 &&
			    m->ss.ss_family == AF_INET &&
			    addr_port((struct sockaddr *)&m->ss) ==
			    addr_port((struct sockaddr *)&l->ss) &&
			    setsockopt(l->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one,
			    sizeof(one)) == -1)
				err(1, "setsockopt IPV6_V6ONLY");
		if (bind(l->fd, (struct sockaddr *)&l->ss, l->sslen) == -1)
			err(1, "bind %s", l->addr);
		if (listen(l->fd, SOMAXCONN) == -1)
			err(1, "listen %s", l->addr);
		if (fd_setup(l->fd) == -1)
			err(1, "fcntl");
		fd_nodelay(l->fd);
		ev_set(EV_LISTEN(l - lis), l->fd, POLLIN);
	}
}

/* Closes the listeners: shutting down. */
static void
listener_close(void)
{
	int	 k;

	for (k = 0; k < nlis; k++)
		if (lis[k].fd != -1) {
			close(lis[k].fd);
			lis[k].fd = -1;
			ev_forget(EV_LISTEN(k));
		}
}

/* Polls the listeners only while a connection can be taken. */
static void
listen_events(void)
{
	int	 k, off = stopping || nconn >= maxconn ||
		    (accept_resume != 0 && now < accept_resume);

	if (!off)
		accept_resume = 0;
	for (k = 0; k < nlis; k++)
		ev_set(EV_LISTEN(k), off ? -1 : lis[k].fd, POLLIN);
}

/* Accepts what listener l has waiting, up to a batch. */
static void
accept_batch(int l)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len;
	int			 fd, k, later;

	for (k = 0; k < PM_ACCEPT_BATCH; k++) {
		if (nconn >= maxconn) {
			if (!pool_full) {
				pool_full = 1;
				log_warnx("pool full (%d connections): not "
				    "accepting until one closes", nconn);
			}
			break;
		}
		len = sizeof(ss);
		fd = sys_accept(lis[l].fd, (struct sockaddr *)&ss, &len,
		    &later);
		if (fd != -1 && later) {
			if (fd_setup(fd) == -1) {
				log_warn("accept: fcntl");
				close(fd);
				continue;
			}
			fd_nodelay(fd);	/* accept4: from the listener */
		}
		if (fd == -1 && errno == EWOULDBLOCK)
			errno = EAGAIN;	/* where they differ */
		if (fd == -1) {
			switch (errno) {
			case EAGAIN:
				/* The burst is over: say so once. */
				if (pool_full || accept_failing)
					log_notice("accepting again: %d of %d "
					    "connections open, none waiting",
					    nconn, maxconn);
				pool_full = accept_failing = 0;
				return;
			case EINTR:
			case ECONNABORTED:
			case EPROTO:
				continue;
			case EMFILE:
			case ENFILE:
			case ENOBUFS:
			case ENOMEM:
				st.accept_errors++;
				if (!accept_failing)
					log_warn("accept: pausing accepts "
					    "for %d ms at a time (%d "
					    "connections open)",
					    PM_ACCEPT_PAUSE, nconn);
				accept_failing = 1;
				accept_resume = now + PM_ACCEPT_PAUSE;
				return;
			default:
				st.accept_errors++;
				log_warn("accept");
				return;
			}
		}
		conn_new(fd, &ss, l);
	}
}

/* Sizes the pool to the descriptor limit, raising it when allowed. */
static void
fd_limit(void)
{
	struct rlimit	 rl;
	rlim_t		 keep = PM_RESERVE_FDS + (rlim_t)nlis - 1;
	rlim_t		 want = 2 * (rlim_t)PM_MAXCONN + keep;
	rlim_t		 old, left;

	maxconn = PM_MAXCONN;
	if (HAVE_SPLICE)
		want += 2 * (rlim_t)PM_PIPES;
	else
		pipemax = 0;
	if (getrlimit(RLIMIT_NOFILE, &rl) == -1) {
		log_warn("getrlimit");
		return;
	}
	old = rl.rlim_cur;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
		rl.rlim_cur = (rl.rlim_max == RLIM_INFINITY ||
		    rl.rlim_max > want) ? want : rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1) {
			log_warn("setrlimit");
			rl.rlim_cur = old;
		} else if (rl.rlim_cur != old)
			log_notice("descriptor limit raised from %llu to %llu",
			    (unsigned long long)old,
			    (unsigned long long)rl.rlim_cur);
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
		if (rl.rlim_cur < keep + 2)
			errx(1, "descriptor limit %llu is too low",
			    (unsigned long long)rl.rlim_cur);
		left = rl.rlim_cur - keep;
		/* Pipes get at most a sixteenth of what is left. */
		if (pipemax > (int)(left / 32))
			pipemax = (int)(left / 32);
		maxconn = (int)((left - 2 * (rlim_t)pipemax) / 2);
		log_warnx("descriptor limit %llu: pool shrunk from %d to %d "
		    "connections, %d splice pipes", (unsigned long long)
		    rl.rlim_cur, PM_MAXCONN, maxconn, pipemax);
	}
}

/* --- Stats, signals and shutdown --------------------------------- */

/* Logs the counters: connections, bytes each way, errors by kind. */
static void
stats_log(void)
{
	uint64_t	 up = st.up, down = st.down;
	char		 l[sizeof(laddr) + PM_LISTENERS * 24];
	size_t		 n = 0;
	int		 i;

	for (i = 0; i < nlis; i++)
		n += (size_t)snprintf(l + n, sizeof(l) - n, "%s%s%s %llu",
		    i > 0 ? ", " : "", lis[i].addr, lis[i].proxy ? "/proxy" : "",
		    (unsigned long long)lis[i].accepted);
	for (i = 0; i <= hiwater; i++)
		if (conns[i].state != C_FREE) {
			up += conn_upn(&conns[i]);
			down += conns[i].down.n;
		}
	log_notice("stats: %d open (most %d, pool %d), %llu accepted; "
	    "%llu bytes up, %llu down (%llu spliced); %d of %d buffers in "
	    "use, %llu waits for one, %llu given up by clients not routed; "
	    "errors: %llu connect (%llu retries), "
	    "%llu inactivity, %llu routing timeouts, %llu routing buffers "
	    "full, %llu closed by the router, %llu client, %llu backend, "
	    "%llu accept, %llu no socket, %llu for itself, %llu bad PROXY "
	    "headers; accepted on %s", nconn, nconn_max, maxconn,
	    (unsigned long long)nconn_total, (unsigned long long)up,
	    (unsigned long long)down, (unsigned long long)st.spliced,
	    buffresh - nbuffree, nbuf, (unsigned long long)st.buf_waits,
	    (unsigned long long)st.route_reclaimed,
	    (unsigned long long)st.connect_errors,
	    (unsigned long long)st.connect_retries,
	    (unsigned long long)st.idle_timeouts,
	    (unsigned long long)st.route_timeouts,
	    (unsigned long long)st.route_full,
	    (unsigned long long)st.router_closes,
	    (unsigned long long)st.client_errors,
	    (unsigned long long)st.backend_errors,
	    (unsigned long long)st.accept_errors,
	    (unsigned long long)st.local_errors,
	    (unsigned long long)st.self_refused,
	    (unsigned long long)st.proxy_bad, l);
}

/* Flushes the log, removes the pid file and exits. */
static void
quit(int status)
{
	log_flush();
	if (pidfile != NULL)
		(void)unlink(pidfile);
	exit(status);
}

/*
 * Signals.  The handlers only set a flag and write a byte to a pipe that
 * the loop polls, so no signal is lost between a check and poll(2).
 */

static void
sig_handler(int sig)
{
	int	 saved = errno;
	char	 b = (char)sig;

	switch (sig) {
	case SIGQUIT:
		got_quit = 1;
		break;
	case SIGTERM:
	case SIGINT:
		got_term++;
		break;
	case SIGHUP:
		got_hup = 1;
		break;
	case SIGCHLD:
		got_chld = 1;
		break;
	case SIGUSR2:
		got_now = 1;
		break;
	default:
		got_stats = 1;
		break;
	}
	(void)write(sigpipe[1], &b, 1);
	errno = saved;
}

static void
signals_init(void)
{
	struct sigaction	 sa;

	if (pipe(sigpipe) == -1)
		err(1, "pipe");
	if (fd_setup(sigpipe[0]) == -1 || fd_setup(sigpipe[1]) == -1)
		err(1, "fcntl");
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sa.sa_handler = sig_handler;
	sigaction(SIGQUIT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGUSR2, &sa, NULL);
	sa.sa_flags = SA_NOCLDSTOP;	/* a master reaps its workers */
	sigaction(SIGCHLD, &sa, NULL);
	if (SIG_INFO != 0)
		sigaction(SIG_INFO, &sa, NULL);
	ev_set(EV_SIGNAL, sigpipe[0], POLLIN);
}

static void
signals_run(void)
{
	char	 b[64];

	while (read(sigpipe[0], b, sizeof(b)) > 0)
		;
#ifndef PM_NO_MAIN
	if (worker == 0 && nworkers > 1)
		master_signals();
#endif
	if (got_stats) {
		got_stats = 0;
		stats_log();
	}
#ifndef PM_NO_MAIN
	/* HUP first: a resolver that died meanwhile fails that reload. */
	if (got_hup) {
		got_hup = 0;
		if (worker > 0)
			log_info("HUP ignored: the master (pid %ld) reads the "
			    "table for every worker; signal it instead",
			    (long)getppid());
		else
			reload_request();
	}
	if (got_chld) {
		got_chld = 0;
		children_reap();
	}
	if (worker == 0 && nworkers > 1)
		return;		/* the rest was master_signals()'s */
#endif
	/*
	 * A worker can get TERM both from its master and from whoever sent
	 * the master one (a service manager signals the whole group): its
	 * master says when it is a second one, with USR2.
	 */
	if (worker > 0 && got_term > 1)
		got_term = 1;
	if (got_now || (got_term > 1 && stopping == STOP_FAST)) {
		if (stopping != STOP_FAST)
			stop_begin(STOP_FAST);
		log_notice("%s: closing %d connections now", got_now ? "USR2" :
		    "second signal", nconn);
		got_now = 0;
		conn_close_all();
		stop_check();
	}
	if (got_term && stopping != STOP_FAST)
		stop_begin(STOP_FAST);
	else if (got_quit && !stopping)
		stop_begin(STOP_GRACEFUL);
}

/* Stops accepting: STOP_FAST for TERM and INT, STOP_GRACEFUL for QUIT. */
static void
stop_begin(int how)
{
	stopping = how;
	accept_resume = 0;
	listener_close();
	if (how == STOP_FAST) {
		stop_deadline = now + PM_TERM_GRACE;
		log_notice("fast shutdown: not accepting; waiting at most %d ms "
		    "for %d connections", PM_TERM_GRACE, nconn);
	} else
		log_notice("graceful shutdown: not accepting; waiting for %d "
		    "connections", nconn);
	stop_said = now;
	stop_left = nconn;
}

/* Exits once shutting down and done; logs progress once a second. */
static void
stop_check(void)
{
	if (!stopping)
		return;
	if (nconn == 0) {
		log_notice("all connections closed: exiting");
		quit(0);
	}
	if (stopping == STOP_FAST && now >= stop_deadline) {
		log_notice("grace period over: closing %d connections", nconn);
		conn_close_all();
		log_notice("exiting");
		quit(0);
	}
	if (now >= stop_said + SAY_EVERY_MS && nconn != stop_left) {
		log_notice("shutdown: %d connections left", nconn);
		stop_left = nconn;
		stop_said = now;
	}
}

/* --- Running as a service ---------------------------------------- */

/*
 * Detaches: a child in a new session, with stdio on /dev/null.  The parent
 * exits once the child says it is ready (0) or dies first (1).  Returns
 * the descriptor on which the child says so.
 */
static int
daemonize(void)
{
	pid_t	 pid;
	ssize_t	 n;
	int	 fd, p[2];
	char	 b;

	if (pipe(p) == -1)
		err(1, "pipe");
	if ((pid = fork()) == -1)
		err(1, "fork");
	if (pid != 0) {
		close(p[1]);
		b = 0;
		do {
			n = read(p[0], &b, 1);
		} while (n == -1 && errno == EINTR);
		_exit(n == 1 && b == 'R' ? 0 : 1);
	}
	close(p[0]);
	if (setsid() == -1)
		err(1, "setsid");
	if (chdir("/") == -1)
		err(1, "chdir /");
	if ((fd = open("/dev/null", O_RDWR)) == -1)
		err(1, "/dev/null");
	if (dup2(fd, STDIN_FILENO) == -1 || dup2(fd, STDOUT_FILENO) == -1 ||
	    dup2(fd, STDERR_FILENO) == -1)
		err(1, "dup2");
	if (fd > STDERR_FILENO)
		close(fd);
	return p[1];
}

/*
 * Writes what fmt makes, up to 2 KiB, to fd.  Returns 0, or -1 when the
 * write fails.  (stdio's streams would be some 5 KB of a static binary.)
 */
static int
fd_printf(int fd, const char *fmt, ...)
{
	char	 b[2048];
	va_list	 ap;
	size_t	 len, off;
	ssize_t	 w;
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(b, sizeof(b), fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	len = (size_t)n < sizeof(b) ? (size_t)n : sizeof(b) - 1;
	for (off = 0; off < len; off += (size_t)w)
		if ((w = fd_write(fd, b + off, len - off)) < 0)
			return -1;
	return 0;
}

/* Writes our process id to pidfile; failing is fatal. */
static void
pidfile_write(void)
{
	int	 fd;

	if ((fd = open(pidfile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0666)) == -1 || fd_printf(fd, "%ld\n", (long)getpid()) == -1 ||
	    close(fd) == -1) {
		log_warn("pid file %s", pidfile);
		pidfile = NULL;
		quit(1);
	}
}

/* Returns a copy of what privdrop() needs from pw, or NULL. */
static struct passwd *
pwcopy(const struct passwd *pw)
{
	static struct passwd	 copy;

	memset(&copy, 0, sizeof(copy));
	copy.pw_uid = pw->pw_uid;
	copy.pw_gid = pw->pw_gid;
	if ((copy.pw_name = strdup(pw->pw_name)) == NULL)
		return NULL;
	return &copy;
}

/*
 * Enters dir (chroot) and becomes user pw, for good.  Called once the
 * listener is bound and the log is open.  A failure is reported as the
 * other start-up errors are, "proxymachine: ..." on stderr (in the log
 * once detached), and the program exits.  A helper process (quiet set),
 * forked as the same user just before the main process drops, exits
 * without a word: the main one fails alike and says it, once.
 */
static void
privdrop(const struct passwd *pw, const char *dir, int quiet)
{
	char	 msg[512];

	if (!HAVE_PRIVDROP)
		return;
	if (dir != NULL && (chroot(dir) == -1 || chdir("/") == -1))
		snprintf(msg, sizeof(msg), "chroot %s: %s", dir,
		    strerror(errno));
	else if (pw == NULL)
		return;
	else if (setgroups(1, &pw->pw_gid) == -1 ||
	    setgid(pw->pw_gid) == -1 || setuid(pw->pw_uid) == -1)
		snprintf(msg, sizeof(msg), "cannot become %s: %s",
		    pw->pw_name, strerror(errno));
	else if (pw->pw_uid != 0 && setuid(0) != -1)
		snprintf(msg, sizeof(msg), "still able to become root after "
		    "dropping to %s", pw->pw_name);
	else
		return;
	if (quiet)
		_exit(1);
	if (use_syslog)
		fatalx("%s", msg);
	log_flush();
	warnx("%s", msg);
	quit(1);
}

static void
usage(int status)
{
	fd_printf(status ? STDERR_FILENO : STDOUT_FILENO,
	    "usage: proxymachine [-dqVv]" USAGE_A " [-c config] [-h host] "
	    "[-m MiB]\n"
	    "                    [-P pidfile] [-p port]" USAGE_TU USAGE_W "\n"
	    "  -c, --config CONFIG   the %s router's table\n"
	    "  -h, --host HOST       address to bind (default 0.0.0.0)\n"
	    "  -p, --port PORT       port to listen on (default 5432)\n"
	    HELP_A HELP_LIS
	    "  -d, --daemon          detach, and log to syslog\n"
	    "  -P, --pidfile FILE    write the process id to FILE\n"
	    HELP_TU HELP_W
	    "  -m, --memory MIB      memory for buffers (default %d)\n"
	    "  -q, --quiet           log only warnings and errors\n"
	    "  -v, --verbose         log routing waits too\n"
	    "  -V, --version         print the version and exit\n"
	    "      --help            print this help and exit\n",
	    router_name, PM_MEMORY);
	exit(status);
}

#ifndef PM_NO_MAIN
/*
 * Reloads.  Name lookups may take as long as a name server likes, so
 * none runs where connections are served: on SIGHUP the process that
 * serves (or the master, with workers) asks the resolver, a child forked
 * before the privileges were dropped and never chrooted, to load the
 * table.  The resolver runs router_load() in LOAD_RECORD mode and sends
 * back the text it read and the answers to its lookups, or its error.
 * The asking process reads that answer as it comes, from its event loop,
 * and runs router_load() again in LOAD_REPLAY mode, which takes both from
 * the record: until then the old table serves.  A master keeps the table
 * in force, so that a worker it forks inherits it, and sends the same
 * answer down each worker's pipe for the worker to replay.
 */

/* --- Messages between processes ---------------------------------- */

/* Returns a new message of type and id with room for len body bytes. */
static struct blob *
blob_new(uint32_t type, uint32_t id, size_t len)
{
	struct blob	*b;
	uint32_t	 l = (uint32_t)len;

	if (len > PM_MSG_MAX ||
	    (b = malloc(sizeof(*b) + MSG_HDR + len)) == NULL)
		return NULL;
	b->refs = 1;
	b->len = MSG_HDR + len;
	memcpy(b->data, &l, 4);
	memcpy(b->data + 4, &type, 4);
	memcpy(b->data + 8, &id, 4);
	return b;
}

/* Drops one reference to b, freeing it with the last. */
static void
blob_put(struct blob *b)
{
	if (b != NULL && --b->refs == 0)
		free(b);
}

/* Returns the type (at 4) or the request id (at 8) of the message b. */
static uint32_t
msg_field(const struct blob *b, int at)
{
	uint32_t	 v;

	memcpy(&v, b->data + at, 4);
	return v;
}

static void
msgin_reset(struct msgin *m)
{
	blob_put(m->b);
	m->b = NULL;
	m->got = 0;
}

static void
msgout_set(struct msgout *o, struct blob *b)
{
	blob_put(o->b);
	if (b != NULL)
		b->refs++;
	o->b = b;
	o->off = 0;
}

/*
 * Reads from fd what is still missing of the message in m, never more.
 * Returns 1 when the message is whole (take it with msg_take()), 0 when
 * the rest has not come yet, -1 at end of file or on an error (*why says
 * which).
 */
static int
msg_read(int fd, struct msgin *m, const char **why)
{
	unsigned char	*dst;
	uint32_t	 len;
	size_t		 want;
	ssize_t		 n;

	for (;;) {
		if (m->got < MSG_HDR) {
			dst = m->hdr + m->got;
			want = MSG_HDR - m->got;
		} else if (m->got < m->b->len) {
			dst = m->b->data + m->got;
			want = m->b->len - m->got;
		} else
			return 1;
		if ((n = read(fd, dst, want)) == 0) {
			*why = "end of file";
			return -1;
		}
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			*why = strerror(errno);
			return -1;
		}
		m->got += (size_t)n;
		if (m->got == MSG_HDR) {
			memcpy(&len, m->hdr, 4);
			if ((m->b = blob_new(0, 0, len)) == NULL) {
				*why = len > PM_MSG_MAX ? "message too long" :
				    "out of memory";
				return -1;
			}
			memcpy(m->b->data, m->hdr, MSG_HDR);
		}
	}
}

/* Returns the whole message msg_read() found, and makes m ready again. */
static struct blob *
msg_take(struct msgin *m)
{
	struct blob	*b = m->b;

	m->b = NULL;
	m->got = 0;
	return b;
}

/*
 * Writes what fd takes of the message in o.  Returns 1 once it is all
 * written (o is then empty), 0 when some is left, -1 on an error.
 */
static int
msg_write(int fd, struct msgout *o)
{
	ssize_t	 n;

	while (o->b != NULL) {
		n = write(fd, o->b->data + o->off, o->b->len - o->off);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return -1;
		}
		if ((o->off += (size_t)n) == o->b->len)
			msgout_set(o, NULL);
	}
	return 1;
}

/*
 * In a new child: closes every descriptor from lowfd up (the listener,
 * connections, pipes), which it must not keep open.
 */
static void
fds_close_from(int lowfd)
{
	sys_closefrom(lowfd);
}

/* The resolver's end of its socket, once it has set itself up. */
#define RSV_FD		(STDERR_FILENO + 1)

/* --- The resolver process and reloads ---------------------------- */

/* In the resolver: loads the table as req asks; returns the answer. */
static struct blob *
resolver_answer(const struct blob *req)
{
	struct blob	*b;
	char		 e[512];
	size_t		 n;
	int		 rc = -1;

	e[0] = '\0';
	if (HAVE_NAMES && msg_field(req, 4) == M_LOOKUP)
		return lookup_answer(req);
	if (msg_field(req, 4) != M_RELOAD)
		snprintf(e, sizeof(e), "unknown request %lu",
		    (unsigned long)msg_field(req, 4));
	else {
		rec.len = 0;
		rec.full = 0;
		load_mode = LOAD_RECORD;
		rc = router_load(conf_path, e, sizeof(e));
		load_mode = LOAD_FILE;
		if (rc == 0 && rec.full) {
			rc = -1;
			snprintf(e, sizeof(e), "%s: the table and its lookups "
			    "take more than %d bytes", conf_path != NULL ?
			    conf_path : "(no table)", PM_MSG_MAX);
		}
	}
	n = rc == 0 ? rec.len : strlen(e);
	if ((b = blob_new(M_TABLE, msg_field(req, 8), 1 + n)) != NULL) {
		b->data[MSG_HDR] = rc == 0 ? 0 : 1;
		if (n > 0)
			memcpy(b->data + MSG_HDR + 1, rc == 0 ? rec.p :
			    (unsigned char *)e, n);
	}
	free(rec.p);			/* memory goes back between loads */
	rec.p = NULL;
	rec.len = rec.cap = 0;
	return b;
}

/*
 * The resolver process, forked with every signal blocked (old is the
 * mask to restore); fd is its end of the socket.  pw is the user to
 * become (NULL when it is one already, as for a resolver started again);
 * first is set for the one started before the privileges were dropped.
 * It serves one request at a time until its parent closes the other
 * end.  The signals the proxy takes are ignored: it lives as long as its
 * parent.
 */
static void
resolver_main(int fd, const struct passwd *pw, int first,
    const sigset_t *old)
{
	static const int	 ign[] = { SIGHUP, SIGINT, SIGQUIT, SIGTERM,
	    SIGUSR1, SIGUSR2, SIGPIPE, SIG_INFO
	};
	struct sigaction	 sa;
	struct msgin		 in;
	struct msgout		 out;
	struct blob		*req;
	const char		*why;
	size_t			 i;
	int			 r;

	in_resolver = 1;
	pidfile = NULL;			/* not its to remove */
	snprintf(wtag, sizeof(wtag), "resolver ");
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = SIG_IGN;
	for (i = 0; i < sizeof(ign) / sizeof(ign[0]); i++)
		sigaction(ign[i], &sa, NULL);
	sa.sa_handler = SIG_DFL;
	sigaction(SIGCHLD, &sa, NULL);
	sigprocmask(SIG_SETMASK, old, NULL);
	if (use_syslog)
		syslog_close();
	if (fd != RSV_FD && dup2(fd, RSV_FD) == -1)
		_exit(1);
	fds_close_from(RSV_FD + 1);
	if (use_syslog)
		syslog_open();
	privdrop(pw, NULL, 1);
	title_update();
	/* A resolver started again has its parent's unveil(2) already. */
	if (first && ((conf_path != NULL && sys_unveil(conf_path, "r") ==
	    -1) || sys_unveil(NULL, NULL) == -1))
		fatal("unveil");
	if (sys_pledge("stdio rpath dns") == -1)
		fatal("pledge");
	memset(&in, 0, sizeof(in));
	for (;;) {
		/* A blocking socket: msg_read() returns 1 or -1. */
		if (msg_read(RSV_FD, &in, &why) != 1)
			_exit(0);
		req = msg_take(&in);
		out.b = resolver_answer(req);
		out.off = 0;
		blob_put(req);
		if (out.b == NULL)
			fatalx("resolver: out of memory");
		while ((r = msg_write(RSV_FD, &out)) == 0)
			;
		if (r == -1)
			_exit(0);
	}
}

/*
 * Forks the resolver; pw as for resolver_main(), first when it is the
 * one started before the privileges were dropped.  Returns 0, or -1 when
 * it could not (said in the log; resolver_tick() tries again).
 */
static int
resolver_start(const struct passwd *pw, int first)
{
	sigset_t	 all, old;
	pid_t		 pid;
	int		 sv[2];

	rsv.born = now;
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1) {
		log_warn("resolver: socketpair");
		return -1;
	}
	log_flush();
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	if ((pid = fork()) == 0)
		resolver_main(sv[1], pw, first, &old);
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(sv[1]);
	if (pid == -1) {
		log_warn("resolver: fork");
		close(sv[0]);
		return -1;
	}
	rsv.pid = pid;
	if (fd_setup(sv[0]) == -1) {
		log_warn("resolver: fcntl");
		close(sv[0]);
		(void)kill(pid, SIGKILL);	/* reaped as it dies */
		return -1;
	}
	rsv.fd = sv[0];
	log_info("resolver started, pid %ld", (long)pid);
	if (rsv.again)
		reload_request();
	return 0;
}

/*
 * The resolver's socket failed (why, or NULL when it closed, as at the
 * resolver's exit): closes it, kills the resolver if it still runs, and
 * fails the reload in flight.
 */
static void
resolver_lost(const char *why)
{
	if (rsv.fd == -1)
		return;
	close(rsv.fd);
	rsv.fd = -1;
	ev_forget(EV_RESOLVER);
	msgin_reset(&rsv.in);
	msgout_set(&rsv.out, NULL);
	if (why != NULL && rsv.pid > 0) {
		log_warnx("resolver (pid %ld): %s: stopping it", (long)rsv.pid,
		    why);
		(void)kill(rsv.pid, SIGKILL);
	}
	if (rsv.busy) {
		rsv.busy = 0;
		log_warnx("reload failed, keeping the old table: the resolver "
		    "(pid %ld) is gone", (long)rsv.pid);
	}
}

/* Writes how a child with wait(2) status ended into buf; returns buf. */
static char *
exit_str(int status, char *buf, size_t len)
{
	if (WIFSIGNALED(status))
		snprintf(buf, len, "killed by signal %d", WTERMSIG(status));
	else
		snprintf(buf, len, "exited with status %d",
		    WEXITSTATUS(status));
	return buf;
}

/* The resolver exited with status: says so; it is started again later. */
static void
resolver_reaped(int status)
{
	char	 why[64];

	resolver_lost(NULL);
	exit_str(status, why, sizeof(why));
	log_warnx("resolver (pid %ld) %s%s", (long)rsv.pid, why,
	    stopping ? "" : ": starting another");
	rsv.pid = 0;
}

/*
 * Starts the resolver again once it is gone and reaped, at most once per
 * PM_RESPAWN_MS, unless shutting down.  Returns how many ms until it
 * should try, or -1 when there is nothing to wait for.
 */
static int
resolver_tick(void)
{
	if (worker > 0 || stopping || rsv.fd != -1 || rsv.pid != 0)
		return -1;
	if (now < rsv.born + PM_RESPAWN_MS)
		return (int)(rsv.born + PM_RESPAWN_MS - now);
	if (resolver_start(NULL, 0) == -1 && rsv.pid == 0)
		return PM_RESPAWN_MS;
	return -1;
}

/* Reaps the children that exited: workers and the resolver. */
static void
children_reap(void)
{
	pid_t	 pid;
	int	 k, status;
	char	 why[64];

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (pid == rsv.pid) {
			resolver_reaped(status);
			continue;
		}
		for (k = 1; k <= nworkers; k++)
			if (workers[k].pid == pid)
				break;
		if (k > nworkers || worker > 0)
			continue;
		workers[k].pid = 0;
		if (workers[k].fd != -1) {
			close(workers[k].fd);
			workers[k].fd = -1;
		}
		msgout_set(&workers[k].out, NULL);
		workers[k].stale = 0;
		exit_str(status, why, sizeof(why));
		if (stopping)
			log_info("worker %d %s", k, why);
		else {
			respawns++;
			log_warnx("worker %d (pid %ld) %s: starting another",
			    k, (long)pid, why);
		}
	}
}

/*
 * On SIGHUP: asks the resolver to load the table.  A HUP while a load is
 * in flight, or while the resolver is being started again, is kept (one,
 * however many come) and served once it can be.
 */
static void
reload_request(void)
{
	if (rsv.busy || rsv.fd == -1) {
		if (!rsv.again)
			log_info("HUP: the table is read again once %s",
			    rsv.busy ? "the read in progress is done" :
			    "the resolver runs again");
		rsv.again = 1;
		return;
	}
	rsv.again = 0;
	if ((rsv.out.b = blob_new(M_RELOAD, ++rsv.id, 0)) == NULL) {
		log_warnx("reload failed, keeping the old table: out of "
		    "memory");
		return;
	}
	rsv.out.off = 0;
	rsv.busy = 1;
	if (msg_write(rsv.fd, &rsv.out) == -1)
		resolver_lost(strerror(errno));
}

/*
 * Puts the table in the resolver's answer b in force, replaying its
 * record.  Returns 0, or -1 with why not in err (the old table stays).
 */
static int
reload_apply(const struct blob *b, char *err, size_t errlen)
{
	const unsigned char	*body = b->data + MSG_HDR;
	size_t			 n = b->len - MSG_HDR;
	int			 rc;

	if (n == 0 || body[0] != 0) {
		snprintf(err, errlen, "%.*s", n > 1 ? (int)(n - 1) : 0,
		    n > 1 ? (const char *)body + 1 : "");
		return -1;
	}
	load_mode = LOAD_REPLAY;
	replay = body + 1;
	replaylen = n - 1;
	rc = router_load(conf_path, err, errlen);
	load_mode = LOAD_FILE;
	replay = NULL;
	replaylen = 0;
	return rc;
}

/* Says how applying b went; returns 0 if it is in force, or -1. */
static int
reload_log(const struct blob *b)
{
	char	 e[512];

	e[0] = '\0';
	if (reload_apply(b, e, sizeof(e)) == -1) {
		log_warnx("reload failed, keeping the old table: %s", e);
		return -1;
	}
	log_notice("reloaded %s", conf_path != NULL ? conf_path :
	    "(no table)");
	return 0;
}

/* Writes what worker k's pipe takes of the tables it is to get. */
static void
worker_send(int k)
{
	for (;;) {
		if (workers[k].out.b == NULL) {
			if (!workers[k].stale || table == NULL)
				return;
			workers[k].stale = 0;
			msgout_set(&workers[k].out, table);
		}
		switch (msg_write(workers[k].fd, &workers[k].out)) {
		case 0:
			return;		/* the rest when the pipe takes it */
		case -1:
			/* It died: reaped, and the new one inherits. */
#ifndef __clang_analyzer__
			/*
			 * Hidden from clang's analyzer, which does not
			 * follow the count: it takes this for the last
			 * reference to table (which holds its own) and
			 * reports a use after free that cannot happen.
			 */
			msgout_set(&workers[k].out, NULL);
#endif
			workers[k].stale = 0;
			return;
		}
	}
}

/*
 * In the master: b is the table now in force.  Keeps it for the workers
 * to come and sends it to each running worker: at once when nothing else
 * is on the way to it, else after what is (a table half sent is finished
 * first, one not started is dropped for this newer one).
 */
static void
workers_table(struct blob *b)
{
	int	 k;

	b->refs++;		/* first: b may be the table already */
	blob_put(table);
	table = b;
	for (k = 1; k <= nworkers; k++) {
		if (workers[k].fd == -1)
			continue;
		if (workers[k].out.b != NULL && workers[k].out.off > 0) {
			workers[k].stale = 1;
			continue;
		}
		msgout_set(&workers[k].out, table);
		workers[k].stale = 0;
		worker_send(k);
	}
}

/* Reads and writes on the socket to the resolver, as rev says. */
static void
resolver_io(short rev)
{
	struct blob	*b;
	const char	*why = "?";
	int		 r;

	if (rsv.fd == -1)
		return;
	if ((rev & POLLOUT) && msg_write(rsv.fd, &rsv.out) == -1) {
		resolver_lost(strerror(errno));
		return;
	}
	if ((rev & (POLLIN | POLLHUP | POLLERR)) == 0)
		return;
	while ((r = msg_read(rsv.fd, &rsv.in, &why)) == 1) {
		b = msg_take(&rsv.in);
		if (msg_field(b, 4) != M_TABLE || !rsv.busy ||
		    msg_field(b, 8) != rsv.id) {
			blob_put(b);
			resolver_lost("an answer to no request");
			return;
		}
		rsv.busy = 0;
		if (reload_log(b) == 0 && nworkers > 1 && worker == 0)
			workers_table(b);
		blob_put(b);
		if (rsv.again)
			reload_request();
		if (rsv.fd == -1)
			return;
	}
	if (r == -1)
		resolver_lost(strcmp(why, "end of file") == 0 ? NULL : why);
}

/* In the serving process: polls the resolver's socket as needed. */
static void
resolver_events(void)
{
	int	 ms;

	if ((ms = resolver_tick()) >= 0 && now + (uint64_t)ms < next_timer)
		next_timer = now + (uint64_t)ms;
	ev_set(EV_RESOLVER, rsv.fd, rsv.fd == -1 ? 0 :
	    (short)(POLLIN | (rsv.out.b != NULL ? POLLOUT : 0)));
}

/*
 * In a worker: reads the tables its master sends, and puts each in force;
 * the master's end of file means it is gone.
 */
static void
master_io(void)
{
	struct blob	*b;
	const char	*why = "?";
	int		 r;

	while ((r = msg_read(master_fd, &master_in, &why)) == 1) {
		b = msg_take(&master_in);
		if (msg_field(b, 4) == M_TABLE)
			(void)reload_log(b);
		blob_put(b);
	}
	if (r == -1) {
		if (strcmp(why, "end of file") != 0)
			log_warnx("pipe from the master: %s", why);
		master_gone();
	}
}

/* --- Lookups for the routers ------------------------------------- */

/*
 * A router's PM_LOOKUP goes to one of the serving process's resolver
 * processes (lkp[]), forked with the resolver, before the privileges are
 * dropped and outside the chroot, and run as resolver_main() does: one
 * request at a time, so each holds one lookup.  A lookup waits in
 * lookups[] for an idle one, oldest first; the answer goes to the
 * connection that asked, if it is still there and still waiting for it.
 */

/*
 * In a resolver: looks up the name the M_LOOKUP req asks for; returns the
 * M_ADDR answer, or NULL when out of memory.
 */
static struct blob *
lookup_answer(const struct blob *req)
{
	struct addrinfo	 hints, *res, *ai;
	struct blob	*b;
	unsigned char	*p;
	char		 host[PM_HOSTMAX + 1], port[8];
	size_t		 hl = req->len - MSG_HDR - 8;
	uint32_t	 family, portn, status = PM_FAILED, n = 0, l;
	int		 e;

	if ((b = blob_new(M_ADDR, msg_field(req, 8), LK_ANSMAX -
	    MSG_HDR)) == NULL)
		return NULL;
	p = b->data + MSG_HDR + 8;
	memset(p, 0, PM_ANSWERMAX * LK_ADDR);
	if (req->len < MSG_HDR + 8 || hl < 1 || hl > PM_HOSTMAX)
		goto done;
	memcpy(&family, req->data + MSG_HDR, 4);
	memcpy(&portn, req->data + MSG_HDR + 4, 4);
	memcpy(host, req->data + MSG_HDR + 8, hl);
	host[hl] = '\0';
	snprintf(port, sizeof(port), "%u", (unsigned)portn);
	test_lookup_delay(host);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = (int)family;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if ((e = getaddrinfo(host, port, &hints, &res)) != 0) {
		if (e == EAI_NONAME || e == EAI_NODATA)
			status = PM_NOTFOUND;
		else if (e == EAI_AGAIN)
			status = PM_TRYAGAIN;
		goto done;
	}
	for (ai = res; ai != NULL && n < PM_ANSWERMAX; ai = ai->ai_next) {
		if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) ||
		    ai->ai_addrlen > sizeof(struct sockaddr_storage))
			continue;
		l = (uint32_t)ai->ai_addrlen;
		memcpy(p + n * LK_ADDR, &l, 4);
		memcpy(p + n * LK_ADDR + 4, ai->ai_addr, ai->ai_addrlen);
		n++;
	}
	freeaddrinfo(res);
	status = n > 0 ? PM_FOUND : PM_NOTFOUND;
done:
	memcpy(b->data + MSG_HDR, &status, 4);
	memcpy(b->data + MSG_HDR + 4, &n, 4);
	b->len = MSG_HDR + 8 + n * LK_ADDR;
	l = (uint32_t)(b->len - MSG_HDR);
	memcpy(b->data, &l, 4);
	return b;
}

/*
 * Forks a resolver process for lookups, as resolver_start() forks the
 * resolver (pw, first likewise), into *pid and *fd.  Returns 0, or -1
 * when it could not (said in the log).
 */
static int
lookup_fork(const struct passwd *pw, int first, pid_t *pid, int *fd)
{
	sigset_t	 all, old;
	int		 sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1) {
		log_warn("resolver for lookups: socketpair");
		return -1;
	}
	log_flush();
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	if ((*pid = fork()) == 0)
		resolver_main(sv[1], pw, first, &old);
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(sv[1]);
	if (*pid == -1 || fd_setup(sv[0]) == -1) {
		log_warn("resolver for lookups: %s", *pid == -1 ? "fork" :
		    "fcntl");
		if (*pid > 0)
			(void)kill(*pid, SIGKILL);
		*pid = 0;
		close(sv[0]);
		return -1;
	}
	*fd = sv[0];
	return 0;
}

/*
 * At start-up, before the privileges are dropped: forks the resolver
 * processes for the routers' lookups, PM_RESOLVERS for each process that
 * will serve (each worker, or this one), as the user pw will be.
 * Returns 0, or -1 when one could not be.
 */
static int
lookups_start(const struct passwd *pw)
{
	int	 j, k;

	if (nworkers > 1) {
		for (k = 1; k <= nworkers; k++)
			for (j = 0; j < PM_RESOLVERS; j++)
				if (lookup_fork(pw, 1, &lkrow[k][j].pid,
				    &lkrow[k][j].fd) == -1)
					return -1;
		log_info("%d resolvers for lookups in each worker",
		    PM_RESOLVERS);
		return 0;
	}
	for (j = 0; j < PM_RESOLVERS; j++) {
		if (lookup_fork(pw, 1, &lkp[j].pid, &lkp[j].fd) == -1)
			return -1;
		nlkp++;
	}
	log_info("%d resolvers for lookups", PM_RESOLVERS);
	return 0;
}

/*
 * In a new worker k: takes its row of the resolvers for lookups, and
 * closes the others' sockets.
 */
static void
lookups_take(int k)
{
	int	 i, j;

	for (i = 1; i <= nworkers; i++)
		for (j = 0; j < PM_RESOLVERS; j++) {
			if (i == k && lkrow[i][j].pid > 0) {
				lkp[j].pid = lkrow[i][j].pid;
				lkp[j].fd = lkrow[i][j].fd;
				nlkp++;
			} else if (i != k && lkrow[i][j].pid > 0)
				close(lkrow[i][j].fd);
		}
	/* A worker started again may get answers its last one asked for. */
	lookup_gen = (uint32_t)getpid() & 0xffff;
}

/* Watches the sockets of this process's resolvers for lookups. */
static void
lookups_watch(void)
{
	int	 j;

	for (j = 0; HAVE_NAMES && j < PM_RESOLVERS; j++)
		if (lkp[j].pid > 0)
			ev_set(EV_LOOKUP(j), lkp[j].fd, EV_IN);
}

/* Frees the lookup of c, if it has one; an answer to it is dropped. */
static void
lookup_drop(struct conn *c)
{
	if (c->lookup == 0)
		return;
	lookups[c->lookup - 1].id = 0;
	nlookups--;
	c->lookup = 0;
}

/*
 * Resolver j for lookups failed (why): it is closed and stopped, and the
 * lookup it ran fails.  It is not started again: the others take the
 * lookups, and with none left every lookup fails.
 */
static void
lookup_lost(int j, const char *why)
{
	struct lkproc	*p = &lkp[j];
	struct lookup	*l;
	struct conn	*c;

	close(p->fd);
	p->fd = -1;
	ev_forget(EV_LOOKUP(j));
	nlkp--;
	log_warnx("resolver for lookups (pid %ld): %s: %d left",
	    (long)p->pid, why, nlkp);
	(void)kill(p->pid, SIGKILL);
	p->pid = 0;
	if (p->busy != 0) {
		l = &lookups[p->busy & 0xffff];
		if (l->id == p->busy) {
			c = &conns[l->slot];
			c->lkstatus = PM_FAILED;
			timer_set(c, now);
		}
	}
	p->busy = 0;
}

/* Gives the oldest waiting lookups to the idle resolvers. */
static void
lookup_dispatch(void)
{
	unsigned char	 m[MSG_HDR + 8 + PM_HOSTMAX];
	struct lookup	*l;
	uint32_t	 v;
	size_t		 n;
	int		 i, j, best;

	for (j = 0; j < PM_RESOLVERS; j++) {
		if (lkp[j].pid <= 0 || lkp[j].busy != 0)
			continue;
		best = -1;
		for (i = 0; i < PM_LOOKUPS; i++)
			if (lookups[i].id != 0 && lookups[i].asked == 0 &&
			    (best == -1 || lookups[i].seq < lookups[best].seq))
				best = i;
		if (best == -1)
			return;
		l = &lookups[best];
		n = 8 + l->hostlen;
		v = (uint32_t)n;
		memcpy(m, &v, 4);
		v = M_LOOKUP;
		memcpy(m + 4, &v, 4);
		memcpy(m + 8, &l->id, 4);
		v = (uint32_t)l->family;
		memcpy(m + MSG_HDR, &v, 4);
		v = (uint32_t)l->port;
		memcpy(m + MSG_HDR + 4, &v, 4);
		memcpy(m + MSG_HDR + 8, l->host, l->hostlen);
		/* An idle resolver's socket is empty: it takes it whole. */
		if (write(lkp[j].fd, m, MSG_HDR + n) != (ssize_t)(MSG_HDR + n)) {
			lookup_lost(j, "cannot send it a lookup");
			continue;
		}
		lkp[j].busy = l->id;
		l->asked = j + 1;
	}
}

/*
 * Reads what resolver j for lookups answered, and hands each answer to the
 * connection that asked, when it still waits for it.
 */
static void
lookup_io(int j)
{
	struct lkproc	*p = &lkp[j];
	struct lookup	*l;
	struct conn	*c;
	const unsigned char *q;
	uint32_t	 len = 0, type, id, status, n, k, al;
	size_t		 want;
	ssize_t		 r;

	while (p->pid > 0) {
		if (p->got >= MSG_HDR) {
			memcpy(&len, p->in, 4);
			memcpy(&type, p->in + 4, 4);
			if (type != M_ADDR || len < 8 ||
			    len > LK_ANSMAX - MSG_HDR) {
				lookup_lost(j, "an answer of the wrong shape");
				return;
			}
		}
		want = p->got < MSG_HDR ? MSG_HDR - p->got :
		    MSG_HDR + len - p->got;
		if (want > 0) {
			if ((r = read(p->fd, p->in + p->got, want)) > 0)
				p->got += (size_t)r;
			else if (r == 0)
				lookup_lost(j, "gone");
			else if (errno != EINTR && errno != EAGAIN &&
			    errno != EWOULDBLOCK)
				lookup_lost(j, strerror(errno));
			else if (errno != EINTR)
				return;
			continue;
		}
		p->got = 0;
		memcpy(&id, p->in + 8, 4);
		memcpy(&status, p->in + MSG_HDR, 4);
		memcpy(&n, p->in + MSG_HDR + 4, 4);
		/* Not asked by this process: by the worker it replaces. */
		if (id == 0 || id != p->busy)
			continue;
		p->busy = 0;
		l = &lookups[id & 0xffff];
		if (l->id == id) {
			c = &conns[l->slot];
			memset(&answer, 0, sizeof(answer));
			answer.status = status <= PM_FAILED ? (int)status :
			    PM_FAILED;
			if (n > PM_ANSWERMAX || len != 8 + n * LK_ADDR)
				n = 0;
			for (k = 0; k < n; k++) {
				q = p->in + MSG_HDR + 8 + k * LK_ADDR;
				memcpy(&al, q, 4);
				if (al == 0 || al > sizeof(answer.addr[0]))
					continue;
				memcpy(&answer.addr[answer.naddr], q + 4, al);
				answer.addrlen[answer.naddr++] = al;
			}
			if (answer.status == PM_FOUND && answer.naddr == 0)
				answer.status = PM_FAILED;
			if (conn_answer(c, answer.status) == 0)
				conn_events(c);
		}
		lookup_dispatch();
	}
}

/*
 * Workers (-w N).  Once the table is read, the listener bound and the
 * privileges dropped, the master forks N workers that share the listener,
 * each with its own event loop, signal pipe and pool.  The master holds
 * no connection: it passes signals on, restarts a worker that dies, and
 * exits once every worker has exited after a shutdown signal.
 */

/* --- Workers (-w) ------------------------------------------------ */

/* Sends sig to every running worker. */
static void
workers_signal(int sig)
{
	int	 k;

	for (k = 1; k <= nworkers; k++)
		if (workers[k].pid > 0)
			(void)kill(workers[k].pid, sig);
}

/*
 * In a new worker: its own signal pipe, event set and process group; fd
 * is its pipe from the master.  What only the master uses is dropped.
 */
static void
worker_init(int k, int fd)
{
	int	 j;

	worker = k;
	snprintf(wtag, sizeof(wtag), "w%d ", k);
	pidfile = NULL;			/* the master's to remove */
	got_quit = got_term = got_hup = got_stats = got_chld = got_now = 0;
	/* A terminal's ^C reaches the master, which passes it on once. */
	(void)setpgid(0, 0);
	for (j = 1; j <= nworkers; j++) {
		if (workers[j].fd != -1)
			close(workers[j].fd);
		workers[j].fd = -1;
		msgout_set(&workers[j].out, NULL);
	}
	blob_put(table);
	table = NULL;
	if (rsv.fd != -1)
		close(rsv.fd);
	rsv.fd = -1;
	rsv.pid = 0;
	msgin_reset(&rsv.in);
	msgout_set(&rsv.out, NULL);
	rsv.busy = rsv.again = 0;
	close(sigpipe[0]);
	close(sigpipe[1]);
	lookups_take(k);
	ev_init();			/* the listener, watched again */
	signals_init();
	master_fd = fd;
	ev_set(EV_MASTER, fd, EV_IN);
	title_dirty = 1;
	/* The master loads the tables; the worker only replays them. */
	if (sys_pledge("stdio inet") == -1)
		fatal("pledge");
	log_info("worker %d of %d started, pid %ld", k, nworkers,
	    (long)getpid());
}

/*
 * Forks worker k, with a pipe from the master.  Returns 1 in the new
 * worker, 0 in the master.
 */
static int
worker_start(int k)
{
	sigset_t	 all, old;
	pid_t		 pid;
	int		 p[2];

	workers[k].born = now;
	if (pipe(p) == -1) {
		log_warn("worker %d: pipe", k);
		return 0;		/* tried again in PM_RESPAWN_MS */
	}
	if (fd_setup(p[0]) == -1 || fd_setup(p[1]) == -1) {
		log_warn("worker %d: fcntl", k);
		close(p[0]);
		close(p[1]);
		return 0;
	}
	log_flush();
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	pid = fork();
	if (pid == 0) {
		close(p[1]);
		worker_init(k, p[0]);
		sigprocmask(SIG_SETMASK, &old, NULL);
		return 1;
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(p[0]);
	if (pid == -1) {
		log_warn("worker %d: fork", k);
		close(p[1]);
		return 0;
	}
	/* It inherits the table in force: nothing to send yet. */
	workers[k].pid = pid;
	workers[k].fd = p[1];
	workers[k].stale = 0;
	return 0;
}

/*
 * In the master (from signals_run()): logs its stats and asks the workers
 * for theirs; passes TERM, INT and QUIT on to the workers (a second TERM
 * or INT as USR2, close now), and stops accepting.
 */
static void
master_signals(void)
{
	int	 k, n;

	if (got_stats) {
		got_stats = 0;
		log_notice("stats: master of %d workers, %llu restarted",
		    nworkers, (unsigned long long)respawns);
		workers_signal(SIGUSR1);
	}
	if (got_term) {
		n = got_term;
		got_term = 0;
		if (stopping != STOP_FAST) {
			stopping = STOP_FAST;
			log_notice("fast shutdown: passed to the workers");
			workers_signal(SIGTERM);
			n--;
		}
		if (n > 0) {
			log_notice("second signal: the workers close their "
			    "connections now");
			workers_signal(SIGUSR2);
		}
	}
	if (got_quit) {
		got_quit = 0;
		if (!stopping) {
			stopping = STOP_GRACEFUL;
			log_notice("graceful shutdown: passed to the workers");
			workers_signal(SIGQUIT);
		}
	}
	if (stopping) {
		/* Refused once the workers close theirs. */
		for (k = 0; k < nlis; k++)
			if (lis[k].fd != -1) {
				close(lis[k].fd);
				lis[k].fd = -1;
			}
	}
}

/*
 * The master's loop: signals, the resolver's socket and the pipes to the
 * workers that have a table on the way.  Returns only in a new worker.
 */
static void
master(void)
{
	struct pollfd		 p[2 + PM_MAXWORKERS];
	int			 pw[PM_MAXWORKERS + 1];
	int			 k, n, np, pr, alive, timeout;

	for (k = 1; k <= nworkers; k++)
		workers[k].fd = -1;
	ev_close();			/* each worker makes its own */
	title_dirty = 1;
	for (;;) {
		timeout = resolver_tick();
		alive = 0;
		for (k = 1; k <= nworkers; k++) {
			if (workers[k].pid > 0) {
				alive++;
				continue;
			}
			if (stopping)
				continue;
			if (workers[k].born == 0 ||
			    now >= workers[k].born + PM_RESPAWN_MS) {
				if (worker_start(k))
					return;
				alive += workers[k].pid > 0;
				continue;
			}
			n = (int)(workers[k].born + PM_RESPAWN_MS - now);
			if (timeout == -1 || n < timeout)
				timeout = n;
		}
		if (stopping && alive == 0) {
			log_notice("all workers exited: exiting");
			quit(0);
		}
		if (title_dirty)
			title_update();
		log_flush();
		np = 0;
		p[np].fd = sigpipe[0];
		p[np++].events = POLLIN;
		pr = -1;
		if (rsv.fd != -1) {
			pr = np;
			p[np].fd = rsv.fd;
			p[np++].events = (short)(POLLIN |
			    (rsv.out.b != NULL ? POLLOUT : 0));
		}
		for (k = 0; k <= PM_MAXWORKERS; k++)
			pw[k] = -1;
		for (k = 1; k <= nworkers; k++) {
			if (workers[k].fd != -1 && workers[k].out.b != NULL) {
				pw[k] = np;
				p[np].fd = workers[k].fd;
				p[np++].events = POLLOUT;
			}
		}
		for (k = 0; k < np; k++)
			p[k].revents = 0;	/* as they are on EINTR */
		if (poll(p, (nfds_t)np, timeout) == -1 && errno != EINTR)
			fatal("poll");
		now = clock_ms();
		signals_run();
		/* What was reaped above is closed: its entry is stale. */
		if (pr != -1 && p[pr].revents != 0 && p[pr].fd == rsv.fd)
			resolver_io(p[pr].revents);
		for (k = 1; k <= nworkers; k++)
			if (pw[k] != -1 && p[pw[k]].revents != 0 &&
			    p[pw[k]].fd == workers[k].fd)
				worker_send(k);
	}
}

/* In a worker: the master is gone, so nobody will pass a signal on. */
static void
master_gone(void)
{
	close(master_fd);
	master_fd = -1;
	ev_forget(EV_MASTER);
	msgin_reset(&master_in);
	log_warnx("master process gone");
	if (stopping != STOP_FAST)
		stop_begin(STOP_FAST);
}

/* --- The event loop and main() ----------------------------------- */

/* Steps slot i with the events the last wait found for it, if any. */
static void
slot_run(int i)
{
	struct conn	*c = &conns[i];
	short		 crev = ev_take(EV_CLIENT(i));
	short		 brev = ev_take(EV_BACKEND(i));

	if ((crev | brev) == 0 || c->state == C_FREE)
		return;
	conn_io(c, crev, brev);
}

/*
 * The event loop of a process that serves connections (alone, or one
 * worker); it returns only through quit().
 */
static void
serve(void)
{
	int	 i, id, n, timeout;
	short	 rev;

	lookups_watch();
	for (;;) {
		listen_events();
		resolver_events();
		stop_check();
		if (title_dirty)
			title_update();
		timeout = -1;
		if (next_timer != TIME_NEVER)
			timeout = next_timer > now ?
			    (int)(next_timer - now > INT_MAX ? INT_MAX :
			    next_timer - now) : 0;
		if (accept_resume != 0 && !stopping && (timeout == -1 ||
		    accept_resume - now < (uint64_t)timeout))
			timeout = accept_resume > now ?
			    (int)(accept_resume - now) : 0;
		if (stopping && (timeout == -1 || timeout > SAY_EVERY_MS))
			timeout = SAY_EVERY_MS;
		log_flush();
		n = ev_wait(timeout);
		now = clock_ms();
		if (n == -1) {
			if (errno == EINTR)
				continue;
			fatal("%s", ev_name);
		}
		if (ev_take(EV_SIGNAL))
			signals_run();
		if (ev_take(EV_MASTER) != 0)
			master_io();
		if ((rev = ev_take(EV_RESOLVER)) != 0)
			resolver_io(rev);
		for (i = 0; HAVE_NAMES && i < PM_RESOLVERS; i++)
			if (ev_take(EV_LOOKUP(i)) != 0)
				lookup_io(i);
		/* Each slot once, for its two ids' events together. */
		for (i = 0; i < n; i++)
			if ((id = ev_ready[i]) >= EV_CLIENT(0))
				slot_run(EV_SLOT(id));
		/* Accept last: a new slot must not see stale events. */
		for (i = 0; i < nlis; i++)
			if (ev_take(EV_LISTEN(i)))
				accept_batch(i);
		if (now >= next_timer)
			timers_run();
	}
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "config",	required_argument,	NULL,	'c' },
		{ "host",	required_argument,	NULL,	'h' },
		{ "port",	required_argument,	NULL,	'p' },
		{ "accept-proxy", required_argument,	NULL,	'a' },
		{ "quiet",	no_argument,		NULL,	'q' },
		{ "verbose",	no_argument,		NULL,	'v' },
		{ "version",	no_argument,		NULL,	'V' },
		{ "daemon",	no_argument,		NULL,	'd' },
		{ "pidfile",	required_argument,	NULL,	'P' },
		{ "chroot",	required_argument,	NULL,	't' },
		{ "user",	required_argument,	NULL,	'u' },
		{ "workers",	required_argument,	NULL,	'w' },
		{ "memory",	required_argument,	NULL,	'm' },
		{ "help",	no_argument,		NULL,	'H' },
		{ NULL,		0,			NULL,	0 }
	};
	/* -m as given, for the log: its copy lives as long as the process. */
	static const char *mem_mb = MEMORY_STR(PM_MEMORY);
	const char	*hosts[PM_LISTENERS], *ports[PM_LISTENERS] = { NULL };
	int		 proxy[PM_LISTENERS], nh = 0, np = 0, i, j;
	const char	*root = NULL, *user = NULL;
	uint64_t	 mem_bytes = (uint64_t)PM_MEMORY * 1048576;
	struct passwd	*pw = NULL;
	int		 detach = 0, ready = -1;
	char		 e[512];
	long		 l;
	int		 ch;

	while ((ch = getopt_long(argc, argv, "a:c:dh:m:P:p:qt:u:vVw:",
	    longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			conf_path = optarg;
			break;
		case 'a':
			if (!HAVE_PROXYPROTO)
				usage(1);
			/* FALLTHROUGH */
		case 'h':
		case 'p':
			if (*optarg == '\0') {
				warnx("-%c: empty %s", ch, ch == 'h' ? "host" :
				    "port");
				usage(1);
			}
			if ((ch == 'h' ? nh : np) == PM_LISTENERS)
				goto toomany;
			if (ch == 'h')
				hosts[nh++] = optarg;
			else {
				proxy[np] = ch == 'a';
				ports[np++] = optarg;
			}
			break;
		case 'd':
			detach = 1;
			break;
		case 'P':
			pidfile = optarg;
			break;
		case 't':
			if (!HAVE_PRIVDROP)
				usage(1);
			root = optarg;
			break;
		case 'u':
			if (!HAVE_PRIVDROP)
				usage(1);
			user = optarg;
			break;
		case 'm':
			mem_mb = optarg;
			if (mem_parse(optarg, &mem_bytes) == -1) {
				warnx("-m '%s': not a number of MiB above 0, "
				    "up to 1048576", optarg);
				usage(1);
			}
			break;
		case 'w':
			if (!HAVE_WORKERS)
				usage(1);
			if ((l = num_parse(optarg, PM_MAXWORKERS)) == -1) {
				warnx("-w '%s': not a number from 0 to %d",
				    optarg, PM_MAXWORKERS);
				usage(1);
			}
			nworkers_w = (int)l;
			break;
		case 'q':
			verbosity = PM_LOG_NOTICE;
			break;
		case 'v':
			verbosity = PM_LOG_DEBUG;
			break;
		case 'V':
			fd_printf(STDOUT_FILENO,
			    "proxymachine %s (router %s; %s%s)\n",
			    PM_VERSION, router_name, ev_name,
			    HAVE_SPLICE ? ", splice" LEFT_N LEFT_W LEFT_A
			    LEFT_TU : "" LEFT_N LEFT_W LEFT_A LEFT_TU);
			return 0;
		case 'H':
			usage(0);
			break;
		default:
			usage(1);
		}
	}
	if (optind != argc) {
		warnx("unexpected argument: %s", argv[optind]);
		usage(1);
	}
	if (nworkers == 0) {		/* one per CPU */
		nworkers_w = sys_ncpu() > PM_MAXWORKERS ? PM_MAXWORKERS :
		    sys_ncpu();
	}
	if (nh == 0)
		hosts[nh++] = "0.0.0.0";
	if (np == 0) {
		proxy[np] = 0;
		ports[np++] = "5432";
	}
	if (nh * np > PM_LISTENERS) {
toomany:
		warnx("more than %d listener%s (each -h at each -p" OR_A ")",
		    PM_LISTENERS, PM_LISTENERS > 1 ? "s" : "");
		usage(1);
	}
	if (user != NULL && (pw = getpwnam(user)) == NULL)
		errx(1, "no such user: %s", user);
	if (pw != NULL && (pw = pwcopy(pw)) == NULL)
		err(1, "malloc");
	if (root != NULL && access(root, X_OK) == -1)
		err(1, "chroot %s", root);
	/*
	 * Detached, we leave the working directory: the table's path is
	 * made absolute from it (by hand: realpath(3) is 1.5 KB of a static
	 * binary).
	 */
	if (detach && conf_path != NULL && conf_path[0] != '/') {
		char	 cwd[PATH_MAX], *abs;
		size_t	 n;

		if (getcwd(cwd, sizeof(cwd)) == NULL)
			err(1, "getcwd");
		n = strlen(cwd) + 1 + strlen(conf_path) + 1;
		if ((abs = malloc(n)) == NULL)
			err(1, "malloc");
		snprintf(abs, n, "%s/%s", cwd, conf_path);
		conf_path = abs;
	}
	/* The title overwrites argv: keep what we need elsewhere. */
	if ((conf_path != NULL && (conf_path = strdup(conf_path)) == NULL) ||
	    (pidfile != NULL && (pidfile = strdup(pidfile)) == NULL) ||
	    (root != NULL && (root = strdup(root)) == NULL) ||
	    (mem_mb = strdup(mem_mb)) == NULL)
		err(1, "strdup");

	/*
	 * A terminal or a file gets the time on each line.  A pipe or a
	 * socket is a service manager's logger (journald, procd, OpenBSD's
	 * rc.d logger, daemon(8)), which stamps each line itself.
	 */
	if (getenv("JOURNAL_STREAM") != NULL || (!isatty(STDERR_FILENO) &&
	    lseek(STDERR_FILENO, 0, SEEK_CUR) == -1 && errno == ESPIPE))
		stamped = 0;
	now = clock_ms();
	pool_init();
	mem_init(mem_bytes, mem_mb);
	if (nworkers > 1 && nbuf / nworkers < 4)
		errx(1, "-m %s: %d buffers cannot give each of %d workers the "
		    "4 it needs: raise -m or lower -w", mem_mb, nbuf, nworkers);
	for (i = 0; i < nh; i++)
		for (j = 0; j < np; j++)
			listener_addr(hosts[i], ports[j], proxy[j]);
	if (router_load(conf_path, e, sizeof(e)) == -1) {
		log_flush();
		errx(1, "%s", e);
	}
	fd_limit();
	signals_init();
	listener_open();
	if (detach) {
		log_flush();
		syslog_open();
		ready = daemonize();
		use_syslog = 1;
	}
	if (pidfile != NULL)
		pidfile_write();
	title_init(argc, argv);
	/*
	 * The resolver loads the table on reload: forked here, in the
	 * session the proxy runs in, it becomes the user but stays out of
	 * the chroot, where the table and the system's resolver files are.
	 */
	if (resolver_start(pw, 1) == -1 ||
	    (HAVE_NAMES && router_lookups && lookups_start(pw) == -1))
		quit(1);
	privdrop(pw, root, 0);
	if (ready != -1) {
		(void)write(ready, "R", 1);
		close(ready);
	}
	{
		char	 promises[64];

		/*
		 * Only the resolver reads the table and resolves names, but
		 * one started again after a crash is forked from here (proc)
		 * and inherits these promises, which it narrows.  The master
		 * forks and signals workers too; they pledge further.  The
		 * pid file is removed at exit: cpath.
		 */
		if (conf_path != NULL && sys_unveil(conf_path, "r") == -1 &&
		    errno != ENOENT)
			fatal("unveil %s", conf_path);
		if (pidfile != NULL && sys_unveil(pidfile, "c") == -1 &&
		    errno != ENOENT)
			fatal("unveil %s", pidfile);
		snprintf(promises, sizeof(promises),
		    "stdio%s inet rpath dns proc", pidfile != NULL ? " cpath" :
		    "");
		if (sys_unveil(NULL, NULL) == -1 || sys_pledge(promises) == -1)
			fatal("pledge");
	}
	if (nworkers > 1) {
		log_notice("proxymachine %s (router %s) listening on %s; %d "
		    "workers, each with %d connections of %d-byte buffers, "
		    "%d of them in all (-m %s)", PM_VERSION, router_name,
		    laddr, nworkers, maxconn, PM_BUFSIZE, nbuf, mem_mb);
		master();		/* returns in each new worker */
	} else
		log_notice("proxymachine %s (router %s) listening on %s; %d "
		    "connections of %d-byte buffers, %d of them (-m %s)",
		    PM_VERSION, router_name, laddr, maxconn, PM_BUFSIZE, nbuf,
		    mem_mb);
	serve();
	return 0;
}
#else /* PM_NO_MAIN */
/*
 * The harnesses of fuzz/ call parsers and routers, never the event loop:
 * the lookup processes are not there for the connections that would use
 * them.
 */
static void
lookup_drop(struct conn *c)
{
	(void)c;
}

static void
lookup_dispatch(void)
{
}
#endif /* PM_NO_MAIN */


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
 */

#ifdef __linux__
#define _GNU_SOURCE		/* accept4(2), SOCK_NONBLOCK */
#endif

#include <sys/types.h>
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

#if defined(__OpenBSD__) || defined(__FreeBSD__) || defined(__NetBSD__) || \
    defined(__DragonFly__)
#define HAVE_SETPROCTITLE
#endif

/*
 * On Linux a stream that fills whole buffers is moved with splice(2)
 * through a pipe, socket to socket, so its bytes are not copied into the
 * proxy and out again.  -DPM_NO_SPLICE keeps read(2) and write(2).
 */
#if defined(__linux__) && !defined(PM_NO_SPLICE)
#define HAVE_SPLICE
#endif

/*
 * Tunables.  Each can be overridden at build time with -DNAME=value (the
 * Makefile passes MAXCONN and BUFSIZE through).
 */
#ifndef PM_VERSION
#define PM_VERSION		"0.1.0"
#endif
/* Connection slots: each costs about 400 bytes and two descriptors. */
#ifndef PM_MAXCONN
#define PM_MAXCONN		1024
#endif
/*
 * Bytes buffered per direction.  Buffers come from a pool and are held
 * only while they hold bytes, so an idle connection costs none; a busy one
 * costs up to two.  Larger buffers mean fewer system calls per byte: 64
 * KiB moved a stream with a quarter of the calls of 16 KiB and beat it by
 * a fifth in the benchmark.  The pool is reserved address space, touched
 * only as buffers are used; on a box with little memory and strict
 * overcommit, build with a smaller one (BUFSIZE=8192).
 */
#ifndef PM_BUFSIZE
#define PM_BUFSIZE		65536
#endif
/* Buffers in the pool: two per slot, so the pool can never run dry. */
#ifndef PM_NBUF
#define PM_NBUF			(2 * PM_MAXCONN)
#endif
/* A client must be routed within this many milliseconds. */
#ifndef PM_ROUTE_TIMEOUT
#define PM_ROUTE_TIMEOUT	30000
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
/* Descriptors kept for the listener, the log and the signal pipe. */
#ifndef PM_RESERVE_FDS
#define PM_RESERVE_FDS		16
#endif
/* splice(2): pipes open at most, two descriptors each. */
#ifndef PM_PIPES
#define PM_PIPES		64
#endif
/* Workers (-w) at most, and how often each may be restarted. */
#ifndef PM_MAXWORKERS
#define PM_MAXWORKERS		64
#endif
#ifndef PM_RESPAWN_MS
#define PM_RESPAWN_MS		1000
#endif

#if PM_BUFSIZE < 512 || PM_BUFSIZE > 1048576
#error "PM_BUFSIZE must be between 512 and 1048576"
#endif
#if PM_MAXCONN < 1 || PM_NBUF < 2 * PM_MAXCONN
#error "PM_MAXCONN must be positive and PM_NBUF at least twice as large"
#endif

#define TIME_NEVER	UINT64_MAX

/* limits.h may leave it out (then pathconf(2) knows); POSIX's least. */
#ifndef PIPE_BUF
#define PIPE_BUF	512
#endif

#ifdef PM_NO_MAIN
/* Built into the fuzz harnesses: what only main() uses is unused there. */
#if defined(__GNUC__) || defined(__clang__)
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-variable"
#endif
#endif

/* Compilers without GNU attributes ignore them. */
#if !defined(__GNUC__) && !defined(__clang__) && !defined(__TINYC__)
#define __attribute__(x)
#endif

enum cstate {
	C_FREE,		/* slot unused */
	C_ROUTING,	/* reading the client, asking the router */
	C_CONNECTING,	/* connect(2) to the backend in progress */
	C_RETRYWAIT,	/* waiting PM_RETRY_MS before the next attempt */
	C_RELAY,	/* relaying both ways */
	C_CLOSING	/* writing a last reply to the client, then closing */
};

/* Connection flags. */
#define F_CEOF		0x0001	/* client sent its end of file */
#define F_BEOF		0x0002	/* backend sent its end of file */
#define F_CDEAD		0x0004	/* client socket failed: no more I/O */
#define F_BDEAD		0x0008	/* backend socket failed: no more I/O */
#define F_CSHUT		0x0010	/* our write side to the client is shut */
#define F_BSHUT		0x0020	/* our write side to the backend is shut */
#define F_BDATA		0x0040	/* the backend has sent a byte */
#define F_LINGER	0x0080	/* closing: reply written, draining */
#define F_HELD		0x0100	/* down holds the replies for the connect */

/*
 * Bytes in one direction; p is NULL while the buffer is empty.  With
 * splice(2) the bytes of a bulk stream wait in a pipe instead, and len
 * counts them there; the buffer and the pipe are never both in use.
 */
struct buf {
	unsigned char	*p;
	uint32_t	 off;
	uint32_t	 len;
#ifdef HAVE_SPLICE
	int		 pipe;		/* pipes[] index + 1, 0: none */
	unsigned char	 bulk;		/* a read filled the buffer: splice */
	unsigned char	 full;		/* the pipe took no more: write first */
#endif
};

struct conn {
	enum cstate	 state;
	int		 cfd;		/* client socket, -1 when closed */
	int		 bfd;		/* backend socket, -1 when closed */
	unsigned int	 flags;
	int		 tries;		/* connect attempts made */
	struct buf	 up;		/* client to backend */
	struct buf	 down;		/* backend to client */
	uint64_t	 id;
	uint64_t	 born;		/* when accepted, ms */
	uint64_t	 deadline;	/* this state's timer, 0: none */
	uint64_t	 wait;		/* routing: ask again at, 0: none */
	uint64_t	 nup;		/* bytes written to the backend */
	uint64_t	 ndown;		/* bytes written to the client */
	uint32_t	 heldok;	/* F_HELD: the reply once connected, */
	uint32_t	 heldfail;	/* then the one if that fails */
	const char	*endwhy;	/* closing: why, for the log */
	struct pm_route	 route;
	struct sockaddr_storage peer;
};

static struct conn	 conns[PM_MAXCONN];
static int		 slotfree[PM_MAXCONN];
static int		 nslotfree;
static int		 slotfresh;		/* never used yet: from */
static int		 hiwater = -1;		/* highest slot in use */
static unsigned char	 bufpool[PM_NBUF][PM_BUFSIZE];
static unsigned char	*buffree[PM_NBUF];
static int		 nbuffree;
static int		 buffresh;		/* never used yet: from */
static unsigned char	 scratch[4096];		/* bytes to throw away */
#ifdef HAVE_SPLICE
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
#endif
static int		 pipemax = PM_PIPES;	/* what the budget leaves */

static int		 maxconn;		/* usable slots */
static int		 nconn;			/* slots in use */
static int		 nconn_max;		/* most slots ever in use */
static uint64_t		 nconn_total;		/* connections accepted */

static uint64_t		 now;			/* monotonic ms */
static uint64_t		 next_timer = TIME_NEVER;	/* lower bound */

static int		 lfd = -1;		/* listener */
static char		 laddr[PM_ADDRSTRLEN];	/* what it is bound to */
static struct sockaddr_storage lss;		/* the same, resolved */
static socklen_t	 lsslen;		/* 0: not known yet */
static uint64_t		 accept_resume;		/* paused until, 0: not */
static int		 accept_failing;	/* said so in the log */
static int		 pool_full;		/* said so in the log */

static int		 sigpipe[2] = { -1, -1 };
static volatile sig_atomic_t got_quit, got_term, got_hup, got_stats;
static volatile sig_atomic_t got_chld, got_now;
static int		 stopping;		/* 1 graceful, 2 fast */
static uint64_t		 stop_deadline;		/* fast: force at */
static uint64_t		 stop_said;		/* last progress line */
static int		 stop_left = -1;	/* conns at that line */

static struct conn	*routing;		/* in router_route() */
static const char	*conf_path;
static char		*bind_host;		/* kept: argv is the title */
static char		*bind_port;
static int		 verbosity = 1;		/* 0 quiet, 2 verbose */
static int		 use_syslog;		/* detached: log there */
static const char	*pidfile;

/* Workers (-w): worker is 1..nworkers in one, 0 in the master or alone. */
static int		 nworkers = 1;
static int		 worker;
static char		 wtag[16];		/* "wK " in a worker's log */
static int		 masterpipe[2] = { -1, -1 };	/* EOF: master gone */
static struct {
	pid_t		 pid;		/* 0: not running */
	uint64_t	 born;		/* started at, ms */
} workers[PM_MAXWORKERS + 1];
static uint64_t		 respawns;		/* workers restarted */

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
	uint64_t	 self_refused;		/* destination: ourselves */
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

static void	usage(int);
static int	addr_is_self(const struct sockaddr *);
static void	log_flush(void);
static void	log_line(int, const char *, va_list);
static void	log_info_(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
static void	log_debug_(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
/* The level is tested first, so a quiet log costs no formatting. */
#define log_info(...)	do { if (verbosity >= 1) log_info_(__VA_ARGS__); \
			} while (0)
#define log_debug(...)	do { if (verbosity >= 2) log_debug_(__VA_ARGS__); \
			} while (0)
static void	log_warnx(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
static void	log_warn(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
static void	fatal(const char *, ...)
		    __attribute__((format(printf, 1, 2), noreturn));
static uint64_t	clock_ms(void);
static void	timer_set(struct conn *, uint64_t);
static int	buf_get(struct buf *);
static void	buf_put(struct buf *);
static ssize_t	buf_read(int, struct buf *);
static ssize_t	buf_write(int, struct buf *);
static void	conn_new(int, struct sockaddr_storage *);
static void	conn_close(struct conn *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static void	conn_events(struct conn *);
static int	conn_route(struct conn *, int);
static int	conn_connect(struct conn *);
static int	conn_connect_done(struct conn *, short);
static int	conn_connect_failed(struct conn *, const char *);
static int	conn_giveup(struct conn *, const char *);
static int	conn_closing(struct conn *);
static int	conn_closing_io(struct conn *, short);
static int	conn_client_gone(struct conn *, int);
static int	conn_backend_gone(struct conn *, int, const char *);
static int	conn_check(struct conn *);
static int	conn_step(struct conn *, short, short, int *);
static void	conn_io(struct conn *, short, short);
static void	conn_timer(struct conn *);
static void	timers_run(void);
static void	title_init(int, char **);
static void	title_update(void);
static void	accept_batch(void);
static void	listen_events(void);
static void	listener_addr(const char *, const char *);
static void	listener_open(void);
static void	signals_init(void);
static void	signals_run(void);
static void	stop_begin(int);
static void	stop_check(void);
static void	pool_init(void);
static void	ev_init(void);
static void	ev_close(void);
static void	ev_set(int, int, short);
static void	ev_forget(int);
static short	ev_take(int);
static int	ev_wait(int);
static void	stats_log(void);
static void	quit(int)
		    __attribute__((noreturn));
#ifndef PM_NO_MAIN
static void	workers_signal(int);
static void	worker_init(int);
static int	worker_start(int);
static void	workers_reap(void);
static void	master(void);
static void	master_gone(void);
static void	serve(void)
		    __attribute__((noreturn));
#endif

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

static void
log_line(int level, const char *fmt, va_list ap)
{
	static time_t	 last_sec = (time_t)-1;
	static char	 stamp[32];
	struct timespec	 ts;
	struct tm	 tm;
	char		 line[1024];
	int		 n, m;

	if (level > verbosity)
		return;
	if (use_syslog) {
		n = snprintf(line, sizeof(line), "%s", wtag);
		vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
		syslog(level == 0 ? LOG_NOTICE : level == 1 ? LOG_INFO :
		    LOG_DEBUG, "%s", line);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	if (ts.tv_sec != last_sec) {
		last_sec = ts.tv_sec;
		localtime_r(&ts.tv_sec, &tm);
		strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", &tm);
	}
	n = snprintf(line, sizeof(line), "%s.%03ld %s", stamp,
	    (long)(ts.tv_nsec / 1000000), wtag);
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
log_info_(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_line(1, fmt, ap);
	va_end(ap);
}

static void
log_debug_(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_line(2, fmt, ap);
	va_end(ap);
}

static void
log_warnx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_line(0, fmt, ap);
	va_end(ap);
}

/* Like log_warnx(), with ": strerror(errno)" added. */
static void
log_warn(const char *fmt, ...)
{
	char	 msg[512];
	va_list	 ap;
	int	 saved = errno;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_warnx("%s: %s", msg, strerror(saved));
}

static void
fatal(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_line(0, fmt, ap);
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
	if (b->said != 0 && now < b->said + 1000)
		return 0;
	b->said = now;
	n = b->n;
	b->n = 0;
	return n;
}

/* Router lines written while deciding for a connection carry its id. */
void
pm_log(const char *fmt, ...)
{
	char	 f[512];
	va_list	 ap;

	va_start(ap, fmt);
	if (routing != NULL && snprintf(f, sizeof(f), IDF "%s", ID(routing),
	    fmt) < (int)sizeof(f))
		log_line(0, f, ap);
	else
		log_line(0, fmt, ap);
	va_end(ap);
}

/*
 * Addresses and tables, for the core and the routers.
 */

char *
pm_addr_str(const struct sockaddr *sa, char *buf, size_t len)
{
	char	 host[INET6_ADDRSTRLEN];

	switch (sa->sa_family) {
	case AF_INET: {
		const struct sockaddr_in *sin = (const void *)sa;

		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, ntohs(sin->sin_port));
		break;
	}
	case AF_INET6: {
		const struct sockaddr_in6 *sin6 = (const void *)sa;

		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, ntohs(sin6->sin6_port));
		break;
	}
	default:
		snprintf(buf, len, "(family %d)", sa->sa_family);
		break;
	}
	return buf;
}

/* Resolves host and port; returns 0, or -1 with the problem in err. */
static int
addr_lookup(const char *host, const char *port, int passive,
    struct sockaddr_storage *ss, socklen_t *sslen, char *err, size_t errlen)
{
	struct addrinfo	 hints, *res;
	char		*end;
	long		 n;
	int		 e;

	n = strtol(port, &end, 10);
	if (*port == '\0' || *end != '\0' || n < 1 || n > 65535) {
		snprintf(err, errlen, "bad port '%s'", port);
		return -1;
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

int
pm_addr_parse(const char *spec, const char *defport,
    struct sockaddr_storage *ss, socklen_t *sslen, char *err, size_t errlen)
{
	char		 host[256];
	const char	*port, *colon, *close;
	size_t		 hlen;

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
		spec++;
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
	memcpy(host, spec, hlen);
	host[hlen] = '\0';
	if (addr_lookup(host, port, 0, ss, sslen, err, errlen) == -1)
		return -1;
	if (addr_is_self((struct sockaddr *)ss)) {
		snprintf(err, errlen, "'%s' is this proxy's own listening "
		    "address (%s): a loop", spec, laddr);
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
 * Returns whether a connect to sa (IPv4 or IPv6) would reach this proxy's
 * own listener: the same port, and the listener's address, any address
 * when sa is unspecified, or any address of this host when the listener
 * is bound to all of them (:: may take IPv4 as well).
 */
static int
addr_is_self(const struct sockaddr *sa)
{
	struct sockaddr_in	 a4, l4;
	const struct sockaddr	*a, *l;
	int			 c;

	if (lsslen == 0 || (sa->sa_family != AF_INET &&
	    sa->sa_family != AF_INET6))
		return 0;
	a = addr_unmap(sa, &a4);
	l = addr_unmap((const struct sockaddr *)&lss, &l4);
	if (addr_port(a) != addr_port(l))
		return 0;
	if ((c = addr_cmp(a, l)) <= 0)
		return 1;
	if (addr_cmp(l, a) == -1 && (l->sa_family == AF_INET6 ||
	    a->sa_family == AF_INET))
		return addr_local(a);
	return 0;
}

int
pm_conf_read(const char *path,
    int (*fn)(void *, char *, char *, size_t), void *arg,
    char *err, size_t errlen)
{
	FILE	*fp;
	char	 line[4096], why[256], *s;
	size_t	 len;
	int	 ch, lineno = 0, nul, rc = 0;

	if ((fp = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	for (;;) {
		/* getc(3), not fgets(3), which cannot tell of a NUL. */
		len = 0;
		nul = 0;
		while ((ch = getc(fp)) != EOF && ch != '\n') {
			if (ch == '\0')
				nul = 1;
			if (len < sizeof(line) - 1)
				line[len] = (char)ch;
			len++;
		}
		if (ferror(fp) || (ch == EOF && len == 0))
			break;
		lineno++;
		if (len >= sizeof(line) - 1) {
			snprintf(err, errlen, "%s:%d: line too long", path,
			    lineno);
			rc = -1;
			break;
		}
		if (nul) {
			snprintf(err, errlen, "%s:%d: NUL byte in line", path,
			    lineno);
			rc = -1;
			break;
		}
		line[len] = '\0';
		if (len > 0 && line[len - 1] == '\r')
			line[--len] = '\0';
		for (s = line; *s == ' ' || *s == '\t'; s++)
			;
		if (*s == '\0' || *s == '#')
			continue;
		why[0] = '\0';
		if (fn(arg, line, why, sizeof(why)) == -1) {
			snprintf(err, errlen, "%s:%d: %s", path, lineno,
			    why[0] != '\0' ? why : "bad line");
			rc = -1;
			break;
		}
	}
	if (rc == 0 && ferror(fp)) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		rc = -1;
	}
	fclose(fp);
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

/*
 * Clock and timers.  Each connection has one deadline for its state;
 * next_timer is a lower bound of all of them, so the connections are
 * scanned only when some timer may have expired, not on every wake-up.
 */

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

/*
 * Buffers.  A buffer is taken from the pool when a read needs one and goes
 * back as soon as it is empty.  Freed buffers are reused first, from a
 * stack, so the same few stay warm; a never-used one is handed out only
 * when none is free, so the untouched rest of the pool (and of the slot
 * and poll arrays) never becomes resident.
 */

static void
pool_init(void)
{
#ifdef HAVE_SPLICE
	int	 i;

	for (i = 0; i < PM_PIPES; i++)
		pipeunmade[npipeunmade++] = PM_PIPES - 1 - i;
#endif
	ev_init();
}

/* Gives b a pool buffer if it has none; returns 0, or -1 if none is left. */
static int
buf_get(struct buf *b)
{
	if (b->p != NULL)
		return 0;
	if (nbuffree > 0)
		b->p = buffree[--nbuffree];
	else if (buffresh < PM_NBUF)
		b->p = bufpool[buffresh++];
	else
		return -1;
	b->off = b->len = 0;
	return 0;
}

#ifdef HAVE_SPLICE
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

	if (splice_off)
		return -1;
	if (npipefree > 0) {
		b->pipe = pipefree[--npipefree] + 1;
		return 0;
	}
	if (npipeunmade == 0 || now < pipe_retry || !pipes_fit(npipes + 1))
		return -1;
#ifdef O_CLOEXEC
	if (pipe2(fd, O_NONBLOCK | O_CLOEXEC) == -1) {
#else
	if (pipe(fd) == -1) {
#endif
		log_warn("pipe for splice: copying for a second");
		pipe_retry = now + 1000;
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
 * Closes unused pipes while connections need their descriptors, or all of
 * them: an idle proxy holds none.
 */
static void
pipe_trim(int all)
{
	while (npipefree > 0 && (all || !pipes_fit(npipes)))
		pipe_close(pipefree[--npipefree]);
}

/*
 * buf_read() into b's pipe.  Returns -3 when the kernel cannot splice
 * from fd at all and the pipe was empty: then nothing is spliced again
 * and the caller reads instead.
 */
static ssize_t
pipe_in(int fd, struct buf *b)
{
	ssize_t	 n;

	if (b->len >= PM_BUFSIZE)
		return -2;
	do {
		n = splice(fd, NULL, pipes[b->pipe - 1].w, NULL,
		    PM_BUFSIZE - b->len, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
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
		return -2;
	}
	if (n == -1 && b->len == 0 && (errno == EINVAL || errno == ENOSYS)) {
		log_warn("splice: copying from now on");
		splice_off = 1;
		pipe_put(b);
		return -3;
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
		n = splice(pipes[b->pipe - 1].r, NULL, fd, NULL, b->len,
		    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
	} while (n == -1 && errno == EINTR);
	if (n == -1)
		return (errno == EAGAIN || errno == EWOULDBLOCK) ? -2 : -1;
	b->len -= (uint32_t)n;
	b->full = 0;
	st.spliced += (uint64_t)n;
	if (b->len == 0)
		pipe_put(b);
	return n;
}
#endif /* HAVE_SPLICE */

/* Returns b's buffer to the pool, dropping any bytes left in it. */
static void
buf_put(struct buf *b)
{
#ifdef HAVE_SPLICE
	if (b->pipe != 0)
		pipe_put(b);
#endif
	if (b->p == NULL)
		return;
	buffree[nbuffree++] = b->p;
	b->p = NULL;
	b->off = b->len = 0;
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
#ifdef HAVE_SPLICE
	if (b->full)
		return 0;
#endif
	return b->len < PM_BUFSIZE;
}

/*
 * Reads from fd into b.  Returns the bytes read, 0 at end of file, -1 on
 * an error (errno set) and -2 when nothing is there yet.
 */
static ssize_t
buf_read(int fd, struct buf *b)
{
	ssize_t	 n;
	size_t	 room;

#ifdef HAVE_SPLICE
	if ((b->pipe != 0 || (b->bulk && b->len == 0 && pipe_get(b) == 0)) &&
	    (n = pipe_in(fd, b)) != -3)
		return n;
#endif
	if (buf_get(b) == -1) {
		errno = ENOBUFS;
		return -1;
	}
	if ((room = buf_room(b)) == 0)
		return -2;
	do {
		n = read(fd, b->p + b->off + b->len, room);
	} while (n == -1 && errno == EINTR);
	if (n > 0)
		b->len += (uint32_t)n;
	else if (b->len == 0)
		buf_put(b);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return -2;
	return n;
}

/*
 * Writes what b holds to fd.  Returns the bytes written, -1 on an error
 * (errno set) and -2 when fd takes nothing now.  An emptied buffer goes
 * back to the pool.
 */
static ssize_t
buf_write(int fd, struct buf *b)
{
	ssize_t	 n;

	if (b->len == 0)
		return 0;
#ifdef HAVE_SPLICE
	if (b->pipe != 0)
		return pipe_out(fd, b);
#endif
	do {
		n = write(fd, b->p + b->off, b->len);
	} while (n == -1 && errno == EINTR);
	if (n == -1)
		return (errno == EAGAIN || errno == EWOULDBLOCK) ? -2 : -1;
	b->off += (uint32_t)n;
	b->len -= (uint32_t)n;
	if (b->len == 0)
		buf_put(b);
	return n;
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

/*
 * The event layer: everything that knows how descriptors are watched.
 *
 * Callers name what they watch with an id (EV_LISTEN, EV_SIGNAL,
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

#define EV_LISTEN	0	/* the listener */
#define EV_SIGNAL	1	/* the signal pipe */
#define EV_MASTER	2	/* a worker's end of its master's pipe */
#define EV_CLIENT(i)	(3 + 2 * (int)(i))
#define EV_BACKEND(i)	(3 + 2 * (int)(i) + 1)
#define EV_SLOT(id)	(((id) - 3) / 2)	/* of a slot's id */
#define EV_IDS		EV_CLIENT(PM_MAXCONN)
#define EV_IN		POLLIN
#define EV_OUT		POLLOUT
#define EV_ERR		POLLERR
#define EV_HUP		POLLHUP
/* A new slot's entries, which conn_new() clears. */
#define CPFD(i)		(&pfd[EV_CLIENT(i)])
#define BPFD(i)		(&pfd[EV_BACKEND(i)])

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
		fatal("%s: %s", ev_name, strerror(errno));
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
	if (id == EV_LISTEN && worker > 0)
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

/* Returns the events the last wait found for id, and clears them. */
static short
ev_take(int id)
{
	short	 rev = pfd[id].revents;

	pfd[id].revents = 0;
	return pfd[id].fd == -1 ? 0 : rev;
}

/* Closes c's backend socket, if open, and stops polling it. */
static void
conn_close_backend(struct conn *c)
{
	if (c->bfd != -1) {
		close(c->bfd);
		c->bfd = -1;
	}
	ev_forget(EV_BACKEND(c - conns));
}

/*
 * Connections.
 */

static void
conn_new(int fd, struct sockaddr_storage *peer)
{
	struct conn	*c;
	char		 a[PM_ADDRSTRLEN];
	int		 i;

	i = nslotfree > 0 ? slotfree[--nslotfree] : slotfresh++;
	c = &conns[i];
	memset(c, 0, sizeof(*c));
	c->cfd = fd;
	c->bfd = -1;
	/* Workers number apart: worker k of n uses k, k + n, k + 2n... */
	c->id = ++nconn_total;
	if (worker > 0)
		c->id = (c->id - 1) * (uint64_t)nworkers + (uint64_t)worker;
	c->born = now;
	c->peer = *peer;
	CPFD(i)->revents = BPFD(i)->revents = 0;
	CPFD(i)->fd = fd;
	CPFD(i)->events = 0;
	BPFD(i)->fd = -1;
	BPFD(i)->events = 0;
	if (i > hiwater)
		hiwater = i;
	if (++nconn > nconn_max)
		nconn_max = nconn;
#ifdef HAVE_SPLICE
	pipe_trim(0);
#endif
	title_dirty = 1;
#ifndef __linux__
	fd_nodelay(fd);		/* Linux: inherited from the listener */
#endif
	log_info(IDF "accept %s", ID(c),
	    pm_addr_str((struct sockaddr *)peer, a, sizeof(a)));
	c->state = C_ROUTING;
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
	st.up += c->nup;
	st.down += c->ndown;
	log_info(IDF "close: %s; %llu bytes up, %llu down, %llu.%03llu s",
	    ID(c), why, (unsigned long long)c->nup,
	    (unsigned long long)c->ndown,
	    (unsigned long long)(now - c->born) / 1000,
	    (unsigned long long)(now - c->born) % 1000);
	if (c->cfd != -1)
		close(c->cfd);
	c->cfd = -1;
	ev_forget(EV_CLIENT(i));
	conn_close_backend(c);
	buf_put(&c->up);
	buf_put(&c->down);
	c->state = C_FREE;
	slotfree[nslotfree++] = i;
	while (hiwater >= 0 && conns[hiwater].state == C_FREE)
		hiwater--;
	nconn--;
#ifdef HAVE_SPLICE
	if (nconn == 0)
		pipe_trim(1);
#endif
	title_dirty = 1;
	if (accept_resume != 0)
		accept_resume = now;	/* a descriptor is free again */
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

/* Returns whether the client may be read from now. */
static int
conn_client_readable(const struct conn *c)
{
	if (c->flags & (F_CEOF | F_CDEAD | F_BDEAD))
		return 0;
	switch (c->state) {
	case C_ROUTING:
	case C_CONNECTING:
	case C_RETRYWAIT:
	case C_RELAY:
		return buf_takes(&c->up);
	default:
		return 0;
	}
}

/* Returns whether the backend may be read from now. */
static int
conn_backend_readable(const struct conn *c)
{
	if (c->state != C_RELAY || (c->flags & (F_BEOF | F_BDEAD | F_CDEAD)))
		return 0;
	return buf_takes(&c->down);
}

/* Returns whether the backend is to be read and its bytes dropped. */
static int
conn_backend_drain(const struct conn *c)
{
	return c->state == C_RELAY && (c->flags & F_CDEAD) &&
	    !(c->flags & (F_BEOF | F_BDEAD));
}

/* Returns whether the client is to be read and its bytes dropped. */
static int
conn_client_drain(const struct conn *c)
{
	return c->state == C_RELAY && (c->flags & F_BDEAD) &&
	    !(c->flags & (F_CEOF | F_CDEAD));
}

/*
 * Reads from fd and drops the bytes.  Returns 0 at end of file, -1 on an
 * error, 1 otherwise.
 */
static int
conn_drain(int fd)
{
	ssize_t	 n;

	do {
		n = read(fd, scratch, sizeof(scratch));
	} while (n == -1 && errno == EINTR);
	if (n == 0)
		return 0;
	if (n == -1 && errno != EAGAIN && errno != EWOULDBLOCK)
		return -1;
	return 1;
}

/* Sets the poll entries of c from its state and buffers. */
static void
conn_events(struct conn *c)
{
	int		 i = (int)(c - conns);
	short		 ce = 0, be = 0;

	if (c->state == C_CLOSING) {
		ev_set(EV_CLIENT(i), c->cfd, c->down.len > 0 ? POLLOUT : POLLIN);
		ev_set(EV_BACKEND(i), -1, 0);
		return;
	}
	if (conn_client_readable(c) || conn_client_drain(c))
		ce |= POLLIN;
	if (c->down.len > 0 && !(c->flags & (F_CDEAD | F_HELD)))
		ce |= POLLOUT;
	if (c->state == C_CONNECTING)
		be = POLLOUT;
	else if (c->state == C_RELAY) {
		if (conn_backend_readable(c) || conn_backend_drain(c))
			be |= POLLIN;
		if (c->up.len > 0 && !(c->flags & F_BDEAD))
			be |= POLLOUT;
	}
	/*
	 * With nothing to wait for, a socket is still polled so that a reset
	 * is seen, unless our side of it is shut: then a hang-up is normal.
	 */
	ev_set(EV_CLIENT(i), c->flags & F_CDEAD || (ce == 0 &&
	    (c->flags & F_CSHUT)) ? -1 : c->cfd, ce);
	ev_set(EV_BACKEND(i), c->bfd == -1 || c->flags & F_BDEAD ||
	    (be == 0 && (c->flags & F_BSHUT)) ? -1 : c->bfd, be);
}

/*
 * Asks the router about the bytes so far and acts on the answer.  Returns
 * 0, or -1 if the connection was closed.
 */
static int
conn_route(struct conn *c, int expired)
{
	static const unsigned char	 none[1];
	struct pm_route			*r = &c->route;
	char				 a[PM_ADDRSTRLEN];
	const unsigned char		*p;
	unsigned char			*q;
	size_t				 rlen, okl, faill;

	memset(r, 0, sizeof(*r));
	p = c->up.p != NULL ? c->up.p + c->up.off : none;
	routing = c;
	router_route(p, c->up.len, (struct sockaddr *)&c->peer, expired, r);
	routing = NULL;

	switch (r->action) {
	case PM_NOOP:
		if (c->up.len >= PM_BUFSIZE) {
			st.route_full++;
			conn_close(c, "routing buffer full (%u bytes) "
			    "without a decision", (unsigned)c->up.len);
			return -1;
		}
		c->wait = r->wait_ms > 0 ? now + (uint64_t)r->wait_ms : 0;
		timer_set(c, c->born + PM_ROUTE_TIMEOUT);
		if (c->wait != 0 && c->wait < c->deadline)
			timer_set(c, c->wait);
		log_debug(IDF "route: wait (%u bytes)", ID(c),
		    (unsigned)c->up.len);
		return 0;
	case PM_CLOSE:
		st.router_closes++;
		if (r->reply == NULL) {
			conn_close(c, "router closed (%u bytes)",
			    (unsigned)c->up.len);
			return -1;
		}
		if (r->replylen > PM_BUFSIZE || buf_get(&c->down) == -1) {
			conn_close(c, "router reply of %zu bytes too long",
			    r->replylen);
			return -1;
		}
		memcpy(c->down.p, r->reply, r->replylen);
		c->down.len = (uint32_t)r->replylen;
		log_info(IDF "route: close after a %zu-byte reply", ID(c),
		    r->replylen);
		r->reply = NULL;
		return conn_closing(c);
	case PM_REMOTE:
		break;
	default:
		conn_close(c, "router gave unknown action %d", r->action);
		return -1;
	}

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
	/* The replies first: they may point into the bytes data replaces. */
	if (okl + faill > 0) {
		/*
		 * Held for the connect's outcome: the reply and ok_reply, then
		 * the reply and fail_reply; one of the two is dropped later.
		 */
		if (buf_get(&c->down) == -1) {
			conn_close(c, "no buffer");
			return -1;
		}
		q = c->down.p;
		memcpy(q, r->reply, rlen);
		memcpy(q + rlen, r->ok_reply, okl);
		memcpy(q + rlen + okl, r->reply, rlen);
		memcpy(q + 2 * rlen + okl, r->fail_reply, faill);
		c->heldok = (uint32_t)(rlen + okl);
		c->heldfail = (uint32_t)(rlen + faill);
		c->down.len = c->heldok + c->heldfail;
		c->flags |= F_HELD;
	} else if (rlen > 0) {
		if (buf_get(&c->down) == -1) {
			conn_close(c, "no buffer");
			return -1;
		}
		memcpy(c->down.p, r->reply, rlen);
		c->down.len = (uint32_t)rlen;
	}
	if (r->data != NULL) {
		if (r->datalen > 0) {
			if (buf_get(&c->up) == -1) {
				conn_close(c, "no buffer");
				return -1;
			}
			memmove(c->up.p, r->data, r->datalen);
			c->up.off = 0;
			c->up.len = (uint32_t)r->datalen;
		} else
			buf_put(&c->up);
	}
	log_info(IDF "route: %s (%u bytes to send, %zu-byte reply%s)", ID(c),
	    pm_addr_str((struct sockaddr *)&r->addr, a, sizeof(a)),
	    (unsigned)c->up.len, rlen, (c->flags & F_HELD) ?
	    " held for the connect" : "");
	r->data = r->reply = r->ok_reply = r->fail_reply = NULL;
	r->datalen = r->replylen = r->ok_replylen = r->fail_replylen = 0;
	c->wait = 0;
	c->tries = 0;
	if (addr_is_self((struct sockaddr *)&r->addr)) {
		st.self_refused++;
		log_warnx(IDF "destination %s is this proxy's own listener: "
		    "refused", ID(c), a);
		return conn_giveup(c, "destination refused: the proxy "
		    "itself");
	}
	if (c->down.len > 0 && !(c->flags & F_HELD)) {
		/* Send the reply now, not a poll round later. */
		ssize_t	 n = buf_write(c->cfd, &c->down);

		if (n == -1)
			return conn_client_gone(c, errno);
		if (n > 0)
			c->ndown += (uint64_t)n;
	}
	return conn_connect(c);
}

/* Starts a connect attempt.  Returns 0, or -1 if c was closed. */
static int
conn_connect(struct conn *c)
{
	struct pm_route	*r = &c->route;
	char		 a[PM_ADDRSTRLEN];
	int		 fd, type = SOCK_STREAM;
	ssize_t		 n;

	c->tries++;
	c->state = C_CONNECTING;
	if (c->tries > 1)
		log_info(IDF "connect %s: attempt %d", ID(c),
		    pm_addr_str((struct sockaddr *)&r->addr, a, sizeof(a)),
		    c->tries);
#ifdef SOCK_NONBLOCK
	type |= SOCK_NONBLOCK | SOCK_CLOEXEC;
#endif
	if ((fd = socket(r->addr.ss_family, type, 0)) == -1) {
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
		    errno == ENOMEM) {
			/* Ours, not the backend's: retrying will not help. */
			st.local_errors++;
			if ((n = (ssize_t)burst_say(&local_burst)) > 0)
				log_warn("no socket for a backend (%lld "
				    "times since the last such line)",
				    (long long)n);
			return conn_giveup(c, "no socket for the backend");
		}
		return conn_connect_failed(c, strerror(errno));
	}
#ifndef SOCK_NONBLOCK
	if (fd_setup(fd) == -1) {
		close(fd);
		return conn_connect_failed(c, strerror(errno));
	}
#endif
	fd_nodelay(fd);
	c->bfd = fd;
	if (connect(fd, (struct sockaddr *)&r->addr, r->addrlen) == 0)
		return conn_connect_done(c, POLLOUT);
	if (errno != EINPROGRESS && errno != EINTR)
		return conn_connect_failed(c, strerror(errno));
#ifdef __linux__
	/*
	 * A connect to a nearby backend has often completed by now; then
	 * the first bytes go at once, without a round of the event loop.
	 * Linux says EAGAIN while it is still in progress, and the error
	 * when it failed.
	 */
	if (c->up.len > 0 && (n = buf_write(fd, &c->up)) != -2) {
		if (n == -1)
			return conn_connect_failed(c, strerror(errno));
		c->nup += (uint64_t)n;
		return conn_connect_done(c, POLLOUT);
	}
#endif
	timer_set(c, r->connect_ms > 0 ? now + (uint64_t)r->connect_ms : 0);
	return 0;
}

/*
 * Finishes a connect once the socket is writable or failed.  Returns 0, or
 * -1 if c was closed.
 */
static int
conn_connect_done(struct conn *c, short rev)
{
	char	 a[PM_ADDRSTRLEN];
	ssize_t	 n;
	int	 e;

	/* Writable without an error or hang-up: connected, no need to ask. */
	if (rev & (POLLERR | POLLHUP)) {
		e = fd_error(c->bfd);
		if (e != 0 || !(rev & POLLOUT))
			return conn_connect_failed(c, e != 0 ? strerror(e) :
			    "hung up");
	}
	c->state = C_RELAY;
	log_info(IDF "connected %s", ID(c),
	    pm_addr_str((struct sockaddr *)&c->route.addr, a, sizeof(a)));
	timer_set(c, c->route.idle_ms > 0 ?
	    now + (uint64_t)c->route.idle_ms : 0);
	if (c->flags & F_HELD) {
		/* The reply for a connect that worked, now. */
		c->flags &= ~F_HELD;
		c->down.len = c->heldok;
		c->heldok = c->heldfail = 0;
		if (c->down.len == 0)
			buf_put(&c->down);
		else if ((n = buf_write(c->cfd, &c->down)) > 0)
			c->ndown += (uint64_t)n;
		else if (n == -1 && conn_client_gone(c, errno) == -1)
			return -1;
	}
	/* What the client did meanwhile (its end of file) is passed on. */
	return conn_check(c);
}

/*
 * Handles a failed connect attempt: retry, or give up and tell the router.
 * Returns 0, or -1 if c was closed.
 */
static int
conn_connect_failed(struct conn *c, const char *why)
{
	char	 a[PM_ADDRSTRLEN];

	conn_close_backend(c);
	pm_addr_str((struct sockaddr *)&c->route.addr, a, sizeof(a));
	if (c->flags & (F_CEOF | F_CDEAD)) {
		/* Nobody would take what a retry might bring. */
		log_info(IDF "connect %s failed: %s (attempt %d); the client "
		    "had closed, so no retry and no connect error", ID(c), a,
		    why, c->tries);
		return conn_giveup(c, "connect failed after the client "
		    "closed");
	}
	if (c->tries <= PM_CONNECT_RETRIES) {
		st.connect_retries++;
		log_info(IDF "connect %s failed: %s (attempt %d of %d); "
		    "retrying in %d ms", ID(c), a, why, c->tries,
		    PM_CONNECT_RETRIES + 1, PM_RETRY_MS);
		c->state = C_RETRYWAIT;
		timer_set(c, now + PM_RETRY_MS);
		return 0;
	}
	st.connect_errors++;
	log_warnx(IDF "connect %s failed after %d attempts: %s", ID(c), a,
	    c->tries, why);
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
	if (c->flags & F_HELD) {
		c->flags &= ~F_HELD;
		c->down.off += c->heldok;
		c->down.len = c->heldfail;
		c->heldok = c->heldfail = 0;
		if (c->down.len == 0)
			buf_put(&c->down);
	}
	c->endwhy = why;
	if (c->down.len > 0 && !(c->flags & F_CDEAD))
		return conn_closing(c);
	conn_close(c, "%s", why);
	return -1;
}

/*
 * Enters C_CLOSING: the backend is dropped, the client gets what is left in
 * the down buffer, then its close is awaited.  Returns 0, or -1 if c was
 * closed.
 */
static int
conn_closing(struct conn *c)
{
	conn_close_backend(c);
	buf_put(&c->up);
	c->state = C_CLOSING;
	timer_set(c, now + PM_CLOSE_TIMEOUT);
	return conn_closing_io(c, POLLOUT);
}

/*
 * Writes the last reply, shuts the client's write side, then reads and
 * drops what the client still sends until it closes, so that our close
 * does not reset the connection under the reply.  Returns 0, or -1 if c
 * was closed.
 */
static int
conn_closing_io(struct conn *c, short rev)
{
	ssize_t	 n;

	if (c->down.len > 0) {
		if (!(rev & (POLLOUT | POLLERR | POLLHUP)))
			return 0;
		n = buf_write(c->cfd, &c->down);
		if (n == -1) {
			conn_close(c, "%s%sclient gone before the reply: %s",
			    ENDWHY(c), strerror(errno));
			return -1;
		}
		if (n > 0)
			c->ndown += (uint64_t)n;
		if (c->down.len > 0)
			return 0;
	}
	if (!(c->flags & F_LINGER)) {
		c->flags |= F_LINGER;
		if (shutdown(c->cfd, SHUT_WR) == -1) {
			conn_close(c, "%s%sreply sent", ENDWHY(c));
			return -1;
		}
		timer_set(c, now + PM_LINGER_MS);
		rev |= POLLIN;
	}
	if (rev & (POLLIN | POLLERR | POLLHUP)) {
		do {
			n = read(c->cfd, scratch, sizeof(scratch));
		} while (n == -1 && errno == EINTR);
		if (n == 0 || (n == -1 && errno != EAGAIN &&
		    errno != EWOULDBLOCK)) {
			conn_close(c, "%s%sreply sent", ENDWHY(c));
			return -1;
		}
	}
	return 0;
}

/*
 * The client socket failed (err) or hung up.  Before the relay this ends
 * the connection with no error hook; during it, the client's direction is
 * dead and the backend still gets what was buffered for it.  Returns 0, or
 * -1 if c was closed.
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
	if (c->down.len > 0)
		log_info(IDF "client gone%s%s: %u bytes for it dropped", ID(c),
		    err ? ": " : "", err ? strerror(err) : "",
		    (unsigned)c->down.len);
	c->flags |= F_CDEAD | F_CEOF;
	buf_put(&c->down);
	timer_set(c, now + PM_FLUSH_TIMEOUT);
	return 0;
}

/*
 * The backend hung up (eof) or failed.  A backend that goes before sending
 * a byte is a failed connect, as in the original: retried while nothing was
 * sent to it, else reported to the router.  Returns 0, or -1 if c was
 * closed.
 */
static int
conn_backend_gone(struct conn *c, int err, const char *why)
{
	char	 a[PM_ADDRSTRLEN];

	if (!(c->flags & F_BDATA)) {
		if (c->nup == 0) {
			c->flags &= ~(F_BSHUT | F_BEOF | F_BDEAD);
			return conn_connect_failed(c, why);
		}
		st.connect_errors++;
		log_warnx(IDF "backend %s %s without sending a byte",
		    ID(c), pm_addr_str((struct sockaddr *)&c->route.addr, a,
		    sizeof(a)), why);
		if (!(c->flags & (F_CEOF | F_CDEAD))) {
			conn_hook(c, router_connect_error);
		}
		if (c->down.len > 0 && !(c->flags & F_CDEAD))
			return conn_closing(c);
		conn_close(c, "backend %s without a byte", why);
		return -1;
	}
	if (err) {
		st.backend_errors++;
		if (c->up.len > 0)
			log_info(IDF "backend failed: %s: %u bytes for it "
			    "dropped", ID(c), why, (unsigned)c->up.len);
		c->flags |= F_BDEAD | F_BEOF;
		buf_put(&c->up);
		timer_set(c, now + PM_FLUSH_TIMEOUT);
	} else
		c->flags |= F_BEOF;
	return 0;
}

/*
 * Passes on half-closes and closes c when both directions are done.
 * Returns 0, or -1 if c was closed.
 */
static int
conn_check(struct conn *c)
{
	int	 up_done, down_done;

	if (c->state != C_RELAY)
		return 0;
	up_done = (c->flags & F_BDEAD) ||
	    ((c->flags & (F_CEOF | F_CDEAD)) && c->up.len == 0);
	down_done = (c->flags & F_CDEAD) ||
	    ((c->flags & (F_BEOF | F_BDEAD)) && c->down.len == 0);
	if (up_done && down_done) {
		/* Both ends read to their end: close(2) sends the FINs. */
		conn_close(c, "done");
		return -1;
	}
	/*
	 * A shutdown that fails finds a socket already reset: that side is
	 * gone, which may end the connection (look again) or leave bytes to
	 * flush under the flush timeout.
	 */
	if (up_done && !(c->flags & (F_BSHUT | F_BDEAD))) {
		c->flags |= F_BSHUT;
		if (shutdown(c->bfd, SHUT_WR) == -1)
			return conn_backend_gone(c, errno, strerror(errno)) ==
			    -1 ? -1 : conn_check(c);
	}
	if (down_done && !(c->flags & (F_CSHUT | F_CDEAD))) {
		c->flags |= F_CSHUT;
		if (shutdown(c->cfd, SHUT_WR) == -1)
			return conn_client_gone(c, errno) == -1 ? -1 :
			    conn_check(c);
	}
	return 0;
}

/*
 * Does the I/O that crev (client) and brev (backend) allow: a read is
 * followed at once by the write it makes possible, without waiting for
 * another poll round.  Sets *more when a read filled a buffer that the
 * write then emptied: there is likely more to read.  Returns 0, or -1 if c
 * was closed.
 */
static int
conn_step(struct conn *c, short crev, short brev, int *more)
{
	const short	 rd = POLLIN | POLLHUP | POLLERR;
	const short	 wr = POLLOUT | POLLHUP | POLLERR;
	int		 ctouched = 0, btouched = 0, cfull = 0, bfull = 0;
	size_t		 room;
	ssize_t		 n;

	*more = 0;
	if (c->state == C_CLOSING)
		return conn_closing_io(c, crev);
	if (c->state == C_CONNECTING && brev != 0) {
		if (conn_connect_done(c, brev) == -1)
			return -1;
		brev = c->state == C_RELAY ? POLLOUT : 0;
	}

	/* Client to up buffer. */
	if ((crev & rd) && conn_client_readable(c)) {
		ctouched = 1;
		room = buf_room(&c->up);
		n = buf_read(c->cfd, &c->up);
		if (n > 0) {
			if (c->state == C_ROUTING)
				return conn_route(c, 0);
			cfull = (size_t)n == room;
			brev |= POLLOUT;
#ifdef HAVE_SPLICE
			if (cfull && c->state == C_RELAY)
				c->up.bulk = 1;
#endif
		} else if (n == 0) {
			c->flags |= F_CEOF;
			if (c->state == C_ROUTING) {
				/* No more bytes will come: a last question. */
				if (c->up.len > 0 && (conn_route(c, 1) == -1 ||
				    c->state != C_ROUTING))
					return c->state == C_FREE ? -1 : 0;
				conn_close(c, "client closed before a route "
				    "(%u bytes)", (unsigned)c->up.len);
				return -1;
			}
			if (c->state == C_RETRYWAIT) {
				/* Nobody would take what a retry brings. */
				log_info(IDF "client closed after %d connect "
				    "attempts: no retry and no connect error",
				    ID(c), c->tries);
				return conn_giveup(c, "client closed before "
				    "a connect worked");
			}
			if (c->state != C_RELAY)
				log_info(IDF "client sent end of file during "
				    "connect", ID(c));
		} else if (n == -1) {
			if (conn_client_gone(c, errno) == -1)
				return -1;
		}
	}

	/* Backend to down buffer. */
	if ((brev & rd) && conn_backend_readable(c)) {
		btouched = 1;
		room = buf_room(&c->down);
		n = buf_read(c->bfd, &c->down);
		if (n > 0) {
			c->flags |= F_BDATA;
			bfull = (size_t)n == room;
			crev |= POLLOUT;
#ifdef HAVE_SPLICE
			if (bfull)
				c->down.bulk = 1;
#endif
		} else if (n == 0) {
			if (conn_backend_gone(c, 0, "closed") == -1)
				return -1;
		} else if (n == -1) {
			if (conn_backend_gone(c, errno, strerror(errno)) == -1)
				return -1;
		}
		if (c->state != C_RELAY)
			return 0;	/* retrying or closing */
		if (n != -2 && c->route.idle_ms > 0 &&
		    !(c->flags & (F_CDEAD | F_BDEAD)))
			timer_set(c, now + (uint64_t)c->route.idle_ms);
	}

	/*
	 * One side failed: what the other still sends has nowhere to go, but
	 * is read and dropped, so that it is not stuck writing to us while
	 * we flush what we hold for it.
	 */
	if ((brev & rd) && conn_backend_drain(c)) {
		btouched = 1;
		if ((n = conn_drain(c->bfd)) == 0)
			c->flags |= F_BEOF;
		else if (n == -1)
			c->flags |= F_BEOF | F_BDEAD;
	}
	if ((crev & rd) && conn_client_drain(c)) {
		ctouched = 1;
		if ((n = conn_drain(c->cfd)) == 0)
			c->flags |= F_CEOF;
		else if (n == -1)
			c->flags |= F_CEOF | F_CDEAD;
	}

	/* Up buffer to backend. */
	if ((brev & wr) && c->state == C_RELAY && c->up.len > 0 &&
	    !(c->flags & F_BDEAD)) {
		btouched = 1;
		n = buf_write(c->bfd, &c->up);
		if (n > 0) {
			c->nup += (uint64_t)n;
			if (c->route.idle_ms > 0 &&
			    !(c->flags & (F_CDEAD | F_BDEAD)))
				timer_set(c, now + (uint64_t)c->route.idle_ms);
		} else if (n == -1) {
			if (conn_backend_gone(c, errno, strerror(errno)) == -1)
				return -1;
			if (c->state != C_RELAY)
				return 0;
		}
	}

	/* Down buffer to client. */
	if ((crev & wr) && c->down.len > 0 &&
	    !(c->flags & (F_CDEAD | F_HELD))) {
		ctouched = 1;
		n = buf_write(c->cfd, &c->down);
		if (n > 0)
			c->ndown += (uint64_t)n;
		else if (n == -1) {
			if (conn_client_gone(c, errno) == -1)
				return -1;
		}
	}

	/* A failure on a socket we had nothing to do with. */
	if (!ctouched && (crev & (POLLERR | POLLHUP)) && c->cfd != -1 &&
	    !(c->flags & (F_CDEAD | F_CSHUT))) {
		if (conn_client_gone(c, fd_error(c->cfd)) == -1)
			return -1;
	}
	if (!btouched && (brev & (POLLERR | POLLHUP)) && c->state == C_RELAY &&
	    !(c->flags & (F_BDEAD | F_BSHUT))) {
		int	 e = fd_error(c->bfd);

		if (conn_backend_gone(c, e ? e : EPIPE,
		    e ? strerror(e) : "hung up") == -1)
			return -1;
	}

	if (conn_check(c) == -1)
		return -1;
	if (cfull && c->up.len == 0)
		*more |= 1;
	if (bfull && c->down.len == 0)
		*more |= 2;
	return 0;
}

/*
 * Steps c for its poll events, then, while a stream keeps filling whole
 * buffers that its write empties, a few rounds more without polling: a
 * busy stream costs one poll per several buffers, and a bounded number so
 * the other connections get their turn.
 */
static void
conn_io(struct conn *c, short crev, short brev)
{
	int	 more, round;

	for (round = 0; ; round++) {
		if (conn_step(c, crev, brev, &more) == -1)
			return;
		if (more == 0 || round + 1 >= PM_RELAY_ROUNDS ||
		    c->state != C_RELAY)
			break;
		crev = (more & 1) ? POLLIN : 0;
		brev = (more & 2) ? POLLIN : 0;
	}
	conn_events(c);
}

/* Acts on an expired deadline of c. */
static void
conn_timer(struct conn *c)
{
	char	 a[PM_ADDRSTRLEN];

	c->deadline = 0;
	switch (c->state) {
	case C_ROUTING:
		if (now >= c->born + PM_ROUTE_TIMEOUT) {
			st.route_timeouts++;
			conn_close(c, "no route within %d ms (%u bytes)",
			    PM_ROUTE_TIMEOUT, (unsigned)c->up.len);
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
	case C_CONNECTING:
		if (conn_connect_failed(c, "connect timed out") == -1)
			return;
		break;
	case C_RETRYWAIT:
		if (conn_connect(c) == -1)
			return;
		break;
	case C_RELAY:
		if (c->flags & (F_CDEAD | F_BDEAD)) {
			conn_close(c, "%s gone; the rest not taken within "
			    "%d ms", (c->flags & F_CDEAD) ? "client" :
			    "backend", PM_FLUSH_TIMEOUT);
			return;
		}
		st.idle_timeouts++;
		pm_addr_str((struct sockaddr *)&c->route.addr, a, sizeof(a));
		if (!(c->flags & F_BDATA)) {
			log_warnx(IDF "backend %s: no byte within the "
			    "inactivity timeout of %d ms%s", ID(c), a,
			    c->route.idle_ms, (c->flags & (F_CEOF | F_CDEAD)) ?
			    "; the client had closed, so no error" : "");
			if (!(c->flags & (F_CEOF | F_CDEAD))) {
				conn_hook(c, router_idle_error);
			}
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

/* Runs the expired timers and recomputes next_timer. */
static void
timers_run(void)
{
	struct conn	*c;
	int		 i;

	next_timer = TIME_NEVER;
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
#if !defined(HAVE_SETPROCTITLE) && defined(__linux__)
	extern char	**environ;
	char		 *end, **env;
	int		  i, n;

	if (argc < 1 || argv[0] == NULL)
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
#else
	(void)argc;
	(void)argv;
#endif
}

static void
title_update(void)
{
	char	 t[256], w[32];

	title_dirty = 0;
	w[0] = '\0';
	if (worker > 0)
		snprintf(w, sizeof(w), " - worker %d of %d", worker,
		    nworkers);
	if (nworkers > 1 && worker == 0)
		snprintf(t, sizeof(t), "proxymachine %s - %s %s - master of "
		    "%d workers", PM_VERSION, router_name, laddr, nworkers);
	else
		snprintf(t, sizeof(t), "proxymachine %s - %s %s - %d/%d/%llu "
		    "conns%s", PM_VERSION, router_name, laddr, nconn,
		    nconn_max, (unsigned long long)nconn_total, w);
#ifdef HAVE_SETPROCTITLE
	setproctitle("-%s", t);
#else
	if (title_area != NULL && title_size > 1) {
		size_t	 n = strlen(t);

		if (n >= title_size)
			n = title_size - 1;
		memcpy(title_area, t, n);
		memset(title_area + n, 0, title_size - n);
	}
#endif
}

/*
 * The listener.
 */

/*
 * Resolves the address to listen on, before the table is read: a table
 * may not route to it.
 */
static void
listener_addr(const char *host, const char *port)
{
	char	 e[256];

	if (addr_lookup(host, port, 1, &lss, &lsslen, e, sizeof(e)) == -1)
		errx(1, "listen address: %s", e);
	pm_addr_str((struct sockaddr *)&lss, laddr, sizeof(laddr));
}

static void
listener_open(void)
{
	int	 one = 1;

	if ((lfd = socket(lss.ss_family, SOCK_STREAM, 0)) == -1)
		err(1, "socket");
	if (setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one,
	    sizeof(one)) == -1)
		err(1, "setsockopt SO_REUSEADDR");
	if (bind(lfd, (struct sockaddr *)&lss, lsslen) == -1)
		err(1, "bind %s", laddr);
	if (listen(lfd, SOMAXCONN) == -1)
		err(1, "listen %s", laddr);
	if (fd_setup(lfd) == -1)
		err(1, "fcntl");
	fd_nodelay(lfd);
	ev_set(EV_LISTEN, lfd, POLLIN);
}

/* Polls the listener only while a connection can be taken. */
static void
listen_events(void)
{
	if (lfd == -1 || stopping || nconn >= maxconn ||
	    (accept_resume != 0 && now < accept_resume))
		ev_set(EV_LISTEN, -1, POLLIN);
	else {
		accept_resume = 0;
		ev_set(EV_LISTEN, lfd, POLLIN);
	}
}

static void
accept_batch(void)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len;
	int			 fd, k;

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
#ifdef __linux__
		fd = accept4(lfd, (struct sockaddr *)&ss, &len,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
#else
		fd = accept(lfd, (struct sockaddr *)&ss, &len);
		if (fd != -1 && fd_setup(fd) == -1) {
			log_warn("accept: fcntl");
			close(fd);
			continue;
		}
#endif
		if (fd == -1) {
			switch (errno) {
			case EAGAIN:
#if EWOULDBLOCK != EAGAIN
			case EWOULDBLOCK:
#endif
				/* The burst is over: say so once. */
				if (pool_full || accept_failing)
					log_warnx("accepting again: %d of %d "
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
		conn_new(fd, &ss);
	}
}

/* Logs the counters: connections, bytes each way, errors by kind. */
static void
stats_log(void)
{
	uint64_t	 up = st.up, down = st.down;
	int		 i;

	for (i = 0; i <= hiwater; i++)
		if (conns[i].state != C_FREE) {
			up += conns[i].nup;
			down += conns[i].ndown;
		}
	log_warnx("stats: %d open (most %d, pool %d), %llu accepted; "
	    "%llu bytes up, %llu down (%llu spliced); errors: %llu connect "
	    "(%llu retries), "
	    "%llu inactivity, %llu routing timeouts, %llu routing buffers "
	    "full, %llu closed by the router, %llu client, %llu backend, "
	    "%llu accept", nconn, nconn_max, maxconn,
	    (unsigned long long)nconn_total, (unsigned long long)up,
	    (unsigned long long)down, (unsigned long long)st.spliced,
	    (unsigned long long)st.connect_errors,
	    (unsigned long long)st.connect_retries,
	    (unsigned long long)st.idle_timeouts,
	    (unsigned long long)st.route_timeouts,
	    (unsigned long long)st.route_full,
	    (unsigned long long)st.router_closes,
	    (unsigned long long)st.client_errors,
	    (unsigned long long)st.backend_errors,
	    (unsigned long long)st.accept_errors);
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
#ifdef SIGINFO
	sigaction(SIGINFO, &sa, NULL);
#endif
	ev_set(EV_SIGNAL, sigpipe[0], POLLIN);
}

static void
signals_run(void)
{
	char	 b[64], e[512];

	while (read(sigpipe[0], b, sizeof(b)) > 0)
		;
	if (got_stats) {
		got_stats = 0;
		stats_log();
	}
	if (got_hup) {
		got_hup = 0;
		if (router_load(conf_path, e, sizeof(e)) == -1)
			log_warnx("reload failed, keeping the old table: %s",
			    e);
		else
			log_warnx("reloaded %s", conf_path != NULL ?
			    conf_path : "(no table)");
	}
	/*
	 * A worker can get TERM both from its master and from whoever sent
	 * the master one (a service manager signals the whole group): its
	 * master says when it is a second one, with USR2.
	 */
	if (worker > 0 && got_term > 1)
		got_term = 1;
	if (got_now || (got_term > 1 && stopping == 2)) {
		if (stopping != 2)
			stop_begin(2);
		log_warnx("%s: closing %d connections now", got_now ? "USR2" :
		    "second signal", nconn);
		got_now = 0;
		conn_close_all();
		stop_check();
	}
	if (got_term && stopping != 2)
		stop_begin(2);
	else if (got_quit && !stopping)
		stop_begin(1);
}

/* Stops accepting; fast is 2 for TERM and INT, 1 for QUIT. */
static void
stop_begin(int how)
{
	stopping = how;
	accept_resume = 0;
	if (lfd != -1) {
		close(lfd);
		lfd = -1;
		ev_forget(EV_LISTEN);
	}
	if (how == 2) {
		stop_deadline = now + PM_TERM_GRACE;
		log_warnx("fast shutdown: not accepting; waiting at most %d ms "
		    "for %d connections", PM_TERM_GRACE, nconn);
	} else
		log_warnx("graceful shutdown: not accepting; waiting for %d "
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
		log_warnx("all connections closed: exiting");
		quit(0);
	}
	if (stopping == 2 && now >= stop_deadline) {
		log_warnx("grace period over: closing %d connections", nconn);
		conn_close_all();
		log_warnx("exiting");
		quit(0);
	}
	if (now >= stop_said + 1000 && nconn != stop_left) {
		log_warnx("shutdown: %d connections left", nconn);
		stop_left = nconn;
		stop_said = now;
	}
}

/* Sizes the pool to the descriptor limit, raising it when allowed. */
static void
fd_limit(void)
{
	struct rlimit	 rl;
	rlim_t		 want = 2 * (rlim_t)PM_MAXCONN + PM_RESERVE_FDS;
	rlim_t		 old, left;

	maxconn = PM_MAXCONN;
#ifdef HAVE_SPLICE
	want += 2 * (rlim_t)PM_PIPES;
#else
	pipemax = 0;
#endif
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
			log_warnx("descriptor limit raised from %llu to %llu",
			    (unsigned long long)old,
			    (unsigned long long)rl.rlim_cur);
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
		if (rl.rlim_cur < PM_RESERVE_FDS + 2)
			errx(1, "descriptor limit %llu is too low",
			    (unsigned long long)rl.rlim_cur);
		left = rl.rlim_cur - PM_RESERVE_FDS;
		/* Pipes get at most a sixteenth of what is left. */
		if (pipemax > (int)(left / 32))
			pipemax = (int)(left / 32);
		maxconn = (int)((left - 2 * (rlim_t)pipemax) / 2);
		log_warnx("descriptor limit %llu: pool shrunk from %d to %d "
		    "connections, %d splice pipes", (unsigned long long)
		    rl.rlim_cur, PM_MAXCONN, maxconn, pipemax);
	}
}

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

/* Writes our process id to pidfile; failing is fatal. */
static void
pidfile_write(void)
{
	FILE	*fp;

	if ((fp = fopen(pidfile, "w")) == NULL ||
	    fprintf(fp, "%ld\n", (long)getpid()) < 0 || fclose(fp) == EOF) {
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
 * listener is bound and the log is open.
 */
static void
privdrop(const struct passwd *pw, const char *dir)
{
	if (dir != NULL && (chroot(dir) == -1 || chdir("/") == -1))
		fatal("chroot %s: %s", dir, strerror(errno));
	if (pw == NULL)
		return;
	if (setgroups(1, &pw->pw_gid) == -1 || setgid(pw->pw_gid) == -1 ||
	    setuid(pw->pw_uid) == -1)
		fatal("cannot become %s: %s", pw->pw_name, strerror(errno));
	if (pw->pw_uid != 0 && setuid(0) != -1)
		fatal("still able to become root after dropping to %s",
		    pw->pw_name);
}

static void
usage(int status)
{
	fprintf(status ? stderr : stdout,
	    "usage: proxymachine [-dqVv] [-c config] [-h host] [-P pidfile] "
	    "[-p port]\n"
	    "                    [-t dir] [-u user] [-w workers]\n"
	    "  -c, --config CONFIG   the %s router's table\n"
	    "  -h, --host HOST       address to bind (default 0.0.0.0)\n"
	    "  -p, --port PORT       port to listen on (default 5432)\n"
	    "  -d, --daemon          detach, and log to syslog\n"
	    "  -P, --pidfile FILE    write the process id to FILE\n"
	    "  -t, --chroot DIR      chroot to DIR after binding\n"
	    "  -u, --user USER       run as USER after binding\n"
	    "  -w, --workers N       N processes share the port (0: one per "
	    "CPU)\n"
	    "  -q, --quiet           log only warnings and errors\n"
	    "  -v, --verbose         log routing waits too\n"
	    "  -V, --version         print the version and exit\n"
	    "      --help            print this help and exit\n",
	    router_name);
	exit(status);
}

#ifndef PM_NO_MAIN
/*
 * Workers (-w N).  Once the table is read, the listener bound and the
 * privileges dropped, the master forks N workers that share the listener,
 * each with its own event loop, signal pipe and pool.  The master holds
 * no connection: it passes signals on, restarts a worker that dies, and
 * exits once every worker has exited after a shutdown signal.
 */

/* Sends sig to every running worker. */
static void
workers_signal(int sig)
{
	int	 k;

	for (k = 1; k <= nworkers; k++)
		if (workers[k].pid > 0)
			(void)kill(workers[k].pid, sig);
}

/* In a new worker: its own signal pipe, event set and process group. */
static void
worker_init(int k)
{
	worker = k;
	snprintf(wtag, sizeof(wtag), "w%d ", k);
	pidfile = NULL;			/* the master's to remove */
	got_quit = got_term = got_hup = got_stats = got_chld = got_now = 0;
	/* A terminal's ^C reaches the master, which passes it on once. */
	(void)setpgid(0, 0);
	close(masterpipe[1]);
	close(sigpipe[0]);
	close(sigpipe[1]);
	ev_init();			/* the listener, watched again */
	signals_init();
	ev_set(EV_MASTER, masterpipe[0], EV_IN);
	title_dirty = 1;
#ifdef __OpenBSD__
	if (pledge("stdio inet rpath dns", NULL) == -1)
		fatal("pledge: %s", strerror(errno));
#endif
	log_info("worker %d of %d started, pid %ld", k, nworkers,
	    (long)getpid());
}

/* Forks worker k.  Returns 1 in the new worker, 0 in the master. */
static int
worker_start(int k)
{
	sigset_t	 all, old;
	pid_t		 pid;

	log_flush();
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	pid = fork();
	if (pid == 0) {
		worker_init(k);
		sigprocmask(SIG_SETMASK, &old, NULL);
		return 1;
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	workers[k].born = now;
	if (pid == -1) {
		log_warn("worker %d: fork", k);
		return 0;		/* tried again in PM_RESPAWN_MS */
	}
	workers[k].pid = pid;
	return 0;
}

/* Reaps the workers that exited; says why when it was not asked for. */
static void
workers_reap(void)
{
	pid_t	 pid;
	int	 k, status;
	char	 why[64];

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (k = 1; k <= nworkers; k++)
			if (workers[k].pid == pid)
				break;
		if (k > nworkers)
			continue;
		workers[k].pid = 0;
		if (WIFSIGNALED(status))
			snprintf(why, sizeof(why), "killed by signal %d",
			    WTERMSIG(status));
		else
			snprintf(why, sizeof(why), "exited with status %d",
			    WEXITSTATUS(status));
		if (stopping)
			log_info("worker %d %s", k, why);
		else {
			respawns++;
			log_warnx("worker %d (pid %ld) %s: starting another",
			    k, (long)pid, why);
		}
	}
}

/* The master's loop; returns only in a new worker. */
static void
master(void)
{
	struct pollfd		 p;
	char			 b[64];
	int			 k, n, alive, timeout;

	if (pipe(masterpipe) == -1 || fd_setup(masterpipe[0]) == -1 ||
	    fd_setup(masterpipe[1]) == -1)
		fatal("pipe: %s", strerror(errno));
	ev_close();			/* each worker makes its own */
	title_dirty = 1;
	for (;;) {
		timeout = -1;
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
			log_warnx("all workers exited: exiting");
			quit(0);
		}
		if (title_dirty)
			title_update();
		log_flush();
		p.fd = sigpipe[0];
		p.events = POLLIN;
		if (poll(&p, 1, timeout) == -1 && errno != EINTR)
			fatal("poll: %s", strerror(errno));
		now = clock_ms();
		while (read(sigpipe[0], b, sizeof(b)) > 0)
			;
		if (got_chld) {
			got_chld = 0;
			workers_reap();
		}
		if (got_stats) {
			got_stats = 0;
			log_warnx("stats: master of %d workers, %llu restarted",
			    nworkers, (unsigned long long)respawns);
			workers_signal(SIGUSR1);
		}
		if (got_hup) {
			got_hup = 0;
			log_warnx("reload: passed to %d workers", nworkers);
			workers_signal(SIGHUP);
		}
		if (got_term) {
			n = got_term;
			got_term = 0;
			if (stopping != 2) {
				stopping = 2;
				log_warnx("fast shutdown: passed to the workers");
				workers_signal(SIGTERM);
				n--;
			}
			if (n > 0) {
				log_warnx("second signal: the workers close "
				    "their connections now");
				workers_signal(SIGUSR2);
			}
		}
		if (got_quit) {
			got_quit = 0;
			if (!stopping) {
				stopping = 1;
				log_warnx("graceful shutdown: passed to the "
				    "workers");
				workers_signal(SIGQUIT);
			}
		}
		if (stopping && lfd != -1) {
			close(lfd);	/* refused once the workers close theirs */
			lfd = -1;
		}
	}
}

/* In a worker: the master is gone, so nobody will pass a signal on. */
static void
master_gone(void)
{
	close(masterpipe[0]);
	ev_forget(EV_MASTER);
	log_warnx("master process gone");
	if (stopping != 2)
		stop_begin(2);
}

/*
 * The event loop of a process that serves connections (alone, or one
 * worker); it returns only through quit().
 */
static void
serve(void)
{
	int	 i, id, n, timeout;

	for (;;) {
		listen_events();
		stop_check();
		if (title_dirty)
			title_update();
		timeout = -1;
		if (next_timer != TIME_NEVER)
			timeout = next_timer > now ?
			    (int)(next_timer - now > INT_MAX ? INT_MAX :
			    next_timer - now) : 0;
		if (accept_resume != 0 && lfd != -1 && (timeout == -1 ||
		    accept_resume - now < (uint64_t)timeout))
			timeout = accept_resume > now ?
			    (int)(accept_resume - now) : 0;
		if (stopping && (timeout == -1 || timeout > 1000))
			timeout = 1000;
		log_flush();
		n = ev_wait(timeout);
		now = clock_ms();
		if (n == -1) {
			if (errno == EINTR)
				continue;
			fatal("%s: %s", ev_name, strerror(errno));
		}
		if (ev_take(EV_SIGNAL))
			signals_run();
		if (ev_take(EV_MASTER))
			master_gone();
		/* Each slot once, for its two ids' events together. */
		for (i = 0; i < n; i++)
			if ((id = ev_ready[i]) >= EV_CLIENT(0))
				slot_run(EV_SLOT(id));
		/* Accept last: a new slot must not see stale events. */
		if (ev_take(EV_LISTEN))
			accept_batch();
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
		{ "quiet",	no_argument,		NULL,	'q' },
		{ "verbose",	no_argument,		NULL,	'v' },
		{ "version",	no_argument,		NULL,	'V' },
		{ "daemon",	no_argument,		NULL,	'd' },
		{ "pidfile",	required_argument,	NULL,	'P' },
		{ "chroot",	required_argument,	NULL,	't' },
		{ "user",	required_argument,	NULL,	'u' },
		{ "workers",	required_argument,	NULL,	'w' },
		{ "help",	no_argument,		NULL,	'H' },
		{ NULL,		0,			NULL,	0 }
	};
	const char	*host = "0.0.0.0", *port = "5432";
	const char	*user = NULL, *root = NULL;
	struct passwd	*pw = NULL;
	int		 detach = 0, ready = -1;
	char		 e[512], *end;
	long		 l;
	int		 ch;

	while ((ch = getopt_long(argc, argv, "c:dh:P:p:qt:u:vVw:", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'c':
			conf_path = optarg;
			break;
		case 'h':
			host = optarg;
			break;
		case 'p':
			port = optarg;
			break;
		case 'd':
			detach = 1;
			break;
		case 'P':
			pidfile = optarg;
			break;
		case 't':
			root = optarg;
			break;
		case 'u':
			user = optarg;
			break;
		case 'w':
			errno = 0;
			l = strtol(optarg, &end, 10);
			if (errno != 0 || end == optarg || *end != '\0' ||
			    l < 0 || l > PM_MAXWORKERS)
				usage(1);
			nworkers = (int)l;
			break;
		case 'q':
			verbosity = 0;
			break;
		case 'v':
			verbosity = 2;
			break;
		case 'V':
			printf("proxymachine %s (router %s; %s%s)\n",
			    PM_VERSION, router_name, ev_name,
#ifdef HAVE_SPLICE
			    ", splice"
#else
			    ""
#endif
			    );
			return 0;
		case 'H':
			usage(0);
			break;
		default:
			usage(1);
		}
	}
	if (optind != argc)
		usage(1);
	if (nworkers == 0) {		/* one per CPU */
#ifdef _SC_NPROCESSORS_ONLN
		l = sysconf(_SC_NPROCESSORS_ONLN);
		nworkers = l < 1 ? 1 : l > PM_MAXWORKERS ? PM_MAXWORKERS :
		    (int)l;
#else
		nworkers = 1;
#endif
	}
	if (*host == '\0' || *port == '\0')
		usage(1);
	if (user != NULL && (pw = getpwnam(user)) == NULL)
		errx(1, "no such user: %s", user);
	if (pw != NULL && (pw = pwcopy(pw)) == NULL)
		err(1, "malloc");
	if (root != NULL && access(root, X_OK) == -1)
		err(1, "chroot %s", root);
	/* Detached, we leave the working directory: keep the table found. */
	if (detach && conf_path != NULL && conf_path[0] != '/') {
		char	*abs;

		if ((abs = realpath(conf_path, NULL)) == NULL)
			err(1, "%s", conf_path);
		conf_path = abs;
	}
	/* The title overwrites argv: keep what we need elsewhere. */
	if ((bind_host = strdup(host)) == NULL ||
	    (bind_port = strdup(port)) == NULL ||
	    (conf_path != NULL && (conf_path = strdup(conf_path)) == NULL) ||
	    (pidfile != NULL && (pidfile = strdup(pidfile)) == NULL) ||
	    (root != NULL && (root = strdup(root)) == NULL))
		err(1, "strdup");

	now = clock_ms();
	pool_init();
	listener_addr(bind_host, bind_port);
	if (router_load(conf_path, e, sizeof(e)) == -1) {
		log_flush();
		errx(1, "%s", e);
	}
	fd_limit();
	signals_init();
	listener_open();
	if (detach) {
		log_flush();
		openlog("proxymachine", LOG_PID | LOG_NDELAY, LOG_DAEMON);
		ready = daemonize();
		use_syslog = 1;
	}
	if (pidfile != NULL)
		pidfile_write();
	privdrop(pw, root);
	if (ready != -1) {
		(void)write(ready, "R", 1);
		close(ready);
	}
#ifdef __OpenBSD__
	/* Reload reads the table and resolves its names. */
	if (conf_path != NULL && unveil(conf_path, "r") == -1)
		fatal("unveil %s: %s", conf_path, strerror(errno));
	/* The master forks and signals workers; they pledge further. */
	if (unveil(NULL, NULL) == -1 || pledge(nworkers > 1 ?
	    "stdio inet rpath dns proc" : "stdio inet rpath dns", NULL) == -1)
		fatal("pledge: %s", strerror(errno));
#endif
	title_init(argc, argv);
	if (nworkers > 1) {
		log_warnx("proxymachine %s (router %s) listening on %s; %d "
		    "workers, each with %d connections of %d-byte buffers",
		    PM_VERSION, router_name, laddr, nworkers, maxconn,
		    PM_BUFSIZE);
		master();		/* returns in each new worker */
	} else
		log_warnx("proxymachine %s (router %s) listening on %s; %d "
		    "connections of %d-byte buffers", PM_VERSION, router_name,
		    laddr, maxconn, PM_BUFSIZE);
	serve();
	return 0;
}
#endif /* PM_NO_MAIN */

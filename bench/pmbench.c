/*
 * pmbench: the load generator and the backend of the proxymachine
 * benchmark.
 *
 * One program, one subcommand per role.  `pmbench backend' serves every
 * workload on one loopback port from a poll() loop; the client
 * subcommands (up, down, conn, tls, rr, idle) run one workload against a
 * port, which is the backend itself (the physical limit) or a proxy in
 * front of it, and print one line of key=value results.  Every client
 * connection starts with a short request line, so that a layer 7 proxy
 * has bytes to inspect before it picks the backend:
 *
 *	UP\n		the client sends bytes, then shuts down its write
 *			side; the backend counts them, checks them against
 *			the pattern, and answers "<count> ok\n" (or "bad").
 *	DOWN <n>\n	the backend sends n pattern bytes, then shuts down
 *			its write side; the client counts and checks them.
 *	CONN\n, RR\n	padded to 64 bytes; the backend echoes every byte.
 *	a TLS ClientHello, of the tls workload: echoed, as CONN.
 *	IDLE\n		echoed; the connection then stays open and silent.
 *
 * The pattern byte at stream offset i is i % 251, so a byte lost,
 * doubled or moved shows up as a mismatch and not only in the count.
 * Upload results thus also prove that the proxy kept the half-close: the
 * count comes back after the client shut down its write side.
 *
 * Every loop is bounded: the clients by a time limit (-T, and -t for the
 * timed workloads) and by byte or connection counts, the backend by its
 * lifetime (-t).  With -P pid the clients also report that process's CPU
 * time over the measured interval (from /proc) and, for idle, its
 * resident memory.  With -S bport the target is a SOCKS5 proxy: each
 * client connection first asks it, as a client does (method "no
 * authentication", then a CONNECT, each answer awaited), for the backend
 * at 127.0.0.1:bport, then runs the workload through it.  Loopback only.
 *
 * Copyright (c) 2026 The proxymachine authors.  MIT licence: see LICENSE.
 */

#include <sys/types.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <dirent.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Bytes moved by one read or write on the bulk paths. */
#ifndef PMB_IOSIZE
#define PMB_IOSIZE	(256 * 1024)
#endif
/* Period of the data pattern: a prime, so it never lines up with a size. */
#define PMB_PATLEN	251
/* Size of the conn and rr requests and replies. */
#define PMB_MSGLEN	64
/* The longest request line the backend accepts. */
#define PMB_LINEMAX	64
/* The longest request of a conn client (the tls workload's hello). */
#define PMB_REQMAX	640
/* Bytes one backend connection may hold while it echoes. */
#define PMB_ECHOLEN	2048
/* Reads or writes on one socket per wake-up, on the bulk paths. */
#define PMB_BURST	8
/* Most connections accepted by the backend per wake-up. */
#define PMB_ACCEPTS	64
/* The longest a SOCKS5 handshake (-S) may take, in ms. */
#define PMB_SOCKS_MS	10000
/* Connects in flight while the idle workload opens its connections. */
#define PMB_INFLIGHT	128
/* The idle workload gives up when no connection completed for this long. */
#define PMB_STALL_US	3000000
/* How often the backend looks at its parked (idle) connections. */
#define PMB_PARK_MS	250
/* Most slots of the conn and rr workloads. */
#define PMB_MAXCONC	4096
/* Latency histogram: 1 us buckets below HIST_US us, then 1 ms buckets. */
#define HIST_US		100000
#define HIST_MS		60000

struct hist {
	uint64_t	 n;
	uint32_t	 us[HIST_US];
	uint32_t	 ms[HIST_MS];
};

/* The options of every subcommand; each uses the ones it needs. */
struct opts {
	int		 port;
	int		 streams;	/* -s: bulk streams */
	int		 conc;		/* -c: conn and rr concurrency */
	long		 count;		/* -n: idle connections */
	uint64_t	 bytes;		/* -b: bulk bytes, all streams */
	double		 secs;		/* -t: timed workloads, backend life */
	double		 limit;		/* -T: hard limit of any client run */
	pid_t		 pid;		/* -P: process to measure, 0: none */
	int		 workers;	/* -w: backend processes */
};

/* What /proc says about a process. */
struct pstat {
	uint64_t	 cpu_ns;	/* user + system, threads + children */
	uint64_t	 runs;		/* times its threads got a CPU */
	long		 rss_kib;	/* VmRSS */
	long		 anon_kib;	/* RssAnon */
};

enum bmode { B_FREE, B_HEAD, B_UP, B_REPLY, B_DOWN, B_DRAIN, B_ECHO };

/* One backend connection, indexed by its descriptor. */
struct bconn {
	enum bmode	 mode;
	int		 idle;		/* park once the echo is out */
	int		 once;		/* close once one message is out */
	size_t		 msglen;	/* its length */
	int		 bad;		/* UP: a byte differed */
	uint64_t	 n;		/* UP: bytes read; DOWN: bytes sent */
	uint64_t	 want;		/* DOWN: bytes to send */
	size_t		 len, off;	/* bytes held in out[], first unsent */
	unsigned char	 out[PMB_ECHOLEN];
};

enum cstate { S_IDLE, S_CONNECT, S_SEND, S_RECV, S_DATA, S_REPLY,
    S_DONE };

/* One client connection. */
struct cconn {
	enum cstate	 state;
	int		 fd;
	int		 warm;		/* rr: first exchange done */
	uint64_t	 t0;		/* start of the request, us */
	uint64_t	 n;		/* bulk: payload bytes moved */
	uint64_t	 want;		/* bulk: payload bytes to move */
	size_t		 mlen, moff;	/* request bytes, bytes sent */
	size_t		 roff;		/* reply bytes received */
	char		 msg[PMB_REQMAX];
	char		 rep[PMB_REQMAX];
};

static unsigned char	 pat[PMB_IOSIZE + PMB_PATLEN];
static unsigned char	 iobuf[PMB_IOSIZE];
static struct hist	 lat;

static struct bconn	*bk;		/* backend: by descriptor */
static struct pollfd	*bpfd;		/* [0] listener, then connections */
static struct pollfd	*ppfd;		/* parked connections */
static nfds_t		 bn, pn;
static int		 bmaxfd;

static struct cconn	*cc;
static struct pollfd	*cpfd;
static int		*cidx;

static volatile sig_atomic_t	 gotsig;
static int		 socksport;	/* -S: the backend behind SOCKS5 */

static void
usage(void)
{
	fprintf(stderr,
	    "usage: pmbench backend -p port [-t secs] [-w workers]\n"
	    "       pmbench up|down -p port [-b bytes] [-s streams] "
	    "[-P pid] [-T secs]\n"
	    "       pmbench conn|tls|rr -p port [-c conns] [-t secs] "
	    "[-P pid] [-T secs]\n"
	    "       pmbench idle -p port [-n conns] [-t secs] "
	    "[-P pid] [-T secs]\n"
	    "       (up, down, conn, rr and idle take -S bport: through a "
	    "SOCKS5 proxy)\n"
	    "       pmbench stat -P pid\n"
	    "       pmbench wait -p port [-t secs]\n"
	    "       pmbench port\n");
	exit(2);
}

/* Returns the monotonic clock in microseconds. */
static uint64_t
now_us(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void
msleep(long ms)
{
	struct timespec	ts;

	ts.tv_sec = ms / 1000;
	ts.tv_nsec = ms % 1000 * 1000000;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		continue;
}

static void
onsig(int sig)
{
	gotsig = sig;
}

/* Raises the descriptor limit to the hard limit; returns the new limit. */
static int
nofile_raise(void)
{
	struct rlimit	rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		err(2, "getrlimit");
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			warn("setrlimit");
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 1048576)
		return 1048576;
	return (int)rl.rlim_cur;
}

/* Makes fd non-blocking and without Nagle; returns 0 or -1. */
static int
sock_setup(int fd)
{
	int	one = 1, fl;

	if ((fl = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1)
		return -1;
	/* Not on every socket type: a failure here is harmless. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return 0;
}

static void
loopback(struct sockaddr_in *sin, int port)
{
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)port);
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
}

/*
 * Starts a non-blocking connect to 127.0.0.1:port.  Returns the
 * descriptor, or -1 with errno set; *done is 1 when already connected.
 */
static int
conn_start(int port, int *done)
{
	struct sockaddr_in	sin;
	int			fd, e;

	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		return -1;
	if (sock_setup(fd) == -1)
		goto fail;
	loopback(&sin, port);
	*done = 1;
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1) {
		if (errno != EINPROGRESS)
			goto fail;
		*done = 0;
	}
	return fd;
fail:
	e = errno;
	close(fd);
	errno = e;
	return -1;
}

/* Returns the pending error of a connecting socket: 0 when connected. */
static int
conn_error(int fd)
{
	int		e = 0;
	socklen_t	len = sizeof(e);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) == -1)
		return errno;
	return e;
}

/* Returns the listening socket on 127.0.0.1:port (0: any port). */
static int
listen_on(int port)
{
	struct sockaddr_in	sin;
	int			fd, one = 1;

	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		err(2, "socket");
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1)
		err(2, "SO_REUSEADDR");
	loopback(&sin, port);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1)
		err(2, "bind 127.0.0.1:%d", port);
	if (listen(fd, 4096) == -1)
		err(2, "listen");
	return fd;
}

static void
hist_add(struct hist *h, uint64_t us)
{
	h->n++;
	if (us < HIST_US)
		h->us[us]++;
	else if (us / 1000 < HIST_MS)
		h->ms[us / 1000]++;
	else
		h->ms[HIST_MS - 1]++;
}

/* Returns the p-quantile (0 < p < 1) of h in microseconds, 0 if empty. */
static uint64_t
hist_pct(const struct hist *h, double p)
{
	uint64_t	rank, seen = 0;
	size_t		i;

	if (h->n == 0)
		return 0;
	rank = (uint64_t)(p * (double)h->n);
	if (rank >= h->n)
		rank = h->n - 1;
	for (i = 0; i < HIST_US; i++)
		if ((seen += h->us[i]) > rank)
			return i;
	for (i = HIST_US / 1000; i < HIST_MS; i++)
		if ((seen += h->ms[i]) > rank)
			return (uint64_t)i * 1000;
	return (uint64_t)HIST_MS * 1000;
}

/*
 * Returns the user and system time in the stat file at path, fields 14
 * and 15 (fields 16 and 17 with kids: its reaped children's), in clock
 * ticks; 0 when it cannot be read.
 */
static unsigned long long
proc_ticks(const char *path, int kids)
{
	char			 line[512], *p;
	FILE			*f;
	unsigned long long	 u, s, t = 0;
	int			 i;

	if ((f = fopen(path, "r")) == NULL)
		return 0;
	/* Counted after the ")" of the name, which may hold blanks. */
	if (fgets(line, sizeof(line), f) != NULL &&
	    (p = strrchr(line, ')')) != NULL) {
		for (i = 0; i < (kids ? 14 : 12) && p != NULL; i++)
			p = strchr(p + 1, ' ');
		if (p != NULL && sscanf(p, "%llu %llu", &u, &s) == 2)
			t = u + s;
	}
	fclose(f);
	return t;
}

/*
 * Returns the run time of pid's threads in nanoseconds, from schedstat,
 * and adds to *runs the times they were put on a CPU (their wake-ups).
 * Threads that have exited (microsocks runs one per connection) are no
 * longer listed: their time is what the process's stat holds beyond
 * that of its live threads, in clock ticks.
 */
static uint64_t
proc_sched(long pid, uint64_t *runs)
{
	char		 path[64];
	DIR		*d;
	struct dirent	*de;
	FILE		*f;
	unsigned long long ns, waitns, n, live = 0, all;
	uint64_t	 sum = 0;
	int		 r;

	snprintf(path, sizeof(path), "/proc/%ld/task", pid);
	if ((d = opendir(path)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		r = snprintf(path, sizeof(path), "/proc/%ld/task/%s/schedstat",
		    pid, de->d_name);
		if (r < 0 || (size_t)r >= sizeof(path))
			continue;
		if ((f = fopen(path, "r")) == NULL)
			continue;
		if (fscanf(f, "%llu %llu %llu", &ns, &waitns, &n) == 3) {
			sum += ns;
			*runs += n;
		}
		fclose(f);
		r = snprintf(path, sizeof(path), "/proc/%ld/task/%s/stat",
		    pid, de->d_name);
		if (r > 0 && (size_t)r < sizeof(path))
			live += proc_ticks(path, 0);
	}
	closedir(d);
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if ((all = proc_ticks(path, 0)) > live)
		sum += (all - live) * (1000000000ULL /
		    (unsigned long long)sysconf(_SC_CLK_TCK));
	return sum;
}

/*
 * Reads the CPU time and memory of pid from /proc into ps.  The CPU time
 * is that of its threads and of its children, live (socat forks one per
 * connection) or reaped.  Returns 0, or -1 when pid is not readable.
 */
static int
proc_stat(pid_t pid, struct pstat *ps)
{
	char		 path[64], line[512];
	FILE		*f;
	long		 kid;

	memset(ps, 0, sizeof(*ps));
	snprintf(path, sizeof(path), "/proc/%ld/task", (long)pid);
	if (access(path, R_OK) == -1)
		return -1;
	ps->cpu_ns = proc_sched((long)pid, &ps->runs);
	snprintf(path, sizeof(path), "/proc/%ld/task/%ld/children",
	    (long)pid, (long)pid);
	if ((f = fopen(path, "r")) != NULL) {
		while (fscanf(f, "%ld", &kid) == 1)
			ps->cpu_ns += proc_sched(kid, &ps->runs);
		fclose(f);
	}

	/* Its reaped children, fields 16 and 17 of stat. */
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	ps->cpu_ns += proc_ticks(path, 1) * (1000000000ULL /
	    (unsigned long long)sysconf(_SC_CLK_TCK));

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "VmRSS:", 6) == 0)
			ps->rss_kib = strtol(line + 6, NULL, 10);
		else if (strncmp(line, "RssAnon:", 8) == 0)
			ps->anon_kib = strtol(line + 8, NULL, 10);
	}
	fclose(f);
	return 0;
}

/*
 * Backend.
 */

/* Adds fd to the poll set with events. */
static void
bk_add(struct pollfd *set, nfds_t *n, int fd, short events)
{
	set[*n].fd = fd;
	set[*n].events = events;
	set[*n].revents = 0;
	(*n)++;
}

static void
bk_close(int fd)
{
	bk[fd].mode = B_FREE;
	close(fd);
}

/*
 * Sends what out[] holds.  Returns 1 when it is all out, 0 when the
 * socket is full, -1 on error.
 */
static int
bk_flush(int fd)
{
	struct bconn	*b = &bk[fd];
	ssize_t		 w;

	while (b->off < b->len) {
		w = write(fd, b->out + b->off, b->len - b->off);
		if (w == -1)
			return errno == EAGAIN || errno == EINTR ? 0 : -1;
		b->off += (size_t)w;
	}
	b->off = b->len = 0;
	return 1;
}

/*
 * Sends the echo held in out[].  Returns 0, or -1 to close: on error, and
 * when a CONN connection's message is all out (the backend closes first,
 * so that the clients and the proxies, which connect, keep no TIME_WAIT).
 */
static int
bk_echoed(int fd)
{
	struct bconn	*b = &bk[fd];
	int		 r;

	if ((r = bk_flush(fd)) == -1)
		return -1;
	if (r == 1 && b->once && b->n >= b->msglen)
		return -1;
	return 0;
}

/* Counts and checks len upload bytes at p. */
static void
bk_upcount(struct bconn *b, const unsigned char *p, size_t len)
{
	if (memcmp(p, pat + b->n % PMB_PATLEN, len) != 0)
		b->bad = 1;
	b->n += len;
}

/*
 * Reads the request line of a new connection and picks its mode.
 * Returns 0 to go on, -1 to close.
 */
static int
bk_head(int fd)
{
	struct bconn	*b = &bk[fd];
	unsigned char	*nl;
	ssize_t		 r;
	size_t		 hl;
	char		*end;

	r = read(fd, b->out + b->len, PMB_ECHOLEN - b->len);
	if (r == -1)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	if (r == 0)
		return -1;
	b->len += (size_t)r;
	/* A TLS record: a ClientHello of the tls workload, echoed once. */
	if (b->out[0] == 0x16) {
		if (b->len < 5)
			return 0;
		b->mode = B_ECHO;
		b->idle = 0;
		b->once = 1;
		b->msglen = 5 + ((size_t)b->out[3] << 8 | b->out[4]);
		b->n = b->len;
		b->off = 0;
		return bk_echoed(fd);
	}
	if ((nl = memchr(b->out, '\n', b->len)) == NULL)
		return b->len < PMB_LINEMAX ? 0 : -1;
	hl = (size_t)(nl - b->out) + 1;
	if (hl == 3 && memcmp(b->out, "UP", 2) == 0) {
		b->mode = B_UP;
		b->n = 0;
		b->bad = 0;
		bk_upcount(b, b->out + hl, b->len - hl);
		b->len = 0;
	} else if (hl > 5 && memcmp(b->out, "DOWN ", 5) == 0) {
		*nl = '\0';
		errno = 0;
		b->want = strtoull((char *)b->out + 5, &end, 10);
		if (errno != 0 || *end != '\0')
			return -1;
		b->mode = B_DOWN;
		b->n = 0;
		b->len = 0;
	} else if ((hl >= 3 && memcmp(b->out, "RR\n", 3) == 0) ||
	    (hl >= 5 && memcmp(b->out, "CONN\n", 5) == 0) ||
	    (hl >= 5 && memcmp(b->out, "IDLE\n", 5) == 0)) {
		b->mode = B_ECHO;
		b->idle = b->out[0] == 'I';
		b->once = b->out[0] == 'C';
		b->msglen = PMB_MSGLEN;
		b->n = b->len;
		b->off = 0;
		return bk_echoed(fd);
	} else
		return -1;
	return 0;
}

/* Moves one connection one step on revents.  Returns 0, or -1 to close. */
static int
bk_step(int fd, short revents)
{
	struct bconn	*b = &bk[fd];
	ssize_t		 r, w;
	size_t		 len;
	int		 i;
	char		 reply[64];

	switch (b->mode) {
	case B_HEAD:
		return bk_head(fd);
	case B_UP:
		for (i = 0; i < PMB_BURST; i++) {
			if ((r = read(fd, iobuf, sizeof(iobuf))) == -1)
				return errno == EAGAIN || errno == EINTR ?
				    0 : -1;
			if (r == 0)
				break;
			bk_upcount(b, iobuf, (size_t)r);
		}
		if (r != 0)
			return 0;
		snprintf(reply, sizeof(reply), "%" PRIu64 " %s\n", b->n,
		    b->bad ? "bad" : "ok");
		b->len = strlen(reply);
		b->off = 0;
		memcpy(b->out, reply, b->len);
		b->mode = B_REPLY;
		/* FALLTHROUGH */
	case B_REPLY:
		if (bk_flush(fd) != 0)
			return -1;	/* sent, or failed: close */
		return 0;
	case B_DOWN:
		for (i = 0; i < PMB_BURST && b->n < b->want; i++) {
			len = b->want - b->n < PMB_IOSIZE ?
			    (size_t)(b->want - b->n) : PMB_IOSIZE;
			w = write(fd, pat + b->n % PMB_PATLEN, len);
			if (w == -1)
				return errno == EAGAIN || errno == EINTR ?
				    0 : -1;
			b->n += (uint64_t)w;
		}
		if (b->n < b->want)
			return 0;
		if (shutdown(fd, SHUT_WR) == -1)
			return -1;
		b->mode = B_DRAIN;
		return 0;
	case B_DRAIN:
		/* The client's bytes after the request are ignored. */
		r = read(fd, iobuf, sizeof(iobuf));
		if (r == -1)
			return errno == EAGAIN || errno == EINTR ? 0 : -1;
		return r == 0 ? -1 : 0;
	case B_ECHO:
		if (b->len > 0)
			return bk_echoed(fd);
		if (!(revents & (POLLIN | POLLHUP | POLLERR)))
			return 0;
		r = read(fd, b->out, PMB_ECHOLEN);
		if (r == -1)
			return errno == EAGAIN || errno == EINTR ? 0 : -1;
		if (r == 0)
			return -1;
		b->len = (size_t)r;
		b->off = 0;
		b->n += (uint64_t)r;
		return bk_echoed(fd);
	case B_FREE:
		break;
	}
	return -1;
}

/* Returns the poll events a backend connection waits for. */
static short
bk_events(int fd)
{
	struct bconn	*b = &bk[fd];

	switch (b->mode) {
	case B_REPLY:
	case B_DOWN:
		return POLLOUT;
	case B_ECHO:
		return b->len > 0 ? POLLOUT : POLLIN;
	default:
		return POLLIN;
	}
}

/*
 * Looks at the parked connections (idle ones whose echo is out) without
 * waiting: closes those the client closed, echoes what others sent.
 */
static void
bk_sweep(void)
{
	nfds_t	i;
	int	fd;

	if (pn == 0 || poll(ppfd, pn, 0) <= 0)
		return;
	for (i = pn; i-- > 0;) {
		if (ppfd[i].revents == 0)
			continue;
		fd = ppfd[i].fd;
		if (bk_step(fd, ppfd[i].revents) == -1)
			bk_close(fd);
		else if (bk[fd].len > 0)
			bk_add(bpfd, &bn, fd, POLLOUT);	/* echo pending */
		else
			continue;
		ppfd[i] = ppfd[--pn];
	}
}

static void
bk_accept(int lfd)
{
	int	fd, i;

	for (i = 0; i < PMB_ACCEPTS; i++) {
		if ((fd = accept(lfd, NULL, NULL)) == -1) {
			if (errno != EAGAIN && errno != EINTR &&
			    errno != ECONNABORTED)
				warn("accept");
			return;
		}
		if (fd >= bmaxfd || sock_setup(fd) == -1) {
			close(fd);
			continue;
		}
		memset(&bk[fd], 0, offsetof(struct bconn, out));
		bk[fd].mode = B_HEAD;
		bk_add(bpfd, &bn, fd, POLLIN);
	}
}

/* Serves lfd until the deadline or a signal. */
static void
bk_loop(int lfd, uint64_t end)
{
	nfds_t		i;
	uint64_t	now, sweep = 0;
	int		fd, n;

	bn = 0;
	bk_add(bpfd, &bn, lfd, POLLIN);
	while (!gotsig && (now = now_us()) < end) {
		if (now >= sweep) {
			bk_sweep();
			sweep = now + PMB_PARK_MS * 1000;
		}
		for (i = 1; i < bn; i++)
			bpfd[i].events = bk_events(bpfd[i].fd);
		n = poll(bpfd, bn, PMB_PARK_MS);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			err(2, "poll");
		}
		if (n == 0)
			continue;
		/* Backwards, so that a removal moves a visited entry. */
		for (i = bn; i-- > 1;) {
			if (bpfd[i].revents == 0)
				continue;
			fd = bpfd[i].fd;
			if (bk_step(fd, bpfd[i].revents) == -1)
				bk_close(fd);
			else if (bk[fd].mode == B_ECHO && bk[fd].idle &&
			    bk[fd].len == 0 && pn < (nfds_t)bmaxfd)
				bk_add(ppfd, &pn, fd, POLLIN);
			else
				continue;
			bpfd[i] = bpfd[--bn];
		}
		if (bpfd[0].revents)
			bk_accept(lfd);
	}
}

static int
cmd_backend(const struct opts *o)
{
	struct sigaction	 sa;
	pid_t			*kids;
	uint64_t		 end;
	int			 lfd, i, j, st;

	if (o->port <= 0)
		usage();
	bmaxfd = nofile_raise();
	if ((bk = calloc((size_t)bmaxfd, sizeof(*bk))) == NULL ||
	    (bpfd = calloc((size_t)bmaxfd + 1, sizeof(*bpfd))) == NULL ||
	    (ppfd = calloc((size_t)bmaxfd + 1, sizeof(*ppfd))) == NULL ||
	    (kids = calloc((size_t)o->workers, sizeof(*kids))) == NULL)
		err(2, "calloc");
	lfd = listen_on(o->port);
	if (sock_setup(lfd) == -1)
		err(2, "fcntl");
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = onsig;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	end = now_us() + (uint64_t)(o->secs * 1e6);

	if (o->workers <= 1)
		bk_loop(lfd, end);
	else {
		for (i = 0; i < o->workers; i++) {
			if ((kids[i] = fork()) == -1)
				err(2, "fork");
			if (kids[i] == 0) {
				bk_loop(lfd, end);
				_exit(0);
			}
		}
		/*
		 * The children end by the same deadline: wait for them,
		 * and pass a TERM or INT on to those still running.
		 */
		for (i = 0; i < o->workers; i++) {
			while (waitpid(kids[i], &st, 0) == -1 &&
			    errno == EINTR) {
				if (!gotsig)
					continue;
				for (j = i; j < o->workers; j++)
					kill(kids[j], SIGTERM);
			}
		}
	}
	close(lfd);
	free(kids);
	free(ppfd);
	free(bpfd);
	free(bk);
	return 0;
}

/*
 * Client side.
 */

/* Prints the failure of a run and exits 1. */
static void
fail(const char *mode, const char *fmt, ...)
{
	va_list	ap;
	char	msg[256];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	printf("mode=%s ok=0 error=\"%s\"\n", mode, msg);
	exit(1);
}

static void
cl_alloc(int n)
{
	int	i;

	if ((cc = calloc((size_t)n, sizeof(*cc))) == NULL ||
	    (cpfd = calloc((size_t)n, sizeof(*cpfd))) == NULL ||
	    (cidx = calloc((size_t)n, sizeof(*cidx))) == NULL)
		err(2, "calloc");
	for (i = 0; i < n; i++)
		cc[i].fd = -1;
}

/*
 * Waits until fd, not blocking, is ready for events, until deadline dl
 * (us).  Returns 0, or -1 with errno set (ETIMEDOUT).
 */
static int
socks_wait(int fd, short events, uint64_t dl)
{
	struct pollfd	 p;
	uint64_t	 t;
	int		 n;

	for (;;) {
		if ((t = now_us()) >= dl) {
			errno = ETIMEDOUT;
			return -1;
		}
		p.fd = fd;
		p.events = events;
		p.revents = 0;
		n = poll(&p, 1, (int)((dl - t) / 1000) + 1);
		if (n > 0)
			return 0;
		if (n == -1 && errno != EINTR)
			return -1;
	}
}

/*
 * Sends the n bytes at out on fd, then reads the n bytes of the answer
 * and checks that it begins with want (5 0: SOCKS5's "no authentication"
 * and "succeeded").  Returns 0, or -1 with errno set (EPROTO: another
 * answer).
 */
static int
socks_step(int fd, const unsigned char *out, size_t n, size_t ans,
    uint64_t dl)
{
	unsigned char	 in[16];
	size_t		 got = 0;
	ssize_t		 r;

	if (write(fd, out, n) != (ssize_t)n)
		return -1;
	while (got < ans) {
		if (socks_wait(fd, POLLIN, dl) == -1)
			return -1;
		r = read(fd, in + got, ans - got);
		if (r == 0 || (r == -1 && errno != EAGAIN && errno != EINTR)) {
			if (r == 0)
				errno = ECONNRESET;
			return -1;
		}
		if (r > 0)
			got += (size_t)r;
	}
	if (in[0] != 5 || in[1] != 0) {
		errno = EPROTO;
		return -1;
	}
	return 0;
}

/*
 * Asks the SOCKS5 proxy on fd (connected or connecting) for the backend
 * on 127.0.0.1:socksport, as a client does: each answer is awaited.
 * Returns 0, or -1 with errno set.
 */
static int
socks_hello(int fd, int connected)
{
	static const unsigned char	 hello[3] = { 5, 1, 0 };
	unsigned char			 req[10] = { 5, 1, 0, 1, 127, 0, 0, 1 };
	uint64_t			 dl;

	dl = now_us() + PMB_SOCKS_MS * 1000ULL;
	if (!connected && (socks_wait(fd, POLLOUT, dl) == -1 ||
	    (errno = conn_error(fd)) != 0))
		return -1;
	req[8] = (unsigned char)(socksport >> 8);
	req[9] = (unsigned char)socksport;
	if (socks_step(fd, hello, sizeof(hello), 2, dl) == -1 ||
	    socks_step(fd, req, sizeof(req), 10, dl) == -1)
		return -1;
	return 0;
}

static void
cl_close(struct cconn *c)
{
	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
	c->state = S_IDLE;
}

/*
 * Starts connection c: connect, and queue msg as its first bytes.
 * Returns 0, or -1 with errno set.
 */
static int
cl_open(struct cconn *c, int port, const char *msg, size_t len)
{
	int	done;

	c->t0 = now_us();
	if ((c->fd = conn_start(port, &done)) == -1) {
		c->state = S_IDLE;
		return -1;
	}
	if (socksport > 0) {
		if (socks_hello(c->fd, done) == -1) {
			cl_close(c);
			return -1;
		}
		done = 1;
	}
	memcpy(c->msg, msg, len);
	c->mlen = len;
	c->moff = c->roff = 0;
	c->n = 0;
	c->state = done ? S_SEND : S_CONNECT;
	return 0;
}

/* Returns the poll events connection c waits for (0: none). */
static short
cl_events(const struct cconn *c, int up)
{
	switch (c->state) {
	case S_CONNECT:
	case S_SEND:
		return POLLOUT;
	case S_DATA:
		return up ? POLLOUT : POLLIN;
	case S_RECV:
	case S_REPLY:
		return POLLIN;
	default:
		return 0;
	}
}

/*
 * Sends the rest of c's request.  Returns 1 when it is out, 0 when the
 * socket is full, -1 with errno on error.
 */
static int
cl_send(struct cconn *c)
{
	ssize_t	w;

	if (c->state == S_CONNECT) {
		if ((errno = conn_error(c->fd)) != 0)
			return -1;
		c->state = S_SEND;
	}
	while (c->moff < c->mlen) {
		w = write(c->fd, c->msg + c->moff, c->mlen - c->moff);
		if (w == -1)
			return errno == EAGAIN || errno == EINTR ? 0 : -1;
		c->moff += (size_t)w;
	}
	return 1;
}

/*
 * Reads c's reply, which is the echo of its request.  Returns 1 when it
 * is complete and right, 0 when more is due, -1 with a reason in *why.
 */
static int
cl_echo(struct cconn *c, const char **why)
{
	ssize_t	r;

	r = read(c->fd, c->rep + c->roff, c->mlen - c->roff);
	if (r == -1) {
		if (errno == EAGAIN || errno == EINTR)
			return 0;
		*why = strerror(errno);
		return -1;
	}
	if (r == 0) {
		*why = "closed before the reply";
		return -1;
	}
	c->roff += (size_t)r;
	if (c->roff < c->mlen)
		return 0;
	if (memcmp(c->rep, c->msg, c->mlen) != 0) {
		*why = "reply differs from request";
		return -1;
	}
	return 1;
}

/*
 * Reads the end of stream that follows a reply.  Returns 1 when it came,
 * 0 when it is still due, -1 with a reason in *why.
 */
static int
cl_eof(struct cconn *c, const char **why)
{
	char	b[16];
	ssize_t	r;

	if ((r = read(c->fd, b, sizeof(b))) == 0)
		return 1;
	if (r == -1 && (errno == EAGAIN || errno == EINTR))
		return 0;
	*why = r == -1 ? strerror(errno) : "bytes after the reply";
	return -1;
}

/* Fills the poll set from the slots; returns its size. */
static nfds_t
cl_pollset(int n, int up)
{
	nfds_t	k = 0;
	short	ev;
	int	i;

	for (i = 0; i < n; i++) {
		if (cc[i].fd == -1 || (ev = cl_events(&cc[i], up)) == 0)
			continue;
		cpfd[k].fd = cc[i].fd;
		cpfd[k].events = ev;
		cpfd[k].revents = 0;
		cidx[k++] = i;
	}
	return k;
}

/* Polls the set for at most ms; exits on a poll failure. */
static int
cl_poll(nfds_t n, int ms)
{
	int	r;

	if ((r = poll(cpfd, n, ms)) == -1 && errno != EINTR)
		err(2, "poll");
	return r;
}

/* Reads the measured process into ps: all zero when there is none. */
static void
snap(const struct opts *o, struct pstat *ps)
{
	if (o->pid <= 0 || proc_stat(o->pid, ps) == -1)
		memset(ps, 0, sizeof(*ps));
}

/* Returns the CPU seconds between two reads. */
static double
cpu_s(const struct pstat *p0, const struct pstat *p1)
{
	return (double)(p1->cpu_ns - p0->cpu_ns) / 1e9;
}

/*
 * Returns the wake-ups between two reads, per n events.  A process that
 * sleeps in poll() between events wakes once per event; one that finds
 * work every time it polls (it is saturated) hardly wakes at all.
 */
static double
wakes(const struct pstat *p0, const struct pstat *p1, double n)
{
	return (double)(p1->runs - p0->runs) / n;
}

/*
 * Moves bulk payload for stream c.  Returns 1 when the stream is done, 0
 * to wait, -1 with a reason in *why.
 */
static int
bulk_step(struct cconn *c, int up, const char **why)
{
	static char	 buf[64];
	ssize_t		 r;
	size_t		 len;
	int		 i;
	char		*end;
	unsigned long long got;

	switch (c->state) {
	case S_CONNECT:
	case S_SEND:
		if ((i = cl_send(c)) <= 0) {
			*why = i == 0 ? NULL : strerror(errno);
			return i;
		}
		c->state = S_DATA;
		if (!up)
			return 0;
		/* FALLTHROUGH */
	case S_DATA:
		for (i = 0; i < PMB_BURST && c->n < c->want; i++) {
			if (up) {
				len = c->want - c->n < PMB_IOSIZE ?
				    (size_t)(c->want - c->n) : PMB_IOSIZE;
				r = write(c->fd, pat + c->n % PMB_PATLEN, len);
			} else
				r = read(c->fd, iobuf, sizeof(iobuf));
			if (r == -1) {
				if (errno == EAGAIN || errno == EINTR)
					return 0;
				*why = strerror(errno);
				return -1;
			}
			if (r == 0) {
				*why = "end of stream before the last byte";
				return -1;
			}
			if (!up && memcmp(iobuf, pat + c->n % PMB_PATLEN,
			    (size_t)r) != 0) {
				*why = "a byte differs from the pattern";
				return -1;
			}
			c->n += (uint64_t)r;
			if (c->n > c->want) {
				*why = "more bytes than asked for";
				return -1;
			}
		}
		if (c->n < c->want)
			return 0;
		if (up && shutdown(c->fd, SHUT_WR) == -1) {
			*why = strerror(errno);
			return -1;
		}
		c->state = S_REPLY;
		return 0;
	case S_REPLY:
		/*
		 * Upload: the backend's count, then its end of stream.
		 * Download: only the end of stream may follow.
		 */
		r = read(c->fd, c->rep + c->roff,
		    sizeof(c->rep) - 1 - c->roff);
		if (r == -1) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			*why = strerror(errno);
			return -1;
		}
		if (r > 0 && !up) {
			*why = "more bytes than asked for";
			return -1;
		}
		if (r > 0) {
			c->roff += (size_t)r;
			if (c->roff < sizeof(c->rep) - 1)
				return 0;
			*why = "reply too long";
			return -1;
		}
		if (!up)
			return 1;
		c->rep[c->roff] = '\0';
		got = strtoull(c->rep, &end, 10);
		if (end == c->rep || strcmp(end, " ok\n") != 0 ||
		    got != c->want) {
			snprintf(buf, sizeof(buf), "backend got %.20s",
			    c->rep);
			*why = buf;
			return -1;
		}
		return 1;
	default:
		break;
	}
	return 1;
}

/* The bulk workloads: up (client to backend) and down. */
static int
cmd_bulk(const struct opts *o, int up)
{
	struct pstat	 p0, p1;
	const char	*mode = up ? "up" : "down", *why;
	uint64_t	 t0, t1, hard, per;
	nfds_t		 k, j;
	double		 secs, gib;
	int		 i, left, r;
	char		 msg[PMB_LINEMAX];

	if (o->streams < 1 || o->streams > PMB_MAXCONC || o->bytes == 0)
		usage();
	cl_alloc(o->streams);
	per = o->bytes / (uint64_t)o->streams;
	snap(o, &p0);
	t0 = now_us();
	hard = t0 + (uint64_t)(o->limit * 1e6);
	for (i = 0; i < o->streams; i++) {
		if (up)
			snprintf(msg, sizeof(msg), "UP\n");
		else
			snprintf(msg, sizeof(msg), "DOWN %" PRIu64 "\n",
			    i == 0 ? o->bytes - per * (uint64_t)
			    (o->streams - 1) : per);
		if (cl_open(&cc[i], o->port, msg, strlen(msg)) == -1)
			fail(mode, "connect: %s", strerror(errno));
		cc[i].want = i == 0 ?
		    o->bytes - per * (uint64_t)(o->streams - 1) : per;
	}
	for (left = o->streams; left > 0;) {
		if (now_us() > hard)
			fail(mode, "time limit of %.0f s", o->limit);
		k = cl_pollset(o->streams, up);
		if (cl_poll(k, 100) <= 0)
			continue;
		for (j = 0; j < k; j++) {
			if (cpfd[j].revents == 0)
				continue;
			i = cidx[j];
			why = NULL;
			if ((r = bulk_step(&cc[i], up, &why)) == -1)
				fail(mode, "stream %d after %" PRIu64
				    " bytes: %s", i, cc[i].n, why);
			if (r == 1) {
				cl_close(&cc[i]);
				cc[i].state = S_DONE;
				left--;
			}
		}
	}
	t1 = now_us();
	snap(o, &p1);
	secs = (double)(t1 - t0) / 1e6;
	gib = (double)o->bytes / (1024.0 * 1024 * 1024);
	printf("mode=%s ok=1 streams=%d bytes=%" PRIu64 " secs=%.3f "
	    "mib_s=%.1f", mode, o->streams, o->bytes, secs,
	    (double)o->bytes / (1024.0 * 1024) / secs);
	if (o->pid > 0)
		printf(" cpu_s=%.3f cpu_s_per_gib=%.3f", cpu_s(&p0, &p1),
		    cpu_s(&p0, &p1) / gib);
	printf("\n");
	return 0;
}

/* Fills msg with a PMB_MSGLEN request that starts with line. */
static void
msg_fill(char *msg, const char *line)
{
	size_t	n = strlen(line), i;

	memcpy(msg, line, n);
	for (i = n; i < PMB_MSGLEN - 1; i++)
		msg[i] = (char)('a' + i % 26);
	msg[PMB_MSGLEN - 1] = '\n';
}

/*
 * A TLS ClientHello that curl 7.88 (OpenSSL 3.0) sent for
 * https://www.example.org/: server name www.example.org, ALPN h2 and
 * http/1.1, 517 bytes.  The tls workload sends it as its request.
 */
static const unsigned char hello[] = {
	0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, 0x34,
	0x7e, 0xb0, 0x57, 0xc2, 0x10, 0x34, 0x50, 0x50, 0x98, 0xcb, 0x15, 0x63,
	0xa1, 0x1b, 0x34, 0x81, 0xe6, 0x8c, 0x86, 0xc4, 0xf8, 0x72, 0x10, 0xc6,
	0xd4, 0x26, 0x61, 0xa1, 0x87, 0xac, 0xf8, 0x20, 0x20, 0x87, 0x34, 0x11,
	0x8f, 0x79, 0x31, 0x6b, 0x04, 0xb7, 0xea, 0x83, 0xc9, 0xc2, 0x6e, 0x08,
	0x35, 0xcb, 0x8f, 0x32, 0xa3, 0x3b, 0xca, 0x5a, 0x16, 0x2c, 0x32, 0xce,
	0x08, 0xcd, 0x6a, 0x7f, 0x00, 0x3e, 0x13, 0x02, 0x13, 0x03, 0x13, 0x01,
	0xc0, 0x2c, 0xc0, 0x30, 0x00, 0x9f, 0xcc, 0xa9, 0xcc, 0xa8, 0xcc, 0xaa,
	0xc0, 0x2b, 0xc0, 0x2f, 0x00, 0x9e, 0xc0, 0x24, 0xc0, 0x28, 0x00, 0x6b,
	0xc0, 0x23, 0xc0, 0x27, 0x00, 0x67, 0xc0, 0x0a, 0xc0, 0x14, 0x00, 0x39,
	0xc0, 0x09, 0xc0, 0x13, 0x00, 0x33, 0x00, 0x9d, 0x00, 0x9c, 0x00, 0x3d,
	0x00, 0x3c, 0x00, 0x35, 0x00, 0x2f, 0x00, 0xff, 0x01, 0x00, 0x01, 0x75,
	0x00, 0x00, 0x00, 0x14, 0x00, 0x12, 0x00, 0x00, 0x0f, 0x77, 0x77, 0x77,
	0x2e, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x2e, 0x6f, 0x72, 0x67,
	0x00, 0x0b, 0x00, 0x04, 0x03, 0x00, 0x01, 0x02, 0x00, 0x0a, 0x00, 0x16,
	0x00, 0x14, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x1e, 0x00, 0x19, 0x00, 0x18,
	0x01, 0x00, 0x01, 0x01, 0x01, 0x02, 0x01, 0x03, 0x01, 0x04, 0x00, 0x10,
	0x00, 0x0e, 0x00, 0x0c, 0x02, 0x68, 0x32, 0x08, 0x68, 0x74, 0x74, 0x70,
	0x2f, 0x31, 0x2e, 0x31, 0x00, 0x16, 0x00, 0x00, 0x00, 0x17, 0x00, 0x00,
	0x00, 0x31, 0x00, 0x00, 0x00, 0x0d, 0x00, 0x2a, 0x00, 0x28, 0x04, 0x03,
	0x05, 0x03, 0x06, 0x03, 0x08, 0x07, 0x08, 0x08, 0x08, 0x09, 0x08, 0x0a,
	0x08, 0x0b, 0x08, 0x04, 0x08, 0x05, 0x08, 0x06, 0x04, 0x01, 0x05, 0x01,
	0x06, 0x01, 0x03, 0x03, 0x03, 0x01, 0x03, 0x02, 0x04, 0x02, 0x05, 0x02,
	0x06, 0x02, 0x00, 0x2b, 0x00, 0x09, 0x08, 0x03, 0x04, 0x03, 0x03, 0x03,
	0x02, 0x03, 0x01, 0x00, 0x2d, 0x00, 0x02, 0x01, 0x01, 0x00, 0x33, 0x00,
	0x26, 0x00, 0x24, 0x00, 0x1d, 0x00, 0x20, 0x6c, 0x95, 0x1c, 0xc3, 0xae,
	0x3f, 0x9c, 0x51, 0x0e, 0xc7, 0xb9, 0xdc, 0x9d, 0x11, 0xf3, 0x24, 0xb0,
	0x15, 0x46, 0x82, 0xd3, 0x3d, 0x0f, 0x8b, 0x0e, 0x4e, 0x6b, 0x01, 0xb9,
	0xd3, 0xc0, 0x4a, 0x00, 0x15, 0x00, 0xae, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00,
};

/*
 * Short connections: connect, 64-byte request and reply, close; with tls
 * set, the request and reply are the ClientHello above.
 */
static int
cmd_conn(const struct opts *o, int tls)
{
	struct pstat	 p0, p1;
	const char	*why, *lastwhy = "";
	uint64_t	 t0, t1, now, end, hard, done = 0, errs = 0;
	nfds_t		 k, j;
	double		 secs;
	int		 i, r, active, starting = 1;
	const char	*mode = tls ? "tls" : "conn";
	size_t		 mlen = tls ? sizeof(hello) : PMB_MSGLEN;
	char		 msg[PMB_REQMAX];

	if (o->conc < 1 || o->conc > PMB_MAXCONC)
		usage();
	cl_alloc(o->conc);
	if (tls)
		memcpy(msg, hello, sizeof(hello));
	else
		msg_fill(msg, "CONN\n");
	snap(o, &p0);
	t0 = now_us();
	end = t0 + (uint64_t)(o->secs * 1e6);
	hard = t0 + (uint64_t)(o->limit * 1e6);
	for (;;) {
		now = now_us();
		if (now >= end)
			starting = 0;
		if (now >= hard)
			fail(mode, "time limit of %.0f s", o->limit);
		active = 0;
		for (i = 0; i < o->conc; i++) {
			if (cc[i].state == S_IDLE && starting &&
			    cl_open(&cc[i], o->port, msg, mlen) == -1) {
				errs++;
				lastwhy = strerror(errno);
			}
			if (cc[i].state != S_IDLE)
				active++;
		}
		if (active == 0) {
			if (!starting)
				break;
			continue;
		}
		k = cl_pollset(o->conc, 0);
		if (cl_poll(k, 100) <= 0)
			continue;
		for (j = 0; j < k; j++) {
			if (cpfd[j].revents == 0)
				continue;
			i = cidx[j];
			why = NULL;
			if (cc[i].state == S_CONNECT ||
			    cc[i].state == S_SEND) {
				if ((r = cl_send(&cc[i])) == 0)
					continue;
				if (r == -1) {
					why = strerror(errno);
					goto bad;
				}
				cc[i].state = S_RECV;
				continue;
			}
			if (cc[i].state == S_RECV) {
				if ((r = cl_echo(&cc[i], &why)) == 0)
					continue;
				if (r == -1)
					goto bad;
				cc[i].state = S_REPLY;
			}
			/* The backend closes after its reply. */
			if ((r = cl_eof(&cc[i], &why)) == 0)
				continue;
			if (r == 1) {
				hist_add(&lat, now_us() - cc[i].t0);
				done++;
				cl_close(&cc[i]);
				continue;
			}
bad:
			errs++;
			lastwhy = why;
			cl_close(&cc[i]);
		}
	}
	t1 = now_us();
	snap(o, &p1);
	secs = (double)(t1 - t0) / 1e6;
	printf("mode=%s ok=%d conc=%d conns=%" PRIu64 " errors=%" PRIu64
	    " secs=%.3f conn_s=%.0f p50_us=%" PRIu64 " p99_us=%" PRIu64,
	    mode, errs == 0, o->conc, done, errs, secs, (double)done / secs,
	    hist_pct(&lat, 0.50), hist_pct(&lat, 0.99));
	if (o->pid > 0 && done > 0)
		printf(" cpu_s=%.3f cpu_us_per_conn=%.1f", cpu_s(&p0, &p1),
		    cpu_s(&p0, &p1) * 1e6 / (double)done);
	if (errs > 0)
		printf(" error=\"%s\"", lastwhy);
	printf("\n");
	return errs == 0 ? 0 : 1;
}

/*
 * Runs request/response over the first n slots, which are connected, for
 * secs seconds after every slot's first exchange.  Returns the exchanges
 * done after the warm-up and sets the times *t0 and *t1 and what the
 * measured process was at them, *p0 and *p1.
 */
static uint64_t
rr_run(const struct opts *o, int n, double secs, uint64_t hard,
    uint64_t *t0, uint64_t *t1, struct pstat *p0, struct pstat *p1)
{
	const char	*why;
	uint64_t	 now, end = 0, done = 0;
	nfds_t		 k, j;
	int		 i, r, warm = 0, outstanding;

	*t0 = 0;
	for (;;) {
		now = now_us();
		if (now >= hard)
			fail("rr", "time limit of %.0f s", o->limit);
		if (warm == n && *t0 == 0) {
			snap(o, p0);
			*t0 = now = now_us();
			end = *t0 + (uint64_t)(secs * 1e6);
		}
		outstanding = 0;
		for (i = 0; i < n; i++) {
			if (cc[i].state == S_DONE && *t0 != 0 && now < end) {
				cc[i].moff = cc[i].roff = 0;
				cc[i].t0 = now;
				cc[i].state = S_SEND;
			}
			if (cc[i].state != S_DONE)
				outstanding++;
		}
		if (outstanding == 0 && *t0 != 0 && now >= end)
			break;
		k = cl_pollset(n, 0);
		if (cl_poll(k, 100) <= 0)
			continue;
		for (j = 0; j < k; j++) {
			if (cpfd[j].revents == 0)
				continue;
			i = cidx[j];
			if (cc[i].state != S_RECV) {
				if ((r = cl_send(&cc[i])) == 0)
					continue;
				if (r == -1)
					fail("rr", "connection %d: %s", i,
					    strerror(errno));
				cc[i].state = S_RECV;
				continue;
			}
			if ((r = cl_echo(&cc[i], &why)) == 0)
				continue;
			if (r == -1)
				fail("rr", "connection %d: %s", i, why);
			cc[i].state = S_DONE;
			if (!cc[i].warm) {
				cc[i].warm = 1;
				warm++;
				continue;
			}
			hist_add(&lat, now_us() - cc[i].t0);
			done++;
		}
	}
	*t1 = now_us();
	snap(o, p1);
	return done;
}

/* Persistent request/response over o->conc connections. */
static int
cmd_rr(const struct opts *o)
{
	struct pstat	 p0, p1;
	uint64_t	 t0, t1, done, hard;
	double		 secs;
	int		 i;
	char		 msg[PMB_MSGLEN];

	if (o->conc < 1 || o->conc > PMB_MAXCONC)
		usage();
	cl_alloc(o->conc);
	msg_fill(msg, "RR\n");
	hard = now_us() + (uint64_t)(o->limit * 1e6);
	for (i = 0; i < o->conc; i++)
		if (cl_open(&cc[i], o->port, msg, PMB_MSGLEN) == -1)
			fail("rr", "connect: %s", strerror(errno));
	done = rr_run(o, o->conc, o->secs, hard, &t0, &t1, &p0, &p1);
	secs = (double)(t1 - t0) / 1e6;
	printf("mode=rr ok=1 conns=%d reqs=%" PRIu64 " secs=%.3f req_s=%.0f "
	    "p50_us=%" PRIu64 " p99_us=%" PRIu64, o->conc, done, secs,
	    (double)done / secs, hist_pct(&lat, 0.50), hist_pct(&lat, 0.99));
	if (o->pid > 0 && done > 0)
		printf(" cpu_s=%.3f cpu_us_per_req=%.2f wakes_per_req=%.3f",
		    cpu_s(&p0, &p1), cpu_s(&p0, &p1) * 1e6 / (double)done,
		    wakes(&p0, &p1, (double)done));
	printf("\n");
	for (i = 0; i < o->conc; i++)
		cl_close(&cc[i]);
	return 0;
}

/*
 * Idle connections: opens o->count connections that each exchange
 * "IDLE\n" and then stay silent, reads the measured process's memory,
 * then times one request/response connection (opened first) beside
 * them: the process's CPU per exchange is what each wake-up costs with
 * that many connections open.
 */
static int
cmd_idle(const struct opts *o)
{
	struct pstat	 ps0, ps1, p0, p1;
	const char	*why, *stop = "";
	uint64_t	 t0, t1, done, hard, last, open_us;
	nfds_t		 k, j;
	long		 next = 1, ok = 0, inflight = 0, n = o->count + 1;
	int		 i, r, fdmax;
	char		 msg[PMB_MSGLEN];

	fdmax = nofile_raise();
	if (o->count < 0 || n > fdmax - 16)
		fail("idle", "%ld connections need more than the %d "
		    "descriptors allowed", o->count, fdmax);
	cl_alloc((int)n);
	memset(&ps0, 0, sizeof(ps0));
	if (o->pid > 0 && proc_stat(o->pid, &ps0) == -1)
		fail("idle", "cannot read /proc/%ld", (long)o->pid);
	hard = now_us() + (uint64_t)(o->limit * 1e6);

	/* The probe first, so that a full pool cannot shut it out. */
	msg_fill(msg, "RR\n");
	if (cl_open(&cc[0], o->port, msg, PMB_MSGLEN) == -1)
		fail("idle", "connect: %s", strerror(errno));
	last = t0 = now_us();
	while (ok < o->count && now_us() < hard) {
		while (next < n && inflight < PMB_INFLIGHT) {
			if (cl_open(&cc[next], o->port, "IDLE\n", 5) == -1) {
				stop = strerror(errno);
				goto opened;
			}
			next++;
			inflight++;
		}
		if (now_us() - last > PMB_STALL_US) {
			stop = "no progress for 3 s (the pool may be full)";
			break;
		}
		/* Only the connections being opened are polled. */
		k = 0;
		for (i = 1; i < next; i++) {
			if (cc[i].state != S_CONNECT &&
			    cc[i].state != S_SEND && cc[i].state != S_RECV)
				continue;
			cpfd[k].fd = cc[i].fd;
			cpfd[k].events = cl_events(&cc[i], 0);
			cpfd[k].revents = 0;
			cidx[k++] = i;
		}
		if (cl_poll(k, 100) <= 0)
			continue;
		for (j = 0; j < k; j++) {
			if (cpfd[j].revents == 0)
				continue;
			i = cidx[j];
			why = NULL;
			if (cc[i].state != S_RECV) {
				if ((r = cl_send(&cc[i])) == 0)
					continue;
				if (r == -1)
					fail("idle", "connection %d: %s", i,
					    strerror(errno));
				cc[i].state = S_RECV;
				continue;
			}
			if ((r = cl_echo(&cc[i], &why)) == 0)
				continue;
			if (r == -1)
				fail("idle", "connection %d after %ld: %s", i,
				    ok, why);
			cc[i].state = S_DONE;
			inflight--;
			ok++;
			last = now_us();
		}
	}
opened:
	open_us = now_us() - t0;
	/* Let the proxies settle, then read the memory. */
	msleep(300);
	memset(&ps1, 0, sizeof(ps1));
	if (o->pid > 0)
		proc_stat(o->pid, &ps1);

	done = rr_run(o, 1, o->secs, hard, &t0, &t1, &p0, &p1);
	printf("mode=idle ok=%d conns=%ld open=%ld open_s=%.2f",
	    ok == o->count, o->count, ok, (double)open_us / 1e6);
	if (o->pid > 0)
		printf(" rss0_kib=%ld rss_kib=%ld anon0_kib=%ld anon_kib=%ld "
		    "kib_per_conn=%.2f", ps0.rss_kib, ps1.rss_kib,
		    ps0.anon_kib, ps1.anon_kib, ok > 0 ?
		    (double)(ps1.rss_kib - ps0.rss_kib) / (double)ok : 0.0);
	printf(" probe_reqs=%" PRIu64 " probe_p50_us=%" PRIu64
	    " probe_p99_us=%" PRIu64, done, hist_pct(&lat, 0.50),
	    hist_pct(&lat, 0.99));
	if (o->pid > 0 && done > 0)
		printf(" probe_cpu_us_per_req=%.2f probe_wakes_per_req=%.2f",
		    cpu_s(&p0, &p1) * 1e6 / (double)done,
		    wakes(&p0, &p1, (double)done));
	if (ok < o->count)
		printf(" error=\"%s\"", stop);
	printf("\n");
	return ok == o->count ? 0 : 1;
}

static int
cmd_stat(const struct opts *o)
{
	struct pstat	ps;

	if (o->pid <= 0)
		usage();
	if (proc_stat(o->pid, &ps) == -1)
		errx(1, "cannot read /proc/%ld", (long)o->pid);
	printf("cpu_ns=%" PRIu64 " runs=%" PRIu64 " rss_kib=%ld "
	    "anon_kib=%ld\n", ps.cpu_ns, ps.runs, ps.rss_kib, ps.anon_kib);
	return 0;
}

/* Waits until something accepts on the port; exits 0, or 1 at -t. */
static int
cmd_wait(const struct opts *o)
{
	struct sockaddr_in	sin;
	uint64_t		end;
	int			fd;

	if (o->port <= 0)
		usage();
	loopback(&sin, o->port);
	end = now_us() + (uint64_t)(o->secs * 1e6);
	while (now_us() < end) {
		if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
			err(2, "socket");
		if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0) {
			close(fd);
			return 0;
		}
		close(fd);
		msleep(20);
	}
	return 1;
}

/* Prints a port that is free on 127.0.0.1 now. */
static int
cmd_port(void)
{
	struct sockaddr_in	sin;
	socklen_t		len = sizeof(sin);
	int			fd;

	fd = listen_on(0);
	if (getsockname(fd, (struct sockaddr *)&sin, &len) == -1)
		err(2, "getsockname");
	printf("%d\n", ntohs(sin.sin_port));
	close(fd);
	return 0;
}

/* Parses a byte count with an optional k, m or g (binary) suffix. */
static uint64_t
parse_bytes(const char *s)
{
	char			*end;
	unsigned long long	 v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s)
		usage();
	switch (*end) {
	case 'g':
	case 'G':
		v <<= 10;
		/* FALLTHROUGH */
	case 'm':
	case 'M':
		v <<= 10;
		/* FALLTHROUGH */
	case 'k':
	case 'K':
		v <<= 10;
		end++;
		break;
	}
	if (*end != '\0')
		usage();
	return v;
}

static long
parse_num(const char *s, long lo, long hi)
{
	char	*end;
	long	 v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
		usage();
	return v;
}

static double
parse_secs(const char *s)
{
	char	*end;
	double	 v;

	v = strtod(s, &end);
	if (end == s || *end != '\0' || !(v > 0 && v < 1e6))
		usage();
	return v;
}

int
main(int argc, char *argv[])
{
	struct opts	 o;
	const char	*cmd;
	size_t		 i;
	int		 ch;

	if (argc < 2)
		usage();
	cmd = argv[1];
	memset(&o, 0, sizeof(o));
	o.streams = 1;
	o.conc = 50;
	o.count = 1000;
	o.bytes = 1024ULL << 20;
	o.secs = strcmp(cmd, "backend") == 0 ? 3600 :
	    strcmp(cmd, "wait") == 0 ? 10 : 2;
	o.limit = 60;
	o.workers = 1;
	for (i = 0; i < sizeof(pat); i++)
		pat[i] = (unsigned char)(i % PMB_PATLEN);
	signal(SIGPIPE, SIG_IGN);

	optind = 2;
	while ((ch = getopt(argc, argv, "b:c:n:P:p:S:s:T:t:w:")) != -1) {
		switch (ch) {
		case 'b':
			o.bytes = parse_bytes(optarg);
			break;
		case 'c':
			o.conc = (int)parse_num(optarg, 1, PMB_MAXCONC);
			break;
		case 'n':
			o.count = parse_num(optarg, 0, 1000000);
			break;
		case 'P':
			o.pid = (pid_t)parse_num(optarg, 1, INT_MAX);
			break;
		case 'p':
			o.port = (int)parse_num(optarg, 1, 65535);
			break;
		case 'S':
			socksport = (int)parse_num(optarg, 1, 65535);
			break;
		case 's':
			o.streams = (int)parse_num(optarg, 1, PMB_MAXCONC);
			break;
		case 'T':
			o.limit = parse_secs(optarg);
			break;
		case 't':
			o.secs = parse_secs(optarg);
			break;
		case 'w':
			o.workers = (int)parse_num(optarg, 1, 64);
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	setvbuf(stdout, NULL, _IOLBF, 0);

	if (strcmp(cmd, "backend") == 0)
		return cmd_backend(&o);
	if (strcmp(cmd, "port") == 0)
		return cmd_port();
	if (strcmp(cmd, "stat") == 0)
		return cmd_stat(&o);
	if (strcmp(cmd, "wait") == 0)
		return cmd_wait(&o);
	if (o.port <= 0)
		usage();
	if (strcmp(cmd, "up") == 0)
		return cmd_bulk(&o, 1);
	if (strcmp(cmd, "down") == 0)
		return cmd_bulk(&o, 0);
	if (strcmp(cmd, "conn") == 0)
		return cmd_conn(&o, 0);
	if (strcmp(cmd, "tls") == 0)
		return cmd_conn(&o, 1);
	if (strcmp(cmd, "rr") == 0)
		return cmd_rr(&o);
	if (strcmp(cmd, "idle") == 0)
		return cmd_idle(&o);
	usage();
	return 2;
}

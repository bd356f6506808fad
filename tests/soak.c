/*
 * soak: the load and fault generator of the proxymachine soak test
 * (tests/soak.sh).
 *
 * One binary, one poll(2) loop per subcommand, no threads, no forks:
 *
 *	serve	the fault backends, on ports it picks itself: an echo
 *		server, a scripted server that reads a one-line order
 *		after the router's "flood\n" (send a checked stream,
 *		check an upload, trickle, stall, close early, reset), a
 *		listener that resets each connection as it accepts it,
 *		and one that closes each at once.
 *	run	the client mix: thousands of connections over the run,
 *		a fixed number at a time, each of a kind picked at random
 *		(good transfers, clients that reset, half-close, read
 *		slowly, stall, send garbage, and requests that meet the
 *		faulty backends).  Every byte received is checked against
 *		what that kind must get; a summary per kind is printed and
 *		any violation makes the exit status 1.
 *	flood	keeps N connections open that send nothing.
 *	xfer	one good echo transfer spread over a given time.
 *
 * The checked streams are a pure function of a seed and an offset, so
 * no side keeps a copy of what it sent.  Loopback only; everything is
 * bounded by deadlines.
 *
 * Copyright (c) 2026 The proxymachine authors.  MIT licence: see LICENSE.
 */

#include <sys/types.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SK_CHUNK	16384		/* bytes per read or write */
#define SK_HDRMAX	128		/* longest scripted order */
#define SK_REQMAX	80000		/* longest fixed request */
#define SK_EXPMAX	64		/* longest fixed reply */
#define SK_BADMAX	40		/* violations printed, at most */
#define SK_SLOWBYTES	512		/* slow reader: bytes per tick */
#define SK_SLOWTICK	5		/* slow reader: ms per tick */
#define SK_OVERFLOW	70000		/* bytes that fill a routing buffer */
#define SK_PROBE	500		/* ms between a staller's probes */

static void	die(const char *, ...)
		    __attribute__((noreturn, format(printf, 1, 2)));
static void	usage(void)
		    __attribute__((noreturn));

static const char	*progname = "soak";
static volatile sig_atomic_t gotterm;

/*
 * Helpers.
 */

/* Says what went wrong on one line and exits 2. */
static void
die(const char *fmt, ...)
{
	va_list	 ap;

	fprintf(stderr, "%s: ", progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

/* Prints the synopsis and exits 2. */
static void
usage(void)
{
	fprintf(stderr,
	    "usage: soak serve HOST PORTFILE\n"
	    "       soak run HOST PORT SECS [-c conc] [-e kind,...] "
	    "[-f forever] [-l long]\n"
	    "                [-o kind,...] [-r route_ms] [-s seed] "
	    "[-x scale]\n"
	    "       soak flood HOST PORT SECS N\n"
	    "       soak xfer HOST PORT NBYTES SECS\n");
	exit(2);
}

/* Returns the monotonic clock in milliseconds. */
static long long
now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Returns the poll(2) timeout that wakes up at dl (-1: no deadline). */
static int
wait_for(long long dl)
{
	long long	 t;

	if (dl < 0)
		return -1;
	t = dl - now_ms();
	if (t < 0)
		return 0;
	return t > INT_MAX ? INT_MAX : (int)t;
}

/* Returns the number in s, which must lie in [lo, hi]; exits if not. */
static long long
num(const char *s, long long lo, long long hi, const char *what)
{
	char		*end;
	long long	 v;

	errno = 0;
	v = strtoll(s, &end, 0);
	if (*s == '\0' || *end != '\0' || errno != 0 || v < lo || v > hi)
		die("bad %s: '%s'", what, s);
	return v;
}

/* Asks the loop to end. */
static void
on_term(int sig)
{
	(void)sig;
	gotterm = 1;
}

/* Ignores SIGPIPE; TERM and INT end the loop. */
static void
signals(void)
{
	struct sigaction	 sa;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
}

/* Raises the descriptor limit to the hard limit; returns the new one. */
static long
fds_raise(void)
{
	struct rlimit	 rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return 1024;
	if (rl.rlim_cur != rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
		(void)getrlimit(RLIMIT_NOFILE, &rl);
	}
	return rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 1000000 ?
	    1000000 : (long)rl.rlim_cur;
}

/* Makes fd nonblocking; exits if it cannot. */
static void
nonblock(int fd)
{
	int	 fl;

	if ((fl = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1)
		die("fcntl: %s", strerror(errno));
}

/* Closes fd with a reset (SO_LINGER of 0) instead of a FIN. */
static void
close_rst(int fd)
{
	struct linger	 l;

	l.l_onoff = 1;
	l.l_linger = 0;
	(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	close(fd);
}

/* Fills ss with the numeric host and port; exits if they are bad. */
static socklen_t
addr(const char *host, const char *port, struct sockaddr_storage *ss)
{
	struct addrinfo	 hints, *res;
	socklen_t	 len;
	int		 e;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	if ((e = getaddrinfo(host, port, &hints, &res)) != 0)
		die("%s %s: %s", host, port, gai_strerror(e));
	len = res->ai_addrlen;
	memcpy(ss, res->ai_addr, len);
	freeaddrinfo(res);
	return len;
}

/*
 * Starts a nonblocking connect; rcvbuf > 0 sets a small receive buffer
 * first.  Returns the socket, or -1 with errno set.
 */
static int
connect_start(const struct sockaddr_storage *ss, socklen_t len, int rcvbuf)
{
	int	 fd, e;

	if ((fd = socket(ss->ss_family, SOCK_STREAM, 0)) == -1)
		return -1;
	if (rcvbuf > 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf,
		    sizeof(rcvbuf));
	nonblock(fd);
	if (connect(fd, (const struct sockaddr *)ss, len) == -1 &&
	    errno != EINPROGRESS) {
		e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* Returns the pending error of a socket, 0 if none. */
static int
sock_error(int fd)
{
	socklen_t	 len = sizeof(int);
	int		 e = 0;

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) == -1)
		return errno;
	return e;
}

/*
 * The checked streams: byte i of stream s is byte i % 8 of
 * mix(s ^ (i / 8) * K), so any part of it can be made anywhere.
 */
static uint64_t
mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* Fills p with the n bytes of stream seed from offset off. */
static void
stream_fill(uint64_t seed, uint64_t off, unsigned char *p, size_t n)
{
	uint64_t	 v;
	unsigned int	 i;

	while (n > 0) {
		v = mix(seed ^ ((off >> 3) * 0xd1342543de82ef95ULL));
		for (i = (unsigned int)(off & 7); i < 8 && n > 0; i++, n--) {
			*p++ = (unsigned char)(v >> (8 * i));
			off++;
		}
	}
}

/*
 * Returns the offset of the first byte of p[0..n) that differs from the
 * stream at off, or n if all match.
 */
static size_t
stream_check(uint64_t seed, uint64_t off, const unsigned char *p, size_t n)
{
	unsigned char	 want[SK_CHUNK];
	size_t		 done, k, i;

	for (done = 0; done < n; done += k) {
		k = n - done > sizeof(want) ? sizeof(want) : n - done;
		stream_fill(seed, off + done, want, k);
		if (memcmp(want, p + done, k) != 0) {
			for (i = 0; i < k && want[i] == p[done + i]; i++)
				;
			return done + i;
		}
	}
	return n;
}

/* A small pseudo-random generator (xorshift64*). */
static uint64_t	 rng_state = 0x2545f4914f6cdd1dULL;

/* Returns the next pseudo-random number. */
static uint64_t
rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

/* Returns a number in [lo, hi]. */
static uint64_t
rng_in(uint64_t lo, uint64_t hi)
{
	return lo + rng() % (hi - lo + 1);
}

/* Returns a size spread evenly over the powers of two up to 2^bits. */
static uint64_t
rng_size(int bits)
{
	int	 b = (int)rng_in(0, (uint64_t)bits);

	return b == 0 ? rng_in(0, 1) : rng_in(1ULL << (b - 1),
	    (1ULL << b) - 1);
}

/*
 * serve: the backends.
 *
 * echo		echoes every byte; passes on the peer's half-close.  A
 *		request that starts with "sleep" (the test router's
 *		"inactivity" route) is read and never answered.
 * script	reads "flood\n" (the router's prefix) and one order line
 *		"K seed len arg\n", then:
 *		D  sends len bytes of stream seed, then its end of file
 *		U  checks len bytes of stream seed up to the peer's end of
 *		   file, answers "OK len\n" or "BAD ...\n"
 *		T  as D, one byte every arg ms
 *		S  reads and drops everything, never answers
 *		E  sends arg bytes of stream seed, then closes
 *		R  reads no more; sends arg bytes of stream seed, and
 *		   resets len ms after the order, sent or not
 *		Z  closes at once without a byte
 * reset	resets each connection as it accepts it
 * fin		closes each connection as it accepts it
 */

enum { L_ECHO, L_SCRIPT, L_RESET, L_FIN, L_MAX };

static const char *const lnames[L_MAX] = { "echo", "script", "reset", "fin" };

struct sconn {
	int		 fd;		/* -1: free */
	int		 lk;		/* which listener */
	int		 mode;		/* order letter, 0 until read */
	int		 eof;		/* the peer sent its end of file */
	int		 stall;		/* echo: "sleep", never answer */
	int		 wshut;		/* our end of file is sent */
	unsigned char	 hdr[SK_HDRMAX];
	size_t		 hlen;
	uint64_t	 seed, len, arg;
	uint64_t	 off;		/* stream bytes sent or checked */
	uint64_t	 badat;		/* upload: first bad byte, or ~0 */
	long long	 next;		/* trickle: next byte at */
	long long	 until;		/* reset: at */
	unsigned char	*buf;		/* bytes to write */
	size_t		 boff, blen;
};

static struct sconn	*sc;
static size_t		 nsc;
static unsigned long long srv_accepted[L_MAX], srv_orders[128];
static unsigned long long srv_upok, srv_upbad, srv_bytes;

/* Returns a free server connection slot for fd. */
static struct sconn *
sconn_new(int fd, int lk)
{
	struct sconn	*c;
	size_t		 i, j;

	for (i = 0; i < nsc; i++)
		if (sc[i].fd == -1)
			break;
	if (i == nsc) {
		void	*nsp;

		nsc = nsc ? 2 * nsc : 256;
		if ((nsp = realloc(sc, nsc * sizeof(*sc))) == NULL)
			die("out of memory");
		sc = nsp;
		for (j = i; j < nsc; j++)
			sc[j].fd = -1;
	}
	c = &sc[i];
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->lk = lk;
	c->badat = UINT64_MAX;
	return c;
}

/* Closes c, with a reset if rst is set, and frees its slot. */
static void
sconn_close(struct sconn *c, int rst)
{
	if (rst)
		close_rst(c->fd);
	else
		close(c->fd);
	free(c->buf);
	c->buf = NULL;
	c->fd = -1;
}

/* Queues n bytes at p for writing. */
static void
sconn_queue(struct sconn *c, const void *p, size_t n)
{
	if (c->buf == NULL && (c->buf = malloc(SK_CHUNK)) == NULL)
		die("out of memory");
	if (n > SK_CHUNK - c->blen)
		n = SK_CHUNK - c->blen;
	memcpy(c->buf + c->blen, p, n);
	c->blen += n;
}

/* Checks n uploaded bytes at p. */
static void
sconn_upload(struct sconn *c, const unsigned char *p, size_t n)
{
	size_t	 k;

	if (c->badat == UINT64_MAX) {
		k = c->off < c->len ? stream_check(c->seed, c->off, p,
		    c->len - c->off < n ? (size_t)(c->len - c->off) : n) : 0;
		if (k < n)
			c->badat = c->off + k;
	}
	c->off += n;
}

/* Parses the order once its line is in; returns -1 if it is bad. */
static int
sconn_order(struct sconn *c)
{
	unsigned char	*nl;
	char		 line[SK_HDRMAX];
	unsigned long long seed, len, arg;
	char		 k;
	size_t		 used, rest;

	if (c->hlen < 6 || memcmp(c->hdr, "flood\n", 6) != 0)
		return c->hlen < 6 && memcmp(c->hdr, "flood\n", c->hlen) == 0 ?
		    0 : -1;
	if ((nl = memchr(c->hdr + 6, '\n', c->hlen - 6)) == NULL)
		return c->hlen == sizeof(c->hdr) ? -1 : 0;
	used = (size_t)(nl - c->hdr) + 1;
	memcpy(line, c->hdr + 6, used - 6);
	line[used - 7] = '\0';
	if (sscanf(line, "%c %llu %llu %llu", &k, &seed, &len, &arg) != 4 ||
	    strchr("DUTSERZ", k) == NULL)
		return -1;
	c->mode = k;
	c->seed = seed;
	c->len = len;
	c->arg = arg;
	c->next = now_ms();
	srv_orders[(unsigned char)k]++;
	rest = c->hlen - used;
	if (k == 'U' && rest > 0)
		sconn_upload(c, c->hdr + used, rest);
	if (k == 'R')
		c->until = now_ms() + (long long)c->len;
	if (k == 'E' || k == 'R')
		c->len = c->arg;
	return 0;
}

/* Finishes an upload at the peer's end of file: queues the verdict. */
static void
sconn_verdict(struct sconn *c)
{
	char	 r[SK_EXPMAX];
	int	 n;

	if (c->badat == UINT64_MAX && c->off == c->len) {
		srv_upok++;
		srv_bytes += c->len;
		n = snprintf(r, sizeof(r), "OK %llu\n",
		    (unsigned long long)c->len);
	} else {
		srv_upbad++;
		n = snprintf(r, sizeof(r), "BAD %llu of %llu, first at %llu\n",
		    (unsigned long long)c->off, (unsigned long long)c->len,
		    c->badat == UINT64_MAX ? (unsigned long long)c->off :
		    (unsigned long long)c->badat);
	}
	sconn_queue(c, r, (size_t)n);
	c->len = 0;		/* nothing of the stream to send */
	c->off = 0;
}

/* Returns whether c still has stream bytes to send. */
static int
sconn_sending(const struct sconn *c)
{
	return (c->mode == 'D' || c->mode == 'T' || c->mode == 'E' ||
	    c->mode == 'R') && c->off < c->len;
}

/* Sets the poll events of c; returns its timer (-1: none). */
static long long
sconn_events(struct sconn *c, struct pollfd *p)
{
	long long	 t = -1;

	p->fd = c->fd;
	p->events = 0;
	if (c->blen > 0)
		p->events |= POLLOUT;
	else if (sconn_sending(c)) {
		if (c->mode == 'T' && now_ms() < c->next)
			t = c->next;
		else
			p->events |= POLLOUT;
	}
	if (!c->eof && (c->lk != L_ECHO || c->blen == 0) && c->mode != 'R')
		p->events |= POLLIN;
	if (c->mode == 'R' && c->until != 0)
		t = c->until;
	return t;
}

/* Does what the order says once nothing is left to write. */
static int
sconn_after(struct sconn *c)
{
	if (c->mode == 'R' && now_ms() >= c->until) {
		sconn_close(c, 1);
		return -1;
	}
	if (c->blen > 0 || sconn_sending(c))
		return 0;
	switch (c->mode) {
	case 'E':
	case 'Z':
		sconn_close(c, 0);
		return -1;
	case 'R':
		return 0;	/* the timer resets it */
	case 'D':
	case 'T':
		if (!c->wshut) {
			shutdown(c->fd, SHUT_WR);
			c->wshut = 1;
		}
		break;
	}
	if (c->eof && (c->lk == L_ECHO || c->mode != 0)) {
		if (c->lk == L_ECHO && !c->stall)
			shutdown(c->fd, SHUT_WR);
		sconn_close(c, 0);
		return -1;
	}
	return 0;
}

/* Serves the events rev on c. */
static void
sconn_io(struct sconn *c, short rev)
{
	unsigned char	 b[SK_CHUNK];
	ssize_t		 n;
	size_t		 k;

	if (rev & (POLLIN | POLLHUP | POLLERR) && !c->eof &&
	    (c->lk != L_ECHO || c->blen == 0) && c->mode != 'R') {
		n = read(c->fd, b, sizeof(b));
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			n = -2;
		if (n == -1) {
			sconn_close(c, 0);
			return;
		}
		if (n == 0) {
			c->eof = 1;
			if (c->mode == 'U')
				sconn_verdict(c);
			else if (c->lk == L_SCRIPT && c->mode == 0) {
				sconn_close(c, 0);
				return;
			}
		} else if (n > 0 && c->lk == L_ECHO) {
			if (c->hlen == 0 && n >= 5 &&
			    memcmp(b, "sleep", 5) == 0)
				c->stall = 1;
			c->hlen = 1;
			if (!c->stall)
				sconn_queue(c, b, (size_t)n);
		} else if (n > 0 && c->mode == 0) {
			k = sizeof(c->hdr) - c->hlen < (size_t)n ?
			    sizeof(c->hdr) - c->hlen : (size_t)n;
			memcpy(c->hdr + c->hlen, b, k);
			c->hlen += k;
			if (sconn_order(c) == -1) {
				sconn_close(c, 0);
				return;
			}
			if (c->mode == 'U' && k < (size_t)n)
				sconn_upload(c, b + k, (size_t)n - k);
		} else if (n > 0 && c->mode == 'U')
			sconn_upload(c, b, (size_t)n);
	}
	if (c->blen > 0 && rev & (POLLOUT | POLLERR | POLLHUP)) {
		n = write(c->fd, c->buf + c->boff, c->blen - c->boff);
		if (n == -1 && errno != EAGAIN && errno != EINTR) {
			sconn_close(c, 0);
			return;
		}
		if (n > 0) {
			c->boff += (size_t)n;
			if (c->boff == c->blen)
				c->boff = c->blen = 0;
		}
	} else if (sconn_sending(c) && rev & (POLLOUT | POLLERR | POLLHUP) &&
	    (c->mode != 'T' || now_ms() >= c->next)) {
		k = c->mode == 'T' ? 1 : c->len - c->off > sizeof(b) ?
		    sizeof(b) : (size_t)(c->len - c->off);
		stream_fill(c->seed, c->off, b, k);
		n = write(c->fd, b, k);
		if (n == -1 && errno != EAGAIN && errno != EINTR) {
			sconn_close(c, 0);
			return;
		}
		if (n > 0) {
			c->off += (uint64_t)n;
			srv_bytes += (uint64_t)n;
			c->next = now_ms() + (long long)c->arg;
		}
	}
	(void)sconn_after(c);
}

/* Listens on host, port 0; returns the socket and its port in *port. */
static int
srv_listen(const char *host, int *port)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len;
	int			 fd, one = 1;

	len = addr(host, "0", &ss);
	if ((fd = socket(ss.ss_family, SOCK_STREAM, 0)) == -1)
		die("socket: %s", strerror(errno));
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) == -1 ||
	    listen(fd, 4096) == -1)
		die("listen %s: %s", host, strerror(errno));
	len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1)
		die("getsockname: %s", strerror(errno));
	*port = ntohs(ss.ss_family == AF_INET6 ?
	    ((struct sockaddr_in6 *)&ss)->sin6_port :
	    ((struct sockaddr_in *)&ss)->sin_port);
	nonblock(fd);
	return fd;
}

/* The serve command: runs the backends until TERM; 1 if an upload was bad. */
static int
cmd_serve(int argc, char **argv)
{
	struct pollfd	*pfd = NULL;
	size_t		 npfd = 0, i, n;
	long long	 t, wake;
	char		 tmp[4096];
	FILE		*fp;
	int		 lfd[L_MAX], port[L_MAX], k, fd, due;

	if (argc != 3)
		usage();
	fds_raise();
	signals();
	for (k = 0; k < L_MAX; k++)
		lfd[k] = srv_listen(argv[1], &port[k]);
	snprintf(tmp, sizeof(tmp), "%s.tmp", argv[2]);
	if ((fp = fopen(tmp, "w")) == NULL)
		die("%s: %s", tmp, strerror(errno));
	for (k = 0; k < L_MAX; k++)
		fprintf(fp, "%s %d\n", lnames[k], port[k]);
	if (fclose(fp) == EOF || rename(tmp, argv[2]) == -1)
		die("%s: %s", argv[2], strerror(errno));

	while (!gotterm) {
		if (npfd < L_MAX + nsc) {
			void	*np;

			npfd = L_MAX + nsc;
			if ((np = realloc(pfd, npfd * sizeof(*pfd))) == NULL)
				die("out of memory");
			pfd = np;
		}
		for (k = 0; k < L_MAX; k++) {
			pfd[k].fd = lfd[k];
			pfd[k].events = POLLIN;
		}
		wake = -1;
		for (i = 0; i < nsc; i++) {
			pfd[L_MAX + i].fd = -1;
			if (sc[i].fd == -1)
				continue;
			t = sconn_events(&sc[i], &pfd[L_MAX + i]);
			if (t >= 0 && (wake < 0 || t < wake))
				wake = t;
		}
		n = nsc;
		if (poll(pfd, L_MAX + n, wait_for(wake)) == -1) {
			if (errno == EINTR)
				continue;
			die("poll: %s", strerror(errno));
		}
		for (i = 0; i < n; i++) {
			if (sc[i].fd == -1)
				continue;
			due = sc[i].mode == 'T' && sconn_sending(&sc[i]) &&
			    now_ms() >= sc[i].next;
			if (pfd[L_MAX + i].revents != 0 || due ||
			    (sc[i].until != 0 && now_ms() >= sc[i].until))
				sconn_io(&sc[i], pfd[L_MAX + i].revents |
				    (due ? POLLOUT : 0));
		}
		for (k = 0; k < L_MAX; k++) {
			if (!(pfd[k].revents & POLLIN))
				continue;
			while ((fd = accept(lfd[k], NULL, NULL)) != -1) {
				srv_accepted[k]++;
				if (k == L_RESET)
					close_rst(fd);
				else if (k == L_FIN)
					close(fd);
				else {
					nonblock(fd);
					sconn_new(fd, k);
				}
			}
		}
	}
	printf("serve: accepted echo %llu, script %llu, reset %llu, "
	    "fin %llu\n", srv_accepted[L_ECHO], srv_accepted[L_SCRIPT],
	    srv_accepted[L_RESET], srv_accepted[L_FIN]);
	printf("serve: orders D %llu U %llu T %llu S %llu E %llu R %llu "
	    "Z %llu\n", srv_orders['D'], srv_orders['U'], srv_orders['T'],
	    srv_orders['S'], srv_orders['E'], srv_orders['R'],
	    srv_orders['Z']);
	printf("serve: uploads checked %llu ok, %llu bad; %llu stream bytes "
	    "sent or checked\n", srv_upok, srv_upbad, srv_bytes);
	for (i = 0; i < nsc; i++)
		if (sc[i].fd != -1)
			sconn_close(&sc[i], 0);
	free(sc);
	free(pfd);
	return srv_upbad == 0 ? 0 : 1;
}

/*
 * run: the client mix.
 */

/* What a client does and expects.  G: a good transfer, checked whole. */
enum kind {
	K_ECHO,		/* G: upload a stream to the echo, get it back */
	K_DOWN,		/* G: download a stream */
	K_HALFDOWN,	/* G: half-close at once, then download */
	K_UP,		/* G: upload a stream, the backend checks it */
	K_SLOWREAD,	/* G: download, reading slowly */
	K_TRICKLE,	/* G: the backend sends a byte at a time */
	K_EARLY,	/* G: the backend closes after part: that part */
	K_REPLY,	/* G: "d": the router's reply, then close */
	K_WAIT,		/* G: "wait": the router's reply after a wait */
	K_DATA,		/* G: "g": a reply, then the replaced data echoed */
	K_RSTREQ,	/* reset in the middle of the request */
	K_RSTECHO,	/* reset in the middle of an echo */
	K_RSTDOWN,	/* reset in the middle of a download */
	K_GARBAGE,	/* bytes no route matches */
	K_OVERFLOW,	/* a request that never ends: routing buffer full */
	K_REFUSED,	/* the backend refuses */
	K_SLOWCONN,	/* the backend's connects hang */
	K_BRESET,	/* the backend resets at accept */
	K_BFIN,		/* the backend closes at accept */
	K_BSTALL,	/* the backend never answers */
	K_IDLE,		/* the backend never answers: inactivity timeout */
	K_BRSTMID,	/* the backend resets in the middle */
	K_WFIRST,	/* upload all before reading; the backend resets */
	K_BNOBYTE,	/* the backend closes after the request, no byte */
	K_SILENT,	/* long: send nothing, the routing timeout */
	K_STALLDOWN,	/* long: download, never read */
	K_STALLECHO,	/* long: upload to the echo, never read */
	K_FOREVER,	/* long: stall until the end of the run */
	K_MAX
};

static struct kinfo {
	const char	*name;
	int		 weight;	/* main mix; 0: long slots only */
	int		 good;
} kinfo[K_MAX] = {
	{ "echo",	16, 1 },
	{ "down",	8, 1 },
	{ "halfdown",	4, 1 },
	{ "up",		8, 1 },
	{ "slowread",	2, 1 },
	{ "trickle",	3, 1 },
	{ "early",	4, 1 },
	{ "reply",	2, 1 },
	{ "wait",	1, 1 },
	{ "data",	2, 1 },
	{ "rstreq",	8, 0 },
	{ "rstecho",	6, 0 },
	{ "rstdown",	4, 0 },
	{ "garbage",	6, 0 },
	{ "overflow",	2, 0 },
	{ "refused",	3, 0 },
	{ "slowconn",	1, 0 },
	{ "breset",	4, 0 },
	{ "bfin",	4, 0 },
	{ "bstall",	2, 0 },
	{ "idle",	2, 0 },
	{ "brstmid",	4, 0 },
	{ "writefirst",	3, 0 },
	{ "bnobyte",	3, 0 },
	{ "silent",	0, 0 },
	{ "stalldown",	0, 0 },
	{ "stallecho",	0, 0 },
	{ "forever",	0, 0 }
};

/* Client flags. */
#define CF_SHUT		0x001	/* half-close once all is sent */
#define CF_SHUTDONE	0x002
#define CF_NOREAD	0x004	/* never read */
#define CF_SLOW		0x008	/* read SK_SLOWBYTES per tick */
#define CF_FULL		0x010	/* must get everything, then EOF */
#define CF_KEEP		0x020	/* the proxy must not close before hold */
#define CF_LONG		0x040	/* a long slot: cut at the end is fine */
#define CF_WDEAD	0x080	/* writing failed: stop */
#define CF_NOBYTE	0x100	/* any byte received is wrong */
#define CF_WFIRST	0x200	/* read only once all is sent */

enum { CS_FREE, CS_CONN, CS_UP };

struct cl {
	int		 st;
	int		 fd;
	int		 kind;
	int		 lslot;		/* a long slot */
	unsigned int	 fl;
	unsigned long	 id;
	unsigned char	*req;		/* fixed request bytes */
	size_t		 reqlen, reqoff;
	uint64_t	 useed, ulen, uoff;	/* stream after req */
	char		 exp[SK_EXPMAX];	/* fixed reply start */
	size_t		 explen;
	uint64_t	 eseed, elen;	/* expected stream after it */
	uint64_t	 got;
	uint64_t	 rstat;		/* reset once got reaches it */
	long long	 t0;
	long long	 hold;		/* the client ends then, 0: never */
	long long	 dl;		/* must be over by then */
	long long	 minend;	/* the proxy may not close before */
	long long	 nextrd;	/* slow reader's next read */
	long long	 probe;		/* staller: write a byte at */
};

struct kstat {
	unsigned long	 started, ok, bad, cut;
	unsigned long long bytes;
};

static struct kstat	 kst[K_MAX];
static struct sockaddr_storage px;
static socklen_t	 pxlen;
static unsigned long	 nextid;
static int		 stopping;
static int		 nbad;
static long long	 route_ms = 30000;
static double		 scale = 1;

/*
 * Returns ms stretched by the slowness factor (valgrind): in full for a
 * transfer, at most twice for what the proxy does at once.
 */
static long long
scaled(long long ms)
{
	return (long long)((double)ms * scale);
}

static long long
scaled2(long long ms)
{
	return scale > 2 ? 2 * ms : (long long)((double)ms * scale);
}

/* Records the end of c and frees its slot. */
static void
cl_end(struct cl *c, int how, const char *fmt, ...)
{
	struct kstat	*s = &kst[c->kind];
	va_list		 ap;

	switch (how) {
	case 'o':
	case 'r':
		s->ok++;
		break;
	case 'c':
		s->cut++;
		break;
	default:
		s->bad++;
		if (nbad++ < SK_BADMAX) {
			fprintf(stderr, "soak: BAD %s #%lu after %.3f s, got "
			    "%llu of %llu: ", kinfo[c->kind].name, c->id,
			    (double)(now_ms() - c->t0) / 1000,
			    (unsigned long long)c->got,
			    (unsigned long long)(c->explen + c->elen));
			va_start(ap, fmt);
			vfprintf(stderr, fmt, ap);
			va_end(ap);
			fputc('\n', stderr);
		}
		break;
	}
	if (c->fd != -1) {
		if (how == 'r')
			close_rst(c->fd);
		else
			close(c->fd);
	}
	free(c->req);
	c->req = NULL;
	c->fd = -1;
	c->st = CS_FREE;
}

/* Sets the fixed request of c to the n bytes at p. */
static void
cl_req(struct cl *c, const void *p, size_t n)
{
	if ((c->req = malloc(n + 1)) == NULL)
		die("out of memory");
	memcpy(c->req, p, n);
	c->reqlen = n;
}

/* Sets a scripted order as the request of c. */
static void
cl_order(struct cl *c, int k, uint64_t seed, uint64_t len, uint64_t arg)
{
	char	 o[SK_HDRMAX];
	int	 n;

	n = snprintf(o, sizeof(o), "flood\n%c %llu %llu %llu\n", k,
	    (unsigned long long)seed, (unsigned long long)len,
	    (unsigned long long)arg);
	cl_req(c, o, (size_t)n);
}

/* Fills c for its kind. */
static void
cl_setup(struct cl *c)
{
	unsigned char	 g[4096];
	static const char *const partial[] = {
		"x", "xfe", "xfer", "flood", "connect", "connect rej",
		"inactivi", "sl", "wai", "ee", "eeeeeeeeeeeeeeeeeeee", "si"
	};
	uint64_t	 s1 = rng(), len, k;
	long long	 t = c->t0;
	size_t		 i, n;

	c->rstat = UINT64_MAX;
	c->dl = t + scaled2(30000);
	switch (c->kind) {
	case K_ECHO:
		cl_req(c, "xfer\n", 5);
		c->useed = s1;
		c->ulen = rng_size(20);
		c->fl |= CF_SHUT | CF_FULL;
		memcpy(c->exp, "xfer\n", 5);
		c->explen = 5;
		c->eseed = s1;
		c->elen = c->ulen;
		break;
	case K_DOWN:
	case K_HALFDOWN:
	case K_SLOWREAD:
		len = c->kind == K_SLOWREAD ? rng_in(16384, 262144) :
		    rng_size(22);
		cl_order(c, 'D', s1, len, 0);
		c->fl |= CF_FULL;
		if (c->kind == K_HALFDOWN)
			c->fl |= CF_SHUT;
		if (c->kind == K_SLOWREAD)
			c->fl |= CF_SLOW;
		c->eseed = s1;
		c->elen = len;
		break;
	case K_UP:
		len = rng_size(21);
		cl_order(c, 'U', s1, len, 0);
		c->useed = s1;
		c->ulen = len;
		c->fl |= CF_SHUT | CF_FULL;
		c->explen = (size_t)snprintf(c->exp, sizeof(c->exp),
		    "OK %llu\n", (unsigned long long)len);
		break;
	case K_TRICKLE:
		len = rng_in(5, 60);
		cl_order(c, 'T', s1, len, rng_in(2, 25));
		c->fl |= CF_FULL;
		c->eseed = s1;
		c->elen = len;
		break;
	case K_EARLY:
		k = rng_size(16);
		cl_order(c, 'E', s1, k + rng_in(1, 100000), k);
		c->fl |= CF_FULL;
		c->eseed = s1;
		c->elen = k;
		break;
	case K_REPLY:
		cl_req(c, "d", 1);
		c->fl |= CF_FULL;
		memcpy(c->exp, "ddd", 3);
		c->explen = 3;
		break;
	case K_WAIT:
		cl_req(c, "wait", 4);
		c->fl |= CF_FULL;
		memcpy(c->exp, "waited", 6);
		c->explen = 6;
		break;
	case K_DATA:
		cl_req(c, "g", 1);
		c->fl |= CF_FULL | CF_SHUT;
		memcpy(c->exp, "g3-g2", 5);
		c->explen = 5;
		break;
	case K_RSTREQ:
		i = (size_t)rng_in(0,
		    sizeof(partial) / sizeof(partial[0]) - 1);
		cl_req(c, partial[i], strlen(partial[i]));
		c->hold = t + (long long)rng_in(0, 200);
		c->fl |= CF_KEEP | CF_NOBYTE;
		break;
	case K_RSTECHO:
		cl_req(c, "xfer\n", 5);
		c->useed = s1;
		c->ulen = rng_in(1, 4U << 20);
		memcpy(c->exp, "xfer\n", 5);
		c->explen = 5;
		c->eseed = s1;
		c->elen = c->ulen;
		c->rstat = rng_in(0, c->ulen);
		c->fl |= CF_KEEP;
		break;
	case K_RSTDOWN:
		len = rng_in(1, 8U << 20);
		cl_order(c, 'D', s1, len, 0);
		c->eseed = s1;
		c->elen = len;
		c->rstat = rng_in(0, len);
		c->fl |= CF_KEEP;
		break;
	case K_GARBAGE:
		n = (size_t)rng_in(1, sizeof(g));
		for (i = 0; i < n; i++)
			g[i] = (unsigned char)rng();
		g[0] |= 0x80;		/* no request starts so */
		cl_req(c, g, n);
		c->fl |= CF_NOBYTE;
		c->dl = t + scaled2(10000);
		break;
	case K_OVERFLOW:
		if ((c->req = malloc(SK_OVERFLOW)) == NULL)
			die("out of memory");
		memset(c->req, 'e', SK_OVERFLOW);
		c->reqlen = SK_OVERFLOW;
		c->fl |= CF_NOBYTE;
		c->dl = t + scaled2(10000);
		break;
	case K_REFUSED:
		cl_req(c, "connect reject", 14);
		c->fl |= CF_NOBYTE;
		c->dl = t + scaled2(15000);
		break;
	case K_SLOWCONN:
		cl_req(c, "slow", 4);
		c->fl |= CF_NOBYTE;
		c->dl = t + scaled2(20000);
		break;
	case K_BRESET:
		cl_req(c, "b", 1);
		c->fl |= CF_NOBYTE;
		c->dl = t + scaled2(15000);
		break;
	case K_BFIN:
		cl_req(c, "six", 3);
		c->fl |= CF_NOBYTE;
		c->dl = t + scaled2(15000);
		break;
	case K_BSTALL:
		cl_order(c, 'S', s1, 0, 0);
		c->hold = t + (long long)rng_in(100, 3000);
		c->fl |= CF_KEEP | CF_NOBYTE;
		break;
	case K_IDLE:
		cl_req(c, "inactivity", 10);
		c->fl |= CF_NOBYTE;
		c->minend = t + 900;
		c->dl = t + scaled2(10000);
		break;
	case K_BRSTMID:
		k = rng_size(17);
		cl_order(c, 'R', s1, rng_in(0, 50), k);
		c->eseed = s1;
		c->elen = k;
		break;
	case K_WFIRST:
		k = 64U << 20;
		cl_order(c, 'R', s1, rng_in(100, 300), k);
		c->useed = s1;
		c->ulen = 64U << 20;
		c->eseed = s1;
		c->elen = k;
		c->fl |= CF_WFIRST;
		c->dl = t + scaled2(10000);
		break;
	case K_BNOBYTE:
		cl_order(c, 'Z', s1, 0, 0);
		c->fl |= CF_NOBYTE;
		c->dl = t + scaled2(15000);
		break;
	case K_SILENT:
		c->fl |= CF_NOBYTE | CF_LONG;
		if (route_ms > 0) {
			c->minend = t + route_ms - 100;
			c->dl = t + route_ms + scaled2(5000);
		} else
			c->dl = t + 3600000;
		break;
	case K_STALLDOWN:
	case K_FOREVER:
		cl_order(c, 'D', s1, 64U << 20, 0);
		c->eseed = s1;
		c->elen = 64U << 20;
		c->fl |= CF_NOREAD | CF_KEEP | CF_LONG;
		c->hold = c->kind == K_FOREVER ? 0 :
		    t + (long long)rng_in(2000, 15000);
		c->dl = c->kind == K_FOREVER ? t + 86400000 : c->hold + 1000;
		break;
	case K_STALLECHO:
		cl_req(c, "xfer\n", 5);
		c->useed = s1;
		c->ulen = 64U << 20;
		c->fl |= CF_NOREAD | CF_KEEP | CF_LONG;
		c->hold = t + (long long)rng_in(2000, 15000);
		c->dl = c->hold + 1000;
		break;
	}
	if (c->fl & CF_FULL)
		c->dl = t + scaled(30000 + (long long)((c->ulen + c->elen) >>
		    14));
}

static int	 excluded[K_MAX];

/*
 * Leaves out the kinds named in the comma-separated list s, or with only
 * set, all the others.
 */
static void
exclude(char *s, int only)
{
	char	*name;
	int	 named[K_MAX], k;

	memset(named, 0, sizeof(named));
	while ((name = strsep(&s, ",")) != NULL) {
		for (k = 0; k < K_MAX; k++)
			if (strcmp(name, kinfo[k].name) == 0)
				break;
		if (k == K_MAX)
			die("no kind of client is called '%s'", name);
		named[k] = 1;
	}
	for (k = 0; k < K_MAX; k++)
		if (named[k] != only) {
			excluded[k] = 1;
			kinfo[k].weight = 0;
		}
}

/* Picks the kind of a new client; returns -1 when none is left. */
static int
pick(int lslot, int forever)
{
	static const int	 longs[10] = { K_SILENT, K_SILENT, K_SILENT,
	    K_SILENT, K_STALLDOWN, K_STALLDOWN, K_STALLDOWN, K_STALLECHO,
	    K_STALLECHO, K_STALLECHO };
	unsigned long		 total = 0, r;
	int			 k, i;

	if (lslot) {
		if (forever)
			return excluded[K_FOREVER] ? -1 : K_FOREVER;
		for (i = 0; i < 10; i++)
			if (!excluded[longs[i]])
				break;
		if (i == 10)
			return -1;
		do
			k = longs[rng_in(0, 9)];
		while (excluded[k]);
		return k;
	}
	for (k = 0; k < K_MAX; k++)
		total += (unsigned long)kinfo[k].weight;
	if (total == 0)
		return -1;
	r = (unsigned long)rng_in(0, total - 1);
	for (k = 0; k < K_MAX; k++) {
		if (r < (unsigned long)kinfo[k].weight)
			return k;
		r -= (unsigned long)kinfo[k].weight;
	}
	return K_ECHO;
}

/* Starts client c of kind k. */
static void
cl_start(struct cl *c, int k, int lslot)
{
	memset(c, 0, sizeof(*c));
	c->kind = k;
	c->lslot = lslot;
	c->id = ++nextid;
	c->t0 = now_ms();
	cl_setup(c);
	kst[k].started++;
	c->fd = connect_start(&px, pxlen, c->fl & (CF_SLOW | CF_WFIRST) ?
	    4096 : 0);
	if (c->fd == -1) {
		cl_end(c, 'b', "connect: %s", strerror(errno));
		return;
	}
	c->st = CS_CONN;
}

/* Returns the length of what c must receive in all. */
static uint64_t
cl_explen(const struct cl *c)
{
	return c->explen + c->elen;
}

/*
 * Checks n received bytes.  Returns 0, or -1 if c ended.
 */
static int
cl_got(struct cl *c, const unsigned char *p, size_t n)
{
	uint64_t	 want = cl_explen(c), o;
	size_t		 k, i, bad;

	if (c->fl & CF_NOBYTE) {
		cl_end(c, 'b', "%zu bytes where none may come", n);
		return -1;
	}
	if (c->got + n > want) {
		cl_end(c, 'b', "%llu bytes more than expected",
		    (unsigned long long)(c->got + n - want));
		return -1;
	}
	/* The fixed part, then the stream. */
	for (i = 0; i < n && c->got + i < c->explen; i++)
		if ((unsigned char)c->exp[c->got + i] != p[i]) {
			cl_end(c, 'b', "wrong byte at %llu",
			    (unsigned long long)(c->got + i));
			return -1;
		}
	if (i < n) {
		o = c->got + i - c->explen;
		k = n - i;
		if ((bad = stream_check(c->eseed, o, p + i, k)) < k) {
			cl_end(c, 'b', "stream corrupt at byte %llu",
			    (unsigned long long)(c->explen + o + bad));
			return -1;
		}
	}
	c->got += n;
	kst[c->kind].bytes += n;
	if (c->got >= c->rstat) {
		cl_end(c, 'r', NULL);
		return -1;
	}
	return 0;
}

/* The proxy ended the connection (err: 0 for EOF).  Records how. */
static void
cl_closed(struct cl *c, int err)
{
	long long	 t = now_ms();
	const char	*how = err ? strerror(err) : "end of file";

	if ((c->fl & CF_KEEP) && (c->hold == 0 || t < c->hold)) {
		cl_end(c, 'b', "the proxy ended it (%s) before the client",
		    how);
		return;
	}
	if (c->minend != 0 && t < c->minend) {
		cl_end(c, 'b', "the proxy ended it (%s) %lld ms too early",
		    how, c->minend - t);
		return;
	}
	if (c->fl & CF_FULL) {
		if (err != 0 || c->got != cl_explen(c)) {
			cl_end(c, 'b', "ended early: %s", how);
			return;
		}
		if (c->ulen > 0 && c->kind == K_UP)
			kst[c->kind].bytes += c->ulen;
	}
	cl_end(c, 'o', NULL);
}

/* Writes what c still has to send. */
static int
cl_write(struct cl *c)
{
	unsigned char	 b[SK_CHUNK];
	ssize_t		 n;
	size_t		 k;

	if (c->reqoff < c->reqlen) {
		n = write(c->fd, c->req + c->reqoff, c->reqlen - c->reqoff);
		if (n > 0)
			c->reqoff += (size_t)n;
	} else if (c->uoff < c->ulen) {
		k = c->ulen - c->uoff > sizeof(b) ? sizeof(b) :
		    (size_t)(c->ulen - c->uoff);
		stream_fill(c->useed, c->uoff, b, k);
		n = write(c->fd, b, k);
		if (n > 0)
			c->uoff += (uint64_t)n;
	} else
		n = 0;
	if (n == -1 && errno != EAGAIN && errno != EINTR) {
		c->fl |= CF_WDEAD;
		if (c->fl & CF_FULL) {
			cl_end(c, 'b', "write: %s", strerror(errno));
			return -1;
		}
		return 0;
	}
	if ((c->fl & CF_SHUT) && !(c->fl & CF_SHUTDONE) &&
	    c->reqoff == c->reqlen && c->uoff == c->ulen) {
		c->fl |= CF_SHUTDONE;
		shutdown(c->fd, SHUT_WR);
	}
	return 0;
}

/* Returns whether c has bytes left to send. */
static int
cl_sending(const struct cl *c)
{
	return !(c->fl & CF_WDEAD) &&
	    (c->reqoff < c->reqlen || c->uoff < c->ulen ||
	    ((c->fl & CF_SHUT) && !(c->fl & CF_SHUTDONE)));
}

/* Sets the poll entry of c; returns its next timer. */
static long long
cl_events(struct cl *c, struct pollfd *p, long long t)
{
	long long	 w = c->dl;

	p->fd = c->fd;
	p->events = 0;
	if (c->st == CS_CONN) {
		p->events = POLLOUT;
		return w;
	}
	if (cl_sending(c))
		p->events |= POLLOUT;
	else if ((c->fl & CF_NOREAD) && c->probe < w)
		w = c->probe;
	if (!(c->fl & CF_NOREAD) && !((c->fl & CF_WFIRST) && cl_sending(c))) {
		if ((c->fl & CF_SLOW) && t < c->nextrd)
			w = c->nextrd < w ? c->nextrd : w;
		else
			p->events |= POLLIN;
	}
	if (c->hold != 0 && c->hold < w)
		w = c->hold;
	return w;
}

/* Serves the events rev and the timers of c. */
static void
cl_io(struct cl *c, short rev, long long t)
{
	unsigned char	 b[SK_CHUNK];
	ssize_t		 n;
	int		 e;

	if (c->st == CS_CONN && rev != 0) {
		if ((e = sock_error(c->fd)) != 0) {
			cl_end(c, 'b', "connect: %s", strerror(e));
			return;
		}
		c->st = CS_UP;
		c->nextrd = t;
		c->probe = t + SK_PROBE;
		rev = POLLOUT;
	}
	if (c->st == CS_UP && (rev & (POLLOUT | POLLERR)) && cl_sending(c))
		if (cl_write(c) == -1)
			return;
	if (c->st == CS_UP && (rev & (POLLIN | POLLHUP | POLLERR)) &&
	    !(c->fl & CF_NOREAD) && !((c->fl & CF_WFIRST) && cl_sending(c))) {
		n = read(c->fd, b, (c->fl & CF_SLOW) ? SK_SLOWBYTES :
		    sizeof(b));
		if (n > 0) {
			c->nextrd = t + SK_SLOWTICK;
			if (cl_got(c, b, (size_t)n) == -1)
				return;
		} else if (n == 0) {
			cl_closed(c, 0);
			return;
		} else if (errno != EAGAIN && errno != EINTR) {
			cl_closed(c, errno);
			return;
		}
	}
	if (c->st == CS_UP && (c->fl & CF_NOREAD) &&
	    (rev & (POLLERR | POLLHUP))) {
		cl_closed(c, sock_error(c->fd));
		return;
	}
	/*
	 * A client that never reads would not see the proxy's end of file:
	 * once its request is out it writes a byte now and then, which
	 * fails soon after the proxy has closed.
	 */
	if (c->st == CS_UP && (c->fl & CF_NOREAD) && !cl_sending(c) &&
	    t >= c->probe) {
		c->probe = t + SK_PROBE;
		if (write(c->fd, ".", 1) == -1 && errno != EAGAIN &&
		    errno != EINTR) {
			cl_closed(c, errno);
			return;
		}
	}
	if (c->hold != 0 && t >= c->hold) {
		cl_end(c, c->kind == K_RSTREQ ? 'r' : 'o', NULL);
		return;
	}
	if (t >= c->dl) {
		if ((c->fl & CF_LONG) && stopping)
			cl_end(c, 'c', NULL);
		else
			cl_end(c, 'b', "timed out (%s)", c->st == CS_CONN ?
			    "connecting" : "no end from the proxy");
	}
}

/* Prints the figures of the run, one line per kind of client. */
static void
summary(long long t0)
{
	struct kstat	 tot;
	int		 k;
	unsigned long	 good = 0;

	memset(&tot, 0, sizeof(tot));
	printf("%-10s %9s %9s %6s %6s %14s\n", "kind", "started", "ok",
	    "bad", "cut", "bytes checked");
	for (k = 0; k < K_MAX; k++) {
		if (kst[k].started == 0)
			continue;
		printf("%-10s %9lu %9lu %6lu %6lu %14llu%s\n", kinfo[k].name,
		    kst[k].started, kst[k].ok, kst[k].bad, kst[k].cut,
		    kst[k].bytes, kinfo[k].good ? "  good" : "");
		tot.started += kst[k].started;
		tot.ok += kst[k].ok;
		tot.bad += kst[k].bad;
		tot.cut += kst[k].cut;
		tot.bytes += kst[k].bytes;
		if (kinfo[k].good)
			good += kst[k].ok;
	}
	printf("%-10s %9lu %9lu %6lu %6lu %14llu\n", "total", tot.started,
	    tot.ok, tot.bad, tot.cut, tot.bytes);
	printf("run: %lu connections in %.1f s, %lu good transfers "
	    "byte-exact, %llu bytes checked, %lu violations\n", tot.started,
	    (double)(now_ms() - t0) / 1000, good, tot.bytes, tot.bad);
}

/* The run command: returns 0, or 1 after a violation. */
static int
cmd_run(int argc, char **argv)
{
	struct cl	*cls;
	struct pollfd	*pfd;
	long long	 t0, end, t, w, wake, last;
	int		 conc = 100, nlong = 16, nforever = 4, ch, i, n, busy;
	int		 ntot, k;

	if (argc < 4)
		usage();
	pxlen = addr(argv[1], argv[2], &px);
	end = num(argv[3], 0, 86400, "SECS") * 1000;
	optind = 4;
	while ((ch = getopt(argc, argv, "c:e:f:l:o:r:s:x:")) != -1) {
		switch (ch) {
		case 'c':
			conc = (int)num(optarg, 1, 100000, "conc");
			break;
		case 'e':
			exclude(optarg, 0);
			break;
		case 'o':
			exclude(optarg, 1);
			break;
		case 'f':
			nforever = (int)num(optarg, 0, 100000, "forever");
			break;
		case 'l':
			nlong = (int)num(optarg, 0, 100000, "long");
			break;
		case 'r':
			route_ms = num(optarg, 0, 86400000, "route_ms");
			break;
		case 's':
			rng_state = (uint64_t)num(optarg, 1, LLONG_MAX,
			    "seed");
			break;
		case 'x':
			scale = (double)num(optarg, 1, 1000, "scale");
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	if (nforever > nlong)
		nlong = nforever;
	ntot = conc + nlong;
	if (fds_raise() < ntot + 16)
		die("descriptor limit too low for %d clients", ntot);
	signals();
	if ((cls = calloc((size_t)ntot, sizeof(*cls))) == NULL ||
	    (pfd = calloc((size_t)ntot, sizeof(*pfd))) == NULL)
		die("out of memory");
	for (i = 0; i < ntot; i++)
		cls[i].fd = -1;

	printf("run: %d clients at a time (%d long, %d of them forever), "
	    "%lld s, seed %" PRIu64 "\n", conc, nlong, nforever, end / 1000,
	    rng_state);
	fflush(stdout);
	t0 = last = now_ms();
	end += t0;
	for (;;) {
		t = now_ms();
		if (!stopping && (t >= end || gotterm)) {
			/* No new client; long ones end now. */
			stopping = 1;
			for (i = 0; i < ntot; i++)
				if (cls[i].st != CS_FREE &&
				    (cls[i].fl & CF_LONG))
					cl_end(&cls[i], 'c', NULL);
		}
		if (t >= last + 10000) {
			last = t;
			fprintf(stderr, "run: %.0f s, %lu connections, %d "
			    "violations\n", (double)(t - t0) / 1000, nextid,
			    nbad);
		}
		busy = 0;
		wake = stopping ? -1 : end;
		for (i = 0; i < ntot; i++) {
			if (cls[i].st == CS_FREE && !stopping &&
			    (k = pick(i >= conc,
			    i >= conc + nlong - nforever)) != -1)
				cl_start(&cls[i], k, i >= conc);
			pfd[i].fd = -1;
			pfd[i].revents = 0;
			if (cls[i].st == CS_FREE)
				continue;
			busy = 1;
			w = cl_events(&cls[i], &pfd[i], t);
			if (wake < 0 || w < wake)
				wake = w;
		}
		if (stopping && !busy)
			break;
		n = poll(pfd, (nfds_t)ntot, wait_for(wake));
		if (n == -1 && errno != EINTR)
			die("poll: %s", strerror(errno));
		t = now_ms();
		for (i = 0; i < ntot; i++)
			if (cls[i].st != CS_FREE && pfd[i].fd != -1)
				cl_io(&cls[i], pfd[i].revents, t);
	}
	summary(t0);
	free(cls);
	free(pfd);
	return nbad == 0 ? 0 : 1;
}

/*
 * flood: n connections that send nothing, each opened again when the
 * proxy closes it, for secs.
 */
static int
cmd_flood(int argc, char **argv)
{
	struct pollfd	*pfd;
	long long	*since, end, t;
	unsigned long	 opened = 0, closed = 0, failed = 0, pending = 0;
	unsigned long	 up = 0;
	char		 b[256];
	ssize_t		 r;
	int		 n, i;

	if (argc != 5)
		usage();
	pxlen = addr(argv[1], argv[2], &px);
	end = now_ms() + num(argv[3], 0, 86400, "SECS") * 1000;
	n = (int)num(argv[4], 1, 100000, "N");
	if (fds_raise() < n + 16)
		die("descriptor limit too low for %d connections", n);
	signals();
	if ((pfd = calloc((size_t)n, sizeof(*pfd))) == NULL ||
	    (since = calloc((size_t)n, sizeof(*since))) == NULL)
		die("out of memory");
	for (i = 0; i < n; i++)
		pfd[i].fd = -1;
	while (!gotterm && (t = now_ms()) < end) {
		for (i = 0; i < n; i++) {
			if (pfd[i].fd != -1)
				continue;
			if ((pfd[i].fd = connect_start(&px, pxlen, 0)) == -1) {
				failed++;
				continue;
			}
			opened++;
			since[i] = -t;	/* negative: connecting */
			pfd[i].events = POLLOUT;
		}
		if (poll(pfd, (nfds_t)n, wait_for(end)) == -1 &&
		    errno != EINTR)
			die("poll: %s", strerror(errno));
		t = now_ms();
		for (i = 0; i < n; i++) {
			if (pfd[i].fd == -1 || pfd[i].revents == 0)
				continue;
			if (since[i] < 0) {
				if (sock_error(pfd[i].fd) != 0) {
					failed++;
					close(pfd[i].fd);
					pfd[i].fd = -1;
					continue;
				}
				since[i] = t;
				up++;
				pfd[i].events = POLLIN;
				continue;
			}
			r = read(pfd[i].fd, b, sizeof(b));
			if (r > 0 || (r == -1 && (errno == EAGAIN ||
			    errno == EINTR)))
				continue;	/* a reply: dropped */
			closed++;
			close(pfd[i].fd);
			pfd[i].fd = -1;
		}
	}
	for (i = 0; i < n; i++)
		if (pfd[i].fd != -1) {
			if (since[i] < 0)
				pending++;
			close(pfd[i].fd);
		}
	printf("flood: %lu opened, %lu connected, %lu closed by the proxy, "
	    "%lu connect failures, %lu still connecting at the end\n",
	    opened, up, closed, failed, pending);
	free(pfd);
	free(since);
	return 0;
}

/*
 * xfer: one good echo transfer of nbytes, spread over secs: a chunk
 * every 20 ms.  Says "connected" once the first byte is back.
 */
static int
cmd_xfer(int argc, char **argv)
{
	unsigned char	 b[SK_CHUNK];
	struct pollfd	 p;
	uint64_t	 len, sent = 0, got = 0, seed, allow;
	long long	 t0, t, dl, now;
	size_t		 k;
	ssize_t		 r;
	int		 fd, said = 0, shut = 0;

	if (argc != 5)
		usage();
	pxlen = addr(argv[1], argv[2], &px);
	len = (uint64_t)num(argv[3], 0, 1LL << 40, "NBYTES");
	t = num(argv[4], 0, 86400, "SECS") * 1000;
	signals();
	seed = (uint64_t)getpid() * 7919 + (uint64_t)now_ms();
	t0 = now_ms();
	dl = t0 + 3 * t + 30000;
	if ((fd = connect_start(&px, pxlen, 0)) == -1)
		die("connect: %s", strerror(errno));
	p.fd = fd;
	while (!gotterm && (now = now_ms()) < dl) {
		/* The request, then the stream at an even pace. */
		allow = t == 0 || now - t0 >= t ? len :
		    (uint64_t)((double)len * (double)(now - t0) / (double)t);
		p.events = POLLIN;
		if (sent < 5 || sent - 5 < allow)
			p.events |= POLLOUT;
		p.revents = 0;
		if (poll(&p, 1, wait_for(sent < len + 5 ? now + 20 : dl)) ==
		    -1 && errno != EINTR)
			die("poll: %s", strerror(errno));
		if (p.revents & POLLOUT) {
			if (sent < 5)
				r = write(fd, &"xfer\n"[sent], 5 - sent);
			else {
				k = allow - (sent - 5) > sizeof(b) ?
				    sizeof(b) : (size_t)(allow - (sent - 5));
				stream_fill(seed, sent - 5, b, k);
				r = write(fd, b, k);
			}
			if (r > 0)
				sent += (uint64_t)r;
			else if (r == -1 && errno != EAGAIN) {
				printf("xfer: FAIL write after %" PRIu64
				    " bytes: %s\n", sent, strerror(errno));
				return 1;
			}
		}
		if (sent == len + 5 && !shut) {
			shut = 1;
			shutdown(fd, SHUT_WR);
		}
		if (!(p.revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		r = read(fd, b, sizeof(b));
		if (r == -1 && errno == EAGAIN)
			continue;
		if (r <= 0) {
			if (r == 0 && got == len + 5) {
				printf("xfer: ok %" PRIu64 " bytes back, "
				    "byte-exact, in %.1f s\n", len,
				    (double)(now_ms() - t0) / 1000);
				return 0;
			}
			printf("xfer: FAIL %s after %" PRIu64 " of %" PRIu64
			    " bytes\n", r == 0 ? "end of file" :
			    strerror(errno), got, len + 5);
			return 1;
		}
		for (k = 0; k < (size_t)r && got + k < 5; k++)
			if (b[k] != (unsigned char)"xfer\n"[got + k]) {
				printf("xfer: FAIL wrong byte at %" PRIu64
				    "\n", got + k);
				return 1;
			}
		if (got + (uint64_t)r > len + 5 ||
		    stream_check(seed, got + k - 5, b + k,
		    (size_t)r - k) < (size_t)r - k) {
			printf("xfer: FAIL stream corrupt near %" PRIu64 "\n",
			    got + k);
			return 1;
		}
		got += (uint64_t)r;
		if (!said) {
			said = 1;
			printf("connected\n");
			fflush(stdout);
		}
	}
	printf("xfer: FAIL timed out after %" PRIu64 " of %" PRIu64 " bytes "
	    "back\n", got, len + 5);
	return 1;
}

int
main(int argc, char *argv[])
{
	if (argc < 2)
		usage();
	if (strcmp(argv[1], "serve") == 0)
		return cmd_serve(argc - 1, argv + 1);
	if (strcmp(argv[1], "run") == 0)
		return cmd_run(argc - 1, argv + 1);
	if (strcmp(argv[1], "flood") == 0)
		return cmd_flood(argc - 1, argv + 1);
	if (strcmp(argv[1], "xfer") == 0)
		return cmd_xfer(argc - 1, argv + 1);
	usage();
	return 2;
}

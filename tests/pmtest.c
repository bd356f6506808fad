/*
 * pmtest: the C helper of the proxymachine tests.
 *
 * One binary with a subcommand per job, so that test.sh needs nothing
 * but a POSIX shell: loopback servers (a tagging echo backend, a flood
 * source, a listener whose connects hang) and clients (send a request
 * and print the reply, push a checked bulk stream, read slowly, hold
 * connections open).  Everything that could block waits in poll() with
 * a deadline, and the clients also arm alarm() as a backstop, so a test
 * never hangs.
 *
 * Servers fork a child per connection and print nothing on stdout.  On
 * SIGTERM or SIGINT a server kills its own children (by PID) and exits
 * 0; a child whose server has gone exits within a second by itself.
 *
 * Exit status: 0 success, 1 failed check (one line on stderr), 2 usage
 * error or a server that cannot bind.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <ctype.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PMT_CHUNK	65536		/* read and write size */
#define PMT_FLOODW	16384		/* flood write size */
#define PMT_TAGMAX	256		/* longest echo tag */
#define PMT_MAXKIDS	4096		/* children a server tracks */
#define PMT_BACKLOG	4096		/* listen(2) backlog of servers */
#define PMT_BHMAX	64		/* blackhole self-connects, at most */
#define PMT_BHPROBE	200		/* ms a hung connect is given */
#define PMT_SPECIAL_MS	100		/* ms to wait for "sleep N" to grow */
#define PMT_CONNECT_MS	10000		/* connect phase of slowread, hold */
#define PMT_MAXDATA	(256UL << 20)	/* largest send request */

struct cmd {
	const char	*name;
	const char	*args;
	int		(*fn)(int, char **);
};

struct prng {
	uint64_t	s;
	unsigned char	c[8];
	int		n;		/* bytes left in c */
};

static int	cmd_blackhole(int, char **);
static int	cmd_bulk(int, char **);
static int	cmd_echo(int, char **);
static int	cmd_flood(int, char **);
static int	cmd_freeport(int, char **);
static int	sock_port(int);
static int	port_take(const char *, int);
static void	prng_init(struct prng *);
static void	prng_fill(struct prng *, unsigned char *, size_t);
static int	cmd_closedport(int, char **);
static int	cmd_hold(int, char **);
static int	cmd_nc(int, char **);
static int	cmd_send(int, char **);
static int	cmd_slowread(int, char **);
static int	cmd_waitport(int, char **);
static int	cmd_logsink(int, char **);
static int	cmd_capture(int, char **);
static int	cmd_splits(int, char **);
static int	cmd_hello(int, char **);

static const struct cmd cmds[] = {
	{ "freeport", "[HOST]", cmd_freeport },
	{ "closedport", "HOST SECS", cmd_closedport },
	{ "waitport", "HOST PORT SECS", cmd_waitport },
	{ "echo", "HOST PORT [TAG] [-b | -e]", cmd_echo },
	{ "send", "HOST PORT DATA [-bkr] [-n COUNT] [-q MS] [-s SRC] "
	    "[-t SECS] [-w MS]", cmd_send },
	{ "bulk", "HOST PORT NBYTES [-p PREFIX] [-t SECS] [-s MS]", cmd_bulk },
	{ "flood", "HOST PORT COUNTFILE", cmd_flood },
	{ "slowread", "HOST PORT DATA SECS BYTES_PER_TICK", cmd_slowread },
	{ "blackhole", "HOST PORT", cmd_blackhole },
	{ "hold", "HOST PORT N DATA SECS", cmd_hold },
	{ "nc", "HOST PORT [-t SECS]", cmd_nc },
	{ "logsink", "PATH SECS", cmd_logsink },
	{ "capture", "HOST PORT FILE SECS", cmd_capture },
	{ "splits", "HOST PORT FILE [-d MS]", cmd_splits },
	{ "hello", "FILE SNI [-g] [-a ALPN] [-p PAD] [-r RECORD]", cmd_hello },
	{ NULL, NULL, NULL }
};

static const char help[] =
"HOST is a numeric IPv4 or IPv6 address; DATA takes the escapes\n"
"\\n \\r \\t \\0 \\\\ \\xHH; SECS may have a fraction.\n"
"\n"
"freeport   bind port 0 on HOST (default 127.0.0.1), print the port.\n"
"closedport the same without listening, and keep the port for SECS (0:\n"
"           no limit) or until the parent is gone: connects to it are\n"
"           refused, and nothing else can listen there meanwhile.\n"
"           With PMTEST_PORTS=LO-HI in the environment, both pick a\n"
"           free port at random in that range instead of port 0.\n"
"waitport   try to connect every 50 ms; exit 0 once it works, 1 after\n"
"           SECS.\n"
"echo       server: reply TAG: (default: PORT) and the first bytes,\n"
"           then echo; pass on the client's half-close.  A first\n"
"           request \"sleep N\" waits N s before the reply; \"close\"\n"
"           closes at once without a byte.  -b: write TAG:hello\\n on\n"
"           accept, before reading.  -e: say nothing until the\n"
"           client's end of file, then TAG: and what it sent (64 KiB\n"
"           at most) and close.  TAG @port: the client's port, as\n"
"           the server sees it.\n"
"send       send DATA, half-close (not with -k), print the reply raw\n"
"           until EOF.  -b a byte every 20 ms; -n repeat DATA COUNT\n"
"           times; -w wait MS before sending; -q close MS after\n"
"           sending, reading nothing; -s connect from address SRC;\n"
"           -r exit 0 only if the peer\n"
"           resets or closes without data; -t timeout (10 s) for\n"
"           the whole run, which prints TIMEOUT on stderr, exits 1.\n"
"bulk       stream NBYTES pseudo-random bytes (after PREFIX, for the\n"
"           router) through an echo server while reading; check the\n"
"           reply is TAG:, PREFIX and the same bytes; print\n"
"           bytes=NBYTES ok.  -t timeout (120 s).  -s: a slow reader,\n"
"           4 KiB receive buffer, MS ms of sleep after each read.\n"
"flood      server: discard input, write x bytes without end; every\n"
"           100 ms and at exit put the bytes this connection has\n"
"           written in COUNTFILE (the last writer wins).\n"
"slowread   send DATA with a 4 KiB SO_RCVBUF, read at most\n"
"           BYTES_PER_TICK bytes every 10 ms for SECS, print the total.\n"
"blackhole  listen with a full accept queue, so connects to it hang;\n"
"           give it 0.3 s to fill the queue before using it.\n"
"hold       open N connections, print \"connected N\", send DATA on\n"
"           each, read and discard for SECS, close them.\n"
"logsink    bind a Unix datagram socket at PATH (a stand-in for\n"
"           /dev/log) and print each datagram on a line, for SECS.\n"
"nc         copy standard input to the connection and the connection\n"
"           to standard output; half-close at the end of standard\n"
"           input (OpenBSD nc -N), exit 0 at the connection's end of\n"
"           file.  -t timeout (60 s).  For shells whose nc has no -N.\n"
"capture    server: accept clients until one sends a byte, keep what it\n"
"           sends until it is silent for 0.5 s (or ends, or 64 KiB),\n"
"           write it to FILE and close; exit 1 if none did within SECS.\n"
"splits     send the bytes of FILE to HOST PORT once whole, once cut\n"
"           at each offset from 1 to the end (the two parts MS ms\n"
"           apart, default 2, TCP_NODELAY) and once a byte every MS\n"
"           ms; read each reply up to its first ':' or newline, and\n"
"           print each distinct reply (\"(none)\" for an end without a\n"
"           byte) with its count.  A tagging echo backend tells which\n"
"           backend each way of sending reached.\n"
"hello      write a TLS ClientHello to FILE: server name SNI (- for\n"
"           none) in the last extension, after supported_versions,\n"
"           supported_groups, ALPN (-a, a comma-separated list) and a\n"
"           padding extension of PAD bytes (-p); -g adds GREASE (RFC\n"
"           8701): a cipher suite, an extension first and last, an\n"
"           ALPN protocol; the handshake goes in TLS records of\n"
"           RECORD bytes at most (-r, default 16384).\n";

static const struct cmd	*curcmd;
static volatile sig_atomic_t gotterm, gotchld;
static pid_t		 srvpid;	/* the server, seen by its children */
static pid_t		 kids[PMT_MAXKIDS];	/* 0: free slot */
static int		 nkids;
static const char	*echotag;
static const char	*srcaddr;	/* send -s: connect from it */
static int		 echobanner;
static int		 echoateof;
static const char	*countfile;

/* Prints every synopsis and exits 2. */
static void
usage(void)
{
	const struct cmd *c;

	for (c = cmds; c->name != NULL; c++)
		fprintf(stderr, "%s pmtest %s %s\n",
		    c == cmds ? "usage:" : "      ", c->name, c->args);
	exit(2);
}

/* Prints the synopsis of the current subcommand and exits 2. */
static void
usage_cmd(void)
{
	fprintf(stderr, "usage: pmtest %s %s\n", curcmd->name, curcmd->args);
	exit(2);
}

/* Reports a bad argument on one line and exits 2. */
static void
badarg(const char *what, const char *s)
{
	fprintf(stderr, "pmtest %s: bad %s: '%s'\n", curcmd->name, what, s);
	exit(2);
}

/* Returns the decimal integer s, which must lie in [min, max]. */
static long long
num_arg(const char *s, long long min, long long max, const char *what)
{
	char		*end;
	long long	 v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0 || v < min || v > max)
		badarg(what, s);
	return v;
}

/* Returns the seconds in s (a fraction is allowed) as milliseconds. */
static long long
secs_arg(const char *s, const char *what)
{
	char	*end;
	double	 v;

	errno = 0;
	v = strtod(s, &end);
	if (*s == '\0' || *end != '\0' || errno != 0 ||
	    !(v >= 0 && v <= 1e6))
		badarg(what, s);
	return (long long)(v * 1000 + 0.5);
}

/* Returns the port string s after checking its range. */
static const char *
port_arg(const char *s)
{
	num_arg(s, 0, 65535, "port");
	return s;
}

/* Returns the monotonic clock in milliseconds. */
static long long
now_ms(void)
{
	struct timespec	ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) == -1)
		err(1, "clock_gettime");
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Returns the poll timeout until deadline dl, 0 once it has passed. */
static int
ms_left(long long dl)
{
	long long	left;

	left = dl - now_ms();
	if (left <= 0)
		return 0;
	return left > INT_MAX ? INT_MAX : (int)left;
}

/* Sleeps until deadline dl. */
static void
sleep_until(long long dl)
{
	while (now_ms() < dl)
		poll(NULL, 0, ms_left(dl));
}

/* Installs fn for sig, without SA_RESTART so that poll() wakes up. */
static void
sig_set(int sig, void (*fn)(int))
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = fn;
	sigemptyset(&sa.sa_mask);
	if (sigaction(sig, &sa, NULL) == -1)
		err(2, "sigaction");
}

static void
on_term(int sig)
{
	(void)sig;
	gotterm = 1;
}

static void
on_chld(int sig)
{
	(void)sig;
	gotchld = 1;
}

/* The client backstop: says TIMEOUT and exits 1. */
static void
on_alarm(int sig)
{
	static const char msg[] = "TIMEOUT (alarm)\n";
	ssize_t		 r;

	(void)sig;
	r = write(STDERR_FILENO, msg, sizeof(msg) - 1);
	(void)r;
	_exit(1);
}

/* Arms the alarm backstop a few seconds after ms milliseconds. */
static void
backstop(long long ms)
{
	long long	secs;

	secs = ms / 1000 + 5;
	sig_set(SIGALRM, on_alarm);
	alarm(secs > 100000000 ? 100000000 : (unsigned int)secs);
}

/*
 * Expands \n \r \t \0 \\ and \xHH in s.  Returns a new buffer and
 * stores its length in *lenp; exits 2 on a bad escape.
 */
static unsigned char *
unescape(const char *s, size_t *lenp)
{
	unsigned char	*buf, *p;
	const char	*hex = "0123456789abcdef", *h;
	int		 v, i;

	if ((buf = malloc(strlen(s) + 1)) == NULL)
		err(1, NULL);
	for (p = buf; *s != '\0'; s++) {
		if (*s != '\\') {
			*p++ = (unsigned char)*s;
			continue;
		}
		switch (*++s) {
		case 'n':
			*p++ = '\n';
			break;
		case 'r':
			*p++ = '\r';
			break;
		case 't':
			*p++ = '\t';
			break;
		case '0':
			*p++ = '\0';
			break;
		case '\\':
			*p++ = '\\';
			break;
		case 'x':
			for (v = 0, i = 0; i < 2 &&
			    isxdigit((unsigned char)s[1]); i++, s++) {
				h = strchr(hex, tolower((unsigned char)s[1]));
				v = v * 16 + (int)(h - hex);
			}
			if (i == 0)
				badarg("escape in DATA", "\\x");
			*p++ = (unsigned char)v;
			break;
		default:
			badarg("escape in DATA", s[0] == '\0' ? "\\" : s - 1);
		}
	}
	*lenp = (size_t)(p - buf);
	return buf;
}

/* Writes all n bytes to stdout; exits 1 on error. */
static void
out_write(const void *p, size_t n)
{
	const unsigned char	*b = p;
	ssize_t			 w;

	while (n > 0) {
		if ((w = write(STDOUT_FILENO, b, n)) == -1) {
			if (errno == EINTR)
				continue;
			err(1, "stdout");
		}
		b += w;
		n -= (size_t)w;
	}
}

/* Returns the addresses of the numeric host and port; exits 2 if bad. */
static struct addrinfo *
resolve(const char *host, const char *port, int passive)
{
	struct addrinfo	 hints, *res;
	int		 e;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	if (passive)
		hints.ai_flags |= AI_PASSIVE;
	if ((e = getaddrinfo(host, port, &hints, &res)) != 0) {
		fprintf(stderr, "pmtest %s: %s %s: %s\n", curcmd->name,
		    host, port, gai_strerror(e));
		exit(2);
	}
	return res;
}

/* Makes fd nonblocking; exits 1 on error. */
static void
set_nonblock(int fd)
{
	int	fl;

	if ((fl = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1)
		err(1, "fcntl");
}

/*
 * Waits until fd reports one of events, or deadline dl passes.
 * Returns the revents, or 0 on timeout.
 */
static int
wait_fd(int fd, short events, long long dl)
{
	struct pollfd	pfd;
	int		n;

	for (;;) {
		if (now_ms() >= dl)
			return 0;
		pfd.fd = fd;
		pfd.events = events;
		pfd.revents = 0;
		n = poll(&pfd, 1, ms_left(dl));
		if (n == -1 && errno != EINTR)
			err(1, "poll");
		if (n > 0)
			return pfd.revents;
	}
}

/*
 * Starts a nonblocking connect to sa; rcvbuf > 0 sets SO_RCVBUF first.
 * Returns the socket, connected or in progress, or -1 with errno set.
 */
static int
conn_start(const struct sockaddr *sa, socklen_t salen, int rcvbuf)
{
	int	fd, save;

	if ((fd = socket(sa->sa_family, SOCK_STREAM, 0)) == -1)
		return -1;
	if (rcvbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf,
	    sizeof(rcvbuf)) == -1)
		goto fail;
	if (srcaddr != NULL) {
		struct addrinfo	*src = resolve(srcaddr, "0", 0);

		if (bind(fd, src->ai_addr, src->ai_addrlen) == -1) {
			freeaddrinfo(src);
			goto fail;
		}
		freeaddrinfo(src);
	}
	set_nonblock(fd);
	if (connect(fd, sa, salen) == -1 && errno != EINPROGRESS &&
	    errno != EINTR)
		goto fail;
	return fd;
fail:
	save = errno;
	close(fd);
	errno = save;
	return -1;
}

/* Returns 0 if the connect on fd succeeded, or -1 with errno set. */
static int
conn_result(int fd)
{
	socklen_t	len;
	int		e;

	e = 0;
	len = sizeof(e);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) == -1)
		return -1;
	if (e != 0) {
		errno = e;
		return -1;
	}
	return 0;
}

/*
 * Connects to host:port before deadline dl, with SO_RCVBUF rcvbuf if
 * positive.  Returns the nonblocking socket, or exits 1.
 */
static int
tcp_connect(const char *host, const char *port, int rcvbuf, long long dl)
{
	struct addrinfo	*ai;
	int		 fd;

	ai = resolve(host, port, 0);
	fd = conn_start(ai->ai_addr, ai->ai_addrlen, rcvbuf);
	freeaddrinfo(ai);
	if (fd == -1)
		err(1, "connect %s %s", host, port);
	if (wait_fd(fd, POLLOUT, dl) == 0) {
		fprintf(stderr, "TIMEOUT connecting to %s %s\n", host, port);
		exit(1);
	}
	if (conn_result(fd) == -1)
		err(1, "connect %s %s", host, port);
	return fd;
}

/*
 * Writes all n bytes to the nonblocking fd before deadline dl.
 * Returns 0, or -1 with errno set (ETIMEDOUT on timeout).
 */
static int
write_all(int fd, const void *p, size_t n, long long dl)
{
	const unsigned char	*b = p;
	ssize_t			 w;

	while (n > 0) {
		if ((w = write(fd, b, n)) == -1) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				return -1;
			if (wait_fd(fd, POLLOUT, dl) == 0) {
				errno = ETIMEDOUT;
				return -1;
			}
			continue;
		}
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Binds and listens on host:port with SO_REUSEADDR.  Returns the socket. */
static int
srv_listen(const char *host, const char *port, int backlog)
{
	struct addrinfo	*ai;
	int		 fd, on = 1;

	ai = resolve(host, port, 1);
	if ((fd = socket(ai->ai_family, ai->ai_socktype,
	    ai->ai_protocol)) == -1)
		err(2, "socket");
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1)
		err(2, "SO_REUSEADDR");
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) == -1)
		err(2, "bind %s %s", host, port);
	if (listen(fd, backlog) == -1)
		err(2, "listen %s %s", host, port);
	freeaddrinfo(ai);
	return fd;
}

/* Reaps the children that have exited. */
static void
kids_reap(void)
{
	pid_t	pid;
	int	i;

	gotchld = 0;
	while ((pid = waitpid(-1, NULL, WNOHANG)) > 0)
		for (i = 0; i < PMT_MAXKIDS; i++)
			if (kids[i] == pid) {
				kids[i] = 0;
				nkids--;
				break;
			}
}

/* Records the child pid, so that SIGTERM can kill it. */
static void
kids_add(pid_t pid)
{
	int	i;

	for (i = 0; i < PMT_MAXKIDS; i++)
		if (kids[i] == 0) {
			kids[i] = pid;
			nkids++;
			return;
		}
	warnx("more than %d children: %ld is not tracked", PMT_MAXKIDS,
	    (long)pid);
}

/* Kills the children (TERM, then KILL after 2 s) and exits 0. */
static void
kids_kill(void)
{
	long long	dl;
	int		i;

	for (i = 0; i < PMT_MAXKIDS; i++)
		if (kids[i] != 0)
			kill(kids[i], SIGTERM);
	dl = now_ms() + 2000;
	while (nkids > 0 && now_ms() < dl) {
		kids_reap();
		if (nkids > 0)
			poll(NULL, 0, 20);
	}
	for (i = 0; i < PMT_MAXKIDS; i++)
		if (kids[i] != 0) {
			kill(kids[i], SIGKILL);
			waitpid(kids[i], NULL, 0);
		}
	exit(0);
}

/*
 * Serves host:port, forking a child that runs child(fd) for each
 * connection.  Returns never: exits 0 on SIGTERM or SIGINT.
 */
static void
serve(const char *host, const char *port, void (*child)(int))
{
	struct pollfd	pfd;
	pid_t		pid;
	int		lfd, fd;

	lfd = srv_listen(host, port, PMT_BACKLOG);
	set_nonblock(lfd);
	srvpid = getpid();
	sig_set(SIGTERM, on_term);
	sig_set(SIGINT, on_term);
	sig_set(SIGCHLD, on_chld);
	for (;;) {
		kids_reap();
		if (gotterm)
			kids_kill();
		pfd.fd = lfd;
		pfd.events = POLLIN;
		pfd.revents = 0;
		if (poll(&pfd, 1, 200) <= 0)
			continue;
		if ((fd = accept(lfd, NULL, NULL)) == -1) {
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				warn("accept");
				poll(NULL, 0, 100);
			}
			continue;
		}
		if ((pid = fork()) == -1) {
			warn("fork");
			close(fd);
			continue;
		}
		if (pid == 0) {
			close(lfd);
			sig_set(SIGTERM, SIG_DFL);
			sig_set(SIGINT, SIG_DFL);
			sig_set(SIGCHLD, SIG_DFL);
			if (gotterm)
				_exit(0);
			set_nonblock(fd);
			child(fd);
			exit(0);
		}
		kids_add(pid);
		close(fd);
	}
}

/*
 * Waits in a server child for events on fd (-1: just sleep), ms at
 * most (-1: no limit); exits if the server has gone.  Returns the
 * revents, or 0 on timeout.
 */
static int
kid_wait(int fd, short events, int ms)
{
	struct pollfd	pfd;
	long long	dl;
	int		n, t;

	dl = ms < 0 ? -1 : now_ms() + ms;
	for (;;) {
		if (getppid() != srvpid)
			exit(0);
		t = 1000;
		if (dl >= 0 && ms_left(dl) < t)
			t = ms_left(dl);
		pfd.fd = fd;
		pfd.events = events;
		pfd.revents = 0;
		n = poll(&pfd, 1, t);
		if (n == -1 && errno != EINTR)
			err(1, "poll");
		if (n > 0)
			return pfd.revents;
		if (dl >= 0 && now_ms() >= dl)
			return 0;
	}
}

/*
 * Reads at most n bytes from fd in a server child, waiting ms at most
 * (-1: no limit).  Returns the count, 0 at EOF, -1 on error, with
 * errno EAGAIN on timeout.
 */
static ssize_t
kid_read(int fd, void *p, size_t n, int ms)
{
	ssize_t	r;

	for (;;) {
		if ((r = read(fd, p, n)) >= 0)
			return r;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -1;
		if (kid_wait(fd, POLLIN, ms) == 0) {
			errno = EAGAIN;
			return -1;
		}
	}
}

/* Writes all n bytes to fd in a server child.  Returns 0, or -1. */
static int
kid_write(int fd, const void *p, size_t n)
{
	const unsigned char	*b = p;
	ssize_t			 w;

	while (n > 0) {
		if ((w = write(fd, b, n)) == -1) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				return -1;
			kid_wait(fd, POLLOUT, -1);
			continue;
		}
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

enum special { SP_NONE, SP_MAYBE, SP_CLOSE, SP_SLEEP };

/*
 * Returns what the first n bytes b of a request are: "close", "sleep N"
 * (which may still grow a digit), a prefix of either, or neither.
 */
static enum special
special(const unsigned char *b, size_t n)
{
	static const char	cl[] = "close", sl[] = "sleep ";
	size_t			i;

	if (n <= 5 && memcmp(b, cl, n) == 0)
		return n == 5 ? SP_CLOSE : SP_MAYBE;
	if (n <= 6 && memcmp(b, sl, n) == 0)
		return SP_MAYBE;
	if (n > 12 || memcmp(b, sl, 6) != 0)
		return SP_NONE;
	for (i = 6; i < n; i++)
		if (b[i] < '0' || b[i] > '9')
			return SP_NONE;
	return SP_SLEEP;
}

/* Serves one echo connection on fd.  Returns never. */
static void
echo_child(int fd)
{
	static unsigned char	 buf[PMT_TAGMAX + 2 + PMT_CHUNK];
	unsigned char		*data;
	enum special		 sp;
	struct sockaddr_storage	 ss;
	socklen_t		 sslen = sizeof(ss);
	size_t			 taglen, n;
	ssize_t			 r;
	char			 hello[PMT_TAGMAX + 8], port[8];

	if (strcmp(echotag, "@port") == 0) {
		if (getpeername(fd, (struct sockaddr *)&ss, &sslen) == -1)
			exit(0);
		snprintf(port, sizeof(port), "%u", ntohs(ss.ss_family ==
		    AF_INET ? ((struct sockaddr_in *)&ss)->sin_port :
		    ((struct sockaddr_in6 *)&ss)->sin6_port));
		echotag = port;
	}
	taglen = strlen(echotag);
	memcpy(buf, echotag, taglen);
	buf[taglen++] = ':';
	data = buf + taglen;
	if (echobanner) {
		n = (size_t)snprintf(hello, sizeof(hello), "%s:hello\n",
		    echotag);
		if (kid_write(fd, hello, n) == -1)
			exit(0);
	}

	if (echoateof) {
		/* Nothing until the end of file, then all of it. */
		n = 0;
		while (n < PMT_CHUNK &&
		    (r = kid_read(fd, data + n, PMT_CHUNK - n, -1)) > 0)
			n += (size_t)r;
		if (r == 0)
			(void)kid_write(fd, buf, taglen + n);
		goto done;
	}

	/* Gather the first bytes while they may be a special request. */
	if ((r = kid_read(fd, data, PMT_CHUNK, -1)) <= 0)
		goto done;
	n = (size_t)r;
	while ((sp = special(data, n)) != SP_NONE && n < 16) {
		r = kid_read(fd, data + n, 16 - n, PMT_SPECIAL_MS);
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	if (sp == SP_CLOSE) {
		close(fd);
		exit(0);
	}
	if (sp == SP_SLEEP) {
		data[n] = '\0';
		kid_wait(-1, 0, atoi((char *)data + 6) * 1000);
	}
	if (kid_write(fd, buf, taglen + n) == -1)
		exit(0);
	if (r == 0)
		goto done;

	while ((r = kid_read(fd, data, PMT_CHUNK, -1)) > 0)
		if (kid_write(fd, data, (size_t)r) == -1)
			exit(0);
done:
	if (r == 0)
		shutdown(fd, SHUT_WR);
	close(fd);
	exit(0);
}

static int
cmd_echo(int argc, char **argv)
{
	const char	*host, *port;

	if (argc < 3 || argc > 5)
		usage_cmd();
	host = argv[1];
	port = port_arg(argv[2]);
	echotag = port;
	if (argc >= 4 && strcmp(argv[argc - 1], "-b") == 0) {
		echobanner = 1;
		argc--;
	} else if (argc >= 4 && strcmp(argv[argc - 1], "-e") == 0) {
		echoateof = 1;
		argc--;
	}
	if (argc == 5)
		usage_cmd();
	if (argc == 4)
		echotag = argv[3];
	if (strlen(echotag) > PMT_TAGMAX)
		badarg("TAG (too long)", echotag);
	serve(host, port, echo_child);
	return 0;
}

/* Puts total in COUNTFILE through a temporary file and rename(2). */
static void
count_write(unsigned long long total)
{
	char	tmp[4096], num[32];
	int	fd, n;

	n = snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", countfile,
	    (long)getpid());
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		warnx("%s: name too long", countfile);
		return;
	}
	n = snprintf(num, sizeof(num), "%llu\n", total);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644)) == -1) {
		warn("%s", tmp);
		return;
	}
	if (write(fd, num, (size_t)n) != n) {
		warn("%s", tmp);
		close(fd);
		unlink(tmp);
		return;
	}
	close(fd);
	if (rename(tmp, countfile) == -1) {
		warn("rename %s", countfile);
		unlink(tmp);
	}
}

/* Serves one flood connection on fd.  Returns never. */
static void
flood_child(int fd)
{
	static unsigned char	 xs[PMT_FLOODW], junk[PMT_CHUNK];
	struct pollfd		 pfd;
	unsigned long long	 total;
	long long		 tick;
	ssize_t			 r;
	int			 rd, i;

	sig_set(SIGTERM, on_term);
	sig_set(SIGINT, on_term);
	memset(xs, 'x', sizeof(xs));
	total = 0;
	rd = 1;
	count_write(total);
	tick = now_ms() + 100;
	while (!gotterm && getppid() == srvpid) {
		if (now_ms() >= tick) {
			count_write(total);
			tick = now_ms() + 100;
		}
		pfd.fd = fd;
		pfd.events = POLLOUT | (rd ? POLLIN : 0);
		pfd.revents = 0;
		if (poll(&pfd, 1, ms_left(tick)) <= 0)
			continue;
		if (rd && (pfd.revents & (POLLIN | POLLHUP | POLLERR))) {
			r = read(fd, junk, sizeof(junk));
			if (r == 0)
				rd = 0;
			else if (r == -1 && errno != EAGAIN &&
			    errno != EWOULDBLOCK && errno != EINTR)
				break;
		}
		if (!(pfd.revents & (POLLOUT | POLLHUP | POLLERR)))
			continue;
		for (i = 0; i < 64; i++) {
			if ((r = write(fd, xs, sizeof(xs))) > 0) {
				total += (unsigned long long)r;
				continue;
			}
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR)
				goto out;
			break;
		}
	}
out:
	count_write(total);
	close(fd);
	exit(0);
}

static int
cmd_flood(int argc, char **argv)
{
	if (argc != 4)
		usage_cmd();
	countfile = argv[3];
	serve(argv[1], port_arg(argv[2]), flood_child);
	return 0;
}

/* The port a socket is bound to. */
static int
sock_port(int fd)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len;

	len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1)
		err(2, "getsockname");
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

/*
 * A socket bound to a free port of host, listening if dolisten: the
 * kernel's pick (from its range for local ports), or with PMTEST_PORTS
 * set to LO-HI, a port picked at random in that range.  No SO_REUSEADDR
 * there, so a port still in TIME_WAIT is passed over too.
 */
static int
port_take(const char *host, int dolisten)
{
	struct addrinfo	*ai;
	struct prng	 p;
	const char	*range;
	unsigned char	 b[4];
	long		 lo, hi, port;
	char		 c, pbuf[8];
	int		 fd, i;

	range = getenv("PMTEST_PORTS");
	if (range == NULL || *range == '\0')
		lo = hi = 0;
	else if (sscanf(range, "%ld-%ld%c", &lo, &hi, &c) != 2 || lo < 1 ||
	    hi > 65535 || lo > hi)
		errx(2, "PMTEST_PORTS is LO-HI (1-65535), not '%s'", range);
	prng_init(&p);
	p.s ^= (uint64_t)now_ms() << 20 ^ (uint64_t)getpid();
	for (i = 0; i < 1000; i++) {
		prng_fill(&p, b, sizeof(b));
		port = lo + (long)(((unsigned long)b[0] << 24 |
		    (unsigned long)b[1] << 16 | b[2] << 8 | b[3]) %
		    (unsigned long)(hi - lo + 1));
		snprintf(pbuf, sizeof(pbuf), "%ld", port);
		ai = resolve(host, pbuf, 1);
		if ((fd = socket(ai->ai_family, ai->ai_socktype,
		    ai->ai_protocol)) == -1)
			err(2, "socket");
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    (!dolisten || listen(fd, 1) == 0)) {
			freeaddrinfo(ai);
			return fd;
		}
		if (errno != EADDRINUSE)
			err(2, "bind %s %s", host, pbuf);
		close(fd);
		freeaddrinfo(ai);
	}
	errx(2, "no free port %s %s", lo == 0 ? "from the kernel on" :
	    "in PMTEST_PORTS for", host);
	return -1;			/* not reached (for tcc) */
}

/*
 * A free port.  A suite run beside another (CI runs the mipsel suite
 * beside the rest) gets a range of its own outside the kernel's (Linux's
 * is 32768-60999 unless set otherwise), where neither the other suite's
 * servers nor any connection's local port can take the port between its
 * print and the server's bind.
 */
static int
cmd_freeport(int argc, char **argv)
{
	int	fd;

	if (argc > 2)
		usage_cmd();
	fd = port_take(argc == 2 ? argv[1] : "127.0.0.1", 1);
	printf("%d\n", sock_port(fd));
	close(fd);
	return 0;
}

/*
 * A port where connects are refused for as long as this runs: bound and
 * not listening.  Without SO_REUSEADDR here no other socket can bind that
 * address and port (on Linux not even with SO_REUSEADDR; elsewhere one
 * with it may bind the wildcard address, and the bound address still
 * wins a connect), so a suite running beside this one cannot start a
 * server on a port a test counts on being refused, as it could on a port
 * from freeport, free again the moment it is printed.  It ends after SECS
 * (0: no limit) or once its parent, the suite, is gone.
 */
static int
cmd_closedport(int argc, char **argv)
{
	long long	 dl, left;
	pid_t		 parent;
	int		 fd;

	if (argc != 3)
		usage_cmd();
	left = secs_arg(argv[2], "SECS");
	dl = left > 0 ? now_ms() + left : 0;
	parent = getppid();
	fd = port_take(argv[1], 0);
	printf("%d\n", sock_port(fd));
	if (fflush(stdout) == EOF)
		err(2, "stdout");
	while (getppid() == parent && (dl == 0 || now_ms() < dl))
		(void)poll(NULL, 0, 500);
	close(fd);
	return 0;
}

/* Prints every datagram sent to a Unix socket at PATH, for SECS. */
static int
cmd_logsink(int argc, char **argv)
{
	struct sockaddr_un	 sun;
	struct pollfd		 p;
	char			 buf[4096];
	long long		 dl;
	ssize_t			 n;
	int			 fd;

	if (argc != 3)
		usage_cmd();
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(argv[1]) >= sizeof(sun.sun_path))
		badarg("PATH (too long)", argv[1]);
	strcpy(sun.sun_path, argv[1]);
	dl = now_ms() + secs_arg(argv[2], "SECS");
	(void)unlink(argv[1]);
	if ((fd = socket(AF_UNIX, SOCK_DGRAM, 0)) == -1 ||
	    bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1)
		err(2, "%s", argv[1]);
	setvbuf(stdout, NULL, _IOLBF, 0);
	while (now_ms() < dl && !gotterm) {
		p.fd = fd;
		p.events = POLLIN;
		if (poll(&p, 1, ms_left(dl)) <= 0)
			continue;
		if ((n = recv(fd, buf, sizeof(buf) - 1, 0)) > 0) {
			buf[n] = '\0';
			printf("%s\n", buf);
		}
	}
	(void)unlink(argv[1]);
	return 0;
}

static int
cmd_waitport(int argc, char **argv)
{
	struct addrinfo	*ai;
	long long	 dl, adl, ms;
	int		 fd;

	if (argc != 4)
		usage_cmd();
	ai = resolve(argv[1], port_arg(argv[2]), 0);
	ms = secs_arg(argv[3], "SECS");
	backstop(ms);
	dl = now_ms() + ms;
	for (;;) {
		/* Even SECS 0 gets one try. */
		adl = now_ms() + 100 > dl ? now_ms() + 100 : dl;
		fd = conn_start(ai->ai_addr, ai->ai_addrlen, 0);
		if (fd != -1) {
			if (wait_fd(fd, POLLOUT, adl) != 0 &&
			    conn_result(fd) == 0)
				return 0;
			close(fd);
		}
		if (now_ms() >= dl)
			break;
		sleep_until(now_ms() + 50 < dl ? now_ms() + 50 : dl);
	}
	fprintf(stderr, "pmtest waitport: %s %s not up after %s s\n",
	    argv[1], argv[2], argv[3]);
	return 1;
}

/*
 * The send client.  A single poll loop sends (paced with -b) and reads
 * at once, so a reply that comes before the request is done is kept;
 * after EOF it goes on sending, as the peer may only have half-closed.
 */
static int
cmd_send(int argc, char **argv)
{
	static unsigned char	 buf[PMT_CHUNK];
	struct pollfd		 pfd;
	unsigned char		*one, *data;
	size_t			 onelen, total, off, got, i;
	long long		 tmo, wms, qms, count, dl, tstart, tnext;
	long long		 tclose, now, wake;
	ssize_t			 r;
	int			 bflag, kflag, rflag, qflag, ch, fd;
	int			 eof, rerr, wdone, shut;

	if (argc < 4)
		usage_cmd();
	bflag = kflag = rflag = qflag = 0;
	tmo = 10000;
	wms = qms = 0;
	count = 1;
	opterr = 0;
	while ((ch = getopt(argc - 3, argv + 3, "bkn:q:rs:t:w:")) != -1) {
		switch (ch) {
		case 'b':
			bflag = 1;
			break;
		case 'k':
			kflag = 1;
			break;
		case 'n':
			count = num_arg(optarg, 1, 1000000000, "COUNT");
			break;
		case 'q':
			qflag = 1;
			qms = num_arg(optarg, 0, 100000000, "MS");
			break;
		case 'r':
			rflag = 1;
			break;
		case 's':
			srcaddr = optarg;
			break;
		case 't':
			tmo = secs_arg(optarg, "SECS");
			break;
		case 'w':
			wms = num_arg(optarg, 0, 100000000, "MS");
			break;
		default:
			usage_cmd();
		}
	}
	if (optind != argc - 3)
		usage_cmd();
	port_arg(argv[2]);

	one = unescape(argv[3], &onelen);
	if (onelen > 0 && (unsigned long long)count > PMT_MAXDATA / onelen)
		badarg("COUNT (request over 256 MiB)", argv[3]);
	total = onelen * (size_t)count;
	if ((data = malloc(total + 1)) == NULL)
		err(1, NULL);
	for (i = 0; i < total; i += onelen)
		memcpy(data + i, one, onelen);
	free(one);

	backstop(tmo);
	dl = now_ms() + tmo;
	fd = tcp_connect(argv[1], argv[2], 0, dl);
	tstart = now_ms() + wms;
	tnext = 0;
	tclose = -1;
	off = got = 0;
	eof = rerr = wdone = shut = 0;
	for (;;) {
		now = now_ms();
		if (off == total || rerr != 0)
			wdone = 1;
		if (wdone && !shut) {
			shut = 1;
			if (!kflag && rerr == 0)
				shutdown(fd, SHUT_WR);
			if (qflag)
				tclose = now + qms;
		}
		if (tclose >= 0 && now >= tclose) {
			close(fd);
			free(data);
			return 0;
		}
		if (wdone && !qflag && (eof || rerr != 0))
			break;
		if (now >= dl) {
			fprintf(stderr, "TIMEOUT\n");
			free(data);
			return 1;
		}

		pfd.fd = fd;
		pfd.events = 0;
		pfd.revents = 0;
		wake = dl;
		if (!qflag && !eof && rerr == 0)
			pfd.events |= POLLIN;
		if (!wdone) {
			if (now >= tstart && now >= tnext)
				pfd.events |= POLLOUT;
			else
				wake = tstart > tnext ? tstart : tnext;
		}
		if (tclose >= 0 && tclose < wake)
			wake = tclose;
		if (poll(&pfd, pfd.events != 0, ms_left(wake)) == -1) {
			if (errno == EINTR)
				continue;
			err(1, "poll");
		}

		if ((pfd.events & POLLIN) &&
		    (pfd.revents & (POLLIN | POLLHUP | POLLERR))) {
			if ((r = read(fd, buf, sizeof(buf))) > 0) {
				out_write(buf, (size_t)r);
				got += (size_t)r;
			} else if (r == 0)
				eof = 1;
			else if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR)
				rerr = errno;
		}
		if ((pfd.events & POLLOUT) &&
		    (pfd.revents & (POLLOUT | POLLHUP | POLLERR))) {
			r = write(fd, data + off, bflag ? 1 : total - off);
			if (r > 0) {
				off += (size_t)r;
				if (bflag)
					tnext = now_ms() + 20;
			} else if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR)
				wdone = 1;
		}
	}
	close(fd);
	if (rflag) {
		if (got == 0) {
			free(data);
			return 0;
		}
		fprintf(stderr, "pmtest send: got %zu bytes, expected a "
		    "reset\n", got);
		free(data);
		return 1;
	}
	if (rerr != 0) {
		errno = rerr;
		err(1, "read (after %zu bytes)", got);
	}
	free(data);
	return 0;
}

/* Seeds the pseudo-random stream of bulk. */
static void
prng_init(struct prng *p)
{
	p->s = 0x9e3779b97f4a7c15ULL;
	p->n = 0;
}

/* Fills buf with the next n bytes of the stream (xorshift64*). */
static void
prng_fill(struct prng *p, unsigned char *buf, size_t n)
{
	uint64_t	v;
	int		i;

	while (n > 0) {
		if (p->n == 0) {
			p->s ^= p->s >> 12;
			p->s ^= p->s << 25;
			p->s ^= p->s >> 27;
			v = p->s * 0x2545f4914f6cdd1dULL;
			for (i = 0; i < 8; i++)
				p->c[i] = (unsigned char)(v >> (8 * i));
			p->n = 8;
		}
		*buf++ = p->c[8 - p->n--];
		n--;
	}
}

/*
 * Fills buf with bytes [pos, pos + n) of the bulk stream: the prefix
 * pre, then the pseudo-random bytes of p.
 */
static void
bulk_fill(struct prng *p, const unsigned char *pre, size_t plen,
    unsigned long long pos, unsigned char *buf, size_t n)
{
	for (; n > 0 && pos < plen; n--)
		*buf++ = pre[pos++];
	prng_fill(p, buf, n);
}

/*
 * The bulk client.  It writes and reads in one poll loop, so neither
 * side can block the other, and checks the reply as it comes: TAG:,
 * then the prefix and the stream it sent.
 */
static int
cmd_bulk(int argc, char **argv)
{
	static unsigned char	 tbuf[PMT_CHUNK], rbuf[PMT_CHUNK];
	static unsigned char	 want[PMT_CHUNK];
	struct prng		 tx, rx;
	unsigned long long	 nbytes, total, sent, matched;
	unsigned char		*p, *pre;
	size_t			 toff, tlen, n, k, i, taglen, plen;
	long long		 tmo, dl;
	ssize_t			 r;
	int			 ch, fd, ev, shut, intag, nap;

	if (argc < 4)
		usage_cmd();
	tmo = 120000;
	nap = 0;
	pre = NULL;
	plen = 0;
	opterr = 0;
	while ((ch = getopt(argc - 3, argv + 3, "p:s:t:")) != -1) {
		switch (ch) {
		case 'p':
			free(pre);
			pre = unescape(optarg, &plen);
			break;
		case 's':
			nap = (int)num_arg(optarg, 1, 1000, "MS");
			break;
		case 't':
			tmo = secs_arg(optarg, "SECS");
			break;
		default:
			usage_cmd();
		}
	}
	if (optind != argc - 3)
		usage_cmd();
	nbytes = (unsigned long long)num_arg(argv[3], 0, 1LL << 50,
	    "NBYTES");
	total = plen + nbytes;
	port_arg(argv[2]);
	backstop(tmo);
	dl = now_ms() + tmo;
	fd = tcp_connect(argv[1], argv[2], nap ? 4096 : 0, dl);
	prng_init(&tx);
	prng_init(&rx);
	sent = matched = 0;
	toff = tlen = taglen = 0;
	shut = 0;
	intag = 1;
	for (;;) {
		if (!shut && sent == total && toff == tlen) {
			shutdown(fd, SHUT_WR);
			shut = 1;
		}
		ev = wait_fd(fd, shut ? POLLIN : POLLIN | POLLOUT, dl);
		if (ev == 0) {
			fprintf(stderr, "TIMEOUT: sent %llu, got %llu of "
			    "%llu bytes\n", sent - (tlen - toff), matched,
			    total);
			return 1;
		}
		if (!shut && (ev & (POLLOUT | POLLHUP | POLLERR))) {
			if (toff == tlen) {
				tlen = total - sent < sizeof(tbuf) ?
				    (size_t)(total - sent) : sizeof(tbuf);
				bulk_fill(&tx, pre, plen, sent, tbuf, tlen);
				sent += tlen;
				toff = 0;
			}
			r = write(fd, tbuf + toff, tlen - toff);
			if (r > 0)
				toff += (size_t)r;
			else if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR)
				err(1, "write (after %llu bytes)",
				    sent - (tlen - toff));
		}
		if (!(ev & (POLLIN | POLLHUP | POLLERR)))
			continue;
		if ((r = read(fd, rbuf, nap ? 4096 : sizeof(rbuf))) == 0)
			break;
		if (nap && r > 0)
			sleep_until(now_ms() + nap);
		if (r == -1) {
			if (errno == EAGAIN || errno == EWOULDBLOCK ||
			    errno == EINTR)
				continue;
			err(1, "read (after %llu bytes)", matched);
		}
		p = rbuf;
		n = (size_t)r;
		while (intag && n > 0) {
			n--;
			if (*p++ == ':')
				intag = 0;
			else if (++taglen > PMT_TAGMAX)
				errx(1, "no TAG: in the reply");
		}
		k = total - matched < n ? (size_t)(total - matched) : n;
		bulk_fill(&rx, pre, plen, matched, want, k);
		if (memcmp(p, want, k) != 0) {
			for (i = 0; p[i] == want[i]; i++)
				;
			errx(1, "mismatch at byte %llu after the tag",
			    matched + i);
		}
		matched += k;
		if (k < n)
			errx(1, "long reply: more than %llu bytes after the "
			    "tag", total);
	}
	close(fd);
	if (intag && !(total == 0 && taglen == 0))
		errx(1, "no TAG: in the reply");
	if (matched < total)
		errx(1, "short reply: %llu of %llu bytes after the tag",
		    matched, total);
	printf("bytes=%llu ok\n", nbytes);
	return 0;
}

static int
cmd_slowread(int argc, char **argv)
{
	static unsigned char	 buf[PMT_CHUNK];
	unsigned char		*data;
	unsigned long long	 total;
	long long		 ms, end, next;
	size_t			 len, tick;
	ssize_t			 r;
	int			 fd;

	if (argc != 6)
		usage_cmd();
	port_arg(argv[2]);
	data = unescape(argv[3], &len);
	ms = secs_arg(argv[4], "SECS");
	tick = (size_t)num_arg(argv[5], 1, sizeof(buf), "BYTES_PER_TICK");
	backstop(ms + 2 * PMT_CONNECT_MS);
	fd = tcp_connect(argv[1], argv[2], 4096, now_ms() + PMT_CONNECT_MS);
	if (write_all(fd, data, len, now_ms() + PMT_CONNECT_MS) == -1)
		err(1, "write");
	free(data);
	total = 0;
	next = now_ms();
	end = next + ms;
	for (;;) {
		sleep_until(next < end ? next : end);
		if (now_ms() >= end)
			break;
		if ((r = read(fd, buf, tick)) > 0)
			total += (unsigned long long)r;
		else if (r == 0)
			break;
		else if (errno != EAGAIN && errno != EWOULDBLOCK &&
		    errno != EINTR) {
			printf("%llu\n", total);
			fflush(stdout);
			err(1, "read");
		}
		/* Keep the 10 ms beat, but never read twice to catch up. */
		if ((next += 10) < now_ms())
			next = now_ms();
	}
	close(fd);
	printf("%llu\n", total);
	return 0;
}

/*
 * The blackhole listens with a backlog of 0 and connects to itself
 * until a connect no longer completes within PMT_BHPROBE ms: the
 * accept queue is then full and the kernel drops further SYNs, so a
 * connect stays in progress until its own timeout.
 */
static int
cmd_blackhole(int argc, char **argv)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len;
	int			 lfd, fd, i;

	if (argc != 3)
		usage_cmd();
	lfd = srv_listen(argv[1], port_arg(argv[2]), 0);
	len = sizeof(ss);
	if (getsockname(lfd, (struct sockaddr *)&ss, &len) == -1)
		err(2, "getsockname");
	for (i = 0; i < PMT_BHMAX; i++) {
		fd = conn_start((struct sockaddr *)&ss, len, 0);
		if (fd == -1)
			err(2, "connect %s %s", argv[1], argv[2]);
		if (wait_fd(fd, POLLOUT, now_ms() + PMT_BHPROBE) == 0) {
			close(fd);
			break;
		}
		if (conn_result(fd) == -1)
			err(2, "connect %s %s", argv[1], argv[2]);
	}
	if (i == PMT_BHMAX)
		errx(2, "cannot fill the accept queue of %s %s", argv[1],
		    argv[2]);
	for (;;)
		pause();
}

static int
cmd_hold(int argc, char **argv)
{
	static unsigned char	 junk[PMT_CHUNK];
	struct addrinfo		*ai;
	struct pollfd		*pfd;
	unsigned char		*data;
	size_t			*off, len;
	long long		 ms, dl;
	ssize_t			 r;
	int			*fds, *rd, n, i, up, busy;

	if (argc != 6)
		usage_cmd();
	ai = resolve(argv[1], port_arg(argv[2]), 0);
	n = (int)num_arg(argv[3], 1, 100000, "N");
	data = unescape(argv[4], &len);
	ms = secs_arg(argv[5], "SECS");
	backstop(ms + PMT_CONNECT_MS);
	if ((pfd = calloc((size_t)n, sizeof(*pfd))) == NULL ||
	    (off = calloc((size_t)n, sizeof(*off))) == NULL ||
	    (fds = calloc((size_t)n, sizeof(*fds))) == NULL ||
	    (rd = calloc((size_t)n, sizeof(*rd))) == NULL)
		err(1, NULL);

	dl = now_ms() + PMT_CONNECT_MS;
	for (i = 0; i < n; i++)
		if ((fds[i] = conn_start(ai->ai_addr, ai->ai_addrlen,
		    0)) == -1)
			err(1, "connect %s %s (%d of %d)", argv[1], argv[2],
			    i + 1, n);
	for (up = 0; up < n; ) {
		for (i = 0; i < n; i++) {
			pfd[i].fd = rd[i] ? -1 : fds[i];
			pfd[i].events = POLLOUT;
			pfd[i].revents = 0;
		}
		if (poll(pfd, (nfds_t)n, ms_left(dl)) == -1 && errno != EINTR)
			err(1, "poll");
		for (i = 0; i < n; i++) {
			if (pfd[i].revents == 0)
				continue;
			if (conn_result(fds[i]) == -1)
				err(1, "connect %s %s", argv[1], argv[2]);
			rd[i] = 1;
			up++;
		}
		if (up < n && now_ms() >= dl) {
			fprintf(stderr, "TIMEOUT: %d of %d connected\n", up,
			    n);
			return 1;
		}
	}
	printf("connected %d\n", n);
	fflush(stdout);

	dl = now_ms() + ms;
	while (now_ms() < dl) {
		busy = 0;
		for (i = 0; i < n; i++) {
			pfd[i].fd = fds[i];
			pfd[i].events = (rd[i] ? POLLIN : 0) |
			    (off[i] < len ? POLLOUT : 0);
			pfd[i].revents = 0;
			if (pfd[i].events == 0)
				pfd[i].fd = -1;
			else
				busy = 1;
		}
		if (!busy) {
			sleep_until(dl);
			break;
		}
		if (poll(pfd, (nfds_t)n, ms_left(dl)) == -1 && errno != EINTR)
			err(1, "poll");
		for (i = 0; i < n; i++) {
			if (pfd[i].revents == 0)
				continue;
			if (rd[i] && (pfd[i].revents &
			    (POLLIN | POLLHUP | POLLERR))) {
				r = read(fds[i], junk, sizeof(junk));
				if (r == 0 || (r == -1 && errno != EAGAIN &&
				    errno != EWOULDBLOCK && errno != EINTR))
					rd[i] = 0;
			}
			if (off[i] < len && (pfd[i].revents &
			    (POLLOUT | POLLHUP | POLLERR))) {
				r = write(fds[i], data + off[i], len - off[i]);
				if (r > 0)
					off[i] += (size_t)r;
				else if (errno != EAGAIN &&
				    errno != EWOULDBLOCK && errno != EINTR)
					off[i] = len;
			}
		}
	}
	for (i = 0; i < n; i++)
		close(fds[i]);
	return 0;
}

/*
 * Relays standard input to a connection and the connection to standard
 * output, shutting the write side down at the end of standard input.
 * Returns 0 at the connection's end of file, 1 on an error or timeout.
 */
static int
cmd_nc(int argc, char **argv)
{
	static unsigned char	 in[PMT_CHUNK], out[PMT_CHUNK];
	struct pollfd		 pfd[2];
	size_t			 off, len;
	long long		 tmo, dl;
	ssize_t			 r;
	int			 ch, fd, ineof;

	if (argc < 3)
		usage_cmd();
	tmo = 60000;
	opterr = 0;
	while ((ch = getopt(argc - 2, argv + 2, "t:")) != -1) {
		if (ch != 't')
			usage_cmd();
		tmo = secs_arg(optarg, "SECS");
	}
	if (optind != argc - 2)
		usage_cmd();
	port_arg(argv[2]);
	backstop(tmo);
	dl = now_ms() + tmo;
	fd = tcp_connect(argv[1], argv[2], 0, dl);
	off = len = 0;
	ineof = 0;
	for (;;) {
		if (now_ms() >= dl) {
			fprintf(stderr, "TIMEOUT\n");
			return 1;
		}
		/* Standard input is read only once the last read is sent. */
		pfd[0].fd = ineof || len > 0 ? -1 : STDIN_FILENO;
		pfd[0].events = POLLIN;
		pfd[1].fd = fd;
		pfd[1].events = POLLIN | (len > 0 ? POLLOUT : 0);
		pfd[0].revents = pfd[1].revents = 0;
		if (poll(pfd, 2, ms_left(dl)) == -1) {
			if (errno == EINTR)
				continue;
			err(1, "poll");
		}
		if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			r = read(STDIN_FILENO, in, sizeof(in));
			if (r > 0) {
				off = 0;
				len = (size_t)r;
			} else if (r == 0 || (errno != EINTR &&
			    errno != EAGAIN)) {
				ineof = 1;
				shutdown(fd, SHUT_WR);
			}
		}
		if (len > 0 && (pfd[1].revents & (POLLOUT | POLLERR))) {
			r = write(fd, in + off, len);
			if (r > 0) {
				off += (size_t)r;
				len -= (size_t)r;
			} else if (errno != EINTR && errno != EAGAIN &&
			    errno != EWOULDBLOCK)
				err(1, "write");
		}
		if (pfd[1].revents & (POLLIN | POLLHUP | POLLERR)) {
			r = read(fd, out, sizeof(out));
			if (r == 0)
				break;
			if (r > 0)
				out_write(out, (size_t)r);
			else if (errno != EINTR && errno != EAGAIN &&
			    errno != EWOULDBLOCK)
				err(1, "read");
		}
	}
	close(fd);
	return 0;
}

/* Accepts one client and writes the bytes it sends first to FILE. */
static int
cmd_capture(int argc, char **argv)
{
	static unsigned char	 buf[PMT_CHUNK];
	struct pollfd		 pfd;
	FILE			*f;
	size_t			 n = 0;
	ssize_t			 r;
	long long		 dl;
	int			 lfd, fd;

	if (argc != 5)
		usage_cmd();
	dl = now_ms() + secs_arg(argv[4], "SECS");
	lfd = srv_listen(argv[1], port_arg(argv[2]), 1);
	set_nonblock(lfd);
	/* A client that sends nothing (pmtest waitport) is not the one. */
	while (n == 0) {
		if (wait_fd(lfd, POLLIN, dl) == 0) {
			fprintf(stderr, "pmtest capture: no client\n");
			return 1;
		}
		if ((fd = accept(lfd, NULL, NULL)) == -1)
			continue;
		for (;;) {
			pfd.fd = fd;
			pfd.events = POLLIN;
			r = poll(&pfd, 1, n == 0 ? ms_left(dl) : 500);
			if (r == -1 && errno == EINTR)
				continue;
			if (r <= 0 || n == sizeof(buf))
				break;
			if ((r = read(fd, buf + n, sizeof(buf) - n)) <= 0)
				break;
			n += (size_t)r;
		}
		close(fd);
	}
	close(lfd);
	if ((f = fopen(argv[3], "wb")) == NULL ||
	    fwrite(buf, 1, n, f) != n || fclose(f) != 0)
		err(1, "%s", argv[3]);
	return n > 0 ? 0 : 1;
}

/*
 * Sends n bytes at p to host:port, the first cut of them, then the rest
 * after ms milliseconds; cut 0 sends a byte every ms milliseconds.
 * Stores the reply up to its first ':' or newline in tag (len bytes, 32
 * at most) as text.
 */
static void
split_one(const char *host, const char *port, const unsigned char *p,
    size_t n, size_t cut, long long ms, char *tag, size_t len)
{
	unsigned char	 c;
	size_t		 off, got = 0;
	ssize_t		 r;
	long long	 dl;
	int		 fd, on = 1;

	dl = now_ms() + 10000;
	fd = tcp_connect(host, port, 0, dl);
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	for (off = 0; off < n; ) {
		size_t	part = cut == 0 ? 1 : off == 0 ? cut : n - off;

		if (off > 0)
			sleep_until(now_ms() + ms);
		if (write_all(fd, p + off, part, dl) == -1)
			break;
		off += part;
	}
	tag[0] = '\0';
	while (got + 5 < len && got < 32 && wait_fd(fd, POLLIN, dl) != 0) {
		if ((r = read(fd, &c, 1)) == -1 && errno == EINTR)
			continue;
		if (r <= 0 || c == ':' || c == '\n')
			break;
		got += (size_t)snprintf(tag + got, len - got,
		    c > ' ' && c < 0x7f ? "%c" : "\\x%02x", c);
	}
	if (got == 0)
		snprintf(tag, len, "(none)");
	close(fd);
}

/* Sends FILE whole, cut at each offset and a byte at a time. */
static int
cmd_splits(int argc, char **argv)
{
	static unsigned char	 buf[PMT_CHUNK];
	static char		 tags[64][40];
	static size_t		 counts[64];
	size_t			 n, cut, i, run, ntags = 0;
	ssize_t			 r;
	int			 fd;
	long long		 ms = 2;
	char			 tag[40];

	if (argc == 6 && strcmp(argv[4], "-d") == 0)
		ms = num_arg(argv[5], 0, 1000, "MS");
	else if (argc != 4)
		usage_cmd();
	port_arg(argv[2]);
	if ((fd = open(argv[3], O_RDONLY)) == -1 ||
	    (r = read(fd, buf, sizeof(buf))) == -1 || close(fd) == -1)
		err(1, "%s", argv[3]);
	n = (size_t)r;
	if (n == 0)
		badarg("FILE (empty)", argv[3]);
	backstop((long long)(n + 1) * 11000);
	/* Whole (cut n), each cut, then a byte at a time (cut 0). */
	for (run = 0; run <= n; run++) {
		cut = run == 0 ? n : run < n ? run : 0;
		split_one(argv[1], argv[2], buf, n, cut, ms, tag,
		    sizeof(tag));
		for (i = 0; i < ntags && strcmp(tags[i], tag) != 0; i++)
			;
		if (i == ntags && ntags < 64)
			memcpy(tags[ntags++], tag, sizeof(tag));
		if (i < ntags)
			counts[i]++;
	}
	for (i = 0; i < ntags; i++)
		printf("%s %zu\n", tags[i], counts[i]);
	return 0;
}

/* Appends the n bytes at p to the hello being built in hb. */
static void
hb_put(unsigned char *hb, size_t *len, const void *p, size_t n)
{
	if (*len + n > PMT_CHUNK)
		errx(2, "pmtest hello: over %d bytes", PMT_CHUNK);
	memcpy(hb + *len, p, n);
	*len += n;
}

/* Appends a big-endian number of n bytes. */
static void
hb_num(unsigned char *hb, size_t *len, size_t v, size_t n)
{
	unsigned char	b[4];
	size_t		i;

	for (i = 0; i < n; i++)
		b[i] = (unsigned char)(v >> (8 * (n - 1 - i)));
	hb_put(hb, len, b, n);
}

/* Writes a ClientHello made to order: see the help. */
static int
cmd_hello(int argc, char **argv)
{
	static unsigned char	 hs[PMT_CHUNK], out[8 * PMT_CHUNK];
	unsigned char		 alpn[512], fill[32];
	const char		*alpns = NULL, *p, *q;
	FILE			*f;
	size_t			 hl = 0, ol = 0, al = 0, pad = 0, rec = 16384;
	size_t			 i, ext, n, sni;
	int			 ch, grease = 0;

	if (argc < 3)
		usage_cmd();
	opterr = 0;
	optind = 1;
	while ((ch = getopt(argc - 2, argv + 2, "a:gp:r:")) != -1) {
		switch (ch) {
		case 'a':
			alpns = optarg;
			break;
		case 'g':
			grease = 1;
			break;
		case 'p':
			pad = (size_t)num_arg(optarg, 0, 65000, "PAD");
			break;
		case 'r':
			rec = (size_t)num_arg(optarg, 1, 16384, "RECORD");
			break;
		default:
			usage_cmd();
		}
	}
	if (optind != argc - 2)
		usage_cmd();
	sni = strcmp(argv[2], "-") == 0 ? 0 : strlen(argv[2]);
	if (grease)
		hb_put(alpn, &al, "\x02\x3a\x3a", 3);
	for (p = alpns; p != NULL && *p != '\0'; p = *q ? q + 1 : q) {
		if ((q = strchr(p, ',')) == NULL)
			q = p + strlen(p);
		n = (size_t)(q - p);
		if (n == 0 || n > 255 || al + 1 + n > sizeof(alpn))
			badarg("ALPN", alpns);
		alpn[al++] = (unsigned char)n;
		memcpy(alpn + al, p, n);
		al += n;
	}

	/* The handshake: its header, version, random, session id. */
	hb_put(hs, &hl, "\x01\0\0\0\x03\x03", 6);
	memset(fill, 0x11, sizeof(fill));
	hb_put(hs, &hl, fill, 32);
	hb_num(hs, &hl, 32, 1);
	memset(fill, 0x22, sizeof(fill));
	hb_put(hs, &hl, fill, 32);
	hb_num(hs, &hl, grease ? 8 : 6, 2);
	if (grease)
		hb_put(hs, &hl, "\x0a\x0a", 2);
	hb_put(hs, &hl, "\x13\x01\x13\x02\xc0\x2f\x01\x00", 8);
	ext = hl;
	hb_num(hs, &hl, 0, 2);
	if (grease)
		hb_put(hs, &hl, "\x1a\x1a\0\0", 4);
	hb_put(hs, &hl, "\0\x2b\0\x03\x02\x03\x04", 7);
	hb_put(hs, &hl, "\0\x0a\0\x04\0\x02\0\x1d", 8);
	if (al > 0) {
		hb_put(hs, &hl, "\0\x10", 2);
		hb_num(hs, &hl, al + 2, 2);
		hb_num(hs, &hl, al, 2);
		hb_put(hs, &hl, alpn, al);
	}
	if (pad > 0) {
		hb_put(hs, &hl, "\0\x15", 2);
		hb_num(hs, &hl, pad, 2);
		for (i = 0; i < pad; i++)
			hb_put(hs, &hl, "", 1);
	}
	if (sni > 0) {
		hb_put(hs, &hl, "\0\0", 2);
		hb_num(hs, &hl, sni + 5, 2);
		hb_num(hs, &hl, sni + 3, 2);
		hb_put(hs, &hl, "", 1);
		hb_num(hs, &hl, sni, 2);
		hb_put(hs, &hl, argv[2], sni);
	}
	if (grease)
		hb_put(hs, &hl, "\x2a\x2a\0\x01\0", 5);
	/* The lengths, now that they are known. */
	hs[1] = (unsigned char)((hl - 4) >> 16);
	hs[2] = (unsigned char)((hl - 4) >> 8);
	hs[3] = (unsigned char)(hl - 4);
	hs[ext] = (unsigned char)((hl - ext - 2) >> 8);
	hs[ext + 1] = (unsigned char)(hl - ext - 2);
	for (i = 0; i < hl; i += n) {
		n = hl - i < rec ? hl - i : rec;
		if (ol + 5 + n > sizeof(out))
			errx(2, "pmtest hello: too many records");
		out[ol++] = 22;
		out[ol++] = 3;
		out[ol++] = 1;
		out[ol++] = (unsigned char)(n >> 8);
		out[ol++] = (unsigned char)n;
		memcpy(out + ol, hs + i, n);
		ol += n;
	}
	if ((f = fopen(argv[1], "wb")) == NULL ||
	    fwrite(out, 1, ol, f) != ol || fclose(f) != 0)
		err(1, "%s", argv[1]);
	return 0;
}

int
main(int argc, char *argv[])
{
	const struct cmd	*c;

	sig_set(SIGPIPE, SIG_IGN);
	if (argc < 2)
		usage();
	if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "-h") == 0) {
		for (c = cmds; c->name != NULL; c++)
			printf("%s pmtest %s %s\n",
			    c == cmds ? "usage:" : "      ", c->name, c->args);
		printf("\n%s", help);
		return 0;
	}
	for (c = cmds; c->name != NULL; c++)
		if (strcmp(argv[1], c->name) == 0) {
			curcmd = c;
			return c->fn(argc - 1, argv + 1);
		}
	fprintf(stderr, "pmtest: unknown command '%s' (try pmtest help)\n",
	    argv[1]);
	return 2;
}

/*
 * fuzz/common.c: the checks and helpers the libFuzzer harnesses share.
 *
 * fz_stream() is the heart of the router harnesses: it hands a router the
 * bytes of one input the way the core does, a prefix at a time, and checks
 * each decision against the contract of router.h and against the
 * properties written out above it.
 *
 * The harnesses are linked with -Wl,--wrap=getaddrinfo: the core's
 * pm_addr_parse() then calls __wrap_getaddrinfo() below, which never asks
 * a name server, so that fuzzing a table is fast, repeatable and offline.
 *
 * Copyright (c) 2026 The proxymachine authors.  MIT licence: see LICENSE.
 */

#ifdef __linux__
#define _GNU_SOURCE		/* memfd_create(2) */
#endif

#include <sys/types.h>
#include <sys/socket.h>
#ifdef __linux__
#include <sys/mman.h>
#endif

#include <netinet/in.h>

#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"

/*
 * With AddressSanitizer, the bytes of an input past the prefix being
 * routed are poisoned, so that a router that reads one byte too far is
 * caught even though the input goes on.
 */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FZ_ASAN
#endif
#endif
#if !defined(FZ_ASAN) && defined(__SANITIZE_ADDRESS__)
#define FZ_ASAN
#endif
#ifdef FZ_ASAN
#include <sanitizer/asan_interface.h>
#define FZ_POISON(p, n)		__asan_poison_memory_region((p), (n))
#define FZ_UNPOISON(p, n)	__asan_unpoison_memory_region((p), (n))
#else
#define FZ_POISON(p, n)		((void)(p), (void)(n))
#define FZ_UNPOISON(p, n)	((void)(p), (void)(n))
#endif

/* What every name resolves to under the fuzzer (TEST-NET-1). */
#define FZ_NAMEADDR	"192.0.2.1"

int	__real_getaddrinfo(const char *, const char *,
	    const struct addrinfo *, struct addrinfo **);
int	__wrap_getaddrinfo(const char *, const char *,
	    const struct addrinfo *, struct addrinfo **);

/* The state word the next router_route() call gets (fz_stream()). */
static unsigned int	 fz_state;

static const char	*action_name(enum pm_action);
static void		 dec_print(const char *, const struct fz_dec *);
static void		 bytes_take(const char *, const void *, size_t,
			    const unsigned char *, size_t, size_t,
			    struct fz_bytes *);
static int		 bytes_eq(const unsigned char *, size_t,
			    const unsigned char *, size_t);
static int		 same_bytes(const struct fz_bytes *,
			    const struct fz_bytes *);
static int		 equivalent(const struct fz_dec *, size_t,
			    const struct fz_dec *, size_t,
			    const unsigned char *);

/*
 * Resolve host and port as getaddrinfo(3) does for a numeric host, and
 * any other host as if it were FZ_NAMEADDR, without a name server.
 * Return what getaddrinfo(3) returns.
 */
int
__wrap_getaddrinfo(const char *host, const char *port,
    const struct addrinfo *hints, struct addrinfo **res)
{
	struct addrinfo	 h;
	int		 e;

	if (hints != NULL)
		h = *hints;
	else {
		memset(&h, 0, sizeof(h));
		h.ai_family = AF_UNSPEC;
	}
	h.ai_flags |= AI_NUMERICHOST;
	e = __real_getaddrinfo(host, port, &h, res);
	if (e == EAI_NONAME && host != NULL && *host != '\0')
		e = __real_getaddrinfo(FZ_NAMEADDR, port, &h, res);
	return e;
}

/*
 * Report a broken property and abort, which libFuzzer takes for a crash:
 * it saves the input.  Under libFuzzer's -close_fd_mask=2 (fuzz/run.sh
 * uses it to drop the routers' log lines) stderr goes nowhere, so the
 * message also goes where the sanitizers report.  Return never.
 */
void
fz_fail(const char *fmt, ...)
{
	va_list	 ap;
	char	 msg[2048];
	int	 n;

	n = snprintf(msg, sizeof(msg), "fuzz: property broken (router %s): ",
	    router_name);
	va_start(ap, fmt);
	if (n > 0 && (size_t)n < sizeof(msg))
		vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n==== %s\n", msg);
	fflush(stderr);
#ifdef FZ_ASAN
	__sanitizer_report_error_summary(msg);
#endif
	abort();
}

/*
 * Make a file that lives as long as the process, for fz_file_write().
 * Return its path (static storage).
 */
const char *
fz_file(void)
{
	static char	 paths[8][64];
	static int	 n;
	char		*path;
	int		 fd;

	if (n == (int)(sizeof(paths) / sizeof(paths[0]))) {
		fprintf(stderr, "fuzz: too many files\n");
		abort();
	}
	path = paths[n++];
#ifdef __linux__
	if ((fd = memfd_create("pmfuzz", 0)) == -1) {
		perror("fuzz: memfd_create");
		abort();
	}
	snprintf(path, sizeof(paths[0]), "/proc/self/fd/%d", fd);
#else
	{
		const char	*tmp;

		if ((tmp = getenv("TMPDIR")) == NULL || *tmp == '\0')
			tmp = "/tmp";
		snprintf(path, sizeof(paths[0]), "%s/pmfuzz.XXXXXX", tmp);
		if ((fd = mkstemp(path)) == -1) {
			perror("fuzz: mkstemp");
			abort();
		}
		/* The harness runs until killed: the file is left behind. */
		close(fd);
	}
#endif
	return path;
}

/*
 * Replace the contents of the file at path (from fz_file()) with the len
 * bytes at p.  Return nothing; abort on failure.
 */
void
fz_file_write(const char *path, const void *p, size_t len)
{
	FILE	*fp;

	if ((fp = fopen(path, "w")) == NULL ||
	    (len > 0 && fwrite(p, 1, len, fp) != len) || fclose(fp) != 0) {
		perror(path);
		abort();
	}
}

/*
 * Write the table text into a new file.  Return its path.
 */
const char *
fz_table(const char *text)
{
	const char	*path;

	path = fz_file();
	fz_file_write(path, text, strlen(text));
	return path;
}

/*
 * Set *a and *b to the paths of two fixed tables for the router linked in
 * (NULL: no -c); they cover different branches, as a table with and one
 * without a default.  An unknown router gets $PM_FUZZ_TABLE and no table.
 * Return nothing.
 */
void
fz_tables(const char **a, const char **b)
{
	static const char *const	 git_a =
	    "# the default, users, IPv6\n"
	    "alice\t127.0.0.1\n"
	    "bob 127.0.0.1:9419   # a comment\n"
	    "carol [::1]:9418\n"
	    "user.with-dots 192.0.2.7:1\n"
	    "* 192.0.2.20\n";
	static const char *const	 git_b =
	    "alice 127.0.0.1\n"
	    "dave [2001:db8::10]:9418\r\n";
	static const char *const	 socks4_a =
	    "client allow 192.0.2.0/24\n"
	    "client deny any\n"
	    "deny *.invalid\n"
	    "allow *.example.org port 80 proxy=2\n"
	    "allow 127.0.0.0/8 ports 80-81\n"
	    "allow 127.0.0.1 port 443\n"
	    "deny 127.0.0.0/8\n"
	    "allow 10.0.0.0/8 ports 1-1024\n"
	    "deny 10.0.0.0/8\n"
	    "allow 192.0.2.0/24\n"
	    "deny any\n";
	static const char *const	 socks5_a =
	    "allow 127.0.0.0/8 ports 80-81\n"
	    "allow ::1 port 443\n"
	    "deny 127.0.0.0/8\n"
	    "allow 10.0.0.0/8 ports 1-1024 from 192.0.2.0/24\n"
	    "deny 10.0.0.0/8\n"
	    "allow 192.0.2.0/24 from 192.0.2.99\n"
	    "allow 2001:db8::/32 port 80 from ::ffff:192.0.2.0/120\n"
	    "deny any\n"
	    "user alice secret\n"
	    "user bob pw\n"
	    "connect 2\n"
	    "proxy=1\n";
	static const char *const	 custom_a =
	    "allow\t10.0.0.0/8\n"
	    "allow\t192.0.2.0/24\n"
	    "deny\tany\t\"no\\n\"\n"
	    "alpn\tacme-tls/1\t127.0.0.1:9445\n"
	    "sni\twww.example.org\t127.0.0.1:9443\tproxy=2\n"
	    "sni\t*.example.org\t[::1]:9444\tfrom=10.0.0.0/8\n"
	    "sni\t*.example.org\tclose\n"
	    "host\twww.example.org\t127.0.0.1:9080\tproxy=1\n"
	    "host\t*.example.com:8080\tclose\t\"HTTP/1.0 403 x\\r\\n"
	    "\\r\\n\"\n"
	    "host\tx.test\t127.0.0.1:9081\tlisten=0\n"
	    "SSH-\t\t127.0.0.1:22\n"
	    "\\x16\\x03\t127.0.0.1:8443\tconnect=2\n"
	    "\"GET \"\t\t127.0.0.1:8080\tidle=300\n"
	    "\"GET /x\"\t[::1]:8081\tconnect=0.5 idle=1.25\n"
	    "G\t\t127.0.0.1:1\n"
	    "\"CONNECT \"\tclose\t\"HTTP/1.0 405 Method Not Allowed"
	    "\\r\\n\\r\\n\"\n"
	    "\\0\\0\t\tclose\n"
	    "*\t\t127.0.0.1:22\n"
	    "wait\t\t2\n";
	static const char *const	 custom_b =
	    "SSH-\t127.0.0.1:22\n"
	    "\"GET \"\t127.0.0.1:8080\n"
	    "x\tclose\t\"bye\\n\"\n"
	    "wait\t0\n";
	static const char *const	 skeleton_a =
	    "a 127.0.0.1:7   # a comment\n"
	    "\x04 [::1]:1080\n"
	    "G 192.0.2.7:80\n";
	static const char *const	 skeleton_b =
	    "b\t127.0.0.1:9\n";
	const char	*env;

	if (strcmp(router_name, "git") == 0) {
		*a = fz_table(git_a);
		*b = fz_table(git_b);
	} else if (strcmp(router_name, "socks4") == 0) {
		*a = fz_table(socks4_a);
		*b = NULL;
	} else if (strcmp(router_name, "socks5") == 0) {
		*a = fz_table(socks5_a);
		*b = NULL;
	} else if (strcmp(router_name, "custom") == 0) {
		*a = fz_table(custom_a);
		*b = fz_table(custom_b);
	} else if (strcmp(router_name, "skeleton") == 0) {
		*a = fz_table(skeleton_a);
		*b = fz_table(skeleton_b);
	} else {
		env = getenv("PM_FUZZ_TABLE");
		*a = env != NULL && *env != '\0' ? env : NULL;
		*b = NULL;
	}
}

/*
 * Load the table at path, which must be good.  Return nothing; abort when
 * the router refuses it.
 */
void
fz_load(const char *path)
{
	char	 err[512];

	if (router_load(path, err, sizeof(err)) == -1) {
		fprintf(stderr, "fuzz: the fixed table %s fails: %s\n",
		    path == NULL ? "(none)" : path, err);
		abort();
	}
}

static const char *
action_name(enum pm_action a)
{
	switch (a) {
	case PM_NOOP:
		return "noop";
	case PM_REMOTE:
		return "remote";
	case PM_CLOSE:
		return "close";
	case PM_REPLY:
		return "reply";
	case PM_LOOKUP:
		return "lookup";
	}
	return "?";
}

/*
 * Print decision d, labelled what, on stderr.  Return nothing.
 */
static void
dec_print(const char *what, const struct fz_dec *d)
{
	char	 as[PM_ADDRSTRLEN];

	fprintf(stderr, "  %s: %s", what, action_name(d->action));
	if (d->action == PM_REMOTE)
		fprintf(stderr, " %s connect_ms %d idle_ms %d",
		    pm_addr_str((const struct sockaddr *)&d->addr, as,
		    sizeof(as)), d->connect_ms, d->idle_ms);
	if (d->data.set)
		fprintf(stderr, " data %zu bytes", d->data.len);
	if (d->reply.set)
		fprintf(stderr, " reply %zu bytes", d->reply.len);
	if (d->ok_reply.set)
		fprintf(stderr, " ok_reply %zu bytes", d->ok_reply.len);
	if (d->fail_reply.set)
		fprintf(stderr, " fail_reply %zu bytes", d->fail_reply.len);
	if (d->action == PM_NOOP)
		fprintf(stderr, " wait_ms %d", d->wait_ms);
	fprintf(stderr, "\n");
}

/*
 * Call router_route() as the core does, on the len bytes at buf (which
 * sit in an allocation of cap bytes), check the decision against the
 * contract of router.h, and copy it into d.  Return nothing; abort on a
 * broken contract.
 *
 * The contract checked: the action is one of router.h's; the timeouts are
 * not negative; data and the replies, when set, are at most PM_BUFSIZE
 * bytes, and for a remote twice the reply and the two held for the
 * backend together too, and every byte of them can be read (copying them
 * touches each one, under ASan); those that point into the client's bytes
 * stay within the len bytes handed over; a remote has an IPv4 or IPv6
 * address of the right length and a port.
 */
void
fz_route(const unsigned char *buf, size_t len, size_t cap, int expired,
    struct fz_dec *d)
{
	fz_decide(buf, len, cap, expired, NULL, d);
}

/*
 * As fz_route(), but with router_resolved() and the answer ans when ans
 * is not NULL.  A lookup is checked too: a name of 1 to PM_HOSTMAX bytes
 * that can be read (within the client's bytes when it points into them),
 * a port, a family.
 */
void
fz_decide(const unsigned char *buf, size_t len, size_t cap, int expired,
    const struct pm_answer *ans, struct fz_dec *d)
{
	struct sockaddr_in	 peer;
	struct pm_route		 r;

	memset(&peer, 0, sizeof(peer));
	peer.sin_family = AF_INET;
	peer.sin_port = htons(40000);
	peer.sin_addr.s_addr = htonl(0xc0000263);	/* 192.0.2.99 */

	memset(&r, 0, sizeof(r));
	r.state = fz_state;
	if (ans != NULL)
		router_resolved(buf, len, (struct sockaddr *)&peer, ans, &r);
	else
		router_route(buf, len, (struct sockaddr *)&peer, expired, &r);

	d->port = d->family = 0;
	bytes_take("host", r.action == PM_LOOKUP ? r.host : NULL, r.hostlen,
	    buf, len, cap, &d->host);
	if (r.action == PM_LOOKUP) {
		if (r.host == NULL || r.hostlen == 0 ||
		    r.hostlen > PM_HOSTMAX ||
		    memchr(d->host.p, '\0', d->host.len) != NULL)
			fz_fail("len %zu: a lookup of %zu bytes, or with a "
			    "NUL", len, r.hostlen);
		if (r.port < 1 || r.port > 65535 || (r.family != AF_UNSPEC &&
		    r.family != AF_INET && r.family != AF_INET6))
			fz_fail("len %zu: a lookup for port %d, family %d",
			    len, r.port, r.family);
		d->port = r.port;
		d->family = r.family;
	}

	memset(&d->addr, 0, sizeof(d->addr));
	d->addrlen = 0;
	if (r.action != PM_NOOP && r.action != PM_REMOTE &&
	    r.action != PM_CLOSE && r.action != PM_REPLY &&
	    r.action != PM_LOOKUP)
		fz_fail("len %zu: action %d is none of router.h's", len,
		    (int)r.action);
	if (r.proxy < 0 || r.proxy > 2)
		fz_fail("len %zu: proxy %d is not 0, 1 or 2", len, r.proxy);
	if (r.connect_ms < 0 || r.idle_ms < 0 || r.wait_ms < 0)
		fz_fail("len %zu: a negative timeout (%d, %d, %d)", len,
		    r.connect_ms, r.idle_ms, r.wait_ms);
	if ((r.action == PM_NOOP || r.action == PM_REPLY) && r.consume > len)
		fz_fail("len %zu: consumes %zu bytes", len, r.consume);
	d->action = r.action;
	d->state = r.state;
	d->consume = r.action == PM_NOOP || r.action == PM_REPLY ?
	    r.consume : 0;
	d->connect_ms = r.connect_ms;
	d->idle_ms = r.idle_ms;
	d->wait_ms = r.wait_ms;
	bytes_take("data", r.data, r.datalen, buf, len, cap, &d->data);
	bytes_take("reply", r.reply, r.replylen, buf, len, cap, &d->reply);
	bytes_take("ok_reply", r.ok_reply, r.ok_replylen, buf, len, cap,
	    &d->ok_reply);
	bytes_take("fail_reply", r.fail_reply, r.fail_replylen, buf, len,
	    cap, &d->fail_reply);
	if (r.action == PM_REMOTE && 2 * d->reply.len + d->ok_reply.len +
	    d->fail_reply.len > PM_BUFSIZE)
		fz_fail("len %zu: a remote's replies of %zu bytes (twice the "
		    "reply)", len, 2 * d->reply.len + d->ok_reply.len +
		    d->fail_reply.len);
	if (r.action != PM_REMOTE)
		return;
	if (r.addrlen == 0 || r.addrlen > sizeof(r.addr))
		fz_fail("len %zu: remote with addrlen %u", len,
		    (unsigned)r.addrlen);
	switch (r.addr.ss_family) {
	case AF_INET:
		if (r.addrlen != sizeof(struct sockaddr_in))
			fz_fail("len %zu: IPv4 remote, addrlen %u", len,
			    (unsigned)r.addrlen);
		if (((struct sockaddr_in *)&r.addr)->sin_port == 0)
			fz_fail("len %zu: remote on port 0", len);
		break;
	case AF_INET6:
		if (r.addrlen != sizeof(struct sockaddr_in6))
			fz_fail("len %zu: IPv6 remote, addrlen %u", len,
			    (unsigned)r.addrlen);
		if (((struct sockaddr_in6 *)&r.addr)->sin6_port == 0)
			fz_fail("len %zu: remote on port 0", len);
		break;
	default:
		fz_fail("len %zu: remote of family %d", len,
		    (int)r.addr.ss_family);
	}
	memcpy(&d->addr, &r.addr, r.addrlen);
	d->addrlen = r.addrlen;
}

/*
 * Copy the n bytes at p, the field what of a decision on the len bytes at
 * buf (in an allocation of cap bytes), into b, after checking them: at
 * most PM_BUFSIZE, and within the len bytes when they point into buf.
 * Return nothing; abort on a broken contract.
 */
static void
bytes_take(const char *what, const void *p, size_t n,
    const unsigned char *buf, size_t len, size_t cap, struct fz_bytes *b)
{
	const unsigned char	*q = p;

	b->set = p != NULL;
	b->len = 0;
	if (p == NULL)
		return;
	if (n > PM_BUFSIZE)
		fz_fail("len %zu: %s of %zu bytes", len, what, n);
	if (q >= buf && q < buf + cap && (q > buf + len ||
	    n > (size_t)(buf + len - q)))
		fz_fail("len %zu: %s past the client's bytes", len, what);
	b->len = n;
	memcpy(b->p, p, n);
}

/*
 * Return whether the a bytes at p and the b bytes at q are the same.
 */
static int
bytes_eq(const unsigned char *p, size_t a, const unsigned char *q, size_t b)
{
	return a == b && (a == 0 || memcmp(p, q, a) == 0);
}

/*
 * Return whether a and b were both set, or both not, to the same bytes.
 */
static int
same_bytes(const struct fz_bytes *a, const struct fz_bytes *b)
{
	return a->set == b->set && bytes_eq(a->p, a->len, b->p, b->len);
}

/*
 * Return whether decisions a and b are the same in every field the core
 * reads.
 */
int
fz_same(const struct fz_dec *a, const struct fz_dec *b)
{
	return a->action == b->action && a->addrlen == b->addrlen &&
	    bytes_eq((const void *)&a->addr, a->addrlen,
	    (const void *)&b->addr, b->addrlen) &&
	    same_bytes(&a->data, &b->data) &&
	    same_bytes(&a->reply, &b->reply) &&
	    same_bytes(&a->ok_reply, &b->ok_reply) &&
	    same_bytes(&a->fail_reply, &b->fail_reply) &&
	    a->connect_ms == b->connect_ms && a->idle_ms == b->idle_ms &&
	    a->wait_ms == b->wait_ms && a->state == b->state &&
	    a->consume == b->consume && same_bytes(&a->host, &b->host) &&
	    a->port == b->port && a->family == b->family;
}

/*
 * Return whether decision a, taken on the first k bytes at buf, and
 * decision b, taken on the first m bytes (m > k), do the same to the
 * connection whose client sends the bytes at buf: the same action, the
 * same reply to the client, and for a remote the same backend, timeouts
 * and byte stream to the backend.  The backend is sent data, or else the
 * bytes routed, then what the client sends next: so with a, it gets
 * S(a) + buf[k..m) + the rest, and with b, S(b) + the rest.
 */
static int
equivalent(const struct fz_dec *a, size_t k, const struct fz_dec *b,
    size_t m, const unsigned char *buf)
{
	const unsigned char	*sa, *sb;
	size_t			 la, lb;

	if (a->action != b->action || !same_bytes(&a->reply, &b->reply) ||
	    !same_bytes(&a->ok_reply, &b->ok_reply) ||
	    !same_bytes(&a->fail_reply, &b->fail_reply) ||
	    a->state != b->state || a->consume != b->consume)
		return 0;
	if (a->action == PM_LOOKUP)
		return same_bytes(&a->host, &b->host) && a->port == b->port &&
		    a->family == b->family;
	if (a->action != PM_REMOTE)
		return 1;
	if (!bytes_eq((const void *)&a->addr, a->addrlen,
	    (const void *)&b->addr, b->addrlen) ||
	    a->connect_ms != b->connect_ms || a->idle_ms != b->idle_ms)
		return 0;
	sa = a->data.set ? a->data.p : buf;
	la = a->data.set ? a->data.len : k;
	sb = b->data.set ? b->data.p : buf;
	lb = b->data.set ? b->data.len : m;
	return lb == la + (m - k) && (la == 0 || memcmp(sb, sa, la) == 0) &&
	    memcmp(sb + la, buf + k, m - k) == 0;
}

/*
 * Route the n bytes at data as the core does when they arrive one byte a
 * read, and check the properties below.  Return nothing; abort when one is
 * broken.
 *
 * The core calls router_route() with the bytes so far: with len 0 when
 * the client connects, then after each read, and stops at the first
 * decision that is not PM_NOOP.  While the decision is PM_NOOP it may also
 * call again on the same bytes with expired set: when a wait the router
 * asked for runs out, and when the client ends its stream.  How the bytes
 * are split into reads is up to the network, so the checks are:
 *
 * 1. The contract, for every call (fz_route()).
 *
 * 2. Determinism: the same bytes give the same decision, called twice in
 *    a row.  (Any state a router keeps between calls, or any byte it reads
 *    without having set it, shows here.)
 *
 * 3. Splitting does not matter.  Let k be the first prefix, of lengths
 *    0, 1, ..., n, whose decision D(k) is not PM_NOOP (with expired
 *    clear).  Fed one byte a read, the core acts on D(k).  Fed in other
 *    reads, it calls router_route() on some lengths l1 < l2 < ... and acts
 *    on the first that is not PM_NOOP; every length below k gives PM_NOOP,
 *    so that is some length m >= k, which a split that delivers the first
 *    m bytes in one read does reach, whatever m (when k > 0).  Hence: for
 *    every m with k < m <= n, D(m) must do what D(k) does (equivalent()):
 *    same action, same reply, same backend and timeouts, and the same
 *    bytes to the backend, counting those the client sent after the
 *    prefix routed.  This does not say that D(m) == D(k): data may
 *    differ, as socks4 strips its request and forwards what followed it.
 *    When k is 0 the router decided before any byte: there is nothing to
 *    split, and nothing more is checked.
 *
 * To keep each run linear in n, 3 is checked for m = n (the whole input in
 * one read) and for the FZ_NEAR lengths after k, and the calls with
 * expired set are made on the longest prefix still PM_NOOP, that is when
 * the client ends its stream after the bytes it sent: a broken property
 * at another m, or an expired call on a shorter prefix, is the same check
 * on the input cut there, which the fuzzer tries too.
 *
 * 4. Phases.  A PM_REPLY that consumes bytes ends a phase: the core drops
 *    them and asks again, with the state word the router left, on what
 *    follows (router.h).  So do the checks, from 1, on the rest of the
 *    input in that state, for up to FZ_PHASES phases; in 3, D(m) must
 *    then leave the same state and consume as many bytes as D(k).
 */
#define FZ_NEAR		32
#define FZ_PHASES	8

static size_t	phase(const unsigned char *, size_t, struct fz_dec *);

/*
 * The lookup dk asked for on the k bytes at buf (of cap), answered each
 * way: found (an IPv4 and an IPv6 address, or only the IPv6 one), and
 * each failure.  router_resolved() must keep the contract, and decide
 * the same twice.  Return nothing; abort when it does not.
 */
static void
fz_answers(unsigned char *buf, size_t k, size_t cap, const struct fz_dec *dk)
{
	static struct fz_dec	 d, e;
	static struct pm_answer	 ans;
	struct sockaddr_in	*sin;
	struct sockaddr_in6	*sin6;
	int			 st, v6only, ways;

	FZ_POISON(buf, cap);
	FZ_UNPOISON(buf, k);
	for (st = PM_FOUND; st <= PM_FAILED; st++) {
		ways = st == PM_FOUND ? 2 : 1;
		for (v6only = 0; v6only < ways; v6only++) {
			memset(&ans, 0, sizeof(ans));
			ans.status = st;
			if (st == PM_FOUND) {
				sin6 = (struct sockaddr_in6 *)&ans.addr[0];
				sin6->sin6_family = AF_INET6;
				sin6->sin6_port = htons((uint16_t)dk->port);
				sin6->sin6_addr.s6_addr[0] = 0x20;
				sin6->sin6_addr.s6_addr[1] = 0x01;
				sin6->sin6_addr.s6_addr[15] = 1;
				ans.addrlen[0] = sizeof(*sin6);
				sin = (struct sockaddr_in *)&ans.addr[1];
				sin->sin_family = AF_INET;
				sin->sin_port = htons((uint16_t)dk->port);
				sin->sin_addr.s_addr = htonl(0xc0000201);
				ans.addrlen[1] = sizeof(*sin);
				ans.naddr = v6only ? 1 : 2;
			}
			fz_decide(buf, k, cap, 0, &ans, &d);
			fz_decide(buf, k, cap, 0, &ans, &e);
			if (!fz_same(&d, &e)) {
				dec_print("first", &d);
				dec_print("again", &e);
				fz_fail("two answers (%s) to the same lookup "
				    "decide differently", pm_lookup_str(st));
			}
		}
	}
}

void
fz_stream(const unsigned char *data, size_t n)
{
	static struct fz_dec	 dk;
	size_t			 k;
	int			 i;

	fz_state = 0;
	for (i = 0; i < FZ_PHASES; i++) {
		k = phase(data, n, &dk);
		if (dk.action != PM_REPLY || dk.consume == 0)
			break;
		if (dk.consume > k)
			fz_fail("a reply on %zu bytes consumes %zu", k,
			    dk.consume);
		fz_state = dk.state;
		data += dk.consume;
		n -= dk.consume;
	}
	fz_state = 0;
}

/*
 * One phase of fz_stream(), on the n bytes at data in the state fz_state.
 * Return the length of the first prefix decided (n when none was), and
 * its decision in *out.
 */
static size_t
phase(const unsigned char *data, size_t n, struct fz_dec *out)
{
	static struct fz_dec	 d, e, dk;
	struct pm_route		 r;
	unsigned char		*buf;
	size_t			 cap, k, m;

	cap = n > 0 ? n : 1;
	if ((buf = malloc(cap)) == NULL)
		abort();
	if (n > 0)
		memcpy(buf, data, n);
	FZ_POISON(buf, cap);

	for (k = 0; k <= n; k++) {
		FZ_UNPOISON(buf, k);
		fz_route(buf, k, cap, 0, &dk);
		fz_route(buf, k, cap, 0, &d);
		if (!fz_same(&dk, &d)) {
			dec_print("first", &dk);
			dec_print("again", &d);
			fz_fail("two calls on the same %zu bytes decide "
			    "differently", k);
		}
		if (dk.action != PM_NOOP)
			break;
	}

	/*
	 * The longest prefix still waiting, if any: the client ends its
	 * stream there, or stays silent there for the wait asked for.
	 */
	if (k > 0) {
		m = k - 1;
		fz_route(buf, m, cap, 1, &d);
		fz_route(buf, m, cap, 1, &e);
		if (!fz_same(&d, &e)) {
			dec_print("first", &d);
			dec_print("again", &e);
			fz_fail("two calls on the same %zu bytes, expired, "
			    "decide differently", m);
		}
	}

	for (m = k + 1; k > 0 && m <= n; m++) {
		if (m > k + FZ_NEAR && m < n)
			m = n;
		FZ_UNPOISON(buf, m);
		fz_route(buf, m, cap, 0, &d);
		if (!equivalent(&dk, k, &d, m, buf)) {
			dec_print("on the first bytes", &dk);
			dec_print("on more bytes", &d);
			fz_fail("the decision depends on how the bytes are "
			    "split: %zu bytes one at a time, then %zu bytes "
			    "in one read", k, m);
		}
	}
	if (dk.action == PM_LOOKUP)
		fz_answers(buf, k, cap, &dk);
	FZ_UNPOISON(buf, cap);
	free(buf);

	/* The hooks, as the core calls them on a failed remote. */
	if (dk.action == PM_REMOTE) {
		memset(&r, 0, sizeof(r));
		r.state = fz_state;
		r.action = PM_REMOTE;
		memcpy(&r.addr, &dk.addr, dk.addrlen);
		r.addrlen = dk.addrlen;
		r.connect_ms = dk.connect_ms;
		r.idle_ms = dk.idle_ms;
		router_connect_error(&r);
		r.error = ECONNREFUSED;
		router_connect_error(&r);
		r.error = ETIMEDOUT;
		router_connect_error(&r);
		router_idle_error(&r);
	}
	*out = dk;
	return k <= n ? k : n;
}

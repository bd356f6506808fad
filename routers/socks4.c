/*
 * socks4.c: a SOCKS4 CONNECT router for proxymachine.
 *
 * The client sends version 4, command 1 (CONNECT), the destination port
 * and IPv4 address, and a user id ended by a NUL.  Once the whole request
 * has arrived the router connects to the destination, and the client gets
 * 00 5a (granted) once the connect succeeded, or 00 5b (rejected) when it
 * finally failed; whatever the client sent after the request goes on to
 * the destination.  Anything else is answered 00 5b and closed.
 *
 * The table named with -c is an allow/deny list of destination networks
 * and ports, checked in order; the first rule that matches decides, and a
 * destination that matches no rule is denied.  A `connect SECS' line sets
 * the timeout of each connect attempt (default 5 s).  Without a table this
 * is an open proxy, and the log says so; a table must hold a rule (an open
 * proxy with a table is written `allow any'), so that an empty or
 * truncated file fails closed.
 *
 *	allow 127.0.0.0/8 port 80
 *	allow 10.0.0.0/8 ports 1-1024
 *	deny 0.0.0.0/0
 *	connect 2.5
 *
 * SOCKS4a (a 0.0.0.x destination with a host name after the user id) is
 * refused: it would need a name lookup on the event loop.
 *
 * Copyright (c) 2026 The proxymachine authors.  MIT licence: see LICENSE.
 */

#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "../router.h"

/*
 * The most rules a table may hold.  Each costs 20 bytes, twice: the table
 * in force and the one a reload parses into.
 */
#ifndef PM_SOCKS4_MAXRULES
#define PM_SOCKS4_MAXRULES	256
#endif

/*
 * The longest user id, and SOCKS4a host name, waited for (without the
 * NUL).  A client that sends more without a NUL is refused.  It must stay
 * well below the core's buffer size.
 */
#ifndef PM_SOCKS4_MAXID
#define PM_SOCKS4_MAXID		255
#endif

/* Each connect attempt's timeout, unless the table says otherwise. */
#ifndef PM_SOCKS4_CONNECT_MS
#define PM_SOCKS4_CONNECT_MS	5000
#endif

#define S4_VERSION	4
#define S4_CONNECT	1
#define S4_GRANTED	0x5a
#define S4_REJECTED	0x5b
#define S4_HDRLEN	8	/* version, command, port, address */

/* One allow or deny line; addresses in host byte order. */
struct rule {
	int		 allow;
	uint32_t	 net;
	int		 bits;		/* prefix length, 0 to 32 */
	unsigned int	 lo, hi;	/* ports, inclusive */
};

struct table {
	struct rule	 rules[PM_SOCKS4_MAXRULES];
	int		 nrules;
	int		 connect_ms;
	int		 hasconnect;
};

const char	router_name[] = "socks4";
const int	router_lookups = 0;	/* it looks no name up */

static struct table	tables[2];
static struct table	*cur = &tables[0];

static const unsigned char	granted[S4_HDRLEN] = { 0, S4_GRANTED };
static const unsigned char	rejected[S4_HDRLEN] = { 0, S4_REJECTED };

static uint32_t	mask(int);
static int	parse_num(const char *, const char *, unsigned int,
		    unsigned int *);
static int	parse_net(char *, struct rule *, char *, size_t);
static int	parse_ports(char *, struct rule *, char *, size_t);
static int	load_line(void *, char *, char *, size_t);
static char	*rule_str(const struct rule *, char *, size_t);
static const struct rule *match(const struct table *, uint32_t,
		    unsigned int);
static const unsigned char *idend(const unsigned char *, size_t);
static void	refuse(struct pm_route *, const struct sockaddr *,
		    const char *, ...)
#if defined(__GNUC__) || defined(__clang__)
		    __attribute__((format(printf, 3, 4)))
#endif
		    ;

/*
 * Return the netmask of a prefix length, in host byte order.
 */
static uint32_t
mask(int bits)
{
	return bits == 0 ? 0 : 0xffffffffU << (32 - bits);
}

/*
 * Parse the decimal number from s up to end (the NUL when end is NULL),
 * at most max, into *n.  Return 0, or -1 when it is not such a number.
 */
static int
parse_num(const char *s, const char *end, unsigned int max, unsigned int *n)
{
	unsigned long	 v = 0;

	if (end == NULL)
		end = s + strlen(s);
	if (s == end)
		return -1;
	for (; s < end; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (unsigned long)(*s - '0');
		if (v > max)
			return -1;
	}
	*n = (unsigned int)v;
	return 0;
}

/*
 * Parse "a.b.c.d", "a.b.c.d/bits" or "any" into r.  Return 0, or -1 with
 * the problem in err.
 */
static int
parse_net(char *s, struct rule *r, char *err, size_t errlen)
{
	struct in_addr	 in;
	unsigned int	 bits = 32;
	char		*slash;

	if (strcmp(s, "any") == 0) {
		r->net = 0;
		r->bits = 0;
		return 0;
	}
	if ((slash = strchr(s, '/')) != NULL) {
		*slash = '\0';
		if (parse_num(slash + 1, NULL, 32, &bits) == -1) {
			snprintf(err, errlen, "bad prefix length /%s",
			    slash + 1);
			return -1;
		}
	}
	if (inet_pton(AF_INET, s, &in) != 1) {
		snprintf(err, errlen, "bad IPv4 network %s", s);
		return -1;
	}
	r->net = ntohl(in.s_addr);
	r->bits = (int)bits;
	if ((r->net & ~mask(r->bits)) != 0) {
		snprintf(err, errlen, "%s/%u has bits set past the prefix",
		    s, bits);
		return -1;
	}
	return 0;
}

/*
 * Parse "port" or "lo-hi" into r.  Return 0, or -1 with the problem in err.
 */
static int
parse_ports(char *s, struct rule *r, char *err, size_t errlen)
{
	char	*dash;

	if ((dash = strchr(s, '-')) == NULL) {
		if (parse_num(s, NULL, 65535, &r->lo) == -1 || r->lo == 0)
			goto bad;
		r->hi = r->lo;
		return 0;
	}
	if (parse_num(s, dash, 65535, &r->lo) == -1 || r->lo == 0 ||
	    parse_num(dash + 1, NULL, 65535, &r->hi) == -1 ||
	    r->hi < r->lo)
		goto bad;
	return 0;
bad:
	snprintf(err, errlen, "bad port or range %s (1 to 65535, lo-hi)", s);
	return -1;
}

/*
 * Add the rule on one table line to the table at arg:
 *	allow|deny NETWORK[/BITS] [port|ports N[-M]]
 * Return 0, or -1 with the problem in err.
 */
static int
load_line(void *arg, char *line, char *err, size_t errlen)
{
	struct table	*t = arg;
	struct rule	*r;
	char		*f[4];
	int		 n;

	if ((n = pm_conf_split(line, f, 4)) == -1) {
		snprintf(err, errlen, "too many fields");
		return -1;
	}
	if (strcmp(f[0], "connect") == 0) {
		if (n != 2 || pm_conf_secs(f[1], &t->connect_ms) == -1) {
			snprintf(err, errlen, "expected connect SECS (up to "
			    "%d, three decimals at most; 0: the system's)",
			    PM_CONF_MAXSECS);
			return -1;
		}
		if (t->hasconnect) {
			snprintf(err, errlen, "second connect line");
			return -1;
		}
		t->hasconnect = 1;
		return 0;
	}
	if (t->nrules == PM_SOCKS4_MAXRULES) {
		snprintf(err, errlen, "too many rules (at most %d: "
		    "raise PM_SOCKS4_MAXRULES)", PM_SOCKS4_MAXRULES);
		return -1;
	}
	r = &t->rules[t->nrules];
	if (strcmp(f[0], "allow") == 0)
		r->allow = 1;
	else if (strcmp(f[0], "deny") == 0)
		r->allow = 0;
	else {
		snprintf(err, errlen, "%s: expected allow or deny", f[0]);
		return -1;
	}
	if (n != 2 && n != 4) {
		snprintf(err, errlen, "expected %s NETWORK[/BITS] "
		    "[port N | ports N-M]", f[0]);
		return -1;
	}
	if (parse_net(f[1], r, err, errlen) == -1)
		return -1;
	r->lo = 1;
	r->hi = 65535;
	if (n == 4) {
		if (strcmp(f[2], "port") != 0 && strcmp(f[2], "ports") != 0) {
			snprintf(err, errlen, "%s: expected port or ports",
			    f[2]);
			return -1;
		}
		if (parse_ports(f[3], r, err, errlen) == -1)
			return -1;
	}
	t->nrules++;
	return 0;
}

/*
 * Write rule r as a table line into buf.  Return buf.
 */
static char *
rule_str(const struct rule *r, char *buf, size_t len)
{
	struct in_addr	 in;
	char		 a[INET_ADDRSTRLEN], p[16] = "";

	in.s_addr = htonl(r->net);
	if (inet_ntop(AF_INET, &in, a, sizeof(a)) == NULL)
		snprintf(a, sizeof(a), "?");
	if (r->lo != 1 || r->hi != 65535) {
		if (r->lo == r->hi)
			snprintf(p, sizeof(p), " port %u", r->lo);
		else
			snprintf(p, sizeof(p), " ports %u-%u", r->lo, r->hi);
	}
	snprintf(buf, len, "%s %s/%d%s", r->allow ? "allow" : "deny", a,
	    r->bits, p);
	return buf;
}

/*
 * Return the first rule of t that matches ip and port (host byte order),
 * or NULL when none does.
 */
static const struct rule *
match(const struct table *t, uint32_t ip, unsigned int port)
{
	const struct rule	*r;
	int			 i;

	for (i = 0; i < t->nrules; i++) {
		r = &t->rules[i];
		if ((ip & mask(r->bits)) == r->net && port >= r->lo &&
		    port <= r->hi)
			return r;
	}
	return NULL;
}

/*
 * Find the NUL that ends a user id or SOCKS4a host name (at most
 * PM_SOCKS4_MAXID bytes) starting at p, of which n bytes have arrived.
 * Look no further than the longest allowed, so that a field too long is
 * refused whether or not its NUL came in the same read.  Return the NUL,
 * or NULL when it has not arrived.
 */
static const unsigned char *
idend(const unsigned char *p, size_t n)
{
	return memchr(p, '\0', n < PM_SOCKS4_MAXID + 1 ? n :
	    PM_SOCKS4_MAXID + 1);
}

/*
 * Log why the client at peer is refused, and make route reply 00 5b and
 * close.
 */
static void
refuse(struct pm_route *route, const struct sockaddr *peer,
    const char *fmt, ...)
{
	va_list	 ap;
	char	 why[256];

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	(void)peer;
	pm_note("socks4: refused: %s", why);
	route->action = PM_CLOSE;
	route->reply = rejected;
	route->replylen = sizeof(rejected);
}

/*
 * Read the rules at path (none when path is NULL) into the spare table and
 * put it in force.  Return 0, or -1 with `path:line: problem' in err and
 * the rules in force untouched.
 */
int
router_load(const char *path, char *err, size_t errlen)
{
	struct table	*next;
	int		 i;

	next = cur == &tables[0] ? &tables[1] : &tables[0];
	next->nrules = 0;
	next->connect_ms = PM_SOCKS4_CONNECT_MS;
	next->hasconnect = 0;
	if (path != NULL &&
	    pm_conf_read(path, load_line, next, err, errlen) == -1)
		return -1;
	if (path != NULL && next->nrules == 0) {
		/* A file emptied or cut short must not open the proxy. */
		snprintf(err, errlen, "%s: no rule: a table must allow "
		    "something (an open proxy is `allow any')", path);
		return -1;
	}
	cur = next;
	if (cur->nrules == 0)
		pm_log(PM_LOG_WARN, "socks4: warning: no table (-c): this "
		    "is an open "
		    "proxy: any client may connect to any address");
	else {
		for (i = 0; i < cur->nrules; i++)
			if (cur->rules[i].allow && cur->rules[i].bits == 0)
				break;
		pm_log(i < cur->nrules ? PM_LOG_WARN : PM_LOG_NOTICE,
		    "socks4: %d rule%s from %s%s", cur->nrules,
		    cur->nrules == 1 ? "" : "s", path, i < cur->nrules ?
		    "; warning: one allows any address: an open proxy" : "");
	}
	return 0;
}

/*
 * Decide for the len bytes at buf: wait for the whole request, then grant
 * and connect, or reject and close.
 */
void
router_route(const unsigned char *buf, size_t len,
    const struct sockaddr *peer, int expired, struct pm_route *route)
{
	struct sockaddr_in	*sin;
	const struct rule	*r;
	const unsigned char	*nul;
	char			 ds[PM_ADDRSTRLEN], rs[64], hs[64];
	size_t			 end, hlen;
	uint32_t		 ip;
	unsigned int		 port;

	/*
	 * This router asks for no wait, so expired is set only when the
	 * client ended its stream before the request was whole: PM_NOOP
	 * then closes it, and so does the refusal of a request that is
	 * already bad, with its 00 5b.
	 */
	(void)expired;

	/* PM_NOOP: wait for more bytes until the request is whole. */
	route->action = PM_NOOP;
	if (len >= 1 && buf[0] != S4_VERSION) {
		refuse(route, peer, "version %u, not 4", buf[0]);
		return;
	}
	if (len >= 2 && buf[1] != S4_CONNECT) {
		refuse(route, peer, "command %u, not 1 (CONNECT)", buf[1]);
		return;
	}
	if (len <= S4_HDRLEN)
		return;
	if ((nul = idend(buf + S4_HDRLEN, len - S4_HDRLEN)) == NULL) {
		if (len - S4_HDRLEN > PM_SOCKS4_MAXID)
			refuse(route, peer, "user id longer than %d bytes",
			    PM_SOCKS4_MAXID);
		return;
	}
	end = (size_t)(nul - buf) + 1;

	port = (unsigned int)buf[2] << 8 | buf[3];
	ip = (uint32_t)buf[4] << 24 | (uint32_t)buf[5] << 16 |
	    (uint32_t)buf[6] << 8 | buf[7];

	sin = (struct sockaddr_in *)&route->addr;
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)port);
	sin->sin_addr.s_addr = htonl(ip);
	route->addrlen = sizeof(*sin);
	pm_addr_str((struct sockaddr *)sin, ds, sizeof(ds));

	if (ip != 0 && ip <= 0xff) {
		/*
		 * SOCKS4a: a host name follows the user id.  Read it too, so
		 * the refusal is not lost to a reset for unread bytes, and
		 * name it in the log.
		 */
		if ((nul = idend(buf + end, len - end)) == NULL) {
			if (len - end > PM_SOCKS4_MAXID)
				refuse(route, peer, "SOCKS4a host name "
				    "longer than %d bytes", PM_SOCKS4_MAXID);
			return;
		}
		hlen = (size_t)(nul - (buf + end));
		refuse(route, peer, "SOCKS4a (host name %s, port %u) is not "
		    "supported", pm_quote(buf + end, hlen, hs, sizeof(hs)),
		    port);
		return;
	}
	if (ip == 0 || port == 0) {
		refuse(route, peer, "bad destination %s", ds);
		return;
	}
	if (cur->nrules > 0) {
		if ((r = match(cur, ip, port)) == NULL) {
			refuse(route, peer, "%s matches no rule", ds);
			return;
		}
		if (!r->allow) {
			refuse(route, peer, "%s denied by \"%s\"", ds,
			    rule_str(r, rs, sizeof(rs)));
			return;
		}
	}

	/*
	 * PM_REMOTE: grant once connected, reject if that fails, and send
	 * the destination only what followed the request (data is not
	 * NULL, so a datalen of 0 sends nothing).
	 */
	route->action = PM_REMOTE;
	route->ok_reply = granted;
	route->ok_replylen = sizeof(granted);
	route->fail_reply = rejected;
	route->fail_replylen = sizeof(rejected);
	route->data = buf + end;
	route->datalen = len - end;
	route->connect_ms = cur->connect_ms;
}

/* Never called: this router asks for no lookup. */
void
router_resolved(const unsigned char *buf, size_t len,
    const struct sockaddr *peer, const struct pm_answer *answer,
    struct pm_route *route)
{
	(void)buf;
	(void)len;
	(void)peer;
	(void)answer;
	(void)route;
}

/*
 * Note that the destination could not be reached (the line logged at the
 * close names it); the client gets 00 5b, the fail_reply.
 */
void
router_connect_error(const struct pm_route *route)
{
	(void)route;
	pm_note("socks4: destination unreachable: rejected");
}

/*
 * Note that the destination said nothing before the idle timeout (never
 * called while this router sets no idle_ms).
 */
void
router_idle_error(const struct pm_route *route)
{
	(void)route;
	pm_note("socks4: destination sent nothing");
}

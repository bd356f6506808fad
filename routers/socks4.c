/*
 * socks4.c: a SOCKS4 and SOCKS4a CONNECT router for proxymachine.
 *
 * The client sends version 4, command 1 (CONNECT), the destination port
 * and IPv4 address, and a user id ended by a NUL; a SOCKS4a client sends
 * the address 0.0.0.x (x not 0) and a host name ended by a NUL after the
 * user id, which the core's resolver processes look up (PM_LOOKUP) for
 * its IPv4 addresses.  Once the whole request has arrived (and the name
 * is found) the router connects to the destination, and the client gets
 * 00 5a (granted) once the connect succeeded, or 00 5b (rejected) when it
 * finally failed, or the lookup did; whatever the client sent after the
 * request goes on to the destination.  Anything else is answered 00 5b
 * and closed.
 *
 * The table named with -c holds, in order:
 *
 *	client allow 192.168.0.0/16	# who may use the proxy
 *	client deny any
 *	deny 10.0.0.0/8			# where to: networks...
 *	allow *.example.org ports 80-443	# ...and names (SOCKS4a)
 *	allow 127.0.0.0/8 port 80 proxy=2
 *	deny any
 *	connect 2.5
 *
 * Client rules match the client's address; the first that matches
 * decides, a client that matches none is refused, and without client
 * rules any client is served (a warning says so when the proxy listens
 * on an address other than a loopback one).  Destination rules are
 * checked in order and the first that matches decides; a destination
 * that matches none is denied.  A network rule matches the address
 * connected to (for SOCKS4a, the first IPv4 address the name has); a name
 * rule (`host.example.org', or `*.example.org' for the names below it)
 * matches the name a SOCKS4a client sent, in any case, and never a
 * request that gave an address.  So a name rule decides for whatever
 * address its names have: put the deny rules that must hold for every
 * destination (inner networks) above it.  Ports are checked for both.
 * proxy=1 or proxy=2 on an allow rule sends the destination a PROXY
 * protocol header.  A `connect SECS' line sets the timeout of each
 * connect attempt and of a lookup (default 5 s).  Without a table this
 * is an open proxy, and the log says so; a table must hold a destination
 * rule (an open proxy with a table is written `allow any'), so that an
 * empty or truncated file fails closed.
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
 * The most destination rules a table may hold, each 32 bytes, the most
 * client rules, each 28, and the bytes of the names in its name rules;
 * each twice: the table in force and the one a reload parses into.
 */
#ifndef PM_SOCKS4_MAXRULES
#define PM_SOCKS4_MAXRULES	256
#endif
#ifndef PM_SOCKS4_MAXCLIENTS
#define PM_SOCKS4_MAXCLIENTS	64
#endif
#ifndef PM_SOCKS4_NAMES
#define PM_SOCKS4_NAMES		4096
#endif

/*
 * The longest user id, and SOCKS4a host name, waited for (without the
 * NUL).  A client that sends more without a NUL is refused.  It must stay
 * well below the core's buffer size, and a host name is looked up only if
 * it fits PM_HOSTMAX.
 */
#ifndef PM_SOCKS4_MAXID
#define PM_SOCKS4_MAXID		255
#endif

/* Each connect attempt's timeout, and a lookup's, unless the table says. */
#ifndef PM_SOCKS4_CONNECT_MS
#define PM_SOCKS4_CONNECT_MS	5000
#endif

#define S4_VERSION	4
#define S4_CONNECT	1
#define S4_GRANTED	0x5a
#define S4_REJECTED	0x5b
#define S4_HDRLEN	8	/* version, command, port, address */

/*
 * One allow or deny line: a network (addresses in host byte order) or,
 * when namelen is not 0, a name (wild: the names below it).
 */
struct rule {
	int		 allow;
	int		 proxy;		/* PROXY protocol version, 0: none */
	uint32_t	 net;
	int		 bits;		/* prefix length, 0 to 32 */
	unsigned int	 lo, hi;	/* ports, inclusive */
	uint16_t	 name;		/* at names[name] */
	uint16_t	 namelen;
	int		 wild;
};

/* One client line. */
struct crule {
	int		 allow;
	struct pm_net	 net;
};

struct table {
	struct rule	 rules[PM_SOCKS4_MAXRULES];
	int		 nrules;
	struct crule	 clients[PM_SOCKS4_MAXCLIENTS];
	int		 nclients;
	char		 names[PM_SOCKS4_NAMES];	/* lower case */
	size_t		 namesused;
	int		 connect_ms;
	int		 hasconnect;
};

/* A whole request, as parsed. */
struct req {
	unsigned int		 port;
	uint32_t		 ip;
	const unsigned char	*host;	/* SOCKS4a: the name, else NULL */
	size_t			 hostlen;
	size_t			 end;	/* the request's bytes */
};

const char	router_name[] = "socks4";
const int	router_lookups = 1;	/* SOCKS4a names */

static struct table	tables[2];
static struct table	*cur = &tables[0];

static const unsigned char	granted[S4_HDRLEN] = { 0, S4_GRANTED };
static const unsigned char	rejected[S4_HDRLEN] = { 0, S4_REJECTED };

static uint32_t	mask(int);
static int	parse_num(const char *, const char *, unsigned int,
		    unsigned int *);
static int	parse_net(char *, struct rule *, char *, size_t);
static int	parse_name(struct table *, char *, struct rule *, char *,
		    size_t);
static int	parse_ports(char *, struct rule *, char *, size_t);
static int	load_client(struct table *, char **, int, char *, size_t);
static int	load_line(void *, char *, char *, size_t);
static char	*rule_str(const struct table *, const struct rule *, char *,
		    size_t);
static int	name_match(const struct table *, const struct rule *,
		    const unsigned char *, size_t);
static const struct rule *match(const struct table *, const struct req *,
		    int, unsigned int, int *);
static int	parse_req(const unsigned char *, size_t, struct req *,
		    struct pm_route *);
static void	grant(const struct req *, uint32_t, const unsigned char *,
		    size_t, struct pm_route *);
static const unsigned char *idend(const unsigned char *, size_t);
static void	refuse(struct pm_route *, const char *, ...)
#if defined(__GNUC__) || defined(__clang__)
		    __attribute__((format(printf, 2, 3)))
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
 * Parse the name pattern s, "host.example.org" or "*.example.org", into
 * r, keeping the name in t.  Return 0, or -1 with the problem in err.
 */
static int
parse_name(struct table *t, char *s, struct rule *r, char *err,
    size_t errlen)
{
	size_t	 i, n;

	if ((r->wild = s[0] == '*' && s[1] == '.'))
		s += 2;
	n = strlen(s);
	if (n == 0 || n > 253 || s[0] == '.' || s[n - 1] == '.') {
		snprintf(err, errlen, "bad name %s%s", r->wild ? "*." : "",
		    s);
		return -1;
	}
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
		    s[i] == '.' || s[i] == '_')) {
			snprintf(err, errlen, "bad name %s%s: letters, digits, "
			    "'-', '_' and dots, after `*.' for the names below "
			    "one", r->wild ? "*." : "", s);
			return -1;
		}
	if (n > sizeof(t->names) - t->namesused) {
		snprintf(err, errlen, "the names take more than %d bytes "
		    "(raise PM_SOCKS4_NAMES)", PM_SOCKS4_NAMES);
		return -1;
	}
	for (i = 0; i < n; i++)
		t->names[t->namesused + i] = s[i] >= 'A' && s[i] <= 'Z' ?
		    (char)(s[i] - 'A' + 'a') : s[i];
	r->name = (uint16_t)t->namesused;
	r->namelen = (uint16_t)n;
	t->namesused += n;
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
 * Add the client line of n fields f to t: client allow|deny NETWORK.
 * Return 0, or -1 with the problem in err.
 */
static int
load_client(struct table *t, char **f, int n, char *err, size_t errlen)
{
	struct crule	*c = &t->clients[t->nclients];

	if (n != 3 || (strcmp(f[1], "allow") != 0 &&
	    strcmp(f[1], "deny") != 0)) {
		snprintf(err, errlen, "expected client allow|deny NETWORK");
		return -1;
	}
	if (t->nclients == PM_SOCKS4_MAXCLIENTS) {
		snprintf(err, errlen, "too many client rules (at most %d: "
		    "raise PM_SOCKS4_MAXCLIENTS)", PM_SOCKS4_MAXCLIENTS);
		return -1;
	}
	c->allow = f[1][0] == 'a';
	if (pm_net_parse(f[2], &c->net, err, errlen) == -1)
		return -1;
	t->nclients++;
	return 0;
}

/*
 * Add the rule on one table line to the table at arg:
 *	allow|deny NETWORK[/BITS]|NAME [port|ports N[-M]] [proxy=1|2]
 *	client allow|deny NETWORK[/BITS]
 *	connect SECS
 * Return 0, or -1 with the problem in err.
 */
static int
load_line(void *arg, char *line, char *err, size_t errlen)
{
	struct table	*t = arg;
	struct rule	*r;
	char		*f[6], *s;
	int		 n, k;

	if ((n = pm_conf_split(line, f, 5)) == -1) {
		snprintf(err, errlen, "too many fields");
		return -1;
	}
	if (strcmp(f[0], "client") == 0)
		return load_client(t, f, n, err, errlen);
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
	memset(r, 0, sizeof(*r));
	if (strcmp(f[0], "allow") == 0)
		r->allow = 1;
	else if (strcmp(f[0], "deny") == 0)
		r->allow = 0;
	else {
		snprintf(err, errlen, "%s: expected allow, deny, client or "
		    "connect", f[0]);
		return -1;
	}
	if (n > 2 && strncmp(f[n - 1], "proxy=", 6) == 0) {
		s = f[--n] + 6;
		if (!r->allow || (strcmp(s, "1") != 0 &&
		    strcmp(s, "2") != 0)) {
			snprintf(err, errlen, "proxy=1 or proxy=2, on an allow "
			    "rule");
			return -1;
		}
		r->proxy = s[0] - '0';
	}
	if (n != 2 && n != 4) {
		snprintf(err, errlen, "expected %s NETWORK[/BITS]|NAME "
		    "[port N | ports N-M] [proxy=1|2]", f[0]);
		return -1;
	}
	/* Digits, dots and a slash are a network; a letter makes a name. */
	for (k = 0; f[1][k] != '\0' && ((f[1][k] >= '0' && f[1][k] <= '9') ||
	    f[1][k] == '.' || f[1][k] == '/'); k++)
		;
	if (f[1][k] != '\0' && strcmp(f[1], "any") != 0) {
		if (parse_name(t, f[1], r, err, errlen) == -1)
			return -1;
	} else if (parse_net(f[1], r, err, errlen) == -1)
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
 * Write rule r of t as a table line into buf.  Return buf.
 */
static char *
rule_str(const struct table *t, const struct rule *r, char *buf, size_t len)
{
	struct in_addr	 in;
	char		 a[INET_ADDRSTRLEN + 4], p[24] = "", x[12] = "";

	in.s_addr = htonl(r->net);
	if (r->namelen == 0 && inet_ntop(AF_INET, &in, a, INET_ADDRSTRLEN) ==
	    NULL)
		snprintf(a, sizeof(a), "?");
	if (r->namelen == 0)
		snprintf(a + strlen(a), sizeof(a) - strlen(a), "/%d", r->bits);
	if (r->lo != 1 || r->hi != 65535) {
		if (r->lo == r->hi)
			snprintf(p, sizeof(p), " port %u", r->lo);
		else
			snprintf(p, sizeof(p), " ports %u-%u", r->lo, r->hi);
	}
	if (r->proxy != 0)
		snprintf(x, sizeof(x), " proxy=%d", r->proxy);
	if (r->namelen > 0)
		snprintf(buf, len, "%s %s%.*s%s%s", r->allow ? "allow" :
		    "deny", r->wild ? "*." : "", (int)r->namelen,
		    t->names + r->name, p, x);
	else
		snprintf(buf, len, "%s %s%s%s", r->allow ? "allow" : "deny",
		    a, p, x);
	return buf;
}

/*
 * Return whether name rule r of t matches the host name at h (n bytes; a
 * dot at its end does not count), in any case.
 */
static int
name_match(const struct table *t, const struct rule *r,
    const unsigned char *h, size_t n)
{
	const char	*name = t->names + r->name;
	size_t		 i, k = r->namelen;
	int		 c;

	if (n > 0 && h[n - 1] == '.')
		n--;
	if (r->wild) {
		if (n <= k || h[n - k - 1] != '.')
			return 0;
		h += n - k;
	} else if (n != k)
		return 0;
	for (i = 0; i < k; i++) {
		c = h[i] >= 'A' && h[i] <= 'Z' ? h[i] - 'A' + 'a' : h[i];
		if (c != name[i])
			return 0;
	}
	return 1;
}

/*
 * Return the first rule of t that matches the request q: a name rule its
 * host name, a network rule ip when hasip (host byte order), each with q's
 * port; or NULL when none does.  Without hasip, the search stops at the
 * first network rule, and sets *stopped: the answer waits for the address.
 */
static const struct rule *
match(const struct table *t, const struct req *q, int hasip, uint32_t ip,
    int *stopped)
{
	const struct rule	*r;
	int			 i;

	*stopped = 0;
	for (i = 0; i < t->nrules; i++) {
		r = &t->rules[i];
		if (q->port < r->lo || q->port > r->hi)
			continue;
		if (r->namelen > 0) {
			if (q->host != NULL && name_match(t, r, q->host,
			    q->hostlen))
				return r;
		} else if (!hasip) {
			*stopped = 1;
			return NULL;
		} else if ((ip & mask(r->bits)) == r->net)
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
 * Note why the client is refused, and make route reply 00 5b and close.
 */
static void
refuse(struct pm_route *route, const char *fmt, ...)
{
	va_list	 ap;
	char	 why[256];

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	pm_note("socks4: refused: %s", why);
	route->action = PM_CLOSE;
	route->reply = rejected;
	route->replylen = sizeof(rejected);
}

/*
 * Parse the request in the len bytes at buf into q.  Return 1 when it is
 * whole, 0 while more must come (route is PM_NOOP), or -1 when it is
 * refused (route says so).
 */
static int
parse_req(const unsigned char *buf, size_t len, struct req *q,
    struct pm_route *route)
{
	const unsigned char	*nul;
	char			 hs[64];

	route->action = PM_NOOP;
	memset(q, 0, sizeof(*q));
	if (len >= 1 && buf[0] != S4_VERSION) {
		refuse(route, "version %u, not 4", buf[0]);
		return -1;
	}
	if (len >= 2 && buf[1] != S4_CONNECT) {
		refuse(route, "command %u, not 1 (CONNECT)", buf[1]);
		return -1;
	}
	if (len <= S4_HDRLEN)
		return 0;
	if ((nul = idend(buf + S4_HDRLEN, len - S4_HDRLEN)) == NULL) {
		if (len - S4_HDRLEN > PM_SOCKS4_MAXID) {
			refuse(route, "user id longer than %d bytes",
			    PM_SOCKS4_MAXID);
			return -1;
		}
		return 0;
	}
	q->end = (size_t)(nul - buf) + 1;
	q->port = (unsigned int)buf[2] << 8 | buf[3];
	q->ip = (uint32_t)buf[4] << 24 | (uint32_t)buf[5] << 16 |
	    (uint32_t)buf[6] << 8 | buf[7];
	if (q->ip != 0 && q->ip <= 0xff) {
		/* SOCKS4a: a host name follows the user id. */
		if ((nul = idend(buf + q->end, len - q->end)) == NULL) {
			if (len - q->end > PM_SOCKS4_MAXID) {
				refuse(route, "SOCKS4a host name longer than "
				    "%d bytes", PM_SOCKS4_MAXID);
				return -1;
			}
			return 0;
		}
		q->host = buf + q->end;
		q->hostlen = (size_t)(nul - q->host);
		q->end = (size_t)(nul - buf) + 1;
		if (q->hostlen == 0 || q->hostlen > PM_HOSTMAX) {
			refuse(route, "SOCKS4a host name \"%s\" empty or too "
			    "long", pm_quote(q->host, q->hostlen, hs,
			    sizeof(hs)));
			return -1;
		}
	}
	if (q->port == 0) {
		refuse(route, "port 0");
		return -1;
	}
	return 1;
}

/*
 * Decide for the whole request q, to the address ip (host byte order,
 * for SOCKS4a the one its name has), with the len bytes at buf: grant
 * and connect, or refuse.
 */
static void
grant(const struct req *q, uint32_t ip, const unsigned char *buf,
    size_t len, struct pm_route *route)
{
	struct sockaddr_in	*sin;
	const struct rule	*r = NULL;
	char			 ds[PM_ADDRSTRLEN], rs[320], hs[80], nm[96];
	int			 stopped;

	sin = (struct sockaddr_in *)&route->addr;
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)q->port);
	sin->sin_addr.s_addr = htonl(ip);
	route->addrlen = sizeof(*sin);
	pm_addr_str((struct sockaddr *)sin, ds, sizeof(ds));
	nm[0] = '\0';
	if (q->host != NULL)
		snprintf(nm, sizeof(nm), " (%s)", pm_quote(q->host,
		    q->hostlen, hs, sizeof(hs)));
	if (ip == 0) {
		refuse(route, "bad destination %s%s", ds, nm);
		return;
	}
	if (cur->nrules > 0) {
		if ((r = match(cur, q, 1, ip, &stopped)) == NULL) {
			refuse(route, "%s%s matches no rule", ds, nm);
			return;
		}
		if (!r->allow) {
			refuse(route, "%s%s denied by \"%s\"", ds, nm,
			    rule_str(cur, r, rs, sizeof(rs)));
			return;
		}
	}
	if (q->host != NULL)
		pm_note("socks4: SOCKS4a name %s", hs);

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
	route->data = buf + q->end;
	route->datalen = len - q->end;
	route->connect_ms = cur->connect_ms;
	route->proxy = r != NULL ? r->proxy : 0;
}

/*
 * Read the rules at path (none when path is NULL) into the spare table and
 * put it in force.  Return 0, or -1 with `path:line: problem' in err and
 * the rules in force untouched.
 */
int
router_load(const char *path, char *err, size_t errlen)
{
	const struct sockaddr	*la;
	struct pm_net		 lo4, lo6;
	struct table		*next;
	char			 e[64], ls[PM_ADDRSTRLEN], cs[32];
	int			 i;

	next = cur == &tables[0] ? &tables[1] : &tables[0];
	next->nrules = 0;
	next->nclients = 0;
	next->namesused = 0;
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
	if (cur->nrules == 0) {
		pm_log(PM_LOG_WARN, "socks4: warning: no table (-c): this "
		    "is an open "
		    "proxy: any client may connect to any address");
		return 0;
	}
	for (i = 0; i < cur->nrules; i++)
		if (cur->rules[i].allow && cur->rules[i].namelen == 0 &&
		    cur->rules[i].bits == 0)
			break;
	cs[0] = '\0';
	if (cur->nclients > 0)
		snprintf(cs, sizeof(cs), ", %d client rule%s", cur->nclients,
		    cur->nclients == 1 ? "" : "s");
	pm_log(i < cur->nrules ? PM_LOG_WARN : PM_LOG_NOTICE,
	    "socks4: %d rule%s from %s%s%s", cur->nrules,
	    cur->nrules == 1 ? "" : "s", path, cs, i < cur->nrules ?
	    "; warning: one allows any address: an open proxy" : "");
	/* Who may use it: said when anyone who can reach it may. */
	if (cur->nclients > 0 || pm_net_parse("127.0.0.0/8", &lo4, e,
	    sizeof(e)) == -1 || pm_net_parse("::1", &lo6, e, sizeof(e)) == -1)
		return 0;
	for (i = 0; (la = pm_listener_addr(i)) != NULL; i++)
		if (!pm_net_match(&lo4, la) && !pm_net_match(&lo6, la))
			pm_log(PM_LOG_WARN, "socks4: warning: no client rule, "
			    "and listening on %s: any client that reaches it "
			    "may use it", pm_addr_str(la, ls, sizeof(ls)));
	return 0;
}

/*
 * Decide for the len bytes at buf: refuse a client the client rules
 * refuse, wait for the whole request, look a SOCKS4a name up, then grant
 * and connect, or reject and close.
 */
void
router_route(const unsigned char *buf, size_t len,
    const struct sockaddr *peer, int expired, struct pm_route *route)
{
	const struct crule	*c = NULL;
	const struct rule	*r;
	struct req		 q;
	char			 ps[PM_ADDRSTRLEN], ns[PM_ADDRSTRLEN];
	char			 rs[320], hs[80];
	int			 i, stopped;

	/*
	 * This router asks for no wait, so expired is set only when the
	 * client ended its stream before the request was whole: PM_NOOP
	 * then closes it, and so does the refusal of a request that is
	 * already bad, with its 00 5b.
	 */
	(void)expired;

	route->action = PM_NOOP;
	if (len == 0)
		return;
	for (i = 0; i < cur->nclients; i++)
		if (pm_net_match(&cur->clients[i].net, peer)) {
			c = &cur->clients[i];
			break;
		}
	if (cur->nclients > 0 && (c == NULL || !c->allow)) {
		pm_addr_str(peer, ps, sizeof(ps));
		if (c == NULL)
			refuse(route, "client %s matches no client rule", ps);
		else
			refuse(route, "client %s denied by \"client deny "
			    "%s\"", ps, pm_net_str(&c->net, ns, sizeof(ns)));
		return;
	}
	if (parse_req(buf, len, &q, route) != 1)
		return;
	if (q.host == NULL) {
		grant(&q, q.ip, buf, len, route);
		return;
	}
	/* A name rule above every network rule decides before a lookup. */
	pm_quote(q.host, q.hostlen, hs, sizeof(hs));
	if ((r = match(cur, &q, 0, 0, &stopped)) != NULL && !r->allow) {
		refuse(route, "%s denied by \"%s\"", hs, rule_str(cur, r, rs,
		    sizeof(rs)));
		return;
	}
	if (cur->nrules > 0 && r == NULL && !stopped) {
		refuse(route, "%s matches no rule", hs);
		return;
	}
	route->action = PM_LOOKUP;
	route->host = (const char *)q.host;
	route->hostlen = q.hostlen;
	route->port = (int)q.port;
	route->family = AF_INET;
	route->connect_ms = cur->connect_ms;
}

/*
 * Decide for a SOCKS4a request once its name was looked up: the rules
 * again, with the first IPv4 address found, or 00 5b when none was.
 */
void
router_resolved(const unsigned char *buf, size_t len,
    const struct sockaddr *peer, const struct pm_answer *answer,
    struct pm_route *route)
{
	const struct sockaddr_in *sin;
	struct req		 q;
	char			 hs[80];
	int			 i;

	(void)peer;
	if (parse_req(buf, len, &q, route) != 1 || q.host == NULL) {
		refuse(route, "lookup answered for no request");
		return;
	}
	pm_quote(q.host, q.hostlen, hs, sizeof(hs));
	if (answer->status != PM_FOUND) {
		refuse(route, "SOCKS4a name %s: %s", hs,
		    pm_lookup_str(answer->status));
		return;
	}
	for (i = 0; i < answer->naddr; i++)
		if (answer->addr[i].ss_family == AF_INET)
			break;
	if (i == answer->naddr) {
		refuse(route, "SOCKS4a name %s has no IPv4 address", hs);
		return;
	}
	sin = (const struct sockaddr_in *)&answer->addr[i];
	grant(&q, ntohl(sin->sin_addr.s_addr), buf, len, route);
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

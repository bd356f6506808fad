/*
 * socks5.c: a SOCKS5 CONNECT router for proxymachine (RFC 1928), with
 * username/password authentication (RFC 1929).
 *
 * The client offers its authentication methods; the router picks "no
 * authentication" when the table has no user, else username/password,
 * which the client must then pass before its request is read.  The
 * request names the destination by IPv4 address, IPv6 address or domain
 * name, and a port; a name is looked up off the event loop (PM_LOOKUP),
 * and the first of its addresses that the rules allow is taken.  The
 * router connects, and the client gets "succeeded"
 * with the address the proxy connected from (BND.ADDR and BND.PORT) only
 * once the connect succeeded, or the reply that says why it failed:
 *
 *	01 general failure		05 connection refused
 *	02 not allowed by the rules	06 TTL expired (timed out)
 *	03 network unreachable		07 command not supported
 *	04 host unreachable		08 address type not supported
 *
 * Whatever the client sent after the request goes on to the destination.
 *
 * The table named with -c holds client rules (as socks4's: the first
 * that matches decides, a client none matches is refused), destination
 * rules, checked in order (the first that matches decides; a destination
 * no rule matches is denied), the users, and two settings:
 *
 *	client allow 192.168.0.0/16
 *	client deny any
 *	allow 127.0.0.0/8 port 80 from 192.168.0.0/16
 *	allow ::1 ports 1-1024
 *	deny *.example.org
 *	allow example.org port 443 proxy=1
 *	deny any
 *	user alice secret
 *	connect 2.5
 *	proxy=2
 *
 * A rule's destination is a network, which a name's addresses are held to
 * once it is looked up, or a name (`*.' for any below it), which only a
 * name asked for matches.  A client that no allow rule takes (its
 * `from') is refused at its first message.  Without a table this is an
 * open proxy, and the log says so; a table must hold a rule (`allow any'
 * for an open proxy), so that an empty or truncated file fails closed.
 *
 * Copyright (c) 2026 The proxymachine authors.  MIT licence: see LICENSE.
 */

#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "../router.h"

/*
 * The most rules a table may hold.  Each costs about 60 bytes, twice: the
 * table in force and the one a reload parses into.
 */
#ifndef PM_SOCKS5_MAXRULES
#define PM_SOCKS5_MAXRULES	256
#endif

/* The most client rules a table may hold, each 24 bytes, twice. */
#ifndef PM_SOCKS5_MAXCLIENTS
#define PM_SOCKS5_MAXCLIENTS	64
#endif

/*
 * The bytes a table has for its users' names and passwords (each with a
 * NUL), twice as above: 16 KiB is some 700 users of a dozen letters each.
 */
#ifndef PM_SOCKS5_USERBYTES
#define PM_SOCKS5_USERBYTES	16384
#endif

/*
 * The bytes a table has for the names in its rules (each with a NUL),
 * twice as above.
 */
#ifndef PM_SOCKS5_NAMEBYTES
#define PM_SOCKS5_NAMEBYTES	8192
#endif

/*
 * Each connect attempt's timeout, and a name lookup's, unless the table
 * says otherwise.
 */
#ifndef PM_SOCKS5_CONNECT_MS
#define PM_SOCKS5_CONNECT_MS	5000
#endif

#define S5_VERSION	5
#define S5_AUTHVERSION	1	/* of the username/password exchange */
#define S5_NOAUTH	0	/* methods */
#define S5_USERPASS	2
#define S5_NOMETHOD	0xff
#define S5_CONNECT	1	/* the one command served */
#define S5_IPV4		1	/* address types */
#define S5_NAME		3
#define S5_IPV6		4
#define S5_ERRLEN	10	/* a reply with an IPv4 address */

/* The reply codes (REP). */
enum {
	S5_OK, S5_FAIL, S5_RULES, S5_NETUNREACH, S5_HOSTUNREACH,
	S5_REFUSED, S5_TTL, S5_BADCMD, S5_BADATYP
};

/* One allow or deny line. */
struct rule {
	int		 allow;
	size_t		 name;		/* a name: its offset in names + 1 */
	struct pm_net	 dst;		/* else a network */
	struct pm_net	 from;		/* the clients it is for */
	unsigned int	 lo, hi;	/* ports, inclusive */
	int		 proxy;		/* proxy=, 0: the table's */
};

/* One client line. */
struct crule {
	int		 allow;
	struct pm_net	 net;
};

struct table {
	struct rule	 rules[PM_SOCKS5_MAXRULES];
	int		 nrules;
	struct crule	 clients[PM_SOCKS5_MAXCLIENTS];
	int		 nclients;
	char		 users[PM_SOCKS5_USERBYTES];	/* name\0pass\0... */
	size_t		 userlen;
	int		 nusers;
	char		 names[PM_SOCKS5_NAMEBYTES];
	size_t		 namelen;
	int		 connect_ms;
	int		 hasconnect;
	int		 proxy;
	int		 hasproxy;
};

/*
 * What this router keeps for a connection between two calls, in the
 * route's state: the message it waits for, and the method it picked (kept
 * because the table may change in between, on SIGHUP).  Each message is
 * consumed once answered, so the next call sees the one after it.
 */
#define S5_GREETING	0
#define S5_AUTH		1
#define S5_REQUEST	2
#define S5_PHASE(st)	((st) & 0x0f)
#define S5_METHOD(st)	((st) >> 4 & 0xff)
#define S5_STATE(ph, m)	((unsigned int)(ph) | (unsigned int)(m) << 4)

const char	router_name[] = "socks5";
const int	router_lookups = 1;	/* domain names */

static struct table	tables[2];
static struct table	*cur = &tables[0];

/* The replies of one decision: the core copies them before the next. */
static unsigned char	okrep[22];	/* 05 00 00 ATYP BND.ADDR BND.PORT */
static unsigned char	failrep[S5_ERRLEN];
static unsigned char	small[2];	/* method and login answers */
static char		hostname[PM_HOSTMAX + 1];	/* a request's name */
static const struct rule *hit;		/* the rule that allowed, or NULL */

static int	parse_num(const char *, const char *, unsigned int,
		    unsigned int *);
static int	parse_ports(char *, struct rule *, char *, size_t);
static int	load_user(struct table *, char **, int, char *, size_t);
static int	load_client(struct table *, char **, int, char *, size_t);
static int	client_rules(const struct sockaddr *);
static int	is_name(const char *, size_t, int);
static int	load_name(struct table *, struct rule *, char *, char *,
		    char *, size_t);
static int	load_line(void *, char *, char *, size_t);
static char	*rule_str(const struct rule *, char *, size_t);
static int	rule_client(const struct rule *, const struct sockaddr *);
static int	name_match(const char *, const char *);
static const struct rule *match(const struct table *,
		    const struct sockaddr *, const char *, unsigned int,
		    const struct sockaddr *, int *);
static int	client_ok(const struct table *, const struct sockaddr *);
static int	login(const struct table *, const unsigned char *, size_t,
		    const unsigned char *, size_t);
static int	unspecified(const unsigned char *, size_t);
static size_t	request_len(const unsigned char *, size_t);
static void	refuse(struct pm_route *, int, const char *, ...)
#if defined(__GNUC__) || defined(__clang__)
		    __attribute__((format(printf, 3, 4)))
#endif
		    ;
static void	greeting(const unsigned char *, size_t,
		    const struct sockaddr *, struct pm_route *);
static void	auth(const unsigned char *, size_t, struct pm_route *);
static int	request_name(const unsigned char *);
static int	sa_unspecified(const struct sockaddr *);
static int	allowed(struct pm_route *, const struct sockaddr *,
		    const char *, unsigned int, const struct sockaddr *);
static void	remote(const unsigned char *, size_t, size_t,
		    struct pm_route *);
static void	request(const unsigned char *, size_t,
		    const struct sockaddr *, struct pm_route *);

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
 * Add the user line in the n fields f to t:
 *	user NAME PASSWORD
 * Return 0, or -1 with the problem in err.
 */
static int
load_user(struct table *t, char **f, int n, char *err, size_t errlen)
{
	const char	*u;
	size_t		 ul, pl, off;
	int		 i;

	if (n != 3) {
		snprintf(err, errlen, "expected user NAME PASSWORD");
		return -1;
	}
	ul = strlen(f[1]);
	pl = strlen(f[2]);
	if (ul > 255 || pl > 255) {
		snprintf(err, errlen, "a name or password longer than 255 "
		    "bytes (RFC 1929's limit)");
		return -1;
	}
	for (off = 0, i = 0; i < t->nusers; i++) {
		u = t->users + off;
		if (strcmp(u, f[1]) == 0) {
			snprintf(err, errlen, "user %s given twice", f[1]);
			return -1;
		}
		off += strlen(u) + 1;
		off += strlen(t->users + off) + 1;
	}
	if (ul + pl + 2 > sizeof(t->users) - t->userlen) {
		snprintf(err, errlen, "too many users (%d bytes of names and "
		    "passwords at most: raise PM_SOCKS5_USERBYTES)",
		    PM_SOCKS5_USERBYTES);
		return -1;
	}
	memcpy(t->users + t->userlen, f[1], ul + 1);
	t->userlen += ul + 1;
	memcpy(t->users + t->userlen, f[2], pl + 1);
	t->userlen += pl + 1;
	t->nusers++;
	return 0;
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
	if (t->nclients == PM_SOCKS5_MAXCLIENTS) {
		snprintf(err, errlen, "too many client rules (at most %d: "
		    "raise PM_SOCKS5_MAXCLIENTS)", PM_SOCKS5_MAXCLIENTS);
		return -1;
	}
	c->allow = f[1][0] == 'a';
	if (pm_net_parse(f[2], &c->net, err, errlen) == -1)
		return -1;
	t->nclients++;
	return 0;
}

/*
 * Return whether the n bytes at s are a host name: letters, digits, `-'
 * and `_' in labels of 1 to 63 bytes, one dot apart.  With pattern, a
 * leading `*.' is taken too, and a letter is needed (so that a network
 * written wrong is not taken for a name).
 */
static int
is_name(const char *s, size_t n, int pattern)
{
	size_t	 i, label = 0;
	int	 letter = 0;

	if (pattern && n > 2 && s[0] == '*' && s[1] == '.') {
		s += 2;
		n -= 2;
	}
	if (n == 0 || n > PM_HOSTMAX)
		return 0;
	for (i = 0; i < n; i++) {
		if (s[i] == '.') {
			if (label == 0)
				return 0;
			label = 0;
			continue;
		}
		if ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' &&
		    s[i] <= 'Z'))
			letter = 1;
		else if ((s[i] < '0' || s[i] > '9') && s[i] != '-' &&
		    s[i] != '_')
			return 0;
		if (++label > 63)
			return 0;
	}
	return label > 0 && (letter || !pattern);
}

/*
 * Make r a rule for the name (or `*.name') s, kept in t's names in lower
 * case; neterr is why s is no network.  Return 0, or -1 with the problem
 * in err.
 */
static int
load_name(struct table *t, struct rule *r, char *s, char *neterr,
    char *err, size_t errlen)
{
	size_t	 n = strlen(s), i;

	if (!is_name(s, n, 1)) {
		snprintf(err, errlen, "%s (nor a host name, or *. and one)",
		    neterr);
		return -1;
	}
	if (n + 1 > sizeof(t->names) - t->namelen) {
		snprintf(err, errlen, "too many names (%d bytes at most: "
		    "raise PM_SOCKS5_NAMEBYTES)", PM_SOCKS5_NAMEBYTES);
		return -1;
	}
	for (i = 0; i <= n; i++)
		t->names[t->namelen + i] = (char)(s[i] >= 'A' &&
		    s[i] <= 'Z' ? s[i] - 'A' + 'a' : s[i]);
	r->name = t->namelen + 1;
	t->namelen += n + 1;
	return 0;
}

/*
 * Add one table line to the table at arg:
 *	allow|deny NETWORK[/BITS]|NAME [port N | ports N-M]
 *	    [from NETWORK[/BITS]] [proxy=1|2]
 *	client allow|deny NETWORK[/BITS]
 *	user NAME PASSWORD
 *	connect SECS
 *	proxy=1 | proxy=2
 * Return 0, or -1 with the problem in err.
 */
static int
load_line(void *arg, char *line, char *err, size_t errlen)
{
	struct table	*t = arg;
	struct rule	*r;
	char		*f[7], *p;
	int		 n, i;

	if ((n = pm_conf_split(line, f, 7)) == -1) {
		snprintf(err, errlen, "too many fields");
		return -1;
	}
	if (strcmp(f[0], "user") == 0)
		return load_user(t, f, n, err, errlen);
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
	if (strncmp(f[0], "proxy=", 6) == 0) {
		if (n != 1 || (strcmp(f[0] + 6, "1") != 0 &&
		    strcmp(f[0] + 6, "2") != 0)) {
			snprintf(err, errlen, "expected proxy=1 or proxy=2 "
			    "alone on its line");
			return -1;
		}
		if (t->hasproxy) {
			snprintf(err, errlen, "second proxy= line");
			return -1;
		}
		t->proxy = f[0][6] - '0';
		t->hasproxy = 1;
		return 0;
	}
	if (t->nrules == PM_SOCKS5_MAXRULES) {
		snprintf(err, errlen, "too many rules (at most %d: "
		    "raise PM_SOCKS5_MAXRULES)", PM_SOCKS5_MAXRULES);
		return -1;
	}
	r = &t->rules[t->nrules];
	if (strcmp(f[0], "allow") == 0)
		r->allow = 1;
	else if (strcmp(f[0], "deny") == 0)
		r->allow = 0;
	else {
		snprintf(err, errlen, "%s: expected allow, deny, client, "
		    "user, connect or proxy=", f[0]);
		return -1;
	}
	r->proxy = 0;
	if (n > 2 && strncmp(f[n - 1], "proxy=", 6) == 0) {
		p = f[--n] + 6;
		if (!r->allow || (strcmp(p, "1") != 0 && strcmp(p, "2") != 0)) {
			snprintf(err, errlen, "proxy=1 or proxy=2, on an allow "
			    "rule");
			return -1;
		}
		r->proxy = p[0] - '0';
	}
	if (n != 2 && n != 4 && n != 6) {
		snprintf(err, errlen, "expected %s NETWORK[/BITS]|NAME "
		    "[port N | ports N-M] [from NETWORK[/BITS]] [proxy=1|2]",
		    f[0]);
		return -1;
	}
	r->name = 0;
	if (pm_net_parse(f[1], &r->dst, err, errlen) == -1) {
		char	 neterr[256];

		snprintf(neterr, sizeof(neterr), "%s", err);
		if (load_name(t, r, f[1], neterr, err, errlen) == -1)
			return -1;
	}
	r->lo = 1;
	r->hi = 65535;
	memset(&r->from, 0, sizeof(r->from));
	r->from.family = AF_UNSPEC;
	for (i = 2; i < n; i += 2) {
		if (strcmp(f[i], "port") == 0 || strcmp(f[i], "ports") == 0) {
			if (i != 2) {
				snprintf(err, errlen, "the port clause goes "
				    "before from");
				return -1;
			}
			if (parse_ports(f[i + 1], r, err, errlen) == -1)
				return -1;
		} else if (strcmp(f[i], "from") == 0 && i == n - 2) {
			if (pm_net_parse(f[i + 1], &r->from, err, errlen) ==
			    -1)
				return -1;
		} else {
			snprintf(err, errlen, "%s: expected port, ports or "
			    "from", f[i]);
			return -1;
		}
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
	char	 d[PM_HOSTMAX + 1], c[PM_ADDRSTRLEN + 8] = "", p[16] = "";

	if (r->name > 0)
		snprintf(d, sizeof(d), "%s", cur->names + r->name - 1);
	else
		pm_net_str(&r->dst, d, sizeof(d));
	if (r->lo != 1 || r->hi != 65535) {
		if (r->lo == r->hi)
			snprintf(p, sizeof(p), " port %u", r->lo);
		else
			snprintf(p, sizeof(p), " ports %u-%u", r->lo, r->hi);
	}
	if (r->from.family != AF_UNSPEC) {
		memcpy(c, " from ", 6);
		pm_net_str(&r->from, c + 6, sizeof(c) - 6);
	}
	/* A log line's text: cut short if it must be. */
	if (snprintf(buf, len, "%s %s%s%s%s", r->allow ? "allow" : "deny", d,
	    p, c, r->proxy == 1 ? " proxy=1" : r->proxy == 2 ? " proxy=2" :
	    "") < 0)
		buf[0] = '\0';
	return buf;
}

/*
 * Return whether rule r is for the client at peer.
 */
static int
rule_client(const struct rule *r, const struct sockaddr *peer)
{
	return r->from.family == AF_UNSPEC || pm_net_match(&r->from, peer);
}

/*
 * Return whether the host name (lower case) matches the name rule pat:
 * the same name, or for `*.name' one below it.
 */
static int
name_match(const char *pat, const char *name)
{
	size_t	 pl, nl;

	if (pat[0] != '*')
		return strcmp(pat, name) == 0;
	pl = strlen(pat + 1);
	nl = strlen(name);
	return nl > pl && strcmp(name + nl - pl, pat + 1) == 0;
}

/*
 * Return the first rule of t that matches the destination, the address
 * dst or the host name (either may be NULL), on port, for the client at
 * peer, or NULL when none does.  A network rule met before the address
 * is known (a name not looked up yet) stops the search: NULL, with
 * *unknown set.
 */
static const struct rule *
match(const struct table *t, const struct sockaddr *dst, const char *name,
    unsigned int port, const struct sockaddr *peer, int *unknown)
{
	const struct rule	*r;
	int			 i;

	*unknown = 0;
	for (i = 0; i < t->nrules; i++) {
		r = &t->rules[i];
		if (port < r->lo || port > r->hi || !rule_client(r, peer))
			continue;
		if (r->name > 0) {
			if (name != NULL &&
			    name_match(t->names + r->name - 1, name))
				return r;
			continue;
		}
		if (dst == NULL) {
			*unknown = 1;
			return NULL;
		}
		if (pm_net_match(&r->dst, dst))
			return r;
	}
	return NULL;
}

/*
 * Return whether the client rules of the table in force let the client at
 * peer in (there are none, or the first that matches allows); note why
 * not.
 */
static int
client_rules(const struct sockaddr *peer)
{
	const struct crule	*c = NULL;
	char			 ps[PM_ADDRSTRLEN], ns[PM_ADDRSTRLEN];
	int			 i;

	if (cur->nclients == 0)
		return 1;
	for (i = 0; i < cur->nclients && c == NULL; i++)
		if (pm_net_match(&cur->clients[i].net, peer))
			c = &cur->clients[i];
	if (c != NULL && c->allow)
		return 1;
	pm_addr_str(peer, ps, sizeof(ps));
	if (c == NULL)
		pm_note("socks5: refused: client %s matches no client rule",
		    ps);
	else
		pm_note("socks5: refused: client %s denied by \"client deny "
		    "%s\"", ps, pm_net_str(&c->net, ns, sizeof(ns)));
	return 0;
}

/*
 * Return whether the client at peer may use the proxy at all: with rules,
 * one that allows must be for it.
 */
static int
client_ok(const struct table *t, const struct sockaddr *peer)
{
	int	 i;

	if (t->nrules == 0)
		return 1;
	for (i = 0; i < t->nrules; i++)
		if (t->rules[i].allow && rule_client(&t->rules[i], peer))
			return 1;
	return 0;
}

/*
 * Return whether the name (ul bytes at u) and the password (pl bytes at
 * p) are a user's of t.  The password is compared in a time that does not
 * depend on where it differs.
 */
static int
login(const struct table *t, const unsigned char *u, size_t ul,
    const unsigned char *p, size_t pl)
{
	const char	*name, *pass;
	size_t		 off, k, n;
	unsigned int	 diff;
	int		 i;

	for (off = 0, i = 0; i < t->nusers; i++) {
		name = t->users + off;
		off += strlen(name) + 1;
		pass = t->users + off;
		off += strlen(pass) + 1;
		if (strlen(name) != ul || memcmp(name, u, ul) != 0)
			continue;
		n = strlen(pass);
		diff = n != pl;
		for (k = 0; k < pl; k++)
			diff |= (unsigned char)pass[k < n ? k : 0] ^ p[k];
		return diff == 0;
	}
	return 0;
}

/*
 * Return whether the address of n bytes at a (4: IPv4, 16: IPv6) is one
 * that a connect may take for this host whatever the rules say: 0.0.0.0/8,
 * IPv4-mapped too, and ::.
 */
static int
unspecified(const unsigned char *a, size_t n)
{
	static const unsigned char	 mapped[12] = {
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
	};
	static const unsigned char	 zero[16];

	if (n == 16 && memcmp(a, mapped, sizeof(mapped)) == 0) {
		a += sizeof(mapped);
		n = 4;
	}
	return n == 4 ? a[0] == 0 : memcmp(a, zero, n) == 0;
}

/*
 * Return the length of the request at p, of which n bytes have arrived,
 * once its address type is known (0 before).
 */
static size_t
request_len(const unsigned char *p, size_t n)
{
	if (n < 4)
		return 0;
	switch (p[3]) {
	case S5_IPV4:
		return 4 + 4 + 2;
	case S5_IPV6:
		return 4 + 16 + 2;
	case S5_NAME:
		return n < 5 ? 0 : 4 + 1 + (size_t)p[4] + 2;
	}
	return 0;
}

/*
 * Make route answer with reply code rep (a reply with an IPv4 address of
 * zeros) and close; note why (a printf format).
 */
static void
refuse(struct pm_route *route, int rep, const char *fmt, ...)
{
	va_list	 ap;
	char	 why[256];

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	pm_note("socks5: refused (reply %02x): %s", rep, why);
	memset(failrep, 0, sizeof(failrep));
	failrep[0] = S5_VERSION;
	failrep[1] = (unsigned char)rep;
	failrep[3] = S5_IPV4;
	route->action = PM_CLOSE;
	route->reply = failrep;
	route->replylen = sizeof(failrep);
}

/*
 * Answer the method selection message, once it has arrived whole in the
 * len bytes at buf, from the client at peer: pick a method, or refuse.
 */
static void
greeting(const unsigned char *buf, size_t len, const struct sockaddr *peer,
    struct pm_route *route)
{
	char		 ps[PM_ADDRSTRLEN];
	unsigned char	 want;
	size_t		 n;

	if (buf[0] != S5_VERSION) {
		/* Not SOCKS5 (a SOCKS4 client?): no reply it would read. */
		pm_note("socks5: refused: version %u, not 5", buf[0]);
		route->action = PM_CLOSE;
		return;
	}
	if (len < 2 || len < 2 + (size_t)buf[1])
		return;
	n = buf[1];
	small[0] = S5_VERSION;
	small[1] = S5_NOMETHOD;
	route->action = PM_CLOSE;
	route->reply = small;
	route->replylen = 2;
	if (!client_rules(peer))
		return;
	if (!client_ok(cur, peer)) {
		pm_note("socks5: refused: client %s: no rule allows it",
		    pm_addr_str(peer, ps, sizeof(ps)));
		return;
	}
	want = cur->nusers > 0 ? S5_USERPASS : S5_NOAUTH;
	if (memchr(buf + 2, want, n) == NULL) {
		pm_note("socks5: refused: the client does not offer %s",
		    want == S5_USERPASS ? "username/password (method 2)" :
		    "no authentication (method 0)");
		return;
	}
	small[1] = want;
	route->action = PM_REPLY;
	route->consume = 2 + n;
	route->state = S5_STATE(want == S5_USERPASS ? S5_AUTH : S5_REQUEST,
	    want);
}

/*
 * Answer the username/password message (RFC 1929), once it has arrived
 * whole in the len bytes at buf: let the client on to its request, or
 * refuse and close.
 */
static void
auth(const unsigned char *buf, size_t len, struct pm_route *route)
{
	char	 us[64];
	size_t	 ul, pl;

	small[0] = S5_AUTHVERSION;
	small[1] = 1;			/* failure */
	route->action = PM_CLOSE;
	route->reply = small;
	route->replylen = 2;
	if (buf[0] != S5_AUTHVERSION) {
		pm_note("socks5: refused: login version %u, not 1", buf[0]);
		return;
	}
	route->action = PM_NOOP;
	route->reply = NULL;
	route->replylen = 0;
	if (len < 2 || len < 3 + (size_t)buf[1])
		return;
	ul = buf[1];
	pl = buf[2 + ul];
	if (len < 3 + ul + pl)
		return;
	route->action = PM_CLOSE;
	route->reply = small;
	route->replylen = 2;
	if (!login(cur, buf + 2, ul, buf + 3 + ul, pl)) {
		pm_note("socks5: refused: login failed for user \"%s\"",
		    pm_quote(buf + 2, ul, us, sizeof(us)));
		return;
	}
	small[1] = 0;			/* success */
	route->action = PM_REPLY;
	route->consume = 3 + ul + pl;
	route->state = S5_STATE(S5_REQUEST, S5_USERPASS);
}

/*
 * Copy the domain name of the request at buf into hostname, in lower
 * case, without one trailing dot.  Return 0, or -1 when it holds a NUL or
 * is empty.
 */
static int
request_name(const unsigned char *buf)
{
	size_t	 n = buf[4], i;

	if (n > 1 && buf[5 + n - 1] == '.')
		n--;
	if (n == 0 || memchr(buf + 5, '\0', n) != NULL)
		return -1;
	for (i = 0; i < n; i++)
		hostname[i] = (char)(buf[5 + i] >= 'A' && buf[5 + i] <= 'Z' ?
		    buf[5 + i] - 'A' + 'a' : buf[5 + i]);
	hostname[n] = '\0';
	return 0;
}

/*
 * Return whether the address sa is one that a connect may take for this
 * host whatever the rules say (unspecified()).
 */
static int
sa_unspecified(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return unspecified((const unsigned char *)
		    &((const struct sockaddr_in *)sa)->sin_addr, 4);
	return unspecified((const unsigned char *)
	    &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
}

/*
 * Check the destination on port, the address dst or the host name (either
 * may be NULL), against the rules for the client at peer.  Return 1 when
 * it is allowed, -1 when the name's address must be known first, or 0
 * with route made to refuse (reply 02).
 */
static int
allowed(struct pm_route *route, const struct sockaddr *dst,
    const char *name, unsigned int port, const struct sockaddr *peer)
{
	const struct rule	*r;
	char			 as[PM_ADDRSTRLEN], ds[PM_HOSTMAX + 80];
	char			 rs[PM_HOSTMAX + 80];
	int			 unknown;

	hit = NULL;
	if (cur->nrules == 0)
		return 1;
	r = match(cur, dst, name, port, peer, &unknown);
	if (unknown)
		return -1;
	if (dst != NULL)
		pm_addr_str(dst, as, sizeof(as));
	if (name != NULL)
		snprintf(ds, sizeof(ds), "%s port %u%s%s%s", name, port,
		    dst != NULL ? " (" : "", dst != NULL ? as : "",
		    dst != NULL ? ")" : "");
	else
		snprintf(ds, sizeof(ds), "%s", as);
	if (r == NULL) {
		refuse(route, S5_RULES, "%s matches no rule", ds);
		return 0;
	}
	if (!r->allow) {
		refuse(route, S5_RULES, "%s denied by \"%s\"", ds,
		    rule_str(r, rs, sizeof(rs)));
		return 0;
	}
	hit = r;
	return 1;
}

/*
 * Make route connect to route->addr for the request that ends at end in
 * the len bytes at buf: "succeeded" once connected, with the address the
 * core writes in (bound), or a general failure that
 * router_connect_error() makes say why.  The destination gets only what
 * followed the request (data is not NULL, so a datalen of 0 sends
 * nothing).
 */
static void
remote(const unsigned char *buf, size_t len, size_t end,
    struct pm_route *route)
{
	int	 v4 = route->addr.ss_family == AF_INET;

	route->action = PM_REMOTE;
	memset(okrep, 0, sizeof(okrep));
	okrep[0] = S5_VERSION;
	okrep[1] = S5_OK;
	okrep[3] = v4 ? S5_IPV4 : S5_IPV6;
	route->ok_reply = okrep;
	route->ok_replylen = v4 ? 4 + 4 + 2 : 4 + 16 + 2;
	route->bound = 1;
	memset(failrep, 0, sizeof(failrep));
	failrep[0] = S5_VERSION;
	failrep[1] = S5_FAIL;
	failrep[3] = S5_IPV4;
	route->fail_reply = failrep;
	route->fail_replylen = sizeof(failrep);
	route->data = buf + end;
	route->datalen = len - end;
	route->connect_ms = cur->connect_ms;
	route->proxy = hit != NULL && hit->proxy > 0 ? hit->proxy :
	    cur->proxy;
}

/*
 * Decide for the request at buf (len bytes so far) from the client at
 * peer: wait for it whole, then connect, look its name up, or refuse with
 * the reply that says why.
 */
static void
request(const unsigned char *buf, size_t len, const struct sockaddr *peer,
    struct pm_route *route)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)&route->addr;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&route->addr;
	char			 ds[PM_ADDRSTRLEN], hs[64];
	size_t			 end;
	unsigned int		 port;

	if (buf[0] != S5_VERSION) {
		refuse(route, S5_FAIL, "request version %u, not 5", buf[0]);
		return;
	}
	if (len >= 2 && buf[1] != S5_CONNECT) {
		refuse(route, S5_BADCMD, "command %u, not 1 (CONNECT)",
		    buf[1]);
		return;
	}
	if (len >= 4 && buf[3] != S5_IPV4 && buf[3] != S5_IPV6 &&
	    buf[3] != S5_NAME) {
		refuse(route, S5_BADATYP, "address type %u", buf[3]);
		return;
	}
	if ((end = request_len(buf, len)) == 0 || len < end)
		return;
	if (S5_METHOD(route->state) != S5_USERPASS && cur->nusers > 0) {
		/* Users came with a reload after the method was picked. */
		refuse(route, S5_RULES, "no login, and the table now has "
		    "users");
		return;
	}
	port = (unsigned int)buf[end - 2] << 8 | buf[end - 1];
	memset(&route->addr, 0, sizeof(route->addr));
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)port);
	route->addrlen = sizeof(*sin);
	if (buf[3] == S5_IPV4)
		memcpy(&sin->sin_addr, buf + 4, 4);
	else if (buf[3] == S5_IPV6) {
		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, buf + 4, 16);
		route->addrlen = sizeof(*sin6);
	} else if (request_name(buf) == -1) {
		refuse(route, S5_HOSTUNREACH, "no host name: %s",
		    pm_quote(buf + 5, buf[4], hs, sizeof(hs)));
		return;
	} else if (inet_pton(AF_INET, hostname, &sin->sin_addr) == 1)
		;	/* a numeric name: no lookup */
	else if (inet_pton(AF_INET6, hostname, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		route->addrlen = sizeof(*sin6);
	} else if (!is_name(hostname, strlen(hostname), 0)) {
		refuse(route, S5_HOSTUNREACH, "no host name: %s",
		    pm_quote(buf + 5, buf[4], hs, sizeof(hs)));
		return;
	} else {
		/*
		 * PM_LOOKUP, unless a rule on names decides against it
		 * first; router_resolved() decides on the answer, bounded
		 * by the connect timeout.
		 */
		if (port == 0) {
			refuse(route, S5_RULES, "bad destination %s port 0",
			    hostname);
			return;
		}
		if (allowed(route, NULL, hostname, port, peer) == 0)
			return;
		memset(&route->addr, 0, sizeof(route->addr));
		route->addrlen = 0;
		route->action = PM_LOOKUP;
		route->host = hostname;
		route->hostlen = strlen(hostname);
		route->port = (int)port;
		route->family = AF_UNSPEC;
		route->connect_ms = cur->connect_ms;
		return;
	}
	pm_addr_str((struct sockaddr *)&route->addr, ds, sizeof(ds));
	if (port == 0 || sa_unspecified((struct sockaddr *)&route->addr)) {
		refuse(route, S5_RULES, "bad destination %s", ds);
		return;
	}
	if (allowed(route, (struct sockaddr *)&route->addr, NULL, port,
	    peer) == 1)
		remote(buf, len, end, route);
}

/*
 * Decide on the answer to the lookup of the request's name: connect to
 * the first address found that the rules allow, or refuse with the reply
 * that says why (host unreachable when the name has no address, TTL
 * expired when the lookup timed out, not allowed by the rules).  buf
 * holds the request (len bytes, and those that followed it).
 */
void
router_resolved(const unsigned char *buf, size_t len,
    const struct sockaddr *peer, const struct pm_answer *answer,
    struct pm_route *route)
{
	const struct sockaddr	*sa;
	const struct rule	*r;
	size_t			 end;
	unsigned int		 port;
	int			 i, first = -1, unknown;

	hit = NULL;
	if (len < 5 || buf[3] != S5_NAME || (end = request_len(buf, len)) ==
	    0 || len < end || request_name(buf) == -1) {
		refuse(route, S5_FAIL, "the request changed under its lookup");
		return;
	}
	port = (unsigned int)buf[end - 2] << 8 | buf[end - 1];
	switch (answer->status) {
	case PM_FOUND:
		break;
	case PM_NOTFOUND:
	case PM_TRYAGAIN:
		refuse(route, S5_HOSTUNREACH, "%s: lookup: %s", hostname,
		    pm_lookup_str(answer->status));
		return;
	case PM_TIMEDOUT:
		refuse(route, S5_TTL, "%s: lookup: %s", hostname,
		    pm_lookup_str(answer->status));
		return;
	default:
		refuse(route, S5_FAIL, "%s: lookup: %s", hostname,
		    pm_lookup_str(answer->status));
		return;
	}
	for (i = 0; i < answer->naddr && i < PM_ANSWERMAX; i++) {
		sa = (const struct sockaddr *)&answer->addr[i];
		if ((sa->sa_family != AF_INET && sa->sa_family != AF_INET6) ||
		    sa_unspecified(sa))
			continue;
		if (first == -1)
			first = i;
		if (cur->nrules == 0 || ((r = match(cur, sa, hostname, port,
		    peer, &unknown)) != NULL && r->allow)) {
			hit = cur->nrules == 0 ? NULL : r;
			break;
		}
	}
	if (first == -1) {
		refuse(route, S5_RULES, "%s: no address to connect to",
		    hostname);
		return;
	}
	if (i == answer->naddr || i == PM_ANSWERMAX) {
		/* None allowed: the first one's refusal says why. */
		(void)allowed(route, (const struct sockaddr *)
		    &answer->addr[first], hostname, port, peer);
		return;
	}
	memcpy(&route->addr, &answer->addr[i], answer->addrlen[i]);
	route->addrlen = answer->addrlen[i];
	remote(buf, len, end, route);
}

/*
 * Read the table at path (none when path is NULL) into the spare table
 * and put it in force.  Return 0, or -1 with `path:line: problem' in err
 * and the table in force untouched.
 */
int
router_load(const char *path, char *err, size_t errlen)
{
	const struct sockaddr	*la;
	struct table		*next;
	struct pm_net		 lo4, lo6;
	char			 ls[PM_ADDRSTRLEN], cs[32], e[64];
	int			 i;

	next = cur == &tables[0] ? &tables[1] : &tables[0];
	next->nrules = 0;
	next->nclients = 0;
	next->namelen = 0;
	next->userlen = 0;
	next->nusers = 0;
	next->connect_ms = PM_SOCKS5_CONNECT_MS;
	next->hasconnect = 0;
	next->proxy = 0;
	next->hasproxy = 0;
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
		pm_log(PM_LOG_WARN, "socks5: warning: no table (-c): this "
		    "is an open proxy: any client may connect to any "
		    "address");
		return 0;
	}
	for (i = 0; i < cur->nrules; i++)
		if (cur->rules[i].allow && cur->rules[i].name == 0 &&
		    cur->rules[i].dst.family == AF_UNSPEC &&
		    cur->rules[i].from.family == AF_UNSPEC)
			break;
	cs[0] = '\0';
	if (cur->nclients > 0)
		snprintf(cs, sizeof(cs), ", %d client rule%s", cur->nclients,
		    cur->nclients == 1 ? "" : "s");
	pm_log(i < cur->nrules && cur->nusers == 0 && cur->nclients == 0 ?
	    PM_LOG_WARN : PM_LOG_NOTICE, "socks5: %d rule%s, %d user%s from "
	    "%s%s%s", cur->nrules, cur->nrules == 1 ? "" : "s", cur->nusers,
	    cur->nusers == 1 ? "" : "s", path, cs, i < cur->nrules &&
	    cur->nusers == 0 && cur->nclients == 0 ? "; warning: one allows "
	    "any client to any address: an open proxy" : "");
	/* Who may use it: said when anyone who can reach it may. */
	if (cur->nclients > 0 || cur->nusers > 0 ||
	    pm_net_parse("127.0.0.0/8", &lo4, e, sizeof(e)) == -1 ||
	    pm_net_parse("::1", &lo6, e, sizeof(e)) == -1)
		return 0;
	for (i = 0; (la = pm_listener_addr(i)) != NULL; i++)
		if (!pm_net_match(&lo4, la) && !pm_net_match(&lo6, la))
			pm_log(PM_LOG_WARN, "socks5: warning: no client rule "
			    "and no user, and listening on %s: any client "
			    "that reaches it may use it",
			    pm_addr_str(la, ls, sizeof(ls)));
	return 0;
}

/*
 * Decide for the len bytes at buf (those after the messages answered so
 * far), in the phase kept in route->state.
 */
void
router_route(const unsigned char *buf, size_t len,
    const struct sockaddr *peer, int expired, struct pm_route *route)
{
	/*
	 * This router asks for no wait, so expired is set only when the
	 * client ended its stream before its message was whole: PM_NOOP
	 * then closes it.
	 */
	(void)expired;
	route->action = PM_NOOP;
	if (len == 0)
		return;
	switch (S5_PHASE(route->state)) {
	case S5_GREETING:
		greeting(buf, len, peer, route);
		break;
	case S5_AUTH:
		auth(buf, len, route);
		break;
	default:
		request(buf, len, peer, route);
		break;
	}
}

/*
 * Make the reply say why the destination could not be had (the line
 * logged at the close names it).
 */
void
router_connect_error(const struct pm_route *route)
{
	unsigned char	 rep[S5_ERRLEN] = { S5_VERSION, S5_FAIL, 0, S5_IPV4 };
	const char	*why;

	switch (route->error) {
	case ECONNREFUSED:
		rep[1] = S5_REFUSED;
		why = "connection refused";
		break;
	case ETIMEDOUT:
		rep[1] = S5_TTL;
		why = "timed out";
		break;
	case ENETUNREACH:
	case ENETDOWN:
		rep[1] = S5_NETUNREACH;
		why = "network unreachable";
		break;
	case EHOSTUNREACH:
#ifdef EHOSTDOWN
	case EHOSTDOWN:
#endif
		rep[1] = S5_HOSTUNREACH;
		why = "host unreachable";
		break;
	case EACCES:
	case EPERM:
		rep[1] = S5_RULES;
		why = "prohibited on the way";
		break;
	default:
		why = "failed";
		break;
	}
	(void)pm_fail_reply(rep, sizeof(rep));
	pm_note("socks5: destination %s (reply %02x)", why, rep[1]);
}

/*
 * Note that the destination said nothing before the idle timeout (never
 * called while this router sets no idle_ms).
 */
void
router_idle_error(const struct pm_route *route)
{
	(void)route;
	pm_note("socks5: destination sent nothing");
}

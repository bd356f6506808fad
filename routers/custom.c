/*
 * custom.c: a prefix and name table router for proxymachine, and the rich
 * example of a router (routers/skeleton.c is the short one, to start
 * from).
 *
 * It shares one port among protocols: the first bytes a client sends are
 * matched against the table named with -c, and the client is relayed to
 * the backend of the line that matched.  sni, alpn and host lines match
 * the server name or an ALPN protocol of a TLS ClientHello, or the Host
 * of an HTTP request, and are tried first, in table order; then the
 * prefixes, the longest first.  The default (*) takes clients whose bytes
 * can no longer match a line, and clients that send nothing for a while,
 * so that protocols in which the server speaks first still reach a
 * backend.  allow and deny lines say which clients may use the proxy at
 * all, and a line's from= which may use that line.
 *
 *	# match			target		options
 *	sni www.example.org	127.0.0.1:8443	proxy=2
 *	sni *.example.org	127.0.0.1:8444
 *	alpn acme-tls/1		127.0.0.1:8445
 *	host www.example.org	127.0.0.1:8080	from=10.0.0.0/8
 *	SSH-			127.0.0.1:22
 *	\x16\x03		127.0.0.1:443	connect=2
 *	"GET "			127.0.0.1:8080	idle=300
 *	*			127.0.0.1:22
 *	wait			2.5
 *	allow			10.0.0.0/8
 *	deny			any		"go away\r\n"
 *
 * router.h says when the core calls the four functions at the end of
 * this file, and what each may do.  This one shows every kind of
 * decision, in code or in comments (decide()), a wait for silent clients,
 * compile-time knobs, and a table syntax with quotes and escapes: its
 * parser decodes them with the core's pm_unescape(), after pm_conf_read()
 * has cut the comments off.  It parses into a spare table and swaps it in
 * only when the whole file was good, so a bad reload leaves the running
 * table alone.  The parsers of ClientHellos and request heads are in
 * routers/sniff.c, included below, where fuzz/sniff.c can reach them.
 *
 * Copyright (c) 2026 The proxymachine authors.  MIT licence: see LICENSE.
 */

#include <sys/types.h>
#include <sys/socket.h>

#include <stdio.h>
#include <string.h>

#include "../router.h"
#include "sniff.c"

/*
 * Knobs.  Each is a compile-time constant: override one with, say,
 * `make CFLAGS=-DPM_CUSTOM_MAXENTRIES=256'.
 */

/*
 * The most prefix, sni, alpn and host lines a table may hold, besides the
 * default.  Each costs about 800 bytes, twice (the table in force and the
 * one a reload parses into), and every new client is matched against each
 * of them.
 */
#ifndef PM_CUSTOM_MAXENTRIES
#define PM_CUSTOM_MAXENTRIES	64
#endif

/*
 * The longest prefix, in bytes once the escapes are decoded.  It must be
 * smaller than the core's buffer, or the prefix could never match.
 */
#ifndef PM_CUSTOM_MAXPREFIX
#define PM_CUSTOM_MAXPREFIX	128
#endif

/* The longest reply a close line may send. */
#ifndef PM_CUSTOM_MAXREPLY
#define PM_CUSTOM_MAXREPLY	256
#endif

/*
 * The most allow and deny lines.  Each costs about 300 bytes, twice, and
 * every new client is matched against them until one matches.
 */
#ifndef PM_CUSTOM_MAXRULES
#define PM_CUSTOM_MAXRULES	16
#endif

/* The most from= options on one line. */
#ifndef PM_CUSTOM_MAXFROM
#define PM_CUSTOM_MAXFROM	4
#endif

/*
 * The most bytes of an HTTP request head a host line looks at: one that
 * has not ended by then matches no host line.  The head is parsed again
 * on each read until it ends, so a client that sends it a byte a read
 * costs up to the square of this; most servers refuse heads past 8 KiB
 * or so.  The ClientHello of sni and alpn lines may take the whole of
 * the core's buffer, PM_BUFSIZE: it is parsed once, when it is whole.
 */
#ifndef PM_CUSTOM_MAXHEAD
#define PM_CUSTOM_MAXHEAD	16384
#endif
#if PM_CUSTOM_MAXHEAD > PM_BUFSIZE
#undef PM_CUSTOM_MAXHEAD
#define PM_CUSTOM_MAXHEAD	PM_BUFSIZE
#endif

/*
 * How long a client may stay silent, in milliseconds, before it goes to
 * the default, when the table has no wait line.  Too short and a slow
 * client of a prefix protocol lands on the default; too long and the
 * users of a server-speaks-first protocol wait that long for the banner.
 */
#ifndef PM_CUSTOM_WAIT_MS
#define PM_CUSTOM_WAIT_MS	3000
#endif

/*
 * The most fields on a line: a keyword, what it matches, the target, a
 * reply and every option.
 */
#define MAXFIELDS	(9 + PM_CUSTOM_MAXFROM)

/* Room for a prefix, or a name (SNIFF_NAMEMAX) or an ALPN protocol. */
#define KEYMAX	(PM_CUSTOM_MAXPREFIX > 256 ? PM_CUSTOM_MAXPREFIX : 256)

/* What a table line matches. */
enum kind { K_PREFIX, K_SNI, K_ALPN, K_HOST };

/* Where a table line sends the clients it matches. */
struct entry {
	enum kind		 kind;
	unsigned char		 prefix[KEYMAX];	/* or name, protocol */
	size_t			 plen;		/* 0: the default */
	char			 port[8];	/* a host line's, or "" */
	int			 close;		/* close, do not connect */
	unsigned char		 reply[PM_CUSTOM_MAXREPLY];
	size_t			 replylen;	/* for close only */
	struct sockaddr_storage	 addr;
	socklen_t		 addrlen;
	int			 connect_ms;	/* 0: the system's */
	int			 idle_ms;	/* 0: none */
	int			 proxy;		/* PROXY header version, 0 */
	int			 listener;	/* -1: any */
	struct pm_net		 from[PM_CUSTOM_MAXFROM];
	int			 nfrom;		/* 0: any client */
};

/* An allow or deny line. */
struct rule {
	struct pm_net	 net;
	int		 deny;
	unsigned char	 reply[PM_CUSTOM_MAXREPLY];
	size_t		 replylen;
};

struct table {
	struct entry	 ents[PM_CUSTOM_MAXENTRIES];	/* table order */
	int		 nents;
	int		 pfx[PM_CUSTOM_MAXENTRIES];	/* longest first */
	int		 npfx;
	int		 nnames;	/* sni, alpn and host lines */
	int		 hastls;	/* an sni or alpn line */
	int		 hashttp;	/* a host line */
	struct entry	 def;
	int		 hasdef;
	int		 wait_ms;	/* 0: no wait, the core's timeout */
	int		 haswait;
	struct rule	 rules[PM_CUSTOM_MAXRULES];
	int		 nrules;
};

/* One field of a table line, its quotes and escapes decoded. */
struct field {
	char		*s;		/* NUL-terminated, may hold NULs */
	size_t		 len;
	int		 plain;		/* had no quote and no escape */
};

const char	router_name[] = "custom";
const int	router_lookups = 0;	/* it looks no name up */

static struct table	tables[2];
static struct table	*cur = &tables[0];

static int	split(char *, struct field *, int, char *, size_t);
static int	is_word(const struct field *, const char *);
static int	parse_target(struct entry *, struct field *, int, char *,
		    size_t);
static int	parse_name(struct entry *, enum kind, const struct field *,
		    char *, size_t);
static int	load_rule(struct table *, struct field *, int, char *,
		    size_t);
static int	load_line(void *, char *, char *, size_t);
static int	applies(const struct entry *, const struct sockaddr *);
static int	name_matches(const struct entry *,
		    const struct sniff_hello *, const struct sniff_host *);
static void	decide(const struct entry *, struct pm_route *);

/*
 * Split line in place into at most max fields at unquoted blanks,
 * decoding double quotes and backslash escapes.  Return the number of
 * fields, or -1 with the problem in err.
 */
static int
split(char *line, struct field *f, int max, char *err, size_t errlen)
{
	unsigned char	 byte;
	char		*r = line, *w = line;
	int		 k, n = 0, quoted;

	/*
	 * The decoded bytes are never more than the coded ones, so w never
	 * passes r, and the NUL after each field lands on a byte already
	 * read.
	 */
	for (;;) {
		while (*r == ' ' || *r == '\t')
			r++;
		if (*r == '\0')
			return n;
		if (n == max) {
			snprintf(err, errlen, "too many fields (at most %d)",
			    max);
			return -1;
		}
		f[n].s = w;
		f[n].plain = 1;
		quoted = 0;
		while (*r != '\0' && (quoted || (*r != ' ' && *r != '\t'))) {
			if (*r == '"') {
				quoted = !quoted;
				f[n].plain = 0;
				r++;
			} else if (*r == '\\') {
				f[n].plain = 0;
				if ((k = pm_unescape(r, &byte, err,
				    errlen)) == -1)
					return -1;
				*w++ = (char)byte;
				r += k;
			} else
				*w++ = *r++;
		}
		if (quoted) {
			snprintf(err, errlen, "unterminated quote");
			return -1;
		}
		f[n].len = (size_t)(w - f[n].s);
		if (*r != '\0')
			r++;
		*w++ = '\0';
		n++;
	}
}

/*
 * Return whether field f is the bare keyword word (not quoted, no escape).
 */
static int
is_word(const struct field *f, const char *word)
{
	return f->plain && strcmp(f->s, word) == 0;
}

/*
 * Read option f into e: connect=SECS, idle=SECS, proxy=1|2, from=NET or
 * listen=N, the first two for a remote only.  Return 0, or -1 with the
 * problem in err.
 */
static int
parse_option(struct entry *e, const struct field *f, char *err,
    size_t errlen)
{
	const char	*v;
	int		*ms;

	v = strchr(f->s, '=');
	if (!f->plain || v == NULL)
		goto bad;
	v++;
	if (strncmp(f->s, "from=", 5) == 0) {
		if (e->nfrom == PM_CUSTOM_MAXFROM) {
			snprintf(err, errlen, "more than %d from= on a line",
			    PM_CUSTOM_MAXFROM);
			return -1;
		}
		return pm_net_parse(v, &e->from[e->nfrom++], err, errlen);
	}
	if (strncmp(f->s, "listen=", 7) == 0) {
		if (*v == '\0' || strlen(v) > 3 ||
		    strspn(v, "0123456789") != strlen(v)) {
			snprintf(err, errlen, "%s: expected listen=N, the "
			    "listener's number from 0", f->s);
			return -1;
		}
		for (e->listener = 0; *v != '\0'; v++)
			e->listener = e->listener * 10 + (*v - '0');
		return 0;
	}
	if (e->close)
		goto bad;
	if (strncmp(f->s, "proxy=", 6) == 0) {
		if ((v[0] != '1' && v[0] != '2') || v[1] != '\0') {
			snprintf(err, errlen, "%s: expected proxy=1 or "
			    "proxy=2", f->s);
			return -1;
		}
		e->proxy = v[0] - '0';
		return 0;
	}
	if (strncmp(f->s, "connect=", 8) == 0)
		ms = &e->connect_ms;
	else if (strncmp(f->s, "idle=", 5) == 0)
		ms = &e->idle_ms;
	else
		goto bad;
	if (pm_conf_secs(v, ms) == -1) {
		snprintf(err, errlen, "%s: bad number of seconds", f->s);
		return -1;
	}
	return 0;
bad:
	if (e->close)
		snprintf(err, errlen, "%s: expected from=NET or listen=N "
		    "after close", f->s);
	else
		snprintf(err, errlen, "%s: expected connect=SECS, "
		    "idle=SECS, proxy=1|2, from=NET or listen=N", f->s);
	return -1;
}

/*
 * Fill e from the n fields after what a line matches: `HOST:PORT
 * [connect=SECS] [idle=SECS] [proxy=1|2] [from=NET]... [listen=N]' or
 * `close [REPLY] [from=NET]... [listen=N]'.  Return 0, or -1 with the
 * problem in err.
 */
static int
parse_target(struct entry *e, struct field *f, int n, char *err,
    size_t errlen)
{
	int	 i = 1;

	e->listener = -1;
	if (n == 0) {
		snprintf(err, errlen, "expected HOST:PORT or close after "
		    "the prefix");
		return -1;
	}
	if (is_word(&f[0], "close")) {
		e->close = 1;
		/* A reply, unless the field is an option. */
		if (n > 1 && !(f[1].plain && (strncmp(f[1].s, "from=", 5) ==
		    0 || strncmp(f[1].s, "listen=", 7) == 0))) {
			if (f[1].len > sizeof(e->reply)) {
				snprintf(err, errlen, "reply longer than %d "
				    "bytes", PM_CUSTOM_MAXREPLY);
				return -1;
			}
			memcpy(e->reply, f[1].s, f[1].len);
			e->replylen = f[1].len;
			i = 2;
		}
	} else {
		if (strlen(f[0].s) != f[0].len) {
			snprintf(err, errlen, "NUL in the address");
			return -1;
		}
		if (pm_addr_parse(f[0].s, NULL, &e->addr, &e->addrlen, err,
		    errlen) == -1)
			return -1;
	}
	for (; i < n; i++)
		if (parse_option(e, &f[i], err, errlen) == -1)
			return -1;
	return 0;
}

/*
 * Read what an sni, alpn or host line matches, field f, into e.  Return
 * 0, or -1 with the problem in err.
 */
static int
parse_name(struct entry *e, enum kind kind, const struct field *f,
    char *err, size_t errlen)
{
	const char	*colon;
	size_t		 i, n = f->len;

	e->kind = kind;
	if (kind == K_ALPN) {
		/* A protocol is any 1 to 255 bytes (RFC 7301). */
		if (n == 0 || n > 255) {
			snprintf(err, errlen, "expected an ALPN protocol of "
			    "1 to 255 bytes");
			return -1;
		}
		memcpy(e->prefix, f->s, n);
		e->plen = n;
		return 0;
	}
	colon = kind == K_HOST ? strchr(f->s, ':') : NULL;
	if (colon != NULL) {
		n = (size_t)(colon - f->s);
		if (colon[1] == '\0' || strlen(colon + 1) >= sizeof(e->port) ||
		    strspn(colon + 1, "0123456789") != strlen(colon + 1)) {
			snprintf(err, errlen, "%s: bad port", f->s);
			return -1;
		}
		memcpy(e->port, colon + 1, strlen(colon + 1) + 1);
	}
	if (!sniff_name_ok((const unsigned char *)f->s, n, 2)) {
		snprintf(err, errlen, "%s: expected a host name, or "
		    "*.name%s", f->s, kind == K_HOST ? " (and :PORT)" : "");
		return -1;
	}
	if (f->s[n - 1] == '.')
		n--;
	for (i = 0; i < n; i++)
		e->prefix[i] = (unsigned char)(f->s[i] >= 'A' &&
		    f->s[i] <= 'Z' ? f->s[i] - 'A' + 'a' : f->s[i]);
	e->plen = n;
	return 0;
}

/*
 * Add an allow or deny line, `allow NET' or `deny NET [REPLY]', the n
 * fields at f, to t.  Return 0, or -1 with the problem in err.
 */
static int
load_rule(struct table *t, struct field *f, int n, char *err,
    size_t errlen)
{
	struct rule	*r;

	if (t->nrules == PM_CUSTOM_MAXRULES) {
		snprintf(err, errlen, "too many allow and deny lines (at "
		    "most %d: raise PM_CUSTOM_MAXRULES)", PM_CUSTOM_MAXRULES);
		return -1;
	}
	r = &t->rules[t->nrules];
	memset(r, 0, sizeof(*r));
	r->deny = is_word(&f[0], "deny");
	if (n < 2 || n > 2 + r->deny) {
		snprintf(err, errlen, "expected allow NET or deny NET "
		    "[REPLY]");
		return -1;
	}
	if (pm_net_parse(f[1].s, &r->net, err, errlen) == -1)
		return -1;
	if (n == 3) {
		if (f[2].len > sizeof(r->reply)) {
			snprintf(err, errlen, "reply longer than %d bytes",
			    PM_CUSTOM_MAXREPLY);
			return -1;
		}
		memcpy(r->reply, f[2].s, f[2].len);
		r->replylen = f[2].len;
	}
	t->nrules++;
	return 0;
}

/*
 * Add one table line to the table at arg:
 *	PREFIX HOST:PORT [option]...
 *	PREFIX close [REPLY] [from=NET]... [listen=N]
 *	sni NAME | alpn PROTOCOL | host NAME[:PORT], then as a PREFIX
 *	allow NET
 *	deny NET [REPLY]
 *	wait SECS
 * where a PREFIX of a bare * is the default.  Return 0, or -1 with the
 * problem in err.
 */
static int
load_line(void *arg, char *line, char *err, size_t errlen)
{
	struct table	*t = arg;
	struct field	 f[MAXFIELDS];
	struct entry	*e, ne;
	enum kind	 kind;
	int		 i, j, n;

	if ((n = split(line, f, MAXFIELDS, err, errlen)) <= 0)
		return n;
	if (is_word(&f[0], "wait")) {
		if (n != 2 || pm_conf_secs(f[1].s, &t->wait_ms) == -1) {
			snprintf(err, errlen, "expected wait SECS (up to %d, "
			    "three decimals at most)", PM_CONF_MAXSECS);
			return -1;
		}
		if (t->haswait) {
			snprintf(err, errlen, "second wait line");
			return -1;
		}
		t->haswait = 1;
		return 0;
	}
	if (is_word(&f[0], "allow") || is_word(&f[0], "deny"))
		return load_rule(t, f, n, err, errlen);
	if (is_word(&f[0], "*")) {
		if (t->hasdef) {
			snprintf(err, errlen, "second default (*) line");
			return -1;
		}
		e = &t->def;
		memset(e, 0, sizeof(*e));
		if (parse_target(e, f + 1, n - 1, err, errlen) == -1)
			return -1;
		if (e->nfrom > 0 || e->listener != -1) {
			snprintf(err, errlen, "the default takes every "
			    "client: no from= or listen= (allow and deny "
			    "lines say who may connect)");
			return -1;
		}
		t->hasdef = 1;
		return 0;
	}

	if (t->nents == PM_CUSTOM_MAXENTRIES) {
		snprintf(err, errlen, "too many lines (at most %d: raise "
		    "PM_CUSTOM_MAXENTRIES)", PM_CUSTOM_MAXENTRIES);
		return -1;
	}
	memset(&ne, 0, sizeof(ne));
	kind = K_PREFIX;
	if (is_word(&f[0], "sni"))
		kind = K_SNI;
	else if (is_word(&f[0], "alpn"))
		kind = K_ALPN;
	else if (is_word(&f[0], "host"))
		kind = K_HOST;
	if (kind != K_PREFIX) {
		if (n < 2) {
			snprintf(err, errlen, "expected %s NAME and a target",
			    f[0].s);
			return -1;
		}
		if (parse_name(&ne, kind, &f[1], err, errlen) == -1 ||
		    parse_target(&ne, f + 2, n - 2, err, errlen) == -1)
			return -1;
		t->ents[t->nents++] = ne;
		t->nnames++;
		if (kind == K_HOST)
			t->hashttp = 1;
		else
			t->hastls = 1;
		return 0;
	}

	if (f[0].len == 0) {
		snprintf(err, errlen, "empty prefix (the default is *)");
		return -1;
	}
	if (f[0].len > PM_CUSTOM_MAXPREFIX) {
		snprintf(err, errlen, "prefix longer than %d bytes",
		    PM_CUSTOM_MAXPREFIX);
		return -1;
	}
	/*
	 * Keep the longest first: open a slot after the longer ones, and
	 * after the same prefix for other clients (from= or listen=).
	 */
	for (i = 0; i < t->npfx && t->ents[t->pfx[i]].plen >= f[0].len;
	    i++) {
		e = &t->ents[t->pfx[i]];
		if (e->plen == f[0].len &&
		    memcmp(e->prefix, f[0].s, f[0].len) == 0 &&
		    e->nfrom == 0 && e->listener == -1) {
			snprintf(err, errlen, "second line for this prefix");
			return -1;
		}
	}
	memcpy(ne.prefix, f[0].s, f[0].len);
	ne.plen = f[0].len;
	if (parse_target(&ne, f + 1, n - 1, err, errlen) == -1)
		return -1;
	for (j = t->npfx; j > i; j--)
		t->pfx[j] = t->pfx[j - 1];
	t->pfx[i] = t->nents;
	t->npfx++;
	t->ents[t->nents++] = ne;
	return 0;
}

/*
 * Return whether entry e takes the client at peer: its from= networks and
 * its listen= listener.
 */
static int
applies(const struct entry *e, const struct sockaddr *peer)
{
	int	 i;

	if (e->listener != -1 && pm_listener(NULL) != e->listener)
		return 0;
	if (e->nfrom == 0)
		return 1;
	for (i = 0; i < e->nfrom; i++)
		if (pm_net_match(&e->from[i], peer))
			return 1;
	return 0;
}

/*
 * Return whether the sni, alpn or host line e matches the hello at tls or
 * the request head at http (each NULL when its parser found none).
 */
static int
name_matches(const struct entry *e, const struct sniff_hello *tls,
    const struct sniff_host *http)
{
	switch (e->kind) {
	case K_SNI:
		return tls != NULL && tls->sni != NULL &&
		    sniff_name_match((const char *)e->prefix, e->plen,
		    tls->sni, tls->snilen);
	case K_ALPN:
		return tls != NULL && sniff_alpn_has(tls, e->prefix,
		    e->plen);
	case K_HOST:
		/* A host name only: no IP-literal, no odd byte. */
		if (http == NULL || !sniff_name_ok((const unsigned char *)
		    http->name, http->hostlen, 1) ||
		    !sniff_name_match((const char *)e->prefix, e->plen,
		    (const unsigned char *)http->name, http->hostlen))
			return 0;
		return e->port[0] == '\0' ||
		    (http->portlen == strlen(e->port) &&
		    memcmp(http->port, e->port, http->portlen) == 0);
	default:
		return 0;
	}
}

/*
 * Turn table entry e into the decision in route.
 */
static void
decide(const struct entry *e, struct pm_route *route)
{
	if (e->close) {
		/*
		 * PM_CLOSE: close the client.  With reply set, the reply is
		 * written in full first: use it for a message the client's
		 * protocol can show, as an HTTP 403 or a git ERR line.
		 * Without it the client only sees the connection end.
		 */
		route->action = PM_CLOSE;
		if (e->replylen > 0) {
			route->reply = e->reply;
			route->replylen = e->replylen;
		}
		return;
	}

	/*
	 * PM_REMOTE: connect to addr, send it what the client sent so far,
	 * then relay both ways.  connect_ms bounds each connect attempt
	 * (the core makes a few, 0.1 s apart, before it gives up); idle_ms
	 * closes a connection that carries no byte for that long.  Leave
	 * them 0 for the system's connect timeout and no idle timeout.
	 */
	route->action = PM_REMOTE;
	memcpy(&route->addr, &e->addr, e->addrlen);
	route->addrlen = e->addrlen;
	route->connect_ms = e->connect_ms;
	route->idle_ms = e->idle_ms;
	/*
	 * proxy, 1 or 2: the core sends the backend a PROXY protocol
	 * header of that version (the client's address and the one it
	 * connected to) before any other byte.
	 */
	route->proxy = e->proxy;

	/*
	 * PM_REMOTE with data: the backend gets datalen bytes at data
	 * instead of the client's bytes.  Use it to strip a header the
	 * backend must not see (the socks4 router strips its request), or
	 * to send a greeting of one's own.  data may point into the buffer
	 * router_route() was handed; data set with datalen 0 sends nothing.
	 *
	 *	route->data = buf + hdrlen;
	 *	route->datalen = len - hdrlen;
	 *
	 * PM_REMOTE with reply: replylen bytes at reply go to the client at
	 * once, before the backend answers: an acknowledgement of the
	 * client's request, as the 00 5a of socks4.
	 *
	 *	route->reply = "\0\x5a\0\0\0\0\0\0";
	 *	route->replylen = 8;
	 */
}

/*
 * Read the table at path into the spare table and put it in force: called
 * before the proxy listens and on SIGHUP.  path is NULL when -c was not
 * given: this router then refuses to start, where one that needs no table
 * would carry on.  Return 0, or -1 with `path:line: problem' in err and
 * the table in force untouched.
 */
int
router_load(const char *path, char *err, size_t errlen)
{
	struct table	*next;
	char		 addr[PM_ADDRSTRLEN];
	int		 i, nlis, nbad;

	if (path == NULL) {
		snprintf(err, errlen, "the custom router needs a table: "
		    "give it with -c");
		return -1;
	}
	next = cur == &tables[0] ? &tables[1] : &tables[0];
	memset(next, 0, sizeof(*next));
	next->wait_ms = PM_CUSTOM_WAIT_MS;
	if (pm_conf_read(path, load_line, next, err, errlen) == -1)
		return -1;
	if (next->nents == 0 && !next->hasdef) {
		snprintf(err, errlen, "%s: no prefix and no default", path);
		return -1;
	}
	cur = next;
	if (!cur->hasdef)
		snprintf(addr, sizeof(addr), "none");
	else if (cur->def.close)
		snprintf(addr, sizeof(addr), "close");
	else
		pm_addr_str((struct sockaddr *)&cur->def.addr, addr,
		    sizeof(addr));
	pm_log(PM_LOG_NOTICE, "custom: %d prefix%s, %d name line%s, %d "
	    "client rule%s from %s, default %s, wait %d ms",
	    cur->npfx, cur->npfx == 1 ? "" : "es", cur->nnames,
	    cur->nnames == 1 ? "" : "s", cur->nrules,
	    cur->nrules == 1 ? "" : "s", path, addr, cur->wait_ms);
	/* A listen= past the listeners given is kept (the same table may
	 * serve a proxy with more of them), and said. */
	for (nlis = 0; pm_listener_addr(nlis) != NULL; nlis++)
		continue;
	for (i = nbad = 0; i < cur->nents; i++)
		nbad += cur->ents[i].listener >= nlis;
	if (nbad > 0 && nlis > 0)
		pm_log(PM_LOG_WARN, "custom: warning: %d line%s with listen=N "
		    "past the %d listener%s (0 to %d): never taken", nbad,
		    nbad == 1 ? "" : "s", nlis, nlis == 1 ? "" : "s",
		    nlis - 1);
	return 0;
}

/*
 * Decide for the len bytes at buf, sent so far by the client at peer:
 * called with len 0 when the client connects, after each read that brings
 * bytes, and with expired set when a wait asked for ran out.  buf holds
 * every byte so far, not just the new ones.
 */
void
router_route(const unsigned char *buf, size_t len,
    const struct sockaddr *peer, int expired, struct pm_route *route)
{
	static const char *const kinds[] = { "prefix", "sni", "alpn", "host" };
	static const char *const proxies[] = { "", ", PROXY v1",
	    ", PROXY v2" };
	const struct table	*t = cur;
	const struct entry	*e;
	const struct rule	*r;
	struct sniff_hello	 hello;
	struct sniff_host	 host;
	enum sniff		 tls, http;
	char			 bs[64], ns[PM_ADDRSTRLEN];
	int			 i;

	/*
	 * The core zeroed route: PM_NOOP, no data, no reply.  Each case
	 * below sets what it needs and returns.
	 *
	 * First the client rules: the first allow or deny line whose
	 * network holds the client decides, and a client that none holds
	 * is refused.  This runs when the client connects (len 0), so a
	 * refused one is closed before it sends a byte.
	 */
	if (t->nrules > 0) {
		for (i = 0; i < t->nrules; i++)
			if (pm_net_match(&t->rules[i].net, peer))
				break;
		r = i < t->nrules ? &t->rules[i] : NULL;
		if (r == NULL || r->deny) {
			pm_note("custom: client refused (%s)", r == NULL ?
			    "no allow line holds it" : pm_net_str(&r->net,
			    ns, sizeof(ns)));
			route->action = PM_CLOSE;
			if (r != NULL && r->replylen > 0) {
				route->reply = r->reply;
				route->replylen = r->replylen;
			}
			return;
		}
	}

	/*
	 * Then the sni, alpn and host lines, in table order: each parser
	 * runs only if a line needs it.  While a line that applies to this
	 * client waits for its parser, nothing after it may decide.  A
	 * parser still waiting when the client has gone silent, or when
	 * the buffer is full, has found nothing.
	 */
	if (t->nnames > 0) {
		tls = t->hastls ? sniff_tls(buf, len, PM_BUFSIZE, &hello) :
		    SNIFF_NO;
		http = t->hashttp ? sniff_http(buf, len, PM_CUSTOM_MAXHEAD,
		    &host) : SNIFF_NO;
		if (expired || len >= PM_BUFSIZE) {
			if (tls == SNIFF_MORE)
				tls = SNIFF_NO;
			if (http == SNIFF_MORE)
				http = SNIFF_NO;
		}
		for (i = 0; i < t->nents; i++) {
			e = &t->ents[i];
			if (e->kind == K_PREFIX || !applies(e, peer))
				continue;
			if ((e->kind == K_HOST ? http : tls) == SNIFF_MORE) {
				route->action = PM_NOOP;
				route->wait_ms = t->wait_ms;
				return;
			}
			if (name_matches(e, tls == SNIFF_OK ? &hello : NULL,
			    http == SNIFF_OK ? &host : NULL)) {
				decide(e, route);
				pm_note("custom: %s %s%s", kinds[e->kind],
				    pm_quote(e->prefix, e->plen, bs,
				    sizeof(bs)), proxies[e->proxy]);
				return;
			}
		}
	}

	/*
	 * Then the prefixes.  They are longest first, so the first one
	 * that matches in full is the longest that matches, and a longer
	 * prefix that the bytes so far may still grow into comes before
	 * it.
	 */
	for (i = 0; i < t->npfx; i++) {
		e = &t->ents[t->pfx[i]];
		if (!applies(e, peer))
			continue;
		if (e->plen <= len) {
			if (memcmp(buf, e->prefix, e->plen) == 0) {
				decide(e, route);
				if (e->proxy != 0)
					pm_note("custom: PROXY v%d", e->proxy);
				return;
			}
		} else if (!expired && memcmp(buf, e->prefix, len) == 0) {
			/*
			 * PM_NOOP: this prefix may still match, so wait for
			 * more bytes.  With wait_ms set, the core calls
			 * again with expired set if the client stays
			 * silent that long: the way to serve protocols in
			 * which the server speaks first.  With wait_ms 0
			 * the client may take as long as the core's
			 * routing timeout allows: right for a router whose
			 * clients always speak first, as git's.
			 */
			route->action = PM_NOOP;
			route->wait_ms = t->wait_ms;
			return;
		}
	}

	/* No line matches or can match, or the client stayed silent. */
	if (t->hasdef) {
		if (expired)
			pm_note("custom: nothing new for %d ms after "
			    "\"%s\": default", t->wait_ms,
			    pm_quote(buf, len, bs, sizeof(bs)));
		decide(&t->def, route);
		return;
	}
	pm_note("custom: %s\"%s\" matches no line and there is no "
	    "default: closing", expired ? "silent, " : "",
	    pm_quote(buf, len, bs, sizeof(bs)));
	route->action = PM_CLOSE;
}

/*
 * Called in place of router_route() with the answer to a PM_LOOKUP
 * (router.h): a router that looks names up (router_lookups 1) decides
 * here as there, among answer->addr[] when answer->status is PM_FOUND.
 * This one asks for none, so it is never called.
 */
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
 * Called when the backend at route->addr could not be had, unless the
 * client had gone first (router.h).
 */
void
router_connect_error(const struct pm_route *route)
{
	/*
	 * The core gave up on route->addr after its retries, and is closing
	 * the client; the line it logs then names the backend.  A router
	 * may count failures here, or say what its table calls that
	 * backend.
	 */
	(void)route;
	pm_note("custom: backend down");
}

/*
 * Called when the idle timeout closed a connection whose backend had
 * never sent a byte.
 */
void
router_idle_error(const struct pm_route *route)
{
	(void)route;
	pm_note("custom: backend sent nothing before the idle timeout");
}

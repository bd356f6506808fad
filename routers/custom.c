/*
 * custom.c: a prefix table router for proxymachine, and the rich example
 * of a router (routers/skeleton.c is the short one, to start from).
 *
 * It shares one port among protocols: the first bytes a client sends are
 * matched against the prefixes of the table named with -c, the longest
 * first, and the client is relayed to that prefix's backend.  The default
 * (*) takes clients whose bytes can no longer match any prefix, and
 * clients that send nothing for a while, so that protocols in which the
 * server speaks first still reach a backend.
 *
 *	# prefix	target		options
 *	SSH-		127.0.0.1:22
 *	\x16\x03	127.0.0.1:443	connect=2
 *	"GET "		127.0.0.1:8080	idle=300
 *	*		127.0.0.1:22
 *	wait		2.5
 *
 * router.h says when the core calls the four functions at the end of
 * this file, and what each may do.  This one shows every kind of
 * decision, in code or in comments (decide()), a wait for silent clients,
 * compile-time knobs, and a table syntax with quotes and escapes: its
 * parser decodes them with the core's pm_unescape(), after pm_conf_read()
 * has cut the comments off.  It parses into a spare table and swaps it in
 * only when the whole file was good, so a bad reload leaves the running
 * table alone.
 *
 * Copyright (c) 2026 The proxymachine authors.  MIT licence: see LICENSE.
 */

#include <sys/types.h>
#include <sys/socket.h>

#include <stdio.h>
#include <string.h>

#include "../router.h"

/*
 * Knobs.  Each is a compile-time constant: override one with, say,
 * `make CFLAGS=-DPM_CUSTOM_MAXENTRIES=256'.
 */

/*
 * The most prefixes a table may hold, besides the default.  Each costs
 * about 500 bytes, twice (the table in force and the one a reload parses
 * into), and every new client is matched against each of them.
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
 * How long a client may stay silent, in milliseconds, before it goes to
 * the default, when the table has no wait line.  Too short and a slow
 * client of a prefix protocol lands on the default; too long and the
 * users of a server-speaks-first protocol wait that long for the banner.
 */
#ifndef PM_CUSTOM_WAIT_MS
#define PM_CUSTOM_WAIT_MS	3000
#endif

/* The most fields on a line: prefix, target, two options. */
#define MAXFIELDS	4

/* Where a table line sends the clients it matches. */
struct entry {
	unsigned char		 prefix[PM_CUSTOM_MAXPREFIX];
	size_t			 plen;		/* 0: the default */
	int			 close;		/* close, do not connect */
	unsigned char		 reply[PM_CUSTOM_MAXREPLY];
	size_t			 replylen;	/* for close only */
	struct sockaddr_storage	 addr;
	socklen_t		 addrlen;
	int			 connect_ms;	/* 0: the system's */
	int			 idle_ms;	/* 0: none */
};

struct table {
	struct entry	 ents[PM_CUSTOM_MAXENTRIES];	/* longest first */
	int		 nents;
	struct entry	 def;
	int		 hasdef;
	int		 wait_ms;	/* 0: no wait, the core's timeout */
	int		 haswait;
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
static int	load_line(void *, char *, char *, size_t);
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
 * Fill e from the n fields after a prefix: `HOST:PORT [connect=SECS]
 * [idle=SECS]' or `close [REPLY]'.  Return 0, or -1 with the problem in
 * err.
 */
static int
parse_target(struct entry *e, struct field *f, int n, char *err,
    size_t errlen)
{
	int	 i, *ms;

	if (n == 0) {
		snprintf(err, errlen, "expected HOST:PORT or close after "
		    "the prefix");
		return -1;
	}
	if (is_word(&f[0], "close")) {
		e->close = 1;
		if (n > 2) {
			snprintf(err, errlen, "expected close [REPLY]");
			return -1;
		}
		if (n == 2) {
			if (f[1].len > sizeof(e->reply)) {
				snprintf(err, errlen, "reply longer than %d "
				    "bytes", PM_CUSTOM_MAXREPLY);
				return -1;
			}
			memcpy(e->reply, f[1].s, f[1].len);
			e->replylen = f[1].len;
		}
		return 0;
	}
	if (strlen(f[0].s) != f[0].len) {
		snprintf(err, errlen, "NUL in the address");
		return -1;
	}
	if (pm_addr_parse(f[0].s, NULL, &e->addr, &e->addrlen, err,
	    errlen) == -1)
		return -1;
	for (i = 1; i < n; i++) {
		if (f[i].plain && strncmp(f[i].s, "connect=", 8) == 0)
			ms = &e->connect_ms;
		else if (f[i].plain && strncmp(f[i].s, "idle=", 5) == 0)
			ms = &e->idle_ms;
		else {
			snprintf(err, errlen, "%s: expected connect=SECS or "
			    "idle=SECS", f[i].s);
			return -1;
		}
		if (pm_conf_secs(strchr(f[i].s, '=') + 1, ms) == -1) {
			snprintf(err, errlen, "%s: bad number of seconds",
			    f[i].s);
			return -1;
		}
	}
	return 0;
}

/*
 * Add one table line to the table at arg:
 *	PREFIX HOST:PORT [connect=SECS] [idle=SECS]
 *	PREFIX close [REPLY]
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
	int		 i, n;

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
	if (is_word(&f[0], "*")) {
		if (t->hasdef) {
			snprintf(err, errlen, "second default (*) line");
			return -1;
		}
		e = &t->def;
		memset(e, 0, sizeof(*e));
		if (parse_target(e, f + 1, n - 1, err, errlen) == -1)
			return -1;
		t->hasdef = 1;
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
	if (t->nents == PM_CUSTOM_MAXENTRIES) {
		snprintf(err, errlen, "too many prefixes (at most %d: raise "
		    "PM_CUSTOM_MAXENTRIES)", PM_CUSTOM_MAXENTRIES);
		return -1;
	}
	/* Keep the longest first: open a slot after the longer ones. */
	for (i = 0; i < t->nents && t->ents[i].plen >= f[0].len; i++) {
		if (t->ents[i].plen == f[0].len &&
		    memcmp(t->ents[i].prefix, f[0].s, f[0].len) == 0) {
			snprintf(err, errlen, "second line for this prefix");
			return -1;
		}
	}
	memset(&ne, 0, sizeof(ne));
	memcpy(ne.prefix, f[0].s, f[0].len);
	ne.plen = f[0].len;
	if (parse_target(&ne, f + 1, n - 1, err, errlen) == -1)
		return -1;
	memmove(&t->ents[i + 1], &t->ents[i],
	    (size_t)(t->nents - i) * sizeof(t->ents[0]));
	t->ents[i] = ne;
	t->nents++;
	return 0;
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
	pm_log(PM_LOG_NOTICE, "custom: %d prefix%s from %s, default %s, "
	    "wait %d ms",
	    cur->nents, cur->nents == 1 ? "" : "es", path, addr,
	    cur->wait_ms);
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
	const struct table	*t = cur;
	const struct entry	*e;
	char			 bs[64];
	int			 i;

	(void)peer;		/* the core logs the client */
	/*
	 * The core zeroed route: PM_NOOP, no data, no reply.  Each case
	 * below sets what it needs and returns.
	 *
	 * The entries are longest first, so the first one that matches in
	 * full is the longest that matches, and a longer prefix that the
	 * bytes so far may still grow into comes before it.
	 */
	for (i = 0; i < t->nents; i++) {
		e = &t->ents[i];
		if (e->plen <= len) {
			if (memcmp(buf, e->prefix, e->plen) == 0) {
				decide(e, route);
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

	/* No prefix matches or can match, or the client stayed silent. */
	if (t->hasdef) {
		if (expired)
			pm_note("custom: nothing new for %d ms after "
			    "\"%s\": default", t->wait_ms,
			    pm_quote(buf, len, bs, sizeof(bs)));
		decide(&t->def, route);
		return;
	}
	pm_note("custom: %s\"%s\" matches no prefix and there is no "
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

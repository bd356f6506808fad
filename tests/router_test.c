/*
 * tests/router_test.c: the router of the test suite.  It plays the
 * configuration of the original ProxyMachine's tests (requests 'a', 'b',
 * 'c', 'd', 'e' * 2048 + 'f', 'g', "connect reject", "inactivity") and a
 * few more cases for the core's own tests ("p1", "p2", "h1", "h2", "l1":
 * a PROXY header of that version to A, hap or late; "l0": one to late,
 * without the request; "where": a reply that
 * says the listener and the client).  The table names the backends:
 *
 *	a	host:port	tagging echo backend A
 *	b	host:port	tagging echo backend B
 *	a6	[::1]:port	backend A over IPv6
 *	reject	host:port	a port nobody listens on
 *	slow	host:port	a listener whose connects hang
 *	flood	host:port	a backend that sends without end
 *	late	host:port	a backend that starts late (refused at first)
 *	hap	host:port	a backend that reads a PROXY header (HAProxy)
 *	hookfile path		where the error hooks write the remote
 *	banner text		a greeting sent when a client connects
 *
 * "lookup:NAME\n" looks NAME up (IPv4, the port of backend A, 1 s at
 * most; "lookupslow:NAME\n" the core's PM_LOOKUP_TIMEOUT), then routes what follows to the first address found, or closes
 * with "lookup: WHY\n".
 *
 * "hello\n" starts a dialogue in phases (PM_REPLY, state and consume):
 * the proxy answers "hi\n" and wants "pw\n" (anything else: "bad\n" and
 * close), answers that "ok\n", then routes what follows as above.
 *
 * Copyright (c) 2026 The proxymachine authors.  MIT licence: see LICENSE.
 */

#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <string.h>

#include "../router.h"

enum { B_A, B_B, B_A6, B_REJECT, B_SLOW, B_FLOOD, B_LATE, B_HAP, B_MAX };

static const char *const names[B_MAX] = {
	"a", "b", "a6", "reject", "slow", "flood", "late", "hap"
};

struct table {
	struct sockaddr_storage	 addr[B_MAX];
	socklen_t		 len[B_MAX];
	char			 hookfile[512];
	char			 banner[64];
};

/* The phases of a connection, in route->state. */
enum { T_NEW, T_GREETED, T_HELLO, T_AUTHED };

static struct table	 cur, next;

const char	 router_name[] = "test";
const int	 router_lookups = 1;

/* Parses one table line into next; returns 0, or -1 with err set. */
static int
load_line(void *arg, char *line, char *err, size_t errlen)
{
	char	*f[3];
	int	 i;

	(void)arg;
	if (pm_conf_split(line, f, 3) != 2) {
		snprintf(err, errlen, "expected: name host:port");
		return -1;
	}
	if (strcmp(f[0], "banner") == 0) {
		snprintf(next.banner, sizeof(next.banner), "%s", f[1]);
		return 0;
	}
	if (strcmp(f[0], "hookfile") == 0) {
		snprintf(next.hookfile, sizeof(next.hookfile), "%s", f[1]);
		return 0;
	}
	for (i = 0; i < B_MAX; i++)
		if (strcmp(f[0], names[i]) == 0)
			return pm_addr_parse(f[1], NULL, &next.addr[i],
			    &next.len[i], err, errlen);
	snprintf(err, errlen, "unknown backend name '%s'", f[0]);
	return -1;
}

int
router_load(const char *path, char *err, size_t errlen)
{
	memset(&next, 0, sizeof(next));
	if (path == NULL) {
		snprintf(err, errlen, "the test router needs a table (-c)");
		return -1;
	}
	if (pm_conf_read(path, load_line, NULL, err, errlen) == -1)
		return -1;
	cur = next;
	return 0;
}

/* Fills r to connect to backend b; returns nothing. */
static void
remote(struct pm_route *r, int b)
{
	r->action = PM_REMOTE;
	r->addr = cur.addr[b];
	r->addrlen = cur.len[b];
}

static int
is(const unsigned char *buf, size_t len, const char *s)
{
	return len == strlen(s) && memcmp(buf, s, len) == 0;
}

static int
starts(const unsigned char *buf, size_t len, const char *s)
{
	return len >= strlen(s) && memcmp(buf, s, strlen(s)) == 0;
}

/* Returns whether buf is the start of a longer known request. */
static int
partial(const unsigned char *buf, size_t len)
{
	static const char *const known[] = {
		"connect reject", "inactivity", "xfer\n", "flood\n", "wait",
		"six", "slow", "late", "where", "hello\n", "lookup:",
		"lookupslow:"
	};
	size_t	 i;

	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (len < strlen(known[i]) && memcmp(buf, known[i], len) == 0)
			return 1;
	return 0;
}

void
router_route(const unsigned char *buf, size_t len,
    const struct sockaddr *peer, int expired, struct pm_route *r)
{
	static char		 where[3 * PM_ADDRSTRLEN];
	const struct sockaddr	*sa;
	char			 la[PM_ADDRSTRLEN], pa[PM_ADDRSTRLEN];
	size_t			 i;
	int			 k, slow;

	if (r->state == T_NEW && len == 0 && !expired &&
	    cur.banner[0] != '\0') {
		r->action = PM_REPLY;
		r->reply = cur.banner;
		r->replylen = strlen(cur.banner);
		r->state = T_GREETED;
		return;
	}
	if (r->state == T_HELLO) {
		r->wait_ms = 200;	/* asked again, expired: no reply */
		if (starts(buf, len, "pw\n")) {
			r->action = PM_REPLY;
			r->reply = "ok\n";
			r->replylen = 3;
			r->consume = 3;
			r->state = T_AUTHED;
		} else if (len < 3 && memcmp(buf, "pw\n", len) == 0)
			r->action = PM_NOOP;
		else {
			r->action = PM_CLOSE;
			r->reply = "bad\n";
			r->replylen = 4;
		}
		return;
	}
	if (r->state != T_AUTHED && starts(buf, len, "hello\n")) {
		r->action = PM_REPLY;
		r->reply = "hi\n";
		r->replylen = 3;
		r->consume = 6;
		r->state = T_HELLO;
		r->wait_ms = 200;
		return;
	}
	if (len == 0) {
		r->action = PM_NOOP;
		return;
	}
	if (starts(buf, len, "lookup:") || starts(buf, len, "lookupslow:")) {
		slow = buf[6] != ':';
		for (i = slow ? 11 : 7; i < len && buf[i] != '\n'; i++)
			;
		r->action = PM_NOOP;
		if (i == len)
			return;
		r->action = PM_LOOKUP;
		r->host = (const char *)buf + (slow ? 11 : 7);
		r->hostlen = i - (slow ? 11 : 7);
		r->port = ntohs(((struct sockaddr_in *)&cur.addr[B_A])->
		    sin_port);
		r->family = AF_INET;
		r->connect_ms = slow ? 0 : 1000;
		return;
	}
	if (is(buf, len, "a"))
		remote(r, B_A);
	else if (is(buf, len, "b"))
		remote(r, B_B);
	else if (is(buf, len, "c")) {
		remote(r, B_A);
		r->data = "ccc";
		r->datalen = 3;
	} else if (is(buf, len, "d")) {
		r->action = PM_CLOSE;
		r->reply = "ddd";
		r->replylen = 3;
	} else if (buf[0] == 'e') {
		/* 'e' * 2048 waits; one 'f' more routes; only 'e's wait. */
		for (i = 0; i < len && buf[i] == 'e'; i++)
			;
		if (i == len)
			r->action = PM_NOOP;
		else if (i == 2048 && len == 2049 && buf[2048] == 'f')
			remote(r, B_A);
		else
			r->action = PM_CLOSE;
	} else if (is(buf, len, "g")) {
		remote(r, B_A);
		r->data = "g2";
		r->datalen = 2;
		r->reply = "g3-";
		r->replylen = 3;
	} else if (is(buf, len, "connect reject"))
		remote(r, B_REJECT);
	else if (is(buf, len, "inactivity")) {
		remote(r, B_A);
		r->data = "sleep 3";
		r->datalen = 7;
		r->idle_ms = 1000;
	} else if (is(buf, len, "slow")) {
		remote(r, B_SLOW);
		r->connect_ms = 300;
	} else if (is(buf, len, "late"))
		remote(r, B_LATE);
	else if (is(buf, len, "six"))
		remote(r, B_A6);
	else if (len == 2 && strchr("phl", buf[0]) != NULL &&
	    (buf[1] == '1' || buf[1] == '2')) {
		remote(r, buf[0] == 'p' ? B_A : buf[0] == 'h' ? B_HAP : B_LATE);
		r->proxy = buf[1] - '0';
	} else if (is(buf, len, "l0")) {
		/* The header alone, without the request. */
		remote(r, B_LATE);
		r->proxy = 1;
		r->data = "";
	} else if (is(buf, len, "where")) {
		k = pm_listener(&sa);
		r->action = PM_CLOSE;
		r->reply = where;
		r->replylen = (size_t)snprintf(where, sizeof(where),
		    "listener %d %s peer %s", k, pm_addr_str(sa, la,
		    sizeof(la)), pm_addr_str(peer, pa, sizeof(pa)));
	}
	else if (starts(buf, len, "xfer\n"))
		remote(r, B_A);
	else if (starts(buf, len, "flood\n"))
		remote(r, B_FLOOD);
	else if (is(buf, len, "wait")) {
		if (expired) {
			r->action = PM_CLOSE;
			r->reply = "waited";
			r->replylen = 6;
		} else {
			r->action = PM_NOOP;
			r->wait_ms = 500;
		}
	} else if (partial(buf, len))
		r->action = PM_NOOP;
	else
		r->action = PM_CLOSE;
}

/* Routes to the first address found, or says why there is none. */
void
router_resolved(const unsigned char *buf, size_t len,
    const struct sockaddr *peer, const struct pm_answer *answer,
    struct pm_route *r)
{
	static char	 why[64];
	const unsigned char *nl;

	(void)peer;
	if (answer->status != PM_FOUND) {
		snprintf(why, sizeof(why), "lookup: %s\n",
		    pm_lookup_str(answer->status));
		r->action = PM_CLOSE;
		r->reply = why;
		r->replylen = strlen(why);
		return;
	}
	nl = memchr(buf, '\n', len);	/* the request's end */
	r->action = PM_REMOTE;
	r->addr = answer->addr[0];
	r->addrlen = answer->addrlen[0];
	r->data = nl + 1;
	r->datalen = len - (size_t)(nl + 1 - buf);
}

/* Writes the remote to the hook file, as the original's tests did. */
static void
hook(const struct pm_route *r)
{
	char	 a[PM_ADDRSTRLEN];
	FILE	*fp;

	pm_addr_str((const struct sockaddr *)&r->addr, a, sizeof(a));
	if (cur.hookfile[0] == '\0' || (fp = fopen(cur.hookfile, "w")) == NULL)
		return;
	fprintf(fp, "%s\n", a);
	fclose(fp);
}

void
router_connect_error(const struct pm_route *r)
{
	pm_note("test router: connect error hook");
	hook(r);
}

void
router_idle_error(const struct pm_route *r)
{
	pm_note("test router: inactivity error hook");
	hook(r);
}

/*
 * skeleton.c: router.h in a page, to copy.  A client's first byte picks its
 * backend in the -c table (`byte host:port' lines), which gets the bytes
 * after it.  Copyright (c) 2026 The proxymachine authors.  MIT licence.
 */

#include <stdio.h>
#include <string.h>

#include "../router.h"

const char		router_name[] = "skeleton";
const int		router_lookups = 0;	/* it looks no name up */
static struct pm_route	routes[2][256];	/* by byte; routes[cur] serves */
static int		cur;
static char		quoted[8];	/* for pm_note() */

/* Adds a line to the table at t.  Returns 0, or -1 with err set. */
static int
load_line(void *t, char *line, char *err, size_t errlen)
{
	struct pm_route	*r;
	char		*f[2];

	if (pm_conf_split(line, f, 2) != 2 || strlen(f[0]) != 1) {
		snprintf(err, errlen, "expected: byte host:port");
		return -1;
	}
	r = (struct pm_route *)t + (unsigned char)f[0][0];
	r->action = PM_REMOTE;
	return pm_addr_parse(f[1], NULL, &r->addr, &r->addrlen, err, errlen);
}

int
router_load(const char *path, char *err, size_t errlen)
{
	memset(routes[!cur], 0, sizeof(routes[!cur]));	/* the spare */
	if (path == NULL)
		snprintf(err, errlen, "the skeleton router needs a table: -c");
	if (path == NULL || pm_conf_read(path, load_line, routes[!cur], err,
	    errlen) == -1)
		return -1;
	cur = !cur;
	return 0;
}

void
router_route(const unsigned char *buf, size_t len,
    const struct sockaddr *peer, int expired, struct pm_route *route)
{
	(void)peer;
	route->wait_ms = 5000;		/* for PM_NOOP: 5 s at most */
	if (len == 0 && !expired)
		return;
	if (len > 0 && routes[cur][buf[0]].action == PM_REMOTE) {
		*route = routes[cur][buf[0]];
		route->data = buf + 1;
		route->datalen = len - 1;
		return;
	}
	pm_note("skeleton: no backend for \"%s\"%s", pm_quote(buf, len,
	    quoted, sizeof(quoted)), expired ? " (silent for 5 s)" : "");
	route->action = PM_CLOSE;
	route->reply = "which backend?\n";
	route->replylen = strlen(route->reply);
}

void
router_resolved(const unsigned char *buf, size_t len,
    const struct sockaddr *peer, const struct pm_answer *answer,
    struct pm_route *route)
{
	(void)buf, (void)len, (void)peer, (void)answer, (void)route;
}				/* never called: no PM_LOOKUP here */

void
router_connect_error(const struct pm_route *route)
{
	(void)route;
	pm_note("skeleton: backend down");	/* the log names it */
}

void
router_idle_error(const struct pm_route *route)
{
	(void)route;
	pm_note("skeleton: backend silent");
}

/*
 * fuzz/stub.c: a router that routes nothing, to link the core alone for
 * the harnesses of its table helpers (fuzz/conf.c, fuzz/addr.c).
 *
 * Copyright (c) 2026 The proxymachine authors.  MIT licence: see LICENSE.
 */

#include <stddef.h>

#include "../router.h"

const char	router_name[] = "stub";
const int	router_lookups = 0;	/* it looks no name up */

int
router_load(const char *path, char *err, size_t errlen)
{
	(void)path;
	(void)err;
	(void)errlen;
	return 0;
}

void
router_route(const unsigned char *buf, size_t len,
    const struct sockaddr *peer, int expired, struct pm_route *route)
{
	(void)buf;
	(void)len;
	(void)peer;
	(void)expired;
	route->action = PM_CLOSE;
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

void
router_connect_error(const struct pm_route *route)
{
	(void)route;
}

void
router_idle_error(const struct pm_route *route)
{
	(void)route;
}

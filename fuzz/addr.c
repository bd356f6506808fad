/*
 * fuzz/addr.c: a libFuzzer harness for the core's address parser,
 * pm_addr_parse(), and pm_addr_str().  Link it with fuzz/stub.c,
 * fuzz/common.c and the core built with -DPM_NO_MAIN, and with
 * -Wl,--wrap=getaddrinfo: names then resolve to 192.0.2.1 without a
 * name server (fuzz/common.c), so only the parsing is fuzzed.
 *
 * Each input, up to its first NUL, is an address as a table gives it.  It
 * is parsed without and with a default port, and checked:
 *
 * - the result is 0 or -1; on -1 err is a string;
 * - on 0 the address is IPv4 or IPv6, of the right length, and has a
 *   port, which is the default port when the input gave none;
 * - pm_addr_str() of the address parses back to the same family,
 *   address and port.
 *
 * Copyright (c) 2026 The proxymachine authors.  MIT licence: see LICENSE.
 */

#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

#define MAXSPEC		1024

static void	check(const char *, const char *);
static int	addr_port(const struct sockaddr_storage *);
static int	addr_same(const struct sockaddr_storage *,
		    const struct sockaddr_storage *);

/*
 * Return the port of ss, in host byte order.
 */
static int
addr_port(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)ss)->sin_port);
	return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
}

/*
 * Return whether a and b have the same family, address and port (the
 * IPv6 scope is not written by pm_addr_str(), so not compared).
 */
static int
addr_same(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	const struct sockaddr_in	*a4, *b4;
	const struct sockaddr_in6	*a6, *b6;

	if (a->ss_family != b->ss_family || addr_port(a) != addr_port(b))
		return 0;
	if (a->ss_family == AF_INET) {
		a4 = (const struct sockaddr_in *)a;
		b4 = (const struct sockaddr_in *)b;
		return a4->sin_addr.s_addr == b4->sin_addr.s_addr;
	}
	a6 = (const struct sockaddr_in6 *)a;
	b6 = (const struct sockaddr_in6 *)b;
	return memcmp(&a6->sin6_addr, &b6->sin6_addr,
	    sizeof(a6->sin6_addr)) == 0;
}

/*
 * Parse spec with the default port defport (or none) and check the
 * result.  Return nothing; abort on a broken property.
 */
static void
check(const char *spec, const char *defport)
{
	struct sockaddr_storage	 ss, back;
	socklen_t		 sslen, backlen;
	char			 err[512], as[PM_ADDRSTRLEN];
	int			 rc;

	memset(err, 0x55, sizeof(err));
	sslen = 0;
	rc = pm_addr_parse(spec, defport, &ss, &sslen, err, sizeof(err));
	if (rc == -1) {
		if (memchr(err, '\0', sizeof(err)) == NULL)
			fz_fail("`%s': pm_addr_parse() failed without a "
			    "string", spec);
		return;
	}
	if (rc != 0)
		fz_fail("`%s': pm_addr_parse() returns %d", spec, rc);
	if (!(ss.ss_family == AF_INET &&
	    sslen == sizeof(struct sockaddr_in)) &&
	    !(ss.ss_family == AF_INET6 &&
	    sslen == sizeof(struct sockaddr_in6)))
		fz_fail("`%s': family %d, length %u", spec,
		    (int)ss.ss_family, (unsigned)sslen);
	if (addr_port(&ss) == 0)
		fz_fail("`%s': port 0", spec);
	if (defport != NULL && (spec[0] == '[' ? strstr(spec, "]:") :
	    strchr(spec, ':')) == NULL && addr_port(&ss) != atoi(defport))
		fz_fail("`%s': port %d, not the default %s", spec,
		    addr_port(&ss), defport);

	pm_addr_str((const struct sockaddr *)&ss, as, sizeof(as));
	if (pm_addr_parse(as, NULL, &back, &backlen, err, sizeof(err)) != 0)
		fz_fail("`%s' is written `%s', which does not parse: %s",
		    spec, as, err);
	if (!addr_same(&ss, &back))
		fz_fail("`%s' is written `%s', which parses to another "
		    "address", spec, as);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	 spec[MAXSPEC + 1];

	if (size > MAXSPEC)
		size = MAXSPEC;
	memcpy(spec, data, size);
	spec[size] = '\0';
	check(spec, NULL);
	check(spec, "9418");
	return 0;
}

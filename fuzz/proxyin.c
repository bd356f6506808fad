/*
 * fuzz/proxyin.c: a libFuzzer harness for the core's reader of the PROXY
 * header that a listener given with -a takes first, proxy_parse(), and
 * for its writer, proxy_header().  Both are static: the harness includes
 * proxymachine.c, built with -DPM_NO_MAIN, as fuzz/sniff.c includes the
 * router's parsers, so the core itself is not changed for it.  Link it
 * with fuzz/stub.c and fuzz/common.c, not with the core's object.
 *
 * Each input is the first bytes of a connection.  proxy_parse() is asked
 * about every prefix of at least one byte (the core calls it after a
 * read that brought bytes) up to a little past PM_PROXYIN_MAX, and about
 * the whole input, each copied into a buffer of exactly its length.  The
 * checks:
 *
 * - no read past the bytes handed over (ASan: the copy ends there);
 * - the answer is -1 (bad, with a reason), 0 (more bytes needed) or a
 *   length N of at most the bytes given; 0 only while fewer than
 *   PM_PROXYIN_MAX bytes were given, so that a header cannot stall;
 * - prefixes agree: the answer is 0 up to some length, then the same
 *   for every longer prefix: a prefix of a good header is never bad,
 *   the header alone is good with the same N and addresses, and more
 *   bytes after it change nothing;
 * - a good v1 header ends in CR LF at N; a good v2 header's N is 16 and
 *   its length field;
 * - a good header sets both addresses, of one family (IPv4 or IPv6, with
 *   a port), or neither;
 * - its addresses round-trip: proxy_header() writes a v1 and a v2
 *   header for them (v1 at most 107 bytes, v2 16 and 12 or 36), which
 *   parse back whole, to the same addresses, with an IPv4-mapped
 *   address as IPv4, as the writer sends it, and as neither when only
 *   one of the two is mapped (the writer says UNKNOWN then).
 *
 * Copyright (c) 2026 The proxymachine authors.  MIT licence: see LICENSE.
 */

#ifndef PM_NO_MAIN
#define PM_NO_MAIN
#endif
#include "../proxymachine.c"

#include "fuzz.h"

/* The longest prefix asked about one by one. */
#define PI_PREFIXMAX	(PM_PROXYIN_MAX + 16)

/* What one call of proxy_parse() gave. */
struct pi_seen {
	int			 n;
	struct sockaddr_storage	 src;
	struct sockaddr_in6	 dst;
};

static void	pi_parse(const unsigned char *, size_t, struct pi_seen *);
static int	pi_family(const struct sockaddr *);
static int	pi_same_addr(const struct sockaddr *, const struct sockaddr *);
static int	pi_same(const struct pi_seen *, const struct pi_seen *);
static void	pi_roundtrip(const struct pi_seen *);

/*
 * Asks proxy_parse() about the len bytes at p (len at least 1), from a
 * copy of exactly that length, into s; checks the answer alone.  Returns
 * nothing; aborts on a broken property.
 */
static void
pi_parse(const unsigned char *p, size_t len, struct pi_seen *s)
{
	unsigned char	*copy;
	const char	*why = NULL;

	if ((copy = malloc(len)) == NULL)
		abort();
	memcpy(copy, p, len);
	memset(s, 0, sizeof(*s));	/* family 0: not set */
	s->n = proxy_parse(copy, len, &s->src, &s->dst, &why);
	free(copy);
	if (s->n < -1 || (s->n > 0 && (size_t)s->n > len))
		fz_fail("%zu bytes: answer %d", len, s->n);
	if (s->n == -1 && why == NULL)
		fz_fail("%zu bytes: bad without a reason", len);
	if (s->n == 0 && len >= PM_PROXYIN_MAX)
		fz_fail("%zu bytes: still more needed", len);
	if (s->n <= 0)
		return;
	if (p[0] == 'P' && (s->n < 2 || p[s->n - 2] != '\r' ||
	    p[s->n - 1] != '\n'))
		fz_fail("%zu bytes: a v1 header of %d not ending in CR LF",
		    len, s->n);
	if (p[0] != 'P' && (s->n < 16 ||
	    (size_t)s->n != 16 + ((size_t)p[14] << 8 | p[15])))
		fz_fail("%zu bytes: a v2 header of %d, not its length field",
		    len, s->n);
	if (pi_family((struct sockaddr *)&s->src) !=
	    pi_family((struct sockaddr *)&s->dst))
		fz_fail("%zu bytes: addresses of families %d and %d", len,
		    (int)s->src.ss_family, (int)s->dst.sin6_family);
}

/*
 * Returns the family of sa (AF_INET or AF_INET6), 0 when it was not set;
 * aborts on another one.
 */
static int
pi_family(const struct sockaddr *sa)
{
	if (sa->sa_family != 0 && sa->sa_family != AF_INET &&
	    sa->sa_family != AF_INET6)
		fz_fail("an address of family %d", (int)sa->sa_family);
	return sa->sa_family;
}

/* Returns whether a and b are the same family, address and port. */
static int
pi_same_addr(const struct sockaddr *a, const struct sockaddr *b)
{
	const unsigned char	*ab, *bb;
	size_t			 n;

	if (a->sa_family != b->sa_family)
		return 0;
	if (a->sa_family == 0)
		return 1;
	n = addr_bytes(a, &ab);
	return n == addr_bytes(b, &bb) && memcmp(ab, bb, n) == 0 &&
	    addr_port(a) == addr_port(b);
}

/* Returns whether two answers are the same, addresses included. */
static int
pi_same(const struct pi_seen *a, const struct pi_seen *b)
{
	return a->n == b->n &&
	    pi_same_addr((const struct sockaddr *)&a->src,
	    (const struct sockaddr *)&b->src) &&
	    pi_same_addr((const struct sockaddr *)&a->dst,
	    (const struct sockaddr *)&b->dst);
}

/*
 * Writes a v1 and a v2 header for the addresses of the good answer s
 * with proxy_header() and reads each back.  Returns nothing; aborts on
 * a broken property.
 */
static void
pi_roundtrip(const struct pi_seen *s)
{
	struct conn		*c = &conns[0];
	struct sockaddr_in	 s4, d4;
	const struct sockaddr	*ws, *wd;
	struct pi_seen		 want, back;
	unsigned char		 h[PROXY_HDRMAX];
	size_t			 n;
	int			 v;

	if (s->src.ss_family == 0)
		return;
	memset(c, 0, sizeof(*c));
	c->peer = s->src;
	*LOCAL(c) = s->dst;
	/* What the writer sends: IPv4 for mapped, UNKNOWN for a mix. */
	memset(&want, 0, sizeof(want));
	ws = addr_unmap((const struct sockaddr *)&s->src, &s4);
	wd = addr_unmap((const struct sockaddr *)&s->dst, &d4);
	if (ws->sa_family == wd->sa_family) {
		memcpy(&want.src, ws, ws->sa_family == AF_INET ?
		    sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
		memcpy(&want.dst, wd, wd->sa_family == AF_INET ?
		    sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
	}
	for (v = 1; v <= 2; v++) {
		memset(h, 0, sizeof(h));
		n = proxy_header(c, v, h);
		if (n == 0 || n > (v == 1 ? 107 : 52))
			fz_fail("v%d header of %zu bytes written", v, n);
		if (v == 2 && n != (size_t)(want.src.ss_family == AF_INET ?
		    28 : want.src.ss_family == AF_INET6 ? 52 : 16))
			fz_fail("v2 header of %zu bytes written", n);
		pi_parse(h, n, &back);
		want.n = (int)n;
		if (!pi_same(&back, &want))
			fz_fail("the v%d header written (%zu bytes, %.*s) "
			    "reads back as %d, family %d", v, n,
			    v == 1 ? (int)n : 0, (const char *)h, back.n,
			    (int)back.src.ss_family);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pi_seen	 whole, part, first;
	size_t		 k, max;
	int		 decided = 0;

	if (size == 0)
		return 0;
	pi_parse(data, size, &whole);
	if (whole.n > 0) {
		pi_parse(data, (size_t)whole.n, &part);
		if (!pi_same(&part, &whole))
			fz_fail("the header alone (%d bytes) reads as %d",
			    whole.n, part.n);
		pi_roundtrip(&whole);
	}
	memset(&first, 0, sizeof(first));
	max = size < PI_PREFIXMAX ? size : PI_PREFIXMAX;
	for (k = 1; k <= max; k++) {
		pi_parse(data, k, &part);
		if (!decided) {
			if (part.n == 0)
				continue;
			decided = 1;
			first = part;
			if (!pi_same(&part, &whole))
				fz_fail("%zu bytes read as %d, all %zu as %d",
				    k, part.n, size, whole.n);
			if (part.n > 0 && (size_t)part.n != k)
				fz_fail("%zu bytes decide a header of %d", k,
				    part.n);
		} else if (!pi_same(&part, &first))
			fz_fail("%zu bytes read as %d, fewer as %d", k, part.n,
			    first.n);
	}
	return 0;
}

/*
 * fuzz/sniff.c: a libFuzzer harness for the parsers of routers/sniff.c,
 * which it includes: sniff_tls() (a TLS ClientHello's server name and
 * ALPN protocols), or with -DFZ_HTTP sniff_http() (an HTTP request
 * head's Host).  run.sh builds it twice, as the harnesses tls and http.
 *
 * Each input is the bytes of a client.  The checks, from sniff.c:
 *
 * - no read past the bytes handed over (ASan: libFuzzer's copy of the
 *   input ends where the input does);
 * - the answer is one of the three, and SNIFF_MORE only while fewer
 *   than max bytes were given;
 * - prefixes agree: the answer stays SNIFF_MORE up to some length and is
 *   then the answer for the whole input, with the same name, port and
 *   protocols, for every longer prefix (checked at the first length that
 *   decides, found by bisection, the one before it and a few after);
 * - a bound max cut from the input gives the answer of that prefix, or
 *   SNIFF_NO where the prefix says SNIFF_MORE;
 * - what SNIFF_OK returns lies within the input (or sniff.c's copy), is
 *   a host name, a port of digits, a well-formed list of protocols, and
 *   matches itself as a table's pattern would.
 *
 * Copyright (c) 2026 The proxymachine authors.  MIT licence: see LICENSE.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../routers/sniff.c"

/* The most input bytes looked at; a bound of 4096 fits the checks. */
#define MAXIN		8192

/* What one call found, kept for comparison with another. */
struct seen {
	enum sniff	 r;
	size_t		 a, b;		/* name, port or alpn lengths */
	unsigned char	 name[SNIFF_NAMEMAX + 1];
	unsigned char	 more[65536];	/* port or alpn list */
};

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static struct seen	whole, part;

/* Report a broken property and abort. */
static void
fail(const char *what, size_t len)
{
	fprintf(stderr, "fuzz/sniff.c: %s (length %zu)\n", what, len);
	abort();
}

/*
 * Parse the len bytes at p with the bound max into s, checking what a
 * SNIFF_OK gives.  Return nothing; abort on a broken property.
 */
static void
parse(const uint8_t *p, size_t len, size_t max, struct seen *s)
{
	unsigned char	*copy;
	size_t		 i;

	/* A copy of exactly len bytes, so that ASan sees a read past. */
	if ((copy = malloc(len > 0 ? len : 1)) == NULL)
		abort();
	memcpy(copy, p, len);
	memset(s, 0, offsetof(struct seen, more));
#ifdef FZ_HTTP
	{
		struct sniff_host	 h;

		s->r = sniff_http(copy, len, max, &h);
		if (s->r == SNIFF_OK) {
			if (h.hostlen > SNIFF_NAMEMAX ||
			    h.portlen > SNIFF_NAMEMAX)
				fail("a Host longer than SNIFF_NAMEMAX", len);
			s->a = h.hostlen;
			memcpy(s->name, h.name, h.hostlen);
			s->b = h.portlen;
			for (i = 0; i < h.portlen; i++)
				if (h.port[i] < '0' || h.port[i] > '9')
					fail("a port that is not digits", len);
			if (h.portlen > 0)
				memcpy(s->more, h.port, h.portlen);
			if (h.hostlen > 0 && h.name[0] != '[' &&
			    sniff_name_ok((const unsigned char *)h.name,
			    h.hostlen, 1) && !sniff_name_match(h.name,
			    h.hostlen, (const unsigned char *)h.name,
			    h.hostlen) && h.name[h.hostlen - 1] != '.' &&
			    strspn(h.name, "abcdefghijklmnopqrstuvwxyz"
			    "0123456789-._") >= h.hostlen)
				fail("a Host does not match itself", len);
		}
	}
#else
	{
		struct sniff_hello	 h;
		char			 low[SNIFF_NAMEMAX + 1];
		size_t			 n;

		s->r = sniff_tls(copy, len, max, &h);
		if (s->r == SNIFF_OK) {
			if (h.sni != NULL) {
				if (h.snilen == 0 || h.snilen > 254 ||
				    !sniff_name_ok(h.sni, h.snilen, 1))
					fail("a server name that is not a "
					    "host name", len);
				s->a = h.snilen;
				memcpy(s->name, h.sni, h.snilen);
				/* It matches itself, lower case, no dot. */
				n = h.snilen - (h.sni[h.snilen - 1] == '.');
				for (i = 0; i < n; i++)
					low[i] = (char)(h.sni[i] >= 'A' &&
					    h.sni[i] <= 'Z' ? h.sni[i] + 32 :
					    h.sni[i]);
				if (!sniff_name_match(low, n, h.sni,
				    h.snilen))
					fail("a server name does not match "
					    "itself", len);
			}
			if (h.alpnlen > 0) {
				for (i = 0; i < h.alpnlen; i += 1 + h.alpn[i])
					if (h.alpn[i] == 0 ||
					    !sniff_alpn_has(&h, h.alpn + i + 1,
					    h.alpn[i]))
						fail("a bad ALPN list", len);
				if (i != h.alpnlen)
					fail("an ALPN list that overruns",
					    len);
				s->b = h.alpnlen;
				memcpy(s->more, h.alpn, h.alpnlen);
			}
		}
	}
#endif
	if (s->r != SNIFF_MORE && s->r != SNIFF_NO && s->r != SNIFF_OK)
		fail("an answer none of the three", len);
	if (s->r == SNIFF_MORE && len >= max)
		fail("SNIFF_MORE with max bytes or more", len);
	free(copy);
}

/* Return whether two calls found the same. */
static int
same(const struct seen *x, const struct seen *y)
{
	return x->r == y->r && x->a == y->a && x->b == y->b &&
	    memcmp(x->name, y->name, x->a) == 0 &&
	    memcmp(x->more, y->more, x->b) == 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t	 lo, hi, mid, k, max;

	if (size > MAXIN)
		size = MAXIN;
	max = PM_BUFSIZE;
	parse(data, size, max, &whole);
	/* The first length that decides, if one does. */
	if (whole.r != SNIFF_MORE) {
		lo = 0;
		hi = size;
		while (lo < hi) {
			mid = lo + (hi - lo) / 2;
			parse(data, mid, max, &part);
			if (part.r == SNIFF_MORE)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo > 0) {
			parse(data, lo - 1, max, &part);
			if (part.r != SNIFF_MORE)
				fail("decided before the first length that "
				    "decides", lo - 1);
		}
		for (k = lo; k <= size; k += (size - lo) / 3 + 1) {
			parse(data, k, max, &part);
			if (!same(&part, &whole))
				fail("a longer prefix answers otherwise", k);
		}
	}
	/* A bound inside the input: that prefix's answer, or NO. */
	if (size > 1) {
		max = (size_t)data[0] % size + 1;
		parse(data, max, PM_BUFSIZE, &whole);
		parse(data, size, max, &part);
		if (whole.r == SNIFF_MORE ? part.r != SNIFF_NO :
		    !same(&part, &whole))
			fail("a bound answers otherwise than a prefix", max);
	}
	return 0;
}

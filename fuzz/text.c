/*
 * fuzz/text.c: a libFuzzer harness for the core's text helpers,
 * pm_quote() and pm_unescape().  Link it with fuzz/stub.c, fuzz/common.c
 * and the core built with -DPM_NO_MAIN.
 *
 * Each input, after its first byte, is the bytes of a client.  The first
 * byte picks the size of a small buffer.  The checks, from router.h:
 *
 * - pm_quote() into a buffer large enough for every byte escaped writes
 *   printable ASCII only, where a \ or a " is always part of an escape,
 *   and decoding it with pm_unescape() gives the input back;
 * - into the small buffer (allocated to its size, so that ASan sees a
 *   byte written past it), it writes a string shorter than the buffer:
 *   the whole text when it fits, else a prefix of it (cut between two
 *   escapes) followed by "...";
 * - pm_unescape() on a backslash followed by the input returns -1 with a
 *   string in err, or the byte and length that the escapes of router.h
 *   give, never reading past the end of the string.
 *
 * Copyright (c) 2026 The proxymachine authors.  MIT licence: see LICENSE.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

/* The most client bytes looked at: a quote of them takes 4 bytes each. */
#define MAXIN		1024

static void	check_decode(const char *, size_t, const uint8_t *, size_t,
		    size_t *);
static void	check_unescape(const uint8_t *, size_t);

/*
 * Decode the first qlen characters of q with pm_unescape() and check
 * that they are the first bytes of the n at want; set *got to how many.
 * Return nothing; abort on a broken property.
 */
static void
check_decode(const char *q, size_t qlen, const uint8_t *want, size_t n,
    size_t *got)
{
	unsigned char	 b;
	char		 err[256];
	size_t		 i, o;
	int		 k;

	for (i = o = 0; i < qlen; i += (size_t)k, o++) {
		if ((unsigned char)q[i] < 0x20 || (unsigned char)q[i] >= 0x7f)
			fz_fail("pm_quote() wrote byte 0x%02x at %zu",
			    (unsigned char)q[i], i);
		if (q[i] == '"')
			fz_fail("pm_quote() wrote a bare \" at %zu", i);
		if (q[i] == '\\') {
			if ((k = pm_unescape(q + i, &b, err,
			    sizeof(err))) == -1)
				fz_fail("pm_quote() wrote `%.4s', which "
				    "pm_unescape() refuses: %s", q + i, err);
			if ((size_t)k > qlen - i)
				fz_fail("an escape of pm_quote() is cut");
		} else {
			b = (unsigned char)q[i];
			k = 1;
		}
		if (o == n || b != want[o])
			fz_fail("pm_quote() text decodes to another byte at "
			    "%zu", o);
	}
	*got = o;
}

/*
 * Check pm_unescape() on a backslash followed by the n bytes at p, up to
 * the first NUL.  Return nothing; abort on a broken property.
 */
static void
check_unescape(const uint8_t *p, size_t n)
{
	static const char	 from[] = "\\\"#0nrt ";
	static const char	 to[] = "\\\"#\0\n\r\t ";
	static const char	 hex[] = "0123456789abcdef0123456789ABCDEF";
	unsigned char		 b;
	char			*s, err[256];
	const char		*c;
	int			 k, want_k, want_b = 0;

	if ((s = malloc(n + 2)) == NULL)
		abort();
	s[0] = '\\';
	memcpy(s + 1, p, n);
	s[n + 1] = '\0';

	want_k = -1;
	if (s[1] == 'x' && s[2] != '\0' && strchr(hex, s[2]) != NULL &&
	    s[3] != '\0' && strchr(hex, s[3]) != NULL) {
		want_k = 4;
		want_b = ((int)(strchr(hex, s[2]) - hex) % 16 << 4) |
		    (int)(strchr(hex, s[3]) - hex) % 16;
	} else if (s[1] != '\0' && s[1] != 'x' &&
	    (c = strchr(from, s[1])) != NULL) {
		want_k = 2;
		want_b = (unsigned char)to[c - from];
	}
	memset(err, 0x55, sizeof(err));
	k = pm_unescape(s, &b, err, sizeof(err));
	if (k != want_k)
		fz_fail("pm_unescape(`%.4s') returns %d, not %d", s, k,
		    want_k);
	if (k == -1 && memchr(err, '\0', sizeof(err)) == NULL)
		fz_fail("pm_unescape(`%.4s') failed without a string", s);
	if (k != -1 && b != want_b)
		fz_fail("pm_unescape(`%.4s') gives 0x%02x, not 0x%02x", s, b,
		    want_b);
	free(s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char	 big[4 * MAXIN + 1];
	const uint8_t	*in;
	char		*small;
	size_t		 n, slen, qlen, got;

	if (size == 0)
		return 0;
	slen = data[0] % 48 + 4;
	in = data + 1;
	n = size - 1 < MAXIN ? size - 1 : MAXIN;

	/* Room for every byte escaped: the whole text, read back whole. */
	if (pm_quote(in, n, big, sizeof(big)) != big)
		fz_fail("pm_quote() does not return its buffer");
	qlen = strlen(big);
	check_decode(big, qlen, in, n, &got);
	if (got != n)
		fz_fail("pm_quote() of %zu bytes decodes to %zu", n, got);

	/* A small buffer: the text, or a prefix of it and "...". */
	if ((small = malloc(slen)) == NULL)
		abort();
	pm_quote(in, n, small, slen);
	if (memchr(small, '\0', slen) == NULL)
		fz_fail("pm_quote() into %zu bytes: no NUL", slen);
	qlen = strlen(small);
	if (strlen(big) < slen && strcmp(small, big) != 0)
		fz_fail("pm_quote() into %zu bytes cuts a text of %zu", slen,
		    strlen(big));
	if (strcmp(small, big) != 0) {
		if (qlen < 3 || strcmp(small + qlen - 3, "...") != 0)
			fz_fail("pm_quote() into %zu bytes: `%s' is cut "
			    "without \"...\"", slen, small);
		check_decode(small, qlen - 3, in, n, &got);
		if (got == n)
			fz_fail("pm_quote() into %zu bytes: \"...\" after "
			    "the whole text", slen);
		if (strncmp(small, big, qlen - 3) != 0)
			fz_fail("pm_quote() into %zu bytes is no prefix",
			    slen);
	}
	free(small);

	check_unescape(in, n);
	return 0;
}

/*
 * fuzz/conf.c: a libFuzzer harness for the core's table reader and
 * splitter, pm_conf_read() and pm_conf_split().  Link it with
 * fuzz/stub.c, fuzz/common.c and the core built with -DPM_NO_MAIN.
 *
 * Each input is a table file.  The harness works out on its own, from
 * router.h's description, which lines pm_conf_read() must hand to the
 * callback and where it must stop, and checks that it does exactly that:
 *
 * - lines end at \n; one \r before it (or before the end of the file) is
 *   not part of the line;
 * - a comment is cut off: from a `#' at the start of the line or after a
 *   blank or tab, unless it is between double quotes or escaped by a
 *   backslash; a backslash escapes the byte after it (a blank, a quote,
 *   another backslash), when there is one;
 * - lines left with nothing but blanks and tabs are skipped;
 * - a line of more than PM_CONF_LINEMAX bytes stops the read with
 *   `path:N: line too long (...)';
 * - a line holding a NUL byte stops it with `path:N: NUL byte in line'
 *   (for a line both too long and holding a NUL, either message);
 * - a callback that fails stops it with `path:N: ' and its message, or
 *   `bad line' when it gave none.  The callback here fails on lines that
 *   hold a `!' (with a message) or a `?' (without).
 *
 * Each line handed over is also split by pm_conf_split() with at most 2
 * and at most 8 fields, and compared with fields worked out here: the
 * runs of bytes other than blank and tab.
 *
 * Copyright (c) 2026 The proxymachine authors.  MIT licence: see LICENSE.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

/* The most lines the model keeps track of: an input holds fewer. */
#define MAXLINES	(16 * 1024)

struct line {
	size_t	 off;		/* in the input */
	size_t	 len;
	int	 lineno;
};

static const char	*path;
static const uint8_t	*input;
static struct line	 want[MAXLINES];
static int		 nwant, ngot;

static size_t	uncomment(const uint8_t *, size_t);
static void	check_split(const char *, size_t, int, int);
static int	line_cb(void *, char *, char *, size_t);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char	 err[256];

	(void)argc;
	(void)argv;
	path = fz_file();
	if (pm_conf_read("/nonexistent/pmfuzz", line_cb, NULL, err,
	    sizeof(err)) != -1 || strncmp(err, "/nonexistent/pmfuzz: ",
	    21) != 0)
		fz_fail("a missing file gives no `path: error'");
	return 0;
}

/*
 * Return the length of the n bytes of line p once its comment is cut, as
 * router.h says.  Written apart from the core's loop: which bytes are
 * escaped is worked out first, then which are quoted, then the first `#'
 * that starts a comment is looked for.
 */
static size_t
uncomment(const uint8_t *p, size_t n)
{
	static unsigned char	 esc[PM_CONF_LINEMAX], quo[PM_CONF_LINEMAX];
	size_t			 i;
	int			 q = 0;

	for (i = 0; i < n; i++)
		esc[i] = i > 0 && p[i - 1] == '\\' && !esc[i - 1];
	for (i = 0; i < n; i++) {
		if (p[i] == '"' && !esc[i])
			q = !q;
		quo[i] = (unsigned char)q;
	}
	for (i = 0; i < n; i++)
		if (p[i] == '#' && !esc[i] && !quo[i] && (i == 0 ||
		    ((p[i - 1] == ' ' || p[i - 1] == '\t') && !esc[i - 1])))
			return i;
	return n;
}

/*
 * Split the len bytes of s (a copy) with pm_conf_split() into at most max
 * fields and check the result against the runs of non-blank bytes.
 * Return nothing; abort on a difference.
 */
static void
check_split(const char *s, size_t len, int max, int lineno)
{
	char	 copy[PM_CONF_LINEMAX + 1], *f[8];
	size_t	 i, j, flen;
	int	 n, want_n, k;

	memcpy(copy, s, len);
	copy[len] = '\0';
	for (i = 0; i < (size_t)max; i++)
		f[i] = NULL;
	n = pm_conf_split(copy, f, max);

	/* Count the runs; check each of the first max of them. */
	want_n = 0;
	for (i = 0; i < len; ) {
		if (s[i] == ' ' || s[i] == '\t') {
			i++;
			continue;
		}
		for (j = i; j < len && s[j] != ' ' && s[j] != '\t'; j++)
			;
		k = want_n++;
		if (k < max && n != -1) {
			flen = j - i;
			if (f[k] == NULL || f[k] < copy ||
			    f[k] + flen > copy + len ||
			    strlen(f[k]) != flen ||
			    memcmp(f[k], s + i, flen) != 0)
				fz_fail("line %d: pm_conf_split(max %d) field "
				    "%d is `%s', not `%.*s'", lineno, max, k,
				    f[k] == NULL ? "(null)" : f[k],
				    (int)flen, s + i);
		}
		i = j;
	}
	if ((want_n > max && n != -1) || (want_n <= max && n != want_n))
		fz_fail("line %d: pm_conf_split(max %d) gives %d, for %d "
		    "fields", lineno, max, n, want_n);
}

/*
 * The callback: check that line is the next line expected, split it, and
 * fail on a `!' or a `?'.  Return 0 or -1.
 */
static int
line_cb(void *arg, char *line, char *err, size_t errlen)
{
	const struct line	*w;
	size_t			 len;

	(void)arg;
	if (ngot == nwant)
		fz_fail("pm_conf_read() hands over a line too many: `%s'",
		    line);
	w = &want[ngot++];
	len = strlen(line);
	if (len != w->len || memcmp(line, input + w->off, len) != 0)
		fz_fail("pm_conf_read() hands over `%s' for line %d, not "
		    "`%.*s'", line, w->lineno, (int)w->len,
		    (const char *)input + w->off);
	check_split(line, len, 2, w->lineno);
	check_split(line, len, 8, w->lineno);
	if (strchr(line, '!') != NULL) {
		snprintf(err, errlen, "bang");
		return -1;
	}
	if (strchr(line, '?') != NULL)
		return -1;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t	*nl;
	char		 err[512], exp[512], alt[512];
	size_t		 pos, len, next, i;
	int		 lineno, rc, want_rc;

	/* The model: the lines handed over, and how the read ends. */
	input = data;
	nwant = ngot = 0;
	want_rc = 0;
	exp[0] = alt[0] = '\0';
	lineno = 0;
	for (pos = 0; pos < size; pos = next) {
		lineno++;
		nl = memchr(data + pos, '\n', size - pos);
		len = nl != NULL ? (size_t)(nl - (data + pos)) : size - pos;
		next = pos + len + (nl != NULL);
		if (len > 0 && data[pos + len - 1] == '\r')
			len--;
		if (len > PM_CONF_LINEMAX) {
			want_rc = -1;
			snprintf(exp, sizeof(exp), "%s:%d: line too long "
			    "(more than %d bytes)", path, lineno,
			    PM_CONF_LINEMAX);
			if (memchr(data + pos, '\0', len) != NULL)
				snprintf(alt, sizeof(alt), "%s:%d: NUL byte "
				    "in line", path, lineno);
			break;
		}
		if (memchr(data + pos, '\0', len) != NULL) {
			want_rc = -1;
			snprintf(exp, sizeof(exp), "%s:%d: NUL byte in line",
			    path, lineno);
			break;
		}
		len = uncomment(data + pos, len);
		for (i = 0; i < len && (data[pos + i] == ' ' ||
		    data[pos + i] == '\t'); i++)
			;
		if (i == len)
			continue;
		if (nwant == MAXLINES)
			return 0;
		want[nwant].off = pos;
		want[nwant].len = len;
		want[nwant].lineno = lineno;
		nwant++;
		if (memchr(data + pos, '!', len) != NULL) {
			want_rc = -1;
			snprintf(exp, sizeof(exp), "%s:%d: bang", path,
			    lineno);
			break;
		}
		if (memchr(data + pos, '?', len) != NULL) {
			want_rc = -1;
			snprintf(exp, sizeof(exp), "%s:%d: bad line", path,
			    lineno);
			break;
		}
	}

	fz_file_write(path, data, size);
	memset(err, 0x55, sizeof(err));
	rc = pm_conf_read(path, line_cb, NULL, err, sizeof(err));
	if (rc != want_rc)
		fz_fail("pm_conf_read() returns %d, not %d (%s)", rc, want_rc,
		    want_rc == -1 ? exp : "");
	if (ngot != nwant)
		fz_fail("pm_conf_read() handed over %d lines, not %d", ngot,
		    nwant);
	if (rc == -1) {
		if (memchr(err, '\0', sizeof(err)) == NULL)
			fz_fail("pm_conf_read() failed without a string");
		if (strcmp(err, exp) != 0 && strcmp(err, alt) != 0)
			fz_fail("pm_conf_read() says `%s', not `%s'", err,
			    exp);
	}
	return 0;
}

/*
 * fuzz/load.c: a libFuzzer harness for a router's table parser,
 * router_load().  Link it with one router, fuzz/common.c and the core
 * built with -DPM_NO_MAIN.
 *
 * Each input is a table file.  Every run first loads a fixed good table,
 * so that a run does not depend on the one before, and routes a few fixed
 * client requests (the probes) under it.  Then it loads the input, and
 * checks:
 *
 * - router_load() returns 0 or -1; on -1, err is a string that begins
 *   with `path:', and the table in force is untouched: each probe is
 *   decided exactly as before (router.h: "leaves the table in force
 *   untouched");
 * - on 0, routing the probes, and the input itself taken as a client's
 *   bytes, under the new table keeps every property of fz_stream().
 *
 * Copyright (c) 2026 The proxymachine authors.  MIT licence: see LICENSE.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

/* How much of an input is also routed as a client's bytes. */
#define MAXSTREAM	512

struct probe {
	const char	*bytes;
	size_t		 len;
};

#define P(s)	{ (s), sizeof(s) - 1 }
static const struct probe	probes[] = {
	P(""),
	P("0035git-upload-pack /alice/repo.git\0host=example.com\0"),
	P("003agit-receive-pack /~carol/x.git\0host=h:9418\0\0version=2\0"),
	P("001egit-upload-archive /r.git\0"),
	P("001fgit-upload-pack /zed/a.git\0"),
	P("\x04\x01\x00\x50\x7f\x00\x00\x01u\0"),
	P("\x04\x01\x01\xbb\x0a\x00\x00\x05\0extra"),
	P("\x04\x01\x00\x16\xc0\x00\x02\x09\0"),
	P("\x04\x01\x00\x50\x00\x00\x00\x01\0host.example\0"),
	P("\x05\x01\x00\x05\x01\x00\x01\x7f\x00\x00\x01\x00\x50"),
	P("\x05\x02\x00\x02\x01\x05alice\x06secret\x05\x01\x00\x01"
	    "\x0a\x00\x00\x05\x00\x16"),
	P("SSH-2.0-OpenSSH_9.2\r\n"),
	P("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"),
	P("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
	P("CONNECT x:443 HTTP/1.1\r\n\r\n"),
	P("\0\0\0"),
	P("x")
};
#undef P
#define NPROBES	(sizeof(probes) / sizeof(probes[0]))

static const char	*table_a, *table_b, *input;
static struct fz_dec	 before[NPROBES][2], after;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char	 err[512];
	int	 rc;

	(void)argc;
	(void)argv;
	fz_tables(&table_a, &table_b);
	fz_load(table_b);
	fz_load(table_a);
	input = fz_file();

	/* Without -c: a router may refuse to start, but must say why. */
	memset(err, 0x55, sizeof(err));
	rc = router_load(NULL, err, sizeof(err));
	if (rc != 0 && (rc != -1 || memchr(err, '\0', sizeof(err)) == NULL))
		fz_fail("router_load(NULL) returns %d", rc);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const unsigned char	*p;
	char			 err[512];
	size_t			 i, plen;
	int			 rc, x;

	fz_load(table_a);
	for (i = 0; i < NPROBES; i++)
		for (x = 0; x < 2; x++) {
			p = (const unsigned char *)probes[i].bytes;
			fz_route(p, probes[i].len, probes[i].len, x,
			    &before[i][x]);
		}

	fz_file_write(input, data, size);
	memset(err, 0x55, sizeof(err));
	rc = router_load(input, err, sizeof(err));
	if (rc == -1) {
		plen = strlen(input);
		if (memchr(err, '\0', sizeof(err)) == NULL)
			fz_fail("router_load() failed without a string in "
			    "err");
		if (strncmp(err, input, plen) != 0 || err[plen] != ':')
			fz_fail("router_load() failed with `%s', which "
			    "does not begin with `%s:'", err, input);
		for (i = 0; i < NPROBES; i++)
			for (x = 0; x < 2; x++) {
				p = (const unsigned char *)probes[i].bytes;
				fz_route(p, probes[i].len, probes[i].len, x,
				    &after);
				if (!fz_same(&before[i][x], &after))
					fz_fail("a failed load (%s) changed "
					    "the decision for probe %zu%s",
					    err, i, x ? ", expired" : "");
			}
		return 0;
	}
	if (rc != 0)
		fz_fail("router_load() returned %d", rc);
	for (i = 0; i < NPROBES; i++)
		fz_stream((const unsigned char *)probes[i].bytes,
		    probes[i].len);
	fz_stream(data, size < MAXSTREAM ? size : MAXSTREAM);
	return 0;
}

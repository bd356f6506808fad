/*
 * fuzz/route.c: a libFuzzer harness for a router's decision,
 * router_route().  Link it with one router (they all define the same
 * functions), fuzz/common.c and the core built with -DPM_NO_MAIN.
 *
 * Each input is the byte stream of one client.  It is routed under each of
 * two fixed tables (fz_tables(): one with a default and one without, or
 * for socks4 and socks5 a rule list and none), as the core routes it when
 * the bytes arrive one at a time, phase after phase; fz_stream() in
 * fuzz/common.c says which properties are checked.
 *
 * Copyright (c) 2026 The proxymachine authors.  MIT licence: see LICENSE.
 */

#include <stddef.h>
#include <stdint.h>

#include "fuzz.h"

static const char	*table_a, *table_b;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fz_tables(&table_a, &table_b);
	fz_load(table_a);
	fz_load(table_b);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fz_load(table_a);
	fz_stream(data, size);
	fz_load(table_b);
	fz_stream(data, size);
	return 0;
}

/*
 * fuzz/fuzz.h: what the libFuzzer harnesses in fuzz/ share; the code is
 * in fuzz/common.c.  See fuzz/README for how they are built and run.
 *
 * Copyright (c) 2026 The proxymachine authors.  MIT licence: see LICENSE.
 */

#ifndef PM_FUZZ_H
#define PM_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include "../router.h"

/*
 * One decision of router_route(), copied out of struct pm_route: data and
 * the replies may point into static storage that the next call rewrites,
 * so the bytes are kept, as the core keeps them.  No data or reply may be
 * longer than the core's buffer, PM_BUFSIZE (router.h).
 */
struct fz_bytes {
	int			 set;		/* the pointer was not NULL */
	size_t			 len;
	unsigned char		 p[PM_BUFSIZE];
};

struct fz_dec {
	enum pm_action		 action;
	struct sockaddr_storage	 addr;
	socklen_t		 addrlen;
	int			 connect_ms;
	int			 idle_ms;
	int			 wait_ms;
	unsigned int		 state;		/* the router's word */
	size_t			 consume;
	struct fz_bytes		 data;
	struct fz_bytes		 reply;
	struct fz_bytes		 ok_reply;
	struct fz_bytes		 fail_reply;
	struct fz_bytes		 host;		/* PM_LOOKUP's */
	int			 port;
	int			 family;
};

/* The libFuzzer entry points (Initialize is optional: defined by the
 * harnesses that set something up). */
int		 LLVMFuzzerInitialize(int *, char ***);
int		 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

void		 fz_fail(const char *, ...)
		    __attribute__((noreturn, format(printf, 1, 2)));
const char	*fz_file(void);
void		 fz_file_write(const char *, const void *, size_t);
const char	*fz_table(const char *);
void		 fz_tables(const char **, const char **);
void		 fz_load(const char *);
void		 fz_decide(const unsigned char *, size_t, size_t, int,
		    const struct pm_answer *, struct fz_dec *);
void		 fz_route(const unsigned char *, size_t, size_t, int,
		    struct fz_dec *);
int		 fz_same(const struct fz_dec *, const struct fz_dec *);
void		 fz_stream(const unsigned char *, size_t);

#endif /* PM_FUZZ_H */

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

/* The core's buffer: no data or reply may be longer. */
#ifndef PM_BUFSIZE
#define PM_BUFSIZE	16384
#endif

/*
 * One decision of router_route(), copied out of struct pm_route: data and
 * reply may point into static storage that the next call rewrites, so the
 * bytes are kept, as the core keeps them.
 */
struct fz_dec {
	enum pm_action		 action;
	struct sockaddr_storage	 addr;
	socklen_t		 addrlen;
	int			 hasdata;
	int			 hasreply;
	size_t			 datalen;
	size_t			 replylen;
	int			 connect_ms;
	int			 idle_ms;
	int			 wait_ms;
	unsigned char		 data[PM_BUFSIZE];
	unsigned char		 reply[PM_BUFSIZE];
};

/* The libFuzzer entry points. */
int		 LLVMFuzzerInitialize(int *, char ***);
int		 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

void		 fz_fail(const char *, ...)
		    __attribute__((noreturn, format(printf, 1, 2)));
const char	*fz_file(void);
void		 fz_file_write(const char *, const void *, size_t);
const char	*fz_table(const char *);
void		 fz_tables(const char **, const char **);
void		 fz_load(const char *);
void		 fz_route(const unsigned char *, size_t, size_t, int,
		    struct fz_dec *);
int		 fz_same(const struct fz_dec *, const struct fz_dec *);
void		 fz_stream(const unsigned char *, size_t);

#endif /* PM_FUZZ_H */

/*
 * tests/shim/sys/event.h: the part of the BSDs' <sys/event.h> that
 * proxymachine.c uses, for Linux, where tests/kqueue_shim.c implements it
 * over epoll (make testbins EV=kqueue).  The layout and values are those of
 * OpenBSD and FreeBSD (FreeBSD adds ext[4]).  Tests only.
 */

#ifndef PM_SHIM_SYS_EVENT_H
#define PM_SHIM_SYS_EVENT_H

#include <stdint.h>

struct timespec;

#define EVFILT_READ	(-1)
#define EVFILT_WRITE	(-2)

struct kevent {
	uintptr_t	 ident;		/* a descriptor */
	short		 filter;	/* EVFILT_READ, EVFILT_WRITE */
	unsigned short	 flags;		/* EV_ below */
	unsigned int	 fflags;	/* EV_EOF: a pending error, or 0 */
	int64_t		 data;		/* EV_ERROR: errno */
	void		*udata;		/* the caller's, given back */
};

#define EV_SET(kevp, a, b, c, d, e, f) do {	\
	struct kevent *kevp_ = (kevp);		\
	kevp_->ident = (a);			\
	kevp_->filter = (b);			\
	kevp_->flags = (c);			\
	kevp_->fflags = (d);			\
	kevp_->data = (e);			\
	kevp_->udata = (f);			\
} while (0)

/* Actions. */
#define EV_ADD		0x0001		/* add (and enable) */
#define EV_DELETE	0x0002		/* delete */
#define EV_ENABLE	0x0004		/* report it */
#define EV_DISABLE	0x0008		/* do not report it */
/* Flags. */
#define EV_ONESHOT	0x0010		/* (refused by the shim) */
#define EV_CLEAR	0x0020		/* report a change once */
#define EV_RECEIPT	0x0040		/* answer every change */
#define EV_DISPATCH	0x0080		/* (refused by the shim) */
/* Returned. */
#define EV_EOF		0x8000		/* end of file, or gone */
#define EV_ERROR	0x4000		/* a change failed: errno in data */

int	kqueue(void);
int	kevent(int, const struct kevent *, int, struct kevent *, int,
	    const struct timespec *);

#endif /* PM_SHIM_SYS_EVENT_H */

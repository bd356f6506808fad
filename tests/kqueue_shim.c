/*
 * tests/kqueue_shim.c: kqueue(2) and kevent(2) over epoll(7), so that the
 * kqueue backend of proxymachine.c, and the whole test suite through it,
 * runs on Linux: `make testbins EV=kqueue' links it into the proxies under
 * tests/, built with -DPM_USE_KQUEUE and tests/shim/sys/event.h.  Tests
 * only: nothing here is part of the program.
 *
 * As on the BSDs:
 * - EVFILT_READ and EVFILT_WRITE on descriptors, each with its own udata;
 *   EV_ADD (which enables, and on a filter that exists changes its udata
 *   but not its EV_CLEAR), EV_DELETE, EV_ENABLE, EV_DISABLE, EV_CLEAR
 *   (reported once per change, as epoll's EPOLLET), EV_RECEIPT.  A
 *   disabled filter reports nothing, not even an error.
 * - EV_EOF on a read filter once the peer shut its side down or the
 *   connection is gone; on a write filter once the socket can send no
 *   more.  With EV_EOF, fflags is non-zero when the socket has an error.
 * - A change that fails becomes an EV_ERROR event with the errno in data
 *   while there is room in the event list; then kevent() returns at once.
 *   Without room, it returns -1.  The change list and the event list may
 *   be the same array.
 * - Closing a descriptor drops its filters: close() is wrapped here, for
 *   epoll keeps watching a file that another descriptor still holds open
 *   (a listener shared with other processes).
 *
 * Not as on the BSDs:
 * - fflags holds EIO, not the socket's error: Linux clears SO_ERROR when
 *   it is read, which would hide the error from the program.
 * - data is 0 on events (no byte counts).
 * - Other filters, EV_ONESHOT and EV_DISPATCH get EINVAL; so does a
 *   descriptor whose two filters differ in EV_CLEAR (epoll's EPOLLET is
 *   per descriptor), or that is in another kqueue already.
 * - A kqueue is inherited by fork(2) (the BSDs' is not); dup2(2) onto a
 *   watched descriptor is not seen.
 * - An event list of one entry may miss a write event when both filters
 *   of a descriptor are ready.
 *
 * Copyright (c) 2026 The proxymachine authors.  MIT licence: see LICENSE.
 */

#include <sys/types.h>
#include <sys/epoll.h>
#include <sys/syscall.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shim/sys/event.h"

#define F_ON		0x01	/* the filter exists */
#define F_ENABLED	0x02
#define F_CLEAR		0x04	/* EV_CLEAR */
#define RD		0
#define WR		1
#define MAXKQ		8
#define MAXOUT		1024	/* epoll events per call, at most */

/* The filters of one descriptor. */
struct fdk {
	int		 kq;		/* its kqueue + 1, 0: none */
	int		 inep;		/* epoll watches it */
	unsigned char	 f[2];		/* RD, WR: F_ bits */
	void		*udata[2];
};

static struct fdk	*fdk;
static size_t		 nfdk;
static int		 kqs[MAXKQ];	/* kqueue descriptors + 1 */

/* Returns fd's entry, growing the table; NULL without memory. */
static struct fdk *
fdk_get(int fd)
{
	struct fdk	*p;
	size_t		 n;

	if ((size_t)fd < nfdk)
		return &fdk[fd];
	n = nfdk == 0 ? 256 : nfdk;
	while (n <= (size_t)fd)
		n *= 2;
	if ((p = realloc(fdk, n * sizeof(*p))) == NULL)
		return NULL;
	memset(p + nfdk, 0, (n - nfdk) * sizeof(*p));
	fdk = p;
	nfdk = n;
	return &fdk[fd];
}

/* Returns the slot of kqueue kq in kqs[], or -1. */
static int
kq_slot(int kq)
{
	int	 i;

	for (i = 0; i < MAXKQ; i++)
		if (kqs[i] == kq + 1)
			return i;
	return -1;
}

int
kqueue(void)
{
	int	 fd, i;

	if ((i = kq_slot(-1)) == -1) {
		errno = EMFILE;
		return -1;
	}
	if ((fd = epoll_create1(EPOLL_CLOEXEC)) == -1)
		return -1;
	kqs[i] = fd + 1;
	return fd;
}

/* Closes fd, dropping its filters, or all of them if it is a kqueue. */
int
close(int fd)
{
	size_t	 i;
	int	 k;

	if (fd >= 0 && (size_t)fd < nfdk && fdk[fd].kq != 0) {
		if (fdk[fd].inep)
			(void)epoll_ctl(fdk[fd].kq - 1, EPOLL_CTL_DEL, fd,
			    NULL);
		memset(&fdk[fd], 0, sizeof(fdk[fd]));
	}
	if (fd >= 0 && (k = kq_slot(fd)) != -1) {
		kqs[k] = 0;
		for (i = 0; i < nfdk; i++)
			if (fdk[i].kq == fd + 1)
				memset(&fdk[i], 0, sizeof(fdk[i]));
	}
	return (int)syscall(SYS_close, fd);
}

/* Makes epoll watch fd as its filters say; returns 0 or an errno. */
static int
fdk_sync(int kq, int fd, struct fdk *k)
{
	struct epoll_event	 ev;
	unsigned char		 r = k->f[RD], w = k->f[WR];
	const unsigned char	 live = F_ON | F_ENABLED;

	memset(&ev, 0, sizeof(ev));
	if ((r & live) == live)
		ev.events |= EPOLLIN | EPOLLRDHUP;
	if ((w & live) == live)
		ev.events |= EPOLLOUT;
	if ((r | w) & F_CLEAR)
		ev.events |= EPOLLET;
	ev.data.fd = fd;
	if (ev.events == 0 || ev.events == EPOLLET) {
		/* epoll would still report errors: the BSDs would not. */
		if (k->inep && epoll_ctl(kq, EPOLL_CTL_DEL, fd, &ev) == -1)
			return errno;
		k->inep = 0;
	} else {
		if (epoll_ctl(kq, k->inep ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd,
		    &ev) == -1)
			return errno;
		k->inep = 1;
	}
	k->kq = ((r | w) & F_ON) ? kq + 1 : 0;
	return 0;
}

/* Applies one change; returns 0 or an errno. */
static int
change(int kq, const struct kevent *c)
{
	struct fdk	*k;
	unsigned char	 f, old;
	int		 fd = (int)c->ident, i, e;

	if (c->filter == EVFILT_READ)
		i = RD;
	else if (c->filter == EVFILT_WRITE)
		i = WR;
	else
		return EINVAL;
	if (c->flags & (EV_ONESHOT | EV_DISPATCH))
		return EINVAL;
	if (fd < 0 || fcntl(fd, F_GETFD) == -1)
		return EBADF;
	if ((k = fdk_get(fd)) == NULL)
		return ENOMEM;
	if (k->kq != 0 && k->kq != kq + 1)
		return EINVAL;
	f = old = k->f[i];
	if (c->flags & EV_DELETE) {
		if (!(f & F_ON))
			return ENOENT;
		f = 0;
	} else if (c->flags & EV_ADD) {
		if (!(f & F_ON))
			f = F_ON | ((c->flags & EV_CLEAR) ? F_CLEAR : 0);
		f |= F_ENABLED;
		if ((k->f[!i] & F_ON) && (k->f[!i] & F_CLEAR) != (f & F_CLEAR))
			return EINVAL;
	} else if (!(f & F_ON))
		return ENOENT;
	if (f & F_ON) {
		if (c->flags & EV_DISABLE)
			f &= ~F_ENABLED;
		else if (c->flags & EV_ENABLE)
			f |= F_ENABLED;
	}
	k->f[i] = f;
	if ((e = fdk_sync(kq, fd, k)) != 0) {
		k->f[i] = old;
		return e;
	}
	if (c->flags & EV_ADD)
		k->udata[i] = c->udata;
	return 0;
}

/* Appends an event for filter i of fd to out[*n]. */
static void
put(struct kevent *out, int *n, int fd, int i, const struct fdk *k,
    int eof, int error)
{
	struct kevent	*o = &out[(*n)++];

	o->ident = (uintptr_t)fd;
	o->filter = i == RD ? EVFILT_READ : EVFILT_WRITE;
	o->flags = (k->f[i] & F_CLEAR ? EV_CLEAR : 0) | (eof ? EV_EOF : 0);
	o->fflags = eof && error ? EIO : 0;
	o->data = 0;
	o->udata = k->udata[i];
}

int
kevent(int kq, const struct kevent *changes, int nchanges,
    struct kevent *events, int nevents, const struct timespec *timeout)
{
	static struct epoll_event	 out[MAXOUT];
	const unsigned char		 live = F_ON | F_ENABLED;
	struct kevent			 c;
	struct fdk			*k;
	long long			 ms = -1;
	uint32_t			 e;
	int				 i, n = 0, m, max, fd;

	if (kq < 0 || kq_slot(kq) == -1) {
		errno = EBADF;
		return -1;
	}
	for (i = 0; i < nchanges; i++) {
		c = changes[i];		/* events[] may be changes[] */
		e = (uint32_t)change(kq, &c);
		if (e == 0 && !(c.flags & EV_RECEIPT))
			continue;
		if (n >= nevents) {
			if (e == 0)
				break;
			errno = (int)e;
			return -1;
		}
		events[n] = c;
		events[n].flags = EV_ERROR;
		events[n].data = (int64_t)e;
		n++;
	}
	if (n > 0 || nevents <= 0)
		return n;
	if (timeout != NULL) {
		ms = (long long)timeout->tv_sec * 1000 +
		    (timeout->tv_nsec + 999999) / 1000000;
		if (ms > INT_MAX)
			ms = INT_MAX;
	}
	/* Each descriptor may give two events. */
	max = nevents / 2 > 0 ? nevents / 2 : 1;
	if (max > MAXOUT)
		max = MAXOUT;
	if ((m = epoll_wait(kq, out, max, (int)ms)) == -1)
		return -1;
	for (i = 0; i < m; i++) {
		fd = out[i].data.fd;
		e = out[i].events;
		if ((size_t)fd >= nfdk || fdk[fd].kq != kq + 1)
			continue;
		k = &fdk[fd];
		if ((k->f[RD] & live) == live && (e & (EPOLLIN | EPOLLRDHUP |
		    EPOLLHUP | EPOLLERR)))
			put(events, &n, fd, RD, k,
			    (e & (EPOLLRDHUP | EPOLLHUP)) != 0,
			    (e & EPOLLERR) != 0);
		if (n < nevents && (k->f[WR] & live) == live &&
		    (e & (EPOLLOUT | EPOLLHUP | EPOLLERR)))
			put(events, &n, fd, WR, k,
			    (e & (EPOLLHUP | EPOLLERR)) != 0,
			    (e & EPOLLERR) != 0);
	}
	return n;
}

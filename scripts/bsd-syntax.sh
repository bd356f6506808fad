#!/bin/sh
# scripts/bsd-syntax.sh: compiles (syntax only) the BSD branches of
# proxymachine.c on a machine that is not a BSD: __linux__ undefined, a
# BSD's macro defined, and what the code uses of that BSD's headers
# declared as they declare it.
#
# - OpenBSD, with each router: pledge(2), unveil(2), setproctitle(3),
#   accept(2) with fcntl instead of accept4, and the kqueue event backend.
# - FreeBSD, NetBSD and macOS, with the custom router: the kqueue backend
#   against each one's struct kevent, EV_SET and kevent(2), whose types
#   differ (NetBSD: unsigned filters and flags, size_t counts; macOS:
#   intptr_t data; FreeBSD: ext[4]).
#
# The declarations below are copied from the systems' <sys/event.h> and
# <unistd.h> (their internal type names spelled as <stdint.h> spells
# them).  It proves the code there parses and type-checks against their
# prototypes, not that it runs: that needs a BSD host.  On Linux the test
# suite runs the kqueue backend through tests/kqueue_shim.c.
set -u
top=$(cd "$(dirname "$0")/.." && pwd) || exit 2
cc=${CC:-cc}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bsdsyn.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT
for os in openbsd freebsd netbsd macos; do
	mkdir -p "$tmp/$os/sys" || exit 2
done
# GCC's <stddef.h> reads these on FreeBSD and NetBSD; glibc has the rest.
mkdir -p "$tmp/netbsd/machine" || exit 2
: >"$tmp/freebsd/sys/_types.h"
cat >"$tmp/netbsd/machine/ansi.h" <<'EOS'
#define _BSD_SIZE_T_	unsigned long
#define _BSD_PTRDIFF_T_	long
#define _BSD_WCHAR_T_	int
EOS

cat >"$tmp/openbsd.h" <<'EOS'
int	pledge(const char *, const char *);
int	unveil(const char *, const char *);
void	setproctitle(const char *, ...);
EOS
cat >"$tmp/freebsd.h" <<'EOS'
void	setproctitle(const char *, ...);
EOS
cp "$tmp/freebsd.h" "$tmp/netbsd.h" || exit 2
: >"$tmp/macos.h"

# OpenBSD 7.x, sys/sys/event.h.
cat >"$tmp/openbsd/sys/event.h" <<'EOS'
#include <stdint.h>
#define EVFILT_READ		(-1)
#define EVFILT_WRITE		(-2)
#define EV_SET(kevp, a, b, c, d, e, f) do {	\
	struct kevent *__kevp = (kevp);		\
	(__kevp)->ident = (a);			\
	(__kevp)->filter = (b);			\
	(__kevp)->flags = (c);			\
	(__kevp)->fflags = (d);			\
	(__kevp)->data = (e);			\
	(__kevp)->udata = (f);			\
} while(0)
struct kevent {
	uintptr_t	ident;
	short		filter;
	unsigned short	flags;
	unsigned int	fflags;
	int64_t		data;
	void		*udata;
};
#define EV_ADD		0x0001
#define EV_DELETE	0x0002
#define EV_ENABLE	0x0004
#define EV_DISABLE	0x0008
#define EV_ONESHOT	0x0010
#define EV_CLEAR	0x0020
#define EV_RECEIPT	0x0040
#define EV_DISPATCH	0x0080
#define EV_SYSFLAGS	0xf800
#define EV_FLAG1	0x2000
#define EV_EOF		0x8000
#define EV_ERROR	0x4000
struct timespec;
int	kqueue(void);
int	kqueue1(int flags);
int	kevent(int kq, const struct kevent *changelist, int nchanges,
	    struct kevent *eventlist, int nevents,
	    const struct timespec *timeout);
EOS

# FreeBSD 14, sys/sys/event.h.
cat >"$tmp/freebsd/sys/event.h" <<'EOS'
#include <stdint.h>
#define EVFILT_READ		(-1)
#define EVFILT_WRITE		(-2)
#define	EV_SET(kevp_, a, b, c, d, e, f) do {	\
	*(kevp_) = (struct kevent){		\
	    .ident = (a),			\
	    .filter = (b),			\
	    .flags = (c),			\
	    .fflags = (d),			\
	    .data = (e),			\
	    .udata = (f),			\
	    .ext = {0},				\
	};					\
} while(0)
struct kevent {
	uintptr_t	ident;
	short		filter;
	unsigned short	flags;
	unsigned int	fflags;
	int64_t		data;
	void		*udata;
	uint64_t	ext[4];
};
#define EV_ADD		0x0001
#define EV_DELETE	0x0002
#define EV_ENABLE	0x0004
#define EV_DISABLE	0x0008
#define EV_FORCEONESHOT	0x0100
#define EV_ONESHOT	0x0010
#define EV_CLEAR	0x0020
#define EV_RECEIPT	0x0040
#define EV_DISPATCH	0x0080
#define EV_SYSFLAGS	0xF000
#define	EV_DROP		0x1000
#define EV_FLAG1	0x2000
#define EV_FLAG2	0x4000
#define EV_EOF		0x8000
#define EV_ERROR	0x4000
struct timespec;
int	kqueue(void);
int	kevent(int kq, const struct kevent *changelist, int nchanges,
	    struct kevent *eventlist, int nevents,
	    const struct timespec *timeout);
EOS

# NetBSD 10, sys/sys/event.h.
cat >"$tmp/netbsd/sys/event.h" <<'EOS'
#include <stdint.h>
#include <stddef.h>
#define __CAST(t, v)	((t)(v))
#define	EVFILT_READ		0U
#define	EVFILT_WRITE		1U
struct kevent {
	uintptr_t	ident;
	uint32_t	filter;
	uint32_t	flags;
	uint32_t	fflags;
	int64_t		data;
	void		*udata;
	uint64_t	ext[4];
};
static __inline void
_EV_SET(struct kevent *_kevp, uintptr_t _ident, uint32_t _filter,
    uint32_t _flags, uint32_t _fflags, int64_t _data, void *_udata)
{
	_kevp->ident = _ident;
	_kevp->filter = _filter;
	_kevp->flags = _flags;
	_kevp->fflags = _fflags;
	_kevp->data = _data;
	_kevp->udata = _udata;
}
#define EV_SET(kevp, ident, filter, flags, fflags, data, udata)	\
    _EV_SET((kevp), __CAST(uintptr_t, (ident)), (filter), (flags), \
    (fflags), (data), __CAST(void *, (udata)))
#define	EV_ADD		0x0001U
#define	EV_DELETE	0x0002U
#define	EV_ENABLE	0x0004U
#define	EV_DISABLE	0x0008U
#define	EV_ONESHOT	0x0010U
#define	EV_CLEAR	0x0020U
#define EV_RECEIPT	0x0040U
#define EV_DISPATCH	0x0080U
#define	EV_SYSFLAGS	0xF000U
#define	EV_FLAG1	0x2000U
#define	EV_EOF		0x8000U
#define	EV_ERROR	0x4000U
struct timespec;
int	kqueue(void);
int	kqueue1(int);
int	kevent(int, const struct kevent *, size_t, struct kevent *, size_t,
	    const struct timespec *);
EOS

# macOS, xnu bsd/sys/event.h.
cat >"$tmp/macos/sys/event.h" <<'EOS'
#include <stdint.h>
#define EVFILT_READ		(-1)
#define EVFILT_WRITE		(-2)
struct kevent {
	uintptr_t	ident;
	int16_t		filter;
	uint16_t	flags;
	uint32_t	fflags;
	intptr_t	data;
	void		*udata;
};
#define EV_SET(kevp, a, b, c, d, e, f) do {	\
	struct kevent *__kevp__ = (kevp);	\
	__kevp__->ident = (a);			\
	__kevp__->filter = (b);			\
	__kevp__->flags = (c);			\
	__kevp__->fflags = (d);			\
	__kevp__->data = (e);			\
	__kevp__->udata = (f);			\
} while(0)
#define EV_ADD			0x0001
#define EV_DELETE		0x0002
#define EV_ENABLE		0x0004
#define EV_DISABLE		0x0008
#define EV_ONESHOT		0x0010
#define EV_CLEAR		0x0020
#define EV_RECEIPT		0x0040
#define EV_DISPATCH		0x0080
#define EV_UDATA_SPECIFIC	0x0100
#define EV_DISPATCH2		(EV_DISPATCH | EV_UDATA_SPECIFIC)
#define EV_VANISHED		0x0200
#define EV_SYSFLAGS		0xF000
#define EV_FLAG0		0x1000
#define EV_FLAG1		0x2000
#define EV_EOF			0x8000
#define EV_ERROR		0x4000
#define EV_POLL			EV_FLAG0
#define EV_OOBAND		EV_FLAG1
struct timespec;
int	kqueue(void);
int	kevent(int kq, const struct kevent *changelist, int nchanges,
	    struct kevent *eventlist, int nevents,
	    const struct timespec *timeout);
EOS

# Compiles the core and router $3 as $1 (a directory above), with macro $2.
compile()
{
	if $cc -std=c99 -D_DEFAULT_SOURCE -U__linux__ -D"$2" \
	    -include "$tmp/$1.h" -I"$tmp/$1" \
	    -Wall -Wextra -pedantic -Werror -fsyntax-only \
	    "$top/proxymachine.c" "$top/routers/$3.c"; then
		echo "$1 branches, router $3: compile"
	else
		echo "$1 branches, router $3: FAILED"
		rc=1
	fi
}

rc=0
for r in git socks4 socks5 custom skeleton; do
	compile openbsd __OpenBSD__ $r
done
compile freebsd __FreeBSD__ custom
compile netbsd __NetBSD__ custom
compile macos __APPLE__ custom
exit $rc

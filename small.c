/*
 * Copyright (c) 2026 The proxymachine authors.
 *
 * Permission is hereby granted, free of charge, to any person obtaining a
 * copy of this software and associated documentation files (the
 * "Software"), to deal in the Software without restriction, including
 * without limitation the rights to use, copy, modify, merge, publish,
 * distribute, sublicense, and/or sell copies of the Software, and to permit
 * persons to whom the Software is furnished to do so, subject to the
 * following conditions: see LICENSE.
 */

/*
 * The small libc of make static and make tiny: what PM_SMALL puts in place
 * of what a static binary takes from libc (the size knobs of
 * proxymachine.c say what each saves).  Every build links this file; it
 * compiles to nothing without PM_SMALL (or PM_TINY, which sets it).
 *
 * The file, in order: printf and err; malloc; the system calls; getopt_long;
 * getpwnam; what getaddrinfo takes.
 */

#ifdef __linux__
#define _GNU_SOURCE		/* program_invocation_short_name, _Fork */
#endif

#include <sys/types.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef __linux__
#include <sys/syscall.h>
#endif

#ifdef PM_TINY
#define PM_SMALL
#endif
#ifdef PM_SMALL
#define PM_SMALL_PRINTF
#define PM_SMALL_MALLOC
#define PM_SMALL_GETOPT
#define PM_SMALL_PASSWD
#define PM_SMALL_SYSCALL
#define PM_SMALL_LOOKUP
#endif

#ifdef PM_SMALL_PRINTF
#include <err.h>

/* A conversion's flags, width, precision and size. */
struct spec {
	int		 left, zero;	/* the flags - and 0 */
	int		 width, prec;	/* prec -1: none */
	int		 mod;		/* 0 int, 1 long, 2 long long, */
					/* 3 size_t, 4 intmax_t */
};

/* Where vsnprintf() writes: n counts every byte, written or not. */
struct out {
	char		*s;
	size_t		 size, n;
};

static const char *spec_read(const char *, struct spec *, va_list *);
static char	*spec_number(int, int, va_list *, char *, int *);
static void	 out_put(struct out *, int);
static void	 out_field(struct out *, const struct spec *, int,
		    const char *, size_t, int);
static void	 err_say(int, const char *, va_list);

/*
 * Reads the flags, width, precision and size of the conversion at fmt
 * (just after its `%'), taking a width or precision `*' from ap, into sp;
 * returns the address of the conversion's letter (or of the NUL).
 */
static const char *
spec_read(const char *fmt, struct spec *sp, va_list *ap)
{
	sp->left = sp->zero = sp->width = sp->mod = 0;
	sp->prec = -1;
	for (;; fmt++) {
		if (*fmt == '-')
			sp->left = 1;
		else if (*fmt == '0')
			sp->zero = 1;
		else if (*fmt != '+' && *fmt != ' ' && *fmt != '#')
			break;
	}
	if (*fmt == '*') {
		if ((sp->width = va_arg(*ap, int)) < 0) {
			sp->left = 1;
			sp->width = -sp->width;
		}
		fmt++;
	} else
		for (; *fmt >= '0' && *fmt <= '9'; fmt++)
			sp->width = sp->width * 10 + (*fmt - '0');
	if (*fmt == '.') {
		sp->prec = 0;
		if (*++fmt == '*') {
			sp->prec = va_arg(*ap, int);
			fmt++;
		} else
			for (; *fmt >= '0' && *fmt <= '9'; fmt++)
				sp->prec = sp->prec * 10 + (*fmt - '0');
	}
	for (;; fmt++) {
		if (*fmt == 'l')
			sp->mod++;
		else if (*fmt == 'z' || *fmt == 't')
			sp->mod = 3;
		else if (*fmt == 'j')
			sp->mod = 4;
		else if (*fmt != 'h')
			break;
	}
	return fmt;
}

/*
 * Writes the characters of conversion c (any but s), its argument taken
 * from ap as mod says, backwards into the bytes that end at d, without a
 * sign; sets *neg when the number is negative.  Returns the first.
 */
static char *
spec_number(int c, int mod, va_list *ap, char *d, int *neg)
{
	const char	*digits = "0123456789abcdef";
	uintmax_t	 v;
	intmax_t	 sv;
	unsigned int	 base = 10;

	*neg = 0;
	switch (c) {
	case 'c':
		*--d = (char)va_arg(*ap, int);
		return d;
	case 'd':
	case 'i':
		sv = mod == 0 ? va_arg(*ap, int) :
		    mod == 1 ? va_arg(*ap, long) :
		    mod == 2 ? va_arg(*ap, long long) :
		    mod == 3 ? va_arg(*ap, ssize_t) :
		    va_arg(*ap, intmax_t);
		*neg = sv < 0;
		v = *neg ? 0 - (uintmax_t)sv : (uintmax_t)sv;
		break;
	case 'X':
		digits = "0123456789ABCDEF";
		/* FALLTHROUGH */
	case 'x':
		base = 16;
		/* FALLTHROUGH */
	case 'u':
		v = mod == 0 ? va_arg(*ap, unsigned int) :
		    mod == 1 ? va_arg(*ap, unsigned long) :
		    mod == 2 ? va_arg(*ap, unsigned long long) :
		    mod == 3 ? va_arg(*ap, size_t) :
		    va_arg(*ap, uintmax_t);
		break;
	default:
		*--d = (char)c;
		return d;
	}
	do {
		*--d = digits[v % base];
		v /= base;
	} while (v != 0);
	return d;
}

/* Writes ch where there is room, and counts it. */
static void
out_put(struct out *o, int ch)
{
	if (o->n + 1 < o->size)
		o->s[o->n] = (char)ch;
	o->n++;
}

/*
 * Writes the len bytes at p of conversion c, after a `-' when neg is set,
 * padded to the width of sp.
 */
static void
out_field(struct out *o, const struct spec *sp, int c, const char *p,
    size_t len, int neg)
{
	int	 width = sp->width - ((int)len + neg);

	if (neg && sp->zero)
		out_put(o, '-');
	for (; !sp->left && width > 0; width--)
		out_put(o, sp->zero && c != 's' ? '0' : ' ');
	if (neg && !sp->zero)
		out_put(o, '-');
	while (len-- > 0)
		out_put(o, *p++);
	for (; width > 0; width--)
		out_put(o, ' ');
}

/*
 * vsnprintf(3), snprintf(3), err(3), errx(3) and warnx(3), for the core
 * and the router, in place of libc's: the conversions c, d, i, s, u, x,
 * X and %, the flags - and 0, a width, a precision for s (either may be
 * *), and the sizes h and hh (read as int), l, ll, j, z and t (as z).
 * No floating point.
 */
int
vsnprintf(char *s, size_t size, const char *fmt, va_list ap)
{
	struct out	 o;
	struct spec	 sp;
	char		 num[3 * sizeof(uintmax_t)];
	const char	*p;
	size_t		 len;
	int		 neg;
	va_list		 aq;

	o.s = s;
	o.size = size;
	o.n = 0;
	va_copy(aq, ap);
	for (; *fmt != '\0'; fmt++) {
		if (*fmt != '%' || *++fmt == '%') {
			out_put(&o, *fmt);
			continue;
		}
		if (*(fmt = spec_read(fmt, &sp, &aq)) == '\0')
			break;
		neg = 0;
		if (*fmt == 's') {
			if ((p = va_arg(aq, const char *)) == NULL)
				p = "(null)";
			for (len = 0; (sp.prec < 0 || len < (size_t)sp.prec) &&
			    p[len] != '\0'; len++)
				;
		} else {
			p = spec_number(*fmt, sp.mod, &aq, num + sizeof(num),
			    &neg);
			len = (size_t)(num + sizeof(num) - p);
		}
		out_field(&o, &sp, *fmt, p, len, neg);
	}
	va_end(aq);
	if (size > 0)
		s[o.n < size ? o.n : size - 1] = '\0';
	return o.n > INT_MAX ? -1 : (int)o.n;
}

int
snprintf(char *s, size_t size, const char *fmt, ...)
{
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(s, size, fmt, ap);
	va_end(ap);
	return n;
}

/* Writes "prog: message", then ": strerror(e)" unless e is -1, to stderr. */
static void
err_say(int e, const char *fmt, va_list ap)
{
	char	 msg[1024], line[2048];
	size_t	 len, off;
	ssize_t	 w;
	int	 n;

	msg[0] = '\0';
	if (fmt != NULL)
		vsnprintf(msg, sizeof(msg), fmt, ap);
	n = snprintf(line, sizeof(line), "%s: %s%s%s\n",
	    program_invocation_short_name, msg, e == -1 || fmt == NULL ? "" :
	    ": ", e == -1 ? "" : strerror(e));
	if (n < 0)
		return;
	len = (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
	for (off = 0; off < len; off += (size_t)w)
		while ((w = write(STDERR_FILENO, line + off, len - off)) < 0)
			if (errno != EINTR)
				return;
}

void
err(int status, const char *fmt, ...)
{
	va_list	 ap;
	int	 e = errno;

	va_start(ap, fmt);
	err_say(e, fmt, ap);
	va_end(ap);
	exit(status);
}

void
errx(int status, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	err_say(-1, fmt, ap);
	va_end(ap);
	exit(status);
}

void
warnx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	err_say(-1, fmt, ap);
	va_end(ap);
}
#endif /* PM_SMALL_PRINTF */

#ifdef PM_SMALL_MALLOC
/*
 * malloc(3), calloc(3), realloc(3) and free(3), in place of libc's: each
 * block is a mapping of its own, its size in the BLOCK_HDR bytes before
 * it.  Enough for what allocates here (start-up, table loads, the
 * resolver's lookups; never a connection): a block costs a page at least.
 */
#define BLOCK_HDR	16		/* keeps the block's alignment */

void *
malloc(size_t n)
{
	size_t	*p;

	if (n > SIZE_MAX / 2) {
		errno = ENOMEM;
		return NULL;
	}
	p = mmap(NULL, n + BLOCK_HDR, PROT_READ | PROT_WRITE,
	    /* An anonymous mapping takes -1 for a descriptor. */
	    /* cppcheck-suppress invalidFunctionArg */
	    MAP_PRIVATE | MAP_ANON, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	*p = n + BLOCK_HDR;
	return (unsigned char *)p + BLOCK_HDR;
}

void
free(void *q)
{
	size_t	*p;

	if (q == NULL)
		return;
	p = (size_t *)((uintptr_t)q - BLOCK_HDR);
	munmap(p, *p);
}

/* A new mapping is zeroed already. */
void *
calloc(size_t n, size_t size)
{
	if (size != 0 && n > SIZE_MAX / size) {
		errno = ENOMEM;
		return NULL;
	}
	return malloc(n * size);
}

void *
realloc(void *q, size_t n)
{
	size_t	 old;
	void	*nq;

	if (q == NULL)
		return malloc(n);
	old = *(size_t *)((uintptr_t)q - BLOCK_HDR) - BLOCK_HDR;
	if (n <= old)
		return q;
	if ((nq = malloc(n)) == NULL)
		return NULL;
	memcpy(nq, q, old);
	free(q);
	return nq;
}
#endif /* PM_SMALL_MALLOC */

#ifdef PM_SMALL_SYSCALL
/*
 * fork(2), setuid(2), setgid(2), setgroups(2), setrlimit(2), fcntl(2) and
 * open(2), in place of libc's, as bare system calls.  The proxy has one thread: what libc
 * adds for the others (each thread's ids and limits changed together,
 * its locks held across a fork) is not needed.  Linux only; on 32-bit
 * systems the calls for 32-bit ids are the *32 ones.
 */
#ifndef SYS_setuid32
#define SYS_setuid32	SYS_setuid
#define SYS_setgid32	SYS_setgid
#define SYS_setgroups32	SYS_setgroups
#endif
#ifdef __GLIBC__
#define RLIMIT_RES_T	__rlimit_resource_t	/* an enum, with _GNU_SOURCE */
#else
#define RLIMIT_RES_T	int
#endif

pid_t
fork(void)
{
	return _Fork();
}

int
setuid(uid_t uid)
{
	return (int)syscall(SYS_setuid32, uid);
}

int
setgid(gid_t gid)
{
	return (int)syscall(SYS_setgid32, gid);
}

int
setgroups(size_t n, const gid_t *groups)
{
	return (int)syscall(SYS_setgroups32, n, groups);
}

int
setrlimit(RLIMIT_RES_T resource, const struct rlimit *rl)
{
	return (int)syscall(SYS_prlimit64, 0, resource, rl, NULL);
}

/*
 * fcntl(2), for what the proxy asks of it: F_GETFL, F_SETFL and F_SETFD
 * on sockets and pipes.  libc's adds what other commands need (F_GETOWN,
 * F_DUPFD_CLOEXEC on old kernels, locks as cancellation points) and
 * O_LARGEFILE for files on 32-bit systems.  The argument is read as libc
 * reads it, whatever the command.
 */
int
fcntl(int fd, int cmd, ...)
{
	va_list	 ap;
	long	 arg;

	va_start(ap, cmd);
	arg = va_arg(ap, long);
	va_end(ap);
	return (int)syscall(SYS_fcntl, fd, cmd, arg);
}

/*
 * open(2), for the table, the pid file and /dev/null.  libc's adds
 * O_LARGEFILE on 32-bit systems (for files over 2 GiB) and sets
 * FD_CLOEXEC by hand where the kernel (before 2.6.23) ignores O_CLOEXEC.
 */
int
open(const char *path, int flags, ...)
{
	va_list	 ap;
	int	 mode;

	va_start(ap, flags);
	mode = (flags & O_CREAT) ? va_arg(ap, int) : 0;
	va_end(ap);
	return (int)syscall(SYS_openat, AT_FDCWD, path, flags, mode);
}
#endif /* PM_SMALL_SYSCALL */

#ifdef PM_SMALL_GETOPT
/*
 * getopt_long(3), in place of libc's, for what main() asks of it: short
 * options, alone or grouped, their argument attached or the next word;
 * long options as --name=value or --name value, or by a prefix that
 * names one; "--".  Options end at the first operand (no permutation:
 * the proxy takes none).  A bad option is said on stderr, as '?'.
 */
char	*optarg;
int	 optind = 1;

int
getopt_long(int argc, char *const argv[], const char *opts,
    const struct option *longopts, int *longindex)
{
	static int		 pos;	/* in a group of short options */
	const struct option	*o, *match = NULL;
	const char		*a, *eq, *s;
	size_t			 len;
	int			 n = 0, c;

	optarg = NULL;
	if (pos == 0) {
		if (optind >= argc || (a = argv[optind])[0] != '-' ||
		    a[1] == '\0')
			return -1;
		if (a[1] == '-') {
			optind++;
			if (a[2] == '\0')
				return -1;
			a += 2;
			eq = strchr(a, '=');
			len = eq != NULL ? (size_t)(eq - a) : strlen(a);
			for (o = longopts; o->name != NULL; o++)
				if (strncmp(o->name, a, len) == 0) {
					match = o;
					if (o->name[len] == '\0') {
						n = 1;
						break;
					}
					n++;
				}
			if (n != 1) {
				warnx("%s option: --%.*s", n > 1 ?
				    "ambiguous" : "unrecognized", (int)len, a);
				return '?';
			}
			if (match->has_arg == no_argument && eq != NULL) {
				warnx("option takes no argument: --%s",
				    match->name);
				return '?';
			}
			if (match->has_arg != no_argument) {
				if (eq != NULL)
					optarg = (char *)eq + 1;
				else if (optind < argc)
					optarg = argv[optind++];
				else {
					warnx("option requires an argument: "
					    "--%s", match->name);
					return '?';
				}
			}
			if (longindex != NULL)
				*longindex = (int)(match - longopts);
			if (match->flag != NULL) {
				*match->flag = match->val;
				return 0;
			}
			return match->val;
		}
		pos = 1;
	}
	a = argv[optind];
	c = (unsigned char)a[pos];
	if (a[++pos] == '\0') {
		optind++;
		pos = 0;
	}
	if (c == ':' || (s = strchr(opts, c)) == NULL) {
		warnx("unrecognized option: -%c", c);
		return '?';
	}
	if (s[1] == ':') {
		if (pos != 0) {
			optarg = (char *)a + pos;
			optind++;
			pos = 0;
		} else if (optind < argc)
			optarg = argv[optind++];
		else {
			warnx("option requires an argument: -%c", c);
			return '?';
		}
	}
	return c;
}
#endif /* PM_SMALL_GETOPT */

#if defined(PM_SMALL_PASSWD) && !defined(PM_NO_PRIVDROP)
/* /etc/passwd is read whole, up to this many bytes (as a table is). */
#define PASSWD_MAX	(1024 * 1024)

static char	*passwd_read(size_t *);

/*
 * Returns the bytes of /etc/passwd, their count in *len, or NULL.  (The
 * block is a mapping of PASSWD_MAX bytes: only the pages read are used.)
 */
static char *
passwd_read(size_t *len)
{
	char	*p;
	size_t	 n = 0;
	ssize_t	 got = 1;
	int	 fd;

	if ((fd = open("/etc/passwd", O_RDONLY | O_CLOEXEC)) == -1)
		return NULL;
	if ((p = malloc(PASSWD_MAX + 1)) != NULL) {
		while (n <= PASSWD_MAX && (got = read(fd, p + n,
		    PASSWD_MAX + 1 - n)) != 0) {
			if (got > 0)
				n += (size_t)got;
			else if (errno != EINTR)
				break;
		}
	}
	close(fd);
	if (p != NULL && got == 0) {
		*len = n;
		return p;
	}
	free(p);
	return NULL;
}

/*
 * getpwnam(3), in place of libc's, for what privdrop() needs (the ids):
 * the user's line in /etc/passwd, which is what musl's reads too, before
 * it asks an nscd (a cache daemon, for users kept elsewhere).
 */
struct passwd *
getpwnam(const char *name)
{
	static struct passwd	 pw;
	char			*text, *p, *end, *nl;
	size_t			 len, nlen = strlen(name);
	uint64_t		 id[2];
	int			 i;

	if ((text = passwd_read(&len)) == NULL)
		return NULL;
	for (p = text, end = text + len; p < end; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		/* name:password:uid:gid:gecos:home:shell */
		if ((size_t)(nl - p) <= nlen || memcmp(p, name, nlen) != 0 ||
		    p[nlen] != ':')
			continue;
		for (p += nlen + 1; p < nl && *p != ':'; p++)
			;
		for (i = 0; i < 2 && p < nl - 1 && *p == ':' &&
		    p[1] >= '0' && p[1] <= '9'; i++)
			for (id[i] = 0, p++; p < nl && *p >= '0' && *p <= '9' &&
			    id[i] <= UINT32_MAX; p++)
				id[i] = id[i] * 10 + (uint64_t)(*p - '0');
		if (i < 2 || p == nl || *p != ':' || id[0] > UINT32_MAX ||
		    id[1] > UINT32_MAX)
			continue;
		free(text);
		memset(&pw, 0, sizeof(pw));
		pw.pw_name = (char *)(uintptr_t)name;
		pw.pw_uid = (uid_t)id[0];
		pw.pw_gid = (gid_t)id[1];
		return &pw;
	}
	free(text);
	return NULL;
}
#endif /* PM_SMALL_PASSWD */

#ifdef PM_SMALL_LOOKUP
/*
 * What musl's getaddrinfo(3) takes from libc besides the lookup, in place
 * of libc's: qsort(3), for the few addresses (48 at most) it puts in the
 * order of RFC 6724, with keys that never tie (each holds the address's
 * place in the answer), so that any sort gives the same order; strstr(3),
 * for the lines of /etc/hosts; mbstowcs(3), which checks a name, as the C
 * locale has it, the one the proxy runs in (it never calls setlocale(3)):
 * a byte is a character.
 */
void
qsort(void *base, size_t n, size_t size,
    int (*cmp)(const void *, const void *))
{
	unsigned char	*a = base, *p, t;
	size_t		 i, j, k;

	/* Insertion: each element goes down past the larger ones. */
	for (i = 1; i < n; i++)
		for (j = i; j > 0; j--) {
			p = a + (j - 1) * size;
			if (cmp(p, p + size) <= 0)
				break;
			for (k = 0; k < size; k++) {
				t = p[k];
				p[k] = p[size + k];
				p[size + k] = t;
			}
		}
}

char *
strstr(const char *s, const char *find)
{
	size_t	 len = strlen(find);

	for (;; s++) {
		if (strncmp(s, find, len) == 0)
			return (char *)(uintptr_t)s;
		if (*s == '\0')
			return NULL;
	}
}

size_t
mbstowcs(wchar_t *ws, const char *s, size_t n)
{
	size_t	 i;

	if (ws == NULL)
		return strlen(s);
	for (i = 0; i < n && s[i] != '\0'; i++)
		ws[i] = 0xdfff & (signed char)s[i];	/* as musl's */
	if (i < n)
		ws[i] = 0;
	return i;
}
#endif /* PM_SMALL_LOOKUP */

#!/bin/sh
# scripts/bsd-syntax.sh: compiles (syntax only) the OpenBSD branches of
# proxymachine.c -- pledge(2), unveil(2), setproctitle(3), accept(2) with
# fcntl instead of accept4, poll(2) instead of epoll -- with each router,
# on a machine that is not OpenBSD: __linux__ is undefined, __OpenBSD__
# defined, and the three OpenBSD functions declared as in its headers.
# It proves the code there parses and type-checks against their
# prototypes, not that it runs: that needs an OpenBSD host.
set -u
top=$(cd "$(dirname "$0")/.." && pwd) || exit 2
cc=${CC:-cc}
stubs=$(mktemp "${TMPDIR:-/tmp}/obsd.XXXXXX") || exit 2
trap 'rm -f "$stubs"' EXIT
cat >"$stubs" <<'EOS'
int	pledge(const char *, const char *);
int	unveil(const char *, const char *);
void	setproctitle(const char *, ...);
EOS
rc=0
for r in git socks4 custom; do
	if $cc -std=c99 -D_DEFAULT_SOURCE -U__linux__ -D__OpenBSD__ \
	    -include "$stubs" -Wall -Wextra -pedantic -Werror -fsyntax-only \
	    "$top/proxymachine.c" "$top/routers/$r.c"; then
		echo "OpenBSD branches, router $r: compile"
	else
		echo "OpenBSD branches, router $r: FAILED"
		rc=1
	fi
done
exit $rc

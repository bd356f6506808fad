#!/bin/sh
# scripts/compilers.sh: build with every C compiler and libc at hand,
# warnings on, and report; -t runs the test suite on each build too.
#
#	scripts/compilers.sh [-t] [COMPILER...]
#
# COMPILER defaults to gcc clang tcc pcc musl-gcc: glibc with the first
# four, musl with musl-gcc.  A compiler that is not installed is reported
# and skipped.  Each one builds at each level of OPTS (default "-O0 -O2
# -Os") with CFLAGS="LEVEL -Wall -Wextra -pedantic", through the Makefile
# in a copy of the tree (scripts/build.sh, into build/cc/NAME-LEVEL): the
# core with each router (git, socks4, socks5, custom, skeleton) and with
# the test router.  tests/pmtest.c is compiled with the same warnings (the
# pmtest that the suite runs is built with HOSTCC, default cc).  With -t,
# test.sh runs against the -O2 build of each compiler (about a minute
# each).
#
# pcc: Debian's pcc brings a crtend.o without a .note.GNU-stack section,
# so ld warns of an executable stack; LDFLAGS=-Wl,-z,noexecstack is
# passed for pcc (that warning is the package's, not the code's).
#
# Exit status 0 when every build is free of warnings and every suite run
# passed, 1 otherwise.

set -u
top=$(cd "$(dirname "$0")/.." && pwd) || exit 2
tests=
if [ "${1:-}" = -t ]; then
	tests=1
	shift
fi
[ $# -gt 0 ] || set -- gcc clang tcc pcc musl-gcc
opts=${OPTS:--O0 -O2 -Os}
warn="-Wall -Wextra -pedantic"
out=$top/build/cc
mkdir -p "$out" || exit 2
bad=0
summary=

# Prints the compiler's name and version on one line.
ccversion()
{
	case $1 in
	tcc*)	"$1" -v 2>&1 | head -n 1 ;;
	pcc*)	"$1" -v 2>&1 | grep -i 'compiler' | head -n 1 ;;
	*)	"$1" --version 2>&1 | head -n 1 ;;
	esac
}

t0=$(date +%s)
for cc in "$@"; do
	name=$(basename "$cc")
	if ! command -v "$cc" >/dev/null 2>&1; then
		case $name in
		musl-gcc)	pkg=musl-tools ;;
		*)		pkg=$name ;;
		esac
		echo "== $name: not installed (Debian: apt-get install $pkg)"
		summary="$summary
$name: not installed"
		continue
	fi
	echo "== $name: $(ccversion "$cc")"
	ldflags=
	case $name in
	pcc*)	ldflags=-Wl,-z,noexecstack ;;
	esac
	for o in $opts; do
		d=$out/$name$o
		log=$d.log
		mkdir -p "$d"
		CC=$cc CFLAGS="$o $warn" LDFLAGS=$ldflags \
		    "$top/scripts/build.sh" "$d" >"$log" 2>&1
		rc=$?
		"$cc" -std=c99 -D_DEFAULT_SOURCE $o $warn $ldflags \
		    -o "$d/pmtest-warn" "$top/tests/pmtest.c" >>"$log" 2>&1 ||
		    rc=1
		n=$(grep -c -i -e 'warning' -e 'error' "$log")
		if [ $rc -ne 0 ]; then
			res="build FAILED"
			bad=1
		elif [ "$n" -gt 0 ]; then
			res="$n warning lines"
			bad=1
		else
			res=clean
		fi
		echo "$name $o: $res (log: ${log#$top/})"
		grep -i -e 'warning' -e 'error' "$log" | sort | uniq -c |
		    sort -rn | head -n 20
		summary="$summary
$name $o: $res"
	done
	if [ -n "$tests" ]; then
		d=$out/$name-O2
		if [ ! -x "$d/src/tests/proxymachine-test" ]; then
			summary="$summary
$name -O2 tests: not built"
			bad=1
			continue
		fi
		s0=$(date +%s)
		BINDIR=$d/src/tests PMTEST=$d/src/tests/pmtest \
		    sh "$d/src/test.sh" >"$d.test.log" 2>&1
		rc=$?
		s1=$(date +%s)
		res=$(tail -n 1 "$d.test.log")
		[ $rc -eq 0 ] || bad=1
		echo "$name -O2 tests: $res in $((s1 - s0)) s" \
		    "(log: ${d#$top/}.test.log)"
		grep '^not ok' "$d.test.log"
		summary="$summary
$name -O2 tests: $res in $((s1 - s0)) s"
	fi
done
t1=$(date +%s)
echo "== summary ($((t1 - t0)) s)$summary"
exit $bad

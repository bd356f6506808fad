#!/bin/sh
# scripts/build.sh: build the test binaries out of the work tree.
#
#	scripts/build.sh DIR [MAKE-ARGUMENTS...]
#
# The sources are copied into DIR/src and make runs there, so a build for
# another compiler, libc or architecture never touches the binaries or the
# stamps of the work tree, and the Makefile stays the one place
# that says how to build.  CC, CFLAGS and LDFLAGS are handed to make when
# they are set; MAKE picks the make program (default make).  The test
# helper tests/pmtest is built with HOSTCC (default cc) since it runs on
# this machine even when CC is a cross compiler.
#
# Afterwards DIR/src/tests is what test.sh wants as BINDIR, and DIR/src
# holds a copy of test.sh and tests/*.sh to run against it.  Exit status 0
# when everything was built; make's output is on stdout and stderr.

set -u
top=$(cd "$(dirname "$0")/.." && pwd) || exit 2
if [ $# -lt 1 ]; then
	echo "usage: scripts/build.sh DIR [MAKE-ARGUMENTS...]" >&2
	exit 2
fi
dir=$1
shift
make=${MAKE:-make}
src=$dir/src

rm -rf "$src"
mkdir -p "$src/routers" "$src/tests" || exit 2
cp "$top/Makefile" "$top/dev.mk" "$top/proxymachine.c" "$top/small.c" \
    "$top/router.h" "$top/proxymachine.8" "$src/" || exit 2
cp "$top"/routers/*.c "$src/routers/" || exit 2
cp "$top"/tests/*.c "$src/tests/" || exit 2
# The suite too, with the documents it checks: a run reads the files of
# this snapshot, not ones that someone edits while it runs (sh reads a
# script as it goes).
cp "$top/test.sh" "$top/README" "$src/" &&
    cp "$top"/tests/*.sh "$src/tests/" &&
    cp -R "$top/examples" "$src/" || exit 2

# Only the variables the caller set reach make: unset ones keep the
# Makefile's defaults (CFLAGS ?= -O2).
[ -n "${CC+set}" ] && set -- "$@" "CC=$CC"
[ -n "${CFLAGS+set}" ] && set -- "$@" "CFLAGS=$CFLAGS"
[ -n "${LDFLAGS+set}" ] && set -- "$@" "LDFLAGS=$LDFLAGS"

cd "$src" || exit 2
"$make" CC="${HOSTCC:-cc}" tests/pmtest || exit 1
"$make" "$@" tests/proxymachine-test tests/proxymachine-small \
    tests/proxymachine-git tests/proxymachine-socks4 \
    tests/proxymachine-socks5 tests/proxymachine-custom \
    tests/proxymachine-skeleton

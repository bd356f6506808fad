#!/bin/sh
#
# fuzz/analyze.sh: run the static analysers over the tree, for CI.
#
#	sh fuzz/analyze.sh
#
# clang's analyser (clang --analyze: the default checkers and a few
# opt-in ones) over every C file (the core, routers/, tests/, bench/,
# fuzz/), and cppcheck (warning, portability and performance, with its
# POSIX knowledge) over the core with each router and with the test
# router, and over each other program alone.  It prints each
# finding and exits 1 when there is any, 2 when an analyser is missing.
#
# A false positive is suppressed where it is, with a comment that says
# why: for cppcheck in the source (// cppcheck-suppress id) or in
# fuzz/cppcheck.supp, for clang with #ifndef __clang_analyzer__.
#
# Environment: ANALYZE_CC (clang), CPPCHECK (cppcheck).
#
# Copyright (c) 2026 The proxymachine authors.  MIT licence: see LICENSE.

set -u

cd "$(dirname "$0")/.." || exit 1

cc=${ANALYZE_CC:-clang}
cppcheck=${CPPCHECK:-cppcheck}
routers=$(ls routers/*.c)
others=$(ls tests/*.c bench/*.c fuzz/*.c)
files="proxymachine.c $routers $others"

for t in "$cc" "$cppcheck"; do
	if ! command -v "$t" >/dev/null 2>&1; then
		echo "fuzz/analyze.sh: $t not found (Debian: apt-get install" \
		    "clang cppcheck)" >&2
		exit 2
	fi
done

tmp=$(mktemp) || exit 2
trap 'rm -f "$tmp"' EXIT
trap 'exit 2' INT TERM
found=0

checkers=optin.portability.UnixAPI,security.FloatLoopCounter,valist,unix
for f in $files; do
	$cc --analyze -std=c99 -D_DEFAULT_SOURCE -DPM_VERSION=\"analyze\" \
	    -Xanalyzer -analyzer-checker=$checkers -o /dev/null "$f" \
	    >"$tmp" 2>&1
	rc=$?
	if [ $rc -ne 0 ] || grep -q 'warning:\|error:' "$tmp"; then
		echo "clang --analyze $f:"
		grep 'warning:\|error:' "$tmp" | sed 's/^/    /'
		[ $rc -ne 0 ] && sed 's/^/    /' "$tmp"
		found=1
	else
		echo "clang --analyze $f: clean"
	fi
done

# Each router with the core, so that cppcheck sees both sides of a call;
# the test router too; every other program alone.
sets=""
for f in $routers tests/router_test.c; do
	sets="$sets proxymachine.c:$f"
done
for f in $others; do
	[ "$f" = tests/router_test.c ] || sets="$sets $f"
done
for s in $sets; do
	set -- $(echo "$s" | tr ':' ' ')
	$cppcheck -q --std=c99 --enable=warning,portability,performance \
	    --library=posix --force --inline-suppr \
	    --suppressions-list=fuzz/cppcheck.supp --error-exitcode=1 \
	    --template='{file}:{line}:{column}: {severity}: {message} [{id}]' \
	    "$@" >"$tmp" 2>&1
	rc=$?
	if [ $rc -ne 0 ] || [ -s "$tmp" ]; then
		echo "cppcheck $*:"
		sed 's/^/    /' "$tmp"
		found=1
	else
		echo "cppcheck $*: clean"
	fi
done

exit $found

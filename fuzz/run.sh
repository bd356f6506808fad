#!/bin/sh
#
# fuzz/run.sh: build the libFuzzer harnesses and run each for a while.
#
#	sh fuzz/run.sh [seconds [harness ...]]
#
# seconds is each harness's time (default 60).  Without harness names it
# runs them all: route-ROUTER and load-ROUTER for each router, conf, addr,
# text, tls, http and proxyin.  It prints one line of libFuzzer's final numbers
# per harness and exits non-zero when a harness does not build or finds a
# crash (the input is saved as fuzz/build/crash-HARNESS-*; run the
# harness on it to see the report).  The corpus that grows is kept in
# fuzz/build/corpus/HARNESS; fuzz/corpus/HARNESS is the seed corpus, never
# written.
#
# Needs clang with libFuzzer (Debian: clang and libclang-rt-dev).
# Environment: FUZZ_CC (clang), FUZZ_BUILD (fuzz/build), FUZZ_FLAGS
# (extra compiler flags), FUZZ_ARGS (extra libFuzzer flags, as -jobs=2).
#
# Copyright (c) 2026 The proxymachine authors.  MIT licence: see LICENSE.

set -u

cd "$(dirname "$0")/.." || exit 1

secs=${1:-60}
[ $# -gt 0 ] && shift
case $secs in
''|*[!0-9]*)
	echo "usage: sh fuzz/run.sh [seconds [harness ...]]" >&2
	exit 2
	;;
esac

routers="git socks4 socks5 custom skeleton"
all=""
for r in $routers; do
	all="$all route-$r load-$r"
done
all="$all conf addr text tls http proxyin"
harnesses=${*:-$all}

cc=${FUZZ_CC:-clang}
b=${FUZZ_BUILD:-fuzz/build}
san="-fsanitize=address,undefined -fno-sanitize-recover=all"
cflags="-std=c99 -D_DEFAULT_SOURCE -DPM_VERSION=\"fuzz\" -g -O1 \
    -fno-omit-frame-pointer $san -Wall -Wextra ${FUZZ_FLAGS:-}"
# The core without main(): the functions only main() uses are unused.
coreflags="-DPM_NO_MAIN -Wno-unused-function -Wno-unused-variable"
# Small table limits, so that inputs of a few KiB reach them.
limits="-DGIT_MAXROUTES=16 -DGIT_NAMESPACE=128 -DPM_SOCKS4_MAXRULES=16 \
    -DPM_SOCKS5_MAXRULES=16 -DPM_SOCKS5_USERBYTES=256 \
    -DPM_CUSTOM_MAXENTRIES=16"

mkdir -p "$b" || exit 1

# build OBJECT SOURCE [FLAGS]: compile with coverage for libFuzzer.
build() {
	o=$1
	src=$2
	shift 2
	echo "$cc ... -c -o $o $src"
	$cc $cflags -fsanitize=fuzzer-no-link "$@" -c -o "$o" "$src"
}

# link HARNESS OBJECT...: link with libFuzzer's main().
link() {
	h=$1
	shift
	echo "$cc ... -o $b/$h"
	$cc $cflags -fsanitize=fuzzer -Wl,--wrap=getaddrinfo \
	    -o "$b/$h" "$@"
}

fail=0
build "$b/core.o" proxymachine.c $coreflags || exit 1
for f in common route load conf addr text stub; do
	build "$b/$f.o" "fuzz/$f.c" || exit 1
done
for r in $routers; do
	build "$b/router-$r.o" "routers/$r.c" $limits || exit 1
done
# The parsers of routers/sniff.c, which fuzz/sniff.c includes.
build "$b/tls.o" fuzz/sniff.c || exit 1
build "$b/http.o" fuzz/sniff.c -DFZ_HTTP || exit 1
# The core's PROXY header reader, which fuzz/proxyin.c includes.
build "$b/proxyin.o" fuzz/proxyin.c $coreflags || exit 1
for h in $harnesses; do
	case $h in
	route-*|load-*)
		r=${h#*-}
		link "$h" "$b/${h%%-*}.o" "$b/common.o" "$b/core.o" \
		    "$b/router-$r.o" || exit 1
		;;
	conf|addr|text)
		link "$h" "$b/$h.o" "$b/common.o" "$b/core.o" \
		    "$b/stub.o" || exit 1
		;;
	tls|http)
		link "$h" "$b/$h.o" || exit 1
		;;
	proxyin)
		link "$h" "$b/$h.o" "$b/common.o" "$b/stub.o" || exit 1
		;;
	*)
		echo "fuzz/run.sh: unknown harness $h" >&2
		exit 2
		;;
	esac
done

# Tables and the conf harness need lines longer than the core's 4096.
printf '%-14s %10s %8s %6s %6s %8s  %s\n' harness execs exec/s cov ft \
    corpus result
for h in $harnesses; do
	maxlen=4096
	case $h in
	load-*|conf|tls|http)
		maxlen=8192
		;;
	esac
	mkdir -p "$b/corpus/$h"
	seeds=""
	[ -d "fuzz/corpus/$h" ] && seeds="fuzz/corpus/$h"
	log=$b/$h.log
	# -close_fd_mask=2 drops the routers' log lines; libFuzzer and the
	# sanitizers still report on the original stderr.
	"$b/$h" -max_total_time="$secs" -max_len=$maxlen -timeout=10 \
	    -print_final_stats=1 -close_fd_mask=2 \
	    -artifact_prefix="$b/crash-$h-" ${FUZZ_ARGS:-} \
	    "$b/corpus/$h" $seeds >"$log" 2>&1
	rc=$?
	last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
	cov=$(echo "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
	ft=$(echo "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
	corp=$(echo "$last" | sed -n 's/.* corp: \([0-9]*\).*/\1/p')
	if [ $rc -eq 0 ]; then
		result=ok
	else
		result="FAILED (exit $rc, log $log)"
		fail=1
	fi
	printf '%-14s %10s %8s %6s %6s %8s  %s\n' "$h" "${execs:-?}" \
	    "${speed:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$result"
	if [ $rc -ne 0 ]; then
		grep -E '^(==|SUMMARY|fuzz:|artifact_prefix|Test unit)' \
		    "$log" | head -n 20 | sed 's/^/    /'
	fi
done
exit $fail

#!/bin/sh
# scripts/size-check.sh: hold the static binaries to their sizes, and run
# the minimal one.
#
#	scripts/size-check.sh [-t]
#
# Runs make size with musl-gcc (the static binary of each router as make
# static builds it, PM_SMALL, and as make tiny does, PM_TINY) and fails
# when one's text+data is above its router's limit (limits() below; git,
# the default router: 85 KiB for make static, 56 KiB for make tiny).
# Then it builds
# make tiny with the custom router (into build/size-check), starts it on
# loopback in front of an echo server and relays a request through it;
# a host name in its table must be refused (it looks up none).  With -t,
# the whole suite then runs against static musl builds with PM_SMALL
# (scripts/build.sh, into build/size-check/small): what make static
# ships.  Without musl-gcc the limits mean nothing: it says so and fails.
#
# Exit status 0 when every size is within its limit and every check
# passed, 1 otherwise.

set -u
top=$(cd "$(dirname "$0")/.." && pwd) || exit 2
suite=
if [ "${1:-}" = -t ]; then
	suite=1
fi
# The limits, in KiB.  The core's part is git's, the default router: 85
# KiB for make static (80 until the PROXY protocol both ways, several
# listeners and lookups for routers came, 5.3 KB in all) and 56 for make
# tiny (which leaves those out).  The other routers add their protocols'
# parsers and rules: socks4 SOCKS4a, names and client rules, socks5 its
# phases, logins and rules, custom the TLS ClientHello and HTTP head
# readers.  STATIC_MAX and TINY_MAX (bytes) set one limit for all.
limits()
{
	case $1 in
	git)	st=85 tt=56 ;;
	socks4)	st=88 tt=60 ;;
	socks5)	st=90 tt=62 ;;
	custom)	st=91 tt=63 ;;
	esac
	smax=${STATIC_MAX:-$((st * 1024))}
	tmax=${TINY_MAX:-$((tt * 1024))}
}
out=$top/build/size-check
rm -rf "$out"
mkdir -p "$out" || exit 2
cd "$top" || exit 2
if ! command -v musl-gcc >/dev/null 2>&1; then
	echo "size-check: no musl-gcc (Debian: apt-get install musl-tools)"
	exit 1
fi
rc=0

# The sizes.
make -s CC=musl-gcc size >"$out/size.txt" 2>&1 || {
	cat "$out/size.txt"
	echo "size-check: make size FAILED"
	exit 1
}
cat "$out/size.txt"
n=0
while read -r r st sf tt tf; do
	case $r in git|socks4|socks5|custom) ;; *) continue ;; esac
	n=$((n + 1))
	limits "$r"
	if [ "$st" -gt "$smax" ]; then
		echo "size-check: $r, make static: $st bytes, above $smax"
		rc=1
	fi
	if [ "$tt" -gt "$tmax" ]; then
		echo "size-check: $r, make tiny: $tt bytes, above $tmax"
		rc=1
	fi
	[ $rc -ne 0 ] || echo "size-check: $r within $smax bytes (make" \
	    "static) and $tmax (make tiny)"
done <"$out/size.txt"
if [ $n -ne 4 ]; then
	echo "size-check: make size did not give the four routers"
	rc=1
fi

# The tiny binary runs: one request relayed, a name refused.
make -s CC=musl-gcc ROUTER=custom PROG=proxymachine-sizecheck tiny \
    >"$out/tiny.txt" 2>&1 && make -s tests/pmtest >>"$out/tiny.txt" 2>&1 || {
	cat "$out/tiny.txt"
	echo "size-check: make tiny FAILED"
	exit 1
}
mv proxymachine-sizecheck-tiny "$out/tiny" || exit 1
T=$out/run
mkdir -p "$T"
PMTEST=$top/tests/pmtest
. "$top/tests/lib.sh"
trap cleanup EXIT
trap 'exit 1' INT TERM
H=127.0.0.1
bp=$(freeport)
pp=$(freeport)
spawn "$PMTEST" echo $H "$bp" tinybe
waitport $H "$bp" || fail "tiny: the echo server starts"
printf '* %s:%s\n' $H "$bp" >"$T/tiny.conf"
spawn "$out/tiny" -c "$T/tiny.conf" -h $H -p "$pp" 2>"$T/tiny.log"
tpid=$LASTPID
if waitport $H "$pp"; then
	got=$("$PMTEST" send $H "$pp" hello -t 10 2>&1)
	[ "$got" = "tinybe:hello" ] && ok "tiny: a request relayed" ||
	    fail "tiny: a request relayed" "'$got'; $(cat "$T/tiny.log")"
else
	fail "tiny: starts and listens" "$(cat "$T/tiny.log")"
fi
reap "$tpid"
printf '* localhost:%s\n' "$bp" >"$T/name.conf"
"$out/tiny" -c "$T/name.conf" -h $H -p "$(freeport)" 2>"$T/name.log" &
npid=$!
PIDS="$PIDS $npid"
if waitfor 10 eval '! kill -0 $npid 2>/dev/null'; then
	wait "$npid"
	nrc=$?
else
	nrc=0
fi
[ $nrc -ne 0 ] && grep -q "localhost: not a numeric address" "$T/name.log" &&
    ok "tiny: a host name in the table is refused" ||
    fail "tiny: a host name in the table is refused" \
    "exit $nrc; $(cat "$T/name.log")"
[ "$FAIL" -eq 0 ] || rc=1

# The suite against what make static ships.
if [ -n "$suite" ]; then
	echo "size-check: the suite against static musl builds, PM_SMALL"
	if CC=musl-gcc CFLAGS="-Os" LDFLAGS=-static \
	    sh "$top/scripts/build.sh" "$out/small" CPPFLAGS=-DPM_SMALL \
	    >"$out/small.log" 2>&1; then
		(cd "$out/small/src" && BINDIR=$out/small/src/tests \
		    PMTEST=$out/small/src/tests/pmtest sh test.sh) \
		    >"$out/small.test.log" 2>&1 || rc=1
		grep '^not ok' "$out/small.test.log"
		echo "size-check: $(tail -n 1 "$out/small.test.log")" \
		    "(log: build/size-check/small.test.log)"
	else
		echo "size-check: the PM_SMALL build FAILED" \
		    "(log: build/size-check/small.log)"
		rc=1
	fi
fi
exit $rc

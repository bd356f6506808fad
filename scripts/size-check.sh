#!/bin/sh
# scripts/size-check.sh: hold the static binaries to their sizes, and run
# the minimal one.
#
#	scripts/size-check.sh [-t]
#
# Runs make size with musl-gcc (the static binary of each router as make
# static builds it, PM_SMALL, and as make tiny does, PM_TINY) and fails
# when one's text+data is above its limit: STATIC_MAX bytes (default 80
# KiB) for make static, TINY_MAX (56 KiB) for make tiny.  Then it builds
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
STATIC_MAX=${STATIC_MAX:-81920}
TINY_MAX=${TINY_MAX:-57344}
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
	if [ "$st" -gt "$STATIC_MAX" ]; then
		echo "size-check: $r, make static: $st bytes, above $STATIC_MAX"
		rc=1
	fi
	if [ "$tt" -gt "$TINY_MAX" ]; then
		echo "size-check: $r, make tiny: $tt bytes, above $TINY_MAX"
		rc=1
	fi
done <"$out/size.txt"
if [ $n -ne 4 ]; then
	echo "size-check: make size did not give the four routers"
	rc=1
elif [ $rc -eq 0 ]; then
	echo "size-check: every router within $STATIC_MAX bytes (make" \
	    "static) and $TINY_MAX (make tiny)"
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

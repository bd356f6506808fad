#!/bin/sh
# test.sh: the proxymachine test suite.  POSIX sh (dash, bash) and
# tests/pmtest, loopback only; every wait is bounded and only the
# processes started here are killed.  `make testbins` builds what it runs.
#
#	sh test.sh		everything
#	sh test.sh core		only the relay engine
#	sh test.sh git		only one router's tests (git, socks4, socks5,
#				custom, skeleton)
#	sh test.sh proxy	several listeners and the PROXY protocol
#				(tests/proxy.sh, with HAProxy)
#
# The core needs nothing else (OpenBSD or busybox nc is used when there,
# else pmtest stands in).  The router parts that need git and git
# daemon, curl, python3 or openssl are skipped without them, each once
# with the line that installs it; with STRICT=1 each such skip fails
# (CI, where .ci/run installs them).  Skips for what this machine is
# (no IPv6, no /proc, an emulator, no strace) stay skips either way.
#
# BINDIR names where the binaries are (default tests), RUN a program put
# in front of every proxy (valgrind, qemu-user), STRICT 0 or 1.

cd "$(dirname "$0")" || exit 1
. tests/lib.sh
trap cleanup EXIT
trap 'exit 1' INT TERM

H=127.0.0.1
PM=$BINDIR/proxymachine-test
SMALL=$BINDIR/proxymachine-small
ONLY=${1:-all}

for b in "$PMTEST" "$PM" "$SMALL"; do
	if [ ! -x "$b" ]; then
		echo "test.sh: $b is missing: run make testbins" >&2
		exit 1
	fi
done

# Starts a proxy: pm_start BINARY CONF [ARGS...]; sets PP, PMPID, LOG.  It
# logs every step (-v): the checks wait for them.
pm_start()
{
	_bin=$1
	_conf=$2
	shift 2
	PP=$(freeport)
	LOG=$T/pm.$PP.log
	spawn $RUN "$_bin" -v -c "$_conf" -h $H -p "$PP" "$@" 2>"$LOG"
	PMPID=$LASTPID
	if ! waitport $H "$PP"; then
		echo "proxy did not start:" >&2
		cat "$LOG" >&2
		return 1
	fi
}

# pm_fails ARGS...: runs the proxy (under RUN) with ARGS for at most
# 20 s; true when it exits non-zero by itself.  One that starts to serve
# instead is stopped, and fails the check rather than hang the suite.
pm_fails()
{
	bounded 20 $RUN "$@"
	_frc=$?
	[ $_frc -ne 0 ] && [ $_frc -ne 124 ]
}

# Sends through the proxy: say DATA [pmtest send options].
say()
{
	_d=$1
	shift
	"$PMTEST" send $H "$PP" "$_d" "$@" 2>/dev/null
}

# expect NAME WANT DATA [options]: the reply to DATA is WANT, and the
# proxy ended the connection: pmtest exits 0 only at its end of file, so
# an empty reply from a proxy that never answered, or never took the
# connection, does not pass.
expect()
{
	_n=$1
	_w=$2
	shift 2
	_got=$("$PMTEST" send $H "$PP" "$@" 2>"$T/expect.err")
	_rc=$?
	if [ $_rc -ne 0 ]; then
		fail "$_n" "pmtest send exit $_rc ($(head -n 1 \
		    "$T/expect.err")), got '$_got'"
	elif [ "$_got" = "$_w" ]; then
		ok "$_n"
	else
		fail "$_n" "wanted '$_w', got '$_got'"
	fi
}

# Waits for a pattern in a log: logwait SECS FILE PATTERN.
logwait()
{
	waitfor "$1" grep -q -- "$3" "$2"
}

# The duration, in ms, of the first close line matching PATTERN in LOG.
close_ms()
{
	grep -- "$2" "$1" | grep ' close: ' | head -n 1 |
	    sed 's/.* \([0-9][0-9]*\)\.\([0-9][0-9][0-9]\) s$/\1\2/'
}

# Resident memory of a process, in KiB.
rss_kib()
{
	awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null
}

# --- backends -----------------------------------------------------------

start_backends()
{
	PA=$(freeport)
	spawn "$PMTEST" echo $H "$PA"
	PB=$(freeport)
	spawn "$PMTEST" echo $H "$PB"
	closedport PR			# nobody can listen: refused
	PS=$(freeport)
	spawn "$PMTEST" blackhole $H "$PS"
	PF=$(freeport)
	spawn "$PMTEST" flood $H "$PF" "$T/flood.count"
	closedport PL			# listens only when a test says
	PLHOLD=$LASTPID
	HAVE6=
	if PA6=$("$PMTEST" freeport ::1 2>/dev/null); then
		spawn "$PMTEST" echo ::1 "$PA6"
		HAVE6=1
	else
		PA6=1
	fi
	waitport $H "$PA" && waitport $H "$PB" && waitport $H "$PF" ||
	    { echo "backends did not start" >&2; exit 1; }
	if [ -n "$HAVE6" ]; then
		waitport ::1 "$PA6" || HAVE6=
	fi
	CONF=$T/test.conf
	HOOK=$T/hook
	cat >"$CONF" <<-EOF
	# the test router's table
	a	$H:$PA
	b	$H:$PB
	a6	[::1]:$PA6
	reject	$H:$PR
	slow	$H:$PS
	flood	$H:$PF
	late	$H:$PL
	hookfile $HOOK
	EOF
}

# late_up [ARG...]: the backend at $PL comes up 0.3 s from now (pmtest
# echo, with ARGs), its PID in $LASTPID: the port's holder goes first.
# late_down [PID]: that backend goes, and $PL is a new port, held (the
# old one may stay in TIME_WAIT): a table written before names the old
# one.
late_up()
{
	reap "$PLHOLD"
	spawn sh -c "sleep 0.3; exec \"$PMTEST\" echo $H $PL $*"
}

late_down()
{
	[ $# -eq 0 ] || reap "$1"
	closedport PL
	PLHOLD=$LASTPID
}

# --- the original's suite ---------------------------------------------

t_original()
{
	pm_start "$PM" "$CONF" || { fail "proxy starts"; return; }
	expect "route a to backend A" "$PA:a" a
	expect "route b to backend B" "$PB:b" b
	expect "unknown bytes closed with no reply" "" xxx
	check "unknown bytes: close logged" \
	    logwait 10 "$LOG" " close: router closed (3 bytes)"
	expect "c routed with the data replaced" "$PA:ccc" c
	expect "d closed with a string" "ddd" d
	expect "g: data, and a reply to the client first" "g3-$PA:g2" g
	_e=$(printf '%2048s' '' | tr ' ' e)
	_got=$( { printf '%s' "$_e"; sleep 0.5; printf f; } | nc_half $H "$PP")
	check "noop on 2048 bytes, routed by one more ($NC nc)" \
	    [ "$_got" = "$PA:${_e}f" ]
	expect "request sent one byte at a time" "$PA:xfer
one byte at a time" 'xfer\none byte at a time' -b

	# A server that could bind there runs until bounded stops it (124).
	bounded 10 "$PMTEST" echo $H "$PR" 2>/dev/null
	is "refused backend: its port is held: no server can take it" $? 2
	rm -f "$HOOK"
	expect "refused backend: client closed" "" "connect reject" -k -t 30
	check "refused backend: connect error hook with the remote" \
	    [ "$(cat "$HOOK" 2>/dev/null)" = "$H:$PR" ]
	check "refused backend: 10 retries before the hook" \
	    logwait 10 "$LOG" "$H:$PR failed after 11 attempts"

	rm -f "$HOOK"
	expect "inactivity: client closed" "" inactivity -k -t 30
	check "inactivity: inactivity hook with the remote" \
	    [ "$(cat "$HOOK" 2>/dev/null)" = "$H:$PA" ]
	# The client sees the close a moment before the line is written.
	logwait 5 "$LOG" " close: inactivity timeout"
	_ms=$(close_ms "$LOG" "inactivity timeout")
	check "inactivity: took at least 1 s ($_ms ms)" eval \
	    '[ -n "$_ms" ] && [ "$_ms" -ge 1000 ]'

	# A client that leaves: its connection still meets the inactivity
	# timeout (the hook would be called there), and no hook is called.
	rm -f "$HOOK"
	_n=$(logcount "$LOG" " close: inactivity timeout")
	_k=$(logcount "$LOG" "inactivity error hook")
	say inactivity -q 100 >/dev/null
	if ! logmore 10 "$LOG" " close: inactivity timeout" "$_n"; then
		fail "a client that leaves is no server error" \
		    "its connection never met the inactivity timeout"
	elif [ -e "$HOOK" ] || logabove "$LOG" "inactivity error hook" "$_k"
	then
		fail "a client that leaves is no server error" "hook called"
	else
		ok "a client that leaves is no server error"
	fi

	# The connect fails after the client has gone: the close line says
	# so, and no hook was called.
	rm -f "$HOOK"
	_n=$(logcount "$LOG" "connect error hook")
	say slow -q 200 >/dev/null
	if ! logwait 30 "$LOG" "$H:$PS failed.*client had closed"; then
		fail "client leaving during a slow connect: no hook" \
		    "no close line for the failed connect"
	elif [ -e "$HOOK" ] || logabove "$LOG" "connect error hook" "$_n"
	then
		fail "client leaving during a slow connect: no hook" \
		    "hook called"
	else
		ok "client leaving during a slow connect: no hook"
	fi
	rm -f "$HOOK"
	expect "slow connect: connect timeout, client closed" "" slow -k \
	    -t 30
	check "slow connect: connect error hook after the timeouts" \
	    [ "$(cat "$HOOK" 2>/dev/null)" = "$H:$PS" ]
	check "slow connect: timeout logged" \
	    logwait 10 "$LOG" "$H:$PS failed after 11 attempts: connect timed"

	expect "wait_ms: the router is asked again" "waited" wait -k
	expect "garbage closed with no reply" "" '\x00\xff\x16\x03garbage'
	reap "$PMPID"
}

# --- replies before the route (PM_REPLY, state, consume) ----------------

t_phases()
{
	pm_start "$PM" "$CONF" || { fail "phases: proxy starts"; return; }
	expect "phases: reply, reply, then route, in one write" \
	    "hi
ok
$PA:a" 'hello\npw\na'
	expect "phases: the same a byte at a time" "hi
ok
$PA:a" 'hello\npw\na' -b
	expect "phases: a phase cannot be skipped by sending early" "hi
bad" 'hello\na'
	# Asked again with expired set (a 200 ms wait, twice or more)
	# and with more bytes: the first reply is not sent again.
	_n=$(logcount "$LOG" "route: wait (0 bytes)")
	_got=$( { printf 'hello\n'; sleep 0.8; printf 'pw\na'; } |
	    nc_half $H "$PP")
	if ! logabove "$LOG" "route: wait (0 bytes)" $((_n + 1)); then
		fail "phases: no second reply on expired or new bytes" \
		    "the router was not asked again while waiting"
	elif [ "$_got" = "hi
ok
$PA:a" ]; then
		ok "phases: no second reply on expired or new bytes"
	else
		fail "phases: no second reply on expired or new bytes" \
		    "got '$_got'"
	fi
	expect "phases: end of file in a phase closes" "hi" 'hello\npw'
	reap "$PMPID"

	# A server-first greeting: the reply of the call at accept.
	_bc=$T/banner.conf
	{ cat "$CONF"; echo "banner HELO"; } >"$_bc"
	pm_start "$PM" "$_bc" || { fail "banner: proxy starts"; return; }
	expect "banner: sent to a client that says nothing" "HELO" '' \
	    -w 300
	expect "banner: then the phases" "HELOhi
ok
$PA:a" 'hello\npw\na' -w 300
	reap "$PMPID"
}

# --- lookups for routers (PM_LOOKUP, router_resolved) -------------------

t_lookup()
{
	pm_start "$PM" "$CONF" || { fail "lookup: proxy starts"; return; }
	check "lookup: resolver processes for the router's lookups" \
	    logwait 10 "$LOG" "4 resolvers for lookups"
	expect "lookup: a name found routes to its address" "$PA:xyz" \
	    'lookup:localhost\nxyz'
	expect "lookup: the same a byte at a time" "$PA:xyz" \
	    'lookup:localhost\nxyz' -b
	# .invalid never exists (RFC 6761); without a name server the
	# failure is a temporary one.
	_got=$(say 'lookup:no-such-name.invalid\n')
	case $_got in
	"lookup: not found"|"lookup: temporary failure")
		ok "lookup: a failure reaches the router ($_got)" ;;
	*)	fail "lookup: a failure reaches the router" "got '$_got'" ;;
	esac
	_re="close: reply sent; .*; lookup: \(not found\|temp\)"
	check "lookup: the failure is in the close line" \
	    logwait 5 "$LOG" "$_re"
	reap "$PMPID"

	# Workers: each has resolvers of its own.
	pm_start "$PM" "$CONF" -w 2 || { fail "lookup: -w 2 starts"; return; }
	check "lookup: -w 2: resolvers for each worker" \
	    logwait 10 "$LOG" "4 resolvers for lookups in each worker"
	_i=0
	_bad=
	while [ $_i -lt 6 ]; do
		_i=$((_i + 1))
		_got=$(say 'lookup:localhost\nw')
		[ "$_got" = "$PA:w" ] || _bad="$_bad [$_i: '$_got']"
	done
	WHY=$_bad
	check "lookup: -w 2: six lookups found" [ -z "$_bad" ]
	reap "$PMPID"

	# A name server that takes 3 s (the test binary's hook): the
	# relay goes on meanwhile, four lookups run and the rest wait for
	# a resolver; the router's 1 s timeout (connect_ms) answers
	# "timed out".
	PM_TEST_LOOKUP_DELAY_MS=3000
	export PM_TEST_LOOKUP_DELAY_MS
	pm_start "$PM" "$CONF"
	_rc=$?
	unset PM_TEST_LOOKUP_DELAY_MS
	[ $_rc -eq 0 ] || { fail "lookup: slow proxy starts"; return; }
	_i=0
	_lk=
	while [ $_i -lt 6 ]; do
		_i=$((_i + 1))
		say 'lookupslow:localhost\nq' -t 20 >"$T/lk.$_i" &
		_lk="$_lk $!"
	done
	PIDS="$PIDS $_lk"
	waitfor 10 eval '[ "$(logcount "$LOG" "lookup \"localhost")" -ge 6 ]'
	_n=0
	_bad=
	while [ $_n -lt 5 ]; do
		_n=$((_n + 1))
		_got=$(say a -t 1.5)
		[ "$_got" = "$PA:a" ] || _bad="$_bad [$_n: '$_got']"
	done
	_early=$(logcount "$LOG" "lookup: 1 address")
	_ms=$(grep " close: done; .* -> $H:$PA; 1 bytes up" "$LOG" |
	    sed 's/.* \([0-9]*\)\.\([0-9]*\) s$/\1\2/; s/^0*\(.\)/\1/' |
	    sort -n | tail -n 1)
	_m="lookup: a name server that hangs slows no relay"
	WHY="early answers $_early, slowest '$_ms' ms;$_bad"
	check "$_m (5 round trips, 6 lookups, the slowest ${_ms:-?} ms)" \
	    eval '[ -z "$_bad" ] && [ "$_early" -eq 0 ] && [ -n "$_ms" ] &&
	    [ "$_ms" -lt 1000 ]'
	expect "lookup: timed out (the router's 1 s)" "lookup: timed out" \
	    'lookup:localhost\n' -t 10
	for _i in $_lk; do
		waitexit "$_i" 20
	done
	_okn=0
	_tmo=0
	for _f in "$T"/lk.*; do
		case $(cat "$_f") in
		"$PA:q")		_okn=$((_okn + 1)) ;;
		"lookup: timed out")	_tmo=$((_tmo + 1)) ;;
		esac
	done
	WHY="$_okn found, $_tmo timed out"
	check "lookup: four at once, two wait and time out (5 s)" \
	    eval '[ "$_okn" -eq 4 ] && [ "$_tmo" -eq 2 ]'

	# A flood of 80: 64 lookups at most wait or run, the rest fail at
	# once, said once.  Then the 80 clients reset their connections:
	# the lookups they leave are free again, and a new one is taken.
	if ! need "lookup: a flood of lookups" python3; then
		reap "$PMPID"
		return
	fi
	_n=$(logcount "$LOG" "lookup \"localhost")
	_out=$(python3 - "$PP" <<-'EOF'
	import socket, struct, sys, time
	port = int(sys.argv[1])
	socks = []
	for i in range(80):
	    s = socket.create_connection(("127.0.0.1", port), timeout=5)
	    s.sendall(b"lookupslow:localhost\n")
	    socks.append(s)
	time.sleep(1)
	busy = 0
	for s in socks:
	    s.setblocking(False)
	    try:
	        if s.recv(100).startswith(b"lookup: too many"):
	            busy += 1
	    except BlockingIOError:
	        pass
	for s in socks:
	    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
	        struct.pack("ii", 1, 0))
	    s.close()
	print(busy)
	EOF
	)
	logwait 10 "$LOG" "lookups in flight: refused"
	WHY="'$_out' refused"
	check "lookup: 64 in flight, 16 more refused at once, said once" \
	    eval '[ "$_out" = 16 ] &&
	    [ "$(logcount "$LOG" "in flight: refused")" -le 2 ] &&
	    logabove "$LOG" "lookup \"localhost" $((_n + 63))'
	waitfor 10 eval '[ "$(logcount "$LOG" "client gone.*(state 2)")" \
	    -ge 64 ]'
	expect "lookup: clients gone free their lookups at once" \
	    "lookup: timed out" 'lookup:localhost\n' -t 10
	reap "$PMPID"
}

# --- the relay ---------------------------------------------------------

t_relay()
{
	pm_start "$PM" "$CONF" || { fail "proxy starts"; return; }
	_out=$("$PMTEST" bulk $H "$PP" 100000000 -p 'xfer\n' -t 300 2>&1)
	case $_out in
	*ok*)	ok "100 MB both ways, byte-exact ($_out)" ;;
	*)	fail "100 MB both ways, byte-exact" "$_out" ;;
	esac
	check "byte counts logged at close" logwait 10 "$LOG" \
	    "100000005 bytes up, $((100000006 + ${#PA})) down"
	# A build with splice(2) moves bulk socket to socket, one without
	# copies it all.
	kill -USR1 "$PMPID"
	logwait 10 "$LOG" "stats: "
	_sp=$(sed -n 's/.* down (\([0-9]*\) spliced).*/\1/p' "$LOG" | tail -n 1)
	if $RUN "$PM" -V | grep -q splice; then
		check "splice: most of the 200 MB spliced ($_sp)" eval \
		    '[ -n "$_sp" ] && [ "$_sp" -gt 100000000 ]'
	else
		check "no splice in this build: 0 spliced" [ "$_sp" = 0 ]
	fi

	# A kernel that refuses splice(2) (strace makes every call fail with
	# EINVAL): the proxy says so once, then copies; no byte is lost.
	if [ -n "$RUN" ]; then
		skip "splice refused: copies" "not under $RUN"
	elif ! "$PM" -V | grep -q splice; then
		skip "splice refused: copies" "this build has no splice"
	elif ! strace -f -o /dev/null -e trace=splice \
	    -e inject=splice:error=EINVAL true 2>/dev/null; then
		skip "splice refused: copies" \
		    "no strace with fault injection: apt-get install strace"
	else
		_pp=$PP
		PP=$(freeport)
		# LeakSanitizer cannot work under ptrace: no leak check for
		# this one proxy.
		spawn env \
		    ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
		    strace -f -o /dev/null -e trace=splice \
		    -e inject=splice:error=EINVAL "$PM" -c "$CONF" -h $H \
		    -p "$PP" 2>"$T/nosplice.log"
		_st=$LASTPID
		waitport $H "$PP"
		_out=$("$PMTEST" bulk $H "$PP" 20000000 -p 'xfer\n' -t 60 2>&1)
		_n=$(grep -c "splice: copying from now on" "$T/nosplice.log")
		case $_out in
		*ok*)	check "splice refused: said once, copies, byte-exact" \
			    [ "$_n" = 1 ] ;;
		*)	fail "splice refused: copies, byte-exact" "$_out" ;;
		esac
		# The proxy is strace's child: QUIT it, then strace ends.
		_c=$(awk -v p="$_st" '$4 == p { print $1 }' /proc/[0-9]*/stat \
		    2>/dev/null | head -n 1)
		[ -n "$_c" ] && kill -QUIT "$_c"
		waitfor 10 eval "! alive $_st"
		reap "$_st"
		PP=$_pp
	fi

	# Half-close: the client shuts its side after the request; the
	# backend's answer still comes back whole, then its end of file.
	_out=$("$PMTEST" bulk $H "$PP" 3000000 -p 'xfer\n' 2>&1)
	case $_out in
	*ok*)	ok "half-close: answer after the client's end of file" ;;
	*)	fail "half-close" "$_out" ;;
	esac

	# A slow reader while the backend floods: the proxy stops reading
	# the backend; the backend blocks; memory stays flat.
	# The buffers on the way fill first (slower on a loaded machine or
	# under an emulator): measure once the count has settled, that is
	# grown by less than 256 KiB in half a second (at most 20 looks).
	_r0=$(rss_kib "$PMPID")
	spawn "$PMTEST" slowread $H "$PP" 'flood\n' 60 512 >/dev/null
	_sr=$LASTPID
	_c1=0
	_i=0
	while [ $_i -lt 20 ]; do
		_c0=$_c1
		sleep 0.5
		_c1=$(cat "$T/flood.count" 2>/dev/null || echo 0)
		[ "$_c1" -gt 0 ] && [ $((_c1 - _c0)) -lt 262144 ] && break
		_i=$((_i + 1))
	done
	_r1=$(rss_kib "$PMPID")
	sleep 1.5
	_c2=$(cat "$T/flood.count" 2>/dev/null || echo 0)
	reap "$_sr"
	if [ "$_c2" -gt 0 ] && [ "$_c2" -lt 33554432 ] &&
	    [ $((_c2 - _c1)) -lt 1048576 ]; then
		ok "slow reader: backend held back ($_c1, then $_c2 bytes)"
	else
		fail "slow reader: backend held back" "$_c1 then $_c2 bytes"
	fi
	# Under RUN the process is the emulator's: its RSS holds the guest's
	# memory and the emulator's, an upper bound on the guest's growth.
	_rw=${RUN:+ with ${RUN##*/}}
	if [ ! -r "/proc/$PMPID/status" ]; then
		skip "slow reader: RSS bounded" "no /proc/$PMPID/status here"
	elif [ -n "$_r0" ] && [ -n "$_r1" ] && [ $((_r1 - _r0)) -lt 1024 ]
	then
		ok "slow reader: RSS bounded ($_r0 KiB, then $_r1 KiB$_rw)"
	else
		fail "slow reader: RSS bounded" "$_r0 KiB, then $_r1 KiB$_rw"
	fi
	expect "still serving after the flood" "$PA:a" a

	# A client that resets while the backend is blocked writing its
	# echo to us: the backend's bytes are dropped, not left to block it,
	# and the connection closes (at most 5 s later), leaving no slot.
	# Zero open connections holds before the client too: first its
	# connection must have been routed to A, then closed.
	_x=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
	_na=$(logcount "$LOG" "connected $H:$PA")
	_nc=$(logcount "$LOG" " close: ")
	"$PMTEST" send $H "$PP" "xfer\\n$_x$_x" -n 500000 -k -q 0 -t 3 \
	    >/dev/null 2>&1
	if ! logmore 10 "$LOG" "connected $H:$PA" "$_na"; then
		fail "a reset client with a blocked backend: slot freed" \
		    "the client was not routed"
	elif logmore 20 "$LOG" " close: " "$_nc" &&
	    waitfor 20 eval 'kill -USR1 $PMPID; sleep 0.2;
	    grep "stats: " "$LOG" | tail -n 1 | grep -q "stats: 0 open"'; then
		ok "a reset client with a blocked backend: slot freed"
	else
		fail "a reset client with a blocked backend: slot freed" \
		    "$(grep "stats: " "$LOG" | tail -n 1)"
	fi

	# A client that resets in the middle: the others go on.
	"$PMTEST" send $H "$PP" 'flood\n' -q 300 >/dev/null 2>&1
	expect "a reset client does not disturb the others" "$PB:b" b

	# The process title.  Under an emulator (RUN=qemu-...) /proc shows
	# the emulator's command line, while the title is written in the
	# emulated process's own memory: it cannot be seen from outside.
	if [ -r "/proc/$PMPID/cmdline" ]; then
		_t=$(tr '\0' ' ' <"/proc/$PMPID/cmdline")
		case $_t in
		"proxymachine "*" - test $H:$PP - "*/*/*" conns"*)
			ok "process title: $_t" ;;
		"$RUN "*|"${RUN##*/} "*)
			[ -n "$RUN" ] && skip "process title" \
			    "/proc shows the emulator's command line: '$_t'" ||
			    fail "process title" "'$_t'" ;;
		*)	fail "process title" "'$_t'" ;;
		esac
	else
		skip "process title" "no /proc/$PMPID/cmdline here"
	fi
	reap "$PMPID"
}

# --- limits --------------------------------------------------------------

t_limits()
{
	pm_start "$SMALL" "$CONF" || { fail "small proxy starts"; return; }
	logwait 10 "$LOG" "#1 close"	# the probe of pm_start
	spawn "$PMTEST" hold $H "$PP" 4 a 30 >/dev/null
	_h=$LASTPID
	check "pool full: logged" logwait 10 "$LOG" "pool full"
	# Not served: the client got in (the kernel queues it) and waited
	# its 2 s for nothing.
	_got=$("$PMTEST" send $H "$PP" b -t 2 2>"$T/e")
	check "pool full: no new connection served" eval \
	    '[ -z "$_got" ] && grep -q TIMEOUT "$T/e"'
	# Said once, though clients keep coming: the one above is still
	# queued, one more waits, and a stats line shows that the loop
	# went round with them there.  (No more clients than that: four
	# queued fill the four slots again at once, and then no "accepting
	# again" line is written until yet another client comes.)
	spawn "$PMTEST" send $H "$PP" b -t 20 >/dev/null
	_w=$LASTPID
	_n=$(logcount "$LOG" "stats: ")
	if kill -USR1 "$PMPID" && logmore 10 "$LOG" "stats: " "$_n"; then
		check "pool full: said once" \
		    [ "$(logcount "$LOG" "pool full")" = 1 ]
	else
		fail "pool full: said once" "no stats line with clients queued"
	fi
	reap "$_h"
	_got=$(say b -t 10)
	check "pool has room again: served" [ "$_got" = "$PB:b" ]
	reap "$_w"
	# The line comes when an accept finds none waiting with room left:
	# where the queued clients took the slots back one by one as they
	# freed (a slow machine), the last one filled the pool, and the next
	# client is the one that finds the queue empty.
	say b -t 10 >/dev/null
	check "pool has room again: logged" logwait 10 "$LOG" "accepting again"

	# Routing timeout (1.5 s in this build) and a full routing buffer.
	_n=$(logcount "$LOG" "no route within 1500 ms")
	_got=$(say e -k -t 10)
	check "routing timeout closes a silent client" \
	    logmore 5 "$LOG" "no route within 1500 ms" "$_n"
	_bs=$(sed -n 's/.*connections of \([0-9]*\)-byte buffers.*/\1/p' \
	    "$LOG")
	_n=$(logcount "$LOG" "routing buffer full")
	_got=$(say e -n $((${_bs:-65536} + 1000)) -k -t 10)
	check "routing buffer full closes the client" \
	    logmore 5 "$LOG" "routing buffer full" "$_n"
	expect "still serving" "$PA:a" a

	# One pipe for splice in this build: the bulk directions of three
	# streams, two of them read slowly (so the proxy holds bytes for
	# them), take it in turn and copy meanwhile.  No byte is lost or
	# moved, whichever way each part went.
	"$PMTEST" bulk $H "$PP" 10000000 -p 'xfer\n' -s 1 -t 120 \
	    >"$T/b1" 2>&1 &
	_b1=$!
	"$PMTEST" bulk $H "$PP" 10000000 -p 'xfer\n' -s 1 -t 120 \
	    >"$T/b2" 2>&1 &
	_b2=$!
	"$PMTEST" bulk $H "$PP" 50000000 -p 'xfer\n' -t 120 >"$T/b3" 2>&1 &
	_b3=$!
	PIDS="$PIDS $_b1 $_b2 $_b3"
	wait "$_b1"
	wait "$_b2"
	wait "$_b3"
	check "three bulk streams, two slow, sharing one pipe: byte-exact" \
	    eval 'grep -q ok "$T/b1" && grep -q ok "$T/b2" &&
	    grep -q ok "$T/b3"'
	reap "$PMPID"

	# A low descriptor limit shrinks the pool, and says so.
	PP=$(freeport)
	( ulimit -n 40 && exec $RUN "$PM" -c "$CONF" -h $H -p "$PP" ) \
	    2>"$T/fd.log" &
	_p=$!
	PIDS="$PIDS $_p"
	waitport $H "$PP"
	check "low descriptor limit: pool shrunk, logged" \
	    grep -q "pool shrunk from [0-9]* to 12 connections" "$T/fd.log"
	_got=$(say a)
	check "runs under a low descriptor limit" [ "$_got" = "$PA:a" ]
	_out=$("$PMTEST" bulk $H "$PP" 5000000 -p 'xfer\n' -t 60 2>&1)
	case $_out in
	*ok*)	ok "low descriptor limit: bulk still byte-exact" ;;
	*)	fail "low descriptor limit: bulk still byte-exact" "$_out" ;;
	esac
	reap "$_p"
}

# --- every way into the relay, and what a client may cost -------------

t_ends()
{
	pm_start "$PM" "$CONF" || { fail "proxy starts"; return; }
	# A client that sends and half-closes while its backend refuses:
	# no retry (it has gone, as far as a retry can tell), and the
	# connection ends; if the backend is up by the first attempt, its
	# reply and end of file come back.  Before, a retry that worked
	# started the relay without passing the client's end of file on,
	# and the connection stayed open for good.
	late_up -e
	_late=$LASTPID
	_got=$(say late -t 8)
	_rc=$?
	if [ $_rc -eq 0 ] && { [ -z "$_got" ] || [ "$_got" = "$PL:late" ]; }
	then
		ok "half-closed client, backend refused at first: ends"
	else
		fail "half-closed client, backend refused at first: ends" \
		    "exit $_rc, '$_got'"
	fi
	if [ -z "$_got" ]; then
		check "... no retry for a client that has closed" \
		    grep -q "no retry and no connect error" "$LOG"
	else
		skip "... no retry for a client that has closed" \
		    "the backend was up by the first attempt (a slow machine)"
	fi
	waitport $H "$PL"
	# The retry that works, for a client that stays: relayed, and its
	# end of file passed on when it comes (the same port, the table's).
	reap "$_late"
	late_up
	_late=$LASTPID
	_got=$(say late -t 8 -k -q 2500)
	check "a retry that works is relayed" eval \
	    'logwait 10 "$LOG" "connect $H:$PL failed: .*retrying" &&
	    logwait 10 "$LOG" "connected $H:$PL"'
	late_down "$_late"
	reap "$PMPID"

	# Splice pipes are counted in the descriptor budget: with every slot
	# but one taken, ten of them by bulk streams that hold bytes in the
	# proxy, no accept fails for want of a descriptor.
	PP=$(freeport)
	( ulimit -n 200 && exec $RUN "$PM" -v -c "$CONF" -h $H -p "$PP" ) \
	    2>"$T/fd2.log" &
	_p=$!
	PIDS="$PIDS $_p"
	waitport $H "$PP"
	_max=$(sed -n 's/.*pool shrunk from [0-9]* to \([0-9]*\) conn.*/\1/p' \
	    "$T/fd2.log")
	if [ -z "$_max" ]; then
		fail "descriptor budget: pool size logged" "$(cat "$T/fd2.log")"
		reap "$_p"
		return
	fi
	_rs=
	_i=0
	while [ $_i -lt 10 ]; do
		spawn "$PMTEST" slowread $H "$PP" 'flood\n' 20 16384
		_rs="$_rs $LASTPID"
		_i=$((_i + 1))
	done
	sleep 2
	spawn "$PMTEST" hold $H "$PP" $((_max - 12)) a 20 >"$T/hold2.out"
	_h=$LASTPID
	waitfor 20 grep -q connected "$T/hold2.out"
	_n=$(grep -c ' accept ' "$T/fd2.log")
	waitfor 20 eval '[ "$(grep -c " accept " "$T/fd2.log")" -ge \
	    $((_max - 1)) ]'
	_got=$(say a -t 10)
	_n=$(grep -c ' accept ' "$T/fd2.log")
	if [ "$_got" = "$PA:a" ] && [ "$_n" -ge "$_max" ] &&
	    ! grep -q 'accept: pausing' "$T/fd2.log"; then
		ok "descriptor budget: $_max connections, pipes among them"
	else
		fail "descriptor budget: $_max connections, pipes among them" \
		    "'$_got', $_n accepted: $(grep 'accept' "$T/fd2.log" |
		    tail -n 2)"
	fi
	reap "$_h"
	for _i in $_rs; do
		reap "$_i"
	done
	reap "$_p"
}

# --- the memory budget ----------------------------------------------------

# The CPU time of process $1 so far, in clock ticks.
cpu_ticks()
{
	awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null
}

t_memory()
{
	if [ -n "$RUN" ] || [ -n "${ASAN_OPTIONS:-}" ]; then
		skip "memory budget" "an emulator or a sanitizer maps memory \
of its own"
		return
	fi
	if ! ( ulimit -n 4096 ) 2>/dev/null || [ ! -r /proc/self/stat ]; then
		skip "memory budget" "no 4096 descriptors or no /proc here"
		return
	fi

	# The default build under 32 MiB of address space: 1000 idle
	# clients and 50 bulk streams at once, byte-exact.
	PP=$(freeport)
	( ulimit -n 4096 && ulimit -v 32768 &&
	    exec "$PM" -c "$CONF" -h $H -p "$PP" ) 2>"$T/mem.log" &
	_p=$!
	PIDS="$PIDS $_p"
	if ! waitport $H "$PP"; then
		fail "starts under ulimit -v 32768" "$(cat "$T/mem.log")"
		return
	fi
	ok "starts under ulimit -v 32768"
	( ulimit -n 4096 && exec "$PMTEST" hold $H "$PP" 1000 '' 60 ) \
	    >"$T/idle.out" 2>&1 &
	_h=$!
	PIDS="$PIDS $_h"
	waitfor 30 grep -q connected "$T/idle.out"
	_bs=
	_i=0
	while [ $_i -lt 50 ]; do
		"$PMTEST" bulk $H "$PP" 1000000 -p 'xfer\n' -t 120 \
		    >"$T/mb.$_i" 2>&1 &
		_bs="$_bs $!"
		_i=$((_i + 1))
	done
	PIDS="$PIDS $_bs"
	for _i in $_bs; do
		wait "$_i"
	done
	_okn=$(cat "$T"/mb.* | grep -c 'bytes=1000000 ok')
	if grep -q 'connected 1000' "$T/idle.out" && [ "$_okn" -eq 50 ] &&
	    alive "$_p"; then
		ok "under 32 MiB: 1000 idle and 50 bulk streams, byte-exact"
	else
		fail "under 32 MiB: 1000 idle and 50 bulk streams" \
		    "$(cat "$T/idle.out") $_okn of 50 ok: $(tail -n 3 \
		    "$T/mem.log")"
	fi
	reap "$_h"
	rm -f "$T"/mb.*

	# Memory goes back: after a burst of 200 busy connections (slow
	# readers of a flood, each holding a buffer or a pipe), the resident
	# size returns to within 512 KiB of idle within 5 s.
	expect "memory: warm-up" "$PA:a" a
	sleep 1.5
	_idle=$(rss_kib "$_p")
	_rs=
	_i=0
	while [ $_i -lt 200 ]; do
		"$PMTEST" slowread $H "$PP" 'flood\n' 8 1 >/dev/null 2>&1 &
		_rs="$_rs $!"
		_i=$((_i + 1))
	done
	PIDS="$PIDS $_rs"
	# The burst is on once the buffers are in use (a slow machine takes
	# a while to start 200 readers).
	waitfor 15 eval '[ "$(rss_kib "$_p")" -gt $((_idle + 512)) ]'
	_peak=$(rss_kib "$_p")
	for _i in $_rs; do
		wait "$_i"
	done
	_n=0
	_rss=$_peak
	while [ $_n -lt 60 ] && [ "$_rss" -gt $((_idle + 512)) ]; do
		sleep 0.1
		_rss=$(rss_kib "$_p")
		_n=$((_n + 1))
	done
	if [ "$_peak" -gt $((_idle + 512)) ] &&
	    [ "$_rss" -le $((_idle + 512)) ]; then
		ok "memory: back to idle after a burst ($_idle KiB idle, \
$_peak at the end of the burst, $_rss $((_n / 10)).$((_n % 10)) s later)"
	else
		fail "memory: back to idle after a burst" \
		    "idle $_idle, peak $_peak, then $_rss KiB"
	fi
	reap "$_p"

	# A spent budget: -m 0.25 is four buffers, two of them kept for
	# replies; 25 descriptors leave no room for a splice pipe in the
	# small build (four slots, 1.5 s to route).  A client relays, then
	# two slow readers of a flood take the two buffers; the client's
	# next bytes wait, unread, without a spin.
	PP=$(freeport)
	LOG=$T/budget.log
	( ulimit -n 25 && exec "$SMALL" -m 0.25 -c "$CONF" -h $H -p "$PP" ) \
	    2>"$LOG" &
	PMPID=$!
	PIDS="$PIDS $PMPID"
	waitport $H "$PP"
	if $RUN "$SMALL" -V | grep -q splice; then
		grep -q ' 0 splice pipes' "$LOG" ||
		    fail "spent budget: no pipe under 25 descriptors" \
		    "$(cat "$LOG")"
	fi
	mkfifo "$T/fifo"
	"$PMTEST" nc $H "$PP" -t 60 <"$T/fifo" >"$T/nc.out" 2>&1 &
	_nc=$!
	PIDS="$PIDS $_nc"
	exec 3>"$T/fifo"
	printf 'xfer\n' >&3
	waitfor 10 grep -q "$PA:xfer" "$T/nc.out" ||
	    fail "spent budget: a client is relayed first" "$(cat "$T/nc.out")"
	_rs=
	_i=0
	while [ $_i -lt 2 ]; do
		spawn "$PMTEST" slowread $H "$PP" 'flood\n' 30 1
		_rs="$_rs $LASTPID"
		_i=$((_i + 1))
	done
	waitfor 10 eval 'kill -USR1 $PMPID; sleep 0.2;
	    tail -n 1 "$LOG" | grep -q " 2 of 4 buffers in use"' ||
	    fail "spent budget: two slow readers hold two buffers" \
	    "$(tail -n 1 "$LOG")"
	printf 'more\n' >&3
	check "spent budget: said in the log" \
	    logwait 10 "$LOG" "every buffer is in use"
	_c0=$(cpu_ticks "$PMPID")
	sleep 2
	_c1=$(cpu_ticks "$PMPID")
	if ! grep -q more "$T/nc.out" && [ $((_c1 - _c0)) -lt 50 ]; then
		ok "spent budget: a reader waits, unread, no spin \
($((_c1 - _c0)) ticks in 2 s)"
	else
		fail "spent budget: a reader waits, unread, no spin" \
		    "$(cat "$T/nc.out"), $((_c1 - _c0)) ticks"
	fi
	# A new client's request waits too, and the routing timeout still
	# closes it.
	_got=$(say a -k -t 10)
	check "spent budget: the routing timeout frees a waiting client" eval \
	    'logwait 5 "$LOG" "no route within 1500 ms" && [ -z "$_got" ]'
	# The slow readers go: buffers free, the waiting reader goes on.
	for _i in $_rs; do
		reap "$_i"
	done
	check "spent budget: a freed buffer goes to the waiting reader" \
	    waitfor 10 grep -q more "$T/nc.out"
	exec 3>&-
	waitfor 10 eval '! alive "$_nc"'
	kill -USR1 "$PMPID"
	check "spent budget: the stats count the waits" eval \
	    'logwait 5 "$LOG" "stats:" && grep "stats:" "$LOG" |
	    grep -q " [1-9][0-9]* waits for one"'
	reap "$_nc"
	reap "$PMPID"
	rm -f "$T/fifo"

	# Clients that send a byte and stall cannot hold the budget: once
	# a reader waits, the one not routed for 2 s gives its buffer up.
	PP=$(freeport)
	LOG=$T/reclaim.log
	spawn $RUN "$PM" -m 0.25 -c "$CONF" -h $H -p "$PP" 2>"$LOG"
	PMPID=$LASTPID
	waitport $H "$PP"
	spawn "$PMTEST" send $H "$PP" e -k -t 60
	_s1=$LASTPID
	spawn "$PMTEST" send $H "$PP" e -k -t 60
	_s2=$LASTPID
	sleep 2.5
	_got=$(say a -t 20)
	check \
	    "spent budget: a stalled client's buffer goes to one that sends" \
	    eval '[ "$_got" = "$PA:a" ] &&
	    grep -q "close: no route within [0-9]* ms while buffers are short" \
	    "$LOG"'
	reap "$_s1"
	reap "$_s2"
	reap "$PMPID"
}

# --- the log ------------------------------------------------------------

# The lines of log $1 about connection number $2.
conn_lines()
{
	grep -c " #$2 " "$1"
}

t_log()
{
	# The default level: one line per connection, at its end, with its
	# number, how it ended, client, backend, bytes and time; a failed
	# connect is that line (with the attempts) and one warning.
	PP=$(freeport)
	LOG=$T/log.default
	spawn $RUN "$PM" -c "$CONF" -h $H -p "$PP" 2>"$LOG"
	PMPID=$LASTPID
	waitport $H "$PP"
	expect "default log: served" "$PA:a" a
	say 'connect reject' -k -t 30 >/dev/null
	expect "default log: a router's reply" ddd d
	logwait 10 "$LOG" "close: reply sent"
	_a=$(sed -n "s/.* #\([0-9]*\) close: done; .* -> $H:$PA; .*/\1/p" \
	    "$LOG" | tail -n 1)
	if [ -n "$_a" ] && [ "$(conn_lines "$LOG" "$_a")" -eq 1 ] &&
	    grep -Eq " #$_a close: done; 127\.0\.0\.1:[0-9]+ -> $H:$PA; \
[0-9]+ bytes up, [0-9]+ down, [0-9]+\.[0-9]{3} s$" "$LOG"; then
		ok "default log: one line a connection, with all of it"
	else
		fail "default log: one line a connection" "$(cat "$LOG")"
	fi
	_r=$(sed -n "s/.* #\([0-9]*\) close: connect error; .*/\1/p" "$LOG")
	if [ -n "$_r" ] && [ "$(conn_lines "$LOG" "$_r")" -le 2 ] &&
	    grep -q " #$_r close: connect error; .* -> $H:$PR (11 attempts, \
last: " "$LOG"; then
		ok "default log: a failed connect is a line with the attempts"
	else
		fail "default log: a failed connect is a line" "$(cat "$LOG")"
	fi
	grep -q ' accept \| route: \| connected ' "$LOG" &&
	    fail "default log: no step-by-step lines" "$(cat "$LOG")" ||
	    ok "default log: no step-by-step lines"
	reap "$PMPID"

	# -q: nothing a connection (the router's words included), only
	# start, stop and warnings (a backend that cannot be reached).
	PP=$(freeport)
	LOG=$T/log.quiet
	spawn $RUN "$PM" -q -c "$CONF" -h $H -p "$PP" 2>"$LOG"
	PMPID=$LASTPID
	waitport $H "$PP"
	expect "-q: served" "$PA:a" a
	expect "-q: a router's reply" ddd d
	say 'connect reject' -k -t 30 >/dev/null
	kill -USR1 "$PMPID"
	check "-q: no line for a connection, the router's included" eval \
	    'logwait 10 "$LOG" "stats: .* 4 accepted" &&
	    grep -q "listening on" "$LOG" &&
	    grep -q "connect $H:$PR failed after 11 attempts" "$LOG" &&
	    ! grep -q " close: \| accept \|error hook" "$LOG"'
	reap "$PMPID"

	# A pipe is a service manager's logger, which stamps each line: no
	# time on ours; a file (as in every check above) gets it.
	PP=$(freeport)
	rm -f "$T/logfifo"
	mkfifo "$T/logfifo"
	spawn cat "$T/logfifo" >"$T/log.pipe"
	_cat=$LASTPID
	spawn $RUN "$PM" -c "$CONF" -h $H -p "$PP" 2>"$T/logfifo"
	PMPID=$LASTPID
	waitport $H "$PP"
	expect "log on a pipe: served" "$PA:a" a
	reap "$PMPID"
	waitfor 10 eval '! alive "$_cat"'
	check "log: no time on a pipe's lines, UTC time in a file's" eval \
	    'grep -q "listening on" "$T/log.pipe" &&
	    ! grep -q "^[0-9]\{4\}-[0-9][0-9]-[0-9][0-9]T" "$T/log.pipe" &&
	    grep -q "^[0-9]\{4\}-[0-9][0-9]-[0-9][0-9]T[0-9:.]*Z " \
	    "$T/log.default"'
	reap "$_cat"

	# Under syslog (-d), real priorities: a stand-in for /dev/log in a
	# mount namespace of this test's own.
	if ! command -v unshare >/dev/null 2>&1 || [ -n "$RUN" ] ||
	    ! unshare -m true 2>/dev/null; then
		skip "syslog priorities" "no mount namespace here"
		return
	fi
	spawn "$PMTEST" logsink "$T/log.sock" 60 >"$T/syslog.out"
	_sink=$LASTPID
	waitfor 10 test -S "$T/log.sock"
	PP=$(freeport)
	mkdir -p "$T/realdev"
	unshare -m sh -c "mount --make-rprivate / 2>/dev/null;
	    mount --bind /dev '$T/realdev' && mount -t tmpfs none /dev &&
	    touch /dev/null /dev/log &&
	    mount --bind '$T/realdev/null' /dev/null &&
	    mount --bind '$T/log.sock' /dev/log &&
	    exec '$PM' -d -P '$T/sys.pid' -c '$CONF' -h $H -p $PP" \
	    2>"$T/sys.err"
	if ! waitport $H "$PP"; then
		fail "syslog priorities: starts" "$(cat "$T/sys.err")"
		reap "$_sink"
		return
	fi
	expect "syslog: served" "$PA:a" a
	say 'connect reject' -k -t 30 >/dev/null
	_sp=$(cat "$T/sys.pid")
	PIDS="$PIDS $_sp"
	kill -QUIT "$_sp"
	waitfor 10 grep -q 'exiting' "$T/syslog.out"
	check "syslog: QUIT, and the detached proxy is gone" \
	    waitfor 10 eval '! alive "$_sp"'
	# daemon (3) * 8 + err 3, warning 4, notice 5, info 6.
	check "syslog: notice, info and warning priorities" eval \
	    'grep -q "^<29>.*listening on" "$T/syslog.out" &&
	    grep -q "^<30>.*close: done" "$T/syslog.out" &&
	    grep -q "^<28>.*failed after 11 attempts" "$T/syslog.out" &&
	    grep -q "^<29>.*graceful shutdown" "$T/syslog.out" &&
	    ! grep -q "^<31>" "$T/syslog.out"'
	reap "$_sink"
}

# --- IPv6 ----------------------------------------------------------------

t_ipv6()
{
	if [ -z "$HAVE6" ]; then
		skip "IPv6" "no ::1 on this machine"
		return
	fi
	PP=$(freeport ::1)
	LOG=$T/pm6.log
	spawn $RUN "$PM" -c "$CONF" -h ::1 -p "$PP" 2>"$LOG"
	PMPID=$LASTPID
	waitport ::1 "$PP"
	_got=$("$PMTEST" send ::1 "$PP" six 2>/dev/null)
	check "IPv6 listener and [::1] remote" [ "$_got" = "$PA6:six" ]
	check "IPv6 listener logged" grep -q "listening on \[::1\]:$PP" "$LOG"
	reap "$PMPID"
}

# --- command line ----------------------------------------------------------

t_cli()
{
	check "--help prints the options and exits 0" eval \
	    '$RUN "$PM" --help >"$T/help" 2>&1 &&
	    grep -q -- "-p, --port" "$T/help" &&
	    grep -q -- "-h, --host" "$T/help" &&
	    grep -q -- "-c, --config" "$T/help"'
	# Every option of --help is in the man page and the README.
	_miss=
	for _o in $(sed -n 's/^ *\(-[A-Za-z]\), --\([a-z]*\).*/\1 \2/p;
	    s/^ *--\([a-z]*\) .*/\1/p' "$T/help" | tr ' ' '\n'); do
		case $_o in
		-?)	grep -Eq "^\.It Fl ${_o#-}( |$)" proxymachine.8 ||
			    _miss="$_miss $_o" ;;
		*)	grep -q "Fl Fl $_o" proxymachine.8 ||
			    _miss="$_miss --$_o" ;;
		esac
		grep -q -- "$_o" README || _miss="$_miss $_o(README)"
	done
	check "every --help option is in proxymachine.8 and README" \
	    [ -z "$_miss" ]
	check "-V prints the version" eval \
	    '$RUN "$PM" -V | grep -q "^proxymachine [0-9]"'
	check "--version names the router" eval \
	    '$RUN "$PM" --version | grep -q "router test"'
	check "bad option: usage on stderr, non-zero" eval \
	    'pm_fails "$PM" -x >"$T/o" 2>"$T/e" && [ ! -s "$T/o" ] &&
	    grep -q usage "$T/e"'
	check "stray argument: named, usage, non-zero" eval \
	    'pm_fails "$PM" -c "$CONF" extra >/dev/null 2>"$T/e" &&
	    grep -q usage "$T/e" &&
	    grep -q "^proxymachine[-a-z]*: unexpected argument: extra$" "$T/e"'
	check "-p '': said, usage, non-zero" eval \
	    'pm_fails "$PM" -c "$CONF" -h $H -p "" >/dev/null 2>"$T/e" &&
	    grep -q usage "$T/e" &&
	    grep -q "^proxymachine[-a-z]*: -p: empty port$" "$T/e"'
	check "missing option argument: non-zero" eval \
	    'pm_fails "$PM" -c "$CONF" -p >/dev/null 2>&1'
	check "bad port: non-zero, said" eval \
	    'pm_fails "$PM" -c "$CONF" -h $H -p 70000 >/dev/null 2>"$T/e" &&
	    grep -q "bad port" "$T/e"'
	check "missing table: non-zero, named" eval \
	    'pm_fails "$PM" -c "$T/nonexistent" -h $H -p "$(freeport)" \
	    2>"$T/e" && grep -q "nonexistent" "$T/e"'
	printf 'a %s:%s\nbogus line here\n' $H "$PA" >"$T/bad.conf"
	_p=$(freeport)
	check "bad table line: file:line, non-zero" eval \
	    'pm_fails "$PM" -c "$T/bad.conf" -h $H -p "$_p" 2>"$T/e" &&
	    grep -q "bad.conf:2: " "$T/e" &&
	    ! grep -q "listening" "$T/e"'
	# On a port that backend B holds, a proxy that tried to listen
	# before it read the table would fail to bind: it still names the
	# table line, and says nothing of the port.
	check "bad table: never listens (rejected before the port)" eval \
	    'pm_fails "$PM" -c "$T/bad.conf" -h $H -p "$PB" 2>"$T/e" &&
	    grep -q "bad.conf:2: " "$T/e" &&
	    ! grep -q -e "bind" -e "listen" "$T/e"'
	printf 'a %s:%s\nb 127.0.0.1:1\0junk\n' $H "$PA" >"$T/nul.conf"
	check "a NUL byte in a table line: file:line, non-zero" eval \
	    'pm_fails "$PM" -c "$T/nul.conf" -h $H -p "$_p" 2>"$T/e" &&
	    grep -q "nul.conf:2: NUL byte" "$T/e"'
	printf 'a nosuchhost.invalid:1\n' >"$T/bad2.conf"
	check "unresolvable remote: file:line, non-zero" eval \
	    'pm_fails "$PM" -c "$T/bad2.conf" -h $H -p "$_p" 2>"$T/e" &&
	    grep -q "bad2.conf:1: " "$T/e"'

	# Defaults: 0.0.0.0 and port 5432, when that port is free here.
	if "$PMTEST" waitport $H 5432 1 2>/dev/null; then
		skip "defaults" "port 5432 is taken here"
	else
		LOG=$T/default.log
		spawn $RUN "$PM" -c "$CONF" 2>"$LOG"
		PMPID=$LASTPID
		# The port accepts from listen(2) on, a little before the
		# line is written: wait for it (slow under an emulator).
		if waitport $H 5432 &&
		    logwait 5 "$LOG" "listening on 0.0.0.0:5432"; then
			ok "defaults: 0.0.0.0:5432"
		elif grep -qi "address already in use" "$LOG"; then
			# A suite running beside this one took it meanwhile.
			skip "defaults" "port 5432 was taken meanwhile"
		else
			fail "defaults: 0.0.0.0:5432" "$(cat "$LOG")"
		fi
		reap "$PMPID"
	fi
	_p=$(freeport)
	"$PMTEST" echo $H "$_p" &
	_e=$!
	PIDS="$PIDS $_e"
	waitport $H "$_p"
	check "port in use: non-zero, said" eval \
	    'pm_fails "$PM" -c "$CONF" -h $H -p "$_p" 2>"$T/e" &&
	    grep -q "bind" "$T/e"'
	reap "$_e"
}

# --- signals -----------------------------------------------------------

t_signals()
{
	# QUIT: stop accepting at once, let the transfer in flight finish.
	# The transfer reads slowly (about 2 s), so that it is still in
	# flight when QUIT comes, and the shutdown line counts it.
	pm_start "$PM" "$CONF" || { fail "proxy starts"; return; }
	"$PMTEST" bulk $H "$PP" 4000000 -p 'xfer\n' -s 2 >"$T/q.out" 2>&1 &
	_b=$!
	PIDS="$PIDS $_b"
	logwait 10 "$LOG" "connected $H:$PA"
	kill -QUIT "$PMPID"
	if ! logwait 10 "$LOG" "graceful shutdown" || ! alive "$PMPID"; then
		fail "QUIT: stops accepting" "no graceful shutdown, or gone"
	elif "$PMTEST" waitport $H "$PP" 1 2>/dev/null; then
		fail "QUIT: stops accepting" "the port still takes connections"
	else
		ok "QUIT: stops accepting"
	fi
	wait "$_b"
	check "QUIT: transfer in flight completes" eval \
	    'grep -q ok "$T/q.out" &&
	    grep -q "graceful shutdown: .*waiting for 1 connections" "$LOG"'
	waitexit "$PMPID" 20
	_rc=$WAITRC
	check "QUIT: exits 0 once all are closed" eval \
	    '[ "$_rc" = 0 ] && grep -q "all connections closed" "$LOG"'

	# QUIT waits for as long as it takes: a held connection keeps it up.
	# The holder stays until it is killed, however slow the machine.
	pm_start "$PM" "$CONF" || { fail "proxy starts"; return; }
	spawn "$PMTEST" hold $H "$PP" 1 a 60 >/dev/null
	_h=$LASTPID
	logwait 10 "$LOG" "connected $H:$PA"
	kill -QUIT "$PMPID"
	if ! logwait 10 "$LOG" "graceful shutdown: .*waiting for 1 conn"; then
		fail "QUIT: waits for open connections" "QUIT not seen"
	else
		sleep 3
		check "QUIT: waits for open connections" alive "$PMPID"
	fi
	reap "$_h"
	check "QUIT: exits after the last" waitfor 10 eval "! alive $PMPID"

	# TERM: a short transfer still finishes; a held one is cut at 10 s.
	pm_start "$PM" "$CONF" || { fail "proxy starts"; return; }
	spawn "$PMTEST" hold $H "$PP" 1 a 60 >/dev/null
	_h=$LASTPID
	logwait 10 "$LOG" "connected $H:$PA"
	"$PMTEST" bulk $H "$PP" 4000000 -p 'xfer\n' -s 2 >"$T/t.out" 2>&1 &
	_b=$!
	PIDS="$PIDS $_b"
	logmore 10 "$LOG" "connected $H:$PA" 1
	kill -TERM "$PMPID"
	wait "$_b"
	check "TERM: transfer in flight completes" eval \
	    'grep -q ok "$T/t.out" &&
	    grep -q "fast shutdown: .* for 2 connections" "$LOG"'
	if ! waitfor 25 eval "! alive $PMPID"; then
		fail "TERM: exits after the grace period"
	else
		check "TERM: forces the held connection closed after 10 s" \
		    grep -q "grace period over: closing 1 connections" "$LOG"
	fi
	_ms=$(close_ms "$LOG" "shutdown")
	check "TERM: the grace period is about 10 s ($_ms ms)" eval \
	    '[ -n "$_ms" ] && [ "$_ms" -ge 9000 ]'
	reap "$_h"

	# INT: as TERM; a second INT closes everything at once.
	pm_start "$PM" "$CONF" || { fail "proxy starts"; return; }
	spawn "$PMTEST" hold $H "$PP" 1 a 60 >/dev/null
	_h=$LASTPID
	logwait 10 "$LOG" "connected $H:$PA"
	kill -INT "$PMPID"
	if ! logwait 10 "$LOG" "fast shutdown" || ! alive "$PMPID"; then
		fail "INT: stops accepting" "no fast shutdown, or gone"
	elif "$PMTEST" waitport $H "$PP" 1 2>/dev/null; then
		fail "INT: stops accepting" "the port still takes connections"
	else
		ok "INT: stops accepting"
	fi
	# At once: the log says the second INT closed the connection, not
	# the end of the 10 s grace period.  The wait's own result decides
	# (under qemu-user the process shows as a zombie for a while).
	kill -INT "$PMPID"
	if waitfor 20 eval "! alive $PMPID" &&
	    grep -q "second signal: closing 1 connections now" "$LOG" &&
	    ! grep -q "grace period over" "$LOG"; then
		ok "INT twice: exits at once"
	else
		fail "INT twice: exits at once" \
		    "$(tail -n 3 "$LOG" | tr '\n' '|')"
	fi
	reap "$_h"

	# HUP: reload the table without dropping a connection.
	pm_start "$PM" "$CONF" || { fail "proxy starts"; return; }
	spawn "$PMTEST" hold $H "$PP" 1 a 30 >/dev/null
	_h=$LASTPID
	logwait 10 "$LOG" "connected $H:$PA"
	cp "$CONF" "$T/conf.orig"
	sed "s/^b.*/b	$H:$PA/" "$T/conf.orig" >"$CONF"
	kill -HUP "$PMPID"
	logwait 10 "$LOG" "reloaded"
	expect "HUP: the new table routes" "$PA:b" b
	printf 'b\n' >>"$CONF"
	kill -HUP "$PMPID"
	logwait 10 "$LOG" "reload failed"
	check "HUP with a bad table: file:line logged" \
	    grep -q "reload failed.*test.conf:[0-9]*: " "$LOG"
	expect "HUP with a bad table: old table kept" "$PA:b" b
	_id=$(grep "connected $H:$PA" "$LOG" | head -n 1 | cut -d' ' -f3)
	check "HUP: the open connection survives" eval \
	    'alive "$_h" && [ -n "$_id" ] &&
	    ! grep -q "$_id close" "$LOG"'
	cp "$T/conf.orig" "$CONF"
	reap "$_h"
	reap "$PMPID"
}

# --- workers (-w) ----------------------------------------------------------

# The pid the log gives for worker $2 (the newest one started).
worker_pid()
{
	sed -n "s/.* worker $2 of [0-9]* started, pid \([0-9]*\)\$/\1/p" \
	    "$1" | tail -n 1
}

t_workers()
{
	_bad=
	for _w in 65 -1 x 2x ''; do
		pm_fails "$PM" -w "$_w" -c "$CONF" -h $H -p "$(freeport)" \
		    >/dev/null 2>"$T/e" && grep -q usage "$T/e" &&
		    grep -q "^proxymachine[-a-z]*: -w '$_w': not a number" \
		    "$T/e" || _bad="$_bad '$_w'"
	done
	check "-w out of range or not a number: said, usage" [ -z "$_bad" ]

	pm_start "$PM" "$CONF" -w 2 || { fail "proxy starts with -w 2"; return; }
	logwait 10 "$LOG" "worker 2 of 2 started"
	_w1=$(worker_pid "$LOG" 1)
	_w2=$(worker_pid "$LOG" 2)
	check "-w 2: a master and two worker processes" eval \
	    'grep -q "listening on $H:$PP; 2 workers, each with" "$LOG" &&
	    [ -n "$_w1" ] && [ -n "$_w2" ] && [ "$_w1" != "$_w2" ] &&
	    alive "$_w1" && alive "$_w2"'
	expect "-w 2: serves" "$PA:a" a
	if [ -r "/proc/$_w1/cmdline" ] && [ -z "$RUN" ]; then
		_t=$(tr '\0' ' ' <"/proc/$PMPID/cmdline")
		_t1=$(tr '\0' ' ' <"/proc/$_w1/cmdline")
		case $_t/$_t1 in
		*"test $H:$PP - master of 2 workers"*/*" conns - worker 1 of 2"*)
			ok "-w 2: process titles of master and worker" ;;
		*)	fail "-w 2: process titles" "'$_t' '$_t1'" ;;
		esac
	else
		skip "-w 2: process titles" "no /proc here, or an emulator"
	fi
	kill -HUP "$PMPID"
	check "-w 2: HUP reloads in every worker" eval \
	    'logwait 10 "$LOG" "w2 reloaded" &&
	    logwait 10 "$LOG" "w1 reloaded"'
	kill -USR1 "$PMPID"
	check "-w 2: USR1 logs stats of the master and each worker" eval \
	    'logwait 10 "$LOG" "w2 stats: " &&
	    logwait 10 "$LOG" "w1 stats: " &&
	    grep -q "stats: master of 2 workers, 0 restarted" "$LOG"'

	# A worker that dies is replaced; the others serve meanwhile.
	kill -9 "$_w1"
	logwait 10 "$LOG" "worker 1 (pid $_w1) killed by signal 9: starting"
	waitfor 10 eval '[ "$(worker_pid "$LOG" 1)" != "$_w1" ]'
	_n1=$(worker_pid "$LOG" 1)
	check "-w 2: a killed worker is logged and replaced" eval \
	    '[ "$_n1" != "$_w1" ] && alive "$_n1"'
	_ok=1
	for _i in 1 2 3 4 5 6; do
		[ "$(say b)" = "$PB:b" ] || _ok=0
	done
	check "-w 2: serves after a worker was replaced" [ $_ok = 1 ]
	_id=$(sed -n 's/.* w\([12]\) #\([0-9]*\) accept .*/\1 \2/p' "$LOG" |
	    awk '($2 - $1) % 2 != 0 { print }' | head -n 1)
	check "-w 2: connection numbers per worker never collide" eval \
	    '[ -z "$_id" ] && grep -q " w[12] #[0-9]* accept " "$LOG"'

	# QUIT: the master waits for every worker, each for its connections.
	# The holder stays until it is killed, however slow the machine;
	# earlier requests to A have their own connected lines.
	_n=$(logcount "$LOG" "connected $H:$PA")
	spawn "$PMTEST" hold $H "$PP" 1 a 60 >/dev/null
	_h=$LASTPID
	logmore 10 "$LOG" "connected $H:$PA" "$_n"
	kill -QUIT "$PMPID"
	if logwait 10 "$LOG" "graceful shutdown: passed to the workers" &&
	    logwait 10 "$LOG" "w1 graceful shutdown" &&
	    logwait 10 "$LOG" "w2 graceful shutdown" &&
	    grep -q "w[12] graceful shutdown: .* for 1 connections" "$LOG"
	then
		sleep 2
		check "-w 2, QUIT: the master waits for the workers" \
		    alive "$PMPID"
		"$PMTEST" waitport $H "$PP" 1 2>/dev/null &&
		    fail "-w 2, QUIT: stops accepting" ||
		    ok "-w 2, QUIT: stops accepting"
	else
		fail "-w 2, QUIT: the master waits for the workers" \
		    "QUIT not passed on: $(tail -n 3 "$LOG" | tr '\n' '|')"
		fail "-w 2, QUIT: stops accepting" "QUIT not passed on"
	fi
	_w2=$(worker_pid "$LOG" 2)
	reap "$_h"
	waitexit "$PMPID" 20
	_rc=$WAITRC
	check "-w 2, QUIT: every process exits, status 0" eval \
	    '[ "$_rc" = 0 ] && grep -q "all workers exited: exiting" "$LOG" &&
	    [ -n "$_n1" ] && [ -n "$_w2" ] &&
	    ! alive "$_n1" && ! alive "$_w2"'

	# Each worker has its own pool: two 4-slot workers hold 8.
	pm_start "$SMALL" "$CONF" -w 2 ||
	    { fail "small proxy starts with -w 2"; return; }
	logwait 10 "$LOG" "worker 2 of 2 started"
	logwait 10 "$LOG" "#[12] close"	# the probe of pm_start
	spawn "$PMTEST" hold $H "$PP" 8 a 30 >"$T/hold8"
	_h=$LASTPID
	waitfor 10 grep -q "connected 8" "$T/hold8"
	logwait 10 "$LOG" "w1 pool full" && logwait 10 "$LOG" "w2 pool full"
	check "-w 2: each worker has its own pool, both accept" eval \
	    'grep -q "connected 8" "$T/hold8" &&
	    grep -q "w1 pool full" "$LOG" && grep -q "w2 pool full" "$LOG"'
	_got=$("$PMTEST" send $H "$PP" b -t 2 2>"$T/e")
	check "-w 2: both pools full: no new connection" eval \
	    '[ -z "$_got" ] && grep -q TIMEOUT "$T/e"'

	# TERM from the master and from elsewhere count as one: the grace
	# period still runs.  Then a second INT closes everything at once.
	# One TERM at a time, or the kernel may merge the two into one:
	# first w1's own, until it has logged it; then the master's, until
	# the master has logged passing it on (lines are written after the
	# loop's work); then a USR1 that w1 must answer after both.
	_t="-w 2: a worker counts TERM from master and elsewhere as one"
	_w1=$(worker_pid "$LOG" 1)
	_n=$(logcount "$LOG" "w1 stats: ")
	if [ -n "$_w1" ] && kill -TERM "$_w1" &&
	    logwait 10 "$LOG" "w1 fast shutdown" && kill -TERM "$PMPID" &&
	    logwait 10 "$LOG" "fast shutdown: passed to the workers" &&
	    kill -USR1 "$_w1" && logmore 10 "$LOG" "w1 stats: " "$_n"; then
		sleep 1
		check "$_t" eval \
		    'alive "$_w1" && alive "$_h" &&
		    ! grep -q "w1 second signal" "$LOG"'
	else
		fail "$_t" "w1 gone, or a TERM not seen: $(tail -n 3 \
		    "$LOG" | tr '\n' '|')"
	fi
	kill -INT "$PMPID"
	if waitfor 20 eval "! alive $PMPID" && ! alive "$_w1" &&
	    grep -q "second signal: the workers close" "$LOG" &&
	    grep -q "w[12] USR2: closing 4 connections now" "$LOG" &&
	    ! grep -q "grace period over" "$LOG"; then
		ok "-w 2: a second INT closes every connection at once"
	else
		fail "-w 2: a second INT closes every connection at once" \
		    "$(tail -n 4 "$LOG" | tr '\n' '|')"
	fi
	reap "$_h"

	# A master killed outright: the workers notice and shut down.
	pm_start "$PM" "$CONF" -w 2 || { fail "proxy starts"; return; }
	logwait 10 "$LOG" "worker 2 of 2 started"
	_w1=$(worker_pid "$LOG" 1)
	_w2=$(worker_pid "$LOG" 2)
	kill -9 "$PMPID"
	wait "$PMPID" 2>/dev/null
	check "-w 2: workers exit when the master is killed" eval \
	    '[ -n "$_w1" ] && [ -n "$_w2" ] &&
	    waitfor 10 eval "! alive $_w1 && ! alive $_w2" &&
	    logwait 10 "$LOG" "w1 master process gone"'

	# -w 0: one per CPU.
	_cpus=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)
	pm_start "$PM" "$CONF" -w 0 || { fail "proxy starts with -w 0"; return; }
	if [ "$_cpus" -gt 1 ]; then
		check "-w 0: one worker per CPU ($_cpus)" \
		    logwait 10 "$LOG" "; $_cpus workers, each"
	else
		check "-w 0: one worker per CPU ($_cpus)" \
		    logwait 10 "$LOG" "; [0-9]* connections of"
	fi
	expect "-w 0: serves" "$PA:a" a
	reap "$PMPID"
}

# --- operating the daemon -------------------------------------------------

t_daemon()
{
	# -d detaches (the command returns), -P writes the pid file.
	PP=$(freeport)
	_pf=$T/pm.pid
	bounded 20 $RUN "$PM" -d -P "$_pf" -c "$CONF" -h $H -p "$PP" \
	    >"$T/d.out" 2>&1
	_rc=$?
	check "-d detaches and -P writes the pid file" eval \
	    '[ $_rc -eq 0 ] && [ -s "$_pf" ] && waitport $H "$PP"'
	_pid=$(cat "$_pf" 2>/dev/null)
	PIDS="$PIDS $_pid"
	expect "detached: serves" "$PA:a" a
	check "detached: nothing on the terminal" [ ! -s "$T/d.out" ]
	check "detached: QUIT exits and removes the pid file" eval \
	    '[ -n "$_pid" ] && kill -QUIT "$_pid" 2>/dev/null &&
	    waitfor 10 eval "! alive $_pid" && [ ! -e "$_pf" ]'

	# SIGUSR1: a stats line.
	pm_start "$PM" "$CONF" || { fail "proxy starts"; return; }
	expect "stats: traffic first" "$PA:a" a
	expect "stats: a close" "" xxx
	kill -USR1 "$PMPID"
	logwait 10 "$LOG" "stats: "
	check "SIGUSR1 logs connections, bytes and errors" eval \
	    'grep "stats: " "$LOG" | grep -q "1 closed by the router" &&
	    grep "stats: " "$LOG" |
	    grep -q "accepted; 1 bytes up, $((${#PA} + 2)) down"'
	reap "$PMPID"

	check "-u with an unknown user: non-zero, said" eval \
	    'pm_fails "$PM" -u no-such-user-here -c "$CONF" -h $H \
	    -p "$(freeport)" 2>"$T/e" && grep -q "no such user" "$T/e"'
	# Without root, becoming a user and chroot fail after the bind: the
	# message has the same form as the errors before it.
	_as=
	if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null 2>&1 &&
	    id nobody >/dev/null 2>&1; then
		_as="setpriv --reuid=nobody --regid=$(id -g nobody) --clear-groups"
	fi
	if [ "$(id -u)" != 0 ] || [ -n "$_as" ]; then
		# Said once: the resolver and the lookups' processes (the
		# test router looks names up), forked as the same user before
		# the main process drops, leave it to that one.
		_bad=
		for _o in "-u nobody" "-t /" "-w 2 -u nobody"; do
			# The table through stdin: nobody cannot read $T.
			$_as $RUN "$PM" $_o -c /dev/stdin -h $H \
			    -p "$(freeport)" <"$CONF" 2>"$T/e"
			[ $? -ne 0 ] && [ "$(grep -Ec "^proxymachine[-a-z]*: \
(cannot become nobody|chroot /): " "$T/e")" -eq 1 ] ||
			    _bad="$_bad '$_o': $(cat "$T/e")"
		done
		WHY=$_bad
		check "-u, -t without root: proxymachine: ..., once, non-zero" \
		    [ -z "$_bad" ]
	else
		skip "-u, -t without root" "needs setpriv to drop root"
	fi
	if [ "$(id -u)" != 0 ] || ! id nobody >/dev/null 2>&1; then
		skip "-u and -t" "needs root and a nobody user"
		return
	fi
	mkdir -p "$T/jail"
	# LeakSanitizer reads /proc at exit, which a chroot hides: no leak
	# check for this one proxy (every other run has it).
	_ao=${ASAN_OPTIONS-}
	ASAN_OPTIONS="${_ao:+$_ao:}detect_leaks=0"
	export ASAN_OPTIONS
	pm_start "$PM" "$CONF" -u nobody -t "$T/jail"
	_rc=$?
	ASAN_OPTIONS=$_ao
	[ $_rc -eq 0 ] || { fail "proxy starts with -u and -t"; return; }
	expect "-u nobody -t dir: serves" "$PA:a" a
	_uid=$(awk '/^Uid:/ { print $2 "/" $3 "/" $4 }' "/proc/$PMPID/status")
	_n=$(id -u nobody)
	check "-u nobody: runs as nobody" [ "$_uid" = "$_n/$_n/$_n" ]
	check "-t dir: chrooted" \
	    [ "$(readlink "/proc/$PMPID/root")" = "$(cd "$T/jail" && pwd -P)" ]
	# The resolver reads it, unjailed, as nobody: $T is root's alone.
	kill -HUP "$PMPID"
	check "-u nobody: a reload reads the table as nobody, said" \
	    logwait 10 "$LOG" "reload failed.*$CONF: Permission denied"
	expect "-t dir: still serves" "$PB:b" b
	reap "$PMPID"
}

# --- reloads through the resolver process --------------------------------

# The pid the log gives for the resolver (the newest one started).
resolver_pid()
{
	sed -n 's/.* resolver started, pid \([0-9]*\)$/\1/p' "$1" | tail -n 1
}

# rl_table FILE A-PORT [LINES...]: a test table routing a to $H:A-PORT,
# b to backend B, then LINES.
rl_table()
{
	_f=$1
	_p=$2
	shift 2
	{
		printf 'a\t%s:%s\nb\t%s:%s\n' $H "$_p" $H "$PB"
		for _l in "$@"; do
			printf '%s\n' "$_l"
		done
	} >"$_f.new" && mv "$_f.new" "$_f"
}

# Whether process $1 is stopped (SIGSTOP), as /proc says.
stopped()
{
	awk '{ exit $3 == "T" ? 0 : 1 }' "/proc/$1/stat" 2>/dev/null
}

t_reload()
{
	# A name server that takes 3 s (the test binary's PM_TEST_HOOKS):
	# while the resolver waits for it, requests are answered at once
	# by the old table, and a transfer runs on; then the new one
	# serves.  The name is looked up for a backend no check uses, so
	# whatever it resolves to does not matter.
	_rt=$T/reload.conf
	rl_table "$_rt" "$PA"
	PM_TEST_LOOKUP_DELAY_MS=3000
	export PM_TEST_LOOKUP_DELAY_MS
	pm_start "$PM" "$_rt"
	_rc=$?
	unset PM_TEST_LOOKUP_DELAY_MS
	[ $_rc -eq 0 ] ||
	    { fail "proxy starts with a slow name server"; return; }
	logwait 10 "$LOG" "resolver started, pid"
	_r1=$(resolver_pid "$LOG")
	check "reload: a resolver process runs beside the proxy" eval \
	    '[ -n "$_r1" ] && alive "$_r1" && [ "$_r1" != "$PMPID" ]'
	expect "reload: the first table routes" "$PA:a" a
	"$PMTEST" bulk $H "$PP" 12000000 -p 'xfer\n' -s 1 \
	    >"$T/rl.bulk" 2>&1 &
	_b=$!
	PIDS="$PIDS $_b"
	waitfor 10 eval '[ "$(grep -c "connected $H:$PA" "$LOG")" -ge 2 ]'
	rl_table "$_rt" "$PB" "reject	localhost:$PR"
	kill -HUP "$PMPID"
	# Each round trip within 1.5 s, at most 40 of them.
	_during=0
	_bad=
	_n=0
	while [ $_n -lt 40 ] && ! grep -q "reloaded" "$LOG"; do
		_n=$((_n + 1))
		_got=$(say a -t 1.5)
		grep -q "reloaded" "$LOG" && break
		_during=$((_during + 1))
		[ "$_got" = "$PA:a" ] || _bad="$_bad [$_n: '$_got']"
		sleep 0.2
	done
	_m="reload: a slow name server stalls no request"
	check "$_m ($_during answered by the old table, each in 1.5 s)" eval \
	    '[ $_during -ge 3 ] && [ -z "$_bad" ]'
	logwait 15 "$LOG" "reloaded $_rt"
	expect "reload: the new table serves once it is ready" "$PB:a" a
	wait "$_b"
	check "reload: a transfer through it meanwhile completes intact" \
	    grep -q ok "$T/rl.bulk"

	# The resolver killed while a reload is in flight: that reload
	# fails, said, the old table stays; another resolver starts (at
	# most once a second) and the next reload works.
	_n0=$(grep -c "reloaded" "$LOG")
	rl_table "$_rt" "$PA" "reject	localhost:$PR"
	kill -HUP "$PMPID"
	sleep 0.3
	kill -9 "$_r1"
	_m="reload: a resolver killed in flight fails that reload, said"
	check "$_m" eval \
	    'logwait 10 "$LOG" \
	    "reload failed, keeping the old table: the resolver (pid $_r1)" &&
	    logwait 10 "$LOG" \
	    "resolver (pid $_r1) killed by signal 9: starting another"'
	expect "reload: the resolver killed, the old table serves" "$PB:a" a
	waitfor 10 eval '[ "$(resolver_pid "$LOG")" != "$_r1" ]'
	_r2=$(resolver_pid "$LOG")
	check "reload: another resolver is started" eval \
	    '[ "$_r2" != "$_r1" ] && alive "$_r2"'
	rl_table "$_rt" "$PA"
	kill -HUP "$PMPID"
	waitfor 10 eval '[ "$(grep -c "reloaded" "$LOG")" -gt "$_n0" ]'
	expect "reload: the new resolver serves the next reload" "$PA:a" a

	# Ten HUPs in a row, each after a new table, the last one routing a
	# elsewhere: one load at a time, one more for whatever came
	# meanwhile; the last table ends in force.
	_n0=$(grep -c "reloaded" "$LOG")
	for _i in 1 2 3 4 5 6 7 8 9 10; do
		if [ $_i -lt 10 ]; then
			rl_table "$_rt" "$PA" "reject	localhost:$PR"
		else
			rl_table "$_rt" "$PB" "reject	localhost:$PR"
		fi
		kill -HUP "$PMPID"
	done
	waitfor 20 eval '[ "$(say a)" = "$PB:a" ]'
	_n1=$(grep -c "reloaded" "$LOG")
	_m="reload: 10 HUPs in a row: the last table in force"
	check "$_m, $((_n1 - _n0)) loads" eval \
	    '[ "$(say a)" = "$PB:a" ] && alive "$PMPID" &&
	    [ $((_n1 - _n0)) -ge 1 ] && [ $((_n1 - _n0)) -lt 10 ] &&
	    grep -q "HUP: the table is read again once the read in prog" \
	    "$LOG"'
	reap "$PMPID"

	# Workers: the master loads the table and holds it, so a worker
	# started after a reload serves it too.  With EPOLLEXCLUSIVE the
	# oldest worker takes every connection while it is idle: stop it,
	# so that the new one must serve.
	rl_table "$_rt" "$PA"
	pm_start "$PM" "$_rt" -w 2 ||
	    { fail "proxy starts with -w 2"; return; }
	logwait 10 "$LOG" "worker 2 of 2 started"
	expect "-w 2 reload: the first table routes" "$PA:a" a
	rl_table "$_rt" "$PB"
	kill -HUP "$PMPID"
	check "-w 2 reload: the master and each worker put it in force" eval \
	    'logwait 10 "$LOG" "w1 reloaded $_rt" &&
	    logwait 10 "$LOG" "w2 reloaded $_rt" &&
	    grep -q "[0-9] reloaded $_rt" "$LOG"'
	_w1=$(worker_pid "$LOG" 1)
	_w2=$(worker_pid "$LOG" 2)
	kill -9 "$_w1"
	waitfor 10 eval '[ "$(worker_pid "$LOG" 1)" != "$_w1" ]'
	_n1=$(worker_pid "$LOG" 1)
	check "-w 2 reload: a killed worker is started again" eval \
	    'alive "$_n1" && [ "$_n1" != "$_w1" ]'
	_st=
	if [ -r "/proc/$_w2/stat" ]; then
		kill -STOP "$_w2"
		waitfor 10 stopped "$_w2" && _st=1
	fi
	_bad=
	for _i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
		_got=$(say a -t 5)
		[ "$_got" = "$PB:a" ] || _bad="$_bad [$_i: '$_got']"
	done
	[ -n "$_st" ] && kill -CONT "$_w2"
	_acc=$(sed -n "/worker 1 of 2 started, pid $_n1\$/,\$p" "$LOG" |
	    grep -c " w1 #[0-9]* accept ")
	_m="-w 2 reload: a restarted worker serves the table in force"
	if [ -z "$_st" ]; then
		skip "$_m" "cannot stop the other worker here"
	elif [ -z "$_bad" ] && [ "$_acc" -ge 20 ]; then
		ok "$_m ($_acc connections)"
	else
		fail "$_m" "$_acc by the new worker;$_bad"
	fi
	_bad=
	for _i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
		_got=$(say a -t 5)
		[ "$_got" = "$PB:a" ] || _bad="$_bad [$_i: '$_got']"
	done
	check "-w 2 reload: both workers then serve the new table" \
	    [ -z "$_bad" ]

	# A HUP sent to a worker: ignored, said; the master's table stays.
	_n0=$(grep -c "reloaded" "$LOG")
	kill -HUP "$_w2"
	logwait 10 "$LOG" "w2 HUP ignored: the master (pid $PMPID)"
	sleep 0.5
	check "-w 2 reload: a HUP sent to a worker is ignored, said" eval \
	    'grep -q "w2 HUP ignored: the master (pid $PMPID)" "$LOG" &&
	    [ "$(grep -c "reloaded" "$LOG")" -eq "$_n0" ]'

	# A bad table: the master says so once, every worker keeps its own.
	printf 'a\t%s:%s\nbogus line\n' $H "$PA" >"$_rt"
	kill -HUP "$PMPID"
	logwait 10 "$LOG" "reload failed, keeping the old table: $_rt:2: "
	_bad=
	for _i in 1 2 3 4 5 6; do
		_got=$(say a -t 5)
		[ "$_got" = "$PB:a" ] || _bad="$_bad [$_i: '$_got']"
	done
	_m="-w 2 reload: a bad table is refused by the master, the old serves"
	check "$_m" eval \
	    'grep -q "reload failed, keeping the old table: $_rt:2: " "$LOG" &&
	    ! grep -q "w[12] reload failed" "$LOG" && [ -z "$_bad" ]'
	reap "$PMPID"

	# With -u and -t, the resolver drops to the user but stays out of
	# the chroot: a table outside the jail reloads.
	if [ "$(id -u)" != 0 ] || ! id nobody >/dev/null 2>&1 ||
	    [ ! -r /proc/self/status ]; then
		skip "reload: resolver with -u and -t" \
		    "needs root, a nobody user and /proc"
		return
	fi
	# The resolver reads the table as nobody: let it through $T.
	mkdir -p "$T/rjail"
	chmod 711 "$T"
	rl_table "$_rt" "$PA"
	_ao=${ASAN_OPTIONS-}
	ASAN_OPTIONS="${_ao:+$_ao:}detect_leaks=0"
	export ASAN_OPTIONS
	pm_start "$PM" "$_rt" -u nobody -t "$T/rjail"
	_rc=$?
	ASAN_OPTIONS=$_ao
	[ $_rc -eq 0 ] || { fail "proxy starts with -u and -t"; return; }
	logwait 10 "$LOG" "resolver started, pid"
	_r=$(resolver_pid "$LOG")
	_uid=$(awk '/^Uid:/ { print $2 "/" $3 "/" $4 }' "/proc/$_r/status")
	_n=$(id -u nobody)
	_m="reload: with -u and -t the resolver runs as nobody, unjailed"
	check "$_m" eval \
	    '[ "$_uid" = "$_n/$_n/$_n" ] &&
	    [ "$(readlink "/proc/$_r/root")" = / ]'
	rl_table "$_rt" "$PB"
	kill -HUP "$PMPID"
	logwait 10 "$LOG" "reloaded $_rt"
	expect "reload: a jailed proxy reloads a table outside the jail" \
	    "$PB:a" a
	chmod 700 "$T"
	reap "$PMPID"
}

start_backends
case $ONLY in
all|core)
	t_daemon
	t_cli
	t_original
	t_phases
	t_lookup
	t_relay
	t_limits
	t_ends
	t_memory
	t_log
	t_ipv6
	t_signals
	t_workers
	t_reload
	;;
t_?*)	# One function of the core part, by name (sh test.sh t_ends).
	"$ONLY"
	;;
esac
for r in git socks4 socks5 custom skeleton proxy; do
	case $ONLY in
	all|"$r")
		if [ -f "tests/$r.sh" ]; then
			. "tests/$r.sh"
		fi
		;;
	esac
done

# Every proxy log: no sanitizer report anywhere (ASan/UBSan builds).
# Regular files only: busybox grep -r would open a fifo and wait.
_bad=$(find "$T" -type f -exec grep -l -e 'Sanitizer' -e 'runtime error:' \
    {} + 2>/dev/null)
if [ -n "$_bad" ]; then
	fail "sanitizer reports" "$_bad"
	for _f in $_bad; do
		head -n 30 "$_f"
	done
else
	ok "no sanitizer report in any proxy log"
fi

# What was missing, in one line (also `make deps').
if [ -n "$MISSING" ]; then
	echo "# not installed: $MISSING -- $(install_line $MISSING)"
fi
if [ "$SKIP" -gt 0 ]; then
	echo "$PASS passed, $FAIL failed, $SKIP skipped"
else
	echo "$PASS passed, $FAIL failed"
fi
[ "$FAIL" -eq 0 ]

#!/bin/sh
# tests/soak.sh: the fault soak of proxymachine.  POSIX sh, loopback only;
# every wait is bounded and only the processes started here are killed.
#
#	sh tests/soak.sh [SECS]		the soak for SECS (default 120), then
#					the limits under attack
#	sh tests/soak.sh short		a short run for CI (about 45 s in all)
#	VALGRIND=1 sh tests/soak.sh [SECS | short]
#					the soak under valgrind, shorter
#					(default 40 s, short 15 s), fewer
#					clients at a time, no limits part
#
# The soak: thousands of connections through tests/proxymachine-test from
# tests/soak (`soak run`), a mix of good transfers checked byte for byte
# and clients that reset, half-close, read slowly, stall or send garbage,
# against backends (`soak serve`, pmtest blackhole, a port nobody listens
# on) that refuse, reset, stall, trickle and close early.  Afterwards:
# no violation, the proxy's descriptors and open connections back to
# their idle values, its RSS flat (printed over time), still serving,
# and an exit 0 on QUIT (under valgrind: no error, no definite leak).
#
# The limits: a pool full of connections that send nothing (the 4-slot
# build), a low descriptor limit at start, descriptors running out under
# a running proxy (prlimit), and QUIT right after that: the clients the
# proxy has go on, its CPU time stays low while it waits, and each
# condition is logged once per burst.
#
# Environment: BINDIR (default tests), SOAKBIN (the generator, default
# $BINDIR/soak), CONC (clients at a time), SEED, EXCLUDE (kinds of client
# left out, as in `soak run -e stallecho,idle`), LIMITS (0: skip the
# limits, 1: run them even under valgrind), VALGRIND_OPTS (added), KEEP
# (a directory to keep the logs in).
# Linux /proc gives the figures; elsewhere those checks are skipped.

cd "$(dirname "$0")/.." || exit 1
. tests/lib.sh
# KEEP=DIR keeps the logs and figures there.
soak_cleanup()
{
	if [ -n "${KEEP:-}" ]; then
		mkdir -p "$KEEP" && cp -R "$T"/. "$KEEP"/
	fi
	cleanup
}
trap soak_cleanup EXIT
trap 'exit 1' INT TERM

H=127.0.0.1
PM=$BINDIR/proxymachine-test
SMALL=$BINDIR/proxymachine-small
SOAK=${SOAKBIN:-$BINDIR/soak}
for b in "$PMTEST" "$PM" "$SMALL" "$SOAK"; do
	if [ ! -x "$b" ]; then
		echo "soak.sh: $b is missing: run make testbins" >&2
		exit 1
	fi
done

MODE=${1:-default}
SEED=${SEED:-$(( $(date +%s) % 1000000 + 1 ))}
if [ -n "${VALGRIND:-}" ] && [ "$VALGRIND" != 0 ]; then
	command -v valgrind >/dev/null 2>&1 ||
	    { echo "soak.sh: valgrind is not installed" >&2; exit 1; }
	VG=1
	case $MODE in
	short)	DUR=15 ;;
	default) DUR=40 ;;
	*)	DUR=$MODE ;;
	esac
	CONC=${CONC:-20}
	NLONG=6
	NFOREVER=2
	SCALE=10
	SAMPLE=5
	LIMITS=${LIMITS:-0}
	RUN="valgrind -q --error-exitcode=99 --leak-check=full"
	RUN="$RUN --errors-for-leak-kinds=definite --log-file=$T/vg.%p.log"
	RUN="$RUN ${VALGRIND_OPTS:-}"
else
	VG=
	case $MODE in
	short)	DUR=10; FLOOD=2; SAMPLE=2; IDLEWIN=1 ;;
	default) DUR=120; FLOOD=8; SAMPLE=5; IDLEWIN=2 ;;
	*)	DUR=$MODE; FLOOD=8; SAMPLE=5; IDLEWIN=2 ;;
	esac
	CONC=${CONC:-100}
	NLONG=16
	NFOREVER=4
	SCALE=1
	LIMITS=${LIMITS:-1}
	RUN=
fi
case $DUR in
''|*[!0-9]*)
	echo "usage: sh tests/soak.sh [SECS | short]" >&2
	exit 2
	;;
esac
FLOOD=${FLOOD:-3}
IDLEWIN=${IDLEWIN:-2}

HAVE_PROC=
[ -r /proc/self/stat ] && [ -d /proc/self/fd ] && HAVE_PROC=1
HZ=$(getconf CLK_TCK 2>/dev/null || echo 100)

# --- figures from /proc and the log -------------------------------------

rss_kib()
{
	awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null
}

nfds()
{
	ls "/proc/$1/fd" 2>/dev/null | wc -l | tr -d ' '
}

# CPU time (user + system) in clock ticks.
cpu_ticks()
{
	sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | awk '{ print $12 + $13 }'
}

# Open connections: from the process title when it is there (not under
# valgrind), else accepts minus closes in the log.
conns()
{
	_c=
	if [ -r "/proc/$1/cmdline" ]; then
		_c=$(tr '\0' ' ' <"/proc/$1/cmdline" |
		    sed -n 's|.* - \([0-9]*\)/[0-9]*/[0-9]* conns.*|\1|p')
	fi
	if [ -z "$_c" ]; then
		_a=$(grep -c ' accept ' "$2")
		_z=$(grep -c ' close: ' "$2")
		_c=$((_a - _z))
	fi
	echo "$_c"
}

# Waits (at most SECS) until the proxy has no connection open.
idle_wait()
{
	_n=$(($3 * 10))
	while [ $_n -gt 0 ]; do
		[ "$(conns "$1" "$2")" = 0 ] && return 0
		sleep 0.1
		_n=$((_n - 1))
	done
	return 1
}

# Samples the proxy every SECS into FILE: t rss fds conns cpu-ticks.
sampler()
{
	_t0=$(date +%s)
	while kill -0 "$1" 2>/dev/null; do
		echo "$(($(date +%s) - _t0)) $(rss_kib "$1") $(nfds "$1")" \
		    "$(conns "$1" "$2") $(cpu_ticks "$1")" >>"$3"
		sleep "$4"
	done
}

# Starts a proxy: pm_start BINARY [WRAPPER...]; sets PP, PMPID, LOG.
pm_start()
{
	_bin=$1
	shift
	PP=$(freeport)
	LOG=$T/pm.$PP.log
	spawn "$@" $RUN "$_bin" -c "$CONF" -h $H -p "$PP" 2>"$LOG"
	PMPID=$LASTPID
	if ! "$PMTEST" waitport $H "$PP" $((10 * SCALE)) 2>/dev/null; then
		echo "proxy did not start:" >&2
		cat "$LOG" >&2
		return 1
	fi
}

# The descriptor limit that leaves PID exactly K free descriptors (holes
# below its highest open one count).
fdlimit()
{
	ls "/proc/$1/fd" | awk -v k="$2" '{ u[$1] = 1 }
	    END { for (i = 0; ; i++) if (!(i in u) && k-- == 0) break
	    print i }'
}

# The soft:hard descriptor limits of PID.
fdlimits()
{
	prlimit --pid "$1" --nofile --raw --noheadings -o SOFT,HARD |
	    awk '{ print $1 ":" $2 }'
}

# The CPU percentage PID used between two tick counts over MS.
cpu_pct()
{
	echo "$1 $2 $3 $HZ" | awk '{ printf "%.1f", \
	    ($2 - $1) * 100000 / $4 / ($3 > 0 ? $3 : 1) }'
}

now_ms()
{
	_s=$(date +%s%N 2>/dev/null)
	case $_s in
	*N)	echo $(($(date +%s) * 1000)) ;;
	*)	echo $((_s / 1000000)) ;;
	esac
}

# Stops the proxy with QUIT and checks it exits 0 (and valgrind's word).
quit_check()
{
	kill -QUIT "$PMPID" 2>/dev/null
	if waitfor $((15 + 3 * SCALE)) sh -c "! kill -0 $PMPID 2>/dev/null"
	then
		wait "$PMPID"
		_rc=$?
		[ $_rc -eq 0 ] && ok "$1: QUIT: exits 0" ||
		    fail "$1: QUIT: exits 0" "rc $_rc: $(tail -n 3 "$LOG")"
		return
	fi
	fail "$1: QUIT: exits" "still running $((15 + 3 * SCALE)) s later\
 ($(conns "$PMPID" "$LOG") connections open)"
	# TERM closes what is left after 10 s, and valgrind gets its say.
	kill -TERM "$PMPID" 2>/dev/null
	if waitfor $((15 + 3 * SCALE)) sh -c "! kill -0 $PMPID 2>/dev/null"
	then
		wait "$PMPID"
		echo "# $1: TERM: exit status $?"
	else
		reap "$PMPID"
	fi
}

# --- backends -------------------------------------------------------------

start_backends()
{
	rm -f "$T/ports"
	spawn "$SOAK" serve $H "$T/ports" >"$T/serve.out"
	SERVEPID=$LASTPID
	waitfor 10 test -s "$T/ports" ||
	    { echo "soak serve did not start" >&2; exit 1; }
	PECHO=$(awk '$1 == "echo" { print $2 }' "$T/ports")
	PSCRIPT=$(awk '$1 == "script" { print $2 }' "$T/ports")
	PRESET=$(awk '$1 == "reset" { print $2 }' "$T/ports")
	PFIN=$(awk '$1 == "fin" { print $2 }' "$T/ports")
	closedport PR			# nobody can listen: refused
	PS=$(freeport)
	spawn "$PMTEST" blackhole $H "$PS"
	sleep 0.5
	CONF=$T/soak.conf
	cat >"$CONF" <<-EOF
	# soak: the test router's names, pointed at the fault backends
	a	$H:$PECHO
	b	$H:$PRESET
	a6	$H:$PFIN
	reject	$H:$PR
	slow	$H:$PS
	flood	$H:$PSCRIPT
	EOF
}

# Counts the log lines matching PATTERN.
lines()
{
	grep -c -- "$2" "$1"
}

# --- the soak ---------------------------------------------------------------

t_soak()
{
	echo "# soak: ${DUR} s, $CONC clients at a time + $NLONG long" \
	    "($NFOREVER stalled for good), seed $SEED${VG:+, under valgrind}"
	pm_start "$PM" || { fail "soak: proxy starts"; return; }
	sleep 1
	if [ -n "$HAVE_PROC" ]; then
		FD0=$(nfds "$PMPID")
		RSS0=$(rss_kib "$PMPID")
		echo "# idle: $FD0 descriptors, RSS $RSS0 KiB," \
		    "$(conns "$PMPID" "$LOG") connections"
		spawn sampler "$PMPID" "$LOG" "$T/samples" "$SAMPLE"
		SAMPLER=$LASTPID
	fi
	_t0=$(now_ms)
	"$SOAK" run $H "$PP" "$DUR" -c "$CONC" -l "$NLONG" -f "$NFOREVER" \
	    -r 30000 -s "$SEED" -x "$SCALE" ${EXCLUDE:+-e "$EXCLUDE"} \
	    >"$T/run.out" 2>"$T/run.err"
	_rc=$?
	sed 's/^/# /' "$T/run.out"
	grep -v '^run: [0-9]* s,' "$T/run.err" | head -n 40 | sed 's/^/# /'
	[ $_rc -eq 0 ] && ok "soak: every client got what it must" ||
	    fail "soak: every client got what it must" "soak run rc $_rc"
	_good=$(sed -n 's/.* \([0-9]*\) good transfers byte-exact.*/\1/p' \
	    "$T/run.out")
	[ -n "$_good" ] && [ "$_good" -gt 0 ] &&
	    ok "soak: $_good good transfers, byte-exact" ||
	    fail "soak: good transfers" "'$_good'"

	if idle_wait "$PMPID" "$LOG" $((30 + 3 * SCALE)); then
		ok "soak: open connections back to 0"
	else
		fail "soak: open connections back to 0" \
		    "$(conns "$PMPID" "$LOG") open"
	fi
	if [ -n "$HAVE_PROC" ]; then
		sleep 1
		_fd=$(nfds "$PMPID")
		[ "$_fd" = "$FD0" ] &&
		    ok "soak: descriptors back to idle ($_fd)" ||
		    fail "soak: descriptors back to idle" \
		    "$FD0 before, $_fd after: $(ls -l /proc/$PMPID/fd |
		    tail -n +2 | awk '{ print $(NF) }' | tr '\n' ' ')"
		_rss=$(rss_kib "$PMPID")
		echo "$(( ($(now_ms) - _t0) / 1000 )) $_rss $_fd" \
		    "$(conns "$PMPID" "$LOG") $(cpu_ticks "$PMPID")" \
		    >>"$T/samples"
		echo "# t(s)  RSS(KiB)  fds  conns  CPU(s)"
		awk -v hz="$HZ" '{ printf "# %4d  %8d  %4d  %5d  %6.1f\n",
		    $1, $2, $3, $4, $5 / hz }' "$T/samples"
		# Warm-up: the first sample at half the run, or at 30 s.  The
		# buffer pool is a stack: RSS follows the most buffers ever in
		# use at once, so it may still creep by a few of them; the
		# margin is 16 buffers or 5%.
		_warm=$(awk -v w=$((DUR / 2 < 30 ? DUR / 2 : 30)) \
		    '$1 >= w { print $2; exit }' "$T/samples")
		_max=$(awk 'BEGIN { m = 0 } $2 > m { m = $2 }
		    END { print m }' "$T/samples")
		_buf=$(sed -n 's/.* of \([0-9]*\)-byte buffers.*/\1/p' "$LOG" |
		    head -n 1)
		_margin=$(( ${_buf:-16384} * 16 / 1024 ))
		[ $((_warm / 20)) -gt "$_margin" ] && _margin=$((_warm / 20))
		if [ -n "$VG" ]; then
			echo "# RSS under valgrind: warm $_warm KiB, end" \
			    "$_rss KiB, max $_max KiB (not checked)"
		elif [ -n "$_warm" ] && [ "$_rss" -le $((_warm + _margin)) ]
		then
			ok "soak: RSS flat ($RSS0 KiB idle, $_warm after\
 warm-up, $_max at most, $_rss at the end)"
		else
			fail "soak: RSS flat" "$RSS0 idle, $_warm after\
 warm-up, $_rss at the end (margin $_margin KiB)"
		fi
		_c=$(tail -n 1 "$T/samples" | awk '{ print $5 }')
		echo "# proxy CPU: $(echo "$_c $HZ" |
		    awk '{ printf "%.1f", $1 / $2 }') s over the run"
	fi
	_out=$("$SOAK" xfer $H "$PP" 1000000 1 2>&1)
	case $_out in
	*"xfer: ok"*)
		ok "soak: still serving ($(echo "$_out" | tail -n 1))" ;;
	*)	fail "soak: still serving" "$_out" ;;
	esac

	echo "# log: $(wc -l <"$LOG") lines;" \
	    "$(lines "$LOG" ' accept ') accepts," \
	    "$(lines "$LOG" 'route: close after') router replies," \
	    "$(lines "$LOG" 'router closed') router closes," \
	    "$(lines "$LOG" 'failed after') connect errors," \
	    "$(lines "$LOG" 'without sending a byte') backends gone" \
	    "without a byte," \
	    "$(lines "$LOG" 'inactivity timeout (') inactivity timeouts," \
	    "$(lines "$LOG" 'no route within') routing timeouts," \
	    "$(lines "$LOG" 'routing buffer full') full routing buffers," \
	    "$(lines "$LOG" 'client gone') clients gone," \
	    "$(lines "$LOG" 'pool full') pool full," \
	    "$(lines "$LOG" 'pausing accepts') accept pauses"
	_odd=$(grep -e 'no buffer' -e 'unknown action' -e 'poll: ' \
	    -e 'too long' -e 'no usable address' -e 'Sanitizer' \
	    -e 'runtime error' -e 'pool full' -e 'pausing accepts' "$LOG" |
	    head -n 5)
	[ -z "$_odd" ] && ok "soak: nothing odd in the log" ||
	    fail "soak: nothing odd in the log" "$_odd"
	if [ -n "$HAVE_PROC" ]; then
		kill "$SAMPLER" 2>/dev/null
	fi
	quit_check soak
	if [ -n "$VG" ]; then
		_vg=$(cat "$T"/vg.*.log 2>/dev/null)
		[ -z "$_vg" ] &&
		    ok "soak: valgrind: no error, no definite leak" ||
		    fail "soak: valgrind" "$(echo "$_vg" | head -n 30)"
	fi
}

# Stops the backends; their figures, and no bad upload.
stop_backends()
{
	kill "$SERVEPID" 2>/dev/null
	wait "$SERVEPID"
	_rc=$?
	sed 's/^/# /' "$T/serve.out"
	[ $_rc -eq 0 ] && ok "backends: every upload arrived byte-exact" ||
	    fail "backends: every upload arrived byte-exact" "rc $_rc"
}

# --- limits under attack ---------------------------------------------------

# Starts N paced good transfers (BYTES over SECS each); sets XPIDS.
xfers_start()
{
	XPIDS=
	_i=0
	while [ $_i -lt "$1" ]; do
		_i=$((_i + 1))
		"$SOAK" xfer $H "$PP" "$2" "$3" >"$T/x.$PP.$_i" 2>&1 &
		XPIDS="$XPIDS $!"
		PIDS="$PIDS $!"
	done
	_i=0
	while [ $_i -lt "$1" ]; do
		_i=$((_i + 1))
		waitfor 10 grep -q connected "$T/x.$PP.$_i" 2>/dev/null ||
		    echo "# transfer $_i did not start: $(cat "$T/x.$PP.$_i")"
	done
}

# Checks the transfers started by xfers_start: xfers_check NAME N.
xfers_check()
{
	for _p in $XPIDS; do
		wait "$_p"
	done
	_i=0
	_bad=
	while [ $_i -lt "$2" ]; do
		_i=$((_i + 1))
		grep -q "xfer: ok" "$T/x.$PP.$_i" ||
		    _bad="$_bad [$_i: $(cat "$T/x.$PP.$_i" | tail -n 1)]"
	done
	[ -z "$_bad" ] &&
	    ok "$1: the $2 transfers in flight complete, byte-exact" ||
	    fail "$1: transfers in flight complete" "$_bad"
}

# Floods with N silent connections for SECS; checks the CPU time.
# flood NAME N SECS MAXPCT: sets FLOODOUT.
flood()
{
	_c0=$(cpu_ticks "$PMPID")
	_t0=$(now_ms)
	FLOODOUT=$("$SOAK" flood $H "$PP" "$3" "$2" 2>&1)
	_t1=$(now_ms)
	_c1=$(cpu_ticks "$PMPID")
	_pct=$(cpu_pct "$_c0" "$_c1" $((_t1 - _t0)))
	echo "# $1: $FLOODOUT"
	awk -v p="$_pct" -v m="$4" 'BEGIN { exit !(p <= m) }' &&
	    ok "$1: CPU $_pct% during a $3 s flood of $2 silent connections" ||
	    fail "$1: CPU low during the flood" "$_pct% (at most $4%)"
}

# After a flood: idle again, same descriptors, still serving.
after_flood()
{
	if idle_wait "$PMPID" "$LOG" 40; then
		ok "$1: open connections back to 0"
	else
		fail "$1: open connections back to 0" \
		    "$(conns "$PMPID" "$LOG")"
	fi
	sleep 0.5
	_fd=$(nfds "$PMPID")
	[ "$_fd" = "$2" ] && ok "$1: descriptors back to idle ($_fd)" ||
	    fail "$1: descriptors back to idle" "$2 before, $_fd after"
	_c0=$(cpu_ticks "$PMPID")
	sleep "$IDLEWIN"
	_c1=$(cpu_ticks "$PMPID")
	[ $((_c1 - _c0)) -le $((HZ / 20)) ] &&
	    ok "$1: idle CPU $((_c1 - _c0)) ticks in $IDLEWIN s" ||
	    fail "$1: idle CPU" "$((_c1 - _c0)) ticks in $IDLEWIN s"
	_out=$("$SOAK" xfer $H "$PP" 100000 0 2>&1)
	case $_out in
	*"xfer: ok"*)	ok "$1: still serving" ;;
	*)	fail "$1: still serving" "$_out" ;;
	esac
}

t_limits()
{
	# The pool full: 4 slots, 1.5 s routing timeout; two transfers hold
	# two slots while silent connections churn through the other two.
	pm_start "$SMALL" || { fail "pool: proxy starts"; return; }
	sleep 0.5
	_fd0=$(nfds "$PMPID")
	xfers_start 2 4000000 $((FLOOD + 1))
	flood pool 300 "$FLOOD" 10
	xfers_check pool 2
	_pf=$(lines "$LOG" 'pool full')
	_ra=$(lines "$LOG" 'pool has room again')
	_rt=$(lines "$LOG" 'no route within')
	echo "# pool: $_pf 'pool full' and $_ra 'room again' lines for" \
	    "$_rt routing timeouts"
	[ "$_pf" -ge 1 ] && [ "$_pf" -le $((FLOOD + 2)) ] &&
	    ok "pool: 'pool full' said once per burst ($_pf lines)" ||
	    fail "pool: 'pool full' said once per burst" "$_pf lines"
	after_flood pool "$_fd0"
	quit_check pool

	# A pool of about 1024 slots (a descriptor limit of 2200) flooded
	# past the brim.
	PP=$(freeport)
	LOG=$T/pm.$PP.log
	( ulimit -n 2200 && exec $RUN "$PM" -c "$CONF" -h $H -p "$PP" ) \
	    2>"$LOG" &
	PMPID=$!
	PIDS="$PIDS $PMPID"
	waitport $H "$PP" || { fail "pool 1024: proxy starts"; return; }
	sleep 0.5
	_fd0=$(nfds "$PMPID")
	xfers_start 2 4000000 $((FLOOD + 1))
	flood "pool 1024" 1500 "$FLOOD" 10
	xfers_check "pool 1024" 2
	_pf=$(lines "$LOG" 'pool full')
	[ "$_pf" -eq 1 ] && ok "pool 1024: 'pool full' said once" ||
	    fail "pool 1024: 'pool full' said once" "$_pf lines"
	after_flood "pool 1024" "$_fd0"
	quit_check "pool 1024"

	# A low descriptor limit at start: the pool shrinks to fit.
	PP=$(freeport)
	LOG=$T/pm.$PP.log
	( ulimit -n 40 && exec "$PM" -c "$CONF" -h $H -p "$PP" ) \
	    2>"$LOG" &
	PMPID=$!
	PIDS="$PIDS $PMPID"
	waitport $H "$PP"
	sleep 0.5
	grep -q "pool shrunk from [0-9]* to 12 connections" "$LOG" &&
	    ok "ulimit 40: pool shrunk to 12, logged" ||
	    fail "ulimit 40: pool shrunk" "$(head -n 3 "$LOG")"
	_fd0=$(nfds "$PMPID")
	xfers_start 2 4000000 $((FLOOD + 1))
	flood "ulimit 40" 300 "$FLOOD" 10
	xfers_check "ulimit 40" 2
	_pf=$(lines "$LOG" 'pool full')
	_pa=$(lines "$LOG" 'pausing accepts')
	[ "$_pf" -eq 1 ] && [ "$_pa" -eq 0 ] &&
	    ok "ulimit 40: 'pool full' said once, no accept error" ||
	    fail "ulimit 40: 'pool full' once" "$_pf pool full, $_pa pauses"
	after_flood "ulimit 40" "$_fd0"
	quit_check "ulimit 40"

	if ! command -v prlimit >/dev/null 2>&1; then
		skip "descriptors run out" "no prlimit"
		return
	fi
	# Descriptors run out under a running proxy: accept(2) fails with
	# EMFILE while slots are free.
	pm_start "$PM" || { fail "EMFILE: proxy starts"; return; }
	sleep 0.5
	_fd0=$(nfds "$PMPID")
	_lim=$(fdlimits "$PMPID")
	xfers_start 2 4000000 $((FLOOD + 1))
	prlimit --pid "$PMPID" --nofile="$(fdlimit "$PMPID" 2):${_lim#*:}"
	flood EMFILE 300 "$FLOOD" 10
	xfers_check EMFILE 2
	_pa=$(lines "$LOG" 'pausing accepts')
	_aa=$(lines "$LOG" 'accepting again')
	echo "# EMFILE: $_pa 'pausing accepts' and $_aa 'accepting again'" \
	    "lines, $(lines "$LOG" ' accept ') accepts"
	[ "$_pa" -ge 1 ] && [ "$_pa" -le $((FLOOD + 2)) ] &&
	    ok "EMFILE: said once per burst ($_pa lines)" ||
	    fail "EMFILE: said once per burst" "$_pa lines"
	prlimit --pid "$PMPID" --nofile="$_lim"
	after_flood EMFILE "$_fd0"
	quit_check EMFILE

	# QUIT while accepts are paused, with a transfer still in flight and
	# no timer pending (the small build's routing deadline is 1.5 s):
	# the proxy waits for the transfer without spinning.
	pm_start "$SMALL" ||
	    { fail "QUIT after EMFILE: proxy starts"; return; }
	sleep 0.5
	_lim=$(fdlimits "$PMPID")
	xfers_start 1 2000000 7
	sleep 2
	prlimit --pid "$PMPID" --nofile="$(fdlimit "$PMPID" 0):${_lim#*:}"
	"$SOAK" flood $H "$PP" 1 1 >/dev/null 2>&1
	grep -q 'pausing accepts' "$LOG" ||
	    echo "# QUIT after EMFILE: no accept pause was logged"
	kill -QUIT "$PMPID"
	_c0=$(cpu_ticks "$PMPID")
	sleep 3
	_c1=$(cpu_ticks "$PMPID")
	_pct=$(cpu_pct "$_c0" "$_c1" 3000)
	awk -v p="$_pct" 'BEGIN { exit !(p <= 10) }' &&
	    ok "QUIT after EMFILE: CPU $_pct% while the last transfer runs" ||
	    fail "QUIT after EMFILE: no spin while waiting" \
	    "CPU $_pct% over 3 s"
	xfers_check "QUIT after EMFILE" 1
	if waitfor 15 sh -c "! kill -0 $PMPID 2>/dev/null"; then
		wait "$PMPID"
		_rc=$?
		[ $_rc -eq 0 ] && ok "QUIT after EMFILE: exits 0" ||
		    fail "QUIT after EMFILE: exits 0" "rc $_rc"
	else
		fail "QUIT after EMFILE: exits" "still running"
		reap "$PMPID"
	fi
}

start_backends
t_soak
if [ "$LIMITS" != 0 ]; then
	if [ -n "$HAVE_PROC" ]; then
		t_limits
	else
		skip "limits" "no /proc"
	fi
fi
stop_backends
echo "$PASS passed, $FAIL failed, ${SKIP:-0} skipped"
[ "$FAIL" -eq 0 ]

#!/bin/sh
# bench/run.sh: the proxymachine benchmark (issue 4).  See bench/README.md.
#
# Runs the same workloads against the backend itself (direct), proxymachine
# with the custom router (proxy), HAProxy in TCP mode with a content rule
# (haproxy: its default threads; haproxy1: one thread) and socat, round by
# round with the targets interleaved, then prints the median of the rounds
# with ratios to direct and to haproxy.  Other builds of proxymachine run
# beside proxy, on the workloads they are about: proxycopy (-DPM_NO_SPLICE)
# the bulk ones, proxypoll (-DPM_USE_POLL) and proxykq (-DPM_USE_KQUEUE,
# through tests/kqueue_shim.c on Linux) the idle connections; their CPU
# rows add ratios to proxy.  proxysni is the proxy's own binary with a
# table that routes the tls workload's ClientHello by its server name, not
# by a prefix: the two tls rows compare them.  Two SOCKS5 proxies run the
# same workloads but tls, each client connection asking them for the
# backend first (pmbench -S): proxymachine with the socks5 router
# (socks5, an open proxy) and microsocks (Debian's package; it does not
# pass a half-close on, so the up workloads, which need one, are left
# out); their rows add ratios to microsocks.  POSIX sh; loopback only;
# kills only the processes it started.
#
# Knobs (environment):
#   PMB_SPEED	quick, normal (default) or long: rounds, seconds, bytes
#   PMB_ROUNDS	rounds (at least 3 for medians; default from PMB_SPEED)
#   PMB_SECS	seconds of each timed run (conn, tls, rr)
#   PMB_BYTES	bytes of each bulk run, all streams (suffix k, m, g)
#   PMB_TARGETS	targets, default "direct proxy proxysni proxycopy
#		proxypoll proxykq haproxy haproxy1 socat socks5 microsocks"
#   PMB_WORKS	workloads, default "up1 up8 down1 down8 conn tls rr"
#   PMB_IDLE	idle connection counts, default "1000 10000" ("" skips)
#   PMB_OUT	file that receives the raw key=value lines
#   PM_BIN	proxymachine binary (built with the custom router); when
#		unset, `make ROUTER=custom MAXCONN=10240' builds one
#   PM_FLAGS	extra proxymachine flags (e.g. -q)
#   CC		compiler for pmbench (default cc)
#   MAKE		make program for the proxy (default make)

set -u

HERE=$(cd "$(dirname "$0")" && pwd) || exit 2
TOP=$(dirname "$HERE")

case ${PMB_SPEED:-normal} in
quick)	rounds=3 secs=1 bytes=256m idlesecs=0.5 ;;
normal)	rounds=3 secs=2 bytes=1g idlesecs=1 ;;
long)	rounds=5 secs=5 bytes=4g idlesecs=2 ;;
*)	echo "run.sh: PMB_SPEED is quick, normal or long" >&2; exit 2 ;;
esac
ROUNDS=${PMB_ROUNDS:-$rounds}
SECS=${PMB_SECS:-$secs}
BYTES=${PMB_BYTES:-$bytes}
TARGETS=${PMB_TARGETS:-direct proxy proxysni proxycopy proxypoll proxykq \
    haproxy haproxy1 socat socks5 microsocks}
WORKS=${PMB_WORKS:-up1 up8 down1 down8 conn tls rr}
IDLE=${PMB_IDLE-1000 10000}
PM_FLAGS=${PM_FLAGS:-}

T=$(mktemp -d "${TMPDIR:-/tmp}/pmbench.XXXXXX") || exit 2
PIDS=
RAW=$T/raw
: > "$RAW"

say()
{
	echo "$*" >&2
}

cleanup()
{
	for _p in $PIDS; do
		kill "$_p" 2>/dev/null
	done
	for _p in $PIDS; do
		wait "$_p" 2>/dev/null
	done
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# Stops one process this script started: TERM, then KILL after 5 s.
stop()
{
	kill "$1" 2>/dev/null || return 0
	_i=0
	while kill -0 "$1" 2>/dev/null && [ $_i -lt 50 ]; do
		sleep 0.1
		_i=$((_i + 1))
	done
	kill -9 "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	_left=
	for _p in $PIDS; do
		[ "$_p" = "$1" ] || _left="$_left $_p"
	done
	PIDS=$_left
}

# --- Tools and binaries -----------------------------------------------

PMB=$T/pmbench
${CC:-cc} -std=c99 -D_DEFAULT_SOURCE -O2 -o "$PMB" "$HERE/pmbench.c" ||
    exit 2

if [ -n "${PM_BIN:-}" ]; then
	PM=$PM_BIN
	PMBUILD="PM_BIN=$PM_BIN"
else
	say "run.sh: make ROUTER=custom MAXCONN=10240"
	${MAKE:-make} -C "$TOP" ROUTER=custom MAXCONN=10240 proxymachine >&2 ||
	    exit 2
	cp "$TOP/proxymachine" "$T/proxymachine" || exit 2
	PM=$T/proxymachine
	PMBUILD="make ROUTER=custom MAXCONN=10240"
fi
# The other builds, from the tree with the same flags: the copy-only relay
# and the other event backends.  On Linux, kqueue runs over epoll through
# the test suite's shim (tests/kqueue_shim.c).
variant()
{
	_v=$1
	shift
	say "run.sh: $_v: $*"
	echo "run.sh: $_v: $*" | sed "s|$TOP/||g" >> "$T/builds"
	${CC:-cc} -std=c99 -D_DEFAULT_SOURCE ${CFLAGS:--O2} -DPM_MAXCONN=10240 \
	    "$@" -o "$T/$_v" "$TOP/proxymachine.c" "$TOP/small.c" \
	    "$TOP/routers/custom.c" >&2
}
KQSHIM=
[ "$(uname -s)" = Linux ] &&
    KQSHIM="-I$TOP/tests/shim $TOP/tests/kqueue_shim.c"

# The small static build (musl when it is there) that the project ships
# for small boxes: its idle memory is measured too, beside the build above.
PMS=
if [ -z "${PM_BIN:-}" ] && [ -n "$IDLE" ] &&
    ${MAKE:-make} -C "$TOP" ROUTER=custom MAXCONN=10240 static >&2 &&
    cp "$TOP/proxymachine-static" "$T/proxymachine-static"; then
	PMS=$T/proxymachine-static
fi

have_haproxy=0
have_socat=0
have_microsocks=0
command -v haproxy >/dev/null 2>&1 && have_haproxy=1
command -v socat >/dev/null 2>&1 && have_socat=1
command -v microsocks >/dev/null 2>&1 && have_microsocks=1
list=
for t in $TARGETS; do
	case $t in
	direct|proxy|proxysni)
		;;
	proxycopy|proxypoll|proxykq)
		case $t in
		proxycopy)	set -- -DPM_NO_SPLICE ;;
		proxypoll)	set -- -DPM_USE_POLL ;;
		proxykq)	set -- -DPM_USE_KQUEUE $KQSHIM ;;
		esac
		if ! variant $t "$@"; then
			say "run.sh: $t does not build: skipped"
			continue
		fi ;;
	haproxy|haproxy1)
		if [ $have_haproxy = 0 ]; then
			say "run.sh: haproxy is not installed: $t skipped"
			continue
		fi ;;
	socat)
		if [ $have_socat = 0 ]; then
			say "run.sh: socat is not installed: socat skipped"
			continue
		fi ;;
	socks5)
		say "run.sh: socks5: the socks5 router, the same flags"
		echo "run.sh: socks5: the socks5 router, the same flags" \
		    >> "$T/builds"
		if ! ${CC:-cc} -std=c99 -D_DEFAULT_SOURCE ${CFLAGS:--O2} \
		    -DPM_MAXCONN=10240 -o "$T/socks5" "$TOP/proxymachine.c" \
		    "$TOP/small.c" "$TOP/routers/socks5.c" >&2; then
			say "run.sh: socks5 does not build: skipped"
			continue
		fi ;;
	microsocks)
		if [ $have_microsocks = 0 ]; then
			say "run.sh: microsocks is not installed: microsocks" \
			    "skipped"
			continue
		fi ;;
	*)
		say "run.sh: unknown target $t"
		exit 2 ;;
	esac
	list="$list $t"
done
TARGETS=$list

# --- Descriptors ----------------------------------------------------------

# A proxy needs two descriptors per connection.  Raise the limits as far
# as this shell may; every process started below inherits them.
ulimit -Hn 65536 2>/dev/null
ulimit -n "$(ulimit -Hn)" 2>/dev/null
NOFILE=$(ulimit -n)
case $NOFILE in
unlimited)	NOFILE=1048576 ;;
esac
# Connections a proxy can hold: two descriptors each, a few spare, and
# what proxymachine keeps beside its pool (PM_RESERVE_FDS, 16, and two per
# splice pipe, PM_PIPES 64): with fewer, the pool is full before the idle
# connections are all open, and the probe, silent meanwhile, is closed.
FDCAP=$(( (NOFILE - 64 - 16 - 2 * 64) / 2 ))
HAMAXCONN=$FDCAP
[ $HAMAXCONN -gt 20000 ] && HAMAXCONN=20000

# --- Targets -----------------------------------------------------------

BPORT=$("$PMB" port) || exit 2
"$PMB" backend -p "$BPORT" -t 3600 &
BPID=$!
PIDS="$PIDS $BPID"
"$PMB" wait -p "$BPORT" -t 10 || { say "run.sh: no backend"; exit 2; }

# The custom router's table: every request line goes to the backend, and
# there is no default, so the proxy must read and match the first bytes.
table()
{
	for _w in UP DOWN RR CONN IDLE '\x16\x03'; do
		printf '%s\t127.0.0.1:%s\n' "$_w" "$1"
	done
}
# proxysni's: the same, but the tls workload's ClientHello goes by its
# server name, www.example.org, the last of eight sni lines after an alpn
# line, as a site with a few names and an ACME client would have; its
# prefix line goes nowhere.
table_sni()
{
	table "$1" | sed '$d'
	printf 'alpn\tacme-tls/1\t127.0.0.1:1\n'
	for _n in a b c d e f g; do
		printf 'sni\t%s.example.net\t127.0.0.1:1\n' $_n
	done
	printf 'sni\twww.example.org\t127.0.0.1:%s\n' "$1"
	printf '\\x16\\x03\t127.0.0.1:1\n'
}
table "$BPORT" > "$T/custom.conf"

# Writes the HAProxy configuration for target $1 on port $2 to backend $3.
haproxy_cfg()
{
	cat <<EOF
# HAProxy in TCP mode, with a content rule: like proxymachine, it waits
# for the client's first bytes before it connects to the backend.
global
	maxconn $HAMAXCONN
EOF
	[ "$1" = haproxy1 ] && printf '\tnbthread 1\n'
	cat <<EOF
defaults
	mode tcp
	timeout connect 5s
	timeout client 60s
	timeout server 60s
frontend fe
	bind 127.0.0.1:$2
	maxconn $HAMAXCONN
	tcp-request inspect-delay 5s
	tcp-request content accept if { req.len gt 0 }
	default_backend be
backend be
	server b 127.0.0.1:$3
EOF
}

# Starts target $1 on port $2 in front of the backend on port $3; sets TPID
# (empty for direct).  Returns 1 when it does not listen within 10 s.
start()
{
	TPID=
	case $1 in
	direct)
		return 0 ;;
	proxy|proxysni|proxystatic|proxycopy|proxypoll|proxykq)
		table "$3" > "$T/custom-$2.conf"
		[ $1 = proxysni ] && table_sni "$3" > "$T/custom-$2.conf"
		case $1 in
		proxy|proxysni)	_b=$PM ;;
		proxystatic)	_b=$PMS ;;
		*)		_b=$T/$1 ;;
		esac
		"$_b" $PM_FLAGS -c "$T/custom-$2.conf" -h 127.0.0.1 \
		    -p "$2" 2>/dev/null &
		;;
	haproxy|haproxy1)
		haproxy_cfg "$1" "$2" "$3" > "$T/$1-$2.cfg"
		haproxy -db -f "$T/$1-$2.cfg" 2>>"$T/haproxy.log" &
		;;
	socks5)
		# No table: an open proxy, as microsocks is.
		"$T/socks5" $PM_FLAGS -h 127.0.0.1 -p "$2" 2>/dev/null &
		;;
	microsocks)
		microsocks -i 127.0.0.1 -p "$2" >/dev/null 2>&1 &
		;;
	socat)
		# Its listen backlog is 5 unless told: 4096 as the others.
		_o=bind=127.0.0.1,reuseaddr,fork,backlog=4096
		socat TCP-LISTEN:"$2,$_o" TCP:127.0.0.1:"$3" 2>/dev/null &
		;;
	esac
	TPID=$!
	PIDS="$PIDS $TPID"
	if ! "$PMB" wait -p "$2" -t 10; then
		say "run.sh: $1 does not listen on port $2"
		return 1
	fi
}

for t in $TARGETS; do
	p=$("$PMB" port) || exit 2
	[ $t = direct ] && p=$BPORT
	start "$t" "$p" "$BPORT" || exit 2
	eval "port_$t=\$p pid_$t=\$TPID"
done

# --- Header ------------------------------------------------------------

say "run.sh: $ROUNDS rounds of: $WORKS; idle: ${IDLE:-none}"
{
	echo "proxymachine benchmark (bench/run.sh)," \
	    "$(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "machine: $(uname -sr), $(getconf _NPROCESSORS_ONLN 2>/dev/null \
	    || echo '?') CPUs, fd limit $NOFILE"
	echo "proxy: $PMBUILD: $("$PM" -V 2>&1 | head -n 1)${PM_FLAGS:+," \
	    "flags $PM_FLAGS}"
	for t in $TARGETS; do
		case $t in
		proxycopy|proxypoll|proxykq)
			echo "$t: $(sed -n "s/^run.sh: $t: //p" "$T/builds"):" \
			    "$("$T/$t" -V 2>&1 | head -n 1)" ;;
		esac
	done
	[ -n "$PMS" ] && echo "proxy, static: make ... static," \
	    "$(wc -c < "$PMS") bytes (idle memory only)"
	[ $have_haproxy = 1 ] && echo "haproxy: $(haproxy -v 2>&1 |
	    head -n 1 | cut -c1-60)"
	[ $have_socat = 1 ] && echo "socat: $(socat -V 2>&1 |
	    sed -n 's/^socat version \([^ ]*\).*/\1/p')"
	case " $TARGETS " in
	*" socks5 "*)
		echo "socks5: $(sed -n 's/^run.sh: socks5: //p' "$T/builds"):" \
		    "$("$T/socks5" -V 2>&1 | head -n 1)" ;;
	esac
	case " $TARGETS " in
	*" microsocks "*)
		echo "microsocks: $(dpkg-query -W -f '${Version}' microsocks \
		    2>/dev/null || echo '?'); both SOCKS5 targets are" \
		    "asked for the backend on every connection (pmbench -S)" ;;
	esac
	echo "runs: $ROUNDS rounds, conn/rr $SECS s, bulk $BYTES, targets" \
	    "interleaved"
} > "$T/header"

# --- Rounds ------------------------------------------------------------

# Prints the targets with the first $1 moved to the end.
rotate()
{
	_n=$1
	shift
	while [ "$_n" -gt 0 ]; do
		_x=$1
		shift
		set -- "$@" "$_x"
		_n=$((_n - 1))
	done
	echo "$@"
}

ntargets=$(echo $TARGETS | wc -w)
# Returns whether target $1 runs workload $2 (idle: the idle connections).
runs()
{
	case $1:$2 in
	proxycopy:up*|proxycopy:down*)	return 0 ;;
	proxypoll:idle|proxykq:idle)	return 0 ;;
	microsocks:up*|socks5:tls|microsocks:tls) return 1 ;;
	proxycopy:*|proxypoll:*|proxykq:*) return 1 ;;
	proxysni:tls)			return 0 ;;
	proxysni:*)			return 1 ;;
	direct:idle|socat:idle)		return 1 ;;
	esac
	return 0
}
# Runs workload $3 of round $1 against target $2; appends the result.
run()
{
	eval "_port=\$port_$2 _pid=\$pid_$2"
	if [ -n "$_pid" ] && ! kill -0 "$_pid" 2>/dev/null; then
		echo "round=$1 target=$2 work=$3 ok=0 error=\"target died\"" \
		    >> "$RAW"
		return
	fi
	case $3 in
	up1)	set -- "$1" "$2" "$3" up -s 1 -b "$BYTES" -T 120 ;;
	up8)	set -- "$1" "$2" "$3" up -s 8 -b "$BYTES" -T 120 ;;
	down1)	set -- "$1" "$2" "$3" down -s 1 -b "$BYTES" -T 120 ;;
	down8)	set -- "$1" "$2" "$3" down -s 8 -b "$BYTES" -T 120 ;;
	conn)	set -- "$1" "$2" "$3" conn -c 50 -t "$SECS" -T 60 ;;
	tls)	set -- "$1" "$2" "$3" tls -c 50 -t "$SECS" -T 60 ;;
	rr)	set -- "$1" "$2" "$3" rr -c 50 -t "$SECS" -T 60 ;;
	*)	say "run.sh: unknown workload $3"; exit 2 ;;
	esac
	_r=$1 _t=$2 _w=$3
	shift 3
	case $_t in
	socks5|microsocks)	set -- "$@" -S "$BPORT" ;;
	esac
	_line=$("$PMB" "$@" -p "$_port" ${_pid:+-P "$_pid"} 2>&1 |
	    tail -n 1)
	echo "round=$_r target=$_t work=$_w $_line" >> "$RAW"
	case $_line in
	*ok=1*)	;;
	*)	say "run.sh: $_t $_w: $_line" ;;
	esac
}

r=1
while [ $r -le "$ROUNDS" ]; do
	say "run.sh: round $r of $ROUNDS"
	for w in $WORKS; do
		for t in $(rotate $(( (r - 1) % ntargets )) $TARGETS); do
			runs $t $w && run $r $t $w
		done
	done
	r=$((r + 1))
done

# --- Idle connections ------------------------------------------------------

# A fresh target for every run (the resident memory of a process that
# served the runs above says nothing about idle connections), in front of
# a backend of its own (so that the TIME_WAIT of 10000 closed connections
# stays off the ports of the runs above).  socat forks a process per
# connection: it is left out.
if [ -n "$IDLE" ]; then
	B2=$("$PMB" port) || exit 2
	"$PMB" backend -p "$B2" -t 3600 &
	B2PID=$!
	PIDS="$PIDS $B2PID"
	"$PMB" wait -p "$B2" -t 10 || { say "run.sh: no backend"; exit 2; }
	for n in 0 $IDLE; do
		# The probe connection and a few spare descriptors.
		m=$n
		if [ "$n" -gt $((FDCAP - 8)) ]; then
			m=$((FDCAP - 8))
			echo "note: idle$n: the descriptor limit ($NOFILE)" \
			    "caps a proxy at $FDCAP connections: measured" \
			    "at $m" >> "$T/notes"
		fi
		r=1
		while [ $r -le "$ROUNDS" ]; do
			_ts=$(rotate $(( (r - 1) % ntargets )) $TARGETS)
			[ "$n" = 0 ] && [ -n "$PMS" ] && _ts="$_ts proxystatic"
			for t in $_ts; do
				runs $t idle || continue
				p=$("$PMB" port) || exit 2
				start "$t" "$p" "$B2" || exit 2
				sleep 0.2
				_sx=
				case $t in
				socks5|microsocks)	_sx="-S $B2" ;;
				esac
				line=$("$PMB" idle -n "$m" -t "$idlesecs" \
				    -T 60 -p "$p" -P "$TPID" $_sx 2>&1 |
				    tail -n 1)
				# The static build's figures go in the proxy's
				# column, as a workload of their own.
				w=idle$n
				[ $t = proxystatic ] && t=proxy w=idle0s
				echo "round=$r target=$t work=$w $line" \
				    >> "$RAW"
				case $line in
				*ok=1*)	;;
				*)	say "run.sh: $t idle$n: $line" ;;
				esac
				stop "$TPID"
			done
			r=$((r + 1))
		done
		say "run.sh: idle $n done"
	done
fi

# --- Memory back after a burst ---------------------------------------------

# A fresh proxy: its RSS idle, then at the end of a burst of 200 streams
# from a backend (buffers lent from the budget, -m), then each 100 ms
# until it is back within 512 KiB of idle (at most 10 s): buffers free
# for a second give their pages back.
case " $TARGETS " in
*" proxy "*)
	B3=$("$PMB" port) || exit 2
	"$PMB" backend -p "$B3" -t 3600 &
	PIDS="$PIDS $!"
	"$PMB" wait -p "$B3" -t 10 || { say "run.sh: no backend"; exit 2; }
	r=1
	while [ $r -le "$ROUNDS" ]; do
		p=$("$PMB" port) || exit 2
		start proxy "$p" "$B3" || exit 2
		sleep 0.5
		rss0=$("$PMB" stat -P "$TPID" | sed -n 's/.*rss_kib=\([0-9]*\).*/\1/p')
		"$PMB" down -p "$p" -s 200 -b 400m -P "$TPID" -T 120 \
		    >/dev/null 2>&1
		peak=$("$PMB" stat -P "$TPID" | sed -n 's/.*rss_kib=\([0-9]*\).*/\1/p')
		ms=0
		rss=$peak
		while [ "$ms" -lt 10000 ] && [ "${rss:-0}" -gt $((rss0 + 512)) ]
		do
			sleep 0.1
			ms=$((ms + 100))
			rss=$("$PMB" stat -P "$TPID" |
			    sed -n 's/.*rss_kib=\([0-9]*\).*/\1/p')
		done
		echo "round=$r target=proxy work=burst ok=1 rss0_kib=$rss0" \
		    "peak_kib=$peak after_kib=$rss back_ms=$ms" >> "$RAW"
		stop "$TPID"
		r=$((r + 1))
	done
	say "run.sh: burst done"
	;;
esac

[ -n "${PMB_OUT:-}" ] && cp "$RAW" "$PMB_OUT"

# --- Table -------------------------------------------------------------------

cat "$T/header"
[ -f "$T/notes" ] && sort -u "$T/notes"
awk -v targets="$TARGETS" -v idle="$IDLE" -v fdcap="$FDCAP" '
function num(x) { return x + 0 }
# The median of the n values in a[1..n].
function median(a, n,    i, j, x) {
	for (i = 2; i <= n; i++) {
		x = a[i]
		for (j = i - 1; j >= 1 && a[j] > x; j--)
			a[j + 1] = a[j]
		a[j + 1] = x
	}
	if (n % 2)
		return a[(n + 1) / 2]
	return (a[n / 2] + a[n / 2 + 1]) / 2
}
function fmt(x) {
	if (x == "")
		return "-"
	if (x >= 1000 || x <= -1000)
		return sprintf("%.0f", x)
	if (x >= 100 || x <= -100)
		return sprintf("%.1f", x)
	return sprintf("%.2f", x)
}
# Median over the rounds of target t, workload w, key k ("" if none).
function med(t, w, k,    r, n, a) {
	n = 0
	for (r = 1; r <= maxround; r++)
		if ((t, w, k, r) in v)
			a[++n] = v[t, w, k, r]
	return n ? median(a, n) : ""
}
# Median over the rounds of the ratio of t to ref in the same round.
function ratio(t, ref, w, k,    r, n, a) {
	n = 0
	for (r = 1; r <= maxround; r++)
		if ((t, w, k, r) in v && (ref, w, k, r) in v &&
		    v[ref, w, k, r] > 0)
			a[++n] = v[t, w, k, r] / v[ref, w, k, r]
	return n ? median(a, n) : ""
}
function row(label, w, k, vsdirect, vsproxy,    i, t, x, line, any) {
	line = sprintf("%-24s", label)
	any = 0
	for (i = 1; i <= nt; i++) {
		t = tl[i]
		x = med(t, w, k)
		if (x == "" && (t, w) in failed)
			x = "FAIL"
		else {
			if (x != "")
				any = 1
			x = fmt(x)
		}
		line = line sprintf("%11s", x)
	}
	if (!any)
		return
	print line
	if (vsdirect && hasdirect)
		ratios("  x direct", "direct", w, k)
	if (hashaproxy)
		ratios("  x haproxy", "haproxy", w, k)
	if (vsproxy && hasbuilds)
		ratios("  x proxy", "proxy", w, k)
	if (hasmicro && (("socks5", w, k, 1) in v))
		ratios("  x microsocks", "microsocks", w, k)
}
function ratios(label, ref, w, k,    i, line) {
	line = sprintf("%-24s", label)
	for (i = 1; i <= nt; i++)
		line = line sprintf("%11s", fmt(ratio(tl[i], ref, w, k)))
	print line
}
{
	err = ""
	if (match($0, / error=".*"$/)) {
		err = substr($0, RSTART + 8, RLENGTH - 9)
		$0 = substr($0, 1, RSTART - 1)
	}
	split("", f)
	for (i = 1; i <= NF; i++)
		if ((j = index($i, "=")) > 0)
			f[substr($i, 1, j - 1)] = substr($i, j + 1)
	r = num(f["round"])
	if (r > maxround)
		maxround = r
	t = f["target"]
	w = f["work"]
	if (f["ok"] != "1") {
		failed[t, w] = 1
		nfail[t]++
		failmsg[t] = failmsg[t] sprintf("  %s round %d %s: %s\n", t,
		    r, w, err)
		# A short idle run still tells the memory it reached.
		if (w !~ /^idle/ || f["open"] == "")
			next
	}
	runs[t]++
	for (k in f)
		if (k != "round" && k != "target" && k != "work" &&
		    k != "mode" && k != "ok")
			v[t, w, k, r] = num(f[k])
	if (w ~ /^idle/ && f["open"] != "" && num(f["open"]) < num(f["conns"]))
		capped[t, w] = f["open"]
}
END {
	nt = split(targets, tl, " ")
	for (i = 1; i <= nt; i++) {
		if (tl[i] == "direct")
			hasdirect = 1
		if (tl[i] == "haproxy")
			hashaproxy = 1
		if (tl[i] == "proxy")
			hasproxy = 1
		if (tl[i] ~ /^proxy(sni|copy|poll|kq)$/)
			hasbuilds = 1
		if (tl[i] == "microsocks")
			hasmicro = 1
	}
	hasbuilds = hasbuilds && hasproxy
	print ""
	print "Medians of " maxround " rounds; x direct and x haproxy: the" \
	    " median of the ratios"
	print "taken round by round.  Lower is better where marked (-)."
	print ""
	line = sprintf("%-24s", "")
	for (i = 1; i <= nt; i++)
		line = line sprintf("%11s", tl[i])
	print line
	row("up, 1 stream, MiB/s", "up1", "mib_s", 1)
	row("up, 8 streams, MiB/s", "up8", "mib_s", 1)
	row("down, 1 stream, MiB/s", "down1", "mib_s", 1)
	row("down, 8 streams, MiB/s", "down8", "mib_s", 1)
	row("conn/s, 50 at a time", "conn", "conn_s", 1)
	row("(-) conn p99, us", "conn", "p99_us", 1)
	row("TLS hello conn/s", "tls", "conn_s", 1, 1)
	row("(-) TLS hello p99, us", "tls", "p99_us", 1, 1)
	row("rr req/s, 50 conns", "rr", "req_s", 1)
	row("(-) rr p50, us", "rr", "p50_us", 1)
	row("(-) rr p99, us", "rr", "p99_us", 1)
	print ""
	print "CPU of the proxy process (threads and reaped children):"
	row("(-) s/GiB up 1", "up1", "cpu_s_per_gib", 0, 1)
	row("(-) s/GiB up 8", "up8", "cpu_s_per_gib", 0, 1)
	row("(-) s/GiB down 1", "down1", "cpu_s_per_gib", 0, 1)
	row("(-) s/GiB down 8", "down8", "cpu_s_per_gib", 0, 1)
	row("(-) us/conn", "conn", "cpu_us_per_conn", 0, 1)
	row("(-) us/conn, TLS hello", "tls", "cpu_us_per_conn", 0, 1)
	row("(-) us/req (rr)", "rr", "cpu_us_per_req", 0, 1)
	ni = split(idle, il, " ")
	if (ni > 0) {
		print ""
		print "Memory, fresh process; KiB/conn = (RSS - RSS idle) / n:"
		row("(-) RSS idle, KiB", "idle0", "rss0_kib", 0)
		row("(-) RssAnon idle, KiB", "idle0", "anon0_kib", 0)
		row("(-) RSS idle, static, KiB", "idle0s", "rss0_kib", 0)
		for (i = 1; i <= ni; i++) {
			w = "idle" il[i]
			row("(-) RSS " il[i] " idle, KiB", w, "rss_kib", 0)
			row("(-) KiB/conn at " il[i], w, "kib_per_conn", 0)
		}
		print ""
		print "Memory back after a burst of 200 streams (a fresh proxy):"
		row("(-) RSS idle, KiB", "burst", "rss0_kib", 0)
		row("(-) RSS at the end of the burst, KiB", "burst",
		    "peak_kib", 0)
		row("(-) RSS after, KiB", "burst", "after_kib", 0)
		row("(-) ms until within 512 KiB of idle", "burst",
		    "back_ms", 0)
		print ""
		print "CPU per request of one rr connection beside n idle" \
		    " ones (~2 wake-ups):"
		row("(-) us, n = 0", "idle0", "probe_cpu_us_per_req", 0, 1)
		for (i = 1; i <= ni; i++)
			row("(-) us, n = " il[i], "idle" il[i],
			    "probe_cpu_us_per_req", 0, 1)
		row("(-) p50 us, n = 0", "idle0", "probe_p50_us", 0, 1)
		for (i = 1; i <= ni; i++)
			row("(-) p50 us, n = " il[i], "idle" il[i],
			    "probe_p50_us", 0, 1)
		for (i = 1; i <= ni; i++)
			for (j = 1; j <= nt; j++)
				if ((tl[j], "idle" il[i]) in capped)
					printf("note: %s held %s of %s idle" \
					    " connections\n", tl[j],
					    capped[tl[j], "idle" il[i]], il[i])
	}
	print ""
	for (i = 1; i <= nt; i++) {
		t = tl[i]
		printf("%s: %d runs, %d failed (byte count, pattern or" \
		    " half-close)\n", t, runs[t] + nfail[t], nfail[t])
		if (nfail[t])
			printf("%s", failmsg[t])
	}
	if (("proxysni", "tls", "cpu_us_per_conn", 1) in v) {
		print ""
		print "Issue 13 target, proxysni (by server name) x proxy " \
		    "(by prefix):"
		goal("TLS hello CPU/conn <= 1.05x", ratio("proxysni", "proxy",
		    "tls", "cpu_us_per_conn"), "<=", 1.05)
	}
	if (!hashaproxy || !(("proxy", "up1", "mib_s", 1) in v))
		exit
	print ""
	print "Issue 4 targets, proxy:"
	goal("up 1 >= 1.15x haproxy", ratio("proxy", "haproxy", "up1",
	    "mib_s"), ">=", 1.15)
	goal("up 8 >= 1.15x haproxy", ratio("proxy", "haproxy", "up8",
	    "mib_s"), ">=", 1.15)
	goal("down 1 >= 1.15x haproxy", ratio("proxy", "haproxy", "down1",
	    "mib_s"), ">=", 1.15)
	goal("down 8 >= 1.15x haproxy", ratio("proxy", "haproxy", "down8",
	    "mib_s"), ">=", 1.15)
	goal("conn/s >= 1.2x haproxy", ratio("proxy", "haproxy", "conn",
	    "conn_s"), ">=", 1.2)
	goal("conn p99 <= haproxy", ratio("proxy", "haproxy", "conn",
	    "p99_us"), "<=", 1)
	goal("req/s >= 1.15x haproxy", ratio("proxy", "haproxy", "rr",
	    "req_s"), ">=", 1.15)
	goal("rr p99 <= 900 us", med("proxy", "rr", "p99_us"), "<=", 900)
	worst = ""
	split("up1 up8 down1 down8", bw, " ")
	for (i = 1; i <= 4; i++) {
		x = med("proxy", bw[i], "cpu_s_per_gib")
		if (x != "" && (worst == "" || x > worst))
			worst = x
	}
	goal("CPU <= 0.45 s/GiB (worst)", worst, "<=", 0.45)
	goal("CPU <= 40 us/conn", med("proxy", "conn", "cpu_us_per_conn"),
	    "<=", 40)
	goal("RSS idle <= 256 KiB", med("proxy", "idle0", "rss0_kib"), "<=",
	    256)
	goal("RSS idle, static <= 256 KiB", med("proxy", "idle0s",
	    "rss0_kib"), "<=", 256)
	goal("RssAnon idle <= 256 KiB", med("proxy", "idle0", "anon0_kib"),
	    "<=", 256)
	for (i = 1; i <= ni; i++)
		goal("<= 1 KiB/conn at " il[i], med("proxy", "idle" il[i],
		    "kib_per_conn"), "<=", 1)
	goal("no failed run", nfail["proxy"] + 0, "<=", 0)
}
function goal(label, x, op, lim,    ok) {
	if (x == "") {
		printf("  ----  %-28s (not measured)\n", label)
		return
	}
	ok = op == ">=" ? x >= lim : x <= lim
	printf("  %s  %-28s %s\n", ok ? "pass" : "FAIL", label, fmt(x))
}
' "$RAW"

grep -q 'ok=0' "$RAW" && exit 1
exit 0

# tests/proxy.sh: several listeners in one process, and the PROXY
# protocol both ways, with the test router ("p1", "p2", "h1", "h2", "l1":
# a PROXY header of that version to backend A, to HAProxy or to the late
# backend; "where": the listener and the client the router saw).  The
# echo backend A shows the header it was sent; HAProxy (with accept-proxy
# on a bind, logging the source it saw) checks it as a real
# implementation does, and sends one itself (send-proxy, send-proxy-v2)
# in front of a listener given with -a.  Clients connect from 127.0.0.2,
# so that the address passed on is not the proxy's own.
#
# Sourced by test.sh after tests/lib.sh and start_backends, with $PM,
# $CONF and the backends' ports set.  POSIX sh.  Every function and
# variable here starts with px_ or PX_.

PX=$T/proxy
mkdir -p "$PX"
# The v2 signature, as pmtest send reads it and as tohex writes it.
PX_V2SIG='\r\n\r\n\0\r\nQUIT\n'
PX_SIG='0d 0a 0d 0a 00 0d 0a 51 55 49 54 0a'

# px_start ARGS...: starts the test router's proxy with ARGS (its
# listeners) and the table PX_CONF; sets PX_PID and PX_LOG; waits for the
# first port given with -p or -a on H (or PX_WAITHOST).
px_start()
{
	PX_LOG=$PX/pm.$(freeport).log
	spawn $RUN "$PM" -v -c "$PX_CONF" "$@" 2>"$PX_LOG"
	PX_PID=$LASTPID
	waitport "${PX_WAITHOST:-$H}" "$PX_PORT" || {
		echo "proxy did not start:" >&2
		cat "$PX_LOG" >&2
		return 1
	}
}

# px_send HOST PORT DATA [options]: the reply, sent from 127.0.0.2 when
# HOST is 127.0.0.1.
px_send()
{
	_pxh=$1
	_pxp=$2
	_pxd=$3
	shift 3
	if [ "$_pxh" = "$H" ]; then
		set -- -s 127.0.0.2 "$@"
	fi
	"$PMTEST" send "$_pxh" "$_pxp" "$_pxd" "$@" 2>/dev/null
}

# px_check NAME CONDITION...: ok when the command CONDITION succeeds.
px_check()
{
	_pxn=$1
	shift
	if "$@"; then
		ok "$_pxn"
	else
		fail "$_pxn" "${PX_WHY:-}"
	fi
	PX_WHY=
}

# px_match STRING PATTERN: whether STRING matches the shell PATTERN, or
# says what it is in PX_WHY.
px_match()
{
	case $1 in
	$2)	return 0 ;;
	esac
	PX_WHY="got '$1'"
	return 1
}

# --- PROXY headers to the backend, as the echo backend sees them --------

px_send_echo()
{
	PX_CONF=$PX/echo.conf
	cat >"$PX_CONF" <<-EOF
	a	$H:$PA
	late	$H:$PL
	EOF
	PX_PORT=$(freeport)
	px_start -h $H -p "$PX_PORT" || { fail "proxy starts"; return; }
	_crlf=$(printf '\r')
	_r=$(px_send $H "$PX_PORT" p1)
	px_check "proxy=1: A gets a TCP4 header with the real client" \
	    px_match "$_r" "$PA:PROXY TCP4 127.0.0.2 127.0.0.1 [0-9]* $PX_PORT$_crlf
p1"
	logwait 10 "$PX_LOG" "close: done; 127.0.0.2:[0-9]* -> $H:$PA; 2 bytes up"
	px_check "proxy=1: the header is not counted in the bytes up" \
	    grep -q "close: done; 127.0.0.2:[0-9]* -> $H:$PA; 2 bytes up" \
	    "$PX_LOG"
	_r=$(px_send $H "$PX_PORT" p2 | tohex)
	# TAG: then the signature, 21 (v2, PROXY), 11 (TCP over IPv4),
	# 12 bytes of addresses, 127.0.0.2, 127.0.0.1, two ports, "p2".
	_tag=$(printf '%s:' "$PA" | tohex)
	_dp=$(printf '%04x' "$PX_PORT" | sed 's/\(..\)\(..\)/\1 \2/')
	px_check "proxy=2: A gets a v2 header, TCP4, the real client" \
	    px_match "$_r" "$_tag $PX_SIG 21 11 00 0c 7f 00 00 02 7f 00 00 01 \
?? ?? $_dp 70 32"
	# The retry that works sends the header once, on its own attempt.
	late_up
	_late=$LASTPID
	# The client stays (-k): one that ends its stream is not retried.
	_r=$(px_send $H "$PX_PORT" l1 -k -t 2)
	logwait 10 "$PX_LOG" "connect $H:$PL failed: .*retrying"
	px_check "retries: the attempt that works after a refusal has it" \
	    px_match "$_r" "$PL:PROXY TCP4 127.0.0.2 127.0.0.1 [0-9]* $PX_PORT$_crlf
l1"
	px_check "... after a refused attempt" grep -q \
	    "connect $H:$PL failed: .*retrying" "$PX_LOG"
	reap "$_late"
	# A backend that closes without a byte, before any of the client's
	# was sent: retried, with a new header in place of the one it took.
	if need "PROXY header sent again after a silent close" python3; then
		spawn python3 -c '
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(5)
open(sys.argv[2], "w").close()
s.settimeout(20)
c = s.accept()[0]
c.recv(200)
c.close()
c = s.accept()[0]
c.settimeout(1)
d = b""
try:
    while True:
        b = c.recv(200)
        if not b:
            break
        d += b
except OSError:
    pass
c.sendall(b"got:" + d)
c.close()' "$PL" "$PX/silent.up"
		_late=$LASTPID
		# Not waitport: its connect would be the one closed.
		waitfor 10 test -e "$PX/silent.up"
		_r=$(px_send $H "$PX_PORT" l0 -k -t 10)
		logwait 10 "$PX_LOG" "close: done; .*:$PL (2 attempts"
		px_check "a silent close after the header: one new header" \
		    px_match "$_r" "got:PROXY TCP4 127.0.0.2 127.0.0.1 \
[0-9]* $PX_PORT$_crlf"
		logwait 10 "$PX_LOG" "close: done; .*:$PL (2 attempts"
		px_check "... on the second attempt, 0 bytes up" grep -q \
		    "close: done; .*:$PL (2 attempts, last: closed); 0 bytes up" \
		    "$PX_LOG"
		reap "$_late"
	fi
	late_down
	reap "$PX_PID"

	if [ -z "$HAVE6" ]; then
		skip "proxy=1 over IPv6" "no IPv6 loopback"
		return
	fi
	PX_PORT=$(freeport)
	PX_WAITHOST=::1
	px_start -h ::1 -p "$PX_PORT" ||
	    { fail "proxy starts on ::1"; PX_WAITHOST=; return; }
	PX_WAITHOST=
	_r=$(px_send ::1 "$PX_PORT" p1)
	px_check "proxy=1 over IPv6: a TCP6 header" \
	    px_match "$_r" "$PA:PROXY TCP6 ::1 ::1 [0-9]* $PX_PORT$_crlf
p1"
	reap "$PX_PID"
	# One listener on :: takes IPv4 too: its clients are TCP4.
	PX_PORT=$("$PMTEST" freeport ::)	# free for IPv4 too
	px_start -h :: -p "$PX_PORT" || { fail "proxy starts on ::"; return; }
	_r=$(px_send $H "$PX_PORT" p1)
	px_check "dual-stack listener, IPv4 client: TCP4, not a mapped TCP6" \
	    px_match "$_r" "$PA:PROXY TCP4 127.0.0.2 127.0.0.1 [0-9]* $PX_PORT$_crlf
p1"
	_r=$(px_send $H "$PX_PORT" p2 | tohex)
	px_check "dual-stack listener, IPv4 client, v2: TCP4 (11)" \
	    px_match "$_r" "$_tag $PX_SIG 21 11 00 0c 7f 00 00 02 7f 00 00 01 *"
	reap "$PX_PID"
}

# The git router's proxy=: the request, after the header.
px_git()
{
	PX_CONF=$PX/git.conf
	printf 'alice\t%s\tconnect=2\tproxy=1\n*\t%s\tproxy=2\n' "$H:$PA" \
	    "$H:$PB" >"$PX_CONF"
	PX_PORT=$(freeport)
	spawn $RUN "$BINDIR/proxymachine-git" -c "$PX_CONF" -h $H \
	    -p "$PX_PORT" 2>"$PX/git.log"
	_g=$LASTPID
	waitport $H "$PX_PORT" || { fail "git proxy starts"; return; }
	_q='git-upload-pack /alice/r.git\0host=x\0'
	_r=$(px_send $H "$PX_PORT" "0028$_q" | tr '\0' '|')
	px_check "git proxy=1: the header, then the request" \
	    px_match "$_r" "$PA:PROXY TCP4 127.0.0.2 127.0.0.1 [0-9]* \
$PX_PORT$(printf '\r')
0028git-upload-pack /alice/r.git|host=x|"
	_r=$(px_send $H "$PX_PORT" '0022git-upload-pack /r.git\0host=x\0' |
	    tohex)
	px_check "git proxy=2 on the default route: a v2 header" \
	    px_match "$_r" "$(printf '%s:' "$PB" | tohex) $PX_SIG 21 11 *"
	reap "$_g"
	printf 'alice\t%s\tproxy=3\n' "$H:$PA" >"$PX/git3.conf"
	badstart "git: proxy=3 is refused at load" "proxy=3: expected" \
	    $RUN "$BINDIR/proxymachine-git" -c "$PX/git3.conf" -h $H \
	    -p "$PX_PORT"
}

# --- accepting a PROXY header (-a) ---------------------------------------

px_accept()
{
	PX_CONF=$PX/echo.conf
	PX_PORT=$(freeport)
	_plain=$(freeport)
	px_start -h $H -a "$PX_PORT" -p "$_plain" ||
	    { fail "proxy starts"; return; }
	_crlf=$(printf '\r')
	_r=$(px_send $H "$PX_PORT" \
	    'PROXY TCP4 192.0.2.7 198.51.100.1 5000 443\r\nwhere')
	px_check "-a: v1 header's client is the router's" \
	    px_match "$_r" "listener 0 $H:$PX_PORT peer 192.0.2.7:5000"
	_r=$(px_send $H "$PX_PORT" \
	    'PROXY TCP6 2001:db8::7 2001:db8::1 5000 443\r\np1')
	px_check "-a: v1 TCP6 header, passed on as it came" \
	    px_match "$_r" "$PA:PROXY TCP6 2001:db8::7 2001:db8::1 5000 443$_crlf
p1"
	logwait 10 "$PX_LOG" "close: done; \[2001:db8::7\]:5000 -> $H:$PA;"
	px_check "-a: the close line names the header's client" grep -q \
	    "close: done; \[2001:db8::7\]:5000 -> $H:$PA; 2 bytes up" "$PX_LOG"
	# 192.0.2.9:5000 to 198.51.100.1:443.
	_v2='\x21\x11\x00\x0c\xc0\x00\x02\x09\xc6\x33\x64\x01\x13\x88\x01\xbb'
	_v2="$PX_V2SIG${_v2}where"
	_r=$(px_send $H "$PX_PORT" "$_v2")
	px_check "-a: v2 header's client is the router's" \
	    px_match "$_r" "listener 0 $H:$PX_PORT peer 192.0.2.9:5000"
	_r=$(px_send $H "$PX_PORT" '\r\n\r\n\0\r\nQUIT\n\x20\x00\x00\x00where')
	px_check "-a: v2 LOCAL keeps the connection's own client" \
	    px_match "$_r" "listener 0 $H:$PX_PORT peer 127.0.0.2:*"
	_r=$(px_send $H "$PX_PORT" 'PROXY UNKNOWN\r\nwhere')
	px_check "-a: v1 UNKNOWN keeps the connection's own client" \
	    px_match "$_r" "listener 0 $H:$PX_PORT peer 127.0.0.2:*"
	# The spec: a receiver ignores what follows UNKNOWN.
	_r=$(px_send $H "$PX_PORT" \
	    'PROXY UNKNOWN ffff:f::1 ffff:f::2 1 2 and more\r\nwhere')
	px_check "-a: v1 UNKNOWN with fields after it: they are ignored" \
	    px_match "$_r" "listener 0 $H:$PX_PORT peer 127.0.0.2:*"
	# What is refused: closed, with a line, nothing to the router.
	_n=$(logcount "$PX_LOG" "router closed")
	for _bad in 'GET / HTTP/1.0\r\n\r\n:not a PROXY header' \
	    'PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n:not a PROXY header' \
	    'PROXY TCP4 1.2.3.999 5.6.7.8 1 2\r\n:not a PROXY header' \
	    'PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n:not a PROXY header' \
	    "PROXY $(printf '%0120d' 0):PROXY header too long" \
	    '\r\n\r\n\0\r\nQUIT\n\x31\x11\x00\x0c:unknown version' \
	    "$PX_V2SIG\\x21\\x11\\x00\\x04\\x01\\x02\\x03\\x04:too short for its \
addresses" \
	    '\r\n\r\n\0\r\nQUIT\n\x21\x11\x10\x00:PROXY header too long' \
	    'PROXY TCP4 1.2.3.4 5:client closed before a route'; do
		_d=${_bad%:*}
		_w=${_bad##*:}
		_c=$(logcount "$PX_LOG" "close: .*$_w")
		_r=$(px_send $H "$PX_PORT" "$_d")
		_rc=$?
		logmore 10 "$PX_LOG" "close: .*$_w" "$_c"
		PX_WHY="exit $_rc, '$_r', $(grep ' close: ' "$PX_LOG" |
		    tail -n 1)"
		px_check "-a: refused, closed, logged: $_w ($_d)" eval \
		    '[ $_rc -eq 0 ] && [ -z "$_r" ] &&
		    logabove "$PX_LOG" "close: .*$_w" "$_c"'
	done
	px_check "-a: a refused header never reached the router" \
	    eval '[ "$(logcount "$PX_LOG" "router closed")" -eq "$_n" ]'
	# One that stalls: closed once its time is up (3 s).
	_c=$(logcount "$PX_LOG" "no whole PROXY header within")
	_r=$(px_send $H "$PX_PORT" 'PROXY TCP4' -k -t 20)
	_rc=$?
	logmore 10 "$PX_LOG" "no whole PROXY header within" "$_c"
	px_check "-a: a slow header: closed after 3 s, logged" eval \
	    '[ $_rc -eq 0 ] && [ -z "$_r" ] &&
	    logabove "$PX_LOG" "no whole PROXY header within 3000 ms" "$_c"'
	# A plain listener trusts no header: the router gets its bytes.
	_c=$(logcount "$PX_LOG" "router closed (39 bytes)")
	_r=$(px_send $H "$_plain" 'PROXY TCP4 192.0.2.7 198.51.100.1 5 6\r\n')
	logmore 10 "$PX_LOG" "router closed (39 bytes)" "$_c"
	px_check "plain listener: a PROXY header is the client's bytes" \
	    grep -q "close: router closed (39 bytes); 127.0.0.2:[0-9]* -> -" \
	    "$PX_LOG"
	kill -USR1 "$PX_PID"
	logwait 10 "$PX_LOG" "stats: "
	px_check "stats: bad PROXY headers counted" \
	    grep -q "stats: .* 9 bad PROXY headers; accepted on \
$H:$PX_PORT/proxy [0-9]*, $H:$_plain 1$" \
	    "$PX_LOG"
	reap "$PX_PID"
}

# --- HAProxy: accept-proxy behind, send-proxy in front -------------------

# px_haproxy FILE: starts HAProxy with the configuration FILE, logging to
# $PX/haproxy.log; sets PX_HAP.
px_haproxy()
{
	spawn haproxy -db -f "$1" >>"$PX/haproxy.log" 2>&1
	PX_HAP=$LASTPID
}

px_with_haproxy()
{
	need "PROXY protocol against HAProxy" haproxy || return
	_hb=$(freeport)		# accept-proxy, logs the source
	_hf1=$(freeport)	# send-proxy to the proxy's -a port
	_hf2=$(freeport)	# send-proxy-v2 to it
	PX_PORT=$(freeport)	# the proxy's plain port
	_pa=$(freeport)		# and its -a port
	cat >"$PX/haproxy.cfg" <<-EOF
	global
	    log stdout format raw local0
	    nbthread 1
	defaults
	    mode tcp
	    log global
	    timeout connect 5s
	    timeout client 20s
	    timeout server 20s
	frontend accept
	    bind $H:$_hb accept-proxy
	    log-format "seen src=%ci:%cp dst=%fi:%fp"
	    default_backend echo
	backend echo
	    server a $H:$PA
	frontend front1
	    bind $H:$_hf1
	    default_backend pm1
	backend pm1
	    server pm $H:$_pa send-proxy
	frontend front2
	    bind $H:$_hf2
	    default_backend pm2
	backend pm2
	    server pm $H:$_pa send-proxy-v2
	EOF
	: >"$PX/haproxy.log"
	px_haproxy "$PX/haproxy.cfg"
	if ! waitport $H "$_hb" || ! waitport $H "$_hf2"; then
		fail "haproxy starts" "$(head -c 300 "$PX/haproxy.log")"
		reap "$PX_HAP"
		return
	fi
	PX_CONF=$PX/hap.conf
	cat >"$PX_CONF" <<-EOF
	a	$H:$PA
	hap	$H:$_hb
	EOF
	if [ -n "$HAVE6" ]; then
		px_start -h $H -h ::1 -p "$PX_PORT" -a "$_pa" ||
		    { fail "proxy starts"; reap "$PX_HAP"; return; }
	else
		px_start -h $H -p "$PX_PORT" -a "$_pa" ||
		    { fail "proxy starts"; reap "$PX_HAP"; return; }
	fi
	for _v in 1 2; do
		_n=$(logcount "$PX/haproxy.log" "seen src=127.0.0.2:")
		_r=$(px_send $H "$PX_PORT" "h$_v")
		logmore 10 "$PX/haproxy.log" "seen src=127.0.0.2:" "$_n"
		PX_WHY="reply '$_r'; $(tail -n 2 "$PX/haproxy.log")"
		px_check "HAProxy accept-proxy, proxy=$_v: sees 127.0.0.2" \
		    eval '[ "$_r" = "$PA:h$_v" ] && grep -q \
		    "seen src=127.0.0.2:[0-9]* dst=$H:$PX_PORT$" \
		    "$PX/haproxy.log"'
		if [ -z "$HAVE6" ]; then
			skip "HAProxy accept-proxy, proxy=$_v, IPv6" \
			    "no IPv6 loopback"
			continue
		fi
		_n=$(logcount "$PX/haproxy.log" "seen src=::1:")
		_r=$(px_send ::1 "$PX_PORT" "h$_v")
		logmore 10 "$PX/haproxy.log" "seen src=::1:" "$_n"
		PX_WHY="reply '$_r'; $(tail -n 2 "$PX/haproxy.log")"
		px_check "HAProxy accept-proxy, proxy=$_v, IPv6: sees ::1" \
		    eval '[ "$_r" = "$PA:h$_v" ] && grep -q \
		    "seen src=::1:[0-9]* dst=::1:$PX_PORT$" "$PX/haproxy.log"'
	done
	# HAProxy in front: the proxy's router, log and onward header see
	# the client HAProxy saw.
	for _f in "$_hf1:send-proxy" "$_hf2:send-proxy-v2"; do
		_r=$(px_send $H "${_f%%:*}" where)
		px_check "HAProxy ${_f#*:} in front: the router sees 127.0.0.2" \
		    px_match "$_r" "listener 1 $H:$_pa peer 127.0.0.2:*"
		_n=$(logcount "$PX/haproxy.log" "seen src=127.0.0.2:")
		_c=$(logcount "$PX_LOG" "close: done; 127.0.0.2:")
		_r=$(px_send $H "${_f%%:*}" h1)
		logmore 10 "$PX/haproxy.log" "seen src=127.0.0.2:" "$_n"
		logmore 10 "$PX_LOG" "close: done; 127.0.0.2:" "$_c"
		PX_WHY="reply '$_r'; $(tail -n 1 "$PX/haproxy.log"); $(grep \
		    ' close: ' "$PX_LOG" | tail -n 1)"
		px_check "HAProxy ${_f#*:} in front: 127.0.0.2 logged, sent on" \
		    eval '[ "$_r" = "$PA:h1" ] && grep -q \
		    "close: done; 127.0.0.2:[0-9]* -> $H:$_hb; 2 bytes up" \
		    "$PX_LOG" && grep -q \
		    "seen src=127.0.0.2:[0-9]* dst=$H:${_f%%:*}$" \
		    "$PX/haproxy.log"'
	done
	reap "$PX_PID"
	if [ -n "$HAVE6" ]; then
		# A dual-stack listener: HAProxy sees an IPv4 client, TCP4.
		PX_PORT=$("$PMTEST" freeport ::)
		px_start -h :: -p "$PX_PORT" ||
		    { fail "proxy starts on ::"; reap "$PX_HAP"; return; }
		_n=$(logcount "$PX/haproxy.log" "seen src=127.0.0.2:")
		_r=$(px_send $H "$PX_PORT" h2)
		logmore 10 "$PX/haproxy.log" "seen src=127.0.0.2:" "$_n"
		px_check "HAProxy accept-proxy, dual-stack listener: TCP4 127.0.0.2" \
		    eval '[ "$_r" = "$PA:h2" ] && grep -q \
		    "seen src=127.0.0.2:[0-9]* dst=127.0.0.1:$PX_PORT$" \
		    "$PX/haproxy.log"'
		reap "$PX_PID"
	fi
	reap "$PX_HAP"
}

# --- several listeners ---------------------------------------------------

px_listeners()
{
	PX_CONF=$PX/echo.conf
	PX_PORT=$(freeport)
	_p2=$(freeport)
	if [ -n "$HAVE6" ]; then
		_h2=::1
		_b2="[::1]"
	else
		_h2=127.0.0.2
		_b2=127.0.0.2
	fi
	for _w in 1 2; do
		px_start -h $H -h $_h2 -p "$PX_PORT" -p "$_p2" -w $_w ||
		    { fail "proxy starts with four listeners"; return; }
		waitport $_h2 "$_p2"
		_k=0
		_all=
		for _l in "$H $H:$PX_PORT" "$H $H:$_p2" \
		    "$_h2 $_b2:$PX_PORT" "$_h2 $_b2:$_p2"; do
			_r=$(px_send ${_l%% *} "${_l##*:}" where)
			PX_WHY="got '$_r'"
			px_check "-w $_w: listener $_k (${_l#* }) serves, the router knows it" \
			    [ "${_r%% peer *}" = "listener $_k ${_l#* }" ]
			_k=$((_k + 1))
			_all="$_all ${_l#* }"
		done
		_all=${_all# }
		_re=$(printf '%s' "$_all" | sed 's/[].[]/\\&/g')
		px_check "-w $_w: the start-up line lists every listener" \
		    grep -qF "listening on $_all;" "$PX_LOG"
		if [ $_w = 1 ] && [ -r "/proc/$PX_PID/cmdline" ] &&
		    [ -z "$RUN" ]; then
			_t=$(tr '\0' ' ' <"/proc/$PX_PID/cmdline")
			PX_WHY="'$_t'"
			px_check "the process title lists every listener" \
			    eval 'printf "%s\n" "$_t" |
			    grep -q "^proxymachine .* - test $_re - [0-9/]* conns"'
		fi
		# Each has had a "where", the first and the last a
		# waitport too.
		if [ $_w = 1 ]; then
			kill -USR1 "$PX_PID"
			logwait 10 "$PX_LOG" "stats: "
			PX_WHY=$(grep -o 'accepted on .*' "$PX_LOG")
			px_check "stats: each listener with its connections" \
			    grep -qF "accepted on $H:$PX_PORT 2, $H:$_p2 1, \
$_b2:$PX_PORT 1, $_b2:$_p2 2" \
			    "$PX_LOG"
		fi
		reap "$PX_PID"
	done
	# A table that routes to any listener is refused.
	for _l in "$H:$_p2" "$_b2:$PX_PORT"; do
		printf 'a\t%s\n' "$_l" >"$PX/self.conf"
		_re=$(printf '%s' "$_l" | sed 's/[].[]/\\&/g')
		badstart "a table routing to listener $_l: refused as self" \
		    "'$_re' is this proxy's own listening address ($_re)" \
		    $RUN "$PM" -c "$PX/self.conf" -h $H -h $_h2 \
		    -p "$PX_PORT" -p "$_p2"
	done
	badstart "more than 8 listeners: refused" "more than 8 listeners" \
	    $RUN "$PM" -c "$PX_CONF" -h $H -h $_h2 -p 1 -p 2 -p 3 -p 4 -a 5
}

px_send_echo
px_git
px_accept
px_with_haproxy
px_listeners

# tests/custom.sh: the custom router sharing one port among HTTP (curl and
# python3's web server), TLS (curl and openssl s_server), an SSH-like
# banner and a default backend that speaks first, all tagged echo
# backends where they can be.
# POSIX sh.  Sourced by test.sh after tests/lib.sh, with $BINDIR set.
# Every function and variable here starts with cu_ or CU_.

CU_BIN=$BINDIR/proxymachine-custom

# cu_hex: print standard input as hex bytes separated by single blanks.
cu_hex()
{
	od -An -v -tx1 | tr -s ' \n' '  ' | sed 's/^ //; s/ $//'
}

# cu_send PORT DATA [OPTION...]: send DATA (with pmtest's escapes) to
# PORT with pmtest and print the reply in hex, then pmtest's exit status
# unless it is 0: pmtest exits 0 only once the proxy has closed the
# connection, so an empty reply from a proxy that never took the
# connection, or never closed it, matches no expected reply.
cu_send()
{
	cu_sp=$1
	cu_sd=$2
	shift 2
	timeout 60 "$PMTEST" send 127.0.0.1 "$cu_sp" "$cu_sd" "$@" \
	    >"$T/cusend.out" 2>/dev/null
	cu_rc=$?
	cu_h=$(cu_hex <"$T/cusend.out")
	if [ $cu_rc -eq 0 ]; then
		printf '%s\n' "$cu_h"
	else
		printf '%s(pmtest exit %d)\n' "$cu_h" $cu_rc
	fi
}

# cu_text STRING: print STRING (printf escapes) in hex.
cu_text()
{
	printf "$1" | cu_hex
}

# cu_expect NAME GOT WANT: one assertion that GOT is WANT.
cu_expect()
{
	if [ "$2" = "$3" ]; then
		ok "$1"
	else
		fail "$1" "got '$2', want '$3'"
	fi
}

# cu_logged NAME LOG PATTERN: one assertion that LOG gets a line matching
# PATTERN within 10 s.
cu_logged()
{
	if waitfor 10 grep -q -e "$3" "$2"; then
		ok "$1"
	else
		fail "$1" "no line matching '$3' in $2"
	fi
}

# cu_proxy TABLE LOG: start the proxy on a new port, in $CU_PP, its PID
# in $CU_PID.
cu_proxy()
{
	CU_PP=$(freeport)
	spawn $RUN "$CU_BIN" -c "$1" -h 127.0.0.1 -p "$CU_PP" 2>"$2"
	CU_PID=$LASTPID
	waitport 127.0.0.1 "$CU_PP"
}

# cu_table FILE: write the test table, routing SSH- to the backend
# tagged $1, to FILE.
cu_table()
{
	cat >"$2" <<-EOF
	# The test table.  Prefixes with quotes, escapes and comments.
	SSH-		127.0.0.1:$cu_ep	# an SSH banner: tag $1
	\\x16\\x03	127.0.0.1:${cu_tp:-1}	connect=2
	"GET "		127.0.0.1:${cu_hp:-1}	connect=2 idle=300
	"HEAD "		127.0.0.1:${cu_hp:-1}
	POST\\ 		127.0.0.1:${cu_hp:-1}
	"GET /esc\\x41"	127.0.0.1:$cu_xp
	\\0\\x01\\r\\n\\t	127.0.0.1:$cu_xp
	"a\\"b c\\\\d"	127.0.0.1:$cu_xp
	"*"		127.0.0.1:$cu_xp
	"wait"		127.0.0.1:$cu_xp
	\\#hash		127.0.0.1:$cu_xp
	IDLE		127.0.0.1:$cu_xp	idle=0.5
	BAD		close	"no\\r\\n"
	QUIET		close
	*		127.0.0.1:$cu_dp
	wait		1
	EOF
	if [ "$1" = X ]; then
		sed "s/^SSH-.*/SSH- 127.0.0.1:$cu_xp/" "$2" >"$2.new" &&
		    mv "$2.new" "$2"
	fi
}

cu_main()
{
	if [ ! -x "$CU_BIN" ]; then
		fail "custom: binary" "$CU_BIN is missing"
		return
	fi
	# Two parts need tools: HTTP (curl, python3's web server) and TLS
	# (curl, openssl s_server and s_client); each is skipped without
	# them.  The rest speaks through pmtest.
	cu_http=1
	need "custom: HTTP, curl to python3's web server" curl python3 ||
	    cu_http=0
	cu_tls=1
	need "custom: TLS, curl and openssl s_client to openssl s_server" \
	    curl openssl || cu_tls=0

	# Backends: SSH (tag SSH), escapes (tag X), the default (tag DEF,
	# which speaks first), and with the tools a web server and a TLS
	# server.
	cu_ep=$(freeport)
	spawn "$PMTEST" echo 127.0.0.1 "$cu_ep" SSH
	cu_epid=$LASTPID
	cu_xp=$(freeport)
	spawn "$PMTEST" echo 127.0.0.1 "$cu_xp" X
	cu_xpid=$LASTPID
	cu_dp=$(freeport)
	spawn "$PMTEST" echo 127.0.0.1 "$cu_dp" DEF -b
	cu_dpid=$LASTPID
	cu_hp=
	cu_tp=
	if [ $cu_http = 1 ]; then
		mkdir -p "$T/cuwww"
		echo 'a small file' >"$T/cuwww/small"
		cu_hp=$(freeport)
		spawn python3 -m http.server --bind 127.0.0.1 \
		    --directory "$T/cuwww" "$cu_hp" >"$T/cuhttp.log" 2>&1
		cu_hpid=$LASTPID
	fi
	if [ $cu_tls = 1 ]; then
		if openssl req -x509 -newkey rsa:2048 -nodes -days 1 \
		    -subj /CN=localhost -keyout "$T/cukey.pem" \
		    -out "$T/cucert.pem" >/dev/null 2>&1; then
			cu_tp=$(freeport)
			spawn openssl s_server -accept "127.0.0.1:$cu_tp" \
			    -cert "$T/cucert.pem" -key "$T/cukey.pem" -www \
			    -quiet </dev/null >"$T/cutls.log" 2>&1
			cu_tpid=$LASTPID
		else
			fail "custom: a self-signed certificate" \
			    "openssl req failed"
		fi
	fi
	for cu_p in $cu_ep $cu_xp $cu_dp $cu_hp $cu_tp; do
		waitport 127.0.0.1 "$cu_p"
	done

	CU_TABLE=$T/custom.conf
	CU_LOG=$T/custom.log
	cu_table SSH "$CU_TABLE"
	cu_proxy "$CU_TABLE" "$CU_LOG"
	cu_logged "custom: the table is loaded" "$CU_LOG" \
	    "14 prefixes from .*, default 127.0.0.1:$cu_dp, wait 1000 ms"

	# HTTP and TLS with real clients.
	if [ -n "$cu_hp" ]; then
		if timeout 60 curl -sS --max-time 60 -o "$T/cusmall" \
		    "http://127.0.0.1:$CU_PP/small" &&
		    cmp -s "$T/cuwww/small" "$T/cusmall"; then
			ok "custom: curl GET reaches the web server"
		else
			fail "custom: curl GET reaches the web server"
		fi
		cu_expect "custom: curl HEAD reaches the web server" \
		    "$(timeout 60 curl -sS --max-time 60 -I -o /dev/null \
		    -w '%{http_code}' "http://127.0.0.1:$CU_PP/small")" 200
		# python3's server has no POST: its 501 says who answered.
		cu_expect "custom: curl POST reaches the web server" \
		    "$(timeout 60 curl -sS --max-time 60 -d x -o /dev/null \
		    -w '%{http_code}' "http://127.0.0.1:$CU_PP/small")" 501
		if timeout 60 "$PMTEST" send 127.0.0.1 "$CU_PP" \
		    'GET /small HTTP/1.0\r\n\r\n' -b 2>/dev/null |
		    grep -q 'a small file'; then
			ok "custom: an HTTP request one byte at a time"
		else
			fail "custom: an HTTP request one byte at a time"
		fi
	fi
	if [ -n "$cu_tp" ]; then
		if timeout 60 curl -sSk --max-time 60 \
		    "https://127.0.0.1:$CU_PP/" 2>&1 | grep -q 's_server'
		then
			ok "custom: curl -k over TLS reaches s_server"
		else
			fail "custom: curl -k over TLS reaches s_server"
		fi
		if echo Q | timeout 60 openssl s_client -connect \
		    "127.0.0.1:$CU_PP" 2>&1 | grep -q 'CN *= *localhost'
		then
			ok "custom: openssl s_client gets the certificate"
		else
			fail "custom: openssl s_client gets the certificate"
		fi
	fi

	# The SSH banner, whole and one byte at a time.
	cu_want=$(cu_text 'SSH:SSH-2.0-test\r\n')
	cu_expect "custom: an SSH banner" \
	    "$(cu_send "$CU_PP" 'SSH-2.0-test\r\n')" "$cu_want"
	cu_expect "custom: an SSH banner one byte at a time" \
	    "$(cu_send "$CU_PP" 'SSH-2.0-test\r\n' -b)" "$cu_want"

	# Escapes and quotes in the table; the longest prefix wins, also
	# when it comes one byte at a time.
	cu_expect "custom: a hex escape in quotes, longest prefix first" \
	    "$(cu_send "$CU_PP" 'GET /escAPE')" "$(cu_text 'X:GET /escAPE')"
	cu_expect "custom: the longest prefix one byte at a time" \
	    "$(cu_send "$CU_PP" 'GET /escA' -b)" "$(cu_text 'X:GET /escA')"
	cu_expect "custom: NUL, hex, CR, LF and tab escapes" \
	    "$(cu_send "$CU_PP" '\0\x01\r\n\t')" \
	    '58 3a 00 01 0d 0a 09'
	cu_expect "custom: a quoted blank, an escaped quote and backslash" \
	    "$(cu_send "$CU_PP" 'a"b c\\d')" "$(cu_text 'X:a"b c\\d')"
	cu_expect "custom: a quoted * is a prefix" \
	    "$(cu_send "$CU_PP" '*x')" "$(cu_text 'X:*x')"
	cu_expect "custom: a quoted wait is a prefix" \
	    "$(cu_send "$CU_PP" 'wait')" "$(cu_text 'X:wait')"
	cu_expect "custom: an escaped # and a trailing comment" \
	    "$(cu_send "$CU_PP" '#hash')" "$(cu_text 'X:#hash')"

	# The default: bytes that match no prefix at once, and a client
	# that says nothing (or too little) for the wait.
	cu_expect "custom: unknown bytes go to the default" \
	    "$(cu_send "$CU_PP" 'xyz\n')" "$(cu_text 'DEF:hello\nDEF:xyz\n')"
	cu_expect "custom: a silent client reaches the default" \
	    "$(cu_send "$CU_PP" 'late' -w 4000)" \
	    "$(cu_text 'DEF:hello\nDEF:late')"
	cu_logged "custom: the wait is logged" "$CU_LOG" \
	    'nothing new for 1000 ms after "": default'
	# The default backend keeps that connection open: pmtest stops
	# after its 4 s, the reply printed.
	cu_expect "custom: a partial prefix then silence" \
	    "$(cu_send "$CU_PP" 'GE' -k -t 4)" \
	    "$(cu_text 'DEF:hello\nDEF:GE')(pmtest exit 1)"

	# Close lines, and the idle= option.
	cu_expect "custom: close with a reply" \
	    "$(cu_send "$CU_PP" 'BAD request' -k)" "$(cu_text 'no\r\n')"
	cu_expect "custom: close without a reply" \
	    "$(cu_send "$CU_PP" 'QUIET' -k)" ""
	cu_expect "custom: idle=0.5 closes an idle connection" \
	    "$(cu_send "$CU_PP" 'IDLE' -k -t 30)" "$(cu_text 'X:IDLE')"

	# SIGHUP: SSH- moves to the X backend; then a bad table is refused
	# and the table in force stays.
	cu_table X "$CU_TABLE"
	kill -HUP "$CU_PID"
	cu_logged "custom: SIGHUP reloads" "$CU_LOG" "reloaded $CU_TABLE"
	cu_expect "custom: the reloaded table routes" \
	    "$(cu_send "$CU_PP" 'SSH-2.0-test\r\n')" \
	    "$(cu_text 'X:SSH-2.0-test\r\n')"
	printf 'SSH- 127.0.0.1:%s\n\\q 127.0.0.1:1\n' "$cu_ep" >"$CU_TABLE"
	kill -HUP "$CU_PID"
	cu_logged "custom: a bad reload is reported" "$CU_LOG" \
	    "$CU_TABLE:2: unknown escape \\\\q"
	cu_expect "custom: a bad reload keeps the table" \
	    "$(cu_send "$CU_PP" 'SSH-2.0-test\r\n')" \
	    "$(cu_text 'X:SSH-2.0-test\r\n')"
	reap "$CU_PID"

	# No default: what matches nothing is closed, and logged.
	printf 'SSH- 127.0.0.1:%s\nwait 0.5\n' "$cu_ep" >"$T/cunodef.conf"
	cu_proxy "$T/cunodef.conf" "$T/cunodef.log"
	cu_expect "custom: no default: unknown bytes are closed" \
	    "$(cu_send "$CU_PP" 'xyz' -k -t 30)" ""
	cu_logged "custom: no default: the close is logged" \
	    "$T/cunodef.log" '"xyz" matches no prefix and there is no default'
	cu_expect "custom: no default: a silent client is closed" \
	    "$(cu_send "$CU_PP" '' -k -t 30)" ""
	cu_logged "custom: no default: the silent close is logged" \
	    "$T/cunodef.log" 'silent, "" matches no prefix'
	cu_expect "custom: no default: a prefix still routes" \
	    "$(cu_send "$CU_PP" 'SSH-1')" "$(cu_text 'SSH:SSH-1')"
	reap "$CU_PID"

	# Decided at the client's end of file ("GE" may still become
	# "GET "): the backend gets the bytes and the end of file, and its
	# answer, given only then, comes back.
	cu_ap=$(freeport)
	spawn "$PMTEST" echo 127.0.0.1 "$cu_ap" EOF -e
	cu_apid=$LASTPID
	waitport 127.0.0.1 "$cu_ap"
	printf '"GET " 127.0.0.1:%s\n* 127.0.0.1:%s\n' "$cu_xp" "$cu_ap" \
	    >"$T/cueof.conf"
	cu_proxy "$T/cueof.conf" "$T/cueof.log"
	cu_expect "custom: decided at the client's end of file: relayed, ends" \
	    "$(cu_send "$CU_PP" 'GE' -t 10)" "$(cu_text 'EOF:GE')"
	reap "$CU_PID"
	reap "$cu_apid"

	# A table may not route to the proxy's own listener: its address, or
	# any address of the host when it listens on all of them.
	for cu_h in 127.0.0.1/127.0.0.1 0.0.0.0/127.0.0.2; do
		cu_to=${cu_h#*/}
		cu_h=${cu_h%/*}
		cu_pp=$(freeport)
		printf '* %s:%s\n' "$cu_to" "$cu_pp" >"$T/cuself.conf"
		bounded 10 $RUN "$CU_BIN" -c "$T/cuself.conf" -h "$cu_h" \
		    -p "$cu_pp" 2>"$T/cuself.log" >/dev/null
		cu_rc=$?
		if [ $cu_rc -ne 0 ] && [ $cu_rc -ne 124 ] && grep -q \
		    "cuself.conf:1: .*this proxy's own listening address" \
		    "$T/cuself.log"; then
			ok "custom: a table routing to -h $cu_h itself: error"
		else
			fail "custom: a table routing to -h $cu_h itself: error" \
			    "exit $cu_rc, $(head -c 200 "$T/cuself.log")"
		fi
	done

	# Bad tables: the program exits non-zero before it listens, with
	# file:line.  The port is the SSH backend's: a proxy that tried to
	# listen before it read its table would fail to bind, and say so.
	for cu_bad in 'SSH- 127.0.0.1' '\q 127.0.0.1:1' '"open 127.0.0.1:1' \
	    'x 127.0.0.1:1 conect=2' 'x 127.0.0.1:1 idle=1.2345' \
	    '* 127.0.0.1:1' '"" 127.0.0.1:1' 'x close a b' 'wait 1' \
	    '\x4 127.0.0.1:1' 'x' 'a b c d e' 'x 127.0.0.1:1 connect=-1'; do
		printf '# ok\n* 127.0.0.1:1\nwait 2\n%s\n' "$cu_bad" \
		    >"$T/cubad.conf"
		bounded 10 $RUN "$CU_BIN" -c "$T/cubad.conf" -h 127.0.0.1 \
		    -p "$cu_ep" 2>"$T/cubad.log" >/dev/null
		cu_rc=$?
		if [ $cu_rc -ne 0 ] && [ $cu_rc -ne 124 ] &&
		    grep -q "$T/cubad.conf:4: " "$T/cubad.log" &&
		    ! grep -q -e listen -e bind "$T/cubad.log"; then
			ok "custom: bad table line '$cu_bad'"
		else
			fail "custom: bad table line '$cu_bad'" \
			    "exit $cu_rc, $(head -c 200 "$T/cubad.log")"
		fi
	done
	bounded 10 $RUN "$CU_BIN" -h 127.0.0.1 -p "$cu_ep" \
	    2>"$T/cubad.log" >/dev/null
	cu_rc=$?
	if [ $cu_rc -ne 0 ] && [ $cu_rc -ne 124 ] &&
	    grep -q 'needs a table' "$T/cubad.log" &&
	    ! grep -q -e listen -e bind "$T/cubad.log"; then
		ok "custom: no -c is an error"
	else
		fail "custom: no -c is an error" "exit $cu_rc"
	fi
	printf '# empty\n' >"$T/cubad.conf"
	bounded 10 $RUN "$CU_BIN" -c "$T/cubad.conf" -h 127.0.0.1 \
	    -p "$cu_ep" 2>"$T/cubad.log" >/dev/null
	cu_rc=$?
	if [ $cu_rc -ne 0 ] && [ $cu_rc -ne 124 ] &&
	    grep -q 'no prefix and no default' "$T/cubad.log" &&
	    ! grep -q -e listen -e bind "$T/cubad.log"; then
		ok "custom: an empty table is an error"
	else
		fail "custom: an empty table is an error" "exit $cu_rc"
	fi

	for cu_p in $cu_epid $cu_xpid $cu_dpid ${cu_hpid:-} ${cu_tpid:-}; do
		reap "$cu_p"
	done
}

cu_main

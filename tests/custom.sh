# tests/custom.sh: the custom router sharing one port among HTTP (curl and
# python3's web server), TLS (curl and openssl s_server), an SSH-like
# banner and a default backend that speaks first, all tagged echo
# backends where they can be.
# POSIX sh.  Sourced by test.sh after tests/lib.sh, with $BINDIR set.
# Every function and variable here starts with cu_ or CU_.

CU_BIN=$BINDIR/proxymachine-custom

# cu_proxy TABLE LOG: start the proxy on a new port, in $CU_PP, its PID
# in $CU_PID.
cu_proxy()
{
	CU_PP=$(freeport)
	spawn $RUN "$CU_BIN" -c "$1" -h 127.0.0.1 -p "$CU_PP" 2>"$2"
	CU_PID=$LASTPID
	waitport 127.0.0.1 "$CU_PP"
}

# cu_table TAG FILE: write the test table, routing SSH- to the backend
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
	"q #x"		127.0.0.1:$cu_xp	# a quoted #
	h#x		127.0.0.1:$cu_xp	# a # inside a field
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
	logged "custom: the table is loaded" "$CU_LOG" \
	    "16 prefixes, 0 name lines, 0 client rules from .*, default 127.0.0.1:$cu_dp, wait 1000 ms"

	# HTTP and TLS with real clients.
	if [ -n "$cu_hp" ]; then
		timeout 60 curl -sS --max-time 60 -o "$T/cusmall" \
		    "http://127.0.0.1:$CU_PP/small"
		check "custom: curl GET reaches the web server" \
		    cmp -s "$T/cuwww/small" "$T/cusmall"
		is "custom: curl HEAD reaches the web server" \
		    "$(timeout 60 curl -sS --max-time 60 -I -o /dev/null \
		    -w '%{http_code}' "http://127.0.0.1:$CU_PP/small")" 200
		# python3's server has no POST: its 501 says who answered.
		is "custom: curl POST reaches the web server" \
		    "$(timeout 60 curl -sS --max-time 60 -d x -o /dev/null \
		    -w '%{http_code}' "http://127.0.0.1:$CU_PP/small")" 501
		timeout 60 "$PMTEST" send 127.0.0.1 "$CU_PP" \
		    'GET /small HTTP/1.0\r\n\r\n' -b >"$T/cuout" 2>/dev/null
		check "custom: an HTTP request one byte at a time" \
		    grep -q 'a small file' "$T/cuout"
	fi
	if [ -n "$cu_tp" ]; then
		timeout 60 curl -sSk --max-time 60 \
		    "https://127.0.0.1:$CU_PP/" >"$T/cuout" 2>&1
		check "custom: curl -k over TLS reaches s_server" \
		    grep -q 's_server' "$T/cuout"
		echo Q | timeout 60 openssl s_client -connect \
		    "127.0.0.1:$CU_PP" >"$T/cuout" 2>&1
		check "custom: openssl s_client gets the certificate" \
		    grep -q 'CN *= *localhost' "$T/cuout"
	fi

	# The SSH banner, whole and one byte at a time.
	cu_want=$(tohex 'SSH:SSH-2.0-test\r\n')
	is "custom: an SSH banner" \
	    "$(sendhex "$CU_PP" 'SSH-2.0-test\r\n')" "$cu_want"
	is "custom: an SSH banner one byte at a time" \
	    "$(sendhex "$CU_PP" 'SSH-2.0-test\r\n' -b)" "$cu_want"

	# Escapes and quotes in the table; the longest prefix wins, also
	# when it comes one byte at a time.
	is "custom: a hex escape in quotes, longest prefix first" \
	    "$(sendhex "$CU_PP" 'GET /escAPE')" "$(tohex 'X:GET /escAPE')"
	is "custom: the longest prefix one byte at a time" \
	    "$(sendhex "$CU_PP" 'GET /escA' -b)" "$(tohex 'X:GET /escA')"
	is "custom: NUL, hex, CR, LF and tab escapes" \
	    "$(sendhex "$CU_PP" '\0\x01\r\n\t')" \
	    '58 3a 00 01 0d 0a 09'
	is "custom: a quoted blank, an escaped quote and backslash" \
	    "$(sendhex "$CU_PP" 'a"b c\\d')" "$(tohex 'X:a"b c\\d')"
	is "custom: a quoted * is a prefix" \
	    "$(sendhex "$CU_PP" '*x')" "$(tohex 'X:*x')"
	is "custom: a quoted wait is a prefix" \
	    "$(sendhex "$CU_PP" 'wait')" "$(tohex 'X:wait')"
	is "custom: an escaped # and a trailing comment" \
	    "$(sendhex "$CU_PP" '#hash')" "$(tohex 'X:#hash')"
	is "custom: a quoted # after a blank" \
	    "$(sendhex "$CU_PP" 'q #x')" "$(tohex 'X:q #x')"
	is "custom: a # inside a field" \
	    "$(sendhex "$CU_PP" 'h#x')" "$(tohex 'X:h#x')"

	# The default: bytes that match no prefix at once, and a client
	# that says nothing (or too little) for the wait.
	is "custom: unknown bytes go to the default" \
	    "$(sendhex "$CU_PP" 'xyz\n')" "$(tohex 'DEF:hello\nDEF:xyz\n')"
	is "custom: a silent client reaches the default" \
	    "$(sendhex "$CU_PP" 'late' -w 4000)" \
	    "$(tohex 'DEF:hello\nDEF:late')"
	logged "custom: the wait is logged" "$CU_LOG" \
	    'nothing new for 1000 ms after "": default'
	# The default backend keeps that connection open: pmtest stops
	# after its 4 s, the reply printed.
	is "custom: a partial prefix then silence" \
	    "$(sendhex "$CU_PP" 'GE' -k -t 4)" \
	    "$(tohex 'DEF:hello\nDEF:GE')(pmtest exit 1)"

	# Close lines, and the idle= option.
	is "custom: close with a reply" \
	    "$(sendhex "$CU_PP" 'BAD request' -k)" "$(tohex 'no\r\n')"
	is "custom: close without a reply" \
	    "$(sendhex "$CU_PP" 'QUIET' -k)" ""
	is "custom: idle=0.5 closes an idle connection" \
	    "$(sendhex "$CU_PP" 'IDLE' -k -t 30)" "$(tohex 'X:IDLE')"

	# SIGHUP: SSH- moves to the X backend; then a bad table is refused
	# and the table in force stays.
	cu_table X "$CU_TABLE"
	kill -HUP "$CU_PID"
	logged "custom: SIGHUP reloads" "$CU_LOG" "reloaded $CU_TABLE"
	is "custom: the reloaded table routes" \
	    "$(sendhex "$CU_PP" 'SSH-2.0-test\r\n')" \
	    "$(tohex 'X:SSH-2.0-test\r\n')"
	printf 'SSH- 127.0.0.1:%s\n\\q 127.0.0.1:1\n' "$cu_ep" >"$CU_TABLE"
	kill -HUP "$CU_PID"
	logged "custom: a bad reload is reported" "$CU_LOG" \
	    "$CU_TABLE:2: unknown escape \\\\q"
	is "custom: a bad reload keeps the table" \
	    "$(sendhex "$CU_PP" 'SSH-2.0-test\r\n')" \
	    "$(tohex 'X:SSH-2.0-test\r\n')"
	reap "$CU_PID"

	# No default: what matches nothing is closed, and logged.
	printf 'SSH- 127.0.0.1:%s\nwait 0.5\n' "$cu_ep" >"$T/cunodef.conf"
	cu_proxy "$T/cunodef.conf" "$T/cunodef.log"
	is "custom: no default: unknown bytes are closed" \
	    "$(sendhex "$CU_PP" 'xyz' -k -t 30)" ""
	logged "custom: no default: the close is logged" \
	    "$T/cunodef.log" '"xyz" matches no line and there is no default'
	is "custom: no default: a silent client is closed" \
	    "$(sendhex "$CU_PP" '' -k -t 30)" ""
	logged "custom: no default: the silent close is logged" \
	    "$T/cunodef.log" 'silent, "" matches no line'
	is "custom: no default: a prefix still routes" \
	    "$(sendhex "$CU_PP" 'SSH-1')" "$(tohex 'SSH:SSH-1')"
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
	is "custom: decided at the client's end of file: relayed, ends" \
	    "$(sendhex "$CU_PP" 'GE' -t 10)" "$(tohex 'EOF:GE')"
	reap "$CU_PID"
	reap "$cu_apid"

	# A table may not route to the proxy's own listener: its address, or
	# any address of the host when it listens on all of them.
	for cu_h in 127.0.0.1/127.0.0.1 0.0.0.0/127.0.0.2; do
		cu_to=${cu_h#*/}
		cu_h=${cu_h%/*}
		cu_pp=$(freeport)
		printf '* %s:%s\n' "$cu_to" "$cu_pp" >"$T/cuself.conf"
		badstart "custom: a table routing to -h $cu_h itself: error" \
		    "cuself.conf:1: .*this proxy's own listening address" \
		    $RUN "$CU_BIN" -c "$T/cuself.conf" -h "$cu_h" -p "$cu_pp"
	done

	# Bad tables: the program exits non-zero before it listens, with
	# file:line.  The port is the SSH backend's: a proxy that tried to
	# listen before it read its table would fail to bind, and say so.
	for cu_bad in 'SSH- 127.0.0.1' '\q 127.0.0.1:1' '"open 127.0.0.1:1' \
	    'x 127.0.0.1:1 conect=2' 'x 127.0.0.1:1 idle=1.2345' \
	    '* 127.0.0.1:1' '"" 127.0.0.1:1' 'x close a b' 'wait 1' \
	    '\x4 127.0.0.1:1' 'x' 'a b c d e' 'x 127.0.0.1:1 connect=-1' \
	    '"x #y 127.0.0.1:1' 'x\'; do
		printf '# ok\n* 127.0.0.1:1\nwait 2\n%s\n' "$cu_bad" \
		    >"$T/cubad.conf"
		badstart "custom: bad table line '$cu_bad'" "$T/cubad.conf:4: " \
		    $RUN "$CU_BIN" -c "$T/cubad.conf" -h 127.0.0.1 -p "$cu_ep"
	done
	badstart "custom: no -c is an error" 'needs a table' \
	    $RUN "$CU_BIN" -h 127.0.0.1 -p "$cu_ep"
	printf '# empty\n' >"$T/cubad.conf"
	badstart "custom: an empty table is an error" \
	    'no prefix and no default' \
	    $RUN "$CU_BIN" -c "$T/cubad.conf" -h 127.0.0.1 -p "$cu_ep"

	for cu_p in $cu_epid $cu_xpid $cu_dpid ${cu_hpid:-} ${cu_tpid:-}; do
		reap "$cu_p"
	done
}

cu_main

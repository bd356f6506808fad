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
	    "16 prefixes, 0 name lines, 0 client rules from .*, default \
127.0.0.1:$cu_dp, wait 1000 ms"

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
	    '"x #y 127.0.0.1:1' 'x\' 'sni' 'sni a_b!c 127.0.0.1:1' \
	    'sni *. 127.0.0.1:1' 'sni a..b 127.0.0.1:1' \
	    'host a:x 127.0.0.1:1' \
	    'alpn "" 127.0.0.1:1' 'x 127.0.0.1:1 proxy=3' \
	    'x 127.0.0.1:1 from=300.0.0.0/8' 'x 127.0.0.1:1 from=10.0.0.1/8' \
	    'x 127.0.0.1:1 listen=a' 'x close "r" connect=1' 'allow' \
	    'deny 10.0.0.0/8 a b' 'allow 1::/129' 'x close from=any x'; do
		printf '# ok\n* 127.0.0.1:1\nwait 2\n%s\n' "$cu_bad" \
		    >"$T/cubad.conf"
		badstart "custom: bad table line '$cu_bad'" \
		    "$T/cubad.conf:4: " \
		    $RUN "$CU_BIN" -c "$T/cubad.conf" -h 127.0.0.1 -p "$cu_ep"
	done
	badstart "custom: no -c is an error" 'needs a table' \
	    $RUN "$CU_BIN" -h 127.0.0.1 -p "$cu_ep"
	printf '# empty\n' >"$T/cubad.conf"
	badstart "custom: an empty table is an error" \
	    'no prefix and no default' \
	    $RUN "$CU_BIN" -c "$T/cubad.conf" -h 127.0.0.1 -p "$cu_ep"

	cu_names
	cu_pp
	cu_equiv
	cu_rules
	cu_examples
	for cu_p in $cu_epid $cu_xpid $cu_dpid ${cu_hpid:-} ${cu_tpid:-}; do
		reap "$cu_p"
	done
}

# cu_tlsbe NAME: start openssl s_server with a new self-signed certificate
# for CN NAME.test, serving the file who ("tls NAME") with -WWW; its port
# in $cu_sp, its PID in $cu_spid.  Returns 1 when openssl req fails.
cu_tlsbe()
{
	mkdir -p "$T/cus$1" || return 1
	echo "tls $1" >"$T/cus$1/who"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
	    -nodes -days 1 -subj "/CN=$1.test" -keyout "$T/cus$1/key.pem" \
	    -out "$T/cus$1/cert.pem" >/dev/null 2>&1 || return 1
	cu_sp=$(freeport)
	spawn sh -c 'cd "$1" && exec openssl s_server -accept "127.0.0.1:$2" \
	    -cert cert.pem -key key.pem -WWW -quiet </dev/null >/dev/null \
	    2>&1' sh "$T/cus$1" "$cu_sp"
	cu_spid=$LASTPID
	waitport 127.0.0.1 "$cu_sp"
}

# cu_webbe NAME: start python3's web server on a directory whose file
# who holds "web NAME"; its port in $cu_wp, its PID in $cu_wpid.
cu_webbe()
{
	mkdir -p "$T/cuw$1" && echo "web $1" >"$T/cuw$1/who"
	cu_wp=$(freeport)
	spawn python3 -m http.server --bind 127.0.0.1 --directory "$T/cuw$1" \
	    "$cu_wp" >/dev/null 2>&1
	cu_wpid=$LASTPID
	waitport 127.0.0.1 "$cu_wp"
}

# cu_cn SERVERNAME [S_CLIENT-OPTION...]: the CN of the certificate that
# openssl s_client gets through the names proxy (-noservername for none).
cu_cn()
{
	_cun=$1
	shift
	if [ "$_cun" = - ]; then
		set -- -noservername "$@"
	else
		set -- -servername "$_cun" "$@"
	fi
	echo Q | timeout 60 openssl s_client -connect "127.0.0.1:$CU_PP" \
	    "$@" 2>&1 | sed -n 's/^depth=0 CN *= *//p' | head -n 1
}

# cu_route NAME TAG DATA [OPTION...]: DATA (pmtest send, with OPTION)
# reaches the echo backend tagged TAG.
cu_route()
{
	is "$1" "$(sendhex "$CU_PP" "$3" $4)" "$(tohex "$2:$3")"
}

# cu_curl NAME URL-PATH SCHEME [CURL-OPTION...]: what curl gets for
# SCHEME://NAME:PORT/URL-PATH from the names proxy, NAME resolved to
# 127.0.0.1.
cu_curl()
{
	_cuh=$1 _cuu=$2 _cus=$3
	shift 3
	timeout 60 curl -sSk --max-time 60 \
	    --resolve "$_cuh:$CU_PP:127.0.0.1" "$@" \
	    "$_cus://$_cuh:$CU_PP/$_cuu" 2>&1
}

# Routing by name with real clients: openssl s_client (-servername,
# -alpn) and curl over TLS to openssl s_server backends, told apart by
# their certificates' CN and the file each serves; curl over HTTP to
# python3's web servers, told apart by their files; and raw request heads
# from pmtest to tagged echo backends.
cu_names()
{
	cu_nt=0
	[ $cu_tls = 1 ] && [ $cu_http = 1 ] && cu_nt=1
	cu_np=$(freeport)
	spawn "$PMTEST" echo 127.0.0.1 "$cu_np" N
	cu_nppid=$LASTPID
	cu_nd=$(freeport)
	spawn "$PMTEST" echo 127.0.0.1 "$cu_nd" ND
	cu_ndpid=$LASTPID
	cu_pids=
	cu_s1= cu_s2= cu_s3= cu_s4= cu_w1= cu_w2=
	if [ $cu_nt = 1 ]; then
		for cu_n in one two acme tls; do
			if ! cu_tlsbe $cu_n; then
				fail "custom: a certificate for $cu_n.test" \
				    "openssl req failed"
				break
			fi
			cu_pids="$cu_pids $cu_spid"
			case $cu_n in
			one)	cu_s1=$cu_sp ;;
			two)	cu_s2=$cu_sp ;;
			acme)	cu_s3=$cu_sp ;;
			tls)	cu_s4=$cu_sp ;;
			esac
		done
		cu_webbe one
		cu_w1=$cu_wp cu_pids="$cu_pids $cu_wpid"
		cu_webbe two
		cu_w2=$cu_wp cu_pids="$cu_pids $cu_wpid"
	fi
	waitport 127.0.0.1 "$cu_np"
	waitport 127.0.0.1 "$cu_nd"

	cat >"$T/cunames.conf" <<-EOF
	# Loopback clients may use the proxy: first match wins.
	allow 127.0.0.1/32
	allow ::1
	deny any "refused\\r\\n"
	# TLS: an ALPN protocol first, then server names, in table order.
	alpn acme-tls/1		127.0.0.1:${cu_s3:-1}
	sni www.example.org	127.0.0.1:${cu_s1:-1}	connect=2
	sni *.example.org	127.0.0.1:${cu_s2:-1}
	# HTTP by Host.
	host www.example.org	127.0.0.1:${cu_w1:-1}
	host *.example.org:8080	127.0.0.1:$cu_np
	host *.example.org	127.0.0.1:${cu_w2:-1}
	host secret.test 127.0.0.1:${cu_w1:-1} from=10.0.0.0/8 from=fc00::/7
	host secret.test	close "HTTP/1.0 403 Forbidden\\r\\n\\r\\n"
	host fold.test		127.0.0.1:$cu_np
	host other.test		127.0.0.1:${cu_w1:-1}	listen=1
	host other.test		127.0.0.1:${cu_w2:-1}	listen=0
	# Then the prefixes, the longest first.
	\\x16\\x03		127.0.0.1:${cu_s4:-1}
	LST			close "listener 1\\n"	listen=1
	LST			close "listener 0\\n"	listen=0
	SSH-			127.0.0.1:$cu_ep
	*			127.0.0.1:$cu_nd
	wait			1
	EOF
	cu_proxy "$T/cunames.conf" "$T/cunames.log"
	logged "custom: a table of names is loaded" "$T/cunames.log" \
	    "4 prefixes, 11 name lines, 3 client rules from"

	if [ $cu_nt = 1 ]; then
		is "custom: s_client -servername picks the backend" \
		    "$(cu_cn www.example.org)" one.test
		is "custom: a server name in another case, a trailing dot" \
		    "$(cu_cn WWW.Example.ORG.)" one.test
		is "custom: *.example.org takes a name of several labels" \
		    "$(cu_cn a.b.example.org)" two.test
		is "custom: *.example.org does not take example.org" \
		    "$(cu_cn example.org)" tls.test
		is "custom: no server name: the TLS prefix" \
		    "$(cu_cn -)" tls.test
		is "custom: s_client -alpn acme-tls/1: the line before sni" \
		    "$(cu_cn www.example.org -alpn acme-tls/1)" acme.test
		is "custom: s_client -alpn h2,http/1.1: the sni lines" \
		    "$(cu_cn x.example.org -alpn h2,http/1.1)" two.test
		logged "custom: the server name matched is logged" \
		    "$T/cunames.log" 'custom: sni \*\.example\.org'
		is "custom: curl over TLS by server name" \
		    "$(cu_curl www.example.org who https)" "tls one"
		is "custom: curl over TLS, the wildcard" \
		    "$(cu_curl x.example.org who https)" "tls two"
		is "custom: curl over TLS to an IP address (no server name)" \
		    "$(cu_curl 127.0.0.1 who https)" "tls tls"
		is "custom: curl over HTTP by Host (with its port)" \
		    "$(cu_curl www.example.org who http)" "web one"
		is "custom: curl over HTTP, Host in another case, no port" \
		    "$(cu_curl 127.0.0.1 who http \
		    -H 'Host: WWW.EXAMPLE.ORG')" \
		    "web one"
		is "custom: curl over HTTP, the wildcard" \
		    "$(cu_curl a.example.org who http)" "web two"
		is "custom: from= keeps a loopback client off a line" \
		    "$(cu_curl secret.test who http -o /dev/null \
		    -w '%{http_code}')" 403
		is "custom: listen=0 takes the first listener's clients" \
		    "$(cu_curl other.test who http)" "web two"
	fi
	cu_route "custom: host NAME:PORT takes that port only" N \
	    'GET / HTTP/1.0\r\nHost: a.example.org:8080\r\n\r\n'
	cu_route "custom: a folded Host" N \
	    'GET / HTTP/1.1\r\nHost:\r\n fold.test\r\n\r\n'
	cu_route "custom: a folded Host one byte at a time" N \
	    'GET / HTTP/1.1\r\nhost:\r\n\tfold.test\r\n\r\n' -b
	cu_route "custom: a repeated Host is malformed: the default" ND \
	    'GET / HTTP/1.1\r\nHost: fold.test\r\nhost: fold.test\r\n\r\n'
	cu_route "custom: HTTP/1.1 without Host: the default" ND \
	    'GET / HTTP/1.1\r\nAccept: */*\r\n\r\n'
	cu_route "custom: an absolute-form target names the host" N \
	    'GET http://fold.test/ HTTP/1.1\r\nHost: x\r\n\r\n'
	cu_route "custom: HTTP/1.0 needs no Host: absolute-form" N \
	    'GET http://fold.test/ HTTP/1.0\r\n\r\n'
	cu_route "custom: HTTP/1.1 needs Host, absolute-form too" ND \
	    'GET http://fold.test/ HTTP/1.1\r\n\r\n'
	cu_route "custom: a Host with an odd byte matches no wildcard" ND \
	    'GET / HTTP/1.0\r\nHost: a!b.example.org:8080\r\n\r\n'
	is "custom: a head cut short by the client's end: the default" \
	    "$(sendhex "$CU_PP" 'GET / HTTP/1.1\r\nHost: fold.test\r\n')" \
	    "$(tohex 'ND:GET / HTTP/1.1\r\nHost: fold.test\r\n')"
	is "custom: listen=1 never matches with one listener" \
	    "$(sendhex "$CU_PP" 'LST' -k)" "$(tohex 'listener 0\n')"
	logged "custom: ... and the table's load says so" "$T/cunames.log" \
	    "custom: warning: 2 lines with listen=N past the 1 listener \
(0 to 0): never taken"
	is "custom: an SSH banner beside the names" \
	    "$(sendhex "$CU_PP" 'SSH-2.0-test\r\n')" \
	    "$(tohex 'SSH:SSH-2.0-test\r\n')"
	reap "$CU_PID"
	for cu_p in $cu_pids; do
		reap "$cu_p"
	done
}

# cu_hexport HEX HEX: the port of two bytes written in hex, in decimal.
cu_hexport()
{
	[ -n "$1" ] && [ -n "$2" ] && echo $((0x$1$2))
}

# proxy= and listen= end to end, on a proxy with two listeners (-p
# twice): a tagged echo backend shows the PROXY header it received in
# front of the client's bytes, exactly (v1's text, v2's signature,
# addresses and ports, the client's port checked against the close
# line); a listen=1 line takes the same bytes only on the second
# listener, a listen=0 line only on the first, the default the others.
# Clients connect from 127.0.0.2, so that the client's address is not
# the proxy's own.
cu_pp()
{
	cu_pe=$(freeport)
	spawn "$PMTEST" echo 127.0.0.1 "$cu_pe" PP
	cu_pepid=$LASTPID
	cu_pd=$(freeport)
	spawn "$PMTEST" echo 127.0.0.1 "$cu_pd" PD
	cu_pdpid=$LASTPID
	waitport 127.0.0.1 "$cu_pe"
	waitport 127.0.0.1 "$cu_pd"
	cat >"$T/cupp.conf" <<-EOF
	PV1	127.0.0.1:$cu_pe	proxy=1
	PV2	127.0.0.1:$cu_pe	proxy=2
	ONE	close "one\\n"	listen=1
	ZERO	close "zero\\n"	listen=0
	*	127.0.0.1:$cu_pd
	EOF
	cu_p0=$(freeport)
	cu_p1=$(freeport)
	spawn $RUN "$CU_BIN" -c "$T/cupp.conf" -h 127.0.0.1 -p "$cu_p0" \
	    -p "$cu_p1" 2>"$T/cupp.log"
	CU_PID=$LASTPID
	waitport 127.0.0.1 "$cu_p0"
	waitport 127.0.0.1 "$cu_p1"

	# v1: the text, then the client's bytes, through the first
	# listener.
	_cur=$("$PMTEST" send 127.0.0.1 "$cu_p0" PV1 -s 127.0.0.2 -t 20 \
	    2>/dev/null)
	_cusp=$(printf '%s' "$_cur" | sed -n \
	    's/^PP:PROXY TCP4 127\.0\.0\.2 127\.0\.0\.1 \([0-9]*\) .*/\1/p')
	_cuw="PP:PROXY TCP4 127.0.0.2 127.0.0.1 ${_cusp:-?} $cu_p0\r\nPV1"
	is "custom: proxy=1: the backend gets the v1 header, then the bytes" \
	    "$(printf '%s' "$_cur" | tohex)" "$(tohex "$_cuw")"
	logged "custom: ... the header's client port is the connection's" \
	    "$T/cupp.log" \
	    "close: done; 127\.0\.0\.2:${_cusp:-?} -> 127\.0\.0\.1:$cu_pe;"

	# v2: the signature, 21 (v2, PROXY), 11 (TCP over IPv4), 12 bytes
	# of addresses: 127.0.0.2, 127.0.0.1, the client's port and the
	# second listener's; then the client's bytes.
	_cur=$(sendhex "$cu_p1" PV2 -s 127.0.0.2 -t 20)
	_cusp=$(cu_hexport "$(echo "$_cur" | cut -d' ' -f28)" \
	    "$(echo "$_cur" | cut -d' ' -f29)")
	_cuw=$(printf '%04x %04x' "${_cusp:-0}" "$cu_p1" |
	    sed 's/\([0-9a-f][0-9a-f]\)\([0-9a-f][0-9a-f]\)/\1 \2/g')
	_cuw="50 50 3a 0d 0a 0d 0a 00 0d 0a 51 55 49 54 0a 21 11 00 0c \
7f 00 00 02 7f 00 00 01 $_cuw 50 56 32"
	is "custom: proxy=2: the backend gets the v2 header, then the bytes" \
	    "$_cur" "$_cuw"
	logged "custom: ... the header's client port is the connection's" \
	    "$T/cupp.log" \
	    "close: done; 127\.0\.0\.2:${_cusp:-?} -> 127\.0\.0\.1:$cu_pe;"

	# The same bytes to each listener.
	is "custom: listen=0 matches on the first listener" \
	    "$(sendhex "$cu_p0" ZERO)" "$(tohex 'zero\n')"
	is "custom: listen=0 does not match on the second: the default" \
	    "$(sendhex "$cu_p1" ZERO)" "$(tohex 'PD:ZERO')"
	is "custom: listen=1 matches on the second listener" \
	    "$(sendhex "$cu_p1" ONE)" "$(tohex 'one\n')"
	is "custom: listen=1 does not match on the first: the default" \
	    "$(sendhex "$cu_p0" ONE)" "$(tohex 'PD:ONE')"
	check "custom: with two listeners, no warning about listen=1" eval \
	    'grep -q "custom: 4 prefixes" "$T/cupp.log" &&
	    ! grep -q "listen=N past" "$T/cupp.log"'
	reap "$CU_PID"
	reap "$cu_pepid"
	reap "$cu_pdpid"
}

# cu_nc FILE: the first 4 bytes of the reply to FILE, sent whole
# with an end of file after it.
cu_nc()
{
	"$PMTEST" nc 127.0.0.1 "$CU_PP" -t 20 <"$1" >"$T/cunc.out" \
	    2>/dev/null
	head -c 4 "$T/cunc.out"
}

# cu_splits NAME FILE TAG: every way of sending FILE reaches TAG.
cu_splits()
{
	_cusn=$(($(wc -c <"$2") + 1))
	is "$1: whole, cut at each offset, a byte at a time" \
	    "$(timeout 120 "$PMTEST" splits 127.0.0.1 "$CU_PP" "$2" \
	    -d 1)" "$3 $_cusn"
}

# cu_grab FILE SCRIPT: what the client that sh -c SCRIPT runs sends
# first (SCRIPT's $1 is the port to send it to), in FILE.
cu_grab()
{
	_cucp=$(freeport)
	spawn "$PMTEST" capture 127.0.0.1 "$_cucp" "$1" 20
	_cucpid=$LASTPID
	waitport 127.0.0.1 "$_cucp"
	sh -c "$2" sh "$_cucp" </dev/null >/dev/null 2>&1
	waitexit "$_cucpid" 20
	[ "$WAITRC" = 0 ] && [ -s "$1" ]
}

# Byte-at-a-time equivalence: ClientHellos captured from openssl s_client
# and curl, and curl's request head, sent whole, cut at every offset, and
# a byte at a time (pmtest splits) through the proxy to tagged echo
# backends: each must reach the same backend every time.  Then hellos
# made to order: GREASE, records of a few bytes, no server name, a
# malformed one, one cut short, one that fills the buffer.
cu_equiv()
{
	cu_pids=
	for cu_n in SNI ALPN HOST TLS; do
		cu_p=$(freeport)
		spawn "$PMTEST" echo 127.0.0.1 "$cu_p" $cu_n
		cu_pids="$cu_pids $LASTPID"
		eval "cu_e$cu_n=\$cu_p"
		waitport 127.0.0.1 "$cu_p"
	done
	cat >"$T/cuequiv.conf" <<-EOF
	sni www.example.org	127.0.0.1:$cu_eSNI
	alpn h2			127.0.0.1:$cu_eALPN
	host www.example.org	127.0.0.1:$cu_eHOST
	\\x16\\x03		127.0.0.1:$cu_eTLS
	*			127.0.0.1:$cu_nd
	wait			2
	EOF
	cu_proxy "$T/cuequiv.conf" "$T/cuequiv.log"
	# The buffer's size, from the line the proxy logs once it listens.
	waitfor 10 grep -q -e '-byte buffers' "$T/cuequiv.log"
	cu_buf=$(sed -n 's/.* of \([0-9]*\)-byte buffers.*/\1/p' \
	    "$T/cuequiv.log" | head -n 1)

	if [ $cu_tls = 1 ]; then
		if cu_grab "$T/cuh-openssl" 'echo Q | timeout 20 \
		    openssl s_client -connect 127.0.0.1:$1 \
		    -servername www.example.org -alpn h2,http/1.1'; then
			cu_splits "custom: openssl s_client's ClientHello" \
			    "$T/cuh-openssl" SNI
			# Malformed: legacy_version 4.3 (RFC 8446 4.1.2).
			cp "$T/cuh-openssl" "$T/cuh-bad"
			printf '\004' | dd of="$T/cuh-bad" bs=1 seek=9 \
			    conv=notrunc 2>/dev/null
			cu_splits "custom: a malformed hello: the TLS prefix" \
			    "$T/cuh-bad" TLS
			head -c 100 "$T/cuh-openssl" >"$T/cuh-short"
			is "custom: a hello cut short by the client's end" \
			    "$(cu_nc "$T/cuh-short")" "TLS:"
		else
			fail "custom: capture openssl s_client's hello"
		fi
		if cu_grab "$T/cuh-curl" 'timeout 20 curl -sk --resolve \
		    www.example.org:$1:127.0.0.1 https://www.example.org:$1/'
		then
			cu_splits "custom: curl's ClientHello" \
			    "$T/cuh-curl" SNI
		else
			fail "custom: capture curl's hello"
		fi
		if cu_grab "$T/cuh-curlip" \
		    'timeout 20 curl -sk https://127.0.0.1:$1/'; then
			cu_splits "custom: curl's hello to an IP address \
(no SNI, ALPN h2)" "$T/cuh-curlip" ALPN
		else
			fail "custom: capture curl's hello to an IP address"
		fi
	fi
	if [ $cu_http = 1 ]; then
		if cu_grab "$T/cureq-curl" 'timeout 20 curl -s --resolve \
		    www.example.org:$1:127.0.0.1 http://www.example.org:$1/who'
		then
			cu_splits "custom: curl's request head" \
			    "$T/cureq-curl" HOST
		else
			fail "custom: capture curl's request"
		fi
	fi
	printf 'GET /who HTTP/1.1\r\nhOsT: WWW.example.ORG:80\r\n\r\n' \
	    >"$T/cureq-case"
	cu_splits "custom: a Host in mixed case with a port" \
	    "$T/cureq-case" HOST
	"$PMTEST" hello "$T/cuh-grease" www.example.org -g -a h2 -r 7
	cu_splits "custom: GREASE, records of 7 bytes, SNI last" \
	    "$T/cuh-grease" SNI
	"$PMTEST" hello "$T/cuh-alpn" other.test -g -a http/1.1,h2
	cu_splits "custom: GREASE, another name, ALPN h2" \
	    "$T/cuh-alpn" ALPN
	if [ -n "$cu_buf" ] && [ "$cu_buf" -ge 2048 ]; then
		# Up to the buffer, in records of 2^14 bytes: routed by name.
		"$PMTEST" hello "$T/cuh-huge" www.example.org \
		    -p $((cu_buf - 600 > 65000 ? 65000 : cu_buf - 600))
		is "custom: a hello of $(wc -c <"$T/cuh-huge") bytes" \
		    "$(cu_nc "$T/cuh-huge")" "SNI:"
		# Records of one byte: the hello does not fit the buffer.
		if [ "$cu_buf" -le 300000 ]; then
			"$PMTEST" hello "$T/cuh-over" www.example.org -r 1 \
			    -p $((cu_buf / 6))
			is "custom: a hello past the buffer: the TLS prefix" \
			    "$(cu_nc "$T/cuh-over")" "TLS:"
		fi
	else
		skip "custom: hellos as big as the buffer" \
		    "no buffer size in the log"
	fi
	reap "$CU_PID"
	for cu_p in $cu_pids; do
		reap "$cu_p"
	done
}

# Client rules: allow and deny lines, the first that holds the client
# decides, none refuses; over IPv4 and, where ::1 works, IPv6.
cu_rules()
{
	printf '%s\n' 'deny 127.0.0.0/8 "go away\r\n"' 'allow any' \
	    "* 127.0.0.1:$cu_nd" >"$T/curules.conf"
	cu_proxy "$T/curules.conf" "$T/curules.log"
	# It is refused as it connects, its request unread: the core's
	# lingering close keeps the reply from a reset.
	is "custom: a denied client gets the deny line's reply" \
	    "$(sendhex "$CU_PP" 'GET / HTTP/1.0\r\n\r\n' -k)" \
	    "$(tohex 'go away\r\n')"
	logged "custom: the refusal is logged with its network" \
	    "$T/curules.log" 'custom: client refused (127.0.0.0/8)'
	reap "$CU_PID"
	printf '%s\n' 'allow 10.0.0.0/8' 'allow fd00::/8' \
	    "* 127.0.0.1:$cu_nd" >"$T/curules.conf"
	cu_proxy "$T/curules.conf" "$T/curules.log"
	# Closed without a reply: it sends nothing, or the unread bytes
	# would make the close a reset.
	is "custom: a client no allow line holds is closed" \
	    "$(sendhex "$CU_PP" '' -k)" ""
	logged "custom: ... and logged" "$T/curules.log" \
	    'custom: client refused (no allow line holds it)'
	reap "$CU_PID"
	if cu_p6=$("$PMTEST" freeport ::1 2>/dev/null); then
		printf '%s\n' 'allow 127.0.0.1' 'deny ::1/128 "six\n"' \
		    'allow any' "* 127.0.0.1:$cu_nd" >"$T/curules.conf"
		spawn $RUN "$CU_BIN" -c "$T/curules.conf" -h ::1 -p "$cu_p6" \
		    2>"$T/curules6.log"
		CU_PID=$LASTPID
		waitport ::1 "$cu_p6"
		is "custom: an IPv6 client, an IPv6 deny line" \
		    "$("$PMTEST" send ::1 "$cu_p6" x -k | tohex)" \
		    "$(tohex 'six\n')"
		reap "$CU_PID"
		# On a dual-stack listener an IPv4 client is ::ffff:a.b.c.d:
		# a rule written that way holds it (it is read as IPv4).
		printf '%s\n' 'deny ::ffff:127.0.0.0/104 "mapped\n"' \
		    'allow any' "* 127.0.0.1:$cu_nd" >"$T/curules.conf"
		spawn $RUN "$CU_BIN" -c "$T/curules.conf" -h :: -p "$cu_p6" \
		    2>"$T/curules6.log"
		CU_PID=$LASTPID
		waitport 127.0.0.1 "$cu_p6"
		is "custom: an IPv4-mapped deny line holds an IPv4 client" \
		    "$("$PMTEST" send 127.0.0.1 "$cu_p6" x -k | tohex)" \
		    "$(tohex 'mapped\n')"
		reap "$CU_PID"
	else
		skip "custom: IPv6 client rules" "no ::1 on this machine"
	fi
}

# Every example table of this router loads.
cu_examples()
{
	for cu_f in examples/custom*.conf; do
		cu_proxy "$cu_f" "$T/cuex.log"
		logged "custom: $cu_f loads" "$T/cuex.log" \
		    "custom: .* from $cu_f, default"
		reap "$CU_PID"
	done
}

cu_main

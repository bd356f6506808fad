# tests/socks4.sh: the socks4 router, with curl and with raw requests.
# POSIX sh.  Sourced by test.sh after tests/lib.sh, with $BINDIR set.

S4BIN=$BINDIR/proxymachine-socks4
S4GRANT='00 5a 00 00 00 00 00 00'
S4REJECT='00 5b 00 00 00 00 00 00'

# s4_req PORT [USERID [N]]: print a CONNECT request to 127.0.0.N:PORT (N
# is 1 unless given), with \xHH escapes for pmtest.
s4_req()
{
	printf '\\x04\\x01\\x%02x\\x%02x\\x7f\\x00\\x00\\x%02x%s\\x00' \
	    $(($1 / 256)) $(($1 % 256)) "${3:-1}" "${2:-}"
}

# s4_fetch PROXYPORT FILE [HOST [CURL OPTIONS]]: whether curl fetches
# FILE of the web server through the proxy, intact; with HOST (a name,
# sent to the proxy: SOCKS4a) instead of 127.0.0.1 (SOCKS4).
s4_fetch()
{
	s4_fp=$1
	s4_ff=$2
	s4_fh=${3:-}
	[ $# -ge 3 ] && shift 3 || shift 2
	rm -f "$T/s4got"
	if [ -n "$s4_fh" ]; then
		set -- --socks4a "127.0.0.1:$s4_fp" "$@"
	else
		set -- --socks4 "127.0.0.1:$s4_fp" "$@"
	fi
	timeout 60 curl -sS --max-time 60 "$@" -o "$T/s4got" \
	    "http://${s4_fh:-127.0.0.1}:$s4_hp/$s4_ff" &&
	    cmp -s "$T/s4www/$s4_ff" "$T/s4got"
}

# s4_req4a PORT NAME [USERID]: print a SOCKS4a CONNECT request for NAME
# and PORT, with \xHH escapes for pmtest.
s4_req4a()
{
	printf '\\x04\\x01\\x%02x\\x%02x\\x00\\x00\\x00\\x01%s\\x00%s\\x00' \
	    $(($1 / 256)) $(($1 % 256)) "${3:-}" "$2"
}

# s4_truth: replies that tell the truth, on a proxy with a table that
# allows 127.0.0.0/8 and sets a short connect timeout.
s4_truth()
{
	s4_tacl=$T/s4truth.conf
	printf 'allow 127.0.0.0/8\nconnect 0.2\n' >"$s4_tacl"
	s4_tpp=$(freeport)
	s4_tlog=$T/s4truth.log
	spawn $RUN "$S4BIN" -v -c "$s4_tacl" -h 127.0.0.1 -p "$s4_tpp" \
	    2>"$s4_tlog"
	s4_tpid=$LASTPID
	waitport 127.0.0.1 "$s4_tpp"
	# A destination that never answers a SYN: 11 attempts of 0.2 s,
	# then 00 5b; a grant before the connect would come first.
	is "socks4: a silent destination is rejected after the timeouts" \
	    "$(sendhex "$s4_tpp" "$(s4_req "$s4_bp")" -k -t 30)" "$S4REJECT"
	logged "socks4: ... each attempt timed out (connect 0.2)" \
	    "$s4_tlog" "$s4_bp failed after 11 attempts: connect timed out"
	# The client that leaves at once costs one attempt, no retry.
	s4_n=$(logcount "$s4_tlog" ' close: ')
	sendhex "$s4_tpp" "$(s4_req "$s4_bp")" -q 50 >/dev/null
	check "socks4: a client that leaves is closed" \
	    logmore 10 "$s4_tlog" ' close: ' "$s4_n"
	logged "socks4: ... and ends the connects" "$s4_tlog" \
	    "no retry and no connect error"
	# The default: 5 s an attempt, when the table says nothing.
	printf 'allow 127.0.0.0/8\n' >"$s4_tacl"
	kill -HUP "$s4_tpid"
	logged "socks4: a table without connect loads" "$s4_tlog" \
	    '1 rule from'
	s4_n=$(logcount "$s4_tlog" 'connect timed out')
	spawn "$PMTEST" send 127.0.0.1 "$s4_tpp" "$(s4_req "$s4_bp")" -k \
	    -t 20
	s4_tc=$LASTPID
	check "socks4: a default connect timeout" \
	    logmore 15 "$s4_tlog" 'connect timed out' "$s4_n"
	reap "$s4_tc"
	# With curl, a refused destination is a SOCKS rejection, not an
	# empty reply after a grant (curl's exit 52).
	if command -v curl >/dev/null 2>&1; then
		closedport s4_cp2
		timeout 60 curl -sS --max-time 30 --socks4 \
		    "127.0.0.1:$s4_tpp" "http://127.0.0.1:$s4_cp2/" \
		    >/dev/null 2>"$T/s4curl.err"
		s4_rc=$?
		check "socks4: curl sees the rejection (exit $s4_rc)" \
		    [ $s4_rc -eq 97 -o -n "$(grep -i reject "$T/s4curl.err")" ]
	fi
	reap "$s4_tpid"
}

# s4_budget: answers never wait for the memory budget.  -m 0.25 is four
# buffers; four clients connecting to a silent destination hold their
# answers (00 5a or 00 5b) in their own slots, not in buffers, so a fifth
# client is served at once.
s4_budget()
{
	s4_bacl=$T/s4budget.conf
	printf 'allow 127.0.0.0/8\nconnect 3\n' >"$s4_bacl"
	s4_bpp=$(freeport)
	spawn $RUN "$S4BIN" -m 0.25 -c "$s4_bacl" -h 127.0.0.1 -p "$s4_bpp" \
	    2>"$T/s4budget.log"
	s4_bpid=$LASTPID
	waitport 127.0.0.1 "$s4_bpp"
	s4_hs=
	s4_i=0
	while [ $s4_i -lt 4 ]; do
		spawn "$PMTEST" send 127.0.0.1 "$s4_bpp" "$(s4_req "$s4_bp")" \
		    -k -t 60
		s4_hs="$s4_hs $LASTPID"
		s4_i=$((s4_i + 1))
	done
	sleep 1
	is "socks4: answers wait for no buffer (-m 0.25, 4 connecting)" \
	    "$(sendhex "$s4_bpp" "$(s4_req "$s4_ep")hi\\n" -t 10)" \
	    "$S4GRANT 45 3a 68 69 0a"
	for s4_i in $s4_hs; do
		reap "$s4_i"
	done
	# At the default level too, the refusal of itself names the address.
	is "socks4: its own address refused (default log level)" \
	    "$(sendhex "$s4_bpp" "$(s4_req "$s4_bpp")")" "$S4REJECT"
	logged "socks4: ... the warning names it" "$T/s4budget.log" \
	    "127.0.0.1:$s4_bpp is this proxy's own listener: refused"
	reap "$s4_bpid"
}

# s4_self: nothing a client sends makes the proxy connect to itself; the
# open proxy of s4_main is at $s4_pp, logging to $s4_log.
s4_self()
{
	s4_n=$(logcount "$s4_log" ' accept ')
	s4_c=$(logcount "$s4_log" ' close: ')
	is "socks4: the proxy's own address is refused" \
	    "$(sendhex "$s4_pp" "$(s4_req "$s4_pp")")" "$S4REJECT"
	logged "socks4: ... and logged" "$s4_log" \
	    "127.0.0.1:$s4_pp is this proxy's own listener: refused"
	# 200 pipelined requests for itself: the first is refused, the rest
	# never reach the proxy as new clients.
	s4_r=$(s4_req "$s4_pp")
	s4_many=
	s4_i=0
	while [ $s4_i -lt 200 ]; do
		s4_many="$s4_many$s4_r"
		s4_i=$((s4_i + 1))
	done
	is "socks4: 200 requests for itself in one stream: refused" \
	    "$(sendhex "$s4_pp" "$s4_many")" "$S4REJECT"
	# Both clients closed: any connection to itself came before.
	logmore 10 "$s4_log" ' close: ' $((s4_c + 1))
	s4_na=$(($(logcount "$s4_log" ' accept ') - s4_n))
	s4_nc=$(($(logcount "$s4_log" ' close: ') - s4_c))
	is "socks4: ... and no connection to itself (accepts, closes)" \
	    "$s4_na, $s4_nc" "2, 2"
	# 0.0.0.0 reaches this host too.
	s4_zero=$(printf '\\x04\\x01\\x%02x\\x%02x\\x00\\x00\\x00\\x00\\x00' \
	    $((s4_pp / 256)) $((s4_pp % 256)))
	is "socks4: 0.0.0.0 is refused" "$(sendhex "$s4_pp" "$s4_zero")" \
	    "$S4REJECT"
}

# s4_names: name rules and client rules, and the warning for a proxy
# anyone may use.
s4_names()
{
	s4_nacl=$T/s4names.conf
	cat >"$s4_nacl" <<-EOF
	client allow 127.0.0.1
	client deny any
	deny *.invalid
	allow localhost port $s4_ep2
	deny 127.0.0.1 port $s4_ep2
	allow 127.0.0.1 port $s4_ep proxy=2
	allow 127.0.0.0/8
	EOF
	s4_npp=$(freeport)
	s4_nlog=$T/s4names.log
	spawn $RUN "$S4BIN" -v -c "$s4_nacl" -h 127.0.0.1 -p "$s4_npp" \
	    2>"$s4_nlog"
	s4_npid=$LASTPID
	waitport 127.0.0.1 "$s4_npp"
	logged "socks4: client rules load" "$s4_nlog" \
	    '5 rules from .*, 2 client rules'
	is "socks4: a name rule allows by the name sent" \
	    "$(sendhex "$s4_npp" "$(s4_req4a "$s4_ep2" localhost)hi\\n")" \
	    "$S4GRANT 45 32 3a 68 69 0a"
	is "socks4: ... in any case" \
	    "$(sendhex "$s4_npp" "$(s4_req4a "$s4_ep2" LocalHost)hi\\n")" \
	    "$S4GRANT 45 32 3a 68 69 0a"
	is "socks4: ... but never a request that gave the address" \
	    "$(sendhex "$s4_npp" "$(s4_req "$s4_ep2")hi\\n")" "$S4REJECT"
	logged "socks4: ... which the address rule denies" "$s4_nlog" \
	    "127.0.0.1:$s4_ep2 denied by \"deny 127.0.0.1/32 port $s4_ep2\""
	# The echo backend's tag, a PROXY v2 header (its signature, then
	# version 2 PROXY, TCP over IPv4, 12 bytes: 127.0.0.1 to 127.0.0.1,
	# the ports), then the data.
	s4_got=$(sendhex "$s4_npp" "$(s4_req4a "$s4_ep" localhost)hi\\n")
	case $s4_got in
	"$S4GRANT 45 3a 0d 0a 0d 0a 00 0d 0a 51 55 49 54 0a 21 11 00 0c 7f 00 00 01 7f 00 00 01 "*" 68 69 0a")
		ok "socks4: another port: the address the name has decides, proxy=2 sends the header" ;;
	*)	fail "socks4: another port: the address the name has decides, proxy=2 sends the header" "got '$s4_got'" ;;
	esac
	is "socks4: a name rule that denies" \
	    "$(sendhex "$s4_npp" "$(s4_req4a "$s4_ep" www.Example.INVALID)")" \
	    "$S4REJECT"
	logged "socks4: ... refuses before any lookup" "$s4_nlog" \
	    'www.Example.INVALID denied by "deny \*.invalid"; 0 bytes up'
	is "socks4: ... and no lookup was asked for" \
	    "$(logcount "$s4_nlog" 'lookup "www.Example')" 0
	if command -v curl >/dev/null 2>&1 && [ -n "$s4_hp" ]; then
		check "socks4: curl --socks4a from 127.0.0.1, an allowed client" \
		    s4_fetch "$s4_npp" small localhost --interface 127.0.0.1
		s4_fetch "$s4_npp" small localhost --interface 127.0.0.2 \
		    2>/dev/null
		check "socks4: curl from 127.0.0.2 is refused" [ $? -ne 0 ]
		logged "socks4: ... by the client rule" "$s4_nlog" \
		    'client 127.0.0.2:[0-9]* denied by "client deny any"'
	elif [ $s4_tools = 1 ]; then
		fail "socks4: client rules with curl" "no web server"
	fi
	is "socks4: no warning with client rules" \
	    "$(logcount "$s4_nlog" 'no client rule')" 0
	reap "$s4_npid"
	# Without client rules, on an address that is not a loopback one: a
	# warning.  The port is taken, so it warns, then cannot listen.
	printf 'allow 127.0.0.0/8\n' >"$s4_nacl"
	bounded 20 $RUN "$S4BIN" -c "$s4_nacl" -h 0.0.0.0 -p "$s4_ep" \
	    2>"$T/s4warn.err"
	s4_rc=$?
	check "socks4: no client rule on 0.0.0.0 is a warning (exit $s4_rc)" \
	    grep -q "no client rule, and listening on 0.0.0.0:$s4_ep: any" \
	    "$T/s4warn.err"
	bounded 20 $RUN "$S4BIN" -c "$s4_nacl" -h 127.0.0.1 -p "$s4_ep" \
	    2>"$T/s4warn.err"
	check "socks4: ... none on 127.0.0.1" [ "$(grep -c "no client rule" \
	    "$T/s4warn.err")" -eq 0 -a "$(grep -c "1 rule from" \
	    "$T/s4warn.err")" -eq 1 ]
}

# s4_slowdns: in a mount namespace of its own (root, unshare), the proxy
# sees a hosts file with a name of the test's and a resolv.conf that
# names a stand-in name server, which reads queries and never answers:
# a SOCKS4a client by that name gets its page; lookups that hang do not
# slow the relay of other clients, and time out with 00 5b.
s4_slowdns()
{
	need "socks4: a name server that never answers" python3 || return
	if [ "$(id -u)" != 0 ] || ! unshare -m true 2>/dev/null; then
		skip "socks4: a name server that never answers" \
		    "root and unshare -m"
		return
	fi
	# An address of this run's own (a suite running beside this one
	# has another PID), in the machine's network: port 53 is fixed.
	s4_ns=127.53.$(($$ / 256 % 256)).$(($$ % 256))
	cat >"$T/s4ns.py" <<-'EOF'
	import socket, sys, time
	s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
	s.bind((sys.argv[1], 53))
	s.settimeout(0.5)
	n = 0
	open(sys.argv[2], "w").write("0\n")
	end = time.time() + 120
	while time.time() < end:
	    try:
	        s.recvfrom(4096)
	        n += 1
	        open(sys.argv[2], "w").write("%d\n" % n)
	    except socket.timeout:
	        pass
	EOF
	spawn python3 "$T/s4ns.py" "$s4_ns" "$T/s4ns.count"
	s4_nsp=$LASTPID
	if ! waitfor 10 test -s "$T/s4ns.count"; then
		fail "socks4: the stand-in name server starts"
		reap "$s4_nsp"
		return
	fi
	printf 'nameserver %s\noptions timeout:5 attempts:1\n' "$s4_ns" \
	    >"$T/s4resolv.conf"
	printf '127.0.0.1 localhost\n127.0.0.1 s4test.example\n' \
	    >"$T/s4hosts"
	printf 'allow any\nconnect 3\n' >"$T/s4dns.conf"
	s4_dpp=$(freeport)
	s4_dlog=$T/s4dns.log
	# unshare and sh exec: the proxy keeps the PID spawn noted.
	spawn unshare -m sh -c "mount --bind '$T/s4resolv.conf' \
	    /etc/resolv.conf && mount --bind '$T/s4hosts' /etc/hosts &&
	    exec $RUN '$S4BIN' -v -c '$T/s4dns.conf' -h 127.0.0.1 \
	    -p $s4_dpp" 2>"$s4_dlog"
	s4_dpid=$LASTPID
	if ! waitport 127.0.0.1 "$s4_dpp"; then
		fail "socks4: proxy in a mount namespace starts" \
		    "$(head -c 300 "$s4_dlog")"
		reap "$s4_nsp"
		return
	fi
	is "socks4: SOCKS4a by a name of the namespace's hosts file" \
	    "$(sendhex "$s4_dpp" "$(s4_req4a "$s4_ep" s4test.example)hi\\n")" \
	    "$S4GRANT 45 3a 68 69 0a"
	if command -v curl >/dev/null 2>&1 && [ -n "$s4_hp" ]; then
		check "socks4: curl --socks4a by that name, byte-exact" \
		    s4_fetch "$s4_dpp" big s4test.example
	fi
	# Six lookups that hang, each client waiting with its side open.
	s4_hang=
	s4_i=0
	while [ $s4_i -lt 6 ]; do
		s4_i=$((s4_i + 1))
		spawn "$PMTEST" send 127.0.0.1 "$s4_dpp" \
		    "$(s4_req4a "$s4_ep" "hang$s4_i.example")" -k -t 20 \
		    >"$T/s4hang.$s4_i"
		s4_hang="$s4_hang $LASTPID"
	done
	waitfor 10 eval '[ "$(logcount "$s4_dlog" "lookup \"hang")" -ge 6 ]'
	waitfor 10 eval '[ "$(cat "$T/s4ns.count")" -ge 1 ]'
	# Meanwhile five round trips through the proxy, each timed by the
	# proxy's close line, before any of the lookups ended.
	s4_n=0
	s4_bad=
	while [ $s4_n -lt 5 ]; do
		s4_n=$((s4_n + 1))
		s4_got=$(sendhex "$s4_dpp" "$(s4_req "$s4_ep")hi\\n" -t 2)
		[ "$s4_got" = "$S4GRANT 45 3a 68 69 0a" ] ||
		    s4_bad="$s4_bad [$s4_n: $s4_got]"
	done
	s4_early=$(logcount "$s4_dlog" "lookup: timed out")
	s4_ms=$(grep " close: done; .* -> 127.0.0.1:$s4_ep; 3 bytes up" \
	    "$s4_dlog" | sed 's/.* \([0-9]*\)\.\([0-9]*\) s$/\1\2/' |
	    sed 's/^0*\(.\)/\1/' | sort -n | tail -n 1)
	check "socks4: lookups that hang slow no relay (5 round trips, the slowest ${s4_ms:-?} ms, $(cat "$T/s4ns.count") queries unanswered)" \
	    [ -z "$s4_bad" -a "$s4_early" -eq 0 -a -n "$s4_ms" -a \
	    "${s4_ms:-9999}" -lt 1000 ]
	for s4_i in $s4_hang; do
		waitexit "$s4_i" 20
	done
	s4_rej=0
	for s4_i in 1 2 3 4 5 6; do
		[ "$(tohex <"$T/s4hang.$s4_i")" = "$S4REJECT" ] &&
		    s4_rej=$((s4_rej + 1))
	done
	is "socks4: ... then each client gets 00 5b" "$s4_rej" 6
	is "socks4: ... when its lookup timed out (connect 3)" \
	    "$(logcount "$s4_dlog" "lookup: timed out; socks4: refused: SOCKS4a name hang[1-6].example: timed out; 0 bytes up, 8 down, [3-9]\.")" \
	    6
	reap "$s4_dpid"
	reap "$s4_nsp"
}

s4_main()
{
	if [ ! -x "$S4BIN" ]; then
		fail "socks4: binary" "$S4BIN is missing"
		return
	fi
	# The checks with curl and python3's web server are one part,
	# skipped without them; the raw requests need neither.
	s4_tools=1
	need "socks4: curl through the proxy to python3's web server" \
	    curl python3 || s4_tools=0

	# Backends: a tagging echo server and, with python3, a web server
	# with a large random file.
	s4_ep=$(freeport)
	spawn "$PMTEST" echo 127.0.0.1 "$s4_ep" E
	s4_echo=$LASTPID
	waitport 127.0.0.1 "$s4_ep"
	s4_ep2=$(freeport)
	spawn "$PMTEST" echo 127.0.0.1 "$s4_ep2" E2
	s4_echo2=$LASTPID
	waitport 127.0.0.1 "$s4_ep2"
	s4_bp=$(freeport)
	spawn "$PMTEST" blackhole 127.0.0.1 "$s4_bp"
	s4_bh=$LASTPID
	s4_hp=
	if [ $s4_tools = 1 ]; then
		mkdir -p "$T/s4www"
		dd if=/dev/urandom of="$T/s4www/big" bs=1048576 count=50 \
		    2>/dev/null
		echo small >"$T/s4www/small"
		s4_hp=$(freeport)
		spawn python3 -m http.server --bind 127.0.0.1 \
		    --directory "$T/s4www" "$s4_hp" >"$T/s4http.log" 2>&1
		s4_http=$LASTPID
		waitport 127.0.0.1 "$s4_hp"
	fi

	# An open proxy: no -c.
	s4_pp=$(freeport)
	s4_log=$T/s4open.log
	spawn $RUN "$S4BIN" -v -h 127.0.0.1 -p "$s4_pp" 2>"$s4_log"
	s4_pid=$LASTPID
	waitport 127.0.0.1 "$s4_pp"
	logged "socks4: open proxy warning without -c" "$s4_log" \
	    'socks4: warning: .*open proxy'

	if [ -n "$s4_hp" ]; then
		check "socks4: curl fetches 50 MB intact" \
		    s4_fetch "$s4_pp" big
		# The name goes to the proxy, which has it looked up.
		check "socks4: curl --socks4a fetches 50 MB by name, intact" \
		    s4_fetch "$s4_pp" big localhost
		logged "socks4: ... the proxy looked the name up" "$s4_log" \
		    "lookup \"localhost\" port $s4_hp"
	fi

	is "socks4: request and data in one write" \
	    "$(sendhex "$s4_pp" "$(s4_req "$s4_ep" bob)hi\\n")" \
	    "$S4GRANT 45 3a 68 69 0a"
	is "socks4: request and data one byte at a time" \
	    "$(sendhex "$s4_pp" "$(s4_req "$s4_ep" alice)hi\\n" -b)" \
	    "$S4GRANT 45 3a 68 69 0a"
	is "socks4: empty user id, then data" \
	    "$(sendhex "$s4_pp" "$(s4_req "$s4_ep")ping\\n")" \
	    "$S4GRANT 45 3a 70 69 6e 67 0a"

	is "socks4: version 5 is rejected" \
	    "$(sendhex "$s4_pp" '\x05\x01\x00\x50\x7f\x00\x00\x01\x00')" \
	    "$S4REJECT"
	logged "socks4: version 5 is logged" "$s4_log" \
	    'refused: version 5'
	is "socks4: BIND is rejected" \
	    "$(sendhex "$s4_pp" '\x04\x02\x00\x50\x7f\x00\x00\x01\x00')" \
	    "$S4REJECT"
	logged "socks4: BIND is logged" "$s4_log" 'refused: command 2'
	is "socks4: a bad version byte alone is rejected" \
	    "$(sendhex "$s4_pp" '\x00' -k -t 10)" "$S4REJECT"

	s4_u=uuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuu
	s4_u=$s4_u$s4_u$s4_u$s4_u$s4_u$s4_u
	s4_u='\x04\x01\x00\x50\x7f\x00\x00\x01'$s4_u
	is "socks4: a 300-byte user id is rejected" \
	    "$(sendhex "$s4_pp" "$s4_u" -k -t 10)" "$S4REJECT"
	logged "socks4: the long user id is logged" "$s4_log" \
	    'user id longer than'
	# The same with its NUL and data in the one write: the limit must
	# not depend on how the bytes are split into reads.
	is "socks4: a 300-byte user id with its NUL, one write" \
	    "$(sendhex "$s4_pp" "$s4_u"'\x00hi\n' -k -t 10)" "$S4REJECT"
	is "socks4: SOCKS4a by the name localhost, request and data" \
	    "$(sendhex "$s4_pp" "$(s4_req4a "$s4_ep" localhost bob)hi\\n")" \
	    "$S4GRANT 45 3a 68 69 0a"
	is "socks4: SOCKS4a one byte at a time" \
	    "$(sendhex "$s4_pp" "$(s4_req4a "$s4_ep" localhost)hi\\n" -b)" \
	    "$S4GRANT 45 3a 68 69 0a"
	is "socks4: SOCKS4a, a name that is not found: 00 5b" \
	    "$(sendhex "$s4_pp" "$(s4_req4a "$s4_ep" no-such-name.invalid)")" \
	    "$S4REJECT"
	logged "socks4: ... the failed lookup in the close line" "$s4_log" \
	    "lookup: \\(not found\\|temporary failure\\); socks4: refused: SOCKS4a name no-such-name.invalid"
	is "socks4: SOCKS4a, an empty name: 00 5b" \
	    "$(sendhex "$s4_pp" "$(s4_req4a "$s4_ep" '')")" "$S4REJECT"
	is "socks4: port 0 is rejected" \
	    "$(sendhex "$s4_pp" '\x04\x01\x00\x00\x7f\x00\x00\x01\x00')" \
	    "$S4REJECT"

	# A closed port: rejected (00 5b) once every attempt failed, never
	# granted first, and logged.  The client keeps its side open (-k): a
	# client that has half-closed is taken to have gone, and gets no
	# retry.
	closedport s4_cp
	is "socks4: a closed destination is rejected, not granted" \
	    "$(sendhex "$s4_pp" "$(s4_req "$s4_cp")" -k -t 30)" "$S4REJECT"
	logged "socks4: the connect error is logged" "$s4_log" \
	    "> 127.0.0.1:$s4_cp .*socks4: destination unreachable"
	logged "socks4: ... after every attempt" "$s4_log" \
	    "127.0.0.1:$s4_cp failed after 11 attempts"
	s4_truth
	s4_budget
	s4_self
	reap "$s4_pid"
	s4_names
	s4_slowdns

	# A table.
	s4_acl=$T/s4acl.conf
	cat >"$s4_acl" <<-EOF
	# test table
	allow 127.0.0.1/32 port $s4_ep	# the echo backend
	allow 127.0.0.0/8 ports ${s4_hp:-1}-${s4_hp:-1}
	deny 127.0.0.0/8 port $s4_cp
	deny 10.0.0.0/8
	EOF
	s4_pp=$(freeport)
	s4_log=$T/s4acl.log
	spawn $RUN "$S4BIN" -v -c "$s4_acl" -h 127.0.0.1 -p "$s4_pp" 2>"$s4_log"
	s4_pid=$LASTPID
	waitport 127.0.0.1 "$s4_pp"
	logged "socks4: the table is loaded" "$s4_log" '4 rules from'
	is "socks4: no open proxy warning with a table" \
	    "$(logcount "$s4_log" 'open proxy')" 0
	is "socks4: an allowed destination" \
	    "$(sendhex "$s4_pp" "$(s4_req "$s4_ep")hi\\n")" \
	    "$S4GRANT 45 3a 68 69 0a"
	if [ -n "$s4_hp" ]; then
		check "socks4: curl through an allow rule" \
		    s4_fetch "$s4_pp" small
	fi
	is "socks4: a denied destination" \
	    "$(sendhex "$s4_pp" "$(s4_req "$s4_cp")")" "$S4REJECT"
	logged "socks4: the deny rule is logged" "$s4_log" \
	    "127.0.0.1:$s4_cp denied by \"deny 127.0.0.0/8 port $s4_cp\""
	is "socks4: a destination no rule matches" \
	    "$(sendhex "$s4_pp" \
	    '\x04\x01\x00\x50\x7f\x00\x00\x02\x00')" "$S4REJECT"
	logged "socks4: the unmatched destination is logged" "$s4_log" \
	    '127.0.0.2:80 matches no rule'

	# SIGHUP: deny the echo backend, then allow everything; a bad table
	# leaves the rules in force.
	cat >"$s4_acl" <<-EOF
	deny 127.0.0.1 port $s4_ep
	allow any
	EOF
	kill -HUP "$s4_pid"
	logged "socks4: SIGHUP reloads" "$s4_log" '2 rules from'
	is "socks4: the reloaded table denies" \
	    "$(sendhex "$s4_pp" "$(s4_req "$s4_ep")hi\\n")" "$S4REJECT"
	printf 'allow any\npermit any\n' >"$s4_acl"
	kill -HUP "$s4_pid"
	logged "socks4: a bad reload is reported" "$s4_log" \
	    "$s4_acl:2: permit: expected allow, deny, client or connect"
	is "socks4: a bad reload keeps the old rules" \
	    "$(sendhex "$s4_pp" "$(s4_req "$s4_ep")hi\\n")" "$S4REJECT"
	is "socks4: other destinations still allowed" \
	    "$(sendhex "$s4_pp" "$(s4_req "$s4_ep2")hi\\n")" \
	    "$S4GRANT 45 32 3a 68 69 0a"
	logged "socks4: allow any is said to be an open proxy" \
	    "$s4_log" 'one allows any address: an open proxy'
	# An empty or cut table fails closed: the reload is refused and the
	# rules in force stay.
	for s4_empty in '# no rules\n' ''; do
		printf "$s4_empty" >"$s4_acl"
		s4_n=$(logcount "$s4_log" 'reload failed.*no rule')
		kill -HUP "$s4_pid"
		check "socks4: an empty table is refused at reload" \
		    logmore 10 "$s4_log" "reload failed.*$s4_acl: no rule" \
		    "$s4_n"
		is "socks4: ... and the old rules still deny" \
		    "$(sendhex "$s4_pp" "$(s4_req "$s4_ep")hi\\n")" \
		    "$S4REJECT"
	done
	reap "$s4_pid"
	# Bad tables: the program exits non-zero before it listens, with
	# file:line.  The port is the echo backend's: a proxy that tried to
	# listen before it read its table would fail to bind, and say so.
	: >"$T/s4empty.conf"
	badstart "socks4: an empty table stops the start" \
	    "$T/s4empty.conf: no rule.*allow any" \
	    $RUN "$S4BIN" -c "$T/s4empty.conf" -h 127.0.0.1 -p "$s4_ep"
	for s4_bad in 'allow 127.0.0.1/33' 'allow 1.2.3.4/8' 'deny' \
	    'allow any port 0' 'allow any ports 9-8' 'allow any prot 80' \
	    'allow local!host' 'allow any port 80 extra' 'allow any#x' \
	    'allow *.' 'deny any proxy=1' 'allow any proxy=3' 'client allow' \
	    'client permit any' 'client allow 10.0.0.1/8' 'allow *x.org'; do
		printf '# ok\nallow any port 80 # a comment\n%s\n' "$s4_bad" \
		    >"$T/s4bad.conf"
		badstart "socks4: bad table line '$s4_bad'" \
		    "$T/s4bad.conf:3: " \
		    $RUN "$S4BIN" -c "$T/s4bad.conf" -h 127.0.0.1 -p "$s4_ep"
	done

	reap "$s4_echo"
	reap "$s4_echo2"
	reap "$s4_bh"
	if [ -n "$s4_hp" ]; then
		reap "$s4_http"
	fi
	rm -rf "$T/s4www" "$T/s4got"
}

s4_main

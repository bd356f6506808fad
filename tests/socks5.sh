# tests/socks5.sh: the socks5 router, with real clients (curl --socks5,
# --socks5-hostname, --proxy-user; OpenBSD nc -X 5) and with raw requests
# whose replies are checked byte for byte: every reply code, the bound
# address, logins, client rules, IPv6, reloads and bad tables.
# POSIX sh.  Sourced by test.sh after tests/lib.sh, with $BINDIR set.
# Every function and variable here starts with s5_ or S5_.

S5BIN=$BINDIR/proxymachine-socks5
S5NOAUTH='05 00'
S5LOGIN='05 02'
S5NONE='05 ff'
S5LOGGEDIN='01 00'
S5MAPPED='\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff'
S5BADLOGIN='01 01'

# s5_err CODE: the reply that refuses with CODE (two hex digits).
s5_err()
{
	echo "05 $1 00 01 00 00 00 00 00 00"
}

# s5_port PORT: PORT as two \xHH escapes, for pmtest.
s5_port()
{
	printf '\\x%02x\\x%02x' $(($1 / 256)) $(($1 % 256))
}

# s5_req4 PORT [N [CMD]]: a CONNECT (or CMD) request for 127.0.0.N:PORT.
s5_req4()
{
	printf '\\x05\\x%02x\\x00\\x01\\x7f\\x00\\x00\\x%02x%s' "${3:-1}" \
	    "${2:-1}" "$(s5_port "$1")"
}

# s5_req6 PORT: a CONNECT request for [::1]:PORT.
s5_req6()
{
	printf '\\x05\\x01\\x00\\x04%s\\x01%s' \
	    '\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00' \
	    "$(s5_port "$1")"
}

# s5_reqname NAME PORT: a CONNECT request for the domain NAME.
s5_reqname()
{
	printf '\\x05\\x01\\x00\\x03\\x%02x%s%s' ${#1} "$1" "$(s5_port "$2")"
}

# s5_login USER PASS: RFC 1929's username/password message.
s5_login()
{
	printf '\\x01\\x%02x%s\\x%02x%s' ${#1} "$1" ${#2} "$2"
}

# s5_ok NAME GOT SAID ATYP DATA: GOT (sendhex's) is SAID (the replies
# before the request's, in hex), "succeeded" for address type ATYP (01:
# 127.0.0.1, 04: ::1) with the port the proxy connected from, then the
# echo backend's answer: that same port (its tag is @port), `:' and DATA
# (printf escapes).  The bound address is the proxy's end of the very
# connection the backend saw.
s5_ok()
{
	case $4 in
	01)	_s5a='7f 00 00 01' ;;
	*)	_s5a='00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 01' ;;
	esac
	_s5w="${3:+$3 }05 00 00 $4 $_s5a"
	case $2 in
	"$_s5w "*)	;;
	*)	fail "$1" "got '$2', want '$_s5w' and a port"
		return ;;
	esac
	_s5r=${2#"$_s5w "}
	_s5h=${_s5r%% *}
	_s5r=${_s5r#* }
	_s5l=${_s5r%% *}
	_s5r=${_s5r#* }
	_s5p=$((0x$_s5h * 256 + 0x$_s5l))
	is "$1" "$_s5r" "$(tohex "$_s5p:$5")"
}

# s5_refused NAME GOT SAID LOG: GOT is SAID then reply 05 (connection
# refused).  qemu-user hands a guest the host's number for a connect's
# error (SO_ERROR is not translated: 111, ECONNREFUSED on x86, is no
# error on MIPS), so there the reply is 01, and LOG says "Unknown error
# 111": that is skipped, as a limit of the emulator.
s5_refused()
{
	if [ "$2" = "${3:+$3 }$(s5_err 05)" ]; then
		ok "$1"
	elif [ -n "$RUN" ] && [ "$2" = "${3:+$3 }$(s5_err 01)" ] &&
	    grep -q 'failed: Unknown error' "$4"; then
		skip "$1" "the emulator ($RUN) gives SO_ERROR's host number"
	else
		fail "$1" "got '$2', want '${3:+$3 }$(s5_err 05)'"
	fi
}

# s5_fetch PROXYPORT URL FILE [CURLOPT...]: whether curl fetches URL
# through the proxy, the same bytes as FILE.
s5_fetch()
{
	_s5pp=$1
	_s5u=$2
	_s5f=$3
	shift 3
	rm -f "$T/s5got"
	timeout 60 curl -sS --max-time 60 --socks5 "127.0.0.1:$_s5pp" "$@" \
	    -o "$T/s5got" "$_s5u" 2>"$T/s5curl.err" &&
	    cmp -s "$_s5f" "$T/s5got"
}

# s5_curlrc PROXYPORT URL [CURLOPT...]: curl's exit status through the
# proxy (97: the proxy refused).
s5_curlrc()
{
	_s5pp=$1
	_s5u=$2
	shift 2
	timeout 60 curl -sS --max-time 30 --socks5 "127.0.0.1:$_s5pp" "$@" \
	    -o /dev/null "$_s5u" 2>"$T/s5curl.err"
	echo $?
}

# s5_open: the open proxy (no -c) at $s5_pp, logging to $s5_log.
s5_open()
{
	s5_pp=$(freeport)
	s5_log=$T/s5open.log
	spawn $RUN "$S5BIN" -v -h 127.0.0.1 -p "$s5_pp" 2>"$s5_log"
	s5_pid=$LASTPID
	waitport 127.0.0.1 "$s5_pp"
	logged "socks5: open proxy warning without -c" "$s5_log" \
	    'socks5: warning: .*open proxy'

	if [ -n "$s5_hp" ]; then
		check "socks5: curl --socks5 fetches 20 MB intact" \
		    s5_fetch "$s5_pp" "http://127.0.0.1:$s5_hp/big" \
		    "$T/s5www/big"
		check "socks5: curl --socks5-hostname fetches 20 MB intact" \
		    s5_fetch "$s5_pp" "http://localhost:$s5_hp/big" \
		    "$T/s5www/big" --socks5-hostname "127.0.0.1:$s5_pp"
		logged "socks5: ... the name looked up by the proxy" \
		    "$s5_log" "lookup \"localhost\" port $s5_hp"
	fi
	if [ "$NC" = openbsd ]; then
		s5_got=$(printf 'hi\n' | timeout 20 nc -N -X 5 \
		    -x "127.0.0.1:$s5_pp" 127.0.0.1 "$s5_ep" 2>&1)
		case $s5_got in
		[0-9]*:hi)	ok "socks5: OpenBSD nc -X 5 through it" ;;
		*)		fail "socks5: OpenBSD nc -X 5 through it" \
				    "got '$s5_got'" ;;
		esac
		s5_got=$(printf 'hi\n' | timeout 20 nc -N -X 5 \
		    -x "127.0.0.1:$s5_pp" localhost "$s5_ep" 2>&1)
		case $s5_got in
		[0-9]*:hi)	ok "socks5: OpenBSD nc -X 5 to a name" ;;
		*)		fail "socks5: OpenBSD nc -X 5 to a name" \
				    "got '$s5_got'" ;;
		esac
	fi

	s5_ok "socks5: greeting, request and data in one write" \
	    "$(sendhex "$s5_pp" '\x05\x01\x00'"$(s5_req4 "$s5_ep")hi\\n")" \
	    "$S5NOAUTH" 01 'hi\n'
	s5_ok "socks5: the same one byte at a time" \
	    "$(sendhex "$s5_pp" '\x05\x01\x00'"$(s5_req4 "$s5_ep")hi\\n" -b)" \
	    "$S5NOAUTH" 01 'hi\n'
	s5_ok "socks5: three methods offered, no auth picked" \
	    "$(sendhex "$s5_pp" '\x05\x03\x01\x02\x00'"$(s5_req4 "$s5_ep")x")" \
	    "$S5NOAUTH" 01 'x'
	if [ -n "$HAVE6" ]; then
		s5_ok "socks5: an IPv6 destination, [::1]" \
		    "$(sendhex "$s5_pp" '\x05\x01\x00'"$(s5_req6 "$s5_ep6")6\\n")" \
		    "$S5NOAUTH" 04 '6\n'
		if [ -n "$s5_hp6" ]; then
			check "socks5: curl --socks5 to http://[::1]" \
			    s5_fetch "$s5_pp" "http://[::1]:$s5_hp6/small" \
			    "$T/s5www/small"
		fi
	else
		skip "socks5: an IPv6 destination" "no ::1 on this machine"
	fi

	# Every reply code that needs no table, each provoked.
	is "socks5: request version 4 (reply 01)" \
	    "$(sendhex "$s5_pp" '\x05\x01\x00\x04\x01\x00\x50\x7f\x00\x00\x01')" \
	    "$S5NOAUTH $(s5_err 01)"
	is "socks5: its own listener (reply 01)" \
	    "$(sendhex "$s5_pp" '\x05\x01\x00'"$(s5_req4 "$s5_pp")")" \
	    "$S5NOAUTH $(s5_err 01)"
	is "socks5: its own listener as ::ffff:127.0.0.1 (reply 01)" \
	    "$(sendhex "$s5_pp" '\x05\x01\x00\x05\x01\x00\x04'"$S5MAPPED"\
'\x7f\x00\x00\x01'"$(s5_port "$s5_pp")")" \
	    "$S5NOAUTH $(s5_err 01)"
	is "socks5: ::ffff:0.0.0.0 (reply 02)" \
	    "$(sendhex "$s5_pp" '\x05\x01\x00\x05\x01\x00\x04'"$S5MAPPED"\
'\x00\x00\x00\x00'"$(s5_port "$s5_ep")")" \
	    "$S5NOAUTH $(s5_err 02)"
	is "socks5: port 0 (reply 02)" \
	    "$(sendhex "$s5_pp" '\x05\x01\x00'"$(s5_req4 0)")" \
	    "$S5NOAUTH $(s5_err 02)"
	is "socks5: 0.0.0.0 (reply 02)" \
	    "$(sendhex "$s5_pp" \
	    '\x05\x01\x00\x05\x01\x00\x01\x00\x00\x00\x00'"$(s5_port "$s5_ep")")" \
	    "$S5NOAUTH $(s5_err 02)"
	s5_refused "socks5: a closed port (reply 05, after the retries)" \
	    "$(sendhex "$s5_pp" '\x05\x01\x00'"$(s5_req4 "$s5_cp")" -k -t 30)" \
	    "$S5NOAUTH" "$s5_log"
	# Under an emulator, see s5_refused.
	s5_why='connection refused'
	[ -n "$RUN" ] && s5_why='\(connection refused\|failed\)'
	logged "socks5: ... logged" "$s5_log" \
	    "> 127.0.0.1:$s5_cp .*socks5: destination $s5_why"
	is "socks5: BIND (reply 07)" \
	    "$(sendhex "$s5_pp" '\x05\x01\x00'"$(s5_req4 "$s5_ep" 1 2)")" \
	    "$S5NOAUTH $(s5_err 07)"
	is "socks5: UDP ASSOCIATE, refused at its command byte (reply 07)" \
	    "$(sendhex "$s5_pp" '\x05\x01\x00\x05\x03' -k -t 10)" \
	    "$S5NOAUTH $(s5_err 07)"
	is "socks5: address type 5 (reply 08)" \
	    "$(sendhex "$s5_pp" '\x05\x01\x00\x05\x01\x00\x05' -k -t 10)" \
	    "$S5NOAUTH $(s5_err 08)"
	s5_ok "socks5: a domain name, localhost" \
	    "$(sendhex "$s5_pp" '\x05\x01\x00'"$(s5_reqname localhost \
	    "$s5_ep")hi\\n")" "$S5NOAUTH" 01 'hi\n'
	s5_ok "socks5: the same one byte at a time" \
	    "$(sendhex "$s5_pp" '\x05\x01\x00'"$(s5_reqname localhost \
	    "$s5_ep")hi\\n" -b)" "$S5NOAUTH" 01 'hi\n'
	is "socks5: no method offered (ff)" \
	    "$(sendhex "$s5_pp" '\x05\x00')" "$S5NONE"
	is "socks5: only username/password offered, no users (ff)" \
	    "$(sendhex "$s5_pp" '\x05\x01\x02')" "$S5NONE"
	logged "socks5: ... logged" "$s5_log" \
	    'does not offer no authentication (method 0)'
	# A SOCKS4 client reads no SOCKS5 reply: closed without one.
	is "socks5: a SOCKS4 request is closed without a reply" \
	    "$(sendhex "$s5_pp" \
	    "\\x04\\x01$(s5_port "$s5_ep")\\x7f\\x00\\x00\\x01\\x00")" \
	    ""
	logged "socks5: ... logged" "$s5_log" 'refused: version 4, not 5'
	reap "$s5_pid"
}

# s5_table: a table with users, client rules and a short connect timeout.
s5_table()
{
	s5_conf=$T/s5.conf
	cat >"$s5_conf" <<-EOF
	# socks5 test table
	allow 127.0.0.1 port $s5_ep from 127.0.0.1	# the echo backend
	allow 127.0.0.1 port $s5_ep2 from 127.0.0.2
	allow 127.0.0.1 ports ${s5_hp:-1}-${s5_hp:-1} from 127.0.0.0/31
	allow ::1 port $s5_ep6 from 127.0.0.1
	deny 127.0.0.0/8 port $s5_dp
	allow 127.0.0.1 port $s5_bp from 127.0.0.1
	allow 127.0.0.1 port $s5_cp from 127.0.0.1
	user alice secret
	user bob pa#55
	connect 0.2
	EOF
	s5_pp=$(freeport)
	s5_log=$T/s5table.log
	spawn $RUN "$S5BIN" -v -c "$s5_conf" -h 127.0.0.1 -p "$s5_pp" \
	    2>"$s5_log"
	s5_pid=$LASTPID
	waitport 127.0.0.1 "$s5_pp"
	logged "socks5: the table is loaded" "$s5_log" \
	    '7 rules, 2 users from'
	is "socks5: no open proxy warning with a table" \
	    "$(logcount "$s5_log" 'open proxy')" 0

	if [ -n "$s5_hp" ]; then
		check "socks5: curl --proxy-user alice:secret fetches intact" \
		    s5_fetch "$s5_pp" "http://127.0.0.1:$s5_hp/small" \
		    "$T/s5www/small" --proxy-user alice:secret
		check "socks5: ... and from 127.0.0.0/31 (curl --interface)" \
		    s5_fetch "$s5_pp" "http://127.0.0.1:$s5_hp/small" \
		    "$T/s5www/small" --proxy-user 'bob:pa#55' \
		    --interface 127.0.0.1
		check "socks5: curl --socks5-hostname --proxy-user too" \
		    s5_fetch "$s5_pp" "http://localhost:$s5_hp/small" \
		    "$T/s5www/small" --proxy-user alice:secret \
		    --socks5-hostname "127.0.0.1:$s5_pp"
		s5_rc=$(s5_curlrc "$s5_pp" "http://127.0.0.1:$s5_hp/small" \
		    --proxy-user alice:wrong)
		is "socks5: curl with a wrong password is refused (exit 97)" \
		    "$s5_rc" 97
		logged "socks5: ... logged" "$s5_log" \
		    'login failed for user "alice"'
		s5_rc=$(s5_curlrc "$s5_pp" "http://127.0.0.1:$s5_hp/small")
		is "socks5: curl without --proxy-user is refused (exit 97)" \
		    "$s5_rc" 97
	fi

	s5_in='\x05\x01\x02'$(s5_login alice secret)
	s5_ok "socks5: login, request and data in one write" \
	    "$(sendhex "$s5_pp" "$s5_in$(s5_req4 "$s5_ep")hi\\n")" \
	    "$S5LOGIN $S5LOGGEDIN" 01 'hi\n'
	s5_ok "socks5: the same one byte at a time" \
	    "$(sendhex "$s5_pp" "$s5_in$(s5_req4 "$s5_ep")hi\\n" -b)" \
	    "$S5LOGIN $S5LOGGEDIN" 01 'hi\n'
	is "socks5: a wrong password (01 01)" \
	    "$(sendhex "$s5_pp" \
	    '\x05\x01\x02'"$(s5_login alice secreT)$(s5_req4 "$s5_ep")")" \
	    "$S5LOGIN $S5BADLOGIN"
	is "socks5: an unknown user (01 01)" \
	    "$(sendhex "$s5_pp" '\x05\x01\x02'"$(s5_login carol secret)")" \
	    "$S5LOGIN $S5BADLOGIN"
	# The login cannot be skipped: a request sent in its place is read
	# as a login (version 5, not 1) and refused.
	is "socks5: a request instead of the login (01 01)" \
	    "$(sendhex "$s5_pp" '\x05\x01\x02'"$(s5_req4 "$s5_ep")hi\\n")" \
	    "$S5LOGIN $S5BADLOGIN"
	logged "socks5: ... logged" "$s5_log" 'login version 5, not 1'
	is "socks5: no auth offered where users are (ff)" \
	    "$(sendhex "$s5_pp" '\x05\x01\x00'"$(s5_req4 "$s5_ep")hi\\n")" \
	    "$S5NONE"
	if [ -n "$HAVE6" ]; then
		s5_ok "socks5: [::1] after a login" \
		    "$(sendhex "$s5_pp" "$s5_in$(s5_req6 "$s5_ep6")6\\n")" \
		    "$S5LOGIN $S5LOGGEDIN" 04 '6\n'
	fi

	# Client rules: 127.0.0.2 may reach the second backend only, and
	# 127.0.0.3 nothing, so it is refused at its greeting.
	s5_ok "socks5: client 127.0.0.2 to its own rule's backend" \
	    "$(sendhex "$s5_pp" "$s5_in$(s5_req4 "$s5_ep2")hi\\n" \
	    -s 127.0.0.2)" "$S5LOGIN $S5LOGGEDIN" 01 'hi\n'
	is "socks5: client 127.0.0.2 to 127.0.0.1's backend (reply 02)" \
	    "$(sendhex "$s5_pp" "$s5_in$(s5_req4 "$s5_ep")hi\\n" \
	    -s 127.0.0.2)" "$S5LOGIN $S5LOGGEDIN $(s5_err 02)"
	logged "socks5: ... logged" "$s5_log" \
	    "127.0.0.1:$s5_ep matches no rule"
	is "socks5: client 127.0.0.1 to 127.0.0.2's backend (reply 02)" \
	    "$(sendhex "$s5_pp" "$s5_in$(s5_req4 "$s5_ep2")hi\\n")" \
	    "$S5LOGIN $S5LOGGEDIN $(s5_err 02)"
	is "socks5: client 127.0.0.3, whom no rule allows (ff)" \
	    "$(sendhex "$s5_pp" "$s5_in$(s5_req4 "$s5_ep")hi\\n" \
	    -s 127.0.0.3)" "$S5NONE"
	logged "socks5: ... logged" "$s5_log" \
	    'client 127.0.0.3:[0-9]*: no rule allows it'
	if [ -n "$s5_hp" ]; then
		s5_rc=$(s5_curlrc "$s5_pp" "http://127.0.0.1:$s5_ep/" \
		    --proxy-user alice:secret --interface 127.0.0.2)
		is "socks5: curl from 127.0.0.2, denied destination (exit 97)" \
		    "$s5_rc" 97
	fi

	# The reply codes of the rules and the connect.
	is "socks5: a deny rule (reply 02)" \
	    "$(sendhex "$s5_pp" "$s5_in$(s5_req4 "$s5_dp")")" \
	    "$S5LOGIN $S5LOGGEDIN $(s5_err 02)"
	logged "socks5: ... logged with the rule" "$s5_log" \
	    "127.0.0.1:$s5_dp denied by \"deny 127.0.0.0/8 port $s5_dp\""
	s5_refused "socks5: a closed port (reply 05)" \
	    "$(sendhex "$s5_pp" "$s5_in$(s5_req4 "$s5_cp")" -k -t 30)" \
	    "$S5LOGIN $S5LOGGEDIN" "$s5_log"
	# 11 attempts of 0.2 s: "succeeded" before the connect would come
	# first.
	is "socks5: a destination that never answers (reply 06)" \
	    "$(sendhex "$s5_pp" "$s5_in$(s5_req4 "$s5_bp")" -k -t 30)" \
	    "$S5LOGIN $S5LOGGEDIN $(s5_err 06)"
	logged "socks5: ... after the timeouts (connect 0.2)" "$s5_log" \
	    "$s5_bp failed after 11 attempts: connect timed out"

	# SIGHUP: users gone, the echo backend denied; a bad table keeps the
	# one in force.
	printf 'deny 127.0.0.1 port %s\nallow any\n' "$s5_ep" >"$s5_conf"
	kill -HUP "$s5_pid"
	logged "socks5: SIGHUP reloads" "$s5_log" '2 rules, 0 users from'
	logged "socks5: allow any without users is an open proxy" \
	    "$s5_log" 'one allows any client to any address: an open proxy'
	is "socks5: the reloaded table denies, without a login" \
	    "$(sendhex "$s5_pp" '\x05\x01\x00'"$(s5_req4 "$s5_ep")hi\\n")" \
	    "$S5NOAUTH $(s5_err 02)"
	printf 'allow any\nuser alice\n' >"$s5_conf"
	kill -HUP "$s5_pid"
	logged "socks5: a bad reload is reported" "$s5_log" \
	    "$s5_conf:2: expected user NAME PASSWORD"
	s5_ok "socks5: ... and the table in force stays" \
	    "$(sendhex "$s5_pp" '\x05\x01\x00'"$(s5_req4 "$s5_ep2")hi\\n")" \
	    "$S5NOAUTH" 01 'hi\n'
	# Client rules, as socks4's: the first that matches decides, and a
	# client that none matches is refused; proxy= on an allow rule.
	printf '%s\n' 'client deny 127.0.0.2' 'client allow 127.0.0.0/30' \
	    "allow 127.0.0.1 port $s5_ep2 proxy=1" 'allow any' >"$s5_conf"
	kill -HUP "$s5_pid"
	logged "socks5: client rules load" "$s5_log" \
	    '2 rules, 0 users from .*, 2 client rules'
	s5_ok "socks5: client 127.0.0.1, allowed by a client rule" \
	    "$(sendhex "$s5_pp" '\x05\x01\x00'"$(s5_req4 "$s5_ep")hi\\n")" \
	    "$S5NOAUTH" 01 'hi\n'
	is "socks5: client 127.0.0.2, denied by one (ff)" \
	    "$(sendhex "$s5_pp" '\x05\x01\x00'"$(s5_req4 "$s5_ep")hi\\n" \
	    -s 127.0.0.2)" "$S5NONE"
	logged "socks5: ... logged with the rule" "$s5_log" \
	    'client 127.0.0.2:[0-9]* denied by "client deny 127.0.0.2/32"'
	is "socks5: client 127.0.0.5, whom no client rule matches (ff)" \
	    "$(sendhex "$s5_pp" '\x05\x01\x00'"$(s5_req4 "$s5_ep")hi\\n" \
	    -s 127.0.0.5)" "$S5NONE"
	logged "socks5: ... logged" "$s5_log" \
	    'client 127.0.0.5:[0-9]* matches no client rule'
	# proxy=1 on the rule: the destination gets the PROXY header first.
	s5_got=$(sendhex "$s5_pp" '\x05\x01\x00'"$(s5_req4 "$s5_ep2")hi\\n")
	case $s5_got in
	"$S5NOAUTH 05 00 00 01 7f 00 00 01 "*"$(tohex \
	    ':PROXY TCP4 127.0.0.1 127.0.0.1 ')"*"$(tohex '\r\nhi\n')")
		ok "socks5: proxy=1 on an allow rule: a PROXY header" ;;
	*)	fail "socks5: proxy=1 on an allow rule: a PROXY header" \
		    "got '$s5_got'" ;;
	esac
	s5_ok "socks5: ... and none by the other rule" \
	    "$(sendhex "$s5_pp" '\x05\x01\x00'"$(s5_req4 "$s5_ep")hi\\n")" \
	    "$S5NOAUTH" 01 'hi\n'
	: >"$s5_conf"
	s5_n=$(logcount "$s5_log" 'reload failed.*no rule')
	kill -HUP "$s5_pid"
	check "socks5: an empty table is refused at reload" \
	    logmore 10 "$s5_log" "reload failed.*$s5_conf: no rule" "$s5_n"
	reap "$s5_pid"
}

# s5_unreach: network unreachable (03), host unreachable (04) and a
# route that prohibits (02), in a network namespace of its own that has
# only the loopback device and routes of its own: 198.51.100.0/24 is
# unreachable, 203.0.113.0/24 prohibited, and nothing else is routed.
s5_unreach()
{
	if [ "$(uname -s)" != Linux ] || ! have unshare; then
		skip "socks5: replies 03 and 04" "no unshare(1): not Linux"
		return
	fi
	need "socks5: replies 03 and 04 (routes in a namespace)" ip ||
	    return
	if ! unshare -rn sh -c 'ip link set lo up' >/dev/null 2>&1; then
		skip "socks5: replies 03 and 04" \
		    "no network namespace (unshare -rn) here"
		return
	fi
	cat >"$T/s5ns.sh" <<-'EOF'
	ip link set lo up || exit 3
	ip route add unreachable 198.51.100.0/24 || exit 3
	ip route add prohibit 203.0.113.0/24 || exit 3
	pp=$("$PMTEST" freeport) || exit 3
	$RUN "$S5BIN" -v -h 127.0.0.1 -p "$pp" 2>"$T/s5ns.log" &
	pid=$!
	"$PMTEST" waitport 127.0.0.1 "$pp" 10 || exit 3
	for a in '\xc0\x00\x02\x01' '\xc6\x33\x64\x01' '\xcb\x00\x71\x01'; do
		timeout 60 "$PMTEST" send 127.0.0.1 "$pp" \
		    '\x05\x01\x00\x05\x01\x00\x01'"$a"'\x00\x50' -k -t 30 |
		    od -An -v -tx1 | tr -s ' \n' '  ' |
		    sed 's/^ //; s/ $//'
		echo
	done
	kill "$pid"
	wait "$pid"
	EOF
	T=$T PMTEST=$PMTEST S5BIN=$S5BIN RUN=$RUN \
	    unshare -rn sh "$T/s5ns.sh" >"$T/s5ns.out" 2>"$T/s5ns.err"
	s5_rc=$?
	if [ $s5_rc -eq 3 ]; then
		fail "socks5: the network namespace" "$(cat "$T/s5ns.err")"
		return
	fi
	s5_got=$(sed -n 1p "$T/s5ns.out")
	is "socks5: no route to 192.0.2.1 (reply 03)" "$s5_got" \
	    "$S5NOAUTH $(s5_err 03)"
	s5_got=$(sed -n 2p "$T/s5ns.out")
	is "socks5: an unreachable host, 198.51.100.1 (reply 04)" "$s5_got" \
	    "$S5NOAUTH $(s5_err 04)"
	s5_got=$(sed -n 3p "$T/s5ns.out")
	is "socks5: a prohibited route, 203.0.113.1 (reply 02)" "$s5_got" \
	    "$S5NOAUTH $(s5_err 02)"
	logged "socks5: ... logged" "$T/s5ns.log" \
	    'socks5: destination host unreachable (reply 04)'
}

# s5_names: domain names, looked up by the proxy's resolver processes, in
# a network and mount namespace of their own whose /etc/hosts and
# /etc/resolv.conf are the test's: a name server on 127.0.0.1 that says
# "no such name" to every name but slow.test, which it never answers.
# The rules deny by name before a lookup, by address after it, and take
# the first address allowed.
s5_names()
{
	if [ "$(uname -s)" != Linux ] || ! have unshare; then
		skip "socks5: domain names" "no unshare(1): not Linux"
		return
	fi
	need "socks5: domain names (a namespace's routes)" ip || return
	if ! unshare -rnm sh -c 'mount --bind /dev/null /dev/null' \
	    >/dev/null 2>&1; then
		skip "socks5: domain names" \
		    "no network and mount namespace (unshare -rnm) here"
		return
	fi
	cat >"$T/s5hosts" <<-'EOF'
	127.0.0.1 echo.test
	::1 six.test
	10.0.0.1 both.test
	127.0.0.1 both.test
	127.0.0.2 two.test
	127.0.0.2 x.denied.test
	127.0.0.3 okname.test
	EOF
	echo 'nameserver 127.0.0.1' >"$T/s5resolv"
	cat >"$T/s5dns.py" <<-'EOF'
	import socket, sys, time
	s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
	s.bind(("127.0.0.1", 53))
	s.settimeout(0.5)
	open(sys.argv[2], "w").close()
	end = time.time() + float(sys.argv[1])
	while time.time() < end:
	    try:
	        q, a = s.recvfrom(512)
	    except socket.timeout:
	        continue
	    i, name = 12, []
	    while i < len(q) and q[i]:
	        name.append(q[i + 1:i + 1 + q[i]].decode("ascii", "replace"))
	        i += 1 + q[i]
	    if ".".join(name).lower().startswith("slow"):
	        continue
	    s.sendto(q[:2] + b"\x81\x83\x00\x01\x00\x00\x00\x00\x00\x00" +
	        q[12:i + 5], a)
	EOF
	cat >"$T/s5names.conf" <<-'EOF'
	deny *.denied.test
	allow okname.test
	deny 10.0.0.0/8
	deny 127.0.0.2
	deny 127.0.0.3
	allow any
	connect 2
	EOF
	cat >"$T/s5ns2.sh" <<-'EOF'
	mount --bind "$T/s5hosts" /etc/hosts || exit 3
	mount --bind "$T/s5resolv" /etc/resolv.conf || exit 3
	ip link set lo up || exit 3
	ep=$("$PMTEST" freeport) || exit 3
	"$PMTEST" echo 127.0.0.1 "$ep" @port &
	e1=$!
	"$PMTEST" echo 127.0.0.3 "$ep" @port &
	e3=$!
	"$PMTEST" echo ::1 "$ep" @port &
	e6=$!
	dns=
	if command -v python3 >/dev/null 2>&1; then
		python3 "$T/s5dns.py" 60 "$T/s5dns.ready" &
		dns=$!
		i=0
		while [ ! -f "$T/s5dns.ready" ] && [ $i -lt 100 ]; do
			sleep 0.1
			i=$((i + 1))
		done
	fi
	pp=$("$PMTEST" freeport) || exit 3
	$RUN "$S5BIN" -v -c "$T/s5names.conf" -h 127.0.0.1 -p "$pp" \
	    2>"$T/s5names.log" &
	pid=$!
	"$PMTEST" waitport 127.0.0.1 "$pp" 10 || exit 3
	"$PMTEST" waitport 127.0.0.1 "$ep" 10 || exit 3
	"$PMTEST" waitport 127.0.0.3 "$ep" 10 || exit 3
	hex()
	{
		od -An -v -tx1 | tr -s ' \n' '  ' | sed 's/^ //; s/ $//'
	}
	# name PORT: a CONNECT for NAME:PORT, then "hi\n".
	req()
	{
		printf '\\x05\\x01\\x00\\x05\\x01\\x00\\x03\\x%02x%s' ${#1} "$1"
		printf '\\x%02x\\x%02x%s' $(($2 / 256)) $(($2 % 256)) 'hi\n'
	}
	for n in echo.test ECHO.TEST. six.test both.test two.test \
	    x.denied.test okname.test 127.0.0.3 nx.test 'bad name'; do
		echo "$n"
		timeout 60 "$PMTEST" send 127.0.0.1 "$pp" "$(req "$n" "$ep")" \
		    -t 30 | hex
		echo
	done
	# A name server that never answers holds one lookup: another
	# client's answers come meanwhile.
	if [ -n "$dns" ]; then
		timeout 60 "$PMTEST" send 127.0.0.1 "$pp" \
		    "$(req slow.test "$ep")" -k -t 30 >"$T/s5slow.out" &
		slow=$!
		sleep 0.2
		echo "echo.test beside slow.test"
		timeout 60 "$PMTEST" send 127.0.0.1 "$pp" \
		    "$(req echo.test "$ep")" -t 30 | hex
		echo
		echo "slow.test's answer by then: $(($(wc -c <"$T/s5slow.out")))"
		wait "$slow"
		echo slow.test
		hex <"$T/s5slow.out"
		echo
	fi
	kill "$pid" $e1 $e3 $e6 $dns
	wait "$pid"
	EOF
	T=$T PMTEST=$PMTEST S5BIN=$S5BIN RUN=$RUN \
	    unshare -rnm sh "$T/s5ns2.sh" >"$T/s5ns2.out" 2>"$T/s5ns2.err"
	if [ $? -eq 3 ]; then
		fail "socks5: the namespace for names" "$(cat "$T/s5ns2.err")"
		return
	fi
	# s5_got NAME: the reply to the request for NAME.
	s5_got()
	{
		sed -n "/^$1\$/{n;p;}" "$T/s5ns2.out" | head -n 1
	}
	s5_ok "socks5: a name (echo.test, from /etc/hosts)" \
	    "$(s5_got echo.test)" "$S5NOAUTH" 01 'hi\n'
	s5_ok "socks5: a name in capitals, with its root dot" \
	    "$(s5_got ECHO.TEST.)" "$S5NOAUTH" 01 'hi\n'
	if [ -n "$HAVE6" ]; then
		s5_ok "socks5: a name with an IPv6 address (six.test, ::1)" \
		    "$(s5_got six.test)" "$S5NOAUTH" 04 'hi\n'
	fi
	s5_ok "socks5: two addresses, the denied one passed over" \
	    "$(s5_got both.test)" "$S5NOAUTH" 01 'hi\n'
	is "socks5: a name whose address a rule denies (reply 02)" \
	    "$(s5_got two.test)" "$S5NOAUTH $(s5_err 02)"
	logged "socks5: ... logged with the address" "$T/s5names.log" \
	    'two.test port [0-9]* (127.0.0.2:[0-9]*) denied by "deny 127.0.0.2/32"'
	is "socks5: a name a name rule denies (reply 02)" \
	    "$(s5_got x.denied.test)" "$S5NOAUTH $(s5_err 02)"
	logged "socks5: ... before any lookup" "$T/s5names.log" \
	    'x.denied.test port [0-9]* denied by "deny \*.denied.test"'
	logged "socks5: lookups are logged (-v)" "$T/s5names.log" \
	    'lookup "echo.test" port'
	is "socks5: ... and it was not looked up" \
	    "$(logcount "$T/s5names.log" 'lookup "x.denied.test')" 0
	s5_ok "socks5: a name rule allows what a later network rule denies" \
	    "$(s5_got okname.test)" "$S5NOAUTH" 01 'hi\n'
	is "socks5: ... which denies the address itself (reply 02)" \
	    "$(s5_got 127.0.0.3)" "$S5NOAUTH $(s5_err 02)"
	is "socks5: ... a numeric name, not looked up" \
	    "$(logcount "$T/s5names.log" 'lookup 127.0.0.3')" 0
	is "socks5: not a host name (reply 04)" \
	    "$(s5_got 'bad name')" "$S5NOAUTH $(s5_err 04)"
	if grep -q '^slow.test$' "$T/s5ns2.out"; then
		is "socks5: a name that does not exist (reply 04)" \
		    "$(s5_got nx.test)" "$S5NOAUTH $(s5_err 04)"
		logged "socks5: ... logged" "$T/s5names.log" \
		    'nx.test: lookup: not found'
		s5_ok "socks5: a name served beside a lookup that hangs" \
		    "$(s5_got 'echo.test beside slow.test')" "$S5NOAUTH" 01 \
		    'hi\n'
		# By then the hanging one had only its method selection.
		is "socks5: ... before the hanging one's answer" \
		    "$(sed -n 's/^slow.test.s answer by then: //p' \
		    "$T/s5ns2.out")" 2
		is "socks5: a lookup that times out (reply 06)" \
		    "$(s5_got slow.test)" "$S5NOAUTH $(s5_err 06)"
	else
		need "socks5: a name server of the test's" python3
	fi
}

# s5_bad: bad tables stop the start, with file:line.  The port is the
# echo backend's: a proxy that tried to listen before it read its table
# would fail to bind, and say so.
s5_bad()
{
	: >"$T/s5empty.conf"
	badstart "socks5: an empty table stops the start" \
	    "$T/s5empty.conf: no rule.*allow any" \
	    $RUN "$S5BIN" -c "$T/s5empty.conf" -h 127.0.0.1 -p "$s5_ep"
	for s5_bad in 'allow ::1/129' 'allow 1.2.3.4/8' 'deny' \
	    'allow any port 0' 'allow any ports 9-8' 'allow any prot 80' \
	    'allow foo..bar' 'allow *foo.bar' 'allow a/b' 'allow any from' \
	    'allow any from 10.0.0.1/7' \
	    'allow any from any port 80' 'allow any port 80 extra' \
	    'user alice' 'user alice a b' 'user ok pw' 'connect x' \
	    'connect 1' 'proxy=3' 'proxy=1 x' 'proxy=2' 'deny any proxy=1' \
	    'allow any proxy=3' 'allow any proxy=1 port 80' 'client allow' \
	    'client permit any' 'client allow 10.1.0.0/8'; do
		printf '# ok\nallow any port 80 # a comment\nuser ok pw\n' \
		    >"$T/s5bad.conf"
		printf 'connect 2\nproxy=1\n%s\n' "$s5_bad" >>"$T/s5bad.conf"
		badstart "socks5: bad table line '$s5_bad'" \
		    "$T/s5bad.conf:6: " \
		    $RUN "$S5BIN" -c "$T/s5bad.conf" -h 127.0.0.1 -p "$s5_ep"
	done
	s5_long=$(printf '%0256d' 0)
	printf 'allow any\nuser %s pw\n' "$s5_long" >"$T/s5bad.conf"
	badstart "socks5: a 256-byte user name" \
	    "$T/s5bad.conf:2: .*longer than 255" \
	    $RUN "$S5BIN" -c "$T/s5bad.conf" -h 127.0.0.1 -p "$s5_ep"
}

s5_main()
{
	if [ ! -x "$S5BIN" ]; then
		fail "socks5: binary" "$S5BIN is missing"
		return
	fi
	# The checks with curl and python3's web server are one part,
	# skipped without them; the raw requests need neither.
	s5_tools=1
	need "socks5: curl through the proxy to python3's web server" \
	    curl python3 || s5_tools=0
	need "socks5: OpenBSD nc -X 5" nc

	# Backends: echo servers whose tag is the port the client came
	# from (the proxy's end), a silent one, closed ports and, with
	# python3, web servers on 127.0.0.1 and ::1.
	s5_ep=$(freeport)
	spawn "$PMTEST" echo 127.0.0.1 "$s5_ep" @port
	s5_echo=$LASTPID
	s5_ep2=$(freeport)
	spawn "$PMTEST" echo 127.0.0.1 "$s5_ep2" @port
	s5_echo2=$LASTPID
	s5_ep6=
	s5_echo6=
	if [ -n "$HAVE6" ]; then
		s5_ep6=$(freeport ::1)
		spawn "$PMTEST" echo ::1 "$s5_ep6" @port
		s5_echo6=$LASTPID
		waitport ::1 "$s5_ep6"
	fi
	waitport 127.0.0.1 "$s5_ep"
	waitport 127.0.0.1 "$s5_ep2"
	s5_bp=$(freeport)
	spawn "$PMTEST" blackhole 127.0.0.1 "$s5_bp"
	s5_bh=$LASTPID
	closedport s5_cp		# nobody can listen there
	s5_dp=$(freeport)		# denied by the table
	s5_hp=
	s5_hp6=
	if [ $s5_tools = 1 ]; then
		mkdir -p "$T/s5www"
		dd if=/dev/urandom of="$T/s5www/big" bs=1048576 count=20 \
		    2>/dev/null
		echo small >"$T/s5www/small"
		s5_hp=$(freeport)
		spawn python3 -m http.server --bind 127.0.0.1 \
		    --directory "$T/s5www" "$s5_hp" >"$T/s5http.log" 2>&1
		s5_http=$LASTPID
		waitport 127.0.0.1 "$s5_hp"
		if [ -n "$HAVE6" ]; then
			s5_hp6=$(freeport ::1)
			spawn python3 -m http.server --bind ::1 \
			    --directory "$T/s5www" "$s5_hp6" \
			    >"$T/s5http6.log" 2>&1
			s5_http6=$LASTPID
			waitport ::1 "$s5_hp6" || s5_hp6=
		fi
	fi
	# The blackhole fills its accept queue meanwhile.
	sleep 0.3

	s5_open
	s5_table
	s5_unreach
	s5_names
	s5_bad

	for s5_p in "$s5_echo" "$s5_echo2" "$s5_echo6" "$s5_bh" \
	    ${s5_http:-} ${s5_http6:-}; do
		[ -n "$s5_p" ] && reap "$s5_p"
	done
	rm -rf "$T/s5www" "$T/s5got"
}

s5_main

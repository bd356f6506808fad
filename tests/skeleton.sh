# tests/skeleton.sh: the skeleton router (routers/skeleton.c), the short
# example of the router contract, with tagged echo backends and pmtest as
# the client: it routes by the first byte, strips it, answers an unknown
# byte and a silent client, reloads, and refuses bad tables.
# POSIX sh.  Sourced by test.sh after tests/lib.sh, with $BINDIR set.
# Every function and variable here starts with sk_ or SK_.

SK_BIN=$BINDIR/proxymachine-skeleton
SK_WHICH=$(tohex 'which backend?\n')

sk_main()
{
	if [ ! -x "$SK_BIN" ]; then
		fail "skeleton: binary" "$SK_BIN is missing"
		return
	fi
	sk_pa=$(freeport)
	spawn "$PMTEST" echo 127.0.0.1 "$sk_pa" A
	sk_ea=$LASTPID
	sk_pb=$(freeport)
	spawn "$PMTEST" echo 127.0.0.1 "$sk_pb" B
	sk_eb=$LASTPID
	closedport sk_pr		# nobody can listen there
	waitport 127.0.0.1 "$sk_pa"
	waitport 127.0.0.1 "$sk_pb"

	SK_TABLE=$T/skeleton.conf
	SK_LOG=$T/skeleton.log
	printf '%s\n' "# byte backend" "a 127.0.0.1:$sk_pa	# tag A" \
	    "b	127.0.0.1:$sk_pb" "r 127.0.0.1:$sk_pr" >"$SK_TABLE"
	sk_pp=$(freeport)
	spawn $RUN "$SK_BIN" -v -c "$SK_TABLE" -h 127.0.0.1 -p "$sk_pp" \
	    2>"$SK_LOG"
	sk_pid=$LASTPID
	if ! waitport 127.0.0.1 "$sk_pp"; then
		fail "skeleton: proxy starts" "$(head -c 300 "$SK_LOG")"
		return
	fi

	# A silent client gets its reply after 5 s: it waits meanwhile.
	spawn "$PMTEST" send 127.0.0.1 "$sk_pp" '' -k -t 30 \
	    >"$T/sksilent.out"
	sk_silent=$LASTPID

	is "skeleton: the first byte picks backend A, which gets the rest" \
	    "$(sendhex "$sk_pp" 'aping\n')" "$(tohex 'A:ping\n')"
	is "skeleton: ... and backend B, one byte at a time" \
	    "$(sendhex "$sk_pp" 'bpong\n' -b)" "$(tohex 'B:pong\n')"
	is "skeleton: an unknown byte is answered and closed" \
	    "$(sendhex "$sk_pp" 'zzz' -k -t 20)" "$SK_WHICH"
	logged "skeleton: ... and its note is in the close line" "$SK_LOG" \
	    'close: reply sent; .*skeleton: no backend for "zzz"'
	# A backend that is down: no reply, the hook's note after the
	# retries.
	is "skeleton: a backend that is down: closed without a reply" \
	    "$(sendhex "$sk_pp" 'r' -k -t 30)" ""
	logged "skeleton: ... and the connect error hook's note" "$SK_LOG" \
	    "> 127.0.0.1:$sk_pr (11 attempts.*skeleton: backend down"
	check "skeleton: a silent client is answered after its 5 s" \
	    waitfor 20 grep -q 'which backend' "$T/sksilent.out"
	logged "skeleton: ... through the expired call" "$SK_LOG" \
	    'no backend for "" (silent for 5 s)'

	# Reloads: b moves to A; a bad table keeps the one in force.
	printf '%s\n' "a 127.0.0.1:$sk_pa" "b 127.0.0.1:$sk_pa" >"$SK_TABLE"
	sk_n=$(logcount "$SK_LOG" 'reloaded')
	kill -HUP "$sk_pid"
	check "skeleton: SIGHUP reloads" logmore 20 "$SK_LOG" reloaded "$sk_n"
	is "skeleton: the reloaded table routes b to A" \
	    "$(sendhex "$sk_pp" 'bx')" "$(tohex 'A:x')"
	printf '%s\n' "a 127.0.0.1:$sk_pb" "bb 127.0.0.1:$sk_pb" >"$SK_TABLE"
	kill -HUP "$sk_pid"
	logged "skeleton: a bad reload is logged with file:line" "$SK_LOG" \
	    "reload failed.*$SK_TABLE:2: expected: byte host:port"
	is "skeleton: ... and the table in force stays" \
	    "$(sendhex "$sk_pp" 'ay')" "$(tohex 'A:y')"
	reap "$sk_pid"
	reap "$sk_silent"

	# Start-up refusals.
	badstart "skeleton: no -c: exits non-zero" "needs a table" \
	    $RUN "$SK_BIN" -h 127.0.0.1 -p "$sk_pa"
	printf 'a 127.0.0.1:%s\nb\n' "$sk_pb" >"$T/skbad.conf"
	badstart "skeleton: a bad line: exits non-zero with file:line" \
	    "$T/skbad.conf:2: expected: byte host:port" \
	    $RUN "$SK_BIN" -c "$T/skbad.conf" -h 127.0.0.1 -p "$sk_pa"
	reap "$sk_ea"
	reap "$sk_eb"
}

sk_main

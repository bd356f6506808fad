# tests/git.sh: the git router with real git.  Two git daemons (A and B,
# and C on [::1] when there is IPv6) hold the same repository paths with
# different contents, so what a client gets tells which backend it
# reached.  Through the proxy: clone (protocol v0 and v2), ls-remote, push,
# archive, ~user paths, unknown users, the default route, reloads, garbage
# and a request sent byte by byte.
#
# Sourced by test.sh after tests/lib.sh, with $BINDIR set.  POSIX sh.
# Every function and variable here starts with gt_ or GT_.

# gt_git ARGS...: run git for at most 60 s, without the user's or the
# system's configuration.
gt_git()
{
	HOME=$GT/home GIT_CONFIG_NOSYSTEM=1 GIT_TERMINAL_PROMPT=0 \
	    timeout 60 git -c init.defaultBranch=main -c user.name=pmtest \
	    -c user.email=pmtest@example.invalid "$@"
}

# gt_backend NAME: make $GT/NAME/{alice,bob,carol,dave}/repo.git, bare
# repositories whose one commit has a file `backend' saying NAME.
gt_backend()
{
	gt_git init -q "$GT/src-$1" &&
	echo "$1" >"$GT/src-$1/backend" &&
	gt_git -C "$GT/src-$1" add backend &&
	gt_git -C "$GT/src-$1" commit -q -m "backend $1" || return 1
	for _gu in alice bob carol dave; do
		gt_git clone -q --bare "$GT/src-$1" "$GT/$1/$_gu/repo.git" ||
		    return 1
	done
}

# gt_daemon NAME ADDR PORT: serve $GT/NAME with git daemon on ADDR:PORT,
# logging to $GT/NAME.log.
gt_daemon()
{
	spawn env HOME="$GT/home" GIT_CONFIG_NOSYSTEM=1 git daemon \
	    --reuseaddr --export-all --base-path="$GT/$1" \
	    --enable=receive-pack --enable=upload-archive --verbose \
	    --listen="$2" --port="$3" 2>"$GT/$1.log"
}

# gt_head NAME USER: print the commit at HEAD of USER's repo on NAME.
gt_head()
{
	gt_git -C "$GT/$1/$2/repo.git" rev-parse HEAD
}

# gt_pkt SERVICE PATH [PARAMS]: print a git request pkt-line, with `|'
# for each NUL; in PARAMS too, `|' stands for a NUL.
gt_pkt()
{
	_gs="$1 $2|host=127.0.0.1|${3:-}"
	printf '%04x%s' $((${#_gs} + 4)) "$_gs"
}

# gt_req SERVICE PATH [PARAMS]: print gt_pkt's request as raw bytes.
gt_req()
{
	gt_pkt "$@" | tr '|' '\000'
}

# gt_esc SERVICE PATH [PARAMS]: print gt_pkt's request as pmtest DATA.
gt_esc()
{
	gt_pkt "$@" | sed 's/|/\\0/g'
}

# gt_table LINES...: write the lines to the table file $GT/table.
gt_table()
{
	printf '%s\n' "$@" >"$GT/table"
}

# gt_hup: send SIGHUP to the proxy and wait until it has read the table,
# well or not.  Returns 0 when it did.
gt_hup()
{
	_ghn=$(logcount "$GT/proxy.log" 'reload')
	kill -HUP "$GT_PROXY"
	logmore 20 "$GT/proxy.log" reload "$_ghn"
}

# gt_url USER: print the git:// URL of USER's repo through the proxy.
gt_url()
{
	echo "git://127.0.0.1:$GT_PP/$1/repo.git"
}

# gt_lands NAME VERSION USER BACKEND: ls-remote USER's repo through the
# proxy with protocol VERSION; ok when it shows BACKEND's commit.
gt_lands()
{
	_gwant=$(gt_head "$4" "$3")
	_ggot=$(gt_git -c protocol.version="$2" ls-remote "$(gt_url "$3")" \
	    HEAD 2>"$GT/err" | cut -f1)
	if [ -n "$_gwant" ] && [ "$_ggot" = "$_gwant" ]; then
		ok "$1"
	else
		fail "$1" "got '$_ggot', want $4's '$_gwant': $(cat "$GT/err")"
	fi
}

# gt_refused NAME TEXT GITARGS...: ok when git fails and prints a remote
# error containing TEXT.
gt_refused()
{
	_gname=$1
	_gtext=$2
	shift 2
	if gt_git "$@" >/dev/null 2>"$GT/err"; then
		fail "$_gname" "git succeeded"
	elif grep -q -F -e "remote error: $_gtext" "$GT/err"; then
		ok "$_gname"
	else
		fail "$_gname" "git said: $(cat "$GT/err")"
	fi
}

# gt_noreply NAME DATA WHY: send DATA (pmtest escapes) to the proxy and
# keep the connection open; ok when the proxy closes it without a byte of
# reply and logs WHY in a new line (an earlier request may have logged
# the same).
gt_noreply()
{
	_gnn=$(logcount "$GT/proxy.log" "closed: $3")
	if ! "$PMTEST" send 127.0.0.1 "$GT_PP" "$2" -k -r -t 20 \
	    >"$GT/out" 2>&1; then
		fail "$1" "$(od -c "$GT/out" | head -3)"
	elif ! logmore 10 "$GT/proxy.log" "closed: $3" "$_gnn"; then
		fail "$1" "no new log line with '$3'"
	else
		ok "$1"
	fi
}

# gt_start NAME CONF OUT: start the proxy with table CONF (none when
# empty) expecting it to refuse: it must exit non-zero at once, before
# listening, with OUT on stderr.  The port is one that $GT_PT holds: a
# proxy that tried to listen before it read its table would fail to bind
# and say so instead.
gt_start()
{
	if [ -n "$2" ]; then
		badstart "$1" "$3" $RUN "$BINDIR/proxymachine-git" -c "$2" \
		    -h 127.0.0.1 -p "$GT_PT"
	else
		badstart "$1" "$3" $RUN "$BINDIR/proxymachine-git" \
		    -h 127.0.0.1 -p "$GT_PT"
	fi
}

gt_main()
{
	GT=$T/git
	mkdir -p "$GT/home" || return 1
	if ! gt_backend a || ! gt_backend b || ! gt_backend c; then
		fail "git: make the backends' repositories"
		return 1
	fi
	GT_PA=$(freeport)
	GT_PB=$(freeport)
	GT_PC=$(freeport)
	GT_PP=$(freeport)
	gt_daemon a 127.0.0.1 "$GT_PA"
	GT_DA=$LASTPID
	gt_daemon b 127.0.0.1 "$GT_PB"
	GT_DB=$LASTPID
	gt_daemon c ::1 "$GT_PC"
	GT_DC=$LASTPID
	if ! waitport 127.0.0.1 "$GT_PA" || ! waitport 127.0.0.1 "$GT_PB"
	then
		fail "git: start two git daemons" "$(cat "$GT/a.log" \
		    "$GT/b.log")"
		return 1
	fi
	GT_V6=1
	waitport ::1 "$GT_PC" || GT_V6=0

	# Start-up: a git router needs a good table.  GT_PT: a port held by
	# another program, so that a proxy that listens too early shows it.
	GT_PT=$(freeport)
	spawn "$PMTEST" echo 127.0.0.1 "$GT_PT"
	GT_DT=$LASTPID
	waitport 127.0.0.1 "$GT_PT"
	gt_start "git: no -c: exits non-zero, says a table is needed" "" \
	    "needs a routing table"
	printf '%s\n' "# users" "alice 127.0.0.1:$GT_PA" "" "bob" \
	    >"$GT/bad1"
	gt_start "git: line without host: exits non-zero, file:line:" \
	    "$GT/bad1" "$GT/bad1:4: "
	printf '%s\n' "alice 127.0.0.1:$GT_PA" "alice 127.0.0.1:$GT_PB" \
	    >"$GT/bad2"
	gt_start "git: user given twice: exits non-zero, file:line:" \
	    "$GT/bad2" "$GT/bad2:2: "
	printf '%s\n' "alice 127.0.0.1:$GT_PA x" >"$GT/bad3"
	gt_start "git: too many fields: exits non-zero, file:line:" \
	    "$GT/bad3" "$GT/bad3:1: "
	printf '%s\n' "alice 127.0.0.1:99999" >"$GT/bad4"
	gt_start "git: bad port: exits non-zero, file:line:" \
	    "$GT/bad4" "$GT/bad4:1: "
	printf '%s\n' "alice 127.0.0.1:$GT_PA connect=x" >"$GT/bad5"
	gt_start "git: bad connect=: exits non-zero, file:line:" \
	    "$GT/bad5" "$GT/bad5:1: connect=x: expected connect=SECS"
	# A table routing to the proxy's own listener is a loop.
	_gp=$(freeport)
	printf '%s\n' "alice 127.0.0.1:$GT_PA connect=0.5" \
	    "* 127.0.0.1:$_gp" >"$GT/bad6"
	badstart "git: a table routing to the proxy itself: exits non-zero" \
	    "bad6:2: .*this proxy's own listening address" \
	    $RUN "$BINDIR/proxymachine-git" -c "$GT/bad6" -h 127.0.0.1 \
	    -p "$_gp"
	# The one comment rule: a # inside a field is part of it.
	printf '%s\n' "alice#x 127.0.0.1:$GT_PA connect=0.5 # a comment" \
	    "b#ob" >"$GT/bad7"
	gt_start "git: a # inside a field is no comment" "$GT/bad7" \
	    "$GT/bad7:2: no host\\[:port\\] after \`b#ob'"
	reap "$GT_DT"

	closedport GT_PR		# nobody can listen there
	gt_table "# The test table." "alice 127.0.0.1:$GT_PA" \
	    "bob	127.0.0.1:$GT_PB	# a comment" \
	    "carol [::1]:$GT_PC" "dan 127.0.0.1:$GT_PR"
	spawn $RUN "$BINDIR/proxymachine-git" -c "$GT/table" -h 127.0.0.1 \
	    -p "$GT_PP" 2>"$GT/proxy.log"
	GT_PROXY=$LASTPID
	if ! waitport 127.0.0.1 "$GT_PP"; then
		fail "git: proxy starts" "$(cat "$GT/proxy.log")"
		return 1
	fi

	# Routing by user, with each service and both protocol versions.
	gt_git -c protocol.version=0 clone -q "$(gt_url alice)" \
	    "$GT/clone-alice" 2>"$GT/err"
	is "git: clone v0 alice lands on A" \
	    "$(cat "$GT/clone-alice/backend" "$GT/err" 2>/dev/null)" a
	gt_git -c protocol.version=2 clone -q "$(gt_url bob)" \
	    "$GT/clone-bob" 2>"$GT/err"
	is "git: clone v2 bob lands on B" \
	    "$(cat "$GT/clone-bob/backend" "$GT/err" 2>/dev/null)" b
	gt_lands "git: ls-remote v0 alice lands on A" 0 alice a
	gt_lands "git: ls-remote v2 alice lands on A" 2 alice a
	gt_lands "git: ls-remote v0 bob lands on B" 0 bob b
	gt_lands "git: ls-remote v2 bob lands on B" 2 bob b

	_gold=$(gt_head b alice)
	if [ -d "$GT/clone-alice" ] &&
	    echo pushed >"$GT/clone-alice/pushed" &&
	    gt_git -C "$GT/clone-alice" add pushed &&
	    gt_git -C "$GT/clone-alice" commit -q -m pushed &&
	    gt_git -C "$GT/clone-alice" push -q origin HEAD:main \
	    2>"$GT/err" &&
	    [ "$(gt_head a alice)" = \
	    "$(gt_git -C "$GT/clone-alice" rev-parse HEAD)" ] &&
	    [ "$(gt_head b alice)" = "$_gold" ]; then
		ok "git: push alice lands in A's repository"
	else
		fail "git: push alice lands in A's repository" \
		    "$(cat "$GT/err")"
	fi

	is "git: archive --remote bob lands on B" \
	    "$(gt_git archive --remote="$(gt_url bob)" HEAD backend \
	    2>"$GT/err" | tar -xOf - backend; cat "$GT/err")" b

	# git sends ~bob/repo.git for /~bob/repo.git; B's daemon refuses
	# user paths, but its log shows that the request reached it.
	gt_git ls-remote "git://127.0.0.1:$GT_PP/~bob/repo.git" \
	    >/dev/null 2>&1
	if waitfor 10 grep -q "Request upload-pack for '~bob/repo.git'" \
	    "$GT/b.log" &&
	    ! grep -q "~bob" "$GT/a.log"; then
		ok "git: ~bob/repo.git lands on B"
	else
		fail "git: ~bob/repo.git lands on B" "not in B's log"
	fi

	if [ "$GT_V6" = 1 ]; then
		gt_lands "git: carol lands on C at [::1]" 2 carol c
	else
		skip "git: IPv6 remote" "no IPv6 loopback"
	fi

	# Unknown users, with no default.
	gt_refused "git: unknown user (v0) gets git's remote error" \
	    "proxymachine: no route for user 'dave'" \
	    -c protocol.version=0 ls-remote "$(gt_url dave)"
	gt_refused "git: unknown user (v2) gets git's remote error" \
	    "proxymachine: no route for user 'dave'" \
	    -c protocol.version=2 clone "$(gt_url dave)" "$GT/clone-dave"
	gt_refused "git: unknown user (archive) gets git's remote error" \
	    "proxymachine: no route for user 'dave'" \
	    archive --remote="$(gt_url dave)" HEAD
	gt_refused "git: path without a user gets git's remote error" \
	    "proxymachine: no user in path '/repo.git'" \
	    ls-remote "git://127.0.0.1:$GT_PP/repo.git"

	# A backend that cannot be reached: git says so, after the retries.
	gt_refused "git: unreachable backend gets git's remote error" \
	    "proxymachine: backend for 'dan' unreachable" \
	    -c protocol.version=0 ls-remote "$(gt_url dan)"

	# Garbage and bad requests: closed, no reply, one log line.
	gt_noreply "git: HTTP request: closed, no reply" \
	    'GET / HTTP/1.0\r\n\r\n' "not a git request"
	gt_noreply "git: binary garbage: closed, no reply" \
	    '\x16\x03\x01\x02\x00\x01' "not a git request"
	gt_noreply "git: flush packet: closed, no reply" \
	    '0000' "flush packet"
	gt_noreply "git: length 3: closed, no reply" \
	    '0003git' "pkt-line length too small"
	gt_noreply "git: length over 65520: closed, no reply" \
	    "fff1$(gt_esc git-upload-pack /alice/repo.git | cut -c5-)" \
	    "pkt-line length larger than git allows"
	gt_noreply "git: unknown service: closed, no reply" \
	    "$(gt_esc git-frob-pack /alice/repo.git)" "unknown service"
	gt_noreply "git: no path: closed, no reply" \
	    "$(gt_esc git-upload-pack '')" "request without a path"

	# A request sent one byte at a time, 20 ms apart (v0: the backend
	# sends its refs, then gets EOF).
	"$PMTEST" send 127.0.0.1 "$GT_PP" \
	    "$(gt_esc git-upload-pack /alice/repo.git)" -b -t 60 \
	    >"$GT/out" 2>&1
	check "git: request sent byte by byte lands on A" \
	    grep -q -F -e "$(gt_head a alice) HEAD" "$GT/out"

	# Reload.  Hold a v2 connection for alice open on A, then route
	# alice to B, and the users the table does not name to A.
	rm -f "$GT/hold.in"
	mkfifo "$GT/hold.in"
	: >"$GT/hold.out"
	spawn nc_exec 127.0.0.1 "$GT_PP" "$GT/hold.in" "$GT/hold.out"
	GT_HOLD=$LASTPID
	exec 7>"$GT/hold.in"
	gt_req git-upload-pack /alice/repo.git '|version=2|' >&7
	check "git: v2 connection for alice held open" \
	    waitfor 20 grep -q 'version 2' "$GT/hold.out"
	gt_table "alice 127.0.0.1:$GT_PB" "bob 127.0.0.1:$GT_PB" \
	    "* 127.0.0.1:$GT_PA"
	check "git: SIGHUP reloads the table" gt_hup
	gt_lands "git: after SIGHUP alice lands on B" 2 alice b
	gt_lands "git: default route: dave lands on A" 0 dave a
	printf '0014command=ls-refs\n0000' >&7
	check "git: connection opened before SIGHUP still on A" \
	    waitfor 20 grep -q -F -e "$(gt_head a alice) refs/heads/main" \
	    "$GT/hold.out"
	exec 7>&-
	reap "$GT_HOLD"
	rm -f "$GT/hold.in"

	# A broken table on SIGHUP: logged, the routes in force stay.
	gt_table "alice 127.0.0.1:$GT_PA" "bob 127.0.0.1:$GT_PA" \
	    "* 127.0.0.1:$GT_PB" "carol"
	_gn=$(logcount "$GT/proxy.log" "$GT/table:4:")
	check "git: SIGHUP with a broken table" gt_hup
	check "git: broken table logged as file:line:" \
	    logabove "$GT/proxy.log" "$GT/table:4:" "$_gn"
	gt_lands "git: broken table: alice still lands on B" 2 alice b
	gt_lands "git: broken table: bob still lands on B" 0 bob b
	gt_lands "git: broken table: dave still lands on A" 2 dave a

	check "git: proxy still running" alive "$GT_PROXY"
	reap "$GT_PROXY"
	reap "$GT_DA"
	reap "$GT_DB"
	reap "$GT_DC"
}

if need "git router" git git-daemon; then
	gt_main
fi

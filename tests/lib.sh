# tests/lib.sh: helpers shared by test.sh and the per-router test files.
# POSIX sh (dash, bash --posix, busybox sh).  Sourced, never run.
#
# Conventions:
#   ok NAME / fail NAME WHY   count one assertion
#   check NAME CMD...         ok when CMD exits 0, else fail
#   spawn CMD...              start CMD in the background; its PID is in
#                             $LASTPID and is killed at exit
#   reap PID                  kill PID (TERM, then KILL) and wait for it
#   alive PID                 whether PID runs (zombies do not)
#   logcount FILE PATTERN     how many lines of FILE match PATTERN
#   logmore SECS FILE PAT N   wait until more than N lines match PAT
#   logabove FILE PAT N       whether more than N lines match PAT
#   freeport [HOST]           print a free TCP port on HOST (127.0.0.1)
#   closedport VAR            set VAR to a port of 127.0.0.1 where
#                             connects are refused until the end of the
#                             run: held bound (the holder's PID in
#                             $LASTPID), so that no server of this suite
#                             or of one running beside it takes it
#   waitport HOST PORT        wait (at most 10 s) until HOST:PORT accepts
#   waitfor SECS CMD...       retry CMD every 0.1 s for at most SECS
#   skip NAME WHY             count a check that this machine cannot
#                             make (no IPv6, no /proc, an emulator)
#   need PART TOOL...         whether every TOOL is installed; if not,
#                             PART is skipped once (failed with
#                             STRICT=1), with the line that installs it
#   bounded SECS CMD...       run CMD for at most SECS; 124 on timeout
#   nc_half HOST PORT         stdin to HOST:PORT, the reply to stdout,
#                             half-close at the end of stdin (nc -N)
#   nc_exec HOST PORT IN OUT  the same from file IN to file OUT, as
#                             the last command of a background job
#   is NAME GOT WANT          ok when GOT is WANT, else fail showing both
#   logged NAME FILE PATTERN  ok when FILE gets a line matching PATTERN
#                             within 10 s
#   tohex [STRING]            STRING (printf escapes), or standard
#                             input, as hex bytes one blank apart
#   sendhex PORT DATA [OPT...]  DATA (pmtest's escapes) to 127.0.0.1:PORT
#                             with pmtest send; the reply in hex, then
#                             "(pmtest exit N)" unless pmtest exited 0
#   badstart NAME PATTERN CMD...  ok when CMD, a proxy that must not
#                             start, exits non-zero within 20 s, before
#                             it listens, with PATTERN on stderr (give
#                             it a port that is taken: one that tried
#                             to listen first would fail to bind)
#   $T                        a scratch directory removed at exit
#   $PMTEST                   the C test helper (tests/pmtest)
#   $BINDIR                   where the test binaries are (default tests)
#   $STRICT                   1: a part skipped for a missing tool fails
#                             (CI); empty or 0: it is skipped

PASS=${PASS:-0}
FAIL=${FAIL:-0}
SKIP=${SKIP:-0}
PIDS=${PIDS:-}
BINDIR=${BINDIR:-tests}
PMTEST=${PMTEST:-$BINDIR/pmtest}
# A runner (qemu-user, valgrind) put in front of every proxy binary.
RUN=${RUN:-}
# The tools found missing so far, for the install line at the end.
MISSING=
case ${STRICT:-0} in
0)	STRICT=0 ;;
1)	;;
*)	echo "STRICT is 0 or 1, not '$STRICT'" >&2
	exit 2 ;;
esac
if [ -z "${T:-}" ]; then
	T=$(mktemp -d "${TMPDIR:-/tmp}/pmtest.XXXXXX") || exit 1
fi

ok()
{
	PASS=$((PASS + 1))
	printf 'ok %d - %s\n' $((PASS + FAIL + SKIP)) "$1"
}

fail()
{
	FAIL=$((FAIL + 1))
	printf 'not ok %d - %s\n' $((PASS + FAIL + SKIP)) "$1${2:+: $2}"
}

# A check that this machine (or an emulator in RUN) cannot make: counted
# apart, so that it is neither a pass nor hidden.  Installing a tool would
# not help, so STRICT=1 leaves it a skip.
skip()
{
	SKIP=$((SKIP + 1))
	printf 'ok %d - %s # SKIP %s (platform: a skip with STRICT=1 too)\n' \
	    $((PASS + FAIL + SKIP)) "$1" "$2"
}

# Whether TOOL is installed.  git-daemon is `git daemon', which some
# systems package apart from git.
have()
{
	case $1 in
	git-daemon)
		command -v git >/dev/null 2>&1 &&
		    [ -x "$(git --exec-path 2>/dev/null)/git-daemon" ] ;;
	*)	command -v "$1" >/dev/null 2>&1 ;;
	esac
}

# The package that has TOOL on Debian, FreeBSD and OpenBSD, on one line;
# `-' where there is nothing to install (the base system has it, or, for
# strace and ip, the check is Linux's).
pkgs_of()
{
	case $1 in
	git|git-daemon)	echo git git git ;;
	curl)		echo curl curl curl ;;
	openssl)	echo openssl - - ;;
	python3)	echo python3 python3 python3 ;;
	nc)		echo netcat-openbsd - - ;;
	strace)		echo strace - - ;;
	ip)		echo iproute2 - - ;;
	*)		echo "$1 $1 $1" ;;
	esac
}

# The line that installs TOOL... on Debian, FreeBSD and OpenBSD.
install_line()
{
	_ild=
	_ilf=
	_ilo=
	for _ilt in "$@"; do
		_ilp=$(pkgs_of "$_ilt")
		_ild=$(add_word "$_ild" "${_ilp%% *}")
		_ilp=${_ilp#* }
		_ilf=$(add_word "$_ilf" "${_ilp%% *}")
		_ilo=$(add_word "$_ilo" "${_ilp#* }")
	done
	_ill="apt-get install$_ild"
	_ilb=
	if [ -n "$_ilf" ]; then
		_ill="$_ill / pkg install$_ilf"
	else
		_ilb=FreeBSD
	fi
	if [ -n "$_ilo" ]; then
		_ill="$_ill / pkg_add$_ilo"
	else
		_ilb="${_ilb:+$_ilb and }OpenBSD"
	fi
	echo "$_ill${_ilb:+ (nothing to install on $_ilb)}"
}

# add_word LIST WORD: print LIST with ` WORD' added, unless WORD is `-'
# or in LIST already.
add_word()
{
	case "$2 $1 " in
	"- "*|*" $2 "*)	echo "$1" ;;
	*)		echo "$1 $2" ;;
	esac
}

# need PART TOOL...: whether every TOOL is installed.  When one is not,
# PART (the checks that use it) is counted once: a skip that names what
# is missing and the line that installs it, or with STRICT=1 a failure.
need()
{
	_npart=$1
	shift
	_nmiss=
	for _nt in "$@"; do
		have "$_nt" && continue
		# Without git, `git daemon' needs no word of its own.
		[ "$_nt" = git-daemon ] && ! have git && continue
		_nmiss="$_nmiss $_nt"
		case " $MISSING " in
		*" $_nt "*)	;;
		*)	MISSING="${MISSING:+$MISSING }$_nt" ;;
		esac
	done
	[ -z "$_nmiss" ] && return 0
	_nwhy="$(words $_nmiss) not installed -- $(install_line $_nmiss)"
	if [ "$STRICT" = 1 ]; then
		fail "$_npart" "$_nwhy (STRICT=1)"
	else
		SKIP=$((SKIP + 1))
		printf 'ok %d - %s # SKIP %s\n' $((PASS + FAIL + SKIP)) \
		    "$_npart" "$_nwhy"
	fi
	return 1
}

# words TOOL...: `git is', `curl and python3 are', `a, b and c are'.
words()
{
	case $# in
	1)	echo "$(tool_name "$1") is"
		return ;;
	esac
	_ww=
	while [ $# -gt 2 ]; do
		_ww="$_ww$(tool_name "$1"), "
		shift
	done
	echo "$_ww$(tool_name "$1") and $(tool_name "$2") are"
}

# The name of TOOL in a sentence.
tool_name()
{
	case $1 in
	git-daemon)	echo "git daemon" ;;
	nc)		echo "OpenBSD nc" ;;
	*)		echo "$1" ;;
	esac
}

check()
{
	_name=$1
	shift
	if "$@"; then
		ok "$_name"
	else
		fail "$_name" "${WHY:-$*}"
	fi
	WHY=
}

spawn()
{
	"$@" &
	LASTPID=$!
	PIDS="$PIDS $LASTPID"
}

reap()
{
	kill "$1" 2>/dev/null || return 0
	_rp_i=0
	while alive "$1" && [ $_rp_i -lt 50 ]; do
		sleep 0.1
		_rp_i=$((_rp_i + 1))
	done
	kill -9 "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	return 0
}

# Whether PID is running: a zombie is not, nor one that has gone.  With
# /proc the state is read first, and a stat file that cannot be read
# means gone: the shell may reap PID (in any wait of its own) between two
# looks, and under qemu-user a process shows Z for some milliseconds
# before its parent can reap it.  The state follows the last ')', as the
# name before it may hold blanks.
alive()
{
	case $1 in
	''|*[!0-9]*)	return 1 ;;
	esac
	if [ -r "/proc/$$/stat" ]; then
		awk '{ sub(/.*\) /, ""); s = $1 }
		    END { exit s == "" || s == "Z" || s == "X" }' \
		    "/proc/$1/stat" 2>/dev/null
	else
		kill -0 "$1" 2>/dev/null
	fi
}

# waitexit PID SECS: waits at most SECS for PID (started by this shell)
# to exit, and sets WAITRC to its exit status, or to "still running after
# SECS s" (then it is killed): a process that does not exit fails a check
# instead of hanging the suite.
waitexit()
{
	if waitfor "$2" eval "! alive $1"; then
		wait "$1"
		WAITRC=$?
	else
		WAITRC="still running after $2 s"
		reap "$1"
	fi
}

freeport()
{
	"$PMTEST" freeport "$@"
}

closedport()
{
	CLOSEDN=$((${CLOSEDN:-0} + 1))
	# Held until this shell is gone (or killed at exit with the rest).
	spawn "$PMTEST" closedport 127.0.0.1 0 >"$T/closed.$CLOSEDN"
	if ! waitfor 10 grep -q . "$T/closed.$CLOSEDN"; then
		echo "closedport: pmtest closedport printed no port" >&2
		exit 1
	fi
	eval "$1=\$(cat \"\$T/closed.\$CLOSEDN\")"
}

waitport()
{
	"$PMTEST" waitport "$1" "$2" 10
}

# logcount FILE PATTERN: how many lines of FILE match PATTERN (0 when
# there is no FILE).
logcount()
{
	_lc_n=$(grep -c -e "$2" "$1" 2>/dev/null)
	echo "${_lc_n:-0}"
}

# logmore SECS FILE PATTERN N: wait (at most SECS) until more than N
# lines of FILE match PATTERN: a line that an earlier event wrote does
# not count.
logmore()
{
	waitfor "$1" logabove "$2" "$3" "$4"
}

# logabove FILE PATTERN N: whether more than N lines match.
logabove()
{
	[ "$(logcount "$1" "$2")" -gt "$3" ]
}

# Its own variables have names of their own: a caller's _n, passed as
# "$_n" in a list that an earlier waitfor ran in, must not change.
waitfor()
{
	_wf_n=$(($1 * 10))
	shift
	while [ $_wf_n -gt 0 ]; do
		"$@" && return 0
		sleep 0.1
		_wf_n=$((_wf_n - 1))
	done
	return 1
}

# Coreutils' timeout exits 124 when it stops the command, busybox's 143
# (the command's death by SIGTERM): both are a timeout here.
bounded()
{
	timeout "$@"
	_brc=$?
	[ $_brc -eq 143 ] && _brc=124
	return $_brc
}

# The nc flavour.  OpenBSD's shuts its write side down at the end of its
# input with -N; busybox's does so unasked (and has no -N); for any
# other, or none, the test helper does the job.  NC=openbsd, busybox or
# pmtest in the environment picks one.
case ${NC:-} in
openbsd|busybox|pmtest)
	;;
*)
	if command -v nc >/dev/null 2>&1 && nc -h 2>&1 | grep -q -- '-N'
	then
		NC=openbsd
	elif command -v nc >/dev/null 2>&1 &&
	    nc --help 2>&1 | grep -q BusyBox; then
		NC=busybox
	else
		NC=pmtest
	fi
	;;
esac

nc_half()
{
	case $NC in
	openbsd)	timeout 20 nc -N "$1" "$2" ;;
	busybox)	timeout 20 nc "$1" "$2" ;;
	*)		"$PMTEST" nc "$1" "$2" -t 20 ;;
	esac
}

# Only in a background job (spawn nc_exec ...): exec makes the job's PID
# that of the client, and opens IN (a fifo, perhaps) in the job itself.
nc_exec()
{
	exec <"$3" >"$4"
	case $NC in
	openbsd)	exec nc -N "$1" "$2" ;;
	busybox)	exec nc "$1" "$2" ;;
	*)		exec "$PMTEST" nc "$1" "$2" -t 600 ;;
	esac
}

is()
{
	if [ "$2" = "$3" ]; then
		ok "$1"
	else
		fail "$1" "got '$2', want '$3'"
	fi
}

logged()
{
	if waitfor 10 grep -q -e "$3" "$2"; then
		ok "$1"
	else
		fail "$1" "no line matching '$3' in $2"
	fi
}

tohex()
{
	if [ $# -gt 0 ]; then
		# The escapes are the point: STRING is a format.
		printf "$1" | tohex
		return
	fi
	od -An -v -tx1 | tr -s ' \n' '  ' | sed 's/^ //; s/ $//'
}

# pmtest exits 0 only once the proxy has closed the connection, so an
# empty reply from a proxy that never took the connection, or never
# closed it, matches no expected reply.
sendhex()
{
	_sh_port=$1
	_sh_data=$2
	shift 2
	timeout 60 "$PMTEST" send 127.0.0.1 "$_sh_port" "$_sh_data" "$@" \
	    >"$T/sendhex.out" 2>/dev/null
	_sh_rc=$?
	_sh_hex=$(tohex <"$T/sendhex.out")
	if [ $_sh_rc -eq 0 ]; then
		printf '%s\n' "$_sh_hex"
	else
		printf '%s(pmtest exit %d)\n' "$_sh_hex" $_sh_rc
	fi
}

badstart()
{
	_bs_name=$1
	_bs_pat=$2
	shift 2
	bounded 20 "$@" >/dev/null 2>"$T/badstart.err"
	_bs_rc=$?
	if [ $_bs_rc -eq 0 ] || [ $_bs_rc -eq 124 ]; then
		fail "$_bs_name" "exit status $_bs_rc: $(head -c 300 \
		    "$T/badstart.err")"
	elif ! grep -q -e "$_bs_pat" "$T/badstart.err"; then
		fail "$_bs_name" "no '$_bs_pat' in: $(head -c 300 \
		    "$T/badstart.err")"
	# The lines of a proxy that listens, or tries to (an error may say
	# "listening address").
	elif grep -q -e ') listening on ' -e ': bind ' "$T/badstart.err"
	then
		fail "$_bs_name" "it tried to listen: $(head -c 300 \
		    "$T/badstart.err")"
	else
		ok "$_bs_name"
	fi
}

cleanup()
{
	for _p in $PIDS; do
		kill "$_p" 2>/dev/null
	done
	for _p in $PIDS; do
		kill -9 "$_p" 2>/dev/null
		wait "$_p" 2>/dev/null
	done
	rm -rf "$T"
}

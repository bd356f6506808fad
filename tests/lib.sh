# tests/lib.sh: helpers shared by test.sh and the per-router test files.
# POSIX sh (dash, bash --posix, busybox sh).  Sourced, never run.
#
# Conventions:
#   ok NAME / fail NAME WHY   count one assertion
#   check NAME CMD...         ok when CMD exits 0, else fail
#   spawn CMD...              start CMD in the background; its PID is in
#                             $LASTPID and is killed at exit
#   reap PID                  kill PID (TERM, then KILL) and wait for it
#   freeport                  print a free TCP port on 127.0.0.1
#   waitport HOST PORT        wait (at most 10 s) until HOST:PORT accepts
#   waitfor SECS CMD...       retry CMD every 0.1 s for at most SECS
#   $T                        a scratch directory removed at exit
#   $PMTEST                   the C test helper (tests/pmtest)
#   $BINDIR                   where the test binaries are (default tests)

PASS=${PASS:-0}
FAIL=${FAIL:-0}
PIDS=${PIDS:-}
BINDIR=${BINDIR:-tests}
PMTEST=${PMTEST:-$BINDIR/pmtest}
# A runner (qemu-user, valgrind) put in front of every proxy binary.
RUN=${RUN:-}
if [ -z "${T:-}" ]; then
	T=$(mktemp -d "${TMPDIR:-/tmp}/pmtest.XXXXXX") || exit 1
fi

ok()
{
	PASS=$((PASS + 1))
	printf 'ok %d - %s\n' $((PASS + FAIL)) "$1"
}

fail()
{
	FAIL=$((FAIL + 1))
	printf 'not ok %d - %s\n' $((PASS + FAIL)) "$1${2:+: $2}"
}

check()
{
	_name=$1
	shift
	if "$@"; then
		ok "$_name"
	else
		fail "$_name" "$*"
	fi
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
	_i=0
	while kill -0 "$1" 2>/dev/null && [ $_i -lt 50 ]; do
		sleep 0.1
		_i=$((_i + 1))
	done
	kill -9 "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	return 0
}

freeport()
{
	"$PMTEST" freeport
}

waitport()
{
	"$PMTEST" waitport "$1" "$2" 10
}

waitfor()
{
	_secs=$1
	shift
	_n=$((_secs * 10))
	while [ $_n -gt 0 ]; do
		"$@" && return 0
		sleep 0.1
		_n=$((_n - 1))
	done
	return 1
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

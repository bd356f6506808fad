#!/bin/sh
# scripts/deps.sh: what the test suite uses and this machine lacks, and
# the line that installs it on Debian, FreeBSD and OpenBSD (`make deps').
#
#	scripts/deps.sh		print it; as root on Debian, run apt-get
#	scripts/deps.sh -n	only print it
#
# The tools: git and git daemon, curl, openssl, python3 and haproxy
# (without one, test.sh skips the parts that use it, or fails them with
# STRICT=1), OpenBSD nc (used when there; tests/pmtest stands in) and,
# on Linux, strace (one splice check) and ip (socks5's unreachable
# networks, in a network namespace).  The names come from tests/lib.sh,
# as test.sh prints them.  Exit status 0, or apt-get's.

set -u
cd "$(dirname "$0")/.." || exit 2
. tests/lib.sh
trap cleanup EXIT

run=1
case ${1:-} in
-n)	run=0 ;;
'')	;;
*)	echo "usage: scripts/deps.sh [-n]" >&2
	exit 2 ;;
esac

tools="git git-daemon curl openssl python3 haproxy nc"
[ "$(uname -s)" = Linux ] && tools="$tools strace ip"
miss=
debs=
for t in $tools; do
	case $t in
	git-daemon)	have git || continue ;;
	# Busybox's nc does the job too; any other flavour does not.
	nc)		[ "$NC" != pmtest ] && continue ;;
	esac
	have "$t" && continue
	miss="$miss $t"
	p=$(pkgs_of "$t")
	debs=$(add_word "$debs" "${p%% *}")
done
if [ -z "$miss" ]; then
	echo "deps: every tool the tests use is installed"
	exit 0
fi
echo "deps: not installed:$miss"
echo "deps: $(install_line $miss)"
if [ $run = 1 ] && [ "$(id -u)" = 0 ] && [ -f /etc/debian_version ] &&
    command -v apt-get >/dev/null 2>&1; then
	echo "deps: apt-get update; apt-get install -y$debs"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q && apt-get install -y -q $debs
fi

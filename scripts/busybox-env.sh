#!/bin/sh
# scripts/busybox-env.sh: run a command with busybox's tools first in PATH.
#
#	scripts/busybox-env.sh COMMAND [ARGUMENTS...]
#	scripts/busybox-env.sh sh test.sh	the suite with busybox sh,
#						nc, timeout, sed, grep, awk...
#
# Makes build/busybox/bin (BUSYBOX_DIR) with a symlink to busybox (BUSYBOX,
# default: the one in PATH) for each of its applets, puts it first in PATH
# and runs the command there.  What busybox lacks (git, curl, openssl,
# python3, cc) still comes from the rest of PATH.  Exit status: the
# command's, or 2 when busybox is missing.

set -u
top=$(cd "$(dirname "$0")/.." && pwd) || exit 2
if [ $# -lt 1 ]; then
	echo "usage: scripts/busybox-env.sh COMMAND [ARGUMENTS...]" >&2
	exit 2
fi
bb=${BUSYBOX:-$(command -v busybox)}
if [ -z "$bb" ] || [ ! -x "$bb" ]; then
	echo "busybox-env.sh: no busybox (Debian: apt-get install busybox)" >&2
	exit 2
fi
dir=${BUSYBOX_DIR:-$top/build/busybox/bin}
rm -rf "$dir"
mkdir -p "$dir" || exit 2
n=0
for a in $("$bb" --list); do
	case $a in
	*/*|'['|'[[')	continue ;;
	esac
	ln -s "$bb" "$dir/$a" || exit 2
	n=$((n + 1))
done
ln -s "$bb" "$dir/[" || exit 2
echo "busybox-env.sh: $n applets of $("$bb" 2>&1 | head -n 1 |
    cut -d' ' -f1-2) first in PATH" >&2
PATH=$dir:$PATH
export PATH
exec "$@"

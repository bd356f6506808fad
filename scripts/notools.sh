#!/bin/sh
# scripts/notools.sh: the suite on a machine without the tools some of
# its parts use.
#
#	scripts/notools.sh			the check (CI)
#	scripts/notools.sh COMMAND [ARGUMENTS...]
#						COMMAND with those tools gone
#
# Makes build/notools/bin (NOTOOLS_DIR) with a symlink to every program
# in PATH but git, curl, openssl, python3, haproxy and nc (HIDE), and
# makes it the whole PATH.  The check then runs the README's test command
# there:
# `make test` must exit 0 and end `N passed, 0 failed, M skipped` with
# M > 0; each hidden tool the suite uses must be named in a skip line
# with its install line; the core must have run its nc check through
# pmtest.  Then `make test STRICT=1` must exit non-zero, its failures
# being exactly those skips and nothing else.  About two runs of the
# suite without its router parts.  Exit status 0 when all holds, 1 when
# not, 2 when it cannot run.

set -u
top=$(cd "$(dirname "$0")/.." && pwd) || exit 2
cd "$top" || exit 2
hide=${HIDE:-git curl openssl python3 haproxy nc}
dir=${NOTOOLS_DIR:-$top/build/notools/bin}

rm -rf "$dir"
mkdir -p "$dir" || exit 2
n=0
oifs=$IFS
IFS=:
for d in $PATH; do
	IFS=$oifs
	[ -d "$d" ] || continue
	for f in "$d"/*; do
		b=${f##*/}
		case " $hide " in
		*" $b "*)	continue ;;
		esac
		# The first in PATH wins, as it would.
		[ -f "$f" ] && [ -x "$f" ] && [ ! -e "$dir/$b" ] ||
		    continue
		ln -s "$f" "$dir/$b" || exit 2
		n=$((n + 1))
	done
done
IFS=$oifs
PATH=$dir
export PATH
for t in $hide; do
	if command -v "$t" >/dev/null 2>&1; then
		echo "notools.sh: $t is still in PATH" >&2
		exit 2
	fi
done
echo "notools.sh: $n programs in $dir, without $hide" >&2
# Nothing from outside picks the nc flavour or the mode.
unset NC STRICT MAKEFLAGS MFLAGS MAKELEVEL
if [ $# -gt 0 ]; then
	exec "$@"
fi

bad=0
no()
{
	echo "notools.sh: $*" >&2
	bad=1
}

# count WHAT LINE: the number before ` WHAT' in a summary line, or 0.
count()
{
	echo "$2" | sed -n "s/.* \([0-9][0-9]*\) $1.*/\1/p" | grep . || echo 0
}

# summary LOG: the last line `N passed, M failed[, K skipped]' of LOG
# (make may write after it).
summary()
{
	grep -E '^[0-9]+ passed, [0-9]+ failed(, [0-9]+ skipped)?$' "$1" |
	    tail -n 1
}

log=$top/build/notools/test.log
t0=$(date +%s)
make test >"$log" 2>&1
rc=$?
t1=$(date +%s)
sum=$(summary "$log")
echo "notools.sh: make test: exit $rc, '$sum', $((t1 - t0)) s" >&2
[ $rc -eq 0 ] || no "make test exited $rc"
echo "$sum" | grep -Eqx '[0-9]+ passed, 0 failed, [0-9]+ skipped' ||
    no "make test did not end 'N passed, 0 failed, M skipped'"
grep '^not ok' "$log" >&2 && no "make test failed checks"
skips=$(count skipped "$sum")
[ "$skips" -gt 0 ] || no "no skip counted"

# A part that needs a missing tool is skipped once, with the tool and
# the line that installs it on Debian, FreeBSD and OpenBSD.
grep ' # SKIP .* not installed -- apt-get install ' "$log" >"$log.tools"
sed -n '/ # SKIP /p' "$log" >&2
for t in git curl python3 openssl haproxy; do
	case " $hide " in
	*" $t "*)	;;
	*)	continue ;;
	esac
	case $t in
	openssl)	w="$t.* not installed -- apt-get install.* $t" ;;
	*)		w="$t.* not installed -- apt-get install.* $t.*"
			w="$w / pkg install.* $t.* / pkg_add.* $t" ;;
	esac
	grep -q "# SKIP .*$w" "$log.tools" ||
	    no "no skip line names $t and its install line"
done
ntools=$(wc -l <"$log.tools" | tr -d ' ')
dup=$(sed 's/^ok [0-9]* - //' "$log.tools" | sort | uniq -d)
[ -z "$dup" ] || no "a part skipped more than once: $dup"
# Without nc the core still runs its nc check, through pmtest.
case " $hide " in
*" nc "*)
	grep -q '^ok [0-9]* - noop on 2048 bytes.*(pmtest nc)$' "$log" ||
	    no "the core's nc check did not run through pmtest" ;;
esac

# STRICT=1: the same run; those skips fail, and nothing else does.
slog=$top/build/notools/strict.log
make test STRICT=1 >"$slog" 2>&1
src=$?
t2=$(date +%s)
ssum=$(summary "$slog")
echo "notools.sh: make test STRICT=1: exit $src, '$ssum', $((t2 - t1)) s" \
    >&2
[ $src -ne 0 ] || no "make test STRICT=1 exited 0"
[ "$(count failed "$ssum")" = "$ntools" ] ||
    no "STRICT=1: not the $ntools parts that were skipped for a tool failed"
grep '^not ok' "$slog" |
    grep -v ' not installed -- apt-get install .* (STRICT=1)$' >&2 &&
    no "STRICT=1: a failure that is not a missing tool"
[ "$(count skipped "$ssum")" -eq $((skips - ntools)) ] ||
    no "STRICT=1: the platform skips differ from the run without it"

[ $bad -eq 0 ] && echo "notools.sh: ok: $ntools parts skipped for a" \
    "missing tool (failed with STRICT=1), $((skips - ntools)) platform" \
    "skips" >&2
exit $bad

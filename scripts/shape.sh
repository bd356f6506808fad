#!/bin/sh
# scripts/shape.sh: measures the shape of the core and holds it to three
# rules, printing the figures:
#
#   - conditional compilation stays in two sections of proxymachine.c,
#     "Configuration and tunables" and "The event layer": elsewhere at
#     most IF_MAX lines with #if (#if, #ifdef, #ifndef, as grep counts);
#   - every function of proxymachine.c and small.c but main() is shorter
#     than FN_MAX lines, from its opening brace to its closing one;
#   - every static function of proxymachine.c and small.c has a
#     prototype.
#
#	scripts/shape.sh [DIR]
#
# DIR is the tree to measure (default: this one).  Exit status 0 when
# the three hold, 1 when one does not.  `make lint' runs it.

# Copyright (c) 2026 The proxymachine authors.  MIT licence: see LICENSE.

set -u
top=${1:-$(cd "$(dirname "$0")/.." && pwd)}
core=$top/proxymachine.c
small=$top/small.c
IF_MAX=10
FN_MAX=100
rc=0

[ -f "$core" ] || { echo "shape: no $core" >&2; exit 2; }

# The #if lines outside the two sections, as "line: text".
ifs=$(awk '
/^\/\* --- .* -+ \*\/$/ {
	s = $0
	skip = s ~ /--- Configuration and tunables / ||
	    s ~ /--- The event layer /
}
!skip && /#if/ { print FNR ": " $0 }' "$core")
nif=$(printf '%s' "$ifs" | grep -c .)
all=$(grep -c '#if' "$core")
echo "shape: #if lines: $nif outside configuration and the event layer" \
    "(at most $IF_MAX), $all in all"
if [ "$nif" -gt "$IF_MAX" ]; then
	printf '%s\n' "$ifs" | sed 's/^/    /'
	rc=1
fi

# Every function's length, "lines file name", longest first.
lens=$(for f in "$core" "$small"; do
	[ -f "$f" ] || continue
	awk -v file="${f##*/}" '
	/^[A-Za-z_][A-Za-z0-9_]*\(/ {
		name = $0
		sub(/\(.*/, "", name)
		start = 0
	}
	name != "" && /^\{/ { start = FNR }
	start && /^\}/ {
		print FNR - start + 1, file, name
		start = 0
		name = ""
	}' "$f"
done | sort -rn)
nfn=$(printf '%s\n' "$lens" | grep -c .)
long=$(printf '%s\n' "$lens" | awk '$3 != "main" {
	print $3 " (" $2 "), " $1; exit }')
main=$(printf '%s\n' "$lens" | awk '$3 == "main" { print $1 }')
echo "shape: $nfn functions; the longest besides main: ${long:-none}" \
    "lines (under $FN_MAX); main: ${main:-?}"
over=$(printf '%s\n' "$lens" | awk -v max="$FN_MAX" \
    '$3 != "main" && $1 >= max')
if [ -n "$over" ]; then
	printf '%s\n' "$over" | sed 's/^/    /'
	rc=1
fi

# Static functions defined (the name at the start of the line after a
# "static" one) and those declared (a "static" line naming one, with
# its parameters), file by file.
missing=$(for f in "$core" "$small"; do [ -f "$f" ] && awk '
/^[A-Za-z_][A-Za-z0-9_]*\(/ && prev ~ /^static[ \t]/ {
	name = $0
	sub(/\(.*/, "", name)
	if (!(name in def))
		order[++n] = name
	def[name] = 1
}
/^static[ \t].*[ \t*][A-Za-z_][A-Za-z0-9_]*\(/ {
	p = $0
	sub(/\(.*/, "", p)
	sub(/.*[ \t*]/, "", p)
	proto[p] = 1
}
{ prev = $0 }
END {
	for (i = 1; i <= n; i++)
		if (!(order[i] in proto))
			print order[i]
	print n >"/dev/stderr"
}' "$f"; done 2>"${TMPDIR:-/tmp}/shape.$$")
nstatic=$(awk '{ n += $1 } END { print n + 0 }' "${TMPDIR:-/tmp}/shape.$$")
rm -f "${TMPDIR:-/tmp}/shape.$$"
nmiss=$(printf '%s' "$missing" | grep -c .)
echo "shape: $nstatic static functions, $nmiss without a prototype"
if [ "$nmiss" -gt 0 ]; then
	printf '%s\n' "$missing" | sed 's/^/    /'
	rc=1
fi

[ $rc = 0 ] && echo "shape: ok" || echo "shape: FAILED"
exit $rc

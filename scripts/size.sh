#!/bin/sh
# scripts/size.sh: the size of the static, stripped binary of each router
# under a few sets of flags, to pick those of `make static` and `make
# size`.
#
#	scripts/size.sh [CC [FLAG...]]
#
# CC defaults to musl-gcc (cc when there is none); FLAGs, such as the
# size knobs of proxymachine.c (-DPM_SMALL, -DPM_TINY), are added to each
# build.  The flag sets go from what `make static` does with the default
# CFLAGS to everything that shrinks the file without touching the code;
# each line gives text+data (size(1)), what the code and data take, per
# router: the file pads its writable segment to a page (RELRO) and moves
# in steps.  Builds go to build/size; the work tree is not touched.

set -u
top=$(cd "$(dirname "$0")/.." && pwd) || exit 2
cc=${1:-musl-gcc}
[ $# -gt 0 ] && shift
command -v "$cc" >/dev/null 2>&1 || cc=cc
out=$top/build/size
mkdir -p "$out" || exit 2
version=$(sed -n 's/^VERSION[[:blank:]]*=[[:blank:]]*//p' "$top/Makefile")
req="-std=c99 -D_DEFAULT_SOURCE -DPM_VERSION=\"$version\" $*"
sec="-ffunction-sections -fdata-sections -Wl,--gc-sections"
unw="-fno-asynchronous-unwind-tables -fno-unwind-tables"
small="-Os $sec $unw -fno-stack-protector -Wl,-z,noseparate-code"

echo "$cc: $("$cc" --version 2>&1 | head -n 1)${*:+; $*}"
printf '%-8s %-8s %-8s %-8s  %s\n' git socks4 socks5 custom \
    "flags (and -static -s)"
for flags in "-O2" "-Os" "-Os $sec" "-Os $sec $unw" \
    "-Os $sec $unw -fno-stack-protector" "$small" \
    "$small -fno-pie -no-pie" \
    "$small -fno-pie -no-pie -Wl,--build-id=none -fno-ident"; do
	line=
	for r in git socks4 socks5 custom; do
		b=$out/proxymachine-$r
		# The flags are split on purpose.
		if $cc $req $flags -static -s -o "$b" "$top/proxymachine.c" \
		    "$top/small.c" "$top/routers/$r.c" >"$out/$r.log" 2>&1; then
			line="$line$(printf '%-8s ' "$(size "$b" 2>/dev/null |
			    awk 'NR == 2 { print $1 + $2 }')")"
		else
			line="${line}failed   "
		fi
	done
	echo "$line $flags"
done

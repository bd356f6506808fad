#!/bin/sh
# scripts/cross.sh: cross-build static binaries for an embedded target and
# run the test suite against them under qemu-user.
#
#	scripts/cross.sh [-n] ARCH [test.sh ARGUMENTS...]
#
# ARCH is armhf, aarch64 (arm64), mipsel or riscv64.  The binaries are
# built with Debian's cross compiler (CC, default TRIPLE-gcc) and glibc,
# linked statically (LDFLAGS, default -static), into build/ARCH/src/tests
# (scripts/build.sh: the work tree is not touched); tests/pmtest stays
# native.  LIBC=musl links with musl instead, as on OpenWrt, through the
# musl-gcc.specs of Debian's multiarch musl-dev:DEBARCH (dpkg
# --add-architecture DEBARCH first), into build/ARCH-musl.  Then the
# snapshot of test.sh runs with BINDIR set to that directory and RUN to
# qemu-ARCH-static (or qemu-ARCH), which is put in front of every proxy:
# no binfmt_misc registration is needed.  -n builds and stops there.
#
# Debian packages: gcc-TRIPLE, libc6-dev-DEBARCH-cross, qemu-user-static
# (or qemu-user).  The script says which ones are missing.
#
# Exit status: that of test.sh; 2 for a usage error or missing tools, 1
# when the build failed.

set -u
top=$(cd "$(dirname "$0")/.." && pwd) || exit 2
buildonly=
if [ "${1:-}" = -n ]; then
	buildonly=1
	shift
fi
if [ $# -lt 1 ]; then
	echo "usage: scripts/cross.sh [-n] armhf|aarch64|mipsel|riscv64" \
	    "[test.sh arguments]" >&2
	exit 2
fi
arch=$1
shift

case $arch in
armhf|arm)
	arch=armhf triple=arm-linux-gnueabihf qemu=arm debarch=armhf
	mtriple=arm-linux-musleabihf ;;
aarch64|arm64)
	arch=aarch64 triple=aarch64-linux-gnu qemu=aarch64 debarch=arm64
	mtriple=aarch64-linux-musl ;;
mipsel)
	triple=mipsel-linux-gnu qemu=mipsel debarch=mipsel
	mtriple=mipsel-linux-musl ;;
riscv64)
	triple=riscv64-linux-gnu qemu=riscv64 debarch=riscv64
	mtriple=riscv64-linux-musl ;;
*)
	echo "cross.sh: unknown ARCH '$arch'" \
	    "(armhf, aarch64, mipsel, riscv64)" >&2
	exit 2 ;;
esac

missing=
out=$top/build/$arch
specs=
case ${LIBC:-glibc} in
glibc)	;;
musl)	specs=/usr/lib/$mtriple/musl-gcc.specs
	out=$out-musl
	[ -f "$specs" ] || missing="$missing musl-dev:$debarch" ;;
*)	echo "cross.sh: LIBC is glibc or musl, not '$LIBC'" >&2
	exit 2 ;;
esac
CC=${CC:-$triple-gcc${specs:+ -specs $specs}}
LDFLAGS=${LDFLAGS:--static}
export CC LDFLAGS
if [ -z "${RUN:-}" ]; then
	for q in qemu-$qemu-static qemu-$qemu; do
		if command -v "$q" >/dev/null 2>&1; then
			RUN=$q
			break
		fi
	done
fi
command -v "${CC%% *}" >/dev/null 2>&1 || missing="$missing gcc-$triple"
[ -d "/usr/$triple/include" ] ||
    missing="$missing libc6-dev-$debarch-cross"
[ -n "${RUN:-}" ] || missing="$missing qemu-user-static"
if [ -n "$missing" ]; then
	echo "cross.sh: missing; on Debian: apt-get install$missing" >&2
	exit 2
fi

t0=$(date +%s)
mkdir -p "${out%/*}" || exit 2
if ! "$top/scripts/build.sh" "$out" >"$out.build.log" 2>&1; then
	cat "$out.build.log" >&2
	echo "cross.sh: ${out##*/}: build failed" >&2
	exit 1
fi
t1=$(date +%s)
bins=$out/src/tests
# Static glibc warns that getaddrinfo and getpwnam want its shared NSS
# modules at run time: the files and numeric lookups the tests use work
# without them.  Each distinct warning is shown once.
grep -e 'warning:' -e 'error:' "$out.build.log" |
    sed -e 's/^.*warning: /warning: /' -e 's/^.*error: /error: /' |
    sort | uniq -c >&2

# What was built: the machine in the ELF header, the stripped size of
# each router's binary, and that the emulator runs it.
echo "cross.sh: ${out##*/}: built with $CC $LDFLAGS in $((t1 - t0)) s"
for r in git socks4 socks5 custom; do
	b=$bins/proxymachine-$r
	"$triple-strip" -o "$b.stripped" "$b" 2>/dev/null ||
	    cp "$b" "$b.stripped"
	m=$("$triple-readelf" -h "$b" 2>/dev/null |
	    sed -n 's/^ *Machine: *//p')
	printf '  %-8s %8s bytes stripped  %s  %s\n' "$r" \
	    "$(wc -c <"$b.stripped" | tr -d ' ')" "${m:-?}" \
	    "$($RUN "$b" -V 2>&1 | head -n 1)"
done
[ -n "$buildonly" ] && exit 0

echo "cross.sh: ${out##*/}: BINDIR=$bins RUN=$RUN" \
    "sh ${out#$top/}/src/test.sh $*"
BINDIR=$bins RUN=$RUN PMTEST=$bins/pmtest sh "$out/src/test.sh" "$@"
rc=$?
t2=$(date +%s)
echo "cross.sh: ${out##*/}: test.sh exit $rc in $((t2 - t1)) s"
exit $rc

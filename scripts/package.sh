#!/bin/sh
# scripts/package.sh: the checks a port or a package relies on, each in a
# fresh copy of the tree unpacked from `make dist` (so the tarball is
# checked too; nothing is built or changed in the work tree):
#
#   install what was built, with GNU make and with bmake: after
#     make ROUTER=socks4, make install installs that router and compiles
#     nothing (bmake's DESTDIR adds -nostdinc); make, make static and
#     make testbins keep ./proxymachine; install refuses, saying why, when
#     nothing is built, a source is newer or another ROUTER is given;
#   flavours: three PROGs built and installed side by side with their man
#     pages and examples, one through the environment
#     (PROG=proxymachine-socks4 ROUTER=socks4 make install), then clean;
#   install details: modes, PREFIX, MANDIR, INSTALL_PROGRAM,
#     install-strip, uninstall;
#   the developer's targets that .ci/run uses are still make targets;
#   the dist round trip: the unpacked tarball builds and passes make test;
#   the README's quick start as written (its ports and /tmp/pm changed);
#   the OpenWrt init script's reload, against stubs of rc.common and procd:
#     HUP when only the table changed, a restart for anything else.
#
#	sh scripts/package.sh [-q]
#
# -q builds the unpacked tarball without running make test there (which
# takes about 90 s).  bmake is skipped when not installed (Debian: apt-get
# install bmake); git is needed for make dist and the quick start.  The
# output is test.sh's; the exit status is 0 when every check passed.

set -u
top=$(cd "$(dirname "$0")/.." && pwd) || exit 2
quick=
if [ "${1:-}" = -q ]; then
	quick=1
fi
. "$top/tests/lib.sh"
trap cleanup EXIT
trap 'exit 1' INT TERM

version=$(sed -n 's/^VERSION[[:blank:]]*=[[:blank:]]*//p' "$top/Makefile")
name=proxymachine-$version
tarball=$T/$name.tar.gz
makes=make
if command -v bmake >/dev/null 2>&1; then
	makes="make bmake"
else
	skip "bmake" "not installed"
fi

# fresh DIR: unpacks the tarball in DIR and prints the tree's path.
fresh()
{
	rm -rf "$1"
	mkdir -p "$1" && (cd "$1" && gzip -dc "$tarball" | tar xf -) &&
	    echo "$1/$name"
}

# The checksum of a file, or "none".
sum()
{
	cksum <"$1" 2>/dev/null || echo none
}

# inlog NAME LOG PATTERN: ok when LOG holds PATTERN, else fail with LOG.
inlog()
{
	if grep -q -- "$3" "$2"; then
		ok "$1"
	else
		fail "$1" "$(tail -n 3 "$2" | tr '\n' ' ')"
	fi
}

# The mode of a file as ls shows it (-rwxr-xr-x).
mode()
{
	ls -l "$1" 2>/dev/null | cut -c 1-10
}

echo "# make dist"
if (cd "$top" && make -s dist DISTDIR="$T") >"$T/dist.log" 2>&1 &&
    [ -s "$tarball" ]; then
	ok "make dist writes $name.tar.gz"
else
	fail "make dist writes $name.tar.gz" "$(cat "$T/dist.log")"
	exit 1
fi
gzip -dc "$tarball" | tar tf - >"$T/list"
_bad=$(grep -v "^$name/" "$T/list"; grep -e '/\.' -e '/tests/pmtest$' \
    -e "^$name/proxymachine$" -e "^$name/proxymachine-static$" "$T/list")
[ -z "$_bad" ] && grep -q "^$name/dev.mk$" "$T/list" &&
    grep -q "^$name/test.sh$" "$T/list" &&
    ok "the tarball: sources under $name/, no build output" ||
    fail "the tarball: sources under $name/, no build output" "$_bad"

for m in $makes; do
	echo "# install what was built: $m"
	d=$(fresh "$T/a-$m") || { fail "$m: unpack"; continue; }
	(cd "$d" && $m install DESTDIR="$T/a-$m-none") >"$T/log" 2>&1
	[ $? -ne 0 ] && [ ! -e "$T/a-$m-none" ] &&
	    inlog "$m install, nothing built: refused, said" "$T/log" \
	    "not built: run make" ||
	    fail "$m install, nothing built: refused" "$(cat "$T/log")"

	(cd "$d" && $m ROUTER=socks4 CFLAGS=-O2) >"$T/log" 2>&1 ||
	    fail "$m ROUTER=socks4 builds" "$(tail -n 5 "$T/log")"
	s0=$(sum "$d/proxymachine")
	(cd "$d" && $m install DESTDIR="$T/a-$m-dest") >"$T/log" 2>&1
	_rc=$?
	_v=$("$T/a-$m-dest/usr/local/sbin/proxymachine" -V 2>&1)
	case $_rc:$_v in
	0:*"router socks4;"*)
		ok "$m ROUTER=socks4; $m install: installs socks4" ;;
	*)	fail "$m ROUTER=socks4; $m install: installs socks4" \
		    "exit $_rc, $_v: $(tail -n 3 "$T/log")" ;;
	esac
	[ "$(sum "$d/proxymachine")" = "$s0" ] &&
	    ! grep -q -- "-o proxymachine " "$T/log" &&
	    ok "$m install compiles nothing" ||
	    fail "$m install compiles nothing" "$(cat "$T/log")"

	(cd "$d" && $m CFLAGS=-O2 && $m static CFLAGS=-O2 &&
	    $m testbins CFLAGS=-O2) >"$T/log" 2>&1 ||
	    fail "$m, $m static, $m testbins build" "$(tail -n 5 "$T/log")"
	_v=$("$d/proxymachine-static" -V 2>&1)
	case $_v in
	*"router socks4;"*)
		ok "$m static in a tree built for socks4: socks4" ;;
	*)	fail "$m static in a tree built for socks4: socks4" "$_v" ;;
	esac
	[ "$(sum "$d/proxymachine")" = "$s0" ] &&
	    [ -x "$d/tests/proxymachine-test" ] &&
	    ok "$m, $m static, $m testbins: ./proxymachine kept as built" ||
	    fail "$m, $m static, $m testbins: ./proxymachine kept as built"

	(cd "$d" && $m ROUTER=custom install DESTDIR="$T/a-$m-custom") \
	    >"$T/log" 2>&1
	[ $? -ne 0 ] && [ ! -e "$T/a-$m-custom" ] &&
	    inlog "$m ROUTER=custom install: refused, names socks4" \
	    "$T/log" "holds the socks4 router, not custom" ||
	    fail "$m ROUTER=custom install: refused" "$(cat "$T/log")"

	touch -t 203001010000 "$d/routers/socks4.c"
	(cd "$d" && $m install DESTDIR="$T/a-$m-newer") >"$T/log" 2>&1
	[ $? -ne 0 ] && [ ! -e "$T/a-$m-newer" ] &&
	    inlog "$m install, a source newer: refused, said" "$T/log" \
	    "sources changed" ||
	    fail "$m install, a source newer: refused" "$(cat "$T/log")"

	echo "# flavours: $m"
	d=$(fresh "$T/b-$m") || { fail "$m: unpack"; continue; }
	(cd "$d" && $m PROG=proxymachine-socks4 ROUTER=socks4 CFLAGS=-O2 &&
	    $m PROG=proxymachine-socks5 ROUTER=socks5 CFLAGS=-O2 &&
	    $m CFLAGS=-O2 &&
	    PROG=proxymachine-socks4 ROUTER=socks4 $m install \
	    DESTDIR="$T/b-$m-dest" &&
	    PROG=proxymachine-socks5 ROUTER=socks5 $m install \
	    DESTDIR="$T/b-$m-dest" &&
	    $m install DESTDIR="$T/b-$m-dest") >"$T/log" 2>&1 ||
	    fail "$m: three PROGs build and install" "$(tail -n 5 "$T/log")"
	i=$T/b-$m-dest/usr/local
	_v1=$("$i/sbin/proxymachine-socks4" -V 2>&1)
	_v2=$("$i/sbin/proxymachine" -V 2>&1)
	_v3=$("$i/sbin/proxymachine-socks5" -V 2>&1)
	case $_v1/$_v2/$_v3 in
	*"router socks4;"*/*"router git;"*/*"router socks5;"*)
		ok "$m flavours: proxymachine-socks4, -socks5 and" \
		    "proxymachine" ;;
	*)	fail "$m flavours: proxymachine-socks4, -socks5 and" \
		    "proxymachine" "$_v1 / $_v2 / $_v3" ;;
	esac
	cmp -s "$d/proxymachine.8" "$i/share/man/man8/proxymachine-socks4.8" &&
	    cmp -s "$d/proxymachine.8" "$i/share/man/man8/proxymachine.8" &&
	    ok "$m flavours: each with its man page" ||
	    fail "$m flavours: each with its man page"
	_miss=
	for f in proxymachine/git.conf proxymachine/service/proxymachine.uci \
	    proxymachine-socks4/socks4.conf \
	    proxymachine-socks4/service/proxymachine.openwrt \
	    proxymachine-socks5/socks5.conf; do
		[ -f "$i/share/examples/$f" ] || _miss="$_miss $f"
	done
	[ -z "$_miss" ] && ok "$m flavours: each with its examples" ||
	    fail "$m flavours: each with its examples" "missing:$_miss"
	(cd "$d" && $m clean) >"$T/log" 2>&1
	[ ! -e "$d/proxymachine" ] && [ ! -e "$d/proxymachine-socks4" ] &&
	    [ ! -e "$d/proxymachine-socks5" ] &&
	    [ -z "$(cd "$d" && ls -a | grep '\.build$')" ] &&
	    ok "$m clean: the builds and their stamps gone" ||
	    fail "$m clean: the builds and their stamps gone" \
	    "$(cd "$d" && ls -a)"

	_bad=
	# Not bench: GNU make runs a line that names $(MAKE) even under -n.
	for t in asan soak-short analyze fuzz lint testbins warn size \
	    compilers dist package; do
		(cd "$d" && $m -n $t) >/dev/null 2>&1 || _bad="$_bad $t"
	done
	[ -z "$_bad" ] && ok "$m: the developer's targets are make targets" ||
	    fail "$m: the developer's targets are make targets" "$_bad"
done

echo "# install details"
d=$(fresh "$T/c")
(cd "$d" && make CFLAGS=-O2) >"$T/log" 2>&1 ||
    fail "make builds" "$(tail -n 5 "$T/log")"
i=$T/c-dest/opt/pm
(cd "$d" && make install DESTDIR="$T/c-dest" PREFIX=/opt/pm \
    MANDIR=/opt/pm/man) >"$T/log" 2>&1
_m="$(mode "$i/sbin/proxymachine") $(mode "$i/man/man8/proxymachine.8")"
_m="$_m $(mode "$i/share/examples/proxymachine/git.conf")"
_m="$_m $(mode "$i/share/examples/proxymachine/service/proxymachine.service")"
[ "$_m" = "-rwxr-xr-x -rw-r--r-- -rw-r--r-- -rw-r--r--" ] &&
    ok "install: PREFIX, MANDIR=PREFIX/man, modes 755 and 644" ||
    fail "install: PREFIX, MANDIR=PREFIX/man, modes 755 and 644" \
    "$_m: $(tail -n 3 "$T/log")"
(cd "$d" && make uninstall DESTDIR="$T/c-dest" PREFIX=/opt/pm \
    MANDIR=/opt/pm/man) >"$T/log" 2>&1
[ -z "$(find "$T/c-dest" -type f)" ] && ok "uninstall removes it all" ||
    fail "uninstall removes it all" "$(find "$T/c-dest" -type f)"
(cd "$d" && make install DESTDIR="$T/c-700" \
    INSTALL_PROGRAM="install -m 700") >"$T/log" 2>&1
[ "$(mode "$T/c-700/usr/local/sbin/proxymachine")" = -rwx------ ] &&
    ok "install: INSTALL_PROGRAM replaced" ||
    fail "install: INSTALL_PROGRAM replaced" "$(tail -n 3 "$T/log")"
(cd "$d" && make install-strip DESTDIR="$T/c-strip") >"$T/log" 2>&1
_s0=$(wc -c <"$d/proxymachine")
_s1=$(wc -c <"$T/c-strip/usr/local/sbin/proxymachine" 2>/dev/null || echo 0)
[ "$_s1" -gt 0 ] && [ "$_s1" -lt "$_s0" ] &&
    [ "$(wc -c <"$d/proxymachine")" -eq "$_s0" ] &&
    ok "install-strip: the installed copy stripped ($_s0 -> $_s1 bytes)" ||
    fail "install-strip: the installed copy stripped" \
    "$_s0 -> $_s1: $(tail -n 3 "$T/log")"

echo "# the dist round trip"
d=$(fresh "$T/d")
if [ -n "$quick" ]; then
	(cd "$d" && make && make testbins) >"$T/log" 2>&1 &&
	    ok "the unpacked tarball builds (-q: no make test)" ||
	    fail "the unpacked tarball builds" "$(tail -n 5 "$T/log")"
else
	(cd "$d" && make && make test) >"$T/log" 2>&1
	_rc=$?
	_r=$(tail -n 1 "$T/log")
	[ $_rc -eq 0 ] && echo "$_r" | grep -q ' 0 failed$' &&
	    ok "the unpacked tarball builds and passes make test: $_r" ||
	    fail "the unpacked tarball builds and passes make test" \
	    "exit $_rc: $(grep '^not ok' "$T/log" | head -n 5) $_r"
fi

echo "# the README's quick start"
# Its commands (the indented block), then the clone in the text; the
# ports and /tmp/pm are changed so as not to collide with anything.
(cd "$d" && make tests/pmtest) >/dev/null 2>&1
PMTEST=$d/tests/pmtest
if ! command -v git >/dev/null 2>&1; then
	skip "the README's quick start" "no git"
else
	q=$T/qs
	p1=$(freeport)
	p2=$(freeport)
	mkdir -p "$q"
	sed "s/9418/$p1/" "$d/examples/git-local.conf" >"$T/qs.conf"
	awk '/^Quick start$/ { q = 1; next }
	    q && /^    / { print; b = 1; next }
	    q && b { exit }' "$d/README" |
	    sed -e 's/^    //' -e "s|/tmp/pm|$q|g" -e "s/9418/$p1/g" \
	    -e "s/9419/$p2/g" -e "s|examples/git-local.conf|$T/qs.conf|" \
	    >"$T/qs.sh"
	grep '^\./proxymachine ' "$T/qs.sh" | sed 's/^/exec /' >"$T/qs-proxy.sh"
	grep -v '^\./proxymachine ' "$T/qs.sh" >"$T/qs-setup.sh"
	clone=$(awk '/^Quick start$/ { q = 1 } q; q && /^Run the tests/ { exit }' \
	    "$d/README" |
	    tr '\n' ' ' | sed -n 's/.*`\(git clone [^`]*\)`.*/\1/p' |
	    sed -e "s|/tmp/pm|$q|g" -e "s/9419/$p2/g")
	(cd "$d" && bounded 120 sh -e "$T/qs-setup.sh") >"$T/qs.log" 2>&1
	_rc=$?
	[ -s "$q/git-daemon.pid" ] && PIDS="$PIDS $(cat "$q/git-daemon.pid")"
	(cd "$d" && exec sh "$T/qs-proxy.sh") 2>"$T/qs-pm.log" &
	PIDS="$PIDS $!"
	if [ $_rc -eq 0 ] && [ -s "$T/qs-proxy.sh" ] && [ -n "$clone" ] &&
	    waitport 127.0.0.1 "$p1" && waitport 127.0.0.1 "$p2" &&
	    (cd "$d" && $clone) >>"$T/qs.log" 2>&1 &&
	    [ -d "$q/hello/.git" ] &&
	    waitfor 10 grep -q "close: done; .* -> 127.0.0.1:$p1; git: .*user 'alice'" \
	    "$T/qs-pm.log"
	then
		ok "the README's quick start: the clone goes through the proxy"
	else
		fail "the README's quick start" "exit $_rc, clone '$clone':" \
		    "$(cat "$T/qs.log" "$T/qs-pm.log" | tail -n 5)"
	fi
fi

echo "# the OpenWrt init script's reload"
# rc.common and procd, as far as the script sees them: config_* read the
# UCI_* variables; start does what rc.common's does (start_service),
# then what procd does with the instance it was given: start it, restart
# it when its command line changed, stop it when there is none.
mkdir -p "$T/run"
sed "s|/var/run|$T/run|" "$top/examples/service/proxymachine.openwrt" \
    >"$T/openwrt"
cat >"$T/rc" <<'EOF'
config_load() { :; }
config_get_bool() { eval "$1=\${UCI_$3-$4}"; }
config_get() { eval "$1=\${UCI_$3-$4}"; }
procd_open_instance() { CMD=; }
procd_set_param() { [ "$1" = command ] && shift && CMD="$*"; return 0; }
procd_close_instance() { NEW=$CMD; }
procd_send_signal() { echo "signal $*" >>"$EVENTS"; }
procd_add_reload_trigger() { echo "trigger $*" >>"$EVENTS"; }
start()
{
	NEW=
	start_service
	_old=$(cat "$RUNNING" 2>/dev/null)
	if [ -z "$NEW" ]; then
		[ -n "$_old" ] && echo stop >>"$EVENTS"
	elif [ -z "$_old" ]; then
		echo "start $NEW" >>"$EVENTS"
	elif [ "$_old" != "$NEW" ]; then
		echo "restart $NEW" >>"$EVENTS"
	fi
	echo "$NEW" >"$RUNNING"
}
EOF
EVENTS=$T/events
RUNNING=$T/running
export EVENTS RUNNING
# owrt NAME WANT ACTION [VAR=VALUE...]: ACTION with those UCI settings
# makes exactly the events WANT (lines joined with "; ").
owrt()
{
	_n=$1
	_w=$2
	_a=$3
	shift 3
	: >"$EVENTS"
	env "$@" sh -c '. "$1"; . "$2"; $3' sh "$T/rc" "$T/openwrt" "$_a"
	_got=$(sed -e :a -e '$!N' -e 's/\n/; /' -e ta "$EVENTS")
	if [ "$_got" = "$_w" ]; then
		ok "openwrt: $_n"
	else
		fail "openwrt: $_n" "wanted '$_w', got '$_got'"
	fi
}
cmd="/usr/sbin/proxymachine -c /etc/proxymachine.conf -h 0.0.0.0"
owrt "start" "start $cmd -p 9418" start
owrt "reload, only the table changed: HUP" \
    "signal proxymachine * HUP" reload_service
owrt "reload, a new port: restart, no HUP" \
    "restart $cmd -p 443" reload_service UCI_port=443
owrt "reload, new args: restart" \
    "restart $cmd -p 443 -q" reload_service UCI_port=443 UCI_args=-q
owrt "reload, enabled 0: stop" "stop" reload_service UCI_enabled=0
owrt "reload, enabled 1 again: start" "start $cmd -p 9418" reload_service
owrt "uci commit proxymachine reloads it" "trigger proxymachine" \
    service_triggers

echo "$PASS passed, $FAIL failed${SKIP:+, $SKIP skipped}"
[ "$FAIL" -eq 0 ]

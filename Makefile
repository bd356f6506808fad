# proxymachine: a content-aware TCP routing proxy.  This Makefile works
# with GNU make and BSD make (bmake, OpenBSD's make).  What a port runs:
#
#	make [ROUTER=git|socks4|socks5|custom|skeleton] [MAXCONN=n] [BUFSIZE=n]
#	make test
#	make install [DESTDIR=dir] [PREFIX=dir] [BINDIR= MANDIR= EXAMPLESDIR=]
#	make install-strip		install, then $(STRIP) the binary
#	make static			./proxymachine-static: static, stripped
#	make tiny			./proxymachine-tiny: the same, minimal
#	make uninstall, make clean
#
# ROUTER picks the router linked in (default git) and is remembered: make,
# make static and make install use the one ./$(PROG) was last built with,
# so ROUTER is only needed to switch.  install never compiles: it installs
# ./$(PROG) as built and refuses when it is missing, older than its sources
# or built with another router than a ROUTER given.
#
# Several routers side by side (a port's flavours): give each its own PROG,
# to make and to make install alike, as in
#	make PROG=proxymachine-socks4 ROUTER=socks4
#	make PROG=proxymachine-socks4 ROUTER=socks4 install
# which installs sbin/proxymachine-socks4, man8/proxymachine-socks4.8 and
# share/examples/proxymachine-socks4/.
#
# OpenBSD ports set MANDIR=$(PREFIX)/man.  INSTALL_PROGRAM, INSTALL_MAN and
# INSTALL_DATA take a source and a destination file, as install(1) does;
# a port may pass its own (FreeBSD's ports do).
#
# Developer tooling (asan, fuzz, soak, analyze, cross, compilers, size,
# bench, dist, package) is in dev.mk, included at the end.

PROG ?=		proxymachine
VERSION =	0.1.0

# The router ./$(PROG) was last built with (the first word of its stamp),
# else git.  A make without != (GNU make before 4.0) always says git: with
# it, give make install the ROUTER given to make.
BUILT_ROUTER =	git
BUILT_ROUTER !=	sed -n '1s/ .*//p' .$(PROG).build 2>/dev/null | grep . || \
		echo git
ROUTER ?=	$(BUILT_ROUTER)

CFLAGS ?=	-O2
PREFIX ?=	/usr/local
BINDIR ?=	$(PREFIX)/sbin
MANDIR ?=	$(PREFIX)/share/man
EXAMPLESDIR ?=	$(PREFIX)/share/examples/$(PROG)
INSTALL ?=	install
INSTALL_PROGRAM ?= $(INSTALL) -m 755
INSTALL_MAN ?=	$(INSTALL) -m 644
INSTALL_DATA ?=	$(INSTALL) -m 644
STRIP ?=	strip

# Required flags, kept apart from CFLAGS so that a user's CFLAGS keep them.
PM_CFLAGS =	-std=c99 -D_DEFAULT_SOURCE -DPM_VERSION=\"$(VERSION)\" \
		$(MAXCONN:%=-DPM_MAXCONN=%) $(BUFSIZE:%=-DPM_BUFSIZE=%)
# What `make static` adds for a small static binary (scripts/size.sh
# measures each step): about 15% off with musl, no change to the code.
SIZEFLAGS =	-Os -ffunction-sections -fdata-sections \
		-fno-asynchronous-unwind-tables -fno-unwind-tables \
		-fno-pie -no-pie -Wl,--gc-sections -Wl,-z,noseparate-code
# Static binaries link with musl-gcc when it is there and CC is the
# default; any other CC (a cross compiler, clang) is used as given.  With
# musl (musl-gcc, or a compiler whose name or target says musl) they also
# take SMALLFLAGS: PM_SMALL puts small functions of our own in place of
# libc's printf, malloc, getopt_long, getpwnam and its wrappers of fork
# and set*id, 30% off, and changes nothing else (the size knobs in
# proxymachine.c).  A compiler that knows -Oz (gcc 12, clang) gets it
# after -Os: about 1 KB less.
SMALLFLAGS =	-DPM_SMALL
PICKCC =	case "$(CC)" in cc|"cc "*|gcc) \
		    command -v musl-gcc >/dev/null 2>&1 && cc=musl-gcc;; esac; \
		small=; case "$$cc `$$cc -dumpmachine 2>/dev/null`" in \
		    *musl*) small="$(SMALLFLAGS)";; esac; \
		echo 'int x;' >.oz.c; \
		oz=; $$cc -Oz -c -o .oz.o .oz.c >/dev/null 2>&1 && oz=-Oz; \
		rm -f .oz.c .oz.o

# EV=kqueue builds the proxies under tests/ on the kqueue backend, over
# epoll through tests/kqueue_shim.c (for Linux); EV=poll on poll(2).
EV_kqueue =	-DPM_USE_KQUEUE -Itests/shim tests/kqueue_shim.c
EV_poll =	-DPM_USE_POLL
TESTEV =	$(EV_$(EV))

SRCS =		proxymachine.c small.c router.h routers/sniff.c
ROUTERBINS =	tests/proxymachine-git tests/proxymachine-socks4 \
		tests/proxymachine-socks5 tests/proxymachine-custom \
		tests/proxymachine-skeleton
PROXYBINS =	tests/proxymachine-test tests/proxymachine-small $(ROUTERBINS)
TESTBINS =	tests/pmtest tests/soak $(PROXYBINS)

all: $(PROG)

$(PROG): $(SRCS) routers/$(ROUTER).c .$(PROG).build
	$(CC) $(PM_CFLAGS) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ \
	    proxymachine.c small.c routers/$(ROUTER).c

# The stamp holds the build choices, the router first (read back above).
# It changes, and the binary goes so as to be relinked, only when they do
# (make may compare times to the second and see the new stamp as no newer).
.$(PROG).build: FORCE
	@echo "$(ROUTER) $(MAXCONN) $(BUFSIZE) $(CC) $(CFLAGS) $(LDFLAGS)" \
	    >$@.new; \
	if cmp -s $@.new $@; then rm -f $@.new; \
	else mv $@.new $@; rm -f $(PROG); fi

FORCE:

# Static and stripped, from the same router; ./$(PROG) is left alone.
static: $(SRCS) routers/$(ROUTER).c
	@cc="$(CC)"; $(PICKCC); \
	echo "$$cc $$small ... -static -o $(PROG)-static (router $(ROUTER))"; \
	$$cc $(PM_CFLAGS) $$small $(CPPFLAGS) $(CFLAGS) $(SIZEFLAGS) $$oz \
	    $(LDFLAGS) -static -s -o $(PROG)-static proxymachine.c small.c \
	    routers/$(ROUTER).c

# The minimal static binary: PM_TINY, the small functions of PM_SMALL,
# numeric addresses only (no name lookups), no -w, no PROXY protocol (no
# -a) and one listener (what each saves: the size knobs in
# proxymachine.c).
tiny: $(SRCS) routers/$(ROUTER).c
	@cc="$(CC)"; $(PICKCC); \
	echo "$$cc -DPM_TINY ... -static -o $(PROG)-tiny (router $(ROUTER))"; \
	$$cc $(PM_CFLAGS) -DPM_TINY $(CPPFLAGS) $(CFLAGS) $(SIZEFLAGS) $$oz \
	    $(LDFLAGS) -static -s -o $(PROG)-tiny proxymachine.c small.c \
	    routers/$(ROUTER).c

test: testbins
	STRICT=$(STRICT) sh test.sh

install:
	@if [ ! -f $(PROG) ]; then \
	    echo "install: ./$(PROG) is not built: run make first" >&2; \
	    exit 1; \
	fi; \
	built=`sed -n '1s/ .*//p' .$(PROG).build 2>/dev/null`; \
	if [ "$$built" != "$(ROUTER)" ]; then \
	    echo "install: ./$(PROG) holds the $${built:-unknown} router," \
	        "not $(ROUTER): run make ROUTER=$(ROUTER) first" >&2; \
	    exit 1; \
	fi; \
	if [ -n "`find $(SRCS) routers/$(ROUTER).c -newer $(PROG)`" ]; then \
	    echo "install: the sources changed after ./$(PROG) was" \
	        "built: run make first" >&2; \
	    exit 1; \
	fi
	mkdir -p $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man8 \
	    $(DESTDIR)$(EXAMPLESDIR)/service
	$(INSTALL_PROGRAM) $(PROG) $(DESTDIR)$(BINDIR)/$(PROG)
	$(INSTALL_MAN) proxymachine.8 $(DESTDIR)$(MANDIR)/man8/$(PROG).8
	for f in examples/*.conf examples/service/*; do \
	    $(INSTALL_DATA) $$f $(DESTDIR)$(EXAMPLESDIR)/$${f#examples/} || \
	    exit 1; \
	done

install-strip: install
	$(STRIP) $(DESTDIR)$(BINDIR)/$(PROG)

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/$(PROG) $(DESTDIR)$(MANDIR)/man8/$(PROG).8
	rm -rf $(DESTDIR)$(EXAMPLESDIR)

# The man page, and the shape of the core (scripts/shape.sh).
lint:
	mandoc -Tlint -Wwarning proxymachine.8
	sh scripts/shape.sh

# Every PROG built here goes, with its stamp.
clean:
	for s in .*.build; do \
	    [ -f "$$s" ] || continue; p=$${s#.}; p=$${p%.build}; \
	    rm -f "$$s" "$$s.new" "$$p" "$$p-static" "$$p-tiny"; \
	done
	rm -f $(PROG) $(PROG)-static $(PROG)-tiny $(PROG)-size .warn.o \
	    tests/.build tests/.build.new $(TESTBINS)
	rm -rf build fuzz/build

# The test suite's binaries: the proxy with each router and with the test
# router (tests/router_test.c), and two helpers.  Their stamp holds the
# flags but not ROUTER, so switching routers never rebuilds them.
testbins: $(TESTBINS)

tests/.build: FORCE
	@echo "$(MAXCONN) $(BUFSIZE) $(EV) $(CC) $(CFLAGS) $(LDFLAGS)" >$@.new; \
	if cmp -s $@.new $@; then rm -f $@.new; \
	else mv $@.new $@; rm -f $(PROXYBINS); fi

# The helpers are not part of what is tested: plain flags.
tests/pmtest: tests/pmtest.c
	$(CC) $(PM_CFLAGS) -O2 -o $@ tests/pmtest.c

tests/soak: tests/soak.c
	$(CC) $(PM_CFLAGS) -O2 -o $@ tests/soak.c

# PM_TEST_HOOKS: PM_TEST_LOOKUP_DELAY_MS in the environment slows name
# lookups, for the suite's reload tests.
tests/proxymachine-test: $(SRCS) tests/router_test.c tests/.build
	$(CC) $(PM_CFLAGS) -DPM_TEST_HOOKS $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) \
	    -o $@ proxymachine.c small.c tests/router_test.c $(TESTEV)

tests/proxymachine-small: $(SRCS) tests/router_test.c tests/.build
	$(CC) $(PM_CFLAGS) -DPM_MAXCONN=4 -DPM_ROUTE_TIMEOUT=1500 -DPM_PIPES=1 \
	    $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) \
	    -o $@ proxymachine.c small.c tests/router_test.c $(TESTEV)

tests/proxymachine-git: routers/git.c
tests/proxymachine-socks4: routers/socks4.c
tests/proxymachine-socks5: routers/socks5.c
tests/proxymachine-custom: routers/custom.c
tests/proxymachine-skeleton: routers/skeleton.c
$(ROUTERBINS): $(SRCS) tests/.build
	$(CC) $(PM_CFLAGS) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ \
	    proxymachine.c small.c routers/$(@F:proxymachine-%=%).c $(TESTEV)

# What the tests use and this machine lacks: the line that installs it
# (run, as root on Debian).  STRICT=1 makes `make test' fail without it.
deps:
	@sh scripts/deps.sh

.PHONY: all static tiny test install install-strip uninstall lint clean \
	testbins deps FORCE

include dev.mk

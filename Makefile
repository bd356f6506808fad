# proxymachine: a content-aware TCP routing proxy.
# Works with GNU make and BSD make (bmake).  `make ROUTER=socks4` picks
# routers/socks4.c; MAXCONN and BUFSIZE set the pool (see proxymachine.c).

PROG =		proxymachine
VERSION =	0.1.0
ROUTER ?=	git
ROUTERS =	git socks4 custom

CFLAGS ?=	-O2
PREFIX ?=	/usr/local
BINDIR ?=	$(PREFIX)/sbin
MANDIR ?=	$(PREFIX)/share/man

# Required flags, kept apart from CFLAGS so that a user's CFLAGS keep them.
PM_CFLAGS =	-std=c99 -D_DEFAULT_SOURCE -DPM_VERSION=\"$(VERSION)\" \
		$(MAXCONN:%=-DPM_MAXCONN=%) $(BUFSIZE:%=-DPM_BUFSIZE=%)
WARN =		-Wall -Wextra -pedantic
# What `make size` adds for a small static binary (scripts/size.sh
# measures each step): about 15% off with musl, no change to the code.
SIZEFLAGS =	-Os -ffunction-sections -fdata-sections \
		-fno-asynchronous-unwind-tables -fno-unwind-tables \
		-Wl,--gc-sections -Wl,-z,noseparate-code
# Static binaries link with musl-gcc when it is there and CC is the
# default; any other CC (a cross compiler, clang) is used as given.
PICKCC =	case "$(CC)" in cc|"cc "*|gcc) \
		    command -v musl-gcc >/dev/null 2>&1 && cc=musl-gcc;; esac
SAN =		-fsanitize=address,undefined -fno-omit-frame-pointer -g

SRCS =		proxymachine.c router.h
PROXYBINS =	tests/proxymachine-test tests/proxymachine-small \
		tests/proxymachine-git tests/proxymachine-socks4 \
		tests/proxymachine-custom
TESTBINS =	tests/pmtest tests/soak $(PROXYBINS)

all: $(PROG)

# The stamp holds the build choices; it changes (and forces a relink) only
# when they do.  The binary is removed with it, since make may compare
# times to the second and see the new stamp as no newer.
.router: FORCE
	@echo "$(ROUTER) $(MAXCONN) $(BUFSIZE) $(CC) $(CFLAGS) $(LDFLAGS)" \
	    > .router.new; \
	if cmp -s .router.new .router; then rm -f .router.new; \
	else mv .router.new .router; rm -f $(PROG) $(PROXYBINS); fi

FORCE:

$(PROG): $(SRCS) routers/$(ROUTER).c .router
	$(CC) $(PM_CFLAGS) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ \
	    proxymachine.c routers/$(ROUTER).c

# A static binary: musl-gcc when it is there and CC is the default.
static: $(SRCS) routers/$(ROUTER).c .router
	@cc="$(CC)"; $(PICKCC); \
	echo "$$cc ... -static -o $(PROG)-static"; \
	$$cc $(PM_CFLAGS) $(CPPFLAGS) $(CFLAGS) $(SIZEFLAGS) $(LDFLAGS) \
	    -static -s -o $(PROG)-static proxymachine.c routers/$(ROUTER).c

testbins: $(TESTBINS)

# The test helper is not part of what is tested: plain flags.
tests/pmtest: tests/pmtest.c
	$(CC) $(PM_CFLAGS) -O2 -o $@ tests/pmtest.c

# The soak's load and fault generator: plain flags, like pmtest.
tests/soak: tests/soak.c
	$(CC) $(PM_CFLAGS) -O2 -o $@ tests/soak.c

tests/proxymachine-test: $(SRCS) tests/router_test.c .router
	$(CC) $(PM_CFLAGS) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ \
	    proxymachine.c tests/router_test.c

tests/proxymachine-small: $(SRCS) tests/router_test.c .router
	$(CC) $(PM_CFLAGS) -DPM_MAXCONN=4 -DPM_ROUTE_TIMEOUT=1500 -DPM_PIPES=1 \
	    $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) \
	    -o $@ proxymachine.c tests/router_test.c

tests/proxymachine-git: $(SRCS) routers/git.c .router
	$(CC) $(PM_CFLAGS) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ \
	    proxymachine.c routers/git.c

tests/proxymachine-socks4: $(SRCS) routers/socks4.c .router
	$(CC) $(PM_CFLAGS) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ \
	    proxymachine.c routers/socks4.c

tests/proxymachine-custom: $(SRCS) routers/custom.c .router
	$(CC) $(PM_CFLAGS) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ \
	    proxymachine.c routers/custom.c

test: testbins
	STRICT=$(STRICT) sh test.sh

# The whole suite against an AddressSanitizer and UBSan build.
asan: tests/pmtest
	$(MAKE) CFLAGS="-O1 $(SAN)" LDFLAGS="$(SAN)" $(PROXYBINS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 sh test.sh

# The size of the static, stripped binary of each router.
size:
	@cc="$(CC)"; $(PICKCC); echo "$$cc $(SIZEFLAGS) -static -s"; \
	for r in $(ROUTERS); do \
	    $$cc $(PM_CFLAGS) $(CPPFLAGS) $(SIZEFLAGS) $(LDFLAGS) -static -s \
	        -o $(PROG)-size proxymachine.c routers/$$r.c || exit 1; \
	    echo "$$r `wc -c <$(PROG)-size` bytes"; \
	done; rm -f $(PROG)-size

# Cross-build for ARCH (armhf, aarch64, mipsel, riscv64) into build/ARCH
# and run the suite there under qemu-user (scripts/cross.sh).
cross:
	sh scripts/cross.sh $(ARCH)

# Every compiler at hand (gcc, clang, tcc, pcc, musl-gcc), warnings on.
compilers:
	sh scripts/compilers.sh

# Warnings for the core and every router, one file at a time (-c: tcc
# and pcc take no -fsyntax-only and would leave an a.out).
warn:
	for f in proxymachine.c routers/*.c tests/router_test.c; do \
	    $(CC) $(PM_CFLAGS) $(WARN) -O2 -c -o .warn.o $$f || exit 1; \
	done; rm -f .warn.o

# The benchmark (bench/README.md): about three minutes; PMB_SPEED=quick
# for a short run.  It leaves ./proxymachine built with the custom router.
bench:
	MAKE="$(MAKE)" sh bench/run.sh

# The fault soak (tests/soak.sh): 120 s of mixed good and bad clients and
# backends, then the limits; soak-short for CI, soak-valgrind under
# valgrind.
soak: testbins
	sh tests/soak.sh
soak-short: testbins
	sh tests/soak.sh short
soak-valgrind: testbins
	VALGRIND=1 sh tests/soak.sh

FUZZTIME ?=	60

# libFuzzer harnesses (clang), FUZZTIME seconds each: see fuzz/README.
fuzz:
	sh fuzz/run.sh $(FUZZTIME)

# clang --analyze and cppcheck over the tree.
analyze:
	sh fuzz/analyze.sh

lint:
	mandoc -Tlint -Wwarning $(PROG).8

install: $(PROG)
	mkdir -p $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man8
	cp $(PROG) $(DESTDIR)$(BINDIR)/$(PROG)
	chmod 755 $(DESTDIR)$(BINDIR)/$(PROG)
	cp $(PROG).8 $(DESTDIR)$(MANDIR)/man8/$(PROG).8
	chmod 644 $(DESTDIR)$(MANDIR)/man8/$(PROG).8

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/$(PROG) $(DESTDIR)$(MANDIR)/man8/$(PROG).8

clean:
	rm -f $(PROG) $(PROG)-static $(PROG)-size .warn.o .router .router.new \
	    $(TESTBINS)
	rm -rf build fuzz/build

.PHONY: all static size cross compilers testbins test asan bench fuzz \
	soak soak-short soak-valgrind \
	analyze warn lint \
	install uninstall clean \
	FORCE

# What the tests use and this machine lacks: the line that installs it
# (run, as root on Debian).  STRICT=1 makes `make test' fail without it.
deps:
	@sh scripts/deps.sh

.PHONY: deps

# dev.mk: the developer's targets, included by the Makefile (same rules:
# POSIX make syntax for GNU make and BSD make).  A port needs none of them.

ROUTERS =	git socks4 socks5 custom skeleton
WARN =		-Wall -Wextra -pedantic
SAN =		-fsanitize=address,undefined -fno-omit-frame-pointer -g
FUZZTIME ?=	60
DISTDIR ?=	.

# The whole suite against an AddressSanitizer and UBSan build.
asan: tests/pmtest
	$(MAKE) CFLAGS="-O1 $(SAN)" LDFLAGS="$(SAN)" $(PROXYBINS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 sh test.sh

# Warnings for the core and every router, one file at a time (-c: tcc
# and pcc take no -fsyntax-only and would leave an a.out).
warn:
	for f in proxymachine.c small.c routers/*.c tests/router_test.c; do \
	    $(CC) $(PM_CFLAGS) $(WARN) -O2 -c -o .warn.o $$f || exit 1; \
	done; rm -f .warn.o

# The size of the static, stripped binary of each router, as make static
# and make tiny build it: text+data, what is loaded (size(1)), and the
# file's bytes (its writable segment starts on a page boundary for RELRO,
# so the file grows in steps of up to 4 KiB and often shows one figure
# for all three).  scripts/size-check.sh holds them to their limits.
size:
	@cc="$(CC)"; $(PICKCC); \
	echo "$$cc $$small $(SIZEFLAGS) $$oz -static -s; tiny: -DPM_TINY"; \
	echo "(text+data, then the file's bytes)"; \
	printf '%-8s %10s %10s %10s %10s\n' router static file tiny file; \
	for r in $(ROUTERS); do \
	    line=$$r; \
	    for k in "$$small" -DPM_TINY; do \
	        $$cc $(PM_CFLAGS) $$k $(CPPFLAGS) $(SIZEFLAGS) $$oz $(LDFLAGS) \
	            -static -s -o $(PROG)-size proxymachine.c small.c \
	                routers/$$r.c \
	            || exit 1; \
	        td=`size $(PROG)-size 2>/dev/null | \
	            awk 'NR == 2 { print $$1 + $$2 }'`; \
	        line="$$line $${td:--} `wc -c <$(PROG)-size`"; \
	    done; \
	    printf '%-8s %10s %10s %10s %10s\n' $$line; \
	done; rm -f $(PROG)-size

# Cross-build for ARCH (armhf, aarch64, mipsel, riscv64) into build/ARCH
# and run the suite there under qemu-user (scripts/cross.sh).
cross:
	sh scripts/cross.sh $(ARCH)

# Every compiler at hand (gcc, clang, tcc, pcc, musl-gcc), warnings on.
compilers:
	sh scripts/compilers.sh

# The benchmark (bench/README.md): about four minutes; PMB_SPEED=quick
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

# libFuzzer harnesses (clang), FUZZTIME seconds each: see fuzz/README.
fuzz:
	sh fuzz/run.sh $(FUZZTIME)

# clang --analyze and cppcheck over the tree.
analyze:
	sh fuzz/analyze.sh

# proxymachine-VERSION.tar.gz in DISTDIR, from the files git tracks.
dist:
	sh scripts/dist.sh $(DISTDIR)

# The packaging checks (scripts/package.sh): install, flavours, dist.
package:
	sh scripts/package.sh

.PHONY: asan warn size cross compilers bench soak soak-short \
	soak-valgrind fuzz analyze dist package

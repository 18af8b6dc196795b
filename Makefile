# libgclzone: see README.md.
#   make            build/libgclzone.so, build/libgclzone.a, build/libgclzone_core.a
#   make check      unit suites (Check), API conformance, stress, preload, misuse, valgrind,
#                   real programs, examples, GCL, install, a fuzz run, the Darwin zone
#                   tests and Mach-O checks (mk/darwin.mk), and the bench suite's self-test
#   make darwin     the macOS dylibs, cross-built (mk/darwin.mk)
#   make demo       minilisp: a garbage-collected Lisp on the host heap, bignums in the arena
#   make bench      the benchmark suite (check runs only its self-test: make -C bench test)
#   make install    PREFIX=/usr/local (also LIBDIR, INCLUDEDIR, BINDIR, DESTDIR)
#   make clean
# VARIANT=debug builds with GCL_DEBUG=3 and -O1; SECURE=1 encodes and checks
# free-list links; CHECKS=0 drops the free fast path's misuse checks (to
# measure them: bench/); WERROR=0 drops -Werror.

CC ?= cc
ifeq ($(origin CC),default)
CC := gcc
endif
BUILD ?= build
PREFIX ?= /usr/local
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
BINDIR ?= $(PREFIX)/bin
VERSION := $(shell sed -n 's/^\#define GCLZONE_VERSION "\(.*\)"/\1/p' include/gclzone.h)
VARIANT ?= release
WERROR ?= 1

WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wundef -Wpointer-arith \
        -Wwrite-strings -Wvla
ifeq ($(WERROR),1)
WARN += -Werror
endif
ifeq ($(VARIANT),debug)
OPT := -O1 -g -DGCL_DEBUG=3
else
OPT := -O2 -g
endif
SECURE ?= 0
CHECKS ?= 1
OPT += -DGCL_SECURE=$(SECURE) -DGCL_CHECKS=$(CHECKS)

# The library: hidden by default, no builtin assumptions about the malloc
# family (we define it), position independent for the shared object.
LIB_CFLAGS := -std=gnu11 $(OPT) $(WARN) -fPIC -fvisibility=hidden -pthread -Iinclude \
              -fno-builtin-malloc -fno-builtin-free -fno-builtin-calloc -fno-builtin-realloc \
              -fno-plt -MMD -MP $(CFLAGS)
TEST_CFLAGS := -std=gnu11 $(OPT) $(WARN) -pthread -Iinclude -Ilibgclzone -MMD -MP $(CFLAGS)

CORE := region options log process hostheap arena heap alloc introspect debug prim_posix
CORE_OBJ := $(CORE:%=$(BUILD)/obj/%.o)
ELF_OBJ := $(BUILD)/obj/override_elf.o

LIBS := $(BUILD)/libgclzone.so $(BUILD)/libgclzone.a $(BUILD)/libgclzone_core.a
EXAMPLES := $(BUILD)/examples/minilisp $(BUILD)/examples/hello $(BUILD)/examples/link

all: $(LIBS)

$(BUILD)/obj/%.o: libgclzone/%.c | $(BUILD)/obj
	$(CC) $(LIB_CFLAGS) -c $< -o $@

$(BUILD)/libgclzone.so: $(CORE_OBJ) $(ELF_OBJ)
	$(CC) -shared -o $@ $^ -Wl,-soname,libgclzone.so -Wl,-z,defs -Wl,-z,now -pthread $(LDFLAGS)

$(BUILD)/libgclzone.a: $(CORE_OBJ) $(ELF_OBJ)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/libgclzone_core.a: $(CORE_OBJ)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/obj $(BUILD)/tests $(BUILD)/examples:
	mkdir -p $@

# ---- tests -----------------------------------------------------------------
CHECK_CFLAGS := $(shell pkg-config --cflags check 2>/dev/null)
CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null || echo -lcheck -lsubunit -lm -lrt)
UNIT := $(patsubst tests/%.c,%,$(wildcard tests/test_*.c))
UNIT_OBJ := $(UNIT:%=$(BUILD)/tests/%.o) $(BUILD)/tests/check_main.o
PRELOAD_PROGS := $(patsubst tests/preload/%.c,$(BUILD)/tests/preload/%,$(filter-out tests/preload/brk_base.c,$(wildcard tests/preload/*.c)))

$(BUILD)/tests/%.o: tests/%.c | $(BUILD)/tests
	$(CC) $(TEST_CFLAGS) $(CHECK_CFLAGS) -c $< -o $@

$(BUILD)/tests/unit: $(UNIT_OBJ) $(BUILD)/libgclzone_core.a
	$(CC) -o $@ $(UNIT_OBJ) $(BUILD)/libgclzone_core.a $(CHECK_LIBS) -pthread

$(BUILD)/tests/preload/%: tests/preload/%.c | $(BUILD)/tests
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) -o $@ $< -ldl

# Misuse cases: -O0 and no builtins, so that every misuse survives compilation.
$(BUILD)/tests/misuse/misuse: tests/misuse/misuse.c | $(BUILD)/tests
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -O0 -g -fno-builtin -pthread -o $@ $<

# bound.c linked with the static archive: the program itself defines malloc.
$(BUILD)/tests/bound_static: tests/preload/bound.c $(BUILD)/libgclzone.a | $(BUILD)/tests
	$(CC) $(TEST_CFLAGS) -o $@ $< -Wl,--export-dynamic $(BUILD)/libgclzone.a -ldl

$(BUILD)/tests/brk_base: tests/preload/brk_base.c $(BUILD)/libgclzone.a | $(BUILD)/tests
	$(CC) $(TEST_CFLAGS) -o $@ $< $(BUILD)/libgclzone.a -ldl

# The GMP demo linked against the shared library: GMP's mallocs bind to us.
$(BUILD)/tests/gmp_consumer: examples/gmp/gmp_demo.c $(BUILD)/libgclzone.so | $(BUILD)/tests
	$(CC) $(TEST_CFLAGS) -o $@ $< -L$(BUILD) -Wl,--no-as-needed -lgclzone -lgmp -ldl -Wl,-rpath,'$$ORIGIN/..'

# The SECURE=1 variant, for the tests of what it adds.
$(BUILD)-secure/libgclzone.so: $(wildcard libgclzone/*.c libgclzone/*.h include/*.h)
	$(MAKE) --no-print-directory BUILD=$(BUILD)-secure SECURE=1 $@

# The libFuzzer harness, with the core compiled in under ASan and UBSan.
FUZZ_CC ?= clang-16
FUZZ_SECONDS ?= 60
$(BUILD)/fuzz/fuzz_alloc: tests/fuzz/fuzz_alloc.c $(CORE:%=libgclzone/%.c) $(wildcard libgclzone/*.h include/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -std=gnu11 -O2 -g $(WARN) -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	  -Iinclude -Ilibgclzone -o $@ tests/fuzz/fuzz_alloc.c $(CORE:%=libgclzone/%.c) -pthread

# A bounded run (in check), or `make fuzz` for a long one (FUZZ_SECONDS=1800).
fuzz-check: $(BUILD)/fuzz/fuzz_alloc
	@mkdir -p $(BUILD)/fuzz/corpus
	@$(BUILD)/fuzz/fuzz_alloc -max_total_time=$(FUZZ_SECONDS) -max_len=1024 -rss_limit_mb=4096 \
	  -artifact_prefix=$(BUILD)/fuzz/ $(BUILD)/fuzz/corpus >$(BUILD)/fuzz/log 2>&1 || \
	  { tail -40 $(BUILD)/fuzz/log; echo "fuzz: FAIL: the input is in $(BUILD)/fuzz/"; exit 1; }
	@echo "fuzz: $$(grep -E '^Done [0-9]+ runs' $(BUILD)/fuzz/log), no failure"

fuzz:
	$(MAKE) --no-print-directory fuzz-check FUZZ_SECONDS=1800

check: all $(BUILD)/tests/unit $(PRELOAD_PROGS) $(BUILD)/tests/bound_static $(BUILD)/tests/brk_base $(BUILD)/tests/gmp_consumer \
       $(BUILD)/examples/gmp_demo $(BUILD)/tests/misuse/misuse $(BUILD)-secure/libgclzone.so $(EXAMPLES) \
       check-darwin
	$(BUILD)/tests/unit
	BUILD=$(BUILD) sh tests/preload.sh
	BUILD=$(BUILD) sh tests/misuse.sh
	BUILD=$(BUILD) sh tests/valgrind.sh
	BUILD=$(BUILD) sh tests/gmp.sh
	BUILD=$(BUILD) sh tests/programs.sh
	BUILD=$(BUILD) sh tests/examples.sh
	BUILD=$(BUILD) sh tests/gcl.sh
	BUILD=$(BUILD) MAKE="$(MAKE)" sh tests/install.sh
	$(MAKE) --no-print-directory fuzz-check
	$(MAKE) --no-print-directory -C bench test BUILD=$(abspath $(BUILD))

# The real programs at ten times the work, and a ten-minute fuzz run.
check-long: check
	GCLZONE_TEST_SCALE=10 BUILD=$(BUILD) sh tests/programs.sh
	$(MAKE) --no-print-directory fuzz-check FUZZ_SECONDS=600

# ---- demo and examples ---------------------------------------------------------
# Linked against the shared library (-lgclzone first, so that GMP's mallocs
# bind to it); $ORIGIN/.. finds build/libgclzone.so without installing.
LINK_GCLZONE := -L$(BUILD) -Wl,--no-as-needed -lgclzone -Wl,--as-needed -Wl,-rpath,'$$ORIGIN/..'

$(BUILD)/examples/gmp_demo: examples/gmp/gmp_demo.c | $(BUILD)/examples
	$(CC) $(TEST_CFLAGS) -o $@ $< -lgmp -ldl

$(BUILD)/examples/minilisp: examples/minilisp/minilisp.c $(BUILD)/libgclzone.so | $(BUILD)/examples
	$(CC) $(TEST_CFLAGS) -o $@ $< $(LINK_GCLZONE) -lgmp

$(BUILD)/examples/link: examples/link/link.c $(BUILD)/libgclzone.so | $(BUILD)/examples
	$(CC) $(TEST_CFLAGS) -o $@ $< $(LINK_GCLZONE)

# Knows nothing of libgclzone: it is preloaded.
$(BUILD)/examples/hello: examples/preload/hello.c | $(BUILD)/examples
	$(CC) $(TEST_CFLAGS) -o $@ $<

demo: all $(BUILD)/examples/minilisp
	@echo "== minilisp: a garbage-collected Lisp whose heap grows with gclzone_sbrk and whose"
	@echo "== GMP bignums keep their limbs in the gclzone arena (examples/minilisp/demo.lisp)"
	$(BUILD)/examples/minilisp --map examples/minilisp/demo.lisp

# ---- bench ----------------------------------------------------------------------
# The CHECKS=0 and SECURE=1 variants run beside the default build.
$(BUILD)-nochecks/libgclzone.so: $(wildcard libgclzone/*.c libgclzone/*.h include/*.h)
	$(MAKE) --no-print-directory BUILD=$(BUILD)-nochecks CHECKS=0 $@

bench: all $(BUILD)-secure/libgclzone.so $(BUILD)-nochecks/libgclzone.so
	$(MAKE) -C bench BUILD=$(abspath $(BUILD))

# ---- install --------------------------------------------------------------------
install: all
	install -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(BINDIR)
	install -m 644 $(BUILD)/libgclzone.a $(BUILD)/libgclzone_core.a $(DESTDIR)$(LIBDIR)/
	install -m 755 $(BUILD)/libgclzone.so $(DESTDIR)$(LIBDIR)/
	install -m 644 include/gclzone.h $(DESTDIR)$(INCLUDEDIR)/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
	    -e 's|@VERSION@|$(VERSION)|' gclzone.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/gclzone.pc
	sed -e 's|^installed_libdir=$$|installed_libdir=$(LIBDIR)|' bin/gclzone-run > $(DESTDIR)$(BINDIR)/gclzone-run
	chmod 755 $(DESTDIR)$(BINDIR)/gclzone-run

clean:
	rm -rf $(BUILD) $(BUILD)-secure $(BUILD)-nochecks

include mk/darwin.mk

.PHONY: all check check-long demo bench install clean fuzz fuzz-check
-include $(wildcard $(BUILD)/obj/*.d $(BUILD)/tests/*.d $(BUILD)/examples/*.d)

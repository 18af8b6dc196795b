# libgclzone: see README.md.
#   make            build/libgclzone.so (SONAME libgclzone.so.MAJOR), build/libgclzone.a,
#                   build/libgclzone_core.a
#   make check-unit the fast suites (units, with assertions, the Darwin zone, layers): seconds
#   make check      unit suites (Check), API conformance, stress, the exported symbols, the
#                   man pages, the timeline chart, preload, misuse, valgrind, real programs,
#                   examples, GCL, install (pkg-config, CMake, DESTDIR, uninstall), heap
#                   images across processes, a fuzz run, the Darwin zone tests and Mach-O
#                   checks (mk/darwin.mk), and the bench suite's self-test
#   make darwin     the macOS dylibs, cross-built (mk/darwin.mk)
#   make demo       minilisp: a garbage-collected Lisp on the host heap, bignums in the arena
#   make bench      the benchmark suite (check runs only its self-test: make -C bench test);
#                   make bench-image: heap images only; make bench-modes: what the
#                   timeline, SECURE=1 and the hardened mode cost
#   make install    PREFIX=/usr/local (also LIBDIR, INCLUDEDIR, BINDIR, MANDIR, DESTDIR)
#   make uninstall  the same variables: removes exactly what install put there
#   make clean
# VARIANT=debug builds with GCL_DEBUG=2 (internal.h's assertions) and -O1; SECURE=1 encodes and checks
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
MANDIR ?= $(PREFIX)/share/man
CMAKEDIR ?= $(LIBDIR)/cmake/gclzone
VERSION := $(shell sed -n 's/^\#define GCLZONE_VERSION "\(.*\)"/\1/p' include/gclzone.h)
# The shared library as Debian ships one: installed, the file carries the
# full version, the SONAME only the major (the ABI: README, "ABI"), and the
# unversioned name is the link for -lgclzone.
SONAME := libgclzone.so.$(firstword $(subst ., ,$(VERSION)))
SOFILE := libgclzone.so.$(VERSION)
VARIANT ?= release
WERROR ?= 1

WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wundef -Wpointer-arith \
        -Wwrite-strings -Wvla
ifeq ($(WERROR),1)
WARN += -Werror
endif
ifeq ($(VARIANT),debug)
OPT := -O1 -g -DGCL_DEBUG=2
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

CORE := region options log process hostheap span slab theap walk check alloc introspect debug timeline prim_posix image
CORE_OBJ := $(CORE:%=$(BUILD)/obj/%.o)
NONE_OBJ := $(BUILD)/obj/front_none.o
ELF_OBJ := $(BUILD)/obj/override_elf.o

LIBS := $(BUILD)/libgclzone.so $(BUILD)/$(SONAME) $(BUILD)/libgclzone.a $(BUILD)/libgclzone_core.a
EXAMPLES := $(BUILD)/examples/minilisp $(BUILD)/examples/hello $(BUILD)/examples/link

all: $(LIBS)

$(BUILD)/obj/%.o: libgclzone/%.c | $(BUILD)/obj
	$(CC) $(LIB_CFLAGS) -c $< -o $@

# Exactly the header's functions and the front end's are exported: the
# version script is generated from both (mk/gclzone-map.sh says why), and
# --no-undefined-version fails the link if one of them is not defined.
$(BUILD)/gclzone.map: mk/gclzone-map.sh include/gclzone.h libgclzone/override_elf.c | $(BUILD)/obj
	CC="$(CC)" sh mk/gclzone-map.sh include/gclzone.h libgclzone/override_elf.c > $@.tmp && mv $@.tmp $@

# Relative relocations packed (DT_RELR: binutils 2.38, glibc 2.36) where the
# toolchain has them: the library's 669 (gcl_theap_empty's direct[] and cur[],
# the option and message tables) took 16 KiB of .rela.dyn, every page of which
# ld.so reads and keeps resident in every process that loads us (its first
# segment, 6 pages, is 2); start-up 5,400 instructions fewer (callgrind,
# /bin/true preloaded: 197,020 to 191,644; 127,498 without us).
PACK_RELOCS := $(shell $(CC) -shared -Wl,-z,pack-relative-relocs -o /dev/null -x c /dev/null 2>/dev/null && \
                 echo -Wl,-z,pack-relative-relocs)

$(BUILD)/libgclzone.so: $(CORE_OBJ) $(ELF_OBJ) $(BUILD)/gclzone.map
	rm -f $@ && $(CC) -shared -o $@ $(CORE_OBJ) $(ELF_OBJ) -Wl,-soname,$(SONAME) -Wl,--version-script,$(BUILD)/gclzone.map \
	  -Wl,--no-undefined-version -Wl,-z,defs -Wl,-z,now $(PACK_RELOCS) -pthread $(LDFLAGS)

# In the build tree the file keeps the name everything preloads, and the
# SONAME is a link to it, for the programs linked against $(BUILD) (as
# ldconfig -n would make it); make install gives them Debian's names.
$(BUILD)/$(SONAME): $(BUILD)/libgclzone.so
	ln -sfn libgclzone.so $@

$(BUILD)/libgclzone.a: $(CORE_OBJ) $(ELF_OBJ)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/libgclzone_core.a: $(CORE_OBJ) $(NONE_OBJ)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/obj $(BUILD)/tests $(BUILD)/examples:
	mkdir -p $@

# ---- tests -----------------------------------------------------------------
CHECK_CFLAGS := $(shell pkg-config --cflags check 2>/dev/null)
CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null || echo -lcheck -lsubunit -lm -lrt)
UNIT := $(patsubst tests/%.c,%,$(wildcard tests/test_*.c)) first_call
UNIT_OBJ := $(UNIT:%=$(BUILD)/tests/%.o) $(BUILD)/tests/check_main.o
PRELOAD_PROGS := $(patsubst tests/preload/%.c,$(BUILD)/tests/preload/%,$(filter-out tests/preload/brk_base.c,$(wildcard tests/preload/*.c)))

$(BUILD)/tests/%.o: tests/%.c | $(BUILD)/tests
	$(CC) $(TEST_CFLAGS) $(CHECK_CFLAGS) -c $< -o $@

$(BUILD)/tests/unit: $(UNIT_OBJ) $(BUILD)/libgclzone_core.a
	$(CC) -o $@ $(UNIT_OBJ) $(BUILD)/libgclzone_core.a $(CHECK_LIBS) -pthread $(LDFLAGS)

$(BUILD)/tests/preload/%: tests/preload/%.c | $(BUILD)/tests
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) -o $@ $< -ldl

# Misuse cases: -O0 and no builtins, so that every misuse survives compilation.
$(BUILD)/tests/misuse/misuse: tests/misuse/misuse.c | $(BUILD)/tests
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -O0 -g -fno-builtin -pthread -o $@ $<

# The hardened mode's probes (tests/harden.sh): C and C++, -O0 and no
# builtins like the misuse cases; sized.cc uses C++17's sized and aligned
# operator delete.
CXX ?= g++
ifeq ($(origin CXX),default)
CXX := g++
endif
HARDEN_PROBES := $(BUILD)/tests/harden/probes
$(HARDEN_PROBES): tests/harden/probes.c tests/harden/valid.c tests/harden/sized.cc tests/harden/probes.h tests/death.h | $(BUILD)/tests
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -O0 -g -fno-builtin -pthread -c tests/harden/probes.c -o $@-probes.o
	$(CC) -std=gnu11 -O0 -g -fno-builtin -Wno-alloc-size-larger-than -c tests/harden/valid.c -o $@-valid.o
	$(CXX) -std=gnu++17 -O0 -g -fno-builtin -c tests/harden/sized.cc -o $@-sized.o
	$(CXX) -pthread -o $@ $@-probes.o $@-valid.o $@-sized.o

# bound.c linked with the static archive: the program itself defines malloc.
$(BUILD)/tests/bound_static: tests/preload/bound.c $(BUILD)/libgclzone.a | $(BUILD)/tests
	$(CC) $(TEST_CFLAGS) -o $@ $< -Wl,--export-dynamic $(BUILD)/libgclzone.a -ldl

$(BUILD)/tests/fork_stdio_static: tests/preload/fork_stdio.c $(BUILD)/libgclzone.a | $(BUILD)/tests
	$(CC) $(TEST_CFLAGS) -o $@ $< $(BUILD)/libgclzone.a

$(BUILD)/tests/brk_base: tests/preload/brk_base.c $(BUILD)/libgclzone.a | $(BUILD)/tests
	$(CC) $(TEST_CFLAGS) -o $@ $< $(BUILD)/libgclzone.a -ldl

# The GMP demo linked against the shared library: GMP's mallocs bind to us.
$(BUILD)/tests/gmp_consumer: examples/gmp/gmp_demo.c $(BUILD)/libgclzone.so | $(BUILD)/tests
	$(CC) $(TEST_CFLAGS) -o $@ $< -L$(BUILD) -Wl,--no-as-needed -lgclzone -lgmp -ldl -Wl,-rpath,'$$ORIGIN/..'

# The heap image world (tests/image.sh), preloaded and linked.
$(BUILD)/tests/image_world: tests/image/world.c | $(BUILD)/tests
	$(CC) $(TEST_CFLAGS) -o $@ $< -lgmp -ldl

$(BUILD)/tests/image_world_linked: tests/image/world.c $(BUILD)/libgclzone.so | $(BUILD)/tests
	$(CC) $(TEST_CFLAGS) -o $@ $< -L$(BUILD) -Wl,--no-as-needed -lgclzone -lgmp -ldl -Wl,-rpath,'$$ORIGIN/..'

# The SECURE=1 variant, for the tests of what it adds.
$(BUILD)-secure/libgclzone.so: $(wildcard libgclzone/*.c libgclzone/*.h include/*.h)
	$(MAKE) --no-print-directory BUILD=$(BUILD)-secure SECURE=1 $@

# The libFuzzer harness, with the core compiled in under ASan and UBSan.
FUZZ_CC ?= clang-16
FUZZ_SECONDS ?= 60
FUZZ_SRC := $(CORE:%=libgclzone/%.c) libgclzone/front_none.c
$(BUILD)/fuzz/fuzz_alloc: tests/fuzz/fuzz_alloc.c tests/image_format.h $(FUZZ_SRC) $(wildcard libgclzone/*.h include/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -std=gnu11 -O2 -g $(WARN) -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	  -Iinclude -Ilibgclzone -o $@ tests/fuzz/fuzz_alloc.c $(FUZZ_SRC) -pthread

# The image loader's harness: edited headers, tables and metadata.
$(BUILD)/fuzz/fuzz_image: tests/fuzz/fuzz_image.c tests/image_format.h $(FUZZ_SRC) $(wildcard libgclzone/*.h include/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -std=gnu11 -O2 -g $(WARN) -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	  -Iinclude -Ilibgclzone -o $@ tests/fuzz/fuzz_image.c $(FUZZ_SRC) -pthread

# A bounded run (in check), or `make fuzz` for a long one (FUZZ_SECONDS=1800);
# the image loader's harness runs a third as long.
FUZZ_IMAGE_SECONDS ?= $(shell echo $$(( $(FUZZ_SECONDS) / 3 )))
fuzz-check: $(BUILD)/fuzz/fuzz_alloc $(BUILD)/fuzz/fuzz_image
	@mkdir -p $(BUILD)/fuzz/corpus $(BUILD)/fuzz/corpus-image
	@$(BUILD)/fuzz/fuzz_alloc -max_total_time=$(FUZZ_SECONDS) -max_len=1024 -rss_limit_mb=4096 \
	  -artifact_prefix=$(BUILD)/fuzz/ $(BUILD)/fuzz/corpus >$(BUILD)/fuzz/log 2>&1 || \
	  { tail -40 $(BUILD)/fuzz/log; echo "fuzz: FAIL: the input is in $(BUILD)/fuzz/"; exit 1; }
	@echo "fuzz: $$(grep -E '^Done [0-9]+ runs' $(BUILD)/fuzz/log), no failure"
	@$(BUILD)/fuzz/fuzz_image -max_total_time=$(FUZZ_IMAGE_SECONDS) -max_len=512 -rss_limit_mb=4096 \
	  -artifact_prefix=$(BUILD)/fuzz/image- $(BUILD)/fuzz/corpus-image >$(BUILD)/fuzz/log-image 2>&1 || \
	  { tail -40 $(BUILD)/fuzz/log-image; echo "fuzz: FAIL: the input is in $(BUILD)/fuzz/"; exit 1; }
	@echo "fuzz (image loader): $$(grep -E '^Done [0-9]+ runs' $(BUILD)/fuzz/log-image), no failure"

fuzz:
	$(MAKE) --no-print-directory fuzz-check FUZZ_SECONDS=1800

# The unit suites with the assertion tier on (GCL_DEBUG=2, -O1).
$(BUILD)-debug/tests/unit: $(wildcard libgclzone/*.c libgclzone/*.h include/*.h tests/*.c tests/*.h)
	$(MAKE) --no-print-directory BUILD=$(BUILD)-debug VARIANT=debug $@

# The unit suites under ThreadSanitizer and under AddressSanitizer with
# UndefinedBehaviorSanitizer (clang-16; the core and the tests instrumented,
# Check not). A report fails the run: TSan exits 66 from the test's child,
# ASan and UBSan abort it.
SAN_CC ?= clang-16
$(BUILD)-tsan/tests/unit: $(wildcard libgclzone/*.c libgclzone/*.h include/*.h tests/*.c tests/*.h)
	$(MAKE) --no-print-directory BUILD=$(BUILD)-tsan CC=$(SAN_CC) CFLAGS="-fsanitize=thread -O1" \
	  LDFLAGS=-fsanitize=thread $@
$(BUILD)-asan/tests/unit: $(wildcard libgclzone/*.c libgclzone/*.h include/*.h tests/*.c tests/*.h)
	$(MAKE) --no-print-directory BUILD=$(BUILD)-asan CC=$(SAN_CC) \
	  CFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all -O1" LDFLAGS="-fsanitize=address,undefined" $@

check-sanitizers: $(BUILD)-tsan/tests/unit $(BUILD)-asan/tests/unit
	TSAN_OPTIONS=halt_on_error=1 $(BUILD)-tsan/tests/unit
	ASAN_OPTIONS=detect_leaks=0 $(BUILD)-asan/tests/unit

# The fast suites: the units (without the stress), the same with assertions,
# the Darwin zone against the model, and the call graph's layers.
check-unit: $(BUILD)/tests/unit $(BUILD)-debug/tests/unit $(BUILD)/tests/darwin_zone
	$(BUILD)/tests/unit --fast
	$(BUILD)-debug/tests/unit --fast
	$(BUILD)/tests/darwin_zone
	python3 tests/layers.py $(BUILD)/obj libgclzone $(BUILD)/darwin/model/zone_darwin.o

check: all $(BUILD)/tests/unit $(BUILD)-debug/tests/unit $(BUILD)-tsan/tests/unit $(BUILD)-asan/tests/unit $(PRELOAD_PROGS) $(BUILD)/tests/bound_static $(BUILD)/tests/brk_base $(BUILD)/tests/fork_stdio_static $(BUILD)/tests/gmp_consumer \
       $(BUILD)/examples/gmp_demo $(BUILD)/tests/misuse/misuse $(BUILD)-secure/libgclzone.so $(EXAMPLES) $(HARDEN_PROBES) \
       $(BUILD)/tests/image_world $(BUILD)/tests/image_world_linked check-darwin
	$(BUILD)/tests/unit
	$(BUILD)-debug/tests/unit --fast
	python3 tests/layers.py $(BUILD)/obj libgclzone $(BUILD)/darwin/model/zone_darwin.o
	$(MAKE) --no-print-directory check-sanitizers
	python3 tests/abi.py $(BUILD)
	python3 tests/man.py
	BUILD=$(BUILD) python3 tests/timeline.py
	BUILD=$(BUILD) sh tests/preload.sh
	BUILD=$(BUILD) sh tests/misuse.sh
	BUILD=$(BUILD) sh tests/harden.sh
	BUILD=$(BUILD) sh tests/valgrind.sh
	BUILD=$(BUILD) sh tests/gmp.sh
	BUILD=$(BUILD) sh tests/programs.sh
	BUILD=$(BUILD) sh tests/examples.sh
	BUILD=$(BUILD) sh tests/gcl.sh
	BUILD=$(BUILD) MAKE="$(MAKE)" sh tests/install.sh
	BUILD=$(BUILD) sh tests/image.sh
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

# The second part is heap images: a world built from source and saved, then
# a process that starts from the image instead; each with its wall time.
IMAGE_DEMO := $(BUILD)/minilisp-world.img
ms_now = $$(($$(date +%s%N) / 1000000))
demo: all $(BUILD)/examples/minilisp
	@echo "== minilisp: a garbage-collected Lisp whose heap grows with gclzone_sbrk and whose"
	@echo "== GMP bignums keep their limbs in the gclzone arena (examples/minilisp/demo.lisp)"
	@mkdir -p $(BUILD)/demo
	GCLZONE_TIMELINE=$(BUILD)/demo/minilisp.timeline $(BUILD)/examples/minilisp --map examples/minilisp/demo.lisp
	@python3 bin/gclzone-timeline --title "minilisp examples/minilisp/demo.lisp" -o $(BUILD)/demo/minilisp-timeline.svg \
	  $(BUILD)/demo/minilisp.timeline
	@echo "== its memory over time (GCLZONE_TIMELINE): $(BUILD)/demo/minilisp-timeline.svg"
	@echo
	@echo "== heap images: build a world from source (examples/minilisp/world.lisp), then (save-image \"$(IMAGE_DEMO)\")"
	@t0=$(ms_now); (cat examples/minilisp/world.lisp; echo '(save-image "$(IMAGE_DEMO)")') | $(BUILD)/examples/minilisp; \
	  echo "== that process ran $$(( $(ms_now) - t0 )) ms; the image is $$(( $$(stat -c %s $(IMAGE_DEMO)) >> 10 )) KiB"
	@echo
	@echo "== start from it and ask: minilisp --image $(IMAGE_DEMO)"
	@t0=$(ms_now); echo '(print "from the image:" (length primes) "primes," (digits (last factorials)) "digits of 500!")' | \
	  $(BUILD)/examples/minilisp --image $(IMAGE_DEMO) | grep -v '^minilisp: [0-9]* coll\|^minilisp: GC heap\|^minilisp: checked\|^minilisp: the GC'; \
	  echo "== that process ran $$(( $(ms_now) - t0 )) ms, all of it"
	@echo
	@echo "== start from it and work on (collect, grow): minilisp --image $(IMAGE_DEMO) examples/minilisp/use.lisp"
	$(BUILD)/examples/minilisp --image $(IMAGE_DEMO) examples/minilisp/use.lisp

# ---- bench ----------------------------------------------------------------------
# The CHECKS=0 and SECURE=1 variants run beside the default build.
$(BUILD)-nochecks/libgclzone.so: $(wildcard libgclzone/*.c libgclzone/*.h include/*.h)
	$(MAKE) --no-print-directory BUILD=$(BUILD)-nochecks CHECKS=0 $@

bench: all $(BUILD)-secure/libgclzone.so $(BUILD)-nochecks/libgclzone.so $(BUILD)/examples/minilisp
	$(MAKE) -C bench BUILD=$(abspath $(BUILD))
	$(MAKE) -C bench BUILD=$(abspath $(BUILD)) image
	$(MAKE) -C bench BUILD=$(abspath $(BUILD)) modes

# Only the heap images' costs (bench/image.sh).
bench-image: all $(BUILD)/examples/minilisp
	$(MAKE) -C bench BUILD=$(abspath $(BUILD)) image

# Only what the modes cost against the default build (bench/modes.sh).
bench-modes: all $(BUILD)-secure/libgclzone.so
	$(MAKE) -C bench BUILD=$(abspath $(BUILD)) modes

# ---- install --------------------------------------------------------------------
# Every file install puts in place, so that uninstall removes exactly those:
# the library and its links, the archives, the header, pkg-config and CMake
# files, the scripts, the man pages and one link per function to gclzone(3).
API_FUNCS = $(shell sed -n 's/^ *\(gclzone_[A-Za-z0-9_]*\);$$/\1/p' $(BUILD)/gclzone.map 2>/dev/null)
INSTALLED = $(LIBDIR)/$(SOFILE) $(LIBDIR)/$(SONAME) $(LIBDIR)/libgclzone.so \
            $(LIBDIR)/libgclzone.a $(LIBDIR)/libgclzone_core.a $(INCLUDEDIR)/gclzone.h \
            $(LIBDIR)/pkgconfig/gclzone.pc $(CMAKEDIR)/gclzone-config.cmake $(CMAKEDIR)/gclzone-config-version.cmake \
            $(BINDIR)/gclzone-run $(BINDIR)/gclzone-timeline \
            $(MANDIR)/man1/gclzone-run.1 $(MANDIR)/man1/gclzone-timeline.1 $(MANDIR)/man3/gclzone.3 \
            $(MANDIR)/man7/gclzone.7 \
            $(API_FUNCS:%=$(MANDIR)/man3/%.3)

# The CMake config is relocatable: it finds the library two levels up from
# itself and the header where INCLUDEDIR lies relative to LIBDIR.
install: all
	install -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(CMAKEDIR) $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(BINDIR) \
	  $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man3 $(DESTDIR)$(MANDIR)/man7
	install -m 644 $(BUILD)/libgclzone.so $(DESTDIR)$(LIBDIR)/$(SOFILE)
	install -m 644 $(BUILD)/libgclzone.a $(BUILD)/libgclzone_core.a $(DESTDIR)$(LIBDIR)/
	ln -sfn $(SOFILE) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sfn $(SOFILE) $(DESTDIR)$(LIBDIR)/libgclzone.so
	install -m 644 include/gclzone.h $(DESTDIR)$(INCLUDEDIR)/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
	    -e 's|@VERSION@|$(VERSION)|' gclzone.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/gclzone.pc
	sed -e 's|@VERSION@|$(VERSION)|' -e 's|@SOFILE@|$(SOFILE)|' -e 's|@SONAME@|$(SONAME)|' \
	    -e "s|@INCLUDEDIR_FROM_LIBDIR@|$$(realpath -m --relative-to='$(LIBDIR)' '$(INCLUDEDIR)')|" \
	    cmake/gclzone-config.cmake.in > $(DESTDIR)$(CMAKEDIR)/gclzone-config.cmake
	sed -e 's|@VERSION@|$(VERSION)|' -e "s|@SIZEOF_VOID_P@|$$(echo __SIZEOF_POINTER__ | $(CC) -E -P -)|" \
	    cmake/gclzone-config-version.cmake.in > $(DESTDIR)$(CMAKEDIR)/gclzone-config-version.cmake
	sed -e 's|^installed_libdir=$$|installed_libdir=$(LIBDIR)|' bin/gclzone-run > $(DESTDIR)$(BINDIR)/gclzone-run
	chmod 755 $(DESTDIR)$(BINDIR)/gclzone-run
	install -m 755 bin/gclzone-timeline $(DESTDIR)$(BINDIR)/
	install -m 644 man/gclzone-run.1 man/gclzone-timeline.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 644 man/gclzone.3 $(DESTDIR)$(MANDIR)/man3/
	install -m 644 man/gclzone.7 $(DESTDIR)$(MANDIR)/man7/
	for f in $(API_FUNCS); do ln -sfn gclzone.3 $(DESTDIR)$(MANDIR)/man3/$$f.3 || exit 1; done

# Only the directory that is ours alone goes too; shared ones (lib, man3, ...)
# stay, as with automake.
uninstall: $(BUILD)/gclzone.map
	rm -f $(INSTALLED:%=$(DESTDIR)%)
	! [ -d $(DESTDIR)$(CMAKEDIR) ] || rmdir $(DESTDIR)$(CMAKEDIR)

clean:
	rm -rf $(BUILD) $(BUILD)-secure $(BUILD)-nochecks $(BUILD)-debug $(BUILD)-tsan $(BUILD)-asan

include mk/darwin.mk

.PHONY: all check check-unit check-sanitizers check-long demo bench bench-image bench-modes install uninstall clean fuzz fuzz-check
-include $(wildcard $(BUILD)/obj/*.d $(BUILD)/tests/*.d $(BUILD)/examples/*.d)

# libgclzone: see README.md.
#   make            build/libgclzone.so, build/libgclzone.a, build/libgclzone_core.a
#   make check      unit suites (Check), API conformance, stress, preload and GMP tests,
#                   and the Darwin zone tests and Mach-O checks (mk/darwin.mk)
#   make darwin     the macOS dylibs, cross-built (mk/darwin.mk)
#   make demo       a GMP program served by the library, with its stats
#   make bench      the benchmark suite (never part of check)
#   make install    PREFIX=/usr/local
#   make clean
# VARIANT=debug builds with GCL_DEBUG=3 and -O1; WERROR=0 drops -Werror.

CC ?= cc
ifeq ($(origin CC),default)
CC := gcc
endif
BUILD ?= build
PREFIX ?= /usr/local
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

# The library: hidden by default, no builtin assumptions about the malloc
# family (we define it), position independent for the shared object.
LIB_CFLAGS := -std=gnu11 $(OPT) $(WARN) -fPIC -fvisibility=hidden -pthread -Iinclude \
              -fno-builtin-malloc -fno-builtin-free -fno-builtin-calloc -fno-builtin-realloc \
              -fno-plt -MMD -MP $(CFLAGS)
TEST_CFLAGS := -std=gnu11 $(OPT) $(WARN) -pthread -Iinclude -Ilibgclzone -MMD -MP $(CFLAGS)

CORE := region options log process hostheap arena heap alloc introspect prim_posix
CORE_OBJ := $(CORE:%=$(BUILD)/obj/%.o)
ELF_OBJ := $(BUILD)/obj/override_elf.o

LIBS := $(BUILD)/libgclzone.so $(BUILD)/libgclzone.a $(BUILD)/libgclzone_core.a

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
PRELOAD_PROGS := $(patsubst tests/preload/%.c,$(BUILD)/tests/preload/%,$(wildcard tests/preload/*.c))

$(BUILD)/tests/%.o: tests/%.c | $(BUILD)/tests
	$(CC) $(TEST_CFLAGS) $(CHECK_CFLAGS) -c $< -o $@

$(BUILD)/tests/unit: $(UNIT_OBJ) $(BUILD)/libgclzone_core.a
	$(CC) -o $@ $(UNIT_OBJ) $(BUILD)/libgclzone_core.a $(CHECK_LIBS) -pthread

$(BUILD)/tests/preload/%: tests/preload/%.c | $(BUILD)/tests
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) -o $@ $< -ldl

# bound.c linked with the static archive: the program itself defines malloc.
$(BUILD)/tests/bound_static: tests/preload/bound.c $(BUILD)/libgclzone.a | $(BUILD)/tests
	$(CC) $(TEST_CFLAGS) -o $@ $< -Wl,--export-dynamic $(BUILD)/libgclzone.a -ldl

# The GMP demo linked against the shared library: GMP's mallocs bind to us.
$(BUILD)/tests/gmp_consumer: examples/gmp/gmp_demo.c $(BUILD)/libgclzone.so | $(BUILD)/tests
	$(CC) $(TEST_CFLAGS) -o $@ $< -L$(BUILD) -Wl,--no-as-needed -lgclzone -lgmp -ldl -Wl,-rpath,'$$ORIGIN/..'

check: all $(BUILD)/tests/unit $(PRELOAD_PROGS) $(BUILD)/tests/bound_static $(BUILD)/tests/gmp_consumer \
       $(BUILD)/examples/gmp_demo check-darwin
	$(BUILD)/tests/unit
	BUILD=$(BUILD) sh tests/preload.sh
	BUILD=$(BUILD) sh tests/gmp.sh

# ---- demo and examples ---------------------------------------------------------
$(BUILD)/examples/gmp_demo: examples/gmp/gmp_demo.c | $(BUILD)/examples
	$(CC) $(TEST_CFLAGS) -o $@ $< -lgmp -ldl

demo: all $(BUILD)/examples/gmp_demo
	@echo "== GMP factorials, powers and gcds, with every malloc served by libgclzone =="
	GCLZONE_SHOW_STATS=1 LD_PRELOAD=$(abspath $(BUILD)/libgclzone.so) $(BUILD)/examples/gmp_demo

# ---- bench ----------------------------------------------------------------------
bench: all
	$(MAKE) -C bench BUILD=$(abspath $(BUILD))

# ---- install --------------------------------------------------------------------
install: all
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include
	install -m 644 $(BUILD)/libgclzone.a $(BUILD)/libgclzone_core.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(BUILD)/libgclzone.so $(DESTDIR)$(PREFIX)/lib/
	install -m 644 include/gclzone.h $(DESTDIR)$(PREFIX)/include/

clean:
	rm -rf $(BUILD)

include mk/darwin.mk

.PHONY: all check demo bench install clean
-include $(wildcard $(BUILD)/obj/*.d $(BUILD)/tests/*.d)

# mk/darwin.mk: the Darwin front end (included by the Makefile).
#   make darwin        build/darwin/{arm64,x86_64}/libgclzone.dylib, and the
#                      universal build/darwin/libgclzone.dylib
#   make check-darwin  zone_darwin.c against the libmalloc model (Linux), the
#                      Mach-O inspection of the dylibs, and check-machorun:
#                      the dylibs run under tests/darwin/machorun, x86_64
#                      natively, arm64 under qemu-aarch64
#
# On Linux the dylibs are cross-built, with no SDK: Debian's clang-16 for
# {arm64,x86_64}-apple-macos11 against libgclzone/darwin/include (-nostdlibinc
# keeps only clang's own stddef/stdint/...), linked by ld64.lld-16 against the
# hand-written libgclzone/darwin/libSystem.tbd. On a Mac, `make darwin` uses
# the SDK through xcrun instead (never run here: no Mac was available).

DARWIN_ARCHS := arm64 x86_64
DARWIN_MIN ?= 11.0
DARWIN_INSTALL_NAME ?= @rpath/libgclzone.dylib
DARWIN_OBJS = $(patsubst %,$(BUILD)/darwin/$(1)/obj/%.o,$(CORE) zone_darwin)
DARWIN_DYLIBS := $(DARWIN_ARCHS:%=$(BUILD)/darwin/%/libgclzone.dylib)

ifeq ($(shell uname -s),Darwin)
DARWIN_CC ?= xcrun clang
DARWIN_SYSROOT_FLAGS :=
DARWIN_LINK = $(DARWIN_CC) -target $(1)-apple-macos$(DARWIN_MIN) -dynamiclib -install_name $(DARWIN_INSTALL_NAME)
DARWIN_TBD :=
DARWIN_LIPO ?= xcrun lipo
else
DARWIN_CC ?= clang-16
DARWIN_SYSROOT_FLAGS := -nostdlibinc -isystem libgclzone/darwin/include
DARWIN_LINK = ld64.lld-16 -arch $(1) -platform_version macos $(DARWIN_MIN) $(DARWIN_MIN) -dylib \
              -install_name $(DARWIN_INSTALL_NAME)
DARWIN_TBD := libgclzone/darwin/libSystem.tbd
DARWIN_LIPO ?= llvm-lipo-16
endif

DARWIN_CFLAGS := -std=gnu11 $(OPT) $(WARN) -fPIC -fvisibility=hidden -Iinclude $(DARWIN_SYSROOT_FLAGS) \
                 -fno-builtin-malloc -fno-builtin-free -fno-builtin-calloc -fno-builtin-realloc -MMD -MP

define darwin_arch
$(BUILD)/darwin/$(1)/obj/%.o: libgclzone/%.c | $(BUILD)/darwin/$(1)/obj
	$$(DARWIN_CC) -target $(1)-apple-macos$$(DARWIN_MIN) $$(DARWIN_CFLAGS) -c $$< -o $$@

$(BUILD)/darwin/$(1)/libgclzone.dylib: $(call DARWIN_OBJS,$(1)) $(DARWIN_TBD)
	$$(call DARWIN_LINK,$(1)) -o $$@ $(call DARWIN_OBJS,$(1)) $$(DARWIN_TBD)

$(BUILD)/darwin/$(1)/obj:
	mkdir -p $$@
endef
$(foreach a,$(DARWIN_ARCHS),$(eval $(call darwin_arch,$(a))))

$(BUILD)/darwin/libgclzone.dylib: $(DARWIN_DYLIBS)
	$(DARWIN_LIPO) -create -output $@ $^

darwin: $(DARWIN_DYLIBS) $(BUILD)/darwin/libgclzone.dylib

# ---- the zone on Linux, against the libmalloc model ------------------------------
DARWIN_MODEL_OBJ := $(BUILD)/darwin/model/zone_darwin.o $(BUILD)/darwin/model/libmalloc_model.o \
                    $(BUILD)/darwin/model/test_zone.o

$(BUILD)/darwin/model/zone_darwin.o: libgclzone/zone_darwin.c | $(BUILD)/darwin/model
	$(CC) $(LIB_CFLAGS) -DGCL_ZONE_MODEL -Itests/darwin/include -c $< -o $@

$(BUILD)/darwin/model/%.o: tests/darwin/%.c | $(BUILD)/darwin/model
	$(CC) $(TEST_CFLAGS) $(CHECK_CFLAGS) -Itests/darwin/include -Itests/darwin -c $< -o $@

$(BUILD)/darwin/model:
	mkdir -p $@

$(BUILD)/tests/darwin_zone: $(DARWIN_MODEL_OBJ) $(BUILD)/libgclzone_core.a | $(BUILD)/tests
	$(CC) -o $@ $(DARWIN_MODEL_OBJ) $(BUILD)/libgclzone_core.a $(CHECK_LIBS) -pthread $(LDFLAGS)

# ---- the shipped dylibs run on Linux (tests/darwin/machorun) ------------------------
# machorun is built for each slice's architecture, with the libmalloc model
# linked in: natively for x86_64, with Debian's aarch64 cross compiler
# (statically, so qemu-aarch64 needs no sysroot) for arm64.
# MACHORUN_SCALE_ARM64 sets the work per check under emulation (x86_64: 1).
MACHORUN_SRC := $(wildcard tests/darwin/machorun/*.c) tests/darwin/libmalloc_model.c
MACHORUN_DEPS := $(MACHORUN_SRC) $(wildcard tests/darwin/machorun/*.h) tests/darwin/libmalloc_model.h include/gclzone.h
MACHORUN_CFLAGS = -std=gnu11 -O2 -g $(WARN) -pthread -Iinclude -Itests/darwin -Itests/darwin/include
AARCH64_CC ?= aarch64-linux-gnu-gcc
# Debian's qemu-user (qemu-aarch64), or qemu-user-static's binary.
QEMU_AARCH64 ?= $(or $(shell command -v qemu-aarch64 2>/dev/null),$(shell command -v qemu-aarch64-static 2>/dev/null),qemu-aarch64)
MACHORUN_SCALE_ARM64 ?= 0.5

$(BUILD)/darwin/machorun/x86_64/machorun: $(MACHORUN_DEPS)
	@mkdir -p $(dir $@)
	$(CC) $(MACHORUN_CFLAGS) -o $@ $(MACHORUN_SRC)

$(BUILD)/darwin/machorun/arm64/machorun: $(MACHORUN_DEPS)
	@mkdir -p $(dir $@)
	$(AARCH64_CC) $(MACHORUN_CFLAGS) -static -o $@ $(MACHORUN_SRC)

MACHORUN_ARGS := --universal $(BUILD)/darwin/libgclzone.dylib --tbd libgclzone/darwin/libSystem.tbd

check-machorun: $(BUILD)/darwin/machorun/x86_64/machorun $(BUILD)/darwin/machorun/arm64/machorun darwin
	$(BUILD)/darwin/machorun/x86_64/machorun $(MACHORUN_ARGS) $(BUILD)/darwin/x86_64/libgclzone.dylib
	$(QEMU_AARCH64) $(BUILD)/darwin/machorun/arm64/machorun $(MACHORUN_ARGS) --scale $(MACHORUN_SCALE_ARM64) \
	  $(BUILD)/darwin/arm64/libgclzone.dylib

check-darwin: $(BUILD)/tests/darwin_zone darwin check-machorun
	$(BUILD)/tests/darwin_zone
	python3 tests/darwin/inspect.py $(BUILD)

.PHONY: darwin check-darwin check-machorun
-include $(wildcard $(BUILD)/darwin/*/obj/*.d $(BUILD)/darwin/model/*.d)

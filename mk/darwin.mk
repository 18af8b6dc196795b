# mk/darwin.mk: the Darwin front end (included by the Makefile).
#   make darwin        build/darwin/{arm64,x86_64}/libgclzone.dylib, and the
#                      universal build/darwin/libgclzone.dylib
#   make check-darwin  zone_darwin.c against each generation's <malloc/malloc.h>,
#                      then against the libmalloc model (Linux; the models of
#                      libmalloc-792 and -317), the Mach-O inspection, and
#                      check-machorun: the dylibs run under
#                      tests/darwin/machorun, x86_64 natively, arm64 under
#                      qemu-aarch64
#
# On Linux the dylibs are cross-built, with no SDK: Debian's clang-16 for
# {arm64,x86_64}-apple-macos11 against libgclzone/darwin/include (-nostdlibinc
# keeps only clang's own stddef/stdint/...), linked by ld64.lld-16 against the
# hand-written libgclzone/darwin/libSystem.tbd. On a Mac, `make darwin` uses
# the SDK through xcrun instead (never run here: no Mac was available).

DARWIN_ARCHS := arm64 x86_64
DARWIN_MIN ?= 11.0
DARWIN_INSTALL_NAME ?= @rpath/libgclzone.dylib
# LC_ID_DYLIB's versions (docs/darwin.md §12): the current version is the
# library's; compatible with every later release of the same major version,
# or of the same minor version while the major is 0.
DARWIN_VERSION_WORDS := $(subst ., ,$(VERSION))
DARWIN_COMPAT_VERSION := $(if $(filter 0,$(word 1,$(DARWIN_VERSION_WORDS))),0.$(word 2,$(DARWIN_VERSION_WORDS)).0,$(word 1,$(DARWIN_VERSION_WORDS)).0.0)
DARWIN_VERSION_FLAGS := -current_version $(VERSION) -compatibility_version $(DARWIN_COMPAT_VERSION)
DARWIN_OBJS = $(patsubst %,$(BUILD)/darwin/$(1)/obj/%.o,$(CORE) zone_darwin)
DARWIN_DYLIBS := $(DARWIN_ARCHS:%=$(BUILD)/darwin/%/libgclzone.dylib)

ifeq ($(shell uname -s),Darwin)
DARWIN_CC ?= xcrun clang
DARWIN_SYSROOT_FLAGS :=
DARWIN_LINK = $(DARWIN_CC) -target $(1)-apple-macos$(DARWIN_MIN) -dynamiclib -install_name $(DARWIN_INSTALL_NAME) \
              $(DARWIN_VERSION_FLAGS) -Wl,-adhoc_codesign
DARWIN_TBD :=
DARWIN_LIPO ?= xcrun lipo
else
DARWIN_CC ?= clang-16
DARWIN_SYSROOT_FLAGS := -nostdlibinc -isystem libgclzone/darwin/include
# Both slices signed ad hoc (ld64.lld signs arm64 only by default).
DARWIN_LINK = ld64.lld-16 -arch $(1) -platform_version macos $(DARWIN_MIN) $(DARWIN_MIN) -dylib \
              -install_name $(DARWIN_INSTALL_NAME) $(DARWIN_VERSION_FLAGS) -adhoc_codesign
DARWIN_TBD := libgclzone/darwin/libSystem.tbd
DARWIN_LIPO ?= llvm-lipo-16
endif

DARWIN_CFLAGS := -std=gnu11 $(OPT) $(WARN) -fPIC -fvisibility=hidden -Iinclude $(DARWIN_SYSROOT_FLAGS) \
                 -fno-builtin-malloc -fno-builtin-free -fno-builtin-calloc -fno-builtin-realloc -MMD -MP

define darwin_arch
$(BUILD)/darwin/$(1)/obj/%.o: libgclzone/%.c | $(BUILD)/darwin/$(1)/obj
	$$(DARWIN_CC) -target $(1)-apple-macos$$(DARWIN_MIN) $$(DARWIN_CFLAGS) -c $$< -o $$@

$(BUILD)/darwin/$(1)/libgclzone.dylib: $(call DARWIN_OBJS,$(1)) $(DARWIN_TBD) mk/darwin.mk
	$$(call DARWIN_LINK,$(1)) -o $$@ $(call DARWIN_OBJS,$(1)) $$(DARWIN_TBD)

$(BUILD)/darwin/$(1)/obj:
	mkdir -p $$@
endef
$(foreach a,$(DARWIN_ARCHS),$(eval $(call darwin_arch,$(a))))

$(BUILD)/darwin/libgclzone.dylib: $(DARWIN_DYLIBS)
	$(DARWIN_LIPO) -create -output $@ $^

darwin: $(DARWIN_DYLIBS) $(BUILD)/darwin/libgclzone.dylib

# ---- the zone against each generation of Apple's header ----------------------------
# zone_darwin.c and tests/darwin/zone_abi.c (the layouts) against the restated
# <malloc/malloc.h> of each libmalloc release (docs/darwin.md §1): a field that
# only a newer SDK declares fails here, as it would on a Mac with an older SDK.
DARWIN_HEADER_RELEASES := 317 409 474 521 646 792
DARWIN_HEADER_CC = $(DARWIN_CC) -target $(1)-apple-macos$(DARWIN_MIN) -std=gnu11 $(OPT) $(WARN) -fsyntax-only \
                   -Iinclude -nostdlibinc -isystem libgclzone/darwin/include -DGCL_LIBMALLOC_HEADER=$(2)

$(BUILD)/darwin/headers.ok: libgclzone/zone_darwin.c tests/darwin/zone_abi.c \
                            $(wildcard include/*.h libgclzone/*.h libgclzone/darwin/include/*.h libgclzone/darwin/include/*/*.h)
	@mkdir -p $(dir $@)
	@for g in $(DARWIN_HEADER_RELEASES); do for a in $(DARWIN_ARCHS); do \
	  $(call DARWIN_HEADER_CC,$$a,$$g) libgclzone/zone_darwin.c && \
	  $(call DARWIN_HEADER_CC,$$a,$$g) tests/darwin/zone_abi.c || exit 1; \
	done; done
	@echo "darwin: zone_darwin.c and the zone layouts build against the libmalloc $(DARWIN_HEADER_RELEASES) headers"
	@touch $@

# ---- the zone on Linux, against the libmalloc model ------------------------------
# Built twice (docs/darwin.md §4): the model of libmalloc-792, which stands for
# macOS 12 and later, and of libmalloc-317 (macOS 11), each with that release's
# header: build/tests/darwin_zone and build/tests/darwin_zone_317.
define darwin_model
$(BUILD)/darwin/model$(1)/zone_darwin.o: libgclzone/zone_darwin.c | $(BUILD)/darwin/model$(1)
	$$(CC) $$(LIB_CFLAGS) -DGCL_ZONE_MODEL -DGCL_LIBMALLOC_HEADER=$(2) -Itests/darwin/include -c $$< -o $$@

$(BUILD)/darwin/model$(1)/%.o: tests/darwin/%.c | $(BUILD)/darwin/model$(1)
	$$(CC) $$(TEST_CFLAGS) $$(CHECK_CFLAGS) -DGCL_LIBMALLOC_HEADER=$(2) -DLM_LIBMALLOC=$(2) -Itests/darwin/include \
	  -Itests/darwin -c $$< -o $$@

$(BUILD)/darwin/model$(1):
	mkdir -p $$@

$(BUILD)/tests/darwin_zone$(1): $(patsubst %,$(BUILD)/darwin/model$(1)/%.o,zone_darwin libmalloc_model test_zone) \
                                $(BUILD)/libgclzone_core.a | $(BUILD)/tests
	$$(CC) -o $$@ $$(filter %.o %.a,$$^) $$(CHECK_LIBS) -pthread $$(LDFLAGS)
endef
$(eval $(call darwin_model,,792))
$(eval $(call darwin_model,_317,317))

# ---- the shipped dylibs run on Linux (tests/darwin/machorun) ------------------------
# machorun is built for each slice's architecture, with the libmalloc model
# linked in: natively for x86_64, with Debian's aarch64 cross compiler
# (statically, so qemu-aarch64 needs no sysroot) for arm64.
# MACHORUN_SCALE_ARM64 sets the work per check under emulation (x86_64: 1).
MACHORUN_SRC := $(wildcard tests/darwin/machorun/*.c) tests/darwin/libmalloc_model.c
MACHORUN_DEPS := $(MACHORUN_SRC) $(wildcard tests/darwin/machorun/*.h) tests/darwin/libmalloc_model.h tests/darwin/zone_drive.h include/gclzone.h
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

# Each slice runs twice: the checks, one of which saves a heap image, then
# a run started from that image (the constructor restores before it
# installs the zone).
check-machorun: $(BUILD)/darwin/machorun/x86_64/machorun $(BUILD)/darwin/machorun/arm64/machorun darwin
	MACHORUN_SAVE=$(BUILD)/darwin/machorun/x86_64/zone.img \
	  $(BUILD)/darwin/machorun/x86_64/machorun $(MACHORUN_ARGS) $(BUILD)/darwin/x86_64/libgclzone.dylib
	MACHORUN_IMAGE=$(BUILD)/darwin/machorun/x86_64/zone.img \
	  $(BUILD)/darwin/machorun/x86_64/machorun $(BUILD)/darwin/x86_64/libgclzone.dylib
	MACHORUN_SAVE=$(BUILD)/darwin/machorun/arm64/zone.img \
	  $(QEMU_AARCH64) $(BUILD)/darwin/machorun/arm64/machorun $(MACHORUN_ARGS) --scale $(MACHORUN_SCALE_ARM64) \
	  $(BUILD)/darwin/arm64/libgclzone.dylib
	MACHORUN_IMAGE=$(BUILD)/darwin/machorun/arm64/zone.img \
	  $(QEMU_AARCH64) $(BUILD)/darwin/machorun/arm64/machorun $(BUILD)/darwin/arm64/libgclzone.dylib

check-darwin: $(BUILD)/darwin/headers.ok $(BUILD)/tests/darwin_zone $(BUILD)/tests/darwin_zone_317 darwin check-machorun
	$(BUILD)/tests/darwin_zone
	$(BUILD)/tests/darwin_zone_317
	python3 tests/darwin/inspect.py $(BUILD)
	python3 tests/darwin/doc_refs.py

.PHONY: darwin check-darwin check-machorun
-include $(wildcard $(BUILD)/darwin/*/obj/*.d $(BUILD)/darwin/model*/*.d)

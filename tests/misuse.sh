#!/bin/sh
# Heap misuse through the ELF front end: every case must die by SIGABRT
# after exactly one fixed line naming the pointer (log.c's list), never by
# SIGSEGV and never silently. Cases live in tests/misuse/misuse.c.
. "$(dirname "$0")/lib.sh"
PROG=$BUILD/tests/misuse/misuse
n=0
check() { # case message-with-%p [VAR=value...]
  c=$1 m=$2
  shift 2
  out=$(env "$@" LD_PRELOAD="${USE_LIB:-$LIB}" "$PROG" "$c" "$m") || fail "$out ($*)"
  n=$((n + 1))
}
live="which is not a live block from gclzone"
check double_free_small "double free of %p"
check double_free_medium "double free of %p"
check double_free_large "double free of %p"
check double_free_interleaved "double free of %p"
check double_free_other_thread "double free of %p"
for c in free_interior_1 free_interior_16 free_interior_large free_stack free_one free_mmap_page \
         free_never_handed_out free_far; do
  check $c "free of %p, $live"
done
for c in realloc_interior realloc_stack realloc_one realloc_freed; do check $c "realloc of %p, $live"; done
for c in usable_size_interior usable_size_stack usable_size_freed; do check $c "usable size of %p, $live"; done
# Writes after free, with the validator on every call or on every 7th.
for every in 1 7; do
  check write_after_free_link "heap corruption at %p: corrupted free-list link" GCLZONE_CHECK=$every
  check write_after_free_tag "heap corruption at %p: a free block was written after it was freed" GCLZONE_CHECK=$every
done
# A SECURE build follows no forged link, even with no validator running.
SECURE_LIB=$(cd "$BUILD-secure" && pwd)/libgclzone.so
USE_LIB=$SECURE_LIB check write_after_free_link "heap corruption at %p: corrupted free-list link"
ok "$n misuse cases stopped with SIGABRT and their one fixed line"

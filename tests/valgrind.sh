#!/bin/sh
# valgrind memcheck with libgclzone preloaded (--soname-synonyms=somalloc=
# nouserintercepts, so that our malloc serves and memcheck watches it through
# the client requests in debug.c): a deliberate use after free is reported
# with its block; blocks are described at the size asked for, so a 1-byte
# overrun into a block's slack is reported, also after realloc in place
# (grown and shrunk); and real work reports no error at all.
. "$(dirname "$0")/lib.sh"
T=$BUILD/tests/preload
VG="valgrind -q --soname-synonyms=somalloc=nouserintercepts --error-exitcode=99"

set +e
LD_PRELOAD=$LIB $VG "$T/uaf" >"$TMP/out" 2>"$TMP/err"
rc=$?
set -e
[ $rc -eq 99 ] || fail "uaf: memcheck found no error (status $rc)"
grep -q "Invalid read of size 1" "$TMP/err" || fail "uaf: no invalid read reported: $(cat "$TMP/err")"
grep -q "is 3 bytes inside a block of size 64 free'd" "$TMP/err" || fail "uaf: the freed block is not named"
grep -q "Block was alloc'd at" "$TMP/err" || fail "uaf: no allocation stack"
ok "a use after free is reported with its 64-byte block, where it was allocated and freed"

for c in "malloc 3" "grown 24" "shrunk 17"; do
  set -- $c
  set +e
  LD_PRELOAD=$LIB $VG "$T/overrun" "$1" >"$TMP/out" 2>"$TMP/err"
  rc=$?
  set -e
  [ $rc -eq 99 ] || fail "overrun $1: memcheck found no error (status $rc; 2: realloc moved the block)"
  grep -q "Invalid write of size 1" "$TMP/err" || fail "overrun $1: no invalid write: $(cat "$TMP/err")"
  grep -q "is 0 bytes after a block of size $2 alloc'd" "$TMP/err" || fail "overrun $1: not named as past its $2-byte block: $(cat "$TMP/err")"
done
ok "a 1-byte overrun is reported past the size asked for: malloc(3), and blocks grown to 24 and shrunk to 17 by realloc in place"

clean() { # name, env, command...
  name=$1 vars=$2
  shift 2
  env $vars LD_PRELOAD="$LIB" $VG "$@" >"$TMP/out" 2>"$TMP/err" || fail "$name: $(grep -v 'set address range perms' "$TMP/err" | head -20)"
}
want=$("$T/threads" 20000)
clean threads "" "$T/threads" 20000
[ "$(cat "$TMP/out")" = "$want" ] || fail "threads under valgrind: $(cat "$TMP/out")"
clean exhaust GCLZONE_ARENA_SIZE=64M "$T/exhaust"
clean bound "" "$T/bound"
clean gmp "" "$BUILD/examples/gmp_demo"
clean contract "" "$BUILD/tests/harden/probes" --valid
ok "no memcheck error in producer/consumer threads, exhaustion, every entry point, the GMP demo, and a valid program's contract (C++ sized deletes included)"

# Heap images: under memcheck blocks carry their exact sizes, which an image
# does not hold: no image is saved (ENOTSUP), and a process started from an
# image runs without memcheck's descriptions of our blocks (debug.c), with
# no error, and saves again.
W=$BUILD/tests/image_world
at="GCLZONE_BASE=0x300000000000 GCLZONE_HEAP_SIZE=64M GCLZONE_ARENA_SIZE=256M WORLD_STRINGS=300"
if env $at LD_PRELOAD="$LIB" $VG "$W" build "$TMP/v.img" >/dev/null 2>"$TMP/err"; then fail "an image was saved under memcheck"; fi
grep -q '^world: FAIL: gclzone_image_save: Operation not supported$' "$TMP/err" || fail "image save under memcheck: $(cat "$TMP/err")"
env $at LD_PRELOAD="$LIB" "$W" build "$TMP/v.img" >/dev/null || fail "the image for memcheck"
clean "image start" GCLZONE_IMAGE="$TMP/v.img" "$W" check "$TMP/v.img" "$TMP/v2.img"
[ -s "$TMP/v2.img" ] || fail "no image saved after a start from one under memcheck"
ok "under memcheck: no image saved (ENOTSUP); started from an image, the world checks and saves again, no error"

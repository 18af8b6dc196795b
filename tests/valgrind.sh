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

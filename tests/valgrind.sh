#!/bin/sh
# valgrind memcheck with libgclzone preloaded (--soname-synonyms=somalloc=
# nouserintercepts, so that our malloc serves and memcheck watches it through
# the client requests in debug.c): a deliberate use after free is reported
# with its block, and real work reports no error at all.
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
ok "no memcheck error in producer/consumer threads, exhaustion, every entry point, and the GMP demo"

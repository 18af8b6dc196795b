#!/bin/sh
# image.sh: heap images across real processes and both ELF front ends
# (tests/image/world.c, preloaded and linked with -lgclzone): a process
# builds a world across the host heap and the arena and saves it; a second
# starts from the image, checks every byte, frees half from two threads,
# adds more under the validators and saves again; a third starts from that.
# The chains cross the front ends (an image does not care which one saved
# it). Then what a runtime sees of a bad image: one fatal line, SIGABRT.
# (Each bad image's errno and reason, and the empty memory map after a
# refused gclzone_init, are test_image.c's.)
. "$(dirname "$0")/lib.sh"
P=$BUILD/tests/image_world
L=$BUILD/tests/image_world_linked
# The saving processes ask for a fixed base far from where the OS maps
# libraries: the image must find it free in every later process.
at="GCLZONE_BASE=0x300000000000 GCLZONE_HEAP_SIZE=1G GCLZONE_ARENA_SIZE=4G"

run() { # what... : run, and fail with its output if it fails
  out=$("$@" 2>&1) || fail "$* (status $?): $out"
  printf '%s\n' "$out"
}

# 1. The full world (100000 strings): preloaded, then linked, then preloaded.
run env $at LD_PRELOAD="$LIB" "$P" build "$TMP/a.img" >/dev/null
# Validators every 1000 calls here: every call would revalidate every
# restored slab's lists each time (the small world below runs them at 1).
got=$(run env GCLZONE_IMAGE="$TMP/a.img" GCLZONE_CHECK=1000 "$L" check "$TMP/a.img" "$TMP/b.img")
printf '%s\n' "$got" | grep -q '^world: checked; freed half' || fail "check: $got"
got=$(run env GCLZONE_IMAGE="$TMP/b.img" LD_PRELOAD="$LIB" "$P" final "$TMP/b.img")
[ "$got" = "world: checked the second generation and freed it all" ] || fail "final: $got"
ok "100000 strings, GMP numbers, every size class, large and aligned blocks, host heap bytes: saved preloaded, restored linked (checked, half freed from two threads, more added, saved again), restored preloaded"

# 2. A smaller world under GCLZONE_CHECK=1: linked, preloaded, linked.
run env $at WORLD_STRINGS=3000 "$L" build "$TMP/c.img" >/dev/null
run env GCLZONE_IMAGE="$TMP/c.img" GCLZONE_CHECK=1 LD_PRELOAD="$LIB" "$P" check "$TMP/c.img" "$TMP/d.img" >/dev/null
run env GCLZONE_IMAGE="$TMP/d.img" GCLZONE_CHECK=1 "$L" final "$TMP/d.img" >/dev/null
ok "the same with GCLZONE_CHECK=1 (3000 strings): saved linked, restored preloaded, restored linked"

# A SECURE=1 build keeps its free-list key in the image: its own images
# restore; the default build refuses them.
SECURE_LIB=$(cd "$BUILD-secure" && pwd)/libgclzone.so
run env $at WORLD_STRINGS=2000 LD_PRELOAD="$SECURE_LIB" "$P" build "$TMP/s.img" >/dev/null
run env GCLZONE_IMAGE="$TMP/s.img" GCLZONE_CHECK=1 LD_PRELOAD="$SECURE_LIB" "$P" check "$TMP/s.img" "$TMP/s2.img" >/dev/null
run env GCLZONE_IMAGE="$TMP/s2.img" LD_PRELOAD="$SECURE_LIB" "$P" final "$TMP/s2.img" >/dev/null
set +e
{ err=$(env GCLZONE_IMAGE="$TMP/s.img" "$L" final "$TMP/s.img" 2>&1); status=$?; } 2>/dev/null
set -e
[ $status -eq 134 ] && [ "$err" = "gclzone: fatal: cannot start from the image $TMP/s.img: made by an incompatible build of libgclzone" ] ||
  fail "a SECURE=1 image in the default build: status $status: $err"
rm -f "$TMP/s.img" "$TMP/s2.img"
ok "a SECURE=1 build saves and restores its own images (the link key kept), and the default build refuses them"

# Nothing but the images is left (the temporary names were renamed), and
# they are sparse: the reservation is 5 GiB, the world some 40 MiB.
[ "$(cd "$TMP" && ls | tr '\n' ' ')" = "a.img b.img c.img d.img " ] || fail "left in the directory: $(ls "$TMP")"
size=$(stat -c %s "$TMP/a.img")
[ "$size" -gt $((20 << 20)) ] && [ "$size" -lt $((200 << 20)) ] || fail "a.img is $size bytes"
ok "the images alone are left; a.img is $((size >> 20)) MiB"

# The option is in the JSON report of a process started from an image.
got=$(env GCLZONE_IMAGE="$TMP/d.img" GCLZONE_SHOW_STATS=json LD_PRELOAD="$LIB" true 2>&1)
[ "$(printf '%s\n' "$got" | gclzone_stat options.IMAGE)" = "$TMP/d.img" ] || fail "JSON report: $got"
[ "$(printf '%s\n' "$got" | gclzone_stat region.host.base)" = 0x300000000000 ] || fail "JSON report: $got"

# 3. A bad image stops the process at start-up with one line, before main.
refused() { # FILE REASON: started from FILE, both front ends stop with the line
  for prog in "LD_PRELOAD=$LIB $P" "$L"; do
    set +e
    err=$(env GCLZONE_IMAGE="$1" $prog final "$1" 2>&1 >/dev/null)
    status=$?
    set -e
    [ $status -eq 134 ] || fail "$prog with $1: status $status, want 134 (SIGABRT): $err"
    [ "$err" = "gclzone: fatal: cannot start from the image $1: $2" ] || fail "$prog with $1: '$err'"
  done
}
# (stderr of the calls: the shell says "Aborted" of each; fail writes to stdout)
refused "$TMP/none.img" "no such file" 2>/dev/null
printf 'not an image, but long enough to have a header of its own, and then some more bytes: %0200d\n' 0 >"$TMP/text.img"
refused "$TMP/text.img" "not a gclzone image" 2>/dev/null
head -c 4096 "$TMP/d.img" >"$TMP/cut.img"
refused "$TMP/cut.img" "the file is truncated" 2>/dev/null
ok "a missing, a foreign and a truncated image: one fatal line each and SIGABRT, preloaded and linked"

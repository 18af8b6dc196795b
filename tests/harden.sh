#!/bin/sh
# The hardened mode (GCLZONE_HARDEN=1 in the SECURE=1 build) through
# LD_PRELOAD: tests/harden/probes commits every misuse it must catch, each
# in its own child. Reports how many the default build, the debug modes
# (GCLZONE_SCRIBBLE=1 GCLZONE_CHECK=1) and the hardened mode catch, and
# fails if the hardened mode misses one or ends one otherwise than with its
# one fixed fatal line (or, for stale and freed data, without showing an old
# byte). Then no false positive: a valid program's contract (probes
# --valid), the preload tests and python3 and sqlite3 (tests/preload.sh),
# and the GMP demo, all under the hardened mode.
. "$(dirname "$0")/lib.sh"
P=$BUILD/tests/harden/probes
SECURE_LIB=$(cd "$BUILD-secure" && pwd)/libgclzone.so

count() { # label, env...: run every probe, print how many were caught
  label=$1
  shift
  env "$@" "$P" >"$TMP/probes.out" 2>&1 || fail "$label: the probes did not run: $(tail -5 "$TMP/probes.out")"
  sed -n 's/^probes: \([0-9]* of [0-9]*\) probes caught$/\1/p' "$TMP/probes.out"
}
plain=$(count "glibc")
default=$(count "default build" LD_PRELOAD="$LIB")
debug=$(count "debug modes" GCLZONE_SCRIBBLE=1 GCLZONE_CHECK=1 LD_PRELOAD="$LIB")
secure=$(count "SECURE=1 build" LD_PRELOAD="$SECURE_LIB")
GCLZONE_HARDEN=1 LD_PRELOAD="$SECURE_LIB" "$P" --expect >"$TMP/hard.out" 2>&1 ||
  fail "the hardened mode: $(grep -E 'FAIL|NOT CAUGHT' "$TMP/hard.out" | head -20)"
hard=$(sed -n 's/^probes: \([0-9]* of [0-9]*\) probes caught$/\1/p' "$TMP/hard.out")
[ -n "$hard" ] || fail "the hardened mode: no count: $(tail -5 "$TMP/hard.out")"
ok "probes caught: glibc $plain, default build $default, debug modes $debug, SECURE=1 build $secure, hardened mode $hard (each with its fatal line)"
# The default build ignores the option, and says so.
LD_PRELOAD="$LIB" GCLZONE_HARDEN=1 "$P" overflow_1_small 2>"$TMP/warn" || fail "the default build with GCLZONE_HARDEN=1"
grep -q "^gclzone: warning: ignoring GCLZONE_HARDEN: this is not a SECURE=1 build$" "$TMP/warn" || fail "no warning: $(cat "$TMP/warn")"

# -- no false positive ----------------------------------------------------------
for lib in "$LIB" "$SECURE_LIB"; do
  out=$(GCLZONE_HARDEN=1 LD_PRELOAD="$lib" "$P" --valid 2>&1) || fail "a valid program under $lib: $out"
done
ok "hardened: $out; the contract holds in the default build too"
want=$(LD_PRELOAD="$LIB" "$BUILD/examples/gmp_demo")
got=$(GCLZONE_HARDEN=1 LD_PRELOAD="$SECURE_LIB" "$BUILD/examples/gmp_demo") || fail "gmp_demo under the hardened mode"
[ "$got" = "$want" ] || fail "gmp_demo under the hardened mode: its output differs"
ok "hardened: the GMP demo's exact results"
PRELOAD_LIB=$SECURE_LIB GCLZONE_HARDEN=1 BUILD=$BUILD sh "$ROOT/tests/preload.sh" >"$TMP/preload.out" 2>&1 ||
  fail "tests/preload.sh under the hardened mode: $(tail -5 "$TMP/preload.out")"
sed 's/^preload.sh: /hardened: /' "$TMP/preload.out"
# Two of tests/programs.sh's real programs, garbage-collected runtimes both
# (its redis run stays there); the JSON report proves the mode was on.
D=$ROOT/tests/programs
for prog in "emacs -Q --batch -l $D/bignums.el" "guile --no-auto-compile $D/bignums.scm"; do
  name=${prog%% *}
  want=$($prog 2>/dev/null) # stdout: bignums.el reports its heap on stderr
  got=$(GCLZONE_HARDEN=1 GCLZONE_SHOW_STATS=json LD_PRELOAD="$SECURE_LIB" $prog 2>"$TMP/$name.err") ||
    fail "$name under the hardened mode: $(tail -3 "$TMP/$name.err")"
  [ "$got" = "$want" ] || fail "$name under the hardened mode: its output differs"
  [ "$(gclzone_stat options.HARDEN "$TMP/$name.err")" = 1 ] || fail "$name: the hardened mode was not on"
  blocks=$(gclzone_stat stats.in_use_blocks "$TMP/$name.err")
  [ "$blocks" -gt 0 ] || fail "$name: nothing in our arena"
  ok "hardened: $name: identical output, $blocks blocks live at exit in our arena"
done

# -- heap images ------------------------------------------------------------------
# The hardened mode's blocks carry trailers and its free memory is
# inaccessible: it saves no image (ENOTSUP), and a process started from an
# image runs without it, and says so (an image's free blocks are not zero,
# which the hardened mode would take for writes after free).
W=$BUILD/tests/image_world
at="GCLZONE_BASE=0x300000000000 GCLZONE_HEAP_SIZE=1G GCLZONE_ARENA_SIZE=4G WORLD_STRINGS=3000"
if env $at GCLZONE_HARDEN=1 LD_PRELOAD="$SECURE_LIB" "$W" build "$TMP/h.img" >/dev/null 2>"$TMP/h.err"; then
  fail "the hardened mode saved an image"
fi
grep -q '^world: FAIL: gclzone_image_save: Operation not supported$' "$TMP/h.err" || fail "hardened save: $(cat "$TMP/h.err")"
[ ! -e "$TMP/h.img" ] || fail "the hardened mode's refused save left a file"
env $at LD_PRELOAD="$SECURE_LIB" "$W" build "$TMP/s.img" >/dev/null || fail "the SECURE=1 build's image"
got=$(GCLZONE_IMAGE="$TMP/s.img" GCLZONE_HARDEN=1 LD_PRELOAD="$SECURE_LIB" "$W" check "$TMP/s.img" "$TMP/s2.img" 2>"$TMP/s.err") ||
  fail "a hardened start from an image: $(cat "$TMP/s.err")"
[ "$(cat "$TMP/s.err")" = "gclzone: warning: ignoring GCLZONE_HARDEN: the process starts from a heap image" ] ||
  fail "a hardened start from an image: $(cat "$TMP/s.err")"
GCLZONE_IMAGE="$TMP/s2.img" LD_PRELOAD="$SECURE_LIB" "$W" final "$TMP/s2.img" >/dev/null || fail "the image saved after it"
ok "hardened: no image saved (ENOTSUP, no file); started from an image, the mode is off with a warning, and the world checks, saves and restores"

#!/bin/sh
# GMP as the reference consumer: exact results, and every limb in the arena,
# both preloaded and linked (tests/gmp_consumer is the demo linked with -lgclzone).
. "$(dirname "$0")/lib.sh"
expected='1000!                     2568 digits, digit sum 10539
10000!                   35660 digits, digit sum 149346
20000!                   77338 digits, digit sum 325494
3^100000                 47713 digits, last 30: 480009664574250669865522000001
7^20000 - 5^20000        16902 digits, digit sum 77145
F(3000)                    627 digits, digit sum 2781
gcd(F(2400),F(1800))   = F(600)
400 Fibonacci gcds     all exact'

plain=$("$BUILD/examples/gmp_demo")
[ "$(printf '%s\n' "$plain" | head -n 8)" = "$expected" ] || fail "system malloc gives unexpected results: $plain"
printf '%s\n' "$plain" | grep -qx 'libgclzone is not loaded' || fail "demo claims libgclzone without it"

for how in preload linked; do
  if [ $how = preload ]; then out=$(LD_PRELOAD=$LIB "$BUILD/examples/gmp_demo")
  else out=$("$BUILD/tests/gmp_consumer"); fi
  [ "$(printf '%s\n' "$out" | head -n 8)" = "$expected" ] || fail "$how: results differ: $out"
  line=$(printf '%s\n' "$out" | tail -n 1)
  n=$(echo "$line" | sed -n 's/^libgclzone: \([0-9]*\) of \([0-9]*\) numbers have their limbs in the arena, 0 in the host heap$/\1 \2/p')
  [ -n "$n" ] || fail "$how: $line"
  set -- $n
  [ "$1" = "$2" ] && [ "$1" -gt 400 ] || fail "$how: only $1 of $2 limb arrays in the arena"
  ok "$how: exact results; $1 of $2 limb arrays in the arena, none in the host heap"
done

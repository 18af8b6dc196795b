#!/bin/sh
# gcl.sh: GNU Common Lisp, and Maxima (built on it), with their heap on our
# host heap. GCL defines malloc in its executable, so the preload cannot take
# its malloc, but its heap grows with sbrk, which is ours: by default the
# host heap starts at the program break, so it continues GCL's dumped data
# segment, which GCL requires.
#
# For each of GCL and Maxima, run the same workload without libgclzone, with
# nothing but LD_PRELOAD (and GCLZONE_SHOW_STATS), and under
# bin/gclzone-run --map --heap-size=4G, then require:
#  - identical results (and, for GCL, results known independently: the same
#    numbers as examples/gmp);
#  - GCL re-executed itself (ADDR_NO_RANDOMIZE in its personality);
#  - the host heap starts exactly where the executable's data segment ends;
#  - the top address GCL's sbrk binary search found is the host heap's limit;
#  - the kernel's brk heap was never created, and fresh conses and a fresh
#    bignum lie in the host heap, between its base and its break;
#  - without libgclzone, the same evidence shows the kernel's [heap] instead.
# And with --no-sbrk, GCL runs on the kernel's brk again, the host heap unused.
. "$(dirname "$0")/lib.sh"
root=$ROOT
run="$root/bin/gclzone-run"
GCLZONE_LIB=$LIB
export GCLZONE_LIB # gclzone-run preloads this build's library
ev="$root/tests/gcl/evidence.lsp"
tmp=$TMP
for c in gcl maxima; do
  command -v $c >/dev/null || fail "$c is not installed (./make.sh check installs it)"
done
HEAP=4294967296 # --heap-size=4G

# evidence OUTPUT KEY: the value of "evidence: KEY VALUE"
evidence() {
  printf '%s\n' "$1" | sed -n "s/^evidence: $2 //p" | head -n 1
}
# range_lo / range_hi "lo-hi perms ...": the ends of a /proc/self/maps line
range_lo() { echo $((0x${1%%-*})); }
range_hi() {
  r=${1#*-}
  echo $((0x${r%% *}))
}

# check NAME NATIVE ZONE SCALE: the evidence from both runs; SCALE is
# GCL_MEM_MULTIPLE in percent (GCL scales its probed ceiling by it; 1 by
# default, and /usr/bin/maxima exports 0.2).
check() {
  name=$1 native=$2 zone=$3 scale=$4
  [ "$(evidence "$native" "kernel brk heap")" = present ] || fail "$name: no [heap] without libgclzone: $native"
  pers=$(evidence "$zone" personality)
  [ -n "$pers" ] && [ $((0x$pers & 0x40000)) -ne 0 ] || fail "$name: did not re-execute without randomization"

  data=$(evidence "$zone" "data_start in")
  image_end=$(range_hi "$data")
  # The zone run's report: the process whose host heap starts at the image's
  # end (the shell wrappers and GCL's helpers print theirs too).
  base= brk= peak=
  for f in $(printf '%s\n' "$zone" |
    sed -n 's/^gclzone:   host heap \(0x[0-9a-f]*\) .* break \(0x[0-9a-f]*\), peak \([0-9.]*\) GiB$/\1:\2:\3/p'); do
    if [ $((${f%%:*})) -eq "$image_end" ]; then
      base=$((${f%%:*})) peak=${f##*:} f=${f%:*} brk=$((${f#*:}))
    fi
  done
  [ -n "$base" ] || fail "$name: no host heap starts where the data segment ends ($data): $zone"
  limit=$((base + HEAP))
  [ $((brk - base)) -gt $((64 << 20)) ] || fail "$name: the host heap break hardly moved"
  # The binary search of the largest sbrk went up to the limit (3.99.. GiB
  # prints as 3.9), and GCL's ceiling is that limit times its multiple.
  case $peak in 3.9 | 4.0) ;; *) fail "$name: the host heap peaked at $peak GiB: no sbrk probe?" ;; esac
  ceiling=$((0x$(evidence "$zone" "sbrk ceiling")))
  beg=$(range_lo "$data")
  want=$(((limit - beg) / 100 * scale + beg))
  [ $((ceiling - want)) -le 4096 ] && [ $((want - ceiling)) -le $((limit / 1000)) ] ||
    fail "$name: GCL's ceiling is $(printf %x $ceiling), $scale% of the host heap is $(printf %x $want)"

  [ "$(evidence "$zone" "kernel brk heap")" = absent ] || fail "$name: the kernel's brk heap exists: $zone"

  # Fresh objects: in the host heap (committed up to the break), or else in
  # the heap GCL dumped into its executable; nowhere else.
  top=$(((brk + 4095) / 4096 * 4096)) in_heap=0
  where() { # where MAPS-LINE: heap, image, or elsewhere
    lo=$(range_lo "$1") hi=$(range_hi "$1")
    if [ "$lo" -ge "$base" ] && [ "$hi" -le "$top" ]; then echo heap
    elif [ "$lo" -eq "$(range_lo "$data")" ] && [ "$hi" -eq "$image_end" ]; then echo image
    else echo elsewhere; fi
  }
  printf '%s\n' "$zone" | sed -n 's/^evidence: conses \([0-9]*\) in /\1 /p' >"$tmp/where"
  while read -r count line; do
    case $(where "$line") in
      heap) in_heap=$((in_heap + count)) ;;
      elsewhere) fail "$name: $count conses outside the host heap and the image, in $line" ;;
    esac
  done <"$tmp/where"
  [ $in_heap -ge 1000 ] || fail "$name: only $in_heap of 2000 sampled conses in the host heap"
  bignum=$(evidence "$zone" "bignum in")
  [ "$bignum" != unmapped ] && [ "$(where "$bignum")" != elsewhere ] || fail "$name: the bignum is in $bignum"
  printf 'gcl.sh: %s: identical results; host heap %x-%x (%d MiB used) continues the data segment (%s);\n' \
    "$name" $base $limit $(((brk - base) >> 20)) "${data%% *}"
  printf 'gcl.sh: %s: its sbrk probe reached the limit, ceiling %x; %d of 2000 fresh conses in the host heap; no kernel brk heap\n' \
    "$name" $ceiling $in_heap
}

# ---- GCL ----------------------------------------------------------------------
gcl_expected='result: 1000! has 2568 digits, digit sum 10539
result: 10000! has 35660 digits, digit sum 149346
result: 7^20000 - 5^20000 has 16902 digits, digit sum 77145
result: fib(20000) has 4180 digits, digit sum 18597
result: gcd(fib(2400), fib(1800)) = fib(600): T
result: 3^100000 mod 1000000007 = 916902199
result: H(2000) = p/q with 867 and 866 digits
result: 20 lists of 50000 squares of 10^30 + i + r sum to 1000000000000000000000000050018000000000000000000000833783447500000
result: sum of k! for k = 1..400 has 869 digits, digit sum 3951'
gcl_run() {
  "$@" gcl -batch -load "$root/tests/gcl/bignum.lsp" -load "$ev" -eval '(gclz-evidence)' 2>&1 || true
}
native=$(gcl_run env)
[ "$(printf '%s\n' "$native" | grep '^result:')" = "$gcl_expected" ] || fail "GCL alone gives: $native"
plain=$(gcl_run env LD_PRELOAD="$GCLZONE_LIB" GCLZONE_SHOW_STATS=1)
[ "$(printf '%s\n' "$plain" | grep '^result:')" = "$gcl_expected" ] || fail "GCL with LD_PRELOAD alone gives: $plain"
printf '%s\n' "$plain" | grep -q "^gclzone: host heap: [1-9].* in use .* at 0x$(evidence "$plain" "data_start in" | sed 's/^[0-9a-f]*-0*\([0-9a-f]*\) .*/\1/')\$" ||
  fail "GCL with LD_PRELOAD alone: the host heap does not continue the data segment: $plain"
ok "GCL with nothing but LD_PRELOAD: identical results; the host heap continues its data segment"
zone=$(gcl_run "$run" --map --heap-size=4G)
[ "$(printf '%s\n' "$zone" | grep '^result:')" = "$gcl_expected" ] || fail "GCL on gclzone gives: $zone"
check GCL "$native" "$zone" 100
explicit=$(gcl_run "$run" --map --base=brk --heap-size=4G)
[ "$(printf '%s\n' "$explicit" | grep '^result:')" = "$gcl_expected" ] || fail "GCL with --base=brk gives: $explicit"

# --no-sbrk: sbrk is the system's again; GCL's heap is the kernel's [heap].
nosbrk=$(gcl_run "$run" --map --no-sbrk)
[ "$(printf '%s\n' "$nosbrk" | grep '^result:')" = "$gcl_expected" ] || fail "GCL with --no-sbrk gives: $nosbrk"
[ "$(evidence "$nosbrk" "kernel brk heap")" = present ] || fail "--no-sbrk: GCL is not on the kernel's brk"
printf '%s\n' "$nosbrk" | grep -q '^gclzone:   host heap 0x[0-9a-f]*  0 B used' || fail "--no-sbrk: the host heap was used"
ok "GCL with --no-sbrk: identical results on the kernel's brk, the host heap unused"

# ---- Maxima ---------------------------------------------------------------------
{
  cat "$root/tests/gcl/maxima.mac"
  echo ":lisp (load \"$ev\")"
  echo ":lisp (gclz-evidence)"
} >"$tmp/work.mac"
maxima_run() {
  "$@" maxima --very-quiet --batch="$tmp/work.mac" 2>&1 || true
}
results() { printf '%s\n' "$1" | grep -v -e '^evidence:' -e '^gclzone:' -e '^NIL$' -e '^T$'; }
native=$(maxima_run env)
for want in '^\[2568,10539\]$' '^274177\*67280421310721$' '^1000000000000000000000000000057$' '^333338333350000$' \
  '^3\.14159265358979323846264338327950288419716939937510582097494b0$'; do
  printf '%s\n' "$native" | grep -q "$want" || fail "Maxima alone: no $want in: $native"
done
plain=$(maxima_run env LD_PRELOAD="$GCLZONE_LIB")
[ "$(results "$plain")" = "$(results "$native")" ] || fail "Maxima with LD_PRELOAD alone differs: $plain"
ok "Maxima with nothing but LD_PRELOAD: identical results"
zone=$(maxima_run "$run" --map --heap-size=4G)
[ "$(results "$zone")" = "$(results "$native")" ] || fail "Maxima on gclzone differs: $zone"
check Maxima "$native" "$zone" 20

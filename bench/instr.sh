#!/bin/sh
# instr.sh: instructions per malloc/free pair, counted by callgrind.
#   OUT=build/bench sh instr.sh NAME=LIB...      (empty LIB: the system malloc)
# writes $OUT/instr.tsv.
#
# For each allocator, pair runs N and then 2N steps under callgrind; the
# difference of the two totals, divided by N, is the cost of one
# steady-state step with start-up and exit cancelled out. Two figures come
# out of each pair of runs:
#  - in_malloc + in_free (`in_both`, the figure reported as instructions per
#    pair): the inclusive cost of the calls to malloc and to free, from
#    callgrind's call graph, differenced the same way: every instruction
#    executed inside them and whatever they call, not the caller's call
#    instruction nor the PLT jump;
#  - step - loop (`with_calls`, a cross-check): the whole step, less the
#    step of `pair N null`, the identical loop with no allocator (measured
#    the same way), i.e. malloc and free with their calls and PLT jumps.
#    It comes out about 3 above in_both.
#
# glibc's malloc is counted as it is: callgrind, unlike memcheck, massif or
# helgrind, has no preload that replaces the malloc family (there is no
# vgpreload_callgrind), so the client's malloc is libc's own; the
# script checks that the malloc callgrind saw is libc.so.6's. A preloaded
# allocator comes first in the lookup order, ahead of libc;
# --soname-synonyms=somalloc=nouserintercepts keeps valgrind from
# redirecting it (it matters for tools that do replace malloc, and is
# harmless here).
set -eu
: "${OUT:?}"
N=${INSTR_N:-200000}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# total NAME LIB N [null]: the instruction count of one run, and its
# callgrind output in $TMP/NAME.N.
total() {
  name=$1 lib=$2 n=$3
  shift 3
  env -u LD_PRELOAD ${lib:+LD_PRELOAD=$lib} valgrind --tool=callgrind --soname-synonyms=somalloc=nouserintercepts \
    --callgrind-out-file="$TMP/$name.$n" "$OUT/bin/pair" "$n" "$@" >"$TMP/$name.$n.out" 2>"$TMP/$name.$n.err" ||
    { cat "$TMP/$name.$n.err" >&2; echo "instr.sh: $name: pair failed under valgrind" >&2; exit 1; }
  sed -n 's/^==[0-9]*== Collected : \([0-9]*\)$/\1/p' "$TMP/$name.$n.err"
}

# calls FILE SYMBOL: the inclusive cost of every call to SYMBOL from outside
# malloc and free, read from callgrind's output file (fn= is the caller,
# cfn= the callee, and the line after calls= holds the calls' inclusive cost;
# a name is given once with its (id), then by the (id) alone).
calls() {
  awk -v want="$2" '
    function name(s,   id, rest) {
      if (!match(s, /^\([0-9]+\)/)) return s
      id = substr(s, 2, RLENGTH - 2)
      rest = substr(s, RLENGTH + 2)
      if (rest != "") names[id] = rest
      return names[id]
    }
    /^fn=/ { fn = name(substr($0, 4)) }
    /^cfn=/ { cfn = name(substr($0, 5)) }
    /^calls=/ {
      getline
      if (cfn == want && fn != "malloc" && fn != "free") total += $2
    }
    END { printf "%d", total }' "$1"
}

# object FILE: the object file of the malloc that callgrind saw.
object() {
  callgrind_annotate --inclusive=yes --threshold=100 "$1" 2>/dev/null |
    sed -n 's/^ *[0-9,]* ([^)]*) *[^ ]*:malloc \[\(.*\)\]$/\1/p' | head -1
}

per() { # per A B N: (B - A) / N with two decimals
  awk -v a="$1" -v b="$2" -v n="$3" 'BEGIN { printf "%.2f", (b - a) / n }'
}

n2=$((2 * N))
l1=$(total null "" "$N" null)
l2=$(total null "" "$n2" null)
loop=$(per "$l1" "$l2" "$N")
printf 'allocator\tn\tir_n\tir_2n\tper_step\tloop\twith_calls\tin_malloc\tin_free\tin_both\tmalloc_object\n' >"$TMP/instr.tsv"
for a in "$@"; do
  name=${a%%=*}
  lib=${a#*=}
  i1=$(total "$name" "$lib" "$N")
  i2=$(total "$name" "$lib" "$n2")
  step=$(per "$i1" "$i2" "$N")
  calls=$(awk -v s="$step" -v l="$loop" 'BEGIN { printf "%.2f", s - l }')
  obj=$(object "$TMP/$name.$N")
  in_m=$(per "$(calls "$TMP/$name.$N" malloc)" "$(calls "$TMP/$name.$n2" malloc)" "$N")
  in_f=$(per "$(calls "$TMP/$name.$N" free)" "$(calls "$TMP/$name.$n2" free)" "$N")
  both=$(awk -v m="$in_m" -v f="$in_f" 'BEGIN { printf "%.2f", m + f }')
  case "$name:$obj" in
  system:*libc.so.6) ;;
  system:*) echo "instr.sh: under callgrind, the system's malloc is '$obj', not libc's" >&2; exit 1 ;;
  *:*libc.so.6|*:*vgpreload*) echo "instr.sh: $name: malloc is '$obj', not the preloaded allocator" >&2; exit 1 ;;
  esac
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$N" "$i1" "$i2" "$step" "$loop" "$calls" "$in_m" "$in_f" "$both" "${obj:-?}" >>"$TMP/instr.tsv"
  echo "instr.sh: $name: $both instructions per malloc/free pair (malloc $in_m + free $in_f; step $step - loop $loop = $calls with calls)" >&2
done
mv "$TMP/instr.tsv" "$OUT/instr.tsv"

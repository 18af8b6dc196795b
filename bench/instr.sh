#!/bin/sh
# instr.sh: instructions per malloc/free pair, counted by callgrind, at each
# block size of INSTR_SIZES (default 16 bytes and 8 KiB).
#   OUT=build/bench sh instr.sh NAME=LIB...      (empty LIB: the system malloc)
# writes $OUT/instr.tsv, one row per allocator and size.
#
# For each allocator and size, `pair N SIZE` runs N and then 2N steps under
# callgrind; the difference of the two runs, divided by N, is the cost of
# one steady-state step with start-up and exit cancelled out. Two figures
# come out of each pair of runs:
#  - in_malloc + in_free (`in_both`, the figure reported as instructions per
#    pair): the inclusive cost of main's calls to malloc and to free, from
#    callgrind's call graph, differenced the same way: every instruction
#    executed inside them and whatever they call, not the caller's call
#    instruction nor the PLT jump, nor the loop around them;
#  - step - loop (`with_calls`, a cross-check): the whole step, less the
#    step of `pair N null SIZE`, the identical loop with no allocator
#    (measured the same way), i.e. malloc and free with their calls and PLT
#    jumps. It comes out about 3 above in_both.
# The two callees are found by their call counts, not their names (an
# allocator's malloc may be an alias that callgrind names otherwise, as
# rpmalloc's `operator new[]`): in `pair N`, main calls malloc N times and
# free N + 64 times (the last window), and nothing else N times or more.
# The names callgrind gave them, and the object of malloc, are in the table.
#
# glibc's malloc is counted as it is: callgrind, unlike memcheck, massif or
# helgrind, has no preload that replaces the malloc family (there is no
# vgpreload_callgrind), so the client's malloc is libc's own; the script
# checks that the malloc callgrind saw is libc.so.6's, and for every other
# allocator that it is in the preloaded library. --soname-synonyms=
# somalloc=nouserintercepts keeps valgrind from redirecting a preloaded
# malloc (it matters for tools that do replace malloc, and is harmless here).
#
# An allocator named in INSTR_VGCAP (run.sh names snmalloc) runs with
# vgcap.so preloaded ahead of it: its start-up reservation is larger than
# valgrind 3.19 accepts, and vgcap.c says why shortening it changes no
# counted instruction. An allocator that cannot run under callgrind at all
# gets a row with `-` and the reason in `note`, and the others go on.
set -eu
: "${OUT:?}"
N=${INSTR_N:-200000}
SIZES=${INSTR_SIZES:-16 8192}
VGCAP=${INSTR_VGCAP:-}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# total NAME LIB N SIZE [null]: the instruction count of one run (empty if
# it failed: its stderr is in $TMP/NAME.SIZE.N.err), its callgrind output in
# $TMP/NAME.SIZE.N.
total() {
  name=$1 lib=$2 n=$3 size=$4
  shift 4
  case " $VGCAP " in *" $name "*) [ -z "$lib" ] || lib=$OUT/bin/vgcap.so:$lib ;; esac
  f=$TMP/$name.$size.$n
  if env -u LD_PRELOAD ${lib:+LD_PRELOAD=$lib} valgrind --tool=callgrind --soname-synonyms=somalloc=nouserintercepts \
    --callgrind-out-file="$f" "$OUT/bin/pair" "$n" "$@" "$size" >"$f.out" 2>"$f.err"; then
    sed -n 's/^==[0-9]*== Collected : \([0-9]*\)$/\1/p' "$f.err"
  fi
}

# from_main FILE: main's callees, one a line: calls, inclusive cost, object,
# name (tab-separated), read from callgrind's output file. fn= is the
# caller, cfn= the callee, cob= the callee's object (the caller's, ob=, when
# absent), and the line after calls= holds the calls' inclusive cost; a
# name is given once with its (id), then by the (id) alone, functions and
# objects each numbered on their own.
from_main() {
  awk '
    function name(kind, s,   id, rest) {
      if (!match(s, /^\([0-9]+\)/)) return s
      id = substr(s, 2, RLENGTH - 2)
      rest = substr(s, RLENGTH + 2)
      if (rest != "") names[kind, id] = rest
      return names[kind, id]
    }
    /^ob=/ { ob = name("ob", substr($0, 4)) }
    /^cob=/ { cob = name("ob", substr($0, 5)) }
    /^fn=/ { fn = name("fn", substr($0, 4)) }
    /^cfn=/ { cfn = name("fn", substr($0, 5)) }
    /^calls=/ {
      split(substr($0, 7), c, " ")
      getline
      if (fn == "main") {
        key = cfn SUBSEP (cob != "" ? cob : ob)
        calls[key] += c[1]
        cost[key] += $2
      }
      cob = ""
    }
    END {
      for (k in calls) {
        split(k, p, SUBSEP)
        printf "%d\t%d\t%s\t%s\n", calls[k], cost[k], p[2], p[1]
      }
    }' "$1"
}

# callee FILE COUNT: "cost<TAB>object<TAB>name" of main's callee called COUNT times.
callee() {
  from_main "$1" | awk -F '\t' -v n="$2" '$1 == n { print $2 "\t" $3 "\t" $4; k++ } END { exit k != 1 }'
}

per() { # per A B N: (B - A) / N with two decimals
  awk -v a="$1" -v b="$2" -v n="$3" 'BEGIN { printf "%.2f", (b - a) / n }'
}

n2=$((2 * N))
printf 'allocator\tsize\tn\tir_n\tir_2n\tper_step\tloop\twith_calls\tin_malloc\tin_free\tin_both\tmalloc_symbol\tfree_symbol\tmalloc_object\tnote\n' >"$TMP/instr.tsv"
for size in $SIZES; do
  l1=$(total null "" "$N" "$size" null)
  l2=$(total null "" "$n2" "$size" null)
  [ -n "$l1" ] && [ -n "$l2" ] || { cat "$TMP"/null.*.err >&2; echo "instr.sh: pair null failed under valgrind" >&2; exit 1; }
  loop=$(per "$l1" "$l2" "$N")
  for a in "$@"; do
    name=${a%%=*}
    lib=${a#*=}
    i1=$(total "$name" "$lib" "$N" "$size")
    i2=$(total "$name" "$lib" "$n2" "$size")
    if [ -z "$i1" ] || [ -z "$i2" ]; then
      why=$(grep -v '^==' "$TMP/$name.$size.$N.err" | grep . | head -1 | tr '\t' ' ')
      printf '%s\t%s\t%s\t-\t-\t-\t%s\t-\t-\t-\t-\t-\t-\t-\tdoes not run under callgrind: %s\n' "$name" "$size" "$N" "$loop" \
        "${why:-see valgrind's output}" >>"$TMP/instr.tsv"
      echo "instr.sh: $name: does not run under callgrind (${why:-?})" >&2
      continue
    fi
    step=$(per "$i1" "$i2" "$N")
    calls=$(awk -v s="$step" -v l="$loop" 'BEGIN { printf "%.2f", s - l }')
    m1=$(callee "$TMP/$name.$size.$N" "$N") && m2=$(callee "$TMP/$name.$size.$n2" "$n2") &&
      f1=$(callee "$TMP/$name.$size.$N" $((N + 64))) && f2=$(callee "$TMP/$name.$size.$n2" $((n2 + 64))) ||
      { from_main "$TMP/$name.$size.$N" >&2; echo "instr.sh: $name: no single callee of main called N (malloc) and N + 64 (free) times" >&2; exit 1; }
    in_m=$(per "${m1%%	*}" "${m2%%	*}" "$N")
    in_f=$(per "${f1%%	*}" "${f2%%	*}" "$N")
    both=$(awk -v m="$in_m" -v f="$in_f" 'BEGIN { printf "%.2f", m + f }')
    obj=$(echo "$m1" | cut -f2)
    msym=$(echo "$m1" | cut -f3)
    fsym=$(echo "$f1" | cut -f3)
    case "$name:$obj" in
    system:*libc.so.6) ;;
    system:*) echo "instr.sh: under callgrind, the system's malloc is in '$obj', not libc's" >&2; exit 1 ;;
    *:*libc.so.6|*:*vgpreload*) echo "instr.sh: $name: malloc is in '$obj', not the preloaded allocator" >&2; exit 1 ;;
    *:"$(readlink -f "$lib")"|*:"$lib") ;;
    # callgrind names no object for code outside the library's mapped
    # sections as it reads them (gperftools puts malloc in a section of its
    # own, google_malloc): then the library must export the symbol itself.
    *:"???") nm -D --defined-only "$lib" | grep -q " $msym\$" ||
      { echo "instr.sh: $name: malloc ($msym) is in no known object and not defined by $lib" >&2; exit 1; } ;;
    *) echo "instr.sh: $name: malloc is in '$obj', not $lib" >&2; exit 1 ;;
    esac
    note=""
    case " $VGCAP " in *" $name "*) note="start-up reservation shortened under valgrind (vgcap.c)" ;; esac
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$size" "$N" "$i1" "$i2" "$step" "$loop" \
      "$calls" "$in_m" "$in_f" "$both" "$msym" "$fsym" "$obj" "$note" >>"$TMP/instr.tsv"
    echo "instr.sh: $name, $size bytes: $both instructions per malloc/free pair (malloc $in_m + free $in_f; step $step - loop $loop = $calls with calls)" >&2
  done
done
mv "$TMP/instr.tsv" "$OUT/instr.tsv"

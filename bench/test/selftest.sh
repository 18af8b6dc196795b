#!/bin/sh
# selftest.sh: the benchmark instrument's own tests (`make -C bench test`),
# so that a number in results.md can be trusted to mean what it says:
#  - runner: wall time, peak RSS, exit status, timeout, a missing program,
#    the rate conversion, variables and LD_PRELOAD per allocator, and the
#    interleaved, rotating order of runs;
#  - report.py: medians, ratios, spreads, geometric means over the common
#    workloads, a failed cell, a check mismatch, an SVG that parses, with
#    one bar per valid cell; and issue 15's targets on two fixtures, each
#    target met on one and missed on the other (the best peer's geometric
#    mean, per-workload limits against the system malloc and the best peer,
#    RSS against both, instructions at 16 B and 8 KiB, a build variant that
#    is not a peer, an allocator callgrind cannot run, too few repetitions,
#    peers left out of the run);
#  - whoami: each allocator really serves malloc when preloaded;
#  - imagebench: a fresh page's write is one page fault, a restored heap's
#    first touches are counted and timed of each kind;
#  - instr.sh: counts glibc's own malloc at 16 B and 8 KiB, libgclzone's
#    when preloaded, and a malloc that callgrind names `operator new[]`;
#  - vgcap.so: valgrind refuses a 256 GiB reservation, vgcap shortens it
#    under valgrind only.
# Environment: OUT (build/bench), BUILD, LIBDIR.
set -eu
cd "$(dirname "$0")/.."
: "${OUT:?}" "${BUILD:?}" "${LIBDIR:=/usr/lib/x86_64-linux-gnu}"
PY=/usr/bin/python3
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
pass=0
fail() { echo "selftest: FAIL: $*"; exit 1; }
ok() { pass=$((pass + 1)); echo "selftest: ok: $*"; }
# field FILE WORKLOAD ALLOCATOR REP COLUMN: one value of the runner's raw.tsv
field() {
  awk -F '\t' -v w="$2" -v a="$3" -v r="$4" -v c="$5" '
    NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
    $1 == w && $4 == a && $5 == r { print $col[c] }' "$1"
}

# -- runner ----------------------------------------------------------------------
cat >"$TMP/suite.txt" <<'EOF'
# a comment, then workloads
sleep     t  time          /bin/sh -c "sleep 0.3"
hog       t  time          @BIN@/large
fails     t  time          /bin/false
absent    t  time          /nonexistent/program
slow      t  time          /bin/sleep 5
rate      t  rate:1000     /bin/sh -c "echo bench: ops=500 secs=2 x=1"
env       t  time          FOO=bar   /bin/sh -c "echo bench: foo=$FOO pre=${LD_PRELOAD:-none} scale=$BENCH_SCALE arg=@SCALE@"
EOF
"$OUT/bin/runner" -s "$TMP/suite.txt" -o "$TMP/raw.tsv" -L "$TMP/log" -r 2 -S 0.05 -T 2 -v "BIN=$OUT/bin" \
  a= b=/dev/null 2>"$TMP/runner.err" || fail "runner: $(cat "$TMP/runner.err")"
[ "$(wc -l <"$TMP/raw.tsv")" -eq $((1 + 7 * 2 * 2)) ] || fail "runner: expected 28 runs: $(cat "$TMP/raw.tsv")"
w=$(field "$TMP/raw.tsv" sleep a 1 wall_s)
awk -v w="$w" 'BEGIN { exit !(w >= 0.3 && w < 2) }' || fail "runner: sleep 0.3 took $w s"
ok "wall time of a 0.3 s sleep: $w s"
rss=$(field "$TMP/raw.tsv" hog a 1 maxrss_kib)
[ "$rss" -ge 5120 ] || fail "runner: a workload that fills 5 MiB blocks has a peak RSS of $rss KiB"
[ "$(field "$TMP/raw.tsv" sleep a 1 maxrss_kib)" -lt "$rss" ] || fail "runner: RSS does not tell a sleep from a hog"
ok "peak RSS of a workload that fills blocks of 5 MiB and more: $rss KiB"
[ "$(field "$TMP/raw.tsv" fails a 1 status)" = "exit 1" ] || fail "runner: /bin/false is not 'exit 1'"
[ "$(field "$TMP/raw.tsv" absent b 2 status)" = "missing" ] || fail "runner: a missing program is not 'missing'"
[ "$(field "$TMP/raw.tsv" slow a 1 status)" = "timeout" ] || fail "runner: sleep 5 with -T 2 is not a timeout"
w=$(field "$TMP/raw.tsv" slow a 1 wall_s)
awk -v w="$w" 'BEGIN { exit !(w >= 2 && w < 4) }' || fail "runner: the timeout took $w s"
ok "statuses: exit 1, missing, timeout (after $w s)"
[ "$(field "$TMP/raw.tsv" rate a 1 time_s)" = "4.000000" ] || fail "runner: rate:1000 at 500 ops in 2 s is not 4 s"
[ "$(field "$TMP/raw.tsv" rate a 1 extra)" = "ops=500;secs=2;x=1" ] || fail "runner: result pairs"
ok "a fixed-duration workload: 500 ops in 2 s is 4 s for 1000 ops"
[ "$(field "$TMP/raw.tsv" env a 1 extra)" = "foo=bar;pre=none;scale=0.05;arg=0.05" ] ||
  fail "runner: environment of the system run: $(field "$TMP/raw.tsv" env a 1 extra)"
[ "$(field "$TMP/raw.tsv" env b 2 extra)" = "foo=bar;pre=/dev/null;scale=0.05;arg=0.05" ] ||
  fail "runner: environment of a preloaded run: $(field "$TMP/raw.tsv" env b 2 extra)"
ok "variables, BENCH_SCALE, @SCALE@; LD_PRELOAD removed for the system malloc, set for the others"
# An allocator with variables of its own (a mode): they reach its runs only,
# over the runner's environment.
FOO=outer "$OUT/bin/runner" -s "$TMP/suite.txt" -o "$TMP/raw2.tsv" -L "$TMP/log2" -r 1 -S 0.05 -w env \
  a= "m=/dev/null,FOO=mode,BAR=1" 2>"$TMP/runner.err" || fail "runner: $(cat "$TMP/runner.err")"
[ "$(field "$TMP/raw2.tsv" env a 1 extra)" = "foo=bar;pre=none;scale=0.05;arg=0.05" ] &&
  [ "$(field "$TMP/raw2.tsv" env m 1 extra)" = "foo=mode;pre=/dev/null;scale=0.05;arg=0.05" ] ||
  fail "runner: an allocator's variables: $(cat "$TMP/raw2.tsv")"
ok "an allocator's own variables (NAME=LIB,VAR=VALUE) reach its runs alone, over the workload's and the runner's"
order=$(awk -F '\t' 'NR > 1 && $1 == "sleep" { printf "%s%s ", $4, $5 }' "$TMP/raw.tsv")
[ "$order" = "a1 b1 b2 a2 " ] || fail "runner: order of runs '$order', want 'a1 b1 b2 a2 '"
ok "runs interleaved, the first allocator rotating with each repetition ($order)"

# -- report.py -----------------------------------------------------------------------
$PY report.py --raw test/fixture.tsv --md "$TMP/r.md" --svg "$TMP/r.svg" || fail "report.py failed"
has() { grep -qF -- "$1" "$TMP/r.md" || fail "report: no line '$1' in $(cat "$TMP/r.md")"; }
has "| w1 | 1.000 s ×1.00 ±30% | 0.500 s ×0.50 ±40% | 2.000 s ×2.00 |"
has "| w2 | 2.000 s ×1.00 | 1.000 s ×0.50 | 4.000 s ×2.00 |"
has "| w3 | 1.000 s ×1.00 | 1.500 s ×1.50 | **exit 1** |"
has "| **geometric mean** (2) | **1.00** | **0.50** | **2.00** |"
has "| w1 | 1.0 MiB ×1.00 | 2.0 MiB ×2.00 | 1.0 MiB ×1.00 |"
ok "report: medians, ratios, spreads, a failed cell, the time geometric mean over the 2 common workloads"
has "| **geometric mean** (2) | **1.00** | **1.41** | **1.41** |"
has "| **geometric mean, g1** (2) | **1.00** | **0.50** | **2.00** |"
has "Left out of the geometric means (some allocator failed there, see the cells): w3."
has "**w2: the results differ between allocators**"
has "- time geometric mean <= 0.90x the best peer's: met (0.50; best peer peer 2.00, ratio 0.250; over 2 workloads)"
has "- no workload slower than 1.10x the system malloc: **missed** (w3 ×1.50)"
has "- no workload slower than 1.25x the best peer on it: met (within 1.25x everywhere)"
has "- peak RSS geometric mean <= 1.05x the system malloc: **missed** (1.41)"
has "- peak RSS geometric mean the best of all allocators (no peer's lower): met (1.41; lowest peer peer 1.41)"
has "- <= 30 instructions per malloc/free pair at 16 B: **not measured** (not counted in this run)"
has "3 of 7 targets met, 2 not measured."
ok "report: RSS geometric mean, per-group means, exclusions, check mismatch, targets"
# The second fixture: two peers and a CHECKS=0 variant faster than all (a
# variant is not a peer), instructions at both sizes, one not measurable.
$PY report.py --raw test/targets.tsv --instr test/targets-instr.tsv --machine test/targets-machine.txt \
  --md "$TMP/r.md" --svg "$TMP/r.svg" || fail "report.py failed on the targets fixture"
has "*3 repetitions: the targets are defined on medians of at least 5, so these lines are a smoke test, not a verdict.*"
has "- time geometric mean <= 0.90x the best peer's: **missed** (0.77; best peer p2 0.77, ratio 1.000; over 2 workloads)"
has "- no workload slower than 1.10x the system malloc: **missed** (b ×1.20)"
has "- no workload slower than 1.25x the best peer on it: **missed** (a ×1.67 of p2's)"
has "- peak RSS geometric mean <= 1.05x the system malloc: met (1.05)"
has "- peak RSS geometric mean the best of all allocators (no peer's lower): **missed** (1.05; lowest peer p1 0.95)"
has "- <= 30 instructions per malloc/free pair at 16 B: met (29.5; fewest of the peers p1 25.0)"
has "- <= 64 instructions per malloc/free pair at 8 KiB: **missed** (70.3; fewest of the peers p1 80.0)"
has "2 of 7 targets met."
has "| gclzone | - | 29.50 (12.50 + 17.00) | 32.50 | 70.30 (40.30 + 30.00) | 73.30 |"
has "| p2 | - | 40.00 (20.00 + 20.00) | 43.00 | - | - |"
has "p2: does not run under callgrind: Failed to initialise."
has "| gclzone-nochecks | 0.32 | 0.50 | - | - |"
has "Built from source: peerlib 1.0."
ok "report: each target met on one fixture and missed on the other, with its figure; variants are not peers"
# Peers that run.sh could not find (machine.txt's left_out): a target against
# the best peer is not measured unless the peers present already miss it.
$PY report.py --raw test/fixture.tsv --machine test/targets-leftout.txt --md "$TMP/r.md" --svg "$TMP/r.svg" ||
  fail "report.py failed with peers left out"
has "*Peers left out of this run (not installed or not built): p8 p9."
has "- time geometric mean <= 0.90x the best peer's: **not measured** (0.50; best peer peer 2.00, ratio 0.250; over 2 workloads; peers left out of this run: p8 p9)"
has "- no workload slower than 1.25x the best peer on it: **not measured** (within 1.25x everywhere; peers left out of this run: p8 p9)"
has "- peak RSS geometric mean the best of all allocators (no peer's lower): **not measured** (1.41; lowest peer peer 1.41; peers left out of this run: p8 p9)"
has "- no workload slower than 1.10x the system malloc: **missed** (w3 ×1.50)"
has "0 of 7 targets met, 5 not measured."
$PY report.py --raw test/targets.tsv --instr test/targets-instr.tsv --machine test/targets-leftout.txt \
  --md "$TMP/r.md" --svg "$TMP/r.svg" || fail "report.py failed on the targets fixture with peers left out"
has "- no workload slower than 1.25x the best peer on it: **missed** (a ×1.67 of p2's; peers left out of this run: p8 p9)"
has "2 of 7 targets met."
ok "report: with peers left out, the targets against the best peer are not measured unless already missed"
# Back to the first fixture for the SVG.
$PY report.py --raw test/fixture.tsv --md "$TMP/r.md" --svg "$TMP/r.svg" || fail "report.py failed"
bars=$($PY -c '
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
ns = "{http://www.w3.org/2000/svg}"
print(sum(1 for r in root.iter(ns + "rect") if r.find(ns + "title") is not None))' "$TMP/r.svg") ||
  fail "report: the SVG does not parse"
# 2 panels x (3 workloads x 2 allocators (the system malloc is the line at 1)
# - 1 failed cell + 2 geometric means)
[ "$bars" -eq 14 ] || fail "report: $bars bars in the SVG, want 14"
grep -q '✗' "$TMP/r.svg" || fail "report: the failed cell is not marked in the SVG"
ok "report: the SVG parses, with one bar per valid cell and per geometric mean ($bars)"

# -- whoami: who serves malloc ---------------------------------------------------------
libc=$(readlink -f "$(ldd "$OUT/bin/whoami" | sed -n 's/.*libc\.so\.6 => \([^ ]*\).*/\1/p')")
got=$(env -u LD_PRELOAD "$OUT/bin/whoami" | sed -n 's/^malloc //p')
[ "$(readlink -f "$got")" = "$libc" ] || fail "whoami: without a preload, malloc is '$got'"
got=$(LD_PRELOAD="$BUILD/libgclzone.so" "$OUT/bin/whoami" | sed -n 's/^malloc //p')
[ "$(readlink -f "$got")" = "$(readlink -f "$BUILD/libgclzone.so")" ] || fail "whoami: preloaded, malloc is '$got'"
ok "whoami: malloc is libc's ($libc), and libgclzone's when it is preloaded"

# -- imagebench: first touches counted in page faults ----------------------------------
B=$OUT/bin/imagebench
"$B" build "$TMP/heap.img" 16 >"$TMP/build.txt" || fail "imagebench build: $(cat "$TMP/build.txt")"
"$B" restore "$TMP/heap.img" >"$TMP/restore.txt" || fail "imagebench restore: $(cat "$TMP/restore.txt")"
"$B" fresh 16 >"$TMP/fresh.txt" || fail "imagebench fresh"
$PY - "$TMP/restore.txt" "$TMP/fresh.txt" <<'EOF' || fail "imagebench: $(cat "$TMP/restore.txt" "$TMP/fresh.txt")"
import sys
v = {}
for f in sys.argv[1:]:
    for line in open(f):
        k, x, _ = line.split()
        v[k] = float(x)
# Each fresh page is written once: exactly one fault each (a counter that
# missed faults, or counted others, would not give 1).
assert 0.99 <= v["fresh_write_faults"] <= 1.01, v
assert v["fresh_write_ns"] > 0, v
for k in ("read", "write_after_read", "write_first"):
    assert v["touch_%s_ns" % k] > 0, v
    assert 0 <= v["touch_%s_faults" % k] <= 1.01, v
# A restored page is mapped, not read in: its first write faults.
assert v["touch_write_first_faults"] >= 0.99, v
assert v["restore_ms"] > 0, v
EOF
ok "imagebench: a fresh page's write is one fault; a restored heap's reads, writes after them and first writes are counted, at most one fault a page"

# -- instr.sh and vgcap.so ------------------------------------------------------------
if command -v valgrind >/dev/null; then
  mkdir -p "$TMP/instr/bin"
  cp "$OUT/bin/pair" "$OUT/bin/vgcap.so" "$TMP/instr/bin/"
  INSTR_N=20000 OUT="$TMP/instr" sh instr.sh system= gclzone="$BUILD/libgclzone.so" \
    alias="$OUT/bin/alias_malloc.so" 2>"$TMP/instr.err" || fail "instr.sh: $(cat "$TMP/instr.err")"
  $PY - "$TMP/instr/instr.tsv" "$(readlink -f "$OUT/bin/alias_malloc.so")" <<'EOF' || fail "instr.sh: $(cat "$TMP/instr/instr.tsv")"
import csv, sys
rows = {(r["allocator"], r["size"]): r for r in csv.DictReader(open(sys.argv[1]), delimiter="\t")}
assert len(rows) == 6, rows.keys()
for (a, size), r in rows.items():
    both, calls, loop = float(r["in_both"]), float(r["with_calls"]), float(r["loop"])
    # Each of malloc and free runs instructions; the loop alone runs some;
    # calls and PLT jumps add a few on top of the functions' own counts.
    assert float(r["in_malloc"]) >= 3 and float(r["in_free"]) >= 3, r
    assert 5 <= loop <= 30, r
    assert 0 <= calls - both <= 8, r
    assert abs(float(r["in_malloc"]) + float(r["in_free"]) - both) < 0.02, r
for size in ("16", "8192"):
    assert rows[("system", size)]["malloc_object"].endswith("libc.so.6"), rows[("system", size)]
    assert rows[("gclzone", size)]["malloc_object"].endswith("libgclzone.so"), rows[("gclzone", size)]
    # The alias library forwards to glibc: its pair costs glibc's and a jump or two more.
    al, sysr = rows[("alias", size)], rows[("system", size)]
    assert al["malloc_object"] == sys.argv[2], al
    assert al["malloc_symbol"].startswith("operator new[]"), al
    assert float(sysr["in_both"]) < float(al["in_both"]) <= float(sysr["in_both"]) + 10, (al, sysr)
EOF
  ok "instr.sh: glibc's malloc at 16 B and 8 KiB counted as libc's, libgclzone's when preloaded, a malloc named operator new[] found by its calls; overheads in range"
  B=$OUT/bin
  [ "$("$B/bigreserve")" = "ok whole" ] || fail "bigreserve: not mapped whole outside valgrind"
  [ "$(LD_PRELOAD="$B/vgcap.so" "$B/bigreserve")" = "ok whole" ] || fail "vgcap: shortened a mapping the kernel gave"
  got=$(valgrind -q --tool=callgrind --callgrind-out-file=/dev/null "$B/bigreserve" 2>&1)
  [ "$got" = refused ] || fail "valgrind no longer refuses a 256 GiB reservation ('$got'): is vgcap.so still needed?"
  got=$(LD_PRELOAD="$B/vgcap.so" valgrind -q --tool=callgrind --callgrind-out-file=/dev/null "$B/bigreserve" 2>&1)
  [ "$got" = "ok shortened" ] || fail "vgcap: under valgrind, '$got'"
  ok "vgcap.so: valgrind refuses a 256 GiB reservation; vgcap shortens it under valgrind, and leaves the kernel's alone"
else
  echo "selftest: valgrind is not installed: instr.sh not tested"
fi

echo "selftest: $pass passed, 0 failed"

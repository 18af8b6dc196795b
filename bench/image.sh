#!/bin/sh
# image.sh: what heap images cost, as ratios in one run (make -C bench image).
#
# A heap of MIB MiB (default 256: a quarter on the host heap, the rest in
# the arena, a tenth of its small blocks freed before the save) is built
# and saved by bench/image/imagebench.c; then, each REPS times, a process
# starts from it, and the first touch of every restored page is counted in
# page faults (getrusage) and timed, against fresh anonymous pages (one
# page fault each). The save is set
# against cp of the image (with its own sync, as the save syncs), and
# minilisp's start from an image against minilisp building the same world
# from source. Writes $OUT/image/image.md and prints it.
set -eu
OUT=${OUT:-../build/bench}
BUILD=${BUILD:-../build}
REPS=${REPS:-5}
MIB=${MIB:-256}
HERE=$(cd "$(dirname "$0")" && pwd)
B=$OUT/bin/imagebench
D=$OUT/image
mkdir -p "$D"
rm -f "$D"/*.img
# The images go on the disk the suite writes to (not /dev/shm): the save's
# figure is the disk's.
val() { sed -n "s/^$1 \([0-9.]*\) .*/\1/p" "$2" | head -n 1; }
median() { sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }

"$B" build "$D/heap.img" "$MIB" >"$D/build.txt"
bytes=$(stat -c %s "$D/heap.img")
save_ms=$(val save_ms "$D/build.txt")
build_ms=$(val build_ms "$D/build.txt")

# cp of the same file, synced as the save syncs it (sync FILE: fsync).
cp_ms=$(for i in $(seq "$REPS"); do
  rm -f "$D/copy.img"
  t0=$(date +%s%N)
  cp "$D/heap.img" "$D/copy.img" && sync "$D/copy.img"
  echo $((($(date +%s%N) - t0) / 1000))
done | median)
cp_ms=$(echo "$cp_ms" | awk '{printf "%.1f", $1 / 1000}')
rm -f "$D/copy.img"

# Start from the image: the restore inside the process, and the first touches.
for i in $(seq "$REPS"); do "$B" restore "$D/heap.img" >"$D/restore.$i.txt"; done
pick() { for i in $(seq "$REPS"); do val "$1" "$D/restore.$i.txt"; done | median; }
restore_ms=$(pick restore_ms)
touch_read=$(pick touch_read_ns)
touch_war=$(pick touch_write_after_read_ns)
touch_wf=$(pick touch_write_first_ns)
fault_read=$(pick touch_read_faults)
fault_war=$(pick touch_write_after_read_faults)
fault_wf=$(pick touch_write_first_faults)
for i in $(seq "$REPS"); do "$B" fresh "$MIB" >"$D/fresh.$i.txt"; done
fresh=$(for i in $(seq "$REPS"); do val fresh_write_ns "$D/fresh.$i.txt"; done | median)
fault_fresh=$(for i in $(seq "$REPS"); do val fresh_write_faults "$D/fresh.$i.txt"; done | median)
# A whole process: started from the image (and nothing else), or from nothing.
"$B" time "$((REPS * 2 + 1))" - "$B" nothing >"$D/nothing.txt"
"$B" time "$((REPS * 2 + 1))" - "$B" start "$D/heap.img" >"$D/start.txt"
# The lowest of the runs: on a shared machine a process's wall time is
# mostly what others did meanwhile; the least disturbed run is its cost.
nothing_ms=$(val lowest_ms "$D/nothing.txt")
start_ms=$(val lowest_ms "$D/start.txt")

# minilisp: its world built from source, against a start from its image.
L=$BUILD/examples/minilisp
[ -x "$L" ] || { echo "image.sh: no $L: make it first (make bench-image does)" >&2; exit 1; }
(cat "$HERE/../examples/minilisp/world.lisp"; echo "(save-image \"$D/minilisp.img\")") >"$D/world-save.lisp"
cat "$HERE/../examples/minilisp/world.lisp" >"$D/world.lisp"
echo '(print (length primes) (digits (last factorials)) power-digit-sum)' >"$D/query.lisp"
"$L" "$D/world-save.lisp" >/dev/null
"$B" time "$((REPS * 2 + 1))" "$D/world.lisp" "$L" >"$D/lisp-build.txt"
"$B" time "$((REPS * 2 + 1))" "$D/query.lisp" "$L" --image "$D/minilisp.img" >"$D/lisp-start.txt"
lisp_build=$(val lowest_ms "$D/lisp-build.txt")
lisp_start=$(val lowest_ms "$D/lisp-start.txt")
lisp_bytes=$(stat -c %s "$D/minilisp.img")

awk -v mib="$MIB" -v bytes="$bytes" -v build="$build_ms" -v save="$save_ms" -v cp="$cp_ms" \
    -v restore="$restore_ms" -v tr="$touch_read" -v twr="$touch_war" -v twf="$touch_wf" -v fresh="$fresh" \
    -v fr="$fault_read" -v fwr="$fault_war" -v fwf="$fault_wf" -v ff="$fault_fresh" \
    -v nothing="$nothing_ms" -v start="$start_ms" -v lb="$lisp_build" -v ls="$lisp_start" -v lbytes="$lisp_bytes" \
    -v reps="$REPS" -v blocks="$(val blocks "$D/build.txt")" -v freed="$(val freed "$D/build.txt")" 'BEGIN {
  printf "# Heap images\n\n"
  printf "A heap of %d MiB (a quarter on the host heap, %d blocks in the arena, %d more freed before the save);\n", mib, blocks, freed
  printf "the image is %.1f MiB. Medians of %d runs (whole processes: the lowest of %d), all in this one run.\n\n", bytes / 1048576, reps, 2 * reps + 1
  printf "| What | Figure | Against | Ratio |\n|---|---|---|---|\n"
  printf "| save (`gclzone_image_save`, synced) | %.1f ms, %.0f MB/s | `cp` of the image, synced: %.1f ms | %.2f |\n", save, bytes / save / 1000, cp, save / cp
  printf "| restore, inside the process (`gclzone_init` with the image) | %.3f ms | building the heap: %.1f ms | %.4f |\n", restore, build, restore / build
  printf "| a process started from the image, whole | %.2f ms | the same process with no image: %.2f ms | %.2f (%+.2f ms) |\n", start, nothing, start / nothing, start - nothing
  printf "| first touch of a restored page, a read: page faults | %.3f a page | a fresh page, written: %.3f | %.2f |\n", fr, ff, fr / ff
  printf "| the write after that read (copy-on-write): page faults | %.3f a page | a fresh page, written: %.3f | %.2f |\n", fwr, ff, fwr / ff
  printf "| first touch of a restored page, a write (copy-on-write): page faults | %.3f a page | a fresh page, written: %.3f | %.2f |\n", fwf, ff, fwf / ff
  printf "| first touch of a restored page, a read: time | %.0f ns | a fresh page fault: %.0f ns | %.2f |\n", tr, fresh, tr / fresh
  printf "| the write after that read (copy-on-write): time | %.0f ns | a fresh page fault: %.0f ns | %.2f |\n", twr, fresh, twr / fresh
  printf "| first touch of a restored page, a write (copy-on-write): time | %.0f ns | a fresh page fault: %.0f ns | %.2f |\n", twf, fresh, twf / fresh
  printf "| minilisp started from its image (%.1f MiB), whole process | %.2f ms | building the world from source: %.1f ms | %.4f |\n", lbytes / 1048576, ls, lb, ls / lb
  printf "\nTargets (issue 11): restore under 2 ms of start-up: %s; first touch no more than a page fault each (counted: at most one fault a page for a read, a write after it and a first write): %s; save at the disk'"'"'s speed (within 25%% of cp): %s.\n", (restore < 2 && start - nothing < 2) ? "met" : "NOT met", (fr <= 1 && fwr <= 1 && fwf <= 1) ? "met" : "NOT met", save <= cp * 1.25 ? "met" : "NOT met"
}' >"$D/image.md"
rm -f "$D/heap.img" "$D/minilisp.img"
cat "$D/image.md"

#!/bin/sh
# modes.sh: what libgclzone's own modes and build variants cost, as ratios
# to the default build in one interleaved run (make -C bench modes):
#   gclzone            the default build
#   gclzone-timeline   the same, recording the memory timeline (GCLZONE_TIMELINE)
#   gclzone-secure     the SECURE=1 build (keyed free-list links)
#   gclzone-hardened   the SECURE=1 build with GCLZONE_HARDEN=1
# Every workload of suite.txt but redis (a server over loopback, whose time
# is mostly the benchmark client's), REPS times at SCALE (default 0.3: the
# hardened mode is several times slower), through the suite's runner: the
# median wall time and the largest peak RSS of each. Writes
# $OUT/modes/raw.tsv and modes.md, and prints modes.md.
set -eu
OUT=${OUT:-../build/bench}
BUILD=${BUILD:-../build}
REPS=${REPS:-5}
SCALE=${SCALE:-0.3}
HERE=$(cd "$(dirname "$0")" && pwd)
D=$OUT/modes
mkdir -p "$D"
for v in "" -secure; do
  [ -r "$BUILD$v/libgclzone.so" ] || { echo "modes.sh: no $BUILD$v/libgclzone.so (make bench builds it)" >&2; exit 1; }
done
only=$(sed -n 's/^\([a-z0-9-]*\) .*/\1/p' "$HERE/suite.txt" | grep -vx redis | paste -sd, -)
rm -rf "$D/log"
"$OUT/bin/runner" -s "$HERE/suite.txt" -o "$D/raw.tsv" -L "$D/log" -r "$REPS" -S "$SCALE" -w "$only" \
  -v "BIN=$OUT/bin" -v "SRC=$HERE" -v "REDIS=" \
  "gclzone=$BUILD/libgclzone.so" \
  "gclzone-timeline=$BUILD/libgclzone.so,GCLZONE_TIMELINE=$D/timeline.tl" \
  "gclzone-secure=$BUILD-secure/libgclzone.so" \
  "gclzone-hardened=$BUILD-secure/libgclzone.so,GCLZONE_HARDEN=1"
[ -s "$D/timeline.tl" ] || { echo "modes.sh: the timeline variant recorded nothing" >&2; exit 1; }
# The hardened runs must really have been hardened: the SECURE=1 build warns
# about nothing, the default build would have ("ignoring GCLZONE_HARDEN").
! grep -l 'ignoring GCLZONE_HARDEN' "$D"/log/*.gclzone-hardened.*.err >/dev/null 2>&1 ||
  { echo "modes.sh: the hardened mode was not on" >&2; exit 1; }
/usr/bin/python3 - "$D/raw.tsv" "$REPS" "$SCALE" >"$D/modes.md" <<'PY'
import math, statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])][1:]
names = ["gclzone", "gclzone-timeline", "gclzone-secure", "gclzone-hardened"]
t, m, bad, order = {}, {}, set(), []
for w, _g, _meas, a, _rep, status, _wall, time_s, rss, _x in rows:
    if w not in order:
        order.append(w)
    if status != "ok":
        bad.add((w, a))
        continue
    t.setdefault((w, a), []).append(float(time_s))
    m[(w, a)] = max(m.get((w, a), 0), int(rss))
print("Ratios to the default build in one interleaved run: median wall time of %s runs at scale %s, "
      "largest peak RSS; lower is better. `-` is a failed run." % (sys.argv[2], sys.argv[3]))
print()
print("| workload | gclzone | " + " | ".join(n[8:] + " time, RSS" for n in names[1:]) + " |")
print("|---|---:|" + "---:|" * (len(names) - 1))
logs = {n: ([], []) for n in names[1:]}
for w in order:
    base = (w, "gclzone")
    if base in bad or base not in t:
        print("| %s | - |" % w + " |" * (len(names) - 1))
        continue
    bt, bm = statistics.median(t[base]), m[base]
    cells = ["%.3f s, %.1f MiB" % (bt, bm / 1024)]
    for n in names[1:]:
        k = (w, n)
        if k in bad or k not in t:
            cells.append("-")
            continue
        rt, rm = statistics.median(t[k]) / bt, m[k] / bm
        logs[n][0].append(math.log(rt))
        logs[n][1].append(math.log(rm))
        cells.append("×%.2f, ×%.2f" % (rt, rm))
    print("| %s | %s |" % (w, " | ".join(cells)))
geo = lambda v: "×%.2f" % math.exp(sum(v) / len(v)) if v else "-"
print("| **geomean** | |" + "".join(" %s, %s |" % (geo(logs[n][0]), geo(logs[n][1])) for n in names[1:]))
PY
cat "$D/modes.md"

# exit_report.sh: reading libgclzone's exit report, for the tests that run
# real programs under the preload (sourced by tests/programs.sh and
# tests/preload.sh). The report is the one JSON line GCLZONE_SHOW_STATS=json
# writes to stderr at exit (README, "Read stats"); the human report of
# GCLZONE_SHOW_STATS=1 is for people.

# The variable a test sets on the program it runs for exit_report to read.
EXIT_REPORT=GCLZONE_SHOW_STATS=json

# exit_report FILE: "BLOCKS LIVE_BYTES SPANS_PEAK_BYTES COMMITTED_PEAK_BYTES"
# of the arena at exit, exact, or nothing when FILE holds no report.
exit_report() {
  python3 -c '
import json, sys
r = [l for l in open(sys.argv[1], errors="replace").read().splitlines() if l.startswith("{\"gclzone\":")]
if r:
    s = json.loads(r[-1])["stats"]
    print(s["in_use_blocks"], s["in_use_bytes"], s["arena_used_peak"], s["committed_peak"])' "$1"
}

# mib BYTES: the size in MiB with one decimal, for messages.
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }

# exit_report.sh: reading libgclzone's exit report, for the tests that run
# real programs under the preload (sourced by tests/programs.sh and
# tests/preload.sh). The report is what GCLZONE_SHOW_STATS=1 writes to
# stderr at exit (README, "Read stats"):
#   gclzone: arena: 5.8 MiB in 92500 blocks, 8.6 MiB in spans (peak 8.6 MiB), 8.6 MiB committed (peak 8.6 MiB), 1 threads
#   gclzone: host heap: 0 B in use (peak 0 B) of 64.0 GiB, at 0x561e2982c000
# All the parsing is in exit_report, so that a change of the report's form
# (a machine-readable line) is one edit here.

# exit_report FILE: "BLOCKS LIVE_BYTES SPANS_PEAK_BYTES COMMITTED_PEAK_BYTES"
# of the arena at exit (sizes rounded as the report rounds them: to 0.1 of
# their unit), or nothing when FILE holds no report.
exit_report() {
  sed -n 's/^gclzone: arena: \([0-9.]*\) \([KMGT]*i*B\) in \([0-9]*\) blocks, [0-9.]* [KMGT]*i*B in spans (peak \([0-9.]*\) \([KMGT]*i*B\)), [0-9.]* [KMGT]*i*B committed (peak \([0-9.]*\) \([KMGT]*i*B\)).*/\3 \1 \2 \4 \5 \6 \7/p' "$1" |
    tail -n 1 | awk '
      function bytes(v, u) {
        return int(v * (u == "KiB" ? 1024 : u == "MiB" ? 1048576 : u == "GiB" ? 1073741824 : u == "TiB" ? 1099511627776 : 1))
      }
      { print $1, bytes($2, $3), bytes($4, $5), bytes($6, $7) }'
}

# mib BYTES: the size in MiB with one decimal, for messages.
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }

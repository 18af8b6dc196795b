# lib.sh: what the test scripts share. Source it first:  . "$(dirname "$0")/lib.sh"
# It sets -eu and
#   ROOT   the source tree (absolute)
#   BUILD  the build directory (from the environment, default build), and
#   LIB    this build's libgclzone.so (absolute), what the tests preload
#   TMP    a scratch directory, removed at exit
#   NAME   the script's name, for messages
# and defines
#   fail MSG...   print "NAME: FAIL: MSG" and exit 1
#   ok MSG...     print "NAME: MSG"
#   gclzone_stat KEY [FILE]   the value of KEY (a dotted path: stats.in_use_blocks,
#                 region.arena.committed, options.CHECK, front) in the last JSON
#                 report (GCLZONE_SHOW_STATS=json) of FILE, or of standard input;
#                 fails the test if there is none.
set -eu
NAME=$(basename "$0")
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
LIB=$(cd "$BUILD" && pwd)/libgclzone.so
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail() {
  echo "$NAME: FAIL: $*"
  exit 1
}
ok() { echo "$NAME: $*"; }
gclzone_stat() {
  python3 -c '
import json, sys
src = open(sys.argv[2]) if len(sys.argv) > 2 else sys.stdin
reports = [l for l in src.read().splitlines() if l.startswith("{\"gclzone\":")]
v = json.loads(reports[-1])
for k in sys.argv[1].split("."):
    v = v[k]
print(v)' "$1" ${2:+"$2"} || fail "no gclzone JSON report with $1"
}

#!/bin/sh
# run.sh: the whole benchmark suite, called by bench/Makefile (`make bench`).
#   1. the allocators: the system malloc, libgclzone (and its CHECKS=0 and
#      SECURE=1 variants when built), each of Debian's peers that is
#      installed and each peer built from source into $BUILD/peers (by the
#      Makefile: `peers`); each must really serve malloc and free under
#      LD_PRELOAD (whoami), or the run stops; redis built on the system
#      malloc (tests/redis_build.sh, cached in $BUILD/redis) when the redis
#      workload is selected;
#   2. the runner: every workload of suite.txt under every allocator,
#      interleaved, REPS times (raw.tsv, log/);
#   3. instructions per malloc/free pair under callgrind (instr.sh);
#   4. the report: results.md and results.svg (report.py).
# Environment: OUT (build/bench), BUILD, REPS, SCALE, ONLY, LIBDIR, PEERS (the built peers),
# ALLOCS (a comma-separated list of allocator names to keep; empty: all).
set -eu
cd "$(dirname "$0")"
SRC=$(pwd)
: "${OUT:?}" "${BUILD:?}" "${REPS:=5}" "${SCALE:=1}" "${ONLY:=}" "${LIBDIR:=/usr/lib/x86_64-linux-gnu}" "${PEERS:=$BUILD/peers}"
PY=/usr/bin/python3
fail() { echo "run.sh: $*" >&2; exit 1; }

# -- 1. allocators -----------------------------------------------------------
allocs="system="
[ -r "$BUILD/libgclzone.so" ] || fail "no $BUILD/libgclzone.so (run make first)"
allocs="$allocs gclzone=$BUILD/libgclzone.so"
# Its build variants, to show what the fast path's misuse checks cost
# (CHECKS=0) and what the keyed free-list links add (SECURE=1).
for v in nochecks secure; do
  [ ! -r "$BUILD-$v/libgclzone.so" ] || allocs="$allocs gclzone-$v=$BUILD-$v/libgclzone.so"
done
# The peers: Debian's (mimalloc 2.0.9, jemalloc 5.3.0, gperftools 2.10's
# tcmalloc_minimal, oneTBB 2021.8's malloc proxy), then the newest ones,
# built from the source snapshots of ../shared/peers (mimalloc 3.4.3,
# snmalloc, rpmalloc).
missing=""
for peer in mimalloc2:$LIBDIR/libmimalloc.so.2 jemalloc:$LIBDIR/libjemalloc.so.2 \
  tcmalloc:$LIBDIR/libtcmalloc_minimal.so.4 tbbmalloc:$LIBDIR/libtbbmalloc_proxy.so.2 \
  mimalloc3:$PEERS/libmimalloc-v3.so snmalloc:$PEERS/libsnmalloc.so rpmalloc:$PEERS/librpmalloc.so; do
  name=${peer%%:*}
  lib=${peer#*:}
  if [ -r "$lib" ]; then allocs="$allocs $name=$lib"; else missing="$missing $name"; fi
done
[ -z "$missing" ] || echo "run.sh: not installed or not built, left out:$missing (./make.sh bench installs and builds them)" >&2

if [ -n "${ALLOCS:-}" ]; then
  keep=""
  for a in $allocs; do
    case ",$ALLOCS," in *",${a%%=*},"*) keep="$keep $a" ;; esac
  done
  allocs=$keep
fi
libc=$(readlink -f "$(ldd "$OUT/bin/whoami" | sed -n 's/.*libc\.so\.6 => \([^ ]*\).*/\1/p')")
for a in $allocs; do
  name=${a%%=*}
  lib=${a#*=}
  want=$libc
  [ -z "$lib" ] || want=$(readlink -f "$lib")
  got=$(env -u LD_PRELOAD ${lib:+LD_PRELOAD=$lib} "$OUT/bin/whoami")
  for sym in malloc free; do
    have=$(echo "$got" | sed -n "s/^$sym //p")
    [ "$(readlink -f "$have")" = "$want" ] || fail "$name: $sym is served by '$have', not $want"
  done
done
echo "run.sh: malloc and free bound as expected for: $(for a in $allocs; do printf '%s ' "${a%%=*}"; done)" >&2

# -- 2. the suite ---------------------------------------------------------------
machine=$OUT/machine.txt
{
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "cpu: $(nproc) x $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1)"
  echo "kernel: $(uname -sr)"
  echo "glibc: $(ldd --version | head -1 | sed 's/.* //')"
  for p in libmimalloc2.0 libjemalloc2 libtcmalloc-minimal4 libtbbmalloc2 python3 ruby sqlite3 valgrind; do
    v=$(dpkg-query -W -f='${Version}' "$p" 2>/dev/null || true)
    [ -z "$v" ] || echo "package: $p $v"
  done
  echo "gclzone: $(git -C "$SRC" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$SRC" diff --quiet HEAD -- ../libgclzone 2>/dev/null || echo ' (+ uncommitted changes)')"
  [ ! -r "$PEERS/VERSIONS" ] || sed 's/^/built: /' "$PEERS/VERSIONS"
  [ -z "$missing" ] || echo "left_out:$missing"
  echo "reps: $REPS"
  echo "scale: $SCALE"
  echo "load_before: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$machine"
# redis on the system malloc, built from Debian's source (the first time
# only: about a minute).
redis=$BUILD/redis/bin
case ",$ONLY," in
,,|*,redis,*) sh ../tests/redis_build.sh "$BUILD" || fail "could not build redis (./make.sh bench sets up its source)" ;;
esac
[ ! -r "$redis/VERSION" ] || echo "redis: $(cat "$redis/VERSION") built with MALLOC=libc" >>"$machine"
rm -rf "$OUT/log"
# shellcheck disable=SC2086 # $allocs is a list of words
"$OUT/bin/runner" -s suite.txt -o "$OUT/raw.tsv" -L "$OUT/log" -r "$REPS" -S "$SCALE" -w "$ONLY" \
  -v "BIN=$OUT/bin" -v "SRC=$SRC" -v "REDIS=$redis" $allocs
echo "load_after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$machine"

# -- 3. instructions per pair ------------------------------------------------------
rm -f "$OUT/instr.tsv"
case ",$ONLY," in
,,|*,pair,*)
  if command -v valgrind >/dev/null; then
    # snmalloc's start-up reservation is larger than valgrind 3.19 accepts:
    # vgcap.c shortens it (and says why no counted instruction changes).
    # shellcheck disable=SC2086
    OUT=$OUT INSTR_VGCAP=snmalloc sh instr.sh $allocs
  else
    echo "run.sh: valgrind is not installed: no instruction counts (./make.sh bench installs it)" >&2
  fi ;;
esac

# -- 4. the report ------------------------------------------------------------------
set -- --raw "$OUT/raw.tsv" --machine "$machine" --md "$OUT/results.md" --svg "$OUT/results.svg"
[ ! -s "$OUT/instr.tsv" ] || set -- "$@" --instr "$OUT/instr.tsv"
$PY report.py "$@"
echo "run.sh: wrote $OUT/results.md and $OUT/results.svg" >&2

#!/bin/sh
# redis_build.sh: redis from Debian's source package, built on glibc's malloc
# (MALLOC=libc), for tests/programs.sh and the benchmark suite. Debian's own
# redis-server is linked with its bundled jemalloc, so a preloaded malloc
# would serve almost none of its allocations; this build calls malloc, free,
# realloc and malloc_usable_size of whatever the dynamic linker binds.
#
#   redis_build.sh BUILD       build BUILD/redis/bin/{redis-server,redis-benchmark,redis-cli}
#                              unless all three are there (a second call costs nothing);
#                              the build log is BUILD/redis/build.log
#   redis_build.sh apt         (root) make `apt-get source redis` work: a deb-src entry
#                              derived from the machine's own apt sources, and dpkg-dev
#   redis_build.sh apt-ready   exit 0 when the apt side is already done
#
# The invariant: a binary under BUILD/redis/bin was built from the source
# package by this script with MALLOC=libc (it is copied there only after the
# build succeeded, and `mem_allocator:libc` is what its INFO reports).
set -eu

# The deb-src entries we add, in files of our own, so that the machine's
# files stay as they were: one for deb822 stanzas (Debian 12's default,
# /etc/apt/sources.list.d/debian.sources), one for classic lines.
SRC822=/etc/apt/sources.list.d/gclzone-deb-src.sources
SRCLIST=/etc/apt/sources.list.d/gclzone-deb-src.list

has_src_index() { [ -n "$(apt-cache showsrc redis 2>/dev/null | head -1)" ]; }
has_dpkg_dev() { dpkg-query -W -f='${Status}' dpkg-dev 2>/dev/null | grep -q "install ok installed"; }

# deb822 stanzas of "Types: deb" (or "deb deb-src") repeated as "Types: deb-src", with
# the same URIs, suites, components and keys; disabled stanzas and comments dropped.
deb822_to_src() {
  awk 'BEGIN { RS = ""; FS = "\n" }
    { types = ""; body = ""; off = 0
      for (i = 1; i <= NF; i++) {
        if ($i ~ /^#/) continue
        if ($i ~ /^Types:/) { types = $i; continue }
        if ($i ~ /^Enabled:[ \t]*[Nn][Oo]/) off = 1
        body = body $i "\n"
      }
      if (!off && types ~ /[ \t]deb([ \t]|$)/) printf "%sTypes: deb-src\n%s", (n++ ? "\n" : ""), body
    }' "$@"
}

apt_side() {
  [ "$(id -u)" -eq 0 ] || { echo "redis_build.sh apt: run as root" >&2; exit 1; }
  if ! has_src_index; then
    if [ -r /etc/apt/sources.list.d/debian.sources ] && [ ! -e "$SRC822" ]; then
      deb822_to_src /etc/apt/sources.list.d/debian.sources >"$SRC822.tmp"
      if [ -s "$SRC822.tmp" ]; then mv "$SRC822.tmp" "$SRC822"; else rm -f "$SRC822.tmp"; fi
    fi
    if [ -r /etc/apt/sources.list ] && [ ! -e "$SRCLIST" ]; then
      sed -n 's/^[ \t]*deb\([ \t]\)/deb-src\1/p' /etc/apt/sources.list >"$SRCLIST.tmp"
      if [ -s "$SRCLIST.tmp" ]; then mv "$SRCLIST.tmp" "$SRCLIST"; else rm -f "$SRCLIST.tmp"; fi
    fi
    [ -e "$SRC822" ] || [ -e "$SRCLIST" ] ||
      { echo "redis_build.sh: no Debian apt source to derive a deb-src entry from" >&2; exit 1; }
    echo "redis_build.sh: added deb-src entries ($(ls "$SRC822" "$SRCLIST" 2>/dev/null | tr '\n' ' ')), updating" >&2
    apt-get update -qq
    has_src_index || { echo "redis_build.sh: apt-cache showsrc redis is still empty" >&2; exit 1; }
  fi
  # dpkg-source unpacks the package (3.0 (quilt): a .orig.tar.gz and a .debian.tar.xz).
  has_dpkg_dev ||
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends dpkg-dev xz-utils >/dev/null
}

build() {
  out=$1/redis
  bin=$out/bin
  if [ -x "$bin/redis-server" ] && [ -x "$bin/redis-benchmark" ] && [ -x "$bin/redis-cli" ]; then
    return 0
  fi
  mkdir -p "$out"
  # One build at a time (make check and make bench may both ask).
  exec 9>"$out/.lock"
  flock 9
  if [ -x "$bin/redis-server" ] && [ -x "$bin/redis-benchmark" ] && [ -x "$bin/redis-cli" ]; then
    return 0
  fi
  has_src_index || { echo "redis_build.sh: no deb-src index for redis (./make.sh check runs 'redis_build.sh apt')" >&2; exit 1; }
  log=$out/build.log
  echo "redis_build.sh: fetching and building redis with MALLOC=libc in $out (about a minute on 2 cores)" >&2
  rm -rf "$out/src" "$bin" "$bin.tmp"
  mkdir -p "$out/src"
  (cd "$out/src" && apt-get source -qq redis) >"$log" 2>&1 ||
    { tail -20 "$log" >&2; echo "redis_build.sh: apt-get source redis failed" >&2; exit 1; }
  dir=$(find "$out/src" -mindepth 1 -maxdepth 1 -type d -name 'redis-*' | head -1)
  [ -n "$dir" ] && [ -d "$dir/src" ] || { echo "redis_build.sh: no source tree in $out/src" >&2; exit 1; }
  # No TLS and no systemd: nothing but libc (and libm) to link, and the
  # bundled lua, hiredis, linenoise and hdr_histogram of the source package.
  make -C "$dir/src" -j"$(nproc)" MALLOC=libc BUILD_TLS=no USE_SYSTEMD=no \
    redis-server redis-benchmark redis-cli >>"$log" 2>&1 ||
    { tail -20 "$log" >&2; echo "redis_build.sh: make failed (log: $log)" >&2; exit 1; }
  mkdir -p "$bin.tmp"
  for p in redis-server redis-benchmark redis-cli; do cp "$dir/src/$p" "$bin.tmp/"; done
  (cd "$dir" && dpkg-parsechangelog -S Version 2>/dev/null || basename "$dir") >"$bin.tmp/VERSION"
  mv "$bin.tmp" "$bin"
  echo "redis_build.sh: built redis $(cat "$bin/VERSION") in $bin" >&2
}

case "${1:-}" in
apt) apt_side ;;
apt-ready) has_src_index && has_dpkg_dev ;;
"" | -*) echo "usage: redis_build.sh BUILD | apt | apt-ready" >&2; exit 2 ;;
*) build "$1" ;;
esac

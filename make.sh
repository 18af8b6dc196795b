#!/bin/sh
# ./make.sh TARGET...: install what the build and tests need (Debian 12, with
# apt-get; sudo when not root), then run make TARGET... in parallel.
set -eu
cd "$(dirname "$0")"
# The tests run real programs (python3, sqlite3, emacs, guile, redis, gcl and
# maxima), valgrind, the fuzzer (clang-16 with its runtime), the Darwin
# cross-build (clang-16, ld64.lld-16, llvm-objdump-16), and the dylibs under
# tests/darwin/machorun: arm64 under qemu-aarch64, with the loader built by
# the aarch64 cross compiler; they lint the man pages (mandoc, groff-base)
# and build against the installed CMake package; the hardened mode's probes
# include C++ (g++).
pkgs="make gcc g++ libc6-dev pkg-config check libgmp-dev python3 sqlite3 valgrind clang-16 libclang-rt-16-dev lld-16 llvm-16
  guile-3.0 redis-server redis-tools gcl maxima mandoc groff-base cmake qemu-user gcc-aarch64-linux-gnu libc6-dev-arm64-cross"
# The benchmark suite (make bench) also wants the peers it compares against
# (Debian's, and the tools to build the newest from ../shared/peers) and ruby
# as a real program.
for t in "$@"; do
  [ "$t" != bench ] || pkgs="$pkgs libmimalloc2.0 libjemalloc2 libtcmalloc-minimal4 libtbbmalloc2 cmake g++ ruby"
done
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
missing=""
for p in $pkgs; do
  installed "$p" || missing="$missing $p"
done
# An Emacs (the tests run one; gcl depends on one): any flavour will do,
# else the one without X.
installed emacs-gtk || installed emacs-lucid || installed emacs-nox || missing="$missing emacs-nox"
if [ -n "$missing" ]; then
  echo "make.sh: installing$missing"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
# redis from Debian's source package, built on the system malloc by
# tests/redis_build.sh for the real-program tests and the bench: a deb-src
# entry and dpkg-dev, as root.
if ! sh tests/redis_build.sh apt-ready; then
  if [ "$(id -u)" -eq 0 ]; then sh tests/redis_build.sh apt; else sudo sh tests/redis_build.sh apt; fi
fi
exec make -j"$(nproc)" "$@"

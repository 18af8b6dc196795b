#!/bin/sh
# ./make.sh TARGET...: install what the build and tests need (Debian 12, with
# apt-get; sudo when not root), then run make TARGET... in parallel.
set -eu
cd "$(dirname "$0")"
pkgs="make gcc libc6-dev pkg-config check libgmp-dev python3 sqlite3 clang-16 lld-16 llvm-16"
missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "make.sh: installing$missing"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
exec make -j"$(nproc)" "$@"

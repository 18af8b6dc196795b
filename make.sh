#!/bin/sh
# ./make.sh TARGET...: install what the build and tests need (Debian 12, with
# apt-get; sudo when not root), then run make TARGET... in parallel.
set -eu
cd "$(dirname "$0")"
# gcl and maxima (built on GCL) run on the host heap in tests/gcl.sh.
pkgs="make gcc libc6-dev pkg-config check libgmp-dev python3 sqlite3 gcl maxima"
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
missing=""
for p in $pkgs; do
  installed "$p" || missing="$missing $p"
done
# gcl depends on an Emacs; unless one is there, take the one without X.
case " $missing " in
  *" gcl "*) installed emacs-gtk || installed emacs-lucid || installed emacs-nox || missing="$missing emacs-nox" ;;
esac
if [ -n "$missing" ]; then
  echo "make.sh: installing$missing"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
exec make -j"$(nproc)" "$@"

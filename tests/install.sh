#!/bin/sh
# install.sh: make install into a temporary prefix, then use it as a runtime
# author would: pkg-config finds gclzone, examples/link and examples/minilisp
# build against the installed header and library and run, and the installed
# gclzone-run (also through a symlink) preloads the installed library.
set -eu
BUILD=${BUILD:-build}
MAKE=${MAKE:-make}
CC=${CC:-cc}
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() {
  echo "install.sh: FAIL: $*"
  exit 1
}
prefix=$tmp/prefix
$MAKE -s -C "$root" install BUILD="$BUILD" PREFIX="$prefix" >"$tmp/log" 2>&1 || fail "make install: $(cat "$tmp/log")"
version=$(sed -n 's/^#define GCLZONE_VERSION "\(.*\)"/\1/p' "$root/include/gclzone.h")
soname=libgclzone.so.${version%%.*}
for f in lib/libgclzone.so.$version lib/libgclzone.a lib/libgclzone_core.a include/gclzone.h lib/pkgconfig/gclzone.pc bin/gclzone-run; do
  [ -f "$prefix/$f" ] && [ ! -L "$prefix/$f" ] || fail "$f was not installed"
done
[ -x "$prefix/bin/gclzone-run" ] || fail "gclzone-run is not executable"
# The library as Debian ships one: the file, the SONAME link, the dev link.
for l in "$soname" libgclzone.so; do
  [ "$(readlink "$prefix/lib/$l")" = "libgclzone.so.$version" ] || fail "lib/$l is not a link to libgclzone.so.$version"
done
readelf -d "$prefix/lib/libgclzone.so.$version" | grep -q "(SONAME) *Library soname: \[$soname\]" ||
  fail "the installed library's SONAME is not $soname"

export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
[ "$(pkg-config --modversion gclzone)" = "$version" ] || fail "pkg-config: version $(pkg-config --modversion gclzone)"
cflags=$(pkg-config --cflags gclzone | sed 's/ *$//') libs=$(pkg-config --libs gclzone | sed 's/ *$//')
[ "$cflags" = "-I$prefix/include" ] && [ "$libs" = "-L$prefix/lib -lgclzone" ] || fail "pkg-config: $cflags / $libs"

# Nothing of the source tree on the include path: the installed header only.
$CC -std=gnu11 -Wall -Wextra -Werror $cflags -o "$tmp/link" "$root/examples/link/link.c" $libs \
  -Wl,-rpath,"$prefix/lib" || fail "examples/link does not build against the installed library"
out=$("$tmp/link") || fail "link: $out"
printf '%s\n' "$out" | grep -q '^link: gclzone_sbrk gave the base: yes$' || fail "link: $out"
ldd "$tmp/link" | grep -q "^	$soname => $prefix/lib/$soname " || fail "link does not use the installed $soname: $(ldd "$tmp/link")"

$CC -std=gnu11 -O2 -Wall -Wextra -Werror $cflags -o "$tmp/minilisp" "$root/examples/minilisp/minilisp.c" \
  -Wl,--no-as-needed $libs -Wl,--as-needed -lgmp -Wl,-rpath,"$prefix/lib" || fail "minilisp does not build against the installed library"
out=$("$tmp/minilisp" "$root/examples/minilisp/demo.lisp") || fail "minilisp: $out"
printf '%s\n' "$out" | grep -q '^minilisp: the GC heap and the GMP limbs never overlapped$' || fail "minilisp: $out"

# gclzone-run finds the installed library, also when called through a symlink.
mkdir "$tmp/elsewhere"
ln -s "$prefix/bin/gclzone-run" "$tmp/elsewhere/gclzone-run"
for r in "$prefix/bin/gclzone-run" "$tmp/elsewhere/gclzone-run"; do
  [ "$("$r" sh -c 'echo "$LD_PRELOAD"')" = "$prefix/lib/libgclzone.so" ] || fail "$r preloads $("$r" sh -c 'echo "$LD_PRELOAD"')"
done
out=$("$prefix/bin/gclzone-run" --stats "$root/$BUILD/examples/hello" 2>&1)
printf '%s\n' "$out" | grep -q '^gclzone: arena: .* in [0-9]* blocks' || fail "installed gclzone-run --stats: $out"
echo "install.sh: installed $version; pkg-config builds examples/link and examples/minilisp against it; gclzone-run preloads it"

#!/bin/sh
# install.sh: make install into a temporary prefix, then use it as a runtime
# author would: exactly the expected files are there (the library with its
# SONAME and dev links, the man pages with a link per function, the CMake
# package); pkg-config finds gclzone, and examples/link and examples/minilisp
# build against the installed header and library and run; CMake's
# find_package builds examples/link against gclzone::gclzone and a program
# against gclzone::core, and accepts exactly the versions of the same major;
# the installed gclzone-run (also through a symlink) preloads the installed
# library and draws a timeline. Then a DESTDIR install (with a multiarch
# LIBDIR, which CMake finds relocated in the staging tree), and make
# uninstall, which must leave nothing of ours and everything else behind.
. "$(dirname "$0")/lib.sh"
MAKE=${MAKE:-make}
CC=${CC:-cc}
root=$ROOT
tmp=$TMP
# Every file and link under $1, one relative path a line, sorted.
files() { (cd "$1" && find . \( -type f -o -type l \) | sed 's|^\./||' | LC_ALL=C sort); }
# What make install must put under a prefix: the fixed files and, from the
# header itself (tests/sources.py), one man link per function.
expected() { # LIBDIR, relative to the prefix
  version=$1 libdir=$2
  {
    printf '%s\n' "$libdir/libgclzone.so.$version" "$libdir/libgclzone.so.${version%%.*}" "$libdir/libgclzone.so" \
      "$libdir/libgclzone.a" "$libdir/libgclzone_core.a" "$libdir/pkgconfig/gclzone.pc" \
      "$libdir/cmake/gclzone/gclzone-config.cmake" "$libdir/cmake/gclzone/gclzone-config-version.cmake" \
      include/gclzone.h bin/gclzone-run bin/gclzone-timeline share/man/man1/gclzone-run.1 \
      share/man/man1/gclzone-timeline.1 share/man/man3/gclzone.3 share/man/man7/gclzone.7
    (cd "$root/tests" && python3 -c 'import sources; print("\n".join(sources.header_functions()))') |
      sed 's|.*|share/man/man3/&.3|'
  } | LC_ALL=C sort
}

prefix=$tmp/prefix
$MAKE -s -C "$root" install BUILD="$BUILD" PREFIX="$prefix" >"$tmp/log" 2>&1 || fail "make install: $(cat "$tmp/log")"
version=$(sed -n 's/^#define GCLZONE_VERSION "\(.*\)"/\1/p' "$root/include/gclzone.h")
soname=libgclzone.so.${version%%.*}
expected "$version" lib >"$tmp/want"
files "$prefix" >"$tmp/got"
diff "$tmp/want" "$tmp/got" >"$tmp/diff" || fail "make install put (<: missing, >: unexpected): $(cat "$tmp/diff")"
[ -x "$prefix/bin/gclzone-run" ] && [ -x "$prefix/bin/gclzone-timeline" ] || fail "the scripts are not executable"
# The library as Debian ships one: the file, the SONAME link, the dev link.
[ ! -L "$prefix/lib/libgclzone.so.$version" ] || fail "lib/libgclzone.so.$version is a link, not the library"
for l in "$soname" libgclzone.so; do
  [ "$(readlink "$prefix/lib/$l")" = "libgclzone.so.$version" ] || fail "lib/$l is not a link to libgclzone.so.$version"
done
readelf -d "$prefix/lib/libgclzone.so.$version" | grep -q "(SONAME) *Library soname: \[$soname\]" ||
  fail "the installed library's SONAME is not $soname"
# man gclzone_sbrk is gclzone(3).
for f in "$prefix"/share/man/man3/gclzone_*.3; do
  [ "$(readlink "$f")" = gclzone.3 ] || fail "${f#"$prefix/"} is not a link to gclzone.3"
done
mandoc -Tascii "$prefix/share/man/man3/gclzone_sbrk.3" 2>/dev/null | sed "s/.\x08//g" | grep -q "gclzone_sbrk(intptr_t increment)" ||
  fail "man3/gclzone_sbrk.3 does not show gclzone(3)"

# ---- pkg-config -------------------------------------------------------------------------
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
ok "installed $version: the library as $soname, the man pages, the CMake package; pkg-config builds examples/link and examples/minilisp against it"

# ---- CMake ----------------------------------------------------------------------------------
# cmake_build NAME SOURCE PREFIX [ARGS]: configure and build SOURCE in $tmp/NAME
# against the package under PREFIX, the log in $tmp/NAME.log.
cmake_build() {
  name=$1 src=$2 at=$3
  shift 3
  { cmake -S "$src" -B "$tmp/$name" -DCMAKE_PREFIX_PATH="$at" -DCMAKE_C_COMPILER="$CC" "$@" &&
    cmake --build "$tmp/$name"; } >"$tmp/$name.log" 2>&1 || fail "cmake $name: $(tail -30 "$tmp/$name.log")"
}
cmake_build cmake-link "$root/examples/link" "$prefix"
grep -q "^gclzone_DIR:PATH=$prefix/lib/cmake/gclzone$" "$tmp/cmake-link/CMakeCache.txt" ||
  fail "CMake found another gclzone: $(grep gclzone_DIR "$tmp/cmake-link/CMakeCache.txt")"
out=$("$tmp/cmake-link/link") || fail "link (CMake): $out"
printf '%s\n' "$out" | grep -q '^link: gclzone_sbrk gave the base: yes$' || fail "link (CMake): $out"
printf '%s\n' "$out" | grep -q "^link: a malloc'd block is in the arena: yes$" || fail "link (CMake): malloc is not ours: $out"
ldd "$tmp/cmake-link/link" | grep -q "^	$soname => $prefix/lib/$soname " ||
  fail "link (CMake) does not use the installed $soname: $(ldd "$tmp/cmake-link/link")"

cmake_build cmake-core "$root/tests/cmake/core" "$prefix"
out=$("$tmp/cmake-core/core_user") || fail "core_user: $out"
[ "$out" = "core: gclzone_malloc is in the arena: yes
core: malloc is outside the region: yes
core: gclzone_sbrk is the host heap's base: yes" ] || fail "core_user (gclzone::core): $out"
! ldd "$tmp/cmake-core/core_user" | grep -q libgclzone || fail "core_user links the shared library: $(ldd "$tmp/cmake-core/core_user")"
nm "$tmp/cmake-core/core_user" | grep -q ' T gclzone_malloc$' || fail "core_user has no gclzone_malloc of its own"
! nm "$tmp/cmake-core/core_user" | grep -q ' T malloc$' || fail "core_user defines malloc: gclzone::core has a front end"

# SameMajorVersion: this major, not newer; a range needs this major at its
# low end and this version inside. Asked of the installed package, then of a
# copy that claims 2.3.4, where a lower major exists to be refused.
probe() { # NAME PREFIX REQUEST...: "REQUEST: 1|0" lines in $tmp/NAME.found
  name=$1 at=$2
  shift 2
  requests=$(printf '%s;' "$@")
  cmake_build "$name" "$root/tests/cmake/version" "$at" "-DREQUESTS=${requests%;}"
  sed -n 's/^-- version \(.*\): \([01]\) .*/\1: \2/p' "$tmp/$name.log" >"$tmp/$name.found"
}
major=${version%%.*} minor=${version#*.}
minor=${minor%%.*}
probe cmake-version "$prefix" "$major" "$major.$minor" "$version" "$version EXACT" "$major.$((minor + 1))" "$((major + 1))"
[ "$(cat "$tmp/cmake-version.found")" = "$major: 1
$major.$minor: 1
$version: 1
$version EXACT: 1
$major.$((minor + 1)): 0
$((major + 1)): 0" ] || fail "find_package(gclzone VERSION) of $version: $(cat "$tmp/cmake-version.found")"
cp -a "$prefix" "$tmp/prefix-2.3.4"
sed -i "s/^set(PACKAGE_VERSION \"$version\")$/set(PACKAGE_VERSION \"2.3.4\")/" "$tmp/prefix-2.3.4/lib/cmake/gclzone/gclzone-config-version.cmake"
probe cmake-version-2 "$tmp/prefix-2.3.4" 1 1.9 2 2.0 2.3 2.3.4 "2.3.4 EXACT" "2.3 EXACT" 2.3.5 2.4 3 1...3 2...3 "2...<2.3.4" 2.3.4...2.3.4 3...4
[ "$(cat "$tmp/cmake-version-2.found")" = "1: 0
1.9: 0
2: 1
2.0: 1
2.3: 1
2.3.4: 1
2.3.4 EXACT: 1
2.3 EXACT: 0
2.3.5: 0
2.4: 0
3: 0
1...3: 0
2...3: 1
2...<2.3.4: 0
2.3.4...2.3.4: 1
3...4: 0" ] || fail "find_package(gclzone VERSION) of 2.3.4: $(cat "$tmp/cmake-version-2.found")"
ok "CMake: find_package builds examples/link on gclzone::gclzone and a program on gclzone::core, and accepts the versions of its major up to its own"

# ---- gclzone-run ----------------------------------------------------------------------------
# It finds the installed library, also when called through a symlink.
mkdir "$tmp/elsewhere"
ln -s "$prefix/bin/gclzone-run" "$tmp/elsewhere/gclzone-run"
for r in "$prefix/bin/gclzone-run" "$tmp/elsewhere/gclzone-run"; do
  [ "$("$r" sh -c 'echo "$LD_PRELOAD"')" = "$prefix/lib/libgclzone.so" ] || fail "$r preloads $("$r" sh -c 'echo "$LD_PRELOAD"')"
done
out=$("$prefix/bin/gclzone-run" --stats "$root/$BUILD/examples/hello" 2>&1)
printf '%s\n' "$out" | grep -q '^gclzone: arena: .* in [0-9]* blocks' || fail "installed gclzone-run --stats: $out"
# --timeline finds the installed gclzone-timeline beside it. The command
# writes a recording itself (the preloaded library may add its own: any
# timeline will do here; tests/timeline.py checks the chart's contents).
printf '# gclzone timeline 1\n0\t0\t0\t0\t0\t1048576\tstart\n7\t4096\t8192\t65536\t0\t2097152\texit\n' >"$tmp/recording"
set +e
PATH=/usr/bin:/bin "$tmp/elsewhere/gclzone-run" --timeline="$tmp/run.svg" sh -c 'cat "$1" >"$GCLZONE_TIMELINE"; exit 4' sh "$tmp/recording" 2>"$tmp/run.err"
status=$?
set -e
[ $status -eq 4 ] || fail "installed gclzone-run --timeline: status $status, not the command's 4: $(cat "$tmp/run.err")"
python3 -c 'import sys, xml.etree.ElementTree as E; r = E.parse(sys.argv[1]).getroot(); sys.exit(len(r.findall(".//{http://www.w3.org/2000/svg}polyline")) != 5)' "$tmp/run.svg" ||
  fail "installed gclzone-run --timeline: no chart of 5 series: $(cat "$tmp/run.err")"
ok "the installed gclzone-run preloads it (also through a symlink) and draws a timeline with the installed gclzone-timeline"

# ---- DESTDIR and uninstall ----------------------------------------------------------------
# Staged for /usr/local with a multiarch LIBDIR, beside files of another
# package that uninstall must not touch.
stage=$tmp/stage
arch=$(gcc -print-multiarch 2>/dev/null || true)
[ -n "$arch" ] || arch=x86_64-linux-gnu
libdir=/usr/local/lib/$arch
mkdir -p "$stage$libdir/pkgconfig" "$stage/usr/local/share/man/man3" "$stage/usr/local/bin"
echo other >"$stage$libdir/libother.so.1"
echo other >"$stage$libdir/pkgconfig/other.pc"
echo other >"$stage/usr/local/share/man/man3/other.3"
echo other >"$stage/usr/local/bin/other"
files "$stage" >"$tmp/foreign"
vars="BUILD=$BUILD DESTDIR=$stage PREFIX=/usr/local LIBDIR=$libdir"
$MAKE -s -C "$root" install $vars >"$tmp/log" 2>&1 || fail "make install DESTDIR=...: $(cat "$tmp/log")"
expected "$version" "lib/$arch" | sed 's|^|usr/local/|' | cat - "$tmp/foreign" | LC_ALL=C sort >"$tmp/want"
files "$stage" >"$tmp/got"
diff "$tmp/want" "$tmp/got" >"$tmp/diff" || fail "make install DESTDIR=... put (<: missing, >: unexpected): $(cat "$tmp/diff")"
! grep -rl "$stage" "$stage" >"$tmp/leaks" || fail "DESTDIR is written into: $(cat "$tmp/leaks")"
grep -q "^libdir=$libdir$" "$stage$libdir/pkgconfig/gclzone.pc" || fail "gclzone.pc: $(cat "$stage$libdir/pkgconfig/gclzone.pc")"
grep -q "^installed_libdir=$libdir$" "$stage/usr/local/bin/gclzone-run" || fail "the staged gclzone-run does not look in $libdir"
# The CMake package is relocatable: found in the staging tree, it points there.
cmake_build cmake-staged "$root/tests/cmake/core" "$stage/usr/local"
grep -q "^gclzone_DIR:PATH=$stage$libdir/cmake/gclzone$" "$tmp/cmake-staged/CMakeCache.txt" ||
  fail "CMake did not find the staged package: $(grep gclzone_DIR "$tmp/cmake-staged/CMakeCache.txt")"
grep -q "$stage$libdir/libgclzone_core.a" "$tmp/cmake-staged.log" "$tmp/cmake-staged/CMakeFiles/core_user.dir/link.txt" ||
  fail "the staged program did not link the staged libgclzone_core.a"
"$tmp/cmake-staged/core_user" >/dev/null || fail "core_user, built against the staged package, fails"

$MAKE -s -C "$root" uninstall $vars >"$tmp/log" 2>&1 || fail "make uninstall DESTDIR=...: $(cat "$tmp/log")"
files "$stage" >"$tmp/got"
diff "$tmp/foreign" "$tmp/got" >"$tmp/diff" || fail "after make uninstall (<: removed, >: left behind): $(cat "$tmp/diff")"
[ ! -e "$stage$libdir/cmake/gclzone" ] || fail "make uninstall left $libdir/cmake/gclzone"
$MAKE -s -C "$root" uninstall BUILD="$BUILD" PREFIX="$prefix" >"$tmp/log" 2>&1 || fail "make uninstall: $(cat "$tmp/log")"
left=$(files "$prefix")
[ -z "$left" ] || fail "make uninstall left: $left"
ok "DESTDIR=... LIBDIR=$libdir installs under the stage only, with no trace of it in the files, and CMake builds against the staged tree; make uninstall removes exactly what install put there"

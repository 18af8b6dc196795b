#!/usr/bin/env python3
"""abi.py [BUILD]: the shared library's ABI surface, checked against the sources.

- The symbols build/libgclzone.so exports (nm -D --defined-only) are exactly
  the functions include/gclzone.h declares plus what the ELF front end
  (libgclzone/override_elf.c) defines with GCL_EXPORT, both ways; the front
  end still defines the glibc names a preload must replace; the core exports
  nothing the header does not declare (the version script would hide it).
- The exports are unversioned (a versioned malloc would not interpose
  glibc's: mk/gclzone-map.sh), and the SONAME follows GCLZONE_VERSION.
The expected lists come from tests/sources.py, which parses the sources
itself, independently of mk/gclzone-map.sh, which generates the map.
"""
import os
import re
import subprocess
import sys

import sources

# What a malloc replacement on glibc must define, whatever else it adds.
GLIBC_NAMES = {"malloc", "free", "calloc", "realloc", "reallocarray", "posix_memalign", "aligned_alloc",
               "memalign", "valloc", "pvalloc", "malloc_usable_size", "malloc_trim", "sbrk", "brk"}

failures = []


def check(ok, what):
    if not ok:
        failures.append(what)


def names(items):
    return ", ".join(sorted(items)) or "none"


def main():
    build = os.path.join(sources.ROOT, sys.argv[1] if len(sys.argv) > 1 else "build")
    header = sources.read("include/gclzone.h")
    version = re.search(r'#define GCLZONE_VERSION "([^"]+)"', header).group(1)
    parts = [re.search(rf"#define GCLZONE_VERSION_{p} (\d+)", header).group(1) for p in ("MAJOR", "MINOR", "PATCH")]
    check(".".join(parts) == version, f"GCLZONE_VERSION {version} is not MAJOR.MINOR.PATCH {'.'.join(parts)}")
    soname = f"libgclzone.so.{parts[0]}"

    # The build tree keeps the file under the name everything preloads, with
    # the SONAME a link to it; make install renames (tests/install.sh).
    so = os.path.join(build, "libgclzone.so")
    check(os.path.isfile(so) and not os.path.islink(so), f"{so} is not the library file")
    link = os.path.join(build, soname)
    check(os.path.islink(link) and os.readlink(link) == "libgclzone.so", f"{link} is not a link to libgclzone.so")
    dyn = subprocess.run(["readelf", "-d", so], capture_output=True, text=True, check=True).stdout
    got_soname = re.findall(r"\(SONAME\)\s+Library soname: \[([^]]+)\]", dyn)
    check(got_soname == [soname], f"SONAME is {got_soname}, not {soname}")

    nm = subprocess.run(["nm", "-D", "--defined-only", so], capture_output=True, text=True, check=True).stdout
    exported = set()
    for line in nm.splitlines():
        fields = line.split()
        if len(fields) >= 3:
            exported.add(fields[2])
    versioned = {s for s in exported if "@" in s}
    check(not versioned, f"versioned exports: {names(versioned)}")
    exported = {s.split("@")[0] for s in exported}

    api = set(sources.header_functions())
    front = set(sources.front_end_exports())
    core = set(sources.core_exports())
    check(GLIBC_NAMES <= front, f"override_elf.c no longer defines with GCL_EXPORT: {names(GLIBC_NAMES - front)}")
    check(core <= api, f"the core exports what include/gclzone.h does not declare: {names(core - api)}")
    check(api <= core, f"include/gclzone.h declares what the core does not define with GCL_EXPORT: {names(api - core)}")
    expected = api | front | GLIBC_NAMES
    check(expected <= exported, f"not exported by {so}: {names(expected - exported)}")
    check(exported <= expected, f"exported by {so} but in neither the header nor the front end: {names(exported - expected)}")

    if failures:
        for f in failures:
            print(f"abi.py: FAIL: {f}")
        sys.exit(1)
    print(f"abi.py: {so}, SONAME {soname}, exports exactly {len(exported)} symbols, unversioned: "
          f"the {len(api)} functions of gclzone.h and the front end's {len(front)}")


main()

#!/usr/bin/env python3
"""inspect.py BUILD: check the cross-built macOS dylibs with llvm-objdump-16 --macho and llvm-nm-16.

Nothing here runs on macOS; it checks what dyld would read. For each of
BUILD/darwin/{arm64,x86_64}/libgclzone.dylib:
  - a 64-bit Mach-O dylib of that architecture, two-level namespace,
    install name @rpath/libgclzone.dylib, macOS 11.0 minimum, loading only
    /usr/lib/libSystem.B.dylib, every bind against it (none flat);
  - arm64 carries a code signature (Apple silicon runs nothing unsigned);
  - the zone's constructor is a pointer in __mod_init_func;
  - __DATA,__interpose is an S_INTERPOSING section of two tuples
    {replacement, replacee}: rebased pointers to our sbrk/brk replacements and
    binds to libSystem's _sbrk/_brk;
  - no thread-local variables (dyld would malloc their storage);
  - the zone and its introspection table each start a 16 KiB page, apart;
  - undefined symbols: all in libSystem.tbd, and every tbd symbol used;
  - exported symbols: exactly the functions of include/gclzone.h.
And the universal dylib holds both architectures.
"""
import os
import re
import struct
import subprocess
import sys

OBJDUMP = "llvm-objdump-16"
NM = "llvm-nm-16"
LIPO = "llvm-lipo-16"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ZONE_PAGE = 16384
failures = []


def run(*args):
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


def check(ok, what):
    if not ok:
        failures.append(what)
    return ok


def load_commands(path):
    """The load commands of `llvm-objdump --macho --private-headers`, as dicts."""
    cmds, cur = [], None
    for line in run(OBJDUMP, "--macho", "--private-headers", path).splitlines():
        if line.startswith("Load command"):
            cur = {"sections": []}
            cmds.append(cur)
            continue
        if cur is None:
            continue
        words = line.split(None, 1)
        if len(words) != 2:
            continue
        key, value = words
        if key == "sectname":
            cur["sections"].append({"sectname": value})
        elif cur["sections"] and key in ("segname", "addr", "size", "offset", "type"):
            cur["sections"][-1][key] = value
        else:
            cur.setdefault(key, value)
    return cmds


def sections(cmds):
    return {(s["segname"], s["sectname"]): s for c in cmds for s in c["sections"]}


def symbols(path, *flags):
    out = {}
    for line in run(NM, *flags, path).splitlines():
        parts = line.split()
        if len(parts) == 3:
            out.setdefault(parts[2], int(parts[0], 16))
        elif len(parts) in (1, 2):  # undefined: "[U] name"
            out.setdefault(parts[-1], None)
    return out


def table(path, kind):
    """Rows of --bind or --rebase: (segment, section, address, ..., symbol)."""
    rows = []
    for line in run(OBJDUMP, "--macho", kind, path).splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[2].startswith("0x"):
            rows.append(parts)
    return rows


def pointers(path, sect):
    with open(path, "rb") as f:
        f.seek(int(sect["offset"]))
        data = f.read(int(sect["size"], 16))
    return list(struct.unpack("<%dQ" % (len(data) // 8), data))


def tbd_symbols():
    names, inside = set(), False
    with open(os.path.join(ROOT, "libgclzone/darwin/libSystem.tbd")) as f:
        for line in f:
            if line.strip().startswith("symbols:"):
                inside = True
            elif inside and line.strip().startswith("- "):
                names.add(line.strip()[2:].strip())
            elif inside and line.strip() and not line.strip().startswith("#"):
                inside = False
    return names


def public_api():
    with open(os.path.join(ROOT, "include/gclzone.h")) as f:
        return {"_" + m for m in re.findall(r"\b(gclzone_\w+)\s*\(", f.read()) if not m.endswith("_t")}


def inspect(path, arch):
    cputype = {"arm64": "ARM64", "x86_64": "X86_64"}[arch]
    header = run(OBJDUMP, "--macho", "--private-header", path).split("\n")[-2].split()
    check(header[0] == "MH_MAGIC_64" and header[1] == cputype, f"{arch}: not a 64-bit {cputype} Mach-O: {header}")
    check(header[4] == "DYLIB", f"{arch}: file type {header[4]}, not DYLIB")
    check("TWOLEVEL" in header, f"{arch}: not two-level namespace")
    check(run(OBJDUMP, "--macho", "--dylib-id", path).split()[-1] == "@rpath/libgclzone.dylib",
          f"{arch}: wrong install name")

    cmds = load_commands(path)
    kinds = [c.get("cmd") for c in cmds]
    loads = [c["name"].split(" (offset")[0] for c in cmds if c.get("cmd") == "LC_LOAD_DYLIB"]
    check(loads == ["/usr/lib/libSystem.B.dylib"], f"{arch}: loads {loads}")
    build = [c for c in cmds if c.get("cmd") == "LC_BUILD_VERSION"]
    check(len(build) == 1 and build[0].get("platform") == "macos" and build[0].get("minos") == "11.0",
          f"{arch}: build version {build}")
    check("LC_DYLD_CHAINED_FIXUPS" not in kinds, f"{arch}: chained fixups (pointers would not be readable here)")
    if arch == "arm64":
        check("LC_CODE_SIGNATURE" in kinds, "arm64: no code signature")

    sects = sections(cmds)
    local = symbols(path, "-n")
    undefined = set(symbols(path, "-u"))
    for seg, name in sects:
        check(name not in ("__thread_vars", "__thread_data", "__thread_bss"), f"{arch}: thread-local section {name}")

    # The constructor.
    init = [s for (seg, name), s in sects.items() if name == "__mod_init_func"]
    ctor = local.get("_zone_darwin_init")
    if check(len(init) == 1 and ctor is not None, f"{arch}: no __mod_init_func or no _zone_darwin_init"):
        check(init[0]["type"] == "S_MOD_INIT_FUNC_POINTERS", f"{arch}: __mod_init_func type {init[0]['type']}")
        check(ctor in pointers(path, init[0]), f"{arch}: _zone_darwin_init is not in __mod_init_func")

    # The interposing tuples.
    inter = sects.get(("__DATA", "__interpose"))
    if check(inter is not None, f"{arch}: no __DATA,__interpose"):
        check(inter["type"] == "S_INTERPOSING", f"{arch}: __interpose type {inter['type']}")
        base = int(inter["addr"], 16)
        words = pointers(path, inter)
        check(len(words) == 4, f"{arch}: {len(words)} words in __interpose, want two tuples")
        binds = {int(r[2], 16): (r[-2], r[-1]) for r in table(path, "--bind") if r[1] == "__interpose"}
        rebases = {int(r[2], 16) for r in table(path, "--rebase") if r[1] == "__interpose"}
        for i, (mine, theirs) in enumerate((("_gcl_zone_sbrk", "_sbrk"), ("_gcl_zone_brk", "_brk"))):
            slot = base + 16 * i
            check(slot in rebases and len(words) == 4 and words[2 * i] == local.get(mine),
                  f"{arch}: tuple {i} does not point at {mine}")
            check(binds.get(slot + 8) == ("libSystem", theirs), f"{arch}: tuple {i} does not bind {theirs}")

    for row in table(path, "--bind") + table(path, "--lazy-bind"):
        check("flat-namespace" not in row, f"{arch}: flat-namespace bind {row}")

    # The zone and its table, each alone on its page.
    zone, intro = local.get("_zone_page"), local.get("_introspect_page")
    if check(zone is not None and intro is not None, f"{arch}: no _zone_page or _introspect_page symbol"):
        check(zone % ZONE_PAGE == 0 and intro % ZONE_PAGE == 0 and zone // ZONE_PAGE != intro // ZONE_PAGE,
              f"{arch}: zone at {zone:#x}, table at {intro:#x}: not on pages of their own")

    exported = set(symbols(path, "-gU"))
    api = public_api()
    check(exported == api, f"{arch}: exports differ from gclzone.h: extra {sorted(exported - api)}, "
                           f"missing {sorted(api - exported)}")
    return undefined


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    tbd = tbd_symbols()
    used = set()
    for arch in ("arm64", "x86_64"):
        path = os.path.join(build, "darwin", arch, "libgclzone.dylib")
        undefined = inspect(path, arch)
        check(undefined <= tbd, f"{arch}: undefined symbols not in libSystem.tbd: {sorted(undefined - tbd)}")
        used |= undefined
    check(tbd <= used, f"libSystem.tbd lists symbols nothing uses: {sorted(tbd - used)}")
    fat = run(LIPO, "-archs", os.path.join(build, "darwin", "libgclzone.dylib")).split()
    check(sorted(fat) == ["arm64", "x86_64"], f"universal dylib holds {fat}")
    if failures:
        for f in failures:
            print("inspect.py: FAIL:", f, file=sys.stderr)
        sys.exit(1)
    print(f"inspect.py: arm64 and x86_64 dylibs pass ({len(tbd)} libSystem symbols, "
          f"{len(public_api())} exports, constructor and interpose tuples in place)")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""inspect.py BUILD: check the cross-built macOS dylibs with llvm-objdump-16 --macho and llvm-nm-16.

Nothing here runs on macOS; it checks what dyld and the kernel would read.
For each of BUILD/darwin/{arm64,x86_64}/libgclzone.dylib:
  - a 64-bit Mach-O dylib of that architecture, two-level namespace,
    install name @rpath/libgclzone.dylib, macOS 11.0 minimum, loading only
    /usr/lib/libSystem.B.dylib, every bind against it (none flat);
  - LC_ID_DYLIB's current version is GCLZONE_VERSION and its compatibility
    version the one mk/darwin.mk derives from it;
  - an ad hoc code signature whose CodeDirectory hashes every page of the
    file before the signature: each page is hashed again here and compared
    (Apple silicon runs nothing unsigned; docs/darwin.md §12), and a copy
    with one byte of __TEXT changed must fail the same check;
  - the zone's constructor is a pointer in __mod_init_func;
  - __DATA,__interpose is an S_INTERPOSING section of two tuples
    {replacement, replacee}: rebased pointers to our sbrk/brk replacements and
    binds to libSystem's _sbrk/_brk;
  - no thread-local variables (dyld would malloc their storage);
  - the zone and its introspection table each start a 16 KiB page, apart;
  - undefined symbols: all in libSystem.tbd, and every tbd symbol used;
  - exported symbols: exactly the functions of include/gclzone.h.
And the universal dylib holds both architectures, each slice signed as above.
"""
import hashlib
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


# ---- the Mach-O load commands and the code signature, parsed here -----------------
LC_SEGMENT_64, LC_ID_DYLIB, LC_CODE_SIGNATURE = 0x19, 0xD, 0x1D
CSMAGIC_EMBEDDED_SIGNATURE, CSMAGIC_CODEDIRECTORY = 0xFADE0CC0, 0xFADE0C02
CS_ADHOC, CS_LINKER_SIGNED = 0x2, 0x20000
CS_HASH = {1: (hashlib.sha1, 20), 2: (hashlib.sha256, 32)}


def macho_commands(data):
    """(cmd, offset) of each load command of a thin 64-bit little-endian Mach-O."""
    magic, _, _, _, ncmds, _, _, _ = struct.unpack_from("<IiiIIIII", data, 0)
    if magic != 0xFEEDFACF:
        raise ValueError(f"not a 64-bit Mach-O (magic {magic:#x})")
    out, off = [], 32
    for _ in range(ncmds):
        cmd, size = struct.unpack_from("<II", data, off)
        out.append((cmd, off))
        off += size
    return out


def version_text(v):
    return f"{v >> 16}.{(v >> 8) & 0xFF}.{v & 0xFF}"


def dylib_versions(data):
    for cmd, off in macho_commands(data):
        if cmd == LC_ID_DYLIB:
            _, _, current, compat = struct.unpack_from("<IIII", data, off + 8)
            return version_text(current), version_text(compat)
    return None, None


def signature_problems(data):
    """What is wrong with the ad hoc signature of a thin slice, [] if nothing:
    the CodeDirectory must cover the file up to the signature, page by page,
    and every page must hash to its slot."""
    cmds = macho_commands(data)
    sig = [off for cmd, off in cmds if cmd == LC_CODE_SIGNATURE]
    if len(sig) != 1:
        return ["no LC_CODE_SIGNATURE"]
    dataoff, datasize = struct.unpack_from("<II", data, sig[0] + 8)
    if dataoff + datasize > len(data):
        return ["the signature runs past the end of the file"]
    blob = data[dataoff:dataoff + datasize]
    magic, _, count = struct.unpack_from(">III", blob, 0)
    if magic != CSMAGIC_EMBEDDED_SIGNATURE:
        return [f"signature magic {magic:#x}"]
    cds = [struct.unpack_from(">II", blob, 12 + 8 * i) for i in range(count)]
    cd_at = [o for t, o in cds if t == 0]
    if len(cd_at) != 1:
        return ["no CodeDirectory"]
    cd = blob[cd_at[0]:]
    (magic, _, version, flags, hash_off, ident_off, n_special, n_code, code_limit) = struct.unpack_from(">9I", cd, 0)
    hash_size, hash_type, _, page_log = struct.unpack_from(">BBBB", cd, 36)
    problems = []
    if magic != CSMAGIC_CODEDIRECTORY:
        return [f"CodeDirectory magic {magic:#x}"]
    if hash_type not in CS_HASH or CS_HASH[hash_type][1] != hash_size:
        return [f"hash type {hash_type} of size {hash_size}"]
    if not flags & CS_ADHOC:
        problems.append(f"flags {flags:#x} without CS_ADHOC")
    if code_limit != dataoff:
        problems.append(f"code limit {code_limit} is not the signature's offset {dataoff}")
    page = 1 << page_log if page_log else code_limit
    if n_code != (code_limit + page - 1) // page:
        problems.append(f"{n_code} code slots for {code_limit} bytes in pages of {page}")
    ident = cd[ident_off:].split(b"\0", 1)[0].decode()
    if ident != "libgclzone.dylib":
        problems.append(f"identifier {ident!r}")
    if n_special:
        problems.append(f"{n_special} special slots: an ad hoc linker signature has none")
    if version >= 0x20400:
        exec_base, exec_limit, _ = struct.unpack_from(">QQQ", cd, 64)
        text = [struct.unpack_from("<QQ", data, off + 40) for cmd, off in cmds
                if cmd == LC_SEGMENT_64 and data[off + 8:off + 24].rstrip(b"\0") == b"__TEXT"]
        if not text or (exec_base, exec_limit) != text[0]:
            problems.append(f"executable segment {exec_base:#x}+{exec_limit:#x}, __TEXT at {text}")
    hasher = CS_HASH[hash_type][0]
    bad = [i for i in range(n_code)
           if hasher(data[i * page:min((i + 1) * page, code_limit)]).digest()
           != cd[hash_off + i * hash_size:hash_off + (i + 1) * hash_size]]
    if bad:
        problems.append(f"{len(bad)} of {n_code} pages do not match their hash (first: page {bad[0]})")
    return problems


def text_offset(data):
    """A byte inside __TEXT's code, for the self-test."""
    for cmd, off in macho_commands(data):
        if cmd == LC_SEGMENT_64 and data[off + 8:off + 24].rstrip(b"\0") == b"__TEXT":
            fileoff, filesize = struct.unpack_from("<QQ", data, off + 40)
            return fileoff + filesize // 2
    raise ValueError("no __TEXT")


def check_signature(data, what):
    for p in signature_problems(data):
        check(False, f"{what}: code signature: {p}")
    # The check must be able to fail: one changed byte breaks one page.
    broken = bytearray(data)
    broken[text_offset(data)] ^= 0xFF
    tampered = signature_problems(bytes(broken))
    check(len(tampered) == 1 and "pages do not match" in tampered[0],
          f"{what}: a changed byte in __TEXT went unnoticed by the signature check: {tampered}")


def fat_slices(data):
    """{arch: bytes} of a universal file (big-endian fat_header, 32-bit fat_arch)."""
    magic, n = struct.unpack_from(">II", data, 0)
    if magic != 0xCAFEBABE:
        raise ValueError(f"not a universal file (magic {magic:#x})")
    names = {0x01000007: "x86_64", 0x0100000C: "arm64"}
    out = {}
    for i in range(n):
        cpu, _, off, size, _ = struct.unpack_from(">iiIII", data, 8 + 20 * i)
        out[names.get(cpu & 0xFFFFFFFF, hex(cpu))] = data[off:off + size]
    return out


def library_version():
    with open(os.path.join(ROOT, "include/gclzone.h")) as f:
        version = re.search(r'#define GCLZONE_VERSION "([0-9.]+)"', f.read()).group(1)
    major, minor = version.split(".")[:2]
    return version, (f"0.{minor}.0" if major == "0" else f"{major}.0.0")


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
    with open(path, "rb") as f:
        data = f.read()
    check_signature(data, arch)
    current, compat = dylib_versions(data)
    want_current, want_compat = library_version()
    check((current, compat) == (want_current, want_compat),
          f"{arch}: LC_ID_DYLIB versions {current}/{compat}, want {want_current}/{want_compat}")

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
    fat_path = os.path.join(build, "darwin", "libgclzone.dylib")
    fat = run(LIPO, "-archs", fat_path).split()
    check(sorted(fat) == ["arm64", "x86_64"], f"universal dylib holds {fat}")
    with open(fat_path, "rb") as f:
        for arch, data in fat_slices(f.read()).items():
            check_signature(data, f"universal {arch} slice")
    if failures:
        for f in failures:
            print("inspect.py: FAIL:", f, file=sys.stderr)
        sys.exit(1)
    print(f"inspect.py: arm64 and x86_64 dylibs pass ({len(tbd)} libSystem symbols, "
          f"{len(public_api())} exports, constructor and interpose tuples in place, version "
          f"{'/'.join(library_version())}, every page of both slices matches its ad hoc signature)")


if __name__ == "__main__":
    main()

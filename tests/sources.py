"""sources.py: what the tests read out of the project's own sources.

The lists that the symbol, man page and CLI tests check against, parsed from
the files that define them (the header, the ELF front end, the options table,
the fatal messages, bin/gclzone-run), so that a test fails when a source
changes and its documentation or export list does not. Parsing is by regular
expression over comment-free text: the sources are C and sh written in one
style, and a parse that finds nothing is an error, never an empty list.
"""
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def read(rel):
    with open(os.path.join(ROOT, rel), encoding="utf-8") as f:
        return f.read()


def _nonempty(what, items):
    if not items:
        raise SystemExit(f"sources.py: found no {what}: has the source changed shape?")
    return items


def strip_c(text):
    """C text without comments, preprocessor lines or string contents."""
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    text = re.sub(r"^[ \t]*#(?:[^\n]*\\\n)*[^\n]*", " ", text, flags=re.M)
    return re.sub(r'"(?:[^"\\\n]|\\.)*"', '""', text)


def _strip_attributes(decl):
    """A declaration without __attribute__((...)) and ALL_CAPS(...) macros."""
    out, i = "", 0
    pat = re.compile(r"__attribute__\s*\(|\b[A-Z][A-Z0-9_]+\b\s*\(?")
    while True:
        m = pat.search(decl, i)
        if not m:
            return out + decl[i:]
        out += decl[i:m.start()]
        i = m.end()
        if m.group(0).endswith("("):
            depth = 1
            while i < len(decl) and depth:
                depth += {"(": 1, ")": -1}.get(decl[i], 0)
                i += 1


def header_declarations():
    """{name: prototype} for every function include/gclzone.h declares; the
    prototype is normalized (see normalize_prototype)."""
    decls = {}
    for stmt in strip_c(read("include/gclzone.h")).split(";"):
        stmt = re.split(r"[{}]", stmt)[-1].strip()
        if re.match(r"(typedef|static|extern)\b", stmt):
            continue
        stmt = _strip_attributes(stmt)
        m = re.search(r"\b(gclzone_\w*[a-z0-9])\s*\(", stmt)
        if m and not m.group(1).endswith("_t"):
            decls[m.group(1)] = normalize_prototype(stmt)
    return _nonempty("function in include/gclzone.h", decls)


def normalize_prototype(text):
    """'void *gclzone_x(size_t n)' in one spelling: single spaces, none
    around '*', '(' and ')', one after ','."""
    t = " ".join(text.replace(";", " ").split())
    t = re.sub(r"\s*\*\s*", "*", t)
    t = re.sub(r"\s*([(),])\s*", r"\1", t)
    t = t.replace(",", ", ")
    t = re.sub(r"(\w)\*", r"\1 *", t)
    return t


def header_functions():
    return sorted(header_declarations())


def header_struct_fields():
    """{typedef name: [field, ...]} for the structs of include/gclzone.h."""
    text = strip_c(read("include/gclzone.h"))
    out = {}
    for body, name in re.findall(r"typedef\s+struct\s+\w*\s*\{(.*?)\}\s*(\w+)\s*;", text, flags=re.S):
        out[name] = [re.findall(r"(\w+)\s*(?:\[[^]]*\])?\s*$", f.strip())[0] for f in body.split(";") if f.strip()]
    return _nonempty("struct in include/gclzone.h", out)


def gcl_exports(rel):
    """The names a C file defines with GCL_EXPORT (the name before the
    first '(' of the definition)."""
    names = []
    for m in re.finditer(r"\bGCL_EXPORT\b([^;{(]*)\(", strip_c(read(rel))):
        ident = re.findall(r"[A-Za-z_]\w*", m.group(1))
        if ident:
            names.append(ident[-1])
    return names


def front_end_exports():
    return sorted(set(_nonempty("GCL_EXPORT in override_elf.c", gcl_exports("libgclzone/override_elf.c"))))


def core_exports():
    """GCL_EXPORT definitions of the core (every .c but the front ends)."""
    out = set()
    for f in sorted(os.listdir(os.path.join(ROOT, "libgclzone"))):
        if f.endswith(".c") and f not in ("override_elf.c", "zone_darwin.c"):
            out.update(gcl_exports("libgclzone/" + f))
    return sorted(_nonempty("GCL_EXPORT in the core", out))


def options():
    """The GCLZONE_ variables of the table in libgclzone/options.c."""
    names = re.findall(r'\bOPT\(\s*"([A-Z0-9_]+)"', read("libgclzone/options.c"))
    return ["GCLZONE_" + n for n in _nonempty("OPT(...) in options.c", names)]


def fatal_messages():
    """The formats of fatal_text[] in libgclzone/log.c, in order."""
    m = re.search(r"fatal_text\[\]\s*=\s*\{(.*?)\};", read("libgclzone/log.c"), flags=re.S)
    texts = re.findall(r'=\s*"((?:[^"\\]|\\.)*)"', m.group(1)) if m else []
    return ["gclzone: fatal: " + t for t in _nonempty("fatal_text[] in log.c", texts)]


def run_flags():
    """The flags bin/gclzone-run accepts: the patterns of its case arms
    that are plain options (not --*=* or -*), less the '--' terminator."""
    flags = set()
    for line in read("bin/gclzone-run").splitlines():
        m = re.match(r"\s*((?:-[-a-z]+)(?:\s*\|\s*-[-a-z]+)*)\)", line)
        if m:
            flags.update(f.strip() for f in m.group(1).split("|"))
    flags.discard("--")
    return sorted(_nonempty("flag in bin/gclzone-run", flags))

#!/usr/bin/env python3
"""man.py: the man pages are clean and cannot drift from the sources.

- Every page of man/ passes mandoc's lint (every message counts, style
  included, except a cross-reference to a page this machine lacks) and
  groff's warnings, and every cross-reference to one of ours resolves.
- gclzone(3): every function include/gclzone.h declares is in NAME, in the
  SYNOPSIS with the header's very prototype, and in the DESCRIPTION; every
  field of its structs is described; and nothing else is named.
- gclzone(7): every option of the table in libgclzone/options.c is in
  ENVIRONMENT, every message of fatal_text[] in libgclzone/log.c in
  DIAGNOSTICS.
- gclzone-run(1) and gclzone-timeline(1): every option the script accepts is
  in OPTIONS, and every option there is accepted; gclzone-run's --help names
  each one too.
The lists come from the sources (tests/sources.py), never from a copy.
"""
import os
import re
import subprocess
import sys

import sources

MAN = os.path.join(sources.ROOT, "man")
failures = []


def check(ok, what):
    if not ok:
        failures.append(what)


def render(page):
    """The page as text, overstrikes removed, by section: {NAME: text}."""
    out = subprocess.run(["mandoc", "-Tascii", "-Owidth=78", os.path.join(MAN, page)],
                         capture_output=True, text=True, check=True).stdout
    out = re.sub(r".\x08", "", out)
    sections, current = {}, None
    for line in out.splitlines():
        if re.match(r"[A-Z][A-Z ]*$", line):
            current = line
            sections[current] = []
        elif current:
            sections[current].append(line)
    return {k: "\n".join(v) for k, v in sections.items()}


def flat(text):
    return " ".join(text.split())


def has_word(text, word):
    return re.search(r"(?<![\w-])" + re.escape(word) + r"(?![\w-])", text) is not None


def lint():
    pages = sorted(f for f in os.listdir(MAN) if re.match(r".+\.[1-9]$", f))
    check(pages, "no pages in man/")
    ours = {f: f.rsplit(".", 1) for f in pages}
    funcs = set(sources.header_functions())
    for page in pages:
        path = os.path.join(MAN, page)
        r = subprocess.run(["mandoc", "-Tlint", "-Wstyle", path], capture_output=True, text=True)
        for line in (r.stdout + r.stderr).splitlines():
            # A reference to a page that is not installed here (ours are
            # checked below; the system's depend on manpages-dev), and
            # mandoc's notes on this machine's own database.
            if "referenced manual not found" in line or "mandoc.db" in line:
                continue
            failures.append(f"mandoc -Tlint: {line}")
        g = subprocess.run(["groff", "-mandoc", "-Tutf8", "-ww", "-z", path], capture_output=True, text=True)
        check(g.returncode == 0 and not g.stderr.strip(), f"groff -ww {page}: {g.stderr.strip()}")
        text = sources.read(os.path.join("man", page))
        for name, sec in re.findall(r"^\.Xr (gclzone\S*) (\d)", text, flags=re.M):
            check([name, sec] in ours.values() or (sec == "3" and name in funcs),
                  f"{page}: .Xr {name} {sec}: no such page in man/ (nor function of gclzone.h)")
    return pages


def synopsis_prototypes(text):
    """{name: normalized prototype} from the .Ft/.Fn pairs of the SYNOPSIS."""
    syn = text.split("\n.Sh SYNOPSIS", 1)[1].split("\n.Sh ", 1)[0]
    protos, ftype = {}, None
    for line in syn.splitlines():
        if line.startswith(".Ft "):
            ftype = line[4:].strip().strip('"')
        elif line.startswith(".Fn "):
            words = re.findall(r'"([^"]*)"|(\S+)', line[4:])
            args = [a or b for a, b in words]
            name, params = args[0], args[1:] or ["void"]
            protos[name] = sources.normalize_prototype(f"{ftype or ''} {name}({', '.join(params)})")
            ftype = None
    return protos


def check_api():
    page = "gclzone.3"
    text = sources.read("man/" + page)
    sec = render(page)
    decls = sources.header_declarations()
    names = set(re.findall(r"^\.Nm (\w+)", text, flags=re.M))
    protos = synopsis_prototypes(text)
    desc = sec.get("DESCRIPTION", "")
    for name, proto in decls.items():
        check(name in names, f"{page}: {name} is not in NAME")
        check(name in protos, f"{page}: {name} is not in the SYNOPSIS")
        check(protos.get(name, proto) == proto, f"{page}: SYNOPSIS has '{protos.get(name)}', gclzone.h '{proto}'")
        check(f"{name}(" in desc, f"{page}: {name}() is not described in the DESCRIPTION")
    documented = names | set(protos)
    check(documented <= set(decls), f"{page}: names what gclzone.h does not declare: "
          f"{', '.join(sorted(documented - set(decls)))}")
    for struct, fields in sources.header_struct_fields().items():
        for field in fields:
            check(has_word(desc, field), f"{page}: field {field} of {struct} is not described")
    return len(decls)


def check_concepts():
    page = "gclzone.7"
    sec = render(page)
    env, diag = sec.get("ENVIRONMENT", ""), flat(sec.get("DIAGNOSTICS", ""))
    opts = sources.options()
    for opt in opts:
        check(re.search(r"^     " + re.escape(opt) + r"(?![\w])", env, flags=re.M) is not None,
              f"{page}: option {opt} (libgclzone/options.c) has no entry in ENVIRONMENT")
    msgs = sources.fatal_messages()
    for msg in msgs:
        # %p is shown as 0x..., %s as a word or more that says what goes there.
        pat = re.escape(msg).replace("%p", r"0x\.\.\.").replace("%s", r"\S.*?")
        check(re.search(pat, diag) is not None, f"{page}: the fatal message '{msg}' (libgclzone/log.c) is not in DIAGNOSTICS")
    return len(opts), len(msgs)


def documented_flags(page):
    return set(re.findall(r"(?<![\w-])(--?[a-z][a-z-]*)", render(page).get("OPTIONS", "")))


def check_commands():
    run_flags = set(sources.run_flags())
    doc = documented_flags("gclzone-run.1")
    check(run_flags <= doc, f"gclzone-run.1: flags missing from OPTIONS: {', '.join(sorted(run_flags - doc))}")
    check(doc <= run_flags, f"gclzone-run.1: OPTIONS has flags bin/gclzone-run rejects: {', '.join(sorted(doc - run_flags))}")
    usage = subprocess.run(["sh", os.path.join(sources.ROOT, "bin/gclzone-run"), "--help"],
                           capture_output=True, text=True).stdout
    missing = [f for f in run_flags if not has_word(usage, f)]
    check(not missing, f"gclzone-run --help does not name {', '.join(sorted(missing))}")

    tl = sources.read("bin/gclzone-timeline")
    tl_flags = {f for call in re.findall(r"add_argument\(([^)]*)\)", tl) for f in re.findall(r'"(-[^"]+)"', call)}
    tl_flags.add("--help")
    tl_flags.add("-h")
    check(len(tl_flags) > 2, "no option found in bin/gclzone-timeline")
    doc = documented_flags("gclzone-timeline.1")
    check(tl_flags <= doc, f"gclzone-timeline.1: options missing from OPTIONS: {', '.join(sorted(tl_flags - doc))}")
    check(doc <= tl_flags, f"gclzone-timeline.1: OPTIONS has options bin/gclzone-timeline rejects: "
          f"{', '.join(sorted(doc - tl_flags))}")
    return len(run_flags), len(tl_flags)


def main():
    pages = lint()
    nfuncs = check_api()
    nopts, nmsgs = check_concepts()
    nrun, ntl = check_commands()
    if failures:
        for f in failures:
            print(f"man.py: FAIL: {f}")
        sys.exit(1)
    print(f"man.py: {len(pages)} pages lint clean (mandoc, groff); gclzone(3) has the {nfuncs} functions of "
          f"gclzone.h with their prototypes, gclzone(7) the {nopts} options and {nmsgs} fatal messages, "
          f"gclzone-run(1) its {nrun} flags, gclzone-timeline(1) its {ntl} options")


main()

#!/usr/bin/env python3
"""doc_refs.py: every "§N" in the Darwin front end and its tests names a section of docs/darwin.md.

The code's comments point into docs/darwin.md ("§3") for the facts they rely
on. This fails when a reference names a section that does not exist, when a
file uses "§" without naming docs/darwin.md, or when anything points at notes
outside the repository.
"""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FILES = ["libgclzone/zone_darwin.c", "libgclzone/darwin/libSystem.tbd", "mk/darwin.mk", "README.md"]
FILES += [os.path.join(d, f) for d in ("libgclzone/darwin/include", "libgclzone/darwin/include/malloc",
                                       "libgclzone/darwin/include/mach", "tests/darwin", "tests/darwin/include/malloc")
          for f in sorted(os.listdir(os.path.join(ROOT, d)))
          if os.path.isfile(os.path.join(ROOT, d, f)) and f != os.path.basename(__file__)]


def main():
    with open(os.path.join(ROOT, "docs/darwin.md")) as f:
        sections = set(re.findall(r"^## §(\d+) ", f.read(), re.M))
    failures, refs = [], 0
    for rel in FILES:
        with open(os.path.join(ROOT, rel)) as f:
            text = f.read()
        if "/work/" in text or "darwin-zones.md" in text:
            failures.append(f"{rel}: points at notes outside the repository")
        cited = re.findall(r"§(\d+)", text)
        refs += len(cited)
        if cited and "docs/darwin.md" not in text:
            failures.append(f"{rel}: uses § without naming docs/darwin.md")
        for n in sorted(set(cited) - sections, key=int):
            failures.append(f"{rel}: §{n} is not a section of docs/darwin.md")
    if failures:
        for f in failures:
            print("doc_refs.py: FAIL:", f, file=sys.stderr)
        sys.exit(1)
    print(f"doc_refs.py: {refs} references in {len(FILES)} files, all to the {len(sections)} sections of docs/darwin.md")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""layers.py OBJDIR SRCDIR [FRONT.o...]: the library's call graph between files has no cycle.

Reads the objects of the core and of the front ends (OBJDIR's, and the
Darwin zone's model build given as FRONT.o) with nm: an edge
A -> B for every function B.o defines that A.o calls (data references are
left out: internal.h says which facts are read across layers). Fails on a
cycle, and on a core file that calls a front end; prints the layers, each
file above the files it calls. Also checks internal.h's naming rule on
every global the files define: gcl_<module>_*, the module's state gcl_<module>
or gcl_<module>s, the front end's descriptor gcl_front, or public gclzone_*."""
import subprocess, sys, os

def symbols(obj):
    out = subprocess.run(["nm", "-P", obj], capture_output=True, text=True, check=True).stdout
    defined, undefined, globals_ = set(), set(), set()
    for line in out.splitlines():
        f = line.split()
        if len(f) < 2:
            continue
        name, kind = f[0], f[1]
        if kind == "T":
            defined.add(name)
        elif kind == "U":
            undefined.add(name)
        if kind in "TDBRV":
            globals_.add(name)
    return defined, undefined, globals_

def misnamed(f, names, fronts):
    module = f.split("_")[0] if f in ("prim_posix", "zone_darwin") else f
    ok = lambda n: (n.startswith("gclzone_") or n.startswith(f"gcl_{module}_") or n in (f"gcl_{module}", f"gcl_{module}s")
                    or (f in fronts and n == "gcl_front"))
    return [f"{f} defines {n}, against internal.h's naming rule" for n in sorted(names) if n.startswith("gcl") and not ok(n)]

def main():
    objdir, srcdir = sys.argv[1], sys.argv[2]
    extra = {os.path.basename(o)[:-2]: o for o in sys.argv[3:]}
    fronts = {"override_elf", "front_none", "zone_darwin"}
    paths = {f[:-2]: os.path.join(objdir, f) for f in os.listdir(objdir)
             if f.endswith(".o") and os.path.exists(os.path.join(srcdir, f[:-2] + ".c"))}
    paths.update(extra)
    files = sorted(paths)
    syms = {f: symbols(paths[f]) for f in files}
    bad = []
    owner = {}
    for f, (d, _, _) in syms.items():
        for s in d:
            if s in owner:
                bad.append(f"{s} is defined in {owner[s]} and {f}")
            owner[s] = f
    calls = {f: sorted({owner[s] for s in u if s in owner and owner[s] != f}) for f, (_, u, _) in syms.items()}
    for f, (_, _, g) in syms.items():
        bad += misnamed(f, g, fronts)
    bad += [f"{f} calls the front end {g}" for f in files if f not in fronts for g in calls[f] if g in fronts]
    # Depth: a file's layer is one more than the deepest file it calls.
    depth, state = {}, {}
    def visit(f, path):
        if state.get(f) == "done":
            return depth[f]
        if state.get(f) == "open":
            i = path.index(f)
            bad.append("cycle: " + " -> ".join(path[i:] + [f]))
            return 0
        state[f] = "open"
        d = 1 + max((visit(g, path + [f]) for g in calls[f]), default=-1)
        state[f], depth[f] = "done", d
        return d
    for f in files:
        visit(f, [])
    for f in sorted(files, key=lambda f: (-depth.get(f, 0), f)):
        print(f"layers.py: {depth.get(f, 0):2d} {f:14s} calls {' '.join(calls[f]) or '-'}")
    if bad:
        for b in bad:
            print("layers.py: FAIL:", b)
        sys.exit(1)
    print(f"layers.py: {len(files)} files, {sum(len(c) for c in calls.values())} call edges, no cycle")

main()

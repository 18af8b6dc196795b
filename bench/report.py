#!/usr/bin/python3
"""report.py: the benchmark suite's report, from the runner's raw data.

    report.py --raw raw.tsv [--instr instr.tsv] [--machine machine.txt]
              --md results.md --svg results.svg

For each workload and allocator: the median time of the runs that
succeeded, its ratio to the system malloc's, the median of the runs' peak
RSS, and its ratio. A cell counts only when every one of its runs
succeeded; the geometric means are taken over the workloads where every
allocator's cell counts (the same set for all, so that they compare), and
the workloads left out are named. The pair benchmark gets its own table:
ns per pair (median) and instructions per pair at each size counted
(instr.tsv). Then issue 15's targets, each checked against libgclzone's
figures and shown as met or missed with the figure (the peers are every
allocator but the system malloc and libgclzone's own build variants), and
the SVG chart: time ratio and RSS ratio per workload, one bar per
allocator, log scale.

Only the standard library: no dependency beyond Debian's python3.
"""
import argparse
import csv
import math
import statistics
import sys
from xml.sax.saxutils import escape

BASE = "system"
ME = "gclzone"
COLORS = {"system": "#7f7f7f", "gclzone": "#d62728", "gclzone-nochecks": "#ff9896", "gclzone-secure": "#8c1c13",
          "mimalloc2": "#aec7e8", "mimalloc3": "#1f77b4", "jemalloc": "#2ca02c", "tcmalloc": "#ff7f0e",
          "tbbmalloc": "#bcbd22", "snmalloc": "#9467bd", "rpmalloc": "#17becf"}
EXTRA_COLORS = ["#8c564b", "#e377c2", "#7f7f7f", "#c49c94"]
# Issue 15's targets for libgclzone (ratios within one run).
TARGETS = {
    "time_vs_best_peer": 0.90,   # time geomean <= 0.90 x the best peer's geomean
    "time_max_system": 1.10,     # no workload slower than 1.10 x the system malloc
    "time_max_best_peer": 1.25,  # no workload slower than 1.25 x the best peer on it
    "rss_geomean": 1.05,         # peak RSS geomean <= 1.05 x the system malloc, and the lowest of all peers
    "instr": {16: 30.0, 8192: 64.0},  # instructions per malloc/free pair at these sizes
    "reps": 5,                   # the targets are defined on medians of at least 5 repetitions
}


def geomean(xs):
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else float("nan")


def parse_extra(s):
    out = {}
    for kv in s.split(";"):
        if "=" in kv:
            k, v = kv.split("=", 1)
            out[k] = v
    return out


class Cell:
    """The runs of one workload under one allocator."""

    def __init__(self):
        self.runs = []

    def ok_runs(self):
        return [r for r in self.runs if r["status"] == "ok"]

    @property
    def valid(self):
        return bool(self.runs) and all(r["status"] == "ok" for r in self.runs)

    @property
    def status(self):
        bad = sorted({r["status"] for r in self.runs if r["status"] != "ok"})
        return ", ".join(bad) if bad else "ok"

    @property
    def time(self):
        return statistics.median(float(r["time_s"]) for r in self.ok_runs())

    @property
    def rss_kib(self):
        return statistics.median(float(r["maxrss_kib"]) for r in self.ok_runs())

    @property
    def spread(self):
        """(max - min) / median of the times, over the runs that succeeded."""
        t = [float(r["time_s"]) for r in self.ok_runs()]
        return (max(t) - min(t)) / statistics.median(t) if len(t) > 1 and statistics.median(t) > 0 else 0.0

    def extra_median(self, key):
        v = [float(parse_extra(r["extra"])[key]) for r in self.ok_runs() if key in parse_extra(r["extra"])]
        return statistics.median(v) if v else None


class Results:
    def __init__(self, rows):
        self.workloads, self.allocs, self.groups = [], [], {}
        self.cells = {}
        for r in rows:
            w, a = r["workload"], r["allocator"]
            if w not in self.groups:
                self.workloads.append(w)
                self.groups[w] = r["group"]
            if a not in self.allocs:
                self.allocs.append(a)
            self.cells.setdefault((w, a), Cell()).runs.append(r)
        # The baseline first, libgclzone second, the peers in the order run.
        order = [x for x in (BASE, ME) if x in self.allocs]
        self.allocs = order + [a for a in self.allocs if a not in order]
        if BASE not in self.allocs:
            raise SystemExit("report.py: no runs of the system malloc: no ratios")

    def cell(self, w, a):
        return self.cells.get((w, a), Cell())

    def ratio(self, w, a, what):
        c, b = self.cell(w, a), self.cell(w, BASE)
        if not (c.valid and b.valid):
            return None
        num, den = (c.time, b.time) if what == "time" else (c.rss_kib, b.rss_kib)
        return num / den if den > 0 else None

    def common(self, group=None):
        """Workloads (of a group) where every allocator's cell counts."""
        return [w for w in self.workloads
                if (group is None or self.groups[w] == group)
                and all(self.ratio(w, a, "time") is not None for a in self.allocs)]

    def geomean(self, a, what, group=None):
        return geomean([self.ratio(w, a, what) for w in self.common(group)])

    def check_mismatches(self):
        """Workloads whose check= differs between runs: some allocator changed the result."""
        bad = []
        for w in self.workloads:
            seen = {}
            for a in self.allocs:
                for r in self.cell(w, a).ok_runs():
                    c = parse_extra(r["extra"]).get("check")
                    if c is not None:
                        seen.setdefault(c, set()).add(a)
            if len(seen) > 1:
                bad.append((w, seen))
        return bad


def fmt_time(t):
    return "%.3f s" % t if t < 10 else "%.2f s" % t


def fmt_mib(kib):
    return "%.1f MiB" % (kib / 1024.0)


def fmt_ratio(x):
    return "-" if x is None or math.isnan(x) else "%.2f" % x


def read_tsv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def read_machine(path):
    info = {}
    if path:
        with open(path) as f:
            for line in f:
                if ":" in line:
                    k, v = line.split(":", 1)
                    info.setdefault(k.strip(), []).append(v.strip())
    return info


def markdown(res, instr, machine):
    L = []
    A = res.allocs
    L.append("# libgclzone benchmark results")
    L.append("")
    m = machine
    if m:
        reps = m.get("reps", ["?"])[0]
        L.append("Measured %s on %s (%s, glibc %s), %s repetition%s at scale %s, runs interleaved."
                 % (m.get("date", ["?"])[0], m.get("cpu", ["?"])[0], m.get("kernel", ["?"])[0],
                    m.get("glibc", ["?"])[0], reps, "" if reps == "1" else "s", m.get("scale", ["?"])[0]))
        L.append("Load average before the runs: %s; after: %s (the machine is shared: timings are noisy)."
                 % (m.get("load_before", ["?"])[0], m.get("load_after", ["?"])[0]))
        L.append("Source tree at %s; Debian packages: %s." % (m.get("gclzone", ["?"])[0],
                                                            ", ".join(m.get("package", [])) or "none"))
        built = m.get("built", []) + ["redis %s" % r for r in m.get("redis", [])]
        if built:
            L.append("Built from source: %s." % ", ".join(built))
        L.append("")
    L.append("Time is the median wall time of the runs (for `larson`, a fixed-duration workload, the time")
    L.append("of 60 million operations at the measured rate); the ratio is to the system malloc, lower is")
    L.append("better. ±N% is the spread of the runs ((max - min) / median), shown when over 5%.")
    L.append("")
    L.append("## Time")
    L.append("")
    measure_table(L, res, A, "time", time_cell)
    L.append("## Peak RSS")
    L.append("")
    L.append("Median over the runs of each run's peak resident set size (wait4's ru_maxrss).")
    L.append("")
    measure_table(L, res, A, "rss", lambda res, w, a, c: "%s ×%s" % (fmt_mib(c.rss_kib), fmt_ratio(res.ratio(w, a, "rss"))))
    left_out = [w for w in res.workloads if w not in res.common()]
    if left_out:
        L.append("Left out of the geometric means (some allocator failed there, see the cells): %s."
                 % ", ".join(left_out))
        L.append("")
    bad = res.check_mismatches()
    for w, seen in bad:
        L.append("**%s: the results differ between allocators**: %s." % (
            w, "; ".join("%s from %s" % (c, ", ".join(sorted(s))) for c, s in seen.items())))
    if bad:
        L.append("")
    pair_section(L, res, instr)
    variants(L, res, instr)
    notes(L, res)
    targets(L, res, instr, machine)
    return "\n".join(L) + "\n"


def time_cell(res, w, a, c):
    s = "%s ×%s" % (fmt_time(c.time), fmt_ratio(res.ratio(w, a, "time")))
    if c.spread > 0.05:
        s += " ±%d%%" % round(100 * c.spread)
    return s


def measure_table(L, res, A, what, cell):
    """One row per workload, one column per allocator; a failed run shows its status."""
    L.append("| workload | " + " | ".join(A) + " |")
    L.append("|---|" + "---:|" * len(A))
    for w in res.workloads:
        row = []
        for a in A:
            c = res.cell(w, a)
            if not c.runs:
                row.append("")
            elif not c.valid:
                row.append("**%s**" % c.status)
            else:
                row.append(cell(res, w, a, c))
        L.append("| %s | %s |" % (w, " | ".join(row)))
    geo_rows(L, res, what)
    L.append("")


def geo_rows(L, res, what):
    groups = sorted(set(res.groups.values()))
    rows = [("geometric mean", None)]
    if len(groups) > 1:
        rows += [("geometric mean, %s" % g, g) for g in groups]
    for label, g in rows:
        n = len(res.common(g))
        if n == 0:
            continue
        L.append("| **%s** (%d) | %s |" % (label, n, " | ".join("**%s**" % fmt_ratio(res.geomean(a, what, g))
                                                                 for a in res.allocs)))


def instr_by(instr):
    """instr.tsv as {(allocator, size): row}; sizes in the order counted."""
    by, sizes = {}, []
    for r in instr or []:
        size = int(r.get("size") or 0)
        by[(r["allocator"], size)] = r
        if size not in sizes:
            sizes.append(size)
    return by, sizes


def instr_value(by, a, size):
    """Instructions per pair of allocator a at size, or None (not counted, or not measurable)."""
    r = by.get((a, size))
    if not r or r.get("in_both", "-") in ("-", ""):
        return None
    return float(r["in_both"])


def fmt_size(size):
    return "%d KiB" % (size // 1024) if size >= 1024 and size % 1024 == 0 else "%d B" % size


def pair_section(L, res, instr):
    if "pair" not in res.workloads and not instr:
        return
    by, sizes = instr_by(instr)
    L.append("## The malloc/free pair")
    L.append("")
    L.append("ns per pair: the median over the runs of `pair`'s own timing of its loop (eight sizes of 16 to")
    L.append("100 bytes). Instructions per pair, counted by callgrind in `pair N SIZE` runs of N and 2N steps")
    L.append("and differenced (start-up and exit cancel out), at each size: the inclusive counts of main's")
    L.append("calls to malloc and to free per step, i.e. the allocator's own instructions without the loop")
    L.append("(malloc + free in brackets). *step - loop* is the cross-check: the whole loop step less the")
    L.append("same loop with no allocator (`pair N null SIZE`), so malloc and free with their calls and PLT jumps.")
    L.append("")
    head = ["allocator", "ns per pair"]
    for size in sizes:
        head += ["instructions at %s" % fmt_size(size), "step - loop at %s" % fmt_size(size)]
    L.append("| " + " | ".join(head) + " |")
    L.append("|---|" + "---:|" * (len(head) - 1))
    notes = []
    for a in res.allocs:
        c = res.cell("pair", a)
        ns = c.extra_median("ns_per_pair") if c.ok_runs() else None
        row = [a, "%.2f" % ns if ns is not None else "-"]
        for size in sizes:
            r = by.get((a, size), {})
            v = instr_value(by, a, size)
            row.append("%.2f (%s + %s)" % (v, r["in_malloc"], r["in_free"]) if v is not None else "-")
            row.append(r.get("with_calls", "-") or "-")
            note = r.get("note", "")
            if note and (a, note) not in notes:
                notes.append((a, note))
        L.append("| " + " | ".join(row) + " |")
    L.append("")
    for a, note in notes:
        L.append("%s: %s." % (a, note))
    if notes:
        L.append("")


def variants(L, res, instr):
    """libgclzone against its own build variants: what the checks cost."""
    vs = [a for a in res.allocs if a.startswith(ME + "-")]
    if ME not in res.allocs or not vs:
        return
    by, sizes = instr_by(instr)
    L.append("## What the checks cost")
    L.append("")
    L.append("`gclzone-nochecks` is built with `CHECKS=0` (the free fast path trusts its pointer: no")
    L.append("never-handed-out, block-start or double-free test), `gclzone-secure` with `SECURE=1` (keyed")
    L.append("free-list links, checked when followed). Geometric means over the common workloads.")
    L.append("")
    L.append("| build | time geometric mean | RSS geometric mean |" +
             "".join(" instructions per pair at %s |" % fmt_size(z) for z in sizes))
    L.append("|---|---:|---:|" + "---:|" * len(sizes))
    for a in [ME] + vs:
        L.append("| %s | %s | %s |%s" % (a, fmt_ratio(res.geomean(a, "time")), fmt_ratio(res.geomean(a, "rss")),
                                        "".join(" %s |" % ("%.2f" % v if v is not None else "-")
                                                for v in (instr_value(by, a, z) for z in sizes))))
    L.append("")


def notes(L, res):
    lc = [x for x in (res.cell("falseshare", a).extra_median("line_cost") for a in res.allocs) if x is not None]
    if lc:
        v = statistics.median(lc)
        L.append("`falseshare`: this machine's cost of two CPUs writing one cache line, relative to two lines")
        L.append("(`line_cost`), is %.2f%s." % (
            v, "; the CPUs share their caches (or the VM hides the cost), so the probe cannot show false "
               "sharing here" if v < 1.5 else ""))
        L.append("")


def peers_of(res):
    """The peers: every allocator but the system malloc and libgclzone's builds."""
    return [a for a in res.allocs if a != BASE and a != ME and not a.startswith(ME + "-")]


def met(ok):
    return "met" if ok else "**missed**"


def check_targets(res, instr, left_out=()):
    """Issue 15's targets for libgclzone: a list of (met, line), met None when not measured.
    left_out: peers run.sh could not find (not installed or not built); the
    targets against the best peer are then not measured, their figures kept."""
    t = TARGETS
    out = []
    peers = peers_of(res)
    gap = "; peers left out of this run: %s" % " ".join(left_out) if left_out else ""
    common = res.common()
    # 1. Time geometric mean against the best peer's, over the same workloads.
    gt = res.geomean(ME, "time")
    pg = sorted((res.geomean(a, "time"), a) for a in peers if common)
    if pg and not math.isnan(gt):
        best, who = pg[0]
        ok = gt <= t["time_vs_best_peer"] * best
        # The ratio to three places: at two, 0.907 (missed) read as 0.90.
        out.append((None if left_out and ok else ok,
                    "time geometric mean <= %.2fx the best peer's: %s (%s; best peer %s %s, ratio %.3f; "
                    "over %d workloads%s)" % (t["time_vs_best_peer"], "%s", fmt_ratio(gt), who, fmt_ratio(best),
                                              gt / best, len(common), gap)))
    else:
        out.append((False, "time geometric mean <= %.2fx the best peer's: %s (no common workloads with a peer)"
                    % (t["time_vs_best_peer"], "%s")))
    # 2. No workload slower than 1.10x the system malloc; 3. none slower than
    # 1.25x the best peer on it. A workload where libgclzone failed misses both.
    failed = [w for w in res.workloads if res.cell(w, ME).runs and not res.cell(w, ME).valid]
    over_sys, over_peer = [], []
    for w in res.workloads:
        c = res.cell(w, ME)
        if not c.valid:
            continue
        r = res.ratio(w, ME, "time")
        if r is not None and r > t["time_max_system"]:
            over_sys.append("%s ×%.2f" % (w, r))
        best = sorted((res.cell(w, a).time, a) for a in peers if res.cell(w, a).valid)
        if best and best[0][0] > 0 and c.time / best[0][0] > t["time_max_best_peer"]:
            over_peer.append("%s ×%.2f of %s's" % (w, c.time / best[0][0], best[0][1]))
    worst = max(((res.ratio(w, ME, "time"), w) for w in res.workloads if res.ratio(w, ME, "time") is not None),
                default=None)
    fl = ["%s failed" % w for w in failed]
    out.append((not over_sys and not failed,
                "no workload slower than %.2fx the system malloc: %s (%s)" % (
                    t["time_max_system"], "%s", ", ".join(over_sys + fl) if over_sys or failed else
                    "slowest %s ×%.2f" % (worst[1], worst[0]) if worst else "no workload")))
    out.append((None if left_out and not (over_peer or failed) else not over_peer and not failed,
                "no workload slower than %.2fx the best peer on it: %s (%s%s)" % (
                    t["time_max_best_peer"], "%s", ", ".join(over_peer + fl) if over_peer or failed else
                    "within %.2fx everywhere" % t["time_max_best_peer"], gap)))
    # 4. Peak RSS: at most 1.05x the system malloc, and the lowest of all peers.
    gr = res.geomean(ME, "rss")
    out.append((gr <= t["rss_geomean"], "peak RSS geometric mean <= %.2fx the system malloc: %s (%s)" % (
        t["rss_geomean"], "%s", fmt_ratio(gr))))
    pr = sorted((res.geomean(a, "rss"), a) for a in peers if common)
    if pr:
        out.append((None if left_out and gr <= pr[0][0] else gr <= pr[0][0],
                    "peak RSS geometric mean the best of all allocators (no peer's lower): %s "
                    "(%s; lowest peer %s %s%s)" % ("%s", fmt_ratio(gr), pr[0][1], fmt_ratio(pr[0][0]), gap)))
    # 5. Instructions per pair at each size.
    by, _ = instr_by(instr)
    for size, limit in sorted(t["instr"].items()):
        v = instr_value(by, ME, size)
        if v is None:
            out.append((None, "<= %d instructions per malloc/free pair at %s: %s (not counted in this run)" % (
                limit, fmt_size(size), "%s")))
            continue
        peers_v = sorted((instr_value(by, a, size), a) for a in peers if instr_value(by, a, size) is not None)
        out.append((v <= limit, "<= %d instructions per malloc/free pair at %s: %s (%.1f%s)" % (
            limit, fmt_size(size), "%s", v, "; fewest of the peers %s %.1f" % (peers_v[0][1], peers_v[0][0])
            if peers_v else "")))
    return [(ok, line % ("**not measured**" if ok is None else met(ok))) for ok, line in out]


def targets(L, res, instr, machine=None):
    if ME not in res.allocs:
        return
    L.append("## Issue 15's targets, for libgclzone")
    L.append("")
    reps = (machine or {}).get("reps", [None])[0]
    if reps is not None and reps.isdigit() and int(reps) < TARGETS["reps"]:
        L.append("*%s repetition%s: the targets are defined on medians of at least %d, so these lines are a "
                 "smoke test, not a verdict.*" % (reps, "" if reps == "1" else "s", TARGETS["reps"]))
        L.append("")
    left_out = " ".join((machine or {}).get("left_out", [])).split()
    if left_out:
        L.append("*Peers left out of this run (not installed or not built): %s. A target against the best "
                 "peer that the others do not already decide is not measured.*" % " ".join(left_out))
        L.append("")
    results = check_targets(res, instr, left_out)
    for ok, line in results:
        L.append("- " + line)
    L.append("")
    unmeasured = sum(ok is None for ok, _ in results)
    L.append("%d of %d targets met%s." % (sum(ok is True for ok, _ in results), len(results),
                                         ", %d not measured" % unmeasured if unmeasured else ""))
    L.append("")


# ---- SVG ---------------------------------------------------------------------------

def svg(res):
    # The system malloc is the line at 1: no bars of its own.
    A = [a for a in res.allocs if a != BASE]
    names = res.workloads + ["geomean"]
    colors = {}
    for i, a in enumerate(A):
        colors[a] = COLORS.get(a, EXTRA_COLORS[i % len(EXTRA_COLORS)])
    bar, gap = 9, 14
    group_w = bar * len(A) + gap
    left, right, top = 60, 20, 50
    panel_h, panel_gap = 230, 120
    width = left + right + group_w * len(names)
    height = top + 2 * panel_h + panel_gap + 70

    def value(w, a, what):
        if w == "geomean":
            v = res.geomean(a, what)
            return None if math.isnan(v) else v
        return res.ratio(w, a, what)

    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" '
           'font-family="DejaVu Sans, Arial, sans-serif" font-size="11">' % (width, height, width, height),
           '<rect width="100%" height="100%" fill="white"/>',
           '<text x="%d" y="20" font-size="15" font-weight="bold">libgclzone benchmarks: ratio to the system '
           'malloc (log scale, lower is better)</text>' % left]
    # Legend
    x = left
    for a in A:
        out.append('<rect x="%d" y="30" width="10" height="10" fill="%s"/>' % (x, colors[a]))
        out.append('<text x="%d" y="39">%s</text>' % (x + 14, escape(a)))
        x += 24 + 7 * len(a)
    out.append('<line x1="%d" x2="%d" y1="35" y2="35" stroke="#000" stroke-width="1.2"/>' % (x, x + 16))
    out.append('<text x="%d" y="39">system malloc (1)</text>' % (x + 20))
    out.append('<text x="%d" y="39" fill="#444">✗ failed</text>' % (x + 140))
    for p, (what, title) in enumerate((("time", "time"), ("rss", "peak RSS"))):
        y0 = top + 20 + p * (panel_h + panel_gap)
        vals = [v for w in names for a in A for v in [value(w, a, what)] if v]
        if not vals:
            vals = [1.0]
        lo = 2.0 ** max(-6, math.floor(math.log2(min(vals + [1.0]))))
        hi = 2.0 ** min(6, math.ceil(math.log2(max(vals + [1.0]))))
        if lo == hi:
            lo, hi = lo / 2, hi * 2

        def ypos(v, y0=y0, lo=lo, hi=hi):
            v = min(max(v, lo), hi)
            return y0 + panel_h * (math.log(hi) - math.log(v)) / (math.log(hi) - math.log(lo))

        out.append('<text x="%d" y="%d" font-size="13" font-weight="bold">%s</text>' % (left, y0 - 6, title))
        k = lo
        while k <= hi * 1.0001:
            y = ypos(k)
            out.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="%s" stroke-width="%s"/>' % (
                left, width - right, y, y, "#000" if abs(k - 1) < 1e-9 else "#ddd", 1.2 if abs(k - 1) < 1e-9 else 1))
            label = ("%g" % k) if k >= 1 else "1/%g" % (1 / k)
            out.append('<text x="%d" y="%.1f" text-anchor="end">%s</text>' % (left - 5, y + 4, label))
            k *= 2
        y1 = ypos(1.0)
        for i, w in enumerate(names):
            gx = left + i * group_w + gap // 2
            for j, a in enumerate(A):
                v = value(w, a, what)
                bx = gx + j * bar
                if v is None:
                    if res.cell(w, a).runs or w == "geomean":
                        out.append('<text x="%d" y="%.1f" font-size="9" fill="#444">✗</text>' % (bx, y1 - 2))
                    continue
                yv = ypos(v)
                ytop, h = min(yv, y1), abs(yv - y1)
                tip = "%s, %s: %s ×%.3f" % (w, a, title, v)
                out.append('<rect x="%d" y="%.1f" width="%d" height="%.1f" fill="%s"><title>%s</title></rect>' % (
                    bx, ytop, bar - 1, max(h, 0.8), colors[a], escape(tip)))
                if v > hi or v < lo:  # clipped: say how far
                    ty = ytop - 3 if v > hi else ytop + h + 9
                    out.append('<text x="%d" y="%.1f" font-size="8">%.0f</text>' % (bx - 2, ty, v) if v > hi else
                               '<text x="%d" y="%.1f" font-size="8">%.2f</text>' % (bx - 2, ty, v))
            out.append('<text transform="translate(%d,%d) rotate(-40)" text-anchor="end"%s>%s</text>' % (
                gx + group_w // 2, y0 + panel_h + 14, ' font-weight="bold"' if w == "geomean" else "", escape(w)))
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--raw", required=True)
    ap.add_argument("--instr")
    ap.add_argument("--machine")
    ap.add_argument("--md", required=True)
    ap.add_argument("--svg", required=True)
    args = ap.parse_args(argv)
    res = Results(read_tsv(args.raw))
    instr = read_tsv(args.instr) if args.instr else None
    with open(args.md, "w") as f:
        f.write(markdown(res, instr, read_machine(args.machine)))
    with open(args.svg, "w") as f:
        f.write(svg(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())

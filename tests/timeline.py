#!/usr/bin/env python3
"""timeline.py: bin/gclzone-timeline and gclzone-run --timeline, on synthetic
timelines in the library's format (GCLZONE_TIMELINE, gclzone(7)).

Each chart must be well-formed XML (xml.etree), an SVG with one polyline per
series, labelled axes with binary units, a legend and the title; and its
lines must be the samples: mapped back through the plot's scales, a few
samples give exactly their step vertices, and any number of samples (one,
100000) keeps each series' highest and lowest value and its first and last
time. Edge cases: one sample, samples all at time 0, 100000 samples with
lone spikes, a last line cut short, a malformed line, unsorted times, a
title that needs escaping, standard input; and the errors (empty file, no
header, another format, no sample). gclzone-run --timeline runs a fake
command that writes the file itself, with an empty library preloaded (the
real one's recording is the lead's end-to-end test): the chart appears, the
command's status is kept, the temporary file is removed.
"""
import os
import random
import re
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

import sources

TOOL = os.path.join(sources.ROOT, "bin", "gclzone-timeline")
RUN = os.path.join(sources.ROOT, "bin", "gclzone-run")
NS = "{http://www.w3.org/2000/svg}"
SERIES = ["host_heap", "arena_in_use", "committed", "dirty", "rss"]
LABELS = ["host heap", "arena in use", "committed", "dirty", "RSS"]
HEADER = "# gclzone timeline 1\n# t_ms\t" + "\t".join(SERIES) + "\tevent\n"
failures = []
tmp = tempfile.mkdtemp(prefix="gclzone-timeline-test.")


def check(ok, what):
    if not ok:
        failures.append(what)
    return ok


def timeline(samples, tail=""):
    """The file's text for samples [(t, [5 values], event)]."""
    return HEADER + "".join(f"{t}\t" + "\t".join(map(str, v)) + f"\t{e}\n" for t, v, e in samples) + tail


def draw(text, *args, stdin=False):
    """(returncode, svg root or None, stderr)."""
    path = os.path.join(tmp, "in.tl")
    out = os.path.join(tmp, "out.svg")
    if os.path.exists(out):
        os.unlink(out)
    with open(path, "w") as f:
        f.write(text)
    cmd = [sys.executable, TOOL, *args, "-o", out] + ([] if stdin else [path])
    r = subprocess.run(cmd, input=text if stdin else None, capture_output=True, text=True, timeout=120)
    root = None
    if r.returncode == 0:
        root = ET.parse(out).getroot()  # raises on malformed XML
    return r.returncode, root, r.stderr


def scales(root):
    plot = root.find(f".//{NS}g[@class='plot']")
    return {k: float(plot.get("data-" + k)) for k in ("left", "top", "width", "height", "x-max-ms", "y-max-bytes")}


def series_points(root):
    """{series: [(x, y), ...]} from the polylines."""
    lines = root.findall(f".//{NS}polyline")
    out = {}
    for pl in lines:
        name = pl.get("data-series")
        check(name not in out, f"two polylines for {name}")
        out[name] = [tuple(map(float, p.split(","))) for p in pl.get("points").split()]
    return out


def to_px(s, t, v):
    return (s["left"] + s["width"] * t / s["x-max-ms"], s["top"] + s["height"] * (1 - v / s["y-max-bytes"]))


def texts(root):
    return [t.text or "" for t in root.iter(f"{NS}text")]


def check_chart(name, root, samples, title=None, exact=False):
    """The structure every chart has, and its lines against the samples."""
    if not check(root is not None and root.tag == f"{NS}svg", f"{name}: not an SVG document"):
        return
    pts = series_points(root)
    check(sorted(pts) == sorted(SERIES), f"{name}: polylines {sorted(pts)}, want one per series {SERIES}")
    s = scales(root)
    all_text = texts(root)
    check(any("time since start-up" in t for t in all_text), f"{name}: no x axis label")
    check(any(t == "memory" for t in all_text), f"{name}: no y axis label")
    ticks = [t.text for t in root.find(f".//{NS}g[@class='ticks']").iter(f"{NS}text")]
    byte_ticks = [t for t in ticks if re.fullmatch(r"\d+(\.\d+)? (B|KiB|MiB|GiB|TiB)", t)]
    check(len(byte_ticks) >= 3, f"{name}: y ticks in binary units: {ticks}")
    legend = " ".join(t.text for t in root.find(f".//{NS}g[@class='legend']").iter(f"{NS}text"))
    for label in LABELS:
        check(f"{label} (peak " in legend, f"{name}: the legend lacks '{label}': {legend}")
    heading = root.find(f"{NS}title").text
    if title is not None:
        check(heading == f"gclzone timeline: {title}", f"{name}: title '{heading}', want the command '{title}'")
        check(f"gclzone timeline: {title}" in all_text, f"{name}: the title is not drawn")
    check(any(t.startswith(f"{len(samples)} sample") for t in all_text), f"{name}: no '{len(samples)} samples' line")

    tol = 0.002  # px: the points are written to 3 decimals
    t_first, t_last = samples[0][0], samples[-1][0]
    t_end = t_last if t_last > t_first else s["x-max-ms"]
    check(s["x-max-ms"] >= t_last, f"{name}: the x axis ends before the last sample")
    for i, col in enumerate(SERIES):
        p = pts.get(col, [])
        if not check(len(p) >= 2, f"{name}: {col}: {len(p)} points, not a visible line"):
            continue
        values = [v[i] for _, v, _ in samples]
        check(s["y-max-bytes"] >= max(values), f"{name}: {col}: the y axis ends below its peak")
        ys, xs = [y for _, y in p], [x for x, _ in p]
        check(abs(min(ys) - to_px(s, 0, max(values))[1]) < tol,
              f"{name}: {col}: highest point at y={min(ys)}, its peak {max(values)} maps to {to_px(s, 0, max(values))[1]}")
        check(abs(max(ys) - to_px(s, 0, min(values))[1]) < tol,
              f"{name}: {col}: lowest point at y={max(ys)}, its minimum {min(values)} maps to {to_px(s, 0, min(values))[1]}")
        check(abs(xs[0] - to_px(s, t_first, 0)[0]) < tol and abs(xs[-1] - to_px(s, t_end, 0)[0]) < tol,
              f"{name}: {col}: the line runs from x={xs[0]} to {xs[-1]}, the samples from {t_first} to {t_end} ms")
        check(all(b[0] >= a[0] - tol for a, b in zip(p, p[1:])), f"{name}: {col}: the line goes back in time")
        if exact:
            want = [to_px(s, samples[0][0], values[0])]
            for (t, _, _), prev, v in zip(samples[1:], values, values[1:]):
                want += [to_px(s, t, prev), to_px(s, t, v)]
            want.append(to_px(s, t_end, values[-1]))
            dedup = [q for k, q in enumerate(want) if k == 0 or q != want[k - 1]]
            check(len(dedup) == len(p) and all(abs(a[0] - b[0]) < tol and abs(a[1] - b[1]) < tol
                                               for a, b in zip(dedup, p)),
                  f"{name}: {col}: points {p[:8]}... are not the step vertices of the samples {dedup[:8]}...")


def test_small():
    samples = [(0, [0, 0, 0, 0, 1863680], "start"), (12, [65536, 131072, 4194304, 0, 2015232], "heap"),
               (250, [1 << 20, 262144, 4194304, 0, 3 << 20], "heap"), (400, [3 << 20, 1 << 20, 8 << 20, 1 << 20, 14 << 20], "arena"),
               (640, [2 << 20, 700000, 8 << 20, 3 << 20, 13 << 20], "heap"), (900, [2 << 20, 65536, 4 << 20, 0, 9 << 20], "arena"),
               (1210, [2 << 20, 65536, 4 << 20, 0, 9 << 20], "exit")]
    rc, root, err = draw(timeline(samples), "--title", "minilisp demo.lisp")
    if check(rc == 0, f"small: exit {rc}: {err}"):
        check_chart("small", root, samples, title="minilisp demo.lisp", exact=True)
        check(len(root.findall(f".//{NS}circle")) == len(samples) * len(SERIES), "small: no marker on each sample")
    # The same from standard input, with the columns in another order.
    order = [0, 6, 3, 1, 2, 4, 5]
    cols = ["t_ms"] + SERIES + ["event"]
    text = "# gclzone timeline 1\n# " + "\t".join(cols[k] for k in order) + "\n" + "".join(
        "\t".join(str([t, *v, e][k]) for k in order) + "\n" for t, v, e in samples)
    rc, root, err = draw(text, stdin=True)
    if check(rc == 0, f"stdin, columns reordered: exit {rc}: {err}"):
        check_chart("stdin, columns reordered", root, samples, exact=True)


def test_one_sample():
    for t in (0, 35):
        samples = [(t, [4096, 8192, 65536, 0, 1 << 21], "exit")]
        rc, root, err = draw(timeline(samples))
        if check(rc == 0, f"one sample at {t} ms: exit {rc}: {err}"):
            check_chart(f"one sample at {t} ms", root, samples)
            for col, p in series_points(root).items():
                check(len({round(x, 1) for x, _ in p}) >= 2, f"one sample at {t} ms: {col} is a dot, not a line")
    samples = [(0, [0, 0, 0, 0, 100], "start"), (0, [4096, 0, 0, 0, 200], "heap"), (0, [8192, 0, 0, 0, 300], "exit")]
    rc, root, err = draw(timeline(samples))
    if check(rc == 0, f"all at 0 ms: exit {rc}: {err}"):
        check_chart("all at 0 ms", root, samples)


def test_many():
    rng = random.Random(14)
    n = 100000
    spikes = {col: rng.randrange(1, n - 1) for col in SERIES}
    dips = {col: rng.randrange(1, n - 1) for col in SERIES}
    samples, t = [], 0
    for i in range(n):
        t += rng.choice((0, 1, 2, 5))
        v = []
        for k, col in enumerate(SERIES):
            base = (k + 1) * (64 << 20) + rng.randrange(16 << 20)
            v.append((k + 3) * (256 << 20) if i == spikes[col] else 1000 + k if i == dips[col] else base)
        samples.append((t, v, "heap"))
    start = time.monotonic()
    rc, root, err = draw(timeline(samples), "--title", "python3 big.py")
    took = time.monotonic() - start
    if check(rc == 0, f"100k samples: exit {rc}: {err}"):
        check_chart("100k samples", root, samples, title="python3 big.py")
        width = scales(root)["width"]
        for col, p in series_points(root).items():
            check(len(p) <= 4 * (width + 2), f"100k samples: {col}: {len(p)} points for a {width:.0f} px plot")
        check(not root.findall(f".//{NS}circle"), "100k samples: markers drawn")
    check(took < 60, f"100k samples took {took:.1f} s")


def test_damaged():
    samples = [(0, [0, 0, 0, 0, 1 << 20], "start"), (10, [4096, 8192, 1 << 20, 0, 2 << 20], "heap"),
               (20, [8192, 8192, 1 << 20, 4096, 3 << 20], "arena")]
    # Cut short inside a number, and cut short after a whole row (no newline):
    # neither is a sample, and the huge value must not reach the chart.
    for tail in ("30\t99999999999\t12", "30\t99999999999\t1\t1\t1\t99999999999\texit"):
        rc, root, err = draw(timeline(samples, tail))
        if check(rc == 0, f"truncated last line {tail!r}: exit {rc}: {err}"):
            check_chart("truncated last line", root, samples, exact=True)
            check("cut short" in err, f"truncated last line: no warning: {err!r}")
    text = timeline(samples[:2]) + "15\tgarbage\n" + "17\t1\t2\n" + timeline(samples[2:]).split("\n", 2)[2]
    rc, root, err = draw(text)
    if check(rc == 0, f"malformed lines: exit {rc}: {err}"):
        check_chart("malformed lines", root, samples, exact=True)
        check("skipped 2 malformed" in err, f"malformed lines: no warning: {err!r}")
    rc, root, err = draw(timeline([samples[2], samples[0], samples[1]]))
    if check(rc == 0, f"unsorted: exit {rc}: {err}"):
        check_chart("unsorted", root, samples, exact=True)
    title = 'a <b> & "c" \'d\''
    rc, root, err = draw(timeline(samples), "--title", title)
    if check(rc == 0, f"title to escape: exit {rc}: {err}"):
        check_chart("title to escape", root, samples, title=title)


def test_errors():
    cases = [("", "nothing was recorded"), ("0\t1\t2\t3\t4\t5\tstart\n", "not a gclzone timeline"),
             ("# gclzone timeline 2\n0\t1\t2\t3\t4\t5\tstart\n", "format 2"), (HEADER, "no samples"),
             (HEADER + "1\t2\t3", "no samples")]
    for text, msg in cases:
        rc, _, err = draw(text)
        check(rc == 1 and msg in err, f"{text[:30]!r}: exit {rc}, '{err.strip()}'; want 1 and '{msg}'")
        check(not os.path.exists(os.path.join(tmp, "out.svg")), f"{text[:30]!r}: a chart was written")
    r = subprocess.run([sys.executable, TOOL, "--width", "10", os.devnull], capture_output=True, text=True)
    check(r.returncode == 2, f"--width 10: exit {r.returncode}")


def test_run_flag():
    cc = os.environ.get("CC", "cc")
    empty = os.path.join(tmp, "empty.so")
    with open(os.path.join(tmp, "empty.c"), "w") as f:
        f.write("int gclzone_timeline_test_empty;\n")
    subprocess.run([cc, "-shared", "-fPIC", "-o", empty, os.path.join(tmp, "empty.c")], check=True)
    samples = [(0, [0, 0, 0, 0, 1 << 20], "start"), (5, [8192, 4096, 1 << 20, 0, 2 << 20], "heap"),
               (9, [8192, 4096, 1 << 20, 0, 2 << 20], "exit")]
    src = os.path.join(tmp, "recorded.tl")
    with open(src, "w") as f:
        f.write(timeline(samples))
    rundir = os.path.join(tmp, "runtmp")
    os.mkdir(rundir)
    env = dict(os.environ, TMPDIR=rundir)
    env.pop("GCLZONE_TIMELINE", None)
    svg = os.path.join(tmp, "run.svg")
    seen = os.path.join(tmp, "seen")

    def run(script, *flags):
        if os.path.exists(svg):
            os.unlink(svg)
        return subprocess.run(["sh", RUN, f"--lib={empty}", *flags, f"--timeline={svg}", "sh", "-c", script, "fake-runtime"],
                              env=env, capture_output=True, text=True, timeout=60)

    r = run(f'cat "{src}" > "$GCLZONE_TIMELINE"; echo "$GCLZONE_TIMELINE $LD_PRELOAD" > "{seen}"; exit 3')
    check(r.returncode == 3, f"gclzone-run --timeline: the command's status 3 came back as {r.returncode}: {r.stderr}")
    if check(os.path.exists(svg), f"gclzone-run --timeline: no chart: {r.stderr}"):
        check_chart("gclzone-run --timeline", ET.parse(svg).getroot(), samples, exact=True,
                    title=f'sh -c cat "{src}" > "$GCLZONE_TIMELINE"; echo "$GCLZONE_TIMELINE $LD_PRELOAD" > "{seen}"; exit 3 fake-runtime')
    with open(seen) as f:
        record, preload = f.read().split()
    check(os.path.dirname(record) == rundir and preload == empty,
          f"gclzone-run --timeline: the command saw GCLZONE_TIMELINE={record} LD_PRELOAD={preload}")
    check(not os.listdir(rundir), f"gclzone-run --timeline left {os.listdir(rundir)} in TMPDIR")

    r = run("exit 0")  # nothing recorded: no chart, and 2 though the command succeeded
    check(r.returncode == 2 and "nothing was recorded" in r.stderr and not os.path.exists(svg),
          f"gclzone-run --timeline, nothing recorded: exit {r.returncode}, {r.stderr!r}")
    r = run("exit 5")
    check(r.returncode == 5, f"gclzone-run --timeline, nothing recorded, command failed: exit {r.returncode}, want 5")
    r = run(f'cat "{src}" > "$GCLZONE_TIMELINE"', "--stats")
    check(r.returncode == 0 and os.path.exists(svg), f"gclzone-run --stats --timeline: exit {r.returncode}: {r.stderr}")
    r = subprocess.run(["sh", RUN, "--timeline"], capture_output=True, text=True)
    check(r.returncode == 2, f"gclzone-run --timeline without a value: exit {r.returncode}")
    check(not os.listdir(rundir), f"gclzone-run --timeline left {os.listdir(rundir)} in TMPDIR")


def parse(path):
    """[(t, [5 values], event)] of a file the library recorded, its format checked."""
    with open(path) as f:
        lines = f.read().splitlines()
    check(lines[:2] == HEADER.splitlines(), f"{path}: header {lines[:2]}")
    out = []
    for line in lines[2:]:
        f = line.split("\t")
        if not check(len(f) == 7 and all(x.isdigit() for x in f[:6]), f"{path}: bad line {line!r}"):
            continue
        out.append((int(f[0]), [int(x) for x in f[1:6]], f[6]))
    return out


def test_recorded():
    """The library's own recordings (GCLZONE_TIMELINE), end to end."""
    build = os.path.join(sources.ROOT, os.environ.get("BUILD", "build"))
    lib = os.path.join(build, "libgclzone.so")
    rec = os.path.join(tmp, "minilisp.tl")
    env = dict(os.environ, GCLZONE_TIMELINE=rec)
    r = subprocess.run([os.path.join(build, "examples", "minilisp"),
                        os.path.join(sources.ROOT, "examples", "minilisp", "demo.lisp")],
                       env=env, capture_output=True, text=True, timeout=300)
    check(r.returncode == 0, f"minilisp with GCLZONE_TIMELINE: status {r.returncode}: {r.stderr[-300:]}")
    samples = parse(rec)
    events = [e for _, _, e in samples]
    check(events[:1] == ["start"] and events[-1:] == ["exit"], f"minilisp: events {events[:3]}...{events[-3:]}")
    check(all(e in ("start", "heap", "arena", "full", "exit") for e in events), f"minilisp: events {set(events)}")
    check(all(b[0] >= a[0] for a, b in zip(samples, samples[1:])), "minilisp: time goes back")
    # minilisp grows and shrinks its GC heap with gclzone_sbrk (it says how often): a sample at each move.
    m = re.search(r"grew (\d+) times and shrank (\d+) times", r.stdout)
    moves = int(m.group(1)) + int(m.group(2)) if m else 0
    check(moves > 0 and events.count("heap") >= moves, f"minilisp: {events.count('heap')} heap samples for {moves} moves")
    check(all(v[0] % 4096 == 0 for _, v, _ in samples), "minilisp: a host heap size that is no whole page")
    check(max(v[0] for _, v, _ in samples) > 1 << 20 and max(v[4] for _, v, _ in samples) > 1 << 20,
          "minilisp: the host heap or the RSS never grew past 1 MiB")
    check(all(v[1] <= v[2] + (1 << 20) for _, v, _ in samples), "minilisp: more arena in use than committed")
    rc, root, err = draw(open(rec).read(), "--title", "minilisp")
    check(rc == 0, f"minilisp's recording: gclzone-timeline failed: {err}")
    if rc == 0:
        check_chart("minilisp's recording", root, samples, title="minilisp")
    # gclzone-run --timeline with the real library, through a shell whose children
    # inherit GCLZONE_TIMELINE: only the shell records (it holds the file's lock).
    out = os.path.join(tmp, "run.svg")
    hello = os.path.join(build, "examples", "hello")
    r = subprocess.run([RUN, f"--lib={lib}", f"--timeline={out}", "sh", "-c", f"{hello}; {hello} >/dev/null"],
                       capture_output=True, text=True, timeout=120)
    check(r.returncode == 0 and os.path.exists(out), f"gclzone-run --timeline: status {r.returncode}: {r.stderr}")
    if os.path.exists(out):
        root = ET.parse(out).getroot()
        n = [t for t in texts(root) if re.match(r"\d+ samples? over", t)]
        check(root.tag == f"{NS}svg" and n, f"gclzone-run --timeline: {n}")
    # A fork child stops recording: one start and one exit, the parent's.
    rec = os.path.join(tmp, "fork.tl")
    env = dict(os.environ, GCLZONE_TIMELINE=rec, LD_PRELOAD=lib)
    subprocess.run([sys.executable, "-c", "import os, sys\nif os.fork() == 0: sys.exit(0)\nos.wait()"],
                   env=env, timeout=60)
    events = [e for _, _, e in parse(rec)]
    check(events.count("start") == 1 and events.count("exit") == 1, f"a forked child wrote into the file: {events}")


def main():
    for test in (test_small, test_one_sample, test_many, test_damaged, test_errors, test_run_flag, test_recorded):
        test()
    subprocess.run(["rm", "-rf", tmp])
    if failures:
        for f in failures:
            print(f"timeline.py: FAIL: {f}")
        sys.exit(1)
    print("timeline.py: gclzone-timeline draws well-formed SVG with one line per series whose points are the "
          "samples (7 exactly; 1; 100000 with every peak kept), skips damaged lines, rejects non-timelines; "
          "gclzone-run --timeline draws the command's recording and keeps its status; the library's own "
          "recording of minilisp has a sample at every move of its heap and draws to its samples; programs "
          "a recording process starts, and its fork children, record nothing over it")


main()

# python.py: an object-heavy Python program for the benchmark suite, run
# by Debian's python3 with PYTHONMALLOC=malloc, so that every object is a
# malloc and free of the allocator under test.
#   python3 python.py [SCALE]
# Binary trees (the classic allocation benchmark), dict and string churn,
# a JSON round trip and a sort of tuples; prints a check value that depends
# only on the work done.
import json
import sys

scale = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0


def make(depth):
    return (make(depth - 1), make(depth - 1)) if depth else (None, None)


def check(node):
    left, right = node
    return 1 if left is None else 1 + check(left) + check(right)


def trees(max_depth):
    total = 0
    long_lived = make(max_depth)
    for depth in range(4, max_depth + 1, 2):
        n = 1 << (max_depth - depth + 4)
        for _ in range(n):
            total += check(make(depth))
    return total + check(long_lived)


def churn(n):
    d = {}
    for i in range(n):
        k = "key%d" % (i * 7919 % (n // 2 + 1))
        d[k] = [i, str(i), (i, i + 1)]
        if i % 3 == 0:
            d.pop("key%d" % (i * 31 % (n // 2 + 1)), None)
    return len(d) + sum(len(v[1]) for v in d.values())


def records(n):
    data = [{"id": i, "name": "item%06d" % i, "tags": ["t%d" % (i % 7)] * (i % 5), "w": i * 0.5}
            for i in range(n)]
    s = json.dumps(data, sort_keys=True)
    back = json.loads(s)
    rows = sorted((r["name"][::-1], r["id"], tuple(r["tags"])) for r in back)
    return len(s) + rows[0][1] + rows[-1][1]


depth = 14 if scale >= 0.5 else 12
total = trees(depth)
total += churn(int(400000 * scale))
total += records(int(100000 * scale))
print("bench: check=%d" % total)

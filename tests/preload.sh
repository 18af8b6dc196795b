#!/bin/sh
# Preload tests: small programs and real Debian programs run with
# LD_PRELOAD=libgclzone.so; their output must equal the run under the system
# malloc, and their malloc must really bind to libgclzone.
. "$(dirname "$0")/lib.sh"
T=$BUILD/tests/preload
PY=/usr/bin/python3
. "$(dirname "$0")/exit_report.sh"
# tests/harden.sh runs this script again on the SECURE=1 build's library
# (PRELOAD_LIB) with GCLZONE_HARDEN=1: the hardened mode must stop no valid
# program. What it cannot run there is skipped: the programs linked with
# the default build's archive, and the scribble check (the hardened mode
# zeroes freed blocks, or makes them inaccessible, instead of scribbling).
LIB=${PRELOAD_LIB:-$LIB}
HARD=${GCLZONE_HARDEN:-0}

# -- small programs ---------------------------------------------------------
set +e
"$T/bound" >/dev/null; rc=$?
set -e
[ $rc -eq 2 ] || fail "bound does not notice a missing libgclzone"
out=$(LD_PRELOAD=$LIB "$T/bound") || fail "bound: $out"
[ "$out" = "bound: ok" ] || fail "$out"
out=$(GCLZONE_SBRK=0 LD_PRELOAD=$LIB "$T/bound" sbrk-off) || fail "bound sbrk-off: $out"
ok "every entry point bound; glibc's own blocks forwarded; sbrk/brk on the host heap (and off with GCLZONE_SBRK=0)"
if [ "$HARD" = 0 ]; then
out=$("$BUILD/tests/bound_static") || fail "bound linked with libgclzone.a: $out"
[ "$out" = "bound: ok" ] || fail "$out"
ok "the same, linked with libgclzone.a instead of preloaded"
out=$("$BUILD/tests/brk_base") || fail "$out"
out2=$(GCLZONE_TEST_TAKE_BRK=1 "$BUILD/tests/brk_base") || fail "$out2"
ok "$(echo "$out" | sed 's/^brk_base: //'); when that range is taken, the OS chooses and sbrk works"
fi

want=$("$T/threads")
got=$(LD_PRELOAD=$LIB "$T/threads")
[ "$got" = "$want" ] || fail "threads: '$got' != '$want'"
ok "producer/consumer threads: $got"

got=$(timeout 120 env LD_PRELOAD="$LIB" "$T/forks") || fail "forks: $got (status $?)"
ok "$got"
got=$(timeout 60 env LD_PRELOAD="$LIB" "$T/fork_signal" $([ "$HARD" = 0 ] || echo 100)) || fail "fork_signal: $got (status $?; 124 is a hang)"
ok "$got"
# glibc bug 19431's three threads (fork, getline, fflush(NULL)): a watchdog
# in the program turns a deadlock into a failure.
got=$(timeout 60 env LD_PRELOAD="$LIB" "$T/fork_stdio" 3 2>&1) || fail "fork_stdio: $got"
ok "$got (preloaded)"
if [ "$HARD" = 0 ]; then
got=$(timeout 60 "$BUILD/tests/fork_stdio_static" 2 2>&1) || fail "fork_stdio, linked with libgclzone.a: $got"
ok "$got (linked with libgclzone.a)"
fi

# A program that lowers RLIMIT_AS after start, and one started under a limit
# (ulimit -v) that lowers it further: threads, mappings, blocks and dlopen
# keep working, as on glibc's malloc.
got=$(LD_PRELOAD="$LIB" "$T/rlimit_as" 256 2>&1) || fail "$got"
ok "$got"
got=$( (ulimit -v 262144 && LD_PRELOAD="$LIB" "$T/rlimit_as" 240) 2>&1) || fail "under ulimit -v 262144: $got"
ok "started under ulimit -v 262144 (256 MiB) and lowered to 240 MiB: it all still works"

# glibc's introspection calls answer for us: 10 MiB held in blocks is
# 10 MiB in mallinfo2().uordblks, and mallopt(M_TRIM_THRESHOLD) sets
# GCLZONE_DIRTY_MAX and clears GCLZONE_DIRTY_SHARE (the JSON report at exit
# shows them).
LD_PRELOAD="$LIB" GCLZONE_SHOW_STATS=json "$T/mallinfo" >"$TMP/mi.out" 2>"$TMP/mi.err" || fail "mallinfo: $(cat "$TMP/mi.err")"
mi() { sed -n "s/^$1 //p" "$TMP/mi.out"; }
held=$(mi held)
# (The blocks' rounding up to their classes costs under a tenth here; the
# hardened mode's canaries and trailers, 16 bytes a block, under a quarter.)
slack=$((held / 10)); [ "$HARD" = 0 ] || slack=$((held / 4))
[ "$(mi uordblks)" -ge "$held" ] && [ "$(mi uordblks)" -le $((held + slack)) ] ||
  fail "mallinfo2: uordblks $(mi uordblks) for $held bytes held"
[ "$(mi hblkhd)" = 0 ] && [ "$(mi mallinfo.uordblks)" = "$(mi uordblks)" ] && [ "$(mi arena)" -ge "$(mi uordblks)" ] ||
  fail "mallinfo: $(cat "$TMP/mi.out")"
[ "$(mi mallopt.trim) $(mi mallopt.arena_max) $(mi mallopt.mmap_threshold)" = "1 0 0" ] || fail "mallopt: $(cat "$TMP/mi.out")"
[ "$(gclzone_stat options.DIRTY_MAX "$TMP/mi.err") $(gclzone_stat options.DIRTY_SHARE "$TMP/mi.err")" = "1048576 0" ] ||
  fail "mallopt(M_TRIM_THRESHOLD) did not set GCLZONE_DIRTY_MAX and clear GCLZONE_DIRTY_SHARE"
stats_use=$(sed -n 's/^in use bytes     = *//p' "$TMP/mi.err" | head -n 1) # after stdout's buffer was allocated
[ -n "$stats_use" ] && [ "$stats_use" -ge "$(mi uordblks)" ] && [ "$stats_use" -le $(($(mi uordblks) + 65536)) ] ||
  fail "malloc_stats: $(cat "$TMP/mi.err")"
grep -q '^gclzone: arena: ' "$TMP/mi.err" || fail "malloc_stats: no report of ours: $(cat "$TMP/mi.err")"
LD_PRELOAD="$LIB" "$T/mallinfo" xml >"$TMP/mi.xml" 2>/dev/null || fail "malloc_info: status $?"
python3 - "$TMP/mi.xml" "$held" <<'PY' || fail "malloc_info: $(cat "$TMP/mi.xml")"
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
held, g = int(sys.argv[2]), root.find("gclzone")
assert root.tag == "malloc" and root.get("version") == "1" and root.find("heap").get("nr") == "0"
assert int(g.get("in-use-bytes")) >= held and int(g.get("in-use-blocks")) >= 100004
assert int(root.find("system[@type='current']").get("size")) >= held
PY
ok "mallinfo2, mallinfo, malloc_stats, malloc_info (well-formed XML) and mallopt answer with the arena's figures: $(mi uordblks) bytes in use for $held held"

# (tst-tcfree3 reads its freed blocks to copy their bytes: the hardened mode
# rightly stops it, as a read of freed memory.)
if [ "$HARD" = 0 ]; then
got=$(LD_PRELOAD="$LIB" "$T/tcfree3" 2>&1) || fail "tcfree3: $got"
[ "$got" = "tcfree3: ok" ] || fail "tcfree3: $got"
ok "a live block holding a freed block's bytes is freed normally (glibc's tst-tcfree3), locally and remotely"
fi

got=$(GCLZONE_ARENA_SIZE=64M GCLZONE_HEAP_SIZE=16M timeout 120 env LD_PRELOAD="$LIB" "$T/exhaust") || fail "$got"
ok "$got"

if [ "$HARD" = 0 ]; then
got=$(GCLZONE_SCRIBBLE=1 LD_PRELOAD="$LIB" "$T/scribble") || fail "$got"
ok "GCLZONE_SCRIBBLE=1: $got"
if LD_PRELOAD="$LIB" "$T/scribble" >/dev/null; then fail "scribble passes without GCLZONE_SCRIBBLE"; fi
fi
for every in 1 3; do
  got=$(GCLZONE_CHECK=$every LD_PRELOAD="$LIB" "$T/threads" 50000) || fail "threads with GCLZONE_CHECK=$every"
  [ "$got" = "$(LD_PRELOAD="$LIB" "$T/threads" 50000)" ] || fail "threads with GCLZONE_CHECK=$every: $got"
  got=$(GCLZONE_CHECK=$every GCLZONE_ARENA_SIZE=64M LD_PRELOAD="$LIB" "$T/exhaust") || fail "exhaust with GCLZONE_CHECK=$every: $got"
done
ok "GCLZONE_CHECK=1 and =3: the validators pass through threads and exhaustion"

GCLZONE_SHOW_STATS=1 LD_PRELOAD=$LIB "$T/closed_stderr" 2>"$TMP/stats" || fail "closed_stderr"
grep -q '^gclzone: arena: .* in [1-9][0-9]* blocks' "$TMP/stats" || fail "no report after stderr was closed: $(cat "$TMP/stats")"
ok "GCLZONE_SHOW_STATS reports after the program closed stderr"

# -- python3 ---------------------------------------------------------------
# With GCLZONE_TEST_TRACE set, the script traces its allocations
# (tracemalloc) and writes Python's own count of its peak heap to stderr.
cat >"$TMP/work.py" <<'PY'
import os, sys, tracemalloc
tracing = "GCLZONE_TEST_TRACE" in os.environ
if tracing:
    tracemalloc.start()
import collections, fractions, hashlib, json, math, re, zlib
from concurrent.futures import ThreadPoolExecutor
data = [{"id": i, "name": "item%d" % i, "tags": ["t%d" % (i % 7)] * (i % 5)} for i in range(40000)]
s = json.dumps(data, sort_keys=True)
print(len(s), hashlib.sha256(s.encode()).hexdigest()[:32])
print(sum(len(d["tags"]) for d in json.loads(s)))
print(collections.Counter(re.findall(r"t\d", s)).most_common(3))
print(len(zlib.compress(s.encode(), 9)))
print(math.factorial(4000) % 10**30, sum(fractions.Fraction(1, k) for k in range(1, 400)).numerator % 10**15)
d = {}
for i in range(200000):
    d[str(i * 7919 % 100003)] = [i] * (i % 4)
    if i % 3 == 0:
        d.pop(str(i * 31 % 100003), None)
print(len(d), sum(len(v) for v in d.values()))
with ThreadPoolExecutor(4) as ex:
    print(sorted(ex.map(lambda k: hashlib.md5(("x" * k).encode()).hexdigest()[:8], range(0, 4000, 500))))
if tracing:
    sys.stderr.write("python-traced-peak %d\n" % tracemalloc.get_traced_memory()[1])
PY
want=$(PYTHONMALLOC=malloc $PY "$TMP/work.py")
got=$(PYTHONMALLOC=malloc GCLZONE_TEST_TRACE=1 env $EXIT_REPORT LD_PRELOAD=$LIB LD_DEBUG=bindings $PY "$TMP/work.py" 2>"$TMP/py.err")
[ "$got" = "$want" ] || fail "python3 output differs: $got"
# Debian's python3 is not PIE and takes malloc's address, so its PLT entry
# is the canonical malloc that libc binds to; that entry binds to us.
grep -q "binding file .*python3.* to $LIB .*symbol \`malloc'" "$TMP/py.err" || fail "python3's malloc did not bind to libgclzone"
grep -q "binding file .*libc.so.6 .* to $LIB .*symbol \`calloc'" "$TMP/py.err" || fail "libc's calloc calls did not bind to libgclzone"
# Under PYTHONMALLOC=malloc every object is a malloc: the arena's peak must
# hold Python's own peak of traced bytes (tens of MiB for this script).
set -- $(exit_report "$TMP/py.err")
[ $# -eq 4 ] || fail "python3: no stats report"
traced=$(sed -n 's/^python-traced-peak \([0-9]*\)$/\1/p' "$TMP/py.err")
[ -n "$traced" ] && [ "$traced" -ge 10000000 ] || fail "python3: Python's traced peak is '$traced' bytes"
[ "$3" -ge "$traced" ] || fail "python3: arena peak $3 bytes < Python's own traced peak $traced"
ok "python3 (PYTHONMALLOC=malloc): identical output; malloc bound to libgclzone; arena peak $(mib "$3") against Python's traced peak $(mib "$traced")"

# -- sqlite3 ---------------------------------------------------------------
cat >"$TMP/work.sql" <<'SQL'
create table t(id integer primary key, a text, b real);
with recursive c(x) as (select 1 union all select x + 1 from c where x < 60000)
  insert into t select x, printf('row%08d', x * 7919 % 60000), x * 1.5 from c;
create index ta on t(a);
select count(*), sum(b), min(a), max(a) from t;
select a from t order by a desc limit 3;
select substr(group_concat(a), 1, 60) from (select a from t where id % 1000 = 0 order by a);
update t set b = b * 2 where id % 3 = 0;
select sum(b) from t;
delete from t where id % 2 = 0;
select count(*), total(length(a)) from t;
select x.a, count(*) from t x join t y on substr(x.a, 1, 6) = substr(y.a, 1, 6) where x.id < 200 group by x.a order by 2 desc, 1 limit 3;
SQL
want=$(sqlite3 :memory: <"$TMP/work.sql")
# The preloaded run ends with .stats: SQLite's own count of its heap
# ("Memory Used: N (max M) bytes"), which the output comparison leaves out.
got=$({ cat "$TMP/work.sql"; echo .stats; } | env $EXIT_REPORT LD_PRELOAD=$LIB LD_DEBUG=bindings sqlite3 :memory: 2>"$TMP/sq.err")
sqpeak=$(echo "$got" | sed -n 's/^Memory Used: *[0-9]* (max \([0-9]*\)) bytes$/\1/p')
got=$(echo "$got" | sed '/^Memory Used: /,$d')
[ "$got" = "$want" ] || fail "sqlite3 output differs: $got"
grep -q "binding file .*libsqlite3.so.* to $LIB .*symbol \`malloc'" "$TMP/sq.err" || fail "sqlite3's malloc did not bind to libgclzone"
set -- $(exit_report "$TMP/sq.err")
[ $# -eq 4 ] || fail "sqlite3: no stats report"
[ -n "$sqpeak" ] && [ "$sqpeak" -ge 4000000 ] || fail "sqlite3: SQLite's own peak is '$sqpeak' bytes"
[ "$3" -ge "$sqpeak" ] || fail "sqlite3: arena peak $3 bytes < SQLite's own peak of memory used $sqpeak"
ok "sqlite3: identical output; malloc bound to libgclzone; arena peak $(mib "$3") against SQLite's own peak $(mib "$sqpeak")"

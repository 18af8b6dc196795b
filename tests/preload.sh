#!/bin/sh
# Preload tests: small programs and real Debian programs run with
# LD_PRELOAD=libgclzone.so; their output must equal the run under the system
# malloc, and their malloc must really bind to libgclzone.
. "$(dirname "$0")/lib.sh"
T=$BUILD/tests/preload
PY=/usr/bin/python3
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
cat >"$TMP/work.py" <<'PY'
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
PY
want=$(PYTHONMALLOC=malloc $PY "$TMP/work.py")
got=$(PYTHONMALLOC=malloc GCLZONE_SHOW_STATS=1 LD_PRELOAD=$LIB LD_DEBUG=bindings $PY "$TMP/work.py" 2>"$TMP/py.err")
[ "$got" = "$want" ] || fail "python3 output differs: $got"
# Debian's python3 is not PIE and takes malloc's address, so its PLT entry
# is the canonical malloc that libc binds to; that entry binds to us.
grep -q "binding file .*python3.* to $LIB .*symbol \`malloc'" "$TMP/py.err" || fail "python3's malloc did not bind to libgclzone"
grep -q "binding file .*libc.so.6 .* to $LIB .*symbol \`calloc'" "$TMP/py.err" || fail "libc's calloc calls did not bind to libgclzone"
peak=$(sed -n 's/^gclzone: arena: .*(peak \([0-9.]* [KMG]iB\)), .* committed.*/\1/p' "$TMP/py.err")
[ -n "$peak" ] || fail "python3: no stats report"
ok "python3 (PYTHONMALLOC=malloc): identical output; malloc bound to libgclzone; arena peak $peak"

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
got=$(GCLZONE_SHOW_STATS=1 LD_PRELOAD=$LIB LD_DEBUG=bindings sqlite3 :memory: <"$TMP/work.sql" 2>"$TMP/sq.err")
[ "$got" = "$want" ] || fail "sqlite3 output differs: $got"
grep -q "binding file .*libsqlite3.so.* to $LIB .*symbol \`malloc'" "$TMP/sq.err" || fail "sqlite3's malloc did not bind to libgclzone"
grep -q '^gclzone: arena: ' "$TMP/sq.err" || fail "sqlite3: no stats report"
ok "sqlite3: identical output; malloc bound to libgclzone"

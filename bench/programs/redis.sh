#!/bin/sh
# redis.sh BINDIR SCALE: redis as a server in the benchmark suite. BINDIR
# holds redis-server, redis-benchmark and redis-cli built from Debian's
# source package with MALLOC=libc (tests/redis_build.sh), so that the
# allocator under test (LD_PRELOAD, given to the server only; the clients
# run on the system malloc) serves the server's every allocation.
#
# One server on 127.0.0.1, and:
#  1. a dataset in db 0 built by a Lua script (deterministic: 30000 strings
#     of 1 to 2000 bytes, 200 lists, 500 hashes, x SCALE);
#  2. redis-benchmark on db 1: 14 tests (set, get, incr, lists, sets,
#     hashes, sorted sets, lrange, mset) of 12000 requests x SCALE each, 8
#     clients, 16 commands pipelined, random keys among 100000 and 128-byte
#     values;
#  3. a Lua script that deletes a third of db 0's strings and appends to
#     another third (reallocations), then db 1 is flushed (the whole
#     benchmark dataset freed at once);
#  4. the result: `check=` is db 0's digest (DEBUG DIGEST over all
#     databases, db 1 being empty), which depends only on steps 1 and 3.
# The run fails unless the server reports mem_allocator:libc.
set -eu
bin=$1
scale=$2
pre=${LD_PRELOAD:-}
unset LD_PRELOAD
tmp=$(mktemp -d)
pid=""
trap '[ -z "$pid" ] || kill "$pid" 2>/dev/null || true; rm -rf "$tmp"' EXIT
n() { awk -v s="$scale" -v n="$1" 'BEGIN { v = int(n * s); print v < 1 ? 1 : v }'; }

# A free port: the server must start on it and answer with its own pid (a
# server of someone else's may listen on any port of this shared machine).
for try in 1 2 3 4 5 6 7 8; do
  port=$((20000 + ($$ * 7 + try * 1013) % 30000))
  env ${pre:+LD_PRELOAD=$pre} "$bin/redis-server" --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
    --daemonize no --enable-debug-command local --dir "$tmp" --logfile "$tmp/server.log" &
  pid=$!
  i=0
  while kill -0 "$pid" 2>/dev/null; do
    got=$("$bin/redis-cli" -p "$port" info server 2>/dev/null | sed -n 's/^process_id:\([0-9]*\).*/\1/p')
    [ "$got" != "$pid" ] || break
    i=$((i + 1))
    [ $i -lt 200 ] || { echo "redis.sh: the server on $port did not answer" >&2; exit 1; }
    sleep 0.01
  done
  kill -0 "$pid" 2>/dev/null && break
  wait "$pid" 2>/dev/null || true
  pid=""
done
[ -n "$pid" ] || { echo "redis.sh: no free port: $(tail -2 "$tmp/server.log")" >&2; exit 1; }
cli() { "$bin/redis-cli" -p "$port" "$@"; }

keys=$(n 30000)
cli eval "for i = 1, $keys do
    redis.call('set', 'k' .. i, string.rep(string.char(97 + i % 26), (i * 7919) % 2000 + 1))
    if i % 3 == 0 then redis.call('rpush', 'l' .. (i % 200), i) end
    if i % 5 == 0 then redis.call('hset', 'h' .. (i % 500), 'f' .. i, string.rep('x', i % 100)) end
  end return redis.call('dbsize')" 0 >"$tmp/load"
"$bin/redis-benchmark" -p "$port" --dbnum 1 -q -r 100000 -n "$(n 12000)" -c 8 -P 16 -d 128 \
  -t set,get,incr,lpush,rpush,lpop,rpop,sadd,hset,spop,zadd,zpopmin,lrange_100,mset >"$tmp/bench" 2>&1 ||
  { tail -3 "$tmp/bench" >&2; exit 1; }
cli eval "for i = 1, $keys, 3 do redis.call('del', 'k' .. i) end
  for i = 2, $keys, 3 do redis.call('append', 'k' .. i, string.rep('y', i % 700)) end
  return redis.call('dbsize')" 0 >"$tmp/mutate"
cli -n 1 flushdb >/dev/null
alloc=$(cli info memory | tr -d '\r' | sed -n 's/^mem_allocator://p')
digest=$(cli debug digest | tr -d '\r')
dbsize=$(cli dbsize | tr -d '\r')
cli shutdown nosave >/dev/null 2>&1 || true
wait "$pid" 2>/dev/null || true
pid=""
[ "$alloc" = libc ] || { echo "redis.sh: the server's mem_allocator is '$alloc', not libc" >&2; exit 1; }
rps=$(awk '{ for (i = 1; i <= NF; i++) if ($i == "requests") { s += $(i - 1); n++ } } END { if (n) printf "%.0f", s / n }' "$tmp/bench")
echo "bench: keys=$dbsize rps_mean=${rps:-0} check=$digest"

#!/bin/sh
# Real programs from Debian under LD_PRELOAD=libgclzone.so, each compared with
# the same run under the system malloc: emacs (batch elisp with bignums),
# guile (bignums, strings, vectors), and redis-server driven by
# redis-benchmark on 127.0.0.1 (the dataset's digest and counters must
# match). GCLZONE_SHOW_STATS proves our arena served them. A few seconds
# each; GCLZONE_TEST_SCALE=10 (make check-long) makes them longer.
set -eu
BUILD=${BUILD:-build}
LIB=$(cd "$BUILD" && pwd)/libgclzone.so
DIR=$(cd "$(dirname "$0")" && pwd)/programs
SCALE=${GCLZONE_TEST_SCALE:-1}
export GCLZONE_TEST_SCALE=$SCALE
TMP=$(mktemp -d)
trap 'for p in $(cat "$TMP"/*.pid 2>/dev/null); do kill "$p" 2>/dev/null || true; done; rm -rf "$TMP"' EXIT
fail() { echo "programs.sh: FAIL: $*"; exit 1; }

# served: the stats report on $1 shows blocks in our arena
served() {
  n=$(sed -n 's/^gclzone: arena: .* in \([0-9]*\) blocks.*(peak \([0-9.]* [KMG]iB\)), .*committed.*/\1 \2/p' "$1")
  [ -n "$n" ] || fail "$2: no libgclzone report: $(tail -3 "$1")"
  echo "$n"
}

want=$(emacs -Q --batch -l "$DIR/bignums.el" 2>&1)
got=$(GCLZONE_SHOW_STATS=1 LD_PRELOAD="$LIB" emacs -Q --batch -l "$DIR/bignums.el" 2>"$TMP/emacs.err") ||
  fail "emacs: $(cat "$TMP/emacs.err")"
[ "$got" = "$want" ] || fail "emacs output differs: $got"
set -- $(served "$TMP/emacs.err" emacs)
echo "programs.sh: emacs (batch elisp, bignums): identical output; $1 blocks live at exit, arena peak $2 $3"

want=$(guile --no-auto-compile "$DIR/bignums.scm" 2>&1)
got=$(GCLZONE_SHOW_STATS=1 LD_PRELOAD="$LIB" guile --no-auto-compile "$DIR/bignums.scm" 2>"$TMP/guile.err") ||
  fail "guile: $(cat "$TMP/guile.err")"
[ "$got" = "$want" ] || fail "guile output differs: $got"
set -- $(served "$TMP/guile.err" guile)
echo "programs.sh: guile (bignums, strings, vectors): identical output; $1 blocks live at exit, arena peak $2 $3"

# redis: one server under each malloc, the same traffic, the same dataset.
redis_run() { # port preload(yes/no)
  port=$1
  if [ "$2" = yes ]; then pre="LD_PRELOAD=$LIB GCLZONE_SHOW_STATS=1"; else pre=""; fi
  env $pre redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --daemonize no \
    --enable-debug-command local --dir "$TMP" --logfile "$TMP/redis$port.log" >"$TMP/redis$port.out" 2>&1 &
  echo $! >"$TMP/redis$port.pid"
  i=0
  until redis-cli -p "$port" ping >/dev/null 2>&1; do
    i=$((i + 1)); [ $i -lt 100 ] || fail "redis-server on $port did not start: $(cat "$TMP/redis$port.log")"; sleep 0.05
  done
  redis-benchmark -p "$port" -n $((4000 * SCALE)) -c 8 -q -t set,get,incr,lpush,rpush,lpop,sadd,hset,zadd,lrange,mset \
    -d 100 >"$TMP/bench$port" 2>&1 || fail "redis-benchmark against $port: $(tail -3 "$TMP/bench$port")"
  redis-cli -p "$port" eval "for i=1,$((20000 * SCALE)) do redis.call('set','k'..i,string.rep('v',i%300)) \
    redis.call('rpush','l'..(i%50),i) end return redis.call('dbsize')" 0 >"$TMP/state$port"
  for c in "get counter:__rand_int__" "llen mylist" "scard myset" "hlen myhash" "zcard myzset" "dbsize" \
           "strlen k299" "lrange l7 0 4" "debug digest"; do
    redis-cli -p "$port" $c >>"$TMP/state$port"
  done
  redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
  wait "$(cat "$TMP/redis$port.pid")" 2>/dev/null || true
  rm -f "$TMP/redis$port.pid"
}
redis_run 6391 no
redis_run 6392 yes
cmp -s "$TMP/state6391" "$TMP/state6392" || fail "redis dataset differs: $(diff "$TMP/state6391" "$TMP/state6392" | head)"
[ "$(head -n 1 "$TMP/state6392")" -ge $((20000 * SCALE)) ] || fail "redis: the dataset is missing: $(head -3 "$TMP/state6392")"
set -- $(served "$TMP/redis6392.out" redis)
echo "programs.sh: redis-server + redis-benchmark ($((4000 * SCALE)) requests per test, 11 tests) and a Lua load: identical dataset digest; arena peak $2 $3"

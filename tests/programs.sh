#!/bin/sh
# Real programs under LD_PRELOAD=libgclzone.so, each compared with the same
# run under the system malloc: Debian's emacs (batch elisp with bignums) and
# guile (bignums, strings, vectors, regexps), and redis built from Debian's
# source on the system malloc (tests/redis_build.sh: Debian's redis-server
# is linked with its own jemalloc) driven by redis-benchmark and a Lua load
# on 127.0.0.1, whose dataset digest must match.
#
# Identical output does not show that our malloc served the program, so
# each run's exit report (GCLZONE_SHOW_STATS=json, read by exit_report.sh) must
# hold a figure that no program bypassing us could produce, in proportion
# to the program's work and, where the program counts its own memory, to
# its own count: emacs's live Lisp bytes after a collection, guile's live
# compiled regexps (glibc's regcomp mallocs) and its 16 MiB UTF-8
# conversion, redis's keys and its own peak of allocated bytes
# (INFO memory, the sum of malloc_usable_size), with mem_allocator:libc.
# A few seconds each (and about a minute for the first redis build);
# GCLZONE_TEST_SCALE=10 (make check-long) makes them longer.
. "$(dirname "$0")/lib.sh"
HERE=$ROOT/tests
DIR=$HERE/programs
SCALE=${GCLZONE_TEST_SCALE:-1}
export GCLZONE_TEST_SCALE=$SCALE
trap 'for p in $(cat "$TMP"/*.pid 2>/dev/null); do kill "$p" 2>/dev/null || true; done; rm -rf "$TMP"' EXIT
. "$HERE/exit_report.sh"

# report FILE PROGRAM: sets blocks, live, peak (bytes in spans) from the exit report.
report() {
  set -- "$1" "$2" $(exit_report "$1")
  [ $# -eq 6 ] || fail "$2: no libgclzone exit report: $(tail -3 "$1")"
  blocks=$3 live=$4 peak=$5
}
# atleast WHAT VALUE BOUND: VALUE >= BOUND, or fail.
atleast() { [ "$2" -ge "$3" ] || fail "$1: $2 < $3"; }

# -- emacs ------------------------------------------------------------------
want=$(emacs -Q --batch -l "$DIR/bignums.el" 2>/dev/null)
got=$(env $EXIT_REPORT LD_PRELOAD="$LIB" emacs -Q --batch -l "$DIR/bignums.el" 2>"$TMP/emacs.err") ||
  fail "emacs: $(cat "$TMP/emacs.err")"
[ "$got" = "$want" ] || fail "emacs output differs: $got"
report "$TMP/emacs.err" emacs
lisp=$(sed -n 's/^lisp-live-bytes \([0-9]*\) .*/\1/p' "$TMP/emacs.err")
[ -n "$lisp" ] || fail "emacs: no count of live Lisp bytes: $(cat "$TMP/emacs.err")"
atleast "emacs: live Lisp bytes (by garbage-collect) of at least 1.5 MB x scale" "$lisp" $((1500000 * SCALE))
atleast "emacs: bytes live in our arena at exit against Emacs's own live Lisp bytes" "$live" "$lisp"
ok "emacs (batch elisp, bignums): identical output; $blocks blocks and $(mib "$live") live in our arena at exit, Emacs counts $(mib "$lisp") of live objects"

# -- guile ------------------------------------------------------------------
want=$(guile --no-auto-compile "$DIR/bignums.scm" 2>&1)
got=$(env $EXIT_REPORT LD_PRELOAD="$LIB" guile --no-auto-compile "$DIR/bignums.scm" 2>"$TMP/guile.err") ||
  fail "guile: $(cat "$TMP/guile.err")"
[ "$got" = "$want" ] || fail "guile output differs: $got"
report "$TMP/guile.err" guile
# glibc's regcomp leaves dozens of blocks per compiled pattern (77 for these).
atleast "guile: blocks live at exit for $((1000 * SCALE)) compiled regexps" "$blocks" $((10 * 1000 * SCALE))
atleast "guile: arena peak against the 16 MiB x scale UTF-8 copy" "$peak" $((16 * 1048576 * SCALE))
ok "guile (bignums, strings, vectors, regexps): identical output; $blocks blocks live at exit, arena peak $(mib "$peak")"

# -- redis --------------------------------------------------------------------
sh "$HERE/redis_build.sh" "$BUILD" || fail "redis: could not build it (./make.sh check sets up Debian's source)"
R=$BUILD/redis/bin
# redis_run NAME PRELOAD(yes/no): one server, the same traffic, the state in $TMP/state.NAME.
redis_run() {
  name=$1
  pre=""
  [ "$2" = no ] || pre="LD_PRELOAD=$LIB $EXIT_REPORT"
  # A free port: the server must start on it and answer with its own pid (the
  # machine is shared: a server of someone else's may listen anywhere).
  port=""
  for try in 1 2 3 4 5 6 7 8; do
    p=$((20000 + ($$ * 7 + try * 1013 + ${#name} * 331) % 30000))
    env $pre "$R/redis-server" --port "$p" --bind 127.0.0.1 --save "" --appendonly no --daemonize no \
      --enable-debug-command local --dir "$TMP" --logfile "$TMP/redis.$name.log" >"$TMP/redis.$name.out" 2>&1 &
    pid=$!
    echo $pid >"$TMP/redis.$name.pid"
    i=0
    while kill -0 $pid 2>/dev/null; do
      [ "$("$R/redis-cli" -p "$p" info server 2>/dev/null | tr -d '\r' | sed -n 's/^process_id://p')" != $pid ] || { port=$p; break; }
      i=$((i + 1)); [ $i -lt 200 ] || fail "redis-server on $p did not answer: $(cat "$TMP/redis.$name.log")"
      sleep 0.05
    done
    [ -z "$port" ] || break
    wait $pid 2>/dev/null || true
  done
  [ -n "$port" ] || fail "redis: no free port: $(tail -3 "$TMP/redis.$name.log")"
  "$R/redis-benchmark" -p "$port" -n $((4000 * SCALE)) -c 8 -q -t set,get,incr,lpush,rpush,lpop,sadd,hset,zadd,lrange,mset \
    -d 100 >"$TMP/bench.$name" 2>&1 || fail "redis-benchmark against $port: $(tail -3 "$TMP/bench.$name")"
  # The Lua load returns the number of keys and the bytes of the values it set.
  "$R/redis-cli" -p "$port" eval "local bytes = 0
    for i = 1, $((20000 * SCALE)) do redis.call('set', 'k'..i, string.rep('v', i % 300)) bytes = bytes + i % 300
      redis.call('rpush', 'l'..(i % 50), i) end
    return {redis.call('dbsize'), bytes}" 0 >"$TMP/state.$name"
  for c in "get counter:__rand_int__" "llen mylist" "scard myset" "hlen myhash" "zcard myzset" "dbsize" \
           "strlen k299" "lrange l7 0 4" "debug digest"; do
    "$R/redis-cli" -p "$port" $c >>"$TMP/state.$name"
  done
  "$R/redis-cli" -p "$port" info memory | tr -d '\r' >"$TMP/memory.$name"
  "$R/redis-cli" -p "$port" shutdown nosave >/dev/null 2>&1 || true
  wait $pid 2>/dev/null || true
  rm -f "$TMP/redis.$name.pid"
  grep -qx 'mem_allocator:libc' "$TMP/memory.$name" ||
    fail "redis ($name): not on the libc malloc: $(grep mem_allocator "$TMP/memory.$name")"
}
redis_run system no
redis_run gclzone yes
cmp -s "$TMP/state.system" "$TMP/state.gclzone" ||
  fail "redis dataset differs: $(diff "$TMP/state.system" "$TMP/state.gclzone" | head)"
keys=$(sed -n 1p "$TMP/state.gclzone")
bytes=$(sed -n 2p "$TMP/state.gclzone")
atleast "redis: keys of the dataset" "$keys" $((20000 * SCALE))
report "$TMP/redis.gclzone.out" redis
used_peak=$(sed -n 's/^used_memory_peak://p' "$TMP/memory.gclzone")
atleast "redis: blocks live at exit against the dataset's keys" "$blocks" "$keys"
atleast "redis: bytes live at exit against the dataset's value bytes" "$live" "$bytes"
atleast "redis: arena peak against redis's own peak of allocated bytes" "$peak" "$used_peak"
ok "redis (MALLOC=libc, $(cat "$R/VERSION")) + redis-benchmark ($((4000 * SCALE)) requests per test, 11 tests) and a Lua load: mem_allocator:libc, identical dataset digest; at exit $blocks blocks and $(mib "$live") live in our arena for $keys keys of $(mib "$bytes") of values, arena peak $(mib "$peak") (redis's own peak $(mib "$used_peak"))"

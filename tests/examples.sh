#!/bin/sh
# examples.sh: the examples do what they say, and bin/gclzone-run passes its
# flags on.
#  - minilisp: exact results (the same as Python's and examples/gmp's), many
#    collections, a heap that grew and shrank with gclzone_sbrk, every check
#    of the separation passed; without the gclzone_walk roots it must fail;
#    a world saved in a heap image and three generations started from it;
#  - hello, preloaded: the report at exit counts its 1000 blocks;
#  - link: the region has the sizes and the fixed base it asked for;
#  - gclzone-run: each flag reaches the library.
. "$(dirname "$0")/lib.sh"
root=$ROOT
run="$root/bin/gclzone-run"
lib=$LIB
export GCLZONE_LIB="$lib" # gclzone-run preloads this build's library

# ---- minilisp ------------------------------------------------------------------
expected='100! has 158 digits, digit sum 648
1000! has 2568 digits, digit sum 10539
3000! has 9131 digits, digit sum 37602
fib(5000) has 1045 digits, digit sum 4764
3^10000 mod 1000000007 = 895629451
1! + 2! + ... + 300! has 615 digits
100 rounds of iota, filter, map and sum over 3000 numbers: 300450150000
primes below 20000: 2262 sum 21171191 largest 19997
merge sort of 20000 pseudo-random numbers: first 42 last 2147403034 sum 21452962000176 ordered t'
out=$("$BUILD/examples/minilisp" --map "$root/examples/minilisp/demo.lisp") || fail "minilisp: $out"
[ "$(printf '%s\n' "$out" | head -n 9)" = "$expected" ] || fail "minilisp: wrong results: $out"
for l in '[0-9]* collections' 'GC heap' 'checked at every collection' 'the GC heap and the GMP limbs never overlapped'; do
  printf '%s\n' "$out" | grep -q "^minilisp: $l" || fail "minilisp: no line '$l' in: $out"
done
line() { printf '%s\n' "$out" | grep "^minilisp: $1"; }
set -- $(line '[0-9]* collections' | sed 's/[^0-9 ]//g')
[ "$1" -ge 500 ] && [ "$2" -ge 5 ] && [ "$3" -ge 1 ] ||
  fail "minilisp: $1 collections, grew $2 times, shrank $3 times: $out"
set -- $(line 'checked at every collection' | sed 's/[^0-9 ]//g')
[ "$1" -ge 100000 ] && [ "$2" -ge 100000 ] && [ "$3" -ge 1000 ] ||
  fail "minilisp: $1 limb arrays, $2 arena blocks, $3 pointers from malloc'd memory"
# The GC heap's range lies in the host heap's, which the region map confirms.
set -- $(line 'GC heap' | sed 's/.*GC heap \(0x[0-9a-f]*\)-\(0x[0-9a-f]*\) .* host heap \(0x[0-9a-f]*\)-\(0x[0-9a-f]*\);.*/\1 \2 \3 \4/')
[ $(($1)) -ge $(($3)) ] && [ $(($2)) -le $(($4)) ] && [ $(($1)) -lt $(($2)) ] || fail "minilisp: GC heap $1-$2, host heap $3-$4"
printf '%s\n' "$out" | grep -q "^gclzone:   host heap $3 " || fail "minilisp: the region map disagrees: $out"
printf '%s\n' "$out" | grep -q '^gclzone:   arena ' || fail "minilisp: no region map"
ok "minilisp: exact results; $(line '[0-9]* collections' | sed 's/^minilisp: //')"

# Without the walk, nothing keeps the symbol table's symbols alive.
if err=$("$BUILD/examples/minilisp" --no-walk "$root/examples/minilisp/demo.lisp" 2>&1); then
  fail "minilisp --no-walk succeeded: gclzone_walk would not matter"
fi
printf '%s\n' "$err" | grep -q 'a symbol was collected' || fail "minilisp --no-walk: $err"
ok "minilisp --no-walk loses its globals: the malloc'd roots come from gclzone_walk"

# ---- minilisp and heap images ---------------------------------------------------------
# Build the world from source and save it; start from the image (its data
# there without recomputing), work on it, save again; start from that.
lisp=$BUILD/examples/minilisp
out=$( (cat "$root/examples/minilisp/world.lisp"; echo "(save-image \"$TMP/world.img\")") | "$lisp") || fail "world.lisp: $out"
printf '%s\n' "$out" | grep -q '^the world: 500 factorials, the 3245 primes below 30000, 7^20000 with digit sum 75622$' ||
  fail "world.lisp: $out"
printf '%s\n' "$out" | grep -q "^minilisp: saved the world to $TMP/world.img in " || fail "world.lisp did not save: $out"
out=$( (cat "$root/examples/minilisp/use.lisp"; echo "(save-image \"$TMP/world2.img\")") | "$lisp" --image "$TMP/world.img") ||
  fail "use.lisp: $out"
[ "$(printf '%s\n' "$out" | sed -n 2,4p | sed 's/after [0-9]* ms/after N ms/')" = 'ready after N ms, with 3245 primes and 500 factorials from the image
500! has 1135 digits; the 3000th prime is 27449 ; 7^20000 has 16902 digits and digit sum 75622
after 8558550 of churn, the sum of cubes up to 30000 is 202513500225000000' ] || fail "use.lisp: $out"
printf '%s\n' "$out" | grep -q '^minilisp: started from the image, ready [0-9.]* ms into main: 67 symbols' || fail "use.lisp: $out"
printf '%s\n' "$out" | grep -q '^minilisp: the GC heap and the GMP limbs never overlapped' || fail "use.lisp: $out"
set -- $(printf '%s\n' "$out" | grep '^minilisp: [0-9]* collections' | sed 's/[^0-9 ]//g')
[ "$1" -ge 50 ] || fail "use.lisp: $1 collections"
# The third generation: its own data and the first's; by GCLZONE_IMAGE and by gclzone-run --image too.
q='(print (length cubes) (length primes) (digits (last factorials)))'
for how in "--image $TMP/world2.img" env run; do
  case $how in
    env) got=$(echo "$q" | GCLZONE_IMAGE="$TMP/world2.img" "$lisp") ;;
    run) got=$(echo "$q" | "$run" --image="$TMP/world2.img" "$lisp") ;;
    *) got=$(echo "$q" | "$lisp" $how) ;;
  esac || fail "minilisp, third generation ($how): $got"
  printf '%s\n' "$got" | grep -q '^30000 3245 1135$' || fail "minilisp, third generation ($how): $got"
done
if err=$("$lisp" --image "$TMP/none.img" </dev/null 2>&1); then fail "minilisp --image of no file succeeded"; fi
[ "$err" = "minilisp: cannot start from the image: No such file or directory" ] || fail "minilisp --image of no file: $err"
ok "minilisp: a world saved by (save-image), restarted with --image, GCLZONE_IMAGE and gclzone-run --image, worked on and saved again"

# ---- hello (preloaded) ------------------------------------------------------------
out=$(GCLZONE_SHOW_STATS=json "$BUILD/examples/hello" 2>&1)
printf '%s\n' "$out" | grep -q '^{"gclzone"' && fail "hello reports without libgclzone: $out"
out=$(GCLZONE_SHOW_STATS=json LD_PRELOAD="$lib" "$BUILD/examples/hello" 2>&1)
n=$(printf '%s\n' "$out" | gclzone_stat stats.in_use_blocks)
[ "$n" -ge 1000 ] || fail "hello, preloaded: $out"
[ "$(printf '%s\n' "$out" | gclzone_stat front)" = elf ] || fail "hello, preloaded: not the ELF front end: $out"
printf '%s\n' "$out" | grep -q '^hello: 1000 blocks of 48 bytes kept; the last one says "block 999"$' || fail "hello: $out"
ok "hello, preloaded: the JSON report at exit counts $n blocks"

# ---- link ---------------------------------------------------------------------------
out=$("$BUILD/examples/link") || fail "link: $out"
[ "$out" = 'link: host heap 0x300000000000, 1024 MiB, break 0x300001000000
link: arena     0x300041000000, 2048 MiB
link: gclzone_sbrk gave the base: yes
link: a malloc'"'"'d block is in the arena: yes' ] || fail "link: $out"
ok "link: gclzone_init placed a 1 GiB host heap at 0x300000000000 and a 2 GiB arena"

# ---- gclzone-run ----------------------------------------------------------------------
"$run" --help | grep -q '^Usage: gclzone-run' || fail "gclzone-run --help"
for bad in "" "--bogus true" "--stats=1 true" "--heap-size"; do
  if "$run" $bad >/dev/null 2>&1; then fail "gclzone-run $bad: accepted"; else [ $? -eq 2 ] || fail "gclzone-run $bad: not 2"; fi
done
set +e
"$run" --stats -- sh -c 'exit 7' 2>/dev/null
[ $? -eq 7 ] || fail "gclzone-run does not pass the exit status on"
set -e
[ "$("$run" sh -c 'echo "$LD_PRELOAD"')" = "$lib" ] || fail "gclzone-run: wrong LD_PRELOAD"
[ "$(LD_PRELOAD=/x.so "$run" --lib="$BUILD/libgclzone.so" sh -c 'echo "$LD_PRELOAD"' 2>/dev/null)" = "$lib /x.so" ] ||
  fail "gclzone-run: --lib, or the caller's LD_PRELOAD lost"
if [ "$lib" = "$root/build/libgclzone.so" ]; then # found next to the script, in the source tree
  [ "$(env -u GCLZONE_LIB "$run" sh -c 'echo "$LD_PRELOAD"')" = "$lib" ] || fail "gclzone-run does not find build/"
fi

# --stats asks for the human report: its blocks figure.
report_blocks() { printf '%s\n' "$1" | sed -n 's/^gclzone: arena: .* in \([0-9]*\) blocks,.*/\1/p'; }
out=$("$run" --stats "$BUILD/examples/hello" 2>&1)
[ "$(report_blocks "$out")" -ge 1000 ] || fail "gclzone-run --stats: $out"
printf '%s\n' "$out" | grep -q '^gclzone:   arena' && fail "gclzone-run --stats prints the map: $out"
out=$("$run" --map --heap-size=1G --arena-size 2G --base=0x300000000000 "$BUILD/examples/hello" 2>&1)
printf '%s\n' "$out" | grep -q '^gclzone:   host heap 0x300000000000  0 B used of 1.0 GiB' || fail "gclzone-run --map/--heap-size/--base: $out"
printf '%s\n' "$out" | grep -q '^gclzone:   arena     0x[0-9a-f]*  .* of 2.0 GiB,' || fail "gclzone-run --arena-size: $out"
out=$("$run" --base=brk --map "$BUILD/examples/hello" 2>&1)
printf '%s\n' "$out" | grep -q '^gclzone:   host heap 0x[0-9a-f]*  ' || fail "gclzone-run --base=brk: $out"
"$run" --no-sbrk "$BUILD/tests/preload/bound" sbrk-off >/dev/null || fail "gclzone-run --no-sbrk: sbrk is still ours"
"$run" "$BUILD/tests/preload/bound" >/dev/null || fail "gclzone-run: sbrk is not ours"
out=$("$run" --stats --purge-delay=0 --dirty-max=0 "$BUILD/examples/hello" 2>&1) || fail "gclzone-run --purge-delay/--dirty-max: $out"
printf '%s\n' "$out" | grep -q warning && fail "gclzone-run: the library rejected a flag: $out"
set +e
{ err=$("$run" --image="$TMP/none.img" "$BUILD/examples/hello" 2>&1); status=$?; } 2>/dev/null # and the shell's "Aborted"
set -e
[ $status -eq 134 ] && [ "$err" = "gclzone: fatal: cannot start from the image $TMP/none.img: no such file" ] ||
  fail "gclzone-run --image: status $status: $err"
ok "gclzone-run: --stats, --map, --heap-size, --arena-size, --base, --no-sbrk, --purge-delay, --dirty-max, --image, --lib, exit status"

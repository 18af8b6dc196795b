/* mix.c: a single thread with a live set and a stream of small sizes, the
 * pattern of cfrac, espresso or an interpreter.
 *
 * 20000 live slots; each step either replaces a random slot (check and free
 * the old block, allocate and stamp a new one) or, one time in four,
 * allocates a temporary and frees it at once. Sizes are mostly under 64
 * bytes with a tail to 4 KiB (bench_small_size).
 *
 *   mix             60 million steps x BENCH_SCALE
 */
#include "../bench.h"

#define SLOTS 20000

static void *block[SLOTS];
static uint32_t bsize[SLOTS];

int main(void) {
  long steps = bench_scaled(60000000);
  bench_rng_t r = {777};
  uint64_t check = 0;
  for (int i = 0; i < SLOTS; i++) {
    bsize[i] = (uint32_t)bench_small_size(&r);
    if (!(block[i] = malloc(bsize[i]))) bench_fail("mix: malloc failed");
    bench_stamp(block[i], bsize[i], (uint64_t)i);
  }
  for (long s = 0; s < steps; s++) {
    uint64_t x = bench_rand(&r);
    size_t size = bench_small_size(&r);
    if ((x & 3) == 0) {
      volatile char *t = malloc(size);
      if (!t) bench_fail("mix: malloc(%zu) failed", size);
      t[0] = 1;
      t[size - 1] = 2;
      check = bench_mix(check, (uint64_t)(t[0] + t[size - 1]));
      free((void *)t);
      continue;
    }
    unsigned v = (unsigned)((x >> 8) % SLOTS);
    if (!bench_stamp_ok(block[v], bsize[v], (uint64_t)v)) bench_fail("mix: block %u overwritten", v);
    free(block[v]);
    if (!(block[v] = malloc(size))) bench_fail("mix: malloc(%zu) failed", size);
    bsize[v] = (uint32_t)size;
    bench_stamp(block[v], size, (uint64_t)v);
    check = bench_mix(check, size);
  }
  for (int i = 0; i < SLOTS; i++) {
    if (!bench_stamp_ok(block[i], bsize[i], (uint64_t)i)) bench_fail("mix: block %d overwritten", i);
    free(block[i]);
  }
  bench_result("steps=%ld check=%016llx", steps, (unsigned long long)check);
  return 0;
}

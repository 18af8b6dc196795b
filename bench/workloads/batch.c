/* batch.c: many small blocks allocated, then freed in one batch (a
 * compiler's pass, a request's arena, a collector's sweep).
 *
 * Each round allocates 500000 stamped blocks of 16 to 128 bytes, then
 * checks and frees all of them: in allocation order, in reverse order, or
 * in a scattered order (a stride coprime to the count), round by round.
 * The next round must reuse the memory the last one freed.
 *
 *   batch           24 rounds x BENCH_SCALE
 */
#include "../bench.h"

#define N 500000
#define STRIDE 7919 /* prime, and N is not a multiple of it */

static void *block[N];
static uint8_t bsize[N];

int main(void) {
  long rounds = bench_scaled(24);
  bench_rng_t r = {31337};
  uint64_t check = 0;
  for (long round = 0; round < rounds; round++) {
    for (long i = 0; i < N; i++) {
      size_t size = 16 + bench_below(&r, 113);
      if (!(block[i] = malloc(size))) bench_fail("batch: malloc(%zu) failed", size);
      bsize[i] = (uint8_t)size;
      bench_stamp(block[i], size, (uint64_t)i);
    }
    for (long j = 0; j < N; j++) {
      long i = round % 3 == 0 ? j : round % 3 == 1 ? N - 1 - j : (long)((unsigned long)j * STRIDE % N);
      if (!bench_stamp_ok(block[i], bsize[i], (uint64_t)i)) bench_fail("batch: block %ld overwritten", i);
      check = bench_mix(check, bsize[i]);
      free(block[i]);
    }
  }
  bench_result("rounds=%ld check=%016llx", rounds, (unsigned long long)check);
  return 0;
}

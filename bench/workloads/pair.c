/* pair.c: the malloc/free pair microbenchmark.
 *
 * A live window of 64 blocks of eight small sizes (16 to 100 bytes); each
 * step frees the oldest block and allocates one of the same size, and
 * writes to it: the steady state of a program that allocates and frees
 * small objects, served by an allocator's fast paths.
 *
 *   pair [N]        N pairs (default 250 million x BENCH_SCALE): ns per pair
 *   pair N SIZE     every block of SIZE bytes instead of the eight sizes
 *                   (instr.sh counts 16 bytes and 8 KiB)
 *   pair N null     the same loop with malloc and free replaced by a fixed
 *                   pool and no call, so that instr.sh can subtract the
 *                   loop's own instructions from an allocator's (with or
 *                   without SIZE: the loop is the same)
 *
 * instr.sh runs both under callgrind at N and 2N pairs; the difference
 * divided by N is the cost of one steady-state step, free of start-up.
 */
#include "../bench.h"

static void *window[64];
static size_t sizes[8] = {16, 32, 24, 48, 64, 16, 100, 40};
static char pool[64][128];
static void *pool_block[64];

/* The null allocator: one load from a table takes the place of the call to
 * malloc, nothing that of the call to free; the pointer and the size pass
 * through an empty asm, so the compiler keeps every load and store of the
 * real loop. */
static inline void null_free(void *p) {
  __asm__ volatile("" : : "r"(p));
}
static inline void *null_malloc(size_t size, unsigned k) {
  void *p = pool_block[k];
  __asm__ volatile("" : "+r"(p) : "r"(size));
  return p;
}
#define real_malloc(size, k) malloc(size)

#define PAIR_LOOP(FREE, MALLOC)                  \
  for (long i = 0; i < n; i++) {                 \
    unsigned k = (unsigned)i & 63;               \
    FREE(window[k]);                             \
    window[k] = MALLOC(sizes[i & 7], k);         \
    *(volatile char *)window[k] = 1;             \
  }

int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : bench_scaled(250000000);
  int null = 0;
  for (int a = 2; a < argc; a++) {
    if (strcmp(argv[a], "null") == 0) {
      null = 1;
    } else {
      long size = atol(argv[a]);
      if (size <= 0) bench_fail("pair: bad size '%s'", argv[a]);
      for (int k = 0; k < 8; k++) sizes[k] = (size_t)size;
    }
  }
  if (n <= 0) bench_fail("pair: bad count");
  for (int k = 0; k < 64; k++) pool_block[k] = pool[k];
  double t0 = bench_now();
  if (null) {
    PAIR_LOOP(null_free, null_malloc)
  } else {
    PAIR_LOOP(free, real_malloc)
  }
  double t1 = bench_now();
  uint64_t check = 0;
  for (int k = 0; k < 64; k++) {
    if (!window[k]) bench_fail("pair: malloc returned NULL");
    if ((uintptr_t)window[k] % 16) bench_fail("pair: %p is not 16-byte aligned", window[k]);
    check = bench_mix(check, (uint64_t)sizes[k & 7]);
    if (!null) free(window[k]);
  }
  bench_result("ns_per_pair=%.2f pairs=%ld check=%016llx", (t1 - t0) * 1e9 / (double)n, n,
               (unsigned long long)check);
  return 0;
}

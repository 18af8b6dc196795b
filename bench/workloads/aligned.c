/* aligned.c: aligned allocations (SIMD buffers, cache-line-aligned
 * structures, page-aligned I/O buffers) with a live set.
 *
 * 4096 live slots; each step checks and frees a random slot's block and
 * allocates a new one with posix_memalign, aligned_alloc or memalign in
 * turn, at an alignment of 16 to 4096 bytes (one in 64 at 64 KiB), of 8
 * bytes to 2 KiB (one in 32 up to 64 KiB). Every block's alignment is
 * checked.
 *
 *   aligned         10 million steps x BENCH_SCALE
 */
#include "../bench.h"

#include <malloc.h>

#define SLOTS 4096

static void *block[SLOTS];
static uint32_t bsize[SLOTS];

static void *get(bench_rng_t *r, long s, size_t *size_out) {
  size_t align = bench_below(r, 64) == 0 ? 65536 : (size_t)16 << bench_below(r, 9);
  size_t size = bench_below(r, 32) == 0 ? 8 + bench_below(r, 65529) : 8 + bench_below(r, 2041);
  void *p = NULL;
  switch (s % 3) {
  case 0:
    if (posix_memalign(&p, align, size) != 0) p = NULL;
    break;
  case 1:
    p = aligned_alloc(align, size);
    break;
  default:
    p = memalign(align, size);
    break;
  }
  if (!p) bench_fail("aligned: %zu bytes at %zu failed", size, align);
  if ((uintptr_t)p & (align - 1)) bench_fail("aligned: %p is not %zu-aligned", p, align);
  *size_out = size;
  return p;
}

int main(void) {
  long steps = bench_scaled(10000000);
  bench_rng_t r = {1618};
  uint64_t check = 0;
  for (int i = 0; i < SLOTS; i++) {
    size_t size;
    block[i] = get(&r, i, &size);
    bsize[i] = (uint32_t)size;
    bench_stamp(block[i], size, (uint64_t)i);
  }
  for (long s = 0; s < steps; s++) {
    unsigned v = (unsigned)bench_below(&r, SLOTS);
    if (!bench_stamp_ok(block[v], bsize[v], (uint64_t)v)) bench_fail("aligned: block %u overwritten", v);
    free(block[v]);
    size_t size;
    block[v] = get(&r, s, &size);
    bsize[v] = (uint32_t)size;
    bench_stamp(block[v], size, (uint64_t)v);
    check = bench_mix(check, size);
  }
  for (int i = 0; i < SLOTS; i++) free(block[i]);
  bench_result("steps=%ld check=%016llx", steps, (unsigned long long)check);
  return 0;
}

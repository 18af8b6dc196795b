/* medium.c: medium blocks of 4 KiB to 256 KiB allocated, used and freed in
 * a loop (I/O buffers, a compiler's per-function tables, a collector's
 * mark stacks).
 *
 * A window of 64 live blocks; each step checks and frees a random one and
 * allocates another in its place, its size log-uniform between 4 KiB and
 * 256 KiB, and writes its first and last 64 bytes and one byte in every
 * 4 KiB (a buffer that is used, but not copied from end to end, so that
 * the allocator's own cost is not drowned in memset). These sizes are
 * where allocators change regime: small-object slabs end and page-granular
 * or "large" allocation begins (libgclzone: size classes up to 128 KiB,
 * large blocks above).
 *
 *   medium          800000 steps x BENCH_SCALE
 */
#include "../bench.h"

#define WINDOW 64
#define PAGE 4096

static unsigned char *block[WINDOW];
static size_t bsize[WINDOW];
static unsigned char bval[WINDOW];

/* log-uniform in [4 KiB, 256 KiB]: 2^(12 + 6u) */
static size_t medium_size(bench_rng_t *r) {
  uint64_t x = bench_below(r, 6 * 1024);
  size_t base = (size_t)4096 << (x / 1024);
  return base + (size_t)((base * (x % 1024)) / 1024);
}

static void use(unsigned char *p, size_t size, unsigned char v) {
  memset(p, v, 64);
  memset(p + size - 64, v, 64);
  for (size_t off = PAGE; off < size; off += PAGE) p[off] = v;
}

static void verify(const unsigned char *p, size_t size, unsigned char v) {
  for (size_t off = 0; off < size; off += PAGE)
    if (p[off] != v) bench_fail("medium: lost a write at %zu of %zu", off, size);
  if (p[size - 1] != v || p[63] != v) bench_fail("medium: lost a write at an end of %zu", size);
}

int main(void) {
  long steps = bench_scaled(800000);
  bench_rng_t r = {4096256};
  uint64_t check = 0;
  for (int i = 0; i < WINDOW; i++) {
    bsize[i] = medium_size(&r);
    if (!(block[i] = malloc(bsize[i]))) bench_fail("medium: malloc failed");
    bval[i] = (unsigned char)i;
    use(block[i], bsize[i], bval[i]);
  }
  for (long s = 0; s < steps; s++) {
    int i = (int)bench_below(&r, WINDOW);
    verify(block[i], bsize[i], bval[i]);
    check = bench_mix(check, bsize[i]);
    free(block[i]);
    bsize[i] = medium_size(&r);
    if (!(block[i] = malloc(bsize[i]))) bench_fail("medium: malloc(%zu) failed", bsize[i]);
    if ((uintptr_t)block[i] % 16) bench_fail("medium: %p is not 16-byte aligned", (void *)block[i]);
    bval[i] = (unsigned char)(s * 13 + 1);
    use(block[i], bsize[i], bval[i]);
  }
  for (int i = 0; i < WINDOW; i++) {
    check = bench_mix(check, bsize[i]);
    free(block[i]);
  }
  bench_result("steps=%ld check=%016llx", steps, (unsigned long long)check);
  return 0;
}

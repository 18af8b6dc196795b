/* largelive.c: many large blocks live at once, cycling (a runtime holding
 * tens of big buffers, images or bignums, replacing them one at a time).
 *
 * 32 blocks of 5 to 25 MiB are live (about 480 MiB, many times a dirty-page
 * cap of 64 MiB such as GCLZONE_DIRTY_MAX's default). Each step checks and
 * frees a random one and allocates another of a new random size in its
 * place, and writes all of it. glibc serves these from its heap once its
 * mmap threshold has risen past them, so the pages stay resident and are
 * reused; an allocator that gives freed large blocks back to the OS pays a
 * page fault and the kernel's zeroing for every page of every new block.
 *
 *   largelive       400 steps x BENCH_SCALE
 */
#include "../bench.h"

#define MIB ((size_t)1 << 20)
#define PAGE 4096
#define LIVE 32

static unsigned char *block[LIVE];
static size_t bsize[LIVE];
static unsigned char bval[LIVE];

static size_t new_size(bench_rng_t *r) {
  return 5 * MIB + bench_below(r, 20 * MIB + 1);
}

static void fill(int i, size_t size, unsigned char v) {
  unsigned char *p = malloc(size);
  if (!p) bench_fail("largelive: malloc(%zu) failed", size);
  if ((uintptr_t)p % 16) bench_fail("largelive: %p is not 16-byte aligned", (void *)p);
  memset(p, v, size);
  block[i] = p;
  bsize[i] = size;
  bval[i] = v;
}

/* A byte in every page, and the last one: another block written over this
 * one, or a page lost, shows. */
static void check_and_free(int i) {
  const unsigned char *p = block[i];
  for (size_t off = 0; off < bsize[i]; off += PAGE)
    if (p[off] != bval[i]) bench_fail("largelive: block %d lost a write at %zu", i, off);
  if (p[bsize[i] - 1] != bval[i]) bench_fail("largelive: block %d lost its last byte", i);
  free(block[i]);
}

int main(void) {
  long steps = bench_scaled(400);
  bench_rng_t r = {424242};
  uint64_t check = 0;
  size_t peak = 0, live = 0;
  for (int i = 0; i < LIVE; i++) {
    fill(i, new_size(&r), (unsigned char)(i + 1));
    live += bsize[i];
  }
  for (long s = 0; s < steps; s++) {
    int i = (int)bench_below(&r, LIVE);
    check = bench_mix(check, bsize[i]);
    live -= bsize[i];
    check_and_free(i);
    fill(i, new_size(&r), (unsigned char)(s * 7 + 3));
    live += bsize[i];
    if (live > peak) peak = live;
  }
  for (int i = 0; i < LIVE; i++) {
    check = bench_mix(check, bsize[i]);
    check_and_free(i);
  }
  bench_result("steps=%ld live_peak_mib=%zu check=%016llx", steps, peak / MIB, (unsigned long long)check);
  return 0;
}

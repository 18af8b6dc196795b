/* boundary.c: a mixed-size loop across the small, medium and large
 * boundaries (a program whose strings, tables and buffers come in every
 * size, so that consecutive requests land in different parts of the
 * allocator).
 *
 * A window of 256 live blocks; each step checks and frees a random one and
 * allocates another in its place: one request in two is small (16 bytes
 * to 1 KiB), three in ten medium (1 KiB to 112 KiB), one in ten around
 * 128 KiB (112 to 144 KiB: libgclzone's largest size class is 128 KiB,
 * glibc's mmap threshold starts there too), one in ten large (144 KiB to
 * 2 MiB). Each block gets its first and last 16 bytes and one byte in
 * every 4 KiB written.
 *
 *   boundary        400000 steps x BENCH_SCALE
 */
#include "../bench.h"

#define WINDOW 256
#define PAGE 4096
#define KIB ((size_t)1024)

static unsigned char *block[WINDOW];
static size_t bsize[WINDOW];
static unsigned char bval[WINDOW];

static size_t mixed_size(bench_rng_t *r) {
  uint64_t x = bench_below(r, 10);
  if (x < 5) return 16 + bench_below(r, KIB - 15);
  if (x < 8) return KIB + bench_below(r, 111 * KIB);
  if (x < 9) return 112 * KIB + bench_below(r, 32 * KIB + 1);
  return 144 * KIB + bench_below(r, 2048 * KIB - 144 * KIB + 1);
}

static void use(int i, size_t size, unsigned char v) {
  unsigned char *p = malloc(size);
  if (!p) bench_fail("boundary: malloc(%zu) failed", size);
  if ((uintptr_t)p % 16) bench_fail("boundary: %p is not 16-byte aligned", (void *)p);
  memset(p, v, 16);
  memset(p + size - 16, v, 16);
  for (size_t off = PAGE; off < size; off += PAGE) p[off] = v;
  block[i] = p;
  bsize[i] = size;
  bval[i] = v;
}

static void release(int i) {
  const unsigned char *p = block[i];
  for (size_t off = 0; off < bsize[i]; off += PAGE)
    if (p[off] != bval[i]) bench_fail("boundary: lost a write at %zu of %zu", off, bsize[i]);
  if (p[bsize[i] - 1] != bval[i]) bench_fail("boundary: lost the last byte of %zu", bsize[i]);
  free(block[i]);
}

int main(void) {
  long steps = bench_scaled(400000);
  bench_rng_t r = {128128};
  uint64_t check = 0;
  for (int i = 0; i < WINDOW; i++) use(i, mixed_size(&r), (unsigned char)i);
  for (long s = 0; s < steps; s++) {
    int i = (int)bench_below(&r, WINDOW);
    check = bench_mix(check, bsize[i]);
    release(i);
    use(i, mixed_size(&r), (unsigned char)(s * 5 + 1));
  }
  for (int i = 0; i < WINDOW; i++) {
    check = bench_mix(check, bsize[i]);
    release(i);
  }
  bench_result("steps=%ld check=%016llx", steps, (unsigned long long)check);
  return 0;
}

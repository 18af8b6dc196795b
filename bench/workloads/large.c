/* large.c: large blocks of 5 to 25 MiB allocated, used and freed in a loop
 * (a runtime's big buffers, an image or a bignum of a few megabytes).
 *
 * Each step allocates a block of a random size between 5 and 25 MiB,
 * fills it (memset, as a program that allocates a buffer uses it), checks
 * a byte in every page, and frees it. An allocator that gives the pages
 * back to the OS on every free (or purges them at once) pays a page fault
 * and the kernel's zeroing per page on the next step; one that reuses a
 * freed block's pages does not.
 *
 *   large           2000 blocks x BENCH_SCALE
 */
#include "../bench.h"

#define MIB ((size_t)1 << 20)
#define PAGE 4096

int main(void) {
  long steps = bench_scaled(2000);
  bench_rng_t r = {5525};
  uint64_t check = 0;
  for (long s = 0; s < steps; s++) {
    size_t size = 5 * MIB + bench_below(&r, 20 * MIB + 1);
    unsigned char *p = malloc(size);
    if (!p) bench_fail("large: malloc(%zu) failed", size);
    if ((uintptr_t)p % 16) bench_fail("large: %p is not 16-byte aligned", (void *)p);
    unsigned char v = (unsigned char)s;
    memset(p, v, size);
    for (size_t off = 0; off < size; off += PAGE)
      if (p[off] != v) bench_fail("large: lost a write at %zu", off);
    if (p[size - 1] != v) bench_fail("large: lost the last write");
    check = bench_mix(check, size);
    free(p);
  }
  bench_result("steps=%ld check=%016llx", steps, (unsigned long long)check);
  return 0;
}

/* scribble.c: run with GCLZONE_SCRIBBLE=1 under LD_PRELOAD: fresh bytes
 * are 0xaa (the grown part of a realloc too), kept bytes are kept, freed
 * bytes past the first 16 are 0x55, calloc is still zero. Exits 1 on the
 * first mismatch (as it must without the option). After libmalloc's
 * scribble_tests.c and mimalloc's test-api-fill. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int all(const unsigned char *p, size_t from, size_t to, unsigned char v, const char *what) {
  for (size_t i = from; i < to; i++)
    if (p[i] != v) {
      printf("scribble: %s: byte %zu is %#x, want %#x\n", what, i, p[i], v);
      return 0;
    }
  return 1;
}

int main(void) {
  static const size_t sizes[] = {24, 100, 1000, 20000, 300000, 3 << 20};
  for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
    size_t n = sizes[k];
    unsigned char *p = malloc(n);
    size_t u = malloc_usable_size(p);
    if (!all(p, 0, u, 0xaa, "fresh block")) return 1;
    memset(p, 0x33, n);
    unsigned char *q = realloc(p, 2 * n + 100); /* grows: moved, or in place for large blocks */
    size_t v = malloc_usable_size(q);
    if (!all(q, 0, n, 0x33, "kept bytes") || !all(q, n, v < 2 * n + 100 ? v : 2 * n + 100, 0xaa, "grown part"))
      return 1;
    unsigned char *keep = malloc(16); /* keeps q's slab busy after q is freed */
    unsigned char *volatile freed = q;  /* reading freed memory is the point */
    free(q);
    if (!all(freed, 16, v < 4096 ? v : 4096, 0x55, "freed block")) return 1;
    unsigned char *z = calloc(1, n);
    if (!all(z, 0, n, 0, "calloc")) return 1;
    free(z);
    free(keep);
  }
  puts("scribble: fresh 0xaa, kept bytes kept, freed 0x55, calloc zero");
  return 0;
}

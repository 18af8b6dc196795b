/* pair.c: the malloc/free pair microbenchmark. Allocates and frees blocks
 * of a few small sizes in a steady pattern (a live window of 64 blocks) and
 * reports nanoseconds per malloc/free pair. Run it under each allocator
 * with LD_PRELOAD; `pair N` does N pairs (default 50 million). */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 50000000;
  static void *window[64];
  static const size_t sizes[8] = {16, 32, 24, 48, 64, 16, 100, 40};
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (long i = 0; i < n; i++) {
    unsigned k = (unsigned)i & 63;
    free(window[k]);
    window[k] = malloc(sizes[i & 7]);
    *(volatile char *)window[k] = 1;
  }
  clock_gettime(CLOCK_MONOTONIC, &b);
  for (int k = 0; k < 64; k++) free(window[k]);
  double ns = ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / (double)n;
  printf("%.2f ns per malloc/free pair\n", ns);
  return 0;
}

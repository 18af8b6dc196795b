/* overrun.c CASE: one byte written past the size asked for, for memcheck
 * (tests/valgrind.sh): the block is described at that size, so the write
 * lands outside it, in the block's slack, and must be reported.
 *   malloc    malloc(3), then p[3]
 *   grown     malloc(20) grown in place by realloc to 24, then p[24]
 *   shrunk    malloc(30) shrunk in place by realloc to 17, then p[17]
 * Exits 2 if a realloc moved the block (the case would test nothing). */
#include <stdlib.h>
#include <string.h>

static char *volatile sink;

int main(int argc, char **argv) {
  if (argc != 2) return 2;
  char *p;
  size_t n;
  if (!strcmp(argv[1], "malloc")) {
    p = malloc(n = 3);
  } else {
    int grow = !strcmp(argv[1], "grown");
    char *q = malloc(grow ? 20 : 30);
    memset(q, 1, grow ? 20 : 30);
    p = realloc(q, n = grow ? 24 : 17);
    if (p != q) return 2;
  }
  memset(p, 2, n);
  p[n] = 3; /* the overrun */
  sink = p;
  free(p);
  return 0;
}

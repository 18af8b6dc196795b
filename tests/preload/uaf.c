/* uaf.c: a deliberate use after free, for memcheck to report through
 * libgclzone's client requests (tests/valgrind.sh). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
  char *p = malloc(64);
  memset(p, 1, 64);
  char *volatile dangling = p;
  free(p);
  volatile char c = dangling[3]; /* the bug */
  char *q = malloc(100);
  free(q);
  printf("uaf: read %d after free\n", c);
  return 0;
}

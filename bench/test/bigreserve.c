/* bigreserve.c: the start-up reservation of snmalloc's flat pagemap, alone
 * (256 GiB, MAP_NORESERVE), then a write at its first byte and at 64 MiB
 * into it. selftest.sh runs it under valgrind without and with vgcap.so:
 * valgrind 3.19 refuses the mapping ("refused"), vgcap.so shortens it so
 * that the program runs on ("ok"), and outside valgrind it is never
 * shortened.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <sys/mman.h>

int main(void) {
  size_t len = (size_t)256 << 30;
  char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) {
    puts("refused");
    return 0;
  }
  p[0] = 1;
  p[(size_t)64 << 20] = 2;
  /* The whole length is mapped unless vgcap shortened it: the last byte
   * is then outside the mapping, and mincore says ENOMEM. */
  unsigned char vec;
  int whole = mincore(p + len - 4096, 4096, &vec) == 0;
  printf("ok %s\n", whole ? "whole" : "shortened");
  return munmap(p, len) != 0;
}

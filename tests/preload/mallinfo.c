/* mallinfo.c [xml]: glibc's malloc introspection calls answer for the
 * allocator that serves malloc. Holds 10 MiB in blocks (100000 of 64
 * bytes and 3 of 1 MiB... see below), then prints what mallinfo2, mallinfo
 * and mallopt say, one "key value" a line; with "xml", malloc_info's
 * output instead; malloc_stats goes to stderr. The shell test compares. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SMALL 100000
#define LARGE 4

int main(int argc, char **argv) {
  static void *small[SMALL];
  void *large[LARGE];
  size_t held = 0;
  for (int i = 0; i < SMALL; i++) small[i] = malloc(64), memset(small[i], 1, 64), held += 64;
  for (int i = 0; i < LARGE; i++) large[i] = malloc(1 << 20), memset(large[i], 2, 1 << 20), held += 1 << 20;
  if (argc > 1 && !strcmp(argv[1], "xml")) return malloc_info(0, stdout) || malloc_info(1, stdout) != -1;
  struct mallinfo2 m2 = mallinfo2();
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  struct mallinfo m = mallinfo();
#pragma GCC diagnostic pop
  printf("held %zu\nuordblks %zu\nhblkhd %zu\narena %zu\nfordblks %zu\nkeepcost %zu\n", held, m2.uordblks,
         m2.hblkhd, m2.arena, m2.fordblks, m2.keepcost);
  printf("mallinfo.uordblks %d\nmallinfo.hblkhd %d\n", m.uordblks, m.hblkhd);
  printf("mallopt.trim %d\nmallopt.arena_max %d\nmallopt.mmap_threshold %d\n", mallopt(M_TRIM_THRESHOLD, 1 << 20),
         mallopt(M_ARENA_MAX, 2), mallopt(M_MMAP_THRESHOLD, 1 << 20));
  fflush(stdout);
  malloc_stats();
  for (int i = 0; i < SMALL; i++) free(small[i]);
  for (int i = 0; i < LARGE; i++) free(large[i]);
  return 0;
}

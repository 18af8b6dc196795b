/* bound.c: under LD_PRELOAD every malloc-family entry point, libc's own
 * internal mallocs, and sbrk/brk are served by libgclzone; blocks glibc
 * handed out itself still work (they are forwarded back to glibc). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern void *__libc_malloc(size_t);
typedef struct { void *base, *brk, *limit; } bounds_t;

static int failures;
#define EXPECT(c) ((c) ? (void)0 : (void)(failures++, fprintf(stderr, "bound: failed: %s (line %d)\n", #c, __LINE__)))

int main(int argc, char **argv) {
  bool sbrk_off = argc > 1 && strcmp(argv[1], "sbrk-off") == 0;
  bool (*owns)(const void *) = (bool (*)(const void *))dlsym(RTLD_DEFAULT, "gclzone_owns");
  bounds_t (*heap)(void) = (bounds_t(*)(void))dlsym(RTLD_DEFAULT, "gclzone_heap_bounds");
  if (!owns || !heap) {
    puts("bound: libgclzone is not loaded");
    return 2;
  }
  void *p;
  EXPECT(owns(p = malloc(10)));
  free(p);
  EXPECT(owns(p = calloc(3, 1000)));
  EXPECT(owns(p = realloc(p, 100000)));
  EXPECT(owns(p = reallocarray(p, 10, 10)));
  free(p);
  EXPECT(posix_memalign(&p, 64, 100) == 0 && owns(p) && (uintptr_t)p % 64 == 0);
  free(p);
  EXPECT(owns(p = aligned_alloc(4096, 4096)));
  free(p);
  EXPECT(owns(p = memalign(128, 10)));
  free(p);
  EXPECT(owns(p = valloc(10)));
  free(p);
  EXPECT(owns(p = pvalloc(10)));
  EXPECT(malloc_usable_size(p) >= 4096);
  free(p);
  EXPECT(owns(p = strdup("libc allocates through us")));
  free(p);
  FILE *f = fopen("/proc/self/maps", "r"); /* stdio's buffers come from us too */
  EXPECT(f != NULL);
  char line[256];
  EXPECT(fgets(line, sizeof line, f) != NULL);
  fclose(f);

  /* glibc's own blocks keep working. */
  char *g = __libc_malloc(100);
  strcpy(g, "from glibc");
  EXPECT(!owns(g));
  EXPECT(malloc_usable_size(g) >= 100);
  g = realloc(g, 5000);
  EXPECT(g && strcmp(g, "from glibc") == 0);
  free(g);
  errno = 1789;
  free(__libc_malloc(50));
  EXPECT(errno == 1789);

  /* sbrk and brk serve the host heap (unless GCLZONE_SBRK=0). */
  bounds_t h = heap();
  if (sbrk_off) {
    char *b = sbrk(0);
    EXPECT(b != (void *)-1 && (b < (char *)h.base || b >= (char *)h.limit));
    EXPECT(sbrk(4096) == b && sbrk(0) == b + 4096);
    if (failures) return 1;
    puts("bound: ok, sbrk is the system's");
    return 0;
  }
  EXPECT(sbrk(0) == h.base);
  char *s = sbrk(1 << 20);
  EXPECT(s == h.base);
  memset(s, 1, 1 << 20);
  EXPECT(brk(s + 100) == 0 && sbrk(0) == s + 100);
  errno = 0;
  EXPECT(sbrk(INTPTR_MAX) == (void *)-1 && errno == ENOMEM);
  if (failures) return 1;
  puts("bound: ok");
  return 0;
}

/* link.c: a runtime that links libgclzone and lays out the region itself.
 *
 *   cc link.c $(pkg-config --cflags --libs gclzone)     (or -lgclzone)
 *
 * gclzone_init must come before the first allocation: linked, libgclzone is
 * the process's malloc, and once a block is out the region can no longer be
 * replaced (EBUSY). Here: a 1 GiB host heap at a fixed address (argv[1], or
 * 0x300000000000) and a 2 GiB arena after it.
 */
#include <gclzone.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
  uintptr_t base = argc > 1 ? (uintptr_t)strtoull(argv[1], NULL, 0) : (uintptr_t)0x300000000000;
  gclzone_config_t cfg = {.heap_size = (size_t)1 << 30, .arena_size = (size_t)2 << 30, .base = base};
  if (gclzone_init(&cfg) != 0) {
    int err = errno;
    fprintf(stderr, "link: gclzone_init: %s\n", strerror(err));
    return 1;
  }

  /* The runtime's page heap grows with gclzone_sbrk, from the fixed base. */
  char *pages = gclzone_sbrk(16 << 20);
  if (pages == (void *)-1) return 1;
  memset(pages, 0xa5, 16 << 20);
  /* Everything else (C libraries, stdio) mallocs from the arena. */
  char *block = malloc(1000);
  if (!block) return 1;
  snprintf(block, 1000, "a malloc'd block");

  gclzone_bounds_t h = gclzone_heap_bounds(), a = gclzone_arena_bounds();
  printf("link: host heap %p, %zu MiB, break %p\n", h.base, (size_t)((char *)h.limit - (char *)h.base) >> 20, h.brk);
  printf("link: arena     %p, %zu MiB\n", a.base, (size_t)((char *)a.limit - (char *)a.base) >> 20);
  printf("link: gclzone_sbrk gave the base: %s\n", (uintptr_t)pages == base ? "yes" : "no");
  printf("link: %s is in the arena: %s\n", block, gclzone_owns(block) ? "yes" : "no");
  free(block);
  return 0;
}

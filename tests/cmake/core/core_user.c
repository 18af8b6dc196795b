/* core_user.c: a runtime that links libgclzone_core.a (gclzone::core): the
 * prefixed API serves it from the region while malloc stays the C
 * library's. Prints one line per fact; tests/install.sh compares them. */
#include <gclzone.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int inside(const void *p, gclzone_bounds_t b) {
  return (uintptr_t)p >= (uintptr_t)b.base && (uintptr_t)p < (uintptr_t)b.limit;
}

int main(void) {
  char *ours = gclzone_malloc(1000);
  char *libcs = malloc(1000);
  char *pages = gclzone_sbrk(1 << 20);
  if (!ours || !libcs || pages == (void *)-1) return 1;
  memset(ours, 1, 1000);
  memset(libcs, 2, 1000);
  memset(pages, 3, 1 << 20);
  gclzone_bounds_t arena = gclzone_arena_bounds(), heap = gclzone_heap_bounds();
  printf("core: gclzone_malloc is in the arena: %s\n", gclzone_owns(ours) && inside(ours, arena) ? "yes" : "no");
  printf("core: malloc is outside the region: %s\n",
         !inside(libcs, arena) && !inside(libcs, heap) ? "yes" : "no");
  printf("core: gclzone_sbrk is the host heap's base: %s\n", pages == heap.base ? "yes" : "no");
  gclzone_free(ours);
  free(libcs);
  return 0;
}

/* brk_base.c: linked with libgclzone.a. By default the host heap starts at
 * the program break, exactly where the kernel's brk heap would start. With
 * GCLZONE_TEST_TAKE_BRK=1 a constructor that runs before the library's
 * (priority 101) maps a page there first: the library must then let the
 * OS choose, and sbrk must work all the same. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "gclzone.h"

static uintptr_t kernel_break; /* page-rounded, before anything moved it */
static int taken;

__attribute__((constructor(101))) static void take_the_break(void) {
  uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
  kernel_break = ((uintptr_t)syscall(SYS_brk, 0) + pg - 1) & ~(pg - 1);
  const char *v = getenv("GCLZONE_TEST_TAKE_BRK");
  if (v && *v == '1') {
    void *p = mmap((void *)kernel_break, pg, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    taken = p == (void *)kernel_break;
  }
}

int main(void) {
  free(malloc(10));
  gclzone_bounds_t h = gclzone_heap_bounds();
  char *b = sbrk(0);
  if (b != h.base || sbrk(8192) != b || sbrk(0) != b + 8192) return puts("brk_base: sbrk is not the host heap"), 1;
  memset(b, 1, 8192);
  if (taken) {
    if ((uintptr_t)h.base == kernel_break) return puts("brk_base: the host heap sits on a taken page"), 1;
    puts("brk_base: the program break was taken: the OS chose the place, sbrk works");
  } else {
    if ((uintptr_t)h.base != kernel_break)
      return printf("brk_base: host heap at %p, program break at %#lx\n", h.base, (unsigned long)kernel_break), 1;
    puts("brk_base: the host heap starts at the program break");
  }
  return 0;
}

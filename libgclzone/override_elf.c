/* override_elf.c: the ELF front end: libgclzone as the process's malloc.
 *
 * Defines the malloc family (and sbrk/brk over the host heap) so that
 * LD_PRELOAD=libgclzone.so, or linking libgclzone, takes over every call in
 * the process. Each entry point forwards to the core; malloc and free inline
 * its fast paths. Pointers outside our region were allocated by glibc before
 * we were in place (or by a library that captured glibc's malloc), so they
 * go back to glibc through its __libc_* entry points.
 */
#if !defined(__ELF__) || defined(__APPLE__)
#error "override_elf.c is the ELF front end; Darwin uses zone_darwin.c"
#endif

#define _GNU_SOURCE
#include "internal.h"

#include <dlfcn.h>
#include <errno.h>
#include <malloc.h> /* the C library's prototypes check our signatures */
#include <stdlib.h>
#include <unistd.h>

/* glibc's own allocator, for blocks it handed out before we took over. */
extern void __libc_free(void *p);
extern void *__libc_realloc(void *p, size_t size);
extern void *__sbrk(intptr_t increment);

static size_t libc_usable_size(void *p) {
  /* glibc exports no __libc_ alias for this one. A cold path: only blocks
   * from before our takeover get here. */
  static size_t (*fn)(void *);
  if (!fn) fn = (size_t(*)(void *))dlsym(RTLD_NEXT, "malloc_usable_size");
  return fn ? fn(p) : 0;
}

static const gcl_foreign_t libc = {__libc_free, __libc_realloc, libc_usable_size};

/* Reserve the region before main, so that its place does not depend on
 * what the program maps first. */
__attribute__((constructor)) static void elf_init(void) {
  gcl_process_ensure();
}

GCL_EXPORT void *malloc(size_t size) {
  if (gcl_likely(size <= GCL_DIRECT_MAX)) return gcl_malloc_small(size);
  return gcl_malloc(size);
}

GCL_EXPORT void free(void *p) {
  gcl_free_inline(p, &libc);
}

GCL_EXPORT void *calloc(size_t n, size_t size) { return gcl_calloc(n, size); }
GCL_EXPORT void *realloc(void *p, size_t size) { return gcl_realloc(p, size, &libc); }
GCL_EXPORT void *reallocarray(void *p, size_t n, size_t size) { return gcl_reallocarray(p, n, size, &libc); }
GCL_EXPORT int posix_memalign(void **out, size_t align, size_t size) {
  return gcl_posix_memalign(out, align, size);
}
GCL_EXPORT void *aligned_alloc(size_t align, size_t size) { return gcl_aligned_alloc(align, size); }
GCL_EXPORT void *memalign(size_t align, size_t size) { return gcl_memalign(align, size); }
GCL_EXPORT void *valloc(size_t size) { return gcl_valloc(size); }
GCL_EXPORT void *pvalloc(size_t size) { return gcl_pvalloc(size); }
GCL_EXPORT size_t malloc_usable_size(void *p) { return gcl_usable_size(p, &libc); }

/* glibc's malloc_trim would trim glibc's empty heap; trim ours instead. */
GCL_EXPORT int malloc_trim(size_t pad) {
  (void)pad;
  return gcl_process_ensure() == 0 && gcl_heap_collect() > 0;
}

/* sbrk and brk serve the host heap unless GCLZONE_SBRK=0. glibc's malloc
 * calls its internal __sbrk, never these, so it cannot reach the host heap. */
GCL_EXPORT void *sbrk(intptr_t increment) {
  gcl_process_ensure();
  if (gcl_opt.sbrk) return gcl_hostheap_sbrk(increment);
  return __sbrk(increment);
}

GCL_EXPORT int brk(void *addr) {
  gcl_process_ensure();
  if (gcl_opt.sbrk) return gcl_hostheap_brk(addr);
  void *cur = __sbrk(0);
  if (cur == (void *)-1 || __sbrk((intptr_t)((uintptr_t)addr - (uintptr_t)cur)) == (void *)-1) {
    errno = ENOMEM;
    return -1;
  }
  return 0;
}

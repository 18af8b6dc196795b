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

/* Is p plausibly a live block of glibc's malloc? Only then is it handed to
 * glibc; anything else (a stack address, (void *)1, a page from mmap) is
 * our misuse to report, not glibc's to fault on. When glibc has handed out
 * nothing (the usual case under LD_PRELOAD), no foreign pointer is valid.
 * Otherwise we apply the checks glibc's own free applies, reading through
 * gcl_prim_read so that a wild pointer cannot fault. The chunk layout is
 * glibc's (malloc/malloc.c, unchanged since 2.3): the word before a block
 * is its size with flags PREV_INUSE 1, IS_MMAPPED 2, NON_MAIN_ARENA 4, and
 * the word before that is, for an mmapped chunk, its offset in its mapping. */
static bool libc_owns(void *p) {
  /* Under valgrind, glibc's malloc is valgrind's own, which checks frees
   * itself (and reports nothing through mallinfo2). */
  if (gcl_debug_modes & GCL_DEBUG_VALGRIND) return true;
  struct mallinfo2 mi = mallinfo2();
  if (!mi.arena && !mi.hblkhd) return false;
  if ((uintptr_t)p & 15) return false;
  size_t h[2], next[2];
  if (gcl_prim_read((char *)p - 16, h, sizeof h)) return false;
  size_t size = h[1] & ~(size_t)7;
  if (size < 32 || size & 15 || size > PTRDIFF_MAX) return false;
  if (h[1] & 2) {
    size_t page = gcl_prim_page_size();
    return (((uintptr_t)p - 16 - h[0]) & (page - 1)) == 0 && ((h[0] + size) & (page - 1)) == 0;
  }
  if (gcl_prim_read((char *)p - 16 + size, next, sizeof next)) return false;
  return next[1] & 1; /* the next chunk records this one as in use */
}

static void libc_free(void *p) {
  if (!libc_owns(p)) gcl_log_fatal(GCL_FATAL_INVALID_FREE, p, NULL);
  __libc_free(p);
}

static void *libc_realloc(void *p, size_t size) {
  if (!libc_owns(p)) gcl_log_fatal(GCL_FATAL_INVALID_REALLOC, p, NULL);
  return __libc_realloc(p, size);
}

static size_t libc_usable_size(void *p) {
  if (!libc_owns(p)) gcl_log_fatal(GCL_FATAL_INVALID_SIZE, p, NULL);
  /* glibc exports no __libc_ alias for this one; a cold path. */
  static size_t (*fn)(void *);
  if (!fn) fn = (size_t(*)(void *))dlsym(RTLD_NEXT, "malloc_usable_size");
  return fn ? fn(p) : 0;
}

static const gcl_foreign_t libc = {libc_free, libc_realloc, libc_usable_size};

/* sbrk is ours, so by default the host heap starts at the program break;
 * glibc runs the fork handlers we register with pthread_atfork. */
const gcl_front_t gcl_front = {.name = "elf", .owns_sbrk = true, .drives_fork = false};

/* Reserve the region before main, so that its place does not depend on
 * what the program maps first. */
__attribute__((constructor)) static void elf_init(void) {
  gcl_process_ensure();
}

GCL_EXPORT void *malloc(size_t size) {
  if (gcl_likely(size <= GCL_DIRECT_MAX)) return gcl_alloc_small(size);
  return gcl_alloc_malloc(size);
}

GCL_EXPORT void free(void *p) {
  gcl_alloc_free(p, &libc);
}

GCL_EXPORT void *calloc(size_t n, size_t size) { return gcl_alloc_calloc(n, size); }
GCL_EXPORT void *realloc(void *p, size_t size) { return gcl_alloc_realloc(p, size, &libc); }
GCL_EXPORT void *reallocarray(void *p, size_t n, size_t size) { return gcl_alloc_reallocarray(p, n, size, &libc); }
GCL_EXPORT int posix_memalign(void **out, size_t align, size_t size) {
  return gcl_alloc_posix_memalign(out, align, size);
}
GCL_EXPORT void *aligned_alloc(size_t align, size_t size) { return gcl_alloc_aligned_alloc(align, size); }
GCL_EXPORT void *memalign(size_t align, size_t size) { return gcl_alloc_memalign(align, size); }
GCL_EXPORT void *valloc(size_t size) { return gcl_alloc_valloc(size); }
GCL_EXPORT void *pvalloc(size_t size) { return gcl_alloc_pvalloc(size); }
GCL_EXPORT size_t malloc_usable_size(void *p) { return gcl_alloc_usable_size(p, &libc); }

/* C++ sized delete (operator delete(void *, size_t), the array form, and
 * both with std::align_val_t): libstdc++'s own versions only call the
 * unsized operator delete, and so free, losing the size. Defined here, they
 * reach us with it: a free everywhere, and in the hardened mode a check
 * that the size is the one asked for (a delete through a base class
 * without a virtual destructor names the wrong one). The mangled names are
 * the Itanium C++ ABI's, the same for every compiler on ELF.
 *
 * A pointer outside the region came from whoever served operator new
 * without us: it goes on to the next definition of the same operator
 * (libstdc++'s, or an allocator library's, found once with dlsym on this
 * cold path), as if we had not defined it. Under valgrind, for instance,
 * memcheck serves operator new itself, and freeing its blocks with free
 * would be a mismatch. Only if there is none does free take it. */
typedef void sized_delete_fn(void *p, size_t size);
typedef void aligned_delete_fn(void *p, size_t size, size_t align);
static void foreign_delete(void **next, const char *name, void *p, size_t size, size_t align) {
  if (!*next) *next = dlsym(RTLD_NEXT, name);
  if (!*next) libc_free(p);
  else if (align) ((aligned_delete_fn *)*next)(p, size, align); /* std::align_val_t is a size_t */
  else ((sized_delete_fn *)*next)(p, size);
}
#define SIZED_DELETE(name, align)                                              \
  if (gcl_likely(gcl_region_contains(p)) || !p) {                              \
    gcl_alloc_free_sized(p, size, align, &libc);                               \
  } else {                                                                     \
    static void *next;                                                         \
    foreign_delete(&next, name, p, size, align);                               \
  }
void _ZdlPvm(void *p, size_t size);
void _ZdaPvm(void *p, size_t size);
void _ZdlPvmSt11align_val_t(void *p, size_t size, size_t align);
void _ZdaPvmSt11align_val_t(void *p, size_t size, size_t align);
GCL_EXPORT void _ZdlPvm(void *p, size_t size) { SIZED_DELETE("_ZdlPvm", 0) }
GCL_EXPORT void _ZdaPvm(void *p, size_t size) { SIZED_DELETE("_ZdaPvm", 0) }
GCL_EXPORT void _ZdlPvmSt11align_val_t(void *p, size_t size, size_t align) { SIZED_DELETE("_ZdlPvmSt11align_val_t", align) }
GCL_EXPORT void _ZdaPvmSt11align_val_t(void *p, size_t size, size_t align) { SIZED_DELETE("_ZdaPvmSt11align_val_t", align) }

/* glibc's malloc_trim would trim glibc's empty heap; trim ours instead. */
GCL_EXPORT int malloc_trim(size_t pad) {
  (void)pad;
  return gcl_alloc_trim() > 0;
}

/* sbrk and brk serve the host heap unless GCLZONE_SBRK=0. glibc's malloc
 * calls its internal __sbrk, never these, so it cannot reach the host heap. */
GCL_EXPORT void *sbrk(intptr_t increment) {
  gcl_process_ensure();
  if (gcl_options.sbrk) return gcl_alloc_sbrk(increment);
  return __sbrk(increment);
}

GCL_EXPORT int brk(void *addr) {
  gcl_process_ensure();
  if (gcl_options.sbrk) return gcl_alloc_brk(addr);
  void *cur = __sbrk(0);
  if (cur == (void *)-1 || __sbrk((intptr_t)((uintptr_t)addr - (uintptr_t)cur)) == (void *)-1) {
    errno = ENOMEM;
    return -1;
  }
  return 0;
}

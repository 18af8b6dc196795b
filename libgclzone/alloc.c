/* alloc.c: the malloc family's semantics, and the prefixed public API.
 *
 * Everything a caller can observe is decided here, once, for both front
 * ends: errno on every failure (ENOMEM, EINVAL), overflow checks, zero
 * sizes, alignment rules, realloc's contract, and what happens to pointers
 * outside the region (the front end's gcl_foreign_t, or fatal when it gives
 * none). The semantics are glibc's on Linux:
 *   malloc(0) returns a unique 16-byte block; realloc(p, 0) frees p and
 *   returns NULL; aligned_alloc rejects a non-power-of-two alignment
 *   (glibc >= 2.38); memalign rounds it up; free keeps errno.
 */
#include "internal.h"

#include <errno.h>
#include <string.h>

static void *enomem(void) {
  errno = ENOMEM;
  return NULL;
}

void *gcl_malloc(size_t size) {
  if (gcl_unlikely(size > PTRDIFF_MAX)) return enomem();
  return gcl_malloc_inline(size);
}

void gcl_free(void *p, const gcl_foreign_t *foreign) {
  gcl_free_inline(p, foreign);
}

void *gcl_calloc(size_t n, size_t size) {
  size_t total;
  if (__builtin_mul_overflow(n, size, &total) || total > PTRDIFF_MAX) return enomem();
  if (total > GCL_MEDIUM_MAX) return gcl_heap_malloc_aligned(total, GCL_ALIGNMENT, true);
  void *p = gcl_malloc_inline(total);
  if (p) memset(p, 0, total);
  return p;
}

void *gcl_realloc(void *p, size_t size, const gcl_foreign_t *foreign) {
  if (!p) return gcl_malloc(size);
  if (!gcl_region_contains(p)) {
    if (!foreign) gcl_fatal(GCL_FATAL_INVALID_REALLOC, p, NULL);
    return foreign->realloc(p, size);
  }
  size_t old = gcl_heap_block_size(p, GCL_FATAL_INVALID_REALLOC);
  if (size == 0) {
    gcl_free(p, foreign);
    return NULL;
  }
  if (size > PTRDIFF_MAX) return enomem();
  if (old > GCL_MEDIUM_MAX && size > GCL_MEDIUM_MAX) {
    /* Large: stay in place while the span's slots hold the new size (and it
     * does not shrink below half of them), else resize the span when its
     * neighbour allows. */
    gcl_span_t *s = gcl_arena_span_of(p);
    size_t slots = (size + GCL_SLOT_SIZE - 1) >> GCL_SLOT_SHIFT;
    if ((slots <= s->slots && slots * 2 > s->slots) || gcl_arena_resize(s, slots)) {
      gcl_heap_large_set_size(s, size);
      if (gcl_unlikely(gcl_debug)) gcl_debug_resize(p, old, gcl_heap_block_size(p, GCL_FATAL_NONE));
      return p;
    }
  } else if (size <= old && size > old / 2) {
    return p; /* fits, and moving would not save at least half */
  }
  void *q = gcl_malloc(size);
  if (!q) return NULL; /* errno is ENOMEM; p is untouched */
  memcpy(q, p, size < old ? size : old);
  gcl_free(p, foreign);
  return q;
}

void *gcl_reallocarray(void *p, size_t n, size_t size, const gcl_foreign_t *foreign) {
  size_t total;
  if (__builtin_mul_overflow(n, size, &total)) return enomem();
  return gcl_realloc(p, total, foreign);
}

static bool pow2(size_t x) {
  return x && !(x & (x - 1));
}

/* align: a power of two. */
static void *aligned(size_t align, size_t size) {
  if (size > PTRDIFF_MAX || align > PTRDIFF_MAX) return enomem();
  if (align <= GCL_ALIGNMENT) return gcl_malloc_inline(size);
  return gcl_heap_malloc_aligned(size, align, false);
}

int gcl_posix_memalign(void **out, size_t align, size_t size) {
  if (!pow2(align) || align % sizeof(void *)) return EINVAL;
  int saved = errno;
  void *p = aligned(align, size);
  if (!p) {
    errno = saved;
    return ENOMEM;
  }
  *out = p;
  return 0;
}

void *gcl_aligned_alloc(size_t align, size_t size) {
  if (!pow2(align)) {
    errno = EINVAL;
    return NULL;
  }
  return aligned(align, size);
}

void *gcl_memalign(size_t align, size_t size) {
  if (align > SIZE_MAX / 2 + 1) {
    errno = EINVAL;
    return NULL;
  }
  if (!pow2(align)) align = align <= 1 ? 1 : (size_t)1 << (64 - __builtin_clzll(align - 1));
  return aligned(align, size);
}

void *gcl_valloc(size_t size) {
  return aligned(gcl_prim_page_size(), size);
}

void *gcl_pvalloc(size_t size) {
  size_t page = gcl_prim_page_size();
  if (size > SIZE_MAX - page) return enomem();
  size = size ? (size + page - 1) & ~(page - 1) : page;
  return aligned(page, size);
}

size_t gcl_usable_size(const void *p, const gcl_foreign_t *foreign) {
  if (!p) return 0;
  if (!gcl_region_contains(p)) {
    if (!foreign) gcl_fatal(GCL_FATAL_INVALID_SIZE, p, NULL);
    return foreign->usable_size((void *)p);
  }
  return gcl_heap_block_size(p, GCL_FATAL_INVALID_SIZE);
}

/* ---- The prefixed public API: no foreign pointers (they are fatal). ---------- */

GCL_EXPORT void *gclzone_malloc(size_t size) { return gcl_malloc(size); }
GCL_EXPORT void gclzone_free(void *p) { gcl_free(p, NULL); }
GCL_EXPORT void *gclzone_calloc(size_t n, size_t size) { return gcl_calloc(n, size); }
GCL_EXPORT void *gclzone_realloc(void *p, size_t size) { return gcl_realloc(p, size, NULL); }
GCL_EXPORT void *gclzone_reallocarray(void *p, size_t n, size_t size) {
  return gcl_reallocarray(p, n, size, NULL);
}
GCL_EXPORT int gclzone_posix_memalign(void **out, size_t align, size_t size) {
  return gcl_posix_memalign(out, align, size);
}
GCL_EXPORT void *gclzone_aligned_alloc(size_t align, size_t size) { return gcl_aligned_alloc(align, size); }
GCL_EXPORT void *gclzone_memalign(size_t align, size_t size) { return gcl_memalign(align, size); }
GCL_EXPORT void *gclzone_valloc(size_t size) { return gcl_valloc(size); }
GCL_EXPORT void *gclzone_pvalloc(size_t size) { return gcl_pvalloc(size); }
GCL_EXPORT size_t gclzone_usable_size(const void *p) { return gcl_usable_size(p, NULL); }

GCL_EXPORT void *gclzone_sbrk(intptr_t increment) { return gcl_hostheap_sbrk(increment); }
GCL_EXPORT int gclzone_brk(void *addr) { return gcl_hostheap_brk(addr); }

GCL_EXPORT bool gclzone_owns(const void *p) {
  return p && gcl_ready() && gcl_heap_block_size(p, GCL_FATAL_NONE) != 0;
}

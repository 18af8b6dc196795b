/* alloc.c: the malloc family's semantics, the slow paths, and the prefixed
 * public API.
 *
 * Everything a caller can observe is decided here, once, for both front
 * ends: errno on every failure (ENOMEM, EINVAL), overflow checks, zero
 * sizes, alignment rules, realloc's contract, and what happens to pointers
 * outside the region (the front end's gcl_foreign_t, or fatal when it gives
 * none). The semantics are glibc's on Linux:
 *   malloc(0) returns a unique 16-byte block; realloc(p, 0) frees p and
 *   returns NULL; aligned_alloc rejects a non-power-of-two alignment
 *   (glibc >= 2.38); memalign rounds it up; free keeps errno.
 *
 * Every allocation the inline fast path (internal.h) does not serve enters
 * gcl_alloc_slow, the one slow path (the fast path's miss first tries
 * gcl_alloc_refill, its out-of-line tail): it initializes the process if
 * nobody has, runs the debug hooks, and picks the path by size once: a size
 * class (theap.c), or a large block (span.c). Every free the fast path does not
 * take enters gcl_alloc_free_slow, which picks by the block's span.
 *
 * The debug modes (debug.c) run only here, behind the one test of
 * gcl_debug_modes each slow path already has. In the exact modes (valgrind,
 * hardened) a block is asked for with room for its trailer (and canary),
 * knows the size it was asked for, and that size is what the program gets:
 * malloc_usable_size answers it, realloc keeps a block in place only while
 * the new size and its room fit the block's capacity, and memcheck is told
 * exactly that many bytes. The hardened mode adds, on free: the canary (an
 * overrun) and the word below the block (an underflow: the trailer of the
 * block below, debug.c) are checked, and the block is zeroed before it goes
 * back on a free list (slab.c checks it is still zero when it is reused);
 * malloc(0) is a block of a zero span (span.c), which any access faults
 * on; and a C++ sized delete must name the size that was asked for.
 */
#include "internal.h"

#include <errno.h>
#include <string.h>

static void *enomem(void) {
  errno = ENOMEM;
  return NULL;
}

/* The size class for `size` bytes aligned to `align` (a power of two), or 0
 * for a large block: the smallest class whose block size is a multiple of
 * align (slabs start on slot boundaries, their blocks a block size apart).
 * That is the class of n, the size rounded up to a multiple of align (and
 * at least align), and its block size is n itself: the block sizes between
 * 2^b and 2^(b+1) are every multiple of a step that is at most 2^(b-2)
 * (internal.h), so n, a multiple of align, is one of them when align is at
 * least the step, and any class at or above n is a multiple of align when
 * the step is. */
static unsigned class_for(size_t size, size_t align) {
  if (size > GCL_MEDIUM_MAX || align > GCL_SLOT_SIZE) return 0;
  size_t n = gcl_align_up(size < align ? align : size, align);
  if (n > GCL_MEDIUM_MAX) return 0;
  unsigned c = gcl_slab_class_of(n);
  gcl_assert(gcl_slab_class_size(c) % align == 0);
  return c;
}

/* The fast path's miss: the current slab s of the size's class (aligned to
 * align) has an empty free list. For a real slab (the empty span has no
 * class), the process is up and no debug mode is on: straight to the
 * theap, which gathers the slab's remote frees or finds another slab of the
 * class; else (no slab yet, a debug mode, the arena full: errno) the slow
 * path. (Not an entry of its own: where it does not go to the slow path, a
 * slab exists, so the process is initialized.) */
GCL_NOINLINE void *gcl_alloc_refill(size_t size, size_t align, gcl_span_t *s) {
  if (gcl_likely(s->sclass)) {
    void *b = gcl_theap_alloc(gcl_theap_self(), s->sclass, align);
    if (gcl_likely(b != NULL)) return b;
  }
  return gcl_alloc_slow(size, align, false);
}

GCL_NOINLINE void *gcl_alloc_slow(size_t size, size_t align, bool zero) {
  gcl_theap_t *h = gcl_theap_self();
  if (gcl_unlikely(!gcl_process_ready())) gcl_process_ensure();
  size_t room = size;
  if (gcl_unlikely(gcl_debug_modes)) {
    gcl_check_op();
    if (gcl_debug_hardened() && size == 0 && align <= GCL_SPAN_ZERO_STRIDE) {
      void *z = gcl_span_zero_alloc();
      return z ? z : enomem();
    }
    room = gcl_debug_room(size);
  }
  unsigned c = class_for(room, align);
  void *p;
  bool zeroed = false;
  if (c) {
    p = gcl_theap_alloc(h, c, align); /* a block of c or of a larger class (theap.c) */
    zeroed = gcl_debug_hardened();    /* hardened free blocks are zero (slab.c checked) */
  } else {
    gcl_span_t *s = gcl_theap_large_take(room, align);
    if (!s) s = gcl_span_large_alloc(room, align);
    p = s ? (void *)s->start : NULL;
    zeroed = s && (s->flags & GCL_SPAN_ZERO);
  }
  if (!p) return enomem();
  /* Describe the block before writing to it: memcheck may still see the
   * memory as freed blocks of an earlier span. */
  if (gcl_unlikely(gcl_debug_modes)) gcl_debug_alloc(p, size, gcl_span_usable(gcl_span_of(p)), zero && zeroed);
  if (zero && !zeroed) memset(p, 0, size);
  return p;
}

/* The span of live block p, or NULL with *why the misuse. A slab block
 * that carries its free tag is a double free only once its slab confirms
 * it (gcl_theap_tag_is_free): the program may have written that word. */
static gcl_span_t *live(const void *p, enum gcl_fatal *why) {
  gcl_span_t *s = gcl_span_live(p, why);
  if (gcl_unlikely(!s && *why == GCL_FATAL_DOUBLE_FREE)) {
    gcl_span_t *t = gcl_span_of(p);
    if (t->kind == GCL_SPAN_SLAB && !gcl_theap_tag_is_free(t, p)) s = t;
  }
  return s;
}

/* The size live block p of span s was asked for (exact modes; hardened: a
 * damaged canary is fatal). */
static size_t exact_size(const gcl_span_t *s, const void *p) {
  return s->kind == GCL_SPAN_ZEROS ? 0 : gcl_debug_size(p, gcl_span_usable(s));
}

/* A debug mode's part of freeing live block p of span s; true when the
 * block is freed already (a zero-size block). */
static bool free_debug(gcl_span_t *s, void *p) {
  if (gcl_debug_hardened() && s->kind == GCL_SPAN_ZEROS) {
    gcl_span_zero_free(s, p);
    return true;
  }
  size_t cap = gcl_span_usable(s), size = cap;
  if (gcl_debug_modes & GCL_DEBUG_EXACT) size = gcl_debug_size(p, cap);
  gcl_debug_free(p, cap);
  if (gcl_debug_hardened() && s->kind == GCL_SPAN_SLAB) {
    if ((uintptr_t)p != s->start) gcl_debug_check_before(p, cap);
    if (gcl_load_relaxed(&s->theap) == gcl_theap_self()) gcl_slab_check_after(s, p);
    gcl_debug_free_mark(p, gcl_debug_written(size, cap), cap); /* before the push publishes the block */
  }
  return false;
}

GCL_NOINLINE void gcl_alloc_free_slow(void *p, const gcl_foreign_t *foreign) {
  if (!p) return;
  int saved = errno;
  if (gcl_unlikely(gcl_debug_modes)) gcl_check_op();
  if (!gcl_region_contains(p)) {
    if (!foreign) gcl_log_fatal(GCL_FATAL_INVALID_FREE, p, NULL);
    foreign->free(p);
  } else {
    enum gcl_fatal why;
    gcl_span_t *s = live(p, &why);
    if (!s) gcl_log_fatal(why, p, NULL);
    if (gcl_unlikely(gcl_debug_modes) && free_debug(s, p)) {
      errno = saved;
      return;
    }
    if (s->kind != GCL_SPAN_LARGE) gcl_theap_free(s, p);
    else if (!gcl_theap_large_hold(s)) gcl_span_give(s);
  }
  errno = saved;
}

/* Hardened: a C++ sized delete of p names `size` (and `align` for the
 * aligned forms, 0 otherwise). It must be the size asked for: libstdc++'s
 * aligned new rounds the size up to the alignment before aligned_alloc, so
 * that rounded size is right too. Pointers that are not live blocks are
 * left to free, which reports them. */
void gcl_alloc_check_size(const void *p, size_t size, size_t align) {
  if (!p || !gcl_region_contains(p) || !gcl_process_ready()) return;
  enum gcl_fatal why;
  gcl_span_t *s = gcl_span_live(p, &why);
  if (!s) return;
  size_t asked = exact_size(s, p);
  if (size != asked && !(align && (align & (align - 1)) == 0 && size <= SIZE_MAX - align &&
                         gcl_align_up(size, align) == asked))
    gcl_log_fatal(GCL_FATAL_SIZED_FREE, p, NULL);
}

void *gcl_alloc_malloc(size_t size) {
  if (gcl_likely(size <= GCL_DIRECT_MAX)) return gcl_alloc_small(size);
  if (gcl_likely(size <= GCL_MEDIUM_MAX)) return gcl_alloc_medium(size);
  if (gcl_unlikely(size > PTRDIFF_MAX)) return enomem();
  return gcl_alloc_slow(size, GCL_ALIGNMENT, false);
}

void *gcl_alloc_calloc(size_t n, size_t size) {
  size_t total;
  if (__builtin_mul_overflow(n, size, &total) || total > PTRDIFF_MAX) return enomem();
  if (total > GCL_MEDIUM_MAX) return gcl_alloc_slow(total, GCL_ALIGNMENT, true);
  void *p = total <= GCL_DIRECT_MAX ? gcl_alloc_small(total) : gcl_alloc_medium(total);
  if (p) memset(p, 0, total);
  return p;
}

/* The live block at p (in the region), or fatal with `misuse`. */
static gcl_span_t *live_or_fatal(const void *p, enum gcl_fatal misuse) {
  enum gcl_fatal why;
  gcl_span_t *s = live(p, &why);
  if (!s) gcl_log_fatal(misuse, p, NULL);
  return s;
}

/* realloc keeps a block where it is (one that large blocks' own rules do
 * not cover) while the new size fits its capacity and moving would not save
 * at least half of it. */
static inline bool fits_in_place(size_t size, size_t cap) {
  return size <= cap && size > cap / 2;
}

/* realloc of live block p of span s in an exact mode: the same contract,
 * on the sizes asked for (exact_size), with room for the trailer. */
static void *realloc_exact(void *p, gcl_span_t *s, size_t size, const gcl_foreign_t *foreign) {
  size_t cap = gcl_span_usable(s), old = exact_size(s, p);
  if (size == 0) {
    gcl_alloc_free(p, foreign);
    return NULL;
  }
  if (size > PTRDIFF_MAX) return enomem();
  size_t room = gcl_debug_room(size);
  if (s->kind == GCL_SPAN_SLAB) {
    if (fits_in_place(room, cap)) {
      gcl_debug_resize(p, old, size, cap);
      return p;
    }
  } else if (s->kind == GCL_SPAN_LARGE && room > GCL_MEDIUM_MAX) {
    if (gcl_span_large_resize(s, room)) {
      gcl_debug_resize(p, old, size, gcl_span_usable(s));
      return p;
    }
  }
  void *q = gcl_alloc_malloc(size);
  if (!q) return NULL;
  memcpy(q, p, size < old ? size : old);
  gcl_alloc_free(p, foreign);
  return q;
}

static GCL_NOINLINE void *realloc_slow(void *p, size_t size, const gcl_foreign_t *foreign) {
  if (!p) return gcl_alloc_malloc(size);
  if (!gcl_region_contains(p)) {
    if (!foreign) gcl_log_fatal(GCL_FATAL_INVALID_REALLOC, p, NULL);
    return foreign->realloc(p, size);
  }
  gcl_span_t *s = live_or_fatal(p, GCL_FATAL_INVALID_REALLOC);
  if (gcl_unlikely(gcl_debug_modes & GCL_DEBUG_EXACT)) return realloc_exact(p, s, size, foreign);
  size_t old = gcl_span_usable(s);
  if (size == 0) {
    gcl_alloc_free(p, foreign);
    return NULL;
  }
  if (size > PTRDIFF_MAX) return enomem();
  void *q = NULL;
  if (s->kind == GCL_SPAN_LARGE && size > GCL_MEDIUM_MAX) {
    if (gcl_span_large_resize(s, size)) {
      if (gcl_unlikely(gcl_debug_modes)) gcl_debug_resize(p, old, gcl_span_usable(s), gcl_span_usable(s));
      return p;
    }
    /* Moving up: to a span with growth room, its pages moved there rather
     * than copied when the OS can (the debug modes describe every new
     * block, so they take malloc's way). */
    if (size > old && !gcl_debug_modes) {
      gcl_span_t *t = gcl_span_large_moved(size);
      if (t && gcl_span_large_move(s, t)) return (void *)t->start;
      q = t ? (void *)t->start : NULL;
    }
  } else if (fits_in_place(size, old)) {
    return p;
  }
  if (!q) q = gcl_alloc_malloc(size);
  if (!q) return NULL; /* errno is ENOMEM; p is untouched */
  memcpy(q, p, size < old ? size : old);
  gcl_alloc_free(p, foreign);
  return q;
}

/* realloc's fast path, for a live block that already fits: a slab block
 * whose class the new size still fills more than half of, a large block
 * whose pages it still fills to the last (what realloc_slow would keep in
 * place too). The block is checked as free's fast path checks it (a block
 * of its slab, without its free tag; CHECKS=0 drops that, as it does
 * there). Anything else, a debug mode or a check that fails, is
 * realloc_slow's, which decides and reports. */
void *gcl_alloc_realloc(void *p, size_t size, const gcl_foreign_t *foreign) {
  uintptr_t off = (uintptr_t)p - gcl_spans.base;
  if (gcl_likely(gcl_below_relaxed(off, &gcl_spans.top) && !gcl_debug_modes)) {
    gcl_span_t *s = gcl_spans.map[off >> GCL_SLOT_SHIFT];
    if (s->kind == GCL_SPAN_SLAB) {
      if (fits_in_place(size, s->block_size) &&
          (!GCL_CHECKS || (gcl_span_is_block(s, (uintptr_t)p, gcl_load_relaxed(&s->bump_key)) &&
                           ((gcl_block_t *)p)->tag != gcl_span_free_tag(s, p))))
        return p;
    } else if (s->kind == GCL_SPAN_LARGE && (uintptr_t)p == s->start && size > GCL_MEDIUM_MAX &&
               gcl_span_large_same_pages(s, size)) {
      return p;
    }
  }
  return realloc_slow(p, size, foreign);
}

void *gcl_alloc_reallocarray(void *p, size_t n, size_t size, const gcl_foreign_t *foreign) {
  size_t total;
  if (__builtin_mul_overflow(n, size, &total)) return enomem();
  return gcl_alloc_realloc(p, total, foreign);
}

static bool pow2(size_t x) {
  return x && !(x & (x - 1));
}

/* align: a power of two. A block of a size class takes malloc's fast path
 * from the class's current slab; large blocks, the slow path. */
static void *aligned(size_t align, size_t size) {
  if (size > PTRDIFF_MAX || align > PTRDIFF_MAX) return enomem();
  if (align <= GCL_ALIGNMENT) return gcl_alloc_malloc(size);
  unsigned c = class_for(size, align);
  if (gcl_likely(c)) return gcl_alloc_pop(gcl_theap_self()->cur[c], size, align);
  return gcl_alloc_slow(size, align, false);
}

int gcl_alloc_posix_memalign(void **out, size_t align, size_t size) {
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

void *gcl_alloc_aligned_alloc(size_t align, size_t size) {
  if (!pow2(align)) {
    errno = EINVAL;
    return NULL;
  }
  return aligned(align, size);
}

void *gcl_alloc_memalign(size_t align, size_t size) {
  if (align > SIZE_MAX / 2 + 1) {
    errno = EINVAL;
    return NULL;
  }
  if (!pow2(align)) align = align <= 1 ? 1 : (size_t)1 << (64 - __builtin_clzll(align - 1));
  return aligned(align, size);
}

void *gcl_alloc_valloc(size_t size) {
  return aligned(gcl_prim_page_size(), size);
}

void *gcl_alloc_pvalloc(size_t size) {
  size_t page = gcl_prim_page_size();
  if (size > SIZE_MAX - page) return enomem();
  return aligned(page, size ? gcl_align_up(size, page) : page);
}

size_t gcl_alloc_usable_size(const void *p, const gcl_foreign_t *foreign) {
  if (!p) return 0;
  if (!gcl_region_contains(p)) {
    if (!foreign) gcl_log_fatal(GCL_FATAL_INVALID_SIZE, p, NULL);
    return foreign->usable_size((void *)p);
  }
  gcl_span_t *s = live_or_fatal(p, GCL_FATAL_INVALID_SIZE);
  if (gcl_unlikely(gcl_debug_modes & GCL_DEBUG_EXACT)) return exact_size(s, p);
  return gcl_span_usable(s);
}

/* The usable size of p if it is a live block of the arena, else 0 (for any
 * bit pattern: the zone's size, gclzone_owns). */
size_t gcl_alloc_block_size(const void *p) {
  enum gcl_fatal why;
  gcl_span_t *s = live(p, &why);
  if (gcl_debug_hardened() && s && s->kind == GCL_SPAN_ZEROS) return 1; /* malloc(0): live, no byte to use */
  return s ? gcl_span_usable(s) : 0;
}

/* What a request of `size` bytes gets: its class, or whole pages. From a
 * page up a block may be bigger: a larger class's free block (theap.c's
 * larger_free), at most twice the size. */
size_t gcl_alloc_good_size(size_t size) {
  if (size <= GCL_MEDIUM_MAX) return gcl_slab_class_size(gcl_slab_class_of(size));
  return gcl_span_large_good_size(size);
}

/* Give free memory back: the calling thread's empty slabs, the empty
 * orphans, then every dirty page. Returns the bytes returned to the OS. */
size_t gcl_alloc_trim(void) {
  if (!gcl_process_ready()) return 0;
  gcl_theap_shed();
  return gcl_span_purge_all();
}

void *gcl_alloc_sbrk(intptr_t increment) {
  gcl_process_ensure();
  void *old;
  int err = gcl_hostheap_sbrk(increment, &old);
  if (err) {
    errno = err;
    return (void *)-1;
  }
  return old;
}

int gcl_alloc_brk(void *addr) {
  gcl_process_ensure();
  int err = gcl_hostheap_brk(addr);
  if (err) {
    errno = err;
    return -1;
  }
  return 0;
}

/* ---- The prefixed public API: no foreign pointers (they are fatal). ---------- */

GCL_EXPORT void *gclzone_malloc(size_t size) { return gcl_alloc_malloc(size); }
GCL_EXPORT void gclzone_free(void *p) { gcl_alloc_free(p, NULL); }
GCL_EXPORT void *gclzone_calloc(size_t n, size_t size) { return gcl_alloc_calloc(n, size); }
GCL_EXPORT void *gclzone_realloc(void *p, size_t size) { return gcl_alloc_realloc(p, size, NULL); }
GCL_EXPORT void *gclzone_reallocarray(void *p, size_t n, size_t size) {
  return gcl_alloc_reallocarray(p, n, size, NULL);
}
GCL_EXPORT int gclzone_posix_memalign(void **out, size_t align, size_t size) {
  return gcl_alloc_posix_memalign(out, align, size);
}
GCL_EXPORT void *gclzone_aligned_alloc(size_t align, size_t size) { return gcl_alloc_aligned_alloc(align, size); }
GCL_EXPORT void *gclzone_memalign(size_t align, size_t size) { return gcl_alloc_memalign(align, size); }
GCL_EXPORT void *gclzone_valloc(size_t size) { return gcl_alloc_valloc(size); }
GCL_EXPORT void *gclzone_pvalloc(size_t size) { return gcl_alloc_pvalloc(size); }
GCL_EXPORT size_t gclzone_usable_size(const void *p) { return gcl_alloc_usable_size(p, NULL); }
GCL_EXPORT bool gclzone_owns(const void *p) { return p && gcl_process_ready() && gcl_alloc_block_size(p) != 0; }

GCL_EXPORT void *gclzone_sbrk(intptr_t increment) { return gcl_alloc_sbrk(increment); }
GCL_EXPORT int gclzone_brk(void *addr) { return gcl_alloc_brk(addr); }

GCL_EXPORT size_t gclzone_trim(void) { return gcl_alloc_trim(); }
GCL_EXPORT size_t gclzone_collect(void) { return gcl_alloc_trim(); }

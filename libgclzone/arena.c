/* arena.c: the malloc arena, cut into spans of 64 KiB slots.
 *
 * Owns the arena's break (`top`), the slot map, the span descriptors and the
 * free spans. A span is a slab (heap.c), a large block, or free. Free spans
 * are dirty (pages still resident) or clean (returned to the OS, read as
 * zero); each kind sits in two-level segregated bins (TLSF over slot
 * counts) and neighbours of the same kind coalesce. Allocation prefers dirty
 * spans (no page faults), then clean ones, then the break. Dirty spans are
 * purged oldest first once they have been free for GCLZONE_PURGE_DELAY ms or
 * when more than GCLZONE_DIRTY_MAX bytes are dirty, so a loop that frees and
 * reallocates a big block reuses its pages instead of refaulting them.
 *
 * Invariants, under gcl_arena_lock: every slot below top belongs to exactly
 * one span and map[slot] points to it; spans never cross top; a descriptor
 * is never unmapped, so a stale pointer to one is harmless to read.
 */
#include "internal.h"

#include <errno.h>
#include <string.h>

gcl_hot_t gcl_hot;
gcl_lock_t gcl_arena_lock = GCL_LOCK_INIT;

#define NBINS 264
#define NWORDS ((NBINS + 63) / 64)

typedef struct freeset {
  gcl_span_t *bin[NBINS];
  uint64_t bits[NWORDS];
  size_t bytes;
} freeset_t;

static struct {
  size_t top;             /* slots carved */
  gcl_span_t *desc_free;  /* unused descriptors */
  uintptr_t desc_bump;    /* next never-used descriptor */
  freeset_t set[2];       /* [0] dirty, [1] clean */
  gcl_span_t *lru_first, *lru_last; /* dirty spans, oldest first */
  size_t used, used_peak, committed_peak, large_bytes, large_blocks;
} A;

#define DIRTY 0
#define CLEAN 1

static inline size_t slot_of(uintptr_t addr) {
  return (addr - gcl_hot.base) >> GCL_SLOT_SHIFT;
}
static inline uintptr_t addr_of(size_t slot) {
  return gcl_hot.base + (slot << GCL_SLOT_SHIFT);
}
static inline size_t first_slot(const gcl_span_t *s) {
  return slot_of(s->start);
}

void gcl_arena_reset(void) {
  memset(&A, 0, sizeof A);
  gcl_hot.base = gcl_region.arena.base;
  gcl_hot.map = (gcl_span_t **)gcl_region.map.base;
  gcl_store_release(&gcl_hot.top, 0);
}

/* ---- descriptors and the map ---------------------------------------------- */

static gcl_span_t *desc_new(void) {
  gcl_span_t *d = A.desc_free;
  if (d) {
    A.desc_free = d->next;
  } else {
    if (!A.desc_bump) A.desc_bump = gcl_region.spans.base;
    if (gcl_region_grow(&gcl_region.spans, A.desc_bump + sizeof *d, GCL_SLOT_SIZE)) return NULL;
    d = (gcl_span_t *)A.desc_bump;
    A.desc_bump += sizeof *d;
  }
  memset(d, 0, sizeof *d);
  return d;
}

static void desc_delete(gcl_span_t *d) {
  d->kind = GCL_SPAN_FREE;
  d->slots = 0;
  d->start = 0;
  d->next = A.desc_free;
  A.desc_free = d;
}

static void map_set(size_t slot, size_t n, gcl_span_t *s) {
  gcl_span_t **m = gcl_hot.map + slot;
  for (size_t i = 0; i < n; i++) m[i] = s;
}

/* ---- free sets -------------------------------------------------------------- */

static unsigned bin_of(size_t n) {
  if (n < 64) return (unsigned)n;
  unsigned fl = 63u - (unsigned)__builtin_clzll(n);
  return 64u + (fl - 6u) * 8u + (unsigned)((n >> (fl - 3u)) & 7u);
}

/* Smallest slot count that lands in bin b. */
static size_t bin_low(unsigned b) {
  if (b < 64) return b;
  unsigned fl = 6 + (b - 64) / 8, sl = (b - 64) % 8;
  return ((size_t)8 + sl) << (fl - 3);
}

static void set_insert(gcl_span_t *s) {
  freeset_t *fs = &A.set[s->flags & GCL_SPAN_DIRTY ? DIRTY : CLEAN];
  unsigned b = bin_of(s->slots);
  s->prev = NULL;
  s->next = fs->bin[b];
  if (s->next) s->next->prev = s;
  fs->bin[b] = s;
  fs->bits[b / 64] |= (uint64_t)1 << (b % 64);
  fs->bytes += (size_t)s->slots << GCL_SLOT_SHIFT;
  if (s->flags & GCL_SPAN_DIRTY) {
    s->lru_next = NULL;
    s->lru_prev = A.lru_last;
    if (A.lru_last) A.lru_last->lru_next = s;
    else A.lru_first = s;
    A.lru_last = s;
  }
}

static void set_remove(gcl_span_t *s) {
  freeset_t *fs = &A.set[s->flags & GCL_SPAN_DIRTY ? DIRTY : CLEAN];
  unsigned b = bin_of(s->slots);
  if (s->prev) s->prev->next = s->next;
  else fs->bin[b] = s->next;
  if (s->next) s->next->prev = s->prev;
  if (!fs->bin[b]) fs->bits[b / 64] &= ~((uint64_t)1 << (b % 64));
  fs->bytes -= (size_t)s->slots << GCL_SLOT_SHIFT;
  if (s->flags & GCL_SPAN_DIRTY) {
    if (s->lru_prev) s->lru_prev->lru_next = s->lru_next;
    else A.lru_first = s->lru_next;
    if (s->lru_next) s->lru_next->lru_prev = s->lru_prev;
    else A.lru_last = s->lru_prev;
  }
}

/* A free span of set fs with at least n slots, or NULL (good fit). */
static gcl_span_t *set_find(freeset_t *fs, size_t n) {
  unsigned b = bin_of(n);
  unsigned from = bin_low(b) == n ? b : b + 1;
  for (unsigned w = from / 64; w < NWORDS; w++) {
    uint64_t bits = fs->bits[w];
    if (w == from / 64) bits &= ~(uint64_t)0 << (from % 64);
    if (bits) return fs->bin[w * 64 + (unsigned)__builtin_ctzll(bits)];
  }
  for (gcl_span_t *s = fs->bin[b]; s; s = s->next)
    if (s->slots >= n) return s;
  return NULL;
}

/* Make s (already marked FREE with its flags) a free span, merging it with
 * free neighbours of the same kind. The largest piece keeps its descriptor
 * so that the map rewrites stay proportional to the smaller pieces. */
static void free_insert(gcl_span_t *s) {
  uint8_t kind = s->flags & GCL_SPAN_DIRTY;
  size_t first = first_slot(s), end = first + s->slots;
  gcl_span_t *l = first > 0 ? gcl_hot.map[first - 1] : NULL;
  gcl_span_t *r = end < A.top ? gcl_hot.map[end] : NULL;
  if (l && (l->kind != GCL_SPAN_FREE || (l->flags & GCL_SPAN_DIRTY) != kind)) l = NULL;
  if (r && (r->kind != GCL_SPAN_FREE || (r->flags & GCL_SPAN_DIRTY) != kind)) r = NULL;
  if (l) set_remove(l);
  if (r) set_remove(r);

  gcl_span_t *keep = s;
  if (l && l->slots > keep->slots) keep = l;
  if (r && r->slots > keep->slots) keep = r;
  size_t lo = l ? first_slot(l) : first;
  size_t hi = r ? first_slot(r) + r->slots : end;
  uint8_t flags = s->flags;
  if (l && !(l->flags & GCL_SPAN_ZERO)) flags &= (uint8_t)~GCL_SPAN_ZERO;
  if (r && !(r->flags & GCL_SPAN_ZERO)) flags &= (uint8_t)~GCL_SPAN_ZERO;
  if (l && keep != l) map_set(first_slot(l), l->slots, keep), desc_delete(l);
  if (keep != s) map_set(first, s->slots, keep), desc_delete(s);
  if (r && keep != r) map_set(first_slot(r), r->slots, keep), desc_delete(r);
  keep->kind = GCL_SPAN_FREE;
  keep->start = addr_of(lo);
  keep->slots = (uint32_t)(hi - lo);
  keep->flags = flags;
  keep->freed_ms = kind ? gcl_prim_clock_ms() : 0; /* a merge restarts the delay */
  set_insert(keep);
}

/* ---- purging ------------------------------------------------------------------ */

static void purge_span(gcl_span_t *s) {
  set_remove(s);
  int err = gcl_prim_purge((void *)s->start, (size_t)s->slots << GCL_SLOT_SHIFT);
  if (err) gcl_fatal(GCL_FATAL_OS, (void *)s->start, "madvise");
  s->flags = GCL_SPAN_ZERO | (s->flags & GCL_SPAN_WAS_LARGE);
  free_insert(s);
}

static void maybe_purge(void) {
  if (!A.lru_first) return;
  uint64_t now = gcl_opt.purge_delay_ms >= 0 ? gcl_prim_clock_ms() : 0;
  while (A.lru_first) {
    gcl_span_t *s = A.lru_first;
    bool over = A.set[DIRTY].bytes > gcl_opt.dirty_max;
    bool old = gcl_opt.purge_delay_ms >= 0 && now - s->freed_ms >= (uint64_t)gcl_opt.purge_delay_ms;
    if (!over && !old) break;
    purge_span(s);
  }
}

size_t gcl_arena_purge_all(void) {
  gcl_lock(&gcl_arena_lock);
  size_t n = A.set[DIRTY].bytes;
  while (A.lru_first) purge_span(A.lru_first);
  gcl_unlock(&gcl_arena_lock);
  return n;
}

/* ---- taking and giving spans ------------------------------------------------------ */

/* Carve [at, at + n) out of free span f (already removed from its set).
 * Pieces before and after go back as free spans; the back piece keeps f's
 * descriptor so only the taken slots (and the front pad) are rewritten. */
static gcl_span_t *carve(gcl_span_t *f, size_t at, size_t n, uint8_t kind) {
  size_t first = first_slot(f), end = first + f->slots;
  uint8_t flags = f->flags;
  gcl_span_t *front = NULL, *mid = f;
  if (at > first) {
    front = desc_new();
    if (!front) return NULL;
  }
  if (at + n < end) {
    mid = desc_new();
    if (!mid) {
      if (front) desc_delete(front);
      return NULL;
    }
  }
  if (front) {
    front->start = addr_of(first);
    front->slots = (uint32_t)(at - first);
    front->flags = flags;
    front->freed_ms = f->freed_ms;
    map_set(first, at - first, front);
  }
  if (mid != f) {
    f->start = addr_of(at + n);
    f->slots = (uint32_t)(end - at - n);
    map_set(at, n, mid);
  }
  mid->start = addr_of(at);
  mid->slots = (uint32_t)n;
  mid->flags = flags;
  mid->kind = kind;
  /* Re-file the remainders without merging: their neighbours are the new
   * span and spans that were not mergeable before. */
  if (front) set_insert(front);
  if (mid != f) set_insert(f);
  return mid;
}

static gcl_span_t *take_free(size_t n, size_t align, uint8_t kind) {
  size_t need = n + align - 1;
  for (int k = DIRTY; k <= CLEAN; k++) {
    gcl_span_t *f = set_find(&A.set[k], need);
    if (!f) continue;
    set_remove(f);
    size_t first = first_slot(f);
    size_t at = (first + align - 1) & ~(align - 1);
    gcl_span_t *s = carve(f, at, n, kind);
    if (!s) {
      set_insert(f);
      return NULL;
    }
    return s;
  }
  return NULL;
}

static int grow_top(size_t to) {
  uintptr_t end = addr_of(to);
  if (end > gcl_region.arena.limit || end < gcl_hot.base) return ENOMEM;
  if (gcl_region_grow(&gcl_region.arena, end, GCL_ARENA_ALIGN)) return ENOMEM;
  uintptr_t map_end = (uintptr_t)(gcl_hot.map + to);
  if (gcl_region_grow(&gcl_region.map, map_end, GCL_SLOT_SIZE)) return ENOMEM;
  return 0;
}

static gcl_span_t *take_top(size_t n, size_t align, uint8_t kind) {
  size_t at = (A.top + align - 1) & ~(align - 1);
  if (at + n < at || grow_top(at + n)) return NULL;
  gcl_span_t *pad = NULL, *s = desc_new();
  if (!s) return NULL;
  if (at > A.top) {
    pad = desc_new();
    if (!pad) {
      desc_delete(s);
      return NULL;
    }
    pad->start = addr_of(A.top);
    pad->slots = (uint32_t)(at - A.top);
    pad->flags = GCL_SPAN_ZERO; /* clean: never touched */
    map_set(A.top, at - A.top, pad);
  }
  s->start = addr_of(at);
  s->slots = (uint32_t)n;
  s->flags = GCL_SPAN_ZERO;
  s->kind = kind; /* before the pad is filed: it must not merge with s */
  map_set(at, n, s);
  A.top = at + n;
  gcl_store_release(&gcl_hot.top, A.top << GCL_SLOT_SHIFT);
  if (pad) free_insert(pad);
  return s;
}

static void note_used(int64_t delta) {
  A.used += (size_t)delta;
  if (A.used > A.used_peak) A.used_peak = A.used;
  size_t committed = (A.top << GCL_SLOT_SHIFT) - A.set[CLEAN].bytes;
  if (committed > A.committed_peak) A.committed_peak = committed;
}

/* A span of `slots` slots whose first slot is a multiple of `align` (a power
 * of two, in slots), marked `kind`. Its GCL_SPAN_ZERO flag tells whether the
 * memory reads as zero. NULL when the arena is full. */
gcl_span_t *gcl_arena_take(size_t slots, size_t align, uint8_t kind) {
  gcl_lock(&gcl_arena_lock);
  gcl_span_t *s = take_free(slots, align, kind);
  if (!s) s = take_top(slots, align, kind);
  if (s) {
    s->flags &= GCL_SPAN_ZERO;
    s->next = s->prev = NULL;
    /* A usable end set under the lock, so that a stats walk never reads an
     * unset one; the heap narrows it to the requested pages (or, for a slab,
     * to its last block) after we return. */
    s->bump_end = s->start + (slots << GCL_SLOT_SHIFT);
    if (kind == GCL_SPAN_LARGE) A.large_bytes += slots << GCL_SLOT_SHIFT, A.large_blocks++;
    note_used((int64_t)(slots << GCL_SLOT_SHIFT));
  }
  maybe_purge();
  gcl_unlock(&gcl_arena_lock);
  return s;
}

/* Give back a slab or large span; its pages stay resident until purged. */
void gcl_arena_give(gcl_span_t *s) {
  gcl_lock(&gcl_arena_lock);
  size_t bytes = (size_t)s->slots << GCL_SLOT_SHIFT;
  if (s->kind == GCL_SPAN_LARGE) A.large_bytes -= bytes, A.large_blocks--;
  uint8_t was_large = s->kind == GCL_SPAN_LARGE ? GCL_SPAN_WAS_LARGE : 0;
  s->kind = GCL_SPAN_FREE;
  s->flags = GCL_SPAN_DIRTY | was_large;
  gcl_store_relaxed(&s->fast_owner, 0);
  gcl_store_relaxed(&s->heap, NULL);
  s->block_size = 0;
  note_used(-(int64_t)bytes);
  free_insert(s);
  maybe_purge();
  gcl_unlock(&gcl_arena_lock);
}

/* Resize a large span in place to `slots`; false if its neighbour is taken. */
bool gcl_arena_resize(gcl_span_t *s, size_t slots) {
  bool ok = true;
  gcl_lock(&gcl_arena_lock);
  size_t first = first_slot(s), end = first + s->slots;
  if (slots < s->slots) {
    gcl_span_t *tail = desc_new();
    if (!tail) {
      ok = false;
    } else {
      tail->start = addr_of(first + slots);
      tail->slots = (uint32_t)(s->slots - slots);
      tail->flags = GCL_SPAN_DIRTY;
      map_set(first + slots, tail->slots, tail);
      s->slots = (uint32_t)slots;
      gcl_store_relaxed(&s->bump_end, s->start + (slots << GCL_SLOT_SHIFT));
      A.large_bytes -= (size_t)tail->slots << GCL_SLOT_SHIFT;
      note_used(-(int64_t)((size_t)tail->slots << GCL_SLOT_SHIFT));
      free_insert(tail);
    }
  } else if (slots > s->slots) {
    size_t extra = slots - s->slots;
    gcl_span_t *r = end < A.top ? gcl_hot.map[end] : NULL;
    if (r && r->kind == GCL_SPAN_FREE && r->slots >= extra) {
      set_remove(r);
      if (r->slots == extra) {
        desc_delete(r);
      } else {
        r->start = addr_of(end + extra);
        r->slots -= (uint32_t)extra;
        set_insert(r);
      }
    } else if (r && r->kind == GCL_SPAN_FREE && end + r->slots == A.top && !grow_top(end + extra)) {
      set_remove(r);
      desc_delete(r);
      A.top = end + extra;
      gcl_store_release(&gcl_hot.top, A.top << GCL_SLOT_SHIFT);
    } else if (end == A.top && !grow_top(end + extra)) {
      A.top = end + extra;
      gcl_store_release(&gcl_hot.top, A.top << GCL_SLOT_SHIFT);
    } else {
      ok = false;
    }
    if (ok) {
      map_set(end, extra, s);
      s->slots = (uint32_t)slots;
      gcl_store_relaxed(&s->bump_end, s->start + ((size_t)slots << GCL_SLOT_SHIFT));
      A.large_bytes += extra << GCL_SLOT_SHIFT;
      note_used((int64_t)(extra << GCL_SLOT_SHIFT));
    }
  }
  gcl_unlock(&gcl_arena_lock);
  return ok;
}

/* The span holding p, or NULL if p is not below the arena's break. */
gcl_span_t *gcl_arena_span_of(const void *p) {
  uintptr_t off = (uintptr_t)p - gcl_hot.base;
  if (off >= gcl_load_acquire(&gcl_hot.top)) return NULL;
  return gcl_hot.map[off >> GCL_SLOT_SHIFT];
}

void gcl_arena_stats(gcl_arena_stats_t *out) {
  gcl_lock(&gcl_arena_lock);
  out->spans_bytes = A.used;
  out->spans_peak = A.used_peak;
  out->committed = (A.top << GCL_SLOT_SHIFT) - A.set[CLEAN].bytes;
  out->committed_peak = A.committed_peak;
  out->dirty = A.set[DIRTY].bytes;
  out->large_bytes = A.large_bytes;
  out->large_blocks = A.large_blocks;
  gcl_unlock(&gcl_arena_lock);
}

/* ---- validation (GCLZONE_CHECK, the zone's check) --------------------------------- */

/* Under gcl_arena_lock: what is broken, naming the address in *where, or
 * NULL. The break is in range and committed, and so is the map up to it;
 * the spans tile [base, top), each slot maps to a descriptor that agrees;
 * a published slab's fields hold (gcl_heap_slab_broken); every free span sits
 * in the right bin of the right set, no two free neighbours of one kind
 * are left unmerged, and the sets' byte counts add up. What owning threads
 * change without the lock is not followed (free lists) or not compared
 * (counters). A large block's size is narrowed by its thread after the
 * span is taken or resized (gcl_heap_large_set_size), so only its place
 * in the map is checked. */
const char *gcl_arena_broken(uintptr_t *where) {
  const gcl_region_t *r = &gcl_region;
  size_t top = gcl_load_relaxed(&gcl_hot.top), free_bytes[2] = {0, 0};
  const gcl_span_t *prev = NULL;
  *where = gcl_hot.base;
  if (gcl_hot.base != r->arena.base) return "the arena base is not the region's";
  if (top != A.top << GCL_SLOT_SHIFT || top > r->arena.limit - r->arena.base) return "the arena break is out of range";
  if (gcl_hot.base + top > r->arena.committed) return "the arena break is above its committed end";
  if ((uintptr_t)(gcl_hot.map + A.top) > r->map.committed) return "the slot map is not committed up to the break";
  for (size_t i = 0; i < A.top;) {
    const gcl_span_t *s = gcl_hot.map[i];
    uintptr_t d = (uintptr_t)s;
    *where = addr_of(i);
    if (d < r->spans.base || d >= r->spans.committed || (d - r->spans.base) % sizeof *s)
      return "a slot maps to no span descriptor";
    if (s->start != *where || s->slots == 0 || i + s->slots > A.top) return "a span disagrees with the slot map";
    for (size_t j = 1; j < s->slots; j++)
      if (gcl_hot.map[i + j] != s) return *where = addr_of(i + j), "a span's slots map to another span";
    if (s->kind == GCL_SPAN_FREE) {
      if (s->flags & ~(GCL_SPAN_ZERO | GCL_SPAN_DIRTY | GCL_SPAN_WAS_LARGE)) return "a free span has unknown flags";
      if (prev && prev->kind == GCL_SPAN_FREE && (prev->flags & GCL_SPAN_DIRTY) == (s->flags & GCL_SPAN_DIRTY))
        return "two free neighbours were not merged";
      free_bytes[s->flags & GCL_SPAN_DIRTY ? DIRTY : CLEAN] += (size_t)s->slots << GCL_SLOT_SHIFT;
    } else if (s->kind == GCL_SPAN_SLAB) {
      const char *why = gcl_slab_published(s) ? gcl_heap_slab_broken(s) : NULL;
      if (why) return why;
    } else if (s->kind != GCL_SPAN_LARGE) {
      return "a span has an unknown kind";
    }
    prev = s;
    i += s->slots;
  }
  *where = gcl_hot.base;
  for (int k = DIRTY; k <= CLEAN; k++) {
    size_t bytes = 0;
    for (unsigned b = 0; b < NBINS; b++) {
      bool listed = (A.set[k].bits[b / 64] >> (b % 64)) & 1;
      if (listed != (A.set[k].bin[b] != NULL)) return "a free bin's bit is wrong";
      for (const gcl_span_t *s = A.set[k].bin[b]; s; s = s->next) {
        *where = s->start;
        if (s->kind != GCL_SPAN_FREE || bin_of(s->slots) != b || (s->flags & GCL_SPAN_DIRTY ? DIRTY : CLEAN) != k)
          return "a free bin holds a wrong span";
        if (s->next && s->next->prev != s) return "a free bin's list is broken";
        bytes += (size_t)s->slots << GCL_SLOT_SHIFT;
      }
    }
    *where = gcl_hot.base;
    if (bytes != A.set[k].bytes || bytes != free_bytes[k]) return "free span bytes do not add up";
  }
  return NULL;
}

void gcl_arena_validate(void) {
  uintptr_t where;
  gcl_lock(&gcl_arena_lock);
  const char *why = gcl_arena_broken(&where);
  gcl_unlock(&gcl_arena_lock);
  if (why) gcl_fatal(GCL_FATAL_CORRUPT, (void *)where, why);
}

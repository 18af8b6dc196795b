/* span.c: the arena's spans: slots, the slot map, span descriptors, free
 * spans, purging, and large blocks.
 *
 * Owns the arena's break (`top`), the slot map, the descriptors, the free
 * spans, what a pointer into the arena is (gcl_span_of, gcl_span_live,
 * gcl_span_usable), and everything about large blocks: their allocation,
 * usable size, in-place resizing and the realloc policy. A span is a slab
 * (slab.c fills it in), a large block, or free. Free spans are dirty (pages
 * still resident) or clean (returned to the OS, read as zero); each kind
 * sits in two-level segregated bins (TLSF over slot counts) and neighbours
 * of the same kind coalesce. Allocation prefers dirty spans (no page
 * faults), then clean ones, then the break (a free span that ends at the
 * break grows past it, take_grown). Dirty spans are purged oldest
 * first once they have been free for GCLZONE_PURGE_DELAY ms or when more
 * are dirty than the cap (GCLZONE_DIRTY_MAX bytes, or GCLZONE_DIRTY_SHARE
 * percent of the bytes in use if more), so a loop that frees and
 * reallocates big blocks reuses their pages instead of refaulting them.
 *
 * Invariants, under gcl_span_lock: every slot below top belongs to exactly
 * one span and map[slot] points to it; spans never cross top; a descriptor
 * is never unmapped, so a stale pointer to one is harmless to read. A large
 * block's usable_end is written here alone, under the lock (or, for a held
 * span, by the one thread holding it: gcl_span_unhold). (The validator
 * is check.c's gcl_check_spans.)
 *
 * Hardened mode (GCLZONE_HARDEN, debug.c): the only accessible arena memory
 * is the usable part of live spans. A span given back is returned to the OS
 * and made inaccessible at once (gcl_prim_decommit: no dirty spans, and a
 * freed large block faults when touched), a span taken is made accessible
 * again (so every span handed out reads as zero), spans come from the break
 * before freed ones (a quarantine, see take), a large block ends with
 * inaccessible pages from its usable end to its span's end (at least one:
 * its slots are counted with a page more), slab.c does the same for a
 * slab's last page, and malloc(0) blocks live in inaccessible "zero spans".
 * A fault in any of that is turned into a fatal line by gcl_span_fault,
 * through a SIGSEGV handler installed when the first span is taken.
 */
#include "internal.h"

#include <errno.h>
#include <string.h>

#define ZERO_STRIDE GCL_SPAN_ZERO_STRIDE

gcl_spans_t gcl_spans;
gcl_lock_t gcl_span_lock = GCL_LOCK_INIT;
static gcl_span_t *zero_spans; /* hardened: zero spans with a free position, under the lock */
static bool fault_hooked;      /* hardened: the fault handler is installed */

#define DIRTY GCL_SPAN_DIRTY_SET
#define CLEAN GCL_SPAN_CLEAN_SET

static inline size_t slot_of(uintptr_t addr) {
  return (addr - gcl_spans.base) >> GCL_SLOT_SHIFT;
}
static inline uintptr_t addr_of(size_t slot) {
  return gcl_spans.base + (slot << GCL_SLOT_SHIFT);
}
static inline size_t first_slot(const gcl_span_t *s) {
  return slot_of(s->start);
}
static inline size_t bytes_of(size_t slots) {
  return slots << GCL_SLOT_SHIFT;
}

void gcl_span_reset(uintptr_t link_key) {
  memset(&gcl_spans, 0, sizeof gcl_spans);
  gcl_spans.base = gcl_region.arena.base;
  gcl_spans.map = (gcl_span_t **)gcl_region.map.base;
  gcl_spans.link_key = link_key;
  gcl_store_release(&gcl_spans.top, 0);
  zero_spans = NULL;
}

/* ---- descriptors and the map ---------------------------------------------- */

static gcl_span_t *desc_new(void) {
  gcl_span_t *d = gcl_spans.desc_free;
  if (d) {
    gcl_spans.desc_free = d->next;
  } else {
    if (!gcl_spans.desc_bump) gcl_spans.desc_bump = gcl_region.spans.base;
    if (gcl_region_grow(&gcl_region.spans, gcl_spans.desc_bump + sizeof *d, GCL_SLOT_SIZE)) return NULL;
    d = (gcl_span_t *)gcl_spans.desc_bump;
    gcl_spans.desc_bump += sizeof *d;
  }
  memset(d, 0, sizeof *d);
  return d;
}

static void desc_delete(gcl_span_t *d) {
  d->kind = GCL_SPAN_FREE;
  d->slots = 0;
  d->start = 0;
  d->next = gcl_spans.desc_free;
  gcl_spans.desc_free = d;
}

static void map_set(size_t slot, size_t n, gcl_span_t *s) {
  gcl_span_t **m = gcl_spans.map + slot;
  for (size_t i = 0; i < n; i++) m[i] = s;
}

/* ---- free sets -------------------------------------------------------------- */

unsigned gcl_span_bin_of(size_t n) {
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

static gcl_freeset_t *set_of(const gcl_span_t *s) {
  return &gcl_spans.free[s->flags & GCL_SPAN_DIRTY ? DIRTY : CLEAN];
}

static void set_insert(gcl_span_t *s) {
  gcl_assert(s->kind == GCL_SPAN_FREE && s->slots);
  gcl_freeset_t *fs = set_of(s);
  unsigned b = gcl_span_bin_of(s->slots);
  s->prev = NULL;
  s->next = fs->bin[b];
  if (s->next) s->next->prev = s;
  fs->bin[b] = s;
  fs->bits[b / 64] |= (uint64_t)1 << (b % 64);
  fs->bytes += bytes_of(s->slots);
  if (s->flags & GCL_SPAN_DIRTY) {
    s->lru_next = NULL;
    s->lru_prev = gcl_spans.lru_last;
    if (gcl_spans.lru_last) gcl_spans.lru_last->lru_next = s;
    else gcl_spans.lru_first = s;
    gcl_spans.lru_last = s;
  }
}

static void set_remove(gcl_span_t *s) {
  gcl_freeset_t *fs = set_of(s);
  unsigned b = gcl_span_bin_of(s->slots);
  gcl_assert(fs->bytes >= bytes_of(s->slots));
  if (s->prev) s->prev->next = s->next;
  else fs->bin[b] = s->next;
  if (s->next) s->next->prev = s->prev;
  if (!fs->bin[b]) fs->bits[b / 64] &= ~((uint64_t)1 << (b % 64));
  fs->bytes -= bytes_of(s->slots);
  if (s->flags & GCL_SPAN_DIRTY) {
    if (s->lru_prev) s->lru_prev->lru_next = s->lru_next;
    else gcl_spans.lru_first = s->lru_next;
    if (s->lru_next) s->lru_next->lru_prev = s->lru_prev;
    else gcl_spans.lru_last = s->lru_prev;
  }
}

/* A free span of set fs with at least n slots, or NULL (good fit). */
static gcl_span_t *set_find(gcl_freeset_t *fs, size_t n) {
  unsigned b = gcl_span_bin_of(n);
  unsigned from = bin_low(b) == n ? b : b + 1;
  for (unsigned w = from / 64; w < GCL_SPAN_NWORDS; w++) {
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
  uint8_t dirty = s->flags & GCL_SPAN_DIRTY;
  size_t first = first_slot(s), end = first + s->slots;
  gcl_span_t *l = first > 0 ? gcl_spans.map[first - 1] : NULL;
  gcl_span_t *r = end < gcl_spans.slots ? gcl_spans.map[end] : NULL;
  if (l && (l->kind != GCL_SPAN_FREE || (l->flags & GCL_SPAN_DIRTY) != dirty)) l = NULL;
  if (r && (r->kind != GCL_SPAN_FREE || (r->flags & GCL_SPAN_DIRTY) != dirty)) r = NULL;
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
  keep->freed_ms = dirty ? gcl_prim_clock_ms() : 0; /* a merge restarts the delay */
  set_insert(keep);
}

/* ---- purging ------------------------------------------------------------------ */

static void note(void);

static void purge_span(gcl_span_t *s) {
  set_remove(s);
  int err = gcl_prim_purge((void *)s->start, bytes_of(s->slots));
  if (err) gcl_log_fatal(GCL_FATAL_OS, (void *)s->start, "madvise");
  s->flags = GCL_SPAN_ZERO | (s->flags & GCL_SPAN_WAS_LARGE);
  free_insert(s);
  note();
}

/* The dirty cap: GCLZONE_DIRTY_MAX, or GCLZONE_DIRTY_SHARE percent of the
 * bytes in use, or what the bytes in use fell short of their recent peak,
 * whichever is most. A fixed cap suits a small heap, but a program with
 * hundreds of MiB live that replaces big blocks one at a time (bench's
 * largelive) would refault and zero every page of every new block (glibc
 * keeps them resident); in proportion to what is in use, the dirty memory
 * still shrinks with the heap. 75%, not 50: largelive's holes between its
 * 32 live blocks come to more than half of them, and at 50% it purged and
 * refaulted 280 MiB (242,260 faults, 1.01 s; 173,755 and 0.78 s at 75%, and
 * a lower peak RSS, 679 MiB against 692: purged spans came back as clean
 * ones, taken before the dirty holes fit). A program whose use swings
 * (threads that build a working set and exit, then new ones: mimalloc's
 * test-stress)
 * would still give back most of each swing and fault it in again in the
 * next: 18 faults for every page of test-stress's working set. Room up to
 * the recent peak lets the next swing reuse those pages, and never lets
 * used + dirty pass the peak of used. Recent: the highest figure in use in
 * this purge window and the last (PURGE_DELAY ms each), so what stays
 * unused is still given back by age, and a peak long past holds nothing.
 * Without DIRTY_SHARE (0: mallopt's M_TRIM_THRESHOLD, a fixed cap) the cap
 * is DIRTY_MAX alone; with a PURGE_DELAY below 0 (no windows) it has no
 * peak term. */
/* The highest figure in use in this purge window and the last, moving the
 * windows on first when `delay` ms have passed. */
static size_t recent_peak(uint64_t now, uint64_t delay) {
  uint64_t age = now - gcl_spans.recent_since;
  if (age >= delay) {
    /* A new window opens with what was in use before the change that
     * brought us here (a give: those bytes were in use until now). */
    size_t open = gcl_spans.used_before > gcl_spans.used ? gcl_spans.used_before : gcl_spans.used;
    gcl_spans.recent_peak[1] = age < 2 * delay ? gcl_spans.recent_peak[0] : open;
    gcl_spans.recent_peak[0] = open;
    gcl_spans.recent_since = now;
  }
  return gcl_spans.recent_peak[0] > gcl_spans.recent_peak[1] ? gcl_spans.recent_peak[0] : gcl_spans.recent_peak[1];
}

static size_t dirty_cap(uint64_t now, long delay) {
  size_t cap = gcl_load_relaxed(&gcl_options.dirty_max);
  long share = gcl_load_relaxed(&gcl_options.dirty_share);
  if (share <= 0) return cap;
  size_t prop = gcl_spans.used / 100 * (size_t)share;
  if (prop > cap) cap = prop;
  if (delay > 0) {
    size_t peak = recent_peak(now, (uint64_t)delay);
    if (peak > gcl_spans.used && peak - gcl_spans.used > cap) cap = peak - gcl_spans.used;
  }
  return cap;
}

static void maybe_purge(void) {
  if (!gcl_spans.lru_first) return;
  /* The options may change meanwhile (mallopt: options.c). */
  long delay = gcl_load_relaxed(&gcl_options.purge_delay_ms);
  uint64_t now = delay >= 0 ? gcl_prim_clock_ms() : 0;
  size_t dirty_max = dirty_cap(now, delay);
  while (gcl_spans.lru_first) {
    gcl_span_t *s = gcl_spans.lru_first;
    bool over = gcl_spans.free[DIRTY].bytes > dirty_max;
    bool old = delay >= 0 && now - s->freed_ms >= (uint64_t)delay;
    if (!over && !old) break;
    purge_span(s);
  }
}

/* Give every dirty page back to the OS now; returns the bytes given back. */
size_t gcl_span_purge_all(void) {
  gcl_prim_lock(&gcl_span_lock);
  size_t n = gcl_spans.free[DIRTY].bytes;
  while (gcl_spans.lru_first) purge_span(gcl_spans.lru_first);
  gcl_prim_unlock(&gcl_span_lock);
  return n;
}

/* ---- taking and giving spans ------------------------------------------------------ */

/* Carve [at, at + n) out of free span f (already removed from its set).
 * Pieces before and after go back as free spans; the back piece keeps f's
 * descriptor so only the taken slots (and the front pad) are rewritten. */
static gcl_span_t *carve(gcl_span_t *f, size_t at, size_t n, uint8_t kind) {
  size_t first = first_slot(f), end = first + f->slots;
  gcl_assert(at >= first && at + n <= end);
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
    gcl_span_t *f = set_find(&gcl_spans.free[k], need);
    if (!f) continue;
    set_remove(f);
    size_t at = gcl_align_up(first_slot(f), align);
    gcl_span_t *s = carve(f, at, n, kind);
    if (!s) {
      set_insert(f);
      return NULL;
    }
    return s;
  }
  return NULL;
}

/* Move the break to `slots` slots, committing the arena and the map. */
static int grow_top(size_t to) {
  uintptr_t end = addr_of(to);
  if (end > gcl_region.arena.limit || end < gcl_spans.base) return ENOMEM;
  if (gcl_region_grow(&gcl_region.arena, end, GCL_ARENA_ALIGN)) return ENOMEM;
  uintptr_t map_end = (uintptr_t)(gcl_spans.map + to);
  if (gcl_region_grow(&gcl_region.map, map_end, GCL_SLOT_SIZE)) return ENOMEM;
  return 0;
}

static void set_top(size_t slots) {
  gcl_spans.slots = slots;
  gcl_store_release(&gcl_spans.top, bytes_of(slots));
}

/* A free span that ends at the break and is too small for n slots grows
 * past the break into the new span, as glibc extends its top chunk: a
 * dirty one's pages are used again instead of being left behind resident
 * (a block freed and then asked for a little bigger: bench's large went
 * from 40 MB committed to the biggest block's 25), and the arena's break
 * moves less. Not in the hardened mode, whose freed spans wait (take). The
 * extension reads as zero, so the span keeps f's flags. NULL if there is
 * no such span, or the break cannot move. */
static gcl_span_t *take_grown(size_t n, size_t align, uint8_t kind) {
  size_t below = gcl_spans.slots;
  if (below == 0 || gcl_debug_hardened()) return NULL;
  gcl_span_t *f = gcl_spans.map[below - 1];
  if (f->kind != GCL_SPAN_FREE) return NULL;
  size_t first = first_slot(f), at = gcl_align_up(first, align);
  if (at + n <= below || at + n < at || grow_top(at + n)) return NULL;
  set_remove(f);
  map_set(below, at + n - below, f);
  f->slots = (uint32_t)(at + n - first);
  set_top(at + n);
  gcl_span_t *s = carve(f, at, n, kind);
  if (!s) set_insert(f); /* no descriptor for the pad: f, grown, stays free */
  return s;
}

static gcl_span_t *take_top(size_t n, size_t align, uint8_t kind) {
  gcl_span_t *grown = take_grown(n, align, kind);
  if (grown) return grown;
  size_t at = gcl_align_up(gcl_spans.slots, align);
  if (at + n < at || grow_top(at + n)) return NULL;
  gcl_span_t *pad = NULL, *s = desc_new();
  if (!s) return NULL;
  if (at > gcl_spans.slots) {
    pad = desc_new();
    if (!pad) {
      desc_delete(s);
      return NULL;
    }
    pad->start = addr_of(gcl_spans.slots);
    pad->slots = (uint32_t)(at - gcl_spans.slots);
    pad->flags = GCL_SPAN_ZERO; /* clean: never touched */
    map_set(gcl_spans.slots, at - gcl_spans.slots, pad);
  }
  s->start = addr_of(at);
  s->slots = (uint32_t)n;
  s->flags = GCL_SPAN_ZERO;
  s->kind = kind; /* before the pad is filed: it must not merge with s */
  map_set(at, n, s);
  set_top(at + n);
  if (pad) free_insert(pad);
  return s;
}

/* The counters changed: the peaks, and GCLZONE_TIMELINE's figures. */
static void note(void) {
  size_t committed = bytes_of(gcl_spans.slots) - gcl_spans.free[CLEAN].bytes;
  if (committed > gcl_spans.committed_peak) gcl_spans.committed_peak = committed;
  if (gcl_unlikely(gcl_load_relaxed(&gcl_timeline_on)))
    gcl_timeline_arena(gcl_spans.used, committed, gcl_spans.free[DIRTY].bytes);
}

static void note_used(int64_t delta) {
  gcl_spans.used_before = gcl_spans.used;
  gcl_spans.used += (size_t)delta;
  if (gcl_spans.used > gcl_spans.used_peak) gcl_spans.used_peak = gcl_spans.used;
  if (gcl_spans.used > gcl_spans.recent_peak[0]) gcl_spans.recent_peak[0] = gcl_spans.used;
  note();
}

/* Live large blocks only: held spans (gcl_span_hold) are counted out
 * without the lock, so these two are relaxed atomics. */
static void note_large(int64_t delta_bytes, int64_t delta_blocks) {
  __atomic_fetch_add(&gcl_spans.large_bytes, (size_t)delta_bytes, __ATOMIC_RELAXED);
  __atomic_fetch_add(&gcl_spans.large_blocks, (size_t)delta_blocks, __ATOMIC_RELAXED);
}

static void fault(void *addr);

/* Under the lock: a span of `slots` slots aligned to `align` slots. */
static gcl_span_t *take(size_t slots, size_t align, uint8_t kind) {
  gcl_span_t *s = NULL;
  /* Hardened: from the break first, so that freed spans (inaccessible)
   * wait, as in a quarantine, until the arena is used up: a dangling
   * pointer into a freed large block or slab faults even after later
   * allocations, instead of reaching their blocks. It costs address space
   * only (and slot map entries), never memory. */
  if (gcl_debug_hardened()) s = take_top(slots, align, kind);
  if (!s) s = take_free(slots, align, kind);
  if (!s && !gcl_debug_hardened()) s = take_top(slots, align, kind);
  if (gcl_debug_hardened() && s) {
    /* Free spans are inaccessible in the hardened mode (gcl_span_give). */
    if (!fault_hooked) fault_hooked = gcl_prim_fault_hook(fault) == 0;
    if (gcl_prim_commit((void *)s->start, bytes_of(slots))) {
      s->kind = GCL_SPAN_FREE;
      s->flags = GCL_SPAN_ZERO;
      free_insert(s);
      s = NULL;
    }
  }
  if (s) {
    s->flags &= GCL_SPAN_ZERO;
    s->next = s->prev = NULL;
    if (kind == GCL_SPAN_LARGE) note_large((int64_t)bytes_of(slots), 1);
    note_used((int64_t)bytes_of(slots));
  }
  maybe_purge();
  return s;
}

/* A span of `slots` slots whose first slot is a multiple of `align` (a power
 * of two, in slots), marked `kind`. Its GCL_SPAN_ZERO flag tells whether the
 * memory reads as zero. NULL when the arena is full. */
gcl_span_t *gcl_span_take(size_t slots, size_t align, uint8_t kind) {
  gcl_prim_lock(&gcl_span_lock);
  gcl_span_t *s = take(slots, align, kind);
  gcl_prim_unlock(&gcl_span_lock);
  return s;
}

/* Under the lock: make s free, dirty unless `zero` (its pages read as zero
 * and are not resident). */
static void give(gcl_span_t *s, bool zero) {
  gcl_assert(s->kind != GCL_SPAN_FREE && s->fast_owner == 0 && s->theap == NULL);
  size_t bytes = bytes_of(s->slots);
  if (s->kind == GCL_SPAN_LARGE) note_large(-(int64_t)bytes, -1);
  uint8_t was_large = s->kind == GCL_SPAN_LARGE || s->kind == GCL_SPAN_HELD ? GCL_SPAN_WAS_LARGE : 0;
  s->kind = GCL_SPAN_FREE;
  s->flags = (zero ? GCL_SPAN_ZERO : GCL_SPAN_DIRTY) | was_large;
  if (!zero && gcl_debug_hardened() && gcl_prim_decommit((void *)s->start, bytes) == 0)
    s->flags = GCL_SPAN_ZERO | was_large;
  note_used(-(int64_t)bytes);
  free_insert(s);
  maybe_purge();
}

/* Give back a slab (its owner fields already cleared: theap.c), a large
 * block or a held span; its pages stay resident until purged. */
void gcl_span_give(gcl_span_t *s) {
  gcl_prim_lock(&gcl_span_lock);
  give(s, false);
  gcl_prim_unlock(&gcl_span_lock);
}

/* ---- what a pointer is ------------------------------------------------------------ */

/* The span holding p, or NULL if p is not below the arena's break. */
gcl_span_t *gcl_span_of(const void *p) {
  uintptr_t off = (uintptr_t)p - gcl_spans.base;
  if (off >= gcl_load_acquire(&gcl_spans.top)) return NULL;
  return gcl_spans.map[off >> GCL_SLOT_SHIFT];
}

/* The slab or large span of a block handed out and not freed, else NULL,
 * with *why the fatal message for the misuse: a double free when p is a
 * free block of a slab (its tag is set) or the start of a freed large
 * block, else "not a live block". O(1), and nothing is read that p points
 * to until p is known to be a block start. */
gcl_span_t *gcl_span_live(const void *p, enum gcl_fatal *why) {
  gcl_span_t *s = gcl_span_of(p);
  *why = GCL_FATAL_INVALID_FREE;
  if (!s) return NULL;
  uintptr_t a = (uintptr_t)p;
  if (s->kind == GCL_SPAN_LARGE) return a == s->start ? s : NULL;
  if (s->kind != GCL_SPAN_SLAB) {
    if (gcl_debug_hardened() && s->kind == GCL_SPAN_ZEROS) {
      uintptr_t rel = a - s->start;
      if (rel % ZERO_STRIDE) return NULL;
      if ((gcl_load_relaxed(&s->zero_live) >> (rel / ZERO_STRIDE)) & 1) return s;
      *why = GCL_FATAL_DOUBLE_FREE;
      return NULL;
    }
    if (a == s->start && (s->flags & GCL_SPAN_WAS_LARGE)) *why = GCL_FATAL_DOUBLE_FREE;
    return NULL;
  }
  if (!gcl_span_is_block(s, a, gcl_load_relaxed(&s->bump_key))) return NULL;
  /* Under valgrind memcheck catches double frees itself, and reading a live
   * block's word 1 would be a read of memory the program may never have
   * written. */
  if (!(gcl_debug_modes & GCL_DEBUG_VALGRIND) && ((const gcl_block_t *)p)->tag == gcl_span_free_tag(s, p)) {
    *why = GCL_FATAL_DOUBLE_FREE;
    return NULL;
  }
  return s;
}

/* The usable size of a live block of span s. */
size_t gcl_span_usable(const gcl_span_t *s) {
  if (s->kind == GCL_SPAN_LARGE) return gcl_load_relaxed(&s->usable_end) - s->start;
  if (gcl_debug_hardened() && s->kind == GCL_SPAN_ZEROS) return 0;
  return s->block_size;
}

/* ---- large blocks -----------------------------------------------------------------
 * A large block is slot-aligned (for the O(1) lookup) but page-granular:
 * its usable size is the request rounded up to a page, and the rest of its
 * last slot is never touched. */

size_t gcl_span_large_good_size(size_t size) {
  size_t page = gcl_prim_page_size();
  if (size == 0) return page;
  return size > SIZE_MAX - page ? size : gcl_align_up(size, page);
}

static void set_usable(gcl_span_t *s, size_t size) {
  gcl_store_relaxed(&s->usable_end, s->start + gcl_span_large_good_size(size));
}

static size_t slots_for(size_t size) {
  size_t slots = gcl_align_up(size, GCL_SLOT_SIZE) >> GCL_SLOT_SHIFT;
  return slots ? slots : 1;
}

/* A large block of at least `size` bytes aligned to `align` (a power of
 * two), or NULL when the arena has no room. */
/* Hardened: the pages of large block s from its usable end to its span's
 * end are its guard; those below are accessible. `old_end`: where the span
 * ended before a resize (its pages beyond the new end are free now). */
static size_t guard_pages(void) {
  return gcl_debug_hardened() ? gcl_prim_page_size() : 0;
}

static void large_guard(gcl_span_t *s, uintptr_t old_end) {
  uintptr_t usable = s->usable_end, end = s->start + bytes_of(s->slots);
  if (old_end < end) old_end = end;
  if (gcl_prim_commit((void *)s->start, usable - s->start)) gcl_log_fatal(GCL_FATAL_OS, (void *)s->start, "mprotect");
  gcl_prim_decommit((void *)usable, old_end - usable); /* refused (the mapping limit): no guard */
}

/* A resize in place that kept the span: move the guard's start from
 * old_usable to s's usable end, one system call, none if it stays. */
static void large_guard_move(gcl_span_t *s, uintptr_t old_usable) {
  uintptr_t usable = s->usable_end;
  if (usable > old_usable && gcl_prim_commit((void *)old_usable, usable - old_usable))
    gcl_log_fatal(GCL_FATAL_OS, (void *)old_usable, "mprotect");
  if (usable < old_usable) gcl_prim_decommit((void *)usable, old_usable - usable);
}

/* Growth room for a large block that realloc moves or extends: a quarter
 * more slots than it needs, so that a buffer grown a little at a time is
 * copied a logarithmic number of times, not once per slot it crosses
 * (bench's realloc). Room past the usable end is never touched, so it
 * costs address space, not memory; 0 when the request is too big for it. */
static size_t growth_room(size_t slots) {
  size_t more = slots + slots / 4;
  return more > UINT32_MAX || more < slots ? 0 : more;
}

/* The slots a large block of `size` bytes takes, its guard included. */
static size_t large_slots(size_t size) {
  return slots_for(gcl_span_large_good_size(size) + guard_pages());
}

/* A large block of `size` bytes, in a span with growth room first when
 * `room` (then the exact slots, if the arena has no room for more). */
static gcl_span_t *large_alloc(size_t size, size_t align, bool room) {
  if (size > gcl_region.arena.limit - gcl_region.arena.base) return NULL;
  size_t slots = large_slots(size), more = room ? growth_room(slots) : 0;
  size_t align_slots = align > GCL_SLOT_SIZE ? align >> GCL_SLOT_SHIFT : 1;
  gcl_prim_lock(&gcl_span_lock);
  gcl_span_t *s = more ? take(more, align_slots, GCL_SPAN_LARGE) : NULL;
  if (!s) s = take(slots, align_slots, GCL_SPAN_LARGE);
  if (s) set_usable(s, size);
  if (s && guard_pages()) /* take made it all accessible; refused (the mapping limit): no guard */
    gcl_prim_decommit((void *)s->usable_end, s->start + bytes_of(s->slots) - s->usable_end);
  gcl_prim_unlock(&gcl_span_lock);
  return s;
}

gcl_span_t *gcl_span_large_alloc(size_t size, size_t align) {
  return large_alloc(size, align, false);
}

/* The slots a large block of `size` bytes takes (theap.c's held spans). */
size_t gcl_span_large_slots(size_t size) {
  return large_slots(size);
}

/* Held spans. A large block freed by a thread that has a theap may stay
 * with it (theap.c) for that thread's next large block of about its size:
 * no lock, no merge, no split. A held span is no live block (a free or a
 * realloc of its address is a double free; walks and images skip it) and
 * no free span (it is in no free set, and no neighbour merges with it):
 * kind HELD, flag WAS_LARGE, still counted in `used`, as its pages are
 * still the allocator's. Only the thread holding it changes it, which is
 * why its usable_end is written here without the lock. */
void gcl_span_hold(gcl_span_t *s) {
  gcl_assert(s->kind == GCL_SPAN_LARGE);
  note_large(-(int64_t)bytes_of(s->slots), -1);
  s->flags = GCL_SPAN_WAS_LARGE;
  gcl_store_relaxed(&s->kind, GCL_SPAN_HELD);
}

/* Held span s becomes a large block of `size` bytes again (it has the slots). */
void gcl_span_unhold(gcl_span_t *s, size_t size) {
  gcl_assert(s->kind == GCL_SPAN_HELD && large_slots(size) <= s->slots);
  set_usable(s, size);
  s->flags = 0; /* its pages were written: not zero */
  note_large((int64_t)bytes_of(s->slots), 1);
  gcl_store_relaxed(&s->kind, GCL_SPAN_LARGE);
}

/* The new home of a block realloc moves up to `size` bytes. */
gcl_span_t *gcl_span_large_moved(size_t size) {
  return large_alloc(size, GCL_ALIGNMENT, true);
}

/* realloc's move of large block s to t, the span gcl_span_large_moved took
 * for it, without a copy, when t is clean: the OS moves all of s's pages to
 * t's start (t is bigger: realloc moves a block only when its slots cannot
 * hold the new size) and s is given back clean, its pages gone with the
 * block; no page is faulted or thrown away, and no byte copied. Into a
 * dirty t the caller copies instead: moving would throw away t's resident
 * pages and leave s clean, to be faulted in again when it is reused. That
 * was measured (b4504ee moved into any t): bench's realloc peaked at 49.9
 * MiB instead of 62.0 (glibc 48.1), but a program that grows buffers to 8
 * MiB and frees them again and again took 7.7 s instead of 4.1, with
 * 908,000 page faults instead of 184,000; which freed pages stay resident
 * is the dirty cap's to decide (maybe_purge), not realloc's. Clean t only:
 * realloc 60.4 MiB, and the buffer program as fast as with copies (4.3 to
 * 5.4 s against 4.2 to 5.7, 3 interleaved runs). false: nothing changed,
 * the caller copies (gcl_prim_move says when the OS cannot). */
bool gcl_span_large_move(gcl_span_t *s, gcl_span_t *t) {
  gcl_assert(s->kind == GCL_SPAN_LARGE && t->kind == GCL_SPAN_LARGE);
  /* A guard (hardened) would move along and land inside t. */
  if (t->slots <= s->slots || guard_pages() || !(t->flags & GCL_SPAN_ZERO) ||
      gcl_prim_move((void *)s->start, (void *)t->start, bytes_of(s->slots)))
    return false;
  gcl_prim_lock(&gcl_span_lock);
  give(s, true);
  gcl_prim_unlock(&gcl_span_lock);
  return true;
}

/* Under the lock: resize large span s in place to `slots`; false if its
 * right neighbour is taken (growing) or no descriptor is left (shrinking). */
static bool resize(gcl_span_t *s, size_t slots) {
  size_t first = first_slot(s), end = first + s->slots;
  if (slots < s->slots) {
    gcl_span_t *tail = desc_new();
    if (!tail) return false;
    tail->start = addr_of(first + slots);
    tail->slots = (uint32_t)(s->slots - slots);
    tail->flags = guard_pages() ? GCL_SPAN_ZERO : GCL_SPAN_DIRTY; /* hardened: large_guard decommits it */
    map_set(first + slots, tail->slots, tail);
    s->slots = (uint32_t)slots;
    note_large(-(int64_t)bytes_of(tail->slots), 0);
    note_used(-(int64_t)bytes_of(tail->slots));
    free_insert(tail);
    return true;
  }
  size_t extra = slots - s->slots;
  gcl_span_t *r = end < gcl_spans.slots ? gcl_spans.map[end] : NULL;
  if (r && r->kind == GCL_SPAN_FREE && r->slots >= extra) {
    set_remove(r);
    if (r->slots == extra) {
      desc_delete(r);
    } else {
      r->start = addr_of(end + extra);
      r->slots -= (uint32_t)extra;
      set_insert(r);
    }
  } else if (r && r->kind == GCL_SPAN_FREE && end + r->slots == gcl_spans.slots && !grow_top(end + extra)) {
    set_remove(r);
    desc_delete(r);
    set_top(end + extra);
  } else if (end == gcl_spans.slots && !grow_top(end + extra)) {
    set_top(end + extra);
  } else {
    return false;
  }
  map_set(end, extra, s);
  s->slots = (uint32_t)slots;
  note_large((int64_t)bytes_of(extra), 0);
  note_used((int64_t)bytes_of(extra));
  return true;
}

/* Large block s would keep the same pages at `size` bytes: a resize
 * changes nothing, and needs no lock (only the block's holder, the caller,
 * writes its usable end). The common case of a buffer grown a few bytes at
 * a time (also realloc's fast path, alloc.c). */
bool gcl_span_large_same_pages(const gcl_span_t *s, size_t size) {
  return gcl_span_large_good_size(size) == gcl_load_relaxed(&s->usable_end) - s->start;
}

/* realloc of large block s to `size` (> GCL_MEDIUM_MAX): true when the
 * block stays where it is. It stays while its slots hold the new size and
 * it would not shrink below half of them; otherwise the span is resized in
 * place when its neighbour allows (growing: with growth room if it can).
 * false: the caller moves the block (to gcl_span_large_moved). */
bool gcl_span_large_resize(gcl_span_t *s, size_t size) {
  if (gcl_span_large_same_pages(s, size)) return true;
  size_t slots = large_slots(size);
  gcl_prim_lock(&gcl_span_lock);
  uintptr_t old_end = s->start + bytes_of(s->slots), old_usable = s->usable_end;
  bool kept = slots <= s->slots && slots * 2 > s->slots;
  size_t more = slots > s->slots ? growth_room(slots) : 0;
  bool stays = kept || (more && resize(s, more)) || resize(s, slots);
  if (stays) set_usable(s, size);
  if (stays && guard_pages()) {
    if (kept) large_guard_move(s, old_usable);
    else large_guard(s, old_end);
  }
  gcl_prim_unlock(&gcl_span_lock);
  return stays;
}

/* ---- zero-size blocks (hardened mode) ------------------------------------------
 * malloc(0) returns a position in a zero span: one slot, inaccessible, with
 * 64 positions ZERO_STRIDE apart whose live bits are out of line (zero_live),
 * so that any read or write through the block faults (gcl_span_fault), and
 * free, double free and interior pointers are told apart as for any block.
 * Zero spans are kept once made: they cost address space and a descriptor,
 * no memory. */

void *gcl_span_zero_alloc(void) {
  gcl_prim_lock(&gcl_span_lock);
  gcl_span_t *s = zero_spans;
  if (!s && (s = take(1, 1, GCL_SPAN_ZEROS)) != NULL) {
    if (gcl_prim_decommit((void *)s->start, GCL_SLOT_SIZE)) gcl_log_fatal(GCL_FATAL_OS, (void *)s->start, "mmap");
    s->zero_live = 0;
    s->next = NULL;
    zero_spans = s;
  }
  void *p = NULL;
  if (s) {
    unsigned i = (unsigned)__builtin_ctzll(~s->zero_live);
    gcl_store_relaxed(&s->zero_live, s->zero_live | (uint64_t)1 << i);
    p = (void *)(s->start + i * ZERO_STRIDE);
    if (s->zero_live == UINT64_MAX) zero_spans = s->next; /* full */
  }
  gcl_prim_unlock(&gcl_span_lock);
  return p;
}

/* Free live zero-size block p of zero span s (gcl_span_live said so). */
void gcl_span_zero_free(gcl_span_t *s, void *p) {
  gcl_prim_lock(&gcl_span_lock);
  if (s->zero_live == UINT64_MAX) {
    s->next = zero_spans;
    zero_spans = s;
  }
  size_t i = ((uintptr_t)p - s->start) / ZERO_STRIDE;
  gcl_store_relaxed(&s->zero_live, s->zero_live & ~((uint64_t)1 << i));
  gcl_prim_unlock(&gcl_span_lock);
}

/* ---- faults (hardened mode) -----------------------------------------------------------
 * What a fault at addr means, or GCL_FATAL_NONE when it is not ours: the
 * host heap is the runtime's business (GCL catches its own faults there)
 * and a fault in the metadata would be our own bug, not the program's.
 * Everything else in the region that is inaccessible was made so on
 * purpose: the guards between the parts, the arena above its break, the
 * pages past a live span's usable end, free spans and zero spans. Runs in
 * a signal handler: it reads, without locks, only what never moves. */
enum gcl_fatal gcl_span_fault(const void *addr, const void **name) {
  const gcl_region_t *r = &gcl_region;
  uintptr_t a = (uintptr_t)addr;
  *name = addr;
  if (!gcl_region_contains(addr) || a - r->host.base < r->host.limit - r->host.base || a >= r->map.base)
    return GCL_FATAL_NONE;
  gcl_span_t *s = gcl_span_of(addr);
  if (!s) return GCL_FATAL_GUARD;
  switch (gcl_load_relaxed(&s->kind)) {
  case GCL_SPAN_ZEROS:
    *name = (const void *)(s->start + (a - s->start) / ZERO_STRIDE * ZERO_STRIDE);
    return GCL_FATAL_ZERO_SIZE;
  case GCL_SPAN_FREE:
    return GCL_FATAL_FREED;
  default:
    return a >= gcl_align_up(gcl_load_relaxed(&s->usable_end), gcl_prim_page_size()) ? GCL_FATAL_GUARD : GCL_FATAL_NONE;
  }
}

static void fault(void *addr) {
  const void *name;
  enum gcl_fatal what = gcl_span_fault(addr, &name);
  if (what != GCL_FATAL_NONE) gcl_log_fatal(what, name, NULL);
}

/* ---- counters ------------------------------------------------------------------------ */

void gcl_span_stats(gcl_span_stats_t *out) {
  gcl_prim_lock(&gcl_span_lock);
  out->spans_bytes = gcl_spans.used;
  out->spans_peak = gcl_spans.used_peak;
  out->committed = bytes_of(gcl_spans.slots) - gcl_spans.free[CLEAN].bytes;
  out->committed_peak = gcl_spans.committed_peak;
  out->dirty = gcl_spans.free[DIRTY].bytes;
  out->large_bytes = gcl_load_relaxed(&gcl_spans.large_bytes);
  out->large_blocks = gcl_load_relaxed(&gcl_spans.large_blocks);
  gcl_prim_unlock(&gcl_span_lock);
}

/* ---- restoring an image (image.c) ----------------------------------------------------
 * The slot map and the descriptors come back from the file as they were
 * saved; everything volatile is rebuilt from them in one pass. */

/* The descriptor the map entry of `slot` names, if it is one of ours below
 * desc_end (a map read from a file may hold anything); else NULL. */
static gcl_span_t *restored_desc(size_t slot, uintptr_t desc_end) {
  uintptr_t d = (uintptr_t)gcl_spans.map[slot], lo = gcl_region.spans.base;
  if (d < lo || d >= desc_end || (d - lo) % sizeof(gcl_span_t)) return NULL;
  return (gcl_span_t *)d;
}

/* Rebuild the spans over a slot map and descriptors read from an image
 * (`slots` slots below the break, descriptors up to desc_end, committed and
 * in place) with the saved link key, so that every free tag and link stays
 * valid. Every saved free span becomes clean: its pages were not saved and
 * read as zero (gcl_span_restore_dirty corrects those an image did cover);
 * neighbours that were dirty and clean merge. Descriptors no slot maps to
 * go on the free list; the counters are recounted (peaks: the current
 * values); nothing is dirty yet. Slabs keep their own fields: theap.c makes
 * them orphans. Before the process is ready. 0; EINVAL for metadata that
 * does not tile the arena (every map entry is checked before it is
 * followed); ENOMEM. */
int gcl_span_restore(size_t slots, uintptr_t desc_end, uintptr_t link_key) {
  const gcl_part_t *dp = &gcl_region.spans;
  if (slots > (gcl_region.arena.limit - gcl_region.arena.base) >> GCL_SLOT_SHIFT || desc_end < dp->base ||
      desc_end > dp->limit || (desc_end - dp->base) % sizeof(gcl_span_t))
    return EINVAL;
  gcl_prim_lock(&gcl_span_lock);
  gcl_span_reset(link_key);
  int err = grow_top(slots) || gcl_region_grow(&gcl_region.spans, desc_end, GCL_SLOT_SIZE) ? ENOMEM : 0;
  size_t page = gcl_prim_page_size();
  gcl_span_t *run = NULL; /* the free span the current run of free spans merges into */
  for (size_t i = 0, n; !err && i < slots; i += n) {
    gcl_span_t *d = restored_desc(i, desc_end);
    if (!d || d->start != addr_of(i) || d->slots == 0 || d->slots > slots - i) {
      err = EINVAL;
      break;
    }
    n = d->slots;
    for (size_t j = 1; j < n; j++)
      if (gcl_spans.map[i + j] != d) err = EINVAL;
    if (err) break;
    d->lru_next = d->lru_prev = NULL;
    if (d->kind == GCL_SPAN_HELD) d->kind = GCL_SPAN_FREE; /* its theap is gone: a free span */
    if (d->kind == GCL_SPAN_FREE) {
      if (run) {
        run->slots += (uint32_t)n;
        map_set(i, n, run);
        d->slots = 0, d->start = 0; /* merged: its descriptor is free */
      } else {
        run = d;
        d->flags = GCL_SPAN_ZERO;
        d->freed_ms = 0;
      }
      continue;
    }
    if (run) set_insert(run), run = NULL;
    size_t bytes = bytes_of(n);
    if (d->kind == GCL_SPAN_LARGE) {
      size_t usable = d->usable_end - d->start;
      if (d->usable_end <= d->start || usable > bytes || usable % page) {
        err = EINVAL;
        break;
      }
      note_large((int64_t)bytes, 1);
    } else if (d->kind != GCL_SPAN_SLAB) {
      err = EINVAL;
      break;
    }
    d->flags = 0;
    d->next = d->prev = NULL;
    gcl_spans.used += bytes;
  }
  if (!err && run) set_insert(run);
  if (!err) {
    set_top(slots);
    gcl_spans.desc_bump = desc_end;
    /* A descriptor is in use exactly when the map entry of its first slot
     * names it; the rest are free (those merged away above included). */
    for (uintptr_t a = desc_end; a > dp->base;) {
      gcl_span_t *d = (gcl_span_t *)(a -= sizeof(gcl_span_t));
      size_t first = d->start >= gcl_spans.base ? slot_of(d->start) : slots;
      if (d->slots && first < slots && d->start == addr_of(first) && gcl_spans.map[first] == d) continue;
      desc_delete(d);
    }
    gcl_spans.used_peak = gcl_spans.used;
    gcl_spans.committed_peak = bytes_of(slots) - gcl_spans.free[CLEAN].bytes;
  }
  gcl_prim_unlock(&gcl_span_lock);
  return err;
}

/* The image mapped its bytes over [addr, addr + len) of the arena: a free
 * span there (the saver may cover small free gaps between blocks) does not
 * read as zero, so it becomes dirty, and is purged in due course. */
void gcl_span_restore_dirty(uintptr_t addr, size_t len) {
  gcl_prim_lock(&gcl_span_lock);
  size_t end = slot_of(addr + len - 1) + 1;
  for (size_t i = slot_of(addr); i < end && i < gcl_spans.slots;) {
    gcl_span_t *s = gcl_spans.map[i];
    i = first_slot(s) + s->slots;
    if (s->kind != GCL_SPAN_FREE || (s->flags & GCL_SPAN_DIRTY)) continue;
    set_remove(s);
    s->flags = GCL_SPAN_DIRTY;
    s->freed_ms = gcl_prim_clock_ms();
    set_insert(s);
  }
  size_t committed = bytes_of(gcl_spans.slots) - gcl_spans.free[CLEAN].bytes;
  if (committed > gcl_spans.committed_peak) gcl_spans.committed_peak = committed;
  gcl_prim_unlock(&gcl_span_lock);
}

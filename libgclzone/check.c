/* check.c: the validators, and GCLZONE_CHECK's check every N operations.
 *
 * Owns the rules the allocator's structures must satisfy, stated once and
 * checked from above: span.c's map, descriptors and free bins, slab.c's
 * free lists and block geometry, theap.c's queues and orphans, and the host
 * heap's break. Nothing below calls in here: the validators are run by
 * alloc.c's slow paths (GCLZONE_CHECK=N), by the Darwin zone's
 * introspect->check, and by the unit suites. Each rule reads only what the
 * checking thread may read safely: the spans under gcl_span_lock (owners'
 * lock-free fields are not compared, or only loosely), the calling thread's
 * own slabs, and the orphans under their lock.
 */
#include "internal.h"

static _Noreturn void corrupt(uintptr_t at, const char *what) {
  gcl_log_fatal(GCL_FATAL_CORRUPT, (void *)at, what);
}

static uintptr_t slot_addr(size_t slot) {
  return gcl_spans.base + (slot << GCL_SLOT_SHIFT);
}

/* ---- slabs ---------------------------------------------------------------------- */

/* What is wrong with a published slab's own fields (a relaxed copy), or
 * NULL: its size class, and a bump pointer that moves by whole blocks
 * inside the span. The owner moves bump and bump_key one after the other:
 * only it may compare them (slab_lists); here the key need only name a
 * block. */
static const char *slab_fields(const gcl_span_t *s) {
  size_t bs = s->block_size;
  uintptr_t end = s->start + ((size_t)s->slots << GCL_SLOT_SHIFT);
  if (!s->sclass || s->sclass >= GCL_NCLASSES || bs != gcl_slab_class_size(s->sclass) ||
      s->blockmagic != gcl_span_block_magic(bs))
    return "a slab's size class is inconsistent";
  if (s->slots != gcl_slab_slots(s->sclass)) return "a slab's size class is inconsistent";
  if (s->bump < s->start || s->bump > s->usable_end || s->usable_end > end || (s->bump - s->start) % bs ||
      (s->usable_end - s->start) % bs)
    return "a slab's bump pointer is out of range";
  uint64_t e = gcl_span_bump_key(bs, 1);
  if (s->bump_key % e || s->bump_key / e > (s->usable_end - s->start) / bs) return "a slab's bump key is out of range";
  return NULL;
}

/* A list head of slab s: NULL, or a block below bump (not followed). */
static bool head_ok(const gcl_span_t *s, uintptr_t b) {
  return !b || (b - s->start < s->bump - s->start && (b - s->start) % s->block_size == 0);
}

/* A slab whose lists the calling thread may read (its own, or an orphan
 * under the orphan lock): everything slab_fields checks, the key exactly,
 * and the heads of its three lists; with `lists`, the lists themselves
 * against the block count (slab.c), the remote one too if `remote`. What is
 * wrong, or NULL. */
static const char *slab_lists(const gcl_span_t *s, const gcl_theap_t *owner, bool lists, bool remote,
                              uintptr_t *where) {
  *where = s->start;
  if (s->kind != GCL_SPAN_SLAB || s->slots == 0) return "a theap lists a span that is no slab";
  if (gcl_span_of((void *)s->start) != s) return "a slab is not in the slot map";
  if (gcl_load_relaxed(&s->theap) != owner) return "a slab has the wrong owner";
  const char *why = slab_fields(s);
  if (why) return why;
  if (s->bump_key != gcl_span_bump_key(s->block_size, (s->bump - s->start) / s->block_size))
    return "a slab's bump key disagrees with its bump pointer";
  if (!head_ok(s, (uintptr_t)s->free) || !head_ok(s, (uintptr_t)gcl_slab_remote_head(gcl_load_relaxed(&s->remote))))
    return "corrupted free-list link";
  if (s->used > (s->bump - s->start) / s->block_size) return "a slab's block count does not add up";
  return lists ? gcl_slab_check_lists(s, remote, where) : NULL;
}

/* The orphans, each a slab (taking the orphan lock): with `lists`, their
 * free lists too, remote ones included (other threads only push onto
 * those). Without, nothing a slab's memory holds is read: what a restore
 * checks at once (image.c), before theap.c walks the lists of each
 * restored orphan the first time it follows them. What is wrong, or NULL,
 * with *where. */
const char *gcl_check_orphans(bool lists, uintptr_t *where) {
  const char *why = NULL;
  gcl_prim_lock(&gcl_theap_orphan_lock);
  for (unsigned c = 1; c < GCL_NCLASSES && !why; c++) {
    size_t n = 0;
    const gcl_span_t *last = NULL;
    for (gcl_span_t *s = gcl_theaps.orphans[c].first; s && !why; last = s, s = s->next) {
      *where = s->start;
      if (!s->orphan) why = "the orphan list holds a slab that is no orphan";
      else if (s->prev != last) why = "the orphan list is broken";
      else if (s->sclass != c) why = "a slab sits in another class's orphan list";
      else why = slab_lists(s, NULL, lists, true, where);
      n++;
    }
    if (!why && (gcl_theaps.orphans[c].last != last || gcl_theaps.norphans[c] != n))
      *where = last ? last->start : gcl_spans.base, why = "the orphan list is broken";
  }
  gcl_prim_unlock(&gcl_theap_orphan_lock);
  return why;
}

/* The calling thread's theap and the orphans: the slabs whose lists this
 * thread may read. Other threads' theaps change under our feet. */
static void theaps(void) {
  gcl_theap_t *h = gcl_theap_self();
  uintptr_t where;
  const char *why;
  if (h != &gcl_theap_empty) {
    for (unsigned c = 0; c <= GCL_NCLASSES; c++) {
      gcl_spanq_t *q = c < GCL_NCLASSES ? &h->queue[c] : &h->full;
      const gcl_span_t *last = NULL;
      for (gcl_span_t *s = q->first; s; last = s, s = s->next) {
        if ((why = slab_lists(s, h, true, false, &where))) corrupt(where, why);
        if (c < GCL_NCLASSES && s->sclass != c) corrupt(s->start, "a slab sits in another class's queue");
        if ((c == GCL_NCLASSES) != (s->full != 0)) corrupt(s->start, "a slab's full flag is wrong");
        if (s->prev != last) corrupt(s->start, "a theap's queue is broken");
      }
      if (q->last != last) corrupt(last ? last->start : gcl_spans.base, "a theap's queue is broken");
    }
  }
  if ((why = gcl_check_orphans(true, &where))) corrupt(where, why);
}

/* ---- spans ------------------------------------------------------------------------ */

/* Each free span's bin and set, and the sets' byte counts against what the
 * walk over the map found (free_bytes). */
static const char *bins(const size_t free_bytes[2], uintptr_t *where) {
  for (int k = GCL_SPAN_DIRTY_SET; k <= GCL_SPAN_CLEAN_SET; k++) {
    const gcl_freeset_t *fs = &gcl_spans.free[k];
    size_t bytes = 0;
    for (unsigned b = 0; b < GCL_SPAN_NBINS; b++) {
      bool listed = (fs->bits[b / 64] >> (b % 64)) & 1;
      if (listed != (fs->bin[b] != NULL)) return "a free bin's bit is wrong";
      for (const gcl_span_t *s = fs->bin[b]; s; s = s->next) {
        *where = s->start;
        int set = s->flags & GCL_SPAN_DIRTY ? GCL_SPAN_DIRTY_SET : GCL_SPAN_CLEAN_SET;
        if (s->kind != GCL_SPAN_FREE || gcl_span_bin_of(s->slots) != b || set != k) return "a free bin holds a wrong span";
        if (s->next && s->next->prev != s) return "a free bin's list is broken";
        bytes += (size_t)s->slots << GCL_SLOT_SHIFT;
      }
    }
    *where = gcl_spans.base;
    if (bytes != fs->bytes || bytes != free_bytes[k]) return "free span bytes do not add up";
  }
  return NULL;
}

/* Under gcl_span_lock: what is broken, naming the address in *where, or
 * NULL. The break is in range and committed, and so is the map up to it;
 * the spans tile [base, top) and each slot maps to a descriptor that
 * agrees (one walk, walk.c); a published slab's fields hold (slab_fields);
 * every free span sits in the right bin of the right set, no two free
 * neighbours of one kind are left unmerged, and the sets' byte counts add
 * up. What owning threads change without the lock is not followed (free
 * lists) or not compared (counters). */
const char *gcl_check_spans(uintptr_t *where) {
  const gcl_region_t *r = &gcl_region;
  size_t top = gcl_load_relaxed(&gcl_spans.top), free_bytes[2] = {0, 0};
  *where = gcl_spans.base;
  if (gcl_spans.base != r->arena.base) return "the arena base is not the region's";
  if (top != gcl_spans.slots << GCL_SLOT_SHIFT || top > r->arena.limit - r->arena.base)
    return "the arena break is out of range";
  if (gcl_spans.base + top > r->arena.committed) return "the arena break is above its committed end";
  if ((uintptr_t)(gcl_spans.map + gcl_spans.slots) > r->map.committed) return "the slot map is not committed up to the break";
  gcl_walk_t w;
  gcl_walk_open_self(&w);
  const gcl_span_t *prev = NULL;
  int got;
  while ((got = gcl_walk_next(&w)) > 0) {
    const gcl_span_t *s = &w.span;
    size_t first = (s->start - gcl_spans.base) >> GCL_SLOT_SHIFT;
    if (w.bad) break;
    *where = s->start;
    for (size_t j = 1; j < s->slots; j++) {
      uintptr_t d;
      if (gcl_walk_slot(&w, first + j, &d) || d != w.at)
        return *where = slot_addr(first + j), "a span's slots map to another span";
    }
    if (s->kind == GCL_SPAN_FREE) {
      if (s->flags & ~(GCL_SPAN_ZERO | GCL_SPAN_DIRTY | GCL_SPAN_WAS_LARGE)) return "a free span has unknown flags";
      if (prev && prev->kind == GCL_SPAN_FREE && (prev->flags & GCL_SPAN_DIRTY) == (s->flags & GCL_SPAN_DIRTY))
        return "two free neighbours were not merged";
      free_bytes[s->flags & GCL_SPAN_DIRTY ? GCL_SPAN_DIRTY_SET : GCL_SPAN_CLEAN_SET] +=
        (size_t)s->slots << GCL_SLOT_SHIFT;
    } else if (s->kind == GCL_SPAN_SLAB) {
      const char *why = gcl_slab_published(s) ? slab_fields(s) : NULL;
      if (why) return why;
    } else if (s->kind == GCL_SPAN_HELD) {
      if (s->flags != GCL_SPAN_WAS_LARGE) return "a held span has wrong flags";
    } else if (s->kind != GCL_SPAN_LARGE && s->kind != GCL_SPAN_ZEROS) {
      return "a span has an unknown kind";
    }
    prev = (const gcl_span_t *)w.at;
  }
  if (w.bad) return *where = slot_addr(w.bad_slot), w.bad;
  if (got < 0) return "the arena cannot be read";
  return bins(free_bytes, where);
}

/* Under gcl_hostheap_lock: the host heap's break in range. */
const char *gcl_check_hostheap(uintptr_t *where) {
  uintptr_t brk = gcl_hostheap_break();
  const gcl_part_t *h = &gcl_region.host;
  *where = brk;
  if (brk < h->base || brk > h->committed || h->committed > h->limit) return "the host heap break is out of range";
  return NULL;
}

/* The spans and the host heap, each under its lock: what is broken, or
 * NULL (gcl_check_all, and a restore's verdict on an image). */
const char *gcl_check_region(uintptr_t *where) {
  gcl_prim_lock(&gcl_span_lock);
  const char *why = gcl_check_spans(where);
  gcl_prim_unlock(&gcl_span_lock);
  if (!why) {
    gcl_prim_lock(&gcl_hostheap_lock);
    why = gcl_check_hostheap(where);
    gcl_prim_unlock(&gcl_hostheap_lock);
  }
  return why;
}

/* Every validator this thread may run; the first failure is fatal. */
void gcl_check_all(void) {
  uintptr_t where;
  const char *why = gcl_check_region(&where);
  if (why) corrupt(where, why);
  theaps();
}

/* One more allocator operation (alloc.c's slow paths, in a debug mode):
 * every GCLZONE_CHECK-th one, validate. */
void gcl_check_op(void) {
  static unsigned long ops;
  if (!(gcl_debug_modes & GCL_DEBUG_CHECK)) return;
  if (__atomic_add_fetch(&ops, 1, __ATOMIC_RELAXED) % (unsigned long)gcl_options.check) return;
  gcl_check_all();
}

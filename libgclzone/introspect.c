/* introspect.c: what the host can ask about the region: stats, bounds,
 * the walk over live blocks, the region map, and the exit report.
 *
 * Counts of blocks in use come from walking the slot map under the arena
 * lock (each slab's `used`, less blocks freed by other threads and not yet
 * collected), so the fast paths keep no counters at all. They are exact
 * when no other thread is allocating or freeing. The walk takes no lock at
 * all, so that a collector can run it with the world stopped.
 */
#include "internal.h"

#include <string.h>

static void blocks_in_use(size_t *bytes, size_t *blocks) {
  size_t nbytes = 0, nblocks = 0;
  gcl_lock(&gcl_arena_lock);
  size_t top = gcl_load_relaxed(&gcl_hot.top) >> GCL_SLOT_SHIFT;
  for (size_t i = 0; i < top;) {
    gcl_span_t *s = gcl_hot.map[i];
    if (s->kind == GCL_SPAN_SLAB) {
      /* used is the owner's plain counter (one add on the fast paths): read
       * while the owner runs, it may be stale, as documented. */
      size_t n = gcl_load_relaxed(&s->used) - gcl_load_relaxed(&s->xcount);
      nblocks += n;
      nbytes += n * s->block_size;
    } else if (s->kind == GCL_SPAN_LARGE) {
      nblocks += 1;
      nbytes += gcl_load_relaxed(&s->bump_end) - s->start;
    }
    i += s->slots ? s->slots : 1;
  }
  gcl_unlock(&gcl_arena_lock);
  *bytes = nbytes;
  *blocks = nblocks;
}

GCL_EXPORT void gclzone_stats(gclzone_stats_t *out) {
  memset(out, 0, sizeof *out);
  if (!gcl_ready()) return;
  gcl_arena_stats_t a;
  gcl_arena_stats(&a);
  blocks_in_use(&out->in_use_bytes, &out->in_use_blocks);
  out->arena_used_bytes = a.spans_bytes;
  out->arena_used_peak = a.spans_peak;
  out->committed_bytes = a.committed;
  out->committed_peak = a.committed_peak;
  out->dirty_bytes = a.dirty;
  out->heap_bytes = gcl_hostheap_break() - gcl_region.heap.base;
  out->heap_peak = gcl_hostheap_peak();
  out->threads = gcl_heap_count();
}

static gclzone_bounds_t bounds(const gcl_part_t *p, uintptr_t brk) {
  if (!gcl_ready()) return (gclzone_bounds_t){NULL, NULL, NULL};
  return (gclzone_bounds_t){(void *)p->base, (void *)brk, (void *)p->limit};
}

GCL_EXPORT gclzone_bounds_t gclzone_heap_bounds(void) {
  return bounds(&gcl_region.heap, gcl_hostheap_break());
}

GCL_EXPORT gclzone_bounds_t gclzone_arena_bounds(void) {
  return bounds(&gcl_region.arena, gcl_region.arena.base + gcl_load_relaxed(&gcl_hot.top));
}

/* "12.3 MiB" */
static const char *human(char *buf, size_t cap, size_t n) {
  static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  unsigned u = 0;
  uint64_t whole = n, tenths = 0;
  while (whole >= 1024 && u < 4) {
    tenths = (whole % 1024) * 10 / 1024;
    whole /= 1024;
    u++;
  }
  if (u == 0) gcl_fmt(buf, cap, "%zu B", n);
  else gcl_fmt(buf, cap, "%zu.%zu %s", (size_t)whole, (size_t)tenths, unit[u]);
  return buf;
}

void gcl_stats_report(int fd) {
  gclzone_stats_t s;
  gclzone_stats(&s);
  char a[24], b[24], c[24], d[24], e[24], f[24], g[24];
  gcl_log_printf(fd,
                 "gclzone: arena: %s in %zu blocks, %s in spans (peak %s), %s committed (peak %s), %zu threads\n",
                 human(a, sizeof a, s.in_use_bytes), s.in_use_blocks, human(b, sizeof b, s.arena_used_bytes),
                 human(c, sizeof c, s.arena_used_peak), human(d, sizeof d, s.committed_bytes),
                 human(e, sizeof e, s.committed_peak), s.threads);
  gcl_log_printf(fd, "gclzone: host heap: %s in use (peak %s) of %s, at %p\n", human(f, sizeof f, s.heap_bytes),
                 human(g, sizeof g, s.heap_peak), human(a, sizeof a, gcl_region.heap.limit - gcl_region.heap.base),
                 (void *)gcl_region.heap.base);
}

GCL_EXPORT void gclzone_print_stats(int fd) {
  gcl_stats_report(fd);
}

/* ---- the walk ------------------------------------------------------------- */

/* No lock: other threads may be stopped anywhere, even inside the arena.
 * A span that looks half-updated (its map entry and its own extent
 * disagree) is skipped one slot at a time. */
GCL_EXPORT size_t gclzone_walk(gclzone_visitor_t *visit, void *ctx) {
  if (!gcl_ready()) return 0;
  size_t n = 0, top = gcl_load_acquire(&gcl_hot.top) >> GCL_SLOT_SHIFT;
  for (size_t i = 0; i < top;) {
    gcl_span_t *s = gcl_hot.map[i];
    size_t first = (s->start - gcl_hot.base) >> GCL_SLOT_SHIFT;
    if (first != i || s->slots == 0 || first + s->slots > top) {
      i++;
      continue;
    }
    if (s->kind == GCL_SPAN_SLAB) {
      size_t bs = s->block_size;
      uintptr_t end = gcl_load_relaxed(&s->bump);
      for (uintptr_t b = s->start; bs && b < end; b += bs) {
        if (((gcl_block_t *)b)->tag != gcl_free_tag((uintptr_t)s)) {
          visit((void *)b, bs, ctx);
          n++;
        }
      }
    } else if (s->kind == GCL_SPAN_LARGE) {
      visit((void *)s->start, gcl_load_relaxed(&s->bump_end) - s->start, ctx);
      n++;
    }
    i += s->slots;
  }
  return n;
}

GCL_EXPORT size_t gclzone_collect(void) {
  if (!gcl_ready()) return 0;
  return gcl_heap_collect();
}

/* ---- the region map ---------------------------------------------------------- */

#define CELLS 64

/* The arena below its break, one character per cell of slots: S slab,
 * L large block, - free and resident, . free and returned to the OS. */
static size_t arena_strip(char *out, size_t *cell_slots) {
  size_t top = gcl_load_relaxed(&gcl_hot.top) >> GCL_SLOT_SHIFT;
  size_t per = top / CELLS + (top % CELLS != 0), cells = per ? (top + per - 1) / per : 0;
  for (size_t c = 0; c < cells; c++) {
    size_t count[4] = {0};
    for (size_t i = c * per; i < (c + 1) * per && i < top; i++) {
      gcl_span_t *s = gcl_hot.map[i];
      count[s->kind == GCL_SPAN_FREE ? (s->flags & GCL_SPAN_DIRTY ? 2 : 3) : s->kind == GCL_SPAN_SLAB ? 0 : 1]++;
    }
    unsigned best = 0;
    for (unsigned k = 1; k < 4; k++)
      if (count[k] > count[best]) best = k;
    out[c] = "SL-."[best];
  }
  out[cells] = 0;
  *cell_slots = per;
  return cells;
}

GCL_EXPORT void gclzone_print_map(int fd) {
  if (!gcl_ready()) {
    gcl_log_printf(fd, "gclzone: no region reserved yet\n");
    return;
  }
  gclzone_stats_t st;
  gclzone_stats(&st);
  const gcl_region_t *r = &gcl_region;
  char a[24], b[24], c[24], d[24], strip[CELLS + 1];
  gcl_log_printf(fd, "gclzone: region %p-%p, %s reserved\n", (void *)r->base, (void *)(r->base + r->size),
                 human(a, sizeof a, r->size));
  gcl_log_printf(fd, "gclzone:   host heap %p  %s used of %s, break %p, peak %s\n", (void *)r->heap.base,
                 human(a, sizeof a, st.heap_bytes), human(b, sizeof b, r->heap.limit - r->heap.base),
                 (void *)gcl_hostheap_break(), human(c, sizeof c, st.heap_peak));
  gcl_log_printf(fd, "gclzone:   guard     %p  %s, never committed\n", (void *)r->heap.limit,
                 human(a, sizeof a, r->arena.base - r->heap.limit));
  gcl_log_printf(fd, "gclzone:   arena     %p  %s in spans of %s, break %p; %s in %zu blocks, %s committed\n",
                 (void *)r->arena.base, human(a, sizeof a, st.arena_used_bytes),
                 human(b, sizeof b, r->arena.limit - r->arena.base),
                 (void *)(r->arena.base + gcl_load_relaxed(&gcl_hot.top)), human(c, sizeof c, st.in_use_bytes),
                 st.in_use_blocks, human(d, sizeof d, st.committed_bytes));
  size_t per;
  gcl_lock(&gcl_arena_lock);
  size_t cells = arena_strip(strip, &per);
  gcl_unlock(&gcl_arena_lock);
  if (cells)
    gcl_log_printf(fd, "gclzone:             [%s] a cell is %s: S slab, L large, - free, . returned\n", strip,
                   human(a, sizeof a, per << GCL_SLOT_SHIFT));
  gcl_log_printf(fd, "gclzone:   metadata  %p  map %s, spans %s, heaps %s committed\n", (void *)r->map.base,
                 human(a, sizeof a, r->map.committed - r->map.base),
                 human(b, sizeof b, r->spans.committed - r->spans.base),
                 human(c, sizeof c, r->heaps.committed - r->heaps.base));
}

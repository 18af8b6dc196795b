/* stats.c: what the host can ask about the region, and the exit report.
 *
 * Counts of blocks in use come from walking the slot map under the arena
 * lock (each slab's `used`, less blocks freed by other threads and not yet
 * collected), so the fast paths keep no counters at all. They are exact
 * when no other thread is allocating or freeing.
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

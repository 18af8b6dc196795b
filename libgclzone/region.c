/* region.c: the one reservation everything lives in, and its layout.
 *
 *   base                                                              end
 *   | host heap ->  | guard | arena ->            | guard | map | spans | theaps |
 *
 * The host heap (hostheap.c) grows up from the base; the arena (span.c)
 * grows up from its own 4 MiB aligned base; the metadata (slot map, span
 * descriptors, thread heap structs) lives at the end, out of line from the
 * blocks.
 * Invariant: nothing outside [base, end) is ever mapped by libgclzone, and
 * the parts never overlap; a part that is full fails with ENOMEM rather than
 * grow into its neighbour. Pages are reserved PROT_NONE with no commit
 * charge and committed (made read-write) as each part grows.
 */
#include "internal.h"

#include <errno.h>

gcl_region_t gcl_region;

/* Lay the parts out from `base`; returns the total size needed. */
static size_t layout(gcl_region_t *r, uintptr_t base, size_t heap_size, size_t arena_size) {
  size_t slots = arena_size >> GCL_SLOT_SHIFT;
  uintptr_t p = base;
  r->host = (gcl_part_t){p, p + heap_size, p};
  p = gcl_align_up(p + heap_size + GCL_DEFAULT_GUARD, GCL_ARENA_ALIGN);
  r->arena = (gcl_part_t){p, p + arena_size, p};
  p += arena_size + GCL_ARENA_ALIGN; /* guard */
  r->map = (gcl_part_t){p, p + gcl_align_up(slots * sizeof(gcl_span_t *), GCL_SLOT_SIZE), p};
  p = r->map.limit;
  r->spans = (gcl_part_t){p, p + gcl_align_up(slots * sizeof(gcl_span_t), GCL_SLOT_SIZE), p};
  p = r->spans.limit;
  r->theaps = (gcl_part_t){p, p + gcl_align_up(GCL_MAX_THEAPS * sizeof(gcl_theap_t), GCL_SLOT_SIZE), p};
  p = r->theaps.limit;
  r->base = base;
  r->size = p - base;
  return r->size;
}

/* Reserve the region. Sizes are rounded up to whole slots. With base != 0
 * (page aligned) the host heap starts exactly at base or the call fails with
 * EEXIST: a runtime that dumped its heap into its executable (GCL, Maxima)
 * needs the heap to continue its data segment, which ends on a page, not on
 * a slot. 0, EINVAL (bad sizes or base), EEXIST, ENOMEM. */
int gcl_region_reserve(size_t heap_size, size_t arena_size, uintptr_t base) {
  if (heap_size > ((size_t)1 << 46) || arena_size > ((size_t)1 << 46)) return EINVAL;
  if (arena_size < GCL_SLOT_SIZE * 16) return EINVAL;
  if (base & (gcl_prim_page_size() - 1)) return EINVAL;
  heap_size = gcl_align_up(heap_size, GCL_SLOT_SIZE);
  arena_size = gcl_align_up(arena_size, GCL_SLOT_SIZE);

  gcl_region_t r;
  /* Slack for aligning the arena (4 MiB) and, when the OS picks the place,
   * the host heap's base (to a slot). */
  size_t total = layout(&r, 0, heap_size, arena_size) + GCL_ARENA_ALIGN + (base ? 0 : GCL_SLOT_SIZE);
  if (base && base + total < base) return EINVAL;
  void *p;
  int err = gcl_prim_reserve(total, base, base != 0, &p);
  if (err) return err;
  layout(&r, base ? base : gcl_align_up((uintptr_t)p, GCL_SLOT_SIZE), heap_size, arena_size);
  r.base = (uintptr_t)p; /* the whole reservation, slack included */
  r.size = total;
  gcl_region = r;
  return 0;
}

void gcl_region_unreserve(void) {
  if (gcl_region.size) gcl_prim_release((void *)gcl_region.base, gcl_region.size);
  gcl_region = (gcl_region_t){0};
}

/* The parts a reservation of these sizes with its host heap at `base` has
 * (image.c vets an image's sections against them before it reserves). */
void gcl_region_plan(gcl_region_t *r, uintptr_t base, size_t heap_size, size_t arena_size) {
  layout(r, base, heap_size, arena_size);
}

/* Commit part up to `upto` (rounded up to `step`, clipped to the part).
 * 0; ENOMEM when upto is beyond the part or the OS refuses. */
int gcl_region_grow(gcl_part_t *part, uintptr_t upto, size_t step) {
  if (upto > part->limit) return ENOMEM;
  if (upto <= part->committed) return 0;
  uintptr_t to = gcl_align_up(upto, step);
  if (to > part->limit) to = part->limit;
  int err = gcl_prim_commit((void *)part->committed, to - part->committed);
  if (err) return ENOMEM;
  part->committed = to;
  return 0;
}

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

/* The guard after the host heap: 1/64 of it, between 1 MiB and 1 GiB (a
 * runaway write past a full host heap meets it before the arena; a small
 * heap does not need a gigabyte of address space for that, and RLIMIT_AS
 * counts it). */
static size_t guard_of(size_t heap_size) {
  size_t g = heap_size / 64;
  if (g < ((size_t)1 << 20)) g = (size_t)1 << 20;
  return g > GCL_DEFAULT_GUARD ? GCL_DEFAULT_GUARD : g;
}

/* Lay the parts out from `base`; returns the total size needed. Thread
 * heap structs are reserved for as many threads as the arena has slots (a
 * thread that allocates holds at least a slot), at most GCL_MAX_THEAPS. */
static size_t layout(gcl_region_t *r, uintptr_t base, size_t heap_size, size_t arena_size) {
  size_t slots = arena_size >> GCL_SLOT_SHIFT;
  size_t theaps = slots < GCL_MAX_THEAPS ? slots : GCL_MAX_THEAPS;
  uintptr_t p = base;
  r->host = (gcl_part_t){p, p + heap_size, p};
  p = gcl_align_up(p + heap_size + guard_of(heap_size), GCL_ARENA_ALIGN);
  r->arena = (gcl_part_t){p, p + arena_size, p};
  p += arena_size + GCL_ARENA_ALIGN; /* guard */
  r->map = (gcl_part_t){p, p + gcl_align_up(slots * sizeof(gcl_span_t *), GCL_SLOT_SIZE), p};
  p = r->map.limit;
  r->spans = (gcl_part_t){p, p + gcl_align_up(slots * sizeof(gcl_span_t), GCL_SLOT_SIZE), p};
  p = r->spans.limit;
  r->theaps = (gcl_part_t){p, p + gcl_align_up(theaps * sizeof(gcl_theap_t), GCL_SLOT_SIZE), p};
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

  gcl_region_t r = {0};
  /* Slack for aligning the arena (4 MiB) and, when the OS picks the place,
   * the host heap's base (to a slot). */
  size_t total = layout(&r, 0, heap_size, arena_size) + GCL_ARENA_ALIGN + (base ? 0 : GCL_SLOT_SIZE);
  /* Below 2^48: a slab's remote word keeps a block address in 48 bits (slab.c). */
  if (base && (base + total < base || base + total > GCL_ADDRESS_END)) return EINVAL;
  void *p;
  int err = gcl_prim_reserve(total, base, base != 0, &p);
  if (err) return err;
  if ((uintptr_t)p + total > GCL_ADDRESS_END) {
    gcl_prim_release(p, total);
    return ENOMEM;
  }
  layout(&r, base ? base : gcl_align_up((uintptr_t)p, GCL_SLOT_SIZE), heap_size, arena_size);
  r.base = (uintptr_t)p; /* the whole reservation, slack included */
  r.size = total;
  gcl_region = r;
  return 0;
}

/* Release [lo, hi) of the reservation (its no-access, uncommitted pages),
 * rounded inwards to pages; the bytes released. */
static size_t release(uintptr_t lo, uintptr_t hi) {
  size_t page = gcl_prim_page_size();
  lo = gcl_align_up(lo, page);
  hi &= ~(uintptr_t)(page - 1);
  if (hi <= lo || gcl_prim_release((void *)lo, hi - lo)) return 0;
  return hi - lo;
}

/* Lower a part's limit to `to` (never below what it has committed, never
 * above its limit); the new limit. */
static uintptr_t lower(gcl_part_t *p, uintptr_t to) {
  size_t page = gcl_prim_page_size();
  to = gcl_align_up(to, page);
  if (to < p->committed) to = p->committed;
  if (to < p->limit) p->limit = to;
  return p->limit;
}

/* Make the reservation cost what is in use plus the room given: the host
 * heap may grow to `host_limit`, the arena to `arena_limit`, and the
 * metadata parts keep what that arena needs; everything above each part's
 * new limit, and the guards but a slot after the host heap and the arena,
 * goes back to the OS. The parts keep their places (what is committed never
 * moves), so the holes left between them may be taken by other mappings:
 * the parts then cannot grow back, which is the point. For a program that
 * lowers RLIMIT_AS (process.c); with every allocator lock held. Returns the
 * bytes released. */
size_t gcl_region_shrink(uintptr_t host_limit, uintptr_t arena_limit) {
  gcl_region_t *r = &gcl_region;
  uintptr_t end = r->base + r->size - r->tail_released, old_host = r->host.limit, old_arena = r->arena.limit;
  size_t released = 0;
  lower(&r->host, host_limit);
  lower(&r->arena, arena_limit);
  size_t slots = (r->arena.limit - r->arena.base) >> GCL_SLOT_SHIFT;
  size_t theaps = slots < GCL_MAX_THEAPS ? slots : GCL_MAX_THEAPS;
  lower(&r->map, r->map.base + gcl_align_up(slots * sizeof(gcl_span_t *), GCL_SLOT_SIZE));
  lower(&r->spans, r->spans.base + gcl_align_up(slots * sizeof(gcl_span_t), GCL_SLOT_SIZE));
  lower(&r->theaps, r->theaps.base + gcl_align_up(theaps * sizeof(gcl_theap_t), GCL_SLOT_SIZE));
  if (r->host.limit < old_host) released += release(r->host.limit + GCL_SLOT_SIZE, r->arena.base);
  if (r->arena.limit < old_arena) released += release(r->arena.limit + GCL_SLOT_SIZE, r->map.base);
  released += release(r->map.limit, r->spans.base);
  released += release(r->spans.limit, r->theaps.base);
  size_t tail = release(r->theaps.limit, end);
  r->tail_released += tail;
  released += tail;
  r->released += released;
  return released;
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
 * 0; ENOMEM when upto is beyond the part or the OS refuses, or when the
 * range is no longer all ours: a program that maps over the reservation
 * with MAP_FIXED (glibc's tst-malloc-alternate-path) must not have its
 * pages made ours and writable; the part then stops below that mapping
 * (its limit is lowered, once, with a warning). The check reads the memory
 * map, once per growth (the host heap grows by the runtime's increments,
 * the arena by 4 MiB, the metadata by 64 KiB). */
int gcl_region_grow(gcl_part_t *part, uintptr_t upto, size_t step) {
  if (upto > part->limit) return ENOMEM;
  if (upto <= part->committed) return 0;
  uintptr_t to = gcl_align_up(upto, step);
  if (to > part->limit) to = part->limit;
  if (gcl_prim_reserved((void *)part->committed, to - part->committed)) {
    gcl_log_printf(2, "gclzone: warning: a mapping was placed over the region between %p and %p; "
                      "that part stops growing at %p\n", (void *)part->committed, (void *)to, (void *)part->committed);
    part->limit = part->committed;
    return ENOMEM;
  }
  int err = gcl_prim_commit((void *)part->committed, to - part->committed);
  if (err) return ENOMEM;
  part->committed = to;
  return 0;
}

/* hostheap.c: the host runtime's page heap, an sbrk over the region's first part.
 *
 * Owns the break of the host heap (the runtime's, not to be confused with
 * the thread heaps of theap.c). Invariants, under gcl_hostheap_lock:
 *   host.base <= brk <= host.committed <= host.limit, committed is brk
 *   rounded up to a page, and every byte in [brk, committed) is zero, so
 *   memory the break moves over is always zero without touching new pages.
 * The contract (dlmalloc's MORECORE, tested clause by clause) is in gclzone.h;
 * the caller (alloc.c) has initialized the process and sets errno.
 */
#include "internal.h"

#include <errno.h>
#include <string.h>

gcl_lock_t gcl_hostheap_lock = GCL_LOCK_INIT;
static uintptr_t brk_now;
static uintptr_t brk_peak;

void gcl_hostheap_reset(void) {
  brk_now = gcl_region.host.base;
  brk_peak = brk_now;
}

/* Move the break to `to` (already checked to lie in the heap). 0 or ENOMEM. */
static int move_break(uintptr_t to) {
  gcl_part_t *h = &gcl_region.host;
  if (to > h->committed) {
    if (gcl_region_grow(h, to, gcl_prim_page_size())) return ENOMEM;
  } else if (to < brk_now) {
    uintptr_t keep = gcl_align_up(to, gcl_prim_page_size());
    memset((void *)to, 0, (keep < brk_now ? keep : brk_now) - to);
    if (keep < h->committed) {
      size_t n = h->committed - keep;
      if (gcl_prim_decommit((void *)keep, n) == 0) {
        h->committed = keep;
      } else if (gcl_prim_purge((void *)keep, n) != 0) {
        /* The pages stay committed; they must read as zero again. */
        memset((void *)keep, 0, n);
      }
    }
  }
  brk_now = to;
  if (to > brk_peak) brk_peak = to;
  if (gcl_unlikely(gcl_load_relaxed(&gcl_timeline_on))) gcl_timeline_host(to - gcl_region.host.base);
  return 0;
}

/* sbrk: *old gets the break before the move. 0 or ENOMEM (nothing moved). */
int gcl_hostheap_sbrk(intptr_t increment, void **old_break) {
  gcl_prim_lock(&gcl_hostheap_lock);
  uintptr_t old = brk_now, to;
  int err = 0;
  if (increment >= 0) {
    if ((uintptr_t)increment > gcl_region.host.limit - old) err = ENOMEM;
    to = old + (uintptr_t)increment;
  } else {
    uintptr_t dec = (uintptr_t)(-(increment + 1)) + 1; /* no overflow at INTPTR_MIN */
    if (dec > old - gcl_region.host.base) err = ENOMEM;
    to = old - dec;
  }
  if (!err && to != old) err = move_break(to);
  gcl_prim_unlock(&gcl_hostheap_lock);
  *old_break = (void *)old;
  return err;
}

/* brk: 0 or ENOMEM (outside the heap, or the OS refused; nothing moved). */
int gcl_hostheap_brk(void *addr) {
  uintptr_t to = (uintptr_t)addr;
  int err = 0;
  gcl_prim_lock(&gcl_hostheap_lock);
  if (to < gcl_region.host.base || to > gcl_region.host.limit) err = ENOMEM;
  else if (to != brk_now) err = move_break(to);
  gcl_prim_unlock(&gcl_hostheap_lock);
  return err;
}

uintptr_t gcl_hostheap_break(void) {
  return gcl_load_relaxed(&brk_now);
}

size_t gcl_hostheap_peak(void) {
  return gcl_load_relaxed(&brk_peak) - gcl_region.host.base;
}

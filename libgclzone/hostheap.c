/* hostheap.c: the host runtime's page heap, an sbrk over the region's first part.
 *
 * Owns the break of the host heap. Invariants, under gcl_hostheap_lock:
 *   heap.base <= brk <= heap.committed <= heap.limit, committed is brk
 *   rounded up to a page, and every byte in [brk, committed) is zero, so
 *   memory the break moves over is always zero without touching new pages.
 * The contract (dlmalloc's MORECORE, tested clause by clause) is in gclzone.h.
 */
#include "internal.h"

#include <errno.h>
#include <string.h>

gcl_lock_t gcl_hostheap_lock = GCL_LOCK_INIT;
static uintptr_t brk_now;
static uintptr_t brk_peak;

void gcl_hostheap_reset(void) {
  brk_now = gcl_region.heap.base;
  brk_peak = brk_now;
}

static uintptr_t page_up(uintptr_t x) {
  uintptr_t pg = gcl_prim_page_size();
  return (x + pg - 1) & ~(pg - 1);
}

/* Move the break to `to` (already checked to lie in the heap). 0 or ENOMEM. */
static int move_break(uintptr_t to) {
  gcl_part_t *h = &gcl_region.heap;
  if (to > h->committed) {
    if (gcl_region_grow(h, to, gcl_prim_page_size())) return ENOMEM;
  } else if (to < brk_now) {
    uintptr_t keep = page_up(to);
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
  return 0;
}

void *gcl_hostheap_sbrk(intptr_t increment) {
  if (gcl_process_ensure() != 0) {
    errno = ENOMEM;
    return (void *)-1;
  }
  gcl_lock(&gcl_hostheap_lock);
  uintptr_t old = brk_now, to;
  int err = 0;
  if (increment >= 0) {
    if ((uintptr_t)increment > gcl_region.heap.limit - old) err = ENOMEM;
    to = old + (uintptr_t)increment;
  } else {
    uintptr_t dec = (uintptr_t)(-(increment + 1)) + 1; /* no overflow at INTPTR_MIN */
    if (dec > old - gcl_region.heap.base) err = ENOMEM;
    to = old - dec;
  }
  if (!err && to != old) err = move_break(to);
  gcl_unlock(&gcl_hostheap_lock);
  if (err) {
    errno = err;
    return (void *)-1;
  }
  return (void *)old;
}

int gcl_hostheap_brk(void *addr) {
  if (gcl_process_ensure() != 0) {
    errno = ENOMEM;
    return -1;
  }
  uintptr_t to = (uintptr_t)addr;
  int err = 0;
  gcl_lock(&gcl_hostheap_lock);
  if (to < gcl_region.heap.base || to > gcl_region.heap.limit) err = ENOMEM;
  else if (to != brk_now) err = move_break(to);
  gcl_unlock(&gcl_hostheap_lock);
  if (err) {
    errno = err;
    return -1;
  }
  return 0;
}

uintptr_t gcl_hostheap_break(void) {
  return gcl_load_relaxed(&brk_now);
}

size_t gcl_hostheap_peak(void) {
  return gcl_load_relaxed(&brk_peak) - gcl_region.heap.base;
}

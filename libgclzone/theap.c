/* theap.c: thread heaps ("theaps"): each thread's slabs, and the orphans
 * of exited threads.
 *
 * Each thread allocates from its own theap, so the common malloc and free
 * take no lock and no atomic. A theap keeps, per size class, a queue of
 * slabs that may have free blocks (the first is the class's current slab,
 * which direct[] points at for sizes up to GCL_DIRECT_MAX) and one list of
 * full slabs. When a slab's `free` list runs dry its owner gathers its
 * remote frees (slab.c); only then does it look further: other slabs of
 * the class, full slabs other threads have freed into, orphans, and last a
 * new span (span.c).
 *
 * Invariants:
 *  - a slab's queue links and its full flag change only in its owner
 *    thread (or, for an orphan, under gcl_theap_orphan_lock);
 *  - s->fast_owner is h->thread exactly while slab s sits in theap h's
 *    queue (and no debug mode is on), else 0: a slab on h's full list
 *    (s->full) has 0, so every free into it is noticed. The free fast path
 *    compares it with its caller's thread word, which costs one load less
 *    than the caller's theap. A dead thread's word can come back in a new
 *    thread, where it matches only slabs of theaps that no live thread runs:
 *    a theap its thread made after the last round of exit destructors, or in
 *    a fork child a vanished thread's. The new thread's frees then push onto
 *    those slabs' local lists, which no one else touches (nobody allocates
 *    from them), and gcl_theap_span_empty leaves vanished theaps alone;
 *  - a slab leaves its theap (given back, or orphaned) with fast_owner 0 and
 *    theap NULL, written here and nowhere else.
 * Thread exit orphans a theap's slabs; frees keep flowing into their remote
 * lists, an orphan is released as soon as it is empty, and any thread short
 * of a slab of that class adopts one. The exception: up to GCL_WARM_ORPHANS
 * empty slabs of exiting threads stay orphans, marked `warm`, for the next
 * thread (theap_abandon); gcl_theaps.warm counts them. A heap image's slabs start as orphans
 * too (gcl_theap_restore), marked `restored`: their lists lie in memory
 * mapped from the file and not read at start-up, so they are walked and
 * checked the first time anything follows them (orphan_lists). (A fork child instead forgets the
 * theaps of the threads that vanished: see gcl_theap_fork_child.)
 */
#include "internal.h"

#include <errno.h>
#include <string.h>

static gcl_span_t span_empty; /* free == NULL: sends malloc to the slow path */

gcl_theap_t gcl_theap_empty = {.direct = {[0 ... GCL_DIRECT_N - 1] = &span_empty},
                               .cur = {[0 ... GCL_NCLASSES - 1] = &span_empty}};
gcl_theaps_t gcl_theaps;
gcl_lock_t gcl_theap_lock = GCL_LOCK_INIT;        /* the live list, the pool */
gcl_lock_t gcl_theap_orphan_lock = GCL_LOCK_INIT; /* the orphans */

/* direct[]'s entries of each class up to GCL_DIRECT_MAX: the first and the
 * last (inclusive), from the class sizes; set_current reads them, and
 * computing them there was a third of its cost (the first is also one past
 * the previous class's last: deriving it there costs 4 instructions a call). */
static struct {
  uint16_t lo, hi;
} direct_range[GCL_CLASS_8K + 1];

bool gcl_theap_reset(void) {
  if (gcl_theaps.count) return false;
  for (unsigned c = 1; c <= GCL_CLASS_8K; c++) {
    direct_range[c].lo = (uint16_t)(c == 1 ? 0 : gcl_slab_class_size(c - 1) / 16 + 1);
    direct_range[c].hi = (uint16_t)(gcl_slab_class_size(c) / 16);
  }
  memset(&gcl_theaps, 0, sizeof gcl_theaps);
  gcl_theaps.bump = gcl_region.theaps.base;
  return true;
}

size_t gcl_theap_count(void) {
  return gcl_load_relaxed(&gcl_theaps.count);
}

/* ---- queues -------------------------------------------------------------------- */

static void q_push_back(gcl_spanq_t *q, gcl_span_t *s) {
  s->next = NULL;
  s->prev = q->last;
  if (q->last) q->last->next = s;
  else q->first = s;
  q->last = s;
}

static void q_push_front(gcl_spanq_t *q, gcl_span_t *s) {
  s->prev = NULL;
  s->next = q->first;
  if (q->first) q->first->prev = s;
  else q->last = s;
  q->first = s;
}

static void q_remove(gcl_spanq_t *q, gcl_span_t *s) {
  gcl_assert_internal(s->prev ? s->prev->next == s : q->first == s);
  if (s->prev) s->prev->next = s->next;
  else q->first = s->next;
  if (s->next) s->next->prev = s->prev;
  else q->last = s->prev;
  s->next = s->prev = NULL;
}

static void q_to_back(gcl_spanq_t *q, gcl_span_t *s) {
  q_remove(q, s);
  q_push_back(q, s);
}

/* In a debug mode no slab is published to the fast paths: direct[] keeps
 * pointing at the empty span and fast_owner stays 0, so every malloc and
 * free reaches the slow paths, which run the debug hooks. The fast paths
 * themselves never test a flag. */
static void set_fast_owner(gcl_span_t *s, const gcl_theap_t *h) {
  gcl_store_relaxed(&s->fast_owner, gcl_debug_modes ? 0 : h->thread);
}

/* Set the n entries d[0..n-1] (n from 1 to 32: no class spans more than
 * 512 bytes of direct[]) to s: 16-byte stores over the run's first and its
 * last `half` entries, half the largest power of two up to n, at most 16 (a constant
 * in each call of direct_halves, whose loop unrolls into straight stores).
 * Every entry gets the same value, so where the two halves overlap no harm
 * is done. A class of 2 to 8 KiB has 32 entries: one at a time they cost
 * 130 instructions, and bench's pair at 8 KiB changes the current slab
 * every 8 blocks. */
typedef uintptr_t gcl_two_ptrs_t __attribute__((vector_size(16)));
static inline __attribute__((always_inline)) void direct_halves(gcl_span_t **d, size_t n, gcl_two_ptrs_t v,
                                                               size_t half) {
#pragma GCC unroll 8
  for (size_t i = 0; i < half; i += 2) {
    memcpy(&d[i], &v, sizeof v);
    memcpy(&d[n - half + i], &v, sizeof v);
  }
}
static void direct_fill(gcl_span_t **d, size_t n, gcl_span_t *s) {
  gcl_assert_internal(n >= 1 && n <= 32);
  gcl_two_ptrs_t v = {(uintptr_t)s, (uintptr_t)s};
  if (n >= 16) direct_halves(d, n, v, 16);
  else if (n >= 8) direct_halves(d, n, v, 8);
  else if (n >= 4) direct_halves(d, n, v, 4);
  else if (n >= 2) direct_halves(d, n, v, 2);
  else d[0] = s;
}

/* Point cur[c], and direct[] for a small class, at the class's first slab
 * (or the empty span). direct[]'s entries of c always equal cur[c], so an
 * unchanged cur[c] means there is nothing to write. Called once the queue
 * has settled, by whoever changed its first slab. */
static void set_current(gcl_theap_t *h, unsigned c) {
  gcl_span_t *s = h->queue[c].first && !gcl_debug_modes ? h->queue[c].first : &span_empty;
  if (h->cur[c] == s) return;
  h->cur[c] = s;
  if (c <= GCL_CLASS_8K) direct_fill(h->direct + direct_range[c].lo, direct_range[c].hi - direct_range[c].lo + 1u, s);
}

/* Make slab s h's, at the front or the back of its class's queue. */
static void own(gcl_theap_t *h, gcl_span_t *s, bool front) {
  h->classes[s->sclass / 64] |= (uint64_t)1 << (s->sclass % 64);
  set_fast_owner(s, h);
  gcl_store_release(&s->theap, h); /* publishes the slab (gcl_slab_published) */
  if (front) q_push_front(&h->queue[s->sclass], s);
  else q_push_back(&h->queue[s->sclass], s);
  set_current(h, s->sclass);
}

/* Take s from h: no owner any more. */
static void disown(gcl_span_t *s) {
  gcl_store_relaxed(&s->fast_owner, 0);
  __atomic_store_n(&s->full, 0, __ATOMIC_SEQ_CST);
  gcl_store_release(&s->theap, NULL);
}

/* ---- slabs in a theap ----------------------------------------------------------- */

/* Take an empty slab out of h's queue and give it back to the arena. */
static void slab_give(gcl_theap_t *h, gcl_span_t *s) {
  q_remove(&h->queue[s->sclass], s);
  disown(s);
  gcl_span_give(s);
}

/* Give back the current slabs of h's other classes that were left empty
 * (gcl_theap_span_empty keeps a class's current slab when its last block
 * comes back, so that a malloc/free loop does not churn the arena). Before
 * a new slab takes fresh pages, their pages go to it instead: a program
 * that works through many sizes in turn (bench's batches: 16 classes) had
 * every class's last slab resident and empty. The bits are hints, set by
 * the free that emptied the slab: a slab used again since stays, and so
 * does one left empty less than GCL_IDLE_AGE takes ago. Giving back every
 * idle slab at each new one churned programs whose steps pass through many
 * classes and leave them empty: GMP's numbers grow by realloc from class to
 * class, and bench's gmp took and gave back 4 slabs a step, each needed
 * again in the next (10% more instructions in all than glibc's). */
static void idle_give(gcl_theap_t *h, unsigned c) {
  for (unsigned w = 0; w < sizeof h->idle / sizeof h->idle[0]; w++) {
    uint64_t young = 0;
    for (uint64_t bits = h->idle[w]; bits; bits &= bits - 1) {
      unsigned d = w * 64 + (unsigned)__builtin_ctzll(bits);
      gcl_span_t *s = h->queue[d].first;
      if (d == c || !s || s->used) continue;
      if (h->taken - s->idle_at < GCL_IDLE_AGE) {
        young |= bits & -bits;
        continue;
      }
      slab_give(h, s);
      set_current(h, d);
    }
    h->idle[w] = young;
  }
}

static void held_give_all(gcl_theap_t *h);

static gcl_span_t *slab_new(gcl_theap_t *h, unsigned c) {
  idle_give(h, c);
  held_give_all(h);
  gcl_span_t *s = gcl_span_take(gcl_slab_slots(c), 1, GCL_SPAN_SLAB);
  if (!s) return NULL;
  h->taken++;
  gcl_slab_init(s, c);
  s->idle_at = h->taken;
  s->full = 0;
  own(h, s, true);
  return s;
}

/* Slab s, whose last never-used block went out, may move to the back of
 * its queue with no free block and keep its owner (class_pop says why),
 * rather than go to the full list: a slab of four blocks or more. Fewer
 * (blocks above 16 KiB) it may not: there the rotation raised bench's
 * boundary (random frees of 16 B to 2 MiB) from 79.7 to 84.5 MiB peak RSS,
 * where four and more leave it at 79.7. */
static bool stays_queued(const gcl_span_t *s) {
  return s->bump >= s->usable_end && s->block_size <= GCL_SLOT_SIZE / 4;
}

/* A full slab has a free block again: back into its class's queue, at the
 * front (the class's current slab) when the current one has no free block,
 * so that the next malloc of the class takes the fast path rather than
 * miss, scan and switch. A current slab with no block left at all then
 * goes to the back: its blocks are the newest, and keeping the queue in
 * the order its blocks were handed out is what lets class_pop's scan find
 * a FIFO program's freed blocks at its second slab. */
static void slab_to_queue(gcl_theap_t *h, gcl_span_t *s) {
  q_remove(&h->full, s);
  __atomic_store_n(&s->full, 0, __ATOMIC_SEQ_CST);
  set_fast_owner(s, h);
  gcl_spanq_t *q = &h->queue[s->sclass];
  gcl_span_t *cur = q->first;
  if (cur && cur->free) {
    q_push_back(q, s);
  } else {
    if (cur && cur->next && stays_queued(cur)) q_to_back(q, cur);
    q_push_front(q, s);
  }
  set_current(h, s->sclass);
}

/* s has no free block: park it on the full list. A remote free that raced
 * with this is caught by the seq_cst pair (full store, remote load) here
 * and (remote push, full load) in gcl_theap_free. The caller (class_pop)
 * sets the class's current slab once its scan is over. */
static void slab_to_full(gcl_theap_t *h, gcl_span_t *s) {
  q_remove(&h->queue[s->sclass], s);
  q_push_back(&h->full, s);
  gcl_store_relaxed(&s->fast_owner, 0);
  __atomic_store_n(&s->full, 1, __ATOMIC_SEQ_CST);
  if (__atomic_load_n(&s->remote, __ATOMIC_SEQ_CST)) slab_to_queue(h, s);
}

/* Bring back full slabs that other threads have freed into. */
static bool revive_full(gcl_theap_t *h, unsigned c) {
  if (!gcl_load_relaxed(&h->remote_full_hint)) return false;
  __atomic_store_n(&h->remote_full_hint, 0, __ATOMIC_SEQ_CST);
  bool got = false;
  for (gcl_span_t *s = h->full.first, *next; s; s = next) {
    next = s->next;
    if (__atomic_load_n(&s->remote, __ATOMIC_SEQ_CST)) {
      slab_to_queue(h, s);
      got |= s->sclass == c;
    }
  }
  return got;
}

/* ---- orphans -------------------------------------------------------------------- */

/* Before the first gather of a restored orphan: its lists, checked (a
 * broken one is heap corruption: the image's data was damaged). Under
 * gcl_theap_orphan_lock. */
static void orphan_lists(gcl_span_t *s) {
  if (gcl_likely(!s->restored)) return;
  uintptr_t where;
  const char *why = gcl_slab_check_lists(s, true, &where);
  if (why) gcl_log_fatal(GCL_FATAL_CORRUPT, (void *)where, why);
  gcl_store_relaxed(&s->restored, 0);
}

/* Give an orphan (or a dying theap's slab) back if it is empty; else keep it
 * on the orphan list. Called with gcl_theap_orphan_lock held. */
static bool orphan_settle(gcl_span_t *s) {
  orphan_lists(s);
  gcl_slab_gather(s);
  if (s->used) return false;
  gcl_span_give(s);
  return true;
}

/* Orphans wait in a list of their class, so that a thread short of a slab
 * of class c finds one at once. */
static void orphan_push(gcl_span_t *s) {
  unsigned c = s->sclass;
  s->orphan = 1;
  gcl_store_relaxed(&s->orphan_used, s->used); /* for remote frees, which may not read `used` */
  q_push_back(&gcl_theaps.orphans[c], s);
  gcl_store_relaxed(&gcl_theaps.norphans[c], gcl_theaps.norphans[c] + 1);
}

static void orphan_remove(gcl_span_t *s) {
  unsigned c = s->sclass;
  s->orphan = 0;
  if (s->warm) {
    s->warm = 0;
    gcl_theaps.warm--;
  }
  q_remove(&gcl_theaps.orphans[c], s);
  gcl_store_relaxed(&gcl_theaps.norphans[c], gcl_theaps.norphans[c] - 1);
}

/* Someone freed into an orphan (its thread has exited): give the slab back
 * as soon as it is empty, rather than wait for an adoption scan. The slab
 * may have been adopted or released meanwhile; `orphan`, read under the
 * lock, tells (if it is another orphan by now, it is as good a candidate). */
static void orphan_freed(gcl_span_t *s) {
  if (!gcl_prim_trylock(&gcl_theap_orphan_lock)) return;
  if (s->kind == GCL_SPAN_SLAB && s->orphan) {
    orphan_lists(s);
    gcl_slab_gather(s);
    if (s->used == 0) {
      orphan_remove(s);
      gcl_span_give(s);
    } else {
      gcl_store_relaxed(&s->orphan_used, s->used);
    }
  }
  gcl_prim_unlock(&gcl_theap_orphan_lock);
}

/* Adopt an orphaned slab of class c with room: an empty one too (a warm
 * one, or one its frees emptied), since the alternative is a new slab.
 * Bounded. It waits for the orphan lock, held only briefly, rather than
 * skip: under bench's larson (threads exit while others start), a
 * try-lock that failed made a new slab of every class a new thread needed,
 * and peak RSS ran from 14 to 60 MiB from one run to the next. */
static bool adopt_orphan(gcl_theap_t *h, unsigned c) {
  if (!gcl_load_relaxed(&gcl_theaps.norphans[c])) return false;
  gcl_prim_lock(&gcl_theap_orphan_lock);
  bool got = false;
  int budget = 32;
  for (gcl_span_t *s = gcl_theaps.orphans[c].first, *next; s && budget-- > 0; s = next) {
    next = s->next;
    orphan_remove(s);
    orphan_lists(s);
    gcl_slab_gather(s);
    if (s->free || s->bump < s->usable_end) {
      own(h, s, false);
      got = true;
      break;
    }
    orphan_push(s); /* rotate: look at others next time */
  }
  gcl_prim_unlock(&gcl_theap_orphan_lock);
  return got;
}

/* Release the empty orphans. Each is looked at once: one that stays goes
 * to the back, behind those not looked at yet, so the loop counts rather
 * than follows links (with two kept orphans, following `next` went round
 * for ever). */
static void orphans_shed(void) {
  gcl_prim_lock(&gcl_theap_orphan_lock);
  for (unsigned c = 1; c < GCL_NCLASSES; c++) {
    for (size_t n = gcl_theaps.norphans[c]; n > 0; n--) {
      gcl_span_t *s = gcl_theaps.orphans[c].first;
      orphan_remove(s);
      if (!orphan_settle(s)) orphan_push(s);
    }
  }
  gcl_prim_unlock(&gcl_theap_orphan_lock);
}

/* A slab of a restored image (image.c): the thread that owned it is gone
 * (theap structs are not saved), so it becomes an orphan, exactly as when
 * its thread exits, and adoption and release take over from there. False
 * when the slab was never published (its thread was building it when the
 * image was saved, so nothing was handed out from it): its owner fields are
 * cleared all the same, and the caller gives the span back. The saved owner
 * is only tested for NULL: it names a theap of the saving process. Its lists
 * are left for orphan_lists. Before the process is ready, after
 * gcl_theap_reset. */
bool gcl_theap_restore(gcl_span_t *s) {
  bool published = gcl_slab_published(s);
  s->fast_owner = 0;
  s->full = 0;
  s->theap = NULL;
  s->orphan = 0;
  s->warm = 0;
  s->next = s->prev = NULL;
  s->restored = published;
  if (!published) return false;
  gcl_prim_lock(&gcl_theap_orphan_lock);
  orphan_push(s);
  gcl_prim_unlock(&gcl_theap_orphan_lock);
  return true;
}

/* ---- thread heaps ------------------------------------------------------------------- */

/* A theap for the calling thread (the process is initialized: alloc.c's
 * slow path sees to it), or NULL when no struct is left. */
static gcl_theap_t *theap_new(void) {
  gcl_prim_lock(&gcl_theap_lock);
  gcl_theap_t *h = gcl_theaps.pool;
  if (h) {
    /* Left as clean as gcl_theap_empty by theap_clean: copying its 5.8 KiB
     * again cost bench's spawn 740 instructions a thread. */
    gcl_theaps.pool = h->pool_next;
    h->pool_next = NULL;
    gcl_assert_internal(memcmp(h->cur, gcl_theap_empty.cur, sizeof h->cur) == 0);
  } else if (gcl_region_grow(&gcl_region.theaps, gcl_theaps.bump + sizeof *h, GCL_SLOT_SIZE) == 0) {
    h = (gcl_theap_t *)gcl_theaps.bump;
    gcl_theaps.bump += sizeof *h;
    *h = gcl_theap_empty; /* a copy, not a loop: spawn's threads spent 2,000 instructions each here */
  }
  if (h) {
    h->live = 1;
    h->thread = gcl_prim_thread_self();
    h->next = gcl_theaps.live;
    if (gcl_theaps.live) gcl_theaps.live->prev = h;
    gcl_theaps.live = h;
    gcl_theaps.count++;
  }
  gcl_prim_unlock(&gcl_theap_lock);
  if (!h) return NULL;
  /* tls_set makes h the thread's theap before it registers the exit hook:
   * registering may allocate (glibc's pthread_setspecific for high keys),
   * and that malloc must find this theap rather than build another. */
  gcl_prim_tls_set(h);
  return h;
}

/* Take h off the live list and put its struct in the pool. */
static void theap_unlink(gcl_theap_t *h) {
  gcl_prim_lock(&gcl_theap_lock);
  if (h->prev) h->prev->next = h->next;
  else gcl_theaps.live = h->next;
  if (h->next) h->next->prev = h->prev;
  h->live = 0;
  h->pool_next = gcl_theaps.pool;
  gcl_theaps.pool = h;
  gcl_theaps.count--;
  gcl_prim_unlock(&gcl_theap_lock);
}

/* theap_abandon's work on one of the dying theap's queues. */
static void abandon_queue(gcl_spanq_t *q) {
  while (q->first) {
    gcl_span_t *s = q->first;
    q_remove(q, s);
    disown(s);
    bool keep = gcl_theaps.warm < GCL_WARM_ORPHANS && !gcl_debug_modes;
    if (keep) gcl_slab_gather(s);
    if (keep && s->used == 0) {
      orphan_push(s);
      s->warm = 1;
      gcl_theaps.warm++;
    } else if (!orphan_settle(s)) {
      orphan_push(s);
    }
  }
}

/* h's queues are empty: make it as clean as gcl_theap_empty again, for
 * theap_new to take from the pool as it is. Only the classes it had slabs
 * of have anything to undo. */
static void theap_clean(gcl_theap_t *h) {
  for (unsigned w = 0; w < sizeof h->classes / sizeof h->classes[0]; w++) {
    for (uint64_t bits = h->classes[w]; bits; bits &= bits - 1) set_current(h, w * 64 + (unsigned)__builtin_ctzll(bits));
    h->classes[w] = 0;
  }
  memset(h->idle, 0, sizeof h->idle);
  h->taken = 0;
  gcl_store_relaxed(&h->remote_full_hint, 0); /* a stale remote free may set it again: a needless scan */
}

/* Hand every slab of h to the orphans, or back to the arena if empty; but
 * up to GCL_WARM_ORPHANS empty ones in all stay orphans, "warm", for the
 * next thread that needs a slab of their class (adopt_orphan): a program
 * that starts a thread per task (bench's spawn) otherwise gave back and
 * took anew, and built the free lists of, three or four slabs per thread,
 * about 3,800 instructions a thread of the 12,000 it cost more than glibc.
 * At most that many slabs stay resident for a thread that never comes;
 * trim gives them back (orphans_shed). Not in a debug mode, where a slab's
 * life is what the checks watch. Only the queues of the classes h had slabs
 * of are looked at (scanning all 72 cost spawn 740 instructions a thread). */
static void theap_abandon(gcl_theap_t *h) {
  held_give_all(h);
  gcl_prim_lock(&gcl_theap_orphan_lock);
  for (unsigned w = 0; w < sizeof h->classes / sizeof h->classes[0]; w++)
    for (uint64_t bits = h->classes[w]; bits; bits &= bits - 1) abandon_queue(&h->queue[w * 64 + (unsigned)__builtin_ctzll(bits)]);
  abandon_queue(&h->full);
  gcl_prim_unlock(&gcl_theap_orphan_lock);
  theap_clean(h);
  theap_unlink(h);
}

/* The thread-exit hook. A malloc in a later destructor of the same thread
 * gets a fresh theap, and this hook runs again for it. */
void gcl_theap_thread_done(void *theap) {
  gcl_theap_t *h = theap;
  if (!h || h == &gcl_theap_empty) return;
  gcl_prim_tls_set(NULL);
  theap_abandon(h);
}

/* In a fork child only the forking thread survives. The others may have
 * been anywhere in their theaps' lock-free paths when the fork happened, so
 * their slab lists cannot be trusted: drop the theaps from the list and
 * leave their slabs alone. The child loses the use of those slabs (frees
 * into them still work: they land on remote lists nobody gathers); the
 * parent is untouched. Runs with every lock reinitialized and no other
 * thread. */
void gcl_theap_fork_child(void) {
  gcl_theap_t *me = gcl_theap_self();
  for (gcl_theap_t *h = gcl_theaps.live, *next; h; h = next) {
    next = h->next;
    if (h == me) continue;
    /* Not into the pool: its slabs still name it as their owner, and a new
     * thread given this struct would take them for its own. */
    if (h->prev) h->prev->next = h->next;
    else gcl_theaps.live = h->next;
    if (h->next) h->next->prev = h->prev;
    h->live = 0;
    gcl_theaps.count--;
  }
}

/* ---- malloc -------------------------------------------------------------------------- */

/* The slab s of h's queue of class c has a free block: make it the class's
 * current slab and hand the block out. */
static gcl_block_t *front_pop(gcl_theap_t *h, unsigned c, gcl_span_t *s) {
  if (s != h->queue[c].first) {
    q_remove(&h->queue[c], s);
    q_push_front(&h->queue[c], s);
  }
  set_current(h, c);
  return gcl_slab_pop(s);
}

/* Class c's own slabs have no free block: a free block of a larger class,
 * at most GCL_SHARE_FACTOR times c's block size and a multiple of align,
 * from h's current slab of that class, or NULL. Only for blocks of 4 KiB
 * and more (GCL_SHARE_MIN), whose pages are their own: the larger block's
 * pages were touched by its last user, where a fresh block of c would touch
 * new ones. So a mix of sizes keeps resident about what it uses, not every
 * class's own high-water mark of blocks: bench's medium (64 live blocks of
 * 4 to 256 KiB, 40 classes) peaked at 16.4 MiB resident at scale 1, 13.9
 * MiB with this (glibc, which coalesces, 8.7). Four times the size gave
 * 13.0 MiB, but realloc's growing buffers then sat in blocks up to four
 * times theirs (72.4 MiB peak against 67.1; twice: 67.8). */
static gcl_block_t *larger_free(gcl_theap_t *h, unsigned c, size_t align) {
  unsigned last = gcl_slab_class_of(GCL_SHARE_FACTOR * gcl_slab_class_size(c));
  if (last >= GCL_NCLASSES) last = GCL_NCLASSES - 1;
  for (unsigned d = c + 1; d <= last; d++) {
    gcl_span_t *s = h->queue[d].first;
    if (s && s->free && (s->block_size & (align - 1)) == 0) return gcl_slab_pop(s);
  }
  return NULL;
}

/* A block of class c (aligned to align, which c's blocks are) for h, or
 * NULL when the arena is full. In this order, so that blocks already
 * touched go out before fresh ones: a free block of the class's queue
 * (after gathering its remote frees), of its full slabs other threads
 * freed into, of a larger class (larger_free), a never-used block of a
 * queued slab, an orphan's, a new slab's.
 *
 * The first slab the scan finds with no block left (the current slab,
 * whose last block just went out) moves to the back of the queue, and
 * keeps its fast_owner: frees into it stay on the fast path. Any other
 * such slab goes to the full list. A program whose blocks die in the order
 * they were born (a FIFO window: bench's pair) frees into its oldest slab,
 * and the rotation keeps the queue in that order: the slab after the
 * current one is the oldest, so the scan finds a free block at its second
 * slab. Sending the current slab to the full list instead cost a slow free
 * to bring it back and two changes of the current slab for every round of
 * its blocks: at 8 KiB (8 blocks a slab) 35 instructions a malloc/free
 * pair. A scan stops at the slab it moved. Every exit leaves direct[] at
 * the queue's first slab (set_current). */
static gcl_block_t *class_pop(gcl_theap_t *h, unsigned c, size_t align) {
  for (;;) {
    gcl_span_t *room = NULL;    /* the first queued slab with never-used blocks */
    gcl_span_t *rotated = NULL; /* the slab this scan moved to the back */
    for (gcl_span_t *s = h->queue[c].first, *next; s && s != rotated; s = next) {
      next = s->next;
      if (!s->free) gcl_slab_gather(s);
      if (s->free) return front_pop(h, c, s);
      if (s->bump < s->usable_end) {
        room = room ? room : s;
      } else if (!rotated && next && stays_queued(s)) {
        q_to_back(&h->queue[c], s);
        rotated = s;
      } else {
        slab_to_full(h, s);
      }
    }
    if (revive_full(h, c)) continue;
    if (gcl_slab_class_size(c) >= GCL_SHARE_MIN) {
      gcl_block_t *b = larger_free(h, c, align);
      if (b) {
        set_current(h, c);
        return b;
      }
    }
    if (room) {
      gcl_slab_extend(room);
      return front_pop(h, c, room);
    }
    if (adopt_orphan(h, c)) continue;
    if (!slab_new(h, c)) {
      set_current(h, c);
      return NULL;
    }
  }
}

/* A block of class c (aligned to align) for the calling thread, whose
 * theap is h (the empty one if it has none yet), or NULL when the arena or
 * the theap structs are exhausted. */
gcl_block_t *gcl_theap_alloc(gcl_theap_t *h, unsigned c, size_t align) {
  if (gcl_unlikely(h == &gcl_theap_empty) && !(h = theap_new())) return NULL;
  gcl_span_t *s = h->queue[c].first;
  return gcl_likely(s && s->free) ? gcl_slab_pop(s) : class_pop(h, c, align);
}

/* ---- free -------------------------------------------------------------------------------- */

/* Live block b of slab s is freed by a path other than the fast one: a
 * remote free, a slab on its owner's full list, or a debug mode. */
void gcl_theap_free(gcl_span_t *s, gcl_block_t *b) {
  gcl_theap_t *h = gcl_theap_self();
  if (gcl_load_relaxed(&s->theap) != h) {
    uint32_t remote = gcl_slab_push_remote(s, b);
    gcl_theap_t *owner = gcl_load_acquire(&s->theap);
    if (!owner) {
      /* An orphan's `used` no longer moves but under the orphan lock: only
       * the free that may have emptied it takes that lock (and the first
       * into an orphan restored from an image, whose lists are checked at
       * their first use). A stale read leaves an empty orphan to the next
       * adoption scan or trim. */
      if (remote >= gcl_load_relaxed(&s->orphan_used) || gcl_load_relaxed(&s->restored)) orphan_freed(s);
    } else if (__atomic_load_n(&s->full, __ATOMIC_SEQ_CST)) {
      /* Theap structs are never unmapped: a stale owner only gets a needless scan. */
      __atomic_store_n(&owner->remote_full_hint, 1, __ATOMIC_SEQ_CST);
    }
    return;
  }
  gcl_slab_push_local(s, b);
  if (s->full) slab_to_queue(h, s);
  if (s->used == 0) gcl_theap_span_empty(s);
}

/* Block b of slab s carries its free tag: is it free? The tag proves it
 * unless the program wrote that word itself, which the slab's lists tell,
 * when the calling thread may read them: its own slab, or an orphan (under
 * the orphan lock). Another thread's lists are its own; for its blocks the
 * tag, which names the block and is no pointer value, is taken as proof. */
bool gcl_theap_tag_is_free(gcl_span_t *s, const gcl_block_t *b) {
  gcl_theap_t *h = gcl_theap_self(), *owner = gcl_load_acquire(&s->theap);
  if (owner && owner == h) return gcl_slab_listed(s, b);
  if (owner) return true;
  gcl_prim_lock(&gcl_theap_orphan_lock);
  bool listed = s->kind != GCL_SPAN_SLAB || !s->orphan || gcl_slab_listed(s, b);
  gcl_prim_unlock(&gcl_theap_orphan_lock);
  return listed;
}

/* A slab in its theap's queue has no block out. Keep it if it is the
 * class's current slab (a malloc/free loop would otherwise churn the
 * arena; a small class's is marked idle, for idle_give), or if its theap is
 * a fork child's vanished thread's (whose queue cannot be trusted); else
 * give it back. errno is kept: free's contract. */
GCL_NOINLINE void gcl_theap_span_empty(gcl_span_t *s) {
  gcl_theap_t *h = gcl_load_relaxed(&s->theap);
  if (!h->live) return;
  if (h->queue[s->sclass].first == s) {
    /* For idle_give; not in a debug mode, where the slab stays so that a
     * second free of its last block is named a double free (the hardened
     * mode's probes), not a free of no block. */
    if (s->block_size < GCL_SHARE_MIN && !gcl_debug_modes) {
      h->idle[s->sclass / 64] |= (uint64_t)1 << (s->sclass % 64);
      s->idle_at = h->taken;
    }
    return;
  }
  int saved = errno;
  slab_give(h, s);
  errno = saved;
}

/* Give back what is empty: the calling thread's empty slabs and the empty
 * orphans (alloc.c's trim then purges the pages). */
void gcl_theap_shed(void) {
  gcl_theap_t *h = gcl_theap_self();
  if (h != &gcl_theap_empty) {
    held_give_all(h);
    for (unsigned c = 1; c < GCL_NCLASSES; c++) {
      for (gcl_span_t *s = h->queue[c].first, *next; s; s = next) {
        next = s->next;
        gcl_slab_gather(s);
        if (s->used == 0) slab_give(h, s);
      }
      set_current(h, c);
    }
  }
  orphans_shed();
}

/* ---- held spans ----------------------------------------------------------------------
 * A large block of at most GCL_HELD_SLOTS slots that a thread frees stays
 * with the thread's theap (span.c: gcl_span_hold), at most GCL_HELD_N and
 * GCL_HELD_SLOTS slots in all, the oldest given back first, and the next
 * large block of the thread that fits takes it back: a malloc/free loop of
 * large blocks then takes no lock and splits and merges no free span. A
 * loop of 16 live blocks of 128 to 512 KiB, 2 million steps, took 0.25 s
 * without (0.86 s at two threads, a third of it waiting for the span lock;
 * tcmalloc 0.12 and 0.25) and 0.17 with (0.57). Before a new slab takes a
 * span, the held ones go back (slab_new), so that their pages serve it:
 * holding them across slabs raised bench's boundary, realloc and medium
 * peak RSS by 2 to 3%; with this, by at most 1.2%. Not in a debug mode,
 * whose guard pages, quarantine and exact sizes are span.c's at every
 * free, nor in a thread with no theap (gcl_theap_empty holds none). Only
 * the thread changes its held[]; thread exit and trim give the spans back,
 * and a fork child forgets those of vanished threads with their theaps
 * (gcl_theap_fork_child), as it does their slabs. */
static void held_drop(gcl_theap_t *h, unsigned i) {
  h->held_slots -= h->held_n[i];
  for (unsigned j = i + 1; j < h->nheld; j++) h->held[j - 1] = h->held[j], h->held_n[j - 1] = h->held_n[j];
  h->held[--h->nheld] = NULL;
  h->held_n[h->nheld] = 0;
}

static void held_give_oldest(gcl_theap_t *h) {
  gcl_span_t *s = h->held[0];
  held_drop(h, 0);
  gcl_span_give(s);
}

static void held_give_all(gcl_theap_t *h) {
  while (h->nheld) held_give_oldest(h);
}

/* A held span made a large block of `size` bytes aligned to `align`, or
 * NULL. The smallest that fits, with at most a quarter more slots (and
 * one) than the block needs: a block keeps its span's slots while it
 * lives, and more would be resident for nothing. */
gcl_span_t *gcl_theap_large_take(size_t size, size_t align) {
  gcl_theap_t *h = gcl_theap_self();
  if (!h->nheld || gcl_debug_modes) return NULL;
  size_t need = gcl_span_large_slots(size), most = need + need / 4 + 1;
  unsigned best = GCL_HELD_N;
  for (unsigned i = 0; i < h->nheld; i++) {
    size_t n = h->held_n[i];
    if (n < need || n > most || (align > GCL_SLOT_SIZE && (h->held[i]->start & (align - 1)))) continue;
    if (best == GCL_HELD_N || n <= h->held_n[best]) best = i; /* ties: the newest */
  }
  if (best == GCL_HELD_N) return NULL;
  gcl_span_t *s = h->held[best];
  held_drop(h, best);
  gcl_span_unhold(s, size);
  return s;
}

/* Large block s, being freed by the calling thread: true when its theap
 * holds it now, false when it is to be given back. */
bool gcl_theap_large_hold(gcl_span_t *s) {
  gcl_theap_t *h = gcl_theap_self();
  if (!h->live || gcl_debug_modes || s->slots > GCL_HELD_SLOTS) return false;
  while (h->nheld == GCL_HELD_N || h->held_slots + s->slots > GCL_HELD_SLOTS) held_give_oldest(h);
  gcl_span_hold(s);
  h->held_n[h->nheld] = s->slots;
  h->held[h->nheld++] = s;
  h->held_slots += s->slots;
  return true;
}

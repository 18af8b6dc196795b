/* heap.c: thread heaps, size classes and slabs (the small and medium blocks).
 *
 * Each thread allocates from its own heap, so the common malloc and free
 * take no lock and no atomic. A slab is a span of one size class with three
 * free lists (mimalloc's free-list sharding): `free` to allocate from,
 * `local_free` where the owner frees, and `xfree`, a lock-free stack where
 * other threads free. When `free` runs dry the owner collects the other two;
 * only then does it look further (other slabs, orphans, the arena).
 *
 * Invariants:
 *  - a slab's free lists, `used` and queue links change only in its owner
 *    thread (or, for an orphan, under gcl_orphan_lock);
 *  - s->fast_owner is h->thread exactly while slab s sits in heap h's
 *    queue (and no debug mode is on), else 0: a slab on h's full list
 *    (s->full) has 0, so every free into it is noticed. The free fast path
 *    compares it with its caller's thread word, which costs one load less
 *    than the caller's heap. A dead thread's word can come back in a new
 *    thread, where it matches only slabs of heaps that no live thread runs:
 *    a heap its thread made after the last round of exit destructors, or in
 *    a fork child a vanished thread's. The new thread's frees then push onto
 *    those slabs' local lists, which no one else touches (nobody allocates
 *    from them), and gcl_heap_span_empty leaves vanished heaps alone;
 *  - blocks below s->bump are live (word 1 != free tag) or free (tag set);
 *    blocks at or above bump were never handed out; s->bump_key always
 *    says where bump is (slab_set_bump).
 * Thread exit orphans a heap's slabs; frees keep flowing into their xfree
 * lists, an orphan is released as soon as it is empty, and any thread short
 * of a slab of that class adopts one. (A fork child instead forgets the
 * heaps of the threads that vanished: see gcl_heap_fork_child.)
 */
#include "internal.h"

#include <errno.h>
#include <string.h>

static gcl_span_t span_empty; /* free == NULL: sends malloc to the generic path */

gcl_heap_t gcl_heap_empty = {.direct = {[0 ... GCL_DIRECT_N - 1] = &span_empty}};

gcl_lock_t gcl_heap_lock = GCL_LOCK_INIT;
gcl_lock_t gcl_orphan_lock = GCL_LOCK_INIT;

static struct {
  gcl_heap_t *list;   /* live heaps */
  gcl_heap_t *pool;   /* heap structs of exited threads */
  uintptr_t bump;     /* next never-used heap struct */
  size_t count;
  gcl_spanq_t orphans;
  size_t norphans;    /* relaxed: a hint read without the lock */
} H;

bool gcl_heap_reset(void) {
  if (H.count) return false;
  memset(&H, 0, sizeof H);
  H.bump = gcl_region.heaps.base;
  return true;
}

size_t gcl_heap_count(void) {
  return gcl_load_relaxed(&H.count);
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
  if (s->prev) s->prev->next = s->next;
  else q->first = s->next;
  if (s->next) s->next->prev = s->prev;
  else q->last = s->prev;
  s->next = s->prev = NULL;
}

/* In a debug mode no slab is published to the fast paths: direct[] keeps
 * pointing at the empty span and fast_owner stays 0, so every malloc and
 * free reaches the generic paths, which run the debug hooks. The fast paths
 * themselves never test a flag. */
static void set_fast_owner(gcl_span_t *s, const gcl_heap_t *h) {
  gcl_store_relaxed(&s->fast_owner, gcl_debug ? 0 : h->thread);
}

/* Point direct[] at the class's first slab (or the empty span). */
static void set_current(gcl_heap_t *h, unsigned c) {
  size_t size = gcl_class_size(c);
  if (size > GCL_DIRECT_MAX) return;
  gcl_span_t *s = h->queue[c].first && !gcl_debug ? h->queue[c].first : &span_empty;
  size_t lo = c == 1 ? 0 : gcl_class_size(c - 1) / 16 + 1;
  for (size_t w = lo; w <= size / 16; w++) h->direct[w] = s;
}

/* ---- slabs ---------------------------------------------------------------------- */

/* A slab holds GCL_SLAB_MIN_BLOCKS blocks, but spans at most
 * GCL_SLAB_MAX_SLOTS slots unless one block needs more: one live block
 * keeps its whole slab, and every block of it that was ever touched stays
 * resident (a buffer grown by realloc leaves one behind in each class it
 * passes through). */
static size_t class_slots(unsigned c) {
  size_t bs = gcl_class_size(c);
  size_t n = (bs * GCL_SLAB_MIN_BLOCKS + GCL_SLOT_SIZE - 1) >> GCL_SLOT_SHIFT;
  size_t one = (bs + GCL_SLOT_SIZE - 1) >> GCL_SLOT_SHIFT;
  if (n > GCL_SLAB_MAX_SLOTS) n = GCL_SLAB_MAX_SLOTS;
  return n > one ? n : one;
}

static void slab_set_bump(gcl_span_t *s, uintptr_t bump) {
  gcl_store_relaxed(&s->bump_key, gcl_bump_key(s->block_size, (bump - s->start) / s->block_size));
  gcl_store_relaxed(&s->bump, bump);
}

static gcl_span_t *slab_new(gcl_heap_t *h, unsigned c) {
  size_t slots = class_slots(c), bs = gcl_class_size(c);
  gcl_span_t *s = gcl_arena_take(slots, 1, GCL_SPAN_SLAB);
  if (!s) return NULL;
  s->block_size = (uint32_t)bs;
  s->klass = (uint8_t)c;
  s->blockmagic = gcl_block_magic(bs);
  s->free = s->local_free = NULL;
  s->used = 0;
  slab_set_bump(s, s->start);
  s->bump_end = s->start + ((slots << GCL_SLOT_SHIFT) / bs) * bs;
  s->xfree = 0;
  s->xcount = 0;
  s->full = 0;
  if (gcl_unlikely(gcl_debug & GCL_DEBUG_VALGRIND)) gcl_debug_fresh((void *)s->start, slots << GCL_SLOT_SHIFT);
  set_fast_owner(s, h);
  gcl_store_release(&s->heap, h);
  q_push_front(&h->queue[c], s);
  set_current(h, c);
  return s;
}

/* Hand out never-used blocks: about a page's worth at a time, so a slab's
 * pages are touched only as they are needed. Needs s->free == NULL. */
static void slab_extend(gcl_span_t *s) {
  size_t bs = s->block_size;
  size_t n = bs >= 4096 ? 1 : 4096 / bs;
  size_t left = (s->bump_end - s->bump) / bs;
  if (n > left) n = left;
  gcl_block_t *first = (gcl_block_t *)s->bump, *b = first;
  for (size_t i = 1; i < n; i++) {
    gcl_block_t *next = (gcl_block_t *)((char *)b + bs);
    gcl_link_set(b, next);
    b->tag = gcl_free_tag((uintptr_t)s);
    b = next;
  }
  gcl_link_set(b, NULL);
  b->tag = gcl_free_tag((uintptr_t)s);
  s->free = first;
  slab_set_bump(s, s->bump + n * bs);
}

/* The last block of a slab's free list b (its links checked), and how many
 * blocks the list holds. The tail is left open (valgrind) for the caller to
 * link and close. */
static gcl_block_t *list_tail(const gcl_span_t *s, gcl_block_t *b, uint32_t *count) {
  uint32_t n = 1;
  for (;;) {
    GCL_FREE_OPEN(b);
    gcl_block_t *next = gcl_link_get(b);
    if (!next) break;
    if (!gcl_link_ok(s, next)) gcl_heap_bad_link(b);
    GCL_FREE_CLOSE(b);
    b = next, n++;
  }
  *count = n;
  return b;
}

/* Move local_free and the cross-thread frees onto `free` (owner only). */
static void slab_collect(gcl_span_t *s) {
  uint32_t n;
  if (gcl_load_relaxed(&s->xfree)) {
    gcl_block_t *x = (gcl_block_t *)__atomic_exchange_n(&s->xfree, 0, __ATOMIC_ACQUIRE);
    gcl_block_t *tail = list_tail(s, x, &n);
    __atomic_fetch_sub(&s->xcount, n, __ATOMIC_RELAXED);
    s->used -= n;
    gcl_link_set(tail, s->local_free);
    GCL_FREE_CLOSE(tail);
    s->local_free = x;
  }
  if (s->local_free) {
    gcl_block_t *l = s->local_free;
    s->local_free = NULL;
    if (s->free) {
      gcl_block_t *tail = list_tail(s, l, &n);
      gcl_link_set(tail, s->free);
      GCL_FREE_CLOSE(tail);
    }
    s->free = l;
  }
}

static gcl_block_t *slab_pop(gcl_span_t *s) {
  gcl_block_t *b = s->free;
  GCL_FREE_OPEN(b);
  gcl_block_t *next = gcl_link_get(b);
  if (!gcl_link_ok(s, next)) gcl_heap_bad_link(b);
  s->free = next;
  b->tag = 0;
  s->used++;
  return b;
}

static void slab_to_queue(gcl_heap_t *h, gcl_span_t *s) {
  q_remove(&h->full, s);
  __atomic_store_n(&s->full, 0, __ATOMIC_SEQ_CST);
  set_fast_owner(s, h);
  q_push_back(&h->queue[s->klass], s);
  set_current(h, s->klass);
}

/* s has no free block: park it on the full list. A cross-thread free that
 * raced with this is caught by the seq_cst pair (full store, xfree load)
 * here and (xfree push, full load) in free_remote. */
static void slab_to_full(gcl_heap_t *h, gcl_span_t *s) {
  q_remove(&h->queue[s->klass], s);
  q_push_back(&h->full, s);
  gcl_store_relaxed(&s->fast_owner, 0);
  __atomic_store_n(&s->full, 1, __ATOMIC_SEQ_CST);
  if (__atomic_load_n(&s->xfree, __ATOMIC_SEQ_CST)) slab_to_queue(h, s);
  set_current(h, s->klass);
}

/* Bring back full slabs that other threads have freed into. */
static bool revive_full(gcl_heap_t *h, unsigned c) {
  if (!gcl_load_relaxed(&h->xfull_hint)) return false;
  __atomic_store_n(&h->xfull_hint, 0, __ATOMIC_SEQ_CST);
  bool got = false;
  for (gcl_span_t *s = h->full.first, *next; s; s = next) {
    next = s->next;
    if (__atomic_load_n(&s->xfree, __ATOMIC_SEQ_CST)) {
      slab_to_queue(h, s);
      got |= s->klass == c;
    }
  }
  return got;
}

/* Give an orphan (or a dying heap's slab) back if it is empty; else keep it
 * on the orphan list. Called with gcl_orphan_lock held. */
static bool orphan_settle(gcl_span_t *s) {
  slab_collect(s);
  if (s->used) return false;
  gcl_arena_give(s);
  return true;
}

static void orphan_push(gcl_span_t *s) {
  s->orphan = 1;
  q_push_back(&H.orphans, s);
  gcl_store_relaxed(&H.norphans, H.norphans + 1);
}

static void orphan_remove(gcl_span_t *s) {
  s->orphan = 0;
  q_remove(&H.orphans, s);
  gcl_store_relaxed(&H.norphans, H.norphans - 1);
}

/* Someone freed into an orphan (its thread has exited): give the slab back
 * as soon as it is empty, rather than wait for an adoption scan. The slab
 * may have been adopted or released meanwhile; `orphan`, read under the
 * lock, tells (if it is another orphan by now, it is as good a candidate). */
static void orphan_freed(gcl_span_t *s) {
  if (!gcl_trylock(&gcl_orphan_lock)) return;
  if (s->kind == GCL_SPAN_SLAB && s->orphan) {
    slab_collect(s);
    if (s->used == 0) {
      orphan_remove(s);
      gcl_arena_give(s);
    }
  }
  gcl_unlock(&gcl_orphan_lock);
}

/* Adopt an orphaned slab of class c with room, releasing empty orphans on
 * the way. Bounded, and skipped when another thread holds the lock. */
static bool adopt_orphan(gcl_heap_t *h, unsigned c) {
  if (!gcl_load_relaxed(&H.norphans) || !gcl_trylock(&gcl_orphan_lock)) return false;
  bool got = false;
  int budget = 32;
  for (gcl_span_t *s = H.orphans.first, *next; s && budget-- > 0; s = next) {
    next = s->next;
    orphan_remove(s);
    if (orphan_settle(s)) continue;
    if (s->klass == c && (s->free || s->bump < s->bump_end)) {
      set_fast_owner(s, h);
      gcl_store_release(&s->heap, h);
      q_push_back(&h->queue[c], s);
      set_current(h, c);
      got = true;
      break;
    }
    orphan_push(s); /* rotate: look at others next time */
  }
  gcl_unlock(&gcl_orphan_lock);
  return got;
}

/* A block of class c for heap h, or NULL when the arena is full. */
static gcl_block_t *class_pop(gcl_heap_t *h, unsigned c) {
  for (;;) {
    for (gcl_span_t *s = h->queue[c].first, *next; s; s = next) {
      next = s->next;
      if (!s->free) slab_collect(s);
      if (!s->free && s->bump < s->bump_end) slab_extend(s);
      if (s->free) {
        if (s != h->queue[c].first) {
          q_remove(&h->queue[c], s);
          q_push_front(&h->queue[c], s);
          set_current(h, c);
        }
        return slab_pop(s);
      }
      slab_to_full(h, s);
    }
    if (revive_full(h, c)) continue;
    if (adopt_orphan(h, c)) continue;
    if (!slab_new(h, c)) return NULL;
  }
}

/* ---- thread heaps ------------------------------------------------------------------- */

static gcl_heap_t *heap_new(void) {
  if (gcl_process_ensure() != 0) return NULL;
  gcl_lock(&gcl_heap_lock);
  gcl_heap_t *h = H.pool;
  if (h) {
    H.pool = h->pool_next;
  } else if (gcl_region_grow(&gcl_region.heaps, H.bump + sizeof *h, GCL_SLOT_SIZE) == 0) {
    h = (gcl_heap_t *)H.bump;
    H.bump += sizeof *h;
  }
  if (h) {
    memset(h, 0, sizeof *h);
    for (size_t w = 0; w < GCL_DIRECT_N; w++) h->direct[w] = &span_empty;
    h->live = 1;
    h->thread = gcl_prim_thread_self();
    h->next = H.list;
    if (H.list) H.list->prev = h;
    H.list = h;
    H.count++;
  }
  gcl_unlock(&gcl_heap_lock);
  if (!h) return NULL;
  /* tls_set makes h the thread's heap before it registers the exit hook:
   * registering may allocate (glibc's pthread_setspecific for high keys),
   * and that malloc must find this heap rather than build another. */
  gcl_prim_tls_set(h);
  return h;
}

/* Take h off the live list and put its struct in the pool. */
static void heap_unlink(gcl_heap_t *h) {
  gcl_lock(&gcl_heap_lock);
  if (h->prev) h->prev->next = h->next;
  else H.list = h->next;
  if (h->next) h->next->prev = h->prev;
  h->live = 0;
  h->pool_next = H.pool;
  H.pool = h;
  H.count--;
  gcl_unlock(&gcl_heap_lock);
}

/* Hand every slab of h to the orphans (or back to the arena if empty). */
static void heap_abandon(gcl_heap_t *h) {
  gcl_lock(&gcl_orphan_lock);
  for (unsigned c = 0; c <= GCL_NCLASSES; c++) {
    gcl_spanq_t *q = c < GCL_NCLASSES ? &h->queue[c] : &h->full;
    while (q->first) {
      gcl_span_t *s = q->first;
      q_remove(q, s);
      gcl_store_relaxed(&s->fast_owner, 0);
      __atomic_store_n(&s->full, 0, __ATOMIC_SEQ_CST);
      gcl_store_release(&s->heap, NULL);
      if (!orphan_settle(s)) orphan_push(s);
    }
  }
  gcl_unlock(&gcl_orphan_lock);
  heap_unlink(h);
}

/* The thread-exit hook. A malloc in a later destructor of the same thread
 * gets a fresh heap, and this hook runs again for it. */
void gcl_heap_thread_done(void *heap) {
  gcl_heap_t *h = heap;
  if (!h || h == &gcl_heap_empty) return;
  gcl_prim_tls_set(NULL);
  heap_abandon(h);
}

/* In a fork child only the forking thread survives. The others may have
 * been anywhere in their heaps' lock-free paths when the fork happened, so
 * their slab lists cannot be trusted: drop the heaps from the list and leave
 * their slabs alone. The child loses the use of those slabs (frees into them
 * still work: they land on xfree lists nobody collects); the parent is
 * untouched. Runs with every lock reinitialized and no other thread. */
void gcl_heap_fork_child(void) {
  gcl_heap_t *me = gcl_heap_self();
  for (gcl_heap_t *h = H.list, *next; h; h = next) {
    next = h->next;
    if (h == me) continue;
    /* Not into the pool: its slabs still name it as their owner, and a new
     * thread given this struct would take them for its own. */
    if (h->prev) h->prev->next = h->next;
    else H.list = h->next;
    if (h->next) h->next->prev = h->prev;
    h->live = 0;
    H.count--;
  }
}

/* ---- malloc ---------------------------------------------------------------------------- */

static void *large_alloc(size_t size, size_t align, bool zero) {
  if (size > gcl_region.arena.limit - gcl_region.arena.base) {
    errno = ENOMEM;
    return NULL;
  }
  size_t slots = (size + GCL_SLOT_SIZE - 1) >> GCL_SLOT_SHIFT;
  gcl_span_t *s = gcl_arena_take(slots ? slots : 1, align > GCL_SLOT_SIZE ? align >> GCL_SLOT_SHIFT : 1,
                                 GCL_SPAN_LARGE);
  if (!s) {
    errno = ENOMEM;
    return NULL;
  }
  gcl_heap_large_set_size(s, size);
  bool is_zero = s->flags & GCL_SPAN_ZERO;
  /* Describe the block before writing to it: memcheck may still see the
   * memory as freed blocks of an earlier span. */
  if (gcl_unlikely(gcl_debug)) gcl_debug_alloc((void *)s->start, s->bump_end - s->start, zero && is_zero);
  if (zero && !is_zero) memset((void *)s->start, 0, size);
  return (void *)s->start;
}

/* A large block is slot-aligned (for the O(1) lookup) but page-granular:
 * its usable size is the request rounded up to a page, and the rest of its
 * last slot is never touched. */
void gcl_heap_large_set_size(gcl_span_t *s, size_t size) {
  size_t page = gcl_prim_page_size();
  size_t usable = size ? (size + page - 1) & ~(page - 1) : page;
  gcl_store_relaxed(&s->bump_end, s->start + usable);
}

/* The fast path's miss: the current slab s of the size's class has an
 * empty free list. Most often the owner's frees have piled up on
 * local_free meanwhile: swap them in, in a few instructions. (Not with
 * cross-thread frees waiting: class_pop collects both. In a debug mode, and
 * for a thread with no heap, s is the empty span.) */
GCL_NOINLINE void *gcl_heap_malloc_refill(gcl_heap_t *h, gcl_span_t *s, size_t size) {
  if (gcl_likely(s->local_free && !gcl_load_relaxed(&s->xfree))) {
    s->free = s->local_free;
    s->local_free = NULL;
    return slab_pop(s);
  }
  return gcl_heap_malloc_generic(h, size);
}

GCL_NOINLINE void *gcl_heap_malloc_generic(gcl_heap_t *h, size_t size) {
  if (gcl_unlikely(h == &gcl_heap_empty)) {
    h = heap_new();
    if (!h) {
      errno = ENOMEM;
      return NULL;
    }
  }
  if (gcl_unlikely(gcl_debug)) gcl_debug_op();
  if (size > GCL_MEDIUM_MAX) return large_alloc(size, 1, false);
  unsigned c = gcl_class_of(size);
  gcl_span_t *s = h->queue[c].first;
  gcl_block_t *b = gcl_likely(s && s->free) ? slab_pop(s) : class_pop(h, c);
  if (!b) errno = ENOMEM;
  else if (gcl_unlikely(gcl_debug)) gcl_debug_alloc(b, gcl_class_size(c), false);
  return b;
}

/* A block of at least `size` bytes aligned to `align` (a power of two): the
 * smallest size class whose block size is a multiple of align (slabs start
 * on slot boundaries), or a large block. `zero`: calloc semantics. */
void *gcl_heap_malloc_aligned(size_t size, size_t align, bool zero) {
  if (size <= GCL_MEDIUM_MAX && align <= GCL_SLOT_SIZE) {
    unsigned c = gcl_class_of(size < align ? align : size);
    while (c < GCL_NCLASSES && gcl_class_size(c) % align) c++;
    if (c < GCL_NCLASSES) {
      gcl_heap_t *h = gcl_heap_self();
      if (h == &gcl_heap_empty && !(h = heap_new())) {
        errno = ENOMEM;
        return NULL;
      }
      if (gcl_unlikely(gcl_debug)) gcl_debug_op();
      gcl_block_t *b = class_pop(h, c);
      if (!b) {
        errno = ENOMEM;
        return NULL;
      }
      if (gcl_unlikely(gcl_debug)) gcl_debug_alloc(b, gcl_class_size(c), false);
      if (zero) memset(b, 0, gcl_class_size(c));
      return b;
    }
  }
  return large_alloc(size, align, zero);
}

/* ---- free -------------------------------------------------------------------------------- */

/* The slab or large span of a block handed out and not freed, else NULL;
 * `why` gets the fatal message for the misuse. */
static gcl_span_t *live_span(const void *p, enum gcl_fatal *why) {
  gcl_span_t *s = gcl_arena_span_of(p);
  *why = GCL_FATAL_INVALID_FREE;
  if (!s) return NULL;
  uintptr_t a = (uintptr_t)p;
  if (s->kind == GCL_SPAN_LARGE) return a == s->start ? s : NULL;
  if (s->kind != GCL_SPAN_SLAB) {
    if (a == s->start && (s->flags & GCL_SPAN_WAS_LARGE)) *why = GCL_FATAL_DOUBLE_FREE;
    return NULL;
  }
  if (!gcl_slab_is_block(s, a, gcl_load_relaxed(&s->bump_key))) return NULL;
  /* Under valgrind memcheck catches double frees itself, and reading a live
   * block's word 1 would be a read of memory the program may never have
   * written. */
  if (!(gcl_debug & GCL_DEBUG_VALGRIND) && ((const gcl_block_t *)p)->tag == gcl_free_tag((uintptr_t)s)) {
    *why = GCL_FATAL_DOUBLE_FREE;
    return NULL;
  }
  return s;
}

size_t gcl_heap_block_size(const void *p, enum gcl_fatal misuse) {
  enum gcl_fatal why;
  gcl_span_t *s = live_span(p, &why);
  if (!s) {
    if (misuse == GCL_FATAL_NONE) return 0;
    gcl_fatal(why == GCL_FATAL_DOUBLE_FREE && misuse == GCL_FATAL_INVALID_FREE ? why : misuse, p, NULL);
  }
  return s->kind == GCL_SPAN_LARGE ? s->bump_end - s->start : s->block_size;
}

static void free_remote(gcl_span_t *s, gcl_block_t *b) {
  /* Count first: the owner subtracts what it collects, so xcount never
   * drops below the length of the list. */
  __atomic_fetch_add(&s->xcount, 1, __ATOMIC_RELAXED);
  uintptr_t old = gcl_load_relaxed(&s->xfree);
  do {
    GCL_FREE_OPEN(b); /* closed before the push publishes the block */
    gcl_link_set(b, (gcl_block_t *)old);
    b->tag = gcl_free_tag((uintptr_t)s);
    GCL_FREE_CLOSE(b);
  } while (!__atomic_compare_exchange_n(&s->xfree, &old, (uintptr_t)b, true, __ATOMIC_SEQ_CST,
                                        __ATOMIC_RELAXED));
  gcl_heap_t *owner = gcl_load_acquire(&s->heap);
  if (!owner) {
    orphan_freed(s);
  } else if (__atomic_load_n(&s->full, __ATOMIC_SEQ_CST)) {
    /* Heaps are never unmapped: a stale owner only gets a needless scan. */
    __atomic_store_n(&owner->xfull_hint, 1, __ATOMIC_SEQ_CST);
  }
}

GCL_NOINLINE void gcl_heap_free_generic(void *p, const gcl_foreign_t *foreign) {
  if (!p) return;
  int saved = errno;
  if (gcl_unlikely(gcl_debug)) gcl_debug_op();
  if (!gcl_region_contains(p)) {
    if (!foreign) gcl_fatal(GCL_FATAL_INVALID_FREE, p, NULL);
    foreign->free(p);
    errno = saved;
    return;
  }
  enum gcl_fatal why;
  gcl_span_t *s = live_span(p, &why);
  if (!s) gcl_fatal(why, p, NULL);
  if (gcl_unlikely(gcl_debug))
    gcl_debug_free(p, s->kind == GCL_SPAN_LARGE ? s->bump_end - s->start : s->block_size);
  if (s->kind == GCL_SPAN_LARGE) {
    gcl_arena_give(s);
    errno = saved;
    return;
  }
  gcl_heap_t *h = gcl_heap_self();
  gcl_block_t *b = p;
  if (gcl_load_relaxed(&s->heap) != h) {
    free_remote(s, b);
    errno = saved;
    return;
  }
  /* Our own slab that the fast path did not take: it is on the full list
   * (or a debug mode is on). */
  GCL_FREE_OPEN(b);
  gcl_link_set(b, s->local_free);
  b->tag = gcl_free_tag((uintptr_t)s);
  GCL_FREE_CLOSE(b);
  s->local_free = b;
  s->used--;
  if (s->full) slab_to_queue(h, s);
  if (s->used == 0) gcl_heap_span_empty(s);
  errno = saved;
}

/* Take an empty slab out of h's queue and give it back to the arena. */
static void slab_give(gcl_heap_t *h, gcl_span_t *s) {
  q_remove(&h->queue[s->klass], s);
  gcl_store_relaxed(&s->fast_owner, 0);
  gcl_store_release(&s->heap, NULL);
  gcl_arena_give(s);
}

/* A slab in its heap's queue has no block out. Keep it if it is the
 * class's current slab (a malloc/free loop would otherwise churn the
 * arena), or if its heap is a fork child's vanished thread's (whose queue
 * cannot be trusted); else give it back. */
GCL_NOINLINE void gcl_heap_span_empty(gcl_span_t *s) {
  gcl_heap_t *h = gcl_load_relaxed(&s->heap);
  unsigned c = s->klass;
  if (!h->live || h->queue[c].first == s) return;
  int saved = errno;
  slab_give(h, s);
  errno = saved;
}

/* Release what can be released: the calling thread's empty slabs, empty
 * orphans, then every dirty page. Returns the bytes returned to the OS. */
size_t gcl_heap_collect(void) {
  gcl_heap_t *h = gcl_heap_self();
  if (h != &gcl_heap_empty) {
    for (unsigned c = 1; c < GCL_NCLASSES; c++) {
      for (gcl_span_t *s = h->queue[c].first, *next; s; s = next) {
        next = s->next;
        slab_collect(s);
        if (s->used == 0) slab_give(h, s);
      }
      set_current(h, c);
    }
  }
  gcl_lock(&gcl_orphan_lock);
  for (gcl_span_t *s = H.orphans.first, *next; s; s = next) {
    next = s->next;
    orphan_remove(s);
    if (!orphan_settle(s)) orphan_push(s);
  }
  gcl_unlock(&gcl_orphan_lock);
  return gcl_arena_purge_all();
}

/* ---- validation (GCLZONE_CHECK) ------------------------------------------------- */

static void corrupt(uintptr_t at, const char *what) {
  gcl_fatal(GCL_FATAL_CORRUPT, (void *)at, what);
}

/* A free-list link that leaves its slab (GCL_SECURE), named by its holder. */
GCL_COLD void gcl_heap_bad_link(const void *holder) {
  gcl_fatal(GCL_FATAL_CORRUPT, holder, "corrupted free-list link");
}

/* Walk one of a slab's own free lists: every link must point at a block of
 * the slab below its bump pointer, carrying the free tag; no cycle. Returns
 * how many blocks it holds. The message names the block whose link is bad
 * (or the slab, for a bad list head). */
static size_t list_validate(const gcl_span_t *s, const gcl_block_t *b, size_t cap) {
  size_t n = 0;
  uintptr_t holder = s->start;
  for (; b; n++) {
    uintptr_t a = (uintptr_t)b;
    if (a - s->start >= s->bump - s->start || (a - s->start) % s->block_size)
      corrupt(holder, "corrupted free-list link");
    if (n >= cap) corrupt(holder, "a free list loops");
    GCL_FREE_OPEN((void *)b);
    uintptr_t tag = b->tag;
    const gcl_block_t *next = gcl_link_get(b);
    GCL_FREE_CLOSE((void *)b);
    if (tag != gcl_free_tag((uintptr_t)s)) corrupt(a, "a free block was written after it was freed");
    holder = a;
    b = next;
  }
  return n;
}

/* What is wrong with a published slab's own fields, or NULL: its size
 * class, and a bump pointer that moves by whole blocks inside the span.
 * The arena's validator asks this of every published slab, slab_validate
 * of the slabs whose lists it is about to walk. */
const char *gcl_heap_slab_broken(const gcl_span_t *s) {
  size_t bs = s->block_size;
  uintptr_t bump = gcl_load_relaxed(&s->bump), end = s->start + ((size_t)s->slots << GCL_SLOT_SHIFT);
  if (!s->klass || s->klass >= GCL_NCLASSES || bs != gcl_class_size(s->klass) || s->blockmagic != gcl_block_magic(bs))
    return "a slab's size class is inconsistent";
  if (bump < s->start || bump > s->bump_end || s->bump_end > end || (bump - s->start) % bs ||
      (s->bump_end - s->start) % bs)
    return "a slab's bump pointer is out of range";
  /* The owner moves bump and bump_key one after the other: only it may
   * compare them (slab_validate); here the key need only name a block. */
  uint64_t key = gcl_load_relaxed(&s->bump_key), e = gcl_bump_key(bs, 1);
  if (key % e || key / e > (s->bump_end - s->start) / bs) return "a slab's bump key is out of range";
  return NULL;
}

static void slab_validate(const gcl_span_t *s, const gcl_heap_t *owner) {
  if (s->kind != GCL_SPAN_SLAB || s->slots == 0) corrupt(s->start, "a heap lists a span that is no slab");
  if (gcl_arena_span_of((void *)s->start) != s) corrupt(s->start, "a slab is not in the slot map");
  if (gcl_load_relaxed(&s->heap) != owner) corrupt(s->start, "a slab has the wrong owner");
  const char *why = gcl_heap_slab_broken(s);
  if (why) corrupt(s->start, why);
  if (s->bump_key != gcl_bump_key(s->block_size, (s->bump - s->start) / s->block_size))
    corrupt(s->start, "a slab's bump key disagrees with its bump pointer");
  size_t cap = (s->bump - s->start) / s->block_size;
  size_t n = list_validate(s, s->free, cap);
  n += list_validate(s, s->local_free, cap - n);
  /* used counts blocks handed out, including those freed by other threads
   * and not collected yet (on xfree, which only this owner may walk... but
   * other threads push onto it concurrently, so it is left alone here). */
  if (s->used + n != cap) corrupt(s->start, "a slab's block count does not add up");
}

/* Validate the calling thread's heap and the orphans: the slabs whose
 * lists this thread may read. Other threads' heaps change under our feet. */
void gcl_heap_validate(void) {
  gcl_heap_t *h = gcl_heap_self();
  if (h != &gcl_heap_empty) {
    for (unsigned c = 0; c <= GCL_NCLASSES; c++) {
      gcl_spanq_t *q = c < GCL_NCLASSES ? &h->queue[c] : &h->full;
      const gcl_span_t *last = NULL;
      for (gcl_span_t *s = q->first; s; last = s, s = s->next) {
        slab_validate(s, h);
        if (c < GCL_NCLASSES && s->klass != c) corrupt(s->start, "a slab sits in another class's queue");
        if ((c == GCL_NCLASSES) != (s->full != 0)) corrupt(s->start, "a slab's full flag is wrong");
        if (s->prev != last) corrupt(s->start, "a heap's queue is broken");
      }
      if (q->last != last) corrupt(last ? last->start : gcl_hot.base, "a heap's queue is broken");
    }
  }
  gcl_lock(&gcl_orphan_lock);
  for (gcl_span_t *s = H.orphans.first; s; s = s->next) {
    if (!s->orphan) corrupt(s->start, "the orphan list holds a slab that is no orphan");
    slab_validate(s, NULL);
  }
  gcl_unlock(&gcl_orphan_lock);
}

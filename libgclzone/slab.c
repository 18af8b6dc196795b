/* slab.c: slabs: a span cut into blocks of one size class, and its free
 * lists.
 *
 * Owns a slab's block geometry (class, block size, bump pointer and bump
 * key, usable end) and its two free lists: `free`, the owner's, which malloc
 * pops and the owner's frees push (LIFO, so a block freed and allocated
 * again is still in the cache), and `remote`, a lock-free stack where other
 * threads free, which the owner gathers onto `free` when that runs dry.
 * Which thread owns a slab, and which queue it sits in, is theap.c's
 * business.
 *
 * Invariants:
 *  - `free`, `used` and the bump pointer change only in the owner thread
 *    (or, for an orphan, under gcl_theap_orphan_lock); other threads only
 *    push onto `remote`, whose word also counts them;
 *  - blocks below bump are live (word 1 is not the free tag) or free (on
 *    exactly one of the two lists, tag set); blocks at or above bump were
 *    never handed out; bump_key always says where bump is (set_bump);
 *  - used counts blocks handed out, those on `remote` included until the
 *    owner gathers them.
 * (gcl_slab_check_lists states the lists' part of this for the validators,
 * check.c, and for slabs that come from a heap image, theap.c.)
 *
 * Hardened mode (GCLZONE_HARDEN, debug.c): a slab's last page is a guard
 * page (usable_end stops a page short of the span's end, and the rest is
 * made inaccessible: span.c turns a fault there into a fatal line), so an
 * overrun off the slab's last block, or a long one from any block, and an
 * underflow off the first block of the span above, stop at once; free
 * blocks are zero past their link and tag and carry the freed mark in
 * their trailer (debug.c), from the moment they are carved, and a block is
 * checked to be so when it is handed out again (gcl_slab_check_free).
 */
#include "internal.h"

/* A slab holds GCL_SLAB_MIN_BLOCKS blocks, but spans at most
 * GCL_SLAB_MAX_SLOTS slots unless one block needs more (with a page for
 * the hardened mode's guard): one live block keeps its whole slab, and
 * every block of it that was ever touched stays resident (a buffer grown by
 * realloc leaves one behind in each class it passes through), and a class
 * with few blocks out has its free ones resident in its own slab, where no
 * other class can use them. So a slab is one slot: bench's medium (64 live
 * blocks of 4 to 256 KiB, 40 classes) peaked at 13.8 MiB with slabs of up
 * to four slots and 12.3 with one (glibc 8.7), swing (8 threads that each
 * build a working set with one block in 64 of 4 to 64 KiB, then exit) at
 * 135 and 112 MiB (glibc 90), for more slabs made and given back: under
 * callgrind medium +22% instructions, boundary +13%, aligned +9%; medium's
 * time 0.19 to 0.22 of glibc's (tcmalloc 0.19 to 0.22 in the same runs). */
size_t gcl_slab_slots(unsigned c) {
  size_t bs = gcl_slab_class_size(c);
  size_t n = gcl_align_up(bs * GCL_SLAB_MIN_BLOCKS, GCL_SLOT_SIZE) >> GCL_SLOT_SHIFT;
  size_t one = gcl_align_up(bs + gcl_prim_page_size(), GCL_SLOT_SIZE) >> GCL_SLOT_SHIFT;
  if (n > GCL_SLAB_MAX_SLOTS) n = GCL_SLAB_MAX_SLOTS;
  return n > one ? n : one;
}

static void set_bump(gcl_span_t *s, uintptr_t bump) {
  gcl_store_relaxed(&s->bump_key, gcl_span_bump_key(s->block_size, (bump - s->start) / s->block_size));
  gcl_store_relaxed(&s->bump, bump);
}

/* Make span s (just taken, gcl_slab_slots(c) slots) an empty slab of class c. */
void gcl_slab_init(gcl_span_t *s, unsigned c) {
  size_t bs = gcl_slab_class_size(c);
  gcl_assert(s->slots == gcl_slab_slots(c));
  s->block_size = (uint32_t)bs;
  s->sclass = (uint8_t)c;
  s->blockmagic = gcl_span_block_magic(bs);
  s->free = NULL;
  s->used = 0;
  set_bump(s, s->start);
  size_t bytes = (size_t)s->slots << GCL_SLOT_SHIFT;
  if (gcl_debug_hardened()) bytes -= gcl_prim_page_size(); /* the guard page */
  gcl_store_relaxed(&s->usable_end, s->start + bytes / bs * bs);
  s->remote = 0;
  if (gcl_unlikely(gcl_debug_modes & GCL_DEBUG_VALGRIND))
    gcl_debug_fresh((void *)s->start, (size_t)s->slots << GCL_SLOT_SHIFT);
  if (gcl_debug_hardened()) {
    /* From the page after the last block to the span's end. Should the
     * system refuse (the mapping count limit), the slab just has no guard. */
    uintptr_t guard = gcl_align_up(s->usable_end, gcl_prim_page_size());
    gcl_prim_decommit((void *)guard, s->start + ((size_t)s->slots << GCL_SLOT_SHIFT) - guard);
  }
}

/* Set free block b's link; in the hardened mode its trailer follows the
 * link (debug.c: freed_word), so that a write to it is seen at reuse. */
static inline void link_free(const gcl_span_t *s, gcl_block_t *b, gcl_block_t *next) {
  gcl_slab_link_set(b, next);
  if (gcl_debug_hardened()) gcl_debug_free_link(b, s->block_size);
}

/* Hand out never-used blocks: about a page's worth at a time, so a slab's
 * pages are touched only as they are needed. Needs s->free == NULL and room
 * below usable_end. */
void gcl_slab_extend(gcl_span_t *s) {
  size_t bs = s->block_size;
  size_t n = bs >= 4096 ? 1 : 4096 / bs;
  size_t left = (s->usable_end - s->bump) / bs;
  gcl_assert(!s->free && left > 0);
  if (n > left) n = left;
  gcl_block_t *first = (gcl_block_t *)s->bump, *b = first;
  if (gcl_unlikely(gcl_debug_modes)) {
    if (gcl_debug_modes & GCL_DEBUG_VALGRIND) gcl_debug_open(first, n * bs);
    if (gcl_debug_hardened()) {
      size_t written = s->flags & GCL_SPAN_ZERO ? 0 : bs; /* hardened spans are zero unless a decommit failed */
      for (size_t i = 0; i < n; i++) gcl_debug_free_mark((char *)first + i * bs, written, bs);
    }
  }
  for (size_t i = 1; i < n; i++) {
    gcl_block_t *next = (gcl_block_t *)((char *)b + bs);
    link_free(s, b, next);
    b->tag = gcl_span_free_tag(s, b);
    b = next;
  }
  link_free(s, b, NULL);
  b->tag = gcl_span_free_tag(s, b);
  s->free = first;
  set_bump(s, s->bump + n * bs);
  if (gcl_unlikely(gcl_debug_modes & GCL_DEBUG_VALGRIND)) gcl_debug_close(first, n * bs);
}

/* The last block of a slab's free list b (its links checked), and how many
 * blocks the list holds. The tail is left open (valgrind) for the caller to
 * link and close. */
static gcl_block_t *list_tail(const gcl_span_t *s, gcl_block_t *b, uint32_t *count) {
  uint32_t n = 1;
  for (;;) {
    GCL_FREE_OPEN(b);
    gcl_block_t *next = gcl_slab_link_get(b);
    if (!next) break;
    if (!gcl_slab_link_ok(s, next)) gcl_slab_bad_link(b);
    GCL_FREE_CLOSE(b);
    b = next, n++;
  }
  *count = n;
  return b;
}

/* Move the remote frees onto `free` (owner only). The remote word holds
 * their count, so a slab whose own list is empty, the usual case, takes
 * them without a walk: the walk to the tail was a quarter of
 * mimalloc-bench's xmalloc-test, each link a miss on a line another core
 * wrote, and the pops that follow read those links anyway. */
void gcl_slab_gather(gcl_span_t *s) {
  if (!gcl_load_relaxed(&s->remote)) return;
  uintptr_t w = __atomic_exchange_n(&s->remote, 0, __ATOMIC_ACQUIRE);
  gcl_block_t *x = gcl_slab_remote_head(w);
  uint32_t n = gcl_slab_remote_count(w);
  gcl_assert(s->used >= n);
  s->used -= n;
  if (s->free) {
    uint32_t walked;
    gcl_block_t *tail = list_tail(s, x, &walked);
    gcl_assert(walked == n);
    link_free(s, tail, s->free);
    GCL_FREE_CLOSE(tail);
  }
  s->free = x;
}

/* The owner frees live block b of s (the fast path's push, for the slow
 * path: valgrind brackets and no assumption about the queue). */
void gcl_slab_push_local(gcl_span_t *s, gcl_block_t *b) {
  gcl_assert(s->used > 0);
  GCL_FREE_OPEN(b);
  link_free(s, b, s->free);
  b->tag = gcl_span_free_tag(s, b);
  GCL_FREE_CLOSE(b);
  s->free = b;
  s->used--;
}

/* Another thread frees live block b of s: one compare-and-swap of the
 * remote word, its head and its count together. The push is seq_cst:
 * theap.c pairs it with the full flag. Returns the count with b: when it
 * reaches `used`, no block is out. */
uint32_t gcl_slab_push_remote(gcl_span_t *s, gcl_block_t *b) {
  uintptr_t old = gcl_load_relaxed(&s->remote), w;
  do {
    GCL_FREE_OPEN(b); /* closed before the push publishes the block */
    link_free(s, b, gcl_slab_remote_head(old));
    b->tag = gcl_span_free_tag(s, b);
    GCL_FREE_CLOSE(b);
    w = gcl_slab_remote_word(b, gcl_slab_remote_count(old) + 1);
  } while (!__atomic_compare_exchange_n(&s->remote, &old, w, true, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED));
  return gcl_slab_remote_count(w);
}

/* Is b on one of s's two free lists? For a block that carries its free
 * tag: free, or live with the tag's value written by the program. Only the
 * owner (or, for an orphan, the holder of gcl_theap_orphan_lock) may ask:
 * nobody else changes `free`, and `remote` is only ever
 * taken whole by the owner, so walking it from its head is safe. O(blocks),
 * on the rare path of a tag match; a list longer than the slab (a cycle
 * from corruption) ends the walk. */
bool gcl_slab_listed(const gcl_span_t *s, const gcl_block_t *b) {
  size_t cap = (s->bump - s->start) / s->block_size;
  const gcl_block_t *lists[2] = {s->free, gcl_slab_remote_head(gcl_load_acquire(&s->remote))};
  for (int l = 0; l < 2; l++) {
    size_t n = 0;
    for (const gcl_block_t *x = lists[l]; x && n <= cap; n++) {
      if (x == b) return true;
      GCL_FREE_OPEN((void *)x);
      const gcl_block_t *next = gcl_slab_link_get(x);
      GCL_FREE_CLOSE((void *)x);
      if (!gcl_slab_link_ok(s, next)) break;
      x = next;
    }
  }
  return false;
}

/* A free-list link that leaves its slab (GCL_SECURE), named by its holder.
 * In the hardened mode that is a write after free of the holder. */
GCL_COLD void gcl_slab_bad_link(const void *holder) {
  if (gcl_debug_hardened()) gcl_log_fatal(GCL_FATAL_WRITE_AFTER_FREE, holder, NULL);
  gcl_log_fatal(GCL_FATAL_CORRUPT, holder, "corrupted free-list link");
}

/* A free block whose tag was overwritten. */
GCL_COLD void gcl_slab_written_after_free(const void *block) {
  gcl_log_fatal(GCL_FATAL_CORRUPT, block, "a free block was written after it was freed");
}

/* GCLZONE_CHECK: free block b of s, about to be handed out, must still be as
 * it was freed: its tag, and a link to a block of the slab below its bump
 * pointer (or none). */
void gcl_slab_check_reuse(const gcl_span_t *s, const gcl_block_t *b, const gcl_block_t *next) {
  uintptr_t n = (uintptr_t)next;
  if (next && (n - s->start >= s->bump - s->start || (n - s->start) % s->block_size)) gcl_slab_bad_link(b);
  if (b->tag != gcl_span_free_tag(s, b)) gcl_slab_written_after_free(b);
}

/* Walk one of s's free lists from b: every link must point at a block of
 * the slab below its bump pointer, carrying the free tag; no cycle. Adds how
 * many blocks it holds to *n (at most cap in all). What is wrong, or NULL;
 * *where names the block whose link is bad (or the slab, for a bad head). */
static const char *check_list(const gcl_span_t *s, const gcl_block_t *b, size_t cap, size_t *n, uintptr_t *where) {
  uintptr_t holder = s->start;
  for (; b; ++*n) {
    uintptr_t a = (uintptr_t)b;
    *where = holder;
    if (a - s->start >= s->bump - s->start || (a - s->start) % s->block_size) return "corrupted free-list link";
    if (*n >= cap) return "a free list loops";
    GCL_FREE_OPEN((void *)b);
    uintptr_t tag = b->tag;
    const gcl_block_t *next = gcl_slab_link_get(b);
    GCL_FREE_CLOSE((void *)b);
    *where = a;
    if (tag != gcl_span_free_tag(s, b)) return "a free block was written after it was freed";
    holder = a;
    b = next;
  }
  return NULL;
}

/* The lists of slab s (whose geometry is sound: bump on a block boundary
 * inside it) against its block count: blocks below bump are on `free`, or
 * counted in `used`. With `remote`, the remote list too,
 * which other threads only push onto (so a walk from its head is safe),
 * its count in the same word. For a caller that may read the owner's lists:
 * the owner, or the orphan lock's holder. What is wrong, or NULL. */
const char *gcl_slab_check_lists(const gcl_span_t *s, bool remote, uintptr_t *where) {
  size_t cap = (s->bump - s->start) / s->block_size, n = 0, r = 0;
  const char *why;
  if ((why = check_list(s, s->free, cap, &n, where))) return why;
  *where = s->start;
  if (s->used + n != cap) return "a slab's block count does not add up";
  if (!remote) return NULL;
  uintptr_t w = __atomic_load_n(&s->remote, __ATOMIC_ACQUIRE);
  const gcl_block_t *head = gcl_slab_remote_head(w);
  if ((why = check_list(s, head, cap, &r, where))) return why;
  *where = s->start;
  if (r > s->used || gcl_slab_remote_count(w) != r) return "a slab's block count does not add up";
  return NULL;
}

/* Hardened: free block b of s is about to be handed out again. It must be
 * exactly as it was freed: its tag, a link to a block of its slab (or
 * none), zero bytes and the freed mark (debug.c). Anything else is a write
 * after free of b. */
void gcl_slab_check_free(const gcl_span_t *s, const gcl_block_t *b) {
  const gcl_block_t *next = gcl_slab_link_get(b);
  bool ok = b->tag == gcl_span_free_tag(s, b) && gcl_debug_free_intact(b, s->block_size);
  if (ok && next) {
    uintptr_t rel = (uintptr_t)next - s->start;
    ok = rel < s->bump - s->start && rel % s->block_size == 0 && next->tag == gcl_span_free_tag(s, next);
  }
  if (!ok) gcl_log_fatal(GCL_FATAL_WRITE_AFTER_FREE, b, NULL);
}

/* Hardened: does free block q of s hold its free tag and the link its
 * trailer names? */
static bool free_head_intact(const gcl_span_t *s, const gcl_block_t *q) {
  return q->tag == gcl_span_free_tag(s, q) && gcl_debug_free_link_ok(q, s->block_size);
}

/* Hardened: the owner frees block p of s. An overrun of p past its canary
 * and trailer lands in the block above, in its link and tag first
 * (mimalloc-bench's 32_byte_overflow writes one byte 31 past the end of 8
 * and 4096 bytes: into the link of a 32-byte block, the tag of a 4112-byte one), and
 * when that block is free both are known: the free tag, and the link its
 * trailer names (debug.c: freed_word); above the bump pointer, both words
 * are zero in a span that came zero. A tag that differs from the free tag
 * in one byte is taken for a free block's tag overwritten, but only once
 * the block is found on a free list: a live block's word there is the
 * program's, and the walk, taken only then, rules out a false positive (as
 * does the second look after it, at a block that another thread's free was
 * linking when we first looked: once listed, its link is the owner's). */
void gcl_slab_check_after(const gcl_span_t *s, const void *p) {
  const gcl_block_t *q = (const gcl_block_t *)((uintptr_t)p + s->block_size);
  if ((uintptr_t)q >= s->bump) {
    /* Never handed out: zero, in a span that came zero (gcl_slab_extend). */
    if ((s->flags & GCL_SPAN_ZERO) && (uintptr_t)(q + 1) <= s->usable_end && (q->next || q->tag))
      gcl_log_fatal(GCL_FATAL_OVERFLOW, p, NULL);
    return;
  }
  uint64_t x = gcl_load_relaxed(&q->tag) ^ gcl_span_free_tag(s, q);
  if (x == 0 && gcl_debug_free_link_ok(q, s->block_size)) return;
  if (x && (unsigned)__builtin_ctzll(x) / 8 != (63u - (unsigned)__builtin_clzll(x)) / 8) return;
  if (gcl_slab_listed(s, q) && !free_head_intact(s, q)) gcl_log_fatal(GCL_FATAL_OVERFLOW, p, NULL);
}

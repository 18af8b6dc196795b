/* test_heap.c: size classes, slabs, cross-thread frees and thread exit (theap.c, slab.c). */
#include "testutil.h"
#include "internal.h"

#include <pthread.h>

START_TEST(size_classes_are_sound) {
  size_t prev = 0;
  for (unsigned c = 1; c < GCL_NCLASSES; c++) {
    size_t sz = gcl_slab_class_size(c);
    ck_assert_uint_gt(sz, prev);
    ck_assert_uint_eq(sz % 16, 0);
    ck_assert_uint_eq(gcl_slab_class_of(sz), c);
    ck_assert_uint_eq(gcl_slab_class_of(prev + 1), c);
    /* waste: over 128 the smallest size of a class uses over 3/4 of it,
     * and over 7/8 above 4 KiB */
    if (c > 8) ck_assert_uint_gt((prev + 1) * 4, sz * 3);
    if (prev >= 4096) ck_assert_uint_gt((prev + 1) * 8, sz * 7);
    prev = sz;
  }
  ck_assert_uint_eq(prev, GCL_MEDIUM_MAX);
  /* 16 bytes over 1, 2 and 4 KiB (a power-of-two buffer with a header), not over 8 KiB */
  static const size_t head[][2] = {{1032, 1040}, {1040, 1040}, {1041, 1280}, {2056, 2064},
                                   {2065, 2560}, {4104, 4112}, {4113, 4608}, {8200, 9216}};
  for (size_t i = 0; i < sizeof head / sizeof head[0]; i++)
    ck_assert_uint_eq(gcl_slab_class_size(gcl_slab_class_of(head[i][0])), head[i][1]);
  for (size_t n = GCL_DIRECT_MAX + 1; n <= GCL_MEDIUM_MAX; n++) /* the medium fast path's formula */
    ck_assert_uint_eq(gcl_slab_class_of_big(n), gcl_slab_class_of(n));
  ck_assert_uint_eq(gcl_slab_class_of(0), 1);
  for (size_t n = 0; n <= GCL_DIRECT_MAX; n++) /* direct[] slots share classes correctly */
    ck_assert_uint_eq(gcl_slab_class_of(n == 0 ? 1 : ((n + 15) / 16) * 16), gcl_slab_class_of(n));
}
END_TEST

START_TEST(blocks_fill_their_class) {
  ck_assert_int_eq(gclzone_init(NULL), 0);
  for (size_t n = 0; n <= 140000; n = n < 300 ? n + 1 : n * 9 / 8) {
    char *p = gclzone_malloc(n);
    size_t u = gclzone_usable_size(p);
    ck_assert_uint_ge(u, n);
    ck_assert_uint_eq((uintptr_t)p % 16, 0);
    if (n <= GCL_MEDIUM_MAX) ck_assert_uint_eq(u, gcl_slab_class_size(gcl_slab_class_of(n)));
    else ck_assert_uint_eq(u, (n + 4095) & ~(size_t)4095); /* large blocks are page-granular */
    memset(p, 0x33, u);
    gclzone_free(p);
  }
}
END_TEST

/* Run fn in a thread of its own, whose theap has no slab yet. */
static void in_a_new_thread(void *(*fn)(void *)) {
  ck_assert_int_eq(gclzone_init(NULL), 0);
  pthread_t t;
  ck_assert_int_eq(pthread_create(&t, NULL, fn, NULL), 0);
  ck_assert_int_eq(pthread_join(t, NULL), 0);
}

/* theap.c's larger_free, in a thread of its own (a theap with no slab yet):
 * from a page up, a class with no free block takes a free block of a
 * larger class, at most twice its size and aligned as asked, before it
 * touches fresh memory; below a page, never. */
static void *larger_free_blocks(void *arg) {
  (void)arg;
  char *big = gclzone_malloc(20000); /* class 20480 */
  ck_assert_ptr_nonnull(big);
  memset(big, 1, 20000);
  gclzone_free(big); /* its slab stays: it is the class's current one */
  char *q = gclzone_malloc(10000);   /* class 10240: no slab, 20480 <= 2 * 10240 */
  ck_assert_ptr_eq(q, big);
  ck_assert_uint_eq(gclzone_usable_size(q), 20480);
  memset(q, 2, 20480);
  gclzone_free(q);
  char *r = gclzone_malloc(9000);    /* class 9216: 20480 is more than twice it */
  ck_assert_ptr_ne(r, big);
  ck_assert_uint_eq(gclzone_usable_size(r), 9216);
  char *r2 = gclzone_malloc(4000);   /* class 4096: r's class is not free, 20480 too big */
  ck_assert_uint_eq(gclzone_usable_size(r2), 4096);
  gclzone_free(r2);
  char *s = gclzone_malloc(3000);    /* under a page: its own class only, not r2's free block */
  ck_assert_ptr_ne(s, r2);
  ck_assert_uint_eq(gclzone_usable_size(s), 3072);
  gclzone_free(s);
  gclzone_free(r);
  char *hold = gclzone_malloc(20000); /* big's block again, held: not free for what follows */
  ck_assert_ptr_eq(hold, big);
  char *m = gclzone_malloc(12000);   /* class 12288: not a multiple of 8192 */
  char *b = gclzone_malloc(16000);   /* class 16384: a multiple of 8192 */
  ck_assert_uint_eq(gclzone_usable_size(m), 12288);
  ck_assert_uint_eq(gclzone_usable_size(b), 16384);
  gclzone_free(m);
  gclzone_free(b);
  char *x = gclzone_aligned_alloc(8192, 5000); /* class 8192: no slab; 12288's block is free but misaligned */
  ck_assert_ptr_eq(x, b);
  ck_assert_uint_eq((uintptr_t)x % 8192, 0);
  gclzone_free(x);
  gclzone_free(hold);
  return NULL;
}

/* theap.c's slab_to_queue, in a thread of its own: a free into a full slab
 * makes it the class's current slab when the current one has no free block
 * (the next malloc takes the fast path), and puts it behind the current one
 * when that has a free block. 8 KiB blocks: a slab hands out its
 * never-used blocks one at a time, so the current one's list is empty
 * whenever its last block went out. */
static void *full_slab_returns(void *arg) {
  (void)arg;
  static void *a[64];
  unsigned c = gcl_slab_class_of(8192);
  size_t n = (gcl_slab_slots(c) << GCL_SLOT_SHIFT) / 8192;
  ck_assert_uint_le(n, 64);
  for (size_t i = 0; i < n; i++) a[i] = gclzone_malloc(8192);
  char *b0 = gclzone_malloc(8192); /* slab A is full: a new slab B */
  ck_assert_ptr_ne(gcl_span_of(b0), gcl_span_of(a[0]));
  gclzone_free(a[5]); /* B has no free block: A comes first */
  gclzone_free(b0);   /* B has one now, but A is current */
  ck_assert_ptr_eq(gclzone_malloc(8192), a[5]);
  ck_assert_ptr_eq(gclzone_malloc(8192), b0); /* A is full again: B's */
  gclzone_free(b0);   /* B, current, has a free block */
  gclzone_free(a[7]); /* so full A goes behind it */
  ck_assert_ptr_eq(gclzone_malloc(8192), b0);
  ck_assert_ptr_eq(gclzone_malloc(8192), a[7]);
  gclzone_free(b0);
  for (size_t i = 0; i < n; i++) gclzone_free(a[i]);
  return NULL;
}

START_TEST(a_full_slab_freed_into_comes_first) {
  in_a_new_thread(full_slab_returns);
}
END_TEST

/* direct[] agrees with cur[] entry by entry (theap.c's set_current writes
 * each class's run of entries in overlapping 16-byte stores). */
static void direct_matches_cur(void) {
  gcl_theap_t *h = gcl_theap_self();
  for (size_t w = 0; w < GCL_DIRECT_N; w++)
    ck_assert_ptr_eq(h->direct[w], h->cur[gcl_slab_class_of(w == 0 ? 1 : w * 16)]);
}

/* In a thread of its own: every size up to GCL_DIRECT_MAX, three blocks
 * of each kept live (every class's current slab changes as slabs fill and
 * come back), is served by its class (or, from GCL_SHARE_MIN, one at most
 * GCL_SHARE_FACTOR times larger), and direct[] follows cur[]. */
static void *direct_follows_current(void *arg) {
  (void)arg;
  enum { N = 3 * GCL_DIRECT_MAX };
  static void *p[N];
  for (int round = 0; round < 2; round++) {
    for (size_t i = 0; i < N; i++) {
      size_t n = i / 3 + 1;
      p[i] = gclzone_malloc(n);
      unsigned c = gcl_slab_class_of(n), got = gcl_span_of(p[i])->sclass;
      if (gcl_slab_class_size(c) < GCL_SHARE_MIN) ck_assert_uint_eq(got, c);
      else ck_assert(got >= c && gcl_slab_class_size(got) <= GCL_SHARE_FACTOR * gcl_slab_class_size(c)); /* larger_free */
    }
    direct_matches_cur();
    for (size_t i = 0; i < N; i += 2) gclzone_free(p[i]); /* half of them, then the rest */
    direct_matches_cur();
    for (size_t i = 1; i < N; i += 2) gclzone_free(p[i]);
    direct_matches_cur();
  }
  return NULL;
}

START_TEST(direct_table_follows_current_slabs) {
  in_a_new_thread(direct_follows_current);
}
END_TEST

/* theap.c's class_pop, in a thread of its own: blocks freed in the order
 * they were handed out (a FIFO window of four slabs' worth of 8 KiB blocks)
 * come back on the fast path: the slab whose last block went out moves to
 * the back of the queue with its owner, where its frees are noticed by the
 * next scan, and never goes to the full list (whose frees are slow ones).
 * Every block comes back, and nothing is handed out twice. */
static void *fifo_window_stays_queued(void *arg) {
  (void)arg;
  enum { SLABS = 4, ROUNDS = 6 };
  static void *w[SLABS * 64];
  unsigned c = gcl_slab_class_of(8192);
  size_t per = (gcl_slab_slots(c) << GCL_SLOT_SHIFT) / 8192, n = SLABS * per;
  ck_assert_uint_le(n, sizeof w / sizeof w[0]);
  for (size_t i = 0; i < n; i++) w[i] = gclzone_malloc(8192);
  size_t slow = 0;
  for (size_t step = 0; step < ROUNDS * n; step++) {
    size_t k = step % n;
    gcl_span_t *s = gcl_span_of(w[k]);
    /* The first round brings back the slabs that went full while the
     * window was first filled; from the second on, each free finds its
     * slab queued. */
    if (step >= n && s->full) slow++;
    gclzone_free(w[k]);
    w[k] = gclzone_malloc(8192);
    ck_assert_ptr_nonnull(w[k]);
    memset(w[k], (int)k, 8192);
  }
  ck_assert_uint_eq(slow, 0);
  direct_matches_cur();
  for (size_t i = 0; i < n; i++) {
    ck_assert_int_eq(((unsigned char *)w[i])[8191], (unsigned char)i);
    for (size_t j = 0; j < i; j++) ck_assert_ptr_ne(w[i], w[j]);
  }
  for (size_t i = 0; i < n; i++) gclzone_free(w[i]);
  return NULL;
}

START_TEST(a_fifo_window_frees_on_the_fast_path) {
  in_a_new_thread(fifo_window_stays_queued);
}
END_TEST

/* Take a new slab for each of the n classes from c on (classes the thread
 * has no slab of yet), keeping a block in each in keep[]; the arena grows
 * by each slab, less `given` bytes at the last. */
static void take_slabs(void **keep, unsigned c, unsigned n, size_t given) {
  gclzone_stats_t st;
  gclzone_stats(&st);
  size_t used = st.arena_used_bytes;
  for (unsigned i = 0; i < n; i++) {
    keep[i] = gclzone_malloc(gcl_slab_class_size(c + i));
    used += (gcl_slab_slots(c + i) << GCL_SLOT_SHIFT) - (i == n - 1 ? given : 0);
    gclzone_stats(&st);
    ck_assert_uint_eq(st.arena_used_bytes, used);
  }
}

/* theap.c's idle_give, in a thread of its own: a small class's current
 * slab left empty stays while the thread allocates from slabs it has, and
 * while it takes GCL_IDLE_AGE new slabs of other classes; it is given back
 * for the next one. One with a block out stays. */
static void *idle_slabs_given(void *arg) {
  (void)arg;
  enum { AGE = GCL_IDLE_AGE + 1 };
  size_t slab48 = gcl_slab_slots(gcl_slab_class_of(48)) << GCL_SLOT_SHIFT;
  unsigned c = gcl_slab_class_of(224);
  void *first[AGE], *second[AGE];
  gclzone_stats_t s0, s1;
  gclzone_free(gclzone_malloc(48)); /* a slab of 48 B blocks, now empty: it stays, current */
  gclzone_stats(&s0);
  void *p = gclzone_malloc(48);     /* from it again: no new slab */
  gclzone_free(p);
  gclzone_stats(&s1);
  ck_assert_uint_eq(s1.arena_used_bytes, s0.arena_used_bytes);
  take_slabs(first, c, AGE, slab48); /* the 48 B slab goes back at the last */
  gclzone_stats(&s0);
  void *keep = gclzone_malloc(48);  /* a new slab of 48 B blocks (its old one went back) */
  gclzone_stats(&s1);
  ck_assert_uint_eq(s1.arena_used_bytes, s0.arena_used_bytes + slab48);
  gclzone_free(first[0]);           /* 224's slab left empty, 48's holds a block */
  take_slabs(second, c + AGE, AGE, gcl_slab_slots(c) << GCL_SLOT_SHIFT); /* 224's goes back, 48's stays */
  gclzone_free(keep);
  for (unsigned i = 0; i < AGE; i++) {
    if (i) gclzone_free(first[i]);
    gclzone_free(second[i]);
  }
  return NULL;
}

/* The shape of GMP's numbers (bench's gmp): each round passes through many
 * classes and leaves them all empty, while a block kept from each round
 * takes a new slab now and then. The empty slabs stay current: the only
 * slabs taken are the first round's and the kept blocks'. (Giving back
 * every idle slab at each new one, as theap.c did before GCL_IDLE_AGE,
 * took 207 slabs here where 16 are needed.) */
static void *classes_left_empty_stay(void *arg) {
  (void)arg;
  enum { CLASSES = 12, ROUNDS = 64 };
  unsigned c = gcl_slab_class_of(100), kc = gcl_slab_class_of(16384);
  size_t per_slab = (gcl_slab_slots(kc) << GCL_SLOT_SHIFT) / gcl_slab_class_size(kc);
  ck_assert_uint_lt(c + CLASSES, kc);
  void *keep[ROUNDS], *p[CLASSES];
  gcl_theap_t *h = NULL;
  uint32_t taken = 0;
  for (unsigned r = 0; r < ROUNDS; r++) {
    for (unsigned i = 0; i < CLASSES; i++) p[i] = gclzone_malloc(gcl_slab_class_size(c + i));
    for (unsigned i = 0; i < CLASSES; i++) gclzone_free(p[i]);
    keep[r] = gclzone_malloc(16384);
    if (r == 0) h = gcl_theap_self(), taken = h->taken;
  }
  /* after the first round: a new slab for every per_slab kept blocks */
  ck_assert_uint_le(h->taken - taken, (ROUNDS + per_slab - 1) / per_slab);
  ck_assert_uint_ge(h->taken - taken, (ROUNDS - 1) / per_slab);
  for (unsigned r = 0; r < ROUNDS; r++) gclzone_free(keep[r]);
  return NULL;
}

/* theap.c's pool: the theap struct of a thread that exited is as clean as
 * gcl_theap_empty (theap_clean), since theap_new hands it to the next
 * thread without copying gcl_theap_empty over it; and that thread's
 * mallocs of every kind work from it. */
static void *classes_then_exit(void *arg) {
  gcl_theap_t **out = arg;
  void *p[5] = {gclzone_malloc(16), gclzone_malloc(700), gclzone_malloc(9000), gclzone_malloc(100000),
                gclzone_malloc(3000)};
  for (int i = 0; i < 5; i++) ck_assert_ptr_nonnull(p[i]);
  *out = gcl_theap_self();
  for (int i = 0; i < 4; i++) gclzone_free(p[i]); /* 3000's block outlives the thread */
  gclzone_free(gclzone_malloc(48));               /* an idle slab */
  ((gcl_theap_t *)*out)->remote_full_hint = 1;
  return p[4];
}

static void theap_is_clean(const gcl_theap_t *h) {
  ck_assert_int_eq(memcmp(h->direct, gcl_theap_empty.direct, sizeof h->direct), 0);
  ck_assert_int_eq(memcmp(h->cur, gcl_theap_empty.cur, sizeof h->cur), 0);
  for (unsigned c = 0; c < GCL_NCLASSES; c++) ck_assert_ptr_null(h->queue[c].first);
  ck_assert_ptr_null(h->full.first);
  for (unsigned w = 0; w < sizeof h->idle / sizeof h->idle[0]; w++) {
    ck_assert_uint_eq(h->idle[w], 0);
    ck_assert_uint_eq(h->classes[w], 0);
  }
  ck_assert_uint_eq(h->taken, 0);
  ck_assert_uint_eq(h->remote_full_hint, 0);
  ck_assert_uint_eq(h->live, 0);
}

START_TEST(a_pooled_theap_is_clean) {
  ck_assert_int_eq(gclzone_init(NULL), 0);
  for (int round = 0; round < 3; round++) {
    gcl_theap_t *h = NULL;
    void *left;
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, classes_then_exit, &h), 0);
    ck_assert_int_eq(pthread_join(t, &left), 0);
    theap_is_clean(h);
    gclzone_free(left);
  }
}
END_TEST

START_TEST(classes_left_empty_keep_their_slabs) {
  in_a_new_thread(classes_left_empty_stay);
}
END_TEST

START_TEST(idle_small_slabs_go_back_for_a_new_slab) {
  in_a_new_thread(idle_slabs_given);
}
END_TEST

START_TEST(medium_classes_take_larger_free_blocks) {
  in_a_new_thread(larger_free_blocks);
}
END_TEST

START_TEST(stats_count_blocks_exactly) {
  ck_assert_int_eq(gclzone_init(NULL), 0);
  gclzone_stats_t s0, s1, s2;
  gclzone_stats(&s0);
  void *p[1000];
  size_t bytes = 0;
  for (int i = 0; i < 1000; i++) {
    p[i] = gclzone_malloc((size_t)i * 37 % 5000);
    bytes += gclzone_usable_size(p[i]);
  }
  void *big = gclzone_malloc(3 * MiB);
  gclzone_stats(&s1);
  ck_assert_uint_eq(s1.in_use_blocks - s0.in_use_blocks, 1001);
  ck_assert_uint_eq(s1.in_use_bytes - s0.in_use_bytes, bytes + gclzone_usable_size(big));
  ck_assert_uint_ge(s1.arena_used_bytes, s1.in_use_bytes);
  ck_assert_uint_ge(s1.committed_bytes, 3 * MiB);
  for (int i = 0; i < 1000; i++) gclzone_free(p[i]);
  gclzone_free(big);
  gclzone_stats(&s2);
  ck_assert_uint_eq(s2.in_use_blocks, s0.in_use_blocks);
  ck_assert_uint_eq(s2.in_use_bytes, s0.in_use_bytes);
  ck_assert_uint_ge(s2.arena_used_peak, 3 * MiB);
}
END_TEST

/* Blocks freed by another thread go back to their slab and are reused: the
 * arena does not grow round after round. */
#define XN 20000
static void *xblocks[XN];
static void *free_all(void *arg) {
  (void)arg;
  for (int i = 0; i < XN; i++) gclzone_free(xblocks[i]);
  return NULL;
}

START_TEST(cross_thread_frees_are_reused) {
  ck_assert_int_eq(gclzone_init(NULL), 0);
  size_t first_round = 0;
  for (int round = 0; round < 30; round++) {
    for (int i = 0; i < XN; i++) {
      xblocks[i] = gclzone_malloc(48 + (size_t)(i % 3) * 100);
      ck_assert_ptr_nonnull(xblocks[i]);
      fill(xblocks[i], 48, (uint32_t)i);
    }
    for (int i = 0; i < XN; i++) ck_assert(filled(xblocks[i], 48, (uint32_t)i));
    pthread_t t;
    pthread_create(&t, NULL, free_all, NULL);
    pthread_join(t, NULL);
    gclzone_stats_t s;
    gclzone_stats(&s);
    if (round == 0) first_round = s.arena_used_bytes;
    ck_assert_uint_le(s.arena_used_bytes, first_round + MiB);
  }
  gclzone_stats_t s;
  gclzone_stats(&s);
  ck_assert_uint_eq(s.in_use_blocks, 0);
}
END_TEST

/* Threads that exit with blocks still out hand their slabs on; the blocks
 * are freed later by another thread and everything comes back. */
#define TN 8
#define TB 3000
static void *handed[TN][TB];
/* Every thread of a round holds all its blocks at once (the barrier), so
 * that each round's peak is the same whatever the scheduling (slow
 * sanitizer builds may otherwise run round 0's threads one after the other). */
static pthread_barrier_t all_allocated;
static void *worker(void *arg) {
  long t = (long)arg;
  for (int i = 0; i < TB; i++) {
    handed[t][i] = gclzone_malloc((size_t)(i % 40) * 24 + 8);
    fill(handed[t][i], 8, (uint32_t)(t * TB + i));
  }
  pthread_barrier_wait(&all_allocated);
  for (int i = 0; i < TB; i += 2) gclzone_free(handed[t][i]), handed[t][i] = NULL;
  return NULL;
}

/* A thread's freed large blocks of up to GCL_HELD_SLOTS slots stay with
 * its theap (held) and its next large block that fits takes one back. */
static gcl_span_t *span_at(const void *p) {
  return gcl_span_of(p);
}

START_TEST(freed_large_blocks_are_held_for_the_next) {
  ck_assert_int_eq(gclzone_init(NULL), 0);
  gclzone_free(gclzone_malloc(1)); /* a theap for this thread */
  gclzone_stats_t before, s;
  gclzone_stats(&before);
  char *p = gclzone_malloc(300 * KiB); /* 5 slots */
  fill(p, 300 * KiB, 7);
  gclzone_free(p);
  gcl_span_t *held = span_at(p);
  ck_assert_int_eq(held->kind, GCL_SPAN_HELD);
  ck_assert_uint_eq(held->flags, GCL_SPAN_WAS_LARGE);
  gclzone_stats(&s);
  ck_assert_uint_eq(s.in_use_blocks, before.in_use_blocks); /* no live block */
  enum gcl_fatal why;
  ck_assert_ptr_null(gcl_span_live(p, &why));
  ck_assert_int_eq(why, GCL_FATAL_DOUBLE_FREE);
  uintptr_t where;
  ck_assert_ptr_null(gcl_check_region(&where));
  /* Far smaller: another span (a held one has at most a quarter more slots, and one). */
  char *small = gclzone_malloc(140 * KiB); /* 3 slots */
  ck_assert_ptr_ne(small, p);
  ck_assert_int_eq(held->kind, GCL_SPAN_HELD);
  /* About the size: the held span, its bytes as they were, its usable size the new one's. */
  char *q = gclzone_malloc(288 * KiB);
  ck_assert_ptr_eq(q, p);
  ck_assert_int_eq(held->kind, GCL_SPAN_LARGE);
  ck_assert_uint_eq(gclzone_usable_size(q), 288 * KiB);
  ck_assert(filled(q, 288 * KiB, 7));
  gclzone_stats(&s);
  ck_assert_uint_eq(s.in_use_blocks, before.in_use_blocks + 2);
  gclzone_free(q);
  /* calloc of a held span clears it. */
  char *z = gclzone_calloc(1, 300 * KiB);
  ck_assert_ptr_eq(z, p);
  for (size_t i = 0; i < 300 * KiB; i++) ck_assert_int_eq(z[i], 0);
  gclzone_free(z);
  gclzone_free(small);
  ck_assert_ptr_null(gcl_check_region(&where));
  gcl_check_all();
}
END_TEST

START_TEST(held_spans_are_few_and_the_oldest_goes_back) {
  ck_assert_int_eq(gclzone_init(NULL), 0);
  gclzone_free(gclzone_malloc(1));
  char *b[GCL_HELD_N + 1];
  for (int i = 0; i <= GCL_HELD_N; i++) b[i] = gclzone_malloc(200 * KiB); /* 4 slots each */
  for (int i = 0; i <= GCL_HELD_N; i++) gclzone_free(b[i]);
  gcl_theap_t *h = gcl_theap_self();
  ck_assert_uint_le(h->held_slots, GCL_HELD_SLOTS);
  ck_assert_uint_eq(h->nheld, GCL_HELD_SLOTS / 4 < GCL_HELD_N ? GCL_HELD_SLOTS / 4 : GCL_HELD_N);
  ck_assert_int_eq(span_at(b[0])->kind, GCL_SPAN_FREE); /* the oldest went back */
  ck_assert_int_eq(span_at(b[GCL_HELD_N])->kind, GCL_SPAN_HELD);
  /* Too big to hold: back at once. */
  char *big = gclzone_malloc((GCL_HELD_SLOTS + 1) * GCL_SLOT_SIZE);
  gclzone_free(big);
  ck_assert_int_eq(span_at(big)->kind, GCL_SPAN_FREE);
  /* A new slab takes their pages: they go back first. */
  char *again = gclzone_malloc(200 * KiB);
  ck_assert_uint_gt(h->nheld, 0);
  char *other = gclzone_malloc(70000); /* a class with no slab yet */
  ck_assert_uint_eq(h->nheld, 0);
  gclzone_free(other);
  gclzone_free(again);
  ck_assert_uint_eq(h->nheld, 1);
  /* Trim gives them all back. */
  gclzone_trim();
  ck_assert_uint_eq(h->nheld, 0);
  ck_assert_uint_eq(h->held_slots, 0);
  for (int i = 0; i <= GCL_HELD_N; i++) ck_assert_int_eq(span_at(b[i])->kind, GCL_SPAN_FREE);
}
END_TEST

static void *hold_one(void *arg) {
  char **out = arg;
  gclzone_free(gclzone_malloc(1)); /* a theap: a thread with none holds nothing */
  *out = gclzone_malloc(300 * KiB);
  gclzone_free(*out);
  return gcl_span_of(*out)->kind == GCL_SPAN_HELD ? *out : NULL;
}

/* A block freed by another thread is held by that one, and thread exit
 * gives it back. */
START_TEST(thread_exit_gives_held_spans_back) {
  ck_assert_int_eq(gclzone_init(NULL), 0);
  char *p;
  void *ret;
  pthread_t t;
  ck_assert_int_eq(pthread_create(&t, NULL, hold_one, &p), 0);
  ck_assert_int_eq(pthread_join(t, &ret), 0);
  ck_assert_ptr_eq(ret, p); /* held while the thread ran */
  ck_assert_int_eq(span_at(p)->kind, GCL_SPAN_FREE);
  uintptr_t where;
  ck_assert_ptr_null(gcl_check_region(&where));
}
END_TEST

START_TEST(thread_exit_hands_memory_back) {
  ck_assert_int_eq(gclzone_init(NULL), 0);
  gclzone_stats_t base, s;
  gclzone_free(gclzone_malloc(1));
  gclzone_stats(&base);
  size_t used_after_first = 0;
  pthread_barrier_init(&all_allocated, NULL, TN);
  for (int round = 0; round < 15; round++) {
    pthread_t th[TN];
    for (long t = 0; t < TN; t++) pthread_create(&th[t], NULL, worker, (void *)t);
    for (int t = 0; t < TN; t++) pthread_join(th[t], NULL);
    gclzone_stats(&s);
    ck_assert_uint_eq(s.threads, base.threads);
    ck_assert_uint_eq(s.in_use_blocks, base.in_use_blocks + TN * TB / 2);
    for (int t = 0; t < TN; t++)
      for (int i = 1; i < TB; i += 2) {
        ck_assert(filled(handed[t][i], 8, (uint32_t)(t * TB + i)));
        gclzone_free(handed[t][i]);
      }
    gclzone_stats(&s);
    ck_assert_uint_eq(s.in_use_blocks, base.in_use_blocks);
    /* Every slab of the exited threads came back (the main heap keeps at
     * most its current slab per class), and the peak does not creep up
     * from one generation of threads to the next. */
    ck_assert_uint_le(s.arena_used_bytes, base.arena_used_bytes + 48 * 64 * KiB);
    if (round == 0) used_after_first = s.arena_used_peak;
    ck_assert_uint_le(s.arena_used_peak, used_after_first * 3 / 2);
  }
  pthread_barrier_destroy(&all_allocated);
}
END_TEST

/* A thread that exits keeping blocks of two classes leaves two orphans
 * that stay: trim must look at each once and return (it used to go round
 * the orphan list for ever), and keep their blocks. */
static void *keep_two(void *arg) {
  void **kept = arg;
  kept[0] = gclzone_malloc(32);
  kept[1] = gclzone_malloc(5000);
  return NULL;
}

START_TEST(trim_with_orphans_that_stay) {
  ck_assert_int_eq(gclzone_init(NULL), 0);
  void *kept[2];
  pthread_t th;
  pthread_create(&th, NULL, keep_two, kept);
  pthread_join(th, NULL);
  gclzone_trim();
  ck_assert(gclzone_owns(kept[0]) && gclzone_owns(kept[1]));
  gclzone_free(kept[0]);
  gclzone_free(kept[1]);
  gclzone_trim();
  gclzone_stats_t s;
  gclzone_stats(&s);
  ck_assert_uint_eq(s.in_use_blocks, 0);
}
END_TEST

/* The first call of a new thread may be realloc of another thread's block. */
static void *realloc_first(void *arg) {
  char *p = gclzone_realloc(arg, 5000);
  if (!p || !filled(p, 100, 9)) return NULL;
  return p;
}

START_TEST(realloc_as_first_call_of_a_thread) {
  ck_assert_int_eq(gclzone_init(NULL), 0);
  char *p = gclzone_malloc(100);
  fill(p, 100, 9);
  pthread_t t;
  void *q;
  pthread_create(&t, NULL, realloc_first, p);
  pthread_join(t, &q);
  ck_assert_ptr_nonnull(q);
  ck_assert(filled(q, 100, 9));
  gclzone_free(q);
}
END_TEST

/* gcl_span_is_block against its definition, for every class: with bump at
 * none, one, half and all of a 4-slot span's blocks (more than any slab
 * has), every offset in and just past the span is a block start below bump
 * or not; offsets on to 2^32 (the check's domain) are sampled, and none
 * passes. */
START_TEST(block_check_is_exact) {
  size_t span = (size_t)4 << GCL_SLOT_SHIFT;
  for (unsigned c = 1; c < GCL_NCLASSES; c++) {
    size_t bs = gcl_slab_class_size(c), n = span / bs;
    gcl_span_t s = {.start = (uintptr_t)1 << 40, .blockmagic = gcl_span_block_magic(bs)};
    size_t carved[] = {0, 1, n / 2, n};
    for (int k = 0; k < 4; k++) {
      uint64_t key = gcl_span_bump_key(bs, carved[k]);
      for (size_t rel = 0; rel < span + 2 * bs; rel++) {
        bool want = rel % bs == 0 && rel / bs < carved[k];
        if (gcl_span_is_block(&s, s.start + rel, key) != want)
          ck_abort_msg("class %u (%zu bytes), %zu blocks carved: offset %zu", c, bs, carved[k], rel);
      }
      for (uint64_t rel = span; rel < ((uint64_t)1 << 32); rel += 65521)
        if (gcl_span_is_block(&s, s.start + rel, key)) ck_abort_msg("class %u: offset %llu", c, (unsigned long long)rel);
      ck_assert(!gcl_span_is_block(&s, s.start + (((uint64_t)1 << 32) / bs - 1) * bs, key));
      ck_assert(!gcl_span_is_block(&s, s.start - 16, key));
    }
  }
}
END_TEST

/* A dead thread's word (gcl_prim_thread_self, the slabs' fast owner) comes
 * back in the next thread, which gets the dead one's cached stack. The
 * dead thread left a heap behind: in its last round of exit destructors a
 * destructor allocated after our exit hook had run for the last time. The
 * new thread's frees into that heap's slabs take the fast path, and a slab
 * they empty leaves the dead heap's queue, not the new thread's. */
#define LEAK_N 1500 /* 48-byte blocks: a full 64 KiB slab and part of a second */
static pthread_key_t churn_key;
static int churn_rounds;
static void *leaked[LEAK_N];
static uintptr_t dead_word;

static void churn(void *v) {
  (void)v;
  /* Our hook's key is older, so in each round it has just given the
   * thread's heap up; this malloc makes a new one and re-arms the hook. */
  if (++churn_rounds < PTHREAD_DESTRUCTOR_ITERATIONS) {
    gclzone_free(gclzone_malloc(48));
    pthread_setspecific(churn_key, (void *)1);
    return;
  }
  for (int i = 0; i < LEAK_N; i++) leaked[i] = gclzone_malloc(48);
  /* A free into the full first slab puts it back in the queue, behind the
   * second: emptying it later takes it out of the middle of that queue. */
  gclzone_free(leaked[0]);
  leaked[0] = NULL;
}

static void *dying(void *arg) {
  (void)arg;
  dead_word = gcl_prim_thread_self();
  pthread_setspecific(churn_key, (void *)1);
  gclzone_free(gclzone_malloc(48));
  return NULL;
}

static void *heir(void *arg) {
  (void)arg;
  if (gcl_prim_thread_self() != dead_word) return (void *)1; /* not the word: try again */
  void *mine[1000];
  for (int i = 0; i < 1000; i++) mine[i] = gclzone_malloc(48);
  for (int i = 1; i < LEAK_N; i++) gclzone_free(leaked[i]);
  for (int i = 0; i < 1000; i++) gclzone_free(mine[i]);
  for (int r = 0; r < 20; r++) {
    for (int i = 0; i < 1000; i++) mine[i] = gclzone_malloc(48 + (size_t)(i % 4) * 16);
    for (int i = 0; i < 1000; i++) gclzone_free(mine[i]);
  }
  gcl_check_all(); /* our own queues: fatal if the dead heap's slab was unlinked from them */
  return NULL;
}

START_TEST(a_dead_threads_word_in_a_new_thread) {
  ck_assert_int_eq(gclzone_init(NULL), 0);
  ck_assert_int_eq(pthread_key_create(&churn_key, churn), 0);
  gclzone_free(gclzone_malloc(1));
  size_t heaps = gcl_theap_count();
  pthread_t t;
  pthread_create(&t, NULL, dying, NULL);
  pthread_join(t, NULL);
  ck_assert_int_eq(churn_rounds, PTHREAD_DESTRUCTOR_ITERATIONS);
  ck_assert_uint_eq(gcl_theap_count(), heaps + 1); /* the last round's heap was left behind */
  /* Each trim gives back the empty slabs that exited threads left warm for
   * new ones (theap.c: theap_abandon), so that the figures differ by what
   * the heir's frees emptied. */
  gclzone_stats_t s0, s1;
  gclzone_trim();
  gclzone_stats(&s0);
  void *r = (void *)1;
  for (int tries = 0; r == (void *)1 && tries < 50; tries++) {
    pthread_create(&t, NULL, heir, NULL);
    pthread_join(t, &r);
  }
  ck_assert_ptr_null(r);
  gcl_check_all();
  gclzone_trim();
  gclzone_stats(&s1);
  ck_assert_uint_eq(s1.in_use_blocks, s0.in_use_blocks - (LEAK_N - 1));
  ck_assert_uint_le(s1.arena_used_bytes, s0.arena_used_bytes - 64 * KiB); /* the emptied slab went back */
}
END_TEST

/* In a fork child a new thread gets a vanished thread's stack and word.
 * Its frees into the vanished thread's slabs take the fast path, and a slab
 * they empty stays where it is: the vanished heap's queue may have been
 * caught mid-change, so it is never touched. */
static pthread_barrier_t fork_bar;
static void *vanish_blocks[LEAK_N];
static void *vanishing(void *arg) {
  (void)arg;
  dead_word = gcl_prim_thread_self();
  for (int i = 0; i < LEAK_N; i++) vanish_blocks[i] = gclzone_malloc(48);
  gclzone_free(vanish_blocks[0]); /* as in churn: the full slab goes behind the second */
  pthread_barrier_wait(&fork_bar); /* the main thread forks */
  pthread_barrier_wait(&fork_bar);
  for (int i = 1; i < LEAK_N; i++) gclzone_free(vanish_blocks[i]);
  return NULL;
}

static void *child_heir(void *arg) {
  (void)arg;
  if (gcl_prim_thread_self() != dead_word) return (void *)1;
  gclzone_stats_t s0, s1;
  gclzone_stats(&s0);
  for (int i = 1; i < LEAK_N; i++) gclzone_free(vanish_blocks[i]);
  gclzone_stats(&s1);
  if (s1.in_use_blocks != s0.in_use_blocks - (LEAK_N - 1)) return (void *)2;
  if (s1.arena_used_bytes != s0.arena_used_bytes) return (void *)3; /* the emptied slab stayed */
  void *mine[1000];
  for (int r = 0; r < 20; r++) {
    for (int i = 0; i < 1000; i++) mine[i] = gclzone_malloc(48 + (size_t)(i % 4) * 16);
    for (int i = 0; i < 1000; i++) gclzone_free(mine[i]);
  }
  gcl_check_all();
  return NULL;
}

START_TEST(a_vanished_threads_word_in_a_fork_child) {
  ck_assert_int_eq(gclzone_init(NULL), 0);
  pthread_barrier_init(&fork_bar, NULL, 2);
  pthread_t t;
  pthread_create(&t, NULL, vanishing, NULL);
  pthread_barrier_wait(&fork_bar);
  pid_t pid = fork();
  if (pid == 0) {
    void *r = (void *)1;
    pthread_t n;
    for (int tries = 0; r == (void *)1 && tries < 50; tries++) {
      pthread_create(&n, NULL, child_heir, NULL);
      pthread_join(n, &r);
    }
    gcl_check_all();
    _exit((int)(uintptr_t)r);
  }
  pthread_barrier_wait(&fork_bar);
  pthread_join(t, NULL);
  int status;
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  ck_assert(WIFEXITED(status));
  ck_assert_int_eq(WEXITSTATUS(status), 0);
}
END_TEST

/* Orphans wait by class: a thread that exits with live blocks of several
 * classes leaves one orphan each; trim keeps them (they hold live blocks)
 * and returns; a new thread short of a slab of one of those classes adopts
 * that class's orphan rather than making a new slab; freeing the last block
 * of an orphan from another thread gives the slab back. */
static void *leave_orphans(void *arg) {
  void **keep = arg;
  for (int i = 0; i < 6; i++) keep[i] = gclzone_malloc((size_t)(i + 1) * 100);
  return NULL;
}

static void *allocate_300(void *arg) {
  *(void **)arg = gclzone_malloc(300);
  return NULL;
}

/* Start the allocator and have a thread leave its six orphans in keep. */
static void six_orphans(void *keep[6]) {
  ck_assert_int_eq(gclzone_init(NULL), 0);
  pthread_t t;
  pthread_create(&t, NULL, leave_orphans, keep);
  pthread_join(t, NULL);
}

START_TEST(orphans_wait_by_class) {
  void *keep[6], *got;
  pthread_t t;
  six_orphans(keep);
  unsigned c300 = gcl_slab_class_of(300);
  ck_assert_uint_eq(gcl_theaps.norphans[c300], 1);
  size_t orphans = 0;
  for (unsigned c = 1; c < GCL_NCLASSES; c++) orphans += gcl_theaps.norphans[c];
  ck_assert_uint_eq(orphans, 6);
  gclzone_trim(); /* returns: they hold live blocks and stay */
  ck_assert_uint_eq(gcl_theaps.norphans[c300], 1);
  gcl_span_t *orphan = gcl_span_of(keep[2]);
  pthread_create(&t, NULL, allocate_300, &got);
  pthread_join(t, NULL);
  ck_assert_ptr_eq(gcl_span_of(got), orphan); /* adopted, then orphaned again at that thread's exit */
  ck_assert_uint_eq(gcl_theaps.norphans[c300], 1);
  gclzone_free(got);
  gclzone_free(keep[2]); /* its last block: given back */
  ck_assert_uint_eq(gcl_theaps.norphans[c300], 0);
  ck_assert_int_ne(orphan->kind, GCL_SPAN_SLAB);
  for (int i = 0; i < 6; i++)
    if (i != 2) gclzone_free(keep[i]);
  gcl_check_all();
}
END_TEST

/* A thread short of a slab waits for the orphan lock rather than take a new
 * span: under bench's larson (threads that exit while others start), a
 * try-lock that failed made a new slab of each class a thread needed, and
 * peak RSS ran from 14 to 60 MiB from run to run. */
START_TEST(a_held_orphan_lock_delays_adoption) {
  void *keep[6], *got;
  pthread_t t;
  six_orphans(keep);
  gcl_span_t *orphan = gcl_span_of(keep[2]);
  ck_assert(orphan->orphan);
  gcl_prim_lock(&gcl_theap_orphan_lock);
  pthread_create(&t, NULL, allocate_300, &got);
  usleep(50000); /* the thread is at the lock by now */
  gcl_prim_unlock(&gcl_theap_orphan_lock);
  pthread_join(t, NULL);
  ck_assert_ptr_eq(gcl_span_of(got), orphan);
  gclzone_free(got);
  for (int i = 0; i < 6; i++) gclzone_free(keep[i]);
}
END_TEST

/* An exiting thread's empty slabs stay, up to GCL_WARM_ORPHANS of them, as
 * warm orphans: the next thread that needs a slab of their class adopts one
 * instead of taking a new span; the rest go back, and trim gives back the
 * warm ones too. */
static void *use_classes(void *arg) {
  void *held[40];
  size_t n = (size_t)arg;
  for (size_t i = 0; i < n; i++) held[i] = gclzone_malloc(16 * (i + 1));
  for (size_t i = 0; i < n; i++) gclzone_free(held[i]);
  return NULL;
}

static void *one_200(void *arg) {
  void *p = gclzone_malloc(200);
  *(void **)arg = p;
  gclzone_free(p);
  return NULL;
}

START_TEST(exited_threads_leave_warm_slabs) {
  ck_assert_int_eq(gclzone_init(NULL), 0);
  gclzone_free(gclzone_malloc(1));
  unsigned c200 = gcl_slab_class_of(200);
  void *first, *second;
  pthread_t t;
  pthread_create(&t, NULL, one_200, &first);
  pthread_join(t, NULL);
  gcl_span_t *s = gcl_span_of(first);
  ck_assert_int_eq(s->kind, GCL_SPAN_SLAB);
  ck_assert(s->warm && s->orphan && s->used == 0);
  ck_assert_uint_eq(gcl_theaps.warm, 1);
  ck_assert_uint_eq(gcl_theaps.norphans[c200], 1);
  gclzone_stats_t s0, s1;
  gclzone_stats(&s0);
  pthread_create(&t, NULL, one_200, &second);
  pthread_join(t, NULL);
  gclzone_stats(&s1);
  ck_assert_ptr_eq(gcl_span_of(second), s); /* adopted, and left warm again */
  ck_assert_uint_eq(s1.arena_used_peak, s0.arena_used_peak);
  ck_assert_uint_eq(gcl_theaps.warm, 1);
  /* 40 classes, each with an empty slab at the thread's exit: 16 stay. */
  pthread_create(&t, NULL, use_classes, (void *)40);
  pthread_join(t, NULL);
  ck_assert_uint_eq(gcl_theaps.warm, GCL_WARM_ORPHANS);
  size_t orphans = 0;
  for (unsigned c = 1; c < GCL_NCLASSES; c++) orphans += gcl_theaps.norphans[c];
  ck_assert_uint_eq(orphans, GCL_WARM_ORPHANS);
  gcl_check_all();
  gclzone_trim();
  ck_assert_uint_eq(gcl_theaps.warm, 0);
  ck_assert_uint_eq(gcl_theaps.norphans[c200], 0);
  ck_assert_int_ne(s->kind, GCL_SPAN_SLAB);
}
END_TEST

Suite *suite_heap(void) {
  Suite *s = suite_create("heap");
  TCase *t = tcase_create("heap");
  tcase_set_timeout(t, 60);
  tcase_add_test(t, size_classes_are_sound);
  tcase_add_test(t, blocks_fill_their_class);
  tcase_add_test(t, medium_classes_take_larger_free_blocks);
  tcase_add_test(t, a_full_slab_freed_into_comes_first);
  tcase_add_test(t, a_fifo_window_frees_on_the_fast_path);
  tcase_add_test(t, direct_table_follows_current_slabs);
  tcase_add_test(t, idle_small_slabs_go_back_for_a_new_slab);
  tcase_add_test(t, classes_left_empty_keep_their_slabs);
  tcase_add_test(t, a_pooled_theap_is_clean);
  tcase_add_test(t, stats_count_blocks_exactly);
  tcase_add_test(t, cross_thread_frees_are_reused);
  tcase_add_test(t, thread_exit_hands_memory_back);
  tcase_add_test(t, freed_large_blocks_are_held_for_the_next);
  tcase_add_test(t, held_spans_are_few_and_the_oldest_goes_back);
  tcase_add_test(t, thread_exit_gives_held_spans_back);
  tcase_add_test(t, trim_with_orphans_that_stay);
  tcase_add_test(t, realloc_as_first_call_of_a_thread);
  tcase_add_test(t, block_check_is_exact);
  tcase_add_test(t, orphans_wait_by_class);
  tcase_add_test(t, exited_threads_leave_warm_slabs);
  tcase_add_test(t, a_held_orphan_lock_delays_adoption);
  /* Not under ThreadSanitizer: it ends a thread's life before the last
   * round of destructors, and starts no thread in a multi-threaded fork's
   * child. */
  if (!GCL_TEST_TSAN) {
    tcase_add_test(t, a_dead_threads_word_in_a_new_thread);
    tcase_add_test(t, a_vanished_threads_word_in_a_fork_child);
  }
  suite_add_tcase(s, t);
  return s;
}

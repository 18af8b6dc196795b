/* test_heap.c: size classes, slabs, cross-thread frees and thread exit (heap.c). */
#include "testutil.h"
#include "internal.h"

#include <pthread.h>

START_TEST(size_classes_are_sound) {
  size_t prev = 0;
  for (unsigned c = 1; c < GCL_NCLASSES; c++) {
    size_t sz = gcl_class_size(c);
    ck_assert_uint_gt(sz, prev);
    ck_assert_uint_eq(sz % 16, 0);
    ck_assert_uint_eq(gcl_class_of(sz), c);
    ck_assert_uint_eq(gcl_class_of(prev + 1), c);
    /* waste: over 128 the smallest size of a class uses over 3/4 of it,
     * and over 7/8 above 4 KiB */
    if (c > 8) ck_assert_uint_gt((prev + 1) * 4, sz * 3);
    if (prev >= 4096) ck_assert_uint_gt((prev + 1) * 8, sz * 7);
    prev = sz;
  }
  ck_assert_uint_eq(prev, GCL_MEDIUM_MAX);
  ck_assert_uint_eq(gcl_class_of(0), 1);
  for (size_t n = 0; n <= GCL_DIRECT_MAX; n++) /* direct[] slots share classes correctly */
    ck_assert_uint_eq(gcl_class_of(n == 0 ? 1 : ((n + 15) / 16) * 16), gcl_class_of(n));
}
END_TEST

START_TEST(blocks_fill_their_class) {
  ck_assert_int_eq(gclzone_init(NULL), 0);
  for (size_t n = 0; n <= 140000; n = n < 300 ? n + 1 : n * 9 / 8) {
    char *p = gclzone_malloc(n);
    size_t u = gclzone_usable_size(p);
    ck_assert_uint_ge(u, n);
    ck_assert_uint_eq((uintptr_t)p % 16, 0);
    if (n <= GCL_MEDIUM_MAX) ck_assert_uint_eq(u, gcl_class_size(gcl_class_of(n)));
    else ck_assert_uint_eq(u, (n + 4095) & ~(size_t)4095); /* large blocks are page-granular */
    memset(p, 0x33, u);
    gclzone_free(p);
  }
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
static void *worker(void *arg) {
  long t = (long)arg;
  for (int i = 0; i < TB; i++) {
    handed[t][i] = gclzone_malloc((size_t)(i % 40) * 24 + 8);
    fill(handed[t][i], 8, (uint32_t)(t * TB + i));
  }
  for (int i = 0; i < TB; i += 2) gclzone_free(handed[t][i]), handed[t][i] = NULL;
  return NULL;
}

START_TEST(thread_exit_hands_memory_back) {
  ck_assert_int_eq(gclzone_init(NULL), 0);
  gclzone_stats_t base, s;
  gclzone_free(gclzone_malloc(1));
  gclzone_stats(&base);
  size_t used_after_first = 0;
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

Suite *suite_heap(void) {
  Suite *s = suite_create("heap");
  TCase *t = tcase_create("heap");
  tcase_set_timeout(t, 60);
  tcase_add_test(t, size_classes_are_sound);
  tcase_add_test(t, blocks_fill_their_class);
  tcase_add_test(t, stats_count_blocks_exactly);
  tcase_add_test(t, cross_thread_frees_are_reused);
  tcase_add_test(t, thread_exit_hands_memory_back);
  tcase_add_test(t, realloc_as_first_call_of_a_thread);
  suite_add_tcase(s, t);
  return s;
}

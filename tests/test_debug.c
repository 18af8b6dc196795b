/* test_debug.c: debug.c's modes and check.c's GCLZONE_CHECK, switched on
 * the way a user does it: a GCLZONE_* variable read at start-up (each test
 * runs in a fresh child that has not initialized). */
#include "testutil.h"
#include "internal.h"

#include <pthread.h>

static bool all_bytes(const void *p, size_t n, unsigned char v) {
  const unsigned char *c = p;
  for (size_t i = 0; i < n; i++)
    if (c[i] != v) return false;
  return true;
}

START_TEST(scribble_fills_fresh_and_freed_blocks) {
  setenv("GCLZONE_SCRIBBLE", "1", 1);
  unsigned char *p = gclzone_malloc(100), *big = gclzone_malloc(300000);
  ck_assert(gcl_debug_modes & GCL_DEBUG_SCRIBBLE);
  ck_assert(all_bytes(p, gclzone_usable_size(p), 0xaa));
  ck_assert(all_bytes(big, 300000, 0xaa));
  unsigned char *z = gclzone_calloc(10, 10); /* calloc still gives zeros */
  ck_assert(all_bytes(z, 100, 0));
  gclzone_free(p);
  ck_assert(all_bytes(p + sizeof(gcl_block_t), 112 - sizeof(gcl_block_t), 0x55)); /* the class is 112 bytes */
  unsigned char *q = gclzone_realloc(big, 600000); /* grows in place at the break */
  ck_assert_ptr_eq(q, big);
  ck_assert(all_bytes(q, 300000, 0xaa)); /* kept */
  ck_assert(all_bytes(q + 300000, 300000, 0xaa)); /* what realloc adds */
}
END_TEST

/* With any debug mode on no slab is published to the fast paths, so every
 * call reaches the hooks. */
START_TEST(debug_modes_keep_slabs_off_the_fast_paths) {
  setenv("GCLZONE_SCRIBBLE", "1", 1);
  void *p = gclzone_malloc(48);
  gcl_span_t *s = gcl_span_of(p);
  ck_assert_uint_eq(s->fast_owner, 0);
  ck_assert_ptr_eq(gcl_theap_self()->direct[3]->free, NULL);
  ck_assert(!(gcl_debug_modes & GCL_DEBUG_VALGRIND)); /* not under memcheck */
  gclzone_free(p);
}
END_TEST

START_TEST(no_mode_is_on_by_default) {
  void *p = gclzone_malloc(48);
  ck_assert_uint_eq(gcl_debug_modes, 0);
  ck_assert_uint_eq(gcl_span_of(p)->fast_owner, gcl_prim_thread_self());
  gclzone_free(p);
}
END_TEST

static void write_after_free(void *arg) {
  setenv("GCLZONE_CHECK", (const char *)arg, 1);
  uintptr_t *p = gclzone_malloc(64);
  gclzone_free(p);
  REPORT(p);
  p[1] = 12345; /* the free tag */
  for (int i = 0; i < 20; i++) (void)gclzone_malloc(64);
}

START_TEST(check_catches_a_write_after_free) {
  expect_fatal(write_after_free, (void *)"1", "heap corruption at %p: a free block was written after it was freed", NULL);
  expect_fatal(write_after_free, (void *)"5", "heap corruption at %p: a free block was written after it was freed", NULL);
}
END_TEST

/* Validators run, and pass, on a busy heap: blocks of every class, large
 * blocks, frees into full slabs, a thread's exit. */
static void *churn(void *arg) {
  (void)arg;
  void *v[200];
  for (int i = 0; i < 200; i++) v[i] = gclzone_malloc((size_t)(i * 977) % 150000 + 1);
  for (int i = 0; i < 200; i += 2) gclzone_free(v[i]);
  return NULL;
}

START_TEST(check_passes_a_valid_heap) {
  setenv("GCLZONE_CHECK", "1", 1);
  pthread_t t;
  void *v[500];
  for (int i = 0; i < 500; i++) v[i] = gclzone_malloc((size_t)(i * 7919) % 300000 + 1);
  pthread_create(&t, NULL, churn, NULL);
  pthread_join(t, NULL);
  for (int i = 0; i < 500; i++) gclzone_free(v[i]);
  gcl_check_all();
}
END_TEST

Suite *suite_debug(void) {
  Suite *s = suite_create("debug");
  TCase *t = tcase_create("debug");
  tcase_set_timeout(t, 60);
  tcase_add_test(t, scribble_fills_fresh_and_freed_blocks);
  tcase_add_test(t, debug_modes_keep_slabs_off_the_fast_paths);
  tcase_add_test(t, no_mode_is_on_by_default);
  tcase_add_test(t, check_catches_a_write_after_free);
  tcase_add_test(t, check_passes_a_valid_heap);
  suite_add_tcase(s, t);
  return s;
}

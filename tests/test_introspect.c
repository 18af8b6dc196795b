/* test_introspect.c: the walk, collect, the region map and bounds (introspect.c). */
#include "testutil.h"
#include "internal.h"

#include <pthread.h>

#define N 3000
static char *blocks[N];
static size_t sizes[N];

typedef struct {
  size_t count, bytes, found[N];
} seen_t;

static int find(const void *p) {
  for (int i = 0; i < N; i++)
    if (blocks[i] == p) return i;
  return -1;
}

static void visitor(void *block, size_t size, void *ctx) {
  seen_t *s = ctx;
  int i = find(block);
  if (i >= 0) {
    ck_assert_uint_ge(size, sizes[i]);
    ck_assert_uint_eq(size, gclzone_usable_size(block));
    s->found[i]++;
  }
  s->count++;
  s->bytes += size;
}

START_TEST(walk_visits_exactly_the_live_blocks) {
  ck_assert_int_eq(gclzone_init(NULL), 0);
  for (int i = 0; i < N; i++) {
    sizes[i] = i % 500 == 0 ? 300000 + (size_t)i : (size_t)(i * 13 % 3000);
    blocks[i] = gclzone_malloc(sizes[i]);
  }
  for (int i = 0; i < N; i += 3) gclzone_free(blocks[i]);
  static seen_t seen;
  gclzone_stats_t st;
  gclzone_stats(&st);
  size_t n = gclzone_walk(visitor, &seen);
  ck_assert_uint_eq(n, seen.count);
  ck_assert_uint_eq(n, st.in_use_blocks);
  ck_assert_uint_eq(seen.bytes, st.in_use_bytes);
  for (int i = 0; i < N; i++) ck_assert_uint_eq(seen.found[i], i % 3 == 0 ? 0 : 1);
}
END_TEST

/* A block freed by another thread and not yet collected by its owner is not live. */
static void *free_one(void *p) {
  gclzone_free(p);
  return NULL;
}

START_TEST(walk_skips_blocks_freed_remotely) {
  ck_assert_int_eq(gclzone_init(NULL), 0);
  for (int i = 0; i < 10; i++) sizes[i] = 40, blocks[i] = gclzone_malloc(40);
  for (int i = 10; i < N; i++) blocks[i] = NULL;
  pthread_t t;
  pthread_create(&t, NULL, free_one, blocks[4]);
  pthread_join(t, NULL);
  static seen_t seen;
  gclzone_walk(visitor, &seen);
  for (int i = 0; i < 10; i++) ck_assert_uint_eq(seen.found[i], i == 4 ? 0 : 1);
}
END_TEST

START_TEST(collect_returns_free_memory) {
  ck_assert_int_eq(gclzone_init(NULL), 0);
  for (int i = 0; i < N; i++) blocks[i] = gclzone_malloc(i % 10 == 0 ? 200000 : 3000);
  for (int i = 0; i < N; i++) memset(blocks[i], 1, i % 10 == 0 ? 200000 : 3000);
  gclzone_stats_t before, after;
  gclzone_stats(&before);
  for (int i = 0; i < N; i++) gclzone_free(blocks[i]);
  size_t given = gclzone_trim();
  gclzone_stats(&after);
  ck_assert_uint_gt(before.committed_bytes, 80 * MiB);
  ck_assert_uint_gt(given, 0); /* some was already returned: over GCLZONE_DIRTY_MAX */
  ck_assert_uint_eq(after.dirty_bytes, 0);
  ck_assert_uint_eq(after.committed_bytes, 0); /* nothing in use, nothing kept */
  ck_assert_uint_eq(gclzone_trim(), 0); /* nothing left to give */
  void *p = gclzone_malloc(3000); /* and allocation still works */
  ck_assert(gclzone_owns(p));
}
END_TEST

static void print_map_to_stderr(void *arg) {
  (void)arg;
  gclzone_sbrk(3 << 20);
  void *keep = gclzone_malloc(5 << 20);
  for (int i = 0; i < 100; i++) gclzone_malloc(100);
  void *gone = gclzone_malloc(2 << 20);
  gclzone_malloc(10);
  gclzone_free(gone);
  (void)keep;
  gclzone_print_map(2);
}

START_TEST(print_map_draws_the_region) {
  ck_assert_int_eq(gclzone_init(NULL), 0);
  char out[4096];
  int status = run_captured(print_map_to_stderr, NULL, out, sizeof out);
  ck_assert(WIFEXITED(status));
  ck_assert_msg(strstr(out, "gclzone: region 0x"), "%s", out);
  ck_assert_msg(strstr(out, "host heap 0x") && strstr(out, "3.0 MiB used of 64.0 GiB"), "%s", out);
  ck_assert_msg(strstr(out, "guard ") && strstr(out, "never committed"), "%s", out);
  ck_assert_msg(strstr(out, "arena     0x"), "%s", out);
  char *strip = strstr(out, "[");
  ck_assert_msg(strip && strchr(strip, 'L') && strchr(strip, 'S') && strchr(strip, '-'), "%s", out);
  ck_assert_msg(strstr(out, "metadata  0x"), "%s", out);
}
END_TEST

START_TEST(bounds_before_and_after_init) {
  gclzone_bounds_t h = gclzone_heap_bounds();
  ck_assert_ptr_null(h.base);
  ck_assert_uint_eq(gclzone_walk(visitor, NULL), 0);
  small_region(64 * MiB, 128 * MiB);
  h = gclzone_heap_bounds();
  gclzone_bounds_t a = gclzone_arena_bounds();
  ck_assert_ptr_eq(h.base, h.brk);
  ck_assert_ptr_eq(a.base, a.brk);
  gclzone_malloc(1);
  a = gclzone_arena_bounds();
  ck_assert_uint_eq((uintptr_t)a.brk - (uintptr_t)a.base, 64 * KiB);
}
END_TEST

Suite *suite_introspect(void) {
  Suite *s = suite_create("introspect");
  TCase *t = tcase_create("introspect");
  tcase_add_test(t, walk_visits_exactly_the_live_blocks);
  tcase_add_test(t, walk_skips_blocks_freed_remotely);
  tcase_add_test(t, collect_returns_free_memory);
  tcase_add_test(t, print_map_draws_the_region);
  tcase_add_test(t, bounds_before_and_after_init);
  suite_add_tcase(s, t);
  return s;
}

/* test_misuse.c: heap misuse stops the process with one fixed line (log.c's list). */
#include "testutil.h"
#include "internal.h"

#include <pthread.h>


static void do_free(void *p) { gclzone_free(p); }
static void do_realloc(void *p) { gclzone_realloc(p, 100); }
/* A size that the block at p would still fit, if it were one (realloc's
 * fast path keeps such a block in place: it must check it first). */
static void do_realloc_fit(void *p) { gclzone_realloc(p, 40); }
static void do_realloc_fit_large(void *p) { gclzone_realloc(p, (1 << 20) - 100); }
static void do_usable(void *p) { gclzone_usable_size(p); }

static void double_free_small(void *arg) {
  (void)arg;
  char *p = gclzone_malloc(24);
  gclzone_free(p);
  REPORT(p);
  gclzone_free(p);
}

static void double_free_interleaved(void *arg) {
  (void)arg;
  char *p = gclzone_malloc(40), *q = gclzone_malloc(40);
  REPORT(p);
  gclzone_free(p);
  gclzone_free(q);
  gclzone_free(p);
}

static void double_free_large(void *arg) {
  (void)arg;
  char *p = gclzone_malloc(1 << 20);
  REPORT(p);
  gclzone_free(p);
  gclzone_free(p);
}

START_TEST(double_frees) {
  ck_assert_int_eq(gclzone_init(NULL), 0);
  expect_fatal(double_free_small, NULL, "double free of %p", NULL);
  expect_fatal(double_free_interleaved, NULL, "double free of %p", NULL);
  expect_fatal(double_free_large, NULL, "double free of %p", NULL);
}
END_TEST

START_TEST(invalid_pointers) {
  ck_assert_int_eq(gclzone_init(NULL), 0);
  char *p = gclzone_malloc(64), *big = gclzone_malloc(1 << 20), stack[32];
  char *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  char *inside[] = {p + 1, p + 16, p + 48, big + 4096, big + 1, (char *)gclzone_heap_bounds().base,
                    (char *)gclzone_arena_bounds().limit - 4096, (char *)gclzone_arena_bounds().base + (1 << 28)};
  for (size_t i = 0; i < sizeof inside / sizeof inside[0]; i++) {
    expect_fatal(do_free, inside[i], "free of %p, which is not a live block from gclzone", inside[i]);
    expect_fatal(do_realloc, inside[i], "realloc of %p, which is not a live block from gclzone", inside[i]);
    expect_fatal(do_realloc_fit, inside[i], "realloc of %p, which is not a live block from gclzone", inside[i]);
    expect_fatal(do_realloc_fit_large, inside[i], "realloc of %p, which is not a live block from gclzone", inside[i]);
    expect_fatal(do_usable, inside[i], "usable size of %p, which is not a live block from gclzone", inside[i]);
  }
  /* The prefixed API has no foreign allocator to hand these to. */
  char *glibc = malloc(32);
  char *outside[] = {stack + 16, (char *)1, page, glibc};
  for (size_t i = 0; i < sizeof outside / sizeof outside[0]; i++) {
    expect_fatal(do_free, outside[i], "free of %p, which is not a live block from gclzone", outside[i]);
    expect_fatal(do_realloc, outside[i], "realloc of %p, which is not a live block from gclzone", outside[i]);
  }
  ck_assert(gclzone_owns(p)); /* the parent's blocks are untouched */
  free(glibc);
}
END_TEST

/* realloc of a freed block of sz[0] bytes to sz[1]: bigger, and the same
 * size (the block would fit where it is: realloc's fast path must see that
 * it is free), small and large. */
static const size_t freed_sizes[][2] = {{100, 200}, {100, 100}, {1 << 20, 1 << 20}};

static void use_after_free(void *arg) {
  const size_t *sz = arg;
  char *p = gclzone_malloc(sz[0]);
  gclzone_free(p);
  REPORT(p);
  gclzone_realloc(p, sz[1]);
}

START_TEST(realloc_of_freed_block) {
  ck_assert_int_eq(gclzone_init(NULL), 0);
  for (size_t i = 0; i < sizeof freed_sizes / sizeof freed_sizes[0]; i++)
    expect_fatal(use_after_free, (void *)freed_sizes[i], "realloc of %p, which is not a live block from gclzone", NULL);
}
END_TEST

/* glibc's tst-tcfree3: a live block holding a freed block's bytes (the
 * free tag among them) is freed normally, for small and medium blocks. */
START_TEST(a_copied_tag_is_no_double_free) {
  ck_assert_int_eq(gclzone_init(NULL), 0);
  const size_t sizes[] = {24, 100, 1000, 20000, 100000};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    char *a = gclzone_malloc(sizes[i]), *b = gclzone_malloc(sizes[i]);
    gclzone_free(a);
    memcpy(b, a, sizes[i]); /* reads freed memory, as the glibc test does */
    gclzone_free(b);
    ck_assert(!gclzone_owns(b));
  }
}
END_TEST

/* Even a block whose word 1 holds its own free tag (which a program can only
 * compute from our internals) is freed, reallocated and sized normally when
 * it is the calling thread's: its slab's lists say it is live. */
START_TEST(a_forged_tag_is_confirmed_by_the_owner) {
  ck_assert_int_eq(gclzone_init(NULL), 0);
  const size_t sizes[] = {16, 48, 4000, 60000};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    void *keep = gclzone_malloc(sizes[i]); /* so that the slab has free blocks on its lists */
    gcl_block_t *b = gclzone_malloc(sizes[i]);
    gclzone_free(gclzone_malloc(sizes[i]));
    b->tag = gcl_span_free_tag(gcl_span_of(b), b);
    ck_assert(gclzone_owns(b));
    ck_assert_uint_ge(gclzone_usable_size(b), sizes[i]);
    b = gclzone_realloc(b, sizes[i] - 8); /* stays in place */
    b->tag = gcl_span_free_tag(gcl_span_of(b), b);
    gclzone_free(b);
    ck_assert(!gclzone_owns(b));
    gclzone_free(keep);
  }
}
END_TEST

static void *free_it(void *p) {
  gclzone_free(p);
  return NULL;
}

static void double_free_remote(void *arg) {
  (void)arg;
  char *p = gclzone_malloc(200);
  gclzone_free(p);
  REPORT(p);
  pthread_t t;
  pthread_create(&t, NULL, free_it, p);
  pthread_join(t, NULL);
}

/* A medium block whose slab holds three: the slab stays, the class's
 * current one, when the block's second free comes. */
static void double_free_confirmed(void *arg) {
  (void)arg;
  char *p = gclzone_malloc(20000);
  gclzone_free(gclzone_malloc(20000));
  gclzone_free(p);
  REPORT(p);
  gclzone_free(p);
}

/* Real double frees keep their line, from the owner (confirmed by its
 * lists) and from another thread (the tag is proof). */
START_TEST(real_double_frees_still_stop) {
  ck_assert_int_eq(gclzone_init(NULL), 0);
  expect_fatal(double_free_confirmed, NULL, "double free of %p", NULL);
  expect_fatal(double_free_remote, NULL, "double free of %p", NULL);
}
END_TEST

Suite *suite_misuse(void) {
  Suite *s = suite_create("misuse");
  TCase *t = tcase_create("fatal");
  tcase_set_timeout(t, 60);
  tcase_add_test(t, double_frees);
  tcase_add_test(t, invalid_pointers);
  tcase_add_test(t, realloc_of_freed_block);
  tcase_add_test(t, a_copied_tag_is_no_double_free);
  tcase_add_test(t, a_forged_tag_is_confirmed_by_the_owner);
  tcase_add_test(t, real_double_frees_still_stop);
  suite_add_tcase(s, t);
  return s;
}

/* test_stress.c: threads allocating, reallocating and freeing each other's
 * blocks through a shared exchange; every block's contents are verified
 * when it is freed (after mimalloc's test-stress). Seeded, so repeatable. */
#include "testutil.h"

#include <pthread.h>

#define THREADS 4
#define SLOTS 4096
#define ITERS (GCL_TEST_TSAN ? 20000 : 150000)

typedef struct {
  uint32_t seed;
  uint32_t size;
} header_t;

static header_t *exchange[SLOTS];

static uint32_t rnd(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return (uint32_t)(*s >> 16);
}

static size_t pick_size(uint64_t *r) {
  uint32_t x = rnd(r) % 1000;
  if (x < 700) return 16 + rnd(r) % 240;    /* small */
  if (x < 950) return 256 + rnd(r) % 8000;  /* medium */
  if (x < 998) return 8000 + rnd(r) % 120000;
  return 200000 + rnd(r) % 2000000;         /* large */
}

static header_t *make(uint64_t *r) {
  size_t n = pick_size(r);
  header_t *h = rnd(r) % 4 == 0 ? gclzone_calloc(1, n) : gclzone_malloc(n);
  ck_assert_ptr_nonnull(h);
  h->seed = rnd(r);
  h->size = (uint32_t)n;
  fill(h + 1, n - sizeof *h, h->seed);
  return h;
}

static void check_and_free(header_t *h) {
  ck_assert_msg(filled(h + 1, h->size - sizeof *h, h->seed), "block %p corrupted", (void *)h);
  gclzone_free(h);
}

static void *stress(void *arg) {
  uint64_t r = 0x9e3779b97f4a7c15ull * ((uintptr_t)arg + 1);
  for (int i = 0; i < ITERS; i++) {
    size_t slot = rnd(&r) % SLOTS;
    uint32_t op = rnd(&r) % 10;
    if (op < 7) { /* replace: whatever was there may come from any thread */
      header_t *old = __atomic_exchange_n(&exchange[slot], make(&r), __ATOMIC_ACQ_REL);
      if (old) check_and_free(old);
    } else if (op < 9) { /* realloc in place of the slot's block */
      header_t *h = __atomic_exchange_n(&exchange[slot], NULL, __ATOMIC_ACQ_REL);
      if (!h) continue;
      ck_assert(filled(h + 1, h->size - sizeof *h, h->seed));
      size_t n = pick_size(&r);
      header_t *q = gclzone_realloc(h, n);
      ck_assert_ptr_nonnull(q);
      size_t keep = (n < q->size ? n : q->size) - sizeof *q;
      ck_assert(filled(q + 1, keep, q->seed));
      q->size = (uint32_t)n;
      fill(q + 1, n - sizeof *q, q->seed);
      header_t *old = __atomic_exchange_n(&exchange[slot], q, __ATOMIC_ACQ_REL);
      if (old) check_and_free(old);
    } else { /* free */
      header_t *old = __atomic_exchange_n(&exchange[slot], NULL, __ATOMIC_ACQ_REL);
      if (old) check_and_free(old);
    }
  }
  return NULL;
}

START_TEST(threads_exchange_blocks) {
  ck_assert_int_eq(gclzone_init(NULL), 0);
  gclzone_stats_t base, s;
  gclzone_stats(&base);
  for (int round = 0; round < 3; round++) { /* threads die and respawn with blocks live */
    pthread_t th[THREADS];
    for (long t = 0; t < THREADS; t++) pthread_create(&th[t], NULL, stress, (void *)(t + round * THREADS));
    for (int t = 0; t < THREADS; t++) pthread_join(th[t], NULL);
  }
  size_t live = 0;
  for (int i = 0; i < SLOTS; i++)
    if (exchange[i]) live++, check_and_free(exchange[i]), exchange[i] = NULL;
  ck_assert_uint_gt(live, SLOTS / 2);
  gclzone_stats(&s);
  ck_assert_uint_eq(s.in_use_blocks, base.in_use_blocks);
  ck_assert_uint_eq(s.threads, base.threads);
}
END_TEST

Suite *suite_stress(void) {
  Suite *s = suite_create("stress");
  TCase *t = tcase_create("stress");
  tcase_set_timeout(t, 120);
  tcase_add_test(t, threads_exchange_blocks);
  suite_add_tcase(s, t);
  return s;
}

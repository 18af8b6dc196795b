/* test_hostheap.c: the sbrk contract of gclzone.h, clause by clause (hostheap.c). */
#include "testutil.h"

#include <pthread.h>
#include <sys/mman.h>

#define FAIL ((void *)-1)

static long rss_kib(void) {
  char buf[256];
  int fd = open("/proc/self/statm", O_RDONLY);
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  buf[n > 0 ? n : 0] = 0;
  long size, res;
  sscanf(buf, "%ld %ld", &size, &res);
  return res * (sysconf(_SC_PAGESIZE) / 1024);
}

static int all_zero(const char *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i]) return 0;
  return 1;
}

START_TEST(zero_returns_the_base_and_is_stable) {
  small_region(64 * MiB, 64 * MiB);
  char *base = gclzone_heap_bounds().base;
  ck_assert_ptr_eq(gclzone_sbrk(0), base);
  ck_assert_ptr_eq(gclzone_sbrk(0), base);
}
END_TEST

START_TEST(grow_returns_old_break_zeroed_writable) {
  small_region(64 * MiB, 64 * MiB);
  char *base = gclzone_sbrk(0);
  ck_assert_ptr_eq(gclzone_sbrk(10000), base);
  ck_assert_ptr_eq(gclzone_sbrk(0), base + 10000);
  ck_assert(all_zero(base, 10000));
  memset(base, 0xab, 10000);
  ck_assert_ptr_eq(gclzone_sbrk(3), base + 10000); /* unaligned increments are kept as they are */
  ck_assert_ptr_eq(gclzone_sbrk(0), base + 10003);
  ck_assert(all_zero(base + 10000, 3));
}
END_TEST

START_TEST(shrink_then_grow_gives_zero_again) {
  small_region(64 * MiB, 64 * MiB);
  char *base = gclzone_sbrk(0);
  gclzone_sbrk(3 * 4096 + 100);
  memset(base, 0x5a, 3 * 4096 + 100);
  ck_assert_ptr_eq(gclzone_sbrk(-(2 * 4096 + 50)), base + 3 * 4096 + 100);
  ck_assert_ptr_eq(gclzone_sbrk(0), base + 4096 + 50);
  ck_assert_uint_eq((unsigned char)base[4096 + 49], 0x5a); /* below the break: kept */
  gclzone_sbrk(2 * 4096 + 50);
  ck_assert(all_zero(base + 4096 + 50, 2 * 4096 + 50));
}
END_TEST

static void touch(void *p) {
  *(volatile char *)p = 1;
}

START_TEST(shrink_releases_whole_pages) {
  small_region(64 * MiB, 64 * MiB);
  char *base = gclzone_sbrk(0);
  gclzone_sbrk(32 * MiB);
  memset(base, 1, 32 * MiB);
  long full = rss_kib();
  gclzone_sbrk(-(intptr_t)(32 * MiB - 100));
  ck_assert_int_lt(rss_kib(), full - 30 * 1024);
  ck_assert_msg(!readable(base + 8192), "pages above the break stay accessible");
  ck_assert(readable(base + 99));
  touch(base + 99);
}
END_TEST

START_TEST(never_below_the_base) {
  small_region(64 * MiB, 64 * MiB);
  char *base = gclzone_sbrk(0);
  errno = 0;
  ck_assert_ptr_eq(gclzone_sbrk(-1), FAIL);
  ck_assert_int_eq(errno, ENOMEM);
  gclzone_sbrk(100);
  errno = 0;
  ck_assert_ptr_eq(gclzone_sbrk(-101), FAIL);
  ck_assert_int_eq(errno, ENOMEM);
  ck_assert_ptr_eq(gclzone_sbrk(0), base + 100);
  ck_assert_ptr_eq(gclzone_sbrk(-100), base + 100);
  ck_assert_ptr_eq(gclzone_sbrk(0), base);
}
END_TEST

START_TEST(capacity_is_exact) {
  small_region(64 * MiB, 64 * MiB);
  char *base = gclzone_sbrk(0);
  errno = 0;
  ck_assert_ptr_eq(gclzone_sbrk((intptr_t)(64 * MiB + 1)), FAIL);
  ck_assert_int_eq(errno, ENOMEM);
  ck_assert_ptr_eq(gclzone_sbrk(0), base);
  ck_assert_ptr_eq(gclzone_sbrk((intptr_t)(64 * MiB - 10)), base);
  ck_assert_ptr_eq(gclzone_sbrk(10), base + 64 * MiB - 10);
  errno = 0;
  ck_assert_ptr_eq(gclzone_sbrk(1), FAIL);
  ck_assert_int_eq(errno, ENOMEM);
  base[64 * MiB - 1] = 7; /* the last byte is usable */
  ck_assert_ptr_eq(gclzone_sbrk(0), gclzone_heap_bounds().limit);
}
END_TEST

START_TEST(probing_increments_fail_cleanly) {
  ck_assert_int_eq(gclzone_init(NULL), 0);
  char *base = gclzone_sbrk(0);
  gclzone_sbrk(12345);
  const intptr_t probes[] = {INTPTR_MAX, INTPTR_MAX / 2, INTPTR_MAX / 4, INTPTR_MAX / 2 + 1,
                             INTPTR_MIN, INTPTR_MIN + 1, -INTPTR_MAX, INTPTR_MIN / 2,
                             (intptr_t)((size_t)65 << 30), -(intptr_t)12346};
  for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++) {
    errno = 0;
    ck_assert_msg(gclzone_sbrk(probes[i]) == FAIL, "increment %ld succeeded", (long)probes[i]);
    ck_assert_int_eq(errno, ENOMEM);
    ck_assert_ptr_eq(gclzone_sbrk(0), base + 12345);
  }
}
END_TEST

START_TEST(multi_gib_fits_without_touching) {
  ck_assert_int_eq(gclzone_init(NULL), 0);
  char *base = gclzone_sbrk(0);
  long before = rss_kib();
  ck_assert_ptr_eq(gclzone_sbrk((intptr_t)(48 * GiB)), base);
  ck_assert_int_lt(rss_kib() - before, 4096);
  base[0] = 1;
  base[48 * GiB - 1] = 2;
  ck_assert_ptr_eq(gclzone_sbrk(-(intptr_t)(48 * GiB)), base + 48 * GiB);
  ck_assert_ptr_eq(gclzone_sbrk(0), base);
}
END_TEST

/* GCL probes for the largest heap with sbrk, giving back each successful
 * probe, then keeps a large heap. The probe must end exactly at the base. */
START_TEST(gcl_style_probe_ends_at_the_base) {
  ck_assert_int_eq(gclzone_init(NULL), 0);
  char *base = gclzone_sbrk(0);
  uintptr_t lo = 0, hi = (uintptr_t)1 << 44;
  int probes = 0;
  while (hi - lo > 4096) {
    uintptr_t mid = lo + (hi - lo) / 2;
    void *p = gclzone_sbrk((intptr_t)mid);
    probes++;
    if (p != FAIL) {
      ck_assert_ptr_eq(p, base);
      ck_assert_ptr_eq(gclzone_sbrk(-(intptr_t)mid), base + mid);
      lo = mid;
    } else {
      ck_assert_int_eq(errno, ENOMEM);
      hi = mid;
    }
    ck_assert_ptr_eq(gclzone_sbrk(0), base);
  }
  ck_assert_uint_ge(probes, 20);
  ck_assert_uint_le(lo, (size_t)64 << 30);
  ck_assert_uint_gt(lo, ((size_t)64 << 30) - 8192);
  ck_assert_ptr_eq(gclzone_sbrk((intptr_t)(10 * GiB)), base); /* keep about 10 GiB */
  base[10 * GiB - 1] = 1;
  void *m = gclzone_malloc(1000);
  ck_assert((char *)m >= (char *)gclzone_heap_bounds().limit);
}
END_TEST

START_TEST(brk_sets_the_break) {
  small_region(64 * MiB, 64 * MiB);
  gclzone_bounds_t b = gclzone_heap_bounds();
  char *base = b.base;
  ck_assert_int_eq(gclzone_brk(base + 100), 0);
  ck_assert_ptr_eq(gclzone_sbrk(0), base + 100);
  errno = 0;
  ck_assert_int_eq(gclzone_brk(base - 1), -1);
  ck_assert_int_eq(errno, ENOMEM);
  errno = 0;
  ck_assert_int_eq(gclzone_brk((char *)b.limit + 1), -1);
  ck_assert_int_eq(errno, ENOMEM);
  ck_assert_ptr_eq(gclzone_sbrk(0), base + 100);
  ck_assert_int_eq(gclzone_brk(b.limit), 0);
  ck_assert_int_eq(gclzone_brk(base), 0);
  ck_assert_ptr_eq(gclzone_sbrk(0), base);
}
END_TEST

/* Host heap pages and arena blocks never intersect. */
START_TEST(host_heap_and_arena_are_disjoint) {
  small_region(256 * MiB, 512 * MiB);
  char *base = gclzone_sbrk(0);
  gclzone_sbrk(200 * MiB);
  gclzone_bounds_t h = gclzone_heap_bounds(), a = gclzone_arena_bounds();
  static void *blocks[3000];
  for (int i = 0; i < 3000; i++) {
    size_t n = i % 100 == 0 ? 300 * KiB + (size_t)i : (size_t)(i % 300) * 8 + 1;
    blocks[i] = gclzone_malloc(n);
    ck_assert_ptr_nonnull(blocks[i]);
    char *p = blocks[i];
    size_t u = gclzone_usable_size(p);
    ck_assert(p + u <= (char *)h.base || p >= (char *)h.limit);
    ck_assert(p >= (char *)a.base && p + u <= (char *)a.limit);
    memset(p, 0xee, n);
  }
  ck_assert(!gclzone_owns(base));
  ck_assert(!gclzone_owns(base + 4096));
  for (size_t i = 0; i < 200 * MiB; i += 4096) ck_assert_int_eq(base[i], 0);
  for (int i = 0; i < 3000; i++) gclzone_free(blocks[i]);
}
END_TEST

#define GROWERS 4
#define GROWS 2000
static void *grown[GROWERS][GROWS];
static void *grow_thread(void *arg) {
  long t = (long)arg;
  for (int i = 0; i < GROWS; i++) {
    grown[t][i] = gclzone_sbrk(4096);
    memset(grown[t][i], (int)t + 1, 4096);
  }
  return NULL;
}

static int cmp_ptr(const void *a, const void *b) {
  uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
  return x < y ? -1 : x > y;
}

START_TEST(concurrent_sbrk_hands_out_disjoint_ranges) {
  small_region(256 * MiB, 64 * MiB);
  char *base = gclzone_sbrk(0);
  pthread_t th[GROWERS];
  for (long t = 0; t < GROWERS; t++) pthread_create(&th[t], NULL, grow_thread, (void *)t);
  for (int t = 0; t < GROWERS; t++) pthread_join(th[t], NULL);
  ck_assert_ptr_eq(gclzone_sbrk(0), base + GROWERS * GROWS * 4096);
  qsort(grown, GROWERS * GROWS, sizeof(void *), cmp_ptr);
  void **all = &grown[0][0];
  for (int i = 0; i < GROWERS * GROWS; i++) ck_assert_ptr_eq(all[i], base + (size_t)i * 4096);
}
END_TEST

/* glibc's tst-malloc-alternate-path: a program maps a page over the
 * reservation just above the break. The host heap grows up to it, never over
 * it: the page keeps its owner's contents and protection. */
static void map_over_the_host_heap(void *arg) {
  (void)arg;
  small_region(64 * MiB, 64 * MiB);
  char *base = gclzone_sbrk(0);
  long pg = sysconf(_SC_PAGESIZE);
  char *theirs = mmap(base + 4 * pg, (size_t)pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  if (theirs != base + 4 * pg) _exit(10);
  memset(theirs, 'x', (size_t)pg);
  if (gclzone_sbrk(2 * pg) != base) _exit(11); /* below their page: fine */
  memset(base, 1, 2 * (size_t)pg);
  errno = 0;
  if (gclzone_sbrk(4 * pg) != (void *)-1 || errno != ENOMEM) _exit(12); /* would cover it */
  if (gclzone_sbrk(0) != base + 2 * pg) _exit(13);
  for (long i = 0; i < pg; i++)
    if (theirs[i] != 'x') _exit(14);
  if (gclzone_sbrk(256 * pg) != (void *)-1) _exit(15); /* the heap stops below it for good */
  _exit(0);
}

START_TEST(a_mapping_over_the_heap_is_not_taken) {
  char err[512];
  int st = run_captured(map_over_the_host_heap, NULL, err, sizeof err);
  ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x: %s", st, err);
  ck_assert_msg(strstr(err, "gclzone: warning: a mapping was placed over the region between ") != NULL, "%s", err);
}
END_TEST

Suite *suite_hostheap(void) {
  Suite *s = suite_create("hostheap");
  TCase *t = tcase_create("sbrk contract");
  tcase_set_timeout(t, 60);
  tcase_add_test(t, zero_returns_the_base_and_is_stable);
  tcase_add_test(t, grow_returns_old_break_zeroed_writable);
  tcase_add_test(t, shrink_then_grow_gives_zero_again);
  tcase_add_test(t, shrink_releases_whole_pages);
  tcase_add_test(t, a_mapping_over_the_heap_is_not_taken);
  tcase_add_test(t, never_below_the_base);
  tcase_add_test(t, capacity_is_exact);
  tcase_add_test(t, probing_increments_fail_cleanly);
  tcase_add_test(t, multi_gib_fits_without_touching);
  tcase_add_test(t, gcl_style_probe_ends_at_the_base);
  tcase_add_test(t, brk_sets_the_break);
  tcase_add_test(t, host_heap_and_arena_are_disjoint);
  tcase_add_test(t, concurrent_sbrk_hands_out_disjoint_ranges);
  suite_add_tcase(s, t);
  return s;
}

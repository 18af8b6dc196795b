/* test_api.c: conformance of the malloc family (alloc.c), glibc semantics. */
#include "testutil.h"

#include <stdalign.h>

#define PAGE ((size_t)sysconf(_SC_PAGESIZE))

static void *huge_sizes[] = {(void *)SIZE_MAX, (void *)(SIZE_MAX - 4096), (void *)((size_t)PTRDIFF_MAX + 1),
                             (void *)((size_t)PTRDIFF_MAX), (void *)((size_t)65 << 30), (void *)(SIZE_MAX / 2)};
#define NHUGE (sizeof huge_sizes / sizeof huge_sizes[0])

START_TEST(huge_requests_fail_with_enomem) {
  ck_assert_int_eq(gclzone_init(NULL), 0);
  for (size_t i = 0; i < NHUGE; i++) {
    size_t n = (size_t)huge_sizes[i];
    void *p = gclzone_malloc(16);
    errno = 0;
    ck_assert_ptr_null(gclzone_malloc(n));
    ck_assert_int_eq(errno, ENOMEM);
    errno = 0;
    ck_assert_ptr_null(gclzone_calloc(1, n));
    ck_assert_int_eq(errno, ENOMEM);
    errno = 0;
    ck_assert_ptr_null(gclzone_realloc(p, n));
    ck_assert_int_eq(errno, ENOMEM);
    ck_assert(gclzone_owns(p));
    errno = 0;
    ck_assert_ptr_null(gclzone_aligned_alloc(64, n));
    ck_assert_int_eq(errno, ENOMEM);
    errno = 0;
    ck_assert_ptr_null(gclzone_memalign(4096, n));
    ck_assert_int_eq(errno, ENOMEM);
    errno = 0;
    ck_assert_ptr_null(gclzone_valloc(n));
    ck_assert_int_eq(errno, ENOMEM);
    errno = 0;
    ck_assert_ptr_null(gclzone_pvalloc(n));
    ck_assert_int_eq(errno, ENOMEM);
    void *q = (void *)1;
    ck_assert_int_eq(gclzone_posix_memalign(&q, 256, n), ENOMEM);
    ck_assert_ptr_eq(q, (void *)1);
    gclzone_free(p);
  }
}
END_TEST

START_TEST(calloc_overflow_fails_with_enomem) {
  const size_t pairs[][2] = {{SIZE_MAX, SIZE_MAX}, {(size_t)LONG_MAX, 1000}, {1000, (size_t)LONG_MAX},
                             {65537, SIZE_MAX / 65537 + 1}, {SIZE_MAX / 65537 + 1, 65537}, {SIZE_MAX / 2, 3}};
  for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
    errno = 0;
    ck_assert_ptr_null(gclzone_calloc(pairs[i][0], pairs[i][1]));
    ck_assert_int_eq(errno, ENOMEM);
  }
  void *zero[] = {gclzone_calloc(0, 0), gclzone_calloc(0, UINT_MAX), gclzone_calloc(UINT_MAX, 0),
                  gclzone_calloc(0, SIZE_MAX), gclzone_calloc(SIZE_MAX, 0)};
  for (int i = 0; i < 5; i++) {
    ck_assert_ptr_nonnull(zero[i]);
    gclzone_free(zero[i]);
  }
}
END_TEST

/* After a block is dirtied and freed, calloc of the same size is zero. */
START_TEST(calloc_zeroes_reused_memory) {
  static const size_t sizes[] = {5, 15, 17, 31, 96, 1000, 5000, 70000, 200000, 3 << 20};
  for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
    for (int round = 0; round < 200; round++) {
      size_t n = sizes[k] + (size_t)(round % 7);
      unsigned char *p = gclzone_calloc(1, n);
      ck_assert_ptr_nonnull(p);
      for (size_t i = 0; i < n; i += (n > 4096 ? 61 : 1)) ck_assert_uint_eq(p[i], 0);
      ck_assert_uint_eq(p[n - 1], 0);
      memset(p, 0xff, gclzone_usable_size(p));
      gclzone_free(p);
      if (n > 100000 && round > 4) break;
    }
  }
}
END_TEST

START_TEST(malloc_zero_is_unique_and_freeable) {
  void *a = gclzone_malloc(0), *b = gclzone_malloc(0), *c = gclzone_realloc(NULL, 0);
  ck_assert_ptr_nonnull(a);
  ck_assert_ptr_nonnull(b);
  ck_assert_ptr_nonnull(c);
  ck_assert_ptr_ne(a, b);
  ck_assert_ptr_ne(a, c);
  ck_assert_ptr_ne(b, c);
  ck_assert(gclzone_owns(a));
  ck_assert_uint_ge(gclzone_usable_size(a), 1);
  gclzone_free(a);
  gclzone_free(b);
  gclzone_free(c);
}
END_TEST

START_TEST(free_keeps_errno) {
  static const size_t sizes[] = {0, 16, 1000, 100000, 5 << 20, 64 << 20};
  errno = 1789;
  gclzone_free(NULL);
  ck_assert_int_eq(errno, 1789);
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    void *p = gclzone_malloc(sizes[i]);
    memset(p, 1, sizes[i]);
    errno = 1789;
    gclzone_free(p);
    ck_assert_int_eq(errno, 1789);
  }
}
END_TEST

START_TEST(realloc_contract) {
  char *p = gclzone_realloc(NULL, 10); /* NULL: malloc */
  ck_assert(gclzone_owns(p));
  memcpy(p, "0123456789", 10);
  size_t sizes[] = {20, 200, 5000, 70000, 300000, 5 << 20, 100, 12, 7 << 20, 64};
  size_t have = 10;
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    size_t n = sizes[i];
    char *q = gclzone_realloc(p, n);
    ck_assert_ptr_nonnull(q);
    ck_assert_mem_eq(q, "0123456789", 10); /* contents kept across every move */
    for (size_t j = 10; j < (have < n ? have : n); j++) ck_assert_int_eq(q[j], (char)j);
    for (size_t j = 10; j < n; j++) q[j] = (char)j;
    have = n;
    p = q;
  }
  /* Growing up to the usable size never moves the block. */
  size_t u = gclzone_usable_size(p);
  ck_assert_ptr_eq(gclzone_realloc(p, u), p);
  /* A failed realloc leaves the block valid and intact. */
  errno = 0;
  ck_assert_ptr_null(gclzone_realloc(p, SIZE_MAX - 4096));
  ck_assert_int_eq(errno, ENOMEM);
  ck_assert_mem_eq(p, "0123456789", 10);
  ck_assert(gclzone_owns(p));
  /* Size 0 frees and returns NULL (glibc). */
  gclzone_stats_t s0, s1;
  gclzone_stats(&s0);
  ck_assert_ptr_null(gclzone_realloc(p, 0));
  gclzone_stats(&s1);
  ck_assert_uint_eq(s1.in_use_blocks, s0.in_use_blocks - 1);
}
END_TEST

START_TEST(large_realloc_grows_in_place) {
  char *p = gclzone_malloc(1 << 20);
  fill(p, 1 << 20, 5);
  char *q = gclzone_realloc(p, 8 << 20); /* at the arena's break: grows in place */
  ck_assert_ptr_eq(q, p);
  ck_assert(filled(q, 1 << 20, 5));
  q = gclzone_realloc(p, 2 << 20);
  ck_assert_ptr_eq(q, p);
  ck_assert_uint_eq(gclzone_usable_size(q), 2 << 20);
  q = gclzone_realloc(p, (2 << 20) + 5000); /* within its last slot: only the size moves */
  ck_assert_ptr_eq(q, p);
  ck_assert_uint_eq(gclzone_usable_size(q), (2 << 20) + 8192);
  ck_assert(filled(q, 1 << 20, 5));
  gclzone_free(q);
}
END_TEST

/* A large buffer grown 16 KiB at a time, with a new large block allocated
 * after each step (it lands past the buffer and keeps it from growing in
 * place): a block that must move gets growth room, so it is copied a few
 * times on its way from 256 KiB to 8 MiB, not once per 64 KiB slot, and
 * keeps its bytes and its page-granular usable size. */
#define STEP (16 << 10)
#define PINS ((8 << 20) / STEP)
START_TEST(large_realloc_growth_moves_rarely) {
  size_t size = 256 << 10, page = (size_t)sysconf(_SC_PAGESIZE);
  static void *pin[PINS];
  int moves = 0, pins = 0;
  char *b = gclzone_malloc(size);
  memset(b, 'b', size);
  for (size_t to = size + STEP; to <= (8 << 20); to += STEP) {
    char *q = gclzone_realloc(b, to);
    ck_assert_ptr_nonnull(q);
    moves += q != b;
    memset(q + to - STEP, 'b', STEP);
    b = q;
    ck_assert_uint_eq(gclzone_usable_size(q), (to + page - 1) / page * page);
    ck_assert_ptr_nonnull(pin[pins++] = gclzone_malloc(256 << 10));
  }
  for (size_t off = 0; off < (8 << 20); off += 4096) ck_assert_int_eq(b[off], 'b');
  ck_assert_int_le(moves, 20); /* a quarter more each time: log(32) / log(1.25) is 16 */
  gclzone_free(b);
  while (pins) gclzone_free(pin[--pins]);
}
END_TEST

START_TEST(reallocarray_overflow) {
  char *p = gclzone_reallocarray(NULL, 10, 10);
  ck_assert_ptr_nonnull(p);
  memset(p, 7, 100);
  errno = 0;
  ck_assert_ptr_null(gclzone_reallocarray(p, SIZE_MAX, 2));
  ck_assert_int_eq(errno, ENOMEM);
  errno = 0;
  ck_assert_ptr_null(gclzone_reallocarray(p, 65537, SIZE_MAX / 65537 + 1));
  ck_assert_int_eq(errno, ENOMEM);
  for (int i = 0; i < 100; i++) ck_assert_int_eq(p[i], 7);
  p = gclzone_reallocarray(p, 1000, 10);
  for (int i = 0; i < 100; i++) ck_assert_int_eq(p[i], 7);
  errno = 0;
  ck_assert_ptr_null(gclzone_reallocarray(NULL, 2, SIZE_MAX));
  ck_assert_int_eq(errno, ENOMEM);
  gclzone_free(p);
}
END_TEST

START_TEST(posix_memalign_errors) {
  const size_t bad[] = {0, 3, 24, 0x300, sizeof(void *) + 1, SIZE_MAX, 4, 2, 1};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    void *p = (void *)0x1234;
    ck_assert_int_eq(gclzone_posix_memalign(&p, bad[i], 8), EINVAL);
    ck_assert_ptr_eq(p, (void *)0x1234);
  }
  void *p = (void *)0x1234;
  ck_assert_int_eq(gclzone_posix_memalign(&p, 8, SIZE_MAX), ENOMEM);
  ck_assert_int_eq(gclzone_posix_memalign(&p, PAGE, -PAGE), ENOMEM);
  ck_assert_ptr_eq(p, (void *)0x1234);
  errno = 0;
  ck_assert_int_eq(gclzone_posix_memalign(&p, 256, 0), 0);
  ck_assert_int_eq(errno, 0);
  ck_assert_ptr_nonnull(p);
  ck_assert_uint_eq((uintptr_t)p % 256, 0);
  gclzone_free(p);
}
END_TEST

START_TEST(aligned_alloc_and_memalign_rules) {
  errno = 0;
  ck_assert_ptr_null(gclzone_aligned_alloc(0, 64));
  ck_assert_int_eq(errno, EINVAL);
  errno = 0;
  ck_assert_ptr_null(gclzone_aligned_alloc(65, 64));
  ck_assert_int_eq(errno, EINVAL);
  errno = 0;
  ck_assert_ptr_null(gclzone_aligned_alloc(SIZE_MAX / 2 + 2, 64));
  ck_assert_int_eq(errno, EINVAL);
  void *p = gclzone_aligned_alloc(1, 64);
  ck_assert_ptr_nonnull(p);
  gclzone_free(p);
  p = gclzone_aligned_alloc(64, 100); /* size need not be a multiple (glibc) */
  ck_assert_uint_eq((uintptr_t)p % 64, 0);
  gclzone_free(p);
  errno = 0;
  ck_assert_ptr_null(gclzone_memalign(SIZE_MAX, PAGE));
  ck_assert_int_eq(errno, EINVAL);
  p = gclzone_memalign(48, 10); /* rounded up to 64 */
  ck_assert_uint_eq((uintptr_t)p % 64, 0);
  gclzone_free(p);
  p = gclzone_memalign(0, 10);
  ck_assert_ptr_nonnull(p);
  gclzone_free(p);
  p = gclzone_valloc(0);
  ck_assert_uint_eq((uintptr_t)p % PAGE, 0);
  gclzone_free(p);
  p = gclzone_pvalloc(1);
  ck_assert_uint_eq((uintptr_t)p % PAGE, 0);
  ck_assert_uint_ge(gclzone_usable_size(p), PAGE);
  gclzone_free(p);
  p = gclzone_pvalloc(0);
  ck_assert_uint_ge(gclzone_usable_size(p), PAGE);
  gclzone_free(p);
  errno = 0;
  ck_assert_ptr_null(gclzone_pvalloc(SIZE_MAX - PAGE / 2));
  ck_assert_int_eq(errno, ENOMEM);
}
END_TEST

/* Every power-of-two alignment from 1 to 2^20 with sizes around it:
 * aligned, usable >= size, writable end to end, no overlap. */
START_TEST(aligned_grid) {
  enum { N = 21 * 8 };
  static char *blk[N];
  static size_t len[N];
  int k = 0;
  for (size_t a = 1; a <= (1u << 20); a <<= 1) {
    const size_t sizes[] = {1, 8, 43 + a, a, a + 1, 4097, 1 << 20, 3 * a};
    for (int j = 0; j < 8; j++, k++) {
      void *p;
      size_t n = sizes[j];
      switch (j % 3) {
      case 0: ck_assert_int_eq(gclzone_posix_memalign(&p, a < sizeof(void *) ? sizeof(void *) : a, n), 0); break;
      case 1: p = gclzone_aligned_alloc(a, n); break;
      default: p = gclzone_memalign(a, n); break;
      }
      ck_assert_ptr_nonnull(p);
      ck_assert_msg((uintptr_t)p % a == 0, "%p not aligned to %zu", p, a);
      ck_assert_uint_ge(gclzone_usable_size(p), n);
      memset(p, k, n);
      blk[k] = p;
      len[k] = n;
    }
  }
  for (int i = 0; i < N; i++)
    for (int j = i + 1; j < N; j++) ck_assert(blk[i] + len[i] <= blk[j] || blk[j] + len[j] <= blk[i]);
  for (int i = 0; i < N; i++) {
    for (size_t x = 0; x < len[i]; x += 997) ck_assert_int_eq(blk[i][x], (char)i);
    gclzone_free(blk[i]);
  }
}
END_TEST

/* An aligned block of a size class is the smallest class that is a
 * multiple of the alignment (no more: that is memory), for every alignment
 * from 32 B to 64 KiB and sizes around every class; the second and third
 * blocks come from the class's current slab, the fast path, and are aligned
 * too. The block sizes are malloc's own (usable_size of a malloc). */
START_TEST(aligned_blocks_take_the_smallest_aligned_class) {
  enum { MEDIUM = 128 << 10 };
  static size_t cls[1024];
  size_t ncls = 0;
  for (size_t n = 16; n <= MEDIUM; n += 16) {
    void *p = gclzone_malloc(n);
    size_t u = gclzone_usable_size(p);
    gclzone_free(p);
    if (ncls == 0 || cls[ncls - 1] != u) cls[ncls++] = u;
  }
  ck_assert_uint_eq(cls[ncls - 1], MEDIUM);
  for (size_t a = 32; a <= (64 << 10); a <<= 1) {
    for (size_t i = 0; i < ncls; i++) {
      const size_t sizes[] = {cls[i] - 1, cls[i], cls[i] + 1};
      for (int j = 0; j < 3; j++) {
        size_t n = sizes[j], want = 0;
        for (size_t k = 0; k < ncls && !want; k++)
          if (cls[k] >= n && cls[k] >= a && cls[k] % a == 0) want = cls[k];
        void *p[3];
        for (int r = 0; r < 3; r++) {
          p[r] = gclzone_aligned_alloc(a, n);
          ck_assert_ptr_nonnull(p[r]);
          ck_assert_msg((uintptr_t)p[r] % a == 0, "%p (%zu B) not aligned to %zu", p[r], n, a);
          size_t u = gclzone_usable_size(p[r]);
          /* The first reuses the block of want's class that the loop above
           * freed; the others may be a larger class's free block (theap.c's
           * larger_free: from a page up, at most twice the size). */
          if (want && (r == 0 || want < 4096))
            ck_assert_msg(u == want, "%zu B at %zu (#%d): %zu, not %zu", n, a, r, u, want);
          else if (want)
            ck_assert_msg(u >= want && u <= 2 * want && u % a == 0, "%zu B at %zu (#%d): %zu, for %zu", n, a, r, u, want);
          else ck_assert_uint_ge(u, n); /* no class: a large block */
          memset(p[r], r + 1, n);
        }
        for (int r = 0; r < 3; r++) {
          ck_assert_int_eq(((unsigned char *)p[r])[n - 1], r + 1);
          gclzone_free(p[r]);
        }
      }
    }
  }
}
END_TEST

START_TEST(minimum_alignment_is_16) {
  const size_t sizes[] = {1, 2, 8, 13, 16, 23, 43, 123, 1025, 4000, 70001, 200003};
  for (int r = 0; r < 50; r++)
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
      void *p = gclzone_malloc(sizes[i]);
      ck_assert_uint_eq((uintptr_t)p % 16, 0);
      ck_assert_uint_eq((uintptr_t)p % alignof(max_align_t), 0);
      if (r % 2) gclzone_free(p);
    }
}
END_TEST

START_TEST(usable_size_is_stable_and_sufficient) {
  ck_assert_uint_eq(gclzone_usable_size(NULL), 0);
  for (size_t n = 1; n < 3000000; n = n * 3 + 1) {
    char *p = gclzone_malloc(n);
    size_t u = gclzone_usable_size(p);
    ck_assert_uint_ge(u, n);
    memset(p, 0xa5, u); /* the whole usable size is ours to use */
    ck_assert_uint_eq(gclzone_usable_size(p), u);
    gclzone_free(p);
  }
}
END_TEST

START_TEST(owns_rejects_interior_freed_and_foreign) {
  char stack = 0;
  char *p = gclzone_malloc(64), *big = gclzone_malloc(1 << 20);
  void *foreign = malloc(64); /* glibc's: the unit binary has no front end */
  ck_assert(gclzone_owns(p));
  ck_assert(gclzone_owns(big));
  ck_assert(!gclzone_owns(p + 1));
  ck_assert(!gclzone_owns(p + 16));
  ck_assert(!gclzone_owns(p + 63));
  ck_assert(!gclzone_owns(big + 4096));
  ck_assert(!gclzone_owns(&stack));
  ck_assert(!gclzone_owns(foreign));
  ck_assert(!gclzone_owns(NULL));
  ck_assert(!gclzone_owns((void *)1));
  ck_assert(!gclzone_owns(gclzone_heap_bounds().base));
  ck_assert(!gclzone_owns((char *)gclzone_arena_bounds().limit - 64));
  gclzone_free(p);
  gclzone_free(big);
  ck_assert(!gclzone_owns(p));
  ck_assert(!gclzone_owns(big));
  free(foreign);
}
END_TEST

START_TEST(hundreds_of_mib) {
  const size_t sizes[] = {100 * MiB, 300 * MiB, 700 * MiB};
  for (int i = 0; i < 3; i++) {
    char *p = gclzone_malloc(sizes[i]);
    ck_assert_ptr_nonnull(p);
    p[0] = 1;
    p[sizes[i] / 2] = 2;
    p[sizes[i] - 1] = 3;
    char *q = gclzone_calloc(1, sizes[i]);
    ck_assert_ptr_nonnull(q);
    ck_assert_int_eq(q[sizes[i] - 1], 0);
    ck_assert(q + sizes[i] <= p || p + sizes[i] <= q);
    gclzone_free(p);
    gclzone_free(q);
  }
}
END_TEST

/* With a small arena: every entry point fails with ENOMEM when it is full,
 * and works again once memory is freed. */
START_TEST(exhausted_arena_gives_enomem_then_recovers) {
  small_region(16 * MiB, 32 * MiB);
  static void *got[100000];
  int n = 0;
  /* Fill from big to small, so that no slot is left for anything. */
  const size_t fills[] = {100000, 65 * KiB, 5000, 16};
  for (int k = 0; k < 4; k++) {
    errno = 0;
    while ((got[n] = gclzone_malloc(fills[k])) != NULL) n++;
    ck_assert_int_eq(errno, ENOMEM);
  }
  ck_assert_int_gt(n, 100);
  errno = 0;
  ck_assert_ptr_null(gclzone_malloc(200 * KiB));
  ck_assert_int_eq(errno, ENOMEM);
  errno = 0;
  ck_assert_ptr_null(gclzone_calloc(10, 100 * KiB));
  ck_assert_int_eq(errno, ENOMEM);
  errno = 0;
  ck_assert_ptr_null(gclzone_aligned_alloc(1 << 20, 1 << 20));
  ck_assert_int_eq(errno, ENOMEM);
  ck_assert_ptr_eq(gclzone_sbrk(8 * MiB), gclzone_heap_bounds().base); /* the host heap is untouched */
  for (int i = 0; i < n; i++) gclzone_free(got[i]);
  void *p = gclzone_malloc(10 * MiB);
  ck_assert_ptr_nonnull(p);
  gclzone_free(p);
}
END_TEST

Suite *suite_api(void) {
  Suite *s = suite_create("api");
  TCase *t = tcase_create("conformance");
  tcase_set_timeout(t, 60);
  tcase_add_test(t, huge_requests_fail_with_enomem);
  tcase_add_test(t, calloc_overflow_fails_with_enomem);
  tcase_add_test(t, calloc_zeroes_reused_memory);
  tcase_add_test(t, malloc_zero_is_unique_and_freeable);
  tcase_add_test(t, free_keeps_errno);
  tcase_add_test(t, realloc_contract);
  tcase_add_test(t, large_realloc_grows_in_place);
  tcase_add_test(t, large_realloc_growth_moves_rarely);
  tcase_add_test(t, reallocarray_overflow);
  tcase_add_test(t, posix_memalign_errors);
  tcase_add_test(t, aligned_alloc_and_memalign_rules);
  tcase_add_test(t, aligned_grid);
  tcase_add_test(t, aligned_blocks_take_the_smallest_aligned_class);
  tcase_add_test(t, minimum_alignment_is_16);
  tcase_add_test(t, usable_size_is_stable_and_sufficient);
  tcase_add_test(t, owns_rejects_interior_freed_and_foreign);
  tcase_add_test(t, hundreds_of_mib);
  tcase_add_test(t, exhausted_arena_gives_enomem_then_recovers);
  suite_add_tcase(s, t);
  return s;
}

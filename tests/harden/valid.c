/* valid.c: a valid program's contract (reliability anchors, section 9.4,
 * cases 1-12), for probes --valid: under the hardened mode every check must
 * pass and nothing may stop the process. Prints one line, exits 0 when all
 * passed. */
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "probes.h"

int cxx_valid(void); /* sized.cc */

static int failures, checks;
#define CHECK(x)                                                     \
  do {                                                               \
    checks++;                                                        \
    if (!(x)) failures++, printf("valid: FAIL: %s (line %d)\n", #x, __LINE__); \
  } while (0)

static void *volatile keep;

static int nomem(void *p) {
  int ok = p == NULL && errno == ENOMEM;
  errno = 0;
  return ok;
}

int valid_run(void) {
  /* 1 malloc_huge_enomem */
  errno = 0;
  CHECK(nomem(malloc(SIZE_MAX)));
  CHECK(nomem(malloc(SIZE_MAX - 4096)));
  CHECK(nomem(malloc((size_t)PTRDIFF_MAX + 1)));
  CHECK(nomem(malloc((size_t)1 << 44)));
  /* 2 calloc_overflow */
  CHECK(nomem(calloc(LONG_MAX, 1000)));
  CHECK(nomem(calloc(SIZE_MAX, SIZE_MAX)));
  CHECK(nomem(calloc(65537, SIZE_MAX / 65537 + 1)));
  free(calloc(0, 1000)), free(calloc(1000, 0)), free(calloc(0, 0));
  /* 3 calloc_zeroed_reuse */
  for (int i = 0; i < 50000; i++) {
    size_t n = 5 + (size_t)i % 92, e = 1 + (size_t)(i * 7) % 5;
    unsigned char *p = calloc(n, e);
    CHECK(p != NULL);
    for (size_t k = 0; k < n * e; k++)
      if (p[k]) {
        CHECK(!"calloc gave a nonzero byte");
        break;
      }
    memset(p, 0xff, n * e);
    free(p);
  }
  /* 4 malloc_zero */
  void *z1 = malloc(0), *z2 = malloc(0);
  CHECK(z1 && z2 && z1 != z2);
  free(z1), free(z2);
  /* 5 free_null_errno */
  errno = 1789;
  free(NULL);
  free(malloc(10));
  free(malloc(5 << 20));
  CHECK(errno == 1789);
  errno = 0;
  /* 6 realloc_contract */
  char *p = realloc(NULL, 10);
  CHECK(p != NULL);
  memcpy(p, "012345678", 10);
  p = realloc(p, 5000);
  CHECK(p && !memcmp(p, "012345678", 10));
  p = realloc(p, 3);
  CHECK(p && !memcmp(p, "012", 3));
  CHECK(nomem(realloc(p, SIZE_MAX - 4096)) && !memcmp(p, "012", 3));
  size_t u = malloc_usable_size(p);
  CHECK(u >= 3 && realloc(p, u) == p);
  CHECK(realloc(p, 0) == NULL);
  void *r0 = realloc(NULL, 0);
  CHECK(r0 != NULL);
  free(r0);
  /* 7 reallocarray_overflow */
  char *q = reallocarray(NULL, 2, 8);
  CHECK(q != NULL);
  memcpy(q, "abcdefghijklmno", 16);
  CHECK(nomem(reallocarray(q, SIZE_MAX, 2)) && !memcmp(q, "abcdefghijklmno", 16));
  CHECK(nomem(reallocarray(q, 65537, SIZE_MAX / 65537 + 1)));
  free(q);
  /* 8 posix_memalign_errors */
  void *m = (void *)42;
  CHECK(posix_memalign(&m, 0, 8) == EINVAL && m == (void *)42);
  CHECK(posix_memalign(&m, 3, 8) == EINVAL && m == (void *)42);
  CHECK(posix_memalign(&m, 24, 8) == EINVAL && m == (void *)42);
  CHECK(posix_memalign(&m, 0x300, 8) == EINVAL && m == (void *)42);
  CHECK(posix_memalign(&m, 8, SIZE_MAX) == ENOMEM && m == (void *)42);
  CHECK(posix_memalign(&m, 4096, (size_t)-4096) == ENOMEM && m == (void *)42);
  CHECK(posix_memalign(&m, 64, 0) == 0 && m != (void *)42);
  free(m);
  /* 9 aligned_grid */
  for (size_t a = 1; a <= ((size_t)1 << 20); a <<= 1) {
    size_t sizes[] = {1, 8, 43 + a, a, a + 1, 4097, (size_t)1 << 20};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
      char *b = aligned_alloc(a, sizes[k]);
      CHECK(b && (uintptr_t)b % a == 0 && malloc_usable_size(b) >= sizes[k]);
      if (b) memset(b, 'g', sizes[k]);
      free(b);
      b = memalign(a, sizes[k]);
      CHECK(b && (uintptr_t)b % a == 0);
      if (b) memset(b, 'h', sizes[k]);
      free(b);
    }
  }
  for (size_t a = 16; a <= ((size_t)1 << 16); a <<= 1) { /* size 0 at every alignment */
    void *b = memalign(a, 0);
    CHECK(b && (uintptr_t)b % a == 0);
    free(b);
  }
  errno = 0;
  CHECK(aligned_alloc(24, 48) == NULL && errno == EINVAL);
  char *v = valloc(100), *pv = pvalloc(100);
  CHECK(v && pv && (uintptr_t)v % 4096 == 0 && (uintptr_t)pv % 4096 == 0 && malloc_usable_size(pv) >= 4096);
  memset(v, 1, 100), memset(pv, 1, 4096);
  free(v), free(pv);
  /* 10 min_alignment */
  size_t small[] = {2, 8, 13, 16, 23, 43, 123};
  for (size_t k = 0; k < 7; k++) {
    void *b = malloc(small[k]);
    CHECK((uintptr_t)b % 16 == 0);
    free(b);
  }
  /* 11 usable_size: at least the size, stable, and all of it usable */
  CHECK(malloc_usable_size(NULL) == 0);
  for (size_t n = 1; n < 300000; n = n * 3 + 1) {
    char *b = malloc(n);
    size_t us = malloc_usable_size(b);
    CHECK(us >= n);
    memset(b, 'u', us);
    CHECK(malloc_usable_size(b) == us);
    b = realloc(b, us); /* growing to the usable size does not move it */
    CHECK(malloc_usable_size(b) == us);
    free(b);
  }
  /* 12 interior_not_owned is the misuse probes' (invalid_usable_size_interior). */
  /* And C++ sized deletes with the right sizes. */
  CHECK(cxx_valid() == 0);
  keep = NULL;
  printf("valid: %d checks, %d failed\n", checks, failures);
  return failures ? 1 : 0;
}

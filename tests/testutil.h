/* testutil.h: helpers shared by the unit suites (tests/test_*.c).
 *
 * The unit binary links the core without a front end, so Check and libc use
 * glibc's malloc while the code under test uses the prefixed API. Check runs
 * every test in a forked child, so each test may configure the region anew.
 */
#ifndef GCL_TESTUTIL_H
#define GCL_TESTUTIL_H

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "death.h"
#include "gclzone.h"

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)
#define GiB ((size_t)1 << 30)

/* Suites, one per file. */
Suite *suite_log(void);
Suite *suite_options(void);
Suite *suite_region(void);
Suite *suite_hostheap(void);
Suite *suite_arena(void);
Suite *suite_heap(void);
Suite *suite_api(void);
Suite *suite_stress(void);
Suite *suite_misuse(void);
Suite *suite_introspect(void);
Suite *suite_process(void);
Suite *suite_debug(void);
Suite *suite_prim(void);
Suite *suite_image(void);

/* Does this system move pages without copying (gcl_prim_move: Linux 5.7
 * and later)? */
static inline int os_moves_pages(void) {
#if defined(__linux__)
  struct utsname u;
  int a = 0, b = 0;
  return uname(&u) == 0 && sscanf(u.release, "%d.%d", &a, &b) == 2 && (a > 5 || (a == 5 && b >= 7));
#else
  return 0;
#endif
}

/* Fill n bytes at p with a pattern derived from seed; check it later. */
static inline void fill(void *p, size_t n, uint32_t seed) {
  unsigned char *c = p;
  for (size_t i = 0; i < n; i++) c[i] = (unsigned char)(seed * 131u + i * 7u + (i >> 8));
}
static inline int filled(const void *p, size_t n, uint32_t seed) {
  const unsigned char *c = p;
  for (size_t i = 0; i < n; i++)
    if (c[i] != (unsigned char)(seed * 131u + i * 7u + (i >> 8))) return 0;
  return 1;
}

/* Can the byte at p be read? Asked of the kernel (process_vm_readv on
 * ourselves), not by touching it: no signal, so it works under the
 * sanitizers too, which turn a SIGSEGV into a report of their own. */
static inline int readable(const void *p) {
  char c;
  struct iovec local = {&c, 1}, remote = {(void *)p, 1};
  return syscall(SYS_process_vm_readv, getpid(), &local, 1UL, &remote, 1UL, 0UL) == 1;
}

/* Under ThreadSanitizer (5 to 15 times slower) the long tests do less. */
#if defined(__SANITIZE_THREAD__)
#define GCL_TEST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define GCL_TEST_TSAN 1
#endif
#endif
#ifndef GCL_TEST_TSAN
#define GCL_TEST_TSAN 0
#endif

/* A small region, so exhaustion tests are quick. */
static inline void small_region(size_t heap, size_t arena) {
  gclzone_config_t cfg = {heap, arena, 0, NULL};
  ck_assert_int_eq(gclzone_init(&cfg), 0);
}

/* The death tests (death.h), with Check's asserts. */
static inline int run_captured(void (*fn)(void *), void *arg, char *err, size_t cap) {
  int status = death_run(fn, arg, err, cap);
  ck_assert_int_ne(status, -1);
  return status;
}

/* Assert fn(arg) dies by SIGABRT after printing exactly `fmt`'s line (with
 * %p replaced by the pointer p; NULL: the pointer the child REPORTed). */
static inline void expect_fatal(void (*fn)(void *), void *arg, const char *fmt, const void *p) {
  char why[1600];
  const char *bad = death_verdict(fn, arg, fmt, p, why, sizeof why);
  ck_assert_msg(bad == NULL, "%s", bad);
}

#endif

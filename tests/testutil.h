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
#include <sys/wait.h>
#include <unistd.h>

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

/* A small region, so exhaustion tests are quick. */
static inline void small_region(size_t heap, size_t arena) {
  gclzone_config_t cfg = {heap, arena, 0};
  ck_assert_int_eq(gclzone_init(&cfg), 0);
}

/* Run fn(arg) in a child with stderr captured; return the child's status
 * and copy what it wrote to stderr into err (NUL-terminated). */
static inline int run_captured(void (*fn)(void *), void *arg, char *err, size_t cap) {
  int pipefd[2];
  ck_assert_int_eq(pipe(pipefd), 0);
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    dup2(pipefd[1], 2);
    close(pipefd[0]);
    fn(arg);
    _exit(0);
  }
  close(pipefd[1]);
  size_t n = 0;
  ssize_t r;
  while ((r = read(pipefd[0], err + n, cap - 1 - n)) > 0) n += (size_t)r;
  err[n] = 0;
  close(pipefd[0]);
  int status;
  waitpid(pid, &status, 0);
  return status;
}

/* A pointer the child of run_captured can report to the parent. */
static void **shared_slot(void) {
  static void **slot;
  if (!slot) slot = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  return slot;
}
#define REPORT(p) (*shared_slot() = (void *)(p))

/* Assert fn(arg) dies by SIGABRT after printing exactly `line` (with %p
 * replaced by the pointer; NULL: the pointer the child REPORTed). */
static inline void expect_fatal(void (*fn)(void *), void *arg, const char *fmt, const void *p) {
  char err[1024], want[512], ptr[32];
  *shared_slot() = NULL;
  int status = run_captured(fn, arg, err, sizeof err);
  if (!p) p = *shared_slot();
  snprintf(ptr, sizeof ptr, "%#lx", (unsigned long)(uintptr_t)p);
  const char *at = strstr(fmt, "%p");
  if (at) snprintf(want, sizeof want, "gclzone: fatal: %.*s%s%s\n", (int)(at - fmt), fmt, ptr, at + 2);
  else snprintf(want, sizeof want, "gclzone: fatal: %s\n", fmt);
  ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT, "expected SIGABRT, status %#x, stderr: %s",
                status, err);
  ck_assert_str_eq(err, want);
}

#endif

/* test_process.c: process.c: the first call of every entry point in a fresh
 * process, the lock table and the fork handlers, the front-end descriptor,
 * and start-up failure. */
#define _GNU_SOURCE
#include "testutil.h"
#include "internal.h"

#include <pthread.h>

/* first_call.c's entries: each is the first call of a process that links
 * the core library and never called gclzone_init. */
static const char *const entries[] = {"malloc", "malloc-medium", "malloc-large", "calloc", "calloc-big",
                                      "realloc", "reallocarray", "aligned_alloc", "aligned_alloc-small",
                                      "posix_memalign", "memalign", "valloc", "pvalloc", "sbrk", "brk"};

START_TEST(every_entry_point_initializes) {
  for (size_t i = 0; i < sizeof entries / sizeof entries[0]; i++) {
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
      execl("/proc/self/exe", "unit", "--first-call", entries[i], (char *)NULL);
      _exit(127);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s as the first call: status %#x", entries[i],
                  status);
  }
}
END_TEST

START_TEST(the_core_has_no_front_end) {
  ck_assert_str_eq(gcl_front.name, "none");
  ck_assert(!gcl_front.owns_sbrk);
  ck_assert(!gcl_front.drives_fork);
  /* So nobody chose a base: the OS places the region, not the program break. */
  ck_assert_int_eq(gclzone_init(NULL), 0);
  ck_assert_ptr_ne(gclzone_heap_bounds().base, (void *)gcl_prim_program_break());
}
END_TEST

/* How many of the table's locks another thread finds taken. */
static void *count_taken(void *arg) {
  size_t *taken = arg;
  *taken = 0;
  for (size_t i = 0; i < gcl_process_nlocks; i++) {
    if (gcl_prim_trylock(gcl_process_locks[i])) gcl_prim_unlock(gcl_process_locks[i]);
    else ++*taken;
  }
  return NULL;
}

static size_t taken_by_others(void) {
  size_t taken;
  pthread_t t;
  pthread_create(&t, NULL, count_taken, &taken);
  pthread_join(t, NULL);
  return taken;
}

START_TEST(lock_table_lists_every_lock_once) {
  gcl_lock_t *const known[] = {&gcl_theap_lock, &gcl_theap_orphan_lock, &gcl_span_lock, &gcl_hostheap_lock,
                               &gcl_timeline_lock};
  for (size_t k = 0; k < sizeof known / sizeof known[0]; k++) {
    size_t seen = 0;
    for (size_t i = 0; i < gcl_process_nlocks; i++) seen += gcl_process_locks[i] == known[k];
    ck_assert_uint_eq(seen, 1);
  }
  ck_assert_uint_eq(gcl_process_nlocks, 6); /* and the init lock */
}
END_TEST

START_TEST(fork_prepare_takes_every_lock_and_parent_releases_them) {
  ck_assert_int_eq(gclzone_init(NULL), 0);
  gcl_process_fork_prepare();
  ck_assert_uint_eq(taken_by_others(), gcl_process_nlocks);
  gcl_process_fork_parent();
  ck_assert_uint_eq(taken_by_others(), 0);
}
END_TEST

/* A signal handler that forks while its thread holds a lock: prepare must
 * not wait for itself, and the parent handler must not release what the
 * interrupted code still holds. Nested forks keep their own records. */
START_TEST(fork_prepare_skips_the_callers_own_lock) {
  ck_assert_int_eq(gclzone_init(NULL), 0);
  gcl_prim_lock(&gcl_span_lock);
  gcl_process_fork_prepare(); /* would deadlock if it waited */
  ck_assert_uint_eq(taken_by_others(), gcl_process_nlocks);
  gcl_process_fork_prepare(); /* nested: takes nothing more */
  gcl_process_fork_parent();
  ck_assert_uint_eq(taken_by_others(), gcl_process_nlocks);
  gcl_process_fork_parent();
  ck_assert(gcl_prim_lock_held(&gcl_span_lock));
  ck_assert_uint_eq(taken_by_others(), 1);
  gcl_prim_unlock(&gcl_span_lock);
  ck_assert_uint_eq(taken_by_others(), 0);
}
END_TEST

static void *allocate_and_wait(void *arg) {
  void *p = gclzone_malloc(64);
  __atomic_store_n((int *)arg, 1, __ATOMIC_SEQ_CST);
  while (__atomic_load_n((int *)arg, __ATOMIC_SEQ_CST) != 2) usleep(100);
  gclzone_free(p);
  return NULL;
}

/* The child of a fork from a process with two threads: every lock is free
 * again, only the forking thread's theap is left, and allocation works. */
START_TEST(fork_child_reinitializes) {
  ck_assert_int_eq(gclzone_init(NULL), 0);
  void *mine = gclzone_malloc(32);
  int phase = 0;
  pthread_t t;
  pthread_create(&t, NULL, allocate_and_wait, &phase);
  while (__atomic_load_n(&phase, __ATOMIC_SEQ_CST) != 1) usleep(100);
  ck_assert_uint_eq(gcl_theap_count(), 2);
  pid_t pid = fork(); /* pthread_atfork runs our handlers: no front end drives fork */
  if (pid == 0) {
    int bad = 0;
    for (size_t i = 0; i < gcl_process_nlocks; i++) {
      if (!gcl_prim_trylock(gcl_process_locks[i])) bad |= 1;
      else gcl_prim_unlock(gcl_process_locks[i]);
    }
    if (gcl_theap_count() != 1) bad |= 2;
    void *p = gclzone_malloc(1000);
    if (!gclzone_owns(p) || !gclzone_owns(mine)) bad |= 4;
    gclzone_free(p);
    gclzone_free(mine);
    _exit(bad);
  }
  int status;
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %#x", status);
  __atomic_store_n(&phase, 2, __ATOMIC_SEQ_CST);
  pthread_join(t, NULL);
  ck_assert(gclzone_owns(mine));
}
END_TEST

/* No way to serve malloc: one fatal line with the reason, not NULLs. */
static void start_with_bad_sizes(void *arg) {
  (void)arg;
  setenv("GCLZONE_HEAP_SIZE", "0x400000000000000", 1); /* 2^58: beyond what a part may be */
  REPORT(NULL);
  (void)gclzone_malloc(1);
}

START_TEST(start_up_failure_is_fatal_with_the_reason) {
  char want[160];
  snprintf(want, sizeof want, "cannot reserve the region at %%p: invalid sizes (host heap %zu bytes, arena %zu bytes)",
           (size_t)1 << 58, (size_t)64 << 30);
  expect_fatal(start_with_bad_sizes, NULL, want, NULL);
}
END_TEST

Suite *suite_process(void) {
  Suite *s = suite_create("process");
  TCase *t = tcase_create("process");
  tcase_set_timeout(t, 60);
  tcase_add_test(t, every_entry_point_initializes);
  tcase_add_test(t, the_core_has_no_front_end);
  tcase_add_test(t, lock_table_lists_every_lock_once);
  tcase_add_test(t, fork_prepare_takes_every_lock_and_parent_releases_them);
  tcase_add_test(t, fork_prepare_skips_the_callers_own_lock);
  tcase_add_test(t, fork_child_reinitializes);
  tcase_add_test(t, start_up_failure_is_fatal_with_the_reason);
  suite_add_tcase(s, t);
  return s;
}

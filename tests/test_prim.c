/* test_prim.c: prim_posix.c keeps prim.h's contract on this system. */
#define _GNU_SOURCE
#include "testutil.h"
#include "internal.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <time.h>

static size_t page(void) {
  return gcl_prim_page_size();
}

START_TEST(page_size_is_the_systems) {
  ck_assert_uint_eq(page(), (size_t)sysconf(_SC_PAGESIZE));
}
END_TEST

/* exact: at the hint or EEXIST, and an existing mapping is never replaced. */
START_TEST(reserve_exactly_or_not_at_all) {
  void *p; /* a window of 256 free pages, released so that the test can place things in it */
  ck_assert_int_eq(gcl_prim_reserve(256 * page(), 0, false, &p), 0);
  ck_assert_int_eq(gcl_prim_release(p, 256 * page()), 0);
  void *q;
  ck_assert_int_eq(gcl_prim_reserve(64 * page(), (uintptr_t)p, true, &q), 0);
  ck_assert_ptr_eq(q, p);
  char *mine = mmap((char *)p + 128 * page(), page(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
                    -1, 0);
  ck_assert(mine != MAP_FAILED);
  mine[0] = 42;
  void *r = NULL;
  ck_assert_int_eq(gcl_prim_reserve(64 * page(), (uintptr_t)p + 100 * page(), true, &r), EEXIST);
  ck_assert_int_eq(mine[0], 42); /* still there, still ours */
  ck_assert_int_eq(gcl_prim_reserved(q, 64 * page()), 0); /* all ours */
  char *over = mmap((char *)q + 10 * page(), page(), PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  ck_assert_ptr_eq(over, (char *)q + 10 * page());
  ck_assert_int_eq(gcl_prim_reserved(q, 64 * page()), EEXIST);    /* someone's page inside */
  ck_assert_int_eq(gcl_prim_reserved(q, 10 * page()), 0);         /* below it: still ours */
  munmap((char *)q + 20 * page(), page());
  ck_assert_int_eq(gcl_prim_reserved((char *)q + 11 * page(), 20 * page()), EEXIST); /* a hole */
  ck_assert_int_eq(gcl_prim_reserved((char *)q + 21 * page(), 40 * page()), 0);
  munmap(mine, page());
  gcl_prim_release(q, 64 * page());
}
END_TEST

static void touch(void *p) {
  *(volatile char *)p = 1;
}

/* commit: readable, writable, zero; decommit: gone and inaccessible, zero
 * again when committed anew; purge: zero, still accessible. */
START_TEST(commit_decommit_purge) {
  void *r;
  size_t n = 16 * page();
  ck_assert_int_eq(gcl_prim_reserve(n, 0, false, &r), 0);
  char *p = r;
  ck_assert(!readable(p)); /* reserved is not committed */
  ck_assert_int_eq(gcl_prim_commit(p, n), 0);
  for (size_t i = 0; i < n; i++) ck_assert_int_eq(p[i], 0);
  memset(p, 7, n);
  ck_assert_int_eq(gcl_prim_purge(p, 8 * page()), 0);
  for (size_t i = 0; i < 8 * page(); i++) ck_assert_int_eq(p[i], 0);
  ck_assert_int_eq(p[8 * page()], 7);
  p[0] = 9; /* still accessible after a purge */
  ck_assert_int_eq(gcl_prim_decommit(p + 8 * page(), 8 * page()), 0);
  ck_assert(!readable(p + 8 * page()));
  touch(p + 7 * page());
  ck_assert_int_eq(gcl_prim_commit(p + 8 * page(), 8 * page()), 0);
  ck_assert_int_eq(p[8 * page()], 0);
  gcl_prim_release(r, n);
}
END_TEST

/* move: on Linux 5.7 and later the pages go to `to` uncopied and `from`
 * reads as zero and stays writable; after purge_by_remap (a region of file
 * mappings) there are no moves. */
START_TEST(move_takes_the_pages_and_leaves_zeros) {
  void *r;
  size_t n = 32 * page();
  ck_assert_int_eq(gcl_prim_reserve(n, 0, false, &r), 0);
  char *p = r;
  ck_assert_int_eq(gcl_prim_commit(p, n), 0);
  fill(p, 8 * page(), 5);
  memset(p + 16 * page(), 'd', 12 * page());
  int rc = gcl_prim_move(p, p + 16 * page(), 8 * page());
  if (!os_moves_pages()) {
    ck_assert_int_eq(rc, ENOTSUP);
    ck_assert(filled(p, 8 * page(), 5));
  } else {
    ck_assert_int_eq(rc, 0);
    ck_assert(filled(p + 16 * page(), 8 * page(), 5));
    for (size_t i = 0; i < 4 * page(); i++) ck_assert_int_eq(p[24 * page() + i], 'd'); /* past the move: kept */
    for (size_t i = 0; i < 8 * page(); i++) ck_assert_int_eq(p[i], 0);
    p[0] = 1; /* still accessible */
  }
  gcl_prim_purge_by_remap();
  ck_assert_int_eq(gcl_prim_move(p + 16 * page(), p, 8 * page()), ENOTSUP);
  if (!rc) ck_assert(filled(p + 16 * page(), 8 * page(), 5));
  gcl_prim_release(r, n);
}
END_TEST

/* A process with more kernel mappings than prim_posix.c's limit (8192) gets
 * no move (ENOSPC, nothing changed); once they are gone, a move is allowed
 * again within a batch (256) of refusals. */
START_TEST(no_move_when_the_mappings_are_many) {
  if (!os_moves_pages()) return;
  size_t many = 8400, len = 2 * many * page();
  char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  ck_assert(m != MAP_FAILED);
  for (size_t i = 0; i < many; i++) ck_assert_int_eq(mprotect(m + 2 * i * page(), page(), PROT_READ), 0);
  void *r;
  ck_assert_int_eq(gcl_prim_reserve(16 * page(), 0, false, &r), 0);
  char *p = r;
  ck_assert_int_eq(gcl_prim_commit(p, 16 * page()), 0);
  fill(p, 4 * page(), 7);
  ck_assert_int_eq(gcl_prim_move(p, p + 8 * page(), 4 * page()), ENOSPC);
  ck_assert(filled(p, 4 * page(), 7));
  munmap(m, len);
  int tries = 0;
  while (gcl_prim_move(p, p + 8 * page(), 4 * page()) == ENOSPC) ck_assert_int_le(++tries, 256);
  ck_assert(filled(p + 8 * page(), 4 * page(), 7));
  gcl_prim_release(r, 16 * page());
}
END_TEST

/* The reads of /proc/self/maps that malloc may make (region.c's growth
 * check, the move budget) are no cancellation points: a thread with a
 * cancellation pending comes back from both, and is cancelled only at the
 * next real one. */
static volatile int cancel_go, cancel_came_back;
static void *reader_with_cancel_pending(void *arg) {
  char *p = arg;
  while (!__atomic_load_n(&cancel_go, __ATOMIC_ACQUIRE)) {
  }
  int reserved = gcl_prim_reserved(p + 8 * page(), 8 * page());
  int moved = gcl_prim_move(p, p + 4 * page(), 4 * page());
  if (reserved == 0 && (moved == 0 || moved == ENOTSUP)) cancel_came_back = 1;
  pthread_testcancel();
  return NULL;
}

START_TEST(reading_the_maps_is_no_cancellation_point) {
  void *r;
  ck_assert_int_eq(gcl_prim_reserve(16 * page(), 0, false, &r), 0);
  ck_assert_int_eq(gcl_prim_commit(r, 8 * page()), 0);
  pthread_t t;
  ck_assert_int_eq(pthread_create(&t, NULL, reader_with_cancel_pending, r), 0);
  ck_assert_int_eq(pthread_cancel(t), 0); /* pending: the thread is spinning, at no cancellation point */
  __atomic_store_n(&cancel_go, 1, __ATOMIC_RELEASE);
  void *res;
  ck_assert_int_eq(pthread_join(t, &res), 0);
  ck_assert_ptr_eq(res, PTHREAD_CANCELED);
  ck_assert_int_eq(cancel_came_back, 1);
  gcl_prim_release(r, 16 * page());
}
END_TEST

/* read: a copy without a signal, EFAULT for what is not readable, errno kept. */
START_TEST(read_never_faults) {
  char src[64], dst[64];
  for (int i = 0; i < 64; i++) src[i] = (char)i;
  errno = 1234;
  ck_assert_int_eq(gcl_prim_read(src, dst, sizeof dst), 0);
  ck_assert_int_eq(memcmp(src, dst, sizeof dst), 0);
  char *gone = mmap(NULL, 2 * page(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  munmap(gone + page(), page());
  ck_assert_int_eq(gcl_prim_read(gone + page() - 8, dst, 16), EFAULT); /* straddles into the hole */
  ck_assert_int_eq(gcl_prim_read((void *)16, dst, 8), EFAULT);
  ck_assert_int_eq(errno, 1234);
  munmap(gone, page());
}
END_TEST

START_TEST(dup_fd_is_high_and_close_on_exec) {
  errno = 77;
  int fd = gcl_prim_dup_fd(2);
  ck_assert_int_ge(fd, 3);
  ck_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
  ck_assert_int_eq(errno, 77);
  close(fd);
  ck_assert_int_eq(gcl_prim_dup_fd(-1), -1);
}
END_TEST

START_TEST(write_writes_everything_and_keeps_errno) {
  int fds[2];
  ck_assert_int_eq(pipe(fds), 0);
  static char big[60000];
  memset(big, 'x', sizeof big);
  if (fork() == 0) {
    close(fds[0]);
    errno = 55;
    gcl_prim_write(fds[1], big, sizeof big);
    _exit(errno == 55 ? 0 : 1);
  }
  close(fds[1]);
  size_t got = 0;
  ssize_t r;
  char buf[4096];
  while ((r = read(fds[0], buf, sizeof buf)) > 0) got += (size_t)r;
  int st;
  wait(&st);
  ck_assert_uint_eq(got, sizeof big);
  ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}
END_TEST

START_TEST(random_and_clock) {
  uint64_t a = gcl_prim_random(), b = gcl_prim_random();
  ck_assert(a != b);
  uint64_t t0 = gcl_prim_clock_ms();
  usleep(30000);
  uint64_t t1 = gcl_prim_clock_ms();
  ck_assert_uint_ge(t1, t0 + 20);
  ck_assert_uint_lt(t1, t0 + 5000);
}
END_TEST

START_TEST(program_break_is_the_kernels) {
  uintptr_t b = (uintptr_t)sbrk(0); /* the unit binary has no front end: glibc's sbrk */
  ck_assert_uint_eq(gcl_prim_program_break(), gcl_align_up(b, page()));
}
END_TEST

START_TEST(environ_is_the_processes) {
  setenv("GCLZONE_TEST_PRIM", "yes", 1);
  int found = 0;
  for (char **e = gcl_prim_environ(); e && *e; e++) found |= !strcmp(*e, "GCLZONE_TEST_PRIM=yes");
  ck_assert(found);
}
END_TEST

static void *thread_facts(void *arg) {
  uintptr_t *out = arg;
  out[0] = gcl_prim_thread_self();
  out[1] = (uintptr_t)gcl_prim_tid();
  out[2] = (uintptr_t)syscall(SYS_gettid);
  return NULL;
}

START_TEST(thread_words_and_ids) {
  uintptr_t other[3];
  pthread_t t;
  pthread_create(&t, NULL, thread_facts, other);
  pthread_join(t, NULL);
  ck_assert_uint_ne(gcl_prim_thread_self(), 0);
  ck_assert_uint_ne(other[0], gcl_prim_thread_self());
  ck_assert_uint_eq(other[1], other[2]);
  ck_assert_int_eq(gcl_prim_tid(), (int)syscall(SYS_gettid));
  if (fork() == 0) { /* the cached id is the parent's until reset */
    gcl_prim_tid_reset();
    _exit(gcl_prim_tid() == (int)syscall(SYS_gettid) ? 0 : 1);
  }
  int st;
  wait(&st);
  ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}
END_TEST

static gcl_lock_t lock = GCL_LOCK_INIT;
static long counter;

static void *contend(void *arg) {
  (void)arg;
  for (int i = 0; i < 200000; i++) {
    gcl_prim_lock(&lock);
    counter++;
    gcl_prim_unlock(&lock);
  }
  return NULL;
}

static void *try_it(void *arg) {
  *(bool *)arg = gcl_prim_trylock(&lock);
  return NULL;
}

START_TEST(locks_exclude_and_know_their_holder) {
  pthread_t t[4];
  for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, contend, NULL);
  for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
  ck_assert_int_eq(counter, 800000);
  gcl_prim_lock(&lock);
  ck_assert(gcl_prim_lock_held(&lock));
  bool got = true;
  pthread_create(&t[0], NULL, try_it, &got);
  pthread_join(t[0], NULL);
  ck_assert(!got);
  gcl_prim_unlock(&lock);
  ck_assert(!gcl_prim_lock_held(&lock));
  gcl_prim_lock(&lock);
  gcl_prim_lock_reinit(&lock); /* a fork child's: free again */
  ck_assert(gcl_prim_trylock(&lock));
  gcl_prim_unlock(&lock);
}
END_TEST

Suite *suite_prim(void) {
  Suite *s = suite_create("prim");
  TCase *t = tcase_create("prim");
  tcase_set_timeout(t, 60);
  tcase_add_test(t, page_size_is_the_systems);
  tcase_add_test(t, reserve_exactly_or_not_at_all);
  tcase_add_test(t, commit_decommit_purge);
  tcase_add_test(t, move_takes_the_pages_and_leaves_zeros);
  tcase_add_test(t, no_move_when_the_mappings_are_many);
  tcase_add_test(t, reading_the_maps_is_no_cancellation_point);
  tcase_add_test(t, read_never_faults);
  tcase_add_test(t, dup_fd_is_high_and_close_on_exec);
  tcase_add_test(t, write_writes_everything_and_keeps_errno);
  tcase_add_test(t, random_and_clock);
  tcase_add_test(t, program_break_is_the_kernels);
  tcase_add_test(t, environ_is_the_processes);
  tcase_add_test(t, thread_words_and_ids);
  tcase_add_test(t, locks_exclude_and_know_their_holder);
  suite_add_tcase(s, t);
  return s;
}

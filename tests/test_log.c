/* test_log.c: the formatter and the fatal-message funnel (log.c). */
#include "testutil.h"
#include "internal.h"

START_TEST(fmt_conversions) {
  char b[128];
  ck_assert_uint_eq(gcl_log_fmt(b, sizeof b, "a%sb", "xyz"), 5);
  ck_assert_str_eq(b, "axyzb");
  gcl_log_fmt(b, sizeof b, "%d %d %ld", 0, -42, -9000000000L);
  ck_assert_str_eq(b, "0 -42 -9000000000");
  gcl_log_fmt(b, sizeof b, "%zu %zx %lu", (size_t)18446744073709551615u, (size_t)255, 7ul);
  ck_assert_str_eq(b, "18446744073709551615 ff 7");
  gcl_log_fmt(b, sizeof b, "%p %p", (void *)0x7f00dead0010, NULL);
  ck_assert_str_eq(b, "0x7f00dead0010 0x0");
  gcl_log_fmt(b, sizeof b, "%s %c 100%%", (char *)NULL, 'q');
  ck_assert_str_eq(b, "(null) q 100%");
  gcl_log_fmt(b, sizeof b, "[%10zu][%3d][%5s][%2zu]", (size_t)135168, -7, "ab", (size_t)12345);
  ck_assert_str_eq(b, "[    135168][ -7][   ab][12345]");
}
END_TEST

START_TEST(fmt_truncates) {
  char b[8];
  ck_assert_uint_eq(gcl_log_fmt(b, sizeof b, "%s", "0123456789"), 10);
  ck_assert_str_eq(b, "0123456");
  ck_assert_uint_eq(gcl_log_fmt(b, sizeof b, "%zu", (size_t)123456789), 9);
  ck_assert_str_eq(b, "1234567");
  ck_assert_uint_eq(gcl_log_fmt(b, sizeof b, "%10zu", (size_t)42), 10); /* padding, cut at the end */
  ck_assert_str_eq(b, "       ");
  ck_assert_uint_eq(gcl_log_fmt(b, sizeof b, "x%9zu", (size_t)12345), 10);
  ck_assert_str_eq(b, "x    12");
}
END_TEST

static void die_assert(void *arg) {
  (void)arg;
  gcl_log_fatal(GCL_FATAL_OS, (void *)0x1000, "madvise");
}

START_TEST(fatal_is_one_line_and_aborts) {
  expect_fatal(die_assert, NULL, "the system refused memory at %p: madvise", (void *)0x1000);
}
END_TEST

static void write_after_stderr_closed(void *arg) {
  (void)arg;
  int saved = errno = 1789;
  gcl_log_printf(77, "nowhere %d\n", 1); /* a closed descriptor: ignored */
  if (errno != saved) _exit(3);
  _exit(0);
}

START_TEST(output_keeps_errno) {
  char err[64];
  int status = run_captured(write_after_stderr_closed, NULL, err, sizeof err);
  ck_assert(WIFEXITED(status));
  ck_assert_int_eq(WEXITSTATUS(status), 0);
}
END_TEST

Suite *suite_log(void) {
  Suite *s = suite_create("log");
  TCase *t = tcase_create("log");
  tcase_add_test(t, fmt_conversions);
  tcase_add_test(t, fmt_truncates);
  tcase_add_test(t, fatal_is_one_line_and_aborts);
  tcase_add_test(t, output_keeps_errno);
  suite_add_tcase(s, t);
  return s;
}

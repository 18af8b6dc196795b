/* test_options.c: the options table and its parser (options.c). */
#include "testutil.h"
#include "internal.h"

START_TEST(parse_sizes) {
  uint64_t v;
  ck_assert_int_eq(gcl_options_parse('s', "0", &v), 0);
  ck_assert_uint_eq(v, 0);
  ck_assert_int_eq(gcl_options_parse('s', "4096", &v), 0);
  ck_assert_uint_eq(v, 4096);
  ck_assert_int_eq(gcl_options_parse('s', "16k", &v), 0);
  ck_assert_uint_eq(v, 16 * KiB);
  ck_assert_int_eq(gcl_options_parse('s', "3M", &v), 0);
  ck_assert_uint_eq(v, 3 * MiB);
  ck_assert_int_eq(gcl_options_parse('s', "2GiB", &v), 0);
  ck_assert_uint_eq(v, 2 * GiB);
  ck_assert_int_eq(gcl_options_parse('s', "1TB", &v), 0);
  ck_assert_uint_eq(v, (uint64_t)1 << 40);
  ck_assert_int_eq(gcl_options_parse('s', "0x10000", &v), 0);
  ck_assert_uint_eq(v, 0x10000);
  ck_assert_int_eq(gcl_options_parse('s', "", &v), EINVAL);
  ck_assert_int_eq(gcl_options_parse('s', "12q", &v), EINVAL);
  ck_assert_int_eq(gcl_options_parse('s', "-1", &v), EINVAL);
  ck_assert_int_eq(gcl_options_parse('s', "99999999999999999999", &v), ERANGE);
  ck_assert_int_eq(gcl_options_parse('s', "20000000T", &v), ERANGE);
  ck_assert_int_eq(gcl_options_parse('n', "5k", &v), EINVAL); /* numbers take no unit */
  ck_assert_int_eq(gcl_options_parse('a', "0x200000000000", &v), 0);
  ck_assert_uint_eq(v, 0x200000000000);
  ck_assert_int_eq(gcl_options_parse('a', "brk", &v), 0);
  ck_assert_uint_eq(v, GCLZONE_BASE_BRK);
  ck_assert_int_eq(gcl_options_parse('a', "brk0", &v), EINVAL);
  ck_assert_int_eq(gcl_options_parse('s', "brk", &v), EINVAL); /* only an address may be brk */
}
END_TEST

START_TEST(load_reads_only_our_variables) {
  const char *env[] = {"PATH=/bin", "GCLZONE_HEAP_SIZE=1G", "GCLZONE_ARENA_SIZE_X=5", "GCLZONE_SHOW_STATS=2",
                 "XGCLZONE_SBRK=0", "GCLZONE_BASE=0x300000000000", "GCLZONE_PURGE_DELAY=0", NULL};
  gcl_options_load(env);
  ck_assert_uint_eq(gcl_options.heap_size, GiB);
  ck_assert_uint_eq(gcl_options.arena_size, (size_t)64 << 30); /* default: ARENA_SIZE_X is not ARENA_SIZE */
  ck_assert_int_eq(gcl_options.show_stats, 2);
  ck_assert_int_eq(gcl_options.sbrk, 1);
  ck_assert_uint_eq(gcl_options.base, 0x300000000000);
  ck_assert_int_eq(gcl_options.purge_delay_ms, 0);
}
END_TEST

static void load_bad(void *arg) {
  (void)arg;
  const char *env[] = {"GCLZONE_DIRTY_MAX=lots", NULL};
  gcl_options_load(env);
  _exit(gcl_options.dirty_max == (size_t)64 << 20 ? 0 : 1);
}

START_TEST(bad_value_is_reported_and_ignored) {
  char err[256];
  int status = run_captured(load_bad, NULL, err, sizeof err);
  ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  ck_assert_str_eq(err, "gclzone: warning: ignoring GCLZONE_DIRTY_MAX=lots: not a valid size\n");
}
END_TEST

/* Every option in the table is documented in the README's options table. */
START_TEST(readme_documents_every_option) {
  FILE *f = fopen("README.md", "r");
  ck_assert_msg(f != NULL, "run from the repository root");
  static char text[1 << 18];
  size_t n = fread(text, 1, sizeof text - 1, f);
  text[n] = 0;
  fclose(f);
  for (size_t i = 0; i < gcl_options_count; i++) {
    char want[64];
    snprintf(want, sizeof want, "| `GCLZONE_%s`", gcl_options_table[i].name);
    ck_assert_msg(strstr(text, want), "README lacks a row for GCLZONE_%s", gcl_options_table[i].name);
  }
}
END_TEST

Suite *suite_options(void) {
  Suite *s = suite_create("options");
  TCase *t = tcase_create("options");
  tcase_add_test(t, parse_sizes);
  tcase_add_test(t, load_reads_only_our_variables);
  tcase_add_test(t, bad_value_is_reported_and_ignored);
  tcase_add_test(t, readme_documents_every_option);
  suite_add_tcase(s, t);
  return s;
}

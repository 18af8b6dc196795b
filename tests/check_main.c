/* check_main.c: runs the unit suites. `unit --fast` leaves out the slow
 * ones (make check-unit); CK_FORK=no runs them in-process; `unit
 * --first-call NAME` is first_call.c's fresh process. */
#include "testutil.h"

int gcl_test_first_call(int argc, char **argv);

static const struct {
  Suite *(*make)(void);
  int slow;
} suites[] = {
  {suite_log, 0},     {suite_options, 0}, {suite_region, 0}, {suite_hostheap, 0}, {suite_arena, 0},
  {suite_heap, 0},    {suite_api, 0},     {suite_process, 0}, {suite_debug, 0},  {suite_prim, 0},
  {suite_introspect, 0}, {suite_misuse, 0}, {suite_image, 0}, {suite_stress, 1},
};

int main(int argc, char **argv) {
  int first = gcl_test_first_call(argc, argv); /* first_call.c: a fresh process's first call */
  if (first >= 0) return first;
  int fast = argc > 1 && !strcmp(argv[1], "--fast");
  SRunner *sr = NULL;
  for (size_t i = 0; i < sizeof suites / sizeof suites[0]; i++) {
    if (fast && suites[i].slow) continue;
    if (!sr) sr = srunner_create(suites[i].make());
    else srunner_add_suite(sr, suites[i].make());
  }
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* check_main.c: runs every unit suite. CK_FORK=no runs them in-process. */
#include "testutil.h"

int main(void) {
  SRunner *sr = srunner_create(suite_log());
  srunner_add_suite(sr, suite_options());
  srunner_add_suite(sr, suite_region());
  srunner_add_suite(sr, suite_hostheap());
  srunner_add_suite(sr, suite_arena());
  srunner_add_suite(sr, suite_heap());
  srunner_add_suite(sr, suite_api());
  srunner_add_suite(sr, suite_stress());
  srunner_add_suite(sr, suite_introspect());
  srunner_add_suite(sr, suite_misuse());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

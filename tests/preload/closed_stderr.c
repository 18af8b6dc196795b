/* closed_stderr.c: the program closes stderr before it exits; with
 * GCLZONE_SHOW_STATS=1 the report still arrives (on a descriptor libgclzone
 * duplicated at init). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(void) {
  for (int i = 0; i < 100; i++) free(malloc(100));
  char *keep = malloc(5000);
  memset(keep, 1, 5000);
  close(2);
  return keep[0] - 1;
}

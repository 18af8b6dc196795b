/* hello.c: the smallest program to run under libgclzone. It knows nothing
 * of it; preloading puts every malloc of the process in the gclzone arena:
 *
 *   GCLZONE_SHOW_STATS=1 LD_PRELOAD=build/libgclzone.so build/examples/hello
 *   bin/gclzone-run --stats build/examples/hello          (the same)
 *
 * It keeps 1000 blocks until it exits, so the report counts them.
 */
#include <stdio.h>
#include <stdlib.h>

struct node {
  struct node *next;
  char text[40];
};

int main(void) {
  struct node *list = NULL;
  for (int i = 0; i < 1000; i++) {
    struct node *n = malloc(sizeof *n);
    if (!n) return 1;
    snprintf(n->text, sizeof n->text, "block %d", i);
    n->next = list;
    list = n;
  }
  printf("hello: 1000 blocks of %zu bytes kept; the last one says \"%s\"\n", sizeof *list, list->text);
  return 0;
}

/* misuse.c CASE MESSAGE: commit one heap misuse under LD_PRELOAD=libgclzone.so
 * in a child process, and check that the child dies by SIGABRT after writing
 * exactly one line, "gclzone: fatal: MESSAGE", with %p in MESSAGE standing
 * for the pointer it misused. Exit 0 when it did, 1 otherwise. Built with
 * -O0 and -fno-builtin so that the compiler keeps every misuse as written. */
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../death.h"

static void *volatile sink;

/* Record the pointer about to be misused (before any free: it must not
 * allocate, or it could reuse the block just freed). */
static void *show(void *p) {
  REPORT(p);
  return p;
}

static void *free_it(void *p) {
  free(p);
  return NULL;
}

static int misuse(const char *c) {
  char *p = malloc(64), *q = malloc(64), *big = malloc(1 << 20), *mid = malloc(100000);
  char local[64];
  sink = local;
  memset(p, 1, 64);
  if (!strcmp(c, "double_free_small")) { free(show(p)); free(p); }
  else if (!strcmp(c, "double_free_medium")) { free(show(mid)); free(mid); }
  else if (!strcmp(c, "double_free_large")) { free(show(big)); free(big); }
  else if (!strcmp(c, "double_free_interleaved")) { free(show(p)); free(q); free(p); }
  else if (!strcmp(c, "double_free_other_thread")) {
    pthread_t t;
    free(show(p));
    pthread_create(&t, NULL, free_it, p);
    pthread_join(t, NULL);
  }
  else if (!strcmp(c, "free_interior_1")) free(show(p + 1));
  else if (!strcmp(c, "free_interior_16")) free(show(p + 16));
  else if (!strcmp(c, "free_interior_large")) free(show(big + 4096));
  else if (!strcmp(c, "free_stack")) free(show(local + 16));
  else if (!strcmp(c, "free_one")) free(show((void *)1));
  else if (!strcmp(c, "free_mmap_page")) {
    char *m = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    free(show(m + 4096));
  }
  else if (!strcmp(c, "free_never_handed_out")) free(show(p + 64 * 200));
  else if (!strcmp(c, "free_far")) free(show(p + (1ul << 30)));
  else if (!strcmp(c, "realloc_interior")) sink = realloc(show(p + 16), 100);
  else if (!strcmp(c, "realloc_stack")) sink = realloc(show(local), 100);
  else if (!strcmp(c, "realloc_one")) sink = realloc(show((void *)1), 100);
  else if (!strcmp(c, "realloc_freed")) { show(p); free(p); sink = realloc(p, 100); }
  else if (!strcmp(c, "usable_size_interior")) sink = (void *)malloc_usable_size(show(p + 16));
  else if (!strcmp(c, "usable_size_stack")) sink = (void *)malloc_usable_size(show(local + 32));
  else if (!strcmp(c, "usable_size_freed")) { show(big); free(big); sink = (void *)malloc_usable_size(big); }
  /* Writes after free: caught by GCLZONE_CHECK's validator, or by a SECURE
   * build when the forged link is followed. */
  else if (!strcmp(c, "write_after_free_link")) {
    show(p);
    free(p);
    *(void **)p = local;
    for (int i = 0; i < 500; i++) sink = malloc(64);
  }
  else if (!strcmp(c, "write_after_free_tag")) {
    show(p);
    free(p);
    ((uintptr_t *)p)[1] = 12345;
    for (int i = 0; i < 500; i++) sink = malloc(64);
  }
  else return 2;
  return 0; /* survived */
}

static const char *the_case;

static void run_case(void *arg) {
  (void)arg;
  _exit(misuse(the_case));
}

int main(int argc, char **argv) {
  if (argc != 3 || !death_slot()) return 2;
  the_case = argv[1];
  char why[1600];
  const char *bad = death_verdict(run_case, NULL, argv[2], NULL, why, sizeof why);
  if (bad) printf("%s: %s\n", argv[1], bad);
  return bad ? 1 : 0;
}

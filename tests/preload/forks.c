/* forks.c: fork from several threads while other threads allocate; every
 * child allocates (small, medium and large blocks, realloc), frees, and
 * exits 17; the forking thread checks each status. After
 * glibc's tst-malloc-fork-deadlock and jemalloc's test/unit/fork.c. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHURNERS 3
#define FORKERS 2
#define FORKS 150

static volatile int stop;
static int failed;

static void *churn(void *arg) {
  unsigned x = (unsigned)(uintptr_t)arg;
  void *keep[64] = {0};
  while (!stop) {
    x = x * 1103515245u + 12345u;
    unsigned k = (x >> 8) % 64;
    free(keep[k]);
    keep[k] = malloc((x >> 16) % (k == 0 ? 3000000 : 70000));
  }
  for (int i = 0; i < 64; i++) free(keep[i]);
  return NULL;
}

static void *forker(void *arg) {
  (void)arg;
  for (int i = 0; i < FORKS; i++) {
    pid_t pid = fork();
    if (pid == 0) {
      char *p = malloc(1000);
      memset(p, 1, 1000);
      char *q = realloc(p, 100000);
      if (!q || q[999] != 1) _exit(1);
      free(q);
      free(malloc(3 << 20));
      _exit(17);
    }
    int status;
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 17)
      __atomic_store_n(&failed, 1, __ATOMIC_RELAXED);
  }
  return NULL;
}

int main(void) {
  pthread_t c[CHURNERS], f[FORKERS];
  for (long i = 0; i < CHURNERS; i++) pthread_create(&c[i], NULL, churn, (void *)(i + 1));
  for (int i = 0; i < FORKERS; i++) pthread_create(&f[i], NULL, forker, NULL);
  for (int i = 0; i < FORKERS; i++) pthread_join(f[i], NULL);
  stop = 1;
  for (int i = 0; i < CHURNERS; i++) pthread_join(c[i], NULL);
  if (failed) {
    puts("forks: a child failed");
    return 1;
  }
  printf("forks: %d children from %d threads ok while %d threads allocated\n", FORKERS * FORKS, FORKERS, CHURNERS);
  return 0;
}

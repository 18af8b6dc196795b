/* forks.c: fork while other threads allocate; every child allocates and
 * frees, then exits 17; the parent checks each status. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile int stop;

static void *churn(void *arg) {
  unsigned x = (unsigned)(uintptr_t)arg;
  void *keep[64] = {0};
  while (!stop) {
    x = x * 1103515245u + 12345u;
    unsigned k = (x >> 8) % 64;
    free(keep[k]);
    keep[k] = malloc((x >> 16) % 70000);
  }
  for (int i = 0; i < 64; i++) free(keep[i]);
  return NULL;
}

int main(void) {
  pthread_t t[3];
  for (long i = 0; i < 3; i++) pthread_create(&t[i], NULL, churn, (void *)(i + 1));
  int forks = 0;
  for (int i = 0; i < 200; i++) {
    pid_t pid = fork();
    if (pid == 0) {
      char *p = malloc(1000);
      memset(p, 1, 1000);
      void *q = realloc(p, 100000);
      free(q);
      free(malloc(3 << 20));
      _exit(17);
    }
    int status;
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 17) {
      printf("forks: child %d failed\n", i);
      return 1;
    }
    forks++;
  }
  stop = 1;
  for (int i = 0; i < 3; i++) pthread_join(t[i], NULL);
  printf("forks: %d children ok\n", forks);
  return 0;
}

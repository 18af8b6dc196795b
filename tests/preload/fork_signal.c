/* fork_signal.c: a single thread allocates and frees in a loop while other
 * processes send it SIGUSR1 as fast as they can; the handler forks, and the
 * child allocates and frees before _exit(0). The fork often interrupts
 * malloc or free on the same thread: a fork handler that waits for the
 * allocator's locks would deadlock here (jemalloc does). After glibc's
 * tst-mallocfork2. Runs for a fixed time; prints how many forks it made.
 * argv[1]: the fewest malloc/free pairs that count as a run (10000; the
 * hardened mode's pairs cost far more, tests/harden.sh asks for fewer). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SENDERS 3
#define SECONDS 2

static volatile sig_atomic_t forks, bad;

static void handler(int sig) {
  (void)sig;
  pid_t pid = fork();
  if (pid == 0) {
    void *p = malloc(100), *q = malloc(200000);
    memset(p, 1, 100);
    free(q);
    free(p);
    _exit(0);
  }
  int status;
  if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) bad = 1;
  forks++;
}

int main(int argc, char **argv) {
  unsigned min_loops = argc > 1 ? (unsigned)atoi(argv[1]) : 10000;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = handler;
  sigaction(SIGUSR1, &sa, NULL);
  pid_t me = getpid(), senders[SENDERS];
  for (int i = 0; i < SENDERS; i++) {
    senders[i] = fork();
    if (senders[i] == 0) {
      for (;;) {
        kill(me, SIGUSR1);
        usleep(1000);
      }
    }
  }
  time_t end = time(NULL) + SECONDS;
  unsigned x = 1, loops = 0;
  void *keep[32] = {0};
  while (time(NULL) < end) {
    x = x * 1103515245u + 12345u;
    unsigned k = (x >> 8) % 32;
    free(keep[k]);
    keep[k] = malloc((x >> 12) % 70000);
    loops++;
  }
  for (int i = 0; i < SENDERS; i++) kill(senders[i], SIGKILL), waitpid(senders[i], NULL, 0);
  signal(SIGUSR1, SIG_IGN);
  for (int i = 0; i < 32; i++) free(keep[i]);
  if (bad || forks < 100 || loops < min_loops) {
    printf("fork_signal: %d forks, %u pairs, a child failed: %d\n", (int)forks, loops, (int)bad);
    return 1;
  }
  printf("fork_signal: %d forks from a signal handler during %u malloc/free pairs, no hang\n", (int)forks, loops);
  return 0;
}

/* fork_stdio.c [SECONDS]: glibc bug 19431's pattern (tst-malloc-fork-deadlock).
 * One thread forks in a loop; one reads a long line with getline, which
 * holds its stream's lock while getdelim reallocs; one calls fflush(NULL),
 * which holds stdio's list lock and then takes every stream's lock. fork
 * takes the list lock after the pthread_atfork prepare handlers have run, so
 * an allocator whose prepare handler takes its locks first deadlocks: the
 * forker waits for the list lock, fflush for the stream, getline for the
 * allocator. A watchdog turns a hang into a failure. Prints the counts. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile int stop;
static long forks, lines, flushes;

static void watchdog(int sig) {
  (void)sig;
  static const char msg[] = "fork_stdio: deadlock (the watchdog fired)\n";
  write(2, msg, sizeof msg - 1);
  _exit(1);
}

static void *forker(void *arg) {
  (void)arg;
  while (!stop) {
    pid_t pid = fork();
    if (pid == 0) {
      void *p = malloc(100); /* the child's allocator works */
      free(p);
      _exit(0);
    }
    if (pid < 0) {
      perror("fork");
      exit(2);
    }
    int st;
    waitpid(pid, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st)) exit(3);
    forks++;
  }
  return NULL;
}

static void *reader(void *arg) {
  FILE *f = arg;
  while (!stop) {
    char *line = NULL; /* a fresh buffer each time: getdelim grows it by realloc */
    size_t cap = 0;
    rewind(f);
    if (getline(&line, &cap, f) < 0) exit(4);
    free(line);
    lines++;
  }
  return NULL;
}

static void *flusher(void *arg) {
  (void)arg;
  while (!stop) {
    fflush(NULL);
    flushes++;
  }
  return NULL;
}

int main(int argc, char **argv) {
  int seconds = argc > 1 ? atoi(argv[1]) : 3;
  signal(SIGALRM, watchdog);
  alarm((unsigned)seconds + 10);
  FILE *f = tmpfile();
  if (!f) return 2;
  for (int i = 0; i < 400000; i++) fputc('a' + i % 26, f); /* one long line */
  fputc('\n', f);
  fflush(f);
  pthread_t t[3];
  pthread_create(&t[0], NULL, forker, NULL);
  pthread_create(&t[1], NULL, reader, f);
  pthread_create(&t[2], NULL, flusher, NULL);
  sleep((unsigned)seconds);
  stop = 1;
  for (int i = 0; i < 3; i++) pthread_join(t[i], NULL);
  printf("fork_stdio: %ld forks, %ld long lines read, %ld fflush(NULL) in %d s, no deadlock\n", forks, lines,
         flushes, seconds);
  return forks > 0 && lines > 0 && flushes > 0 ? 0 : 5;
}

/* death.h: the one death-test harness. A case runs in a forked child whose
 * stderr is captured; the verdict compares how it died with one fixed fatal
 * line of log.c's list ("gclzone: fatal: ..." with %p standing for the
 * pointer). Used by the unit suites through testutil.h (with Check's
 * asserts) and by tests/misuse/misuse.c (preloaded, without Check). */
#ifndef GCL_DEATH_H
#define GCL_DEATH_H

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

/* A page shared with the children: a case REPORTs the pointer it misuses
 * (before the misuse: reporting must not allocate). */
static inline void **death_slot(void) {
  static void **slot;
  if (!slot) slot = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  return slot;
}
#define REPORT(p) (*death_slot() = (void *)(p))

/* Run fn(arg) in a child with stderr captured into err (NUL-terminated);
 * returns the child's wait status, or -1 if the child could not be run. */
static inline int death_run(void (*fn)(void *), void *arg, char *err, size_t cap) {
  int fds[2];
  if (pipe(fds)) return -1;
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    dup2(fds[1], 2);
    close(fds[0]);
    fn(arg);
    _exit(0);
  }
  close(fds[1]);
  size_t n = 0;
  ssize_t r;
  while ((r = read(fds[0], err + n, cap - 1 - n)) > 0) n += (size_t)r;
  err[n] = 0;
  close(fds[0]);
  int status;
  if (waitpid(pid, &status, 0) != pid) return -1;
  return status;
}

/* Did fn(arg) die by SIGABRT after writing exactly the line of fmt, with %p
 * the pointer p (NULL: the one the child REPORTed)? NULL if so, else why
 * not (in why). */
static inline const char *death_verdict(void (*fn)(void *), void *arg, const char *fmt, const void *p, char *why,
                                        size_t cap) {
  char err[1024], want[512], ptr[32];
  *death_slot() = NULL;
  int status = death_run(fn, arg, err, sizeof err);
  if (!p) p = *death_slot();
  snprintf(ptr, sizeof ptr, "0x%lx", (unsigned long)(uintptr_t)p); /* as log.c prints %p */
  const char *at = strstr(fmt, "%p");
  if (at) snprintf(want, sizeof want, "gclzone: fatal: %.*s%s%s\n", (int)(at - fmt), fmt, ptr, at + 2);
  else snprintf(want, sizeof want, "gclzone: fatal: %s\n", fmt);
  if (status == -1 || !WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT)
    snprintf(why, cap, "not stopped by SIGABRT (status %#x); stderr: %s", (unsigned)status, err);
  else if (strcmp(err, want))
    snprintf(why, cap, "stderr is '%s', want '%s'", err, want);
  else
    return NULL;
  return why;
}

#endif

/* falseshare.c: a false-sharing probe (after Hoard's cache-scratch).
 *
 * The main thread allocates small objects, side by side as any allocator
 * places consecutive small blocks, and hands each worker one of them, all
 * from the same 64-byte cache line (the others are freed). Each worker frees the object it was given, then repeatedly
 * allocates an object of the same size, writes to it many times and frees
 * it. An allocator that gives a worker back the block it just freed (a
 * block from the main thread's slab or page) makes the workers write into
 * one cache line from two cores: the writes then cost a cache-line
 * transfer each, instead of a cycle. An allocator that keeps remotely freed
 * blocks away from the freeing thread gives each worker memory of its own.
 *
 * Whether the machine charges for a shared line at all is measured first:
 * two threads write bytes 8 apart, then 256 apart, and line_cost= is the
 * ratio of the times (about 1 where the two CPUs share a cache, as on
 * some virtual machines: there the probe cannot tell allocators apart).
 *
 *   falseshare [T]  T workers (1 to 4, default 2), 2000 objects x 100000
 *                   writes each, x BENCH_SCALE objects
 */
#include "../bench.h"

#include <pthread.h>

#define OBJ 8
#define WRITES 100000

typedef struct worker {
  char *given;
  long objects;
  uint64_t sum;
} worker_t;

static void *work(void *arg) {
  worker_t *w = arg;
  free(w->given);
  for (long i = 0; i < w->objects; i++) {
    volatile char *o = malloc(OBJ);
    if (!o) bench_fail("falseshare: malloc failed");
    o[0] = 0;
    for (int j = 0; j < WRITES; j++) o[0] = (char)(o[0] + 1);
    w->sum += (unsigned char)o[0];
    free((void *)o);
  }
  return NULL;
}

#define LINE 64
#define CANDIDATES 64

static char probe_buf[512] __attribute__((aligned(LINE)));

static void *probe_work(void *arg) {
  volatile char *o = arg;
  for (long j = 0; j < 20000000; j++) o[0] = (char)(o[0] + 1);
  return NULL;
}

static double probe(size_t apart) {
  pthread_t a, b;
  double t0 = bench_now();
  if (pthread_create(&a, NULL, probe_work, probe_buf) || pthread_create(&b, NULL, probe_work, probe_buf + apart))
    bench_fail("falseshare: pthread_create failed");
  pthread_join(a, NULL);
  pthread_join(b, NULL);
  return bench_now() - t0;
}

int main(int argc, char **argv) {
  int nt = argc > 1 ? atoi(argv[1]) : 2;
  if (nt < 1 || nt > 4) bench_fail("falseshare: 1 to 4 workers");
  double line_cost = probe(8) / probe(256);
  long objects = bench_scaled(2000);
  worker_t w[4];
  pthread_t t[4];
  /* Find nt consecutive objects in one cache line: blocks of 8 bytes sit
   * at most 16 or 32 bytes apart, so a line holds at least two. */
  char *cand[CANDIDATES];
  int first = -1;
  for (int i = 0; i < CANDIDATES; i++) {
    if (!(cand[i] = malloc(OBJ))) bench_fail("falseshare: malloc failed");
    if (first < 0 && i + 1 >= nt && (uintptr_t)cand[i + 1 - nt] / LINE == (uintptr_t)cand[i] / LINE)
      first = i + 1 - nt;
  }
  if (first < 0) bench_fail("falseshare: no %d consecutive objects share a cache line", nt);
  for (int i = 0; i < CANDIDATES; i++)
    if (i < first || i >= first + nt) free(cand[i]);
  for (int i = 0; i < nt; i++) {
    w[i].given = cand[first + i];
    w[i].objects = objects;
    w[i].sum = 0;
  }
  for (int i = 0; i < nt; i++)
    if (pthread_create(&t[i], NULL, work, &w[i]) != 0) bench_fail("falseshare: pthread_create failed");
  uint64_t check = 0;
  for (int i = 0; i < nt; i++) {
    pthread_join(t[i], NULL);
    check = bench_mix(check, w[i].sum);
  }
  bench_result("objects=%ld line_cost=%.2f check=%016llx", objects, line_cost, (unsigned long long)check);
  return 0;
}

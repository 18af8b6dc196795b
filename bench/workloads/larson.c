/* larson.c: a server (after Larson and Krishnan's benchmark): a fixed time.
 *
 * Each of T lineages owns an array of 1000 blocks of 8 to 1000 bytes. A
 * thread of the lineage replaces 10000 random blocks (checking and freeing
 * the old one, stamping the new one), then starts its successor, which
 * inherits the array, and exits: every block is freed by a thread other
 * than the one that allocated it, and thread heaps come and go all the
 * time. The arrays are first filled by the main thread.
 *
 *   larson [T]      T lineages (default 4), for 2 s x BENCH_SCALE
 *
 * Prints ops= (replacements) and secs=: the runner turns the throughput
 * into the time of a fixed number of replacements.
 */
#include "../bench.h"

#include <pthread.h>
#include <unistd.h>

#define BLOCKS 1000
#define ROUND 10000
#define MIN_SIZE 8
#define MAX_SIZE 1000

typedef struct lineage {
  void *block[BLOCKS];
  size_t size[BLOCKS];
  uint64_t stamp[BLOCKS];
  bench_rng_t rng;
  unsigned long ops;
  unsigned long threads;
} lineage_t;

static volatile int stop;
static pthread_mutex_t done_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done_cond = PTHREAD_COND_INITIALIZER;
static int running;

static void *worker(void *arg) {
  lineage_t *l = arg;
  for (int i = 0; i < ROUND; i++) {
    unsigned v = (unsigned)bench_below(&l->rng, BLOCKS);
    if (!bench_stamp_ok(l->block[v], l->size[v], l->stamp[v])) bench_fail("larson: block %p was overwritten", l->block[v]);
    free(l->block[v]);
    size_t size = MIN_SIZE + bench_below(&l->rng, MAX_SIZE - MIN_SIZE + 1);
    void *p = malloc(size);
    if (!p) bench_fail("larson: malloc(%zu) failed", size);
    l->block[v] = p;
    l->size[v] = size;
    l->stamp[v] = bench_rand(&l->rng);
    bench_stamp(p, size, l->stamp[v]);
  }
  l->ops += ROUND;
  l->threads++;
  if (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
    pthread_t t;
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    int e = pthread_create(&t, &a, worker, l);
    pthread_attr_destroy(&a);
    if (e == 0) return NULL;
    bench_fail("larson: pthread_create: %s", strerror(e));
  }
  pthread_mutex_lock(&done_lock);
  running--;
  pthread_cond_signal(&done_cond);
  pthread_mutex_unlock(&done_lock);
  return NULL;
}

int main(int argc, char **argv) {
  int nt = argc > 1 ? atoi(argv[1]) : 4;
  if (nt < 1 || nt > 64) bench_fail("larson: bad thread count");
  double secs = 2.0 * bench_scale();
  lineage_t *l = calloc((size_t)nt, sizeof *l);
  if (!l) bench_fail("larson: out of memory");
  for (int t = 0; t < nt; t++) {
    l[t].rng.s = 4141 + (uint64_t)t;
    for (int i = 0; i < BLOCKS; i++) {
      l[t].size[i] = MIN_SIZE + bench_below(&l[t].rng, MAX_SIZE - MIN_SIZE + 1);
      l[t].block[i] = malloc(l[t].size[i]);
      if (!l[t].block[i]) bench_fail("larson: malloc failed");
      l[t].stamp[i] = bench_rand(&l[t].rng);
      bench_stamp(l[t].block[i], l[t].size[i], l[t].stamp[i]);
    }
  }
  double t0 = bench_now();
  running = nt;
  for (int t = 0; t < nt; t++) {
    pthread_t th;
    if (pthread_create(&th, NULL, worker, &l[t]) != 0) bench_fail("larson: pthread_create failed");
    pthread_detach(th);
  }
  struct timespec d = {(time_t)secs, (long)((secs - (double)(time_t)secs) * 1e9)};
  nanosleep(&d, NULL);
  __atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
  pthread_mutex_lock(&done_lock);
  while (running > 0) pthread_cond_wait(&done_cond, &done_lock);
  pthread_mutex_unlock(&done_lock);
  double t1 = bench_now();
  unsigned long ops = 0, threads = 0;
  for (int t = 0; t < nt; t++) {
    ops += l[t].ops;
    threads += l[t].threads;
    for (int i = 0; i < BLOCKS; i++) {
      if (!bench_stamp_ok(l[t].block[i], l[t].size[i], l[t].stamp[i])) bench_fail("larson: block overwritten");
      free(l[t].block[i]);
    }
  }
  free(l);
  bench_result("ops=%lu secs=%.6f threads=%lu", ops, t1 - t0, threads);
  return 0;
}

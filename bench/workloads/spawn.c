/* spawn.c: heavy thread churn, few allocations per thread (a runtime that
 * starts a thread per task, a thread pool that is torn down and rebuilt).
 *
 * 16 threads are always in flight: the main thread joins the oldest and
 * starts a new one in its place. Each thread makes 4 small allocations
 * (16 to 256 bytes), checks and frees them itself, and exits. Almost the
 * whole cost an allocator adds is its per-thread set-up on a thread's first
 * malloc and its tear-down at the thread's exit, with many thread caches
 * created and retired concurrently. Unlike `churn` (2 threads at a time, 64
 * blocks each, half of them outliving their thread), nothing here outlives
 * the thread that allocated it.
 *
 *   spawn           50000 threads x BENCH_SCALE
 */
#include "../bench.h"

#include <pthread.h>

#define INFLIGHT 16
#define PER 4

typedef struct job {
  uint64_t seed;
  uint64_t result;
} job_t;

static void *work(void *arg) {
  job_t *j = arg;
  bench_rng_t r = {j->seed};
  void *block[PER];
  size_t size[PER];
  uint64_t h = 0;
  for (int i = 0; i < PER; i++) {
    size[i] = 16 + bench_below(&r, 241);
    if (!(block[i] = malloc(size[i]))) bench_fail("spawn: malloc(%zu) failed", size[i]);
    bench_stamp(block[i], size[i], j->seed + (uint64_t)i);
  }
  for (int i = PER - 1; i >= 0; i--) {
    if (!bench_stamp_ok(block[i], size[i], j->seed + (uint64_t)i)) bench_fail("spawn: block overwritten");
    h = bench_mix(h, size[i]);
    free(block[i]);
  }
  j->result = h;
  return NULL;
}

int main(void) {
  long n = bench_scaled(50000);
  static job_t job[INFLIGHT];
  pthread_t t[INFLIGHT];
  uint64_t check = 0;
  for (long k = 0; k < n + INFLIGHT; k++) {
    int slot = (int)(k % INFLIGHT);
    if (k >= INFLIGHT) {
      pthread_join(t[slot], NULL);
      check = bench_mix(check, job[slot].result);
    }
    if (k < n) {
      job[slot].seed = (uint64_t)k * 2654435761u + 1;
      if (pthread_create(&t[slot], NULL, work, &job[slot]) != 0) bench_fail("spawn: pthread_create failed");
    }
  }
  bench_result("threads=%ld check=%016llx", n, (unsigned long long)check);
  return 0;
}

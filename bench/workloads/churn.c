/* churn.c: threads created and exiting all the time, each allocating a
 * little (a thread-per-request server, a parallel map).
 *
 * Two threads run at a time. Each allocates 64 stamped blocks of 16 to 512
 * bytes, frees half of them, and leaves the other half to the main thread,
 * which checks and frees them after joining it: blocks outlive the thread
 * (and the thread heap) that allocated them.
 *
 *   churn           50000 threads x BENCH_SCALE
 */
#include "../bench.h"

#include <pthread.h>

#define PER 64

typedef struct job {
  uint64_t seed;
  void *block[PER];
  uint32_t size[PER];
} job_t;

static void *work(void *arg) {
  job_t *j = arg;
  bench_rng_t r = {j->seed};
  for (int i = 0; i < PER; i++) {
    j->size[i] = (uint32_t)(16 + bench_below(&r, 497));
    if (!(j->block[i] = malloc(j->size[i]))) bench_fail("churn: malloc failed");
    bench_stamp(j->block[i], j->size[i], j->seed + (uint64_t)i);
  }
  for (int i = 0; i < PER; i += 2) {
    if (!bench_stamp_ok(j->block[i], j->size[i], j->seed + (uint64_t)i)) bench_fail("churn: block overwritten");
    free(j->block[i]);
    j->block[i] = NULL;
  }
  return NULL;
}

int main(void) {
  long n = bench_scaled(50000) / 2;
  uint64_t check = 0;
  job_t job[2];
  for (long k = 0; k < n; k++) {
    pthread_t t[2];
    for (int i = 0; i < 2; i++) {
      job[i].seed = (uint64_t)(2 * k + i) * 1000;
      if (pthread_create(&t[i], NULL, work, &job[i]) != 0) bench_fail("churn: pthread_create failed");
    }
    for (int i = 0; i < 2; i++) {
      pthread_join(t[i], NULL);
      for (int b = 1; b < PER; b += 2) {
        if (!bench_stamp_ok(job[i].block[b], job[i].size[b], job[i].seed + (uint64_t)b)) bench_fail("churn: block overwritten");
        check = bench_mix(check, job[i].size[b]);
        free(job[i].block[b]);
      }
    }
  }
  bench_result("threads=%ld check=%016llx", 2 * n, (unsigned long long)check);
  return 0;
}

/* swing.c: a heap whose use swings with its threads (a server that starts
 * a crew of workers per batch of requests, a parallel build, a test
 * harness): every round starts 8 threads, each builds a working set of
 * small blocks with a tail of medium ones, works on it, trades blocks
 * with the others through a shared exchange, frees what it holds and
 * exits; the main thread joins them all and starts the next round. The
 * bytes in use climb to tens of MiB and fall to almost nothing once a
 * round: what an allocator keeps of the last round decides whether the
 * next one refaults its pages (the shape of mimalloc's test-stress).
 *
 * A thread's blocks carry their size and a stamp derived from it, so a
 * block received through the exchange (which outlives its round: the
 * slots keep blocks from one round to the next) is checked by whoever
 * frees it. The result hashes what each thread allocated (its own seeded
 * sizes), not the exchange's interleaving, so it is the same on every
 * run.
 *
 *   swing           60 rounds x BENCH_SCALE (8 threads x 12000 blocks)
 */
#include "../bench.h"

#include <pthread.h>

#define T 8
#define WORKING 12000
#define STEPS 24000
#define SLOTS 1024

typedef struct worker {
  uint64_t seed;
  uint64_t hash;
} worker_t;

static void *exchange[SLOTS];

static size_t swing_size(bench_rng_t *r) {
  if (bench_below(r, 64) == 0) return 4096 + bench_below(r, 60 * 1024);
  return 16 + bench_small_size(r);
}

static uint64_t stamp_of(size_t size) {
  return bench_mix(0x5157494e47ull, size);
}

static void *make(size_t size) {
  uint64_t *p = malloc(size);
  if (!p) bench_fail("swing: malloc(%zu) failed", size);
  memset(p, (int)(size & 0xff), size); /* built: every byte of it */
  p[0] = size;
  p[1] = stamp_of(size);
  ((unsigned char *)p)[size - 1] = (unsigned char)p[1];
  return p;
}

static void check_and_free(void *block) {
  if (!block) return;
  const uint64_t *p = block;
  size_t size = p[0];
  if (size < 16 || size > 4096 + 60 * 1024 || p[1] != stamp_of(size) ||
      ((const unsigned char *)p)[size - 1] != (unsigned char)p[1])
    bench_fail("swing: block %p overwritten", block);
  free(block);
}

static void *work(void *arg) {
  worker_t *w = arg;
  bench_rng_t r = {w->seed};
  static __thread void *held[WORKING];
  uint64_t h = 0;
  for (int i = 0; i < WORKING; i++) {
    size_t size = swing_size(&r);
    h = bench_mix(h, size);
    held[i] = make(size);
  }
  for (int s = 0; s < STEPS; s++) {
    int i = (int)bench_below(&r, WORKING);
    if (bench_below(&r, 8) == 0) {
      /* Trade: ours goes into a slot, whatever was there is ours now. */
      held[i] = __atomic_exchange_n(&exchange[bench_below(&r, SLOTS)], held[i], __ATOMIC_ACQ_REL);
      continue;
    }
    check_and_free(held[i]);
    size_t size = swing_size(&r);
    h = bench_mix(h, size);
    held[i] = make(size);
  }
  for (int i = 0; i < WORKING; i++) check_and_free(held[i]);
  w->hash = h;
  return NULL;
}

int main(void) {
  long rounds = bench_scaled(60);
  worker_t w[T];
  pthread_t t[T];
  uint64_t check = 0;
  for (long k = 0; k < rounds; k++) {
    for (int i = 0; i < T; i++) {
      w[i].seed = (uint64_t)k * 1000003u + (uint64_t)i + 1;
      if (pthread_create(&t[i], NULL, work, &w[i]) != 0) bench_fail("swing: pthread_create failed");
    }
    for (int i = 0; i < T; i++) {
      pthread_join(t[i], NULL);
      check = bench_mix(check, w[i].hash);
    }
  }
  for (int i = 0; i < SLOTS; i++) check_and_free(exchange[i]);
  bench_result("rounds=%ld check=%016llx", rounds, (unsigned long long)check);
  return 0;
}

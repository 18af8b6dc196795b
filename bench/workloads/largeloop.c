/* largeloop.c: large blocks allocated and freed in a loop by two threads
 * at once (the I/O buffers of a threaded server, a parallel compressor's
 * windows).
 *
 * Each thread keeps 16 live blocks; each step checks and frees a random
 * one and allocates another in its place, of 128 KiB to 512 KiB, and
 * stamps its first and last bytes (a buffer mostly written by the kernel
 * or not at all: the allocator's own cost is what is measured). Above
 * 128 KiB most allocators leave their thread caches for a shared page heap
 * under a lock (glibc maps and unmaps each block until its threshold
 * adapts), so this is where their large-block paths meet.
 *
 *   largeloop [T]   T threads (1 to 8, default 2), 1.5 million steps each
 *                   x BENCH_SCALE
 */
#include "../bench.h"

#include <pthread.h>

#define LIVE 16
#define LO (128u << 10)
#define HI (512u << 10)

typedef struct worker {
  uint64_t seed;
  long steps;
  uint64_t check;
} worker_t;

static void *run(void *arg) {
  worker_t *w = arg;
  bench_rng_t r = {w->seed};
  void *block[LIVE];
  size_t size[LIVE];
  uint64_t stamp[LIVE];
  for (int i = 0; i < LIVE; i++) {
    size[i] = LO + bench_below(&r, HI - LO + 1);
    block[i] = malloc(size[i]);
    if (!block[i]) bench_fail("largeloop: %zu bytes failed", size[i]);
    stamp[i] = bench_rand(&r);
    bench_stamp(block[i], size[i], stamp[i]);
  }
  uint64_t check = 0;
  for (long s = 0; s < w->steps; s++) {
    unsigned v = (unsigned)bench_below(&r, LIVE);
    if (!bench_stamp_ok(block[v], size[v], stamp[v])) bench_fail("largeloop: block %u overwritten", v);
    free(block[v]);
    size[v] = LO + bench_below(&r, HI - LO + 1);
    block[v] = malloc(size[v]);
    if (!block[v]) bench_fail("largeloop: %zu bytes failed", size[v]);
    stamp[v] = bench_rand(&r);
    bench_stamp(block[v], size[v], stamp[v]);
    check = bench_mix(check, size[v]);
  }
  for (int i = 0; i < LIVE; i++) {
    if (!bench_stamp_ok(block[i], size[i], stamp[i])) bench_fail("largeloop: block %d overwritten", i);
    free(block[i]);
  }
  w->check = check;
  return NULL;
}

int main(int argc, char **argv) {
  int threads = argc > 1 ? atoi(argv[1]) : 2;
  if (threads < 1 || threads > 8) bench_fail("largeloop: 1 to 8 threads");
  long steps = bench_scaled(1500000);
  worker_t w[8];
  pthread_t t[8];
  for (int i = 0; i < threads; i++) {
    w[i] = (worker_t){.seed = 0x1a26e100u + (uint64_t)i * 7919, .steps = steps};
    if (pthread_create(&t[i], NULL, run, &w[i])) bench_fail("largeloop: pthread_create");
  }
  uint64_t check = 0;
  for (int i = 0; i < threads; i++) {
    pthread_join(t[i], NULL);
    check = bench_mix(check, w[i].check);
  }
  bench_result("threads=%d steps=%ld check=%016llx", threads, steps, (unsigned long long)check);
  return 0;
}

/* xmalloc.c: an asymmetric producer/consumer (after Lever and Boreham's
 * xmalloc-test): one thread only allocates, another only frees.
 *
 * The producer allocates blocks of 8 to 512 bytes, stamps them and hands
 * them over in batches of 256 (the batch itself is a malloc'd block too)
 * through a ring of 64 batches; the consumer checks every block and frees
 * it. Nothing a producer allocates is ever freed by its own thread, so the
 * allocator's cross-thread free path and its reclaiming of remotely freed
 * memory carry the whole load.
 *
 *   xmalloc         48 million blocks x BENCH_SCALE
 */
#include "../bench.h"

#include <pthread.h>
#include <sched.h>

#define BATCH 256
#define RING 64

typedef struct batch {
  void *block[BATCH];
  uint32_t size[BATCH];
  uint64_t stamp[BATCH];
} batch_t;

static batch_t *ring[RING];
static unsigned long head, tail; /* producer writes head, consumer tail */
static long nbatches;

static void *producer(void *arg) {
  bench_rng_t *r = arg;
  for (long b = 0; b < nbatches; b++) {
    batch_t *bt = malloc(sizeof *bt);
    if (!bt) bench_fail("xmalloc: malloc failed");
    for (int i = 0; i < BATCH; i++) {
      size_t size = 8 + bench_below(r, 505);
      void *p = malloc(size);
      if (!p) bench_fail("xmalloc: malloc(%zu) failed", size);
      bt->block[i] = p;
      bt->size[i] = (uint32_t)size;
      bt->stamp[i] = bench_rand(r);
      bench_stamp(p, size, bt->stamp[i]);
    }
    while (__atomic_load_n(&head, __ATOMIC_RELAXED) - __atomic_load_n(&tail, __ATOMIC_ACQUIRE) == RING) sched_yield();
    ring[head % RING] = bt;
    __atomic_store_n(&head, head + 1, __ATOMIC_RELEASE);
  }
  return NULL;
}

static void *consumer(void *arg) {
  uint64_t *check = arg;
  for (long b = 0; b < nbatches; b++) {
    while (__atomic_load_n(&head, __ATOMIC_ACQUIRE) == __atomic_load_n(&tail, __ATOMIC_RELAXED)) sched_yield();
    batch_t *bt = ring[tail % RING];
    __atomic_store_n(&tail, tail + 1, __ATOMIC_RELEASE);
    for (int i = 0; i < BATCH; i++) {
      if (!bench_stamp_ok(bt->block[i], bt->size[i], bt->stamp[i])) bench_fail("xmalloc: block overwritten");
      *check = bench_mix(*check, bt->size[i]);
      free(bt->block[i]);
    }
    free(bt);
  }
  return NULL;
}

int main(void) {
  nbatches = bench_scaled(48000000) / BATCH;
  if (nbatches < 1) nbatches = 1;
  bench_rng_t r = {12345};
  uint64_t check = 0;
  pthread_t p, c;
  if (pthread_create(&c, NULL, consumer, &check) || pthread_create(&p, NULL, producer, &r))
    bench_fail("xmalloc: pthread_create failed");
  pthread_join(p, NULL);
  pthread_join(c, NULL);
  bench_result("blocks=%ld check=%016llx", nbatches * BATCH, (unsigned long long)check);
  return 0;
}

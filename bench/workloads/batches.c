/* batches.c: thousands of small blocks of one or a few sizes allocated,
 * then all freed, over and over (the shape of glibc's own malloc
 * benchmarks, bench-malloc-simple and bench-malloc-thread: a batch of
 * blocks of a size, freed in allocation order, repeated), in one thread or
 * in several at once.
 *
 * Round r of a thread allocates a batch of 1000, 2000, 4000 or 8000 blocks
 * (cycling), all of one size among 16, 32, 64, 128, 256 and 512 bytes, or,
 * every third round, of four sizes in turn; stamps each; then checks and
 * frees the whole batch in allocation order. The batch is small enough to
 * live in an allocator's thread cache or a few slabs: what counts is how
 * fast a thread cache refills and drains in bulk. Unlike `batch` (half a
 * million mixed blocks, three free orders), a batch here never leaves the
 * thread's caches for long.
 *
 *   batches [THREADS]   THREADS threads (default 1), each making 16 million
 *                       blocks x BENCH_SCALE
 */
#include "../bench.h"

#include <pthread.h>

#define MAXBATCH 8000
#define MAXT 64

static const uint32_t one_size[6] = {16, 32, 64, 128, 256, 512};
static const uint32_t four_sizes[4][4] = {{16, 48, 32, 80}, {24, 64, 128, 40}, {96, 256, 32, 160}, {16, 512, 64, 384}};
static const int batch_len[4] = {1000, 2000, 4000, 8000};

typedef struct worker {
  int id;
  long blocks;
  uint64_t check;
  pthread_t t;
} worker_t;

static void *work(void *arg) {
  worker_t *w = arg;
  void **block = malloc(MAXBATCH * sizeof *block);
  if (!block) bench_fail("batches: malloc failed");
  uint64_t check = 0;
  long done = 0;
  for (long round = 0; done < w->blocks; round++) {
    int n = batch_len[round % 4];
    if (n > w->blocks - done) n = (int)(w->blocks - done);
    int several = round % 3 == 2;
    const uint32_t *sizes = several ? four_sizes[(round / 3) % 4] : &one_size[round % 6];
    for (int i = 0; i < n; i++) {
      uint32_t size = sizes[several ? i & 3 : 0];
      if (!(block[i] = malloc(size))) bench_fail("batches: malloc(%u) failed", size);
      bench_stamp(block[i], size, ((uint64_t)w->id << 48) ^ ((uint64_t)round << 16) ^ (uint64_t)i);
    }
    for (int i = 0; i < n; i++) {
      uint32_t size = sizes[several ? i & 3 : 0];
      if (!bench_stamp_ok(block[i], size, ((uint64_t)w->id << 48) ^ ((uint64_t)round << 16) ^ (uint64_t)i))
        bench_fail("batches: block %d of round %ld overwritten", i, round);
      free(block[i]);
    }
    check = bench_mix(check, (uint64_t)n * 1000 + sizes[0]);
    done += n;
  }
  free(block);
  w->check = check;
  return NULL;
}

int main(int argc, char **argv) {
  int threads = argc > 1 ? atoi(argv[1]) : 1;
  if (threads < 1 || threads > MAXT) bench_fail("batches: 1 to %d threads", MAXT);
  long per = bench_scaled(16000000);
  static worker_t w[MAXT];
  for (int i = 0; i < threads; i++) {
    w[i].id = i;
    w[i].blocks = per;
    if (threads > 1 && pthread_create(&w[i].t, NULL, work, &w[i]) != 0) bench_fail("batches: pthread_create failed");
  }
  if (threads == 1) work(&w[0]);
  uint64_t check = 0;
  for (int i = 0; i < threads; i++) {
    if (threads > 1) pthread_join(w[i].t, NULL);
    check = bench_mix(check, w[i].check);
  }
  bench_result("threads=%d blocks=%ld check=%016llx", threads, per * threads, (unsigned long long)check);
  return 0;
}

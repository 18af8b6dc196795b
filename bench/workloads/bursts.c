/* bursts.c: bursts of remote frees with idle gaps (worker threads of a
 * server passing requests' buffers along a pipeline, then waiting for the
 * next wave).
 *
 * 4 threads in a ring. Each round, every thread allocates a burst of 2000
 * blocks of mixed sizes (mostly 16 bytes to 1 KiB, one in sixteen up to
 * 32 KiB), stamps them, and hands the whole burst to the next thread; then
 * it checks and frees every block handed to it. Every 8th round all
 * threads go idle for 2 ms together (a barrier, a sleep, a barrier):
 * whatever an allocator does to collect remotely freed memory, it has to do
 * in bursts, with the threads that own the memory sometimes asleep. Up to
 * 16 bursts wait in a thread's inbox (more than the 8 rounds between two
 * gaps, so that no thread can wait at the barrier for one that waits for
 * room); a thread whose successor's inbox is full frees its own meanwhile.
 *
 *   bursts          400 rounds x BENCH_SCALE (4 threads x 2000 blocks each)
 */
#include "../bench.h"

#include <pthread.h>

#define T 4
#define BURST 2000
#define INBOX 16
#define GAP_EVERY 8
#define GAP_NS 2000000L

typedef struct burst {
  void *block[BURST];
  uint32_t size[BURST];
  uint64_t stamp[BURST];
} burst_t;

typedef struct inbox {
  pthread_mutex_t lock;
  pthread_cond_t changed;
  burst_t *q[INBOX];
  int head, n;
} inbox_t;

static inbox_t inbox[T];
static pthread_barrier_t gap;
static long rounds;

typedef struct worker {
  int id;
  uint64_t sum; /* sum over the blocks this thread freed: the order does not matter */
  long freed;
} worker_t;

static size_t burst_size(bench_rng_t *r) {
  uint64_t x = bench_below(r, 16);
  if (x == 0) return 1025 + bench_below(r, 32 * 1024 - 1024);
  return 16 + bench_below(r, 1009);
}

/* Check and free every block of every burst in our inbox. */
static void drain(worker_t *w, int wait_for_one) {
  inbox_t *in = &inbox[w->id];
  pthread_mutex_lock(&in->lock);
  while (wait_for_one && in->n == 0) pthread_cond_wait(&in->changed, &in->lock);
  burst_t *got[INBOX];
  int n = in->n;
  for (int i = 0; i < n; i++) got[i] = in->q[(in->head + i) % INBOX];
  in->head = (in->head + n) % INBOX;
  in->n = 0;
  pthread_cond_broadcast(&in->changed);
  pthread_mutex_unlock(&in->lock);
  for (int k = 0; k < n; k++) {
    burst_t *b = got[k];
    for (int i = 0; i < BURST; i++) {
      if (!bench_stamp_ok(b->block[i], b->size[i], b->stamp[i])) bench_fail("bursts: block overwritten");
      w->sum += b->stamp[i] ^ b->size[i];
      free(b->block[i]);
    }
    free(b);
    w->freed++;
  }
}

static void *work(void *arg) {
  worker_t *w = arg;
  bench_rng_t r = {(uint64_t)(w->id + 1) * 0x51ed27};
  inbox_t *next = &inbox[(w->id + 1) % T];
  for (long round = 0; round < rounds; round++) {
    burst_t *b = malloc(sizeof *b);
    if (!b) bench_fail("bursts: malloc failed");
    for (int i = 0; i < BURST; i++) {
      size_t size = burst_size(&r);
      if (!(b->block[i] = malloc(size))) bench_fail("bursts: malloc(%zu) failed", size);
      b->size[i] = (uint32_t)size;
      b->stamp[i] = bench_rand(&r);
      bench_stamp(b->block[i], size, b->stamp[i]);
    }
    for (;;) {
      pthread_mutex_lock(&next->lock);
      if (next->n < INBOX) {
        next->q[(next->head + next->n) % INBOX] = b;
        next->n++;
        pthread_cond_broadcast(&next->changed);
        pthread_mutex_unlock(&next->lock);
        break;
      }
      pthread_mutex_unlock(&next->lock);
      drain(w, 0);
      sched_yield();
    }
    drain(w, 0);
    if (round % GAP_EVERY == GAP_EVERY - 1) {
      pthread_barrier_wait(&gap);
      struct timespec ts = {0, GAP_NS};
      nanosleep(&ts, NULL);
      pthread_barrier_wait(&gap);
    }
  }
  /* Every thread sent `rounds` bursts: receive the rest of ours. */
  while (w->freed < rounds) drain(w, 1);
  return NULL;
}

int main(void) {
  rounds = bench_scaled(400);
  pthread_barrier_init(&gap, NULL, T);
  static worker_t w[T];
  pthread_t t[T];
  for (int i = 0; i < T; i++) {
    pthread_mutex_init(&inbox[i].lock, NULL);
    pthread_cond_init(&inbox[i].changed, NULL);
  }
  for (int i = 0; i < T; i++) {
    w[i].id = i;
    if (pthread_create(&t[i], NULL, work, &w[i]) != 0) bench_fail("bursts: pthread_create failed");
  }
  uint64_t check = 0;
  for (int i = 0; i < T; i++) {
    pthread_join(t[i], NULL);
    check = bench_mix(check, w[i].sum);
  }
  bench_result("rounds=%ld blocks=%ld check=%016llx", rounds, rounds * T * BURST, (unsigned long long)check);
  return 0;
}

/* threads.c [ITEMS]: producer/consumer threads under LD_PRELOAD; blocks are
 * freed by the thread that did not allocate them. Prints a checksum that
 * must match the run under the system malloc. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAIRS 2
#define ITEMS_DEFAULT 200000
#define RING 1024

typedef struct {
  char *slot[RING];
  unsigned head, tail;
  pthread_mutex_t m;
  pthread_cond_t more, room;
  uint64_t sum;
} ring_t;

static unsigned ITEMS = ITEMS_DEFAULT;

static void *produce(void *arg) {
  ring_t *r = arg;
  for (unsigned i = 0; i < ITEMS; i++) {
    size_t n = 8 + (i * 2654435761u) % 600;
    char *p = malloc(n);
    memset(p, (int)(i & 0xff), n);
    p[0] = (char)n;
    pthread_mutex_lock(&r->m);
    while (r->head - r->tail == RING) pthread_cond_wait(&r->room, &r->m);
    r->slot[r->head++ % RING] = p;
    pthread_cond_signal(&r->more);
    pthread_mutex_unlock(&r->m);
  }
  return NULL;
}

static void *consume(void *arg) {
  ring_t *r = arg;
  for (unsigned i = 0; i < ITEMS; i++) {
    pthread_mutex_lock(&r->m);
    while (r->head == r->tail) pthread_cond_wait(&r->more, &r->m);
    char *p = r->slot[r->tail++ % RING];
    pthread_cond_signal(&r->room);
    pthread_mutex_unlock(&r->m);
    r->sum += (unsigned char)p[0] * 31u + (unsigned char)p[1];
    free(p);
  }
  return NULL;
}

int main(int argc, char **argv) {
  if (argc > 1) ITEMS = (unsigned)atoi(argv[1]);
  static ring_t rings[PAIRS];
  pthread_t t[2 * PAIRS];
  for (int i = 0; i < PAIRS; i++) {
    pthread_mutex_init(&rings[i].m, NULL);
    pthread_cond_init(&rings[i].more, NULL);
    pthread_cond_init(&rings[i].room, NULL);
    pthread_create(&t[2 * i], NULL, produce, &rings[i]);
    pthread_create(&t[2 * i + 1], NULL, consume, &rings[i]);
  }
  uint64_t sum = 0;
  for (int i = 0; i < 2 * PAIRS; i++) pthread_join(t[i], NULL);
  for (int i = 0; i < PAIRS; i++) sum += rings[i].sum;
  printf("threads: checksum %llu\n", (unsigned long long)sum);
  return 0;
}

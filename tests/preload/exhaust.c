/* exhaust.c: run under LD_PRELOAD with a small arena (GCLZONE_ARENA_SIZE).
 * Eight threads allocate with every entry point until nothing fits: every
 * failure must be NULL with errno ENOMEM (posix_memalign: ENOMEM returned),
 * every block aligned as asked, calloc'd blocks zero, failed reallocs leave
 * the block intact; then no two blocks overlap, the host heap (filled
 * before) is untouched, and once everything is freed allocation works
 * again. After glibc's tst-malloc-thread-fail. */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define THREADS 8
#define MAXB 60000

typedef struct {
  char *p;
  size_t n;
} blk_t;

static blk_t blocks[THREADS][MAXB];
static int nblocks[THREADS];
static int bad[THREADS];
static int enomem[THREADS];

#define BAD(t, ...) (bad[t]++, fprintf(stderr, "exhaust: " __VA_ARGS__))

static void *worker(void *arg) {
  int t = (int)(intptr_t)arg, n = 0, misses = 0;
  unsigned x = 2654435761u * (unsigned)(t + 1);
  while (misses < 300 && n < MAXB) {
    x = x * 1103515245u + 12345u;
    unsigned op = (x >> 8) % 9;
    size_t size = (x >> 12) % 4 == 0 ? 100000 + (x >> 3) % 900000 : 16 + (x >> 14) % 3000;
    size_t align = (size_t)16 << ((x >> 20) % 13); /* 16 .. 64 KiB */
    void *p = NULL;
    int rc = 0;
    errno = 0;
    switch (op) {
    case 0: p = malloc(size); break;
    case 1: p = calloc(size / 8 + 1, 8); size = (size / 8 + 1) * 8; break;
    case 2: {
      if (n == 0) { p = malloc(size); break; }
      blk_t *b = &blocks[t][n - 1]; /* grow the last block */
      memset(b->p, 0x77, b->n);
      p = realloc(b->p, b->n + size);
      if (p) { b->p = p; memset((char *)p + b->n, 0x77, size); b->n += size; continue; }
      for (size_t i = 0; i < b->n; i++)
        if (b->p[i] != 0x77) { BAD(t, "failed realloc changed its block\n"); break; }
      break;
    }
    case 3: p = reallocarray(NULL, size / 4 + 1, 4); size = (size / 4 + 1) * 4; break;
    case 4: rc = posix_memalign(&p, align, size); if (rc) { p = NULL; errno = rc; } break;
    case 5: p = aligned_alloc(align, size); break;
    case 6: p = memalign(align, size); break;
    case 7: p = valloc(size); align = 4096; break;
    default: p = pvalloc(size); align = 4096; break;
    }
    if (!p) {
      if (errno != ENOMEM) BAD(t, "op %u failed with errno %d\n", op, errno);
      enomem[t]++;
      misses++;
      continue;
    }
    misses = 0;
    if (op >= 4 && (uintptr_t)p % align) BAD(t, "op %u: %p not aligned to %zu\n", op, p, align);
    if ((uintptr_t)p % 16) BAD(t, "%p not 16-aligned\n", p);
    if (op == 1)
      for (size_t i = 0; i < size; i += 64)
        if (((char *)p)[i]) { BAD(t, "calloc not zero\n"); break; }
    if (malloc_usable_size(p) < size) BAD(t, "usable size too small\n");
    memset(p, t + 1, size);
    blocks[t][n++] = (blk_t){p, size};
  }
  nblocks[t] = n;
  return NULL;
}

static int cmp(const void *a, const void *b) {
  uintptr_t x = (uintptr_t)((const blk_t *)a)->p, y = (uintptr_t)((const blk_t *)b)->p;
  return x < y ? -1 : x > y;
}

int main(void) {
  char *host = sbrk(4 << 20);
  if (host == (void *)-1) return 1;
  memset(host, 0x5a, 4 << 20);
  pthread_t th[THREADS];
  for (intptr_t t = 0; t < THREADS; t++) pthread_create(&th[t], NULL, worker, (void *)t);
  for (int t = 0; t < THREADS; t++) pthread_join(th[t], NULL);

  static blk_t all[THREADS * MAXB];
  size_t total = 0, bytes = 0, fails = 0;
  for (int t = 0; t < THREADS; t++) {
    if (bad[t]) return 1;
    fails += (size_t)enomem[t];
    for (int i = 0; i < nblocks[t]; i++) all[total++] = blocks[t][i], bytes += blocks[t][i].n;
  }
  qsort(all, total, sizeof all[0], cmp);
  for (size_t i = 1; i < total; i++)
    if (all[i - 1].p + all[i - 1].n > all[i].p) {
      fprintf(stderr, "exhaust: %p+%zu overlaps %p\n", all[i - 1].p, all[i - 1].n, all[i].p);
      return 1;
    }
  if (sbrk(0) != host + (4 << 20)) return fprintf(stderr, "exhaust: host heap break moved\n"), 1;
  for (size_t i = 0; i < 4 << 20; i++)
    if (host[i] != 0x5a) return fprintf(stderr, "exhaust: host heap touched at %zu\n", i), 1;
  for (size_t i = 0; i < total; i++) free(all[i].p);
  void *again[9] = {malloc(8 << 20), calloc(1, 1 << 20), realloc(NULL, 5000), aligned_alloc(65536, 65536),
                    memalign(4096, 10), valloc(100), pvalloc(100), reallocarray(NULL, 10, 10), NULL};
  if (posix_memalign(&again[8], 256, 1000)) return fprintf(stderr, "exhaust: posix_memalign after free\n"), 1;
  for (int i = 0; i < 9; i++) {
    if (!again[i]) return fprintf(stderr, "exhaust: allocation %d fails after everything was freed\n", i), 1;
    free(again[i]);
  }
  printf("exhaust: %zu blocks (%zu MiB) from 8 threads and 9 entry points, %zu ENOMEM failures, no overlap, "
         "host heap intact, allocation works again\n", total, bytes >> 20, fails);
  return 0;
}

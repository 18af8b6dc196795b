/* imagebench.c: the costs of heap images (bench/image.sh runs it).
 *
 *   imagebench build IMAGE [MIB]  build a heap of about MIB MiB (default 256)
 *                                 over the host heap and the arena, every
 *                                 page written, and save it; prints the
 *                                 build and save times and the bytes written
 *   imagebench restore IMAGE      start from IMAGE (gclzone_init with
 *                                 cfg.image): prints the restore's time,
 *                                 then the first touch of every page of the
 *                                 heap (host heap read, then written; large
 *                                 blocks written): time and page faults
 *                                 (getrusage) per page
 *   imagebench fresh [MIB]        the first write of fresh anonymous pages
 *                                 (one page fault each): the yardstick
 *   imagebench start IMAGE        start from IMAGE and exit
 *   imagebench nothing            start and exit: a process's own cost
 *   imagebench time N IN PROG...  run PROG N times (fork, exec, wait; its
 *                                 stdin from the file IN, or - for none,
 *                                 stdout to /dev/null) and print the median
 *                                 and the lowest wall time
 *
 * Linked with libgclzone_core.a: the heap is built with the prefixed API,
 * and nothing else in the process uses the region. Lines are
 * "key value unit" for the driver. */
#define _GNU_SOURCE
#include <errno.h>
#include <gclzone.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BASE ((uintptr_t)0x300000000000)

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static void die(const char *what) {
  fprintf(stderr, "imagebench: %s: %s\n", what, strerror(errno));
  exit(1);
}

/* The root: the ranges to touch after a restore. */
typedef struct world {
  unsigned char *host;
  size_t host_len;
  size_t nlarge, nsmall;
  unsigned char **large; /* blocks of 2 MiB */
  unsigned char **small; /* every small and medium block */
  size_t *small_size;
} world_t;

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next(void) {
  rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
  return rng;
}

static int build(const char *image, size_t mib) {
  gclzone_config_t cfg = {.heap_size = (size_t)8 << 30, .arena_size = (size_t)32 << 30, .base = BASE};
  if (gclzone_init(&cfg)) die("gclzone_init");
  double t0 = now_ms();
  world_t *w = gclzone_calloc(1, sizeof *w);
  /* A quarter on the host heap (a collector's pages), the rest in the
   * arena: an eighth in 2 MiB blocks, the rest in blocks of 16 to 240
   * bytes with a few medium ones. */
  size_t total = mib << 20;
  w->host_len = total / 4;
  w->host = gclzone_sbrk((intptr_t)w->host_len);
  if (w->host == (void *)-1) die("sbrk");
  memset(w->host, 0x11, w->host_len);
  w->nlarge = total / 8 / (2 << 20);
  w->large = gclzone_malloc(w->nlarge * sizeof *w->large);
  for (size_t i = 0; i < w->nlarge; i++) {
    w->large[i] = gclzone_malloc(2 << 20);
    memset(w->large[i], (int)i, 2 << 20);
  }
  size_t left = total - w->host_len - w->nlarge * (2 << 20), cap = left / 64;
  w->small = gclzone_malloc(cap * sizeof *w->small);
  w->small_size = gclzone_malloc(cap * sizeof *w->small_size);
  size_t used = 2 * cap * sizeof(void *);
  while (used < left && w->nsmall < cap) {
    size_t n = next() % 1000 == 0 ? 4096 + next() % 28000 : 16 + next() % 225;
    unsigned char *p = gclzone_malloc(n);
    if (!p) die("malloc");
    memset(p, 0x5a, n);
    w->small[w->nsmall] = p;
    w->small_size[w->nsmall++] = n;
    used += gclzone_usable_size(p);
  }
  /* A tenth of the small blocks die before the save (the free lists a
   * collected heap has). */
  size_t freed = 0;
  for (size_t i = 7; i < w->nsmall; i += 10) gclzone_free(w->small[i]), w->small[i] = NULL, freed++;
  double built = now_ms() - t0;
  gclzone_stats_t st;
  gclzone_stats(&st);
  printf("build_ms %.1f ms\n", built);
  printf("heap_bytes %zu B\n", st.heap_bytes);
  printf("arena_in_use %zu B\n", st.in_use_bytes);
  printf("blocks %zu blocks\n", st.in_use_blocks);
  printf("freed %zu blocks\n", freed);
  t0 = now_ms();
  if (gclzone_image_save(image, w)) die("gclzone_image_save");
  printf("save_ms %.1f ms\n", now_ms() - t0);
  return 0;
}

static volatile unsigned char sink;

/* The page faults this process has taken so far, minor and major. */
static long faults(void) {
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return u.ru_minflt + u.ru_majflt;
}

/* The first touches' totals, time and page faults, of three kinds: a read,
 * a write after that read, and a write with no read before it. */
enum { READ, WRITE_AFTER_READ, WRITE_FIRST, KINDS };
typedef struct touches {
  double ms[KINDS];
  long faults[KINDS];
  size_t pages[KINDS];
} touches_t;

/* A store to every page of [p, p + n) (after a read of each when
 * read_first). */
static void touch(unsigned char *p, size_t n, size_t page, bool read_first, touches_t *t) {
  size_t pages = (n + page - 1) / page;
  if (read_first) {
    long f = faults();
    double t0 = now_ms();
    for (size_t o = 0; o < n; o += page) sink += p[o];
    t->ms[READ] += now_ms() - t0;
    t->faults[READ] += faults() - f;
    t->pages[READ] += pages;
  }
  int k = read_first ? WRITE_AFTER_READ : WRITE_FIRST;
  long f = faults();
  double t0 = now_ms();
  for (size_t o = 0; o < n; o += page) p[o]++;
  t->ms[k] += now_ms() - t0;
  t->faults[k] += faults() - f;
  t->pages[k] += pages;
}

static int restore(const char *image) {
  double t0 = now_ms();
  gclzone_config_t cfg = {.image = image};
  if (gclzone_init(&cfg)) die("gclzone_init with the image");
  double restored = now_ms() - t0;
  world_t *w = gclzone_image_root();
  if (!w) die("no root");
  printf("restore_ms %.3f ms\n", restored);
  /* First touches, page by page: the host heap read and then written (as a
   * collector's mark and sweep would), the large blocks written first. (The
   * small blocks share pages: their first touches are the slab pages'.) */
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  touches_t t = {0};
  touch(w->host, w->host_len, page, true, &t);
  for (size_t i = 0; i < w->nlarge; i++) touch(w->large[i], 2 << 20, page, false, &t);
  static const char *const name[KINDS] = {"read", "write_after_read", "write_first"};
  for (int k = 0; k < KINDS; k++) {
    printf("touch_%s_ns %.1f ns\n", name[k], t.ms[k] * 1e6 / (double)t.pages[k]);
    printf("touch_%s_faults %.3f faults/page\n", name[k], (double)t.faults[k] / (double)t.pages[k]);
  }
  /* And the rest of the heap is there. */
  size_t bad = 0;
  for (size_t i = 0; i < w->nsmall; i++)
    if (w->small[i] && (w->small[i][0] != 0x5a || !gclzone_owns(w->small[i]))) bad++;
  if (bad) {
    fprintf(stderr, "imagebench: %zu blocks lost their bytes\n", bad);
    return 1;
  }
  return 0;
}

static int fresh(size_t mib) {
  size_t n = (mib << 20) / 4 + (mib << 20) / 8, page = (size_t)sysconf(_SC_PAGESIZE), pages = 0;
  unsigned char *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) die("mmap");
  /* Pages of the base size, as the image's are: with transparent huge
   * pages set to "always", one fault would fill 512 of them. */
  madvise(p, n, MADV_NOHUGEPAGE);
  /* Written first here: a read of a fresh page maps the zero page, and the
   * write after it is a second fault; the restored pages' yardstick is one
   * fault each, the write's. */
  long f0 = faults();
  double t0 = now_ms();
  for (size_t o = 0; o < n; o += page) p[o] = 1;
  double wr = now_ms() - t0;
  long f = faults() - f0;
  pages = n / page;
  printf("fresh_write_ns %.1f ns\n", wr * 1e6 / (double)pages);
  printf("fresh_write_faults %.3f faults/page\n", (double)f / (double)pages);
  return 0;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static int time_runs(int n, const char *in, char **argv) {
  double t[64];
  if (n < 1 || n > 64) n = 5;
  for (int i = 0; i < n; i++) {
    double t0 = now_ms();
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
      int fd = open(strcmp(in, "-") ? in : "/dev/null", O_RDONLY);
      int out = open("/dev/null", O_WRONLY);
      if (fd < 0 || out < 0) _exit(126);
      dup2(fd, 0), dup2(out, 1);
      execv(argv[0], argv);
      _exit(127);
    }
    int st;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st)) {
      fprintf(stderr, "imagebench: %s failed (status %#x)\n", argv[0], st);
      return 1;
    }
    t[i] = now_ms() - t0;
  }
  qsort(t, (size_t)n, sizeof t[0], cmp_double);
  printf("median_ms %.2f ms\nlowest_ms %.2f ms\n", t[n / 2], t[0]);
  return 0;
}

static int start(const char *image) {
  gclzone_config_t cfg = {.image = image};
  if (gclzone_init(&cfg)) die("gclzone_init with the image");
  return gclzone_image_root() ? 0 : 1;
}

int main(int argc, char **argv) {
  if (argc >= 5 && !strcmp(argv[1], "time")) return time_runs(atoi(argv[2]), argv[3], argv + 4);
  if (argc == 3 && !strcmp(argv[1], "start")) return start(argv[2]);
  if (argc >= 3 && !strcmp(argv[1], "build")) return build(argv[2], argc > 3 ? strtoul(argv[3], NULL, 10) : 256);
  if (argc == 3 && !strcmp(argv[1], "restore")) return restore(argv[2]);
  if (argc >= 2 && !strcmp(argv[1], "fresh")) return fresh(argc > 2 ? strtoul(argv[2], NULL, 10) : 256);
  if (argc == 2 && !strcmp(argv[1], "nothing")) return 0;
  fprintf(stderr, "usage: imagebench build IMAGE [MIB] | restore IMAGE | fresh [MIB] | start IMAGE | nothing | "
                  "time N IN PROG [ARG...]\n");
  return 2;
}

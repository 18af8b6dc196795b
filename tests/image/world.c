/* world.c: a world saved in a heap image and checked in the processes that
 * start from it (tests/image.sh). The same source is preloaded and linked:
 * libgclzone's functions are found with dlsym, the malloc family is
 * whatever the process has.
 *
 *   world build IMAGE        build the world, save it with its root
 *   world check IMAGE OUT    (started from IMAGE) check it, free half of it
 *                            from two threads, add more, save OUT
 *   world final IMAGE        (started from IMAGE) check it, free all of it
 *
 * The world spans the host heap and the arena: a hash table of 100000
 * malloc'd strings (WORLD_STRINGS), GMP numbers, blocks of every size
 * class, large blocks, aligned blocks, blocks freed before the save, and
 * bytes on the host heap (sbrk). It holds no pointer into the executable or
 * a library: those move with ASLR. The root records a checksum of every
 * byte, each block's usable size and the break; a checking process
 * recomputes the first, asks the allocator for the others, and walks the
 * arena to see that every block is visited. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <gmp.h>
#include <malloc.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef int save_fn(const char *, const void *);
typedef void *root_fn(void);
typedef bool owns_fn(const void *);
typedef void visitor_fn(void *, size_t, void *);
typedef size_t walk_fn(visitor_fn *, void *);
static save_fn *image_save;
static root_fn *image_root;
static owns_fn *owns;
static walk_fn *walk;

static void die(const char *what) {
  fprintf(stderr, "world: FAIL: %s\n", what);
  exit(1);
}

#define CHECK(c, what) ((c) ? (void)0 : die(what))

/* ---- the world ---------------------------------------------------------------------- */

typedef struct node {
  struct node *next;
  char *key;
  uint64_t id;
} node_t;

typedef struct block { /* a block of any size: its header, then a fill */
  struct block *next;
  size_t size, usable;
  uint32_t seed;
} block_t;

#define BUCKETS 65536
#define NBIGS 600
#define NFREED 400

typedef struct world {
  node_t **bucket;          /* the hash table */
  size_t nstrings;
  uint64_t next_id;
  mpz_t *big;               /* GMP numbers: limbs in the arena */
  size_t nbigs;
  block_t *blocks;          /* every size class, large and aligned blocks */
  size_t nblocks;
  void *freed[NFREED];      /* freed before the first save: of size 3000, which nothing else asks for */
  unsigned char *host;      /* host heap bytes */
  size_t host_len;
  void *brk;
  uint64_t sum;             /* of everything above */
  int generation;
} world_t;

static void save_world(const char *path, world_t *w) {
  if (image_save(path, w) != 0) {
    fprintf(stderr, "world: FAIL: gclzone_image_save: %s\n", strerror(errno));
    exit(1);
  }
}

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
  const unsigned char *c = p;
  for (size_t i = 0; i < n; i++) h = (h ^ c[i]) * 0x100000001b3ull;
  return h;
}

static void fill(unsigned char *p, size_t n, uint32_t seed) {
  for (size_t i = 0; i < n; i++) p[i] = (unsigned char)(seed + i * 13 + (i >> 9));
}

static uint64_t hash_key(const char *k) {
  return fnv(0xcbf29ce484222325ull, k, strlen(k));
}

static void add_string(world_t *w) {
  uint64_t id = w->next_id++;
  char buf[96];
  int n = snprintf(buf, sizeof buf, "string %llu of generation %d %.*s", (unsigned long long)id, w->generation,
                   (int)(id % 40), "........................................");
  node_t *e = malloc(sizeof *e);
  CHECK(e && (e->key = malloc((size_t)n + 1)), "malloc");
  memcpy(e->key, buf, (size_t)n + 1);
  e->id = id;
  node_t **b = &w->bucket[hash_key(e->key) % BUCKETS];
  e->next = *b;
  *b = e;
  w->nstrings++;
}

static void add_block(world_t *w, size_t size, size_t align) {
  void *p = NULL;
  if (align) CHECK(posix_memalign(&p, align, size) == 0, "posix_memalign");
  else p = malloc(size);
  CHECK(p != NULL, "malloc");
  CHECK(!align || (uintptr_t)p % align == 0, "alignment");
  block_t *b = p;
  b->size = size;
  b->usable = malloc_usable_size(p);
  b->seed = (uint32_t)(w->nblocks * 2654435761u);
  fill((unsigned char *)(b + 1), size - sizeof *b, b->seed);
  b->next = w->blocks;
  w->blocks = b;
  w->nblocks++;
}

static void add_bigs(world_t *w, size_t n) {
  mpz_t *grown = realloc(w->big, (w->nbigs + n) * sizeof *grown);
  CHECK(grown != NULL, "realloc");
  w->big = grown;
  for (size_t i = 0; i < n; i++, w->nbigs++) {
    mpz_init(w->big[w->nbigs]);
    mpz_fac_ui(w->big[w->nbigs], 50 + (w->nbigs * 7) % 900);
    mpz_add_ui(w->big[w->nbigs], w->big[w->nbigs], w->nbigs);
  }
}

static void add_blocks(world_t *w, int rounds) {
  for (int r = 0; r < rounds; r++) {
    for (size_t s = 48; s <= 131072; s += s < 1024 ? 16 : s / 8) add_block(w, s, 0); /* every class */
    static const size_t aligns[] = {32, 64, 256, 4096, 65536, 1 << 20};
    for (size_t i = 0; i < 6; i++) add_block(w, 200 + i * 999, aligns[i]);
  }
  static const size_t large[] = {200000, 1 << 20, 4 << 20, 16 << 20};
  for (size_t i = 0; i < 4; i++) add_block(w, large[i] + (size_t)w->generation * 4096, 0);
}

/* The checksum of the world as it is: every string, number, block byte and
 * host heap byte. */
static uint64_t sum_of(const world_t *w) {
  uint64_t h = 0xcbf29ce484222325ull;
  size_t strings = 0;
  for (size_t b = 0; b < BUCKETS; b++)
    for (const node_t *e = w->bucket[b]; e; e = e->next, strings++) h = fnv(h, e->key, strlen(e->key)) ^ e->id;
  CHECK(strings == w->nstrings, "the hash table lost strings");
  for (size_t i = 0; i < w->nbigs; i++) {
    size_t n = mpz_size(w->big[i]);
    h = fnv(h, mpz_limbs_read(w->big[i]), n * sizeof(mp_limb_t));
  }
  size_t blocks = 0;
  for (const block_t *b = w->blocks; b; b = b->next, blocks++) h = fnv(h, b + 1, b->size - sizeof *b) ^ b->size;
  CHECK(blocks == w->nblocks, "the block list lost blocks");
  return fnv(h, w->host, w->host_len);
}

/* ---- the allocator's view ------------------------------------------------------------- */

typedef struct seen {
  uintptr_t *addr; /* sorted */
  unsigned char *hits;
  size_t n;
} seen_t;

static int cmp(const void *a, const void *b) {
  uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
  return x < y ? -1 : x > y;
}

static void visit(void *block, size_t size, void *ctx) { /* allocates nothing */
  (void)size;
  seen_t *s = ctx;
  uintptr_t key = (uintptr_t)block;
  uintptr_t *at = bsearch(&key, s->addr, s->n, sizeof key, cmp);
  if (at) s->hits[at - s->addr]++;
}

/* Every block of the world is live, has its usable size, and is visited by
 * gclzone_walk exactly once. */
static void check_blocks(world_t *w) {
  size_t cap = 2 * w->nstrings + w->nbigs + w->nblocks + 8, n = 0;
  uintptr_t *addr = malloc(cap * sizeof *addr);
  unsigned char *hits = calloc(cap, 1);
  CHECK(addr && hits, "malloc");
  for (size_t b = 0; b < BUCKETS; b++)
    for (node_t *e = w->bucket[b]; e; e = e->next) addr[n++] = (uintptr_t)e, addr[n++] = (uintptr_t)e->key;
  for (size_t i = 0; i < w->nbigs; i++)
    if (mpz_size(w->big[i])) addr[n++] = (uintptr_t)mpz_limbs_read(w->big[i]);
  for (block_t *b = w->blocks; b; b = b->next) {
    CHECK(malloc_usable_size(b) == b->usable, "a block's usable size changed");
    addr[n++] = (uintptr_t)b;
  }
  addr[n++] = (uintptr_t)w->bucket;
  addr[n++] = (uintptr_t)w->big;
  addr[n++] = (uintptr_t)w;
  for (size_t i = 0; i < n; i++) CHECK(owns((void *)addr[i]), "a block of the world is not live");
  qsort(addr, n, sizeof *addr, cmp);
  seen_t s = {addr, hits, n};
  walk(visit, &s);
  for (size_t i = 0; i < n; i++) CHECK(hits[i] == 1, "gclzone_walk did not visit a block exactly once");
  free(addr);
  free(hits);
}

static void check_world(world_t *w) {
  CHECK(sbrk(0) == w->brk, "the break moved");
  CHECK(sum_of(w) == w->sum, "the world's bytes changed");
  check_blocks(w);
}

/* ---- freeing half, from two threads ---------------------------------------------------------- */

typedef struct half {
  world_t *w;
  void **items;
  size_t n;
  int part;
} half_t;

static void *free_part(void *arg) {
  half_t *h = arg;
  for (size_t i = (size_t)h->part; i < h->n; i += 2) free(h->items[i]);
  return NULL;
}

/* Unlink every odd string, every other number's limbs and every other
 * block from the world, then free them from two threads at once: none of
 * those threads owns a restored slab. */
static void free_half(world_t *w) {
  size_t cap = 2 * w->nstrings + w->nbigs + w->nblocks, n = 0;
  void **items = malloc(cap * sizeof *items);
  CHECK(items != NULL, "malloc");
  for (size_t b = 0; b < BUCKETS; b++)
    for (node_t **at = &w->bucket[b]; *at;) {
      node_t *e = *at;
      if (e->id & 1) {
        *at = e->next;
        items[n++] = e->key, items[n++] = e;
        w->nstrings--;
      } else {
        at = &e->next;
      }
    }
  size_t keep = 0;
  for (size_t i = 0; i < w->nbigs; i++) {
    if (i & 1) mpz_clear(w->big[i]); /* frees through GMP's free: ours */
    else memcpy(&w->big[keep++], &w->big[i], sizeof(mpz_t));
  }
  w->nbigs = keep;
  size_t i = 0;
  for (block_t **at = &w->blocks; *at; i++) {
    block_t *b = *at;
    if (i & 1) *at = b->next, items[n++] = b, w->nblocks--;
    else at = &b->next;
  }
  pthread_t t[2];
  half_t h[2] = {{w, items, n, 0}, {w, items, n, 1}};
  for (int k = 0; k < 2; k++) CHECK(pthread_create(&t[k], NULL, free_part, &h[k]) == 0, "pthread_create");
  for (int k = 0; k < 2; k++) pthread_join(t[k], NULL);
  free(items);
}

static void find_functions(void) {
  image_save = (save_fn *)dlsym(RTLD_DEFAULT, "gclzone_image_save");
  image_root = (root_fn *)dlsym(RTLD_DEFAULT, "gclzone_image_root");
  owns = (owns_fn *)dlsym(RTLD_DEFAULT, "gclzone_owns");
  walk = (walk_fn *)dlsym(RTLD_DEFAULT, "gclzone_walk");
  CHECK(image_save && image_root && owns && walk, "libgclzone is not in the process");
}

int main(int argc, char **argv) {
  if (argc < 3) die("usage: world build IMAGE | check IMAGE OUT | final IMAGE");
  find_functions();
  const char *mode = argv[1];
  if (!strcmp(mode, "build")) {
    CHECK(image_root() == NULL, "a root without an image");
    size_t nstrings = getenv("WORLD_STRINGS") ? strtoul(getenv("WORLD_STRINGS"), NULL, 10) : 100000;
    world_t *w = calloc(1, sizeof *w);
    CHECK(w && (w->bucket = calloc(BUCKETS, sizeof *w->bucket)), "calloc");
    for (size_t i = 0; i < nstrings; i++) add_string(w);
    add_bigs(w, NBIGS);
    add_blocks(w, 3);
    for (int i = 0; i < NFREED; i++) CHECK((w->freed[i] = malloc(3000)) != NULL, "malloc");
    for (int i = 0; i < NFREED; i++) free(w->freed[i]);
    w->host_len = 3 << 20;
    w->host = sbrk((intptr_t)w->host_len);
    CHECK(w->host != (void *)-1, "sbrk");
    fill(w->host, w->host_len, 99);
    w->brk = sbrk(0);
    w->sum = sum_of(w);
    save_world(argv[2], w);
    printf("world: built %zu strings, %zu numbers, %zu blocks, %zu host heap bytes; saved\n", w->nstrings, w->nbigs,
           w->nblocks, w->host_len);
    return 0;
  }
  world_t *w = image_root();
  CHECK(w != NULL, "no root: the process did not start from the image");
  /* First, before anything is allocated: the blocks freed before the save
   * are still free. */
  for (int i = 0; w->generation == 0 && i < NFREED; i++) CHECK(!owns(w->freed[i]), "a block freed before the save is live");
  check_world(w);
  if (!strcmp(mode, "check") && argc == 4) {
    size_t before = w->nstrings;
    free_half(w);
    w->generation++;
    for (size_t i = 0; i < before / 4; i++) add_string(w);
    add_bigs(w, NBIGS / 2);
    add_blocks(w, 1);
    w->sum = sum_of(w);
    check_blocks(w);
    save_world(argv[3], w);
    printf("world: checked; freed half from two threads, added more, saved again: %zu strings, %zu numbers, %zu blocks\n",
           w->nstrings, w->nbigs, w->nblocks);
    return 0;
  }
  if (!strcmp(mode, "final")) {
    CHECK(w->generation == 1, "not the second generation");
    for (size_t b = 0; b < BUCKETS; b++)
      for (node_t *e = w->bucket[b], *next; e; e = next) next = e->next, free(e->key), free(e);
    for (size_t i = 0; i < w->nbigs; i++) mpz_clear(w->big[i]);
    for (block_t *b = w->blocks, *next; b; b = next) next = b->next, free(b);
    free(w->big);
    free(w->bucket);
    free(w);
    printf("world: checked the second generation and freed it all\n");
    return 0;
  }
  die("unknown mode");
}

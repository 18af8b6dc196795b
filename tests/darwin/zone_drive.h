/* zone_drive.h: what drives a gclzone malloc zone through libmalloc's model
 * (libmalloc_model.h), shared by the two places that drive one: the zone
 * compiled for Linux (tests/darwin/test_zone.c, with Check) and the zone of
 * the shipped Mach-O image (tests/darwin/machorun/checks.c). The
 * enumerator's recorder and a copying task reader, gclzone_walk's visitor,
 * the comparison of two range lists, a set of blocks of every kind and the
 * check that the enumerator reported them, two
 * misuses, and the threads and fork child of the fork test.
 *
 * The includer defines, before including it:
 *   ZD_CHECK(c), ZD_CHECKF(c, fmt, ...)  its assertions;
 *   ZD_MAXR                              how many ranges a list holds;
 *   static bool zd_metadata(uintptr_t a, size_t n)
 *                                        whether a read of [a, a+n) by the
 *                                        enumerator stays in the metadata;
 *   static bool ours(const void *p)      whether p is a block of the zone.
 * Everything here is static: each test program has its own copy. */
#ifndef GCL_TESTS_ZONE_DRIVE_H
#define GCL_TESTS_ZONE_DRIVE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- the enumerator's output --------------------------------------------------- */

typedef struct ranges {
  size_t n[3]; /* in use, regions, admin regions */
  vm_range_t r[3][ZD_MAXR];
} ranges_t;

static int type_index(unsigned type) {
  return type == MALLOC_PTR_IN_USE_RANGE_TYPE ? 0 : type == MALLOC_PTR_REGION_RANGE_TYPE ? 1 : 2;
}

static void recorder(task_t task, void *ctx, unsigned type, vm_range_t *r, unsigned n) {
  (void)task;
  ranges_t *rs = ctx;
  int t = type_index(type);
  for (unsigned i = 0; i < n; i++) {
    ZD_CHECK(rs->n[t] < ZD_MAXR);
    rs->r[t][rs->n[t]++] = r[i];
  }
}

/* A reader that hands out a fresh copy each time and poisons the previous
 * one, as a reader of another task would (its buffers live until the next
 * call), and counts the reads and those outside the metadata. */
static struct {
  void *last;
  size_t last_size, reads, outside;
} cr;

static kern_return_t copying_reader(task_t task, vm_address_t a, vm_size_t n, void **out) {
  ZD_CHECK(task == 0);
  if (cr.last) {
    memset(cr.last, 0xa5, cr.last_size);
    free(cr.last);
  }
  cr.last = malloc(n);
  memcpy(cr.last, (void *)a, n);
  cr.last_size = n;
  cr.reads++;
  if (!zd_metadata(a, n)) cr.outside++;
  *out = cr.last;
  return KERN_SUCCESS;
}

/* ---- gclzone_walk's output, and comparing lists --------------------------------- */

typedef struct walked {
  size_t n;
  vm_range_t r[ZD_MAXR];
} walked_t;

static void walk_visitor(void *block, size_t size, void *ctx) {
  walked_t *w = ctx;
  ZD_CHECK(w->n < ZD_MAXR);
  w->r[w->n++] = (vm_range_t){(vm_address_t)block, size};
}

static int range_cmp(const void *a, const void *b) {
  const vm_range_t *x = a, *y = b;
  return x->address < y->address ? -1 : x->address > y->address;
}

/* The two lists hold the same ranges, in any order (both get sorted). */
static void same_ranges(vm_range_t *a, size_t na, vm_range_t *b, size_t nb) {
  qsort(a, na, sizeof *a, range_cmp);
  qsort(b, nb, sizeof *b, range_cmp);
  ZD_CHECKF(na == nb, "%zu ranges, %zu expected", na, nb);
  for (size_t i = 0; i < na; i++)
    ZD_CHECKF(a[i].address == b[i].address && a[i].size == b[i].size, "range %zu: %#lx+%zu, %#lx+%zu expected", i,
              (unsigned long)a[i].address, (size_t)a[i].size, (unsigned long)b[i].address, (size_t)b[i].size);
}

/* ---- blocks ---------------------------------------------------------------------- */

#define ZD_BLOCKS 3000
static void *blocks[ZD_BLOCKS];

/* n blocks (at most ZD_BLOCKS) of small, medium and, one in 400, large
 * sizes, a third of them freed again (which third depends on seed). */
static void make_blocks(unsigned seed, unsigned n) {
  for (unsigned i = 0; i < n; i++) {
    size_t size = i % 400 == 7 ? 200000 + i * seed : (i * 37 + seed) % 5000;
    blocks[i] = lm_malloc(size);
  }
  for (unsigned i = seed % 3; i < n; i += 3) {
    lm_free(blocks[i]);
    blocks[i] = NULL;
  }
}

/* What the enumerator recorded in rs covers the live ones of the first n
 * blocks, each with its usable size, and puts every block it reports
 * inside a region it reports. */
static void enumerated_blocks(const ranges_t *rs, unsigned n) {
  for (unsigned i = 0; i < n; i++) {
    if (!blocks[i]) continue;
    bool found = false;
    for (size_t k = 0; k < rs->n[0] && !found; k++)
      found = rs->r[0][k].address == (vm_address_t)blocks[i] && rs->r[0][k].size == lm_malloc_size(blocks[i]);
    ZD_CHECKF(found, "block %u (%p) not enumerated", i, blocks[i]);
  }
  for (size_t k = 0; k < rs->n[0]; k++) {
    bool in = false;
    for (size_t j = 0; j < rs->n[1] && !in; j++)
      in = rs->r[0][k].address >= rs->r[1][j].address &&
           rs->r[0][k].address + rs->r[0][k].size <= rs->r[1][j].address + rs->r[1][j].size;
    ZD_CHECKF(in, "block %#lx is in no region", (unsigned long)rs->r[0][k].address);
  }
}

/* ---- misuse ------------------------------------------------------------------------ */

/* Each in a child that must die (libmalloc's "pointer being freed was not
 * allocated": a free that no zone claims, and a double free, since a freed
 * block is nobody's). */
static void free_stack_pointer(void *arg) {
  (void)arg;
  char local[16];
  lm_free(local + 8);
}

static void double_free(void *arg) {
  (void)arg;
  void *p = lm_malloc(48);
  lm_free(p);
  lm_free(p);
}

/* ---- fork ---------------------------------------------------------------------------- */

static volatile int stop_workers;

/* A thread that allocates and frees until stop_workers. */
static void *worker(void *arg) {
  unsigned seed = (unsigned)(uintptr_t)arg;
  void *mine[64] = {0};
  while (!stop_workers) {
    unsigned i = (seed = seed * 1103515245u + 12345u) >> 16 & 63;
    if (mine[i]) {
      lm_free(mine[i]);
      mine[i] = NULL;
    } else {
      size_t size = seed % 97 == 0 ? 300000 : seed % 3000;
      mine[i] = lm_malloc(size);
      memset(mine[i], (int)i, size < 64 ? size : 64);
    }
  }
  for (int i = 0; i < 64; i++) lm_free(mine[i]);
  return NULL;
}

/* What a child does after fork: use every path of the allocator, within
 * `seconds` (a lock left held would hang here). Its exit status. */
static int child_works(unsigned seconds) {
  alarm(seconds);
  void *p[200];
  for (int i = 0; i < 200; i++) {
    p[i] = lm_malloc(i % 10 == 0 ? 400000 : (size_t)i * 13);
    if (!p[i] || !ours(p[i])) return 1;
  }
  for (int i = 0; i < 200; i++) lm_free(p[i]);
  return malloc_zone_check(NULL) ? 0 : 2;
}

#endif

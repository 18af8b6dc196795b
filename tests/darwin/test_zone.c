/* test_zone.c: zone_darwin.c on Linux, promoted into a model of libmalloc's
 * registry (libmalloc_model.c) exactly as its constructor would do on a Mac.
 *
 * Built twice (mk/darwin.mk): against the model of libmalloc-792 (the
 * behaviour of macOS 12 and later) and of libmalloc-317 (macOS 11), each
 * with the <malloc/malloc.h> of that release; where the two differ, the test
 * asserts what each release's source says (docs/darwin.md §4).
 *
 * The binary links the zone (built with -DGCL_ZONE_MODEL), the model and the
 * core; Check and libc keep glibc's malloc, the code under test is reached
 * through the model's libmalloc entry points (lm_malloc, malloc_zone_*).
 * The model boots before the zone's constructor runs (constructor priority
 * 101), with two system zones that already own blocks, so every test starts
 * from the state a runtime would see after dyld ran our initializer.
 */
#define _GNU_SOURCE
#include "../testutil.h"
#include "internal.h"
#include "libmalloc_model.h"

#include <pthread.h>
#include <stdarg.h>
#include <sys/uio.h>

extern char **environ;

void gcl_zone_install(void);
void *gcl_zone_sbrk(int incr);
void *gcl_zone_brk(const void *addr);

#define ZONE_PAGE 16384

static malloc_zone_t *gz; /* our zone, as found in slot 0 at start-up */

static bool ours(const void *p) {
  return gclzone_owns(p);
}

/* The enumerator may read the zone's page, the region's and the spans'
 * descriptors, the slot map, the span descriptors and the arena. */
static bool zd_metadata(uintptr_t a, size_t n) {
  uintptr_t zone = (uintptr_t)gz, e = a + n;
  const gcl_region_t *r = &gcl_region;
  return (a >= zone && e <= zone + ZONE_PAGE) || (a >= (uintptr_t)&gcl_region && e <= (uintptr_t)(&gcl_region + 1)) ||
         (a >= (uintptr_t)&gcl_spans && e <= (uintptr_t)(&gcl_spans + 1)) || (a >= r->map.base && e <= r->map.committed) ||
         (a >= r->spans.base && e <= r->spans.committed) || (a >= r->arena.base && e <= r->arena.committed);
}

#define ZD_MAXR 20000
#define ZD_CHECK ck_assert
#define ZD_CHECKF ck_assert_msg
#include "zone_drive.h"

static int zone_index(malloc_zone_t *z) {
  for (int i = 0; i < malloc_num_zones; i++)
    if (malloc_zones[i] == z) return i;
  return -1;
}

/* ---- installation ------------------------------------------------------------------ */

START_TEST(promotion_lands_in_slot_0) {
  ck_assert_ptr_eq(malloc_zones[0], gz);
  ck_assert_str_eq(gz->zone_name, "gclzone");
  ck_assert_int_eq(malloc_num_zones, 4);
  int nano = zone_index(lm_nano_zone()), helper = zone_index(lm_helper_zone());
  int purgeable = zone_index(lm_purgeable_zone_if_created());
  ck_assert_int_gt(nano, 0);
  ck_assert_int_gt(helper, 0);
  ck_assert_msg(purgeable > nano, "the purgeable zone (%d) must follow the old default zone (%d)", purgeable, nano);
  ck_assert_uint_eq(lm_counters.duplicate_registrations, 0);
  ck_assert_uint_eq(lm_counters.failed_unregistrations, 0);
  /* malloc() now lands in the arena, through the virtual default zone. */
  void *p = lm_malloc(100);
  ck_assert(ours(p));
  ck_assert_ptr_ne(malloc_default_zone(), gz);
#if LM_LIBMALLOC >= 374
  /* 374+: slot 0's pointers are the virtual zone's unless a zone was
   * injected into slot 0 behind libmalloc's back */
  ck_assert_ptr_eq(malloc_zone_from_ptr(p), malloc_default_zone());
#else
  /* 317: only while slot 0 holds the zone libmalloc made the default */
  ck_assert_ptr_eq(malloc_zone_from_ptr(p), gz);
#endif
  ck_assert_ptr_null(lm_lite_zone());
  lm_free(p);
  ck_assert(!ours(p));
  /* Installing again (the sbrk interposer does) changes nothing. */
  gcl_zone_install();
  ck_assert_int_eq(malloc_num_zones, 4);
  ck_assert_ptr_eq(malloc_zones[0], gz);
  ck_assert_uint_eq(lm_counters.duplicate_registrations, 0);
}
END_TEST

START_TEST(every_field_through_version_12) {
  ck_assert_uint_eq(gz->version, 12);
  ck_assert_ptr_null(gz->reserved1);
  ck_assert_ptr_null(gz->reserved2);
  void *fns[] = {(void *)gz->size, (void *)gz->malloc, (void *)gz->calloc, (void *)gz->valloc,
                 (void *)gz->free, (void *)gz->realloc, (void *)gz->destroy, (void *)gz->batch_malloc,
                 (void *)gz->batch_free, (void *)gz->memalign, (void *)gz->free_definite_size,
                 (void *)gz->pressure_relief, (void *)gz->claimed_address};
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) ck_assert_msg(fns[i] != NULL, "zone field %zu is NULL", i);
  /* Version 13+ fields stay NULL (try_free_default is libmalloc's alone),
   * in the headers that have them. */
#if GCL_LIBMALLOC_HEADER >= 409
  ck_assert_ptr_null(gz->try_free_default);
#endif
#if GCL_LIBMALLOC_HEADER >= 646
  ck_assert_ptr_null(gz->malloc_type_malloc);
#endif
  malloc_introspection_t *in = gz->introspect;
#if GCL_LIBMALLOC_HEADER >= 474
  ck_assert_uint_eq(in->zone_type, 0);
#endif
  void *ins[] = {(void *)in->enumerator, (void *)in->good_size, (void *)in->check, (void *)in->print,
                 (void *)in->log, (void *)in->force_lock, (void *)in->force_unlock, (void *)in->statistics,
                 (void *)in->zone_locked, (void *)in->reinit_lock, (void *)in->print_task,
                 (void *)in->task_statistics};
  for (size_t i = 0; i < sizeof ins / sizeof ins[0]; i++) ck_assert_msg(ins[i] != NULL, "introspect entry %zu is NULL", i);
  ck_assert_str_ne(gz->zone_name, "DefaultMallocZone");
  /* Each alone on its own page: libmalloc may make the zone's read-only. */
  ck_assert_uint_eq((uintptr_t)gz % ZONE_PAGE, 0);
  ck_assert_uint_eq((uintptr_t)in % ZONE_PAGE, 0);
  ck_assert_uint_ne((uintptr_t)gz / ZONE_PAGE, (uintptr_t)in / ZONE_PAGE);
}
END_TEST

/* Blocks the system zones handed out before we were installed are still
 * theirs: free() finds them by size(), and calls that name our zone for
 * them (malloc_zone_free(malloc_default_zone(), p)) are forwarded. */
START_TEST(early_blocks_stay_with_their_zones) {
  malloc_zone_t *nano = lm_nano_zone(), *helper = lm_helper_zone();
  lm_zone_stats_t n0 = lm_zone_stats(nano), h0 = lm_zone_stats(helper);
  unsigned to_nano = 0, to_helper = 0;
  for (int i = 0; i < LM_EARLY; i++) {
    void *p = lm_early[i];
    ck_assert(!ours(p));
    ck_assert_uint_eq(gz->size(gz, p), 0);
    ck_assert_uint_ge(lm_malloc_size(p), lm_early_size[i]);
    for (size_t k = 0; k < lm_early_size[i]; k++) ck_assert_int_eq(((unsigned char *)p)[k], 0x40 + i % 32);
    bool in_nano = nano->size(nano, p) != 0;
    if (i % 3 == 0) {
      lm_free(p);
    } else if (i % 3 == 1) {
      malloc_zone_free(malloc_default_zone(), p); /* reaches our zone_free with a foreign pointer */
    } else {
      void *q = malloc_zone_realloc(malloc_default_zone(), p, lm_early_size[i] + 100);
      ck_assert(!ours(q));
      ck_assert_int_eq(((unsigned char *)q)[0], 0x40 + i % 32);
      if (nano->size(nano, q)) to_nano++; /* the realloc's copy is freed too, by its own zone */
      else to_helper++;
      lm_free(q);
    }
    if (in_nano) to_nano++;
    else to_helper++;
    ck_assert_uint_eq(lm_malloc_size(p), 0);
  }
  ck_assert_uint_eq(lm_zone_stats(nano).frees - n0.frees, to_nano);
  ck_assert_uint_eq(lm_zone_stats(helper).frees - h0.frees, to_helper);
  ck_assert_uint_gt(to_nano, 0);
  ck_assert_uint_gt(to_helper, 0);
  /* A block allocated from a system zone after our promotion is its own too. */
  void *s = malloc_zone_malloc(lm_helper_zone(), 1000);
  ck_assert_uint_eq(gz->size(gz, s), 0);
  ck_assert_uint_eq(lm_malloc_size(s), 1008);
  lm_free(s);
}
END_TEST

/* ---- size() and ownership ------------------------------------------------------------- */

START_TEST(size_is_zero_for_anything_not_a_live_block) {
  char stack[64];
  char *small = lm_malloc(40), *medium = lm_malloc(5000), *large = lm_malloc(3 << 20), *freed = lm_malloc(64);
  lm_free(freed);
  gclzone_bounds_t heap = gclzone_heap_bounds(), arena = gclzone_arena_bounds();
  const void *bad[] = {NULL, (void *)1, stack, stack + 3, (void *)0x97f86e598e2153a3ull, (void *)UINTPTR_MAX,
                       small + 1, small + 16, medium + 4096, large + 4096, large + 1, freed,
                       heap.base, (char *)heap.limit - 16, arena.limit, (char *)arena.limit - 4096,
                       (char *)arena.base + ((size_t)1 << 30), lm_early[1], gz, (void *)gcl_region.map.base,
                       (void *)gcl_region.spans.base, (char *)gcl_region.base + gcl_region.size - 16};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    ck_assert_msg(gz->size(gz, bad[i]) == 0, "size(%p) is %zu", bad[i], gz->size(gz, bad[i]));
  void *good[] = {small, medium, large};
  for (size_t i = 0; i < 3; i++) {
    ck_assert_uint_eq(gz->size(gz, good[i]), gclzone_usable_size(good[i]));
    ck_assert_uint_eq(lm_malloc_size(good[i]), gclzone_usable_size(good[i]));
  }
  ck_assert_uint_ge(gz->size(gz, small), 40);
  ck_assert_uint_ge(gz->size(gz, large), 3 << 20);
}
END_TEST

static void zone_free_interior(void *arg) {
  char *p = arg;
  REPORT(p + 16);
  malloc_zone_free(gz, p + 16);
}

/* An unclaimed free is fatal in libmalloc; so is a double free, since a
 * freed block is nobody's (size() says 0). A zone-level call with a pointer
 * inside our region that is not a block is our own fatal error. */
START_TEST(misuse_is_fatal) {
  char err[1024];
  int st = run_captured(free_stack_pointer, NULL, err, sizeof err);
  ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
  ck_assert_ptr_nonnull(strstr(err, "pointer being freed was not allocated"));
  st = run_captured(double_free, NULL, err, sizeof err);
  ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
  ck_assert_ptr_nonnull(strstr(err, "pointer being freed was not allocated"));
  expect_fatal(zone_free_interior, lm_malloc(64), "free of %p, which is not a live block from gclzone", NULL);
}
END_TEST

/* ---- the malloc family through the registry --------------------------------------------- */

START_TEST(malloc_family) {
  char *c = lm_calloc(100, 37);
  ck_assert(ours(c));
  for (int i = 0; i < 3700; i++) ck_assert_int_eq(c[i], 0);
  char *v = lm_valloc(5000);
  ck_assert(ours(v));
  ck_assert_uint_eq((uintptr_t)v % (uintptr_t)sysconf(_SC_PAGESIZE), 0);
  char *r = lm_malloc(10);
  memcpy(r, "0123456789", 10);
  r = lm_realloc(r, 100000);
  ck_assert(ours(r));
  ck_assert_int_eq(memcmp(r, "0123456789", 10), 0);
  /* realloc(p, 0): libmalloc mallocs a minimum block and frees p. */
  char *z = lm_realloc(r, 0);
  ck_assert_ptr_nonnull(z);
  ck_assert(ours(z));
  ck_assert(!ours(r));
  /* ...and a zone asked directly for 0 bytes gives a minimum block too. */
  char *y = lm_malloc(64);
  char *y2 = malloc_zone_realloc(gz, y, 0);
  ck_assert_ptr_nonnull(y2);
  ck_assert(ours(y2));
  /* Failure: NULL and ENOMEM. */
  errno = 0;
  ck_assert_ptr_null(gz->malloc(gz, (size_t)PTRDIFF_MAX + 1));
  ck_assert_int_eq(errno, ENOMEM);
  errno = 0;
  ck_assert_ptr_null(lm_malloc(SIZE_MAX - 100));
  ck_assert_int_eq(errno, ENOMEM);
  lm_free(c);
  lm_free(v);
  lm_free(z);
  lm_free(y2);
}
END_TEST

START_TEST(batch_calls) {
  void *res[300];
  unsigned n = malloc_zone_batch_malloc(malloc_default_zone(), 48, res, 300);
  ck_assert_uint_eq(n, 300);
  for (unsigned i = 0; i < n; i++) {
    ck_assert(ours(res[i]));
    ck_assert_uint_ge(lm_malloc_size(res[i]), 48);
    for (unsigned j = 0; j < i; j++) ck_assert_ptr_ne(res[i], res[j]);
    memset(res[i], (int)i, 48);
  }
  void *copy[300];
  memcpy(copy, res, sizeof res);
  malloc_zone_batch_free(malloc_default_zone(), res, n);
  for (unsigned i = 0; i < n; i++) ck_assert(!ours(copy[i]));
  /* A batch mixing foreign blocks: each goes to its owner. */
  void *mix[4] = {lm_malloc(10), malloc_zone_malloc(lm_helper_zone(), 500), lm_malloc(200000),
                  malloc_zone_malloc(lm_nano_zone(), 30)};
  unsigned hf = lm_zone_stats(lm_helper_zone()).frees, nf = lm_zone_stats(lm_nano_zone()).frees;
  gz->batch_free(gz, mix, 4);
  ck_assert_uint_eq(lm_zone_stats(lm_helper_zone()).frees, hf + 1);
  ck_assert_uint_eq(lm_zone_stats(lm_nano_zone()).frees, nf + 1);
}
END_TEST

START_TEST(memalign_through_posix_memalign) {
  for (size_t a = sizeof(void *); a <= ((size_t)2 << 20); a *= 2) {
    void *p = NULL;
    ck_assert_int_eq(lm_posix_memalign(&p, a, 100), 0);
    ck_assert(ours(p));
    ck_assert_uint_eq((uintptr_t)p % a, 0);
    lm_free(p);
  }
  void *p = (void *)&p;
  ck_assert_int_eq(lm_posix_memalign(&p, 3, 100), EINVAL);
  ck_assert_int_eq(lm_posix_memalign(&p, 0, 100), EINVAL);
  ck_assert_ptr_eq(p, (void *)&p);
  void *q = gz->memalign(gz, 24, 10); /* a direct caller gets the next power of two */
  ck_assert(ours(q));
  ck_assert_uint_eq((uintptr_t)q % 32, 0);
  lm_free(q);
}
END_TEST

START_TEST(pressure_relief_returns_dirty_memory) {
  void *big[4];
  for (int i = 0; i < 4; i++) {
    big[i] = lm_malloc(8 << 20);
    memset(big[i], 1, 8 << 20);
  }
  for (int i = 0; i < 4; i++) lm_free(big[i]);
  gclzone_stats_t st;
  gclzone_stats(&st);
  ck_assert_uint_ge(st.dirty_bytes, (size_t)32 << 20);
  size_t got = malloc_zone_pressure_relief(NULL, 0);
  ck_assert_uint_ge(got, (size_t)32 << 20);
  gclzone_stats(&st);
  ck_assert_uint_eq(st.dirty_bytes, 0);
  ck_assert_uint_eq(malloc_zone_pressure_relief(gz, 0), 0); /* nothing left */
  /* Purged memory reads as zero again (Darwin's purge must guarantee it). */
  char *again = lm_calloc(1, 8 << 20);
  for (size_t i = 0; i < ((size_t)8 << 20); i += 4096) ck_assert_int_eq(again[i], 0);
}
END_TEST

START_TEST(claimed_address) {
  char *p = lm_malloc(100), *big = lm_malloc(1 << 20);
  ck_assert(malloc_zone_claimed_address(gz, p));
  ck_assert(malloc_zone_claimed_address(gz, p + 50)); /* interior: may be claimed */
  ck_assert(malloc_zone_claimed_address(gz, big + 4096));
  ck_assert(!malloc_zone_claimed_address(gz, lm_early[3]));
  ck_assert(!malloc_zone_claimed_address(gz, &p));
  ck_assert(!malloc_zone_claimed_address(gz, NULL));
  ck_assert(!gz->claimed_address(gz, gclzone_heap_bounds().base));
  ck_assert(malloc_claimed_address(lm_early[3])); /* the system zone claims its own */
  ck_assert(malloc_claimed_address(p));
  lm_free(big); /* its span becomes free: no longer claimed */
  ck_assert(!gz->claimed_address(gz, big));
}
END_TEST

START_TEST(good_size_is_what_malloc_gives) {
  for (size_t n = 0; n < 300000; n = n < 2048 ? n + 1 : n + n / 7) {
    size_t g = malloc_good_size(n);
    ck_assert_uint_ge(g, n);
    void *p = lm_malloc(g);
    /* From a page up the block may be a larger class's free one, at most
     * twice the size (theap.c's larger_free). */
    size_t got = lm_malloc_size(p);
    if (g < 4096) ck_assert_uint_eq(got, g);
    else ck_assert_msg(got >= g && got <= 2 * g, "malloc(%zu): %zu", g, got);
    ck_assert_uint_eq(malloc_good_size(g), g);
    lm_free(p);
  }
}
END_TEST

/* ---- introspection ---------------------------------------------------------------------- */

START_TEST(enumerator_through_a_copying_reader) {
  make_blocks(1, ZD_BLOCKS);
  static ranges_t seen;
  static walked_t walked;
  memset(&cr, 0, sizeof cr);
  kern_return_t kr = gz->introspect->enumerator(0, &seen, MALLOC_PTR_IN_USE_RANGE_TYPE | MALLOC_PTR_REGION_RANGE_TYPE |
                                                            MALLOC_ADMIN_REGION_RANGE_TYPE,
                                                (vm_address_t)gz, copying_reader, recorder);
  ck_assert_int_eq(kr, KERN_SUCCESS);
  ck_assert_uint_gt(cr.reads, 10);
  ck_assert_uint_eq(cr.outside, 0); /* only the zone page, the metadata and the arena */
  gclzone_walk(walk_visitor, &walked);
  ck_assert_uint_gt(walked.n, 2000);
  /* Every block of this test is reported, with its usable size, inside a
   * reported region, and so is every block gclzone_walk visits. */
  enumerated_blocks(&seen, ZD_BLOCKS);
  same_ranges(seen.r[0], seen.n[0], walked.r, walked.n);
  /* The admin regions are the metadata. */
  ck_assert_uint_eq(seen.n[2], 3);
  ck_assert_uint_eq(seen.r[2][0].address, gcl_region.map.base);
  /* Through the virtual default zone (it passes slot 0's address), and with
   * libmalloc's NULL reader (in-process): the same blocks. */
  static ranges_t again;
  kr = malloc_default_zone()->introspect->enumerator(0, &again, MALLOC_PTR_IN_USE_RANGE_TYPE, 0, NULL, recorder);
  ck_assert_int_eq(kr, KERN_SUCCESS);
  same_ranges(again.r[0], again.n[0], seen.r[0], seen.n[0]);
  ck_assert_uint_eq(again.n[1] + again.n[2], 0); /* only the types asked for */
  /* Not our zone: refused, nothing recorded. */
  static ranges_t none;
  ck_assert_int_ne(gz->introspect->enumerator(0, &none, 7, (vm_address_t)lm_nano_zone(), NULL, recorder), KERN_SUCCESS);
  ck_assert_uint_eq(none.n[0] + none.n[1] + none.n[2], 0);
}
END_TEST

/* Another task: a child whose heap differs from ours, read with
 * process_vm_readv (or /proc/<pid>/mem), as a heap tool reads a Mac task with
 * mach_vm_read. Reading our own metadata instead would report our blocks. */
static kern_return_t remote_reader(task_t task, vm_address_t a, vm_size_t n, void **out) {
  static char *buf;
  static size_t cap;
  if (n > cap) {
    free(buf);
    buf = malloc(n);
    cap = n;
  }
  struct iovec local = {buf, n}, remote = {(void *)a, n};
  if (process_vm_readv((pid_t)task, &local, 1, &remote, 1, 0) != (ssize_t)n) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%u/mem", task);
    int fd = open(path, O_RDONLY);
    ssize_t got = fd >= 0 ? pread(fd, buf, n, (off_t)a) : -1;
    if (fd >= 0) close(fd);
    if (got != (ssize_t)n) return KERN_INVALID_ADDRESS;
  }
  *out = buf;
  return KERN_SUCCESS;
}

START_TEST(enumerator_reads_another_process) {
  make_blocks(2, ZD_BLOCKS);
  int up[2], down[2];
  ck_assert_int_eq(pipe(up), 0);
  ck_assert_int_eq(pipe(down), 0);
  pid_t pid = lm_fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    /* The child's heap: other blocks than the parent's. */
    for (unsigned i = 0; i < ZD_BLOCKS; i++)
      if (blocks[i] && i % 2) lm_free(blocks[i]);
    for (unsigned i = 0; i < 500; i++) lm_malloc(i * 11 % 3000 + (i % 100 == 0 ? 150000 : 0));
    static walked_t w;
    gclzone_walk(walk_visitor, &w);
    ssize_t ignored = write(up[1], &w.n, sizeof w.n);
    ignored = write(up[1], w.r, w.n * sizeof w.r[0]);
    char c;
    ignored = read(down[0], &c, 1);
    (void)ignored;
    _exit(0);
  }
  static walked_t child;
  ck_assert_int_eq(read(up[0], &child.n, sizeof child.n), sizeof child.n);
  for (size_t got = 0, want = child.n * sizeof child.r[0]; got < want;) {
    ssize_t r = read(up[0], (char *)child.r + got, want - got);
    ck_assert_int_gt(r, 0);
    got += (size_t)r;
  }
  /* Our heap moves on differently. */
  for (unsigned i = 0; i < ZD_BLOCKS; i++)
    if (blocks[i] && i % 2 == 0) lm_free(blocks[i]);
  for (unsigned i = 0; i < 200; i++) lm_malloc(70000);
  static ranges_t seen;
  kern_return_t kr = gz->introspect->enumerator((task_t)pid, &seen, MALLOC_PTR_IN_USE_RANGE_TYPE, (vm_address_t)gz,
                                                remote_reader, recorder);
  malloc_statistics_t remote;
  gz->introspect->task_statistics((task_t)pid, (vm_address_t)gz, remote_reader, &remote);
  ck_assert_int_eq(write(down[1], "x", 1), 1);
  int status;
  waitpid(pid, &status, 0);
  ck_assert_int_eq(kr, KERN_SUCCESS);
  ck_assert_uint_gt(child.n, 1000);
  ck_assert_uint_eq(remote.blocks_in_use, child.n);
  same_ranges(seen.r[0], seen.n[0], child.r, child.n);
  gclzone_stats_t mine;
  gclzone_stats(&mine);
  ck_assert_uint_ne(mine.in_use_blocks, child.n);
}
END_TEST

START_TEST(statistics_are_real) {
  malloc_statistics_t a, b, t;
  gz->introspect->statistics(gz, &a);
  void *p[100];
  for (int i = 0; i < 100; i++) p[i] = lm_malloc(32);
  void *big = lm_malloc(1 << 20);
  gz->introspect->statistics(gz, &b);
  ck_assert_uint_eq(b.blocks_in_use, a.blocks_in_use + 101);
  ck_assert_uint_eq(b.size_in_use, a.size_in_use + 100 * 32 + (1 << 20));
  ck_assert_uint_ge(b.size_allocated, b.size_in_use);
  ck_assert_uint_ge(b.max_size_in_use, b.size_allocated);
  gclzone_stats_t st;
  gclzone_stats(&st);
  ck_assert_uint_eq(b.blocks_in_use, st.in_use_blocks);
  ck_assert_uint_eq(b.size_allocated, st.committed_bytes);
  /* The reader-based figures agree (libmalloc's introspect_tests compare
   * task_statistics with statistics the same way). */
  gz->introspect->task_statistics(0, (vm_address_t)gz, NULL, &t);
  ck_assert_uint_eq(t.blocks_in_use, b.blocks_in_use);
  ck_assert_uint_eq(t.size_in_use, b.size_in_use);
  ck_assert_uint_eq(t.size_allocated, b.size_allocated);
  /* All zones: ours plus the system zones, each filling every field. */
  malloc_statistics_t all;
  malloc_zone_statistics(NULL, &all);
  ck_assert_uint_eq(all.blocks_in_use, b.blocks_in_use + lm_zone_stats(lm_nano_zone()).live +
                                           lm_zone_stats(lm_helper_zone()).live +
                                           lm_zone_stats(lm_purgeable_zone_if_created()).live);
  for (int i = 0; i < 100; i++) lm_free(p[i]);
  lm_free(big);
  gz->introspect->statistics(gz, &b);
  ck_assert_uint_eq(b.blocks_in_use, a.blocks_in_use);
}
END_TEST

static char *printed;
static size_t printed_len;
static void printer(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char line[512];
  int n = vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  printed = realloc(printed, printed_len + (size_t)n + 1);
  memcpy(printed + printed_len, line, (size_t)n + 1);
  printed_len += (size_t)n;
}

static void print_and_log(void *arg) {
  char *p = arg;
  malloc_zone_print(gz, 1);
  malloc_zone_log(gz, p);
  malloc_zone_log(gz, p + 8);
  malloc_zone_log(gz, lm_early[5]);
  malloc_zone_log(gz, NULL);
}

START_TEST(print_log_and_print_task) {
  char *p = lm_malloc(300), err[4096];
  int st = run_captured(print_and_log, p, err, sizeof err);
  ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  ck_assert_ptr_nonnull(strstr(err, "gclzone: arena:"));
  ck_assert_ptr_nonnull(strstr(err, "gclzone: region"));
  char want[128];
  snprintf(want, sizeof want, "%#lx is a live block (%zu bytes)", (unsigned long)(uintptr_t)p, lm_malloc_size(p));
  ck_assert_ptr_nonnull(strstr(err, want));
  ck_assert_ptr_nonnull(strstr(err, "in the region but not a live block"));
  ck_assert_ptr_nonnull(strstr(err, "not in the gclzone region"));
  snprintf(want, sizeof want, "gclzone: zone %#lx: the default zone; malloc() reaches it\n",
           (unsigned long)(uintptr_t)gz);
  ck_assert_msg(strstr(err, want) != NULL, "no \"%s\" in: %s", want, err);
  gz->introspect->print_task(0, MALLOC_VERBOSE_PRINT_LEVEL, (vm_address_t)gz, NULL, printer);
  gclzone_stats_t s;
  gclzone_stats(&s);
  snprintf(want, sizeof want, "%zu blocks in use, %zu bytes", s.in_use_blocks, s.in_use_bytes);
  ck_assert_ptr_nonnull(printed);
  ck_assert_ptr_nonnull(strstr(printed, want));
  ck_assert_ptr_nonnull(strstr(printed, "gclzone region"));
}
END_TEST

/* Break one invariant at a time, in a child whose stderr is kept: the
 * validator must refuse each, say which, and accept the repaired heap. */
static void corrupt_and_check(void *arg) {
  (void)arg;
  int failures = 0;
  char *p = lm_malloc(100), *big = lm_malloc(300000);
  gcl_span_t *s = gcl_span_of(p), *l = gcl_span_of(big);
  uint32_t bs = s->block_size;
  s->block_size = bs + 16;
  failures += !gz->introspect->check(gz);
  s->block_size = bs;
  uintptr_t bump = s->bump;
  s->bump = s->usable_end + bs;
  failures += !gz->introspect->check(gz);
  s->bump = bump;
  uint8_t kind = l->kind;
  l->kind = 7;
  failures += !gz->introspect->check(gz);
  l->kind = kind;
  size_t slot = ((uintptr_t)big - gcl_spans.base) >> GCL_SLOT_SHIFT;
  gcl_span_t *m = gcl_spans.map[slot + 1];
  gcl_spans.map[slot + 1] = s;
  failures += !malloc_zone_check(NULL);
  gcl_spans.map[slot + 1] = m;
  _exit(failures == 4 && gz->introspect->check(gz) ? 0 : 1);
}

START_TEST(check_runs_the_validator) {
  make_blocks(3, ZD_BLOCKS);
  ck_assert(malloc_zone_check(NULL));
  ck_assert(gz->introspect->check(gz));
  char err[2048];
  int st = run_captured(corrupt_and_check, NULL, err, sizeof err);
  ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x, stderr: %s", st, err);
  const char *want[] = {"a slab's size class is inconsistent", "a slab's bump pointer is out of range",
                        "a span has an unknown kind", "a span's slots map to another span"};
  for (size_t i = 0; i < 4; i++) ck_assert_msg(strstr(err, want[i]) != NULL, "no \"%s\" in: %s", want[i], err);
  ck_assert_ptr_nonnull(strstr(err, "gclzone: check failed at 0x"));
}
END_TEST

static void *hold_arena_lock(void *arg) {
  int *phase = arg;
  gcl_prim_lock(&gcl_span_lock);
  __atomic_store_n(phase, 1, __ATOMIC_SEQ_CST);
  while (__atomic_load_n(phase, __ATOMIC_SEQ_CST) != 2) usleep(100);
  gcl_prim_unlock(&gcl_span_lock);
  return NULL;
}

START_TEST(zone_locked_sees_held_locks) {
  ck_assert(!gz->introspect->zone_locked(gz));
  int phase = 0;
  pthread_t t;
  pthread_create(&t, NULL, hold_arena_lock, &phase);
  while (__atomic_load_n(&phase, __ATOMIC_SEQ_CST) != 1) usleep(100);
  ck_assert(gz->introspect->zone_locked(gz));
  __atomic_store_n(&phase, 2, __ATOMIC_SEQ_CST);
  pthread_join(t, NULL);
  ck_assert(!gz->introspect->zone_locked(gz));
}
END_TEST

/* ---- fork ----------------------------------------------------------------------------------- */

/* force_lock must hold every allocator lock until force_unlock: another
 * thread can take none of them meanwhile, and sees the zone locked. */
static void *try_every_lock(void *arg) {
  int *held = arg;
  *held = 0;
  for (size_t i = 0; i < gcl_process_nlocks; i++) {
    if (gcl_prim_trylock(gcl_process_locks[i])) gcl_prim_unlock(gcl_process_locks[i]);
    else *held += 1;
  }
  *held += gz->introspect->zone_locked(gz) ? 10 : 0;
  return NULL;
}

START_TEST(force_lock_holds_every_lock) {
  pthread_t t;
  int held;
  gz->introspect->force_lock(gz);
  pthread_create(&t, NULL, try_every_lock, &held);
  pthread_join(t, NULL);
  gz->introspect->force_unlock(gz); /* same pid: the parent's unlock */
  ck_assert_int_eq(held, (int)gcl_process_nlocks + 10);
  pthread_create(&t, NULL, try_every_lock, &held);
  pthread_join(t, NULL);
  ck_assert_int_eq(held, 0);
  void *p = lm_malloc(400000); /* and the allocator works after it */
  ck_assert(ours(p));
  lm_free(p);
}
END_TEST

START_TEST(fork_with_threads_allocating) {
  pthread_t t[4];
  stop_workers = 0;
  for (uintptr_t i = 0; i < 4; i++) pthread_create(&t[i], NULL, worker, (void *)(i + 1));
  lm_zone_stats_t n0 = lm_zone_stats(lm_nano_zone());
  for (int k = 0; k < 25; k++) {
    pid_t pid = lm_fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) _exit(child_works(10));
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child %d: status %#x", k, status);
  }
  stop_workers = 1;
  for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
  /* libmalloc's fork protocol ran on every zone, ours included. */
  lm_zone_stats_t n1 = lm_zone_stats(lm_nano_zone());
  ck_assert_uint_eq(n1.force_lock - n0.force_lock, 25);
  ck_assert_uint_eq(n1.force_unlock - n0.force_unlock, 25);
  ck_assert(!gz->introspect->zone_locked(gz));
  ck_assert(malloc_zone_check(gz));
}
END_TEST

static pid_t handler_child = -1;

static void fork_from_handler(int sig) {
  (void)sig;
  pid_t pid = lm_fork();
  if (pid == 0) _exit(child_works(10));
  handler_child = pid;
}

/* The signal interrupts this thread while it holds the arena lock (as it
 * would inside a large malloc); force_lock must not wait for it. */
START_TEST(fork_from_a_signal_handler_inside_malloc) {
  signal(SIGUSR1, fork_from_handler);
  alarm(10);
  gcl_prim_lock(&gcl_span_lock);
  raise(SIGUSR1);
  ck_assert(gcl_prim_lock_held(&gcl_span_lock)); /* the parent still holds it */
  gcl_prim_unlock(&gcl_span_lock);
  alarm(0);
  ck_assert_int_gt(handler_child, 0);
  int status;
  ck_assert_int_eq(waitpid(handler_child, &status, 0), handler_child);
  ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %#x", status);
  void *p = lm_malloc(500000);
  ck_assert(ours(p));
  lm_free(p);
}
END_TEST

/* ---- renaming, destroying, sbrk -------------------------------------------------------------- */

static void write_zone_page(void *arg) {
  (void)arg;
  *(volatile char *)&gz->reserved1 = 0;
}

START_TEST(renaming_makes_the_zone_page_read_only) {
  char *old = (char *)gz->zone_name;
  ck_assert(ours(old)); /* our name is a block of ours, so libmalloc can free it */
  char name[300];
  memset(name, 'z', sizeof name - 1);
  name[sizeof name - 1] = 0;
  malloc_set_zone_name(gz, name);
  ck_assert_str_eq(gz->zone_name, name);
  ck_assert(ours(gz->zone_name));
  /* The old name was freed: no longer a block, or the new name took its
   * address (theap.c gives its emptied slab to the new name's class). */
  ck_assert(!ours(old) || gz->zone_name == old);
  char err[256];
  int st = run_captured(write_zone_page, NULL, err, sizeof err);
  ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV, "the zone page is still writable");
  /* The page is read-only now; the zone must keep working without writing it. */
  char *p = lm_malloc(1000);
  p = lm_realloc(p, 100000);
  lm_free(p);
  pid_t pid = lm_fork();
  if (pid == 0) _exit(child_works(10));
  int status;
  waitpid(pid, &status, 0);
  ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  ck_assert(malloc_zone_check(NULL));
}
END_TEST

/* The rule destroy has to live with: unregistering moves the last zone
 * into the hole, nothing shifts (docs/darwin.md §3). */
START_TEST(model_unregister_moves_the_last_zone_into_the_hole) {
  int n = malloc_num_zones;
  ck_assert_int_ge(n, 3);
  malloc_zone_t *first = malloc_zones[0], *second = malloc_zones[1], *last = malloc_zones[n - 1];
  malloc_zone_unregister(first);
  ck_assert_int_eq(malloc_num_zones, n - 1);
  ck_assert_ptr_eq(malloc_zones[0], last);
  ck_assert_ptr_eq(malloc_zones[1], second);
  malloc_zone_register(first);
  ck_assert_ptr_eq(malloc_zones[n - 1], first);
}
END_TEST

/* After malloc_destroy_zone, the zone that was the default before us is
 * the default again (not the purgeable zone that unregistering put in slot
 * 0), every zone is still registered, and ours keeps claiming its blocks. */
START_TEST(destroy_gives_slot_0_back) {
  int n = malloc_num_zones;
  malloc_zone_t *before[16];
  ck_assert_int_le(n, 16);
  memcpy(before, malloc_zones, (size_t)n * sizeof *before);
  char *p = lm_malloc(64);
  malloc_destroy_zone(gz);
  ck_assert_ptr_eq(malloc_zones[0], lm_nano_zone());
  ck_assert_int_eq(malloc_num_zones, n);
  for (int i = 0; i < n; i++) ck_assert_int_ge(zone_index(before[i]), 0);
  ck_assert_int_ge(zone_index(gz), 1);
  ck_assert_int_gt(zone_index(lm_purgeable_zone_if_created()), 0);
  ck_assert_uint_eq(lm_counters.duplicate_registrations, 0);
  ck_assert_uint_eq(lm_counters.failed_unregistrations, 0);
  /* malloc() is the system's again; our blocks are still ours and freeable. */
  void *q = lm_malloc(64);
  ck_assert(!ours(q));
  ck_assert_uint_ne(lm_nano_zone()->size(lm_nano_zone(), q), 0);
  lm_free(q);
  ck_assert_uint_eq(lm_malloc_size(p), 64);
  lm_free(p);
  ck_assert(!ours(p));
  void *r = malloc_zone_malloc(gz, 100);
  ck_assert(ours(r));
  ck_assert_ptr_eq(malloc_zone_from_ptr(r), gz); /* not slot 0: the zone itself, on every release */
  lm_free(r);
  /* Named again (a block of ours), and renaming still frees the old name. */
  ck_assert_ptr_nonnull(gz->zone_name);
  ck_assert_str_eq(gz->zone_name, "gclzone");
  ck_assert(ours(gz->zone_name));
  malloc_set_zone_name(gz, "gclzone-renamed");
  ck_assert_str_eq(gz->zone_name, "gclzone-renamed");
  char err[4096];
  int st = run_captured(print_and_log, lm_malloc(8), err, sizeof err);
  ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  ck_assert_ptr_nonnull(strstr(err, "destroyed: registered for its blocks, not the default"));
}
END_TEST

/* destroy called on the zone itself, while it is the default: the same. */
START_TEST(destroy_called_directly) {
  char *p = lm_malloc(300);
  gz->destroy(gz);
  ck_assert_ptr_eq(malloc_zones[0], lm_nano_zone());
  ck_assert_int_ge(zone_index(gz), 1);
  ck_assert_str_eq(gz->zone_name, "gclzone");
  int at = zone_index(gz), n = malloc_num_zones;
  gz->destroy(gz); /* again, registered and not the default: nothing moves */
  ck_assert_int_eq(zone_index(gz), at);
  ck_assert_int_eq(malloc_num_zones, n);
  ck_assert_ptr_eq(malloc_zones[0], lm_nano_zone());
  ck_assert_uint_eq(lm_counters.duplicate_registrations, 0);
  lm_free(p);
  ck_assert(!ours(p));
}
END_TEST

/* ---- the probe: does malloc() reach the zone? ---------------------------------------------
 * The model reads MallocStackLogging at boot, as libmalloc does, so each
 * outcome is a fresh process: this binary again, with or without
 * MallocStackLogging=lite, running probe_child below. */

static bool child_failed;
#define CHILD_CHECK(cond)                                                                \
  do {                                                                                   \
    if (!(cond)) {                                                                       \
      fprintf(stderr, "child: %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);    \
      child_failed = true;                                                               \
    }                                                                                    \
  } while (0)

static malloc_zone_t *zone_named_gclzone(void) {
  for (int i = 0; i < malloc_num_zones; i++) {
    const char *name = malloc_zones[i]->zone_name;
    if (name && strcmp(name, "gclzone") == 0) return malloc_zones[i];
  }
  return NULL;
}

static int probe_child(const char *mode) {
  bool lite = strcmp(mode, "child-lite") == 0;
  malloc_zone_t *z = zone_named_gclzone();
  CHILD_CHECK(z != NULL);
  if (!z) return 1;
  CHILD_CHECK((lm_lite_zone() != NULL) == lite);
  void *p = lm_malloc(100);
  CHILD_CHECK(p != NULL);
  if (!lite) {
    CHILD_CHECK(malloc_zones[0] == z);
    CHILD_CHECK(ours(p) && ours(z->zone_name));
  } else {
    /* Stepped aside: the old default in slot 0, ours registered behind. */
    CHILD_CHECK(malloc_zones[0] == lm_nano_zone());
    CHILD_CHECK(zone_index(z) > 0);
    fprintf(stderr, "child: lite zone %p\n", (void *)lm_lite_zone());
    unsigned recorded = lm_lite_mallocs();
    void *q = lm_malloc(50);
    CHILD_CHECK(!ours(p) && !ours(q) && lm_nano_zone()->size(lm_nano_zone(), p) != 0);
    CHILD_CHECK(lm_lite_mallocs() == recorded + 1); /* served by the wrapper */
    CHILD_CHECK(!ours(z->zone_name));               /* the probe block: the wrapped zone's */
    lm_free(q);
    /* Renaming twice frees first the probe block, then a block of ours
     * (malloc_set_zone_name allocates from the zone): neither may abort. */
    malloc_set_zone_name(z, "gclzone-1");
    CHILD_CHECK(ours(z->zone_name));
    malloc_set_zone_name(z, "gclzone");
    CHILD_CHECK(ours(z->zone_name));
    /* A block asked of our zone directly is ours, and free() finds it. */
    void *r = malloc_zone_malloc(z, 4000);
    CHILD_CHECK(ours(r));
    lm_free(r);
    CHILD_CHECK(!ours(r));
    /* The process keeps working: the early blocks, realloc, the heap check. */
    for (int i = 0; i < LM_EARLY; i += 7) lm_free(lm_early[i]);
    void *s = lm_realloc(lm_malloc(10), 100000);
    CHILD_CHECK(s != NULL && !ours(s));
    lm_free(s);
    CHILD_CHECK(malloc_zone_check(NULL));
  }
  lm_free(p);
  malloc_zone_print(z, 0);
  fprintf(stderr, "child: %s\n", child_failed ? "FAILED" : "ok");
  return child_failed ? 1 : 0;
}

/* In run_captured's child: become this binary again as probe_child(mode),
 * MallocStackLogging=lite in its environment or not. */
typedef struct probe_run {
  const char *mode;
  bool lite;
} probe_run_t;

static void exec_probe_child(void *arg) {
  const probe_run_t *run = arg;
  unsetenv("MallocStackLogging");
  if (run->lite) setenv("MallocStackLogging", "lite", 1);
  char *argv[] = {(char *)"darwin_zone", (char *)run->mode, NULL};
  execve("/proc/self/exe", argv, environ);
  _exit(127);
}

static int run_probe_child(const char *mode, bool lite, char *err, size_t cap) {
  probe_run_t run = {mode, lite};
  return run_captured(exec_probe_child, &run, err, cap);
}

static size_t count_of(const char *haystack, const char *needle) {
  size_t n = 0;
  for (const char *at = haystack; (at = strstr(at, needle)) != NULL; at++) n++;
  return n;
}

START_TEST(probe_finds_the_zone_reached) {
  char err[8192];
  int st = run_probe_child("child-plain", false, err, sizeof err);
  ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x, stderr: %s", st, err);
  ck_assert_msg(strstr(err, "child: ok") != NULL, "stderr: %s", err);
  ck_assert_msg(strstr(err, "warning") == NULL, "a warning without stack logging: %s", err);
  ck_assert_msg(strstr(err, ": the default zone; malloc() reaches it") != NULL, "stderr: %s", err);
}
END_TEST

/* Malloc Stack Logging lite mode: one warning line that names it, print says
 * so, and the process keeps working (probe_child's checks). */
START_TEST(lite_mode_bypass_is_reported_and_survived) {
  char err[8192];
  int st = run_probe_child("child-lite", true, err, sizeof err);
  ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x, stderr: %s", st, err);
  ck_assert_msg(strstr(err, "child: ok") != NULL, "stderr: %s", err);
  const char *warning = "gclzone: warning: malloc() does not reach the gclzone zone: Malloc Stack Logging lite mode "
                        "(MallocStackLogging=lite, Xcode's Live Allocations Only)";
  ck_assert_msg(count_of(err, warning) == 1, "want one warning line, stderr: %s", err);
  ck_assert_uint_eq(count_of(err, "warning"), 1);
  /* ...and names the wrapper: the zone the child reports as its lite zone. */
  unsigned long lite_zone = 0;
  const char *said = strstr(err, "child: lite zone ");
  ck_assert_ptr_nonnull(said);
  ck_assert_int_eq(sscanf(said, "child: lite zone %lx", &lite_zone), 1);
  char want[64];
  snprintf(want, sizeof want, "(zone %#lx); gclzone stays registered", lite_zone);
  const char *line = strstr(err, warning);
  ck_assert_msg(strstr(line, want) != NULL && strstr(line, want) < strchr(line, '\n'), "no \"%s\" in: %s", want, err);
  ck_assert_msg(strstr(err, ": bypassed: Malloc Stack Logging lite mode") != NULL, "print: %s", err);
  ck_assert_msg(strstr(err, "registered, not the default") != NULL, "print: %s", err);
}
END_TEST

/* ---- heap images: the zone on a restored region ---------------------------------------
 * A child of this binary (the model booted, the zone installed by its
 * constructor) builds blocks through libmalloc's entry points and saves an
 * image; another starts with GCLZONE_IMAGE, so the constructor restores the
 * region before it installs the zone, and every block must be the zone's,
 * with its bytes and size, enumerated, freeable through free() and
 * reallocable, the heap check passing and the host heap where it was. */
#define ZW 600
typedef struct zworld {
  void *p[ZW];
  size_t size[ZW];
  unsigned char *host;
  void *brk;
} zworld_t;

static void zfill(unsigned char *p, size_t n, size_t seed) {
  for (size_t i = 0; i < n; i++) p[i] = (unsigned char)(seed * 7 + i * 3);
}

static bool zfilled(const unsigned char *p, size_t n, size_t seed) {
  for (size_t i = 0; i < n; i++)
    if (p[i] != (unsigned char)(seed * 7 + i * 3)) return false;
  return true;
}

typedef struct zseen {
  const zworld_t *w;
  unsigned hits[ZW];
} zseen_t;

static void zrecorder(task_t task, void *ctx, unsigned type, vm_range_t *r, unsigned n) {
  (void)task, (void)type;
  zseen_t *s = ctx;
  for (unsigned i = 0; i < n; i++)
    for (int k = 0; k < ZW; k++)
      if (s->w->p[k] && (vm_address_t)s->w->p[k] == r[i].address) s->hits[k]++;
}

static int image_child(const char *mode, const char *path) {
  if (!strcmp(mode, "child-image-save")) {
    zworld_t *w = lm_calloc(1, sizeof *w);
    CHILD_CHECK(ours(w));
    for (int i = 0; i < ZW; i++) {
      w->size[i] = i % 100 == 5 ? 300000 + (size_t)i : (size_t)(i * 53) % 6000 + 1;
      w->p[i] = lm_malloc(w->size[i]);
      CHILD_CHECK(ours(w->p[i]));
      zfill(w->p[i], w->size[i], (size_t)i);
    }
    for (int i = 0; i < ZW; i += 5) lm_free(w->p[i]), w->p[i] = NULL;
    w->host = gcl_zone_sbrk(65536);
    zfill(w->host, 65536, 99);
    w->brk = gcl_zone_sbrk(0);
    CHILD_CHECK(gclzone_image_save(path, w) == 0);
  } else {
    malloc_zone_t *z = malloc_zones[0];
    CHILD_CHECK(z && z->zone_name && !strcmp(z->zone_name, "gclzone")); /* installed over the restored region */
    zworld_t *w = gclzone_image_root();
    CHILD_CHECK(w != NULL && ours(w));
    if (!w) return 1;
    CHILD_CHECK(gcl_zone_sbrk(0) == w->brk && zfilled(w->host, 65536, 99));
    for (int i = 0; i < ZW; i++) {
      if (!w->p[i]) continue;
      CHILD_CHECK(z->size(z, w->p[i]) >= w->size[i] && malloc_size(w->p[i]) == z->size(z, w->p[i]));
#if LM_LIBMALLOC >= 374 /* as in promotion_lands_in_slot_0 */
      CHILD_CHECK(malloc_zone_from_ptr(w->p[i]) == malloc_default_zone());
#else
      CHILD_CHECK(malloc_zone_from_ptr(w->p[i]) == z);
#endif
      CHILD_CHECK(zfilled(w->p[i], w->size[i], (size_t)i));
    }
    static zseen_t seen;
    seen.w = w;
    CHILD_CHECK(z->introspect->enumerator(0, &seen, MALLOC_PTR_IN_USE_RANGE_TYPE, (vm_address_t)z, NULL, zrecorder) ==
                KERN_SUCCESS);
    for (int i = 0; i < ZW; i++) CHILD_CHECK(!w->p[i] || seen.hits[i] == 1);
    CHILD_CHECK(malloc_zone_check(NULL));
    for (int i = 1; i < ZW; i += 2) { /* free() and realloc() of restored blocks, through libmalloc */
      if (!w->p[i]) continue;
      if (i % 4 == 1) {
        lm_free(w->p[i]);
        CHILD_CHECK(!ours(w->p[i]));
      } else {
        unsigned char *q = lm_realloc(w->p[i], w->size[i] * 3 + 100);
        CHILD_CHECK(ours(q) && zfilled(q, w->size[i], (size_t)i));
        lm_free(q);
      }
      w->p[i] = NULL;
    }
    void *fresh = lm_malloc(777);
    CHILD_CHECK(ours(fresh));
    lm_free(fresh);
    CHILD_CHECK(malloc_zone_check(NULL));
    CHILD_CHECK(gclzone_image_save(path, w) == 0); /* and it saves again */
  }
  fprintf(stderr, "child: %s\n", child_failed ? "FAILED" : "ok");
  return child_failed ? 1 : 0;
}

typedef struct image_run {
  const char *mode, *path;
} image_run_t;

static void exec_image_child(void *arg) {
  const image_run_t *run = arg;
  unsetenv("GCLZONE_IMAGE");
  if (!strcmp(run->mode, "child-image-save")) {
    setenv("GCLZONE_BASE", "0x300000000000", 1); /* a base the next process finds free */
    setenv("GCLZONE_HEAP_SIZE", "64M", 1);
    setenv("GCLZONE_ARENA_SIZE", "256M", 1);
  } else {
    setenv("GCLZONE_IMAGE", run->path, 1);
  }
  char *argv[] = {(char *)"darwin_zone", (char *)run->mode, (char *)run->path, NULL};
  execve("/proc/self/exe", argv, environ);
  _exit(127);
}

START_TEST(the_zone_installs_over_a_restored_region) {
  char dir[] = "/tmp/gclzone-zone-image-XXXXXX", path[64], err[8192];
  ck_assert_ptr_nonnull(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/zone.img", dir);
  const char *modes[] = {"child-image-save", "child-image-restore", "child-image-restore"};
  for (int i = 0; i < 3; i++) { /* save; restore, use, save again; restore that */
    image_run_t run = {modes[i], path};
    int st = run_captured(exec_image_child, &run, err, sizeof err);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0 && strstr(err, "child: ok"), "%s: status %#x, stderr: %.600s",
                  modes[i], st, err);
  }
  unlink(path);
  rmdir(dir);
}
END_TEST

START_TEST(sbrk_and_brk_serve_the_host_heap) {
  gclzone_bounds_t h = gclzone_heap_bounds();
  char *b = gcl_zone_sbrk(0);
  ck_assert_ptr_eq(b, h.brk);
  ck_assert_ptr_eq(gcl_zone_sbrk(8192), b);
  for (int i = 0; i < 8192; i++) ck_assert_int_eq(b[i], 0);
  memset(b, 7, 8192);
  ck_assert_ptr_eq(gcl_zone_sbrk(0), b + 8192);
  ck_assert_ptr_eq(gcl_zone_sbrk(-4096), b + 8192);
  /* Darwin's sbrk takes an int: INT_MIN is a decrement, not a huge size. */
  errno = 0;
  ck_assert_ptr_eq(gcl_zone_sbrk(INT_MIN), (void *)-1);
  ck_assert_int_eq(errno, ENOMEM);
  ck_assert_ptr_eq(gcl_zone_sbrk(0), b + 4096);
  /* brk returns the new break, or -1 with ENOMEM. */
  ck_assert_ptr_eq(gcl_zone_brk(b + 65536), b + 65536);
  ck_assert_ptr_eq(gcl_zone_sbrk(0), b + 65536);
  errno = 0;
  ck_assert_ptr_eq(gcl_zone_brk((char *)h.base - 1), (void *)-1);
  ck_assert_int_eq(errno, ENOMEM);
  ck_assert_ptr_eq(gcl_zone_brk(b), b);
  ck_assert(!ours(b));
  ck_assert_uint_eq(gz->size(gz, b), 0);
}
END_TEST

static Suite *suite_zone(void) {
  Suite *s = suite_create("zone_darwin");
  TCase *install = tcase_create("install");
  tcase_add_test(install, promotion_lands_in_slot_0);
  tcase_add_test(install, every_field_through_version_12);
  tcase_add_test(install, early_blocks_stay_with_their_zones);
  suite_add_tcase(s, install);
  TCase *calls = tcase_create("calls");
  tcase_set_timeout(calls, 60);
  tcase_add_test(calls, size_is_zero_for_anything_not_a_live_block);
  tcase_add_test(calls, misuse_is_fatal);
  tcase_add_test(calls, malloc_family);
  tcase_add_test(calls, batch_calls);
  tcase_add_test(calls, memalign_through_posix_memalign);
  tcase_add_test(calls, pressure_relief_returns_dirty_memory);
  tcase_add_test(calls, claimed_address);
  tcase_add_test(calls, good_size_is_what_malloc_gives);
  suite_add_tcase(s, calls);
  TCase *intro = tcase_create("introspection");
  tcase_set_timeout(intro, 60);
  tcase_add_test(intro, enumerator_through_a_copying_reader);
  tcase_add_test(intro, enumerator_reads_another_process);
  tcase_add_test(intro, statistics_are_real);
  tcase_add_test(intro, print_log_and_print_task);
  tcase_add_test(intro, check_runs_the_validator);
  tcase_add_test(intro, zone_locked_sees_held_locks);
  suite_add_tcase(s, intro);
  TCase *fork = tcase_create("fork");
  tcase_set_timeout(fork, 60);
  tcase_add_test(fork, force_lock_holds_every_lock);
  tcase_add_test(fork, fork_with_threads_allocating);
  tcase_add_test(fork, fork_from_a_signal_handler_inside_malloc);
  suite_add_tcase(s, fork);
  TCase *life = tcase_create("lifecycle");
  tcase_set_timeout(life, 60);
  tcase_add_test(life, renaming_makes_the_zone_page_read_only);
  tcase_add_test(life, model_unregister_moves_the_last_zone_into_the_hole);
  tcase_add_test(life, destroy_gives_slot_0_back);
  tcase_add_test(life, destroy_called_directly);
  tcase_add_test(life, probe_finds_the_zone_reached);
  tcase_add_test(life, lite_mode_bypass_is_reported_and_survived);
  tcase_add_test(life, sbrk_and_brk_serve_the_host_heap);
  tcase_add_test(life, the_zone_installs_over_a_restored_region);
  suite_add_tcase(s, life);
  return s;
}

int main(int argc, char **argv) {
  if (argc == 3 && strncmp(argv[1], "child-image-", 12) == 0) return image_child(argv[1], argv[2]);
  if (argc == 2 && strncmp(argv[1], "child-", 6) == 0) return probe_child(argv[1]);
  gz = malloc_zones[0];
  if (!gz || !gz->zone_name || strcmp(gz->zone_name, "gclzone") != 0) {
    fprintf(stderr, "test_zone: the zone's constructor did not put it in slot 0\n");
    return EXIT_FAILURE;
  }
  SRunner *sr = srunner_create(suite_zone());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* test_image.c: image.c: heap images saved and started from.
 *
 * A process cannot start twice, so a test saves, then drops its region the
 * way a new process would not have it (forget_region: the reservation
 * unmapped, the thread's theap and the process state forgotten), and
 * restores in the same process; tests/image.sh runs real separate processes
 * through both front ends. Covered here: every block (every size class,
 * large, aligned) back with its bytes, ownership, usable size and the walk;
 * freed blocks staying freed; the break and the host heap's bytes; frees
 * from two threads after the restore, the validators, saving again and
 * restoring that; an empty region; save's errors; and every bad image:
 * gclzone_init's -1 and errno with nothing mapped at the image's base
 * afterwards, and GCLZONE_IMAGE's one fatal line for each. */
#define _GNU_SOURCE
#include "testutil.h"
#include "internal.h"
#include "image_format.h"

#include <pthread.h>
#include <sys/stat.h>

static char dir[64];

/* A file in this test's own directory: on /dev/shm where there is one, so
 * that the saves' fsync costs nothing. */
static const char *path_of(const char *name) {
  static char paths[8][160];
  static unsigned next;
  if (!dir[0]) {
    snprintf(dir, sizeof dir, "%s/gclzone-image-XXXXXX", access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(dir));
  }
  char *p = paths[next++ % 8];
  snprintf(p, sizeof paths[0], "%s/%s", dir, name);
  return p;
}

static void remove_dir(void) {
  if (!dir[0]) return;
  char cmd[100];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "test_image: cannot remove %s\n", dir);
}

/* The region gone, as in a process that never had it: what a restore
 * starts from. */
#define forget_region imgf_drop_region

/* Images are made at fixed bases, far from where the OS maps things: once
 * the region is dropped, glibc's malloc (which the tests' own code uses)
 * may map anything into the hole it leaves, as it may in a new process. */
#define BASE_A ((uintptr_t)0x310000000000)
#define BASE_B ((uintptr_t)0x320000000000)

static void fixed_region(size_t heap, size_t arena, uintptr_t base) {
  gclzone_config_t cfg = {.heap_size = heap, .arena_size = arena, .base = base};
  ck_assert_int_eq(gclzone_init(&cfg), 0);
}

static int restore_from(const char *path) {
  gclzone_config_t cfg = {.image = path};
  return gclzone_init(&cfg);
}

/* Is anything mapped in [lo, hi)? */
static bool mapped_in(uintptr_t lo, uintptr_t hi) {
  FILE *f = fopen("/proc/self/maps", "r");
  ck_assert_ptr_nonnull(f);
  char line[512];
  bool any = false;
  while (fgets(line, sizeof line, f)) {
    unsigned long a, b;
    if (sscanf(line, "%lx-%lx", &a, &b) == 2 && a < hi && b > lo) any = true;
  }
  fclose(f);
  return any;
}

/* ---- a world to save -------------------------------------------------------------- */

typedef struct item {
  unsigned char *p;
  size_t size, usable;
  uint32_t seed;
  int freed; /* freed before the save */
} item_t;

#define MAXITEMS 1200
typedef struct world {
  size_t n;
  item_t item[MAXITEMS];
  unsigned char *host; /* host heap bytes given by sbrk */
  size_t host_len;
  uintptr_t brk;
} world_t;

/* build() also runs in the suite's image maker, outside any test. */
static bool in_maker;
#define REQUIRE(x)                                        \
  do {                                                    \
    if (!(x)) {                                           \
      if (in_maker) _exit(3);                             \
      ck_abort_msg("%s:%d: %s", __FILE__, __LINE__, #x);  \
    }                                                     \
  } while (0)

static void add(world_t *w, void *p, size_t size) {
  REQUIRE(p != NULL);
  REQUIRE(w->n < MAXITEMS);
  item_t *it = &w->item[w->n];
  it->p = p, it->size = size, it->usable = gclzone_usable_size(p), it->seed = (uint32_t)w->n * 2654435761u;
  fill(p, size, it->seed);
  w->n++;
}

/* Blocks of every size class, large ones, aligned ones, some freed, and
 * host heap bytes; the world itself is a malloc'd block, the root. */
static world_t *build(bool big) {
  world_t *w = gclzone_calloc(1, sizeof *w);
  REQUIRE(w != NULL);
  for (unsigned c = 1; c < GCL_NCLASSES; c++)
    for (int k = 0; k < 5; k++) add(w, gclzone_malloc(gcl_slab_class_size(c)), gcl_slab_class_size(c) - (size_t)k);
  static const size_t large[] = {200000, 300000, 1 << 20, 3 << 20, 5000000};
  for (size_t i = 0; i < (big ? 5 : 2); i++) add(w, gclzone_malloc(large[i]), large[i]);
  static const size_t align[] = {64, 4096, 65536, 1 << 20};
  for (size_t i = 0; i < (big ? 4 : 3); i++) {
    void *p = NULL;
    REQUIRE(gclzone_posix_memalign(&p, align[i], 3000 + i) == 0);
    add(w, p, 3000 + i);
  }
  for (size_t i = 0; i < 600; i++) add(w, gclzone_malloc(24 + i % 200), 24 + i % 200);
  for (size_t i = 1; i < w->n; i += 3) { /* freed before the save */
    gclzone_free(w->item[i].p);
    w->item[i].freed = 1;
  }
  w->host_len = 300000;
  w->host = gclzone_sbrk((intptr_t)w->host_len);
  REQUIRE(w->host != (void *)-1);
  fill(w->host, w->host_len, 77);
  w->brk = (uintptr_t)gclzone_sbrk(0);
  return w;
}

typedef struct seen {
  const world_t *w;
  unsigned char *hits;
} seen_t;

static void count_visit(void *block, size_t size, void *ctx) {
  seen_t *s = ctx;
  for (size_t i = 0; i < s->w->n; i++)
    if (s->w->item[i].p == block && !s->w->item[i].freed && size == s->w->item[i].usable) s->hits[i]++;
}

/* Does a live item of w have address p? (A freed block's address may be a
 * new block's.) */
static bool reused(const world_t *w, const void *p) {
  for (size_t i = 0; i < w->n; i++)
    if (w->item[i].p == p && !w->item[i].freed) return true;
  return false;
}

/* Every live block of w is back as it was; the freed ones are not blocks. */
static void check_world(const world_t *w) {
  static unsigned char hits[MAXITEMS];
  memset(hits, 0, sizeof hits);
  seen_t s = {w, hits};
  gclzone_walk(count_visit, &s);
  for (size_t i = 0; i < w->n; i++) {
    const item_t *it = &w->item[i];
    if (it->freed) {
      ck_assert_msg(!gclzone_owns(it->p) || reused(w, it->p), "block %zu, freed before the save, is live", i);
      continue;
    }
    ck_assert_msg(gclzone_owns(it->p), "block %zu (%zu bytes) is not live", i, it->size);
    ck_assert_uint_eq(gclzone_usable_size(it->p), it->usable);
    ck_assert_msg(filled(it->p, it->size, it->seed), "block %zu lost its bytes", i);
    ck_assert_msg(hits[i] == 1, "block %zu visited %d times by the walk", i, hits[i]);
  }
}

static void check_host(const world_t *w) {
  ck_assert_ptr_eq(gclzone_sbrk(0), (void *)w->brk);
  ck_assert(filled(w->host, w->host_len, 77));
  unsigned char *more = gclzone_sbrk(8192);
  ck_assert_ptr_eq(more, (void *)w->brk);
  for (int i = 0; i < 8192; i++) ck_assert_int_eq(more[i], 0);
  ck_assert_ptr_eq(gclzone_sbrk(-8192), more + 8192);
}

static void *free_every_other(void *arg) {
  world_t *w = arg;
  static int turn;
  int me = __atomic_fetch_add(&turn, 1, __ATOMIC_RELAXED);
  for (size_t i = (size_t)me * 2; i < w->n; i += 4)
    if (!w->item[i].freed) {
      gclzone_free(w->item[i].p);
      w->item[i].freed = 2; /* freed after the restore */
    }
  return NULL;
}

/* A large block held by the saving thread's theap (theap.c: held spans) is
 * no block in the image: the restored process has that span free. */
START_TEST(a_held_span_is_free_in_the_image) {
  fixed_region(64 * MiB, 256 * MiB, BASE_A);
  char *root = gclzone_malloc(64);
  char *big = gclzone_malloc(300000), *kept = gclzone_malloc(300000);
  fill(kept, 300000, 9);
  gclzone_free(big);
  ck_assert_int_eq(gcl_span_of(big)->kind, GCL_SPAN_HELD);
  const char *path = path_of("held.img");
  ck_assert_int_eq(gclzone_image_save(path, root), 0);
  forget_region();
  ck_assert_int_eq(restore_from(path), 0);
  ck_assert_int_eq(gcl_span_of(big)->kind, GCL_SPAN_FREE);
  ck_assert(!gclzone_owns(big));
  ck_assert(gclzone_owns(kept));
  ck_assert(filled(kept, 300000, 9));
  gcl_check_all();
  char *again = gclzone_malloc(300000); /* the free span serves again */
  ck_assert_ptr_nonnull(again);
  gclzone_free(again);
  gclzone_free(kept);
  gclzone_free(root);
  gcl_check_all();
}
END_TEST

START_TEST(save_restore_save_restore) {
  fixed_region(64 * MiB, 256 * MiB, BASE_A);
  world_t *w = build(true);
  gclzone_bounds_t heap = gclzone_heap_bounds(), arena = gclzone_arena_bounds();
  const char *one = path_of("one.img"), *two = path_of("two.img");
  ck_assert_int_eq(gclzone_image_save(one, w), 0);
  check_world(w); /* the saver goes on unharmed */
  forget_region();
  ck_assert(!mapped_in((uintptr_t)heap.base, (uintptr_t)arena.limit));

  ck_assert_int_eq(restore_from(one), 0);
  ck_assert_ptr_eq(gclzone_image_root(), w);
  ck_assert_ptr_eq(gclzone_heap_bounds().base, heap.base);
  ck_assert_ptr_eq(gclzone_arena_bounds().limit, arena.limit);
  check_world(w);
  check_host(w);
  gcl_check_all();
  /* Free half from two threads (none of them owns the restored slabs),
   * allocate more, validate, save again. */
  pthread_t t[2];
  for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, free_every_other, w);
  for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
  size_t before = w->n;
  for (size_t i = 0; i < 200; i++) add(w, gclzone_malloc(40 + i * 37), 40 + i * 37);
  add(w, gclzone_malloc(2 << 20), 2 << 20);
  gcl_check_all();
  check_world(w);
  ck_assert_uint_gt(w->n, before);
  ck_assert_int_eq(gclzone_image_save(two, w), 0);
  forget_region();

  ck_assert_int_eq(restore_from(two), 0);
  ck_assert_ptr_eq(gclzone_image_root(), w);
  check_world(w);
  check_host(w);
  gcl_check_all();
  for (size_t i = 0; i < w->n; i++)
    if (!w->item[i].freed) gclzone_free(w->item[i].p);
  gclzone_free(w);
  gclzone_stats_t st;
  gclzone_stats(&st);
  ck_assert_uint_eq(st.in_use_blocks, 0);
  gcl_check_all();
}
END_TEST

/* An untouched region saves and restores too; a process that started from
 * an image says so, and asking for it again is no change. */
START_TEST(empty_region_and_the_same_image_again) {
  fixed_region(16 * MiB, 64 * MiB, BASE_A);
  const char *p = path_of("empty.img");
  ck_assert_int_eq(gclzone_image_save(p, NULL), 0);
  struct stat st;
  ck_assert_int_eq(stat(p, &st), 0);
  ck_assert_int_eq(st.st_size, IMGF_TABLE);
  forget_region();
  ck_assert_int_eq(restore_from(p), 0);
  ck_assert_ptr_null(gclzone_image_root());
  ck_assert_int_eq(restore_from(p), 0);
  void *q = gclzone_malloc(100);
  ck_assert(gclzone_owns(q));
  gclzone_free(q);
  ck_assert_int_eq(restore_from(path_of("other.img")), -1);
  ck_assert_int_eq(errno, EBUSY);
  gclzone_config_t both = {.heap_size = 16 * MiB, .image = p};
  ck_assert_int_eq(gclzone_init(&both), -1);
  ck_assert_int_eq(errno, EBUSY);
}
END_TEST

START_TEST(save_errors_leave_nothing) {
  errno = 0;
  ck_assert_int_eq(gclzone_image_save(path_of("early.img"), NULL), -1); /* not initialized */
  ck_assert_int_eq(errno, EINVAL);
  small_region(16 * MiB, 64 * MiB);
  void *p = gclzone_malloc(10);
  int on_stack;
  ck_assert_int_eq(gclzone_image_save(NULL, p), -1);
  ck_assert_int_eq(errno, EINVAL);
  ck_assert_int_eq(gclzone_image_save("", p), -1);
  ck_assert_int_eq(errno, EINVAL);
  const char *bad_root = path_of("root.img");
  ck_assert_int_eq(gclzone_image_save(bad_root, &on_stack), -1);
  ck_assert_int_eq(errno, EINVAL);
  ck_assert_int_eq(access(bad_root, F_OK), -1);
  ck_assert_int_eq(gclzone_image_save("/nonexistent-dir/x.img", p), -1);
  ck_assert_int_eq(errno, ENOENT);
  char big[5000];
  memset(big, 'a', sizeof big - 1);
  big[sizeof big - 1] = 0;
  ck_assert_int_eq(gclzone_image_save(big, p), -1);
  ck_assert_int_eq(errno, ENAMETOOLONG);
  /* The calling thread holds an allocator lock (a signal handler inside
   * malloc): refused, not a deadlock. */
  gcl_prim_lock(&gcl_span_lock);
  ck_assert_int_eq(gclzone_image_save(path_of("locked.img"), p), -1);
  ck_assert_int_eq(errno, EDEADLK);
  gcl_prim_unlock(&gcl_span_lock);
  /* Nothing but the good images was left in the directory. */
  ck_assert_int_eq(gclzone_image_save(path_of("good.img"), p), 0);
  char cmd[200];
  snprintf(cmd, sizeof cmd, "test \"$(ls %s)\" = good.img", dir);
  ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* ---- bad images ------------------------------------------------------------------------ */

/* A good image, made once for the suite by a child of the runner (which
 * must stay uninitialized), in the suite's own directory. */
static char good_dir[64], good_path[100];
static uintptr_t *good_facts; /* shared with the maker: [0] a small block live in the image */
static unsigned char *good;   /* the image, and its length (read by each test) */
static size_t good_len;
static imgf_header_t good_h;
static uintptr_t live_block;

static pid_t good_owner;

static void remove_good_dir(void) {
  if (getpid() != good_owner) return; /* a test's child exiting: not ours to remove */
  char cmd[100];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", good_dir);
  if (system(cmd) != 0) fprintf(stderr, "test_image: cannot remove %s\n", good_dir);
}

static void make_good_image(void) {
  snprintf(good_dir, sizeof good_dir, "%s/gclzone-good-XXXXXX", access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
  if (!mkdtemp(good_dir)) return;
  good_owner = getpid();
  atexit(remove_good_dir);
  snprintf(good_path, sizeof good_path, "%s/good.img", good_dir);
  good_facts = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  pid_t pid = fork();
  if (pid == 0) {
    in_maker = true;
    gclzone_config_t cfg = {.heap_size = 32 * MiB, .arena_size = 128 * MiB, .base = BASE_B};
    if (gclzone_init(&cfg)) _exit(1);
    world_t *w = build(false); /* small: every test copies it */
    good_facts[0] = (uintptr_t)w->item[0].p;
    _exit(gclzone_image_save(good_path, w) ? 2 : 0);
  }
  int st;
  waitpid(pid, &st, 0);
}

static void make_good(void) {
  if (good) return;
  ck_assert_msg(good_facts && good_facts[0], "the suite's good image was not made");
  live_block = good_facts[0];
  const char *p = good_path;
  FILE *f = fopen(p, "rb");
  ck_assert_ptr_nonnull(f);
  fseek(f, 0, SEEK_END);
  good_len = (size_t)ftell(f);
  rewind(f);
  good = malloc(good_len);
  ck_assert_uint_eq(fread(good, 1, good_len, f), good_len);
  fclose(f);
  memcpy(&good_h, good, sizeof good_h);
  ck_assert_uint_ge(good_h.nsections, 4);
}

static void write_file(const char *path, const void *buf, size_t n) {
  FILE *f = fopen(path, "wb");
  ck_assert_ptr_nonnull(f);
  ck_assert_uint_eq(fwrite(buf, 1, n, f), n);
  fclose(f);
}

static imgf_section_t *section(unsigned char *img, uint32_t kind) {
  imgf_section_t *t = imgf_table(img);
  for (uint64_t i = 0; i < good_h.nsections; i++)
    if (t[i].kind == kind) return &t[i];
  ck_abort_msg("no section of kind %u", kind);
  return NULL;
}

/* The descriptor of the span holding live_block, as it lies in img. */
static gcl_span_t *descriptor_of_live_block(unsigned char *img) {
  gcl_region_t plan;
  gcl_region_plan(&plan, good_h.host_base, good_h.heap_size, good_h.arena_size);
  imgf_section_t *map = section(img, IMGF_MAP), *spans = section(img, IMGF_SPANS);
  size_t slot = (live_block - plan.arena.base) >> GCL_SLOT_SHIFT;
  uintptr_t d;
  memcpy(&d, img + map->offset + slot * sizeof d, sizeof d);
  ck_assert_uint_ge(d, spans->addr);
  return (gcl_span_t *)(img + spans->offset + (d - spans->addr));
}

typedef struct bad {
  const char *name;
  void (*forge)(unsigned char *img, size_t *len); /* NULL: special */
  int err;
  const char *why;
} bad_t;

static void f_empty(unsigned char *img, size_t *len) { (void)img, *len = 0; }
static void f_short(unsigned char *img, size_t *len) { (void)img, *len = 100; }
static void f_truncated(unsigned char *img, size_t *len) { (void)img, *len -= 4096; }
static void f_magic(unsigned char *img, size_t *len) { (void)len, img[3] ^= 0x20; }
static void f_format(unsigned char *img, size_t *len) {
  (void)len;
  ((imgf_header_t *)img)->format++;
}
static void f_arch(unsigned char *img, size_t *len) {
  (void)len;
  ((imgf_header_t *)img)->arch ^= 0x10000;
}
static void f_page(unsigned char *img, size_t *len) {
  (void)len;
  ((imgf_header_t *)img)->page_size *= 4;
}
static void f_build(unsigned char *img, size_t *len) {
  (void)len;
  ((imgf_header_t *)img)->build ^= 1;
}
static void f_header(unsigned char *img, size_t *len) {
  (void)len;
  imgf_header_t *h = (imgf_header_t *)img;
  h->host_break = h->host_base + h->heap_size + 4096;
}
static void f_checksum(unsigned char *img, size_t *len) {
  imgf_section_t *s = section(img, IMGF_SPANS);
  (void)len;
  img[s->offset + 40] ^= 1;
}
static void f_root(unsigned char *img, size_t *len) { /* still in range: only the sum tells */
  (void)len;
  ((imgf_header_t *)img)->root += 16;
}
static void f_outside(unsigned char *img, size_t *len) {
  imgf_section_t *s = section(img, IMGF_ARENA);
  s->offset = *len;
}
static void f_overlap(unsigned char *img, size_t *len) {
  (void)len;
  imgf_section_t *t = imgf_table(img);
  t[2].addr = t[1].addr;
}
static void f_region(unsigned char *img, size_t *len) { /* an arena section past the arena's break */
  (void)len;
  imgf_section_t *s = section(img, IMGF_ARENA);
  s->addr += ((imgf_header_t *)img)->arena_size;
}
static void f_map(unsigned char *img, size_t *len) { /* a slot names the wrong descriptor */
  imgf_section_t *map = section(img, IMGF_MAP);
  uintptr_t d;
  memcpy(&d, img + map->offset, sizeof d);
  d += sizeof(gcl_span_t);
  memcpy(img + map->offset, &d, sizeof d);
  imgf_fix_checksum(img, *len);
}
static void f_count(unsigned char *img, size_t *len) { /* a slab's count is off: only its lists tell */
  descriptor_of_live_block(img)->used += 1;
  imgf_fix_checksum(img, *len);
}
static void f_head(unsigned char *img, size_t *len) { /* a free list's head is no block */
  gcl_span_t *d = descriptor_of_live_block(img);
  d->free = (gcl_block_t *)(d->start + 8);
  imgf_fix_checksum(img, *len);
}
static void f_geometry(unsigned char *img, size_t *len) {
  descriptor_of_live_block(img)->block_size += 16;
  imgf_fix_checksum(img, *len);
}
static void f_class(unsigned char *img, size_t *len) { /* a size class past the last (the fuzzer's find) */
  descriptor_of_live_block(img)->sclass = GCL_NCLASSES + 23;
  imgf_fix_checksum(img, *len);
}

static const bad_t bads[] = {
  {"missing", NULL, ENOENT, "no such file"},
  {"directory", NULL, EISDIR, "the file cannot be read"},
  {"empty", f_empty, EINVAL, "the file is truncated"},
  {"short", f_short, EINVAL, "the file is truncated"},
  {"truncated", f_truncated, EINVAL, "the file is truncated"},
  {"magic", f_magic, EINVAL, "not a gclzone image"},
  {"format", f_format, EINVAL, "another format version"},
  {"arch", f_arch, EINVAL, "made for another architecture"},
  {"page", f_page, EINVAL, "made with another page size"},
  {"build", f_build, EINVAL, "made by an incompatible build of libgclzone"},
  {"header", f_header, EINVAL, "its header is inconsistent"},
  {"checksum", f_checksum, EINVAL, "checksum mismatch"},
  {"root", f_root, EINVAL, "checksum mismatch"},
  {"outside", f_outside, EINVAL, "its sections overlap or lie outside the file or the region"},
  {"overlap", f_overlap, EINVAL, "its sections overlap or lie outside the file or the region"},
  {"region", f_region, EINVAL, "its sections overlap or lie outside the file or the region"},
  {"map", f_map, EINVAL, "its metadata fails the arena validators"},
  {"head", f_head, EINVAL, "its metadata fails the arena validators"},
  {"geometry", f_geometry, EINVAL, "its metadata fails the arena validators"},
  {"class", f_class, EINVAL, "its metadata fails the arena validators"},
  {"taken", NULL, EEXIST, "its address range is in use"},
};
#define NBADS (sizeof bads / sizeof bads[0])

static void *taken; /* what holds the base in the "taken" case */

/* Make bad image i; its path. */
static const char *forge(size_t i) {
  make_good();
  const bad_t *b = &bads[i];
  char name[64];
  snprintf(name, sizeof name, "bad-%s.img", b->name);
  const char *p = path_of(name);
  if (!strcmp(b->name, "missing")) return p;
  if (!strcmp(b->name, "directory")) {
    mkdir(p, 0755);
    return p;
  }
  if (!strcmp(b->name, "taken")) {
    write_file(p, good, good_len);
    taken = mmap((void *)(uintptr_t)good_h.host_base, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
                 -1, 0);
    ck_assert_ptr_eq(taken, (void *)(uintptr_t)good_h.host_base);
    return p;
  }
  size_t len = good_len;
  unsigned char *img = malloc(len);
  memcpy(img, good, len);
  b->forge(img, &len);
  write_file(p, img, len);
  free(img);
  return p;
}

static void unforge(size_t i) {
  if (!strcmp(bads[i].name, "taken")) munmap(taken, 4096);
}

static uintptr_t region_end(void) {
  gcl_region_t plan;
  gcl_region_plan(&plan, good_h.host_base, good_h.heap_size, good_h.arena_size);
  return plan.base + plan.size + GCL_ARENA_ALIGN;
}

START_TEST(bad_images_are_refused_and_map_nothing) {
  size_t i = (size_t)_i;
  const char *p = forge(i);
  errno = 0;
  ck_assert_msg(restore_from(p) == -1, "%s: accepted", bads[i].name);
  ck_assert_msg(errno == bads[i].err, "%s: errno %d (%s), want %d", bads[i].name, errno, strerror(errno), bads[i].err);
  unforge(i);
  ck_assert_msg(!mapped_in(good_h.host_base, region_end()), "%s: something is mapped at the image's base", bads[i].name);
  ck_assert_ptr_null(gclzone_heap_bounds().base); /* not initialized */
  /* The process can still start afresh. */
  ck_assert_int_eq(gclzone_init(NULL), 0);
  void *q = gclzone_malloc(64);
  ck_assert(gclzone_owns(q));
}
END_TEST

static void start_from_env(void *arg) {
  setenv("GCLZONE_IMAGE", arg, 1);
  (void)gclzone_malloc(1);
}

START_TEST(gclzone_image_refusal_is_one_fatal_line) {
  size_t i = (size_t)_i;
  const char *p = forge(i);
  char want[400];
  snprintf(want, sizeof want, "cannot start from the image %s: %s", p, bads[i].why);
  expect_fatal(start_from_env, (void *)p, want, NULL);
  unforge(i);
}
END_TEST

/* A slab whose count disagrees with its lists: the lists lie in the data,
 * which a restore does not read, so the restore accepts it; the first free
 * into that slab walks its lists and stops with the corruption. Under
 * GCLZONE_CHECK the restore walks them all and refuses the image. */
static const char *forge_count(uintptr_t *slab) {
  make_good();
  unsigned char *img = malloc(good_len);
  memcpy(img, good, good_len);
  size_t len = good_len;
  f_count(img, &len);
  *slab = descriptor_of_live_block(img)->start;
  const char *p = path_of("bad-count.img");
  write_file(p, img, len);
  free(img);
  return p;
}

static void free_into_the_slab(void *arg) {
  if (restore_from(arg) != 0) _exit(3);
  gclzone_free((void *)live_block);
}

START_TEST(a_broken_count_is_found_at_first_use) {
  uintptr_t slab;
  const char *p = forge_count(&slab);
  expect_fatal(free_into_the_slab, (void *)p, "heap corruption at %p: a slab's block count does not add up",
               (void *)slab);
  setenv("GCLZONE_CHECK", "1", 1);
  errno = 0;
  ck_assert_int_eq(restore_from(p), -1);
  ck_assert_int_eq(errno, EINVAL);
  ck_assert(!mapped_in(good_h.host_base, region_end()));
  char want[400];
  snprintf(want, sizeof want, "cannot start from the image %s: its metadata fails the arena validators", p);
  expect_fatal(start_from_env, (void *)p, want, NULL);
}
END_TEST

/* The good image itself starts from GCLZONE_IMAGE (and the forger's copy is
 * the file the library wrote: the restatement in image_format.h agrees). */
START_TEST(the_good_image_starts_from_the_environment) {
  make_good();
  ck_assert_uint_eq(imgf_checksum(good, good_len), good_h.checksum);
  setenv("GCLZONE_IMAGE", good_path, 1);
  ck_assert_ptr_eq(gclzone_sbrk(0), (void *)(uintptr_t)good_h.host_break); /* the first call starts from it */
  world_t *w = gclzone_image_root();
  ck_assert_ptr_nonnull(w);
  check_world(w);
  check_host(w);
  void *q = gclzone_malloc(1);
  ck_assert(gclzone_owns(q));
  unsetenv("GCLZONE_IMAGE");
}
END_TEST

Suite *suite_image(void) {
  Suite *s = suite_create("image");
  /* Images live at fixed bases (0x31..., 0x32...), which ThreadSanitizer
   * keeps for its shadow memory and refuses to map: not under TSan. */
  if (GCL_TEST_TSAN) return s;
  make_good_image();
  TCase *t = tcase_create("image");
  tcase_set_timeout(t, 60);
  tcase_add_checked_fixture(t, NULL, remove_dir);
  tcase_add_test(t, save_restore_save_restore);
  tcase_add_test(t, a_held_span_is_free_in_the_image);
  tcase_add_test(t, empty_region_and_the_same_image_again);
  tcase_add_test(t, save_errors_leave_nothing);
  tcase_add_test(t, the_good_image_starts_from_the_environment);
  tcase_add_test(t, a_broken_count_is_found_at_first_use);
  tcase_add_loop_test(t, bad_images_are_refused_and_map_nothing, 0, (int)NBADS);
  tcase_add_loop_test(t, gclzone_image_refusal_is_one_fatal_line, 0, (int)NBADS);
  suite_add_tcase(s, t);
  return s;
}

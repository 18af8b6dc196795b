/* fuzz_alloc.c: libFuzzer harness. Each input is a stream of operations on
 * the prefixed API (malloc, calloc, realloc, the aligned family, free,
 * usable size, sbrk, collect, ownership probes) checked against a shadow
 * model of the live blocks:
 *  - a NULL result comes with errno ENOMEM (the arena is small on purpose,
 *    so running out is common and legal), and then changes nothing;
 *  - every block is aligned as asked, has a usable size >= its size, and
 *    overlaps neither another live block nor the host heap;
 *  - every block keeps its fill pattern until freed; realloc keeps the
 *    common prefix; calloc is zero;
 *  - interior pointers are never owned; stats count exactly the live blocks;
 *  - the host heap's bytes are zero when handed out and keep their pattern;
 *  - an image round trip (save, drop the region as a new process would not
 *    have it, start from the image) keeps every block live with its bytes
 *    and usable size, the root, the break and the host heap's bytes.
 * Any violation aborts (__builtin_trap). State is reset after each input. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "gclzone.h"
#include "internal.h" /* the round trip drops the region, as a new process would not have it */
#include "../image_format.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAXLIVE 256
#define CHECK(c) ((c) ? (void)0 : __builtin_trap())

typedef struct {
  unsigned char *p;
  size_t n;
  unsigned char fill;
  size_t usable; /* at the last image round trip */
} obj_t;

static obj_t live[MAXLIVE];
static size_t nlive;
static unsigned char *host_base;
static size_t host_len;

typedef struct {
  const uint8_t *d;
  size_t n;
} stream_t;

static unsigned take(stream_t *s, unsigned bytes) {
  unsigned v = 0;
  for (unsigned i = 0; i < bytes; i++) {
    v = v << 8 | (s->n ? *s->d : 0);
    if (s->n) s->d++, s->n--;
  }
  return v;
}

/* Sizes spread over the classes, large blocks, and beyond the arena. */
static size_t pick_size(stream_t *s) {
  unsigned k = take(s, 1), v = take(s, 2);
  switch (k % 8) {
  case 0: return v % 64;
  case 1: case 2: case 3: return v % 1025;
  case 4: return v % 140000;
  case 5: return (size_t)v * 64;                /* up to 4 MiB */
  case 6: return (size_t)(v % 600) << 16;       /* up to ~39 MiB */
  default: return k & 64 ? SIZE_MAX - v : ((size_t)1 << 40) + v;
  }
}

/* Blocks up to 8 KiB are filled and checked whole; bigger ones at their
 * first and last 4 KiB and every 4093rd byte between (a prime stride, so
 * the sample moves across pages). */
static size_t next_index(size_t i, size_t n) {
  if (n <= 8192 || i < 4096 || i >= n - 4096) return i + 1;
  size_t j = i + 4093;
  return j < n - 4096 ? j : n - 4096;
}

static void check_fill(const obj_t *o) {
  for (size_t i = 0; i < o->n; i = next_index(i, o->n)) CHECK(o->p[i] == (unsigned char)(o->fill + i * 31));
}

static void set_fill(obj_t *o) {
  for (size_t i = 0; i < o->n; i = next_index(i, o->n)) o->p[i] = (unsigned char)(o->fill + i * 31);
}

static void check_new(const unsigned char *p, size_t n, size_t align) {
  CHECK(p != NULL);
  CHECK((uintptr_t)p % (align > 16 ? align : 16) == 0);
  CHECK(gclzone_usable_size(p) >= n);
  CHECK(gclzone_owns(p));
  gclzone_bounds_t h = gclzone_heap_bounds();
  size_t span = n ? n : 1;
  CHECK(p + span <= (unsigned char *)h.base || p >= (unsigned char *)h.limit);
  for (size_t i = 0; i < nlive; i++) CHECK(p + span <= live[i].p || live[i].p + (live[i].n ? live[i].n : 1) <= p);
}

static void add(unsigned char *p, size_t n, unsigned char fill, bool zeroed) {
  if (zeroed)
    for (size_t i = 0; i < n; i = next_index(i, n)) CHECK(p[i] == 0);
  live[nlive] = (obj_t){p, n, fill, 0};
  set_fill(&live[nlive]);
  nlive++;
}

static void enomem_or(void *p) {
  if (!p) CHECK(errno == ENOMEM);
}

static void drop(size_t i) {
  check_fill(&live[i]);
  int saved = errno = 4711;
  gclzone_free(live[i].p);
  CHECK(errno == saved);
  live[i] = live[--nlive];
}

static char image_path[64];

/* Save, drop the region, start from the image: everything is back. A fixed
 * base, away from ASan's and libFuzzer's mappings, so that nothing takes
 * the hole between the two. */
static void image_round_trip(void) {
  const void *root = nlive ? live[0].p : NULL;
  for (size_t i = 0; i < nlive; i++) live[i].usable = gclzone_usable_size(live[i].p);
  CHECK(gclzone_image_save(image_path, root) == 0);
  imgf_drop_region();
  gclzone_config_t cfg = {.image = image_path};
  CHECK(gclzone_init(&cfg) == 0);
  CHECK(gclzone_image_root() == root);
  CHECK(gclzone_sbrk(0) == host_base + host_len);
  for (size_t k = 0; k < host_len; k += 61) CHECK(host_base[k] == 0x5a);
  for (size_t i = 0; i < nlive; i++) {
    CHECK(gclzone_owns(live[i].p));
    CHECK(gclzone_usable_size(live[i].p) == live[i].usable);
    check_fill(&live[i]);
  }
  gclzone_stats_t st;
  gclzone_stats(&st);
  CHECK(st.in_use_blocks == nlive);
}

static void remove_image(void) {
  unlink(image_path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  gclzone_config_t cfg = {64 << 20, 128 << 20, 0x300000000000, NULL};
  CHECK(gclzone_init(&cfg) == 0);
  host_base = gclzone_sbrk(0);
  snprintf(image_path, sizeof image_path, "%s/gclzone-fuzz-%d.img", access("/dev/shm", W_OK) ? "/tmp" : "/dev/shm",
           (int)getpid());
  atexit(remove_image);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  stream_t s = {data, size};
  while (s.n) {
    unsigned op = take(&s, 1) % 11;
    errno = 0;
    if (op <= 3 && nlive == MAXLIVE) op = 4;
    switch (op) {
    case 0: { /* malloc */
      size_t n = pick_size(&s);
      unsigned char *p = gclzone_malloc(n);
      enomem_or(p);
      if (p) check_new(p, n, 16), add(p, n, (unsigned char)take(&s, 1), false);
      break;
    }
    case 1: { /* calloc */
      size_t a = pick_size(&s) % 5000, b = take(&s, 1) % 9;
      if (take(&s, 1) == 255) a = SIZE_MAX / 3, b = 4; /* overflow */
      unsigned char *p = gclzone_calloc(a, b);
      enomem_or(p);
      if (p) check_new(p, a * b, 16), add(p, a * b, (unsigned char)take(&s, 1), true);
      break;
    }
    case 2: { /* realloc of a live block (or of NULL) */
      size_t n = pick_size(&s);
      if (!nlive) {
        unsigned char *p = gclzone_realloc(NULL, n);
        enomem_or(p);
        if (p) check_new(p, n, 16), add(p, n, 7, false);
        break;
      }
      size_t i = take(&s, 1) % nlive;
      obj_t o = live[i];
      check_fill(&o);
      if (n == 0) { /* frees, returns NULL (glibc) */
        CHECK(gclzone_realloc(o.p, 0) == NULL);
        live[i] = live[--nlive];
        break;
      }
      live[i] = live[--nlive]; /* out of the model while it moves */
      unsigned char *p = gclzone_realloc(o.p, n);
      if (!p) {
        CHECK(errno == ENOMEM);
        live[nlive++] = o; /* intact */
        check_fill(&o);
        break;
      }
      check_new(p, n, 16);
      obj_t r = {p, n, o.fill, 0};
      size_t keep = n < o.n ? n : o.n;
      for (size_t k = 0; k < keep; k = next_index(k, o.n)) CHECK(p[k] == (unsigned char)(o.fill + k * 31));
      live[nlive++] = r;
      set_fill(&live[nlive - 1]); /* the sample positions depend on the size */
      break;
    }
    case 3: { /* aligned */
      size_t n = pick_size(&s), align = (size_t)1 << (take(&s, 1) % 22);
      unsigned how = take(&s, 1) % 3;
      void *p = NULL;
      if (how == 0) {
        int rc = gclzone_posix_memalign(&p, align < sizeof(void *) ? sizeof(void *) : align, n);
        CHECK(rc == 0 || rc == ENOMEM);
        if (rc) CHECK(p == NULL);
      } else {
        p = how == 1 ? gclzone_aligned_alloc(align, n) : gclzone_memalign(align, n);
        enomem_or(p);
      }
      if (p) check_new(p, n, align), add(p, n, (unsigned char)take(&s, 1), false);
      break;
    }
    case 4: /* free */
      if (nlive) drop(take(&s, 1) % nlive);
      else gclzone_free(NULL);
      break;
    case 5: /* usable size, interior pointers */
      if (nlive) {
        obj_t *o = &live[take(&s, 1) % nlive];
        size_t u = gclzone_usable_size(o->p);
        CHECK(u >= o->n);
        size_t off = 1 + take(&s, 2) % (u ? u : 1);
        if (off < u) CHECK(!gclzone_owns(o->p + off));
      }
      break;
    case 6: { /* the host heap: grow with zeroed bytes, shrink, never below the base */
      intptr_t d = (intptr_t)(take(&s, 2) * 64) - (take(&s, 1) & 1 ? (intptr_t)host_len : 0);
      if (take(&s, 1) == 0) d = INTPTR_MAX; /* a probe */
      unsigned char *old = gclzone_sbrk(d);
      if (old == (void *)-1) {
        CHECK(errno == ENOMEM);
        CHECK(gclzone_sbrk(0) == host_base + host_len);
        break;
      }
      CHECK(old == host_base + host_len);
      if (d > 0)
        for (intptr_t k = 0; k < d; k++) CHECK(old[k] == 0), old[k] = 0x5a;
      host_len += (size_t)d;
      break;
    }
    case 7: /* pressure relief keeps every live block */
      gclzone_trim();
      for (size_t i = 0; i < nlive; i++) check_fill(&live[i]);
      break;
    case 8: { /* the host heap keeps its bytes */
      for (size_t k = 0; k < host_len; k += 61) CHECK(host_base[k] == 0x5a);
      break;
    }
    case 10:
      image_round_trip();
      break;
    default: { /* stats count exactly the live blocks */
      gclzone_stats_t st;
      gclzone_stats(&st);
      CHECK(st.in_use_blocks == nlive);
      break;
    }
    }
  }
  while (nlive) drop(nlive - 1);
  if (host_len) CHECK(gclzone_sbrk(-(intptr_t)host_len) == host_base + host_len), host_len = 0;
  return 0;
}

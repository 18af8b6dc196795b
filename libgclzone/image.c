/* image.c: heap images: the file format, saving the region into a file,
 * and starting a process from one (the successor to unexec).
 *
 * Owns the format (header, section table, checksum), gclzone_image_save,
 * the restore that process.c's init runs instead of a fresh reservation,
 * and the root a restored process gets back (gclzone_image_root).
 *
 * The file: a header, the section table, then the sections, each at a
 * page-aligned offset and address, in address order (integers in the
 * saving machine's byte order, which the header's architecture names):
 *   HOST   the host heap, [base, break rounded up to a page);
 *   ARENA  runs of in-use spans: a slab up to its bump pointer, a large
 *          block up to its usable end; a run also holds what lies between
 *          two of them when that is at most `gap` bytes (a slab's untouched
 *          tail, the rest of a large block's last slot, small free spans),
 *          so that a heap needs few sections;
 *   MAP    the slot map up to the arena's break;
 *   SPANS  the span descriptors up to the last one ever used.
 * The header gives the rest: the base and sizes (from which the region is
 * laid out as region.c lays out any reservation), the break, the arena's
 * top, the free-list link key (every free tag is a descriptor's address,
 * keyed: the same base keeps them all valid), and the root. A checksum
 * covers the header, the table and the two metadata sections, which the
 * loader reads; the data sections it maps, private and copy-on-write,
 * without reading them, so that starting up costs about the same for any
 * size of heap and the file is never written.
 *
 * Restoring: vet the header and the table against the region they
 * describe; reserve exactly at the saved base (never elsewhere); read the
 * metadata into place and check the checksum; rebuild the spans (span.c:
 * free spans are clean, or dirty where a section covered them); map the
 * data; make every saved slab an orphan (theap.c: the threads of the saving
 * process are gone, and theap structs are not saved); give back slabs that
 * were still being built; run the validators (check.c) over everything the
 * metadata says. Metadata that fails them is a refused image. The free
 * lists lie in the data, which start-up does not read: theap.c walks a
 * restored slab's lists the first time it follows them (a broken one is
 * then heap corruption), or the restore walks them all under GCLZONE_CHECK.
 * Invariant: a restore either succeeds with every validator passing, or
 * releases the whole reservation, so that nothing of it stays mapped and
 * the process is as if init had not run.
 *
 * Saving: under every lock of gcl_process_locks, taken in order, with the
 * runtime's other threads stopped outside the allocator (as for unexec),
 * the spans are walked twice (walk.c): once to plan the sections, once to
 * write them. The file is written under a temporary name beside `path`,
 * synced, and renamed over it.
 *
 * Any change to what the saved metadata means (gcl_span_t's fields, the
 * region's layout, the free-list encoding) bumps IMAGE_FORMAT; the build
 * fingerprint catches the layouts a build can change by itself.
 */
#include "internal.h"

#include <errno.h>
#include <string.h>

#define IMAGE_MAGIC "GCLZIMG\n"
#define IMAGE_FORMAT 3u /* 2: a slab's remote word holds its count (slab.c); 3: its idle_at (theap.c) */
#define TABLE_OFFSET 256u /* the header, zero-padded, then the table */
#define TABLE_CHUNK 64    /* table entries read or written at a time */
#define SECTIONS_MAX 1024 /* a saver widens its gaps to stay under this */
#define PATH_CAP 4096

enum { SEC_HOST = 1, SEC_ARENA = 2, SEC_MAP = 3, SEC_SPANS = 4 };

typedef struct image_header {
  char magic[8];         /* IMAGE_MAGIC */
  uint32_t format;       /* IMAGE_FORMAT */
  uint32_t header_size;  /* sizeof(image_header_t) */
  char version[16];      /* GCLZONE_VERSION of the saver (not compared) */
  uint32_t arch;         /* IMAGE_ARCH */
  uint32_t page_size;
  uint64_t build;        /* build_print() */
  uint64_t host_base, heap_size, arena_size;
  uint64_t host_break;   /* the host heap's break */
  uint64_t arena_top;    /* bytes carved into spans */
  uint64_t desc_end;     /* end of the descriptors ever used */
  uint64_t link_key, root;
  uint64_t table_offset; /* TABLE_OFFSET */
  uint64_t nsections;
  uint64_t file_size;
  uint64_t checksum;     /* sum of this header (with 0 here), the table, MAP and SPANS */
} image_header_t;

typedef struct image_section {
  uint64_t addr, len, offset;
  uint32_t kind, flags;
} image_section_t;

_Static_assert(sizeof(image_header_t) <= TABLE_OFFSET && sizeof(image_header_t) % 8 == 0, "header");
_Static_assert(sizeof(image_section_t) == 32, "section");

/* OS in the high half, the ELF machine number below, bit 15 for big endian. */
#if defined(__x86_64__)
#define ARCH_CPU 62u
#elif defined(__aarch64__)
#define ARCH_CPU 183u
#else
#define ARCH_CPU 0u
#endif
#define IMAGE_ARCH \
  ((GCL_OS_DARWIN ? 2u : 1u) << 16 | ARCH_CPU | (__BYTE_ORDER__ == __ORDER_BIG_ENDIAN__ ? 0x8000u : 0u))

/* ---- the checksum -------------------------------------------------------------------
 * Four lanes of multiply-rotate rounds over 8-byte words. Each round is a
 * bijection of its lane for a given word and of the word for a given lane,
 * and so is the final fold of each lane, so any one changed word changes the
 * sum; other damage does with probability 1 - 2^-64. Four lanes keep the
 * multiplier busy: the metadata of a 256 MiB heap sums in well under a
 * millisecond. */
#define K1 0x9e3779b97f4a7c15ull
#define K2 0xc2b2ae3d27d4eb4full

typedef struct sum {
  uint64_t lane[4];
  uint64_t words;
} sum_t;

static inline uint64_t rotl(uint64_t x, unsigned r) {
  return x << r | x >> (64 - r);
}

static inline uint64_t round_of(uint64_t acc, uint64_t w) {
  return rotl(acc ^ (w * K2), 31) * K1;
}

static void sum_init(sum_t *s) {
  *s = (sum_t){{K1, K2, ~K1, ~K2}, 0};
}

/* n: a multiple of 8. */
static void sum_update(sum_t *s, const void *p, size_t n) {
  const unsigned char *c = p;
  size_t i = 0;
  uint64_t w;
  for (; i + 8 <= n && (s->words & 3); i += 8) {
    memcpy(&w, c + i, 8);
    s->lane[s->words & 3] = round_of(s->lane[s->words & 3], w);
    s->words++;
  }
  uint64_t a = s->lane[0], b = s->lane[1], d = s->lane[2], e = s->lane[3];
  size_t start = i;
  for (; i + 32 <= n; i += 32) {
    uint64_t w0, w1, w2, w3;
    memcpy(&w0, c + i, 8), memcpy(&w1, c + i + 8, 8), memcpy(&w2, c + i + 16, 8), memcpy(&w3, c + i + 24, 8);
    a = round_of(a, w0), b = round_of(b, w1), d = round_of(d, w2), e = round_of(e, w3);
  }
  s->lane[0] = a, s->lane[1] = b, s->lane[2] = d, s->lane[3] = e;
  s->words += (i - start) / 8;
  for (; i + 8 <= n; i += 8) {
    memcpy(&w, c + i, 8);
    s->lane[s->words & 3] = round_of(s->lane[s->words & 3], w);
    s->words++;
  }
}

static uint64_t sum_final(const sum_t *s) {
  uint64_t h = s->words * K1;
  for (int k = 0; k < 4; k++) h = rotl(h ^ s->lane[k], 27) * K2 + K1;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return h;
}

/* What the saved metadata's meaning depends on that a build may change. */
static uint64_t build_print(void) {
  static const uint64_t facts[] = {
    sizeof(gcl_span_t), offsetof(gcl_span_t, start), offsetof(gcl_span_t, kind), offsetof(gcl_span_t, usable_end),
    offsetof(gcl_span_t, remote), offsetof(gcl_span_t, theap), offsetof(gcl_span_t, next), sizeof(gcl_theap_t),
    sizeof(gcl_block_t), GCL_SLOT_SHIFT, GCL_NCLASSES, GCL_MEDIUM_MAX, GCL_SLAB_MIN_BLOCKS, GCL_SLAB_MAX_SLOTS,
    GCL_ARENA_ALIGN, GCL_DEFAULT_GUARD, GCL_MAX_THEAPS, GCL_SECURE, sizeof(void *),
  };
  /* A slab's class number means its block size and its slots (which the
   * page size enters: a block and a guard page). */
  uint64_t sizes[GCL_NCLASSES] = {0}, slots[GCL_NCLASSES] = {0};
  for (unsigned c = 1; c < GCL_NCLASSES; c++) sizes[c] = gcl_slab_class_size(c), slots[c] = gcl_slab_slots(c);
  sum_t s;
  sum_init(&s);
  sum_update(&s, facts, sizeof facts);
  sum_update(&s, sizes, sizeof sizes);
  sum_update(&s, slots, sizeof slots);
  return sum_final(&s);
}

/* ---- why an image is refused ----------------------------------------------------
 * The fixed reasons (GCLZONE_IMAGE's fatal line names one; README lists
 * them), and the errno gclzone_init gives for each. */
enum reason {
  R_NOFILE, R_ACCESS, R_READ, R_SHORT, R_MAGIC, R_FORMAT, R_ARCH, R_PAGE, R_BUILD, R_HEADER, R_SECTIONS,
  R_CHECKSUM, R_METADATA, R_TAKEN, R_NOMEM,
};
static const struct {
  const char *text;
  int err;
} reasons[] = {
  [R_NOFILE] = {"no such file", ENOENT},
  [R_ACCESS] = {"permission denied", EACCES},
  [R_READ] = {"the file cannot be read", EIO},
  [R_SHORT] = {"the file is truncated", EINVAL},
  [R_MAGIC] = {"not a gclzone image", EINVAL},
  [R_FORMAT] = {"another format version", EINVAL},
  [R_ARCH] = {"made for another architecture", EINVAL},
  [R_PAGE] = {"made with another page size", EINVAL},
  [R_BUILD] = {"made by an incompatible build of libgclzone", EINVAL},
  [R_HEADER] = {"its header is inconsistent", EINVAL},
  [R_SECTIONS] = {"its sections overlap or lie outside the file or the region", EINVAL},
  [R_CHECKSUM] = {"checksum mismatch", EINVAL},
  [R_METADATA] = {"its metadata fails the arena validators", EINVAL},
  [R_TAKEN] = {"its address range is in use", EEXIST},
  [R_NOMEM] = {"the system refused memory", ENOMEM},
};

/* ---- restoring ------------------------------------------------------------------------ */

static uintptr_t image_root; /* gclzone_image_root */
static char started[PATH_CAP]; /* the path this process started from, or "" */

typedef struct loader {
  int fd;
  uint64_t size;           /* the file's */
  image_header_t h;
  gcl_region_t plan;       /* the region h describes */
  size_t page;
  image_section_t map, spans; /* their table entries (len 0: none) */
  uint64_t data_start;     /* sections lie at or after this offset */
  /* the vetting pass's state */
  uint32_t last_kind;
  uint64_t addr_end, off_end;
  bool host_seen;
  sum_t sum;               /* header, table, metadata, in that order */
  uint64_t table_sum;      /* the table alone, to see it unchanged on the second pass */
  int os_err;              /* the system's error behind R_NOFILE, R_ACCESS, R_READ, if any */
} loader_t;

/* A file operation failed with err: the reason, keeping err for errno. */
static int file_failed(loader_t *l, int err) {
  l->os_err = err;
  return err == ENOENT || err == ENOTDIR ? R_NOFILE : err == EACCES || err == EPERM ? R_ACCESS : R_READ;
}

static uint64_t page_up(const loader_t *l, uint64_t x) {
  return gcl_align_up(x, l->page);
}

static bool in_part(uint64_t lo, uint64_t len, uint64_t base, uint64_t end) {
  return lo >= base && lo <= end && len <= end - lo;
}

static int vet_header(loader_t *l) {
  image_header_t *h = &l->h;
  if (memcmp(h->magic, IMAGE_MAGIC, 8)) return R_MAGIC;
  if (h->format != IMAGE_FORMAT) return R_FORMAT;
  if (h->arch != IMAGE_ARCH) return R_ARCH;
  if (h->page_size != l->page) return R_PAGE;
  if (h->header_size != sizeof *h || h->build != build_print()) return R_BUILD;
  if (l->size < h->file_size) return R_SHORT;
  if (l->size != h->file_size || h->table_offset != TABLE_OFFSET || h->file_size < TABLE_OFFSET) return R_HEADER;
  const uint64_t max_part = (uint64_t)1 << 46;
  if (h->heap_size % GCL_SLOT_SIZE || h->heap_size > max_part || h->arena_size % GCL_SLOT_SIZE ||
      h->arena_size < GCL_SLOT_SIZE * 16 || h->arena_size > max_part || !h->host_base || h->host_base % l->page)
    return R_HEADER;
  gcl_region_plan(&l->plan, 0, h->heap_size, h->arena_size);
  if (h->host_base > UINTPTR_MAX - l->plan.size - GCL_ARENA_ALIGN) return R_HEADER;
  gcl_region_plan(&l->plan, h->host_base, h->heap_size, h->arena_size);
  const gcl_region_t *r = &l->plan;
  if (h->host_break < r->host.base || h->host_break > r->host.limit) return R_HEADER;
  if (h->arena_top % GCL_SLOT_SIZE || h->arena_top > h->arena_size) return R_HEADER;
  if (h->desc_end < r->spans.base || h->desc_end > r->spans.limit || (h->desc_end - r->spans.base) % sizeof(gcl_span_t))
    return R_HEADER;
  if (h->nsections > (h->file_size - TABLE_OFFSET) / sizeof(image_section_t)) return R_HEADER;
  uint64_t arena_end = r->arena.base + h->arena_top;
  if (h->root && !(h->root >= r->host.base && h->root < h->host_break) &&
      !(h->root >= r->arena.base && h->root < arena_end))
    return R_HEADER;
  l->data_start = page_up(l, TABLE_OFFSET + h->nsections * sizeof(image_section_t));
  return -1;
}

/* One entry of the table, in order: aligned, inside the file after the
 * table, after the previous one in the file and in memory, and exactly
 * where its kind says. */
static int vet_section(loader_t *l, const image_section_t *e) {
  const image_header_t *h = &l->h;
  const gcl_region_t *r = &l->plan;
  if (e->kind < SEC_HOST || e->kind > SEC_SPANS || e->kind < l->last_kind ||
      (e->kind == l->last_kind && e->kind != SEC_ARENA))
    return R_SECTIONS;
  if (!e->len || e->len % l->page || e->addr % l->page || e->offset % l->page || e->offset < l->data_start ||
      e->offset < l->off_end || e->offset > l->size || e->len > l->size - e->offset || e->addr < l->addr_end)
    return R_SECTIONS;
  switch (e->kind) {
  case SEC_HOST:
    if (e->addr != r->host.base || e->len != page_up(l, h->host_break - r->host.base)) return R_SECTIONS;
    l->host_seen = true;
    break;
  case SEC_ARENA:
    if (!in_part(e->addr, e->len, r->arena.base, r->arena.base + h->arena_top)) return R_SECTIONS;
    break;
  case SEC_MAP:
    if (e->addr != r->map.base || e->len != page_up(l, (h->arena_top >> GCL_SLOT_SHIFT) * sizeof(uintptr_t)))
      return R_SECTIONS;
    l->map = *e;
    break;
  default:
    if (e->addr != r->spans.base || e->len != page_up(l, h->desc_end - r->spans.base)) return R_SECTIONS;
    l->spans = *e;
  }
  l->last_kind = e->kind;
  l->addr_end = e->addr + e->len;
  l->off_end = e->offset + e->len;
  return -1;
}

typedef int section_fn(loader_t *l, const image_section_t *e);

/* Read the table a chunk at a time, summing it into *s (and *table if
 * given), and pass each entry to fn: -1, or the first reason refused. */
static int each_section(loader_t *l, sum_t *s, sum_t *table, section_fn *fn) {
  image_section_t chunk[TABLE_CHUNK];
  for (uint64_t i = 0; i < l->h.nsections; i += TABLE_CHUNK) {
    size_t n = l->h.nsections - i < TABLE_CHUNK ? (size_t)(l->h.nsections - i) : TABLE_CHUNK;
    int err = gcl_prim_file_read(l->fd, TABLE_OFFSET + i * sizeof chunk[0], chunk, n * sizeof chunk[0]);
    if (err) return file_failed(l, err);
    sum_update(s, chunk, n * sizeof chunk[0]);
    if (table) sum_update(table, chunk, n * sizeof chunk[0]);
    for (size_t k = 0; k < n; k++) {
      int why = fn(l, &chunk[k]);
      if (why >= 0) return why;
    }
  }
  return -1;
}

/* Open the file and vet its header and table: -1, or the reason. */
static int vet(loader_t *l, const char *path) {
  int err = gcl_prim_file_open(path, false, &l->fd);
  if (err) {
    l->fd = -1;
    return file_failed(l, err);
  }
  /* The magic first: a directory fails here (EISDIR), whatever its file
   * system says its length is; EIO is only the end of a short file. */
  err = gcl_prim_file_read(l->fd, 0, l->h.magic, 8);
  if (err && err != EIO) return file_failed(l, err);
  if ((err = gcl_prim_file_size(l->fd, &l->size))) return file_failed(l, err);
  if (l->size < sizeof l->h) /* too short for a header: still "not an image" if it is not one */
    return l->size >= 8 && memcmp(l->h.magic, IMAGE_MAGIC, 8) ? R_MAGIC : R_SHORT;
  if ((err = gcl_prim_file_read(l->fd, 0, &l->h, sizeof l->h))) return file_failed(l, err);
  int why = vet_header(l);
  if (why >= 0) return why;
  image_header_t zeroed = l->h;
  zeroed.checksum = 0;
  sum_init(&l->sum);
  sum_update(&l->sum, &zeroed, sizeof zeroed);
  sum_t table;
  sum_init(&table);
  if ((why = each_section(l, &l->sum, &table, vet_section)) >= 0) return why;
  l->table_sum = sum_final(&table);
  bool host = l->h.host_break > l->plan.host.base, arena = l->h.arena_top > 0, desc = l->h.desc_end > l->plan.spans.base;
  if (host != l->host_seen || arena != (l->map.len > 0) || desc != (l->spans.len > 0)) return R_SECTIONS;
  return -1;
}

/* Read a metadata section into place (its part committed first), summing it. */
static int read_meta(loader_t *l, gcl_part_t *part, const image_section_t *e) {
  if (!e->len) return -1;
  if (gcl_region_grow(part, e->addr + e->len, GCL_SLOT_SIZE)) return R_NOMEM;
  int err = gcl_prim_file_read(l->fd, e->offset, (void *)(uintptr_t)e->addr, e->len);
  if (err) return file_failed(l, err);
  sum_update(&l->sum, (const void *)(uintptr_t)e->addr, e->len);
  return -1;
}

/* The second pass: map each data section over its committed range. The
 * table is read again, so each entry is vetted again before it is mapped
 * (MAP_FIXED: it must lie in the region, whatever the file says now). */
static int map_section(loader_t *l, const image_section_t *e) {
  int why = vet_section(l, e);
  if (why >= 0) return why;
  if (e->kind != SEC_HOST && e->kind != SEC_ARENA) return -1;
  if (gcl_prim_file_map(l->fd, e->offset, (void *)(uintptr_t)e->addr, e->len)) return R_NOMEM;
  gcl_prim_purge_by_remap(); /* the region now holds file pages */
  if (e->kind == SEC_ARENA) gcl_span_restore_dirty(e->addr, e->len);
  return -1;
}

static bool same_part(const gcl_part_t *a, const gcl_part_t *b) {
  return a->base == b->base && a->limit == b->limit;
}

/* The first slab that was still being built at the save (no owner, no
 * orphan), or NULL. */
static gcl_span_t *unpublished(void) {
  gcl_walk_t w;
  gcl_walk_open_self(&w);
  while (gcl_walk_next(&w) > 0)
    if (w.span.kind == GCL_SPAN_SLAB && !w.span.orphan) return (gcl_span_t *)w.at;
  return NULL;
}

/* Everything after the reservation: -1, or the reason. */
static int load(loader_t *l) {
  const image_header_t *h = &l->h;
  gcl_region_t *r = &gcl_region;
  if (!same_part(&r->host, &l->plan.host) || !same_part(&r->arena, &l->plan.arena) ||
      !same_part(&r->map, &l->plan.map) || !same_part(&r->spans, &l->plan.spans) ||
      !same_part(&r->theaps, &l->plan.theaps))
    return R_HEADER;
  int why;
  if ((why = read_meta(l, &r->map, &l->map)) >= 0 || (why = read_meta(l, &r->spans, &l->spans)) >= 0) return why;
  if (sum_final(&l->sum) != h->checksum) return R_CHECKSUM;

  gcl_hostheap_reset();
  if (h->host_break > r->host.base && gcl_hostheap_brk((void *)(uintptr_t)h->host_break)) return R_NOMEM;
  int err = gcl_span_restore(h->arena_top >> GCL_SLOT_SHIFT, h->desc_end, h->link_key);
  if (err) return err == ENOMEM ? R_NOMEM : R_METADATA;
  sum_t again, table;
  sum_init(&again);
  sum_init(&table);
  l->last_kind = 0, l->addr_end = 0, l->off_end = 0; /* vet_section's order, afresh */
  if ((why = each_section(l, &again, &table, map_section)) >= 0) return why;
  if (sum_final(&table) != l->table_sum) return R_CHECKSUM; /* the file changed under us */
  /* Past the break the host heap reads as zero (hostheap.c's invariant). */
  char *brk = (char *)(uintptr_t)h->host_break, *end = (char *)page_up(l, h->host_break);
  for (char *p = brk; p < end; p++)
    if (*p) {
      memset(brk, 0, (size_t)(end - brk));
      break;
    }

  /* The validators first: the rebuild below files every published slab
   * under its size class, which must be sound (and again after it). */
  uintptr_t where;
  if (gcl_check_region(&where)) return R_METADATA;
  if (!gcl_theap_reset()) return R_METADATA;
  gcl_walk_t w;
  gcl_walk_open_self(&w);
  size_t building = 0;
  while (gcl_walk_next(&w) > 0)
    if (w.span.kind == GCL_SPAN_SLAB && !gcl_theap_restore((gcl_span_t *)w.at)) building++;
  if (w.bad) return R_METADATA;
  for (gcl_span_t *s; building && (s = unpublished()) != NULL; building--) gcl_span_give(s);

  const char *bad = gcl_check_region(&where);
  /* The orphans' own fields and list heads; their lists lie in the data,
   * which a restore does not read: theap.c walks each orphan's the first
   * time it follows them, or all of them now under GCLZONE_CHECK. */
  if (!bad) bad = gcl_check_orphans(gcl_debug_modes & GCL_DEBUG_CHECK, &where);
  if (bad) return R_METADATA;
  return -1;
}

int gcl_image_restore(const char *path, const char **why) {
  loader_t l;
  memset(&l, 0, sizeof l);
  l.page = gcl_prim_page_size();
  int r = vet(&l, path);
  if (r < 0) {
    int err = gcl_region_reserve(l.h.heap_size, l.h.arena_size, l.h.host_base);
    if (err) r = err == EEXIST ? R_TAKEN : err == ENOMEM ? R_NOMEM : R_HEADER;
    else if ((r = load(&l)) >= 0) gcl_region_unreserve();
    if (r >= 0) {
      /* Nothing of the image may stay: the modules forget the region. */
      gcl_hostheap_reset();
      gcl_span_reset(0);
      gcl_theap_reset();
    }
  }
  if (l.fd >= 0) gcl_prim_file_close(l.fd);
  if (r >= 0) {
    *why = reasons[r].text;
    return l.os_err ? l.os_err : reasons[r].err;
  }
  image_root = (uintptr_t)l.h.root;
  size_t n = strlen(path);
  if (n >= sizeof started) n = 0; /* too long to remember: never "the same image" */
  memcpy(started, path, n);
  started[n] = 0;
  return 0;
}

bool gcl_image_started_from(const char *path) {
  return started[0] && strcmp(started, path) == 0;
}

GCL_EXPORT void *gclzone_image_root(void) {
  return gcl_process_ready() ? (void *)image_root : NULL;
}

/* ---- saving ------------------------------------------------------------------------------- */

typedef struct saver {
  int fd;
  bool writing;            /* the second pass: write, else plan */
  size_t page, gap;
  uint64_t off;            /* where the next section may start */
  uint64_t n;              /* sections so far */
  image_section_t chunk[TABLE_CHUNK];
  size_t nchunk;
  sum_t sum;
  int err;
  uintptr_t run, run_end;  /* the arena run being built (run_end 0: none) */
} saver_t;

static void flush_table(saver_t *sv) {
  if (!sv->nchunk) return;
  uint64_t at = TABLE_OFFSET + (sv->n - sv->nchunk) * sizeof sv->chunk[0];
  sum_update(&sv->sum, sv->chunk, sv->nchunk * sizeof sv->chunk[0]);
  if (!sv->err) sv->err = gcl_prim_file_write(sv->fd, at, sv->chunk, sv->nchunk * sizeof sv->chunk[0]);
  sv->nchunk = 0;
}

static void emit(saver_t *sv, uint32_t kind, uintptr_t addr, size_t len) {
  uint64_t off = gcl_align_up(sv->off, sv->page);
  if (sv->writing) {
    sv->chunk[sv->nchunk++] = (image_section_t){addr, len, off, kind, 0};
    sv->n++;
    if (sv->nchunk == TABLE_CHUNK) flush_table(sv);
    if (!sv->err) sv->err = gcl_prim_file_write(sv->fd, off, (const void *)addr, len);
  } else {
    sv->n++;
  }
  sv->off = off + len;
}

static void extent(saver_t *sv, uintptr_t lo, uintptr_t hi) {
  if (sv->run_end && lo - sv->run_end <= sv->gap) {
    sv->run_end = hi;
    return;
  }
  if (sv->run_end) emit(sv, SEC_ARENA, sv->run, sv->run_end - sv->run);
  sv->run = lo, sv->run_end = hi;
}

/* One pass over the region: the sections in address order. */
static void sections(saver_t *sv) {
  uintptr_t brk = gcl_hostheap_break(), host = gcl_region.host.base;
  if (brk > host) emit(sv, SEC_HOST, host, gcl_align_up(brk - host, sv->page));
  gcl_walk_t w;
  gcl_walk_open_self(&w);
  sv->run_end = 0;
  while (gcl_walk_next(&w) > 0) {
    const gcl_span_t *s = &w.span;
    uintptr_t end = s->start + ((uintptr_t)s->slots << GCL_SLOT_SHIFT);
    if (s->kind == GCL_SPAN_LARGE && s->usable_end > s->start && s->usable_end <= end)
      extent(sv, s->start, s->usable_end);
    else if (s->kind == GCL_SPAN_SLAB && gcl_slab_published(s) && s->bump > s->start && s->bump <= end)
      extent(sv, s->start, gcl_align_up(s->bump, sv->page));
  }
  if (w.bad) gcl_log_fatal(GCL_FATAL_CORRUPT, (void *)(gcl_spans.base + (w.bad_slot << GCL_SLOT_SHIFT)), w.bad);
  if (sv->run_end) emit(sv, SEC_ARENA, sv->run, sv->run_end - sv->run);
  size_t slots = gcl_spans.slots;
  uintptr_t desc_end = gcl_spans.desc_bump ? gcl_spans.desc_bump : gcl_region.spans.base;
  if (slots) emit(sv, SEC_MAP, gcl_region.map.base, gcl_align_up(slots * sizeof(uintptr_t), sv->page));
  if (desc_end > gcl_region.spans.base)
    emit(sv, SEC_SPANS, gcl_region.spans.base, gcl_align_up(desc_end - gcl_region.spans.base, sv->page));
}

/* Take every lock of the table in order. A lock the caller holds already is
 * EDEADLK (a signal handler interrupted the allocator); one another thread
 * keeps for a second is EBUSY: that thread was stopped inside the
 * allocator, and waiting would never end. */
static int lock_all(void) {
  for (size_t i = 0; i < gcl_process_nlocks; i++) {
    gcl_lock_t *lk = gcl_process_locks[i];
    int err = gcl_prim_lock_held(lk) ? EDEADLK : 0;
    for (uint64_t t0 = gcl_prim_clock_ms(); !err && !gcl_prim_trylock(lk);)
      if (gcl_prim_clock_ms() - t0 > 1000) err = EBUSY;
    if (err) {
      while (i-- > 0) gcl_prim_unlock(gcl_process_locks[i]);
      return err;
    }
  }
  return 0;
}

static void unlock_all(void) {
  for (size_t i = gcl_process_nlocks; i-- > 0;) gcl_prim_unlock(gcl_process_locks[i]);
}

/* Under the locks: plan, then write everything but the header's checksum,
 * which goes in last. */
static int write_image(saver_t *sv, uintptr_t root) {
  uintptr_t brk = gcl_hostheap_break(), top = gcl_load_relaxed(&gcl_spans.top);
  const gcl_region_t *r = &gcl_region;
  if (root && !(root >= r->host.base && root < brk) && !(root >= r->arena.base && root < r->arena.base + top))
    return EINVAL;
  /* Plan: widen the gaps a run may bridge until the sections are few. */
  for (sv->gap = GCL_SLOT_SIZE;; sv->gap *= 8) {
    sv->n = 0, sv->off = 0;
    sections(sv);
    if (sv->n <= SECTIONS_MAX || sv->gap > r->arena.limit - r->arena.base) break;
  }
  image_header_t h;
  memset(&h, 0, sizeof h);
  memcpy(h.magic, IMAGE_MAGIC, 8);
  h.format = IMAGE_FORMAT;
  h.header_size = sizeof h;
  memcpy(h.version, GCLZONE_VERSION, sizeof GCLZONE_VERSION);
  h.arch = IMAGE_ARCH;
  h.page_size = (uint32_t)sv->page;
  h.build = build_print();
  h.host_base = r->host.base;
  h.heap_size = r->host.limit - r->host.base;
  h.arena_size = r->arena.limit - r->arena.base;
  h.host_break = brk;
  h.arena_top = top;
  h.desc_end = gcl_spans.desc_bump ? gcl_spans.desc_bump : r->spans.base;
  h.link_key = gcl_spans.link_key;
  h.root = root;
  h.table_offset = TABLE_OFFSET;
  h.nsections = sv->n;
  /* The planning pass laid the sections out from offset 0; the real ones
   * start at `data`, a page boundary, so each moves by exactly that. */
  uint64_t data = gcl_align_up(TABLE_OFFSET + sv->n * sizeof(image_section_t), sv->page);
  h.file_size = sv->n ? data + sv->off : TABLE_OFFSET;
  sum_init(&sv->sum);
  sum_update(&sv->sum, &h, sizeof h);
  sv->writing = true;
  sv->n = 0, sv->off = data;
  sections(sv);
  flush_table(sv);
  if (sv->err) return sv->err;
  if (sv->off != h.file_size && sv->n) return EIO; /* the two passes disagree: cannot happen */
  /* The metadata is summed as it is now (the locks keep it so), and the
   * header, written last, carries the sum. */
  if (gcl_spans.slots) sum_update(&sv->sum, (const void *)r->map.base, gcl_align_up(gcl_spans.slots * sizeof(uintptr_t), sv->page));
  if (h.desc_end > r->spans.base) sum_update(&sv->sum, (const void *)r->spans.base, gcl_align_up(h.desc_end - r->spans.base, sv->page));
  h.checksum = sum_final(&sv->sum);
  unsigned char head[TABLE_OFFSET];
  memset(head, 0, sizeof head);
  memcpy(head, &h, sizeof h);
  return gcl_prim_file_write(sv->fd, 0, head, sizeof head);
}

static int save(const char *path, uintptr_t root) {
  if (!path || !*path || !gcl_process_ready()) return EINVAL;
  /* The exact modes' blocks carry trailers, and the hardened mode's free
   * memory is inaccessible: an image holds neither (see gcl_debug_drop_exact). */
  if (gcl_debug_modes & GCL_DEBUG_EXACT) return ENOTSUP;
  char tmp[PATH_CAP + 32];
  if (strlen(path) >= PATH_CAP) return ENAMETOOLONG;
  gcl_log_fmt(tmp, sizeof tmp, "%s.tmp-%zx", path, (size_t)gcl_prim_random());
  saver_t sv;
  memset(&sv, 0, sizeof sv);
  sv.page = gcl_prim_page_size();
  int err = gcl_prim_file_open(tmp, true, &sv.fd);
  if (err) return err;
  if ((err = lock_all()) == 0) {
    err = write_image(&sv, root);
    unlock_all();
  }
  if (!err) err = gcl_prim_file_sync(sv.fd);
  gcl_prim_file_close(sv.fd);
  if (!err) err = gcl_prim_file_rename(tmp, path);
  if (err) gcl_prim_file_remove(tmp);
  return err;
}

GCL_EXPORT int gclzone_image_save(const char *path, const void *root) {
  int err = save(path, (uintptr_t)root);
  if (err) {
    errno = err;
    return -1;
  }
  return 0;
}

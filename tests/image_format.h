/* image_format.h: the heap image file format as README.md's table states
 * it, restated for the tests (test_image.c, fuzz_image.c, fuzz_alloc.c) so that they can
 * read an image and forge bad ones: change a field, then make the checksum
 * right again so that the loader's later checks are reached. Written from
 * the documentation, not shared with libgclzone/image.c: if the library
 * drifts from what the README says, these tests fail. */
#ifndef GCL_IMAGE_FORMAT_H
#define GCL_IMAGE_FORMAT_H

#include <stdint.h>
#include <string.h>

#define IMGF_TABLE 256 /* the table's offset */
enum { IMGF_HOST = 1, IMGF_ARENA = 2, IMGF_MAP = 3, IMGF_SPANS = 4 };

typedef struct imgf_header {
  char magic[8];
  uint32_t format, header_size;
  char version[16];
  uint32_t arch, page_size;
  uint64_t build, host_base, heap_size, arena_size, host_break, arena_top, desc_end, link_key, root;
  uint64_t table_offset, nsections, file_size, checksum;
} imgf_header_t;

typedef struct imgf_section {
  uint64_t addr, len, offset;
  uint32_t kind, flags;
} imgf_section_t;

/* The checksum: four lanes over 8-byte words, word i into lane i % 4, each
 * round lane = rotl(lane ^ (w * K2), 31) * K1; then h = words * K1, for
 * each lane h = rotl(h ^ lane, 27) * K2 + K1, and a final
 * (h ^= h >> 33, h *= 0xff51afd7ed558ccd, h ^= h >> 33). */
typedef struct imgf_sum {
  uint64_t lane[4], words;
} imgf_sum_t;

#define IMGF_K1 0x9e3779b97f4a7c15ull
#define IMGF_K2 0xc2b2ae3d27d4eb4full

static inline uint64_t imgf_rotl(uint64_t x, unsigned r) {
  return x << r | x >> (64 - r);
}

static inline void imgf_sum_init(imgf_sum_t *s) {
  s->lane[0] = IMGF_K1, s->lane[1] = IMGF_K2, s->lane[2] = ~IMGF_K1, s->lane[3] = ~IMGF_K2;
  s->words = 0;
}

static inline void imgf_sum_add(imgf_sum_t *s, const void *p, size_t n) {
  const unsigned char *c = p;
  for (size_t i = 0; i + 8 <= n; i += 8, s->words++) {
    uint64_t w;
    memcpy(&w, c + i, 8);
    uint64_t *l = &s->lane[s->words % 4];
    *l = imgf_rotl(*l ^ (w * IMGF_K2), 31) * IMGF_K1;
  }
}

static inline uint64_t imgf_sum_end(const imgf_sum_t *s) {
  uint64_t h = s->words * IMGF_K1;
  for (int k = 0; k < 4; k++) h = imgf_rotl(h ^ s->lane[k], 27) * IMGF_K2 + IMGF_K1;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return h;
}

/* The section table of the image in buf (whose header is valid). */
static inline imgf_section_t *imgf_table(unsigned char *buf) {
  return (imgf_section_t *)(buf + IMGF_TABLE);
}

/* The sum an image in buf (n bytes) should carry: its header with the sum
 * zeroed, the table, then the MAP and SPANS sections. 0 when the table or a
 * section lies outside buf. */
static inline uint64_t imgf_checksum(const unsigned char *buf, size_t n) {
  imgf_header_t h;
  if (n < sizeof h) return 0;
  memcpy(&h, buf, sizeof h);
  h.checksum = 0;
  if (h.nsections > (n - IMGF_TABLE) / sizeof(imgf_section_t)) return 0;
  imgf_sum_t s;
  imgf_sum_init(&s);
  imgf_sum_add(&s, &h, sizeof h);
  imgf_sum_add(&s, buf + IMGF_TABLE, h.nsections * sizeof(imgf_section_t));
  for (uint64_t i = 0; i < h.nsections; i++) {
    imgf_section_t e;
    memcpy(&e, buf + IMGF_TABLE + i * sizeof e, sizeof e);
    if (e.kind != IMGF_MAP && e.kind != IMGF_SPANS) continue;
    if (e.offset > n || e.len > n - e.offset) return 0;
    imgf_sum_add(&s, buf + e.offset, e.len);
  }
  return imgf_sum_end(&s);
}

/* Make buf's checksum right again after an edit. */
static inline void imgf_fix_checksum(unsigned char *buf, size_t n) {
  uint64_t sum = imgf_checksum(buf, n);
  memcpy(buf + offsetof(imgf_header_t, checksum), &sum, sizeof sum);
}

#ifdef GCL_INTERNAL_H
/* For tests that restore in the process that saved (they link the core):
 * drop the region as a new process would not have it: the thread's theap
 * and the process state forgotten, the reservation unmapped. */
static inline void imgf_drop_region(void) {
  gcl_prim_tls_set(NULL);
  gcl_theaps.count = 0;
  gcl_theap_reset();
  gcl_store_release(&gcl_process_state, 0);
  gcl_region_unreserve();
}
#endif

#endif

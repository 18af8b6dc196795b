/* realloc.c: buffers grown by realloc a few bytes at a time (a string
 * builder, a growing vector, a reader's line buffer).
 *
 * 64 buffers; each step appends 1 to 64 bytes to a random buffer with
 * realloc to the exact new length. A buffer that reaches its cap (1 KiB,
 * 8 KiB or 64 KiB, and one in sixteen 1 MiB) is checked and freed, and
 * starts again. Every appended run is filled with one byte value, and the
 * check at the end compares the buffer's first byte, its last byte, and the
 * byte at every 4 KiB boundary with what was written there: a realloc that
 * lost or moved data shows.
 *
 *   realloc         5 million appends x BENCH_SCALE
 */
#include "../bench.h"

#define BUFS 64

typedef struct buf {
  unsigned char *p;
  size_t len, cap;
  unsigned gen;
} buf_t;

static unsigned char fill(unsigned gen, size_t off) {
  return (unsigned char)(gen * 131u + (unsigned)(off >> 12) * 7u + 1u);
}

static void check_buf(const buf_t *b) {
  if (b->len && b->p[0] != fill(b->gen, 0)) bench_fail("realloc: first byte lost");
  for (size_t off = 4096; off < b->len; off += 4096)
    if (b->p[off] != fill(b->gen, off)) bench_fail("realloc: byte at %zu lost", off);
}

static size_t new_cap(bench_rng_t *r) {
  static const size_t caps[3] = {1024, 8192, 65536};
  return bench_below(r, 16) == 0 ? (size_t)1 << 20 : caps[bench_below(r, 3)];
}

int main(void) {
  long steps = bench_scaled(5000000);
  bench_rng_t r = {4242};
  buf_t b[BUFS] = {{0}};
  uint64_t check = 0;
  for (int i = 0; i < BUFS; i++) b[i].cap = new_cap(&r);
  for (long s = 0; s < steps; s++) {
    buf_t *x = &b[bench_below(&r, BUFS)];
    size_t add = 1 + bench_below(&r, 64);
    unsigned char *q = realloc(x->p, x->len + add);
    if (!q) bench_fail("realloc: realloc to %zu failed", x->len + add);
    x->p = q;
    /* Each byte gets the fill value of its 4 KiB page. */
    for (size_t off = x->len; off < x->len + add;) {
      size_t end = (off | 4095) + 1;
      if (end > x->len + add) end = x->len + add;
      memset(q + off, fill(x->gen, off), end - off);
      off = end;
    }
    x->len += add;
    if (x->len >= x->cap) {
      check_buf(x);
      check = bench_mix(check, x->len);
      free(x->p);
      x->p = NULL;
      x->len = 0;
      x->gen++;
      x->cap = new_cap(&r);
    }
  }
  for (int i = 0; i < BUFS; i++) {
    check_buf(&b[i]);
    free(b[i].p);
  }
  bench_result("appends=%ld check=%016llx", steps, (unsigned long long)check);
  return 0;
}

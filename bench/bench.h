/* bench.h: what every workload shares: its scale, a seeded random stream,
 * a clock, block stamps, failure, and the result line the runner reads.
 *
 * A workload is a plain C program that calls the malloc family, run by the
 * runner under each allocator with LD_PRELOAD. It does a fixed amount of
 * work (times BENCH_SCALE), checks what it got back (alignment, contents),
 * exits non-zero on any error, and prints one line
 *     bench: key=value key=value ...
 * on stdout: `check=` is a value that depends only on the work done (the
 * report insists that every allocator gives the same one), `ops=`/`secs=`
 * give a fixed-duration workload's throughput, anything else is extra.
 * The random streams are seeded with constants: every allocator sees the
 * same sequence of requests.
 */
#ifndef BENCH_H
#define BENCH_H

#define _GNU_SOURCE
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* BENCH_SCALE (default 1) multiplies the work; `make bench QUICK=1` lowers it. */
static inline double bench_scale(void) {
  const char *s = getenv("BENCH_SCALE");
  double v = s ? atof(s) : 1.0;
  return v > 0 ? v : 1.0;
}

static inline long bench_scaled(long n) {
  double v = (double)n * bench_scale();
  return v < 1 ? 1 : (long)v;
}

static inline double bench_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

__attribute__((noreturn, format(printf, 1, 2))) static inline void bench_fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("bench: FAIL: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(1);
}

/* The result line; the runner keeps every key=value pair of it. */
__attribute__((format(printf, 1, 2))) static inline void bench_result(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("bench: ", stdout);
  vprintf(fmt, ap);
  fputc('\n', stdout);
  va_end(ap);
  fflush(stdout);
}

/* A seeded stream (splitmix64): cheap, and the same on every allocator. */
typedef struct bench_rng {
  uint64_t s;
} bench_rng_t;

static inline uint64_t bench_rand(bench_rng_t *r) {
  uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* Uniform in [0, n), n > 0 (the bias of the multiply-shift is irrelevant here). */
static inline uint64_t bench_below(bench_rng_t *r, uint64_t n) {
  return (uint64_t)(((unsigned __int128)bench_rand(r) * n) >> 64);
}

/* Sizes with the shape of small-object programs (cfrac, espresso, an
 * interpreter): mostly under 64 bytes, a tail to 4 KiB. */
static inline size_t bench_small_size(bench_rng_t *r) {
  uint64_t x = bench_below(r, 100);
  if (x < 70) return 8 + bench_below(r, 57);    /* 8..64 */
  if (x < 95) return 65 + bench_below(r, 448);  /* 65..512 */
  return 513 + bench_below(r, 3584);            /* 513..4096 */
}

/* Stamps: a block of `size` bytes gets `v` in its first word (when it has
 * one) and the low byte of `v` in its last byte (when that is not in the
 * word); stamp_ok checks both, so two blocks that overlap, or a block the
 * allocator scribbled on, show. */
static inline void bench_stamp(void *p, size_t size, uint64_t v) {
  if (size && size != 8) ((unsigned char *)p)[size - 1] = (unsigned char)v;
  if (size >= 8) memcpy(p, &v, 8);
}

static inline int bench_stamp_ok(const void *p, size_t size, uint64_t v) {
  uint64_t w;
  if (size >= 8) {
    memcpy(&w, p, 8);
    if (w != v) return 0;
  }
  return !size || size == 8 || ((const unsigned char *)p)[size - 1] == (unsigned char)v;
}

/* A running hash for check= values. */
static inline uint64_t bench_mix(uint64_t h, uint64_t v) {
  h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  return h * 0x100000001b3ull;
}

#endif /* BENCH_H */

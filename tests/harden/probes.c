/* probes.c: heap misuse probes for the hardened mode, run under LD_PRELOAD.
 *
 *   probes                 run every probe, print one line each and the count caught
 *   probes --expect        the same, and fail (exit 1) unless each probe ends exactly
 *                          as the hardened mode must end it (GCLZONE_HARDEN=1 in a
 *                          SECURE=1 build): its one fixed fatal line, or its mitigation
 *   probes --valid         the contract cases of a valid program (reliability anchors,
 *                          section 9.4, 1-12), which must all pass: no false positive
 *   probes CASE            run one probe in the foreground (for debugging)
 *
 * Each probe runs in a forked child (tests/death.h) and commits one misuse,
 * then whatever is needed for the allocator to see it (a free, a realloc, a
 * reuse). A probe is caught when the child dies by a signal (the fatal line
 * when it is ours), or, for a probe of stale or freed data, when the child
 * finds no old byte (it exits with MITIGATED). Surviving is not being caught.
 * Categories: overflows of 1 byte, 32 bytes and 1 MiB past small, medium and
 * large blocks, by direct writes and by memcpy, seen at free or realloc or
 * at a guard page; underflows; writes after free, seen when the block is
 * reused; reads after free and stale data in fresh blocks; reads and writes
 * through malloc(0); double and invalid frees of every kind, and invalid
 * reallocs and usable sizes (section 9.4, 19-22); C++ sized deletes with
 * the wrong size (sized.cc). Built with -O0 and -fno-builtin so that every
 * misuse stays in the code as written. */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../death.h"
#include "probes.h"

#define MITIGATED 3
#define SMALL 24
#define MEDIUM 20000
#define LARGE 300000          /* not a multiple of the page */
#define LARGE_PAGES (1 << 20) /* a multiple of the page */
#define MIB (1 << 20)

static void *volatile sink;
static volatile char vsink;
static char src[3 * MIB];

/* Every fatal line the probes expect (log.c's texts). */
#define OVERFLOW "heap overflow past the block at %p"
#define UNDERFLOW "heap underflow before the block at %p"
#define WAF "write after free of the block at %p"
#define GUARD "access to the guard page at %p: a heap overflow or underflow"
#define FREED "access to freed memory at %p"
#define ZERO "access through the zero-size block at %p"
#define DOUBLE "double free of %p"
#define INVALID "free of %p, which is not a live block from gclzone"
#define INVALID_REALLOC "realloc of %p, which is not a live block from gclzone"
#define INVALID_SIZE "usable size of %p, which is not a live block from gclzone"

static char *fresh(size_t n) {
  char *p = malloc(n);
  memset(p, 'S', n);
  return p;
}

/* Write k bytes at q, each changed: 'A', or 'B' where an 'A' is already. A
 * write that leaves memory as it was is no corruption, and no allocator can
 * see it: a one-byte write of 'A' over a keyed word left it unchanged about
 * once in 256 runs, and the probe failed. */
static void scribble(char *q, size_t k) {
  for (size_t i = 0; i < k; i++) q[i] = q[i] == 'A' ? 'B' : 'A';
}

/* ---- overflows ---------------------------------------------------------------- */

static void over_write(size_t n, size_t k) { /* k bytes past a block of n, then free */
  char *p = REPORT(fresh(n));
  for (size_t i = 0; i < k; i++) p[n + i] = 'A';
  free(p);
}
static void over_copy(size_t n, size_t k) {
  char *p = REPORT(fresh(n));
  memcpy(p, src, n + k);
  free(p);
}
/* One byte 31 past the end of n bytes, then free (mimalloc-bench's
 * 32_byte_overflow): past a small block's canary and trailer, into the
 * block above, free in a fresh slab. */
static void over_at(size_t n, size_t k) {
  char *p = REPORT(fresh(n));
  scribble(p + n + k, 1);
  free(p);
}
static void over_realloc(size_t n) { /* 1 byte past, then realloc */
  char *p = REPORT(fresh(n));
  p[n] = 'A';
  sink = realloc(p, n * 2);
}
static void o1s(void) { over_write(SMALL, 1); }
static void o1m(void) { over_write(MEDIUM, 1); }
static void o1l(void) { over_write(LARGE, 1); }
static void o1p(void) { over_write(LARGE_PAGES, 1); }
static void o32s(void) { over_write(SMALL, 32); }
static void o32m(void) { over_write(MEDIUM, 32); }
static void o32l(void) { over_write(LARGE, 32); }
static void o31_8(void) { over_at(8, 31); }
static void o31_4096(void) { over_at(4096, 31); }
static void c1s(void) { over_copy(SMALL, 1); }
static void c1m(void) { over_copy(MEDIUM, 1); }
static void c1l(void) { over_copy(LARGE, 1); }
static void c32s(void) { over_copy(SMALL, 32); }
static void c32m(void) { over_copy(MEDIUM, 32); }
static void c32l(void) { over_copy(LARGE, 32); }
static void oMs(void) { over_write(SMALL, MIB); }
static void oMm(void) { over_write(MEDIUM, MIB); }
static void oMl(void) { over_write(LARGE, MIB); }
static void cMs(void) { over_copy(SMALL, MIB); }
static void cMm(void) { over_copy(MEDIUM, MIB); }
static void cMl(void) { over_copy(LARGE, MIB); }
static void ors(void) { over_realloc(SMALL); }
static void orm(void) { over_realloc(MEDIUM); }
static void orl(void) { over_realloc(LARGE); }
static void o1_calloc(void) {
  char *p = REPORT(calloc(10, 10));
  p[100] = 0; /* a NUL one past the end: the classic off-by-one */
  free(p);
}
static void o1_aligned(void) {
  char *p;
  if (posix_memalign((void **)&p, 64, 100)) return;
  REPORT(p);
  p[100] = 'A';
  free(p);
}
static void o1_realloced(void) { /* grown in place, then 1 byte past its new size */
  char *p = fresh(40);
  p = REPORT(realloc(p, 41));
  p[41] = 'A';
  free(p);
}

/* ---- underflows: the second of two blocks of a class, or a large block ------ */

static void under(size_t n, size_t k) {
  char *a = fresh(n), *p = REPORT(fresh(n));
  sink = a;
  scribble(p - k, k);
  free(p);
}
static void u1s(void) { under(SMALL, 1); }
static void u1m(void) { under(MEDIUM, 1); }
static void u1l(void) { under(LARGE, 1); }
static void u32s(void) { under(SMALL, 32); }
static void u32m(void) { under(MEDIUM, 32); }
static void u32l(void) { under(LARGE, 32); }
static void u8s_copy(void) {
  char *a = fresh(SMALL), *p = REPORT(fresh(SMALL));
  sink = a;
  memcpy(p - 8, src, 8);
  free(p);
}

/* ---- writes after free, seen when the block is reused ------------------------- */

static void waf(size_t n, size_t at, size_t k) {
  char *p = REPORT(fresh(n));
  free(p);
  scribble(p + at, k);
  sink = malloc(n);
}
static void w0s(void) { waf(SMALL, 0, 1); }
static void w8s(void) { waf(SMALL, 8, 1); }
static void w20s(void) { waf(SMALL, 20, 1); }
static void wall_s(void) { waf(SMALL, 0, SMALL); }
/* A write after free that leaves a valid link: the freed block's link named
 * the block after the next (a fresh slab hands its blocks out in order),
 * and now names the one after that, free too, with its tag. */
static void waf_retarget_s(void) {
  char *p = REPORT(fresh(SMALL)), *q = fresh(SMALL);
  sink = q;
  uintptr_t bs = (uintptr_t)(q - p), next = (uintptr_t)q + bs;
  free(p);
  *(volatile uintptr_t *)p ^= next ^ (next + bs);
  sink = malloc(SMALL);
}
static void w0m(void) { waf(MEDIUM, 0, 8); }
static void wmid_m(void) { waf(MEDIUM, MEDIUM / 2, 1); }
static void w0l(void) { waf(LARGE, 0, 1); }
static void waf_reuse_l(void) { /* the block's size is asked for again first */
  char *p = REPORT(fresh(LARGE));
  free(p);
  sink = malloc(LARGE);
  p[100] = 'A';
}
static void raf_reuse_l(void) {
  char *p = REPORT(fresh(LARGE));
  free(p);
  sink = malloc(LARGE);
  vsink = p[100];
}
static void wmid_l(void) { waf(LARGE, LARGE / 2, 1); }
static void waf_copy_s(void) {
  char *p = REPORT(fresh(SMALL));
  free(p);
  strcpy(p, "after free");
  sink = malloc(SMALL);
}

/* ---- reads after free and stale data: caught when no old byte shows ----------- */

static void leaked(const char *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i] == 'S') _exit(0); /* an old byte: not caught */
  _exit(MITIGATED);
}
static void raf(size_t n) {
  char *p = REPORT(fresh(n));
  free(p);
  leaked(p + 16, n - 16); /* past the free-list words every allocator keeps */
}
static void rs(void) { raf(SMALL); }
static void rm(void) { raf(MEDIUM); }
static void rl(void) { raf(LARGE); }
static void stale(size_t n) {
  free(fresh(n));
  char *q = REPORT(malloc(n));
  leaked(q, n);
}
static void ss(void) { stale(SMALL); }
static void sm(void) { stale(MEDIUM); }
static void sl(void) { stale(LARGE); }
static void s_realloc(void) { /* the bytes realloc adds */
  free(fresh(200));
  char *q = malloc(150);
  memset(q, 'x', 150);
  q = REPORT(realloc(q, 200));
  leaked(q + 150, 50);
}

/* ---- malloc(0) ---------------------------------------------------------------------- */

static void z_read(void) { vsink = *(volatile char *)REPORT(malloc(0)); }
static void z_write(void) { *(volatile char *)REPORT(malloc(0)) = 1; }
static void z_write5(void) {
  char *p = REPORT(malloc(0));
  p[5] = 1;
  free(p);
}
static void z_copy(void) { memcpy(REPORT(malloc(0)), src, 8); }

/* ---- double and invalid frees (section 9.4, 19-22) -------------------------------- */

static void *free_it(void *p) {
  free(p);
  return NULL;
}
static void df(size_t n) {
  char *p = REPORT(malloc(n));
  free(p);
  free(p);
}
static void dfs(void) { df(SMALL); }
static void dfm(void) { df(MEDIUM); }
static void dfl(void) { df(LARGE); }
static void dfz(void) { df(0); }
static void df_interleaved(void) {
  char *p = REPORT(malloc(SMALL)), *q = malloc(SMALL);
  free(p);
  free(q);
  free(p);
}
static void df_thread(void) {
  char *p = REPORT(malloc(SMALL));
  pthread_t t;
  free(p);
  pthread_create(&t, NULL, free_it, p);
  pthread_join(t, NULL);
}
static void df_realloc(void) { /* realloc moved the block: the old pointer is freed */
  char *p = REPORT(malloc(SMALL));
  sink = realloc(p, 4 * MEDIUM);
  free(p);
}
static void if1(void) { free(REPORT((char *)malloc(SMALL) + 1)); }
static void if16(void) { free(REPORT((char *)malloc(64) + 16)); }
static void if_large(void) { free(REPORT((char *)malloc(LARGE) + 4096)); }
static void if_stack(void) {
  char local[64];
  sink = local;
  free(REPORT(local + 16));
}
static void if_one(void) { free(REPORT((void *)1)); }
static void if_mmap(void) {
  char *m = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  free(REPORT(m + 4096));
}
static void if_far(void) { free(REPORT((char *)malloc(SMALL) + (1ul << 30))); }
static void if_zero(void) { free(REPORT((char *)malloc(0) + 1)); }
static void ir_interior(void) { sink = realloc(REPORT((char *)malloc(64) + 16), 100); }
static void ir_stack(void) {
  char local[64];
  sink = local;
  sink = realloc(REPORT(local), 100);
}
static void ir_freed(void) {
  char *p = REPORT(malloc(SMALL));
  free(p);
  sink = realloc(p, 100);
}
static void ir_freed_large(void) {
  char *p = REPORT(malloc(LARGE));
  free(p);
  sink = realloc(p, 100);
}
static void is_interior(void) { sink = (void *)malloc_usable_size(REPORT((char *)malloc(64) + 16)); }
static void is_freed(void) {
  char *p = REPORT(malloc(LARGE));
  free(p);
  sink = (void *)malloc_usable_size(p);
}

/* In the hardened mode: "=MSG" the line with the reported pointer, "~MSG"
 * the line with any pointer, alternatives separated by '|'; "mitigated":
 * the child found no old byte. */
#define EXACT(m) "=" m
#define ANY(m) "~" m
static const probe_t c_probes[] = {
  {"overflow_1_small", o1s, EXACT(OVERFLOW)},
  {"overflow_1_medium", o1m, EXACT(OVERFLOW)},
  {"overflow_1_large", o1l, EXACT(OVERFLOW)},
  {"overflow_1_large_pages", o1p, EXACT(OVERFLOW)},
  {"overflow_32_small", o32s, EXACT(OVERFLOW)},
  {"overflow_32_medium", o32m, EXACT(OVERFLOW)},
  {"overflow_32_large", o32l, EXACT(OVERFLOW)},
  {"overflow_byte_31_past_8", o31_8, EXACT(OVERFLOW)},
  {"overflow_byte_31_past_4096", o31_4096, EXACT(OVERFLOW)},
  {"overflow_memcpy_1_small", c1s, EXACT(OVERFLOW)},
  {"overflow_memcpy_1_medium", c1m, EXACT(OVERFLOW)},
  {"overflow_memcpy_1_large", c1l, EXACT(OVERFLOW)},
  {"overflow_memcpy_32_small", c32s, EXACT(OVERFLOW)},
  {"overflow_memcpy_32_medium", c32m, EXACT(OVERFLOW)},
  {"overflow_memcpy_32_large", c32l, EXACT(OVERFLOW)},
  {"overflow_1m_small", oMs, ANY(GUARD)},
  {"overflow_1m_medium", oMm, ANY(GUARD)},
  {"overflow_1m_large", oMl, ANY(GUARD)},
  {"overflow_memcpy_1m_small", cMs, ANY(GUARD)},
  {"overflow_memcpy_1m_medium", cMm, ANY(GUARD)},
  {"overflow_memcpy_1m_large", cMl, ANY(GUARD)},
  {"overflow_then_realloc_small", ors, EXACT(OVERFLOW)},
  {"overflow_then_realloc_medium", orm, EXACT(OVERFLOW)},
  {"overflow_then_realloc_large", orl, EXACT(OVERFLOW)},
  {"overflow_nul_calloc", o1_calloc, EXACT(OVERFLOW)},
  {"overflow_1_aligned", o1_aligned, EXACT(OVERFLOW)},
  {"overflow_1_after_realloc_in_place", o1_realloced, EXACT(OVERFLOW)},
  {"underflow_1_small", u1s, EXACT(UNDERFLOW) "|" ANY(GUARD)},
  {"underflow_1_medium", u1m, EXACT(UNDERFLOW) "|" ANY(GUARD)},
  {"underflow_1_large", u1l, ANY(GUARD) "|" ANY(FREED)},
  {"underflow_32_small", u32s, EXACT(UNDERFLOW) "|" ANY(GUARD)},
  {"underflow_32_medium", u32m, EXACT(UNDERFLOW) "|" ANY(GUARD)},
  {"underflow_32_large", u32l, ANY(GUARD) "|" ANY(FREED)},
  {"underflow_memcpy_8_small", u8s_copy, EXACT(UNDERFLOW) "|" ANY(GUARD)},
  {"write_after_free_link_small", w0s, EXACT(WAF)},
  {"write_after_free_tag_small", w8s, EXACT(WAF)},
  {"write_after_free_body_small", w20s, EXACT(WAF)},
  {"write_after_free_all_small", wall_s, EXACT(WAF)},
  {"write_after_free_link_valid_small", waf_retarget_s, EXACT(WAF)},
  {"write_after_free_strcpy_small", waf_copy_s, EXACT(WAF)},
  {"write_after_free_link_medium", w0m, EXACT(WAF)},
  {"write_after_free_body_medium", wmid_m, EXACT(WAF)},
  {"write_after_free_large", w0l, ANY(FREED)},
  {"write_after_free_body_large", wmid_l, ANY(FREED)},
  {"write_after_free_large_reused_size", waf_reuse_l, ANY(FREED)},
  {"read_after_free_large_reused_size", raf_reuse_l, ANY(FREED)},
  {"read_after_free_small", rs, "mitigated"},
  {"read_after_free_medium", rm, "mitigated"},
  {"read_after_free_large", rl, ANY(FREED)},
  {"stale_data_small", ss, "mitigated"},
  {"stale_data_medium", sm, "mitigated"},
  {"stale_data_large", sl, "mitigated"},
  {"stale_data_realloc_growth", s_realloc, "mitigated"},
  {"zero_size_read", z_read, EXACT(ZERO)},
  {"zero_size_write", z_write, EXACT(ZERO)},
  {"zero_size_write_5", z_write5, EXACT(ZERO)},
  {"zero_size_memcpy", z_copy, EXACT(ZERO)},
  {"double_free_small", dfs, EXACT(DOUBLE)},
  {"double_free_medium", dfm, EXACT(DOUBLE)},
  {"double_free_large", dfl, EXACT(DOUBLE)},
  {"double_free_zero_size", dfz, EXACT(DOUBLE)},
  {"double_free_interleaved", df_interleaved, EXACT(DOUBLE)},
  {"double_free_other_thread", df_thread, EXACT(DOUBLE)},
  {"double_free_after_realloc", df_realloc, EXACT(DOUBLE)},
  {"invalid_free_interior_1", if1, EXACT(INVALID)},
  {"invalid_free_interior_16", if16, EXACT(INVALID)},
  {"invalid_free_interior_large", if_large, EXACT(INVALID)},
  {"invalid_free_stack", if_stack, EXACT(INVALID)},
  {"invalid_free_one", if_one, EXACT(INVALID)},
  {"invalid_free_mmap_page", if_mmap, EXACT(INVALID)},
  {"invalid_free_far", if_far, EXACT(INVALID)},
  {"invalid_free_zero_size_interior", if_zero, EXACT(INVALID)},
  {"invalid_realloc_interior", ir_interior, EXACT(INVALID_REALLOC)},
  {"invalid_realloc_stack", ir_stack, EXACT(INVALID_REALLOC)},
  {"invalid_realloc_freed", ir_freed, EXACT(INVALID_REALLOC)},
  {"invalid_realloc_freed_large", ir_freed_large, EXACT(INVALID_REALLOC)},
  {"invalid_usable_size_interior", is_interior, EXACT(INVALID_SIZE)},
  {"invalid_usable_size_freed", is_freed, EXACT(INVALID_SIZE)},
};

/* ---- the verdict ---------------------------------------------------------------------- */

/* Does line equal "gclzone: fatal: " fmt, %p being ptr (or any 0x... when
 * ptr is NULL), and a newline? */
static int line_is(const char *line, const char *fmt, size_t fmt_len, const void *ptr) {
  static const char prefix[] = "gclzone: fatal: ";
  if (strncmp(line, prefix, sizeof prefix - 1)) return 0;
  line += sizeof prefix - 1;
  const char *at = strstr(fmt, "%p");
  if (!at || at >= fmt + fmt_len) return strlen(line) == fmt_len + 1 && !strncmp(line, fmt, fmt_len) && line[fmt_len] == '\n';
  size_t head = (size_t)(at - fmt);
  if (strncmp(line, fmt, head)) return 0;
  line += head;
  if (ptr) {
    char want[32];
    snprintf(want, sizeof want, "0x%lx", (unsigned long)(uintptr_t)ptr);
    if (strncmp(line, want, strlen(want))) return 0;
    line += strlen(want);
  } else {
    if (strncmp(line, "0x", 2)) return 0;
    line += 2;
    if (!strchr("0123456789abcdef", *line) || !*line) return 0;
    while (*line && strchr("0123456789abcdef", *line)) line++;
  }
  size_t tail = fmt_len - head - 2;
  return !strncmp(line, at + 2, tail) && line[tail] == '\n' && !line[tail + 1];
}

static int expected(const char *expect, int status, const char *err, const void *ptr) {
  if (!strcmp(expect, "mitigated")) return WIFEXITED(status) && WEXITSTATUS(status) == MITIGATED;
  if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT) return 0;
  for (const char *alt = expect; *alt;) {
    const char *end = strchr(alt, '|');
    size_t len = end ? (size_t)(end - alt) : strlen(alt);
    if (line_is(err, alt + 1, len - 1, *alt == '=' ? ptr : NULL)) return 1;
    alt += len + (end != NULL);
  }
  return 0;
}

static void run_probe(void *arg) {
  const probe_t *p = arg;
  alarm(20);
  p->fn();
  _exit(0);
}

static const probe_t *all[2];
static size_t counts[2];

static int run_all(int expect) {
  all[0] = c_probes, counts[0] = sizeof c_probes / sizeof c_probes[0];
  all[1] = cxx_probes(&counts[1]);
  size_t total = 0, caught = 0, missed = 0;
  for (int t = 0; t < 2; t++) {
    for (size_t i = 0; i < counts[t]; i++) {
      const probe_t *p = &all[t][i];
      char err[2048];
      *death_slot() = NULL;
      int status = death_run(run_probe, (void *)p, err, sizeof err);
      const void *ptr = *death_slot();
      int got = status != -1 && (WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) == MITIGATED));
      char *nl = strchr(err, '\n');
      const char *how = WIFSIGNALED(status) ? (*err ? err : strsignal(WTERMSIG(status)))
                        : WIFEXITED(status) && WEXITSTATUS(status) == MITIGATED ? "no old byte seen"
                                                                                : "survived";
      printf("probes: %-36s %s: %.*s\n", p->name, got ? "caught" : "NOT CAUGHT", nl ? (int)(nl - how) : (int)strlen(how),
             how);
      total++, caught += got;
      if (expect && !expected(p->expect, status, err, ptr)) {
        printf("probes: FAIL: %s: want %s (pointer %p)\n", p->name, p->expect, ptr);
        missed++;
      }
    }
  }
  printf("probes: %zu of %zu probes caught\n", caught, total);
  return missed ? 1 : 0;
}

int main(int argc, char **argv) {
  if (!death_slot()) return 2;
  memset(src, 'A', sizeof src);
  if (argc == 2 && !strcmp(argv[1], "--valid")) return valid_run();
  if (argc == 2 && argv[1][0] != '-') {
    size_t n;
    const probe_t *cxx = cxx_probes(&n);
    for (size_t i = 0; i < sizeof c_probes / sizeof c_probes[0]; i++)
      if (!strcmp(c_probes[i].name, argv[1])) return c_probes[i].fn(), 0;
    for (size_t i = 0; i < n; i++)
      if (!strcmp(cxx[i].name, argv[1])) return cxx[i].fn(), 0;
    return 2;
  }
  return run_all(argc == 2 && !strcmp(argv[1], "--expect"));
}

/* The report slot of death.h, for sized.cc (death.h's slot is per file). */
void **death_slot_cxx(void) {
  return death_slot();
}

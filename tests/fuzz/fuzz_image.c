/* fuzz_image.c: libFuzzer harness for the image loader. Each input edits a
 * good image (made once at start-up) where the loader trusts it: the
 * header, the section table and the two metadata sections, the slot map
 * and the span descriptors; it may cut the file short; and it says whether
 * to make the checksum right again afterwards, so that the checks behind
 * the checksum (the section rules, the span rebuild, the validators) are
 * reached too; and whether to start under GCLZONE_CHECK. Then the process
 * starts from it (gclzone_init with cfg.image). Nothing may crash:
 *  - refused: -1 with an errno, and nothing mapped where the image's region
 *    would be;
 *  - accepted: in a child, the validators run (gcl_check_all), every block
 *    the walk reports is read, blocks come and go. A restore reads no free
 *    list (they lie in the data): a broken one is found when a list is
 *    first followed, and must then stop the child with the one heap
 *    corruption line, never anything else; under GCLZONE_CHECK the restore
 *    walks every list first, and the child must end cleanly. The region is
 *    dropped again for the next input.
 * Any violation aborts (__builtin_trap). */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gclzone.h"
#include "internal.h"
#include "../image_format.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) ((c) ? (void)0 : __builtin_trap())
#define BASE ((uintptr_t)0x310000000000)

static char path[64];
static unsigned char *good; /* the good image */
static size_t good_len;
static imgf_header_t h;
/* The bytes an input may edit, as one space: [0, table_end) of the file,
 * then the MAP section, then the SPANS section. */
static size_t table_end, map_off, map_len, spans_off, spans_len, space;
static unsigned char *work; /* an edited copy of the file */
static int fd;

#define drop_region imgf_drop_region

static void remove_image(void) {
  unlink(path);
}

/* A world worth loading: blocks of many classes, some freed, a large
 * block, one freed by another thread's way (remote: a block freed while a
 * thread exited is an orphan's), host heap bytes. */
int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  gclzone_config_t cfg = {.heap_size = 16 << 20, .arena_size = 64 << 20, .base = BASE};
  CHECK(gclzone_init(&cfg) == 0);
  void *keep[400];
  for (int i = 0; i < 400; i++) keep[i] = gclzone_malloc((size_t)(i * 53) % 20000 + 1);
  for (int i = 0; i < 400; i += 3) gclzone_free(keep[i]);
  void *large = gclzone_malloc(300000);
  CHECK(large && gclzone_sbrk(70000) != (void *)-1);
  snprintf(path, sizeof path, "%s/gclzone-fuzz-image-%d.img", access("/dev/shm", W_OK) ? "/tmp" : "/dev/shm",
           (int)getpid());
  atexit(remove_image);
  CHECK(gclzone_image_save(path, keep[1]) == 0);
  drop_region();

  FILE *f = fopen(path, "rb");
  CHECK(f != NULL);
  fseek(f, 0, SEEK_END);
  good_len = (size_t)ftell(f);
  rewind(f);
  good = malloc(good_len);
  work = malloc(good_len);
  CHECK(good && work && fread(good, 1, good_len, f) == good_len);
  fclose(f);
  memcpy(&h, good, sizeof h);
  table_end = IMGF_TABLE + h.nsections * sizeof(imgf_section_t);
  for (uint64_t i = 0; i < h.nsections; i++) {
    imgf_section_t *e = &imgf_table(good)[i];
    if (e->kind == IMGF_MAP) map_off = e->offset, map_len = e->len;
    if (e->kind == IMGF_SPANS) spans_off = e->offset, spans_len = e->len;
  }
  CHECK(map_len && spans_len);
  space = table_end + map_len + spans_len;
  fd = open(path, O_RDWR);
  CHECK(fd >= 0);
  return 0;
}

static size_t file_offset(size_t at) { /* of a byte of the editable space */
  if (at < table_end) return at;
  at -= table_end;
  return at < map_len ? map_off + at : spans_off + (at - map_len);
}

/* Values worth writing into a word: small numbers, edges, and addresses
 * the loader knows (the region's parts, a descriptor, a slot). */
static uint64_t interesting(unsigned pick, uint64_t old) {
  gcl_region_t r;
  gcl_region_plan(&r, h.host_base, h.heap_size, h.arena_size);
  switch (pick % 12) {
  case 0: return 0;
  case 1: return ~(uint64_t)0;
  case 2: return old + 1;
  case 3: return old - 1;
  case 4: return old + sizeof(gcl_span_t);
  case 5: return old ^ ((uint64_t)1 << (pick / 12 % 64));
  case 6: return r.spans.base + (pick / 12 % 64) * sizeof(gcl_span_t);
  case 7: return r.arena.base + (uint64_t)(pick / 12 % 64) * GCL_SLOT_SIZE;
  case 8: return r.host.base;
  case 9: return old + 4096;
  case 10: return (uint64_t)1 << (pick / 12 % 64);
  default: return old * 2;
  }
}

/* Is any page of [p, p + n) mapped? (msync fails with ENOMEM on unmapped
 * pages.) */
static bool any_mapped(uintptr_t p, size_t n) {
  for (uintptr_t a = p; a < p + n; a += 4096)
    if (msync((void *)a, 4096, MS_ASYNC) == 0) return true;
  return false;
}

static void visit(void *block, size_t size, void *ctx) {
  volatile unsigned char *b = block;
  *(unsigned *)ctx += b[0] + b[size - 1]; /* every reported block can be read */
}

/* In a child: use the restored region. */
static void use_region(void) {
  gcl_check_all();
  unsigned sum = 0;
  gclzone_walk(visit, &sum);
  void *p[64];
  for (int k = 0; k < 64; k++) CHECK((p[k] = gclzone_malloc((size_t)k * 97 + 1)) != NULL);
  for (int k = 0; k < 64; k++) gclzone_free(p[k]);
  gclzone_trim();
  gcl_check_all();
}

/* Run use_region in a child: it ends cleanly, or (unless `deep`) stops with
 * exactly one heap corruption line. */
static void use_in_child(bool deep) {
  int fds[2];
  CHECK(pipe(fds) == 0);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    /* The signal a stop raises must reach the parent as itself, not as
     * libFuzzer's crash report. */
    static const int sigs[] = {SIGABRT, SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP};
    for (size_t k = 0; k < sizeof sigs / sizeof sigs[0]; k++) signal(sigs[k], SIG_DFL);
    dup2(fds[1], 2);
    close(fds[0]);
    use_region();
    _exit(0);
  }
  close(fds[1]);
  char err[512];
  size_t n = 0;
  ssize_t r;
  char more[256];
  while ((r = read(fds[0], n < sizeof err - 1 ? err + n : more, n < sizeof err - 1 ? sizeof err - 1 - n : sizeof more)) > 0)
    if (n < sizeof err - 1) n += (size_t)r;
  err[n] = 0;
  close(fds[0]);
  int st;
  CHECK(waitpid(pid, &st, 0) == pid);
  bool clean = WIFEXITED(st) && WEXITSTATUS(st) == 0 && n == 0;
  static const char line[] = "gclzone: fatal: heap corruption at 0x";
  bool reported = WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT && !strncmp(err, line, sizeof line - 1) &&
                  strchr(err, '\n') == err + n - 1;
  if (!(clean || (!deep && reported))) fprintf(stderr, "fuzz_image: the child: status %#x, stderr: %s\n", st, err);
  CHECK(clean || (!deep && reported));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  memcpy(work, good, good_len);
  size_t len = good_len;
  bool fix = size > 0 && (data[0] & 1), cut = size > 0 && (data[0] & 2), deep = size > 0 && (data[0] & 4);
  size_t i = 1;
  for (; i + 6 <= size; i += 6) {
    uint32_t at;
    memcpy(&at, data + i, 4);
    size_t off = file_offset(at % space);
    unsigned op = data[i + 4], val = data[i + 5];
    if (op & 1) {
      work[off] = (unsigned char)(op & 2 ? val : work[off] ^ (val | 1));
    } else {
      off &= ~(size_t)7;
      if (off + 8 > len) continue;
      uint64_t w;
      memcpy(&w, work + off, 8);
      w = interesting(op >> 1 | val << 7, w);
      memcpy(work + off, &w, 8);
    }
  }
  if (fix) imgf_fix_checksum(work, len);
  if (cut) len = size > i ? (size_t)data[i] * 4096 % good_len : good_len / 2;
  /* Write what differs (header, table, metadata) and the length. */
  CHECK(pwrite(fd, work, table_end, 0) == (ssize_t)table_end);
  CHECK(pwrite(fd, work + map_off, map_len, (off_t)map_off) == (ssize_t)map_len);
  CHECK(pwrite(fd, work + spans_off, spans_len, (off_t)spans_off) == (ssize_t)spans_len);
  if (cut) CHECK(ftruncate(fd, (off_t)len) == 0);

  gclzone_config_t cfg = {.image = path};
  if (deep) setenv("GCLZONE_CHECK", "1", 1);
  else unsetenv("GCLZONE_CHECK");
  errno = 0;
  int rc = gclzone_init(&cfg);
  gcl_region_t r;
  gcl_region_plan(&r, h.host_base, h.heap_size, h.arena_size);
  if (rc != 0) {
    CHECK(rc == -1 && errno != 0);
    CHECK(!any_mapped(r.host.base, 1 << 20) && !any_mapped(r.arena.base, 1 << 20) &&
          !any_mapped(r.map.base, 1 << 16) && !any_mapped(r.spans.base, 1 << 16));
  } else {
    use_in_child(deep);
    drop_region();
  }
  if (cut) {
    CHECK(ftruncate(fd, (off_t)good_len) == 0);
    CHECK(pwrite(fd, good + len, good_len - len, (off_t)len) == (ssize_t)(good_len - len));
  }
  CHECK(pwrite(fd, good, table_end, 0) == (ssize_t)table_end);
  CHECK(pwrite(fd, good + map_off, map_len, (off_t)map_off) == (ssize_t)map_len);
  CHECK(pwrite(fd, good + spans_off, spans_len, (off_t)spans_off) == (ssize_t)spans_len);
  return 0;
}

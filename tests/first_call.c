/* first_call.c: every entry point of the prefixed API as the first call of a
 * fresh process, through the core library (no front end, no constructor,
 * no gclzone_init): `unit --first-call NAME` runs entry NAME and exits 0 when
 * it did what its contract says. test_process.c runs each in its own exec. */
#include "testutil.h"

static int fails;
#define EXPECT(c)                                                              \
  do {                                                                         \
    if (!(c)) {                                                                \
      fprintf(stderr, "first_call: %s:%d: %s (errno %d)\n", __FILE__, __LINE__, #c, errno); \
      fails++;                                                                 \
    }                                                                          \
  } while (0)

/* p must be a live arena block of at least n bytes aligned to align, all
 * of it writable (and zero if zero). */
static void check_block(void *p, size_t n, size_t align, int zero) {
  EXPECT(p != NULL);
  if (!p) return;
  EXPECT((uintptr_t)p % align == 0);
  EXPECT(gclzone_owns(p));
  EXPECT(gclzone_usable_size(p) >= n);
  unsigned char *c = p;
  for (size_t i = 0; zero && i < n; i++)
    if (c[i]) {
      EXPECT(c[i] == 0);
      break;
    }
  memset(p, 0x5a, n);
  gclzone_free(p);
}

static int first_call(const char *name) {
  void *p = NULL;
  if (!strcmp(name, "malloc")) check_block(gclzone_malloc(16), 16, 16, 0);
  else if (!strcmp(name, "malloc-medium")) check_block(gclzone_malloc(20000), 20000, 16, 0);
  else if (!strcmp(name, "malloc-large")) check_block(gclzone_malloc(MiB), MiB, 16, 0);
  else if (!strcmp(name, "calloc")) check_block(gclzone_calloc(3, 40), 120, 16, 1);
  else if (!strcmp(name, "calloc-big")) check_block(gclzone_calloc(1, 200 * KiB), 200 * KiB, 16, 1);
  else if (!strcmp(name, "realloc")) check_block(gclzone_realloc(NULL, MiB), MiB, 16, 0);
  else if (!strcmp(name, "reallocarray")) check_block(gclzone_reallocarray(NULL, 1000, 300), 300000, 16, 0);
  else if (!strcmp(name, "aligned_alloc")) check_block(gclzone_aligned_alloc(4096, MiB), MiB, 4096, 0);
  else if (!strcmp(name, "aligned_alloc-small")) check_block(gclzone_aligned_alloc(64, 100), 100, 64, 0);
  else if (!strcmp(name, "posix_memalign")) {
    EXPECT(gclzone_posix_memalign(&p, 128 * KiB, 64) == 0);
    check_block(p, 64, 128 * KiB, 0);
  } else if (!strcmp(name, "memalign")) check_block(gclzone_memalign(256 * KiB, 16), 16, 256 * KiB, 0);
  else if (!strcmp(name, "valloc")) check_block(gclzone_valloc(300000), 300000, 4096, 0);
  else if (!strcmp(name, "pvalloc")) check_block(gclzone_pvalloc(5), 4096, 4096, 0);
  else if (!strcmp(name, "sbrk")) {
    char *b = gclzone_sbrk(4096);
    EXPECT(b != (void *)-1);
    if (b != (void *)-1) {
      EXPECT(b == gclzone_heap_bounds().base);
      memset(b, 1, 4096);
    }
  } else if (!strcmp(name, "brk")) {
    errno = 0;
    EXPECT(gclzone_brk((void *)1) == -1 && errno == ENOMEM); /* below the base */
    EXPECT(gclzone_heap_bounds().base != NULL);                /* but the region is there */
  } else {
    fprintf(stderr, "first_call: no entry %s\n", name);
    return 2;
  }
  return fails ? 1 : 0;
}

int gcl_test_first_call(int argc, char **argv);
int gcl_test_first_call(int argc, char **argv) {
  if (argc != 3 || strcmp(argv[1], "--first-call")) return -1;
  return first_call(argv[2]);
}

/* checks.c: what machorun verifies once the image's initializers ran: the
 * load itself (binds, lazy pointers, refusals, the universal file), the
 * Darwin ABI at the shims (variadic fcntl, errno, types, the kernel model),
 * and the zone the image installed, driven through tests/darwin's libmalloc
 * model and the image's exports exactly as tests/darwin/test_zone.c drives
 * the zone compiled for Linux.
 *
 * Owns the list of checks and their harness. Invariant: each check runs in
 * its own child process forked from the loaded, initialized image (so each
 * starts from the state a program sees after dyld ran the image's
 * initializers), and passes only if it returns with every assertion true
 * and with no shim having refused an argument xnu would reject. Every call
 * under test goes through the image's code: the zone in malloc_zones[0],
 * or a function the export trie names.
 */
#define _GNU_SOURCE
#include "machorun.h"

#include "gclzone.h"
#include "libmalloc_model.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

static mr_run_t *R;
static malloc_zone_t *gz; /* the image's zone, found in slot 0 */

/* ---- the harness ------------------------------------------------------------- */

static _Noreturn void check_failed(const char *file, int line, const char *expr, const char *msg) {
  if (file) fprintf(stderr, "    %s:%d: %s%s%s", file, line, expr, msg ? ": " : "", msg ? msg : "");
  fputc('\n', stderr);
  fflush(stderr);
  _exit(1);
}
#define CHECK(c)                                                                                                      \
  do {                                                                                                                \
    if (!(c)) check_failed(__FILE__, __LINE__, #c, NULL);                                                             \
  } while (0)
#define CHECKF(c, ...)                                                                                                \
  do {                                                                                                                \
    if (!(c)) {                                                                                                       \
      fprintf(stderr, "    %s:%d: %s: ", __FILE__, __LINE__, #c);                                                     \
      fprintf(stderr, __VA_ARGS__);                                                                                   \
      check_failed(NULL, 0, "", NULL);                                                                                \
    }                                                                                                                 \
  } while (0)

static unsigned scaled(unsigned n, unsigned floor) {
  unsigned v = (unsigned)(n * R->scale);
  return v < floor ? floor : v;
}

/* fn(arg) in a child with stderr captured; emulator noise removed. */
static int run_captured(void (*fn)(void *), void *arg, char *err, size_t cap) {
  int pipefd[2];
  CHECK(pipe(pipefd) == 0);
  fflush(NULL);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    dup2(pipefd[1], 2);
    close(pipefd[0]);
    fn(arg);
    _exit(0);
  }
  close(pipefd[1]);
  size_t n = 0;
  ssize_t r;
  while (n + 1 < cap && (r = read(pipefd[0], err + n, cap - 1 - n)) > 0) n += (size_t)r;
  err[n] = 0;
  close(pipefd[0]);
  int status;
  waitpid(pid, &status, 0);
  /* qemu-user reports a guest killed by a signal on the same stderr
   * ("qemu: uncaught target signal 6 (Aborted) - core dumped"): not ours. */
  char *q = strstr(err, "qemu: uncaught target signal");
  if (q && (q == err || q[-1] == '\n')) *q = 0;
  return status;
}

/* ---- the image's exports ------------------------------------------------------- */

static struct {
  __typeof__(gclzone_owns) *owns;
  __typeof__(gclzone_stats) *stats;
  __typeof__(gclzone_heap_bounds) *heap_bounds;
  __typeof__(gclzone_arena_bounds) *arena_bounds;
  __typeof__(gclzone_walk) *walk;
  __typeof__(gclzone_usable_size) *usable_size;
  __typeof__(gclzone_malloc) *malloc;
  __typeof__(gclzone_free) *free;
  size_t (*trim)(void); /* gclzone_trim, or its older name gclzone_collect */
  __typeof__(gclzone_image_save) *image_save;
  __typeof__(gclzone_image_root) *image_root;
  char missing[256];
} api;

static void *export_or_note(const char *name) {
  char err[300];
  void *p = mr_image_export(R->img, name, err, sizeof err);
  if (!p) {
    size_t u = strlen(api.missing);
    snprintf(api.missing + u, sizeof api.missing - u, "%s%s", u ? ", " : "", name + 1);
  }
  return p;
}

static void find_exports(void) {
  api.owns = export_or_note("_gclzone_owns");
  api.stats = export_or_note("_gclzone_stats");
  api.heap_bounds = export_or_note("_gclzone_heap_bounds");
  api.arena_bounds = export_or_note("_gclzone_arena_bounds");
  api.walk = export_or_note("_gclzone_walk");
  api.usable_size = export_or_note("_gclzone_usable_size");
  api.malloc = export_or_note("_gclzone_malloc");
  api.free = export_or_note("_gclzone_free");
  api.image_save = export_or_note("_gclzone_image_save");
  api.image_root = export_or_note("_gclzone_image_root");
  char err[300];
  api.trim = mr_image_export(R->img, "_gclzone_trim", err, sizeof err);
  if (!api.trim) api.trim = export_or_note("_gclzone_collect");
}

/* Every check calls this first: a missing export fails it by name. */
static void need_exports(void) {
  CHECKF(!api.missing[0], "the image does not export %s", api.missing);
}

static bool ours(const void *p) {
  return api.owns(p);
}

/* The enumerator may read the image's data and the region it reserved. */
static bool zd_metadata(uintptr_t a, size_t n) {
  uintptr_t e = a + n, rb = mr_shim_log.reserve_base;
  const mr_segment_t *s = mr_image_segment_at(R->img, a);
  if (s && !strcmp(s->name, "__DATA") && mr_image_segment_at(R->img, e - 1) == s) return true;
  return a >= rb && e <= rb + mr_shim_log.reserve_size;
}

#define ZD_MAXR 8000
#define ZD_CHECK CHECK
#define ZD_CHECKF CHECKF
#include "../zone_drive.h"

static bool in_segment(const void *p, const char *seg) {
  const mr_segment_t *s = mr_image_segment_at(R->img, (uintptr_t)p);
  return s && !strcmp(s->name, seg);
}

static size_t page(void) {
  return mr_shim_page_size();
}

static void fill(void *p, size_t n, uint32_t seed) {
  unsigned char *c = p;
  for (size_t i = 0; i < n; i++) c[i] = (unsigned char)(seed * 131u + i * 7u + (i >> 8));
}
static bool filled(const void *p, size_t n, uint32_t seed) {
  const unsigned char *c = p;
  for (size_t i = 0; i < n; i++)
    if (c[i] != (unsigned char)(seed * 131u + i * 7u + (i >> 8))) return false;
  return true;
}

/* ---- the load ---------------------------------------------------------------------- */

/* Every import is bound to its shim; every symbol of libSystem.tbd (the
 * list the dylib is linked against) has one, so a new import is caught
 * here even before it is used. */
static void imports_are_bound_to_shims(void) {
  const mr_fixups_t *fx = R->fx;
  CHECK(fx->nbinds > 0 && fx->rebases > 0);
  unsigned lazy = 0;
  for (unsigned i = 0; i < fx->nbinds; i++) {
    const mr_bind_t *b = &fx->binds[i];
    const mr_shim_t *s = mr_shim_find(b->name);
    CHECKF(s && *b->slot == (uintptr_t)s->addr, "%s's slot holds %#lx", b->name, (unsigned long)*b->slot);
    lazy += b->lazy;
  }
  const mr_shim_t *guard = mr_shim_find("___stack_chk_guard");
  bool guard_bound = false;
  for (unsigned i = 0; i < fx->nbinds; i++)
    guard_bound |= !strcmp(fx->binds[i].name, "___stack_chk_guard") && *fx->binds[i].slot == (uintptr_t)guard->addr;
  CHECKF(guard_bound, "___stack_chk_guard is not bound to the guard's data");
  CHECK(*(const uintptr_t *)guard->addr != 0);
  CHECKF(R->tbd, "no --tbd file to check the shims against");
  FILE *f = fopen(R->tbd, "r");
  CHECKF(f, "%s: %s", R->tbd, strerror(errno));
  char line[256];
  unsigned listed = 0;
  while (fgets(line, sizeof line, f)) {
    char sym[200];
    if (sscanf(line, " - %199[A-Za-z0-9_]", sym) != 1 || !strcmp(sym, "targets")) continue;
    listed++;
    CHECKF(mr_shim_find(sym), "%s lists %s, which has no shim in libsystem.c", R->tbd, sym);
  }
  fclose(f);
  CHECKF(listed >= 10, "%s lists only %u symbols", R->tbd, listed);
  printf("    %u binds (%u lazy, bound at load), %u rebases; the %u symbols of %s all have shims\n", fx->nbinds, lazy,
         fx->rebases, listed, R->tbd);
}

/* Each lazy pointer was rebased to its stub helper, then bound: nothing
 * can reach dyld_stub_binder, and if a pointer were left unbound, the shim
 * says so and aborts. */
static void poke_unbound_lazy_pointer(void *arg) {
  const mr_bind_t *b = arg;
  *b->slot = b->unbound;
  gz->introspect->force_lock(gz); /* its first call is getpid() */
}

static void lazy_pointers_never_reach_dyld_stub_binder(void) {
  const mr_section_t *helper = mr_image_section(R->img, "__TEXT", "__stub_helper");
  const mr_bind_t *getpid_bind = NULL;
  unsigned lazy = 0;
  for (unsigned i = 0; i < R->fx->nbinds; i++) {
    const mr_bind_t *b = &R->fx->binds[i];
    if (!b->lazy) continue;
    lazy++;
    CHECKF(helper && b->unbound >= R->img->slide + helper->addr &&
               b->unbound < R->img->slide + helper->addr + helper->size,
           "%s's lazy pointer did not lead to __stub_helper before it was bound", b->name);
    CHECK(*b->slot != b->unbound);
    if (!strcmp(b->name, "_getpid")) getpid_bind = b;
  }
  CHECK(lazy > 0);
  CHECKF(getpid_bind, "the image has no lazy import of _getpid to test with");
  char err[1024];
  int st = run_captured(poke_unbound_lazy_pointer, (void *)getpid_bind, err, sizeof err);
  CHECKF(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "status %#x", st);
  CHECKF(strstr(err, "machorun: dyld_stub_binder reached: a lazy pointer was not bound at load\n") == err, "stderr: %s",
         err);
}

/* The universal file holds the same bytes as the thin one, and a slice it
 * lacks is refused by name. */
static void universal_file_holds_the_same_slice(void) {
  CHECKF(R->universal, "no --universal file to check");
  mr_image_t u;
  char err[400];
  CHECKF(mr_image_open(&u, R->universal, R->img->cputype, err, sizeof err) == 0, "%s", err);
  CHECK(u.slice != u.file);
  CHECKF(u.slice_size == R->img->file_size && !memcmp(u.slice, R->img->file, u.slice_size),
         "the %s slice of %s differs from %s", R->img->arch, R->universal, R->img->path);
  mr_image_close(&u);
  int other = R->img->cputype == CPU_TYPE_ARM64 ? CPU_TYPE_X86_64 : CPU_TYPE_ARM64;
  CHECKF(mr_image_open(&u, R->universal, other, err, sizeof err) == 0, "%s", err);
  mr_image_close(&u);
  CHECK(mr_image_open(&u, R->universal, 7 /* CPU_TYPE_X86, i386 */, err, sizeof err) == -1);
  CHECKF(strstr(err, "a universal file with no cputype 0x7 slice (it has: "), "%s", err);
  mr_image_close(&u);
}

/* A copy of the thin file with one change, as a file of its own. */
static int mutant(const void *bytes, size_t n, char *path, size_t cap) {
  int fd = memfd_create("machorun-mutant", 0);
  CHECK(fd >= 0);
  CHECK(write(fd, bytes, n) == (ssize_t)n);
  snprintf(path, cap, "/proc/self/fd/%d", fd);
  return fd;
}

static uint8_t *load_command(uint8_t *file, uint32_t cmd) {
  uint32_t ncmds, size;
  memcpy(&ncmds, file + 16, 4);
  uint8_t *p = file + 32;
  for (uint32_t i = 0; i < ncmds; i++, p += size) {
    uint32_t c;
    memcpy(&c, p, 4);
    memcpy(&size, p + 4, 4);
    if (c == cmd) return p;
  }
  return NULL;
}

static void expect_refusal(uint8_t *copy, size_t n, bool fixup, const char *want) {
  char path[64], err[400];
  int fd = mutant(copy, n, path, sizeof path);
  mr_image_t m;
  int r = mr_image_open(&m, path, R->img->cputype, err, sizeof err);
  if (r == 0 && fixup) {
    static mr_fixups_t fx;
    CHECKF(mr_image_map(&m, err, sizeof err) == 0, "%s", err);
    r = mr_fixups_apply(&m, &fx, err, sizeof err);
  }
  CHECKF(r == -1, "a file that should fail with \"%s\" loaded", want);
  CHECKF(strstr(err, want), "wanted \"%s\", got: %s", want, err);
  mr_image_close(&m);
  close(fd);
}

static void refuses_what_it_does_not_support(void) {
  char err[400];
  mr_image_t m;
  CHECK(mr_image_open(&m, R->self, R->img->cputype, err, sizeof err) == -1);
  CHECKF(strstr(err, "not a Mach-O file (magic 7f454c46)"), "%s", err);
  mr_image_close(&m);
  size_t n = R->img->file_size;
  uint8_t *copy = malloc(n);
  uint32_t v;
  /* The other architecture's thin file. */
  CHECKF(R->universal, "no --universal file to take the other architecture from");
  {
    int other = R->img->cputype == CPU_TYPE_ARM64 ? CPU_TYPE_X86_64 : CPU_TYPE_ARM64;
    mr_image_t u;
    CHECKF(mr_image_open(&u, R->universal, other, err, sizeof err) == 0, "%s", err);
    char want[64];
    snprintf(want, sizeof want, "a Mach-O for %s, not %s", u.arch, R->img->arch);
    expect_refusal((uint8_t *)u.slice, u.slice_size, false, want);
    mr_image_close(&u);
  }
  /* Chained fixups instead of dyld info. */
  memcpy(copy, R->img->file, n);
  uint8_t *c = load_command(copy, LC_DYLD_INFO_ONLY);
  CHECK(c);
  v = LC_DYLD_CHAINED_FIXUPS;
  memcpy(c, &v, 4);
  expect_refusal(copy, n, false, "chained fixups (LC_DYLD_CHAINED_FIXUPS) are not supported");
  /* A load command nobody here knows. */
  memcpy(copy, R->img->file, n);
  CHECK((c = load_command(copy, LC_UUID)));
  v = 0x99;
  memcpy(c, &v, 4);
  expect_refusal(copy, n, false, "load command 0x99 is not supported");
  v = 0x99 | LC_REQ_DYLD;
  memcpy(c, &v, 4);
  expect_refusal(copy, n, false, "load command 0x80000099 (one dyld must understand) is not supported");
  /* Another dependency than libSystem. */
  memcpy(copy, R->img->file, n);
  CHECK((c = load_command(copy, LC_LOAD_DYLIB)));
  char *name = (char *)c + 24;
  CHECK(!strcmp(name, "/usr/lib/libSystem.B.dylib"));
  memcpy(name + strlen("/usr/lib/libSystem."), "X", 1);
  expect_refusal(copy, n, false, "depends on /usr/lib/libSystem.X.dylib; machorun provides libSystem only");
  /* Not a dylib. */
  memcpy(copy, R->img->file, n);
  v = 2; /* MH_EXECUTE */
  memcpy(copy + 12, &v, 4);
  expect_refusal(copy, n, false, "file type 2, not a dylib");
  /* Thread-local variables (a section's type). */
  memcpy(copy, R->img->file, n);
  CHECK((c = load_command(copy, LC_SEGMENT_64)));
  v = 0x13; /* S_THREAD_LOCAL_VARIABLES */
  memcpy(c + 72 + 64, &v, 4); /* the first section's flags */
  expect_refusal(copy, n, false, "holds thread-local variables (type 0x13)");
  /* An import with no shim: a lazy-bind name changed in place. */
  memcpy(copy, R->img->file, n);
  uint8_t *lb = copy + R->img->lazy_bind.off;
  uint8_t *hit = memmem(lb, R->img->lazy_bind.size, "_getpid", sizeof "_getpid");
  CHECK(hit);
  hit[6] = 'e';
  expect_refusal(copy, n, true, "imports _getpie, which has no shim in machorun's libSystem");
  /* A bind to another library than ordinal 1. */
  memcpy(copy, R->img->file, n);
  lb = copy + R->img->lazy_bind.off;
  hit = memchr(lb, 0x11, R->img->lazy_bind.size); /* SET_DYLIB_ORDINAL_IMM 1 */
  CHECK(hit);
  *hit = 0x12;
  expect_refusal(copy, n, true, "is bound to library ordinal 2; only 1 (libSystem) is supported");
  free(copy);
}

/* ---- initializers and the Darwin ABI at the shims --------------------------------- */

static int zone_index(malloc_zone_t *z) {
  for (int i = 0; i < malloc_num_zones; i++)
    if (malloc_zones[i] == z) return i;
  return -1;
}

/* The image's initializers ran in section order, after the model booted
 * (libSystem's initializer), and left the zone in slot 0. */
static void initializers_promoted_the_zone_to_slot_0(void) {
  need_exports();
  const mr_section_t *s = mr_image_section_of_type(R->img, S_MOD_INIT_FUNC_POINTERS);
  CHECK(s && R->initializers == s->size / sizeof(void *) && R->initializers >= 1);
  CHECK(malloc_zones[0] == gz);
  CHECK(in_segment(gz, "__DATA"));
  CHECK((uintptr_t)gz % page() == 0); /* alone on its page (16 KiB aligned in the file; slides are pages) */
  CHECK(!strcmp(gz->zone_name, "gclzone"));
  CHECK(ours(gz->zone_name)); /* the name is a block of the zone */
  CHECK(malloc_num_zones == 4);
  int nano = zone_index(lm_nano_zone()), purgeable = zone_index(lm_purgeable_zone_if_created());
  CHECK(nano > 0 && zone_index(lm_helper_zone()) > 0);
  CHECKF(purgeable > nano, "the purgeable zone (%d) must follow the old default zone (%d)", purgeable, nano);
  CHECK(lm_counters.duplicate_registrations == 0 && lm_counters.failed_unregistrations == 0);
  void *p = lm_malloc(100);
  CHECK(ours(p));
  CHECK(malloc_zone_from_ptr(p) == malloc_default_zone());
  lm_free(p);
  CHECK(!ours(p));
  /* A destructor became an atexit handler of the image's code. */
  CHECK(mr_shim_log.atexit_calls == 1 && in_segment(mr_shim_log.atexit_fn, "__TEXT"));
}

#if defined(__aarch64__)
/* fcntl(fd, cmd, va) called as Darwin code calls it: the variadic argument
 * in the first stack slot, and a decoy where Linux would look (x2). */
static long darwin_variadic_call3(void *fn, long a0, long a1, long va0) {
  register long x0 __asm__("x0") = a0;
  register long x1 __asm__("x1") = a1;
  register long x2 __asm__("x2") = 0x7777;
  register void *x16 __asm__("x16") = fn;
  __asm__ volatile("sub sp, sp, #16\n\tstr %[va], [sp]\n\tblr x16\n\tadd sp, sp, #16"
                   : "+r"(x0), "+r"(x1), "+r"(x2), "+r"(x16)
                   : [va] "r"(va0)
                   : "x3", "x4", "x5", "x6", "x7", "x8", "x9", "x10", "x11", "x12", "x13", "x14", "x15", "x17", "x18",
                     "x30", "v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7", "v16", "v17", "v18", "v19", "v20", "v21",
                     "v22", "v23", "v24", "v25", "v26", "v27", "v28", "v29", "v30", "v31", "cc", "memory");
  return x0;
}
#endif

static int report_fd; /* the descriptor the image's init duplicated */

static void report_at_exit(void *arg) {
  dup2(*(int *)arg, report_fd);
  exit(0); /* not _exit: the image's destructor runs */
}

/* GCLZONE_SHOW_STATS=1 (the image's environment) makes init duplicate
 * stderr with fcntl(2, F_DUPFD_CLOEXEC, 3), a variadic call; the report
 * then comes out there at exit(). */
static void fcntl_variadic_argument_reaches_the_shim(void) {
  CHECK(mr_shim_log.fcntl_calls >= 1);
  CHECKF(mr_shim_log.fcntl_cmd == 67 && mr_shim_log.fcntl_arg == 3, "fcntl(cmd %d, arg %ld)", mr_shim_log.fcntl_cmd,
         mr_shim_log.fcntl_arg);
  int fd = report_fd = mr_shim_log.fcntl_fd;
  CHECK(fd >= 3 && (fcntl(fd, F_GETFD) & FD_CLOEXEC));
#if defined(__aarch64__)
  void *shim = mr_shim_find("_fcntl")->addr;
  long d = darwin_variadic_call3(shim, 2, 67, 40);
  CHECKF(d >= 40 && mr_shim_log.fcntl_arg == 40, "fcntl returned %ld, saw arg %ld", d, mr_shim_log.fcntl_arg);
  close((int)d);
#endif
  int pipefd[2];
  CHECK(pipe(pipefd) == 0);
  char err[2048];
  int st = run_captured(report_at_exit, &pipefd[1], err, sizeof err);
  close(pipefd[1]);
  char out[2048];
  ssize_t got = read(pipefd[0], out, sizeof out - 1);
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  CHECK(got > 0);
  out[got] = 0;
  CHECKF(strstr(out, "gclzone: arena: ") && strstr(out, "gclzone: host heap: "), "the report: %s", out);
}

/* errno is Darwin's, per thread, behind __error(); the image never
 * touches glibc's. */
static void errno_goes_through___error(void) {
  need_exports();
  int *de = mr_shim_errno();
  errno = 12345;
  *de = 0;
  CHECK(gz->malloc(gz, (size_t)PTRDIFF_MAX + 1) == NULL);
  CHECKF(*de == 12, "Darwin errno %d", *de);
  *de = 0;
  CHECK(api.malloc(SIZE_MAX - 10) == NULL);
  CHECK(*de == 12);
  *de = 77;
  api.free(api.malloc(10)); /* free keeps errno */
  CHECK(*de == 77);
  CHECK(errno == 12345);
}

static void *holds_key(void *arg) {
  (void)arg;
  void *p = lm_malloc(50);
  lm_free(p);
  return p;
}

/* Darwin's layouts and values reached the shims: mutexes with their
 * signature, one 8-byte key, the page size, valid clock ids, the options
 * read through _NSGetEnviron. */
static void darwin_types_and_constants(void) {
  need_exports();
  CHECK(mr_shim_log.mutex_static > 0);   /* GCL_LOCK_INIT: Darwin's static initializer */
  CHECK(mr_shim_log.keys_created == 1);  /* the thread-heap key */
  pthread_t t;
  CHECK(pthread_create(&t, NULL, holds_key, NULL) == 0);
  CHECK(pthread_join(t, NULL) == 0);
  CHECK(mr_shim_log.clock_calls > 0 && (mr_shim_log.clock_ids_seen & (1u << 6)));
  char *v = lm_valloc(5000);
  CHECK(ours(v) && (uintptr_t)v % page() == 0);
  gclzone_bounds_t h = api.heap_bounds(), a = api.arena_bounds();
  CHECK((uintptr_t)h.base % page() == 0 && (uintptr_t)a.base % page() == 0);
  /* The image's environment sets these; the process's does not. */
  CHECKF((char *)a.limit - (char *)a.base == (ptrdiff_t)4 << 30, "arena of %td bytes",
         (char *)a.limit - (char *)a.base);
  CHECKF((char *)h.limit - (char *)h.base == (ptrdiff_t)1 << 30, "host heap of %td bytes",
         (char *)h.limit - (char *)h.base);
  pid_t pid = lm_fork(); /* the child re-initializes every lock with pthread_mutex_init */
  if (pid == 0) {
    unsigned before = mr_shim_log.mutex_inited;
    void *p = lm_malloc(300000);
    lm_free(p);
    _exit(mr_shim_log.mutex_inited > before && ours(lm_malloc(10)) ? 0 : 1);
  }
  int st;
  CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* ---- the zone, through the registry (tests/darwin/test_zone.c) ---------------------- */

static void early_blocks_stay_with_their_zones(void) {
  need_exports();
  malloc_zone_t *nano = lm_nano_zone(), *helper = lm_helper_zone();
  lm_zone_stats_t n0 = lm_zone_stats(nano), h0 = lm_zone_stats(helper);
  unsigned to_nano = 0, to_helper = 0;
  for (int i = 0; i < LM_EARLY; i++) {
    void *p = lm_early[i];
    CHECK(!ours(p) && gz->size(gz, p) == 0);
    CHECK(lm_malloc_size(p) >= lm_early_size[i]);
    for (size_t k = 0; k < lm_early_size[i]; k++) CHECK(((unsigned char *)p)[k] == 0x40 + i % 32);
    bool in_nano = nano->size(nano, p) != 0;
    if (i % 3 == 0) {
      lm_free(p);
    } else if (i % 3 == 1) {
      malloc_zone_free(malloc_default_zone(), p); /* reaches the image's zone_free with a foreign pointer */
    } else {
      void *q = malloc_zone_realloc(malloc_default_zone(), p, lm_early_size[i] + 100);
      CHECK(!ours(q) && ((unsigned char *)q)[0] == 0x40 + i % 32);
      if (nano->size(nano, q)) to_nano++;
      else to_helper++;
      lm_free(q);
    }
    if (in_nano) to_nano++;
    else to_helper++;
    CHECK(lm_malloc_size(p) == 0);
  }
  CHECK(lm_zone_stats(nano).frees - n0.frees == to_nano);
  CHECK(lm_zone_stats(helper).frees - h0.frees == to_helper);
  CHECK(to_nano > 0 && to_helper > 0);
  void *s = malloc_zone_malloc(lm_helper_zone(), 1000);
  CHECK(gz->size(gz, s) == 0 && lm_malloc_size(s) == 1008);
  lm_free(s);
}

static void size_is_zero_for_anything_not_a_live_block(void) {
  need_exports();
  char stack[64];
  char *small = lm_malloc(40), *medium = lm_malloc(5000), *large = lm_malloc(3 << 20), *freed = lm_malloc(64);
  lm_free(freed);
  gclzone_bounds_t heap = api.heap_bounds(), arena = api.arena_bounds();
  const void *bad[] = {NULL, (void *)1, stack, stack + 3, (void *)0x97f86e598e2153a3ull, (void *)UINTPTR_MAX,
                       small + 1, small + 16, medium + 4096, large + 4096, large + 1, freed, heap.base,
                       (char *)heap.limit - 16, arena.limit, (char *)arena.limit - 4096, lm_early[1], gz,
                       R->img->base};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    CHECKF(gz->size(gz, bad[i]) == 0, "size(%p) is %zu", bad[i], gz->size(gz, bad[i]));
  void *good[] = {small, medium, large};
  for (size_t i = 0; i < 3; i++)
    CHECK(gz->size(gz, good[i]) == api.usable_size(good[i]) && lm_malloc_size(good[i]) == gz->size(gz, good[i]));
  CHECK(gz->size(gz, small) >= 40 && gz->size(gz, large) >= (3u << 20));
}

static void zone_free_interior(void *arg) {
  malloc_zone_free(gz, (char *)arg + 16);
}

/* libmalloc's own report for what no zone claims; the image's one fatal
 * line, exactly, for a pointer inside its region that is not a block. */
static void misuse_is_fatal_with_its_line(void) {
  char err[1024], want[160];
  int st = run_captured(free_stack_pointer, NULL, err, sizeof err);
  CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
  CHECKF(strstr(err, "pointer being freed was not allocated"), "%s", err);
  st = run_captured(double_free, NULL, err, sizeof err);
  CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
  CHECKF(strstr(err, "pointer being freed was not allocated"), "%s", err);
  char *p = lm_malloc(64);
  st = run_captured(zone_free_interior, p, err, sizeof err);
  snprintf(want, sizeof want, "gclzone: fatal: free of %#lx, which is not a live block from gclzone\n",
           (unsigned long)(uintptr_t)(p + 16));
  CHECKF(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "status %#x, stderr: %s", st, err);
  CHECKF(!strcmp(err, want), "stderr was \"%s\"", err);
}

static void malloc_family_through_the_default_zone(void) {
  need_exports();
  char *c = lm_calloc(100, 37);
  CHECK(ours(c));
  for (int i = 0; i < 3700; i++) CHECK(c[i] == 0);
  char *v = lm_valloc(5000);
  CHECK(ours(v) && (uintptr_t)v % page() == 0);
  char *r = lm_malloc(10);
  memcpy(r, "0123456789", 10);
  r = lm_realloc(r, 100000);
  CHECK(ours(r) && !memcmp(r, "0123456789", 10));
  char *z = lm_realloc(r, 0); /* libmalloc: a minimum block, and p freed */
  CHECK(z && ours(z) && !ours(r));
  char *y = lm_malloc(64), *y2 = malloc_zone_realloc(gz, y, 0);
  CHECK(y2 && ours(y2));
  *mr_shim_errno() = 0;
  CHECK(gz->malloc(gz, (size_t)PTRDIFF_MAX + 1) == NULL && *mr_shim_errno() == 12);
  errno = 0;
  CHECK(lm_malloc(SIZE_MAX - 100) == NULL && errno == ENOMEM); /* the model's errno: libmalloc's */
  for (size_t a = sizeof(void *); a <= ((size_t)2 << 20); a *= 4) {
    void *q = NULL;
    CHECK(lm_posix_memalign(&q, a, 100) == 0 && ours(q) && (uintptr_t)q % a == 0);
    lm_free(q);
  }
  void *q = (void *)&q;
  CHECK(lm_posix_memalign(&q, 3, 100) == EINVAL && q == (void *)&q);
  q = gz->memalign(gz, 24, 10);
  CHECK(ours(q) && (uintptr_t)q % 32 == 0);
  for (size_t n = 0; n < 300000; n = n < 2048 ? n + 7 : n + n / 5) {
    size_t g = malloc_good_size(n);
    void *b = lm_malloc(g);
    size_t got = lm_malloc_size(b); /* from a page up, maybe a larger class's free block (theap.c) */
    CHECK(g >= n && (g < 4096 ? got == g : got >= g && got <= 2 * g) && malloc_good_size(g) == g);
    lm_free(b);
  }
  char *small = lm_malloc(100), *big = lm_malloc(1 << 20);
  CHECK(malloc_zone_claimed_address(gz, small) && malloc_zone_claimed_address(gz, small + 50));
  CHECK(malloc_zone_claimed_address(gz, big + 4096) && !malloc_zone_claimed_address(gz, lm_early[3]));
  CHECK(!malloc_zone_claimed_address(gz, &q) && malloc_claimed_address(lm_early[3]));
  lm_free(big);
  CHECK(!gz->claimed_address(gz, big));
  lm_free(c);
  lm_free(v);
  lm_free(z);
  lm_free(y2);
  lm_free(q);
  lm_free(small);
}

static void batch_calls(void) {
  need_exports();
  void *res[300], *copy[300];
  unsigned n = malloc_zone_batch_malloc(malloc_default_zone(), 48, res, 300);
  CHECK(n == 300);
  for (unsigned i = 0; i < n; i++) {
    CHECK(ours(res[i]) && lm_malloc_size(res[i]) >= 48);
    memset(res[i], (int)i, 48);
  }
  for (unsigned i = 0; i < n; i++)
    for (unsigned j = 0; j < i; j++) CHECK(res[i] != res[j]);
  memcpy(copy, res, sizeof res);
  malloc_zone_batch_free(malloc_default_zone(), res, n);
  for (unsigned i = 0; i < n; i++) CHECK(!ours(copy[i]));
  void *mix[4] = {lm_malloc(10), malloc_zone_malloc(lm_helper_zone(), 500), lm_malloc(200000),
                  malloc_zone_malloc(lm_nano_zone(), 30)};
  unsigned hf = lm_zone_stats(lm_helper_zone()).frees, nf = lm_zone_stats(lm_nano_zone()).frees;
  gz->batch_free(gz, mix, 4); /* each goes to its owner */
  CHECK(lm_zone_stats(lm_helper_zone()).frees == hf + 1 && lm_zone_stats(lm_nano_zone()).frees == nf + 1);
  CHECK(!ours(mix[0]) && !ours(mix[2]));
}

/* ---- introspection --------------------------------------------------------------------- */

static void enumerator_through_a_copying_reader(void) {
  need_exports();
  unsigned n = scaled(ZD_BLOCKS, 600);
  make_blocks(1, n);
  static ranges_t seen, again;
  static walked_t walked;
  kern_return_t kr = gz->introspect->enumerator(
    0, &seen, MALLOC_PTR_IN_USE_RANGE_TYPE | MALLOC_PTR_REGION_RANGE_TYPE | MALLOC_ADMIN_REGION_RANGE_TYPE,
    (vm_address_t)gz, copying_reader, recorder);
  CHECK(kr == KERN_SUCCESS);
  CHECK(cr.reads > 10);
  CHECKF(cr.outside == 0, "%zu reads outside the image's data and its region", cr.outside);
  api.walk(walk_visitor, &walked);
  CHECK(walked.n > n / 2);
  enumerated_blocks(&seen, n);
  same_ranges(seen.r[0], seen.n[0], walked.r, walked.n);
  CHECK(seen.n[2] == 3);
  kr = malloc_default_zone()->introspect->enumerator(0, &again, MALLOC_PTR_IN_USE_RANGE_TYPE, 0, NULL, recorder);
  CHECK(kr == KERN_SUCCESS);
  same_ranges(again.r[0], again.n[0], seen.r[0], seen.n[0]);
  CHECK(again.n[1] + again.n[2] == 0);
  static ranges_t none;
  CHECK(gz->introspect->enumerator(0, &none, 7, (vm_address_t)lm_nano_zone(), NULL, recorder) != KERN_SUCCESS);
  CHECK(none.n[0] + none.n[1] + none.n[2] == 0);
}

static void statistics_are_real(void) {
  need_exports();
  malloc_statistics_t a, b, t, all;
  gz->introspect->statistics(gz, &a);
  void *p[100];
  for (int i = 0; i < 100; i++) p[i] = lm_malloc(32);
  void *big = lm_malloc(1 << 20);
  gz->introspect->statistics(gz, &b);
  CHECK(b.blocks_in_use == a.blocks_in_use + 101);
  CHECK(b.size_in_use == a.size_in_use + 100 * 32 + (1 << 20));
  CHECK(b.size_allocated >= b.size_in_use && b.max_size_in_use >= b.size_allocated);
  gclzone_stats_t st;
  api.stats(&st);
  CHECK(b.blocks_in_use == st.in_use_blocks && b.size_allocated == st.committed_bytes);
  gz->introspect->task_statistics(0, (vm_address_t)gz, NULL, &t);
  CHECK(t.blocks_in_use == b.blocks_in_use && t.size_in_use == b.size_in_use && t.size_allocated == b.size_allocated);
  malloc_zone_statistics(NULL, &all);
  CHECK(all.blocks_in_use == b.blocks_in_use + lm_zone_stats(lm_nano_zone()).live +
                                 lm_zone_stats(lm_helper_zone()).live +
                                 lm_zone_stats(lm_purgeable_zone_if_created()).live);
  for (int i = 0; i < 100; i++) lm_free(p[i]);
  lm_free(big);
  gz->introspect->statistics(gz, &b);
  CHECK(b.blocks_in_use == a.blocks_in_use);
  CHECK(malloc_zone_check(NULL) && gz->introspect->check(gz));
}

/* print_task's printer is variadic and the image calls it as Darwin code:
 * on arm64 its arguments arrive in stack slots, which this printer reads
 * as such (a Linux variadic printer would read x1..x7). */
static char printed[2048];
static size_t printed_len;

#if defined(__aarch64__)
static void format_slots(char *out, size_t cap, const char *fmt, const long *slot, size_t nslots) {
  size_t o = 0, k = 0;
  for (const char *f = fmt; *f && o + 1 < cap; f++) {
    if (*f != '%') {
      out[o++] = *f;
      continue;
    }
    int longs = 0;
    for (f++; *f == 'l' || *f == 'z'; f++) longs++;
    long v = k < nslots ? slot[k] : 0;
    int w = 0;
    switch (*f) {
    case 'p': w = snprintf(out + o, cap - o, "%#lx", (unsigned long)v), k++; break;
    case 'u': w = snprintf(out + o, cap - o, "%lu", longs ? (unsigned long)v : (unsigned)v), k++; break;
    case 'd': w = snprintf(out + o, cap - o, "%ld", longs ? v : (int)v), k++; break;
    case 's': w = snprintf(out + o, cap - o, "%s", (const char *)v), k++; break;
    case '%': out[o++] = '%'; break;
    default: w = snprintf(out + o, cap - o, "?"); break;
    }
    if (w > 0) o += (size_t)w < cap - o ? (size_t)w : cap - o - 1;
  }
  out[o] = 0;
}

static void darwin_printer(const char *fmt, long x1, long x2, long x3, long x4, long x5, long x6, long x7, long s0,
                           long s1, long s2, long s3, long s4, long s5, long s6, long s7) {
  (void)x1, (void)x2, (void)x3, (void)x4, (void)x5, (void)x6, (void)x7;
  long slot[] = {s0, s1, s2, s3, s4, s5, s6, s7};
  char line[512];
  format_slots(line, sizeof line, fmt, slot, 8);
  size_t n = strlen(line);
  if (printed_len + n < sizeof printed) memcpy(printed + printed_len, line, n + 1), printed_len += n;
}
#else
static void darwin_printer(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(printed + printed_len, sizeof printed - printed_len, fmt, ap);
  va_end(ap);
  if (n > 0 && printed_len + (size_t)n < sizeof printed) printed_len += (size_t)n;
}
#endif

static void print_task_calls_a_variadic_printer(void) {
  need_exports();
  void *p = lm_malloc(300);
  gz->introspect->print_task(0, MALLOC_VERBOSE_PRINT_LEVEL, (vm_address_t)gz, NULL,
                             (print_task_printer_t *)(void *)darwin_printer);
  gclzone_stats_t s;
  api.stats(&s);
  gclzone_bounds_t h = api.heap_bounds();
  char want[160];
  snprintf(want, sizeof want, "gclzone zone %#lx: %zu blocks in use, %zu bytes; ", (unsigned long)(uintptr_t)gz,
           s.in_use_blocks, s.in_use_bytes);
  CHECKF(strstr(printed, want), "wanted \"%s\" in: %s", want, printed);
  snprintf(want, sizeof want, ": host heap %#lx, arena ", (unsigned long)(uintptr_t)h.base);
  CHECKF(strstr(printed, "gclzone region 0x") && strstr(printed, want), "wanted \"%s\" in: %s", want, printed);
  lm_free(p);
}

/* ---- pressure relief: Darwin's purge must leave zeros ------------------------------ */

static void purge_leaves_zeros(void) {
  char *big[4];
  size_t sz = (size_t)8 << 20;
  for (int i = 0; i < 4; i++) {
    big[i] = lm_malloc(sz);
    memset(big[i], 1, sz);
  }
  for (int i = 0; i < 4; i++) lm_free(big[i]);
  gclzone_stats_t st;
  api.stats(&st);
  CHECKF(st.dirty_bytes >= 4 * sz, "%zu dirty bytes", st.dirty_bytes);
  size_t got = malloc_zone_pressure_relief(NULL, 0);
  CHECKF(got >= 4 * sz, "relief returned %zu bytes", got);
  api.stats(&st);
  CHECK(st.dirty_bytes == 0);
  CHECK(malloc_zone_pressure_relief(gz, 0) == 0);
  /* Purged pages stay accessible and read as zero (prim.h's contract);
   * calloc relies on it and skips the memset. */
  for (int i = 0; i < 4; i++)
    for (size_t k = 64; k < sz; k += 4093) CHECKF(big[i][k] == 0, "byte %zu of a purged block is %d", k, big[i][k]);
  char *again = lm_calloc(1, sz);
  for (size_t k = 0; k < sz; k += 4096) CHECK(again[k] == 0);
  lm_free(again);
}

/* The macOS 11 model: MADV_ZERO is EINVAL, the purge maps fresh pages. */
static void pressure_relief_on_macos_11(void) {
  need_exports();
  mr_shim_set_madv_zero(false);
  unsigned refused = mr_shim_log.madv_zero_refused, maps = mr_shim_log.fixed_rw_maps;
  unsigned long bytes = mr_shim_log.fixed_rw_bytes;
  purge_leaves_zeros();
  CHECK(mr_shim_log.madv_zero_refused == refused + 1); /* tried once, then remembered */
  CHECK(mr_shim_log.fixed_rw_maps > maps && mr_shim_log.fixed_rw_bytes - bytes >= (32ul << 20));
  CHECK(mr_shim_log.madv_zero_ok == 0);
}

/* A later xnu: MADV_ZERO zeroes, and no page is remapped. */
static void pressure_relief_with_madv_zero(void) {
  need_exports();
  mr_shim_set_madv_zero(true);
  unsigned maps = mr_shim_log.fixed_rw_maps;
  purge_leaves_zeros();
  CHECK(mr_shim_log.madv_zero_ok >= 1 && mr_shim_log.madv_zero_refused == 0);
  CHECK(mr_shim_log.fixed_rw_maps == maps);
}

/* ---- fork, sbrk, threads ------------------------------------------------------------ */

static void *zone_locked_elsewhere(void *arg) {
  *(int *)arg = (int)gz->introspect->zone_locked(gz);
  return NULL;
}

/* libmalloc's fork protocol (force_lock, then force_unlock or
 * reinit_lock) through the image's zone, with threads allocating. */
static void fork_with_threads_allocating(void) {
  need_exports();
  int locked = -1;
  pthread_t t[4];
  gz->introspect->force_lock(gz);
  CHECK(pthread_create(&t[0], NULL, zone_locked_elsewhere, &locked) == 0 && pthread_join(t[0], NULL) == 0);
  gz->introspect->force_unlock(gz);
  CHECK(locked == 1);
  CHECK(pthread_create(&t[0], NULL, zone_locked_elsewhere, &locked) == 0 && pthread_join(t[0], NULL) == 0);
  CHECK(locked == 0);
  stop_workers = 0;
  for (uintptr_t i = 0; i < 4; i++) CHECK(pthread_create(&t[i], NULL, worker, (void *)(i + 1)) == 0);
  lm_zone_stats_t n0 = lm_zone_stats(lm_nano_zone());
  unsigned forks = scaled(25, 6);
  for (unsigned k = 0; k < forks; k++) {
    pid_t pid = lm_fork();
    CHECK(pid >= 0);
    if (pid == 0) _exit(child_works(20));
    int status;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child %u: status %#x", k, status);
  }
  stop_workers = 1;
  for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
  lm_zone_stats_t n1 = lm_zone_stats(lm_nano_zone());
  CHECK(n1.force_lock - n0.force_lock == forks && n1.force_unlock - n0.force_unlock == forks);
  CHECK(!gz->introspect->zone_locked(gz) && malloc_zone_check(gz));
}

/* sbrk and brk as any other image binds them: to the image's interposing
 * replacements (the host heap). The image's own imports stay libSystem's,
 * as dyld never interposes an image on itself. */
static void sbrk_and_brk_are_interposed(void) {
  need_exports();
  void *(*sb)(int) = mr_bind_for_other_image(R->fx, "_sbrk");
  void *(*bk)(const void *) = mr_bind_for_other_image(R->fx, "_brk");
  CHECK(R->fx->ninterpose == 2);
  CHECK(in_segment((void *)sb, "__TEXT") && in_segment((void *)bk, "__TEXT"));
  for (unsigned i = 0; i < R->fx->nbinds; i++) {
    const mr_bind_t *b = &R->fx->binds[i];
    if (b->lazy && (!strcmp(b->name, "_sbrk") || !strcmp(b->name, "_brk")))
      CHECKF(*b->slot == (uintptr_t)mr_shim_find(b->name)->addr, "the image's own %s is interposed", b->name);
  }
  gclzone_bounds_t h = api.heap_bounds();
  char *b = sb(0);
  CHECK(b == h.brk);
  CHECK(sb(8192) == b);
  for (int i = 0; i < 8192; i++) CHECK(b[i] == 0);
  memset(b, 7, 8192);
  CHECK(sb(0) == b + 8192 && sb(-4096) == b + 8192);
  *mr_shim_errno() = 0;
  CHECK(sb(INT_MIN) == (void *)-1 && *mr_shim_errno() == 12); /* an int: a decrement, below the base */
  CHECK(sb(0) == b + 4096);
  CHECK(bk(b + 65536) == b + 65536 && sb(0) == b + 65536);
  *mr_shim_errno() = 0;
  CHECK(bk((char *)h.base - 1) == (void *)-1 && *mr_shim_errno() == 12);
  CHECK(bk(b) == b && !ours(b) && gz->size(gz, b) == 0);
}

/* Threads allocating, reallocating and freeing through libmalloc's entry
 * points, handing a share of their blocks to the next thread to check and
 * free (cross-thread frees); every byte written is checked before it goes. */
#define NT 4
#define MINE 256
#define BOX 128
typedef struct blk {
  unsigned char *p;
  size_t size;
  uint32_t seed;
} blk_t;
typedef struct box {
  pthread_mutex_t lock;
  unsigned n;
  blk_t b[BOX];
} box_t;
static box_t boxes[NT];
static unsigned stress_ops;

static size_t checked_len(size_t size) {
  return size < 4096 ? size : 4096;
}

static void stamp(blk_t *b) {
  fill(b->p, checked_len(b->size), b->seed);
  if (b->size >= 4096 + 256) fill(b->p + b->size - 256, 256, b->seed + 1);
}

static void verify(const blk_t *b) {
  CHECKF(filled(b->p, checked_len(b->size), b->seed), "block %p (%zu bytes) changed", (void *)b->p, b->size);
  if (b->size >= 4096 + 256)
    CHECKF(filled(b->p + b->size - 256, 256, b->seed + 1), "the tail of %p changed", (void *)b->p);
  CHECK(lm_malloc_size(b->p) >= b->size);
}

static void drain(box_t *x) {
  pthread_mutex_lock(&x->lock);
  for (unsigned i = 0; i < x->n; i++) {
    verify(&x->b[i]);
    lm_free(x->b[i].p);
  }
  x->n = 0;
  pthread_mutex_unlock(&x->lock);
}

static void *stress_thread(void *arg) {
  unsigned me = (unsigned)(uintptr_t)arg, rng = me * 2654435761u + 1;
  blk_t mine[MINE];
  unsigned n = 0;
  for (unsigned op = 0; op < stress_ops; op++) {
    rng = rng * 1103515245u + 12345u;
    unsigned r = (rng >> 8) % 100, pick = n ? (rng >> 16) % n : 0;
    if (r < 45 && n < MINE) {
      unsigned k = (rng >> 4) % 1000;
      size_t size = k < 900 ? k % 500 + 1 : k < 990 ? (k * 97) % 60000 + 500 : (size_t)(k % 7 + 1) << 18;
      blk_t b = {NULL, size, rng};
      if (k % 5 == 0) {
        b.p = lm_calloc(1, size);
        for (size_t i = 0; i < checked_len(size); i++) CHECK(b.p[i] == 0);
      } else {
        b.p = lm_malloc(size);
      }
      CHECK(b.p && ours(b.p) && (uintptr_t)b.p % 16 == 0);
      stamp(&b);
      mine[n++] = b;
    } else if (r < 70 && n) {
      verify(&mine[pick]);
      lm_free(mine[pick].p);
      mine[pick] = mine[--n];
    } else if (r < 85 && n) {
      blk_t *b = &mine[pick];
      verify(b);
      size_t size = (rng >> 3) % 3 ? b->size / 2 + 1 : b->size * 2 + 100;
      unsigned char *q = lm_realloc(b->p, size);
      CHECK(q && ours(q));
      size_t keep = checked_len(b->size < size ? b->size : size);
      CHECKF(filled(q, keep, b->seed), "realloc lost the contents of %p", (void *)b->p);
      b->p = q;
      b->size = size;
      b->seed = rng;
      stamp(b);
    } else if (n) {
      box_t *x = &boxes[(me + 1) % NT];
      pthread_mutex_lock(&x->lock);
      bool sent = x->n < BOX;
      if (sent) x->b[x->n++] = mine[pick];
      pthread_mutex_unlock(&x->lock);
      if (sent) mine[pick] = mine[--n];
    }
    if (op % 64 == 0) drain(&boxes[me]);
  }
  for (unsigned i = 0; i < n; i++) {
    verify(&mine[i]);
    lm_free(mine[i].p);
  }
  return NULL;
}

static void threads_with_cross_thread_frees(void) {
  need_exports();
  malloc_statistics_t a, b;
  gz->introspect->statistics(gz, &a);
  stress_ops = scaled(60000, 8000);
  for (int i = 0; i < NT; i++) pthread_mutex_init(&boxes[i].lock, NULL);
  pthread_t t[NT];
  for (uintptr_t i = 0; i < NT; i++) CHECK(pthread_create(&t[i], NULL, stress_thread, (void *)i) == 0);
  for (int i = 0; i < NT; i++) CHECK(pthread_join(t[i], NULL) == 0);
  for (int i = 0; i < NT; i++) drain(&boxes[i]);
  gz->introspect->statistics(gz, &b);
  CHECKF(b.blocks_in_use == a.blocks_in_use, "%u blocks in use after, %u before", b.blocks_in_use, a.blocks_in_use);
  CHECK(malloc_zone_check(NULL));
  gclzone_stats_t st;
  api.stats(&st);
  CHECK(st.in_use_blocks == b.blocks_in_use);
  api.trim(); /* everything free goes back to the OS */
  api.stats(&st);
  CHECK(st.dirty_bytes == 0 && malloc_zone_check(gz));
}

/* The public API's every export resolves into the image's code. */
static void count_export(const char *name, void *addr, void *ctx) {
  CHECKF(in_segment(addr, "__TEXT"), "%s resolves to %p, outside __TEXT", name, addr);
  CHECKF(!strncmp(name, "_gclzone_", 9), "%s is exported", name);
  (*(unsigned *)ctx)++;
}

static void exports_resolve_into_the_code(void) {
  need_exports();
  unsigned n = 0;
  CHECK(mr_image_exports(R->img, count_export, &n) == n && n >= 10);
  void *p = api.malloc(100);
  CHECK(ours(p) && api.usable_size(p) >= 100 && gz->size(gz, p) == api.usable_size(p));
  api.free(p);
  CHECK(!ours(p));
  char err[300];
  CHECK(mr_image_export(R->img, "_gclzone_no_such_function", err, sizeof err) == NULL);
  CHECKF(strstr(err, "does not export _gclzone_no_such_function"), "%s", err);
}

/* ---- running them ------------------------------------------------------------------ */

/* ---- heap images -------------------------------------------------------------------
 * The image saves itself (open, pwrite, fcntl(F_FULLFSYNC), rename: its own
 * code through the shims), and in a second run of machorun, with
 * MACHORUN_IMAGE naming that file (mk/darwin.mk), its constructor starts
 * from it before it installs the zone: restored_image_serves_the_zone. */
#define IMG_N 300
typedef struct img_world {
  unsigned char *p[IMG_N];
  size_t size[IMG_N];
} img_world_t;

static unsigned char img_byte(size_t i, size_t k) {
  return (unsigned char)(i * 31 + k * 7);
}

static void heap_image_saved_by_the_image(void) {
  need_exports();
  img_world_t *w = lm_calloc(1, sizeof *w);
  CHECK(ours(w));
  for (size_t i = 0; i < IMG_N; i++) {
    w->size[i] = i % 60 == 9 ? 200000 + i : (i * 97) % 7000 + 1;
    CHECK(ours(w->p[i] = lm_malloc(w->size[i])));
    for (size_t k = 0; k < w->size[i]; k++) w->p[i][k] = img_byte(i, k);
  }
  for (size_t i = 0; i < IMG_N; i += 4) lm_free(w->p[i]), w->p[i] = NULL;
  const char *out = getenv("MACHORUN_SAVE");
  char tmp[64];
  if (!out) snprintf(tmp, sizeof tmp, "/tmp/machorun-image-%d.img", (int)getpid()), out = tmp;
  unsigned fcntls = mr_shim_log.fcntl_calls;
  CHECKF(api.image_save(out, w) == 0, "gclzone_image_save: Darwin errno %d", *mr_shim_errno());
  CHECK(mr_shim_log.fcntl_calls > fcntls && mr_shim_log.fcntl_cmd == 51); /* synced with F_FULLFSYNC */
  FILE *f = fopen(out, "rb");
  char magic[8] = {0};
  CHECK(f && fread(magic, 1, 8, f) == 8 && !memcmp(magic, "GCLZIMG\n", 8));
  fseek(f, 0, SEEK_END);
  CHECK(ftell(f) > (long)(IMG_N * 3000));
  fclose(f);
  if (out == tmp) unlink(tmp);
}

static void restored_image_serves_the_zone(void) {
  need_exports();
  CHECK(gz && !strcmp(gz->zone_name, "gclzone")); /* installed over the restored region */
  img_world_t *w = api.image_root();
  CHECK(w != NULL && ours(w));
  for (size_t i = 0; i < IMG_N; i++) {
    if (!w->p[i]) continue;
    CHECK(ours(w->p[i]) && gz->size(gz, w->p[i]) >= w->size[i]);
    for (size_t k = 0; k < w->size[i]; k++) CHECK(w->p[i][k] == img_byte(i, k));
  }
  for (size_t i = 1; i < IMG_N; i += 2) {
    if (!w->p[i]) continue;
    if (i % 4 == 1) {
      lm_free(w->p[i]);
      CHECK(!ours(w->p[i]));
    } else {
      unsigned char *q = lm_realloc(w->p[i], w->size[i] * 2 + 64);
      CHECK(ours(q));
      for (size_t k = 0; k < w->size[i]; k++) CHECK(q[k] == img_byte(i, k));
      lm_free(q);
    }
  }
  void *fresh = lm_malloc(1234);
  CHECK(ours(fresh));
  lm_free(fresh);
  CHECK(malloc_zone_check(NULL));
}

typedef struct check {
  const char *name;
  void (*fn)(void);
} check_t;

#define C(f) {#f, f}
static const check_t checks[] = {
  C(imports_are_bound_to_shims),
  C(lazy_pointers_never_reach_dyld_stub_binder),
  C(universal_file_holds_the_same_slice),
  C(refuses_what_it_does_not_support),
  C(initializers_promoted_the_zone_to_slot_0),
  C(fcntl_variadic_argument_reaches_the_shim),
  C(errno_goes_through___error),
  C(darwin_types_and_constants),
  C(exports_resolve_into_the_code),
  C(early_blocks_stay_with_their_zones),
  C(size_is_zero_for_anything_not_a_live_block),
  C(misuse_is_fatal_with_its_line),
  C(malloc_family_through_the_default_zone),
  C(batch_calls),
  C(enumerator_through_a_copying_reader),
  C(statistics_are_real),
  C(print_task_calls_a_variadic_printer),
  C(pressure_relief_on_macos_11),
  C(pressure_relief_with_madv_zero),
  C(fork_with_threads_allocating),
  C(sbrk_and_brk_are_interposed),
  C(threads_with_cross_thread_frees),
  C(heap_image_saved_by_the_image),
  C(restored_image_serves_the_zone), /* only in a run started from an image */
};

int mr_checks_run(mr_run_t *run, const char *only) {
  R = run;
  gz = malloc_zones[0];
  find_exports();
  unsigned passed = 0, failed = 0;
  /* Started from an image (MACHORUN_IMAGE), only the restored_ checks make
   * sense; otherwise they cannot run. */
  bool restored = getenv("MACHORUN_IMAGE") != NULL;
  for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++) {
    if (only && !strstr(checks[i].name, only)) continue;
    if (restored != !strncmp(checks[i].name, "restored_", 9)) continue;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
      perror("machorun: fork");
      return 1;
    }
    if (pid == 0) {
      alarm(120);
      unsigned refused = mr_shim_log.refused;
      checks[i].fn();
      CHECKF(mr_shim_log.refused == refused, "a shim refused %u calls, the first: %s", mr_shim_log.refused - refused,
             mr_shim_log.first_refusal);
      fflush(NULL);
      _exit(0);
    }
    int st;
    waitpid(pid, &st, 0);
    bool ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
    if (ok) passed++;
    else failed++;
    if (ok) printf("  ok    %s\n", checks[i].name);
    else if (WIFSIGNALED(st)) printf("  FAIL  %s (signal %d)\n", checks[i].name, WTERMSIG(st));
    else printf("  FAIL  %s\n", checks[i].name);
    fflush(stdout);
  }
  printf("machorun %s: %u passed, %u failed\n", run->img->arch, passed, failed);
  return (int)failed;
}

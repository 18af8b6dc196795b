/* machorun.c: the driver: load a macOS dylib into this Linux process, as
 * dyld would after libSystem is up, then run the checks.
 *
 *   machorun [--universal FILE] [--tbd FILE] [--scale X] [--only NAME] DYLIB
 *
 * DYLIB is the thin Mach-O for this machine's architecture (x86_64
 * natively, arm64 under qemu-aarch64); --universal also checks the
 * universal file's slice, --tbd that every symbol of libSystem.tbd has a
 * shim; --scale sets the work per check (below 1 under emulation); --only
 * runs the checks whose name contains NAME. A load error (an unsupported
 * command, an import without a shim, ...) is reported and exits 1, as
 * dyld would refuse to load the image.
 *
 * Order, as dyld's: the libmalloc model boots in a constructor (libSystem's
 * initializer runs before any other image's), then the image is mapped,
 * rebased, bound (lazy binds too), protected, and its initializers run.
 * The image sees its own environment through _NSGetEnviron: the process's,
 * less any GCLZONE_ variable, plus the options the checks rely on: a fixed
 * base, so that a heap image one run saves can be restored by the next
 * (MACHORUN_IMAGE=FILE: the image starts from FILE, GCLZONE_IMAGE).
 */
#define _GNU_SOURCE
#include "machorun.h"

#include "libmalloc_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

extern char **environ;

static char **image_environment(void) {
  static const char *const ours[] = {
    "GCLZONE_SHOW_STATS=1",  /* init duplicates stderr (fcntl, variadic); the report comes at exit */
    "GCLZONE_ARENA_SIZE=4G", /* read through _NSGetEnviron: the checks see these sizes */
    "GCLZONE_HEAP_SIZE=1G",
    "GCLZONE_BASE=0x300000000000", /* where the OS maps nothing, in this run or the next */
  };
  size_t n = 0;
  while (environ[n]) n++;
  char **env = calloc(n + 6, sizeof *env);
  size_t k = 0;
  for (size_t i = 0; i < 4; i++) env[k++] = (char *)ours[i];
  static char image[4200];
  if (getenv("MACHORUN_IMAGE")) {
    snprintf(image, sizeof image, "GCLZONE_IMAGE=%s", getenv("MACHORUN_IMAGE"));
    env[k++] = image;
  }
  for (size_t i = 0; i < n; i++)
    if (strncmp(environ[i], "GCLZONE_", 8)) env[k++] = environ[i];
  env[k] = NULL;
  return env;
}

static _Noreturn void usage(void) {
  fprintf(stderr, "usage: machorun [--universal FILE] [--tbd FILE] [--scale X] [--only NAME] DYLIB\n");
  exit(2);
}

int main(int argc, char **argv) {
  static mr_image_t img;
  static mr_fixups_t fx;
  mr_run_t run = {.img = &img, .fx = &fx, .scale = 1, .self = "/proc/self/exe"};
  const char *only = NULL, *path = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--universal") && i + 1 < argc) run.universal = argv[++i];
    else if (!strcmp(argv[i], "--tbd") && i + 1 < argc) run.tbd = argv[++i];
    else if (!strcmp(argv[i], "--scale") && i + 1 < argc) run.scale = atof(argv[++i]);
    else if (!strcmp(argv[i], "--only") && i + 1 < argc) only = argv[++i];
    else if (argv[i][0] == '-' || path) usage();
    else path = argv[i];
  }
  if (!path || run.scale <= 0) usage();
  /* The checks abort on purpose: no core files (and under qemu-user, no
   * core dump of the guest). */
  struct rlimit core = {0, 0};
  setrlimit(RLIMIT_CORE, &core);
  setvbuf(stdout, NULL, _IOLBF, 0);
#if defined(__aarch64__)
  const int cputype = CPU_TYPE_ARM64;
#elif defined(__x86_64__)
  const int cputype = CPU_TYPE_X86_64;
#else
#error "machorun runs x86_64 and arm64 images on the same architecture"
#endif
  char err[512];
  if (mr_image_open(&img, path, cputype, err, sizeof err) || mr_image_map(&img, err, sizeof err) ||
      mr_fixups_apply(&img, &fx, err, sizeof err)) {
    fprintf(stderr, "machorun: load error: %s\n", err);
    return 1;
  }
  mr_image_protect(&img);
  unsigned lazy = 0;
  for (unsigned i = 0; i < fx.nbinds; i++) lazy += fx.binds[i].lazy;
  printf("machorun: %s %s at %p: %u segments, %u rebases, %u binds (%u lazy, bound at load), %u interposed\n",
         img.arch, img.path, (void *)img.base, img.nseg, fx.rebases, fx.nbinds, lazy, fx.ninterpose);
  char **env = image_environment();
  mr_shim_set_environ(env);
  run.initializers = mr_image_run_initializers(&img, argc, argv, env);
  const char *zone0 = malloc_num_zones > 0 && malloc_zones[0]->zone_name ? malloc_zones[0]->zone_name : "?";
  printf("machorun: ran %u initializers of __mod_init_func; the zone in slot 0 is \"%s\"\n", run.initializers, zone0);
  int failed = mr_checks_run(&run, only);
  /* _exit: the image's atexit report was checked in a child; the totals
   * stay the last line. */
  fflush(NULL);
  _exit(failed ? 1 : 0);
}

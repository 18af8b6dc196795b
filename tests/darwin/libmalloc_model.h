/* libmalloc_model.h: a model of libmalloc's zone registry, for running
 * zone_darwin.c on Linux (libmalloc_model.c says what is modelled, and from
 * which source).
 *
 * The registry API keeps libmalloc's names (malloc_zone_register,
 * malloc_get_all_zones, malloc_default_zone, ...; declared in
 * <malloc/malloc.h>). The C entry points that glibc already defines are
 * prefixed lm_: lm_malloc is libmalloc's malloc(), and so on.
 */
#ifndef GCL_LIBMALLOC_MODEL_H
#define GCL_LIBMALLOC_MODEL_H

#include <malloc/malloc.h>
#include <stdbool.h>
#include <sys/types.h>

/* The libmalloc release modelled (libmalloc_model.c): 792 stands for 374 and
 * later (macOS 12+), 317 for macOS 11. */
#ifndef LM_LIBMALLOC
#define LM_LIBMALLOC 792
#endif
#if LM_LIBMALLOC != 317 && LM_LIBMALLOC != 792
#error "LM_LIBMALLOC: the model knows libmalloc-317 and -792"
#endif

/* The exported globals that performance tools read (libmalloc malloc.c). */
extern int32_t malloc_num_zones;
extern malloc_zone_t **malloc_zones;

/* libmalloc's C entry points. */
void *lm_malloc(size_t size);
void *lm_calloc(size_t n, size_t size);
void *lm_valloc(size_t size);
void *lm_realloc(void *p, size_t size);
void lm_free(void *p);
int lm_posix_memalign(void **out, size_t align, size_t size);
size_t lm_malloc_size(const void *p);

/* fork() as libSystem runs it: _malloc_fork_prepare, fork, then
 * _malloc_fork_parent or _malloc_fork_child. */
pid_t lm_fork(void);

/* What the model observed; tests assert on it. */
typedef struct lm_counters {
  unsigned duplicate_registrations; /* "Attempted to register zone more than once" */
  unsigned failed_unregistrations;  /* "malloc_zone_unregister() failed" */
  unsigned forks;
} lm_counters_t;
extern lm_counters_t lm_counters;

/* The system zones the model boots with, as on a Mac with Nano engaged:
 * [nano "DefaultMallocZone", helper "MallocHelperZone"] (libmalloc
 * tests/zone_names.c). Nano hands sizes above 256 bytes to the helper. */
malloc_zone_t *lm_nano_zone(void);
malloc_zone_t *lm_helper_zone(void);
malloc_zone_t *lm_purgeable_zone_if_created(void);

/* The stack-logging lite wrapper, when MallocStackLogging=lite was in the
 * environment at boot (else NULL), and how many allocations it served. */
malloc_zone_t *lm_lite_zone(void);
unsigned lm_lite_mallocs(void);

/* Per system zone: calls the model saw, and its blocks. */
typedef struct lm_zone_stats {
  unsigned force_lock, force_unlock, reinit_lock;
  unsigned mallocs, frees;
  size_t live;
} lm_zone_stats_t;
lm_zone_stats_t lm_zone_stats(malloc_zone_t *zone);
bool lm_zone_is_system(malloc_zone_t *zone);

/* Blocks allocated through malloc() by the model's boot, before any
 * constructor of ours ran (libobjc, libxpc... do that on a Mac). */
#define LM_EARLY 96
extern void *lm_early[LM_EARLY];
extern size_t lm_early_size[LM_EARLY];

#endif

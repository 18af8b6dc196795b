/* libmalloc_model.c: a model of libmalloc's zone registry, so that
 * zone_darwin.c runs on Linux.
 *
 * Written from libmalloc's src/malloc.c and include/malloc/malloc.h (the
 * facts, with the releases they were read from, are in docs/darwin.md
 * §2-§8), keeping what zone_darwin.c depends on and its failure modes.
 * LM_LIBMALLOC is the release modelled: 792 (the default: the behaviour of
 * libmalloc-374 and later, macOS 12+) or 317 (macOS 11); the test binary is
 * built once for each.
 *  - malloc_zone_register appends and refuses a zone registered twice;
 *    malloc_zone_unregister moves the last zone into the hole (no shift) and
 *    complains about a zone it does not know; the zones array is read-only
 *    between registrations, as libmalloc mprotects it;
 *  - malloc_get_all_zones reads the exported globals through a reader;
 *  - malloc_default_zone() is a virtual zone (version 10, "DefaultMallocZone",
 *    alone on its page) whose every function calls the same field of the
 *    runtime default zone (the stack-logging lite wrapper if there is one,
 *    else malloc_zones[0]) with no version or NULL check (§2);
 *  - a pointer's zone is found by asking the lite wrapper, then each zone's
 *    size() in order; for a slot-0 pointer the virtual zone is returned on
 *    374+ (so free() reaches slot 0's free_definite_size unchecked), slot
 *    0's own zone on 317 unless slot 0 still holds the initial default zone
 *    (§4);
 *  - free() or realloc() of a pointer no zone claims is reported and aborts
 *    (64-bit processes always have MALLOC_ABORT_ON_CORRUPTION);
 *  - realloc(p, 0) mallocs a minimum block from the default zone, frees p;
 *  - memalign is called only for version >= 5 and a valid alignment;
 *    malloc_zone_batch_malloc answers 0 without batch_malloc; batch_free
 *    falls back to free; pressure relief (whole list under the registry
 *    lock, version >= 8), claimed_address (version >= 10, else "yes");
 *    check, print, log, statistics of all zones call introspect unchecked;
 *  - malloc_set_zone_name makes the zone's first page writable, frees the old
 *    name with free(), allocates the new one from the zone itself, and leaves
 *    the page read-only; malloc_destroy_zone renames to NULL, unregisters,
 *    then calls destroy;
 *  - the purgeable zone is created on first request and registered last;
 *  - fork: prepare takes the registry lock then force_lock on every zone in
 *    order; the parent force_unlocks them; the child calls reinit_lock
 *    (force_unlock below version 9);
 *  - MallocStackLogging=lite in the environment at boot: a wrapper of the
 *    slot-0 zone of that moment is registered and becomes the runtime
 *    default zone, as libmalloc does at initialization (§8).
 * The system zones are simple bump allocators with O(1) size(). Not
 * modelled: nano's fixed address range, ProbGuard, stack logging's records,
 * typed malloc.
 */
#define _GNU_SOURCE
#include "libmalloc_model.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGE 4096
#define ZONES_CAP (PAGE / sizeof(malloc_zone_t *))
#define MALLOC_ABSOLUTE_MAX_SIZE (SIZE_MAX - 2 * PAGE)

int32_t malloc_num_zones;
malloc_zone_t **malloc_zones = (malloc_zone_t **)0xdeaddeaddeaddeadull;
lm_counters_t lm_counters;
void *lm_early[LM_EARLY];
size_t lm_early_size[LM_EARLY];

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;

__attribute__((noreturn)) static void report_crash(const char *what, const void *p) {
  fprintf(stderr, "libmalloc model: *** error for object %p: %s\n", p, what);
  abort();
}

/* ---- the system zones: bump allocators with a header per block ------------------ */

#define HDR_MAGIC 0x5a4f4e45u
#define LIVE 1u
#define FREED 2u

typedef struct hdr {
  uint32_t magic, state;
  uint64_t size;
} hdr_t;

typedef struct szone {
  malloc_zone_t zone; /* first: the zone pointer is the szone pointer */
  pthread_mutex_t lock;
  struct szone *helper; /* nano: sizes above 256 go to the helper */
  char *base, *bump, *end;
  lm_zone_stats_t st;
} szone_t;

#define SZ(z) ((szone_t *)(z))

static hdr_t *hdr_of(szone_t *s, const void *p) {
  uintptr_t a = (uintptr_t)p;
  if (a < (uintptr_t)s->base + sizeof(hdr_t) || a >= (uintptr_t)s->bump || a % 16) return NULL;
  hdr_t *h = (hdr_t *)(a - sizeof(hdr_t));
  return h->magic == HDR_MAGIC && h->state == LIVE ? h : NULL;
}

static size_t sz_size(malloc_zone_t *z, const void *p) {
  hdr_t *h = hdr_of(SZ(z), p);
  return h ? h->size : 0;
}

static void *sz_alloc(szone_t *s, size_t size, size_t align, bool zero) {
  if (s->helper && size > 256 && align <= 16) return s->helper->zone.malloc(&s->helper->zone, size);
  size = (size + 15) & ~(size_t)15;
  if (!size) size = 16;
  pthread_mutex_lock(&s->lock);
  uintptr_t p = ((uintptr_t)s->bump + sizeof(hdr_t) + align - 1) & ~(uintptr_t)(align - 1);
  if (p + size > (uintptr_t)s->end) {
    pthread_mutex_unlock(&s->lock);
    errno = ENOMEM;
    return NULL;
  }
  hdr_t *h = (hdr_t *)(p - sizeof(hdr_t));
  *h = (hdr_t){HDR_MAGIC, LIVE, size};
  s->bump = (char *)(p + size);
  s->st.mallocs++;
  s->st.live++;
  pthread_mutex_unlock(&s->lock);
  if (zero) memset((void *)p, 0, size);
  return (void *)p;
}

static void *sz_malloc(malloc_zone_t *z, size_t size) {
  return sz_alloc(SZ(z), size, 16, false);
}
static void *sz_calloc(malloc_zone_t *z, size_t n, size_t size) {
  return sz_alloc(SZ(z), n * size, 16, true);
}
static void *sz_valloc(malloc_zone_t *z, size_t size) {
  return sz_alloc(SZ(z), size, PAGE, false);
}
static void *sz_memalign(malloc_zone_t *z, size_t align, size_t size) {
  return sz_alloc(SZ(z), size, align < 16 ? 16 : align, false);
}

static void sz_free(malloc_zone_t *z, void *p) {
  szone_t *s = SZ(z);
  pthread_mutex_lock(&s->lock);
  hdr_t *h = hdr_of(s, p);
  if (!h) report_crash("pointer being freed to the wrong zone", p);
  h->state = FREED;
  s->st.frees++;
  s->st.live--;
  pthread_mutex_unlock(&s->lock);
}

static void sz_free_definite_size(malloc_zone_t *z, void *p, size_t size) {
  (void)size;
  sz_free(z, p);
}

static void *sz_realloc(malloc_zone_t *z, void *p, size_t size) {
  if (!p) return sz_malloc(z, size);
  size_t old = sz_size(z, p);
  void *q = sz_malloc(z, size);
  if (q) {
    memcpy(q, p, old < size ? old : size);
    sz_free(z, p);
  }
  return q;
}

static void sz_destroy(malloc_zone_t *z) {
  (void)z;
}

static unsigned sz_batch_malloc(malloc_zone_t *z, size_t size, void **results, unsigned n) {
  unsigned i = 0;
  while (i < n && (results[i] = sz_malloc(z, size))) i++;
  return i;
}

static void sz_batch_free(malloc_zone_t *z, void **ptrs, unsigned n) {
  for (unsigned i = 0; i < n; i++) sz_free(z, ptrs[i]);
}

static size_t sz_pressure_relief(malloc_zone_t *z, size_t goal) {
  (void)z, (void)goal;
  return 0;
}

static boolean_t sz_claimed_address(malloc_zone_t *z, void *p) {
  szone_t *s = SZ(z);
  return (char *)p >= s->base && (char *)p < s->end;
}

/* In-process only: the model's zones are never enumerated from outside. */
static kern_return_t sz_enumerator(task_t task, void *ctx, unsigned mask, vm_address_t zone_address,
                                   memory_reader_t reader, vm_range_recorder_t recorder) {
  (void)reader;
  szone_t *s = (szone_t *)zone_address;
  for (char *b = s->base; b + sizeof(hdr_t) < s->bump;) {
    hdr_t *h = (hdr_t *)b;
    if (h->magic != HDR_MAGIC) {
      b += 16;
      continue;
    }
    vm_range_t r = {(vm_address_t)(b + sizeof(hdr_t)), h->size};
    if (h->state == LIVE && (mask & MALLOC_PTR_IN_USE_RANGE_TYPE)) recorder(task, ctx, MALLOC_PTR_IN_USE_RANGE_TYPE, &r, 1);
    b += sizeof(hdr_t) + h->size;
  }
  return KERN_SUCCESS;
}

static size_t sz_good_size(malloc_zone_t *z, size_t size) {
  (void)z;
  return size ? (size + 15) & ~(size_t)15 : 16;
}
static boolean_t sz_check(malloc_zone_t *z) {
  (void)z;
  return 1;
}
static void sz_print(malloc_zone_t *z, boolean_t verbose) {
  (void)verbose;
  fprintf(stderr, "%s: %zu blocks\n", z->zone_name, SZ(z)->st.live);
}
static void sz_log(malloc_zone_t *z, void *address) {
  (void)z, (void)address;
}
static void sz_force_lock(malloc_zone_t *z) {
  pthread_mutex_lock(&SZ(z)->lock);
  SZ(z)->st.force_lock++;
}
static void sz_force_unlock(malloc_zone_t *z) {
  SZ(z)->st.force_unlock++;
  pthread_mutex_unlock(&SZ(z)->lock);
}
static void sz_reinit_lock(malloc_zone_t *z) {
  pthread_mutex_init(&SZ(z)->lock, NULL);
  SZ(z)->st.reinit_lock++;
}
static void sz_statistics(malloc_zone_t *z, malloc_statistics_t *stats) {
  szone_t *s = SZ(z);
  size_t used = (size_t)(s->bump - s->base);
  *stats = (malloc_statistics_t){(unsigned)s->st.live, used, used, used};
}
static boolean_t sz_zone_locked(malloc_zone_t *z) {
  if (pthread_mutex_trylock(&SZ(z)->lock)) return 1;
  pthread_mutex_unlock(&SZ(z)->lock);
  return 0;
}

static malloc_introspection_t sz_introspect = {
  .enumerator = sz_enumerator,
  .good_size = sz_good_size,
  .check = sz_check,
  .print = sz_print,
  .log = sz_log,
  .force_lock = sz_force_lock,
  .force_unlock = sz_force_unlock,
  .statistics = sz_statistics,
  .zone_locked = sz_zone_locked,
  .reinit_lock = sz_reinit_lock,
};

static szone_t *szone_create(const char *name, szone_t *helper) {
  szone_t *s = calloc(1, sizeof *s);
  size_t cap = (size_t)256 << 20;
  s->base = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (s->base == MAP_FAILED) abort();
  s->bump = s->base;
  s->end = s->base + cap;
  s->helper = helper;
  pthread_mutex_init(&s->lock, NULL);
  s->zone = (malloc_zone_t){
    .size = sz_size,
    .malloc = sz_malloc,
    .calloc = sz_calloc,
    .valloc = sz_valloc,
    .free = sz_free,
    .realloc = sz_realloc,
    .destroy = sz_destroy,
    .zone_name = name,
    .batch_malloc = sz_batch_malloc,
    .batch_free = sz_batch_free,
    .introspect = &sz_introspect,
    .version = 10,
    .memalign = sz_memalign,
    .free_definite_size = sz_free_definite_size,
    .pressure_relief = sz_pressure_relief,
    .claimed_address = sz_claimed_address,
  };
  return s;
}

static szone_t *nano, *helper, *purgeable;

malloc_zone_t *lm_nano_zone(void) {
  return &nano->zone;
}
malloc_zone_t *lm_helper_zone(void) {
  return &helper->zone;
}
malloc_zone_t *lm_purgeable_zone_if_created(void) {
  return purgeable ? &purgeable->zone : NULL;
}
bool lm_zone_is_system(malloc_zone_t *z) {
  return z == &nano->zone || z == &helper->zone || (purgeable && z == &purgeable->zone);
}
lm_zone_stats_t lm_zone_stats(malloc_zone_t *z) {
  return SZ(z)->st;
}

/* ---- the registry --------------------------------------------------------------------- */

static void register_while_locked(malloc_zone_t *zone) {
  for (int32_t i = 0; i < malloc_num_zones; i++) {
    if (malloc_zones[i] == zone) {
      fprintf(stderr, "libmalloc model: Attempted to register zone more than once: %p\n", (void *)zone);
      lm_counters.duplicate_registrations++;
      return;
    }
  }
  if ((size_t)malloc_num_zones == ZONES_CAP) abort();
  mprotect(malloc_zones, PAGE, PROT_READ | PROT_WRITE);
  malloc_zones[malloc_num_zones] = zone;
  __atomic_store_n(&malloc_num_zones, malloc_num_zones + 1, __ATOMIC_RELEASE);
  mprotect(malloc_zones, PAGE, PROT_READ);
}

void malloc_zone_register(malloc_zone_t *zone) {
  pthread_mutex_lock(&registry_lock);
  register_while_locked(zone);
  pthread_mutex_unlock(&registry_lock);
}

void malloc_zone_unregister(malloc_zone_t *zone) {
  pthread_mutex_lock(&registry_lock);
  for (int32_t i = 0; i < malloc_num_zones; i++) {
    if (malloc_zones[i] != zone) continue;
    mprotect(malloc_zones, PAGE, PROT_READ | PROT_WRITE);
    malloc_zones[i] = malloc_zones[malloc_num_zones - 1];
    __atomic_store_n(&malloc_num_zones, malloc_num_zones - 1, __ATOMIC_RELEASE);
    mprotect(malloc_zones, PAGE, PROT_READ);
    pthread_mutex_unlock(&registry_lock);
    return;
  }
  pthread_mutex_unlock(&registry_lock);
  fprintf(stderr, "libmalloc model: *** malloc_zone_unregister() failed for %p\n", (void *)zone);
  lm_counters.failed_unregistrations++;
}

static kern_return_t default_reader(task_t task, vm_address_t address, vm_size_t size, void **out) {
  (void)task, (void)size;
  *out = (void *)address;
  return KERN_SUCCESS;
}

kern_return_t malloc_get_all_zones(task_t task, memory_reader_t reader, vm_address_t **addresses, unsigned *count) {
  if (!reader) reader = default_reader;
  void **zones_ref;
  int32_t *count_ref;
  kern_return_t kr = reader(task, (vm_address_t)&malloc_zones, sizeof(void *), (void **)&zones_ref);
  if (kr) return kr;
  vm_address_t zones = (vm_address_t)*zones_ref;
  if ((kr = reader(task, (vm_address_t)&malloc_num_zones, sizeof(int32_t), (void **)&count_ref))) return kr;
  *count = (unsigned)*count_ref;
  return reader(task, zones, sizeof(malloc_zone_t *) * *count, (void **)addresses);
}

/* ---- the stack-logging lite wrapper (docs/darwin.md §8) ---------------------------------- */

/* A zone whose every call goes to the zone it wraps, laid out as libmalloc's
 * wrapper zones are (the zone, then the wrapped zone's address). Its own
 * fork hooks do nothing: the wrapped zone is registered too and gets its own
 * calls. */
typedef struct lite {
  malloc_zone_t zone;
  malloc_zone_t *wrapped;
  unsigned mallocs; /* what stack logging would have recorded */
} lite_t;

static lite_t *lite;
static malloc_zone_t *initial_default_zone;

#define W(z) (((lite_t *)(z))->wrapped)

static size_t lz_size(malloc_zone_t *z, const void *p) {
  return W(z)->size(W(z), p);
}
static void *lz_malloc(malloc_zone_t *z, size_t size) {
  __atomic_add_fetch(&((lite_t *)z)->mallocs, 1, __ATOMIC_RELAXED);
  return W(z)->malloc(W(z), size);
}
static void *lz_calloc(malloc_zone_t *z, size_t n, size_t size) {
  __atomic_add_fetch(&((lite_t *)z)->mallocs, 1, __ATOMIC_RELAXED);
  return W(z)->calloc(W(z), n, size);
}
static void *lz_valloc(malloc_zone_t *z, size_t size) {
  __atomic_add_fetch(&((lite_t *)z)->mallocs, 1, __ATOMIC_RELAXED);
  return W(z)->valloc(W(z), size);
}
static void lz_free(malloc_zone_t *z, void *p) {
  W(z)->free(W(z), p);
}
static void *lz_realloc(malloc_zone_t *z, void *p, size_t size) {
  return W(z)->realloc(W(z), p, size);
}
static void lz_destroy(malloc_zone_t *z) {
  (void)z;
}
static unsigned lz_batch_malloc(malloc_zone_t *z, size_t size, void **results, unsigned n) {
  return W(z)->batch_malloc(W(z), size, results, n);
}
static void lz_batch_free(malloc_zone_t *z, void **ptrs, unsigned n) {
  W(z)->batch_free(W(z), ptrs, n);
}
static void *lz_memalign(malloc_zone_t *z, size_t align, size_t size) {
  return W(z)->memalign(W(z), align, size);
}
static void lz_free_definite_size(malloc_zone_t *z, void *p, size_t size) {
  W(z)->free_definite_size(W(z), p, size);
}
static size_t lz_pressure_relief(malloc_zone_t *z, size_t goal) {
  (void)z, (void)goal;
  return 0;
}
static boolean_t lz_claimed_address(malloc_zone_t *z, void *p) {
  return malloc_zone_claimed_address(W(z), p);
}
static kern_return_t lzi_enumerator(task_t task, void *ctx, unsigned mask, vm_address_t zone_address,
                                    memory_reader_t reader, vm_range_recorder_t recorder) {
  (void)task, (void)ctx, (void)mask, (void)zone_address, (void)reader, (void)recorder;
  return KERN_SUCCESS; /* its blocks are the wrapped zone's, enumerated there */
}
static size_t lzi_good_size(malloc_zone_t *z, size_t size) {
  return W(z)->introspect->good_size(W(z), size);
}
static boolean_t lzi_check(malloc_zone_t *z) {
  (void)z;
  return 1;
}
static void lzi_print(malloc_zone_t *z, boolean_t verbose) {
  (void)verbose;
  fprintf(stderr, "%s: %u mallocs recorded\n", z->zone_name, ((lite_t *)z)->mallocs);
}
static void lzi_nothing(malloc_zone_t *z) {
  (void)z;
}
static void lzi_log(malloc_zone_t *z, void *address) {
  (void)z, (void)address;
}
static void lzi_statistics(malloc_zone_t *z, malloc_statistics_t *stats) {
  (void)z;
  memset(stats, 0, sizeof *stats);
}
static boolean_t lzi_zone_locked(malloc_zone_t *z) {
  (void)z;
  return 0;
}

static malloc_introspection_t lite_introspect = {
  .enumerator = lzi_enumerator,
  .good_size = lzi_good_size,
  .check = lzi_check,
  .print = lzi_print,
  .log = lzi_log,
  .force_lock = lzi_nothing,
  .force_unlock = lzi_nothing,
  .statistics = lzi_statistics,
  .zone_locked = lzi_zone_locked,
  .reinit_lock = lzi_nothing,
};

static void register_while_locked(malloc_zone_t *zone);

/* At initialization, under the registry lock, when MallocStackLogging=lite
 * is set: wrap the zone that is in slot 0 now. */
static void create_and_insert_lite_zone(void) {
  lite_t *l = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (l == MAP_FAILED) abort();
  l->wrapped = malloc_zones[0];
  l->zone = (malloc_zone_t){
    .size = lz_size,
    .malloc = lz_malloc,
    .calloc = lz_calloc,
    .valloc = lz_valloc,
    .free = lz_free,
    .realloc = lz_realloc,
    .destroy = lz_destroy,
    /* the 317-era source's name, and a recent libmalloc binary's (the
     * release in between that renamed it was not identified) */
    .zone_name = LM_LIBMALLOC > 317 ? "MallocStackLoggingLiteZone_Wrapper" : "MallocStackLoggingLiteZone",
    .batch_malloc = lz_batch_malloc,
    .batch_free = lz_batch_free,
    .introspect = &lite_introspect,
    .version = 10,
    .memalign = lz_memalign,
    .free_definite_size = lz_free_definite_size,
    .pressure_relief = lz_pressure_relief,
    .claimed_address = lz_claimed_address,
  };
  register_while_locked(&l->zone);
  lite = l;
}

malloc_zone_t *lm_lite_zone(void) {
  return lite ? &lite->zone : NULL;
}

unsigned lm_lite_mallocs(void) {
  return lite ? __atomic_load_n(&lite->mallocs, __ATOMIC_RELAXED) : 0;
}

/* ---- the virtual default zone ------------------------------------------------------------ */

/* runtime_default_zone() in libmalloc: what the virtual zone forwards to. */
static malloc_zone_t *zone0(void) {
  return lite ? &lite->zone : malloc_zones[0];
}

static size_t vz_size(malloc_zone_t *z, const void *p) {
  z = zone0();
  return z->size(z, p);
}
static void *vz_malloc(malloc_zone_t *z, size_t size) {
  z = zone0();
  return z->malloc(z, size);
}
static void *vz_calloc(malloc_zone_t *z, size_t n, size_t size) {
  z = zone0();
  return z->calloc(z, n, size);
}
static void *vz_valloc(malloc_zone_t *z, size_t size) {
  z = zone0();
  return z->valloc(z, size);
}
static void vz_free(malloc_zone_t *z, void *p) {
  z = zone0();
  z->free(z, p);
}
static void *vz_realloc(malloc_zone_t *z, void *p, size_t size) {
  z = zone0();
  return z->realloc(z, p, size);
}
static void vz_destroy(malloc_zone_t *z) {
  z = zone0();
  z->destroy(z);
}
static unsigned vz_batch_malloc(malloc_zone_t *z, size_t size, void **results, unsigned n) {
  z = zone0();
  return z->batch_malloc(z, size, results, n);
}
static void vz_batch_free(malloc_zone_t *z, void **ptrs, unsigned n) {
  z = zone0();
  z->batch_free(z, ptrs, n);
}
static void *vz_memalign(malloc_zone_t *z, size_t align, size_t size) {
  z = zone0();
  return z->memalign(z, align, size);
}
static void vz_free_definite_size(malloc_zone_t *z, void *p, size_t size) {
  z = zone0();
  z->free_definite_size(z, p, size);
}
static size_t vz_pressure_relief(malloc_zone_t *z, size_t goal) {
  z = zone0();
  return z->pressure_relief(z, goal);
}
static boolean_t vz_claimed_address(malloc_zone_t *z, void *p) {
  z = zone0();
  return malloc_zone_claimed_address(z, p);
}
static kern_return_t vzi_enumerator(task_t task, void *ctx, unsigned mask, vm_address_t zone_address,
                                    memory_reader_t reader, vm_range_recorder_t recorder) {
  (void)zone_address;
  malloc_zone_t *z = zone0();
  return z->introspect->enumerator(task, ctx, mask, (vm_address_t)z, reader, recorder);
}
static size_t vzi_good_size(malloc_zone_t *z, size_t size) {
  z = zone0();
  return z->introspect->good_size(z, size);
}
static boolean_t vzi_check(malloc_zone_t *z) {
  z = zone0();
  return z->introspect->check(z);
}
static void vzi_print(malloc_zone_t *z, boolean_t verbose) {
  z = zone0();
  z->introspect->print(z, verbose);
}
static void vzi_log(malloc_zone_t *z, void *address) {
  z = zone0();
  z->introspect->log(z, address);
}
static void vzi_force_lock(malloc_zone_t *z) {
  z = zone0();
  z->introspect->force_lock(z);
}
static void vzi_force_unlock(malloc_zone_t *z) {
  z = zone0();
  z->introspect->force_unlock(z);
}
static void vzi_statistics(malloc_zone_t *z, malloc_statistics_t *stats) {
  z = zone0();
  z->introspect->statistics(z, stats);
}
static boolean_t vzi_zone_locked(malloc_zone_t *z) {
  z = zone0();
  return z->introspect->zone_locked(z);
}
static void vzi_reinit_lock(malloc_zone_t *z) {
  z = zone0();
  z->introspect->reinit_lock(z);
}

static malloc_introspection_t virtual_introspect = {
  .enumerator = vzi_enumerator,
  .good_size = vzi_good_size,
  .check = vzi_check,
  .print = vzi_print,
  .log = vzi_log,
  .force_lock = vzi_force_lock,
  .force_unlock = vzi_force_unlock,
  .statistics = vzi_statistics,
  .zone_locked = vzi_zone_locked,
  .reinit_lock = vzi_reinit_lock,
};

static union {
  malloc_zone_t zone;
  char page[16384];
} virtual_zone __attribute__((aligned(16384))) = {.zone = {
  .size = vz_size,
  .malloc = vz_malloc,
  .calloc = vz_calloc,
  .valloc = vz_valloc,
  .free = vz_free,
  .realloc = vz_realloc,
  .destroy = vz_destroy,
  .zone_name = "DefaultMallocZone",
  .batch_malloc = vz_batch_malloc,
  .batch_free = vz_batch_free,
  .introspect = &virtual_introspect,
  .version = 10,
  .memalign = vz_memalign,
  .free_definite_size = vz_free_definite_size,
  .pressure_relief = vz_pressure_relief,
  .claimed_address = vz_claimed_address,
}};

#define default_zone (&virtual_zone.zone)

malloc_zone_t *malloc_default_zone(void) {
  return default_zone;
}

/* Whether slot 0's own pointers are reported as the virtual zone's
 * (has_default_zone0 in libmalloc): from 374 on unless a zone was injected
 * into slot 0 behind libmalloc's back (never here); up to 317 only while
 * slot 0 still holds the zone libmalloc made the default at boot. */
static bool slot0_is_reported_virtual(void) {
#if LM_LIBMALLOC >= 374
  return true;
#else
  return malloc_zones[0] == initial_default_zone;
#endif
}

static malloc_zone_t *find_registered_zone(const void *p, size_t *size_out) {
  size_t size = 0;
  malloc_zone_t *found = NULL;
  if (lite && (size = lite->zone.size(&lite->zone, p)) != 0) {
    found = default_zone; /* the lite wrapper's pointers are the virtual zone's */
  } else {
    int32_t n = __atomic_load_n(&malloc_num_zones, __ATOMIC_ACQUIRE);
    for (int32_t i = 0; i < n; i++) {
      malloc_zone_t *z = malloc_zones[i];
      if ((size = z->size(z, p)) != 0) {
        found = i == 0 && slot0_is_reported_virtual() ? default_zone : z;
        break;
      }
    }
  }
  if (size_out) *size_out = size;
  return found;
}

/* ---- the C entry points (libmalloc's malloc(), free(), ...) ------------------------------ */

static void *zone_malloc_posix(malloc_zone_t *zone, size_t size) {
  void *p = size > MALLOC_ABSOLUTE_MAX_SIZE ? NULL : zone->malloc(zone, size);
  if (!p) errno = ENOMEM;
  return p;
}

void *lm_malloc(size_t size) {
#if GCL_LIBMALLOC_HEADER >= 646
  malloc_zone_t *z = zone0();
  if (z->version >= 16) return z->malloc_type_malloc(z, size, 0);
#endif
  return zone_malloc_posix(default_zone, size);
}

void *lm_calloc(size_t n, size_t size) {
  void *p = default_zone->calloc(default_zone, n, size);
  if (!p) errno = ENOMEM;
  return p;
}

void *lm_valloc(size_t size) {
  void *p = size > MALLOC_ABSOLUTE_MAX_SIZE ? NULL : default_zone->valloc(default_zone, size);
  if (!p) errno = ENOMEM;
  return p;
}

void lm_free(void *p) {
  if (!p) return;
  size_t size;
  malloc_zone_t *z = find_registered_zone(p, &size);
  if (!z) report_crash("pointer being freed was not allocated", p);
  if (z->version >= 6 && z->free_definite_size) z->free_definite_size(z, p, size);
  else z->free(z, p);
}

void *lm_realloc(void *p, size_t size) {
  void *old = size == 0 ? NULL : p, *r;
  if (!old) {
    r = malloc_zone_malloc(default_zone, size);
  } else {
    malloc_zone_t *z = find_registered_zone(old, NULL);
    if (!z) report_crash("pointer being realloc'd was not allocated", p);
    r = malloc_zone_realloc(z, old, size);
  }
  if (!r) errno = ENOMEM;
  else if (size == 0) lm_free(p);
  return r;
}

int lm_posix_memalign(void **out, size_t align, size_t size) {
  void *p = malloc_zone_memalign(default_zone, align, size);
  if (!p) return align < sizeof(void *) || (align & (align - 1)) ? EINVAL : ENOMEM;
  *out = p;
  return 0;
}

size_t lm_malloc_size(const void *p) {
  size_t size = 0;
  if (p) find_registered_zone(p, &size);
  return size;
}

size_t malloc_size(const void *p) {
  return lm_malloc_size(p);
}

size_t malloc_good_size(size_t size) {
  return default_zone->introspect->good_size(default_zone, size);
}

/* ---- the zone API -------------------------------------------------------------------- */

void *malloc_zone_malloc(malloc_zone_t *zone, size_t size) {
  return size > MALLOC_ABSOLUTE_MAX_SIZE ? NULL : zone->malloc(zone, size);
}
void *malloc_zone_calloc(malloc_zone_t *zone, size_t n, size_t size) {
  return zone->calloc(zone, n, size);
}
void *malloc_zone_valloc(malloc_zone_t *zone, size_t size) {
  return size > MALLOC_ABSOLUTE_MAX_SIZE ? NULL : zone->valloc(zone, size);
}
void *malloc_zone_realloc(malloc_zone_t *zone, void *p, size_t size) {
  return size > MALLOC_ABSOLUTE_MAX_SIZE ? NULL : zone->realloc(zone, p, size);
}
void malloc_zone_free(malloc_zone_t *zone, void *p) {
  zone->free(zone, p);
}
void *malloc_zone_memalign(malloc_zone_t *zone, size_t align, size_t size) {
  if (zone->version < 5 || size > MALLOC_ABSOLUTE_MAX_SIZE) return NULL;
  if (align < sizeof(void *) || (align & (align - 1))) return NULL;
  if (!zone->memalign) return NULL;
  return zone->memalign(zone, align, size);
}
unsigned malloc_zone_batch_malloc(malloc_zone_t *zone, size_t size, void **results, unsigned n) {
  if (!zone->batch_malloc) return 0;
  return zone->batch_malloc(zone, size, results, n);
}
void malloc_zone_batch_free(malloc_zone_t *zone, void **ptrs, unsigned n) {
  if (zone->batch_free) {
    zone->batch_free(zone, ptrs, n);
    return;
  }
  for (unsigned i = 0; i < n; i++) zone->free(zone, ptrs[i]);
}
malloc_zone_t *malloc_zone_from_ptr(const void *p) {
  return p ? find_registered_zone(p, NULL) : NULL;
}

size_t malloc_zone_pressure_relief(malloc_zone_t *zone, size_t goal) {
  if (zone) return zone->version >= 8 && zone->pressure_relief ? zone->pressure_relief(zone, goal) : 0;
  size_t total = 0;
  pthread_mutex_lock(&registry_lock);
  for (int32_t i = 0; i < malloc_num_zones; i++) {
    malloc_zone_t *z = malloc_zones[i];
    if (z->version < 8 || !z->pressure_relief) continue;
    if (goal == 0) total += z->pressure_relief(z, 0);
    else if (goal > total) total += z->pressure_relief(z, goal - total);
    else break;
  }
  pthread_mutex_unlock(&registry_lock);
  return total;
}

boolean_t malloc_zone_claimed_address(malloc_zone_t *zone, void *p) {
  if (!p) return 0;
  if (zone->version < 10 || !zone->claimed_address) return 1;
  return zone->claimed_address(zone, p);
}

boolean_t malloc_claimed_address(void *p) {
  for (int32_t i = 0; i < malloc_num_zones; i++)
    if (malloc_zone_claimed_address(malloc_zones[i], p)) return 1;
  return 0;
}

boolean_t malloc_zone_check(malloc_zone_t *zone) {
  if (zone) return zone->introspect->check(zone);
  boolean_t ok = 1;
  for (int32_t i = 0; i < malloc_num_zones; i++)
    if (!malloc_zones[i]->introspect->check(malloc_zones[i])) ok = 0;
  return ok;
}

void malloc_zone_print(malloc_zone_t *zone, boolean_t verbose) {
  if (zone) {
    zone->introspect->print(zone, verbose);
    return;
  }
  for (int32_t i = 0; i < malloc_num_zones; i++) malloc_zones[i]->introspect->print(malloc_zones[i], verbose);
}

void malloc_zone_log(malloc_zone_t *zone, void *address) {
  if (zone) {
    zone->introspect->log(zone, address);
    return;
  }
  for (int32_t i = 0; i < malloc_num_zones; i++) malloc_zones[i]->introspect->log(malloc_zones[i], address);
}

void malloc_zone_statistics(malloc_zone_t *zone, malloc_statistics_t *stats) {
  if (zone) {
    zone->introspect->statistics(zone, stats);
    return;
  }
  memset(stats, 0, sizeof *stats);
  for (int32_t i = 0; i < malloc_num_zones; i++) {
    malloc_statistics_t s; /* not cleared, as in libmalloc: each zone fills every field */
    malloc_zones[i]->introspect->statistics(malloc_zones[i], &s);
    stats->blocks_in_use += s.blocks_in_use;
    stats->size_in_use += s.size_in_use;
    stats->max_size_in_use += s.max_size_in_use;
    stats->size_allocated += s.size_allocated;
  }
}

void malloc_set_zone_name(malloc_zone_t *z, const char *name) {
  mprotect(z, sizeof(malloc_zone_t), PROT_READ | PROT_WRITE); /* fails (EINVAL) unless z is page aligned */
  if (z->zone_name) {
    lm_free((char *)z->zone_name);
    z->zone_name = NULL;
  }
  if (name) {
    size_t n = strlen(name) + 1;
    char *copy = malloc_zone_malloc(z, n);
    if (copy) memcpy(copy, name, n);
    z->zone_name = copy;
  }
  mprotect(z, sizeof(malloc_zone_t), PROT_READ);
}

const char *malloc_get_zone_name(malloc_zone_t *zone) {
  return zone->zone_name;
}

void malloc_destroy_zone(malloc_zone_t *zone) {
  malloc_set_zone_name(zone, NULL);
  malloc_zone_unregister(zone);
  zone->destroy(zone);
}

malloc_zone_t *malloc_default_purgeable_zone(void) {
  if (!purgeable) {
    szone_t *p = szone_create(NULL, NULL);
    malloc_zone_register(&p->zone);
    purgeable = p;
    /* A literal for the name: the szone is not page aligned, so libmalloc's
     * rename would leave it writable anyway, and its free() of the old name
     * would be of NULL. */
    p->zone.zone_name = "DefaultPurgeableMallocZone";
  }
  return &purgeable->zone;
}

/* ---- fork ----------------------------------------------------------------------------------- */

pid_t lm_fork(void) {
  pthread_mutex_lock(&registry_lock);
  for (int32_t i = 0; i < malloc_num_zones; i++) malloc_zones[i]->introspect->force_lock(malloc_zones[i]);
  pid_t pid = fork();
  if (pid == 0) {
    for (int32_t i = 0; i < malloc_num_zones; i++) {
      malloc_zone_t *z = malloc_zones[i];
      if (z->version < 9) z->introspect->force_unlock(z);
      else z->introspect->reinit_lock(z);
    }
    pthread_mutex_init(&registry_lock, NULL);
  } else {
    for (int32_t i = 0; i < malloc_num_zones; i++) malloc_zones[i]->introspect->force_unlock(malloc_zones[i]);
    pthread_mutex_unlock(&registry_lock);
    if (pid > 0) lm_counters.forks++;
  }
  return pid;
}

/* ---- boot: libSystem's initializer, before any other image's ------------------------------ */

__attribute__((constructor(101))) static void lm_boot(void) {
  malloc_zones = mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (malloc_zones == MAP_FAILED) abort();
  helper = szone_create("MallocHelperZone", NULL);
  nano = szone_create("DefaultMallocZone", helper);
  malloc_zone_register(&nano->zone);
  malloc_zone_register(&helper->zone);
  initial_default_zone = &nano->zone;
  const char *msl = getenv("MallocStackLogging");
  if (msl && strcmp(msl, "lite") == 0) {
    pthread_mutex_lock(&registry_lock);
    create_and_insert_lite_zone();
    pthread_mutex_unlock(&registry_lock);
  }
  /* libobjc, libxpc and friends malloc before any third-party initializer. */
  for (int i = 0; i < LM_EARLY; i++) {
    lm_early_size[i] = (size_t)(i * 37 % 700) + 1;
    lm_early[i] = lm_malloc(lm_early_size[i]);
    memset(lm_early[i], 0x40 + i % 32, lm_early_size[i]);
  }
}

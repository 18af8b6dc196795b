/* zone_darwin.c: the Darwin front end: libgclzone as the default malloc zone.
 *
 * Owns the malloc_zone_t that libmalloc hands every malloc-family call to
 * once it sits in malloc_zones[0], its introspection table, the promotion to
 * slot 0 and the check that malloc() then reaches it, the zone's role, and
 * the sbrk/brk interposers. The facts it rests on (which fields libmalloc
 * calls unchecked, how registration moves zones, the fork hooks), with the
 * libmalloc and dyld releases they were read from, are in docs/darwin.md;
 * the section numbers below refer to it. None of this has run on macOS.
 *
 * Invariants:
 *  - every zone function and introspection entry through version 12 is
 *    non-NULL: libmalloc's virtual default zone calls slot 0's fields without
 *    looking at the version (§2), and fork calls force_lock, force_unlock
 *    and reinit_lock on every zone without a NULL check (§6);
 *  - after installation nothing here writes the zone or the table: libmalloc
 *    makes a zone's page read-only when it names it (§7), so each sits alone
 *    on its own page;
 *  - a pointer outside the region is never freed, reallocated or sized here:
 *    it goes to the zone that owns it, found without asking ourselves;
 *  - once installed the zone stays registered, default or not, so that its
 *    blocks stay claimed and freeable; when it is not the default, the zone
 *    that was the default before it is (§3, §8).
 *
 * Version 12, not 13+: 13 would make malloc/calloc set errno themselves (we
 * do) but also reserves try_free_default to libmalloc's own zones, 14 makes
 * zone_type mandatory and 16 the malloc_type_* entry points; typed calls
 * still reach slot 0's malloc/calloc/realloc/memalign for a zone below 16
 * (§2). Only fields that macOS 11's header already declares are named here,
 * so the file builds against every SDK from 11 on (§1).
 *
 * Not interposed: the malloc family. The zone in slot 0 already receives
 * every call from every image (two-level binds go to libsystem_malloc, which
 * dispatches to slot 0, typed malloc_type_* calls included, §2), also in
 * processes where dyld ignores __interpose: hardened or SIP-protected ones,
 * and a dylib that is dlopened rather than loaded at launch (§9). Interposing
 * free would add a second entry for pointers of every other zone and of
 * dyld's own allocator (mimalloc #1029), and interposing malloc without
 * malloc_type_* flips libmalloc into its interposition-compat mode on macOS
 * 14+ (§9). What interposition would buy, one indirect call less per
 * malloc, is for the benchmarks to justify. sbrk and brk are interposed: a
 * runtime that calls them must get the host heap, not libSystem's legacy
 * break ("historical curiosities", says Darwin's brk(2)).
 */
#if !(defined(__APPLE__) && defined(__MACH__)) && !defined(GCL_ZONE_MODEL)
#error "zone_darwin.c is the Darwin front end (ELF uses override_elf.c); tests build it with -DGCL_ZONE_MODEL"
#endif

#include "internal.h"

#include <errno.h>
#include <malloc/malloc.h>
#include <string.h>
#include <unistd.h>

/* Called by tests/darwin as well (hidden, like every gcl_ name). */
void gcl_zone_install(void);
void *gcl_zone_sbrk(int incr);
void *gcl_zone_brk(const void *addr);

/* PAGE_MAX_SIZE: 16 KiB pages on arm64, 4 KiB on Intel and for x86_64 under
 * Rosetta; one layout for both keeps the zone alone on its page everywhere. */
#define ZONE_PAGE 16384

/* What the enumerator needs to find the allocator's metadata in a task
 * that may not be this one: constant after load, read through the reader. */
#define ZONE_MAGIC 0x31656e6f7a6c6367ull /* "gclzone1" */
typedef struct zone_anchor {
  uint64_t magic;
  uint32_t span_size;  /* sizeof(gcl_span_t): the enumerating image must match */
  uint32_t slot_shift;
  const gcl_region_t *region;
  const gcl_spans_t *spans;
} zone_anchor_t;

static size_t zone_size(malloc_zone_t *zone, const void *p);
static void *zone_malloc(malloc_zone_t *zone, size_t size);
static void *zone_calloc(malloc_zone_t *zone, size_t n, size_t size);
static void *zone_valloc(malloc_zone_t *zone, size_t size);
static void zone_free(malloc_zone_t *zone, void *p);
static void *zone_realloc(malloc_zone_t *zone, void *p, size_t size);
static void zone_destroy(malloc_zone_t *zone);
static unsigned zone_batch_malloc(malloc_zone_t *zone, size_t size, void **results, unsigned n);
static void zone_batch_free(malloc_zone_t *zone, void **ptrs, unsigned n);
static void *zone_memalign(malloc_zone_t *zone, size_t align, size_t size);
static void zone_free_definite_size(malloc_zone_t *zone, void *p, size_t size);
static size_t zone_pressure_relief(malloc_zone_t *zone, size_t goal);
static boolean_t zone_claimed_address(malloc_zone_t *zone, void *p);

static bool zone_registered(const malloc_zone_t *z);
static bool make_default(malloc_zone_t *z);
static malloc_zone_t *slot0(void);

static kern_return_t intro_enumerator(task_t task, void *ctx, unsigned type_mask, vm_address_t zone_address,
                                      memory_reader_t reader, vm_range_recorder_t recorder);
static size_t intro_good_size(malloc_zone_t *zone, size_t size);
static boolean_t intro_check(malloc_zone_t *zone);
static void intro_print(malloc_zone_t *zone, boolean_t verbose);
static void intro_log(malloc_zone_t *zone, void *address);
static void intro_force_lock(malloc_zone_t *zone);
static void intro_force_unlock(malloc_zone_t *zone);
static void intro_statistics(malloc_zone_t *zone, malloc_statistics_t *stats);
static boolean_t intro_zone_locked(malloc_zone_t *zone);
static void intro_reinit_lock(malloc_zone_t *zone);
static void intro_print_task(task_t task, unsigned level, vm_address_t zone_address, memory_reader_t reader,
                             print_task_printer_t printer);
static void intro_task_statistics(task_t task, vm_address_t zone_address, memory_reader_t reader,
                                  malloc_statistics_t *stats);

static union {
  malloc_introspection_t table;
  char page[ZONE_PAGE];
} introspect_page __attribute__((aligned(ZONE_PAGE))) = {.table = {
  .enumerator = intro_enumerator,
  .good_size = intro_good_size,
  .check = intro_check,
  .print = intro_print,
  .log = intro_log,
  .force_lock = intro_force_lock,
  .force_unlock = intro_force_unlock,
  .statistics = intro_statistics,
  .zone_locked = intro_zone_locked,
  /* discharge checking (version 7) is optional and NULL-checked */
  .reinit_lock = intro_reinit_lock,
  .print_task = intro_print_task,
  .task_statistics = intro_task_statistics,
  /* zone_type (version 14) is not named: headers before libmalloc-474
   * (macOS 14) do not have it, and a version-12 zone is never asked. */
}};

static union {
  struct {
    malloc_zone_t zone;
    zone_anchor_t anchor;
  } z;
  char page[ZONE_PAGE];
} zone_page __attribute__((aligned(ZONE_PAGE))) = {.z = {
  .zone = {
    .reserved1 = NULL, /* CFAllocator tells zones from allocators by these */
    .reserved2 = NULL,
    .size = zone_size,
    .malloc = zone_malloc,
    .calloc = zone_calloc,
    .valloc = zone_valloc,
    .free = zone_free,
    .realloc = zone_realloc,
    .destroy = zone_destroy,
    .zone_name = "gclzone", /* never "DefaultMallocZone": libmalloc-53..-283 look zones up by that name */
    .batch_malloc = zone_batch_malloc,
    .batch_free = zone_batch_free,
    .introspect = &introspect_page.table,
    .version = 12,
    .memalign = zone_memalign,
    .free_definite_size = zone_free_definite_size,
    .pressure_relief = zone_pressure_relief,
    .claimed_address = zone_claimed_address,
  },
  .anchor = {ZONE_MAGIC, sizeof(gcl_span_t), GCL_SLOT_SHIFT, &gcl_region, &gcl_spans},
}};

#define ZONE (&zone_page.z.zone)

#if defined(GCL_ZONE_MODEL)
#define GCL_ZONE_MODEL_BUILD 1
#else
#define GCL_ZONE_MODEL_BUILD 0
#endif

/* ---- foreign pointers ------------------------------------------------------
 * Pointers outside the region reach us only when a caller names our zone
 * for a block of another zone (malloc_zone_free(malloc_default_zone(), p)
 * forwards to slot 0; CoreGraphics did that on 10.6, jemalloc 5b3db098). The
 * owner is asked by its size(); never through malloc_zone_from_ptr, which
 * answers for a slot-0 block (ourselves) with the virtual default zone on
 * macOS 12+ and with our own zone on macOS 11 (§4). */

static malloc_zone_t *system_zone; /* slot 0 when we were installed */

static malloc_zone_t *owner_of(const void *p) {
  malloc_zone_t *z = system_zone;
  if (z && z->size(z, p)) return z;
  vm_address_t *zones;
  unsigned n;
  if (malloc_get_all_zones(0, NULL, &zones, &n) == KERN_SUCCESS) {
    for (unsigned i = 0; i < n; i++) {
      malloc_zone_t *o = (malloc_zone_t *)zones[i];
      if (o != ZONE && o != system_zone && o->size(o, p)) return o;
    }
  }
  return system_zone; /* nobody claims p: let the system zone report it */
}

static malloc_zone_t *owner_or_fatal(const void *p, enum gcl_fatal why) {
  malloc_zone_t *z = owner_of(p);
  if (!z) gcl_log_fatal(why, p, NULL);
  return z;
}

static void foreign_free(void *p) {
  malloc_zone_t *z = owner_or_fatal(p, GCL_FATAL_INVALID_FREE);
  z->free(z, p);
}

static void *foreign_realloc(void *p, size_t size) {
  malloc_zone_t *z = owner_or_fatal(p, GCL_FATAL_INVALID_REALLOC);
  return z->realloc(z, p, size);
}

static size_t foreign_usable_size(void *p) {
  malloc_zone_t *z = owner_of(p);
  return z ? z->size(z, p) : 0;
}

static const gcl_foreign_t foreign = {foreign_free, foreign_realloc, foreign_usable_size};

/* ---- the zone ------------------------------------------------------------------ */

/* libmalloc asks every zone in turn, for any bit pattern (setenv, the ObjC
 * runtime, tagged values: mimalloc #638), so this must be O(1) and say 0 for
 * anything that is not a live block of ours, freed blocks included. */
static size_t zone_size(malloc_zone_t *zone, const void *p) {
  (void)zone;
  if (!gcl_region_contains(p)) return 0; /* also before init: the region is empty */
  return gcl_alloc_block_size(p);
}

static void *zone_malloc(malloc_zone_t *zone, size_t size) {
  (void)zone;
  return gcl_alloc_malloc(size);
}

static void *zone_calloc(malloc_zone_t *zone, size_t n, size_t size) {
  (void)zone;
  return gcl_alloc_calloc(n, size);
}

static void *zone_valloc(malloc_zone_t *zone, size_t size) {
  (void)zone;
  return gcl_alloc_valloc(size);
}

static void zone_free(malloc_zone_t *zone, void *p) {
  (void)zone;
  gcl_alloc_free(p, &foreign);
}

/* realloc() itself never passes 0 (libmalloc mallocs a minimum block and
 * frees p), but malloc_zone_realloc does; Darwin's answer is a minimum-size
 * block, not glibc's NULL. */
static void *zone_realloc(malloc_zone_t *zone, void *p, size_t size) {
  (void)zone;
  return gcl_alloc_realloc(p, size ? size : 1, &foreign);
}

/* The zone's role, for print (and, through the lead's front-end
 * descriptor, the stats report to come). Written only by installation and
 * destroy; read without a lock. */
typedef enum zone_role {
  ZONE_UNINSTALLED,
  ZONE_DEFAULT,     /* slot 0, and malloc() reaches it */
  ZONE_NOT_DEFAULT, /* promotion failed: another zone kept slot 0 */
  ZONE_UNVERIFIED,  /* slot 0, but the probe block could not be allocated */
  ZONE_BYPASSED,    /* malloc() is served elsewhere: stepped aside */
  ZONE_DESTROYED,   /* malloc_destroy_zone: registered behind the old default */
} zone_role_t;

static zone_role_t zone_role;
static const char *bypass_cause;       /* ZONE_BYPASSED: why */
static const malloc_zone_t *bypass_by; /* ZONE_BYPASSED: the zone that serves malloc(), if known */

/* What destroy means for a zone whose blocks outlive it (the region is never
 * unmapped and they may still be in use): it stops being the default and
 * keeps claiming its blocks. malloc_destroy_zone has renamed us to NULL and
 * unregistered us, which moved the last registered zone (often the
 * purgeable one) into slot 0, where it would serve every malloc() (§3). So:
 * registered again, the zone that was the default before us back in slot 0
 * if we held it, and our name back for the tools. Called directly while
 * registered, the same: the caller asked for the zone to stop serving.
 * Like any unregistration of slot 0, this is only safe before other threads
 * allocate (§3). */
static void zone_destroy(malloc_zone_t *zone) {
  bool held_slot0 = slot0() == zone || (!zone_registered(zone) && zone_role == ZONE_DEFAULT);
  if (!zone_registered(zone)) malloc_zone_register(zone);
  if (held_slot0 && system_zone && system_zone != zone && zone_registered(system_zone)) make_default(system_zone);
  if (!zone->zone_name) malloc_set_zone_name(zone, "gclzone"); /* a block of ours: free() finds us */
  zone_role = ZONE_DESTROYED;
}

static unsigned zone_batch_malloc(malloc_zone_t *zone, size_t size, void **results, unsigned n) {
  (void)zone;
  unsigned i = 0;
  while (i < n && (results[i] = gcl_alloc_malloc(size)) != NULL) i++;
  return i;
}

static void zone_batch_free(malloc_zone_t *zone, void **ptrs, unsigned n) {
  (void)zone;
  for (unsigned i = 0; i < n; i++) gcl_alloc_free(ptrs[i], &foreign);
}

/* libmalloc has checked the alignment (a power of two, at least a pointer)
 * before it calls a zone; a direct caller gets memalign's rounding. */
static void *zone_memalign(malloc_zone_t *zone, size_t align, size_t size) {
  (void)zone;
  return gcl_alloc_memalign(align, size);
}

/* Since macOS 12 every free() of a slot-0 block arrives here (§4). */
static void zone_free_definite_size(malloc_zone_t *zone, void *p, size_t size) {
  (void)zone;
  (void)size;
  gcl_alloc_free(p, &foreign);
}

/* Memory pressure (malloc_memory_event_handler) and
 * malloc_zone_pressure_relief: everything free goes back at once, whatever
 * the goal; the figure returned is what was returned to the OS. */
static size_t zone_pressure_relief(malloc_zone_t *zone, size_t goal) {
  (void)zone;
  (void)goal;
  return gcl_alloc_trim();
}

/* May say yes for a pointer that is not a live block (a freed block, slack
 * at the end of a slab); must never say no for one that is. */
static boolean_t zone_claimed_address(malloc_zone_t *zone, void *p) {
  (void)zone;
  gcl_span_t *s = gcl_span_of(p); /* NULL before init: the arena is empty */
  return s && s->kind != GCL_SPAN_FREE && s->kind != GCL_SPAN_HELD; /* held: a freed large block */
}

/* ---- reading the allocator through a memory_reader_t ---------------------------
 * The enumerator, print_task and task_statistics may run in another process
 * (a heap tool that loaded this image) against a task whose memory only the
 * reader can reach, so they touch none of this process's allocator state:
 * the zone's anchor is read through the reader, and from it walk.c's
 * iterator reads the region, the slot map, the spans and the blocks. State
 * is on the stack, so walks may run concurrently, and in a fork child,
 * without a lock. */

#define ZONE_RANGES 64 /* ranges per recorder call */

typedef struct zone_walk {
  task_t task;
  memory_reader_t *reader;
  gcl_walk_t walk;
  /* recording */
  unsigned mask;
  void *ctx;
  vm_range_recorder_t *recorder;
  unsigned type;
  unsigned nranges;
  vm_range_t ranges[ZONE_RANGES];
  /* totals */
  size_t blocks, bytes, span_bytes, clean_bytes;
} zone_walk_t;

static kern_return_t self_reader(task_t task, vm_address_t address, vm_size_t size, void **out) {
  (void)task;
  (void)size;
  *out = (void *)address;
  return KERN_SUCCESS;
}

/* walk.c's reader over libmalloc's. */
static int zone_read(void *ctx, uintptr_t addr, size_t size, const void **out) {
  zone_walk_t *z = ctx;
  void *local;
  if (z->reader(z->task, (vm_address_t)addr, (vm_size_t)size, &local) != KERN_SUCCESS) return EFAULT;
  *out = local;
  return 0;
}

static void zone_flush(zone_walk_t *z) {
  if (z->nranges) z->recorder(z->task, z->ctx, z->type, z->ranges, z->nranges);
  z->nranges = 0;
}

static void zone_record(zone_walk_t *z, unsigned type, uintptr_t address, size_t size) {
  if (!(z->mask & type) || !z->recorder) return;
  if (z->nranges && (z->type != type || z->nranges == ZONE_RANGES)) zone_flush(z);
  z->type = type;
  z->ranges[z->nranges++] = (vm_range_t){(vm_address_t)address, (vm_size_t)size};
}

/* The zone's anchor, then the walk over the region and spans it names. */
static kern_return_t zone_open(zone_walk_t *z, task_t task, vm_address_t zone_address, memory_reader_t reader) {
  z->task = task;
  z->reader = reader ? reader : self_reader;
  const void *p;
  zone_anchor_t anchor;
  if (zone_read(z, zone_address + offsetof(__typeof__(zone_page.z), anchor), sizeof anchor, &p))
    return KERN_FAILURE;
  memcpy(&anchor, p, sizeof anchor);
  if (anchor.magic != ZONE_MAGIC || anchor.span_size != sizeof(gcl_span_t) || anchor.slot_shift != GCL_SLOT_SHIFT)
    return KERN_FAILURE; /* not our zone, or another build of it */
  if (gcl_walk_open(&z->walk, zone_read, z, (uintptr_t)anchor.region, (uintptr_t)anchor.spans)) return KERN_FAILURE;
  return KERN_SUCCESS;
}

static void zone_block(void *ctx, uintptr_t block, size_t size) {
  zone_walk_t *z = ctx;
  z->blocks++;
  z->bytes += size;
  zone_record(z, MALLOC_PTR_IN_USE_RANGE_TYPE, block, size);
}

/* The metadata, then every span in address order: slabs and large blocks
 * as regions, their live blocks as blocks. */
static kern_return_t zone_walk_arena(zone_walk_t *z) {
  const gcl_region_t *r = &z->walk.region;
  if (r->size == 0) return KERN_SUCCESS; /* the target has not initialized yet */
  zone_record(z, MALLOC_ADMIN_REGION_RANGE_TYPE, r->map.base, r->map.committed - r->map.base);
  zone_record(z, MALLOC_ADMIN_REGION_RANGE_TYPE, r->spans.base, r->spans.committed - r->spans.base);
  zone_record(z, MALLOC_ADMIN_REGION_RANGE_TYPE, r->theaps.base, r->theaps.committed - r->theaps.base);
  int got;
  while ((got = gcl_walk_next(&z->walk)) > 0) {
    const gcl_span_t *s = &z->walk.span;
    size_t bytes = (size_t)s->slots << GCL_SLOT_SHIFT;
    if (s->kind == GCL_SPAN_SLAB || s->kind == GCL_SPAN_LARGE) {
      z->span_bytes += bytes;
      zone_record(z, MALLOC_PTR_REGION_RANGE_TYPE, s->start, bytes);
      if (gcl_walk_blocks(&z->walk, zone_block, z)) return KERN_FAILURE;
    } else if (!(s->flags & GCL_SPAN_DIRTY)) {
      z->clean_bytes += bytes;
    }
  }
  return got < 0 ? KERN_FAILURE : KERN_SUCCESS;
}

static kern_return_t zone_walk_all(zone_walk_t *z, task_t task, vm_address_t zone_address, memory_reader_t reader) {
  kern_return_t kr = zone_open(z, task, zone_address, reader);
  if (kr == KERN_SUCCESS) kr = zone_walk_arena(z);
  if (kr == KERN_SUCCESS) zone_flush(z);
  return kr;
}

static void zone_walk_statistics(const zone_walk_t *z, malloc_statistics_t *stats) {
  size_t committed = (z->walk.slots << GCL_SLOT_SHIFT) - z->clean_bytes;
  stats->blocks_in_use = (unsigned)z->blocks;
  stats->size_in_use = z->bytes;
  stats->max_size_in_use = committed; /* the peak lives in span.c, not reachable here */
  stats->size_allocated = committed;
}

/* ---- introspection -------------------------------------------------------------------- */

static kern_return_t intro_enumerator(task_t task, void *ctx, unsigned type_mask, vm_address_t zone_address,
                                      memory_reader_t reader, vm_range_recorder_t recorder) {
  zone_walk_t z;
  memset(&z, 0, sizeof z);
  z.mask = type_mask;
  z.ctx = ctx;
  z.recorder = recorder;
  return zone_walk_all(&z, task, zone_address, reader);
}

static void intro_task_statistics(task_t task, vm_address_t zone_address, memory_reader_t reader,
                                  malloc_statistics_t *stats) {
  zone_walk_t z;
  memset(&z, 0, sizeof z);
  memset(stats, 0, sizeof *stats);
  if (zone_walk_all(&z, task, zone_address, reader) == KERN_SUCCESS) zone_walk_statistics(&z, stats);
}

static void intro_print_task(task_t task, unsigned level, vm_address_t zone_address, memory_reader_t reader,
                             print_task_printer_t printer) {
  malloc_statistics_t st;
  intro_task_statistics(task, zone_address, reader, &st);
  printer("gclzone zone %p: %u blocks in use, %llu bytes; %llu bytes committed\n", (void *)zone_address,
          st.blocks_in_use, (unsigned long long)st.size_in_use, (unsigned long long)st.size_allocated);
  if (level >= MALLOC_VERBOSE_PRINT_LEVEL) {
    zone_walk_t z;
    memset(&z, 0, sizeof z);
    if (zone_open(&z, task, zone_address, reader) == KERN_SUCCESS) {
      const gcl_region_t *r = &z.walk.region;
      printer("gclzone region %p-%p: host heap %p, arena %p-%p, break %p\n", (void *)r->base,
              (void *)(r->base + r->size), (void *)r->host.base, (void *)r->arena.base, (void *)r->arena.limit,
              (void *)(z.walk.base + z.walk.top));
    }
  }
}

/* What malloc(size) really hands out: the size class, or whole pages. */
static size_t intro_good_size(malloc_zone_t *zone, size_t size) {
  (void)zone;
  return gcl_alloc_good_size(size);
}

/* The allocator's invariants under their locks: the spans' (check.c) and
 * the host heap's break. A failure is printed, not fatal: the caller asked. */
static boolean_t intro_check(malloc_zone_t *zone) {
  (void)zone;
  if (!gcl_process_ready()) return 1;
  uintptr_t where = 0;
  gcl_prim_lock(&gcl_span_lock);
  const char *why = gcl_check_spans(&where);
  gcl_prim_unlock(&gcl_span_lock);
  if (!why) {
    gcl_prim_lock(&gcl_hostheap_lock);
    why = gcl_check_hostheap(&where);
    gcl_prim_unlock(&gcl_hostheap_lock);
  }
  if (why) gcl_log_printf(2, "gclzone: check failed at %p: %s\n", (void *)where, why);
  return why == NULL;
}

/* One line on whether malloc() reaches the zone (docs/darwin.md §8). */
static void print_role(int fd) {
  switch (zone_role) {
  case ZONE_DEFAULT:
    gcl_log_printf(fd, "gclzone: zone %p: the default zone; malloc() reaches it\n", (void *)ZONE);
    break;
  case ZONE_BYPASSED:
    gcl_log_printf(fd, "gclzone: zone %p: bypassed: %s (zone %p); registered, not the default\n", (void *)ZONE,
                   bypass_cause, (const void *)bypass_by);
    break;
  case ZONE_NOT_DEFAULT:
    gcl_log_printf(fd, "gclzone: zone %p: not the default: slot 0 is %p\n", (void *)ZONE, (void *)slot0());
    break;
  case ZONE_UNVERIFIED:
    gcl_log_printf(fd, "gclzone: zone %p: in slot 0; whether malloc() reaches it is unknown\n", (void *)ZONE);
    break;
  case ZONE_DESTROYED:
    gcl_log_printf(fd, "gclzone: zone %p: destroyed: registered for its blocks, not the default\n", (void *)ZONE);
    break;
  case ZONE_UNINSTALLED:
    gcl_log_printf(fd, "gclzone: zone %p: not installed\n", (void *)ZONE);
    break;
  }
}

static void intro_print(malloc_zone_t *zone, boolean_t verbose) {
  (void)zone;
  gcl_introspect_report(2);
  print_role(2);
  if (verbose) gclzone_print_map(2);
}

/* We keep no per-address history, so log() says what the address is now.
 * 0 asks for nothing; -1 (all activity) gets the statistics. */
static void intro_log(malloc_zone_t *zone, void *address) {
  (void)zone;
  if (!address) return;
  if (address == (void *)-1) {
    gcl_introspect_report(2);
    return;
  }
  size_t n = zone_size(ZONE, address);
  const char *what = n                                      ? "a live block"
                     : !gcl_region_contains(address)        ? "not in the gclzone region"
                     : (uintptr_t)address < gcl_region.host.limit ? "in the host heap"
                                                            : "in the region but not a live block";
  gcl_log_printf(2, "gclzone: %p is %s (%zu bytes)\n", address, what, n);
}

/* Fork (§6): libSystem's prepare handler calls force_lock on every zone,
 * the parent force_unlock, the child reinit_lock (force_unlock below
 * version 9). The core's handlers take every lock except one this thread
 * already holds (fork from a signal handler that interrupted malloc), and
 * the child re-initializes them rather than unlock what its parent locked
 * (jemalloc d9f7b2a4: macOS 10.12 "cannot tolerate" that). */
static pid_t fork_pid;

static void intro_force_lock(malloc_zone_t *zone) {
  (void)zone;
  fork_pid = getpid();
  gcl_process_fork_prepare();
}

static void intro_force_unlock(malloc_zone_t *zone) {
  (void)zone;
  if (getpid() == fork_pid) gcl_process_fork_parent();
  else gcl_process_fork_child();
}

static void intro_reinit_lock(malloc_zone_t *zone) {
  (void)zone;
  gcl_process_fork_child();
}

static void intro_statistics(malloc_zone_t *zone, malloc_statistics_t *stats) {
  (void)zone;
  gclzone_stats_t st;
  gclzone_stats(&st);
  stats->blocks_in_use = (unsigned)st.in_use_blocks;
  stats->size_in_use = st.in_use_bytes;
  stats->max_size_in_use = st.committed_peak;
  stats->size_allocated = st.committed_bytes;
}

/* For debuggers (malloc_gdb_po_unsafe): may malloc run on this thread now? */
static boolean_t intro_zone_locked(malloc_zone_t *zone) {
  (void)zone;
  for (size_t i = 0; i < gcl_process_nlocks; i++) {
    if (!gcl_prim_trylock(gcl_process_locks[i])) return 1;
    gcl_prim_unlock(gcl_process_locks[i]);
  }
  return 0;
}

/* ---- installation -----------------------------------------------------------------
 * Slot 0 is what malloc() and the virtual default zone use. libmalloc only
 * appends, and unregistering moves the last zone into the hole (§3), so a
 * zone reaches slot 0 by being last when slot 0's zone is unregistered (and
 * registered again). This must happen before other threads exist: libmalloc
 * scans its first zones without a lock (§3), which a constructor guarantees
 * both when the dylib is inserted and when a runtime links it. */

static malloc_zone_t *slot0(void) {
  vm_address_t *zones; /* never malloc_default_zone(): the virtual zone since 10.12 */
  unsigned n;
  if (malloc_get_all_zones(0, NULL, &zones, &n) != KERN_SUCCESS || n == 0) return NULL;
  return (malloc_zone_t *)zones[0];
}

static bool zone_registered(const malloc_zone_t *z) {
  vm_address_t *zones;
  unsigned n;
  if (malloc_get_all_zones(0, NULL, &zones, &n) != KERN_SUCCESS) return false;
  for (unsigned i = 0; i < n; i++)
    if ((const malloc_zone_t *)zones[i] == z) return true;
  return false;
}

/* Put z in slot 0 with the registry's public calls only: registering z (or
 * unregistering and registering it again) makes it last; unregistering slot
 * 0's zone then moves z into slot 0, and that zone is registered again,
 * last. Every other zone stays registered. */
static bool make_default(malloc_zone_t *z) {
  for (unsigned tries = 0; tries < 8; tries++) {
    vm_address_t *zones;
    unsigned n;
    if (malloc_get_all_zones(0, NULL, &zones, &n) != KERN_SUCCESS || n == 0) return false;
    malloc_zone_t *first = (malloc_zone_t *)zones[0], *last = (malloc_zone_t *)zones[n - 1];
    if (first == z) return true;
    if (last != z) {
      if (zone_registered(z)) malloc_zone_unregister(z);
      malloc_zone_register(z);
      continue;
    }
    malloc_zone_unregister(first);
    malloc_zone_register(first);
  }
  return slot0() == z;
}

static bool has_prefix(const char *s, const char *prefix) {
  if (!s) return false;
  while (*prefix)
    if (*s++ != *prefix++) return false;
  return true;
}

/* Why a block that malloc() handed out is not ours, although we hold slot
 * 0. Malloc Stack Logging's lite mode (MallocStackLogging=lite at launch,
 * Xcode's "Live Allocations Only") makes its wrapper of the zone that was
 * the default then into libmalloc's runtime default zone, which the virtual
 * zone forwards to instead of slot 0 (§8); the wrapper is registered under
 * a name that starts with "MallocStackLoggingLite". */
static const char *bypass_reason(const void *p, const malloc_zone_t **by) {
  vm_address_t *zones;
  unsigned n;
  *by = NULL;
  if (malloc_get_all_zones(0, NULL, &zones, &n) != KERN_SUCCESS) n = 0;
  for (unsigned i = 0; i < n; i++) {
    const malloc_zone_t *z = (const malloc_zone_t *)zones[i];
    if (z != ZONE && has_prefix(z->zone_name, "MallocStackLoggingLite")) {
      *by = z;
      return "Malloc Stack Logging lite mode (MallocStackLogging=lite, Xcode's Live Allocations Only) serves "
             "malloc() from its wrapper of the previous default zone";
    }
  }
  for (unsigned i = 0; i < n && !*by; i++) {
    malloc_zone_t *z = (malloc_zone_t *)zones[i];
    if (z != ZONE && z->size(z, p)) *by = z;
  }
  return "malloc() is served by a zone other than slot 0's";
}

/* Does malloc() reach us? libmalloc's malloc(n) is malloc_zone_malloc on the
 * virtual default zone, which forwards to the runtime default zone: slot 0,
 * unless something such as stack logging's lite wrapper took its place
 * (§2, §8). One block allocated that way says; it becomes the zone's name,
 * which malloc_set_zone_name will free() later, and free() finds it by the
 * same route, wherever it came from (a gclzone block when we hold slot 0, a
 * block of the zone that serves malloc() otherwise). Until then the zone
 * is registered under the static "gclzone", which nothing can free: no
 * other thread runs yet.
 *
 * Bypassed, the zone steps aside: the previous default zone goes back to
 * slot 0 and ours stays registered. In slot 0 it would serve nothing, while
 * free() of one of its blocks (the name malloc_set_zone_name gives it, from
 * the zone itself) would reach the wrapper through the virtual zone on
 * macOS 12+ and abort in the wrapped zone (§4); behind, libmalloc finds it
 * by its size() and frees there. The process runs on the system allocator;
 * gclzone_sbrk and the interposed sbrk/brk still serve the host heap. */
static void zone_probe(bool promoted) {
  char *name = malloc_zone_malloc(malloc_default_zone(), sizeof "gclzone");
  if (name) memcpy(name, "gclzone", sizeof "gclzone");
  ZONE->zone_name = name; /* no name rather than one free() cannot take */
  if (!promoted) {
    zone_role = ZONE_NOT_DEFAULT;
    gcl_log_printf(2, "gclzone: warning: could not make the gclzone zone the default (slot 0 is %p)\n",
                   (void *)slot0());
  } else if (!name) {
    zone_role = ZONE_UNVERIFIED;
    gcl_log_printf(2, "gclzone: warning: no memory for the probe block: whether malloc() reaches the gclzone zone "
                      "is unknown\n");
  } else if (zone_size(ZONE, name)) {
    zone_role = ZONE_DEFAULT;
  } else {
    bypass_cause = bypass_reason(name, &bypass_by);
    if (system_zone && system_zone != ZONE && zone_registered(system_zone)) make_default(system_zone);
    zone_role = ZONE_BYPASSED;
    gcl_log_printf(2, "gclzone: warning: malloc() does not reach the gclzone zone: %s (zone %p); gclzone stays "
                      "registered but not the default, and the process keeps the system allocator\n",
                   bypass_cause, (const void *)bypass_by);
  }
}

void gcl_zone_install(void) {
  static int state; /* 0 not yet, 1 installing, 2 done */
  int expected = 0;
  if (!__atomic_compare_exchange_n(&state, &expected, 1, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) return;
  gcl_process_ensure();
  /* The purgeable zone first, while slot 0 is still libmalloc's: up to
   * libmalloc-283 (10.15) its helper is found by zone name and must be a
   * scalable zone (§5). */
  malloc_zone_t *purgeable = malloc_default_purgeable_zone();
  system_zone = slot0();
  bool promoted = make_default(ZONE);
  /* Behind the default zone again: on 10.6 a purgeable zone in front of it
   * claimed the default zone's blocks (jemalloc's comment). */
  if (purgeable && purgeable != ZONE) {
    malloc_zone_unregister(purgeable);
    malloc_zone_register(purgeable);
  }
  zone_probe(promoted);
  __atomic_store_n(&state, 2, __ATOMIC_RELEASE);
}

/* Before main and before other threads; a runtime linking the dylib gets
 * the same: dyld runs our initializer before those of the images that
 * depend on us. */
__attribute__((constructor)) static void zone_darwin_init(void) {
  gcl_zone_install();
}

/* ---- sbrk and brk -------------------------------------------------------------------
 * Darwin's signatures (Libc unistd.h): sbrk takes an int, brk returns the new
 * break or (void *)-1. The argument must be read as an int: on arm64 the
 * upper half of its register is undefined. Our own calls to sbrk/brk reach
 * libSystem's: dyld applies a dylib's tuples to every image but itself. */

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations" /* the SDK deprecates both */
static void *system_sbrk(int incr) {
  return sbrk(incr);
}

static void *system_brk(const void *addr) {
#if defined(GCL_ZONE_MODEL)
  return brk((void *)addr) == 0 ? (void *)addr : (void *)-1; /* glibc's brk returns int */
#else
  return brk(addr);
#endif
}
#pragma GCC diagnostic pop

void *gcl_zone_sbrk(int incr) {
  gcl_zone_install(); /* a runtime may call sbrk from an initializer that runs before ours */
  if (!gcl_options.sbrk) return system_sbrk(incr);
  return gcl_alloc_sbrk((intptr_t)incr);
}

void *gcl_zone_brk(const void *addr) {
  gcl_zone_install();
  if (!gcl_options.sbrk) return system_brk(addr);
  return gcl_alloc_brk((void *)addr) == 0 ? (void *)addr : (void *)-1;
}

/* libmalloc drives fork through the zone (force_lock...): atfork handlers
 * would take the locks a second time. The program's sbrk and brk are ours
 * (interposed below), but Darwin has no kernel break
 * (gcl_prim_program_break is 0), so the OS still chooses the region's place
 * unless GCLZONE_BASE says otherwise. In the model (Linux) sbrk stays
 * glibc's: the tests call the interposers directly. */
const gcl_front_t gcl_front = {.name = "darwin-zone", .owns_sbrk = !GCL_ZONE_MODEL_BUILD, .drives_fork = true};

#if !defined(GCL_ZONE_MODEL)

/* dyld's interposing tuples (§9): {replacement, replacee}; the replacee is a
 * bind to libSystem's symbol. Honoured for dylibs loaded at launch. */
static const struct {
  const void *replacement;
  const void *replacee;
} interposers[] __attribute__((used, section("__DATA,__interpose,interposing"))) = {
  {(const void *)gcl_zone_sbrk, (const void *)sbrk},
  {(const void *)gcl_zone_brk, (const void *)brk},
};
#endif

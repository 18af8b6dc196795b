/* process.c: process lifecycle: initialization once, fork, thread exit,
 * and the lock table.
 *
 * Initialization reads the options, reserves the region and resets every
 * module over it (or, asked for a heap image, has image.c restore one); only then is gcl_process_state set to ready, and only
 * then are the thread-exit key and the fork handlers registered, because
 * registering may call malloc (which must find the allocator ready, not
 * recurse into init). A later gclzone_init with another configuration may
 * replace the region while nothing has been allocated from it. The front
 * end's policy comes from its descriptor (gcl_front, internal.h).
 *
 * Fork: the prepare handler takes every lock of gcl_process_locks, in its
 * order, except a lock the forking thread itself holds: that happens when a
 * signal handler forks while interrupting the allocator, and waiting would
 * deadlock (jemalloc's failure mode). The child reinitializes the locks and
 * forgets the theaps of the threads that did not survive the fork (see
 * gcl_theap_fork_child).
 */
#include "internal.h"

#include <errno.h>

int gcl_process_state;
static gcl_lock_t init_lock = GCL_LOCK_INIT;
static bool hooks_registered;
static gclzone_config_t active; /* the configuration in force */

/* The one table of the allocator's locks, in the order they nest: a thread
 * holding one may take only those after it. */
gcl_lock_t *const gcl_process_locks[] = {&init_lock,          &gcl_theap_lock,    &gcl_theap_orphan_lock,
                                         &gcl_span_lock,      &gcl_hostheap_lock, &gcl_timeline_lock};
const size_t gcl_process_nlocks = sizeof gcl_process_locks / sizeof gcl_process_locks[0];
#define NLOCKS (sizeof gcl_process_locks / sizeof gcl_process_locks[0])

/* Which locks each prepare took, as a stack: a signal handler may fork in
 * the middle of another fork's handlers (the outer prepare, say), and its
 * own prepare/parent pair must not clobber the outer record. Only one
 * thread at a time gets past the first lock, so the stack is private to the
 * forking thread and its nested handlers. */
#define FORK_NEST 8
static unsigned fork_took[FORK_NEST];
static unsigned fork_depth;

void gcl_process_fork_prepare(void) {
  unsigned took = 0;
  for (size_t i = 0; i < NLOCKS; i++) {
    if (gcl_prim_lock_held(gcl_process_locks[i])) continue;
    gcl_prim_lock(gcl_process_locks[i]);
    took |= 1u << i;
  }
  /* Deeper than FORK_NEST nested forks: release nothing rather than the
   * wrong thing (the locks then stay with this thread, as in the child). */
  if (fork_depth < FORK_NEST) fork_took[fork_depth] = took;
  fork_depth++;
}

void gcl_process_fork_parent(void) {
  unsigned took = --fork_depth < FORK_NEST ? fork_took[fork_depth] : 0;
  for (size_t i = NLOCKS; i-- > 0;)
    if (took & (1u << i)) gcl_prim_unlock(gcl_process_locks[i]);
}

void gcl_process_fork_child(void) {
  gcl_prim_tid_reset();
  for (size_t i = 0; i < NLOCKS; i++) gcl_prim_lock_reinit(gcl_process_locks[i]);
  fork_depth = 0;
  gcl_theap_fork_child();
  gcl_timeline_fork_child();
}

/* Start from a heap image (image.c) instead of an empty region: its sizes
 * and base are the image's, so a cfg that names the image may not ask for
 * others (EINVAL); GCLZONE_IMAGE overrides the sizes and base of both. An
 * image GCLZONE_IMAGE names that cannot be used stops the process with the
 * reason: a runtime that asked for its image must not run without it. */
static int restore(const gclzone_config_t *cfg, const char *path) {
  bool asked = cfg && cfg->image;
  if (asked && (cfg->heap_size || cfg->arena_size || cfg->base)) return EINVAL;
  gcl_debug_drop_exact();
  const char *why = NULL;
  int err = gcl_image_restore(path, &why);
  if (err && !asked) gcl_log_fatal(GCL_FATAL_IMAGE, path, why);
  if (err) return err;
  active = (gclzone_config_t){.heap_size = gcl_region.host.limit - gcl_region.host.base,
                              .arena_size = gcl_region.arena.limit - gcl_region.arena.base,
                              .base = gcl_region.host.base};
  return 0;
}

/* Reserve with cfg's sizes, or the options', or the defaults. A part whose
 * size nobody chose may shrink: when the reservation does not fit (a small
 * RLIMIT_AS, valgrind's address space), halve those parts and retry. */
static int reserve(const gclzone_config_t *cfg) {
  const char *image = cfg && cfg->image ? cfg->image : gcl_options.image;
  if (image) return restore(cfg, image);
  bool heap_free = !(cfg && cfg->heap_size) && !(gcl_options_set & (1u << GCL_OPTION_HEAP_SIZE));
  bool arena_free = !(cfg && cfg->arena_size) && !(gcl_options_set & (1u << GCL_OPTION_ARENA_SIZE));
  size_t heap = cfg && cfg->heap_size ? cfg->heap_size : gcl_options.heap_size;
  size_t arena = cfg && cfg->arena_size ? cfg->arena_size : gcl_options.arena_size;
  uintptr_t base = cfg && cfg->base ? cfg->base : gcl_options.base;
  /* Nobody chose a base and the front end's sbrk is ours: start the host
   * heap where the kernel's brk heap would start, so that sbrk continues the
   * program's data segment as a real sbrk does (GCL and Maxima grow their
   * dumped heap by absolute break addresses; anything else refuses to run).
   * If that range is taken, the OS chooses, as it does when a base is 0. */
  bool chosen = (cfg && cfg->base) || (gcl_options_set & (1u << GCL_OPTION_BASE));
  if (!chosen && gcl_front.owns_sbrk && gcl_options.sbrk) base = GCLZONE_BASE_BRK;
  if (base == GCLZONE_BASE_BRK && !(base = gcl_prim_program_break()) && chosen) return EINVAL;
  /* Under a finite RLIMIT_AS (ulimit -v) the sizes nobody chose take half
   * of what the limit leaves beyond the address space already in use (the
   * other half stays the program's: threads, mappings, libraries), as
   * gcl_process_fit does when the limit is lowered later: a quarter of it
   * for the host heap and three for the arena when neither was chosen (a
   * program is more likely to malloc than to sbrk). The halving below
   * remains for address space that is short for other reasons (valgrind). */
  size_t limit = gcl_prim_as_limit(), vm = gcl_prim_vm_size();
  if (limit != SIZE_MAX && (heap_free || arena_free)) {
    size_t budget = limit > vm ? (limit - vm) / 2 : 0;
    size_t fixed = (heap_free ? 0 : heap) + (arena_free ? 0 : arena);
    size_t left = budget > fixed ? budget - fixed : 0;
    left -= left / 32; /* the guards and the metadata */
    size_t heap_share = arena_free ? left / 4 : left, arena_share = heap_free ? left - heap_share : left;
    if (heap_free && heap_share < heap) heap = heap_share;
    if (arena_free && arena_share < arena) arena = arena_share;
  }
  const size_t floor = (size_t)16 << 20;
  int err;
  for (;;) {
    err = gcl_region_reserve(heap, arena, base);
    if (err == ENOMEM && ((heap_free && heap > floor) || (arena_free && arena > floor))) {
      if (heap_free && heap > floor) heap /= 2;
      if (arena_free && arena > floor) arena /= 2;
    } else if (err && base && !chosen) {
      base = 0; /* the program break is taken: anywhere will do */
    } else {
      break;
    }
  }
  if (err) return err;
  active = (gclzone_config_t){.heap_size = heap, .arena_size = arena, .base = gcl_region.host.base};
  gcl_hostheap_reset();
  gcl_span_reset((uintptr_t)gcl_prim_random());
  gcl_theap_reset();
  return 0;
}

static bool config_matches(const gclzone_config_t *cfg) {
  if (!cfg) return true;
  if (cfg->image) return gcl_image_started_from(cfg->image) && !cfg->heap_size && !cfg->arena_size && !cfg->base;
  return (!cfg->heap_size || gcl_align_up(cfg->heap_size, GCL_SLOT_SIZE) == gcl_align_up(active.heap_size, GCL_SLOT_SIZE)) &&
         (!cfg->arena_size || gcl_align_up(cfg->arena_size, GCL_SLOT_SIZE) == gcl_align_up(active.arena_size, GCL_SLOT_SIZE)) &&
         (!cfg->base || cfg->base == active.base ||
          (cfg->base == GCLZONE_BASE_BRK && gcl_prim_program_break() == active.base));
}

static bool region_untouched(void) {
  return gcl_load_relaxed(&gcl_spans.top) == 0 && gcl_hostheap_break() == gcl_region.host.base &&
         gcl_theap_count() == 0 && gcl_region.released == 0; /* a shrunk one has holes others may fill */
}

int gcl_process_init(const gclzone_config_t *cfg) {
  int err = 0;
  gcl_prim_lock(&init_lock);
  if (gcl_process_ready()) {
    if (!config_matches(cfg)) {
      if (!region_untouched()) {
        err = EBUSY;
      } else {
        gcl_store_release(&gcl_process_state, 0);
        gcl_region_unreserve();
        err = reserve(cfg);
        if (err == 0) gcl_store_release(&gcl_process_state, 2);
      }
    }
  } else {
    gcl_options_load((const char *const *)gcl_prim_environ());
    gcl_debug_init();
    err = reserve(cfg);
    if (err == 0) {
      gcl_store_release(&gcl_process_state, 2);
      if (gcl_options.show_stats) {
        /* Some programs close stderr before they exit; keep our own copy. */
        int fd = gcl_prim_dup_fd(2);
        if (fd >= 0) gcl_log_fd = fd;
      }
      gcl_timeline_start(gcl_options.timeline);
    }
  }
  if (err == 0 && !hooks_registered) {
    hooks_registered = true;
    gcl_prim_thread_key(gcl_theap_thread_done);
    if (!gcl_front.drives_fork)
      gcl_prim_atfork(gcl_process_fork_prepare, gcl_process_fork_parent, gcl_process_fork_child);
  }
  gcl_prim_unlock(&init_lock);
  return err;
}

/* Initialize with the defaults if nobody has. Failing here leaves no way to
 * serve malloc, so it is fatal with the reason, rather than a stream of
 * NULLs the program would crash on. */
GCL_COLD static void ensure_slow(void) {
  int err = gcl_process_init(NULL);
  if (err) {
    char why[96];
    gcl_log_fmt(why, sizeof why, "%s (host heap %zu bytes, arena %zu bytes)",
            err == EEXIST ? "the address range is in use" : err == EINVAL ? "invalid sizes" : "no room",
            gcl_options.heap_size, gcl_options.arena_size);
    uintptr_t at = gcl_options.base == GCLZONE_BASE_BRK ? gcl_prim_program_break() : gcl_options.base;
    gcl_log_fatal(GCL_FATAL_RESERVE, (void *)at, why);
  }
}

void gcl_process_ensure(void) {
  if (gcl_unlikely(!gcl_process_ready())) ensure_slow();
}

/* The program lowers RLIMIT_AS to `limit` (the ELF front end sees setrlimit
 * and prlimit). The reservation counts against it, so make it cost what is
 * committed plus room to grow: of what the limit leaves beyond the rest of
 * the process's address space, half stays the program's (threads, mmap,
 * dlopen) and half is ours; our room is shared between the host heap and
 * the arena in proportion to what each has committed (at least 1 MiB each).
 * Nothing committed is given back, so a limit below that is met as far as
 * it can be. The region then cannot grow past the new limits, ever: that
 * is the trade, and why only a lowered limit triggers it. */
void gcl_process_fit(size_t limit) {
  if (!gcl_process_ready()) return;
  for (size_t i = 0; i < NLOCKS; i++) gcl_prim_lock(gcl_process_locks[i]);
  const gcl_region_t *r = &gcl_region;
  size_t vm = gcl_prim_vm_size(), ours = r->size - r->released;
  size_t others = vm > ours ? vm - ours : 0;
  size_t ours_max = limit > others ? (limit - others) / 2 : 0;
  if (vm && ours > ours_max) {
    size_t host = r->host.committed - r->host.base, arena = r->arena.committed - r->arena.base;
    size_t meta = (r->map.committed - r->map.base) + (r->spans.committed - r->spans.base) +
                  (r->theaps.committed - r->theaps.base);
    size_t used = host + arena + meta, room = ours_max > used ? ours_max - used : 0;
    const size_t mib = (size_t)1 << 20;
    size_t x = (host + mib) >> 20, t = (host + arena + 2 * mib) >> 20; /* in MiB: no overflow, no 128-bit division */
    size_t host_room = room / t * x + room % t * x / t;
    /* The arena's metadata grows with it: per slot, a map entry, a
     * descriptor and (at most) a thread heap struct. */
    const size_t per_slot = sizeof(gcl_span_t *) + sizeof(gcl_span_t) + sizeof(gcl_theap_t);
    size_t arena_room = (room - host_room) / (GCL_SLOT_SIZE + per_slot) * GCL_SLOT_SIZE;
    gcl_region_shrink(r->host.committed + host_room, r->arena.committed + arena_room);
  }
  for (size_t i = NLOCKS; i-- > 0;) gcl_prim_unlock(gcl_process_locks[i]);
}

/* GCLZONE_SHOW_STATS. Here rather than in introspect.c: every link pulls
 * this file in, so a static link cannot lose the report. */
__attribute__((destructor)) static void report_at_exit(void) {
  if (!gcl_process_ready()) return;
  gcl_timeline_finish();
  if (!gcl_options.show_stats) return;
  if (gcl_options.show_stats == GCL_OPTIONS_JSON) {
    gclzone_print_stats_json(gcl_log_fd);
    return;
  }
  gcl_introspect_report(gcl_log_fd);
  if (gcl_options.show_stats >= 2) gclzone_print_map(gcl_log_fd);
}

GCL_EXPORT int gclzone_init(const gclzone_config_t *cfg) {
  if (cfg && cfg->base != GCLZONE_BASE_BRK && (cfg->base & (gcl_prim_page_size() - 1))) {
    errno = EINVAL;
    return -1;
  }
  int err = gcl_process_init(cfg);
  if (err) {
    errno = err;
    return -1;
  }
  return 0;
}

/* internal.h: the types, constants and cross-file interface of libgclzone.
 *
 * Declarations are grouped by the file that defines them, in layer order:
 * a file calls only into the groups above its own (prim.h is the bottom).
 *
 *   front ends   override_elf.c, zone_darwin.c (front_none.c: no front end)
 *   api          alloc.c: the malloc family, the slow paths, the prefixed API
 *   lifecycle    process.c: init, fork, the lock table, the report at exit;
 *                image.c: heap images (saved, and started from at init)
 *   reading      introspect.c (stats, reports, the walk, the map),
 *                check.c (the validators), walk.c (the span iterator)
 *   allocator    theap.c (thread heaps) > slab.c (slabs) > span.c (spans)
 *   parts        hostheap.c (the host heap), region.c (the reservation)
 *   leaves       timeline.c, debug.c, options.c, log.c, prim_posix.c
 *
 * Calls only go down this list (tests/layers.py checks the call graph).
 * Data is read across it where a fact has one writer and many readers: the
 * front end's descriptor, the options, the process's ready flag.
 *
 * The hot paths (the size-class lookup, the malloc pop and the free push)
 * are inline here, so that both front ends compile them into their entry
 * points; everything else is out of line.
 *
 * Naming: gclzone_* is public (include/gclzone.h); gcl_<module>_* is
 * internal and hidden, <module> being the file that defines it
 * (gcl_span_take is span.c's); the only gcl_ names without a module are this
 * header's language helpers (attributes, atomics, gcl_align_up).
 *
 * Error convention (the one for the whole library): an internal function
 * that can fail returns 0 or an errno value, or NULL where it returns a
 * pointer, and leaves errno alone; errno is set in one place, by the public
 * entry points (alloc.c, process.c), as the header documents.
 */
#ifndef GCL_INTERNAL_H
#define GCL_INTERNAL_H

#include "gclzone.h"
#include "prim.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Nothing declared here leaves the library: with hidden declarations (not
 * only definitions) the compiler addresses our globals pc-relative, not
 * through the GOT. System headers stay above this line. */
#pragma GCC visibility push(hidden)

/* ---- Language helpers -------------------------------------------------------- */
#define GCL_EXPORT __attribute__((visibility("default")))
#define GCL_NOINLINE __attribute__((noinline))
#define GCL_COLD __attribute__((cold, noinline))
#define gcl_likely(x) __builtin_expect(!!(x), 1)
#define gcl_unlikely(x) __builtin_expect(!!(x), 0)

/* Fields shared between threads are plain C fields accessed only through
 * these, so that every racy access is visible and explicit. */
#define gcl_load_relaxed(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define gcl_store_relaxed(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define gcl_load_acquire(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define gcl_store_release(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)

/* x rounded up to a multiple of a, a power of two (x + a - 1 must not wrap). */
static inline uintptr_t gcl_align_up(uintptr_t x, uintptr_t a) {
  return (x + a - 1) & ~(a - 1);
}

/* off < *bound, where other threads may move *bound: a relaxed load. GCC
 * and clang never fold an atomic load into the instruction that uses it,
 * so on x86-64 we compare against the memory operand ourselves, one
 * instruction less on the fast path of free (an aligned 8-byte load is
 * atomic there, and an acquire load besides). */
static inline bool gcl_below_relaxed(uintptr_t off, const uintptr_t *bound) {
#if defined(__x86_64__)
  bool below;
  __asm__("cmpq %2, %1" : "=@ccb"(below) : "r"(off), "m"(*bound));
  return below;
#else
  return off < gcl_load_relaxed(bound);
#endif
}

/* ---- Build options ------------------------------------------------------------
 * GCL_SECURE (make SECURE=1): free-list links are stored encoded with a
 * secret and checked when followed (see gcl_slab_link_get).
 * GCL_CHECKS (make CHECKS=0 clears it): the free fast path's O(1) misuse
 * checks (never handed out, not a block start, double free). Without them a
 * free of a bad pointer into the caller's own slab goes undetected (the
 * slow paths still check everything). For measuring what the checks cost
 * (bench/), and for programs that trade that detection for speed.
 * GCL_DEBUG (make VARIANT=debug, and the unit suites in make check):
 * 1 checks gcl_assert, 2 also gcl_assert_internal (costlier invariants). */
#ifndef GCL_SECURE
#define GCL_SECURE 0
#endif
#ifndef GCL_CHECKS
#define GCL_CHECKS 1
#endif
#ifndef GCL_DEBUG
#define GCL_DEBUG 0
#endif
#define gcl_assert(x) ((GCL_DEBUG >= 1 && !(x)) ? gcl_log_assert_fail(#x, __FILE__, __LINE__) : (void)0)
#define gcl_assert_internal(x) ((GCL_DEBUG >= 2 && !(x)) ? gcl_log_assert_fail(#x, __FILE__, __LINE__) : (void)0)

/* ---- Geometry -------------------------------------------------------------------
 * The arena is cut into 64 KiB slots. Every span (a slab of one size class,
 * a large block, or a free run) is a whole number of slots, so the span of
 * any arena address is one table lookup: gcl_spans.map[offset >> SLOT_SHIFT]. */
#define GCL_SLOT_SHIFT 16
#define GCL_SLOT_SIZE ((size_t)1 << GCL_SLOT_SHIFT)
#define GCL_ALIGNMENT 16          /* minimum alignment of every block */
#define GCL_DIRECT_MAX 8192       /* sizes served through theap->direct[] */
#define GCL_DIRECT_N (GCL_DIRECT_MAX / 16 + 1)
#define GCL_MEDIUM_MAX ((size_t)128 << 10) /* largest size class; above it, large blocks */
#define GCL_NCLASSES 72           /* classes 1..71 (the size classes: slab.c's part); 0 is unused */
#define GCL_SLAB_MIN_BLOCKS 32     /* a slab aims at this many blocks... */
#define GCL_SLAB_MAX_SLOTS 1      /* ...in at most 64 KiB (slab.c: gcl_slab_slots) */
#define GCL_SHARE_MIN 4096        /* from this block size a class may take a larger class's free block... */
#define GCL_SHARE_FACTOR 2        /* ...at most this many times its own size (theap.c: larger_free) */
#define GCL_ARENA_ALIGN ((size_t)4 << 20)
#define GCL_MAX_THEAPS 65536      /* thread heaps alive at once */
#define GCL_IDLE_AGE 2            /* slabs a theap takes before it gives back an idle one (theap.c: idle_give) */
#define GCL_WARM_ORPHANS 16       /* empty slabs of exited threads kept for new ones (theap.c) */
#define GCL_HELD_N 4              /* freed large spans a theap holds at most (theap.c: held spans)... */
#define GCL_HELD_SLOTS 16         /* ...and their slots in all: 1 MiB */
#define GCL_DEFAULT_PART ((size_t)64 << 30) /* host heap and arena: 64 GiB each */
#define GCL_DEFAULT_GUARD ((size_t)1 << 30)
#define GCL_ADDRESS_END ((uintptr_t)1 << 48) /* the region lies below (slab.c: the remote word) */

/* ---- Types ------------------------------------------------------------------------ */

/* A free block. Word 0 links the free list; word 1 holds the free tag
 * (gcl_span_free_tag) while the block is free, and is cleared when it is
 * handed out: a free that finds the tag is a double free. */
typedef struct gcl_block {
  struct gcl_block *next;
  uintptr_t tag;
} gcl_block_t;

enum gcl_span_kind {
  GCL_SPAN_FREE = 0,
  GCL_SPAN_SLAB = 1,
  GCL_SPAN_LARGE = 2,
  GCL_SPAN_ZEROS = 3, /* hardened mode: inaccessible, holds malloc(0) blocks (span.c) */
  GCL_SPAN_HELD = 4,  /* a freed large block's span, held by a theap for its next one (theap.c) */
};

enum gcl_span_flag {
  GCL_SPAN_ZERO = 1,      /* the span's memory reads as zero */
  GCL_SPAN_DIRTY = 2,     /* a free span whose pages are still resident */
  GCL_SPAN_WAS_LARGE = 4, /* a free span that begins where a large block was */
};

struct gcl_theap;

/* A span: a run of slots, described out of line (span.c owns the
 * descriptors). Which file writes which fields:
 *  - span.c: start, slots, kind, flags, the free-bin and lru links,
 *    freed_ms, and usable_end of a large block;
 *  - slab.c: the block geometry (sclass, block_size, blockmagic, bump, bump_key,
 *    usable_end of a slab) and the two free lists: `free`, the owner's, to
 *    allocate from and to free onto, and `remote` for frees from other
 *    threads, with used;
 *  - theap.c: the slab's owner (theap, fast_owner, full, orphan, restored)
 *    and its queue links (next, prev).
 * Three cache lines, by who writes them: the first is read by every free
 * (and by other threads' frees) and written only when the span changes
 * hands or its slab grows; the second is the owner's, written by each of
 * its mallocs and frees; the third is written by other threads' frees. A
 * remote free then reads a line that stays clean in every core's cache, and
 * writes one that the owner reads only when it gathers. */
typedef struct gcl_span {
  /* read-mostly: the fast paths' and the remote frees' checks */
  uintptr_t fast_owner;   /* relaxed: its theap's thread (gcl_prim_thread_self)
                             while in the theap's queue, else 0 */
  uintptr_t start;
  uint64_t blockmagic;    /* slab: gcl_span_block_magic(block_size) */
  uint64_t bump_key;      /* relaxed: slab: gcl_span_bump_key(block_size, blocks below bump) */
  uintptr_t bump;         /* relaxed: slab: first block never handed out */
  uintptr_t usable_end;   /* relaxed: slab: after its last whole block;
                             large: after the pages asked for */
  struct gcl_theap *theap; /* atomic: the owning thread heap; NULL if orphaned */
  uint32_t block_size;
  uint8_t kind;           /* enum gcl_span_kind */
  uint8_t sclass;         /* slab: its size class */
  uint8_t full;           /* atomic: the slab is on its theap's full list */
  uint8_t flags;          /* enum gcl_span_flag */
  /* the owner's */
  gcl_block_t *free __attribute__((aligned(64))); /* the owner only */
  uint32_t used;          /* slab: blocks out; the owner's alone (stats read it racily) */
  uint32_t slots;
  struct gcl_span *next, *prev;         /* theap queue, full or orphan list, free bin */
  struct gcl_span *lru_next, *lru_prev; /* dirty free spans, oldest first */
  uint64_t freed_ms;      /* when a dirty span was released */
  uint8_t orphan;         /* on the orphan list (under gcl_theap_orphan_lock) */
  uint8_t restored;       /* an orphan from a heap image whose lists are not walked yet
                             (theap.c, under gcl_theap_orphan_lock) */
  uint8_t warm;           /* an empty orphan kept for the next thread (theap.c, under the orphan lock) */
  uint32_t idle_at;       /* slab: its theap's `taken` when it was last left empty (theap.c) */
  /* other threads' */
  uintptr_t remote __attribute__((aligned(64))); /* atomic: frees from other threads, a lock-free
                                                    stack: its head and its count (slab.c) */
  uint32_t orphan_used;   /* relaxed: `used` as the orphan lock's holder last left it (theap.c) */
  uint64_t zero_live;     /* a zero-size span (hardened mode): its live positions */
} gcl_span_t;
_Static_assert(sizeof(gcl_span_t) == 192, "a span descriptor is three cache lines");

typedef struct gcl_spanq {
  gcl_span_t *first, *last;
} gcl_spanq_t;

/* A thread heap ("theap"): a thread's slabs. cur[c] is the current slab of
 * class c, and direct[] maps (size + 15) / 16 to cur[] of the size's class
 * for sizes up to GCL_DIRECT_MAX (8 KiB: 4 KiB of table), so malloc up to
 * there is one lookup (above, malloc computes the class first). Both point
 * at an empty span where there is no current slab, or in a debug mode. Not to be confused with the host
 * heap (hostheap.c), the runtime's sbrk. */
typedef struct gcl_theap {
  gcl_span_t *direct[GCL_DIRECT_N];
  gcl_span_t *cur[GCL_NCLASSES];
  gcl_spanq_t queue[GCL_NCLASSES]; /* slabs that may have free blocks */
  gcl_spanq_t full;                /* slabs with none (fast_owner 0) */
  uint64_t idle[(GCL_NCLASSES + 63) / 64]; /* small classes whose current slab was left empty (a hint) */
  uint32_t taken;                  /* slabs taken from the arena: idle_give's clock */
  uint64_t classes[(GCL_NCLASSES + 63) / 64]; /* classes that had a slab here (theap.c: theap_clean) */
  uint32_t remote_full_hint;       /* atomic: another thread freed into a full slab */
  uint32_t live;                   /* the theap belongs to a running thread */
  uintptr_t thread;                /* that thread's gcl_prim_thread_self() */
  gcl_span_t *held[GCL_HELD_N];    /* freed large spans kept for reuse, oldest first (theap.c) */
  uint32_t held_n[GCL_HELD_N];     /* their slots (the search reads no descriptor) */
  uint32_t nheld, held_slots;      /* how many, and their slots in all */
  struct gcl_theap *next, *prev;   /* all live theaps (gcl_theaps.live) */
  struct gcl_theap *pool_next;     /* free theap structs */
} gcl_theap_t;

/* One part of the region: [base, limit), committed up to `committed`. */
typedef struct gcl_part {
  uintptr_t base, limit, committed;
} gcl_part_t;

/* How a front end handles pointers outside the region (NULL: fatal). */
typedef struct gcl_foreign {
  void (*free)(void *p);
  void *(*realloc)(void *p, size_t size);
  size_t (*usable_size)(void *p);
} gcl_foreign_t;

/* Fatal messages: the complete list (log.c holds the texts). */
enum gcl_fatal {
  GCL_FATAL_NONE = -1, /* not a message: "report misuse by returning 0" */
  GCL_FATAL_DOUBLE_FREE,
  GCL_FATAL_INVALID_FREE,
  GCL_FATAL_INVALID_REALLOC,
  GCL_FATAL_INVALID_SIZE,
  GCL_FATAL_RESERVE,
  GCL_FATAL_OS,
  GCL_FATAL_CORRUPT,
  GCL_FATAL_ASSERT,
  GCL_FATAL_IMAGE, /* %p is the image's path (a string): see image.c */
  GCL_FATAL_OVERFLOW,     /* the hardened mode's (debug.c, span.c) */
  GCL_FATAL_UNDERFLOW,
  GCL_FATAL_WRITE_AFTER_FREE,
  GCL_FATAL_GUARD,
  GCL_FATAL_FREED,
  GCL_FATAL_ZERO_SIZE,
  GCL_FATAL_SIZED_FREE,
};

/* ---- front ends (override_elf.c, zone_darwin.c, front_none.c) -------------------------
 * The front end's policy, read by the core at init. Each library links
 * exactly one definition (libgclzone_core.a: front_none.c's), resolved at
 * link time rather than registered by a constructor, because a malloc can
 * reach the core before any constructor of ours has run. */
typedef struct gcl_front {
  const char *name;
  bool owns_sbrk;   /* the program's sbrk and brk are the host heap's: by
                       default it starts at the program break (process.c) */
  bool drives_fork; /* the front end or its platform runs the fork
                       handlers (ELF: its own pthread_atfork handlers, in
                       glibc's lock order; Darwin: libmalloc's force_lock...),
                       so the core registers none */
} gcl_front_t;
extern const gcl_front_t gcl_front;

/* ---- log.c ------------------------------------------------------------------------------ */
extern int gcl_log_fd; /* where reports go: a duplicate of stderr taken at init */
size_t gcl_log_fmt(char *buf, size_t cap, const char *fmt, ...);
void gcl_log_printf(int fd, const char *fmt, ...);
_Noreturn void gcl_log_fatal(enum gcl_fatal what, const void *p, const char *detail);
_Noreturn void gcl_log_assert_fail(const char *expr, const char *file, int line);

/* ---- options.c ----------------------------------------------------------------------------
 * Runtime options, read once at init from GCLZONE_* variables. */
typedef struct gcl_options {
  size_t heap_size;      /* GCLZONE_HEAP_SIZE */
  size_t arena_size;     /* GCLZONE_ARENA_SIZE */
  uintptr_t base;        /* GCLZONE_BASE */
  long sbrk;             /* GCLZONE_SBRK */
  long show_stats;       /* GCLZONE_SHOW_STATS: 0, 1, 2, or GCL_OPTIONS_JSON */
  long purge_delay_ms;   /* GCLZONE_PURGE_DELAY */
  size_t dirty_max;      /* GCLZONE_DIRTY_MAX */
  long scribble;         /* GCLZONE_SCRIBBLE */
  long check;            /* GCLZONE_CHECK */
  const char *timeline;  /* GCLZONE_TIMELINE: a path in the environment block */
  const char *image;     /* GCLZONE_IMAGE: in the environment block, or NULL */
  long harden;           /* GCLZONE_HARDEN */
  long dirty_share;      /* GCLZONE_DIRTY_SHARE */
} gcl_options_t;
typedef struct gcl_option {
  const char *name;   /* without the GCLZONE_ prefix */
  char kind;          /* 's' size, 'a' address, 'n' number, 'r' report (a number or "json"),
                         'p' a path (a string, kept where the environment holds it) */
  size_t offset;      /* field in gcl_options_t */
  uint64_t dflt;
  const char *help;
} gcl_option_t;
#define GCL_OPTIONS_JSON 16 /* GCLZONE_SHOW_STATS=json */
extern gcl_options_t gcl_options;
extern uint32_t gcl_options_set; /* bit i: gcl_options_table[i] came from the environment */
#define GCL_OPTION_HEAP_SIZE 0  /* indices in gcl_options_table */
#define GCL_OPTION_ARENA_SIZE 1
#define GCL_OPTION_BASE 2
#define GCL_OPTION_PURGE_DELAY 5
#define GCL_OPTION_DIRTY_MAX 6
#define GCL_OPTION_DIRTY_SHARE 12
extern const gcl_option_t gcl_options_table[];
extern const size_t gcl_options_count;
void gcl_options_load(const char *const *env);
int gcl_options_parse(char kind, const char *s, uint64_t *out);
int gcl_options_tune(size_t i, uint64_t v);

/* ---- debug.c ------------------------------------------------------------------------------
 * The debug modes (scribble, valgrind, hardened); check.c adds GCLZONE_CHECK.
 * In the exact modes (valgrind, hardened) a block knows the size it was
 * asked for: the last word of its capacity (its trailer) holds that size,
 * encoded, and the hardened mode puts a canary between the two. */
enum gcl_debug_mode { GCL_DEBUG_SCRIBBLE = 1, GCL_DEBUG_CHECK = 2, GCL_DEBUG_VALGRIND = 4, GCL_DEBUG_HARDEN = 8 };
#define GCL_DEBUG_EXACT (GCL_DEBUG_VALGRIND | GCL_DEBUG_HARDEN)
extern unsigned gcl_debug_modes; /* set at init; nonzero keeps every call off the fast paths */
/* The hardened mode exists only in the SECURE=1 build: elsewhere this is 0
 * and its code compiles away. */
#define gcl_debug_hardened() (GCL_SECURE && gcl_unlikely(gcl_debug_modes & GCL_DEBUG_HARDEN))
void gcl_debug_init(void);
void gcl_debug_drop_exact(void);
void gcl_debug_alloc(void *p, size_t size, size_t cap, bool zeroed);
void gcl_debug_free(void *p, size_t cap);
void gcl_debug_resize(void *p, size_t old, size_t size, size_t cap);
size_t gcl_debug_room(size_t size);
size_t gcl_debug_size(const void *p, size_t cap);
void gcl_debug_check_before(const void *p, size_t bs);
size_t gcl_debug_written(size_t size, size_t bs);
void gcl_debug_free_mark(void *b, size_t written, size_t bs);
void gcl_debug_free_link(void *b, size_t bs);
bool gcl_debug_free_link_ok(const void *b, size_t bs);
bool gcl_debug_free_intact(const void *b, size_t bs);
void gcl_debug_fresh(void *p, size_t n);
void gcl_debug_open(void *b, size_t n);
void gcl_debug_close(void *b, size_t n);
/* Bracket the allocator's own accesses to a free block (for valgrind). */
#define GCL_FREE_OPEN(b) (gcl_unlikely(gcl_debug_modes & GCL_DEBUG_VALGRIND) ? gcl_debug_open((b), sizeof(gcl_block_t)) : (void)0)
#define GCL_FREE_CLOSE(b) (gcl_unlikely(gcl_debug_modes & GCL_DEBUG_VALGRIND) ? gcl_debug_close((b), sizeof(gcl_block_t)) : (void)0)

/* ---- timeline.c ------------------------------------------------------------------------------ */
extern int gcl_timeline_on; /* relaxed: a file is being recorded (callers test it first) */
extern gcl_lock_t gcl_timeline_lock;
void gcl_timeline_start(const char *path);
void gcl_timeline_host(size_t bytes);
void gcl_timeline_arena(size_t used, size_t committed, size_t dirty);
void gcl_timeline_finish(void);
void gcl_timeline_fork_child(void);

/* ---- region.c ------------------------------------------------------------------------------ */
typedef struct gcl_region {
  uintptr_t base, size;   /* the whole reservation (holes included, once shrunk) */
  size_t released;        /* bytes of it given back by gcl_region_shrink */
  size_t tail_released;   /* of which at its end */
  gcl_part_t host;        /* the host heap (hostheap.c moves `committed`) */
  gcl_part_t arena;       /* the malloc arena (span.c) */
  gcl_part_t map;         /* the slot map */
  gcl_part_t spans;       /* span descriptors */
  gcl_part_t theaps;      /* thread heap structs */
} gcl_region_t;
extern gcl_region_t gcl_region;
int gcl_region_reserve(size_t heap_size, size_t arena_size, uintptr_t base);
void gcl_region_unreserve(void);
int gcl_region_grow(gcl_part_t *part, uintptr_t upto, size_t step);
size_t gcl_region_shrink(uintptr_t host_limit, uintptr_t arena_limit);
void gcl_region_plan(gcl_region_t *r, uintptr_t base, size_t heap_size, size_t arena_size);
static inline bool gcl_region_contains(const void *p) {
  return (uintptr_t)p - gcl_region.base < gcl_region.size;
}

/* ---- hostheap.c ------------------------------------------------------------------------------ */
extern gcl_lock_t gcl_hostheap_lock;
void gcl_hostheap_reset(void);
int gcl_hostheap_sbrk(intptr_t increment, void **old);
int gcl_hostheap_brk(void *addr);
uintptr_t gcl_hostheap_break(void);
size_t gcl_hostheap_peak(void);

/* ---- span.c ------------------------------------------------------------------------------------ */
#define GCL_SPAN_NBINS 264
#define GCL_SPAN_NWORDS ((GCL_SPAN_NBINS + 63) / 64)
#define GCL_SPAN_DIRTY_SET 0
#define GCL_SPAN_CLEAN_SET 1
typedef struct gcl_freeset {
  gcl_span_t *bin[GCL_SPAN_NBINS];
  uint64_t bits[GCL_SPAN_NWORDS];
  size_t bytes;
} gcl_freeset_t;
typedef struct gcl_spans {
  /* What the fast paths read on every call, on one line. */
  uintptr_t base;     /* the arena's base (gcl_region.arena.base, kept here for the line) */
  uintptr_t top;      /* atomic: bytes of the arena carved into spans: the arena's break */
  gcl_span_t **map;   /* slot -> span, valid below top */
  uintptr_t link_key; /* GCL_SECURE: the free-list link key (gcl_slab_link_get) */
  /* The rest, under gcl_span_lock. */
  size_t slots __attribute__((aligned(64))); /* slots carved: top >> GCL_SLOT_SHIFT */
  gcl_span_t *desc_free;  /* unused descriptors */
  uintptr_t desc_bump;    /* next never-used descriptor */
  gcl_freeset_t free[2];  /* [GCL_SPAN_DIRTY_SET], [GCL_SPAN_CLEAN_SET] */
  gcl_span_t *lru_first, *lru_last; /* dirty spans, oldest first */
  size_t used, used_peak, committed_peak, large_bytes, large_blocks;
  size_t used_before;     /* `used` before its last change */
  size_t recent_peak[2];  /* the peaks of `used` in this purge window and the last (span.c: dirty_cap) */
  uint64_t recent_since;  /* when this window began (ms) */
} gcl_spans_t;
#define GCL_SPANS_LINE offsetof(gcl_spans_t, slots) /* the part a walker reads */
extern gcl_spans_t gcl_spans;
extern gcl_lock_t gcl_span_lock;
void gcl_span_reset(uintptr_t link_key);
gcl_span_t *gcl_span_take(size_t slots, size_t align, uint8_t kind);
void gcl_span_give(gcl_span_t *s);
gcl_span_t *gcl_span_of(const void *p);
gcl_span_t *gcl_span_live(const void *p, enum gcl_fatal *why);
size_t gcl_span_usable(const gcl_span_t *s);
gcl_span_t *gcl_span_large_alloc(size_t size, size_t align);
gcl_span_t *gcl_span_large_moved(size_t size);
bool gcl_span_large_move(gcl_span_t *s, gcl_span_t *t);
bool gcl_span_large_same_pages(const gcl_span_t *s, size_t size);
bool gcl_span_large_resize(gcl_span_t *s, size_t size);
size_t gcl_span_large_slots(size_t size);
void gcl_span_hold(gcl_span_t *s);
void gcl_span_unhold(gcl_span_t *s, size_t size);
size_t gcl_span_large_good_size(size_t size);
size_t gcl_span_purge_all(void);
unsigned gcl_span_bin_of(size_t slots);
#define GCL_SPAN_ZERO_STRIDE (GCL_SLOT_SIZE / 64) /* a zero span's 64 positions (hardened) */
void *gcl_span_zero_alloc(void);
void gcl_span_zero_free(gcl_span_t *s, void *p);
enum gcl_fatal gcl_span_fault(const void *addr, const void **name);
typedef struct gcl_span_stats {
  size_t spans_bytes, spans_peak, committed, committed_peak, dirty, large_bytes, large_blocks;
} gcl_span_stats_t;
void gcl_span_stats(gcl_span_stats_t *out);
int gcl_span_restore(size_t slots, uintptr_t desc_end, uintptr_t link_key);
void gcl_span_restore_dirty(uintptr_t addr, size_t len);

/* The free tag of a block is the sum of its slab descriptor's address and
 * its own: a word no program holds (the sum of two user addresses is above
 * the user half of the address space, so no pointer has this value, and
 * descriptors live in our metadata, never handed out), different for every
 * block, and made of two values the free fast path has in registers
 * already, so checking and setting it costs one lea and no load. Because it
 * names the block, a program that copies a freed block's bytes into another
 * block (glibc's tst-tcfree3) copies a tag that is not the other block's.
 * Under GCL_SECURE it is xor'ed with the link key too, so that freed memory
 * does not show where our metadata lies. The one definition: a reader of
 * another process passes its key. */
static inline uintptr_t gcl_span_free_tag_keyed(uintptr_t span, uintptr_t block, uintptr_t key) {
  return (span + block) ^ (GCL_SECURE ? key : 0);
}
static inline uintptr_t gcl_span_free_tag(const gcl_span_t *s, const void *block) {
  return gcl_span_free_tag_keyed((uintptr_t)s, (uintptr_t)block, gcl_spans.link_key);
}

/* Is p the start of a block of slab s below its bump pointer, i.e. a block
 * handed out or free? One multiply answers both (Lemire's divisibility
 * test with the quotient's range folded in). For block size bs, take
 * M = floor(2^64 / bs) + 1, so that e = M * bs - 2^64 lies in (0, bs]. An
 * offset rel = q * bs + r (r < bs) gives rel * M mod 2^64 = q * e + r * M:
 * that is q * e for a block start, and at least M otherwise (for
 * rel < 2^32 neither sum wraps, as M > 2^47 > (q + 1) * e). So with
 * bump_key = (blocks below bump) * e, which is below M,
 * rel * M < bump_key holds exactly for the blocks below bump. The owner
 * passes s->bump_key (it alone writes it); other threads load it relaxed. */
static inline uint64_t gcl_span_block_magic(size_t bs) {
  return UINT64_MAX / bs + 1 + !(bs & (bs - 1)); /* a power of two divides 2^64 */
}
static inline uint64_t gcl_span_bump_key(size_t bs, size_t blocks) {
  return (uint64_t)blocks * (gcl_span_block_magic(bs) * bs);
}
static inline bool gcl_span_is_block(const gcl_span_t *s, uintptr_t p, uint64_t bump_key) {
  uint64_t rel = (uint32_t)(p - s->start);
  return rel * s->blockmagic < bump_key;
}

/* ---- slab.c ------------------------------------------------------------------------------------ */
/* A slab's remote word: the head of its remote list in the low 48 bits (the
 * region lies below GCL_ADDRESS_END: region.c), how many blocks the list holds in the
 * top 16 (a slab has at most 4096 blocks), so that one compare-and-swap
 * pushes and counts, and the owner takes both with one exchange. */
#define GCL_REMOTE_SHIFT 48
_Static_assert(GCL_ADDRESS_END == (uintptr_t)1 << GCL_REMOTE_SHIFT, "block addresses fit the remote word");
_Static_assert((GCL_SLOT_SIZE * GCL_SLAB_MAX_SLOTS) / GCL_ALIGNMENT < (1u << (64 - GCL_REMOTE_SHIFT)),
               "a slab's block count fits the remote word");
static inline gcl_block_t *gcl_slab_remote_head(uintptr_t w) {
  return (gcl_block_t *)(w & (((uintptr_t)1 << GCL_REMOTE_SHIFT) - 1));
}
static inline uint32_t gcl_slab_remote_count(uintptr_t w) {
  return (uint32_t)(w >> GCL_REMOTE_SHIFT);
}
static inline uintptr_t gcl_slab_remote_word(const gcl_block_t *head, uint32_t count) {
  return (uintptr_t)head | (uintptr_t)count << GCL_REMOTE_SHIFT;
}
size_t gcl_slab_slots(unsigned c);
void gcl_slab_init(gcl_span_t *s, unsigned c);
void gcl_slab_extend(gcl_span_t *s);
void gcl_slab_gather(gcl_span_t *s);
void gcl_slab_push_local(gcl_span_t *s, gcl_block_t *b);
uint32_t gcl_slab_push_remote(gcl_span_t *s, gcl_block_t *b);
bool gcl_slab_listed(const gcl_span_t *s, const gcl_block_t *b);
_Noreturn void gcl_slab_bad_link(const void *holder);
_Noreturn void gcl_slab_written_after_free(const void *block);
void gcl_slab_check_reuse(const gcl_span_t *s, const gcl_block_t *b, const gcl_block_t *next);
const char *gcl_slab_check_lists(const gcl_span_t *s, bool remote, uintptr_t *where);
void gcl_slab_check_free(const gcl_span_t *s, const gcl_block_t *b);
void gcl_slab_check_after(const gcl_span_t *s, const void *p);

/* Size classes. Classes 1..8 are 16..128 in steps of 16. Up to 4 KiB each
 * power of two is split in four (160, 192, 224, 256, 320, ...): small
 * blocks are numerous, and more classes would leave more slabs partly
 * used. From 4 KiB on it is split in eight (4608, 5120, ...): a big block's
 * waste is big in bytes (SQLite's 4.3 KB page-cache entries lost a fifth in
 * a 5120-byte block). Just above 1, 2 and 4 KiB there is one more class, 16
 * bytes over the power of two (1040, 2064, 4112): a power-of-two buffer
 * with a header is a common request (SQLite's allocator adds 8 bytes: 52 MB
 * of 1032-byte blocks live at the peak of bench's sqlite3), and lost a
 * fifth in the next class; these classes lie below GCL_DIRECT_MAX, so the
 * fast path's direct[] serves them at no cost. Every block size is a
 * multiple of 16; the waste is under 25%, and under 12.5% above 4 KiB. */
#define GCL_HEAD_SHIFT 10 /* 1 KiB: the first power of two with a class 16 bytes over it */
#define GCL_FINE_SHIFT 12 /* 4 KiB: eight classes per power of two from here */
#define GCL_CLASS_1K 20   /* the class of 1 KiB; then five per power of two (16 over, four steps) */
#define GCL_CLASS_4K 30   /* the class of 4 KiB; then nine (16 over, eight steps) */
#define GCL_CLASS_8K 39   /* the class of 8 KiB: above it, eight classes per power of two and no more */

_Static_assert(GCL_DIRECT_MAX == (size_t)2 << GCL_FINE_SHIFT, "direct[] ends where the 16-over classes do");

/* The class of a size above 8 KiB (also the medium fast path's: one formula). */
static inline unsigned gcl_slab_class_of_big(size_t size) {
  size_t m = size - 1;
  unsigned b = 63u - (unsigned)__builtin_clzll(m);
  return GCL_CLASS_8K + (b - GCL_FINE_SHIFT - 1u) * 8u + (unsigned)((m >> (b - 3u)) & 7u) + 1u;
}

static inline unsigned gcl_slab_class_of(size_t size) {
  if (size <= 128) return size == 0 ? 1 : (unsigned)((size + 15) >> 4);
  if (size > GCL_DIRECT_MAX) return gcl_slab_class_of_big(size);
  size_t m = size - 1;
  unsigned b = 63u - (unsigned)__builtin_clzll(m);
  if (b < GCL_HEAD_SHIFT) return 8u + (b - 7u) * 4u + (unsigned)((m >> (b - 2u)) & 3u) + 1u;
  unsigned head = b == GCL_FINE_SHIFT ? GCL_CLASS_4K + 1u : GCL_CLASS_1K + 1u + (b - GCL_HEAD_SHIFT) * 5u;
  if (m - ((size_t)1 << b) < 16) return head; /* at most 16 bytes over 2^b */
  if (b == GCL_FINE_SHIFT) return head + (unsigned)((m >> (b - 3u)) & 7u) + 1u;
  return head + (unsigned)((m >> (b - 2u)) & 3u) + 1u;
}

static inline size_t gcl_slab_class_size(unsigned c) {
  if (c <= 8) return (size_t)c << 4;
  if (c <= GCL_CLASS_1K) {
    unsigned k = c - 9, b = 7 + k / 4;
    return (size_t)(5 + k % 4) << (b - 2);
  }
  if (c <= GCL_CLASS_4K) {
    unsigned k = (c - GCL_CLASS_1K - 1) % 5, b = GCL_HEAD_SHIFT + (c - GCL_CLASS_1K - 1) / 5;
    return k ? (size_t)(4 + k) << (b - 2) : ((size_t)1 << b) + 16;
  }
  if (c <= GCL_CLASS_8K) {
    unsigned k = c - GCL_CLASS_4K - 1;
    return k ? (size_t)(8 + k) << (GCL_FINE_SHIFT - 3) : ((size_t)1 << GCL_FINE_SHIFT) + 16;
  }
  unsigned k = (c - GCL_CLASS_8K - 1) % 8, b = GCL_FINE_SHIFT + 1 + (c - GCL_CLASS_8K - 1) / 8;
  return (size_t)(9 + k) << (b - 3);
}

/* Free-list links. Under GCL_SECURE a link is stored xor'ed with a secret
 * key and with the address of the block holding it (glibc's safe-linking,
 * keyed), and a link is followed only if it points into its own slab, so a
 * write after free cannot steer malloc to an address of its choosing. */
static inline gcl_block_t *gcl_slab_link_get(const gcl_block_t *b) {
  uintptr_t v = (uintptr_t)b->next;
  return (gcl_block_t *)(GCL_SECURE ? v ^ gcl_spans.link_key ^ (uintptr_t)b : v);
}
static inline void gcl_slab_link_set(gcl_block_t *b, gcl_block_t *next) {
  uintptr_t v = (uintptr_t)next;
  b->next = (gcl_block_t *)(GCL_SECURE ? v ^ gcl_spans.link_key ^ (uintptr_t)b : v);
}
static inline bool gcl_slab_link_ok(const gcl_span_t *s, const gcl_block_t *next) {
  return !GCL_SECURE || !next || (uintptr_t)next - s->start < s->bump - s->start;
}

/* The first block of `free` (not NULL), handed out (owner only). Under
 * GCLZONE_CHECK the block is checked as it is reused (its tag and its link
 * as it was freed: a write after free is caught even when the block goes
 * straight back out, before any validator pass). */
static inline gcl_block_t *gcl_slab_pop(gcl_span_t *s) {
  gcl_block_t *b = s->free;
  gcl_assert(b != NULL);
  GCL_FREE_OPEN(b);
  if (gcl_debug_hardened()) gcl_slab_check_free(s, b); /* compiled out unless SECURE=1 */
  gcl_block_t *next = gcl_slab_link_get(b);
  if (gcl_unlikely(!gcl_slab_link_ok(s, next))) gcl_slab_bad_link(b);
  if (gcl_unlikely(gcl_debug_modes & GCL_DEBUG_CHECK)) gcl_slab_check_reuse(s, b, next);
  s->free = next;
  b->tag = 0;
  s->used++;
  return b;
}

/* A slab's fields are filled in by its thread after span.c hands the span
 * out, and published by the release store of s->theap (theap.c); orphans
 * have theap NULL but are complete. Anything else with theap NULL is still
 * being built, or was caught so by a fork. */
static inline bool gcl_slab_published(const gcl_span_t *s) {
  return __atomic_load_n(&s->theap, __ATOMIC_ACQUIRE) != NULL || s->orphan;
}

/* ---- theap.c ----------------------------------------------------------------------------------- */
typedef struct gcl_theaps {
  gcl_theap_t *live;      /* live theaps, under gcl_theap_lock */
  gcl_theap_t *pool;      /* structs of exited threads */
  uintptr_t bump;         /* next never-used struct */
  size_t count;
  gcl_spanq_t orphans[GCL_NCLASSES]; /* per class, under gcl_theap_orphan_lock */
  size_t norphans[GCL_NCLASSES];      /* relaxed: hints read without the lock */
  size_t warm;                        /* orphans kept empty (s->warm), under the orphan lock */
} gcl_theaps_t;
extern gcl_theaps_t gcl_theaps;
extern gcl_theap_t gcl_theap_empty; /* the theap of a thread that has none yet */
extern gcl_lock_t gcl_theap_lock;
extern gcl_lock_t gcl_theap_orphan_lock;
bool gcl_theap_reset(void);
gcl_block_t *gcl_theap_alloc(gcl_theap_t *h, unsigned c, size_t align);
void gcl_theap_free(gcl_span_t *s, gcl_block_t *b);
void gcl_theap_span_empty(gcl_span_t *s);
bool gcl_theap_tag_is_free(gcl_span_t *s, const gcl_block_t *b);
void gcl_theap_thread_done(void *theap);
void gcl_theap_fork_child(void);
void gcl_theap_shed(void);
size_t gcl_theap_count(void);
bool gcl_theap_restore(gcl_span_t *s);
gcl_span_t *gcl_theap_large_take(size_t size, size_t align);
bool gcl_theap_large_hold(gcl_span_t *s);
static inline gcl_theap_t *gcl_theap_self(void) {
  return gcl_prim_tls_get();
}

/* ---- process.c ------------------------------------------------------------------------------------ */
extern int gcl_process_state; /* atomic: 0 not yet, 1 initializing, 2 ready */
int gcl_process_init(const gclzone_config_t *cfg);
void gcl_process_ensure(void);
void gcl_process_fit(size_t limit);
static inline bool gcl_process_ready(void) {
  return gcl_load_acquire(&gcl_process_state) == 2;
}
/* Every lock of the allocator, in the one order they are taken in. */
extern gcl_lock_t *const gcl_process_locks[];
extern const size_t gcl_process_nlocks;
void gcl_process_fork_prepare(void);
void gcl_process_fork_parent(void);
void gcl_process_fork_child(void);

/* ---- walk.c ----------------------------------------------------------------------------------------
 * Reading the arena's spans and blocks through a reader, so that one
 * iterator serves this process (gclzone_walk, stats, the region map, the
 * validators) and another one (the Darwin zone's enumerator). A reader
 * makes `size` bytes at `addr` of the walked process available and points
 * *out at them, valid until its next call (libmalloc's memory_reader_t);
 * 0, or an errno value. */
typedef int gcl_reader_fn(void *ctx, uintptr_t addr, size_t size, const void **out);
#define GCL_WALK_CHUNK 256
typedef struct gcl_walk {
  gcl_reader_fn *read;
  void *ctx;
  uintptr_t region_addr;  /* its gcl_region, and a copy of it */
  gcl_region_t region;
  uintptr_t base, top, map, link_key; /* its gcl_spans line */
  size_t slots;           /* slots below its break */
  size_t slot;            /* the next slot to look at */
  size_t skipped;         /* slots skipped: their span disagreed with the map */
  const char *bad;        /* the first disagreement, and its slot */
  size_t bad_slot;
  uintptr_t at;           /* the current span's descriptor, in the walked process */
  gcl_span_t span;        /* a copy of it */
  size_t chunk_first, chunk_end;
  uintptr_t chunk[GCL_WALK_CHUNK]; /* map entries in hand */
} gcl_walk_t;
int gcl_walk_open(gcl_walk_t *w, gcl_reader_fn *read, void *ctx, uintptr_t region, uintptr_t spans);
void gcl_walk_open_self(gcl_walk_t *w);
int gcl_walk_next(gcl_walk_t *w);
int gcl_walk_slot(gcl_walk_t *w, size_t slot, uintptr_t *desc);
typedef void gcl_walk_visitor_fn(void *ctx, uintptr_t block, size_t size);
int gcl_walk_blocks(gcl_walk_t *w, gcl_walk_visitor_fn *visit, void *ctx);

/* ---- check.c ----------------------------------------------------------------------------------------
 * The validators (GCLZONE_CHECK, the zone's check, the unit suites). */
const char *gcl_check_spans(uintptr_t *where);
const char *gcl_check_hostheap(uintptr_t *where);
const char *gcl_check_orphans(bool lists, uintptr_t *where);
const char *gcl_check_region(uintptr_t *where);
void gcl_check_all(void);
void gcl_check_op(void);

/* ---- image.c -----------------------------------------------------------------------------------------
 * Heap images. gcl_image_restore is what process.c's init runs instead of a
 * fresh reservation (the process not ready, no region reserved): 0, or an
 * errno value with *why one of image.c's fixed reasons, and then nothing is
 * mapped. */
int gcl_image_restore(const char *path, const char **why);
bool gcl_image_started_from(const char *path);

/* ---- alloc.c ------------------------------------------------------------------------------------------ */
void *gcl_alloc_slow(size_t size, size_t align, bool zero);
void *gcl_alloc_refill(size_t size, size_t align, gcl_span_t *s);
void gcl_alloc_free_slow(void *p, const gcl_foreign_t *foreign);
void gcl_alloc_check_size(const void *p, size_t size, size_t align);
void *gcl_alloc_malloc(size_t size);
void *gcl_alloc_calloc(size_t n, size_t size);
void *gcl_alloc_realloc(void *p, size_t size, const gcl_foreign_t *foreign);
void *gcl_alloc_reallocarray(void *p, size_t n, size_t size, const gcl_foreign_t *foreign);
int gcl_alloc_posix_memalign(void **out, size_t align, size_t size);
void *gcl_alloc_aligned_alloc(size_t align, size_t size);
void *gcl_alloc_memalign(size_t align, size_t size);
void *gcl_alloc_valloc(size_t size);
void *gcl_alloc_pvalloc(size_t size);
size_t gcl_alloc_usable_size(const void *p, const gcl_foreign_t *foreign);
size_t gcl_alloc_block_size(const void *p);
size_t gcl_alloc_good_size(size_t size);
size_t gcl_alloc_trim(void);
void *gcl_alloc_sbrk(intptr_t increment);
int gcl_alloc_brk(void *addr);

/* The fast paths' pop from the current slab of size's class (align: the
 * alignment asked for, which the class's blocks have): one load chain and
 * one branch; a miss
 * (an empty free list, a thread with no theap yet, a debug mode, a process
 * not initialized) goes to gcl_alloc_refill, and from there, unless the
 * slab's own frees can be swapped in, to the slow path. */
typedef void *gcl_alloc_miss_fn(size_t size, size_t align, gcl_span_t *s);
static inline void *gcl_alloc_pop_or(gcl_span_t *s, size_t size, size_t align, gcl_alloc_miss_fn *miss) {
  gcl_block_t *b = s->free;
  if (gcl_likely(b != NULL)) {
    gcl_block_t *next = gcl_slab_link_get(b);
    if (gcl_unlikely(!gcl_slab_link_ok(s, next))) gcl_slab_bad_link(b);
    s->free = next;
    b->tag = 0;
    s->used++;
    return b;
  }
  return miss(size, align, s);
}

/* The pop for sizes up to GCL_DIRECT_MAX, and (the class by its formula
 * instead of the table) up to GCL_MEDIUM_MAX; a miss goes to `miss`:
 * gcl_alloc_refill, or a front end's wrapper of it (operator new's). */
static inline void *gcl_alloc_small_or(size_t size, gcl_alloc_miss_fn *miss) {
  return gcl_alloc_pop_or(gcl_theap_self()->direct[(size + 15) >> 4], size, GCL_ALIGNMENT, miss);
}
static inline void *gcl_alloc_medium_or(size_t size, gcl_alloc_miss_fn *miss) {
  return gcl_alloc_pop_or(gcl_theap_self()->cur[gcl_slab_class_of_big(size)], size, GCL_ALIGNMENT, miss);
}
static inline void *gcl_alloc_pop(gcl_span_t *s, size_t size, size_t align) {
  return gcl_alloc_pop_or(s, size, align, gcl_alloc_refill);
}
static inline void *gcl_alloc_small(size_t size) {
  return gcl_alloc_small_or(size, gcl_alloc_refill);
}
static inline void *gcl_alloc_medium(size_t size) {
  return gcl_alloc_medium_or(size, gcl_alloc_refill);
}

/* free: a block of a slab that this thread owns goes back on its free list,
 * where the next malloc of its class finds it (LIFO: the block still warm in
 * the cache is the one handed out again);
 * everything else (other threads' blocks, large blocks, NULL, foreign and
 * invalid pointers, double frees) takes the slow path. */
static inline void gcl_alloc_free(void *p, const gcl_foreign_t *foreign) {
  uintptr_t off = (uintptr_t)p - gcl_spans.base;
  if (gcl_likely(gcl_below_relaxed(off, &gcl_spans.top))) {
    gcl_span_t *s = gcl_spans.map[off >> GCL_SLOT_SHIFT];
    gcl_block_t *b = (gcl_block_t *)p;
    if (gcl_likely(gcl_load_relaxed(&s->fast_owner) == gcl_prim_thread_self() &&
                   (!GCL_CHECKS || gcl_span_is_block(s, (uintptr_t)p, s->bump_key)))) {
      uintptr_t tag = gcl_span_free_tag(s, b);
      if (gcl_likely(!GCL_CHECKS || b->tag != tag)) {
        gcl_slab_link_set(b, s->free);
        b->tag = tag;
        s->free = b;
        if (gcl_unlikely(--s->used == 0)) gcl_theap_span_empty(s);
        return;
      }
    }
  }
  gcl_alloc_free_slow(p, foreign);
}

/* A C++ sized delete (ELF front end): free, and in the hardened mode a
 * check that `size` is the size asked for (align: the aligned forms', else 0). */
static inline void gcl_alloc_free_sized(void *p, size_t size, size_t align, const gcl_foreign_t *foreign) {
  if (gcl_debug_hardened()) gcl_alloc_check_size(p, size, align);
  gcl_alloc_free(p, foreign);
}

/* ---- introspect.c ----------------------------------------------------------------------------------------- */
void gcl_introspect_report(int fd);

#pragma GCC visibility pop

#endif /* GCL_INTERNAL_H */

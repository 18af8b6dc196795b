/* internal.h: the types, constants and cross-file interface of libgclzone.
 *
 * Prototypes are grouped by the file that defines them. The hot paths
 * (size class lookup, the malloc pop and the free push) are inline here so
 * that both front ends compile them into their entry points; everything
 * else is out of line.
 *
 * Naming: gclzone_* is public (include/gclzone.h), gcl_<module>_* is
 * internal and hidden (-fvisibility=hidden). Error convention: see prim.h.
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

/* ---- Attributes ----------------------------------------------------------- */
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

/* GCL_SECURE (make SECURE=1): free-list links are stored encoded with a
 * secret and checked when followed (see gcl_link_get). */
#ifndef GCL_SECURE
#define GCL_SECURE 0
#endif

/* GCL_CHECKS (make CHECKS=0 clears it): the free fast path's O(1) misuse
 * checks (never handed out, not a block start, double free). Without them a
 * free of a bad pointer into the caller's own slab goes undetected (the
 * generic paths still check everything). For measuring what the checks
 * cost (bench/), and for programs that trade that detection for speed. */
#ifndef GCL_CHECKS
#define GCL_CHECKS 1
#endif

/* GCL_DEBUG: 0 release, 1 cheap asserts, 2 internal asserts, 3 validators. */
#ifndef GCL_DEBUG
#define GCL_DEBUG 0
#endif
#define gcl_assert(x) ((GCL_DEBUG >= 1 && !(x)) ? gcl_assert_fail(#x, __FILE__, __LINE__) : (void)0)
#define gcl_assert_internal(x) ((GCL_DEBUG >= 2 && !(x)) ? gcl_assert_fail(#x, __FILE__, __LINE__) : (void)0)

/* ---- Geometry ---------------------------------------------------------------
 * The arena is cut into 64 KiB slots. Every span (a slab of one size class,
 * a large block, or a free run) is a whole number of slots, so the span of
 * any arena address is one table lookup: gcl_hot.map[offset >> SLOT_SHIFT]. */
#define GCL_SLOT_SHIFT 16
#define GCL_SLOT_SIZE ((size_t)1 << GCL_SLOT_SHIFT)
#define GCL_ALIGNMENT 16          /* minimum alignment of every block */
#define GCL_DIRECT_MAX 1024       /* sizes served through heap->direct[] */
#define GCL_DIRECT_N (GCL_DIRECT_MAX / 16 + 1)
#define GCL_MEDIUM_MAX ((size_t)128 << 10) /* largest size class */
#define GCL_NCLASSES 69           /* classes 1..68; 0 is unused */
#define GCL_SLAB_MIN_BLOCKS 8     /* a slab aims at this many blocks... */
#define GCL_SLAB_MAX_SLOTS 4      /* ...in at most 256 KiB (heap.c: class_slots) */
#define GCL_ARENA_ALIGN ((size_t)4 << 20)
#define GCL_MAX_HEAPS 65536       /* thread heaps alive at once */
#define GCL_DEFAULT_PART ((size_t)64 << 30) /* host heap and arena: 64 GiB each */
#define GCL_DEFAULT_GUARD ((size_t)1 << 30)
#define GCL_PAGE 4096             /* the page size we lay the region out with */

/* ---- Types ------------------------------------------------------------------ */

/* A free block. Word 0 links the free list; word 1 holds the free tag
 * (the address of its slab's descriptor, see gcl_free_tag) while the block
 * is free, and is cleared when it is handed out: a free that finds the tag
 * is a double free. */
typedef struct gcl_block {
  struct gcl_block *next;
  uintptr_t tag;
} gcl_block_t;

enum gcl_span_kind { GCL_SPAN_FREE = 0, GCL_SPAN_SLAB = 1, GCL_SPAN_LARGE = 2 };

enum gcl_span_flag {
  GCL_SPAN_ZERO = 1,         /* arena: the span's memory reads as zero */
  GCL_SPAN_DIRTY = 2,        /* arena: free span whose pages are still resident */
  GCL_SPAN_WAS_LARGE = 4,    /* arena: free span that begins where a large block was */
};

struct gcl_heap;

/* A span: a run of slots. Slabs carry the sharded free lists (mimalloc's
 * design): `free` to allocate from, `local_free` for the owner's frees and
 * `xfree` for frees from other threads, so the owner needs no atomics. */
typedef struct gcl_span {
  /* fast path: the owner only */
  gcl_block_t *free;
  gcl_block_t *local_free;
  uintptr_t fast_owner;         /* relaxed: its heap's thread (gcl_prim_thread_self)
                                   while in the heap's queue, else 0 */
  uintptr_t start;
  uint64_t blockmagic;          /* slab: gcl_block_magic(block_size) */
  uint64_t bump_key;            /* relaxed: slab: blocks below bump times
                                   blockmagic * block_size (gcl_slab_is_block) */
  uint32_t used;                /* blocks out; the owner's alone (stats read it racily) */
  uint32_t block_size;
  uintptr_t bump;               /* relaxed: slab: first block never handed out */
  uintptr_t bump_end;           /* end of the usable area: the last whole block
                                   of a slab, the last page of a large block */
  /* shared */
  uintptr_t xfree;              /* atomic: cross-thread frees */
  uint32_t xcount;              /* atomic: blocks on xfree (for exact stats) */
  uint8_t orphan;               /* on the orphan list (under gcl_orphan_lock) */
  struct gcl_heap *heap;        /* atomic: owning heap; NULL if orphaned */
  uint32_t slots;
  uint8_t kind;                 /* enum gcl_span_kind */
  uint8_t klass;
  uint8_t full;                 /* atomic: slab is on its heap's full list */
  uint8_t flags;                /* enum gcl_span_flag */
  struct gcl_span *next, *prev; /* heap queue, full or orphan list, free bin */
  struct gcl_span *lru_next, *lru_prev; /* arena: dirty spans, oldest first */
  uint64_t freed_ms;            /* arena: when a dirty span was released */
} gcl_span_t;

typedef struct gcl_spanq {
  gcl_span_t *first, *last;
} gcl_spanq_t;

/* A thread's heap. direct[] maps (size + 15) / 16 to the current slab of the
 * size's class for sizes up to GCL_DIRECT_MAX, so malloc is one lookup. */
typedef struct gcl_heap {
  gcl_span_t *direct[GCL_DIRECT_N];
  gcl_spanq_t queue[GCL_NCLASSES]; /* slabs that may have free blocks */
  gcl_spanq_t full;                /* slabs with none (fast_owner 0) */
  uint32_t xfull_hint;             /* atomic: another thread freed into a full slab */
  uint32_t live;                   /* the heap belongs to a running thread */
  uintptr_t thread;                /* that thread's gcl_prim_thread_self() */
  struct gcl_heap *next, *prev;    /* all live heaps (gcl_heap_list) */
  struct gcl_heap *pool_next;      /* free heap structs */
} gcl_heap_t;

/* What the fast paths read on every call, on one cache line. */
typedef struct gcl_hot {
  uintptr_t base;     /* arena base */
  uintptr_t top;      /* atomic: bytes of the arena carved into spans */
  gcl_span_t **map;   /* slot -> span, valid below top */
  uintptr_t link_key; /* GCL_SECURE: free-list link key */
} __attribute__((aligned(64))) gcl_hot_t;

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

/* Runtime options, read once at init (options.c). */
typedef struct gcl_options {
  size_t heap_size;      /* GCLZONE_HEAP_SIZE */
  size_t arena_size;     /* GCLZONE_ARENA_SIZE */
  uintptr_t base;        /* GCLZONE_BASE */
  long sbrk;             /* GCLZONE_SBRK */
  long show_stats;       /* GCLZONE_SHOW_STATS */
  long purge_delay_ms;   /* GCLZONE_PURGE_DELAY */
  size_t dirty_max;      /* GCLZONE_DIRTY_MAX */
  long scribble;         /* GCLZONE_SCRIBBLE */
  long check;            /* GCLZONE_CHECK */
} gcl_options_t;

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
};

/* ---- region.c ---------------------------------------------------------------- */
typedef struct gcl_region {
  uintptr_t base, size;   /* the whole reservation */
  gcl_part_t heap;        /* host heap (hostheap.c moves `committed`) */
  gcl_part_t arena;       /* malloc arena (arena.c) */
  gcl_part_t map;         /* slot map */
  gcl_part_t spans;       /* span descriptors */
  gcl_part_t heaps;       /* thread heap structs */
} gcl_region_t;
extern gcl_region_t gcl_region;
int gcl_region_reserve(size_t heap_size, size_t arena_size, uintptr_t base);
void gcl_region_unreserve(void);
int gcl_region_grow(gcl_part_t *part, uintptr_t upto, size_t step);
static inline bool gcl_region_contains(const void *p) {
  return (uintptr_t)p - gcl_region.base < gcl_region.size;
}

/* ---- options.c ----------------------------------------------------------------- */
typedef struct gcl_option {
  const char *name;   /* without the GCLZONE_ prefix */
  char kind;          /* 's' size, 'a' address, 'n' number */
  size_t offset;      /* field in gcl_options_t */
  uint64_t dflt;
  const char *help;
} gcl_option_t;
extern gcl_options_t gcl_opt;
extern uint32_t gcl_options_set;
#define GCL_OPTION_HEAP_SIZE 0  /* indices in gcl_option_table */
#define GCL_OPTION_ARENA_SIZE 1
#define GCL_OPTION_BASE 2
extern const gcl_option_t gcl_option_table[];
extern const size_t gcl_option_count;
void gcl_options_load(const char *const *env);
int gcl_options_parse(char kind, const char *s, uint64_t *out);

/* ---- log.c ------------------------------------------------------------------------ */
extern int gcl_log_fd; /* where reports go: a duplicate of stderr taken at init */
size_t gcl_fmt(char *buf, size_t cap, const char *fmt, ...);
void gcl_log_printf(int fd, const char *fmt, ...);
_Noreturn void gcl_fatal(enum gcl_fatal what, const void *p, const char *detail);
_Noreturn void gcl_assert_fail(const char *expr, const char *file, int line);

/* ---- override_elf.c (weak: absent from libgclzone_core.a) ---------------------------- */
extern const bool gcl_front_sbrk_defined __attribute__((weak));
/* True when the program's own sbrk and brk are ours (the ELF front end). */
static inline bool gcl_front_sbrk(void) {
  return &gcl_front_sbrk_defined != NULL;
}

/* ---- process.c --------------------------------------------------------------------- */
extern int gcl_state; /* atomic: 0 not yet, 1 initializing, 2 ready */
int gcl_process_init(const gclzone_config_t *cfg);
static inline bool gcl_ready(void) {
  return gcl_load_acquire(&gcl_state) == 2;
}
int gcl_process_ensure(void); /* initialize with defaults if not done */
extern bool gcl_process_use_atfork;
void gcl_process_fork_prepare(void);
void gcl_process_fork_parent(void);
void gcl_process_fork_child(void);

/* ---- hostheap.c ---------------------------------------------------------------------- */
extern gcl_lock_t gcl_hostheap_lock;
void gcl_hostheap_reset(void);
void *gcl_hostheap_sbrk(intptr_t increment);
int gcl_hostheap_brk(void *addr);
uintptr_t gcl_hostheap_break(void);
size_t gcl_hostheap_peak(void);

/* ---- arena.c ------------------------------------------------------------------------- */
extern gcl_hot_t gcl_hot;
extern gcl_lock_t gcl_arena_lock;
void gcl_arena_reset(void);
gcl_span_t *gcl_arena_take(size_t slots, size_t align, uint8_t kind);
void gcl_arena_give(gcl_span_t *s);
bool gcl_arena_resize(gcl_span_t *s, size_t slots);
size_t gcl_arena_purge_all(void);
gcl_span_t *gcl_arena_span_of(const void *p);
typedef struct gcl_arena_stats {
  size_t spans_bytes, spans_peak, committed, committed_peak, dirty, large_bytes, large_blocks;
} gcl_arena_stats_t;
void gcl_arena_stats(gcl_arena_stats_t *out);
const char *gcl_arena_broken(uintptr_t *where);
void gcl_arena_validate(void);

/* ---- heap.c ---------------------------------------------------------------------------- */
extern gcl_heap_t gcl_heap_empty; /* the heap of a thread that has none yet */
extern gcl_lock_t gcl_heap_lock;   /* heap list, heap pool */
extern gcl_lock_t gcl_orphan_lock; /* orphaned slabs */
bool gcl_heap_reset(void);
void *gcl_heap_malloc_generic(gcl_heap_t *h, size_t size);
void *gcl_heap_malloc_refill(gcl_heap_t *h, gcl_span_t *s, size_t size);
void *gcl_heap_malloc_aligned(size_t size, size_t align, bool zero);
void gcl_heap_free_generic(void *p, const gcl_foreign_t *foreign);
void gcl_heap_span_empty(gcl_span_t *s);
void gcl_heap_thread_done(void *heap);
void gcl_heap_fork_child(void);
size_t gcl_heap_collect(void);
size_t gcl_heap_block_size(const void *p, enum gcl_fatal misuse);
void gcl_heap_large_set_size(gcl_span_t *s, size_t size);
size_t gcl_heap_count(void);
_Noreturn void gcl_heap_bad_link(const void *holder);
const char *gcl_heap_slab_broken(const gcl_span_t *s);
void gcl_heap_validate(void);

/* ---- alloc.c ---------------------------------------------------------------------------- */
void *gcl_malloc(size_t size);
void gcl_free(void *p, const gcl_foreign_t *foreign);
void *gcl_calloc(size_t n, size_t size);
void *gcl_realloc(void *p, size_t size, const gcl_foreign_t *foreign);
void *gcl_reallocarray(void *p, size_t n, size_t size, const gcl_foreign_t *foreign);
int gcl_posix_memalign(void **out, size_t align, size_t size);
void *gcl_aligned_alloc(size_t align, size_t size);
void *gcl_memalign(size_t align, size_t size);
void *gcl_valloc(size_t size);
void *gcl_pvalloc(size_t size);
size_t gcl_usable_size(const void *p, const gcl_foreign_t *foreign);

/* ---- debug.c ---------------------------------------------------------------------------- */
enum gcl_debug_mode { GCL_DEBUG_SCRIBBLE = 1, GCL_DEBUG_CHECK = 2, GCL_DEBUG_VALGRIND = 4 };
extern unsigned gcl_debug; /* set at init; nonzero keeps every call off the fast paths */
void gcl_debug_init(void);
void gcl_debug_alloc(void *p, size_t usable, bool zeroed);
void gcl_debug_free(void *p, size_t usable);
void gcl_debug_resize(void *p, size_t old, size_t usable);
void gcl_debug_fresh(void *p, size_t n);
void gcl_debug_open(void *b, size_t n);
void gcl_debug_close(void *b, size_t n);
void gcl_debug_op(void);
/* Bracket the allocator's own accesses to a free block (for valgrind). */
#define GCL_FREE_OPEN(b) (gcl_unlikely(gcl_debug & GCL_DEBUG_VALGRIND) ? gcl_debug_open((b), sizeof(gcl_block_t)) : (void)0)
#define GCL_FREE_CLOSE(b) (gcl_unlikely(gcl_debug & GCL_DEBUG_VALGRIND) ? gcl_debug_close((b), sizeof(gcl_block_t)) : (void)0)

/* ---- introspect.c ------------------------------------------------------------------------------ */
void gcl_stats_report(int fd);

/* ---- Inline: size classes ---------------------------------------------------------------
 * Classes 1..8 are 16..128 in steps of 16. Up to 4 KiB each power of two is
 * split in four (160, 192, 224, 256, 320, ...): small blocks are numerous,
 * and more classes would leave more slabs partly used. From 4 KiB on it is
 * split in eight (4608, 5120, ...): a big block's waste is big in bytes
 * (SQLite's 4.3 KB page-cache entries lost a fifth in a 5120-byte block).
 * Every block size is a multiple of 16; the waste is under 25%, and under
 * 12.5% above 4 KiB. */
#define GCL_FINE_SHIFT 12 /* 4 KiB: eight classes per power of two from here */
static inline unsigned gcl_class_of(size_t size) {
  if (size <= 128) return size == 0 ? 1 : (unsigned)((size + 15) >> 4);
  size_t m = size - 1;
  unsigned b = 63u - (unsigned)__builtin_clzll(m);
  if (b < GCL_FINE_SHIFT) return 8u + (b - 7u) * 4u + (unsigned)((m >> (b - 2u)) & 3u) + 1u;
  return 28u + (b - GCL_FINE_SHIFT) * 8u + (unsigned)((m >> (b - 3u)) & 7u) + 1u;
}

static inline size_t gcl_class_size(unsigned c) {
  if (c <= 8) return (size_t)c << 4;
  if (c <= 28) {
    unsigned k = c - 9, b = 7 + k / 4;
    return (size_t)(5 + k % 4) << (b - 2);
  }
  unsigned k = c - 29, b = GCL_FINE_SHIFT + k / 8;
  return (size_t)(9 + k % 8) << (b - 3);
}

/* ---- Inline: the fast paths --------------------------------------------------------------- */
static inline gcl_heap_t *gcl_heap_self(void) {
  return gcl_prim_tls_get();
}

/* The free tag of a slab's blocks is the address of the slab's descriptor:
 * a word no program holds (descriptors live in our metadata, never handed
 * out), and one the free fast path has in a register already, so checking
 * and setting it costs no load. Under GCL_SECURE it is xor'ed with the
 * link key, so that freed memory does not show where our metadata lies.
 * The one definition: a reader of another process passes its key. */
static inline uintptr_t gcl_free_tag_keyed(uintptr_t span, uintptr_t key) {
  return GCL_SECURE ? span ^ key : span;
}
static inline uintptr_t gcl_free_tag(uintptr_t span) {
  return gcl_free_tag_keyed(span, gcl_hot.link_key);
}
/* Free-list links. Under GCL_SECURE a link is stored xor'ed with a secret
 * key and with the address of the block holding it (glibc's safe-linking,
 * keyed), and a link is followed only if it points into its own slab, so a
 * write after free cannot steer malloc to an address of its choosing. */
static inline gcl_block_t *gcl_link_get(const gcl_block_t *b) {
  uintptr_t v = (uintptr_t)b->next;
  return (gcl_block_t *)(GCL_SECURE ? v ^ gcl_hot.link_key ^ (uintptr_t)b : v);
}
static inline void gcl_link_set(gcl_block_t *b, gcl_block_t *next) {
  uintptr_t v = (uintptr_t)next;
  b->next = (gcl_block_t *)(GCL_SECURE ? v ^ gcl_hot.link_key ^ (uintptr_t)b : v);
}
static inline bool gcl_link_ok(const struct gcl_span *s, const gcl_block_t *next) {
  return !GCL_SECURE || !next || (uintptr_t)next - s->start < s->bump - s->start;
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
static inline uint64_t gcl_block_magic(size_t bs) {
  return UINT64_MAX / bs + 1 + !(bs & (bs - 1)); /* a power of two divides 2^64 */
}
static inline uint64_t gcl_bump_key(size_t bs, size_t blocks) {
  return (uint64_t)blocks * (gcl_block_magic(bs) * bs);
}
static inline bool gcl_slab_is_block(const gcl_span_t *s, uintptr_t p, uint64_t bump_key) {
  uint64_t rel = (uint32_t)(p - s->start);
  return rel * s->blockmagic < bump_key;
}

/* A slab's fields are filled in by its thread after the arena hands the
 * span out, and published by the release store of s->heap (heap.c
 * slab_new); orphans have heap NULL but are complete. Anything else with
 * heap NULL is still being built, or was caught so by a fork. */
static inline bool gcl_slab_published(const gcl_span_t *s) {
  return __atomic_load_n(&s->heap, __ATOMIC_ACQUIRE) != NULL || s->orphan;
}

/* malloc for size <= GCL_DIRECT_MAX: one load chain and one branch. */
static inline void *gcl_malloc_small(size_t size) {
  gcl_heap_t *h = gcl_heap_self();
  gcl_span_t *s = h->direct[(size + 15) >> 4];
  gcl_block_t *b = s->free;
  if (gcl_likely(b != NULL)) {
    gcl_block_t *next = gcl_link_get(b);
    if (gcl_unlikely(!gcl_link_ok(s, next))) gcl_heap_bad_link(b);
    s->free = next;
    b->tag = 0;
    s->used++;
    return b;
  }
  return gcl_heap_malloc_refill(h, s, size);
}

static inline void *gcl_malloc_inline(size_t size) {
  if (gcl_likely(size <= GCL_DIRECT_MAX)) return gcl_malloc_small(size);
  return gcl_heap_malloc_generic(gcl_heap_self(), size);
}

/* free: a block of a slab that this thread owns goes on its local list;
 * everything else (other threads' blocks, large blocks, NULL, foreign and
 * invalid pointers, double frees) takes the generic path. */
static inline void gcl_free_inline(void *p, const gcl_foreign_t *foreign) {
  uintptr_t off = (uintptr_t)p - gcl_hot.base;
  if (gcl_likely(gcl_below_relaxed(off, &gcl_hot.top))) {
    gcl_span_t *s = gcl_hot.map[off >> GCL_SLOT_SHIFT];
    gcl_block_t *b = (gcl_block_t *)p;
    if (gcl_likely(gcl_load_relaxed(&s->fast_owner) == gcl_prim_thread_self() &&
                   (!GCL_CHECKS || gcl_slab_is_block(s, (uintptr_t)p, s->bump_key)))) {
      uintptr_t tag = gcl_free_tag((uintptr_t)s);
      if (gcl_likely(!GCL_CHECKS || b->tag != tag)) {
        gcl_link_set(b, s->local_free);
        b->tag = tag;
        s->local_free = b;
        if (gcl_unlikely(--s->used == 0)) gcl_heap_span_empty(s);
        return;
      }
    }
  }
  gcl_heap_free_generic(p, foreign);
}

#pragma GCC visibility pop

#endif /* GCL_INTERNAL_H */

/* gclzone.h: libgclzone, a malloc for processes that host a garbage-collected
 * runtime. One reserved range of address space holds two disjoint parts:
 * the host heap, grown by the runtime through gclzone_sbrk, and the malloc
 * arena, which serves every malloc-family call. They can never collide.
 *
 * Conventions: functions returning a pointer return NULL and set errno on
 * failure (ENOMEM when memory or address space runs out, EINVAL for a bad
 * argument); functions returning int return 0 on success, or as documented.
 * Passing a pointer that libgclzone never handed out to a function that takes
 * a block stops the process with one line on stderr (see README, "Fatal
 * messages").
 */
#ifndef GCLZONE_H
#define GCLZONE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GCLZONE_VERSION_MAJOR 0
#define GCLZONE_VERSION_MINOR 1
#define GCLZONE_VERSION_PATCH 0
#define GCLZONE_VERSION "0.1.0"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Lifecycle ------------------------------------------------------------ */

/* Region configuration: a zero field takes its GCLZONE_* variable, or else
 * the default (64 GiB host heap, 64 GiB arena; the base at the program break
 * when the ELF front end owns sbrk, else where the OS puts it). */
typedef struct gclzone_config {
  size_t heap_size;  /* host heap capacity (GCLZONE_HEAP_SIZE) */
  size_t arena_size; /* malloc arena capacity (GCLZONE_ARENA_SIZE) */
  uintptr_t base;    /* fixed address of the host heap's base, page aligned,
                        with the whole region below 2^48,
                        or GCLZONE_BASE_BRK (GCLZONE_BASE) */
  const char *image; /* start from this heap image (GCLZONE_IMAGE): the
                        sizes and base are the image's, so the three fields
                        above must be 0; see gclzone_image_save */
} gclzone_config_t;

/* base: start the host heap at the program break, so that it continues the
 * program's data segment as the kernel's brk would (GCLZONE_BASE=brk). For
 * runtimes that dumped their heap into their executable (GCL, Maxima). ELF
 * only; elsewhere gclzone_init fails with EINVAL. */
#define GCLZONE_BASE_BRK ((uintptr_t)1)

/* Reserve the region. Optional: the first allocation or sbrk does it with the
 * defaults. May replace an earlier default reservation while nothing has been
 * allocated from it. 0; -1 with errno EINVAL (bad config), EEXIST (base is
 * taken), ENOMEM (no room), EBUSY (already in use with another config).
 * With cfg->image: also ENOENT or EACCES (the file), EINVAL (not a usable
 * image), and nothing is mapped. */
int gclzone_init(const gclzone_config_t *cfg);

/* ---- Allocation (the malloc family, prefixed) ----------------------------- */

void *gclzone_malloc(size_t size);                   /* NULL/ENOMEM; size 0 gives a unique block */
void gclzone_free(void *p);                          /* NULL is a no-op; errno is kept */
void *gclzone_calloc(size_t n, size_t size);         /* zeroed; NULL/ENOMEM, also on n*size overflow */
void *gclzone_realloc(void *p, size_t size);         /* p NULL: malloc; size 0: frees p, returns NULL;
                                                        NULL/ENOMEM leaves p intact */
void *gclzone_reallocarray(void *p, size_t n, size_t size); /* realloc(p, n*size); overflow: NULL/ENOMEM */
int gclzone_posix_memalign(void **out, size_t align, size_t size); /* 0, EINVAL or ENOMEM; *out untouched on error */
void *gclzone_aligned_alloc(size_t align, size_t size); /* align a power of two, else NULL/EINVAL */
void *gclzone_memalign(size_t align, size_t size);   /* align rounded up to a power of two; > SIZE_MAX/2+1: EINVAL */
void *gclzone_valloc(size_t size);                   /* page aligned */
void *gclzone_pvalloc(size_t size);                  /* page aligned, size rounded up to pages */
size_t gclzone_usable_size(const void *p);           /* bytes usable at p (>= requested); 0 for NULL */

/* ---- Host heap: an sbrk for the runtime's page heap ------------------------
 * The contract, after dlmalloc's MORECORE:
 *  - gclzone_sbrk(0) returns the current break (initially the heap base).
 *  - gclzone_sbrk(n), n > 0, moves the break up by n bytes and returns the old
 *    break; the new bytes are readable, writable and zero. Pages are not
 *    touched: a multi-GiB increment that fits costs address space only.
 *  - gclzone_sbrk(-n) moves the break down by n bytes, returns the old break,
 *    and gives whole pages above the new break back to the OS. The break
 *    never goes below the base.
 *  - Any increment that would leave [base, base + heap capacity], including
 *    the huge ones used to probe (INTPTR_MAX, INTPTR_MIN, and the like),
 *    returns (void *)-1 with errno ENOMEM and leaves the break unchanged.
 *  - Successive increments are contiguous: the heap is one range that never
 *    moves and never touches the malloc arena.                              */
void *gclzone_sbrk(intptr_t increment);
int gclzone_brk(void *addr); /* set the break to addr: 0; -1/ENOMEM outside the heap */

/* ---- Introspection ---------------------------------------------------------- */

/* True when p is the start of a block currently handed out by the arena. */
bool gclzone_owns(const void *p);

/* A part of the region: [base, brk) is in use, brk <= limit. */
typedef struct gclzone_bounds {
  void *base;
  void *brk;
  void *limit;
} gclzone_bounds_t;
gclzone_bounds_t gclzone_heap_bounds(void);  /* the host heap; all NULL before init */
gclzone_bounds_t gclzone_arena_bounds(void); /* the malloc arena; all NULL before init */

typedef struct gclzone_stats {
  size_t in_use_bytes;         /* bytes in blocks handed out (usable sizes) */
  size_t in_use_blocks;        /* blocks handed out */
  size_t arena_used_bytes;     /* arena bytes in slabs and large blocks */
  size_t arena_used_peak;      /* peak of arena_used_bytes */
  size_t committed_bytes;      /* arena bytes that may be resident */
  size_t committed_peak;       /* peak of committed_bytes */
  size_t dirty_bytes;          /* free arena bytes not yet returned to the OS */
  size_t heap_bytes;           /* host heap: break - base */
  size_t heap_peak;            /* peak of heap_bytes */
  size_t threads;              /* thread heaps alive */
} gclzone_stats_t;

/* Fill *out. Counts are exact when no other thread allocates or frees. */
void gclzone_stats(gclzone_stats_t *out);
void gclzone_print_stats(int fd); /* the GCLZONE_SHOW_STATS=1 report, on fd */
/* The same figures, the region's parts and the options in force as one
 * JSON object on one line (GCLZONE_SHOW_STATS=json); not reentrant. */
void gclzone_print_stats_json(int fd);
void gclzone_print_map(int fd);   /* the region drawn: parts, breaks, usage (GCLZONE_SHOW_STATS=2) */

/* ---- For a collector ---------------------------------------------------------- */

/* Called once per live block. It must not allocate or free. */
typedef void gclzone_visitor_t(void *block, size_t size, void *ctx);

/* Visit every live block of the arena (address, usable size); returns how
 * many. Takes no lock, so a collector may call it with the world stopped;
 * blocks allocated or freed meanwhile by running threads may be missed. */
size_t gclzone_walk(gclzone_visitor_t *visit, void *ctx);

/* Pressure relief: give free arena memory back to the OS now (empty slabs of
 * the calling thread and of exited threads, then every free resident page).
 * Returns the bytes given back; 0 before init. */
size_t gclzone_trim(void);

/* ---- Heap images ---------------------------------------------------------------
 * The successor to unexec. Save the region as it is now (the host heap up to
 * its break, every block of the arena, the allocator's metadata) and `root`,
 * a pointer into either part (or NULL), atomically: the file appears at path
 * complete or not at all. Other threads must be stopped first, outside the
 * allocator; their blocks are saved as those of exited threads. A later
 * process started with GCLZONE_IMAGE=path (or cfg->image) gets the region
 * back at the same addresses, mapped copy-on-write from the file: every block
 * live, freeable, with its contents, and the break where it was. 0; -1 with
 * errno EINVAL (no path, not initialized, root outside the heap and the
 * arena), ENOTSUP (under valgrind or in the hardened mode, whose blocks are
 * laid out otherwise), EDEADLK (called with an allocator lock held: from a
 * signal handler inside malloc), EBUSY (a thread that was not stopped held a
 * lock for a second), or the error of writing the file (nothing is left at
 * path). A process started from an image runs without those two modes. */
int gclzone_image_save(const char *path, const void *root);

/* The root saved with the image this process started from; NULL if none. */
void *gclzone_image_root(void);

/* The old name of gclzone_trim ("collect" read as a garbage collection);
 * kept for release 0.1 and removed in the next one. */
size_t gclzone_collect(void) __attribute__((deprecated("renamed gclzone_trim")));

#ifdef __cplusplus
}
#endif

#endif /* GCLZONE_H */

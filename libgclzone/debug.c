/* debug.c: the debug modes: scribble, valgrind, and the switch for check.c.
 *
 * Owns gcl_debug_modes, set once at init and constant afterwards. With any
 * mode on, theap.c publishes no slab to the fast paths, so every allocation
 * and every free passes through alloc.c's slow paths and the hooks below
 * (and check.c's gcl_check_op); with all modes off the hooks are never
 * reached and the fast paths carry no test.
 *
 *  - scribble (GCLZONE_SCRIBBLE): fresh blocks are filled with 0xaa, freed
 *    blocks with 0x55 past their first 16 bytes (the free-list link and the
 *    free tag live there), as libmalloc's MallocScribble does;
 *  - check (GCLZONE_CHECK=N): every Nth operation runs the validators
 *    (check.c), which stop the process on any inconsistency;
 *  - valgrind: when the process runs under memcheck, blocks are described to
 *    memcheck with client requests (compiled in when valgrind/memcheck.h is
 *    present), and the allocator's own accesses to free blocks are bracketed
 *    so that memcheck reports only the program's.
 */
#include "internal.h"

#include <string.h>

#if defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define GCL_HAVE_VALGRIND 1
#endif
#endif
#ifndef GCL_HAVE_VALGRIND
#define GCL_HAVE_VALGRIND 0
#define RUNNING_ON_VALGRIND 0
#define VALGRIND_MALLOCLIKE_BLOCK(p, n, rz, z) ((void)0)
#define VALGRIND_FREELIKE_BLOCK(p, rz) ((void)0)
#define VALGRIND_RESIZEINPLACE_BLOCK(p, o, n, rz) ((void)0)
#define VALGRIND_MAKE_MEM_DEFINED(p, n) ((void)0)
#define VALGRIND_MAKE_MEM_NOACCESS(p, n) ((void)0)
#define VALGRIND_MAKE_MEM_UNDEFINED(p, n) ((void)0)
#endif

unsigned gcl_debug_modes;

#define SCRIBBLE_FRESH 0xaa
#define SCRIBBLE_FREED 0x55

/* Memcheck, not just valgrind: under callgrind or cachegrind the library
 * must run its normal paths, or their measurements mean nothing. A
 * memcheck-only request answers 1 under memcheck and the default 0 under
 * every other tool and outside valgrind (valgrind.h's VALGRIND_GET_VBITS). */
static bool under_memcheck(void) {
#if GCL_HAVE_VALGRIND
  if (!RUNNING_ON_VALGRIND) return false;
  static char probe, vbits;
  return VALGRIND_GET_VBITS(&probe, &vbits, 1) == 1;
#else
  return false;
#endif
}

void gcl_debug_init(void) {
  gcl_debug_modes = 0;
  if (gcl_options.scribble) gcl_debug_modes |= GCL_DEBUG_SCRIBBLE;
  if (gcl_options.check > 0) gcl_debug_modes |= GCL_DEBUG_CHECK;
  if (under_memcheck()) gcl_debug_modes |= GCL_DEBUG_VALGRIND;
}

/* A block of `usable` bytes is handed out; `zeroed`: its bytes are zero. */
void gcl_debug_alloc(void *p, size_t usable, bool zeroed) {
  if (gcl_debug_modes & GCL_DEBUG_VALGRIND) VALGRIND_MALLOCLIKE_BLOCK(p, usable, 0, zeroed);
  if ((gcl_debug_modes & GCL_DEBUG_SCRIBBLE) && !zeroed) memset(p, SCRIBBLE_FRESH, usable);
}

/* A live block is about to be freed (already validated). */
void gcl_debug_free(void *p, size_t usable) {
  if ((gcl_debug_modes & GCL_DEBUG_SCRIBBLE) && usable > sizeof(gcl_block_t))
    memset((char *)p + sizeof(gcl_block_t), SCRIBBLE_FREED, usable - sizeof(gcl_block_t));
  if (gcl_debug_modes & GCL_DEBUG_VALGRIND) VALGRIND_FREELIKE_BLOCK(p, 0);
}

/* A live block changes size in place (a large block's realloc). */
void gcl_debug_resize(void *p, size_t old, size_t usable) {
  if (gcl_debug_modes & GCL_DEBUG_VALGRIND) VALGRIND_RESIZEINPLACE_BLOCK(p, old, usable, 0);
  if ((gcl_debug_modes & GCL_DEBUG_SCRIBBLE) && usable > old) memset((char *)p + old, SCRIBBLE_FRESH, usable - old);
}

/* A slab is carved: its memory may still be described as freed blocks of an
 * earlier span; make it addressable again for the allocator's own writes. */
void gcl_debug_fresh(void *p, size_t n) {
  VALGRIND_MAKE_MEM_UNDEFINED(p, n);
  (void)p, (void)n;
}

/* The allocator is about to read or write the first words of a free block
 * (open), or is done with them (close). Under valgrind, free blocks are
 * inaccessible to the program; the allocator's own accesses must not count. */
void gcl_debug_open(void *b, size_t n) {
  VALGRIND_MAKE_MEM_DEFINED(b, n);
  (void)b, (void)n;
}

void gcl_debug_close(void *b, size_t n) {
  VALGRIND_MAKE_MEM_NOACCESS(b, n);
  (void)b, (void)n;
}

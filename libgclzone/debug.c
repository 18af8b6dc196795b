/* debug.c: the debug modes: scribble, valgrind, hardened, and the switch
 * for check.c; and the exact-size layout of a block in the valgrind and
 * hardened modes.
 *
 * Owns gcl_debug_modes, set once at init and constant afterwards (a start
 * from a heap image clears the exact modes first, gcl_debug_drop_exact). With any
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
 *    present) at the size the program asked for, and the allocator's own
 *    accesses to free blocks and to a block's slack are bracketed so that
 *    memcheck reports only the program's;
 *  - hardened (GCLZONE_HARDEN=1, SECURE=1 builds only, and not under
 *    memcheck, which sees more): canaries, underflow words, zero on free and
 *    the check at reuse below; guard pages and zero-size blocks (span.c,
 *    slab.c); the sized delete check (alloc.c).
 *
 * The exact modes (valgrind, hardened) need the size each block was asked
 * for: at free and realloc, for malloc_usable_size, and for memcheck's
 * descriptions across realloc in place. It is kept in the block itself, in
 * its trailer, the last word of the block's capacity (a slab's block size, a
 * large block's pages): no side table to allocate or look up, no header to
 * move the program's pointer off the block start that every O(1) pointer
 * check relies on, and alloc.c asks for a block with room for it
 * (gcl_debug_room). A block of capacity
 * `cap` asked for `size` bytes is laid out
 *
 *   [0, size)        the program's bytes (malloc_usable_size is `size`)
 *   [size, cap - 8)  slack; hardened: a canary in its first CANARY bytes
 *   [cap - 8, cap)   the trailer: size ^ mix(block), or, once the block is
 *                    freed (hardened mode, slabs), freed(link) ^ mix(block):
 *                    FREED_HIGH with a keyed hash of the block's free-list
 *                    link in its low half (freed_word)
 *
 * mix is keyed with a secret drawn at init, so a program cannot forge a
 * trailer. A slab block's size is below 2^17, so the top four bytes of a
 * decoded live trailer are zero and those of a freed one 0xff: any change to the
 * word's last byte (the byte just before the next block: a 1-byte
 * underflow of that block) makes it decode to neither, deterministically.
 * The canary's bytes are keyed too, but each has its high bit set and bit 6
 * clear (0x80..0xbf): an overrun by text, zeros or small integers (the
 * usual ones) is caught every time, any other byte with probability 63/64.
 * The canary is checked at free and realloc; only its first CANARY bytes are
 * written, which is what a contiguous overrun touches first, so that
 * growing a block in place by a few bytes at a time costs O(CANARY) and
 * not O(slack). Hardened free blocks are zero from byte 16 to the trailer
 * (zero on free, not on malloc: no block is handed out holding another's
 * bytes, a freed block's bytes cannot be read back, and a free block's state
 * is known, so that its reuse can check it), and gcl_debug_free_intact
 * checks that when the block is reused: a write after free.
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
static uint64_t debug_key; /* the exact modes' secret (mix) */

#define SCRIBBLE_FRESH 0xaa
#define SCRIBBLE_FREED 0x55
#define TRAILER sizeof(uint64_t)
#define CANARY 64                       /* canary bytes written and checked at most */
#define FREED_HIGH 0xffffffff00000000u  /* a freed block's trailer, decoded, has these bits */
#define CANARY_HIGH 0x8080808080808080u /* every canary byte has its high bit set... */
#define CANARY_MASK 0xbfbfbfbfbfbfbfbfu /* ...and bit 6 clear */

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
  else if (gcl_options.harden && GCL_SECURE) gcl_debug_modes |= GCL_DEBUG_HARDEN;
  else if (gcl_options.harden)
    gcl_log_printf(2, "gclzone: warning: ignoring GCLZONE_HARDEN: this is not a SECURE=1 build\n");
  if (gcl_debug_modes & GCL_DEBUG_EXACT) debug_key = gcl_prim_random() | 1;
}

/* A process that starts from a heap image runs without the exact modes:
 * the image's blocks carry no trailers, and its free blocks are neither
 * zero nor marked, so the hardened mode would take every reuse for a write
 * after free (and the image cannot hold its inaccessible pages). Called
 * before the first block exists. Memcheck then sees the arena as plain
 * mapped memory: it reports nothing of ours, and nothing false. */
void gcl_debug_drop_exact(void) {
  if (gcl_debug_modes & GCL_DEBUG_HARDEN)
    gcl_log_printf(2, "gclzone: warning: ignoring GCLZONE_HARDEN: the process starts from a heap image\n");
  gcl_debug_modes &= ~(unsigned)GCL_DEBUG_EXACT;
}

/* ---- the exact-size layout --------------------------------------------------- */

static inline uint64_t mix(const void *block) {
  uint64_t x = (uint64_t)(uintptr_t)block ^ debug_key;
  x ^= x >> 31;
  x *= 0x9e3779b97f4a7c15u;
  return x ^ (x >> 29);
}

/* The decoded trailer of free block b: FREED_HIGH and a hash of its link
 * word as stored, so that any change to the link shows at reuse, also one
 * that leaves it pointing at another free block of the slab (a one-byte
 * write to a link of 32-byte blocks did that about once in 40 runs of the
 * hardened probes, and the write went unseen). slab.c calls
 * gcl_debug_free_link whenever it sets a free block's link. */
static inline uint64_t freed_word(const void *b) {
  uintptr_t link = (uintptr_t)((const gcl_block_t *)b)->next;
  return FREED_HIGH | (uint32_t)mix((const void *)(link ^ (uintptr_t)b));
}

static inline uint64_t *trailer(const void *p, size_t cap) {
  return (uint64_t *)((uintptr_t)p + cap - TRAILER);
}

/* Under valgrind, a block's slack is inaccessible to the program: these
 * bracket the allocator's own accesses to its trailer. */
static inline uint64_t trailer_load(const void *p, size_t cap) {
  uint64_t *t = trailer(p, cap);
  VALGRIND_MAKE_MEM_DEFINED(t, TRAILER);
  uint64_t w = gcl_load_relaxed(t);
  if (gcl_debug_modes & GCL_DEBUG_VALGRIND) VALGRIND_MAKE_MEM_NOACCESS(t, TRAILER);
  return w;
}

static inline void trailer_store(void *p, size_t cap, uint64_t decoded) {
  uint64_t *t = trailer(p, cap);
  VALGRIND_MAKE_MEM_UNDEFINED(t, TRAILER);
  gcl_store_relaxed(t, decoded ^ mix(p)); /* one store: a neighbour's check sees old or new */
  if (gcl_debug_modes & GCL_DEBUG_VALGRIND) VALGRIND_MAKE_MEM_NOACCESS(t, TRAILER);
}

static inline size_t canary_end(size_t size, size_t cap) {
  return cap - TRAILER - size < CANARY ? cap - TRAILER : size + CANARY;
}

/* The canary of block p: the byte at offset o of the block is byte o % 8
 * of this word, so that whole aligned words of it are the word itself. */
static inline uint64_t canary_word(const void *p) {
  return (mix((const char *)p + 1) | CANARY_HIGH) & CANARY_MASK;
}

static void canary_write(void *p, size_t size, size_t cap) {
  uint64_t c = canary_word(p);
  unsigned char *b = p;
  size_t o = size, end = canary_end(size, cap);
  for (; o < end && (o & 7); o++) b[o] = (uint8_t)(c >> (8 * (o & 7)));
  for (; o + 8 <= end; o += 8) *(uint64_t *)(b + o) = c;
  for (; o < end; o++) b[o] = (uint8_t)(c >> (8 * (o & 7)));
}

static bool canary_intact(const void *p, size_t size, size_t cap) {
  uint64_t c = canary_word(p);
  const unsigned char *b = p;
  size_t o = size, end = canary_end(size, cap);
  for (; o < end && (o & 7); o++)
    if (b[o] != (uint8_t)(c >> (8 * (o & 7)))) return false;
  for (; o + 8 <= end; o += 8)
    if (*(const uint64_t *)(b + o) != c) return false;
  for (; o < end; o++)
    if (b[o] != (uint8_t)(c >> (8 * (o & 7)))) return false;
  return true;
}

/* What a block needs for `size` bytes in the exact modes: the trailer, and
 * in the hardened mode a canary byte at least; a hardened block is at least
 * 32 bytes, so that a free block's link, tag and trailer do not overlap.
 * size <= PTRDIFF_MAX, so nothing wraps. */
size_t gcl_debug_room(size_t size) {
  if (!(gcl_debug_modes & GCL_DEBUG_EXACT)) return size;
  if (!gcl_debug_hardened()) return size + TRAILER;
  return size + TRAILER + 1 < 32 ? 32 : size + TRAILER + 1;
}

/* The size block p of capacity cap was asked for (exact modes). Hardened:
 * a trailer or canary that an overrun has changed is fatal. */
size_t gcl_debug_size(const void *p, size_t cap) {
  uint64_t size = trailer_load(p, cap) ^ mix(p);
  if (gcl_debug_hardened() && (size > cap - TRAILER - 1 || !canary_intact(p, size, cap)))
    gcl_log_fatal(GCL_FATAL_OVERFLOW, p, NULL);
  return size;
}

/* Hardened, a slab block p of size bs that is not its slab's first: the
 * word before it, the trailer of the block below, must decode to a live
 * size or the freed mark; anything else is an underflow of p (or an
 * overrun of the block below past its canary, as bad). */
void gcl_debug_check_before(const void *p, size_t bs) {
  const void *below = (const char *)p - bs;
  uint64_t w = gcl_load_relaxed(trailer(below, bs)) ^ mix(below);
  if ((w & FREED_HIGH) != FREED_HIGH && w > bs - TRAILER - 1) gcl_log_fatal(GCL_FATAL_UNDERFLOW, p, NULL);
}

/* Hardened: block b of a slab (size bs) becomes free, or is carved: the
 * freed mark in its trailer, and zero past its first 16 bytes (link and
 * tag, which the caller writes). Only the first `written` bytes need it:
 * the rest is zero already, as the block was when it was handed out
 * (gcl_debug_written: what the program was given and the canary; 0 for a
 * block carved from memory known to be zero). */
size_t gcl_debug_written(size_t size, size_t bs) {
  return canary_end(size, bs);
}

void gcl_debug_free_mark(void *b, size_t written, size_t bs) {
  size_t end = written < bs - TRAILER ? written : bs - TRAILER;
  if (end > sizeof(gcl_block_t)) memset((char *)b + sizeof(gcl_block_t), 0, end - sizeof(gcl_block_t));
  trailer_store(b, bs, freed_word(b));
}

/* Hardened: free block b's link was set: its trailer follows it. */
void gcl_debug_free_link(void *b, size_t bs) {
  trailer_store(b, bs, freed_word(b));
}

/* Hardened: does free block b's trailer name the link b holds? */
bool gcl_debug_free_link_ok(const void *b, size_t bs) {
  return (trailer_load(b, bs) ^ mix(b)) == freed_word(b);
}

/* Hardened: is free block b (size bs) as gcl_debug_free_mark left it? */
bool gcl_debug_free_intact(const void *b, size_t bs) {
  const uint64_t *w = (const uint64_t *)b + 2, *end = trailer(b, bs);
  uint64_t any = 0;
  for (; w < end; w++) any |= *w;
  return !any && gcl_debug_free_link_ok(b, bs);
}

/* A block of capacity `cap` is handed out for `size` bytes; `zeroed`: its
 * first `size` bytes are zero. */
void gcl_debug_alloc(void *p, size_t size, size_t cap, bool zeroed) {
  if (!(gcl_debug_modes & GCL_DEBUG_EXACT)) {
    if ((gcl_debug_modes & GCL_DEBUG_SCRIBBLE) && !zeroed) memset(p, SCRIBBLE_FRESH, cap);
    return;
  }
  if (gcl_debug_modes & GCL_DEBUG_VALGRIND) VALGRIND_MALLOCLIKE_BLOCK(p, size, 0, zeroed);
  if (gcl_debug_hardened()) {
    /* The free-list link was the only nonzero word below the trailer. */
    ((gcl_block_t *)p)->next = NULL;
    canary_write(p, size, cap);
  }
  trailer_store(p, cap, size);
  if (gcl_debug_modes & GCL_DEBUG_VALGRIND) VALGRIND_MAKE_MEM_NOACCESS((char *)p + size, cap - size);
  if ((gcl_debug_modes & GCL_DEBUG_SCRIBBLE) && !zeroed) memset(p, SCRIBBLE_FRESH, size);
}

/* A live block of capacity cap is about to be freed (already validated,
 * and in the exact modes its size read with gcl_debug_size). */
void gcl_debug_free(void *p, size_t cap) {
  if ((gcl_debug_modes & GCL_DEBUG_SCRIBBLE) && !gcl_debug_hardened() && cap > sizeof(gcl_block_t)) {
    size_t n = (gcl_debug_modes & GCL_DEBUG_EXACT ? gcl_debug_size(p, cap) : cap);
    if (n > sizeof(gcl_block_t)) memset((char *)p + sizeof(gcl_block_t), SCRIBBLE_FREED, n - sizeof(gcl_block_t));
  }
  if (gcl_debug_modes & GCL_DEBUG_VALGRIND) VALGRIND_FREELIKE_BLOCK(p, 0);
}

/* A live block of capacity cap (the new one, for a large block resized in
 * place) changes from `old` to `size` bytes in place (exact modes). */
void gcl_debug_resize(void *p, size_t old, size_t size, size_t cap) {
  if (gcl_debug_modes & GCL_DEBUG_EXACT) {
    if (gcl_debug_modes & GCL_DEBUG_VALGRIND) VALGRIND_RESIZEINPLACE_BLOCK(p, old, size, 0);
    if (gcl_debug_hardened()) {
      /* Grown: the bytes added were canary or zero, now zero. Shrunk: what
       * lies past the new canary is zeroed, so that the block's bytes past
       * gcl_debug_written stay zero (gcl_debug_free_mark relies on it). */
      if (size > old) memset((char *)p + old, 0, size - old);
      size_t was = old < cap - TRAILER ? canary_end(old, cap) : cap - TRAILER; /* a large block may have shrunk */
      size_t now = canary_end(size, cap);
      if (was > now) memset((char *)p + now, 0, was - now);
      canary_write(p, size, cap);
    }
    trailer_store(p, cap, size);
    if (gcl_debug_modes & GCL_DEBUG_VALGRIND) VALGRIND_MAKE_MEM_NOACCESS((char *)p + size, cap - size);
  }
  if ((gcl_debug_modes & GCL_DEBUG_SCRIBBLE) && size > old) memset((char *)p + old, SCRIBBLE_FRESH, size - old);
}

/* A slab is carved: its memory may still be described as blocks of an
 * earlier span. Under valgrind all of it is inaccessible to the program
 * until blocks are handed out; slab.c opens what it carves (open) and
 * closes it again. */
void gcl_debug_fresh(void *p, size_t n) {
  VALGRIND_MAKE_MEM_NOACCESS(p, n);
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

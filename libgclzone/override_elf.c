/* override_elf.c: the ELF front end: libgclzone as the process's malloc.
 *
 * Defines the malloc family (and sbrk/brk over the host heap) so that
 * LD_PRELOAD=libgclzone.so, or linking libgclzone, takes over every call in
 * the process. Each entry point forwards to the core; malloc and free inline
 * its fast paths. Pointers outside our region were allocated by glibc before
 * we were in place (or by a library that captured glibc's malloc), so they
 * go back to glibc through its __libc_* entry points.
 */
#if !defined(__ELF__) || defined(__APPLE__)
#error "override_elf.c is the ELF front end; Darwin uses zone_darwin.c"
#endif

#define _GNU_SOURCE
#include "internal.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <malloc.h> /* the C library's prototypes check our signatures */
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

/* glibc's own allocator, for blocks it handed out before we took over. */
extern void __libc_free(void *p);
extern void *__libc_realloc(void *p, size_t size);
extern struct mallinfo __libc_mallinfo(void); /* glibc's own, under our mallinfo */
extern void *__sbrk(intptr_t increment);

/* Is p plausibly a live block of glibc's malloc? Only then is it handed to
 * glibc; anything else (a stack address, (void *)1, a page from mmap) is
 * our misuse to report, not glibc's to fault on. When glibc has handed out
 * nothing (the usual case under LD_PRELOAD), no foreign pointer is valid.
 * Otherwise we apply the checks glibc's own free applies, reading through
 * gcl_prim_read so that a wild pointer cannot fault. The chunk layout is
 * glibc's (malloc/malloc.c, unchanged since 2.3): the word before a block
 * is its size with flags PREV_INUSE 1, IS_MMAPPED 2, NON_MAIN_ARENA 4, and
 * the word before that is, for an mmapped chunk, its offset in its mapping. */
static bool libc_owns(void *p) {
  /* Under valgrind, glibc's malloc is valgrind's own, which checks frees
   * itself (and reports nothing through mallinfo2). */
  if (gcl_debug_modes & GCL_DEBUG_VALGRIND) return true;
  struct mallinfo mi = __libc_mallinfo();
  if (!mi.arena && !mi.hblkhd) return false;
  if ((uintptr_t)p & 15) return false;
  size_t h[2], next[2];
  if (gcl_prim_read((char *)p - 16, h, sizeof h)) return false;
  size_t size = h[1] & ~(size_t)7;
  if (size < 32 || size & 15 || size > PTRDIFF_MAX) return false;
  if (h[1] & 2) {
    size_t page = gcl_prim_page_size();
    return (((uintptr_t)p - 16 - h[0]) & (page - 1)) == 0 && ((h[0] + size) & (page - 1)) == 0;
  }
  if (gcl_prim_read((char *)p - 16 + size, next, sizeof next)) return false;
  return next[1] & 1; /* the next chunk records this one as in use */
}

static void libc_free(void *p) {
  if (!libc_owns(p)) gcl_log_fatal(GCL_FATAL_INVALID_FREE, p, NULL);
  __libc_free(p);
}

static void *libc_realloc(void *p, size_t size) {
  if (!libc_owns(p)) gcl_log_fatal(GCL_FATAL_INVALID_REALLOC, p, NULL);
  return __libc_realloc(p, size);
}

static size_t libc_usable_size(void *p) {
  if (!libc_owns(p)) gcl_log_fatal(GCL_FATAL_INVALID_SIZE, p, NULL);
  /* glibc exports no __libc_ alias for this one; a cold path. */
  static size_t (*fn)(void *);
  if (!fn) fn = (size_t(*)(void *))dlsym(RTLD_NEXT, "malloc_usable_size");
  return fn ? fn(p) : 0;
}

static const gcl_foreign_t libc = {libc_free, libc_realloc, libc_usable_size};

/* sbrk is ours, so by default the host heap starts at the program break;
 * the fork handlers are ours (below), registered in place of the core's. */
const gcl_front_t gcl_front = {.name = "elf", .owns_sbrk = true, .drives_fork = true};

/* Fork and stdio. glibc's fork runs the pthread_atfork prepare handlers
 * first and only then takes stdio's list lock, and its own malloc's locks
 * after that (glibc >= 2.24, bug 19431: fflush(NULL) holds the list lock
 * and then takes each stream's lock, and getdelim reallocs while it holds
 * its stream's). An allocator whose prepare handler takes its locks before
 * the list lock deadlocks: the forker holds ours and waits for the list,
 * fflush holds the list and waits for a stream, getline holds the stream
 * and waits for ours (tests/preload/fork_stdio.c). So our prepare handler
 * takes the list lock first, as glibc orders its own malloc: _IO_list_lock
 * is exported by every glibc (GLIBC_2.2.5) and recursive, so fork's own
 * call takes it once more. In the parent fork drops its hold and we drop
 * ours; in the child fork has reset the lock (_IO_list_resetlock) before the
 * child handlers run, so there is nothing of ours to drop. The allocator's
 * locks must still be held across fork: a child must not inherit a span or
 * theap structure that a vanished thread was halfway through updating. */
extern void _IO_list_lock(void);
extern void _IO_list_unlock(void);

static void elf_fork_prepare(void) {
  _IO_list_lock();
  gcl_process_fork_prepare();
}

static void elf_fork_parent(void) {
  gcl_process_fork_parent();
  _IO_list_unlock();
}

static void elf_fork_child(void) {
  gcl_process_fork_child();
}

/* Reserve the region before main, so that its place does not depend on
 * what the program maps first; register the fork handlers once the
 * allocator is up (registering may call malloc). */
__attribute__((constructor)) static void elf_init(void) {
  gcl_process_ensure();
  gcl_prim_atfork(elf_fork_prepare, elf_fork_parent, elf_fork_child);
}

/* malloc's body, for operator new too (whose misses and large sizes go to
 * functions of its own: below): a call to the exported malloc from inside
 * the library would go through the GOT, as the symbol may be interposed,
 * and not be inlined. */
static inline void *elf_malloc(size_t size, gcl_alloc_miss_fn *miss, void *(*large)(size_t)) {
  if (gcl_likely(size <= GCL_DIRECT_MAX)) return gcl_alloc_small_or(size, miss);
  if (gcl_likely(size <= GCL_MEDIUM_MAX)) return gcl_alloc_medium_or(size, miss);
  return large(size);
}

GCL_EXPORT void *malloc(size_t size) {
  return elf_malloc(size, gcl_alloc_refill, gcl_alloc_malloc);
}

GCL_EXPORT void free(void *p) {
  gcl_alloc_free(p, &libc);
}

GCL_EXPORT void *calloc(size_t n, size_t size) { return gcl_alloc_calloc(n, size); }
GCL_EXPORT void *realloc(void *p, size_t size) { return gcl_alloc_realloc(p, size, &libc); }
GCL_EXPORT void *reallocarray(void *p, size_t n, size_t size) { return gcl_alloc_reallocarray(p, n, size, &libc); }
GCL_EXPORT int posix_memalign(void **out, size_t align, size_t size) {
  return gcl_alloc_posix_memalign(out, align, size);
}
GCL_EXPORT void *aligned_alloc(size_t align, size_t size) { return gcl_alloc_aligned_alloc(align, size); }
GCL_EXPORT void *memalign(size_t align, size_t size) { return gcl_alloc_memalign(align, size); }
GCL_EXPORT void *valloc(size_t size) { return gcl_alloc_valloc(size); }
GCL_EXPORT void *pvalloc(size_t size) { return gcl_alloc_pvalloc(size); }
GCL_EXPORT size_t malloc_usable_size(void *p) { return gcl_alloc_usable_size(p, &libc); }

/* C++ sized delete (operator delete(void *, size_t), the array form, and
 * both with std::align_val_t): libstdc++'s own versions only call the
 * unsized operator delete, and so free, losing the size. Defined here, they
 * reach us with it: a free everywhere, and in the hardened mode a check
 * that the size is the one asked for (a delete through a base class
 * without a virtual destructor names the wrong one). The mangled names are
 * the Itanium C++ ABI's, the same for every compiler on ELF.
 *
 * A pointer outside the region came from whoever served operator new
 * without us: it goes on to the next definition of the same operator
 * (libstdc++'s, or an allocator library's, found once with dlsym on this
 * cold path), as if we had not defined it. Under valgrind, for instance,
 * memcheck serves operator new itself, and freeing its blocks with free
 * would be a mismatch. Only if there is none does free take it. */
typedef void sized_delete_fn(void *p, size_t size);
typedef void aligned_delete_fn(void *p, size_t size, size_t align);
static void foreign_delete(void **next, const char *name, void *p, size_t size, size_t align) {
  if (!*next) *next = dlsym(RTLD_NEXT, name);
  if (!*next) libc_free(p);
  else if (align) ((aligned_delete_fn *)*next)(p, size, align); /* std::align_val_t is a size_t */
  else ((sized_delete_fn *)*next)(p, size);
}
#define SIZED_DELETE(name, align)                                              \
  if (gcl_likely(gcl_region_contains(p)) || !p) {                              \
    gcl_alloc_free_sized(p, size, align, &libc);                               \
  } else {                                                                     \
    static void *next;                                                         \
    foreign_delete(&next, name, p, size, align);                               \
  }
void _ZdlPvm(void *p, size_t size);
void _ZdaPvm(void *p, size_t size);
void _ZdlPvmSt11align_val_t(void *p, size_t size, size_t align);
void _ZdaPvmSt11align_val_t(void *p, size_t size, size_t align);
GCL_EXPORT void _ZdlPvm(void *p, size_t size) { SIZED_DELETE("_ZdlPvm", 0) }
GCL_EXPORT void _ZdaPvm(void *p, size_t size) { SIZED_DELETE("_ZdaPvm", 0) }
GCL_EXPORT void _ZdlPvmSt11align_val_t(void *p, size_t size, size_t align) { SIZED_DELETE("_ZdlPvmSt11align_val_t", align) }
GCL_EXPORT void _ZdaPvmSt11align_val_t(void *p, size_t size, size_t align) { SIZED_DELETE("_ZdaPvmSt11align_val_t", align) }

/* C++ operator new, the plain and array forms and their nothrow ones, and
 * the unsized operator delete of each: defined here, a new/delete pair is
 * malloc's and free's fast paths, without a call through libstdc++'s
 * wrappers and their PLT jumps (about 10 instructions a pair, as a C++
 * program such as mimalloc-bench's larson pays on every block). new of 0
 * bytes is malloc(0): a block of its own (in the hardened mode, the
 * inaccessible zero-size block). Only a failed allocation goes on to
 * the next definition of the same operator (libstdc++'s, found once with
 * dlsym on this cold path), which calls malloc again (us), runs the
 * new-handler loop and throws std::bad_alloc or, for nothrow, returns NULL,
 * as the standard asks: C cannot throw. With no next definition (no
 * libstdc++ in the process) it returns NULL. The aligned forms stay
 * libstdc++'s: they round the size up before aligned_alloc, which the
 * hardened mode's sized delete check knows. delete takes a pointer outside
 * the region to the next definition, as the sized forms above do. */
typedef void *new_fn(size_t size);
typedef void *new_nothrow_fn(size_t size, const void *nothrow);
typedef void delete_fn(void *p);
static const char nothrow_tag; /* a std::nothrow_t& for libstdc++'s, which never reads it */
GCL_COLD static void *new_failed(void **next, const char *name, size_t size, bool nothrow) {
  if (!*next) *next = dlsym(RTLD_NEXT, name);
  if (!*next) return NULL;
  return nothrow ? ((new_nothrow_fn *)*next)(size, &nothrow_tag) : ((new_fn *)*next)(size);
}
/* One operator new: malloc's fast paths, whose misses and large sizes go
 * to functions of their own (a tail call each, so that the fast path keeps
 * no register for a failure), which hand a failure to the next new. */
#define NEW_SLOW(sym, nothrow)                                                 \
  static void *sym##_next;                                                     \
  GCL_COLD static void *sym##_miss(size_t size, size_t align, gcl_span_t *s) { \
    void *p = gcl_alloc_refill(size, align, s);                                \
    return p ? p : new_failed(&sym##_next, #sym, size, nothrow);               \
  }                                                                            \
  static void *sym##_large(size_t size) {                                      \
    void *p = gcl_alloc_malloc(size);                                          \
    return p ? p : new_failed(&sym##_next, #sym, size, nothrow);               \
  }
#define NEW(sym) return elf_malloc(size, sym##_miss, sym##_large);
/* delete: free, with a pointer outside the region sent to the next
 * definition of the same operator (or, if none, to glibc's free). */
static void *next_delete, *next_delete_array;
static void foreign_unsized(void **next, const char *name, void *p) {
  if (!*next) *next = dlsym(RTLD_NEXT, name);
  if (*next) ((delete_fn *)*next)(p);
  else libc_free(p);
}
static void delete_foreign(void *p) { foreign_unsized(&next_delete, "_ZdlPv", p); }
static void delete_array_foreign(void *p) { foreign_unsized(&next_delete_array, "_ZdaPv", p); }
static const gcl_foreign_t cxx_delete = {delete_foreign, libc_realloc, libc_usable_size};
static const gcl_foreign_t cxx_delete_array = {delete_array_foreign, libc_realloc, libc_usable_size};

NEW_SLOW(_Znwm, false)
NEW_SLOW(_Znam, false)
NEW_SLOW(_ZnwmRKSt9nothrow_t, true)
NEW_SLOW(_ZnamRKSt9nothrow_t, true)
void *_Znwm(size_t size);
void *_Znam(size_t size);
void *_ZnwmRKSt9nothrow_t(size_t size, const void *nothrow);
void *_ZnamRKSt9nothrow_t(size_t size, const void *nothrow);
GCL_EXPORT void *_Znwm(size_t size) { NEW(_Znwm) }
GCL_EXPORT void *_Znam(size_t size) { NEW(_Znam) }
GCL_EXPORT void *_ZnwmRKSt9nothrow_t(size_t size, const void *nothrow) {
  (void)nothrow;
  NEW(_ZnwmRKSt9nothrow_t)
}
GCL_EXPORT void *_ZnamRKSt9nothrow_t(size_t size, const void *nothrow) {
  (void)nothrow;
  NEW(_ZnamRKSt9nothrow_t)
}
void _ZdlPv(void *p);
void _ZdaPv(void *p);
void _ZdlPvRKSt9nothrow_t(void *p, const void *nothrow);
void _ZdaPvRKSt9nothrow_t(void *p, const void *nothrow);
GCL_EXPORT void _ZdlPv(void *p) { gcl_alloc_free(p, &cxx_delete); }
GCL_EXPORT void _ZdaPv(void *p) { gcl_alloc_free(p, &cxx_delete_array); }
GCL_EXPORT void _ZdlPvRKSt9nothrow_t(void *p, const void *nothrow) {
  (void)nothrow;
  gcl_alloc_free(p, &cxx_delete);
}
GCL_EXPORT void _ZdaPvRKSt9nothrow_t(void *p, const void *nothrow) {
  (void)nothrow;
  gcl_alloc_free(p, &cxx_delete_array);
}

/* glibc's malloc_trim would trim glibc's empty heap; trim ours instead. */
GCL_EXPORT int malloc_trim(size_t pad) {
  (void)pad;
  return gcl_alloc_trim() > 0;
}

/* ---- glibc's malloc introspection, answered for us ---------------------------
 * Programs ask glibc's questions (Emacs's malloc-info and memory-report,
 * mallinfo2 in tools, mallopt in configuration code); preloaded, these
 * definitions answer them with the arena's figures, not glibc's empty heap.
 * The arena is glibc's "arena" (its committed bytes), every block handed out
 * is in uordblks, large ones included: libgclzone maps no block on its own,
 * so hblks and hblkhd are 0 and uordblks + hblkhd is, as with glibc, what
 * the program holds. */

static struct mallinfo2 info(void) {
  gcl_process_ensure();
  gclzone_stats_t s;
  gclzone_stats(&s);
  struct mallinfo2 m = {0};
  m.arena = s.committed_bytes;                                        /* system bytes */
  m.uordblks = s.in_use_bytes;                                        /* in use */
  m.fordblks = s.committed_bytes > s.in_use_bytes ? s.committed_bytes - s.in_use_bytes : 0; /* free */
  m.keepcost = s.dirty_bytes;                                         /* what malloc_trim can give back */
  m.usmblks = s.committed_peak; /* glibc leaves it 0; the peak is what it once meant */
  return m;
}

GCL_EXPORT struct mallinfo2 mallinfo2(void) {
  return info();
}

static int clamp(size_t v) {
  return v > INT_MAX ? INT_MAX : (int)v;
}

/* The int version saturates where glibc's wraps. */
GCL_EXPORT struct mallinfo mallinfo(void) {
  struct mallinfo2 m = info();
  return (struct mallinfo){clamp(m.arena), clamp(m.ordblks), clamp(m.smblks),  clamp(m.hblks), clamp(m.hblkhd),
                           clamp(m.usmblks), clamp(m.fsmblks), clamp(m.uordblks), clamp(m.fordblks),
                           clamp(m.keepcost)};
}

/* glibc's lines on stderr, with our figures, then our own report. */
GCL_EXPORT void malloc_stats(void) {
  struct mallinfo2 m = info();
  gcl_log_printf(2, "Arena 0:\nsystem bytes     = %10zu\nin use bytes     = %10zu\n", m.arena, m.uordblks);
  gcl_log_printf(2, "Total (incl. mmap):\nsystem bytes     = %10zu\nin use bytes     = %10zu\n", m.arena, m.uordblks);
  gcl_log_printf(2, "max mmap regions = %10zu\nmax mmap bytes   = %10zu\n", (size_t)0, (size_t)0);
  gcl_introspect_report(2);
}

/* glibc's XML, one <heap> for the arena (free chunks are not counted: the
 * count is 0, their bytes the committed bytes not in use), and our figures,
 * the host heap's among them, in a <gclzone> element of their own. The caller hands us a FILE: this is the one function of the
 * library that writes through stdio (it runs outside the allocator, at the
 * caller's request, never inside malloc). options must be 0 (EINVAL). */
GCL_EXPORT int malloc_info(int options, FILE *fp) {
  if (options != 0) {
    errno = EINVAL;
    return -1;
  }
  struct mallinfo2 m = info();
  gclzone_stats_t s;
  gclzone_stats(&s);
  gclzone_bounds_t h = gclzone_heap_bounds();
  char buf[2048];
  size_t n = gcl_log_fmt(buf, sizeof buf,
    "<malloc version=\"1\">\n"
    "<heap nr=\"0\">\n<sizes>\n</sizes>\n"
    "<total type=\"fast\" count=\"0\" size=\"0\"/>\n"
    "<total type=\"rest\" count=\"0\" size=\"%zu\"/>\n"
    "<system type=\"current\" size=\"%zu\"/>\n<system type=\"max\" size=\"%zu\"/>\n"
    "<aspace type=\"total\" size=\"%zu\"/>\n<aspace type=\"mprotect\" size=\"%zu\"/>\n"
    "</heap>\n"
    "<total type=\"fast\" count=\"0\" size=\"0\"/>\n"
    "<total type=\"rest\" count=\"0\" size=\"%zu\"/>\n"
    "<total type=\"mmap\" count=\"0\" size=\"0\"/>\n"
    "<system type=\"current\" size=\"%zu\"/>\n<system type=\"max\" size=\"%zu\"/>\n"
    "<aspace type=\"total\" size=\"%zu\"/>\n<aspace type=\"mprotect\" size=\"%zu\"/>\n"
    "<gclzone in-use-blocks=\"%zu\" in-use-bytes=\"%zu\" arena-spans=\"%zu\" dirty=\"%zu\" "
    "host-heap=\"%zu\" host-heap-peak=\"%zu\" host-heap-capacity=\"%zu\" threads=\"%zu\"/>\n"
    "</malloc>\n",
    m.fordblks, m.arena, s.committed_peak, m.arena, m.arena,
    m.fordblks, m.arena, s.committed_peak, m.arena, m.arena,
    s.in_use_blocks, s.in_use_bytes, s.arena_used_bytes, s.dirty_bytes, s.heap_bytes, s.heap_peak,
    (size_t)((char *)h.limit - (char *)h.base), s.threads);
  if (n >= sizeof buf) n = sizeof buf - 1;
  return fwrite(buf, 1, n, fp) == n ? 0 : -1;
}

/* glibc's parameters that mean something here: M_TRIM_THRESHOLD, the free
 * memory kept before it is given back, is GCLZONE_DIRTY_MAX, and the cap
 * then no longer grows with the heap (GCLZONE_DIRTY_SHARE becomes 0), as
 * glibc's setting turns off its own dynamic thresholds. Every other
 * (M_MMAP_THRESHOLD, M_ARENA_MAX, M_PERTURB, ...) has no counterpart and
 * gets 0, glibc's answer to a parameter it does not know. */
GCL_EXPORT int mallopt(int param, int value) {
  gcl_process_ensure();
  if (param == M_TRIM_THRESHOLD && value >= 0)
    return gcl_options_tune(GCL_OPTION_DIRTY_SHARE, 0) == 0 && gcl_options_tune(GCL_OPTION_DIRTY_MAX, (uint64_t)value) == 0;
  return 0;
}

/* ---- RLIMIT_AS ---------------------------------------------------------------
 * The reservation counts against the address-space limit, so a program
 * that lowers RLIMIT_AS after start (test harnesses, sandboxes, glibc's
 * tst-malloc-thread-fail) could no longer create threads, map memory or
 * dlopen. Before such a limit takes effect the region is shrunk to what is
 * committed plus a share of what the limit leaves (gcl_process_fit); then
 * the kernel's prlimit does the rest. glibc's setrlimit64 and prlimit64 are
 * the same functions on 64-bit targets. */
static int limit_as(int pid, int resource, const struct rlimit *new_limit, struct rlimit *old_limit) {
  if (resource == RLIMIT_AS && new_limit && (pid == 0 || pid == getpid())) gcl_process_fit(new_limit->rlim_cur);
  int err = gcl_prim_prlimit(pid, resource, new_limit, old_limit);
  if (err) {
    errno = err;
    return -1;
  }
  return 0;
}

GCL_EXPORT int setrlimit(__rlimit_resource_t resource, const struct rlimit *rl) {
  return limit_as(0, (int)resource, rl, NULL);
}
GCL_EXPORT int setrlimit64(__rlimit_resource_t resource, const struct rlimit64 *rl) {
  return limit_as(0, (int)resource, (const struct rlimit *)rl, NULL);
}
GCL_EXPORT int prlimit(pid_t pid, __rlimit_resource_t resource, const struct rlimit *new_limit, struct rlimit *old) {
  return limit_as(pid, (int)resource, new_limit, old);
}
GCL_EXPORT int prlimit64(pid_t pid, __rlimit_resource_t resource, const struct rlimit64 *new_limit,
                         struct rlimit64 *old) {
  return limit_as(pid, (int)resource, (const struct rlimit *)new_limit, (struct rlimit *)old);
}

/* sbrk and brk serve the host heap unless GCLZONE_SBRK=0. glibc's malloc
 * calls its internal __sbrk, never these, so it cannot reach the host heap. */
GCL_EXPORT void *sbrk(intptr_t increment) {
  gcl_process_ensure();
  if (gcl_options.sbrk) return gcl_alloc_sbrk(increment);
  return __sbrk(increment);
}

GCL_EXPORT int brk(void *addr) {
  gcl_process_ensure();
  if (gcl_options.sbrk) return gcl_alloc_brk(addr);
  void *cur = __sbrk(0);
  if (cur == (void *)-1 || __sbrk((intptr_t)((uintptr_t)addr - (uintptr_t)cur)) == (void *)-1) {
    errno = ENOMEM;
    return -1;
  }
  return 0;
}

/* prim.h: everything libgclzone needs from the operating system.
 *
 * This header is the whole platform contract: the core calls nothing of the
 * OS but what is declared here. It is implemented once per OS family
 * (prim_posix.c today, for Linux and Darwin), and it is the only header in
 * the core allowed to test __linux__ / __APPLE__ (as GCL_OS_* 0/1 macros).
 *
 * Conventions (the library's one error convention, internal.h):
 *  - a primitive that can fail returns 0 on success or an errno value;
 *  - addresses and sizes passed to the memory primitives are page aligned;
 *  - no primitive allocates, uses stdio, or calls anything that may.
 */
#ifndef GCL_PRIM_H
#define GCL_PRIM_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#pragma GCC visibility push(hidden) /* as in internal.h */

#if defined(__APPLE__) && defined(__MACH__)
#define GCL_OS_DARWIN 1
#else
#define GCL_OS_DARWIN 0
#endif
#if defined(__linux__)
#define GCL_OS_LINUX 1
#else
#define GCL_OS_LINUX 0
#endif

/* ---- Address space -------------------------------------------------------
 * reserve:  map `size` bytes with no access and no commit charge. With
 *           hint != 0 and exact, succeed only at exactly `hint` (EEXIST when
 *           the range is taken); never replaces an existing mapping.
 * release:  unmap a reservation (only used to undo one that is unusable).
 * commit:   make reserved pages readable and writable. Pages never written
 *           since reserve/decommit/purge read as zero.
 * reserved: is [p, p+size) still all our reservation, i.e. mapped with no
 *           access (a program may map over it with MAP_FIXED, or unmap part
 *           of it)? 0, or EEXIST when something else is there. Linux reads
 *           /proc/self/maps; where that cannot be read, 0.
 * decommit: give the pages back to the OS and make them inaccessible again.
 * purge:    give the pages back to the OS; they stay accessible and read as
 *           zero on the next touch (MADV_DONTNEED semantics).           */
int gcl_prim_reserve(size_t size, uintptr_t hint, bool exact, void **out);
int gcl_prim_release(void *p, size_t size);
int gcl_prim_commit(void *p, size_t size);
int gcl_prim_reserved(const void *p, size_t size);
int gcl_prim_decommit(void *p, size_t size);
int gcl_prim_purge(void *p, size_t size);
size_t gcl_prim_page_size(void);
/* move:     move the pages of [from, from+size) to [to, to+size) without
 *           copying them (page aligned, disjoint, both accessible ranges of
 *           our reservation): `to` then holds from's bytes, and `from` stays
 *           accessible and reads as zero on the next touch. 0, or errno with
 *           nothing changed: ENOTSUP where the OS cannot (Darwin for now; Linux
 *           before 5.7; a region holding file mappings), ENOSPC while the
 *           process has too many kernel mappings for another. The caller
 *           then copies. */
int gcl_prim_move(void *from, void *to, size_t size);

/* ---- Files (heap images: image.c) -----------------------------------------
 * file_open:   open path for reading, or (create) make it anew for writing
 *              (O_EXCL: never an existing file; mode 0666 less the umask);
 *              close-on-exec. 0 or errno, the descriptor in *fd.
 * file_close:  close fd; errors are ignored (errno is kept).
 * file_size:   the file's length (lseek to its end: no struct stat, whose
 *              layout and symbol differ between Darwin's x86_64 and arm64).
 * file_read:   read exactly n bytes at offset (pread, retried on EINTR and
 *              short reads): 0, errno, or EIO when the file ends first.
 * file_write:  write all n bytes at offset (pwrite, a megabyte at a time,
 *              retried likewise).
 * file_sync:   flush the file's data to stable storage.
 * file_rename: rename from to to, replacing to atomically.
 * file_remove: unlink path.
 * file_map:    map len bytes of fd from offset (page aligned) over
 *              [addr, addr + len), inside our reservation: private
 *              copy-on-write, readable and writable, nothing read now.
 * purge_by_remap: from now on purge maps fresh anonymous pages instead of
 *              advising the kernel: the region holds private file mappings,
 *              and MADV_DONTNEED on those brings the file's bytes back, not
 *              zeros (Linux, every version: madvise(2)). errno is kept by
 *              all of these. */
int gcl_prim_file_open(const char *path, bool create, int *fd);
void gcl_prim_file_close(int fd);
int gcl_prim_file_size(int fd, uint64_t *size);
int gcl_prim_file_read(int fd, uint64_t offset, void *buf, size_t n);
int gcl_prim_file_write(int fd, uint64_t offset, const void *buf, size_t n);
int gcl_prim_file_sync(int fd);
int gcl_prim_file_rename(const char *from, const char *to);
int gcl_prim_file_remove(const char *path);
int gcl_prim_file_map(int fd, uint64_t offset, void *addr, size_t len);
void gcl_prim_purge_by_remap(void);

/* ---- Process facts -------------------------------------------------------
 * environ:  the environment block, scanned without getenv (safe before libc
 *           is fully up; may return NULL).
 * random:   64 unpredictable bits, without a system call when possible.
 * clock_ms: a cheap monotonic clock in milliseconds.
 * program_break: the end of the program's data segment as the kernel's brk
 *           keeps it, rounded up to a page; 0 where there is no such thing. */
char **gcl_prim_environ(void);
uint64_t gcl_prim_random(void);
uint64_t gcl_prim_clock_ms(void);
uintptr_t gcl_prim_program_break(void);

/* ---- Output ---------------------------------------------------------------
 * write:    write all of s to fd with write(2), retrying on EINTR; errors
 *           are ignored (there is nowhere to report them). errno is kept.
 * read:     copy n bytes from addr, or fail with EFAULT if any of them is
 *           not readable, without a signal (to vet pointers we did not make).
 * dup_fd:   a close-on-exec duplicate of fd numbered >= 3, or -1.
 * create_locked: open `path` for writing (created 0644, close-on-exec),
 *           take an exclusive advisory lock on it without waiting (flock:
 *           EWOULDBLOCK when another process holds it), then empty it;
 *           *fd gets the descriptor. 0 or an errno value, nothing left open.
 * close:    close fd, keeping errno.
 * rss:      the process's resident bytes now (Linux: /proc/self/statm, its
 *           descriptor kept open after the first call); 0 where unknown.
 * vm_size:  the process's address space in use, what RLIMIT_AS counts (the
 *           same file's first field); 0 where unknown.
 * as_limit: the soft RLIMIT_AS, or SIZE_MAX when there is none.
 * prlimit:  prlimit(2) itself (pid 0: this process), so that a front end
 *           that wraps setrlimit can still call the kernel's. 0 or errno.
 * abort:    end the process with SIGABRT, even if SIGABRT is caught.     */
void gcl_prim_write(int fd, const char *s, size_t n);
int gcl_prim_read(const void *addr, void *buf, size_t n); /* copy without faulting: 0 or EFAULT */
int gcl_prim_dup_fd(int fd);
int gcl_prim_create_locked(const char *path, int *fd);
void gcl_prim_close(int fd);
size_t gcl_prim_rss(void);
size_t gcl_prim_vm_size(void);
size_t gcl_prim_as_limit(void);
int gcl_prim_prlimit(int pid, int resource, const void *new_limit, void *old_limit);
_Noreturn void gcl_prim_abort(void);

/* ---- Faults ----------------------------------------------------------------
 * fault_hook: from now on, a memory fault (SIGSEGV, SIGBUS) raised by the
 *           kernel first calls fn(the faulting address), in the signal
 *           handler; if fn returns, the fault goes where it went before
 *           (the handler that was installed, or the default action). A
 *           handler the program installs later replaces this one. Once per
 *           process; 0, or ENOSYS where it is not implemented (Darwin). */
int gcl_prim_fault_hook(void (*fn)(void *addr));

/* ---- Threads ---------------------------------------------------------------
 * thread_key: create the thread slot; `destructor` runs at thread exit with
 *           the slot's value (never for the main thread's exit). Called once,
 *           at process init, before any tls_set.
 * tls_get:  the calling thread's theap (thread heap): the value last given to tls_set, or
 *           &gcl_theap_empty. On the fast paths: one load on Linux.
 * tls_set:  set it (NULL: back to &gcl_theap_empty, and no destructor call).
 * thread_self: a word naming the calling thread: never 0, and never the
 *           same for two live threads (a new thread may get a dead one's).
 *           Linux: the thread pointer, one %fs-relative load on x86-64 (the
 *           word glibc's pthread_self returns); it never allocates, so the
 *           fast paths and a lock taken inside malloc may use it. Elsewhere
 *           pthread_self(): on Darwin a read of the thread's TSD base, not a
 *           __thread access (see below).
 * atfork:   register the fork handlers (prepare, parent, child).
 *
 * Linux keeps the theap in an initial-exec __thread variable (one %fs-relative
 * load; glibc requires initial-exec TLS of a malloc). Darwin must not: dyld
 * allocates a thread's __thread block with malloc on its first access (all
 * macOS versions with TLV, 10.7+), which would recurse into the allocator; a
 * pthread key read is a %gs-relative load that never allocates.       */
struct gcl_theap;
extern struct gcl_theap gcl_theap_empty;
int gcl_prim_thread_key(void (*destructor)(void *));
int gcl_prim_atfork(void (*prepare)(void), void (*parent)(void), void (*child)(void));

#if GCL_OS_LINUX && (defined(__x86_64__) || defined(__aarch64__))
static inline uintptr_t gcl_prim_thread_self(void) {
  return (uintptr_t)__builtin_thread_pointer();
}
#else
static inline uintptr_t gcl_prim_thread_self(void) {
  return (uintptr_t)pthread_self();
}
#endif

#if GCL_OS_DARWIN
extern pthread_key_t gcl_prim_key;
static inline struct gcl_theap *gcl_prim_tls_get(void) {
  struct gcl_theap *h = (struct gcl_theap *)pthread_getspecific(gcl_prim_key);
  return h ? h : &gcl_theap_empty;
}
static inline void gcl_prim_tls_set(struct gcl_theap *h) {
  pthread_setspecific(gcl_prim_key, h);
}
#else
extern pthread_key_t gcl_prim_key;
extern __thread struct gcl_theap *gcl_prim_tls __attribute__((tls_model("initial-exec")));
static inline struct gcl_theap *gcl_prim_tls_get(void) {
  return gcl_prim_tls;
}
static inline void gcl_prim_tls_set(struct gcl_theap *h) {
  gcl_prim_tls = h ? h : &gcl_theap_empty;
  pthread_setspecific(gcl_prim_key, h); /* for the exit destructor */
}
#endif

/* ---- Locks -----------------------------------------------------------------
 * A lock that knows its holder, so that a fork handler can tell a lock held
 * by the forking thread itself (a signal handler that interrupted the
 * allocator) from one held by another thread. Taking the lock and becoming
 * its known holder must be one atomic step: a separate "holder" field set
 * after acquiring leaves a window in which a signal handler that forks would
 * wait for itself forever.
 *
 * Linux: the lock word is the holder's thread id shifted left, with bit 0
 * set while others wait (a futex; thread ids fit in 30 bits, pid_max is at
 * most 2^22). Elsewhere: a pthread mutex plus a holder field (see above for
 * its window), the holder being gcl_prim_thread_self().               */
#if GCL_OS_LINUX
typedef struct gcl_lock {
  int word; /* 0 free, else holder tid << 1 | waiters */
} gcl_lock_t;
#define GCL_LOCK_INIT {0}

int gcl_prim_tid(void);        /* the calling thread's id, cached */
void gcl_prim_tid_reset(void); /* in a fork child: the cache is the parent's */
void gcl_prim_lock_slow(gcl_lock_t *l);
void gcl_prim_lock_wake(gcl_lock_t *l);

static inline bool gcl_prim_trylock(gcl_lock_t *l) {
  int free = 0;
  return __atomic_compare_exchange_n(&l->word, &free, gcl_prim_tid() << 1, false, __ATOMIC_ACQUIRE,
                                     __ATOMIC_RELAXED);
}
static inline void gcl_prim_lock(gcl_lock_t *l) {
  if (!gcl_prim_trylock(l)) gcl_prim_lock_slow(l);
}
static inline void gcl_prim_unlock(gcl_lock_t *l) {
  if (__atomic_exchange_n(&l->word, 0, __ATOMIC_RELEASE) & 1) gcl_prim_lock_wake(l);
}
static inline bool gcl_prim_lock_held(gcl_lock_t *l) {
  return (__atomic_load_n(&l->word, __ATOMIC_RELAXED) >> 1) == gcl_prim_tid();
}
/* Only in a fork child, where no other thread exists any more. */
static inline void gcl_prim_lock_reinit(gcl_lock_t *l) {
  __atomic_store_n(&l->word, 0, __ATOMIC_RELAXED);
}
#else
typedef struct gcl_lock {
  pthread_mutex_t mutex;
  uintptr_t holder; /* accessed with __atomic builtins */
} gcl_lock_t;
#define GCL_LOCK_INIT {PTHREAD_MUTEX_INITIALIZER, 0}

static inline void gcl_prim_tid_reset(void) {}

static inline void gcl_prim_lock(gcl_lock_t *l) {
  pthread_mutex_lock(&l->mutex);
  __atomic_store_n(&l->holder, gcl_prim_thread_self(), __ATOMIC_RELAXED);
}
static inline bool gcl_prim_trylock(gcl_lock_t *l) {
  if (pthread_mutex_trylock(&l->mutex) != 0) return false;
  __atomic_store_n(&l->holder, gcl_prim_thread_self(), __ATOMIC_RELAXED);
  return true;
}
static inline void gcl_prim_unlock(gcl_lock_t *l) {
  __atomic_store_n(&l->holder, 0, __ATOMIC_RELAXED);
  pthread_mutex_unlock(&l->mutex);
}
static inline bool gcl_prim_lock_held(gcl_lock_t *l) {
  return __atomic_load_n(&l->holder, __ATOMIC_RELAXED) == gcl_prim_thread_self();
}
static inline void gcl_prim_lock_reinit(gcl_lock_t *l) {
  pthread_mutex_init(&l->mutex, NULL);
  __atomic_store_n(&l->holder, 0, __ATOMIC_RELAXED);
}
#endif

#pragma GCC visibility pop

#endif /* GCL_PRIM_H */

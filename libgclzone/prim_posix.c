/* prim_posix.c: the primitives of prim.h for POSIX systems (Linux, Darwin).
 *
 * The only core file with OS-specific code. Every function keeps the
 * contract written in prim.h; where Linux and Darwin differ the difference
 * is commented with the version that needs it.
 */
#define _GNU_SOURCE
#include "prim.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h> /* rename(2) only: no stdio stream is ever used */
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#if GCL_OS_LINUX
#include <linux/futex.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#define gcl_unlikely_prim(x) __builtin_expect(!!(x), 0)

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ volatile("yield");
#endif
}
#endif
#if GCL_OS_DARWIN
#include <crt_externs.h>
#include <sys/random.h>
#endif

#if GCL_OS_DARWIN
/* Darwin has no MAP_NORESERVE: anonymous memory carries no commit charge
 * there until it is touched, which is what we want anyway. */
#define GCL_MAP_NORESERVE 0
#else
#define GCL_MAP_NORESERVE MAP_NORESERVE
#endif

#define GCL_MAP_RESERVE (MAP_PRIVATE | MAP_ANONYMOUS | GCL_MAP_NORESERVE)

int gcl_prim_reserve(size_t size, uintptr_t hint, bool exact, void **out) {
  int flags = GCL_MAP_RESERVE;
#if defined(MAP_FIXED_NOREPLACE)
  /* Linux >= 4.17 refuses (EEXIST) instead of picking another address;
   * older kernels ignore the flag and treat hint as a hint, which the check
   * below catches. Never MAP_FIXED: it would silently replace mappings. */
  if (exact) flags |= MAP_FIXED_NOREPLACE;
#endif
  void *p = mmap((void *)hint, size, PROT_NONE, flags, -1, 0);
  if (p == MAP_FAILED) return errno == EEXIST ? EEXIST : ENOMEM;
  if (exact && (uintptr_t)p != hint) {
    munmap(p, size);
    return EEXIST;
  }
  *out = p;
  return 0;
}

int gcl_prim_release(void *p, size_t size) {
  return munmap(p, size) == 0 ? 0 : errno;
}

int gcl_prim_commit(void *p, size_t size) {
  return mprotect(p, size, PROT_READ | PROT_WRITE) == 0 ? 0 : errno;
}

#if GCL_OS_LINUX
static uintptr_t hex(const char **s) {
  uintptr_t v = 0;
  for (;; ++*s) {
    char c = **s;
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (d < 0) return v;
    v = v * 16 + (uintptr_t)d;
  }
}

/* One line of /proc/self/maps, "start-end perms ...": does it leave
 * [*cursor, end) unbroken? Advances *cursor over what it covers. */
static int maps_line(const char *line, uintptr_t *cursor, uintptr_t end) {
  uintptr_t lo = hex(&line);
  if (*line++ != '-') return 0;
  uintptr_t hi = hex(&line);
  if (*line++ != ' ' || hi <= *cursor || lo >= end) return 0;
  if (lo > *cursor) return EEXIST;                                   /* a hole: part of it was unmapped */
  if (line[0] != '-' || line[1] != '-' || line[2] != '-') return EEXIST; /* someone's accessible mapping */
  *cursor = hi;
  return 0;
}

/* Files read from inside malloc (/proc/self/maps for region.c's growth
 * check and the move budget, /proc/self/statm for the timeline): open,
 * read, pread and close are cancellation points (POSIX), and malloc must
 * not be one (a thread with a cancellation pending would be cancelled
 * inside it, its locks held); syscall(2) is not one. Each keeps errno. */
static int nc_open(const char *path) {
  int saved = errno;
  int fd = (int)syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
  errno = saved;
  return fd;
}
static ssize_t nc_pread(int fd, char *buf, size_t n, long offset) {
  int saved = errno;
  ssize_t r;
  do r = offset < 0 ? syscall(SYS_read, fd, buf, n) : syscall(SYS_pread64, fd, buf, n, offset);
  while (r < 0 && errno == EINTR);
  errno = saved;
  return r;
}
static void nc_close(int fd) {
  int saved = errno;
  syscall(SYS_close, fd);
  errno = saved;
}

int gcl_prim_reserved(const void *p, size_t size) {
  int saved = errno;
  int fd = nc_open("/proc/self/maps");
  if (fd < 0) {
    errno = saved;
    return 0; /* no /proc: nothing to tell */
  }
  uintptr_t cursor = (uintptr_t)p, end = cursor + size;
  char buf[4096];
  size_t have = 0;
  int err = 0;
  ssize_t r;
  while (!err && cursor < end && (r = nc_pread(fd, buf + have, sizeof buf - 1 - have, -1)) > 0) {
    have += (size_t)r;
    buf[have] = 0;
    char *line = buf, *nl;
    while (!err && cursor < end && (nl = __builtin_strchr(line, '\n'))) {
      *nl = 0;
      err = maps_line(line, &cursor, end);
      line = nl + 1;
    }
    have = (size_t)(buf + have - line);
    __builtin_memmove(buf, line, have);
    if (have == sizeof buf - 1) have = 0; /* a line longer than the buffer: its path, drop it */
  }
  nc_close(fd);
  errno = saved;
  return err ? err : cursor < end ? EEXIST : 0;
}
#else
int gcl_prim_reserved(const void *p, size_t size) {
  (void)p, (void)size;
  return 0; /* mach_vm_region would tell; not yet */
}
#endif

int gcl_prim_decommit(void *p, size_t size) {
  /* Replacing our own pages with a fresh reserved mapping frees them and
   * restores PROT_NONE in one call. MAP_FIXED is safe here: the range is
   * inside our own reservation. */
  void *q = mmap(p, size, PROT_NONE, MAP_FIXED | GCL_MAP_RESERVE, -1, 0);
  return q == MAP_FAILED ? errno : 0;
}

/* Set once, by an image restore before the process is ready: the region
 * then holds private file mappings (gcl_prim_purge_by_remap). */
static int purge_remaps;

/* Fresh zero-fill pages over [p, p + size), inside our reservation (so
 * MAP_FIXED replaces only our own pages, and leaves no hole). */
static int remap_fresh(void *p, size_t size) {
  void *q = mmap(p, size, PROT_READ | PROT_WRITE, MAP_FIXED | GCL_MAP_RESERVE, -1, 0);
  return q == MAP_FAILED ? errno : 0;
}

void gcl_prim_purge_by_remap(void) {
  __atomic_store_n(&purge_remaps, 1, __ATOMIC_RELAXED);
}

#if GCL_OS_DARWIN
/* Darwin has no madvise that zeroes at our macOS 11 floor: MADV_DONTNEED
 * only lowers the pages' priority and keeps their contents, and MADV_FREE /
 * MADV_FREE_REUSABLE let the kernel take them lazily, so a page may read back
 * its old bytes (every macOS version). The arena needs zeros (calloc skips
 * the memset on purged spans), so we try MADV_ZERO (11 in xnu's mman.h,
 * added after macOS 11; older kernels refuse it with an error) and
 * otherwise map fresh zero-fill pages over the range. MAP_FIXED is safe:
 * the range is inside our own reservation, and replacing it leaves no hole
 * in the address space. WebKit's libpas does the same two steps. */
#define GCL_MADV_ZERO 11
static int madv_zero_works = 1; /* relaxed: a latch, any stale value is harmless */

int gcl_prim_purge(void *p, size_t size) {
  if (__atomic_load_n(&purge_remaps, __ATOMIC_RELAXED)) return remap_fresh(p, size);
  if (__atomic_load_n(&madv_zero_works, __ATOMIC_RELAXED)) {
    if (madvise(p, size, GCL_MADV_ZERO) == 0) return 0;
    __atomic_store_n(&madv_zero_works, 0, __ATOMIC_RELAXED);
  }
  return remap_fresh(p, size);
}
#else
int gcl_prim_purge(void *p, size_t size) {
  if (__atomic_load_n(&purge_remaps, __ATOMIC_RELAXED)) return remap_fresh(p, size);
  /* MADV_DONTNEED, not MADV_FREE: with MADV_FREE (Linux >= 4.5) the pages
   * stay in the RSS until the kernel is short of memory, which hides what
   * we gave back and makes RSS figures meaningless. */
  return madvise(p, size, MADV_DONTNEED) == 0 ? 0 : errno;
}
#endif

/* ---- moving pages ------------------------------------------------------------- */

#if GCL_OS_LINUX
/* mremap with MREMAP_DONTUNMAP (Linux >= 5.7 for private anonymous memory)
 * moves the pages and leaves the source mapped and empty, so no hole opens
 * in our reservation for another mmap to land in; MREMAP_FIXED replaces
 * what was at `to`, our own pages. Older kernels refuse the flag (EINVAL),
 * and so does 5.7 to 5.12 for any other kind of mapping: then moving is off
 * for good. The pages of a private file mapping (an image's, after
 * purge_by_remap) would leave the file's bytes behind, not zeros: no moves
 * there.
 *
 * Each move leaves the moved range a kernel mapping (VMA) of its own: an
 * anonymous VMA keeps the page offset of the address it was made at, so a
 * moved one does not merge with its neighbours, and the reservation splits
 * into more pieces with each move: two, or more when the source was
 * already several (Linux >= 6.17 moves a range across mappings). Seen on
 * Linux 6.18 when realloc moved into every span (b4504ee): bench's realloc
 * ended with 43 mappings without moves, 600 with them, 794 with four times
 * the work; 420 with moves into clean spans only. A process has at most
 * vm.max_map_count of them (65530 by default), and past that every mmap
 * and mprotect in it fails. So moves are counted out: the process's
 * mappings are counted in /proc/self/maps before the first move and after
 * each batch, a batch is at most a quarter of what is left below
 * MOVE_MAPS_MAX, and while the count is above it there are no moves (it is
 * counted again every MOVE_BATCH refusals); where /proc cannot be read,
 * there are none. */
#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4 /* <linux/mman.h>; glibc's headers have it from 2.32 */
#endif
#define MOVE_BATCH 256
#define MOVE_MAPS_MAX 8192
static int move_works = 1;   /* relaxed: a latch */
static long moves_left;      /* atomic: moves allowed before the next count */
static unsigned long refused; /* atomic: moves refused since the count */

/* The lines of /proc/self/maps, or -1. */
static long maps_count(void) {
  int fd = nc_open("/proc/self/maps");
  long lines = -1;
  if (fd >= 0) {
    char buf[4096];
    ssize_t r;
    lines = 0;
    while ((r = nc_pread(fd, buf, sizeof buf, -1)) > 0)
      for (ssize_t i = 0; i < r; i++) lines += buf[i] == '\n';
    if (r < 0) lines = -1;
    nc_close(fd);
  }
  return lines;
}

/* May one more move split the reservation? */
static bool move_allowed(void) {
  if (__atomic_fetch_sub(&moves_left, 1, __ATOMIC_RELAXED) > 0) return true;
  if (__atomic_fetch_add(&refused, 1, __ATOMIC_RELAXED) % MOVE_BATCH) return false;
  long n = maps_count();
  if (n < 0 || n >= MOVE_MAPS_MAX) return false;
  long left = (MOVE_MAPS_MAX - n) / 4;
  __atomic_store_n(&moves_left, left < MOVE_BATCH ? left : MOVE_BATCH, __ATOMIC_RELAXED);
  __atomic_store_n(&refused, 0, __ATOMIC_RELAXED);
  return true;
}

int gcl_prim_move(void *from, void *to, size_t size) {
  if (!__atomic_load_n(&move_works, __ATOMIC_RELAXED) || __atomic_load_n(&purge_remaps, __ATOMIC_RELAXED))
    return ENOTSUP;
  if (!move_allowed()) return ENOSPC;
  int saved = errno;
  void *q = mremap(from, size, size, MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP, to);
  int err = q == MAP_FAILED ? errno : q == to ? 0 : EFAULT;
  errno = saved;
  if (err == EINVAL) {
    __atomic_store_n(&move_works, 0, __ATOMIC_RELAXED);
    return ENOTSUP;
  }
  return err;
}
#else
/* Darwin: no move yet (mach_vm_remap is the candidate): realloc copies. */
int gcl_prim_move(void *from, void *to, size_t size) {
  (void)from, (void)to, (void)size;
  return ENOTSUP;
}
#endif

/* ---- files ---------------------------------------------------------------------- */

int gcl_prim_file_open(const char *path, bool create, int *fd) {
  int saved = errno, f;
  do {
    f = create ? open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666) : open(path, O_RDONLY | O_CLOEXEC);
  } while (f < 0 && errno == EINTR);
  int err = f < 0 ? errno : 0;
  errno = saved;
  if (!err) *fd = f;
  return err;
}

void gcl_prim_file_close(int fd) {
  int saved = errno;
  close(fd);
  errno = saved;
}

int gcl_prim_file_size(int fd, uint64_t *size) {
  int saved = errno;
  off_t end = lseek(fd, 0, SEEK_END);
  int err = end < 0 ? errno : 0;
  errno = saved;
  if (!err) *size = (uint64_t)end;
  return err;
}

int gcl_prim_file_read(int fd, uint64_t offset, void *buf, size_t n) {
  int saved = errno, err = 0;
  char *p = buf;
  while (n > 0) {
    ssize_t r = pread(fd, p, n, (off_t)offset);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      err = r < 0 ? errno : EIO;
      break;
    }
    p += r, offset += (uint64_t)r, n -= (size_t)r;
  }
  errno = saved;
  return err;
}

/* A write at most this long at a time: one pwrite of a 180 MiB section ran
 * at about half the speed of cp writing the same file (Linux 6.18, ext4 on
 * a shared virtual disk: 1.2 s against 0.7 s for a 256 MiB image, fsync
 * included), the same section in 1 MiB writes as fast as cp. */
#define WRITE_CHUNK ((size_t)1 << 20)

int gcl_prim_file_write(int fd, uint64_t offset, const void *buf, size_t n) {
  int saved = errno, err = 0;
  const char *p = buf;
  while (n > 0) {
    ssize_t w = pwrite(fd, p, n < WRITE_CHUNK ? n : WRITE_CHUNK, (off_t)offset);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      err = w < 0 ? errno : EIO;
      break;
    }
    p += w, offset += (uint64_t)w, n -= (size_t)w;
  }
  errno = saved;
  return err;
}

int gcl_prim_file_sync(int fd) {
  int saved = errno, err = 0;
#if GCL_OS_DARWIN
  /* fsync on Darwin hands the data to the drive, whose cache may still lose
   * it; F_FULLFSYNC (every macOS) flushes that too. Some file systems
   * refuse it: then fsync is all there is. */
  if (fcntl(fd, F_FULLFSYNC) == 0) {
    errno = saved;
    return 0;
  }
#endif
  if (fsync(fd) != 0) err = errno;
  errno = saved;
  return err;
}

int gcl_prim_file_rename(const char *from, const char *to) {
  int saved = errno;
  int err = rename(from, to) == 0 ? 0 : errno;
  errno = saved;
  return err;
}

int gcl_prim_file_remove(const char *path) {
  int saved = errno;
  int err = unlink(path) == 0 ? 0 : errno;
  errno = saved;
  return err;
}

int gcl_prim_file_map(int fd, uint64_t offset, void *addr, size_t len) {
  int saved = errno;
  void *q = mmap(addr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED | GCL_MAP_NORESERVE, fd, (off_t)offset);
  int err = q == MAP_FAILED ? errno : 0;
  errno = saved;
  return err;
}

/* Asked once: large blocks round to it on every realloc, and glibc's
 * sysconf is a switch over every name, not a load (a tenth of bench's
 * realloc workload). Threads racing here store the same value. On Linux
 * the kernel's auxiliary vector says it: sysconf's jump table lies in
 * glibc's read-only data (2.36), which a small process otherwise never
 * reads, and its first read maps 64 KiB of it (the kernel's fault-around). */
size_t gcl_prim_page_size(void) {
  static size_t page;
  size_t p = __atomic_load_n(&page, __ATOMIC_RELAXED);
  if (__builtin_expect(p == 0, 0)) {
#if GCL_OS_LINUX
    p = (size_t)getauxval(AT_PAGESZ);
    if (p == 0) p = (size_t)sysconf(_SC_PAGESIZE);
#else
    p = (size_t)sysconf(_SC_PAGESIZE);
#endif
    __atomic_store_n(&page, p, __ATOMIC_RELAXED);
  }
  return p;
}

#if GCL_OS_DARWIN
/* A dylib cannot link `environ` (the main executable's crt defines it, and
 * two-level namespace binds would not find it); every macOS has the
 * accessor. */
char **gcl_prim_environ(void) {
  return *_NSGetEnviron();
}
#else
extern char **environ;

char **gcl_prim_environ(void) {
  return environ;
}
#endif

static uint64_t mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

uint64_t gcl_prim_random(void) {
  uint64_t r = (uint64_t)(uintptr_t)&r;
#if GCL_OS_LINUX
  /* The kernel leaves 16 random bytes for every process (AT_RANDOM). */
  const unsigned char *a = (const unsigned char *)getauxval(AT_RANDOM);
  if (a) {
    uint64_t w;
    __builtin_memcpy(&w, a + 8, sizeof w);
    r ^= w;
  }
#elif GCL_OS_DARWIN
  /* No getauxval on Darwin; getentropy (macOS 10.12+) is one system call
   * that neither allocates nor blocks once the system is up. */
  uint64_t w;
  if (getentropy(&w, sizeof w) == 0) r ^= w;
#endif
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  r ^= (uint64_t)ts.tv_nsec << 17 ^ (uint64_t)ts.tv_sec;
  return mix64(r);
}

uint64_t gcl_prim_clock_ms(void) {
  struct timespec ts;
#if defined(CLOCK_MONOTONIC_COARSE)
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts); /* vDSO, no system call */
#else
  /* Darwin: CLOCK_MONOTONIC since macOS 10.12, read from the commpage. */
  clock_gettime(CLOCK_MONOTONIC, &ts);
#endif
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uintptr_t gcl_prim_program_break(void) {
#if GCL_OS_LINUX
  /* The system call, not sbrk(0): the ELF front end defines sbrk itself.
   * brk(0) cannot succeed, so the kernel answers with the current break. */
  uintptr_t b = (uintptr_t)syscall(SYS_brk, 0);
  uintptr_t pg = (uintptr_t)gcl_prim_page_size();
  return b == (uintptr_t)-1 ? 0 : (b + pg - 1) & ~(pg - 1);
#else
  /* Darwin has no kernel brk (its sbrk is a libc emulation), so nothing
   * continues a program's data segment there. */
  return 0;
#endif
}

void gcl_prim_write(int fd, const char *s, size_t n) {
  int saved = errno;
  while (n > 0) {
#if GCL_OS_LINUX
    ssize_t w = syscall(SYS_write, fd, s, n); /* no cancellation point (nc_open) */
#else
    ssize_t w = write(fd, s, n);
#endif
    if (w < 0) {
      if (errno == EINTR) continue;
      break;
    }
    s += w;
    n -= (size_t)w;
  }
  errno = saved;
}

int gcl_prim_read(const void *addr, void *buf, size_t n) {
  int saved = errno;
  int err = EFAULT;
#if GCL_OS_LINUX
  /* process_vm_readv on ourselves (Linux >= 3.2) reports an unreadable
   * address as EFAULT instead of raising SIGSEGV. */
  struct iovec local = {buf, n}, remote = {(void *)addr, n};
  if (process_vm_readv(getpid(), &local, 1, &remote, 1, 0) == (ssize_t)n) err = 0;
#else
  (void)addr, (void)buf, (void)n;
#endif
  errno = saved;
  return err;
}

int gcl_prim_dup_fd(int fd) {
  int saved = errno;
  int d = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  errno = saved;
  return d;
}

#if GCL_OS_LINUX
int gcl_prim_create_locked(const char *path, int *out) {
  int saved = errno;
  int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644), err = 0;
  if (fd < 0) err = errno;
  else if (flock(fd, LOCK_EX | LOCK_NB) != 0 || ftruncate(fd, 0) != 0) err = errno, close(fd);
  errno = saved;
  if (!err) *out = fd;
  return err;
}

void gcl_prim_close(int fd) {
  int saved = errno;
  close(fd);
  errno = saved;
}
#else
/* Not yet on Darwin: the dylib would import open, flock, ftruncate and
 * close, which libSystem.tbd, inspect.py and tests/darwin/machorun's shims
 * must then cover (open is variadic on arm64). GCLZONE_TIMELINE records
 * nothing there. */
int gcl_prim_create_locked(const char *path, int *out) {
  (void)path, (void)out;
  return ENOSYS;
}

void gcl_prim_close(int fd) {
  (void)fd;
}
#endif

#if GCL_OS_LINUX
/* Field `which` of /proc/self/statm, in bytes: 0 the address space, 1 the
 * resident pages (Linux >= 2.6). */
static size_t statm(int which) {
  static int fd = -1; /* relaxed: a race opens it twice, harmlessly */
  int saved = errno;
  if (__atomic_load_n(&fd, __ATOMIC_RELAXED) < 0)
    __atomic_store_n(&fd, nc_open("/proc/self/statm"), __ATOMIC_RELAXED);
  char buf[128];
  int f = __atomic_load_n(&fd, __ATOMIC_RELAXED);
  ssize_t n = f >= 0 ? nc_pread(f, buf, sizeof buf - 1, 0) : -1;
  errno = saved;
  if (n <= 0) return 0;
  buf[n] = 0;
  const char *p = buf;
  for (int i = 0; i < which; i++) {
    while (*p && *p != ' ') p++;
    if (*p) p++;
  }
  size_t pages = 0;
  for (; *p >= '0' && *p <= '9'; p++) pages = pages * 10 + (size_t)(*p - '0');
  return pages * gcl_prim_page_size();
}

size_t gcl_prim_rss(void) {
  return statm(1);
}

size_t gcl_prim_vm_size(void) {
  return statm(0);
}

int gcl_prim_prlimit(int pid, int resource, const void *new_limit, void *old_limit) {
  int saved = errno;
  long r = syscall(SYS_prlimit64, pid, resource, new_limit, old_limit);
  int err = r == 0 ? 0 : errno;
  errno = saved;
  return err;
}

size_t gcl_prim_as_limit(void) {
  struct rlimit rl;
  if (gcl_prim_prlimit(0, RLIMIT_AS, NULL, &rl) || rl.rlim_cur == RLIM_INFINITY) return SIZE_MAX;
  return (size_t)rl.rlim_cur;
}
#else
size_t gcl_prim_as_limit(void) {
  return SIZE_MAX; /* macOS does not enforce RLIMIT_AS on mmap */
}

/* task_info would tell; not needed by the Darwin front end yet. */
size_t gcl_prim_rss(void) {
  return 0;
}

size_t gcl_prim_vm_size(void) {
  return 0;
}

int gcl_prim_prlimit(int pid, int resource, const void *new_limit, void *old_limit) {
  (void)pid, (void)resource, (void)new_limit, (void)old_limit;
  return ENOSYS;
}
#endif

_Noreturn void gcl_prim_abort(void) {
  abort();
}

#if GCL_OS_LINUX
static void (*fault_fn)(void *);
static struct sigaction fault_old[2]; /* SIGSEGV's and SIGBUS's before ours */

static void on_fault(int sig, siginfo_t *si, void *uc) {
  struct sigaction *old = &fault_old[sig == SIGBUS];
  if (si->si_code > 0) fault_fn(si->si_addr); /* raised by the kernel: a real fault */
  if (old->sa_flags & SA_SIGINFO) {
    old->sa_sigaction(sig, si, uc);
  } else if (old->sa_handler != SIG_DFL && old->sa_handler != SIG_IGN) {
    old->sa_handler(sig);
  } else if (si->si_code > 0 || old->sa_handler == SIG_DFL) {
    /* Back to the default action: returning re-runs the faulting
     * instruction (or delivers the raised signal), which now ends the
     * process as it would have without us (a real fault cannot be ignored:
     * it would repeat forever). */
    struct sigaction dfl;
    __builtin_memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigaction(sig, &dfl, NULL);
    if (si->si_code <= 0) raise(sig);
  }
}

int gcl_prim_fault_hook(void (*fn)(void *addr)) {
  int saved = errno;
  struct sigaction sa;
  __builtin_memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_fault;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  fault_fn = fn;
  int err = sigaction(SIGSEGV, &sa, &fault_old[0]) || sigaction(SIGBUS, &sa, &fault_old[1]) ? errno : 0;
  errno = saved;
  return err;
}
#else
/* Darwin (never run): not implemented; a fault stays a plain SIGSEGV/SIGBUS. */
int gcl_prim_fault_hook(void (*fn)(void *addr)) {
  (void)fn;
  return ENOSYS;
}
#endif

pthread_key_t gcl_prim_key;
#if !GCL_OS_DARWIN
__thread struct gcl_theap *gcl_prim_tls __attribute__((tls_model("initial-exec"))) = &gcl_theap_empty;
#endif

int gcl_prim_thread_key(void (*destructor)(void *)) {
  return pthread_key_create(&gcl_prim_key, destructor);
}

int gcl_prim_atfork(void (*prepare)(void), void (*parent)(void), void (*child)(void)) {
  return pthread_atfork(prepare, parent, child);
}

#if GCL_OS_LINUX
static __thread int tid_cache __attribute__((tls_model("initial-exec")));

int gcl_prim_tid(void) {
  int t = tid_cache;
  if (gcl_unlikely_prim(!t)) t = tid_cache = (int)syscall(SYS_gettid);
  return t;
}

void gcl_prim_tid_reset(void) {
  tid_cache = 0;
}

/* Contended: spin briefly (critical sections are short), then sleep on the
 * futex with the waiters bit set. Once we have slept, take the lock with the
 * waiters bit set too: others may still be asleep behind us. */
void gcl_prim_lock_slow(gcl_lock_t *l) {
  int me = gcl_prim_tid() << 1, waited = 0;
  for (int spin = 0;; spin++) {
    int v = __atomic_load_n(&l->word, __ATOMIC_RELAXED);
    if (v == 0) {
      if (__atomic_compare_exchange_n(&l->word, &v, me | waited, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
        return;
      continue;
    }
    if (spin < 100) {
      cpu_relax();
      continue;
    }
    if (!(v & 1) && !__atomic_compare_exchange_n(&l->word, &v, v | 1, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
      continue;
    int saved = errno;
    syscall(SYS_futex, &l->word, FUTEX_WAIT_PRIVATE, v | 1, NULL, NULL, 0);
    errno = saved;
    waited = 1;
  }
}

void gcl_prim_lock_wake(gcl_lock_t *l) {
  int saved = errno;
  syscall(SYS_futex, &l->word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
  errno = saved;
}
#endif

/* libsystem.c: libSystem for Linux: every symbol a loaded Mach-O image may
 * import, with Darwin's ABI and semantics on top of glibc and of
 * tests/darwin's libmalloc model.
 *
 * Owns the shim table (name -> address) that fixups.c binds imports to, the
 * Darwin errno of each thread, the image's environment, and the model of
 * the xnu calls the image makes (mmap, munmap, mprotect, madvise, sysconf,
 * clock_gettime, fcntl). Invariants: a shim takes Darwin's values (flags,
 * names, clock ids, commands) and Darwin's type layouts, answers in
 * Darwin's errno values through __error, never in glibc's errno; a value
 * xnu would refuse is refused (and counted in mr_shim_log.refused, so a
 * check notices even when the image ignores the error); a value xnu accepts
 * but we do not model stops the process with a message, never a guess.
 *
 * This is a model, like the registry model: libSystem's behaviour as read
 * from its sources, not libSystem. Sources: xnu bsd/kern/kern_mman.c
 * (apple-oss-distributions/xnu: mmap's flag checks, madvise's cases,
 * page-alignment rules), xnu bsd/sys/mman.h, errno.h, fcntl.h and Libc
 * include/time.h, unistd.h (the values restated in
 * libgclzone/darwin/include), libpthread's pthread_impl.h (mutex
 * signatures), Apple Libc's NeXT-era brk.c (sbrk and brk), and Apple's
 * "Writing ARM64 code for Apple platforms" (the arm64 ABI differences).
 *
 * The arm64 ABI (Apple's document): Darwin passes every variadic argument
 * on the stack, one 8-byte slot each, where Linux's AAPCS64 passes them in
 * x0-x7 like fixed ones; so a shim for a variadic function declares the
 * registers it must skip and reads the first slot as its next parameter
 * (DARWIN_VA_AFTER_2 below; fcntl and open are the variadic imports). x18 is
 * reserved on Darwin and may change under a Darwin program at any time, so
 * Darwin code never relies on it; Linux code may use it as a scratch
 * register, which costs the image nothing. Each shim clobbers x18 before it
 * returns (DARWIN_ENTRY), as the platform may, so an image that kept
 * anything in x18 across a libSystem call would fail here. Below 32 bits,
 * Darwin's caller extends arguments, Linux's callee does: no shim and no
 * zone function takes such an argument. x86_64: Darwin and Linux follow the
 * same System V ABI, variadic calls included.
 */
#define _GNU_SOURCE
#include "machorun.h"

#include "libmalloc_model.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

mr_shim_log_t mr_shim_log;

/* The page size the image sees. arm64: 16 KiB. The slice is built for Apple
 * silicon, whose kernel gives user space 16 KiB pages (vm_page_size, and
 * the PAGE_MAX_SIZE zone_darwin.c lays its zone page out for); the host and
 * qemu-user have 4 KiB pages, which the shims hide: every address and
 * length they take or return is checked and rounded to 16 KiB, as xnu
 * checks vm_map_page_mask(user_map). x86_64: 4 KiB, Intel Macs' page (and
 * Rosetta's). */
#if defined(__aarch64__)
#define DARWIN_PAGE ((size_t)16384)
#else
#define DARWIN_PAGE ((size_t)4096)
#endif

size_t mr_shim_page_size(void) {
  return DARWIN_PAGE;
}

#if defined(__aarch64__)
#define DARWIN_ENTRY() __asm__ volatile("mov x18, #0x5a5a" ::: "x18")
#define DARWIN_VA_AFTER_2                                                                                  \
  long x2 __attribute__((unused)), long x3 __attribute__((unused)), long x4 __attribute__((unused)),      \
    long x5 __attribute__((unused)), long x6 __attribute__((unused)), long x7 __attribute__((unused)),    \
    /* then [sp]: */
#else
#define DARWIN_ENTRY() ((void)0)
#define DARWIN_VA_AFTER_2 /* the next register */
#endif

static _Noreturn void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static _Noreturn void die(const char *fmt, ...) {
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line - 1, fmt, ap);
  va_end(ap);
  if (n < 0) n = 0;
  if (n > (int)sizeof line - 2) n = (int)sizeof line - 2;
  line[n++] = '\n';
  if (write(2, line, (size_t)n) < 0) _exit(3);
  abort();
}

/* ---- errno ---------------------------------------------------------------
 * xnu bsd/sys/errno.h: 1..34 are the values Linux has too, except 11
 * (Linux EAGAIN, BSD EDEADLK); above, the BSD numbers. */
static __thread int darwin_errno;

int *mr_shim_errno(void) {
  return &darwin_errno;
}

static int darwin_errno_of(int e) {
  if (e >= 1 && e <= 34 && e != EAGAIN) return e;
  switch (e) {
  case EAGAIN: return 35;
  case EDEADLK: return 11;
  case ENAMETOOLONG: return 63;
  case ENOLCK: return 77;
  case ENOSYS: return 78;
  case ENOTEMPTY: return 66;
  case ELOOP: return 62;
  case EOVERFLOW: return 84;
  case ENOTSUP: return 45;
  case ETIMEDOUT: return 60;
  case ECANCELED: return 89;
  case EOWNERDEAD: return 105;
  }
  die("machorun: libSystem: no Darwin errno for Linux errno %d (%s)", e, strerror(e));
}

static int fail_errno(void) {
  darwin_errno = darwin_errno_of(errno);
  return -1;
}

/* A call xnu refuses for its argument: EINVAL, and counted. */
static int refuse(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int refuse(const char *fmt, ...) {
  unsigned n = __atomic_add_fetch(&mr_shim_log.refused, 1, __ATOMIC_RELAXED);
  char what[160];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  if (n == 1) memcpy(mr_shim_log.first_refusal, what, sizeof what);
  if (n <= 3) fprintf(stderr, "machorun: libSystem refused %s\n", what); /* the image may ignore the error */
  darwin_errno = EINVAL;
  return -1;
}

static void *sh___error(void) {
  DARWIN_ENTRY();
  return &darwin_errno;
}

/* ---- the process ---------------------------------------------------------- */

static char **image_environ;

void mr_shim_set_environ(char **env) {
  image_environ = env;
}

/* Libc crt_externs.h: a dylib reaches the environment only through this. */
static char ***sh__NSGetEnviron(void) {
  DARWIN_ENTRY();
  return &image_environ;
}

extern int __cxa_atexit(void (*fn)(void *), void *arg, void *dso);

/* clang lowers a dylib's destructors to __cxa_atexit(fn, arg, &__dso_handle)
 * from an initializer; libSystem runs them at exit() or at unload. Here
 * glibc's exit() runs them. */
static int sh___cxa_atexit(void (*fn)(void *), void *arg, void *dso) {
  DARWIN_ENTRY();
  (void)dso;
  mr_shim_log.atexit_calls++;
  mr_shim_log.atexit_fn = (void *)fn;
  return __cxa_atexit(fn, arg, NULL);
}

/* Libc's guard is an array of 8 longs; the compiler reads the first. */
static uintptr_t darwin_stack_chk_guard[8];

__attribute__((constructor)) static void guard_init(void) {
  if (getentropy(darwin_stack_chk_guard, sizeof darwin_stack_chk_guard[0]))
    darwin_stack_chk_guard[0] = (uintptr_t)&guard_init ^ 0x5851f42d4c957f2dull;
  darwin_stack_chk_guard[0] &= ~(uintptr_t)0xff; /* a NUL byte, as Libc's guard has */
}

static void sh___stack_chk_fail(void) {
  DARWIN_ENTRY();
  die("machorun: ___stack_chk_fail: the image smashed its stack");
}

/* Never reached: every lazy pointer was bound at load (fixups.c). */
static void sh_dyld_stub_binder(void) {
  die("machorun: dyld_stub_binder reached: a lazy pointer was not bound at load");
}

static void sh_abort(void) {
  DARWIN_ENTRY();
  abort();
}

static pid_t sh_getpid(void) {
  DARWIN_ENTRY();
  return getpid();
}

static long sh_write(int fd, const void *buf, size_t n) {
  DARWIN_ENTRY();
  ssize_t w = write(fd, buf, n);
  return w < 0 ? fail_errno() : w;
}

/* ---- files: what heap images (libgclzone/image.c) use ------------------------
 * xnu bsd/sys/fcntl.h: O_RDONLY 0, O_WRONLY 1, O_RDWR 2, O_NONBLOCK 4,
 * O_APPEND 8, O_CREAT 0x200, O_TRUNC 0x400, O_EXCL 0x800, O_NOFOLLOW 0x100,
 * O_CLOEXEC 0x1000000 (Linux: 0100, 01000, 0200, 0400000, 02000000). open
 * is variadic: on arm64 its mode is the first stack slot. off_t is 64 bits
 * on both; SEEK_SET, SEEK_CUR, SEEK_END are 0, 1, 2 on both. */
#define D_O_ACCMODE 0x0003
#define D_O_NONBLOCK 0x0004
#define D_O_APPEND 0x0008
#define D_O_NOFOLLOW 0x0100
#define D_O_CREAT 0x0200
#define D_O_TRUNC 0x0400
#define D_O_EXCL 0x0800
#define D_O_CLOEXEC 0x01000000

static int sh_open(const char *path, int flags, DARWIN_VA_AFTER_2 long mode) {
  DARWIN_ENTRY();
  int known = D_O_ACCMODE | D_O_NONBLOCK | D_O_APPEND | D_O_NOFOLLOW | D_O_CREAT | D_O_TRUNC | D_O_EXCL | D_O_CLOEXEC;
  if (flags & ~known) die("machorun: libSystem: open flags %#x are not modelled", (unsigned)flags);
  int l = flags & D_O_ACCMODE;
  if (flags & D_O_NONBLOCK) l |= O_NONBLOCK;
  if (flags & D_O_APPEND) l |= O_APPEND;
  if (flags & D_O_NOFOLLOW) l |= O_NOFOLLOW;
  if (flags & D_O_CREAT) l |= O_CREAT;
  if (flags & D_O_TRUNC) l |= O_TRUNC;
  if (flags & D_O_EXCL) l |= O_EXCL;
  if (flags & D_O_CLOEXEC) l |= O_CLOEXEC;
  int fd = open(path, l, (mode_t)(flags & D_O_CREAT ? mode : 0));
  return fd < 0 ? fail_errno() : fd;
}

static int sh_close(int fd) {
  DARWIN_ENTRY();
  return close(fd) ? fail_errno() : 0;
}

static long long sh_lseek(int fd, long long off, int whence) {
  DARWIN_ENTRY();
  if (whence < 0 || whence > 2) die("machorun: libSystem: lseek whence %d is not modelled", whence);
  off_t r = lseek(fd, (off_t)off, whence);
  return r < 0 ? fail_errno() : (long long)r;
}

static long sh_pread(int fd, void *buf, size_t n, long long off) {
  DARWIN_ENTRY();
  ssize_t r = pread(fd, buf, n, (off_t)off);
  return r < 0 ? fail_errno() : r;
}

static long sh_pwrite(int fd, const void *buf, size_t n, long long off) {
  DARWIN_ENTRY();
  ssize_t r = pwrite(fd, buf, n, (off_t)off);
  return r < 0 ? fail_errno() : r;
}

static int sh_fsync(int fd) {
  DARWIN_ENTRY();
  return fsync(fd) ? fail_errno() : 0;
}

static int sh_rename(const char *from, const char *to) {
  DARWIN_ENTRY();
  return rename(from, to) ? fail_errno() : 0;
}

static int sh_unlink(const char *path) {
  DARWIN_ENTRY();
  return unlink(path) ? fail_errno() : 0;
}

/* glibc's getentropy has Darwin's contract: at most 256 bytes, never
 * short, no blocking once the system is up. */
static int sh_getentropy(void *buf, size_t n) {
  DARWIN_ENTRY();
  return getentropy(buf, n) ? fail_errno() : 0;
}

/* Libc unistd.h: _SC_PAGESIZE is 29 (Linux 30), _SC_NPROCESSORS_CONF 57,
 * _SC_NPROCESSORS_ONLN 58. */
static long sh_sysconf(int name) {
  DARWIN_ENTRY();
  switch (name) {
  case 29: return (long)DARWIN_PAGE;
  case 57: return sysconf(_SC_NPROCESSORS_CONF);
  case 58: return sysconf(_SC_NPROCESSORS_ONLN);
  }
  die("machorun: libSystem: sysconf(%d) is not modelled (Darwin _SC_PAGESIZE is 29)", name);
}

/* Libc time.h (macOS 10.12+): REALTIME 0, MONOTONIC_RAW 4,
 * MONOTONIC_RAW_APPROX 5, MONOTONIC 6, UPTIME_RAW 8, UPTIME_RAW_APPROX 9,
 * PROCESS_CPUTIME_ID 12, THREAD_CPUTIME_ID 16; anything else is EINVAL. */
static int sh_clock_gettime(int id, struct timespec *ts) {
  DARWIN_ENTRY();
  clockid_t c;
  switch (id) {
  case 0: c = CLOCK_REALTIME; break;
  case 4: case 5: c = CLOCK_MONOTONIC_RAW; break;
  case 6: c = CLOCK_MONOTONIC; break;
  case 8: case 9: c = CLOCK_MONOTONIC_RAW; break; /* uptime: not counting sleep, as Linux's monotonic clocks */
  case 12: c = CLOCK_PROCESS_CPUTIME_ID; break;
  case 16: c = CLOCK_THREAD_CPUTIME_ID; break;
  default: return refuse("clock_gettime(%d): not a Darwin clock id (CLOCK_MONOTONIC is 6)", id);
  }
  mr_shim_log.clock_calls++;
  mr_shim_log.clock_ids_seen |= 1u << id;
  return clock_gettime(c, ts) ? fail_errno() : 0;
}

/* xnu bsd/sys/fcntl.h: F_DUPFD 0, F_GETFD 1, F_SETFD 2, F_DUPFD_CLOEXEC 67
 * (Linux 1030); FD_CLOEXEC is 1 on both; F_FULLFSYNC 51 flushes the
 * drive's cache too, which Linux's fsync does. fcntl(int, int, ...) is variadic:
 * on arm64 its third argument is the first stack slot. */
static int sh_fcntl(int fd, int cmd, DARWIN_VA_AFTER_2 long arg) {
  DARWIN_ENTRY();
  int r;
  switch (cmd) {
  case 0: r = fcntl(fd, F_DUPFD, (int)arg); break;
  case 1: r = fcntl(fd, F_GETFD); break;
  case 2: r = fcntl(fd, F_SETFD, (int)arg); break;
  case 67: r = fcntl(fd, F_DUPFD_CLOEXEC, (int)arg); break;
  case 51: r = fsync(fd); break;
  default: die("machorun: libSystem: fcntl command %d is not modelled", cmd);
  }
  mr_shim_log.fcntl_calls++;
  mr_shim_log.fcntl_cmd = cmd;
  mr_shim_log.fcntl_arg = arg;
  mr_shim_log.fcntl_fd = r;
  return r < 0 ? fail_errno() : r;
}

/* ---- memory: xnu's mmap, munmap, mprotect, madvise --------------------------
 * xnu bsd/sys/mman.h values: */
#define D_MAP_SHARED 0x0001
#define D_MAP_PRIVATE 0x0002
#define D_MAP_FIXED 0x0010
#define D_MAP_RENAME 0x0020
#define D_MAP_NORESERVE 0x0040
#define D_MAP_RESERVED0080 0x0080
#define D_MAP_NOEXTEND 0x0100
#define D_MAP_HASSEMAPHORE 0x0200
#define D_MAP_NOCACHE 0x0400
#define D_MAP_JIT 0x0800
#define D_MAP_ANON 0x1000
#define D_MAP_RESILIENT_CODESIGN 0x2000
#define D_MAP_RESILIENT_MEDIA 0x4000
#define D_MAP_32BIT 0x8000
#define D_MAP_TRANSLATED_ALLOW_EXECUTE 0x20000
#define D_MAP_UNIX03 0x40000
#define D_MAP_TPRO 0x80000
/* The flags xnu's mmap accepts from an image built with a 2020 SDK or later
 * (kern_mman.c: anything else is EINVAL). */
#define D_MAP_KNOWN                                                                                              \
  (D_MAP_SHARED | D_MAP_PRIVATE | D_MAP_FIXED | D_MAP_RENAME | D_MAP_NORESERVE | D_MAP_RESERVED0080 |            \
   D_MAP_NOEXTEND | D_MAP_HASSEMAPHORE | D_MAP_NOCACHE | D_MAP_JIT | D_MAP_ANON | D_MAP_RESILIENT_CODESIGN |      \
   D_MAP_RESILIENT_MEDIA | D_MAP_32BIT | D_MAP_TRANSLATED_ALLOW_EXECUTE | D_MAP_UNIX03 | D_MAP_TPRO)
/* Accepted and without effect for anonymous memory: NORESERVE (xnu has no
 * commit charge to waive), RENAME, RESERVED0080, NOEXTEND, HASSEMAPHORE,
 * NOCACHE, UNIX03 (checked by libsyscall: the zero length below). */
#define D_MAP_IGNORED                                                                                            \
  (D_MAP_RENAME | D_MAP_NORESERVE | D_MAP_RESERVED0080 | D_MAP_NOEXTEND | D_MAP_HASSEMAPHORE | D_MAP_NOCACHE |    \
   D_MAP_UNIX03)
#define D_VM_FLAGS_ALIAS_MASK 0xff000000u /* VM_MAKE_TAG(n): an anonymous mapping's fd may carry a tag */

static size_t round_page(size_t n) {
  return (n + DARWIN_PAGE - 1) & ~(DARWIN_PAGE - 1);
}

/* A non-fixed mapping at an address aligned to Darwin's page: ask Linux for
 * a little more when its pages are smaller, keep the aligned part. */
static void *map_aligned(void *hint, size_t len, int prot, int lflags, int fd, off_t off) {
  size_t host = (size_t)getpagesize();
  if ((lflags & MAP_FIXED) || DARWIN_PAGE <= host) return mmap(hint, len, prot, lflags, fd, off);
  size_t extra = DARWIN_PAGE - host;
  char *r = mmap(hint, len + extra, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (r == MAP_FAILED) return r;
  char *a = (char *)(((uintptr_t)r + DARWIN_PAGE - 1) & ~(uintptr_t)(DARWIN_PAGE - 1));
  void *m = mmap(a, len, prot, lflags | MAP_FIXED, fd, off);
  if (m == MAP_FAILED) {
    int e = errno;
    munmap(r, len + extra);
    errno = e;
    return m;
  }
  if (a > r) munmap(r, (size_t)(a - r));
  if (r + len + extra > a + len) munmap(a + len, (size_t)(r + len + extra - (a + len)));
  return a;
}

static void *sh_mmap(void *addr, size_t len, int prot, int flags, int fd, long long off) {
  DARWIN_ENTRY();
  if (flags & ~D_MAP_KNOWN) {
    refuse("mmap: flags %#x include bits unknown to xnu (%#x)", (unsigned)flags, (unsigned)(flags & ~D_MAP_KNOWN));
    return MAP_FAILED;
  }
  if ((flags & (D_MAP_RESILIENT_CODESIGN | D_MAP_RESILIENT_MEDIA)) && (flags & D_MAP_ANON)) {
    refuse("mmap: flags %#x: MAP_RESILIENT_* (0x2000, 0x4000) with MAP_ANON is EINVAL", (unsigned)flags);
    return MAP_FAILED;
  }
  if (flags & (D_MAP_JIT | D_MAP_TPRO | D_MAP_RESILIENT_CODESIGN | D_MAP_RESILIENT_MEDIA | D_MAP_32BIT |
               D_MAP_TRANSLATED_ALLOW_EXECUTE))
    die("machorun: libSystem: mmap flags %#x are not modelled", (unsigned)flags);
  if (len == 0) {
    refuse("mmap: length 0");
    return MAP_FAILED;
  }
  if ((flags & D_MAP_FIXED) && (uintptr_t)addr % DARWIN_PAGE) {
    refuse("mmap: MAP_FIXED address %p is not aligned to the %zu-byte page", addr, DARWIN_PAGE);
    return MAP_FAILED;
  }
  int lflags = 0;
  if (flags & D_MAP_SHARED) lflags |= MAP_SHARED;
  if (flags & D_MAP_PRIVATE) lflags |= MAP_PRIVATE;
  if (flags & D_MAP_FIXED) lflags |= MAP_FIXED;
  if (flags & D_MAP_ANON) {
    if (fd != -1 && ((unsigned)fd & ~D_VM_FLAGS_ALIAS_MASK)) {
      refuse("mmap: MAP_ANON with fd %d, which is not a VM tag", fd);
      return MAP_FAILED;
    }
    fd = -1;
    off = 0;
    /* xnu charges nothing for anonymous memory until it is touched. */
    lflags |= MAP_ANONYMOUS | MAP_NORESERVE;
  } else if ((unsigned long long)off % DARWIN_PAGE) {
    refuse("mmap: file offset %#llx is not page aligned", off);
    return MAP_FAILED;
  }
  if (!(lflags & (MAP_SHARED | MAP_PRIVATE))) lflags |= MAP_PRIVATE; /* xnu's default */
  if (prot & (PROT_WRITE | PROT_EXEC)) prot |= PROT_READ;            /* xnu implies read (radar 3777787) */
  len = round_page(len);
  void *p = map_aligned((flags & D_MAP_FIXED) ? addr : (void *)round_page((uintptr_t)addr), len, prot & 7, lflags,
                        fd, (off_t)off);
  if (p == MAP_FAILED) {
    fail_errno();
    return MAP_FAILED;
  }
  if ((flags & (D_MAP_FIXED | D_MAP_ANON)) == (D_MAP_FIXED | D_MAP_ANON) && (prot & PROT_WRITE)) {
    __atomic_add_fetch(&mr_shim_log.fixed_rw_maps, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&mr_shim_log.fixed_rw_bytes, len, __ATOMIC_RELAXED);
  }
  if (!(flags & D_MAP_FIXED) && len > mr_shim_log.reserve_size) {
    mr_shim_log.reserve_base = (uintptr_t)p;
    mr_shim_log.reserve_size = len;
  }
  return p;
}

static int sh_munmap(void *addr, size_t len) {
  DARWIN_ENTRY();
  if ((uintptr_t)addr % DARWIN_PAGE) return refuse("munmap: %p is not page aligned", addr);
  if (len == 0) return refuse("munmap: length 0");
  return munmap(addr, round_page(len)) ? fail_errno() : 0;
}

static int sh_mprotect(void *addr, size_t len, int prot) {
  DARWIN_ENTRY();
  if ((uintptr_t)addr % DARWIN_PAGE)
    return refuse("mprotect: %p is not aligned to the %zu-byte page", addr, DARWIN_PAGE);
  prot &= 7;
  if (prot & (PROT_WRITE | PROT_EXEC)) prot |= PROT_READ;
  /* An unmapped range is ENOMEM on both (xnu: KERN_INVALID_ADDRESS). */
  return mprotect(addr, round_page(len), prot) ? fail_errno() : 0;
}

static bool madv_zero_supported;

void mr_shim_set_madv_zero(bool supported) {
  madv_zero_supported = supported;
}

/* xnu's madvise (kern_mman.c): NORMAL 0, RANDOM 1, SEQUENTIAL 2, WILLNEED 3
 * are hints; DONTNEED 4 only lowers the pages' priority and keeps their
 * contents; FREE 5 and FREE_REUSABLE 7 let the kernel take the pages when
 * it likes, so they may read back old bytes: modelled as keeping them,
 * the case a caller must survive; ZERO_WIRED_PAGES 6, FREE_REUSE 8,
 * CAN_REUSE 9 change nothing readable; PAGEOUT 10 is ENOTSUP; MADV_ZERO 11
 * (libgclzone/prim_posix.c: newer than macOS 11; the kern_mman.c we read
 * has no case for it) is EINVAL on the macOS 11 model and zeroes the pages
 * on the later one (page-aligned ranges only: our model's rule). */
static int sh_madvise(void *addr, size_t len, int advice) {
  DARWIN_ENTRY();
  switch (advice) {
  case 0: case 1: case 2: case 3: case 4: case 5: case 6: case 7: case 8: case 9:
    __atomic_add_fetch(&mr_shim_log.madv_other, 1, __ATOMIC_RELAXED);
    return 0;
  case 10:
    darwin_errno = 45; /* ENOTSUP */
    return -1;
  case 11:
    if (!madv_zero_supported) {
      __atomic_add_fetch(&mr_shim_log.madv_zero_refused, 1, __ATOMIC_RELAXED);
      darwin_errno = EINVAL;
      return -1;
    }
    if ((uintptr_t)addr % DARWIN_PAGE || len % DARWIN_PAGE)
      return refuse("madvise(MADV_ZERO): %p+%zu is not whole pages", addr, len);
    /* Private anonymous memory (the arena): MADV_DONTNEED refills with zeros. */
    if (madvise(addr, len, MADV_DONTNEED)) return fail_errno();
    __atomic_add_fetch(&mr_shim_log.madv_zero_ok, 1, __ATOMIC_RELAXED);
    return 0;
  }
  return refuse("madvise(%p, %zu, %d): not a Darwin advice", addr, len, advice);
}

/* Apple Libc brk.c: sbrk is emulated over one 4 MiB region allocated on
 * first use; an increment of 0 or less returns the break, one beyond the
 * region fails with ENOMEM; brk always fails with ENOMEM. The image
 * interposes both for everyone else; these are what its own calls reach. */
static void *sh_sbrk(int incr) {
  DARWIN_ENTRY();
  static char *brk_cur;
  static size_t brk_left = (size_t)4 << 20;
  if (!brk_cur) {
    brk_cur = mmap(NULL, brk_left, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (brk_cur == MAP_FAILED) {
      brk_cur = NULL;
      darwin_errno = 12;
      return (void *)-1;
    }
  }
  if (incr <= 0) return brk_cur;
  if ((size_t)incr > brk_left) {
    darwin_errno = 12;
    return (void *)-1;
  }
  brk_cur += incr;
  brk_left -= (size_t)incr;
  return brk_cur - incr;
}

static void *sh_brk(const void *addr) {
  DARWIN_ENTRY();
  (void)addr;
  darwin_errno = 12;
  return (void *)-1;
}

/* ---- string primitives (libsystem_platform) ---------------------------------- */

static void *sh_memcpy(void *d, const void *s, size_t n) {
  DARWIN_ENTRY();
  return memcpy(d, s, n);
}
static void *sh_memmove(void *d, const void *s, size_t n) {
  DARWIN_ENTRY();
  return memmove(d, s, n);
}
static void *sh_memset(void *d, int c, size_t n) {
  DARWIN_ENTRY();
  return memset(d, c, n);
}
static int sh_memcmp(const void *a, const void *b, size_t n) {
  DARWIN_ENTRY();
  return memcmp(a, b, n);
}
static size_t sh_strlen(const char *s) {
  DARWIN_ENTRY();
  return strlen(s);
}
static int sh_strcmp(const char *a, const char *b) {
  DARWIN_ENTRY();
  return strcmp(a, b);
}
static void sh_bzero(void *d, size_t n) {
  DARWIN_ENTRY();
  memset(d, 0, n);
}
/* Libc memset_pattern16: the 16-byte pattern repeated over n bytes, the
 * last copy cut short. */
static void sh_memset_pattern16(void *d, const void *pattern, size_t n) {
  DARWIN_ENTRY();
  unsigned char *p = d;
  for (; n >= 16; n -= 16, p += 16) memcpy(p, pattern, 16);
  memcpy(p, pattern, n);
}

/* ---- pthreads (libsystem_pthread) ---------------------------------------------
 * A Darwin pthread_mutex_t is 64 bytes: a signature word and 56 opaque
 * bytes (libgclzone/darwin/include/pthread.h, from xnu's _pthread_types.h).
 * PTHREAD_MUTEX_INITIALIZER is the signature _PTHREAD_MUTEX_SIG_init
 * (0x32AAABA7) and zeros; pthread_mutex_init stores _PTHREAD_MUTEX_SIG
 * (0x4D555458, "MUTX"; libpthread pthread_impl.h). glibc's mutex lives in
 * the opaque bytes; all zeros is glibc's default initializer, so a static
 * Darwin mutex is a valid glibc one as it stands. A word that is neither
 * signature is a mutex that was never initialized (or a layout mismatch):
 * fatal here, EINVAL on Darwin. */
#define D_MUTEX_SIG_INIT 0x32AAABA7L
#define D_MUTEX_SIG 0x4D555458L

typedef struct darwin_mutex {
  long sig;
  union {
    char opaque[56];
    pthread_mutex_t m;
  } u;
} darwin_mutex_t;
_Static_assert(sizeof(darwin_mutex_t) == 64, "Darwin's LP64 pthread_mutex_t is 64 bytes");
_Static_assert(sizeof(pthread_mutex_t) <= 56, "glibc's mutex fits in Darwin's opaque bytes");

static pthread_mutex_t *glibc_mutex(darwin_mutex_t *d, const char *what) {
  long sig = __atomic_load_n(&d->sig, __ATOMIC_RELAXED);
  if (sig == D_MUTEX_SIG) {
    __atomic_add_fetch(&mr_shim_log.mutex_inited, 1, __ATOMIC_RELAXED);
  } else if (sig == D_MUTEX_SIG_INIT) {
    __atomic_add_fetch(&mr_shim_log.mutex_static, 1, __ATOMIC_RELAXED);
  } else {
    die("machorun: libSystem: %s(%p): signature %#lx is not a Darwin mutex's (%#lx static, %#lx initialized)", what,
        (void *)d, sig, D_MUTEX_SIG_INIT, D_MUTEX_SIG);
  }
  return &d->u.m;
}

static int sh_pthread_mutex_init(darwin_mutex_t *d, const void *attr) {
  DARWIN_ENTRY();
  if (attr) die("machorun: libSystem: pthread_mutex_init with attributes is not modelled");
  memset(d->u.opaque, 0, sizeof d->u.opaque);
  int r = pthread_mutex_init(&d->u.m, NULL);
  if (r) return darwin_errno_of(r);
  __atomic_store_n(&d->sig, D_MUTEX_SIG, __ATOMIC_RELEASE);
  return 0;
}

static int sh_pthread_mutex_lock(darwin_mutex_t *d) {
  DARWIN_ENTRY();
  int r = pthread_mutex_lock(glibc_mutex(d, "pthread_mutex_lock"));
  return r ? darwin_errno_of(r) : 0;
}

static int sh_pthread_mutex_trylock(darwin_mutex_t *d) {
  DARWIN_ENTRY();
  int r = pthread_mutex_trylock(glibc_mutex(d, "pthread_mutex_trylock"));
  return r ? darwin_errno_of(r) : 0; /* EBUSY is 16 on both */
}

static int sh_pthread_mutex_unlock(darwin_mutex_t *d) {
  DARWIN_ENTRY();
  int r = pthread_mutex_unlock(glibc_mutex(d, "pthread_mutex_unlock"));
  return r ? darwin_errno_of(r) : 0;
}

/* pthread_key_t is an unsigned long on Darwin (8 bytes), an unsigned int on
 * glibc: the shim writes all 8 bytes and accepts only keys it made. */
#define KEYS 1024
static unsigned char key_made[KEYS];

static int sh_pthread_key_create(unsigned long *key, void (*destructor)(void *)) {
  DARWIN_ENTRY();
  pthread_key_t k;
  int r = pthread_key_create(&k, destructor);
  if (r) return darwin_errno_of(r);
  if (k >= KEYS) die("machorun: libSystem: glibc key %u is beyond the %d the shim tracks", k, KEYS);
  __atomic_store_n(&key_made[k], 1, __ATOMIC_RELEASE);
  __atomic_add_fetch(&mr_shim_log.keys_created, 1, __ATOMIC_RELAXED);
  *key = (unsigned long)k;
  return 0;
}

static pthread_key_t glibc_key(unsigned long key, const char *what) {
  if (key >= KEYS || !__atomic_load_n(&key_made[key], __ATOMIC_ACQUIRE))
    die("machorun: libSystem: %s(%#lx): not a key pthread_key_create made", what, key);
  return (pthread_key_t)key;
}

static void *sh_pthread_getspecific(unsigned long key) {
  DARWIN_ENTRY();
  return pthread_getspecific(glibc_key(key, "pthread_getspecific"));
}

static int sh_pthread_setspecific(unsigned long key, const void *value) {
  DARWIN_ENTRY();
  int r = pthread_setspecific(glibc_key(key, "pthread_setspecific"), value);
  return r ? darwin_errno_of(r) : 0;
}

/* Darwin's pthread_t is a pointer to the thread's struct; glibc's is its
 * address as an integer: the same word. */
static void *sh_pthread_self(void) {
  DARWIN_ENTRY();
  return (void *)pthread_self();
}

static int sh_pthread_atfork(void (*prepare)(void), void (*parent)(void), void (*child)(void)) {
  DARWIN_ENTRY();
  int r = pthread_atfork(prepare, parent, child);
  return r ? darwin_errno_of(r) : 0;
}

/* ---- the table -----------------------------------------------------------------
 * Every libSystem symbol an image may import: those of
 * libgclzone/darwin/libSystem.tbd (a check keeps the two in step), the rest
 * of the string primitives the compiler may emit, and libmalloc's API as
 * tests/darwin/libmalloc_model.c provides it. Mach-O names carry the
 * leading underscore. */
#define FN(name, fn) {name, (void *)(fn), false}
static const mr_shim_t shims[] = {
  FN("dyld_stub_binder", sh_dyld_stub_binder),
  FN("__NSGetEnviron", sh__NSGetEnviron),
  FN("___cxa_atexit", sh___cxa_atexit),
  FN("___stack_chk_fail", sh___stack_chk_fail),
  {"___stack_chk_guard", (void *)darwin_stack_chk_guard, true},
  FN("_abort", sh_abort),
  FN("_sysconf", sh_sysconf),
  FN("_clock_gettime", sh_clock_gettime),
  FN("_sbrk", sh_sbrk),
  FN("_brk", sh_brk),
  FN("___error", sh___error),
  FN("_write", sh_write),
  FN("_fcntl", sh_fcntl),
  FN("_getpid", sh_getpid),
  FN("_getentropy", sh_getentropy),
  FN("_mmap", sh_mmap),
  FN("_munmap", sh_munmap),
  FN("_mprotect", sh_mprotect),
  FN("_madvise", sh_madvise),
  FN("_open", sh_open),
  FN("_close", sh_close),
  FN("_lseek", sh_lseek),
  FN("_pread", sh_pread),
  FN("_pwrite", sh_pwrite),
  FN("_fsync", sh_fsync),
  FN("_rename", sh_rename),
  FN("_unlink", sh_unlink),
  FN("_memcpy", sh_memcpy),
  FN("_memmove", sh_memmove),
  FN("_memset", sh_memset),
  FN("_memcmp", sh_memcmp),
  FN("_strlen", sh_strlen),
  FN("_strcmp", sh_strcmp),
  FN("_bzero", sh_bzero),
  FN("___bzero", sh_bzero),
  FN("_memset_pattern16", sh_memset_pattern16),
  FN("_pthread_atfork", sh_pthread_atfork),
  FN("_pthread_getspecific", sh_pthread_getspecific),
  FN("_pthread_setspecific", sh_pthread_setspecific),
  FN("_pthread_key_create", sh_pthread_key_create),
  FN("_pthread_mutex_init", sh_pthread_mutex_init),
  FN("_pthread_mutex_lock", sh_pthread_mutex_lock),
  FN("_pthread_mutex_trylock", sh_pthread_mutex_trylock),
  FN("_pthread_mutex_unlock", sh_pthread_mutex_unlock),
  FN("_pthread_self", sh_pthread_self),
  /* libsystem_malloc: the model's registry and entry points. */
  FN("_malloc_default_purgeable_zone", malloc_default_purgeable_zone),
  FN("_malloc_default_zone", malloc_default_zone),
  FN("_malloc_get_all_zones", malloc_get_all_zones),
  FN("_malloc_zone_register", malloc_zone_register),
  FN("_malloc_zone_unregister", malloc_zone_unregister),
  FN("_malloc_set_zone_name", malloc_set_zone_name),
  FN("_malloc_get_zone_name", malloc_get_zone_name),
  FN("_malloc_destroy_zone", malloc_destroy_zone),
  FN("_malloc_zone_from_ptr", malloc_zone_from_ptr),
  FN("_malloc_zone_malloc", malloc_zone_malloc),
  FN("_malloc_zone_calloc", malloc_zone_calloc),
  FN("_malloc_zone_valloc", malloc_zone_valloc),
  FN("_malloc_zone_realloc", malloc_zone_realloc),
  FN("_malloc_zone_memalign", malloc_zone_memalign),
  FN("_malloc_zone_free", malloc_zone_free),
  FN("_malloc_zone_batch_malloc", malloc_zone_batch_malloc),
  FN("_malloc_zone_batch_free", malloc_zone_batch_free),
  FN("_malloc_zone_pressure_relief", malloc_zone_pressure_relief),
  FN("_malloc_zone_claimed_address", malloc_zone_claimed_address),
  FN("_malloc_claimed_address", malloc_claimed_address),
  FN("_malloc_zone_check", malloc_zone_check),
  FN("_malloc_zone_statistics", malloc_zone_statistics),
  FN("_malloc_size", malloc_size),
  FN("_malloc_good_size", malloc_good_size),
  FN("_malloc", lm_malloc),
  FN("_calloc", lm_calloc),
  FN("_valloc", lm_valloc),
  FN("_realloc", lm_realloc),
  FN("_free", lm_free),
  FN("_posix_memalign", lm_posix_memalign),
};

const mr_shim_t *mr_shim_find(const char *name) {
  for (size_t i = 0; i < sizeof shims / sizeof shims[0]; i++)
    if (!strcmp(shims[i].name, name)) return &shims[i];
  return NULL;
}

size_t mr_shim_count(void) {
  return sizeof shims / sizeof shims[0];
}

const mr_shim_t *mr_shim_at(size_t i) {
  return i < mr_shim_count() ? &shims[i] : NULL;
}

/* vgcap.c: lets an allocator whose start-up reservation valgrind refuses
 * run under callgrind, so that instr.sh can count its instructions.
 *
 * snmalloc (main f70eb82) reserves its flat pagemap at start-up: one
 * 16-byte entry per 16 KiB of a 48-bit address space, 256 GiB in one
 * mmap(MAP_NORESERVE). Valgrind 3.19 (Debian 12) refuses any single client
 * mapping above 32 GiB, so snmalloc aborts with "Failed to initialise
 * snmalloc." before main; snmalloc has no setting for the size of its
 * pagemap on Linux x86-64 (the address bits are a constant of its x86
 * layer).
 *
 * Preloaded ahead of the allocator (LD_PRELOAD=vgcap.so:lib.so), this
 * library's mmap passes every call through unchanged, except one that
 * fails, asks for more than 1 GiB, lets the kernel choose the address and
 * reserves without commitment (MAP_NORESERVE): that one is retried at 32,
 * 16, 8, 4, 2 and 1 GiB, and the first that succeeds is returned. A flat
 * pagemap is only touched at the entries of addresses the allocator
 * manages; under valgrind every client address lies below the 128 GiB
 * valgrind 3.19 manages, whose entries fit in the first 128 MiB of such a
 * table. The allocator's code paths, and so the instructions counted, are
 * the ones it runs without valgrind. munmap of the whole original length
 * of a shortened mapping unmaps what was mapped.
 *
 * Used by instr.sh only for the allocators named in INSTR_VGCAP (run.sh
 * names snmalloc), never for libgclzone, whose own reservation logic must
 * see mmap as it is.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define GIB ((size_t)1 << 30)

static void *sys_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
  long r = syscall(SYS_mmap, addr, len, prot, flags, fd, off);
  return (void *)r;
}

/* The one mapping shortened, so that its munmap can be shortened too. */
static uintptr_t short_base;
static size_t short_asked, short_got;

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
  void *p = sys_mmap(addr, len, prot, flags, fd, off);
  if (p != MAP_FAILED || addr || !(flags & MAP_NORESERVE) || (flags & MAP_FIXED) || len <= GIB) return p;
  int err = errno;
  for (size_t cap = 32 * GIB; cap >= GIB; cap /= 2) {
    if (cap >= len) continue;
    void *q = sys_mmap(NULL, cap, prot, flags, fd, off);
    if (q != MAP_FAILED) {
      short_base = (uintptr_t)q;
      short_asked = len;
      short_got = cap;
      return q;
    }
  }
  errno = err;
  return MAP_FAILED;
}

void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
  return mmap(addr, len, prot, flags, fd, off);
}

int munmap(void *addr, size_t len) {
  if (short_got && (uintptr_t)addr == short_base && len == short_asked) len = short_got;
  return (int)syscall(SYS_munmap, addr, len);
}

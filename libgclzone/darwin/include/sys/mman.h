/* sys/mman.h: restates xnu bsd/sys/mman.h.
 *
 * MAP_ANON is 0x1000 (Linux: 0x20) and MAP_NORESERVE is 0x40, a flag the
 * kernel ignores (libgclzone does not pass it on Darwin, see prim_posix.c).
 * MADV_FREE (5) and MADV_FREE_REUSABLE (7) may leave old contents in place;
 * MADV_ZERO (11) zeroes but is newer than macOS 11, so it is not declared. */
#ifndef GCL_DARWIN_SYS_MMAN_H
#define GCL_DARWIN_SYS_MMAN_H
#include "../_gcl_darwin.h"

#define PROT_NONE 0x00
#define PROT_READ 0x01
#define PROT_WRITE 0x02
#define PROT_EXEC 0x04

#define MAP_SHARED 0x0001
#define MAP_PRIVATE 0x0002
#define MAP_FIXED 0x0010
#define MAP_NORESERVE 0x0040
#define MAP_ANON 0x1000
#define MAP_ANONYMOUS MAP_ANON
#define MAP_FAILED ((void *)-1)

#define MADV_NORMAL 0
#define MADV_DONTNEED 4
#define MADV_FREE 5
#define MADV_FREE_REUSABLE 7
#define MADV_FREE_REUSE 8

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t offset);
int munmap(void *addr, size_t len);
int mprotect(void *addr, size_t len, int prot);
int madvise(void *addr, size_t len, int advice);
#endif

/* errno.h: restates xnu bsd/sys/errno.h: errno is (*__error()); the values
 * are the BSD ones (EAGAIN is 35, not Linux's 11). */
#ifndef GCL_DARWIN_ERRNO_H
#define GCL_DARWIN_ERRNO_H
#include "_gcl_darwin.h"

extern int *__error(void);
#define errno (*__error())

#define EPERM 1
#define ENOENT 2
#define ESRCH 3
#define EINTR 4
#define EIO 5
#define EBADF 9
#define ECHILD 10
#define EDEADLK 11
#define ENOMEM 12
#define EACCES 13
#define EFAULT 14
#define EBUSY 16
#define EEXIST 17
#define ENOTDIR 20
#define EISDIR 21
#define EINVAL 22
#define ENOSPC 28
#define ERANGE 34
#define EAGAIN 35
#define ENAMETOOLONG 63
#define ENOTSUP 45
#define ENOSYS 78
#define EOVERFLOW 84
#endif

/* fcntl.h: restates xnu bsd/sys/fcntl.h. F_DUPFD_CLOEXEC is 67 on Darwin
 * (Linux: 1030). */
#ifndef GCL_DARWIN_FCNTL_H
#define GCL_DARWIN_FCNTL_H
#include "_gcl_darwin.h"

#define F_DUPFD 0
#define F_GETFD 1
#define F_SETFD 2
#define F_DUPFD_CLOEXEC 67
#define FD_CLOEXEC 1

int fcntl(int fd, int cmd, ...);
#endif

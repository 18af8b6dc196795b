/* fcntl.h: restates xnu bsd/sys/fcntl.h. F_DUPFD_CLOEXEC is 67 on Darwin
 * (Linux: 1030); O_CREAT is 0x200, O_EXCL 0x800 and O_CLOEXEC 0x1000000
 * (Linux: 0100, 0200, 02000000); F_FULLFSYNC (51) has no Linux twin. */
#ifndef GCL_DARWIN_FCNTL_H
#define GCL_DARWIN_FCNTL_H
#include "_gcl_darwin.h"

#define F_DUPFD 0
#define F_GETFD 1
#define F_SETFD 2
#define F_DUPFD_CLOEXEC 67
#define FD_CLOEXEC 1
#define F_FULLFSYNC 51
#define O_RDONLY 0x0000
#define O_WRONLY 0x0001
#define O_RDWR 0x0002
#define O_CREAT 0x0200
#define O_TRUNC 0x0400
#define O_EXCL 0x0800
#define O_CLOEXEC 0x01000000

int fcntl(int fd, int cmd, ...);
int open(const char *path, int oflag, ...);
#endif

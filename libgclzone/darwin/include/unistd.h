/* unistd.h: restates Libc include/unistd.h for what libgclzone uses
 * (and xnu bsd/sys/unistd.h for the SEEK_ values, the same as Linux's).
 *
 * sbrk takes an int and brk returns void * on Darwin, kept so "for binary
 * compatibility" (the header's own words): the interposers in zone_darwin.c
 * must have exactly these signatures. _SC_PAGESIZE is 29 (Linux: 30). */
#ifndef GCL_DARWIN_UNISTD_H
#define GCL_DARWIN_UNISTD_H
#include "_gcl_darwin.h"

#define STDIN_FILENO 0
#define STDOUT_FILENO 1
#define STDERR_FILENO 2
#define _SC_PAGESIZE 29
#define _SC_PAGE_SIZE _SC_PAGESIZE
#define SEEK_SET 0
#define SEEK_CUR 1
#define SEEK_END 2

ssize_t write(int fd, const void *buf, size_t nbyte);
ssize_t pread(int fd, void *buf, size_t nbyte, off_t offset);
ssize_t pwrite(int fd, const void *buf, size_t nbyte, off_t offset);
off_t lseek(int fd, off_t offset, int whence);
int close(int fd);
int fsync(int fd);
int unlink(const char *path);
long sysconf(int name);
pid_t getpid(void);
int getpagesize(void);
void *sbrk(int incr);
void *brk(const void *addr);
void _exit(int status) __GCL_NORETURN;
#endif

/* unistd.h: restates Libc include/unistd.h for what libgclzone uses.
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

ssize_t write(int fd, const void *buf, size_t nbyte);
long sysconf(int name);
pid_t getpid(void);
int getpagesize(void);
void *sbrk(int incr);
void *brk(const void *addr);
void _exit(int status) __GCL_NORETURN;
#endif

/* stdlib.h: only abort (Libc include/stdlib.h). The library declares and
 * calls nothing else from it: no getenv (options.c scans the environment
 * itself), and never the malloc family (it is the malloc family). */
#ifndef GCL_DARWIN_STDLIB_H
#define GCL_DARWIN_STDLIB_H
#include "_gcl_darwin.h"

void abort(void) __GCL_NORETURN;
#endif

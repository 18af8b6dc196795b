/* stdio.h: restates the one declaration of Libc include/stdio.h that
 * libgclzone uses: rename(2), declared there on Darwin as everywhere.
 * libgclzone uses no stdio stream. */
#ifndef GCL_DARWIN_STDIO_H
#define GCL_DARWIN_STDIO_H
#include "_gcl_darwin.h"

int rename(const char *from, const char *to);
#endif

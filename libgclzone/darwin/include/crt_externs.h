/* crt_externs.h: a dylib cannot link `environ` directly (it is defined by the
 * main executable's crt); Libc include/crt_externs.h gives the accessor. */
#ifndef GCL_DARWIN_CRT_EXTERNS_H
#define GCL_DARWIN_CRT_EXTERNS_H
#include "_gcl_darwin.h"

char ***_NSGetEnviron(void);
#endif

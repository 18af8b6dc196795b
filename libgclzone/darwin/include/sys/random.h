/* sys/random.h: getentropy(2), macOS 10.12 and later (xnu
 * bsd/sys/random.h); at most 256 bytes per call. */
#ifndef GCL_DARWIN_SYS_RANDOM_H
#define GCL_DARWIN_SYS_RANDOM_H
#include "../_gcl_darwin.h"

int getentropy(void *buffer, size_t size);
#endif

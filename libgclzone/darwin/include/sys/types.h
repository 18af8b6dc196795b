/* sys/types.h: the base types only (see _gcl_darwin.h). */
#ifndef GCL_DARWIN_SYS_TYPES_H
#define GCL_DARWIN_SYS_TYPES_H
#include "../_gcl_darwin.h"
#endif

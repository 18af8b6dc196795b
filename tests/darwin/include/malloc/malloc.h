/* The Linux zone tests compile zone_darwin.c (-DGCL_ZONE_MODEL) and the
 * libmalloc model against the same restatement of libmalloc's zone ABI that
 * the cross-build uses. Only this header is redirected: everything else
 * comes from glibc. */
#include "../../../../libgclzone/darwin/include/malloc/malloc.h"

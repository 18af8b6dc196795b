/* front_none.c: the front-end descriptor of libgclzone_core.a, the build
 * with no front end: the program keeps the system malloc and uses only the
 * prefixed API, its sbrk and brk stay the system's, and fork reaches the
 * allocator through pthread_atfork. The libraries with a front end link
 * override_elf.c's or zone_darwin.c's descriptor instead (internal.h). */
#include "internal.h"

const gcl_front_t gcl_front = {.name = "none", .owns_sbrk = false, .drives_fork = false};

/* mach/mach_types.h: the Mach scalar types that <malloc/malloc.h> uses,
 * restated from xnu osfmk/mach/{machine/vm_types.h, port.h, kern_return.h,
 * i386/boolean.h, arm/boolean.h}, LP64 only.
 *
 * Plain C on purpose: the zone tests include <malloc/malloc.h> on Linux (with
 * -DGCL_ZONE_MODEL, against tests/darwin's model of libmalloc), so this file
 * depends on nothing but <stdint.h>. */
#ifndef GCL_DARWIN_MACH_TYPES_H
#define GCL_DARWIN_MACH_TYPES_H
#include <stdint.h>

typedef int kern_return_t;
typedef unsigned int mach_port_t; /* natural_t */
typedef mach_port_t task_t;
typedef uintptr_t vm_address_t;   /* vm_offset_t: uintptr_t on LP64 */
typedef uintptr_t vm_size_t;
/* boolean_t: unsigned int for x86_64 user space (i386/boolean.h), int
 * otherwise; either way a 32-bit value in the same register, so the zone
 * ABI is the same. */
#if defined(__x86_64__)
typedef unsigned int boolean_t;
#else
typedef int boolean_t;
#endif

#define KERN_SUCCESS 0
#define KERN_INVALID_ADDRESS 1
#define KERN_PROTECTION_FAILURE 2
#define KERN_NO_SPACE 3
#define KERN_INVALID_ARGUMENT 4
#define KERN_FAILURE 5
#define KERN_NOT_SUPPORTED 46
#endif

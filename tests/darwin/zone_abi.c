/* zone_abi.c: the restated <malloc/malloc.h> against the layouts of Apple's
 * headers, one libmalloc generation at a time (compiled, never run).
 *
 * mk/darwin.mk compiles this file with clang-16 for x86_64- and
 * arm64-apple-macos11 once per GCL_LIBMALLOC_HEADER value; every assertion is
 * a fact of the LP64 layout of that release's header (docs/darwin.md §1): the
 * offset of each field, the size of both structures, and which fields the
 * release has not declared yet. A field added to the wrong release, or a
 * zone_darwin.c that names a field an older SDK lacks (built beside this
 * file), fails the build here.
 */
#include <malloc/malloc.h>

#define AT(type, field, off) _Static_assert(offsetof(type, field) == (off), #type "." #field " is not at " #off)

/* Since libmalloc-166 (claimed_address, zone version 10): unchanged since. */
AT(malloc_zone_t, reserved1, 0);
AT(malloc_zone_t, size, 16);
AT(malloc_zone_t, free, 48);
AT(malloc_zone_t, destroy, 64);
AT(malloc_zone_t, zone_name, 72);
AT(malloc_zone_t, batch_malloc, 80);
AT(malloc_zone_t, introspect, 96);
AT(malloc_zone_t, version, 104);
AT(malloc_zone_t, memalign, 112);
AT(malloc_zone_t, free_definite_size, 120);
AT(malloc_zone_t, pressure_relief, 128);
AT(malloc_zone_t, claimed_address, 136);

AT(malloc_introspection_t, enumerator, 0);
AT(malloc_introspection_t, zone_locked, 64);
AT(malloc_introspection_t, enable_discharge_checking, 72);
AT(malloc_introspection_t, discharge, 88);
/* Clang defines __BLOCKS__ for Darwin targets: the SDK's name is the one
 * that applies to the cross-build. */
#ifndef __BLOCKS__
#error "clang no longer defines __BLOCKS__ for this Darwin target"
#endif
AT(malloc_introspection_t, enumerate_discharged_pointers, 96);
AT(malloc_introspection_t, reinit_lock, 104);
AT(malloc_introspection_t, print_task, 112);
AT(malloc_introspection_t, task_statistics, 120);

/* What each release added at the end; the sizes say that nothing else
 * is there. */
#if GCL_LIBMALLOC_HEADER >= 409 /* try_free_default (zone version 13) */
AT(malloc_zone_t, try_free_default, 144);
#endif
#if GCL_LIBMALLOC_HEADER >= 474 /* zone_type (version 14) */
AT(malloc_introspection_t, zone_type, 128);
_Static_assert(sizeof(malloc_introspection_t) == 136, "introspection table: 17 fields from libmalloc-474");
#else
_Static_assert(sizeof(malloc_introspection_t) == 128, "introspection table: 16 fields before libmalloc-474");
#endif
#if GCL_LIBMALLOC_HEADER >= 521 /* malloc_with_options (version 15) */
AT(malloc_zone_t, malloc_with_options, 152);
#endif
#if GCL_LIBMALLOC_HEADER >= 646 /* the typed entry points (version 16) */
AT(malloc_zone_t, malloc_type_malloc, 160);
AT(malloc_zone_t, malloc_type_memalign, 184);
AT(malloc_zone_t, malloc_type_malloc_with_options, 192);
_Static_assert(sizeof(malloc_zone_t) == 200, "zone: 25 fields from libmalloc-646");
#elif GCL_LIBMALLOC_HEADER >= 521
_Static_assert(sizeof(malloc_zone_t) == 160, "zone: 20 fields in libmalloc-521");
#elif GCL_LIBMALLOC_HEADER >= 409
_Static_assert(sizeof(malloc_zone_t) == 152, "zone: 19 fields in libmalloc-409 and -474");
#else
_Static_assert(sizeof(malloc_zone_t) == 144, "zone: 18 fields in libmalloc-317");
#endif

/* malloc/malloc.h: libmalloc's zone ABI, restated from libmalloc's
 * include/malloc/malloc.h as each SDK generation ships it (docs/darwin.md
 * §1: the layouts, the releases read and the macOS each one shipped with).
 *
 * GCL_LIBMALLOC_HEADER names the libmalloc release whose header this one
 * stands for (default 792, the newest read). A field appears only from the
 * release whose header first declares it, as in Apple's SDKs, where an older
 * header simply lacks the newer fields: code that names a field the macOS 11
 * SDK does not have fails to compile here too (mk/darwin.mk builds
 * zone_darwin.c against 317, 409, 474, 521, 646 and 792). The comment on each
 * field is the zone version from which libmalloc reads it; the release that
 * added a field to the header and the zone version that makes libmalloc read
 * it are different numbers.
 *
 * On arm64e the real header signs every function pointer with
 * MALLOC_ZONE_FN_PTR / MALLOC_INTROSPECT_FN_PTR (__ptrauth qualifiers); this
 * restatement is for plain arm64 and x86_64, where the pointers are raw, and
 * cannot describe an arm64e zone (docs/darwin.md §11).
 *
 * Self-contained (no Darwin libc header) so that the Linux zone tests can
 * compile zone_darwin.c against it and against tests/darwin's libmalloc
 * model. */
#ifndef GCL_DARWIN_MALLOC_MALLOC_H
#define GCL_DARWIN_MALLOC_MALLOC_H
#include <stddef.h>
#include <stdint.h>
#include "../mach/mach_types.h"

#ifndef GCL_LIBMALLOC_HEADER
#define GCL_LIBMALLOC_HEADER 792
#endif
#if GCL_LIBMALLOC_HEADER < 317
#error "GCL_LIBMALLOC_HEADER: libmalloc-317 (macOS 11) is the oldest header restated"
#endif

#ifdef __cplusplus
extern "C" {
#endif

#if GCL_LIBMALLOC_HEADER >= 474 /* the typed-allocation API arrives with macOS 14's header */
typedef unsigned long long malloc_type_id_t;
#endif

typedef struct _malloc_zone_t {
  void *reserved1; /* CFAllocator's isa slot: must stay NULL */
  void *reserved2; /* likewise */
  size_t (*size)(struct _malloc_zone_t *zone, const void *ptr); /* 0: not ours */
  void *(*malloc)(struct _malloc_zone_t *zone, size_t size);
  void *(*calloc)(struct _malloc_zone_t *zone, size_t num_items, size_t size);
  void *(*valloc)(struct _malloc_zone_t *zone, size_t size);
  void (*free)(struct _malloc_zone_t *zone, void *ptr);
  void *(*realloc)(struct _malloc_zone_t *zone, void *ptr, size_t size);
  void (*destroy)(struct _malloc_zone_t *zone);
  const char *zone_name;
  unsigned (*batch_malloc)(struct _malloc_zone_t *zone, size_t size, void **results, unsigned num_requested);
  void (*batch_free)(struct _malloc_zone_t *zone, void **to_be_freed, unsigned num_to_be_freed);
  struct malloc_introspection_t *introspect;
  unsigned version;
  void *(*memalign)(struct _malloc_zone_t *zone, size_t alignment, size_t size);     /* >= 5 */
  void (*free_definite_size)(struct _malloc_zone_t *zone, void *ptr, size_t size);  /* >= 6 */
  size_t (*pressure_relief)(struct _malloc_zone_t *zone, size_t goal);               /* >= 8 */
  boolean_t (*claimed_address)(struct _malloc_zone_t *zone, void *ptr);             /* >= 10 */
#if GCL_LIBMALLOC_HEADER >= 409
  void (*try_free_default)(struct _malloc_zone_t *zone, void *ptr);                 /* >= 13, libmalloc's own zones only */
#endif
#if GCL_LIBMALLOC_HEADER >= 521
  void *(*malloc_with_options)(struct _malloc_zone_t *zone, size_t align, size_t size, uint64_t options); /* >= 15 */
#endif
#if GCL_LIBMALLOC_HEADER >= 646
  void *(*malloc_type_malloc)(struct _malloc_zone_t *zone, size_t size, malloc_type_id_t type_id);      /* >= 16 */
  void *(*malloc_type_calloc)(struct _malloc_zone_t *zone, size_t count, size_t size, malloc_type_id_t type_id);
  void *(*malloc_type_realloc)(struct _malloc_zone_t *zone, void *ptr, size_t size, malloc_type_id_t type_id);
  void *(*malloc_type_memalign)(struct _malloc_zone_t *zone, size_t alignment, size_t size, malloc_type_id_t type_id);
  void *(*malloc_type_malloc_with_options)(struct _malloc_zone_t *zone, size_t align, size_t size, uint64_t options,
                                           malloc_type_id_t type_id);
#endif
} malloc_zone_t;

typedef struct {
  vm_address_t address;
  vm_size_t size;
} vm_range_t;

typedef struct malloc_statistics_t {
  unsigned blocks_in_use;
  size_t size_in_use;
  size_t max_size_in_use; /* high water mark of touched memory */
  size_t size_allocated;  /* reserved in memory */
} malloc_statistics_t;

/* Reads `size` bytes at `remote_address` of `remote_task`; *local_memory is
 * valid only until the next call. */
typedef kern_return_t memory_reader_t(task_t remote_task, vm_address_t remote_address, vm_size_t size,
                                      void **local_memory);

#define MALLOC_PTR_IN_USE_RANGE_TYPE 1   /* allocated pointers */
#define MALLOC_PTR_REGION_RANGE_TYPE 2   /* regions containing pointers */
#define MALLOC_ADMIN_REGION_RANGE_TYPE 4 /* regions used internally */
#define MALLOC_ZONE_SPECIFIC_FLAGS 0xff00

typedef void vm_range_recorder_t(task_t, void *, unsigned type, vm_range_t *, unsigned);
typedef void print_task_printer_t(const char *fmt, ...) __attribute__((__format__(__printf__, 1, 2)));

typedef struct malloc_introspection_t {
  kern_return_t (*enumerator)(task_t task, void *, unsigned type_mask, vm_address_t zone_address,
                              memory_reader_t reader, vm_range_recorder_t recorder);
  size_t (*good_size)(malloc_zone_t *zone, size_t size);
  boolean_t (*check)(malloc_zone_t *zone);
  void (*print)(malloc_zone_t *zone, boolean_t verbose);
  void (*log)(malloc_zone_t *zone, void *address);
  void (*force_lock)(malloc_zone_t *zone);
  void (*force_unlock)(malloc_zone_t *zone);
  void (*statistics)(malloc_zone_t *zone, malloc_statistics_t *stats);
  boolean_t (*zone_locked)(malloc_zone_t *zone);
  boolean_t (*enable_discharge_checking)(malloc_zone_t *zone); /* >= 7, optional */
  void (*disable_discharge_checking)(malloc_zone_t *zone);
  void (*discharge)(malloc_zone_t *zone, void *memory);
  /* A Block parameter: clang defines __BLOCKS__ for every Darwin target, so
   * the SDK's name applies to the cross-build; gcc (the Linux model build)
   * gets the header's placeholder, of the same size. */
#ifdef __BLOCKS__
  void (*enumerate_discharged_pointers)(malloc_zone_t *zone, void (^report_discharged)(void *memory, void *info));
#else
  void *enumerate_unavailable_without_blocks;
#endif
  void (*reinit_lock)(malloc_zone_t *zone);    /* >= 9 */
  void (*print_task)(task_t task, unsigned level, vm_address_t zone_address, memory_reader_t reader,
                     print_task_printer_t printer);                                                 /* >= 11 */
  void (*task_statistics)(task_t task, vm_address_t zone_address, memory_reader_t reader,
                          malloc_statistics_t *stats);                                              /* >= 12 */
#if GCL_LIBMALLOC_HEADER >= 474
  unsigned zone_type; /* >= 14: 0 means unknown; libmalloc's wrapper zones set theirs */
#endif
} malloc_introspection_t;

#define MALLOC_VERBOSE_PRINT_LEVEL 2

malloc_zone_t *malloc_default_zone(void);
malloc_zone_t *malloc_default_purgeable_zone(void);
malloc_zone_t *malloc_create_zone(vm_size_t start_size, unsigned flags);
void malloc_destroy_zone(malloc_zone_t *zone);
void malloc_zone_register(malloc_zone_t *zone);
void malloc_zone_unregister(malloc_zone_t *zone);
kern_return_t malloc_get_all_zones(task_t task, memory_reader_t reader, vm_address_t **addresses, unsigned *count);
void malloc_set_zone_name(malloc_zone_t *zone, const char *name);
const char *malloc_get_zone_name(malloc_zone_t *zone);

void *malloc_zone_malloc(malloc_zone_t *zone, size_t size);
void *malloc_zone_calloc(malloc_zone_t *zone, size_t num_items, size_t size);
void *malloc_zone_valloc(malloc_zone_t *zone, size_t size);
void *malloc_zone_realloc(malloc_zone_t *zone, void *ptr, size_t size);
void *malloc_zone_memalign(malloc_zone_t *zone, size_t alignment, size_t size);
void malloc_zone_free(malloc_zone_t *zone, void *ptr);
unsigned malloc_zone_batch_malloc(malloc_zone_t *zone, size_t size, void **results, unsigned num_requested);
void malloc_zone_batch_free(malloc_zone_t *zone, void **to_be_freed, unsigned num);
malloc_zone_t *malloc_zone_from_ptr(const void *ptr);
size_t malloc_size(const void *ptr);
size_t malloc_good_size(size_t size);
size_t malloc_zone_pressure_relief(malloc_zone_t *zone, size_t goal);
boolean_t malloc_zone_claimed_address(malloc_zone_t *zone, void *ptr);
boolean_t malloc_claimed_address(void *ptr);
boolean_t malloc_zone_check(malloc_zone_t *zone);
void malloc_zone_print(malloc_zone_t *zone, boolean_t verbose);
void malloc_zone_statistics(malloc_zone_t *zone, malloc_statistics_t *stats);
void malloc_zone_log(malloc_zone_t *zone, void *address);

#ifdef __cplusplus
}
#endif
#endif

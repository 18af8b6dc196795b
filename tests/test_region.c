#define _GNU_SOURCE
/* test_region.c: the reservation, its layout and its configuration (region.c, process.c). */
#include "testutil.h"
#include "internal.h"

#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

START_TEST(layout_is_ordered_and_disjoint) {
  ck_assert_int_eq(gclzone_init(NULL), 0);
  gclzone_bounds_t h = gclzone_heap_bounds(), a = gclzone_arena_bounds();
  ck_assert_ptr_eq(h.base, h.brk);
  ck_assert_uint_eq((uintptr_t)h.limit - (uintptr_t)h.base, (size_t)64 << 30);
  ck_assert_uint_eq((uintptr_t)a.limit - (uintptr_t)a.base, (size_t)64 << 30);
  ck_assert_uint_ge((uintptr_t)a.base, (uintptr_t)h.limit + GiB); /* the guard gap */
  ck_assert_uint_eq((uintptr_t)a.base % (4 * MiB), 0);
  ck_assert_uint_gt(gcl_region.map.base, gcl_region.arena.limit);
  ck_assert_uint_le(gcl_region.map.limit, gcl_region.spans.base);
  ck_assert_uint_le(gcl_region.spans.limit, gcl_region.theaps.base);
  ck_assert_uint_le(gcl_region.theaps.limit, gcl_region.base + gcl_region.size);
  ck_assert_uint_le(gcl_region.base, (uintptr_t)h.base);
  ck_assert_uint_eq((uintptr_t)h.base % (64 * KiB), 0);
}
END_TEST

static uintptr_t free_address(size_t size) {
  void *p = mmap(NULL, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  ck_assert(p != MAP_FAILED);
  munmap(p, size);
  return ((uintptr_t)p + 64 * KiB - 1) & ~(uintptr_t)(64 * KiB - 1);
}

START_TEST(fixed_base_is_honoured) {
  uintptr_t at = free_address(8 * GiB);
  gclzone_config_t cfg = {1 * GiB, 1 * GiB, at, NULL};
  ck_assert_int_eq(gclzone_init(&cfg), 0);
  ck_assert_ptr_eq(gclzone_heap_bounds().base, (void *)at);
  ck_assert_ptr_eq(gclzone_sbrk(0), (void *)at);
  void *p = gclzone_malloc(100);
  ck_assert(gclzone_owns(p));
  ck_assert_uint_gt((uintptr_t)p, at + GiB);
}
END_TEST

/* Where a dumped executable's data segment ends: on a page, not on a slot. */
START_TEST(fixed_base_on_a_page_is_exact) {
  uintptr_t at = free_address(8 * GiB) + 3 * 4096;
  gclzone_config_t cfg = {1 * GiB, 1 * GiB, at, NULL};
  ck_assert_int_eq(gclzone_init(&cfg), 0);
  ck_assert_ptr_eq(gclzone_heap_bounds().base, (void *)at);
  ck_assert_ptr_eq(gclzone_sbrk(4096), (void *)at);
  *(volatile char *)at = 1;
  ck_assert_uint_eq((uintptr_t)gclzone_arena_bounds().base % (4 * MiB), 0);
}
END_TEST

START_TEST(fixed_base_taken_is_refused) {
  uintptr_t at = free_address(8 * GiB);
  char *mine = mmap((void *)(at + 5 * MiB), 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  ck_assert(mine != MAP_FAILED);
  strcpy(mine, "still here");
  gclzone_config_t cfg = {1 * GiB, 1 * GiB, at, NULL};
  errno = 0;
  ck_assert_int_eq(gclzone_init(&cfg), -1);
  ck_assert_int_eq(errno, EEXIST);
  ck_assert_str_eq(mine, "still here"); /* never MAP_FIXED over someone else */
}
END_TEST

/* GCLZONE_BASE=brk: the host heap continues the data segment, as the
 * kernel's brk would (GCL and Maxima need it). */
START_TEST(base_at_the_program_break) {
  uintptr_t brk_now = (uintptr_t)syscall(SYS_brk, 0);
  gclzone_config_t cfg = {1 * GiB, 1 * GiB, GCLZONE_BASE_BRK, NULL};
  ck_assert_int_eq(gclzone_init(&cfg), 0);
  uintptr_t base = (uintptr_t)gclzone_heap_bounds().base;
  ck_assert_uint_eq(base, (brk_now + 4095) & ~(uintptr_t)4095);
  ck_assert_int_eq(gclzone_init(&cfg), 0); /* the same wish: still fine */
  ck_assert_ptr_eq(gclzone_sbrk(3 * 4096), (void *)base);
  ((volatile char *)base)[3 * 4096 - 1] = 1;
  ck_assert_uint_eq((uintptr_t)syscall(SYS_brk, 0), brk_now); /* the kernel's break is left alone */
}
END_TEST

START_TEST(bad_configs_are_einval) {
  gclzone_config_t misaligned = {GiB, GiB, 0x200000000800, NULL}; /* not on a page */
  errno = 0;
  ck_assert_int_eq(gclzone_init(&misaligned), -1);
  ck_assert_int_eq(errno, EINVAL);
  gclzone_config_t tiny = {GiB, 4096, 0, NULL};
  errno = 0;
  ck_assert_int_eq(gclzone_init(&tiny), -1);
  ck_assert_int_eq(errno, EINVAL);
  gclzone_config_t huge = {(size_t)1 << 50, GiB, 0, NULL};
  errno = 0;
  ck_assert_int_eq(gclzone_init(&huge), -1);
  ck_assert_int_eq(errno, EINVAL);
  /* The region must end below 2^48 (a slab's remote word). */
  gclzone_config_t high = {GiB, GiB, ((uintptr_t)1 << 48) - GiB, NULL};
  errno = 0;
  ck_assert_int_eq(gclzone_init(&high), -1);
  ck_assert_int_eq(errno, EINVAL);
}
END_TEST

START_TEST(reinit_allowed_until_first_use) {
  ck_assert_int_eq(gclzone_init(NULL), 0);
  gclzone_config_t small = {256 * MiB, 512 * MiB, 0, NULL};
  ck_assert_int_eq(gclzone_init(&small), 0); /* nothing allocated yet: replaced */
  gclzone_bounds_t a = gclzone_arena_bounds();
  ck_assert_uint_eq((uintptr_t)a.limit - (uintptr_t)a.base, 512 * MiB);
  ck_assert_int_eq(gclzone_init(&small), 0); /* the same again: fine */
  ck_assert_int_eq(gclzone_init(NULL), 0);   /* no wish: fine */
  void *p = gclzone_malloc(10);
  ck_assert_ptr_nonnull(p);
  gclzone_config_t other = {256 * MiB, 1024 * MiB, 0, NULL};
  errno = 0;
  ck_assert_int_eq(gclzone_init(&other), -1);
  ck_assert_int_eq(errno, EBUSY);
  ck_assert(gclzone_owns(p));
}
END_TEST

START_TEST(sbrk_use_also_pins_the_region) {
  ck_assert_int_eq(gclzone_init(NULL), 0);
  ck_assert_ptr_ne(gclzone_sbrk(4096), (void *)-1);
  gclzone_config_t small = {256 * MiB, 512 * MiB, 0, NULL};
  errno = 0;
  ck_assert_int_eq(gclzone_init(&small), -1);
  ck_assert_int_eq(errno, EBUSY);
}
END_TEST

START_TEST(env_configures_the_region) {
  setenv("GCLZONE_ARENA_SIZE", "300M", 1);
  setenv("GCLZONE_HEAP_SIZE", "0x10000000", 1);
  void *p = gclzone_malloc(1); /* the first use initializes */
  ck_assert(gclzone_owns(p));
  gclzone_bounds_t a = gclzone_arena_bounds(), h = gclzone_heap_bounds();
  ck_assert_uint_eq((uintptr_t)a.limit - (uintptr_t)a.base, 300 * MiB);
  ck_assert_uint_eq((uintptr_t)h.limit - (uintptr_t)h.base, 256 * MiB);
}
END_TEST

/* Mappings that appear after init lie inside the region: libgclzone maps
 * nothing else. Only read(2) and our own allocator run between snapshots. */
static char before[1 << 16], after[1 << 16];
static size_t snapshot(char *buf, size_t cap) {
  int fd = open("/proc/self/maps", O_RDONLY);
  size_t n = 0;
  ssize_t r;
  while (fd >= 0 && (r = read(fd, buf + n, cap - 1 - n)) > 0) n += (size_t)r;
  buf[n] = 0;
  close(fd);
  return n;
}

START_TEST(nothing_mapped_outside_the_region) {
  ck_assert_int_eq(gclzone_init(NULL), 0);
  snapshot(before, sizeof before);
  static void *keep[4000];
  for (int i = 0; i < 4000; i++) keep[i] = gclzone_malloc((size_t)(i % 50) * (i % 7 == 0 ? 40000 : 24) + 1);
  for (int i = 0; i < 4000; i += 2) gclzone_free(keep[i]);
  gclzone_sbrk(10 * MiB);
  void *big = gclzone_malloc(200 * MiB);
  ck_assert_ptr_nonnull(big);
  gclzone_free(big);
  snapshot(after, sizeof after);
  uintptr_t lo = gcl_region.base, hi = gcl_region.base + gcl_region.size;
  for (char *line = after; *line;) {
    char *eol = strchr(line, '\n');
    size_t len = eol ? (size_t)(eol - line) : strlen(line);
    unsigned long a, b;
    if (sscanf(line, "%lx-%lx", &a, &b) == 2 && !memmem(before, strlen(before), line, len) &&
        !strstr(line, "[stack]") && !strstr(line, "[heap]")) {
      ck_assert_msg(a >= lo && b <= hi, "mapping outside the region: %.*s", (int)len, line);
    }
    line += len + (eol != NULL);
  }
}
END_TEST

START_TEST(grow_stops_at_the_limit) {
  ck_assert_int_eq(gclzone_init(NULL), 0);
  gcl_part_t part = {gcl_region.host.base, gcl_region.host.base + 3 * 4096, gcl_region.host.base};
  ck_assert_int_eq(gcl_region_grow(&part, part.base + 100, 4096), 0);
  ck_assert_uint_eq(part.committed, part.base + 4096);
  ck_assert_int_eq(gcl_region_grow(&part, part.base + 5000, 64 * KiB), 0); /* step clipped to the limit */
  ck_assert_uint_eq(part.committed, part.limit);
  ck_assert_int_eq(gcl_region_grow(&part, part.limit + 1, 4096), ENOMEM);
}
END_TEST

Suite *suite_region(void) {
  Suite *s = suite_create("region");
  TCase *t = tcase_create("region");
  tcase_add_test(t, layout_is_ordered_and_disjoint);
  tcase_add_test(t, fixed_base_is_honoured);
  tcase_add_test(t, fixed_base_on_a_page_is_exact);
  tcase_add_test(t, base_at_the_program_break);
  tcase_add_test(t, fixed_base_taken_is_refused);
  tcase_add_test(t, bad_configs_are_einval);
  tcase_add_test(t, reinit_allowed_until_first_use);
  tcase_add_test(t, sbrk_use_also_pins_the_region);
  tcase_add_test(t, env_configures_the_region);
  tcase_add_test(t, nothing_mapped_outside_the_region);
  tcase_add_test(t, grow_stops_at_the_limit);
  suite_add_tcase(s, t);
  return s;
}

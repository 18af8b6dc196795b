/* test_arena.c: spans, coalescing, reuse and purging (arena.c). */
#include "testutil.h"
#include "internal.h"

#define SLOT GCL_SLOT_SIZE

static size_t slot_index(const gcl_span_t *s) {
  return (s->start - gcl_spans.base) >> GCL_SLOT_SHIFT;
}

/* Every slot below top maps to the span that contains it. */
static void check_map(void) {
  size_t top = gcl_spans.top >> GCL_SLOT_SHIFT;
  for (size_t i = 0; i < top;) {
    gcl_span_t *s = gcl_spans.map[i];
    ck_assert_uint_eq(slot_index(s), i);
    ck_assert_uint_gt(s->slots, 0);
    for (size_t j = 0; j < s->slots; j++) ck_assert_ptr_eq(gcl_spans.map[i + j], s);
    i += s->slots;
  }
}

START_TEST(spans_come_from_the_break_in_order) {
  small_region(64 * MiB, 256 * MiB);
  gcl_span_t *a = gcl_span_take(1, 1, GCL_SPAN_LARGE);
  gcl_span_t *b = gcl_span_take(3, 1, GCL_SPAN_LARGE);
  gcl_span_t *c = gcl_span_take(2, 1, GCL_SPAN_SLAB);
  ck_assert_uint_eq(a->start, gcl_region.arena.base);
  ck_assert_uint_eq(b->start, a->start + SLOT);
  ck_assert_uint_eq(c->start, b->start + 3 * SLOT);
  ck_assert(a->flags & GCL_SPAN_ZERO);
  ck_assert_uint_eq(gcl_spans.top, 6 * SLOT);
  ck_assert_ptr_eq(gcl_span_of((char *)b->start + 2 * SLOT + 5), b);
  ck_assert_ptr_null(gcl_span_of((char *)gcl_spans.base + 6 * SLOT));
  memset((void *)b->start, 1, 3 * SLOT);
  check_map();
}
END_TEST

START_TEST(neighbours_coalesce) {
  small_region(64 * MiB, 256 * MiB);
  gcl_options.purge_delay_ms = -1; /* keep them dirty */
  gcl_span_t *s[5];
  for (int i = 0; i < 5; i++) s[i] = gcl_span_take((size_t)i + 1, 1, GCL_SPAN_LARGE);
  uintptr_t start1 = s[1]->start;
  gcl_span_give(s[2]);
  gcl_span_give(s[1]);
  check_map();
  gcl_span_t *f = gcl_span_of((void *)start1);
  ck_assert_int_eq(f->kind, GCL_SPAN_FREE);
  ck_assert_uint_eq(f->start, start1);
  ck_assert_uint_eq(f->slots, 2 + 3);
  gcl_span_give(s[3]);
  f = gcl_span_of((void *)start1);
  ck_assert_uint_eq(f->slots, 2 + 3 + 4);
  check_map();
  /* A request that fits is carved from the front of the merged span. */
  gcl_span_t *t = gcl_span_take(6, 1, GCL_SPAN_LARGE);
  ck_assert_uint_eq(t->start, start1);
  ck_assert_uint_eq(gcl_span_of((char *)start1 + 6 * SLOT)->slots, 3);
  check_map();
}
END_TEST

START_TEST(freed_pages_are_reused_without_refault) {
  small_region(64 * MiB, 256 * MiB);
  gcl_options.purge_delay_ms = 1000 * 1000;
  gcl_span_t *s = gcl_span_take(100, 1, GCL_SPAN_LARGE);
  uintptr_t at = s->start;
  fill((void *)at, 100 * SLOT, 3);
  gcl_span_give(s);
  gcl_span_t *again = gcl_span_take(80, 1, GCL_SPAN_LARGE);
  ck_assert_uint_eq(again->start, at);
  ck_assert(!(again->flags & GCL_SPAN_ZERO));
  ck_assert(filled((void *)at, 80 * SLOT, 3)); /* still resident: not purged */
}
END_TEST

START_TEST(purge_when_over_the_dirty_cap) {
  small_region(64 * MiB, 256 * MiB);
  gcl_options.purge_delay_ms = -1;
  gcl_options.dirty_max = 2 * MiB;
  gcl_span_t *a = gcl_span_take(16, 1, GCL_SPAN_LARGE); /* 1 MiB */
  gcl_span_t *b = gcl_span_take(64, 1, GCL_SPAN_LARGE); /* 4 MiB */
  gcl_span_take(1, 1, GCL_SPAN_LARGE);
  uintptr_t pa = a->start, pb = b->start;
  memset((void *)pa, 1, 16 * SLOT);
  memset((void *)pb, 1, 64 * SLOT);
  gcl_span_stats_t st;
  gcl_span_give(a);
  gcl_span_stats(&st);
  ck_assert_uint_eq(st.dirty, 1 * MiB);
  gcl_span_give(b); /* merges with a: 5 MiB dirty > 2 MiB, so it is purged */
  gcl_span_stats(&st);
  ck_assert_uint_eq(st.dirty, 0);
  gcl_span_t *f = gcl_span_of((void *)pa);
  ck_assert_int_eq(f->kind, GCL_SPAN_FREE);
  ck_assert(f->flags & GCL_SPAN_ZERO);
  ck_assert_int_eq(*(volatile char *)pa, 0); /* purged pages read as zero */
  ck_assert_uint_eq(st.committed, 1 * SLOT); /* only the last span may be resident */
}
END_TEST

/* GCLZONE_DIRTY_SHARE: the cap is a share of the bytes in use when that is
 * more than GCLZONE_DIRTY_MAX, and shrinks with them. */
START_TEST(the_dirty_cap_follows_the_bytes_in_use) {
  small_region(64 * MiB, 256 * MiB);
  gcl_options.purge_delay_ms = -1;
  gcl_options.dirty_max = 1 * MiB;
  gcl_options.dirty_share = 50;
  gcl_span_t *live = gcl_span_take(160, 1, GCL_SPAN_LARGE); /* 10 MiB in use */
  gcl_span_t *a = gcl_span_take(48, 1, GCL_SPAN_LARGE);     /* 3 MiB */
  gcl_span_take(1, 1, GCL_SPAN_LARGE);
  memset((void *)a->start, 1, 48 * SLOT);
  uintptr_t pa = a->start;
  gcl_span_stats_t st;
  gcl_span_give(a); /* 3 MiB dirty: over 1 MiB, under half of 10 MiB */
  gcl_span_stats(&st);
  ck_assert_uint_eq(st.dirty, 3 * MiB);
  ck_assert_int_eq(*(volatile char *)pa, 1); /* still resident */
  gcl_span_give(live); /* nothing much in use: the cap is 1 MiB again */
  gcl_span_stats(&st);
  ck_assert_uint_eq(st.dirty, 0);
  ck_assert_int_eq(*(volatile char *)pa, 0);
  /* With no share, the fixed cap alone. */
  gcl_options.dirty_share = 0;
  live = gcl_span_take(160, 1, GCL_SPAN_LARGE);
  a = gcl_span_take(48, 1, GCL_SPAN_LARGE);
  memset((void *)a->start, 1, 48 * SLOT);
  gcl_span_give(a);
  gcl_span_stats(&st);
  ck_assert_uint_eq(st.dirty, 0);
}
END_TEST

/* The default share keeps holes of more than half the bytes in use (bench's
 * largelive: 32 live blocks of 5 to 25 MiB replaced one at a time leave
 * holes of over half of them, which the next blocks fit into). */
START_TEST(the_default_share_keeps_big_holes) {
  small_region(64 * MiB, 256 * MiB);
  gcl_options.purge_delay_ms = -1;
  gcl_options.dirty_max = 1 * MiB;
  gcl_options.dirty_share = (long)gcl_options_table[GCL_OPTION_DIRTY_SHARE].dflt;
  gcl_span_t *live = gcl_span_take(160, 1, GCL_SPAN_LARGE); /* 10 MiB in use */
  gcl_span_t *a = gcl_span_take(112, 1, GCL_SPAN_LARGE);    /* 7 MiB */
  gcl_span_take(1, 1, GCL_SPAN_LARGE);
  memset((void *)a->start, 1, 112 * SLOT);
  uintptr_t pa = a->start;
  gcl_span_give(a); /* 7 MiB dirty: 70% of what is in use */
  gcl_span_stats_t st;
  gcl_span_stats(&st);
  ck_assert_uint_eq(st.dirty, 7 * MiB);
  ck_assert_int_eq(*(volatile char *)pa, 1);
  a = gcl_span_take(96, 1, GCL_SPAN_LARGE); /* the next block reuses the hole's pages */
  ck_assert_uint_eq(a->start, pa);
  ck_assert(!(a->flags & GCL_SPAN_ZERO));
  gcl_span_give(a);
  gcl_span_give(live);
}
END_TEST

/* The bytes in use swing down and up again (threads that exit and are
 * replaced): what was in use stays resident for the next swing, however
 * far over the other caps, as long as in use + dirty stays within the
 * recent peak of in use. */
START_TEST(a_swing_keeps_its_pages_for_the_next) {
  small_region(64 * MiB, 256 * MiB);
  gcl_options.purge_delay_ms = 60 * 1000;
  gcl_options.dirty_max = 1 * MiB;
  gcl_options.dirty_share = 50;
  gcl_span_t *a = gcl_span_take(16, 1, GCL_SPAN_LARGE); /* 1 MiB */
  gcl_span_take(1, 1, GCL_SPAN_LARGE);
  gcl_span_t *b = gcl_span_take(80, 1, GCL_SPAN_LARGE); /* 5 MiB */
  gcl_span_take(1, 1, GCL_SPAN_LARGE);
  uintptr_t pa = a->start, pb = b->start;
  fill((void *)pa, 16 * SLOT, 1);
  fill((void *)pb, 80 * SLOT, 2);
  gcl_span_stats_t st;
  gcl_span_give(a);
  gcl_span_give(b); /* 6 MiB dirty, nothing much in use: over 1 MiB and over half */
  gcl_span_stats(&st);
  ck_assert_uint_eq(st.dirty, 6 * MiB);
  a = gcl_span_take(16, 1, GCL_SPAN_LARGE); /* the next swing reuses the pages */
  b = gcl_span_take(80, 1, GCL_SPAN_LARGE);
  ck_assert_uint_eq(a->start, pa);
  ck_assert_uint_eq(b->start, pb);
  ck_assert(!(a->flags & GCL_SPAN_ZERO) && !(b->flags & GCL_SPAN_ZERO));
  ck_assert(filled((void *)pa, 16 * SLOT, 1) && filled((void *)pb, 80 * SLOT, 2));
  /* b's pages do not fit what comes next, which the break serves: in use
   * + dirty would pass the peak, so b is purged. */
  gcl_span_give(b);
  gcl_span_stats(&st);
  ck_assert_uint_eq(st.dirty, 5 * MiB);
  gcl_span_t *c = gcl_span_take(96, 1, GCL_SPAN_LARGE); /* 6 MiB */
  gcl_span_stats(&st);
  ck_assert_uint_eq(st.dirty, 0);
  ck_assert_int_eq(*(volatile char *)pb, 0);
  /* Without a share, DIRTY_MAX alone. */
  gcl_options.dirty_share = 0;
  memset((void *)c->start, 1, 96 * SLOT);
  gcl_span_give(c);
  gcl_span_stats(&st);
  ck_assert_uint_eq(st.dirty, 0);
}
END_TEST

START_TEST(purge_after_the_delay) {
  small_region(64 * MiB, 256 * MiB);
  gcl_options.purge_delay_ms = 30;
  gcl_span_t *a = gcl_span_take(32, 1, GCL_SPAN_LARGE);
  gcl_span_take(1, 1, GCL_SPAN_LARGE);
  memset((void *)a->start, 1, 32 * SLOT);
  uintptr_t pa = a->start;
  gcl_span_give(a);
  gcl_span_stats_t st;
  gcl_span_stats(&st);
  ck_assert_uint_eq(st.dirty, 32 * SLOT);
  usleep(80 * 1000);
  gcl_span_t *other = gcl_span_take(2, 1, GCL_SPAN_SLAB); /* arena activity runs the purge */
  gcl_span_stats(&st);
  ck_assert_uint_eq(st.dirty, 0);
  ck_assert_int_eq(*(volatile char *)(pa + 3 * SLOT), 0);
  ck_assert_uint_eq(other->start, pa); /* clean spans are reused before the break grows */
}
END_TEST

START_TEST(aligned_spans) {
  small_region(64 * MiB, 256 * MiB);
  gcl_span_take(3, 1, GCL_SPAN_LARGE);
  gcl_span_t *s = gcl_span_take(5, 16, GCL_SPAN_LARGE);
  ck_assert_uint_eq(slot_index(s) % 16, 0);
  gcl_span_t *pad = gcl_span_of((void *)(gcl_spans.base + 3 * SLOT));
  ck_assert_int_eq(pad->kind, GCL_SPAN_FREE);
  ck_assert_uint_eq(pad->slots, 13);
  gcl_span_t *t = gcl_span_take(4, 4, GCL_SPAN_LARGE); /* fits in the pad, aligned */
  ck_assert_uint_eq(slot_index(t), 4);
  check_map();
}
END_TEST

START_TEST(resize_in_place) {
  small_region(64 * MiB, 256 * MiB);
  gcl_span_t *a = gcl_span_take(4, 1, GCL_SPAN_LARGE);
  uintptr_t at = a->start;
  ck_assert(gcl_span_large_resize(a, 10 * SLOT)); /* at the break: the break moves, with growth room */
  ck_assert_uint_eq(a->slots, 10 + 10 / 4);
  ck_assert_uint_eq(gcl_spans.top, 12 * SLOT);
  ck_assert_uint_eq(gcl_span_usable(a), 10 * SLOT); /* the room is not usable */
  gcl_span_t *b = gcl_span_take(20, 1, GCL_SPAN_LARGE);
  ck_assert(gcl_span_large_resize(a, 3 * SLOT)); /* shrink: the tail becomes free */
  ck_assert_uint_eq(gcl_span_of((void *)(at + 3 * SLOT))->kind, GCL_SPAN_FREE);
  ck_assert(gcl_span_large_resize(a, 8 * SLOT)); /* grows into the free tail, with room */
  ck_assert_uint_eq(a->start, at);
  ck_assert_uint_eq(a->slots, 8 + 8 / 4);
  ck_assert_uint_eq(gcl_span_of((void *)(at + 10 * SLOT))->kind, GCL_SPAN_FREE);
  ck_assert(gcl_span_large_resize(a, 12 * SLOT));  /* no room for more: takes the whole free tail */
  ck_assert_uint_eq(a->slots, 12);
  ck_assert(!gcl_span_large_resize(a, 13 * SLOT)); /* b is next: refused, nothing changed */
  ck_assert_uint_eq(a->slots, 12);
  ck_assert_uint_eq(b->start, at + 12 * SLOT);
  check_map();
}
END_TEST

/* realloc moves a large block whose neighbour is taken. Into a clean span
 * (here the break), where the OS moves pages (Linux >= 5.7: gcl_prim_move),
 * they go uncopied and the old span is given back clean; elsewhere the
 * bytes are copied and the old span is dirty. Into a dirty span the bytes
 * are always copied: moving would throw away its resident pages, and the
 * old span's pages would be faulted in again when reused. Every byte
 * arrives either way. */
static char *moved(char *p, size_t size, size_t to, bool *clean) {
  gcl_span_stats_t before, after;
  gcl_span_stats(&before);
  char *q = gcl_alloc_realloc(p, to, NULL);
  ck_assert_ptr_nonnull(q);
  ck_assert_ptr_ne(q, p);
  ck_assert(filled(q, size, 9));
  gcl_span_stats(&after);
  gcl_span_t *old = gcl_span_of(p);
  ck_assert_uint_eq(old->kind, GCL_SPAN_FREE);
  *clean = old->flags & GCL_SPAN_ZERO;
  if (*clean) {
    ck_assert_uint_eq(after.dirty, before.dirty);
    for (size_t i = 0; i < size; i += 512) ck_assert_int_eq(p[i], 0);
  } else {
    ck_assert_uint_ge(after.dirty, (size_t)old->slots * SLOT); /* copied: the old span is dirty and resident */
  }
  check_map();
  return q;
}

START_TEST(a_large_block_moves_its_pages_only_into_a_clean_span) {
  small_region(64 * MiB, 256 * MiB);
  gcl_options.purge_delay_ms = 1000 * 1000;
  size_t size = 3 * SLOT + 1000;
  char *p = gcl_alloc_malloc(size);
  void *next = gcl_alloc_malloc(4 * SLOT); /* p cannot grow in place */
  ck_assert_ptr_nonnull(p);
  ck_assert_ptr_nonnull(next);
  ck_assert_uint_eq(gcl_span_of(next)->start, (uintptr_t)p + gcl_span_of(p)->slots * SLOT);
  fill(p, size, 9);
  bool clean;
  char *q = moved(p, size, 9 * SLOT, &clean); /* to the break: clean */
  ck_assert(clean == (bool)os_moves_pages());
  /* A block after q, then a dirty span that fits q's next move. */
  void *after_q = gcl_alloc_malloc(SLOT * 5); /* bigger than p's old span: from the break */
  char *d = gcl_alloc_malloc(40 * SLOT);
  void *after_d = gcl_alloc_malloc(SLOT * 5);
  ck_assert_ptr_nonnull(after_q);
  ck_assert_ptr_nonnull(d);
  ck_assert_ptr_nonnull(after_d);
  ck_assert_uint_eq(gcl_span_of(after_q)->start, (uintptr_t)q + gcl_span_of(q)->slots * SLOT);
  memset(d, 1, 40 * SLOT);
  gcl_alloc_free(d, NULL); /* dirty, resident */
  fill(q, size, 9);
  char *r = moved(q, size, 20 * SLOT, &clean);
  ck_assert(!clean);
  ck_assert_ptr_eq(r, d); /* it went where the dirty span was */
}
END_TEST

/* A free span at the break that is too small for a request grows past the
 * break into it: its pages are used again, not left behind (take_grown),
 * and an aligned request leaves the free span's unaligned front free. */
START_TEST(a_free_span_at_the_break_grows) {
  small_region(64 * MiB, 256 * MiB);
  gcl_span_t *a = gcl_span_take(4, 1, GCL_SPAN_LARGE);
  gcl_span_t *b = gcl_span_take(2, 1, GCL_SPAN_LARGE);
  memset((void *)b->start, 0x5a, 2 * SLOT);
  gcl_span_give(b); /* [4, 6) free and dirty, at the break */
  gcl_span_t *c = gcl_span_take(5, 1, GCL_SPAN_LARGE);
  ck_assert_uint_eq(slot_index(c), 4);
  ck_assert_uint_eq(c->slots, 5);
  ck_assert_uint_eq(gcl_spans.top, 9 * SLOT);
  ck_assert(!(c->flags & GCL_SPAN_ZERO)); /* b's pages: not zero */
  ck_assert_uint_eq(((unsigned char *)c->start)[0], 0x5a);
  check_map();
  gcl_span_give(c); /* [4, 9) free at the break again */
  gcl_span_t *d = gcl_span_take(4, 8, GCL_SPAN_LARGE);
  ck_assert_uint_eq(slot_index(d), 8);
  ck_assert_uint_eq(gcl_spans.top, 12 * SLOT);
  gcl_span_t *front = gcl_span_of((void *)(gcl_spans.base + 4 * SLOT));
  ck_assert_int_eq(front->kind, GCL_SPAN_FREE);
  ck_assert_uint_eq(front->slots, 4);
  ck_assert_ptr_eq(gcl_span_of((void *)a->start), a);
  check_map();
}
END_TEST

START_TEST(exhaustion_is_clean_and_recoverable) {
  small_region(64 * MiB, 16 * MiB);
  static gcl_span_t *got[300];
  int n = 0;
  while ((got[n] = gcl_span_take((size_t)(n % 3) + 1, 1, GCL_SPAN_LARGE))) n++;
  ck_assert_int_gt(n, 100);
  ck_assert_uint_le(gcl_spans.top, 16 * MiB);
  for (int i = 0; i < n; i++) gcl_span_give(got[i]);
  check_map();
  gcl_span_t *all = gcl_span_take(gcl_spans.top >> GCL_SLOT_SHIFT, 1, GCL_SPAN_LARGE);
  ck_assert_ptr_nonnull(all); /* everything coalesced back */
  ck_assert_uint_eq(all->start, gcl_spans.base);
}
END_TEST

/* The same in the arena: a page mapped over its reserved tail stops the
 * arena's growth there, with a clean ENOMEM, and the page is untouched. */
static void map_over_the_arena(void *arg) {
  (void)arg;
  small_region(64 * MiB, 256 * MiB);
  gclzone_bounds_t a = gclzone_arena_bounds();
  char *theirs = (char *)a.base + 64 * MiB;
  if (mmap(theirs, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != theirs) _exit(10);
  memset(theirs, 'y', 4096);
  void *blocks[64];
  int n = 0;
  while (n < 64 && (blocks[n] = gclzone_malloc(4 * MiB))) n++;
  if (n == 64 || n < 10 || errno != ENOMEM) _exit(11);
  for (int i = 0; i < n; i++)
    if ((char *)blocks[i] + 4 * MiB > theirs && (char *)blocks[i] < theirs + 4096) _exit(12);
  for (int i = 0; i < 4096; i++)
    if (theirs[i] != 'y') _exit(13);
  for (int i = 0; i < n; i++) gclzone_free(blocks[i]);
  if (!gclzone_malloc(4 * MiB)) _exit(14); /* what is below still serves */
  _exit(0);
}

START_TEST(a_mapping_over_the_arena_is_not_taken) {
  char err[512];
  int st = run_captured(map_over_the_arena, NULL, err, sizeof err);
  ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x: %s", st, err);
  ck_assert_msg(strstr(err, "gclzone: warning: a mapping was placed over the region between ") != NULL, "%s", err);
}
END_TEST

Suite *suite_arena(void) {
  Suite *s = suite_create("arena");
  TCase *t = tcase_create("spans");
  tcase_add_test(t, spans_come_from_the_break_in_order);
  tcase_add_test(t, neighbours_coalesce);
  tcase_add_test(t, freed_pages_are_reused_without_refault);
  tcase_add_test(t, purge_when_over_the_dirty_cap);
  tcase_add_test(t, the_dirty_cap_follows_the_bytes_in_use);
  tcase_add_test(t, the_default_share_keeps_big_holes);
  tcase_add_test(t, a_swing_keeps_its_pages_for_the_next);
  tcase_add_test(t, purge_after_the_delay);
  tcase_add_test(t, aligned_spans);
  tcase_add_test(t, resize_in_place);
  tcase_add_test(t, a_large_block_moves_its_pages_only_into_a_clean_span);
  tcase_add_test(t, a_free_span_at_the_break_grows);
  tcase_add_test(t, exhaustion_is_clean_and_recoverable);
  tcase_add_test(t, a_mapping_over_the_arena_is_not_taken);
  suite_add_tcase(s, t);
  return s;
}

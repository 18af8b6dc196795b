/* walk.c: reading the arena: its spans in address order, and the live
 * blocks of each, through a reader.
 *
 * The one iterator over the slot map. In this process the reader is the
 * identity (gcl_walk_open_self: gclzone_walk, the stats, the region map,
 * the validators); the Darwin zone's enumerator passes libmalloc's task
 * reader, so the same code walks another process. Everything comes through
 * the reader and is copied out before the next read (a reader's buffer
 * lives until its next call); nothing here takes a lock or writes the
 * walked process, so a walk may run with the world stopped, in a fork
 * child, or concurrently with another walk. State is the caller's (a
 * gcl_walk_t, about 2.5 KiB).
 *
 * Invariant of what it reports: a span is reported only if its descriptor
 * lies in the descriptor part and agrees with the map (it starts at the
 * slot that maps to it and ends below the break); anything else (a target
 * caught mid-update, or corruption) is skipped a slot at a time, counted in
 * `skipped`, and the first such disagreement is named in `bad`, which the
 * validators treat as fatal. Reads of fields other threads write are
 * relaxed loads: a walk of a running process is a snapshot, exact only
 * when the other threads are quiet.
 */
#include "internal.h"

#include <string.h>

static int self_read(void *ctx, uintptr_t addr, size_t size, const void **out) {
  (void)ctx;
  (void)size;
  *out = (const void *)addr;
  return 0;
}

/* n bytes of words, each loaded relaxed. */
static void copy_words(void *dst, const void *src, size_t n) {
  uintptr_t *d = dst;
  const uintptr_t *s = src;
  for (size_t i = 0; i < n / sizeof *s; i++) d[i] = gcl_load_relaxed(&s[i]);
}

/* The fields a walker needs, each loaded relaxed. */
static void copy_span(gcl_span_t *d, const gcl_span_t *s) {
  memset(d, 0, sizeof *d);
  d->start = gcl_load_relaxed(&s->start);
  d->slots = gcl_load_relaxed(&s->slots);
  d->kind = gcl_load_relaxed(&s->kind);
  d->flags = gcl_load_relaxed(&s->flags);
  d->sclass = gcl_load_relaxed(&s->sclass);
  d->block_size = gcl_load_relaxed(&s->block_size);
  d->blockmagic = gcl_load_relaxed(&s->blockmagic);
  d->bump = gcl_load_relaxed(&s->bump);
  d->bump_key = gcl_load_relaxed(&s->bump_key);
  d->usable_end = gcl_load_relaxed(&s->usable_end);
  d->used = gcl_load_relaxed(&s->used);
  d->remote = gcl_load_relaxed(&s->remote);
  d->theap = gcl_load_acquire(&s->theap);
  d->orphan = gcl_load_relaxed(&s->orphan);
  d->full = gcl_load_relaxed(&s->full);
}

static int read_region(gcl_walk_t *w, uintptr_t region) {
  const void *p;
  int err = w->read(w->ctx, region, sizeof w->region, &p);
  if (err) return err;
  copy_words(&w->region, p, sizeof w->region);
  return 0;
}

/* Open a walk of the arena whose gcl_region and gcl_spans lie at `region`
 * and `spans` in the process `read` reads. 0 or the reader's error. */
int gcl_walk_open(gcl_walk_t *w, gcl_reader_fn *read, void *ctx, uintptr_t region, uintptr_t spans) {
  memset(w, 0, offsetof(gcl_walk_t, chunk));
  w->read = read;
  w->ctx = ctx;
  w->region_addr = region;
  int err = read_region(w, region);
  if (err) return err;
  const void *p;
  uintptr_t line[GCL_SPANS_LINE / sizeof(uintptr_t)];
  if ((err = read(ctx, spans, sizeof line, &p))) return err;
  copy_words(line, p, sizeof line);
  w->base = line[offsetof(gcl_spans_t, base) / sizeof(uintptr_t)];
  w->top = line[offsetof(gcl_spans_t, top) / sizeof(uintptr_t)];
  w->map = line[offsetof(gcl_spans_t, map) / sizeof(uintptr_t)];
  w->link_key = line[offsetof(gcl_spans_t, link_key) / sizeof(uintptr_t)];
  size_t max = (w->region.arena.limit - w->region.arena.base) >> GCL_SLOT_SHIFT;
  w->slots = w->top >> GCL_SLOT_SHIFT;
  if (w->slots > max || w->base != w->region.arena.base) w->slots = 0; /* not initialized, or nonsense */
  return 0;
}

/* A walk of this process's arena. */
void gcl_walk_open_self(gcl_walk_t *w) {
  gcl_walk_open(w, self_read, NULL, (uintptr_t)&gcl_region, (uintptr_t)&gcl_spans);
}

/* The map entry of `slot` (below w->slots): 0 or the reader's error. */
int gcl_walk_slot(gcl_walk_t *w, size_t slot, uintptr_t *desc) {
  if (slot < w->chunk_first || slot >= w->chunk_end) {
    size_t n = w->slots - slot < GCL_WALK_CHUNK ? w->slots - slot : GCL_WALK_CHUNK;
    const void *p;
    int err = w->read(w->ctx, w->map + slot * sizeof(uintptr_t), n * sizeof(uintptr_t), &p);
    if (err) return err;
    copy_words(w->chunk, p, n * sizeof(uintptr_t));
    w->chunk_first = slot;
    w->chunk_end = slot + n;
  }
  *desc = w->chunk[slot - w->chunk_first];
  return 0;
}

static bool in_descriptors(const gcl_walk_t *w, uintptr_t d) {
  const gcl_part_t *p = &w->region.spans;
  return d >= p->base && d + sizeof(gcl_span_t) <= p->committed && (d - p->base) % sizeof(gcl_span_t) == 0;
}

static void skip(gcl_walk_t *w, const char *why) {
  if (!w->bad) w->bad = why, w->bad_slot = w->slot;
  w->skipped++;
  w->slot++;
}

/* Advance to the next span: 1 (w->span holds a copy of it, w->at its
 * address), 0 at the break, or -errno when a read fails. */
int gcl_walk_next(gcl_walk_t *w) {
  while (w->slot < w->slots) {
    size_t i = w->slot;
    uintptr_t d;
    int err = gcl_walk_slot(w, i, &d);
    if (err) return -err;
    /* The descriptors may have grown since the walk began. */
    if (!in_descriptors(w, d) && (err = read_region(w, w->region_addr))) return -err;
    if (!in_descriptors(w, d)) {
      skip(w, "a slot maps to no span descriptor");
      continue;
    }
    const void *p;
    if ((err = w->read(w->ctx, d, sizeof(gcl_span_t), &p))) return -err;
    copy_span(&w->span, p);
    const gcl_span_t *s = &w->span;
    if (s->start != w->base + (i << GCL_SLOT_SHIFT) || s->slots == 0 || i + s->slots > w->slots) {
      skip(w, "a span disagrees with the slot map");
      continue;
    }
    w->at = d;
    w->slot = i + s->slots;
    return 1;
  }
  return 0;
}

#define WINDOW ((size_t)16 << 10) /* bytes of a slab per read */

/* The live blocks of a slab: those below its bump pointer whose second word
 * is not their free tag (slab.c's invariant); the tag names the slab's
 * descriptor in the walked process. Tags are read a window at a time and
 * decided before any visit, since a visitor may read through the reader. */
static int slab_blocks(gcl_walk_t *w, gcl_walk_visitor_fn *visit, void *ctx) {
  const gcl_span_t *s = &w->span;
  size_t bs = s->block_size;
  if (!gcl_slab_published(s)) return 0; /* still being built: nothing handed out */
  if (bs < GCL_ALIGNMENT || bs > GCL_MEDIUM_MAX || bs % GCL_ALIGNMENT || s->bump < s->start ||
      s->bump > s->start + ((size_t)s->slots << GCL_SLOT_SHIFT))
    return 0; /* caught mid-update: nothing to trust */
  uint64_t live[WINDOW / GCL_ALIGNMENT / 64];
  size_t per = bs > WINDOW ? 1 : WINDOW / bs;
  for (uintptr_t b = s->start; b < s->bump; b += per * bs) {
    size_t n = (s->bump - b) / bs < per ? (s->bump - b) / bs : per;
    const void *p;
    /* Large classes: only the head of each block is read. */
    int err = w->read(w->ctx, b, bs > WINDOW ? sizeof(gcl_block_t) : n * bs, &p);
    if (err) return err;
    memset(live, 0, sizeof live);
    for (size_t k = 0; k < n; k++) {
      const gcl_block_t *blk = (const gcl_block_t *)((const char *)p + k * bs);
      uintptr_t tag = gcl_span_free_tag_keyed(w->at, b + k * bs, w->link_key);
      if (gcl_load_relaxed(&blk->tag) != tag) live[k / 64] |= (uint64_t)1 << (k % 64);
    }
    for (size_t k = 0; k < n; k++)
      if (live[k / 64] >> (k % 64) & 1) visit(ctx, b + k * bs, bs);
  }
  return 0;
}

/* Visit the live blocks of the current span (address, usable size), in
 * address order: a published slab's, or the large block. 0 or the reader's
 * error. */
int gcl_walk_blocks(gcl_walk_t *w, gcl_walk_visitor_fn *visit, void *ctx) {
  const gcl_span_t *s = &w->span;
  if (s->kind == GCL_SPAN_SLAB) return slab_blocks(w, visit, ctx);
  if (s->kind == GCL_SPAN_LARGE && s->usable_end > s->start &&
      s->usable_end <= s->start + ((size_t)s->slots << GCL_SLOT_SHIFT))
    visit(ctx, s->start, s->usable_end - s->start);
  return 0;
}

/* introspect.c: what the host can ask about the region: stats, bounds,
 * the walk over live blocks, the region map, and the reports (human, and
 * one JSON object for scripts).
 *
 * Counts of blocks in use come from walking the spans (walk.c) under the
 * span lock (each slab's `used`, less blocks freed by other threads and not
 * yet gathered), so the fast paths keep no counters at all. They are exact
 * when no other thread is allocating or freeing. gclzone_walk takes no lock
 * at all, so that a collector can run it with the world stopped.
 */
#include "internal.h"

#include <string.h>

static void blocks_in_use(size_t *bytes, size_t *blocks) {
  size_t nbytes = 0, nblocks = 0;
  gcl_walk_t w;
  gcl_prim_lock(&gcl_span_lock);
  gcl_walk_open_self(&w);
  while (gcl_walk_next(&w) > 0) {
    const gcl_span_t *s = &w.span;
    if (s->kind == GCL_SPAN_SLAB) {
      /* used is the owner's plain counter (one add on the fast paths): read
       * while the owner runs, it may be stale, as documented. */
      size_t remote = gcl_slab_remote_count(s->remote);
      size_t n = s->used > remote ? s->used - remote : 0;
      nblocks += n;
      nbytes += n * s->block_size;
    } else if (s->kind == GCL_SPAN_LARGE) {
      nblocks += 1;
      nbytes += s->usable_end - s->start;
    }
  }
  gcl_prim_unlock(&gcl_span_lock);
  *bytes = nbytes;
  *blocks = nblocks;
}

GCL_EXPORT void gclzone_stats(gclzone_stats_t *out) {
  memset(out, 0, sizeof *out);
  if (!gcl_process_ready()) return;
  gcl_span_stats_t a;
  gcl_span_stats(&a);
  blocks_in_use(&out->in_use_bytes, &out->in_use_blocks);
  out->arena_used_bytes = a.spans_bytes;
  out->arena_used_peak = a.spans_peak;
  out->committed_bytes = a.committed;
  out->committed_peak = a.committed_peak;
  out->dirty_bytes = a.dirty;
  out->heap_bytes = gcl_hostheap_break() - gcl_region.host.base;
  out->heap_peak = gcl_hostheap_peak();
  out->threads = gcl_theap_count();
}

static gclzone_bounds_t bounds(const gcl_part_t *p, uintptr_t brk) {
  if (!gcl_process_ready()) return (gclzone_bounds_t){NULL, NULL, NULL};
  return (gclzone_bounds_t){(void *)p->base, (void *)brk, (void *)p->limit};
}

GCL_EXPORT gclzone_bounds_t gclzone_heap_bounds(void) {
  return bounds(&gcl_region.host, gcl_hostheap_break());
}

static uintptr_t arena_break(void) {
  return gcl_region.arena.base + gcl_load_relaxed(&gcl_spans.top);
}

GCL_EXPORT gclzone_bounds_t gclzone_arena_bounds(void) {
  return bounds(&gcl_region.arena, arena_break());
}

/* ---- the human report ---------------------------------------------------------- */

/* "12.3 MiB" */
static const char *human(char *buf, size_t cap, size_t n) {
  static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  unsigned u = 0;
  uint64_t whole = n, tenths = 0;
  while (whole >= 1024 && u < 4) {
    tenths = (whole % 1024) * 10 / 1024;
    whole /= 1024;
    u++;
  }
  if (u == 0) gcl_log_fmt(buf, cap, "%zu B", n);
  else gcl_log_fmt(buf, cap, "%zu.%zu %s", (size_t)whole, (size_t)tenths, unit[u]);
  return buf;
}

void gcl_introspect_report(int fd) {
  gclzone_stats_t s;
  gclzone_stats(&s);
  char a[24], b[24], c[24], d[24], e[24], f[24], g[24];
  gcl_log_printf(fd,
                 "gclzone: arena: %s in %zu blocks, %s in spans (peak %s), %s committed (peak %s), %zu threads\n",
                 human(a, sizeof a, s.in_use_bytes), s.in_use_blocks, human(b, sizeof b, s.arena_used_bytes),
                 human(c, sizeof c, s.arena_used_peak), human(d, sizeof d, s.committed_bytes),
                 human(e, sizeof e, s.committed_peak), s.threads);
  gcl_log_printf(fd, "gclzone: host heap: %s in use (peak %s) of %s, at %p\n", human(f, sizeof f, s.heap_bytes),
                 human(g, sizeof g, s.heap_peak), human(a, sizeof a, gcl_region.host.limit - gcl_region.host.base),
                 (void *)gcl_region.host.base);
}

GCL_EXPORT void gclzone_print_stats(int fd) {
  gcl_introspect_report(fd);
}

/* ---- the JSON report -----------------------------------------------------------------
 * One object on one line, written with one write(2): every field of
 * gclzone_stats_t, the region's parts, the options in force. Addresses are
 * strings ("0x..."), sizes and counts numbers. */

typedef struct json {
  char buf[4096];
  size_t n;
} json_t;

static void put_str(json_t *j, const char *s) {
  size_t room = sizeof j->buf - 1 - j->n;
  size_t len = gcl_log_fmt(j->buf + j->n, room + 1, "%s", s);
  j->n += len < room ? len : room;
}

static void put_key_num(json_t *j, const char *key, size_t v) {
  char t[96];
  gcl_log_fmt(t, sizeof t, "\"%s\":%zu,", key, v);
  put_str(j, t);
}

static void put_key_addr(json_t *j, const char *key, uintptr_t v) {
  char t[96];
  gcl_log_fmt(t, sizeof t, "\"%s\":\"%p\",", key, (void *)v);
  put_str(j, t);
}

/* A path option: a JSON string (quotes, backslashes and control characters
 * escaped), or null. */
static void put_key_path(json_t *j, const char *key, const char *path) {
  char t[96];
  gcl_log_fmt(t, sizeof t, path ? "\"%s\":\"" : "\"%s\":null,", key);
  put_str(j, t);
  if (!path) return;
  for (const char *c = path; *c; c++) {
    unsigned char u = (unsigned char)*c;
    if (u == '"' || u == '\\') gcl_log_fmt(t, sizeof t, "\\%c", *c);
    else if (u < 0x20) gcl_log_fmt(t, sizeof t, "\\u00%c%c", "0123456789abcdef"[u >> 4], "0123456789abcdef"[u & 15]);
    else gcl_log_fmt(t, sizeof t, "%c", *c);
    put_str(j, t);
  }
  put_str(j, "\",");
}

/* Replace a trailing comma by `close`. */
static void close_obj(json_t *j, const char *close) {
  if (j->n && j->buf[j->n - 1] == ',') j->n--;
  put_str(j, close);
}

static void put_part(json_t *j, const char *name, const gcl_part_t *p, uintptr_t brk) {
  char t[64];
  gcl_log_fmt(t, sizeof t, "\"%s\":{", name);
  put_str(j, t);
  put_key_addr(j, "base", p->base);
  put_key_addr(j, "limit", p->limit);
  put_key_num(j, "committed", p->committed - p->base);
  if (brk) put_key_addr(j, "break", brk);
  close_obj(j, "},");
}

GCL_EXPORT void gclzone_print_stats_json(int fd) {
  static json_t j; /* at exit, or on demand: not reentrant, as documented */
  gclzone_stats_t s;
  gclzone_stats(&s);
  j.n = 0;
  put_str(&j, "{\"gclzone\":\"" GCLZONE_VERSION "\",\"front\":\"");
  put_str(&j, gcl_front.name);
  put_str(&j, "\",\"stats\":{");
  put_key_num(&j, "in_use_bytes", s.in_use_bytes);
  put_key_num(&j, "in_use_blocks", s.in_use_blocks);
  put_key_num(&j, "arena_used_bytes", s.arena_used_bytes);
  put_key_num(&j, "arena_used_peak", s.arena_used_peak);
  put_key_num(&j, "committed_bytes", s.committed_bytes);
  put_key_num(&j, "committed_peak", s.committed_peak);
  put_key_num(&j, "dirty_bytes", s.dirty_bytes);
  put_key_num(&j, "heap_bytes", s.heap_bytes);
  put_key_num(&j, "heap_peak", s.heap_peak);
  put_key_num(&j, "threads", s.threads);
  close_obj(&j, "},\"region\":{");
  if (gcl_process_ready()) {
    const gcl_region_t *r = &gcl_region;
    put_key_addr(&j, "base", r->base);
    put_key_num(&j, "size", r->size);
    put_part(&j, "host", &r->host, gcl_hostheap_break());
    put_part(&j, "arena", &r->arena, arena_break());
    put_part(&j, "map", &r->map, 0);
    put_part(&j, "spans", &r->spans, 0);
    put_part(&j, "theaps", &r->theaps, 0);
  }
  close_obj(&j, "},\"options\":{");
  for (size_t i = 0; i < gcl_options_count; i++) {
    const gcl_option_t *o = &gcl_options_table[i];
    const char *field = (const char *)&gcl_options + o->offset;
    char t[96];
    if (o->kind == 'n' || o->kind == 'r') {
      long v = *(const long *)field;
      if (o->kind == 'r' && v == GCL_OPTIONS_JSON) gcl_log_fmt(t, sizeof t, "\"%s\":\"json\",", o->name);
      else gcl_log_fmt(t, sizeof t, "\"%s\":%ld,", o->name, v);
    } else if (o->kind == 'a') {
      uintptr_t v = *(const uintptr_t *)field;
      if (v == GCLZONE_BASE_BRK) gcl_log_fmt(t, sizeof t, "\"%s\":\"brk\",", o->name);
      else gcl_log_fmt(t, sizeof t, "\"%s\":\"%p\",", o->name, (void *)v);
    } else if (o->kind == 'p') {
      put_key_path(&j, o->name, *(const char *const *)field);
      continue;
    } else {
      gcl_log_fmt(t, sizeof t, "\"%s\":%zu,", o->name, *(const size_t *)field);
    }
    put_str(&j, t);
  }
  close_obj(&j, "}}\n");
  gcl_prim_write(fd, j.buf, j.n);
}

/* ---- the walk ------------------------------------------------------------- */

typedef struct walk_visit {
  gclzone_visitor_t *visit;
  void *ctx;
  size_t n;
} walk_visit_t;

static void visit_block(void *ctx, uintptr_t block, size_t size) {
  walk_visit_t *v = ctx;
  v->visit((void *)block, size, v->ctx);
  v->n++;
}

/* No lock: other threads may be stopped anywhere, even inside span.c. */
GCL_EXPORT size_t gclzone_walk(gclzone_visitor_t *visit, void *ctx) {
  if (!gcl_process_ready()) return 0;
  walk_visit_t v = {visit, ctx, 0};
  gcl_walk_t w;
  gcl_walk_open_self(&w);
  while (gcl_walk_next(&w) > 0) gcl_walk_blocks(&w, visit_block, &v);
  return v.n;
}

/* ---- the region map ---------------------------------------------------------- */

#define CELLS 64

/* The arena below its break, one character per cell of slots: the kind
 * covering most of the cell's slots (S slab, L large block, - free and
 * resident, . free and returned to the OS). Under gcl_span_lock. */
static size_t arena_strip(char *out, size_t *cell_slots) {
  size_t top = gcl_spans.slots;
  size_t per = top / CELLS + (top % CELLS != 0), cells = per ? (top + per - 1) / per : 0;
  size_t count[CELLS][4];
  memset(count, 0, sizeof count);
  gcl_walk_t w;
  gcl_walk_open_self(&w);
  while (gcl_walk_next(&w) > 0) {
    const gcl_span_t *s = &w.span;
    unsigned k = s->kind == GCL_SPAN_FREE ? (s->flags & GCL_SPAN_DIRTY ? 2 : 3) : s->kind == GCL_SPAN_SLAB ? 0 : 1;
    size_t first = (s->start - gcl_spans.base) >> GCL_SLOT_SHIFT;
    for (size_t i = first; i < first + s->slots; i++) count[i / per][k]++;
  }
  for (size_t c = 0; c < cells; c++) {
    unsigned best = 0;
    for (unsigned k = 1; k < 4; k++)
      if (count[c][k] > count[c][best]) best = k;
    out[c] = "SL-."[best];
  }
  out[cells] = 0;
  *cell_slots = per;
  return cells;
}

GCL_EXPORT void gclzone_print_map(int fd) {
  if (!gcl_process_ready()) {
    gcl_log_printf(fd, "gclzone: no region reserved yet\n");
    return;
  }
  gclzone_stats_t st;
  gclzone_stats(&st);
  const gcl_region_t *r = &gcl_region;
  char a[24], b[24], c[24], d[24], strip[CELLS + 1];
  gcl_log_printf(fd, "gclzone: region %p-%p, %s reserved\n", (void *)r->base, (void *)(r->base + r->size),
                 human(a, sizeof a, r->size));
  gcl_log_printf(fd, "gclzone:   host heap %p  %s used of %s, break %p, peak %s\n", (void *)r->host.base,
                 human(a, sizeof a, st.heap_bytes), human(b, sizeof b, r->host.limit - r->host.base),
                 (void *)gcl_hostheap_break(), human(c, sizeof c, st.heap_peak));
  gcl_log_printf(fd, "gclzone:   guard     %p  %s, never committed\n", (void *)r->host.limit,
                 human(a, sizeof a, r->arena.base - r->host.limit));
  gcl_log_printf(fd, "gclzone:   arena     %p  %s in spans of %s, break %p; %s in %zu blocks, %s committed\n",
                 (void *)r->arena.base, human(a, sizeof a, st.arena_used_bytes),
                 human(b, sizeof b, r->arena.limit - r->arena.base), (void *)arena_break(),
                 human(c, sizeof c, st.in_use_bytes), st.in_use_blocks, human(d, sizeof d, st.committed_bytes));
  size_t per;
  gcl_prim_lock(&gcl_span_lock);
  size_t cells = arena_strip(strip, &per);
  gcl_prim_unlock(&gcl_span_lock);
  if (cells)
    gcl_log_printf(fd, "gclzone:             [%s] a cell is %s: S slab, L large, - free, . returned\n", strip,
                   human(a, sizeof a, per << GCL_SLOT_SHIFT));
  gcl_log_printf(fd, "gclzone:   metadata  %p  map %s, spans %s, theaps %s committed\n", (void *)r->map.base,
                 human(a, sizeof a, r->map.committed - r->map.base),
                 human(b, sizeof b, r->spans.committed - r->spans.base),
                 human(c, sizeof c, r->theaps.committed - r->theaps.base));
}

/* timeline.c: GCLZONE_TIMELINE, a record of how the host heap and the arena
 * move over a run (bin/gclzone-timeline draws it; gclzone(7) has the format).
 *
 * Owns the recording: its file, its buffer, and when a sample is taken.
 * hostheap.c and span.c report their own figures as they change (the host
 * heap's size at each move of its break; the arena's bytes in use,
 * committed and dirty at each change), and a sample line is written at
 * start-up, at every move of the host heap, whenever the arena's committed
 * or in-use bytes have moved by more than a threshold since the last sample
 * (1 MiB, or 1/64 of the committed bytes when that is more), when the
 * buffer fills, and at exit. Lines are formatted into a fixed buffer and
 * written with one write(2) when it is full, when the last write is more
 * than FLUSH_MS old, and at exit, so the cost is bounded by the sampling,
 * and none when no file was named; a process that ends without running its
 * destructors (_exit, exec) loses at most FLUSH_MS of samples.
 *
 * Invariants: only the process that created the file and holds its lock
 * (gcl_prim_create_locked) writes to it, so programs it starts, which
 * inherit GCLZONE_TIMELINE, record nothing over it; a fork child stops
 * recording (its samples would interleave with the parent's). Everything
 * is under gcl_timeline_lock, the last lock of gcl_process_locks: callers
 * hold their own lock when they report.
 */
#include "internal.h"

int gcl_timeline_on;
gcl_lock_t gcl_timeline_lock = GCL_LOCK_INIT;

#define MIB ((size_t)1 << 20)
#define FLUSH_MS 250

static struct {
  int fd;
  uint64_t t0;
  size_t host, used, committed, dirty; /* the figures as last reported */
  size_t sampled_used, sampled_committed;
  uint64_t flushed_ms; /* when the buffer was last written */
  size_t n;
  char buf[32 << 10];
} tl;

static void flush(uint64_t now) {
  gcl_prim_write(tl.fd, tl.buf, tl.n);
  tl.n = 0;
  tl.flushed_ms = now;
}

static void sample(const char *event) {
  char line[200];
  uint64_t now = gcl_prim_clock_ms();
  size_t len = gcl_log_fmt(line, sizeof line, "%zu\t%zu\t%zu\t%zu\t%zu\t%zu\t%s\n", (size_t)(now - tl.t0),
                           tl.host, tl.used, tl.committed, tl.dirty, gcl_prim_rss(), event);
  if (tl.n + len > sizeof tl.buf) {
    flush(now);
    len = gcl_log_fmt(line, sizeof line, "%zu\t%zu\t%zu\t%zu\t%zu\t%zu\t%s\n", (size_t)(now - tl.t0), tl.host,
                      tl.used, tl.committed, tl.dirty, gcl_prim_rss(), "full");
  }
  for (size_t i = 0; i < len; i++) tl.buf[tl.n + i] = line[i];
  tl.n += len;
  if (now - tl.flushed_ms >= FLUSH_MS) flush(now);
  tl.sampled_used = tl.used;
  tl.sampled_committed = tl.committed;
}

/* At start-up, once the region is there: record into `path` (NULL or empty:
 * nothing), unless another process already does. */
void gcl_timeline_start(const char *path) {
  if (!path || !*path || gcl_prim_create_locked(path, &tl.fd) != 0) return;
  gcl_prim_lock(&gcl_timeline_lock);
  tl.t0 = gcl_prim_clock_ms();
  tl.flushed_ms = tl.t0 - FLUSH_MS; /* the first sample goes out at once */
  tl.n = gcl_log_fmt(tl.buf, sizeof tl.buf, "# gclzone timeline 1\n# t_ms\thost_heap\tarena_in_use\tcommitted\tdirty\trss\tevent\n");
  sample("start");
  gcl_store_relaxed(&gcl_timeline_on, 1);
  gcl_prim_unlock(&gcl_timeline_lock);
}

/* The host heap is now `bytes` (hostheap.c, under its lock). */
void gcl_timeline_host(size_t bytes) {
  gcl_prim_lock(&gcl_timeline_lock);
  if (gcl_timeline_on) {
    tl.host = bytes;
    sample("heap");
  }
  gcl_prim_unlock(&gcl_timeline_lock);
}

static size_t moved(size_t a, size_t b) {
  return a > b ? a - b : b - a;
}

/* The arena's bytes in spans, committed and dirty are now these (span.c,
 * under its lock): a sample when they moved past the threshold. */
void gcl_timeline_arena(size_t used, size_t committed, size_t dirty) {
  gcl_prim_lock(&gcl_timeline_lock);
  if (gcl_timeline_on) {
    tl.used = used, tl.committed = committed, tl.dirty = dirty;
    size_t threshold = committed / 64 > MIB ? committed / 64 : MIB;
    if (moved(used, tl.sampled_used) >= threshold || moved(committed, tl.sampled_committed) >= threshold)
      sample("arena");
  }
  gcl_prim_unlock(&gcl_timeline_lock);
}

/* At exit: the last sample, and everything out to the file. */
void gcl_timeline_finish(void) {
  gcl_prim_lock(&gcl_timeline_lock);
  if (gcl_timeline_on) {
    sample("exit");
    flush(gcl_prim_clock_ms());
    gcl_store_relaxed(&gcl_timeline_on, 0);
  }
  gcl_prim_unlock(&gcl_timeline_lock);
}

/* In a fork child (its locks already reinitialized): stop recording. The
 * file and its lock stay the parent's. */
void gcl_timeline_fork_child(void) {
  if (!gcl_timeline_on) return;
  gcl_timeline_on = 0;
  gcl_prim_close(tl.fd);
  tl.n = 0;
}

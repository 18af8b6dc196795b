/* log.c: output without stdio, and the fixed list of fatal messages.
 *
 * Everything libgclzone prints goes through gcl_log_fmt, a formatter for the few
 * conversions we need (%s %d %ld %zu %zx %p %c %%, each with an optional
 * width: right-justified), into a stack buffer and
 * out with one write(2). Nothing here allocates or takes a lock, so it is
 * safe inside the allocator and in a signal handler.
 */
#include "internal.h"

#include <stdarg.h>

int gcl_log_fd = 2;

static size_t put_str(char *buf, size_t cap, size_t n, const char *s) {
  if (!s) s = "(null)";
  for (; *s; s++, n++)
    if (n + 1 < cap) buf[n] = *s;
  return n;
}

static size_t put_uint(char *buf, size_t cap, size_t n, uint64_t v, unsigned base) {
  char tmp[24];
  int i = 0;
  do {
    tmp[i++] = "0123456789abcdef"[v % base];
    v /= base;
  } while (v);
  while (i > 0) {
    if (n + 1 < cap) buf[n] = tmp[--i];
    else --i;
    n++;
  }
  return n;
}

/* Right-justify what was written from `start` to `n` in `width` columns
 * (what fits of it: the buffer keeps its last byte for the NUL). */
static size_t pad(char *buf, size_t cap, size_t start, size_t n, unsigned width) {
  size_t len = n - start;
  if (len >= width) return n;
  size_t shift = width - len;
  for (size_t i = n; i-- > start;)
    if (i + shift + 1 < cap) buf[i + shift] = i + 1 < cap ? buf[i] : ' ';
  for (size_t i = start; i < start + shift; i++)
    if (i + 1 < cap) buf[i] = ' ';
  return n + shift;
}

static size_t vfmt(char *buf, size_t cap, const char *f, va_list ap) {
  size_t n = 0;
  for (; *f; f++) {
    if (*f != '%') {
      if (n + 1 < cap) buf[n] = *f;
      n++;
      continue;
    }
    f++;
    unsigned width = 0;
    while (*f >= '0' && *f <= '9') width = width * 10 + (unsigned)(*f++ - '0');
    size_t start = n;
    if (*f == 'z' || *f == 'l') {
      char c = *f == 'z' ? 'z' : 'l';
      f++;
      if (*f == 'u' || *f == 'x') {
        uint64_t v = c == 'z' ? (uint64_t)va_arg(ap, size_t) : (uint64_t)va_arg(ap, unsigned long);
        n = put_uint(buf, cap, n, v, *f == 'x' ? 16 : 10);
      } else { /* %ld */
        long v = va_arg(ap, long);
        if (v < 0) n = put_str(buf, cap, n, "-");
        n = put_uint(buf, cap, n, v < 0 ? -(uint64_t)v : (uint64_t)v, 10);
      }
    } else if (*f == 'd') {
      int v = va_arg(ap, int);
      if (v < 0) n = put_str(buf, cap, n, "-");
      n = put_uint(buf, cap, n, v < 0 ? -(uint64_t)(int64_t)v : (uint64_t)v, 10);
    } else if (*f == 'p') {
      n = put_str(buf, cap, n, "0x");
      n = put_uint(buf, cap, n, (uint64_t)(uintptr_t)va_arg(ap, void *), 16);
    } else if (*f == 's') {
      n = put_str(buf, cap, n, va_arg(ap, const char *));
    } else if (*f == 'c') {
      char s[2] = {(char)va_arg(ap, int), 0};
      n = put_str(buf, cap, n, s);
    } else {
      if (n + 1 < cap) buf[n] = '%';
      n++;
      if (!*f) break;
      continue;
    }
    n = pad(buf, cap, start, n, width);
  }
  if (cap) buf[n < cap ? n : cap - 1] = 0;
  return n;
}

/* Format into buf (always NUL-terminated); returns the untruncated length. */
size_t gcl_log_fmt(char *buf, size_t cap, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  size_t n = vfmt(buf, cap, fmt, ap);
  va_end(ap);
  return n;
}

void gcl_log_printf(int fd, const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  size_t n = vfmt(buf, sizeof buf, fmt, ap);
  va_end(ap);
  gcl_prim_write(fd, buf, n < sizeof buf ? n : sizeof buf - 1);
}

/* The fatal messages, one line each; tests assert these texts. */
static const char *const fatal_text[] = {
  [GCL_FATAL_DOUBLE_FREE] = "double free of %p",
  [GCL_FATAL_INVALID_FREE] = "free of %p, which is not a live block from gclzone",
  [GCL_FATAL_INVALID_REALLOC] = "realloc of %p, which is not a live block from gclzone",
  [GCL_FATAL_INVALID_SIZE] = "usable size of %p, which is not a live block from gclzone",
  [GCL_FATAL_RESERVE] = "cannot reserve the region at %p: %s",
  [GCL_FATAL_OS] = "the system refused memory at %p: %s",
  [GCL_FATAL_CORRUPT] = "heap corruption at %p: %s",
  [GCL_FATAL_ASSERT] = "internal error at %p: %s",
  [GCL_FATAL_IMAGE] = "cannot start from the image %s: %s",
  [GCL_FATAL_OVERFLOW] = "heap overflow past the block at %p",
  [GCL_FATAL_UNDERFLOW] = "heap underflow before the block at %p",
  [GCL_FATAL_WRITE_AFTER_FREE] = "write after free of the block at %p",
  [GCL_FATAL_GUARD] = "access to the guard page at %p: a heap overflow or underflow",
  [GCL_FATAL_FREED] = "access to freed memory at %p",
  [GCL_FATAL_ZERO_SIZE] = "access through the zero-size block at %p",
  [GCL_FATAL_SIZED_FREE] = "sized delete of %p with a size it was not allocated with",
};

_Noreturn void gcl_log_fatal(enum gcl_fatal what, const void *p, const char *detail) {
  char msg[256], line[320];
  gcl_log_fmt(msg, sizeof msg, fatal_text[what], p, detail);
  size_t n = gcl_log_fmt(line, sizeof line, "gclzone: fatal: %s\n", msg);
  /* stderr, not the stats descriptor: the message belongs with the crash. */
  gcl_prim_write(2, line, n < sizeof line ? n : sizeof line - 1);
  gcl_prim_abort();
}

_Noreturn void gcl_log_assert_fail(const char *expr, const char *file, int line) {
  char detail[200];
  gcl_log_fmt(detail, sizeof detail, "%s (%s:%d)", expr, file, line);
  gcl_log_fatal(GCL_FATAL_ASSERT, NULL, detail);
}

/* options.c: the runtime options, one table, read from GCLZONE_* variables.
 *
 * The table is the single source of truth: name, kind, default and help.
 * Options are read once, at process init, by scanning the environment block
 * directly (getenv may not be safe that early, and never allocates here).
 * A value that does not parse is reported and ignored.
 */
#include "internal.h"

#include <errno.h>
#include <stddef.h>

#define OPT(name, kind, field, dflt, help) {name, kind, offsetof(gcl_options_t, field), dflt, help}

const gcl_option_t gcl_options_table[] = {
  /* The order is internal.h's GCL_OPTION_* indices. */
  OPT("HEAP_SIZE", 's', heap_size, GCL_DEFAULT_PART, "host heap capacity (gclzone_sbrk)"),
  OPT("ARENA_SIZE", 's', arena_size, GCL_DEFAULT_PART, "malloc arena capacity"),
  OPT("BASE", 'a', base, 0, "fixed host heap base; brk: the program break (default when sbrk is ours); 0: the OS chooses"),
  OPT("SBRK", 'n', sbrk, 1, "ELF: sbrk and brk serve the host heap (0: they are the system's)"),
  OPT("SHOW_STATS", 'r', show_stats, 0, "1: print a report at exit; 2: also the region map; json: one JSON object"),
  OPT("PURGE_DELAY", 'n', purge_delay_ms, 1000, "ms a free span stays resident before it is returned"),
  OPT("DIRTY_MAX", 's', dirty_max, (uint64_t)64 << 20, "free resident arena bytes kept at most"),
  OPT("SCRIBBLE", 'n', scribble, 0, "1: fill fresh blocks with 0xaa and freed ones with 0x55"),
  OPT("CHECK", 'n', check, 0, "N: run the heap validators every N allocator calls (1: every call)"),
  OPT("TIMELINE", 'p', timeline, 0, "a file to record the memory timeline into (gclzone-timeline draws it)"),
  OPT("IMAGE", 'p', image, 0, "start from this heap image (gclzone_image_save); its sizes and base replace the others"),
  OPT("HARDEN", 'n', harden, 0, "1: the hardened mode (SECURE=1 builds): canaries, guard pages, zero on free"),
  OPT("DIRTY_SHARE", 'n', dirty_share, 75, "percent of the arena in use also kept free and resident, when more than DIRTY_MAX"),
};
const size_t gcl_options_count = sizeof gcl_options_table / sizeof gcl_options_table[0];

gcl_options_t gcl_options;
uint32_t gcl_options_set;

static int digit(char c, unsigned base) {
  int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
        : c >= 'A' && c <= 'F' ? c - 'A' + 10 : 99;
  return d < (int)base ? d : -1;
}

/* Parse a value of the given kind: numbers in decimal or 0x-hex; sizes may
 * end in K, M, G or T (binary units); an address may be "brk"; a report
 * level may be "json"; a path is any nonempty string, and *out its address.
 * 0, or EINVAL / ERANGE. */
static bool is(const char *s, const char *word) {
  while (*word && *s == *word) s++, word++;
  return !*word && !*s;
}

int gcl_options_parse(char kind, const char *s, uint64_t *out) {
  if (kind == 'p') {
    if (!*s) return EINVAL;
    *out = (uint64_t)(uintptr_t)s;
    return 0;
  }
  if ((kind == 'a' && is(s, "brk")) || (kind == 'r' && is(s, "json"))) {
    *out = kind == 'a' ? GCLZONE_BASE_BRK : GCL_OPTIONS_JSON;
    return 0;
  }
  unsigned base = 10;
  if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) base = 16, s += 2;
  if (digit(*s, base) < 0) return EINVAL;
  uint64_t v = 0;
  for (; digit(*s, base) >= 0; s++) {
    uint64_t d = (uint64_t)digit(*s, base);
    if (v > (UINT64_MAX - d) / base) return ERANGE;
    v = v * base + d;
  }
  if (kind == 's' && *s) {
    unsigned shift = 0;
    switch (*s | 0x20) {
    case 'k': shift = 10; break;
    case 'm': shift = 20; break;
    case 'g': shift = 30; break;
    case 't': shift = 40; break;
    default: return EINVAL;
    }
    s++;
    if ((*s | 0x20) == 'b' || (*s | 0x20) == 'i') s++; /* KB, KiB */
    if ((*s | 0x20) == 'b') s++;
    if (v > (UINT64_MAX >> shift)) return ERANGE;
    v <<= shift;
  }
  if (*s) return EINVAL;
  *out = v;
  return 0;
}

static void set(const gcl_option_t *o, uint64_t v) {
  char *field = (char *)&gcl_options + o->offset;
  if (o->kind == 'n' || o->kind == 'r') *(long *)field = (long)v;
  else if (o->kind == 'p') *(const char **)field = (const char *)(uintptr_t)v;
  else *(size_t *)field = (size_t)v;
}

static const char *match(const char *entry, const char *name) {
  static const char prefix[] = "GCLZONE_";
  for (size_t i = 0; i < sizeof prefix - 1; i++)
    if (entry[i] != prefix[i]) return NULL;
  entry += sizeof prefix - 1;
  while (*name && *entry == *name) entry++, name++;
  return !*name && *entry == '=' ? entry + 1 : NULL;
}

/* Change option `i` (its table index) after start-up, for the few that may
 * change while the allocator runs (mallopt): DIRTY_MAX and PURGE_DELAY,
 * which span.c reads as relaxed loads. 0, or EINVAL for any other. */
int gcl_options_tune(size_t i, uint64_t v) {
  if (i == GCL_OPTION_DIRTY_MAX) gcl_store_relaxed(&gcl_options.dirty_max, (size_t)v);
  else if (i == GCL_OPTION_PURGE_DELAY) gcl_store_relaxed(&gcl_options.purge_delay_ms, (long)v);
  else if (i == GCL_OPTION_DIRTY_SHARE) gcl_store_relaxed(&gcl_options.dirty_share, (long)v);
  else return EINVAL;
  return 0;
}

/* Defaults, then every GCLZONE_* entry of env that names an option. */
void gcl_options_load(const char *const *env) {
  gcl_options_set = 0;
  for (size_t i = 0; i < gcl_options_count; i++) set(&gcl_options_table[i], gcl_options_table[i].dflt);
  for (; env && *env; env++) {
    for (size_t i = 0; i < gcl_options_count; i++) {
      const gcl_option_t *o = &gcl_options_table[i];
      const char *value = match(*env, o->name);
      if (!value) continue;
      uint64_t v;
      if (gcl_options_parse(o->kind, value, &v) == 0) set(o, v), gcl_options_set |= 1u << i;
      else gcl_log_printf(2, "gclzone: warning: ignoring GCLZONE_%s=%s: not a valid %s\n", o->name, value,
                          o->kind == 's' ? "size" : o->kind == 'a' ? "address" : o->kind == 'r' ? "report level" : o->kind == 'p' ? "path" : "number");
    }
  }
}

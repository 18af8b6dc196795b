/* image.c: a Mach-O dylib read, checked and mapped: the parser, the mapper,
 * the export trie and the initializer list.
 *
 * Owns the mr_image_t: which slice of the file is ours, its segments and
 * sections, where its dyld information lies, and (once mapped) the one
 * slide at which every segment sits. Invariant: an image that opened
 * without error has exactly the load commands this file knows (anything
 * else was refused with its name), one dependency (libSystem), classic dyld
 * info, and segments that lie inside the slice; a mapped image's segments
 * are contiguous at vmaddr + slide, aligned to the slice's page.
 *
 * Formats: mach-o/loader.h and mach-o/fat.h (apple/darwin-xnu
 * EXTERNAL_HEADERS/mach-o); the export trie as dyld walks it
 * (ImageLoaderMachOCompressed::trieWalk in apple-oss-distributions/dyld):
 * a node is a ULEB128 terminal size, the terminal information (flags, then
 * the offset of the symbol from the mach header), a child count byte, and
 * per child a NUL-terminated edge label and the ULEB128 offset of the child.
 *
 * dyld maps the file's pages; we copy them into anonymous memory of the
 * same layout (the slice's offset inside a universal file need not be a
 * multiple of the host's page), which is the same memory image.
 */
#define _GNU_SOURCE
#include "machorun.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int mr_fail(char *err, size_t n, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, n, fmt, ap);
  va_end(ap);
  return -1;
}

static uint32_t be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static uint64_t be64(const uint8_t *p) {
  return (uint64_t)be32(p) << 32 | be32(p + 4);
}
static uint32_t le32(const uint8_t *p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}
static uint64_t le64(const uint8_t *p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return v;
}

uint64_t mr_uleb(const uint8_t **pp, const uint8_t *end, bool *bad) {
  uint64_t v = 0;
  unsigned shift = 0;
  const uint8_t *p = *pp;
  for (;;) {
    if (p >= end || shift > 63) {
      *bad = true;
      return 0;
    }
    uint8_t b = *p++;
    v |= (uint64_t)(b & 0x7f) << shift;
    shift += 7;
    if (!(b & 0x80)) break;
  }
  *pp = p;
  return v;
}

int64_t mr_sleb(const uint8_t **pp, const uint8_t *end, bool *bad) {
  int64_t v = 0;
  unsigned shift = 0;
  const uint8_t *p = *pp;
  uint8_t b;
  do {
    if (p >= end || shift > 63) {
      *bad = true;
      return 0;
    }
    b = *p++;
    v |= (int64_t)((uint64_t)(b & 0x7f) << shift);
    shift += 7;
  } while (b & 0x80);
  if (shift < 64 && (b & 0x40)) v |= (int64_t)(~(uint64_t)0 << shift);
  *pp = p;
  return v;
}

/* The name of a CPU type; unknown ones by number (a static buffer: the
 * loader is single-threaded while it loads). */
static const char *arch_name(int cputype) {
  static char other[4][24];
  static unsigned next;
  if (cputype == CPU_TYPE_X86_64) return "x86_64";
  if (cputype == CPU_TYPE_ARM64) return "arm64";
  char *b = other[next++ % 4];
  snprintf(b, sizeof other[0], "cputype %#x", (unsigned)cputype);
  return b;
}

/* A universal file: the slice for cputype, or why there is none. */
static int pick_slice(mr_image_t *img, int cputype, char *err, size_t n) {
  const uint8_t *f = img->file;
  bool wide = be32(f) == FAT_MAGIC_64;
  uint32_t count = be32(f + 4);
  size_t entry = wide ? 32 : 20;
  if (count == 0 || count > 64 || 8 + count * entry > img->file_size)
    return mr_fail(err, n, "%s: a universal file with a broken header (%u slices)", img->path, count);
  char have[128] = "";
  for (uint32_t i = 0; i < count; i++) {
    const uint8_t *a = f + 8 + i * entry;
    int type = (int)be32(a);
    uint64_t off = wide ? be64(a + 8) : be32(a + 8), size = wide ? be64(a + 16) : be32(a + 12);
    if (type == cputype) {
      if (off > img->file_size || size > img->file_size - off)
        return mr_fail(err, n, "%s: the %s slice lies outside the file", img->path, arch_name(cputype));
      img->slice = f + off;
      img->slice_size = size;
      return 0;
    }
    size_t used = strlen(have);
    snprintf(have + used, sizeof have - used, "%s%s", used ? ", " : "", arch_name(type));
  }
  return mr_fail(err, n, "%s: a universal file with no %s slice (it has: %s)", img->path, arch_name(cputype), have);
}

static int check_sections(mr_image_t *img, const uint8_t *cmd, uint32_t nsects, uint32_t cmdsize, char *err, size_t n) {
  if (72 + (uint64_t)nsects * 80 > cmdsize) return mr_fail(err, n, "%s: a segment's sections overrun it", img->path);
  for (uint32_t i = 0; i < nsects; i++) {
    const uint8_t *s = cmd + 72 + i * 80;
    if (img->nsect == MR_MAX_SECTIONS) return mr_fail(err, n, "%s: more than %d sections", img->path, MR_MAX_SECTIONS);
    mr_section_t *sec = &img->sect[img->nsect++];
    memcpy(sec->name, s, 16);
    memcpy(sec->segname, s + 16, 16);
    sec->name[16] = sec->segname[16] = 0;
    sec->addr = le64(s + 32);
    sec->size = le64(s + 40);
    uint32_t nreloc = le32(s + 60);
    sec->flags = le32(s + 64);
    uint32_t type = sec->flags & SECTION_TYPE;
    if (nreloc)
      return mr_fail(err, n, "%s: section %s,%s has classic relocations, which dyld info replaced", img->path,
                     sec->segname, sec->name);
    if (type >= S_THREAD_LOCAL_REGULAR && type <= S_THREAD_LOCAL_INIT_FUNCTION_POINTERS)
      return mr_fail(err, n, "%s: section %s,%s holds thread-local variables (type %#x), which need dyld's TLV support",
                     img->path, sec->segname, sec->name, type);
    if (type == S_MOD_TERM_FUNC_POINTERS)
      return mr_fail(err, n, "%s: section %s,%s holds terminators, which are not supported", img->path, sec->segname,
                     sec->name);
    if (type == S_INIT_FUNC_OFFSETS)
      return mr_fail(err, n, "%s: section %s,%s holds initializer offsets (__init_offsets), which are not supported",
                     img->path, sec->segname, sec->name);
  }
  return 0;
}

/* Every load command, each known or refused by name. */
static int read_commands(mr_image_t *img, char *err, size_t n) {
  const uint8_t *h = img->slice;
  uint32_t ncmds = le32(h + 16), sizeofcmds = le32(h + 20);
  if (32 + (uint64_t)sizeofcmds > img->slice_size)
    return mr_fail(err, n, "%s: the load commands overrun the file", img->path);
  const uint8_t *cmd = h + 32, *end = cmd + sizeofcmds;
  bool have_info = false;
  unsigned dylibs = 0;
  for (uint32_t i = 0; i < ncmds; i++) {
    if (end - cmd < 8) return mr_fail(err, n, "%s: load command %u overruns the commands", img->path, i);
    uint32_t c = le32(cmd), size = le32(cmd + 4);
    if (size < 8 || size % 8 || size > (size_t)(end - cmd))
      return mr_fail(err, n, "%s: load command %u (%#x) has a bad size %u", img->path, i, c, size);
    switch (c) {
    case LC_SEGMENT_64: {
      if (size < 72) return mr_fail(err, n, "%s: a short LC_SEGMENT_64", img->path);
      if (img->nseg == MR_MAX_SEGMENTS) return mr_fail(err, n, "%s: more than %d segments", img->path, MR_MAX_SEGMENTS);
      mr_segment_t *s = &img->seg[img->nseg++];
      memcpy(s->name, cmd + 8, 16);
      s->name[16] = 0;
      s->vmaddr = le64(cmd + 24);
      s->vmsize = le64(cmd + 32);
      s->fileoff = le64(cmd + 40);
      s->filesize = le64(cmd + 48);
      s->initprot = le32(cmd + 60);
      s->flags = le32(cmd + 68);
      if (s->fileoff > img->slice_size || s->filesize > img->slice_size - s->fileoff || s->filesize > s->vmsize)
        return mr_fail(err, n, "%s: segment %s lies outside the file", img->path, s->name);
      if (s->vmaddr % img->page || s->fileoff % img->page)
        return mr_fail(err, n, "%s: segment %s is not aligned to %zu-byte pages", img->path, s->name, img->page);
      if (check_sections(img, cmd, le32(cmd + 64), size, err, n)) return -1;
      break;
    }
    case LC_DYLD_INFO:
    case LC_DYLD_INFO_ONLY: {
      if (size < 48) return mr_fail(err, n, "%s: a short LC_DYLD_INFO", img->path);
      mr_blob_t *b[] = {&img->rebase, &img->bind, &img->weak_bind, &img->lazy_bind, &img->exports};
      for (int k = 0; k < 5; k++) {
        b[k]->off = le32(cmd + 8 + 8 * k);
        b[k]->size = le32(cmd + 12 + 8 * k);
        if (b[k]->off > img->slice_size || b[k]->size > img->slice_size - b[k]->off)
          return mr_fail(err, n, "%s: dyld information lies outside the file", img->path);
      }
      have_info = true;
      break;
    }
    case LC_DYLD_CHAINED_FIXUPS:
      return mr_fail(err, n,
                     "%s: chained fixups (LC_DYLD_CHAINED_FIXUPS) are not supported: machorun applies classic dyld "
                     "info (LC_DYLD_INFO_ONLY), what ld64 emits for a macOS 11 deployment target",
                     img->path);
    case LC_DYLD_EXPORTS_TRIE: /* the trie without LC_DYLD_INFO (chained-fixup images) */
      if (!img->exports.size) {
        img->exports.off = le32(cmd + 8);
        img->exports.size = le32(cmd + 12);
      }
      break;
    case LC_LOAD_DYLIB: {
      uint32_t name = le32(cmd + 8);
      const char *dylib = name < size ? (const char *)cmd + name : "";
      if (strnlen(dylib, size - name) == size - name) dylib = "";
      if (strcmp(dylib, "/usr/lib/libSystem.B.dylib") != 0 || dylibs++)
        return mr_fail(err, n, "%s: depends on %s; machorun provides libSystem only", img->path, *dylib ? dylib : "?");
      img->dylib = dylib;
      break;
    }
    case LC_DYSYMTAB:
      /* Classic external and local relocations: dyld info replaced them. */
      if (size < 80) return mr_fail(err, n, "%s: a short LC_DYSYMTAB", img->path);
      if (le32(cmd + 68) || le32(cmd + 76))
        return mr_fail(err, n, "%s: LC_DYSYMTAB has %u external and %u local relocations, which are not supported",
                       img->path, le32(cmd + 68), le32(cmd + 76));
      break;
    /* Nothing to do at load time: identity and provenance (LC_ID_DYLIB,
     * LC_UUID, LC_BUILD_VERSION, LC_VERSION_MIN_MACOSX, LC_SOURCE_VERSION),
     * tables for debuggers and the linker (LC_SYMTAB, LC_FUNCTION_STARTS,
     * LC_DATA_IN_CODE, LC_SEGMENT_SPLIT_INFO), and the code signature, which
     * the macOS kernel checks page by page (not modelled: tests/darwin's
     * inspect.py checks that the arm64 slice carries one). */
    case LC_ID_DYLIB:
    case LC_UUID:
    case LC_BUILD_VERSION:
    case LC_VERSION_MIN_MACOSX:
    case LC_SOURCE_VERSION:
    case LC_SYMTAB:
    case LC_FUNCTION_STARTS:
    case LC_DATA_IN_CODE:
    case LC_SEGMENT_SPLIT_INFO:
    case LC_CODE_SIGNATURE:
      break;
    default:
      return mr_fail(err, n, "%s: load command %#x%s is not supported", img->path, c,
                     c & LC_REQ_DYLD ? " (one dyld must understand)" : "");
    }
    cmd += size;
  }
  if (!have_info) return mr_fail(err, n, "%s: no LC_DYLD_INFO_ONLY: nothing says how to fix the image up", img->path);
  if (!img->dylib) return mr_fail(err, n, "%s: no LC_LOAD_DYLIB of libSystem", img->path);
  if (!img->nseg || strcmp(img->seg[0].name, "__TEXT") || img->seg[0].fileoff != 0)
    return mr_fail(err, n, "%s: the first segment is not a __TEXT that holds the header", img->path);
  return 0;
}

int mr_image_open(mr_image_t *img, const char *path, int cputype, char *err, size_t n) {
  memset(img, 0, sizeof *img);
  snprintf(img->path, sizeof img->path, "%s", path);
  img->cputype = cputype;
  img->arch = arch_name(cputype);
  img->page = cputype == CPU_TYPE_ARM64 ? 16384 : 4096;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return mr_fail(err, n, "%s: %s", path, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) || st.st_size < 32) {
    close(fd);
    return mr_fail(err, n, "%s: not a Mach-O file (%lld bytes)", path, (long long)st.st_size);
  }
  img->file_size = (size_t)st.st_size;
  void *f = mmap(NULL, img->file_size, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (f == MAP_FAILED) return mr_fail(err, n, "%s: mmap: %s", path, strerror(errno));
  img->file = f;
  uint32_t magic_be = be32(img->file), magic = le32(img->file);
  if (magic_be == FAT_MAGIC || magic_be == FAT_MAGIC_64) {
    if (pick_slice(img, cputype, err, n)) return -1;
  } else if (magic == MH_MAGIC_64) {
    img->slice = img->file;
    img->slice_size = img->file_size;
  } else if (magic == 0xfeedface) {
    return mr_fail(err, n, "%s: a 32-bit Mach-O file, which is not supported", path);
  } else {
    return mr_fail(err, n, "%s: not a Mach-O file (magic %08x)", path, magic_be);
  }
  const uint8_t *h = img->slice;
  if (img->slice_size < 32 || le32(h) != MH_MAGIC_64)
    return mr_fail(err, n, "%s: the slice is not a 64-bit Mach-O", path);
  if ((int)le32(h + 4) != cputype)
    return mr_fail(err, n, "%s: a Mach-O for %s, not %s", path, arch_name((int)le32(h + 4)), arch_name(cputype));
  if (le32(h + 12) != MH_DYLIB)
    return mr_fail(err, n, "%s: file type %u, not a dylib (%d)", path, le32(h + 12), MH_DYLIB);
  if (le32(h + 24) & MH_HAS_TLV_DESCRIPTORS)
    return mr_fail(err, n, "%s: has thread-local variables (MH_HAS_TLV_DESCRIPTORS), which need dyld's TLV support",
                   path);
  return read_commands(img, err, n);
}

int mr_image_map(mr_image_t *img, char *err, size_t n) {
  uint64_t lo = UINT64_MAX, hi = 0;
  for (unsigned i = 0; i < img->nseg; i++) {
    if (img->seg[i].vmsize == 0) continue;
    if (img->seg[i].vmaddr < lo) lo = img->seg[i].vmaddr;
    if (img->seg[i].vmaddr + img->seg[i].vmsize > hi) hi = img->seg[i].vmaddr + img->seg[i].vmsize;
  }
  size_t page = img->page;
  img->span = (size_t)((hi - lo + page - 1) & ~(uint64_t)(page - 1));
  /* One reservation, aligned to the slice's page, so one slide serves all. */
  uint8_t *r = mmap(NULL, img->span + page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (r == MAP_FAILED)
    return mr_fail(err, n, "%s: cannot reserve %zu bytes: %s", img->path, img->span, strerror(errno));
  uint8_t *a = (uint8_t *)(((uintptr_t)r + page - 1) & ~(uintptr_t)(page - 1));
  if (a > r) munmap(r, (size_t)(a - r));
  if (a + img->span < r + img->span + page) munmap(a + img->span, (size_t)(r + img->span + page - (a + img->span)));
  img->slide = (uintptr_t)a - (uintptr_t)lo;
  for (unsigned i = 0; i < img->nseg; i++) {
    const mr_segment_t *s = &img->seg[i];
    if (!s->vmsize) continue;
    uint8_t *at = (uint8_t *)(img->slide + (uintptr_t)s->vmaddr);
    size_t len = (size_t)((s->vmsize + page - 1) & ~(uint64_t)(page - 1));
    if (mprotect(at, len, PROT_READ | PROT_WRITE))
      return mr_fail(err, n, "%s: mprotect %s: %s", img->path, s->name, strerror(errno));
    memcpy(at, img->slice + s->fileoff, (size_t)s->filesize); /* the rest is zero fill */
  }
  img->base = (uint8_t *)(img->slide + (uintptr_t)img->seg[0].vmaddr);
  return 0;
}

/* The segments' own protections; SG_READ_ONLY ones (__DATA_CONST) become
 * read-only once their fixups are done, as dyld makes them. */
void mr_image_protect(mr_image_t *img) {
  for (unsigned i = 0; i < img->nseg; i++) {
    const mr_segment_t *s = &img->seg[i];
    if (!s->vmsize) continue;
    int prot = (int)(s->initprot & 7);
    if (s->flags & SG_READ_ONLY) prot &= ~PROT_WRITE;
    size_t len = (size_t)((s->vmsize + img->page - 1) & ~(uint64_t)(img->page - 1));
    if (mprotect((void *)(img->slide + (uintptr_t)s->vmaddr), len, prot)) {
      fprintf(stderr, "machorun: mprotect %s: %s\n", s->name, strerror(errno));
      exit(2);
    }
  }
}

void mr_image_close(mr_image_t *img) {
  if (img->base) munmap(img->base, img->span);
  if (img->file) munmap((void *)img->file, img->file_size);
  memset(img, 0, sizeof *img);
}

const mr_section_t *mr_image_section(const mr_image_t *img, const char *seg, const char *sect) {
  for (unsigned i = 0; i < img->nsect; i++)
    if (!strcmp(img->sect[i].segname, seg) && !strcmp(img->sect[i].name, sect)) return &img->sect[i];
  return NULL;
}

const mr_section_t *mr_image_section_of_type(const mr_image_t *img, uint32_t type) {
  for (unsigned i = 0; i < img->nsect; i++)
    if ((img->sect[i].flags & SECTION_TYPE) == type) return &img->sect[i];
  return NULL;
}

const mr_segment_t *mr_image_segment_at(const mr_image_t *img, uintptr_t addr) {
  for (unsigned i = 0; i < img->nseg; i++) {
    const mr_segment_t *s = &img->seg[i];
    uintptr_t lo = img->slide + (uintptr_t)s->vmaddr;
    if (addr >= lo && addr - lo < s->vmsize) return s;
  }
  return NULL;
}

/* ---- the export trie ---------------------------------------------------------- */

#define TRIE_KIND_MASK 0x03
#define TRIE_KIND_REGULAR 0x00
#define TRIE_REEXPORT 0x08
#define TRIE_STUB_AND_RESOLVER 0x10

static void *terminal(const mr_image_t *img, const uint8_t *node, const uint8_t *end, const char *name, char *err,
                      size_t n) {
  bool bad = false;
  const uint8_t *p = node;
  mr_uleb(&p, end, &bad);
  uint64_t flags = mr_uleb(&p, end, &bad);
  if (bad) {
    mr_fail(err, n, "%s: the export of %s is truncated", img->path, name);
    return NULL;
  }
  if (flags & (TRIE_REEXPORT | TRIE_STUB_AND_RESOLVER) || (flags & TRIE_KIND_MASK) != TRIE_KIND_REGULAR) {
    mr_fail(err, n,
            "%s: %s is exported with flags %#llx (re-export, resolver, thread-local or absolute), not supported",
            img->path, name, (unsigned long long)flags);
    return NULL;
  }
  uint64_t off = mr_uleb(&p, end, &bad);
  if (bad || off >= img->span) {
    mr_fail(err, n, "%s: the export of %s points outside the image", img->path, name);
    return NULL;
  }
  return img->base + off;
}

void *mr_image_export(const mr_image_t *img, const char *name, char *err, size_t n) {
  const uint8_t *start = img->slice + img->exports.off, *end = start + img->exports.size, *p = start;
  const char *s = name;
  for (unsigned depth = 0; img->exports.size && depth < 4096; depth++) {
    bool bad = false;
    const uint8_t *q = p;
    uint64_t tsize = mr_uleb(&q, end, &bad);
    if (bad || tsize > (uint64_t)(end - q)) break;
    if (!*s) {
      if (tsize) return terminal(img, p, end, name, err, n);
      break;
    }
    const uint8_t *c = q + tsize;
    if (c >= end) break;
    unsigned kids = *c++;
    const uint8_t *next = NULL;
    for (unsigned i = 0; i < kids && !next && !bad; i++) {
      const char *edge = (const char *)c;
      size_t len = strnlen(edge, (size_t)(end - c));
      if (len == (size_t)(end - c)) bad = true;
      c += len + 1;
      uint64_t off = mr_uleb(&c, end, &bad);
      if (!bad && len && strncmp(s, edge, len) == 0) {
        if (off >= img->exports.size) bad = true;
        next = start + off;
        s += len;
      }
    }
    if (bad || !next) break;
    p = next;
  }
  mr_fail(err, n, "%s does not export %s", img->path, name);
  return NULL;
}

typedef struct walk {
  const mr_image_t *img;
  const uint8_t *start, *end;
  char name[512];
  void (*visit)(const char *, void *, void *);
  void *ctx;
  size_t count;
} walk_t;

static void walk_node(walk_t *w, const uint8_t *node, size_t len, unsigned depth) {
  bool bad = false;
  const uint8_t *q = node;
  uint64_t tsize = mr_uleb(&q, w->end, &bad);
  if (bad || depth > 512 || tsize > (uint64_t)(w->end - q)) return;
  if (tsize) {
    char err[256];
    w->name[len] = 0;
    void *a = terminal(w->img, node, w->end, w->name, err, sizeof err);
    if (a) {
      w->count++;
      if (w->visit) w->visit(w->name, a, w->ctx);
    }
  }
  const uint8_t *c = q + tsize;
  if (c >= w->end) return;
  unsigned kids = *c++;
  for (unsigned i = 0; i < kids; i++) {
    const char *edge = (const char *)c;
    size_t el = strnlen(edge, (size_t)(w->end - c));
    if (el == (size_t)(w->end - c) || len + el >= sizeof w->name) return;
    c += el + 1;
    uint64_t off = mr_uleb(&c, w->end, &bad);
    if (bad || off >= (uint64_t)(w->end - w->start)) return;
    memcpy(w->name + len, edge, el);
    walk_node(w, w->start + off, len + el, depth + 1);
  }
}

size_t mr_image_exports(const mr_image_t *img, void (*visit)(const char *, void *, void *), void *ctx) {
  walk_t w = {img, img->slice + img->exports.off, img->slice + img->exports.off + img->exports.size, {0}, visit, ctx,
              0};
  if (img->exports.size) walk_node(&w, w.start, 0, 0);
  return w.count;
}

/* ---- initializers --------------------------------------------------------------
 * dyld calls each __mod_init_func entry with (argc, argv, envp, apple,
 * &ProgramVars) (dyld's ImageLoaderMachO::doModInitFunctions), after
 * libSystem's own initializer: here the libmalloc model booted in a
 * constructor before main. apple[] is the kernel's extra strings. */
typedef struct program_vars {
  const void *mh;
  int *argc;
  char ***argv;
  char ***envp;
  const char **progname;
} program_vars_t;

unsigned mr_image_run_initializers(mr_image_t *img, int argc, char **argv, char **envp) {
  static int vargc;
  static char **vargv, **venvp;
  static const char *progname;
  static char exe[300];
  snprintf(exe, sizeof exe, "executable_path=%s", img->path);
  static char *apple[] = {exe, NULL};
  vargc = argc;
  vargv = argv;
  venvp = envp;
  progname = argv[0];
  program_vars_t vars = {img->base, &vargc, &vargv, &venvp, &progname};
  unsigned ran = 0;
  for (unsigned i = 0; i < img->nsect; i++) {
    const mr_section_t *s = &img->sect[i];
    if ((s->flags & SECTION_TYPE) != S_MOD_INIT_FUNC_POINTERS) continue;
    uintptr_t *fn = (uintptr_t *)(img->slide + (uintptr_t)s->addr);
    for (size_t k = 0; k < s->size / sizeof *fn; k++) {
      const mr_segment_t *seg = mr_image_segment_at(img, fn[k]);
      if (!seg || !(seg->initprot & PROT_EXEC)) {
        fprintf(stderr, "machorun: initializer %zu of %s,%s (%#lx) is not in the image's code\n", k, s->segname,
                s->name, (unsigned long)fn[k]);
        exit(2);
      }
      ((void (*)(int, char **, char **, char **, program_vars_t *))fn[k])(argc, argv, envp, apple, &vars);
      ran++;
    }
  }
  return ran;
}

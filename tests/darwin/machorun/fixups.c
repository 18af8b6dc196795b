/* fixups.c: dyld's classic fixups (LC_DYLD_INFO_ONLY) applied to a mapped
 * image: rebases, binds, lazy binds (bound at load), and the __interpose
 * tuples read and checked.
 *
 * Owns the opcode interpreters and the record of what was bound where
 * (mr_fixups_t). Invariant: after mr_fixups_apply returns 0, every pointer
 * the rebase stream names holds its value plus the slide, every bind and
 * lazy-bind slot holds a libSystem shim (plus its addend), no lazy pointer
 * still leads to dyld_stub_binder, and each interpose tuple pairs a
 * replacement inside the image's code with a bound libSystem symbol.
 *
 * The opcodes and their semantics are those of mach-o/loader.h and dyld's
 * ImageLoaderMachOCompressed::rebase / eachBind / eachLazyBind
 * (apple-oss-distributions/dyld, dyld-852 and earlier): an opcode is the
 * high nibble of a byte, its immediate the low nibble; addresses are a
 * segment index plus an offset, and each DO_ step advances by a pointer.
 * In the lazy-bind stream DONE ends one entry, not the stream.
 */
#include "machorun.h"

#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#define REBASE_TYPE_POINTER 1
#define REBASE_OPCODE_DONE 0x00
#define REBASE_OPCODE_SET_TYPE_IMM 0x10
#define REBASE_OPCODE_SET_SEGMENT_AND_OFFSET_ULEB 0x20
#define REBASE_OPCODE_ADD_ADDR_ULEB 0x30
#define REBASE_OPCODE_ADD_ADDR_IMM_SCALED 0x40
#define REBASE_OPCODE_DO_REBASE_IMM_TIMES 0x50
#define REBASE_OPCODE_DO_REBASE_ULEB_TIMES 0x60
#define REBASE_OPCODE_DO_REBASE_ADD_ADDR_ULEB 0x70
#define REBASE_OPCODE_DO_REBASE_ULEB_TIMES_SKIPPING_ULEB 0x80

#define BIND_TYPE_POINTER 1
#define BIND_OPCODE_DONE 0x00
#define BIND_OPCODE_SET_DYLIB_ORDINAL_IMM 0x10
#define BIND_OPCODE_SET_DYLIB_ORDINAL_ULEB 0x20
#define BIND_OPCODE_SET_DYLIB_SPECIAL_IMM 0x30
#define BIND_OPCODE_SET_SYMBOL_TRAILING_FLAGS_IMM 0x40
#define BIND_OPCODE_SET_TYPE_IMM 0x50
#define BIND_OPCODE_SET_ADDEND_SLEB 0x60
#define BIND_OPCODE_SET_SEGMENT_AND_OFFSET_ULEB 0x70
#define BIND_OPCODE_ADD_ADDR_ULEB 0x80
#define BIND_OPCODE_DO_BIND 0x90
#define BIND_OPCODE_DO_BIND_ADD_ADDR_ULEB 0xa0
#define BIND_OPCODE_DO_BIND_ADD_ADDR_IMM_SCALED 0xb0
#define BIND_OPCODE_DO_BIND_ULEB_TIMES_SKIPPING_ULEB 0xc0
#define BIND_OPCODE_THREADED 0xd0

#define PTR ((uint64_t)sizeof(uintptr_t))

/* The slot at segment `seg` + `off`: inside a writable segment's memory. */
static uintptr_t *slot_at(const mr_image_t *img, unsigned seg, uint64_t off, char *err, size_t n, const char *what) {
  if (seg >= img->nseg) {
    mr_fail(err, n, "%s: a %s names segment %u of %u", img->path, what, seg, img->nseg);
    return NULL;
  }
  const mr_segment_t *s = &img->seg[seg];
  if (off > s->vmsize || s->vmsize - off < PTR || off % PTR) {
    mr_fail(err, n, "%s: a %s at %s+%#llx is outside the segment or misaligned", img->path, what, s->name,
            (unsigned long long)off);
    return NULL;
  }
  if (!(s->initprot & PROT_WRITE)) {
    mr_fail(err, n, "%s: a %s in %s, which is not writable (text fixups are not supported)", img->path, what, s->name);
    return NULL;
  }
  return (uintptr_t *)(img->slide + (uintptr_t)(s->vmaddr + off));
}

static int rebase(mr_image_t *img, mr_fixups_t *fx, char *err, size_t n) {
  const uint8_t *p = img->slice + img->rebase.off, *end = p + img->rebase.size;
  unsigned seg = 0;
  uint64_t off = 0, count, skip;
  bool bad = false, have_seg = false;
  while (p < end && !bad) {
    uint8_t op = *p & 0xf0, imm = *p & 0x0f;
    p++;
    switch (op) {
    case REBASE_OPCODE_DONE:
      return 0;
    case REBASE_OPCODE_SET_TYPE_IMM:
      if (imm != REBASE_TYPE_POINTER)
        return mr_fail(err, n, "%s: rebase type %u (32-bit text) is not supported", img->path, imm);
      continue;
    case REBASE_OPCODE_SET_SEGMENT_AND_OFFSET_ULEB:
      seg = imm;
      off = mr_uleb(&p, end, &bad);
      have_seg = true;
      continue;
    case REBASE_OPCODE_ADD_ADDR_ULEB:
      off += mr_uleb(&p, end, &bad);
      continue;
    case REBASE_OPCODE_ADD_ADDR_IMM_SCALED:
      off += imm * PTR;
      continue;
    case REBASE_OPCODE_DO_REBASE_IMM_TIMES:
      count = imm, skip = 0;
      break;
    case REBASE_OPCODE_DO_REBASE_ULEB_TIMES:
      count = mr_uleb(&p, end, &bad), skip = 0;
      break;
    case REBASE_OPCODE_DO_REBASE_ADD_ADDR_ULEB:
      count = 1, skip = mr_uleb(&p, end, &bad);
      break;
    case REBASE_OPCODE_DO_REBASE_ULEB_TIMES_SKIPPING_ULEB:
      count = mr_uleb(&p, end, &bad);
      skip = mr_uleb(&p, end, &bad);
      break;
    default:
      return mr_fail(err, n, "%s: unknown rebase opcode %#x", img->path, op);
    }
    if (!have_seg) return mr_fail(err, n, "%s: a rebase before any segment was set", img->path);
    for (uint64_t i = 0; i < count && !bad; i++) {
      uintptr_t *slot = slot_at(img, seg, off, err, n, "rebase");
      if (!slot) return -1;
      *slot += img->slide;
      fx->rebases++;
      off += skip + PTR;
    }
  }
  return bad ? mr_fail(err, n, "%s: the rebase opcodes are truncated", img->path) : 0;
}

static int bind_one(mr_image_t *img, mr_fixups_t *fx, unsigned seg, uint64_t off, const char *sym, int64_t ordinal,
                    int64_t addend, bool lazy, char *err, size_t n) {
  if (!sym) return mr_fail(err, n, "%s: a bind with no symbol", img->path);
  if (ordinal != 1)
    return mr_fail(err, n, "%s: %s is bound to library ordinal %lld; only 1 (libSystem) is supported", img->path, sym,
                   (long long)ordinal);
  const mr_shim_t *shim = mr_shim_find(sym);
  if (!shim)
    return mr_fail(err, n,
                   "%s imports %s, which has no shim in machorun's libSystem (tests/darwin/machorun/libsystem.c)",
                   img->path, sym);
  uintptr_t *slot = slot_at(img, seg, off, err, n, lazy ? "lazy bind" : "bind");
  if (!slot) return -1;
  if (fx->nbinds == MR_MAX_BINDS) return mr_fail(err, n, "%s: more than %d binds", img->path, MR_MAX_BINDS);
  mr_bind_t *b = &fx->binds[fx->nbinds++];
  b->name = sym;
  b->slot = slot;
  b->unbound = *slot;
  b->lazy = lazy;
  b->value = (uintptr_t)shim->addr + (uintptr_t)addend;
  *slot = b->value;
  return 0;
}

/* The bind and lazy-bind streams share their opcodes. */
static int bind(mr_image_t *img, mr_fixups_t *fx, mr_blob_t blob, bool lazy, char *err, size_t n) {
  const uint8_t *p = img->slice + blob.off, *end = p + blob.size;
  unsigned seg = 0;
  uint64_t off = 0, count, skip;
  int64_t ordinal = 0, addend = 0;
  const char *sym = NULL;
  bool bad = false, have_seg = false;
  while (p < end && !bad) {
    uint8_t op = *p & 0xf0, imm = *p & 0x0f;
    p++;
    switch (op) {
    case BIND_OPCODE_DONE:
      if (!lazy) return 0;
      continue;
    case BIND_OPCODE_SET_DYLIB_ORDINAL_IMM:
      ordinal = imm;
      continue;
    case BIND_OPCODE_SET_DYLIB_ORDINAL_ULEB:
      ordinal = (int64_t)mr_uleb(&p, end, &bad);
      continue;
    case BIND_OPCODE_SET_DYLIB_SPECIAL_IMM: /* 0 self, -1 main executable, -2 flat, -3 weak lookup */
      ordinal = imm ? (int8_t)(0xf0 | imm) : 0;
      continue;
    case BIND_OPCODE_SET_SYMBOL_TRAILING_FLAGS_IMM: {
      size_t len = strnlen((const char *)p, (size_t)(end - p));
      if (len == (size_t)(end - p)) bad = true;
      sym = (const char *)p;
      p += len + 1;
      continue;
    }
    case BIND_OPCODE_SET_TYPE_IMM:
      if (imm != BIND_TYPE_POINTER)
        return mr_fail(err, n, "%s: bind type %u (32-bit text) is not supported", img->path, imm);
      continue;
    case BIND_OPCODE_SET_ADDEND_SLEB:
      addend = mr_sleb(&p, end, &bad);
      continue;
    case BIND_OPCODE_SET_SEGMENT_AND_OFFSET_ULEB:
      seg = imm;
      off = mr_uleb(&p, end, &bad);
      have_seg = true;
      continue;
    case BIND_OPCODE_ADD_ADDR_ULEB:
      off += mr_uleb(&p, end, &bad);
      continue;
    case BIND_OPCODE_DO_BIND:
      count = 1, skip = 0;
      break;
    case BIND_OPCODE_DO_BIND_ADD_ADDR_ULEB:
      count = 1, skip = mr_uleb(&p, end, &bad);
      break;
    case BIND_OPCODE_DO_BIND_ADD_ADDR_IMM_SCALED:
      count = 1, skip = imm * PTR;
      break;
    case BIND_OPCODE_DO_BIND_ULEB_TIMES_SKIPPING_ULEB:
      count = mr_uleb(&p, end, &bad);
      skip = mr_uleb(&p, end, &bad);
      break;
    case BIND_OPCODE_THREADED:
      return mr_fail(err, n, "%s: threaded binds (arm64e chained pointers) are not supported", img->path);
    default:
      return mr_fail(err, n, "%s: unknown bind opcode %#x", img->path, op);
    }
    if (!have_seg) return mr_fail(err, n, "%s: a bind before any segment was set", img->path);
    for (uint64_t i = 0; i < count && !bad; i++) {
      if (bind_one(img, fx, seg, off, sym, ordinal, addend, lazy, err, n)) return -1;
      off += skip + PTR;
    }
  }
  return bad ? mr_fail(err, n, "%s: the %sbind opcodes are truncated", img->path, lazy ? "lazy " : "") : 0;
}

static const mr_bind_t *bind_at(const mr_fixups_t *fx, const void *slot) {
  for (unsigned i = 0; i < fx->nbinds; i++)
    if (fx->binds[i].slot == slot) return &fx->binds[i];
  return NULL;
}

/* __DATA,__interpose: {replacement, replacee} pointer pairs (dyld's
 * ImageLoader::applyInterposing reads them from S_INTERPOSING sections):
 * the replacement is rebased into the image, the replacee bound to a
 * libSystem symbol. */
static int interpose(mr_image_t *img, mr_fixups_t *fx, char *err, size_t n) {
  for (unsigned i = 0; i < img->nsect; i++) {
    const mr_section_t *s = &img->sect[i];
    if ((s->flags & SECTION_TYPE) != S_INTERPOSING) continue;
    if (s->size % (2 * PTR))
      return mr_fail(err, n, "%s: %s,%s is not a whole number of tuples", img->path, s->segname, s->name);
    uintptr_t *t = (uintptr_t *)(img->slide + (uintptr_t)s->addr);
    for (size_t k = 0; k < s->size / (2 * PTR); k++) {
      const mr_segment_t *code = mr_image_segment_at(img, t[2 * k]);
      const mr_bind_t *b = bind_at(fx, &t[2 * k + 1]);
      if (!code || !(code->initprot & PROT_EXEC))
        return mr_fail(err, n, "%s: interpose tuple %zu: the replacement %#lx is not in the image's code", img->path, k,
                       (unsigned long)t[2 * k]);
      if (!b || b->lazy || b->value != t[2 * k + 1])
        return mr_fail(err, n, "%s: interpose tuple %zu: the replacee is not bound to a libSystem symbol", img->path,
                       k);
      if (fx->ninterpose == sizeof fx->interpose / sizeof fx->interpose[0])
        return mr_fail(err, n, "%s: too many interpose tuples", img->path);
      fx->interpose[fx->ninterpose++] = (mr_interpose_t){b->name, (void *)t[2 * k]};
    }
  }
  return 0;
}

int mr_fixups_apply(mr_image_t *img, mr_fixups_t *fx, char *err, size_t n) {
  memset(fx, 0, sizeof *fx);
  if (rebase(img, fx, err, n) || bind(img, fx, img->bind, false, err, n)) return -1;
  /* Weak binds coalesce weak definitions across images: there are none to
   * coalesce with here, so an image that needs any is refused. */
  const uint8_t *w = img->slice + img->weak_bind.off;
  if (img->weak_bind.size && w[0] != BIND_OPCODE_DONE)
    return mr_fail(err, n, "%s: has weak binds, which are not supported", img->path);
  /* Lazy binds, bound now as dyld does under DYLD_BIND_AT_LAUNCH: no call
   * ever reaches the stub helper, and so dyld_stub_binder. */
  if (bind(img, fx, img->lazy_bind, true, err, n) || interpose(img, fx, err, n)) return -1;
  return 0;
}

void *mr_bind_for_other_image(const mr_fixups_t *fx, const char *name) {
  for (unsigned i = 0; i < fx->ninterpose; i++)
    if (!strcmp(fx->interpose[i].replacee, name)) return fx->interpose[i].replacement;
  const mr_shim_t *s = mr_shim_find(name);
  return s ? s->addr : NULL;
}

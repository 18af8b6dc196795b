/* machorun.h: the interfaces between machorun's files, and the Mach-O
 * facts they share.
 *
 * machorun loads a Mach-O dylib that was built for macOS into a Linux
 * process of the same architecture and runs its code: image.c parses and
 * maps it, fixups.c applies dyld's rebase and bind information (lazy binds
 * bound at load), libsystem.c is the libSystem it binds to (Darwin's ABI on
 * top of glibc and tests/darwin's libmalloc model), checks.c exercises the
 * image through its zone and exports, machorun.c drives them. Only thin
 * 64-bit dylibs with classic dyld info (LC_DYLD_INFO_ONLY) and libSystem as
 * their one dependency are supported; anything else is refused with a
 * message saying what.
 *
 * The constants below restate Apple's mach-o/loader.h and mach-o/fat.h
 * (apple/darwin-xnu EXTERNAL_HEADERS/mach-o, and the dyld-info opcodes of
 * the same header as shipped with ld64 / dyld); Linux has no such header.
 */
#ifndef MACHORUN_H
#define MACHORUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- Mach-O (mach-o/loader.h, mach-o/fat.h) -------------------------------- */
#define MH_MAGIC_64 0xfeedfacfu
#define FAT_MAGIC 0xcafebabeu    /* big-endian on disk */
#define FAT_MAGIC_64 0xcafebabfu /* big-endian on disk */
#define MH_DYLIB 0x6
#define MH_HAS_TLV_DESCRIPTORS 0x800000u
#define CPU_TYPE_X86_64 0x01000007
#define CPU_TYPE_ARM64 0x0100000c

#define LC_REQ_DYLD 0x80000000u
#define LC_SYMTAB 0x2
#define LC_DYSYMTAB 0xb
#define LC_LOAD_DYLIB 0xc
#define LC_ID_DYLIB 0xd
#define LC_SEGMENT_64 0x19
#define LC_UUID 0x1b
#define LC_CODE_SIGNATURE 0x1d
#define LC_SEGMENT_SPLIT_INFO 0x1e
#define LC_DYLD_INFO 0x22
#define LC_DYLD_INFO_ONLY (0x22 | LC_REQ_DYLD)
#define LC_VERSION_MIN_MACOSX 0x24
#define LC_FUNCTION_STARTS 0x26
#define LC_DATA_IN_CODE 0x29
#define LC_SOURCE_VERSION 0x2a
#define LC_BUILD_VERSION 0x32
#define LC_DYLD_EXPORTS_TRIE (0x33 | LC_REQ_DYLD)
#define LC_DYLD_CHAINED_FIXUPS (0x34 | LC_REQ_DYLD)

#define SG_READ_ONLY 0x10 /* dyld makes the segment read-only once fixed up */
#define SECTION_TYPE 0xff
#define S_ZEROFILL 0x1
#define S_NON_LAZY_SYMBOL_POINTERS 0x6
#define S_LAZY_SYMBOL_POINTERS 0x7
#define S_MOD_INIT_FUNC_POINTERS 0x9
#define S_MOD_TERM_FUNC_POINTERS 0xa
#define S_INTERPOSING 0xd
#define S_THREAD_LOCAL_REGULAR 0x11 /* 0x11..0x15: thread-local variables */
#define S_THREAD_LOCAL_INIT_FUNCTION_POINTERS 0x15
#define S_INIT_FUNC_OFFSETS 0x16

/* ---- the image (image.c) --------------------------------------------------- */
#define MR_MAX_SEGMENTS 8
#define MR_MAX_SECTIONS 64

typedef struct mr_segment {
  char name[17];
  uint64_t vmaddr, vmsize, fileoff, filesize;
  uint32_t initprot, flags;
} mr_segment_t;

typedef struct mr_section {
  char segname[17], name[17];
  uint64_t addr, size; /* addr: unslid */
  uint32_t flags;
} mr_section_t;

/* A span of the file's dyld information (offsets into the slice). */
typedef struct mr_blob {
  uint32_t off, size;
} mr_blob_t;

typedef struct mr_image {
  char path[256];
  int cputype;
  const uint8_t *file;  /* the whole file, mapped read-only */
  size_t file_size;
  const uint8_t *slice; /* the thin Mach-O inside it */
  size_t slice_size;
  const char *arch;     /* "x86_64", "arm64" */
  size_t page;          /* segment alignment: 16 KiB on arm64, 4 KiB on x86_64 */
  unsigned nseg, nsect;
  mr_segment_t seg[MR_MAX_SEGMENTS];
  mr_section_t sect[MR_MAX_SECTIONS];
  mr_blob_t rebase, bind, weak_bind, lazy_bind, exports;
  const char *dylib; /* the one LC_LOAD_DYLIB: /usr/lib/libSystem.B.dylib */
  /* after mr_image_map: */
  uintptr_t slide;   /* added to every vmaddr */
  uint8_t *base;     /* the mach header in memory (slide + __TEXT vmaddr) */
  size_t span;       /* bytes reserved from the lowest to the highest segment */
} mr_image_t;

/* Parse `path` and choose the slice for `cputype` (a universal file) or
 * check it (a thin one). 0, or -1 with a message in err. */
int mr_image_open(mr_image_t *img, const char *path, int cputype, char *err, size_t errlen);
/* Map every segment at one slide with its initial protection (writable
 * while fixups run: mr_image_protect applies the final ones). */
int mr_image_map(mr_image_t *img, char *err, size_t errlen);
void mr_image_protect(mr_image_t *img);
void mr_image_close(mr_image_t *img);
const mr_section_t *mr_image_section(const mr_image_t *img, const char *seg, const char *sect);
const mr_section_t *mr_image_section_of_type(const mr_image_t *img, uint32_t type);
const mr_segment_t *mr_image_segment_at(const mr_image_t *img, uintptr_t addr); /* slid address */
/* An export of the trie: its slid address, or NULL (with why in err). */
void *mr_image_export(const mr_image_t *img, const char *name, char *err, size_t errlen);
/* Every export, in trie order: visit(name, slid address, ctx). */
size_t mr_image_exports(const mr_image_t *img, void (*visit)(const char *name, void *addr, void *ctx), void *ctx);
/* Call the __mod_init_func pointers in order, as dyld does (argc, argv,
 * envp, apple, program vars). Returns how many ran. */
unsigned mr_image_run_initializers(mr_image_t *img, int argc, char **argv, char **envp);
uint64_t mr_uleb(const uint8_t **p, const uint8_t *end, bool *bad);
/* Format a load error into err; returns -1. */
int mr_fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int64_t mr_sleb(const uint8_t **p, const uint8_t *end, bool *bad);

/* ---- fixups (fixups.c) ----------------------------------------------------- */
#define MR_MAX_BINDS 256

typedef struct mr_bind {
  const char *name; /* as in the file: "_mmap", "dyld_stub_binder" */
  uintptr_t *slot;  /* where the pointer went */
  uintptr_t value;  /* what it holds (shim + addend) */
  uintptr_t unbound; /* lazy: the slot's value before binding (the stub helper) */
  bool lazy;
} mr_bind_t;

typedef struct mr_interpose {
  const char *replacee; /* the libSystem symbol, "_sbrk" */
  void *replacement;    /* in the image */
} mr_interpose_t;

typedef struct mr_fixups {
  unsigned rebases, nbinds, ninterpose;
  mr_bind_t binds[MR_MAX_BINDS];
  mr_interpose_t interpose[8];
} mr_fixups_t;

/* Rebase, bind, then lazy-bind (eagerly); then read and check the
 * __interpose tuples. 0, or -1 with the first problem in err. */
int mr_fixups_apply(mr_image_t *img, mr_fixups_t *fx, char *err, size_t errlen);
/* What another image importing `name` from libSystem would be bound to:
 * the image's interposing replacement if it has one (dyld applies a
 * dylib's __interpose tuples to every other image), else the shim. */
void *mr_bind_for_other_image(const mr_fixups_t *fx, const char *name);

/* ---- libSystem for Linux (libsystem.c) ------------------------------------- */
typedef struct mr_shim {
  const char *name; /* Mach-O spelling: "_mmap" */
  void *addr;
  bool data;        /* a data symbol (___stack_chk_guard) */
} mr_shim_t;

const mr_shim_t *mr_shim_find(const char *name);
size_t mr_shim_count(void);
const mr_shim_t *mr_shim_at(size_t i);

/* The image's environment (what _NSGetEnviron answers). */
void mr_shim_set_environ(char **env);
/* The kernel being modelled: false, macOS 11 (the deployment floor):
 * MADV_ZERO does not exist and is EINVAL; true, a later xnu where
 * MADV_ZERO (11) zeroes. */
void mr_shim_set_madv_zero(bool supported);
/* The Darwin errno of the calling thread (what *__error() holds). */
int *mr_shim_errno(void);
/* What the shims saw, for the checks. */
typedef struct mr_shim_log {
  unsigned refused;            /* calls refused for an argument Darwin rejects */
  char first_refusal[160];
  unsigned mutex_static, mutex_inited; /* locks of statically / explicitly initialized mutexes */
  unsigned keys_created;
  unsigned madv_zero_ok, madv_zero_refused, madv_other;
  unsigned fixed_rw_maps;      /* mmap(MAP_FIXED, RW, anon): the purge fallback */
  unsigned long fixed_rw_bytes;
  int fcntl_cmd, fcntl_fd;     /* the last fcntl: Darwin cmd, and what it returned */
  long fcntl_arg;
  unsigned fcntl_calls;
  unsigned atexit_calls;
  void *atexit_fn;
  unsigned clock_calls, clock_ids_seen; /* clock ids as a bit set */
  uintptr_t reserve_base;      /* the largest mapping the image asked for */
  size_t reserve_size;
} mr_shim_log_t;
extern mr_shim_log_t mr_shim_log;
size_t mr_shim_page_size(void);

/* ---- checks (checks.c) ---------------------------------------------------- */
typedef struct mr_run {
  mr_image_t *img;
  mr_fixups_t *fx;
  const char *universal; /* the universal file, or NULL */
  const char *tbd;       /* libSystem.tbd, or NULL */
  const char *self;      /* this executable (a file that is not Mach-O) */
  double scale;          /* work per check; below 1 under emulation */
  unsigned initializers;
} mr_run_t;

/* Run every check, each in its own child process; print one line per check
 * and the totals. Returns the number that failed. */
int mr_checks_run(mr_run_t *run, const char *only);

#endif

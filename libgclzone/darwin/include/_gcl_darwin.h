/* _gcl_darwin.h: the shared pieces of libgclzone's minimal Darwin headers.
 *
 * libgclzone is cross-built for macOS on Linux without an SDK (none may be
 * downloaded): clang -target {arm64,x86_64}-apple-macos11 -nostdlibinc keeps
 * clang's own stddef/stdint/stdbool/stdarg/stdatomic, and the headers in this
 * directory declare the little of libSystem the library uses, with Darwin's
 * values (not Linux's). Only LP64 Darwin (arm64, x86_64) is described.
 *
 * Every value is taken from Apple's public sources; each header names the
 * file it restates. Names that Darwin spells with __DARWIN_ALIAS resolve to
 * the plain symbol on both 64-bit architectures (__DARWIN_ONLY_UNIX_CONFORMANCE
 * is 1 there), so no asm labels are needed for what we use.
 */
#ifndef GCL_DARWIN_MIN_H
#define GCL_DARWIN_MIN_H

#if !defined(__APPLE__) || !defined(__MACH__) || !defined(__LP64__)
#error "libgclzone/darwin/include describes 64-bit Darwin only"
#endif

#include <stddef.h>
#include <stdint.h>

#define __GCL_NORETURN __attribute__((__noreturn__))

/* xnu bsd/sys/_types.h (the __darwin_* base types, LP64). */
typedef long ssize_t;
typedef long long off_t;
typedef int pid_t;
typedef unsigned short mode_t;
typedef long time_t;

#endif

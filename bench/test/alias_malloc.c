/* alias_malloc.c: a preloadable malloc and free forwarding to glibc's,
 * whose code also bears the names of C++'s operator new[] and delete[]
 * (_Znam, _ZdaPv), as rpmalloc's does: callgrind then names the functions
 * `operator new[](unsigned long)` and `operator delete[](void*)`, not
 * malloc and free. selftest.sh counts it with instr.sh, which must find the
 * two calls by their counts whatever their names, and see them in this
 * library.
 */
#define _GNU_SOURCE
#include <stddef.h>

extern void *__libc_malloc(size_t);
extern void __libc_free(void *);
void *alias_test_alloc(size_t size);
void alias_test_release(void *p);

__attribute__((visibility("default"))) void *alias_test_alloc(size_t size) {
  return __libc_malloc(size);
}
__attribute__((visibility("default"))) void alias_test_release(void *p) {
  __libc_free(p);
}
void *malloc(size_t) __attribute__((alias("alias_test_alloc")));
void free(void *) __attribute__((alias("alias_test_release")));
void *_Znam(size_t) __attribute__((alias("alias_test_alloc")));
void _ZdaPv(void *) __attribute__((alias("alias_test_release")));

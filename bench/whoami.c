/* whoami.c: prints the file of the object that serves this process's
 * malloc and free, as the dynamic linker resolved them. run.sh runs it
 * under each allocator before the suite, so that a preload that silently
 * did not take (a wrong path, a library without malloc) cannot pass for an
 * allocator's result.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

static const char *object_of(const char *sym) {
  void *f = dlsym(RTLD_DEFAULT, sym);
  Dl_info info;
  if (!f || !dladdr(f, &info) || !info.dli_fname) return "?";
  return info.dli_fname;
}

int main(void) {
  void *p = malloc(24);
  free(p);
  printf("malloc %s\nfree %s\n", object_of("malloc"), object_of("free"));
  return 0;
}

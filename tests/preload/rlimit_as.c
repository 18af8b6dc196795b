/* rlimit_as.c [MIB]: a program that lowers RLIMIT_AS after start (to 256 MiB
 * by default), as test harnesses and sandboxes do, then creates threads that
 * allocate, maps memory, allocates 64 MiB in blocks small and large, and
 * dlopens a library; everything must work, as it does on glibc's malloc.
 * Prints the address space before and after. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

static size_t vm_mib(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  unsigned long pages = 0;
  if (f) {
    if (fscanf(f, "%lu", &pages) != 1) pages = 0;
    fclose(f);
  }
  return pages * (size_t)sysconf(_SC_PAGESIZE) >> 20;
}

static void *worker(void *arg) {
  (void)arg;
  void *v[1000];
  for (int round = 0; round < 20; round++) {
    for (int i = 0; i < 1000; i++) v[i] = malloc((size_t)(i % 50) * 16 + 16), memset(v[i], 1, 16);
    for (int i = 0; i < 1000; i++) free(v[i]);
  }
  return NULL;
}

#define FAIL(...) (fprintf(stderr, "rlimit_as: " __VA_ARGS__), fputc('\n', stderr), exit(1))

int main(int argc, char **argv) {
  size_t mib = argc > 1 ? (size_t)atol(argv[1]) : 256;
  free(malloc(100)); /* the allocator is up */
  size_t before = vm_mib();
  struct rlimit rl = {mib << 20, mib << 20};
  if (setrlimit(RLIMIT_AS, &rl)) FAIL("setrlimit: %m");
  struct rlimit got;
  if (getrlimit(RLIMIT_AS, &got) || got.rlim_cur != rl.rlim_cur) FAIL("the limit was not set");
  size_t after = vm_mib();
  pthread_t t[8];
  for (int i = 0; i < 8; i++)
    if (pthread_create(&t[i], NULL, worker, NULL)) FAIL("thread %d could not be created", i);
  for (int i = 0; i < 8; i++) pthread_join(t[i], NULL);
  char *m = mmap(NULL, 32 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) FAIL("mmap of 32 MiB: %m");
  memset(m, 2, 32 << 20);
  static void *small[200000];
  for (int i = 0; i < 200000; i++)
    if (!(small[i] = malloc(160))) FAIL("malloc(160) number %d", i);
  void *large[8];
  for (int i = 0; i < 8; i++)
    if (!(large[i] = malloc(4 << 20))) FAIL("malloc(4 MiB) number %d", i);
  void *h = dlopen("libgmp.so.10", RTLD_NOW);
  if (!h || !dlsym(h, "__gmpz_init")) FAIL("dlopen: %s", dlerror());
  for (int i = 0; i < 8; i++) memset(large[i], 3, 4 << 20), free(large[i]);
  for (int i = 0; i < 200000; i++) free(small[i]);
  munmap(m, 32 << 20);
  printf("rlimit_as: RLIMIT_AS lowered to %zu MiB with %zu MiB of address space in use (%zu MiB after): "
         "8 threads, a 32 MiB mapping, 64 MiB in blocks and a dlopen all worked\n", mib, before, after);
  return 0;
}

/* tcfree3.c: glibc's tst-tcfree3 through the front end: a live block that
 * holds a freed block's bytes (the free tag among them) is no double free,
 * for small, medium and large sizes and from another thread; prints ok. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *free_it(void *p) {
  free(p);
  return NULL;
}

int main(void) {
  static const size_t sizes[] = {16, 24, 100, 1000, 5000, 20000, 100000, 300000};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    char *volatile a = malloc(sizes[i]), *volatile b = malloc(sizes[i]), *volatile c = malloc(sizes[i]);
    free(a);
    memcpy(b, a, sizes[i]);
    memcpy(c, a, sizes[i]);
    free(b);
    pthread_t t;
    pthread_create(&t, NULL, free_it, c);
    pthread_join(t, NULL);
  }
  puts("tcfree3: ok");
  return 0;
}

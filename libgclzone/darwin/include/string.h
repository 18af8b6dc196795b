/* string.h: the memory functions libgclzone calls (Libc include/string.h). */
#ifndef GCL_DARWIN_STRING_H
#define GCL_DARWIN_STRING_H
#include "_gcl_darwin.h"

void *memcpy(void *restrict dst, const void *restrict src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *b, int c, size_t len);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
#endif

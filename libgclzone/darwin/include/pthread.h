/* pthread.h: restates the LP64 layouts of xnu bsd/sys/_pthread/_pthread_types.h
 * and the declarations of libpthread include/pthread/pthread.h that
 * libgclzone uses.
 *
 * A Darwin mutex is 64 bytes: a signature word and 56 opaque bytes; the
 * static initializer is the signature _PTHREAD_MUTEX_SIG_init, 0x32AAABA7
 * (libpthread pthread/pthread_impl.h), not all zeros as on Linux. pthread_t
 * is a pointer, pthread_key_t an unsigned long. */
#ifndef GCL_DARWIN_PTHREAD_H
#define GCL_DARWIN_PTHREAD_H
#include "_gcl_darwin.h"

#define __PTHREAD_SIZE__ 8176
#define __PTHREAD_ATTR_SIZE__ 56
#define __PTHREAD_MUTEX_SIZE__ 56
#define __PTHREAD_MUTEXATTR_SIZE__ 8

struct __darwin_pthread_handler_rec {
  void (*__routine)(void *);
  void *__arg;
  struct __darwin_pthread_handler_rec *__next;
};
struct _opaque_pthread_t {
  long __sig;
  struct __darwin_pthread_handler_rec *__cleanup_stack;
  char __opaque[__PTHREAD_SIZE__];
};
typedef struct _opaque_pthread_t *pthread_t;
typedef struct {
  long __sig;
  char __opaque[__PTHREAD_ATTR_SIZE__];
} pthread_attr_t;
typedef struct {
  long __sig;
  char __opaque[__PTHREAD_MUTEX_SIZE__];
} pthread_mutex_t;
typedef struct {
  long __sig;
  char __opaque[__PTHREAD_MUTEXATTR_SIZE__];
} pthread_mutexattr_t;
typedef unsigned long pthread_key_t;

_Static_assert(sizeof(pthread_mutex_t) == 64, "Darwin LP64 pthread_mutex_t is 64 bytes");

#define _PTHREAD_MUTEX_SIG_init 0x32AAABA7
#define PTHREAD_MUTEX_INITIALIZER {_PTHREAD_MUTEX_SIG_init, {0}}

int pthread_mutex_init(pthread_mutex_t *restrict m, const pthread_mutexattr_t *restrict a);
int pthread_mutex_lock(pthread_mutex_t *m);
int pthread_mutex_trylock(pthread_mutex_t *m);
int pthread_mutex_unlock(pthread_mutex_t *m);
int pthread_key_create(pthread_key_t *key, void (*destructor)(void *));
void *pthread_getspecific(pthread_key_t key);
int pthread_setspecific(pthread_key_t key, const void *value);
int pthread_atfork(void (*prepare)(void), void (*parent)(void), void (*child)(void));
pthread_t pthread_self(void);
#endif

/* signal.h: the signal numbers of xnu bsd/sys/signal.h that libgclzone
 * names (SIGABRT is 6 on both systems; SIGBUS is 10, Linux 7). */
#ifndef GCL_DARWIN_SIGNAL_H
#define GCL_DARWIN_SIGNAL_H
#include "_gcl_darwin.h"

#define SIGABRT 6
#define SIGBUS 10
#define SIGSEGV 11
#endif

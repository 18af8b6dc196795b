/* time.h: restates the clockid_t enum of Libc include/time.h (macOS 11 SDK):
 * CLOCK_MONOTONIC is 6 (Linux: 1) and exists since macOS 10.12, like
 * clock_gettime itself. Darwin has no CLOCK_MONOTONIC_COARSE. */
#ifndef GCL_DARWIN_TIME_H
#define GCL_DARWIN_TIME_H
#include "_gcl_darwin.h"

struct timespec {
  time_t tv_sec;
  long tv_nsec;
};

typedef enum {
  _CLOCK_REALTIME = 0,
  _CLOCK_MONOTONIC_RAW = 4,
  _CLOCK_MONOTONIC_RAW_APPROX = 5,
  _CLOCK_MONOTONIC = 6,
  _CLOCK_UPTIME_RAW = 8,
  _CLOCK_UPTIME_RAW_APPROX = 9,
} clockid_t;
#define CLOCK_REALTIME _CLOCK_REALTIME
#define CLOCK_MONOTONIC _CLOCK_MONOTONIC
#define CLOCK_MONOTONIC_RAW _CLOCK_MONOTONIC_RAW
#define CLOCK_UPTIME_RAW _CLOCK_UPTIME_RAW

int clock_gettime(clockid_t clock_id, struct timespec *tp);
#endif

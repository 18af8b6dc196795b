/* probes.h: what the probe program's parts share (probes.c, sized.cc, valid.c). */
#ifndef PROBES_H
#define PROBES_H
#include <stddef.h>
#ifdef __cplusplus
extern "C" {
#endif
typedef struct probe {
  const char *name;
  void (*fn)(void);
  const char *expect; /* the hardened mode's ending (probes.c) */
} probe_t;
const probe_t *cxx_probes(size_t *n); /* sized.cc */
int valid_run(void);                  /* valid.c */
void **death_slot_cxx(void);          /* death.h's slot, for sized.cc */
#ifdef __cplusplus
}
#endif
#endif

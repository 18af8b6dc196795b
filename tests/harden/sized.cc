/* sized.cc: the C++ sized delete probes (probes.c runs them). Each deletes
 * a block with a size it was not allocated with, through the sized
 * operator delete that GCC emits for C++14 and later (-fsized-deallocation
 * is the default there): the hardened mode must stop it with the fatal
 * line naming the block; otherwise it is a plain free. */
#include <cstdlib>
#include <new>

#include "probes.h"

#define SIZED "=sized delete of %p with a size it was not allocated with"

static void *report(void *p) {
  *death_slot_cxx() = p;
  return p;
}

namespace {
// A class hierarchy without a virtual destructor: deleting a Derived
// through a Base pointer passes sizeof(Base).
struct Base {
  long a;
};
struct Derived : Base {
  long more[16];
};
struct BigDerived : Base {
  char more[300000];
};
struct Counted { // a destructor: new[] keeps a count, delete[] is sized
  long x;
  ~Counted() { x = 0; }
};
struct CountedMore : Counted {
  long y[8];
  ~CountedMore() { y[0] = 0; }
};
} // namespace

static void base_delete() {
  Base *b = new Derived();
  report(b);
  delete b;
}
static void base_delete_large() {
  Base *b = new BigDerived();
  report(b);
  delete b;
}
static void operator_delete_wrong() {
  void *p = report(::operator new(100));
  ::operator delete(p, 50);
}
static void array_delete_wrong() {
  CountedMore *a = new CountedMore[4];
  Counted *c = a; // deleting through the base: the size of 4 Counted, not 4 CountedMore
  report(reinterpret_cast<char *>(c) - sizeof(size_t));
  delete[] c;
}
static void aligned_delete_wrong() {
  void *p = report(::operator new(256, std::align_val_t(64)));
  ::operator delete(p, 100, std::align_val_t(64));
}

static const probe_t probes[] = {
  {"sized_delete_base_class", base_delete, SIZED},
  {"sized_delete_base_class_large", base_delete_large, SIZED},
  {"sized_delete_wrong_size", operator_delete_wrong, SIZED},
  {"sized_delete_array_base_class", array_delete_wrong, SIZED},
  {"sized_delete_aligned_wrong_size", aligned_delete_wrong, SIZED},
};

extern "C" const probe_t *cxx_probes(size_t *n) {
  *n = sizeof probes / sizeof probes[0];
  return probes;
}

// The right sizes never stop anything (valid.c runs this).
extern "C" int cxx_valid(void);
extern "C" int cxx_valid(void) {
  for (int i = 0; i < 1000; i++) {
    Derived *d = new Derived();
    delete d;
    Base *b = new Base();
    delete b;
    CountedMore *a = new CountedMore[i % 7 + 1];
    delete[] a;
    void *p = ::operator new(i + 1);
    ::operator delete(p, i + 1);
    void *q = ::operator new(i + 1, std::align_val_t(64));
    ::operator delete(q, i + 1, std::align_val_t(64));
    void *r = ::operator new[](i * 10 + 1);
    ::operator delete[](r, i * 10 + 1);
    BigDerived *big = new BigDerived();
    delete big;
  }
  return 0;
}
